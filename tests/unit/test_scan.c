/*
 * test_scan: the unframed message-end finder.  Byte-exact messages laid
 * out by the binary and compact protocol specs (every type, nested
 * containers, empty maps, bools in fields and containers, uuid, long-form
 * field ids, both binary headers), each fed whole, a byte at a time and
 * split in two at every point, must end exactly where the codecs say;
 * malformed and oversized ones must be refused for the codecs' reasons;
 * and a 13.5 MB message fed in 64 KiB pieces must be read about once.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"
#include "codec_common.h"
#include "dispatch.h"
#include "scan.h"

#define MAX_SIZE	(1u << 20)
#define MAX_DEPTH	32

static const char *
scan_status_name(enum scan_status s)
{
	switch (s) {
	case SCAN_NEED_MORE:	return "NEED_MORE";
	case SCAN_DONE:		return "DONE";
	case SCAN_BAD:		return "BAD";
	case SCAN_TOO_BIG:	return "TOO_BIG";
	default:		return "?";
	}
}

static const char *
proto_label(enum scan_protocol p)
{
	return p == SCAN_COMPACT ? "compact" : "binary";
}

/* What the codecs say about data[0..len), judged as transport_process judges unframed input. */
struct verdict {
	enum scan_status status;
	size_t		 length;	/* DONE */
	size_t		 need;		/* NEED_MORE */
	const char	*error;
};

/*
 * The codecs' own reading of an unframed call: the header, the message
 * type check dispatch_message makes, then the argument struct skipped
 * whole.  A reader's limit counts the struct it skips: it stands for a
 * scan with args_depth 1 at max_depth, or with args_depth 0 (as calcd
 * counts max_nesting_depth) at max_depth + 1.
 */
static void
codec_verdict(enum scan_protocol p, const uint8_t *data, size_t len, size_t max_size,
    unsigned max_depth, struct verdict *v)
{
	const struct proto_ops	*ops = p == SCAN_COMPACT ? &proto_compact : &proto_binary;
	struct proto_reader	 r;
	struct proto_string	 name;
	uint8_t			 type = 0;
	int32_t			 seqid;

	proto_reader_init(&r, data, len, max_size, max_depth);
	if (ops->read_message_begin(&r, &name, &type, &seqid) == 0) {
		if (type < PROTO_CALL || type > PROTO_ONEWAY)
			proto_fail(&r, PROTO_BAD, "invalid message type");
		else
			ops->skip(&r, PROTO_T_STRUCT);
	}
	memset(v, 0, sizeof *v);
	v->error = r.error;
	switch (r.status) {
	case PROTO_OK:
		v->status = SCAN_DONE;
		v->length = r.pos;
		break;
	case PROTO_NEED_MORE:
		v->status = SCAN_NEED_MORE;
		v->need = r.need;
		break;
	case PROTO_BAD:
		v->status = SCAN_BAD;
		break;
	default:
		v->status = SCAN_TOO_BIG;
		break;
	}
	if ((v->status == SCAN_DONE && v->length > max_size) ||
	    (v->status == SCAN_NEED_MORE && v->need > max_size)) {
		v->status = SCAN_TOO_BIG;
		v->error = "message exceeds max_message_size";
	}
}

struct limits {
	size_t		max_size;
	unsigned	max_depth;
	unsigned	args_depth;
};

/* As calcd scans: max_nesting_depth does not count the argument struct. */
static const struct limits default_limits = { MAX_SIZE, MAX_DEPTH, 0 };

/* Scan data[0..len) fed whole. */
static enum scan_status
scan_whole(enum scan_protocol p, const uint8_t *data, size_t len, const struct limits *lim,
    struct scan *s)
{
	scan_init(s, p, lim->max_size, lim->max_depth, lim->args_depth);
	return scan_continue(s, data, len);
}

/*
 * Feed data in the pieces cuts[] (increasing lengths): every NEED_MORE must ask for more than it has; the final result
 * is returned in s.
 */
static void
scan_pieces(enum scan_protocol p, const uint8_t *data, const struct limits *lim,
    const size_t *cuts, size_t ncuts, struct scan *s, size_t *max_need)
{
	scan_init(s, p, lim->max_size, lim->max_depth, lim->args_depth);
	*max_need = 0;
	for (size_t i = 0; i < ncuts; i++) {
		enum scan_status st = scan_continue(s, data, cuts[i]);

		if (st != SCAN_NEED_MORE)
			break;
		ck_assert_msg(s->need > cuts[i], "NEED_MORE with %zu bytes asks for %zu",
		    cuts[i], s->need);
		ck_assert_msg(s->need >= *max_need, "need went down from %zu to %zu",
		    *max_need, s->need);
		*max_need = s->need;
	}
}

/* The same result: status, length or need, error text. */
static void
assert_same_scan(const struct scan *got, const struct scan *want, const char *what)
{
	ck_assert_msg(got->status == want->status, "%s: %s, fed whole %s", what,
	    scan_status_name(got->status), scan_status_name(want->status));
	if (want->status == SCAN_DONE)
		ck_assert_uint_eq(got->length, want->length);
	else if (want->status == SCAN_NEED_MORE)
		ck_assert_uint_eq(got->need, want->need);
	else
		ck_assert_str_eq(got->error, want->error);
}

