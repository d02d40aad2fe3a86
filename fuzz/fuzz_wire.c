/*
 * fuzz_wire: libFuzzer harness for everything between the socket and the
 * handlers — transport detection, framing, both codecs, dispatch and the
 * reply encoders — fed one connection's bytes at a time.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "calc.h"
#include "request.h"

#define FUZZ_MAX_MESSAGE	(64 * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int		 initialized;
	struct dispatch_limits	 limits = { FUZZ_MAX_MESSAGE, 32 };
	struct request_result	 res;
	struct transport	 t;
	struct buf		 out;
	const char		*error = NULL;
	size_t			 off = 0;

	if (!initialized) {
		if (calc_log_init(64) != 0)
			abort();
		initialized = 1;
	}
	if (transport_detect(data, len, &t, &error) != PROTO_OK)
		return 0;
	buf_init(&out, 4 * FUZZ_MAX_MESSAGE);
	while (off < len) {
		size_t before = out.len;

		request_process(&t, data + off, len - off, &limits, &out, &res);
		if (res.status != PROTO_OK) {
			/* A failed message leaves no partial reply behind. */
			if (out.len != before)
				abort();
			if (res.status == PROTO_NEED_MORE && res.need <= len - off)
				abort();	/* it asked for bytes it already had */
			/* What conn does before closing: the error reply, if any. */
			if (res.status != PROTO_NEED_MORE)
				(void)request_error_reply(&res, &out);
			break;
		}
		if (res.consumed == 0 || res.consumed > len - off)
			abort();	/* no progress, or past the end */
		off += res.consumed;
		if (out.len > 2 * FUZZ_MAX_MESSAGE)
			out.len = 0;
	}
	transport_free(&t);	/* an unframed message's scan, if one was left unfinished */
	buf_free(&out);
	return 0;
}
