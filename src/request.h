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
 * request_run's parts out of line: any message but an unframed one with
 * no scan under way; and the end of one of those that dispatch did not
 * decode whole, or found over max_message_size (out was start long).
 */
void	request_process_other(struct transport *, const uint8_t *data, size_t len,
	    const struct dispatch_limits *, struct buf *out, struct request_result *);
void	request_process_unframed_end(struct transport *, const uint8_t *data, size_t len,
	    const struct dispatch_limits *, struct buf *out, size_t start,
	    struct request_result *);

/* res for the unframed message dispatch answered whole, res->call. */
static inline void
request_unframed_answered(const struct transport *t, struct request_result *res)
{
	const struct dispatch_result *call = &res->call;

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
 * Take the messages at the front of data[0..len), one after another,
 * answer each and append its reply, framed as the request was, to out
 * (nothing for oneway calls): until one is not OK, data is used up,
 * out->len reaches out_limit, or max_calls are answered (the first
 * message is always tried).  Returns how many were answered (each one
 * OK), and in *consumed the input they took, framing included.  res is
 * the last message taken, as request_process gives it.
 *
 * A bad call that is a whole message (unknown method, missing argument,
 * a THeader transform) gets an exception reply and status OK; only bytes
 * that can't be a message give BAD.  On anything but OK, that message
 * left out as it was.  After NEED_MORE, call again from that message's
 * first byte once res->need bytes of it are here (the transport keeps an
 * unframed message's scan meanwhile: see struct transport).
 *
 * Inline for the common case: unframed messages with no scan under way
 * are what dispatch_run decodes from the front of data.  Decoded whole
 * and within max_message_size (nearly always), they are done here; the
 * one that is not is settled as transport_next would have cut it.
 */
static inline unsigned
request_run(struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, size_t out_limit,
    unsigned max_calls, size_t *consumed, struct request_result *res)
{
	struct dispatch_result	*call = &res->call;
	unsigned		 calls;
	size_t			 took;

	res->consumed = 0;
	res->replied = false;
	if (t->kind != TRANSPORT_BUFFERED || t->scan != NULL) {
		request_process_other(t, data, len, limits, out, res);
		*consumed = res->consumed;
		return res->status == PROTO_OK;
	}
	took = dispatch_run(t->proto, data, len, limits, out, out_limit, max_calls, &calls, call);
	if (call->status != PROTO_OK || call->consumed > limits->max_message_size) {
		request_process_unframed_end(t, data + took, len - took, limits, out, out->len,
		    res);
		*consumed = took + res->consumed;
		return calls + (res->status == PROTO_OK);
	}
	request_unframed_answered(t, res);
	*consumed = took;
	return calls;
}

/*
 * The next message alone, taken the general way: the same answer as
 * request_run for one message (the tests and fuzzers hold the two to it).
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
	request_unframed_answered(t, res);
}

/*
 * After request_process failed with res, append a TApplicationException
 * (PROTOCOL_ERROR) for the call if one can be matched to it, framed as
 * the request was, before the connection is closed.  0 if a reply was
 * written.
 */
int	request_error_reply(const struct request_result *, struct buf *out);

#endif