/*
 * Scan data whole, a byte at a time and split in two at every point;
 * all must agree with each other and with the codecs.  Returns the
 * result fed whole in *out.
 */
static void
check_scan(enum scan_protocol p, const uint8_t *data, size_t len, const struct limits *lim,
    struct scan *out)
{
	struct scan	 whole, s;
	struct verdict	 v;
	size_t		*cuts, max_need, two[2];
	char		 what[96];

	scan_whole(p, data, len, lim, &whole);
	*out = whole;

	/* The codecs agree (their args struct counts toward their depth, see codec_verdict). */
	if (lim->args_depth <= 1) {
		codec_verdict(p, data, len, lim->max_size, lim->max_depth + 1 - lim->args_depth,
		    &v);
		ck_assert_msg(whole.status == v.status || (v.status == SCAN_NEED_MORE &&
		    whole.status == SCAN_TOO_BIG), "%s: scan %s (%s), codecs %s (%s)",
		    proto_label(p), scan_status_name(whole.status),
		    whole.error ? whole.error : "", scan_status_name(v.status),
		    v.error ? v.error : "");
		if (v.status == SCAN_DONE)
			ck_assert_uint_eq(whole.length, v.length);
		else if (v.status == SCAN_NEED_MORE && whole.status == SCAN_NEED_MORE)
			ck_assert_uint_ge(whole.need, v.need);
		else if (v.status == whole.status)
			ck_assert_str_eq(whole.error, v.error);
	}

	/* A byte at a time. */
	ck_assert((cuts = malloc((len + 1) * sizeof *cuts)) != NULL);
	for (size_t i = 0; i <= len; i++)
		cuts[i] = i;
	scan_pieces(p, data, lim, cuts, len + 1, &s, &max_need);
	snprintf(what, sizeof what, "%s, a byte at a time", proto_label(p));
	assert_same_scan(&s, &whole, what);
	if (whole.status == SCAN_DONE)
		ck_assert_uint_le(max_need, whole.length);
	free(cuts);

	/* In two, at every point. */
	for (size_t k = 0; k <= len; k++) {
		two[0] = k;
		two[1] = len;
		scan_pieces(p, data, lim, two, 2, &s, &max_need);
		snprintf(what, sizeof what, "%s, split at %zu", proto_label(p), k);
		assert_same_scan(&s, &whole, what);
		if (whole.status == SCAN_DONE)
			ck_assert_uint_le(max_need, whole.length);
	}
}

/* A complete message: DONE at its full length, however fed, as the codecs say. */
static void
check_message(enum scan_protocol p, const char *hex)
{
	struct hexin	in;
	struct scan	s, t;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	check_scan(p, in.data, in.len, &default_limits, &s);
	ck_assert_msg(s.status == SCAN_DONE, "%s: %s (%s) for %s", proto_label(p),
	    scan_status_name(s.status), s.error ? s.error : "", hex);
	ck_assert_uint_eq(s.length, in.len);

	/* Whatever follows (the next message) is not part of it. */
	ck_assert_uint_lt(in.len + 3, sizeof in.data);
	memcpy(in.data + in.len, "\x82\x21\x00", 3);
	scan_whole(p, in.data, in.len + 3, &default_limits, &t);
	ck_assert_int_eq(t.status, SCAN_DONE);
	ck_assert_uint_eq(t.length, in.len);

	/* Each proper prefix is incomplete. */
	for (size_t k = 0; k < in.len; k++) {
		scan_whole(p, in.data, k, &default_limits, &t);
		ck_assert_msg(t.status == SCAN_NEED_MORE, "prefix of %zu: %s", k,
		    scan_status_name(t.status));
	}
}

/* A refused message: want status and error text, however fed. */
static void
check_refused(enum scan_protocol p, const char *hex, const struct limits *lim,
    enum scan_status want, const char *error)
{
	struct hexin	in;
	struct scan	s;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	check_scan(p, in.data, in.len, lim, &s);
	ck_assert_msg(s.status == want, "%s: %s (%s), want %s (%s), for %s", proto_label(p),
	    scan_status_name(s.status), s.error ? s.error : "", scan_status_name(want),
	    error, hex);
	ck_assert_str_eq(s.error, error);
}

/* --- messages from the specs ---------------------------------------------- */

/* The strict binary header: version 1, call; name "add"; seqid 7. */
#define BIN_STRICT_ADD	"80 01 00 01  00 00 00 03 61 64 64  00 00 00 07 "
/* The old binary header: name length, name, type byte, seqid. */
#define BIN_OLD_ADD	"00 00 00 03 61 64 64  01  00 00 00 07 "
/* Compact: protocol id, type 1 (call) << 5 | version 1, seqid 7, name. */
#define CMP_ADD		"82 21 07 03 61 64 64 "

#define UUID_BYTES	"00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff "

