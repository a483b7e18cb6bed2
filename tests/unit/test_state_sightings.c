/* SPDX-License-Identifier: MIT */
/*
 * daemon/sightings: the compact sightings print exactly what cJSON printed (strings escaped as
 * cJSON escapes them, times as strftime() writes them), entries in any other form are kept as
 * read, lookups through the array and through the hash, removal, copies.
 */
#include "unit.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sightings.h"
#include "jsonscan.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* g printed, as a new string (NULL on failure). */
static char *printed(const struct sightings *g)
{
	struct strbuf b;

	strbuf_init(&b, 1 << 26);
	if (sightings_print(g, &b) < 0) {
		strbuf_done(&b);
		return NULL;
	}
	return strbuf_steal(&b);
}

TEST(sightings_strings_escape_as_cjson_does)
{
	char all[256];
	const char *rows[] = { "",           "plain",        "q\"uote",      "back\\slash",
			       "\b\f\n\r\t", "\x7f\xc3\xa9", "\x01\x1f end", "/slash/" };

	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) + 1; i++) {
		const char *v = i < sizeof(rows) / sizeof(rows[0]) ? rows[i] : all;
		cJSON *o = cJSON_CreateString(v);
		char *want = cJSON_PrintUnformatted(o);
		struct strbuf b;
		strbuf_init(&b, 4096);
		CHECK_INT(jsonscan_write_string(&b, v), 0);
		CHECK_STR(strbuf_str(&b), want);
		strbuf_done(&b);
		free(want);
		cJSON_Delete(o);
	}
}

