/* SPDX-License-Identifier: MIT */
/*
 * awscall: drives common/aws (SigV4, the credential chain, HTTP on libcurl
 * multi + libev, retries) from the command line, for the integration tests.
 *
 *   awscall [options] SERVICE OPERATION [JSON]
 *
 * SERVICE is ecr, ecs, sqs, codedeploy, events or dynamodb. Each call's outcome is one JSON
 * line on stdout: {"ok":true,"attempts":N,"request_id":…,"body":{…}} or
 * {"ok":false,"code":…,"legacy_code":…,"http_status":…,"transport":…,
 * "message":…,"attempts":N}. A summary goes to stderr. Exit status 0 when
 * every call succeeded, 1 when one failed, 2 on a usage error.
 */
#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "credentials.h"
#include "endpoint.h"
#include "http.h"
#include "profile.h"
#include "sigv4.h"

struct run {
	struct ev_loop *loop;
	struct aws_client *aws;
	struct cred_provider *creds;
	struct aws_call_spec spec;
	int parallel, repeat, started, done, ok, failed, max_in_flight;
	double interval;
	struct ev_timer next;
	const char *last_source;
};

static void print_result(const struct aws_result *res)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddBoolToObject(o, "ok", res->ok);
	cJSON_AddNumberToObject(o, "attempts", res->attempts);
	cJSON_AddStringToObject(o, "request_id", res->request_id);
	cJSON_AddNumberToObject(o, "http_version", (double)res->http_version);
	if (res->ok) {
		cJSON_AddItemReferenceToObject(o, "body", res->body);
	} else {
		cJSON_AddStringToObject(o, "code", res->err.code);
		cJSON_AddStringToObject(o, "legacy_code", res->err.legacy_code);
		cJSON_AddNumberToObject(o, "http_status", res->err.http_status);
		cJSON_AddNumberToObject(o, "transport", res->err.transport);
		cJSON_AddStringToObject(o, "message", res->err.message);
	}
	text = cJSON_PrintUnformatted(o);
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	cJSON_Delete(o);
}

static void start_one(struct run *r);

static void on_done(struct aws_result *res, void *userdata)
{
	struct run *r = userdata;
	const struct aws_credentials *c = cred_peek(r->spec.creds ? r->spec.creds : r->creds);

	print_result(res);
	if (c)
		r->last_source = c->source;
	r->done++;
	if (res->ok)
		r->ok++;
	else
		r->failed++;
	if (r->started < r->repeat) {
		ev_timer_set(&r->next, r->interval, 0.0);
		ev_timer_start(r->loop, &r->next);
	} else if (r->done == r->repeat) {
		/* A credential refresh timer may still be armed: stop here. */
		ev_break(r->loop, EVBREAK_ALL);
	}
}

static void on_next(struct ev_loop *loop, struct ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	start_one(t->data);
}

static void start_one(struct run *r)
{
	int e = aws_call(r->aws, &r->spec, on_done, r, NULL);

	r->started++;
	if (e < 0) {
		fprintf(stderr, "awscall: cannot start the call: %s\n", strerror(-e));
		r->done++;
		r->failed++;
		return;
	}
	if (aws_in_flight(r->aws) > r->max_in_flight)
		r->max_in_flight = aws_in_flight(r->aws);
}

