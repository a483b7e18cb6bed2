/* SPDX-License-Identifier: MIT */
/* --migrate-state-to-table: a state directory copied into the HA table once (migrate.h). */
#include "migrate.h"

#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ddb.h"
#include "state.h"

/* How long a migrated sent mark may stay for DynamoDB's TTL: the longest max_age (7 days) and a
 * day; the outbox prunes by its own rule before. */
#define MIGRATE_MARK_TTL (8 * 24 * 3600.0)
#define ENTRY_MAX        (256 * 1024)

struct batch {
	const struct state_table_io *io;
	void *t;
	struct ddb_write w[DDB_TX_MAX];
	char *own[DDB_TX_MAX * 2];
	size_t n, n_own;
	int err;
	char *why;
	size_t why_len;
	unsigned long watches, targets, rollouts, entries, marks, skipped;
};

static int flush(struct batch *b)
{
	int r = 0;

	if (b->n && !b->err) {
		*b->why = '\0';
		r = b->io->write(b->t, b->w, b->n, b->why, b->why_len);
		if (r < 0) {
			if (!*b->why)
				snprintf(b->why, b->why_len, "cannot write to the table: %s",
					 strerror(-r));
			b->err = r;
		}
	}
	for (size_t i = 0; i < b->n_own; i++)
		free(b->own[i]);
	b->n = b->n_own = 0;
	return b->err;
}

/* Queues a Put of sk (copied) with doc (copied); flushes a full transaction. */
static int add(struct batch *b, const char *sk, const char *doc, long long expires)
{
	char *k = strdup(sk), *d = strdup(doc);

	if (!k || !d) {
		free(k);
		free(d);
		snprintf(b->why, b->why_len, "out of memory");
		return b->err = -ENOMEM;
	}
	b->own[b->n_own++] = k;
	b->own[b->n_own++] = d;
	b->w[b->n++] = (struct ddb_write){ .sk = k, .doc = d, .expires = expires };
	return b->n == DDB_TX_MAX ? flush(b) : b->err;
}

static int add_item(const char *sk, const char *doc, void *ud)
{
	struct batch *b = ud;

	b->watches += sk[0] == 'w';
	b->targets += sk[0] == 't';
	b->rollouts += sk[0] == 'r';
	return add(b, sk, doc, 0);
}

static int add_blob(const char *name, const char *text, size_t len, double at, int err, void *ud,
		    bool sent)
{
	struct batch *b = ud;
	char sk[1100], doc[64];

	if (err < 0 || strlen(name) > 1000 || (text && strlen(text) != len)) {
		b->skipped++; /* unreadable: left in the directory, said in the counts */
		return 0;
	}
	snprintf(sk, sizeof(sk), "%c/%s", sent ? 's' : 'o', name);
	if (sent) {
		snprintf(doc, sizeof(doc), "{\"at\":%.0f}", at);
		b->marks++;
		return add(b, sk, doc, (long long)(at + MIGRATE_MARK_TTL));
	}
	b->entries++;
	return add(b, sk, text, 0);
}

static int add_entry(const char *name, const char *text, size_t len, double at, int err, void *ud)
{
	return add_blob(name, text, len, at, err, ud, false);
}

static int add_mark(const char *name, const char *text, size_t len, double at, int err, void *ud)
{
	return add_blob(name, text, len, at, err, ud, true);
}

/* What the table holds already: meta's status ("" none), and whether it has state items. */
struct found {
	char status[32];
	bool meta, items;
};

static int look(const char *sk, const char *doc, size_t len, void *ud)
{
	struct found *f = ud;

	if (!strcmp(sk, "meta")) {
		cJSON *m = doc ? cJSON_ParseWithLength(doc, len) : NULL;
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(m, "status"));
		f->meta = true;
		/* anything but "migrating" (unreadable too) is a table that holds state */
		snprintf(f->status, sizeof(f->status), "%s",
			 st && !strcmp(st, "migrating") ? "migrating" : "ready");
		cJSON_Delete(m);
	} else if (strcmp(sk, "lease")) {
		f->items = true;
	}
	return 0;
}

