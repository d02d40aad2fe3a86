/*
 * dispatch: the CalculatorService method table.  One row per method:
 * its name, its arguments (field id, type, name) and the handler that
 * turns decoded arguments into a reply.  Arguments are decoded in place
 * from the request bytes; a handler runs only once its whole message has
 * arrived, so an incomplete message never has side effects.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "calc.h"
#include "dispatch.h"

#define DISPATCH_MAX_ARGS	2
/* Bytes of a peer's method or service name quoted in a reply. */
#define DISPATCH_QUOTE_LEN	200

/* Fields of the Work struct that calculate takes. */
enum {
	WORK_NUM1 = 1,
	WORK_NUM2 = 2,
	WORK_OP = 3,
	WORK_COMMENT = 4,
};

struct dispatch_arg {
	int16_t		 id;
	uint8_t		 type;
	const char	*name;
};

/* The decoded arguments of one call. */
struct dispatch_args {
	int32_t			i32[DISPATCH_MAX_ARGS];
	bool			have[DISPATCH_MAX_ARGS];
	uint8_t			wrong_type[DISPATCH_MAX_ARGS];	/* type sent instead, or 0 */
	struct calc_work	work;
	unsigned		work_have;			/* bit per Work field id */
	uint8_t			work_wrong_type[WORK_COMMENT + 1];
};

/* What a handler needs to write its reply. */
struct dispatch_reply {
	enum dispatch_outcome		 outcome;
	const struct proto_ops		*ops;
	struct proto_writer		 writer;
	const struct proto_string	*name;
	int32_t				 seqid;
};

struct dispatch_method {
	const char		*name;
	size_t			 name_len;
	bool			 oneway;
	bool			 shared;	/* also in SharedService */
	unsigned		 nargs;
	struct dispatch_arg	 args[DISPATCH_MAX_ARGS];
	void			(*handle)(struct dispatch_reply *, const struct dispatch_args *);
};

/* --- replies ------------------------------------------------------------- */

static void
reply_begin(struct dispatch_reply *rep)
{
	const struct proto_ops	*ops = rep->ops;
	struct proto_writer	*w = &rep->writer;

	ops->write_message_begin(w, rep->name, PROTO_REPLY, rep->seqid);
	ops->write_struct_begin(w);
}

static void
reply_end(struct dispatch_reply *rep)
{
	rep->ops->write_field_stop(&rep->writer);
	rep->ops->write_struct_end(&rep->writer);
}

static void
reply_exception(struct dispatch_reply *rep, enum proto_app_error type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The texts are short: a quoted peer's name is at most DISPATCH_QUOTE_LEN bytes. */
static void
reply_exception(struct dispatch_reply *rep, enum proto_app_error type, const char *fmt, ...)
{
	char	text[512];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof text)
		n = sizeof text - 1;
	rep->outcome = DISPATCH_OUTCOME_ERROR;
	proto_write_app_exception(rep->ops, &rep->writer, rep->name, rep->seqid, type, text,
	    (size_t)n);
}

static void
reply_i32(struct dispatch_reply *rep, int32_t value)
{
	reply_begin(rep);
	rep->ops->write_field_begin(&rep->writer, PROTO_T_I32, 0);
	rep->ops->write_i32(&rep->writer, value);
	reply_end(rep);
}

static void
reply_void(struct dispatch_reply *rep)
{
	reply_begin(rep);
	reply_end(rep);
}

/* calculate's declared exception: result field 1, InvalidOperation. */
static void
reply_invalid_operation(struct dispatch_reply *rep, int32_t what_op, const char *why)
{
	const struct proto_ops	*ops = rep->ops;
	struct proto_writer	*w = &rep->writer;

	rep->outcome = DISPATCH_OUTCOME_EXCEPTION;
	reply_begin(rep);
	ops->write_field_begin(w, PROTO_T_STRUCT, 1);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_I32, 1);
	ops->write_i32(w, what_op);
	ops->write_field_begin(w, PROTO_T_STRING, 2);
	ops->write_string(w, why, strlen(why));
	ops->write_field_stop(w);
	ops->write_struct_end(w);
	reply_end(rep);
}

static void
reply_shared_struct(struct dispatch_reply *rep, const struct calc_shared_struct *s)
{
	const struct proto_ops	*ops = rep->ops;
	struct proto_writer	*w = &rep->writer;

	reply_begin(rep);
	ops->write_field_begin(w, PROTO_T_STRUCT, 0);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_I32, 1);
	ops->write_i32(w, s->key);
	ops->write_field_begin(w, PROTO_T_STRING, 2);
	ops->write_string(w, s->value, strlen(s->value));
	ops->write_field_stop(w);
	ops->write_struct_end(w);
	reply_end(rep);
}

/* --- handlers ------------------------------------------------------------ */

