/* SPDX-License-Identifier: MIT */
/*
 * A string-keyed hash map (open addressing, linear probing). Keys are
 * copied; values are the caller's. Entries are never removed: a map is
 * built, read, and freed whole. For per-watch and per-tag bookkeeping
 * that must stay fast at thousands of entries.
 */
#ifndef ECR_STRMAP_H
#define ECR_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap;

struct strmap *strmap_new(void);

/* Frees the map and its keys; free_value (may be NULL) is called on each value. NULL is a no-op. */
void strmap_free(struct strmap *m, void (*free_value)(void *));

/* The value for key, or NULL (also when m is NULL: no map yet is an empty one). */
void *strmap_get(const struct strmap *m, const char *key);

/* Sets key to value; *ret_old (if not NULL) gets the value it replaces (NULL if none). Returns 0 or
 * -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *value, void **ret_old);

/* The map's own copy of key (it lives until the map is freed: keys are never removed), or NULL when
 * key is not in m. */
const char *strmap_key(const struct strmap *m, const char *key);

size_t strmap_size(const struct strmap *m);

/* The hash strmap keys by (FNV-1a of s's bytes), for tables of their own that key by text. */
uint64_t strmap_hash(const char *s);

#endif
