/*
 * proto_codec: the per-message operations of binary.h and compact.h
 * behind one name, the codec chosen by an enum proto_codec argument.  A
 * caller inlined with a constant codec (dispatch decodes and answers a
 * message in a function specialized per codec) compiles to that codec's
 * code alone: no call per field, no table of function pointers.  Called
 * with a variable codec, each is a branch between the two.
 *
 * Also a reply's prefix: the bytes every reply of one method starts with
 * (message header, result struct, the result field's header), built once
 * with these writers and copied in with the call's seqid.
 */
#ifndef CALCD_PROTO_CODEC_H
#define CALCD_PROTO_CODEC_H

#include "binary.h"
#include "compact.h"
#include "proto.h"

/* Folded with a constant codec only if inlined: these always are. */
#define PROTO_CODEC_INLINE	static inline __attribute__((always_inline))

/* --- reading -------------------------------------------------------------- */

PROTO_CODEC_INLINE int
proto_codec_read_message_begin(enum proto_codec codec, struct proto_reader *r,
    struct proto_string *name, uint8_t *type, int32_t *seqid)
{
	return codec == PROTO_CODEC_COMPACT ? compact_read_message_begin(r, name, type, seqid) :
	    binary_read_message_begin(r, name, type, seqid);
}

PROTO_CODEC_INLINE int
proto_codec_read_struct_begin(enum proto_codec codec, struct proto_reader *r)
{
	return codec == PROTO_CODEC_COMPACT ? compact_read_struct_begin(r) :
	    binary_read_struct_begin(r);
}

PROTO_CODEC_INLINE int
proto_codec_read_struct_end(enum proto_codec codec, struct proto_reader *r)
{
	return codec == PROTO_CODEC_COMPACT ? compact_read_struct_end(r) :
	    binary_read_struct_end(r);
}

PROTO_CODEC_INLINE int
proto_codec_read_field_begin(enum proto_codec codec, struct proto_reader *r, uint8_t *type,
    int16_t *id)
{
	return codec == PROTO_CODEC_COMPACT ? compact_read_field_begin(r, type, id) :
	    binary_read_field_begin(r, type, id);
}

PROTO_CODEC_INLINE int
proto_codec_read_i32(enum proto_codec codec, struct proto_reader *r, int32_t *v)
{
	return codec == PROTO_CODEC_COMPACT ? compact_read_i32(r, v) : binary_read_i32(r, v);
}

/*
 * The field a well-formed message sends next, predicted: 1 if it is i32
 * field id and was read into *v, 0 if not (nothing read), -1 if it was
 * but the value is malformed or cut short.
 */
PROTO_CODEC_INLINE int
proto_codec_read_field_i32(enum proto_codec codec, struct proto_reader *r, int16_t id,
    int32_t *v)
{
	return codec == PROTO_CODEC_COMPACT ? compact_read_field_i32(r, id, v) :
	    binary_read_field_i32(r, id, v);
}

/* If the next byte ends the struct (a field stop), read it and return true. */
PROTO_CODEC_INLINE bool
proto_codec_read_stop(enum proto_codec codec, struct proto_reader *r)
{
	(void)codec;	/* both write the stop as a zero byte */
	if (r->status != PROTO_OK || r->pos >= r->len || r->data[r->pos] != 0)
		return false;
	r->pos++;
	return true;
}

/*
 * A struct of exactly i32 field id0, i32 field id1 and its stop, predicted
 * (the arguments of a call as generated clients write them): read whole
 * into v[0] and v[1], and true.  false if it is anything else, or not all
 * here; the reader is then no longer where it was (the caller starts the
 * message again on another path).
 */
PROTO_CODEC_INLINE bool
proto_codec_read_struct_i32x2(enum proto_codec codec, struct proto_reader *r, int16_t id0,
    int16_t id1, int32_t v[2])
{
	if (codec == PROTO_CODEC_BINARY)
		return binary_read_struct_i32x2(r, id0, id1, v);
	return compact_read_struct_begin(r) == 0 && compact_read_field_i32(r, id0, &v[0]) > 0 &&
	    compact_read_field_i32(r, id1, &v[1]) > 0 && proto_codec_read_stop(codec, r) &&
	    compact_read_struct_end(r) == 0;
}

