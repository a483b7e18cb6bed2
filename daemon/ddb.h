/* SPDX-License-Identifier: MIT */
/*
 * The DynamoDB table of high availability (issue 18, docs/ha.md): one table, one group of
 * instances (the partition key pk), items keyed by sk. Two ways to call it:
 *
 * - asynchronous calls of the lease item (sk "lease") on the daemon's loop and AWS client,
 *   for daemon/lease.c: ddb_lease_read(), ddb_lease_write();
 * - blocking calls of the shared state (daemon/state.c, daemon/migrate.c): ddb_write()
 *   (fenced), ddb_read_all(), ddb_put_if_absent(), ddb_write_unfenced(). They run on a private
 *   ev loop with its own HTTP and AWS clients that share the daemon's SigV4 signer and
 *   credentials provider, bounded by a timeout (default 3 s), so the daemon's loop stands
 *   still meanwhile (as it does for a state file's fsync).
 *
 * Credentials: the blocking calls never wait for credentials (the provider refreshes on the
 * daemon's loop, which does not run meanwhile): when none are usable now (cred_peek() NULL)
 * they fail at once with -EAGAIN. The lease's asynchronous calls, every lease/3 on the daemon's
 * loop, keep them fresh (the provider refreshes ahead of expiry), so in practice they are
 * ready whenever the lease is held; a tool (the migration) makes one asynchronous call
 * (ddb_lease_read) on its loop first. The daemon's loop is never run from here. With role_arn,
 * every call (both kinds) uses that assumed role.
 *
 * Fencing: ddb_write()'s transaction starts with a ConditionCheck on the lease item that its
 * owner and term are still those set by ddb_set_fence() (the lease sets them when it acquires,
 * clears them when it loses or releases); refused, it returns -ESTALE. A gate
 * (ddb_set_gate(), the lease's lease_may_act) refuses a write locally (-EAGAIN) while this
 * instance may not act.
 *
 * Every reply is outside bytes: every attribute read is checked (type, size, a number is
 * digits only and fits). Messages (why) name the table, the operation and AWS's code; never a
 * credential.
 */
#ifndef ECR_DDB_H
#define ECR_DDB_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aws_client;
struct aws_options;
struct aws_result;
struct cred_provider;
struct ev_loop;
struct http_client;
struct http_client_options;
struct sigv4_signer;

#define DDB_TX_MAX       99      /* Put/Delete actions of one fenced write (+ the ConditionCheck) */
#define DDB_TX_BYTES_MAX 3800000 /* estimated bytes of one transaction (DynamoDB's limit: 4 MB) */
#define DDB_SK_MAX       1024    /* bytes of a sort key (DynamoDB's own bound) */
#define DDB_ITEM_MAX     400000  /* bytes of an item, about DynamoDB's 400 KB */
#define DDB_INSTANCE_MAX 128     /* bytes of an instance id (config: [A-Za-z0-9_.:-]{1,128}) */
#define DDB_HOST_MAX     255     /* bytes of the host attribute */
#define DDB_SESSION_MAX  32      /* hex digits of the session attribute */

struct ddb;

struct ddb_options {
	struct ev_loop *loop;        /* the daemon's: the asynchronous calls and their timers */
	struct aws_client *aws;      /* the daemon's client: the asynchronous calls */
	struct http_client *http;    /* the daemon's: the STS calls of role_arn */
	struct sigv4_signer *signer; /* shared with the private client */
	struct cred_provider *creds; /* the daemon's credentials (the base of role_arn) */
	/* What the daemon's client was made with (region, FIPS, endpoint overrides; retries):
	 * the private client of the blocking calls is made alike. */
	const struct aws_options *aws_options;
	const struct http_client_options *http_options; /* the private HTTP client's; NULL: {} */
	const char *profile;      /* for the STS calls of role_arn; NULL: the default */
	const char *sts_endpoint; /* NULL: as endpoint_resolve() says */
	const char *table;        /* a table name or a table ARN (required) */
	const char *region;       /* NULL: the ARN's region, else aws_options->region */
	const char *role_arn;     /* assumed for every call, or NULL */
	const char *group;        /* the partition key (required) */
	long timeout_ms;          /* bound of one blocking call (all its retries); 0: 3000. Keep it
				     under lease/4: the daemon's loop (renewals) waits meanwhile */
	/* Told of every blocking call that finished (the private client's; the asynchronous ones
	 * go through the daemon's client and its own observer): metrics_aws_observer. May be
	 * NULL. */
	void (*observer)(const struct aws_result *res, void *ud);
	void *observer_data;
};

/*
 * Makes the table's client (no call is made). The options are copied; loop, aws, http,
 * signer and creds are not owned and must outlive it. 0 and *ret; -EINVAL (why says: a
 * missing option, a bad region or ARN, no endpoint), -ENOMEM.
 */
