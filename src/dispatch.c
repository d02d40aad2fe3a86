/*
 * dispatch: one Thrift message to its reply — the method it names, its
 * arguments, the handler, the reply (the table of methods and the reply
 * writers are in dispatch_table.{c,h}) — and a run of them, the messages
 * one read brought, one after another in one call (dispatch_run), the
 * common call answered in registers (dispatch_fast).  Arguments are
 * decoded in place from the request bytes; a handler runs only once its
 * whole message has arrived, so an incomplete message never has side
 * effects.
 *
 * The codec is chosen once per message: the decoder and the reply
 * writers are inline functions of a constant enum proto_codec, compiled
 * once for binary and once for compact, so no field costs an indirect
 * call, and once more per method, so each method's arguments are read by
 * code of its own.  A reply starts from its method's prefix for the codec
 * (built at start-up), with the seqid put in.  Everything unusual (errors, oneway
 * calls, calls that are not calls) takes one out-of-line path.
 */
#include <string.h>

#include "dispatch_table.h"

/* Bytes of a peer's method or service name quoted in a reply. */
#define DISPATCH_QUOTE_LEN	200

/* Service names a multiplexed client may put before the method. */
static const struct {
	const char	*name;
	size_t		 name_len;
	bool		 shared_only;
} dispatch_services[] = {
	{ "CalculatorService", sizeof("CalculatorService") - 1, false },
	{ "Calculator", sizeof("Calculator") - 1, false },
	{ "SharedService", sizeof("SharedService") - 1, true },
};

/* --- the method a call names ------------------------------------------------ */

/* A method by its bare name; DISPATCH_METHODS if none. */
static inline enum dispatch_method_id
dispatch_find(const uint8_t *name, size_t len)
{
	/* Compares of known lengths: the compiler turns each into a load or two. */
#define DISPATCH_METHOD_MATCH(id, text)						\
	if (len == sizeof(text) - 1 && memcmp(name, text, sizeof(text) - 1) == 0)	\
		return id;
	DISPATCH_METHOD_LIST(DISPATCH_METHOD_MATCH)
#undef DISPATCH_METHOD_MATCH
	return DISPATCH_METHODS;
}

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
 * The method a message names as "Service:method" (dispatch_find found
 * no bare method).  DISPATCH_METHODS if none, with *no_service set if it
 * named a service calcd doesn't serve.
 */
static enum dispatch_method_id __attribute__((noinline))
dispatch_lookup_service(const struct proto_string *name, bool *no_service)
{
	struct proto_string	bare = dispatch_reply_name(name);
	enum dispatch_method_id	id;
	size_t			service_len, i;

	if (bare.ptr == name->ptr)
		return DISPATCH_METHODS;
	service_len = name->len - bare.len - 1;	/* before the ':' */
	for (i = 0; i < sizeof dispatch_services / sizeof dispatch_services[0]; i++)
		if (dispatch_services[i].name_len == service_len &&
		    memcmp(dispatch_services[i].name, name->ptr, service_len) == 0)
			break;
	if (i == sizeof dispatch_services / sizeof dispatch_services[0]) {
		*no_service = true;
		return DISPATCH_METHODS;
	}
	id = dispatch_find(bare.ptr, bare.len);
	if (id != DISPATCH_METHODS && dispatch_services[i].shared_only &&
	    !dispatch_methods[id].shared)
		return DISPATCH_METHODS;
	return id;
}

/* --- decoding --------------------------------------------------------------- */

/*
 * Skip a value, on a copy of the reader: the reader itself never leaves
 * dispatch_codec_message, so the compiler can keep its fields in registers.
 */
DISPATCH_INLINE int
dispatch_skip(const struct proto_ops *ops, struct proto_reader *r, uint8_t type,
    unsigned nesting)
{
	struct proto_reader	copy = *r;
	int			rc = proto_skip_nested(ops, &copy, type, nesting);

	*r = copy;
	return rc;
}

DISPATCH_INLINE int
dispatch_read_work(enum proto_codec codec, const struct proto_ops *ops,
    struct proto_reader *r, unsigned nesting, struct dispatch_args *args)
{
	uint8_t	type = 0;
	int16_t	id = 0;

