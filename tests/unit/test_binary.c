/*
 * test_binary: TBinaryProtocol against doc/specs/thrift-binary-protocol.md —
 * big-endian fixed-width values, i32 length prefixes, strict and old
 * message headers, limits, skipping and nesting.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"

static const struct proto_ops *const B = &proto_binary;

/* --- writing ------------------------------------------------------------- */

START_TEST(write_integers)
{
	struct wfix f;

	wfix_init(&f, 1024);
	B->write_byte(&f.w, 0x7f);
	B->write_byte(&f.w, -1);
	B->write_byte(&f.w, -128);
	ck_assert_hex(f.buf.data, f.buf.len, "7f ff 80");
	f.buf.len = 0;
	B->write_i16(&f.w, 0x0102);
	B->write_i16(&f.w, -2);
	B->write_i16(&f.w, INT16_MIN);
	ck_assert_hex(f.buf.data, f.buf.len, "0102 fffe 8000");
	f.buf.len = 0;
	B->write_i32(&f.w, 1);
	B->write_i32(&f.w, -1);
	B->write_i32(&f.w, INT32_MIN);
	B->write_i32(&f.w, 0x01020304);
	ck_assert_hex(f.buf.data, f.buf.len, "00000001 ffffffff 80000000 01020304");
	f.buf.len = 0;
	B->write_i64(&f.w, INT64_C(0x0102030405060708));
	B->write_i64(&f.w, -2);
	B->write_i64(&f.w, INT64_MIN);
	ck_assert_hex(f.buf.data, f.buf.len,
	    "0102030405060708 fffffffffffffffe 8000000000000000");
	ck_assert(!f.w.failed);
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_bool_double)
{
	struct wfix f;

	wfix_init(&f, 1024);
	B->write_bool(&f.w, true);
	B->write_bool(&f.w, false);
	ck_assert_hex(f.buf.data, f.buf.len, "01 00");
	f.buf.len = 0;
	/* IEEE 754 bits, big-endian */
	B->write_double(&f.w, 1.0);
	B->write_double(&f.w, -2.5);
	B->write_double(&f.w, 0.1);
	ck_assert_hex(f.buf.data, f.buf.len,
	    "3ff0000000000000 c004000000000000 3fb999999999999a");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_string)
{
	struct wfix	f;
	char		big[300];

	wfix_init(&f, 1024);
	B->write_string(&f.w, "abc", 3);
	B->write_string(&f.w, "", 0);
	B->write_string(&f.w, "\xc3\xa9", 2);
	ck_assert_hex(f.buf.data, f.buf.len, "00000003 616263 00000000 00000002 c3a9");
	f.buf.len = 0;
	memset(big, 'z', sizeof big);
	B->write_string(&f.w, big, sizeof big);
	ck_assert_uint_eq(f.buf.len, 4 + sizeof big);
	ck_assert_hex(f.buf.data, 6, "0000012c 7a7a");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_message_header)
{
	struct wfix		f;
	struct proto_string	name = pstr("add");

	/* always strict: 0x8001, unused byte, type; then name and seqid */
	wfix_init(&f, 1024);
	ck_assert_int_eq(B->write_message_begin(&f.w, &name, PROTO_CALL, 1), 0);
	ck_assert_hex(f.buf.data, f.buf.len, "80010001 00000003 616464 00000001");
	f.buf.len = 0;
	B->write_message_begin(&f.w, &name, PROTO_REPLY, -1);
	ck_assert_hex(f.buf.data, f.buf.len, "80010002 00000003 616464 ffffffff");
	f.buf.len = 0;
	name = pstr("Calculator:zip");
	B->write_message_begin(&f.w, &name, PROTO_ONEWAY, 0x7fffffff);
	ck_assert_hex(f.buf.data, f.buf.len,
	    "80010004 0000000e 43616c63756c61746f723a7a6970 7fffffff");
	f.buf.len = 0;
	name = pstr("x");
	B->write_message_begin(&f.w, &name, PROTO_EXCEPTION, 256);
	ck_assert_hex(f.buf.data, f.buf.len, "80010003 00000001 78 00000100");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_field_headers)
{
	struct wfix f;

	wfix_init(&f, 1024);
	B->write_struct_begin(&f.w);
	B->write_field_begin(&f.w, PROTO_T_I32, 1);
	B->write_i32(&f.w, 5);
	B->write_field_begin(&f.w, PROTO_T_STRING, -1);
	B->write_string(&f.w, "", 0);
	B->write_field_begin(&f.w, PROTO_T_BOOL, 0x1234);
	B->write_bool(&f.w, true);
	B->write_field_begin(&f.w, PROTO_T_STRUCT, 0);
	B->write_struct_begin(&f.w);
	B->write_field_stop(&f.w);
	B->write_struct_end(&f.w);
	B->write_field_stop(&f.w);
	B->write_struct_end(&f.w);
	/* struct begin/end write nothing; field = type, BE i16 id; stop = 00 */
	ck_assert_hex(f.buf.data, f.buf.len,
	    "08 0001 00000005  0b ffff 00000000  02 1234 01  0c 0000 00  00");
	ck_assert(!f.w.failed);
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_container_headers)
{
	struct wfix f;

	wfix_init(&f, 1024);
	B->write_list_begin(&f.w, PROTO_T_I32, 3);
	ck_assert_hex(f.buf.data, f.buf.len, "08 00000003");
	f.buf.len = 0;
	B->write_set_begin(&f.w, PROTO_T_STRING, 0);
	ck_assert_hex(f.buf.data, f.buf.len, "0b 00000000");
	f.buf.len = 0;
	B->write_map_begin(&f.w, PROTO_T_STRING, PROTO_T_I32, 2);
	ck_assert_hex(f.buf.data, f.buf.len, "0b 08 00000002");
	f.buf.len = 0;
	B->write_map_begin(&f.w, PROTO_T_I32, PROTO_T_I32, 0);
	ck_assert_hex(f.buf.data, f.buf.len, "08 08 00000000");
	f.buf.len = 0;
	B->write_list_begin(&f.w, PROTO_T_BOOL, 0x10000);
	ck_assert_hex(f.buf.data, f.buf.len, "02 00010000");
	buf_free(&f.buf);
}
END_TEST

