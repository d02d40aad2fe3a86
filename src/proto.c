/*
 * proto: what the binary and compact codecs share — reader and writer
 * set-up, failure recording, skipping under a nesting limit, the
 * TApplicationException writer, and type names for error messages.
 */
#include <string.h>

#include "proto.h"

void
proto_reader_init(struct proto_reader *r, const uint8_t *data, size_t len,
    size_t max_size, unsigned max_depth)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
	r->need = 0;
	r->max_size = max_size;
	r->max_depth = max_depth > PROTO_MAX_DEPTH_LIMIT ? PROTO_MAX_DEPTH_LIMIT : max_depth;
	r->depth = 0;
	r->status = PROTO_OK;
	r->error = NULL;
	r->last_field_id[0] = 0;
	r->pending_bool = -1;
}

void
proto_writer_init(struct proto_writer *w, struct buf *out)
{
	w->out = out;
	w->depth = 0;
	w->failed = false;
	w->last_field_id[0] = 0;
	w->bool_field_id = 0;
	w->bool_field_pending = false;
}

int
proto_skip_nested(const struct proto_ops *ops, struct proto_reader *r, uint8_t type,
    unsigned levels)
{
	unsigned	outer = r->max_depth;
	unsigned	limit = r->depth + (levels > PROTO_MAX_DEPTH_LIMIT ?
			    PROTO_MAX_DEPTH_LIMIT : levels);
	int		rc;

	r->max_depth = limit > PROTO_READER_DEPTH ? PROTO_READER_DEPTH : limit;
	rc = ops->skip(r, type);
	r->max_depth = outer;
	return rc;
}

int
proto_need(struct proto_reader *r, size_t more)
{
	if (r->status == PROTO_OK) {
		r->status = PROTO_NEED_MORE;
		/* Saturate: a need past SIZE_MAX is simply "more than we'll take". */
		r->need = more > SIZE_MAX - r->pos ? SIZE_MAX : r->pos + more;
	}
	return -1;
}

int
proto_need_also(struct proto_reader *r, size_t more)
{
	if (r->status == PROTO_NEED_MORE)
		r->need = more > SIZE_MAX - r->need ? SIZE_MAX : r->need + more;
	return -1;
}

int
proto_fail(struct proto_reader *r, enum proto_status status, const char *why)
{
	if (r->status == PROTO_OK || r->status == PROTO_NEED_MORE) {
		r->status = status;
		r->error = why;
	}
	return -1;
}

int
proto_put_slow(struct proto_writer *w, const void *p, size_t n)
{
	if (w->failed || buf_append(w->out, p, n) != 0) {
		w->failed = true;
		return -1;
	}
	return 0;
}

const char *
proto_type_name(uint8_t type)
{
	switch (type) {
	case PROTO_T_STOP:	return "stop";
	case PROTO_T_BOOL:	return "bool";
	case PROTO_T_BYTE:	return "byte";
	case PROTO_T_DOUBLE:	return "double";
	case PROTO_T_I16:	return "i16";
	case PROTO_T_I32:	return "i32";
	case PROTO_T_I64:	return "i64";
	case PROTO_T_STRING:	return "string";
	case PROTO_T_STRUCT:	return "struct";
	case PROTO_T_MAP:	return "map";
	case PROTO_T_SET:	return "set";
	case PROTO_T_LIST:	return "list";
	case PROTO_T_UUID:	return "uuid";
	default:		return "unknown type";
	}
}

int
proto_write_app_exception(const struct proto_ops *ops, struct proto_writer *w,
    const struct proto_string *name, int32_t seqid, enum proto_app_error type,
    const char *text, size_t len)
{
	ops->write_message_begin(w, name, PROTO_EXCEPTION, seqid);
	ops->write_struct_begin(w);
	ops->write_field_begin(w, PROTO_T_STRING, 1);
	ops->write_string(w, text, len);
	ops->write_field_begin(w, PROTO_T_I32, 2);
	ops->write_i32(w, type);
	ops->write_field_stop(w);
	return ops->write_struct_end(w);
}
