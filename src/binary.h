/*
 * binary: TBinaryProtocol's per-message operations — the message header,
 * structs, field headers, i32s and strings, both ways — as inline
 * functions, so a caller that knows its protocol (dispatch, through
 * proto_codec.h) decodes and encodes with no call per field.  binary.c
 * builds proto_binary from these and adds the rest (containers, skipping,
 * the other value types).  Reads strict (versioned) and old non-strict
 * message headers; always writes strict ones, as Apache Thrift servers do.
 */
#ifndef CALCD_BINARY_H
#define CALCD_BINARY_H

#include "bytes.h"
#include "proto.h"

#define BINARY_VERSION_1	0x80010000u
#define BINARY_VERSION_MASK	0xffff0000u

/* Size in bytes of a fixed-width type, 0 for variable-width or invalid ones. */
static inline size_t
binary_fixed_size(uint8_t type)
{
	switch (type) {
	case PROTO_T_BOOL:
	case PROTO_T_BYTE:	return 1;
	case PROTO_T_I16:	return 2;
	case PROTO_T_I32:	return 4;
	case PROTO_T_I64:
	case PROTO_T_DOUBLE:	return 8;
	case PROTO_T_UUID:	return 16;
	default:		return 0;
	}
}

/* The fewest bytes a value of the type takes (0 for an invalid type). */
static inline size_t
binary_min_size(uint8_t type)
{
	switch (type) {
	case PROTO_T_STRING:	return 4;	/* length */
	case PROTO_T_STRUCT:	return 1;	/* stop */
	case PROTO_T_LIST:
	case PROTO_T_SET:	return 5;	/* element type, count */
	case PROTO_T_MAP:	return 6;	/* key and value types, count */
	default:		return binary_fixed_size(type);
	}
}

/* A type binary.c reads: fixed-width, string, struct or container. */
static inline bool
binary_valid_type(uint8_t type)
{
	return binary_fixed_size(type) != 0 || type == PROTO_T_STRING ||
	    type == PROTO_T_STRUCT || type == PROTO_T_MAP || type == PROTO_T_SET ||
	    type == PROTO_T_LIST;
}

/* --- reading -------------------------------------------------------------- */

static inline int
binary_read_u32(struct proto_reader *r, uint32_t *v)
{
	const uint8_t *p;

	if (proto_read_bytes(r, 4, &p) != 0)
		return -1;
	*v = bytes_be32(p);
	return 0;
}

PROTO_INLINE int
binary_read_i32(struct proto_reader *r, int32_t *v)
{
	const uint8_t *p;

	if (proto_read_bytes(r, 4, &p) != 0)
		return -1;
	*v = (int32_t)bytes_be32(p);
	return 0;
}

static inline int
binary_read_i16(struct proto_reader *r, int16_t *v)
{
	const uint8_t *p;

	if (proto_read_bytes(r, 2, &p) != 0)
		return -1;
	*v = (int16_t)bytes_be16(p);
	return 0;
}

static inline int
binary_read_byte(struct proto_reader *r, int8_t *v)
{
	const uint8_t *p;

	if (proto_read_bytes(r, 1, &p) != 0)
		return -1;
	*v = (int8_t)p[0];
	return 0;
}

/* A length or count read as i32: negative is malformed, past the limit too big. */
PROTO_INLINE int
binary_read_size(struct proto_reader *r, size_t elem_size, uint32_t *size)
{
	const uint8_t	*p;
	uint32_t	 v;

	if (proto_read_bytes(r, 4, &p) != 0)
		return -1;
	v = bytes_be32(p);
	if (v > INT32_MAX)
		return proto_fail(r, PROTO_BAD, "negative length");
	if (elem_size != 0 && v > r->max_size / elem_size)
		return proto_fail(r, PROTO_TOO_BIG, "length exceeds max_message_size");
	*size = v;
	return 0;
}

PROTO_INLINE int
binary_read_string(struct proto_reader *r, struct proto_string *s)
{
	const uint8_t	*p;
	uint32_t	 len = 0;

	if (binary_read_size(r, 1, &len) != 0 || proto_read_bytes(r, len, &p) != 0)
		return -1;
	s->ptr = p;
	s->len = len;
	return 0;
}

PROTO_INLINE int
binary_read_message_begin(struct proto_reader *r, struct proto_string *name,
    uint8_t *type, int32_t *seqid)
{
	size_t		avail = r->len - r->pos;
	uint32_t	first;
	int8_t		t;

	/*
	 * A strict header whose name and seqid are all here, within limits:
	 * with one test of the room for all of it.  Anything else is read
	 * piece by piece below.
	 */
	if (r->status == PROTO_OK && avail >= 12) {
		const uint8_t	*p = r->data + r->pos;
		uint32_t	 len = bytes_be32(p + 4);

		first = bytes_be32(p);
		if ((first & BINARY_VERSION_MASK) == BINARY_VERSION_1 && len <= avail - 12 &&
		    len <= INT32_MAX && len <= r->max_size) {
			*type = first & 0xff;
			name->ptr = p + 8;
			name->len = len;
			*seqid = (int32_t)bytes_be32(p + 8 + len);
			r->pos += 12 + (size_t)len;
			return 0;
		}
	}
	if (binary_read_u32(r, &first) != 0)
		return -1;
	if (first & 0x80000000u) {
		if ((first & BINARY_VERSION_MASK) != BINARY_VERSION_1)
			return proto_fail(r, PROTO_BAD, "bad binary protocol version");
		*type = first & 0xff;
		if (binary_read_string(r, name) != 0)
			return -1;
	} else {
		const uint8_t *p;

		/* Old non-strict header: the i32 was the name's length. */
		if (first > r->max_size)
			return proto_fail(r, PROTO_TOO_BIG, "length exceeds max_message_size");
		if (proto_read_bytes(r, first, &p) != 0 || binary_read_byte(r, &t) != 0)
			return -1;
		name->ptr = p;
		name->len = first;
		*type = (uint8_t)t;
	}
	return binary_read_i32(r, seqid);
}

