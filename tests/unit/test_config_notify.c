/* SPDX-License-Identifier: MIT */
/*
 * config/: the notify[] sinks (issue 17). Failing rows with their exact errors, the defaults and
 * names, url_file and secret_file read from disk (and their warnings), the summary; and that a
 * URL (which holds a token) appears in no error, warning or summary.
 */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "duration.h"
#include "secmem.h"

#define TOKEN "T0KEN-s3cr3t"

struct bad_row {
	const char *label;
	const char *text;
	const char *errors[8];
};

static const struct bad_row bad_rows[] = {
	{ "not a list",
	  "{\"notify\": {}}",
	  { "t.json:1:12: notify: an object is not allowed here: expected a list of sinks",
	    NULL } },
	{ "no type",
	  "{\"notify\": [{\"url\": \"https://h.example/" TOKEN "\"}]}",
	  { "t.json:1:13: notify[0]: a sink needs 'type': one of 'webhook', 'slack', "
	    "'eventbridge'",
	    NULL } },
	{ "bad type",
	  "{\"notify\": [{\"type\": \"email\"}]}",
	  { "t.json:1:22: notify[0].type: 'email' is not allowed here: one of 'webhook', 'slack', "
	    "'eventbridge'",
	    NULL } },
	{ "no url",
	  "{\"notify\": [{\"type\": \"webhook\"}]}",
	  { "t.json:1:13: notify[0]: a webhook sink needs 'url' or 'url_file'", NULL } },
	{ "url and url_file",
	  "{\"notify\": [{\"type\": \"slack\", \"url\": \"https://h.example/" TOKEN
	  "\", \"url_file\": \"/nonexistent/u\"}]}",
	  { "t.json:1:13: notify[0]: 'url' and 'url_file' are both set; keep one", NULL } },
	{ "url on eventbridge",
	  "{\"notify\": [{\"type\": \"eventbridge\", \"url\": \"https://h.example/" TOKEN "\"}]}",
	  { "t.json:1:37: notify[0].url: 'url' is not allowed for an eventbridge sink", NULL } },
	{ "bus on webhook",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"https://h.example/" TOKEN
	  "\", \"event_bus\": \"b\", \"secret_file\": \"x\"}]}",
	  { "t.json:1:74: notify[0].event_bus: 'event_bus' is not allowed for a webhook sink",
	    "t.json:1:107: notify[0].secret_file: 'x' must be an absolute path", NULL } },
	{ "long host",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"https://"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "a"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "a"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "a/" TOKEN "\"}]}",
	  { "t.json:1:40: notify[0].url: the URL has a host name longer than 255 characters",
	    NULL } },
	{ "secret on slack",
	  "{\"notify\": [{\"type\": \"slack\", \"url\": \"https://h.example/" TOKEN
	  "\", \"secret_file\": \"/x\"}]}",
	  { "t.json:1:72: notify[0].secret_file: 'secret_file' is not allowed for a slack sink",
	    NULL } },
	{ "http to a remote host",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"http://hooks.example.com/" TOKEN
	  "\"}]}",
	  { "t.json:1:40: notify[0].url: the URL to 'hooks.example.com' uses http://, which is "
	    "allowed only to 127.0.0.1, ::1 or localhost (the URL holds a token: use https://)",
	    NULL } },
	{ "credentials",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"https://u:" TOKEN "@h.example/x\"}]}",
	  { "t.json:1:40: notify[0].url: the URL holds credentials (user:password@, not shown); "
	    "put no credentials in it",
	    NULL } },
	{ "not a URL",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"ftp://h.example/" TOKEN "\"}]}",
	  { "t.json:1:40: notify[0].url: the URL is not an https:// URL", NULL } },
	{ "no host",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"https:///" TOKEN "\"}]}",
	  { "t.json:1:40: notify[0].url: the URL names no host", NULL } },
	{ "control character",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"https://h.example/" TOKEN "\\t\"}]}",
	  { "t.json:1:40: notify[0].url: the URL to 'h.example' holds a space or a control "
	    "character",
	    NULL } },
	{ "bad port",
	  "{\"notify\": [{\"type\": \"webhook\", \"url\": \"https://h.example:99999/" TOKEN "\"}]}",
	  { "t.json:1:40: notify[0].url: the URL has a port that is not a number from 1 to 65535",
	    NULL } },
	{ "unknown kind",
	  "{\"notify\": [{\"type\": \"slack\", \"url\": \"https://h.example/" TOKEN
	  "\", \"events\": [\"deploy-done\"]}]}",
	  { "t.json:1:83: notify[0].events[0]: 'deploy-done' is not an event kind: one of "
	    "deploy-started, deploy-completed, deploy-failed, rolled-back, rollback-failed, "
	    "awaiting-approval, blocked, watch-failing",
	    NULL } },
	{ "bounds",
	  "{\"notify\": [{\"type\": \"eventbridge\", \"max_age\": \"30s\", \"timeout\": \"2m\", "
	  "\"concurrency\": 17, \"max_pending\": 0, \"min_severity\": \"fatal\", "
	  "\"failing_after\": \"9s\"}]}",
	  { "t.json:1:48: notify[0].max_age: '30s' is out of bounds: from 1m to 7d",
	    "t.json:1:66: notify[0].timeout: '2m' is out of bounds: from 1s to 1m",
	    "t.json:1:87: notify[0].concurrency: 17 is not allowed here: expected a whole number "
	    "from 1 to 16",
	    "t.json:1:106: notify[0].max_pending: 0 is not allowed here: expected a whole number "
	    "from 1 to 100000",
	    "t.json:1:125: notify[0].min_severity: 'fatal' is not allowed here: one of 'info', "
	    "'warning', 'error'",
	    "t.json:1:151: notify[0].failing_after: '9s' is out of bounds: from 10s to 7d",
	    NULL } },
	{ "eventbridge keys",
	  "{\"notify\": [{\"type\": \"eventbridge\", \"event_bus\": \"a b\", \"region\": \"moon\", "
	  "\"role_arn\": \"arn:aws:iam::1:role/x\"}]}",
	  { "t.json:1:50: notify[0].event_bus: 'a b' is not an event bus name or ARN",
	    "t.json:1:67: notify[0].region: 'moon' is not an AWS region name (like 'us-east-1')",
	    "t.json:1:87: notify[0].role_arn: 'arn:aws:iam::1:role/x' is not an IAM role ARN "
	    "(arn:aws:iam::123456789012:role/name)",
	    NULL } },
	{ "names",
	  "{\"notify\": [{\"type\": \"eventbridge\", \"name\": \"a b\"}, {\"type\": "
	  "\"eventbridge\", \"name\": \"x\"}, {\"type\": \"eventbridge\", \"name\": \"x\"}]}",
	  { "t.json:1:45: notify[0].name: 'a b' is not a sink name (1 to 64 letters, digits, '_', "
	    "'.' and '-', starting with a letter or digit)",
	    "t.json:1:123: notify[2].name: the sink name 'x' is already used by notify[1]",
	    NULL } },
	{ "bus name with a slash",
	  "{\"notify\": [{\"type\": \"eventbridge\", \"event_bus\": \"a/b\"}]}",
	  { "t.json:1:50: notify[0].event_bus: 'a/b' is not an event bus name or ARN", NULL } },
	{ "services",
	  "{\"notify\": [{\"type\": \"eventbridge\", \"services\": [\"a/b/c\"]}]}",
	  { "t.json:1:50: notify[0].services[0]: 'a/b/c' is not a service ('service' or "
	    "'cluster/service')",
	    NULL } },
};

