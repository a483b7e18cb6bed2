/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the readers of ECR's replies (daemon/images.c):
 * BatchGetImage, DescribeImages by tag and DescribeImages pages, then the
 * tag pick of glob and semver rules over what was read. The input is one
 * reply body, read by every reader (a page twice, as pages accumulate).
 * Besides the sanitizers it checks what the readers promise: every digest
 * kept is a valid one, every refused value is not, a registry is 12 digits,
 * a pick is a listed tag that its rule matches.
 */
#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "digest.h"
#include "images.h"
#include "semver.h"
#include "strmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
	if (!ok)
		abort();
}

static void check_picks(const struct images *im)
{
	static char glob_all[] = "*", glob_rel[] = "release-[0-9]*", rc[] = "*-rc*";
	static char semver_text[] = ">=1.0.0 <3.0.0 || ^0.1";
	static char *excludes[] = { rc };
	static struct config_watch watches[4];
	static int ready;
	const char *tag, *digest;

	if (!ready) {
		const char *why;
		watches[0] = (struct config_watch){ .rule = TAG_GLOB, .glob = glob_all };
		watches[1] = (struct config_watch){
			.rule = TAG_GLOB, .glob = glob_rel, .exclude = excludes, .n_exclude = 1
		};
		watches[2] =
		    (struct config_watch){ .rule = TAG_SEMVER, .semver_text = semver_text };
		watches[3] = (struct config_watch){ .rule = TAG_SEMVER,
						    .semver_text = semver_text,
						    .prerelease = true };
		require(semver_range_parse(semver_text, &watches[2].semver, &why) == 0);
		watches[3].semver = watches[2].semver;
		ready = 1;
	}
	for (size_t i = 0; i < sizeof(watches) / sizeof(watches[0]); i++) {
		bool listed = false;
		if (!images_pick(im, &watches[i], &tag, &digest))
			continue;
		require(images_rule_matches(&watches[i], tag) && digest_valid(digest));
		for (size_t k = 0; k < im->n_list && !listed; k++)
			for (size_t t = 0; t < im->list[k].n_tags && !listed; t++)
				listed = im->list[k].tags[t] == tag && im->list[k].digest == digest;
		require(listed);
	}
}

static void check_read(const struct images *im)
{
	require(!*im->registry ||
		(strlen(im->registry) == 12 && strspn(im->registry, "0123456789") == 12));
	require(im->n_bad <= IMAGES_MAX_BAD && im->n_list <= IMAGES_MAX);
	for (size_t i = 0; i < im->n_bad; i++) {
		const char *d = strmap_get(im->digests, im->bad[i].tag);
		require(!digest_valid(im->bad[i].value));
		require(!d || digest_valid(d));
		require(images_bad_digest(im, im->bad[i].tag) != NULL);
	}
	for (size_t i = 0; i < im->n_list; i++) {
		require(digest_valid(im->list[i].digest));
		for (size_t t = 0; t < im->list[i].n_tags; t++) {
			const char *d = strmap_get(im->digests, im->list[i].tags[t]);
			require(im->list[i].tags[t] != NULL && (!d || digest_valid(d)));
		}
	}
	check_picks(im);
}

/* Every tag the reply names maps to a valid digest or to none. */
static void check_tags(const struct images *im, const cJSON *body)
{
	const cJSON *x, *t;

	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "imageDetails"))
	{
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(x, "imageTags"))
		{
			const char *d =
			    cJSON_IsString(t) ? strmap_get(im->digests, t->valuestring) : NULL;
			require(!d || digest_valid(d));
		}
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "images"))
	{
		const char *tag = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(x, "imageId"), "imageTag"));
		const char *d = tag ? strmap_get(im->digests, tag) : NULL;
		require(!d || digest_valid(d));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = cJSON_ParseWithLength((const char *)data, size);
	struct images im = { 0 };

	if (!body)
		return 0;
	images_read_batch(&im, body);
	check_read(&im);
	images_done(&im);
	images_read_lookup(&im, body);
	check_read(&im);
	images_done(&im);
	images_read_list(&im, body);
	images_read_list(&im, body);
	check_read(&im);
	/* all three into one, as a repository read every way in one cycle */
	images_read_batch(&im, body);
	images_read_lookup(&im, body);
	check_read(&im);
	check_tags(&im, body);
	images_done(&im);
	cJSON_Delete(body);
	return 0;
}
