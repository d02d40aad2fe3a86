/*
 * codec_common: the helpers codec_common.h declares — hex, readers and
 * writers over it, the step language's writer and reader, the generic
 * checks (cut short, write limits, nesting, sticky failures) and the
 * sample message through every Thrift type.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"

/* --- hex ----------------------------------------------------------------- */

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
hex_decode(const char *text, uint8_t *out, size_t cap)
{
	size_t	n = 0;
	int	hi = -1, v;

	for (const char *p = text; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\t')
			continue;
		if (*p == '*') {
			/* "7a*300": the byte just decoded, 300 times in all */
			char		*end;
			unsigned long	 count = strtoul(p + 1, &end, 10);

			ck_assert_msg(n > 0 && hi < 0 && end != p + 1 && count > 0,
			    "bad repeat at \"%s\" in \"%s\"", p, text);
			ck_assert_msg(count - 1 <= cap - n, "hex text longer than %zu bytes",
			    cap);
			memset(out + n, out[n - 1], count - 1);
			n += count - 1;
			p = end - 1;
			continue;
		}
		if ((v = hex_digit(*p)) < 0)
			ck_abort_msg("bad hex character '%c' in \"%s\"", *p, text);
		if (hi < 0) {
			hi = v;
			continue;
		}
		ck_assert_msg(n < cap, "hex text longer than %zu bytes", cap);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	ck_assert_msg(hi < 0, "odd number of hex digits in \"%s\"", text);
	return n;
}

const char *
hex_format(const uint8_t *data, size_t len, char *out, size_t cap)
{
	size_t	o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len && data != NULL; i++) {
		if (o + 8 >= cap) {
			snprintf(out + o, cap - o, "...");
			break;
		}
		o += (size_t)snprintf(out + o, cap - o, "%02x%s", data[i],
		    i + 1 < len ? " " : "");
	}
	return out;
}

/* --- statuses, readers, writers ---------------------------------------------- */

const char *
status_name(enum proto_status s)
{
	switch (s) {
	case PROTO_OK:		return "OK";
	case PROTO_NEED_MORE:	return "NEED_MORE";
	case PROTO_BAD:		return "BAD";
	case PROTO_TOO_BIG:	return "TOO_BIG";
	default:		return "?";
	}
}

void
reader_hex(struct proto_reader *r, struct hexin *in, const char *hex,
    size_t max_size, unsigned max_depth)
{
	in->len = hex_decode(hex, in->data, sizeof in->data);
	memset(in->data + in->len, 0, sizeof in->data - in->len);
	proto_reader_init(r, in->data, in->len, max_size, max_depth);
}

void
wfix_init(struct wfix *f, size_t limit)
{
	buf_init(&f->buf, limit);
	proto_writer_init(&f->w, &f->buf);
}

struct proto_string
pstr(const char *s)
{
	struct proto_string ps = { (const uint8_t *)s, strlen(s) };

	return ps;
}

bool
pstr_eq(const struct proto_string *s, const char *want)
{
	return s->len == strlen(want) && (s->len == 0 || memcmp(s->ptr, want, s->len) == 0);
}

