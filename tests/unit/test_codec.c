/*
 * test_codec: the binary and compact protocols against their specs
 * (doc/specs/thrift-binary-protocol.md, thrift-compact-protocol.md), one
 * body per property and a table of rows naming the codec, the value and
 * the spec's bytes:
 *
 *   values       written: exactly the bytes (or one of the allowed
 *                encodings); read back: the same values, strings in place;
 *                every proper prefix: NEED_MORE with a sensible need; every
 *                buffer limit short of the whole: a clean, sticky failure
 *   read_values  only read (old binary headers, what other libraries send,
 *                skips), with the same read and cut-short checks
 *   failures     input that must fail: the status, the need, an error
 *                text, and the failure sticks
 *   skips        one value of each type skipped, the next byte left alone
 *   nesting      deep values: max_depth levels pass, one more fails
 *   the sample   a message through every type: round trip, cut short,
 *                write limits (codec_common.c)
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"

#define B	(&proto_binary)
#define C	(&proto_compact)

static const struct proto_ops *const codecs[] = { &proto_binary, &proto_compact };

#define NELEM(a)	(sizeof (a) / sizeof (a)[0])

/* --- the step language, short ----------------------------------------------- */

#define S_MESSAGE(name_, t, seqid)	\
	{ .op = CODEC_STEP_MESSAGE, .s = (name_), .type = (t), .i = (seqid) }
#define S_STRUCT		{ .op = CODEC_STEP_STRUCT }
#define S_FIELD(t, id)		{ .op = CODEC_STEP_FIELD, .type = (t), .i = (id) }
#define S_STOP			{ .op = CODEC_STEP_STOP }
#define S_LIST(t, n)		{ .op = CODEC_STEP_LIST, .type = (t), .i = (n) }
#define S_SET(t, n)		{ .op = CODEC_STEP_SET, .type = (t), .i = (n) }
#define S_MAP(k, v, n)		{ .op = CODEC_STEP_MAP, .type = (k), .value_type = (v), .i = (n) }
/* an empty map whose encoding may leave out its key and value types */
#define S_EMPTY_MAP(k, v)	\
	{ .op = CODEC_STEP_MAP, .type = (k), .value_type = (v), .i = 0, .any_types = true }
#define S_END			{ .op = CODEC_STEP_END }
#define S_BOOL(v)		{ .op = CODEC_STEP_BOOL, .i = (v) }
#define S_BYTE(v)		{ .op = CODEC_STEP_BYTE, .i = (v) }
#define S_I16(v)		{ .op = CODEC_STEP_I16, .i = (v) }
#define S_I32(v)		{ .op = CODEC_STEP_I32, .i = (v) }
#define S_I64(v)		{ .op = CODEC_STEP_I64, .i = (v) }
#define S_DOUBLE(v)		{ .op = CODEC_STEP_DOUBLE, .d = (v) }
#define S_STRING(text)		{ .op = CODEC_STEP_STRING, .s = (text) }
#define S_STRING_REPEAT(text, n) { .op = CODEC_STEP_STRING, .s = (text), .repeat = (n) }
#define S_SKIP(t)		{ .op = CODEC_STEP_SKIP, .type = (t) }
#define S_POS(n)		{ .op = CODEC_STEP_POS, .i = (n) }
/* a read that must fail: which read, the value does not matter */
#define S_READ(what)		{ .op = CODEC_STEP_##what }

#define STEPS(...)	((const struct codec_step[]){ __VA_ARGS__, { .op = CODEC_STEP_DONE } })
#define NO_STEPS	NULL

/* --- values ---------------------------------------------------------------- */

struct value_row {
	const struct proto_ops	*ops;
	const char		*what;
	const struct codec_step	*steps;
	/*
	 * The encodings, NULL-terminated: the writer must give one of them
	 * (where the spec allows more than one), and each must read back.
	 */
	const char *const	*hex;
	size_t			 max_size;	/* 0: CODEC_MAX_SIZE */
};

#define VALUE(ops_, what_, steps_, ...)						\
	{ .ops = (ops_), .what = (what_), .steps = (steps_),			\
	  .hex = (const char *const[]){ __VA_ARGS__, NULL } }
#define VALUE_MAX(max, ops_, what_, steps_, ...)				\
	{ .ops = (ops_), .what = (what_), .steps = (steps_),			\
	  .hex = (const char *const[]){ __VA_ARGS__, NULL }, .max_size = (max) }

/* calculate(1, Work{1, 2, MULTIPLY}) */
#define CALCULATE_CALL							\
	STEPS(S_MESSAGE("calculate", PROTO_CALL, 5), S_STRUCT,			\
	    S_FIELD(PROTO_T_I32, 1), S_I32(1),					\
	    S_FIELD(PROTO_T_STRUCT, 2), S_STRUCT,				\
	    S_FIELD(PROTO_T_I32, 1), S_I32(1), S_FIELD(PROTO_T_I32, 2), S_I32(2),	\
	    S_FIELD(PROTO_T_I32, 3), S_I32(3), S_STOP,				\
	    S_STOP)

/* Compact field headers: short form for deltas 1..15, long form otherwise. */
#define FIELDS_HEX							\
	"15 0a  11  12  f8 02 6869  06 44 01  01 c801"			\
	"  1c 15 01 17 000000000000f03f 00"				\
	"  14 d804  05 0a 00  13 7f  05 01 0e  00"

#define UUID_HEX	"00112233445566778899aabbccddeeff"

/* A compact list and a set of the same header. */
#define LIST_AND_SET(t, n, hex)						\
	VALUE(C, "list header", STEPS(S_LIST(t, n), S_END), hex),		\
	VALUE(C, "set header", STEPS(S_SET(t, n), S_END), hex)

