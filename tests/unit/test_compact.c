/*
 * test_compact: TCompactProtocol against doc/specs/thrift-compact-protocol.md —
 * zigzag varints, field id deltas, bools in field headers, short and long
 * list headers, empty maps, little-endian doubles, limits and nesting.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"

static const struct proto_ops *const C = &proto_compact;

#define UUID_HEX	"00112233445566778899aabbccddeeff"

/* --- writing ------------------------------------------------------------- */

START_TEST(write_varint_ints)
{
	struct wfix f;

	wfix_init(&f, 1024);
	/* i32: zigzag, then unsigned LEB128 */
	C->write_i32(&f.w, 0);
	C->write_i32(&f.w, -1);
	C->write_i32(&f.w, 1);
	C->write_i32(&f.w, -2);
	C->write_i32(&f.w, 2);
	C->write_i32(&f.w, 63);
	C->write_i32(&f.w, -64);
	C->write_i32(&f.w, 64);
	C->write_i32(&f.w, -65);
	ck_assert_hex(f.buf.data, f.buf.len, "00 01 02 03 04 7e 7f 8001 8101");
	f.buf.len = 0;
	C->write_i32(&f.w, INT32_MAX);
	C->write_i32(&f.w, INT32_MIN);
	/* zigzag(-25200) = 50399, the spec's varint example */
	C->write_i32(&f.w, -25200);
	ck_assert_hex(f.buf.data, f.buf.len, "feffffff0f ffffffff0f df8903");
	f.buf.len = 0;
	/* i16 goes as an i32 */
	C->write_i16(&f.w, -1);
	C->write_i16(&f.w, 300);
	C->write_i16(&f.w, INT16_MAX);
	C->write_i16(&f.w, INT16_MIN);
	ck_assert_hex(f.buf.data, f.buf.len, "01 d804 feff03 ffff03");
	f.buf.len = 0;
	C->write_i64(&f.w, 0);
	C->write_i64(&f.w, -1);
	C->write_i64(&f.w, INT64_C(1) << 32);
	C->write_i64(&f.w, INT64_MAX);
	C->write_i64(&f.w, INT64_MIN);
	ck_assert_hex(f.buf.data, f.buf.len,
	    "00 01 8080808020 feffffffffffffffff01 ffffffffffffffffff01");
	ck_assert(!f.w.failed);
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_byte_bool_double)
{
	struct wfix f;

	wfix_init(&f, 1024);
	/* i8 is one plain byte */
	C->write_byte(&f.w, -1);
	C->write_byte(&f.w, 0x7f);
	ck_assert_hex(f.buf.data, f.buf.len, "ff 7f");
	f.buf.len = 0;
	/*
	 * A bool that is not a field value (a list element) is one byte:
	 * true is 1; false is 0 in the older spec text, 2 (BOOLEAN_FALSE)
	 * in the newer one and in Java and C++.
	 */
	C->write_bool(&f.w, true);
	C->write_bool(&f.w, false);
	ck_assert_uint_eq(f.buf.len, 2);
	ck_assert_uint_eq(f.buf.data[0], 1);
	ck_assert_msg(f.buf.data[1] == 0 || f.buf.data[1] == 2, "false as %02x",
	    f.buf.data[1]);
	f.buf.len = 0;
	/* doubles are little-endian in compact */
	C->write_double(&f.w, 1.0);
	C->write_double(&f.w, -2.5);
	C->write_double(&f.w, 0.1);
	ck_assert_hex(f.buf.data, f.buf.len,
	    "000000000000f03f 00000000000004c0 9a9999999999b93f");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_string)
{
	struct wfix	f;
	char		big[200];

	wfix_init(&f, 1024);
	C->write_string(&f.w, "abc", 3);
	C->write_string(&f.w, "", 0);
	ck_assert_hex(f.buf.data, f.buf.len, "03 616263 00");
	f.buf.len = 0;
	memset(big, 'z', sizeof big);
	C->write_string(&f.w, big, sizeof big);
	ck_assert_uint_eq(f.buf.len, 2 + sizeof big);
	ck_assert_hex(f.buf.data, 4, "c801 7a7a");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_message_header)
{
	struct wfix		f;
	struct proto_string	name = pstr("add");

	/* 0x82, type << 5 | version 1, seqid as a plain varint, name */
	wfix_init(&f, 1024);
	ck_assert_int_eq(C->write_message_begin(&f.w, &name, PROTO_CALL, 1), 0);
	ck_assert_hex(f.buf.data, f.buf.len, "82 21 01 03 616464");
	f.buf.len = 0;
	C->write_message_begin(&f.w, &name, PROTO_REPLY, -1);
	ck_assert_hex(f.buf.data, f.buf.len, "82 41 ffffffff0f 03 616464");
	f.buf.len = 0;
	name = pstr("x");
	C->write_message_begin(&f.w, &name, PROTO_EXCEPTION, 300);
	ck_assert_hex(f.buf.data, f.buf.len, "82 61 ac02 01 78");
	f.buf.len = 0;
	name = pstr("");
	C->write_message_begin(&f.w, &name, PROTO_ONEWAY, 0);
	ck_assert_hex(f.buf.data, f.buf.len, "82 81 00 00");
	f.buf.len = 0;
	name = pstr("zip");
	C->write_message_begin(&f.w, &name, PROTO_CALL, INT32_MAX);
	ck_assert_hex(f.buf.data, f.buf.len, "82 21 ffffffff07 03 7a6970");
	buf_free(&f.buf);
}
END_TEST