static void
handle_add(struct dispatch_reply *rep, const struct dispatch_args *args)
{
	int32_t result;

	if (calc_add(args->i32[0], args->i32[1], &result) != CALC_OK) {
		reply_exception(rep, PROTO_APP_UNKNOWN, "add: %ld + %ld overflows i32",
		    (long)args->i32[0], (long)args->i32[1]);
		return;
	}
	reply_i32(rep, result);
}

static void
handle_subtract(struct dispatch_reply *rep, const struct dispatch_args *args)
{
	int32_t result;

	if (calc_subtract(args->i32[0], args->i32[1], &result) != CALC_OK) {
		reply_exception(rep, PROTO_APP_UNKNOWN, "subtract: %ld - %ld overflows i32",
		    (long)args->i32[0], (long)args->i32[1]);
		return;
	}
	reply_i32(rep, result);
}

static void
handle_ping(struct dispatch_reply *rep, const struct dispatch_args *args)
{
	(void)args;
	reply_void(rep);
}

static void
handle_zip(struct dispatch_reply *rep, const struct dispatch_args *args)
{
	(void)rep;
	(void)args;
}

static void
handle_calculate(struct dispatch_reply *rep, const struct dispatch_args *args)
{
	enum calc_status	status;
	int32_t			result;

	status = calc_calculate(args->i32[0], &args->work, &result);
	if (status != CALC_OK) {
		reply_invalid_operation(rep, args->work.op, calc_status_text(status));
		return;
	}
	reply_i32(rep, result);
}

static void
handle_get_struct(struct dispatch_reply *rep, const struct dispatch_args *args)
{
	struct calc_shared_struct shared;

	if (!calc_log_get(args->i32[0], &shared)) {
		reply_exception(rep, PROTO_APP_UNKNOWN,
		    "getStruct: no calculation logged with key %ld", (long)args->i32[0]);
		return;
	}
	reply_shared_struct(rep, &shared);
}

/* A name and its length, counted by the compiler. */
#define DISPATCH_NAME(n)	.name = (n), .name_len = sizeof(n) - 1

static const struct dispatch_method dispatch_methods[] = {
	{ DISPATCH_NAME("add"), .nargs = 2, .handle = handle_add,
	  .args = { { 1, PROTO_T_I32, "a" }, { 2, PROTO_T_I32, "b" } } },
	{ DISPATCH_NAME("subtract"), .nargs = 2, .handle = handle_subtract,
	  .args = { { 1, PROTO_T_I32, "a" }, { 2, PROTO_T_I32, "b" } } },
	{ DISPATCH_NAME("ping"), .handle = handle_ping },
	{ DISPATCH_NAME("calculate"), .nargs = 2, .handle = handle_calculate,
	  .args = { { 1, PROTO_T_I32, "logid" }, { 2, PROTO_T_STRUCT, "w" } } },
	{ DISPATCH_NAME("zip"), .oneway = true, .handle = handle_zip },
	{ DISPATCH_NAME("getStruct"), .shared = true, .nargs = 1, .handle = handle_get_struct,
	  .args = { { 1, PROTO_T_I32, "key" } } },
};

/* Service names a multiplexed client may put before the method. */
static const struct {
	const char	*name;
	size_t		 name_len;
	bool		 shared_only;
} dispatch_services[] = {
	{ DISPATCH_NAME("CalculatorService") },
	{ DISPATCH_NAME("Calculator") },
	{ DISPATCH_NAME("SharedService"), .shared_only = true },
};

/*
 * The name a reply carries: the bare method.  Apache Thrift's
 * TMultiplexedProcessor strips "Service:" before the handler runs, and
 * generated clients (C++, Go) check the reply's name against the bare
 * method, so a reply naming "Service:method" is never matched to its call.
 */
static struct proto_string
dispatch_reply_name(const struct proto_string *name)
{
	const uint8_t		*colon = name->len ? memchr(name->ptr, ':', name->len) : NULL;
	struct proto_string	 bare = *name;

	if (colon != NULL) {
		bare.ptr = colon + 1;
		bare.len = name->len - (size_t)(colon + 1 - name->ptr);
	}
	return bare;
}

/*
 * Find the method a message names, "method" or "Service:method" (bare is
 * the method alone, from dispatch_reply_name).  NULL with *reason set
 * when there is none.
 */
