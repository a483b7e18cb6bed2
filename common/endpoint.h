/* SPDX-License-Identifier: MIT */
/*
 * The AWS services ecr-deployd talks to, and where their endpoints are.
 *
 * An endpoint comes from, in order: the daemon's configuration (the caller
 * passes it), AWS_ENDPOINT_URL_<SERVICE> (ECR, ECS, SQS, CODEDEPLOY, STS,
 * EVENTS, DYNAMODB),
 * AWS_ENDPOINT_URL, or the region: https://<prefix>.<region>.<suffix>, the
 * suffix by partition (amazonaws.com, amazonaws.com.cn, the ISO ones), the
 * prefix FIPS-flavoured on request. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
 * disables the two environment variables, as the AWS SDKs do.
 */
#ifndef ECR_ENDPOINT_H
#define ECR_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

enum aws_service_id {
	AWS_SERVICE_ECR,
	AWS_SERVICE_ECS,
	AWS_SERVICE_SQS,
	AWS_SERVICE_CODEDEPLOY,
	AWS_SERVICE_STS,
	AWS_SERVICE_EVENTS,   /* EventBridge: PutEvents of the notify sinks */
	AWS_SERVICE_DYNAMODB, /* the table of high availability (lease, shared state) */
	AWS_SERVICE_COUNT
};

struct aws_service {
	enum aws_service_id id;
	const char *endpoint_env;  /* "AWS_ENDPOINT_URL_ECR" and so on */
	const char *signing_name;  /* SigV4 service name */
	const char *prefix;        /* endpoint host prefix */
	const char *fips_prefix;   /* NULL: no FIPS endpoint */
	const char *target_prefix; /* X-Amz-Target prefix; NULL for STS (query protocol) */
	const char *json_version;  /* "1.0" or "1.1" */
	bool query_compatible;     /* send x-amzn-query-mode: true (SQS) */
};

extern const struct aws_service aws_ecr, aws_ecs, aws_sqs, aws_codedeploy, aws_sts, aws_events,
    aws_dynamodb;

/* The service with that id. */
const struct aws_service *aws_service_by_id(enum aws_service_id id);

/* Whether region looks like an AWS region name ("us-east-1", "cn-north-1", "us-gov-west-1"). */
bool endpoint_valid_region(const char *region);

/* The DNS suffix of region's partition: "amazonaws.com", "amazonaws.com.cn", ... */
const char *endpoint_dns_suffix(const char *region);

/*
 * Writes the endpoint base URL (no trailing '/') for svc in region into out
 * (size n). configured may be NULL. *ret_source, when not NULL, is set to
 * "config", "AWS_ENDPOINT_URL_ECS"-style names, "AWS_ENDPOINT_URL" or
 * "region". Returns 0; -EINVAL for a bad region, a URL that is not http(s),
 * or FIPS where the partition has none (why then says which); -ENOBUFS
 * when out is too small.
 */
int endpoint_resolve(const struct aws_service *svc, const char *region, bool fips,
		     const char *configured, char *out, size_t n, const char **ret_source,
		     const char **why);

/*
 * Splits an http(s) URL into its host[:port] (as the Host header carries
 * it) and whether it is TLS. Returns 0 or -EINVAL.
 */
int endpoint_host(const char *url, char *host, size_t n, bool *ret_tls);

#endif
