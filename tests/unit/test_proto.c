/*
 * test_proto: what the codecs share beyond reading and writing values —
 * the one TApplicationException writer, and skipping under a nesting
 * limit counted from where the skip starts.
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

/* --- proto_skip_nested ---------------------------------------------------------- */

/* list<list<...<i32>>> `levels` deep, in binary. */
static uint8_t *
nested_lists(int levels, size_t *len)
{
	return codec_nest("0f 00000001", "08 00000000", "", (size_t)levels - 1, len);
}

/* The limit counts from where the skip starts, not from the message's top. */
START_TEST(skip_nested_relative)
{
	for (unsigned start = 0; start <= 4; start++) {
		for (unsigned levels = 1; levels <= PROTO_MAX_DEPTH_LIMIT; levels++) {
			for (unsigned extra = 0; extra <= 1; extra++) {
				struct proto_reader	 r;
				uint8_t			*data;
				size_t			 len;
				int			 rc;

				data = nested_lists((int)(levels + extra), &len);
				proto_reader_init(&r, data, len, CODEC_MAX_SIZE, 8);
				r.depth = start;	/* as if inside `start` structs */
				rc = proto_skip_nested(&proto_binary, &r, PROTO_T_LIST, levels);
				ck_assert_msg((rc == 0) == (extra == 0),
				    "depth %u, limit %u, %u levels: rc %d (%s)", start, levels,
				    levels + extra, rc, r.error ? r.error : "");
				if (rc == 0) {
					ck_assert_uint_eq(r.pos, len);
					ck_assert_uint_eq(r.depth, start);
				}
				ck_assert_uint_eq(r.max_depth, 8);	/* restored */
				free(data);
			}
		}
	}
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

	tc = tcase_create("skip");
	tcase_add_test(tc, skip_nested_relative);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(proto_suite());
}