START_TEST(write_buffer_limit)
{
	struct wfix f;

	wfix_init(&f, 6);
	ck_assert_int_eq(B->write_i32(&f.w, 7), 0);
	ck_assert(!f.w.failed);
	ck_assert_int_eq(B->write_i32(&f.w, 8), -1);
	ck_assert(f.w.failed);
	ck_assert_uint_le(f.buf.len, 6);
	/* sticky: even a write that would fit now fails */
	ck_assert_int_eq(B->write_byte(&f.w, 1), -1);
	ck_assert_int_eq(B->write_field_stop(&f.w), -1);
	ck_assert(f.w.failed);
	ck_assert_uint_le(f.buf.len, 6);
	ck_assert_hex(f.buf.data, 4, "00000007");
	buf_free(&f.buf);

	wfix_init(&f, 10);
	ck_assert_int_eq(B->write_string(&f.w, "0123456789", 10), -1);
	ck_assert(f.w.failed);
	ck_assert_uint_le(f.buf.len, 10);
	buf_free(&f.buf);
}
END_TEST

/* --- reading ------------------------------------------------------------- */

START_TEST(read_integers)
{
	struct proto_reader	r;
	struct hexin		in;
	int8_t			i8;
	int16_t			i16;
	int32_t			i32;
	int64_t			i64;

	reader_hex(&r, &in, "7f 80 ff  0102 fffe 8000  00000001 ffffffff 80000000"
	    " 0102030405060708 fffffffffffffffe 8000000000000000",
	    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_byte(&r, &i8), 0);
	ck_assert_int_eq(i8, 127);
	ck_assert_int_eq(B->read_byte(&r, &i8), 0);
	ck_assert_int_eq(i8, -128);
	ck_assert_int_eq(B->read_byte(&r, &i8), 0);
	ck_assert_int_eq(i8, -1);
	ck_assert_int_eq(B->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, 0x0102);
	ck_assert_int_eq(B->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, -2);
	ck_assert_int_eq(B->read_i16(&r, &i16), 0);
	ck_assert_int_eq(i16, INT16_MIN);
	ck_assert_int_eq(B->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, 1);
	ck_assert_int_eq(B->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, -1);
	ck_assert_int_eq(B->read_i32(&r, &i32), 0);
	ck_assert_int_eq(i32, INT32_MIN);
	ck_assert_int_eq(B->read_i64(&r, &i64), 0);
	ck_assert(i64 == INT64_C(0x0102030405060708));
	ck_assert_int_eq(B->read_i64(&r, &i64), 0);
	ck_assert(i64 == -2);
	ck_assert_int_eq(B->read_i64(&r, &i64), 0);
	ck_assert(i64 == INT64_MIN);
	ck_assert_uint_eq(r.pos, in.len);
	ck_assert_status(r.status, PROTO_OK);
}
END_TEST

