/* SPDX-License-Identifier: MIT */
/*
 * The sightings of one watch: for each tag it follows ("*": the pick of a glob or semver rule),
 * the last digest seen, when, and the tag picked. The state file holds them as
 * "tags": {tag: {"digest", "tag"?, "seen_at"}}; this is their form in memory, compact because a
 * daemon may follow 100,000 tags: an entry in that file's form is 48 bytes plus its tag's text
 * (the digest as 32 raw bytes, seen_at as a time_t). An entry in any other form (read from a file
 * made by hand: other members, another order, a digest that is not one) is kept as its cJSON
 * object, so that sightings_print() gives back, byte for byte, what was read.
 *
 * Entries keep their order (the file's, then appended). A tag listed twice (a hand-made file) is
 * kept twice; the first is the one found and replaced.
 */
#ifndef ECR_SIGHTINGS_H
#define ECR_SIGHTINGS_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "strbuf.h"

/* Room for a digest's text and its NUL (digest.h's DIGEST_LEN + 1). */
#define SIGHTINGS_DIGEST_SIZE 72

struct sightings;

/* An empty set; NULL without memory. */
struct sightings *sightings_new(void);
/* NULL is a no-op. */
void sightings_free(struct sightings *g);
/* A copy (its own memory); NULL without memory. g NULL gives NULL. */
struct sightings *sightings_clone(const struct sightings *g);

/* How many entries (NULL: 0). */
size_t sightings_count(const struct sightings *g);

/* The position of tag's first entry, or -1 (also when g is NULL). */
long sightings_find(const struct sightings *g, const char *tag);

/* Entry i's tag. Lives until the next change of g. */
const char *sightings_key(const struct sightings *g, size_t i);

/*
 * Entry i's digest, as text: written into buf for a compact entry, else the odd entry's "digest"
 * string (living until the next change of g); NULL when it has none.
 */
const char *sightings_digest(const struct sightings *g, size_t i, char buf[SIGHTINGS_DIGEST_SIZE]);

/*
 * Whether entry i's digest is digest's text (compared as raw bytes for a compact entry, without
 * writing the text out).
 */
bool sightings_digest_is(const struct sightings *g, size_t i, const char *digest);

/* Entry i's "tag" (the tag picked), or NULL. Lives until the next change of g. */
const char *sightings_pick(const struct sightings *g, size_t i);

/* Entry i's object when it is kept as read (not in the file's own form), else NULL. */
const cJSON *sightings_odd(const struct sightings *g, size_t i);

/*
 * Records a sighting: replaces tag's first entry in place, or appends one. The entry is
 * {"digest", "tag": pick (when not NULL), "seen_at": at as UTC "%Y-%m-%dT%H:%M:%SZ"}. A digest
 * that is not one (digest_valid()) is kept as given, in an odd entry. 0, or -ENOMEM (g unchanged).
 */
int sightings_set(struct sightings *g, const char *tag, const char *digest, const char *pick,
		  time_t at);

/*
 * Appends entry (a tag's object as read from a file or an item; tag is its key) even when tag has
 * one already. Takes entry over (it is freed, or kept as an odd entry) on success; on -ENOMEM it
 * stays the caller's and g is unchanged.
 */
int sightings_add_json(struct sightings *g, const char *tag, cJSON *entry);

/* The same with a copy of entry (which stays the caller's). */
int sightings_add_copy(struct sightings *g, const char *tag, const cJSON *entry);

/*
 * Makes room for entries more entries and text more bytes of their tags' text (each tag's length
 * + 1), so that adding that many allocates nothing more. 0 or -ENOMEM.
 */
int sightings_reserve(struct sightings *g, size_t entries, size_t text);

/* Removes entry i (the later ones move up). */
void sightings_remove(struct sightings *g, size_t i);

/*
 * Appends to out the JSON object of the entries, exactly as cJSON_PrintUnformatted() prints the
 * object they were read from or would have been built as ("{}" for NULL or none). 0, or the
 * strbuf's -ENOMEM or -EFBIG.
 */
int sightings_print(const struct sightings *g, struct strbuf *out);

#endif
