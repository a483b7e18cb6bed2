/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the readers of ECR's replies (daemon/images.c):
 * BatchGetImage, DescribeImages by tag and DescribeImages pages, then the
 * tag pick of glob and semver rules over what was read. The input is one
 * reply body, read by every reader (a page twice, as pages accumulate).
 * Besides the sanitizers it checks what the readers promise: every digest
 * kept is a valid one, every refused value is not, a registry is 12 digits,
 * a pick is a listed tag that its rule matches; and it compares them with a
 * reference: the cJSON readers they replaced, with the changes images.h
 * names (members matched case-sensitively, lists only from arrays, tags of
 * Docker's grammar only; a reply that is not strict JSON is refused whole).
 * Inputs holding \u0000 (cJSON cuts strings there) are not compared.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "digest.h"
#include "images.h"
#include "jsonscan.h"
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
		const char *d = images_digest(im, im->bad[i].tag);
		require(!digest_valid(im->bad[i].value));
		require(!d || digest_valid(d));
		require(images_bad_digest(im, im->bad[i].tag) != NULL);
	}
	for (size_t i = 0; i < im->n_list; i++) {
		require(digest_valid(im->list[i].digest));
		for (size_t t = 0; t < im->list[i].n_tags; t++) {
			const char *d = images_digest(im, im->list[i].tags[t]);
			require(im->list[i].tags[t] != NULL && (!d || digest_valid(d)));
		}
	}
	check_picks(im);
}

/* ---- the reference: the cJSON readers the daemon had, with the changes images.h names ---- */

/* Keys put in a reference map, to compare the maps. */
struct keys {
	char *v[4096];
	size_t n;
};

/* tag_valid() of images.c: Docker's grammar, at most IMAGES_TAG_MAX. */
static bool ref_tag_valid(const char *tag)
{
	size_t n = 0;

	for (const char *p = tag; *p; p++, n++) {
		bool word = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '_';
		if (!word && (n == 0 || (*p != '.' && *p != '-')))
			return false;
	}
	return n > 0 && n <= IMAGES_TAG_MAX;
}

static const char *ref_tag(const cJSON *t)
{
	return cJSON_IsString(t) && ref_tag_valid(t->valuestring) ? t->valuestring : NULL;
}

static const cJSON *member(const cJSON *o, const char *name)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static const cJSON *array(const cJSON *a)
{
	return cJSON_IsArray(a) ? a : NULL;
}

/* The reference's tag -> digest (the daemon's reader keeps its own table in struct images). */
static struct strmap *ref_digests;

static void ref_put(struct strmap **m, struct keys *k, const char *key, const char *value)
{
	void *old = NULL;

	if (!*m)
		require((*m = strmap_new()) != NULL);
	require(strmap_put(*m, key, strdup(value), &old) == 0);
	if (old)
		free(old);
	else if (k->n < sizeof(k->v) / sizeof(k->v[0]))
		k->v[k->n++] = strdup(key);
}

static void ref_bad(struct images *im, const char *tag, const char *value)
{
	for (size_t i = 0; i < im->n_bad; i++)
		if (!strcmp(im->bad[i].tag, tag)) {
			free(im->bad[i].value);
			im->bad[i].value = strdup(value);
			return;
		}
	if (im->n_bad >= IMAGES_MAX_BAD)
		return;
	im->bad = realloc(im->bad, (im->n_bad + 1) * sizeof(*im->bad));
	require(im->bad != NULL);
	im->bad[im->n_bad].tag = strdup(tag);
	im->bad[im->n_bad++].value = strdup(value);
}

static void ref_registry(struct images *im, const cJSON *item)
{
	const char *r = cJSON_GetStringValue(member(item, "registryId"));

	if (!*im->registry && r && strlen(r) == 12 && strspn(r, "0123456789") == 12)
		memcpy(im->registry, r, 13);
}

static void ref_digest(struct images *im, struct keys *k, const cJSON *item, const char *tag,
		       const char *digest)
{
	if (!digest_valid(digest)) {
		ref_bad(im, tag, digest);
		return;
	}
	ref_registry(im, item);
	ref_put(&ref_digests, k, tag, digest);
}