START_TEST(read_bool_double_string)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	double			d;
	bool			b;

	reader_hex(&r, &in, "01 00 3ff0000000000000 c004000000000000"
	    " 00000003 616263 00000000 00000002 c3a9",
	    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_bool(&r, &b), 0);
	ck_assert(b);
	ck_assert_int_eq(B->read_bool(&r, &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(B->read_double(&r, &d), 0);
	ck_assert(double_same(d, 1.0));
	ck_assert_int_eq(B->read_double(&r, &d), 0);
	ck_assert(double_same(d, -2.5));
	ck_assert_int_eq(B->read_string(&r, &s), 0);
	ck_assert(pstr_eq(&s, "abc"));
	/* strings point into the input */
	ck_assert_ptr_eq(s.ptr, in.data + 22);
	ck_assert_int_eq(B->read_string(&r, &s), 0);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(B->read_string(&r, &s), 0);
	ck_assert(pstr_eq(&s, "\xc3\xa9"));
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

START_TEST(read_message_strict)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	name;
	uint8_t			type;
	int32_t			seqid;

	reader_hex(&r, &in, "80010001 00000003 616464 0000002a", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_message_begin(&r, &name, &type, &seqid), 0);
	ck_assert(pstr_eq(&name, "add"));
	ck_assert_uint_eq(type, PROTO_CALL);
	ck_assert_int_eq(seqid, 42);
	ck_assert_uint_eq(r.pos, in.len);

	reader_hex(&r, &in, "80010004 00000000 ffffffff", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_message_begin(&r, &name, &type, &seqid), 0);
	ck_assert_uint_eq(name.len, 0);
	ck_assert_uint_eq(type, PROTO_ONEWAY);
	ck_assert_int_eq(seqid, -1);
	ck_assert_uint_eq(r.pos, in.len);

	reader_hex(&r, &in, "80010002 00000003 616464 00000007", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_message_begin(&r, &name, &type, &seqid), 0);
	ck_assert_uint_eq(type, PROTO_REPLY);
	ck_assert_int_eq(seqid, 7);
}
END_TEST

START_TEST(read_message_old)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	name;
	uint8_t			type;
	int32_t			seqid;

	/* name length, name, i8 type, i32 seqid */
	reader_hex(&r, &in, "00000003 616464 01 0000002a  0c", CODEC_MAX_SIZE,
	    CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_message_begin(&r, &name, &type, &seqid), 0);
	ck_assert(pstr_eq(&name, "add"));
	ck_assert_uint_eq(type, PROTO_CALL);
	ck_assert_int_eq(seqid, 42);
	ck_assert_uint_eq(r.pos, in.len - 1);

	reader_hex(&r, &in, "00000003 7a6970 04 80000000", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_message_begin(&r, &name, &type, &seqid), 0);
	ck_assert(pstr_eq(&name, "zip"));
	ck_assert_uint_eq(type, PROTO_ONEWAY);
	ck_assert_int_eq(seqid, INT32_MIN);

	/* cut short after the name: need the type and seqid too */
	reader_hex(&r, &in, "00000003 616464 01 0000", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_message_begin(&r, &name, &type, &seqid),
	    PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 12);
}
END_TEST

