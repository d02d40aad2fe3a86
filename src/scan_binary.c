/*
 * scan_binary: the message-end finder's TBinaryProtocol half — one token
 * at a time of a strict or old header, a field header, a value's start —
 * checked as binary.c reads and skips them, with the same error texts.
 * Strings and runs of fixed-width values are passed over unread
 * (s->skip); structs and containers go on the stack scan.c keeps.
 */
#include "binary.h"
#include "bytes.h"
#include "scan_private.h"

/* --- the message header ----------------------------------------------------- */

int
scan_binary_header(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	uint32_t v;

	switch ((enum scan_phase)s->phase) {
	case SCAN_PHASE_BINARY_FIRST:
		if (avail < 4) {
			s->examined += avail;
			/* strict: name length and seqid follow; old: type and seqid */
			*need = 4 + (avail > 0 && (p[0] & 0x80) ? 8 : 5);
			return SCAN_STEP_SHORT;
		}
		s->examined += 4;
		v = bytes_be32(p);
		s->pos += 4;
		if (v & 0x80000000u) {
			if ((v & BINARY_VERSION_MASK) != BINARY_VERSION_1)
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
		v = bytes_be32(p);
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
	default:
		return scan_fail(s, SCAN_BAD, "scan state corrupt");
	}
}

/* --- values -------------------------------------------------------------- */

int
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
		*need = 3 + binary_min_size(p[0]);
		return SCAN_STEP_SHORT;
	}
	/* Type and id; an invalid type is refused as the value begins, as binary_skip does. */
	s->examined += 3;
	s->pos += 3;
	/* A fixed-width value is passed over in the same step. */
	if ((s->skip = binary_fixed_size(p[0])) == 0) {
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
	if (!binary_valid_type(vtype) || (ktype != PROTO_T_STOP && !binary_valid_type(ktype)))
		return scan_fail(s, SCAN_BAD, "invalid container element type");
	if (scan_enter(s) != SCAN_STEP_OK)
		return SCAN_STEP_FAIL;
	if (avail < types + 4) {
		s->examined += avail - types;
		*need = types + 4;
		return SCAN_STEP_SHORT;
	}
	s->examined += 4;
	count = bytes_be32(p + types);
	if (count > INT32_MAX)
		return scan_fail(s, SCAN_BAD, "negative length");
	min_size = binary_min_size(vtype);
	if (ktype != PROTO_T_STOP)
		min_size += binary_min_size(ktype);
	if (count > s->max_size / min_size)
		return scan_fail(s, SCAN_TOO_BIG, "length exceeds max_message_size");
	s->pos += types + 4;
	s->value_pending = 0;
	/* Fixed-width elements are passed over at once; count * size <= max_size. */
	vfixed = binary_fixed_size(vtype);
	kfixed = map ? binary_fixed_size(ktype) : 0;
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

int
scan_binary_value(struct scan *s, const uint8_t *p, size_t avail, size_t *need)
{
	size_t		fixed = binary_fixed_size(s->value_type);
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
		len = bytes_be32(p);
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
