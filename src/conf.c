/*
 * conf: the table of calcd.conf keys (one row each: type, field, flags,
 * default, bounds), the parsers for their values, conf_load, which reads
 * a file and reports every problem as "FILE:LINE: message", and on a
 * reload the keys that keep their value until a restart.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "log.h"

#define CONF_LINE_MAX	4096	/* longest line accepted, newline excluded */
#define CONF_ERR_MAX	(CONF_LINE_MAX + 256)

#define CONF_K		((uint64_t)1 << 10)
#define CONF_M		((uint64_t)1 << 20)
#define CONF_G		((uint64_t)1 << 30)

#define CONF_SEC	((uint64_t)1000)
#define CONF_MIN	(60 * CONF_SEC)
#define CONF_HOUR	(60 * CONF_MIN)

enum conf_type {
	CONF_COUNT,		/* decimal integer */
	CONF_COUNT_AUTO,	/* decimal integer, or "auto" stored as 0 */
	CONF_SIZE,		/* bytes; K, M, G (or KB, MB, GB) suffix */
	CONF_DURATION,		/* stored as ms; ms, s, m, h suffix, bare = s */
	CONF_LEVEL,		/* log level name, stored as enum log_level */
	CONF_TARGET,		/* stderr or syslog, as enum log_target */
	CONF_LISTEN,		/* HOST:PORT, appended to conf->listen */
	CONF_ADDRESS,		/* HOST:PORT into one struct conf_listen */
	CONF_PATH,		/* absolute path into a char[CONF_PATH_LEN] */
	CONF_TEXT,		/* any text without space, into a char[width] */
	CONF_TLS_VERSION,	/* "1.2" or "1.3", as CONF_TLS_1_2 or CONF_TLS_1_3 */
};

/* A name a key of a choice type (conf_choices) takes and the value stored for it. */
struct conf_choice {
	const char	*name;
	unsigned	 value;
};

#define CONF_REPEAT		0x1	/* may appear on more than one line */
#define CONF_NEEDS_RESTART	0x2	/* a reload keeps the value in force */

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;
	size_t		 width;
	int		 flags;
	const char	*def;		/* parsed as a value; NULL: left zero */
	uint64_t	 min;		/* in stored units: bytes, ms, count */
	uint64_t	 max;
};

#define CONF_FIELD(f)	offsetof(struct conf, f), sizeof(((struct conf *)0)->f)

static const struct conf_choice conf_tls_versions[] = {
	{ "1.2", CONF_TLS_1_2 }, { "1.3", CONF_TLS_1_3 }, { NULL, 0 }
};

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

struct conf_unit {
	const char	*suffix;	/* compared case-insensitively */
	uint64_t	 mult;
};

static const struct conf_unit conf_count_units[] = {
	{ "", 1 }, { NULL, 0 }
};
static const struct conf_unit conf_size_units[] = {
	{ "", 1 }, { "k", CONF_K }, { "kb", CONF_K }, { "m", CONF_M },
	{ "mb", CONF_M }, { "g", CONF_G }, { "gb", CONF_G }, { NULL, 0 }
};
static const struct conf_unit conf_duration_units[] = {
	{ "", CONF_SEC }, { "ms", 1 }, { "s", CONF_SEC }, { "m", CONF_MIN },
	{ "h", CONF_HOUR }, { NULL, 0 }
};

enum conf_num {
	CONF_NUM_OK,
	CONF_NUM_INVALID,
	CONF_NUM_NEGATIVE,
	CONF_NUM_TOO_LARGE,
};

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

/*
 * Digits and a unit suffix from the table, nothing else: strtoull would
 * take leading space, '+' and a wrapped '-', all wrong in a config file.
 */
