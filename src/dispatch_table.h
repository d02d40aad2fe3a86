/*
 * dispatch_table: what dispatch.c's parts share about the methods — the
 * method list and table, each method's reply prefix per codec, the
 * decoded arguments, and the reply writers: inline ones, specialized
 * per codec where dispatch inlines them with a constant codec, for
 * results; out-of-line ones for errors and declared exceptions (in
 * dispatch_table.c).  Private to dispatch; dispatch.h is the interface.
 */
#ifndef CALCD_DISPATCH_TABLE_H
#define CALCD_DISPATCH_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "calc.h"
#include "dispatch.h"
#include "proto_codec.h"

#define DISPATCH_MAX_ARGS	2
/* For the functions specialized per codec: inlined where the codec is a constant. */
#define DISPATCH_INLINE		static inline __attribute__((always_inline))

/* Fields of the Work struct that calculate takes. */
enum {
	WORK_NUM1 = 1,
	WORK_NUM2 = 2,
	WORK_OP = 3,
	WORK_COMMENT = 4,
};
/* The Work fields a call must send (num1 has a default). */
#define WORK_REQUIRED		(1u << WORK_NUM2 | 1u << WORK_OP)

/* Every method, its row's index with its name: the table and the lookup both come from this. */
#define DISPATCH_METHOD_LIST(METHOD)			\
	METHOD(DISPATCH_ADD, "add")			\
	METHOD(DISPATCH_SUBTRACT, "subtract")		\
	METHOD(DISPATCH_PING, "ping")			\
	METHOD(DISPATCH_CALCULATE, "calculate")		\
	METHOD(DISPATCH_ZIP, "zip")			\
	METHOD(DISPATCH_GET_STRUCT, "getStruct")

enum dispatch_method_id {
#define DISPATCH_METHOD_ID(id, name)	id,
	DISPATCH_METHOD_LIST(DISPATCH_METHOD_ID)
#undef DISPATCH_METHOD_ID
	DISPATCH_METHODS		/* none: an unknown method */
};

struct dispatch_name {
	const char	*name;
	size_t		 len;
};

struct dispatch_arg {
	int16_t		 id;
	uint8_t		 type;
	const char	*name;
};

struct dispatch_method {
	bool			 oneway;
	bool			 shared;	/* also in SharedService */
	uint8_t			 result_type;	/* of result field 0; PROTO_T_STOP: void */
	unsigned		 nargs;
	struct dispatch_arg	 args[DISPATCH_MAX_ARGS];
};

/*
 * The table, static in this header so that where dispatch inlines code
 * for one method, the compiler reads its row as constants (argument ids
 * and types, result type) and folds them in.
 */
static const struct dispatch_name dispatch_names[DISPATCH_METHODS] = {
#define DISPATCH_METHOD_NAME(id, name)	[id] = { name, sizeof(name) - 1 },
	DISPATCH_METHOD_LIST(DISPATCH_METHOD_NAME)
#undef DISPATCH_METHOD_NAME
};

static const struct dispatch_method dispatch_methods[DISPATCH_METHODS] = {
	[DISPATCH_ADD] = { .nargs = 2, .result_type = PROTO_T_I32,
	  .args = { { 1, PROTO_T_I32, "a" }, { 2, PROTO_T_I32, "b" } } },
	[DISPATCH_SUBTRACT] = { .nargs = 2, .result_type = PROTO_T_I32,
	  .args = { { 1, PROTO_T_I32, "a" }, { 2, PROTO_T_I32, "b" } } },
	[DISPATCH_PING] = { .result_type = PROTO_T_STOP },
	[DISPATCH_CALCULATE] = { .nargs = 2, .result_type = PROTO_T_I32,
	  .args = { { 1, PROTO_T_I32, "logid" }, { 2, PROTO_T_STRUCT, "w" } } },
	[DISPATCH_ZIP] = { .oneway = true, .result_type = PROTO_T_STOP },
	[DISPATCH_GET_STRUCT] = { .shared = true, .nargs = 1, .result_type = PROTO_T_STRUCT,
	  .args = { { 1, PROTO_T_I32, "key" } } },
};

/* Each method's reply prefix, per codec (see proto_prefix_init); built before main. */
extern struct proto_prefix		dispatch_prefixes[2][DISPATCH_METHODS];

