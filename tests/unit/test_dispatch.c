/*
 * test_dispatch: the method table — every CalculatorService method, the
 * TApplicationException cases, multiplexed names, skipped unknown fields
 * and malformed input, with both the binary and the compact protocol.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"
#include "codec_common.h"
#include "dispatch.h"

static const struct proto_ops *const protos[] = { &proto_binary, &proto_compact };
#define NPROTOS		((int)(sizeof protos / sizeof protos[0]))

#define OP_ADD		1
#define OP_SUBTRACT	2
#define OP_MULTIPLY	3
#define OP_DIVIDE	4

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

/* --- building requests --------------------------------------------------- */

struct req {
	const struct proto_ops	*ops;
	struct buf		 buf;
	struct proto_writer	 w;
};

/* A call named name[0..name_len), which may hold any bytes. */
static void
req_begin_raw(struct req *q, const struct proto_ops *ops, const char *name, size_t name_len,
    uint8_t type, int32_t seqid)
{
	struct proto_string s = { (const uint8_t *)name, name_len };

	q->ops = ops;
	buf_init(&q->buf, 1u << 20);
	proto_writer_init(&q->w, &q->buf);
	ops->write_message_begin(&q->w, &s, type, seqid);
	ops->write_struct_begin(&q->w);
}

static void
req_begin(struct req *q, const struct proto_ops *ops, const char *name, uint8_t type,
    int32_t seqid)
{
	req_begin_raw(q, ops, name, strlen(name), type, seqid);
}

static void
req_i32(struct req *q, int16_t id, int32_t v)
{
	q->ops->write_field_begin(&q->w, PROTO_T_I32, id);
	q->ops->write_i32(&q->w, v);
}

static void
req_string(struct req *q, int16_t id, const char *v)
{
	q->ops->write_field_begin(&q->w, PROTO_T_STRING, id);
	q->ops->write_string(&q->w, v, strlen(v));
}

/* Work{1: num1, 2: num2, 3: op} as field id of the args. */
static void
req_work(struct req *q, int16_t id, int32_t num1, int32_t num2, int32_t op)
{
	q->ops->write_field_begin(&q->w, PROTO_T_STRUCT, id);
	q->ops->write_struct_begin(&q->w);
	req_i32(q, 1, num1);
	req_i32(q, 2, num2);
	req_i32(q, 3, op);
	q->ops->write_field_stop(&q->w);
	q->ops->write_struct_end(&q->w);
}

static void
req_end(struct req *q)
{
	q->ops->write_field_stop(&q->w);
	q->ops->write_struct_end(&q->w);
	ck_assert(!q->w.failed);
}

static void
req_free(struct req *q)
{
	buf_free(&q->buf);
}

/* --- running and decoding ------------------------------------------------ */

struct call {
	struct buf		out;
	struct dispatch_result	res;
};

static void
call_run(struct call *c, const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *lim)
{
	buf_init(&c->out, 1u << 20);
	memset(&c->res, 0, sizeof c->res);
	c->res.status = PROTO_BAD;
	dispatch_message(ops, data, len, lim, &c->out, &c->res);
}

static void
call_req(struct call *c, struct req *q)
{
	call_run(c, q->ops, q->buf.data, q->buf.len, &limits);
}

/* One complete message consumed and answered. */
static void
call_ok(struct call *c, size_t len)
{
	ck_assert_msg(c->res.status == PROTO_OK, "status %s (%s)",
	    status_name(c->res.status), c->res.error ? c->res.error : "");
	ck_assert_uint_eq(c->res.consumed, len);
	ck_assert(c->res.replied);
	ck_assert_uint_gt(c->out.len, 0);
}

struct reply {
	char		name[512];
	uint8_t		type;
	int32_t		seqid;
	int		fields;		/* result fields seen */
	/* REPLY */
	bool		has_i32;	/* 0: i32 */
	int32_t		i32;
	bool		has_shared;	/* 0: SharedStruct */
	bool		has_key, has_value;
	int32_t		key;
	char		value[64];
	bool		has_ouch;	/* 1: InvalidOperation */
	bool		has_what_op, has_why;
	int32_t		what_op;
	char		why[256];
	/* EXCEPTION */
	bool		has_message, has_ex_type;
	char		message[512];
	int32_t		ex_type;
};

static void
copy_str(char *dst, size_t cap, const struct proto_string *s)
{
	ck_assert_msg(s->len < cap, "string of %zu bytes", s->len);
	memcpy(dst, s->ptr, s->len);
	dst[s->len] = '\0';
}

#define RD(call) ck_assert_msg((call) == 0, "decoding the reply: %s (%s) at %zu", \
	status_name(r.status), r.error ? r.error : "", r.pos)

/* Decode a reply or exception message completely; abort on anything odd. */
static void
reply_decode(const struct proto_ops *ops, const uint8_t *data, size_t len, struct reply *rep)
{
	struct proto_reader	r;
	struct proto_string	s;
	uint8_t			t, t2;
	int16_t			id, id2;

	memset(rep, 0, sizeof *rep);
	proto_reader_init(&r, data, len, CODEC_MAX_SIZE, CODEC_MAX_DEPTH);
	RD(ops->read_message_begin(&r, &s, &rep->type, &rep->seqid));
	copy_str(rep->name, sizeof rep->name, &s);
	RD(ops->read_struct_begin(&r));
	for (int guard = 0; guard < 16; guard++) {
		RD(ops->read_field_begin(&r, &t, &id));
		if (t == PROTO_T_STOP)
			break;
		if (rep->type == PROTO_EXCEPTION) {
			if (id == 1 && t == PROTO_T_STRING) {
				RD(ops->read_string(&r, &s));
				copy_str(rep->message, sizeof rep->message, &s);
				rep->has_message = true;
			} else if (id == 2 && t == PROTO_T_I32) {
				RD(ops->read_i32(&r, &rep->ex_type));
				rep->has_ex_type = true;
			} else
				ck_abort_msg("TApplicationException field %d type %u", id, t);
			continue;
		}
		ck_assert_msg(rep->type == PROTO_REPLY, "message type %u", rep->type);
		rep->fields++;
		if (id == 0 && t == PROTO_T_I32) {
			RD(ops->read_i32(&r, &rep->i32));
			rep->has_i32 = true;
		} else if (id == 0 && t == PROTO_T_STRUCT) {
			rep->has_shared = true;
			RD(ops->read_struct_begin(&r));
			for (int g2 = 0; g2 < 8; g2++) {
				RD(ops->read_field_begin(&r, &t2, &id2));
				if (t2 == PROTO_T_STOP)
					break;
				if (id2 == 1 && t2 == PROTO_T_I32) {
					RD(ops->read_i32(&r, &rep->key));
					rep->has_key = true;
				} else if (id2 == 2 && t2 == PROTO_T_STRING) {
					RD(ops->read_string(&r, &s));
					copy_str(rep->value, sizeof rep->value, &s);
					rep->has_value = true;
				} else
					ck_abort_msg("SharedStruct field %d type %u", id2, t2);
			}
			RD(ops->read_struct_end(&r));
		} else if (id == 1 && t == PROTO_T_STRUCT) {
			rep->has_ouch = true;
			RD(ops->read_struct_begin(&r));
			for (int g2 = 0; g2 < 8; g2++) {
				RD(ops->read_field_begin(&r, &t2, &id2));
				if (t2 == PROTO_T_STOP)
					break;
				if (id2 == 1 && t2 == PROTO_T_I32) {
					RD(ops->read_i32(&r, &rep->what_op));
					rep->has_what_op = true;
				} else if (id2 == 2 && t2 == PROTO_T_STRING) {
					RD(ops->read_string(&r, &s));
					copy_str(rep->why, sizeof rep->why, &s);
					rep->has_why = true;
				} else
					ck_abort_msg("InvalidOperation field %d type %u", id2, t2);
			}
			RD(ops->read_struct_end(&r));
		} else
			ck_abort_msg("result field %d type %u", id, t);
	}
	RD(ops->read_struct_end(&r));
	ck_assert_msg(r.pos == len, "reply is %zu bytes, message ended at %zu", len, r.pos);
	ck_assert_msg(rep->fields <= 1, "result struct with %d fields", rep->fields);
}

