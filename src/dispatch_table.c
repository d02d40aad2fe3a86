/*
 * dispatch_table: the CalculatorService method table — one row per
 * method: its name, its arguments (field id, type, name), the type of
 * its result — each method's reply prefixes, built before main, and the
 * replies that are not results: TApplicationExceptions (with the
 * argument checks that send them) and calculate's InvalidOperation.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dispatch_table.h"

/* Each method's reply prefix, per codec: see proto_prefix_init. */
struct proto_prefix dispatch_prefixes[2][DISPATCH_METHODS];

/* Built before main (and before any worker): read-only from then on. */
static void __attribute__((constructor))
dispatch_prefixes_init(void)
{
	static const enum proto_codec codecs[] = { PROTO_CODEC_BINARY, PROTO_CODEC_COMPACT };

	for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++)
		for (unsigned id = 0; id < DISPATCH_METHODS; id++)
			/* On failure the prefix stays empty: replies are then written whole. */
			(void)proto_prefix_init(codecs[c], &dispatch_prefixes[codecs[c]][id],
			    dispatch_names[id].name, dispatch_names[id].len, PROTO_REPLY,
			    dispatch_methods[id].result_type, 0);
}

/* The texts are short: a quoted peer's name is at most DISPATCH_QUOTE_LEN bytes. */
void
dispatch_exception(const struct dispatch_reply *rep, enum proto_app_error type,
    const char *fmt, ...)
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
	proto_write_app_exception(rep->ops, rep->writer, &rep->name, rep->seqid, type, text,
	    (size_t)n);
}

static const struct proto_ops *
dispatch_ops(enum proto_codec codec)
{
	return codec == PROTO_CODEC_COMPACT ? &proto_compact : &proto_binary;
}

/* calculate's declared exception: result field 1, InvalidOperation. */
enum dispatch_outcome
dispatch_reply_invalid_operation(enum proto_codec codec, struct proto_writer *w,
    enum dispatch_method_id id, int32_t seqid, int32_t what_op, const char *why)
{
	struct proto_string name = {
		(const uint8_t *)dispatch_names[id].name, dispatch_names[id].len
	};

	proto_codec_write_message_begin(codec, w, &name, PROTO_REPLY, seqid);
	proto_codec_write_struct_begin(codec, w);
	proto_codec_write_field_begin(codec, w, PROTO_T_STRUCT, 1);
	proto_codec_write_struct_begin(codec, w);
	proto_codec_write_field_begin(codec, w, PROTO_T_I32, 1);
	proto_codec_write_i32(codec, w, what_op);
	proto_codec_write_field_begin(codec, w, PROTO_T_STRING, 2);
	proto_codec_write_string(codec, w, why, strlen(why));
	dispatch_reply_end(codec, w);
	dispatch_reply_end(codec, w);
	return DISPATCH_OUTCOME_EXCEPTION;
}

/* add or subtract whose result passes the i32 range. */
enum dispatch_outcome
dispatch_reply_overflow(enum proto_codec codec, struct proto_writer *w,
    enum dispatch_method_id id, int32_t seqid, const struct dispatch_args *args)
{
	struct dispatch_reply rep = { dispatch_ops(codec), w, {
		(const uint8_t *)dispatch_names[id].name, dispatch_names[id].len }, seqid };

	dispatch_exception(&rep, PROTO_APP_UNKNOWN, "%s: %ld %c %ld overflows i32",
	    dispatch_names[id].name, (long)args->i32[0], id == DISPATCH_ADD ? '+' : '-',
	    (long)args->i32[1]);
	return DISPATCH_OUTCOME_ERROR;
}

enum dispatch_outcome
dispatch_reply_no_key(enum proto_codec codec, struct proto_writer *w,
    enum dispatch_method_id id, int32_t seqid, int32_t key)
{
	struct dispatch_reply rep = { dispatch_ops(codec), w, {
		(const uint8_t *)dispatch_names[id].name, dispatch_names[id].len }, seqid };

	dispatch_exception(&rep, PROTO_APP_UNKNOWN,
	    "getStruct: no calculation logged with key %ld", (long)key);
	return DISPATCH_OUTCOME_ERROR;
}

bool
dispatch_check_args(const struct dispatch_reply *rep, enum dispatch_method_id id,
    const struct dispatch_args *args)
{
	static const struct { unsigned id; const char *name; } work_required[] = {
		{ WORK_NUM2, "num2" }, { WORK_OP, "op" },
	};
	const struct dispatch_method	*m = &dispatch_methods[id];
	const char			*method = dispatch_names[id].name;

	for (unsigned i = 0; i < m->nargs; i++) {
		const struct dispatch_arg *a = &m->args[i];

		if (args->wrong & (1u << i)) {
			dispatch_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: argument '%s' (field %d) must be %s, not %s", method,
			    a->name, a->id, proto_type_name(a->type),
			    proto_type_name(args->wrong_type[i]));
			return true;
		}
		if (!(args->have & (1u << i))) {
			dispatch_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: missing argument '%s' (field %d, %s)", method, a->name,
			    a->id, proto_type_name(a->type));
			return true;
		}
		if (a->type != PROTO_T_STRUCT)
			continue;
		for (unsigned f = WORK_NUM1; f <= WORK_COMMENT; f++) {
			if (!(args->work_wrong & (1u << f)))
				continue;
			dispatch_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: field %u of argument '%s' (Work) has the wrong type %s",
			    method, f, a->name, proto_type_name(args->work_wrong_type[f]));
			return true;
		}
		for (size_t k = 0; k < sizeof work_required / sizeof work_required[0]; k++) {
			if (args->work_have & (1u << work_required[k].id))
				continue;
			dispatch_exception(rep, PROTO_APP_PROTOCOL_ERROR,
			    "%s: missing field '%s.%s' (field %u of Work)", method, a->name,
			    work_required[k].name, work_required[k].id);
			return true;
		}
	}
	return false;
}

unsigned
dispatch_method_count(void)
{
	return DISPATCH_METHODS;
}

const char *
dispatch_method_name(unsigned index)
{
	return index < DISPATCH_METHODS ? dispatch_names[index].name : "unknown";
}
