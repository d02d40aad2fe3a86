/*
 * compact: TCompactProtocol — zigzag varints, field id deltas, booleans
 * folded into field headers, little-endian doubles.  The per-message
 * operations are inline in compact.h; this file adds bools, containers,
 * skipping and the other value types, and the ops table.
 */
#include <string.h>

#include "compact.h"

static int64_t
compact_unzigzag64(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (0u - (u & 1)));
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

static uint64_t
compact_zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(0 - ((uint64_t)v >> 63));
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
	.codec = PROTO_CODEC_COMPACT,
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
