/*
 * conf_listen: one listen address of calcd.conf or -l — "HOST:PORT",
 * "[V6ADDR]:PORT" or "*:PORT" — validated and kept as text (resolving it
 * is the listener's job), and formatted back for logs.
 */
#ifndef CALCD_CONF_LISTEN_H
#define CALCD_CONF_LISTEN_H

#include <stddef.h>

#define CONF_LISTEN_LEN		128

struct conf_listen {
	char	host[CONF_LISTEN_LEN];	/* "" for "*" (all addresses); v6 without brackets */
	char	port[8];		/* decimal, "0".."65535" */
};

/*
 * Parse one "HOST:PORT", "[v6]:PORT" or "*:PORT" into out; NULL on
 * success, else a static description of what is wrong.
 */
const char *conf_parse_listen(const char *text, struct conf_listen *out);

/* Format a listen entry back as text ("*:9090", "[::1]:9090"). */
void	conf_format_listen(const struct conf_listen *, char *out, size_t len);

#endif
