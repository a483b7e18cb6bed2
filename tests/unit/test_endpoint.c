/* SPDX-License-Identifier: MIT */
/* Endpoint resolution, region names, time parsing and STS XML fields. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "credentials.h"
#include "endpoint.h"
#include "profile.h"
#include "sts.h"

static void clear_env(void)
{
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_ECS");
	unsetenv("AWS_ENDPOINT_URL_ECR");
	unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
}

TEST(endpoint_from_region)
{
	static const struct {
		const struct aws_service *svc;
		const char *region;
		bool fips;
		const char *url; /* NULL: rejected */
	} rows[] = {
		{ &aws_ecr, "us-east-1", false, "https://api.ecr.us-east-1.amazonaws.com" },
		{ &aws_ecs, "eu-west-3", false, "https://ecs.eu-west-3.amazonaws.com" },
		{ &aws_sqs, "ap-southeast-2", false, "https://sqs.ap-southeast-2.amazonaws.com" },
		{ &aws_codedeploy, "us-west-2", false,
		  "https://codedeploy.us-west-2.amazonaws.com" },
		{ &aws_sts, "us-east-2", false, "https://sts.us-east-2.amazonaws.com" },
		{ &aws_ecr, "cn-north-1", false, "https://api.ecr.cn-north-1.amazonaws.com.cn" },
		{ &aws_ecs, "us-gov-west-1", true, "https://ecs-fips.us-gov-west-1.amazonaws.com" },
		{ &aws_ecr, "us-east-1", true, "https://api.ecr-fips.us-east-1.amazonaws.com" },
		{ &aws_ecs, "us-iso-east-1", false, "https://ecs.us-iso-east-1.c2s.ic.gov" },
		{ &aws_ecs, "cn-north-1", true, NULL },
		{ &aws_ecs, "useast1", false, NULL },
		{ &aws_ecs, "us-east", false, NULL },
		{ &aws_ecs, "US-EAST-1", false, NULL },
		{ &aws_ecs, "us-east-1.evil.com/", false, NULL },
		{ &aws_ecs, "", false, NULL },
	};
	char out[256];

	clear_env();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *src = NULL, *why = NULL;
		int r = endpoint_resolve(rows[i].svc, rows[i].region, rows[i].fips, NULL, out,
					 sizeof(out), &src, &why);
		if (rows[i].url) {
			CHECK_INT(r, 0);
			CHECK_STR(out, rows[i].url);
			CHECK_STR(src, "region");
		} else {
			CHECK_INT(r, -EINVAL);
			CHECK(why != NULL);
		}
	}
}

