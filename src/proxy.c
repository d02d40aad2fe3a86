/*
 * proxy: parsing the PROXY protocol header, v1 (one text line) and v2
 * (binary), as HAProxy's doc/proxy-protocol.txt specifies it.
 *
 *   v1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF
 *       "PROXY" SP "UNKNOWN" [SP anything] CRLF      at most 107 bytes
 *   v2: 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A   the signature
 *       ver<<4|cmd  fam<<4|transport  len(16 bits)  addresses  TLVs
 *
 * Choices where the spec leaves them to the receiver:
 *   - v2 LOCAL: the family byte and everything after the fixed 16 bytes
 *     are ignored (skipped by the length), as the spec says for LOCAL.
 *   - v2 PROXY with an unspecified family or transport, or UDP or AF_UNIX:
 *     accepted, and the real connection's addresses used: the spec has a
 *     receiver fall back to UNSPEC for valid combinations it does not
 *     support.  The length must still hold that family's addresses.
 *   - v2 TLVs: skipped, not interpreted, but each must fit in the header
 *     (a TLV that overruns it is malformed).  The CRC32C TLV is not checked,
 *     which the spec allows a receiver that does not support it.
 *   - v1 UNKNOWN: whatever follows up to the CRLF is ignored, but a lone CR
 *     or LF in it is refused, as a line must end with a complete CRLF.
 *   - IPv6 in v1: hex groups and colons only (no dotted IPv4 tail, no zone),
 *     the form the spec gives.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy.h"

#define PROXY_V1_SIGNATURE_LEN	5
#define PROXY_V2_SIGNATURE_LEN	12
#define PROXY_V2_VERSION	2

/* Offsets in the 16 fixed bytes of a v2 header, after the signature. */
#define PROXY_V2_VER_CMD	12	/* version << 4 | command */
#define PROXY_V2_FAM		13	/* address family << 4 | transport */
#define PROXY_V2_LEN		14	/* 16-bit length of what follows */

#define PROXY_V1_MAX_IPV4	15	/* 255.255.255.255 */
#define PROXY_V1_MAX_IPV6	39	/* 8 groups of 4 hex digits, 7 colons */
#define PROXY_V1_MAX_PORT	5	/* 65535 */

/* v2 families and transports (high and low nibble of the 14th byte). */
#define PROXY_V2_AF_UNSPEC	0
#define PROXY_V2_AF_INET	1
#define PROXY_V2_AF_INET6	2
#define PROXY_V2_AF_UNIX	3
#define PROXY_V2_UNSPEC		0
#define PROXY_V2_STREAM		1
#define PROXY_V2_DGRAM		2

#define PROXY_V2_INET_LEN	12	/* 2 * 4 address bytes, 2 * 2 port bytes */
#define PROXY_V2_INET6_LEN	36	/* 2 * 16, 2 * 2 */
#define PROXY_V2_UNIX_LEN	216	/* 2 * 108 */
#define PROXY_V2_TLV_HEADER	3	/* type, 16-bit length */

_Static_assert(PROXY_V2_MAX_LEN == 1040, "update the oversized header's message");

