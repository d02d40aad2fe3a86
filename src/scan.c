/*
 * scan: where an unframed Thrift message ends, found in one pass however
 * its bytes arrive.  Each step reads one token (a header word, a field
 * header, a length, a varint) at s->pos; a token cut short by the end of
 * the input is read again from its start by the next call, so the state
 * only moves at token boundaries.  Strings and runs of fixed-width values
 * are passed over without being read (s->skip).  Open structs and
 * containers live on an explicit stack no deeper than the nesting limit.
 *
 * The checks and their order follow binary.c and compact.c (their skip,
 * read_message_begin) and dispatch_message (message type, argument
 * struct), error texts included, so that a message is refused for the
 * same reason whether it is scanned or decoded.
 */
#include <string.h>

#include "scan.h"

#define SCAN_BINARY_VERSION_1		0x80010000u
#define SCAN_BINARY_VERSION_MASK	0xffff0000u
#define SCAN_COMPACT_PROTOCOL_ID	0x82
#define SCAN_COMPACT_VERSION		1
#define SCAN_COMPACT_VERSION_MASK	0x1f
#define SCAN_COMPACT_TYPE_SHIFT		5

/* Where in a message the next token is. */
enum scan_phase {
	SCAN_PHASE_BINARY_FIRST,	/* strict version word, or an old header's name length */
	SCAN_PHASE_BINARY_NAME_LEN,	/* strict: the name's length */
	SCAN_PHASE_BINARY_SEQID,	/* strict: the seqid after the name */
	SCAN_PHASE_BINARY_OLD_TAIL,	/* old: type byte and seqid after the name */
	SCAN_PHASE_COMPACT_FIRST,	/* protocol id, version and type */
	SCAN_PHASE_COMPACT_SEQID,
	SCAN_PHASE_COMPACT_NAME_LEN,
	SCAN_PHASE_HEADER_END,		/* header read: check it, open the argument struct */
	SCAN_PHASE_BODY,		/* inside the argument struct */
};

enum scan_kind {
	SCAN_KIND_STRUCT,
	SCAN_KIND_LIST,			/* lists and sets */
	SCAN_KIND_MAP,
};

/* How a step went. */
enum scan_step {
	SCAN_STEP_OK,			/* token read, s->pos past it */
	SCAN_STEP_SHORT,		/* the input ends inside the token */
	SCAN_STEP_FAIL,			/* s->status and s->error set */
};

/* Compact type nibble -> Thrift type id; 0xff marks an invalid one (as compact.c). */
static const uint8_t scan_compact_type[16] = {
	PROTO_T_STOP, PROTO_T_BOOL, PROTO_T_BOOL, PROTO_T_BYTE,
	PROTO_T_I16, PROTO_T_I32, PROTO_T_I64, PROTO_T_DOUBLE,
	PROTO_T_STRING, PROTO_T_LIST, PROTO_T_SET, PROTO_T_MAP,
	PROTO_T_STRUCT, PROTO_T_UUID, 0xff, 0xff,
};

#define SCAN_COMPACT_BOOLEAN_TRUE	1
#define SCAN_COMPACT_BOOLEAN_FALSE	2
#define SCAN_COMPACT_I16		4
#define SCAN_COMPACT_I32		5
#define SCAN_COMPACT_I64		6

static uint32_t
scan_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bytes of a binary fixed-width value, 0 for variable-width or invalid types. */
static size_t
scan_binary_fixed(uint8_t type)
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

static bool
scan_binary_valid(uint8_t type)
{
	return scan_binary_fixed(type) != 0 || type == PROTO_T_STRING ||
	    type == PROTO_T_STRUCT || type == PROTO_T_MAP || type == PROTO_T_SET ||
	    type == PROTO_T_LIST;
}

