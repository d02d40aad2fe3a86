/*
 * proxy: the PROXY protocol, versions 1 and 2 (HAProxy's
 * doc/proxy-protocol.txt), from the receiving side: parses the header a
 * load balancer sends ahead of a connection's own bytes.  Works on a plain
 * byte range and knows nothing of sockets: the caller passes what has
 * arrived so far, and once the header is complete drops its bytes and uses
 * the addresses it carried.
 */
#ifndef CALCD_PROXY_H
#define CALCD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest v1 line a receiver must take, CRLF included (spec 2.1). */
#define PROXY_V1_MAX_LEN	107

/*
 * The longest v2 header calcd takes: the 16 fixed bytes and up to 1024 of
 * addresses and TLVs.  The largest address block, AF_UNIX, is 216 bytes;
 * what HAProxy can append as TLVs (ALPN, authority, CRC32C, a unique ID of
 * at most 128 bytes, SSL details, a namespace name) and the cloud balancers'
 * own TLVs (endpoint IDs) come to a few hundred more.  A header is held in
 * the connection's input until it is whole, so this bounds what a peer can
 * make calcd keep before it is validated.
 */
#define PROXY_V2_HEADER_LEN	16
#define PROXY_V2_MAX_LEN	(PROXY_V2_HEADER_LEN + 1024)

enum proxy_status {
	PROXY_NEED_MORE = 0,	/* valid so far; result.need says how many bytes at least */
	PROXY_DONE,		/* a whole, valid header: result filled */
	PROXY_BAD,		/* not a valid header: result.error says why */
};

enum proxy_command {
	PROXY_CMD_LOCAL = 0,	/* v2 LOCAL: the balancer's own connection (health check) */
	PROXY_CMD_PROXY = 1,	/* relayed on behalf of a client: v2 PROXY, any v1 line */
};

struct proxy_result {
	size_t			 len;		/* DONE: header bytes, to drop before the payload */
	size_t			 need;		/* NEED_MORE: total bytes wanted, a lower bound */
	unsigned		 version;	/* 1 or 2, once the signature has been seen; else 0 */
	enum proxy_command	 command;	/* DONE: LOCAL only for v2 LOCAL */
	/*
	 * DONE: true when src and dst hold the client's endpoints (TCP over
	 * IPv4 or IPv6, v1 or v2).  False for v2 LOCAL, v1 UNKNOWN and a v2
	 * PROXY header for any family or transport calcd does not take over
	 * (unspecified, UDP, AF_UNIX): then the real connection's addresses
	 * stand, and src and dst are zeroed (family AF_UNSPEC).
	 */
	bool			 addresses;
	struct sockaddr_storage	 src;		/* the client, as the balancer saw it */
	struct sockaddr_storage	 dst;		/* the address the client connected to */
	socklen_t		 addr_len;	/* length of src and of dst; 0 without addresses */
	const char		*error;		/* BAD: static text, for the log */
};

/*
 * Can data[0..len) be the start of a PROXY header at all?  DONE once a
 * whole signature has arrived ("PROXY" for v1, the 12-byte binary one for
 * v2), with *version set; NEED_MORE while the bytes so far are a prefix of
 * one; BAD, with *error, as soon as a byte rules both out: a plain Thrift
 * client is refused on its first byte.
 */
enum proxy_status proxy_detect(const uint8_t *data, size_t len, unsigned *version,
	    const char **error);

/*
 * Parse the PROXY header at the start of data[0..len).  Never reads past
 * len, never consumes bytes past the header, and rejects as early as the
 * bytes allow: a header that can no longer become valid is BAD at once,
 * and one that grows past its version's limit is BAD without waiting.
 */
enum proxy_status proxy_parse(const uint8_t *data, size_t len, struct proxy_result *);

#endif