/* An argument struct with a field of every type: field header = type, i16 id. */
#define BIN_EVERY_TYPE							\
	"02 00 01 01 "			/* bool true */			\
	"02 00 02 00 "			/* bool false */		\
	"03 00 03 ff "			/* byte */			\
	"04 00 04 40 09 21 fb 54 44 2d 18 "	/* double pi */		\
	"06 00 05 80 00 "		/* i16 */			\
	"08 00 06 00 00 00 2a "		/* i32 */			\
	"0a 00 07 ff ff ff ff ff ff ff fe "	/* i64 */		\
	"0b 00 08 00 00 00 02 68 69 "	/* string "hi" */		\
	"0b 00 09 00 00 00 00 "		/* empty string */		\
	"0c 00 0a 08 00 01 00 00 00 01 00 "	/* struct {1: i32} */	\
	"0c 00 0b 00 "			/* empty struct */		\
	"0d 00 0c 0b 08 00 00 00 01 00 00 00 01 61 00 00 00 02 "	/* map<string,i32> */ \
	"0d 00 0d 08 08 00 00 00 00 "	/* empty map */			\
	"0d 00 0e 08 08 00 00 00 02 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04 " \
	"0d 00 0f 0c 0b 00 00 00 01 00 00 00 00 00 "	/* map<struct,string> */ \
	"0e 00 10 08 00 00 00 02 00 00 00 01 00 00 00 02 "	/* set<i32> */ \
	"0e 00 11 10 00 00 00 01 " UUID_BYTES		/* set<uuid> */	\
	"0f 00 12 0c 00 00 00 02 00 08 00 01 00 00 00 03 00 "	/* list<struct> */ \
	"0f 00 13 02 00 00 00 03 01 00 01 "	/* list<bool> */	\
	"0f 00 14 0b 00 00 00 00 "	/* empty list<string> */	\
	"0f 00 15 0d 00 00 00 01 0b 0f 00 00 00 01 "	/* list<map<string,list<i32>>> */ \
	"00 00 00 01 6b 08 00 00 00 02 00 00 00 01 00 00 00 02 "	\
	"0f 00 16 0f 00 00 00 02 08 00 00 00 00 0b 00 00 00 01 00 00 00 00 " \
	"10 00 17 " UUID_BYTES		/* uuid */			\
	"08 ff ff 00 00 00 01 "		/* negative field id */		\
	"08 00 00 00 00 00 01 "		/* field id 0 */		\
	"00 "				/* stop */

/* The same in compact: field header = id delta << 4 | type, or type then zigzag id. */
#define CMP_EVERY_TYPE							\
	"11 "				/* 1: bool true, in the header */ \
	"12 "				/* 2: bool false */		\
	"13 ff "			/* 3: byte */			\
	"14 ff ff 03 "			/* 4: i16 -32768 */		\
	"15 54 "			/* 5: i32 42 */			\
	"16 df 89 03 "			/* 6: i64, the spec's varint 50399 */ \
	"17 18 2d 44 54 fb 21 09 40 "	/* 7: double pi, little-endian */ \
	"18 02 68 69 "			/* 8: binary "hi" */		\
	"18 00 "			/* 9: empty binary */		\
	"1c 15 02 00 "			/* 10: struct {1: i32 1} */	\
	"1c 00 "			/* 11: empty struct */		\
	"1b 02 85 01 61 02 01 62 04 "	/* 12: map<binary,i32>, 2 entries */ \
	"1b 00 "			/* 13: empty map */		\
	"1b 02 11 01 02 00 01 "		/* 14: map<bool,bool> */	\
	"1b 01 cc 00 00 "		/* 15: map<struct,struct> */	\
	"1a 25 02 04 "			/* 16: set<i32> */		\
	"1a 32 01 00 02 "		/* 17: set of bools 1, 0, 2 */	\
	"19 1d " UUID_BYTES		/* 18: list<uuid> */		\
	"19 27 18 2d 44 54 fb 21 09 40 00 00 00 00 00 00 f0 3f "	/* 19: list<double> */ \
	"19 33 01 02 03 "		/* 20: list<byte> */		\
	"19 16 80 80 80 80 80 80 80 80 80 01 "	/* 21: list<i64>, 10-byte varint */ \
	"19 2c 00 15 02 00 "		/* 22: list<struct> */		\
	"19 0c "			/* 23: empty list */		\
	"19 1b 01 89 01 6b 25 02 04 "	/* 24: list<map<binary,list<i32>>> */ \
	"19 f5 0f 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "	/* 25: long list */ \
	"19 f5 02 7f 7f "		/* 26: long form, short count */ \
	"19 29 05 25 02 04 "		/* 27: list<list<i32>> */	\
	"1d " UUID_BYTES		/* 28: uuid */			\
	"05 d0 0f 02 "			/* 1000: long form, zigzag 2000 */ \
	"15 04 "			/* 1001: delta after a long form */ \
	"08 01 00 "			/* -1: long form, negative */	\
	"01 e8 07 "			/* 500: bool true, long form */	\
	"f2 "				/* 515: bool false, delta 15 */	\
	"02 00 "			/* 0: bool false, long form id 0 */ \
	"00 "				/* stop */

