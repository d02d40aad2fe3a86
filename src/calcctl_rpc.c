/*
 * calcctl_rpc: encoding calcctl's call and checking its reply (see
 * calcctl_rpc.h).  A reply is parsed from the start each time more of it
 * arrives; only the codec's "need more" lets the caller read on, every
 * other mismatch is final.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "calcctl_rpc.h"
#include "transport.h"

#define CALCCTL_RPC_MAX_DEPTH	16
#define CALCCTL_RPC_FRAME_HEADER 4

/*
 * THeader (doc/specs/HeaderFormat.md in Apache Thrift): after the frame
 * length, magic 0x0fff, 16 bits of flags, a 32-bit sequence number and
 * the header's size in 4-byte words; the header holds the protocol id
 * and the transforms (varints), then ignorable info headers and padding.
 */
#define CALCCTL_RPC_HEADER_MAGIC	0x0fffu
#define CALCCTL_RPC_HEADER_FIXED	10	/* magic, flags, sequence number, size */
#define CALCCTL_RPC_HEADER_MAX_FRAME	0x3fffffffu
#define CALCCTL_RPC_HEADER_BINARY	0	/* protocol ids */
#define CALCCTL_RPC_HEADER_JSON		1
#define CALCCTL_RPC_HEADER_COMPACT	2

/* Fields of the structs a reply may hold. */
enum {
	APP_EXCEPTION_MESSAGE	= 1,	/* TApplicationException */
	APP_EXCEPTION_TYPE	= 2,
	RESULT_SUCCESS		= 0,	/* a method's result struct */
	RESULT_OUCH		= 1,	/* calculate's InvalidOperation */
	INVALID_OP_WHAT_OP	= 1,
	INVALID_OP_WHY		= 2,
	SHARED_KEY		= 1,
	SHARED_VALUE		= 2,
};

/* A field of a reply struct that calcctl reads. */
struct calcctl_rpc_field {
	int16_t		 id;
	uint8_t		 type;
	const char	*name;
};

/* --- encoding ------------------------------------------------------------ */

const char *
calcctl_rpc_transport_name(enum calcctl_transport transport)
{
	switch (transport) {
	case CALCCTL_TRANSPORT_FRAMED:
		return "framed";
	case CALCCTL_TRANSPORT_HEADER:
		return "header";
	default:
		return "buffered";
	}
}

static uint8_t
calcctl_rpc_header_protocol(const struct proto_ops *ops)
{
	return ops == &proto_compact ? CALCCTL_RPC_HEADER_COMPACT : CALCCTL_RPC_HEADER_BINARY;
}

static const char *
calcctl_rpc_header_protocol_name(uint32_t id)
{
	switch (id) {
	case CALCCTL_RPC_HEADER_BINARY:
		return "binary";
	case CALCCTL_RPC_HEADER_JSON:
		return "JSON";
	case CALCCTL_RPC_HEADER_COMPACT:
		return "compact";
	default:
		return "unknown";
	}
}

/*
 * The start of a THeader frame, length to be filled in: no flags, the
 * call's seqid as sequence number, and a one-word header: the protocol
 * id, no transforms, two bytes of padding.
 */
static int
calcctl_rpc_header_begin(const struct calcctl_call *call, struct buf *out)
{
	uint32_t	seqid = (uint32_t)call->seqid;
	uint8_t		head[CALCCTL_RPC_FRAME_HEADER + CALCCTL_RPC_HEADER_FIXED + 4] = {
		0, 0, 0, 0,
		CALCCTL_RPC_HEADER_MAGIC >> 8, CALCCTL_RPC_HEADER_MAGIC & 0xff,
		0, 0,
		(uint8_t)(seqid >> 24), (uint8_t)(seqid >> 16), (uint8_t)(seqid >> 8),
		(uint8_t)seqid,
		0, 1,
		calcctl_rpc_header_protocol(call->ops), 0, 0, 0,
	};

	return buf_append(out, head, sizeof head);
}

