/*
 * scan_compact: the message-end finder's TCompactProtocol half — one
 * token at a time of the header, a field header (short or long form, a
 * bool's value in it), a value's start — checked as compact.c reads and
 * skips them, with the same error texts.  A varint cut short by the end
 * of the input is read again from its start by the next call.
 */
#include "compact.h"
#include "scan_private.h"

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

/* --- the message header ----------------------------------------------------- */

int
scan_compact_header(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	uint32_t	v = 0;
	size_t		n = 0;
	int		rc;

	switch ((enum scan_phase)s->phase) {
	case SCAN_PHASE_COMPACT_FIRST:
		if (avail < 2) {
			s->examined += avail;
			*need = 2 + 1 + 1;	/* then the seqid and the name's length */
			return SCAN_STEP_SHORT;
		}
		s->examined += 2;
		if (p[0] != COMPACT_PROTOCOL_ID)
			return scan_fail(s, SCAN_BAD, "not a compact protocol message");
		if ((p[1] & COMPACT_VERSION_MASK) != COMPACT_VERSION)
			return scan_fail(s, SCAN_BAD, "bad compact protocol version");
		s->message_type = p[1] >> COMPACT_TYPE_SHIFT;
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
	default:
		return scan_fail(s, SCAN_BAD, "scan state corrupt");
	}
}

/* --- values -------------------------------------------------------------- */

int
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
	if (ctype == 0 || compact_to_type[ctype] == 0xff)
		return scan_fail(s, SCAN_BAD, "unknown field type");
	if (delta != 0) {
		id = (int32_t)f->last_field_id + delta;
		if (id > INT16_MAX)
			return scan_fail(s, SCAN_BAD, "field id out of range");
	} else {
		/* Long form: the id follows as a zigzag varint, an i16. */
		rc = scan_varint32(s, p + 1, avail - 1, &u, &n);
		if (rc == SCAN_STEP_SHORT) {
			*need = 1 + n + (ctype == COMPACT_BOOLEAN_TRUE ||
			    ctype == COMPACT_BOOLEAN_FALSE ? 0 :
			    compact_min_size(compact_to_type[ctype]));
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
	if (ctype == COMPACT_BOOLEAN_TRUE || ctype == COMPACT_BOOLEAN_FALSE)
		return SCAN_STEP_OK;
	s->value_type = compact_to_type[ctype];
	s->value_pending = 1;
	/* The common case, an integer that is all there, is taken in the same step. */
	if (ctype == COMPACT_I32 || ctype == COMPACT_I16 || ctype == COMPACT_I64) {
		uint64_t u64;
		int	 vlen = scan_varint(p + n, avail - n, ctype == COMPACT_I64 ? 10 : 5,
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
	if (ctype == 0 || compact_to_type[ctype] == 0xff)
		return scan_fail(s, SCAN_BAD, "invalid container element type");
	elem = compact_to_type[ctype];
	count = p[0] >> 4;
	if (count == 15) {
		rc = scan_compact_size(s, p + 1, avail - 1, compact_min_size(elem), &count, &n);
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
		if (compact_to_type[p[n] >> 4] == 0xff || (p[n] >> 4) == 0 ||
		    compact_to_type[p[n] & 0x0f] == 0xff || (p[n] & 0x0f) == 0)
			return scan_fail(s, SCAN_BAD, "invalid container element type");
		ktype = compact_to_type[p[n] >> 4];
		vtype = compact_to_type[p[n] & 0x0f];
		if (count > s->max_size / (compact_min_size(ktype) + compact_min_size(vtype)))
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

/* The start of a compact value (not a bool field's: that is in its header). */
int
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
		if (p[0] > COMPACT_BOOLEAN_FALSE)
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
