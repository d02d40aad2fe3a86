/*
 * test_request: a connection's messages from bytes to framed replies,
 * through transport and dispatch together — every transport and protocol,
 * partial input, pipelining, frame limits, THeader replies and refusals,
 * and the error reply before a close.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "calc.h"
#include "codec_common.h"
#include "request.h"

/* add(2, 3) with seqid 1 and its reply, per the two specs */
#define B_ADD		"80010001 00000003 616464 00000001" \
			" 08 0001 00000002 08 0002 00000003 00"		/* 30 bytes */
#define B_ADD_REPLY	"80010002 00000003 616464 00000001 08 0000 00000005 00"	/* 23 */
#define B_ADD_OLD	"00000003 616464 01 00000001" \
			" 08 0001 00000002 08 0002 00000003 00"		/* 27 */
#define B_PING		"80010001 00000004 70696e67 00000002 00"		/* 17 */
#define B_PING_REPLY	"80010002 00000004 70696e67 00000002 00"
#define B_ZIP		"80010004 00000003 7a6970 00000003 00"		/* 16 */
#define C_ADD		"82 21 01 03 616464 15 04 15 06 00"		/* 12 bytes */
#define C_ADD_REPLY	"82 41 01 03 616464 05 00 0a 00"			/* 11 */
#define C_PING		"82 21 02 04 70696e67 00"				/* 9 */
#define C_PING_REPLY	"82 41 02 04 70696e67 00"
#define C_ZIP		"82 81 03 03 7a6970 00"				/* 8 */

static const struct dispatch_limits limits = { 1u << 20, 32 };

static void
setup(void)
{
	ck_assert_int_eq(calc_log_init(16), 0);
}

static void
teardown(void)
{
	calc_log_free();
}

static void
process(struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *lim, struct buf *out, struct request_result *res)
{
	memset(res, 0, sizeof *res);
	res->status = PROTO_BAD;
	request_process(t, data, len, lim, out, res);
}

/* --- processing ---------------------------------------------------------- */

/* One request per transport and protocol, with the exact reply expected. */
static const struct {
	enum transport_kind	 kind;
	const struct proto_ops	*proto;
	const char		*request;
	const char		*reply;
	const char		*ping;
	const char		*ping_reply;
	const char		*zip;
} combos[] = {
	{ TRANSPORT_BUFFERED, &proto_binary, B_ADD, B_ADD_REPLY, B_PING, B_PING_REPLY, B_ZIP },
	{ TRANSPORT_FRAMED, &proto_binary, "0000001e " B_ADD, "00000017 " B_ADD_REPLY,
	  "00000011 " B_PING, "00000011 " B_PING_REPLY, "00000010 " B_ZIP },
	{ TRANSPORT_BUFFERED, &proto_compact, C_ADD, C_ADD_REPLY, C_PING, C_PING_REPLY, C_ZIP },
	{ TRANSPORT_FRAMED, &proto_compact, "0000000c " C_ADD, "0000000b " C_ADD_REPLY,
	  "00000009 " C_PING, "00000009 " C_PING_REPLY, "00000008 " C_ZIP },
	/* old binary header in, strict out */
	{ TRANSPORT_BUFFERED, &proto_binary, B_ADD_OLD, B_ADD_REPLY, B_PING, B_PING_REPLY, B_ZIP },
	{ TRANSPORT_FRAMED, &proto_binary, "0000001b " B_ADD_OLD, "00000017 " B_ADD_REPLY,
	  "00000011 " B_PING, "00000011 " B_PING_REPLY, "00000010 " B_ZIP },
};
#define NCOMBOS ((int)(sizeof combos / sizeof combos[0]))

/* Detect the transport from the request itself, then answer it exactly. */
START_TEST(process_exact)
{
	struct hexin		 in;
	struct transport	 t;
	struct buf		 out;
	struct request_result	 res;
	const char		*error = NULL;

	in.len = hex_decode(combos[_i].request, in.data, sizeof in.data);
	ck_assert_status(transport_detect(in.data, in.len, &t, &error), PROTO_OK);
	ck_assert_int_eq(t.kind, combos[_i].kind);
	ck_assert_ptr_eq(t.proto, combos[_i].proto);
	buf_init(&out, 1u << 20);
	process(&t, in.data, in.len, &limits, &out, &res);
	ck_assert_msg(res.status == PROTO_OK, "%s (%s)", status_name(res.status),
	    res.error ? res.error : "");
	ck_assert_uint_eq(res.consumed, in.len);
	ck_assert(res.replied);
	ck_assert_hex(out.data, out.len, combos[_i].reply);
	buf_free(&out);
}
END_TEST