/* The fewest bytes a value of the type takes (0 for an invalid type). */
static size_t
scan_binary_min(uint8_t type)
{
	switch (type) {
	case PROTO_T_STRING:	return 4;	/* length */
	case PROTO_T_STRUCT:	return 1;	/* stop */
	case PROTO_T_LIST:
	case PROTO_T_SET:	return 5;	/* element type, count */
	case PROTO_T_MAP:	return 6;	/* key and value types, count */
	default:		return scan_binary_fixed(type);
	}
}

/* The fewest bytes a compact value takes as a container element (as compact.c). */
static size_t
scan_compact_min(uint8_t type)
{
	switch (type) {
	case PROTO_T_DOUBLE:	return 8;
	case PROTO_T_UUID:	return 16;
	default:		return 1;
	}
}

/* Bytes of a compact value that is passed over unread, 0 if it must be read. */
static size_t
scan_compact_fixed(uint8_t type)
{
	switch (type) {
	case PROTO_T_BYTE:	return 1;
	case PROTO_T_DOUBLE:	return 8;
	case PROTO_T_UUID:	return 16;
	default:		return 0;
	}
}

static size_t
scan_min(const struct scan *s, uint8_t type)
{
	return s->protocol == SCAN_COMPACT ? scan_compact_min(type) : scan_binary_min(type);
}

static int
scan_fail(struct scan *s, enum scan_status status, const char *why)
{
	s->status = status;
	s->error = why;
	return SCAN_STEP_FAIL;
}

/*
 * An unsigned LEB128 varint of at most max bytes at p[0..avail): its
 * length, 0 if it runs past avail, -1 if it is longer than max.
 */
static int
scan_varint(const uint8_t *p, size_t avail, unsigned max, uint64_t *v)
{
	uint64_t result = 0;

	if (avail > 0 && p[0] < 0x80) {
		*v = p[0];
		return 1;
	}
	for (unsigned i = 0; i < max; i++) {
		if (i >= avail)
			return 0;
		result |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*v = result;
			return (int)i + 1;
		}
	}
	return -1;
}

/*
 * A compact varint of 32 bits at most: its length in *n, or SHORT with
 * *n the bytes it needs at least.
 */
static int
scan_varint32(struct scan *s, const uint8_t *p, size_t avail, uint32_t *v, size_t *n)
{
	uint64_t u = 0;
	int	 len = scan_varint(p, avail, 5, &u);

	if (len == 0) {
		s->examined += avail;
		*n = avail + 1;
		return SCAN_STEP_SHORT;
	}
	if (len < 0) {
		s->examined += 5;
		return scan_fail(s, SCAN_BAD, "varint too long");
	}
	s->examined += (unsigned)len;
	if (u > UINT32_MAX)
		return scan_fail(s, SCAN_BAD, "varint overflows 32 bits");
	*v = (uint32_t)u;
	*n = (size_t)len;
	return SCAN_STEP_OK;
}

/* A compact length or count: checked as compact_read_size does. */
static int
scan_compact_size(struct scan *s, const uint8_t *p, size_t avail, size_t elem_size,
    uint32_t *size, size_t *n)
{
	int rc = scan_varint32(s, p, avail, size, n);

	if (rc != SCAN_STEP_OK)
		return rc;
	if (*size > INT32_MAX)
		return scan_fail(s, SCAN_BAD, "negative length");
	if (*size > s->max_size / elem_size)
		return scan_fail(s, SCAN_TOO_BIG, "length exceeds max_message_size");
	return SCAN_STEP_OK;
}

/* Refuse a struct or container opened where the nesting limit is reached. */
static int
scan_enter(struct scan *s)
{
	if (s->args_depth + s->nframes > s->max_depth)
		return scan_fail(s, SCAN_BAD, "nesting too deep");
	return SCAN_STEP_OK;
}

/* Open a frame; scan_enter has said there is room (nframes stays below SCAN_MAX_FRAMES). */
static void
scan_push(struct scan *s, enum scan_kind kind, uint8_t elem_type, uint8_t value_type,
    uint32_t remaining)
{
	struct scan_frame *f = &s->frames[s->nframes++];

	f->kind = (uint8_t)kind;
	f->elem_type = elem_type;
	f->value_type = value_type;
	f->remaining = remaining;
	f->last_field_id = 0;
}

