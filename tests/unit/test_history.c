/* SPDX-License-Identifier: MIT */
/* daemon/history: round trip, bounded per target, a bad file kept aside, the rollback's pick. */
#include "unit.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static char *tmpdir(void)
{
	static char d[64];

	snprintf(d, sizeof(d), "/tmp/ecr-history-XXXXXX");
	return mkdtemp(d);
}

static void rm_rf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

static int add(struct history *h, const char *target, const char *digest,
	       enum history_result result, double at)
{
	char why[256];
	struct history_entry e = { .watch = "web",
				   .target = target,
				   .digest = digest,
				   .tag = "prod",
				   .from_td = "arn:aws:ecs:us-east-1:1:task-definition/web:1",
				   .to_td = NULL,
				   .result = result,
				   .started = at - 5,
				   .ended = at,
				   .reason = result == HISTORY_COMPLETED ? NULL : "it crashed",
				   .by_operator = result == HISTORY_ROLLED_BACK,
				   .uid = 1000,
				   .pid = 42 };

	return history_add(h, &e, NULL, NULL, why, sizeof(why));
}

static const char *str_at(const cJSON *list, int i, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, i), key));
}

TEST(history_round_trip)
{
	char *dir = tmpdir(), why[256], *warn = NULL;
	struct history *h = NULL;
	cJSON *list;

	CHECK_INT(history_open(dir, 0, &h, &warn, why, sizeof(why)), 0);
	CHECK(warn == NULL);
	if (!h)
		return;
	CHECK_INT(add(h, "web/web", D1, HISTORY_COMPLETED, 1000), 0);
	CHECK_INT(add(h, "web/api", D2, HISTORY_ROLLED_BACK, 1001), 0);
	history_free(h);
	CHECK_INT(count_prefixed(dir, "history.json.tmp"), 0);

	h = NULL;
	CHECK_INT(history_open(dir, 0, &h, &warn, why, sizeof(why)), 0);
	CHECK(warn == NULL);
	if (!h)
		return;
	list = history_list(h, NULL, NULL, 20);
	CHECK_INT(cJSON_GetArraySize(list), 2);
	CHECK_STR(str_at(list, 0, "digest"), D2); /* newest first */
	CHECK_STR(str_at(list, 0, "result"), "rolled-back");
	CHECK_STR(str_at(list, 0, "by"), "operator");
	CHECK_STR(str_at(list, 0, "reason"), "it crashed");
	CHECK_INT((int)cJSON_GetObjectItem(
		      cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "caller"), "uid")
		      ->valuedouble,
		  1000);
	CHECK_STR(str_at(list, 1, "digest"), D1);
	CHECK_STR(str_at(list, 1, "by"), "auto");
	CHECK_STR(str_at(list, 1, "tag"), "prod");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "to_task_definition")));
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "caller")));
	CHECK_INT((int)cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "duration")->valuedouble,
		  5);
	cJSON_Delete(list);
	list = history_list(h, NULL, "web/api", 20);
	CHECK_INT(cJSON_GetArraySize(list), 1);
	cJSON_Delete(list);
	list = history_list(h, "web", NULL, 1);
	CHECK_INT(cJSON_GetArraySize(list), 1);
	cJSON_Delete(list);
	list = history_list(h, "other", NULL, 20);
	CHECK_INT(cJSON_GetArraySize(list), 0);
	cJSON_Delete(list);
	history_free(h);
	rm_rf(dir);
}

/* history_max 3: the oldest entries of a target go, another target's stay; a loaded file over
 * the bound is trimmed too. */
TEST(history_bounded_per_target)
{
	char *dir = tmpdir(), why[256];
	struct history *h = NULL;
	cJSON *list;

	CHECK_INT(history_open(dir, 3, &h, NULL, why, sizeof(why)), 0);
	if (!h)
		return;
	CHECK_INT(add(h, "web/api", D3, HISTORY_COMPLETED, 10), 0);
	for (int i = 0; i < 5; i++)
		CHECK_INT(add(h, "web/web", i % 2 ? D1 : D2, HISTORY_COMPLETED, 100 + i), 0);
	CHECK_INT((int)history_count(h), 4);
	list = history_list(h, NULL, "web/web", 20);
	CHECK_INT(cJSON_GetArraySize(list), 3);
	CHECK_INT((int)cJSON_GetObjectItem(cJSON_GetArrayItem(list, 2), "at")->valuedouble, 102);
	cJSON_Delete(list);
	history_free(h);

	h = NULL;
	CHECK_INT(history_open(dir, 2, &h, NULL, why, sizeof(why)), 0);
	if (h) {
		CHECK_INT((int)history_count(h), 3);
		history_free(h);
	}
	rm_rf(dir);
}

