/* SPDX-License-Identifier: MIT */
/* daemon/approve: which target a name given to --approve / --reject designates. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approve.h"
#include "config.h"

static const char conf[] =
    "{\"aws\": {\"region\": \"us-east-1\"}, \"watches\": ["
    " {\"name\": \"web-prod\", \"repository\": \"team/web\", \"tag\": \"prod\", \"targets\": ["
    "  {\"cluster\": \"prod\", \"service\": \"web\", \"container\": \"app\"},"
    "  {\"cluster\": \"arn:aws:ecs:eu-west-1:123456789012:cluster/euro\", \"service\": \"api\","
    "   \"container\": \"app\"}]},"
    " {\"name\": \"web-staging\", \"repository\": \"team/web\", \"tag\": \"staging\", \"targets\": "
    "["
    "  {\"cluster\": \"staging\", \"service\": \"web\", \"container\": \"app\"}]},"
    " {\"name\": \"prod\", \"repository\": \"team/shop\", \"tag\": \"prod\", \"targets\": ["
    "  {\"cluster\": \"prod\", \"service\": \"shop\", \"container\": \"app\"}]}]}";

TEST(approve_find_target_table)
{
	static const struct {
		const char *name;
		int want;                          /* 0, -ENOENT, -EEXIST */
		const char *watch, *cluster, *svc; /* of the target found */
	} rows[] = {
		{ "web-prod/web", 0, "web-prod", "prod", "web" },
		{ "web-staging/web", 0, "web-staging", "staging", "web" },
		{ "staging/web", 0, "web-staging", "staging", "web" },
		{ "prod/web", 0, "web-prod", "prod", "web" },
		{ "web", -EEXIST, NULL, NULL, NULL },
		{ "api", 0, "web-prod", "arn:aws:ecs:eu-west-1:123456789012:cluster/euro", "api" },
		{ "euro/api", 0, "web-prod", "arn:aws:ecs:eu-west-1:123456789012:cluster/euro",
		  "api" },
		/* the watch "prod" and the cluster "prod" name the same target: once */
		{ "prod/shop", 0, "prod", "prod", "shop" },
		{ "shop", 0, "prod", "prod", "shop" },
		{ "nope", -ENOENT, NULL, NULL, NULL },
		{ "web-prod/api/extra", -ENOENT, NULL, NULL, NULL },
		{ "web-prod/", -ENOENT, NULL, NULL, NULL },
		{ "/web", -ENOENT, NULL, NULL, NULL },
		{ "", -ENOENT, NULL, NULL, NULL },
	};
	struct config *cfg = NULL;
	struct config_errors errs = { 0 };

	CHECK_INT(config_parse_text("t.json", conf, strlen(conf), &cfg, &errs), 0);
	config_errors_done(&errs);
	if (!cfg)
		return;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct config_watch *w = NULL;
		const struct config_target *t = NULL;
		char *text = NULL;
		size_t len = 0;
		FILE *err = open_memstream(&text, &len);
		int r = approve_find_target(cfg, rows[i].name, &w, &t, err);

		fclose(err);
		if (r != rows[i].want)
			unit_fail(__FILE__, __LINE__, "'%s': got %d, want %d", rows[i].name, r,
				  rows[i].want);
		if (!r && r == rows[i].want) {
			CHECK_STR(w->name, rows[i].watch);
			CHECK_STR(t->cluster, rows[i].cluster);
			CHECK_STR(t->service, rows[i].svc);
			CHECK_INT((int)len, 0);
		}
		if (r == -EEXIST) /* the candidates: the two web targets, not the others */
			CHECK(strstr(text, "web-prod/web (cluster 'prod')") &&
			      strstr(text, "web-staging/web (cluster 'staging')") &&
			      !strstr(text, "shop"));
		if (r == -ENOENT) /* every target listed */
			CHECK(strstr(text, "is not in the configuration") &&
			      strstr(text, "web-prod/api") && strstr(text, "prod/shop"));
		free(text);
	}
	config_free(cfg);
}

/* The control socket's lookup: the same matches, the candidates as data, closest first. */
TEST(approve_match_candidates)
{
	struct config *cfg = NULL;
	struct config_errors errs = { 0 };
	const struct config_watch *w = NULL;
	const struct config_target *t = NULL;
	cJSON *c = NULL;

	CHECK_INT(config_parse_text("t.json", conf, strlen(conf), &cfg, &errs), 0);
	config_errors_done(&errs);
	if (!cfg)
		return;
	CHECK_INT(approve_match_target(cfg, "prod/shop", &w, &t, &c), 0);
	CHECK(c == NULL);
	CHECK_STR(t->service, "shop");

	CHECK_INT(approve_match_target(cfg, "web-prod/wbe", &w, &t, &c), -ENOENT);
	CHECK(cJSON_IsArray(c) && cJSON_GetArraySize(c) == 4);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(c, 0)), "web-prod/web");
	cJSON_Delete(c);
	c = NULL;

	CHECK_INT(approve_match_target(cfg, "web", &w, &t, &c), -EEXIST);
	CHECK(cJSON_IsArray(c) && cJSON_GetArraySize(c) == 2);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(c, 0)), "web-prod/web");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(c, 1)), "web-staging/web");
	cJSON_Delete(c);
	c = NULL;

	CHECK_INT(approve_match_watch(cfg, "web-staging", &w, &c), 0);
	CHECK_STR(w->name, "web-staging");
	CHECK_INT(approve_match_watch(cfg, "web-stagin", &w, &c), -ENOENT);
	CHECK(cJSON_IsArray(c) && cJSON_GetArraySize(c) == 3);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(c, 0)), "web-staging");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(c, 1)), "web-prod");
	cJSON_Delete(c);
	config_free(cfg);
}
