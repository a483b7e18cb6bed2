/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the zero-downtime guard (daemon/guard.h): the bytes
 * are parsed as a DescribeServices reply (its first service, or the object
 * itself) beside a DescribeTaskDefinition reply's "taskDefinition", and
 * checked with every strategy and rollback setting and every max. A finding
 * must stay within max, bounded and free of control characters: anything
 * else aborts.
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t n)
{
	const char *end = memchr(s, '\0', n);

	if (!end)
		abort();
	for (; s < end; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = cJSON_ParseWithLength((const char *)data, size);
	const char *containers[] = { "app", "sidecar", NULL };
	struct guard_finding out[GUARD_FINDINGS_MAX];
	const cJSON *svc, *td;

	if (!body)
		return 0;
	svc = cJSON_GetArrayItem(cJSON_GetObjectItem(body, "services"), 0);
	if (!svc)
		svc = body;
	td = cJSON_GetObjectItem(body, "taskDefinition");
	for (unsigned mode = 0; mode < 4; mode++)
		for (size_t max = 0; max <= GUARD_FINDINGS_MAX; max++) {
			size_t n =
			    guard_check(svc, td, containers, 3, mode & 1, mode & 2, out, max);
			if (n > max)
				abort();
			for (size_t i = 0; i < n; i++) {
				check_text(out[i].setting, sizeof(out[i].setting));
				check_text(out[i].value, sizeof(out[i].value));
				check_text(out[i].why, sizeof(out[i].why));
			}
		}
	cJSON_Delete(body);
	return 0;
}