static const struct dispatch_method *
dispatch_lookup(const struct proto_string *name, const struct proto_string *bare,
    const char **reason)
{
	bool shared_only = false;

	if (bare->ptr != name->ptr) {
		size_t	service_len = name->len - bare->len - 1;	/* before the ':' */
		size_t	i;

		for (i = 0; i < sizeof dispatch_services / sizeof dispatch_services[0]; i++)
			if (dispatch_services[i].name_len == service_len &&
			    memcmp(dispatch_services[i].name, name->ptr, service_len) == 0)
				break;
		if (i == sizeof dispatch_services / sizeof dispatch_services[0]) {
			*reason = "unknown service";
			return NULL;
		}
		shared_only = dispatch_services[i].shared_only;
	}
	for (size_t i = 0; i < sizeof dispatch_methods / sizeof dispatch_methods[0]; i++) {
		const struct dispatch_method *m = &dispatch_methods[i];

		if (m->name_len == bare->len && memcmp(m->name, bare->ptr, bare->len) == 0 &&
		    (!shared_only || m->shared))
			return m;
	}
	*reason = "unknown method";
	return NULL;
}

/* --- decoding ------------------------------------------------------------ */

static int
dispatch_read_work(const struct proto_ops *ops, struct proto_reader *r, unsigned nesting,
    struct dispatch_args *args)
{
	uint8_t	type;
	int16_t	id;

	args->work.num1 = 0;	/* the IDL's default */
	if (ops->read_struct_begin(r) != 0)
		return -1;
	for (;;) {
		if (ops->read_field_begin(r, &type, &id) != 0)
			return -1;
		if (type == PROTO_T_STOP)
			break;
		if (id >= WORK_NUM1 && id <= WORK_OP) {
			int32_t *field = id == WORK_NUM1 ? &args->work.num1 :
			    id == WORK_NUM2 ? &args->work.num2 : &args->work.op;

			if (type == PROTO_T_I32) {
				if (ops->read_i32(r, field) != 0)
					return -1;
				args->work_have |= 1u << id;
				continue;
			}
			args->work_wrong_type[id] = type;
		} else if (id == WORK_COMMENT && type != PROTO_T_STRING) {
			args->work_wrong_type[id] = type;
		}
		if (proto_skip_nested(ops, r, type, nesting) != 0)
			return -1;
	}
	return ops->read_struct_end(r);
}

/*
 * Read the argument struct; unknown and mistyped fields are skipped, each
 * nesting at most `nesting` levels deep.
 */
static int
dispatch_read_args(const struct proto_ops *ops, struct proto_reader *r, unsigned nesting,
    const struct dispatch_method *m, struct dispatch_args *args)
{
	uint8_t	type;
	int16_t	id;

	if (ops->read_struct_begin(r) != 0)
		return -1;
	for (;;) {
		unsigned i;

		if (ops->read_field_begin(r, &type, &id) != 0)
			return -1;
		if (type == PROTO_T_STOP)
			break;
		for (i = 0; m != NULL && i < m->nargs; i++)
			if (m->args[i].id == id)
				break;
		if (m != NULL && i < m->nargs) {
			if (type != m->args[i].type) {
				args->wrong_type[i] = type;
			} else if (type == PROTO_T_I32) {
				if (ops->read_i32(r, &args->i32[i]) != 0)
					return -1;
				args->have[i] = true;
				args->wrong_type[i] = 0;
				continue;
			} else if (type == PROTO_T_STRUCT) {
				if (dispatch_read_work(ops, r, nesting, args) != 0)
					return -1;
				args->have[i] = true;
				args->wrong_type[i] = 0;
				continue;
			}
		}
		if (proto_skip_nested(ops, r, type, nesting) != 0)
			return -1;
	}
	return ops->read_struct_end(r);
}

/* Reply with an error and return true if a needed argument is missing or mistyped. */
static bool
dispatch_check_args(struct dispatch_reply *rep, const struct dispatch_method *m,
    const struct dispatch_args *args)
{
	static const struct { unsigned id; const char *name; } work_required[] = {
		{ WORK_NUM2, "num2" }, { WORK_OP, "op" },
	};

	for (unsigned i = 0; i < m->nargs; i++) {
		const struct dispatch_arg *a = &m->args[i];

		if (args->wrong_type[i] != 0) {
			reply_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: argument '%s' (field %d) must be %s, not %s", m->name,
			    a->name, a->id, proto_type_name(a->type),
			    proto_type_name(args->wrong_type[i]));
			return true;
		}
		if (!args->have[i]) {
			reply_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: missing argument '%s' (field %d, %s)", m->name, a->name,
			    a->id, proto_type_name(a->type));
			return true;
		}
		if (a->type != PROTO_T_STRUCT)
			continue;
		for (unsigned id = WORK_NUM1; id <= WORK_COMMENT; id++) {
			if (args->work_wrong_type[id] == 0)
				continue;
			reply_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: field %u of argument '%s' (Work) has the wrong type %s",
			    m->name, id, a->name, proto_type_name(args->work_wrong_type[id]));
			return true;
		}
		for (size_t k = 0; k < sizeof work_required / sizeof work_required[0]; k++) {
			if (args->work_have & (1u << work_required[k].id))
				continue;
			reply_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: missing field '%s.%s' (field %u of Work)", m->name, a->name,
			    work_required[k].name, work_required[k].id);
			return true;
		}
	}
	return false;
}