/* --- the message header ----------------------------------------------------- */

/* Bytes the header needs at least from the start of a phase's token on. */
static size_t
scan_header_from(enum scan_phase phase)
{
	switch (phase) {
	case SCAN_PHASE_BINARY_FIRST:		return 4 + 5;	/* old: type, seqid */
	case SCAN_PHASE_BINARY_NAME_LEN:	return 4 + 4;
	case SCAN_PHASE_BINARY_SEQID:		return 4;
	case SCAN_PHASE_BINARY_OLD_TAIL:	return 5;
	case SCAN_PHASE_COMPACT_FIRST:		return 2 + 1 + 1;
	case SCAN_PHASE_COMPACT_SEQID:		return 1 + 1;
	case SCAN_PHASE_COMPACT_NAME_LEN:	return 1;
	default:				return 0;
	}
}

/* One header token; with SHORT, *need counts the rest of the header too. */
static int
scan_header_step(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	uint32_t	v = 0;
	size_t		n = 0;
	int		rc;

	switch ((enum scan_phase)s->phase) {
	case SCAN_PHASE_BINARY_FIRST:
		if (avail < 4) {
			s->examined += avail;
			/* strict: name length and seqid follow; old: type and seqid */
			*need = 4 + (avail > 0 && (p[0] & 0x80) ? 8 : 5);
			return SCAN_STEP_SHORT;
		}
		s->examined += 4;
		v = scan_be32(p);
		s->pos += 4;
		if (v & 0x80000000u) {
			if ((v & SCAN_BINARY_VERSION_MASK) != SCAN_BINARY_VERSION_1)
				return scan_fail(s, SCAN_BAD, "bad binary protocol version");
			s->message_type = v & 0xff;
			s->phase = SCAN_PHASE_BINARY_NAME_LEN;
			return SCAN_STEP_OK;
		}
		/* An old header: the word was the name's length. */
		if (v > s->max_size)
			return scan_fail(s, SCAN_TOO_BIG, "length exceeds max_message_size");
		s->skip = v;
		s->phase = SCAN_PHASE_BINARY_OLD_TAIL;
		return SCAN_STEP_OK;
	case SCAN_PHASE_BINARY_NAME_LEN:
		if (avail < 4) {
			s->examined += avail;
			*need = 4 + 4;
			return SCAN_STEP_SHORT;
		}
		s->examined += 4;
		v = scan_be32(p);
		if (v > INT32_MAX)
			return scan_fail(s, SCAN_BAD, "negative length");
		if (v > s->max_size)
			return scan_fail(s, SCAN_TOO_BIG, "length exceeds max_message_size");
		s->pos += 4;
		s->skip = v;
		s->phase = SCAN_PHASE_BINARY_SEQID;
		return SCAN_STEP_OK;
	case SCAN_PHASE_BINARY_SEQID:
		if (avail < 4) {
			s->examined += avail;
			*need = 4;
			return SCAN_STEP_SHORT;
		}
		s->examined += 4;
		s->pos += 4;
		s->phase = SCAN_PHASE_HEADER_END;
		return SCAN_STEP_OK;
	case SCAN_PHASE_BINARY_OLD_TAIL:
		if (avail < 5) {
			s->examined += avail;
			*need = 5;
			return SCAN_STEP_SHORT;
		}
		s->examined += 5;
		s->message_type = p[0];
		s->pos += 5;
		s->phase = SCAN_PHASE_HEADER_END;
		return SCAN_STEP_OK;
	case SCAN_PHASE_COMPACT_FIRST:
		if (avail < 2) {
			s->examined += avail;
			*need = scan_header_from(SCAN_PHASE_COMPACT_FIRST);
			return SCAN_STEP_SHORT;
		}
		s->examined += 2;
		if (p[0] != SCAN_COMPACT_PROTOCOL_ID)
			return scan_fail(s, SCAN_BAD, "not a compact protocol message");
		if ((p[1] & SCAN_COMPACT_VERSION_MASK) != SCAN_COMPACT_VERSION)
			return scan_fail(s, SCAN_BAD, "bad compact protocol version");
		s->message_type = p[1] >> SCAN_COMPACT_TYPE_SHIFT;
		s->pos += 2;
		s->phase = SCAN_PHASE_COMPACT_SEQID;
		return SCAN_STEP_OK;
	case SCAN_PHASE_COMPACT_SEQID:
		if ((rc = scan_varint32(s, p, avail, &v, &n)) == SCAN_STEP_SHORT)
			*need = n + 1;		/* the name's length follows */
		if (rc != SCAN_STEP_OK)
			return rc;
		s->pos += n;
		s->phase = SCAN_PHASE_COMPACT_NAME_LEN;
		return SCAN_STEP_OK;
	case SCAN_PHASE_COMPACT_NAME_LEN:
		if ((rc = scan_compact_size(s, p, avail, 1, &v, &n)) == SCAN_STEP_SHORT)
			*need = n;
		if (rc != SCAN_STEP_OK)
			return rc;
		s->pos += n;
		s->skip = v;
		s->phase = SCAN_PHASE_HEADER_END;
		return SCAN_STEP_OK;
	case SCAN_PHASE_HEADER_END:
		/* As dispatch_message: a known message type, then the argument struct. */
		if (s->message_type < PROTO_CALL || s->message_type > PROTO_ONEWAY)
			return scan_fail(s, SCAN_BAD, "invalid message type");
		if (scan_enter(s) != SCAN_STEP_OK)
			return SCAN_STEP_FAIL;
		scan_push(s, SCAN_KIND_STRUCT, 0, 0, 0);
		s->phase = SCAN_PHASE_BODY;
		return SCAN_STEP_OK;
	default:
		return scan_fail(s, SCAN_BAD, "scan state corrupt");
	}
}

