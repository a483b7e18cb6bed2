/* SPDX-License-Identifier: MIT */
/*
 * ecr-deployctl: the operator's tool for a running ecr-deployd. Reads the command line, sends one
 * request on the daemon's control socket (docs/control.md), prints the reply for a human (or as
 * JSON with --json) and exits with the sysexits code the reply carries. See ecr-deployctl(8).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "ctl_conn.h"
#include "ctl_render.h"
#include "ctl_time.h"
#include "ctlproto.h"
#include "digest.h"
#include "escape.h"
#include "names.h"
#include "strbuf.h"
#include "version.h"

#define DEFAULT_SOCKET  "/run/ecr-deployd/control.sock"
#define SOCKET_ENV      "ECR_DEPLOYCTL_SOCKET"
/* The daemon answers a command that runs longer than 60 s with "timeout" itself. */
#define DEFAULT_TIMEOUT 70.0
#define REASON_MAX      256
#define HISTORY_MAX     1000

/* The options a command may take after its name. */
enum {
	OPT_JSON = 1 << 0,
	OPT_N = 1 << 1,
	OPT_ALL = 1 << 2,
	OPT_REASON = 1 << 3,
	OPT_UNTIL = 1 << 4,
	OPT_FORCE = 1 << 5,
	OPT_DIGEST = 1 << 6,
	OPT_TARGET = 1 << 7,
};

struct ctl {
	const char *socket;
	double timeout;
	bool json, color;
	/* the command's options */
	unsigned given;
	long n;
	bool all, force;
	const char *reason, *digest, *target;
	double until;
	const char *cmd;
	char **args;
	int nargs;
};

struct command {
	const char *name;
	unsigned opts;
	int min_args, max_args;
	const char *synopsis;
	int (*run)(struct ctl *ctl);
};

static void usage(FILE *out);

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ecr-deployctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* A usage error: the message, a pointer to --help, EX_USAGE. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ecr-deployctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fputs("Try 'ecr-deployctl --help'.\n", stderr);
	return EX_USAGE;
}

/* A command-line value, escaped for a message. */
static const char *arg_esc(const char *s, char *buf, size_t n)
{
	return escape_bounded(s, 128, buf, n, ESCAPE_SQUOTE | ESCAPE_BACKSLASH);
}

/* Prints the daemon's error: its message, then its candidates. Returns the exit code it names. */
static int print_error(const cJSON *error)
{
	char msg[4096];
	const char *message = ctl_json_str(error, "message");
	const char *code = ctl_json_str(error, "code");
	fail("%s", escape_bounded(message ? message : code, 1024, msg, sizeof(msg), 0));
	const cJSON *cands = cJSON_GetObjectItemCaseSensitive(error, "candidates");
	if (cJSON_IsArray(cands) && cJSON_GetArraySize(cands) > 0) {
		const cJSON *c;
		fputs("did you mean:\n", stderr);
		cJSON_ArrayForEach(c, cands)
		{
			if (cJSON_IsString(c))
				fprintf(stderr, "  %s\n",
					escape_bounded(c->valuestring, 256, msg, sizeof(msg), 0));
		}
	}
	const cJSON *versions = cJSON_GetObjectItemCaseSensitive(error, "versions");
	if (code && strcmp(code, "unsupported-version") == 0 && cJSON_IsArray(versions)) {
		char *v = cJSON_PrintUnformatted(versions);
		fprintf(stderr,
			"the daemon speaks protocol versions %s; this ecr-deployctl speaks %d\n",
			v ? escape_bounded(v, 128, msg, sizeof(msg), 0) : "?", CTLPROTO_VERSION);
		free(v);
	}
	double exit;
	if (!ctl_json_num(error, "exit", &exit) || exit < 1 || exit > 125 || exit != floor(exit))
		return EX_SOFTWARE;
	return (int)exit;
}