static const struct value_row values[] = {
	/* --- binary: fixed width, big-endian, i32 length prefixes --- */
	VALUE(B, "i8", STEPS(S_BYTE(0x7f), S_BYTE(-1), S_BYTE(-128)), "7f ff 80"),
	VALUE(B, "i16", STEPS(S_I16(0x0102), S_I16(-2), S_I16(INT16_MIN)), "0102 fffe 8000"),
	VALUE(B, "i32", STEPS(S_I32(1), S_I32(-1), S_I32(INT32_MIN), S_I32(0x01020304)),
	    "00000001 ffffffff 80000000 01020304"),
	VALUE(B, "i64", STEPS(S_I64(INT64_C(0x0102030405060708)), S_I64(-2), S_I64(INT64_MIN)),
	    "0102030405060708 fffffffffffffffe 8000000000000000"),
	VALUE(B, "bool", STEPS(S_BOOL(true), S_BOOL(false)), "01 00"),
	VALUE(B, "double: IEEE 754 bits, big-endian",
	    STEPS(S_DOUBLE(1.0), S_DOUBLE(-2.5), S_DOUBLE(0.1)),
	    "3ff0000000000000 c004000000000000 3fb999999999999a"),
	VALUE(B, "string", STEPS(S_STRING("abc"), S_STRING(""), S_STRING("\xc3\xa9")),
	    "00000003 616263 00000000 00000002 c3a9"),
	VALUE(B, "string of 300 bytes", STEPS(S_STRING_REPEAT("z", 300)), "0000012c 7a*300"),
	VALUE_MAX(3, B, "string of exactly max_size bytes", STEPS(S_STRING("abc")),
	    "00000003 616263"),

	/* always strict: 0x8001, unused byte, type; then name and seqid */
	VALUE(B, "message header", STEPS(S_MESSAGE("add", PROTO_CALL, 1)),
	    "80010001 00000003 616464 00000001"),
	VALUE(B, "message header", STEPS(S_MESSAGE("add", PROTO_CALL, 42)),
	    "80010001 00000003 616464 0000002a"),
	VALUE(B, "message header", STEPS(S_MESSAGE("add", PROTO_REPLY, -1)),
	    "80010002 00000003 616464 ffffffff"),
	VALUE(B, "message header", STEPS(S_MESSAGE("add", PROTO_REPLY, 7)),
	    "80010002 00000003 616464 00000007"),
	VALUE(B, "message header", STEPS(S_MESSAGE("Calculator:zip", PROTO_ONEWAY, 0x7fffffff)),
	    "80010004 0000000e 43616c63756c61746f723a7a6970 7fffffff"),
	VALUE(B, "message header", STEPS(S_MESSAGE("", PROTO_ONEWAY, -1)),
	    "80010004 00000000 ffffffff"),
	VALUE(B, "message header", STEPS(S_MESSAGE("x", PROTO_EXCEPTION, 256)),
	    "80010003 00000001 78 00000100"),

	/* struct begin/end write nothing; field = type, BE i16 id; stop = 00 */
	VALUE(B, "field headers",
	    STEPS(S_STRUCT,
		S_FIELD(PROTO_T_I32, 1), S_I32(5),
		S_FIELD(PROTO_T_STRING, -1), S_STRING(""),
		S_FIELD(PROTO_T_BOOL, 0x1234), S_BOOL(true),
		S_FIELD(PROTO_T_STRUCT, 0), S_STRUCT, S_STOP,
		S_STOP),
	    "08 0001 00000005  0b ffff 00000000  02 1234 01  0c 0000 00  00"),
	VALUE(B, "field headers alone",
	    STEPS(S_STRUCT, S_FIELD(PROTO_T_I32, 1), S_FIELD(PROTO_T_STRING, -1),
		S_FIELD(PROTO_T_STRUCT, 32767), S_STOP),
	    "08 0001  0b ffff  0c 7fff  00"),

	/* containers: element type(s), then an i32 count */
	VALUE(B, "list header", STEPS(S_LIST(PROTO_T_I32, 3), S_END), "08 00000003"),
	VALUE(B, "list header", STEPS(S_LIST(PROTO_T_BOOL, 0x10000), S_END), "02 00010000"),
	VALUE(B, "set header", STEPS(S_SET(PROTO_T_STRING, 0), S_END), "0b 00000000"),
	VALUE(B, "map header", STEPS(S_MAP(PROTO_T_STRING, PROTO_T_I32, 2), S_END),
	    "0b 08 00000002"),
	VALUE(B, "map header", STEPS(S_MAP(PROTO_T_I32, PROTO_T_I32, 0), S_END),
	    "08 08 00000000"),
	VALUE(B, "container headers",
	    STEPS(S_LIST(PROTO_T_I32, 3), S_END, S_SET(PROTO_T_STRING, 0), S_END,
		S_MAP(PROTO_T_STRING, PROTO_T_I32, 2), S_END,
		S_MAP(PROTO_T_MAP, PROTO_T_LIST, 0), S_END),
	    "08 00000003  0b 00000000  0b 08 00000002  0d 0f 00000000"),

	/* as the spec lays it out */
	VALUE(B, "calculate call", CALCULATE_CALL,
	    "80010001 00000009 63616c63756c617465 00000005"
	    " 08 0001 00000001"
	    " 0c 0002  08 0001 00000001  08 0002 00000002  08 0003 00000003  00"
	    " 00"),

	/* --- compact: zigzag varints, field id deltas, bools in field headers --- */
	/* i32: zigzag, then unsigned LEB128 */
	VALUE(C, "i32", STEPS(S_I32(0), S_I32(-1), S_I32(1), S_I32(-2), S_I32(2), S_I32(63),
		S_I32(-64), S_I32(64), S_I32(-65)),
	    "00 01 02 03 04 7e 7f 8001 8101"),
	/* zigzag(-25200) = 50399, the spec's varint example */
	VALUE(C, "i32", STEPS(S_I32(INT32_MAX), S_I32(INT32_MIN), S_I32(-25200)),
	    "feffffff0f ffffffff0f df8903"),
	/* i16 goes as an i32 */
	VALUE(C, "i16", STEPS(S_I16(-1), S_I16(300), S_I16(INT16_MAX), S_I16(INT16_MIN)),
	    "01 d804 feff03 ffff03"),
	VALUE(C, "i64", STEPS(S_I64(0), S_I64(-1), S_I64(INT64_C(1) << 32), S_I64(INT64_MAX),
		S_I64(INT64_MIN)),
	    "00 01 8080808020 feffffffffffffffff01 ffffffffffffffffff01"),
	/* i8 is one plain byte */
	VALUE(C, "i8", STEPS(S_BYTE(-1), S_BYTE(0x7f)), "ff 7f"),
	/*
	 * A bool that is not a field value (a list element) is one byte:
	 * true is 1; false is 0 in the older spec text, 2 (BOOLEAN_FALSE)
	 * in the newer one and in Java and C++.
	 */
	VALUE(C, "bool", STEPS(S_BOOL(true), S_BOOL(false)), "01 02", "01 00"),
	/* doubles are little-endian in compact */
	VALUE(C, "double", STEPS(S_DOUBLE(1.0), S_DOUBLE(-2.5), S_DOUBLE(0.1)),
	    "000000000000f03f 00000000000004c0 9a9999999999b93f"),
	VALUE(C, "string", STEPS(S_STRING("abc"), S_STRING("")), "03 616263 00"),
	VALUE(C, "string of 200 bytes", STEPS(S_STRING_REPEAT("z", 200)), "c801 7a*200"),
	VALUE_MAX(3, C, "string of exactly max_size bytes", STEPS(S_STRING("abc")), "03 616263"),

	/* 0x82, type << 5 | version 1, seqid as a plain varint, name */
	VALUE(C, "message header", STEPS(S_MESSAGE("add", PROTO_CALL, 1)), "82 21 01 03 616464"),
	VALUE(C, "message header", STEPS(S_MESSAGE("add", PROTO_CALL, 42)), "82 21 2a 03 616464"),
	VALUE(C, "message header", STEPS(S_MESSAGE("add", PROTO_REPLY, -1)),
	    "82 41 ffffffff0f 03 616464"),
	VALUE(C, "message header", STEPS(S_MESSAGE("x", PROTO_EXCEPTION, 300)), "82 61 ac02 01 78"),
	VALUE(C, "message header", STEPS(S_MESSAGE("", PROTO_ONEWAY, 0)), "82 81 00 00"),
	VALUE(C, "message header", STEPS(S_MESSAGE("zip", PROTO_CALL, INT32_MAX)),
	    "82 21 ffffffff07 03 7a6970"),

	VALUE(C, "field headers",
	    STEPS(S_STRUCT,
		S_FIELD(PROTO_T_I32, 1), S_I32(5),		/* 15 */
		S_FIELD(PROTO_T_BOOL, 2), S_BOOL(true),		/* 11: true */
		S_FIELD(PROTO_T_BOOL, 3), S_BOOL(false),	/* 12: false */
		S_FIELD(PROTO_T_STRING, 18), S_STRING("hi"),	/* delta 15 */
		S_FIELD(PROTO_T_I64, 34), S_I64(-1),		/* delta 16: long */
		S_FIELD(PROTO_T_BOOL, 100), S_BOOL(true),	/* long bool */
		S_FIELD(PROTO_T_STRUCT, 101), S_STRUCT,
		    S_FIELD(PROTO_T_I32, 1), S_I32(-1),		/* inner ids from 0 */
		    S_FIELD(PROTO_T_DOUBLE, 2), S_DOUBLE(1.0),
		    S_STOP,
		S_FIELD(PROTO_T_I16, 102), S_I16(300),		/* outer id restored */
		S_FIELD(PROTO_T_I32, 5), S_I32(0),		/* going back: long */
		S_FIELD(PROTO_T_BYTE, 6), S_BYTE(0x7f),
		S_FIELD(PROTO_T_I32, -1), S_I32(7),		/* negative: long */
		S_STOP),
	    FIELDS_HEX),
	/* long form with a large id; short form right after it */
	VALUE(C, "field headers, long form",
	    STEPS(S_STRUCT,
		S_FIELD(PROTO_T_STRING, 32767), S_STRING(""),
		S_FIELD(PROTO_T_I32, -32768), S_I32(1),
		S_FIELD(PROTO_T_I32, -32767), S_I32(2),
		S_STOP),
	    "08 feff03 00  05 ffff03 02  15 04 00"),
	/* a result struct's field 0 has delta 0: long form */
	VALUE(C, "field id 0", STEPS(S_STRUCT, S_FIELD(PROTO_T_I32, 0), S_I32(5), S_STOP),
	    "05 00 0a 00"),
	VALUE(C, "field id 0",
	    STEPS(S_STRUCT, S_FIELD(PROTO_T_BOOL, 0), S_BOOL(true),
		S_FIELD(PROTO_T_STRUCT, 1), S_STRUCT, S_STOP, S_STOP),
	    "01 00 1c 00 00"),
	/* from id -1 to id 0 the delta is 1: the short form */
	VALUE(C, "field delta from a negative id",
	    STEPS(S_STRUCT, S_FIELD(PROTO_T_I32, -1), S_I32(1), S_FIELD(PROTO_T_I32, 0), S_I32(1),
		S_STOP),
	    "05 01 02  15 02  00"),
	/* 1: true, 3: false (delta 2), 100: true and 99: false (long form) */
	VALUE(C, "bool fields",
	    STEPS(S_STRUCT,
		S_FIELD(PROTO_T_BOOL, 1), S_POS(1), S_BOOL(true),
		S_POS(1),		/* the value was in the header */
		S_FIELD(PROTO_T_BOOL, 3), S_BOOL(false), S_POS(2),
		S_FIELD(PROTO_T_BOOL, 100), S_BOOL(true),
		S_FIELD(PROTO_T_BOOL, 99), S_BOOL(false),
		S_STOP),
	    "11 22 01 c801 02 c601 00"),

	/* list and set: size << 4 | element type below 15, else f0 | type, varint size */
	LIST_AND_SET(PROTO_T_I32, 3, "35"),
	LIST_AND_SET(PROTO_T_STRING, 14, "e8"),
	LIST_AND_SET(PROTO_T_STRING, 15, "f8 0f"),
	LIST_AND_SET(PROTO_T_I64, 300, "f6 ac02"),
	LIST_AND_SET(PROTO_T_BYTE, 0, "03"),
	LIST_AND_SET(PROTO_T_I16, 1, "14"),
	LIST_AND_SET(PROTO_T_DOUBLE, 1, "17"),
	LIST_AND_SET(PROTO_T_LIST, 1, "19"),
	LIST_AND_SET(PROTO_T_SET, 1, "1a"),
	LIST_AND_SET(PROTO_T_MAP, 1, "1b"),
	LIST_AND_SET(PROTO_T_STRUCT, 2, "2c"),
	VALUE(C, "container headers",
	    STEPS(S_LIST(PROTO_T_I32, 3), S_END, S_LIST(PROTO_T_STRING, 14), S_END,
		S_SET(PROTO_T_STRING, 15), S_END, S_LIST(PROTO_T_I64, 300), S_END,
		S_LIST(PROTO_T_STRUCT, 2), S_END, S_SET(PROTO_T_BYTE, 0), S_END,
		S_LIST(PROTO_T_UUID, 1), S_END),
	    "35  e8  f8 0f  f6 ac02  2c  03  1d"),
	/* element type BOOL: the spec says 2; Java and C++ send 1; both decode */
	VALUE(C, "list of bool",
	    STEPS(S_LIST(PROTO_T_BOOL, 3), S_BOOL(true), S_BOOL(false), S_BOOL(true), S_END),
	    "32 01 02 01", "32 01 00 01", "31 01 02 01", "31 01 00 01"),

	/* map: varint size, then key type << 4 | value type; empty: the size alone */
	VALUE(C, "map header", STEPS(S_MAP(PROTO_T_STRING, PROTO_T_I32, 2), S_END), "02 85"),
	VALUE(C, "map header", STEPS(S_EMPTY_MAP(PROTO_T_I32, PROTO_T_I32), S_END), "00"),
	VALUE(C, "map header", STEPS(S_MAP(PROTO_T_I16, PROTO_T_STRUCT, 200), S_END), "c801 4c"),
	VALUE(C, "map header", STEPS(S_MAP(PROTO_T_DOUBLE, PROTO_T_LIST, 1), S_END), "01 79"),
	VALUE(C, "map header", STEPS(S_MAP(PROTO_T_MAP, PROTO_T_SET, 1), S_END), "01 ba"),
	VALUE(C, "map header", STEPS(S_MAP(PROTO_T_I64, PROTO_T_BYTE, 15), S_END), "0f 63"),
	VALUE(C, "map headers",
	    STEPS(S_MAP(PROTO_T_STRING, PROTO_T_I32, 2), S_END,
		S_EMPTY_MAP(PROTO_T_I32, PROTO_T_I32), S_POS(3), S_END,	/* one byte */
		S_MAP(PROTO_T_I16, PROTO_T_STRUCT, 200), S_END,
		S_MAP(PROTO_T_DOUBLE, PROTO_T_LIST, 1), S_END,
		S_MAP(PROTO_T_MAP, PROTO_T_SET, 1), S_END),
	    "02 85  00  c801 4c  01 79  01 ba"),

	/* as the spec lays it out */
	VALUE(C, "calculate call", CALCULATE_CALL,
	    "82 21 05 09 63616c63756c617465"
	    " 15 02"
	    " 1c  15 02  15 04  15 06  00"
	    " 00"),
};

