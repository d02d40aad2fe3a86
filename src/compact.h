/*
 * compact: TCompactProtocol's per-message operations — the message
 * header, structs, field headers (id deltas), i32s and strings, both
 * ways — as inline functions, so a caller that knows its protocol
 * (dispatch, through proto_codec.h) decodes and encodes with no call per
 * field.  compact.c builds proto_compact from these and adds the rest
 * (bools, containers, skipping, the other value types).
 */
#ifndef CALCD_COMPACT_H
#define CALCD_COMPACT_H

#include <string.h>

#include "proto.h"

#define COMPACT_PROTOCOL_ID	0x82
#define COMPACT_VERSION		1
#define COMPACT_VERSION_MASK	0x1f
#define COMPACT_TYPE_SHIFT	5

enum compact_type {
	COMPACT_STOP		= 0,
	COMPACT_BOOLEAN_TRUE	= 1,
	COMPACT_BOOLEAN_FALSE	= 2,
	COMPACT_BYTE		= 3,
	COMPACT_I16		= 4,
	COMPACT_I32		= 5,
	COMPACT_I64		= 6,
	COMPACT_DOUBLE		= 7,
	COMPACT_BINARY		= 8,
	COMPACT_LIST		= 9,
	COMPACT_SET		= 10,
	COMPACT_MAP		= 11,
	COMPACT_STRUCT		= 12,
	COMPACT_UUID		= 13,
};

/* Compact type id -> Thrift type id; 0xff marks an invalid one. */
static const uint8_t compact_to_type[16] = {
	[COMPACT_STOP] = PROTO_T_STOP,
	[COMPACT_BOOLEAN_TRUE] = PROTO_T_BOOL,
	[COMPACT_BOOLEAN_FALSE] = PROTO_T_BOOL,
	[COMPACT_BYTE] = PROTO_T_BYTE,
	[COMPACT_I16] = PROTO_T_I16,
	[COMPACT_I32] = PROTO_T_I32,
	[COMPACT_I64] = PROTO_T_I64,
	[COMPACT_DOUBLE] = PROTO_T_DOUBLE,
	[COMPACT_BINARY] = PROTO_T_STRING,
	[COMPACT_LIST] = PROTO_T_LIST,
	[COMPACT_SET] = PROTO_T_SET,
	[COMPACT_MAP] = PROTO_T_MAP,
	[COMPACT_STRUCT] = PROTO_T_STRUCT,
	[COMPACT_UUID] = PROTO_T_UUID,
	[14] = 0xff,
	[15] = 0xff,
};

/* Size of an element in a container, at least; exact for fixed-width ones. */
static inline size_t
compact_min_size(uint8_t type)
{
	switch (type) {
	case PROTO_T_DOUBLE:	return 8;
	case PROTO_T_UUID:	return 16;
	default:		return 1;
	}
}

/* --- reading -------------------------------------------------------------- */

/* The varint of n bytes in the low bytes of word x (little-endian), its 7-bit groups joined. */
static inline uint64_t
compact_varint_join(uint64_t x, unsigned n)
{
	x &= n >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * n)) - 1;
	x = (x & UINT64_C(0x007f007f007f007f)) | (x & UINT64_C(0x7f007f007f007f00)) >> 1;
	x = (x & UINT64_C(0x00003fff00003fff)) | (x & UINT64_C(0x3fff00003fff0000)) >> 2;
	return (x & UINT64_C(0x000000000fffffff)) | (x & UINT64_C(0x0fffffff00000000)) >> 4;
}

/* Byte by byte: what compact_read_varint falls back on. */
static inline int
compact_read_varint_bytes(struct proto_reader *r, unsigned max_bytes, uint64_t *v)
{
	const uint8_t	*p = r->data + r->pos;
	size_t		 avail = r->len - r->pos;
	uint64_t	 result = 0;

	for (unsigned i = 0; i < max_bytes; i++) {
		if (i >= avail)
			return proto_need(r, i + 1);
		result |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			r->pos += i + 1;
			*v = result;
			return 0;
		}
	}
	return proto_fail(r, PROTO_BAD, "varint too long");
}

