/*
 * conf: the table of calcd.conf keys (one row each: type, field, flags,
 * default, bounds), conf_load, which reads a file and reports every
 * problem as "FILE:LINE: message", and on a reload the keys that keep
 * their value until a restart.  The values' parsers are conf_value.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_value.h"

#define CONF_LINE_MAX	4096	/* longest line accepted, newline excluded */
#define CONF_ERR_MAX	(CONF_LINE_MAX + 256)

#define CONF_FIELD(f)	offsetof(struct conf, f), sizeof(((struct conf *)0)->f)

/*
 * Adding a key is one row here, one field in struct conf and one
 * documented line in etc/calcd.conf.  Defaults are text so they go
 * through the same parser and bounds as the file does.
 */
static const struct conf_key conf_keys[] = {
	{ "listen", CONF_LISTEN, CONF_FIELD(listen), CONF_REPEAT,
	  "*:9090", 0, 0 },
	{ "workers", CONF_COUNT_AUTO, CONF_FIELD(workers), CONF_NEEDS_RESTART,
	  "auto", 1, 256 },
	{ "max_connections", CONF_COUNT_AUTO, CONF_FIELD(max_connections), 0,
	  "auto", 1, CONF_MAX_CONNECTIONS },
	{ "idle_timeout", CONF_DURATION, CONF_FIELD(idle_timeout_ms), 0,
	  "300s", 0, 24 * CONF_HOUR },
	{ "max_message_size", CONF_SIZE, CONF_FIELD(max_message_size), 0,
	  "16M", 64, CONF_G },
	{ "max_output_buffer", CONF_SIZE, CONF_FIELD(max_output_buffer), 0,
	  "1M", 4 * CONF_K, CONF_G },
	{ "max_nesting_depth", CONF_COUNT, CONF_FIELD(max_nesting_depth), 0,
	  "32", 1, 64 },
	{ "calculation_log_size", CONF_COUNT,
	  CONF_FIELD(calculation_log_size), CONF_NEEDS_RESTART, "1024", 1, 1000000 },
	{ "log_level", CONF_LEVEL, CONF_FIELD(log_level), 0,
	  "notice", 0, 0 },
	{ "log_target", CONF_TARGET, CONF_FIELD(log_target), 0,
	  "stderr", 0, 0 },
	{ "shutdown_timeout", CONF_DURATION, CONF_FIELD(shutdown_timeout_ms), 0,
	  "10s", 0, CONF_HOUR },
	{ "message_timeout", CONF_DURATION, CONF_FIELD(message_timeout_ms), 0,
	  "30s", 0, 24 * CONF_HOUR },
	/* No default: no metrics endpoint unless asked for. */
	{ "metrics_listen", CONF_ADDRESS, CONF_FIELD(metrics_listen), 0,
	  NULL, 0, 0 },
	/* No default: without a pid_file line there is no pid file. */
	{ "pid_file", CONF_PATH, CONF_FIELD(pid_file), CONF_NEEDS_RESTART,
	  NULL, 0, 0 },
	/*
	 * TLS.  The files are only named here; the tls module reads and
	 * checks them (tls_conf_check), blaming the line that named them.
	 */
	{ "tls_certificate", CONF_PATH, CONF_FIELD(tls_certificate), 0,
	  NULL, 0, 0 },
	{ "tls_key", CONF_PATH, CONF_FIELD(tls_key), 0,
	  NULL, 0, 0 },
	{ "tls_client_ca", CONF_PATH, CONF_FIELD(tls_client_ca), 0,
	  NULL, 0, 0 },
	{ "tls_client_crl", CONF_PATH, CONF_FIELD(tls_client_crl), 0,
	  NULL, 0, 0 },
	{ "tls_min_version", CONF_TLS_VERSION, CONF_FIELD(tls_min_version), 0,
	  "1.2", 0, 0 },
	{ "tls_handshake_timeout", CONF_DURATION, CONF_FIELD(tls_handshake_timeout_ms), 0,
	  "10s", 100, 10 * CONF_MIN },
	{ "tls_ciphers", CONF_TEXT, CONF_FIELD(tls_ciphers), 0,
	  NULL, 0, 0 },
	{ "tls_ciphersuites", CONF_TEXT, CONF_FIELD(tls_ciphersuites), 0,
	  NULL, 0, 0 },
};
#define CONF_NKEYS	(sizeof conf_keys / sizeof conf_keys[0])
_Static_assert(CONF_NKEYS <= CONF_MAX_KEYS, "raise CONF_MAX_KEYS: struct conf keeps a line per key");

/* State of one conf_load: where we are, for messages, and what was seen. */
struct conf_file {
	const char	*path;
	FILE		*errors;
	unsigned	 line;
	int		 nerrors;
	unsigned	 first_line[CONF_NKEYS];	/* 0 = not in file yet */
};