static const struct aws_service *service_named(const char *n)
{
	if (!strcmp(n, "ecr"))
		return &aws_ecr;
	if (!strcmp(n, "ecs"))
		return &aws_ecs;
	if (!strcmp(n, "sqs"))
		return &aws_sqs;
	if (!strcmp(n, "codedeploy"))
		return &aws_codedeploy;
	if (!strcmp(n, "events"))
		return &aws_events;
	if (!strcmp(n, "dynamodb"))
		return &aws_dynamodb;
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: awscall [--region R] [--profile P] [--role-arn ARN] [--ca-bundle F]\n"
		"               [--endpoint URL] [--fips] [--http2] [--max-attempts N]\n"
		"               [--retry-base-ms N]\n"
		"               [--timeout-ms N] [--budget N] [--parallel N]\n"
		"               [--repeat N --interval-ms N] SERVICE OPERATION [JSON]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "profile", required_argument, NULL, 'p' },
		{ "role-arn", required_argument, NULL, 'R' },
		{ "ca-bundle", required_argument, NULL, 'C' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "fips", no_argument, NULL, 'F' },
		{ "http2", no_argument, NULL, '2' },
		{ "max-attempts", required_argument, NULL, 'm' },
		{ "retry-base-ms", required_argument, NULL, 'b' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "budget", required_argument, NULL, 'B' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct aws_options ao = { 0 };
	struct http_client_options ho = { 0 };
	struct run r = { .parallel = 1, .repeat = 1 };
	const char *region = NULL, *profile = NULL, *role = NULL, *endpoint = NULL, *why = NULL;
	char perr[512] = "", region_buf[64];
	cJSON *params = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			region = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'R':
			role = optarg;
			break;
		case 'C':
			ho.ca_bundle = optarg;
			break;
		case 'e':
			endpoint = optarg;
			break;
		case 'F':
			ao.fips = true;
			break;
		case '2':
			ho.http2 = true;
			break;
		case 'm':
			ao.max_attempts = atoi(optarg);
			break;
		case 'b':
			ao.retry_base_ms = atol(optarg);
			break;
		case 't':
			ao.timeout_ms = atol(optarg);
			break;
		case 'B':
			ao.retry_budget = atoi(optarg);
			break;
		case 'P':
			r.parallel = atoi(optarg);
			break;
		case 'n':
			r.repeat = atoi(optarg);
			break;
		case 'i':
			r.interval = atof(optarg) / 1000.0;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind < 2 || argc - optind > 3 || !service_named(argv[optind])) {
		usage();
		return 2;
	}
	if (argc - optind == 3 && !(params = cJSON_Parse(argv[optind + 2]))) {
		fprintf(stderr, "awscall: the parameters are not JSON\n");
		return 2;
	}
	/* Region: option, AWS_REGION, AWS_DEFAULT_REGION, the profile. */
	const char *region_source = NULL;
	if (profile_region(region, profile, region_buf, sizeof(region_buf), &region_source, perr,
			   sizeof(perr)) < 0) {
		fprintf(stderr, "awscall: %s\n", perr);
		return 2;
	}
	region = region_buf;
	ao.region = region;
	r.loop = ev_default_loop(0);
	struct http_client *http = http_client_new(r.loop, &ho);
	struct sigv4_signer *signer = sigv4_signer_new();
	struct cred_options co = { r.loop, http, signer, profile, region, NULL, 100 };
	r.creds = cred_chain_new(&co);
	struct cred_provider *assumed =
	    role ? cred_assume_role_new(r.creds, role, NULL, &co) : NULL;
	const struct aws_service *svc = service_named(argv[optind]);
	if (endpoint)
		ao.endpoints[svc->id] = endpoint;
	r.aws = aws_client_new(r.loop, http, signer, r.creds, &ao, &why);
	if (!http || !signer || !r.creds || !r.aws || (role && !assumed)) {
		fprintf(stderr, "awscall: cannot set up: %s\n", why ? why : "out of memory");
		return 1;
	}
	r.spec = (struct aws_call_spec){
		.service = svc, .operation = argv[optind + 1], .params = params, .creds = assumed
	};
	ev_timer_init(&r.next, on_next, 0.0, 0.0);
	r.next.data = &r;
	if (r.repeat < r.parallel)
		r.repeat = r.parallel;
	for (int i = 0; i < r.parallel; i++)
		start_one(&r);
	ev_run(r.loop, 0);

	fprintf(stderr,
		"awscall: %d ok, %d failed, max_in_flight=%d, connections=%ld, skew=%ld, "
		"budget=%d, credentials=%s\n",
		r.ok, r.failed, r.max_in_flight, http_connections_opened(http),
		aws_clock_skew(r.aws), aws_retry_budget(r.aws),
		r.last_source ? r.last_source : "(none)");
	aws_client_free(r.aws);
	cred_provider_free(assumed);
	cred_provider_free(r.creds);
	sigv4_signer_free(signer);
	http_client_free(http);
	cJSON_Delete(params);
	ev_loop_destroy(r.loop);
	return r.failed ? 1 : 0;
}
