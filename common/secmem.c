/* SPDX-License-Identifier: MIT */
/*
 * The secret arena: chunks of whole pages from mmap, each a list of blocks
 * (a header, then the caller's bytes) found first-fit, split when handed
 * out and merged with free neighbours when released. Secrets are few and
 * small (a few hundred bytes to a few KiB each), so a linear walk is the
 * right size of allocator.
 */
#include "secmem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "crypto.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef PR_SET_VMA_ANON_NAME
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* A chunk is locked and resident whole: the daemon's few secrets fit one of 16 KiB. */
#define CHUNK_SIZE ((size_t)16 * 1024)
#define MAX_CHUNKS 64
#define ALIGN      16

struct block {
	size_t size; /* the whole block, header included; a multiple of ALIGN */
	size_t used; /* bytes asked for; 0 when free */
};

struct chunk {
	unsigned char *base;
	size_t size;
	bool locked;
};

static struct {
	struct chunk chunks[MAX_CHUNKS];
	size_t n;
} arena;

_Static_assert(sizeof(struct block) % ALIGN == 0, "block headers keep payloads aligned");

static struct chunk *chunk_of(const void *p)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < arena.n; i++)
		if (c >= arena.chunks[i].base && c < arena.chunks[i].base + arena.chunks[i].size)
			return &arena.chunks[i];
	return NULL;
}

static struct block *next_block(const struct chunk *ch, struct block *b)
{
	unsigned char *n = (unsigned char *)b + b->size;

	return n < ch->base + ch->size ? (struct block *)(void *)n : NULL;
}

static struct chunk *chunk_new(size_t need)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = need > CHUNK_SIZE ? need : CHUNK_SIZE;
	struct chunk *ch;
	void *m;

	if (arena.n == MAX_CHUNKS)
		return NULL;
	if (page <= 0)
		page = 4096;
	size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	/* The point of the arena: without MADV_DONTDUMP it would be just another heap. */
	if (madvise(m, size, MADV_DONTDUMP) < 0) {
		munmap(m, size);
		return NULL;
	}
	(void)madvise(m, size, MADV_WIPEONFORK);
	(void)prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)m, size,
		    (unsigned long)SECMEM_NAME);
	ch = &arena.chunks[arena.n++];
	ch->base = m;
	ch->size = size;
	ch->locked = mlock(m, size) == 0;
	struct block *b = m;
	b->size = size;
	b->used = 0;
	return ch;
}

static void *take(struct chunk *ch, size_t need, size_t n)
{
	for (struct block *b = (struct block *)(void *)ch->base; b; b = next_block(ch, b)) {
		if (b->used || b->size < need)
			continue;
		if (b->size - need >= sizeof(struct block) + ALIGN) {
			struct block *rest = (struct block *)(void *)((unsigned char *)b + need);
			rest->size = b->size - need;
			rest->used = 0;
			b->size = need;
		}
		b->used = n ? n : 1;
		return b + 1; /* free blocks are always wiped, so this is zeroed */
	}
	return NULL;
}

void *secmem_alloc(size_t n)
{
	size_t need;
	void *p;

	if (n > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	need = (n + sizeof(struct block) + ALIGN - 1) / ALIGN * ALIGN;
	for (size_t i = 0; i < arena.n; i++)
		if ((p = take(&arena.chunks[i], need, n)))
			return p;
	struct chunk *ch = chunk_new(need);
	if (!ch) {
		errno = ENOMEM;
		return NULL;
	}
	return take(ch, need, n);
}

void secmem_free(void *p)
{
	struct chunk *ch;

	if (!p)
		return;
	ch = chunk_of(p);
	if (!ch) {
		free(p);
		return;
	}
	struct block *target = (struct block *)p - 1, *prev = NULL;
	for (struct block *b = (struct block *)(void *)ch->base; b; b = next_block(ch, b)) {
		if (b != target) {
			prev = b->used ? NULL : b;
			continue;
		}
		if (!b->used)
			return; /* freed twice: nothing left to wipe */
		crypto_wipe(b + 1, b->size - sizeof(*b));
		b->used = 0;
		struct block *next = next_block(ch, b);
		if (next && !next->used) {
			b->size += next->size;
			crypto_wipe(next, sizeof(*next));
		}
		if (prev) {
			prev->size += b->size;
			crypto_wipe(b, sizeof(*b));
		}
		return;
	}
}

char *secmem_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = secmem_alloc(len + 1);

	if (p)
		memcpy(p, s, len);
	return p;
}

char *secmem_strdup(const char *s)
{
	return secmem_strndup(s, strlen(s));
}

bool secmem_owns(const void *p)
{
	return p && chunk_of(p);
}

void secmem_stats(struct secmem_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->locked = true;
	for (size_t i = 0; i < arena.n; i++) {
		const struct chunk *ch = &arena.chunks[i];
		ret->chunks++;
		ret->mapped += ch->size;
		ret->locked = ret->locked && ch->locked;
		for (struct block *b = (struct block *)(void *)ch->base; b; b = next_block(ch, b))
			if (b->used) {
				ret->in_use += b->size;
				ret->blocks++;
			}
	}
	if (!arena.n)
		ret->locked = false;
}
