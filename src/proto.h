/*
 * proto: the Thrift protocol codecs' common interface.  A reader decodes
 * from a plain byte range in place (strings point into it); a writer
 * appends to a struct buf.  No sockets, no allocation when reading.
 * binary.c and compact.c provide the two implementations.
 */
#ifndef CALCD_PROTO_H
#define CALCD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* Thrift's type ids, as TBinaryProtocol numbers them. */
enum proto_type {
	PROTO_T_STOP	= 0,
	PROTO_T_BOOL	= 2,
	PROTO_T_BYTE	= 3,
	PROTO_T_DOUBLE	= 4,
	PROTO_T_I16	= 6,
	PROTO_T_I32	= 8,
	PROTO_T_I64	= 10,
	PROTO_T_STRING	= 11,
	PROTO_T_STRUCT	= 12,
	PROTO_T_MAP	= 13,
	PROTO_T_SET	= 14,
	PROTO_T_LIST	= 15,
	PROTO_T_UUID	= 16,
};

enum proto_message_type {
	PROTO_CALL	= 1,
	PROTO_REPLY	= 2,
	PROTO_EXCEPTION	= 3,
	PROTO_ONEWAY	= 4,
};

/* TApplicationException types. */
enum proto_app_error {
	PROTO_APP_UNKNOWN		= 0,
	PROTO_APP_UNKNOWN_METHOD	= 1,
	PROTO_APP_INVALID_MESSAGE_TYPE	= 2,
	PROTO_APP_WRONG_METHOD_NAME	= 3,
	PROTO_APP_BAD_SEQUENCE_ID	= 4,
	PROTO_APP_MISSING_RESULT	= 5,
	PROTO_APP_INTERNAL_ERROR	= 6,
	PROTO_APP_PROTOCOL_ERROR	= 7,
	PROTO_APP_INVALID_TRANSFORM	= 8,
	PROTO_APP_INVALID_PROTOCOL	= 9,
	PROTO_APP_UNSUPPORTED_CLIENT_TYPE = 10,
};

/* How a read went; sticky in the reader once not OK. */
enum proto_status {
	PROTO_OK = 0,
	PROTO_NEED_MORE,	/* input ends early; r->need says how much is needed */
	PROTO_BAD,		/* malformed; r->error says why */
	PROTO_TOO_BIG,		/* a length or count passes the limit */
};

/*
 * For the codecs' per-field functions: always inlined, whatever the
 * compiler's size estimate, so a caller that knows its codec reads and
 * writes fields with no calls (their out-of-line copies serve the ops
 * tables).
 */
#define PROTO_INLINE	static inline __attribute__((always_inline))

/* A little-endian 64-bit word as loaded from bytes, in host order. */
static inline uint64_t
proto_le64(uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(x);
#else
	return x;
#endif
}

#define PROTO_MAX_DEPTH_LIMIT	64	/* hard ceiling for a nesting limit */
/* Levels a reader can track: a limit's worth inside a few structs read on the way. */
#define PROTO_READER_DEPTH	(PROTO_MAX_DEPTH_LIMIT + 8)

struct proto_reader {
	const uint8_t	*data;
	size_t		 len;
	size_t		 pos;
	size_t		 need;		/* with NEED_MORE: total bytes needed, at least */
	size_t		 max_size;	/* no length or count may pass this */
	unsigned	 max_depth;	/* struct/container nesting limit */
	unsigned	 depth;
	enum proto_status status;
	const char	*error;		/* static text with BAD / TOO_BIG */
	/* compact protocol state */
	int16_t		 last_field_id[PROTO_READER_DEPTH + 1];
	int8_t		 pending_bool;	/* -1 none, else value of a compact bool field */
};

struct proto_string {
	const uint8_t	*ptr;
	size_t		 len;
};

/* A writer appends one message to out; failures are sticky. */
#define PROTO_WRITER_DEPTH	16
struct proto_writer {
	struct buf	*out;
	unsigned	 depth;
	bool		 failed;	/* the buffer limit was reached */
	/* compact protocol state */
	int16_t		 last_field_id[PROTO_WRITER_DEPTH];
	int16_t		 bool_field_id;	/* a compact bool field waiting for its value */
	bool		 bool_field_pending;
};

/* Which codec: what proto_codec.h's inline operations are specialized on. */
enum proto_codec {
	PROTO_CODEC_BINARY,
	PROTO_CODEC_COMPACT,
};

/*
 * The operations of one protocol.  Readers return 0 on success, -1 with
 * r->status set otherwise; read_field_begin gives type PROTO_T_STOP at a
 * struct's end.  Writers return 0, or -1 once w->failed.
 */
struct proto_ops {
	const char		*name;
	enum proto_codec	 codec;

	int (*read_message_begin)(struct proto_reader *, struct proto_string *name,
	    uint8_t *type, int32_t *seqid);
	int (*read_struct_begin)(struct proto_reader *);
	int (*read_struct_end)(struct proto_reader *);
	int (*read_field_begin)(struct proto_reader *, uint8_t *type, int16_t *id);
	int (*read_list_begin)(struct proto_reader *, uint8_t *elem_type, uint32_t *count);
	int (*read_set_begin)(struct proto_reader *, uint8_t *elem_type, uint32_t *count);
	int (*read_map_begin)(struct proto_reader *, uint8_t *key_type,
	    uint8_t *value_type, uint32_t *count);
	int (*read_container_end)(struct proto_reader *);
	int (*read_bool)(struct proto_reader *, bool *);
	int (*read_byte)(struct proto_reader *, int8_t *);
	int (*read_i16)(struct proto_reader *, int16_t *);
	int (*read_i32)(struct proto_reader *, int32_t *);
	int (*read_i64)(struct proto_reader *, int64_t *);
	int (*read_double)(struct proto_reader *, double *);
	int (*read_string)(struct proto_reader *, struct proto_string *);
	/* Skip one value of the given type, nesting at most max_depth deep. */
	int (*skip)(struct proto_reader *, uint8_t type);