static inline int
binary_read_struct_begin(struct proto_reader *r)
{
	if (r->status != PROTO_OK)
		return -1;
	if (r->depth >= r->max_depth)
		return proto_fail(r, PROTO_BAD, "nesting too deep");
	r->depth++;
	return 0;
}

static inline int
binary_read_struct_end(struct proto_reader *r)
{
	if (r->status != PROTO_OK)
		return -1;
	r->depth--;
	return 0;
}

/* Type PROTO_T_STOP (and id 0) at the struct's end. */
PROTO_INLINE int
binary_read_field_begin(struct proto_reader *r, uint8_t *type, int16_t *id)
{
	const uint8_t	*p;
	uint8_t		 t;

	if (r->status == PROTO_OK && r->len - r->pos >= 3) {
		/* Room for a whole field header: one test for its three bytes. */
		p = r->data + r->pos;
		t = p[0];
		*type = t;
		if (t == PROTO_T_STOP) {
			*id = 0;
			r->pos++;
			return 0;
		}
		*id = (int16_t)bytes_be16(p + 1);
		r->pos += 3;
		return 0;
	}
	if (proto_read_bytes(r, 1, &p) != 0)
		return -1;
	t = p[0];
	if (t == PROTO_T_STOP) {
		*id = 0;
		*type = t;
		return 0;
	}
	if (proto_read_bytes(r, 2, &p) != 0)
		return -1;
	*id = (int16_t)bytes_be16(p);
	*type = t;
	return 0;
}

/* Is the field header at p (3 bytes, there to read) that of i32 field id? */
PROTO_INLINE bool
binary_is_field_i32(const uint8_t *p, int16_t id)
{
	return p[0] == PROTO_T_I32 && bytes_be16(p + 1) == (uint16_t)id;
}

/*
 * If the next field is i32 field id, with its value all here: read it
 * into *v and return 1 (one test of the room for header and value).
 * Else 0, with nothing read: the caller reads the field as any other.
 * The reader must not have failed.
 */
PROTO_INLINE int
binary_read_field_i32(struct proto_reader *r, int16_t id, int32_t *v)
{
	const uint8_t *p = r->data + r->pos;

	if (r->len - r->pos < 7 || !binary_is_field_i32(p, id))
		return 0;
	*v = (int32_t)bytes_be32(p + 3);
	r->pos += 7;
	return 1;
}

/*
 * A struct of exactly i32 field id0, i32 field id1 and its stop, with
 * all 15 bytes here: the values in v[0] and v[1], past the stop, and
 * true (one test of the room for all of it).  Else false, with nothing
 * read: the caller reads the struct as any other.  The reader must not
 * have failed, and must be at the struct's start (its depth not yet
 * taken: a struct of i32s nests no deeper).
 */
PROTO_INLINE bool
binary_read_struct_i32x2(struct proto_reader *r, int16_t id0, int16_t id1, int32_t v[2])
{
	const uint8_t *p = r->data + r->pos;

	if (r->len - r->pos < 15 || r->depth >= r->max_depth || !binary_is_field_i32(p, id0) ||
	    !binary_is_field_i32(p + 7, id1) || p[14] != PROTO_T_STOP)
		return false;
	v[0] = (int32_t)bytes_be32(p + 3);
	v[1] = (int32_t)bytes_be32(p + 10);
	r->pos += 15;
	return true;
}

/* --- writing -------------------------------------------------------------- */

static inline int
binary_write_u32(struct proto_writer *w, uint32_t v)
{
	uint8_t b[4];

	bytes_put_be32(b, v);
	return proto_put(w, b, sizeof b);
}

static inline int
binary_write_i32(struct proto_writer *w, int32_t v)
{
	return binary_write_u32(w, (uint32_t)v);
}

static inline int
binary_write_byte(struct proto_writer *w, int8_t v)
{
	uint8_t b = (uint8_t)v;

	return proto_put(w, &b, 1);
}

static inline int
binary_write_i16(struct proto_writer *w, int16_t v)
{
	uint8_t b[2];

	bytes_put_be16(b, (uint16_t)v);
	return proto_put(w, b, sizeof b);
}

static inline int
binary_write_string(struct proto_writer *w, const void *p, size_t len)
{
	if (len > INT32_MAX) {
		w->failed = true;
		return -1;
	}
	binary_write_u32(w, (uint32_t)len);
	return proto_put(w, p, len);
}

static inline int
binary_write_message_begin(struct proto_writer *w, const struct proto_string *name,
    uint8_t type, int32_t seqid)
{
	binary_write_u32(w, BINARY_VERSION_1 | type);
	binary_write_string(w, name->ptr, name->len);
	return binary_write_i32(w, seqid);
}

static inline int
binary_write_struct_begin(struct proto_writer *w)
{
	return w->failed ? -1 : 0;
}

static inline int
binary_write_struct_end(struct proto_writer *w)
{
	return w->failed ? -1 : 0;
}

static inline int
binary_write_field_begin(struct proto_writer *w, uint8_t type, int16_t id)
{
	uint8_t b[3] = { type, (uint8_t)((uint16_t)id >> 8), (uint8_t)id };

	return proto_put(w, b, sizeof b);
}

static inline int
binary_write_field_stop(struct proto_writer *w)
{
	return binary_write_byte(w, PROTO_T_STOP);
}

#endif