START_TEST(read_message_bad_version)
{
	static const char *const bad[] = {
		"80020001 00000003 616464 00000001",	/* version 2 */
		"80000001 00000003 616464 00000001",	/* version 0 */
		"ffff0001 00000003 616464 00000001",
		"81010001 00000003 616464 00000001",
	};
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	name;
	uint8_t			type;
	int32_t			seqid;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		reader_hex(&r, &in, bad[i], CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(B->read_message_begin(&r, &name, &type, &seqid) == -1 &&
		    r.status == PROTO_BAD, "%s: status %s", bad[i], status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
}
END_TEST

START_TEST(read_field_and_container_headers)
{
	struct proto_reader	r;
	struct hexin		in;
	uint8_t			t, kt, vt;
	int16_t			id;
	uint32_t		n;

	reader_hex(&r, &in, "08 0001  0b ffff  0c 7fff  00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_struct_begin(&r), 0);
	ck_assert_int_eq(B->read_field_begin(&r, &t, &id), 0);
	ck_assert_uint_eq(t, PROTO_T_I32);
	ck_assert_int_eq(id, 1);
	ck_assert_int_eq(B->read_field_begin(&r, &t, &id), 0);
	ck_assert_uint_eq(t, PROTO_T_STRING);
	ck_assert_int_eq(id, -1);
	ck_assert_int_eq(B->read_field_begin(&r, &t, &id), 0);
	ck_assert_uint_eq(t, PROTO_T_STRUCT);
	ck_assert_int_eq(id, 32767);
	ck_assert_int_eq(B->read_field_begin(&r, &t, &id), 0);
	ck_assert_uint_eq(t, PROTO_T_STOP);
	ck_assert_int_eq(B->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);

	reader_hex(&r, &in, "08 00000003  0b 00000000  0b 08 00000002  0d 0f 00000000",
	    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_list_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_I32);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(B->read_container_end(&r), 0);
	ck_assert_int_eq(B->read_set_begin(&r, &vt, &n), 0);
	ck_assert_uint_eq(vt, PROTO_T_STRING);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(B->read_container_end(&r), 0);
	ck_assert_int_eq(B->read_map_begin(&r, &kt, &vt, &n), 0);
	ck_assert_uint_eq(kt, PROTO_T_STRING);
	ck_assert_uint_eq(vt, PROTO_T_I32);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(B->read_container_end(&r), 0);
	ck_assert_int_eq(B->read_map_begin(&r, &kt, &vt, &n), 0);
	ck_assert_uint_eq(kt, PROTO_T_MAP);
	ck_assert_uint_eq(vt, PROTO_T_LIST);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(B->read_container_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
	ck_assert_uint_eq(r.depth, 0);
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
		{ "0c 000003e8 00 00", PROTO_T_LIST, 1005 },
		{ "0f 0001 0b 00000003 00000001 61", PROTO_T_STRUCT, 22 },
		{ "08 0f 00000002 00000001 08 00000003 00000007", PROTO_T_MAP, 36 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reader_hex(&r, &in, cases[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_fails(&r, B->skip(&r, cases[i].type), PROTO_NEED_MORE);
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
	struct proto_string	name;
	uint8_t			type;
	int32_t			i32, seqid;
	int64_t			i64;
	double			d;

	reader_hex(&r, &in, "0000", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_i32(&r, &i32), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 4);

	reader_hex(&r, &in, "00000001 00000000 000000", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_i32(&r, &i32), 0);
	ck_assert_fails(&r, B->read_i64(&r, &i64), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 12);

	reader_hex(&r, &in, "3ff0", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_double(&r, &d), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 8);

	/* the length is there, the bytes are not: need all of them */
	reader_hex(&r, &in, "00000005 6162", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_string(&r, &s), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 9);

	reader_hex(&r, &in, "000000", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_string(&r, &s), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 4);

	reader_hex(&r, &in, "80010001 00000003 6164", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_message_begin(&r, &name, &type, &seqid), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 11);

	reader_hex(&r, &in, "", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_message_begin(&r, &name, &type, &seqid), PROTO_NEED_MORE);
	ck_assert_uint_ge(r.need, 1);

	/* skipping a list of i32 needs all of its elements */
	reader_hex(&r, &in, "08 00000003 00000001 00000002", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_LIST), PROTO_NEED_MORE);
	ck_assert_uint_gt(r.need, in.len);
	ck_assert_uint_le(r.need, 17);
}
END_TEST

START_TEST(read_status_sticky)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	int32_t			i32;

	reader_hex(&r, &in, "0000 01020304 05", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	proto_reader_init(&r, in.data, 2, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_i32(&r, &i32), PROTO_NEED_MORE);
	ck_assert_uint_eq(r.need, 4);
	/* pretend more arrived in the same buffer: still failed */
	r.len = in.len;
	codec_check_sticky(B, &r, PROTO_NEED_MORE);

	reader_hex(&r, &in, "ffffffff 01020304 05", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_string(&r, &s), PROTO_BAD);
	codec_check_sticky(B, &r, PROTO_BAD);

	reader_hex(&r, &in, "00001000 01020304 05", 16, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_string(&r, &s), PROTO_TOO_BIG);
	codec_check_sticky(B, &r, PROTO_TOO_BIG);
}
END_TEST

START_TEST(read_negative_sizes)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s;
	uint8_t			kt, vt;
	uint32_t		n;

	reader_hex(&r, &in, "ffffffff 616263", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_string(&r, &s), PROTO_BAD);
	reader_hex(&r, &in, "80000000 616263", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_STRING), PROTO_BAD);

	reader_hex(&r, &in, "08 ffffffff 00000001", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_list_begin(&r, &vt, &n), PROTO_BAD);
	reader_hex(&r, &in, "08 fffffffe 00000001", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_LIST), PROTO_BAD);
	reader_hex(&r, &in, "0b 80000000 00000001", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_set_begin(&r, &vt, &n), PROTO_BAD);
	reader_hex(&r, &in, "0b ffffffff 00000001", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_SET), PROTO_BAD);
	reader_hex(&r, &in, "08 08 ffffffff 00000001", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_map_begin(&r, &kt, &vt, &n), PROTO_BAD);
	reader_hex(&r, &in, "08 08 ffffffff 00000001", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_MAP), PROTO_BAD);

	/* inside a struct being skipped */
	reader_hex(&r, &in, "0b 0001 ffffffff 00", CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_STRUCT), PROTO_BAD);
}
END_TEST

