/*
 * test_transport: telling buffered from framed (and THeader) and binary
 * from compact by a connection's first bytes, cutting the stream into
 * messages — frame lengths and limits, partial input, THeader's header
 * block and refusals — and framing replies.  No message is decoded here:
 * test_request covers transport and dispatch together.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"
#include "transport.h"

/* add(2, 3) with seqid 1, per the two specs */
#define B_ADD		"80010001 00000003 616464 00000001" \
			" 08 0001 00000002 08 0002 00000003 00"		/* 30 bytes */
#define B_ADD_OLD	"00000003 616464 01 00000001" \
			" 08 0001 00000002 08 0002 00000003 00"		/* 27 */
#define C_ADD		"82 21 01 03 616464 15 04 15 06 00"		/* 12 bytes */

#define MAX_MESSAGE	(1u << 20)

/* Each test runs in a process of its own: what a transport keeps stays in it. */
static struct transport buffered_binary = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
static struct transport header_transport = { .kind = TRANSPORT_HEADER };
static struct transport framed_protos[] = {
	{ .kind = TRANSPORT_FRAMED, .proto = &proto_binary },
	{ .kind = TRANSPORT_FRAMED, .proto = &proto_compact },
};

/* Frame header: magic, flags, sequence number, header size in words, header block. */
#define H_BINARY	"0fff 0001 00000007 0001 00000000"	/* protocol 0, no transforms */
#define H_COMPACT	"0fff 0001 00000007 0001 02000000"	/* protocol 2 */

/* --- detection ----------------------------------------------------------- */

static void
detect_ok(const char *hex, enum transport_kind kind, const struct proto_ops *proto)
{
	struct hexin		 in;
	struct transport	 t = { .kind = TRANSPORT_UNKNOWN };
	const char		*error = NULL;
	enum proto_status	 st;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	st = transport_detect(in.data, in.len, &t, &error);
	ck_assert_msg(st == PROTO_OK, "%s: %s (%s)", hex, status_name(st),
	    error ? error : "");
	ck_assert_msg(t.kind == kind, "%s: kind %d, want %d", hex, t.kind, kind);
	ck_assert_msg(t.proto == proto, "%s: protocol %s, want %s", hex,
	    t.proto ? t.proto->name : "none", proto->name);
	ck_assert_ptr_nonnull(transport_name(&t));
	ck_assert_uint_gt(strlen(transport_name(&t)), 0);
}

static void
detect_fails(const char *hex, enum proto_status want)
{
	struct hexin		 in;
	struct transport	 t = { .kind = TRANSPORT_UNKNOWN };
	const char		*error = NULL;
	enum proto_status	 st;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	st = transport_detect(in.data, in.len, &t, &error);
	ck_assert_msg(st == want, "\"%s\": %s, want %s", hex, status_name(st),
	    status_name(want));
	if (want == PROTO_BAD)
		ck_assert_msg(error != NULL, "\"%s\": no error text", hex);
}

START_TEST(detect_buffered_binary)
{
	/* 0x80 alone is enough: a strict binary header */
	detect_ok("80", TRANSPORT_BUFFERED, &proto_binary);
	detect_ok("8001", TRANSPORT_BUFFERED, &proto_binary);
	detect_ok(B_ADD, TRANSPORT_BUFFERED, &proto_binary);
}
END_TEST

START_TEST(detect_buffered_compact)
{
	detect_ok("82", TRANSPORT_BUFFERED, &proto_compact);
	detect_ok(C_ADD, TRANSPORT_BUFFERED, &proto_compact);
}
END_TEST

START_TEST(detect_framed_binary)
{
	detect_ok("0000001e 80", TRANSPORT_FRAMED, &proto_binary);
	detect_ok("0000001e " B_ADD, TRANSPORT_FRAMED, &proto_binary);
}
END_TEST

