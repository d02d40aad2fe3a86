/*
 * conf_value: the parsers of calcd.conf values, one per type of the key
 * table (numbers with their units and bounds, log level and target,
 * paths, free text, choices, addresses), each saying in one line what is
 * wrong with a value; conf.c adds "FILE:LINE: key: " to it.  And whether
 * two configurations hold the same value for a key.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "conf_value.h"
#include "log.h"

/* A name a key of a choice type (conf_choices) takes and the value stored for it. */
struct conf_choice {
	const char	*name;
	unsigned	 value;
};

static const struct conf_choice conf_tls_versions[] = {
	{ "1.2", CONF_TLS_1_2 }, { "1.3", CONF_TLS_1_3 }, { NULL, 0 }
};

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

int
conf_value_set(struct conf *conf, const struct conf_key *key, const char *value,
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

bool
conf_value_same(const struct conf_key *key, const struct conf *a, const struct conf *b)
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
