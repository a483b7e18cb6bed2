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
#include "jsonscan.h"
#include "semver.h"
#include "strbuf.h"
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
	free(im->digests);
	free(im->digest_index);
	free(im->tag_text);
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

struct tag_digest {
	uint64_t hash;               /* of the tag */
	uint32_t tag;                /* its offset in tag_text */
	char digest[DIGEST_LEN + 1]; /* valid */
};

/* The index slot of tag (hash h): its entry's, or the empty one where it would go. The index
 * has an empty slot (never full: grown at three quarters). */
static size_t digest_slot(const struct images *im, const char *tag, uint64_t h)
{
	size_t mask = im->index_cap - 1, i = (size_t)h & mask;

	for (uint32_t e; (e = im->digest_index[i]); i = (i + 1) & mask) {
		const struct tag_digest *d = &im->digests[e - 1];
		if (d->hash == h && !strcmp(im->tag_text + d->tag, tag))
			break;
	}
	return i;
}

const char *images_digest(const struct images *im, const char *tag)
{
	size_t i;

	if (!im->index_cap)
		return NULL;
	i = digest_slot(im, tag, strmap_hash(tag));
	return im->digest_index[i] ? im->digests[im->digest_index[i] - 1].digest : NULL;
}

size_t images_digest_count(const struct images *im)
{
	return im->n_digests;
}

/* Room for one more pair: the index grown (and rebuilt) at three quarters full, the entries
 * and the tags' text grown by doubling. 0 or -ENOMEM (im unchanged but for capacity). */