/* --- binary values ------------------------------------------------------- */

/* A binary field header or the stop, in the struct on top of the stack. */
static int
scan_binary_field(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	if (avail < 1) {
		*need = 0;		/* the stop, counted with the struct */
		return SCAN_STEP_SHORT;
	}
	if (p[0] == PROTO_T_STOP) {
		s->examined += 1;
		s->pos += 1;
		s->nframes--;
		return SCAN_STEP_OK;
	}
	if (avail < 3) {
		s->examined += avail;
		*need = 3 + scan_binary_min(p[0]);
		return SCAN_STEP_SHORT;
	}
	/* Type and id; an invalid type is refused as the value begins, as binary_skip does. */
	s->examined += 3;
	s->pos += 3;
	/* A fixed-width value is passed over in the same step. */
	if ((s->skip = scan_binary_fixed(p[0])) == 0) {
		s->value_type = p[0];
		s->value_pending = 1;
	}
	return SCAN_STEP_OK;
}

/* The header of a binary list, set or map: checked as binary_read_container. */
static int
scan_binary_container(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	bool		 map = s->value_type == PROTO_T_MAP;
	size_t		 types = map ? 2 : 1, min_size, kfixed, vfixed;
	uint8_t		 ktype, vtype;
	uint32_t	 count;

	if (avail < types) {
		s->examined += avail;
		*need = types + 4;
		return SCAN_STEP_SHORT;
	}
	s->examined += types;
	ktype = map ? p[0] : PROTO_T_STOP;
	vtype = p[types - 1];
	if (!scan_binary_valid(vtype) || (ktype != PROTO_T_STOP && !scan_binary_valid(ktype)))
		return scan_fail(s, SCAN_BAD, "invalid container element type");
	if (scan_enter(s) != SCAN_STEP_OK)
		return SCAN_STEP_FAIL;
	if (avail < types + 4) {
		s->examined += avail - types;
		*need = types + 4;
		return SCAN_STEP_SHORT;
	}
	s->examined += 4;
	count = scan_be32(p + types);
	if (count > INT32_MAX)
		return scan_fail(s, SCAN_BAD, "negative length");
	min_size = scan_binary_min(vtype);
	if (ktype != PROTO_T_STOP)
		min_size += scan_binary_min(ktype);
	if (count > s->max_size / min_size)
		return scan_fail(s, SCAN_TOO_BIG, "length exceeds max_message_size");
	s->pos += types + 4;
	s->value_pending = 0;
	/* Fixed-width elements are passed over at once; count * size <= max_size. */
	vfixed = scan_binary_fixed(vtype);
	kfixed = map ? scan_binary_fixed(ktype) : 0;
	if (vfixed != 0 && (!map || kfixed != 0)) {
		s->skip = (size_t)count * (kfixed + vfixed);
		return SCAN_STEP_OK;
	}
	if (map)
		scan_push(s, SCAN_KIND_MAP, ktype, vtype, 2 * count);
	else
		scan_push(s, SCAN_KIND_LIST, vtype, 0, count);
	return SCAN_STEP_OK;
}