/*
 * What a reply to a call named name must be named: the bare method, as
 * Apache Thrift's TMultiplexedProcessor answers "Service:method".
 */
static const char *
reply_name_for(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon != NULL ? colon + 1 : name;
}

static void
reply_header(const struct reply *rep, const char *name, uint8_t type, int32_t seqid)
{
	ck_assert_msg(strcmp(rep->name, reply_name_for(name)) == 0,
	    "reply name \"%s\", want \"%s\"", rep->name, reply_name_for(name));
	ck_assert_msg(rep->type == type, "reply type %u, want %u (exception: %s)",
	    rep->type, type, rep->message);
	ck_assert_int_eq(rep->seqid, seqid);
}

/* Run q and expect a REPLY carrying an i32 success value. */
static int32_t
expect_i32(struct req *q, const char *name, int32_t seqid)
{
	struct call	c;
	struct reply	rep;

	call_req(&c, q);
	call_ok(&c, q->buf.len);
	reply_decode(q->ops, c.out.data, c.out.len, &rep);
	reply_header(&rep, name, PROTO_REPLY, seqid);
	ck_assert_msg(rep.has_i32, "no i32 success (ouch %d: %s)", rep.has_ouch, rep.why);
	buf_free(&c.out);
	return rep.i32;
}

/* Run q and expect an EXCEPTION message of the given type. */
static void
expect_app_error(struct req *q, const char *name, int32_t seqid, int32_t type,
    struct reply *rep)
{
	struct call c;

	call_req(&c, q);
	call_ok(&c, q->buf.len);
	reply_decode(q->ops, c.out.data, c.out.len, rep);
	reply_header(rep, name, PROTO_EXCEPTION, seqid);
	ck_assert(rep->has_message);
	ck_assert(rep->has_ex_type);
	ck_assert_msg(rep->ex_type == type, "exception type %d, want %d (\"%s\")",
	    rep->ex_type, type, rep->message);
	buf_free(&c.out);
}

/* Run q and expect calculate's InvalidOperation. */
static void
expect_ouch(struct req *q, int32_t seqid, int32_t what_op, struct reply *rep)
{
	struct call c;

	call_req(&c, q);
	call_ok(&c, q->buf.len);
	reply_decode(q->ops, c.out.data, c.out.len, rep);
	reply_header(rep, "calculate", PROTO_REPLY, seqid);
	ck_assert_msg(rep->has_ouch, "no InvalidOperation (i32 %d: %d)", rep->has_i32,
	    rep->i32);
	ck_assert(rep->has_what_op);
	ck_assert_int_eq(rep->what_op, what_op);
	ck_assert(rep->has_why);
	ck_assert_uint_gt(strlen(rep->why), 0);
	buf_free(&c.out);
}

static int32_t
do_binop(const struct proto_ops *ops, const char *name, int32_t a, int32_t b, int32_t seqid)
{
	struct req	q;
	int32_t		v;

	req_begin(&q, ops, name, PROTO_CALL, seqid);
	req_i32(&q, 1, a);
	req_i32(&q, 2, b);
	req_end(&q);
	v = expect_i32(&q, name, seqid);
	req_free(&q);
	return v;
}

static int32_t
do_calculate(const struct proto_ops *ops, int32_t logid, int32_t num1, int32_t num2,
    int32_t op, int32_t seqid)
{
	struct req	q;
	int32_t		v;

	req_begin(&q, ops, "calculate", PROTO_CALL, seqid);
	req_i32(&q, 1, logid);
	req_work(&q, 2, num1, num2, op);
	req_end(&q);
	v = expect_i32(&q, "calculate", seqid);
	req_free(&q);
	return v;
}

static void
do_calculate_ouch(const struct proto_ops *ops, int32_t num1, int32_t num2, int32_t op,
    struct reply *rep)
{
	struct req q;

	req_begin(&q, ops, "calculate", PROTO_CALL, 77);
	req_i32(&q, 1, 1);
	req_work(&q, 2, num1, num2, op);
	req_end(&q);
	expect_ouch(&q, 77, op, rep);
	req_free(&q);
}

static void
do_get_struct(const struct proto_ops *ops, const char *name, int32_t key,
    struct reply *rep)
{
	struct req	q;
	struct call	c;

	req_begin(&q, ops, name, PROTO_CALL, 31);
	req_i32(&q, 1, key);
	req_end(&q);
	call_req(&c, &q);
	call_ok(&c, q.buf.len);
	reply_decode(ops, c.out.data, c.out.len, rep);
	ck_assert_str_eq(rep->name, reply_name_for(name));
	ck_assert_int_eq(rep->seqid, 31);
	buf_free(&c.out);
	req_free(&q);
}

/* --- methods ------------------------------------------------------------- */

START_TEST(add_subtract)
{
	const struct proto_ops *ops = protos[_i];

	ck_assert_int_eq(do_binop(ops, "add", 2, 3, 7), 5);
	ck_assert_int_eq(do_binop(ops, "add", -7, 3, 8), -4);
	ck_assert_int_eq(do_binop(ops, "add", INT32_MAX, INT32_MIN, 9), -1);
	ck_assert_int_eq(do_binop(ops, "add", INT32_MAX - 1, 1, -9), INT32_MAX);
	ck_assert_int_eq(do_binop(ops, "subtract", 10, 3, 10), 7);
	ck_assert_int_eq(do_binop(ops, "subtract", -5, 10, 0), -15);
	ck_assert_int_eq(do_binop(ops, "subtract", INT32_MIN + 1, 1, 1), INT32_MIN);
	ck_assert_int_eq(do_binop(ops, "subtract", -1, INT32_MAX, 1), INT32_MIN);
}
END_TEST

START_TEST(add_result_fields)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;

	req_begin(&q, ops, "add", PROTO_CALL, 12345);
	req_i32(&q, 1, 20);
	req_i32(&q, 2, 22);
	req_end(&q);
	call_req(&c, &q);
	call_ok(&c, q.buf.len);
	/* the method name, for logs, points into the input */
	ck_assert_uint_eq(c.res.method_len, 3);
	ck_assert_ptr_nonnull(c.res.method);
	ck_assert(c.res.method >= q.buf.data && c.res.method < q.buf.data + q.buf.len);
	ck_assert(memcmp(c.res.method, "add", 3) == 0);
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

START_TEST(add_overflow)
{
	static const struct {
		const char	*name;
		int32_t		 a, b;
	} cases[] = {
		{ "add", INT32_MAX, 1 },
		{ "add", INT32_MIN, -1 },
		{ "add", INT32_MAX, INT32_MAX },
		{ "subtract", INT32_MIN, 1 },
		{ "subtract", 0, INT32_MIN },
		{ "subtract", INT32_MAX, -1 },
	};
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		req_begin(&q, ops, cases[i].name, PROTO_CALL, (int32_t)i);
		req_i32(&q, 1, cases[i].a);
		req_i32(&q, 2, cases[i].b);
		req_end(&q);
		expect_app_error(&q, cases[i].name, (int32_t)i, PROTO_APP_UNKNOWN, &rep);
		ck_assert_msg(strstr(rep.message, "overflow") != NULL,
		    "%s(%d, %d): message \"%s\"", cases[i].name, cases[i].a, cases[i].b,
		    rep.message);
		req_free(&q);
	}
}
END_TEST

START_TEST(ping)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;
	struct reply		 rep;

	req_begin(&q, ops, "ping", PROTO_CALL, 99);
	req_end(&q);
	call_req(&c, &q);
	call_ok(&c, q.buf.len);
	reply_decode(ops, c.out.data, c.out.len, &rep);
	reply_header(&rep, "ping", PROTO_REPLY, 99);
	ck_assert_int_eq(rep.fields, 0);	/* void: an empty result struct */
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