/* Only read: what calcd never writes but must take. */
static const struct value_row read_values[] = {
	/* binary's old (non-strict) header: name length, name, i8 type, i32 seqid */
	VALUE(B, "old message header", STEPS(S_MESSAGE("add", PROTO_CALL, 42)),
	    "00000003 616464 01 0000002a"),
	VALUE(B, "old message header", STEPS(S_MESSAGE("zip", PROTO_ONEWAY, INT32_MIN)),
	    "00000003 7a6970 04 80000000"),

	/* the spec's list element type for bool is 2; false is 0 (old text) or 2 */
	VALUE(C, "list of bool",
	    STEPS(S_LIST(PROTO_T_BOOL, 4), S_BOOL(true), S_BOOL(false), S_BOOL(true),
		S_BOOL(false), S_END),
	    "42 01 00 01 02"),
	/* Java and C++ send list<bool> with element type 1 (BOOLEAN_TRUE) */
	VALUE(C, "list of bool, element type 1",
	    STEPS(S_LIST(PROTO_T_BOOL, 2), S_BOOL(false), S_BOOL(true), S_END), "21 00 01"),
	/* every compact type code maps to its proto_type, and skips to the next field */
	VALUE(C, "type codes",
	    STEPS(S_STRUCT,
		S_FIELD(PROTO_T_BOOL, 1), S_SKIP(PROTO_T_BOOL),
		S_FIELD(PROTO_T_BOOL, 2), S_SKIP(PROTO_T_BOOL),
		S_FIELD(PROTO_T_BYTE, 3), S_SKIP(PROTO_T_BYTE),
		S_FIELD(PROTO_T_I16, 4), S_SKIP(PROTO_T_I16),
		S_FIELD(PROTO_T_I32, 5), S_SKIP(PROTO_T_I32),
		S_FIELD(PROTO_T_I64, 6), S_SKIP(PROTO_T_I64),
		S_FIELD(PROTO_T_DOUBLE, 7), S_SKIP(PROTO_T_DOUBLE),
		S_FIELD(PROTO_T_STRING, 8), S_SKIP(PROTO_T_STRING),
		S_FIELD(PROTO_T_LIST, 9), S_SKIP(PROTO_T_LIST),
		S_FIELD(PROTO_T_SET, 10), S_SKIP(PROTO_T_SET),
		S_FIELD(PROTO_T_MAP, 11), S_SKIP(PROTO_T_MAP),
		S_FIELD(PROTO_T_STRUCT, 12), S_SKIP(PROTO_T_STRUCT),
		S_FIELD(PROTO_T_UUID, 13), S_SKIP(PROTO_T_UUID),
		S_STOP),
	    "11 12 13 7f 14 02 15 02 16 02 17 000000000000f03f 18 00"
	    " 19 05 1a 05 1b 00 1c 00 1d " UUID_HEX " 00"),
	/* a bool field's value is in its header: skipping it takes no bytes */
	VALUE(C, "skipped bool fields",
	    STEPS(S_STRUCT,
		S_FIELD(PROTO_T_BOOL, 1), S_SKIP(PROTO_T_BOOL), S_POS(1),
		S_FIELD(PROTO_T_BOOL, 3), S_SKIP(PROTO_T_BOOL), S_POS(2),
		S_FIELD(PROTO_T_I32, 4), S_I32(7),
		S_STOP),
	    "11 22 15 0e 00"),
};