/*
 * Numbers as they came: cJSON prints a double with 15 significant digits whenever that reads back
 * within an epsilon of it, which loses the last digits of a Unix time with a fraction (1.8e9 s:
 * 10 µs). Each non-integer number is replaced by its shortest text that reads back exactly.
 */
static void exact_numbers(cJSON *node)
{
	cJSON *c = node ? node->child : NULL;

	while (c) {
		cJSON *next = c->next;
		double d = c->valuedouble;
		if (cJSON_IsNumber(c) && isfinite(d) && d != floor(d)) {
			char buf[40];
			for (int prec = 15; prec <= 17; prec++) {
				snprintf(buf, sizeof(buf), "%.*g", prec, d);
				if (strtod(buf, NULL) == d)
					break;
			}
			cJSON *raw = cJSON_CreateRaw(buf);
			if (raw && c->string) { /* a member keeps its name */
				raw->string = strdup(c->string);
				if (!raw->string) {
					cJSON_Delete(raw);
					raw = NULL;
				}
			}
			if (raw)
				cJSON_ReplaceItemViaPointer(node, c, raw);
		} else if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
			exact_numbers(c);
		}
		c = next;
	}
}

/* The result as --json prints it: pretty, its numbers exact. NULL without memory. */
static char *json_text(const cJSON *result)
{
	cJSON *copy = cJSON_Duplicate(result, true);
	char *text;

	if (!copy)
		return NULL;
	exact_numbers(copy);
	text = cJSON_Print(copy);
	cJSON_Delete(copy);
	return text;
}

/*
 * Sends cmd with args (taken) and handles what every command shares: a failed call or an error
 * reply (printed; *ret_exit is the exit code and NULL returned), --json (the result printed;
 * NULL returned with *ret_exit 0). Otherwise returns the result, owned by reply.
 */
static const cJSON *call(struct ctl *ctl, const char *cmd, cJSON *args, struct ctl_reply *reply,
			 int *ret_exit)
{
	char msg[1024];
	int r = ctl_conn_call(ctl->socket, ctl->timeout, cmd, args, reply, msg, sizeof(msg));
	if (r != 0) {
		fail("%s", msg);
		*ret_exit = r;
		return NULL;
	}
	if (reply->error) {
		*ret_exit = print_error(reply->error);
		return NULL;
	}
	if (ctl->json) {
		char *text = json_text(reply->result);
		if (!text) {
			fail("out of memory");
			*ret_exit = EX_OSERR;
			return NULL;
		}
		puts(text);
		free(text);
		*ret_exit = 0;
		return NULL;
	}
	*ret_exit = 0;
	return reply->result;
}

/* The string member key of a result, escaped into buf ("-" when missing). */
static const char *res_str(const cJSON *res, const char *key, char *buf, size_t n)
{
	return escape_bounded(ctl_json_str(res, key) ? ctl_json_str(res, key) : "-", 256, buf, n,
			      0);
}

static cJSON *new_args(void)
{
	cJSON *a = cJSON_CreateObject();
	if (!a)
		fail("out of memory");
	return a;
}

/* Adds the NAME argument or --all of pause and resume. */
static int add_name_or_all(struct ctl *ctl, cJSON *args, const char *verb)
{
	if ((ctl->nargs == 1) == ctl->all)
		return usage_error("%s takes a WATCH or TARGET name, or --all (one of them)", verb);
	if (ctl->all)
		cJSON_AddBoolToObject(args, "all", true);
	else
		cJSON_AddStringToObject(args, "name", ctl->args[0]);
	return 0;
}

