/*
 * log: one line per event, to stderr or syslog.  On stderr a line is
 * stamped with the time, or with a <N> priority prefix when stderr is the
 * systemd journal, and written with a single write(2) so lines from
 * worker threads never interleave.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

_Atomic enum log_level log_current_level = LOG_LEVEL_NOTICE;
static pthread_mutex_t log_ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic enum log_target log_target = LOG_TARGET_STDERR;
static _Atomic int log_to_journal = -1;	/* -1: not checked yet */

static const int log_priorities[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARNING] = LOG_WARNING,
	[LOG_LEVEL_NOTICE] = LOG_NOTICE,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

/* Is stderr the journal?  systemd says so in JOURNAL_STREAM=device:inode. */
static int
log_stderr_is_journal(void)
{
	const char		*env = getenv("JOURNAL_STREAM");
	char			*end;
	unsigned long long	 dev, ino;
	struct stat		 st;

	if (env == NULL || *env < '0' || *env > '9')
		return 0;
	errno = 0;
	dev = strtoull(env, &end, 10);
	if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

static const char *const log_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof log_names / sizeof log_names[0]; i++)
		if (strcasecmp(name, log_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof log_names / sizeof log_names[0])
		return "?";
	return log_names[level];
}

void
log_set_level(enum log_level level)
{
	log_current_level = level;
}

void
log_set_target(enum log_target target)
{
	if (target == LOG_TARGET_SYSLOG && log_target != LOG_TARGET_SYSLOG)
		openlog("calcd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (target != LOG_TARGET_SYSLOG && log_target == LOG_TARGET_SYSLOG)
		closelog();
	log_target = target;
}

static void
log_vwrite(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char		 line[1024];
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 n;
	int		 r, saved_errno = errno;

	if (log_to_journal < 0)
		log_to_journal = log_stderr_is_journal();
	if (log_target == LOG_TARGET_SYSLOG || log_to_journal) {
		/* syslog and the journal stamp lines themselves. */
		n = 0;
		r = log_target == LOG_TARGET_SYSLOG ? 0 :
		    snprintf(line, sizeof line, "<%d>", log_priorities[level]);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
		r = snprintf(line + n, sizeof line - n, ".%03ldZ calcd[%ld]: ",
		    ts.tv_nsec / 1000000, (long)getpid());
	}
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	r = snprintf(line + n, sizeof line - n, "%s: ", log_level_name(level));
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	r = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	if (suffix != NULL) {
		r = snprintf(line + n, sizeof line - n, "%s", suffix);
		if (r > 0)
			n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	}
	/* Control bytes from the network never reach the terminal raw. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	if (log_target == LOG_TARGET_SYSLOG) {
		line[n] = '\0';
		syslog(log_priorities[level], "%s", line);
	} else {
		line[n++] = '\n';
		(void)!write(STDERR_FILENO, line, n);
	}
	errno = saved_errno;
}

void
log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_limited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	enum { LOG_BURST = 10 };
	char		 suffix[64];
	va_list		 ap;
	long		 now = (long)time(NULL);
	unsigned	 suppressed;

	if (level > log_current_level)
		return;
	pthread_mutex_lock(&log_ratelimit_lock);
	if (rl->window != now) {
		rl->window = now;
		rl->printed = 0;
	}
	if (rl->printed >= LOG_BURST) {
		rl->suppressed++;
		pthread_mutex_unlock(&log_ratelimit_lock);
		return;
	}
	rl->printed++;
	suppressed = rl->suppressed;
	rl->suppressed = 0;
	pthread_mutex_unlock(&log_ratelimit_lock);
	suffix[0] = '\0';
	if (suppressed > 0)
		(void)snprintf(suffix, sizeof suffix, " (%u similar lines suppressed)", suppressed);
	va_start(ap, fmt);
	log_vwrite(level, suppressed ? suffix : NULL, fmt, ap);
	va_end(ap);
}
