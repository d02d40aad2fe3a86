/*
 * transport: which framing and protocol a connection speaks, decided once
 * from its first bytes; cutting its stream into messages; framing the
 * replies.
 *
 *   0x80 ...                 unframed, binary with a strict header
 *   0x82 ...                 unframed, compact
 *   L L L L 0x80|0x82 ...    framed (L = big-endian frame length)
 *   L L L L 0x00 ...         framed, binary with a non-strict header
 *   L L L L 0x0f 0xff ...    THeader: binary or compact, named in each frame
 *   L L L L c ...            unframed, binary non-strict: L is the name length
 *
 * Unframed, a message that arrives whole is decoded straight away: the
 * decoder finds its end.  Only one found incomplete is scanned (scan.h),
 * from then on resuming where the last read left off, so a message
 * however slowly it arrives costs time linear in its length; the scan's
 * state lives in the connection's struct transport only meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "scan.h"
#include "transport.h"

/* THeader (doc/specs/HeaderFormat.md in Apache Thrift). */
#define HEADER_MAGIC		0x0fff
#define HEADER_FIXED		10	/* magic, flags, sequence number, header size */
#define HEADER_MAX_FRAME	0x3fffffffu
#define HEADER_PROTOCOL_BINARY	0
#define HEADER_PROTOCOL_COMPACT	2

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
	t->scan = NULL;
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

/* Inline in the request path; transport_frame_check is the same for others. */
static inline void
transport_frame(const uint8_t *data, size_t len, uint32_t ceiling, size_t max,
    struct transport_frame *f)
{
	f->status = PROTO_OK;
	f->len = 0;
	f->need = 0;
	f->error = NULL;
	if (len < TRANSPORT_FRAME_HEADER) {
		f->status = PROTO_NEED_MORE;
		f->need = TRANSPORT_FRAME_HEADER;
		return;
	}
	f->len = bytes_be32(data);
	if (f->len == 0) {
		f->status = PROTO_BAD;
		f->error = "empty frame";
	} else if (f->len > INT32_MAX) {
		f->status = PROTO_BAD;
		f->error = "negative frame length";
	} else if (f->len > ceiling) {
		f->status = PROTO_BAD;
		f->error = "frame length out of range";
	} else if (f->len > max) {
		f->status = PROTO_TOO_BIG;
		f->error = "frame exceeds max_message_size";
	} else if (len - TRANSPORT_FRAME_HEADER < f->len) {
		f->status = PROTO_NEED_MORE;
		f->need = TRANSPORT_FRAME_HEADER + (size_t)f->len;
	}
}

void
transport_frame_check(const uint8_t *data, size_t len, uint32_t ceiling, size_t max,
    struct transport_frame *f)
{
	transport_frame(data, len, ceiling, max, f);
}

static void
transport_message_fail(struct transport_message *msg, enum proto_status status,
    const char *error)
{
	msg->status = status;
	msg->error = error;
}

/*
 * The frame at data: msg gets its payload; false with msg failed if it
 * isn't all here or can't be a frame.
 */
static bool
transport_take_frame(const uint8_t *data, size_t len, uint32_t ceiling,
    struct transport_message *msg)
{
	struct transport_frame f;

	transport_frame(data, len, ceiling, msg->max_size, &f);
	if (f.status != PROTO_OK) {
		transport_message_fail(msg, f.status, f.error);
		msg->need = f.need;
		return false;
	}
	msg->data = data + TRANSPORT_FRAME_HEADER;
	msg->len = f.len;
	msg->consumed = TRANSPORT_FRAME_HEADER + (size_t)f.len;
	return true;
}

/* An unsigned varint inside a THeader's header block; -1 if it runs past end. */
int
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

/*
 * A THeader frame: fixed fields, then a header block (protocol id,
 * transforms, info headers), then the message.  A frame calcd can't
 * decode still gets an answer, and the stream goes on, since frames carry
 * their own length.
 */
