/* SPDX-License-Identifier: MIT */
/* common/semver: parsing, semver.org precedence, constraints (table-driven, with failing rows). */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include "semver.h"

TEST(semver_parse_rows)
{
	static const struct {
		const char *text;
		bool ok;
	} rows[] = {
		{ "1.2.3", true },
		{ "v1.2.3", true },
		{ "0.0.0", true },
		{ "1.2.3-rc.1", true },
		{ "1.2.3+build.5", true },
		{ "1.2.3-alpha-1.x+b", true },
		{ "1.2", false },
		{ "1", false },
		{ "01.2.3", false },
		{ "1.02.3", false },
		{ "1.2.3-", false },
		{ "1.2.3-01", false },
		{ "1.2.3-a..b", false },
		{ "1.2.3+", false },
		{ "1.2.3 ", false },
		{ "latest", false },
		{ "", false },
		{ "1.2.3.4", false },
		{ "99999999999999999999.0.0", false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct semver v;
		int r = semver_parse(rows[i].text, &v);
		if ((r == 0) != rows[i].ok)
			unit_fail(__FILE__, __LINE__, "'%s': got %d", rows[i].text, r);
	}
}

TEST(semver_precedence_semver_org)
{
	static const char *const order[] = {
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
		"1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
		"1.0.0-rc.1",  "1.0.0",         "1.0.1",
		"1.1.0",       "2.0.0",         "10.0.0",
	};
	size_t n = sizeof(order) / sizeof(order[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			struct semver a, b;
			CHECK_INT(semver_parse(order[i], &a), 0);
			CHECK_INT(semver_parse(order[j], &b), 0);
			int want = i < j ? -1 : i > j ? 1 : 0;
			if (semver_compare(&a, &b) != want)
				unit_fail(__FILE__, __LINE__, "%s vs %s", order[i], order[j]);
		}
	struct semver a, b;
	CHECK_INT(semver_parse("1.0.0+a", &a), 0);
	CHECK_INT(semver_parse("1.0.0+b", &b), 0);
	CHECK_INT(semver_compare(&a, &b), 0); /* build metadata does not count */
}

TEST(semver_range_rows)
{
	static const struct {
		const char *range, *version;
		bool pre, match;
	} rows[] = {
		{ "^1.4", "1.4.0", false, true },
		{ "^1.4", "1.9.9", false, true },
		{ "^1.4", "2.0.0", false, false },
		{ "^1.4", "1.3.9", false, false },
		{ "^1.4", "1.5.0-rc.1", false, false },
		{ "^1.4", "1.5.0-rc.1", true, true },
		{ "^1.4", "2.0.0-rc.1", true, false },
		{ "^0.2.3", "0.2.9", false, true },
		{ "^0.2.3", "0.3.0", false, false },
		{ "^0.0.3", "0.0.4", false, false },
		{ "~2.0", "2.0.7", false, true },
		{ "~2.0", "2.1.0", false, false },
		{ "~2", "2.9.0", false, true },
		{ ">=1.2.0 <2.0.0", "1.2.0", false, true },
		{ ">=1.2.0 <2.0.0", "2.0.0", false, false },
		{ ">=1.2.0 <2.0.0", "1.1.9", false, false },
		{ "1.x", "1.7.3", false, true },
		{ "1.x", "2.0.0", false, false },
		{ "1.2.x", "1.2.9", false, true },
		{ "*", "7.0.0", false, true },
		{ "*", "7.0.0-beta", false, false },
		{ "=1.2.3", "1.2.3", false, true },
		{ "1.2.3", "1.2.4", false, false },
		{ "^1 || ^3", "3.1.0", false, true },
		{ "^1 || ^3", "2.1.0", false, false },
		{ ">1.2", "1.2.9", false, false },
		{ ">1.2", "1.3.0", false, true },
		{ "<=1.2", "1.2.9", false, true },
		{ "v1.4.x", "1.4.2", false, true },
		{ ">= 1.0.0", "1.0.0", false, true },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct semver_range *r = NULL;
		struct semver v;
		const char *why = NULL;

		CHECK_INT(semver_range_parse(rows[i].range, &r, &why), 0);
		CHECK_INT(semver_parse(rows[i].version, &v), 0);
		if (r && semver_range_match(r, &v, rows[i].pre) != rows[i].match)
			unit_fail(__FILE__, __LINE__, "'%s' vs %s (pre %d): want %d", rows[i].range,
				  rows[i].version, rows[i].pre, rows[i].match);
		semver_range_free(r);
	}
}

TEST(semver_range_rejects)
{
	static const char *const bad[] = {
		"",           "^",        "~",     ">=", "1.2.3.4", "^1.4 junk", "abc",
		">=1.0.0 ||", "|| 1.0.0", "^01.2", ">*", "1.2.3-",  "=>1.0.0",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct semver_range *r = NULL;
		const char *why = NULL;
		int rc = semver_range_parse(bad[i], &r, &why);
		if (rc != -EINVAL || !why)
			unit_fail(__FILE__, __LINE__, "'%s' should be rejected (got %d)", bad[i],
				  rc);
		semver_range_free(rc == 0 ? r : NULL);
	}
}

TEST(semver_range_can_match_rows)
{
	static const struct {
		const char *range;
		bool can;
	} rows[] = {
		{ ">=2.0.0 <1.0.0", false },
		{ ">2.0.0 <=2.0.0", false },
		{ ">=2.0.0 <2.0.0", false },
		{ "=1.2.3 >1.2.3", false },
		{ "=1.2.3 =1.2.4", false },
		{ ">=3 <2 || >5 <4", false },
		{ "^2 <1.5", false },
		{ ">=1.0.0 <=1.0.0", true },
		{ "=1.2.3 >=1.2.3", true },
		{ ">=3 <2 || ^1", true },
		{ "^1.4", true },
		{ "~0.0", true },
		{ "*", true },
		{ ">1.0.0 <1.0.1", true }, /* 1.0.1-rc.1 is between */
		{ "<0.0.1", true },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct semver_range *r = NULL;
		CHECK_INT(semver_range_parse(rows[i].range, &r, NULL), 0);
		if (!r)
			continue;
		if (semver_range_can_match(r) != rows[i].can)
			unit_fail(__FILE__, __LINE__, "%s: can_match %d, want %d", rows[i].range,
				  !rows[i].can, rows[i].can);
		semver_range_free(r);
	}
}
