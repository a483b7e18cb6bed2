/* SPDX-License-Identifier: MIT */
/*
 * leasecall: one instance of the HA lease (daemon/lease + daemon/ddb) on its own, for the
 * integration tests of the lease against the simulator, without the rest of the daemon.
 *
 *   leasecall --table T --instance I [--group G] [--lease-ms N] [--region R]
 *             [--probe-ms N] [--role-arn ARN]
 *
 * Every change is one JSON line on stdout, with "mono" the CLOCK_MONOTONIC ms (shared by the
 * processes of a host, so that a test can order the lines of several instances):
 * {"mono":…,"event":"change","role":…,"leader":…,"term":…,"version":…} at every on_change,
 * {"event":"leading"} at on_leading, {"event":"lost"} at on_lost (then exit status 3).
 * --probe-ms: every N ms a fenced ddb_write of the item "g/probe-<instance>" and an ECS
 * UpdateService through the gated AWS client: {"event":"probe","write":-errno,"why":…,
 * "ecs":"<code or ok>"}. SIGTERM: lease_release(), {"event":"released","r":-errno}, exit 0.
 * Endpoints and credentials as the daemon's (AWS_ENDPOINT_URL…, AWS_ACCESS_KEY_ID…).
 */
#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "credentials.h"
#include "ddb.h"
#include "http.h"
#include "lease.h"
#include "profile.h"
#include "sigv4.h"

struct tool {
	struct ev_loop *loop;
	struct aws_client *aws;
	struct ddb *t;
	struct lease *l;
	char instance[DDB_INSTANCE_MAX + 1];
	int probes;
	int exit_status;
	struct ev_timer probe;
	struct ev_signal term;
	struct aws_call *ecs;
};

static long long mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints o as one line (consumed), with "mono" first. */
static void emit(cJSON *o)
{
	cJSON *line = cJSON_CreateObject();
	cJSON *it;

	cJSON_AddNumberToObject(line, "mono", (double)mono());
	while ((it = o->child)) {
		cJSON_DetachItemViaPointer(o, it);
		cJSON_AddItemToObject(line, it->string, it);
	}
	char *s = cJSON_PrintUnformatted(line);
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
	}
	free(s);
	cJSON_Delete(line);
	cJSON_Delete(o);
}

static void on_change(void *ud)
{
	struct tool *tl = ud;
	cJSON *o = cJSON_CreateObject();
	const char *leader = lease_leader(tl->l);

	cJSON_AddStringToObject(o, "event", "change");
	cJSON_AddStringToObject(o, "role", lease_role_name(lease_role(tl->l)));
	if (leader)
		cJSON_AddStringToObject(o, "leader", leader);
	else
		cJSON_AddNullToObject(o, "leader");
	cJSON_AddNumberToObject(o, "term", (double)lease_term(tl->l));
	cJSON_AddNumberToObject(o, "version", (double)lease_version(tl->l));
	cJSON_AddNumberToObject(o, "since", (double)lease_leader_since(tl->l));
	emit(o);
}

static void on_leading(void *ud)
{
	struct tool *tl = ud;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "event", "leading");
	cJSON_AddNumberToObject(o, "term", (double)lease_term(tl->l));
	cJSON_AddStringToObject(o, "previous", lease_previous_owner(tl->l));
	emit(o);
}

static void on_lost(void *ud)
{
	struct tool *tl = ud;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "event", "lost");
	emit(o);
	tl->exit_status = 3;
	ev_break(tl->loop, EVBREAK_ALL);
}

static void on_ecs(struct aws_result *res, void *ud)
{
	struct tool *tl = ud;
	cJSON *o = cJSON_CreateObject();

	tl->ecs = NULL;
	cJSON_AddStringToObject(o, "event", "ecs");
	cJSON_AddStringToObject(o, "code", res->ok ? "ok" : res->err.code);
	emit(o);
}

static void on_probe(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	struct tool *tl = t->data;
	char sk[160], doc[200], why[700] = "";
	cJSON *o = cJSON_CreateObject();
	int r;

	(void)loop;
	(void)revents;
	snprintf(sk, sizeof(sk), "g/probe-%s", tl->instance);
	snprintf(doc, sizeof(doc), "{\"instance\":\"%s\",\"n\":%d}", tl->instance, ++tl->probes);
	struct ddb_write w = { sk, doc, 0 };
	r = ddb_write(tl->t, &w, 1, why, sizeof(why));
	cJSON_AddStringToObject(o, "event", "probe");
	cJSON_AddNumberToObject(o, "write", r);
	cJSON_AddStringToObject(o, "why", why);
	cJSON_AddStringToObject(o, "role", lease_role_name(lease_role(tl->l)));
	cJSON_AddBoolToObject(o, "may_act", lease_may_act(tl->l));
	emit(o);
	if (!tl->ecs) {
		struct aws_call_spec spec = { .service = &aws_ecs, .operation = "UpdateService" };
		cJSON *params = cJSON_Parse("{\"cluster\":\"probe\",\"service\":\"probe\"}");
		spec.params = params;
		if (aws_call(tl->aws, &spec, on_ecs, tl, &tl->ecs) < 0)
			tl->ecs = NULL;
		cJSON_Delete(params);
	}
}