	args->work.num1 = 0;	/* the IDL's default */
	args->work_read = true;
	if (proto_codec_read_struct_begin(codec, r) != 0)
		return -1;
	/* num1, num2 and op as generated clients send them; then anything. */
	for (int field_id = WORK_NUM1; field_id <= WORK_OP; field_id++) {
		int32_t *field = field_id == WORK_NUM1 ? &args->work.num1 :
		    field_id == WORK_NUM2 ? &args->work.num2 : &args->work.op;
		int rc = proto_codec_read_field_i32(codec, r, (int16_t)field_id, field);

		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		args->work_have |= 1u << field_id;
	}
	if (proto_codec_read_stop(codec, r))
		return proto_codec_read_struct_end(codec, r);
	for (;;) {
		if (proto_codec_read_field_begin(codec, r, &type, &id) != 0)
			return -1;
		if (type == PROTO_T_STOP)
			break;
		if (id >= WORK_NUM1 && id <= WORK_OP) {
			int32_t *field = id == WORK_NUM1 ? &args->work.num1 :
			    id == WORK_NUM2 ? &args->work.num2 : &args->work.op;

			if (type == PROTO_T_I32) {
				if (proto_codec_read_i32(codec, r, field) != 0)
					return -1;
				args->work_have |= 1u << id;
				continue;
			}
			args->work_wrong |= 1u << id;
			args->work_wrong_type[id] = type;
		} else if (id == WORK_COMMENT && type != PROTO_T_STRING) {
			args->work_wrong |= 1u << id;
			args->work_wrong_type[id] = type;
		}
		if (dispatch_skip(ops, r, type, nesting) != 0)
			return -1;
	}
	return proto_codec_read_struct_end(codec, r);
}

/*
 * Argument i of m (nargs of them) as predicted, if it is an i32: its
 * field header, type and id, and value read with one test of the room.
 * 1 if it was there, 0 if not (nothing read), -1 on error.  Inlined with
 * m and i constants, so the id is one too.
 */
DISPATCH_INLINE int
dispatch_predict_arg(enum proto_codec codec, struct proto_reader *r,
    const struct dispatch_method *m, unsigned nargs, unsigned i, struct dispatch_args *args)
{
	if (i >= nargs || m->args[i].type != PROTO_T_I32)
		return 0;
	return proto_codec_read_field_i32(codec, r, m->args[i].id, &args->i32[i]);
}

/*
 * Read the argument struct of m (NULL: an unknown method's, all of it
 * skipped); unknown and mistyped fields are skipped, each nesting at
 * most `nesting` levels deep.
 */
DISPATCH_INLINE int
dispatch_read_args(enum proto_codec codec, const struct proto_ops *ops,
    struct proto_reader *r, unsigned nesting, const struct dispatch_method *m,
    struct dispatch_args *args)
{
	unsigned	nargs = m != NULL ? m->nargs : 0, predicted = 0;
	uint8_t		type = 0;
	int16_t		id = 0;
	int		rc;

	if (proto_codec_read_struct_begin(codec, r) != 0)
		return -1;
	/*
	 * The i32 arguments as every generated client writes them, in the
	 * IDL's order: each predicted, type and id, and read with one test
	 * of the room (fbthrift's generated readers predict the same way).
	 * The first field that is not as predicted, and all after it, go
	 * through the loop below, which takes any field in any order.
	 */
	_Static_assert(DISPATCH_MAX_ARGS == 2, "a dispatch_predict_arg for each argument");
	if ((rc = dispatch_predict_arg(codec, r, m, nargs, 0, args)) > 0) {
		predicted = 1;
		if ((rc = dispatch_predict_arg(codec, r, m, nargs, 1, args)) > 0)
			predicted = 2;
	}
	if (rc < 0)
		return -1;
	args->have = (1u << predicted) - 1;
	if (proto_codec_read_stop(codec, r))
		return proto_codec_read_struct_end(codec, r);
	for (;;) {
		unsigned i;

		if (proto_codec_read_field_begin(codec, r, &type, &id) != 0)
			return -1;
		if (type == PROTO_T_STOP)
			break;
		for (i = 0; i < nargs; i++)
			if (m->args[i].id == id)
				break;
		if (i < nargs) {
			if (type != m->args[i].type) {
				args->wrong |= 1u << i;
				args->wrong_type[i] = type;
			} else if (type == PROTO_T_I32) {
				if (proto_codec_read_i32(codec, r, &args->i32[i]) != 0)
					return -1;
				args->have |= 1u << i;
				args->wrong &= ~(1u << i);
				continue;
			} else if (type == PROTO_T_STRUCT) {
				if (dispatch_read_work(codec, ops, r, nesting, args) != 0)
					return -1;
				args->have |= 1u << i;
				args->wrong &= ~(1u << i);
				continue;
			}
		}
		if (dispatch_skip(ops, r, type, nesting) != 0)
			return -1;
	}
	return proto_codec_read_struct_end(codec, r);
}

