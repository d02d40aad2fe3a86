/*
 * fuzz_wire: libFuzzer harness for everything between the socket and the
 * handlers — transport detection, framing, both codecs, dispatch and the
 * reply encoders — fed one connection's bytes at a time.  Each input is
 * answered twice: a message at a time (request_process), and in runs of
 * several (request_run, as conn does); both must answer alike.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "calc.h"
#include "request.h"

#define FUZZ_MAX_MESSAGE	(64 * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What a connection's bytes came to. */
struct fuzz_answer {
	uint64_t		hash;		/* of all that went to out, in order */
	size_t			out_len;	/* how much that was */
	size_t			consumed;	/* input taken by answered messages */
	unsigned		calls;		/* messages answered */
	enum proto_status	status;		/* of the last message taken */
	size_t			need;		/* with NEED_MORE */
};

/* Fold out into the answer and empty it. */
static void
fuzz_take(struct buf *out, struct fuzz_answer *a)
{
	for (size_t i = 0; i < out->len; i++)
		a->hash = (a->hash ^ out->data[i]) * 0x100000001b3u;	/* FNV-1a */
	a->out_len += out->len;
	out->len = 0;
}

/*
 * Answer data as conn does, max_calls at most per request_run (1:
 * request_process's way), out_limit the reply buffer's room per run.
 * out has room for 4 of the largest messages' replies.
 */
static void
fuzz_answer(const uint8_t *data, size_t len, const struct dispatch_limits *limits,
    unsigned max_calls, size_t out_limit, struct fuzz_answer *a)
{
	struct request_result	 res;
	struct transport	 t;
	struct buf		 out;
	const char		*error = NULL;

	*a = (struct fuzz_answer){ .hash = 0xcbf29ce484222325u, .status = PROTO_NEED_MORE };
	/* Every answer starts from an empty calculation log. */
	calc_log_free();
	if (calc_log_init(64) != 0)
		abort();
	if (transport_detect(data, len, &t, &error) != PROTO_OK)
		return;
	buf_init(&out, 4 * FUZZ_MAX_MESSAGE);
	while (a->consumed < len) {
		size_t		left = len - a->consumed, took = 0;
		unsigned	calls;

		calls = request_run(&t, data + a->consumed, left, limits, &out, out_limit,
		    max_calls, &took, &res);
		if (calls > max_calls || took > left || (res.status == PROTO_OK && calls == 0) ||
		    (calls == 0 && took != 0))
			abort();	/* more than asked, past the end, or a count gone wrong */
		a->consumed += took;
		a->calls += calls;
		a->status = res.status;
		if (res.status != PROTO_OK) {
			/* A failed message leaves no partial reply behind. */
			if (max_calls == 1 && out.len != 0)
				abort();
			if (res.status == PROTO_NEED_MORE && res.need <= len - a->consumed)
				abort();	/* it asked for bytes it already had */
			a->need = res.need;
			/* What conn does before closing: the error reply, if any. */
			if (res.status != PROTO_NEED_MORE)
				(void)request_error_reply(&res, &out);
			break;
		}
		if (took == 0)
			abort();	/* no progress */
		fuzz_take(&out, a);
	}
	fuzz_take(&out, a);
	transport_free(&t);	/* an unframed message's scan, if one was left unfinished */
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	/* Some inputs with a small max_message_size, so that some messages are over it. */
	struct dispatch_limits	limits = { len % 5 == 0 ? 100 : FUZZ_MAX_MESSAGE, 32 };
	struct fuzz_answer	one, runs;
	unsigned		max_calls = len % 8 == 0 ? UINT_MAX : (unsigned)(len % 8);
	/* (out has room for 4 of the largest messages: a run stops at 2) */
	size_t			out_limit = len % 3 == 0 ? 64 : 2 * FUZZ_MAX_MESSAGE;

	fuzz_answer(data, len, &limits, 1, SIZE_MAX, &one);
	fuzz_answer(data, len, &limits, max_calls, out_limit, &runs);
	if (one.hash != runs.hash || one.out_len != runs.out_len ||
	    one.consumed != runs.consumed || one.calls != runs.calls ||
	    one.status != runs.status || one.need != runs.need)
		abort();	/* answered otherwise in runs than a message at a time */
	return 0;
}