static size_t
row_max_size(const struct value_row *row)
{
	return row->max_size ? row->max_size : CODEC_MAX_SIZE;
}

static bool
bytes_are(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t	want[HEX_MAX];
	size_t	n = hex_decode(hex, want, sizeof want);

	return n == len && (n == 0 || memcmp(got, want, n) == 0);
}

/* Written: exactly one of the row's encodings. */
static void
check_encode(const struct value_row *row)
{
	struct wfix	f;
	size_t		k;

	codec_write_steps(row->ops, &f, row->steps, row->what);
	for (k = 0; row->hex[k] != NULL; k++)
		if (bytes_are(f.buf.data, f.buf.len, row->hex[k]))
			break;
	if (row->hex[k] == NULL) {
		char got[1600];

		ck_abort_msg("%s %s: wrote %s, want %s%s", row->ops->name, row->what,
		    hex_format(f.buf.data, f.buf.len, got, sizeof got), row->hex[0],
		    row->hex[1] != NULL ? " (or another encoding the row allows)" : "");
	}
	buf_free(&f.buf);
}

/* Each encoding reads back as the row's values, to its last byte. */
static void
check_decode(const struct value_row *row)
{
	struct proto_reader	r;
	struct hexin		in;
	enum proto_status	st;

	for (size_t k = 0; row->hex[k] != NULL; k++) {
		reader_hex(&r, &in, row->hex[k], row_max_size(row), CODEC_MAX_DEPTH);
		st = codec_read_steps(row->ops, &r, row->steps, row->what);
		ck_assert_msg(st == PROTO_OK, "%s %s: reading %s: %s (%s) at byte %zu",
		    row->ops->name, row->what, row->hex[k], status_name(st),
		    r.error ? r.error : "", r.pos);
		ck_assert_msg(r.pos == in.len, "%s %s: read %zu of %zu bytes", row->ops->name,
		    row->what, r.pos, in.len);
		ck_assert_uint_eq(r.depth, 0);
	}
}

/* Each encoding cut short anywhere: NEED_MORE. */
static void
check_cut_short(const struct value_row *row)
{
	struct hexin in;

	for (size_t k = 0; row->hex[k] != NULL; k++) {
		in.len = hex_decode(row->hex[k], in.data, sizeof in.data);
		codec_check_steps_cut_short(row->ops, row->steps, in.data, in.len,
		    row_max_size(row), row->what);
	}
}

START_TEST(encode)
{
	check_encode(&values[_i]);
}
END_TEST

START_TEST(decode)
{
	check_decode(&values[_i]);
}
END_TEST

START_TEST(cut_short)
{
	check_cut_short(&values[_i]);
}
END_TEST

START_TEST(write_limit)
{
	codec_check_steps_write_limit(values[_i].ops, values[_i].steps, values[_i].what);
}
END_TEST

START_TEST(decode_only)
{
	check_decode(&read_values[_i]);
}
END_TEST

START_TEST(cut_short_only)
{
	check_cut_short(&read_values[_i]);
}
END_TEST

/* --- input that must fail ---------------------------------------------------- */

struct failure_row {
	const struct proto_ops	*ops;
	const char		*what;
	const struct codec_step	*before;	/* reads that go through first, or NULL */
	struct codec_step	 read;		/* the read that fails */
	const char		*hex;
	size_t			 max_size;	/* 0: CODEC_MAX_SIZE */
	enum proto_status	 status;
	enum proto_status	 or_status;	/* also accepted, unless PROTO_OK */
	size_t			 need_min, need_max;	/* with NEED_MORE */
};

#define FAILURE(ops_, what_, before_, read_, hex_, ...)			\
	{ .ops = (ops_), .what = (what_), .before = (before_), .read = read_,	\
	  .hex = (hex_), __VA_ARGS__ }
#define NEED(lo, hi)	.status = PROTO_NEED_MORE, .need_min = (lo), .need_max = (hi)
#define NEED_AT_LEAST(lo)	NEED(lo, SIZE_MAX)
#define BAD		.status = PROTO_BAD
#define TOO_BIG(max)	.status = PROTO_TOO_BIG, .max_size = (max)
#define BAD_OR_TOO_BIG	.status = PROTO_BAD, .or_status = PROTO_TOO_BIG

