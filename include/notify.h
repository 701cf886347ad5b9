/*
 * notify.h: the service manager protocol (sd_notify) from the main process:
 * READY=1 once the configuration is loaded and the listener bound,
 * RELOADING=1 + MONOTONIC_USEC= on SIGHUP (works with Type=notify and
 * Type=notify-reload), STATUS= after each poll cycle, STOPPING=1, and
 * WATCHDOG=1 from an event-loop timer at half of WatchdogSec= so a wedged
 * loop gets the service restarted.  Without NOTIFY_SOCKET every call is a
 * no-op.
 */
#ifndef KCM_NOTIFY_H
#define KCM_NOTIFY_H

#include <stdint.h>

#include "util.h"

struct event_base;
struct notify;

/*
 * Arms the watchdog timer when sd_watchdog_enabled() says so (WATCHDOG_USEC
 * set and WATCHDOG_PID unset or ours).  Returns NULL only on allocation
 * failure; *ret_usec gets the watchdog interval (0 = off).
 */
struct notify *notify_new(struct event_base *base, uint64_t *ret_usec);
void	 notify_free(struct notify *n);		/* NULL-safe, stops the timer */

int	 notify_ready(const char *status);		/* READY=1 [+ STATUS=] */
int	 notify_reloading(void);			/* RELOADING=1 + MONOTONIC_USEC= */
int	 notify_stopping(void);				/* STOPPING=1 */
int	 notify_status(const char *fmt, ...) KCM_PRINTF(1, 2);	/* STATUS= */

#endif /* KCM_NOTIFY_H */
