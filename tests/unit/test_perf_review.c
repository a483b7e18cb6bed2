/* SPDX-License-Identifier: MIT */
/*
 * Review of issue 19 (h-review): guards of guarantees the speed work must keep. The compact
 * sightings, set and replaced at random (tags with control characters, quotes and bytes above
 * 0x7f, pick tags or none, digests valid or not, more entries than the linear lookup holds), print
 * exactly what the cJSON tree the old state.c built printed.
 */
#include "unit.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sightings.h"

static unsigned long long review_rng = 88172645463325252ULL;

static unsigned review_rand(void)
{
	review_rng ^= review_rng << 13;
	review_rng ^= review_rng >> 7;
	review_rng ^= review_rng << 17;
	return (unsigned)review_rng;
}

/* A random text of at most max - 1 bytes into out: letters, quotes, control bytes, high bytes. */
static void review_text(char *out, unsigned max)
{
	unsigned n = review_rand() % max;

	for (unsigned i = 0; i < n; i++) {
		unsigned kind = review_rand() % 6;
		out[i] = kind == 0   ? (char)(1 + review_rand() % 31)
			 : kind == 1 ? "\"\\/"[review_rand() % 3]
			 : kind == 2 ? (char)(0x80 + review_rand() % 128)
				     : (char)('a' + review_rand() % 26);
	}
	out[n] = '\0';
}

static void review_digest(char *out, size_t size)
{
	switch (review_rand() % 4) {
	case 0:
		snprintf(out, size, "sha256:abc");
		return;
	case 1:
		snprintf(out, size, "%s", "");
		return;
	default:
		snprintf(out, size, "sha256:");
		for (int i = 0; i < 64; i++)
			out[7 + i] = "0123456789abcdef"[review_rand() % 16];
		out[71] = '\0';
	}
}

TEST(review_sightings_print_as_the_cjson_tree_at_random)
{
	for (int round = 0; round < 3000; round++) {
		struct sightings *g = sightings_new();
		cJSON *tree = cJSON_CreateObject();
		unsigned n = review_rand() % 40;
		struct strbuf b;
		char *want;

		CHECK(g && tree);
		if (!g || !tree)
			return;
		for (unsigned k = 0; k < n; k++) {
			char tag[16], pick[16], digest[80], when[32];
			const char *p = review_rand() % 2 ? pick : NULL;
			time_t at = (time_t)(review_rand() % 4000000000u);
			struct tm tm;
			cJSON *e = cJSON_CreateObject();

			review_text(tag, sizeof(tag) / 4);
			review_text(pick, sizeof(pick));
			review_digest(digest, sizeof(digest));
			CHECK_INT(sightings_set(g, tag, digest, p, at), 0);
			gmtime_r(&at, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			cJSON_AddStringToObject(e, "digest", digest);
			if (p)
				cJSON_AddStringToObject(e, "tag", p);
			cJSON_AddStringToObject(e, "seen_at", when);
			if (cJSON_GetObjectItemCaseSensitive(tree, tag))
				cJSON_ReplaceItemInObjectCaseSensitive(tree, tag, e);
			else
				cJSON_AddItemToObject(tree, tag, e);
		}
		strbuf_init(&b, 1 << 24);
		CHECK_INT(sightings_print(g, &b), 0);
		want = cJSON_PrintUnformatted(tree);
		CHECK(want && !strcmp(want, strbuf_str(&b)));
		free(want);
		strbuf_done(&b);
		cJSON_Delete(tree);
		sightings_free(g);
	}
}