START_TEST(calculate_ops)
{
	const struct proto_ops *ops = protos[_i];

	ck_assert_int_eq(do_calculate(ops, 1, 1, 2, OP_ADD, 1), 3);
	ck_assert_int_eq(do_calculate(ops, 1, 1, 2, OP_SUBTRACT, 2), -1);
	ck_assert_int_eq(do_calculate(ops, 1, -6, 7, OP_MULTIPLY, 3), -42);
	ck_assert_int_eq(do_calculate(ops, 1, 7, 2, OP_DIVIDE, 4), 3);
	ck_assert_int_eq(do_calculate(ops, 1, -8, 2, OP_DIVIDE, 5), -4);
	ck_assert_int_eq(do_calculate(ops, 1, INT32_MIN, 1, OP_DIVIDE, 6), INT32_MIN);
	ck_assert_int_eq(do_calculate(ops, 1, INT32_MIN, 0, OP_ADD, 7), INT32_MIN);
	ck_assert_int_eq(do_calculate(ops, 1, 46340, 46340, OP_MULTIPLY, 8), 2147395600);
	ck_assert_int_eq(do_calculate(ops, 1, INT32_MIN, -1, OP_SUBTRACT, 9), -INT32_MAX);
	ck_assert_int_eq(do_calculate(ops, 1, INT32_MAX, -1, OP_DIVIDE, 10), -INT32_MAX);
}
END_TEST

START_TEST(calculate_divide_by_zero)
{
	const struct proto_ops	*ops = protos[_i];
	struct reply		 rep;

	do_calculate_ouch(ops, 1, 0, OP_DIVIDE, &rep);
	ck_assert_msg(strstr(rep.why, "Cannot divide by 0") != NULL, "why \"%s\"", rep.why);
	do_calculate_ouch(ops, 0, 0, OP_DIVIDE, &rep);
	ck_assert_msg(strstr(rep.why, "Cannot divide by 0") != NULL, "why \"%s\"", rep.why);
	do_calculate_ouch(ops, INT32_MIN, 0, OP_DIVIDE, &rep);
}
END_TEST

START_TEST(calculate_overflow)
{
	static const struct calc_work cases[] = {
		{ INT32_MAX, 1, OP_ADD },
		{ INT32_MIN, -1, OP_ADD },
		{ INT32_MIN, 1, OP_SUBTRACT },
		{ INT32_MAX, -1, OP_SUBTRACT },
		{ INT32_MAX, 2, OP_MULTIPLY },
		{ 46341, 46341, OP_MULTIPLY },
		{ INT32_MIN, -1, OP_MULTIPLY },
		{ -1, INT32_MIN, OP_MULTIPLY },
		{ INT32_MIN, -1, OP_DIVIDE },
	};
	const struct proto_ops	*ops = protos[_i];
	struct reply		 rep;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		do_calculate_ouch(ops, cases[i].num1, cases[i].num2, cases[i].op, &rep);
}
END_TEST

START_TEST(calculate_unknown_op)
{
	static const int32_t bad_ops[] = { 0, 5, -1, 100, INT32_MIN, INT32_MAX };
	const struct proto_ops	*ops = protos[_i];
	struct reply		 rep;

	for (size_t i = 0; i < sizeof bad_ops / sizeof bad_ops[0]; i++)
		do_calculate_ouch(ops, 6, 3, bad_ops[i], &rep);
}
END_TEST

/* Work.num1 defaults to 0; the optional comment is accepted and ignored. */
START_TEST(calculate_work_defaults)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;

	req_begin(&q, ops, "calculate", PROTO_CALL, 4);
	req_i32(&q, 1, 1);
	ops->write_field_begin(&q.w, PROTO_T_STRUCT, 2);
	ops->write_struct_begin(&q.w);
	req_i32(&q, 2, 5);
	req_i32(&q, 3, OP_SUBTRACT);
	ops->write_field_stop(&q.w);
	ops->write_struct_end(&q.w);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "calculate", 4), -5);
	req_free(&q);

	req_begin(&q, ops, "calculate", PROTO_CALL, 5);
	req_i32(&q, 1, 1);
	ops->write_field_begin(&q.w, PROTO_T_STRUCT, 2);
	ops->write_struct_begin(&q.w);
	req_string(&q, 4, "a comment");
	req_i32(&q, 3, OP_MULTIPLY);	/* out of order */
	req_i32(&q, 1, 6);
	req_i32(&q, 2, 7);
	ops->write_field_stop(&q.w);
	ops->write_struct_end(&q.w);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "calculate", 5), 42);
	req_free(&q);
}
END_TEST

START_TEST(get_struct_after_calculate)
{
	const struct proto_ops	*ops = protos[_i];
	struct reply		 rep;

	ck_assert_int_eq(do_calculate(ops, 7, 6, 7, OP_MULTIPLY, 1), 42);
	ck_assert_int_eq(do_calculate(ops, -3, INT32_MIN, 0, OP_ADD, 2), INT32_MIN);
	do_get_struct(ops, "getStruct", 7, &rep);
	ck_assert_uint_eq(rep.type, PROTO_REPLY);
	ck_assert(rep.has_shared);
	ck_assert(rep.has_key && rep.has_value);
	ck_assert_int_eq(rep.key, 7);
	ck_assert_str_eq(rep.value, "42");
	do_get_struct(ops, "getStruct", -3, &rep);
	ck_assert_uint_eq(rep.type, PROTO_REPLY);
	ck_assert(rep.has_shared && rep.has_key && rep.has_value);
	ck_assert_int_eq(rep.key, -3);
	ck_assert_str_eq(rep.value, "-2147483648");
}
END_TEST

START_TEST(get_struct_newest)
{
	const struct proto_ops	*ops = protos[_i];
	struct reply		 rep;

	ck_assert_int_eq(do_calculate(ops, 5, 1, 1, OP_ADD, 1), 2);
	ck_assert_int_eq(do_calculate(ops, 5, 10, 1, OP_SUBTRACT, 2), 9);
	do_get_struct(ops, "getStruct", 5, &rep);
	ck_assert_uint_eq(rep.type, PROTO_REPLY);
	ck_assert_int_eq(rep.key, 5);
	ck_assert_str_eq(rep.value, "9");
}
END_TEST

START_TEST(get_struct_unknown_key)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	req_begin(&q, ops, "getStruct", PROTO_CALL, 3);
	req_i32(&q, 1, 424242);
	req_end(&q);
	expect_app_error(&q, "getStruct", 3, PROTO_APP_UNKNOWN, &rep);
	ck_assert_msg(strstr(rep.message, "424242") != NULL, "message \"%s\"", rep.message);
	req_free(&q);
}
END_TEST

/* A calculate that threw logged nothing. */
START_TEST(get_struct_failed_calculate_not_logged)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	req_begin(&q, ops, "calculate", PROTO_CALL, 1);
	req_i32(&q, 1, 31337);
	req_work(&q, 2, 1, 0, OP_DIVIDE);
	req_end(&q);
	expect_ouch(&q, 1, OP_DIVIDE, &rep);
	req_free(&q);

	req_begin(&q, ops, "getStruct", PROTO_CALL, 2);
	req_i32(&q, 1, 31337);
	req_end(&q);
	expect_app_error(&q, "getStruct", 2, PROTO_APP_UNKNOWN, &rep);
	ck_assert_msg(strstr(rep.message, "31337") != NULL, "message \"%s\"", rep.message);
	req_free(&q);
}
END_TEST

START_TEST(zip_oneway)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;

	req_begin(&q, ops, "zip", PROTO_ONEWAY, 5);
	req_end(&q);
	call_req(&c, &q);
	ck_assert_status(c.res.status, PROTO_OK);
	ck_assert_uint_eq(c.res.consumed, q.buf.len);
	ck_assert(!c.res.replied);
	ck_assert_uint_eq(c.out.len, 0);
	buf_free(&c.out);
	req_free(&q);

	req_begin(&q, ops, "Calculator:zip", PROTO_ONEWAY, 6);
	req_end(&q);
	call_req(&c, &q);
	ck_assert_status(c.res.status, PROTO_OK);
	ck_assert(!c.res.replied);
	ck_assert_uint_eq(c.out.len, 0);
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

