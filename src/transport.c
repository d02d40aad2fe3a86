/*
 * transport: which framing and protocol a connection speaks, decided once
 * from its first bytes, and cutting its stream into messages.
 *
 *   0x80 ...                 unframed, binary with a strict header
 *   0x82 ...                 unframed, compact
 *   L L L L 0x80|0x82 ...    framed (L = big-endian frame length)
 *   L L L L 0x00 ...         framed, binary with a non-strict header
 *   L L L L 0x0f 0xff ...    THeader: binary or compact, named in each frame
 *   L L L L c ...            unframed, binary non-strict: L is the name length
 */
#include <string.h>

#include "transport.h"

#define TRANSPORT_FRAME_HEADER	4

/* THeader (doc/specs/HeaderFormat.md in Apache Thrift). */
#define HEADER_MAGIC		0x0fff
#define HEADER_FIXED		10	/* magic, flags, sequence number, header size */
#define HEADER_MAX_FRAME	0x3fffffffu
#define HEADER_PROTOCOL_BINARY	0
#define HEADER_PROTOCOL_COMPACT	2

static uint32_t
transport_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Common mistakes worth naming in the log: HTTP or TLS on the Thrift port. */
static const char *
transport_foreign(const uint8_t *data, size_t len)
{
	static const char *const http_methods[] = {
		"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN", "TRAC", "PRI ",
	};

	if (len >= 3 && data[0] == 0x16 && data[1] == 0x03 && data[2] <= 0x04)
		return "a TLS handshake, not Thrift (calcd speaks plain TCP)";
	for (size_t i = 0; len >= 4 && i < sizeof http_methods / sizeof http_methods[0]; i++)
		if (memcmp(data, http_methods[i], 4) == 0)
			return "an HTTP request, not Thrift";
	return NULL;
}

enum proto_status
transport_detect(const uint8_t *data, size_t len, struct transport *t, const char **error)
{
	t->kind = TRANSPORT_UNKNOWN;
	t->proto = NULL;
	if (len < 1)
		return PROTO_NEED_MORE;
	if (data[0] == 0x80 || data[0] == 0x82) {
		t->kind = TRANSPORT_BUFFERED;
		t->proto = data[0] == 0x80 ? &proto_binary : &proto_compact;
		return PROTO_OK;
	}
	if (data[0] & 0x80) {
		*error = "not a Thrift message (bad first byte)";
		return PROTO_BAD;
	}
	if (len < 5)
		return PROTO_NEED_MORE;
	if ((*error = transport_foreign(data, len)) != NULL)
		return PROTO_BAD;
	switch (data[4]) {
	case 0x80:
	case 0x00:
		t->kind = TRANSPORT_FRAMED;
		t->proto = &proto_binary;
		return PROTO_OK;
	case 0x82:
		t->kind = TRANSPORT_FRAMED;
		t->proto = &proto_compact;
		return PROTO_OK;
	case 0x0f:
		if (len < 6)
			return PROTO_NEED_MORE;
		if (data[5] == 0xff) {
			t->kind = TRANSPORT_HEADER;
			return PROTO_OK;
		}
		break;
	}
	/* An old-style binary message: an i32 name length, then the name. */
	t->kind = TRANSPORT_BUFFERED;
	t->proto = &proto_binary;
	return PROTO_OK;
}

/* Fill in the length of the frame that starts at out->data[start]. */
static void
transport_frame_end(struct buf *out, size_t start)
{
	uint32_t len = (uint32_t)(out->len - start - TRANSPORT_FRAME_HEADER);

	out->data[start] = (uint8_t)(len >> 24);
	out->data[start + 1] = (uint8_t)(len >> 16);
	out->data[start + 2] = (uint8_t)(len >> 8);
	out->data[start + 3] = (uint8_t)len;
}

/*
 * Dispatch the message in a frame's payload, whose reply frame was begun
 * at out_start.  The whole frame is consumed, whatever it carries past its
 * message; a message longer than its frame is malformed.
 */
static void
transport_dispatch_frame(const struct proto_ops *ops, const uint8_t *payload, size_t len,
    size_t frame_size, const struct dispatch_limits *limits, struct buf *out,
    size_t out_start, struct dispatch_result *res)
{
	dispatch_message(ops, payload, len, limits, out, res);
	if (res->status != PROTO_OK) {
		out->len = out_start;
		if (res->status == PROTO_NEED_MORE) {
			res->status = PROTO_BAD;
			res->error = "frame shorter than its message";
		}
		return;
	}
	res->consumed = frame_size;
	if (!res->replied) {
		out->len = out_start;
		return;
	}
	transport_frame_end(out, out_start);
}