static enum conf_num
conf_parse_number(const char *s, const struct conf_unit *units, uint64_t *out)
{
	const struct conf_unit	*u;
	const char		*p = s;
	uint64_t		 v = 0;
	unsigned		 d;
	bool			 overflow = false;

	if (p[0] == '-' && isdigit((unsigned char)p[1]))
		return CONF_NUM_NEGATIVE;
	if (!isdigit((unsigned char)*p))
		return CONF_NUM_INVALID;
	for (; isdigit((unsigned char)*p); p++) {
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	for (u = units; u->suffix != NULL; u++)
		if (strcasecmp(p, u->suffix) == 0)
			break;
	if (u->suffix == NULL)
		return CONF_NUM_INVALID;
	if (overflow || v > UINT64_MAX / u->mult)
		return CONF_NUM_TOO_LARGE;
	*out = v * u->mult;
	return CONF_NUM_OK;
}

/* Bounds are shown in the units a person would write them in. */
static void
conf_format_value(const struct conf_key *key, uint64_t v, char *out,
    size_t len)
{
	static const struct conf_unit	 sizes[] = {
		{ "G", CONF_G }, { "M", CONF_M }, { "K", CONF_K }, { NULL, 0 }
	};
	static const struct conf_unit	 durations[] = {
		{ "h", CONF_HOUR }, { "m", CONF_MIN }, { "s", CONF_SEC },
		{ NULL, 0 }
	};
	const struct conf_unit		*u = NULL;

	if (key->type == CONF_SIZE)
		u = sizes;
	else if (key->type == CONF_DURATION)
		u = durations;
	for (; v != 0 && u != NULL && u->suffix != NULL; u++) {
		if (v % u->mult == 0) {
			(void)snprintf(out, len, "%" PRIu64 "%s", v / u->mult,
			    u->suffix);
			return;
		}
	}
	(void)snprintf(out, len, "%" PRIu64 "%s", v,
	    key->type == CONF_DURATION && v != 0 ? "ms" : "");
}

static void
conf_store(struct conf *conf, const struct conf_key *key, uint64_t v)
{
	char	*field = (char *)conf + key->offset;

	if (key->width == sizeof(uint64_t))
		*(uint64_t *)(void *)field = v;
	else
		*(unsigned *)(void *)field = (unsigned)v;
}

static int
conf_set_number(struct conf *conf, const struct conf_key *key,
    const char *value, char *err, size_t errlen)
{
	const struct conf_unit	*units = conf_count_units;
	const char		*what = "number";
	char			 lo[32], hi[32];
	uint64_t		 v;

	if (key->type == CONF_COUNT_AUTO && strcasecmp(value, "auto") == 0) {
		conf_store(conf, key, 0);
		return 0;
	}
	if (key->type == CONF_SIZE) {
		units = conf_size_units;
		what = "size";
	} else if (key->type == CONF_DURATION) {
		units = conf_duration_units;
		what = "duration";
	}
	switch (conf_parse_number(value, units, &v)) {
	case CONF_NUM_OK:
		break;
	case CONF_NUM_INVALID:
		(void)snprintf(err, errlen, "invalid %s '%s'", what, value);
		return -1;
	case CONF_NUM_NEGATIVE:
		(void)snprintf(err, errlen, "negative value '%s'", value);
		return -1;
	case CONF_NUM_TOO_LARGE:
		(void)snprintf(err, errlen, "value too large");
		return -1;
	}
	if (v < key->min || v > key->max) {
		conf_format_value(key, key->min, lo, sizeof lo);
		conf_format_value(key, key->max, hi, sizeof hi);
		(void)snprintf(err, errlen, "value out of range (%s .. %s%s)", lo, hi,
		    key->type == CONF_COUNT_AUTO ? ", or auto" : "");
		return -1;
	}
	conf_store(conf, key, v);
	return 0;
}

static int
conf_set_level(struct conf *conf, const char *value, char *err, size_t errlen)
{
	int	level;

	if ((level = log_level_parse(value)) == -1) {
		(void)snprintf(err, errlen, "unknown level '%s' (%s|%s|%s|%s|%s)",
		    value, log_level_name(LOG_LEVEL_ERROR),
		    log_level_name(LOG_LEVEL_WARNING),
		    log_level_name(LOG_LEVEL_NOTICE),
		    log_level_name(LOG_LEVEL_INFO),
		    log_level_name(LOG_LEVEL_DEBUG));
		return -1;
	}
	conf->log_level = level;
	return 0;
}

/* Any case, like the level names. */
static int
conf_set_target(struct conf *conf, const char *value, char *err, size_t errlen)
{
	if (strcasecmp(value, "stderr") == 0)
		conf->log_target = LOG_TARGET_STDERR;
	else if (strcasecmp(value, "syslog") == 0)
		conf->log_target = LOG_TARGET_SYSLOG;
	else {
		(void)snprintf(err, errlen, "unknown target '%s' (stderr|syslog)",
		    value);
		return -1;
	}
	return 0;
}

/* Absolute, so it names one file whatever directory calcd starts in. */
static int
conf_set_path(struct conf *conf, const struct conf_key *key,
    const char *value, char *err, size_t errlen)
{
	size_t	len = strlen(value);

	if (*value != '/') {
		(void)snprintf(err, errlen, "must be an absolute path");
		return -1;
	}
	if (len >= key->width) {
		(void)snprintf(err, errlen, "path too long");
		return -1;
	}
	memcpy((char *)conf + key->offset, value, len + 1);
	return 0;
}

/* Cipher lists and the like: passed on as they are, so checked by their user. */
static int
conf_set_text(struct conf *conf, const struct conf_key *key,
    const char *value, char *err, size_t errlen)
{
	size_t	len = strlen(value);

	for (const char *p = value; *p != '\0'; p++) {
		if (isspace((unsigned char)*p) || !isprint((unsigned char)*p)) {
			(void)snprintf(err, errlen, "space or control character in value");
			return -1;
		}
	}
	if (len >= key->width) {
		(void)snprintf(err, errlen, "value too long (at most %zu bytes)", key->width - 1);
		return -1;
	}
	memcpy((char *)conf + key->offset, value, len + 1);
	return 0;
}

/* The names a key of a choice type takes, ending with a NULL name. */
static const struct conf_choice *
conf_choices(enum conf_type type)
{
	return type == CONF_TLS_VERSION ? conf_tls_versions : NULL;
}

/* One of the names of the key's type, exactly; the error lists them. */
static int
conf_set_choice(struct conf *conf, const struct conf_key *key,
    const char *value, char *err, size_t errlen)
{
	const struct conf_choice	*choices = conf_choices(key->type), *c;
	size_t				 used;

	for (c = choices; c->name != NULL; c++) {
		if (strcmp(value, c->name) == 0) {
			conf_store(conf, key, c->value);
			return 0;
		}
	}
	used = (size_t)snprintf(err, errlen, "unknown value '%s' (", value);
	for (c = choices; c->name != NULL && used < errlen; c++)
		used += (size_t)snprintf(err + used, errlen - used, "%s%s",
		    c == choices ? "" : "|", c->name);
	if (used < errlen)
		(void)snprintf(err + used, errlen - used, ")");
	return -1;
}

static int
conf_set_listen(struct conf *conf, const char *value, char *err,
    size_t errlen)
{
	const char	*why;

	if (conf->listen_count == CONF_MAX_LISTEN) {
		(void)snprintf(err, errlen, "too many addresses (at most %d)",
		    CONF_MAX_LISTEN);
		return -1;
	}
	why = conf_parse_listen(value, &conf->listen[conf->listen_count]);
	if (why != NULL) {
		(void)snprintf(err, errlen, "invalid address '%s': %s", value, why);
		return -1;
	}
	conf->listen_count++;
	return 0;
}

static int
conf_set_address(struct conf *conf, const struct conf_key *key, const char *value,
    char *err, size_t errlen)
{
	struct conf_listen	address;
	const char		*why;

	if ((why = conf_parse_listen(value, &address)) != NULL) {
		(void)snprintf(err, errlen, "invalid address '%s': %s", value, why);
		return -1;
	}
	/* The options of a listen line say how Thrift clients come in: not here. */
	if (address.proxy || address.tls) {
		(void)snprintf(err, errlen, "invalid address '%s': '%s' is for listen lines only",
		    value, address.proxy ? "proxy" : "tls");
		return -1;
	}
	memcpy((char *)conf + key->offset, &address, sizeof address);
	return 0;
}

/* Parse value for key into conf; on error conf is untouched and err says why. */
static int
conf_set(struct conf *conf, const struct conf_key *key, const char *value,
    char *err, size_t errlen)
{
	if (*value == '\0') {
		(void)snprintf(err, errlen, "empty value");
		return -1;
	}
	switch (key->type) {
	case CONF_LEVEL:
		return conf_set_level(conf, value, err, errlen);
	case CONF_TARGET:
		return conf_set_target(conf, value, err, errlen);
	case CONF_LISTEN:
		return conf_set_listen(conf, value, err, errlen);
	case CONF_ADDRESS:
		return conf_set_address(conf, key, value, err, errlen);
	case CONF_PATH:
		return conf_set_path(conf, key, value, err, errlen);
	case CONF_TEXT:
		return conf_set_text(conf, key, value, err, errlen);
	case CONF_TLS_VERSION:
		return conf_set_choice(conf, key, value, err, errlen);
	case CONF_COUNT:
	case CONF_COUNT_AUTO:
	case CONF_SIZE:
	case CONF_DURATION:
		break;
	}
	return conf_set_number(conf, key, value, err, errlen);
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
		if (conf_set(conf, key, key->def, err, sizeof err) != 0) {
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

	if (conf_set(conf, key, value, err, sizeof err) != 0)
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

static bool
conf_same_value(const struct conf_key *key, const struct conf *a, const struct conf *b)
{
	const char	*x = (const char *)a + key->offset;
	const char	*y = (const char *)b + key->offset;

	switch (key->type) {
	case CONF_PATH:
	case CONF_TEXT:
		return strcmp(x, y) == 0;
	case CONF_LISTEN:
		if (a->listen_count != b->listen_count)
			return false;
		for (unsigned i = 0; i < a->listen_count; i++)
			if (strcmp(a->listen[i].host, b->listen[i].host) != 0 ||
			    strcmp(a->listen[i].port, b->listen[i].port) != 0 ||
			    a->listen[i].proxy != b->listen[i].proxy)
				return false;
		return true;
	case CONF_ADDRESS:
		return strcmp(((const struct conf_listen *)x)->host,
		    ((const struct conf_listen *)y)->host) == 0 &&
		    strcmp(((const struct conf_listen *)x)->port,
		    ((const struct conf_listen *)y)->port) == 0;
	case CONF_COUNT:
	case CONF_COUNT_AUTO:
	case CONF_SIZE:
	case CONF_DURATION:
	case CONF_LEVEL:
	case CONF_TARGET:
	case CONF_TLS_VERSION:
		break;
	}
	return memcmp(x, y, key->width) == 0;
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
		    conf_same_value(key, in_force, next))
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
