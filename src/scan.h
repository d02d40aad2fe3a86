/*
 * scan: finds where an unframed Thrift message (binary, strict or old
 * header, or compact) ends, without decoding it and without starting over
 * when more bytes arrive.  A struct scan holds a fixed-size state: how far
 * the message has been scanned, the bytes of a string or fixed-width run
 * still to pass over, and an explicit stack of the open structs and
 * containers, bounded by the nesting limit.  Feeding a message in any
 * number of pieces costs time linear in its length.  scan.c drives a
 * scan; scan_binary.c and scan_compact.c read their protocol's tokens
 * (scan_private.h is what the three share).
 *
 * It applies the same rules as the codecs' skip (src/binary.c,
 * src/compact.c) and dispatch_message's header checks, with the same
 * error texts: where the codecs accept a message of n bytes, scan_continue
 * reports SCAN_DONE with length n; where they refuse it, scan_continue
 * refuses it no later.  The codecs may still refuse a message the scan
 * accepts (dispatch reads the arguments it knows more strictly than skip
 * does: a compact i32 whose varint passes 32 bits): their verdict on the
 * complete message is final.
 */
#ifndef CALCD_SCAN_H
#define CALCD_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

enum scan_protocol {
	SCAN_BINARY,	/* TBinaryProtocol: strict (0x80 0x01 ...) or old header */
	SCAN_COMPACT,	/* TCompactProtocol (0x82 ...) */
};

enum scan_status {
	SCAN_NEED_MORE = 0,	/* not complete yet; need says how long it is at least */
	SCAN_DONE,		/* complete: length is its size in bytes */
	SCAN_BAD,		/* malformed: error says why */
	SCAN_TOO_BIG,		/* a length, count or the whole passes max_message_size */
};

/*
 * The deepest max_depth a scan takes: the codecs' ceiling, and one level
 * more for a caller that reads its way into a struct below the arguments
 * and counts its limit from there (dispatch: a calculate's Work).
 */
#define SCAN_MAX_DEPTH		(PROTO_MAX_DEPTH_LIMIT + 1)
/* Open structs and containers: the args struct and up to SCAN_MAX_DEPTH more. */
#define SCAN_MAX_FRAMES		(SCAN_MAX_DEPTH + 1)

struct scan_frame {
	uint32_t	remaining;	/* list: elements not begun; map: keys and values */
	int16_t		last_field_id;	/* compact struct: for field id deltas */
	uint8_t		kind;		/* struct, list (or set), map */
	uint8_t		elem_type;	/* list: element type; map: key type */
	uint8_t		value_type;	/* map: value type */
};

/* Private to scan*.c but for the results and the work counters. */
struct scan {
	/* results, valid after scan_continue */
	enum scan_status status;
	size_t		 length;	/* SCAN_DONE: the message's length */
	size_t		 need;		/* SCAN_NEED_MORE: total bytes needed, at least */
	const char	*error;		/* SCAN_BAD, SCAN_TOO_BIG: static text */
	/* work done so far, for tests: bytes read (re-reads included), steps taken */
	uint64_t	 examined;
	uint64_t	 steps;

	/* limits */
	size_t		 max_size;
	unsigned	 max_depth;
	unsigned	 args_depth;
	uint8_t		 protocol;

	/* progress */
	uint8_t		 phase;		/* a message header step, or the body */
	uint8_t		 message_type;
	uint8_t		 value_type;	/* with value_pending: a value of this type is next */
	uint8_t		 value_pending;
	size_t		 pos;		/* bytes scanned: a token boundary, or inside a skip */
	size_t		 skip;		/* bytes after pos to pass over unread */
	unsigned	 nframes;
	struct scan_frame frames[SCAN_MAX_FRAMES];
};

/*
 * Start looking for the end of a message.  max_message_size bounds every
 * length, count and the message's total length.  max_depth is a nesting
 * limit like the codecs' reader's (clamped to SCAN_MAX_DEPTH): a struct
 * or container opened at depth d > max_depth is refused.  args_depth is
 * the depth the call's argument struct itself has: 1 where it counts
 * toward the limit (as a reader's own limit counts it), 0 where it does
 * not (as dispatch's max_nesting_depth does not); what it holds has depth
 * args_depth + 1, and so on.
 */
void	scan_init(struct scan *, enum scan_protocol, size_t max_message_size,
	    unsigned max_depth, unsigned args_depth);

/*
 * Scan on through data[0..len): the message's bytes from its first one,
 * everything received so far, and possibly bytes of later messages after
 * it.  Each call passes the same bytes again plus what has arrived since
 * (the buffer may have moved); the scan resumes where the previous call
 * stopped, re-reading at most one partial token (up to 10 bytes).
 * Returns and records in s->status:
 *   SCAN_NEED_MORE  s->need: the message is at least this long; calling
 *                   again before len reaches it is harmless but useless
 *   SCAN_DONE       s->length: the message is data[0..length)
 *   SCAN_BAD        s->error
 *   SCAN_TOO_BIG    s->error
 * Anything but NEED_MORE is final: later calls return it unchanged.
 */
enum scan_status scan_continue(struct scan *, const uint8_t *data, size_t len);

#endif