/* The object state.c built for a sighting before sightings existed. */
static cJSON *entry_as_before(const char *digest, const char *pick, time_t at)
{
	cJSON *e = cJSON_CreateObject();
	char when[32];
	struct tm tm;

	gmtime_r(&at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(e, "digest", digest);
	if (pick)
		cJSON_AddStringToObject(e, "tag", pick);
	cJSON_AddStringToObject(e, "seen_at", when);
	return e;
}

TEST(sightings_print_as_the_cjson_tree_did)
{
	/* times across the years that print in 20 characters, and their edges */
	static const time_t times[] = { 0,
					1,
					59,
					86399,
					86400,
					951782400,
					951868799,
					1709164800,
					1767225599,
					4102444800,
					2147483647,
					2147483648,
					253402300799LL };
	struct sightings *g = sightings_new();
	cJSON *want = cJSON_CreateObject();
	char key[32];
	size_t n = 0;

	srand(7);
	for (size_t i = 0; i < 400; i++) {
		time_t at = i < sizeof(times) / sizeof(times[0])
				? times[i]
				: (time_t)(((long long)rand() << 20 ^ rand()) % 253402300800LL);
		const char *pick = i % 3 ? NULL : i % 2 ? "v1.2.3" : "p \"\\\n\x01";
		snprintf(key, sizeof(key), i % 5 ? "t%zu" : "t\t%zu\"", i);
		CHECK_INT(sightings_set(g, key, i % 2 ? D1 : D2, pick, at), 0);
		cJSON_AddItemToObject(want, key, entry_as_before(i % 2 ? D1 : D2, pick, at));
		n++;
	}
	CHECK_INT(sightings_count(g), n);
	char *a = printed(g), *b = cJSON_PrintUnformatted(want);
	CHECK(a && b && !strcmp(a, b));
	if (a && b && strcmp(a, b))
		fprintf(stderr, "got  %.300s\nwant %.300s\n", a, b);
	for (size_t i = 0; i < n; i++)
		CHECK(sightings_odd(g, i) == NULL); /* all compact */
	free(a);
	free(b);
	cJSON_Delete(want);
	sightings_free(g);
	a = printed(NULL);
	CHECK_STR(a, "{}");
	free(a);
}

/* Entries read from a file: which are compact, and all print back as read. */
TEST(sightings_entries_in_another_form_are_kept_as_read)
{
	static const struct {
		const char *json;
		bool compact;
	} rows[] = {
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}", true },
		{ "{\"digest\":\"" D1 "\",\"tag\":\"v1\",\"seen_at\":\"2026-01-02T03:04:05Z\"}",
		  true },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"1970-01-01T00:00:00Z\"}", true },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"9999-12-31T23:59:59Z\"}", true },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2024-02-29T00:00:00Z\"}", true },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2025-02-29T00:00:00Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2026-04-31T00:00:00Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:60Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T24:00:00Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02 03:04:05Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"+026-01-02T03:04:05Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"1969-12-31T23:59:59Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":1767225600}", false },
		{ "{\"digest\":\"" D1 "\"}", false },
		{ "{\"seen_at\":\"2026-01-02T03:04:05Z\",\"digest\":\"" D1 "\"}", false },
		{ "{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\",\"x\":1}", false },
		{ "{\"digest\":\"" D1 "\",\"tag\":5,\"seen_at\":\"2026-01-02T03:04:05Z\"}", false },
		{ "{\"digest\":\"" D1 "\",\"Tag\":\"v\",\"seen_at\":\"2026-01-02T03:04:05Z\"}",
		  false },
		{ "{\"Digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}", false },
		{ "{\"digest\":\"sha256:ABC\",\"seen_at\":\"2026-01-02T03:04:05Z\"}", false },
		{ "{\"digest\":null,\"seen_at\":\"2026-01-02T03:04:05Z\"}", false },
		{ "{}", false },
	};
	struct sightings *g = sightings_new();
	cJSON *want = cJSON_CreateObject();
	char key[16], buf[SIGHTINGS_DIGEST_SIZE];
	size_t n = sizeof(rows) / sizeof(rows[0]);

	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_Parse(rows[i].json);
		snprintf(key, sizeof(key), "k%zu", i);
		CHECK(e != NULL);
		cJSON_AddItemToObject(want, key, cJSON_Duplicate(e, true));
		CHECK_INT(sightings_add_json(g, key, e), 0);
		if ((sightings_odd(g, i) == NULL) != rows[i].compact)
			unit_fail(__FILE__, __LINE__, "row %zu: compact is not %d", i,
				  rows[i].compact);
		/* what state_seen() read: the "digest" member that cJSON_GetObjectItem() finds */
		const char *d = sightings_digest(g, i, buf);
		const char *d0 = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(want, key), "digest"));
		CHECK((!d && !d0) || (d && d0 && !strcmp(d, d0)));
	}
	CHECK_STR(sightings_pick(g, 1), "v1");
	CHECK(sightings_pick(g, 0) == NULL);
	char *a = printed(g), *b = cJSON_PrintUnformatted(want);
	CHECK(a && b && !strcmp(a, b));
	free(a);
	free(b);
	/* replacing an odd entry by a sighting makes it compact; a non-digest makes it odd */
	CHECK_INT(sightings_set(g, "k14", D2, NULL, 1767225600), 0);
	CHECK(sightings_odd(g, 14) == NULL);
	CHECK_STR(sightings_digest(g, 14, buf), D2);
	/* compared as bytes: the same text only, not a prefix, a longer text or another case */
	CHECK(sightings_digest_is(g, 14, D2));
	CHECK(!sightings_digest_is(g, 14, D1));
	char near[SIGHTINGS_DIGEST_SIZE + 1];
	snprintf(near, sizeof(near), "%s", D2);
	near[70] = '\0';
	CHECK(!sightings_digest_is(g, 14, near));
	snprintf(near, sizeof(near), "%sa", D2);
	CHECK(!sightings_digest_is(g, 14, near));
	snprintf(near, sizeof(near), "%s", D2);
	near[0] = 'S';
	CHECK(!sightings_digest_is(g, 14, near));
	CHECK(!sightings_digest_is(g, 14, ""));
	CHECK_INT(sightings_set(g, "k0", "not-a-digest", NULL, 1767225600), 0);
	CHECK(sightings_odd(g, 0) != NULL);
	CHECK_STR(sightings_digest(g, 0, buf), "not-a-digest");
	CHECK(sightings_digest_is(g, 0, "not-a-digest"));
	CHECK(!sightings_digest_is(g, 0, D2));
	/* removing odd entries keeps the others' objects right */
	for (size_t i = 0; sightings_count(g) > 3;)
		sightings_remove(g, i);
	cJSON *rest = cJSON_CreateObject();
	for (size_t i = n - 3; i < n; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		cJSON_AddItemToObject(rest, key, cJSON_Parse(rows[i].json));
	}
	a = printed(g);
	b = cJSON_PrintUnformatted(rest);
	CHECK(a && b && !strcmp(a, b));
	free(a);
	free(b);
	cJSON_Delete(rest);
	cJSON_Delete(want);
	sightings_free(g);
}

