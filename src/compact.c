/*
 * compact: TCompactProtocol — zigzag varints, field id deltas, booleans
 * folded into field headers, little-endian doubles.
 */
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

static uint8_t
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

/* An unsigned LEB128 varint of at most max_bytes bytes. */
static int
compact_read_varint(struct proto_reader *r, unsigned max_bytes, uint64_t *v)
{
	uint64_t result = 0;
	size_t	 start = r->pos;

	*v = 0;
	if (r->status != PROTO_OK)
		return -1;
	for (unsigned i = 0; i < max_bytes; i++) {
		uint8_t b;

		if (r->pos >= r->len) {
			r->pos = start;
			return proto_need(r, i + 1);
		}
		b = r->data[r->pos++];
		result |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = result;
			return 0;
		}
	}
	return proto_fail(r, PROTO_BAD, "varint too long");
}

static int
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

static int32_t
compact_unzigzag32(uint32_t u)
{
	return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

static int64_t
compact_unzigzag64(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (0u - (u & 1)));
}

static int
compact_read_i32(struct proto_reader *r, int32_t *v)
{
	uint32_t u = 0;

	if (compact_read_varint32(r, &u) != 0)
		return -1;
	*v = compact_unzigzag32(u);
	return 0;
}

static int
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

static int
compact_read_i64(struct proto_reader *r, int64_t *v)
{
	uint64_t u = 0;

	if (compact_read_varint(r, 10, &u) != 0)
		return -1;
	*v = compact_unzigzag64(u);
	return 0;
}

static int
compact_read_byte(struct proto_reader *r, int8_t *v)
{
	const uint8_t *p = proto_take(r, 1);

	if (p == NULL)
		return -1;
	*v = (int8_t)p[0];
	return 0;
}

static int
compact_read_bool(struct proto_reader *r, bool *v)
{
	const uint8_t *p;

	if (r->status != PROTO_OK)
		return -1;
	if (r->pending_bool >= 0) {
		*v = r->pending_bool;
		r->pending_bool = -1;
		return 0;
	}
	if ((p = proto_take(r, 1)) == NULL)
		return -1;
	/* In containers: 1 is true; 2 (and 0, written by some libraries) false. */
	if (p[0] > COMPACT_BOOLEAN_FALSE)
		return proto_fail(r, PROTO_BAD, "invalid bool value");
	*v = p[0] == COMPACT_BOOLEAN_TRUE;
	return 0;
}

