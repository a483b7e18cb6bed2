/* SPDX-License-Identifier: MIT */
/* The decision table; see decide.h. */
#include "decide.h"

#include <string.h>

enum decision decide(const struct decide_input *in)
{
	if (!in->want)
		return DECIDE_NOTHING;
	if (in->deployed && !strcmp(in->deployed, in->want))
		return in->pinned && in->followed && strcmp(in->followed, in->want)
			   ? DECIDE_SKIP_PINNED
			   : DECIDE_NOTHING;
	if (!in->pinned && in->held && !strcmp(in->held, in->want))
		return DECIDE_SKIP_HELD;
	if (in->failed)
		return DECIDE_SKIP_FAILED;
	if (in->paused)
		return DECIDE_SKIP_PAUSED;
	if (in->busy)
		return DECIDE_WAIT_BUSY;
	if (!in->deployed)
		return DECIDE_INSPECT;
	if (in->unsupported)
		return DECIDE_SKIP_UNSUPPORTED;
	if (in->dry_run)
		return DECIDE_DRY_RUN;
	if (in->at_capacity)
		return DECIDE_WAIT_CAPACITY;
	return DECIDE_DEPLOY;
}

enum update_resume decide_update_resume(bool found, double sent_at, double now, double window)
{
	if (found)
		return UPDATE_ADOPT;
	if (sent_at > 0 && now >= sent_at - 1.0 && now < sent_at + window)
		return UPDATE_WAIT;
	return UPDATE_SEND;
}

const char *decision_name(enum decision d)
{
	static const char *const names[] = {
		[DECIDE_NOTHING] = "nothing",
		[DECIDE_INSPECT] = "inspect",
		[DECIDE_DEPLOY] = "deploy",
		[DECIDE_WAIT_BUSY] = "wait-busy",
		[DECIDE_WAIT_CAPACITY] = "wait-capacity",
		[DECIDE_SKIP_FAILED] = "failed-before",
		[DECIDE_SKIP_PAUSED] = "paused",
		[DECIDE_SKIP_HELD] = "held",
		[DECIDE_SKIP_UNSUPPORTED] = "strategy-unsupported",
		[DECIDE_SKIP_PINNED] = "pinned",
		[DECIDE_DRY_RUN] = "dry-run",
	};

	return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "?";
}