void
dispatch_message(const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct dispatch_result *res)
{
	struct proto_reader		 r;
	struct proto_string		 name = { NULL, 0 }, reply_name;
	struct dispatch_reply		 rep;
	struct dispatch_args		 args;
	const struct dispatch_method	*m = NULL;
	const char			*reason = NULL;
	char				 quoted[DISPATCH_QUOTE_LEN + 1];
	size_t				 out_start = out->len;
	uint8_t				 type = 0;
	int32_t				 seqid = 0;

	memset(res, 0, sizeof *res);
	memset(&args, 0, sizeof args);
	proto_reader_init(&r, data, len, limits->max_message_size, DISPATCH_DEPTH);

	if (ops->read_message_begin(&r, &name, &type, &seqid) != 0)
		goto failed;
	res->method = name.ptr;
	res->method_len = name.len;
	res->seqid = seqid;
	res->message_type = type;
	if (type < PROTO_CALL || type > PROTO_ONEWAY) {
		proto_fail(&r, PROTO_BAD, "invalid message type");
		goto failed;
	}
	reply_name = dispatch_reply_name(&name);
	if (type == PROTO_CALL || type == PROTO_ONEWAY)
		m = dispatch_lookup(&name, &reply_name, &reason);
	if (dispatch_read_args(ops, &r, limits->max_nesting_depth, m, &args) != 0)
		goto failed;

	/* The whole message is here: now, and only now, act on it. */
	res->status = PROTO_OK;
	res->consumed = r.pos;
	res->method_index = m != NULL ? (unsigned)(m - dispatch_methods) : dispatch_method_count();
	res->outcome = DISPATCH_OUTCOME_OK;	/* oneway calls count as ok, errors or not */
	rep.outcome = DISPATCH_OUTCOME_OK;
	rep.ops = ops;
	rep.name = &reply_name;
	rep.seqid = seqid;
	proto_writer_init(&rep.writer, out);

	if (type == PROTO_REPLY || type == PROTO_EXCEPTION) {
		reply_exception(&rep, PROTO_APP_INVALID_MESSAGE_TYPE,
		    "calcd is a server: it takes calls, not %s messages",
		    type == PROTO_REPLY ? "reply" : "exception");
	} else if (m == NULL) {
		if (type == PROTO_ONEWAY)
			return;
		if (strcmp(reason, "unknown service") == 0) {
			reply_exception(&rep, PROTO_APP_UNKNOWN_METHOD,
			    "unknown service '%s' (calcd serves CalculatorService, Calculator "
			    "and SharedService)", proto_text(name.ptr, name.len - reply_name.len - 1,
			    quoted, sizeof quoted));
		} else {
			reply_exception(&rep, PROTO_APP_UNKNOWN_METHOD, "%s '%s'", reason,
			    proto_text(name.ptr, name.len, quoted, sizeof quoted));
		}
	} else {
		if (!dispatch_check_args(&rep, m, &args))
			m->handle(&rep, &args);
		if (type == PROTO_ONEWAY || m->oneway) {
			/* Nobody reads a reply to these, errors included. */
			out->len = out_start;
			return;
		}
	}
	if (rep.writer.failed) {
		out->len = out_start;
		res->status = PROTO_TOO_BIG;
		res->error = "reply exceeds the output buffer limit";
		return;
	}
	res->outcome = rep.outcome;
	res->replied = true;
	return;

failed:
	out->len = out_start;
	res->status = r.status;
	res->need = r.need;
	res->error = r.error;
}

int
dispatch_error_reply(const struct proto_ops *ops, const struct dispatch_result *res,
    struct buf *out)
{
	struct proto_string	name = { res->method, res->method_len };
	struct proto_string	reply_name = dispatch_reply_name(&name);
	struct dispatch_reply	rep;
	size_t			out_start = out->len;

	if (res->message_type != PROTO_CALL || res->method == NULL)
		return -1;
	rep.ops = ops;
	rep.name = &reply_name;
	rep.seqid = res->seqid;
	proto_writer_init(&rep.writer, out);
	reply_exception(&rep, PROTO_APP_PROTOCOL_ERROR,
	    "calcd could not decode this call (%s); closing the connection",
	    res->error ? res->error : "malformed message");
	if (rep.writer.failed) {
		out->len = out_start;
		return -1;
	}
	return 0;
}

unsigned
dispatch_method_count(void)
{
	return sizeof dispatch_methods / sizeof dispatch_methods[0];
}

const char *
dispatch_method_name(unsigned index)
{
	return index < dispatch_method_count() ? dispatch_methods[index].name : "unknown";
}
