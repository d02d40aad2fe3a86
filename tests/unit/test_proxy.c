/*
 * test_proxy: the PROXY protocol header parser, v1 and v2, against the
 * examples and limits of HAProxy's doc/proxy-protocol.txt and the exact
 * bytes HAProxy 2.6 sends (send-proxy, send-proxy-v2, its health checks):
 * every prefix of a header wants more, the bytes after it are left alone,
 * and malformed headers are refused as early as their bytes allow.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_common.h"
#include "proxy.h"

#define V2_SIG		"0d0a0d0a 000d0a51 5549540a"

/* A Thrift call that follows the header: framed strict-binary ping(). */
#define PING_HEX	"00000011 80010001 00000004 70696e67 00000001 00"

static const char *
proxy_status_name(enum proxy_status st)
{
	switch (st) {
	case PROXY_NEED_MORE:	return "NEED_MORE";
	case PROXY_DONE:	return "DONE";
	case PROXY_BAD:		return "BAD";
	default:		return "?";
	}
}

/* Parse a private copy of exactly len bytes, so a read past them is caught. */
static enum proxy_status
parse_copy(const uint8_t *data, size_t len, struct proxy_result *res)
{
	uint8_t			*copy = malloc(len > 0 ? len : 1);
	enum proxy_status	 st;

	ck_assert_ptr_nonnull(copy);
	if (len > 0)
		memcpy(copy, data, len);
	st = proxy_parse(copy, len, res);
	free(copy);
	return st;
}

/*
 * hdr[0..len) is one whole, valid header: every shorter prefix wants more
 * (and never more bytes than the header has), the header alone is DONE, and
 * so is the header followed by a Thrift call or by a second header, with
 * only the header's bytes consumed.  The result of the last parse is left
 * in *res.
 */
static void
expect_header(const uint8_t *hdr, size_t len, struct proxy_result *res)
{
	static const uint8_t	 second_v1[] = "PROXY UNKNOWN\r\n";
	uint8_t			 buf[PROXY_V2_MAX_LEN + 64];
	struct hexin		 ping;
	struct proxy_result	 alone;
	enum proxy_status	 st;

	ck_assert_uint_le(len + sizeof second_v1, sizeof buf);
	for (size_t k = 0; k < len; k++) {
		st = parse_copy(hdr, k, res);
		ck_assert_msg(st == PROXY_NEED_MORE, "prefix of %zu of %zu bytes: %s (%s)",
		    k, len, proxy_status_name(st), res->error ? res->error : "");
		ck_assert_msg(res->need > k && res->need <= len,
		    "prefix of %zu of %zu bytes: need %zu", k, len, res->need);
		ck_assert_ptr_null(res->error);
		ck_assert_uint_eq(res->len, 0);
		ck_assert(!res->addresses);
	}
	st = parse_copy(hdr, len, &alone);
	ck_assert_msg(st == PROXY_DONE, "whole header of %zu bytes: %s (%s)", len,
	    proxy_status_name(st), alone.error ? alone.error : "");
	ck_assert_uint_eq(alone.len, len);
	ck_assert_ptr_null(alone.error);

	ping.len = hex_decode(PING_HEX, ping.data, sizeof ping.data);
	memcpy(buf, hdr, len);
	memcpy(buf + len, ping.data, ping.len);
	st = parse_copy(buf, len + ping.len, res);
	ck_assert_int_eq(st, PROXY_DONE);
	ck_assert_uint_eq(res->len, len);

	memcpy(buf + len, second_v1, sizeof second_v1 - 1);
	st = parse_copy(buf, len + sizeof second_v1 - 1, res);
	ck_assert_int_eq(st, PROXY_DONE);
	ck_assert_uint_eq(res->len, len);

	/* What follows the header changes nothing in the result. */
	ck_assert_uint_eq(res->version, alone.version);
	ck_assert_int_eq(res->command, alone.command);
	ck_assert_int_eq(res->addresses, alone.addresses);
	ck_assert_uint_eq(res->addr_len, alone.addr_len);
	ck_assert(memcmp(&res->src, &alone.src, sizeof res->src) == 0);
	ck_assert(memcmp(&res->dst, &alone.dst, sizeof res->dst) == 0);
}

