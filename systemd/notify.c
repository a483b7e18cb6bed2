/* SPDX-License-Identifier: MIT */
/* sd_notify glue on libsystemd, with the watchdog on a libev timer. */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

struct notifier {
	struct ev_loop *loop;
	struct ev_timer watchdog;
	unsigned long long watchdog_usec;
};

static void on_watchdog(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	sd_notify(0, "WATCHDOG=1");
}

struct notifier *notify_new(struct ev_loop *loop)
{
	struct notifier *n = calloc(1, sizeof(*n));
	uint64_t usec = 0;

	if (!n)
		return NULL;
	n->loop = loop;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		n->watchdog_usec = usec;
		/* Half the interval, as systemd recommends. */
		ev_timer_init(&n->watchdog, on_watchdog, 0.0, (double)usec / 2e6);
		ev_timer_again(loop, &n->watchdog);
	}
	return n;
}

void notify_free(struct notifier *n)
{
	if (!n)
		return;
	if (n->watchdog_usec)
		ev_timer_stop(n->loop, &n->watchdog);
	free(n);
}

void notify_ready(struct notifier *n)
{
	(void)n;
	sd_notify(0, "READY=1");
}

void notify_reloading(struct notifier *n)
{
	struct timespec ts;

	(void)n;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ull +
		       (unsigned long long)ts.tv_nsec / 1000ull);
}

void notify_stopping(struct notifier *n)
{
	(void)n;
	sd_notify(0, "STOPPING=1");
}

void notify_status(struct notifier *n, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	(void)n;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", text);
}

void notify_start_failed(int exit_status, int err, const char *why)
{
	if (err > 0)
		sd_notifyf(0, "STATUS=cannot start: %s\nERRNO=%d\nEXIT_STATUS=%d", why, err,
			   exit_status);
	else
		sd_notifyf(0, "STATUS=cannot start: %s\nEXIT_STATUS=%d", why, exit_status);
}
