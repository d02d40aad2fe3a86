/*
 * test_proto: what the codecs share beyond reading and writing values —
 * quoting a peer's bytes as text, the one TApplicationException writer,
 * skipping under a nesting limit counted from where the skip starts, and
 * reply prefixes, which must give the bytes the writers give.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"
#include "proto.h"
#include "proto_codec.h"

/* --- proto_text ------------------------------------------------------------ */

static void
text_is(const char *in, size_t in_len, size_t size, const char *want)
{
	char	out[64];

	memset(out, 'z', sizeof out);
	ck_assert_uint_le(size, sizeof out);
	ck_assert_ptr_eq(proto_text((const uint8_t *)in, in_len, out, size), out);
	ck_assert_msg(strcmp(out, want) == 0, "\"%.*s\" in %zu bytes: \"%s\", want \"%s\"",
	    (int)in_len, in, size, out, want);
	ck_assert_uint_lt(strlen(out), size);
}

#define EURO	"\xe2\x82\xac"
#define FFFD	"\xef\xbf\xbd"

START_TEST(text_fits)
{
	text_is("", 0, 1, "");
	text_is("add", 3, 4, "add");
	text_is("h\xc3\xa9llo", 6, 7, "h\xc3\xa9llo");
	text_is(EURO EURO, 6, 7, EURO EURO);
	text_is("\xf0\x9f\x98\x80", 4, 5, "\xf0\x9f\x98\x80");
}
END_TEST

/* Cut at a character boundary, with "..." marking the cut, never past size. */
START_TEST(text_cut)
{
	text_is("abcdef", 6, 6, "ab...");
	text_is("abcdef", 6, 7, "abcdef");
	text_is(EURO EURO EURO, 9, 9, EURO "...");	/* not 1 byte of the second */
	text_is(EURO EURO EURO, 9, 10, EURO EURO EURO);
	text_is(EURO EURO EURO, 9, 8, EURO "...");
	text_is(EURO EURO EURO, 9, 6, "...");
	text_is("abcdef", 6, 3, "");			/* no room even for the mark */
	text_is("abcdef", 6, 1, "");
}
END_TEST

