/* SPDX-License-Identifier: MIT */
/* Table-driven tests of common/duration: accepted forms, every rejection, round trips. */
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "duration.h"

TEST(duration_parse_accepts)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} rows[] = {
		{ "0s", 0 },       { "30s", 30000 },     { "15m", 900000 },
		{ "1h", 3600000 }, { "1h30m", 5400000 }, { "2d", 172800000 },
		{ "250ms", 250 },  { "1m30s", 90000 },   { "1d2h3m4s5ms", 93784005 },
		{ "90s", 90000 },  { "007s", 7000 },     { "18446744073709551615ms", UINT64_MAX },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t ms = 12345;
		const char *why = NULL;
		int r = duration_parse(rows[i].text, &ms, &why);

		CHECK_INT(r, 0);
		if (r == 0)
			CHECK_INT(ms, rows[i].ms);
		else
			unit_fail(__FILE__, __LINE__, "'%s': %s", rows[i].text, why);
	}
}

/* Failing rows; a row with err 0 marks the accepted boundary next to a rejected one. */
TEST(duration_parse_rejects)
{
	static const struct {
		const char *text;
		int err;
		const char *reason_part;
	} rows[] = {
		{ "", -EINVAL, "must not be empty" },
		{ "30", -EINVAL, "followed by a unit" },
		{ "s", -EINVAL, "expected a number" },
		{ "-5s", -EINVAL, "expected a number" },
		{ "+5s", -EINVAL, "expected a number" },
		{ " 5s", -EINVAL, "expected a number" },
		{ "5s ", -EINVAL, "expected a number" },
		{ "5 s", -EINVAL, "unknown unit" },
		{ "1.5h", -EINVAL, "unknown unit" },
		{ "5w", -EINVAL, "unknown unit" },
		{ "5S", -EINVAL, "unknown unit" },
		{ "30m1h", -EINVAL, "largest to smallest" },
		{ "1h1h", -EINVAL, "largest to smallest" },
		{ "5ms5s", -EINVAL, "largest to smallest" },
		{ "1h30", -EINVAL, "followed by a unit" },
		{ "99999999999999999999s", -ERANGE, "too large" },
		{ "18446744073709552s", -ERANGE, "too long" },
		{ "18446744073709551s", 0, NULL },
		{ "18446744073709551615ms1ms", -EINVAL, "largest to smallest" },
		{ "213503982334d1d", -EINVAL, "largest to smallest" },
		{ "213503982334d23h", -ERANGE, "too long" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t ms = 777;
		const char *why = NULL;
		int r = duration_parse(rows[i].text, &ms, &why);

		if (r != rows[i].err)
			unit_fail(__FILE__, __LINE__, "'%s': got %d, want %d", rows[i].text, r,
				  rows[i].err);
		if (rows[i].err == 0)
			continue;   /* the boundary just inside the range */
		CHECK_INT(ms, 777); /* untouched on failure */
		if (!why || !strstr(why, rows[i].reason_part))
			unit_fail(__FILE__, __LINE__, "'%s': reason '%s' lacks '%s'", rows[i].text,
				  why ? why : "(null)", rows[i].reason_part);
	}
	CHECK_INT(duration_parse(NULL, &(uint64_t){ 0 }, NULL), -EINVAL);
}

TEST(duration_format_round_trips)
{
	static const struct {
		uint64_t ms;
		const char *text;
	} rows[] = {
		{ 0, "0s" },        { 1, "1ms" },
		{ 1000, "1s" },     { 2500, "2s500ms" },
		{ 90000, "1m30s" }, { 5400000, "1h30m" },
		{ 86400000, "1d" }, { 93784005, "1d2h3m4s5ms" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[DURATION_FORMAT_MAX];
		uint64_t back = 0;

		CHECK_INT(duration_format(rows[i].ms, buf, sizeof(buf)), strlen(rows[i].text));
		CHECK_STR(buf, rows[i].text);
		CHECK_INT(duration_parse(buf, &back, NULL), 0);
		CHECK_INT(back, rows[i].ms);
	}
}

TEST(duration_format_bounds)
{
	char buf[DURATION_FORMAT_MAX];
	char small[4];
	uint64_t back = 0;

	CHECK(duration_format(UINT64_MAX, buf, sizeof(buf)) > 0);
	CHECK_INT(duration_parse(buf, &back, NULL), 0);
	CHECK(back == UINT64_MAX);
	CHECK_INT(duration_format(5400000, small, sizeof(small)), -ENOBUFS);
	CHECK_STR(small, "");
	CHECK_INT(duration_format(0, small, 2), -ENOBUFS);
	CHECK_INT(duration_format(0, small, 0), -ENOBUFS);
	CHECK_INT(duration_format(0, small, 3), 2);
	CHECK_STR(small, "0s");
}