static const uint8_t proxy_v1_signature[PROXY_V1_SIGNATURE_LEN] = { 'P', 'R', 'O', 'X', 'Y' };
static const uint8_t proxy_v2_signature[PROXY_V2_SIGNATURE_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

enum proxy_status
proxy_detect(const uint8_t *data, size_t len, unsigned *version, const char **error)
{
	const uint8_t	*signature;
	size_t		 signature_len, n;
	unsigned	 v;

	*version = 0;
	if (len == 0)
		return PROXY_NEED_MORE;
	if (data[0] == proxy_v1_signature[0]) {
		signature = proxy_v1_signature;
		signature_len = sizeof proxy_v1_signature;
		v = 1;
	} else if (data[0] == proxy_v2_signature[0]) {
		signature = proxy_v2_signature;
		signature_len = sizeof proxy_v2_signature;
		v = 2;
	} else {
		*error = "expected a PROXY protocol header";
		return PROXY_BAD;
	}
	n = len < signature_len ? len : signature_len;
	if (memcmp(data, signature, n) != 0) {
		*error = "expected a PROXY protocol header";
		return PROXY_BAD;
	}
	if (len < signature_len)
		return PROXY_NEED_MORE;
	*version = v;
	return PROXY_DONE;
}

/* --- version 1 ------------------------------------------------------------ */

static enum proxy_status
proxy_more(struct proxy_result *res, size_t need)
{
	res->need = need;
	return PROXY_NEED_MORE;
}

static enum proxy_status
proxy_bad(struct proxy_result *res, const char *error)
{
	res->error = error;
	return PROXY_BAD;
}

static bool
proxy_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool
proxy_is_hex(uint8_t c)
{
	return proxy_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
proxy_ipv4_char(uint8_t c)
{
	return proxy_is_digit(c) || c == '.';
}

static bool
proxy_ipv6_char(uint8_t c)
{
	return proxy_is_hex(c) || c == ':';
}

/*
 * One v1 field from *pos: characters allowed by ok, 1..max of them, ended
 * by a space, CR or LF, which is left at *pos (a lone LF is then refused as
 * a bad line end rather than as a bad field).  BAD with error if a character
 * is not allowed, the field is empty or too long; NEED_MORE if the input
 * ends first.
 */
static enum proxy_status
proxy_v1_field(const uint8_t *data, size_t len, size_t *pos, bool (*ok)(uint8_t),
    size_t max, size_t *start, const char *error, struct proxy_result *res)
{
	size_t	p = *pos;

	*start = p;
	for (; p < len && data[p] != ' ' && data[p] != '\r' && data[p] != '\n'; p++)
		if (!ok(data[p]) || p - *start >= max)
			return proxy_bad(res, error);
	if (p == len)
		return proxy_more(res, len + 1);
	if (p == *start)
		return proxy_bad(res, error);
	*pos = p;
	return PROXY_DONE;
}

/* The byte at *pos must be c; step over it. */
static enum proxy_status
proxy_v1_byte(const uint8_t *data, size_t len, size_t *pos, uint8_t c,
    const char *error, struct proxy_result *res)
{
	if (*pos >= len)
		return proxy_more(res, len + 1);
	if (data[*pos] != c)
		return proxy_bad(res, error);
	(*pos)++;
	return PROXY_DONE;
}

/* Dotted decimal, exactly four numbers 0..255 without leading zeros. */
static bool
proxy_v1_ipv4(const uint8_t *text, size_t len, uint8_t out[4])
{
	size_t		p = 0;

	for (int i = 0; i < 4; i++) {
		unsigned	value = 0;
		size_t		start = p;

		if (i > 0) {
			if (p >= len || text[p] != '.')
				return false;
			start = ++p;
		}
		for (; p < len && proxy_is_digit(text[p]); p++) {
			if (p - start >= 3)
				return false;
			value = value * 10 + (unsigned)(text[p] - '0');
		}
		if (p == start || value > 255 || (text[start] == '0' && p - start > 1))
			return false;
		out[i] = (uint8_t)value;
	}
	return p == len;
}

/* Hex groups and colons, at most one "::", 128 bits in all. */
static bool
proxy_v1_ipv6(const uint8_t *text, size_t len, uint8_t out[16])
{
	char		copy[PROXY_V1_MAX_IPV6 + 1];
	struct in6_addr	addr;

	if (len > PROXY_V1_MAX_IPV6)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!proxy_ipv6_char(text[i]))
			return false;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (inet_pton(AF_INET6, copy, &addr) != 1)
		return false;
	memcpy(out, &addr, sizeof addr);
	return true;
}

/* Decimal 0..65535, no leading zeros. */
static bool
proxy_v1_port(const uint8_t *text, size_t len, uint16_t *out)
{
	unsigned	value = 0;

	if (len == 0 || len > PROXY_V1_MAX_PORT || (text[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!proxy_is_digit(text[i]))
			return false;
		value = value * 10 + (unsigned)(text[i] - '0');
	}
	if (value > 65535)
		return false;
	*out = (uint16_t)value;
	return true;
}

/*
 * After "PROXY UNKNOWN", at the space or CR that ended it: CRLF, or a space
 * and anything but CR or LF up to the CRLF, the LF no later than byte 107.
 */
static enum proxy_status
proxy_v1_unknown(const uint8_t *data, size_t len, size_t pos, struct proxy_result *res)
{
	static const char *const no_crlf = "PROXY v1: line not ended by CRLF";
	static const char *const too_long = "PROXY v1: no CRLF within 107 bytes";

	if (data[pos] == ' ') {
		for (pos++; pos < len && data[pos] != '\r'; pos++) {
			if (data[pos] == '\n')
				return proxy_bad(res, no_crlf);
			if (pos + 3 > PROXY_V1_MAX_LEN)	/* no room left for a CRLF after it */
				return proxy_bad(res, too_long);
		}
		if (pos == len)
			return proxy_more(res, len + 1);
	}
	/* data[pos] is the CR, at most at byte 106 */
	if (pos + 1 == len)
		return proxy_more(res, len + 1);
	if (data[pos + 1] != '\n')
		return proxy_bad(res, no_crlf);
	res->len = pos + 2;
	return PROXY_DONE;
}

static void
proxy_set_inet(struct sockaddr_storage *ss, const void *addr, uint16_t port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof *ss);
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, addr, sizeof sin->sin_addr);
	sin->sin_port = htons(port);
}

