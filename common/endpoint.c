/* SPDX-License-Identifier: MIT */
/* The service table and endpoint resolution. */
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct aws_service aws_ecr = { AWS_SERVICE_ECR, "AWS_ENDPOINT_URL_ECR",
				     "ecr",           "api.ecr",
				     "api.ecr-fips",  "AmazonEC2ContainerRegistry_V20150921",
				     "1.1",           false };
const struct aws_service aws_ecs = { AWS_SERVICE_ECS, "AWS_ENDPOINT_URL_ECS",
				     "ecs",           "ecs",
				     "ecs-fips",      "AmazonEC2ContainerServiceV20141113",
				     "1.1",           false };
const struct aws_service aws_sqs = {
	AWS_SERVICE_SQS, "AWS_ENDPOINT_URL_SQS", "sqs", "sqs", "sqs-fips", "AmazonSQS", "1.0", true
};
const struct aws_service aws_codedeploy = {
	AWS_SERVICE_CODEDEPLOY, "AWS_ENDPOINT_URL_CODEDEPLOY", "codedeploy", "codedeploy",
	"codedeploy-fips",      "CodeDeploy_20141006",         "1.1",        false
};
const struct aws_service aws_sts = {
	AWS_SERVICE_STS, "AWS_ENDPOINT_URL_STS", "sts", "sts", "sts-fips", NULL, NULL, false
};

const struct aws_service aws_events = { AWS_SERVICE_EVENTS,
					"AWS_ENDPOINT_URL_EVENTS",
					"events",
					"events",
					"events-fips",
					"AWSEvents",
					"1.1",
					false };

const struct aws_service aws_dynamodb = {
	AWS_SERVICE_DYNAMODB, "AWS_ENDPOINT_URL_DYNAMODB", "dynamodb", "dynamodb",
	"dynamodb-fips",      "DynamoDB_20120810",         "1.0",      false
};

const struct aws_service *aws_service_by_id(enum aws_service_id id)
{
	static const struct aws_service *const all[] = { &aws_ecr,        &aws_ecs, &aws_sqs,
							 &aws_codedeploy, &aws_sts, &aws_events,
							 &aws_dynamodb };

	return (unsigned)id < AWS_SERVICE_COUNT ? all[id] : NULL;
}

bool endpoint_valid_region(const char *r)
{
	/* two letters, then one or more "-word" parts, then "-<digits>" */
	const char *p = r;
	int words = 0;

	if (!r || !(p[0] >= 'a' && p[0] <= 'z') || !(p[1] >= 'a' && p[1] <= 'z') || p[2] != '-')
		return false;
	p += 2;
	while (*p == '-') {
		const char *s = ++p;
		bool digits = true, alpha = true;

		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) {
			if (*p >= 'a' && *p <= 'z')
				digits = false;
			else
				alpha = false;
			p++;
		}
		if (p == s)
			return false;
		if (digits && !*p)
			return words >= 1;
		if (!alpha)
			return false;
		words++;
	}
	return false;
}

const char *endpoint_dns_suffix(const char *region)
{
	static const struct {
		const char *prefix, *suffix;
	} partitions[] = {
		{ "cn-", "amazonaws.com.cn" },    { "us-isob-", "sc2s.sgov.gov" },
		{ "us-isof-", "csp.hci.ic.gov" }, { "us-iso-", "c2s.ic.gov" },
		{ "eu-isoe-", "cloud.adc-e.uk" },
	};

	for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (!strncmp(region, partitions[i].prefix, strlen(partitions[i].prefix)))
			return partitions[i].suffix;
	return "amazonaws.com";
}

static int copy_url(const char *url, char *out, size_t n, const char **why)
{
	size_t len;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		if (why)
			*why = "an endpoint URL must start with http:// or https://";
		return -EINVAL;
	}
	len = strlen(url);
	while (len > 8 && url[len - 1] == '/')
		len--;
	if (len >= n)
		return -ENOBUFS;
	memcpy(out, url, len);
	out[len] = '\0';
	return 0;
}

int endpoint_resolve(const struct aws_service *svc, const char *region, bool fips,
		     const char *configured, char *out, size_t n, const char **ret_source,
		     const char **why)
{
	const char *ignore = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	bool use_env = !(ignore && !strcasecmp(ignore, "true"));
	const char *v;
	int w;

	if (configured && *configured) {
		if (ret_source)
			*ret_source = "config";
		return copy_url(configured, out, n, why);
	}
	if (use_env) {
		v = getenv(svc->endpoint_env);
		if (v && *v) {
			if (ret_source)
				*ret_source = svc->endpoint_env;
			return copy_url(v, out, n, why);
		}
		v = getenv("AWS_ENDPOINT_URL");
		if (v && *v) {
			if (ret_source)
				*ret_source = "AWS_ENDPOINT_URL";
			return copy_url(v, out, n, why);
		}
	}
	if (!endpoint_valid_region(region)) {
		if (why)
			*why = "not an AWS region name (like 'us-east-1')";
		return -EINVAL;
	}
	if (fips && (!svc->fips_prefix || !strncmp(region, "cn-", 3))) {
		if (why)
			*why = "this service has no FIPS endpoint in that partition";
		return -EINVAL;
	}
	w = snprintf(out, n, "https://%s.%s.%s", fips ? svc->fips_prefix : svc->prefix, region,
		     endpoint_dns_suffix(region));
	if (w < 0 || (size_t)w >= n)
		return -ENOBUFS;
	if (ret_source)
		*ret_source = "region";
	return 0;
}

int endpoint_host(const char *url, char *host, size_t n, bool *ret_tls)
{
	const char *p;
	size_t len;
	bool tls = !strncmp(url, "https://", 8);

	if (!tls && strncmp(url, "http://", 7))
		return -EINVAL;
	p = url + (tls ? 8 : 7);
	len = strcspn(p, "/?#");
	if (len == 0 || len >= n || memchr(p, '@', len))
		return -EINVAL;
	memcpy(host, p, len);
	host[len] = '\0';
	if (ret_tls)
		*ret_tls = tls;
	return 0;
}