START_TEST(spec_binary_strict)
{
	check_message(SCAN_BINARY, BIN_STRICT_ADD BIN_EVERY_TYPE);
	check_message(SCAN_BINARY, BIN_STRICT_ADD "00");
	/* add(1, 2) as a client writes it. */
	check_message(SCAN_BINARY, BIN_STRICT_ADD "08 00 01 00 00 00 01 08 00 02 00 00 00 02 00");
	/* Empty name, oneway, reply; the unused byte is ignored. */
	check_message(SCAN_BINARY, "80 01 00 04 00 00 00 00 00 00 00 01 00");
	check_message(SCAN_BINARY, "80 01 7f 02 00 00 00 01 78 ff ff ff ff 00");
}
END_TEST

START_TEST(spec_binary_old)
{
	check_message(SCAN_BINARY, BIN_OLD_ADD BIN_EVERY_TYPE);
	check_message(SCAN_BINARY, BIN_OLD_ADD "00");
	check_message(SCAN_BINARY, "00 00 00 00 04 00 00 00 00 00");
	/* calculate(1, Work{1, 2, op 3, "hi"}) */
	check_message(SCAN_BINARY, "00 00 00 09 63 61 6c 63 75 6c 61 74 65 01 00 00 00 01 "
	    "08 00 01 00 00 00 01 0c 00 02 08 00 01 00 00 00 01 08 00 02 00 00 00 02 "
	    "08 00 03 00 00 00 03 0b 00 04 00 00 00 02 68 69 00 00");
}
END_TEST

START_TEST(spec_compact)
{
	check_message(SCAN_COMPACT, CMP_ADD CMP_EVERY_TYPE);
	check_message(SCAN_COMPACT, CMP_ADD "00");
	check_message(SCAN_COMPACT, CMP_ADD "15 02 15 04 00");
	/* Oneway with seqid -1 as a 5-byte varint, empty name; a reply. */
	check_message(SCAN_COMPACT, "82 81 ff ff ff ff 0f 00 00");
	check_message(SCAN_COMPACT, "82 41 00 01 78 00");
	/* calculate(1, Work{1, 2, op 3, "hi"}) */
	check_message(SCAN_COMPACT, "82 21 01 09 63 61 6c 63 75 6c 61 74 65 "
	    "15 02 1c 15 02 15 04 15 06 18 02 68 69 00 00");
}
END_TEST

/* The codec tests' sample message, as each codec writes it. */
START_TEST(codecs_sample_message)
{
	static const struct proto_ops *const ops[] = { &proto_binary, &proto_compact };
	struct wfix	f;
	struct scan	s;

	for (int i = 0; i < 2; i++) {
		enum scan_protocol p = i ? SCAN_COMPACT : SCAN_BINARY;

		wfix_init(&f, 1u << 16);
		ck_assert_int_eq(codec_write_sample(ops[i], &f.w), 0);
		check_scan(p, f.buf.data, f.buf.len, &default_limits, &s);
		ck_assert_int_eq(s.status, SCAN_DONE);
		ck_assert_uint_eq(s.length, f.buf.len);
		buf_free(&f.buf);
	}
}
END_TEST

/* Once decided, the answer stays; a shorter buffer than before changes nothing. */
START_TEST(result_sticky)
{
	struct hexin	in;
	struct scan	s;

	in.len = hex_decode(CMP_ADD "15 02 00", in.data, sizeof in.data);
	scan_init(&s, SCAN_COMPACT, MAX_SIZE, MAX_DEPTH, 0);
	ck_assert_int_eq(scan_continue(&s, in.data, 9), SCAN_NEED_MORE);
	ck_assert_int_eq(scan_continue(&s, in.data, 3), SCAN_NEED_MORE);
	ck_assert_int_eq(scan_continue(&s, in.data, in.len), SCAN_DONE);
	ck_assert_int_eq(scan_continue(&s, in.data, 2), SCAN_DONE);
	ck_assert_uint_eq(s.length, in.len);

	scan_init(&s, SCAN_COMPACT, MAX_SIZE, MAX_DEPTH, 0);
	in.data[0] = 0x83;
	ck_assert_int_eq(scan_continue(&s, in.data, in.len), SCAN_BAD);
	in.data[0] = 0x82;
	ck_assert_int_eq(scan_continue(&s, in.data, in.len), SCAN_BAD);
	ck_assert_str_eq(s.error, "not a compact protocol message");
}
END_TEST