START_TEST(read_too_big)
{
	struct proto_reader	r;
	struct hexin		in;
	struct proto_string	s, name;
	uint8_t			kt, vt, type;
	uint32_t		n;
	int32_t			seqid;

	/* refused from the length alone, without waiting for the bytes */
	reader_hex(&r, &in, "00000064", 50, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_string(&r, &s), PROTO_TOO_BIG);
	reader_hex(&r, &in, "7fffffff 61", 50, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_STRING), PROTO_TOO_BIG);
	/* exactly max_size is fine */
	reader_hex(&r, &in, "00000003 616263", 3, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_string(&r, &s), 0);
	ck_assert(pstr_eq(&s, "abc"));

	reader_hex(&r, &in, "08 000003e8", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_list_begin(&r, &vt, &n), PROTO_TOO_BIG);
	reader_hex(&r, &in, "03 000003e8", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_LIST), PROTO_TOO_BIG);
	reader_hex(&r, &in, "0c 7fffffff", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_set_begin(&r, &vt, &n), PROTO_TOO_BIG);
	reader_hex(&r, &in, "03 03 000003e8", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_map_begin(&r, &kt, &vt, &n), PROTO_TOO_BIG);
	reader_hex(&r, &in, "0b 0c 7fffffff", 100, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->skip(&r, PROTO_T_MAP), PROTO_TOO_BIG);

	/* a method name is a string too, in either header form */
	reader_hex(&r, &in, "80010001 00100000", 1000, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_message_begin(&r, &name, &type, &seqid), PROTO_TOO_BIG);
	reader_hex(&r, &in, "00100000 61", 1000, CODEC_MAX_DEPTH);
	ck_assert_fails(&r, B->read_message_begin(&r, &name, &type, &seqid), PROTO_TOO_BIG);
}
END_TEST