static int
compact_read_double(struct proto_reader *r, double *v)
{
	const uint8_t	*p = proto_take(r, 8);
	uint64_t	 u = 0;

	if (p == NULL)
		return -1;
	for (int i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	memcpy(v, &u, sizeof *v);
	return 0;
}

/* A varint length or count, checked against the limit before any use. */
static int
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

static int
compact_read_string(struct proto_reader *r, struct proto_string *s)
{
	uint32_t len;

	if (compact_read_size(r, 1, &len) != 0)
		return -1;
	if ((s->ptr = proto_take(r, len)) == NULL)
		return -1;
	s->len = len;
	return 0;
}

static int
compact_read_message_begin(struct proto_reader *r, struct proto_string *name,
    uint8_t *type, int32_t *seqid)
{
	const uint8_t	*p = proto_take(r, 2);
	uint32_t	 u = 0;

	if (p == NULL)
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

static int
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

static int
compact_read_struct_end(struct proto_reader *r)
{
	if (r->status != PROTO_OK)
		return -1;
	r->depth--;
	return 0;
}

static int
compact_read_field_begin(struct proto_reader *r, uint8_t *type, int16_t *id)
{
	const uint8_t	*p = proto_take(r, 1);
	uint8_t		 ctype, delta;
	int32_t		 fid;
	int16_t		 v = 0;

	if (p == NULL)
		return -1;
	*id = 0;
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
	*id = (int16_t)fid;
	r->last_field_id[r->depth] = *id;
	*type = compact_to_type[ctype];
	if (ctype == COMPACT_BOOLEAN_TRUE || ctype == COMPACT_BOOLEAN_FALSE)
		r->pending_bool = (int8_t)(ctype == COMPACT_BOOLEAN_TRUE);
	return 0;
}

/* Size of an element in a container, at least; exact for fixed-width ones. */
static size_t
compact_min_size(uint8_t type)
{
	switch (type) {
	case PROTO_T_DOUBLE:	return 8;
	case PROTO_T_UUID:	return 16;
	default:		return 1;
	}
}

static int
compact_container_enter(struct proto_reader *r)
{
	if (r->depth >= r->max_depth)
		return proto_fail(r, PROTO_BAD, "nesting too deep");
	r->depth++;
	return 0;
}

static int
compact_read_list_begin(struct proto_reader *r, uint8_t *elem_type, uint32_t *count)
{
	const uint8_t	*p = proto_take(r, 1);
	uint8_t		 ctype;

	if (p == NULL)
		return -1;
	ctype = p[0] & 0x0f;
	if (compact_to_type[ctype] == 0xff || ctype == COMPACT_STOP)
		return proto_fail(r, PROTO_BAD, "invalid container element type");
	*elem_type = compact_to_type[ctype];
	*count = p[0] >> 4;
	if (*count == 15) {
		if (compact_read_size(r, compact_min_size(*elem_type), count) != 0)
			return -1;
	}
	return compact_container_enter(r);
}

static int
compact_read_map_begin(struct proto_reader *r, uint8_t *key_type, uint8_t *value_type,
    uint32_t *count)
{
	const uint8_t *p;

	/* Checked against one byte per entry first, then the types' real sizes. */
	if (compact_read_size(r, 2, count) != 0)
		return -1;
	*key_type = *value_type = PROTO_T_STOP;
	if (*count != 0) {
		if ((p = proto_take(r, 1)) == NULL)
			return -1;
		if (compact_to_type[p[0] >> 4] == 0xff || (p[0] >> 4) == COMPACT_STOP ||
		    compact_to_type[p[0] & 0x0f] == 0xff || (p[0] & 0x0f) == COMPACT_STOP)
			return proto_fail(r, PROTO_BAD, "invalid container element type");
		*key_type = compact_to_type[p[0] >> 4];
		*value_type = compact_to_type[p[0] & 0x0f];
		if (*count > r->max_size / (compact_min_size(*key_type) +
		    compact_min_size(*value_type)))
			return proto_fail(r, PROTO_TOO_BIG, "length exceeds max_message_size");
	}
	return compact_container_enter(r);
}

static int
compact_read_container_end(struct proto_reader *r)
{
	if (r->status != PROTO_OK)
		return -1;
	r->depth--;
	return 0;
}

static int
compact_skip(struct proto_reader *r, uint8_t type)
{
	struct proto_string	 s;
	uint8_t			 ftype, ktype, vtype;
	int16_t			 id;
	uint32_t		 count;
	uint64_t		 u = 0;
	bool			 b;

	if (r->status != PROTO_OK)
		return -1;
	switch (type) {
	case PROTO_T_BOOL:
		return compact_read_bool(r, &b);
	case PROTO_T_BYTE:
		return proto_take(r, 1) ? 0 : -1;
	case PROTO_T_I16:
	case PROTO_T_I32:
		return compact_read_varint(r, 5, &u);
	case PROTO_T_I64:
		return compact_read_varint(r, 10, &u);
	case PROTO_T_DOUBLE:
		return proto_take(r, 8) ? 0 : -1;
	case PROTO_T_UUID:
		return proto_take(r, 16) ? 0 : -1;
	case PROTO_T_STRING:
		return compact_read_string(r, &s);
	case PROTO_T_STRUCT:
		if (compact_read_struct_begin(r) != 0)
			return -1;
		for (;;) {
			if (compact_read_field_begin(r, &ftype, &id) != 0)
				return -1;
			if (ftype == PROTO_T_STOP)
				break;
			if (compact_skip(r, ftype) != 0)
				return -1;
		}
		return compact_read_struct_end(r);
	case PROTO_T_LIST:
	case PROTO_T_SET:
		if (compact_read_list_begin(r, &vtype, &count) != 0)
			return -1;
		for (uint32_t i = 0; i < count; i++)
			if (compact_skip(r, vtype) != 0)
				return -1;
		return compact_read_container_end(r);
	case PROTO_T_MAP:
		if (compact_read_map_begin(r, &ktype, &vtype, &count) != 0)
			return -1;
		for (uint32_t i = 0; i < count; i++)
			if (compact_skip(r, ktype) != 0 || compact_skip(r, vtype) != 0)
				return -1;
		return compact_read_container_end(r);
	default:
		return proto_fail(r, PROTO_BAD, "unknown field type");
	}
}

/* --- writing ------------------------------------------------------------ */

static int
compact_write_varint(struct proto_writer *w, uint64_t v)
{
	uint8_t	 b[10];
	size_t	 n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	return proto_put(w, b, n);
}

static uint32_t
compact_zigzag32(int32_t v)
{
	return ((uint32_t)v << 1) ^ (uint32_t)(0 - ((uint32_t)v >> 31));
}

static uint64_t
compact_zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(0 - ((uint64_t)v >> 63));
}

static int
compact_write_byte(struct proto_writer *w, int8_t v)
{
	uint8_t b = (uint8_t)v;

	return proto_put(w, &b, 1);
}

static int
compact_write_i16(struct proto_writer *w, int16_t v)
{
	return compact_write_varint(w, compact_zigzag32(v));
}

static int
compact_write_i32(struct proto_writer *w, int32_t v)
{
	return compact_write_varint(w, compact_zigzag32(v));
}

static int
compact_write_i64(struct proto_writer *w, int64_t v)
{
	return compact_write_varint(w, compact_zigzag64(v));
}

static int
compact_write_double(struct proto_writer *w, double v)
{
	uint64_t u = 0;
	uint8_t	 b[8];

	memcpy(&u, &v, sizeof u);
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(u >> (8 * i));
	return proto_put(w, b, sizeof b);
}

static int
compact_write_string(struct proto_writer *w, const void *p, size_t len)
{
	if (len > INT32_MAX) {
		w->failed = true;
		return -1;
	}
	compact_write_varint(w, len);
	return proto_put(w, p, len);
}

static int
compact_write_message_begin(struct proto_writer *w, const struct proto_string *name,
    uint8_t type, int32_t seqid)
{
	uint8_t b[2] = { COMPACT_PROTOCOL_ID,
	    (uint8_t)(type << COMPACT_TYPE_SHIFT | COMPACT_VERSION) };

	proto_put(w, b, sizeof b);
	compact_write_varint(w, (uint32_t)seqid);
	return compact_write_string(w, name->ptr, name->len);
}

static int
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

static int
compact_write_struct_end(struct proto_writer *w)
{
	if (w->depth > 0)
		w->depth--;
	return w->failed ? -1 : 0;
}

static int
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

static int
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

static int
compact_write_field_stop(struct proto_writer *w)
{
	return compact_write_byte(w, COMPACT_STOP);
}

static int
compact_write_bool(struct proto_writer *w, bool v)
{
	uint8_t ctype = v ? COMPACT_BOOLEAN_TRUE : COMPACT_BOOLEAN_FALSE;

	if (w->bool_field_pending) {
		w->bool_field_pending = false;
		return compact_write_field_header(w, ctype, w->bool_field_id);
	}
	return compact_write_byte(w, (int8_t)ctype);
}

static int
compact_write_list_begin(struct proto_writer *w, uint8_t elem_type, uint32_t count)
{
	uint8_t ctype = compact_from_type(elem_type);
	uint8_t b;

	if (count < 15) {
		b = (uint8_t)(count << 4 | ctype);
		return proto_put(w, &b, 1);
	}
	b = 0xf0 | ctype;
	proto_put(w, &b, 1);
	return compact_write_varint(w, count);
}

static int
compact_write_map_begin(struct proto_writer *w, uint8_t key_type, uint8_t value_type,
    uint32_t count)
{
	uint8_t b;

	if (count == 0)
		return compact_write_byte(w, 0);
	compact_write_varint(w, count);
	b = (uint8_t)(compact_from_type(key_type) << 4 | compact_from_type(value_type));
	return proto_put(w, &b, 1);
}

const struct proto_ops proto_compact = {
	.name = "compact",
	.read_message_begin = compact_read_message_begin,
	.read_struct_begin = compact_read_struct_begin,
	.read_struct_end = compact_read_struct_end,
	.read_field_begin = compact_read_field_begin,
	.read_list_begin = compact_read_list_begin,
	.read_set_begin = compact_read_list_begin,
	.read_map_begin = compact_read_map_begin,
	.read_container_end = compact_read_container_end,
	.read_bool = compact_read_bool,
	.read_byte = compact_read_byte,
	.read_i16 = compact_read_i16,
	.read_i32 = compact_read_i32,
	.read_i64 = compact_read_i64,
	.read_double = compact_read_double,
	.read_string = compact_read_string,
	.skip = compact_skip,
	.write_message_begin = compact_write_message_begin,
	.write_struct_begin = compact_write_struct_begin,
	.write_struct_end = compact_write_struct_end,
	.write_field_begin = compact_write_field_begin,
	.write_field_stop = compact_write_field_stop,
	.write_list_begin = compact_write_list_begin,
	.write_set_begin = compact_write_list_begin,
	.write_map_begin = compact_write_map_begin,
	.write_bool = compact_write_bool,
	.write_byte = compact_write_byte,
	.write_i16 = compact_write_i16,
	.write_i32 = compact_write_i32,
	.write_i64 = compact_write_i64,
	.write_double = compact_write_double,
	.write_string = compact_write_string,
};