/*
 * An unsigned LEB128 varint of at most max_bytes bytes (at most 10).
 * Eight bytes are looked at at once: the next eight, or, nearer the end
 * of the input, the last eight shifted down to the ones ahead; the first
 * byte without a continuation bit ends the varint.
 */
PROTO_INLINE int
compact_read_varint(struct proto_reader *r, unsigned max_bytes, uint64_t *v)
{
	const uint8_t	*p = r->data + r->pos;
	size_t		 avail = r->len - r->pos;
	uint64_t	 x, ends;
	unsigned	 n;

	*v = 0;
	if (r->status != PROTO_OK)
		return -1;
	if (avail >= 1 && p[0] < 0x80) {
		r->pos++;
		*v = p[0];
		return 0;
	}
	if (avail >= 8) {
		memcpy(&x, p, sizeof x);
		x = proto_le64(x);
		ends = ~x & UINT64_C(0x8080808080808080);
	} else if (avail >= 1 && r->len >= 8) {
		memcpy(&x, r->data + r->len - 8, sizeof x);
		x = proto_le64(x) >> (8 * (8 - avail));
		ends = ~x & UINT64_C(0x8080808080808080) & ((UINT64_C(1) << (8 * avail)) - 1);
	} else {
		return compact_read_varint_bytes(r, max_bytes, v);
	}
	if (ends == 0) {
		/* No end in the bytes looked at: longer than eight, too long, or cut short. */
		if (avail >= 8 && max_bytes > 8)
			return compact_read_varint_bytes(r, max_bytes, v);
		if (avail >= max_bytes)
			return proto_fail(r, PROTO_BAD, "varint too long");
		return proto_need(r, avail + 1);
	}
	n = (unsigned)__builtin_ctzll(ends) / 8 + 1;
	if (n > max_bytes)
		return proto_fail(r, PROTO_BAD, "varint too long");
	r->pos += n;
	*v = compact_varint_join(x, n);
	return 0;
}

PROTO_INLINE int
compact_read_varint32(struct proto_reader *r, uint32_t *v)
{
	uint64_t u = 0;

	if (compact_read_varint(r, 5, &u) != 0)
		return -1;
	if (u > UINT32_MAX)
		return proto_fail(r, PROTO_BAD, "varint overflows 32 bits");
	*v = (uint32_t)u;
	return 0;
}