PROTO_CODEC_INLINE int
proto_codec_read_string(enum proto_codec codec, struct proto_reader *r, struct proto_string *s)
{
	return codec == PROTO_CODEC_COMPACT ? compact_read_string(r, s) :
	    binary_read_string(r, s);
}

/* --- writing -------------------------------------------------------------- */

PROTO_CODEC_INLINE int
proto_codec_write_message_begin(enum proto_codec codec, struct proto_writer *w,
    const struct proto_string *name, uint8_t type, int32_t seqid)
{
	return codec == PROTO_CODEC_COMPACT ? compact_write_message_begin(w, name, type, seqid) :
	    binary_write_message_begin(w, name, type, seqid);
}

PROTO_CODEC_INLINE int
proto_codec_write_struct_begin(enum proto_codec codec, struct proto_writer *w)
{
	return codec == PROTO_CODEC_COMPACT ? compact_write_struct_begin(w) :
	    binary_write_struct_begin(w);
}

PROTO_CODEC_INLINE int
proto_codec_write_struct_end(enum proto_codec codec, struct proto_writer *w)
{
	return codec == PROTO_CODEC_COMPACT ? compact_write_struct_end(w) :
	    binary_write_struct_end(w);
}

PROTO_CODEC_INLINE int
proto_codec_write_field_begin(enum proto_codec codec, struct proto_writer *w, uint8_t type,
    int16_t id)
{
	return codec == PROTO_CODEC_COMPACT ? compact_write_field_begin(w, type, id) :
	    binary_write_field_begin(w, type, id);
}

PROTO_CODEC_INLINE int
proto_codec_write_field_stop(enum proto_codec codec, struct proto_writer *w)
{
	return codec == PROTO_CODEC_COMPACT ? compact_write_field_stop(w) :
	    binary_write_field_stop(w);
}

PROTO_CODEC_INLINE int
proto_codec_write_i32(enum proto_codec codec, struct proto_writer *w, int32_t v)
{
	return codec == PROTO_CODEC_COMPACT ? compact_write_i32(w, v) : binary_write_i32(w, v);
}

PROTO_CODEC_INLINE int
proto_codec_write_string(enum proto_codec codec, struct proto_writer *w, const void *p,
    size_t len)
{
	return codec == PROTO_CODEC_COMPACT ? compact_write_string(w, p, len) :
	    binary_write_string(w, p, len);
}

/* --- a reply's prefix ----------------------------------------------------- */

/* The longest prefix; a method name longer than fits has none (see proto_prefix_init). */
#define PROTO_PREFIX_MAX	32
/* Free room in the output for the copy without bounds checks: two blocks and a seqid. */
#define PROTO_PREFIX_ROOM	(2 * PROTO_PREFIX_MAX + 8)

/*
 * The bytes of a message header for one name and message type, the
 * message's struct begun and its first field's header (none for a void
 * result), all but the seqid: that goes between image[0..seqid_at) and
 * image[seqid_at..len) (binary: 4 bytes after the name; compact: a
 * varint before it).
 */
struct proto_prefix {
	uint8_t		image[2 * PROTO_PREFIX_MAX];	/* zero past len */
	/* Binary's fixed-size seqid has its place kept (zero): one copy. */
	uint8_t		whole[PROTO_PREFIX_MAX + 8];	/* zero past len + 4 */
	uint8_t		len;
	uint8_t		seqid_at;
	int16_t		field_id;	/* the field begun (compact's id deltas count from it) */
};
_Static_assert(sizeof ((struct proto_prefix *)0)->whole <= PROTO_PREFIX_ROOM,
    "binary's one copy fits the room proto_codec_copy_prefix is given");

/*
 * Build p for messages named name[0..len) of the given type whose struct
 * starts with a field of field_type and field_id (PROTO_T_STOP: no field
 * begun).  -1 if the name is too long for a prefix.
 */
int	proto_prefix_init(enum proto_codec, struct proto_prefix *p, const char *name,
	    size_t len, uint8_t message_type, uint8_t field_type, int16_t field_id);

