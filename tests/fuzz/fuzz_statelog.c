/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the state journal's reader. The first byte chooses how the rest is used:
 * even, as the bytes of state.journal as they are (the framing: torn tails, damage, checksums);
 * odd, as record payloads separated by "\n--\n", each framed with a valid checksum, so that the
 * entries and their items reach the replay (merge_part() and the state file's checks). Either
 * way the journal is put next to a state.json of generation 1, state_open() reads them (applying
 * what it can, setting an unusable journal aside), the readers run, and everything is emptied.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "statedir.h"
#include "statelog.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ignore_entry(const char *key, const char *doc, size_t len, void *ud)
{
	(void)key;
	(void)doc;
	(void)len;
	(void)ud;
	return 0;
}

static int ignore_record(uint64_t gen, const char *payload, size_t n, size_t off, void *ud)
{
	const char *problem;

	(void)gen;
	(void)off;
	(void)ud;
	(void)statelog_each(payload, n, ignore_entry, NULL, &problem);
	return 0;
}

/* The payloads of in (separated by "\n--\n"), each framed as a record of generation 1. */
static int frame_all(const char *in, size_t len, struct strbuf *out)
{
	struct strbuf rec;
	size_t off = 0;
	int r = 0;

	strbuf_init(&rec, STATELOG_HEADER + len);
	while (r == 0 && off <= len) {
		const char *end = memmem(in + off, len - off, "\n--\n", 4);
		size_t n = end ? (size_t)(end - (in + off)) : len - off;
		r = statelog_begin(&rec);
		r = r ? r : strbuf_append(&rec, in + off, n);
		r = r ? r : statelog_finish(&rec, 1);
		r = r ? r : strbuf_append(out, rec.buf, rec.len);
		off += n + 4;
	}
	strbuf_done(&rec);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char snapshot[] = "{\"version\":2,\"generation\":1,\"watches\":{\"web\":{"
				       "\"tags\":{\"prod\":{\"digest\":\"sha256:"
				       "00000000000000000000000000000000000000000000000000000000000"
				       "00000\",\"seen_at\":\"2026-01-01T00:00:00Z\"}}}}}";
	const char *dir = fuzz_statedir();
	char path[300], why[600];
	struct state *s = NULL;
	struct statelog_scan sc;
	struct strbuf journal;
	char *warning = NULL;

	if (!dir || size == 0)
		return 0;
	strbuf_init(&journal, 2 * size + 64 * STATELOG_HEADER);
	if (data[0] % 2 == 0) {
		if (strbuf_append(&journal, data + 1, size - 1) < 0)
			return 0;
		/* the framing alone, with every valid record's entries walked */
		(void)statelog_scan(journal.buf ? journal.buf : "", journal.len, ignore_record,
				    NULL, &sc);
	} else if (frame_all((const char *)data + 1, size - 1, &journal) < 0) {
		strbuf_done(&journal);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (fuzz_put(path, (const uint8_t *)snapshot, sizeof(snapshot) - 1) == 0) {
		snprintf(path, sizeof(path), "%s/state.journal", dir);
		if (fuzz_put(path, (const uint8_t *)(journal.buf ? journal.buf : ""),
			     journal.len) == 0 &&
		    state_open(dir, &s, &warning, why, sizeof(why)) == 0) {
			(void)state_seen(s, "web", "prod");
			(void)state_seen_tag(s, "web");
			struct state_want want;
			if (state_want(s, "web", &want) &&
			    (!want.image || !digest_valid(want.digest)))
				abort();
			(void)state_deployed(s, "web", "us-east-1/prod/web");
			(void)state_failed_list(s, "web", "us-east-1/prod/web");
			(void)state_reset_pending(s);
			state_free(s);
		}
	}
	free(warning);
	strbuf_done(&journal);
	fuzz_clean();
	return 0;
}
