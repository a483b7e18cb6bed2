/* SPDX-License-Identifier: MIT */
/*
 * Memory for secrets: secret access keys, session tokens, derived signing
 * keys, web identity and container authorization tokens. It comes from a
 * small arena of page-aligned chunks taken with mmap and marked
 * MADV_DONTDUMP, so that a core dump of the process (the kernel's, or gdb's
 * gcore) leaves them out while everything else stays there to debug a
 * crash; the chunks are also mlock'd when RLIMIT_MEMLOCK allows (never
 * swapped), wiped in a child after fork (MADV_WIPEONFORK), and named
 * "[anon:ecr-deployd secrets]" in /proc/PID/maps where the kernel can name
 * anonymous memory. Every block is wiped when it is freed.
 *
 * Process-wide, like malloc (the arena is the one mutable global of this
 * module); not thread-safe: the daemon runs one thread.
 */
#ifndef ECR_SECMEM_H
#define ECR_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

#define SECMEM_NAME "ecr-deployd secrets"

/* n zeroed bytes in the arena, 16-byte aligned; NULL (errno ENOMEM) when no chunk can be mapped. */
void *secmem_alloc(size_t n);

/* Wipes and releases a block of secmem_alloc(). NULL is a no-op; a pointer the arena does not
 * hold is handed to free(), so that a caller's fallback copy can be released the same way. */
void secmem_free(void *p);

/* A copy of s (at most n bytes of it, for _strndup) in the arena; NULL when out of memory. */
char *secmem_strdup(const char *s);
char *secmem_strndup(const char *s, size_t n);

/* Whether p points into the arena. */
bool secmem_owns(const void *p);

struct secmem_stats {
	size_t chunks; /* mappings */
	size_t mapped; /* bytes mapped */
	size_t in_use; /* bytes handed out, headers included */
	size_t blocks; /* blocks handed out */
	bool locked;   /* every chunk is mlock'd */
};

/* What the arena holds now (for tests and fuzz targets, which check that nothing leaks). */
void secmem_stats(struct secmem_stats *ret);

#endif
