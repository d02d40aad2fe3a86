/*
 * transport: tells from a connection's first bytes which Thrift transport
 * (unframed, framed or THeader) and protocol (binary or compact) it
 * speaks, cuts its byte stream into messages and frames the replies.
 * What a message says is dispatch's business; this module only finds
 * where it is.  Works on plain byte ranges.
 */
#ifndef CALCD_TRANSPORT_H
#define CALCD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "bytes.h"
#include "proto.h"

#define TRANSPORT_FRAME_HEADER	4	/* a frame's big-endian length */

enum transport_kind {
	TRANSPORT_UNKNOWN = 0,	/* not seen enough bytes yet */
	TRANSPORT_BUFFERED,	/* unframed: TBufferedTransport, TSocket alone */
	TRANSPORT_FRAMED,	/* TFramedTransport: 4-byte big-endian length */
	TRANSPORT_HEADER,	/* THeaderTransport: framed, magic 0x0fff, protocol per frame */
};

struct transport {
	enum transport_kind	 kind;
	const struct proto_ops	*proto;	/* NULL for THeader: each frame names its own */
};

/*
 * One message cut from a connection's input: where it is, how to decode
 * it, and what its reply's frame echoes.  transport_next fills it in;
 * once the message is decoded, transport_message_end settles how much
 * input it took.
 */
struct transport_message {
	enum proto_status	 status;	/* OK: a message is here */
	size_t			 consumed;	/* with OK: input it takes, framing included */
	size_t			 need;		/* with NEED_MORE: input needed in all, at least */
	const char		*error;		/* with BAD / TOO_BIG: why */
	/* the message: decode data[0..len) with proto, and reply in it */
	const uint8_t		*data;
	size_t			 len;
	const struct proto_ops	*proto;
	/*
	 * A THeader frame calcd can't decode (a transform, an unknown
	 * protocol): answer with a TApplicationException of refusal_type
	 * and this text, in binary, instead of decoding it.  NULL: decode it.
	 */
	const char		*refusal;
	enum proto_app_error	 refusal_type;
	/* how the message came, for its reply's frame */
	enum transport_kind	 kind;
	size_t			 max_size;	/* max_message_size it was cut with */
	/* THeader only, once its header block was read: echoed in the reply */
	uint16_t		 header_flags;
	uint32_t		 header_seq;
	uint8_t			 header_protocol;
};

/* A frame length checked against limits (see transport_frame_check). */
struct transport_frame {
	enum proto_status	 status;
	uint32_t		 len;		/* what the header says: payload bytes */
	size_t			 need;		/* with NEED_MORE: bytes needed in all */
	const char		*error;		/* with BAD / TOO_BIG: why */
};

/*
 * Look at the first len bytes of a connection.  PROTO_OK fills t;
 * PROTO_NEED_MORE wants more bytes; PROTO_BAD sets *error.
 */
enum proto_status transport_detect(const uint8_t *data, size_t len,
	    struct transport *t, const char **error);

/*
 * Check the frame whose 4-byte length starts data[0..len): OK once all
 * of it is here; NEED_MORE; BAD if the length is zero or past ceiling (or
 * INT32_MAX); TOO_BIG if it is past max.  Used for every frame calcd
 * reads, calcctl's replies included.
 */
void	transport_frame_check(const uint8_t *data, size_t len, uint32_t ceiling, size_t max,
	    struct transport_frame *);

/*
 * The functions below run for every message: inline, like proto_put, so
 * the request path calls out only for what a frame needs.  These two are
 * the out-of-line parts.
 */
void	transport_next_frame(const struct transport *, const uint8_t *data, size_t len,
	    struct transport_message *);
int	transport_reply_begin_slow(const struct transport_message *, struct buf *out);

/*
 * Cut the next message from data[0..len).  A frame is checked against
 * max_message_size from its length.  Unframed, where a message ends
 * shows only by decoding it: the message is all of data, and
 * transport_message_end holds it to max_message_size.
 */
static inline void
transport_next(const struct transport *t, const uint8_t *data, size_t len,
    size_t max_message_size, struct transport_message *msg)
{
	msg->status = PROTO_OK;
	msg->consumed = msg->need = 0;
	msg->error = NULL;
	msg->data = data;
	msg->len = len;
	msg->proto = t->proto;
	msg->refusal = NULL;
	msg->kind = t->kind;
	msg->max_size = max_message_size;
	if (t->kind != TRANSPORT_BUFFERED)
		transport_next_frame(t, data, len, msg);
}

/*
 * After decoding msg: status and error as the decoder left them, used the
 * bytes of the message it took (with OK), need the bytes of it needed in
 * all (with NEED_MORE).  Sets msg->status and consumed, need or error to
 * how the input stands: a frame is consumed whole, but a message longer
 * than its frame is malformed; an unframed message is as long as it was
 * decoded, and no longer than max_message_size.
 */
static inline void
transport_message_end(struct transport_message *msg, enum proto_status status, size_t used,
    size_t need, const char *error)
{
	bool framed = msg->kind != TRANSPORT_BUFFERED;

	msg->status = status;
	switch (status) {
	case PROTO_OK:
		/* A frame is consumed whole, whatever it carries past its message. */
		if (framed)
			return;
		msg->consumed = used;
		if (used > msg->max_size) {
			msg->status = PROTO_TOO_BIG;
			msg->error = "message exceeds max_message_size";
		}
		return;
	case PROTO_NEED_MORE:
		if (framed) {
			msg->status = PROTO_BAD;
			msg->error = "frame shorter than its message";
		} else if (need > msg->max_size) {
			msg->status = PROTO_TOO_BIG;
			msg->error = "message exceeds max_message_size";
		} else {
			msg->need = need;
		}
		return;
	default:
		msg->error = error;
		return;
	}
}

/* Start the reply to msg in out (a frame header to fill in later); -1 if out is full. */
static inline int
transport_reply_begin(const struct transport_message *msg, struct buf *out)
{
	if (msg->kind == TRANSPORT_BUFFERED)
		return 0;
	if (msg->kind == TRANSPORT_FRAMED && out->cap - out->len >= TRANSPORT_FRAME_HEADER) {
		/* The length goes in once the reply is written. */
		memset(out->data + out->len, 0, TRANSPORT_FRAME_HEADER);
		out->len += TRANSPORT_FRAME_HEADER;
		return 0;
	}
	return transport_reply_begin_slow(msg, out);
}

/* Finish the reply begun at out->data[start]: its frame's length. */
static inline void
transport_reply_end(const struct transport_message *msg, struct buf *out, size_t start)
{
	if (msg->kind != TRANSPORT_BUFFERED)
		bytes_put_be32(out->data + start,
		    (uint32_t)(out->len - start - TRANSPORT_FRAME_HEADER));
}

const char *transport_name(const struct transport *);

#endif
