/* SPDX-License-Identifier: MIT */
/*
 * The HA table's client (ddb.h): request building, reply reading (every attribute checked),
 * error mapping, the asynchronous lease calls on the daemon's loop and the blocking state calls
 * on a private loop.
 */
#include "ddb.h"

#include <errno.h>
#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "credentials.h"
#include "endpoint.h"
#include "escape.h"
#include "http.h"
#include "log.h"

#define DEFAULT_TIMEOUT_MS 3000
#define MAX_PAGES          100000 /* of one ddb_read_all: a bound on a peer that never ends */
#define LEASE_SK           "lease"

struct ddb {
	struct ev_loop *loop;
	struct aws_client *aws;
	struct cred_provider *base; /* the daemon's */
	struct cred_provider *role; /* owned: role_arn's, or NULL */
	struct ev_loop *ploop;      /* private: the blocking calls */
	struct http_client *phttp;  /* on ploop */
	struct aws_client *paws;    /* on ploop */
	char *table, *group, *region;
	long timeout_ms;
	char fence_owner[DDB_INSTANCE_MAX + 1];
	uint64_t fence_term;
	bool fenced;
	bool (*gate)(void *ud);
	void *gate_data;
	void (*on_fenced)(void *ud); /* ddb_set_on_fenced() */
	void *on_fenced_data;
	bool busy; /* a blocking call runs (no nesting) */
	struct ddb_op *ops;
	struct ddb_load *load; /* ddb_load(), until ddb_load_free() */
};

struct ddb_op {
	struct ddb *t;
	struct aws_call *call;
	struct ev_timer deadline;
	ddb_lease_fn done;
	void *ud;
	char operation[16];
	long timeout_ms;
	bool write;
	bool absent; /* PutItem with attribute_not_exists */
	struct ddb_lease next;
	struct ddb_op *prev, *nextop;
};

/* ---- messages ----------------------------------------------------------------------- */

static void whyf(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void whyf(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!why || n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
}

/* ---- numbers and attribute values ----------------------------------------------------- */

int ddb_parse_u64(const cJSON *attr, uint64_t *ret)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(attr, "N");
	const char *s = cJSON_GetStringValue(n);
	uint64_t v = 0;
	size_t len;

	if (!cJSON_IsObject(attr) || !s || cJSON_GetArraySize(attr) != 1)
		return -EPROTO;
	len = strlen(s);
	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return -EPROTO;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EPROTO;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* The string of an {"S": "..."} value, at most max bytes; NULL when it is not one. */
static const char *attr_s(const cJSON *attr, size_t max)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(attr, "S"));

	if (!cJSON_IsObject(attr) || !s || cJSON_GetArraySize(attr) != 1 || strlen(s) > max)
		return NULL;
	return s;
}

static bool instance_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == ':' || c == '-';
}

static bool instance_valid(const char *s, bool empty_ok)
{
	size_t n = strlen(s);

	if (n > DDB_INSTANCE_MAX || (n == 0 && !empty_ok))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!instance_char(s[i]))
			return false;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 32 || *s == 127)
			return false;
	return true;
}

/* The key's pk and sk: pk must be the group. */
static int check_key(const cJSON *item, const char *group, const char **ret_sk, char *why,
		     size_t why_len)
{
	const char *pk = attr_s(cJSON_GetObjectItemCaseSensitive(item, "pk"), 1024);
	const char *sk = attr_s(cJSON_GetObjectItemCaseSensitive(item, "sk"), DDB_SK_MAX);

	if (!cJSON_IsObject(item)) {
		whyf(why, why_len, "an item that is not a map");
		return -EPROTO;
	}
	if (!pk) {
		whyf(why, why_len, "an item without a string pk");
		return -EPROTO;
	}
	if (group && strcmp(pk, group)) {
		whyf(why, why_len, "an item of another group (pk)");
		return -EPROTO;
	}
	if (!sk || !*sk) {
		whyf(why, why_len, "an item without a string sk of 1 to %d bytes", DDB_SK_MAX);
		return -EPROTO;
	}
	*ret_sk = sk;
	return 0;
}

int ddb_parse_lease(const cJSON *item, struct ddb_lease *ret, char *why, size_t why_len)
{
	struct ddb_lease l = { 0 };
	const char *sk = NULL, *owner, *host;
	const cJSON *a;
	int r = check_key(item, NULL, &sk, why, why_len);

	if (r < 0)
		return r;
	if (strcmp(sk, LEASE_SK)) {
		whyf(why, why_len, "the lease item has sk other than 'lease'");
		return -EPROTO;
	}
	owner = attr_s(cJSON_GetObjectItemCaseSensitive(item, "owner"), DDB_INSTANCE_MAX);
	if (!owner || !instance_valid(owner, true)) {
		whyf(why, why_len,
		     "lease attribute 'owner': not an instance id (S, [A-Za-z0-9_.:-], "
		     "at most 128 bytes)");
		return -EPROTO;
	}
	snprintf(l.owner, sizeof(l.owner), "%s", owner);
	if (ddb_parse_u64(cJSON_GetObjectItemCaseSensitive(item, "term"), &l.term) < 0) {
		whyf(why, why_len, "lease attribute 'term': not a whole number (N)");
		return -EPROTO;
	}
	if (ddb_parse_u64(cJSON_GetObjectItemCaseSensitive(item, "version"), &l.version) < 0) {
		whyf(why, why_len, "lease attribute 'version': not a whole number (N)");
		return -EPROTO;
	}
	a = cJSON_GetObjectItemCaseSensitive(item, "lease_ms");
	if (a || *l.owner) {
		if (ddb_parse_u64(a, &l.lease_ms) < 0 || l.lease_ms == 0 ||
		    l.lease_ms > 24ULL * 3600 * 1000) {
			whyf(why, why_len,
			     "lease attribute 'lease_ms': not a duration in ms (N, 1 to 86400000)");
			return -EPROTO;
		}
	}
	a = cJSON_GetObjectItemCaseSensitive(item, "since");
	if (a && ddb_parse_u64(a, &l.since_ms) < 0) {
		whyf(why, why_len, "lease attribute 'since': not a whole number (N)");
		return -EPROTO;
	}
	a = cJSON_GetObjectItemCaseSensitive(item, "host");
	if (a) {
		host = attr_s(a, DDB_HOST_MAX);
		if (!host || !printable(host)) {
			whyf(why, why_len,
			     "lease attribute 'host': not a printable string (S) of at "
			     "most 255 bytes");
			return -EPROTO;
		}
		snprintf(l.host, sizeof(l.host), "%s", host);
	}
	a = cJSON_GetObjectItemCaseSensitive(item, "session");
	if (a) {
		const char *session = attr_s(a, DDB_SESSION_MAX);
		if (!session || strspn(session, "0123456789abcdef") != strlen(session)) {
			whyf(why, why_len,
			     "lease attribute 'session': not lowercase hex (S) of at most 32 "
			     "digits");
			return -EPROTO;
		}
		snprintf(l.session, sizeof(l.session), "%s", session);
	}
	*ret = l;
	return 0;
}