int
calcctl_rpc_encode(const struct calcctl_call *call, struct buf *out)
{
	static const uint8_t		 no_length[CALCCTL_RPC_FRAME_HEADER];
	const struct proto_ops		*ops = call->ops;
	struct proto_writer		 w;
	struct proto_string		 name;
	size_t				 start = out->len, body;

	if (call->transport == CALCCTL_TRANSPORT_FRAMED &&
	    buf_append(out, no_length, sizeof no_length) != 0)
		return -1;
	if (call->transport == CALCCTL_TRANSPORT_HEADER && calcctl_rpc_header_begin(call, out) != 0)
		return -1;
	name.ptr = (const uint8_t *)call->name;
	name.len = strlen(call->name);
	proto_writer_init(&w, out);
	ops->write_message_begin(&w, &name, call->oneway ? PROTO_ONEWAY : PROTO_CALL,
	    call->seqid);
	ops->write_struct_begin(&w);
	if (call->write_args != NULL)
		call->write_args(ops, &w, call->args);
	ops->write_field_stop(&w);
	if (ops->write_struct_end(&w) != 0)
		return -1;
	if (call->transport != CALCCTL_TRANSPORT_BUFFERED) {
		body = out->len - start - CALCCTL_RPC_FRAME_HEADER;
		bytes_put_be32(out->data + start, (uint32_t)body);
	}
	return 0;
}

/* --- checking the reply -------------------------------------------------- */

