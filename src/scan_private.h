/*
 * scan_private: what the message-end finder's three files share and no
 * one else sees.  scan.c drives a scan (the header's end, the stack of
 * open values, the least length still to come); scan_binary.c and
 * scan_compact.c read one token of their protocol at a time: a header
 * word, a field header, a value's start.
 */
#ifndef CALCD_SCAN_PRIVATE_H
#define CALCD_SCAN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan.h"

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

/*
 * The steps of one protocol.  Each reads the token at p[0..avail)
 * (avail: the input left from s->pos); with SHORT it leaves s->pos at
 * the token's start and sets *need to the bytes the token and what must
 * directly follow it take at least.
 */

/* A message header token (a phase before SCAN_PHASE_HEADER_END). */
int	scan_binary_header(struct scan *, const uint8_t *p, size_t avail, size_t *need);
int	scan_compact_header(struct scan *, const uint8_t *p, size_t avail, size_t *need);
/* A field header or the stop of the struct on top of the stack. */
int	scan_binary_field(struct scan *, const uint8_t *p, size_t avail, size_t *need);
int	scan_compact_field(struct scan *, const uint8_t *p, size_t avail, size_t *need);
/* The start of a value of type s->value_type. */
int	scan_binary_value(struct scan *, const uint8_t *p, size_t avail, size_t *need);
int	scan_compact_value(struct scan *, const uint8_t *p, size_t avail, size_t *need);

static inline int
scan_fail(struct scan *s, enum scan_status status, const char *why)
{
	s->status = status;
	s->error = why;
	return SCAN_STEP_FAIL;
}

/* Refuse a struct or container opened where the nesting limit is reached. */
static inline int
scan_enter(struct scan *s)
{
	if (s->args_depth + s->nframes > s->max_depth)
		return scan_fail(s, SCAN_BAD, "nesting too deep");
	return SCAN_STEP_OK;
}

/* Open a frame; scan_enter has said there is room (nframes stays below SCAN_MAX_FRAMES). */
static inline void
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

#endif
