/* SPDX-License-Identifier: MIT */
/* Table-driven tests of ecr-deployctl's times (daemon/ctl/ctl_time): every --until form, the
 * rejected ones, and the human durations. */
#include "unit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_time.h"

/* 2026-11-30 22:00:00 UTC */
#define NOW 1796076000.0

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

TEST(ctl_until_parse_accepts)
{
	static const struct {
		const char *tz, *text;
		double want, now; /* now 0: NOW */
	} rows[] = {
		{ "UTC", "30m", NOW + 1800, 0 },
		{ "UTC", "2h", NOW + 7200, 0 },
		{ "UTC", "1d", NOW + 86400, 0 },
		{ "UTC", "1h30m", NOW + 5400, 0 },
		{ "UTC", "2026-12-01T08:00:00Z", 1796112000, 0 },
		{ "UTC", "2026-12-01t08:00:00z", 1796112000, 0 },
		{ "UTC", "2026-12-01 08:00:00Z", 1796112000, 0 },
		{ "UTC", "2026-12-01T08:00:00+01:00", 1796108400, 0 },
		{ "UTC", "2026-12-01T08:00:00-00:30", 1796113800, 0 },
		{ "UTC", "2026-12-01T08:00:00.25Z", 1796112000.25, 0 },
		{ "UTC", "2028-02-29T00:00:00Z", 1835395200, 0 },
		{ "UTC", "23:30", NOW + 5400, 0 },       /* today */
		{ "UTC", "08:00", NOW + 10 * 3600, 0 },  /* passed: tomorrow */
		{ "UTC", "22:00", NOW + 86400, 0 },      /* now exactly: tomorrow */
		{ "Etc/GMT-3", "02:00", NOW + 3600, 0 }, /* 01:00 local now: today at 02:00 */
		{ "Etc/GMT+5", "17:30", NOW + 1800, 0 },
		/* Europe/Berlin, spring forward (2026-03-29, 02:00 CET is 03:00 CEST, 01:00 UTC):
		 * from 01:30 CET, 02:30 never shows; the clock passes it at the jump. */
		{ "Europe/Berlin", "02:30", 1774744200.0 + 1800, 1774744200.0 },
		{ "Europe/Berlin", "02:00", 1774744200.0 + 1800, 1774744200.0 },
		{ "Europe/Berlin", "03:10", 1774744200.0 + 2400, 1774744200.0 },
		/* fall back (2026-10-25, 03:00 CEST is 02:00 CET, 01:00 UTC): from 01:30 CEST the
		 * next 02:30 is the first one (CEST), in an hour */
		{ "Europe/Berlin", "02:30", 1792884600.0 + 3600, 1792884600.0 },
		/* from 02:45 CEST (first pass): 02:50 CEST in 5 min; 02:30 the second time (CET) */
		{ "Europe/Berlin", "02:50", 1792889100.0 + 300, 1792889100.0 },
		{ "Europe/Berlin", "02:30", 1792889100.0 + 2700, 1792889100.0 },
		/* an ordinary summer day (2026-07-01 10:00 CEST): today, or tomorrow when passed */
		{ "Europe/Berlin", "10:30", 1782892800.0 + 1800, 1782892800.0 },
		{ "Europe/Berlin", "09:30", 1782892800.0 + 84600, 1782892800.0 },
		{ "Europe/Berlin", "10:00", 1782892800.0 + 86400, 1782892800.0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double got = -1;
		const char *why = NULL;
		set_tz(rows[i].tz);
		double now = rows[i].now ? rows[i].now : NOW;
		int r = ctl_until_parse(rows[i].text, now, &got, &why);
		CHECK_INT(r, 0);
		if (r != 0 || fabs(got - rows[i].want) > 1e-6)
			unit_fail(__FILE__, __LINE__, "'%s' in %s: %d %.3f, want %.3f (%s)",
				  rows[i].text, rows[i].tz, r, got, rows[i].want, why ? why : "");
	}
	set_tz("UTC");
}

TEST(ctl_until_parse_rejects)
{
	static const char *const rows[] = {
		"",
		"0s",
		"30",
		"-30m",
		"30 m",
		"m30",
		"tomorrow",
		"2026-11-30T21:59:59Z", /* passed */
		"2026-11-30T22:00:00Z", /* now is not after now */
		"2026-12-01T08:00:00",  /* no zone */
		"2026-12-01T08:00Z",
		"2026-13-01T08:00:00Z",
		"2026-02-29T08:00:00Z", /* not a leap year */
		"2026-12-32T08:00:00Z",
		"2026-12-01T24:00:00Z",
		"2026-12-01T08:00:00+24:00",
		"2026-12-01T08:00:00.Z",
		"2026-12-01T08:00:00Zjunk",
		"24:00",
		"08:60",
		"8:00",
		"08:00:00",
		"99999d",
	};
	set_tz("UTC");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double got = -1;
		const char *why = NULL;
		int r = ctl_until_parse(rows[i], NOW, &got, &why);
		if (r != -EINVAL || !why || got != -1)
			unit_fail(__FILE__, __LINE__, "'%s': %d, %.3f", rows[i], r, got);
	}
}

TEST(ctl_format_times)
{
	static const struct {
		double secs;
		const char *want;
	} rows[] = {
		{ 0, "0s" },        { 0.9, "0s" },      { 59, "59s" },    { 60, "1m0s" },
		{ 72, "1m12s" },    { 3599, "59m59s" }, { 3600, "1h0m" }, { 7980, "2h13m" },
		{ 86400, "1d0h" },  { 273600, "3d4h" }, { -5, "0s" },     { NAN, "0s" },
		{ INFINITY, "0s" },
	};
	char buf[64];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ctl_format_duration(rows[i].secs, buf, sizeof(buf));
		CHECK_STR(buf, rows[i].want);
	}
	ctl_format_relative(NOW - 12, NOW, buf, sizeof(buf));
	CHECK_STR(buf, "12s ago");
	ctl_format_relative(NOW + 3 * 3600, NOW, buf, sizeof(buf));
	CHECK_STR(buf, "in 3h0m");
	ctl_format_relative(NOW + 0.5, NOW, buf, sizeof(buf));
	CHECK_STR(buf, "now");
	ctl_format_relative(0, NOW, buf, sizeof(buf));
	CHECK_STR(buf, "never");
	set_tz("UTC");
	ctl_format_local(1796112000, buf, sizeof(buf));
	CHECK_STR(buf, "2026-12-01 08:00:00");
	ctl_format_local(NAN, buf, sizeof(buf));
	CHECK_STR(buf, "-");
	ctl_format_local(1e300, buf, sizeof(buf));
	CHECK_STR(buf, "-");
}