/* ONEWAY never gets a reply, whatever the method or its outcome. */
START_TEST(oneway_never_replied)
{
	static const char *const names[] = { "add", "ping", "nosuch" };
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		req_begin(&q, ops, names[i], PROTO_ONEWAY, 1);
		req_i32(&q, 1, INT32_MAX);
		req_i32(&q, 2, 1);
		req_end(&q);
		call_req(&c, &q);
		ck_assert_msg(c.res.status == PROTO_OK, "%s: %s", names[i],
		    status_name(c.res.status));
		ck_assert_uint_eq(c.res.consumed, q.buf.len);
		ck_assert_msg(!c.res.replied && c.out.len == 0, "%s: replied", names[i]);
		buf_free(&c.out);
		req_free(&q);
	}
}
END_TEST

START_TEST(unknown_method)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	req_begin(&q, ops, "nosuch", PROTO_CALL, 17);
	req_end(&q);
	expect_app_error(&q, "nosuch", 17, PROTO_APP_UNKNOWN_METHOD, &rep);
	ck_assert_msg(strstr(rep.message, "nosuch") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	/* with arguments, which are skipped */
	req_begin(&q, ops, "multiply", PROTO_CALL, 18);
	req_i32(&q, 1, 2);
	req_work(&q, 2, 1, 2, 3);
	req_end(&q);
	expect_app_error(&q, "multiply", 18, PROTO_APP_UNKNOWN_METHOD, &rep);
	ck_assert_msg(strstr(rep.message, "multiply") != NULL, "message \"%s\"",
	    rep.message);
	req_free(&q);

	/* names are case-sensitive */
	req_begin(&q, ops, "Add", PROTO_CALL, 19);
	req_i32(&q, 1, 2);
	req_i32(&q, 2, 2);
	req_end(&q);
	expect_app_error(&q, "Add", 19, PROTO_APP_UNKNOWN_METHOD, &rep);
	req_free(&q);
}
END_TEST

START_TEST(missing_argument)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	req_begin(&q, ops, "add", PROTO_CALL, 1);
	req_i32(&q, 2, 3);
	req_end(&q);
	expect_app_error(&q, "add", 1, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'a'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	req_begin(&q, ops, "subtract", PROTO_CALL, 2);
	req_i32(&q, 1, 3);
	req_end(&q);
	expect_app_error(&q, "subtract", 2, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'b'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	req_begin(&q, ops, "getStruct", PROTO_CALL, 3);
	req_end(&q);
	expect_app_error(&q, "getStruct", 3, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'key'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	req_begin(&q, ops, "calculate", PROTO_CALL, 4);
	req_i32(&q, 1, 1);
	req_end(&q);
	expect_app_error(&q, "calculate", 4, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'w'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	req_begin(&q, ops, "calculate", PROTO_CALL, 5);
	req_work(&q, 2, 1, 2, OP_ADD);
	req_end(&q);
	expect_app_error(&q, "calculate", 5, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'logid'") != NULL, "message \"%s\"",
	    rep.message);
	req_free(&q);
}
END_TEST

START_TEST(wrong_argument_type)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	req_begin(&q, ops, "add", PROTO_CALL, 1);
	req_string(&q, 1, "2");
	req_i32(&q, 2, 3);
	req_end(&q);
	expect_app_error(&q, "add", 1, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'a'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	req_begin(&q, ops, "add", PROTO_CALL, 2);
	req_i32(&q, 1, 2);
	ops->write_field_begin(&q.w, PROTO_T_I64, 2);
	ops->write_i64(&q.w, 3);
	req_end(&q);
	expect_app_error(&q, "add", 2, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'b'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	req_begin(&q, ops, "calculate", PROTO_CALL, 3);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 1);
	req_end(&q);
	expect_app_error(&q, "calculate", 3, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'w'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);

	req_begin(&q, ops, "getStruct", PROTO_CALL, 4);
	ops->write_field_begin(&q.w, PROTO_T_STRUCT, 1);
	ops->write_struct_begin(&q.w);
	ops->write_field_stop(&q.w);
	ops->write_struct_end(&q.w);
	req_end(&q);
	expect_app_error(&q, "getStruct", 4, PROTO_APP_PROTOCOL_ERROR, &rep);
	ck_assert_msg(strstr(rep.message, "'key'") != NULL, "message \"%s\"", rep.message);
	req_free(&q);
}
END_TEST

/* Unknown fields of every type, nested, around and inside the arguments. */
START_TEST(unknown_fields_skipped)
{
	const struct proto_ops	*ops = protos[_i];
	struct proto_writer	*w;
	struct req		 q;

	req_begin(&q, ops, "subtract", PROTO_CALL, 8);
	w = &q.w;
	ops->write_field_begin(w, PROTO_T_STRUCT, 3);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_MAP, 1);
	ops->write_map_begin(w, PROTO_T_STRING, PROTO_T_LIST, 1);
	ops->write_string(w, "k", 1);
	ops->write_list_begin(w, PROTO_T_I32, 3);
	ops->write_i32(w, 1);
	ops->write_i32(w, 2);
	ops->write_i32(w, 3);
	ops->write_field_begin(w, PROTO_T_STRUCT, 2);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_LIST, 1);
	ops->write_list_begin(w, PROTO_T_STRUCT, 1);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_DOUBLE, 1);
	ops->write_double(w, 2.5);
	ops->write_field_stop(w);
	ops->write_struct_end(w);
	ops->write_field_begin(w, PROTO_T_SET, 2);
	ops->write_set_begin(w, PROTO_T_I64, 1);
	ops->write_i64(w, 5);
	ops->write_field_stop(w);
	ops->write_struct_end(w);
	ops->write_field_begin(w, PROTO_T_BOOL, 3);
	ops->write_bool(w, true);
	ops->write_field_stop(w);
	ops->write_struct_end(w);
	ops->write_field_begin(w, PROTO_T_BOOL, 4);
	ops->write_bool(w, false);
	ops->write_field_begin(w, PROTO_T_DOUBLE, 5);
	ops->write_double(w, -1.5);
	req_i32(&q, 2, 3);		/* b between the unknowns */
	ops->write_field_begin(w, PROTO_T_I64, 6);
	ops->write_i64(w, INT64_MIN);
	ops->write_field_begin(w, PROTO_T_BYTE, 7);
	ops->write_byte(w, -1);
	ops->write_field_begin(w, PROTO_T_I16, 8);
	ops->write_i16(w, -300);
	ops->write_field_begin(w, PROTO_T_STRING, 9);
	ops->write_string(w, "ignored", 7);
	ops->write_field_begin(w, PROTO_T_LIST, 10);
	ops->write_list_begin(w, PROTO_T_BOOL, 2);
	ops->write_bool(w, true);
	ops->write_bool(w, false);
	ops->write_field_begin(w, PROTO_T_MAP, 11);
	ops->write_map_begin(w, PROTO_T_I32, PROTO_T_I32, 0);
	ops->write_field_begin(w, PROTO_T_I32, -1);
	ops->write_i32(w, 1000);
	req_i32(&q, 1, 10);		/* a last */
	ops->write_field_begin(w, PROTO_T_I32, 200);
	ops->write_i32(w, 2000);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "subtract", 8), 7);
	req_free(&q);

	/* inside Work too */
	req_begin(&q, ops, "calculate", PROTO_CALL, 9);
	req_i32(&q, 1, 1);
	ops->write_field_begin(w, PROTO_T_STRUCT, 2);
	ops->write_struct_begin(w);
	req_i32(&q, 1, 9);
	ops->write_field_begin(w, PROTO_T_STRUCT, 5);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_I32, 3);
	ops->write_i32(w, OP_ADD);
	ops->write_field_stop(w);
	ops->write_struct_end(w);
	ops->write_field_begin(w, PROTO_T_LIST, 6);
	ops->write_list_begin(w, PROTO_T_STRING, 1);
	ops->write_string(w, "x", 1);
	req_i32(&q, 2, 3);
	req_i32(&q, 3, OP_DIVIDE);
	ops->write_field_stop(w);
	ops->write_struct_end(w);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "calculate", 9), 3);
	req_free(&q);
}
END_TEST

