/* SPDX-License-Identifier: MIT */
/* Stub: the tests come first. */
#include "event.h"

#include <errno.h>

int sqs_parse_receive(const cJSON *reply, struct sqs_message **ret, size_t *n, char *why,
		      size_t why_n)
{
	(void)reply, (void)ret, (void)n, (void)why, (void)why_n;
	return -ENOSYS;
}

void sqs_messages_free(struct sqs_message *m, size_t n)
{
	(void)m, (void)n;
}

int event_parse(const char *body, size_t len, struct event *ev, char *why, size_t why_n)
{
	(void)body, (void)len, (void)ev, (void)why, (void)why_n;
	return -ENOSYS;
}

const char *event_kind_name(enum event_kind k)
{
	(void)k;
	return "";
}

int sqs_parse_delete_batch(const cJSON *reply, size_t n, bool *deleted, char *failure,
			   size_t failure_n)
{
	(void)reply, (void)n, (void)deleted, (void)failure, (void)failure_n;
	return -ENOSYS;
}
