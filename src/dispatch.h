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

struct dispatch_limits {
	size_t		max_message_size;
	unsigned	max_nesting_depth;
};

struct dispatch_result {
	enum proto_status status;	/* OK: one message consumed */
	size_t		  consumed;	/* with OK: its length in bytes */
	size_t		  need;		/* with NEED_MORE: total bytes needed, at least */
	const char	 *error;	/* with BAD / TOO_BIG: why */
	/* what was called, for logs: points into the input */
	const uint8_t	 *method;
	size_t		  method_len;
	bool		  replied;	/* a reply was appended to out */
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

#endif