/* A UUID field (type 16, compact 13; 16 bytes) among the arguments is skipped. */
START_TEST(unknown_uuid_field_skipped)
{
	static const char	 uuid[] = "00112233445566778899aabbccddeeff";
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct hexin		 in;

	/* header written by hand so the writer's field id state stays right */
	req_begin(&q, ops, "add", PROTO_CALL, 2);
	req_i32(&q, 1, 40);
	req_i32(&q, 2, 2);
	in.len = hex_decode(ops == &proto_binary ? "10 0005" : "3d", in.data, sizeof in.data);
	ck_assert_int_eq(buf_append(&q.buf, in.data, in.len), 0);
	in.len = hex_decode(uuid, in.data, sizeof in.data);
	ck_assert_int_eq(buf_append(&q.buf, in.data, in.len), 0);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "add", 2), 42);
	req_free(&q);
}
END_TEST

START_TEST(args_out_of_order)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;

	req_begin(&q, ops, "subtract", PROTO_CALL, 1);
	req_i32(&q, 2, 3);
	req_i32(&q, 1, 10);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "subtract", 1), 7);
	req_free(&q);
}
END_TEST

/*
 * Arguments sent again (the last one counts), after a mistyped one, and
 * with compact's long-form field header: none as dispatch predicts a
 * generated client's fields, so each takes the general field loop.
 */
START_TEST(args_repeated_and_long_form)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct hexin		 in;

	req_begin(&q, ops, "subtract", PROTO_CALL, 1);
	req_i32(&q, 1, 100);
	req_i32(&q, 2, 3);
	req_i32(&q, 1, 10);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "subtract", 1), 7);
	req_free(&q);

	req_begin(&q, ops, "subtract", PROTO_CALL, 2);
	req_string(&q, 1, "100");
	req_i32(&q, 1, 10);
	req_i32(&q, 2, 4);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "subtract", 2), 6);
	req_free(&q);

	req_begin(&q, ops, "calculate", PROTO_CALL, 3);
	req_i32(&q, 1, 1);
	req_work(&q, 2, 20, 5, OP_SUBTRACT);
	req_i32(&q, 1, 2);	/* logid again, after the Work */
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "calculate", 3), 15);
	req_free(&q);

	/* a = 50 (header long form: type, then id 1 as a zigzag i16), b = 8 (delta 1) */
	req_begin(&q, ops, "subtract", PROTO_CALL, 4);
	in.len = hex_decode(ops == &proto_binary ? "08 0001 00000032 08 0002 00000008" :
	    "05 02 64 15 10", in.data, sizeof in.data);
	ck_assert_int_eq(buf_append(&q.buf, in.data, in.len), 0);
	req_end(&q);
	ck_assert_int_eq(expect_i32(&q, "subtract", 4), 42);
	req_free(&q);
}
END_TEST

START_TEST(multiplexed_names)
{
	static const char *const services[] = { "CalculatorService", "Calculator" };
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;
	struct reply		 rep;
	char			 name[64];

	for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
		snprintf(name, sizeof name, "%s:add", services[i]);
		ck_assert_int_eq(do_binop(ops, name, 40, 2, 1), 42);
		snprintf(name, sizeof name, "%s:subtract", services[i]);
		ck_assert_int_eq(do_binop(ops, name, 40, 2, 2), 38);

		snprintf(name, sizeof name, "%s:ping", services[i]);
		req_begin(&q, ops, name, PROTO_CALL, 3);
		req_end(&q);
		call_req(&c, &q);
		call_ok(&c, q.buf.len);
		reply_decode(ops, c.out.data, c.out.len, &rep);
		reply_header(&rep, name, PROTO_REPLY, 3);
		ck_assert_int_eq(rep.fields, 0);
		buf_free(&c.out);
		req_free(&q);

		snprintf(name, sizeof name, "%s:calculate", services[i]);
		req_begin(&q, ops, name, PROTO_CALL, 4);
		req_i32(&q, 1, 11);
		req_work(&q, 2, 6, 3, OP_DIVIDE);
		req_end(&q);
		ck_assert_int_eq(expect_i32(&q, name, 4), 2);
		req_free(&q);

		snprintf(name, sizeof name, "%s:getStruct", services[i]);
		do_get_struct(ops, name, 11, &rep);
		reply_header(&rep, name, PROTO_REPLY, 31);
		ck_assert_int_eq(rep.key, 11);
		ck_assert_str_eq(rep.value, "2");

		snprintf(name, sizeof name, "%s:nosuch", services[i]);
		req_begin(&q, ops, name, PROTO_CALL, 5);
		req_end(&q);
		expect_app_error(&q, name, 5, PROTO_APP_UNKNOWN_METHOD, &rep);
		req_free(&q);
	}

	/* A service calcd doesn't serve: named in the message, the reply named "add". */
	req_begin(&q, ops, "Nope:add", PROTO_CALL, 6);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 2);
	req_end(&q);
	expect_app_error(&q, "Nope:add", 6, PROTO_APP_UNKNOWN_METHOD, &rep);
	ck_assert_str_eq(rep.name, "add");
	ck_assert_msg(strstr(rep.message, "unknown service 'Nope'") != NULL, "message: %s",
	    rep.message);
	req_free(&q);
}
END_TEST

/* REPLY and EXCEPTION are for clients: answered with INVALID_MESSAGE_TYPE. */
START_TEST(reply_sent_to_server)
{
	static const uint8_t	 types[] = { PROTO_REPLY, PROTO_EXCEPTION };
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	for (size_t i = 0; i < sizeof types; i++) {
		req_begin(&q, ops, "add", types[i], 21);
		req_i32(&q, 0, 5);
		req_end(&q);
		expect_app_error(&q, "add", 21, PROTO_APP_INVALID_MESSAGE_TYPE, &rep);
		req_free(&q);
	}
}
END_TEST

/* --- malformed input ----------------------------------------------------- */

#define PREFILL "pre"

static void
check_out_untouched(const struct call *c)
{
	ck_assert_msg(c->out.len == 3 && memcmp(c->out.data, PREFILL, 3) == 0,
	    "out changed: %zu bytes", c->out.len);
	ck_assert(!c->res.replied);
}

static void
call_prefilled(struct call *c, const struct proto_ops *ops, const uint8_t *data,
    size_t len, const struct dispatch_limits *lim)
{
	buf_init(&c->out, 1u << 20);
	ck_assert_int_eq(buf_append(&c->out, PREFILL, 3), 0);
	memset(&c->res, 0, sizeof c->res);
	c->res.status = PROTO_OK;
	dispatch_message(ops, data, len, lim, &c->out, &c->res);
}

START_TEST(truncated_need_more)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;

	req_begin(&q, ops, "calculate", PROTO_CALL, 300);
	req_i32(&q, 1, 1);
	req_work(&q, 2, 100000, 7, OP_MULTIPLY);
	req_end(&q);
	for (size_t cut = 0; cut < q.buf.len; cut++) {
		call_prefilled(&c, ops, q.buf.data, cut, &limits);
		ck_assert_msg(c.res.status == PROTO_NEED_MORE, "%zu of %zu bytes: %s", cut,
		    q.buf.len, status_name(c.res.status));
		ck_assert_msg(c.res.need > cut && c.res.need <= q.buf.len,
		    "%zu of %zu bytes: need %zu", cut, q.buf.len, c.res.need);
		check_out_untouched(&c);
		buf_free(&c.out);
	}
	req_free(&q);
}
END_TEST

