/* SPDX-License-Identifier: MIT */
/*
 * config/: the "ha" section (issue 18): its defaults (the host name as the instance id), every
 * rule with its exact located message, the ARN form of the table, the summary line of
 * --check-config, and config_ha_changes() that a reload uses to keep the running ha.
 */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct config *parse(const char *text, struct config_errors *errs)
{
	struct config *c = NULL;

	config_parse_text("t.json", text, strlen(text), &c, errs);
	return c;
}

/* Whether errs holds exactly the messages of want (NULL-terminated), in order. */
static void check_errors(const char *label, const struct config_errors *errs,
			 const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	if (errs->n != n)
		unit_fail(__FILE__, __LINE__, "%s: %zu errors, expected %zu (first: %s)", label,
			  errs->n, n, errs->n ? errs->items[0].text : "none");
	for (size_t i = 0; i < n && i < errs->n; i++)
		if (strcmp(errs->items[i].text, want[i]))
			unit_fail(__FILE__, __LINE__, "%s: error %zu is\n  '%s'\nexpected\n  '%s'",
				  label, i, errs->items[i].text, want[i]);
}

TEST(config_ha_absent_is_single_instance)
{
	struct config_errors errs = { 0 };
	struct config *c = parse("{}", &errs);

	CHECK(c != NULL);
	CHECK_INT(errs.n, 0);
	if (c)
		CHECK(c->ha == NULL);
	config_free(c);
	config_errors_done(&errs);
}

TEST(config_ha_defaults)
{
	struct config_errors errs = { 0 };
	char host[256] = "";
	struct config *c = parse("{\"ha\": {\"table\": \"ecr-deployd\"}}", &errs);

	CHECK_INT(gethostname(host, sizeof(host)), 0);
	CHECK_INT(errs.n, 0);
	CHECK(c && c->ha);
	if (!c || !c->ha) {
		config_free(c);
		config_errors_done(&errs);
		return;
	}
	CHECK_STR(c->ha->table, "ecr-deployd");
	CHECK_STR(c->ha->table_name, "ecr-deployd");
	CHECK(c->ha->region == NULL);
	CHECK(c->ha->role_arn == NULL);
	CHECK_STR(c->ha->group, "ecr-deployd");
	CHECK_STR(c->ha->instance_id, host);
	CHECK_INT(c->ha->lease_ms, 20000);
	CHECK_STR(c->ha->at.file, "t.json");
	CHECK_INT(c->ha->at.line, 1);
	CHECK_INT(c->ha->at.col, 8);
	config_free(c);
	config_errors_done(&errs);
}

TEST(config_ha_every_key)
{
	static const char text[] =
	    "{\"ha\": {\"table\": \"arn:aws:dynamodb:eu-west-1:123456789012:table/deploys.prod\", "
	    "\"role_arn\": \"arn:aws:iam::123456789012:role/ecr-deployd-ha\", \"group\": "
	    "\"prod_eu-1.a\", \"instance_id\": \"host-a.eu-west-1b:7\", \"lease_duration\": "
	    "\"3s\"}}";
	struct config_errors errs = { 0 };
	struct config *c = parse(text, &errs);

	CHECK_INT(errs.n, 0);
	CHECK(c && c->ha);
	if (c && c->ha) {
		CHECK_STR(c->ha->table,
			  "arn:aws:dynamodb:eu-west-1:123456789012:table/deploys.prod");
		CHECK_STR(c->ha->table_name, "deploys.prod");
		CHECK_STR(c->ha->region, "eu-west-1"); /* the ARN's */
		CHECK_STR(c->ha->role_arn, "arn:aws:iam::123456789012:role/ecr-deployd-ha");
		CHECK_STR(c->ha->group, "prod_eu-1.a");
		CHECK_STR(c->ha->instance_id, "host-a.eu-west-1b:7");
		CHECK_INT(c->ha->lease_ms, 3000);
	}
	config_free(c);
	config_errors_done(&errs);

	/* The bounds of the lease are both accepted, a region matching the ARN's too. */
	c = parse("{\"ha\": {\"table\": \"arn:aws:dynamodb:us-east-1:123456789012:table/abc\", "
		  "\"region\": \"us-east-1\", \"lease_duration\": \"5m\", \"instance_id\": "
		  "\"i\"}}",
		  &errs);
	CHECK_INT(errs.n, 0);
	CHECK(c && c->ha && c->ha->lease_ms == 300000);
	config_free(c);
	config_errors_done(&errs);
}

