/*
 * notify.c: sd_notify wrappers and the watchdog timer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

struct notify {
	struct event	*watchdog;
	uint64_t	 usec;
};

static void
watchdog_fired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

struct notify *
notify_new(struct event_base *base, uint64_t *ret_usec)
{
	struct notify *n;
	struct timeval tv;
	uint64_t usec = 0, half;
	int r;

	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	r = sd_watchdog_enabled(0, &usec);
	if (r > 0 && usec > 0) {
		half = usec / 2;
		if (half == 0)
			half = 1;
		n->watchdog = event_new(base, -1, EV_PERSIST, watchdog_fired, n);
		if (n->watchdog == NULL) {
			free(n);
			return NULL;
		}
		tv.tv_sec = (time_t)(half / 1000000);
		tv.tv_usec = (suseconds_t)(half % 1000000);
		if (event_add(n->watchdog, &tv) < 0) {
			event_free(n->watchdog);
			free(n);
			return NULL;
		}
		n->usec = usec;
		sd_notify(0, "WATCHDOG=1");
	} else if (r < 0) {
		log_warning("ignoring invalid watchdog settings (WATCHDOG_USEC/WATCHDOG_PID): %s",
		    strerror(-r));
	}
	if (ret_usec != NULL)
		*ret_usec = n->usec;
	return n;
}

void
notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->watchdog != NULL)
		event_free(n->watchdog);
	free(n);
}

int
notify_ready(const char *status)
{
	char buf[512];

	if (status == NULL)
		return sd_notify(0, "READY=1");
	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	return sd_notify(0, buf);
}

int
notify_reloading(void)
{
	struct timespec ts;
	char buf[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	return sd_notify(0, buf);
}

int
notify_stopping(void)
{
	return sd_notify(0, "STOPPING=1");
}

int
notify_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	memcpy(buf, "STATUS=", 7);
	va_start(ap, fmt);
	n = vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	/* STATUS= is one line. */
	for (char *p = buf + 7; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	return sd_notify(0, buf);
}