static void on_term(struct ev_loop *loop, struct ev_signal *s, int revents)
{
	struct tool *tl = s->data;
	cJSON *o = cJSON_CreateObject();
	long long t0 = mono();
	int r;

	(void)revents;
	r = lease_release(tl->l);
	cJSON_AddStringToObject(o, "event", "released");
	cJSON_AddNumberToObject(o, "r", r);
	cJSON_AddNumberToObject(o, "took_ms", (double)(mono() - t0));
	emit(o);
	ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "table", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'g' },
		{ "instance", required_argument, NULL, 'i' },
		{ "lease-ms", required_argument, NULL, 'l' },
		{ "region", required_argument, NULL, 'r' },
		{ "probe-ms", required_argument, NULL, 'p' },
		{ "role-arn", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct tool tl = { 0 };
	struct aws_options ao = { 0 };
	struct http_client_options ho = { 0 };
	const char *table = NULL, *group = "ecr-deployd", *region = NULL, *role = NULL, *why = NULL;
	long lease_ms = 20000, probe_ms = 0;
	char region_buf[64], perr[512] = "", err[512] = "";
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			table = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'i':
			snprintf(tl.instance, sizeof(tl.instance), "%s", optarg);
			break;
		case 'l':
			lease_ms = atol(optarg);
			break;
		case 'r':
			region = optarg;
			break;
		case 'p':
			probe_ms = atol(optarg);
			break;
		case 'R':
			role = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: leasecall --table T --instance I [--group G] "
				"[--lease-ms N] [--region R] [--probe-ms N] [--role-arn ARN]\n");
			return 2;
		}
	}
	if (!table || !*tl.instance) {
		fprintf(stderr, "leasecall: --table and --instance are required\n");
		return 2;
	}
	const char *region_source = NULL;
	if (profile_region(region, NULL, region_buf, sizeof(region_buf), &region_source, perr,
			   sizeof(perr)) < 0) {
		fprintf(stderr, "leasecall: %s\n", perr);
		return 2;
	}
	ao.region = region_buf;
	tl.loop = ev_default_loop(0);
	struct http_client *http = http_client_new(tl.loop, &ho);
	struct sigv4_signer *signer = sigv4_signer_new();
	struct cred_options co = { tl.loop, http, signer, NULL, region_buf, NULL, 100 };
	struct cred_provider *creds = cred_chain_new(&co);
	tl.aws = creds ? aws_client_new(tl.loop, http, signer, creds, &ao, &why) : NULL;
	if (!tl.aws) {
		fprintf(stderr, "leasecall: cannot set up: %s\n", why ? why : "out of memory");
		return 1;
	}
	struct ddb_options o = { .loop = tl.loop,
				 .aws = tl.aws,
				 .http = http,
				 .signer = signer,
				 .creds = creds,
				 .aws_options = &ao,
				 .http_options = &ho,
				 .table = table,
				 .region = region,
				 .role_arn = role,
				 .group = group };
	r = ddb_new(&o, &tl.t, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "leasecall: %s\n", err);
		return 1;
	}
	struct lease_options lo = { .loop = tl.loop,
				    .ddb = tl.t,
				    .instance = tl.instance,
				    .host = tl.instance,
				    .lease_ms = (uint64_t)lease_ms,
				    .on_leading = on_leading,
				    .on_lost = on_lost,
				    .on_change = on_change,
				    .userdata = &tl };
	r = lease_new(&lo, &tl.l, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "leasecall: %s\n", err);
		return 1;
	}
	aws_client_set_gate(tl.aws, lease_gate, tl.l);
	ev_signal_init(&tl.term, on_term, SIGTERM);
	tl.term.data = &tl;
	ev_signal_start(tl.loop, &tl.term);
	if (probe_ms > 0) {
		ev_timer_init(&tl.probe, on_probe, (double)probe_ms / 1000.0,
			      (double)probe_ms / 1000.0);
		tl.probe.data = &tl;
		ev_timer_start(tl.loop, &tl.probe);
	}
	lease_start(tl.l);
	ev_run(tl.loop, 0);

	ev_timer_stop(tl.loop, &tl.probe);
	ev_signal_stop(tl.loop, &tl.term);
	aws_call_cancel(tl.ecs);
	lease_free(tl.l);
	ddb_free(tl.t);
	aws_client_free(tl.aws);
	cred_provider_free(creds);
	sigv4_signer_free(signer);
	http_client_free(http);
	return tl.exit_status;
}
