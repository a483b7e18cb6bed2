/* SPDX-License-Identifier: MIT */
/*
 * The systemd service manager protocol (sd_notify): READY=1 once the daemon
 * serves, STATUS= a current one-line sentence, RELOADING=1 (with
 * MONOTONIC_USEC=) around a reload, STOPPING=1 on the way out, and
 * WATCHDOG=1 from a loop timer at half the interval systemd asks for, so a
 * loop that stops turning stops the pings. Without NOTIFY_SOCKET every call
 * does nothing.
 */
#ifndef ECR_NOTIFY_H
#define ECR_NOTIFY_H

#include <ev.h>

struct notifier;

/* Arms the watchdog timer when systemd asked for one. NULL when out of memory. */
struct notifier *notify_new(struct ev_loop *loop);
void notify_free(struct notifier *n);

void notify_ready(struct notifier *n);
void notify_reloading(struct notifier *n);
void notify_stopping(struct notifier *n);

/*
 * A fatal start-up error, before or without a notifier: STATUS=<why>, ERRNO=<err> (positive; 0
 * leaves it out) and EXIT_STATUS=<exit_status>, so that systemctl status says why.
 */
void notify_start_failed(int exit_status, int err, const char *why);

/* STATUS=<sentence>. */
void notify_status(struct notifier *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
