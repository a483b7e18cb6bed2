/* SPDX-License-Identifier: MIT */
/* The metrics: AWS outcomes, label escaping, the exposition's shape, the file. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws.h"
#include "config.h"
#include "history.h"
#include "metrics.h"
#include "strbuf.h"
#include "unit.h"

#define DIGEST_HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct aws_result result(bool ok, int status, int transport, const char *code)
{
	struct aws_result r = { .service = &aws_ecr, .operation = "DescribeImages", .ok = ok };

	r.err.http_status = status;
	r.err.transport = transport;
	snprintf(r.err.code, sizeof(r.err.code), "%s", code);
	return r;
}

TEST(metrics_aws_outcome)
{
	static const struct {
		bool ok;
		int status, transport;
		const char *code, *want;
	} rows[] = {
		{ true, 200, 0, "", "ok" },
		{ false, 400, 0, "ThrottlingException", "throttled" },
		{ false, 429, 0, "HTTP429", "throttled" },
		{ false, 0, -ETIMEDOUT, "RequestTimeout", "timeout" },
		{ false, 408, 0, "RequestTimeoutException", "timeout" },
		{ false, 0, -ECONNREFUSED, "ConnectionError", "network" },
		{ false, 0, -ECONNRESET, "ConnectionError", "network" },
		{ false, 500, 0, "InternalError", "server_error" },
		{ false, 503, 0, "HTTP503", "server_error" },
		{ false, 400, 0, "AccessDeniedException", "auth" },
		{ false, 403, 0, "HTTP403", "auth" },
		{ false, 400, 0, "RepositoryNotFoundException", "client_error" },
		{ false, 400, 0, "InvalidParameterException", "client_error" },
		{ false, 200, 0, "MalformedResponse", "malformed" },
		{ false, 0, -ENOENT, "CredentialsError", "credentials" },
		{ false, 0, -ENOMEM, "SigningError", "credentials" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_result r =
		    result(rows[i].ok, rows[i].status, rows[i].transport, rows[i].code);
		CHECK_STR(aws_outcome_name(aws_outcome_of(&r)), rows[i].want);
	}
	CHECK_STR(aws_outcome_name(AWS_OUTCOME_COUNT), "unknown");
}

TEST(metrics_escape_label)
{
	static const struct {
		const char *in, *want;
	} rows[] = {
		{ "web", "web" },
		{ "a\\b", "a\\\\b" },
		{ "say \"hi\"", "say \\\"hi\\\"" },
		{ "two\nlines", "two\\nlines" },
		{ "tab\there", "tab?here" },
		{ "caf\xc3\xa9", "caf??" },
		{ "", "" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct strbuf sb;
		strbuf_init(&sb, 1024);
		CHECK_INT(metrics_escape_label(&sb, rows[i].in), 0);
		CHECK_STR(strbuf_str(&sb), rows[i].want);
		strbuf_done(&sb);
	}
}

/* How many lines of text start with prefix. */
static int lines_starting(const char *text, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n += !strncmp(p, prefix, len);
	return n;
}

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, line, len) && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

static struct metrics *sample_metrics(void)
{
	struct metrics_deps deps = { .version = "0.1.0",
				     .revision = "abc\"def",
				     .start_time = 1000 };
	struct metrics *m = metrics_new(&deps);
	struct aws_result ok = result(true, 200, 0, "");
	struct aws_result thr = result(false, 400, 0, "ThrottlingException");
	struct history_entry e1 = { .watch = "web",
				    .target = "web/web",
				    .digest = "sha256:x",
				    .result = HISTORY_COMPLETED,
				    .started = 100,
				    .ended = 145 };
	struct history_entry e2 = { .watch = "web",
				    .target = "web/web",
				    .digest = "sha256:y",
				    .result = HISTORY_COMPLETED,
				    .started = 100,
				    .ended = 5000 };
	struct history_entry e3 = { .watch = "odd",
				    .target = "odd/a\\b",
				    .digest = "sha256:z",
				    .result = HISTORY_ROLLED_BACK,
				    .started = 100,
				    .ended = 110 };

	ok.attempts = 1;
	thr.attempts = 3;
	metrics_aws_observer(&ok, m);
	metrics_aws_observer(&ok, m);
	metrics_aws_observer(&thr, m);
	metrics_poll(m, "team/web", "us-east-1", true);
	metrics_poll(m, "team/web", "us-east-1", false);
	metrics_poll(m, "team/api", "eu-west-1", true);
	metrics_event_messages(m, "https://sqs.us-east-1.amazonaws.com/123456789012/q", 3);
	metrics_cycle_done(m, true, 2000.5);
	metrics_cycle_done(m, false, 2060);
	metrics_rollout_ended(m, &e1);
	metrics_rollout_ended(m, &e2);
	metrics_rollout_ended(m, &e3);
	return m;
}

