/* SPDX-License-Identifier: MIT */
/*
 * What ECR says a repository holds, read from its replies, and the tag a
 * watch rule follows among them. Pure: no loop, no logging, no daemon; the
 * watcher feeds replies in and reads the result, tests and the fuzz target
 * (tests/fuzz/fuzz_ecr.c) do the same with bytes of their own.
 *
 * Every reply is hostile until checked: a digest is kept only when
 * digest_valid() accepts it; a tag whose image ECR answered with anything
 * else is remembered with that value in bad (never in digests or list), so that the watcher can
 * refuse it by name while the other tags of the repository keep working.
 */
#ifndef ECR_IMAGES_H
#define ECR_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* At most this many tagged images are kept from DescribeImages pages of one repository. */
#define IMAGES_MAX 100000

/* At most this many tags answered with a malformed digest are remembered (each is refused all
 * the same; those past the bound are taken as missing). */
#define IMAGES_MAX_BAD 100

struct strmap;
struct tag_digest;

struct image {
	char *digest; /* valid */
	char **tags;
	size_t n_tags;
	double pushed_at; /* epoch seconds */
};

struct bad_digest {
	char *tag;
	char *value; /* what ECR answered as the digest: any bytes */
};

struct images {
	/* tag -> digest (images_digest()): the pairs in the order taken, each digest held in its
	 * entry and each tag in tag_text, an index of them by the tag's hash (0: an empty slot,
	 * else an entry's number + 1); all NULL until the first. Three allocations for a reply's
	 * tags rather than three for each. */
	struct tag_digest *digests;
	size_t n_digests, digests_cap;
	uint32_t *digest_index;
	size_t index_cap; /* a power of two, or 0 */
	char *tag_text;
	size_t tag_text_len, tag_text_cap;
	struct strmap
	    *tag_errors;        /* tag -> "code: reason" of a per-image failure, not found aside */
	struct bad_digest *bad; /* tags ECR answered with something that is not a digest */
	size_t n_bad;
	struct image *list; /* DescribeImages pages: every tagged image with a valid digest */
	size_t n_list;
	size_t tag_failures; /* per-image failures BatchGetImage reported (not found included) */
	char registry[13];   /* the registryId of an answered image (12 digits), or "" */
};

/* Frees what im holds and empties it. An empty (zeroed) one is fine. */
void images_done(struct images *im);

/* What a reply says besides its images. */
struct images_reply {
	char account[13]; /* the registryId of its first image (12 digits), or "" */
	char *next_token; /* a DescribeImages page's nextToken (malloc'd, the caller's), or NULL */
};

/*
 * Read one reply (len bytes of text, NULs included) into im: BatchGetImage (images[].imageId,
 * failures[]), DescribeImages by tag (imageDetails[]: digest and tags into digests), a
 * DescribeImages page of every tagged image (imageDetails[] into list; nextToken into ret).
 * The reply is checked whole first (common/jsonscan.h: strict JSON, a JSON object): when it is
 * not one, or a page's nextToken holds U+0000, nothing is read and -EBADMSG is returned with why
 * (why_len bytes). Members are matched case-sensitively; a member of the wrong shape (imageDetails
 * not an array, an image not an object, a tag not a string) adds nothing, as a tag outside
 * Docker's grammar does (no watch can name or follow one). Else returns 0, -ENOMEM (what was read
 * before is kept), or -E2BIG when the list would pass IMAGES_MAX; ret is filled in every case.
 */
int images_read_batch(struct images *im, const char *body, size_t len, struct images_reply *ret,
		      char *why, size_t why_len);
int images_read_lookup(struct images *im, const char *body, size_t len, struct images_reply *ret,
		       char *why, size_t why_len);
int images_read_list(struct images *im, const char *body, size_t len, struct images_reply *ret,
		     char *why, size_t why_len);

/* ECR's image calls the watcher makes. */
enum images_call {
	IMAGES_LOOKUP, /* DescribeImages of the given tags: digests without manifests */
	IMAGES_BATCH,  /* BatchGetImage of the given tags: reports a missing tag per image */
	IMAGES_LIST,   /* a DescribeImages page of every tagged image (IMAGES_PER_PAGE of them) */
};

#define IMAGES_PER_PAGE 1000

struct strbuf;

/*
 * The JSON body of a call, written into sb (emptied first), every string escaped
 * (jsonscan_write_string()): the repository, the registry when not NULL, then the n_tags tags
 * (IMAGES_LOOKUP, IMAGES_BATCH) or the filter and the page's next_token when not NULL
 * (IMAGES_LIST). Returns 0 or strbuf's error (-ENOMEM, -ENOBUFS).
 */
int images_request(struct strbuf *sb, enum images_call call, const char *repository,
		   const char *registry_id, const char *const *tags, size_t n_tags,
		   const char *next_token);

/* What ECR answered as tag's digest when that was not a digest, or NULL. */
const char *images_bad_digest(const struct images *im, const char *tag);

/* The digest read for tag (valid), or NULL. */
const char *images_digest(const struct images *im, const char *tag);

/* How many tags have a digest in im. */
size_t images_digest_count(const struct images *im);

/* Longest tag ECR allows (its ImageTag shape). */
#define IMAGES_TAG_MAX 300

/* Whether tag is one a glob or semver rule w may follow (excludes applied). Only a tag of Docker's
 * grammar ([A-Za-z0-9_][A-Za-z0-9_.-]*, at most IMAGES_TAG_MAX) is ever followed. */
bool images_rule_matches(const struct config_watch *w, const char *tag);

/*
 * The tag a glob or semver rule follows in im's list and its digest (both into im): for a glob, the
 * newest push, ties to the greater tag; for semver, the highest version, ties to the greater tag.
 * Returns false when no tag matches.
 */
bool images_pick(const struct images *im, const struct config_watch *w, const char **ret_tag,
		 const char **ret_digest);

#endif