/* The decoded arguments of one call. */
struct dispatch_args {
	int32_t			i32[DISPATCH_MAX_ARGS];
	unsigned		have;				/* bit per argument read */
	unsigned		wrong;				/* bit per argument last sent mistyped */
	uint8_t			wrong_type[DISPATCH_MAX_ARGS];	/* the type sent instead */
	bool			work_read;			/* a Work argument was read */
	struct calc_work	work;
	unsigned		work_have;			/* bit per Work field id */
	unsigned		work_wrong;			/* bit per Work field id mistyped */
	uint8_t			work_wrong_type[WORK_COMMENT + 1];
};

/* --- replies ----------------------------------------------------------------- */

/* Where an error reply goes and what it answers. */
struct dispatch_reply {
	const struct proto_ops	*ops;
	struct proto_writer	*writer;
	struct proto_string	 name;
	int32_t			 seqid;
};

/* Append a TApplicationException of the given type, its text formatted. */
void	dispatch_exception(const struct dispatch_reply *, enum proto_app_error type,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * Reply with an error (PROTOCOL_ERROR, naming the argument) and return
 * true if a needed argument of method id is missing or mistyped.
 */
bool	dispatch_check_args(const struct dispatch_reply *, enum dispatch_method_id id,
	    const struct dispatch_args *);

/* The rarer replies, out of line; each returns how the call ended. */
enum dispatch_outcome dispatch_reply_invalid_operation(enum proto_codec, struct proto_writer *,
	    enum dispatch_method_id, int32_t seqid, int32_t what_op, const char *why)
	    __attribute__((cold));
enum dispatch_outcome dispatch_reply_overflow(enum proto_codec, struct proto_writer *,
	    enum dispatch_method_id, int32_t seqid, const struct dispatch_args *)
	    __attribute__((cold));
enum dispatch_outcome dispatch_reply_no_key(enum proto_codec, struct proto_writer *,
	    enum dispatch_method_id, int32_t seqid, int32_t key) __attribute__((cold));

/* A method's reply to the call seqid for a method, from its result field's header on. */
DISPATCH_INLINE void
dispatch_reply_begin(enum proto_codec codec, struct proto_writer *w,
    enum dispatch_method_id id, int32_t seqid)
{
	const struct proto_prefix	*prefix = &dispatch_prefixes[codec][id];
	struct proto_string		 name;
	uint8_t				 result_type;

	if (prefix->len != 0) {
		proto_codec_write_prefix(codec, w, prefix, seqid);
		return;
	}
	name.ptr = (const uint8_t *)dispatch_names[id].name;
	name.len = dispatch_names[id].len;
	result_type = dispatch_methods[id].result_type;
	proto_codec_write_message_begin(codec, w, &name, PROTO_REPLY, seqid);
	proto_codec_write_struct_begin(codec, w);
	if (result_type != PROTO_T_STOP)
		proto_codec_write_field_begin(codec, w, result_type, 0);
}

/* The end of the result struct and of the message. */
DISPATCH_INLINE void
dispatch_reply_end(enum proto_codec codec, struct proto_writer *w)
{
	proto_codec_write_field_stop(codec, w);
	proto_codec_write_struct_end(codec, w);
}

DISPATCH_INLINE void
dispatch_reply_i32(enum proto_codec codec, struct proto_writer *w,
    enum dispatch_method_id id, int32_t seqid, int32_t value)
{
	dispatch_reply_begin(codec, w, id, seqid);
	proto_codec_write_i32(codec, w, value);
	dispatch_reply_end(codec, w);
}

DISPATCH_INLINE void
dispatch_reply_void(enum proto_codec codec, struct proto_writer *w,
    enum dispatch_method_id id, int32_t seqid)
{
	dispatch_reply_begin(codec, w, id, seqid);
	dispatch_reply_end(codec, w);
}

/* getStruct's result: a SharedStruct. */
DISPATCH_INLINE void
dispatch_reply_shared_struct(enum proto_codec codec, struct proto_writer *w,
    enum dispatch_method_id id, int32_t seqid, const struct calc_shared_struct *s)
{
	dispatch_reply_begin(codec, w, id, seqid);
	proto_codec_write_struct_begin(codec, w);
	proto_codec_write_field_begin(codec, w, PROTO_T_I32, 1);
	proto_codec_write_i32(codec, w, s->key);
	proto_codec_write_field_begin(codec, w, PROTO_T_STRING, 2);
	proto_codec_write_string(codec, w, s->value, strlen(s->value));
	dispatch_reply_end(codec, w);
	dispatch_reply_end(codec, w);
}

#endif
