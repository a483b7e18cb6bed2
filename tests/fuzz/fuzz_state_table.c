/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the HA table's items as the state reads them (state_open_table_io()): the
 * bytes are a table, items separated by 0x1e, each "<sk>" 0x1f "<doc>" (no 0x1f: an item without a
 * doc). Every item is outside bytes: meta, g, w/, t/, r/, o/, s/ and unknown keys, docs that are
 * not JSON, the wrong shapes, invalid digests. The readers run over what loaded, a change is
 * saved (through a fake write that checks each transaction), the rollouts and blobs are walked,
 * and everything is freed. Nothing is written to disk (no directory for copies aside).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ddb.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct table {
	const uint8_t *data;
	size_t size;
};

static int fake_write(void *t, const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	(void)t;
	(void)why;
	(void)why_len;
	if (n == 0 || n > DDB_TX_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!w[i].sk || !*w[i].sk)
			abort();
	return 0;
}

static int fake_read_all(void *t, const char *prefix,
			 int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
			 char *why, size_t why_len)
{
	const struct table *tb = t;
	size_t off = 0;

	(void)prefix;
	(void)why;
	(void)why_len;
	while (off < tb->size) {
		const uint8_t *end = memchr(tb->data + off, 0x1e, tb->size - off);
		size_t n = end ? (size_t)(end - (tb->data + off)) : tb->size - off;
		const uint8_t *sep = memchr(tb->data + off, 0x1f, n);
		size_t klen = sep ? (size_t)(sep - (tb->data + off)) : n;
		char *sk = malloc(klen + 1);
		int r = 0;
		if (!sk)
			return -ENOMEM;
		memcpy(sk, tb->data + off, klen);
		sk[klen] = '\0';
		if (sep) {
			size_t dlen = n - klen - 1;
			char *doc = malloc(dlen + 1);
			if (!doc) {
				free(sk);
				return -ENOMEM;
			}
			memcpy(doc, sep + 1, dlen);
			doc[dlen] = '\0';
			r = fn(sk, doc, dlen, ud);
			free(doc);
		} else {
			r = fn(sk, NULL, 0, ud);
		}
		free(sk);
		if (r < 0)
			return r;
		off += n + 1;
	}
	return 0;
}

static int fake_put_if_absent(void *t, const char *sk, const char *doc, char *why, size_t why_len)
{
	(void)t;
	(void)sk;
	(void)doc;
	(void)why;
	(void)why_len;
	return -EEXIST;
}

static const struct state_table_io io = { fake_write, fake_read_all, fake_put_if_absent };

static void take(struct rollout_rec *rec, void *ud)
{
	(void)ud;
	record_free(rec);
}

static int item(const char *sk, const char *doc, void *ud)
{
	(void)sk;
	(void)doc;
	(void)ud;
	return 0;
}

static int blob(const char *name, const char *text, size_t len, double at, int err, void *ud)
{
	(void)name;
	(void)text;
	(void)len;
	(void)at;
	(void)err;
	(void)ud;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct table tb = { data, size };
	struct state *s = NULL;
	char *warning = NULL, why[600];
	struct state_pause p;

	if (state_open_table_io(&io, &tb, NULL, "table 'fuzz'", &s, &warning, why, sizeof(why)) ==
	    0) {
		(void)state_seen(s, "web", "prod");
		struct state_want want;
		if (state_want(s, "web", &want) && (!want.image || !digest_valid(want.digest)))
			abort();
		(void)state_deployed(s, "web", "us-east-1/prod/web");
		(void)state_failed_list(s, "web", "us-east-1/prod/web");
		(void)state_pause(s, NULL, NULL, &p);
		(void)state_reset_pending(s);
		(void)state_blob_has(s, STATE_BLOB_SENT, "hook.k");
		state_set_held(s, "web", "us-east-1/prod/web", "");
		state_save(s, why, sizeof(why));
		state_each_item(s, item, NULL);
		state_each_rollout(s, take, NULL);
		state_blob_each(s, STATE_BLOB_OUTBOX, 1 << 20, blob, NULL, why, sizeof(why));
		state_blob_each(s, STATE_BLOB_SENT, 0, blob, NULL, why, sizeof(why));
		state_free(s);
	}
	free(warning);
	return 0;
}