static void
transport_process_framed(const struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct dispatch_result *res)
{
	size_t		 out_start = out->len;
	uint32_t	 frame_len;
	uint8_t		 header[TRANSPORT_FRAME_HEADER] = { 0 };

	memset(res, 0, sizeof *res);
	if (len < TRANSPORT_FRAME_HEADER) {
		res->status = PROTO_NEED_MORE;
		res->need = TRANSPORT_FRAME_HEADER;
		return;
	}
	frame_len = transport_be32(data);
	if (frame_len == 0 || frame_len > INT32_MAX) {
		res->status = PROTO_BAD;
		res->error = frame_len ? "negative frame length" : "empty frame";
		return;
	}
	if (frame_len > limits->max_message_size) {
		res->status = PROTO_TOO_BIG;
		res->error = "frame exceeds max_message_size";
		return;
	}
	if (len - TRANSPORT_FRAME_HEADER < frame_len) {
		res->status = PROTO_NEED_MORE;
		res->need = TRANSPORT_FRAME_HEADER + (size_t)frame_len;
		return;
	}
	/* The reply's length goes in front once it is known. */
	if (buf_append(out, header, sizeof header) != 0) {
		res->status = PROTO_TOO_BIG;
		res->error = "reply exceeds the output buffer limit";
		return;
	}
	transport_dispatch_frame(t->proto, data + TRANSPORT_FRAME_HEADER, frame_len,
	    TRANSPORT_FRAME_HEADER + (size_t)frame_len, limits, out, out_start, res);
}

/* An unsigned varint inside a THeader's header block; -1 if it runs past end. */
static int
transport_header_varint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	uint32_t result = 0;

	for (unsigned shift = 0; shift < 35 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		result |= (uint32_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = result;
			return 0;
		}
	}
	return -1;
}

/* Start a THeader reply frame echoing flags and sequence number; 0 or -1. */
static int
transport_header_begin(struct buf *out, const uint8_t *request, uint8_t protocol_id)
{
	/* length (filled in later), magic, flags, seq, header size 1 (4 bytes) */
	uint8_t head[TRANSPORT_FRAME_HEADER + HEADER_FIXED + 4] = {
		0, 0, 0, 0, HEADER_MAGIC >> 8, HEADER_MAGIC & 0xff,
		request[6], request[7], request[8], request[9], request[10], request[11],
		0, 1,
		protocol_id, 0 /* no transforms */, 0, 0 /* padding */,
	};

	return buf_append(out, head, sizeof head);
}

/*
 * A frame calcd can't decode (a transform, an unknown protocol) still
 * gets an answer: a TApplicationException in binary, then the stream
 * goes on, since frames carry their own length.
 */
static void
transport_header_refuse(const uint8_t *frame, enum proto_app_error type, const char *why,
    struct buf *out, struct dispatch_result *res)
{
	size_t			 start = out->len;
	struct proto_writer	 w;
	struct proto_string	 empty = { (const uint8_t *)"", 0 };
	const struct proto_ops	*ops = &proto_binary;

	proto_writer_init(&w, out);
	if (transport_header_begin(out, frame, HEADER_PROTOCOL_BINARY) != 0)
		w.failed = true;
	ops->write_message_begin(&w, &empty, PROTO_EXCEPTION, 0);
	ops->write_struct_begin(&w);
	ops->write_field_begin(&w, PROTO_T_STRING, 1);
	ops->write_string(&w, why, strlen(why));
	ops->write_field_begin(&w, PROTO_T_I32, 2);
	ops->write_i32(&w, type);
	ops->write_field_stop(&w);
	ops->write_struct_end(&w);
	if (w.failed) {
		out->len = start;
		res->status = PROTO_TOO_BIG;
		res->error = "reply exceeds the output buffer limit";
		return;
	}
	transport_frame_end(out, start);
	res->replied = true;
	res->error = why;
}