/* The start of a binary value of type s->value_type. */
static int
scan_binary_value(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	size_t		fixed = scan_binary_fixed(s->value_type);
	uint32_t	len;

	if (fixed != 0) {
		s->value_pending = 0;
		s->skip = fixed;
		return SCAN_STEP_OK;
	}
	switch (s->value_type) {
	case PROTO_T_STRING:
		if (avail < 4) {
			s->examined += avail;
			*need = 4;
			return SCAN_STEP_SHORT;
		}
		s->examined += 4;
		len = scan_be32(p);
		if (len > INT32_MAX)
			return scan_fail(s, SCAN_BAD, "negative length");
		if (len > s->max_size)
			return scan_fail(s, SCAN_TOO_BIG, "length exceeds max_message_size");
		s->pos += 4;
		s->skip = len;
		s->value_pending = 0;
		return SCAN_STEP_OK;
	case PROTO_T_STRUCT:
		if (scan_enter(s) != SCAN_STEP_OK)
			return SCAN_STEP_FAIL;
		scan_push(s, SCAN_KIND_STRUCT, 0, 0, 0);
		s->value_pending = 0;
		return SCAN_STEP_OK;
	case PROTO_T_LIST:
	case PROTO_T_SET:
	case PROTO_T_MAP:
		return scan_binary_container(s, p, avail, need);
	default:
		return scan_fail(s, SCAN_BAD, "unknown field type");
	}
}

/* --- compact values ------------------------------------------------------ */