static const struct failure_row failures[] = {
	/* --- binary --- */
	FAILURE(B, "i32 cut short", NO_STEPS, S_READ(I32), "0000", NEED(4, 4)),
	FAILURE(B, "i64 cut short", STEPS(S_I32(1)), S_READ(I64), "00000001 00000000 000000",
	    NEED(12, 12)),
	FAILURE(B, "double cut short", NO_STEPS, S_READ(DOUBLE), "3ff0", NEED(8, 8)),
	/* the length is there, the bytes are not: need all of them */
	FAILURE(B, "string cut short", NO_STEPS, S_READ(STRING), "00000005 6162", NEED(9, 9)),
	FAILURE(B, "string length cut short", NO_STEPS, S_READ(STRING), "000000", NEED(4, 4)),
	FAILURE(B, "message header cut short", NO_STEPS, S_READ(MESSAGE),
	    "80010001 00000003 6164", NEED(11, 11)),
	FAILURE(B, "no message header", NO_STEPS, S_READ(MESSAGE), "", NEED_AT_LEAST(1)),
	/* cut short after the name: need the type and seqid too */
	FAILURE(B, "old message header cut short", NO_STEPS, S_READ(MESSAGE),
	    "00000003 616464 01 0000", NEED(12, 12)),
	/* skipping a list of i32 needs all of its elements */
	FAILURE(B, "list skip cut short", NO_STEPS, S_SKIP(PROTO_T_LIST),
	    "08 00000003 00000001 00000002", NEED(14, 17)),
	/*
	 * a value cut short deep inside others: more than is here, no more
	 * than the whole (the enclosing values' rest is not counted: an
	 * unframed message arriving in pieces is scanned, see scan.h)
	 */
	FAILURE(B, "need inside a list", NO_STEPS, S_SKIP(PROTO_T_LIST),
	    "0c 000003e8 00 00", NEED(8, 1005)),
	FAILURE(B, "need inside a struct", NO_STEPS, S_SKIP(PROTO_T_STRUCT),
	    "0f 0001 0b 00000003 00000001 61", NEED(14, 22)),
	FAILURE(B, "need inside a map", NO_STEPS, S_SKIP(PROTO_T_MAP),
	    "08 0f 00000002 00000001 08 00000003 00000007", NEED(20, 36)),

	FAILURE(B, "message version 2", NO_STEPS, S_READ(MESSAGE),
	    "80020001 00000003 616464 00000001", BAD),
	FAILURE(B, "message version 0", NO_STEPS, S_READ(MESSAGE),
	    "80000001 00000003 616464 00000001", BAD),
	FAILURE(B, "message version bits", NO_STEPS, S_READ(MESSAGE),
	    "ffff0001 00000003 616464 00000001", BAD),
	FAILURE(B, "message version bits", NO_STEPS, S_READ(MESSAGE),
	    "81010001 00000003 616464 00000001", BAD),

	FAILURE(B, "string of length -1", NO_STEPS, S_READ(STRING), "ffffffff 616263", BAD),
	FAILURE(B, "string of length -1", NO_STEPS, S_READ(STRING), "ffffffff 01020304 05",
	    BAD),
	FAILURE(B, "skip a string of negative length", NO_STEPS, S_SKIP(PROTO_T_STRING),
	    "80000000 616263", BAD),
	FAILURE(B, "list of size -1", NO_STEPS, S_READ(LIST), "08 ffffffff 00000001", BAD),
	FAILURE(B, "skip a list of size -2", NO_STEPS, S_SKIP(PROTO_T_LIST),
	    "08 fffffffe 00000001", BAD),
	FAILURE(B, "set of negative size", NO_STEPS, S_READ(SET), "0b 80000000 00000001", BAD),
	FAILURE(B, "skip a set of size -1", NO_STEPS, S_SKIP(PROTO_T_SET),
	    "0b ffffffff 00000001", BAD),
	FAILURE(B, "map of size -1", NO_STEPS, S_READ(MAP), "08 08 ffffffff 00000001", BAD),
	FAILURE(B, "skip a map of size -1", NO_STEPS, S_SKIP(PROTO_T_MAP),
	    "08 08 ffffffff 00000001", BAD),
	/* inside a struct being skipped */
	FAILURE(B, "skip a struct with a string of length -1", NO_STEPS, S_SKIP(PROTO_T_STRUCT),
	    "0b 0001 ffffffff 00", BAD),

	FAILURE(B, "field of type 1", NO_STEPS, S_SKIP(PROTO_T_STRUCT), "01 0001 00 00", BAD),
	FAILURE(B, "field of type 7", NO_STEPS, S_SKIP(PROTO_T_STRUCT),
	    "07 0001 00000000 00", BAD),
	FAILURE(B, "field of type 17", NO_STEPS, S_SKIP(PROTO_T_STRUCT), "11 0001 00", BAD),
	FAILURE(B, "nested field of type 99", NO_STEPS, S_SKIP(PROTO_T_STRUCT),
	    "0c 0001 63 0001 00 00", BAD),
	FAILURE(B, "list of type 1", NO_STEPS, S_SKIP(PROTO_T_LIST), "01 00000001 00", BAD),
	FAILURE(B, "set of type 99", NO_STEPS, S_SKIP(PROTO_T_SET), "63 00000001 00", BAD),
	FAILURE(B, "map to type 9", NO_STEPS, S_SKIP(PROTO_T_MAP),
	    "08 09 00000001 00000001 00", BAD),
	FAILURE(B, "map from type 255", NO_STEPS, S_SKIP(PROTO_T_MAP),
	    "ff 08 00000001 00 00000001", BAD),

	/* refused from the length alone, without waiting for the bytes */
	FAILURE(B, "string too long", NO_STEPS, S_READ(STRING), "00000064", TOO_BIG(50)),
	FAILURE(B, "string too long", NO_STEPS, S_READ(STRING), "00001000 01020304 05",
	    TOO_BIG(16)),
	FAILURE(B, "skip a string too long", NO_STEPS, S_SKIP(PROTO_T_STRING), "7fffffff 61",
	    TOO_BIG(50)),
	FAILURE(B, "list too long", NO_STEPS, S_READ(LIST), "08 000003e8", TOO_BIG(100)),
	FAILURE(B, "skip a list too long", NO_STEPS, S_SKIP(PROTO_T_LIST), "03 000003e8",
	    TOO_BIG(100)),
	FAILURE(B, "set too long", NO_STEPS, S_READ(SET), "0c 7fffffff", TOO_BIG(100)),
	FAILURE(B, "map too long", NO_STEPS, S_READ(MAP), "03 03 000003e8", TOO_BIG(100)),
	FAILURE(B, "skip a map too long", NO_STEPS, S_SKIP(PROTO_T_MAP), "0b 0c 7fffffff",
	    TOO_BIG(100)),
	/* a method name is a string too, in either header form */
	FAILURE(B, "method name too long", NO_STEPS, S_READ(MESSAGE), "80010001 00100000",
	    TOO_BIG(1000)),
	FAILURE(B, "method name too long, old header", NO_STEPS, S_READ(MESSAGE), "00100000 61",
	    TOO_BIG(1000)),

	/* --- compact --- */
	FAILURE(C, "string cut short", NO_STEPS, S_READ(STRING), "05 6162", NEED(6, 6)),
	FAILURE(C, "double cut short", NO_STEPS, S_READ(DOUBLE), "0000f03f", NEED(8, 8)),
	FAILURE(C, "varint cut short", NO_STEPS, S_READ(I32), "80", NEED(2, 5)),
	FAILURE(C, "varint cut short", STEPS(S_I32(1)), S_READ(I32), "02 80", NEED(3, 6)),
	FAILURE(C, "i64 varint cut short", NO_STEPS, S_READ(I64), "ffffffffffff", NEED(7, 10)),
	FAILURE(C, "message header cut short", NO_STEPS, S_READ(MESSAGE), "82",
	    NEED_AT_LEAST(2)),
	FAILURE(C, "message header cut short", NO_STEPS, S_READ(MESSAGE), "82 21 01 03 6164",
	    NEED(7, 7)),
	FAILURE(C, "list header cut short", NO_STEPS, S_READ(LIST), "f5", NEED_AT_LEAST(2)),
	FAILURE(C, "map header cut short", NO_STEPS, S_READ(MAP), "02", NEED(2, 2)),
	FAILURE(C, "struct skip cut short", NO_STEPS, S_SKIP(PROTO_T_STRUCT), "1c 15",
	    NEED_AT_LEAST(3)),
	FAILURE(C, "need inside a list", NO_STEPS, S_SKIP(PROTO_T_LIST),
	    "fc e807 00 00", NEED(6, 1003)),

	/* i32 varints take at most 5 bytes, i64 at most 10 */
	FAILURE(C, "i32 varint too long", NO_STEPS, S_READ(I32), "80 80 80 80 80 00", BAD),
	FAILURE(C, "i32 varint too long", NO_STEPS, S_READ(I32), "80 80 80 80 80 00 01 02",
	    BAD),
	FAILURE(C, "i32 varint too long", NO_STEPS, S_READ(I32), "ff ff ff ff ff 01", BAD),
	FAILURE(C, "i16 varint too long", NO_STEPS, S_READ(I16), "80 80 80 80 80 00", BAD),
	FAILURE(C, "i64 varint too long", NO_STEPS, S_READ(I64),
	    "80 80 80 80 80 80 80 80 80 80 00", BAD),
	FAILURE(C, "skip an i64 varint too long", NO_STEPS, S_SKIP(PROTO_T_I64),
	    "ff ff ff ff ff ff ff ff ff ff 01", BAD),
	FAILURE(C, "skip an i32 varint too long", NO_STEPS, S_SKIP(PROTO_T_I32),
	    "80 80 80 80 80 00", BAD),
	/* lengths, sizes and seqids are varints too */
	FAILURE(C, "string length varint too long", NO_STEPS, S_READ(STRING),
	    "80 80 80 80 80 00 61", BAD),
	FAILURE(C, "list size varint too long", NO_STEPS, S_READ(LIST),
	    "f5 80 80 80 80 80 00", BAD),
	FAILURE(C, "map size varint too long", NO_STEPS, S_READ(MAP),
	    "80 80 80 80 80 00 55", BAD),
	FAILURE(C, "seqid varint too long", NO_STEPS, S_READ(MESSAGE),
	    "82 21 80 80 80 80 80 00 03 616464", BAD),
	FAILURE(C, "skip a struct with a varint too long", NO_STEPS, S_SKIP(PROTO_T_STRUCT),
	    "1c 15 80 80 80 80 80 80 00 00 00", BAD),

	FAILURE(C, "protocol id", NO_STEPS, S_READ(MESSAGE), "83 21 01 03 616464", BAD),
	FAILURE(C, "protocol id", NO_STEPS, S_READ(MESSAGE), "80 21 01 03 616464", BAD),
	FAILURE(C, "version 2", NO_STEPS, S_READ(MESSAGE), "82 22 01 03 616464", BAD),
	FAILURE(C, "version 0", NO_STEPS, S_READ(MESSAGE), "82 20 01 03 616464", BAD),
	FAILURE(C, "version 31", NO_STEPS, S_READ(MESSAGE), "82 3f 01 03 616464", BAD),

	FAILURE(C, "field type 14", NO_STEPS, S_SKIP(PROTO_T_STRUCT), "1e 00 00", BAD),
	FAILURE(C, "field type 15", NO_STEPS, S_SKIP(PROTO_T_STRUCT), "1f 00 00", BAD),
	FAILURE(C, "long-form field type 14", NO_STEPS, S_SKIP(PROTO_T_STRUCT), "0e 02 00 00",
	    BAD),
	FAILURE(C, "nested field type 14", NO_STEPS, S_SKIP(PROTO_T_STRUCT), "1c 1e 00 00 00",
	    BAD),
	FAILURE(C, "list element type 14", NO_STEPS, S_SKIP(PROTO_T_LIST), "1e 00 00", BAD),
	FAILURE(C, "list element type 0", NO_STEPS, S_SKIP(PROTO_T_LIST), "10 00 00", BAD),
	FAILURE(C, "set element type 15", NO_STEPS, S_SKIP(PROTO_T_SET), "1f 00 00", BAD),
	FAILURE(C, "map key type 14", NO_STEPS, S_SKIP(PROTO_T_MAP), "01 e5 00 00", BAD),
	FAILURE(C, "map value type 0", NO_STEPS, S_SKIP(PROTO_T_MAP), "01 50 00 00", BAD),

	/* lengths and sizes past INT32_MAX are negative i32s: never NEED_MORE */
	FAILURE(C, "skip a string of negative length", NO_STEPS, S_SKIP(PROTO_T_STRING),
	    "ffffffff0f 61", BAD_OR_TOO_BIG),
	FAILURE(C, "skip a string of negative length", NO_STEPS, S_SKIP(PROTO_T_STRING),
	    "8080808008 61", BAD_OR_TOO_BIG),
	FAILURE(C, "skip a list of negative size", NO_STEPS, S_SKIP(PROTO_T_LIST),
	    "f5 ffffffff0f 02", BAD_OR_TOO_BIG),
	FAILURE(C, "skip a set of negative size", NO_STEPS, S_SKIP(PROTO_T_SET),
	    "f5 8080808008 02", BAD_OR_TOO_BIG),
	FAILURE(C, "skip a map of negative size", NO_STEPS, S_SKIP(PROTO_T_MAP),
	    "ffffffff0f 55 02 02", BAD_OR_TOO_BIG),

	/* refused from the length alone, without waiting for the bytes */
	FAILURE(C, "string too long", NO_STEPS, S_READ(STRING), "64", TOO_BIG(50)),
	FAILURE(C, "string too long", NO_STEPS, S_READ(STRING), "64 01 02 03 04 05",
	    TOO_BIG(16)),
	FAILURE(C, "skip a struct with a string too long", NO_STEPS, S_SKIP(PROTO_T_STRUCT),
	    "18 64 61", TOO_BIG(50)),
	FAILURE(C, "list too long", NO_STEPS, S_READ(LIST), "f5 e807", TOO_BIG(100)),
	FAILURE(C, "skip a set too long", NO_STEPS, S_SKIP(PROTO_T_SET), "f3 e807",
	    TOO_BIG(100)),
	FAILURE(C, "map too long", NO_STEPS, S_READ(MAP), "e807 55", TOO_BIG(100)),
	FAILURE(C, "skip a map too long", NO_STEPS, S_SKIP(PROTO_T_MAP), "ffffffff07 33",
	    TOO_BIG(100)),
	FAILURE(C, "method name too long", NO_STEPS, S_READ(MESSAGE), "82 21 01 e807",
	    TOO_BIG(100)),
};

