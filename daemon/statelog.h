/* SPDX-License-Identifier: MIT */
/*
 * The framing of the state journal, <state_directory>/state.journal: an append-only file of
 * records, each holding the items of the state (the table backend's keys: "g", "w/<watch>",
 * "t/<watch>/<tkey>") that one save changed, as item docs or as deletions. A record is
 *
 *   "EDJ1" | u32 payload length | u64 generation | u32 CRC-32C | payload
 *
 * (little-endian; the CRC covers the length, the generation and the payload), written with one
 * write() and made durable before the save returns. Its payload is a sequence of entries:
 * 'P' u32 key length, key, u32 doc length, doc (an item as it is now) or 'D' u32 key length, key
 * (an item that no longer exists). The generation ties the records to the snapshot
 * (state.json's "generation") they follow: records of another generation are not applied.
 *
 * This module only frames and checks bytes; state.c decides what the records mean. Nothing
 * here does I/O.
 */
#ifndef ECR_STATELOG_H
#define ECR_STATELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define STATELOG_HEADER      20
/* The largest payload a record may have (the reader refuses larger ones). */
#define STATELOG_PAYLOAD_MAX (64u * 1024 * 1024)
/* The longest item key. */
#define STATELOG_KEY_MAX     4096

/* CRC-32C (Castagnoli) of n bytes, continuing crc (0 to start). */
uint32_t statelog_crc32c(uint32_t crc, const void *p, size_t n);

/*
 * Building a record in b (bounded by the caller's strbuf_init()): statelog_begin() empties b and
 * reserves the header; statelog_put() adds an item's doc (doc NULL: the item is deleted);
 * statelog_finish() fills the header in. 0, or strbuf's -ENOMEM/-ENOBUFS; -EINVAL for a key
 * that is empty, longer than STATELOG_KEY_MAX or holds a NUL.
 */
int statelog_begin(struct strbuf *b);
int statelog_put(struct strbuf *b, const char *key, const char *doc, size_t doc_len);
int statelog_finish(struct strbuf *b, uint64_t gen);

/* How a journal's bytes end. */
enum statelog_end {
	STATELOG_CLEAN,   /* every byte belongs to a whole, valid record */
	STATELOG_TORN,    /* the last record is cut short or unreadable: it is dropped */
	STATELOG_DAMAGED, /* a record before the last one is unreadable: the journal is unusable */
};

struct statelog_scan {
	enum statelog_end end;
	size_t good;         /* bytes of whole, valid records from the start */
	size_t bad_at;       /* TORN or DAMAGED: the offset of that record */
	const char *problem; /* TORN or DAMAGED: what is wrong with it (static text) */
	size_t records;      /* whole, valid records */
};

/*
 * Walks the records of buf: fn(gen, payload, len, offset, ud) for each whole, valid one, in
 * order (fn returns < 0 to stop; that value is returned). A record that cannot be read (cut
 * short, zero-filled as some filesystems leave an extent after a crash, a checksum that does not
 * match) is a torn tail, dropped, when no whole, valid record starts anywhere after it: a crash
 * cuts short only the last write, and every append waits for the one before to be durable.
 * Otherwise the journal is damaged. *ret says which. Returns 0 (the end is in *ret) or fn's < 0.
 * Never reads outside buf.
 */
int statelog_scan(const char *buf, size_t len,
		  int (*fn)(uint64_t gen, const char *payload, size_t n, size_t off, void *ud),
		  void *ud, struct statelog_scan *ret);

/*
 * Walks the entries of a record's payload: fn(key, doc, doc_len, ud) with key NUL-terminated
 * (at most STATELOG_KEY_MAX bytes, no NUL inside) and doc NULL for a deletion (doc is not
 * NUL-terminated). Returns 0, -EBADMSG with *problem set when the payload is malformed (checked
 * whole before fn is called for any entry), or fn's < 0.
 */
int statelog_each(const char *payload, size_t n,
		  int (*fn)(const char *key, const char *doc, size_t doc_len, void *ud), void *ud,
		  const char **problem);

#endif