/* A compact field header or the stop, in the struct on top of the stack. */
static int
scan_compact_field(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	struct scan_frame	*f = &s->frames[s->nframes - 1];
	uint8_t			 ctype, delta;
	int32_t			 id;
	uint32_t		 u = 0;
	size_t			 n = 1;
	int			 rc;

	if (avail < 1) {
		*need = 0;		/* the stop, counted with the struct */
		return SCAN_STEP_SHORT;
	}
	s->examined += 1;
	if (p[0] == 0) {
		s->pos += 1;
		s->nframes--;
		return SCAN_STEP_OK;
	}
	ctype = p[0] & 0x0f;
	delta = p[0] >> 4;
	if (ctype == 0 || scan_compact_type[ctype] == 0xff)
		return scan_fail(s, SCAN_BAD, "unknown field type");
	if (delta != 0) {
		id = (int32_t)f->last_field_id + delta;
		if (id > INT16_MAX)
			return scan_fail(s, SCAN_BAD, "field id out of range");
	} else {
		/* Long form: the id follows as a zigzag varint, an i16. */
		rc = scan_varint32(s, p + 1, avail - 1, &u, &n);
		if (rc == SCAN_STEP_SHORT) {
			*need = 1 + n + (ctype == SCAN_COMPACT_BOOLEAN_TRUE ||
			    ctype == SCAN_COMPACT_BOOLEAN_FALSE ? 0 :
			    scan_compact_min(scan_compact_type[ctype]));
			return SCAN_STEP_SHORT;
		}
		if (rc != SCAN_STEP_OK)
			return rc;
		id = (int32_t)((u >> 1) ^ (0u - (u & 1)));
		if (id < INT16_MIN || id > INT16_MAX)
			return scan_fail(s, SCAN_BAD, "i16 out of range");
		n += 1;
	}
	f->last_field_id = (int16_t)id;
	s->pos += n;
	/* A bool field's value is its header's type. */
	if (ctype == SCAN_COMPACT_BOOLEAN_TRUE || ctype == SCAN_COMPACT_BOOLEAN_FALSE)
		return SCAN_STEP_OK;
	s->value_type = scan_compact_type[ctype];
	s->value_pending = 1;
	/* The common case, an integer that is all there, is taken in the same step. */
	if (ctype == SCAN_COMPACT_I32 || ctype == SCAN_COMPACT_I16 || ctype == SCAN_COMPACT_I64) {
		uint64_t u64;
		int	 vlen = scan_varint(p + n, avail - n, ctype == SCAN_COMPACT_I64 ? 10 : 5,
		    &u64);

		if (vlen > 0) {
			s->examined += (unsigned)vlen;
			s->pos += (unsigned)vlen;
			s->value_pending = 0;
		}
	}
	return SCAN_STEP_OK;
}

/* A compact list or set header: checked as compact_read_list_begin. */
static int
scan_compact_list(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	uint8_t		ctype, elem;
	uint32_t	count;
	size_t		n = 1, fixed;
	int		rc;

	if (avail < 1) {
		*need = 1;
		return SCAN_STEP_SHORT;
	}
	s->examined += 1;
	ctype = p[0] & 0x0f;
	if (ctype == 0 || scan_compact_type[ctype] == 0xff)
		return scan_fail(s, SCAN_BAD, "invalid container element type");
	elem = scan_compact_type[ctype];
	count = p[0] >> 4;
	if (count == 15) {
		rc = scan_compact_size(s, p + 1, avail - 1, scan_compact_min(elem), &count, &n);
		if (rc == SCAN_STEP_SHORT)
			*need = 1 + n;
		if (rc != SCAN_STEP_OK)
			return rc;
		n += 1;
	}
	if (scan_enter(s) != SCAN_STEP_OK)
		return SCAN_STEP_FAIL;
	s->pos += n;
	s->value_pending = 0;
	/* count * size <= max_size was checked with a long count; short ones are < 15. */
	if ((fixed = scan_compact_fixed(elem)) != 0)
		s->skip = (size_t)count * fixed;
	else
		scan_push(s, SCAN_KIND_LIST, elem, 0, count);
	return SCAN_STEP_OK;
}

/* A compact map header: checked as compact_read_map_begin. */
static int
scan_compact_map(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	uint8_t		ktype = PROTO_T_STOP, vtype = PROTO_T_STOP;
	uint32_t	count;
	size_t		n = 0;
	int		rc;

	if ((rc = scan_compact_size(s, p, avail, 2, &count, &n)) == SCAN_STEP_SHORT)
		*need = n;
	if (rc != SCAN_STEP_OK)
		return rc;
	if (count != 0) {
		if (avail < n + 1) {
			*need = n + 1;
			return SCAN_STEP_SHORT;
		}
		s->examined += 1;
		if (scan_compact_type[p[n] >> 4] == 0xff || (p[n] >> 4) == 0 ||
		    scan_compact_type[p[n] & 0x0f] == 0xff || (p[n] & 0x0f) == 0)
			return scan_fail(s, SCAN_BAD, "invalid container element type");
		ktype = scan_compact_type[p[n] >> 4];
		vtype = scan_compact_type[p[n] & 0x0f];
		if (count > s->max_size / (scan_compact_min(ktype) + scan_compact_min(vtype)))
			return scan_fail(s, SCAN_TOO_BIG, "length exceeds max_message_size");
		n += 1;
	}
	if (scan_enter(s) != SCAN_STEP_OK)
		return SCAN_STEP_FAIL;
	s->pos += n;
	s->value_pending = 0;
	if (count != 0)
		scan_push(s, SCAN_KIND_MAP, ktype, vtype, 2 * count);
	return SCAN_STEP_OK;
}

