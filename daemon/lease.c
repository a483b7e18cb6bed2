/* SPDX-License-Identifier: MIT */
/* The HA lease (lease.h). STUB: lease_new() returns -ENOSYS until implemented. */
#include "lease.h"

#include <errno.h>
#include <stdio.h>

/* STUB (-ENOSYS): replaced by the implementation on this branch. */
int lease_new(const struct lease_options *o, struct lease **ret, char *why, size_t why_len)
{
	(void)o, (void)ret;
	snprintf(why, why_len, "lease: not implemented yet");
	return -ENOSYS;
}

int lease_new_io(const struct lease_options *o, const struct lease_io *io, struct lease **ret,
		 char *why, size_t why_len)
{
	(void)o, (void)io, (void)ret;
	snprintf(why, why_len, "lease: not implemented yet");
	return -ENOSYS;
}

void lease_start(struct lease *l)
{
	(void)l;
}

void lease_free(struct lease *l)
{
	(void)l;
}

enum lease_role lease_role(const struct lease *l)
{
	(void)l;
	return LEASE_STARTING;
}

const char *lease_role_name(enum lease_role r)
{
	static const char *const names[] = { "starting", "standby", "leading", "suspended",
					     "lost" };
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

const char *lease_leader(const struct lease *l)
{
	(void)l;
	return NULL;
}

int64_t lease_leader_since(const struct lease *l)
{
	(void)l;
	return 0;
}

uint64_t lease_term(const struct lease *l)
{
	(void)l;
	return 0;
}

uint64_t lease_version(const struct lease *l)
{
	(void)l;
	return 0;
}

const char *lease_previous_owner(const struct lease *l)
{
	(void)l;
	return "";
}

const char *lease_last_error(const struct lease *l)
{
	(void)l;
	return "";
}

bool lease_may_act(const struct lease *l)
{
	(void)l;
	return false;
}

bool lease_gate(void *ud)
{
	return lease_may_act(ud);
}

int lease_release(struct lease *l)
{
	(void)l;
	return 0;
}

void lease_tick(struct lease *l)
{
	(void)l;
}

void lease_answer(struct lease *l, int err, const struct ddb_lease *item, const char *why)
{
	(void)l, (void)err, (void)item, (void)why;
}