/* Issue 17: EventBridge (PutEvents for the notify sinks) is a service like the others. */
TEST(endpoint_events)
{
	char out[256];
	const char *src = NULL, *why = NULL;

	clear_env();
	unsetenv("AWS_ENDPOINT_URL_EVENTS");
	CHECK(aws_service_by_id(AWS_SERVICE_EVENTS) == &aws_events);
	CHECK_INT(aws_events.id, AWS_SERVICE_EVENTS);
	CHECK_STR(aws_events.signing_name, "events");
	CHECK_STR(aws_events.target_prefix, "AWSEvents");
	CHECK_STR(aws_events.json_version, "1.1");
	CHECK(!aws_events.query_compatible);
	CHECK_INT(
	    endpoint_resolve(&aws_events, "eu-west-1", false, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(out, "https://events.eu-west-1.amazonaws.com");
	CHECK_STR(src, "region");
	CHECK_INT(endpoint_resolve(&aws_events, "us-gov-west-1", true, NULL, out, sizeof(out), &src,
				   &why),
		  0);
	CHECK_STR(out, "https://events-fips.us-gov-west-1.amazonaws.com");
	CHECK_INT(
	    endpoint_resolve(&aws_events, "cn-north-1", false, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(out, "https://events.cn-north-1.amazonaws.com.cn");
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/", 1);
	setenv("AWS_ENDPOINT_URL_EVENTS", "http://127.0.0.1:4566/", 1);
	CHECK_INT(
	    endpoint_resolve(&aws_events, "eu-west-1", false, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(out, "http://127.0.0.1:4566");
	CHECK_STR(src, "AWS_ENDPOINT_URL_EVENTS");
	CHECK_INT(endpoint_resolve(&aws_events, "eu-west-1", false, "https://events.internal", out,
				   sizeof(out), &src, &why),
		  0);
	CHECK_STR(out, "https://events.internal");
	CHECK_STR(src, "config");
	unsetenv("AWS_ENDPOINT_URL_EVENTS");
	clear_env();
}

/* Issue 18: DynamoDB (the HA table) is a service like the others: JSON 1.0, its own target
 * prefix, a FIPS endpoint, and AWS_ENDPOINT_URL_DYNAMODB before AWS_ENDPOINT_URL. */
TEST(endpoint_dynamodb)
{
	char out[256];
	const char *src = NULL, *why = NULL;

	clear_env();
	CHECK(aws_service_by_id(AWS_SERVICE_DYNAMODB) == &aws_dynamodb);
	CHECK_INT(aws_dynamodb.id, AWS_SERVICE_DYNAMODB);
	CHECK_STR(aws_dynamodb.signing_name, "dynamodb");
	CHECK_STR(aws_dynamodb.target_prefix, "DynamoDB_20120810");
	CHECK_STR(aws_dynamodb.json_version, "1.0");
	CHECK_STR(aws_dynamodb.endpoint_env, "AWS_ENDPOINT_URL_DYNAMODB");
	CHECK(!aws_dynamodb.query_compatible);
	CHECK_INT(
	    endpoint_resolve(&aws_dynamodb, "eu-west-1", false, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(out, "https://dynamodb.eu-west-1.amazonaws.com");
	CHECK_STR(src, "region");
	CHECK_INT(
	    endpoint_resolve(&aws_dynamodb, "us-east-1", true, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(out, "https://dynamodb-fips.us-east-1.amazonaws.com");
	CHECK_INT(endpoint_resolve(&aws_dynamodb, "cn-northwest-1", false, NULL, out, sizeof(out),
				   &src, &why),
		  0);
	CHECK_STR(out, "https://dynamodb.cn-northwest-1.amazonaws.com.cn");
	CHECK_INT(
	    endpoint_resolve(&aws_dynamodb, "cn-north-1", true, NULL, out, sizeof(out), &src, &why),
	    -EINVAL);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/", 1);
	CHECK_INT(
	    endpoint_resolve(&aws_dynamodb, "eu-west-1", false, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(src, "AWS_ENDPOINT_URL");
	setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000/", 1);
	CHECK_INT(
	    endpoint_resolve(&aws_dynamodb, "eu-west-1", false, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(out, "http://127.0.0.1:8000");
	CHECK_STR(src, "AWS_ENDPOINT_URL_DYNAMODB");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	CHECK_INT(
	    endpoint_resolve(&aws_dynamodb, "eu-west-1", false, NULL, out, sizeof(out), &src, &why),
	    0);
	CHECK_STR(out, "https://dynamodb.eu-west-1.amazonaws.com");
	CHECK_INT(endpoint_resolve(&aws_dynamodb, "eu-west-1", false, "http://ddb.internal:8000/",
				   out, sizeof(out), &src, &why),
		  0);
	CHECK_STR(out, "http://ddb.internal:8000");
	CHECK_STR(src, "config");
	clear_env();
}

/* Every service of the table is found by its id, and has the fields a call needs. */
TEST(endpoint_table_complete)
{
	for (int i = 0; i < AWS_SERVICE_COUNT; i++) {
		const struct aws_service *s = aws_service_by_id((enum aws_service_id)i);
		CHECK(s != NULL);
		if (!s)
			continue;
		CHECK_INT(s->id, i);
		CHECK(s->endpoint_env && !strncmp(s->endpoint_env, "AWS_ENDPOINT_URL_", 17));
		CHECK(s->signing_name && s->prefix);
	}
	CHECK(aws_service_by_id(AWS_SERVICE_COUNT) == NULL);
}

TEST(endpoint_overrides)
{
	char out[256];
	const char *src = NULL, *why = NULL;

	clear_env();
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/", 1);
	CHECK_INT(
	    endpoint_resolve(&aws_ecs, "us-east-1", false, NULL, out, sizeof(out), &src, &why), 0);
	CHECK_STR(out, "http://127.0.0.1:4566");
	CHECK_STR(src, "AWS_ENDPOINT_URL");
	setenv("AWS_ENDPOINT_URL_ECS", "http://localhost:1234", 1);
	CHECK_INT(
	    endpoint_resolve(&aws_ecs, "us-east-1", false, NULL, out, sizeof(out), &src, &why), 0);
	CHECK_STR(out, "http://localhost:1234");
	CHECK_STR(src, "AWS_ENDPOINT_URL_ECS");
	CHECK_INT(
	    endpoint_resolve(&aws_ecr, "us-east-1", false, NULL, out, sizeof(out), &src, &why), 0);
	CHECK_STR(src, "AWS_ENDPOINT_URL");
	CHECK_INT(endpoint_resolve(&aws_ecs, "us-east-1", false, "https://ecs.internal", out,
				   sizeof(out), &src, &why),
		  0);
	CHECK_STR(out, "https://ecs.internal");
	CHECK_STR(src, "config");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	CHECK_INT(
	    endpoint_resolve(&aws_ecs, "us-east-1", false, NULL, out, sizeof(out), &src, &why), 0);
	CHECK_STR(out, "https://ecs.us-east-1.amazonaws.com");
	CHECK_INT(
	    endpoint_resolve(&aws_ecs, "us-east-1", false, "ftp://x", out, sizeof(out), &src, &why),
	    -EINVAL);
	CHECK_INT(endpoint_resolve(&aws_ecs, "us-east-1", false, NULL, out, 10, &src, &why),
		  -ENOBUFS);
	clear_env();
}

TEST(endpoint_host_split)
{
	char host[64];
	bool tls = false;

	CHECK_INT(endpoint_host("https://ecs.us-east-1.amazonaws.com/", host, sizeof(host), &tls),
		  0);
	CHECK_STR(host, "ecs.us-east-1.amazonaws.com");
	CHECK(tls);
	CHECK_INT(endpoint_host("http://127.0.0.1:8080/x?y", host, sizeof(host), &tls), 0);
	CHECK_STR(host, "127.0.0.1:8080");
	CHECK(!tls);
	CHECK_INT(endpoint_host("http://user@evil/", host, sizeof(host), &tls), -EINVAL);
	CHECK_INT(endpoint_host("file:///etc/passwd", host, sizeof(host), &tls), -EINVAL);
	CHECK_INT(endpoint_host("http:///", host, sizeof(host), &tls), -EINVAL);
}

TEST(credential_time_parsing)
{
	static const struct {
		const char *text;
		long long epoch; /* -1: rejected */
	} rows[] = {
		{ "2026-11-26T17:00:00Z", 1795712400 },
		{ "2026-11-26T17:00:00.123Z", 1795712400 },
		{ "2026-11-26T18:00:00+01:00", 1795712400 },
		{ "2026-11-26T16:30:00-00:30", 1795712400 },
		{ "2026-11-26 17:00:00", -1 },
		{ "2026-11-26T17:00:00", -1 },
		{ "yesterday", -1 },
		{ "2026-11-26T17:00:00Zjunk", -1 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		time_t t = 0;
		int r = cred_parse_time(rows[i].text, &t);
		if (rows[i].epoch < 0) {
			CHECK_INT(r, -EINVAL);
		} else {
			CHECK_INT(r, 0);
			CHECK_INT(t, rows[i].epoch);
		}
	}
}

TEST(sts_xml_fields)
{
	const char *xml = "<R><Credentials><AccessKeyId>ASIA1</AccessKeyId>"
			  "<SecretAccessKey>a&amp;b&lt;c&gt;&quot;&apos;</SecretAccessKey>"
			  "</Credentials><Empty></Empty></R>";
	char *v;

	v = sts_xml_text(xml, "AccessKeyId");
	CHECK_STR(v, "ASIA1");
	free(v);
	v = sts_xml_text(xml, "SecretAccessKey");
	CHECK_STR(v, "a&b<c>\"'");
	free(v);
	v = sts_xml_text(xml, "Empty");
	CHECK_STR(v, "");
	free(v);
	CHECK(sts_xml_text(xml, "Missing") == NULL);
	CHECK(sts_xml_text("<A>unterminated", "A") == NULL);
}

TEST(region_resolution_order)
{
	char dir[] = "/tmp/ecr-unit-XXXXXX", path[128], out[64], why[256];
	const char *src = NULL;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("[default]\nregion = eu-central-1\n[profile other]\nregion = ap-south-1\n", f);
	fclose(f);
	setenv("AWS_CONFIG_FILE", path, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_DEFAULT_PROFILE");
	setenv("AWS_REGION", "us-west-1", 1);
	setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
	CHECK_INT(profile_region("sa-east-1", NULL, out, sizeof(out), &src, why, sizeof(why)), 0);
	CHECK_STR(out, "sa-east-1");
	CHECK_STR(src, "config");
	CHECK_INT(profile_region(NULL, NULL, out, sizeof(out), &src, why, sizeof(why)), 0);
	CHECK_STR(src, "AWS_REGION");
	unsetenv("AWS_REGION");
	CHECK_INT(profile_region(NULL, NULL, out, sizeof(out), &src, why, sizeof(why)), 0);
	CHECK_STR(out, "us-west-2");
	unsetenv("AWS_DEFAULT_REGION");
	CHECK_INT(profile_region(NULL, NULL, out, sizeof(out), &src, why, sizeof(why)), 0);
	CHECK_STR(out, "eu-central-1");
	CHECK_STR(src, "profile");
	CHECK_INT(profile_region(NULL, "other", out, sizeof(out), &src, why, sizeof(why)), 0);
	CHECK_STR(out, "ap-south-1");
	CHECK_INT(profile_region(NULL, "nothing", out, sizeof(out), &src, why, sizeof(why)),
		  -ENOENT);
	CHECK(strstr(why, "profile 'nothing'") != NULL);
	unlink(path);
	rmdir(dir);
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}