int ddb_parse_state_item(const cJSON *item, const char *group, char *sk, const char **ret_doc,
			 size_t *ret_len, char *why, size_t why_len)
{
	const char *k = NULL, *doc = NULL;
	const cJSON *a;
	char key[300];
	uint64_t u;
	int r = check_key(item, group, &k, why, why_len);

	if (r < 0)
		return r;
	escape_bounded(k, 200, key, sizeof(key), ESCAPE_SQUOTE);
	a = cJSON_GetObjectItemCaseSensitive(item, "doc");
	if (a && !(doc = attr_s(a, DDB_ITEM_MAX))) {
		whyf(why, why_len,
		     "item '%s': attribute 'doc' is not a string (S) of at most %d bytes", key,
		     DDB_ITEM_MAX);
		return -EPROTO;
	}
	a = cJSON_GetObjectItemCaseSensitive(item, "term");
	if (a && ddb_parse_u64(a, &u) < 0) {
		whyf(why, why_len, "item '%s': attribute 'term' is not a whole number (N)", key);
		return -EPROTO;
	}
	a = cJSON_GetObjectItemCaseSensitive(item, "expires");
	if (a && ddb_parse_u64(a, &u) < 0) {
		whyf(why, why_len, "item '%s': attribute 'expires' is not a whole number (N)", key);
		return -EPROTO;
	}
	snprintf(sk, DDB_SK_MAX + 1, "%s", k);
	*ret_doc = doc;
	*ret_len = doc ? strlen(doc) : 0;
	return 0;
}

/* ---- requests ----------------------------------------------------------------------- */