static void	conf_error(struct conf_file *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
conf_error(struct conf_file *cf, const char *fmt, ...)
{
	va_list	ap;

	cf->nerrors++;
	if (cf->errors == NULL)
		return;
	fprintf(cf->errors, "%s:%u: ", cf->path, cf->line);
	va_start(ap, fmt);
	vfprintf(cf->errors, fmt, ap);
	va_end(ap);
	fputc('\n', cf->errors);
}

void
conf_defaults(struct conf *conf)
{
	const struct conf_key	*key;
	char			 err[CONF_ERR_MAX];

	memset(conf, 0, sizeof *conf);
	for (key = conf_keys; key < conf_keys + CONF_NKEYS; key++) {
		/* A bad row is a bug in this file; fail on the first run. */
		if (key->width < sizeof(uint64_t) && key->max > UINT_MAX) {
			fprintf(stderr, "conf: %s: bound too wide for field\n",
			    key->name);
			abort();
		}
		if (key->def == NULL)
			continue;
		if (conf_value_set(conf, key, key->def, err, sizeof err) != 0) {
			fprintf(stderr, "conf: default for %s: %s\n",
			    key->name, err);
			abort();
		}
	}
}

static const struct conf_key *
conf_find(const char *name)
{
	const struct conf_key	*key;

	for (key = conf_keys; key < conf_keys + CONF_NKEYS; key++)
		if (strcmp(key->name, name) == 0)
			return key;
	return NULL;
}

static char *
conf_trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/*
 * Read one line into buf (without the newline).  Over-long lines and
 * NUL bytes are flagged rather than trusted: the rest of a long line is
 * consumed so the next line starts where it should.  Returns false at
 * end of file.
 */
static bool
conf_read_line(FILE *f, char *buf, bool *too_long, bool *nul)
{
	size_t	len = 0;
	int	c;

	*too_long = *nul = false;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			*nul = true;
		if (len < CONF_LINE_MAX)
			buf[len] = (char)c;
		else
			*too_long = true;
		len++;
	}
	buf[len < CONF_LINE_MAX ? len : CONF_LINE_MAX] = '\0';
	return c != EOF || len != 0;
}

static void
conf_line(struct conf *conf, struct conf_file *cf, char *line)
{
	const struct conf_key	*key;
	char			*p, *name, *value, *eq;
	char			 err[CONF_ERR_MAX];
	size_t			 i;

	/* '#' starts a comment at line start or after blank space only. */
	for (p = line; *p != '\0'; p++) {
		if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	line = conf_trim(line);
	if (*line == '\0')
		return;

	if ((eq = strchr(line, '=')) == NULL) {
		conf_error(cf, "expected 'key = value'");
		return;
	}
	*eq = '\0';
	name = conf_trim(line);
	value = conf_trim(eq + 1);
	if (*name == '\0') {
		conf_error(cf, "expected 'key = value'");
		return;
	}
	if ((key = conf_find(name)) == NULL) {
		conf_error(cf, "unknown key '%s'", name);
		return;
	}

	i = (size_t)(key - conf_keys);
	if (cf->first_line[i] != 0 && (key->flags & CONF_REPEAT) == 0) {
		conf_error(cf, "%s: duplicate key (first set on line %u)",
		    key->name, cf->first_line[i]);
		return;
	}
	if (cf->first_line[i] == 0) {
		cf->first_line[i] = cf->line;
		conf->key_line[i] = cf->line;
		/* Listen lines in the file replace the default, not add. */
		if (key->type == CONF_LISTEN)
			conf->listen_count = 0;
	}

	if (conf_value_set(conf, key, value, err, sizeof err) != 0)
		conf_error(cf, "%s: %s", key->name, err);
}

int
conf_load(struct conf *conf, const char *path, FILE *errors)
{
	struct conf_file	 cf;
	FILE			*f;
	char			 line[CONF_LINE_MAX + 1];
	bool			 too_long, nul;

	memset(&cf, 0, sizeof cf);
	cf.path = path;
	cf.errors = errors;

	if ((f = fopen(path, "r")) == NULL) {
		if (errors != NULL)
			fprintf(errors, "%s: cannot open: %s\n", path,
			    strerror(errno));
		return 1;
	}
	while (conf_read_line(f, line, &too_long, &nul)) {
		cf.line++;
		if (too_long)
			conf_error(&cf, "line too long (more than %d bytes)",
			    CONF_LINE_MAX);
		else if (nul)
			conf_error(&cf, "NUL byte in line");
		else
			conf_line(conf, &cf, line);
	}
	if (ferror(f)) {
		if (errors != NULL)
			fprintf(errors, "%s: read error: %s\n", path,
			    strerror(errno));
		cf.nerrors++;
	}
	(void)fclose(f);
	return cf.nerrors;
}

unsigned
conf_key_line(const struct conf *conf, const char *name)
{
	const struct conf_key *key = conf_find(name);

	return key != NULL ? conf->key_line[key - conf_keys] : 0;
}

unsigned
conf_keep_restart_keys(const struct conf *in_force, struct conf *next,
    void (*report)(const char *key, void *arg), void *arg)
{
	const struct conf_key	*key;
	unsigned		 kept = 0;

	for (key = conf_keys; key < conf_keys + CONF_NKEYS; key++) {
		if ((key->flags & CONF_NEEDS_RESTART) == 0 ||
		    conf_value_same(key, in_force, next))
			continue;
		memcpy((char *)next + key->offset, (const char *)in_force + key->offset,
		    key->width);
		if (key->type == CONF_LISTEN)
			next->listen_count = in_force->listen_count;
		kept++;
		if (report != NULL)
			report(key->name, arg);
	}
	return kept;
}
