/*
 * request: one message of a connection, from its bytes to its reply.
 * transport cuts the message out of the stream and frames the reply;
 * dispatch decodes it and writes the reply inside that frame.  The seam
 * between the two, in one place; works on plain byte ranges.
 */
#ifndef CALCD_REQUEST_H
#define CALCD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dispatch.h"
#include "transport.h"

struct request_result {
	enum proto_status	 status;	/* OK: one message taken */
	size_t			 consumed;	/* with OK: input it took, framing included */
	size_t			 need;		/* with NEED_MORE: input needed in all, at least */
	const char		*error;		/* with BAD / TOO_BIG: why */
	bool			 replied;	/* a reply was appended to out */
	struct transport_message message;	/* where it was and how it came */
	struct dispatch_result	 call;		/* what was called (call.method for logs) */
};

/*
 * request_process's parts out of line: any message but an unframed one
 * with no scan under way; and the end of one of those that dispatch did
 * not decode whole, or found over max_message_size (out was start long).
 */
void	request_process_other(struct transport *, const uint8_t *data, size_t len,
	    const struct dispatch_limits *, struct buf *out, struct request_result *);
void	request_process_unframed_end(struct transport *, const uint8_t *data, size_t len,
	    const struct dispatch_limits *, struct buf *out, size_t start,
	    struct request_result *);

/*
 * Take the next message from data[0..len), answer it and append its
 * reply, framed as the request was, to out (nothing for oneway calls).
 * A bad call that is a whole message (unknown method, missing argument,
 * a THeader transform) gets an exception reply and status OK; only bytes
 * that can't be a message give BAD.  On anything but OK, out is left as
 * it was.  After NEED_MORE, call again with the same message from its
 * first byte once need bytes are here (the transport keeps an unframed
 * message's scan meanwhile: see struct transport).
 *
 * Inline for the common case: an unframed message with no scan under
 * way is what dispatch decodes from the front of data.  Decoded whole
 * and within max_message_size (nearly always), it is done here;
 * anything else is settled as transport_next would have cut it.
 */
static inline void
request_process(struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct request_result *res)
{
	struct dispatch_result	*call = &res->call;
	size_t			 start;

	res->consumed = 0;
	res->replied = false;
	if (t->kind != TRANSPORT_BUFFERED || t->scan != NULL) {
		request_process_other(t, data, len, limits, out, res);
		return;
	}
	start = out->len;
	dispatch_message(t->proto, data, len, limits, out, call);
	if (call->status != PROTO_OK || call->consumed > limits->max_message_size) {
		request_process_unframed_end(t, data, len, limits, out, start, res);
		return;
	}
	res->message.status = PROTO_OK;
	res->message.consumed = call->consumed;
	res->message.proto = t->proto;
	res->message.refusal = NULL;
	res->message.kind = TRANSPORT_BUFFERED;
	res->status = PROTO_OK;
	res->need = 0;
	res->error = NULL;
	res->consumed = call->consumed;
	res->replied = call->replied;	/* if not, dispatch left out as it was */
}

/*
 * After request_process failed with res, append a TApplicationException
 * (PROTOCOL_ERROR) for the call if one can be matched to it, framed as
 * the request was, before the connection is closed.  0 if a reply was
 * written.
 */
int	request_error_reply(const struct request_result *, struct buf *out);

#endif