TEST(metrics_render)
{
	struct metrics *m = sample_metrics();
	struct strbuf sb;
	const char *t;

	strbuf_init(&sb, 1 << 20);
	CHECK_INT(metrics_render(m, &sb), 0);
	t = strbuf_str(&sb);
	CHECK(has_line(t, "ecr_deployd_info{version=\"0.1.0\",revision=\"abc\\\"def\"} 1"));
	CHECK(has_line(t, "ecr_deployd_start_time_seconds 1000"));
	CHECK(has_line(t, "ecr_deployd_poll_cycles_total 2"));
	CHECK(has_line(t, "ecr_deployd_last_successful_poll_timestamp_seconds 2000.5"));
	CHECK(
	    has_line(t, "ecr_deployd_polls_total{repository=\"team/web\",region=\"us-east-1\"} 2"));
	CHECK(has_line(t,
		       "ecr_deployd_poll_failures_total{repository=\"team/web\",region=\"us-east-"
		       "1\"} 1"));
	CHECK(has_line(t,
		       "ecr_deployd_poll_failures_total{repository=\"team/api\",region=\"eu-west-"
		       "1\"} 0"));
	CHECK(has_line(t, "ecr_deployd_aws_requests_total{service=\"ecr\",operation="
			  "\"DescribeImages\",outcome=\"ok\"} 2"));
	CHECK(has_line(t, "ecr_deployd_aws_requests_total{service=\"ecr\",operation="
			  "\"DescribeImages\",outcome=\"throttled\"} 1"));
	CHECK(has_line(t, "ecr_deployd_aws_retries_total{service=\"ecr\",operation="
			  "\"DescribeImages\"} 2"));
	CHECK(has_line(t, "ecr_deployd_deploys_total{watch=\"web\",target=\"web/web\",result="
			  "\"completed\"} 2"));
	CHECK(has_line(t, "ecr_deployd_deploys_total{watch=\"odd\",target=\"odd/a\\\\b\",result="
			  "\"rolled-back\"} 1"));
	CHECK(has_line(t,
		       "ecr_deployd_events_messages_total{queue=\"https://sqs.us-east-1.amazonaws."
		       "com/123456789012/q\"} 3"));
	/* Cumulative buckets: 45 s falls in le=60 and above, 4900 s only in +Inf. */
	CHECK(has_line(t, "ecr_deployd_rollout_duration_seconds_bucket{result=\"completed\",le="
			  "\"30\"} 0"));
	CHECK(has_line(t, "ecr_deployd_rollout_duration_seconds_bucket{result=\"completed\",le="
			  "\"60\"} 1"));
	CHECK(has_line(t, "ecr_deployd_rollout_duration_seconds_bucket{result=\"completed\",le="
			  "\"3600\"} 1"));
	CHECK(has_line(t, "ecr_deployd_rollout_duration_seconds_bucket{result=\"completed\",le="
			  "\"+Inf\"} 2"));
	CHECK(has_line(t, "ecr_deployd_rollout_duration_seconds_count{result=\"completed\"} 2"));
	CHECK(has_line(t, "ecr_deployd_rollout_duration_seconds_sum{result=\"completed\"} 4945"));
	CHECK(has_line(t, "ecr_deployd_rollout_duration_seconds_bucket{result=\"rolled-back\",le="
			  "\"10\"} 1"));
	/* Every family is described once, and its samples follow it. */
	CHECK_INT(lines_starting(t, "# TYPE ecr_deployd_polls_total counter"), 1);
	CHECK_INT(lines_starting(t, "# HELP ecr_deployd_polls_total "), 1);
	CHECK_INT(lines_starting(t, "# TYPE ecr_deployd_rollout_duration_seconds histogram"), 1);
	CHECK_INT(lines_starting(t, "# TYPE "), lines_starting(t, "# HELP "));
	/* Nothing known of the retry budget, the state or the targets: left out, not made up. */
	CHECK_INT(lines_starting(t, "# TYPE ecr_deployd_aws_retry_budget_tokens"), 0);
	CHECK_INT(lines_starting(t, "# TYPE ecr_deployd_target_"), 0);
	CHECK(t[sb.len - 1] == '\n');
	strbuf_done(&sb);
	metrics_free(m);
	metrics_free(NULL);
	metrics_poll(NULL, "x", "y", true); /* the hooks of an absent metrics are no-ops */
}