/* --- skipping ------------------------------------------------------------ */

START_TEST(skip_every_type)
{
	static const struct {
		uint8_t		 type;
		const char	*hex;	/* the value, then one byte that must stay */
	} cases[] = {
		{ PROTO_T_BOOL, "01 ee" },
		{ PROTO_T_BYTE, "80 ee" },
		{ PROTO_T_I16, "ffff ee" },
		{ PROTO_T_I32, "00000001 ee" },
		{ PROTO_T_I64, "0000000000000001 ee" },
		{ PROTO_T_DOUBLE, "3ff0000000000000 ee" },
		{ PROTO_T_STRING, "00000003 616263 ee" },
		{ PROTO_T_STRING, "00000000 ee" },
		{ PROTO_T_UUID, "00112233445566778899aabbccddeeff ee" },
		{ PROTO_T_STRUCT, "00 ee" },
		{ PROTO_T_STRUCT, "08 0001 00000005  0b 0002 00000002 6869  02 0003 01"
		    "  0c 0004 06 0001 7fff 00  10 0005 00112233445566778899aabbccddeeff"
		    "  0f 0006 08 00000002 00000001 00000002  00 ee" },
		{ PROTO_T_LIST, "08 00000002 00000001 00000002 ee" },
		{ PROTO_T_LIST, "0b 00000002 00000001 61 00000000 ee" },
		{ PROTO_T_LIST, "0c 00000002 00 08 0001 00000001 00 ee" },
		{ PROTO_T_LIST, "0f 00000002 02 00000001 01  03 00000000 ee" },
		{ PROTO_T_LIST, "10 00000001 00112233445566778899aabbccddeeff ee" },
		{ PROTO_T_SET, "0a 00000001 0000000000000001 ee" },
		{ PROTO_T_SET, "02 00000000 ee" },
		{ PROTO_T_MAP, "0b 08 00000001 00000001 6b 00000007 ee" },
		{ PROTO_T_MAP, "08 08 00000000 ee" },
		{ PROTO_T_MAP, "08 0d 00000001 00000001 0b 0f 00000001 00000001 61 08"
		    " 00000001 00000009 ee" },
		{ PROTO_T_MAP, "04 0c 00000001 3ff0000000000000 02 0001 00 00 ee" },
	};
	struct proto_reader	r;
	struct hexin		in;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reader_hex(&r, &in, cases[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(B->skip(&r, cases[i].type) == 0, "case %zu (%s): %s %s", i,
		    cases[i].hex, status_name(r.status), r.error ? r.error : "");
		ck_assert_msg(r.pos == in.len - 1, "case %zu (%s): pos %zu, want %zu", i,
		    cases[i].hex, r.pos, in.len - 1);
		ck_assert_uint_eq(r.depth, 0);
	}
}
END_TEST

START_TEST(skip_unknown_type)
{
	static const uint8_t bad_types[] = { 0, 1, 5, 7, 9, 17, 20, 0x63, 0x80, 0xff };
	static const char *const bad_nested[] = {
		"01 0001 00 00",			/* field of type 1 */
		"07 0001 00000000 00",			/* field of type 7 */
		"11 0001 00",				/* field of type 17 */
		"0c 0001 63 0001 00 00",		/* deeper: type 99 */
	};
	static const struct {
		uint8_t		 type;
		const char	*hex;
	} bad_containers[] = {
		{ PROTO_T_LIST, "01 00000001 00" },
		{ PROTO_T_SET, "63 00000001 00" },
		{ PROTO_T_MAP, "08 09 00000001 00000001 00" },
		{ PROTO_T_MAP, "ff 08 00000001 00 00000001" },
	};
	struct proto_reader	r;
	struct hexin		in;

	for (size_t i = 0; i < sizeof bad_types; i++) {
		reader_hex(&r, &in, "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
		    CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(B->skip(&r, bad_types[i]) == -1 && r.status == PROTO_BAD,
		    "skip(%u): status %s", bad_types[i], status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
	for (size_t i = 0; i < sizeof bad_nested / sizeof bad_nested[0]; i++) {
		reader_hex(&r, &in, bad_nested[i], CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(B->skip(&r, PROTO_T_STRUCT) == -1 && r.status == PROTO_BAD,
		    "%s: status %s", bad_nested[i], status_name(r.status));
	}
	for (size_t i = 0; i < sizeof bad_containers / sizeof bad_containers[0]; i++) {
		reader_hex(&r, &in, bad_containers[i].hex, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
		ck_assert_msg(B->skip(&r, bad_containers[i].type) == -1 &&
		    r.status == PROTO_BAD, "%s: status %s", bad_containers[i].hex,
		    status_name(r.status));
	}
}
END_TEST

/* 100000 nested values with max_depth 32: BAD, no crash, no NEED_MORE. */
START_TEST(skip_deep_lists)
{
	codec_check_nested_skip(B, PROTO_T_LIST, "0f 00000001", "08 00000000", "",
	    CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_sets)
{
	codec_check_nested_skip(B, PROTO_T_SET, "0e 00000001", "08 00000000", "",
	    CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_structs)
{
	codec_check_nested_skip(B, PROTO_T_STRUCT, "0c 0001", "00", "00", CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_maps)
{
	codec_check_nested_skip(B, PROTO_T_MAP, "08 0d 00000001 00000000",
	    "08 08 00000000", "", CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_deep_mixed)
{
	/* struct { 1: list<struct { 1: list<...> }> } */
	codec_check_nested_skip(B, PROTO_T_STRUCT, "0f 0001 0c 00000001", "00", "00",
	    CODEC_DEEP, false);
}
END_TEST

START_TEST(skip_nesting_within_limit)
{
	codec_check_nested_skip(B, PROTO_T_LIST, "0f 00000001", "08 00000000", "",
	    CODEC_MAX_DEPTH / 2, true);
	codec_check_nested_skip(B, PROTO_T_STRUCT, "0c 0001", "00", "00",
	    CODEC_MAX_DEPTH / 2, true);
}
END_TEST

/* "Nesting at most max_depth deep": max_depth levels pass, one more fails. */
START_TEST(skip_depth_limit_exact)
{
	codec_check_nested_skip(B, PROTO_T_LIST, "0f 00000001", "08 00000000", "",
	    CODEC_MAX_DEPTH - 1, true);
	codec_check_nested_skip(B, PROTO_T_LIST, "0f 00000001", "08 00000000", "",
	    CODEC_MAX_DEPTH, false);
	codec_check_nested_skip(B, PROTO_T_STRUCT, "0c 0001", "00", "00",
	    CODEC_MAX_DEPTH - 1, true);
	codec_check_nested_skip(B, PROTO_T_STRUCT, "0c 0001", "00", "00",
	    CODEC_MAX_DEPTH, false);
}
END_TEST

/* --- whole messages ---------------------------------------------------- */

START_TEST(roundtrip_sample)
{
	codec_check_roundtrip(B);
}
END_TEST

START_TEST(roundtrip_truncated)
{
	codec_check_truncation(B);
}
END_TEST

START_TEST(roundtrip_write_limit)
{
	codec_check_write_limit(B);
}
END_TEST

/* calculate(1, Work{1, 2, MULTIPLY}) as the spec lays it out, both ways. */
START_TEST(handwritten_call)
{
	static const char call[] =
	    "80010001 00000009 63616c63756c617465 00000005"
	    " 08 0001 00000001"
	    " 0c 0002  08 0001 00000001  08 0002 00000002  08 0003 00000003  00"
	    " 00";
	struct wfix		 f;
	struct proto_reader	 r;
	struct hexin		 in;
	struct proto_string	 name = pstr("calculate");
	uint8_t			 type;
	int32_t			 seqid, v;

	wfix_init(&f, 1024);
	B->write_message_begin(&f.w, &name, PROTO_CALL, 5);
	B->write_struct_begin(&f.w);
	B->write_field_begin(&f.w, PROTO_T_I32, 1);
	B->write_i32(&f.w, 1);
	B->write_field_begin(&f.w, PROTO_T_STRUCT, 2);
	B->write_struct_begin(&f.w);
	for (int16_t i = 1; i <= 3; i++) {
		B->write_field_begin(&f.w, PROTO_T_I32, i);
		B->write_i32(&f.w, i);
	}
	B->write_field_stop(&f.w);
	B->write_struct_end(&f.w);
	B->write_field_stop(&f.w);
	B->write_struct_end(&f.w);
	ck_assert(!f.w.failed);
	ck_assert_hex(f.buf.data, f.buf.len, call);
	buf_free(&f.buf);

	reader_hex(&r, &in, call, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	ck_assert_int_eq(B->read_message_begin(&r, &name, &type, &seqid), 0);
	ck_assert(pstr_eq(&name, "calculate"));
	ck_assert_uint_eq(type, PROTO_CALL);
	ck_assert_int_eq(seqid, 5);
	ck_assert_int_eq(B->read_struct_begin(&r), 0);
	ck_assert_int_eq(codec_expect_field(B, &r, PROTO_T_I32, 1), 0);
	ck_assert_int_eq(B->read_i32(&r, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(codec_expect_field(B, &r, PROTO_T_STRUCT, 2), 0);
	ck_assert_int_eq(B->read_struct_begin(&r), 0);
	for (int16_t i = 1; i <= 3; i++) {
		ck_assert_int_eq(codec_expect_field(B, &r, PROTO_T_I32, i), 0);
		ck_assert_int_eq(B->read_i32(&r, &v), 0);
		ck_assert_int_eq(v, i);
	}
	ck_assert_int_eq(codec_expect_field(B, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(B->read_struct_end(&r), 0);
	ck_assert_int_eq(codec_expect_field(B, &r, PROTO_T_STOP, 0), 0);
	ck_assert_int_eq(B->read_struct_end(&r), 0);
	ck_assert_uint_eq(r.pos, in.len);
}
END_TEST

static Suite *
binary_suite(void)
{
	Suite	*s = suite_create("binary");
	TCase	*tc;

	tc = tcase_create("write");
	tcase_add_test(tc, write_integers);
	tcase_add_test(tc, write_bool_double);
	tcase_add_test(tc, write_string);
	tcase_add_test(tc, write_message_header);
	tcase_add_test(tc, write_field_headers);
	tcase_add_test(tc, write_container_headers);
	tcase_add_test(tc, write_buffer_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, read_integers);
	tcase_add_test(tc, read_bool_double_string);
	tcase_add_test(tc, read_message_strict);
	tcase_add_test(tc, read_message_old);
	tcase_add_test(tc, read_message_bad_version);
	tcase_add_test(tc, read_field_and_container_headers);
	tcase_add_test(tc, read_need_more);
	tcase_add_test(tc, need_is_a_lower_bound);
	tcase_add_test(tc, read_status_sticky);
	tcase_add_test(tc, read_negative_sizes);
	tcase_add_test(tc, read_too_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("skip");
	tcase_add_test(tc, skip_every_type);
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
	return codec_run_suite(binary_suite());
}
