/* SPDX-License-Identifier: MIT */
/*
 * Duration parsing and formatting for config values such as poll intervals
 * and rollout timeouts.
 */
#include "duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit {
	const char *name;
	uint64_t ms;
};

/* Descending order: a duration must name its units in this order. */
static const struct unit units[] = {
	{ "d", DURATION_MS_PER_DAY },
	{ "h", DURATION_MS_PER_HOUR },
	{ "m", DURATION_MS_PER_MIN },
	{ "s", DURATION_MS_PER_SEC },
	{ "ms", 1 },
};

#define N_UNITS (sizeof(units) / sizeof(units[0]))

static int fail(const char **reason, const char *why, int err)
{
	if (reason)
		*reason = why;
	return err;
}

/* Matches the unit at p; "ms" must win over "m". Returns its index or -1. */
static int match_unit(const char *p, size_t *ret_len)
{
	int best = -1;
	size_t best_len = 0;

	for (size_t i = 0; i < N_UNITS; i++) {
		size_t len = strlen(units[i].name);
		if (strncmp(p, units[i].name, len) == 0 && len > best_len) {
			best = (int)i;
			best_len = len;
		}
	}
	if (best >= 0)
		*ret_len = best_len;
	return best;
}

int duration_parse(const char *text, uint64_t *ret_ms, const char **reason)
{
	const char *p = text;
	uint64_t total = 0;
	int last_unit = -1;

	if (!text || !*text)
		return fail(reason, "a duration must not be empty", -EINVAL);

	while (*p) {
		uint64_t n = 0;
		size_t ulen = 0;
		int u;

		if (*p < '0' || *p > '9')
			return fail(reason,
				    "expected a number followed by a unit (d, h, m, s, ms), as in "
				    "'30s' or '1h30m'",
				    -EINVAL);
		while (*p >= '0' && *p <= '9') {
			unsigned digit = (unsigned)(*p - '0');
			if (n > (UINT64_MAX - digit) / 10)
				return fail(reason, "the number is too large", -ERANGE);
			n = n * 10 + digit;
			p++;
		}
		if (!*p)
			return fail(reason, "a number must be followed by a unit (d, h, m, s, ms)",
				    -EINVAL);
		u = match_unit(p, &ulen);
		if (u < 0)
			return fail(reason, "unknown unit; the units are d, h, m, s and ms",
				    -EINVAL);
		if (u <= last_unit)
			return fail(
			    reason,
			    "units must come from largest to smallest, each once (as in '1h30m')",
			    -EINVAL);
		last_unit = u;
		if (n > UINT64_MAX / units[u].ms)
			return fail(reason, "the duration is too long", -ERANGE);
		n *= units[u].ms;
		if (total > UINT64_MAX - n)
			return fail(reason, "the duration is too long", -ERANGE);
		total += n;
		p += ulen;
	}
	*ret_ms = total;
	return 0;
}

int duration_format(uint64_t ms, char *buf, size_t n)
{
	size_t len = 0;
	bool any = false;

	if (n == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	for (size_t i = 0; i < N_UNITS; i++) {
		uint64_t count = ms / units[i].ms;
		int w;

		if (count == 0)
			continue;
		ms -= count * units[i].ms;
		w = snprintf(buf + len, n - len, "%llu%s", (unsigned long long)count,
			     units[i].name);
		if (w < 0 || (size_t)w >= n - len) {
			buf[0] = '\0';
			return -ENOBUFS;
		}
		len += (size_t)w;
		any = true;
	}
	if (!any) {
		if (n < 3) {
			buf[0] = '\0';
			return -ENOBUFS;
		}
		memcpy(buf, "0s", 3);
		len = 2;
	}
	return (int)len;
}
