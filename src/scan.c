/*
 * scan: where an unframed Thrift message ends, found in one pass however
 * its bytes arrive.  This file drives a scan: it runs one step at a time
 * of the protocol's half (scan_binary.c, scan_compact.c), checks the
 * header's end as dispatch_message does (message type, the argument
 * struct opened), keeps the stack of open structs and containers, and
 * works out the least length the message can still have.
 *
 * Each step reads one token at s->pos; a token cut short by the end of
 * the input is read again from its start by the next call, so the state
 * only moves at token boundaries.  Strings and runs of fixed-width values
 * are passed over without being read (s->skip).  The stack is explicit
 * and no deeper than the nesting limit.
 */
#include <string.h>

#include "binary.h"
#include "compact.h"
#include "scan_private.h"

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
	if (s->phase != SCAN_PHASE_HEADER_END)
		return s->protocol == SCAN_COMPACT ? scan_compact_header(s, p, avail, need) :
		    scan_binary_header(s, p, avail, need);
	/* As dispatch_message: a known message type, then the argument struct. */
	if (s->message_type < PROTO_CALL || s->message_type > PROTO_ONEWAY)
		return scan_fail(s, SCAN_BAD, "invalid message type");
	if (scan_enter(s) != SCAN_STEP_OK)
		return SCAN_STEP_FAIL;
	scan_push(s, SCAN_KIND_STRUCT, 0, 0, 0);
	s->phase = SCAN_PHASE_BODY;
	return SCAN_STEP_OK;
}

static size_t
scan_min(const struct scan *s, uint8_t type)
{
	return s->protocol == SCAN_COMPACT ? compact_min_size(type) : binary_min_size(type);
}

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
	s->max_depth = max_depth > SCAN_MAX_DEPTH ? SCAN_MAX_DEPTH : max_depth;
	/* Past the limit the argument struct is refused anyway. */
	s->args_depth = args_depth > SCAN_MAX_DEPTH + 1 ? SCAN_MAX_DEPTH + 1 : args_depth;
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
