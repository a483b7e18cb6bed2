/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the readers of what arrives from SQS (daemon/event.c). The first byte
 * selects the reader: 'e' (or anything else) an event body, read as given (not
 * NUL-terminated); 'r' a ReceiveMessage reply, parsed by cJSON, then every body it holds read
 * as an event; 'd' a DeleteMessageBatch reply for (second byte % 12) entries. Besides the
 * sanitizers it checks what the readers promise: every value kept has its shape (account 12
 * digits, a region, a repository, tag and digest as ECR allows them, ECS names), why and the
 * failure are terminated and free of raw control characters, and a refused reply deletes
 * nothing.
 */
#include <cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
	if (!ok)
		abort();
}

static bool terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static bool no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool graph(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void check_event(int r, const struct event *ev, const char *why, size_t why_n)
{
	require(terminated(why, why_n) && no_controls(why));
	if (r < 0) {
		require(r == -EINVAL && *why);
		return;
	}
	require(r == 0);
	require(terminated(ev->id, sizeof(ev->id)) && graph(ev->id));
	require(terminated(ev->reason, sizeof(ev->reason)));
	require(terminated(ev->service_deployment_arn, sizeof(ev->service_deployment_arn)));
	switch (ev->kind) {
	case EVENT_ECR_PUSH:
	case EVENT_ECR_DELETE:
		require(name_valid_repository(ev->repository));
		require(!*ev->tag || name_valid_tag(ev->tag));
		require(!*ev->digest || digest_valid(ev->digest));
		require(!*ev->service && !*ev->cluster);
		break;
	case EVENT_ECS_DEPLOYMENT:
	case EVENT_ECS_HOOK:
		require(name_valid_ecs(ev->service));
		require(!*ev->cluster || name_valid_ecs(ev->cluster));
		require(*ev->event_name &&
			strspn(ev->event_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
					       "456789_") == strlen(ev->event_name));
		require(!*ev->repository && !*ev->digest);
		break;
	case EVENT_IGNORED:
		require(!*ev->repository && !*ev->service);
		return;
	default:
		abort();
	}
	require(strlen(ev->account) == 12 && strspn(ev->account, "0123456789") == 12);
	require(endpoint_valid_region(ev->region));
}

static void fuzz_event(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so that ASan sees any read past the end */
	char *body = malloc(size ? size : 1), why[160];
	struct event ev;
	int r;

	require(body != NULL);
	memcpy(body, data, size);
	r = event_parse(body, size, &ev, why, sizeof(why));
	check_event(r, &ev, why, sizeof(why));
	/* a tiny why is cut, never overrun */
	event_parse(body, size, &ev, why, 5);
	require(terminated(why, 5));
	free(body);
}

static void fuzz_receive(const uint8_t *data, size_t size)
{
	cJSON *reply = cJSON_ParseWithLength((const char *)data, size);
	struct sqs_message *m = NULL;
	size_t n = 0;
	char why[160];
	int r;

	if (!reply)
		return;
	r = sqs_parse_receive(reply, &m, &n, why, sizeof(why));
	require(terminated(why, sizeof(why)) && no_controls(why));
	if (r == 0) {
		require(n <= 10 && (n == 0) == (m == NULL));
		for (size_t i = 0; i < n; i++) {
			struct event ev;
			char ewhy[160];
			require(terminated(m[i].id, sizeof(m[i].id)) && graph(m[i].id));
			require(terminated(m[i].receipt, sizeof(m[i].receipt)) &&
				graph(m[i].receipt));
			require(m[i].receive_count >= 0 && m[i].sent_ms >= 0);
			if (m[i].body) {
				r = event_parse(m[i].body, strlen(m[i].body), &ev, ewhy,
						sizeof(ewhy));
				check_event(r, &ev, ewhy, sizeof(ewhy));
			}
		}
		sqs_messages_free(m, n);
	} else {
		require(r == -EINVAL && *why && m == NULL);
	}
	cJSON_Delete(reply);
}

static void fuzz_delete(const uint8_t *data, size_t size)
{
	size_t n = size ? data[0] % 12 : 0;
	cJSON *reply = size ? cJSON_ParseWithLength((const char *)data + 1, size - 1) : NULL;
	bool deleted[12];
	char failure[48];
	int r, count = 0;

	if (!reply)
		return;
	memset(deleted, 1, sizeof(deleted));
	r = sqs_parse_delete_batch(reply, n, deleted, failure, sizeof(failure));
	require(terminated(failure, sizeof(failure)) && no_controls(failure));
	for (size_t i = 0; i < n; i++)
		count += deleted[i];
	require(r < 0 ? r == -EINVAL && count == 0 : r == count);
	cJSON_Delete(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 'r':
		fuzz_receive(data + 1, size - 1);
		break;
	case 'd':
		fuzz_delete(data + 1, size - 1);
		break;
	default:
		fuzz_event(data + 1, size - 1);
		break;
	}
	return 0;
}