bool
double_same(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

int
codec_expect_field(const struct proto_ops *ops, struct proto_reader *r,
    uint8_t type, int16_t id)
{
	uint8_t	t = 0xee;
	int16_t	i = -32000;

	if (ops->read_field_begin(r, &t, &i) != 0)
		return -1;
	ck_assert_msg(t == type && (type == PROTO_T_STOP || i == id),
	    "field at pos %zu: type %u id %d, want type %u id %d",
	    r->pos, t, i, type, id);
	return 0;
}

/* --- steps ------------------------------------------------------------------- */

/* A string step's bytes (s, repeated) in out; its length. */
static size_t
step_string(const struct codec_step *st, uint8_t *out, size_t cap)
{
	size_t	len = strlen(st->s), times = st->repeat ? st->repeat : 1;

	ck_assert_msg(len * times <= cap, "string step of %zu bytes", len * times);
	for (size_t k = 0; k < times; k++)
		memcpy(out + k * len, st->s, len);
	return len * times;
}

int
codec_write_step(const struct proto_ops *ops, struct proto_writer *w,
    const struct codec_step *st)
{
	static uint8_t		text[HEX_MAX];
	struct proto_string	name;
	int			rc;

	switch (st->op) {
	case CODEC_STEP_MESSAGE:
		name = pstr(st->s);
		return ops->write_message_begin(w, &name, st->type, (int32_t)st->i);
	case CODEC_STEP_STRUCT:
		return ops->write_struct_begin(w);
	case CODEC_STEP_FIELD:
		return ops->write_field_begin(w, st->type, (int16_t)st->i);
	case CODEC_STEP_STOP:
		rc = ops->write_field_stop(w);
		return ops->write_struct_end(w) != 0 ? -1 : rc;
	case CODEC_STEP_LIST:
		return ops->write_list_begin(w, st->type, (uint32_t)st->i);
	case CODEC_STEP_SET:
		return ops->write_set_begin(w, st->type, (uint32_t)st->i);
	case CODEC_STEP_MAP:
		return ops->write_map_begin(w, st->type, st->value_type, (uint32_t)st->i);
	case CODEC_STEP_END:
	case CODEC_STEP_POS:
		return w->failed ? -1 : 0;	/* nothing to write */
	case CODEC_STEP_BOOL:
		return ops->write_bool(w, st->i != 0);
	case CODEC_STEP_BYTE:
		return ops->write_byte(w, (int8_t)st->i);
	case CODEC_STEP_I16:
		return ops->write_i16(w, (int16_t)st->i);
	case CODEC_STEP_I32:
		return ops->write_i32(w, (int32_t)st->i);
	case CODEC_STEP_I64:
		return ops->write_i64(w, st->i);
	case CODEC_STEP_DOUBLE:
		return ops->write_double(w, st->d);
	case CODEC_STEP_STRING:
		return ops->write_string(w, text, step_string(st, text, sizeof text));
	case CODEC_STEP_SKIP:
	case CODEC_STEP_DONE:
		break;
	}
	ck_abort_msg("step %d cannot be written", (int)st->op);
	return -1;
}

void
codec_write_steps(const struct proto_ops *ops, struct wfix *f,
    const struct codec_step *steps, const char *what)
{
	wfix_init(f, CODEC_MAX_SIZE);
	for (size_t k = 0; steps[k].op != CODEC_STEP_DONE; k++)
		ck_assert_msg(codec_write_step(ops, &f->w, &steps[k]) == 0,
		    "%s %s: step %zu: the write said -1", ops->name, what, k);
	ck_assert(!f->w.failed);
}

/* What one read step gave. */
struct step_value {
	struct proto_string	s;
	uint8_t			type, value_type;
	int64_t			i;
	double			d;
};

/* Do the read a step names; the codec's return value. */
static int
step_read(const struct proto_ops *ops, struct proto_reader *r, const struct codec_step *st,
    struct step_value *got)
{
	int32_t	i32 = 0;
	int16_t	i16 = 0;
	int8_t	i8 = 0;
	uint32_t n = 0;
	bool	b = false;
	int	rc;

	memset(got, 0, sizeof *got);
	got->type = got->value_type = 0xee;
	switch (st->op) {
	case CODEC_STEP_MESSAGE:
		rc = ops->read_message_begin(r, &got->s, &got->type, &i32);
		got->i = i32;
		return rc;
	case CODEC_STEP_STRUCT:
		return ops->read_struct_begin(r);
	case CODEC_STEP_FIELD:
	case CODEC_STEP_STOP:
		rc = ops->read_field_begin(r, &got->type, &i16);
		got->i = i16;
		if (rc == 0 && st->op == CODEC_STEP_STOP && got->type == PROTO_T_STOP)
			rc = ops->read_struct_end(r);
		return rc;
	case CODEC_STEP_LIST:
		rc = ops->read_list_begin(r, &got->type, &n);
		got->i = n;
		return rc;
	case CODEC_STEP_SET:
		rc = ops->read_set_begin(r, &got->type, &n);
		got->i = n;
		return rc;
	case CODEC_STEP_MAP:
		rc = ops->read_map_begin(r, &got->type, &got->value_type, &n);
		got->i = n;
		return rc;
	case CODEC_STEP_END:
		return ops->read_container_end(r);
	case CODEC_STEP_BOOL:
		rc = ops->read_bool(r, &b);
		got->i = b;
		return rc;
	case CODEC_STEP_BYTE:
		rc = ops->read_byte(r, &i8);
		got->i = i8;
		return rc;
	case CODEC_STEP_I16:
		rc = ops->read_i16(r, &i16);
		got->i = i16;
		return rc;
	case CODEC_STEP_I32:
		rc = ops->read_i32(r, &i32);
		got->i = i32;
		return rc;
	case CODEC_STEP_I64:
		return ops->read_i64(r, &got->i);
	case CODEC_STEP_DOUBLE:
		return ops->read_double(r, &got->d);
	case CODEC_STEP_STRING:
		return ops->read_string(r, &got->s);
	case CODEC_STEP_SKIP:
		return ops->skip(r, st->type);
	case CODEC_STEP_POS:
		got->i = (int64_t)r->pos;
		return 0;
	case CODEC_STEP_DONE:
		break;
	}
	ck_abort_msg("step %d cannot be read", (int)st->op);
	return -1;
}

/* The value a step read must be the step's. */
static void
step_compare(const struct proto_ops *ops, const struct proto_reader *r,
    const struct codec_step *st, const struct step_value *got, const char *what)
{
	static uint8_t	want[HEX_MAX];
	char		a[200], b[200];
	size_t		len;

	switch (st->op) {
	case CODEC_STEP_MESSAGE:
		ck_assert_msg(pstr_eq(&got->s, st->s) && got->type == st->type && got->i == st->i,
		    "%s %s: message \"%.*s\" type %u seqid %lld, want \"%s\" %u %lld",
		    ops->name, what, (int)got->s.len, (const char *)got->s.ptr, got->type,
		    (long long)got->i, st->s, st->type, (long long)st->i);
		break;
	case CODEC_STEP_FIELD:
	case CODEC_STEP_STOP: {
		uint8_t want_type = st->op == CODEC_STEP_STOP ? PROTO_T_STOP : st->type;

		ck_assert_msg(got->type == want_type &&
		    (want_type == PROTO_T_STOP || got->i == st->i),
		    "%s %s: field at pos %zu: type %u id %lld, want type %u id %lld",
		    ops->name, what, r->pos, got->type, (long long)got->i, want_type,
		    (long long)st->i);
		break;
	}
	case CODEC_STEP_LIST:
	case CODEC_STEP_SET:
		ck_assert_msg(got->type == st->type && got->i == st->i,
		    "%s %s: %s of %lld x type %u, want %lld x type %u", ops->name, what,
		    st->op == CODEC_STEP_LIST ? "list" : "set", (long long)got->i, got->type,
		    (long long)st->i, st->type);
		break;
	case CODEC_STEP_MAP:
		ck_assert_msg(got->i == st->i && (st->any_types ||
		    (got->type == st->type && got->value_type == st->value_type)),
		    "%s %s: map of %lld x %u:%u, want %lld x %u:%u", ops->name, what,
		    (long long)got->i, got->type, got->value_type, (long long)st->i, st->type,
		    st->value_type);
		break;
	case CODEC_STEP_BOOL:
		ck_assert_msg(got->i == (st->i != 0), "%s %s: bool %lld, want %d", ops->name,
		    what, (long long)got->i, st->i != 0);
		break;
	case CODEC_STEP_BYTE:
	case CODEC_STEP_I16:
	case CODEC_STEP_I32:
	case CODEC_STEP_I64:
		ck_assert_msg(got->i == st->i, "%s %s: integer %lld, want %lld", ops->name,
		    what, (long long)got->i, (long long)st->i);
		break;
	case CODEC_STEP_DOUBLE:
		ck_assert_msg(double_same(got->d, st->d), "%s %s: double %a, want %a",
		    ops->name, what, got->d, st->d);
		break;
	case CODEC_STEP_STRING:
		len = step_string(st, want, sizeof want);
		ck_assert_msg(got->s.len == len &&
		    (len == 0 || memcmp(got->s.ptr, want, len) == 0),
		    "%s %s: string %s, want %s", ops->name, what,
		    hex_format(got->s.ptr, got->s.len, a, sizeof a),
		    hex_format(want, len, b, sizeof b));
		/* in place: the bytes just read, not a copy */
		ck_assert_msg(got->s.ptr + got->s.len == r->data + r->pos,
		    "%s %s: the string does not point into the input", ops->name, what);
		break;
	case CODEC_STEP_POS:
		ck_assert_msg(got->i == st->i, "%s %s: at byte %lld, want %lld", ops->name,
		    what, (long long)got->i, (long long)st->i);
		break;
	case CODEC_STEP_STRUCT:
	case CODEC_STEP_END:
	case CODEC_STEP_SKIP:
	case CODEC_STEP_DONE:
		break;	/* nothing read to compare */
	}
}

int
codec_read_step(const struct proto_ops *ops, struct proto_reader *r,
    const struct codec_step *st, const char *what)
{
	struct step_value got;

	if (step_read(ops, r, st, &got) != 0) {
		ck_assert_msg(r->status != PROTO_OK, "%s %s: a read returned -1 with status OK",
		    ops->name, what);
		return -1;
	}
	step_compare(ops, r, st, &got, what);
	return 0;
}

int
codec_read_step_unchecked(const struct proto_ops *ops, struct proto_reader *r,
    const struct codec_step *st)
{
	struct step_value got;

	return step_read(ops, r, st, &got);
}

enum proto_status
codec_read_steps(const struct proto_ops *ops, struct proto_reader *r,
    const struct codec_step *steps, const char *what)
{
	for (size_t k = 0; steps[k].op != CODEC_STEP_DONE; k++)
		if (codec_read_step(ops, r, &steps[k], what) != 0)
			return r->status;
	return PROTO_OK;
}

void
codec_check_steps_cut_short(const struct proto_ops *ops, const struct codec_step *steps,
    const uint8_t *data, size_t len, size_t max_size, const char *what)
{
	struct proto_reader	r;
	enum proto_status	st;

	for (size_t cut = 0; cut < len; cut++) {
		proto_reader_init(&r, data, cut, max_size, CODEC_MAX_DEPTH);
		st = codec_read_steps(ops, &r, steps, what);
		ck_assert_msg(st == PROTO_NEED_MORE, "%s %s: %zu of %zu bytes: %s (%s)",
		    ops->name, what, cut, len, status_name(st), r.error ? r.error : "");
		ck_assert_msg(r.need > cut && r.need <= len,
		    "%s %s: %zu of %zu bytes: need %zu", ops->name, what, cut, len, r.need);
	}
}

void
codec_check_steps_write_limit(const struct proto_ops *ops, const struct codec_step *steps,
    const char *what)
{
	struct wfix	full, f;
	size_t		len;
	char		a[200], b[200];

	codec_write_steps(ops, &full, steps, what);
	len = full.buf.len;
	for (size_t limit = 0; limit <= len; limit++) {
		bool failed = false;

		wfix_init(&f, limit);
		for (size_t k = 0; steps[k].op != CODEC_STEP_DONE; k++) {
			size_t	before = f.buf.len;
			int	rc = codec_write_step(ops, &f.w, &steps[k]);

			if (failed) {
				/* sticky: even a write that would fit now fails */
				ck_assert_msg(rc == -1 && f.buf.len == before,
				    "%s %s: limit %zu: step %zu after the failure: rc %d, %zu -> %zu bytes",
				    ops->name, what, limit, k, rc, before, f.buf.len);
			} else if (f.w.failed) {
				ck_assert_msg(rc == -1, "%s %s: limit %zu: step %zu failed but said %d",
				    ops->name, what, limit, k, rc);
				failed = true;
			} else {
				ck_assert_msg(rc == 0, "%s %s: limit %zu: step %zu said %d",
				    ops->name, what, limit, k, rc);
			}
		}
		ck_assert_msg(failed == (limit < len), "%s %s: limit %zu of %zu: %s",
		    ops->name, what, limit, len, failed ? "failed" : "all written");
		ck_assert_msg(f.buf.len <= limit, "%s %s: limit %zu, wrote %zu", ops->name,
		    what, limit, f.buf.len);
		ck_assert_msg(f.buf.len == 0 || memcmp(f.buf.data, full.buf.data, f.buf.len) == 0,
		    "%s %s: limit %zu: wrote %s, not the start of %s", ops->name, what, limit,
		    hex_format(f.buf.data, f.buf.len, a, sizeof a),
		    hex_format(full.buf.data, len, b, sizeof b));
		if (limit == len)
			ck_assert_uint_eq(f.buf.len, len);
		buf_free(&f.buf);
	}
	buf_free(&full.buf);
}

/* --- skipping and nesting ---------------------------------------------------- */

uint8_t *
codec_nest(const char *unit_hex, const char *inner_hex, const char *tail_hex,
    size_t n, size_t *len)
{
	uint8_t	 unit[64], inner[64], tail[64], *data, *p;
	size_t	 ul, il, tl;

	ul = hex_decode(unit_hex, unit, sizeof unit);
	il = hex_decode(inner_hex, inner, sizeof inner);
	tl = hex_decode(tail_hex, tail, sizeof tail);
	*len = n * (ul + tl) + il;
	ck_assert((data = malloc(*len + 1)) != NULL);
	p = data;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, inner, il);
	p += il;
	for (size_t i = 0; i < n; i++, p += tl)
		memcpy(p, tail, tl);
	return data;
}