START_TEST(detect_framed_compact)
{
	detect_ok("0000000c 82", TRANSPORT_FRAMED, &proto_compact);
	detect_ok("0000000c " C_ADD, TRANSPORT_FRAMED, &proto_compact);
}
END_TEST

/* A frame holding an old non-strict binary message: byte 4 is 0x00. */
START_TEST(detect_framed_binary_old)
{
	detect_ok("0000001b 00", TRANSPORT_FRAMED, &proto_binary);
	detect_ok("0000001b " B_ADD_OLD, TRANSPORT_FRAMED, &proto_binary);
}
END_TEST

/* Unframed old binary: the i32 is the name's length, byte 4 its first letter. */
START_TEST(detect_buffered_binary_old)
{
	detect_ok("00000003 61", TRANSPORT_BUFFERED, &proto_binary);
	detect_ok(B_ADD_OLD, TRANSPORT_BUFFERED, &proto_binary);
	detect_ok("00000004 70696e67 01 00000001 00", TRANSPORT_BUFFERED, &proto_binary);
}
END_TEST

START_TEST(detect_need_more)
{
	detect_fails("", PROTO_NEED_MORE);
	detect_fails("00", PROTO_NEED_MORE);
	detect_fails("0000", PROTO_NEED_MORE);
	detect_fails("000000", PROTO_NEED_MORE);
	detect_fails("0000001e", PROTO_NEED_MORE);
	detect_fails("00000003", PROTO_NEED_MORE);
}
END_TEST

START_TEST(detect_bad_length)
{
	detect_fails("ffffffff 80", PROTO_BAD);
	detect_fails("ffffffff 61 61 61", PROTO_BAD);
	detect_fails("81000000 80", PROTO_BAD);
	detect_fails("f0000000 82", PROTO_BAD);
}
END_TEST

/* THeader: a frame whose bytes 4-5 are the magic 0x0fff. */
START_TEST(detect_theader)
{
	struct hexin		 in;
	struct transport	 t = { .kind = TRANSPORT_UNKNOWN };
	const char		*error = NULL;

	in.len = hex_decode("0000002c 0fff 0000 00000007 0001 00000000", in.data, sizeof in.data);
	ck_assert_status(transport_detect(in.data, 5, &t, &error), PROTO_NEED_MORE);
	ck_assert_status(transport_detect(in.data, in.len, &t, &error), PROTO_OK);
	ck_assert_int_eq(t.kind, TRANSPORT_HEADER);
	ck_assert_str_eq(transport_name(&t), "header");
}
END_TEST

/* --- frame lengths -------------------------------------------------------- */

static void
frame_is(const char *hex, uint32_t ceiling, size_t max, enum proto_status want,
    size_t need)
{
	struct hexin		in;
	struct transport_frame	f;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	transport_frame_check(in.data, in.len, ceiling, max, &f);
	ck_assert_msg(f.status == want, "\"%s\": %s, want %s", hex, status_name(f.status),
	    status_name(want));
	if (want == PROTO_NEED_MORE)
		ck_assert_msg(f.need == need, "\"%s\": need %zu, want %zu", hex, f.need, need);
	if (want == PROTO_BAD || want == PROTO_TOO_BIG)
		ck_assert_msg(f.error != NULL, "\"%s\": no error text", hex);
	if (want == PROTO_OK)
		ck_assert_uint_eq(f.len + 4, in.len);
}

