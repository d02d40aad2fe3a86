/*
 * dispatch: the method table.  Decodes one Thrift message from a byte
 * range with a protocol's ops, runs the handler it names and encodes the
 * reply (or a TApplicationException) with the same protocol.
 */
#ifndef CALCD_DISPATCH_H
#define CALCD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"

/*
 * Structs dispatch reads its way into: the arguments, and a Work inside
 * them.  max_nesting_depth counts only what is skipped below these.
 */
#define DISPATCH_DEPTH		2

struct dispatch_limits {
	size_t		max_message_size;
	unsigned	max_nesting_depth;	/* levels inside a value calcd skips */
};

/* How a call ended, for metrics. */
enum dispatch_outcome {
	DISPATCH_OUTCOME_OK = 0,	/* a result; also every oneway call */
	DISPATCH_OUTCOME_EXCEPTION,	/* a declared IDL exception (InvalidOperation) */
	DISPATCH_OUTCOME_ERROR,		/* a TApplicationException */
};

struct dispatch_result {
	enum proto_status status;	/* OK: one message consumed */
	size_t		  consumed;	/* with OK: its length in bytes */
	size_t		  need;		/* with NEED_MORE: total bytes needed, at least */
	const char	 *error;	/* with BAD / TOO_BIG: why */
	/* what was called, for logs and error replies: points into the input */
	const uint8_t	 *method;
	size_t		  method_len;
	int32_t		  seqid;
	uint8_t		  message_type;	/* 0 until the message header was read */
	bool		  replied;	/* a reply was appended to out */
	/* with OK: the method's row (dispatch_method_count() if none) and how it ended */
	unsigned	  method_index;
	enum dispatch_outcome outcome;
};

/*
 * Decode one message at the start of data[0..len) and append its reply
 * to out (nothing for oneway calls).  A message that is complete but
 * whose call is bad (unknown method, missing argument) gets an exception
 * reply and status OK; only bytes that can't be a Thrift message give
 * BAD.  On anything but OK, out is left as it was.
 */
void	dispatch_message(const struct proto_ops *, const uint8_t *data, size_t len,
	    const struct dispatch_limits *, struct buf *out, struct dispatch_result *);

/*
 * dispatch_message over the messages at the front of data, one after
 * another, while each is answered OK within max_message_size: until data
 * is used up, out->len reaches out_limit, or max_calls are answered (the
 * first message is always tried).  Returns the bytes the answered ones
 * took, and their count in *calls.  res is the last message tried; if it
 * was not answered (not OK, or OK but over max_message_size: then its
 * reply is taken back out of out), the caller settles it.
 */
size_t	dispatch_run(const struct proto_ops *, const uint8_t *data, size_t len,
	    const struct dispatch_limits *, struct buf *out, size_t out_limit,
	    unsigned max_calls, unsigned *calls, struct dispatch_result *);

/*
 * After a BAD or TOO_BIG result for a call whose message header was read,
 * append a TApplicationException (PROTOCOL_ERROR, saying why) that the
 * client can match to its call, before the connection is closed.  Returns
 * 0 if a reply was written, -1 if none can be (no header, oneway, no room).
 */
int	dispatch_error_reply(const struct proto_ops *, const struct dispatch_result *,
	    struct buf *out);

/* The method table's rows, for metrics labels: how many, and each one's name. */
unsigned	 dispatch_method_count(void);
const char	*dispatch_method_name(unsigned index);

#endif
