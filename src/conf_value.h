/*
 * conf_value: the conf module's own header (conf.c, conf_value.c), not
 * for other modules — the shape of a row of the key table (struct
 * conf_key: type, field, flags, bounds) and the value parsers the table's
 * types have, which conf_value.c owns.
 */
#ifndef CALCD_CONF_VALUE_H
#define CALCD_CONF_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* Units of the bounds in the key table: bytes and milliseconds. */
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

/* Parse value for key into conf; on error conf is untouched and err says why. */
int	conf_value_set(struct conf *, const struct conf_key *, const char *value, char *err,
	    size_t errlen);
/* Does key have the same value in a and b? */
bool	conf_value_same(const struct conf_key *, const struct conf *a, const struct conf *b);

#endif