static void
calcctl_rpc_bad(struct calcctl_reply *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
calcctl_rpc_bad(struct calcctl_reply *rep, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(rep->error, sizeof rep->error, fmt, ap);	/* cut short if need be */
	va_end(ap);
	rep->status = CALCCTL_REPLY_BAD;
}

/* s as text for a message: control bytes as \xNN, at most 64 bytes of it. */
static void
calcctl_rpc_printable(const struct proto_string *s, char *out, size_t size)
{
	size_t used = 0;

	for (size_t i = 0; i < s->len && i < 64 && used + 5 < size; i++) {
		uint8_t c = s->ptr[i];

		if (c < 0x20 || c == 0x7f)
			used += (size_t)snprintf(out + used, size - used, "\\x%02x", c);
		else
			out[used++] = (char)c;
	}
	if (s->len > 64 && used + 4 < size) {
		memcpy(out + used, "...", 3);
		used += 3;
	}
	out[used] = '\0';
}

static bool
calcctl_rpc_name_is(const struct proto_string *name, const char *want)
{
	return name->len == strlen(want) && memcmp(name->ptr, want, name->len) == 0;
}

/*
 * The name is the one sent; a multiplexed call's reply may also carry the
 * bare method name, as Apache Thrift's TMultiplexedProcessor sends it.
 */
static bool
calcctl_rpc_name_matches(const struct calcctl_call *call, const struct proto_string *name)
{
	return calcctl_rpc_name_is(name, call->name) ||
	    (strcmp(call->name, call->method) != 0 && calcctl_rpc_name_is(name, call->method));
}

/*
 * Read up to the next field of fields[0..n), skipping the others: its
 * index in fields, or -1 at the struct's end or on error (see r->status
 * and rep->status).  A known field id with the wrong type is an error.
 */
static int
calcctl_rpc_next_field(const struct proto_ops *ops, struct proto_reader *r,
    const char *what, const struct calcctl_rpc_field *fields, int n,
    struct calcctl_reply *rep)
{
	uint8_t	type;
	int16_t	id;

	for (;;) {
		if (ops->read_field_begin(r, &type, &id) != 0 || type == PROTO_T_STOP)
			return -1;
		for (int i = 0; i < n; i++) {
			if (fields[i].id != id)
				continue;
			if (fields[i].type == type)
				return i;
			calcctl_rpc_bad(rep, "%s field %d (%s) is %s, expected %s", what, id,
			    fields[i].name, proto_type_name(type),
			    proto_type_name(fields[i].type));
			return -1;
		}
		if (ops->skip(r, type) != 0)
			return -1;
	}
}

/* True while neither the codec nor a check has failed. */
static bool
calcctl_rpc_ok(const struct proto_reader *r, const struct calcctl_reply *rep)
{
	return r->status == PROTO_OK && rep->status != CALCCTL_REPLY_BAD;
}

/*
 * A struct of an i32 and a string (TApplicationException, InvalidOperation,
 * SharedStruct).  *have gets a bit per field read: 1 the i32, 2 the string.
 */
static int
calcctl_rpc_read_pair(const struct proto_ops *ops, struct proto_reader *r, const char *what,
    const struct calcctl_rpc_field fields[2], int32_t *number, struct proto_string *text,
    unsigned *have, struct calcctl_reply *rep)
{
	int i;

	*have = 0;
	if (ops->read_struct_begin(r) != 0)
		return -1;
	while ((i = calcctl_rpc_next_field(ops, r, what, fields, 2, rep)) >= 0) {
		if (fields[i].type == PROTO_T_I32 ? ops->read_i32(r, number) != 0 :
		    ops->read_string(r, text) != 0)
			return -1;
		*have |= fields[i].type == PROTO_T_I32 ? 1u : 2u;
	}
	if (!calcctl_rpc_ok(r, rep))
		return -1;
	return ops->read_struct_end(r);
}

static void
calcctl_rpc_read_exception(const struct calcctl_call *call, struct proto_reader *r,
    struct calcctl_reply *rep)
{
	static const struct calcctl_rpc_field fields[2] = {
		{ APP_EXCEPTION_TYPE, PROTO_T_I32, "type" },
		{ APP_EXCEPTION_MESSAGE, PROTO_T_STRING, "message" },
	};
	unsigned have;

	rep->code = PROTO_APP_UNKNOWN;
	if (calcctl_rpc_read_pair(call->ops, r, "TApplicationException", fields, &rep->code,
	    &rep->text, &have, rep) == 0)
		rep->status = CALCCTL_REPLY_APP_ERROR;
}

static void
calcctl_rpc_read_result(const struct calcctl_call *call, struct proto_reader *r,
    struct calcctl_reply *rep)
{
	static const struct calcctl_rpc_field shared_fields[2] = {
		{ SHARED_KEY, PROTO_T_I32, "key" },
		{ SHARED_VALUE, PROTO_T_STRING, "value" },
	};
	static const struct calcctl_rpc_field ouch_fields[2] = {
		{ INVALID_OP_WHAT_OP, PROTO_T_I32, "whatOp" },
		{ INVALID_OP_WHY, PROTO_T_STRING, "why" },
	};
	const struct proto_ops		*ops = call->ops;
	struct calcctl_rpc_field	 fields[2];
	char				 what[64];
	int				 n = 0, i;
	unsigned			 have;
	bool				 success = false, ouch = false;

	if (call->result == CALCCTL_RESULT_I32)
		fields[n++] = (struct calcctl_rpc_field){ RESULT_SUCCESS, PROTO_T_I32, "success" };
	else if (call->result == CALCCTL_RESULT_SHARED)
		fields[n++] = (struct calcctl_rpc_field){ RESULT_SUCCESS, PROTO_T_STRUCT, "success" };
	if (call->throws)
		fields[n++] = (struct calcctl_rpc_field){ RESULT_OUCH, PROTO_T_STRUCT, "ouch" };
	(void)snprintf(what, sizeof what, "%s result", call->method);

	if (ops->read_struct_begin(r) != 0)
		return;
	while ((i = calcctl_rpc_next_field(ops, r, what, fields, n, rep)) >= 0) {
		if (fields[i].id == RESULT_OUCH) {
			if (calcctl_rpc_read_pair(ops, r, "InvalidOperation", ouch_fields,
			    &rep->code, &rep->text, &have, rep) != 0)
				return;
			ouch = true;
		} else if (fields[i].type == PROTO_T_I32) {
			if (ops->read_i32(r, &rep->value) != 0)
				return;
			success = true;
		} else {
			if (calcctl_rpc_read_pair(ops, r, "SharedStruct", shared_fields,
			    &rep->value, &rep->text, &have, rep) != 0)
				return;
			if (have != 3) {
				calcctl_rpc_bad(rep, "SharedStruct without its %s",
				    have & 1 ? "value (field 2)" : "key (field 1)");
				return;
			}
			success = true;
		}
	}
	if (!calcctl_rpc_ok(r, rep) || ops->read_struct_end(r) != 0)
		return;
	if (success && ouch)
		calcctl_rpc_bad(rep, "%s holds both a result and an exception", what);
	else if (ouch)
		rep->status = CALCCTL_REPLY_INVALID_OP;
	else if (!success && call->result != CALCCTL_RESULT_VOID)
		calcctl_rpc_bad(rep, "%s has no result (field 0)", what);
	else
		rep->status = CALCCTL_REPLY_OK;
}

/* One message in data[0..len): sets rep->length to its size when complete. */
static void
calcctl_rpc_parse_message(const struct calcctl_call *call, const uint8_t *data, size_t len,
    struct calcctl_reply *rep)
{
	struct proto_reader	r;
	struct proto_string	name;
	char			text[300];
	uint8_t			type;
	int32_t			seqid;

	proto_reader_init(&r, data, len, CALCCTL_RPC_MAX_REPLY, CALCCTL_RPC_MAX_DEPTH);
	if (call->ops->read_message_begin(&r, &name, &type, &seqid) == 0) {
		if (type != PROTO_REPLY && type != PROTO_EXCEPTION) {
			calcctl_rpc_bad(rep, "message type %u, expected a reply (%d) or an "
			    "exception (%d)", type, PROTO_REPLY, PROTO_EXCEPTION);
			return;
		}
		if (seqid != call->seqid) {
			calcctl_rpc_bad(rep, "seqid %ld, expected %ld", (long)seqid,
			    (long)call->seqid);
			return;
		}
		if (!calcctl_rpc_name_matches(call, &name)) {
			calcctl_rpc_printable(&name, text, sizeof text);
			calcctl_rpc_bad(rep, "the reply is named '%s', expected '%s'", text,
			    call->name);
			return;
		}
		if (type == PROTO_EXCEPTION)
			calcctl_rpc_read_exception(call, &r, rep);
		else
			calcctl_rpc_read_result(call, &r, rep);
	}
	if (rep->status == CALCCTL_REPLY_BAD)
		return;
	if (r.status == PROTO_NEED_MORE) {
		rep->status = CALCCTL_REPLY_NEED_MORE;
	} else if (r.status == PROTO_TOO_BIG) {
		/* The codec's text names calcd's max_message_size. */
		calcctl_rpc_bad(rep, "a length or count is over the 16 MiB limit");
	} else if (r.status != PROTO_OK) {
		calcctl_rpc_bad(rep, "%s", r.error ? r.error : "undecodable");
	} else {
		rep->length = r.pos;
	}
}

/*
 * A THeader reply: magic, a header that fits its frame, no transform,
 * the protocol of the call, then exactly one message filling the rest.
 */
static void
calcctl_rpc_parse_header(const struct calcctl_call *call, const uint8_t *data, size_t len,
    struct calcctl_reply *rep)
{
	const uint8_t	*frame_data, *header, *header_end;
	uint32_t	 frame, magic, protocol_id, transforms, want;
	size_t		 header_len, payload_len;

	if (len < CALCCTL_RPC_FRAME_HEADER)
		return;
	frame_data = data + CALCCTL_RPC_FRAME_HEADER;	/* not before: data may be NULL */
	frame = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 |
	    data[3];
	if (frame > CALCCTL_RPC_MAX_REPLY || frame > CALCCTL_RPC_HEADER_MAX_FRAME) {
		calcctl_rpc_bad(rep, "THeader frame length %lu is over the 16 MiB limit",
		    (unsigned long)frame);
		return;
	}
	if (frame < CALCCTL_RPC_HEADER_FIXED) {
		calcctl_rpc_bad(rep, "THeader frame length %lu is shorter than the %d bytes "
		    "from magic to header size", (unsigned long)frame, CALCCTL_RPC_HEADER_FIXED);
		return;
	}
	/* Say at once when the reply is not THeader at all. */
	if (len < CALCCTL_RPC_FRAME_HEADER + 2)
		return;
	magic = (uint32_t)frame_data[0] << 8 | frame_data[1];
	if (magic != CALCCTL_RPC_HEADER_MAGIC) {
		calcctl_rpc_bad(rep, "not a THeader frame: magic 0x%04lx, expected 0x%04x",
		    (unsigned long)magic, CALCCTL_RPC_HEADER_MAGIC);
		return;
	}
	if (len - CALCCTL_RPC_FRAME_HEADER < frame)
		return;
	header_len = ((size_t)frame_data[8] << 8 | frame_data[9]) * 4;
	if (header_len > frame - CALCCTL_RPC_HEADER_FIXED) {
		calcctl_rpc_bad(rep, "THeader header of %zu bytes runs past the end of its "
		    "%lu-byte frame", header_len, (unsigned long)frame);
		return;
	}
	header = frame_data + CALCCTL_RPC_HEADER_FIXED;
	header_end = header + header_len;
	if (transport_header_varint(&header, header_end, &protocol_id) != 0 ||
	    transport_header_varint(&header, header_end, &transforms) != 0) {
		calcctl_rpc_bad(rep, "THeader header without a protocol id and transform count");
		return;
	}
	if (transforms != 0) {
		calcctl_rpc_bad(rep, "THeader reply with %lu transform%s, which calcctl does not "
		    "undo", (unsigned long)transforms, transforms == 1 ? "" : "s");
		return;
	}
	want = calcctl_rpc_header_protocol(call->ops);
	if (protocol_id != want) {
		calcctl_rpc_bad(rep, "THeader reply in protocol %lu (%s), expected %lu (%s)",
		    (unsigned long)protocol_id, calcctl_rpc_header_protocol_name(protocol_id),
		    (unsigned long)want, calcctl_rpc_header_protocol_name(want));
		return;
	}
	/* Info headers and padding, up to header_end, are ignorable. */
	payload_len = frame - CALCCTL_RPC_HEADER_FIXED - header_len;
	calcctl_rpc_parse_message(call, header_end, payload_len, rep);
	if (rep->status == CALCCTL_REPLY_BAD)
		return;
	if (rep->status == CALCCTL_REPLY_NEED_MORE)
		calcctl_rpc_bad(rep, "the message runs past the end of its %lu-byte THeader frame",
		    (unsigned long)frame);
	else if (rep->length != payload_len)
		calcctl_rpc_bad(rep, "%lu bytes after the message in its THeader frame",
		    (unsigned long)(payload_len - rep->length));
	else
		rep->length = frame + CALCCTL_RPC_FRAME_HEADER;
}

void
calcctl_rpc_parse(const struct calcctl_call *call, const uint8_t *data, size_t len,
    struct calcctl_reply *rep)
{
	struct transport_frame frame;

	memset(rep, 0, sizeof *rep);
	rep->status = CALCCTL_REPLY_NEED_MORE;
	if (call->transport == CALCCTL_TRANSPORT_HEADER) {
		calcctl_rpc_parse_header(call, data, len, rep);
		return;
	}
	if (call->transport != CALCCTL_TRANSPORT_FRAMED) {
		calcctl_rpc_parse_message(call, data, len, rep);
		return;
	}
	transport_frame_check(data, len, UINT32_MAX, CALCCTL_RPC_MAX_REPLY, &frame);
	if (frame.status == PROTO_NEED_MORE)
		return;
	if (frame.status != PROTO_OK) {
		calcctl_rpc_bad(rep, "frame length %lu is %s", (unsigned long)frame.len,
		    frame.len == 0 ? "zero" : "over the 16 MiB limit");
		return;
	}
	calcctl_rpc_parse_message(call, data + CALCCTL_RPC_FRAME_HEADER, frame.len, rep);
	if (rep->status == CALCCTL_REPLY_BAD)
		return;
	if (rep->status == CALCCTL_REPLY_NEED_MORE)
		calcctl_rpc_bad(rep, "the message runs past the end of its %lu-byte frame",
		    (unsigned long)frame.len);
	else if (rep->length != frame.len)
		calcctl_rpc_bad(rep, "%lu bytes after the message in its frame",
		    (unsigned long)(frame.len - rep->length));
	else
		rep->length = frame.len + CALCCTL_RPC_FRAME_HEADER;
}
