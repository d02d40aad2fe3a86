/*
 * request: a connection's next message through transport and dispatch.
 * transport_next finds the message and what its reply's frame needs;
 * the reply frame is begun, dispatch appends the reply inside it, and
 * transport_message_end says how much input the message took.
 */
#include <string.h>

#include "request.h"

/* The message failed: nothing of its reply stays in out. */
static void
request_fail(struct request_result *res, struct buf *out, size_t start)
{
	out->len = start;
	res->status = res->message.status;
	res->need = res->message.need;
	res->error = res->message.error;
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

void
request_process(const struct transport *t, const uint8_t *data, size_t len,
    const struct dispatch_limits *limits, struct buf *out, struct request_result *res)
{
	struct transport_message	*msg = &res->message;
	struct dispatch_result		*call = &res->call;
	size_t				 start = out->len;

	res->consumed = 0;
	res->replied = false;
	transport_next(t, data, len, limits->max_message_size, msg);
	if (msg->status != PROTO_OK) {
		memset(call, 0, sizeof *call);	/* nothing was called */
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
	transport_message_end(msg, call->status, call->consumed, call->need, call->error);
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