/* Has the call every argument it needs, each of its type? */
DISPATCH_INLINE bool
dispatch_args_complete(const struct dispatch_method *m, const struct dispatch_args *args)
{
	if (args->wrong != 0 || args->have != (1u << m->nargs) - 1)
		return false;
	return !args->work_read ||
	    (args->work_wrong == 0 && (args->work_have & WORK_REQUIRED) == WORK_REQUIRED);
}

/* --- answering -------------------------------------------------------------- */

/*
 * Run method id with its complete arguments and append its reply (none
 * for zip).  Sets res->replied and outcome, or TOO_BIG with out as it was.
 */
DISPATCH_INLINE void
dispatch_call(enum proto_codec codec, enum dispatch_method_id id, int32_t seqid,
    const struct dispatch_args *args, struct buf *out, struct dispatch_result *res)
{
	struct proto_writer	 w;
	struct calc_shared_struct shared;
	enum dispatch_outcome	 outcome = DISPATCH_OUTCOME_OK;
	enum calc_status	 status = CALC_OK;
	size_t			 out_start = out->len;
	int32_t			 result = 0;
	bool			 found = false;

	/* The handler first, */
	switch (id) {
	case DISPATCH_ADD:
		status = calc_add(args->i32[0], args->i32[1], &result);
		break;
	case DISPATCH_SUBTRACT:
		status = calc_subtract(args->i32[0], args->i32[1], &result);
		break;
	case DISPATCH_CALCULATE:
		status = calc_calculate(args->i32[0], &args->work, &result);
		break;
	case DISPATCH_GET_STRUCT:
		found = calc_log_get(args->i32[0], &shared);
		break;
	case DISPATCH_PING:
		break;
	case DISPATCH_ZIP:
	default:
		return;		/* oneway: no reply */
	}
	/* then its reply: an i32 result straight from the method's prefix, */
	if (dispatch_methods[id].result_type == PROTO_T_I32 && status == CALC_OK &&
	    proto_codec_put_prefix_i32(codec, out, &dispatch_prefixes[codec][id], seqid, result)) {
		res->outcome = DISPATCH_OUTCOME_OK;
		res->replied = true;
		return;
	}
	/* or through the writers. */
	proto_writer_init(&w, out);
	switch (id) {
	case DISPATCH_ADD:
	case DISPATCH_SUBTRACT:
		if (status == CALC_OK)
			dispatch_reply_i32(codec, &w, id, seqid, result);
		else
			outcome = dispatch_reply_overflow(codec, &w, id, seqid, args);
		break;
	case DISPATCH_PING:
		dispatch_reply_void(codec, &w, id, seqid);
		break;
	case DISPATCH_CALCULATE:
		if (status == CALC_OK)
			dispatch_reply_i32(codec, &w, id, seqid, result);
		else
			outcome = dispatch_reply_invalid_operation(codec, &w, id, seqid,
			    args->work.op, calc_status_text(status));
		break;
	case DISPATCH_GET_STRUCT:
		if (found)
			dispatch_reply_shared_struct(codec, &w, id, seqid, &shared);
		else
			outcome = dispatch_reply_no_key(codec, &w, id, seqid, args->i32[0]);
		break;
	default:
		return;
	}
	if (w.failed) {
		out->len = out_start;
		res->status = PROTO_TOO_BIG;
		res->error = "reply exceeds the output buffer limit";
		return;
	}
	res->outcome = outcome;
	res->replied = true;
}

/*
 * Everything but a call with all its arguments: messages for clients,
 * unknown methods and services, missing or mistyped arguments, oneway
 * calls (run, but nobody reads a reply to them, errors included).
 */