/* Put the seqid as the message header holds it at p; its length in bytes. */
PROTO_CODEC_INLINE size_t
proto_codec_put_seqid(enum proto_codec codec, uint8_t *p, int32_t seqid)
{
	if (codec == PROTO_CODEC_BINARY) {
		bytes_put_be32(p, (uint32_t)seqid);
		return 4;
	}
	return compact_put_varint(p, (uint32_t)seqid);
}

/*
 * Copy prefix p with seqid to d, which has PROTO_PREFIX_ROOM bytes of
 * room: binary, one fixed-size copy and the seqid stored in its place;
 * compact, two fixed-size copies and the varint between them.  Its length.
 */
PROTO_CODEC_INLINE size_t
proto_codec_copy_prefix(enum proto_codec codec, uint8_t *d, const struct proto_prefix *p,
    int32_t seqid)
{
	size_t n;

	if (codec == PROTO_CODEC_BINARY) {
		/* In pieces GCC copies with moves (one memcpy of 40 is a rep movs). */
		memcpy(d, p->whole, PROTO_PREFIX_MAX);
		memcpy(d + PROTO_PREFIX_MAX, p->whole + PROTO_PREFIX_MAX,
		    sizeof p->whole - PROTO_PREFIX_MAX);
		bytes_put_be32(d + p->seqid_at, (uint32_t)seqid);
		return p->len + 4u;
	}
	memcpy(d, p->image, PROTO_PREFIX_MAX);
	n = proto_codec_put_seqid(codec, d + p->seqid_at, seqid);
	memcpy(d + p->seqid_at + n, p->image + p->seqid_at, PROTO_PREFIX_MAX);
	return p->len + n;
}

/*
 * Append prefix p with seqid to a freshly initialized writer, leaving it
 * as the writers would have: inside the message's struct, in its field.
 * With the room, fixed-size copies (no calls); else appended piece by
 * piece under the buffer's limit.  0, or -1 once w->failed.
 */
PROTO_CODEC_INLINE int
proto_codec_write_prefix(enum proto_codec codec, struct proto_writer *w,
    const struct proto_prefix *p, int32_t seqid)
{
	struct buf	*b = w->out;
	uint8_t		 id[5];
	size_t		 n;

	w->depth = 1;
	w->last_field_id[1] = p->field_id;
	if (!w->failed && b->cap - b->len >= PROTO_PREFIX_ROOM) {
		b->len += proto_codec_copy_prefix(codec, b->data + b->len, p, seqid);
		return 0;
	}
	n = proto_codec_put_seqid(codec, id, seqid);
	proto_put(w, p->image, p->seqid_at);
	proto_put(w, id, n);
	return proto_put(w, p->image + p->seqid_at, (size_t)(p->len - p->seqid_at));
}

/* Room past PROTO_PREFIX_ROOM for an i32 result and the stop after it. */
#define PROTO_PREFIX_I32_TAIL	8

/*
 * Append a whole reply whose result is one i32, as the writers would:
 * prefix p (its result field begun) with seqid, value, and the result
 * struct's stop.  With the room for it, stores alone, and true; false,
 * with nothing written, if there is no room or p is empty: the caller
 * writes the reply with the writers.
 */
PROTO_CODEC_INLINE bool
proto_codec_put_prefix_i32(enum proto_codec codec, struct buf *b, const struct proto_prefix *p,
    int32_t seqid, int32_t value)
{
	uint8_t	*d;

	if (p->len == 0 || b->cap - b->len < PROTO_PREFIX_ROOM + PROTO_PREFIX_I32_TAIL)
		return false;
	d = b->data + b->len;
	d += proto_codec_copy_prefix(codec, d, p, seqid);
	if (codec == PROTO_CODEC_BINARY) {
		bytes_put_be32(d, (uint32_t)value);
		d += 4;
	} else {
		d += compact_put_varint(d, compact_zigzag32(value));
	}
	*d++ = PROTO_T_STOP;	/* COMPACT_STOP too */
	b->len = (size_t)(d - b->data);
	return true;
}

#endif
