/*
 * conf_listen: parsing and formatting listen lines.  Only syntax is
 * checked here (an IPv6 literal must be one, a host name has only the
 * characters host names have, a port is 0..65535, an option is a known
 * word: 'proxy', 'tls', in either order); whether the address exists on this host is found out when the
 * listener binds it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conf_listen.h"

static const char *
conf_parse_port(const char *s, char *out, size_t len)
{
	unsigned long	v = 0;

	if (*s == '\0')
		return "missing port";
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return "port is not a decimal number";
		/* Stop growing once out of range, so this cannot overflow. */
		if (v <= 65535)
			v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > 65535)
		return "port out of range (0 .. 65535)";
	(void)snprintf(out, len, "%lu", v);
	return NULL;
}

/* A v6 literal as getaddrinfo takes it: address, optional %zone. */
static bool
conf_valid_v6(const char *s)
{
	struct in6_addr	 addr;
	char		 buf[INET6_ADDRSTRLEN + 1];
	const char	*zone;
	size_t		 len;

	zone = strchr(s, '%');
	len = zone != NULL ? (size_t)(zone - s) : strlen(s);
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, &addr) != 1)
		return false;
	if (zone == NULL)
		return true;
	if (*++zone == '\0')
		return false;
	for (; *zone != '\0'; zone++)
		if (!isalnum((unsigned char)*zone) && strchr("-._", *zone) == NULL)
			return false;
	return true;
}

/* Parse the address part alone into out (left alone on error). */
static const char *
conf_parse_address(const char *text, struct conf_listen *out)
{
	struct conf_listen	 l;
	const char		*colon, *end, *why;
	size_t			 len;

	memset(&l, 0, sizeof l);
	if (*text == '\0')
		return "empty address";

	if (*text == '[') {
		if ((end = strchr(text, ']')) == NULL)
			return "missing ']' after IPv6 address";
		len = (size_t)(end - text - 1);
		if (len == 0)
			return "empty IPv6 address in brackets";
		if (len >= sizeof l.host)
			return "host name too long";
		memcpy(l.host, text + 1, len);
		if (!conf_valid_v6(l.host))
			return "invalid IPv6 address in brackets";
		if (end[1] != ':')
			return "expected ':PORT' after ']'";
		colon = end + 1;
	} else {
		if ((colon = strchr(text, ':')) == NULL)
			return "missing ':PORT'";
		if (strchr(colon + 1, ':') != NULL)
			return "IPv6 address must be in brackets";
		len = (size_t)(colon - text);
		if (len == 0)
			return "missing host (use '*' for all addresses)";
		if (len >= sizeof l.host)
			return "host name too long";
		if (!(len == 1 && *text == '*')) {
			for (const char *p = text; p < colon; p++) {
				if (!isalnum((unsigned char)*p) &&
				    strchr("-._", *p) == NULL)
					return "invalid character in host name";
			}
			memcpy(l.host, text, len);
		}
	}
	if ((why = conf_parse_port(colon + 1, l.port, sizeof l.port)) != NULL)
		return why;
	*out = l;
	return NULL;
}

#define CONF_ADDRESS_MAX	512	/* longest address part taken, NUL included */

/* Is s[0..len) a word of letters only (what an option looks like)? */
static bool
conf_is_word(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalpha((unsigned char)s[i]))
			return false;
	return true;
}

/* Take option word[0..len) into l; NULL or what is wrong. */
static const char *
conf_parse_option(const char *word, size_t len, struct conf_listen *l)
{
	if (len == 5 && strncmp(word, "proxy", 5) == 0) {
		if (l->proxy)
			return "'proxy' given twice";
		l->proxy = true;
		return NULL;
	}
	if (len == 3 && strncmp(word, "tls", 3) == 0) {
		if (l->tls)
			return "'tls' given twice";
		l->tls = true;
		return NULL;
	}
	return "unknown word after the address (the options are 'proxy' and 'tls')";
}

/*
 * The options are the words of letters that end the text, after blank
 * space; everything before them is the address.  So "host: 80" stays an
 * address with a bad port rather than becoming "host:" and a word.
 */
const char *
conf_parse_listen(const char *text, struct conf_listen *out)
{
	struct conf_listen	 l;
	char			 address[CONF_ADDRESS_MAX];
	const char		*p = text, *address_end = text, *options = NULL, *why;
	size_t			 len;

	/* One pass over the words: the options start after the last non-word. */
	for (bool first = true;; first = false) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		for (len = 0; p[len] != '\0' && !isspace((unsigned char)p[len]); len++)
			continue;
		if (first || !conf_is_word(p, len)) {
			address_end = p + len;
			options = NULL;
		} else if (options == NULL) {
			options = p;
		}
		p += len;
	}
	len = address_end > text ? (size_t)(address_end - text) : 0;
	if (len >= sizeof address)
		return "address too long";
	memcpy(address, text, len);
	address[len] = '\0';
	/* Built aside so out is left alone on error. */
	if ((why = conf_parse_address(address, &l)) != NULL)
		return why;
	for (p = options; p != NULL && *p != '\0'; p += len) {
		while (isspace((unsigned char)*p))
			p++;
		for (len = 0; p[len] != '\0' && !isspace((unsigned char)p[len]); len++)
			continue;
		if (len > 0 && (why = conf_parse_option(p, len, &l)) != NULL)
			return why;
	}
	*out = l;
	return NULL;
}

void
conf_format_listen(const struct conf_listen *l, char *out, size_t len)
{
	if (len == 0)
		return;
	if (l->host[0] == '\0')
		(void)snprintf(out, len, "*:%s", l->port);
	else if (strchr(l->host, ':') != NULL)
		(void)snprintf(out, len, "[%s]:%s", l->host, l->port);
	else
		(void)snprintf(out, len, "%s:%s", l->host, l->port);
}
