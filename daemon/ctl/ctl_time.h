/* SPDX-License-Identifier: MIT */
/*
 * Times as ecr-deployctl reads and shows them: the forms of --until (a duration, an RFC 3339
 * time, or HH:MM local time), human durations ("1m12s") and times ("12s ago", "in 3h",
 * "2026-12-01 08:00"). Pure functions: the current time is passed in.
 */
#ifndef ECR_CTL_TIME_H
#define ECR_CTL_TIME_H

#include <stddef.h>

/*
 * Turns an --until value into an absolute Unix time: a duration from now ("30m", "2h", "1d",
 * "1h30m"), an RFC 3339 time ("2026-12-01T08:00:00Z", "2026-12-01T08:00:00+01:00", fractional
 * seconds allowed), or "HH:MM" in local time, today or tomorrow when it has passed. Returns 0 and
 * *ret, or -EINVAL with *reason (a static sentence) when text is none of these or lies not after
 * now.
 */
int ctl_until_parse(const char *text, double now, double *ret, const char **reason);

/* seconds as "45s", "1m12s", "2h13m", "3d4h" ("0s" below one second; negative as 0). */
void ctl_format_duration(double seconds, char *buf, size_t n);

/* t relative to now: "12s ago", "in 3h", "now"; "never" when t is not finite or <= 0. */
void ctl_format_relative(double t, double now, char *buf, size_t n);

/* t as local time "2026-12-01 08:00:05"; "-" when t is not a usable time. */
void ctl_format_local(double t, char *buf, size_t n);

#endif