void
codec_check_nested_skip(const struct proto_ops *ops, uint8_t type, const char *unit_hex,
    const char *inner_hex, const char *tail_hex, size_t n, bool want_ok)
{
	struct proto_reader	 r;
	uint8_t			*data;
	size_t			 len;
	int			 rc;

	data = codec_nest(unit_hex, inner_hex, tail_hex, n, &len);
	proto_reader_init(&r, data, len, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	rc = ops->skip(&r, type);
	if (want_ok) {
		ck_assert_msg(rc == 0, "%s skip of a %s in %zu wrappers: status %s (%s)",
		    ops->name, proto_type_name(type), n, status_name(r.status),
		    r.error ? r.error : "");
		ck_assert_uint_eq(r.pos, len);
	} else {
		ck_assert_msg(rc == -1 && r.status == PROTO_BAD,
		    "%s skip of a %s in %zu wrappers, max_depth %u: rc %d status %s, want BAD",
		    ops->name, proto_type_name(type), n, CODEC_MAX_DEPTH, rc,
		    status_name(r.status));
		ck_assert_ptr_nonnull(r.error);
	}
	free(data);
}

void
codec_check_sticky(const struct proto_ops *ops, struct proto_reader *r,
    enum proto_status want)
{
	const char	*error = r->error;
	size_t		 need = r->need;
	int8_t		 v;
	int32_t		 i;

	ck_assert_status(r->status, want);
	ck_assert_int_eq(ops->read_byte(r, &v), -1);
	ck_assert_int_eq(ops->read_i32(r, &i), -1);
	ck_assert_int_eq(ops->skip(r, PROTO_T_BYTE), -1);
	ck_assert_status(r->status, want);
	if (want == PROTO_NEED_MORE)
		ck_assert_uint_eq(r->need, need);
	else
		ck_assert_ptr_eq(r->error, error);
}

/* --- the sample message: every type, every field-header form ------------ */

#define SAMPLE_NAME	"sample"
#define SAMPLE_SEQID	(-123456789)
#define SAMPLE_LIST_N	20
#define SAMPLE_SET_N	15

static int32_t
sample_list_value(int i)
{
	return (i - 10) * 1000003 + (i % 3 == 0 ? -i : i);
}

static int64_t
sample_set_value(int i)
{
	return (int64_t)((uint64_t)1 << (i * 4)) - i;
}

/* Write the sample; 0, or -1 if any write said -1. */
int
codec_write_sample(const struct proto_ops *ops, struct proto_writer *w)
{
	struct proto_string	name = pstr(SAMPLE_NAME);
	static const double	dbl[] = { 0.5, -0.0, 1e300 };
	int			rc = 0;

#define W(call)	do { if ((call) != 0) rc = -1; } while (0)
	W(ops->write_message_begin(w, &name, PROTO_CALL, SAMPLE_SEQID));
	W(ops->write_struct_begin(w));
	W(ops->write_field_begin(w, PROTO_T_BOOL, 1));
	W(ops->write_bool(w, true));
	W(ops->write_field_begin(w, PROTO_T_BOOL, 2));
	W(ops->write_bool(w, false));
	W(ops->write_field_begin(w, PROTO_T_BYTE, 3));
	W(ops->write_byte(w, -128));
	W(ops->write_field_begin(w, PROTO_T_I16, 4));
	W(ops->write_i16(w, -12345));
	W(ops->write_field_begin(w, PROTO_T_I32, 5));
	W(ops->write_i32(w, INT32_MIN));
	W(ops->write_field_begin(w, PROTO_T_I64, 6));
	W(ops->write_i64(w, INT64_C(0x123456789abcdef0)));
	W(ops->write_field_begin(w, PROTO_T_DOUBLE, 7));
	W(ops->write_double(w, -1234.5));
	W(ops->write_field_begin(w, PROTO_T_STRING, 8));
	W(ops->write_string(w, "h\xc3\xa9llo", 6));
	W(ops->write_field_begin(w, PROTO_T_STRING, 20));
	W(ops->write_string(w, "", 0));
	W(ops->write_field_begin(w, PROTO_T_I32, 40));
	W(ops->write_i32(w, INT32_MAX));
	W(ops->write_field_begin(w, PROTO_T_I64, -3));
	W(ops->write_i64(w, INT64_MIN));

	W(ops->write_field_begin(w, PROTO_T_STRUCT, 10));
	W(ops->write_struct_begin(w));
	W(ops->write_field_begin(w, PROTO_T_I32, 1));
	W(ops->write_i32(w, 1));
	W(ops->write_field_begin(w, PROTO_T_BOOL, 2));
	W(ops->write_bool(w, true));
	W(ops->write_field_begin(w, PROTO_T_STRUCT, 3));
	W(ops->write_struct_begin(w));
	W(ops->write_field_begin(w, PROTO_T_I64, 15));
	W(ops->write_i64(w, -1));
	W(ops->write_field_stop(w));
	W(ops->write_struct_end(w));
	W(ops->write_field_begin(w, PROTO_T_BOOL, 16));
	W(ops->write_bool(w, false));
	W(ops->write_field_stop(w));
	W(ops->write_struct_end(w));

	W(ops->write_field_begin(w, PROTO_T_LIST, 11));
	W(ops->write_list_begin(w, PROTO_T_I32, SAMPLE_LIST_N));
	for (int i = 0; i < SAMPLE_LIST_N; i++)
		W(ops->write_i32(w, sample_list_value(i)));

	W(ops->write_field_begin(w, PROTO_T_SET, 12));
	W(ops->write_set_begin(w, PROTO_T_STRING, 2));
	W(ops->write_string(w, "a", 1));
	W(ops->write_string(w, "bc", 2));

	W(ops->write_field_begin(w, PROTO_T_MAP, 13));
	W(ops->write_map_begin(w, PROTO_T_STRING, PROTO_T_I64, 2));
	W(ops->write_string(w, "x", 1));
	W(ops->write_i64(w, 1));
	W(ops->write_string(w, "y", 1));
	W(ops->write_i64(w, -1));

	W(ops->write_field_begin(w, PROTO_T_MAP, 14));
	W(ops->write_map_begin(w, PROTO_T_I32, PROTO_T_I32, 0));

	W(ops->write_field_begin(w, PROTO_T_LIST, 15));
	W(ops->write_list_begin(w, PROTO_T_BOOL, 3));
	W(ops->write_bool(w, true));
	W(ops->write_bool(w, false));
	W(ops->write_bool(w, true));

	W(ops->write_field_begin(w, PROTO_T_LIST, 16));
	W(ops->write_list_begin(w, PROTO_T_LIST, 3));
	W(ops->write_list_begin(w, PROTO_T_I16, 2));
	W(ops->write_i16(w, 1));
	W(ops->write_i16(w, 2));
	W(ops->write_list_begin(w, PROTO_T_I16, 0));
	W(ops->write_list_begin(w, PROTO_T_I16, 1));
	W(ops->write_i16(w, -3));

	W(ops->write_field_begin(w, PROTO_T_LIST, 17));
	W(ops->write_list_begin(w, PROTO_T_STRUCT, 2));
	W(ops->write_struct_begin(w));
	W(ops->write_field_begin(w, PROTO_T_I32, 1));
	W(ops->write_i32(w, 9));
	W(ops->write_field_stop(w));
	W(ops->write_struct_end(w));
	W(ops->write_struct_begin(w));
	W(ops->write_field_stop(w));
	W(ops->write_struct_end(w));

	W(ops->write_field_begin(w, PROTO_T_LIST, 18));
	W(ops->write_list_begin(w, PROTO_T_DOUBLE, 3));
	for (int i = 0; i < 3; i++)
		W(ops->write_double(w, dbl[i]));

	W(ops->write_field_begin(w, PROTO_T_MAP, 19));
	W(ops->write_map_begin(w, PROTO_T_BYTE, PROTO_T_BOOL, 2));
	W(ops->write_byte(w, 1));
	W(ops->write_bool(w, true));
	W(ops->write_byte(w, 2));
	W(ops->write_bool(w, false));

	W(ops->write_field_begin(w, PROTO_T_BOOL, 21));
	W(ops->write_bool(w, true));

	W(ops->write_field_begin(w, PROTO_T_SET, 22));
	W(ops->write_set_begin(w, PROTO_T_I64, SAMPLE_SET_N));
	for (int i = 0; i < SAMPLE_SET_N; i++)
		W(ops->write_i64(w, sample_set_value(i)));

	W(ops->write_field_begin(w, PROTO_T_I16, 0));
	W(ops->write_i16(w, INT16_MIN));
	W(ops->write_field_stop(w));
	W(ops->write_struct_end(w));
#undef W
	return rc;
}

/*
 * Read the sample back, checking every value read; returns the status at
 * the first failed read (PROTO_OK if all went through).
 */
static enum proto_status
codec_read_sample(const struct proto_ops *ops, struct proto_reader *r)
{
	static const double	 dbl[] = { 0.5, -0.0, 1e300 };
	struct proto_string	 s;
	uint8_t			 type, kt, vt;
	int32_t			 seqid, i32;
	int64_t			 i64;
	int16_t			 i16;
	int8_t			 i8;
	uint32_t		 n;
	double			 d;
	bool			 b;

#define R(call) do {							\
	if ((call) != 0) {						\
		ck_assert_msg(r->status != PROTO_OK,			\
		    "%s: a read returned -1 with status OK", ops->name); \
		return r->status;					\
	}								\
} while (0)
#define F(t, id)	R(codec_expect_field(ops, r, (t), (id)))
	R(ops->read_message_begin(r, &s, &type, &seqid));
	ck_assert(pstr_eq(&s, SAMPLE_NAME));
	ck_assert_uint_eq(type, PROTO_CALL);
	ck_assert_int_eq(seqid, SAMPLE_SEQID);
	R(ops->read_struct_begin(r));
	F(PROTO_T_BOOL, 1);
	R(ops->read_bool(r, &b));
	ck_assert(b == true);
	F(PROTO_T_BOOL, 2);
	R(ops->read_bool(r, &b));
	ck_assert(b == false);
	F(PROTO_T_BYTE, 3);
	R(ops->read_byte(r, &i8));
	ck_assert_int_eq(i8, -128);
	F(PROTO_T_I16, 4);
	R(ops->read_i16(r, &i16));
	ck_assert_int_eq(i16, -12345);
	F(PROTO_T_I32, 5);
	R(ops->read_i32(r, &i32));
	ck_assert_int_eq(i32, INT32_MIN);
	F(PROTO_T_I64, 6);
	R(ops->read_i64(r, &i64));
	ck_assert(i64 == INT64_C(0x123456789abcdef0));
	F(PROTO_T_DOUBLE, 7);
	R(ops->read_double(r, &d));
	ck_assert(double_same(d, -1234.5));
	F(PROTO_T_STRING, 8);
	R(ops->read_string(r, &s));
	ck_assert(pstr_eq(&s, "h\xc3\xa9llo"));
	F(PROTO_T_STRING, 20);
	R(ops->read_string(r, &s));
	ck_assert_uint_eq(s.len, 0);
	F(PROTO_T_I32, 40);
	R(ops->read_i32(r, &i32));
	ck_assert_int_eq(i32, INT32_MAX);
	F(PROTO_T_I64, -3);
	R(ops->read_i64(r, &i64));
	ck_assert(i64 == INT64_MIN);

	F(PROTO_T_STRUCT, 10);
	R(ops->read_struct_begin(r));
	F(PROTO_T_I32, 1);
	R(ops->read_i32(r, &i32));
	ck_assert_int_eq(i32, 1);
	F(PROTO_T_BOOL, 2);
	R(ops->read_bool(r, &b));
	ck_assert(b == true);
	F(PROTO_T_STRUCT, 3);
	R(ops->read_struct_begin(r));
	F(PROTO_T_I64, 15);
	R(ops->read_i64(r, &i64));
	ck_assert(i64 == -1);
	F(PROTO_T_STOP, 0);
	R(ops->read_struct_end(r));
	F(PROTO_T_BOOL, 16);
	R(ops->read_bool(r, &b));
	ck_assert(b == false);
	F(PROTO_T_STOP, 0);
	R(ops->read_struct_end(r));

	F(PROTO_T_LIST, 11);
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_I32);
	ck_assert_uint_eq(n, SAMPLE_LIST_N);
	for (int i = 0; i < SAMPLE_LIST_N; i++) {
		R(ops->read_i32(r, &i32));
		ck_assert_int_eq(i32, sample_list_value(i));
	}
	R(ops->read_container_end(r));

	F(PROTO_T_SET, 12);
	R(ops->read_set_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_STRING);
	ck_assert_uint_eq(n, 2);
	R(ops->read_string(r, &s));
	ck_assert(pstr_eq(&s, "a"));
	R(ops->read_string(r, &s));
	ck_assert(pstr_eq(&s, "bc"));
	R(ops->read_container_end(r));

	F(PROTO_T_MAP, 13);
	R(ops->read_map_begin(r, &kt, &vt, &n));
	ck_assert_uint_eq(kt, PROTO_T_STRING);
	ck_assert_uint_eq(vt, PROTO_T_I64);
	ck_assert_uint_eq(n, 2);
	R(ops->read_string(r, &s));
	ck_assert(pstr_eq(&s, "x"));
	R(ops->read_i64(r, &i64));
	ck_assert(i64 == 1);
	R(ops->read_string(r, &s));
	ck_assert(pstr_eq(&s, "y"));
	R(ops->read_i64(r, &i64));
	ck_assert(i64 == -1);
	R(ops->read_container_end(r));

	F(PROTO_T_MAP, 14);
	R(ops->read_map_begin(r, &kt, &vt, &n));
	ck_assert_uint_eq(n, 0);	/* compact sends no types for an empty map */
	R(ops->read_container_end(r));

	F(PROTO_T_LIST, 15);
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_BOOL);
	ck_assert_uint_eq(n, 3);
	for (int i = 0; i < 3; i++) {
		R(ops->read_bool(r, &b));
		ck_assert(b == (i != 1));
	}
	R(ops->read_container_end(r));

	F(PROTO_T_LIST, 16);
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_LIST);
	ck_assert_uint_eq(n, 3);
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_I16);
	ck_assert_uint_eq(n, 2);
	R(ops->read_i16(r, &i16));
	ck_assert_int_eq(i16, 1);
	R(ops->read_i16(r, &i16));
	ck_assert_int_eq(i16, 2);
	R(ops->read_container_end(r));
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_I16);
	ck_assert_uint_eq(n, 0);
	R(ops->read_container_end(r));
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_I16);
	ck_assert_uint_eq(n, 1);
	R(ops->read_i16(r, &i16));
	ck_assert_int_eq(i16, -3);
	R(ops->read_container_end(r));
	R(ops->read_container_end(r));

	F(PROTO_T_LIST, 17);
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_STRUCT);
	ck_assert_uint_eq(n, 2);
	R(ops->read_struct_begin(r));
	F(PROTO_T_I32, 1);
	R(ops->read_i32(r, &i32));
	ck_assert_int_eq(i32, 9);
	F(PROTO_T_STOP, 0);
	R(ops->read_struct_end(r));
	R(ops->read_struct_begin(r));
	F(PROTO_T_STOP, 0);
	R(ops->read_struct_end(r));
	R(ops->read_container_end(r));

	F(PROTO_T_LIST, 18);
	R(ops->read_list_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_DOUBLE);
	ck_assert_uint_eq(n, 3);
	for (int i = 0; i < 3; i++) {
		R(ops->read_double(r, &d));
		ck_assert_msg(double_same(d, dbl[i]), "double %d: got %g", i, d);
	}
	R(ops->read_container_end(r));

	F(PROTO_T_MAP, 19);
	R(ops->read_map_begin(r, &kt, &vt, &n));
	ck_assert_uint_eq(kt, PROTO_T_BYTE);
	ck_assert_uint_eq(vt, PROTO_T_BOOL);
	ck_assert_uint_eq(n, 2);
	R(ops->read_byte(r, &i8));
	ck_assert_int_eq(i8, 1);
	R(ops->read_bool(r, &b));
	ck_assert(b == true);
	R(ops->read_byte(r, &i8));
	ck_assert_int_eq(i8, 2);
	R(ops->read_bool(r, &b));
	ck_assert(b == false);
	R(ops->read_container_end(r));

	F(PROTO_T_BOOL, 21);
	R(ops->read_bool(r, &b));
	ck_assert(b == true);

	F(PROTO_T_SET, 22);
	R(ops->read_set_begin(r, &vt, &n));
	ck_assert_uint_eq(vt, PROTO_T_I64);
	ck_assert_uint_eq(n, SAMPLE_SET_N);
	for (int i = 0; i < SAMPLE_SET_N; i++) {
		R(ops->read_i64(r, &i64));
		ck_assert(i64 == sample_set_value(i));
	}
	R(ops->read_container_end(r));

	F(PROTO_T_I16, 0);
	R(ops->read_i16(r, &i16));
	ck_assert_int_eq(i16, INT16_MIN);
	F(PROTO_T_STOP, 0);
	R(ops->read_struct_end(r));