START_TEST(garbage_bad)
{
	static const char *const bad[][4] = {
		{	/* binary */
			"80020001 00000003 616464 00000001 00",		/* version 2 */
			"80000001 00000003 616464 00000001 00",		/* version 0 */
			"80010001 00000003 616464 00000001 63 0001 00",	/* type 99 */
			"00000003 616464 01 00000001 08 0001 00000001 01 0002 00",
		}, {	/* compact */
			"82 22 01 03 616464 00",			/* version 2 */
			"83 21 01 03 616464 00",			/* not 0x82 */
			"82 21 01 03 616464 1e 00",			/* type 14 */
			"82 21 01 03 616464 15 02 1f 00",		/* type 15 */
		},
	};
	const struct proto_ops	*ops = protos[_i];
	struct hexin		 in;
	struct call		 c;

	for (size_t i = 0; i < 4; i++) {
		in.len = hex_decode(bad[_i][i], in.data, sizeof in.data);
		call_prefilled(&c, ops, in.data, in.len, &limits);
		ck_assert_msg(c.res.status == PROTO_BAD, "%s: %s", bad[_i][i],
		    status_name(c.res.status));
		ck_assert_ptr_nonnull(c.res.error);
		check_out_untouched(&c);
		buf_free(&c.out);
	}
}
END_TEST

/* A string argument longer than max_message_size: TOO_BIG at once. */
START_TEST(too_big_argument)
{
	const struct proto_ops		*ops = protos[_i];
	const struct dispatch_limits	 small = { 256, 32 };
	struct req			 q;
	struct call			 c;
	char				 big[1000];

	memset(big, 'x', sizeof big);
	req_begin(&q, ops, "add", PROTO_CALL, 1);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 2);
	ops->write_field_begin(&q.w, PROTO_T_STRING, 3);
	ops->write_string(&q.w, big, sizeof big);
	req_end(&q);
	call_prefilled(&c, ops, q.buf.data, q.buf.len, &small);
	ck_assert_status(c.res.status, PROTO_TOO_BIG);
	check_out_untouched(&c);
	buf_free(&c.out);
	/* without the string's bytes: still TOO_BIG, not NEED_MORE */
	call_prefilled(&c, ops, q.buf.data, q.buf.len - sizeof big, &small);
	ck_assert_status(c.res.status, PROTO_TOO_BIG);
	check_out_untouched(&c);
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

/* An unknown field nested past max_nesting_depth: BAD, out untouched. */
START_TEST(too_deep_unknown_field)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;
	uint8_t			 b;

	req_begin(&q, ops, "add", PROTO_CALL, 1);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 2);
	ops->write_field_begin(&q.w, PROTO_T_STRUCT, 3);
	/* 999 more levels of struct { 1: struct ... }, written by hand */
	for (int i = 0; i < 999; i++) {
		if (ops == &proto_binary) {
			b = PROTO_T_STRUCT;
			buf_append(&q.buf, &b, 1);
			buf_append(&q.buf, "\x00\x01", 2);
		} else {
			b = 0x1c;
			buf_append(&q.buf, &b, 1);
		}
	}
	for (int i = 0; i < 1000; i++)
		buf_append(&q.buf, "", 1);
	req_end(&q);
	call_prefilled(&c, ops, q.buf.data, q.buf.len, &limits);
	ck_assert_status(c.res.status, PROTO_BAD);
	check_out_untouched(&c);
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

/* Two messages back to back: dispatch takes exactly the first. */
START_TEST(consumes_one_message)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;
	struct reply		 rep;
	size_t			 first;

	req_begin(&q, ops, "add", PROTO_CALL, 1);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 2);
	req_end(&q);
	first = q.buf.len;
	{
		struct proto_string	s = pstr("ping");
		struct proto_writer	w2;

		proto_writer_init(&w2, &q.buf);
		ops->write_message_begin(&w2, &s, PROTO_CALL, 2);
		ops->write_struct_begin(&w2);
		ops->write_field_stop(&w2);
		ops->write_struct_end(&w2);
		ck_assert(!w2.failed);
	}
	call_run(&c, ops, q.buf.data, q.buf.len, &limits);
	call_ok(&c, first);
	reply_decode(ops, c.out.data, c.out.len, &rep);
	reply_header(&rep, "add", PROTO_REPLY, 1);
	ck_assert_int_eq(rep.i32, 3);
	buf_free(&c.out);

	call_run(&c, ops, q.buf.data + first, q.buf.len - first, &limits);
	call_ok(&c, q.buf.len - first);
	reply_decode(ops, c.out.data, c.out.len, &rep);
	reply_header(&rep, "ping", PROTO_REPLY, 2);
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

/* Replies are appended after whatever out already holds. */
START_TEST(reply_appended)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;
	struct reply		 rep;

	req_begin(&q, ops, "add", PROTO_CALL, 1);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 2);
	req_end(&q);
	call_prefilled(&c, ops, q.buf.data, q.buf.len, &limits);
	call_ok(&c, q.buf.len);
	ck_assert(memcmp(c.out.data, PREFILL, 3) == 0);
	reply_decode(ops, c.out.data + 3, c.out.len - 3, &rep);
	reply_header(&rep, "add", PROTO_REPLY, 1);
	ck_assert_int_eq(rep.i32, 3);
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

/* --- byte-exact, from the specs ------------------------------------------ */

/*
 * The reply, byte for byte, however much room out has: none yet (written
 * piece by piece), plenty (a reply prefix copied whole), exactly the
 * reply's length; and with one byte less, TOO_BIG and nothing written.
 */
static void
exact(const struct proto_ops *ops, const char *req_hex, const char *reply_hex)
{
	enum { EMPTY, ROOMY, EXACT, SHORT, WAYS };
	struct hexin	in;
	struct call	c;
	uint8_t		want[512];
	size_t		want_len = hex_decode(reply_hex, want, sizeof want);

	in.len = hex_decode(req_hex, in.data, sizeof in.data);
	for (int way = EMPTY; way < WAYS; way++) {
		buf_init(&c.out, way == EXACT ? want_len : way == SHORT ? want_len - 1 : 1u << 20);
		if (way == ROOMY)
			ck_assert_int_eq(buf_reserve(&c.out, 4096), 0);
		memset(&c.res, 0, sizeof c.res);
		dispatch_message(ops, in.data, in.len, &limits, &c.out, &c.res);
		if (way == SHORT) {
			ck_assert_int_eq(c.res.status, PROTO_TOO_BIG);
			ck_assert_uint_eq(c.out.len, 0);
		} else {
			call_ok(&c, in.len);
			ck_assert_hex(c.out.data, c.out.len, reply_hex);
		}
		buf_free(&c.out);
	}
}

START_TEST(exact_binary)
{
	/* add(2, 3) -> 5; the result's field 0 */
	exact(&proto_binary,
	    "80010001 00000003 616464 00000001 08 0001 00000002 08 0002 00000003 00",
	    "80010002 00000003 616464 00000001 08 0000 00000005 00");
	/* the old header in, a strict one out */
	exact(&proto_binary,
	    "00000003 616464 01 00000002 08 0001 00000002 08 0002 00000003 00",
	    "80010002 00000003 616464 00000002 08 0000 00000005 00");
	/* multiplexed: the reply names the bare method */
	exact(&proto_binary,
	    "80010001 0000000e 43616c63756c61746f723a616464 00000001"
	    " 08 0001 00000002 08 0002 00000003 00",
	    "80010002 00000003 616464 00000001 08 0000 00000005 00");
	/* ping -> an empty result struct */
	exact(&proto_binary,
	    "80010001 00000004 70696e67 00000010 00",
	    "80010002 00000004 70696e67 00000010 00");
	/* calculate(7, Work{6, 7, MULTIPLY}) -> 42, then getStruct(7) */
	exact(&proto_binary,
	    "80010001 00000009 63616c63756c617465 00000003"
	    " 08 0001 00000007 0c 0002 08 0001 00000006 08 0002 00000007"
	    " 08 0003 00000003 00 00",
	    "80010002 00000009 63616c63756c617465 00000003 08 0000 0000002a 00");
	exact(&proto_binary,
	    "80010001 00000009 676574537472756374 00000004 08 0001 00000007 00",
	    "80010002 00000009 676574537472756374 00000004"
	    " 0c 0000 08 0001 00000007 0b 0002 00000002 3432 00 00");
}
END_TEST