static int digest_room(struct images *im, size_t tag_len)
{
	if ((im->n_digests + 1) * 4 > im->index_cap * 3) {
		size_t cap = im->index_cap ? im->index_cap * 2 : 16;
		uint32_t *index = calloc(cap, sizeof(*index));
		if (!index)
			return -ENOMEM;
		free(im->digest_index);
		im->digest_index = index;
		im->index_cap = cap;
		for (size_t e = 0; e < im->n_digests; e++) {
			size_t i = (size_t)im->digests[e].hash & (cap - 1);
			while (index[i])
				i = (i + 1) & (cap - 1);
			index[i] = (uint32_t)(e + 1);
		}
	}
	if (im->n_digests == im->digests_cap) {
		size_t cap = im->digests_cap ? im->digests_cap * 2 : 16;
		struct tag_digest *d = realloc(im->digests, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		im->digests = d;
		im->digests_cap = cap;
	}
	if (im->tag_text_cap - im->tag_text_len < tag_len + 1) {
		size_t cap = im->tag_text_cap ? im->tag_text_cap : 256;
		while (cap - im->tag_text_len < tag_len + 1)
			cap *= 2;
		char *t = cap <= UINT32_MAX ? realloc(im->tag_text, cap) : NULL;
		if (!t)
			return -ENOMEM;
		im->tag_text = t;
		im->tag_text_cap = cap;
	}
	return 0;
}

/* Sets tag's digest (valid, DIGEST_LEN characters), the latest answer winning. 0 or -ENOMEM. */
static int put_digest(struct images *im, const char *tag, const char *digest)
{
	size_t len = strlen(tag), i;
	uint64_t h = strmap_hash(tag);
	struct tag_digest *d;

	if (im->index_cap) {
		i = digest_slot(im, tag, h);
		if (im->digest_index[i]) {
			memcpy(im->digests[im->digest_index[i] - 1].digest, digest, DIGEST_LEN + 1);
			return 0;
		}
	}
	if (im->n_digests >= UINT32_MAX - 1 || digest_room(im, len) < 0)
		return -ENOMEM;
	i = digest_slot(im, tag, h);
	d = &im->digests[im->n_digests];
	d->hash = h;
	d->tag = (uint32_t)im->tag_text_len;
	memcpy(d->digest, digest, DIGEST_LEN + 1);
	memcpy(im->tag_text + im->tag_text_len, tag, len + 1);
	im->tag_text_len += len + 1;
	im->digest_index[i] = (uint32_t)++im->n_digests;
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

int images_request(struct strbuf *sb, enum images_call call, const char *repository,
		   const char *registry_id, const char *const *tags, size_t n_tags,
		   const char *next_token)
{
	static const char media[] =
	    ",\"acceptedMediaTypes\":[\"application/vnd.docker.distribution.manifest.v2+json\","
	    "\"application/vnd.docker.distribution.manifest.list.v2+json\","
	    "\"application/vnd.oci.image.manifest.v1+json\","
	    "\"application/vnd.oci.image.index.v1+json\"]";
	int r;

	strbuf_reset(sb);
	r = strbuf_puts(sb, "{\"repositoryName\":");
	if (r == 0)
		r = jsonscan_write_string(sb, repository);
	if (r == 0 && registry_id && (r = strbuf_puts(sb, ",\"registryId\":")) == 0)
		r = jsonscan_write_string(sb, registry_id);
	if (r == 0 && call == IMAGES_LIST) {
		r = strbuf_printf(sb, ",\"filter\":{\"tagStatus\":\"TAGGED\"},\"maxResults\":%d",
				  IMAGES_PER_PAGE);
		if (r == 0 && next_token && (r = strbuf_puts(sb, ",\"nextToken\":")) == 0)
			r = jsonscan_write_string(sb, next_token);
		return r ? r : strbuf_putc(sb, '}');
	}
	if (r == 0)
		r = strbuf_puts(sb, ",\"imageIds\":[");
	for (size_t k = 0; r == 0 && k < n_tags; k++) {
		r = strbuf_puts(sb, k ? ",{\"imageTag\":" : "{\"imageTag\":");
		if (r == 0)
			r = jsonscan_write_string(sb, tags[k]);
		if (r == 0)
			r = strbuf_putc(sb, '}');
	}
	if (r == 0)
		r = strbuf_putc(sb, ']');
	if (r == 0 && call == IMAGES_BATCH)
		r = strbuf_puts(sb, media);
	return r ? r : strbuf_putc(sb, '}');
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

/* The 12 digits of v, a string, into out (13 bytes); false when v is not such a string. */
static bool registry_of(const struct jsonscan_value *v, char out[13])
{
	size_t n = 0;

	return jsonscan_string(v, out, 13, &n) == 0 && n == 12 && strspn(out, "0123456789") == 12;
}

/* The registryId of an answered image (v: its value, type 0 when none). */
static void take_registry(struct images *im, const struct jsonscan_value *v)
{
	char id[13];

	if (!*im->registry && registry_of(v, id))
		memcpy(im->registry, id, 13);
}

/* An image's registryId (type 0 when none). */
static struct jsonscan_value registry_member(const struct jsonscan_value *item)
{
	struct jsonscan_value v = { 0 };

	if (!jsonscan_member(item, "registryId", &v))
		v.type = 0;
	return v;
}

/* A tag of a reply into out (IMAGES_TAG_MAX + 1 bytes): false when v is not a string or not a
 * tag of Docker's grammar, which no watch can name or follow (see tag_valid). */
static bool tag_of(const struct jsonscan_value *v, char *out)
{
	size_t n = 0;

	return jsonscan_string(v, out, IMAGES_TAG_MAX + 1, &n) == 0 && n == strlen(out) &&
	       tag_valid(out);
}

/* Any string value of a reply as a C string (malloc'd): a decoded U+0000 is written "\u0000",
 * so that nothing after it is lost and the value never passes for another. NULL without memory
 * or when v is not a string. */
static char *string_copy(const struct jsonscan_value *v)
{
	size_t len, nuls = 0, k = 0;
	char *raw = v->type == JSONSCAN_STRING ? malloc(v->len) : NULL, *out;

	if (!raw || jsonscan_string(v, raw, v->len, &len) < 0) {
		free(raw);
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		nuls += raw[i] == '\0';
	if (!nuls)
		return raw;
	out = malloc(len + 5 * nuls + 1);
	for (size_t i = 0; out && i < len; i++) {
		if (raw[i])
			out[k++] = raw[i];
		else
			k += (size_t)snprintf(out + k, 7, "\\u0000");
	}
	if (out)
		out[k] = '\0';
	free(raw);
	return out;
}

/*
 * tag's digest as answered (v, any value): kept when a valid digest, else remembered as bad by
 * its text (a value that is not a string is not a digest at all, as before: ignored).
 */
static int take_digest(struct images *im, const struct jsonscan_value *registry, const char *tag,
		       const struct jsonscan_value *v)
{
	char digest[DIGEST_LEN + 1];
	size_t n = 0;
	int r;

	if (v->type != JSONSCAN_STRING)
		return 0;
	if (jsonscan_string(v, digest, sizeof(digest), &n) == 0 && n == strlen(digest) &&
	    digest_valid(digest)) {
		take_registry(im, registry);
		return put_digest(im, tag, digest);
	}
	char *bad = string_copy(v);
	if (!bad)
		return -ENOMEM;
	r = take_bad(im, tag, bad);
	free(bad);
	return r;
}

/* The reply checked whole: a JSON object, else -EBADMSG with why. */
static int open_reply(const char *body, size_t len, struct jsonscan_value *root, char *why,
		      size_t why_len)
{
	char fault[96];

	if (jsonscan_parse(body, len, root, fault, sizeof(fault)) < 0) {
		snprintf(why, why_len, "the reply is not valid JSON: %s", fault);
		return -EBADMSG;
	}
	if (root->type != JSONSCAN_OBJECT) {
		snprintf(why, why_len, "the reply is not a JSON object");
		return -EBADMSG;
	}
	return 0;
}

/* The registryId of the reply's first image (imageDetails[0], else images[0]) into account. */
static void first_account(const struct jsonscan_value *details, const struct jsonscan_value *images,
			  char account[13])
{
	const struct jsonscan_value *list = details->type == JSONSCAN_ARRAY ? details : images;
	struct jsonscan_value first, id;
	struct jsonscan_iter it;

	account[0] = '\0';
	jsonscan_iter_init(&it, list);
	if (!jsonscan_next_item(&it, &first) || !jsonscan_member(&first, "registryId", &id) ||
	    !registry_of(&id, account))
		account[0] = '\0';
}

/* The members of a reply the readers use. */
enum { R_DETAILS, R_IMAGES, R_FAILURES, R_NEXT, R_N };

static int begin(const char *body, size_t len, struct jsonscan_value *root,
		 struct jsonscan_value members[R_N], struct images_reply *ret, char *why,
		 size_t why_len)
{
	static const char *const names[R_N] = { "imageDetails", "images", "failures", "nextToken" };
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = open_reply(body, len, root, why, why_len)) < 0)
		return r;
	jsonscan_members(root, names, R_N, members);
	first_account(&members[R_DETAILS], &members[R_IMAGES], ret->account);
	return 0;
}

int images_read_batch(struct images *im, const char *body, size_t len, struct images_reply *ret,
		      char *why, size_t why_len)
{
	struct jsonscan_value root, m[R_N], img, id, v, tag_v, code_v, reason_v;
	struct jsonscan_iter it;
	char tag[IMAGES_TAG_MAX + 1];
	int r;

	if ((r = begin(body, len, &root, m, ret, why, why_len)) < 0)
		return r;
	jsonscan_iter_init(&it, &m[R_IMAGES]);
	while (r == 0 && jsonscan_next_item(&it, &img))
		if (jsonscan_member(&img, "imageId", &id) &&
		    jsonscan_member(&id, "imageTag", &tag_v) && tag_v.type == JSONSCAN_STRING &&
		    jsonscan_member(&id, "imageDigest", &v) && v.type == JSONSCAN_STRING &&
		    tag_of(&tag_v, tag)) {
			struct jsonscan_value reg = registry_member(&img);
			r = take_digest(im, &reg, tag, &v);
		}
	jsonscan_iter_init(&it, &m[R_FAILURES]);
	while (jsonscan_next_item(&it, &img)) {
		/* Per image: one unreadable tag must not hide the others of the repository. */
		char *code, *reason = NULL, *text;
		size_t n;
		void *old = NULL;

		im->tag_failures++;
		if (r < 0 || !jsonscan_member(&img, "failureCode", &code_v) ||
		    code_v.type != JSONSCAN_STRING ||
		    jsonscan_string_is(&code_v, "ImageNotFound") ||
		    !jsonscan_member(&img, "imageId", &id) ||
		    !jsonscan_member(&id, "imageTag", &tag_v) || !tag_of(&tag_v, tag))
			continue;
		code = string_copy(&code_v);
		if (jsonscan_member(&img, "failureReason", &reason_v) &&
		    reason_v.type == JSONSCAN_STRING && !(reason = string_copy(&reason_v)))
			r = -ENOMEM;
		n = (code ? strlen(code) : 0) + (reason ? strlen(reason) : 0) + 3;
		text = r == 0 && code ? malloc(n) : NULL;
		if (text)
			snprintf(text, n, "%s: %s", code, reason ? reason : "");
		free(code);
		free(reason);
		if (!text || (!im->tag_errors && !(im->tag_errors = strmap_new())) ||
		    strmap_put(im->tag_errors, tag, text, &old) < 0) {
			free(text);
			r = -ENOMEM;
			continue;
		}
		free(old);
	}
	return r;
}

/* What a lookup reply's reading takes from one tag of one image: the image's registryId, the tag
 * (a string item of its imageTags) and its imageDigest (a string), as spans of the reply. */
struct lookup_take {
	struct jsonscan_value registry, tag, digest;
};

/* A lookup reply's tags read in one pass (the reply checked as it is walked): up to this many;
 * a reply with more is read in two. DescribeImages takes at most 100 imageIds. */
#define LOOKUP_TAKES 128

/*
 * The common reply, {"imageDetails": [{...}, ...]} with anything else around, in one pass; the
 * same result as the two passes below (the first imageDetails, the first of each of an image's
 * members, the account of imageDetails[0]), applied only once the whole reply is checked. Returns
 * 1 when read (r in *ret_r), 0 when the reply needs the two passes: another shape, more than
 * LOOKUP_TAKES tags, or a fault (the two passes then name it).
 */
static int lookup_one_pass(struct images *im, const char *body, size_t len,
			   struct images_reply *ret, int *ret_r)
{
	static const char *const names[] = { "imageDigest", "imageTags", "registryId" };
	struct lookup_take takes[LOOKUP_TAKES];
	struct jsonscan_cursor c;
	struct jsonscan_value key, v, f[3], first_registry = { 0 }, t;
	struct jsonscan_iter it;
	size_t n = 0, items = 0;
	bool details = false;
	char tag[IMAGES_TAG_MAX + 1];
	int k;

	jsonscan_cursor_init(&c, body, len);
	if (!jsonscan_cursor_enter(&c, '{'))
		return 0;
	while ((k = jsonscan_cursor_next(&c, &key)) == 1) {
		if (details || !jsonscan_string_is(&key, "imageDetails")) {
			if (!jsonscan_cursor_value(&c, &v))
				return 0;
			continue;
		}
		details = true;
		if (!jsonscan_cursor_enter(&c, '['))
			return 0; /* not an array: the two passes read it */
		while ((k = jsonscan_cursor_next(&c, NULL)) == 1) {
			memset(f, 0, sizeof(f));
			if (jsonscan_cursor_enter(&c, '{')) {
				while ((k = jsonscan_cursor_next(&c, &key)) == 1) {
					size_t i = 0;
					while (i < 3 &&
					       (f[i].type || !jsonscan_string_is(&key, names[i])))
						i++;
					if (!jsonscan_cursor_value(&c, i < 3 ? &f[i] : &v))
						return 0;
				}
				if (k < 0)
					return 0;
			} else if (!jsonscan_cursor_value(&c, &v)) {
				return 0;
			}
			if (items++ == 0)
				first_registry = f[2];
			if (f[0].type != JSONSCAN_STRING || f[1].type != JSONSCAN_ARRAY)
				continue;
			jsonscan_iter_init(&it, &f[1]);
			while (jsonscan_next_item(&it, &t)) {
				if (n == LOOKUP_TAKES)
					return 0;
				takes[n++] = (struct lookup_take){ f[2], t, f[0] };
			}
		}
		if (k < 0)
			return 0;
	}
	if (k < 0 || !details || !jsonscan_cursor_end(&c))
		return 0;
	/* checked whole: what was read is taken, in the order read */
	memset(ret, 0, sizeof(*ret));
	if (items && !registry_of(&first_registry, ret->account))
		ret->account[0] = '\0';
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		if (tag_of(&takes[i].tag, tag))
			r = take_digest(im, &takes[i].registry, tag, &takes[i].digest);
	*ret_r = r;
	return 1;
}

int images_read_lookup(struct images *im, const char *body, size_t len, struct images_reply *ret,
		       char *why, size_t why_len)
{
	static const char *const names[] = { "imageDigest", "imageTags", "registryId" };
	struct jsonscan_value root, m[R_N], d, f[3], t;
	struct jsonscan_iter it, it_t;
	char tag[IMAGES_TAG_MAX + 1];
	int r;

	bool first = true;

	if (lookup_one_pass(im, body, len, ret, &r))
		return r;
	memset(ret, 0, sizeof(*ret));
	if ((r = open_reply(body, len, &root, why, why_len)) < 0)
		return r;
	/* imageDetails walked once, as it is reached (begin() would go over it to find its end
	 * first); a reply without that array is read as the other readers read it */
	if (!jsonscan_member_iter(&root, "imageDetails", &it) || it.object) {
		if ((r = begin(body, len, &root, m, ret, why, why_len)) < 0)
			return r;
		jsonscan_iter_init(&it, &m[R_DETAILS]);
		first = false;
	}
	/* one walk over each image's members */
	while (r == 0 && jsonscan_next_item_members(&it, names, 3, f, &d)) {
		if (first) { /* the account is imageDetails[0]'s, as first_account() reads it */
			first = false;
			if (!registry_of(&f[2], ret->account))
				ret->account[0] = '\0';
		}
		if (f[0].type != JSONSCAN_STRING || f[1].type != JSONSCAN_ARRAY)
			continue;
		jsonscan_iter_init(&it_t, &f[1]);
		while (r == 0 && jsonscan_next_item(&it_t, &t))
			if (tag_of(&t, tag))
				r = take_digest(im, &f[2], tag, &f[0]);
	}
	return r;
}

/* One listed image into x (zeroed); 0, or -ENOMEM with nothing held. */
static int take_listed(struct image *x, const char *digest, const struct jsonscan_value *tags,
		       double pushed_at)
{
	struct jsonscan_iter it;
	struct jsonscan_value t;
	char tag[IMAGES_TAG_MAX + 1];
	size_t n = 0;

	jsonscan_iter_init(&it, tags);
	while (jsonscan_next_item(&it, &t))
		n++;
	x->digest = strdup(digest);
	x->tags = calloc(n + 1, sizeof(char *));
	x->pushed_at = pushed_at;
	if (!x->digest || !x->tags)
		goto fail;
	jsonscan_iter_init(&it, tags);
	while (jsonscan_next_item(&it, &t)) {
		if (!tag_of(&t, tag))
			continue;
		if (!(x->tags[x->n_tags] = strdup(tag)))
			goto fail;
		x->n_tags++;
	}
	return 0;
fail:
	free_image(x);
	memset(x, 0, sizeof(*x));
	return -ENOMEM;
}

/* The bad digest v (a string) of each tag of tags. */
static int take_bad_all(struct images *im, const struct jsonscan_value *tags,
			const struct jsonscan_value *v)
{
	struct jsonscan_iter it;
	struct jsonscan_value t;
	char tag[IMAGES_TAG_MAX + 1], *bad = NULL;
	int r = 0;

	jsonscan_iter_init(&it, tags);
	while (r == 0 && jsonscan_next_item(&it, &t)) {
		if (!tag_of(&t, tag))
			continue;
		if (!bad && !(bad = string_copy(v)))
			r = -ENOMEM;
		else
			r = take_bad(im, tag, bad);
	}
	free(bad);
	return r;
}

int images_read_list(struct images *im, const char *body, size_t len, struct images_reply *ret,
		     char *why, size_t why_len)
{
	struct jsonscan_value root, m[R_N], details, d, digest_v, tags, v;
	struct jsonscan_iter it;
	struct image *grown;
	size_t n = 0;
	int r;

	if ((r = begin(body, len, &root, m, ret, why, why_len)) < 0)
		return r;
	v = m[R_NEXT];
	details = m[R_DETAILS];
	/* the next page's token first: a reply refused for it has filled nothing */
	if (v.type == JSONSCAN_STRING) {
		size_t tlen;
		if (!(ret->next_token = malloc(v.len)))
			return -ENOMEM;
		jsonscan_string(&v, ret->next_token, v.len, &tlen);
		if (strlen(ret->next_token) != tlen) {
			free(ret->next_token);
			ret->next_token = NULL;
			snprintf(why, why_len, "the reply holds U+0000 in its nextToken");
			return -EBADMSG;
		}
	}
	if (details.type != JSONSCAN_ARRAY)
		return 0;
	jsonscan_iter_init(&it, &details);
	while (jsonscan_next_item(&it, &d))
		n++;
	if (n == 0)
		return 0;
	if (n > IMAGES_MAX - im->n_list)
		return -E2BIG;
	grown = realloc(im->list, (im->n_list + n) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	im->list = grown;
	jsonscan_iter_init(&it, &details);
	while (r == 0 && jsonscan_next_item(&it, &d)) {
		char digest[DIGEST_LEN + 1];
		size_t dlen = 0;
		double pushed = NAN;
		struct image *x = &im->list[im->n_list];

		if (!jsonscan_member(&d, "imageDigest", &digest_v) ||
		    digest_v.type != JSONSCAN_STRING || !jsonscan_member(&d, "imageTags", &tags) ||
		    tags.type != JSONSCAN_ARRAY)
			continue;
		if (jsonscan_string(&digest_v, digest, sizeof(digest), &dlen) < 0 ||
		    dlen != strlen(digest) || !digest_valid(digest)) {
			r = take_bad_all(im, &tags, &digest_v);
			continue;
		}
		if (jsonscan_member(&d, "imagePushedAt", &v) && jsonscan_number(&v, &pushed) < 0)
			pushed = NAN;
		memset(x, 0, sizeof(*x));
		/* NaN would make the newest-push order meaningless: such an image counts as oldest
		 */
		if ((r = take_listed(x, digest, &tags, isnan(pushed) ? -HUGE_VAL : pushed)) < 0)
			continue;
		struct jsonscan_value reg = registry_member(&d);
		take_registry(im, &reg);
		im->n_list++;
	}
	return r;
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