/*
 * The read fails with the row's status (-1, an error text with BAD and
 * TOO_BIG, the need with NEED_MORE), and stays failed even once more
 * input is there.
 */
START_TEST(fails)
{
	const struct failure_row	*row = &failures[_i];
	struct proto_reader		 r;
	struct hexin			 in;
	size_t				 max = row->max_size ? row->max_size : CODEC_MAX_SIZE;
	int				 rc;

	reader_hex(&r, &in, row->hex, max, CODEC_MAX_DEPTH);
	if (row->before != NULL)
		ck_assert_msg(codec_read_steps(row->ops, &r, row->before, row->what) == PROTO_OK,
		    "%s %s: the reads before the failing one failed: %s", row->ops->name,
		    row->what, status_name(r.status));
	rc = codec_read_step_unchecked(row->ops, &r, &row->read);
	ck_assert_msg(rc == -1, "%s %s (%s): the read went through to byte %zu, want %s",
	    row->ops->name, row->what, row->hex, r.pos, status_name(row->status));
	ck_assert_msg(r.status == row->status ||
	    (row->or_status != PROTO_OK && r.status == row->or_status),
	    "%s %s (%s): status %s (%s), want %s", row->ops->name, row->what, row->hex,
	    status_name(r.status), r.error ? r.error : "", status_name(row->status));
	if (r.status == PROTO_BAD || r.status == PROTO_TOO_BIG)
		ck_assert_msg(r.error != NULL, "%s %s: no error text with %s", row->ops->name,
		    row->what, status_name(r.status));
	if (r.status == PROTO_NEED_MORE) {
		ck_assert_msg(r.need >= row->need_min && r.need <= row->need_max,
		    "%s %s (%s): need %zu, want %zu..%zu", row->ops->name, row->what,
		    row->hex, r.need, row->need_min, row->need_max);
		/* pretend more arrived in the same buffer: still failed */
		r.len = sizeof in.data;
	}
	codec_check_sticky(row->ops, &r, r.status);
}
END_TEST