static void
expect_header_text(const char *text, struct proxy_result *res)
{
	expect_header((const uint8_t *)text, strlen(text), res);
}

static void
expect_header_hex(const char *hex, struct proxy_result *res)
{
	struct hexin	in;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	expect_header(in.data, in.len, res);
}

/*
 * data[0..len) is not a valid header: the whole of it is BAD with a reason,
 * already so at bad_by bytes (when bad_by > 0), and its prefixes go
 * NEED_MORE ... NEED_MORE BAD ... BAD, never DONE.
 */
static void
expect_bad(const uint8_t *data, size_t len, size_t bad_by, const char *reason)
{
	struct proxy_result	res;
	enum proxy_status	st;
	bool			seen_bad = false;

	ck_assert_uint_le(bad_by, len);
	for (size_t k = 0; k <= len; k++) {
		st = parse_copy(data, k, &res);
		ck_assert_msg(st != PROXY_DONE, "prefix of %zu of %zu bytes parsed", k, len);
		if (seen_bad || (bad_by > 0 && k >= bad_by) || k == len)
			ck_assert_msg(st == PROXY_BAD, "prefix of %zu of %zu bytes: %s, want BAD",
			    k, len, proxy_status_name(st));
		if (st == PROXY_BAD) {
			seen_bad = true;
			ck_assert_ptr_nonnull(res.error);
			ck_assert_uint_gt(strlen(res.error), 0);
			ck_assert_uint_eq(res.len, 0);
			ck_assert(!res.addresses);
		}
	}
	if (reason != NULL)
		ck_assert_msg(strstr(res.error, reason) != NULL, "error \"%s\", want \"%s\"",
		    res.error, reason);
}

static void
expect_bad_text(const char *text, size_t bad_by, const char *reason)
{
	expect_bad((const uint8_t *)text, strlen(text), bad_by, reason);
}

static void
expect_bad_hex(const char *hex, size_t bad_by, const char *reason)
{
	struct hexin	in;

	in.len = hex_decode(hex, in.data, sizeof in.data);
	expect_bad(in.data, in.len, bad_by, reason);
}

static void
assert_inet(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	struct in_addr			 want;

	ck_assert_int_eq(ss->ss_family, AF_INET);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &want), 1);
	ck_assert_msg(sin->sin_addr.s_addr == want.s_addr, "address differs from %s", addr);
	ck_assert_uint_eq(ntohs(sin->sin_port), port);
}

static void
assert_inet6(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;
	struct in6_addr			 want;

	ck_assert_int_eq(ss->ss_family, AF_INET6);
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &want), 1);
	ck_assert_msg(memcmp(&sin6->sin6_addr, &want, sizeof want) == 0,
	    "address differs from %s", addr);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), port);
	ck_assert_uint_eq(sin6->sin6_scope_id, 0);
}

static void
assert_no_addresses(const struct proxy_result *res)
{
	ck_assert(!res->addresses);
	ck_assert_uint_eq(res->addr_len, 0);
	ck_assert_int_eq(res->src.ss_family, AF_UNSPEC);
	ck_assert_int_eq(res->dst.ss_family, AF_UNSPEC);
}

/* --- detection ------------------------------------------------------------ */

