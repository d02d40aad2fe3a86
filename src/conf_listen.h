/*
 * conf_listen: one listen line of calcd.conf or -l — "HOST:PORT",
 * "[V6ADDR]:PORT" or "*:PORT", optionally followed by the words "proxy"
 * and "tls", in either order —
 * validated and kept as text (resolving it is the listener's job), and
 * formatted back for logs.
 */
#ifndef CALCD_CONF_LISTEN_H
#define CALCD_CONF_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#define CONF_LISTEN_LEN		128

struct conf_listen {
	char	host[CONF_LISTEN_LEN];	/* "" for "*" (all addresses); v6 without brackets */
	char	port[8];		/* decimal, "0".."65535" */
	bool	proxy;			/* "proxy": connections start with a PROXY header */
	bool	tls;			/* "tls": then a TLS handshake (after the PROXY header) */
};

/*
 * Parse one "HOST:PORT", "[v6]:PORT" or "*:PORT", then any options after
 * blank space ("proxy" and "tls", each at most once, in either order)
 * into out; NULL on success, else a static description of what is wrong.
 * The same text serves the file and -l ("-l '10.0.0.5:9091 proxy tls'").
 */
const char *conf_parse_listen(const char *text, struct conf_listen *out);

/* Format a listen entry's address back as text ("*:9090", "[::1]:9090"), without options. */
void	conf_format_listen(const struct conf_listen *, char *out, size_t len);

#endif