static void meta_doc(char *out, size_t n, const char *status, const char *dir)
{
	char stamp[32], from[600];
	time_t now = time(NULL);
	struct tm tm;
	size_t j = 0;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* the directory as a JSON string: quotes, backslashes and controls left out */
	for (const char *p = dir; *p && j + 1 < sizeof(from); p++)
		if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			from[j++] = *p;
	from[j] = '\0';
	snprintf(
	    out, n,
	    "{\"version\":%d,\"status\":\"%s\",\"created_at\":\"%s\",\"migrated_from\":\"%s\"}",
	    STATE_VERSION, status, stamp, from);
}

int migrate_state_io(const char *dir, const struct state_table_io *io, void *t, FILE *out,
		     char *why, size_t why_len)
{
	struct found f = { "", false, false };
	struct state *s = NULL;
	char *warning = NULL, doc[1024];
	int r;

	*why = '\0';
	r = io->read_all(t, "", look, &f, why, why_len);
	if (r < 0) {
		if (!*why)
			snprintf(why, why_len, "cannot read the table: %s", strerror(-r));
		return r;
	}
	if ((f.meta && strcmp(f.status, "migrating")) || (!f.meta && f.items)) {
		snprintf(why, why_len,
			 "the table already holds state (%s): nothing was copied; a migration "
			 "runs once, into a table without state",
			 f.meta ? "its 'meta' item says it is ready" : "it has state items");
		return -EEXIST;
	}
	/* a mistyped directory would be made, and its emptiness copied for good */
	char path[4200];
	struct stat st;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (stat(path, &st) < 0) {
		r = -errno;
		snprintf(why, why_len, "nothing to migrate: '%s': %s", path, strerror(errno));
		return r;
	}
	r = state_open(dir, &s, &warning, why, why_len);
	if (r < 0)
		return r;
	if (warning && out)
		fprintf(out, "warning: %s\n", warning);
	free(warning);
	if (!f.meta) {
		meta_doc(doc, sizeof(doc), "migrating", dir);
		r = io->put_if_absent(t, "meta", doc, why, why_len);
		if (r == -EEXIST)
			snprintf(why, why_len,
				 "another migration or instance wrote the table's 'meta' item "
				 "first: nothing was copied");
		if (r < 0) {
			state_free(s);
			return r;
		}
	}
	struct batch *b = calloc(1, sizeof(*b));
	if (!b) {
		state_free(s);
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	b->io = io;
	b->t = t;
	b->why = why;
	b->why_len = why_len;
	r = state_each_item(s, add_item, b);
	if (r == 0)
		r = state_blob_each(s, STATE_BLOB_OUTBOX, ENTRY_MAX, add_entry, b, why, why_len);
	if (r == 0)
		r = state_blob_each(s, STATE_BLOB_SENT, 0, add_mark, b, why, why_len);
	if (r == 0)
		r = flush(b);
	if (r == 0) {
		meta_doc(doc, sizeof(doc), "ready", dir);
		b->w[0] = (struct ddb_write){ .sk = "meta", .doc = doc, .expires = 0 };
		b->n = 1;
		r = flush(b);
	}
	if (r == 0 && out)
		fprintf(out,
			"copied '%s' into the table: the global part, %lu watch%s, %lu target%s, "
			"%lu rollout%s, %lu outbox entr%s, %lu sent mark%s%s\n",
			dir, b->watches, b->watches == 1 ? "" : "es", b->targets,
			b->targets == 1 ? "" : "s", b->rollouts, b->rollouts == 1 ? "" : "s",
			b->entries, b->entries == 1 ? "y" : "ies", b->marks,
			b->marks == 1 ? "" : "s",
			b->skipped ? " (some outbox files could not be read and stay)" : "");
	free(b);
	state_free(s);
	return r;
}

static int unfenced_write(void *t, const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	return ddb_write_unfenced(t, w, n, why, why_len);
}

int migrate_state_to_table(const char *dir, struct ddb *t, FILE *out, char *why, size_t why_len)
{
	/* before any instance leads: no lease to fence with; "meta" "migrating" keeps daemons out
	 */
	struct state_table_io io = state_ddb_io;

	io.write = unfenced_write;
	return migrate_state_io(dir, &io, t, out, why, why_len);
}