START_TEST(detect_signatures)
{
	static const uint8_t	v2[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
	    0x55, 0x49, 0x54, 0x0a };
	const char		*error = NULL;
	unsigned		 version = 9;

	ck_assert_int_eq(proxy_detect(v2, 0, &version, &error), PROXY_NEED_MORE);
	ck_assert_uint_eq(version, 0);
	for (size_t k = 1; k < sizeof v2; k++)
		ck_assert_int_eq(proxy_detect(v2, k, &version, &error), PROXY_NEED_MORE);
	ck_assert_int_eq(proxy_detect(v2, sizeof v2, &version, &error), PROXY_DONE);
	ck_assert_uint_eq(version, 2);
	for (size_t k = 1; k < 5; k++)
		ck_assert_int_eq(proxy_detect((const uint8_t *)"PROXY", k, &version, &error),
		    PROXY_NEED_MORE);
	ck_assert_int_eq(proxy_detect((const uint8_t *)"PROXY", 5, &version, &error),
	    PROXY_DONE);
	ck_assert_uint_eq(version, 1);
	ck_assert_ptr_null(error);
}
END_TEST

/* A Thrift client on a PROXY listener is refused on its first byte. */
START_TEST(detect_refuses_thrift_at_once)
{
	static const char *const firsts[] = {
		PING_HEX,			/* framed */
		"80010001 00000004",		/* unframed strict binary */
		"82 21 02 04 70696e67 00",	/* compact */
		"16 0301",			/* TLS */
	};
	struct hexin	 in;
	const char	*error;
	unsigned	 version;

	for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
		in.len = hex_decode(firsts[i], in.data, sizeof in.data);
		error = NULL;
		ck_assert_int_eq(proxy_detect(in.data, 1, &version, &error), PROXY_BAD);
		ck_assert_str_eq(error, "expected a PROXY protocol header");
		ck_assert_uint_eq(version, 0);
		expect_bad(in.data, in.len, 1, "expected a PROXY protocol header");
	}
	expect_bad_text("GET / HTTP/1.1\r\n\r\n", 1, "expected a PROXY protocol header");
	expect_bad_text("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1, NULL);
	expect_bad_text("PROXZ TCP4", 5, "expected a PROXY protocol header");
	expect_bad_text("PROX\r\n", 5, "expected a PROXY protocol header");
	expect_bad_hex("0d0a0d0a 000d0a51 5549540b 21", 12, "expected a PROXY protocol header");
	expect_bad_hex("0d0a0d0a 0a", 5, "expected a PROXY protocol header");
}
END_TEST

/* --- version 1 ------------------------------------------------------------ */