static void
transport_process_header(const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct dispatch_result *res)
{
	const uint8_t		*header, *header_end, *frame_end;
	const struct proto_ops	*ops;
	size_t			 out_start = out->len, header_len;
	uint32_t		 frame_len, protocol_id, transforms;

	memset(res, 0, sizeof *res);
	if (len < TRANSPORT_FRAME_HEADER) {
		res->status = PROTO_NEED_MORE;
		res->need = TRANSPORT_FRAME_HEADER;
		return;
	}
	frame_len = transport_be32(data);
	if (frame_len > HEADER_MAX_FRAME) {
		res->status = PROTO_BAD;
		res->error = "THeader frame length out of range";
		return;
	}
	if (frame_len > limits->max_message_size) {
		res->status = PROTO_TOO_BIG;
		res->error = "frame exceeds max_message_size";
		return;
	}
	if (len - TRANSPORT_FRAME_HEADER < frame_len) {
		res->status = PROTO_NEED_MORE;
		res->need = TRANSPORT_FRAME_HEADER + (size_t)frame_len;
		return;
	}
	frame_end = data + TRANSPORT_FRAME_HEADER + frame_len;
	if (frame_len < HEADER_FIXED || data[4] != (HEADER_MAGIC >> 8) ||
	    data[5] != (HEADER_MAGIC & 0xff)) {
		res->status = PROTO_BAD;
		res->error = "malformed THeader frame";
		return;
	}
	header_len = ((size_t)data[12] << 8 | data[13]) * 4;
	if (header_len > frame_len - HEADER_FIXED) {
		res->status = PROTO_BAD;
		res->error = "malformed THeader frame";
		return;
	}
	res->consumed = TRANSPORT_FRAME_HEADER + (size_t)frame_len;
	res->status = PROTO_OK;
	header = data + TRANSPORT_FRAME_HEADER + HEADER_FIXED;
	header_end = header + header_len;
	if (transport_header_varint(&header, header_end, &protocol_id) != 0 ||
	    transport_header_varint(&header, header_end, &transforms) != 0) {
		res->status = PROTO_BAD;
		res->error = "malformed THeader header";
		return;
	}
	if (transforms != 0) {
		transport_header_refuse(data, PROTO_APP_INVALID_TRANSFORM,
		    "calcd supports no THeader transforms (zlib, snappy, hmac): send the "
		    "payload untransformed", out, res);
		return;
	}
	if (protocol_id == HEADER_PROTOCOL_BINARY)
		ops = &proto_binary;
	else if (protocol_id == HEADER_PROTOCOL_COMPACT)
		ops = &proto_compact;
	else {
		transport_header_refuse(data, PROTO_APP_INVALID_PROTOCOL,
		    "calcd speaks THeader with the binary (0) or compact (2) protocol only",
		    out, res);
		return;
	}
	/* Info headers (key/value pairs, padding) are ignorable: skip to the payload. */
	if (transport_header_begin(out, data, (uint8_t)protocol_id) != 0) {
		res->status = PROTO_TOO_BIG;
		res->error = "reply exceeds the output buffer limit";
		return;
	}
	transport_dispatch_frame(ops, header_end, (size_t)(frame_end - header_end),
	    TRANSPORT_FRAME_HEADER + (size_t)frame_len, limits, out, out_start, res);
}

void
transport_process(const struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct dispatch_result *res)
{
	size_t out_start = out->len;

	if (t->kind == TRANSPORT_FRAMED) {
		transport_process_framed(t, data, len, limits, out, res);
		return;
	}
	if (t->kind == TRANSPORT_HEADER) {
		transport_process_header(data, len, limits, out, res);
		return;
	}
	dispatch_message(t->proto, data, len, limits, out, res);
	/* Unframed, a message is as long as its parse says: hold it to the limit. */
	if ((res->status == PROTO_NEED_MORE && res->need > limits->max_message_size) ||
	    (res->status == PROTO_OK && res->consumed > limits->max_message_size)) {
		out->len = out_start;
		res->replied = false;
		res->status = PROTO_TOO_BIG;
		res->error = "message exceeds max_message_size";
	}
}

int
transport_error_reply(const struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_result *res, struct buf *out)
{
	size_t			 start = out->len;
	const struct proto_ops	*ops = t->proto;
	uint8_t			 placeholder[TRANSPORT_FRAME_HEADER] = { 0 };

	if (res->message_type != PROTO_CALL)
		return -1;
	switch (t->kind) {
	case TRANSPORT_BUFFERED:
		return dispatch_error_reply(ops, res, out);
	case TRANSPORT_FRAMED:
		if (buf_append(out, placeholder, sizeof placeholder) != 0)
			return -1;
		break;
	case TRANSPORT_HEADER:
		/* The header block was read, so its first byte is protocol 0 or 2. */
		if (len < TRANSPORT_FRAME_HEADER + HEADER_FIXED + 1)
			return -1;
		ops = data[TRANSPORT_FRAME_HEADER + HEADER_FIXED] == HEADER_PROTOCOL_COMPACT ?
		    &proto_compact : &proto_binary;
		if (transport_header_begin(out, data, data[TRANSPORT_FRAME_HEADER +
		    HEADER_FIXED]) != 0)
			return -1;
		break;
	default:
		return -1;
	}
	if (dispatch_error_reply(ops, res, out) != 0) {
		out->len = start;
		return -1;
	}
	transport_frame_end(out, start);
	return 0;
}

const char *
transport_name(const struct transport *t)
{
	switch (t->kind) {
	case TRANSPORT_BUFFERED:
		return t->proto == &proto_compact ? "buffered/compact" : "buffered/binary";
	case TRANSPORT_FRAMED:
		return t->proto == &proto_compact ? "framed/compact" : "framed/binary";
	case TRANSPORT_HEADER:
		return "header";
	default:
		return "unknown";
	}
}