/* Whether the token of the rows' URLs is in any text of errs. */
static bool token_in(const struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		if (strstr(errs->items[i].text, TOKEN))
			return true;
	return false;
}

TEST(config_notify_rejects_with_exact_messages)
{
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		const struct bad_row *row = &bad_rows[i];
		struct config_errors errs = { 0 };
		struct config *cfg = NULL;
		size_t want = 0;
		int r = config_parse_text("t.json", row->text, strlen(row->text), &cfg, &errs);

		while (want < 8 && row->errors[want])
			want++;
		if (r != -EINVAL || cfg)
			unit_fail(__FILE__, __LINE__, "%s: accepted (r=%d)", row->label, r);
		if (errs.n != want)
			unit_fail(__FILE__, __LINE__, "%s: %zu errors, want %zu (first: %s)",
				  row->label, errs.n, want, errs.n ? errs.items[0].text : "-");
		for (size_t k = 0; k < errs.n && k < want; k++)
			if (strcmp(errs.items[k].text, row->errors[k]))
				unit_fail(__FILE__, __LINE__, "%s:\n  got  %s\n  want %s",
					  row->label, errs.items[k].text, row->errors[k]);
		if (token_in(&errs))
			unit_fail(__FILE__, __LINE__, "%s: an error shows the URL", row->label);
		config_errors_done(&errs);
		config_free(cfg);
	}
}

