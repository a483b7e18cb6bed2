/* SPDX-License-Identifier: MIT */
/* Readers of ECR's image replies and the tag pick of glob and semver rules. */
#include "images.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "semver.h"
#include "strmap.h"

static void free_image(struct image *x)
{
	free(x->digest);
	for (size_t t = 0; t < x->n_tags; t++)
		free(x->tags[t]);
	free(x->tags);
}

void images_done(struct images *im)
{
	if (!im)
		return;
	strmap_free(im->digests, free);
	strmap_free(im->tag_errors, free);
	for (size_t i = 0; i < im->n_bad; i++) {
		free(im->bad[i].tag);
		free(im->bad[i].value);
	}
	free(im->bad);
	for (size_t i = 0; i < im->n_list; i++)
		free_image(&im->list[i]);
	free(im->list);
	memset(im, 0, sizeof(*im));
}

/* Sets key in *m (made at the first use) to a copy of value. Returns 0 or -ENOMEM. */
static int put_copy(struct strmap **m, const char *key, const char *value)
{
	char *copy = strdup(value);
	void *old = NULL;

	if (!copy || (!*m && !(*m = strmap_new())) || strmap_put(*m, key, copy, &old) < 0) {
		free(copy);
		return -ENOMEM;
	}
	free(old);
	return 0;
}

const char *images_bad_digest(const struct images *im, const char *tag)
{
	for (size_t i = 0; i < im->n_bad; i++)
		if (!strcmp(im->bad[i].tag, tag))
			return im->bad[i].value;
	return NULL;
}

/* Remembers that ECR answered value as tag's digest (the latest answer wins). 0 or -ENOMEM. */
static int take_bad(struct images *im, const char *tag, const char *value)
{
	char *v = strdup(value);
	struct bad_digest *b;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < im->n_bad; i++)
		if (!strcmp(im->bad[i].tag, tag)) {
			free(im->bad[i].value);
			im->bad[i].value = v;
			return 0;
		}
	if (im->n_bad >= IMAGES_MAX_BAD) {
		free(v);
		return 0;
	}
	b = realloc(im->bad, (im->n_bad + 1) * sizeof(*b));
	if (!b || !(b[im->n_bad].tag = strdup(tag))) {
		if (b)
			im->bad = b;
		free(v);
		return -ENOMEM;
	}
	im->bad = b;
	b[im->n_bad++].value = v;
	return 0;
}

static void take_registry(struct images *im, const cJSON *item)
{
	const char *r = cJSON_GetStringValue(cJSON_GetObjectItem(item, "registryId"));

	if (!*im->registry && r && strlen(r) == 12 && strspn(r, "0123456789") == 12)
		memcpy(im->registry, r, 13);
}

/* tag's digest as answered: kept when valid, else remembered as bad. */
static int take_digest(struct images *im, const cJSON *item, const char *tag, const char *digest)
{
	if (!digest_valid(digest))
		return take_bad(im, tag, digest);
	take_registry(im, item);
	return put_copy(&im->digests, tag, digest);
}

int images_read_batch(struct images *im, const cJSON *body)
{
	const cJSON *img, *f;
	int r = 0;

	cJSON_ArrayForEach(img, cJSON_GetObjectItem(body, "images"))
	{
		const cJSON *id = cJSON_GetObjectItem(img, "imageId");
		const char *tag = cJSON_GetStringValue(cJSON_GetObjectItem(id, "imageTag"));
		const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(id, "imageDigest"));

		if (tag && digest && r == 0)
			r = take_digest(im, img, tag, digest);
	}
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(body, "failures"))
	{
		/* Per image: one unreadable tag must not hide the others of the repository. */
		const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(f, "failureCode"));
		const char *tag = cJSON_GetStringValue(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(f, "imageId"), "imageTag"));
		const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(f, "failureReason"));
		char *text;
		size_t n;
		void *old = NULL;

		im->tag_failures++;
		if (!code || !tag || !strcmp(code, "ImageNotFound") || r < 0)
			continue;
		n = strlen(code) + (reason ? strlen(reason) : 0) + 3;
		text = malloc(n);
		if (!text || (!im->tag_errors && !(im->tag_errors = strmap_new())) ||
		    strmap_put(im->tag_errors, tag, text, &old) < 0) {
			free(text);
			r = -ENOMEM;
			continue;
		}
		snprintf(text, n, "%s: %s", code, reason ? reason : "");
		free(old);
	}
	return r;
}