static void ref_batch(struct images *im, struct keys *k, struct keys *ek, const cJSON *body)
{
	const cJSON *img, *f;

	cJSON_ArrayForEach(img, array(member(body, "images")))
	{
		const cJSON *id = member(img, "imageId");
		const char *tag = ref_tag(member(id, "imageTag"));
		const char *digest = cJSON_GetStringValue(member(id, "imageDigest"));
		if (tag && digest)
			ref_digest(im, k, img, tag, digest);
	}
	cJSON_ArrayForEach(f, array(member(body, "failures")))
	{
		const char *code = cJSON_GetStringValue(member(f, "failureCode"));
		const char *tag = ref_tag(member(member(f, "imageId"), "imageTag"));
		const char *reason = cJSON_GetStringValue(member(f, "failureReason"));
		char text[4096];
		im->tag_failures++;
		if (!code || !tag || !strcmp(code, "ImageNotFound"))
			continue;
		if ((size_t)snprintf(text, sizeof(text), "%s: %s", code, reason ? reason : "") <
		    sizeof(text))
			ref_put(&im->tag_errors, ek, tag, text);
		else
			ek->n = (size_t)-1; /* not compared */
	}
}

static void ref_lookup(struct images *im, struct keys *k, const cJSON *body)
{
	const cJSON *d, *t;

	cJSON_ArrayForEach(d, array(member(body, "imageDetails")))
	{
		const char *digest = cJSON_GetStringValue(member(d, "imageDigest"));
		if (!digest)
			continue;
		cJSON_ArrayForEach(t, array(member(d, "imageTags"))) if (ref_tag(t))
		    ref_digest(im, k, d, t->valuestring, digest);
	}
}

/* A page; false when it would pass IMAGES_MAX (nothing read). */
static bool ref_list(struct images *im, const cJSON *body)
{
	const cJSON *details = array(member(body, "imageDetails")), *d, *t;
	size_t n = (size_t)cJSON_GetArraySize(details);

	if (n > IMAGES_MAX - im->n_list)
		return false;
	cJSON_ArrayForEach(d, details)
	{
		const char *digest = cJSON_GetStringValue(member(d, "imageDigest"));
		const cJSON *tags = array(member(d, "imageTags"));
		double pushed = cJSON_GetNumberValue(member(d, "imagePushedAt"));
		if (!digest || !tags)
			continue;
		if (!digest_valid(digest)) {
			cJSON_ArrayForEach(t, tags) if (ref_tag(t))
			    ref_bad(im, t->valuestring, digest);
			continue;
		}
		im->list = realloc(im->list, (im->n_list + 1) * sizeof(*im->list));
		require(im->list != NULL);
		struct image *x = &im->list[im->n_list++];
		memset(x, 0, sizeof(*x));
		x->digest = strdup(digest);
		x->pushed_at = isnan(pushed) ? -HUGE_VAL : pushed;
		x->tags = calloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof(char *));
		cJSON_ArrayForEach(t, tags) if (ref_tag(t)) x->tags[x->n_tags++] =
		    strdup(t->valuestring);
		ref_registry(im, d);
	}
	return true;
}

static void same_map(const struct strmap *a, const struct strmap *b, const struct keys *k)
{
	if (k->n == (size_t)-1 || k->n >= sizeof(k->v) / sizeof(k->v[0]))
		return;
	require((a ? strmap_size(a) : 0) == k->n && (b ? strmap_size(b) : 0) == k->n);
	for (size_t i = 0; i < k->n; i++) {
		const char *x = strmap_get(a, k->v[i]), *y = strmap_get(b, k->v[i]);
		require(x && y && !strcmp(x, y));
	}
}

static void same_digests(const struct images *im, const struct keys *k)
{
	if (k->n == (size_t)-1 || k->n >= sizeof(k->v) / sizeof(k->v[0]))
		return;
	require(images_digest_count(im) == k->n &&
		(ref_digests ? strmap_size(ref_digests) : 0) == k->n);
	for (size_t i = 0; i < k->n; i++) {
		const char *x = images_digest(im, k->v[i]), *y = strmap_get(ref_digests, k->v[i]);
		require(x && y && !strcmp(x, y));
	}
}

static void ref_done(struct images *ref)
{
	images_done(ref);
	strmap_free(ref_digests, free);
	ref_digests = NULL;
}

/* The daemon's reading (im) and the reference's (ref) agree. */
static void same_images(const struct images *im, const struct images *ref, const struct keys *k,
			const struct keys *ek)
{
	same_digests(im, k);
	same_map(im->tag_errors, ref->tag_errors, ek);
	require(im->n_bad == ref->n_bad && im->n_list == ref->n_list);
	require(im->tag_failures == ref->tag_failures && !strcmp(im->registry, ref->registry));
	for (size_t i = 0; i < im->n_bad; i++)
		require(!strcmp(im->bad[i].tag, ref->bad[i].tag) &&
			!strcmp(im->bad[i].value, ref->bad[i].value));
	for (size_t i = 0; i < im->n_list; i++) {
		const struct image *x = &im->list[i], *y = &ref->list[i];
		require(!strcmp(x->digest, y->digest) && x->n_tags == y->n_tags);
		require(x->pushed_at == y->pushed_at ||
			(isnan(x->pushed_at) && isnan(y->pushed_at)));
		for (size_t t = 0; t < x->n_tags; t++)
			require(!strcmp(x->tags[t], y->tags[t]));
	}
}