/* --- skipping ------------------------------------------------------------- */

struct skip_row {
	const struct proto_ops	*ops;
	uint8_t			 type;
	const char		*hex;	/* the value, then one byte that must stay */
};

static const struct skip_row skips[] = {
	{ B, PROTO_T_BOOL, "01 ee" },
	{ B, PROTO_T_BYTE, "80 ee" },
	{ B, PROTO_T_I16, "ffff ee" },
	{ B, PROTO_T_I32, "00000001 ee" },
	{ B, PROTO_T_I64, "0000000000000001 ee" },
	{ B, PROTO_T_DOUBLE, "3ff0000000000000 ee" },
	{ B, PROTO_T_STRING, "00000003 616263 ee" },
	{ B, PROTO_T_STRING, "00000000 ee" },
	{ B, PROTO_T_UUID, UUID_HEX " ee" },
	{ B, PROTO_T_STRUCT, "00 ee" },
	{ B, PROTO_T_STRUCT, "08 0001 00000005  0b 0002 00000002 6869  02 0003 01"
	    "  0c 0004 06 0001 7fff 00  10 0005 " UUID_HEX
	    "  0f 0006 08 00000002 00000001 00000002  00 ee" },
	{ B, PROTO_T_LIST, "08 00000002 00000001 00000002 ee" },
	{ B, PROTO_T_LIST, "0b 00000002 00000001 61 00000000 ee" },
	{ B, PROTO_T_LIST, "0c 00000002 00 08 0001 00000001 00 ee" },
	{ B, PROTO_T_LIST, "0f 00000002 02 00000001 01  03 00000000 ee" },
	{ B, PROTO_T_LIST, "10 00000001 " UUID_HEX " ee" },
	{ B, PROTO_T_SET, "0a 00000001 0000000000000001 ee" },
	{ B, PROTO_T_SET, "02 00000000 ee" },
	{ B, PROTO_T_MAP, "0b 08 00000001 00000001 6b 00000007 ee" },
	{ B, PROTO_T_MAP, "08 08 00000000 ee" },
	{ B, PROTO_T_MAP, "08 0d 00000001 00000001 0b 0f 00000001 00000001 61 08"
	    " 00000001 00000009 ee" },
	{ B, PROTO_T_MAP, "04 0c 00000001 3ff0000000000000 02 0001 00 00 ee" },

	{ C, PROTO_T_BYTE, "80 ee" },
	{ C, PROTO_T_I16, "feff03 ee" },
	{ C, PROTO_T_I32, "ffffffff0f ee" },
	{ C, PROTO_T_I32, "00 ee" },
	{ C, PROTO_T_I64, "ffffffffffffffffff01 ee" },
	{ C, PROTO_T_DOUBLE, "000000000000f03f ee" },
	{ C, PROTO_T_STRING, "03 616263 ee" },
	{ C, PROTO_T_STRING, "00 ee" },
	{ C, PROTO_T_UUID, UUID_HEX " ee" },
	{ C, PROTO_T_STRUCT, "00 ee" },
	{ C, PROTO_T_STRUCT, FIELDS_HEX " ee" },
	{ C, PROTO_T_STRUCT, "11 22 13 7f 1d " UUID_HEX " 1b 00 00 ee" },
	{ C, PROTO_T_LIST, "35 02 04 06 ee" },
	{ C, PROTO_T_LIST, "f5 0f 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ee" },
	{ C, PROTO_T_LIST, "28 01 61 00 ee" },
	{ C, PROTO_T_LIST, "2c 00 15 02 00 ee" },
	{ C, PROTO_T_LIST, "29 15 02 05 ee" },
	{ C, PROTO_T_LIST, "22 01 00 ee" },
	{ C, PROTO_T_LIST, "11 00 ee" },	/* list<bool> with element type 1 */
	{ C, PROTO_T_LIST, "17 000000000000f03f ee" },
	{ C, PROTO_T_LIST, "1d " UUID_HEX " ee" },
	{ C, PROTO_T_SET, "16 02 ee" },
	{ C, PROTO_T_SET, "0a ee" },
	{ C, PROTO_T_MAP, "00 ee" },
	{ C, PROTO_T_MAP, "01 85 01 6b 0e ee" },
	{ C, PROTO_T_MAP, "01 5b 02 01 89 01 61 15 12 ee" },
	{ C, PROTO_T_MAP, "01 7c 000000000000f03f 12 00 ee" },
	{ C, PROTO_T_MAP, "01 23 01 7f ee" },
};