/* The spec's example (2.1), ahead of its HTTP request. */
START_TEST(v1_tcp4_spec_example)
{
	static const char	 line[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	static const char	 text[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
	    "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
	struct proxy_result	 res;

	expect_header_text(line, &res);
	ck_assert_int_eq(proxy_parse((const uint8_t *)text, sizeof text - 1, &res), PROXY_DONE);
	ck_assert_uint_eq(res.len, sizeof line - 1);
	ck_assert_uint_eq(res.version, 1);
	ck_assert_int_eq(res.command, PROXY_CMD_PROXY);
	ck_assert(res.addresses);
	ck_assert_uint_eq(res.addr_len, sizeof(struct sockaddr_in));
	assert_inet(&res.src, "192.168.0.1", 56324);
	assert_inet(&res.dst, "192.168.0.11", 443);
}
END_TEST

/* What HAProxy 2.6 sends with send-proxy (captured from a real one). */
START_TEST(v1_tcp4_from_haproxy)
{
	struct proxy_result	res;

	expect_header_hex("50524f5859 20 54435034 20 3132372e302e302e31 20"
	    " 3132372e302e302e31 20 3539323230 20 3139323032 0d0a", &res);
	assert_inet(&res.src, "127.0.0.1", 59220);
	assert_inet(&res.dst, "127.0.0.1", 19202);
}
END_TEST

/* The spec's longest TCP4 line (56 bytes), and the smallest values. */
START_TEST(v1_tcp4_limits)
{
	struct proxy_result	res;

	expect_header_text("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", &res);
	ck_assert_uint_eq(res.len, 56);
	assert_inet(&res.src, "255.255.255.255", 65535);
	assert_inet(&res.dst, "255.255.255.255", 65535);
	expect_header_text("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", &res);
	assert_inet(&res.src, "0.0.0.0", 0);
	assert_inet(&res.dst, "0.0.0.0", 0);
}
END_TEST

START_TEST(v1_tcp6)
{
	static const char	 longest[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct proxy_result	 res;

	expect_header_text("PROXY TCP6 2001:db8::1 ::1 56324 443\r\n", &res);
	ck_assert_uint_eq(res.version, 1);
	ck_assert_int_eq(res.command, PROXY_CMD_PROXY);
	ck_assert(res.addresses);
	ck_assert_uint_eq(res.addr_len, sizeof(struct sockaddr_in6));
	assert_inet6(&res.src, "2001:db8::1", 56324);
	assert_inet6(&res.dst, "::1", 443);

	/* the spec's longest TCP6 line: 104 bytes */
	ck_assert_uint_eq(sizeof longest - 1, 104);
	expect_header_text(longest, &res);
	assert_inet6(&res.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

	/* upper and lower case hex, full and shortened groups */
	expect_header_text("PROXY TCP6 FE80:0000:0:0:0:0:0:AbCd :: 1 2\r\n", &res);
	assert_inet6(&res.src, "fe80::abcd", 1);
	assert_inet6(&res.dst, "::", 2);
}
END_TEST

START_TEST(v1_unknown)
{
	/* the spec's worst case: 107 bytes */
	static const char	 worst[] = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct proxy_result	 res;
	char			 line[PROXY_V1_MAX_LEN + 1];

	expect_header_text("PROXY UNKNOWN\r\n", &res);
	ck_assert_uint_eq(res.len, 15);
	ck_assert_uint_eq(res.version, 1);
	ck_assert_int_eq(res.command, PROXY_CMD_PROXY);
	assert_no_addresses(&res);

	ck_assert_uint_eq(sizeof worst - 1, PROXY_V1_MAX_LEN);
	expect_header_text(worst, &res);
	assert_no_addresses(&res);

	/* anything before the CRLF is ignored, even what TCP4 would refuse */
	expect_header_text("PROXY UNKNOWN 1.2.3.4 5.6.7.8 99999 0443\r\n", &res);
	assert_no_addresses(&res);
	expect_header_text("PROXY UNKNOWN \r\n", &res);

	/* exactly 107 bytes with CRLF is the limit */
	memset(line, 'x', sizeof line);
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + PROXY_V1_MAX_LEN - 2, "\r\n", 3);
	ck_assert_uint_eq(strlen(line), PROXY_V1_MAX_LEN);
	expect_header_text(line, &res);
}
END_TEST

START_TEST(v1_no_crlf_within_107_bytes)
{
	char	line[300];

	/* 108 bytes with CRLF: BAD by the 107th byte, without waiting for more */
	memset(line, 'x', sizeof line);
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + PROXY_V1_MAX_LEN - 1, "\r\n", 3);
	expect_bad_text(line, PROXY_V1_MAX_LEN, "107");

	memset(line, 'x', sizeof line);
	memcpy(line, "PROXY UNKNOWN ", 14);
	line[sizeof line - 1] = '\0';
	expect_bad_text(line, PROXY_V1_MAX_LEN, "107");

	/* a TCP6 line padded past the limit fails on its fields */
	expect_bad_text("PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:00001 ::1 1 2\r\n", 0,
	    "source address");
}
END_TEST

START_TEST(v1_line_end)
{
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n", 0, "CRLF");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX", 0, "CRLF");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\r\n", 0, "CRLF");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n", 0, "CRLF");
	expect_bad_text("PROXY UNKNOWN\n", 0, "protocol");
	expect_bad_text("PROXY UNKNOWN\rX", 0, "CRLF");
	expect_bad_text("PROXY UNKNOWN x\ny\r\n", 16, "CRLF");
	expect_bad_text("PROXY UNKNOWN x\ry\r\n", 17, "CRLF");
	expect_bad_text("PROXY\r\n", 6, "space");
	expect_bad_text("PROXY \r\n", 0, "protocol");
}
END_TEST

