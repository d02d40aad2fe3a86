/*
 * service: everything calcd says to or takes from systemd — readiness,
 * status, reload and stop notifications, the watchdog, and sockets
 * passed by socket activation.  Built without libsystemd (or run
 * without NOTIFY_SOCKET / LISTEN_FDS) every call is a harmless no-op.
 */
#ifndef CALCD_SERVICE_H
#define CALCD_SERVICE_H

#include <stdint.h>

/* Sockets passed by systemd (fds from 3 on); 0 when not socket-activated. */
int		service_listen_fds(void);

void		service_notify_ready(void);
void		service_notify_reloading(void);
void		service_notify_stopping(void);
void		service_notify_watchdog(void);
void		service_notify_status(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

/* How often to send WATCHDOG=1 (half of WATCHDOG_USEC), 0 if not asked to. */
uint64_t	service_watchdog_interval_usec(void);

#endif
