/*
 * test_proto: what the codecs share beyond reading and writing values —
 * for now, the one TApplicationException writer.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"
#include "proto.h"

/* --- proto_write_app_exception ------------------------------------------------ */

START_TEST(app_exception_bytes)
{
	struct proto_string	name = pstr("add");
	struct wfix		f;

	wfix_init(&f, 1024);
	ck_assert_int_eq(proto_write_app_exception(&proto_binary, &f.w, &name, 9,
	    PROTO_APP_UNKNOWN_METHOD, "why", 3), 0);
	ck_assert_hex(f.buf.data, f.buf.len, "80010003 00000003 616464 00000009"
	    " 0b 0001 00000003 776879  08 0002 00000001  00");
	buf_free(&f.buf);

	wfix_init(&f, 1024);
	ck_assert_int_eq(proto_write_app_exception(&proto_compact, &f.w, &name, 9,
	    PROTO_APP_PROTOCOL_ERROR, "why", 3), 0);
	ck_assert_hex(f.buf.data, f.buf.len, "82 61 09 03 616464  18 03 776879  15 0e  00");
	buf_free(&f.buf);

	/* no room: -1, never past the limit */
	wfix_init(&f, 10);
	ck_assert_int_eq(proto_write_app_exception(&proto_binary, &f.w, &name, 9,
	    PROTO_APP_UNKNOWN, "why", 3), -1);
	ck_assert(f.w.failed);
	ck_assert_uint_le(f.buf.len, 10);
	buf_free(&f.buf);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc;

	tc = tcase_create("app_exception");
	tcase_add_test(tc, app_exception_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(proto_suite());
}
