/* SPDX-License-Identifier: MIT */
/*
 * The control socket's rollout commands (docs/control.md): `history` (read-only), and the
 * operator's actions `deploy`, `rollback`, `approve`, `reject`, each carried out by the deployer's
 * engine (deployer.h) like any rollout. A deploy of a given digest first asks ECR whether the
 * watch's repository has it, and approve/reject answer once ECS has answered: those handlers
 * reply later, from the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cJSON.h>

#include "approve.h"
#include "aws.h"
#include "cmd.h"
#include "config.h"
#include "ctlproto.h"
#include "daemon.h"
#include "deployer.h"
#include "digest.h"
#include "escape.h"
#include "history.h"
#include "log.h"
#include "state.h"

#define HISTORY_N_DEFAULT 20
#define HISTORY_N_MAX     1000

/* A value from outside, escaped for a message. */
#define SHOWN(s, buf) escape_bounded((s), 200, (buf), sizeof(buf), ESCAPE_SQUOTE)

static bool dry_run(const struct daemon *d)
{
	return d->dry_run || d->cfg->dry_run;
}

/* The args' keys and their checks; false when the call was answered (bad-argument). */
static bool check_keys(struct control_call *call, const cJSON *args, const char *const *allowed)
{
	char why[300];

	if (ctlproto_check_keys(args, allowed, why, sizeof(why)) < 0) {
		control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
		return false;
	}
	return true;
}

static bool get_string(struct control_call *call, const cJSON *args, const char *key, bool required,
		       const char **ret)
{
	char why[300];

	if (ctlproto_get_string(args, key, required, 512, ret, why, sizeof(why)) < 0) {
		control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
		return false;
	}
	return true;
}

/* The target named name; false when the call was answered (unknown-target, ambiguous-target). */
static bool find_target(struct control_call *call, const struct config *cfg, const char *name,
			const struct config_watch **ret_w, const struct config_target **ret_t)
{
	cJSON *candidates = NULL, *extra;
	char shown[256];
	int r = approve_match_target(cfg, name, ret_w, ret_t, &candidates);

	if (r == 0)
		return true;
	extra = cJSON_CreateObject();
	if (extra && candidates)
		cJSON_AddItemToObject(extra, "candidates", candidates);
	else
		cJSON_Delete(candidates);
	if (r == -EEXIST)
		control_fail(call, "ambiguous-target", EX_USAGE, extra,
			     "'%s' names several targets; name one as WATCH/SERVICE",
			     SHOWN(name, shown));
	else
		control_fail(call, "unknown-target", EX_USAGE, extra,
			     "no configured target is named '%s'", SHOWN(name, shown));
	return false;
}

static bool find_watch(struct control_call *call, const struct config *cfg, const char *name,
		       const struct config_watch **ret_w)
{
	cJSON *candidates = NULL, *extra;
	char shown[256];

	if (approve_match_watch(cfg, name, ret_w, &candidates) == 0)
		return true;
	extra = cJSON_CreateObject();
	if (extra && candidates)
		cJSON_AddItemToObject(extra, "candidates", candidates);
	else
		cJSON_Delete(candidates);
	control_fail(call, "unknown-watch", EX_USAGE, extra, "no configured watch is named '%s'",
		     SHOWN(name, shown));
	return false;
}

static void target_name(const struct config_watch *w, const struct config_target *t, char *buf,
			size_t n)
{
	deployer_target_name(w->name, t->service, buf, n);
}

/* ---- history -------------------------------------------------------------- */