/* A file that does not parse, or of a newer version, is kept aside, said, and the history starts
 * empty; the next write makes a good file. */
TEST(history_bad_file_kept_aside)
{
	static const char *const bad[] = {
		"{not json",
		"{\"version\": 2, \"entries\": []}",
		"{\"version\": 1, \"entries\": [{\"watch\": \"web\"}]}",
		"[]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *dir = tmpdir(), why[256], path[128], *warn = NULL;
		struct history *h = NULL;
		FILE *f;

		snprintf(path, sizeof(path), "%s/history.json", dir);
		f = fopen(path, "w");
		if (f) {
			fputs(bad[i], f);
			fclose(f);
		}
		CHECK_INT(history_open(dir, 0, &h, &warn, why, sizeof(why)), 0);
		CHECK(warn != NULL && strstr(warn, "kept aside") != NULL);
		free(warn);
		CHECK_INT(count_prefixed(dir, "history.json.bad-"), 1);
		if (h) {
			CHECK_INT((int)history_count(h), 0);
			CHECK_INT(add(h, "web/web", D1, HISTORY_COMPLETED, 10), 0);
			history_free(h);
		}
		h = NULL;
		warn = NULL;
		CHECK_INT(history_open(dir, 0, &h, &warn, why, sizeof(why)), 0);
		CHECK(warn == NULL);
		if (h) {
			CHECK_INT((int)history_count(h), 1);
			history_free(h);
		}
		rm_rf(dir);
	}
}

static bool skip_d1(const char *digest, void *ud)
{
	(void)ud;
	return !strcmp(digest, D1);
}

/* The digest to roll back to: the last one completed on the target that is not the current one,
 * failed ones left out by the caller's skip. */
TEST(history_previous_digest)
{
	char *dir = tmpdir(), why[256];
	struct history *h = NULL;

	CHECK_INT(history_open(dir, 0, &h, NULL, why, sizeof(why)), 0);
	if (!h)
		return;
	CHECK(history_previous(h, "web/web", D2, NULL, NULL) == NULL);
	CHECK_INT(add(h, "web/web", D1, HISTORY_COMPLETED, 10), 0);
	CHECK_INT(add(h, "web/api", D3, HISTORY_COMPLETED, 11), 0);
	CHECK_INT(add(h, "web/web", D3, HISTORY_FAILED, 12), 0);
	CHECK_INT(add(h, "web/web", D2, HISTORY_COMPLETED, 13), 0);
	CHECK_STR(history_previous(h, "web/web", D2, NULL, NULL), D1);
	CHECK(history_previous(h, "web/web", D2, skip_d1, NULL) == NULL);
	CHECK_STR(history_previous(h, "web/web", D1, NULL, NULL), D2);
	CHECK(history_previous(h, "web/api", D3, NULL, NULL) == NULL);
	history_free(h);
	rm_rf(dir);
}

static bool skip_d2(const char *digest, void *ud)
{
	(void)ud;
	return !strcmp(digest, D2);
}

/* A digest found running at first start completed no rollout of ours: the entries' from_digest
 * names it, the pick after the completed ones. */
TEST(history_previous_from_digest)
{
	char *dir = tmpdir(), why[256];
	struct history *h = NULL;
	struct history_entry e = { .watch = "web",
				   .target = "web/web",
				   .digest = D2,
				   .result = HISTORY_COMPLETED,
				   .started = 1,
				   .ended = 2,
				   .from_digest = D1 };

	CHECK_INT(history_open(dir, 0, &h, NULL, why, sizeof(why)), 0);
	if (!h)
		return;
	CHECK_INT(history_add(h, &e, NULL, NULL, why, sizeof(why)), 0);
	CHECK_STR(history_previous(h, "web/web", D2, NULL, NULL), D1);
	e.digest = D3;
	e.from_digest = D2;
	CHECK_INT(history_add(h, &e, NULL, NULL, why, sizeof(why)), 0);
	CHECK_STR(history_previous(h, "web/web", D3, NULL, NULL), D2);
	CHECK_STR(history_previous(h, "web/web", D2, NULL, NULL), D3);
	CHECK_STR(history_previous(h, "web/web", D3, skip_d2, NULL), D1);
	history_free(h);
	rm_rf(dir);
}
