/*
 * transport: which framing and protocol a connection speaks, decided once
 * from its first bytes, and cutting its stream into messages.
 *
 *   0x80 ...                 unframed, binary with a strict header
 *   0x82 ...                 unframed, compact
 *   L L L L 0x80|0x82 ...    framed (L = big-endian frame length)
 *   L L L L 0x00 ...         framed, binary with a non-strict header
 *   L L L L 0x0f 0xff ...    THeader (not served yet)
 *   L L L L c ...            unframed, binary non-strict: L is the name length
 */
#include <string.h>

#include "transport.h"

#define TRANSPORT_FRAME_HEADER	4

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
			*error = "THeader transport is not supported";
			return PROTO_BAD;
		}
		break;
	}
	/* An old-style binary message: an i32 name length, then the name. */
	t->kind = TRANSPORT_BUFFERED;
	t->proto = &proto_binary;
	return PROTO_OK;
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
	dispatch_message(t->proto, data + TRANSPORT_FRAME_HEADER, frame_len, limits, out, res);
	if (res->status != PROTO_OK) {
		out->len = out_start;
		if (res->status == PROTO_NEED_MORE) {
			res->status = PROTO_BAD;
			res->error = "frame shorter than its message";
		}
		return;
	}
	/* Bytes a frame carries past its message are consumed with it. */
	res->consumed = TRANSPORT_FRAME_HEADER + (size_t)frame_len;
	if (!res->replied) {
		out->len = out_start;
		return;
	}
	frame_len = (uint32_t)(out->len - out_start - TRANSPORT_FRAME_HEADER);
	out->data[out_start] = (uint8_t)(frame_len >> 24);
	out->data[out_start + 1] = (uint8_t)(frame_len >> 16);
	out->data[out_start + 2] = (uint8_t)(frame_len >> 8);
	out->data[out_start + 3] = (uint8_t)frame_len;
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

const char *
transport_name(const struct transport *t)
{
	switch (t->kind) {
	case TRANSPORT_BUFFERED:
		return t->proto == &proto_compact ? "buffered/compact" : "buffered/binary";
	case TRANSPORT_FRAMED:
		return t->proto == &proto_compact ? "framed/compact" : "framed/binary";
	default:
		return "unknown";
	}
}