START_TEST(skip)
{
	const struct skip_row	*row = &skips[_i];
	struct proto_reader	 r;
	struct hexin		 in;

	reader_hex(&r, &in, row->hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_msg(row->ops->skip(&r, row->type) == 0, "%s skip %s (%s): %s %s",
	    row->ops->name, proto_type_name(row->type), row->hex, status_name(r.status),
	    r.error ? r.error : "");
	ck_assert_msg(r.pos == in.len - 1, "%s skip %s (%s): pos %zu, want %zu",
	    row->ops->name, proto_type_name(row->type), row->hex, r.pos, in.len - 1);
	ck_assert_uint_eq(r.depth, 0);
}
END_TEST

/* Type codes that are no Thrift type: BAD, with an error text. */
START_TEST(skip_unknown_type)
{
	static const uint8_t	 bad_types[] = { 0, 1, 5, 7, 9, 17, 20, 0x63, 0x80, 0xff };
	const struct proto_ops	*ops = codecs[_i];
	struct proto_reader	 r;
	struct hexin		 in;

	for (size_t i = 0; i < sizeof bad_types; i++) {
		reader_hex(&r, &in, "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
		    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(ops->skip(&r, bad_types[i]) == -1 && r.status == PROTO_BAD,
		    "%s skip(%u): status %s", ops->name, bad_types[i], status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
}
END_TEST

/* --- nesting ---------------------------------------------------------------- */

struct nesting_row {
	const struct proto_ops	*ops;
	const char		*what;
	uint8_t			 type;
	const char		*unit, *inner, *tail;	/* unit * n, inner, tail * n */
	unsigned		 levels;	/* nesting levels one unit adds */
};

static const struct nesting_row nestings[] = {
	{ B, "lists", PROTO_T_LIST, "0f 00000001", "08 00000000", "", 1 },
	{ B, "sets", PROTO_T_SET, "0e 00000001", "08 00000000", "", 1 },
	{ B, "structs", PROTO_T_STRUCT, "0c 0001", "00", "00", 1 },
	{ B, "maps", PROTO_T_MAP, "08 0d 00000001 00000000", "08 08 00000000", "", 1 },
	/* struct { 1: list<struct { 1: list<...> }> } */
	{ B, "structs in lists", PROTO_T_STRUCT, "0f 0001 0c 00000001", "00", "00", 2 },
	{ C, "lists", PROTO_T_LIST, "19", "05", "", 1 },
	{ C, "sets", PROTO_T_SET, "1a", "05", "", 1 },
	{ C, "structs", PROTO_T_STRUCT, "1c", "00", "00", 1 },
	{ C, "maps", PROTO_T_MAP, "01 5b 00", "00", "", 1 },
	{ C, "structs in lists", PROTO_T_STRUCT, "19 1c", "00", "00", 2 },
};

/*
 * "Nesting at most max_depth deep": the outermost value and n units of
 * `levels` each pass while 1 + n * levels <= max_depth, one unit more
 * fails, and 100000 units fail cleanly: BAD, no crash, no NEED_MORE.
 */
START_TEST(nesting)
{
	const struct nesting_row	*row = &nestings[_i];
	size_t				 deepest = (CODEC_MAX_DEPTH - 1) / row->levels;

	codec_check_nested_skip(row->ops, row->type, row->unit, row->inner, row->tail,
	    CODEC_MAX_DEPTH / 2 / row->levels, true);
	codec_check_nested_skip(row->ops, row->type, row->unit, row->inner, row->tail,
	    deepest, true);
	codec_check_nested_skip(row->ops, row->type, row->unit, row->inner, row->tail,
	    deepest + 1, false);
	codec_check_nested_skip(row->ops, row->type, row->unit, row->inner, row->tail,
	    CODEC_DEEP, false);
}
END_TEST

/* --- the sample message --------------------------------------------------- */

START_TEST(sample_roundtrip)
{
	codec_check_roundtrip(codecs[_i]);
}
END_TEST

START_TEST(sample_cut_short)
{
	codec_check_truncation(codecs[_i]);
}
END_TEST

START_TEST(sample_write_limit)
{
	codec_check_write_limit(codecs[_i]);
}
END_TEST

/*
 * Compact varints of every length, read with no byte after them and with
 * up to 10, and with none or 8 before them (a reader looks at eight bytes
 * at once: those ahead, or the input's last eight): the value, the bytes
 * taken, and the limits (5 bytes and 32 bits for i32, 10 for i64) the
 * same whichever way.
 */
START_TEST(compact_varint_lengths)
{
	static const uint8_t	around[10] = { 0xff, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff,
				    0x7f, 0x00 };
	uint64_t		values[64 * 3 + 4];
	size_t			nvalues = 0;

	for (unsigned bit = 0; bit < 64; bit++) {
		values[nvalues++] = UINT64_C(1) << bit;
		values[nvalues++] = (UINT64_C(1) << bit) - 1;
		values[nvalues++] = (UINT64_C(0x5a5a5a5a5a5a5a5a) >> (63 - bit)) | 1;
	}
	values[nvalues++] = UINT64_MAX;
	values[nvalues++] = UINT32_MAX;
	values[nvalues++] = (uint64_t)UINT32_MAX + 1;
	values[nvalues++] = 0;
	for (size_t v = 0; v < nvalues; v++)
	for (size_t before = 0; before <= 8; before += 8)
	for (size_t extra = 0; extra <= sizeof around; extra++) {
		struct wfix		f;
		struct proto_reader	r;
		uint8_t			data[32];
		size_t			len;
		int64_t			i64 = 0;
		int32_t			i32 = 0;
		uint64_t		zz = values[v];
		/* the i64 whose zigzag encoding is zz */
		int64_t			want = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);

		wfix_init(&f, 64);
		ck_assert_int_eq(proto_compact.write_i64(&f.w, want), 0);
		len = f.buf.len;
		ck_assert_uint_le(len, 10);
		memcpy(data, around, before);
		memcpy(data + before, f.buf.data, len);
		memcpy(data + before + len, around, extra);
		buf_free(&f.buf);

		proto_reader_init(&r, data, before + len + extra, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		r.pos = before;
		ck_assert_int_eq(proto_compact.read_i64(&r, &i64), 0);
		ck_assert_msg(i64 == want && r.pos == before + len, "value %llx, %zu before, "
		    "%zu after: read %llx, took %zu of %zu", (unsigned long long)zz, before,
		    extra, (unsigned long long)i64, r.pos - before, len);

		proto_reader_init(&r, data, before + len + extra, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		r.pos = before;
		if (zz <= UINT32_MAX) {
			ck_assert_int_eq(proto_compact.read_i32(&r, &i32), 0);
			ck_assert_int_eq(i32, (int32_t)want);
			ck_assert_uint_eq(r.pos, before + len);
		} else {
			ck_assert_fails(&r, proto_compact.read_i32(&r, &i32), PROTO_BAD);
		}
		/* cut short: more is needed (one byte more), however much follows in memory */
		for (size_t cut = 0; cut < len; cut++) {
			proto_reader_init(&r, data, before + cut, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
			r.pos = before;
			ck_assert_fails(&r, proto_compact.read_i64(&r, &i64), PROTO_NEED_MORE);
			ck_assert_uint_eq(r.need, before + cut + 1);
			proto_reader_init(&r, data, before + cut, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
			r.pos = before;
			ck_assert_fails(&r, proto_compact.read_i32(&r, &i32),
			    cut >= 5 ? PROTO_BAD : PROTO_NEED_MORE);
		}
	}
}
END_TEST

static Suite *
codec_suite(void)
{
	Suite	*s = suite_create("codec");
	TCase	*tc;

	tc = tcase_create("values");
	tcase_add_loop_test(tc, encode, 0, (int)NELEM(values));
	tcase_add_loop_test(tc, decode, 0, (int)NELEM(values));
	tcase_add_loop_test(tc, cut_short, 0, (int)NELEM(values));
	tcase_add_loop_test(tc, write_limit, 0, (int)NELEM(values));
	suite_add_tcase(s, tc);

	tc = tcase_create("read_values");
	tcase_add_loop_test(tc, decode_only, 0, (int)NELEM(read_values));
	tcase_add_loop_test(tc, cut_short_only, 0, (int)NELEM(read_values));
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_loop_test(tc, fails, 0, (int)NELEM(failures));
	suite_add_tcase(s, tc);

	tc = tcase_create("skip");
	tcase_add_loop_test(tc, skip, 0, (int)NELEM(skips));
	tcase_add_loop_test(tc, skip_unknown_type, 0, (int)NELEM(codecs));
	tcase_add_test(tc, compact_varint_lengths);
	tcase_add_loop_test(tc, nesting, 0, (int)NELEM(nestings));
	suite_add_tcase(s, tc);

	tc = tcase_create("sample");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, sample_roundtrip, 0, (int)NELEM(codecs));
	tcase_add_loop_test(tc, sample_cut_short, 0, (int)NELEM(codecs));
	tcase_add_loop_test(tc, sample_write_limit, 0, (int)NELEM(codecs));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(codec_suite());
}