/* Field headers: short form for deltas 1..15, long form otherwise. */
#define FIELDS_HEX							\
	"15 0a  11  12  f8 02 6869  06 44 01  01 c801"			\
	"  1c 15 01 17 000000000000f03f 00"				\
	"  14 d804  05 0a 00  13 7f  05 01 0e  00"

START_TEST(write_field_headers)
{
	struct wfix f;

	wfix_init(&f, 1024);
	C->write_struct_begin(&f.w);
	C->write_field_begin(&f.w, PROTO_T_I32, 1);		/* 15 */
	C->write_i32(&f.w, 5);
	C->write_field_begin(&f.w, PROTO_T_BOOL, 2);		/* 11: true */
	C->write_bool(&f.w, true);
	C->write_field_begin(&f.w, PROTO_T_BOOL, 3);		/* 12: false */
	C->write_bool(&f.w, false);
	C->write_field_begin(&f.w, PROTO_T_STRING, 18);		/* delta 15 */
	C->write_string(&f.w, "hi", 2);
	C->write_field_begin(&f.w, PROTO_T_I64, 34);		/* delta 16: long */
	C->write_i64(&f.w, -1);
	C->write_field_begin(&f.w, PROTO_T_BOOL, 100);		/* long bool */
	C->write_bool(&f.w, true);
	C->write_field_begin(&f.w, PROTO_T_STRUCT, 101);
	C->write_struct_begin(&f.w);
	C->write_field_begin(&f.w, PROTO_T_I32, 1);		/* inner ids from 0 */
	C->write_i32(&f.w, -1);
	C->write_field_begin(&f.w, PROTO_T_DOUBLE, 2);
	C->write_double(&f.w, 1.0);
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	C->write_field_begin(&f.w, PROTO_T_I16, 102);		/* outer id restored */
	C->write_i16(&f.w, 300);
	C->write_field_begin(&f.w, PROTO_T_I32, 5);		/* going back: long */
	C->write_i32(&f.w, 0);
	C->write_field_begin(&f.w, PROTO_T_BYTE, 6);
	C->write_byte(&f.w, 0x7f);
	C->write_field_begin(&f.w, PROTO_T_I32, -1);		/* negative: long */
	C->write_i32(&f.w, 7);
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	ck_assert(!f.w.failed);
	ck_assert_hex(f.buf.data, f.buf.len, FIELDS_HEX);
	buf_free(&f.buf);
}
END_TEST

/* A result struct's field 0 has delta 0: long form. */
START_TEST(write_field_id_zero)
{
	struct wfix f;

	wfix_init(&f, 1024);
	C->write_struct_begin(&f.w);
	C->write_field_begin(&f.w, PROTO_T_I32, 0);
	C->write_i32(&f.w, 5);
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	ck_assert_hex(f.buf.data, f.buf.len, "05 00 0a 00");
	f.buf.len = 0;
	C->write_struct_begin(&f.w);
	C->write_field_begin(&f.w, PROTO_T_BOOL, 0);
	C->write_bool(&f.w, true);
	C->write_field_begin(&f.w, PROTO_T_STRUCT, 1);
	C->write_struct_begin(&f.w);
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	ck_assert_hex(f.buf.data, f.buf.len, "01 00 1c 00 00");
	buf_free(&f.buf);
}
END_TEST