/* Every proper prefix of a request is NEED_MORE and leaves out alone. */
START_TEST(process_prefixes_need_more)
{
	struct hexin		in;
	struct transport	t = { .kind = combos[_i].kind, .proto = combos[_i].proto };
	struct buf		out;
	struct request_result	res;

	in.len = hex_decode(combos[_i].request, in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	ck_assert_int_eq(buf_append(&out, "pre", 3), 0);
	for (size_t cut = 0; cut < in.len; cut++) {
		process(&t, in.data, cut, &limits, &out, &res);
		ck_assert_msg(res.status == PROTO_NEED_MORE, "%zu of %zu bytes: %s (%s)",
		    cut, in.len, status_name(res.status), res.error ? res.error : "");
		ck_assert_msg(res.need > cut && res.need <= in.len,
		    "%zu of %zu bytes: need %zu", cut, in.len, res.need);
		/* a frame header says exactly how much is needed */
		if (t.kind == TRANSPORT_FRAMED && cut >= 4)
			ck_assert_msg(res.need == in.len, "%zu of %zu bytes: need %zu",
			    cut, in.len, res.need);
		ck_assert_msg(out.len == 3 && !res.replied, "%zu bytes: out touched", cut);
	}
	/* unframed, the scan of the unfinished message is kept; then the whole of it */
	ck_assert((t.scan != NULL) == (t.kind == TRANSPORT_BUFFERED));
	process(&t, in.data, in.len, &limits, &out, &res);
	ck_assert_status(res.status, PROTO_OK);
	ck_assert_uint_eq(res.consumed, in.len);
	ck_assert_hex(out.data + 3, out.len - 3, combos[_i].reply);
	ck_assert_ptr_null(t.scan);
	buf_free(&out);
}
END_TEST

/* add, zip (no reply), ping, add in one buffer: taken one at a time. */
START_TEST(process_pipelined)
{
	struct transport	 t = { .kind = combos[_i].kind, .proto = combos[_i].proto };
	struct buf		 out;
	struct request_result	 res;
	uint8_t			 data[HEX_MAX], want[HEX_MAX];
	size_t			 len = 0, pos = 0, wlen = 0, lens[4];
	const char		*parts[4] = { combos[_i].request, combos[_i].zip,
				    combos[_i].ping, combos[_i].request };
	const char		*replies[3] = { combos[_i].reply, combos[_i].ping_reply,
				    combos[_i].reply };
	int			 n;

	for (int i = 0; i < 4; i++) {
		lens[i] = hex_decode(parts[i], data + len, sizeof data - len);
		len += lens[i];
	}
	for (int i = 0; i < 3; i++)
		wlen += hex_decode(replies[i], want + wlen, sizeof want - wlen);
	buf_init(&out, 1u << 20);
	for (n = 0; n < 10 && pos < len; n++) {
		process(&t, data + pos, len - pos, &limits, &out, &res);
		ck_assert_msg(res.status == PROTO_OK, "message %d: %s (%s)", n,
		    status_name(res.status), res.error ? res.error : "");
		ck_assert_msg(res.consumed == lens[n], "message %d: consumed %zu, want %zu",
		    n, res.consumed, lens[n]);
		ck_assert(res.replied == (n != 1));
		pos += res.consumed;
	}
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(pos, len);
	ck_assert_uint_eq(out.len, wlen);
	ck_assert(memcmp(out.data, want, wlen) == 0);
	/* nothing left: wants more */
	process(&t, data + len, 0, &limits, &out, &res);
	ck_assert_status(res.status, PROTO_NEED_MORE);
	transport_free(&t);
	buf_free(&out);
}
END_TEST

START_TEST(process_oneway_no_reply)
{
	struct hexin		in;
	struct transport	t = { .kind = combos[_i].kind, .proto = combos[_i].proto };
	struct buf		out;
	struct request_result	res;

	in.len = hex_decode(combos[_i].zip, in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	process(&t, in.data, in.len, &limits, &out, &res);
	ck_assert_status(res.status, PROTO_OK);
	ck_assert_uint_eq(res.consumed, in.len);
	ck_assert(!res.replied);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

/* A reply that doesn't fit the output buffer: TOO_BIG, and out as it was. */
START_TEST(process_reply_buffer_full)
{
	struct hexin		in, reply;
	struct transport	t = { .kind = combos[_i].kind, .proto = combos[_i].proto };
	struct buf		out;
	struct request_result	res;

	in.len = hex_decode(combos[_i].request, in.data, sizeof in.data);
	reply.len = hex_decode(combos[_i].reply, reply.data, sizeof reply.data);
	for (size_t limit = 3; limit < 3 + reply.len; limit++) {
		buf_init(&out, limit);
		ck_assert_int_eq(buf_append(&out, "pre", 3), 0);
		process(&t, in.data, in.len, &limits, &out, &res);
		ck_assert_msg(res.status == PROTO_TOO_BIG, "limit %zu: %s", limit,
		    status_name(res.status));
		ck_assert_ptr_nonnull(res.error);
		ck_assert(!res.replied);
		ck_assert_uint_eq(out.len, 3);
		buf_free(&out);
	}
	/* and with just enough room, the reply */
	buf_init(&out, 3 + reply.len);
	ck_assert_int_eq(buf_append(&out, "pre", 3), 0);
	process(&t, in.data, in.len, &limits, &out, &res);
	ck_assert_status(res.status, PROTO_OK);
	ck_assert_hex(out.data + 3, out.len - 3, combos[_i].reply);
	buf_free(&out);
}
END_TEST

/* --- runs: request_run over several messages at once ---------------------- */

/*
 * Three rounds of add, zip, ping, add, then the first half of an add:
 * request_run over all of it answers what request_process answers one
 * message at a time, byte for byte, and stops at the unfinished one the
 * same way.  Unframed, one run takes all twelve whole messages.
 */
START_TEST(run_matches_one_at_a_time)
{
	struct transport	 one = { .kind = combos[_i].kind, .proto = combos[_i].proto };
	struct transport	 many = one;
	struct buf		 out_one, out_many;
	struct request_result	 res_one, res_many;
	uint8_t			 data[HEX_MAX];
	size_t			 len = 0, pos_one = 0, pos_many = 0, add_len;
	unsigned		 calls_one = 0, calls_many = 0, runs = 0;

	for (int round = 0; round < 3; round++) {
		const char *parts[4] = { combos[_i].request, combos[_i].zip, combos[_i].ping,
		    combos[_i].request };

		for (int i = 0; i < 4; i++)
			len += hex_decode(parts[i], data + len, sizeof data - len);
	}
	add_len = hex_decode(combos[_i].request, data + len, sizeof data - len);
	len += add_len / 2;
	buf_init(&out_one, 1u << 20);
	buf_init(&out_many, 1u << 20);
	for (int n = 0; n < 20; n++) {
		process(&one, data + pos_one, len - pos_one, &limits, &out_one, &res_one);
		if (res_one.status != PROTO_OK)
			break;
		pos_one += res_one.consumed;
		calls_one++;
	}
	ck_assert_status(res_one.status, PROTO_NEED_MORE);
	for (int n = 0; n < 20; n++) {
		size_t took = 0;

		memset(&res_many, 0, sizeof res_many);
		calls_many += request_run(&many, data + pos_many, len - pos_many, &limits,
		    &out_many, SIZE_MAX, UINT_MAX, &took, &res_many);
		pos_many += took;
		runs++;
		if (res_many.status != PROTO_OK)
			break;
	}
	ck_assert_status(res_many.status, PROTO_NEED_MORE);
	ck_assert_uint_eq(calls_one, 12);
	ck_assert_uint_eq(calls_many, calls_one);
	ck_assert_uint_eq(pos_many, pos_one);
	ck_assert_uint_eq(res_many.need, res_one.need);
	ck_assert_msg(out_many.len == out_one.len &&
	    memcmp(out_many.data, out_one.data, out_one.len) == 0, "other replies");
	/* unframed: all in one run; framed: a message a run */
	ck_assert_uint_eq(runs, combos[_i].kind == TRANSPORT_BUFFERED ? 1 : 13);
	transport_free(&one);
	transport_free(&many);
	buf_free(&out_one);
	buf_free(&out_many);
}
END_TEST

/* request_run over data with the given limits: how many it answered, and out. */
static unsigned
run(const char *hex, const struct dispatch_limits *lim, size_t out_limit, unsigned max_calls,
    size_t *took, struct buf *out, struct request_result *res)
{
	struct transport	t = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
	struct hexin		in;
	unsigned		calls;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	memset(res, 0, sizeof *res);
	*took = 0;
	calls = request_run(&t, in.data, in.len, lim, out, out_limit, max_calls, took, res);
	transport_free(&t);
	return calls;
}

/* A run stops after max_calls, and once out reaches out_limit. */
START_TEST(run_stops_at_its_limits)
{
	struct request_result	res;
	struct buf		out;
	size_t			took;

	buf_init(&out, 1u << 20);
	/* add, zip, ping, add: three calls at most */
	ck_assert_uint_eq(run(B_ADD B_ZIP B_PING B_ADD, &limits, SIZE_MAX, 3, &took, &out, &res),
	    3);
	ck_assert_status(res.status, PROTO_OK);
	ck_assert_uint_eq(took, 30 + 16 + 17);
	ck_assert_hex(out.data, out.len, B_ADD_REPLY B_PING_REPLY);
	/* out reaches 23 bytes with the first reply: no more */
	out.len = 0;
	ck_assert_uint_eq(run(B_ADD B_ZIP B_PING B_ADD, &limits, 23, UINT_MAX, &took, &out, &res),
	    1);
	ck_assert_uint_eq(took, 30);
	ck_assert_hex(out.data, out.len, B_ADD_REPLY);
	/* 24: zip adds nothing and ping goes past it */
	out.len = 0;
	ck_assert_uint_eq(run(B_ADD B_ZIP B_PING B_ADD, &limits, 24, UINT_MAX, &took, &out, &res),
	    3);
	ck_assert_uint_eq(took, 30 + 16 + 17);
	ck_assert_hex(out.data, out.len, B_ADD_REPLY B_PING_REPLY);
	/* the last message of a run is the result */
	ck_assert(res.replied);
	ck_assert_uint_eq(res.consumed, 17);
	buf_free(&out);
}
END_TEST

/*
 * A message that is not OK stops a run: those before it are answered and
 * counted, it gets its status, and none of its reply is in out.
 */
START_TEST(run_stops_at_a_failed_message)
{
	const struct dispatch_limits	 small = { 64, 32 };
	struct request_result		 res;
	struct buf			 out;
	size_t				 took;

	buf_init(&out, 1u << 20);
	/* message type 9 */
	ck_assert_uint_eq(run(B_ADD B_ADD "80010009 00000003 616464 00000001 00" B_ADD, &limits,
	    SIZE_MAX, UINT_MAX, &took, &out, &res), 2);
	ck_assert_status(res.status, PROTO_BAD);
	ck_assert_uint_eq(took, 60);
	ck_assert_hex(out.data, out.len, B_ADD_REPLY B_ADD_REPLY);
	/* a whole add of 88 bytes, over max_message_size (64) */
	out.len = 0;
	ck_assert_uint_eq(run(B_ADD "80010001 00000003 616464 00000001 08 0001 00000002"
	    " 08 0002 00000003 0b 0009 00000032 61*50 00" B_ADD, &small, SIZE_MAX, UINT_MAX,
	    &took, &out, &res), 1);
	ck_assert_status(res.status, PROTO_TOO_BIG);
	ck_assert_uint_eq(took, 30);
	ck_assert_hex(out.data, out.len, B_ADD_REPLY);
	/* the reply that does not fit the output buffer */
	buf_free(&out);
	buf_init(&out, 23 + 22);
	ck_assert_uint_eq(run(B_ADD B_ADD, &limits, SIZE_MAX, UINT_MAX, &took, &out, &res), 1);
	ck_assert_status(res.status, PROTO_TOO_BIG);
	ck_assert_uint_eq(took, 30);
	ck_assert_hex(out.data, out.len, B_ADD_REPLY);
	buf_free(&out);
}
END_TEST

/* --- frames -------------------------------------------------------------- */

/* Each test runs in a process of its own: what a transport keeps stays in it. */
static struct transport framed_protos[] = {
	{ .kind = TRANSPORT_FRAMED, .proto = &proto_binary },
	{ .kind = TRANSPORT_FRAMED, .proto = &proto_compact },
};

static void
framed_fails(struct transport *t, const char *hex,
    const struct dispatch_limits *lim, enum proto_status want)
{
	struct hexin		in;
	struct buf		out;
	struct request_result	res;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	ck_assert_int_eq(buf_append(&out, "pre", 3), 0);
	process(t, in.data, in.len, lim, &out, &res);
	ck_assert_msg(res.status == want, "%s %s: %s, want %s", t->proto->name, hex,
	    status_name(res.status), status_name(want));
	if (want == PROTO_BAD || want == PROTO_TOO_BIG)
		ck_assert_ptr_nonnull(res.error);
	ck_assert_msg(out.len == 3 && !res.replied, "%s: out touched", hex);
	buf_free(&out);
}

/* A frame longer than max_message_size is refused from its header alone. */
START_TEST(framed_too_big)
{
	const struct dispatch_limits small = { 64, 32 };

	framed_fails(&framed_protos[_i], "00000041", &small, PROTO_TOO_BIG);
	framed_fails(&framed_protos[_i], "7fffffff 80", &small, PROTO_TOO_BIG);
	framed_fails(&framed_protos[_i], "00100001", &limits, PROTO_TOO_BIG);
}
END_TEST

/* Exactly max_message_size is fine: wait for the rest of the frame. */
START_TEST(framed_max_size_boundary)
{
	const struct dispatch_limits	 small = { 64, 32 };
	struct hexin			 in;
	struct buf			 out;
	struct request_result		 res;

	in.len = hex_decode("00000040", in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	process(&framed_protos[_i], in.data, in.len, &small, &out, &res);
	ck_assert_status(res.status, PROTO_NEED_MORE);
	ck_assert_uint_eq(res.need, 4 + 64);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

START_TEST(framed_bad_length)
{
	framed_fails(&framed_protos[_i], "00000000", &limits, PROTO_BAD);
	framed_fails(&framed_protos[_i], "00000000 00000000", &limits, PROTO_BAD);
	framed_fails(&framed_protos[_i], "ffffffff", &limits, PROTO_BAD);
	framed_fails(&framed_protos[_i], "80000000 80010001", &limits, PROTO_BAD);
}
END_TEST

/* Bytes a frame carries past its message are consumed and ignored. */
START_TEST(framed_trailing_bytes)
{
	static const char *const frames[] = {
		"00000021 " B_ADD " ffffff  00000011",		/* binary, +3 */
		"0000000f " C_ADD " ffffff  00000011",		/* compact, +3 */
	};
	static const char *const replies[] = {
		"00000017 " B_ADD_REPLY,
		"0000000b " C_ADD_REPLY,
	};
	struct hexin		in;
	struct buf		out;
	struct request_result	res;

	in.len = hex_decode(frames[_i], in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	process(&framed_protos[_i], in.data, in.len, &limits, &out, &res);
	ck_assert_msg(res.status == PROTO_OK, "%s (%s)", status_name(res.status),
	    res.error ? res.error : "");
	ck_assert_uint_eq(res.consumed, in.len - 4);
	ck_assert(res.replied);
	ck_assert_hex(out.data, out.len, replies[_i]);
	buf_free(&out);
}
END_TEST

/* A frame that ends inside its message is malformed, even if more follows. */
START_TEST(framed_shorter_than_message)
{
	static const char *const frames[] = {
		"0000001d " B_ADD " 00000000",			/* 29 of 30 */
		"0000000b " C_ADD " 00000000",			/* 11 of 12 */
		"00000010 " B_ADD,				/* in the args */
		"00000008 " C_ADD,
	};

	framed_fails(&framed_protos[_i], frames[_i], &limits, PROTO_BAD);
	framed_fails(&framed_protos[_i], frames[_i + 2], &limits, PROTO_BAD);
}
END_TEST

/* A complete frame of bytes that are no message: BAD, not NEED_MORE. */
START_TEST(framed_garbage)
{
	static const char *const frames[] = {
		"00000006 80020001 0000",
		"00000006 83210103 6164",
	};

	framed_fails(&framed_protos[_i], frames[_i], &limits, PROTO_BAD);
}
END_TEST

/* Buffered: a message too long for max_message_size is TOO_BIG. */
START_TEST(buffered_too_big)
{
	const struct dispatch_limits	 small = { 64, 32 };
	struct transport		 t = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
	struct hexin			 in;
	struct buf			 out;
	struct request_result		 res;

	/* add with a 1000-byte string in field 3, header only */
	in.len = hex_decode("80010001 00000003 616464 00000001 0b 0003 000003e8 6162",
	    in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	process(&t, in.data, in.len, &small, &out, &res);
	ck_assert_status(res.status, PROTO_TOO_BIG);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

/* Buffered: many small fields adding up past max_message_size are TOO_BIG too. */
START_TEST(buffered_sum_too_big)
{
	const struct dispatch_limits	 small = { 64, 32 };
	struct transport		 t = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
	struct wfix			 f;
	struct proto_string		 name = pstr("add");
	struct request_result		 res;
	struct buf			 out;

	wfix_init(&f, 4096);
	proto_binary.write_message_begin(&f.w, &name, PROTO_CALL, 1);
	proto_binary.write_struct_begin(&f.w);
	for (int16_t id = 1; id <= 20; id++) {
		proto_binary.write_field_begin(&f.w, PROTO_T_I32, id);
		proto_binary.write_i32(&f.w, id);
	}
	proto_binary.write_field_stop(&f.w);
	proto_binary.write_struct_end(&f.w);
	ck_assert(!f.w.failed);
	ck_assert_uint_gt(f.buf.len, 64);
	buf_init(&out, 1u << 20);
	process(&t, f.buf.data, f.buf.len, &small, &out, &res);
	ck_assert_status(res.status, PROTO_TOO_BIG);
	ck_assert_uint_eq(out.len, 0);
	ck_assert(!res.replied);
	buf_free(&out);
	buf_free(&f.buf);
}
END_TEST

/* --- unframed, however it arrives -------------------------------------------- */

/* A request's outcome: its result and what went to out (the error reply if it failed). */
struct outcome {
	struct request_result	res;
	uint8_t			out[512];
	size_t			out_len;
	size_t			calls;	/* request_process calls it took */
};

static void
outcome_end(struct outcome *o, struct buf *out)
{
	if (o->res.status == PROTO_BAD || o->res.status == PROTO_TOO_BIG)
		(void)request_error_reply(&o->res, out);
	ck_assert_uint_le(out->len, sizeof o->out);
	if (out->len > 0)	/* out->data is NULL before anything was written */
		memcpy(o->out, out->data, out->len);
	o->out_len = out->len;
	out->len = 0;
}

/*
 * Feed data[0..len) as conn does, the bytes so far from the message's
 * first each time, at the lengths cuts[0..ncuts) (increasing, the last
 * len), until it is answered or refused.
 */
static void
feed(const struct proto_ops *proto, const uint8_t *data, const size_t *cuts, size_t ncuts,
    const struct dispatch_limits *lim, struct outcome *o)
{
	struct transport	t = { .kind = TRANSPORT_BUFFERED, .proto = proto };
	struct buf		out;

	buf_init(&out, 1u << 20);
	o->calls = 0;
	for (size_t i = 0; i < ncuts; i++) {
		process(&t, data, cuts[i], lim, &out, &o->res);
		o->calls++;
		if (o->res.status != PROTO_NEED_MORE)
			break;
		ck_assert_msg(o->res.need > cuts[i], "%zu bytes: need %zu", cuts[i],
		    o->res.need);
		ck_assert_ptr_nonnull(t.scan);
	}
	ck_assert_ptr_null(o->res.status == PROTO_NEED_MORE ? NULL : t.scan);
	outcome_end(o, &out);
	transport_free(&t);
	buf_free(&out);
}

static void
assert_same_outcome(const struct outcome *got, const struct outcome *want, const char *how)
{
	ck_assert_msg(got->res.status == want->res.status, "%s: %s (%s), whole %s (%s)", how,
	    status_name(got->res.status), got->res.error ? got->res.error : "",
	    status_name(want->res.status), want->res.error ? want->res.error : "");
	ck_assert_uint_eq(got->res.consumed, want->res.consumed);
	ck_assert_msg((got->res.error == NULL) == (want->res.error == NULL), "%s: error", how);
	if (want->res.error != NULL)
		ck_assert_str_eq(got->res.error, want->res.error);
	ck_assert_msg(got->out_len == want->out_len &&
	    memcmp(got->out, want->out, want->out_len) == 0, "%s: another reply", how);
}

/*
 * Calls at the edges of dispatch's fast path (add and subtract as every
 * generated client sends them): each answered by request_run exactly as
 * request_process, which takes the general path, answers it — alone, in
 * an output buffer of every size up to past the fast path's need, and
 * all of them one after another.
 */
static const struct {
	const struct proto_ops	*proto;
	const char		*hex;
} edge_calls[] = {
	{ &proto_binary, B_ADD },
	{ &proto_binary, B_ADD_OLD },
	/* overflow: INT32_MAX + 1, INT32_MIN - 1 */
	{ &proto_binary, "80010001 00000003 616464 00000007 08 0001 7fffffff 08 0002 00000001 00" },
	{ &proto_binary, "80010001 00000008 7375627472616374 ffffffff"
	  " 08 0001 80000000 08 0002 00000001 00" },
	{ &proto_binary, "80010001 00000008 7375627472616374 00000002"
	  " 08 0001 00000007 08 0002 00000003 00" },
	/* arguments reversed, one missing, one more, one mistyped, repeated */
	{ &proto_binary, "80010001 00000003 616464 00000001 08 0002 00000003 08 0001 00000002 00" },
	{ &proto_binary, "80010001 00000003 616464 00000001 08 0001 00000002 00" },
	{ &proto_binary, "80010001 00000003 616464 00000001 08 0001 00000002 08 0002 00000003"
	  " 08 0003 00000009 00" },
	{ &proto_binary, "80010001 00000003 616464 00000001 0a 0001 0000000000000002"
	  " 08 0002 00000003 00" },
	{ &proto_binary, "80010001 00000003 616464 00000001 08 0001 00000002 08 0002 00000003"
	  " 08 0002 00000004 00" },
	/* oneway, a reply, multiplexed, another method, a name that starts alike */
	{ &proto_binary, "80010004 00000003 616464 00000001 08 0001 00000002 08 0002 00000003 00" },
	{ &proto_binary, "80010002 00000003 616464 00000001 08 0000 00000005 00" },
	{ &proto_binary, "80010001 0000000e 43616c63756c61746f723a616464 00000001"
	  " 08 0001 00000002 08 0002 00000003 00" },
	{ &proto_binary, B_PING },
	{ &proto_binary, "80010001 00000004 61646478 00000001 08 0001 00000002 08 0002 00000003 00" },
	{ &proto_compact, C_ADD },
	/* compact: long-form field headers, overflow, reversed, negative seqid */
	{ &proto_compact, "82 21 01 03 616464 05 02 04 05 04 06 00" },
	{ &proto_compact, "82 21 01 03 616464 15 feffffff0f 15 02 00" },
	{ &proto_compact, "82 21 01 03 616464 25 06 05 02 04 00" },
	{ &proto_compact, "82 21 ffffffff0f 08 7375627472616374 15 0e 15 06 00" },
	{ &proto_compact, C_PING },
};
#define NEDGE_CALLS ((int)(sizeof edge_calls / sizeof edge_calls[0]))

/* One message's outcome, the general way or by request_run, out of room cap. */
static void
answer(const struct proto_ops *proto, const uint8_t *data, size_t len, size_t cap,
    bool general, struct outcome *o)
{
	struct transport	t = { .kind = TRANSPORT_BUFFERED, .proto = proto };
	struct buf		out;
	size_t			took = 0;

	buf_init(&out, cap);
	if (general) {
		process(&t, data, len, &limits, &out, &o->res);
	} else {
		memset(&o->res, 0, sizeof o->res);
		o->calls = request_run(&t, data, len, &limits, &out, SIZE_MAX, UINT_MAX, &took,
		    &o->res);
		ck_assert_uint_eq(took, o->res.status == PROTO_OK ? o->res.consumed : 0);
	}
	/* a fresh log each time: getStruct can't tell the two ways apart */
	calc_log_free();
	ck_assert_int_eq(calc_log_init(16), 0);
	outcome_end(o, &out);
	transport_free(&t);
	buf_free(&out);
}

START_TEST(run_same_as_general)
{
	struct hexin	in;
	struct outcome	general, fast;
	char		how[64];

	in.len = hex_decode(edge_calls[_i].hex, in.data, sizeof in.data);
	for (size_t cap = 0; cap <= 160; cap++) {
		answer(edge_calls[_i].proto, in.data, in.len, cap, true, &general);
		answer(edge_calls[_i].proto, in.data, in.len, cap, false, &fast);
		snprintf(how, sizeof how, "call %d, %zu bytes of room", _i, cap);
		assert_same_outcome(&fast, &general, how);
	}
	/* with room, every one is answered */
	ck_assert_status(general.res.status, PROTO_OK);
}
END_TEST

/* All the edge calls of one protocol one after another, in one run. */
START_TEST(run_same_as_general_pipelined)
{
	const struct proto_ops	*proto = _i == 0 ? &proto_binary : &proto_compact;
	struct transport	 one = { .kind = TRANSPORT_BUFFERED, .proto = proto };
	struct transport	 many = one;
	struct request_result	 res;
	struct buf		 out_one, out_many;
	uint8_t			 data[HEX_MAX];
	size_t			 len = 0, pos = 0, took = 0;
	unsigned		 messages = 0, calls;

	for (int i = 0; i < NEDGE_CALLS; i++) {
		if (edge_calls[i].proto != proto)
			continue;
		len += hex_decode(edge_calls[i].hex, data + len, sizeof data - len);
		messages++;
	}
	buf_init(&out_one, 1u << 20);
	buf_init(&out_many, 1u << 20);
	for (unsigned n = 0; n < messages; n++) {
		process(&one, data + pos, len - pos, &limits, &out_one, &res);
		ck_assert_status(res.status, PROTO_OK);
		pos += res.consumed;
	}
	ck_assert_uint_eq(pos, len);
	calc_log_free();
	ck_assert_int_eq(calc_log_init(16), 0);
	memset(&res, 0, sizeof res);
	calls = request_run(&many, data, len, &limits, &out_many, SIZE_MAX, UINT_MAX, &took, &res);
	ck_assert_status(res.status, PROTO_OK);
	ck_assert_uint_eq(calls, messages);
	ck_assert_uint_eq(took, len);
	ck_assert_msg(out_many.len == out_one.len &&
	    memcmp(out_many.data, out_one.data, out_one.len) == 0, "other replies");
	buf_free(&out_one);
	buf_free(&out_many);
}
END_TEST

/*
 * Answer data whole, a byte at a time, and in two pieces split at every
 * point: the same result, reply or error reply each way.  The outcome of
 * the whole is left in *whole.
 */
static void
check_however_fed(const struct proto_ops *proto, const uint8_t *data, size_t len,
    const struct dispatch_limits *lim, struct outcome *whole)
{
	struct outcome	 o;
	size_t		*cuts, two[2];
	char		 how[64];

	feed(proto, data, &len, 1, lim, whole);
	cuts = calloc(len + 1, sizeof *cuts);
	ck_assert_ptr_nonnull(cuts);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	feed(proto, data, cuts, len, lim, &o);
	assert_same_outcome(&o, whole, "a byte at a time");
	free(cuts);
	for (size_t k = 1; k < len; k++) {
		two[0] = k;
		two[1] = len;
		feed(proto, data, two, 2, lim, &o);
		snprintf(how, sizeof how, "split at %zu", k);
		assert_same_outcome(&o, whole, how);
	}
}

static void
check_hex_however_fed(const struct proto_ops *proto, const char *hex,
    const struct dispatch_limits *lim, enum proto_status want, const char *error)
{
	struct hexin	in;
	struct outcome	whole;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	check_however_fed(proto, in.data, in.len, lim, &whole);
	ck_assert_msg(whole.res.status == want, "%s: %s (%s), want %s", hex,
	    status_name(whole.res.status), whole.res.error ? whole.res.error : "",
	    status_name(want));
	if (error != NULL)
		ck_assert_str_eq(whole.res.error, error);
	if (want == PROTO_OK)
		ck_assert_uint_gt(whole.res.consumed, 0);
}

/* Good calls: the same reply whether they come whole or dripped. */
START_TEST(buffered_dripped_answered)
{
	static const struct {
		const struct proto_ops	*proto;
		const char		*hex;
	} cases[] = {
		{ &proto_binary, B_ADD }, { &proto_binary, B_ADD_OLD },
		{ &proto_binary, B_PING }, { &proto_binary, B_ZIP },
		{ &proto_compact, C_ADD }, { &proto_compact, C_PING }, { &proto_compact, C_ZIP },
		/* with the next message behind it: only the first is taken */
		{ &proto_binary, B_ADD " " B_PING }, { &proto_compact, C_ADD " " C_ADD },
		/* unknown fields of every kind skipped: a string, a list<struct>, a map */
		{ &proto_binary, "80010001 00000003 616464 00000004 0b 0009 00000002 6869"
		  " 0f 000a 0c 00000002 08 0001 00000001 00 00"
		  " 0d 000b 08 0b 00000001 00000007 00000000"
		  " 08 0001 00000002 08 0002 00000003 00" },
		{ &proto_compact, "82 21 04 03 616464 15 04 15 06"
		  " 18 02 6869 19 2c 15 02 00 00 1b 01 58 0e 00 00" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_hex_however_fed(cases[i].proto, cases[i].hex, &limits, PROTO_OK, NULL);
}
END_TEST

/*
 * Bad calls: refused for the same reason whether the decoder or the
 * scan finds them bad, and, with their header here, answered with the
 * same error reply naming the call.
 */
START_TEST(buffered_dripped_refused)
{
	const struct dispatch_limits	small = { 64, 32 };
	struct hexin			in;
	struct outcome			whole;

	check_hex_however_fed(&proto_binary, "80010001 00000003 616464 00000009 07 0001 00",
	    &limits, PROTO_BAD, "unknown field type");
	check_hex_however_fed(&proto_binary, "00000003 616464 01 00000009 0f 0001 00 00000000 00",
	    &limits, PROTO_BAD, "invalid container element type");
	check_hex_however_fed(&proto_compact, "82 21 09 03 616464 1e", &limits, PROTO_BAD,
	    "unknown field type");
	check_hex_however_fed(&proto_binary, "80010001 00000003 616464 00000009"
	    " 0b 0003 00000041", &small, PROTO_TOO_BIG, "length exceeds max_message_size");
	/* every part fits, the whole does not */
	check_hex_however_fed(&proto_compact, "82 21 09 03 616464 18 3c "
	    "000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000 00", &small,
	    PROTO_TOO_BIG,
	    "message exceeds max_message_size");
	/* dispatch reads the arguments it knows more strictly than the scan: its word is final */
	check_hex_however_fed(&proto_compact, "82 21 09 03 616464 15 ffffffff1f 15 04 00",
	    &limits, PROTO_BAD, "varint overflows 32 bits");
	/* a header that can't be read: no reply */
	check_hex_however_fed(&proto_binary, "80020001 00000003 616464 00000009 00",
	    &limits, PROTO_BAD, "bad binary protocol version");
	in.len = hex_decode("80010001 00000003 616464 00000009 07 0001 00", in.data,
	    sizeof in.data);
	check_however_fed(&proto_binary, in.data, in.len, &limits, &whole);
	ck_assert_uint_gt(whole.out_len, 0);	/* an error reply, for add, seqid 9 */
	ck_assert_hex(whole.out, 18, "80010003 00000003 616464 00000009 0b 0001");
}
END_TEST

/*
 * max_nesting_depth counts from what dispatch reads into: a calculate's
 * Work may hold values one level deeper than add's arguments may, and
 * the scan must not refuse what dispatch takes.
 */
START_TEST(buffered_dripped_depth)
{
	const struct dispatch_limits	depth1 = { 1u << 20, 1 };

	/* calculate(1, Work{1, 2, op 1, 5: struct{1: struct{}}}): 2 levels, in Work */
	check_hex_however_fed(&proto_binary, "80010001 00000009 63616c63756c617465 00000005"
	    " 08 0001 00000001 0c 0002 08 0001 00000001 08 0002 00000002 08 0003 00000001"
	    " 0c 0005 0c 0001 00 00 00 00", &depth1, PROTO_BAD, "nesting too deep");
	check_hex_however_fed(&proto_binary, "80010001 00000009 63616c63756c617465 00000005"
	    " 08 0001 00000001 0c 0002 08 0001 00000001 08 0002 00000002 08 0003 00000001"
	    " 0c 0005 00 00 00", &depth1, PROTO_OK, NULL);
	check_hex_however_fed(&proto_compact, "82 21 05 09 63616c63756c617465"
	    " 15 02 1c 15 02 15 04 15 02 2c 00 00 00", &depth1, PROTO_OK, NULL);
	/* add(1, 2, 3: struct{}) is fine at depth 1; struct{struct{}} and deeper are not */
	check_hex_however_fed(&proto_binary, "80010001 00000003 616464 00000005"
	    " 08 0001 00000001 08 0002 00000002 0c 0003 00 00", &depth1, PROTO_OK, NULL);
	check_hex_however_fed(&proto_binary, "80010001 00000003 616464 00000005"
	    " 08 0001 00000001 08 0002 00000002 0c 0003 0c 0001 00 00 00", &depth1, PROTO_BAD,
	    "nesting too deep");
	check_hex_however_fed(&proto_compact, "82 21 05 03 616464 15 02 15 04"
	    " 1c 1c 1c 00 00 00 00", &depth1, PROTO_BAD, "nesting too deep");
}
END_TEST

/*
 * A large unframed message dripped in small reads: each read resumes
 * the scan where the last left it, and dispatch reads it once: linear.
 */
START_TEST(buffered_dripped_linear)
{
	enum { FIELDS = 100000, PIECE = 1000 };
	static const uint8_t		head[] = { 0x82, 0x21, 0x07, 0x03, 'a', 'd', 'd',
	    0x15, 0x02, 0x15, 0x04 };
	const struct dispatch_limits	lim = { 1u << 20, 32 };
	struct outcome			o;
	uint8_t				*data;
	size_t				 len = sizeof head + 3 * FIELDS + 1, *cuts, ncuts = 0;

	ck_assert((data = malloc(len)) != NULL);
	ck_assert((cuts = malloc((len / PIECE + 1) * sizeof *cuts)) != NULL);
	memcpy(data, head, sizeof head);
	for (size_t i = 0; i < FIELDS; i++)
		memcpy(data + sizeof head + 3 * i, "\x05\x06\x00", 3);
	data[len - 1] = 0;
	for (size_t at = PIECE; at < len; at += PIECE)
		cuts[ncuts++] = at;
	cuts[ncuts++] = len;
	feed(&proto_compact, data, cuts, ncuts, &lim, &o);
	ck_assert_status(o.res.status, PROTO_OK);
	ck_assert_uint_eq(o.res.consumed, len);
	ck_assert_uint_eq(o.calls, ncuts);
	/* add(1, 2) = 3 */
	ck_assert_hex(o.out, o.out_len, "82 41 07 03 616464 05 00 06 00");
	free(cuts);
	free(data);
}
END_TEST

/* --- THeader ------------------------------------------------------------- */

static struct transport header_transport = { .kind = TRANSPORT_HEADER };

/* Frame header: length, magic, flags, sequence number, header size in words. */
#define H_BINARY	"0fff 0001 00000007 0001 00000000"	/* protocol 0, no transforms */
#define H_COMPACT	"0fff 0001 00000007 0001 02000000"	/* protocol 2 */

static void
header_ok(const char *request, const char *reply, size_t consumed)
{
	struct hexin		in;
	struct buf		out;
	struct request_result	res;

	in.len = hex_decode(request, in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	process(&header_transport, in.data, in.len, &limits, &out, &res);
	ck_assert_msg(res.status == PROTO_OK, "%s: %s (%s)", request, status_name(res.status),
	    res.error ? res.error : "");
	ck_assert_uint_eq(res.consumed, consumed);
	if (reply == NULL) {
		ck_assert(!res.replied);
		ck_assert_uint_eq(out.len, 0);
	} else {
		ck_assert(res.replied);
		ck_assert_hex(out.data, out.len, reply);
	}
	buf_free(&out);
}

static void
header_fails(const char *request, enum proto_status want, size_t need)
{
	struct hexin		in;
	struct buf		out;
	struct request_result	res;

	in.len = hex_decode(request, in.data, sizeof in.data);
	buf_init(&out, 1u << 20);
	process(&header_transport, in.data, in.len, &limits, &out, &res);
	ck_assert_msg(res.status == want, "%s: %s, want %s", request, status_name(res.status),
	    status_name(want));
	ck_assert_uint_eq(out.len, 0);
	if (want == PROTO_NEED_MORE)
		ck_assert_uint_eq(res.need, need);
	else
		ck_assert_ptr_nonnull(res.error);
	buf_free(&out);
}

/* Replies echo flags, sequence number and protocol, with no transforms. */
START_TEST(header_binary_and_compact)
{
	header_ok("0000002c " H_BINARY " " B_ADD, "00000025 " H_BINARY " " B_ADD_REPLY, 48);
	header_ok("0000001a " H_COMPACT " " C_ADD, "00000019 " H_COMPACT " " C_ADD_REPLY, 30);
	/* oneway: consumed, no reply frame at all */
	header_ok("0000001e " H_BINARY " " B_ZIP, NULL, 34);
}
END_TEST

/* Info headers (here one key/value pair) and padding are skipped. */
START_TEST(header_info_skipped)
{
	header_ok("00000030 0fff 0000 00000009 0002 00000101 016b0176 " B_ADD,
	    "00000025 0fff 0000 00000009 0001 00000000 " B_ADD_REPLY, 52);
}
END_TEST

/* A transform or protocol calcd lacks gets a TApplicationException, in binary. */
START_TEST(header_unsupported_transform_and_protocol)
{
	struct hexin		in;
	struct buf		out;
	struct request_result	res;
	static const struct {
		const char	*request;
		const char	*tail;		/* type field and stops */
	} cases[] = {
		{ "00000012 0fff 0000 00000005 0001 00010100 deadbeef", "08000200000008 00" },
		{ "00000012 0fff 0000 00000005 0001 01000000 deadbeef", "08000200000009 00" },
	};
	struct hexin tail, head;

	hex_decode("0fff 0000 00000005 0001 00000000 80010003 00000000 00000000 0b0001",
	    head.data, sizeof head.data);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		in.len = hex_decode(cases[i].request, in.data, sizeof in.data);
		tail.len = hex_decode(cases[i].tail, tail.data, sizeof tail.data);
		buf_init(&out, 1u << 20);
		process(&header_transport, in.data, in.len, &limits, &out, &res);
		ck_assert_status(res.status, PROTO_OK);
		ck_assert_uint_eq(res.consumed, in.len);
		ck_assert(res.replied);
		ck_assert_uint_gt(out.len, 4 + 21 + tail.len);
		ck_assert_uint_eq(bytes_be32(out.data), out.len - 4);
		ck_assert_mem_eq(out.data + 4, head.data, 21);
		ck_assert_mem_eq(out.data + out.len - tail.len, tail.data, tail.len);
		buf_free(&out);
	}
}
END_TEST

START_TEST(header_malformed)
{
	/* header size (2 words) larger than the frame leaves room for */
	header_fails("0000000e 0fff 0000 00000001 0002 00000000", PROTO_BAD, 0);
	/* shorter than the fixed part */
	header_fails("00000009 0fff 0000 00000001 00", PROTO_BAD, 0);
	/* a varint that runs off the end of the header block */
	header_fails("0000000e 0fff 0000 00000001 0001 80808080", PROTO_BAD, 0);
	/* the payload ends inside its message */
	header_fails("00000018 " H_BINARY " 80010001 00000003 616464", PROTO_BAD, 0);
	/* not all there yet */
	header_fails("0000002c " H_BINARY " 80010001", PROTO_NEED_MORE, 48);
	header_fails("000000", PROTO_NEED_MORE, 4);
	/* over max_message_size (1 MiB here) at once, from the length alone */
	header_fails("00100001 0fff", PROTO_TOO_BIG, 0);
	header_fails("7fffffff 0fff", PROTO_BAD, 0);
}
END_TEST

/* A bad call that can be named gets a PROTOCOL_ERROR reply before the close. */
START_TEST(error_reply_for_named_calls)
{
	static const struct {
		struct transport	 t;
		const char		*request;
		const char		*head;	/* start of the reply */
	} cases[] = {
		{ { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary },
		  "80010001 00000003 616464 00000009 63 0001 00",
		  "80010003 00000003 616464 00000009 0b 0001" },
		{ { .kind = TRANSPORT_FRAMED, .proto = &proto_binary },
		  "00000013 80010001 00000003 616464 00000009 63 0001 00",
		  "80010003 00000003 616464 00000009 0b 0001" },
		{ { .kind = TRANSPORT_FRAMED, .proto = &proto_compact },
		  "00000009 82 21 09 03 616464 1f 00",
		  "82 61 09 03 616464 18" },
		{ { .kind = TRANSPORT_HEADER },
		  "00000021 " H_BINARY " 80010001 00000003 616464 00000009 63 0001 00",
		  H_BINARY " 80010003 00000003 616464 00000009 0b 0001" },
	};
	struct hexin		in, head, tail;
	struct buf		out;
	struct request_result	res;
	size_t			skip;

	tail.len = hex_decode("08 0002 00000007 00", tail.data, sizeof tail.data);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct transport	 copy = cases[i].t;
		struct transport	*t = &copy;

		in.len = hex_decode(cases[i].request, in.data, sizeof in.data);
		head.len = hex_decode(cases[i].head, head.data, sizeof head.data);
		buf_init(&out, 1u << 20);
		process(t, in.data, in.len, &limits, &out, &res);
		ck_assert_msg(res.status == PROTO_BAD, "case %zu: %s", i, status_name(res.status));
		ck_assert_uint_eq(out.len, 0);
		ck_assert_int_eq(request_error_reply(&res, &out), 0);
		skip = t->kind == TRANSPORT_BUFFERED ? 0 : 4;
		if (skip)
			ck_assert_uint_eq(bytes_be32(out.data), out.len - 4);
		ck_assert_uint_gt(out.len, skip + head.len + tail.len);
		ck_assert_mem_eq(out.data + skip, head.data, head.len);
		if (t->proto != &proto_compact)
			ck_assert_mem_eq(out.data + out.len - tail.len, tail.data, tail.len);
		else	/* compact: i32 field 2 (delta 1) = zigzag(7), stop */
			ck_assert_mem_eq(out.data + out.len - 3, "\x15\x0e\x00", 3);
		buf_free(&out);
	}
}
END_TEST

/* Nothing to name (garbage, a oneway call): no error reply. */
START_TEST(error_reply_needs_a_call)
{
	struct transport	binary = { .kind = TRANSPORT_BUFFERED, .proto = &proto_binary };
	struct hexin		in;
	struct buf		out;
	struct request_result	res;

	buf_init(&out, 1u << 20);
	in.len = hex_decode("80020001 00000003 616464", in.data, sizeof in.data);
	process(&binary, in.data, in.len, &limits, &out, &res);
	ck_assert_status(res.status, PROTO_BAD);
	ck_assert_int_eq(request_error_reply(&res, &out), -1);
	in.len = hex_decode("80010004 00000003 7a6970 00000003 63 0001 00", in.data,
	    sizeof in.data);
	process(&binary, in.data, in.len, &limits, &out, &res);
	ck_assert_status(res.status, PROTO_BAD);
	ck_assert_int_eq(request_error_reply(&res, &out), -1);
	ck_assert_uint_eq(out.len, 0);
	buf_free(&out);
}
END_TEST

static Suite *
request_suite(void)
{
	Suite	*s = suite_create("request");
	TCase	*tc;

	tc = tcase_create("process");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, process_exact, 0, NCOMBOS);
	tcase_add_loop_test(tc, process_prefixes_need_more, 0, NCOMBOS);
	tcase_add_loop_test(tc, process_pipelined, 0, NCOMBOS);
	tcase_add_loop_test(tc, process_oneway_no_reply, 0, NCOMBOS);
	tcase_add_loop_test(tc, process_reply_buffer_full, 0, NCOMBOS);
	tcase_add_test(tc, buffered_too_big);
	tcase_add_test(tc, buffered_sum_too_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("runs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, run_matches_one_at_a_time, 0, NCOMBOS);
	tcase_add_test(tc, run_stops_at_its_limits);
	tcase_add_test(tc, run_stops_at_a_failed_message);
	tcase_add_loop_test(tc, run_same_as_general, 0, NEDGE_CALLS);
	tcase_add_loop_test(tc, run_same_as_general_pipelined, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("dripped");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, buffered_dripped_answered);
	tcase_add_test(tc, buffered_dripped_refused);
	tcase_add_test(tc, buffered_dripped_depth);
	tcase_add_test(tc, buffered_dripped_linear);
	suite_add_tcase(s, tc);

	tc = tcase_create("frames");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, framed_too_big, 0, 2);
	tcase_add_loop_test(tc, framed_max_size_boundary, 0, 2);
	tcase_add_loop_test(tc, framed_bad_length, 0, 2);
	tcase_add_loop_test(tc, framed_trailing_bytes, 0, 2);
	tcase_add_loop_test(tc, framed_shorter_than_message, 0, 2);
	tcase_add_loop_test(tc, framed_garbage, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("theader");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, header_binary_and_compact);
	tcase_add_test(tc, header_info_skipped);
	tcase_add_test(tc, header_unsupported_transform_and_protocol);
	tcase_add_test(tc, header_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("error_reply");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, error_reply_for_named_calls);
	tcase_add_test(tc, error_reply_needs_a_call);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(request_suite());
}