static cJSON *attr_str(const char *s)
{
	cJSON *o = cJSON_CreateObject();

	if (o && !cJSON_AddStringToObject(o, "S", s)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *attr_num(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	cJSON *o = cJSON_CreateObject();
	if (o && !cJSON_AddStringToObject(o, "N", buf)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Adds name: value to o, value consumed; false (and value freed) without memory. */
static bool add(cJSON *o, const char *name, cJSON *value)
{
	if (!o || !value || !cJSON_AddItemToObject(o, name, value)) {
		cJSON_Delete(value);
		return false;
	}
	return true;
}

static cJSON *key_of(const char *group, const char *sk)
{
	cJSON *k = cJSON_CreateObject();

	if (!add(k, "pk", attr_str(group)) || !add(k, "sk", attr_str(sk))) {
		cJSON_Delete(k);
		return NULL;
	}
	return k;
}

/* Whether sk may name a state item: 1..DDB_SK_MAX bytes, printable, not the lease. */
static bool state_sk_valid(const char *sk)
{
	size_t n = sk ? strlen(sk) : 0;

	return n > 0 && n <= DDB_SK_MAX && printable(sk) && strcmp(sk, LEASE_SK);
}

/* Checks the actions of one write (at most max): 0, or -EINVAL with why. */
static int check_actions(const struct ddb_write *w, size_t n, size_t max, char *why, size_t why_len)
{
	if (n == 0 || n > max) {
		whyf(why, why_len, "a write of %zu actions (1 to %zu)", n, max);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!state_sk_valid(w[i].sk) || (w[i].doc && strlen(w[i].doc) > DDB_ITEM_MAX) ||
		    w[i].expires < 0) {
			whyf(why, why_len, "action %zu: %s", i,
			     !state_sk_valid(w[i].sk)
				 ? "not a state key (1 to 1024 printable bytes, not 'lease')"
			     : w[i].expires < 0 ? "a negative expiry"
						: "a document over 400000 bytes");
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(w[i].sk, w[j].sk)) {
				whyf(why, why_len, "actions %zu and %zu write the same item", j, i);
				return -EINVAL;
			}
	}
	return 0;
}

cJSON *ddb_build_write(const char *table, const char *group, const char *owner, uint64_t term,
		       const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	cJSON *req = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(req, "TransactItems");
	bool ok = items != NULL;

	if (check_actions(w, n, DDB_TX_MAX + (owner ? 0 : 1), why, why_len) < 0) {
		cJSON_Delete(req);
		return NULL;
	}
	if (owner && ok) {
		cJSON *cc = cJSON_CreateObject(), *names = cJSON_CreateObject(),
		      *values = cJSON_CreateObject(), *wrap = cJSON_CreateObject();
		ok =
		    add(cc, "TableName", cJSON_CreateString(table)) &&
		    add(cc, "Key", key_of(group, LEASE_SK)) &&
		    add(cc, "ConditionExpression", cJSON_CreateString("#o = :me AND #t = :term")) &&
		    add(names, "#o", cJSON_CreateString("owner")) &&
		    add(names, "#t", cJSON_CreateString("term")) &&
		    add(values, ":me", attr_str(owner)) && add(values, ":term", attr_num(term));
		if (ok) {
			ok = add(cc, "ExpressionAttributeNames", names);
			names = NULL;
		}
		if (ok) {
			ok = add(cc, "ExpressionAttributeValues", values);
			values = NULL;
		}
		if (ok) {
			ok = add(wrap, "ConditionCheck", cc);
			cc = NULL;
		}
		if (ok) {
			ok = cJSON_AddItemToArray(items, wrap);
			if (ok)
				wrap = NULL;
		}
		cJSON_Delete(cc);
		cJSON_Delete(names);
		cJSON_Delete(values);
		cJSON_Delete(wrap);
	}
	for (size_t i = 0; i < n && ok; i++) {
		cJSON *act = cJSON_CreateObject(), *wrap = cJSON_CreateObject();

		ok = add(act, "TableName", cJSON_CreateString(table));
		if (w[i].doc) {
			cJSON *item = key_of(group, w[i].sk);
			ok = ok && item && add(item, "doc", attr_str(w[i].doc)) &&
			     (!owner || add(item, "term", attr_num(term))) &&
			     (!w[i].expires ||
			      add(item, "expires", attr_num((uint64_t)w[i].expires)));
			if (ok) {
				ok = add(act, "Item", item);
			} else {
				cJSON_Delete(item);
			}
		} else {
			ok = ok && add(act, "Key", key_of(group, w[i].sk));
		}
		if (ok) {
			ok = add(wrap, w[i].doc ? "Put" : "Delete", act);
			act = NULL;
		}
		if (ok) {
			ok = cJSON_AddItemToArray(items, wrap);
			if (ok)
				wrap = NULL;
		}
		cJSON_Delete(act);
		cJSON_Delete(wrap);
	}
	if (!ok) {
		whyf(why, why_len, "out of memory");
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

static cJSON *build_lease_read(const struct ddb *t)
{
	cJSON *req = cJSON_CreateObject();

	if (!add(req, "TableName", cJSON_CreateString(t->table)) ||
	    !add(req, "Key", key_of(t->group, LEASE_SK)) ||
	    !add(req, "ConsistentRead", cJSON_CreateTrue())) {
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

/* PutItem (absent) or UpdateItem of the lease item. */
static cJSON *build_lease_write(const struct ddb *t, const struct ddb_lease *next,
				const struct ddb_lease_cond *cond)
{
	cJSON *req = cJSON_CreateObject(), *names = NULL, *values = NULL;
	bool ok = add(req, "TableName", cJSON_CreateString(t->table));
	bool any = cond->owner && cond->any_version;

	if (cond->absent) {
		cJSON *item = key_of(t->group, LEASE_SK);
		ok = ok && item && add(item, "owner", attr_str(next->owner)) &&
		     add(item, "term", attr_num(next->term)) &&
		     add(item, "version", attr_num(next->version)) &&
		     add(item, "lease_ms", attr_num(next->lease_ms)) &&
		     add(item, "since", attr_num(next->since_ms)) &&
		     add(item, "host", attr_str(next->host)) &&
		     add(item, "session", attr_str(next->session));
		if (ok)
			ok = add(req, "Item", item);
		else
			cJSON_Delete(item);
		ok = ok && add(req, "ConditionExpression",
			       cJSON_CreateString("attribute_not_exists(pk)"));
		if (!ok) {
			cJSON_Delete(req);
			return NULL;
		}
		return req;
	}
	names = cJSON_CreateObject();
	values = cJSON_CreateObject();
	ok = ok && add(req, "Key", key_of(t->group, LEASE_SK)) &&
	     add(req, "UpdateExpression",
		 cJSON_CreateString(
		     any ? "SET #o = :o, #t = :t, #v = #v + :v, #l = :l, #s = :s, "
			   "#h = :h, #n = :n"
			 : "SET #o = :o, #t = :t, #v = :v, #l = :l, #s = :s, #h = :h, "
			   "#n = :n")) &&
	     add(req, "ConditionExpression",
		 cJSON_CreateString(any           ? "#o = :eo AND #t = :et"
				    : cond->owner ? "#v = :ev AND #o = :eo AND #t = :et"
						  : "#v = :ev")) &&
	     add(names, "#o", cJSON_CreateString("owner")) &&
	     add(names, "#t", cJSON_CreateString("term")) &&
	     add(names, "#v", cJSON_CreateString("version")) &&
	     add(names, "#l", cJSON_CreateString("lease_ms")) &&
	     add(names, "#s", cJSON_CreateString("since")) &&
	     add(names, "#h", cJSON_CreateString("host")) &&
	     add(names, "#n", cJSON_CreateString("session")) &&
	     add(values, ":o", attr_str(next->owner)) && add(values, ":t", attr_num(next->term)) &&
	     add(values, ":v", attr_num(any ? 1 : next->version)) &&
	     add(values, ":l", attr_num(next->lease_ms)) &&
	     add(values, ":s", attr_num(next->since_ms)) &&
	     add(values, ":h", attr_str(next->host)) &&
	     add(values, ":n", attr_str(next->session)) &&
	     (any || add(values, ":ev", attr_num(cond->version))) &&
	     (!cond->owner || (add(values, ":eo", attr_str(cond->owner)) &&
			       add(values, ":et", attr_num(cond->term))));
	if (ok) {
		ok = add(req, "ExpressionAttributeNames", names);
		names = NULL;
	}
	if (ok) {
		ok = add(req, "ExpressionAttributeValues", values);
		values = NULL;
	}
	cJSON_Delete(names);
	cJSON_Delete(values);
	if (!ok) {
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

/* ---- errors ---------------------------------------------------------------------------- */

/* What a failed call means (-errno) and why (the table, the operation, AWS's code and
 * message). */
int ddb_map_error(const char *table_name, const struct aws_result *res, char *why, size_t why_len)
{
	const struct aws_error *e = &res->err;
	char msg[320], reasons_text[200] = "";
	char reasons[DDB_TX_MAX + 2][AWS_REASON_MAX];
	int r, n;

	escape_bounded(e->message, 300, msg, sizeof(msg), ESCAPE_SQUOTE);
	if (!strcmp(e->code, "ConditionalCheckFailedException")) {
		r = -ESTALE;
	} else if (!strcmp(e->code, "TransactionCanceledException")) {
		n = aws_cancellation_reasons(res->err_body, e->message, reasons,
					     sizeof(reasons) / sizeof(reasons[0]));
		r = -EAGAIN; /* a conflict with another transaction, throttling: try again */
		for (int i = 0; i < n; i++) {
			if (!strcmp(reasons[i], "None"))
				continue;
			if (!*reasons_text)
				snprintf(reasons_text, sizeof(reasons_text), " (action %d: %.63s)",
					 i, reasons[i]);
			if (!strcmp(reasons[i], "ConditionalCheckFailed")) {
				r = -ESTALE;
				break;
			}
			if (!strcmp(reasons[i], "TransactionConflict") && r == -EAGAIN)
				r = -EDEADLK;
			if (!strcmp(reasons[i], "ValidationError") ||
			    !strcmp(reasons[i], "ItemCollectionSizeLimitExceeded"))
				r = -EINVAL;
		}
	} else if (!strcmp(e->code, "TransactionConflictException")) {
		r = -EAGAIN; /* a single write met a transaction on its item: try again */
	} else if (!strcmp(e->code, "ResourceNotFoundException")) {
		r = -ENXIO;
	} else {
		switch (aws_error_classify(e)) {
		case AWS_ERROR_TRANSIENT:
			r = -EAGAIN;
			break;
		case AWS_ERROR_AUTH:
			r = -EACCES;
			break;
		case AWS_ERROR_NOT_FOUND:
			r = -ENXIO;
			break;
		default:
			r = -EINVAL;
			break;
		}
	}
	char table[300];
	escape_bounded(table_name, 255, table, sizeof(table), ESCAPE_SQUOTE);
	whyf(why, why_len, "table '%s' %s: %s%s: %s", table, res->operation, e->code, reasons_text,
	     msg);
	return r;
}

/* ---- credentials ------------------------------------------------------------------------ */

static struct cred_provider *creds_of(const struct ddb *t)
{
	return t->role ? t->role : t->base;
}

/*
 * Usable credentials now, for a blocking call; -EAGAIN else, at once: the provider refreshes on
 * the daemon's loop, which does not run during a blocking call (and must not be run from here:
 * a blocking call may come from a callback, or from the teardown after the loop ended). The
 * lease's calls on that loop keep them fresh; a tool warms them up with one asynchronous call
 * (ddb_lease_read) first.
 */
static int creds_ready(struct ddb *t, char *why, size_t why_len)
{
	char table[300];

	if (cred_peek(creds_of(t)))
		return 0;
	escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	whyf(why, why_len, "table '%s': credentials are not ready yet", table);
	return -EAGAIN;
}

/* ---- blocking calls on the private loop ---------------------------------------------------- */

struct blocking {
	struct ddb *t;
	bool done, timed_out;
	int r;
	cJSON *body;
	char *why;
	size_t why_len;
};

static void on_blocking_done(struct aws_result *res, void *ud)
{
	struct blocking *b = ud;

	b->done = true;
	if (res->ok) {
		b->r = 0;
		b->body = aws_result_take_body(res);
	} else {
		b->r = ddb_map_error(b->t->table, res, b->why, b->why_len);
	}
}

static void on_blocking_timeout(struct ev_loop *loop, struct ev_timer *tm, int revents)
{
	struct blocking *b = tm->data;

	(void)loop;
	(void)revents;
	b->timed_out = true;
}

/* One call on the private loop, bounded by timeout_ms; params consumed; *ret_body when ok. */
static int call_blocking(struct ddb *t, const char *op, cJSON *params, long timeout_ms,
			 cJSON **ret_body, char *why, size_t why_len)
{
	struct blocking b = { .t = t, .why = why, .why_len = why_len };
	struct aws_call_spec spec = { .service = &aws_dynamodb,
				      .operation = op,
				      .params = params,
				      .creds = creds_of(t),
				      .region = t->region,
				      .timeout_ms = timeout_ms };
	struct aws_call *call = NULL;
	struct ev_timer tm;
	char table[300];
	int r;

	escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	if (!params) {
		whyf(why, why_len, "table '%s' %s: out of memory", table, op);
		return -ENOMEM;
	}
	if (t->busy) {
		cJSON_Delete(params);
		whyf(why, why_len, "table '%s' %s: called from inside another call", table, op);
		return -EBUSY;
	}
	r = creds_ready(t, why, why_len);
	if (r < 0) {
		cJSON_Delete(params);
		return r;
	}
	/* the private loop's clock stood still since its last run (a standby's whole wait): the
	 * call's timers and ours count from now */
	ev_now_update(t->ploop);
	r = aws_call(t->paws, &spec, on_blocking_done, &b, &call);
	cJSON_Delete(params);
	if (r < 0) {
		whyf(why, why_len, "table '%s' %s: cannot start the call (%s)", table, op,
		     strerror(-r));
		return r;
	}
	t->busy = true;
	ev_timer_init(&tm, on_blocking_timeout, (double)timeout_ms / 1000.0, 0.0);
	tm.data = &b;
	ev_timer_start(t->ploop, &tm);
	while (!b.done && !b.timed_out)
		ev_run(t->ploop, EVRUN_ONCE);
	ev_timer_stop(t->ploop, &tm);
	t->busy = false;
	if (!b.done) {
		aws_call_cancel(call);
		whyf(why, why_len, "table '%s' %s: no answer in %ld ms", table, op, timeout_ms);
		return -EAGAIN;
	}
	if (b.r == 0 && ret_body)
		*ret_body = b.body;
	else
		cJSON_Delete(b.body);
	return b.r;
}

/* DynamoDB's own estimate of an action's size: its attribute names and values. */
static size_t action_bytes(const struct ddb *t, const struct ddb_write *w)
{
	return strlen(t->group) + strlen(w->sk) + (w->doc ? strlen(w->doc) : 0) + 64;
}

/* One transaction (w[0..n)), a conflict tried again while the time allows. */
static int send_tx(struct ddb *t, const struct ddb_write *w, size_t n, bool fenced, double deadline,
		   char *why, size_t why_len)
{
	char table[300], inner[256] = "";
	cJSON *req;
	int r;

	escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	req = ddb_build_write(t->table, t->group, fenced ? t->fence_owner : NULL, t->fence_term, w,
			      n, inner, sizeof(inner));
	if (!req) {
		whyf(why, why_len, "table '%s' TransactWriteItems: %s", table, inner);
		return strstr(inner, "memory") ? -ENOMEM : -EINVAL;
	}
	/* A conflict with another transaction on one of the items (the lease's renewal in flight
	 * touches the item the ConditionCheck reads) is tried again while the time allows. */
	for (int tries = 0;; tries++) {
		long left;
		ev_now_update(t->ploop);
		left = (long)((deadline - ev_now(t->ploop)) * 1000.0);
		if (left < 50) {
			if (tries == 0)
				left = 50;
			else
				break;
		}
		r = call_blocking(t, "TransactWriteItems", cJSON_Duplicate(req, true), left, NULL,
				  why, why_len);
		if (r != -EDEADLK || tries >= 4)
			break;
	}
	cJSON_Delete(req);
	return r == -EDEADLK ? -EAGAIN : r;
}

static int write_tx(struct ddb *t, const struct ddb_write *w, size_t n, bool fenced, char *why,
		    size_t why_len)
{
	char table[300], inner[256] = "";
	size_t start = 0, bytes = 0;
	double deadline;
	int r = 0;

	escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	if (fenced && !t->fenced) {
		whyf(why, why_len, "table '%s' TransactWriteItems: not acting (no lease held)",
		     table);
		return -EAGAIN;
	}
	if (fenced && t->gate && !t->gate(t->gate_data)) {
		whyf(why, why_len,
		     "table '%s' TransactWriteItems: not acting (the lease is not valid now)",
		     table);
		return -EAGAIN;
	}
	if (check_actions(w, n, DDB_TX_MAX + (fenced ? 0 : 1), inner, sizeof(inner)) < 0) {
		whyf(why, why_len, "table '%s' TransactWriteItems: %s", table, inner);
		return -EINVAL;
	}
	ev_now_update(t->ploop);
	deadline = ev_now(t->ploop) + (double)t->timeout_ms / 1000.0;
	/* over DynamoDB's 4 MB a transaction is refused: cut in as many as it takes */
	for (size_t i = 0; i < n && r == 0; i++) {
		size_t b = action_bytes(t, &w[i]);
		if (i > start && bytes + b > DDB_TX_BYTES_MAX) {
			r = send_tx(t, w + start, i - start, fenced, deadline, why, why_len);
			start = i;
			bytes = 0;
		}
		bytes += b;
	}
	if (r == 0)
		r = send_tx(t, w + start, n - start, fenced, deadline, why, why_len);
	return r;
}

int ddb_write(struct ddb *t, const struct ddb_write *w, size_t n, char *why, size_t why_len)
{
	int r = write_tx(t, w, n, true, why, why_len);

	if (r == -ESTALE && t->on_fenced)
		t->on_fenced(t->on_fenced_data);
	return r;
}

int ddb_write_unfenced(struct ddb *t, const struct ddb_write *w, size_t n, char *why,
		       size_t why_len)
{
	return write_tx(t, w, n, false, why, why_len);
}

int ddb_put_if_absent(struct ddb *t, const char *sk, const char *doc, char *why, size_t why_len)
{
	char table[300];
	cJSON *req, *item;
	int r;

	escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	if (!state_sk_valid(sk) || !doc || strlen(doc) > DDB_ITEM_MAX) {
		whyf(why, why_len, "table '%s' PutItem: %s", table,
		     !state_sk_valid(sk) ? "not a state key"
					 : "no document, or one over 400000 bytes");
		return -EINVAL;
	}
	req = cJSON_CreateObject();
	item = key_of(t->group, sk);
	if (!add(item, "doc", attr_str(doc)) ||
	    !add(req, "TableName", cJSON_CreateString(t->table))) {
		cJSON_Delete(item);
		cJSON_Delete(req);
		req = NULL;
	} else if (!add(req, "Item", item) ||
		   !add(req, "ConditionExpression",
			cJSON_CreateString("attribute_not_exists(sk)"))) {
		cJSON_Delete(req);
		req = NULL;
	}
	r = call_blocking(t, "PutItem", req, t->timeout_ms, NULL, why, why_len);
	return r == -ESTALE ? -EEXIST : r;
}

/* The Query of one page of the group's items whose sk starts with prefix, from start (taken;
 * NULL: the first page). NULL without memory. */
static cJSON *build_query(const struct ddb *t, const char *prefix, cJSON *start)
{
	cJSON *req = cJSON_CreateObject(), *names = cJSON_CreateObject(),
	      *values = cJSON_CreateObject();
	bool ok = add(req, "TableName", cJSON_CreateString(t->table)) &&
		  add(req, "KeyConditionExpression",
		      cJSON_CreateString(*prefix ? "#pk = :pk AND begins_with(#sk, :pre)"
						 : "#pk = :pk")) &&
		  add(req, "ConsistentRead", cJSON_CreateTrue()) &&
		  add(names, "#pk", cJSON_CreateString("pk")) &&
		  (!*prefix || add(names, "#sk", cJSON_CreateString("sk"))) &&
		  add(values, ":pk", attr_str(t->group)) &&
		  (!*prefix || add(values, ":pre", attr_str(prefix)));

	if (ok) {
		ok = add(req, "ExpressionAttributeNames", names);
		names = NULL;
	}
	if (ok) {
		ok = add(req, "ExpressionAttributeValues", values);
		values = NULL;
	}
	if (ok && start) {
		ok = add(req, "ExclusiveStartKey", start);
		start = NULL;
	}
	cJSON_Delete(start);
	cJSON_Delete(names);
	cJSON_Delete(values);
	if (!ok) {
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

/*
 * Reads one Query page's reply: fn for each item (sk, a buffer of DDB_SK_MAX + 1 bytes), *next
 * the start of the next page (NULL: the last). 0, fn's < 0, or -errno (why).
 */
static int read_page(const struct ddb *t, const cJSON *body, const char *prefix, char *sk,
		     int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
		     cJSON **next, char *why, size_t why_len)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "Items"), *it;
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(body, "LastEvaluatedKey");
	char table[300];
	int r = 0;

	*next = NULL;
	escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	if (!cJSON_IsArray(items) || (last && !cJSON_IsObject(last))) {
		whyf(why, why_len, "table '%s' Query: a reply without Items", table);
		return -EPROTO;
	}
	cJSON_ArrayForEach(it, items)
	{
		const char *doc;
		size_t len;
		char inner[400];

		r = ddb_parse_state_item(it, t->group, sk, &doc, &len, inner, sizeof(inner));
		if (r == -EPROTO) {
			/* One bad item stops nothing: its key is handed on without a document
			 * (the state sets it aside and says so), or it is skipped when even the
			 * key cannot be read. */
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "sk");
			const char *ks =
			    k ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "S"))
			      : NULL;
			log_warning("table '%s' Query: %s; %s", table, inner,
				    ks && state_sk_valid(ks) ? "the item is set aside"
							     : "the item is skipped");
			if (!ks || !state_sk_valid(ks))
				continue;
			snprintf(sk, DDB_SK_MAX + 1, "%s", ks);
			doc = NULL;
			len = 0;
		} else if (r < 0) {
			whyf(why, why_len, "table '%s' Query: %s", table, inner);
			return r;
		}
		if (strncmp(sk, prefix, strlen(prefix))) {
			whyf(why, why_len, "table '%s' Query: an item outside the prefix", table);
			return -EPROTO;
		}
		r = fn(sk, doc, len, ud);
		if (r < 0)
			return r;
	}
	if (last) {
		const char *lsk = NULL;
		char inner[200];
		if (check_key(last, t->group, &lsk, inner, sizeof(inner)) < 0) {
			whyf(why, why_len, "table '%s' Query: LastEvaluatedKey: %s", table, inner);
			return -EPROTO;
		}
		*next = cJSON_Duplicate(last, true);
		if (!*next)
			return -ENOMEM;
	}
	return 0;
}

int ddb_read_all(struct ddb *t, const char *prefix,
		 int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
		 char *why, size_t why_len)
{
	cJSON *start = NULL;
	char table[300];
	char *sk = malloc(DDB_SK_MAX + 1);
	int r = 0;

	escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	if (!sk) {
		whyf(why, why_len, "table '%s' Query: out of memory", table);
		return -ENOMEM;
	}
	if (!prefix)
		prefix = "";
	for (int page = 0;; page++) {
		cJSON *body = NULL;

		if (page >= MAX_PAGES) {
			whyf(why, why_len, "table '%s' Query: more than %d pages", table,
			     MAX_PAGES);
			r = -EPROTO;
			break;
		}
		r = call_blocking(t, "Query", build_query(t, prefix, start), t->timeout_ms, &body,
				  why, why_len);
		start = NULL;
		if (r < 0)
			break;
		r = read_page(t, body, prefix, sk, fn, ud, &start, why, why_len);
		cJSON_Delete(body);
		if (r < 0 || !start)
			break;
	}
	cJSON_Delete(start);
	free(sk);
	return r;
}

/* ---- the takeover's read, asynchronous (ddb_load) ------------------------------------------ */

struct loaded {
	char *sk, *doc;
	size_t len;
};

struct ddb_load {
	struct ddb *t;
	struct aws_call *call;
	long page_timeout_ms;
	int pages;
	void (*done)(int err, const char *why, void *ud);
	void *ud;
	struct loaded *v;
	size_t n, cap;
	char sk[DDB_SK_MAX + 1];
};

static void load_items_free(struct ddb_load *ld)
{
	for (size_t i = 0; i < ld->n; i++) {
		free(ld->v[i].sk);
		free(ld->v[i].doc);
	}
	free(ld->v);
	ld->v = NULL;
	ld->n = ld->cap = 0;
}

static int load_collect(const char *sk, const char *doc, size_t len, void *ud)
{
	struct ddb_load *ld = ud;
	struct loaded *e;

	if (ld->n == ld->cap) {
		size_t c = ld->cap ? ld->cap * 2 : 256;
		struct loaded *v = realloc(ld->v, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ld->v = v;
		ld->cap = c;
	}
	e = &ld->v[ld->n];
	e->sk = strdup(sk);
	e->doc = doc ? malloc(len + 1) : NULL;
	if (!e->sk || (doc && !e->doc)) {
		free(e->sk);
		free(e->doc);
		return -ENOMEM;
	}
	if (doc) {
		memcpy(e->doc, doc, len);
		e->doc[len] = '\0';
	}
	e->len = len;
	ld->n++;
	return 0;
}

static int load_page(struct ddb_load *ld, cJSON *start);

static void load_end(struct ddb_load *ld, int err, const char *why)
{
	ld->call = NULL;
	if (err < 0)
		load_items_free(ld);
	ld->done(err, why, ld->ud);
}

static void on_load_page(struct aws_result *res, void *ud)
{
	struct ddb_load *ld = ud;
	char why[700] = "";
	cJSON *next = NULL;
	int r;

	ld->call = NULL;
	if (!res->ok) {
		r = ddb_map_error(ld->t->table, res, why, sizeof(why));
		load_end(ld, r == -EDEADLK ? -EAGAIN : r, why);
		return;
	}
	r = read_page(ld->t, res->body, "", ld->sk, load_collect, ld, &next, why, sizeof(why));
	if (r == -ENOMEM)
		snprintf(why, sizeof(why), "table Query: out of memory");
	if (r == 0 && next) {
		r = load_page(ld, next);
		if (r == 0)
			return;
		snprintf(why, sizeof(why), "table Query: the next page could not start (%s)",
			 strerror(-r));
	}
	load_end(ld, r, why);
}

static int load_page(struct ddb_load *ld, cJSON *start)
{
	struct aws_call_spec spec = { .service = &aws_dynamodb,
				      .operation = "Query",
				      .creds = creds_of(ld->t),
				      .region = ld->t->region,
				      .timeout_ms = ld->page_timeout_ms };
	cJSON *req;
	int r;

	if (++ld->pages > MAX_PAGES) {
		cJSON_Delete(start);
		return -EPROTO;
	}
	req = build_query(ld->t, "", start);
	if (!req)
		return -ENOMEM;
	spec.params = req;
	r = aws_call(ld->t->aws, &spec, on_load_page, ld, &ld->call);
	cJSON_Delete(req);
	return r;
}

int ddb_load(struct ddb *t, long page_timeout_ms, void (*done)(int err, const char *why, void *ud),
	     void *ud)
{
	struct ddb_load *ld;
	int r;

	if (t->load || !done || page_timeout_ms <= 0)
		return -EINVAL;
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	ld->t = t;
	ld->page_timeout_ms = page_timeout_ms;
	ld->done = done;
	ld->ud = ud;
	r = load_page(ld, NULL);
	if (r < 0) {
		free(ld);
		return r;
	}
	t->load = ld;
	return 0;
}

void ddb_load_free(struct ddb *t)
{
	struct ddb_load *ld = t ? t->load : NULL;

	if (!ld)
		return;
	aws_call_cancel(ld->call);
	load_items_free(ld);
	free(ld);
	t->load = NULL;
}

int ddb_read_loaded(struct ddb *t, const char *prefix,
		    int (*fn)(const char *sk, const char *doc, size_t len, void *ud), void *ud,
		    char *why, size_t why_len)
{
	struct ddb_load *ld = t->load;

	if (!ld) {
		whyf(why, why_len, "table: nothing was loaded");
		return -EINVAL;
	}
	if (!prefix)
		prefix = "";
	for (size_t i = 0; i < ld->n; i++) {
		if (strncmp(ld->v[i].sk, prefix, strlen(prefix)))
			continue;
		int r = fn(ld->v[i].sk, ld->v[i].doc, ld->v[i].len, ud);
		if (r < 0)
			return r;
	}
	return 0;
}

int ddb_lease_write_wait(struct ddb *t, const struct ddb_lease *next,
			 const struct ddb_lease_cond *cond, long timeout_ms, char *why,
			 size_t why_len)
{
	cJSON *req = build_lease_write(t, next, cond);

	return call_blocking(t, cond->absent ? "PutItem" : "UpdateItem", req,
			     timeout_ms > 0 ? timeout_ms : t->timeout_ms, NULL, why, why_len);
}

/* ---- asynchronous lease calls on the daemon's loop ----------------------------------------- */

static void op_unlink(struct ddb_op *op)
{
	struct ddb *t = op->t;

	if (op->prev)
		op->prev->nextop = op->nextop;
	else
		t->ops = op->nextop;
	if (op->nextop)
		op->nextop->prev = op->prev;
	ev_timer_stop(t->loop, &op->deadline);
}

static void op_answer(struct ddb_op *op, int err, const struct ddb_lease *item, const char *why)
{
	ddb_lease_fn done = op->done;
	void *ud = op->ud;

	op_unlink(op);
	free(op);
	done(err, item, why, ud);
}

static void on_lease_done(struct aws_result *res, void *ud)
{
	struct ddb_op *op = ud;
	struct ddb *t = op->t;
	char why[700] = "", inner[300] = "";
	struct ddb_lease item;
	const cJSON *it;
	int r;

	op->call = NULL;
	if (!res->ok) {
		r = ddb_map_error(t->table, res, why, sizeof(why));
		if (r == -EDEADLK)
			r = -EAGAIN;
		op_answer(op, r, NULL, why);
		return;
	}
	if (op->write) {
		item = op->next;
		op_answer(op, 0, &item, "");
		return;
	}
	it = cJSON_GetObjectItemCaseSensitive(res->body, "Item");
	if (!it) {
		char table[300];
		escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
		whyf(why, sizeof(why), "table '%s' GetItem: no lease item", table);
		op_answer(op, -ENOENT, NULL, why);
		return;
	}
	r = ddb_parse_lease(it, &item, inner, sizeof(inner));
	if (r == 0) {
		const char *sk;
		r = check_key(it, t->group, &sk, inner, sizeof(inner));
	}
	if (r < 0) {
		char table[300];
		escape_bounded(t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
		whyf(why, sizeof(why), "table '%s' GetItem: %s", table, inner);
		op_answer(op, -EPROTO, NULL, why);
		return;
	}
	op_answer(op, 0, &item, "");
}

static void on_lease_deadline(struct ev_loop *loop, struct ev_timer *tm, int revents)
{
	struct ddb_op *op = tm->data;
	char why[400], table[300];

	(void)loop;
	(void)revents;
	aws_call_cancel(op->call);
	op->call = NULL;
	escape_bounded(op->t->table, 255, table, sizeof(table), ESCAPE_SQUOTE);
	whyf(why, sizeof(why), "table '%s' %s: no answer in %ld ms", table, op->operation,
	     op->timeout_ms);
	op_answer(op, -EAGAIN, NULL, why);
}

static int start_op(struct ddb *t, const char *operation, cJSON *params, long timeout_ms,
		    bool write, const struct ddb_lease *next, ddb_lease_fn done, void *ud,
		    struct ddb_op **ret)
{
	struct ddb_op *op;
	struct aws_call_spec spec = { .service = &aws_dynamodb,
				      .operation = operation,
				      .params = params,
				      .creds = creds_of(t),
				      .region = t->region,
				      .timeout_ms = timeout_ms };
	int r;

	if (!params)
		return -ENOMEM;
	if (!done || timeout_ms <= 0) {
		cJSON_Delete(params);
		return -EINVAL;
	}
	op = calloc(1, sizeof(*op));
	if (!op) {
		cJSON_Delete(params);
		return -ENOMEM;
	}
	op->t = t;
	op->done = done;
	op->ud = ud;
	op->write = write;
	op->timeout_ms = timeout_ms;
	if (next)
		op->next = *next;
	snprintf(op->operation, sizeof(op->operation), "%s", operation);
	r = aws_call(t->aws, &spec, on_lease_done, op, &op->call);
	cJSON_Delete(params);
	if (r < 0) {
		free(op);
		return r;
	}
	ev_timer_init(&op->deadline, on_lease_deadline, (double)timeout_ms / 1000.0, 0.0);
	op->deadline.data = op;
	ev_timer_start(t->loop, &op->deadline);
	op->nextop = t->ops;
	if (t->ops)
		t->ops->prev = op;
	t->ops = op;
	if (ret)
		*ret = op;
	return 0;
}

int ddb_lease_read(struct ddb *t, long timeout_ms, ddb_lease_fn done, void *ud, struct ddb_op **ret)
{
	return start_op(t, "GetItem", build_lease_read(t), timeout_ms, false, NULL, done, ud, ret);
}

int ddb_lease_write(struct ddb *t, const struct ddb_lease *next, const struct ddb_lease_cond *cond,
		    long timeout_ms, ddb_lease_fn done, void *ud, struct ddb_op **ret)
{
	if (!instance_valid(next->owner, true) || !printable(next->host))
		return -EINVAL;
	return start_op(t, cond->absent ? "PutItem" : "UpdateItem",
			build_lease_write(t, next, cond), timeout_ms, true, next, done, ud, ret);
}

void ddb_op_cancel(struct ddb_op *op)
{
	if (!op)
		return;
	aws_call_cancel(op->call);
	op_unlink(op);
	free(op);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

/* A table name ([A-Za-z0-9_.-]{3,255}) or ARN (arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME);
 * the ARN's region into region (64 bytes). */
static bool table_valid(const char *s, char *region)
{
	const char *name = s, *p;
	size_t n;

	region[0] = '\0';
	if (!strncmp(s, "arn:", 4)) {
		char part[32];
		const char *acct;
		size_t pl = strcspn(s + 4, ":");

		if (pl == 0 || pl >= sizeof(part))
			return false;
		snprintf(part, sizeof(part), "%.*s", (int)pl, s + 4);
		p = s + 4 + pl;
		if (strncmp(p, ":dynamodb:", 10))
			return false;
		p += 10;
		n = strcspn(p, ":");
		if (n == 0 || n >= 64)
			return false;
		snprintf(region, 64, "%.*s", (int)n, p);
		if (!endpoint_valid_region(region))
			return false;
		acct = p + n + 1;
		if (p[n] != ':' || strspn(acct, "0123456789") != 12 ||
		    strncmp(acct + 12, ":table/", 7))
			return false;
		name = acct + 12 + 7;
	}
	n = strlen(name);
	if (n < 3 || n > 255)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
	       n;
}

int ddb_new(const struct ddb_options *o, struct ddb **ret, char *why, size_t why_len)
{
	struct ddb *t;
	char arn_region[64];
	const char *region, *w = NULL;
	struct http_client_options ho = { 0 };
	struct aws_options ao;
	char url[900];

	if (!o->loop || !o->aws || !o->signer || !o->creds || !o->aws_options || !o->table ||
	    !o->group) {
		whyf(why, why_len, "ddb: a required option is missing");
		return -EINVAL;
	}
	if (!table_valid(o->table, arn_region)) {
		whyf(why, why_len, "ha.table: not a table name ([A-Za-z0-9_.-], 3 to 255) or ARN");
		return -EINVAL;
	}
	if (!*o->group || strlen(o->group) > 64 ||
	    strspn(o->group, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
		strlen(o->group)) {
		whyf(why, why_len, "ha.group: not a group name ([A-Za-z0-9_.-], 1 to 64)");
		return -EINVAL;
	}
	region = o->region ? o->region : *arn_region ? arn_region : o->aws_options->region;
	if (!region || !endpoint_valid_region(region)) {
		whyf(why, why_len, "ha.region: not an AWS region name (like 'us-east-1')");
		return -EINVAL;
	}
	if (endpoint_resolve(&aws_dynamodb, region, o->aws_options->fips,
			     o->aws_options->endpoints[AWS_SERVICE_DYNAMODB], url, sizeof(url),
			     NULL, &w) < 0) {
		whyf(why, why_len, "ha: no DynamoDB endpoint for region '%s': %s", region,
		     w ? w : "too long");
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		whyf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	t->loop = o->loop;
	t->aws = o->aws;
	t->base = o->creds;
	t->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	t->table = strdup(o->table);
	t->group = strdup(o->group);
	t->region = strdup(region);
	if (o->http_options)
		ho = *o->http_options;
	ao = *o->aws_options;
	ao.region = region;
	ao.timeout_ms = t->timeout_ms;
	t->ploop = ev_loop_new(EVFLAG_AUTO);
	t->phttp = t->ploop ? http_client_new(t->ploop, &ho) : NULL;
	t->paws =
	    t->phttp ? aws_client_new(t->ploop, t->phttp, o->signer, o->creds, &ao, &w) : NULL;
	if (o->role_arn && t->paws) {
		struct cred_options co = { o->loop, o->http,         o->signer, o->profile,
					   region,  o->sts_endpoint, 0 };
		t->role = cred_assume_role_new(o->creds, o->role_arn, "ecr-deployd", &co);
	}
	if (t->paws && o->observer)
		aws_client_set_observer(t->paws, o->observer, o->observer_data);
	if (!t->table || !t->group || !t->region || !t->paws || (o->role_arn && !t->role)) {
		whyf(why, why_len, "ddb: cannot set up the table's client: %s",
		     w ? w : "out of memory");
		ddb_free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

void ddb_free(struct ddb *t)
{
	if (!t)
		return;
	ddb_load_free(t);
	while (t->ops)
		ddb_op_cancel(t->ops);
	aws_client_free(t->paws);
	http_client_free(t->phttp);
	if (t->ploop)
		ev_loop_destroy(t->ploop);
	cred_provider_free(t->role);
	free(t->table);
	free(t->group);
	free(t->region);
	free(t);
}

const char *ddb_table(const struct ddb *t)
{
	return t->table;
}

const char *ddb_group(const struct ddb *t)
{
	return t->group;
}

const char *ddb_region(const struct ddb *t)
{
	return t->region;
}

void ddb_set_fence(struct ddb *t, const char *owner, uint64_t term)
{
	t->fenced = owner != NULL;
	snprintf(t->fence_owner, sizeof(t->fence_owner), "%s", owner ? owner : "");
	t->fence_term = owner ? term : 0;
}

void ddb_set_on_fenced(struct ddb *t, void (*fn)(void *ud), void *ud)
{
	t->on_fenced = fn;
	t->on_fenced_data = fn ? ud : NULL;
}

void ddb_set_gate(struct ddb *t, bool (*may_write)(void *ud), void *ud)
{
	t->gate = may_write;
	t->gate_data = may_write ? ud : NULL;
}
