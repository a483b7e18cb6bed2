/* SPDX-License-Identifier: MIT */
/*
 * The control socket's commands about targets (docs/control.md): `status` (read-only), and the
 * operator's overrides `pause`, `resume`, `pin`, `unpin`, `retry`. An override is written to the
 * state file before the answer; when the write fails the state in memory is put back as it was
 * and the answer is `state-error`. `pin` with a tag (or a digest) asks ECR first
 * (DescribeImages of the watch's repository) and answers when ECR did.
 */
#include "cmd.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "approve.h"
#include "aws.h"
#include "config.h"
#include "ctlproto.h"
#include "daemon.h"
#include "deployer.h"
#include "digest.h"
#include "names.h"
#include "outbox.h"
#include "endpoint.h"
#include "escape.h"
#include "lease.h"
#include "log.h"
#include "queue.h"
#include "state.h"
#include "version.h"
#include "watcher.h"

#define REASON_MAX 256
#define NAME_MAX_  512
#define TAG_MAX    300
#define SHOWN      200 /* bytes of a value from outside quoted in a message */

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A value from outside in 'single quotes' of a message. */
static const char *shown(const char *s, char *out, size_t n)
{
	return escape_bounded(s, SHOWN, out, n, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
}

static void bad_argument(struct control_call *call, const char *why)
{
	control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
}

/* Args checked against the allowed keys; false when answered. */
static bool keys_ok(struct control_call *call, const cJSON *args, const char *const *allowed)
{
	char why[512];

	if (ctlproto_check_keys(args, allowed, why, sizeof(why)) < 0) {
		bad_argument(call, why);
		return false;
	}
	return true;
}

/* A mutating command in a dry run is refused; false when answered. */
static bool not_dry(struct control_call *call, const struct daemon *d, const char *cmd)
{
	if (!d->dry_run && !d->cfg->dry_run)
		return true;
	control_fail(call, "dry-run", EX_UNAVAILABLE, NULL,
		     "ecr-deployd runs as a dry run: '%s' changes nothing", cmd);
	return false;
}

/* The target named name, or an answer (unknown-target / ambiguous-target with candidates). */
static bool find_target(struct control_call *call, const struct config *cfg, const char *name,
			const struct config_watch **ret_w, const struct config_target **ret_t)
{
	cJSON *cands = NULL, *extra;
	char s[SHOWN * 4 + 8];
	int r = approve_match_target(cfg, name, ret_w, ret_t, &cands);

	if (r == 0)
		return true;
	extra = cJSON_CreateObject();
	if (extra && cands)
		cJSON_AddItemToObject(extra, "candidates", cands);
	else
		cJSON_Delete(cands);
	if (r == -EEXIST)
		control_fail(call, "ambiguous-target", EX_USAGE, extra,
			     "target '%s' is ambiguous: several targets answer to it; name one as "
			     "WATCH/SERVICE",
			     shown(name, s, sizeof(s)));
	else
		control_fail(call, "unknown-target", EX_USAGE, extra,
			     "target '%s' is not in the configuration", shown(name, s, sizeof(s)));
	return false;
}

static const char *last_part(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

/* The canonical name of a target: WATCH/SERVICE. */
static void target_name(const struct config_watch *w, const struct config_target *t, char *buf,
			size_t n)
{
	snprintf(buf, n, "%s/%s", w->name, last_part(t->service));
}

/*
 * Writes the state; on failure puts it back as undo marked it and answers state-error. Takes
 * undo either way. Returns true when written.
 */
static bool commit(struct control_call *call, struct daemon *d, struct state_undo *undo)
{
	char why[600];

	int r = state_save(d->state, why, sizeof(why));

	if (r == 0) {
		state_undo_free(undo);
		return true;
	}
	if (r == -EAGAIN && state_in_table(d->state)) {
		/* The table did not answer (or not yet to us): the write may have landed. Undone
		 * here, memory would say one thing and the table another; kept, the next save
		 * writes it again, so both end up with the change. */
		state_undo_free(undo);
		control_fail(call, "state-unconfirmed", EX_TEMPFAIL, NULL,
			     "%s; the change is kept and written again with the next save (it may "
			     "already be stored)",
			     why);
		return false;
	}
	state_undo(d->state, undo);
	control_fail(call, "state-error", EX_IOERR, NULL, "%s; nothing was changed", why);
	return false;
}

static struct state_undo *mark(struct control_call *call, struct daemon *d)
{
	struct state_undo *u = state_undo_mark(d->state);

	if (!u)
		control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
	return u;
}

static struct state_by by_of(struct control_call *call)
{
	const struct control_peer *p = control_call_peer(call);
	struct state_by by = { (long)p->uid, (long)p->pid, wall_now() };

	return by;
}

/* ---- pause / resume --------------------------------------------------------- */

/* What pause and resume act on: everything, a watch (t NULL) or a target. */
struct scope {
	const struct config_watch *w;
	const struct config_target *t;
	char tkey[1024];
	char name[NAME_MAX_]; /* "*", WATCH or WATCH/SERVICE */
};

/* Reads {"name"} or {"all": true}; false when answered. */
static bool scope_of(struct control_call *call, struct daemon *d, const cJSON *args,
		     struct scope *sc)
{
	const char *name = NULL;
	bool all = false;
	char why[512];

	memset(sc, 0, sizeof(*sc));
	if (ctlproto_get_string(args, "name", false, NAME_MAX_, &name, why, sizeof(why)) < 0 ||
	    ctlproto_get_bool(args, "all", &all, why, sizeof(why)) < 0) {
		bad_argument(call, why);
		return false;
	}
	if ((name != NULL) == all) {
		bad_argument(call, "give exactly one of 'name' (a watch or a target) and 'all'");
		return false;
	}
	if (all) {
		snprintf(sc->name, sizeof(sc->name), "*");
		return true;
	}
	if (approve_match_watch(d->cfg, name, &sc->w, NULL) == 0) {
		snprintf(sc->name, sizeof(sc->name), "%s", sc->w->name);
		return true;
	}
	if (!find_target(call, d->cfg, name, &sc->w, &sc->t))
		return false;
	deployer_target_key(d->deployer, sc->t, sc->tkey, sizeof(sc->tkey));
	target_name(sc->w, sc->t, sc->name, sizeof(sc->name));
	return true;
}

static const char *scope_watch(const struct scope *sc)
{
	return sc->w ? sc->w->name : NULL;
}

static const char *scope_tkey(const struct scope *sc)
{
	return sc->t ? sc->tkey : NULL;
}

static void run_pause(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const allowed[] = { "name", "all", "reason", "until", NULL };
	struct daemon *d = userdata;
	struct scope sc;
	const char *reason = NULL;
	double until = 0, now = wall_now();
	char why[512];

	if (!keys_ok(call, args, allowed) || !scope_of(call, d, args, &sc))
		return;
	if (ctlproto_get_string(args, "reason", false, REASON_MAX, &reason, why, sizeof(why)) < 0 ||
	    ctlproto_get_number(args, "until", false, 0, 1e11, &until, why, sizeof(why)) < 0) {
		bad_argument(call, why);
		return;
	}
	if (cJSON_GetObjectItem(args, "until") && until <= now) {
		control_fail(call, "bad-argument", EX_USAGE, NULL,
			     "'until' %.0f is in the past (now is %.0f)", until, now);
		return;
	}
	if (!not_dry(call, d, "pause"))
		return;
	struct state_undo *u = mark(call, d);
	if (!u)
		return;
	struct state_pause p = { reason ? reason : "", until, by_of(call) };
	if (state_set_pause(d->state, scope_watch(&sc), scope_tkey(&sc), &p) < 0) {
		state_undo(d->state, u);
		control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
		return;
	}
	if (!commit(call, d, u))
		return;
	log_notice("%s is paused by uid %ld (pid %ld)%s%s%s", sc.name, p.by.uid, p.by.pid,
		   *p.reason ? ": '" : "", p.reason, *p.reason ? "'" : "");
	deployer_pauses_changed(d->deployer);
	cJSON *res = cJSON_CreateObject();
	if (res) {
		cJSON_AddStringToObject(res, "paused", sc.name);
		if (until > 0)
			cJSON_AddNumberToObject(res, "until", until);
		else
			cJSON_AddNullToObject(res, "until");
	}
	control_reply(call, res);
}

static void run_resume(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const allowed[] = { "name", "all", NULL };
	struct daemon *d = userdata;
	struct scope sc;
	struct state_pause p;

	if (!keys_ok(call, args, allowed) || !scope_of(call, d, args, &sc))
		return;
	if (!state_pause(d->state, scope_watch(&sc), scope_tkey(&sc), &p)) {
		char s[SHOWN * 4 + 8];
		const char *also = "";
		if (sc.t && state_pause(d->state, sc.w->name, NULL, &p))
			also = " (its watch is paused: resume the watch)";
		else if (sc.w && state_pause(d->state, NULL, NULL, &p))
			also = " (everything is paused: resume all)";
		else if (sc.t && sc.t->paused)
			also = " (it is paused in the configuration: 'paused': true)";
		control_fail(call, "nothing-to-do", EX_UNAVAILABLE, NULL,
			     "%s '%s' is not paused by an operator%s",
			     !sc.w  ? "everything"
			     : sc.t ? "target"
				    : "watch",
			     shown(sc.name, s, sizeof(s)), also);
		return;
	}
	if (!not_dry(call, d, "resume"))
		return;
	struct state_undo *u = mark(call, d);
	if (!u)
		return;
	state_set_pause(d->state, scope_watch(&sc), scope_tkey(&sc), NULL);
	if (!commit(call, d, u))
		return;
	log_notice("%s is resumed by uid %ld (pid %ld)", sc.name,
		   (long)control_call_peer(call)->uid, (long)control_call_peer(call)->pid);
	deployer_pauses_changed(d->deployer);
	if (sc.w)
		deployer_reconcile_watch(d->deployer, sc.w->name);
	else
		deployer_reconcile(d->deployer);
	cJSON *res = cJSON_CreateObject();
	if (res)
		cJSON_AddStringToObject(res, "resumed", sc.name);
	control_reply(call, res);
}

/* ---- pin / unpin / retry ------------------------------------------------------ */

/* A pin waiting for ECR's answer. */
struct pin_ask {
	struct control_call *call;
	struct daemon *d;
	char *watch, *tname, *tag, *digest; /* tname: WATCH/SERVICE; tag or digest asked */
	bool force;
	struct aws_call *aws; /* the DescribeImages in flight */
};

static void pin_ask_free(struct pin_ask *a)
{
	free(a->watch);
	free(a->tname);
	free(a->tag);
	free(a->digest);
	free(a);
}

/* The pin, once its digest is known to exist: failed-before unless force, then written. */
static void pin_apply(struct pin_ask *a, const char *digest)
{
	struct control_call *call = a->call;
	struct daemon *d = a->d;
	const struct config_watch *w;
	const struct config_target *t;
	char tkey[1024], s[SHOWN * 4 + 8];

	/* The configuration may have been reloaded while ECR answered. */
	if (!find_target(call, d->cfg, a->tname, &w, &t))
		return;
	deployer_target_key(d->deployer, t, tkey, sizeof(tkey));
	if (!a->force && state_failed_has(d->state, w->name, tkey, digest)) {
		control_fail(call, "failed-before", EX_DATAERR, NULL,
			     "%s failed on target '%s' before; pin it with force to deploy it "
			     "again",
			     digest, shown(a->tname, s, sizeof(s)));
		return;
	}
	if (!not_dry(call, d, "pin"))
		return;
	struct state_undo *u = mark(call, d);
	if (!u)
		return;
	struct state_pin p = { digest, a->tag, by_of(call) };
	if (state_set_pin(d->state, w->name, tkey, &p) < 0) {
		state_undo(d->state, u);
		control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
		return;
	}
	if (a->force)
		state_forget_failed(d->state, w->name, tkey, digest);
	if (!commit(call, d, u))
		return;
	log_notice("target '%s' is pinned to %s%s%s%s by uid %ld (pid %ld)", a->tname, digest,
		   a->tag ? " (tag '" : "", a->tag ? a->tag : "", a->tag ? "')" : "", p.by.uid,
		   p.by.pid);
	deployer_reconcile_watch(d->deployer, w->name);
	cJSON *res = cJSON_CreateObject();
	if (res) {
		cJSON_AddStringToObject(res, "target", a->tname);
		cJSON_AddStringToObject(res, "digest", digest);
		if (a->tag)
			cJSON_AddStringToObject(res, "tag", a->tag);
		else
			cJSON_AddNullToObject(res, "tag");
	}
	control_reply(call, res);
}

/* The daemon stops before ECR answered: no pin. */
static void pin_stop(void *data)
{
	struct pin_ask *a = data;
	char s[SHOWN * 4 + 8];

	aws_call_cancel(a->aws);
	control_fail(a->call, "timeout", EX_TEMPFAIL, NULL,
		     "the daemon stopped before ECR answered; target '%s' is not pinned",
		     shown(a->tname, s, sizeof(s)));
	pin_ask_free(a);
}

static void on_pin_images(struct aws_result *res, void *userdata)
{
	struct pin_ask *a = userdata;
	char s[SHOWN * 4 + 8], m[1200];
	const char *what = a->tag ? a->tag : a->digest;

	if (!control_call_live(a->call)) {
		/* Nobody waits any more (the client left, or was answered `timeout`): an operator
		 * told nothing or `timeout` must not find the pin made behind their back. The call
		 * is answered into the void, which releases it. */
		control_fail(a->call, "timeout", EX_TEMPFAIL, NULL,
			     "nobody waits for the pin of target '%s' any more: it is not made",
			     shown(a->tname, s, sizeof(s)));
	} else if (!res->ok && (!strcmp(res->err.code, "ImageNotFoundException") ||
				!strcmp(res->err.code, "RepositoryNotFoundException"))) {
		control_fail(a->call, "unknown-digest", EX_DATAERR, NULL,
			     "%s '%s' is not in the repository of watch '%s' (%s)",
			     a->tag ? "tag" : "digest", shown(what, s, sizeof(s)), a->watch,
			     res->err.code);
	} else if (!res->ok) {
		escape_bounded(res->err.message, 1000, m, sizeof(m), ESCAPE_SQUOTE);
		control_fail(a->call, "aws-error", EX_UNAVAILABLE, NULL,
			     "DescribeImages for watch '%s' failed: %s: %s", a->watch,
			     shown(res->err.code, s, sizeof(s)), m);
	} else {
		const cJSON *img =
		    cJSON_GetArrayItem(cJSON_GetObjectItem(res->body, "imageDetails"), 0);
		const char *digest = cJSON_GetStringValue(cJSON_GetObjectItem(img, "imageDigest"));
		if (!img)
			control_fail(a->call, "unknown-digest", EX_DATAERR, NULL,
				     "%s '%s' is not in the repository of watch '%s'",
				     a->tag ? "tag" : "digest", shown(what, s, sizeof(s)),
				     a->watch);
		else if (!digest_valid(digest) || (a->digest && strcmp(digest, a->digest)))
			control_fail(
			    a->call, "aws-error", EX_UNAVAILABLE, NULL,
			    "DescribeImages for watch '%s' answered an invalid digest '%s'",
			    a->watch, shown(digest, s, sizeof(s)));
		else
			pin_apply(a, digest);
	}
	pin_ask_free(a);
}

static void run_pin(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const allowed[] = { "target", "digest", "tag", "force", NULL };
	struct daemon *d = userdata;
	const char *name = NULL, *digest = NULL, *tag = NULL;
	bool force = false;
	const struct config_watch *w;
	const struct config_target *t;
	char why[512], s[SHOWN * 4 + 8];

	if (!keys_ok(call, args, allowed))
		return;
	if (ctlproto_get_string(args, "target", true, NAME_MAX_, &name, why, sizeof(why)) < 0 ||
	    ctlproto_get_string(args, "digest", false, 128, &digest, why, sizeof(why)) < 0 ||
	    ctlproto_get_string(args, "tag", false, TAG_MAX, &tag, why, sizeof(why)) < 0 ||
	    ctlproto_get_bool(args, "force", &force, why, sizeof(why)) < 0) {
		bad_argument(call, why);
		return;
	}
	if ((digest != NULL) == (tag != NULL)) {
		bad_argument(call, "give exactly one of 'digest' and 'tag'");
		return;
	}
	if (digest && !digest_valid(digest)) {
		control_fail(call, "unknown-digest", EX_DATAERR, NULL,
			     "'%s' is not a digest (sha256: and 64 lowercase hex digits)",
			     shown(digest, s, sizeof(s)));
		return;
	}
	if (tag && !name_valid_tag(tag)) {
		char m[SHOWN * 4 + 200];
		snprintf(m, sizeof(m), "'%s' is not a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})%s",
			 shown(tag, s, sizeof(s)),
			 digest_valid(tag) ? "; it is a digest: pin it as 'digest'" : "");
		bad_argument(call, m);
		return;
	}
	if (!find_target(call, d->cfg, name, &w, &t) || !not_dry(call, d, "pin"))
		return;

	struct pin_ask *a = calloc(1, sizeof(*a));
	char tname[NAME_MAX_];
	target_name(w, t, tname, sizeof(tname));
	if (!a || !(a->watch = strdup(w->name)) || !(a->tname = strdup(tname)) ||
	    (tag && !(a->tag = strdup(tag))) || (digest && !(a->digest = strdup(digest)))) {
		if (a)
			pin_ask_free(a);
		control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
		return;
	}
	a->call = call;
	a->d = d;
	a->force = force;
	cJSON *p = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(p, "imageIds");
	cJSON *id = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "repositoryName", w->repository);
	if (w->registry_id)
		cJSON_AddStringToObject(p, "registryId", w->registry_id);
	cJSON_AddStringToObject(id, tag ? "imageTag" : "imageDigest", tag ? tag : digest);
	if (!ids || !cJSON_AddItemToArray(ids, id)) {
		cJSON_Delete(id);
		cJSON_Delete(p);
		pin_ask_free(a);
		control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
		return;
	}
	struct aws_call_spec spec = { .service = &aws_ecr,
				      .operation = "DescribeImages",
				      .params = p,
				      .region = w->region ? w->region : d->region };
	int r = aws_call(d->aws, &spec, on_pin_images, a, &a->aws);
	cJSON_Delete(p);
	if (r < 0) {
		pin_ask_free(a);
		control_fail(call, "aws-error", EX_UNAVAILABLE, NULL,
			     "cannot ask ECR about watch '%s': %s", w->name, strerror(-r));
		return;
	}
	control_call_on_stop(call, pin_stop, a);
}

static void run_unpin(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const allowed[] = { "target", NULL };
	struct daemon *d = userdata;
	const char *name = NULL;
	const struct config_watch *w;
	const struct config_target *t;
	struct state_pin pin;
	char why[512], tkey[1024], tname[NAME_MAX_];

	if (!keys_ok(call, args, allowed))
		return;
	if (ctlproto_get_string(args, "target", true, NAME_MAX_, &name, why, sizeof(why)) < 0) {
		bad_argument(call, why);
		return;
	}
	if (!find_target(call, d->cfg, name, &w, &t))
		return;
	deployer_target_key(d->deployer, t, tkey, sizeof(tkey));
	target_name(w, t, tname, sizeof(tname));
	if (!state_pin(d->state, w->name, tkey, &pin)) {
		control_fail(call, "nothing-to-do", EX_UNAVAILABLE, NULL,
			     "target '%s' is not pinned", tname);
		return;
	}
	if (!not_dry(call, d, "unpin"))
		return;
	struct state_undo *u = mark(call, d);
	if (!u)
		return;
	state_set_pin(d->state, w->name, tkey, NULL);
	if (!commit(call, d, u))
		return;
	log_notice("target '%s' is unpinned by uid %ld (pid %ld); it follows watch '%s' again",
		   tname, (long)control_call_peer(call)->uid, (long)control_call_peer(call)->pid,
		   w->name);
	deployer_reconcile_watch(d->deployer, w->name);
	cJSON *res = cJSON_CreateObject();
	if (res)
		cJSON_AddStringToObject(res, "unpinned", tname);
	control_reply(call, res);
}

static void run_retry(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const allowed[] = { "target", "digest", NULL };
	struct daemon *d = userdata;
	const char *name = NULL, *digest = NULL;
	const struct config_watch *w;
	const struct config_target *t;
	char why[512], tkey[1024], tname[NAME_MAX_], s[SHOWN * 4 + 8];

	if (!keys_ok(call, args, allowed))
		return;
	if (ctlproto_get_string(args, "target", true, NAME_MAX_, &name, why, sizeof(why)) < 0 ||
	    ctlproto_get_string(args, "digest", true, 128, &digest, why, sizeof(why)) < 0) {
		bad_argument(call, why);
		return;
	}
	if (!digest_valid(digest)) {
		control_fail(call, "unknown-digest", EX_DATAERR, NULL,
			     "'%s' is not a digest (sha256: and 64 lowercase hex digits)",
			     shown(digest, s, sizeof(s)));
		return;
	}
	if (!find_target(call, d->cfg, name, &w, &t))
		return;
	deployer_target_key(d->deployer, t, tkey, sizeof(tkey));
	target_name(w, t, tname, sizeof(tname));
	if (!state_failed_has(d->state, w->name, tkey, digest)) {
		control_fail(call, "nothing-to-do", EX_UNAVAILABLE, NULL,
			     "%s has not failed on target '%s'", digest, tname);
		return;
	}
	if (!not_dry(call, d, "retry"))
		return;
	struct state_undo *u = mark(call, d);
	if (!u)
		return;
	state_forget_failed(d->state, w->name, tkey, digest);
	/* An operator's rollback also held it back; retrying it means deploying it again. */
	const char *held = state_held(d->state, w->name, tkey);
	if (held && !strcmp(held, digest))
		state_set_held(d->state, w->name, tkey, NULL);
	if (!commit(call, d, u))
		return;
	log_notice("target '%s': %s is no longer taken for failed (retry by uid %ld, pid %ld)",
		   tname, digest, (long)control_call_peer(call)->uid,
		   (long)control_call_peer(call)->pid);
	deployer_reconcile_watch(d->deployer, w->name);
	cJSON *res = cJSON_CreateObject();
	if (res) {
		cJSON_AddStringToObject(res, "target", tname);
		cJSON_AddStringToObject(res, "digest", digest);
	}
	control_reply(call, res);
}

/* ---- status ------------------------------------------------------------------ */

static void add_time(cJSON *o, const char *key, double t)
{
	if (t > 0)
		cJSON_AddNumberToObject(o, key, t);
	else
		cJSON_AddNullToObject(o, key);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *by_json(const struct state_by *by)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "uid", (double)by->uid);
	cJSON_AddNumberToObject(o, "pid", (double)by->pid);
	return o;
}