START_TEST(exact_compact)
{
	/* add(2, 3) -> 5: field 0 has delta 0, so the long form 05 00 */
	exact(&proto_compact,
	    "82 21 01 03 616464 15 04 15 06 00",
	    "82 41 01 03 616464 05 00 0a 00");
	exact(&proto_compact,
	    "82 21 01 0e 43616c63756c61746f723a616464 15 04 15 06 00",
	    "82 41 01 03 616464 05 00 0a 00");
	exact(&proto_compact,
	    "82 21 ac02 04 70696e67 00",
	    "82 41 ac02 04 70696e67 00");
	exact(&proto_compact,
	    "82 21 03 09 63616c63756c617465 15 0e 1c 15 0c 15 0e 15 06 00 00",
	    "82 41 03 09 63616c63756c617465 05 00 54 00");
	exact(&proto_compact,
	    "82 21 04 09 676574537472756374 15 0e 00",
	    "82 41 04 09 676574537472756374 0c 00 15 0e 18 02 3432 00 00");
	/* a negative seqid is a 5-byte varint */
	exact(&proto_compact,
	    "82 21 ffffffff0f 03 616464 15 04 15 06 00",
	    "82 41 ffffffff0f 03 616464 05 00 0a 00");
}
END_TEST

/* --- peers' names in messages ------------------------------------------- */

/*
 * Strict UTF-8, checked by decoding code points the way Python's decoder
 * does: no overlong forms, no surrogates, nothing past U+10FFFF.
 */
static bool
utf8_valid(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p != 0) {
		uint32_t	cp;
		int		more;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			more = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			more = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			more = 3, cp = *p & 0x07;
		else
			return false;
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p & 0x3f);
		}
		if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) ||
		    (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

/*
 * A long name of multi-byte characters, cut at every possible offset: the
 * message is valid UTF-8 and quotes whole characters of the name, then "...".
 */
START_TEST(unknown_method_long_utf8_name)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;
	char			 name[400];

	for (size_t k = 0; k < sizeof chars / sizeof chars[0]; k++) {
		size_t clen = strlen(chars[k]);

		for (size_t prefix = 0; prefix < clen; prefix++) {
			const char	*quoted, *end;
			size_t		 len = prefix;

			memset(name, 'x', prefix);
			while (len + clen <= 300) {
				memcpy(name + len, chars[k], clen);
				len += clen;
			}
			name[len] = '\0';
			req_begin(&q, ops, name, PROTO_CALL, 21);
			req_end(&q);
			expect_app_error(&q, name, 21, PROTO_APP_UNKNOWN_METHOD, &rep);
			ck_assert_msg(utf8_valid(rep.message), "%zu-byte characters after %zu: "
			    "message not UTF-8", clen, prefix);
			quoted = strchr(rep.message, '\'');
			ck_assert_ptr_nonnull(quoted);
			quoted++;
			end = strstr(quoted, "...'");
			ck_assert_msg(end != NULL, "no cut marked in \"%s\"", rep.message);
			ck_assert_uint_ge((size_t)(end - quoted), 100);
			ck_assert_uint_lt((size_t)(end - quoted), len);
			/* a prefix of the name, cut between characters */
			ck_assert(memcmp(quoted, name, (size_t)(end - quoted)) == 0);
			ck_assert_uint_eq(((size_t)(end - quoted) - prefix) % clen, 0);
			req_free(&q);
		}
	}
}
END_TEST

/* An unknown service's long name is cut the same way; the reply names the method. */
START_TEST(unknown_service_long_utf8_name)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;
	char			 name[400];
	size_t			 len = 0;

	name[len++] = 'S';
	while (len + 3 <= 300) {
		memcpy(name + len, "\xe2\x82\xac", 3);
		len += 3;
	}
	memcpy(name + len, ":add", 5);
	req_begin(&q, ops, name, PROTO_CALL, 22);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 2);
	req_end(&q);
	expect_app_error(&q, name, 22, PROTO_APP_UNKNOWN_METHOD, &rep);
	ck_assert_str_eq(rep.name, "add");
	ck_assert_msg(utf8_valid(rep.message), "message not UTF-8");
	ck_assert_msg(strstr(rep.message, "unknown service 'S\xe2\x82\xac") != NULL,
	    "message \"%s\"", rep.message);
	ck_assert_ptr_nonnull(strstr(rep.message, "...'"));
	req_free(&q);
}
END_TEST

/* Bytes that aren't UTF-8 (and NUL) are quoted as U+FFFD; the reply echoes the name. */
START_TEST(unknown_method_invalid_utf8_name)
{
	static const char	name[] = "a\xff\xc3(b\xed\xa0\x80" "c\0d\xf4\x90\x80\x80\xc0\xaf";
	static const char	want[] = "unknown method 'a\xef\xbf\xbd\xef\xbf\xbd(b"
				    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd" "d"
				    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				    "\xef\xbf\xbd\xef\xbf\xbd'";
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct call		 c;
	struct reply		 rep;

	req_begin_raw(&q, ops, name, sizeof name - 1, PROTO_CALL, 23);
	req_end(&q);
	call_req(&c, &q);
	call_ok(&c, q.buf.len);
	reply_decode(ops, c.out.data, c.out.len, &rep);
	ck_assert_int_eq(rep.type, PROTO_EXCEPTION);
	ck_assert_int_eq(rep.ex_type, PROTO_APP_UNKNOWN_METHOD);
	ck_assert_str_eq(rep.message, want);
	ck_assert(memcmp(rep.name, name, sizeof name) == 0);
	buf_free(&c.out);
	req_free(&q);
}
END_TEST

/* --- max_nesting_depth ---------------------------------------------------- */

static const struct dispatch_limits shallow = { 1u << 20, 1 };

/* Run q with max_nesting_depth 1: the status, and the reply if OK. */
static enum proto_status
run_shallow(struct req *q, struct reply *rep)
{
	struct call		c;
	enum proto_status	st;

	req_end(q);
	call_run(&c, q->ops, q->buf.data, q->buf.len, &shallow);
	st = c.res.status;
	if (st == PROTO_OK) {
		ck_assert_uint_eq(c.res.consumed, q->buf.len);
		reply_decode(q->ops, c.out.data, c.out.len, rep);
	} else {
		ck_assert_uint_eq(c.out.len, 0);
	}
	buf_free(&c.out);
	req_free(q);
	return st;
}

/*
 * Write field id as struct { 1: struct { ... 1: i32 } }, `levels` structs
 * deep; by hand, since the writers nest only so far.
 */
static void
req_nested_struct(struct req *q, int16_t id, int levels)
{
	bool	binary = q->ops == &proto_binary;
	uint8_t	stop = 0;

	q->ops->write_field_begin(&q->w, PROTO_T_STRUCT, id);
	for (int i = 0; i + 1 < levels; i++)
		ck_assert_int_eq(buf_append(&q->buf, binary ? "\x0c\x00\x01" : "\x1c",
		    binary ? 3 : 1), 0);
	ck_assert_int_eq(buf_append(&q->buf, binary ? "\x08\x00\x01\x00\x00\x00\x05" :
	    "\x15\x0a", binary ? 7 : 2), 0);
	for (int i = 0; i < levels; i++)
		ck_assert_int_eq(buf_append(&q->buf, &stop, 1), 0);
}

/*
 * max_nesting_depth counts levels inside what calcd skips: the argument
 * struct and Work don't count, so depth 1 serves calculate and skips a
 * flat struct, but refuses two levels.
 */