static void keys_done(struct keys *k)
{
	for (size_t i = 0; k->n != (size_t)-1 && i < k->n; i++)
		free(k->v[i]);
	k->n = 0;
}

/* Every tag the reply names maps to a valid digest or to none. */
/* Every tag the reply names maps to a valid digest or to none. */
static void check_tags(const struct images *im, const cJSON *body)
{
	const cJSON *x, *t;

	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "imageDetails"))
	{
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(x, "imageTags"))
		{
			const char *d =
			    cJSON_IsString(t) ? images_digest(im, t->valuestring) : NULL;
			require(!d || digest_valid(d));
		}
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(body, "images"))
	{
		const char *tag = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(x, "imageId"), "imageTag"));
		const char *d = tag ? images_digest(im, tag) : NULL;
		require(!d || digest_valid(d));
	}
}

typedef int (*reader_fn)(struct images *, const char *, size_t, struct images_reply *, char *,
			 size_t);

/* Reads the input with fn into im; the reply's extras checked against body (cJSON's). */
static int read_into(reader_fn fn, struct images *im, const uint8_t *data, size_t size,
		     const cJSON *body)
{
	struct images_reply a;
	char why[256];
	int r = fn(im, (const char *)data, size, &a, why, sizeof(why));
	const cJSON *list = member(body, "imageDetails");
	const char *id, *next = cJSON_GetStringValue(member(body, "nextToken"));

	if (r == -EBADMSG) {
		require(!a.next_token && !*a.account && !strncmp(why, "the reply ", 10));
		return r;
	}
	if (!cJSON_IsArray(list))
		list = member(body, "images");
	id = cJSON_GetStringValue(
	    member(cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL, "registryId"));
	if (id && strlen(id) == 12 && strspn(id, "0123456789") == 12)
		require(!strcmp(a.account, id));
	else
		require(!*a.account);
	if (fn == images_read_list && (r == 0 || r == -E2BIG))
		require(next ? a.next_token && !strcmp(a.next_token, next) : !a.next_token);
	free(a.next_token);
	return r;
}

/* Whether the input holds \u0000, which cJSON cuts a string at and the readers do not. */
static bool has_nul_escape(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 5 < size; i++)
		if (data[i] == '\\' && data[i + 1] == 'u' && !memcmp(data + i + 2, "0000", 4))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *body = cJSON_ParseWithLength((const char *)data, size);
	struct images im = { 0 }, ref = { 0 };
	struct keys k = { .n = 0 }, ek = { .n = 0 };
	struct jsonscan_value root;
	bool strict = jsonscan_parse((const char *)data, size, &root, NULL, 0) == 0 &&
		      root.type == JSONSCAN_OBJECT;
	bool compare = strict && !has_nul_escape(data, size);

	/* the readers refuse what is not a strict JSON object, and nothing else but a page whose
	 * nextToken holds U+0000 */
	require((read_into(images_read_batch, &im, data, size, body) == -EBADMSG) == !strict);
	if (!strict) {
		require(im.n_bad == 0 && im.n_list == 0 && !images_digest_count(&im) &&
			!im.tag_failures);
		cJSON_Delete(body);
		return 0;
	}
	require(body != NULL); /* strict JSON is JSON to cJSON */
	check_read(&im);
	ref_batch(&ref, &k, &ek, body);
	if (compare)
		same_images(&im, &ref, &k, &ek);
	images_done(&im);
	ref_done(&ref);
	keys_done(&k);
	keys_done(&ek);

	read_into(images_read_lookup, &im, data, size, body);
	check_read(&im);
	ref_lookup(&ref, &k, body);
	if (compare)
		same_images(&im, &ref, &k, &ek);
	images_done(&im);
	ref_done(&ref);
	keys_done(&k);

	for (int page = 0; page < 2; page++) {
		int r = read_into(images_read_list, &im, data, size, body);
		bool fits = ref_list(&ref, body);
		if (r == -EBADMSG) {
			require(has_nul_escape(data, size));
			compare = false;
		}
		require(r != -E2BIG || !fits);
	}
	check_read(&im);
	if (compare)
		same_images(&im, &ref, &k, &ek);
	/* all three into one, as a repository read every way in one cycle */
	read_into(images_read_batch, &im, data, size, body);
	read_into(images_read_lookup, &im, data, size, body);
	check_read(&im);
	check_tags(&im, body);
	images_done(&im);
	ref_done(&ref);
	cJSON_Delete(body);
	return 0;
}
