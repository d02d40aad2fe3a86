/*
 * transport: tells from a connection's first bytes which Thrift transport
 * (unframed, framed or THeader) and protocol (binary or compact) it
 * speaks, and cuts its byte stream into messages.  Works on plain byte
 * ranges.
 */
#ifndef CALCD_TRANSPORT_H
#define CALCD_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dispatch.h"
#include "proto.h"

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
 * Look at the first len bytes of a connection.  PROTO_OK fills t;
 * PROTO_NEED_MORE wants more bytes; PROTO_BAD sets *error.
 */
enum proto_status transport_detect(const uint8_t *data, size_t len,
	    struct transport *t, const char **error);

/*
 * Take the next message from data[0..len), run it through dispatch and
 * append its reply, framed as the request was, to out.  Same result
 * contract as dispatch_message; consumed counts frame headers and any
 * bytes a frame carries past its message.
 */
void	transport_process(const struct transport *, const uint8_t *data, size_t len,
	    const struct dispatch_limits *, struct buf *out, struct dispatch_result *);

/*
 * After transport_process failed on data[0..len) with res, append a
 * TApplicationException for the call if one can be matched to it, framed
 * as the request was.  0 if a reply was written.
 */
int	transport_error_reply(const struct transport *, const uint8_t *data, size_t len,
	    const struct dispatch_result *res, struct buf *out);

const char *transport_name(const struct transport *);

#endif