struct ha_bad_row {
	const char *label;
	const char *text;
	const char *errors[6];
};

static const struct ha_bad_row ha_bad_rows[] = {
	{ "not an object",
	  "{\"ha\": \"ddb\"}",
	  { "t.json:1:8: ha: 'ddb' is not allowed here: expected an object like {\"table\": "
	    "\"ecr-deployd\"}",
	    NULL } },
	{ "no table",
	  "{\"ha\": {\"instance_id\": \"a\"}}",
	  { "t.json:1:8: ha: 'ha' needs 'table': the DynamoDB table the instances share", NULL } },
	{ "unknown key",
	  "{\"ha\": {\"table\": \"abc\", \"instance_id\": \"a\", \"lease\": \"10s\"}}",
	  { "t.json:1:45: ha.lease: unknown key 'lease'; allowed here: table, region, role_arn, "
	    "group, instance_id, lease_duration",
	    NULL } },
	{ "typo",
	  "{\"ha\": {\"table\": \"abc\", \"instance_id\": \"a\", \"lease_durations\": \"10s\"}}",
	  { "t.json:1:45: ha.lease_durations: unknown key 'lease_durations'; did you mean "
	    "'lease_duration'?",
	    NULL } },
	{ "table short",
	  "{\"ha\": {\"table\": \"ab\", \"instance_id\": \"a\"}}",
	  { "t.json:1:18: ha.table: 'ab' is not a DynamoDB table name: 3 to 255 of A-Z a-z 0-9 _ "
	    ". -, or a table ARN",
	    NULL } },
	{ "table chars",
	  "{\"ha\": {\"table\": \"a b\\u0001\", \"instance_id\": \"a\"}}",
	  { "t.json:1:18: ha.table: 'a b\\x01' is not a DynamoDB table name: 3 to 255 of A-Z a-z "
	    "0-9 _ . -, or a table ARN",
	    NULL } },
	{ "table empty",
	  "{\"ha\": {\"table\": \"\", \"instance_id\": \"a\"}}",
	  { "t.json:1:18: ha.table: '' is not allowed here: expected a non-empty string", NULL } },
	{ "table arn",
	  "{\"ha\": {\"table\": \"arn:aws:dynamodb:us-east-1:1234:table/abc\", \"instance_id\": "
	  "\"a\"}}",
	  { "t.json:1:18: ha.table: 'arn:aws:dynamodb:us-east-1:1234:table/abc' is not a DynamoDB "
	    "table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)",
	    NULL } },
	{ "table arn of an index",
	  "{\"ha\": {\"table\": \"arn:aws:dynamodb:us-east-1:123456789012:table/abc/index/i\", "
	  "\"instance_id\": \"a\"}}",
	  { "t.json:1:18: ha.table: 'arn:aws:dynamodb:us-east-1:123456789012:table/abc/index/i' "
	    "is not a DynamoDB table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>)",
	    NULL } },
	{ "region",
	  "{\"ha\": {\"table\": \"abc\", \"region\": \"moon-1\", \"instance_id\": \"a\"}}",
	  { "t.json:1:35: ha.region: 'moon-1' is not an AWS region name (like 'us-east-1')",
	    NULL } },
	{ "region not the ARN's",
	  "{\"ha\": {\"table\": \"arn:aws:dynamodb:us-east-1:123456789012:table/abc\", \"region\": "
	  "\"eu-west-1\", \"instance_id\": \"a\"}}",
	  { "t.json:1:81: ha.region: 'eu-west-1' is not the region of the table ARN ('us-east-1')",
	    NULL } },
	{ "role",
	  "{\"ha\": {\"table\": \"abc\", \"role_arn\": \"ha-role\", \"instance_id\": \"a\"}}",
	  { "t.json:1:37: ha.role_arn: 'ha-role' is not an IAM role ARN "
	    "(arn:aws:iam::123456789012:role/name)",
	    NULL } },
	{ "group",
	  "{\"ha\": {\"table\": \"abc\", \"group\": \"a/b\", \"instance_id\": \"a\"}}",
	  { "t.json:1:34: ha.group: 'a/b' is not a group name: 1 to 64 of A-Z a-z 0-9 _ . -",
	    NULL } },
	{ "group long",
	  "{\"ha\": {\"table\": \"abc\", \"group\": "
	  "\"g12345678901234567890123456789012345678901234567890123456789012345\", "
	  "\"instance_id\": \"a\"}}",
	  { "t.json:1:34: ha.group: "
	    "'g12345678901234567890123456789012345678901234567890123456789012345' is not a group "
	    "name: 1 to 64 of A-Z a-z 0-9 _ . -",
	    NULL } },
	{ "instance",
	  "{\"ha\": {\"table\": \"abc\", \"instance_id\": \"host a\"}}",
	  { "t.json:1:40: ha.instance_id: 'host a' is not an instance id: 1 to 128 of A-Z a-z 0-9 "
	    "_ . : -",
	    NULL } },
	{ "instance empty",
	  "{\"ha\": {\"table\": \"abc\", \"instance_id\": \"\"}}",
	  { "t.json:1:40: ha.instance_id: '' is not allowed here: expected a non-empty string",
	    NULL } },
	{ "lease short",
	  "{\"ha\": {\"table\": \"abc\", \"instance_id\": \"a\", \"lease_duration\": \"2s\"}}",
	  { "t.json:1:63: ha.lease_duration: '2s' is out of bounds: from 3s to 5m", NULL } },
	{ "lease long",
	  "{\"ha\": {\"table\": \"abc\", \"instance_id\": \"a\", \"lease_duration\": \"5m1s\"}}",
	  { "t.json:1:63: ha.lease_duration: '5m1s' is out of bounds: from 3s to 5m", NULL } },
	{ "lease number",
	  "{\"ha\": {\"table\": \"abc\", \"instance_id\": \"a\", \"lease_duration\": 20}}",
	  { "t.json:1:63: ha.lease_duration: 20 is not a duration: write it as a string like "
	    "'30s', '15m' or '1h30m' (from 3s to 5m)",
	    NULL } },
	{ "every error at once",
	  "{\"ha\": {\"table\": \"x\", \"group\": \"\", \"instance_id\": \"a b\", "
	  "\"lease_duration\": \"1s\"}}",
	  { "t.json:1:18: ha.table: 'x' is not a DynamoDB table name: 3 to 255 of A-Z a-z 0-9 _ . "
	    "-, or a table ARN",
	    "t.json:1:32: ha.group: '' is not allowed here: expected a non-empty string",
	    "t.json:1:51: ha.instance_id: 'a b' is not an instance id: 1 to 128 of A-Z a-z 0-9 _ . "
	    ": -",
	    "t.json:1:76: ha.lease_duration: '1s' is out of bounds: from 3s to 5m", NULL } },
};