int ddb_new(const struct ddb_options *o, struct ddb **ret, char *why, size_t why_len);

/* Cancels the asynchronous calls in flight (no callbacks) and frees. NULL is a no-op. */
void ddb_free(struct ddb *t);

/* The table (as configured: name or ARN), the group, the region calls go to. */
const char *ddb_table(const struct ddb *t);
const char *ddb_group(const struct ddb *t);
const char *ddb_region(const struct ddb *t);

/*
 * The fence of ddb_write(): the owner and term the lease holds (owner NULL: none, and
 * ddb_write() refuses with -EAGAIN "not acting"). Copied.
 */
void ddb_set_fence(struct ddb *t, const char *owner, uint64_t term);

/*
 * Told (fn(ud), from inside ddb_write()) when DynamoDB refused a fenced write by its condition:
 * another instance leads. The daemon stops acting at once (the caller still gets -ESTALE).
 */
void ddb_set_on_fenced(struct ddb *t, void (*fn)(void *ud), void *ud);

/* Whether a fenced write may be sent now (NULL: always): false refuses it with -EAGAIN. */
void ddb_set_gate(struct ddb *t, bool (*may_write)(void *ud), void *ud);

/* ---- the lease item (asynchronous, on the daemon's loop) ------------------------------- */

/* The lease item, sk "lease" (docs/ha.md). */
struct ddb_lease {
	char owner[DDB_INSTANCE_MAX + 1]; /* "" when released */
	uint64_t term;                    /* +1 at every acquisition */
	uint64_t version;                 /* +1 at every write */
	uint64_t lease_ms;                /* the holder's lease duration */
	uint64_t since_ms;                /* Unix ms of the acquisition (display only) */
	char host[DDB_HOST_MAX + 1];
	char session[DDB_SESSION_MAX + 1]; /* the holder process's own (hex), "" none: two
					      processes given one instance id tell their
					      writes apart by it */
};

/* The condition of a lease write. */
struct ddb_lease_cond {
	bool absent;       /* the item must not exist (PutItem, attribute_not_exists(pk)) */
	const char *owner; /* else, when not NULL: owner = this AND term = term AND ... */
	uint64_t term;
	uint64_t version; /* ... version = this (unless absent or any_version) */
	bool any_version; /* with owner: no condition on the version, which is incremented in
			     place (SET version = version + 1: the release, whatever renewal of
			     ours landed last); next->version is then not written */
};

struct ddb_op;

/*
 * The answer of a lease call, from the loop: err 0 with item (a read: the item; a write:
 * what was written); -ENOENT (a read: there is no lease item); -ESTALE (a write: the
 * condition failed); -EAGAIN (timed out, throttled, no reply, credentials not ready);
 * -EACCES (refused to our credentials); -ENXIO (the table does not exist); -EPROTO (a reply
 * that cannot be read: why says which attribute); -EINVAL (AWS says the request is wrong).
 * why names the table, the operation and AWS's code.
 */
typedef void (*ddb_lease_fn)(int err, const struct ddb_lease *item, const char *why, void *ud);

/*
 * Reads the lease item (GetItem, ConsistentRead) in at most timeout_ms (all retries: the call
 * is cancelled then and answered -EAGAIN). 0 and *ret (if asked; valid until done runs or
 * ddb_op_cancel()); -ENOMEM, -EINVAL. done never runs inside this call.
 */
int ddb_lease_read(struct ddb *t, long timeout_ms, ddb_lease_fn done, void *ud,
		   struct ddb_op **ret);

/*
 * Writes the lease item to next, under cond: absent → PutItem with attribute_not_exists(pk);
 * else UpdateItem (SET of every attribute) with "version = :v" and, with cond->owner,
 * "owner = :o AND term = :t" (any_version: without the version's condition, the version
 * incremented in place). Same answers and bounds as ddb_lease_read().
 */
int ddb_lease_write(struct ddb *t, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
		    long timeout_ms, ddb_lease_fn done, void *ud, struct ddb_op **ret);

/* The same write, blocking on the private loop, bounded by timeout_ms (lease release at
 * SIGTERM). 0 or the errors above (why). */
int ddb_lease_write_wait(struct ddb *t, const struct ddb_lease *next,
			 const struct ddb_lease_cond *cond, long timeout_ms, char *why,
			 size_t why_len);

/* Stops a call: its callback does not run. NULL is a no-op. */
void ddb_op_cancel(struct ddb_op *op);

/* ---- the shared state (blocking, on the private loop) ---------------------------------- */

/* One action of a write: Put {pk, sk, doc, term[, expires]}, or Delete of sk when doc is NULL. */
struct ddb_write {
	const char *sk;
	const char *doc;   /* NULL: delete the item */
	long long expires; /* Unix seconds (the TTL attribute), 0: none */
};