static void
proxy_set_inet6(struct sockaddr_storage *ss, const void *addr, uint16_t port)
{
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, addr, sizeof sin6->sin6_addr);
	sin6->sin6_port = htons(port);
}

static enum proxy_status
proxy_v1(const uint8_t *data, size_t len, struct proxy_result *res)
{
	static const char *const bad_protocol = "PROXY v1: protocol not TCP4, TCP6 or UNKNOWN";
	static const char *const fields_missing = "PROXY v1: fields missing";
	static const char *const names[] = { "TCP4", "TCP6", "UNKNOWN" };
	static const char *const errors[] = {
		"PROXY v1: bad source address",
		"PROXY v1: bad destination address",
		"PROXY v1: bad source port",
		"PROXY v1: bad destination port",
	};
	size_t		 pos = PROXY_V1_SIGNATURE_LEN, start[4], end[4];
	uint8_t		 addr[2][16];	/* big enough for either family */
	uint16_t	 port[2];
	bool		 ipv6;
	enum proxy_status st;
	int		 name = -1;

	if ((st = proxy_v1_byte(data, len, &pos, ' ', "PROXY v1: no space after PROXY",
	    res)) != PROXY_DONE)
		return st;

	/* The protocol, refused at its first byte that no name can have. */
	start[0] = pos;
	for (; pos < len && data[pos] != ' ' && data[pos] != '\r'; pos++) {
		size_t	n = pos - start[0] + 1;
		bool	prefix = false;

		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (n <= strlen(names[i]) &&
			    memcmp(data + start[0], names[i], n) == 0)
				prefix = true;
		if (!prefix)
			return proxy_bad(res, bad_protocol);
	}
	if (pos == len)
		return proxy_more(res, len + 1);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (pos - start[0] == strlen(names[i]) &&
		    memcmp(data + start[0], names[i], pos - start[0]) == 0)
			name = (int)i;
	if (name < 0)
		return proxy_bad(res, bad_protocol);
	res->command = PROXY_CMD_PROXY;
	if (name == 2)
		return proxy_v1_unknown(data, len, pos, res);
	ipv6 = name == 1;

	/* TCP4 / TCP6: four fields, each after exactly one space. */
	for (int f = 0; f < 4; f++) {
		bool	(*ok)(uint8_t) = f >= 2 ? proxy_is_digit :
			    ipv6 ? proxy_ipv6_char : proxy_ipv4_char;
		size_t	max = f >= 2 ? PROXY_V1_MAX_PORT :
			    ipv6 ? PROXY_V1_MAX_IPV6 : PROXY_V1_MAX_IPV4;

		if ((st = proxy_v1_byte(data, len, &pos, ' ', fields_missing, res)) != PROXY_DONE)
			return st;
		if ((st = proxy_v1_field(data, len, &pos, ok, max, &start[f], errors[f],
		    res)) != PROXY_DONE)
			return st;
		end[f] = pos;
		if (f < 3 && data[pos] != ' ')
			return proxy_bad(res, fields_missing);
	}
	if ((st = proxy_v1_byte(data, len, &pos, '\r', "PROXY v1: line not ended by CRLF",
	    res)) != PROXY_DONE ||
	    (st = proxy_v1_byte(data, len, &pos, '\n', "PROXY v1: line not ended by CRLF",
	    res)) != PROXY_DONE)
		return st;

	/* The whole line is here: now decode the fields. */
	for (int f = 0; f < 2; f++) {
		bool	good = ipv6 ?
			    proxy_v1_ipv6(data + start[f], end[f] - start[f], addr[f]) :
			    proxy_v1_ipv4(data + start[f], end[f] - start[f], addr[f]);

		if (!good)
			return proxy_bad(res, errors[f]);
	}
	for (int f = 2; f < 4; f++)
		if (!proxy_v1_port(data + start[f], end[f] - start[f], &port[f - 2]))
			return proxy_bad(res, errors[f]);
	if (ipv6) {
		proxy_set_inet6(&res->src, addr[0], port[0]);
		proxy_set_inet6(&res->dst, addr[1], port[1]);
		res->addr_len = sizeof(struct sockaddr_in6);
	} else {
		proxy_set_inet(&res->src, addr[0], port[0]);
		proxy_set_inet(&res->dst, addr[1], port[1]);
		res->addr_len = sizeof(struct sockaddr_in);
	}
	res->addresses = true;
	res->len = pos;
	return PROXY_DONE;
}