/* NEED_MORE says how long the message is at least: every open value counts. */
START_TEST(need_counts_open_values)
{
	struct hexin	in;
	struct scan	s;

	/* Binary: a list<i64> of 3 begun; 3 * 8 bytes, then the args' stop. */
	in.len = hex_decode(BIN_STRICT_ADD "0f 00 01 0a 00 00 00 03", in.data, sizeof in.data);
	scan_whole(SCAN_BINARY, in.data, in.len, &default_limits, &s);
	ck_assert_int_eq(s.status, SCAN_NEED_MORE);
	ck_assert_uint_eq(s.need, in.len + 24 + 1);

	/* Compact: in a map<binary,struct> of 4, the second key begun (its length varint cut). */
	in.len = hex_decode(CMP_ADD "1b 04 8c 01 61 00 80", in.data, sizeof in.data);
	scan_whole(SCAN_COMPACT, in.data, in.len, &default_limits, &s);
	ck_assert_int_eq(s.status, SCAN_NEED_MORE);
	/* the varint's 2nd byte, its struct, 2 more entries, the args' stop */
	ck_assert_uint_eq(s.need, in.len + 1 + 1 + 2 * 2 + 1);

	/* Inside a string: its rest, then the args' stop. */
	in.len = hex_decode(CMP_ADD "18 0a 61 62", in.data, sizeof in.data);
	scan_whole(SCAN_COMPACT, in.data, in.len, &default_limits, &s);
	ck_assert_int_eq(s.status, SCAN_NEED_MORE);
	ck_assert_uint_eq(s.need, in.len + 8 + 1);

	/* In the header: the strict name's rest, the seqid, the args' stop. */
	in.len = hex_decode("80 01 00 01 00 00 00 03 61", in.data, sizeof in.data);
	scan_whole(SCAN_BINARY, in.data, in.len, &default_limits, &s);
	ck_assert_int_eq(s.status, SCAN_NEED_MORE);
	ck_assert_uint_eq(s.need, in.len + 2 + 4 + 1);
}
END_TEST

/* --- limits and malformed input ------------------------------------------ */

START_TEST(bad_headers)
{
	const struct limits *lim = &default_limits;

	check_refused(SCAN_BINARY, "80 02 00 01 00 00 00 00", lim, SCAN_BAD,
	    "bad binary protocol version");
	check_refused(SCAN_BINARY, "80 01 00 01 80 00 00 00", lim, SCAN_BAD, "negative length");
	check_refused(SCAN_BINARY, "80 01 00 01 00 20 00 00", lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	check_refused(SCAN_BINARY, "00 20 00 00", lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	check_refused(SCAN_BINARY, "80 01 00 05 00 00 00 00 00 00 00 00", lim, SCAN_BAD,
	    "invalid message type");
	check_refused(SCAN_BINARY, "80 01 00 00 00 00 00 00 00 00 00 00", lim, SCAN_BAD,
	    "invalid message type");
	check_refused(SCAN_BINARY, "00 00 00 00 07 00 00 00 00", lim, SCAN_BAD,
	    "invalid message type");
	check_refused(SCAN_COMPACT, "83 21", lim, SCAN_BAD, "not a compact protocol message");
	check_refused(SCAN_COMPACT, "82 22", lim, SCAN_BAD, "bad compact protocol version");
	check_refused(SCAN_COMPACT, "82 a1 00 00", lim, SCAN_BAD, "invalid message type");
	check_refused(SCAN_COMPACT, "82 01 00 00", lim, SCAN_BAD, "invalid message type");
	check_refused(SCAN_COMPACT, "82 21 80 80 80 80 80", lim, SCAN_BAD, "varint too long");
	check_refused(SCAN_COMPACT, "82 21 ff ff ff ff 1f", lim, SCAN_BAD,
	    "varint overflows 32 bits");
	check_refused(SCAN_COMPACT, "82 21 00 80 80 80 80 08", lim, SCAN_BAD,
	    "negative length");
	check_refused(SCAN_COMPACT, "82 21 00 81 80 40", lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
}
END_TEST

START_TEST(bad_types)
{
	const struct limits *lim = &default_limits;

	/* Binary: an unknown field type is refused once its header is complete. */
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "07 00 01", lim, SCAN_BAD,
	    "unknown field type");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "01 00 01", lim, SCAN_BAD,
	    "unknown field type");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "11 00 01", lim, SCAN_BAD,
	    "unknown field type");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0f 00 01 00", lim, SCAN_BAD,
	    "invalid container element type");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0e 00 01 11", lim, SCAN_BAD,
	    "invalid container element type");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0d 00 01 08 07", lim, SCAN_BAD,
	    "invalid container element type");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0d 00 01 05 08", lim, SCAN_BAD,
	    "invalid container element type");
	/* A key type of 0 passes the header (as binary.c), but no key can be read. */
	check_message(SCAN_BINARY, BIN_STRICT_ADD "0d 00 01 00 08 00 00 00 00 00");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0d 00 01 00 08 00 00 00 01", lim, SCAN_BAD,
	    "unknown field type");

	/* Compact. */
	check_refused(SCAN_COMPACT, CMP_ADD "1e", lim, SCAN_BAD, "unknown field type");
	check_refused(SCAN_COMPACT, CMP_ADD "1f", lim, SCAN_BAD, "unknown field type");
	check_refused(SCAN_COMPACT, CMP_ADD "10", lim, SCAN_BAD, "unknown field type");
	check_refused(SCAN_COMPACT, CMP_ADD "19 1e", lim, SCAN_BAD,
	    "invalid container element type");
	check_refused(SCAN_COMPACT, CMP_ADD "19 10", lim, SCAN_BAD,
	    "invalid container element type");
	check_refused(SCAN_COMPACT, CMP_ADD "1b 01 8f", lim, SCAN_BAD,
	    "invalid container element type");
	check_refused(SCAN_COMPACT, CMP_ADD "1b 01 08", lim, SCAN_BAD,
	    "invalid container element type");
	check_refused(SCAN_COMPACT, CMP_ADD "19 12 03", lim, SCAN_BAD, "invalid bool value");
	check_refused(SCAN_COMPACT, CMP_ADD "15 80 80 80 80 80", lim, SCAN_BAD,
	    "varint too long");
	check_refused(SCAN_COMPACT, CMP_ADD "16 80 80 80 80 80 80 80 80 80 80", lim, SCAN_BAD,
	    "varint too long");
	/* Field ids: past 32767 by delta, a long form outside i16. */
	check_refused(SCAN_COMPACT, CMP_ADD "05 fe ff 03 00 15 00", lim, SCAN_BAD,
	    "field id out of range");
	check_refused(SCAN_COMPACT, CMP_ADD "05 80 80 04", lim, SCAN_BAD, "i16 out of range");
	check_refused(SCAN_COMPACT, CMP_ADD "05 81 80 04", lim, SCAN_BAD, "i16 out of range");
	check_message(SCAN_COMPACT, CMP_ADD "05 ff ff 03 00 00");	/* id -32768 */
	check_refused(SCAN_COMPACT, CMP_ADD "05 ff ff ff ff 1f", lim, SCAN_BAD,
	    "varint overflows 32 bits");
	check_refused(SCAN_COMPACT, CMP_ADD "05 80 80 80 80 80", lim, SCAN_BAD,
	    "varint too long");
	/* A field id of 32767 itself is fine; ids count per struct. */
	check_message(SCAN_COMPACT, CMP_ADD "05 fe ff 03 00 0c 00 15 00 00 15 00 00");
}
END_TEST