/*
 * Blocking fenced write (ConditionCheck on the lease + up to DDB_TX_MAX actions, one
 * TransactWriteItems; actions whose items come to more than DDB_TX_BYTES_MAX, which DynamoDB
 * would refuse as one, go as several transactions in order, each fenced: not atomic as a whole,
 * the first failure ends it); bounded by the timeout. 0; -ESTALE refused by the fence (another
 * instance leads); -EAGAIN transient (timeout, throttled after retries, credentials not
 * ready, not acting: no fence set or the gate closed); -EACCES refused to our credentials;
 * -EINVAL (n 0 or over DDB_TX_MAX, a bad sk, two actions on one sk, AWS's ValidationException);
 * -ENXIO the table does not exist; -ENOMEM. why names the table, the op and AWS's code.
 */
int ddb_write(struct ddb *t, const struct ddb_write *w, size_t n, char *why, size_t why_len);

/* The same without the fence and the gate (the migration, before any instance leads): up to
 * DDB_TX_MAX + 1 actions. */
int ddb_write_unfenced(struct ddb *t, const struct ddb_write *w, size_t n, char *why,
		       size_t why_len);

/*
 * Blocking, strongly consistent (Query pk = group [AND begins_with(sk, prefix)],
 * ConsistentRead, every page): every item of the group whose sk starts with prefix ("" all),
 * fn(sk, doc or NULL, doc_len, ud) for each (doc NULL for an item without one: the lease, a
 * sent mark); fn returns < 0 to stop (returned as is). Each page is bounded by the timeout.
 * 0 or -errno as ddb_write() (-EPROTO for an item that cannot be read; why says which).
 */
int ddb_read_all(struct ddb *t, const char *prefix,
		 int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
		 char *why, size_t why_len);

/*
 * The takeover's read, on the daemon's loop, so that the lease is renewed meanwhile (a blocking
 * read of a big table, or of a slow one, would outlast the lease and hand it to a standby):
 * every item of the group, strongly consistent, page by page (each bounded by page_timeout_ms),
 * kept in memory; done(err, why, ud) once, from the loop (err as ddb_read_all()). Then
 * ddb_read_loaded() hands the items to a reader as ddb_read_all() does, as often as asked, until
 * ddb_load_free() (also cancels a load in flight; ddb_free() does too). One load at a time:
 * -EINVAL when one is held, -ENOMEM.
 */
int ddb_load(struct ddb *t, long page_timeout_ms, void (*done)(int err, const char *why, void *ud),
	     void *ud);
int ddb_read_loaded(struct ddb *t, const char *prefix,
		    int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
		    char *why, size_t why_len);
void ddb_load_free(struct ddb *t);

/*
 * Blocking unfenced conditional put for the migration: Put {pk, sk, doc} with
 * attribute_not_exists(sk). 0, -EEXIST (the item exists: the table holds state), or -errno as
 * ddb_write().
 */
int ddb_put_if_absent(struct ddb *t, const char *sk, const char *doc, char *why, size_t why_len);

/* ---- pure helpers (tests, fuzz) ------------------------------------------------------- */

/* The request of a write, as sent: TableName, the ConditionCheck first when owner is not NULL,
 * then one Put or Delete per action. NULL without memory or on a bad action (why). */
cJSON *ddb_build_write(const char *table, const char *group, const char *owner, uint64_t term,
		       const struct ddb_write *w, size_t n, char *why, size_t why_len);

/* Reads a lease item (an "Item" map of GetItem or Attributes of UpdateItem). 0; -EPROTO (why
 * names the attribute). */
int ddb_parse_lease(const cJSON *item, struct ddb_lease *ret, char *why, size_t why_len);

/* Reads one state item of a Query: its sk (into sk, DDB_SK_MAX + 1 bytes) and doc (borrowed
 * from item; NULL when it has none). 0; -EPROTO (why). */
int ddb_parse_state_item(const cJSON *item, const char *group, char *sk, const char **ret_doc,
			 size_t *ret_len, char *why, size_t why_len);

/*
 * What a failed DynamoDB call means: -ESTALE (ConditionalCheckFailedException, or a
 * TransactionCanceledException whose first non-None reason is ConditionalCheckFailed),
 * -EDEADLK (a transaction cancelled by a TransactionConflict: may be tried again), -EAGAIN
 * (transient: throttled, timed out, 5xx, no reply, other cancellation reasons), -EACCES
 * (refused to our credentials), -ENXIO (ResourceNotFoundException: no such table), -EINVAL
 * (the request's fault: ValidationException, a ValidationError reason). why: "table 'T' Op:
 * Code[ (action i: Reason)]: message" (the message escaped).
 */
int ddb_map_error(const char *table, const struct aws_result *res, char *why, size_t why_len);

/* Reads a DynamoDB number attribute value ({"N": "123"}): digits only, no sign, fraction or
 * exponent, fits in uint64_t. 0 or -EPROTO. */
int ddb_parse_u64(const cJSON *attr, uint64_t *ret);

#endif