static inline int32_t
compact_unzigzag32(uint32_t u)
{
	return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

PROTO_INLINE int
compact_read_i32(struct proto_reader *r, int32_t *v)
{
	uint32_t u = 0;

	if (compact_read_varint32(r, &u) != 0)
		return -1;
	*v = compact_unzigzag32(u);
	return 0;
}

PROTO_INLINE int
compact_read_i16(struct proto_reader *r, int16_t *v)
{
	int32_t i = 0;

	if (compact_read_i32(r, &i) != 0)
		return -1;
	if (i < INT16_MIN || i > INT16_MAX)
		return proto_fail(r, PROTO_BAD, "i16 out of range");
	*v = (int16_t)i;
	return 0;
}

/* A varint length or count, checked against the limit before any use. */
PROTO_INLINE int
compact_read_size(struct proto_reader *r, size_t elem_size, uint32_t *size)
{
	uint32_t v = 0;

	if (compact_read_varint32(r, &v) != 0)
		return -1;
	if (v > INT32_MAX)
		return proto_fail(r, PROTO_BAD, "negative length");
	if (v > r->max_size / elem_size)
		return proto_fail(r, PROTO_TOO_BIG, "length exceeds max_message_size");
	*size = v;
	return 0;
}

PROTO_INLINE int
compact_read_string(struct proto_reader *r, struct proto_string *s)
{
	uint32_t	 len = 0;
	const uint8_t	*p;

	if (compact_read_size(r, 1, &len) != 0 || proto_read_bytes(r, len, &p) != 0)
		return -1;
	s->ptr = p;
	s->len = len;
	return 0;
}

PROTO_INLINE int
compact_read_message_begin(struct proto_reader *r, struct proto_string *name,
    uint8_t *type, int32_t *seqid)
{
	const uint8_t	*p;
	uint32_t	 u = 0;

	if (proto_read_bytes(r, 2, &p) != 0)
		return -1;
	if (p[0] != COMPACT_PROTOCOL_ID)
		return proto_fail(r, PROTO_BAD, "not a compact protocol message");
	if ((p[1] & COMPACT_VERSION_MASK) != COMPACT_VERSION)
		return proto_fail(r, PROTO_BAD, "bad compact protocol version");
	*type = p[1] >> COMPACT_TYPE_SHIFT;
	if (compact_read_varint32(r, &u) != 0)
		return -1;
	*seqid = (int32_t)u;
	return compact_read_string(r, name);
}

static inline int
compact_read_struct_begin(struct proto_reader *r)
{
	if (r->status != PROTO_OK)
		return -1;
	if (r->depth >= r->max_depth)
		return proto_fail(r, PROTO_BAD, "nesting too deep");
	r->depth++;
	r->last_field_id[r->depth] = 0;
	return 0;
}

static inline int
compact_read_struct_end(struct proto_reader *r)
{
	if (r->status != PROTO_OK)
		return -1;
	r->depth--;
	return 0;
}

/* Type PROTO_T_STOP (and id 0) at the struct's end. */
PROTO_INLINE int
compact_read_field_begin(struct proto_reader *r, uint8_t *type, int16_t *id)
{
	const uint8_t	*p;
	uint8_t		 ctype, delta;
	int32_t		 fid;
	int16_t		 v = 0;

	*id = 0;
	if (proto_read_bytes(r, 1, &p) != 0)
		return -1;
	if (p[0] == COMPACT_STOP) {
		*type = PROTO_T_STOP;
		return 0;
	}
	ctype = p[0] & 0x0f;
	delta = p[0] >> 4;
	if (compact_to_type[ctype] == 0xff || ctype == COMPACT_STOP)
		return proto_fail(r, PROTO_BAD, "unknown field type");
	if (delta != 0) {
		fid = (int32_t)r->last_field_id[r->depth] + delta;
		if (fid > INT16_MAX)
			return proto_fail(r, PROTO_BAD, "field id out of range");
	} else {
		if (compact_read_i16(r, &v) != 0)
			return -1;
		fid = v;
	}
	r->last_field_id[r->depth] = (int16_t)fid;
	if (ctype == COMPACT_BOOLEAN_TRUE || ctype == COMPACT_BOOLEAN_FALSE)
		r->pending_bool = (int8_t)(ctype == COMPACT_BOOLEAN_TRUE);
	*id = (int16_t)fid;
	*type = compact_to_type[ctype];
	return 0;
}

/*
 * If the next field is i32 field id, written with the short form of its
 * header (id - 1 to id - 15 the field before): read it into *v and
 * return 1.  Else 0, with nothing read: the caller reads the field as
 * any other.  -1 if the value is malformed or cut short.  The reader
 * must not have failed.
 */
PROTO_INLINE int
compact_read_field_i32(struct proto_reader *r, int16_t id, int32_t *v)
{
	int32_t	delta = (int32_t)id - r->last_field_id[r->depth];

	if (delta < 1 || delta > 15 || r->pos >= r->len ||
	    r->data[r->pos] != (uint8_t)(delta << 4 | COMPACT_I32))
		return 0;
	r->pos++;
	r->last_field_id[r->depth] = id;
	return compact_read_i32(r, v) == 0 ? 1 : -1;
}

/* --- writing -------------------------------------------------------------- */

static inline uint8_t
compact_from_type(uint8_t type)
{
	switch (type) {
	case PROTO_T_BOOL:	return COMPACT_BOOLEAN_TRUE;
	case PROTO_T_BYTE:	return COMPACT_BYTE;
	case PROTO_T_I16:	return COMPACT_I16;
	case PROTO_T_I32:	return COMPACT_I32;
	case PROTO_T_I64:	return COMPACT_I64;
	case PROTO_T_DOUBLE:	return COMPACT_DOUBLE;
	case PROTO_T_STRING:	return COMPACT_BINARY;
	case PROTO_T_LIST:	return COMPACT_LIST;
	case PROTO_T_SET:	return COMPACT_SET;
	case PROTO_T_MAP:	return COMPACT_MAP;
	case PROTO_T_STRUCT:	return COMPACT_STRUCT;
	case PROTO_T_UUID:	return COMPACT_UUID;
	default:		return COMPACT_STOP;
	}
}

/* Put v as a varint at p (room for 10 bytes); its length. */
PROTO_INLINE size_t
compact_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

PROTO_INLINE int
compact_write_varint(struct proto_writer *w, uint64_t v)
{
	struct buf	*b = w->out;
	uint8_t		 tmp[10];

	if (!w->failed && b->cap - b->len >= sizeof tmp) {
		b->len += compact_put_varint(b->data + b->len, v);
		return 0;
	}
	return proto_put(w, tmp, compact_put_varint(tmp, v));
}

static inline uint32_t
compact_zigzag32(int32_t v)
{
	return ((uint32_t)v << 1) ^ (uint32_t)(0 - ((uint32_t)v >> 31));
}

static inline int
compact_write_byte(struct proto_writer *w, int8_t v)
{
	uint8_t b = (uint8_t)v;

	return proto_put(w, &b, 1);
}

static inline int
compact_write_i16(struct proto_writer *w, int16_t v)
{
	return compact_write_varint(w, compact_zigzag32(v));
}

PROTO_INLINE int
compact_write_i32(struct proto_writer *w, int32_t v)
{
	return compact_write_varint(w, compact_zigzag32(v));
}

static inline int
compact_write_string(struct proto_writer *w, const void *p, size_t len)
{
	if (len > INT32_MAX) {
		w->failed = true;
		return -1;
	}
	compact_write_varint(w, len);
	return proto_put(w, p, len);
}

static inline int
compact_write_message_begin(struct proto_writer *w, const struct proto_string *name,
    uint8_t type, int32_t seqid)
{
	uint8_t b[2] = { COMPACT_PROTOCOL_ID,
	    (uint8_t)(type << COMPACT_TYPE_SHIFT | COMPACT_VERSION) };

	proto_put(w, b, sizeof b);
	compact_write_varint(w, (uint32_t)seqid);
	return compact_write_string(w, name->ptr, name->len);
}

static inline int
compact_write_struct_begin(struct proto_writer *w)
{
	if (w->depth + 1 >= PROTO_WRITER_DEPTH) {
		w->failed = true;
		return -1;
	}
	w->depth++;
	w->last_field_id[w->depth] = 0;
	return w->failed ? -1 : 0;
}

static inline int
compact_write_struct_end(struct proto_writer *w)
{
	if (w->depth > 0)
		w->depth--;
	return w->failed ? -1 : 0;
}

PROTO_INLINE int
compact_write_field_header(struct proto_writer *w, uint8_t ctype, int16_t id)
{
	int32_t	 delta = (int32_t)id - w->last_field_id[w->depth];
	uint8_t	 b;

	w->last_field_id[w->depth] = id;
	if (delta > 0 && delta <= 15) {
		b = (uint8_t)(delta << 4 | ctype);
		return proto_put(w, &b, 1);
	}
	b = ctype;
	proto_put(w, &b, 1);
	return compact_write_i16(w, id);
}

PROTO_INLINE int
compact_write_field_begin(struct proto_writer *w, uint8_t type, int16_t id)
{
	if (type == PROTO_T_BOOL) {
		/* The value goes into the header: wait for write_bool. */
		w->bool_field_pending = true;
		w->bool_field_id = id;
		return w->failed ? -1 : 0;
	}
	return compact_write_field_header(w, compact_from_type(type), id);
}

static inline int
compact_write_field_stop(struct proto_writer *w)
{
	return compact_write_byte(w, COMPACT_STOP);
}

#endif