/* From id -1 to id 0 the delta is 1: the short form. */
START_TEST(write_field_delta_from_negative)
{
	struct wfix f;

	wfix_init(&f, 1024);
	C->write_struct_begin(&f.w);
	C->write_field_begin(&f.w, PROTO_T_I32, -1);
	C->write_i32(&f.w, 1);
	C->write_field_begin(&f.w, PROTO_T_I32, 0);
	C->write_i32(&f.w, 1);
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	ck_assert_hex(f.buf.data, f.buf.len, "05 01 02  15 02  00");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_list_set_headers)
{
	static const struct {
		uint8_t		 type;
		uint32_t	 n;
		const char	*hex;
	} cases[] = {
		{ PROTO_T_I32, 3, "35" },
		{ PROTO_T_STRING, 14, "e8" },
		{ PROTO_T_STRING, 15, "f8 0f" },
		{ PROTO_T_I64, 300, "f6 ac02" },
		{ PROTO_T_BYTE, 0, "03" },
		{ PROTO_T_I16, 1, "14" },
		{ PROTO_T_DOUBLE, 1, "17" },
		{ PROTO_T_LIST, 1, "19" },
		{ PROTO_T_SET, 1, "1a" },
		{ PROTO_T_MAP, 1, "1b" },
		{ PROTO_T_STRUCT, 2, "2c" },
	};
	struct wfix f;

	wfix_init(&f, 1024);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		f.buf.len = 0;
		C->write_list_begin(&f.w, cases[i].type, cases[i].n);
		ck_assert_hex(f.buf.data, f.buf.len, cases[i].hex);
		f.buf.len = 0;
		C->write_set_begin(&f.w, cases[i].type, cases[i].n);
		ck_assert_hex(f.buf.data, f.buf.len, cases[i].hex);
	}
	ck_assert(!f.w.failed);
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_list_of_bool)
{
	struct wfix f;

	/* element type BOOL: the spec says 2; Java and C++ send 1; both decode */
	wfix_init(&f, 1024);
	C->write_list_begin(&f.w, PROTO_T_BOOL, 3);
	C->write_bool(&f.w, true);
	C->write_bool(&f.w, false);
	C->write_bool(&f.w, true);
	ck_assert_uint_eq(f.buf.len, 4);
	ck_assert_msg(f.buf.data[0] == 0x32 || f.buf.data[0] == 0x31,
	    "list<bool> header %02x", f.buf.data[0]);
	ck_assert_uint_eq(f.buf.data[1], 1);
	ck_assert_msg(f.buf.data[2] == 0 || f.buf.data[2] == 2, "false as %02x",
	    f.buf.data[2]);
	ck_assert_uint_eq(f.buf.data[3], 1);
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_map_headers)
{
	struct wfix f;

	wfix_init(&f, 1024);
	C->write_map_begin(&f.w, PROTO_T_STRING, PROTO_T_I32, 2);
	ck_assert_hex(f.buf.data, f.buf.len, "02 85");
	f.buf.len = 0;
	/* empty map: the size alone, no types */
	C->write_map_begin(&f.w, PROTO_T_I32, PROTO_T_I32, 0);
	ck_assert_hex(f.buf.data, f.buf.len, "00");
	f.buf.len = 0;
	C->write_map_begin(&f.w, PROTO_T_I16, PROTO_T_STRUCT, 200);
	ck_assert_hex(f.buf.data, f.buf.len, "c801 4c");
	f.buf.len = 0;
	C->write_map_begin(&f.w, PROTO_T_DOUBLE, PROTO_T_LIST, 1);
	ck_assert_hex(f.buf.data, f.buf.len, "01 79");
	f.buf.len = 0;
	C->write_map_begin(&f.w, PROTO_T_MAP, PROTO_T_SET, 1);
	ck_assert_hex(f.buf.data, f.buf.len, "01 ba");
	f.buf.len = 0;
	C->write_map_begin(&f.w, PROTO_T_I64, PROTO_T_BYTE, 15);
	ck_assert_hex(f.buf.data, f.buf.len, "0f 63");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_buffer_limit)
{
	struct wfix f;

	wfix_init(&f, 3);
	ck_assert_int_eq(C->write_i32(&f.w, INT32_MAX - 1), -1);	/* 5 bytes */
	ck_assert(f.w.failed);
	ck_assert_uint_le(f.buf.len, 3);
	ck_assert_int_eq(C->write_byte(&f.w, 1), -1);
	ck_assert_int_eq(C->write_field_stop(&f.w), -1);
	ck_assert_uint_le(f.buf.len, 3);
	buf_free(&f.buf);

	wfix_init(&f, 3);
	ck_assert_int_eq(C->write_string(&f.w, "abc", 3), -1);
	ck_assert(f.w.failed);
	ck_assert_uint_le(f.buf.len, 3);
	buf_free(&f.buf);

	wfix_init(&f, 4);
	ck_assert_int_eq(C->write_string(&f.w, "abc", 3), 0);
	ck_assert(!f.w.failed);
	ck_assert_hex(f.buf.data, f.buf.len, "03 616263");
	buf_free(&f.buf);
}
END_TEST

/* --- reading ------------------------------------------------------------- */