/* --- version 2 ------------------------------------------------------------ */

static uint16_t
proxy_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static enum proxy_status
proxy_v2(const uint8_t *data, size_t len, struct proxy_result *res)
{
	unsigned	command, family = PROXY_V2_AF_UNSPEC, transport = PROXY_V2_UNSPEC;
	size_t		total, address_len = 0;

	if (len <= PROXY_V2_VER_CMD)
		return proxy_more(res, PROXY_V2_HEADER_LEN);
	if (data[PROXY_V2_VER_CMD] >> 4 != PROXY_V2_VERSION)
		return proxy_bad(res, "PROXY v2: version not 2");
	command = data[PROXY_V2_VER_CMD] & 0x0f;
	if (command != PROXY_CMD_LOCAL && command != PROXY_CMD_PROXY)
		return proxy_bad(res, "PROXY v2: command neither LOCAL nor PROXY");
	res->command = (enum proxy_command)command;
	if (len <= PROXY_V2_FAM)
		return proxy_more(res, PROXY_V2_HEADER_LEN);
	if (command == PROXY_CMD_PROXY) {
		family = data[PROXY_V2_FAM] >> 4;
		transport = data[PROXY_V2_FAM] & 0x0f;
		if (family > PROXY_V2_AF_UNIX)
			return proxy_bad(res, "PROXY v2: unknown address family");
		if (transport > PROXY_V2_DGRAM)
			return proxy_bad(res, "PROXY v2: unknown transport protocol");
		if (family != PROXY_V2_AF_UNSPEC && transport != PROXY_V2_UNSPEC)
			address_len = family == PROXY_V2_AF_INET ? PROXY_V2_INET_LEN :
			    family == PROXY_V2_AF_INET6 ? PROXY_V2_INET6_LEN : PROXY_V2_UNIX_LEN;
	}
	if (len < PROXY_V2_HEADER_LEN)
		return proxy_more(res, PROXY_V2_HEADER_LEN);
	total = PROXY_V2_HEADER_LEN + (size_t)proxy_be16(data + PROXY_V2_LEN);
	if (total > PROXY_V2_MAX_LEN)
		return proxy_bad(res, "PROXY v2: header longer than 1040 bytes");
	if (total - PROXY_V2_HEADER_LEN < address_len)
		return proxy_bad(res, "PROXY v2: length too short for the address family");
	if (len < total)
		return proxy_more(res, total);

	/* TLVs follow the addresses when their size is known; each must fit. */
	if (address_len > 0) {
		size_t	pos = PROXY_V2_HEADER_LEN + address_len;

		while (pos < total) {
			if (total - pos < PROXY_V2_TLV_HEADER ||
			    proxy_be16(data + pos + 1) > total - pos - PROXY_V2_TLV_HEADER)
				return proxy_bad(res, "PROXY v2: a TLV overruns the header");
			pos += PROXY_V2_TLV_HEADER + proxy_be16(data + pos + 1);
		}
	}
	res->len = total;
	if (command == PROXY_CMD_PROXY && transport == PROXY_V2_STREAM) {
		const uint8_t	*a = data + PROXY_V2_HEADER_LEN;

		if (family == PROXY_V2_AF_INET) {
			proxy_set_inet(&res->src, a, proxy_be16(a + 8));
			proxy_set_inet(&res->dst, a + 4, proxy_be16(a + 10));
			res->addr_len = sizeof(struct sockaddr_in);
			res->addresses = true;
		} else if (family == PROXY_V2_AF_INET6) {
			proxy_set_inet6(&res->src, a, proxy_be16(a + 32));
			proxy_set_inet6(&res->dst, a + 16, proxy_be16(a + 34));
			res->addr_len = sizeof(struct sockaddr_in6);
			res->addresses = true;
		}
	}
	return PROXY_DONE;
}

enum proxy_status
proxy_parse(const uint8_t *data, size_t len, struct proxy_result *res)
{
	enum proxy_status	st;

	memset(res, 0, sizeof *res);
	st = proxy_detect(data, len, &res->version, &res->error);
	if (st == PROXY_NEED_MORE)
		return proxy_more(res, len + 1);
	if (st == PROXY_BAD)
		return st;
	st = res->version == 1 ? proxy_v1(data, len, res) : proxy_v2(data, len, res);
	if (st != PROXY_DONE) {
		/* Nothing half-filled survives a header that is not whole. */
		res->len = 0;
		res->addresses = false;
		res->addr_len = 0;
		memset(&res->src, 0, sizeof res->src);
		memset(&res->dst, 0, sizeof res->dst);
	}
	return st;
}