	int (*write_message_begin)(struct proto_writer *, const struct proto_string *name,
	    uint8_t type, int32_t seqid);
	int (*write_struct_begin)(struct proto_writer *);
	int (*write_struct_end)(struct proto_writer *);
	int (*write_field_begin)(struct proto_writer *, uint8_t type, int16_t id);
	int (*write_field_stop)(struct proto_writer *);
	int (*write_list_begin)(struct proto_writer *, uint8_t elem_type, uint32_t count);
	int (*write_set_begin)(struct proto_writer *, uint8_t elem_type, uint32_t count);
	int (*write_map_begin)(struct proto_writer *, uint8_t key_type,
	    uint8_t value_type, uint32_t count);
	int (*write_bool)(struct proto_writer *, bool);
	int (*write_byte)(struct proto_writer *, int8_t);
	int (*write_i16)(struct proto_writer *, int16_t);
	int (*write_i32)(struct proto_writer *, int32_t);
	int (*write_i64)(struct proto_writer *, int64_t);
	int (*write_double)(struct proto_writer *, double);
	int (*write_string)(struct proto_writer *, const void *, size_t);
};

extern const struct proto_ops proto_binary;
extern const struct proto_ops proto_compact;

/* Start reading data[0..len) with the given limits (max_depth at most 64). */
static inline void
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

/*
 * Skip one value of the given type, letting structs and containers nest
 * at most `levels` deep inside it however deep the reader already is: a
 * limit on what is skipped, not on the structs read on the way to it.
 */
int	proto_skip_nested(const struct proto_ops *, struct proto_reader *, uint8_t type,
	    unsigned levels);

static inline void
proto_writer_init(struct proto_writer *w, struct buf *out)
{
	w->out = out;
	w->depth = 0;
	w->failed = false;
	w->last_field_id[0] = 0;
	w->bool_field_id = 0;
	w->bool_field_pending = false;
}

/*
 * Helpers for codecs: record a failure and return -1.  Inline, as every
 * reader function is: a caller whose reader never leaves it can keep the
 * reader's fields in registers.
 */
static inline int
proto_need(struct proto_reader *r, size_t more)
{
	if (r->status == PROTO_OK) {
		r->status = PROTO_NEED_MORE;
		/* Saturate: a need past SIZE_MAX is simply "more than we'll take". */
		r->need = more > SIZE_MAX - r->pos ? SIZE_MAX : r->pos + more;
	}
	return -1;
}

static inline int
proto_fail(struct proto_reader *r, enum proto_status status, const char *why)
{
	if (r->status == PROTO_OK || r->status == PROTO_NEED_MORE) {
		r->status = status;
		r->error = why;
	}
	return -1;
}

/*
 * Point *p at the next n input bytes and step past them: 0, or -1
 * (NEED_MORE, or an earlier failure).  What the codecs read with: the
 * outcome is the return value, so no test of a pointer against NULL.
 */
static inline int
proto_read_bytes(struct proto_reader *r, size_t n, const uint8_t **p)
{
	if (r->status != PROTO_OK)
		return -1;
	if (r->len - r->pos < n)
		return proto_need(r, n);
	*p = r->data + r->pos;
	r->pos += n;
	return 0;
}

/* The next n input bytes, or NULL (NEED_MORE, or an earlier failure). */
static inline const uint8_t *
proto_take(struct proto_reader *r, size_t n)
{
	const uint8_t *p = NULL;

	return proto_read_bytes(r, n, &p) == 0 ? p : NULL;
}

int	proto_put_slow(struct proto_writer *, const void *, size_t);

/* Append n bytes; inline so the codecs' fixed-size writes become plain stores. */
static inline int
proto_put(struct proto_writer *w, const void *p, size_t n)
{
	struct buf *b = w->out;

	if (!w->failed && b->cap - b->len >= n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		return 0;
	}
	return proto_put_slow(w, p, n);
}

const char *proto_type_name(uint8_t type);

/*
 * Append a whole TApplicationException message of the given type and
 * text, replying to the call named name with seqid; 0, or -1 once w has
 * failed.  The one writer of these, for dispatch and for THeader refusals.
 */
int	proto_write_app_exception(const struct proto_ops *, struct proto_writer *,
	    const struct proto_string *name, int32_t seqid, enum proto_app_error type,
	    const char *text, size_t len);

/*
 * A peer's bytes (a method or service name) as text to quote in a message
 * or a log line: valid UTF-8 whatever they hold, each byte that is not
 * part of a UTF-8 character (and NUL) turned into U+FFFD, cut at a
 * character boundary to fit out[0..size) with its NUL, "..." marking a
 * cut.  Returns out.
 */
const char *proto_text(const uint8_t *data, size_t len, char *out, size_t size);

#endif