START_TEST(nesting_depth_one)
{
	const struct proto_ops	*ops = protos[_i];
	struct req		 q;
	struct reply		 rep;

	req_begin(&q, ops, "calculate", PROTO_CALL, 1);
	req_i32(&q, 1, 1);
	req_work(&q, 2, 6, 7, OP_MULTIPLY);
	ck_assert_status(run_shallow(&q, &rep), PROTO_OK);
	ck_assert(rep.has_i32);
	ck_assert_int_eq(rep.i32, 42);

	/* an unknown struct in the arguments: one level */
	req_begin(&q, ops, "add", PROTO_CALL, 2);
	req_i32(&q, 1, 1);
	req_nested_struct(&q, 3, 1);
	req_i32(&q, 2, 2);
	ck_assert_status(run_shallow(&q, &rep), PROTO_OK);
	ck_assert_int_eq(rep.i32, 3);

	/* an unknown list of i32 inside Work: one level */
	req_begin(&q, ops, "calculate", PROTO_CALL, 3);
	req_i32(&q, 1, 1);
	ops->write_field_begin(&q.w, PROTO_T_STRUCT, 2);
	ops->write_struct_begin(&q.w);
	req_i32(&q, 1, 6);
	ops->write_field_begin(&q.w, PROTO_T_LIST, 9);
	ops->write_list_begin(&q.w, PROTO_T_I32, 2);
	ops->write_i32(&q.w, 1);
	ops->write_i32(&q.w, 2);
	req_i32(&q, 2, 2);
	req_i32(&q, 3, OP_DIVIDE);
	ops->write_field_stop(&q.w);
	ops->write_struct_end(&q.w);
	ck_assert_status(run_shallow(&q, &rep), PROTO_OK);
	ck_assert_int_eq(rep.i32, 3);

	/* two levels in the arguments: refused */
	req_begin(&q, ops, "add", PROTO_CALL, 4);
	req_i32(&q, 1, 1);
	req_i32(&q, 2, 2);
	req_nested_struct(&q, 3, 2);
	ck_assert_status(run_shallow(&q, &rep), PROTO_BAD);

	/* two levels inside Work: refused */
	req_begin(&q, ops, "calculate", PROTO_CALL, 5);
	req_i32(&q, 1, 1);
	ops->write_field_begin(&q.w, PROTO_T_STRUCT, 2);
	ops->write_struct_begin(&q.w);
	req_nested_struct(&q, 9, 2);
	ops->write_field_stop(&q.w);
	ops->write_struct_end(&q.w);
	ck_assert_status(run_shallow(&q, &rep), PROTO_BAD);

	/* a map of lists: two levels */
	req_begin(&q, ops, "ping", PROTO_CALL, 6);
	ops->write_field_begin(&q.w, PROTO_T_MAP, 1);
	ops->write_map_begin(&q.w, PROTO_T_I32, PROTO_T_LIST, 1);
	ops->write_i32(&q.w, 1);
	ops->write_list_begin(&q.w, PROTO_T_I32, 0);
	ck_assert_status(run_shallow(&q, &rep), PROTO_BAD);
}
END_TEST

/* The limit is exact at any depth: n levels pass with max_nesting_depth n, n + 1 don't. */
START_TEST(nesting_depth_exact)
{
	const struct proto_ops	*ops = protos[_i];

	for (unsigned depth = 1; depth <= 64; depth++) {
		const struct dispatch_limits	lim = { 1u << 20, depth };
		struct req			q;
		struct call			c;

		for (unsigned levels = depth; levels <= depth + 1; levels++) {
			/* skipped in the arguments and, one struct deeper, in Work */
			for (int in_work = 0; in_work < 2; in_work++) {
				req_begin(&q, ops, "calculate", PROTO_CALL, 7);
				req_i32(&q, 1, 1);
				ops->write_field_begin(&q.w, PROTO_T_STRUCT, 2);
				ops->write_struct_begin(&q.w);
				req_i32(&q, 2, 1);
				req_i32(&q, 3, OP_ADD);
				if (in_work)
					req_nested_struct(&q, 9, (int)levels);
				ops->write_field_stop(&q.w);
				ops->write_struct_end(&q.w);
				if (!in_work)
					req_nested_struct(&q, 9, (int)levels);
				req_end(&q);
				call_run(&c, ops, q.buf.data, q.buf.len, &lim);
				ck_assert_msg(c.res.status ==
				    (levels == depth ? PROTO_OK : PROTO_BAD),
				    "max_nesting_depth %u, %u levels %s: %s", depth, levels,
				    in_work ? "in Work" : "in the arguments",
				    status_name(c.res.status));
				buf_free(&c.out);
				req_free(&q);
			}
		}
	}
}
END_TEST

static Suite *
dispatch_suite(void)
{
	Suite	*s = suite_create("dispatch");
	TCase	*tc;

	tc = tcase_create("methods");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, add_subtract, 0, NPROTOS);
	tcase_add_loop_test(tc, add_result_fields, 0, NPROTOS);
	tcase_add_loop_test(tc, add_overflow, 0, NPROTOS);
	tcase_add_loop_test(tc, ping, 0, NPROTOS);
	tcase_add_loop_test(tc, calculate_ops, 0, NPROTOS);
	tcase_add_loop_test(tc, calculate_divide_by_zero, 0, NPROTOS);
	tcase_add_loop_test(tc, calculate_overflow, 0, NPROTOS);
	tcase_add_loop_test(tc, calculate_unknown_op, 0, NPROTOS);
	tcase_add_loop_test(tc, calculate_work_defaults, 0, NPROTOS);
	tcase_add_loop_test(tc, get_struct_after_calculate, 0, NPROTOS);
	tcase_add_loop_test(tc, get_struct_newest, 0, NPROTOS);
	tcase_add_loop_test(tc, get_struct_unknown_key, 0, NPROTOS);
	tcase_add_loop_test(tc, get_struct_failed_calculate_not_logged, 0, NPROTOS);
	tcase_add_loop_test(tc, zip_oneway, 0, NPROTOS);
	tcase_add_loop_test(tc, oneway_never_replied, 0, NPROTOS);
	suite_add_tcase(s, tc);

	tc = tcase_create("calls");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, unknown_method, 0, NPROTOS);
	tcase_add_loop_test(tc, missing_argument, 0, NPROTOS);
	tcase_add_loop_test(tc, wrong_argument_type, 0, NPROTOS);
	tcase_add_loop_test(tc, unknown_fields_skipped, 0, NPROTOS);
	tcase_add_loop_test(tc, unknown_uuid_field_skipped, 0, NPROTOS);
	tcase_add_loop_test(tc, args_out_of_order, 0, NPROTOS);
	tcase_add_loop_test(tc, args_repeated_and_long_form, 0, NPROTOS);
	tcase_add_loop_test(tc, multiplexed_names, 0, NPROTOS);
	tcase_add_loop_test(tc, reply_sent_to_server, 0, NPROTOS);
	tcase_add_loop_test(tc, consumes_one_message, 0, NPROTOS);
	tcase_add_loop_test(tc, reply_appended, 0, NPROTOS);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, truncated_need_more, 0, NPROTOS);
	tcase_add_loop_test(tc, garbage_bad, 0, NPROTOS);
	tcase_add_loop_test(tc, too_big_argument, 0, NPROTOS);
	tcase_add_loop_test(tc, too_deep_unknown_field, 0, NPROTOS);
	tcase_add_loop_test(tc, nesting_depth_one, 0, NPROTOS);
	tcase_add_loop_test(tc, nesting_depth_exact, 0, NPROTOS);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, unknown_method_long_utf8_name, 0, NPROTOS);
	tcase_add_loop_test(tc, unknown_service_long_utf8_name, 0, NPROTOS);
	tcase_add_loop_test(tc, unknown_method_invalid_utf8_name, 0, NPROTOS);
	suite_add_tcase(s, tc);

	tc = tcase_create("exact");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, exact_binary);
	tcase_add_test(tc, exact_compact);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(dispatch_suite());
}