TEST(config_ha_rejects_with_exact_messages)
{
	for (size_t i = 0; i < sizeof(ha_bad_rows) / sizeof(ha_bad_rows[0]); i++) {
		struct config_errors errs = { 0 };
		struct config *c = parse(ha_bad_rows[i].text, &errs);

		if (c)
			unit_fail(__FILE__, __LINE__, "%s: accepted", ha_bad_rows[i].label);
		check_errors(ha_bad_rows[i].label, &errs, ha_bad_rows[i].errors);
		config_free(c);
		config_errors_done(&errs);
	}
}

TEST(config_ha_only_in_the_main_file)
{
	char dir[] = "/tmp/ecr-ha-XXXXXX", main_file[64], drop[64];
	struct config_errors errs = { 0 };
	struct config *c = NULL;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(main_file, sizeof(main_file), "%s/main.json", dir);
	snprintf(drop, sizeof(drop), "%s/team.json", dir);
	f = fopen(main_file, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("{}", f);
		fclose(f);
	}
	f = fopen(drop, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("{\"ha\": {\"table\": \"abc\"}}", f);
		fclose(f);
	}
	CHECK_INT(config_load(main_file, dir, &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1)
		CHECK(strstr(errs.items[0].text,
			     "team.json:1:2: ha: 'ha' belongs in the main configuration file; a "
			     "drop-in file holds only 'watches'") != NULL);
	config_free(c);
	config_errors_done(&errs);
	unlink(drop);
	unlink(main_file);
	rmdir(dir);
}

TEST(config_ha_summary_line)
{
	struct config_errors errs = { 0 };
	struct config *c =
	    parse("{\"aws\": {\"region\": \"eu-west-1\"}, \"ha\": {\"table\": \"deploys\", "
		  "\"group\": \"prod\", \"instance_id\": \"host-a\", \"lease_duration\": \"30s\"}}",
		  &errs);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	CHECK(c != NULL);
	if (c && out)
		config_print_summary(c, out);
	if (out)
		fclose(out);
	CHECK(text && strstr(text, "ha: table deploys, region eu-west-1, group prod, instance "
				   "host-a, lease 30s\n"));
	free(text);
	config_free(c);
	config_errors_done(&errs);

	c = parse("{\"ha\": {\"table\": \"arn:aws:dynamodb:us-east-2:123456789012:table/tab1\", "
		  "\"instance_id\": \"b\", \"role_arn\": \"arn:aws:iam::123456789012:role/r\"}}",
		  &errs);
	text = NULL;
	out = open_memstream(&text, &len);
	if (c && out)
		config_print_summary(c, out);
	if (out)
		fclose(out);
	CHECK(text && strstr(text, "ha: table arn:aws:dynamodb:us-east-2:123456789012:table/tab1, "
				   "region us-east-2, group ecr-deployd, instance b, lease 20s, "
				   "as arn:aws:iam::123456789012:role/r\n"));
	free(text);
	config_free(c);
	config_errors_done(&errs);

	c = parse("{}", &errs);
	text = NULL;
	out = open_memstream(&text, &len);
	if (c && out)
		config_print_summary(c, out);
	if (out)
		fclose(out);
	CHECK(text && strstr(text, "ha: off (one instance, state in /var/lib/ecr-deployd)\n"));
	free(text);
	config_free(c);
	config_errors_done(&errs);
}

TEST(config_ha_changes_names_each_key)
{
	struct config_errors errs = { 0 };
	struct config *none = parse("{}", &errs),
		      *a = parse("{\"ha\": {\"table\": \"abc\", \"instance_id\": \"a\"}}", &errs),
		      *same = parse("{\"ha\": {\"table\": \"abc\", \"instance_id\": \"a\"}, "
				    "\"poll_interval\": \"10m\"}",
				    &errs),
		      *b = parse("{\"ha\": {\"table\": \"abd\", \"instance_id\": \"b\", "
				 "\"group\": \"g\", \"region\": \"eu-west-1\", \"role_arn\": "
				 "\"arn:aws:iam::123456789012:role/r\", \"lease_duration\": "
				 "\"21s\"}}",
				 &errs);
	char out[256];

	CHECK_INT(errs.n, 0);
	CHECK(none && a && same && b);
	if (none && a && same && b) {
		CHECK_INT(config_ha_changes(none, none, out, sizeof(out)), 0);
		CHECK_STR(out, "");
		CHECK_INT(config_ha_changes(a, same, out, sizeof(out)), 0);
		CHECK_STR(out, "");
		CHECK_INT(config_ha_changes(none, a, out, sizeof(out)), 1);
		CHECK_STR(out, "ha");
		CHECK_INT(config_ha_changes(a, none, out, sizeof(out)), 1);
		CHECK_STR(out, "ha");
		CHECK_INT(config_ha_changes(a, b, out, sizeof(out)), 6);
		CHECK_STR(out, "ha.table ha.region ha.role_arn ha.group ha.instance_id "
			       "ha.lease_duration");
		CHECK_INT(config_ha_changes(a, b, out, 8), 6); /* cut, still terminated */
		CHECK_STR(out, "ha.tabl");
	}
	config_free(none);
	config_free(a);
	config_free(same);
	config_free(b);
	config_errors_done(&errs);
}

TEST(config_ha_endpoint_of_dynamodb)
{
	struct config_errors errs = { 0 };
	struct config *c = parse("{\"aws\": {\"endpoints\": {\"dynamodb\": "
				 "\"http://127.0.0.1:8000/\"}}, \"ha\": {\"table\": \"abc\", "
				 "\"instance_id\": \"a\"}}",
				 &errs);

	CHECK_INT(errs.n, 0);
	CHECK(c != NULL);
	if (c)
		CHECK_STR(c->endpoints[AWS_SERVICE_DYNAMODB], "http://127.0.0.1:8000/");
	config_free(c);
	config_errors_done(&errs);

	c = parse("{\"aws\": {\"endpoints\": {\"dynamodb\": \"http://u:p@ddb.local/\"}}}", &errs);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1)
		CHECK_STR(errs.items[0].text,
			  "t.json:1:36: aws.endpoints.dynamodb: 'http://...@ddb.local/' holds "
			  "credentials (before '@', not shown): an endpoint URL takes none; AWS "
			  "credentials come from the credential chain");
	config_free(c);
	config_errors_done(&errs);
}
