/*
 * calcctl_rpc: one Thrift call as calcctl makes it — the message encoded
 * with a shared codec, unframed, framed or in a THeader frame (written by
 * hand), and the reply checked: its frame, message type, seqid and name,
 * and the types of the result struct's fields.  Works on plain byte
 * ranges; no sockets.
 */
#ifndef CALCD_CALCCTL_RPC_H
#define CALCD_CALCCTL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"

#define CALCCTL_RPC_MAX_REPLY	(16u << 20)	/* bytes, frame or message */
#define CALCCTL_RPC_MAX_ARGS	4
#define CALCCTL_RPC_ERROR_LEN	256

enum calcctl_transport {
	CALCCTL_TRANSPORT_BUFFERED,	/* the message alone: TSocket, TBufferedTransport */
	CALCCTL_TRANSPORT_FRAMED,	/* a 4-byte length first: TFramedTransport */
	CALCCTL_TRANSPORT_HEADER,	/* THeaderTransport: length, magic, header, message */
};

/* What field 0 of the method's result struct holds. */
enum calcctl_rpc_result {
	CALCCTL_RESULT_VOID,	/* nothing: ping */
	CALCCTL_RESULT_I32,	/* add, subtract, calculate */
	CALCCTL_RESULT_SHARED,	/* getStruct: a SharedStruct */
};

struct calcctl_call {
	const struct proto_ops	*ops;		/* binary or compact */
	enum calcctl_transport	 transport;
	const char		*method;	/* the IDL's name: "add" */
	const char		*name;		/* on the wire: "add" or "SERVICE:add" */
	bool			 oneway;
	int32_t			 seqid;
	enum calcctl_rpc_result	 result;
	bool			 throws;	/* result field 1 is an InvalidOperation */
	/* Writes the fields of the argument struct. */
	void			(*write_args)(const struct proto_ops *, struct proto_writer *,
				    const int32_t *args);
	int32_t			 args[CALCCTL_RPC_MAX_ARGS];
};

enum calcctl_reply_status {
	CALCCTL_REPLY_NEED_MORE,	/* not all here yet */
	CALCCTL_REPLY_OK,		/* value; SharedStruct: value = key, text */
	CALCCTL_REPLY_APP_ERROR,	/* TApplicationException: code = type, text */
	CALCCTL_REPLY_INVALID_OP,	/* InvalidOperation: code = whatOp, text = why */
	CALCCTL_REPLY_BAD,		/* not the reply it should be: error says why */
};

struct calcctl_reply {
	enum calcctl_reply_status status;
	size_t			 length;	/* bytes the reply took, frame header included */
	int32_t			 value;
	int32_t			 code;
	struct proto_string	 text;		/* points into the input */
	char			 error[CALCCTL_RPC_ERROR_LEN];
};

/* "buffered", "framed" or "header". */
const char *calcctl_rpc_transport_name(enum calcctl_transport);
/* Append the call, framed as call->transport says, to out; -1 if out is full. */
int	calcctl_rpc_encode(const struct calcctl_call *, struct buf *out);
/* Check and decode the reply at the start of data[0..len). */
void	calcctl_rpc_parse(const struct calcctl_call *, const uint8_t *data, size_t len,
	    struct calcctl_reply *);

#endif