/* The one check every frame goes through, calcd's and calcctl's. */
START_TEST(frame_check)
{
	frame_is("", INT32_MAX, 64, PROTO_NEED_MORE, 4);
	frame_is("000000", INT32_MAX, 64, PROTO_NEED_MORE, 4);
	frame_is("00000002", INT32_MAX, 64, PROTO_NEED_MORE, 6);
	frame_is("00000002 01", INT32_MAX, 64, PROTO_NEED_MORE, 6);
	frame_is("00000002 0102", INT32_MAX, 64, PROTO_OK, 0);
	frame_is("00000000", INT32_MAX, 64, PROTO_BAD, 0);
	frame_is("80000000", INT32_MAX, 64, PROTO_BAD, 0);
	frame_is("ffffffff", UINT32_MAX, 64, PROTO_BAD, 0);
	/* exactly max is fine; one more is too big, from the length alone */
	frame_is("00000040", INT32_MAX, 64, PROTO_NEED_MORE, 68);
	frame_is("00000041", INT32_MAX, 64, PROTO_TOO_BIG, 0);
	frame_is("7fffffff", INT32_MAX, 64, PROTO_TOO_BIG, 0);
	/* past the ceiling is malformed whatever the limit */
	frame_is("40000000", 0x3fffffff, 1u << 31, PROTO_BAD, 0);
	frame_is("3fffffff", 0x3fffffff, 1u << 31, PROTO_NEED_MORE, 0x40000003);
}
END_TEST

/* --- cutting messages ------------------------------------------------------ */

#define MAX_DEPTH	32

static void
next_hex(struct transport *t, struct hexin *in, const char *hex, size_t max,
    struct transport_message *msg)
{
	in->len = hex_decode(hex, in->data, sizeof in->data);
	memset(msg, 0xa5, sizeof *msg);
	transport_next(t, in->data, in->len, max, msg);
}