START_TEST(v1_bad_protocol)
{
	expect_bad_text("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 10, "protocol");
	expect_bad_text("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 8, "protocol");
	expect_bad_text("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", 7, "protocol");
	expect_bad_text("PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n", 10, "protocol");
	expect_bad_text("PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n", 11, "protocol");
	expect_bad_text("PROXY UNKNOWNX\r\n", 14, "protocol");
	expect_bad_text("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 7, "protocol");
	expect_bad_text("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", 6, "space");
}
END_TEST

START_TEST(v1_bad_fields)
{
	/* the address must be of the family named */
	expect_bad_text("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", 12, "source address");
	expect_bad_text("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 13, "source address");
	expect_bad_text("PROXY TCP6 ::1 ::ffff:1.2.3.4 1 2\r\n", 0, "destination address");
	/* IPv4: four numbers 0..255, no leading zeros, single dots */
	expect_bad_text("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n", 0, "destination address");
	expect_bad_text("PROXY TCP4 1.2.3.4 255.255.255.2555 1 2\r\n", 0, "destination address");
	expect_bad_text("PROXY TCP4 1.2.3.4 -5.6.7.8 1 2\r\n", 20, "destination address");
	/* IPv6: hex groups and one "::", 128 bits */
	expect_bad_text("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP6 12345::1 ::1 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP6 2001:db8::1::2 ::1 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP6 ::: ::1 1 2\r\n", 0, "source address");
	expect_bad_text("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", 19, "source address");
	expect_bad_text("PROXY TCP6 g::1 ::1 1 2\r\n", 12, "source address");
	/* ports: decimal 0..65535, no leading zeros, no sign */
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n", 0, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n", 0, "destination port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 99999 443\r\n", 0, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 100000 443\r\n", 33, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n", 0, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 00 443\r\n", 0, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n", 28, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n", 28, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 0x50 443\r\n", 29, "source port");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80 44a\r\n", 33, "destination port");
	/* exactly one space between fields, all four of them */
	expect_bad_text("PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n", 20, "destination address");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", 30, "fields missing");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8\r\n", 27, "fields missing");
	expect_bad_text("PROXY TCP4\r\n", 11, "fields missing");
	expect_bad_text("PROXY TCP4 1.2.3.4 5.6.7.8 80 443 8\r\n", 34, "CRLF");
	expect_bad_text("PROXY TCP4 1.2.3.4\t5.6.7.8 80 443\r\n", 19, "source address");
}
END_TEST

/* --- version 2 ------------------------------------------------------------ */

/* What HAProxy 2.6 sends with send-proxy-v2 for a client over IPv4. */
START_TEST(v2_tcp4_from_haproxy)
{
	struct proxy_result	res;

	expect_header_hex(V2_SIG " 21 11 000c 7f000001 7f000001 d8b2 4b00", &res);
	ck_assert_uint_eq(res.len, 28);
	ck_assert_uint_eq(res.version, 2);
	ck_assert_int_eq(res.command, PROXY_CMD_PROXY);
	ck_assert(res.addresses);
	ck_assert_uint_eq(res.addr_len, sizeof(struct sockaddr_in));
	assert_inet(&res.src, "127.0.0.1", 55474);
	assert_inet(&res.dst, "127.0.0.1", 19200);

	/* the spec's example addresses, in the binary form */
	expect_header_hex(V2_SIG " 21 11 000c c0a80001 c0a8000b dc04 01bb", &res);
	assert_inet(&res.src, "192.168.0.1", 56324);
	assert_inet(&res.dst, "192.168.0.11", 443);
}
END_TEST

/* ... and for a client over IPv6. */
START_TEST(v2_tcp6_from_haproxy)
{
	struct proxy_result	res;

	expect_header_hex(V2_SIG " 21 21 0024"
	    " 00000000000000000000000000000001 00000000000000000000000000000001"
	    " 9562 4b04", &res);
	ck_assert_uint_eq(res.len, 52);
	ck_assert_int_eq(res.command, PROXY_CMD_PROXY);
	ck_assert(res.addresses);
	ck_assert_uint_eq(res.addr_len, sizeof(struct sockaddr_in6));
	assert_inet6(&res.src, "::1", 38242);
	assert_inet6(&res.dst, "::1", 19204);

	expect_header_hex(V2_SIG " 21 21 0024"
	    " 20010db8000000000000000000000001 fe800000000000000000000000abcdef"
	    " ffff 0000", &res);
	assert_inet6(&res.src, "2001:db8::1", 65535);
	assert_inet6(&res.dst, "fe80::ab:cdef", 0);
}
END_TEST

/* HAProxy's health check with send-proxy-v2 and "tcp-check connect default". */
START_TEST(v2_local)
{
	struct proxy_result	res;

	expect_header_hex(V2_SIG " 20 00 0000", &res);
	ck_assert_uint_eq(res.len, 16);
	ck_assert_uint_eq(res.version, 2);
	ck_assert_int_eq(res.command, PROXY_CMD_LOCAL);
	assert_no_addresses(&res);

	/* LOCAL ignores the family and skips whatever the length covers */
	expect_header_hex(V2_SIG " 20 11 000c 7f000001 7f000001 d8b2 4b00", &res);
	ck_assert_int_eq(res.command, PROXY_CMD_LOCAL);
	assert_no_addresses(&res);
	expect_header_hex(V2_SIG " 20 ff 0003 040000", &res);
	ck_assert_int_eq(res.command, PROXY_CMD_LOCAL);
	assert_no_addresses(&res);
	expect_header_hex(V2_SIG " 20 00 000a 03 0004 11223344 04 0000", &res);
	ck_assert_uint_eq(res.len, 26);
	assert_no_addresses(&res);
}
END_TEST

START_TEST(v2_tlvs_skipped)
{
	struct proxy_result	res;

	/* TCP4, then CRC32C, NOOP, UNIQUE_ID "abc", an empty AUTHORITY */
	expect_header_hex(V2_SIG " 21 11 0022 0a000001 0a000002 1f90 2382"
	    " 03 0004 deadbeef  04 0003 000000  05 0003 616263  02 0000", &res);
	ck_assert_uint_eq(res.len, 16 + 34);
	assert_inet(&res.src, "10.0.0.1", 8080);
	assert_inet(&res.dst, "10.0.0.2", 9090);

	/* TCP6, then an SSL TLV with a sub-TLV (version "TLSv1.3") */
	expect_header_hex(V2_SIG " 21 21 0036"
	    " 20010db8000000000000000000000002 20010db8000000000000000000000003 0001 0002"
	    " 20 000f 01 00000000 21 0007 544c5376312e33", &res);
	assert_inet6(&res.src, "2001:db8::2", 1);
	assert_inet6(&res.dst, "2001:db8::3", 2);
}
END_TEST

/* PROXY over what calcd cannot use: the spec's fall back to UNSPEC. */
START_TEST(v2_proxy_unspec_udp_unix)
{
	struct proxy_result	res;
	char			hex[2048];
	int			n;

	expect_header_hex(V2_SIG " 21 00 0000", &res);
	ck_assert_int_eq(res.command, PROXY_CMD_PROXY);
	assert_no_addresses(&res);
	expect_header_hex(V2_SIG " 21 00 0005 0102030405", &res);
	assert_no_addresses(&res);
	expect_header_hex(V2_SIG " 21 10 000c 7f000001 7f000001 d8b2 4b00", &res);
	assert_no_addresses(&res);
	expect_header_hex(V2_SIG " 21 01 0000", &res);
	assert_no_addresses(&res);
	/* UDP over IPv4 and IPv6 */
	expect_header_hex(V2_SIG " 21 12 000c 7f000001 7f000001 d8b2 4b00", &res);
	assert_no_addresses(&res);
	expect_header_hex(V2_SIG " 21 22 0024"
	    " 00000000000000000000000000000001 00000000000000000000000000000001"
	    " 9562 4b04", &res);
	assert_no_addresses(&res);
	/* AF_UNIX stream and datagram: 2 * 108 bytes of paths */
	for (int t = 1; t <= 2; t++) {
		n = snprintf(hex, sizeof hex, V2_SIG " 21 3%d 00d8 ", t);
		for (int i = 0; i < 216; i++)
			n += snprintf(hex + n, sizeof hex - (size_t)n, "%02x", i < 108 ? 0x2f : 0);
		expect_header_hex(hex, &res);
		ck_assert_uint_eq(res.len, 16 + 216);
		assert_no_addresses(&res);
	}
}
END_TEST

START_TEST(v2_bad_version_command_family)
{
	expect_bad_hex(V2_SIG " 11 11 000c 7f000001 7f000001 d8b2 4b00", 13, "version");
	expect_bad_hex(V2_SIG " 31 11 000c 7f000001 7f000001 d8b2 4b00", 13, "version");
	expect_bad_hex(V2_SIG " 01 11 000c 7f000001 7f000001 d8b2 4b00", 13, "version");
	expect_bad_hex(V2_SIG " 22 11 000c 7f000001 7f000001 d8b2 4b00", 13, "command");
	expect_bad_hex(V2_SIG " 2f 00 0000", 13, "command");
	expect_bad_hex(V2_SIG " 21 41 000c 7f000001 7f000001 d8b2 4b00", 14, "family");
	expect_bad_hex(V2_SIG " 21 f1 000c 7f000001 7f000001 d8b2 4b00", 14, "family");
	expect_bad_hex(V2_SIG " 21 13 000c 7f000001 7f000001 d8b2 4b00", 14, "transport");
	expect_bad_hex(V2_SIG " 21 1f 000c 7f000001 7f000001 d8b2 4b00", 14, "transport");
}
END_TEST

START_TEST(v2_length_limits)
{
	uint8_t			hdr[PROXY_V2_MAX_LEN + 1];
	struct proxy_result	res;

	/* refused from the length field alone, without waiting for the bytes */
	expect_bad_hex(V2_SIG " 21 11 0405", 16, "longer");
	expect_bad_hex(V2_SIG " 20 00 0401", 16, "longer");
	expect_bad_hex(V2_SIG " 21 11 ffff 7f000001 7f000001 d8b2 4b00", 16, "longer");

	/* the largest header taken: TCP4 and one NOOP TLV filling the rest */
	memset(hdr, 0, sizeof hdr);
	hex_decode(V2_SIG " 21 11 0400 0a000001 0a000002 0050 0051", hdr, sizeof hdr);
	hdr[28] = 0x04;
	hdr[29] = (PROXY_V2_MAX_LEN - 28 - 3) >> 8;
	hdr[30] = (PROXY_V2_MAX_LEN - 28 - 3) & 0xff;
	expect_header(hdr, PROXY_V2_MAX_LEN, &res);
	ck_assert_uint_eq(res.len, PROXY_V2_MAX_LEN);
	assert_inet(&res.src, "10.0.0.1", 80);

	/* one more byte of length is too many */
	hdr[14] = 0x04;
	hdr[15] = 0x01;
	expect_bad(hdr, sizeof hdr, 16, "longer");
}
END_TEST

START_TEST(v2_truncated_addresses)
{
	/* refused at the length field: too short for the family named */
	expect_bad_hex(V2_SIG " 21 11 0000", 16, "too short");
	expect_bad_hex(V2_SIG " 21 11 000b 7f000001 7f000001 d8b2 4b", 16, "too short");
	expect_bad_hex(V2_SIG " 21 21 000c 7f000001 7f000001 d8b2 4b00", 16, "too short");
	expect_bad_hex(V2_SIG " 21 21 0023"
	    " 00000000000000000000000000000001 00000000000000000000000000000001 9562 4b",
	    16, "too short");
	expect_bad_hex(V2_SIG " 21 12 0008 7f000001 7f000001", 16, "too short");
	expect_bad_hex(V2_SIG " 21 22 0010 00000000000000000000000000000001", 16, "too short");
	expect_bad_hex(V2_SIG " 21 31 00d7", 16, "too short");
	expect_bad_hex(V2_SIG " 21 32 000c 7f000001 7f000001 d8b2 4b00", 16, "too short");
}
END_TEST

START_TEST(v2_bad_tlvs)
{
	/* a TLV longer than what is left, or a TLV header cut short */
	expect_bad_hex(V2_SIG " 21 11 000f 7f000001 7f000001 d8b2 4b00 04 0001", 0, "TLV");
	expect_bad_hex(V2_SIG " 21 11 0011 7f000001 7f000001 d8b2 4b00 04 0005 0000", 0, "TLV");
	expect_bad_hex(V2_SIG " 21 11 000e 7f000001 7f000001 d8b2 4b00 04 00", 0, "TLV");
	expect_bad_hex(V2_SIG " 21 11 000d 7f000001 7f000001 d8b2 4b00 04", 0, "TLV");
	expect_bad_hex(V2_SIG " 21 11 0013 7f000001 7f000001 d8b2 4b00 04 0000 04 0002 00",
	    0, "TLV");
	expect_bad_hex(V2_SIG " 21 21 0027"
	    " 00000000000000000000000000000001 00000000000000000000000000000001"
	    " 9562 4b04 05 ffff", 0, "TLV");
}
END_TEST

/* A whole v2 header cut anywhere is never taken for a shorter one. */
START_TEST(v2_bytes_after_not_consumed)
{
	struct hexin		in;
	struct proxy_result	res;

	in.len = hex_decode(V2_SIG " 21 11 000c 7f000001 7f000001 d8b2 4b00 " PING_HEX,
	    in.data, sizeof in.data);
	ck_assert_int_eq(proxy_parse(in.data, in.len, &res), PROXY_DONE);
	ck_assert_uint_eq(res.len, 28);
	ck_assert_uint_eq(in.data[res.len], 0x00);
	ck_assert_uint_eq(in.data[res.len + 4], 0x80);
	/* a v2 header followed by a v1 one: only the first is taken */
	in.len = hex_decode(V2_SIG " 20 00 0000 50524f585920554e4b4e4f574e0d0a",
	    in.data, sizeof in.data);
	ck_assert_int_eq(proxy_parse(in.data, in.len, &res), PROXY_DONE);
	ck_assert_uint_eq(res.len, 16);
	ck_assert_int_eq(res.command, PROXY_CMD_LOCAL);
}
END_TEST

static Suite *
proxy_suite(void)
{
	Suite	*s = suite_create("proxy");
	TCase	*tc;

	tc = tcase_create("detect");
	tcase_add_test(tc, detect_signatures);
	tcase_add_test(tc, detect_refuses_thrift_at_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("v1");
	tcase_add_test(tc, v1_tcp4_spec_example);
	tcase_add_test(tc, v1_tcp4_from_haproxy);
	tcase_add_test(tc, v1_tcp4_limits);
	tcase_add_test(tc, v1_tcp6);
	tcase_add_test(tc, v1_unknown);
	tcase_add_test(tc, v1_no_crlf_within_107_bytes);
	tcase_add_test(tc, v1_line_end);
	tcase_add_test(tc, v1_bad_protocol);
	tcase_add_test(tc, v1_bad_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("v2");
	tcase_add_test(tc, v2_tcp4_from_haproxy);
	tcase_add_test(tc, v2_tcp6_from_haproxy);
	tcase_add_test(tc, v2_local);
	tcase_add_test(tc, v2_tlvs_skipped);
	tcase_add_test(tc, v2_proxy_unspec_udp_unix);
	tcase_add_test(tc, v2_bad_version_command_family);
	tcase_add_test(tc, v2_length_limits);
	tcase_add_test(tc, v2_truncated_addresses);
	tcase_add_test(tc, v2_bad_tlvs);
	tcase_add_test(tc, v2_bytes_after_not_consumed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return codec_run_suite(proxy_suite());
}