START_TEST(read_varint_ints)
{
	struct proto_reader	r;
	struct hexin		in;
	int16_t			i16;
	int32_t			i32;
	int64_t			i64;
	static const int32_t	want32[] = { 0, -1, 1, -2, 2, 63, -64, 64, -65,
					     INT32_MAX, INT32_MIN, -25200 };

	reader_hex(&r, &in, "00 01 02 03 04 7e 7f 8001 8101 feffffff0f ffffffff0f df8903",
	    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	for (size_t i = 0; i < sizeof want32 / sizeof want32[0]; i++) {
		ck_assert_int_eq(C->read_i32(&r, &i32), 0);
		ck_assert_int_eq(i32, want32[i]);
	}
	ck_assert_uint_eq(r.pos, in.len);

	reader_hex(&r, &in, "01 d804 feff03 ffff03", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, -1);
	ck_assert_int_eq(C->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, 300);
	ck_assert_int_eq(C->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, INT16_MAX);
	ck_assert_int_eq(C->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, INT16_MIN);
	ck_assert_uint_eq(r.pos, in.len);

	reader_hex(&r, &in, "00 01 8080808020 feffffffffffffffff01 ffffffffffffffffff01",
	    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_i64(&r, &i64), 0);
	ck_assert(i64 == 0);
	ck_assert_int_eq(C->read_i64(&r, &i64), 0);
	ck_assert(i64 == -1);
	ck_assert_int_eq(C->read_i64(&r, &i64), 0);
	ck_assert(i64 == INT64_C(1) << 32);
	ck_assert_int_eq(C->read_i64(&r, &i64), 0);
	ck_assert(i64 == INT64_MAX);
	ck_assert_int_eq(C->read_i64(&r, &i64), 0);
	ck_assert(i64 == INT64_MIN);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

/* i32 varints take at most 5 bytes, i64 at most 10. */
START_TEST(read_varint_too_long)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	uint8_t			t, kt;
	uint32_t		n;
	int16_t			i16;
	int32_t			i32, seqid;
	int64_t			i64;

	reader_hex(&r, &in, "80 80 80 80 80 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_i32(&r, &i32), PROTO_BAD);
	reader_hex(&r, &in, "ff ff ff ff ff 01", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_i32(&r, &i32), PROTO_BAD);
	reader_hex(&r, &in, "80 80 80 80 80 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_i16(&r, &i16), PROTO_BAD);
	reader_hex(&r, &in, "80 80 80 80 80 80 80 80 80 80 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_i64(&r, &i64), PROTO_BAD);
	reader_hex(&r, &in, "ff ff ff ff ff ff ff ff ff ff 01", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->skip(&r, PROTO_T_I64), PROTO_BAD);
	reader_hex(&r, &in, "80 80 80 80 80 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->skip(&r, PROTO_T_I32), PROTO_BAD);

	/* lengths, sizes and seqids are varints too */
	reader_hex(&r, &in, "80 80 80 80 80 00 61", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_string(&r, &s), PROTO_BAD);
	reader_hex(&r, &in, "f5 80 80 80 80 80 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_list_begin(&r, &t, &n), PROTO_BAD);
	reader_hex(&r, &in, "80 80 80 80 80 00 55", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_map_begin(&r, &kt, &t, &n), PROTO_BAD);
	reader_hex(&r, &in, "82 21 80 80 80 80 80 00 03 616464", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_message_begin(&r, &s, &t, &seqid), PROTO_BAD);
	reader_hex(&r, &in, "1c 15 80 80 80 80 80 80 00 00 00", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->skip(&r, PROTO_T_STRUCT), PROTO_BAD);
}
END_TEST

START_TEST(read_byte_bool_double_string)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	int8_t			i8;
	double			d;

	reader_hex(&r, &in, "ff 7f  000000000000f03f 00000000000004c0  03 616263 00",
	    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_byte(&r, &i8), 0);
	ck_assert_int_eq(i8, -1);
	ck_assert_int_eq(C->read_byte(&r, &i8), 0);
	ck_assert_int_eq(i8, 127);
	ck_assert_int_eq(C->read_double(&r, &d), 0);
	ck_assert(double_same(d, 1.0));
	ck_assert_int_eq(C->read_double(&r, &d), 0);
	ck_assert(double_same(d, -2.5));
	ck_assert_int_eq(C->read_string(&r, &s), 0);
	ck_assert(pstr_eq(&s, "abc"));
	ck_assert_ptr_eq(s.ptr, in.data + 19);
	ck_assert_int_eq(C->read_string(&r, &s), 0);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

START_TEST(read_message_header)
{
	static const struct {
		const char	*hex;
		const char	*name;
		uint8_t		 type;
		int32_t		 seqid;
	} cases[] = {
		{ "82 21 2a 03 616464", "add", PROTO_CALL, 42 },
		{ "82 41 ffffffff0f 03 616464", "add", PROTO_REPLY, -1 },
		{ "82 61 ac02 01 78", "x", PROTO_EXCEPTION, 300 },
		{ "82 81 00 00", "", PROTO_ONEWAY, 0 },
		{ "82 21 ffffffff07 03 7a6970", "zip", PROTO_CALL, INT32_MAX },
	};
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	name;
	uint8_t			type;
	int32_t			seqid;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reader_hex(&r, &in, cases[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(C->read_message_begin(&r, &name, &type, &seqid) == 0,
		    "%s: %s", cases[i].hex, status_name(r.status));
		ck_assert(pstr_eq(&name, cases[i].name));
		ck_assert_uint_eq(type, cases[i].type);
		ck_assert_int_eq(seqid, cases[i].seqid);
		ck_assert_uint_eq(r.pos, in.len);
	}
}
END_TEST

START_TEST(read_message_bad)
{
	static const char *const bad[] = {
		"83 21 01 03 616464",		/* protocol id */
		"80 21 01 03 616464",
		"82 22 01 03 616464",		/* version 2 */
		"82 20 01 03 616464",		/* version 0 */
		"82 3f 01 03 616464",		/* version 31 */
	};
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	name;
	uint8_t			type;
	int32_t			seqid;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		reader_hex(&r, &in, bad[i], CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(C->read_message_begin(&r, &name, &type, &seqid) == -1 &&
		    r.status == PROTO_BAD, "%s: status %s", bad[i], status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
}
END_TEST

START_TEST(read_field_headers)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	bool			b;
	int8_t			i8;
	int16_t			i16;
	int32_t			i32;
	int64_t			i64;
	double			d;

	reader_hex(&r, &in, FIELDS_HEX, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, 1), 0);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, 5);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 2), 0);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(b);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 3), 0);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STRING, 18), 0);
	ck_assert_int_eq(C->read_string(&r, &s), 0);
	ck_assert(pstr_eq(&s, "hi"));
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I64, 34), 0);
	ck_assert_int_eq(C->read_i64(&r, &i64), 0);
	ck_assert(i64 == -1);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 100), 0);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(b);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STRUCT, 101), 0);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, 1), 0);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, -1);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_DOUBLE, 2), 0);
	ck_assert_int_eq(C->read_double(&r, &d), 0);
	ck_assert(double_same(d, 1.0));
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I16, 102), 0);
	ck_assert_int_eq(C->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, 300);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, 5), 0);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BYTE, 6), 0);
	ck_assert_int_eq(C->read_byte(&r, &i8), 0);
	ck_assert_int_eq(i8, 0x7f);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, -1), 0);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, 7);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
	ck_assert_uint_eq(r.depth, 0);

	/* long form with a large id; short form right after it */
	reader_hex(&r, &in, "08 feff03 00  05 ffff03 02  15 04 00", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STRING, 32767), 0);
	ck_assert_int_eq(C->read_string(&r, &s), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, -32768), 0);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, 1);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, -32767), 0);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, 2);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