#undef F
#undef R
	return PROTO_OK;
}

/* Read the sample's header, then skip its struct. */
static enum proto_status
codec_skip_sample(const struct proto_ops *ops, struct proto_reader *r)
{
	struct proto_string	s;
	uint8_t			type;
	int32_t			seqid;

	if (ops->read_message_begin(r, &s, &type, &seqid) != 0 ||
	    ops->skip(r, PROTO_T_STRUCT) != 0) {
		ck_assert_msg(r->status != PROTO_OK, "%s: -1 with status OK", ops->name);
		return r->status;
	}
	return PROTO_OK;
}

static void
codec_sample(const struct proto_ops *ops, struct wfix *f)
{
	wfix_init(f, CODEC_MAX_SIZE);
	ck_assert_int_eq(codec_write_sample(ops, &f->w), 0);
	ck_assert(!f->w.failed);
}

/* Write the sample, read it back value by value and skip it whole. */
void
codec_check_roundtrip(const struct proto_ops *ops)
{
	struct wfix		f;
	struct proto_reader	r;
	enum proto_status	st;

	codec_sample(ops, &f);
	proto_reader_init(&r, f.buf.data, f.buf.len, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	st = codec_read_sample(ops, &r);
	ck_assert_msg(st == PROTO_OK, "%s read: %s (%s) at pos %zu", ops->name,
	    status_name(st), r.error ? r.error : "", r.pos);
	ck_assert_uint_eq(r.pos, f.buf.len);
	ck_assert_uint_eq(r.depth, 0);

	proto_reader_init(&r, f.buf.data, f.buf.len, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	st = codec_skip_sample(ops, &r);
	ck_assert_msg(st == PROTO_OK, "%s skip: %s (%s) at pos %zu", ops->name,
	    status_name(st), r.error ? r.error : "", r.pos);
	ck_assert_uint_eq(r.pos, f.buf.len);
	buf_free(&f.buf);
}

/*
 * Every proper prefix of the sample reads as NEED_MORE, both value by
 * value and by skipping, with need past the prefix and within the whole.
 */
void
codec_check_truncation(const struct proto_ops *ops)
{
	struct wfix		f;
	struct proto_reader	r;
	enum proto_status	st;
	size_t			len;

	codec_sample(ops, &f);
	len = f.buf.len;
	for (size_t cut = 0; cut < len; cut++) {
		for (int mode = 0; mode < 2; mode++) {
			proto_reader_init(&r, f.buf.data, cut, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
			st = mode == 0 ? codec_read_sample(ops, &r) : codec_skip_sample(ops, &r);
			ck_assert_msg(st == PROTO_NEED_MORE,
			    "%s %s of %zu of %zu bytes: %s (%s)", ops->name,
			    mode == 0 ? "read" : "skip", cut, len, status_name(st),
			    r.error ? r.error : "");
			ck_assert_msg(r.need > cut && r.need <= len,
			    "%s %s of %zu of %zu bytes: need %zu", ops->name,
			    mode == 0 ? "read" : "skip", cut, len, r.need);
		}
	}
	buf_free(&f.buf);
}

/* With a buffer limit short of the sample every write path fails cleanly. */
void
codec_check_write_limit(const struct proto_ops *ops)
{
	struct wfix	full, f;
	size_t		len;

	codec_sample(ops, &full);
	len = full.buf.len;
	for (size_t limit = 0; limit <= len; limit++) {
		wfix_init(&f, limit);
		if (limit < len) {
			ck_assert_msg(codec_write_sample(ops, &f.w) == -1,
			    "%s: limit %zu of %zu, writes all said 0", ops->name, limit, len);
			ck_assert(f.w.failed);
			ck_assert_msg(f.buf.len <= limit, "%s: limit %zu, wrote %zu",
			    ops->name, limit, f.buf.len);
		} else {
			ck_assert_int_eq(codec_write_sample(ops, &f.w), 0);
			ck_assert(!f.w.failed);
			ck_assert_uint_eq(f.buf.len, len);
			ck_assert(memcmp(f.buf.data, full.buf.data, len) == 0);
		}
		buf_free(&f.buf);
	}
	buf_free(&full.buf);
}

/* --- running ------------------------------------------------------------------ */

int
codec_run_suite(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
