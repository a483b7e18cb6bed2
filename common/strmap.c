/* SPDX-License-Identifier: MIT */
/* Open-addressing string hash map (linear probing, no deletion). */
#include "strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *key; /* NULL: empty */
	void *value;
	uint64_t hash;
};

struct strmap {
	struct slot *slots;
	size_t cap; /* a power of two */
	size_t n;
};

uint64_t strmap_hash(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	return m;
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key) {
			free(m->slots[i].key);
			if (free_value)
				free_value(m->slots[i].value);
		}
	free(m->slots);
	free(m);
}

static size_t find(const struct strmap *m, const char *key, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key)))
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	size_t i;

	if (!m)
		return NULL;
	i = find(m, key, strmap_hash(key));

	return m->slots[i].key ? m->slots[i].value : NULL;
}

const char *strmap_key(const struct strmap *m, const char *key)
{
	return m ? m->slots[find(m, key, strmap_hash(key))].key : NULL;
}

static int grow(struct strmap *m)
{
	struct slot *old = m->slots;
	size_t old_cap = m->cap;
	struct slot *s = calloc(old_cap * 2, sizeof(*s));

	if (!s)
		return -ENOMEM;
	m->slots = s;
	m->cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].key)
			m->slots[find(m, old[i].key, old[i].hash)] = old[i];
	free(old);
	return 0;
}

int strmap_put(struct strmap *m, const char *key, void *value, void **ret_old)
{
	uint64_t h = strmap_hash(key);
	size_t i;

	if (ret_old)
		*ret_old = NULL;
	if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -ENOMEM;
	i = find(m, key, h);
	if (m->slots[i].key) {
		if (ret_old)
			*ret_old = m->slots[i].value;
		m->slots[i].value = value;
		return 0;
	}
	m->slots[i].key = strdup(key);
	if (!m->slots[i].key)
		return -ENOMEM;
	m->slots[i].value = value;
	m->slots[i].hash = h;
	m->n++;
	return 0;
}

size_t strmap_size(const struct strmap *m)
{
	return m->n;
}