TEST(metrics_write_file)
{
	char dir[] = "/tmp/ecr-metrics-XXXXXX", path[200], why[600] = "";
	struct metrics *m = sample_metrics();
	struct stat st;
	struct strbuf want;
	FILE *f;
	char got[1 << 16];
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ecr-deployd.prom", dir);
	CHECK_INT(metrics_write_file(m, path, why, sizeof(why)), 0);
	CHECK_INT(metrics_write_file(m, path, why, sizeof(why)), 0); /* replaces it */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
	strbuf_init(&want, 1 << 20);
	metrics_render(m, &want);
	f = fopen(path, "r");
	CHECK(f != NULL);
	n = f ? fread(got, 1, sizeof(got), f) : 0;
	if (f)
		fclose(f);
	CHECK_INT(n, want.len);
	CHECK(n == want.len && !memcmp(got, want.buf, n));
	strbuf_done(&want);
	/* No temporary file is left beside it. */
	DIR *d = opendir(dir);
	int entries = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	CHECK_INT(entries, 1);
	/* A directory that does not exist: the error names the path. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/missing/x.prom", dir);
	CHECK(metrics_write_file(m, bad, why, sizeof(why)) == -ENOENT);
	CHECK(strstr(why, bad) != NULL);
	unlink(path);
	rmdir(dir);
	metrics_free(m);
}

/* A target callback as daemon.c's: web/web known, with an odd task definition from AWS; web/api
 * unknown. */
static void fake_target(const struct config_watch *w, const struct config_target *t,
			struct metrics_target *ret, void *userdata)
{
	(void)w;
	(void)userdata;
	if (strcmp(t->service, "web"))
		return;
	ret->deployed = "sha256:" DIGEST_HEX;
	ret->task_definition = "arn:aws:ecs:us-east-1:1:task-definition/w\"eb\\:7\n";
	ret->blocked = 1;
	ret->paused = 0;
	ret->pinned = 0;
}

TEST(metrics_render_targets)
{
	struct config_target targets[] = { { .cluster = "prod", .service = "web" },
					   { .cluster = "prod", .service = "arn:x/api" } };
	struct config_watch watch = { .name = "web", .targets = targets, .n_targets = 2 };
	struct config cfg = { .watches = &watch, .n_watches = 1 };
	struct config *cfgp = &cfg;
	struct metrics_deps deps = { .cfg = &cfgp, .target = fake_target };
	struct metrics *m = metrics_new(&deps);
	struct strbuf sb;
	const char *t;

	strbuf_init(&sb, 1 << 20);
	CHECK_INT(metrics_render(m, &sb), 0);
	t = strbuf_str(&sb);
	CHECK(has_line(
	    t, "ecr_deployd_target_deployed_info{target=\"web/web\",digest=\"sha256:" DIGEST_HEX
	       "\",task_definition=\"arn:aws:ecs:us-east-1:1:task-definition/w\\\"eb\\\\:"
	       "7\\n\"} 1"));
	CHECK(has_line(t, "ecr_deployd_target_blocked{target=\"web/web\"} 1"));
	CHECK(has_line(t, "ecr_deployd_target_paused{target=\"web/web\"} 0"));
	/* Nothing known of web/api: no series rather than a made-up 0. */
	CHECK(!strstr(t, "target=\"web/api\""));
	CHECK_INT(lines_starting(t, "# TYPE ecr_deployd_target_pinned gauge"), 1);
	strbuf_done(&sb);
	metrics_free(m);
}

TEST(metrics_aws_counts_exact_past_the_kept_series)
{
	/* Replies of 40 operations x 2 outcomes, round after round, the operation's name written
	 * each time in the same buffer (the name's bytes, not its address, say which series): every
	 * series counts exactly its own replies and retries, far past the series kept by name. */
	struct metrics_deps deps = { .version = "0.1.0", .revision = "r", .start_time = 1 };
	struct metrics *m = metrics_new(&deps);
	struct strbuf sb;
	char op[64], line[256];

	CHECK(m != NULL);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 40; i++) {
			struct aws_result ok = result(true, 200, 0, "");
			struct aws_result thr = result(false, 400, 0, "ThrottlingException");
			snprintf(op, sizeof(op), "Operation%02d", i);
			ok.operation = thr.operation = op;
			ok.attempts = 1;
			thr.attempts = 1 + i % 3;
			for (int k = 0; k <= i % 4; k++)
				metrics_aws_observer(&ok, m);
			metrics_aws_observer(&thr, m);
		}
	strbuf_init(&sb, 1 << 20);
	CHECK_INT(metrics_render(m, &sb), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(
		    line, sizeof(line),
		    "ecr_deployd_aws_requests_total{service=\"ecr\",operation=\"Operation%02d\","
		    "outcome=\"ok\"} %d",
		    i, 3 * (i % 4 + 1));
		CHECK(has_line(strbuf_str(&sb), line));
		snprintf(
		    line, sizeof(line),
		    "ecr_deployd_aws_requests_total{service=\"ecr\",operation=\"Operation%02d\","
		    "outcome=\"throttled\"} 3",
		    i);
		CHECK(has_line(strbuf_str(&sb), line));
		snprintf(
		    line, sizeof(line),
		    "ecr_deployd_aws_retries_total{service=\"ecr\",operation=\"Operation%02d\"} %d",
		    i, 3 * (i % 3));
		CHECK(has_line(strbuf_str(&sb), line));
	}
	strbuf_done(&sb);
	metrics_free(m);
}