START_TEST(read_bool_fields)
{
	struct proto_reader	r;
	struct hexin		in;
	bool			b;

	/* 1: true, 3: false (delta 2), 100: true and 99: false (long form) */
	reader_hex(&r, &in, "11 22 01 c801 02 c601 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 1), 0);
	ck_assert_uint_eq(r.pos, 1);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(b);
	ck_assert_uint_eq(r.pos, 1);	/* the value was in the header */
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 3), 0);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(!b);
	ck_assert_uint_eq(r.pos, 2);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 100), 0);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(b);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 99), 0);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

/* Every compact type code maps to its proto_type, and skips to the next field. */
START_TEST(read_type_mapping)
{
	static const uint8_t want[] = {
		PROTO_T_BOOL, PROTO_T_BOOL, PROTO_T_BYTE, PROTO_T_I16, PROTO_T_I32,
		PROTO_T_I64, PROTO_T_DOUBLE, PROTO_T_STRING, PROTO_T_LIST, PROTO_T_SET,
		PROTO_T_MAP, PROTO_T_STRUCT, PROTO_T_UUID,
	};
	struct proto_reader	r;
	struct hexin		in;

	reader_hex(&r, &in, "11 12 13 7f 14 02 15 02 16 02 17 000000000000f03f 18 00"
	    " 19 05 1a 05 1b 00 1c 00 1d " UUID_HEX " 00",
	    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	for (size_t i = 0; i < sizeof want; i++) {
		ck_assert_msg(codec_expect_field(C, &r, want[i], (int16_t)(i + 1)) == 0,
		    "field %zu: %s", i + 1, status_name(r.status));
		ck_assert_msg(C->skip(&r, want[i]) == 0, "skip field %zu: %s %s", i + 1,
		    status_name(r.status), r.error ? r.error : "");
	}
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

START_TEST(read_container_headers)
{
	struct proto_reader	r;
	struct hexin		in;
	uint8_t			kt, vt;
	uint32_t		n;

	reader_hex(&r, &in, "35  e8  f8 0f  f6 ac02  2c  03  1d", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_I32);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_STRING);
	ck_assert_uint_eq(n, 14);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_set_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_STRING);
	ck_assert_uint_eq(n, 15);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_I64);
	ck_assert_uint_eq(n, 300);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_STRUCT);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_set_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_BYTE);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_UUID);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);

	reader_hex(&r, &in, "02 85  00  c801 4c  01 79  01 ba", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_map_begin(&r, &kt, &vt, &n), 0);
	ck_assert_uint_eq(kt, PROTO_T_STRING);
	ck_assert_uint_eq(vt, PROTO_T_I32);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_map_begin(&r, &kt, &vt, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(r.pos, 3);	/* an empty map is one byte */
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_map_begin(&r, &kt, &vt, &n), 0);
	ck_assert_uint_eq(kt, PROTO_T_I16);
	ck_assert_uint_eq(vt, PROTO_T_STRUCT);
	ck_assert_uint_eq(n, 200);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_map_begin(&r, &kt, &vt, &n), 0);
	ck_assert_uint_eq(kt, PROTO_T_DOUBLE);
	ck_assert_uint_eq(vt, PROTO_T_LIST);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_int_eq(C->read_map_begin(&r, &kt, &vt, &n), 0);
	ck_assert_uint_eq(kt, PROTO_T_MAP);
	ck_assert_uint_eq(vt, PROTO_T_SET);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
	ck_assert_uint_eq(r.depth, 0);
}
END_TEST

