/*
 * binary: TBinaryProtocol — big-endian fixed-width integers, i32 length
 * prefixes.  The per-message operations are inline in binary.h; this file
 * adds containers, skipping and the other value types, and the ops table.
 */
#include <string.h>

#include "binary.h"

static int
binary_read_bool(struct proto_reader *r, bool *v)
{
	const uint8_t *p = proto_take(r, 1);

	if (p == NULL)
		return -1;
	*v = p[0] != 0;
	return 0;
}

static int
binary_read_u64(struct proto_reader *r, uint64_t *v)
{
	const uint8_t *p = proto_take(r, 8);

	if (p == NULL)
		return -1;
	*v = bytes_be64(p);
	return 0;
}

static int
binary_read_i64(struct proto_reader *r, int64_t *v)
{
	uint64_t u;

	if (binary_read_u64(r, &u) != 0)
		return -1;
	*v = (int64_t)u;
	return 0;
}

static int
binary_read_double(struct proto_reader *r, double *v)
{
	uint64_t u;

	if (binary_read_u64(r, &u) != 0)
		return -1;
	memcpy(v, &u, sizeof *v);
	return 0;
}

/* Container header shared by list, set and map: depth, types, count. */
static int
binary_read_container(struct proto_reader *r, uint8_t ktype, uint8_t vtype, uint32_t *count)
{
	size_t min_size;

	if (!binary_valid_type(vtype) || (ktype != PROTO_T_STOP && !binary_valid_type(ktype)))
		return proto_fail(r, PROTO_BAD, "invalid container element type");
	if (r->depth >= r->max_depth)
		return proto_fail(r, PROTO_BAD, "nesting too deep");
	/* No element is smaller than its type's minimum: a count that can't fit is refused. */
	min_size = binary_min_size(vtype);
	if (ktype != PROTO_T_STOP)
		min_size += binary_min_size(ktype);
	if (binary_read_size(r, min_size, count) != 0)
		return -1;
	r->depth++;
	return 0;
}

static int
binary_read_list_begin(struct proto_reader *r, uint8_t *elem_type, uint32_t *count)
{
	const uint8_t *p = proto_take(r, 1);

	if (p == NULL)
		return -1;
	*elem_type = p[0];
	return binary_read_container(r, PROTO_T_STOP, *elem_type, count);
}

static int
binary_read_map_begin(struct proto_reader *r, uint8_t *key_type, uint8_t *value_type,
    uint32_t *count)
{
	const uint8_t *p = proto_take(r, 2);

	if (p == NULL)
		return -1;
	*key_type = p[0];
	*value_type = p[1];
	return binary_read_container(r, *key_type, *value_type, count);
}

static int
binary_skip(struct proto_reader *r, uint8_t type)
{
	struct proto_string	 s;
	uint8_t			 ftype, ktype, vtype;
	int16_t			 id;
	uint32_t		 count;
	size_t			 fixed, kfixed, vfixed;

	if (r->status != PROTO_OK)
		return -1;
	if ((fixed = binary_fixed_size(type)) != 0)
		return proto_take(r, fixed) ? 0 : -1;
	switch (type) {
	case PROTO_T_STRING:
		return binary_read_string(r, &s);
	case PROTO_T_STRUCT:
		if (binary_read_struct_begin(r) != 0)
			return -1;
		for (;;) {
			if (binary_read_field_begin(r, &ftype, &id) != 0)
				return -1;
			if (ftype == PROTO_T_STOP)
				break;
			if (binary_skip(r, ftype) != 0)
				return -1;
		}
		return binary_read_struct_end(r);
	case PROTO_T_LIST:
	case PROTO_T_SET:
		if (binary_read_list_begin(r, &vtype, &count) != 0)
			return -1;
		if ((vfixed = binary_fixed_size(vtype)) != 0) {
			/* count * vfixed <= max_size was checked with the count. */
			if (proto_take(r, (size_t)count * vfixed) == NULL)
				return -1;
		} else {
			for (uint32_t i = 0; i < count; i++)
				if (binary_skip(r, vtype) != 0)
					return -1;
		}
		r->depth--;
		return 0;
	case PROTO_T_MAP:
		if (binary_read_map_begin(r, &ktype, &vtype, &count) != 0)
			return -1;
		kfixed = binary_fixed_size(ktype);
		vfixed = binary_fixed_size(vtype);
		if (kfixed != 0 && vfixed != 0) {
			if (proto_take(r, (size_t)count * (kfixed + vfixed)) == NULL)
				return -1;
		} else {
			for (uint32_t i = 0; i < count; i++)
				if (binary_skip(r, ktype) != 0 || binary_skip(r, vtype) != 0)
					return -1;
		}
		r->depth--;
		return 0;
	default:
		return proto_fail(r, PROTO_BAD, "unknown field type");
	}
}

static int
binary_read_container_end(struct proto_reader *r)
{
	return binary_read_struct_end(r);
}

/* --- writing ------------------------------------------------------------ */

static int
binary_write_bool(struct proto_writer *w, bool v)
{
	return binary_write_byte(w, v ? 1 : 0);
}

static int
binary_write_u64(struct proto_writer *w, uint64_t v)
{
	binary_write_u32(w, (uint32_t)(v >> 32));
	return binary_write_u32(w, (uint32_t)v);
}

static int
binary_write_i64(struct proto_writer *w, int64_t v)
{
	return binary_write_u64(w, (uint64_t)v);
}

static int
binary_write_double(struct proto_writer *w, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof u);
	return binary_write_u64(w, u);
}

static int
binary_write_list_begin(struct proto_writer *w, uint8_t elem_type, uint32_t count)
{
	binary_write_byte(w, (int8_t)elem_type);
	return binary_write_u32(w, count);
}

static int
binary_write_map_begin(struct proto_writer *w, uint8_t key_type, uint8_t value_type,
    uint32_t count)
{
	binary_write_byte(w, (int8_t)key_type);
	binary_write_byte(w, (int8_t)value_type);
	return binary_write_u32(w, count);
}

const struct proto_ops proto_binary = {
	.name = "binary",
	.codec = PROTO_CODEC_BINARY,
	.read_message_begin = binary_read_message_begin,
	.read_struct_begin = binary_read_struct_begin,
	.read_struct_end = binary_read_struct_end,
	.read_field_begin = binary_read_field_begin,
	.read_list_begin = binary_read_list_begin,
	.read_set_begin = binary_read_list_begin,
	.read_map_begin = binary_read_map_begin,
	.read_container_end = binary_read_container_end,
	.read_bool = binary_read_bool,
	.read_byte = binary_read_byte,
	.read_i16 = binary_read_i16,
	.read_i32 = binary_read_i32,
	.read_i64 = binary_read_i64,
	.read_double = binary_read_double,
	.read_string = binary_read_string,
	.skip = binary_skip,
	.write_message_begin = binary_write_message_begin,
	.write_struct_begin = binary_write_struct_begin,
	.write_struct_end = binary_write_struct_end,
	.write_field_begin = binary_write_field_begin,
	.write_field_stop = binary_write_field_stop,
	.write_list_begin = binary_write_list_begin,
	.write_set_begin = binary_write_list_begin,
	.write_map_begin = binary_write_map_begin,
	.write_bool = binary_write_bool,
	.write_byte = binary_write_byte,
	.write_i16 = binary_write_i16,
	.write_i32 = binary_write_i32,
	.write_i64 = binary_write_i64,
	.write_double = binary_write_double,
	.write_string = binary_write_string,
};