TEST(sightings_lookups_duplicates_removal_and_copies)
{
	struct sightings *g = sightings_new(), *c;
	char key[32], buf[SIGHTINGS_DIGEST_SIZE];
	const size_t n = 3000;

	CHECK(sightings_find(NULL, "x") == -1);
	CHECK_INT(sightings_count(NULL), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "tag-%zu", i);
		CHECK_INT(sightings_set(g, key, i % 2 ? D1 : D2, i % 7 ? NULL : key, (time_t)i), 0);
	}
	/* a duplicate key (a hand-made file): kept, printed, never found */
	cJSON *dup = cJSON_Parse("{\"digest\":\"" D1 "\",\"seen_at\":\"2026-01-02T03:04:05Z\"}");
	CHECK_INT(sightings_add_json(g, "tag-2", dup), 0);
	CHECK_INT(sightings_count(g), n + 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "tag-%zu", i);
		CHECK_INT(sightings_find(g, key), i);
	}
	CHECK(sightings_find(g, "tag-x") == -1);
	CHECK_STR(sightings_digest(g, 2, buf), D2); /* the first tag-2 */
	/* many replaced picks: their old text is reclaimed, nothing else moves */
	for (int k = 0; k < 5000; k++) {
		snprintf(key, sizeof(key), "v%d.%d", k, k);
		CHECK_INT(sightings_set(g, "tag-0", D1, key, 5), 0);
	}
	CHECK_STR(sightings_pick(g, 0), "v4999.4999");
	CHECK_STR(sightings_pick(g, 7), "tag-7");
	CHECK_STR(sightings_key(g, n - 1), "tag-2999");
	c = sightings_clone(g);
	char *a = printed(g), *b = printed(c);
	CHECK(a && b && !strcmp(a, b));
	free(a);
	free(b);
	/* removal: the first tag-2 goes, the duplicate is found now */
	sightings_remove(g, 2);
	CHECK_INT(sightings_find(g, "tag-2"), n - 1);
	CHECK_INT(sightings_find(g, "tag-3"), 2);
	CHECK_STR(sightings_digest(g, (size_t)sightings_find(g, "tag-2"), buf), D1);
	while (sightings_count(g) > 5)
		sightings_remove(g, sightings_count(g) - 1);
	CHECK_INT(sightings_find(g, "tag-4"), 3);
	CHECK_INT(sightings_find(g, "tag-5"), 4);
	CHECK(sightings_find(g, "tag-6") == -1);
	/* the copy is its own */
	CHECK_INT(sightings_find(c, "tag-2"), 2);
	CHECK_INT(sightings_count(c), n + 1);
	sightings_free(g);
	sightings_free(c);
	sightings_free(NULL);
}

/* What a reader returned may be given back: a text of the set's own, or of the entry replaced. */
TEST(sightings_set_from_its_own_texts)
{
	struct sightings *g = sightings_new();
	char buf[SIGHTINGS_DIGEST_SIZE], key[16];
	cJSON *odd = cJSON_Parse("{\"digest\":\"" D1 "\",\"tag\":\"p1\",\"x\":1}");

	CHECK_INT(sightings_add_json(g, "a", odd), 0);
	CHECK(sightings_odd(g, 0) != NULL);
	/* the odd entry's own digest and pick replace it */
	CHECK_INT(sightings_set(g, "a", sightings_digest(g, 0, buf), sightings_pick(g, 0), 9), 0);
	CHECK(sightings_odd(g, 0) == NULL);
	CHECK_STR(sightings_digest(g, 0, buf), D1);
	CHECK_STR(sightings_pick(g, 0), "p1");
	/* a key and a pick of its own, while its texts move (many more added) */
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK_INT(sightings_set(g, sightings_key(g, 0), D2, sightings_pick(g, 0), i), 0);
		CHECK_INT(sightings_set(g, key, D1, sightings_key(g, 0), i), 0);
	}
	CHECK_INT(sightings_count(g), 201);
	CHECK_STR(sightings_pick(g, 0), "p1");
	CHECK_STR(sightings_pick(g, 200), "a");
	CHECK_STR(sightings_digest(g, 0, buf), D2);
	sightings_free(g);
}

TEST(sightings_find_tells_apart_tags_that_share_a_start)
{
	/* Few tags are searched in a row, their first bytes compared before the whole text: "",
	 * "a", "ab", "abc", "abd", "b" and "*" each find their own entry, not a neighbour's. */
	static const char *const tags[] = { "abc", "", "ab", "a", "abd", "b", "*" };
	const size_t n = sizeof(tags) / sizeof(tags[0]);
	struct sightings *g = sightings_new();

	CHECK(g != NULL);
	if (!g)
		return;
	for (size_t i = 0; i < n; i++)
		CHECK_INT(sightings_set(g, tags[i], i % 2 ? D1 : D2, NULL, (time_t)i), 0);
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(sightings_find(g, tags[i]), (long)i);
		CHECK_STR(sightings_key(g, (size_t)sightings_find(g, tags[i])), tags[i]);
	}
	CHECK(sightings_find(g, "abcd") == -1);
	CHECK(sightings_find(g, "ac") == -1);
	CHECK(sightings_find(g, "c") == -1);
	sightings_free(g);
}