/* The start of a compact value of type s->value_type (not a bool field's). */
static int
scan_compact_value(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	uint64_t	u;
	uint32_t	len;
	size_t		n = 0, fixed;
	int		rc;

	if ((fixed = scan_compact_fixed(s->value_type)) != 0) {
		s->value_pending = 0;
		s->skip = fixed;
		return SCAN_STEP_OK;
	}
	switch (s->value_type) {
	case PROTO_T_BOOL:
		/* In containers: 1 true; 2, and 0 as some libraries write, false. */
		if (avail < 1) {
			*need = 1;
			return SCAN_STEP_SHORT;
		}
		s->examined += 1;
		if (p[0] > SCAN_COMPACT_BOOLEAN_FALSE)
			return scan_fail(s, SCAN_BAD, "invalid bool value");
		s->pos += 1;
		s->value_pending = 0;
		return SCAN_STEP_OK;
	case PROTO_T_I16:
	case PROTO_T_I32:
	case PROTO_T_I64:
		/* Skipped as compact_skip does: length checked, value not. */
		rc = scan_varint(p, avail, s->value_type == PROTO_T_I64 ? 10 : 5, &u);
		if (rc == 0) {
			s->examined += avail;
			*need = avail + 1;
			return SCAN_STEP_SHORT;
		}
		if (rc < 0) {
			s->examined += s->value_type == PROTO_T_I64 ? 10 : 5;
			return scan_fail(s, SCAN_BAD, "varint too long");
		}
		s->examined += (unsigned)rc;
		s->pos += (unsigned)rc;
		s->value_pending = 0;
		return SCAN_STEP_OK;
	case PROTO_T_STRING:
		if ((rc = scan_compact_size(s, p, avail, 1, &len, &n)) == SCAN_STEP_SHORT)
			*need = n;
		if (rc != SCAN_STEP_OK)
			return rc;
		s->pos += n;
		s->skip = len;
		s->value_pending = 0;
		return SCAN_STEP_OK;
	case PROTO_T_STRUCT:
		if (scan_enter(s) != SCAN_STEP_OK)
			return SCAN_STEP_FAIL;
		scan_push(s, SCAN_KIND_STRUCT, 0, 0, 0);
		s->value_pending = 0;
		return SCAN_STEP_OK;
	case PROTO_T_LIST:
	case PROTO_T_SET:
		return scan_compact_list(s, p, avail, need);
	case PROTO_T_MAP:
		return scan_compact_map(s, p, avail, need);
	default:
		return scan_fail(s, SCAN_BAD, "unknown field type");
	}
}

/* --- driving --------------------------------------------------------------- */

/* The fewest bytes the open structs and containers still need (their stops, elements). */
static uint64_t
scan_frames_min(const struct scan *s)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < s->nframes; i++) {
		const struct scan_frame *f = &s->frames[i];
		uint64_t k, v;

		switch (f->kind) {
		case SCAN_KIND_STRUCT:
			total += 1;
			break;
		case SCAN_KIND_LIST:
			total += (uint64_t)f->remaining * scan_min(s, f->elem_type);
			break;
		default:
			/* Keys and values not begun; with an odd number a value comes next. */
			k = scan_min(s, f->elem_type);
			v = scan_min(s, f->value_type);
			total += (uint64_t)(f->remaining / 2) * (k + v) + (f->remaining & 1 ? v : 0);
			break;
		}
	}
	return total;
}

