/*
 * transport: tells from a connection's first bytes which Thrift transport
 * (unframed, framed or THeader) and protocol (binary or compact) it
 * speaks, cuts its byte stream into messages and frames the replies.
 * What a message says is dispatch's business; this module only finds
 * where it is: from a frame's length, or, unframed, with the resumable
 * scan of scan.h once a message has been found incomplete.  Works on
 * plain byte ranges.
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

struct scan;

#define TRANSPORT_FRAME_HEADER	4	/* a frame's big-endian length */

enum transport_kind {
	TRANSPORT_UNKNOWN = 0,	/* not seen enough bytes yet */
	TRANSPORT_BUFFERED,	/* unframed: TBufferedTransport, TSocket alone */
	TRANSPORT_FRAMED,	/* TFramedTransport: 4-byte big-endian length */
	TRANSPORT_HEADER,	/* THeaderTransport: framed, magic 0x0fff, protocol per frame */
};

/*
 * A connection's transport.  Unframed, it is also where the message in
 * progress has been scanned to: the next transport_next must then be
 * given the same message again, from its first byte, with what has
 * arrived since.  transport_free releases that.
 */
struct transport {
	enum transport_kind	 kind;
	const struct proto_ops	*proto;	/* NULL for THeader: each frame names its own */
	/*
	 * Unframed: the scan of a message found incomplete, from then until
	 * transport_message_end has settled it; NULL between messages.
	 */
	struct scan		*scan;
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
 * PROTO_NEED_MORE wants more bytes; PROTO_BAD sets *error.  t holds
 * nothing to release yet either way.
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

/* A THeader header block's unsigned varint at *p, before end (advanced past it); -1 if cut off. */
int	transport_header_varint(const uint8_t **p, const uint8_t *end, uint32_t *v);

/* Release what t holds (an unfinished message's scan); t stays usable. */
void	transport_free(struct transport *);

/*
 * The functions below run for every message: inline, like proto_put, so
 * the request path calls out only for what a frame or a scan needs.
 * These are the out-of-line parts.
 */
void	transport_next_frame(const struct transport *, const uint8_t *data, size_t len,
	    struct transport_message *);
void	transport_next_scan(struct transport *, const uint8_t *data, size_t len,
	    struct transport_message *);
void	transport_scan_begin(struct transport *, struct transport_message *,
	    unsigned max_depth);
void	transport_scanned_end(struct transport *, struct transport_message *,
	    enum proto_status, size_t used, const char *error);
int	transport_reply_begin_slow(const struct transport_message *, struct buf *out);

/*
 * Cut the next message from data[0..len).  A frame is checked against
 * max_message_size from its length.  Unframed, a message that arrives
 * whole is found by decoding it: the message is all of data, and
 * transport_message_end holds it to max_message_size.  One found
 * incomplete is scanned until it is all here, then given exactly (with
 * t->scan still set, until transport_message_end); meanwhile this
 * returns NEED_MORE, or the scan's BAD or TOO_BIG.
 */
static inline void
transport_next(struct transport *t, const uint8_t *data, size_t len,
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
	else if (t->scan != NULL)
		transport_next_scan(t, data, len, msg);
}

/*
 * After decoding msg: status and error as the decoder left them, used the
 * bytes of the message it took (with OK).  Sets msg->status and consumed,
 * need or error to how the input stands: a frame is consumed whole, but
 * a message longer than its frame is malformed.  An unframed message is
 * as long as it was decoded, and no longer than max_message_size; if the
 * decoder wants more of it, its scan begins (in t, allowing values to
 * nest scan_depth levels below the argument struct), and says how much.
 * A scanned message the decoder takes in full or refuses; anything else
 * is malformed.
 */
static inline void
transport_message_end(struct transport *t, struct transport_message *msg,
    enum proto_status status, size_t used, const char *error, unsigned scan_depth)
{
	bool framed = msg->kind != TRANSPORT_BUFFERED;

	if (t->scan != NULL) {
		transport_scanned_end(t, msg, status, used, error);
		return;
	}
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
		} else {
			transport_scan_begin(t, msg, scan_depth);
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
