/* SPDX-License-Identifier: MIT */
/*
 * --migrate-state-to-table: copies a state directory (state.json, rollouts/, outbox/) into the
 * HA table once (docs/ha.md). The table's "meta" item says "migrating" from the first write to the
 * last, so that a daemon refuses a half-copied table (state_open_table(): -EBUSY) and a migration
 * cut short may simply be run again; it says "ready" at the end.
 */
#ifndef ECR_MIGRATE_H
#define ECR_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

struct ddb;
struct state_table_io;

/*
 * Reads dir as the daemon does (state_open(): bad files are set aside there) and copies every item
 * into the table: "meta" {"status": "migrating"} first (ddb_put_if_absent()), then "g", "w/", "t/",
 * "r/", "o/", "s/" items in transactions of DDB_TX_MAX, then "meta" "ready". Refuses (-EEXIST)
 * when the table holds state ("meta" ready, or state items without "meta"); a "migrating" table is
 * written again from the start. Prints what it copied (counts) to out. Writes go through
 * ddb_write_unfenced() (no instance should run on the table meanwhile: a daemon that starts
 * refuses the table while it says "migrating"). 0 or -errno with why filled.
 */
int migrate_state_to_table(const char *dir, struct ddb *t, FILE *out, char *why, size_t why_len);

/* The same through io (a test's fake table). */
int migrate_state_io(const char *dir, const struct state_table_io *io, void *t, FILE *out,
		     char *why, size_t why_len);

#endif