static void cmd_history(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const keys[] = { "name", "n", NULL };
	struct daemon *d = userdata;
	const char *name = NULL;
	const struct config_watch *w = NULL;
	const struct config_target *t = NULL;
	double n = HISTORY_N_DEFAULT;
	char why[300], target[600];
	cJSON *result, *list;

	if (!check_keys(call, args, keys) || !get_string(call, args, "name", false, &name))
		return;
	if (ctlproto_get_number(args, "n", false, 1, HISTORY_N_MAX, &n, why, sizeof(why)) < 0) {
		control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
		return;
	}
	/* A watch's name first, then a target's. */
	if (name && approve_match_watch(d->cfg, name, &w, NULL) != 0) {
		w = NULL;
		if (!find_target(call, d->cfg, name, &w, &t))
			return;
	}
	if (t)
		target_name(w, t, target, sizeof(target));
	list = d->history ? history_list(d->history,
					 t   ? NULL
					 : w ? w->name
					     : NULL,
					 t ? target : NULL, (size_t)n)
			  : cJSON_CreateArray();
	result = cJSON_CreateObject();
	if (!list || !result || !cJSON_AddItemToObject(result, "entries", list)) {
		cJSON_Delete(list);
		cJSON_Delete(result);
		control_fail(call, "internal", EX_SOFTWARE, NULL,
			     "out of memory while listing the history");
		return;
	}
	control_reply(call, result);
}

/* ---- deploy --------------------------------------------------------------- */

/* A deploy waiting for ECR to say whether the digest is in the repository. */
struct pending_deploy {
	struct control_call *call;
	struct daemon *d;
	char watch[256], target[600]; /* the names given (looked up again: a reload may come) */
	char digest[80];
	bool force;
	uid_t uid;
	pid_t pid;
	struct aws_call *aws; /* the DescribeImages in flight */
};

static void reply_fail_nomem(struct control_call *call)
{
	control_fail(call, "internal", EX_SOFTWARE, NULL, "out of memory");
}

/* Runs the deploy on the config in force: to every target of the watch, or to one. */
static void run_deploy(struct control_call *call, struct daemon *d, const char *watch,
		       const char *target, const char *digest, bool force, uid_t uid, pid_t pid)
{
	const struct config_watch *w = NULL, *tw = NULL;
	const struct config_target *t = NULL;
	char name[600], why[1200], started_digest[80], failed_why[1200] = "";
	cJSON *result, *started, *skipped;
	int n_failed = 0, n_started = 0;
	bool state_error = false;

	if (!find_watch(call, d->cfg, watch, &w))
		return;
	if (target && !find_target(call, d->cfg, target, &tw, &t))
		return;
	if (t && tw != w) {
		char shown[256];
		control_fail(call, "bad-argument", EX_USAGE, NULL,
			     "target '%s' is not a target of watch '%s'", SHOWN(target, shown),
			     w->name);
		return;
	}
	result = cJSON_CreateObject();
	started = result ? cJSON_AddArrayToObject(result, "started") : NULL;
	skipped = started ? cJSON_AddArrayToObject(result, "skipped") : NULL;
	if (!skipped) {
		cJSON_Delete(result);
		reply_fail_nomem(call);
		return;
	}
	struct deployer_manual m = { .digest = digest, .force = force, .uid = uid, .pid = pid };
	for (size_t j = 0; j < w->n_targets; j++) {
		const struct config_target *x = &w->targets[j];
		if (t && x != t)
			continue;
		target_name(w, x, name, sizeof(name));
		int r = deployer_deploy(d->deployer, w, x, &m, started_digest, why, sizeof(why));
		cJSON *e = cJSON_CreateObject();
		if (!e || !cJSON_AddStringToObject(e, "target", name) ||
		    !cJSON_AddStringToObject(e, r == 0 ? "digest" : "reason",
					     r == 0 ? started_digest : why) ||
		    !cJSON_AddItemToArray(r == 0 ? started : skipped, e)) {
			cJSON_Delete(e);
			cJSON_Delete(result);
			reply_fail_nomem(call);
			return;
		}
		n_started += r == 0;
		if (r == -ECANCELED && !n_failed++)
			snprintf(failed_why, sizeof(failed_why), "%s", why);
		if (r == -EROFS) {
			cJSON_Delete(result);
			control_fail(call, "dry-run", EX_UNAVAILABLE, NULL, "%s", why);
			return;
		}
		if (r == -ENOENT) {
			cJSON_Delete(result);
			control_fail(call, "nothing-to-do", EX_UNAVAILABLE, NULL, "%s", why);
			return;
		}
		state_error = state_error || r == -EIO;
	}
	if (!n_started && state_error) {
		cJSON_Delete(result);
		control_fail(call, "state-error", EX_IOERR, NULL, "%s", why);
		return;
	}
	if (!n_started && n_failed) {
		/* Nothing started and the digest failed there: refused as a whole (force
		 * overrides), so that a deploy never looks done when it was refused. */
		cJSON_Delete(result);
		control_fail(call, "failed-before", EX_DATAERR, NULL, "%s", failed_why);
		return;
	}
	control_reply(call, result);
}

