/*
 * log: leveled, thread-safe logging, one line per event: to stderr (with
 * syslog priority prefixes when stderr is the systemd journal) or syslog.
 * log_debug() and friends cost one comparison when their level is off.
 */
#ifndef CALCD_LOG_H
#define CALCD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_target {
	LOG_TARGET_STDERR = 0,	/* with timestamps; <N> priority prefixes for the journal */
	LOG_TARGET_SYSLOG = 1,
};

extern _Atomic enum log_level log_current_level;

/* Parse "error" ... "debug"; -1 if unknown. */
int		log_level_parse(const char *name);
const char     *log_level_name(enum log_level);
void		log_set_level(enum log_level);
/* Where lines go; call from the main thread only. */
void		log_set_target(enum log_target);

void	log_write(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Like log_write, but at most burst lines per second per call site
 * (the caller owns *state); the number suppressed is reported with the
 * next line that gets through.
 */
struct log_ratelimit {
	long	 window;	/* second of the current window */
	unsigned printed;
	unsigned suppressed;
};
void	log_limited(struct log_ratelimit *, enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#define log_at(level, ...) do {						\
	if ((level) <= log_current_level)				\
		log_write((level), __VA_ARGS__);			\
} while (0)
#define log_error(...)		log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...)	log_at(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)		log_at(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)		log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)		log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