/*
 * The input ends inside the message: s->pos is where the token being read
 * starts, `here` the bytes it and what must directly follow it need at
 * least.  Record the least total length the message can have.
 */
static enum scan_status
scan_short(struct scan *s, size_t here)
{
	uint64_t need = (uint64_t)s->pos + s->skip + here;

	need += s->phase == SCAN_PHASE_BODY ? scan_frames_min(s) : 1;	/* the args' stop */
	s->need = need > SIZE_MAX ? SIZE_MAX : (size_t)need;
	if (s->need > s->max_size) {
		s->status = SCAN_TOO_BIG;
		s->error = "message exceeds max_message_size";
	}
	return s->status;
}

void
scan_init(struct scan *s, enum scan_protocol protocol, size_t max_message_size,
    unsigned max_depth, unsigned args_depth)
{
	memset(s, 0, sizeof *s);
	s->status = SCAN_NEED_MORE;
	s->max_size = max_message_size;
	s->max_depth = max_depth > PROTO_MAX_DEPTH_LIMIT ? PROTO_MAX_DEPTH_LIMIT : max_depth;
	/* Past the limit the argument struct is refused anyway. */
	s->args_depth = args_depth > PROTO_MAX_DEPTH_LIMIT + 1 ?
	    PROTO_MAX_DEPTH_LIMIT + 1 : args_depth;
	s->protocol = (uint8_t)protocol;
	s->phase = protocol == SCAN_COMPACT ? SCAN_PHASE_COMPACT_FIRST : SCAN_PHASE_BINARY_FIRST;
}

enum scan_status
scan_continue(struct scan *s, const uint8_t *data, size_t len)
{
	struct scan_frame	*f;
	size_t			 here = 0;
	int			 rc;

	if (s->status != SCAN_NEED_MORE || len < s->pos)
		return s->status;
	for (;; s->steps++) {
		if (s->skip != 0) {
			if (len - s->pos < s->skip) {
				s->skip -= len - s->pos;
				s->pos = len;
				return scan_short(s, s->phase == SCAN_PHASE_BODY ? 0 :
				    scan_header_from((enum scan_phase)s->phase));
			}
			s->pos += s->skip;
			s->skip = 0;
		}
		if (s->phase != SCAN_PHASE_BODY) {
			rc = scan_header_step(s, data + s->pos, len - s->pos, &here);
		} else if (s->value_pending) {
			rc = s->protocol == SCAN_COMPACT ?
			    scan_compact_value(s, data + s->pos, len - s->pos, &here) :
			    scan_binary_value(s, data + s->pos, len - s->pos, &here);
		} else if (s->nframes == 0) {
			/* The argument struct's stop: the message ends here. */
			if (s->pos > s->max_size) {
				scan_fail(s, SCAN_TOO_BIG, "message exceeds max_message_size");
				return s->status;
			}
			s->length = s->pos;
			s->status = SCAN_DONE;
			return s->status;
		} else if ((f = &s->frames[s->nframes - 1])->kind == SCAN_KIND_STRUCT) {
			rc = s->protocol == SCAN_COMPACT ?
			    scan_compact_field(s, data + s->pos, len - s->pos, &here) :
			    scan_binary_field(s, data + s->pos, len - s->pos, &here);
		} else {
			/* The next element of a list, or key or value of a map. */
			if (f->remaining == 0) {
				s->nframes--;
				continue;
			}
			if (f->kind == SCAN_KIND_MAP && (f->remaining & 1) != 0)
				s->value_type = f->value_type;
			else
				s->value_type = f->elem_type;
			s->value_pending = 1;
			f->remaining--;
			continue;
		}
		if (rc == SCAN_STEP_SHORT)
			return scan_short(s, here);
		if (rc == SCAN_STEP_FAIL)
			return s->status;
	}
}