static void on_described(struct aws_result *res, void *userdata)
{
	struct pending_deploy *p = userdata;
	struct control_call *call = p->call;
	char code[200], msg[600];

	if (!control_call_live(call)) {
		/* Nobody waits for it any more (gone, or timed out): nothing is deployed. The call
		 * is still answered, into the void, which releases it. */
		control_fail(call, "timeout", EX_TEMPFAIL, NULL,
			     "nobody waits for the deploy of %s any more: nothing is deployed",
			     p->digest);
		free(p);
		return;
	}
	if (!res->ok && !strcmp(res->err.code, "ImageNotFoundException")) {
		control_fail(call, "unknown-digest", EX_DATAERR, NULL,
			     "%s is not in the repository of watch '%s' (ECR: %s)", p->digest,
			     p->watch, SHOWN(res->err.message, msg));
	} else if (!res->ok) {
		control_fail(call, "aws-error", EX_UNAVAILABLE, NULL,
			     "cannot check %s in the repository of watch '%s': DescribeImages "
			     "refused: %s: %s",
			     p->digest, p->watch, SHOWN(res->err.code, code),
			     SHOWN(res->err.message, msg));
	} else if (cJSON_GetArraySize(cJSON_GetObjectItem(res->body, "imageDetails")) < 1) {
		control_fail(call, "unknown-digest", EX_DATAERR, NULL,
			     "%s is not in the repository of watch '%s'", p->digest, p->watch);
	} else {
		run_deploy(call, p->d, p->watch, *p->target ? p->target : NULL, p->digest, p->force,
			   p->uid, p->pid);
	}
	free(p);
}

/* The daemon stops before ECR answered: nothing is deployed. */
static void deploy_stop(void *data)
{
	struct pending_deploy *p = data;

	aws_call_cancel(p->aws);
	control_fail(p->call, "timeout", EX_TEMPFAIL, NULL,
		     "the daemon stopped before ECR answered about %s: nothing is deployed",
		     p->digest);
	free(p);
}

static void cmd_deploy(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const keys[] = { "watch", "digest", "target", "force", NULL };
	struct daemon *d = userdata;
	const struct control_peer *peer = control_call_peer(call);
	const char *watch = NULL, *digest = NULL, *target = NULL;
	const struct config_watch *w = NULL, *tw = NULL;
	const struct config_target *t = NULL;
	bool force = false;
	char why[300], shown[256];

	if (!check_keys(call, args, keys) || !get_string(call, args, "watch", true, &watch) ||
	    !get_string(call, args, "digest", false, &digest) ||
	    !get_string(call, args, "target", false, &target))
		return;
	if (ctlproto_get_bool(args, "force", &force, why, sizeof(why)) < 0) {
		control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
		return;
	}
	if (!find_watch(call, d->cfg, watch, &w) ||
	    (target && !find_target(call, d->cfg, target, &tw, &t)))
		return;
	if (t && tw != w) {
		control_fail(call, "bad-argument", EX_USAGE, NULL,
			     "target '%s' is not a target of watch '%s'", SHOWN(target, shown),
			     w->name);
		return;
	}
	if (dry_run(d)) {
		control_fail(call, "dry-run", EX_UNAVAILABLE, NULL,
			     "the daemon runs as a dry run: nothing is deployed");
		return;
	}
	if (digest && !digest_valid(digest)) {
		control_fail(call, "unknown-digest", EX_DATAERR, NULL,
			     "'%s' is not a digest (sha256: and 64 lowercase hex digits)",
			     SHOWN(digest, shown));
		return;
	}
	struct state_want want;
	bool current = state_want(d->state, w->name, &want);
	if (!digest || (current && !strcmp(want.digest, digest))) {
		run_deploy(call, d, w->name, target, digest, force, peer->uid, peer->pid);
		return;
	}
	/* Another digest: ECR is asked whether the repository has it; the answer comes later. */
	struct pending_deploy *p = calloc(1, sizeof(*p));
	cJSON *params = cJSON_CreateObject(), *ids, *id;
	bool ok =
	    p && params && cJSON_AddStringToObject(params, "repositoryName", w->repository) &&
	    (!w->registry_id || cJSON_AddStringToObject(params, "registryId", w->registry_id)) &&
	    (ids = cJSON_AddArrayToObject(params, "imageIds")) && (id = cJSON_CreateObject()) &&
	    cJSON_AddItemToArray(ids, id) && cJSON_AddStringToObject(id, "imageDigest", digest);
	if (!ok) {
		free(p);
		cJSON_Delete(params);
		reply_fail_nomem(call);
		return;
	}
	p->call = call;
	p->d = d;
	p->force = force;
	p->uid = peer->uid;
	p->pid = peer->pid;
	snprintf(p->watch, sizeof(p->watch), "%s", w->name);
	snprintf(p->target, sizeof(p->target), "%s", target ? target : "");
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	struct aws_call_spec spec = { .service = &aws_ecr,
				      .operation = "DescribeImages",
				      .params = params,
				      .region = w->region ? w->region : d->region };
	int r = aws_call(d->aws, &spec, on_described, p, &p->aws);
	cJSON_Delete(params);
	if (r < 0) {
		free(p);
		control_fail(call, "aws-error", EX_UNAVAILABLE, NULL,
			     "cannot call DescribeImages for watch '%s': %s", w->name,
			     r == -ENOMEM ? "out of memory" : "no ECR endpoint for its region");
		return;
	}
	control_call_on_stop(call, deploy_stop, p);
}