TEST(config_notify_defaults_and_names)
{
	static const char text[] =
	    "{\"notify\": [\n"
	    " {\"type\": \"webhook\", \"url\": \"https://hooks.example.com:8443/d/" TOKEN "\"},\n"
	    " {\"type\": \"webhook\", \"url\": \"http://127.0.0.1:9/" TOKEN "\",\n"
	    "  \"events\": [\"deploy-started\", \"blocked\"], \"services\": [\"prod/web\", "
	    "\"api\"],\n"
	    "  \"min_severity\": \"warning\", \"max_age\": \"2h\", \"timeout\": \"30s\",\n"
	    "  \"failing_after\": \"1h\", \"concurrency\": 4, \"max_pending\": 10},\n"
	    " {\"type\": \"slack\", \"url\": \"http://[::1]:80/" TOKEN "\"},\n"
	    " {\"type\": \"webhook\", \"name\": \"ci\", \"url\": \"http://localhost/" TOKEN "\"},\n"
	    " {\"type\": \"eventbridge\", \"event_bus\": "
	    "\"arn:aws:events:eu-west-1:123456789012:event-bus/deploys\",\n"
	    "  \"region\": \"eu-west-1\", \"role_arn\": \"arn:aws:iam::123456789012:role/x\"}\n"
	    "]}";
	struct config_errors errs = { 0 };
	struct config *c = NULL;
	const struct config_sink *s;

	CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), 0);
	for (size_t i = 0; i < errs.n; i++)
		unit_fail(__FILE__, __LINE__, "unexpected: %s", errs.items[i].text);
	config_errors_done(&errs);
	if (!c)
		return;
	CHECK_INT(c->n_sinks, 5);
	if (c->n_sinks != 5) {
		config_free(c);
		return;
	}
	s = &c->sinks[0];
	CHECK_STR(s->name, "webhook-1");
	CHECK_INT(s->type, SINK_WEBHOOK);
	CHECK_STR(s->url, "https://hooks.example.com:8443/d/" TOKEN);
	CHECK(secmem_owns(s->url));
	CHECK_STR(s->host, "hooks.example.com:8443");
	CHECK(s->url_file == NULL && s->secret == NULL && s->secret_file == NULL);
	CHECK_INT(s->kinds, ((1u << NOTICE_KIND_COUNT) - 1) & ~(1u << NOTICE_STARTED));
	CHECK_INT(s->n_watches, 0);
	CHECK_INT(s->n_services, 0);
	CHECK_INT(s->min_severity, SEVERITY_INFO);
	CHECK_INT(s->max_age_ms, 24 * DURATION_MS_PER_HOUR);
	CHECK_INT(s->timeout_ms, 10 * DURATION_MS_PER_SEC);
	CHECK_INT(s->failing_after_ms, 15 * DURATION_MS_PER_MIN);
	CHECK_INT(s->concurrency, 2);
	CHECK_INT(s->max_pending, 1000);
	CHECK_INT(s->at.line, 2);
	CHECK(s->bus == NULL && s->region == NULL && s->role_arn == NULL);

	s = &c->sinks[1];
	CHECK_STR(s->name, "webhook-2");
	CHECK_STR(s->host, "127.0.0.1:9");
	CHECK_INT(s->kinds, (1u << NOTICE_STARTED) | (1u << NOTICE_BLOCKED));
	CHECK_INT(s->n_services, 2);
	if (s->n_services == 2) {
		CHECK_STR(s->services[0], "prod/web");
		CHECK_STR(s->services[1], "api");
	}
	CHECK_INT(s->min_severity, SEVERITY_WARNING);
	CHECK_INT(s->max_age_ms, 2 * DURATION_MS_PER_HOUR);
	CHECK_INT(s->timeout_ms, 30 * DURATION_MS_PER_SEC);
	CHECK_INT(s->failing_after_ms, DURATION_MS_PER_HOUR);
	CHECK_INT(s->concurrency, 4);
	CHECK_INT(s->max_pending, 10);

	CHECK_STR(c->sinks[2].name, "slack"); /* the only one of its type */
	CHECK_STR(c->sinks[2].host, "[::1]:80");
	CHECK_STR(c->sinks[3].name, "ci");
	CHECK_STR(c->sinks[3].host, "localhost");
	s = &c->sinks[4];
	CHECK_STR(s->name, "eventbridge");
	CHECK_INT(s->type, SINK_EVENTBRIDGE);
	CHECK(s->url == NULL && s->host == NULL);
	CHECK_STR(s->bus, "arn:aws:events:eu-west-1:123456789012:event-bus/deploys");
	CHECK_STR(s->region, "eu-west-1");
	CHECK_STR(s->role_arn, "arn:aws:iam::123456789012:role/x");

	/* The summary: names, types, hosts and filters; never a URL. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	if (f) {
		config_print_summary(c, f);
		fclose(f);
		CHECK(strstr(buf, TOKEN) == NULL);
		CHECK(strstr(buf, "https://") == NULL);
		CHECK(strstr(buf, "  notify webhook-1 (webhook) to hooks.example.com:8443\n") !=
		      NULL);
		CHECK(strstr(buf, "  notify webhook-2 (webhook) to 127.0.0.1:9: events "
				  "deploy-started, blocked; services prod/web, api; min severity "
				  "warning\n") != NULL);
		CHECK(strstr(buf, "  notify eventbridge (eventbridge) to bus "
				  "'arn:aws:events:eu-west-1:123456789012:event-bus/deploys' in "
				  "eu-west-1 as arn:aws:iam::123456789012:role/x\n") != NULL);
		if (!strstr(buf, "notify webhook-1"))
			fputs(buf, stderr);
	}
	free(buf);
	config_free(c);
}

TEST(config_notify_default_bus_and_watch_warning)
{
	static const char text[] =
	    "{\"notify\": [{\"type\": \"eventbridge\", \"watches\": [\"web\", \"nope\"]}],\n"
	    " \"watches\": [{\"name\": \"web\", \"repository\": \"team/web\", \"tag\": \"prod\",\n"
	    "   \"targets\": [{\"cluster\": \"c\", \"service\": \"s\", \"container\": \"a\"}]}]}";
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), 0);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1) {
		CHECK(errs.items[0].warning);
		CHECK_STR(errs.items[0].text,
			  "t.json:1:56: notify[0].watches[1]: warning: no watch "
			  "is named 'nope'; this sink never hears of it");
	}
	config_errors_done(&errs);
	if (c && c->n_sinks == 1) {
		CHECK_STR(c->sinks[0].bus, "default");
		CHECK_INT(c->sinks[0].n_watches, 2);
	}
	config_free(c);
}

TEST(config_notify_at_most_16_sinks)
{
	char text[4096];
	size_t o = (size_t)snprintf(text, sizeof(text), "{\"notify\": [");
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	for (int i = 0; i < 17; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s{\"type\": \"eventbridge\"}",
				      i ? ", " : "");
	snprintf(text + o, sizeof(text) - o, "]}");
	CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1)
		CHECK_STR(errs.items[0].text, "t.json:1:12: notify: 17 sinks: at most 16");
	config_errors_done(&errs);
	config_free(c);
}

static void write_mode(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	CHECK_INT(chmod(path, mode), 0);
}

/* url_file and secret_file: read at load, a final newline stripped, kept in secmem; a file others
 * may read is a warning naming it and its mode; a missing, empty, two-line or bad one an error
 * naming the path; the URL never in any text. */