START_TEST(negative_lengths)
{
	const struct limits *lim = &default_limits;

	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0b 00 01 ff ff ff ff", lim, SCAN_BAD,
	    "negative length");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0f 00 01 08 80 00 00 00", lim, SCAN_BAD,
	    "negative length");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0d 00 01 08 08 ff ff ff fe", lim, SCAN_BAD,
	    "negative length");
	check_refused(SCAN_COMPACT, CMP_ADD "18 80 80 80 80 08", lim, SCAN_BAD,
	    "negative length");
	check_refused(SCAN_COMPACT, CMP_ADD "19 f5 ff ff ff ff 0f", lim, SCAN_BAD,
	    "negative length");
	check_refused(SCAN_COMPACT, CMP_ADD "1b ff ff ff ff 0f", lim, SCAN_BAD,
	    "negative length");
}
END_TEST

START_TEST(too_big)
{
	struct limits	lim = { 64, MAX_DEPTH, 1 };

	/* Lengths and counts past what max_message_size can hold. */
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0b 00 01 00 00 00 41", &lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0f 00 01 0a 00 00 00 09", &lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0d 00 01 08 0b 00 00 00 09", &lim,
	    SCAN_TOO_BIG, "length exceeds max_message_size");
	check_refused(SCAN_COMPACT, CMP_ADD "18 41", &lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	check_refused(SCAN_COMPACT, CMP_ADD "19 f7 09", &lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	check_refused(SCAN_COMPACT, CMP_ADD "1b 21", &lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	check_refused(SCAN_COMPACT, CMP_ADD "1b 11 77", &lim, SCAN_TOO_BIG,
	    "length exceeds max_message_size");
	/* Each part fits, the message doesn't: refused as soon as that is certain. */
	check_refused(SCAN_BINARY, BIN_STRICT_ADD "0b 00 01 00 00 00 30", &lim, SCAN_TOO_BIG,
	    "message exceeds max_message_size");
	check_refused(SCAN_COMPACT, CMP_ADD "19 f5 3a", &lim, SCAN_TOO_BIG,
	    "message exceeds max_message_size");
	/* Exactly max_message_size is fine; one more byte is not. */
	{
		struct hexin	in;
		struct scan	s;

		in.len = hex_decode(CMP_ADD "18 36", in.data, sizeof in.data);
		memset(in.data + in.len, 'x', 0x36);
		in.len += 0x36;
		in.data[in.len++] = 0;
		ck_assert_uint_eq(in.len, 64);
		check_scan(SCAN_COMPACT, in.data, in.len, &lim, &s);
		ck_assert_int_eq(s.status, SCAN_DONE);
		in.data[8] = 0x37;
		memset(in.data + in.len - 1, 'x', 1);
		in.data[in.len++] = 0;
		check_scan(SCAN_COMPACT, in.data, in.len, &lim, &s);
		ck_assert_int_eq(s.status, SCAN_TOO_BIG);
		ck_assert_str_eq(s.error, "message exceeds max_message_size");
	}
}
END_TEST

/* n nested values of one kind in the args of a compact or binary call. */
static uint8_t *
nested_call(enum scan_protocol p, int kind, size_t n, size_t *len)
{
	/* struct in a field, list of one list, map of one entry whose value is a map */
	static const char *const units[2][3] = {
		{ "0c 00 01", "0f 00 00 00 01", "0b 0d 00 00 00 01 00 00 00 00" },
		{ "1c", "19", "01 8b 00" },
	};
	static const char *const inner[2][3] = {
		{ "00", "08 00 00 00 00", "08 08 00 00 00 00" },
		{ "00", "05", "00" },
	};
	static const char *const tails[2][3] = { { "00", "", "" }, { "00", "", "" } };
	static const char *const first[2][3] = {
		{ "0c 00 01", "0f 00 01", "0d 00 01" },
		{ "1c", "19", "1b" },
	};
	uint8_t	 head[64], *body, *data;
	size_t	 hl, bl;
	int	 c = p == SCAN_COMPACT;

	hl = hex_decode(c ? CMP_ADD : BIN_STRICT_ADD, head, sizeof head);
	hl += hex_decode(first[c][kind], head + hl, sizeof head - hl);
	/* first opens the outermost value; units open the rest */
	body = codec_nest(units[c][kind], inner[c][kind], tails[c][kind], n - 1, &bl);
	ck_assert((data = malloc(hl + bl + 1)) != NULL);
	memcpy(data, head, hl);
	memcpy(data + hl, body, bl);
	*len = hl + bl;
	data[(*len)++] = 0;		/* the args' stop */
	free(body);
	return data;
}

START_TEST(nesting_limit)
{
	for (int c = 0; c < 2; c++) {
		enum scan_protocol p = c ? SCAN_COMPACT : SCAN_BINARY;

		for (int kind = 0; kind < 3; kind++) {
			for (unsigned args_depth = 0; args_depth <= 1; args_depth++) {
				struct limits	 lim = { MAX_SIZE, 8, args_depth };
				size_t		 fit = 8 - args_depth, len;
				uint8_t		*data;
				struct scan	 s;

				data = nested_call(p, kind, fit, &len);
				check_scan(p, data, len, &lim, &s);
				ck_assert_msg(s.status == SCAN_DONE,
				    "%s kind %d, %zu deep, args_depth %u: %s (%s)", proto_label(p),
				    kind, fit, args_depth, scan_status_name(s.status),
				    s.error ? s.error : "");
				ck_assert_uint_eq(s.length, len);
				free(data);

				data = nested_call(p, kind, fit + 1, &len);
				check_scan(p, data, len, &lim, &s);
				ck_assert_int_eq(s.status, SCAN_BAD);
				ck_assert_str_eq(s.error, "nesting too deep");
				free(data);
			}
		}
	}
}
END_TEST

/* Far deeper than any limit: refused at the limit, no stack growth, no crash. */
START_TEST(nesting_hostile)
{
	for (int c = 0; c < 2; c++) {
		enum scan_protocol p = c ? SCAN_COMPACT : SCAN_BINARY;

		for (int kind = 0; kind < 3; kind++) {
			size_t		 len;
			uint8_t		*data = nested_call(p, kind, CODEC_DEEP, &len);
			struct scan	 s;

			scan_init(&s, p, 1u << 30, 1000, 0);	/* clamped to 65 */
			ck_assert_int_eq(scan_continue(&s, data, len), SCAN_BAD);
			ck_assert_str_eq(s.error, "nesting too deep");
			ck_assert_uint_lt(s.pos, 66 * 16);
			free(data);
		}
	}
	/* The argument struct alone: refused where max_depth 0 counts it. */
	check_refused(SCAN_COMPACT, CMP_ADD "00", &(struct limits){ MAX_SIZE, 0, 1 }, SCAN_BAD,
	    "nesting too deep");
}
END_TEST

/* --- linear time ---------------------------------------------------------- */

/* Strings and runs of fixed-width values are passed over, not read. */
START_TEST(fixed_runs_unread)
{
	static const char *const heads[] = {
		BIN_STRICT_ADD "0b 00 01 00 0f 42 40",		/* string of 1000000 */
		BIN_STRICT_ADD "0f 00 01 08 00 03 d0 90",	/* list<i32> of 250000 */
		BIN_STRICT_ADD "0d 00 01 08 08 00 01 e8 48",	/* map<i32,i32> of 125000 */
		CMP_ADD "18 c0 84 3d",				/* binary of 1000000 */
		CMP_ADD "19 f7 c8 d0 07",			/* list<double> of 125000 */
		CMP_ADD "19 fd a4 e8 03",			/* list<uuid> of 62500 */
	};
	uint8_t		*data;
	size_t		 len = 1000000 + 64;
	struct scan	 s;

	ck_assert((data = calloc(1, len)) != NULL);
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		enum scan_protocol	p = heads[i][0] == '8' && heads[i][1] == '2' ?
		    SCAN_COMPACT : SCAN_BINARY;
		size_t			hl = hex_decode(heads[i], data, 64), fed;

		memset(data + hl, 0, len - hl);
		scan_init(&s, p, MAX_SIZE * 2, MAX_DEPTH, 0);
		for (fed = 0; s.status == SCAN_NEED_MORE && fed < len; )
			scan_continue(&s, data, fed = fed + 4096 < len ? fed + 4096 : len);
		ck_assert_msg(s.status == SCAN_DONE, "%s: %s", heads[i],
		    scan_status_name(s.status));
		ck_assert_uint_eq(s.length, hl + 1000000 + 1);
		ck_assert_msg(s.examined < 64 && s.steps < 64 + len / 4096,
		    "%s: examined %llu bytes in %llu steps", heads[i],
		    (unsigned long long)s.examined, (unsigned long long)s.steps);
	}
	free(data);
}
END_TEST

#define BIG_FIELDS	4500000u
#define BIG_PIECE	65536u

/*
 * add(1, 2) carrying 4.5 million unknown i32 fields (long-form header,
 * id 3, value 0: 3 bytes each), 13.5 MB, fed 64 KiB at a time: the
 * scanner reads each byte about once, and ends where the codecs do.
 */
START_TEST(linear_big_message)
{
	static const uint8_t	 head[] = { 0x82, 0x21, 0x00, 0x03, 'a', 'd', 'd',
	    0x15, 0x02, 0x15, 0x04 };
	struct dispatch_limits	 dl = { 16u << 20, MAX_DEPTH };
	struct dispatch_result	 res;
	struct scan		 s;
	struct buf		 out;
	uint8_t			*data;
	size_t			 len = sizeof head + 3 * (size_t)BIG_FIELDS + 1, fed = 0, calls = 0;

	ck_assert((data = malloc(len)) != NULL);
	memcpy(data, head, sizeof head);
	for (size_t i = 0; i < BIG_FIELDS; i++)
		memcpy(data + sizeof head + 3 * i, "\x05\x06\x00", 3);
	data[len - 1] = 0;
	ck_assert_uint_gt(len, 13500000);

	scan_init(&s, SCAN_COMPACT, dl.max_message_size, dl.max_nesting_depth, 0);
	while (s.status == SCAN_NEED_MORE && fed < len) {
		fed = fed + BIG_PIECE < len ? fed + BIG_PIECE : len;
		scan_continue(&s, data, fed);
		calls++;
	}
	ck_assert_int_eq(s.status, SCAN_DONE);
	ck_assert_uint_eq(s.length, len);
	ck_assert_uint_eq(calls, (len + BIG_PIECE - 1) / BIG_PIECE);
	ck_assert_msg(s.examined < 2 * (uint64_t)len, "examined %llu bytes of %zu",
	    (unsigned long long)s.examined, len);
	ck_assert_uint_ge(s.examined, 3 * (uint64_t)BIG_FIELDS);
	/* a field header and a value each: two steps a field */
	ck_assert_msg(s.steps < 3 * (uint64_t)BIG_FIELDS, "%llu steps",
	    (unsigned long long)s.steps);

	/* A byte at a time over the last 100 KB costs no more per byte. */
	scan_init(&s, SCAN_COMPACT, dl.max_message_size, dl.max_nesting_depth, 0);
	scan_continue(&s, data, len - 100000);
	ck_assert_int_eq(s.status, SCAN_NEED_MORE);
	for (fed = len - 100000; s.status == SCAN_NEED_MORE && fed < len; )
		scan_continue(&s, data, ++fed);
	ck_assert_int_eq(s.status, SCAN_DONE);
	ck_assert_msg(s.examined < 2 * (uint64_t)len, "examined %llu bytes of %zu",
	    (unsigned long long)s.examined, len);

	/* The codecs agree: one message, add(1, 2) answered. */
	buf_init(&out, 1u << 16);
	dispatch_message(&proto_compact, data, len, &dl, &out, &res);
	ck_assert_int_eq(res.status, PROTO_OK);
	ck_assert_uint_eq(res.consumed, len);
	ck_assert(res.replied);
	buf_free(&out);
	free(data);
}
END_TEST

static Suite *
scan_suite(void)
{
	Suite	*s = suite_create("scan");
	TCase	*tc;

	tc = tcase_create("messages");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, spec_binary_strict);
	tcase_add_test(tc, spec_binary_old);
	tcase_add_test(tc, spec_compact);
	tcase_add_test(tc, codecs_sample_message);
	tcase_add_test(tc, result_sticky);
	tcase_add_test(tc, need_counts_open_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bad_headers);
	tcase_add_test(tc, bad_types);
	tcase_add_test(tc, negative_lengths);
	tcase_add_test(tc, too_big);
	tcase_add_test(tc, nesting_limit);
	tcase_add_test(tc, nesting_hostile);
	suite_add_tcase(s, tc);

	tc = tcase_create("linear");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fixed_runs_unread);
	tcase_add_test(tc, linear_big_message);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(scan_suite());
}