/* ---- rollback ------------------------------------------------------------- */

static void cmd_rollback(struct control_call *call, const cJSON *args, void *userdata)
{
	static const char *const keys[] = { "target", NULL };
	struct daemon *d = userdata;
	const struct control_peer *peer = control_call_peer(call);
	const char *target = NULL;
	const struct config_watch *w = NULL;
	const struct config_target *t = NULL;
	char from[80] = "", to[80] = "", why[1200], name[600];
	cJSON *result;
	int r;

	if (!check_keys(call, args, keys) || !get_string(call, args, "target", true, &target) ||
	    !find_target(call, d->cfg, target, &w, &t))
		return;
	target_name(w, t, name, sizeof(name));
	r = deployer_rollback(d->deployer, w, t, peer->uid, peer->pid, from, to, why, sizeof(why));
	switch (r) {
	case 0:
		result = cJSON_CreateObject();
		if (!result || !cJSON_AddStringToObject(result, "target", name) ||
		    !cJSON_AddStringToObject(result, "from", from) ||
		    !(*to ? cJSON_AddStringToObject(result, "to", to)
			  : cJSON_AddNullToObject(result, "to"))) {
			cJSON_Delete(result);
			reply_fail_nomem(call);
			return;
		}
		control_reply(call, result);
		return;
	case -ENOENT:
		control_fail(call, "nothing-to-do", EX_UNAVAILABLE, NULL, "%s", why);
		return;
	case -EBUSY:
	case -EALREADY:
		control_fail(call, "busy", EX_TEMPFAIL, NULL, "%s", why);
		return;
	case -EROFS:
		control_fail(call, "dry-run", EX_UNAVAILABLE, NULL, "%s", why);
		return;
	case -EIO:
		control_fail(call, "state-error", EX_IOERR, NULL, "%s", why);
		return;
	default:
		control_fail(call, "internal", EX_SOFTWARE, NULL, "%s", why);
		return;
	}
}

/* ---- approve, reject ------------------------------------------------------ */

struct pending_continue {
	struct control_call *call;
	char target[600];
	bool rollback;
	bool codedeploy; /* the target's strategy: the answer names a CodeDeploy deployment */
};