static void __attribute__((noinline, cold))
dispatch_answer_other(const struct proto_ops *ops, uint8_t type, enum dispatch_method_id id,
    bool no_service, const struct proto_string *name, int32_t seqid,
    const struct dispatch_args *args, struct buf *out, struct dispatch_result *res)
{
	struct proto_writer	w;
	struct dispatch_reply	rep = { ops, &w, dispatch_reply_name(name), seqid };
	char			quoted[DISPATCH_QUOTE_LEN + 1];
	size_t			out_start = out->len;

	proto_writer_init(&w, out);
	if (type == PROTO_REPLY || type == PROTO_EXCEPTION) {
		dispatch_exception(&rep, PROTO_APP_INVALID_MESSAGE_TYPE,
		    "calcd is a server: it takes calls, not %s messages",
		    type == PROTO_REPLY ? "reply" : "exception");
	} else if (id == DISPATCH_METHODS) {
		if (type == PROTO_ONEWAY)
			return;
		if (no_service) {
			dispatch_exception(&rep, PROTO_APP_UNKNOWN_METHOD,
			    "unknown service '%s' (calcd serves CalculatorService, Calculator "
			    "and SharedService)", proto_text(name->ptr, name->len - rep.name.len - 1,
			    quoted, sizeof quoted));
		} else {
			dispatch_exception(&rep, PROTO_APP_UNKNOWN_METHOD, "unknown method '%s'",
			    proto_text(name->ptr, name->len, quoted, sizeof quoted));
		}
	} else if (dispatch_check_args(&rep, id, args)) {
		if (type == PROTO_ONEWAY || dispatch_methods[id].oneway) {
			out->len = out_start;
			return;
		}
	} else {
		/* A whole oneway call: it runs, and its reply goes nowhere. */
		dispatch_call(ops->codec, id, seqid, args, out, res);
		out->len = out_start;
		res->status = PROTO_OK;
		res->error = NULL;
		res->replied = false;
		res->outcome = DISPATCH_OUTCOME_OK;
		return;
	}
	if (w.failed) {
		out->len = out_start;
		res->status = PROTO_TOO_BIG;
		res->error = "reply exceeds the output buffer limit";
		return;
	}
	res->outcome = DISPATCH_OUTCOME_ERROR;	/* every reply here is a TApplicationException */
	res->replied = true;
}

/*
 * The rest of a message to method id, a constant where this is inlined
 * (once per method and codec): its arguments, then the call or whatever
 * else answers it.
 */
DISPATCH_INLINE void
dispatch_method_message(enum proto_codec codec, const struct proto_ops *ops,
    struct proto_reader *r, unsigned nesting, enum dispatch_method_id id, uint8_t type,
    const struct proto_string *name, bool no_service,
    struct buf *out, struct dispatch_result *res)
{
	const struct dispatch_method	*m = id != DISPATCH_METHODS ? &dispatch_methods[id] : NULL;
	struct dispatch_args		 args;

	memset(&args, 0, sizeof args);
	if (dispatch_read_args(codec, ops, r, nesting, m, &args) != 0) {
		res->status = r->status;
		res->need = r->need;
		res->error = r->error;
		return;
	}
	/* The whole message is here: now, and only now, act on it. */
	res->status = PROTO_OK;
	res->consumed = r->pos;
	res->method_index = id;
	if (type == PROTO_CALL && m != NULL && dispatch_args_complete(m, &args))
		dispatch_call(codec, id, res->seqid, &args, out, res);
	else
		dispatch_answer_other(ops, type, id, no_service, name, res->seqid, &args,
		    out, res);
}

/* dispatch_message for one codec: inlined with it as a constant, once per codec. */
DISPATCH_INLINE void
dispatch_codec_message(enum proto_codec codec, const struct proto_ops *ops,
    const uint8_t *data, size_t len, const struct dispatch_limits *limits, struct buf *out,
    struct dispatch_result *res)
{
	struct proto_reader	r;
	struct proto_string	name = { NULL, 0 };
	enum dispatch_method_id	id = DISPATCH_METHODS;
	unsigned		nesting = limits->max_nesting_depth;
	bool			no_service = false;
	uint8_t			type = 0;
	int32_t			seqid = 0;

	memset(res, 0, sizeof *res);
	proto_reader_init(&r, data, len, limits->max_message_size, DISPATCH_DEPTH);
	if (proto_codec_read_message_begin(codec, &r, &name, &type, &seqid) != 0) {
		res->status = r.status;
		res->need = r.need;
		res->error = r.error;
		return;
	}
	res->method = name.ptr;
	res->method_len = name.len;
	res->seqid = seqid;
	res->message_type = type;
	if (type < PROTO_CALL || type > PROTO_ONEWAY) {
		res->status = PROTO_BAD;
		res->error = "invalid message type";
		return;
	}
	/* Calls name a method; a reply or exception sent here is answered by its name alone. */
	if (type == PROTO_CALL || type == PROTO_ONEWAY) {
		if ((id = dispatch_find(name.ptr, name.len)) == DISPATCH_METHODS)
			id = dispatch_lookup_service(&name, &no_service);
	}

