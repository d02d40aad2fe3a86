/*
 * fuzz_proxy: libFuzzer harness for the PROXY protocol header parser
 * (proxy.c), fed a connection's first bytes.  Besides the sanitizers it
 * checks the parser's contract: a header is DONE whatever follows it and
 * NEED_MORE when cut short, one more byte never turns BAD into anything
 * else, and every result is self-consistent.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Parse a private copy of data[0..len), so a read past len is caught. */
static enum proxy_status
fuzz_parse(const uint8_t *data, size_t len, struct proxy_result *res)
{
	uint8_t			*copy = malloc(len > 0 ? len : 1);
	enum proxy_status	 st;

	if (copy == NULL)
		abort();
	if (len > 0)
		memcpy(copy, data, len);
	st = proxy_parse(copy, len, res);
	free(copy);
	return st;
}

static void
fuzz_check_result(enum proxy_status st, const struct proxy_result *res, size_t len)
{
	switch (st) {
	case PROXY_DONE:
		if (res->len == 0 || res->len > len || res->error != NULL)
			abort();
		if (res->version == 1 ? res->len > PROXY_V1_MAX_LEN :
		    res->version == 2 ? res->len > PROXY_V2_MAX_LEN : 1)
			abort();
		if (res->command != PROXY_CMD_PROXY &&
		    !(res->command == PROXY_CMD_LOCAL && res->version == 2))
			abort();
		if (res->addresses) {
			if (res->command != PROXY_CMD_PROXY ||
			    res->src.ss_family != res->dst.ss_family)
				abort();
			if (res->src.ss_family == AF_INET ?
			    res->addr_len != sizeof(struct sockaddr_in) :
			    res->src.ss_family == AF_INET6 ?
			    res->addr_len != sizeof(struct sockaddr_in6) : 1)
				abort();
		} else if (res->addr_len != 0 || res->src.ss_family != AF_UNSPEC ||
		    res->dst.ss_family != AF_UNSPEC) {
			abort();
		}
		break;
	case PROXY_NEED_MORE:
		if (res->need <= len || res->error != NULL || res->len != 0 || res->addresses)
			abort();
		if (len >= PROXY_V2_MAX_LEN)
			abort();	/* no header is that long */
		break;
	case PROXY_BAD:
		if (res->error == NULL || res->error[0] == '\0' || res->len != 0 ||
		    res->addresses)
			abort();
		break;
	default:
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct proxy_result	 res, again;
	enum proxy_status	 st, st2;
	const char		*error = NULL;
	unsigned		 version;

	st = fuzz_parse(data, len, &res);
	fuzz_check_result(st, &res, len);

	/* detection agrees with the parser */
	if (proxy_detect(data, len, &version, &error) == PROXY_BAD && st != PROXY_BAD)
		abort();

	/* one byte less: BAD stays BAD, DONE stays the same DONE */
	if (len > 0) {
		st2 = fuzz_parse(data, len - 1, &again);
		fuzz_check_result(st2, &again, len - 1);
		if (st2 == PROXY_BAD && st != PROXY_BAD)
			abort();
		if (st2 == PROXY_DONE && (st != PROXY_DONE || again.len != res.len))
			abort();
	}

	/* a header is the same header alone, and wants more when cut short */
	if (st == PROXY_DONE) {
		st2 = fuzz_parse(data, res.len, &again);
		if (st2 != PROXY_DONE || again.len != res.len ||
		    again.command != res.command || again.addresses != res.addresses ||
		    memcmp(&again.src, &res.src, sizeof res.src) != 0 ||
		    memcmp(&again.dst, &res.dst, sizeof res.dst) != 0)
			abort();
		st2 = fuzz_parse(data, res.len - 1, &again);
		if (st2 != PROXY_NEED_MORE || again.need > res.len)
			abort();
		st2 = fuzz_parse(data, res.len / 2, &again);
		if (st2 != PROXY_NEED_MORE || again.need > res.len)
			abort();
	}
	return 0;
}
