/*
 * service: systemd's notify protocol and socket activation through
 * libsystemd, or nothing at all when calcd is built --without-systemd.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "service.h"

int
service_listen_fds(void)
{
#ifdef HAVE_SYSTEMD
	int n = sd_listen_fds(1);

	return n > 0 ? n : 0;
#else
	return 0;
#endif
}

void
service_notify_ready(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "READY=1");
#endif
}

void
service_notify_reloading(void)
{
#ifdef HAVE_SYSTEMD
	struct timespec ts;

	/* systemd 253+ wants the time the reload began with RELOADING=1. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
#endif
}

void
service_notify_stopping(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
}

void
service_notify_watchdog(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "WATCHDOG=1");
#endif
}

void
service_notify_status(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	char	status[512];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(status, sizeof status, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", status);
#else
	(void)fmt;
#endif
}

uint64_t
service_watchdog_interval_usec(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		return usec / 2;
#endif
	return 0;
}