int images_read_lookup(struct images *im, const cJSON *body)
{
	const cJSON *d, *t;
	int r = 0;

	cJSON_ArrayForEach(d, cJSON_GetObjectItem(body, "imageDetails"))
	{
		const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(d, "imageDigest"));

		if (!digest)
			continue;
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(d, "imageTags"))
		{
			if (cJSON_IsString(t) && r == 0)
				r = take_digest(im, d, t->valuestring, digest);
		}
	}
	return r;
}

/* One listed image into x (zeroed); 0, or -ENOMEM with nothing held. */
static int take_listed(struct image *x, const char *digest, const cJSON *tags, double pushed_at)
{
	const cJSON *t;

	x->digest = strdup(digest);
	x->tags = calloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof(char *));
	x->pushed_at = pushed_at;
	if (!x->digest || !x->tags)
		goto fail;
	cJSON_ArrayForEach(t, tags)
	{
		if (!cJSON_IsString(t))
			continue;
		if (!(x->tags[x->n_tags] = strdup(t->valuestring)))
			goto fail;
		x->n_tags++;
	}
	return 0;
fail:
	free_image(x);
	memset(x, 0, sizeof(*x));
	return -ENOMEM;
}

int images_read_list(struct images *im, const cJSON *body)
{
	const cJSON *details = cJSON_GetObjectItem(body, "imageDetails"), *d, *t;
	size_t n = (size_t)cJSON_GetArraySize(details);
	struct image *grown;
	int r = 0;

	if (!cJSON_IsArray(details) || n == 0)
		return 0;
	if (n > IMAGES_MAX - im->n_list)
		return -E2BIG;
	grown = realloc(im->list, (im->n_list + n) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	im->list = grown;
	cJSON_ArrayForEach(d, details)
	{
		const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(d, "imageDigest"));
		const cJSON *tags = cJSON_GetObjectItem(d, "imageTags");
		double pushed = cJSON_GetNumberValue(cJSON_GetObjectItem(d, "imagePushedAt"));
		struct image *x = &im->list[im->n_list];

		if (!digest || !cJSON_IsArray(tags) || r < 0)
			continue;
		if (!digest_valid(digest)) {
			cJSON_ArrayForEach(t, tags) if (cJSON_IsString(t) && r == 0) r =
			    take_bad(im, t->valuestring, digest);
			continue;
		}
		memset(x, 0, sizeof(*x));
		/* NaN would make the newest-push order meaningless: such an image counts as oldest
		 */
		if ((r = take_listed(x, digest, tags, isnan(pushed) ? -HUGE_VAL : pushed)) < 0)
			continue;
		take_registry(im, d);
		im->n_list++;
	}
	return r;
}

/* A tag as Docker and ECR write one: a word character, then word characters, '.' and '-'. A tag
 * of other bytes (control characters, quotes, slashes, non-ASCII) in a reply is never followed: it
 * would reach logs, the state file and the tags of a task definition. */
static bool tag_valid(const char *tag)
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

bool images_rule_matches(const struct config_watch *w, const char *tag)
{
	struct semver v;

	if (!tag_valid(tag))
		return false;
	for (size_t i = 0; i < w->n_exclude; i++)
		if (fnmatch(w->exclude[i], tag, 0) == 0)
			return false;
	if (w->rule == TAG_GLOB)
		return fnmatch(w->glob, tag, 0) == 0;
	if (w->rule == TAG_SEMVER)
		return semver_parse(tag, &v) == 0 &&
		       semver_range_match(w->semver, &v, w->prerelease);
	return false;
}

bool images_pick(const struct images *im, const struct config_watch *w, const char **ret_tag,
		 const char **ret_digest)
{
	const char *best_tag = NULL, *best_digest = NULL;
	struct semver best_v = { 0 };
	double best_t = 0;

	for (size_t i = 0; i < im->n_list; i++)
		for (size_t t = 0; t < im->list[i].n_tags; t++) {
			const struct image *x = &im->list[i];
			const char *tag = x->tags[t];
			struct semver v;
			int cmp;

			if (!images_rule_matches(w, tag))
				continue;
			if (w->rule == TAG_GLOB)
				/* the newest push wins */
				cmp = !best_tag || x->pushed_at > best_t ? 1
				      : x->pushed_at < best_t            ? -1
									 : 0;
			else if (semver_parse(tag, &v) == 0)
				cmp = best_tag ? semver_compare(&v, &best_v) : 1;
			else
				continue;
			/* ties go to the greater tag, for a stable choice */
			if (cmp > 0 || (cmp == 0 && strcmp(tag, best_tag) > 0)) {
				best_t = x->pushed_at;
				if (w->rule == TAG_SEMVER)
					best_v = v;
				best_tag = tag;
				best_digest = x->digest;
			}
		}
	*ret_tag = best_tag;
	*ret_digest = best_digest;
	return best_tag != NULL;
}