/* The spec's list element type for bool is 2; false is 0 (old text) or 2. */
START_TEST(read_list_of_bool)
{
	struct proto_reader	r;
	struct hexin		in;
	uint8_t			vt;
	uint32_t		n;
	bool			b;

	reader_hex(&r, &in, "42 01 00 01 02", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_BOOL);
	ck_assert_uint_eq(n, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(C->read_bool(&r, &b), 0);
		ck_assert_msg(b == (i % 2 == 0), "element %d", i);
	}
	ck_assert_int_eq(C->read_container_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

/* Java and C++ send list<bool> with element type 1 (BOOLEAN_TRUE). */
START_TEST(read_list_of_bool_type_1_interop)
{
	struct proto_reader	r;
	struct hexin		in;
	uint8_t			vt;
	uint32_t		n;
	bool			b;

	reader_hex(&r, &in, "21 00 01", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_BOOL);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(C->read_bool(&r, &b), 0);
	ck_assert(b);
	ck_assert_int_eq(C->read_container_end(&r), 0);
	reader_hex(&r, &in, "11 00 ee", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->skip(&r, PROTO_T_LIST), 0);
	ck_assert_uint_eq(r.pos, 2);
}
END_TEST

/*
 * A value cut short deep inside others: the need is more than is here and
 * no more than the whole value (its enclosing values' rest is not counted:
 * an unframed message that arrives in pieces is scanned, see scan.h).
 */
START_TEST(need_is_a_lower_bound)
{
	struct proto_reader	r;
	struct hexin		in;
	static const struct {
		const char	*hex;
		uint8_t		 type;
		size_t		 whole;	/* the complete value's length */
	} cases[] = {
		{ "fc e807 00 00", PROTO_T_LIST, 1003 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reader_hex(&r, &in, cases[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_fails(&r, C->skip(&r, cases[i].type), PROTO_NEED_MORE);
		ck_assert_msg(r.need > in.len && r.need <= cases[i].whole,
		    "%s: need %zu of %zu", cases[i].hex, r.need, cases[i].whole);
	}
}
END_TEST

START_TEST(read_need_more)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	uint8_t			t, kt;
	uint32_t		n;
	int32_t			i32, seqid;
	int64_t			i64;
	double			d;

	reader_hex(&r, &in, "05 6162", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_string(&r, &s), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 6);

	reader_hex(&r, &in, "0000f03f", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_double(&r, &d), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 8);

	reader_hex(&r, &in, "02 80", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_fails(&r, C->read_i32(&r, &i32), PROTO_NEED_MORE);
	ck_assert_uint_gt(r.need, 2);
	ck_assert_uint_le(r.need, 6);

	reader_hex(&r, &in, "ffffffffffff", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_i64(&r, &i64), PROTO_NEED_MORE);
	ck_assert_uint_gt(r.need, 6);
	ck_assert_uint_le(r.need, 10);

	reader_hex(&r, &in, "82", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_message_begin(&r, &s, &t, &seqid), PROTO_NEED_MORE);
	ck_assert_uint_gt(r.need, 1);
	reader_hex(&r, &in, "82 21 01 03 6164", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_message_begin(&r, &s, &t, &seqid), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 7);

	reader_hex(&r, &in, "f5", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_list_begin(&r, &t, &n), PROTO_NEED_MORE);
	ck_assert_uint_gt(r.need, 1);
	reader_hex(&r, &in, "02", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_map_begin(&r, &kt, &t, &n), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 2);

	reader_hex(&r, &in, "1c 15", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->skip(&r, PROTO_T_STRUCT), PROTO_NEED_MORE);
	ck_assert_uint_gt(r.need, 2);
}
END_TEST

START_TEST(read_too_big)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	uint8_t			t, kt;
	uint32_t		n;
	int32_t			seqid;

	/* refused from the length alone, without waiting for the bytes */
	reader_hex(&r, &in, "64", 50, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_string(&r, &s), PROTO_TOO_BIG);
	reader_hex(&r, &in, "18 64 61", 50, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->skip(&r, PROTO_T_STRUCT), PROTO_TOO_BIG);
	reader_hex(&r, &in, "03 616263", 3, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_string(&r, &s), 0);

	reader_hex(&r, &in, "f5 e807", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_list_begin(&r, &t, &n), PROTO_TOO_BIG);
	reader_hex(&r, &in, "f3 e807", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->skip(&r, PROTO_T_SET), PROTO_TOO_BIG);
	reader_hex(&r, &in, "e807 55", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_map_begin(&r, &kt, &t, &n), PROTO_TOO_BIG);
	reader_hex(&r, &in, "ffffffff07 33", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->skip(&r, PROTO_T_MAP), PROTO_TOO_BIG);

	reader_hex(&r, &in, "82 21 01 e807", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_message_begin(&r, &s, &t, &seqid), PROTO_TOO_BIG);
}
END_TEST

/* Lengths and sizes past INT32_MAX are negative i32s: never NEED_MORE. */
START_TEST(read_negative_sizes)
{
	static const struct {
		uint8_t		 type;
		const char	*hex;
	} cases[] = {
		{ PROTO_T_STRING, "ffffffff0f 61" },
		{ PROTO_T_STRING, "8080808008 61" },
		{ PROTO_T_LIST, "f5 ffffffff0f 02" },
		{ PROTO_T_SET, "f5 8080808008 02" },
		{ PROTO_T_MAP, "ffffffff0f 55 02 02" },
	};
	struct proto_reader	r;
	struct hexin		in;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reader_hex(&r, &in, cases[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_int_eq(C->skip(&r, cases[i].type), -1);
		ck_assert_msg(r.status == PROTO_BAD || r.status == PROTO_TOO_BIG,
		    "%s: status %s, want BAD or TOO_BIG", cases[i].hex,
		    status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
}
END_TEST

START_TEST(read_status_sticky)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	int32_t			i32;

	reader_hex(&r, &in, "80 01 02 03", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	proto_reader_init(&r, in.data, 1, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_i32(&r, &i32), PROTO_NEED_MORE);
	r.len = in.len;
	codec_check_sticky(C, &r, PROTO_NEED_MORE);

	reader_hex(&r, &in, "80 80 80 80 80 00 01 02", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_i32(&r, &i32), PROTO_BAD);
	codec_check_sticky(C, &r, PROTO_BAD);

	reader_hex(&r, &in, "64 01 02 03 04 05", 16, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, C->read_string(&r, &s), PROTO_TOO_BIG);
	codec_check_sticky(C, &r, PROTO_TOO_BIG);
}
END_TEST

/* --- skipping ------------------------------------------------------------ */

START_TEST(skip_every_type)
{
	static const struct {
		uint8_t		 type;
		const char	*hex;	/* the value, then one byte that must stay */
	} cases[] = {
		{ PROTO_T_BYTE, "80 ee" },
		{ PROTO_T_I16, "feff03 ee" },
		{ PROTO_T_I32, "ffffffff0f ee" },
		{ PROTO_T_I32, "00 ee" },
		{ PROTO_T_I64, "ffffffffffffffffff01 ee" },
		{ PROTO_T_DOUBLE, "000000000000f03f ee" },
		{ PROTO_T_STRING, "03 616263 ee" },
		{ PROTO_T_STRING, "00 ee" },
		{ PROTO_T_UUID, UUID_HEX " ee" },
		{ PROTO_T_STRUCT, "00 ee" },
		{ PROTO_T_STRUCT, FIELDS_HEX " ee" },
		{ PROTO_T_STRUCT, "11 22 13 7f 1d " UUID_HEX " 1b 00 00 ee" },
		{ PROTO_T_LIST, "35 02 04 06 ee" },
		{ PROTO_T_LIST, "f5 0f 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ee" },
		{ PROTO_T_LIST, "28 01 61 00 ee" },
		{ PROTO_T_LIST, "2c 00 15 02 00 ee" },
		{ PROTO_T_LIST, "29 15 02 05 ee" },
		{ PROTO_T_LIST, "22 01 00 ee" },
		{ PROTO_T_LIST, "17 000000000000f03f ee" },
		{ PROTO_T_LIST, "1d " UUID_HEX " ee" },
		{ PROTO_T_SET, "16 02 ee" },
		{ PROTO_T_SET, "0a ee" },
		{ PROTO_T_MAP, "00 ee" },
		{ PROTO_T_MAP, "01 85 01 6b 0e ee" },
		{ PROTO_T_MAP, "01 5b 02 01 89 01 61 15 12 ee" },
		{ PROTO_T_MAP, "01 7c 000000000000f03f 12 00 ee" },
		{ PROTO_T_MAP, "01 23 01 7f ee" },
	};
	struct proto_reader	r;
	struct hexin		in;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reader_hex(&r, &in, cases[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(C->skip(&r, cases[i].type) == 0, "case %zu (%s): %s %s", i,
		    cases[i].hex, status_name(r.status), r.error ? r.error : "");
		ck_assert_msg(r.pos == in.len - 1, "case %zu (%s): pos %zu, want %zu", i,
		    cases[i].hex, r.pos, in.len - 1);
		ck_assert_uint_eq(r.depth, 0);
	}
}
END_TEST

/* A bool field's value is in its header: skipping it takes no bytes. */
START_TEST(skip_bool_field)
{
	struct proto_reader	r;
	struct hexin		in;
	int32_t			i32;

	reader_hex(&r, &in, "11 22 15 0e 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 1), 0);
	ck_assert_int_eq(C->skip(&r, PROTO_T_BOOL), 0);
	ck_assert_uint_eq(r.pos, 1);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_BOOL, 3), 0);
	ck_assert_int_eq(C->skip(&r, PROTO_T_BOOL), 0);
	ck_assert_uint_eq(r.pos, 2);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, 4), 0);
	ck_assert_int_eq(C->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, 7);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

START_TEST(skip_unknown_type)
{
	static const uint8_t bad_types[] = { 0, 1, 5, 7, 9, 17, 20, 0x63, 0x80, 0xff };
	static const struct {
		uint8_t		 type;
		const char	*hex;
	} bad[] = {
		{ PROTO_T_STRUCT, "1e 00 00" },		/* field type 14 */
		{ PROTO_T_STRUCT, "1f 00 00" },		/* field type 15 */
		{ PROTO_T_STRUCT, "0e 02 00 00" },	/* long form, type 14 */
		{ PROTO_T_STRUCT, "1c 1e 00 00 00" },	/* deeper */
		{ PROTO_T_LIST, "1e 00 00" },		/* element type 14 */
		{ PROTO_T_LIST, "10 00 00" },		/* element type 0 */
		{ PROTO_T_SET, "1f 00 00" },
		{ PROTO_T_MAP, "01 e5 00 00" },		/* key type 14 */
		{ PROTO_T_MAP, "01 50 00 00" },		/* value type 0 */
	};
	struct proto_reader	r;
	struct hexin		in;

	for (size_t i = 0; i < sizeof bad_types; i++) {
		reader_hex(&r, &in, "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
		    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(C->skip(&r, bad_types[i]) == -1 && r.status == PROTO_BAD,
		    "skip(%u): status %s", bad_types[i], status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		reader_hex(&r, &in, bad[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(C->skip(&r, bad[i].type) == -1 && r.status == PROTO_BAD,
		    "%s: status %s", bad[i].hex, status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
}
END_TEST

/* 100000 nested values with max_depth 32: BAD, no crash, no NEED_MORE. */
START_TEST(skip_deep_lists)
{
	codec_check_nested_skip(C, PROTO_T_LIST, "19", "05", "", CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_sets)
{
	codec_check_nested_skip(C, PROTO_T_SET, "1a", "05", "", CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_structs)
{
	codec_check_nested_skip(C, PROTO_T_STRUCT, "1c", "00", "00", CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_maps)
{
	codec_check_nested_skip(C, PROTO_T_MAP, "01 5b 00", "00", "", CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_mixed)
{
	/* struct { 1: list<struct { 1: list<...> }> } */
	codec_check_nested_skip(C, PROTO_T_STRUCT, "19 1c", "00", "00", CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_nesting_within_limit)
{
	codec_check_nested_skip(C, PROTO_T_LIST, "19", "05", "", CODEC_MAX_DEPTH / 2, true);
	codec_check_nested_skip(C, PROTO_T_STRUCT, "1c", "00", "00", CODEC_MAX_DEPTH / 2, true);
	codec_check_nested_skip(C, PROTO_T_MAP, "01 5b 00", "00", "", CODEC_MAX_DEPTH / 2, true);
}
END_TEST

/* "Nesting at most max_depth deep": max_depth levels pass, one more fails. */
START_TEST(skip_depth_limit_exact)
{
	codec_check_nested_skip(C, PROTO_T_LIST, "19", "05", "", CODEC_MAX_DEPTH - 1, true);
	codec_check_nested_skip(C, PROTO_T_LIST, "19", "05", "", CODEC_MAX_DEPTH, false);
	codec_check_nested_skip(C, PROTO_T_STRUCT, "1c", "00", "00", CODEC_MAX_DEPTH - 1, true);
	codec_check_nested_skip(C, PROTO_T_STRUCT, "1c", "00", "00", CODEC_MAX_DEPTH, false);
}
END_TEST

/* --- whole messages ---------------------------------------------------- */

START_TEST(roundtrip_sample)
{
	codec_check_roundtrip(C);
}
END_TEST

START_TEST(roundtrip_truncated)
{
	codec_check_truncation(C);
}
END_TEST

START_TEST(roundtrip_write_limit)
{
	codec_check_write_limit(C);
}
END_TEST

/* calculate(1, Work{1, 2, MULTIPLY}) as the spec lays it out, both ways. */
START_TEST(handwritten_call)
{
	static const char call[] =
	    "82 21 05 09 63616c63756c617465"
	    " 15 02"
	    " 1c  15 02  15 04  15 06  00"
	    " 00";
	struct wfix		 f;
	struct proto_reader	 r;
	struct hexin		 in;
	struct proto_string	 name = pstr("calculate");
	uint8_t			 type;
	int32_t			 seqid, v;

	wfix_init(&f, 1024);
	C->write_message_begin(&f.w, &name, PROTO_CALL, 5);
	C->write_struct_begin(&f.w);
	C->write_field_begin(&f.w, PROTO_T_I32, 1);
	C->write_i32(&f.w, 1);
	C->write_field_begin(&f.w, PROTO_T_STRUCT, 2);
	C->write_struct_begin(&f.w);
	for (int16_t i = 1; i <= 3; i++) {
		C->write_field_begin(&f.w, PROTO_T_I32, i);
		C->write_i32(&f.w, i);
	}
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	C->write_field_stop(&f.w);
	C->write_struct_end(&f.w);
	ck_assert(!f.w.failed);
	ck_assert_hex(f.buf.data, f.buf.len, call);
	buf_free(&f.buf);

	reader_hex(&r, &in, call, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(C->read_message_begin(&r, &name, &type, &seqid), 0);
	ck_assert(pstr_eq(&name, "calculate"));
	ck_assert_uint_eq(type, PROTO_CALL);
	ck_assert_int_eq(seqid, 5);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, 1), 0);
	ck_assert_int_eq(C->read_i32(&r, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STRUCT, 2), 0);
	ck_assert_int_eq(C->read_struct_begin(&r), 0);
	for (int16_t i = 1; i <= 3; i++) {
		ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_I32, i), 0);
		ck_assert_int_eq(C->read_i32(&r, &v), 0);
		ck_assert_int_eq(v, i);
	}
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_int_eq(codec_expect_field(C, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(C->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

static Suite *
compact_suite(void)
{
	Suite	*s = suite_create("compact");
	TCase	*tc;

	tc = tcase_create("write");
	tcase_add_test(tc, write_varint_ints);
	tcase_add_test(tc, write_byte_bool_double);
	tcase_add_test(tc, write_string);
	tcase_add_test(tc, write_message_header);
	tcase_add_test(tc, write_field_headers);
	tcase_add_test(tc, write_field_id_zero);
	tcase_add_test(tc, write_field_delta_from_negative);
	tcase_add_test(tc, write_list_set_headers);
	tcase_add_test(tc, write_list_of_bool);
	tcase_add_test(tc, write_map_headers);
	tcase_add_test(tc, write_buffer_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, read_varint_ints);
	tcase_add_test(tc, read_varint_too_long);
	tcase_add_test(tc, read_byte_bool_double_string);
	tcase_add_test(tc, read_message_header);
	tcase_add_test(tc, read_message_bad);
	tcase_add_test(tc, read_field_headers);
	tcase_add_test(tc, read_bool_fields);
	tcase_add_test(tc, read_type_mapping);
	tcase_add_test(tc, read_container_headers);
	tcase_add_test(tc, read_list_of_bool);
	tcase_add_test(tc, read_list_of_bool_type_1_interop);
	tcase_add_test(tc, read_need_more);
	tcase_add_test(tc, need_is_a_lower_bound);
	tcase_add_test(tc, read_too_big);
	tcase_add_test(tc, read_negative_sizes);
	tcase_add_test(tc, read_status_sticky);
	suite_add_tcase(s, tc);

	tc = tcase_create("skip");
	tcase_add_test(tc, skip_every_type);
	tcase_add_test(tc, skip_bool_field);
	tcase_add_test(tc, skip_unknown_type);
	tcase_add_test(tc, skip_deep_lists);
	tcase_add_test(tc, skip_deep_sets);
	tcase_add_test(tc, skip_deep_structs);
	tcase_add_test(tc, skip_deep_maps);
	tcase_add_test(tc, skip_deep_mixed);
	tcase_add_test(tc, skip_nesting_within_limit);
	tcase_add_test(tc, skip_depth_limit_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("message");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, roundtrip_sample);
	tcase_add_test(tc, roundtrip_truncated);
	tcase_add_test(tc, roundtrip_write_limit);
	tcase_add_test(tc, handwritten_call);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(compact_suite());
}