static void
transport_next_header(const uint8_t *data, size_t len, struct transport_message *msg)
{
	const uint8_t	*frame, *header, *header_end;
	size_t		 header_len;
	uint32_t	 protocol_id, transforms;

	if (!transport_take_frame(data, len, HEADER_MAX_FRAME, msg))
		return;
	frame = msg->data;
	if (msg->len < HEADER_FIXED || bytes_be16(frame) != HEADER_MAGIC) {
		transport_message_fail(msg, PROTO_BAD, "malformed THeader frame");
		return;
	}
	header_len = (size_t)bytes_be16(frame + 8) * 4;
	if (header_len > msg->len - HEADER_FIXED) {
		transport_message_fail(msg, PROTO_BAD, "malformed THeader frame");
		return;
	}
	msg->header_flags = bytes_be16(frame + 2);
	msg->header_seq = bytes_be32(frame + 4);
	msg->header_protocol = HEADER_PROTOCOL_BINARY;
	header = frame + HEADER_FIXED;
	header_end = header + header_len;
	if (transport_header_varint(&header, header_end, &protocol_id) != 0 ||
	    transport_header_varint(&header, header_end, &transforms) != 0) {
		transport_message_fail(msg, PROTO_BAD, "malformed THeader header");
		return;
	}
	/* Info headers (key/value pairs, padding) are ignorable: skip to the payload. */
	msg->len -= (size_t)(header_end - msg->data);
	msg->data = header_end;
	msg->proto = &proto_binary;
	if (transforms != 0) {
		msg->refusal_type = PROTO_APP_INVALID_TRANSFORM;
		msg->refusal = "calcd supports no THeader transforms (zlib, snappy, hmac): "
		    "send the payload untransformed";
	} else if (protocol_id == HEADER_PROTOCOL_COMPACT) {
		msg->proto = &proto_compact;
		msg->header_protocol = HEADER_PROTOCOL_COMPACT;
	} else if (protocol_id != HEADER_PROTOCOL_BINARY) {
		msg->refusal_type = PROTO_APP_INVALID_PROTOCOL;
		msg->refusal = "calcd speaks THeader with the binary (0) or compact (2) "
		    "protocol only";
	}
}

void
transport_next_frame(const struct transport *t, const uint8_t *data, size_t len,
    struct transport_message *msg)
{
	switch (t->kind) {
	case TRANSPORT_FRAMED:
		(void)transport_take_frame(data, len, INT32_MAX, msg);
		break;
	case TRANSPORT_HEADER:
		transport_next_header(data, len, msg);
		break;
	default:
		transport_message_fail(msg, PROTO_BAD, "transport not detected yet");
		break;
	}
}

void
transport_free(struct transport *t)
{
	free(t->scan);
	t->scan = NULL;
}

/*
 * Scan on.  DONE: msg is exactly the message, and the scan stays until
 * transport_scanned_end has the decoder's verdict.  A refusal ends it.
 */
void
transport_next_scan(struct transport *t, const uint8_t *data, size_t len,
    struct transport_message *msg)
{
	const struct scan *s = t->scan;

	switch (scan_continue(t->scan, data, len)) {
	case SCAN_NEED_MORE:
		msg->status = PROTO_NEED_MORE;
		msg->need = s->need;
		return;
	case SCAN_DONE:
		msg->len = s->length;
		return;
	default:
		transport_message_fail(msg, s->status == SCAN_TOO_BIG ? PROTO_TOO_BIG : PROTO_BAD,
		    s->error);
		transport_free(t);
		return;
	}
}

/*
 * The decoder's verdict on a message its scan found complete: final, but
 * it must take all of the message and no more; then t is ready for the
 * next one.  (The scan held it to max_message_size.)
 */
void
transport_scanned_end(struct transport *t, struct transport_message *msg,
    enum proto_status status, size_t used, const char *error)
{
	transport_free(t);
	msg->status = status;
	msg->error = error;
	if (status == PROTO_OK && used == msg->len) {
		msg->consumed = used;
	} else if (status == PROTO_OK || status == PROTO_NEED_MORE) {
		msg->status = PROTO_BAD;
		msg->error = "malformed message";
	}
}

/*
 * The decoder found msg incomplete: scan it from its start, and go on
 * from there as it arrives.  The scan can't find it complete where the
 * decoder did not: if it does, the two disagree, and the message is
 * malformed.
 */
void
transport_scan_begin(struct transport *t, struct transport_message *msg, unsigned max_depth)
{
	if (t->scan == NULL && (t->scan = malloc(sizeof *t->scan)) == NULL) {
		transport_message_fail(msg, PROTO_TOO_BIG, "out of memory for an unfinished message");
		return;
	}
	scan_init(t->scan, t->proto == &proto_compact ? SCAN_COMPACT : SCAN_BINARY,
	    msg->max_size, max_depth, 0);
	msg->status = PROTO_OK;
	transport_next_scan(t, msg->data, msg->len, msg);
	if (msg->status == PROTO_OK) {
		transport_free(t);
		transport_message_fail(msg, PROTO_BAD, "malformed message");
	}
}

int
transport_reply_begin_slow(const struct transport_message *msg, struct buf *out)
{
	static const uint8_t	no_length[TRANSPORT_FRAME_HEADER];
	/* THeader: length (filled in later), magic, flags, seq, header size 1 */
	uint8_t			head[TRANSPORT_FRAME_HEADER + HEADER_FIXED + 4] = { 0 };

	switch (msg->kind) {
	case TRANSPORT_FRAMED:
		return buf_append(out, no_length, sizeof no_length);
	case TRANSPORT_HEADER:
		bytes_put_be16(head + 4, HEADER_MAGIC);
		bytes_put_be16(head + 6, msg->header_flags);
		bytes_put_be32(head + 8, msg->header_seq);
		bytes_put_be16(head + 12, 1);
		head[14] = msg->header_protocol;	/* then no transforms, padding */
		return buf_append(out, head, sizeof head);
	default:
		return 0;
	}
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