	/* Each method's arguments read, and its reply written, by code of its own. */
	switch (id) {
#define DISPATCH_METHOD_CASE(method, text)						\
	case method:									\
		dispatch_method_message(codec, ops, &r, nesting, method, type, &name,	\
		    no_service, out, res);						\
		break;
	DISPATCH_METHOD_LIST(DISPATCH_METHOD_CASE)
#undef DISPATCH_METHOD_CASE
	default:
		dispatch_method_message(codec, ops, &r, nesting, DISPATCH_METHODS, type, &name,
		    no_service, out, res);
		break;
	}
}

/* dispatch_message for one codec: the general path, out of dispatch_run's loop. */
static void __attribute__((noinline))
dispatch_binary(const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct dispatch_result *res)
{
	dispatch_codec_message(PROTO_CODEC_BINARY, ops, data, len, limits, out, res);
}

static void __attribute__((noinline))
dispatch_compact(const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct dispatch_result *res)
{
	dispatch_codec_message(PROTO_CODEC_COMPACT, ops, data, len, limits, out, res);
}

/* --- the common call, in registers ------------------------------------------ */

/*
 * The handlers dispatch_fast runs: i32 arguments, an i32 result, no side
 * effects (a call that fails here is run again by dispatch_codec_message,
 * to answer with its exception).  false if there is no result.
 */
DISPATCH_INLINE bool
dispatch_fast_handler(enum dispatch_method_id id, const int32_t *args, int32_t *result)
{
	switch (id) {
	case DISPATCH_ADD:
		return calc_add(args[0], args[1], result) == CALC_OK;
	case DISPATCH_SUBTRACT:
		return calc_subtract(args[0], args[1], result) == CALC_OK;
	default:
		return false;
	}
}

/*
 * The rest of a call to add or subtract (id, a constant where inlined):
 * its two i32 arguments as predicted (the table's ids) and then its end,
 * nothing else; its handler; its reply from the method's prefix.  The
 * message's length, or 0 with nothing done.
 */
DISPATCH_INLINE size_t
dispatch_fast_method(enum proto_codec codec, struct proto_reader *r, enum dispatch_method_id id,
    int32_t seqid, struct buf *out)
{
	const struct dispatch_method	*m = &dispatch_methods[id];
	int32_t				 args[DISPATCH_MAX_ARGS], result;

	_Static_assert(DISPATCH_MAX_ARGS == 2, "add and subtract take two arguments");
	if (!proto_codec_read_struct_i32x2(codec, r, m->args[0].id, m->args[1].id, args) ||
	    r->pos > r->max_size)
		return 0;
	if (!dispatch_fast_handler(id, args, &result) ||
	    !proto_codec_put_prefix_i32(codec, out, &dispatch_prefixes[codec][id], seqid, result))
		return 0;
	return r->pos;
}

/*
 * The call nearly every client makes, decoded and answered with all it
 * needs in registers: a call (not oneway) to add or subtract, whose
 * arguments come as every generated client writes them, whose result
 * fits an i32 and whose reply fits out.  The message's length, with what
 * was called in *call; 0 for anything else, with nothing done: then
 * dispatch_codec_message, which takes every message, answers it.
 */
DISPATCH_INLINE size_t
dispatch_fast(enum proto_codec codec, const uint8_t *data, size_t len, size_t max_size,
    struct buf *out)
{
	struct proto_reader	r;
	struct proto_string	name;
	uint8_t			type = 0;
	int32_t			seqid = 0;

	proto_reader_init(&r, data, len, max_size, DISPATCH_DEPTH);
	if (proto_codec_read_message_begin(codec, &r, &name, &type, &seqid) != 0 ||
	    type != PROTO_CALL)
		return 0;
	switch (dispatch_find(name.ptr, name.len)) {
	case DISPATCH_ADD:
		return dispatch_fast_method(codec, &r, DISPATCH_ADD, seqid, out);
	case DISPATCH_SUBTRACT:
		return dispatch_fast_method(codec, &r, DISPATCH_SUBTRACT, seqid, out);
	default:
		return 0;
	}
}

/*
 * The result dispatch_codec_message would have given the call in
 * data[0..len) that dispatch_fast answered: its header read again, once
 * a run (the loop keeps nothing of each call).
 */