static int run_version(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	const cJSON *res = call(ctl, "version", NULL, &reply, &ex);
	if (res) {
		char v[300], rev[300];
		res_str(res, "version", v, sizeof(v));
		const char *revision = ctl_json_str(res, "revision");
		escape_bounded(revision ? revision : "", 64, rev, sizeof(rev), 0);
		double proto = 0, pid = 0;
		ctl_json_num(res, "protocol", &proto);
		ctl_json_num(res, "pid", &pid);
		printf("ecr-deployd %s%s%s%s, protocol %.0f, pid %.0f\n", v, *rev ? " (" : "", rev,
		       *rev ? ")" : "", proto, pid);
		printf("ecr-deployctl %s%s%s%s, protocol %d\n", ECR_DEPLOYD_VERSION,
		       *ECR_DEPLOYD_REVISION ? " (" : "", ECR_DEPLOYD_REVISION,
		       *ECR_DEPLOYD_REVISION ? ")" : "", CTLPROTO_VERSION);
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_status(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	const cJSON *res = call(ctl, "status", NULL, &reply, &ex);
	if (res && ctl_render_status(stdout, res, wall_now(), ctl->color) < 0) {
		fail("out of memory");
		ex = EX_OSERR;
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_history(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	if (ctl->nargs == 1)
		cJSON_AddStringToObject(args, "name", ctl->args[0]);
	if (ctl->given & OPT_N)
		cJSON_AddNumberToObject(args, "n", (double)ctl->n);
	const cJSON *res = call(ctl, "history", args, &reply, &ex);
	if (res && ctl_render_history(stdout, res, wall_now(), ctl->color) < 0) {
		fail("out of memory");
		ex = EX_OSERR;
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_pause(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	if ((ex = add_name_or_all(ctl, args, "pause")) != 0) {
		cJSON_Delete(args);
		return ex;
	}
	if (ctl->reason)
		cJSON_AddStringToObject(args, "reason", ctl->reason);
	if (ctl->given & OPT_UNTIL)
		cJSON_AddNumberToObject(args, "until", ctl->until);
	const cJSON *res = call(ctl, "pause", args, &reply, &ex);
	if (res) {
		char name[1100], at[64], rel[64];
		double until;
		const char *paused = ctl_json_str(res, "paused");
		if (paused && strcmp(paused, "*") == 0)
			printf("paused everything: no new rollout starts anywhere");
		else
			printf("paused %s", res_str(res, "paused", name, sizeof(name)));
		if (ctl_json_num(res, "until", &until)) {
			ctl_format_local(until, at, sizeof(at));
			ctl_format_relative(until, wall_now(), rel, sizeof(rel));
			printf(" until %s (%s)", at, rel);
		}
		printf("\n");
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_resume(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	if ((ex = add_name_or_all(ctl, args, "resume")) != 0) {
		cJSON_Delete(args);
		return ex;
	}
	const cJSON *res = call(ctl, "resume", args, &reply, &ex);
	if (res) {
		char name[1100];
		const char *resumed = ctl_json_str(res, "resumed");
		if (resumed && strcmp(resumed, "*") == 0)
			printf("resumed everything\n");
		else
			printf("resumed %s\n", res_str(res, "resumed", name, sizeof(name)));
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_pin(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	char b[300];
	int ex;
	const char *value = ctl->args[1];
	bool is_digest = digest_valid(value);
	if (!is_digest && strncmp(value, "sha256:", 7) == 0)
		return usage_error("'%s' is not a digest: sha256: and 64 lowercase hex digits",
				   arg_esc(value, b, sizeof(b)));
	if (!is_digest && !name_valid_tag(value))
		return usage_error("'%s' is neither a digest (sha256:...) nor an image tag",
				   arg_esc(value, b, sizeof(b)));
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	cJSON_AddStringToObject(args, "target", ctl->args[0]);
	cJSON_AddStringToObject(args, is_digest ? "digest" : "tag", value);
	if (ctl->force)
		cJSON_AddBoolToObject(args, "force", true);
	const cJSON *res = call(ctl, "pin", args, &reply, &ex);
	if (res) {
		char t[1100], d[1100], tag[1100];
		printf("pinned %s to %s", res_str(res, "target", t, sizeof(t)),
		       res_str(res, "digest", d, sizeof(d)));
		if (ctl_json_str(res, "tag"))
			printf(" (tag %s)", res_str(res, "tag", tag, sizeof(tag)));
		printf("; it ignores its watch until unpinned\n");
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_unpin(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	cJSON_AddStringToObject(args, "target", ctl->args[0]);
	const cJSON *res = call(ctl, "unpin", args, &reply, &ex);
	if (res) {
		char t[1100];
		printf("unpinned %s; it follows its watch again\n",
		       res_str(res, "unpinned", t, sizeof(t)));
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_deploy(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	char b[300];
	int ex;
	if (ctl->digest && !digest_valid(ctl->digest))
		return usage_error(
		    "--digest '%s' is not a digest: sha256: and 64 lowercase hex digits",
		    arg_esc(ctl->digest, b, sizeof(b)));
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	cJSON_AddStringToObject(args, "watch", ctl->args[0]);
	if (ctl->digest)
		cJSON_AddStringToObject(args, "digest", ctl->digest);
	if (ctl->target)
		cJSON_AddStringToObject(args, "target", ctl->target);
	if (ctl->force)
		cJSON_AddBoolToObject(args, "force", true);
	const cJSON *res = call(ctl, "deploy", args, &reply, &ex);
	if (res) {
		const cJSON *e;
		char t[1100], d[1100];
		int started = 0;
		cJSON_ArrayForEach(e, ctl_json_array(res, "started"))
		{
			printf("started %s: %s\n", res_str(e, "target", t, sizeof(t)),
			       res_str(e, "digest", d, sizeof(d)));
			started++;
		}
		cJSON_ArrayForEach(e, ctl_json_array(res, "skipped"))
		{
			printf("skipped %s: %s\n", res_str(e, "target", t, sizeof(t)),
			       res_str(e, "reason", d, sizeof(d)));
		}
		if (started == 0)
			printf("no rollout started\n");
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_target_only(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	cJSON_AddStringToObject(args, "target", ctl->args[0]);
	const cJSON *res = call(ctl, ctl->cmd, args, &reply, &ex);
	if (res) {
		char t[1100], a[1100], c[1100];
		res_str(res, "target", t, sizeof(t));
		if (strcmp(ctl->cmd, "rollback") == 0)
			printf("rolling %s back from %s to %s\n", t,
			       res_str(res, "from", a, sizeof(a)),
			       res_str(res, "to", c, sizeof(c)));
		else if (cJSON_GetObjectItemCaseSensitive(res, "deployment"))
			printf("%s %s: CodeDeploy deployment %s, %s\n",
			       strcmp(ctl->cmd, "approve") == 0 ? "approved" : "rejected", t,
			       res_str(res, "deployment", a, sizeof(a)),
			       strcmp(ctl->cmd, "approve") == 0 ? "ContinueDeployment READY_WAIT"
								: "StopDeployment with rollback");
		else
			printf("%s %s: hook %s, %s\n",
			       strcmp(ctl->cmd, "approve") == 0 ? "approved" : "rejected", t,
			       res_str(res, "hook", a, sizeof(a)),
			       res_str(res, "action", c, sizeof(c)));
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_retry(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	char b[300];
	int ex;
	if (!digest_valid(ctl->args[1]))
		return usage_error("'%s' is not a digest: sha256: and 64 lowercase hex digits",
				   arg_esc(ctl->args[1], b, sizeof(b)));
	cJSON *args = new_args();
	if (!args)
		return EX_OSERR;
	cJSON_AddStringToObject(args, "target", ctl->args[0]);
	cJSON_AddStringToObject(args, "digest", ctl->args[1]);
	const cJSON *res = call(ctl, "retry", args, &reply, &ex);
	if (res) {
		char t[1100], d[1100];
		printf("forgot the failure of %s on %s; it may be deployed there again\n",
		       res_str(res, "digest", d, sizeof(d)), res_str(res, "target", t, sizeof(t)));
	}
	ctl_reply_done(&reply);
	return ex;
}

/* Prints each string of the array key of res on stderr, prefixed. */
static void print_lines(const cJSON *res, const char *key, const char *prefix)
{
	const cJSON *e;
	char b[2100];
	cJSON_ArrayForEach(e, ctl_json_array(res, key))
	{
		if (cJSON_IsString(e))
			fprintf(stderr, "%s%s\n", prefix,
				escape_bounded(e->valuestring, 1024, b, sizeof(b), 0));
	}
}

static int run_reload(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	bool json = ctl->json;
	ctl->json = false;
	const cJSON *res = call(ctl, "reload", NULL, &reply, &ex);
	if (res) {
		bool reloaded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "reloaded"));
		if (json) {
			char *text = json_text(res);
			if (text)
				puts(text);
			free(text);
		} else if (reloaded) {
			printf("reloaded\n");
			print_lines(res, "warnings", "warning: ");
		} else {
			fail("the configuration was rejected; the daemon runs on with the one it "
			     "had");
			print_lines(res, "errors", "");
		}
		if (!reloaded)
			ex = EX_CONFIG;
	}
	ctl_reply_done(&reply);
	return ex;
}

static int run_metrics(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	int ex;
	const cJSON *res = call(ctl, "metrics", NULL, &reply, &ex);
	if (res) {
		const char *text = ctl_json_str(res, "text");
		struct strbuf sb;
		strbuf_init(&sb, (size_t)CTL_CONN_MAX_REPLY * 4);
		/* The exposition as it is; only bytes that could drive a terminal are escaped. */
		if (!text) {
			fail("the daemon's metrics reply has no text");
			ex = EX_PROTOCOL;
		} else if (escape_append(&sb, text, ESCAPE_KEEP_NEWLINE) < 0) {
			fail("out of memory");
			ex = EX_OSERR;
		} else {
			fputs(strbuf_str(&sb), stdout);
		}
		strbuf_done(&sb);
	}
	ctl_reply_done(&reply);
	return ex;
}

/* __complete targets|watches: the names, one per line, for the bash completion; quiet. */
static int run_complete(struct ctl *ctl)
{
	struct ctl_reply reply = { 0 };
	char msg[512];
	bool targets = strcmp(ctl->args[0], "targets") == 0;
	if (!targets && strcmp(ctl->args[0], "watches") != 0)
		return EX_USAGE;
	int ex = ctl_conn_call(ctl->socket, ctl->timeout, "status", NULL, &reply, msg, sizeof(msg));
	if (ex != 0)
		return ex;
	if (reply.error) {
		ctl_reply_done(&reply);
		return EX_UNAVAILABLE;
	}
	const cJSON *w, *t;
	cJSON_ArrayForEach(w, ctl_json_array(reply.result, "watches"))
	{
		const char *name = ctl_json_str(w, "name");
		/* Names go into the shell's completion: only the characters a name may have. */
		if (!targets && name && name_all(name, 1, 256, "-_./"))
			printf("%s\n", name);
		const cJSON *list = targets ? ctl_json_array(w, "targets") : NULL;
		cJSON_ArrayForEach(t, list)
		{
			name = ctl_json_str(t, "name");
			if (name && name_all(name, 1, 512, "-_./"))
				printf("%s\n", name);
		}
	}
	ctl_reply_done(&reply);
	return 0;
}

static const struct command commands[] = {
	{ "status", OPT_JSON, 0, 0, "status [--json]", run_status },
	{ "history", OPT_JSON | OPT_N, 0, 1, "history [WATCH|TARGET] [-n N] [--json]",
	  run_history },
	{ "pause", OPT_JSON | OPT_ALL | OPT_REASON | OPT_UNTIL, 0, 1,
	  "pause (WATCH|TARGET|--all) [--reason TEXT] [--until DURATION|TIME]", run_pause },
	{ "resume", OPT_JSON | OPT_ALL, 0, 1, "resume (WATCH|TARGET|--all)", run_resume },
	{ "pin", OPT_JSON | OPT_FORCE, 2, 2, "pin TARGET DIGEST|TAG [--force]", run_pin },
	{ "unpin", OPT_JSON, 1, 1, "unpin TARGET", run_unpin },
	{ "deploy", OPT_JSON | OPT_DIGEST | OPT_TARGET | OPT_FORCE, 1, 1,
	  "deploy WATCH [--digest DIGEST] [--target TARGET] [--force]", run_deploy },
	{ "rollback", OPT_JSON, 1, 1, "rollback TARGET", run_target_only },
	{ "retry", OPT_JSON, 2, 2, "retry TARGET DIGEST", run_retry },
	{ "approve", OPT_JSON, 1, 1, "approve TARGET", run_target_only },
	{ "reject", OPT_JSON, 1, 1, "reject TARGET", run_target_only },
	{ "reload", OPT_JSON, 0, 0, "reload", run_reload },
	{ "metrics", 0, 0, 0, "metrics", run_metrics },
	{ "version", OPT_JSON, 0, 0, "version", run_version },
	{ "__complete", 0, 1, 1, NULL, run_complete },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: ecr-deployctl [OPTIONS] COMMAND [ARGS]\n"
		     "Show and steer a running ecr-deployd through its control socket.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].synopsis)
			fprintf(out, "  %s\n", commands[i].synopsis);
	fprintf(out,
		"\nOptions:\n"
		"  -s, --socket PATH     the control socket (default $" SOCKET_ENV ", else\n"
		"                        " DEFAULT_SOCKET ")\n"
		"      --timeout SECONDS give up waiting for the daemon after this long (default "
		"%.0f)\n"
		"      --json            print the reply's result as JSON\n"
		"  -h, --help            show this help and exit\n"
		"      --version         show the version of ecr-deployctl and exit\n"
		"\nSee ecr-deployctl(8).\n",
		DEFAULT_TIMEOUT);
}

/* The commands closest to name (by a prefix or at most two edits), for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];
	if (la > 32 || lb >= 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int unknown_command(const char *name)
{
	char b[300];
	bool any = false;
	fail("unknown command '%s'", arg_esc(name, b, sizeof(b)));
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *c = commands[i].name;
		if (!commands[i].synopsis)
			continue;
		if (edit_distance(name, c) <= 2 || (*name && strncmp(c, name, strlen(name)) == 0)) {
			if (!any)
				fputs("did you mean:\n", stderr);
			fprintf(stderr, "  %s\n", c);
			any = true;
		}
	}
	fputs("Try 'ecr-deployctl --help'.\n", stderr);
	return EX_USAGE;
}

static bool parse_timeout(const char *s, double *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 86400)
		return false;
	*ret = v;
	return true;
}

static const char *opt_name(int c)
{
	switch (c) {
	case 'j':
		return "--json";
	case 'n':
		return "-n";
	case 'a':
		return "--all";
	case 'r':
		return "--reason";
	case 'u':
		return "--until";
	case 'f':
		return "--force";
	case 'd':
		return "--digest";
	case 't':
		return "--target";
	}
	return "?";
}

static unsigned opt_bit(int c)
{
	switch (c) {
	case 'j':
		return OPT_JSON;
	case 'n':
		return OPT_N;
	case 'a':
		return OPT_ALL;
	case 'r':
		return OPT_REASON;
	case 'u':
		return OPT_UNTIL;
	case 'f':
		return OPT_FORCE;
	case 'd':
		return OPT_DIGEST;
	case 't':
		return OPT_TARGET;
	}
	return 0;
}

/* The options and arguments after the command's name. */
static int parse_command(struct ctl *ctl, const struct command *cmd, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ "until", required_argument, NULL, 'u' },
		{ "force", no_argument, NULL, 'f' },
		{ "digest", required_argument, NULL, 'd' },
		{ "target", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char b[300];
	int c;
	optind = 0; /* a full restart of getopt for the command's own words */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return -1;
		case '?':
			if (optopt)
				return usage_error("%s: unknown option '-%c'", cmd->name, optopt);
			return usage_error("%s: unknown option '%s'", cmd->name,
					   arg_esc(argv[optind - 1], b, sizeof(b)));
		case ':':
			return usage_error("%s: option '%s' needs a value", cmd->name,
					   arg_esc(argv[optind - 1], b, sizeof(b)));
		default:
			break;
		}
		if (!(cmd->opts & opt_bit(c)))
			return usage_error("%s does not take %s", cmd->name, opt_name(c));
		ctl->given |= opt_bit(c);
		switch (c) {
		case 'j':
			ctl->json = true;
			break;
		case 'a':
			ctl->all = true;
			break;
		case 'f':
			ctl->force = true;
			break;
		case 'd':
			ctl->digest = optarg;
			break;
		case 't':
			ctl->target = optarg;
			break;
		case 'n': {
			char *end;
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || n < 1 || n > HISTORY_MAX)
				return usage_error("-n '%s': expected a number from 1 to %d",
						   arg_esc(optarg, b, sizeof(b)), HISTORY_MAX);
			ctl->n = n;
			break;
		}
		case 'r':
			if (strlen(optarg) > REASON_MAX)
				return usage_error("--reason is %zu bytes long; at most %d",
						   strlen(optarg), REASON_MAX);
			ctl->reason = optarg;
			break;
		case 'u': {
			const char *why;
			if (ctl_until_parse(optarg, wall_now(), &ctl->until, &why) < 0)
				return usage_error("--until '%s': %s",
						   arg_esc(optarg, b, sizeof(b)), why);
			break;
		}
		}
	}
	ctl->args = argv + optind;
	ctl->nargs = argc - optind;
	if (ctl->nargs < cmd->min_args || ctl->nargs > cmd->max_args) {
		if (!cmd->synopsis)
			return EX_USAGE;
		if (ctl->nargs > cmd->max_args)
			return usage_error("%s: unexpected argument '%s'; usage: %s", cmd->name,
					   arg_esc(ctl->args[cmd->max_args], b, sizeof(b)),
					   cmd->synopsis);
		return usage_error("%s: missing argument; usage: %s", cmd->name, cmd->synopsis);
	}
	for (int i = 0; i < ctl->nargs; i++)
		if (!*ctl->args[i])
			return usage_error("%s: an empty name", cmd->name);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .timeout = DEFAULT_TIMEOUT };
	const char *env = getenv(SOCKET_ENV);
	char b[300];
	int c;
	ctl.socket = env && *env ? env : DEFAULT_SOCKET;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return usage_error("--socket needs a path");
			ctl.socket = optarg;
			break;
		case 'T':
			if (!parse_timeout(optarg, &ctl.timeout))
				return usage_error(
				    "--timeout '%s': expected seconds, more than 0 and "
				    "at most 86400",
				    arg_esc(optarg, b, sizeof(b)));
			break;
		case 'j':
			ctl.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ecr-deployctl %s%s%s%s (protocol %d)\n", ECR_DEPLOYD_VERSION,
			       *ECR_DEPLOYD_REVISION ? " (" : "", ECR_DEPLOYD_REVISION,
			       *ECR_DEPLOYD_REVISION ? ")" : "", CTLPROTO_VERSION);
			return 0;
		case ':':
			return usage_error("option '%s' needs a value",
					   arg_esc(argv[optind - 1], b, sizeof(b)));
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'",
					   arg_esc(argv[optind - 1], b, sizeof(b)));
		}
	}
	if (optind >= argc)
		return usage_error("a command is needed");
	ctl.cmd = argv[optind];
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, ctl.cmd) == 0)
			cmd = &commands[i];
	if (!cmd)
		return unknown_command(ctl.cmd);
	int r = parse_command(&ctl, cmd, argc - optind, argv + optind);
	if (r != 0)
		return r < 0 ? 0 : r;
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	ctl.color = isatty(STDOUT_FILENO) && !(no_color && *no_color) &&
		    !(term && strcmp(term, "dumb") == 0);
	r = cmd->run(&ctl);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fail("writing the output: %s", strerror(errno));
		return r ? r : EX_IOERR;
	}
	return r;
}
