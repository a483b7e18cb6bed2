/* SPDX-License-Identifier: MIT */
/* The times of ecr-deployctl; see ctl_time.h. */
#include "ctl_time.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "duration.h"

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s into *ret. */
static bool digits(const char *s, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 3339: YYYY-MM-DD(T|t| )HH:MM:SS(.frac)?(Z|z|(+|-)HH:MM). */
static bool parse_rfc3339(const char *s, double *ret)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 ||
	    mi > 59 || sec > 60)
		return false;
	const char *p = s + 19;
	double frac = 0;
	if (*p == '.') {
		double scale = 0.1;
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	int offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
		    sec - offset;
	*ret = (double)t + frac;
	return true;
}

/* Minutes since local midnight at t, or -1. */
static int local_minute(time_t t, struct tm *ret_tm)
{
	if (!localtime_r(&t, ret_tm))
		return -1;
	return ret_tm->tm_hour * 60 + ret_tm->tm_min;
}

/*
 * HH:MM local time: the next moment after now at which the clock shows it (today, or tomorrow
 * when passed). Each day is tried with both DST flags and only a time whose clock reads HH:MM
 * counts, so that of the two 02:30 of a fall-back night the next one is taken (mktime() with
 * tm_isdst -1 picks one of them by its own guess). On a spring-forward day where HH:MM never
 * shows, the moment the clock jumps past it is taken.
 */
static bool parse_clock(const char *s, double now, double *ret)
{
	int h, mi;
	if (strlen(s) != 5 || !digits(s, 2, &h) || s[2] != ':' || !digits(s + 3, 2, &mi) ||
	    h > 23 || mi > 59)
		return false;
	time_t base = (time_t)floor(now);
	struct tm tm, got;
	if (!localtime_r(&base, &tm))
		return false;
	int want = h * 60 + mi;
	for (int day = 0; day < 3; day++) {
		time_t best = (time_t)-1, lo = (time_t)-1, hi = (time_t)-1;
		int mday = -1;
		bool shows = false; /* the clock reads HH:MM that day */
		for (int dst = 0; dst < 2; dst++) {
			struct tm at = tm;
			at.tm_mday += day;
			at.tm_hour = h;
			at.tm_min = mi;
			at.tm_sec = 0;
			at.tm_isdst = dst;
			time_t t = mktime(&at);
			if (t == (time_t)-1)
				continue;
			if (lo == (time_t)-1 || t < lo)
				lo = t;
			if (hi == (time_t)-1 || t > hi)
				hi = t;
			/* the day meant, its date normalised by mktime() from tm_mday + day */
			struct tm day_tm = tm;
			day_tm.tm_mday += day;
			day_tm.tm_hour = 12;
			day_tm.tm_min = day_tm.tm_sec = 0;
			day_tm.tm_isdst = -1;
			time_t noon = mktime(&day_tm);
			if (noon == (time_t)-1 || !localtime_r(&noon, &day_tm))
				continue;
			mday = day_tm.tm_mday;
			if (local_minute(t, &got) != want || got.tm_mday != mday)
				continue;
			shows = true;
			if ((double)t > now && (best == (time_t)-1 || t < best))
				best = t;
		}
		if (!shows && lo != (time_t)-1 && hi > lo) {
			/* HH:MM does not show that day (the clock jumps over it): the first second
			 * at which the clock reads past it, between the two readings of HH:MM. */
			while (hi - lo > 1) {
				time_t mid = lo + (hi - lo) / 2;
				int m = local_minute(mid, &got);
				if (m < 0)
					break;
				if (got.tm_mday == mday && m < want)
					lo = mid;
				else
					hi = mid;
			}
			if ((double)hi > now && local_minute(hi, &got) >= 0)
				best = hi;
		}
		if (best != (time_t)-1) {
			*ret = (double)best;
			return true;
		}
	}
	return false;
}

int ctl_until_parse(const char *text, double now, double *ret, const char **reason)
{
	double t;
	uint64_t ms;
	if (duration_parse(text, &ms, NULL) == 0) {
		if (ms == 0) {
			*reason = "a duration of zero is not after now";
			return -EINVAL;
		}
		if (ms > 100 * 366 * DURATION_MS_PER_DAY) {
			*reason = "a duration beyond a hundred years is not a pause";
			return -EINVAL;
		}
		*ret = now + (double)ms / 1000.0;
		return 0;
	}
	if (parse_clock(text, now, &t)) {
		*ret = t;
		return 0;
	}
	if (parse_rfc3339(text, &t)) {
		if (t <= now) {
			*reason = "the time has passed";
			return -EINVAL;
		}
		*ret = t;
		return 0;
	}
	*reason = "expected a duration (30m, 2h, 1d), an RFC 3339 time (2026-12-01T08:00:00Z) or "
		  "HH:MM (local time)";
	return -EINVAL;
}

void ctl_format_duration(double seconds, char *buf, size_t n)
{
	if (!isfinite(seconds) || seconds < 0)
		seconds = 0;
	if (seconds > 1e12)
		seconds = 1e12;
	uint64_t s = (uint64_t)seconds;
	if (s < 60)
		snprintf(buf, n, "%us", (unsigned)s);
	else if (s < 3600)
		snprintf(buf, n, "%um%us", (unsigned)(s / 60), (unsigned)(s % 60));
	else if (s < 86400)
		snprintf(buf, n, "%uh%um", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60));
	else
		snprintf(buf, n, "%llud%uh", (unsigned long long)(s / 86400),
			 (unsigned)(s % 86400 / 3600));
}

void ctl_format_relative(double t, double now, char *buf, size_t n)
{
	char d[32];
	if (!isfinite(t) || t <= 0) {
		snprintf(buf, n, "never");
		return;
	}
	if (fabs(t - now) < 1) {
		snprintf(buf, n, "now");
		return;
	}
	ctl_format_duration(fabs(t - now), d, sizeof(d));
	if (t < now)
		snprintf(buf, n, "%s ago", d);
	else
		snprintf(buf, n, "in %s", d);
}

void ctl_format_local(double t, char *buf, size_t n)
{
	struct tm tm;
	if (!isfinite(t) || t <= 0 || t > 1e11) {
		snprintf(buf, n, "-");
		return;
	}
	time_t tt = (time_t)t;
	if (!localtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, n, "-");
}