/* A frame's payload is the message; the frame is what it consumes. */
START_TEST(framed_next)
{
	static const char *const frames[] = { "0000001e " B_ADD, "0000000c " C_ADD };
	struct hexin			in;
	struct transport_message	msg;

	next_hex(&framed_protos[_i], &in, frames[_i], MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_eq(msg.data, in.data + 4);
	ck_assert_uint_eq(msg.len, in.len - 4);
	ck_assert_uint_eq(msg.consumed, in.len);
	ck_assert_ptr_eq(msg.proto, framed_protos[_i].proto);
	ck_assert_ptr_null(msg.refusal);
	/* and only the first frame, with more behind it */
	in.len = hex_decode(frames[_i], in.data, sizeof in.data);
	in.len += hex_decode(frames[_i], in.data + in.len, sizeof in.data - in.len);
	transport_next(&framed_protos[_i], in.data, in.len, MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_uint_eq(msg.consumed, in.len / 2);
}
END_TEST

/* Every proper prefix of a frame wants exactly the rest of it. */
START_TEST(framed_prefixes)
{
	static const char *const frames[] = { "0000001e " B_ADD, "0000000c " C_ADD };
	struct hexin			in;
	struct transport_message	msg;

	in.len = hex_decode(frames[_i], in.data, sizeof in.data);
	for (size_t cut = 0; cut < in.len; cut++) {
		transport_next(&framed_protos[_i], in.data, cut, MAX_MESSAGE, &msg);
		ck_assert_msg(msg.status == PROTO_NEED_MORE, "%zu bytes: %s", cut,
		    status_name(msg.status));
		ck_assert_uint_eq(msg.need, cut < 4 ? 4 : in.len);
	}
}
END_TEST

/* Bad and oversized lengths are refused from the header alone. */
START_TEST(framed_refused)
{
	struct hexin			in;
	struct transport_message	msg;
	static const struct {
		const char		*hex;
		size_t			 max;
		enum proto_status	 want;
	} cases[] = {
		{ "00000000 80010001", MAX_MESSAGE, PROTO_BAD },
		{ "ffffffff", MAX_MESSAGE, PROTO_BAD },
		{ "80000000 80010001", MAX_MESSAGE, PROTO_BAD },
		{ "00000041", 64, PROTO_TOO_BIG },
		{ "7fffffff 80", 64, PROTO_TOO_BIG },
		{ "00100001", MAX_MESSAGE, PROTO_TOO_BIG },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		next_hex(&framed_protos[_i], &in, cases[i].hex, cases[i].max, &msg);
		ck_assert_msg(msg.status == cases[i].want, "%s: %s", cases[i].hex,
		    status_name(msg.status));
		ck_assert_ptr_nonnull(msg.error);
	}
}
END_TEST

/* Nothing is cut before the transport is known. */
START_TEST(next_undetected)
{
	static struct transport		 unknown = { .kind = TRANSPORT_UNKNOWN };
	struct hexin			 in;
	struct transport_message	 msg;

	next_hex(&unknown, &in, B_ADD, MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_ptr_nonnull(msg.error);
}
END_TEST

/* A frame ends its message: what the decoder left over is skipped, a shortfall is BAD. */
START_TEST(framed_message_end)
{
	struct hexin			in;
	struct transport_message	msg;

	next_hex(&framed_protos[_i], &in, "00000010 " B_ADD, MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	transport_message_end(&framed_protos[_i], &msg, PROTO_OK, 12, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_uint_eq(msg.consumed, 20);

	next_hex(&framed_protos[_i], &in, "00000010 " B_ADD, MAX_MESSAGE, &msg);
	transport_message_end(&framed_protos[_i], &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_str_eq(msg.error, "frame shorter than its message");
	ck_assert_ptr_null(framed_protos[_i].scan);	/* frames are never scanned */

	next_hex(&framed_protos[_i], &in, "00000010 " B_ADD, MAX_MESSAGE, &msg);
	transport_message_end(&framed_protos[_i], &msg, PROTO_BAD, 0,
	    "bad binary protocol version", MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_str_eq(msg.error, "bad binary protocol version");
}
END_TEST

/* Unframed: the message is all the input; its decoding says how long it was. */
START_TEST(buffered_next_and_end)
{
	struct transport		t = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
	struct hexin			in;
	struct transport_message	msg;

	next_hex(&t, &in, B_ADD B_ADD_OLD, 64, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_eq(msg.data, in.data);
	ck_assert_uint_eq(msg.len, in.len);
	ck_assert_ptr_eq(msg.proto, &proto_binary);
	transport_message_end(&t, &msg, PROTO_OK, 30, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_uint_eq(msg.consumed, 30);
	ck_assert_ptr_null(t.scan);	/* a message that came whole is never scanned */

	/* a whole message longer than max_message_size is too big */
	next_hex(&t, &in, B_ADD, 29, &msg);
	transport_message_end(&t, &msg, PROTO_OK, 30, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_TOO_BIG);
	ck_assert_ptr_nonnull(msg.error);
	ck_assert_ptr_null(t.scan);
}
END_TEST

/*
 * Unframed and incomplete: the scan takes over, says how much it needs,
 * and hands over exactly the message once it is all here; then the
 * transport holds nothing again.
 */
START_TEST(buffered_scan)
{
	struct transport		t = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
	struct hexin			in, whole;
	struct transport_message	msg;
	size_t				need = 0;

	whole.len = hex_decode(B_ADD B_ADD_OLD, whole.data, sizeof whole.data);
	next_hex(&t, &in, "80010001", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_NEED_MORE);
	/* name length, seqid, the arguments' stop */
	ck_assert_uint_eq(msg.need, 4 + 4 + 4 + 1);
	ck_assert_ptr_nonnull(t.scan);
	/* The same message, more of it each time, and the next one behind it. */
	for (size_t len = 5; len <= whole.len; len++) {
		transport_next(&t, whole.data, len, 64, &msg);
		if (len < 30) {
			ck_assert_msg(msg.status == PROTO_NEED_MORE, "%zu bytes: %s", len,
			    status_name(msg.status));
			ck_assert_uint_gt(msg.need, len);
			ck_assert_uint_ge(msg.need, need);
			ck_assert_uint_le(msg.need, 30);
			need = msg.need;
			continue;
		}
		ck_assert_status(msg.status, PROTO_OK);
		ck_assert_ptr_eq(msg.data, whole.data);
		ck_assert_uint_eq(msg.len, 30);
		/* the scan stays until the decoder's verdict is in */
		ck_assert_ptr_nonnull(t.scan);
		transport_message_end(&t, &msg, PROTO_OK, 30, NULL, MAX_DEPTH);
		ck_assert_status(msg.status, PROTO_OK);
		ck_assert_uint_eq(msg.consumed, 30);
		ck_assert_ptr_null(t.scan);
		break;
	}
	ck_assert_uint_eq(msg.consumed, 30);
	/* the next message is decoded straight away again */
	transport_next(&t, whole.data + 30, whole.len - 30, 64, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_null(t.scan);
	ck_assert_uint_eq(msg.len, whole.len - 30);
	transport_free(&t);
	transport_free(&t);	/* twice is harmless */
	ck_assert_ptr_null(t.scan);
}
END_TEST

/* The scan's refusals, and where it and the decoder disagree: malformed. */
START_TEST(buffered_scan_refusals)
{
	struct transport		t = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
	struct hexin			in;
	struct transport_message	msg;

	/* not all here, and already longer than max_message_size */
	next_hex(&t, &in, "80010001", 12, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_TOO_BIG);
	ck_assert_str_eq(msg.error, "message exceeds max_message_size");
	ck_assert_ptr_null(t.scan);

	/* malformed in a later piece: the scan says why */
	next_hex(&t, &in, "80010001 00000003", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_NEED_MORE);
	next_hex(&t, &in, "80010001 00000003 616464 00000001 07 0001", 64, &msg);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_str_eq(msg.error, "unknown field type");
	ck_assert_ptr_null(t.scan);

	/* the decoder wanted more of what the scan finds complete */
	next_hex(&t, &in, B_ADD, 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_str_eq(msg.error, "malformed message");
	ck_assert_ptr_null(t.scan);

	/* the scanned message, and the decoder takes less of it, or wants more */
	next_hex(&t, &in, "80010001", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	next_hex(&t, &in, B_ADD, 64, &msg);
	ck_assert_ptr_nonnull(t.scan);
	transport_message_end(&t, &msg, PROTO_OK, 29, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_str_eq(msg.error, "malformed message");
	next_hex(&t, &in, "80010001", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	next_hex(&t, &in, B_ADD, 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_BAD);
	/* and its refusal stands */
	next_hex(&t, &in, "80010001", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	next_hex(&t, &in, B_ADD, 64, &msg);
	transport_message_end(&t, &msg, PROTO_BAD, 0, "varint overflows 32 bits", MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_str_eq(msg.error, "varint overflows 32 bits");
	ck_assert_ptr_null(t.scan);

	/* the scan allows the depth it was begun with below the arguments */
	next_hex(&t, &in, "80010001 00000003 616464 00000001 0c 0001 0c 0001", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, 2);
	ck_assert_status(msg.status, PROTO_NEED_MORE);
	transport_free(&t);
	next_hex(&t, &in, "80010001 00000003 616464 00000001 0c 0001 0c 0001", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, 1);
	ck_assert_status(msg.status, PROTO_BAD);
	ck_assert_str_eq(msg.error, "nesting too deep");
	ck_assert_ptr_null(t.scan);

	/* compact: the scan knows which protocol it reads */
	t.proto = &proto_compact;
	next_hex(&t, &in, "82 21 01 03 61", 64, &msg);
	transport_message_end(&t, &msg, PROTO_NEED_MORE, 0, NULL, MAX_DEPTH);
	ck_assert_status(msg.status, PROTO_NEED_MORE);
	next_hex(&t, &in, C_ADD, 64, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_uint_eq(msg.len, 12);
	transport_free(&t);
}
END_TEST

/* --- THeader ---------------------------------------------------------------- */

/* The header block is read; the message starts after it and after info headers. */
START_TEST(header_next)
{
	struct hexin			in;
	struct transport_message	msg;

	next_hex(&header_transport, &in, "0000002c " H_BINARY " " B_ADD, MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_eq(msg.proto, &proto_binary);
	ck_assert_ptr_eq(msg.data, in.data + 18);
	ck_assert_uint_eq(msg.len, 30);
	ck_assert_uint_eq(msg.consumed, 48);
	ck_assert_uint_eq(msg.header_flags, 1);
	ck_assert_uint_eq(msg.header_seq, 7);
	ck_assert_uint_eq(msg.header_protocol, 0);
	ck_assert_ptr_null(msg.refusal);

	next_hex(&header_transport, &in, "0000001a " H_COMPACT " " C_ADD, MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_eq(msg.proto, &proto_compact);
	ck_assert_uint_eq(msg.header_protocol, 2);
	ck_assert_uint_eq(msg.len, 12);

	/* one info key/value pair, then padding; flags 0, sequence number 9 */
	next_hex(&header_transport, &in,
	    "00000030 0fff 0000 00000009 0002 00000101 016b0176 " B_ADD, MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_eq(msg.data, in.data + 22);
	ck_assert_uint_eq(msg.len, 30);
	ck_assert_uint_eq(msg.header_flags, 0);
	ck_assert_uint_eq(msg.header_seq, 9);
}
END_TEST

/* A transform or an unknown protocol: a refusal to answer with, in binary. */
START_TEST(header_refusals)
{
	struct hexin			in;
	struct transport_message	msg;

	next_hex(&header_transport, &in, "00000012 0fff 0000 00000005 0001 00010100 deadbeef",
	    MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_nonnull(msg.refusal);
	ck_assert_int_eq(msg.refusal_type, PROTO_APP_INVALID_TRANSFORM);
	ck_assert_ptr_eq(msg.proto, &proto_binary);
	ck_assert_uint_eq(msg.consumed, in.len);

	next_hex(&header_transport, &in, "00000012 0fff 0000 00000005 0001 01000000 deadbeef",
	    MAX_MESSAGE, &msg);
	ck_assert_status(msg.status, PROTO_OK);
	ck_assert_ptr_nonnull(msg.refusal);
	ck_assert_int_eq(msg.refusal_type, PROTO_APP_INVALID_PROTOCOL);
	ck_assert_ptr_eq(msg.proto, &proto_binary);
	ck_assert_uint_eq(msg.header_protocol, 0);
}
END_TEST

START_TEST(header_malformed)
{
	static const struct {
		const char		*hex;
		enum proto_status	 want;
		size_t			 need;
	} cases[] = {
		/* header size (2 words) larger than the frame leaves room for */
		{ "0000000e 0fff 0000 00000001 0002 00000000", PROTO_BAD, 0 },
		/* shorter than the fixed part */
		{ "00000009 0fff 0000 00000001 00", PROTO_BAD, 0 },
		/* not the magic */
		{ "0000000e 0ffe 0000 00000001 0001 00000000", PROTO_BAD, 0 },
		/* a varint that runs off the end of the header block */
		{ "0000000e 0fff 0000 00000001 0001 80808080", PROTO_BAD, 0 },
		{ "00000000", PROTO_BAD, 0 },
		{ "7fffffff 0fff", PROTO_BAD, 0 },
		{ "00100001 0fff", PROTO_TOO_BIG, 0 },
		{ "0000002c " H_BINARY " 80010001", PROTO_NEED_MORE, 48 },
		{ "000000", PROTO_NEED_MORE, 4 },
	};
	struct hexin			in;
	struct transport_message	msg;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		next_hex(&header_transport, &in, cases[i].hex, MAX_MESSAGE, &msg);
		ck_assert_msg(msg.status == cases[i].want, "%s: %s, want %s", cases[i].hex,
		    status_name(msg.status), status_name(cases[i].want));
		if (cases[i].want == PROTO_NEED_MORE)
			ck_assert_uint_eq(msg.need, cases[i].need);
		else
			ck_assert_ptr_nonnull(msg.error);
	}
}
END_TEST

/* --- framing replies --------------------------------------------------------- */

/* A reply frame goes around whatever is appended between begin and end. */
START_TEST(reply_frames)
{
	static const struct {
		struct transport	*t;
		const char		*request;
		const char		*reply;		/* around the payload "abcde" */
	} cases[] = {
		{ &buffered_binary, B_ADD, "6162636465" },
		{ &framed_protos[0], "0000001e " B_ADD, "00000005 6162636465" },
		{ &framed_protos[1], "0000000c " C_ADD, "00000005 6162636465" },
		/* flags and sequence number echoed, one header word: the protocol */
		{ &header_transport, "0000002c 0fff 0003 12345678 0001 00000000 " B_ADD,
		  "00000013 0fff 0003 12345678 0001 00000000 6162636465" },
		{ &header_transport, "0000001a " H_COMPACT " " C_ADD,
		  "00000013 " H_COMPACT " 6162636465" },
		/* a refusal is answered in binary */
		{ &header_transport, "00000012 0fff 0000 00000005 0001 01000000 deadbeef",
		  "00000013 0fff 0000 00000005 0001 00000000 6162636465" },
	};
	struct hexin			in;
	struct transport_message	msg;
	struct buf			out;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		next_hex(cases[i].t, &in, cases[i].request, MAX_MESSAGE, &msg);
		ck_assert_status(msg.status, PROTO_OK);
		buf_init(&out, 1u << 20);
		ck_assert_int_eq(buf_append(&out, "pre", 3), 0);
		ck_assert_int_eq(transport_reply_begin(&msg, &out), 0);
		ck_assert_int_eq(buf_append(&out, "abcde", 5), 0);
		transport_reply_end(&msg, &out, 3);
		ck_assert_mem_eq(out.data, "pre", 3);
		ck_assert_hex(out.data + 3, out.len - 3, cases[i].reply);
		buf_free(&out);
	}
}
END_TEST

/* No room for a frame header: -1. */
START_TEST(reply_begin_full)
{
	struct hexin			in;
	struct transport_message	msg;
	struct buf			out;

	next_hex(&framed_protos[0], &in, "0000001e " B_ADD, MAX_MESSAGE, &msg);
	buf_init(&out, 3);
	ck_assert_int_eq(transport_reply_begin(&msg, &out), -1);
	buf_free(&out);
	next_hex(&header_transport, &in, "0000002c " H_BINARY " " B_ADD, MAX_MESSAGE, &msg);
	buf_init(&out, 17);
	ck_assert_int_eq(transport_reply_begin(&msg, &out), -1);
	buf_free(&out);
}
END_TEST

static Suite *
transport_suite(void)
{
	Suite	*s = suite_create("transport");
	TCase	*tc;

	tc = tcase_create("detect");
	tcase_add_test(tc, detect_buffered_binary);
	tcase_add_test(tc, detect_buffered_compact);
	tcase_add_test(tc, detect_framed_binary);
	tcase_add_test(tc, detect_framed_compact);
	tcase_add_test(tc, detect_framed_binary_old);
	tcase_add_test(tc, detect_buffered_binary_old);
	tcase_add_test(tc, detect_need_more);
	tcase_add_test(tc, detect_bad_length);
	tcase_add_test(tc, detect_theader);
	suite_add_tcase(s, tc);

	tc = tcase_create("next");
	tcase_add_test(tc, frame_check);
	tcase_add_loop_test(tc, framed_next, 0, 2);
	tcase_add_loop_test(tc, framed_prefixes, 0, 2);
	tcase_add_loop_test(tc, framed_refused, 0, 2);
	tcase_add_loop_test(tc, framed_message_end, 0, 2);
	tcase_add_test(tc, buffered_next_and_end);
	tcase_add_test(tc, buffered_scan);
	tcase_add_test(tc, buffered_scan_refusals);
	tcase_add_test(tc, next_undetected);
	tcase_add_test(tc, header_next);
	tcase_add_test(tc, header_refusals);
	tcase_add_test(tc, header_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("reply");
	tcase_add_test(tc, reply_frames);
	tcase_add_test(tc, reply_begin_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(transport_suite());
}
