/*
 * request: a connection's next messages through transport and dispatch.
 * transport_next finds a message and what its reply's frame needs;
 * the reply frame is begun, dispatch appends the reply inside it, and
 * transport_message_end says how much input the message took (or, for
 * an unframed message found incomplete, begins its scan).  The common
 * case, unframed messages that arrived whole, is request_run itself,
 * inline in request.h (one dispatch_run for all of them); this file is
 * the rest.
 */
#include <string.h>

#include "request.h"

/*
 * The structs dispatch reads its way into below the arguments (a
 * calculate's Work) don't count toward max_nesting_depth: an unframed
 * message's scan, standing in for dispatch until the message is all
 * here, allows values that much deeper.  dispatch judges the rest.
 */
#define REQUEST_SCAN_SLACK	(DISPATCH_DEPTH - 1)

/* The message failed: nothing of its reply stays in out. */
static void
request_fail(struct request_result *res, struct buf *out, size_t start)
{
	out->len = start;
	res->status = res->message.status;
	res->need = res->message.need;
	res->error = res->message.error;
	/* The reason an error reply gives, if the call can be named. */
	if (res->status != PROTO_NEED_MORE) {
		res->call.status = res->status;
		res->call.error = res->error;
	}
}

/*
 * The scan refused an unframed message before dispatch saw it whole:
 * name its call, for the error reply, from its header if that is here.
 */
static void
request_read_call(const struct transport_message *msg, struct dispatch_result *call)
{
	struct proto_reader	r;
	struct proto_string	name = { NULL, 0 };
	uint8_t			type = 0;
	int32_t			seqid = 0;

	proto_reader_init(&r, msg->data, msg->len, msg->max_size, 0);
	if (msg->proto->read_message_begin(&r, &name, &type, &seqid) != 0)
		return;
	call->method = name.ptr;
	call->method_len = name.len;
	call->seqid = seqid;
	call->message_type = type;
}

/* A THeader frame calcd can't decode: the refusal transport named. */
static void
request_refuse(const struct transport_message *msg, struct buf *out,
    struct dispatch_result *call)
{
	static const struct proto_string	no_name = { (const uint8_t *)"", 0 };
	struct proto_writer			w;

	memset(call, 0, sizeof *call);		/* nothing was called */
	proto_writer_init(&w, out);
	if (proto_write_app_exception(msg->proto, &w, &no_name, 0, msg->refusal_type,
	    msg->refusal, strlen(msg->refusal)) != 0) {
		call->status = PROTO_TOO_BIG;
		call->error = "reply exceeds the output buffer limit";
		return;
	}
	call->status = PROTO_OK;
	call->replied = true;
}

/*
 * After dispatch: how much input the message took (transport_message_end),
 * and the reply's frame, or out as it was.
 */
static void
request_settle(struct transport *t, const struct dispatch_limits *limits, struct buf *out,
    size_t start, struct request_result *res)
{
	struct transport_message	*msg = &res->message;
	struct dispatch_result		*call = &res->call;

	transport_message_end(t, msg, call->status, call->consumed, call->error,
	    limits->max_nesting_depth + REQUEST_SCAN_SLACK);
	if (msg->status != PROTO_OK) {
		request_fail(res, out, start);
		return;
	}
	res->status = PROTO_OK;
	res->need = 0;
	res->error = NULL;
	res->consumed = msg->consumed;
	if (!call->replied) {
		out->len = start;	/* oneway: not even a frame */
		return;
	}
	transport_reply_end(msg, out, start);
	res->replied = true;
}

void
request_process_other(struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct request_result *res)
{
	struct transport_message	*msg = &res->message;
	struct dispatch_result		*call = &res->call;
	size_t				 start = out->len;

	transport_next(t, data, len, limits->max_message_size, msg);
	if (msg->status != PROTO_OK) {
		memset(call, 0, sizeof *call);	/* nothing was called */
		if (msg->kind == TRANSPORT_BUFFERED && msg->status != PROTO_NEED_MORE)
			request_read_call(msg, call);
		request_fail(res, out, start);
		return;
	}
	if (transport_reply_begin(msg, out) != 0) {
		memset(call, 0, sizeof *call);
		call->status = PROTO_TOO_BIG;
		call->error = "reply exceeds the output buffer limit";
	} else if (msg->refusal != NULL) {
		request_refuse(msg, out, call);
	} else {
		dispatch_message(msg->proto, msg->data, msg->len, limits, out, call);
	}
	request_settle(t, limits, out, start, res);
}

void
request_process_unframed_end(struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, size_t start,
    struct request_result *res)
{
	transport_next(t, data, len, limits->max_message_size, &res->message);
	request_settle(t, limits, out, start, res);
}

int
request_error_reply(const struct request_result *res, struct buf *out)
{
	size_t start = out->len;

	if (res->call.message_type != PROTO_CALL || res->message.proto == NULL)
		return -1;
	if (transport_reply_begin(&res->message, out) != 0)
		return -1;
	if (dispatch_error_reply(res->message.proto, &res->call, out) != 0) {
		out->len = start;
		return -1;
	}
	transport_reply_end(&res->message, out, start);
	return 0;
}