TEST(config_notify_files)
{
	char dir[] = "/tmp/ecr-notify-XXXXXX", main_file[256], url[256], secret[256], text[2048];
	struct config_errors errs = { 0 };
	struct config *c = NULL;
	char want[1024];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(main_file, sizeof(main_file), "%s/main.json", dir);
	snprintf(url, sizeof(url), "%s/url", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	write_mode(url, "https://hooks.slack.com/services/" TOKEN "\n", 0640);
	write_mode(secret, "k3y\x01\xff\n", 0604);
	snprintf(text, sizeof(text),
		 "{\"notify\": [{\"type\": \"webhook\", \"url_file\": \"%s\",\n"
		 "  \"secret_file\": \"%s\"}]}",
		 url, secret);
	write_mode(main_file, text, 0644);

	CHECK_INT(config_load(main_file, NULL, &c, &errs), 0);
	CHECK_INT(errs.n, 1);
	snprintf(want, sizeof(want),
		 "%s:2:18: notify[0].secret_file: warning: '%s' may be read by every user (mode "
		 "0604); it holds a secret: chmod o-r it",
		 main_file, secret);
	if (errs.n == 1) {
		CHECK(errs.items[0].warning);
		CHECK_STR(errs.items[0].text, want);
	}
	CHECK(!token_in(&errs));
	config_errors_done(&errs);
	if (c && c->n_sinks == 1) {
		const struct config_sink *s = &c->sinks[0];
		CHECK_STR(s->url, "https://hooks.slack.com/services/" TOKEN);
		CHECK(secmem_owns(s->url));
		CHECK_STR(s->url_file, url);
		CHECK_STR(s->host, "hooks.slack.com");
		CHECK_INT(s->secret_len, 5);
		CHECK(s->secret && !memcmp(s->secret, "k3y\x01\xff", 5));
		CHECK(secmem_owns(s->secret));
		CHECK_STR(s->secret_file, secret);
	}
	config_free(c);
	c = NULL;

	/* A URL file holding an http:// URL to a remote host, a missing secret file. */
	write_mode(url, "http://hooks.example.com/" TOKEN "\n", 0600);
	unlink(secret);
	CHECK_INT(config_load(main_file, NULL, &c, &errs), -EINVAL);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 2);
	CHECK(!token_in(&errs));
	if (errs.n == 2) {
		snprintf(want, sizeof(want),
			 "%s:1:45: notify[0].url_file: the URL in '%s' to 'hooks.example.com' uses "
			 "http://, which is allowed only to 127.0.0.1, ::1 or localhost (the URL "
			 "holds a token: use https://)",
			 main_file, url);
		CHECK_STR(errs.items[0].text, want);
		snprintf(want, sizeof(want),
			 "%s:2:18: notify[0].secret_file: cannot read '%s': No such file or "
			 "directory",
			 main_file, secret);
		CHECK_STR(errs.items[1].text, want);
	}
	config_errors_done(&errs);

	/* Empty, two lines, a directory. */
	write_mode(url, "\n", 0600);
	write_mode(secret, "a\nb\n", 0600);
	CHECK_INT(config_load(main_file, NULL, &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 2);
	if (errs.n == 2) {
		snprintf(want, sizeof(want), "%s:1:45: notify[0].url_file: '%s' is empty",
			 main_file, url);
		CHECK_STR(errs.items[0].text, want);
		snprintf(want, sizeof(want),
			 "%s:2:18: notify[0].secret_file: '%s' holds more than one line", main_file,
			 secret);
		CHECK_STR(errs.items[1].text, want);
	}
	config_errors_done(&errs);
	unlink(url);
	CHECK_INT(mkdir(url, 0700), 0);
	unlink(secret);
	CHECK_INT(config_load(main_file, NULL, &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 2);
	if (errs.n >= 1) {
		snprintf(want, sizeof(want),
			 "%s:1:45: notify[0].url_file: '%s' is not a regular file but a directory",
			 main_file, url);
		CHECK_STR(errs.items[0].text, want);
	}
	config_errors_done(&errs);
	rmdir(url);
	unlink(main_file);
	rmdir(dir);
}

/* Nothing of the secrets stays in the arena after config_free. */
TEST(config_notify_frees_secrets)
{
	static const char text[] = "{\"notify\": [{\"type\": \"slack\", \"url\": "
				   "\"https://hooks.slack.com/services/" TOKEN "\"}]}";
	struct secmem_stats before, after;
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	secmem_stats(&before);
	CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), 0);
	config_errors_done(&errs);
	config_free(c);
	secmem_stats(&after);
	CHECK_INT(after.blocks, before.blocks);
}

/* aws.endpoints.events: EventBridge's endpoint, checked like the others. */
TEST(config_endpoint_events)
{
	static const char ok[] =
	    "{\"aws\": {\"endpoints\": {\"events\": \"http://127.0.0.1:9/\"}}}";
	static const char bad[] = "{\"aws\": {\"endpoints\": {\"events\": \"ftp://x\"}}}";
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("t.json", ok, strlen(ok), &c, &errs), 0);
	if (c)
		CHECK_STR(c->endpoints[AWS_SERVICE_EVENTS], "http://127.0.0.1:9/");
	config_free(c);
	c = NULL;
	config_errors_done(&errs);
	CHECK_INT(config_parse_text("t.json", bad, strlen(bad), &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1)
		CHECK_STR(errs.items[0].text,
			  "t.json:1:34: aws.endpoints.events: 'ftp://x' is not an "
			  "http:// or https:// URL");
	config_errors_done(&errs);
}