static cJSON *pause_json(const struct state_pause *p, const char *scope)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "reason", p->reason);
	add_time(o, "until", p->until);
	cJSON_AddItemToObject(o, "by", by_json(&p->by));
	cJSON_AddNumberToObject(o, "at", p->by.at);
	if (scope)
		cJSON_AddStringToObject(o, "scope", scope);
	return o;
}

/* A pause in force (an expired one waits for its timer: it is over already). */
static bool pause_on(const struct state *st, const char *watch, const char *tkey,
		     struct state_pause *p, double now)
{
	return state_pause(st, watch, tkey, p) && (!p->until || p->until > now);
}

/* The process's start, from /proc (Unix seconds; 0 unknown). */
static double started_at(void)
{
	char buf[1024];
	unsigned long long ticks = 0, btime = 0;
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	/* field 22, counted after the ')' that ends the command's name */
	const char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
		return 0;
	f = fopen("/proc/stat", "re");
	while (f && fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	if (f)
		fclose(f);
	long hz = sysconf(_SC_CLK_TCK);
	return btime && hz > 0 ? (double)btime + (double)ticks / (double)hz : 0;
}

static const char *rule_name(enum config_tag_rule r)
{
	switch (r) {
	case TAG_ONE:
		return "tag";
	case TAG_LIST:
		return "list";
	case TAG_GLOB:
		return "glob";
	case TAG_SEMVER:
		return "semver";
	}
	return "tag";
}

static cJSON *target_json(struct daemon *d, const struct config_watch *w,
			  const struct config_target *t, const struct state_want *want,
			  bool watch_paused, const struct state_pause *wp, bool frozen,
			  const struct state_pause *fp, double now)
{
	cJSON *o = cJSON_CreateObject(), *failed;
	char tkey[1024], tname[NAME_MAX_];
	struct deployer_target_status ds;
	struct state_pause tp;
	struct state_pin pin;
	const char *state;

	deployer_target_key(d->deployer, t, tkey, sizeof(tkey));
	target_name(w, t, tname, sizeof(tname));
	deployer_target_status(d->deployer, w->name, tkey, &ds);
	bool pinned = state_pin(d->state, w->name, tkey, &pin);
	bool tpaused = pause_on(d->state, w->name, tkey, &tp, now);
	const char *wanted = pinned ? pin.digest : want ? want->digest : NULL;
	const char *deployed = state_deployed(d->state, w->name, tkey);
	const char *held = state_held(d->state, w->name, tkey);
	bool paused = tpaused || watch_paused || frozen || t->paused;

	if (ds.rollout && ds.inspecting)
		state = "inspecting";
	else if (ds.rollout && ds.awaiting)
		state = "awaiting-approval";
	else if (ds.rollout && ds.rolling_back)
		state = "rolling-back";
	else if (ds.rollout && ds.tracking)
		state = "tracking";
	else if (ds.rollout)
		state = "deploying";
	else if (ds.blocked)
		state = "blocked";
	else if (paused)
		state = "paused";
	else if (pinned)
		state = "pinned";
	else if (wanted && state_failed_has(d->state, w->name, tkey, wanted) &&
		 !(deployed && !strcmp(deployed, wanted)))
		state = "skipped-failed";
	else if (wanted && held && !strcmp(held, wanted) &&
		 !(deployed && !strcmp(deployed, wanted)))
		state = "held";
	else if (!deployed && wanted)
		state = "unknown";
	else
		state = "idle";

	cJSON_AddStringToObject(o, "name", tname);
	cJSON_AddStringToObject(o, "cluster", t->cluster);
	cJSON_AddStringToObject(o, "service", t->service);
	cJSON_AddStringToObject(o, "strategy", config_strategy_name(t->strategy));
	cJSON_AddStringToObject(o, "state", state);
	add_str(o, "detail", ds.rollout ? ds.detail : ds.blocked ? ds.error : NULL);
	add_str(o, "wanted", wanted);
	add_str(o, "deployed", deployed);
	add_str(o, "task_definition", state_task_def(d->state, w->name, tkey));
	if (pinned) {
		cJSON *p = cJSON_AddObjectToObject(o, "pinned");
		cJSON_AddStringToObject(p, "digest", pin.digest);
		add_str(p, "tag", pin.tag);
		cJSON_AddItemToObject(p, "by", by_json(&pin.by));
		cJSON_AddNumberToObject(p, "at", pin.by.at);
	} else {
		cJSON_AddNullToObject(o, "pinned");
	}
	if (tpaused) {
		cJSON_AddItemToObject(o, "paused", pause_json(&tp, "target"));
	} else if (watch_paused) {
		cJSON_AddItemToObject(o, "paused", pause_json(wp, "watch"));
	} else if (frozen) {
		cJSON_AddItemToObject(o, "paused", pause_json(fp, "all"));
	} else if (t->paused) {
		cJSON *p = cJSON_AddObjectToObject(o, "paused");
		cJSON_AddStringToObject(p, "reason", "paused in the configuration");
		cJSON_AddNullToObject(p, "until");
		cJSON_AddNullToObject(p, "by");
		cJSON_AddNullToObject(p, "at");
		cJSON_AddStringToObject(p, "scope", "config");
	} else {
		cJSON_AddNullToObject(o, "paused");
	}
	if (ds.rollout && ds.awaiting) {
		cJSON *a = cJSON_AddObjectToObject(o, "awaiting_approval");
		cJSON_AddStringToObject(a, "hook", ds.hook ? ds.hook : "");
		add_time(a, "expires", ds.hook_expires);
	} else {
		cJSON_AddNullToObject(o, "awaiting_approval");
	}
	if (ds.blocked) {
		cJSON *b = cJSON_AddObjectToObject(o, "blocked");
		cJSON_AddStringToObject(b, "error", ds.error);
		cJSON_AddNumberToObject(b, "retry_at", ds.retry_at);
	} else {
		cJSON_AddNullToObject(o, "blocked");
	}
	if (ds.rollout && !ds.inspecting) {
		cJSON *r = cJSON_AddObjectToObject(o, "rollout");
		add_str(r, "digest", ds.digest);
		cJSON_AddStringToObject(r, "step", ds.step);
		add_time(r, "started", ds.started);
		cJSON_AddStringToObject(r, "kind", ds.kind);
	} else {
		cJSON_AddNullToObject(o, "rollout");
	}
	failed = cJSON_AddArrayToObject(o, "failed");
	const cJSON *e;
	cJSON_ArrayForEach(e, state_failed_list(d->state, w->name, tkey))
	{
		const char *fd = cJSON_GetStringValue(cJSON_GetObjectItem(e, "digest"));
		if (fd)
			cJSON_AddItemToArray(failed, cJSON_CreateString(fd));
	}
	return o;
}

/* ha: {"role", "instance", "leader", "leader_since", "term", "table", "group"}. */
static void add_ha(cJSON *o, const struct daemon *d)
{
	static const char *const roles[] = { [LEASE_STARTING] = "starting",
					     [LEASE_STANDBY] = "standby",
					     [LEASE_LEADING] = "leading",
					     [LEASE_SUSPENDED] = "suspended",
					     [LEASE_LOST] = "stepping-down" };
	const struct config_ha *cfg = d->ha;
	enum lease_role role;
	const char *leader;
	cJSON *ha;

	if (!cfg || !d->lease) {
		cJSON_AddNullToObject(o, "ha");
		return;
	}
	role = lease_role(d->lease);
	leader = lease_leader(d->lease);
	ha = cJSON_AddObjectToObject(o, "ha");
	cJSON_AddStringToObject(ha, "role",
				(size_t)role < sizeof(roles) / sizeof(roles[0]) && roles[role]
				    ? roles[role]
				    : "unknown");
	cJSON_AddStringToObject(ha, "instance", cfg->instance_id);
	if (leader && *leader) {
		cJSON_AddStringToObject(ha, "leader", leader);
		add_time(ha, "leader_since", lease_leader_since(d->lease));
	} else {
		cJSON_AddNullToObject(ha, "leader");
		cJSON_AddNullToObject(ha, "leader_since");
	}
	cJSON_AddNumberToObject(ha, "term", (double)lease_term(d->lease));
	cJSON_AddStringToObject(ha, "table", cfg->table);
	cJSON_AddStringToObject(ha, "group", cfg->group);
	/* why the lease cannot be read or written, while that lasts */
	if (*lease_last_error(d->lease))
		cJSON_AddStringToObject(ha, "error", lease_last_error(d->lease));
	else
		cJSON_AddNullToObject(ha, "error");
}

static cJSON *status_json(struct daemon *d)
{
	cJSON *o = cJSON_CreateObject(), *poll, *arr, *events, *watches;
	const struct config *cfg = d->cfg;
	double now = wall_now();
	struct state_pause fp;
	bool frozen;
	size_t n;

	cJSON_AddStringToObject(o, "version", ECR_DEPLOYD_VERSION);
	cJSON_AddNumberToObject(o, "pid", (double)getpid());
	add_time(o, "started", started_at());
	cJSON_AddBoolToObject(o, "dry_run", d->dry_run || cfg->dry_run);
	add_ha(o, d);
	if (!d->working) {
		/* an ha standby knows only the lease: the leader has the rest */
		cJSON_AddBoolToObject(o, "standby", true);
		return o;
	}
	frozen = pause_on(d->state, NULL, NULL, &fp, now);
	if (frozen)
		cJSON_AddItemToObject(o, "frozen", pause_json(&fp, NULL));
	else
		cJSON_AddNullToObject(o, "frozen");

	poll = cJSON_AddObjectToObject(o, "poll");
	cJSON_AddNumberToObject(poll, "interval", (double)cfg->poll_interval_ms / 1000.0);
	cJSON_AddNumberToObject(poll, "cycles", (double)watcher_cycles(d->watcher));
	add_time(poll, "last_cycle", watcher_last_cycle(d->watcher));
	add_time(poll, "last_ok", watcher_last_ok(d->watcher));
	arr = cJSON_AddArrayToObject(poll, "failing");
	const struct watcher_failure *f = watcher_failures(d->watcher, &n);
	for (size_t i = 0; i < n; i++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "repository", f[i].repository);
		cJSON_AddStringToObject(x, "region", f[i].region);
		cJSON_AddStringToObject(x, "error", f[i].error);
		cJSON_AddItemToArray(arr, x);
	}

	events = cJSON_AddObjectToObject(o, "events");
	arr = cJSON_AddArrayToObject(events, "queues");
	for (size_t i = 0; i < queues_count(d->queues); i++) {
		struct queue_info qi;
		cJSON *x = cJSON_CreateObject();
		queues_info(d->queues, i, &qi);
		cJSON_AddStringToObject(x, "url", qi.url);
		cJSON_AddStringToObject(x, "state", qi.state);
		add_time(x, "last_message", qi.last_message);
		add_str(x, "error", qi.error);
		cJSON_AddItemToArray(arr, x);
	}
	arr = cJSON_AddArrayToObject(o, "notify");
	struct outbox_sink_status sinks[CONFIG_MAX_SINKS];
	size_t n_sinks = outbox_status(d->outbox, sinks, CONFIG_MAX_SINKS);
	for (size_t i = 0; i < n_sinks && i < CONFIG_MAX_SINKS; i++) {
		const struct outbox_sink_status *k = &sinks[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", k->name);
		cJSON_AddStringToObject(x, "type", k->type);
		add_str(x, "host", k->host);
		cJSON_AddNumberToObject(x, "pending", (double)k->pending);
		cJSON_AddNumberToObject(x, "sent", (double)k->sent);
		cJSON_AddNumberToObject(x, "failed", (double)k->failed);
		cJSON_AddNumberToObject(x, "given_up", (double)k->given_up);
		cJSON_AddNumberToObject(x, "dropped", (double)k->dropped);
		cJSON_AddBoolToObject(x, "failing", k->failing);
		add_time(x, "failing_since", k->failing_since);
		add_time(x, "last_sent", k->last_sent);
		add_str(x, "last_error", k->last_error);
		cJSON_AddItemToArray(arr, x);
	}
	cJSON_AddNumberToObject(o, "rollouts_in_flight", deployer_in_flight(d->deployer));

	watches = cJSON_AddArrayToObject(o, "watches");
	for (size_t i = 0; i < cfg->n_watches; i++) {
		const struct config_watch *w = &cfg->watches[i];
		struct state_want wv;
		const struct state_want *want = state_want(d->state, w->name, &wv) ? &wv : NULL;
		const char *tag = want ? want->tag : NULL;
		struct state_pause wp;
		bool wpaused = pause_on(d->state, w->name, NULL, &wp, now);
		cJSON *x = cJSON_CreateObject(), *targets;
		cJSON_AddStringToObject(x, "name", w->name);
		cJSON_AddStringToObject(x, "repository", w->repository);
		cJSON_AddStringToObject(x, "region", w->region ? w->region : d->region);
		cJSON_AddStringToObject(x, "rule", rule_name(w->rule));
		add_str(x, "tag", tag && *tag ? tag : w->rule == TAG_ONE ? w->tags[0] : NULL);
		add_str(x, "digest", want ? want->digest : NULL);
		if (wpaused)
			cJSON_AddItemToObject(x, "paused", pause_json(&wp, NULL));
		else
			cJSON_AddNullToObject(x, "paused");
		targets = cJSON_AddArrayToObject(x, "targets");
		for (size_t j = 0; j < w->n_targets; j++)
			cJSON_AddItemToArray(targets, target_json(d, w, &w->targets[j], want,
								  wpaused, &wp, frozen, &fp, now));
		cJSON_AddItemToArray(watches, x);
	}
	return o;
}

static void run_status(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const allowed[] = { NULL };
	cJSON *o;

	if (!keys_ok(call, args, allowed))
		return;
	o = status_json(userdata);
	if (!o) {
		control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
		return;
	}
	control_reply(call, o);
}

const struct control_command cmd_target_commands[] = {
	{ "status", false, run_status }, { "pause", true, run_pause },
	{ "resume", true, run_resume },  { "pin", true, run_pin },
	{ "unpin", true, run_unpin },    { "retry", true, run_retry },
	{ NULL, false, NULL },
};
