/* SPDX-License-Identifier: MIT */
/* daemon/decide: one row per rule of the decision table. */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "decide.h"

#define A "sha256:aaaa"
#define B "sha256:bbbb"

TEST(decide_table)
{
	static const struct {
		const char *name;
		struct decide_input in;
		enum decision want;
	} rows[] = {
		{ "nothing wanted", { .want = NULL, .deployed = A }, DECIDE_NOTHING },
		{ "runs already", { .want = A, .deployed = A }, DECIDE_NOTHING },
		{ "runs already, even when busy or paused",
		  { .want = A, .deployed = A, .busy = true, .paused = true },
		  DECIDE_NOTHING },
		{ "new digest", { .want = B, .deployed = A }, DECIDE_DEPLOY },
		{ "unknown digest running (inspected)",
		  { .want = B, .deployed = "" },
		  DECIDE_DEPLOY },
		{ "first start: inspect", { .want = B, .deployed = NULL }, DECIDE_INSPECT },
		{ "first start in dry run: inspect (read-only)",
		  { .want = B, .deployed = NULL, .dry_run = true },
		  DECIDE_INSPECT },
		{ "held back", { .want = B, .deployed = A, .held = B }, DECIDE_SKIP_HELD },
		{ "held is another digest",
		  { .want = B, .deployed = A, .held = A },
		  DECIDE_DEPLOY },
		{ "failed before",
		  { .want = B, .deployed = A, .failed = true },
		  DECIDE_SKIP_FAILED },
		{ "failed before wins over paused",
		  { .want = B, .deployed = A, .failed = true, .paused = true },
		  DECIDE_SKIP_FAILED },
		{ "paused", { .want = B, .deployed = A, .paused = true }, DECIDE_SKIP_PAUSED },
		{ "busy: waits (coalesced)",
		  { .want = B, .deployed = A, .busy = true },
		  DECIDE_WAIT_BUSY },
		{ "busy before inspect",
		  { .want = B, .deployed = NULL, .busy = true },
		  DECIDE_WAIT_BUSY },
		{ "unsupported strategy",
		  { .want = B, .deployed = A, .unsupported = true, .dry_run = true },
		  DECIDE_SKIP_UNSUPPORTED },
		{ "dry run", { .want = B, .deployed = A, .dry_run = true }, DECIDE_DRY_RUN },
		{ "dry run ignores capacity",
		  { .want = B, .deployed = A, .dry_run = true, .at_capacity = true },
		  DECIDE_DRY_RUN },
		{ "at capacity",
		  { .want = B, .deployed = A, .at_capacity = true },
		  DECIDE_WAIT_CAPACITY },
		/* issue 15: a pin replaces the watch's digest (want is the pin, followed the
		   watch's) */
		{ "pinned: deploys the pin",
		  { .want = A, .followed = B, .pinned = true, .deployed = B },
		  DECIDE_DEPLOY },
		{ "pinned and running it, the watch moved on: said once",
		  { .want = A, .followed = B, .pinned = true, .deployed = A },
		  DECIDE_SKIP_PINNED },
		{ "pinned and running it, the watch wants the same",
		  { .want = A, .followed = A, .pinned = true, .deployed = A },
		  DECIDE_NOTHING },
		{ "pinned, the watch has nothing yet",
		  { .want = A, .followed = NULL, .pinned = true, .deployed = A },
		  DECIDE_NOTHING },
		{ "pinned ignores a hold of the pinned digest",
		  { .want = A, .followed = B, .pinned = true, .deployed = B, .held = A },
		  DECIDE_DEPLOY },
		{ "pinned to a digest that failed there",
		  { .want = A, .followed = B, .pinned = true, .deployed = B, .failed = true },
		  DECIDE_SKIP_FAILED },
		{ "pinned and paused",
		  { .want = A, .followed = B, .pinned = true, .deployed = B, .paused = true },
		  DECIDE_SKIP_PAUSED },
		{ "pinned, busy",
		  { .want = A, .pinned = true, .deployed = B, .busy = true },
		  DECIDE_WAIT_BUSY },
		{ "pinned in a dry run",
		  { .want = A, .pinned = true, .deployed = B, .dry_run = true },
		  DECIDE_DRY_RUN },
		{ "pinned, never looked at: inspect first",
		  { .want = A, .pinned = true, .deployed = NULL },
		  DECIDE_INSPECT },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum decision got = decide(&rows[i].in);
		if (got != rows[i].want)
			unit_fail(__FILE__, __LINE__, "row '%s': got %s, want %s", rows[i].name,
				  decision_name(got), decision_name(rows[i].want));
	}
}

TEST(decide_names_are_distinct)
{
	for (int a = DECIDE_NOTHING; a <= DECIDE_DRY_RUN; a++)
		for (int b = a + 1; b <= DECIDE_DRY_RUN; b++)
			CHECK(strcmp(decision_name((enum decision)a),
				     decision_name((enum decision)b)));
	CHECK_STR(decision_name(DECIDE_SKIP_FAILED), "failed-before");
	CHECK_STR(decision_name(DECIDE_SKIP_PINNED), "pinned");
}

/* Issue 11 case 13: after a stop while UpdateService was slow to answer, the resume waits out the
 * call's attempt timeout before sending it again. */
TEST(decide_update_resume_table)
{
	static const struct {
		const char *name;
		bool found;
		double sent_at, now;
		enum update_resume want;
	} rows[] = {
		{ "our deployment is there", true, 1000, 1001, UPDATE_ADOPT },
		{ "there, long after", true, 1000, 9000, UPDATE_ADOPT },
		{ "never sent", false, 0, 1001, UPDATE_SEND },
		{ "sent a moment ago, not seen yet", false, 1000, 1001, UPDATE_WAIT },
		{ "sent, at the end of the window", false, 1000, 1014.9, UPDATE_WAIT },
		{ "sent, the window is over", false, 1000, 1015, UPDATE_SEND },
		{ "sent in the future (clock stepped back): send", false, 5000, 1000, UPDATE_SEND },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum update_resume got =
		    decide_update_resume(rows[i].found, rows[i].sent_at, rows[i].now, 15.0);
		if (got != rows[i].want)
			unit_fail(__FILE__, __LINE__, "%s: got %d, want %d", rows[i].name, got,
				  rows[i].want);
	}
}