/* Whatever the bytes, the text is UTF-8: each stray byte and NUL is U+FFFD. */
START_TEST(text_invalid)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*want;
	} cases[] = {
		{ "\xff", 1, FFFD },
		{ "a\x80z", 3, "a" FFFD "z" },
		{ "\xc3", 1, FFFD },				/* cut short */
		{ "\xe2\x82", 2, FFFD FFFD },
		{ "\xc0\xaf", 2, FFFD FFFD },			/* overlong '/' */
		{ "\xe0\x80\xaf", 3, FFFD FFFD FFFD },		/* overlong */
		{ "\xed\xa0\x80", 3, FFFD FFFD FFFD },		/* a surrogate */
		{ "\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD },	/* past U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, FFFD FFFD FFFD FFFD },
		{ "a\0b", 3, "a" FFFD "b" },
		{ "\xed\x9f\xbf", 3, "\xed\x9f\xbf" },		/* U+D7FF is fine */
		{ "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf" },	/* U+10FFFF too */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		text_is(cases[i].in, cases[i].len, 64, cases[i].want);
	/* a replacement is cut whole too */
	text_is("\xff\xff\xff\xff", 4, 10, FFFD FFFD "...");
	text_is("\xff\xff\xff\xff", 4, 9, FFFD "...");
}
END_TEST

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

/* --- reply prefixes ------------------------------------------------------------ */

/* A message header, struct and first field, then one more field, through the writers. */
static void
prefix_by_writers(const struct proto_ops *ops, struct wfix *f, const char *name,
    uint8_t field_type, int16_t field_id, int32_t seqid)
{
	struct proto_string s = pstr(name);

	ops->write_message_begin(&f->w, &s, PROTO_REPLY, seqid);
	ops->write_struct_begin(&f->w);
	if (field_type != PROTO_T_STOP)
		ops->write_field_begin(&f->w, field_type, field_id);
	if (field_type == PROTO_T_I32)
		ops->write_i32(&f->w, -7);
	ops->write_field_begin(&f->w, PROTO_T_I32, (int16_t)(field_id + 1));
	ops->write_i32(&f->w, 300);
	ops->write_field_stop(&f->w);
	ops->write_struct_end(&f->w);
}

/* The same from a prefix: same bytes, and the writer left where the writers leave it. */
static void
prefix_by_prefix(const struct proto_ops *ops, struct wfix *f, const struct proto_prefix *p,
    uint8_t field_type, int16_t field_id, int32_t seqid)
{
	proto_codec_write_prefix(ops->codec, &f->w, p, seqid);
	if (field_type == PROTO_T_I32)
		ops->write_i32(&f->w, -7);
	ops->write_field_begin(&f->w, PROTO_T_I32, (int16_t)(field_id + 1));
	ops->write_i32(&f->w, 300);
	ops->write_field_stop(&f->w);
	ops->write_struct_end(&f->w);
}

START_TEST(prefix_matches_writers)
{
	static const struct proto_ops *const protos[] = { &proto_binary, &proto_compact };
	static const char *const names[] = { "", "a", "add", "getStruct",
	    "twenty_one_characters" };	/* binary: 8 + 21 + 3 = PROTO_PREFIX_MAX */
	static const struct { uint8_t type; int16_t id; } fields[] = {
		{ PROTO_T_STOP, 0 }, { PROTO_T_I32, 0 }, { PROTO_T_STRUCT, 0 },
		{ PROTO_T_STRING, 1 }, { PROTO_T_I32, 20 }, { PROTO_T_STRUCT, -3 },
	};
	static const int32_t seqids[] = { 0, 1, 127, 128, 300, -1, INT32_MAX, INT32_MIN };

	for (size_t o = 0; o < 2; o++)
	for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
	for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
		const struct proto_ops	*ops = protos[o];
		struct proto_prefix	 p;

		ck_assert_int_eq(proto_prefix_init(ops->codec, &p, names[n], strlen(names[n]),
		    PROTO_REPLY, fields[k].type, fields[k].id), 0);
		for (size_t q = 0; q < sizeof seqids / sizeof seqids[0]; q++) {
			struct wfix	want, got;
			char		hex[512];

			wfix_init(&want, 1024);
			prefix_by_writers(ops, &want, names[n], fields[k].type, fields[k].id,
			    seqids[q]);
			ck_assert(!want.w.failed);
			/* no room yet, plenty of it, exactly enough, one byte short */
			for (int way = 0; way < 4; way++) {
				size_t limit = way == 2 ? want.buf.len : way == 3 ?
				    want.buf.len - 1 : 1024;

				wfix_init(&got, limit);
				if (way == 1)
					ck_assert_int_eq(buf_reserve(&got.buf, 1024), 0);
				prefix_by_prefix(ops, &got, &p, fields[k].type, fields[k].id,
				    seqids[q]);
				if (way == 3) {
					ck_assert(got.w.failed);
					ck_assert_uint_le(got.buf.len, limit);
				} else {
					ck_assert_msg(!got.w.failed && got.buf.len == want.buf.len &&
					    memcmp(got.buf.data, want.buf.data, want.buf.len) == 0,
					    "%s, name '%s', field %u/%d, seqid %ld, way %d: %s",
					    ops->name, names[n], fields[k].type, fields[k].id,
					    (long)seqids[q], way, hex_format(got.buf.data,
					    got.buf.len, hex, sizeof hex));
				}
				buf_free(&got.buf);
			}
			buf_free(&want.buf);
		}
	}
}
END_TEST

/* A name too long for a prefix, or a bool field (compact folds it into the value): none. */
START_TEST(prefix_refused)
{
	static const char long_name[] = "a_method_name_longer_than_a_prefix_holds";
	struct proto_prefix p;

	ck_assert_int_eq(proto_prefix_init(PROTO_CODEC_BINARY, &p, long_name,
	    sizeof long_name - 1, PROTO_REPLY, PROTO_T_I32, 0), -1);
	ck_assert_int_eq(proto_prefix_init(PROTO_CODEC_COMPACT, &p, long_name,
	    sizeof long_name - 1, PROTO_REPLY, PROTO_T_I32, 0), -1);
	ck_assert_int_eq(p.len, 0);
	ck_assert_int_eq(proto_prefix_init(PROTO_CODEC_COMPACT, &p, "add", 3, PROTO_REPLY,
	    PROTO_T_BOOL, 0), -1);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc;

	tc = tcase_create("text");
	tcase_add_test(tc, text_fits);
	tcase_add_test(tc, text_cut);
	tcase_add_test(tc, text_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("app_exception");
	tcase_add_test(tc, app_exception_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefix");
	tcase_add_test(tc, prefix_matches_writers);
	tcase_add_test(tc, prefix_refused);
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