static void
dispatch_fast_result(enum proto_codec codec, const uint8_t *data, size_t len,
    struct dispatch_result *res)
{
	struct proto_reader	r;
	struct proto_string	name = { NULL, 0 };
	uint8_t			type = 0;
	int32_t			seqid = 0;

	proto_reader_init(&r, data, len, len, DISPATCH_DEPTH);
	/* It was read whole once: this cannot fail. */
	(void)proto_codec_read_message_begin(codec, &r, &name, &type, &seqid);
	memset(res, 0, sizeof *res);
	res->status = PROTO_OK;
	res->consumed = len;
	res->method = name.ptr;
	res->method_len = name.len;
	res->seqid = seqid;
	res->message_type = PROTO_CALL;
	res->replied = true;
	res->method_index = dispatch_find(name.ptr, name.len);
	res->outcome = DISPATCH_OUTCOME_OK;
}

/*
 * dispatch_run for one codec: the messages one after another, each
 * answered by dispatch_fast, inlined into the loop, if it can; else by
 * the general path, out of line (so that the loop keeps its registers).
 */
DISPATCH_INLINE size_t
dispatch_codec_run(enum proto_codec codec, const struct proto_ops *ops, const uint8_t *data,
    size_t len, const struct dispatch_limits *limits, struct buf *out, size_t out_limit,
    unsigned max_calls, unsigned *calls, struct dispatch_result *res)
{
	size_t		max_size = limits->max_message_size, off = 0, took;
	unsigned	n = 0;

	for (;;) {
		size_t start = out->len;

		took = dispatch_fast(codec, data + off, len - off, max_size, out);
		if (took == 0) {
			if (codec == PROTO_CODEC_COMPACT)
				dispatch_compact(ops, data + off, len - off, limits, out, res);
			else
				dispatch_binary(ops, data + off, len - off, limits, out, res);
			if (res->status != PROTO_OK)
				break;
			if (res->consumed > max_size) {
				out->len = start;	/* the transport refuses it whole */
				break;
			}
			off += res->consumed;
		} else {
			off += took;
		}
		if (++n == max_calls || off == len || out->len >= out_limit)
			break;
	}
	if (took != 0)
		dispatch_fast_result(codec, data + off - took, took, res);
	*calls = n;
	return off;
}

/*
 * One function per codec's loop: inlined side by side into dispatch_run,
 * the two loops share one function's registers, and compact's call costs
 * 437 instructions instead of 393 (bench/profile.sh --instructions -P compact).
 */
static size_t
dispatch_run_binary(const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, size_t out_limit,
    unsigned max_calls, unsigned *calls, struct dispatch_result *res)
{
	return dispatch_codec_run(PROTO_CODEC_BINARY, ops, data, len, limits, out, out_limit,
	    max_calls, calls, res);
}

static size_t
dispatch_run_compact(const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, size_t out_limit,
    unsigned max_calls, unsigned *calls, struct dispatch_result *res)
{
	return dispatch_codec_run(PROTO_CODEC_COMPACT, ops, data, len, limits, out, out_limit,
	    max_calls, calls, res);
}

size_t
dispatch_run(const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, size_t out_limit,
    unsigned max_calls, unsigned *calls, struct dispatch_result *res)
{
	if (ops->codec == PROTO_CODEC_COMPACT)
		return dispatch_run_compact(ops, data, len, limits, out, out_limit, max_calls,
		    calls, res);
	return dispatch_run_binary(ops, data, len, limits, out, out_limit, max_calls, calls,
	    res);
}

void
dispatch_message(const struct proto_ops *ops, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct dispatch_result *res)
{
	if (ops->codec == PROTO_CODEC_COMPACT)
		dispatch_compact(ops, data, len, limits, out, res);
	else
		dispatch_binary(ops, data, len, limits, out, res);
}

int
dispatch_error_reply(const struct proto_ops *ops, const struct dispatch_result *res,
    struct buf *out)
{
	struct proto_string	name = { res->method, res->method_len };
	struct proto_writer	w;
	struct dispatch_reply	rep = { ops, &w, dispatch_reply_name(&name), res->seqid };
	size_t			out_start = out->len;

	if (res->message_type != PROTO_CALL || res->method == NULL)
		return -1;
	proto_writer_init(&w, out);
	dispatch_exception(&rep, PROTO_APP_PROTOCOL_ERROR,
	    "calcd could not decode this call (%s); closing the connection",
	    res->error ? res->error : "malformed message");
	if (w.failed) {
		out->len = out_start;
		return -1;
	}
	return 0;
}