static void on_continued(int rc, const char *hook, const struct aws_error *err, void *ud)
{
	struct pending_continue *p = ud;
	const char *action = p->rollback ? "ROLLBACK" : "CONTINUE";
	char code[200], msg[600];
	cJSON *result;

	if (rc == 0) {
		result = cJSON_CreateObject();
		if (!result || !cJSON_AddStringToObject(result, "target", p->target) ||
		    !cJSON_AddStringToObject(result, p->codedeploy ? "deployment" : "hook",
					     hook ? hook : "") ||
		    !cJSON_AddStringToObject(result, "action", action)) {
			cJSON_Delete(result);
			reply_fail_nomem(p->call);
		} else {
			control_reply(p->call, result);
		}
	} else if (rc == -ETIMEDOUT && p->codedeploy) {
		control_fail(
		    p->call, "timeout", EX_TEMPFAIL, NULL,
		    "no usable answer from CodeDeploy to %s of deployment %s on '%s' (%s); "
		    "whether it took shows in ecr-deployctl status at the next look",
		    p->rollback ? "StopDeployment" : "ContinueDeployment", hook ? hook : "?",
		    p->target, err ? SHOWN(err->code, code) : "no reply");
	} else if (rc == -EIO && err && p->codedeploy) {
		control_fail(p->call, "aws-error", EX_UNAVAILABLE, NULL,
			     "CodeDeploy refused %s of deployment %s on '%s': %s: %s",
			     p->rollback ? "StopDeployment" : "ContinueDeployment",
			     hook ? hook : "?", p->target, SHOWN(err->code, code),
			     SHOWN(err->message, msg));
	} else if (rc == -EIO && err) {
		control_fail(
		    p->call, "aws-error", EX_UNAVAILABLE, NULL,
		    "ECS refused ContinueServiceDeployment (%s) of hook %s on '%s': %s: %s", action,
		    hook ? hook : "?", p->target, SHOWN(err->code, code), SHOWN(err->message, msg));
	} else {
		control_fail(p->call, "nothing-to-do", EX_UNAVAILABLE, NULL,
			     "the rollout on '%s' ended before %s answered", p->target,
			     p->codedeploy ? "CodeDeploy" : "ECS");
	}
	free(p);
}

static void continue_hook(struct control_call *call, const cJSON *args, struct daemon *d,
			  bool rollback)
{
	static const char *const keys[] = { "target", NULL };
	const char *target = NULL;
	const struct config_watch *w = NULL;
	const struct config_target *t = NULL;
	char why[1200];
	struct pending_continue *p;
	int r;

	if (!check_keys(call, args, keys) || !get_string(call, args, "target", true, &target) ||
	    !find_target(call, d->cfg, target, &w, &t))
		return;
	if (!(p = calloc(1, sizeof(*p)))) {
		reply_fail_nomem(call);
		return;
	}
	p->call = call;
	p->rollback = rollback;
	p->codedeploy = t->strategy == STRATEGY_CODEDEPLOY;
	target_name(w, t, p->target, sizeof(p->target));
	r = deployer_continue(d->deployer, w, t, rollback, on_continued, p, why, sizeof(why));
	if (r == 0)
		return; /* answered in on_continued() */
	free(p);
	switch (r) {
	case -ENOENT:
		control_fail(call, "nothing-to-do", EX_UNAVAILABLE, NULL, "%s", why);
		break;
	case -EBUSY:
		control_fail(call, "busy", EX_TEMPFAIL, NULL, "%s", why);
		break;
	case -EROFS:
		control_fail(call, "dry-run", EX_UNAVAILABLE, NULL, "%s", why);
		break;
	case -EIO:
		control_fail(call, "aws-error", EX_UNAVAILABLE, NULL, "%s", why);
		break;
	default:
		control_fail(call, "internal", EX_SOFTWARE, NULL, "%s", why);
		break;
	}
}

static void cmd_approve(struct control_call *call, const cJSON *args, void *userdata)
{
	continue_hook(call, args, userdata, false);
}

static void cmd_reject(struct control_call *call, const cJSON *args, void *userdata)
{
	continue_hook(call, args, userdata, true);
}

const struct control_command cmd_rollout_commands[] = {
	{ "history", false, cmd_history },  { "deploy", true, cmd_deploy },
	{ "rollback", true, cmd_rollback }, { "approve", true, cmd_approve },
	{ "reject", true, cmd_reject },     { NULL, false, NULL },
};
