/* SPDX-License-Identifier: MIT */
/*
 * config/: table-driven tests. Each failing row is a small file and the
 * exact errors it must produce (file:line:col: path: message), one row per
 * rule; then the accepted forms, defaults, drop-in files and comments.
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

struct bad_row {
	const char *label;
	const char *text;
	const char *errors[8];
};

static const struct bad_row bad_rows[] = {
	{ "syntax",
	  "{\"poll_interval\": \"30s\",,}",
	  { "t.json:1:26: not valid JSON here", NULL } },
	{ "unterminated comment",
	  "{ /* never closed\n\"a\": 1}",
	  { "t.json:1:3: a /* comment that never ends", NULL } },
	{ "trailing text",
	  "{} extra",
	  { "t.json:1:4: unexpected text after the JSON object", NULL } },
	{ "top not object",
	  "[1, 2]",
	  { "t.json:1:1: (top level): a list is not allowed here: the file must hold one JSON "
	    "object",
	    NULL } },
	{ "unknown key suggestion",
	  "{\"poll_intervall\": \"30s\"}",
	  { "t.json:1:2: poll_intervall: unknown key 'poll_intervall'; did you mean "
	    "'poll_interval'?",
	    NULL } },
	{ "unknown key list",
	  "{\"aws\": {\"colour\": \"blue\"}}",
	  { "t.json:1:10: aws.colour: unknown key 'colour'; allowed here: region, profile, fips, "
	    "ca_bundle, endpoints, http_version",
	    NULL } },
	{ "duplicate key",
	  "{\"dry_run\": true, \"dry_run\": false}",
	  { "t.json:1:19: dry_run: duplicate key (first given at line 1, column 2)", NULL } },
	{ "wrong type",
	  "{\"dry_run\": \"yes\"}",
	  { "t.json:1:13: dry_run: 'yes' is not allowed here: expected true or false", NULL } },
	{ "region",
	  "{\"aws\": {\"region\": \"us-east\"}}",
	  { "t.json:1:20: aws.region: 'us-east' is not an AWS region name (like 'us-east-1')",
	    NULL } },
	{ "poll min",
	  "{\"poll_interval\": \"5s\"}",
	  { "t.json:1:19: poll_interval: '5s' is out of bounds: from 10s to 1d", NULL } },
	{ "duration syntax",
	  "{\"poll_interval\": \"5 minutes\"}",
	  { "t.json:1:19: poll_interval: '5 minutes' is not a duration: unknown unit; the units "
	    "are d, h, m, s and ms",
	    NULL } },
	{ "duration number",
	  "{\"poll_interval\": 60}",
	  { "t.json:1:19: poll_interval: 60 is not a duration: write it as a string like '30s', "
	    "'15m' or '1h30m' (from 10s to 1d)",
	    NULL } },
	{ "jitter",
	  "{\"poll_interval\": \"1m\", \"jitter\": \"45s\"}",
	  { "t.json:1:35: jitter: must be at most half of poll_interval", NULL } },
	{ "state dir",
	  "{\"state_directory\": \"var/lib/x\"}",
	  { "t.json:1:21: state_directory: 'var/lib/x' must be an absolute path", NULL } },
	{ "log level",
	  "{\"log_level\": \"verbose\"}",
	  { "t.json:1:15: log_level: 'verbose' is not allowed here: one of 'error', 'warning', "
	    "'notice', 'info', 'debug'",
	    NULL } },
	{ "concurrency",
	  "{\"max_concurrent_deploys\": 0}",
	  { "t.json:1:28: max_concurrent_deploys: 0 is not allowed here: expected a whole number "
	    "from 1 to 100",
	    NULL } },
	{ "event queue",
	  "{\"event_queue\": \"https://example.com/q\"}",
	  { "t.json:1:17: event_queue: 'https://example.com/q' is not an SQS queue URL "
	    "(https://sqs.<region>.amazonaws.com/<account>/<queue>)",
	    NULL } },
	{ "events url",
	  "{\"events\": [{\"queue_url\": \"https://sqs.us-east-1.amazonaws.com/1234/q\"}]}",
	  { "t.json:1:27: events[0].queue_url: 'https://sqs.us-east-1.amazonaws.com/1234/q' is not "
	    "an "
	    "SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)",
	    NULL } },
	{ "events shape",
	  "{\"events\": {\"queue_url\": \"x\"}}",
	  { "t.json:1:12: events: an object is not allowed here: expected a list of queues",
	    NULL } },
	{ "events members",
	  "{\"events\": [\"https://sqs.us-east-1.amazonaws.com/123456789012/q\", {\"region\": "
	  "\"us-east-1\"}, {\"queue_url\": \"https://sqs.us-east-1.amazonaws.com/123456789012/q\", "
	  "\"region\": \"eu-west-1\", \"role_arn\": \"role\", \"wait\": 5}]}",
	  { "t.json:1:13: events[0]: 'https://sqs.us-east-1.amazonaws.com/123456789012/q' is not "
	    "allowed here: expected a queue {\"queue_url\": ...}",
	    "t.json:1:67: events[1]: a queue needs 'queue_url'",
	    "t.json:1:170: events[2].region: 'eu-west-1' is not the region of the queue URL "
	    "('us-east-1')",
	    "t.json:1:195: events[2].role_arn: 'role' is not an IAM role ARN "
	    "(arn:aws:iam::123456789012:role/name)",
	    "t.json:1:203: events[2].wait: unknown key 'wait'; allowed here: queue_url, region, "
	    "role_arn",
	    NULL } },
	{ "events twice",
	  "{\"events\": [{\"queue_url\": \"https://sqs.us-east-1.amazonaws.com/123456789012/q\"}, "
	  "{\"queue_url\": \"https://sqs.us-east-1.amazonaws.com/123456789012/q\"}]}",
	  { "t.json:1:82: events[1]: the queue "
	    "'https://sqs.us-east-1.amazonaws.com/123456789012/q' is "
	    "listed twice (also events[0])",
	    NULL } },
	{ "events and event_queue",
	  "{\"event_queue\": \"https://sqs.us-east-1.amazonaws.com/123456789012/q\", \"events\": "
	  "[]}",
	  { "t.json:1:17: event_queue: 'event_queue' and 'events' are both set; keep only 'events' "
	    "(the old key names one queue: {\"events\": [{\"queue_url\": ...}]})",
	    NULL } },
	{ "endpoint url",
	  "{\"aws\": {\"endpoints\": {\"ecs\": \"ecs.local\"}}}",
	  { "t.json:1:31: aws.endpoints.ecs: 'ecs.local' is not an http:// or https:// URL",
	    NULL } },
	{ "watches type",
	  "{\"watches\": {}}",
	  { "t.json:1:13: watches: an object is not allowed here: expected a list of watches",
	    NULL } },
	{ "name missing",
	  "{\"watches\": "
	  "[{\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}]}",
	  { "t.json:1:14: watches[0]: 'name' is required (unique across all files)", NULL } },
	{ "name invalid",
	  "{\"watches\": [{\"name\":\"web "
	  "prod\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}]}",
	  { "t.json:1:22: watches[0].name: 'web prod' is not a watch name (1 to 64 letters, "
	    "digits, '.', '_' and '-', starting with a letter or digit)",
	    NULL } },
	{ "repository missing",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\","
	  "\"container\":\"app\"}]}]}",
	  { "t.json:1:14: watches[0]: 'repository' is required (a name like 'team/web', or "
	    "'123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web')",
	    NULL } },
	{ "repository invalid",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"Team/"
	  "Web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}]}",
	  { "t.json:1:39: watches[0].repository: 'Team/Web' is not an ECR repository name (2 to "
	    "256 lowercase letters and digits, with '.', '_', '-' between them and '/' between "
	    "path parts)",
	    NULL } },
	{ "repository uri with tag",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"123456789012.dkr.ecr.us-east-1.amazonaws.com/"
	  "web:prod\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\","
	  "\"container\":\"app\"}]}]}",
	  { "t.json:1:39: watches[0].repository: "
	    "'123456789012.dkr.ecr.us-east-1.amazonaws.com/web:prod' names a tag or digest; the "
	    "repository URI ends with the repository name, and the tag goes in 'tag', 'tags', "
	    "'tag_glob' or 'semver'",
	    NULL } },
	{ "repository uri bad",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"12345.dkr.ecr.us-east-1.amazonaws.com/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}]}",
	  { "t.json:1:39: watches[0].repository: '12345.dkr.ecr.us-east-1.amazonaws.com/web' is "
	    "not a repository URI of the form <12-digit "
	    "account>.dkr.ecr.<region>.amazonaws.com/<name>",
	    NULL } },
	{ "registry mismatch",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"123456789012.dkr.ecr.us-east-1.amazonaws.com/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}],\"registry_id\":\"210987654321\"}]}",
	  { "t.json:1:39: watches[0].repository: the URI's account '123456789012' differs from "
	    "registry_id '210987654321'",
	    NULL } },
	{ "registry id",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}],\"registry_id\":\"1234\"}]}",
	  { "t.json:1:137: watches[0].registry_id: '1234' is not a 12-digit AWS account id",
	    NULL } },
	{ "no tag rule",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}]}]}",
	  { "t.json:1:14: watches[0]: give exactly one of 'tag', 'tags', 'tag_glob' or 'semver' "
	    "(found 0)",
	    NULL } },
	{ "two tag rules",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}],\"tag_glob\":\"v*\"}]}",
	  { "t.json:1:14: watches[0]: give exactly one of 'tag', 'tags', 'tag_glob' or 'semver' "
	    "(found 2)",
	    NULL } },
	{ "tag invalid",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"-prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}]}",
	  { "t.json:1:56: watches[0].tag: '-prod' is not an image tag (1 to 128 letters, digits, "
	    "'_', '.' and '-', not starting with '.' or '-')",
	    NULL } },
	{ "tags empty",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],"
	  "\"tags\":[]}]}",
	  { "t.json:1:117: watches[0].tags: a list is not allowed here: expected a non-empty list, "
	    "each item an image tag",
	    NULL } },
	{ "tags duplicate",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],"
	  "\"tags\":[\"a\",\"a\"]}]}",
	  { "t.json:1:122: watches[0].tags[1]: 'a' is listed twice", NULL } },
	{ "glob invalid",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],\"tag_"
	  "glob\":\"v 1*\"}]}",
	  { "t.json:1:121: watches[0].tag_glob: 'v 1*' is not a tag glob (tag characters plus '*', "
	    "'?' and '[...]')",
	    NULL } },
	{ "semver invalid",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],"
	  "\"semver\":\"^one\"}]}",
	  { "t.json:1:119: watches[0].semver: '^one' is not a semver constraint: expected a "
	    "version after the operator, like 1, 1.4 or 1.4.2 (write it like '^1.4', '~2.0' or "
	    "'>=1.2.0 <2.0.0')",
	    NULL } },
	{ "prerelease without semver",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}],\"prerelease\":true}]}",
	  { "t.json:1:123: watches[0].prerelease: 'prerelease' applies only with 'semver'",
	    NULL } },
	{ "exclude with tag",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}],\"exclude\":[\"x\"]}]}",
	  { "t.json:1:123: watches[0].exclude: 'exclude' applies to 'tags', 'tag_glob' and "
	    "'semver', not to a single 'tag'",
	    NULL } },
	{ "targets missing",
	  "{\"watches\": [{\"name\":\"w\",\"repository\":\"team/web\",\"tag\":\"prod\"}]}",
	  { "t.json:1:14: watches[0]: 'targets' is required: the ECS services this watch deploys "
	    "to",
	    NULL } },
	{ "targets empty",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/web\",\"tag\":\"prod\",\"targets\":[]}]}",
	  { "t.json:1:73: watches[0].targets: a list is not allowed here: expected a list of 1 to "
	    "100 targets",
	    NULL } },
	{ "cluster missing",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"service\":\"s\",\"container\":\"app\"}]}]}",
	  { "t.json:1:74: watches[0].targets[0]: 'cluster' is required", NULL } },
	{ "service invalid",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"web/"
	  "prod\",\"container\":\"app\"}]}]}",
	  { "t.json:1:99: watches[0].targets[0].service: 'web/prod' is not a valid service name "
	    "(letters, digits, '-' and '_', 1 to 255) or service ARN",
	    NULL } },
	{ "container and containers",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"containers\":[\"a\"]}]}]}",
	  { "t.json:1:121: watches[0].targets[0].containers: give either 'container' or "
	    "'containers', not both",
	    NULL } },
	{ "containers missing",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\"}]}]}",
	  { "t.json:1:74: watches[0].targets[0]: 'containers' is required: the container(s) whose "
	    "image is replaced",
	    NULL } },
	{ "strategy",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"strategy\":\"bluegreen\"}]}]}",
	  { "t.json:1:132: watches[0].targets[0].strategy: 'bluegreen' is not allowed here: one of "
	    "'revision', 'force', 'codedeploy'",
	    NULL } },
	{ "codedeploy application without group",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"strategy\":\"codedeploy\",\"codedeploy\":{\"application\":\"a\"}}]}]}",
	  { "t.json:1:158: watches[0].targets[0].codedeploy: 'application' is given without "
	    "'deployment_group': give both, or neither to use the deployment group whose ECS "
	    "service is this target's",
	    NULL } },
	{ "codedeploy with revision",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"codedeploy\":{\"application\":\"a\"}}]}]}",
	  { "t.json:1:121: watches[0].targets[0].codedeploy: 'codedeploy' applies only with "
	    "strategy 'codedeploy' (this target's strategy is 'revision')",
	    NULL } },
	{ "codedeploy incomplete",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"strategy\":\"codedeploy\",\"codedeploy\":{\"deployment_group\":\"\","
	  "\"application\":\"a\",\"container\":\"app\",\"port\":70000}}]}]}",
	  { "t.json:1:178: watches[0].targets[0].codedeploy.deployment_group: '' is not allowed "
	    "here: expected a non-empty string",
	    "t.json:1:224: watches[0].targets[0].codedeploy.port: 70000 is not allowed here: "
	    "expected a whole number from 1 to 65535",
	    NULL } },
	{ "codedeploy container without port",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"strategy\":\"codedeploy\",\"codedeploy\":{\"container\":\"app\","
	  "\"deployment_config\":\"x\\u0001\"}}]}]}",
	  { "t.json:1:158: watches[0].targets[0].codedeploy: 'container' is given without 'port': "
	    "give both, or neither to use the container and port of the service's load balancer",
	    "t.json:1:197: watches[0].targets[0].codedeploy.deployment_config: 'x\\x01' is not a "
	    "CodeDeploy name (1 to 100 printable characters)",
	    NULL } },
	{ "retry digest",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"retry\":\"sha256:ABC\"}]}]}",
	  { "t.json:1:129: watches[0].targets[0].retry: 'sha256:ABC' is not an image digest "
	    "(sha256: "
	    "and 64 lowercase hex digits)",
	    NULL } },
	{ "rollout timeout",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"rollout_timeout\":\"15d\"}]}]}",
	  { "t.json:1:139: watches[0].targets[0].rollout_timeout: '15d' is out of bounds: from 10s "
	    "to 14d",
	    NULL } },
	/* issue 13: a deployment may wait at a PAUSE hook up to 14 days, not one day more */
	{ "rollout timeout 14 days and a millisecond",
	  "{\"rollout_timeout\": \"14d1ms\"}",
	  { "t.json:1:21: rollout_timeout: '14d1ms' is out of bounds: from 10s to 14d", NULL } },
	{ "rollout timeout below 10 s",
	  "{\"rollout_timeout\": \"9s\"}",
	  { "t.json:1:21: rollout_timeout: '9s' is out of bounds: from 10s to 14d", NULL } },
	/* issue 13: approve and guard, per target and as global defaults */
	{ "approve",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"approve\":\"yes\"}]}]}",
	  { "t.json:1:131: watches[0].targets[0].approve: 'yes' is not allowed here: one of "
	    "'manual', 'auto'",
	    NULL } },
	{ "approve not a string",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"approve\":true}]}]}",
	  { "t.json:1:131: watches[0].targets[0].approve: true is not allowed here: one of "
	    "'manual', 'auto'",
	    NULL } },
	{ "guard",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"guard\":\"Enforce\"}]}]}",
	  { "t.json:1:129: watches[0].targets[0].guard: 'Enforce' is not allowed here: one of "
	    "'warn', 'enforce', 'off'",
	    NULL } },
	{ "guard escaped",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"guard\":\"off\\u001b[2J\"}]}]}",
	  { "t.json:1:129: watches[0].targets[0].guard: 'off\\x1b[2J' is not allowed here: one of "
	    "'warn', 'enforce', 'off'",
	    NULL } },
	{ "global approve",
	  "{\"approve\": \"always\"}",
	  { "t.json:1:13: approve: 'always' is not allowed here: one of 'manual', 'auto'", NULL } },
	{ "global guard",
	  "{\"guard\": 1}",
	  { "t.json:1:11: guard: 1 is not allowed here: one of 'warn', 'enforce', 'off'", NULL } },
	{ "target key near miss",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"aprove\":\"auto\"}]}]}",
	  { "t.json:1:121: watches[0].targets[0].aprove: unknown key 'aprove'; did you mean "
	    "'approve'?",
	    NULL } },
	{ "rollback",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"rollback\":\"manual\"}]}]}",
	  { "t.json:1:132: watches[0].targets[0].rollback: 'manual' is not allowed here: one of "
	    "'auto', 'none'",
	    NULL } },
	{ "role arn",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"role_arn\":\"arn:aws:iam::123:user/x\"}]}]}",
	  { "t.json:1:132: watches[0].targets[0].role_arn: 'arn:aws:iam::123:user/x' is not an IAM "
	    "role ARN (arn:aws:iam::123456789012:role/name)",
	    NULL } },
	{ "paused",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"paused\":1}]}]}",
	  { "t.json:1:130: watches[0].targets[0].paused: 1 is not allowed here: expected true or "
	    "false",
	    NULL } },
	{ "duplicate names",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}, "
	  "{\"name\":\"w\",\"repository\":\"team/"
	  "api\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"api\","
	  "\"container\":\"app\"}]}]}",
	  { "t.json:1:125: watch name 'w' is already used by the watch at t.json:1:14", NULL } },
	{ "same container",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}, "
	  "{\"name\":\"w2\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}]}",
	  { "t.json:1:186: container 'app' of service 's' in cluster 'c' is already deployed by "
	    "watch 'w' (t.json:1:74); two watches must not deploy the same container",
	    NULL } },
	/* issue 11 case 8: \u0000 would cut a string short */
	{ "nul escape in a value",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/web\\u0000evil\",\"tag\":\"prod\",\"targets\":"
	  "[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}]}]}",
	  { "t.json:1:48: watches[0].repository: \\u0000 (a NUL character) is not allowed in a "
	    "string of the configuration",
	    NULL } },
	{ "nul escape in a key",
	  "{\"dry_run\\u0000x\": true}",
	  { "t.json:1:10: (top level): \\u0000 (a NUL character) is not allowed in a string of the "
	    "configuration",
	    NULL } },
	/* issue 11 case 5: retry is a digest, shown safely when it is not */
	{ "retry nul escape",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"retry\":\"sha256:"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  "\\u0000x\"}]}]}",
	  { "t.json:1:201: watches[0].targets[0].retry: \\u0000 (a NUL character) is not allowed "
	    "in a string of the configuration",
	    NULL } },
	{ "retry invalid utf-8",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"retry\":\"sha256:\xfe\xff\"}]}]}",
	  { "t.json:1:129: watches[0].targets[0].retry: 'sha256:\\xfe\\xff' is not an image digest "
	    "(sha256: and 64 lowercase hex digits)",
	    NULL } },
	{ "retry control character",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"retry\":\"sha256:\\u001b[2J\\n\"}]}]}",
	  { "t.json:1:129: watches[0].targets[0].retry: 'sha256:\\x1b[2J\\n' is not an image "
	    "digest (sha256: and 64 lowercase hex digits)",
	    NULL } },
	/* issue 11 case 9: globs that can never match */
	{ "glob open bracket",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],\"tag_"
	  "glob\":\"[\"}]}",
	  { "t.json:1:121: watches[0].tag_glob: '[' is not a tag glob: the '[' at character 1 is "
	    "never closed with ']'",
	    NULL } },
	{ "glob open range",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],\"tag_"
	  "glob\":\"v[a-\"}]}",
	  { "t.json:1:121: watches[0].tag_glob: 'v[a-' is not a tag glob: the '[' at character 2 "
	    "is never closed with ']'",
	    NULL } },
	{ "glob empty brackets",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],\"tag_"
	  "glob\":\"v[!]*\"}]}",
	  { "t.json:1:121: watches[0].tag_glob: 'v[!]*' is not a tag glob: the '[' at character 2 "
	    "lists no character",
	    NULL } },
	{ "glob backwards range",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],\"tag_"
	  "glob\":\"v[9-0]\"}]}",
	  { "t.json:1:121: watches[0].tag_glob: 'v[9-0]' is not a tag glob: the range '9-0' at "
	    "character 3 runs backwards",
	    NULL } },
	{ "glob stray bracket",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],\"tag_"
	  "glob\":\"v1]\"}]}",
	  { "t.json:1:121: watches[0].tag_glob: 'v1]' is not a tag glob: the ']' at character 3 "
	    "closes no '['",
	    NULL } },
	{ "exclude glob open bracket",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"app\"}],\"tag_"
	  "glob\":\"v*\",\"exclude\":[\"*-rc\",\"[a-\"]}]}",
	  { "t.json:1:144: watches[0].exclude[1]: '[a-' is not a tag or tag glob", NULL } },
	/* issue 11 case 9: endpoints */
	{ "endpoint credentials",
	  "{\"aws\": {\"endpoints\": {\"ecs\": \"http://user:pass@127.0.0.1:99999/\"}}}",
	  { "t.json:1:31: aws.endpoints.ecs: 'http://...@127.0.0.1:99999/' holds credentials "
	    "(before '@', not shown): an endpoint URL takes none; AWS credentials come from the "
	    "credential chain",
	    NULL } },
	{ "endpoint port",
	  "{\"aws\": {\"endpoints\": {\"sts\": \"http://127.0.0.1:99999/\"}}}",
	  { "t.json:1:31: aws.endpoints.sts: 'http://127.0.0.1:99999/' has port '99999': a port "
	    "is a number from 1 to 65535",
	    NULL } },
	{ "endpoint port zero",
	  "{\"aws\": {\"endpoints\": {\"ecr\": \"https://ecr.local:0\"}}}",
	  { "t.json:1:31: aws.endpoints.ecr: 'https://ecr.local:0' has port '0': a port is a "
	    "number from 1 to 65535",
	    NULL } },
	{ "endpoint empty port",
	  "{\"aws\": {\"endpoints\": {\"ecr\": \"https://ecr.local:/x\"}}}",
	  { "t.json:1:31: aws.endpoints.ecr: 'https://ecr.local:/x' has port '': a port is a "
	    "number from 1 to 65535",
	    NULL } },
	{ "endpoint no host",
	  "{\"aws\": {\"endpoints\": {\"ecr\": \"https:///x\"}}}",
	  { "t.json:1:31: aws.endpoints.ecr: 'https:///x' names no host", NULL } },
	/* issue 11 case 9: errors in file order; values from the file escaped */
	{ "errors in file order",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"Team/"
	  "W\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\"}]}], \"poll_intervall\": \"1m\"}",
	  { "t.json:1:39: watches[0].repository: 'Team/W' is not an ECR repository name (2 to "
	    "256 lowercase letters and digits, with '.', '_', '-' between them and '/' between "
	    "path parts)",
	    "t.json:1:124: poll_intervall: unknown key 'poll_intervall'; did you mean "
	    "'poll_interval'?",
	    NULL } },
	{ "invalid utf-8 in a value",
	  "{\"log_level\": \"\xff\xc3(\\u001b[2J\"}",
	  { "t.json:1:15: log_level: '\\xff\\xc3(\\x1b[2J' is not allowed here: one of 'error', "
	    "'warning', 'notice', 'info', 'debug'",
	    NULL } },
	{ "invalid utf-8 in a key",
	  "{\"a\xc3(\": 1}",
	  { "t.json:1:2: a\\xc3(: unknown key 'a\\xc3('; did you mean 'aws'?", NULL } },
	{ "valid utf-8 kept, controls escaped",
	  "{\"log_level\": \"d\xc3\xa9\xc2\x9b\xe2\x80\xae\\\\\"}",
	  { "t.json:1:15: log_level: 'd\xc3\xa9\\u009b\\u202e\\\\' is not allowed here: one of "
	    "'error', 'warning', 'notice', 'info', 'debug'",
	    NULL } },
	{ "http_version not one it speaks",
	  "{\"aws\": {\"http_version\": 2}}",
	  { "t.json:1:26: aws.http_version: 2 is not allowed here: one of '1.1', '2'", NULL } },
	{ "http_version 3",
	  "{\"aws\": {\"http_version\": \"3\"}}",
	  { "t.json:1:26: aws.http_version: '3' is not allowed here: one of '1.1', '2'", NULL } },
	/* issue 11 case 10: floats that are no integer, never converted */
	{ "integer infinite",
	  "{\"max_concurrent_deploys\": 1e400}",
	  { "t.json:1:28: max_concurrent_deploys: inf is not allowed here: expected a whole number "
	    "from 1 to 100",
	    NULL } },
	{ "integer minus infinite",
	  "{\"max_requests_in_flight\": -1e400}",
	  { "t.json:1:28: max_requests_in_flight: -inf is not allowed here: expected a whole "
	    "number from 1 to 1000",
	    NULL } },
	{ "integer huge",
	  "{\"max_requests_in_flight\": 1e19}",
	  { "t.json:1:28: max_requests_in_flight: 1e+19 is not allowed here: expected a whole "
	    "number from 1 to 1000",
	    NULL } },
	{ "integer negative zero",
	  "{\"max_requests_in_flight\": -0}",
	  { "t.json:1:28: max_requests_in_flight: -0 is not allowed here: expected a whole "
	    "number from 1 to 1000",
	    NULL } },
	{ "integer fraction",
	  "{\"max_concurrent_deploys\": 2.5}",
	  { "t.json:1:28: max_concurrent_deploys: 2.5 is not allowed here: expected a whole number "
	    "from 1 to 100",
	    NULL } },
	{ "port infinite",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":"
	  "\"app\",\"strategy\":\"codedeploy\",\"codedeploy\":{\"application\":\"a\","
	  "\"deployment_group\":\"g\",\"container\":\"app\",\"port\":1e400}}]}]}",
	  { "t.json:1:225: watches[0].targets[0].codedeploy.port: inf is not allowed here: "
	    "expected a whole number from 1 to 65535",
	    NULL } },
	/* issue 15: the control socket, the metrics file, the history's bound */
	{ "control not an object",
	  "{\"control\": \"/run/x.sock\"}",
	  { "t.json:1:13: control: '/run/x.sock' is not allowed here: expected an object like "
	    "{\"socket\": \"/run/...\"}",
	    NULL } },
	{ "control unknown key",
	  "{\"control\": {\"sokcet\": \"/run/x.sock\"}}",
	  { "t.json:1:14: control.sokcet: unknown key 'sokcet'; did you mean 'socket'?", NULL } },
	{ "control socket relative",
	  "{\"control\": {\"socket\": \"run/x.sock\"}}",
	  { "t.json:1:24: control.socket: 'run/x.sock' is not allowed here: expected an absolute "
	    "path of at most 107 bytes (its directory at most 99), or \"\" for no socket",
	    NULL } },
	{ "control socket directory too long",
	  "{\"control\": {\"socket\": \"/"
	  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	  "dddddddddddd/s\"}}",
	  { "t.json:1:24: control.socket: '/"
	    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd...' "
	    "is not allowed here: expected an absolute path of at most 107 bytes (its directory at "
	    "most 99), or \"\" for no socket",
	    NULL } },
	{ "control socket too long",
	  "{\"control\": {\"socket\": \"/"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaa"
	  "aaaaaaaaaaaaaa\"}}",
	  { "t.json:1:24: control.socket: '/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' "
	    "is not allowed here: expected an absolute path of at most 107 bytes (its directory at "
	    "most 99), or \"\" for no socket",
	    NULL } },
	{ "control group not a name",
	  "{\"control\": {\"group\": \"wheel group\"}}",
	  { "t.json:1:23: control.group: 'wheel group' is not allowed here: expected a group name "
	    "or "
	    "number",
	    NULL } },
	{ "control read group empty",
	  "{\"control\": {\"read_group\": \"\"}}",
	  { "t.json:1:28: control.read_group: '' is not allowed here: expected a group name or "
	    "number, or \"*\" for every local user",
	    NULL } },
	{ "metrics file relative",
	  "{\"metrics_file\": \"m.prom\"}",
	  { "t.json:1:18: metrics_file: 'm.prom' must be an absolute path", NULL } },
	{ "history max zero",
	  "{\"history_max\": 0}",
	  { "t.json:1:17: history_max: 0 is not allowed here: expected a whole number from 1 to "
	    "1000",
	    NULL } },
	{ "cluster arn ok but service arn for cluster",
	  "{\"watches\": "
	  "[{\"name\":\"w\",\"repository\":\"team/"
	  "web\",\"tag\":\"prod\",\"targets\":[{\"cluster\":\"arn:aws:ecs:us-east-1:123456789012:"
	  "service/c/s\",\"service\":\"s\",\"container\":\"app\"}]}]}",
	  { "t.json:1:85: watches[0].targets[0].cluster: "
	    "'arn:aws:ecs:us-east-1:123456789012:service/c/s' is not a valid cluster name "
	    "(letters, digits, '-' and '_', 1 to 255) or cluster ARN",
	    NULL } },
};

TEST(config_rejects_with_exact_messages)
{
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		const struct bad_row *row = &bad_rows[i];
		struct config_errors errs = { 0 };
		struct config *cfg = NULL;
		size_t want = 0;
		int r = config_parse_text("t.json", row->text, strlen(row->text), &cfg, &errs);

		while (row->errors[want])
			want++;
		if (r != -EINVAL || cfg)
			unit_fail(__FILE__, __LINE__, "%s: accepted (r=%d)", row->label, r);
		if (errs.n != want)
			unit_fail(__FILE__, __LINE__, "%s: %zu errors, want %zu", row->label,
				  errs.n, want);
		for (size_t k = 0; k < errs.n && k < want; k++)
			if (strcmp(errs.items[k].text, row->errors[k]))
				unit_fail(__FILE__, __LINE__, "%s:\n  got  %s\n  want %s",
					  row->label, errs.items[k].text, row->errors[k]);
		config_errors_done(&errs);
		config_free(cfg);
	}
}

static const char full[] =
    "// every key\n"
    "{\n"
    "  \"aws\": {\"region\": \"eu-west-1\", \"profile\": \"ops\", \"fips\": true,\n"
    "          \"ca_bundle\": \"/etc/ssl/ca.pem\", \"http_version\": \"2\",\n"
    "          \"endpoints\": {\"ecs\": \"https://ecs.internal\", \"sts\": "
    "\"http://127.0.0.1:9\"}},\n"
    "  \"poll_interval\": \"2m\", /* inline */ \"jitter\": \"10s\",\n"
    "  \"state_directory\": \"/srv/ecr-deployd\", \"rollout_timeout\": \"20m\",\n"
    "  \"log_level\": \"debug\", \"dry_run\": true, \"max_concurrent_deploys\": 2,\n"
    "  \"max_requests_in_flight\": 32,\n"
    "  \"events\": [{\"queue_url\": "
    "\"https://sqs.eu-west-1.amazonaws.com/123456789012/ecr-events\"},\n"
    "             {\"queue_url\": \"https://sqs.us-east-1.amazonaws.com/210987654321/ecs.fifo\",\n"
    "              \"region\": \"us-east-1\", \"role_arn\": "
    "\"arn:aws:iam::210987654321:role/events\"}],\n"
    "  \"watches\": [\n"
    "    {\"name\": \"web\", \"repository\": "
    "\"210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/web\",\n"
    "     \"tags\": [\"prod\", \"stable\"], \"exclude\": [\"*-rc*\"],\n"
    "     \"targets\": [\n"
    "       {\"cluster\": \"prod\", \"service\": \"web\", \"containers\": [\"app\", \"sidecar\"],\n"
    "        \"rollback\": \"none\", \"paused\": true},\n"
    "       {\"cluster\": \"arn:aws:ecs:eu-west-1:210987654321:cluster/prod\", \"service\": "
    "\"web-2\",\n"
    "        \"container\": \"app\", \"strategy\": \"force\", \"rollout_timeout\": \"5m\",\n"
    "        \"role_arn\": \"arn:aws:iam::210987654321:role/deploy/ecr-deployd\"}]},\n"
    "    {\"name\": \"api\", \"repository\": \"team/api\", \"registry_id\": \"123456789012\",\n"
    "     \"region\": \"us-east-1\", \"semver\": \"^1.4 || ~2.0\", \"prerelease\": true,\n"
    "     \"targets\": [{\"cluster\": \"prod\", \"service\": \"api\", \"container\": \"app\",\n"
    "        \"strategy\": \"codedeploy\", \"codedeploy\": {\"application\": \"api\",\n"
    "        \"deployment_group\": \"api-dg\", \"deployment_config\": "
    "\"CodeDeployDefault.ECSLinear10PercentEvery1Minutes\",\n"
    "        \"container\": \"app\", \"port\": 8080}}]},\n"
    "    {\"name\": \"batch\", \"repository\": \"team/batch\", \"tag_glob\": \"release-*\",\n"
    "     \"targets\": [{\"cluster\": \"jobs\", \"service\": \"batch\", \"container\": "
    "\"worker\"}]}\n"
    "  ]\n"
    "}\n";

TEST(config_accepts_every_key)
{
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("full.json", full, strlen(full), &c, &errs), 0);
	for (size_t i = 0; i < errs.n; i++)
		unit_fail(__FILE__, __LINE__, "unexpected: %s", errs.items[i].text);
	config_errors_done(&errs);
	if (!c)
		return;
	CHECK_STR(c->region, "eu-west-1");
	CHECK_STR(c->profile, "ops");
	CHECK(c->fips);
	CHECK_STR(c->endpoints[AWS_SERVICE_ECS], "https://ecs.internal");
	CHECK(c->endpoints[AWS_SERVICE_ECR] == NULL);
	CHECK_INT(c->poll_interval_ms, 120000);
	CHECK_INT(c->jitter_ms, 10000);
	CHECK_STR(c->state_dir, "/srv/ecr-deployd");
	CHECK_INT(c->rollout_timeout_ms, 20 * 60000);
	CHECK_INT(c->log_level, LOG_LEVEL_DEBUG);
	CHECK(c->dry_run);
	CHECK_INT(c->max_concurrent_deploys, 2);
	CHECK_INT(c->max_requests_in_flight, 32);
	CHECK(c->http2);
	CHECK_INT(c->n_watches, 3);
	CHECK_INT(config_target_count(c), 4);
	CHECK_INT(c->n_queues, 2);
	CHECK_STR(c->queues[0].region, "eu-west-1"); /* the URL's */
	CHECK_STR(c->queues[0].name, "ecr-events");
	CHECK(c->queues[0].role_arn == NULL);
	CHECK_STR(c->queues[1].name, "ecs.fifo");
	CHECK_STR(c->queues[1].role_arn, "arn:aws:iam::210987654321:role/events");
	const struct config_watch *w = &c->watches[0];
	CHECK_STR(w->repository, "team/web");
	CHECK_STR(w->registry_id, "210987654321");
	CHECK_STR(w->region, "eu-west-1");
	CHECK_INT(w->rule, TAG_LIST);
	CHECK_INT(w->n_tags, 2);
	CHECK_STR(w->exclude[0], "*-rc*");
	CHECK_INT(w->targets[0].n_containers, 2);
	CHECK(!w->targets[0].rollback);
	CHECK(w->targets[0].paused);
	CHECK_INT(w->targets[0].rollout_timeout_ms, 20 * 60000); /* the global default */
	CHECK_INT(w->targets[1].strategy, STRATEGY_FORCE);
	CHECK_INT(w->targets[1].rollout_timeout_ms, 5 * 60000);
	CHECK_STR(w->targets[1].account, "210987654321");
	CHECK_INT(w->targets[1].at.line, 19);
	CHECK_INT(w->targets[1].at.col, 8);
	w = &c->watches[1];
	CHECK_INT(w->rule, TAG_SEMVER);
	CHECK(w->prerelease);
	CHECK(w->semver != NULL);
	CHECK_INT(w->targets[0].strategy, STRATEGY_CODEDEPLOY);
	CHECK_STR(w->targets[0].cd_group, "api-dg");
	CHECK_INT(w->targets[0].cd_port, 8080);
	CHECK_INT(c->watches[2].rule, TAG_GLOB);
	CHECK_STR(c->watches[2].glob, "release-*");
	config_free(c);
}

TEST(config_defaults)
{
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("d.json", "{}", 2, &c, &errs), 0);
	config_errors_done(&errs);
	if (!c)
		return;
	CHECK_INT(c->poll_interval_ms, 60000);
	CHECK_INT(c->jitter_ms, 0);
	CHECK_STR(c->state_dir, CONFIG_DEFAULT_STATE_DIR);
	CHECK_INT(c->log_level, LOG_LEVEL_INFO);
	CHECK(!c->dry_run);
	CHECK(!c->http2); /* HTTP/1.1: the cheaper per request (issue 19) */
	CHECK_INT(c->n_watches, 0);
	CHECK_STR(c->control_socket, "/run/ecr-deployd/control.sock");
	CHECK_STR(c->control_group, "ecr-deployd");
	CHECK(c->control_read_group == NULL);
	CHECK(c->metrics_file == NULL);
	CHECK_INT(c->history_max, 50);
	config_free(c);
}

TEST(config_control_metrics_history)
{
	static const char text[] = "{\"control\": {\"socket\": \"\", \"group\": \"1234\", "
				   "\"read_group\": \"*\"}, \"metrics_file\": "
				   "\"/var/lib/node/ecr.prom\", \"history_max\": 1000}";
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("d.json", text, sizeof(text) - 1, &c, &errs), 0);
	config_errors_done(&errs);
	if (!c)
		return;
	CHECK_STR(c->control_socket, "");
	CHECK_STR(c->control_group, "1234");
	CHECK_STR(c->control_read_group, "*");
	CHECK_STR(c->metrics_file, "/var/lib/node/ecr.prom");
	CHECK_INT(c->history_max, 1000);
	config_free(c);
}

TEST(config_comments_keep_positions)
{
	const char *text = "{\n"
			   "  /* a block\n"
			   "     over lines */ \"watches\": [ // a line comment\n"
			   "    {\"name\": \"x\", \"repository\": \"BAD\", \"tag\": \"a//b\",\n"
			   "     \"targets\": [{\"cluster\": \"c\", \"service\": \"s\", "
			   "\"container\": \"app\"}]}]}\n";
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("c.json", text, strlen(text), &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 2);
	if (errs.n == 2) {
		CHECK(strncmp(errs.items[0].text, "c.json:4:33: watches[0].repository: 'BAD'",
			      41) == 0);
		/* "//" inside a string is not a comment; '/' is not a tag character */
		CHECK(strncmp(errs.items[1].text, "c.json:4:47: watches[0].tag: 'a//b'", 35) == 0);
	}
	config_errors_done(&errs);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(config_drop_in_files)
{
	char dir[] = "/tmp/ecr-config-XXXXXX", main_file[256], dropins[256], p[300];
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(main_file, sizeof(main_file), "%s/main.json", dir);
	snprintf(dropins, sizeof(dropins), "%s/conf.d", dir);
	mkdir(dropins, 0700);
	write_file(main_file, "{\"poll_interval\": \"30s\"}");
	snprintf(p, sizeof(p), "%s/20-api.json", dropins);
	write_file(
	    p,
	    "{\"watches\": [{\"name\": \"api\", \"repository\": \"team/api\", \"tag\": \"prod\",\n"
	    "  \"targets\": [{\"cluster\": \"c\", \"service\": \"api\", \"container\": "
	    "\"app\"}]}]}");
	snprintf(p, sizeof(p), "%s/10-web.json", dropins);
	write_file(p, "// team web\n{\"watches\": [{\"name\": \"web\", \"repository\": "
		      "\"team/web\", \"tag\": \"prod\",\n"
		      "  \"targets\": [{\"cluster\": \"c\", \"service\": \"web\", \"container\": "
		      "\"app\"}]}]}");
	snprintf(p, sizeof(p), "%s/README", dropins);
	write_file(p, "not json, not *.json: ignored");
	snprintf(p, sizeof(p), "%s/.hidden.json", dropins);
	write_file(p, "not json, hidden: ignored");

	CHECK_INT(config_load(main_file, dropins, &c, &errs), 0);
	for (size_t i = 0; i < errs.n; i++)
		unit_fail(__FILE__, __LINE__, "unexpected: %s", errs.items[i].text);
	config_errors_done(&errs);
	if (c) {
		CHECK_INT(c->n_files, 3);
		CHECK_INT(c->n_watches, 2);
		CHECK_STR(c->watches[0].name, "web"); /* 10-web.json before 20-api.json */
		CHECK_STR(c->watches[1].name, "api");
		CHECK_INT(c->watches[0].at.line, 2);
		CHECK_INT(c->watches[0].at.col, 14);
		config_free(c);
		c = NULL;
	}

	/* A global key in a drop-in, and a name used in two files. */
	snprintf(p, sizeof(p), "%s/30-dup.json", dropins);
	write_file(
	    p, "{\"poll_interval\": \"10s\", \"watchs\": [],\n"
	       " \"watches\": [{\"name\": \"web\", \"repository\": \"team/web2\", \"tag\": \"x\",\n"
	       "  \"targets\": [{\"cluster\": \"c\", \"service\": \"web2\", \"container\": "
	       "\"app\"}]}]}");
	CHECK_INT(config_load(main_file, dropins, &c, &errs), -EINVAL);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 3);
	if (errs.n == 3) {
		CHECK(strstr(errs.items[0].text,
			     "30-dup.json:1:2: poll_interval: 'poll_interval' belongs in "
			     "the main configuration file") != NULL);
		CHECK(strstr(errs.items[1].text,
			     "30-dup.json:1:26: watchs: unknown key 'watchs'; did you mean "
			     "'watches'?") != NULL);
		CHECK(strstr(errs.items[2].text,
			     "30-dup.json:2:14: watch name 'web' is already used by the "
			     "watch at") != NULL &&
		      strstr(errs.items[2].text, "10-web.json:2:14") != NULL);
	}
	config_errors_done(&errs);

	/* A missing main file. */
	CHECK_INT(config_load("/nonexistent/x.json", NULL, &c, &errs), -ENOENT);
	CHECK_INT(errs.n, 1);
	config_errors_done(&errs);

	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	CHECK_INT(system(p), 0);
}

/* Issue 11 case 1: any two (or more) tag rules in one watch, each combination. */
TEST(config_tag_rules_any_two_are_refused)
{
	static const char *const rules[] = { "\"tag\":\"p\"", "\"tags\":[\"a\",\"b\"]",
					     "\"tag_glob\":\"v*\"", "\"semver\":\"^1\"" };

	for (unsigned set = 0; set < 16; set++) {
		struct config_errors errs = { 0 };
		struct config *c = NULL;
		char text[512], want[200];
		int n = 0, len;

		if (__builtin_popcount(set) < 2)
			continue;
		len = snprintf(text, sizeof(text),
			       "{\"watches\":[{\"name\":\"w\",\"repository\":\"team/w\"");
		for (int i = 0; i < 4; i++)
			if (set & (1u << i)) {
				len += snprintf(text + len, sizeof(text) - (size_t)len, ",%s",
						rules[i]);
				n++;
			}
		snprintf(
		    text + len, sizeof(text) - (size_t)len,
		    ",\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"a\"}]}]}");
		snprintf(
		    want, sizeof(want),
		    "t.json:1:13: watches[0]: give exactly one of 'tag', 'tags', 'tag_glob' or "
		    "'semver' (found %d)",
		    n);
		CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), -EINVAL);
		CHECK(c == NULL);
		CHECK_INT(errs.n, 1);
		if (errs.n >= 1 && strcmp(errs.items[0].text, want))
			unit_fail(__FILE__, __LINE__, "%s:\n  got  %s\n  want %s", text,
				  errs.items[0].text, want);
		config_errors_done(&errs);
		config_free(c);
	}
}

/* Issue 11 case 9: a semver range that can never match is accepted with a located warning. */
TEST(config_warns_when_semver_can_never_match)
{
	static const struct {
		const char *range;
		bool warns;
	} rows[] = {
		{ ">=2.0.0 <1.0.0", true },   { ">2.0.0 <=2.0.0", true },
		{ "=1.2.3 >1.2.3", true },    { ">=3 <2 || >5 <4", true },
		{ ">=1.0.0 <=1.0.0", false }, { "^1.4", false },
		{ ">=3 <2 || ^1", false },    { "*", false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct config_errors errs = { 0 };
		struct config *c = NULL;
		char text[512], want[256];

		snprintf(
		    text, sizeof(text),
		    "{\"watches\":[{\"name\":\"w\",\"repository\":\"team/w\",\"semver\":\"%s\","
		    "\"targets\":[{\"cluster\":\"c\",\"service\":\"s\",\"container\":\"a\"}]}]}",
		    rows[i].range);
		snprintf(
		    want, sizeof(want),
		    "t.json:1:56: watches[0].semver: warning: '%s' can never match: no version "
		    "is within its bounds, so this watch will deploy nothing",
		    rows[i].range);
		CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), 0);
		CHECK(c != NULL);
		CHECK_INT(errs.n, rows[i].warns ? 1 : 0);
		if (rows[i].warns && errs.n == 1) {
			CHECK(errs.items[0].warning);
			if (strcmp(errs.items[0].text, want))
				unit_fail(__FILE__, __LINE__, "%s:\n  got  %s\n  want %s",
					  rows[i].range, errs.items[0].text, want);
		}
		config_errors_done(&errs);
		config_free(c);
	}
}

/* Issue 11 case 9: nesting beyond the limit is named as such, with its place. */
TEST(config_nesting_too_deep_is_located)
{
	static const int depths[] = { 64, 65, 100, 1100 };

	for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
		int d = depths[i]; /* levels in all, the top object included */
		size_t n = 16 + 2 * (size_t)d;
		char *text = malloc(n), want[128];
		struct config_errors errs = { 0 };
		struct config *c = NULL;
		size_t len = 0;
		int r;

		if (!text)
			return;
		len += (size_t)snprintf(text, n, "{\"watches\":");
		for (int k = 1; k < d; k++)
			text[len++] = '[';
		for (int k = 1; k < d; k++)
			text[len++] = ']';
		text[len++] = '}';
		r = config_parse_text("t.json", text, len, &c, &errs);
		if (d <= 64) {
			/* 64 levels parse; the list of lists is then refused as a watch */
			CHECK_INT(r, -EINVAL);
			CHECK(errs.n >= 1 && strstr(errs.items[0].text, "nested") == NULL);
		} else {
			/* the 65th level opens at column 12 + 63 */
			snprintf(want, sizeof(want),
				 "t.json:1:75: nested too deeply: at most 64 levels of objects and "
				 "lists");
			CHECK_INT(r, -EINVAL);
			CHECK_INT(errs.n, 1);
			if (errs.n == 1 && strcmp(errs.items[0].text, want))
				unit_fail(__FILE__, __LINE__, "depth %d:\n  got  %s\n  want %s", d,
					  errs.items[0].text, want);
		}
		config_errors_done(&errs);
		config_free(c);
		free(text);
	}
}

/*
 * Issue 11 case 3: a FIFO, a directory or a device as the main file or a
 * drop-in is refused by name, without blocking (an alarm ends a test that
 * would hang).
 */
TEST(config_refuses_non_regular_files_without_blocking)
{
	char dir[] = "/tmp/ecr-config-XXXXXX", main_file[256], fifo[256], dropins[256], p[300];
	struct config_errors errs = { 0 };
	struct config *c = NULL;
	char want[600];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(main_file, sizeof(main_file), "%s/main.json", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo.json", dir);
	snprintf(dropins, sizeof(dropins), "%s/conf.d", dir);
	CHECK_INT(mkdir(dropins, 0700), 0);
	write_file(main_file, "{\"poll_interval\": \"30s\"}");
	CHECK_INT(mkfifo(fifo, 0600), 0);

	alarm(10);
	CHECK_INT(config_load(fifo, NULL, &c, &errs), -EINVAL);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 1);
	snprintf(
	    want, sizeof(want),
	    "%s: not a regular file but a FIFO; the configuration is read only from regular files",
	    fifo);
	if (errs.n == 1)
		CHECK_STR(errs.items[0].text, want);
	config_errors_done(&errs);

	snprintf(p, sizeof(p), "%s/10-fifo.json", dropins);
	CHECK_INT(mkfifo(p, 0600), 0);
	snprintf(p, sizeof(p), "%s/20-dir.json", dropins);
	CHECK_INT(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/30-null.json", dropins);
	CHECK_INT(symlink("/dev/null", p), 0);
	CHECK_INT(config_load(main_file, dropins, &c, &errs), -EINVAL);
	alarm(0);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 3);
	if (errs.n == 3) {
		snprintf(want, sizeof(want),
			 "%s/10-fifo.json: not a regular file but a FIFO; the configuration is "
			 "read only from regular files",
			 dropins);
		CHECK_STR(errs.items[0].text, want);
		snprintf(want, sizeof(want),
			 "%s/20-dir.json: not a regular file but a directory; the configuration is "
			 "read only from regular files",
			 dropins);
		CHECK_STR(errs.items[1].text, want);
		snprintf(want, sizeof(want),
			 "%s/30-null.json: not a regular file but a character device; the "
			 "configuration is read only from regular files",
			 dropins);
		CHECK_STR(errs.items[2].text, want);
	}
	config_errors_done(&errs);

	/* aws.ca_bundle is read by TLS at every handshake: a FIFO there would block the loop. */
	snprintf(p, sizeof(p), "{\"aws\": {\"ca_bundle\": \"%s\"}}", fifo);
	write_file(main_file, p);
	CHECK_INT(config_load(main_file, NULL, &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 1);
	snprintf(want, sizeof(want),
		 "%s:1:23: aws.ca_bundle: '%s' is not a regular file but a FIFO", main_file, fifo);
	if (errs.n == 1)
		CHECK_STR(errs.items[0].text, want);
	config_errors_done(&errs);

	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	CHECK_INT(system(p), 0);
}

/* Issue 11 case 9: errors of every file, cross-file checks included, in file order. */
TEST(config_errors_are_sorted_by_file_line_column)
{
	char dir[] = "/tmp/ecr-config-XXXXXX", main_file[256], dropins[256], p[300];
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(main_file, sizeof(main_file), "%s/main.json", dir);
	snprintf(dropins, sizeof(dropins), "%s/conf.d", dir);
	CHECK_INT(mkdir(dropins, 0700), 0);
	write_file(
	    main_file,
	    "{\"watches\": [{\"name\": \"web\", \"repository\": \"team/web\", \"tag\": \"p\",\n"
	    "  \"targets\": [{\"cluster\": \"c\", \"service\": \"web\", \"container\": "
	    "\"app\"}]}],\n"
	    " \"log_level\": \"loud\"}");
	snprintf(p, sizeof(p), "%s/10-a.json", dropins);
	write_file(
	    p, "{\"watches\": [{\"name\": \"web\", \"repository\": \"team/a\", \"tag\": \"p\",\n"
	       "  \"targets\": [{\"cluster\": \"c\", \"service\": \"a\", \"container\": "
	       "\"app\"}]}]}");
	snprintf(p, sizeof(p), "%s/20-b.json", dropins);
	write_file(p, "{\"watches\": [{\"name\": \"b\", \"repository\": \"B\", \"tag\": \"p\",\n"
		      "  \"targets\": [{\"cluster\": \"c\", \"service\": \"b\", \"container\": "
		      "\"app\"}]}]}");
	CHECK_INT(config_load(main_file, dropins, &c, &errs), -EINVAL);
	CHECK_INT(errs.n, 3);
	if (errs.n == 3) {
		CHECK(strstr(errs.items[0].text, "main.json:3:15: log_level: 'loud'") != NULL);
		CHECK(strstr(errs.items[1].text,
			     "10-a.json:1:14: watch name 'web' is already used by the watch at") !=
		      NULL);
		CHECK(strstr(errs.items[2].text, "20-b.json:1:42: watches[0].repository: 'B'") !=
		      NULL);
	}
	config_errors_done(&errs);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	CHECK_INT(system(p), 0);
}

/* The config of text, which must be accepted without a warning. */
static struct config *parse_ok(const char *text)
{
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), 0);
	for (size_t i = 0; i < errs.n; i++)
		unit_fail(__FILE__, __LINE__, "unexpected: %s", errs.items[i].text);
	config_errors_done(&errs);
	return c;
}

/* Issue 13: approve and guard default to manual and warn, and targets inherit the globals. */
TEST(config_approve_and_guard_defaults_and_inheritance)
{
	static const char plain[] =
	    "{\"watches\": [{\"name\": \"w\", \"repository\": \"team/w\", \"tag\": \"p\",\n"
	    "  \"targets\": [{\"cluster\": \"c\", \"service\": \"s\", \"container\": \"a\"}]}]}";
	/* the globals written after the watches still reach them; a target's own value wins */
	static const char globals[] =
	    "{\"watches\": [{\"name\": \"w\", \"repository\": \"team/w\", \"tag\": \"p\",\n"
	    "  \"targets\": [{\"cluster\": \"c\", \"service\": \"s1\", \"container\": \"a\"},\n"
	    "    {\"cluster\": \"c\", \"service\": \"s2\", \"container\": \"a\",\n"
	    "     \"approve\": \"manual\", \"guard\": \"warn\"},\n"
	    "    {\"cluster\": \"c\", \"service\": \"s3\", \"container\": \"a\", \"guard\": "
	    "\"off\"}]}],\n"
	    " \"approve\": \"auto\", \"guard\": \"enforce\"}";
	struct config *c;

	if ((c = parse_ok(plain))) {
		CHECK_INT(c->approve, APPROVE_MANUAL);
		CHECK_INT(c->guard, GUARD_WARN);
		CHECK_INT(c->watches[0].targets[0].approve, APPROVE_MANUAL);
		CHECK_INT(c->watches[0].targets[0].guard, GUARD_WARN);
		config_free(c);
	}
	if ((c = parse_ok(globals))) {
		const struct config_target *t = c->watches[0].targets;
		CHECK_INT(c->approve, APPROVE_AUTO);
		CHECK_INT(c->guard, GUARD_ENFORCE);
		CHECK_INT(t[0].approve, APPROVE_AUTO);
		CHECK_INT(t[0].guard, GUARD_ENFORCE);
		CHECK_INT(t[1].approve, APPROVE_MANUAL);
		CHECK_INT(t[1].guard, GUARD_WARN);
		CHECK_INT(t[2].approve, APPROVE_AUTO);
		CHECK_INT(t[2].guard, GUARD_OFF);
		config_free(c);
	}
}

/* Issue 13: approve "auto" goes with every strategy; each value of guard is read. */
TEST(config_approve_auto_with_every_strategy)
{
	static const char text[] =
	    "{\"watches\": [{\"name\": \"w\", \"repository\": \"team/w\", \"tag\": \"p\",\n"
	    "  \"targets\": [\n"
	    "    {\"cluster\": \"c\", \"service\": \"s1\", \"container\": \"a\",\n"
	    "     \"approve\": \"auto\", \"guard\": \"warn\"},\n"
	    "    {\"cluster\": \"c\", \"service\": \"s2\", \"container\": \"a\", \"strategy\": "
	    "\"force\",\n"
	    "     \"approve\": \"auto\", \"guard\": \"enforce\"},\n"
	    "    {\"cluster\": \"c\", \"service\": \"s3\", \"container\": \"a\", \"strategy\": "
	    "\"codedeploy\",\n"
	    "     \"approve\": \"auto\", \"guard\": \"off\", \"codedeploy\": {\"application\": "
	    "\"a\",\n"
	    "     \"deployment_group\": \"g\", \"container\": \"a\", \"port\": 80}}]}]}";
	struct config *c = parse_ok(text);

	if (!c)
		return;
	for (size_t i = 0; i < 3; i++)
		CHECK_INT(c->watches[0].targets[i].approve, APPROVE_AUTO);
	CHECK_INT(c->watches[0].targets[0].guard, GUARD_WARN);
	CHECK_INT(c->watches[0].targets[1].guard, GUARD_ENFORCE);
	CHECK_INT(c->watches[0].targets[2].guard, GUARD_OFF);
	CHECK_INT(c->watches[0].targets[1].strategy, STRATEGY_FORCE);
	CHECK_INT(c->watches[0].targets[2].strategy, STRATEGY_CODEDEPLOY);
	config_free(c);
}

/* Issue 13: a deployment may wait at a hook up to 14 days; rollout_timeout allows exactly that
 * (one day more is refused by the rows of config_rejects_with_exact_messages). */
TEST(config_rollout_timeout_up_to_14_days)
{
	static const char text[] =
	    "{\"rollout_timeout\": \"14d\",\n"
	    " \"watches\": [{\"name\": \"w\", \"repository\": \"team/w\", \"tag\": \"p\",\n"
	    "  \"targets\": [{\"cluster\": \"c\", \"service\": \"s1\", \"container\": \"a\"},\n"
	    "    {\"cluster\": \"c\", \"service\": \"s2\", \"container\": \"a\",\n"
	    "     \"rollout_timeout\": \"336h\"},\n"
	    "    {\"cluster\": \"c\", \"service\": \"s3\", \"container\": \"a\",\n"
	    "     \"rollout_timeout\": \"10s\"}]}]}";
	struct config *c = parse_ok(text);

	if (!c)
		return;
	CHECK_INT(c->rollout_timeout_ms, 14 * DURATION_MS_PER_DAY);
	CHECK_INT(c->watches[0].targets[0].rollout_timeout_ms, 14 * DURATION_MS_PER_DAY);
	CHECK_INT(c->watches[0].targets[1].rollout_timeout_ms, 14 * DURATION_MS_PER_DAY);
	CHECK_INT(c->watches[0].targets[2].rollout_timeout_ms, 10 * DURATION_MS_PER_SEC);
	config_free(c);
}

/* Issue 13: --check-config's summary names the defaults and each target's other choices. */
TEST(config_summary_names_approve_and_guard)
{
	static const char text[] =
	    "{\"guard\": \"enforce\",\n"
	    " \"watches\": [{\"name\": \"w\", \"repository\": \"team/w\", \"tag\": \"p\",\n"
	    "  \"targets\": [{\"cluster\": \"c\", \"service\": \"s1\", \"container\": \"a\"},\n"
	    "    {\"cluster\": \"c\", \"service\": \"s2\", \"container\": \"a\",\n"
	    "     \"approve\": \"auto\", \"guard\": \"off\"}]}]}";
	struct config *c = parse_ok(text);
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (!c)
		return;
	f = open_memstream(&out, &len);
	CHECK(f != NULL);
	if (f) {
		config_print_summary(c, f);
		fclose(f);
		CHECK(strstr(out, "; rollout timeout 30m; approve manual; guard enforce\n") !=
		      NULL);
		CHECK(strstr(out, "    -> c/s1 [revision]\n") != NULL);
		CHECK(strstr(out, "    -> c/s2 [revision] approve auto, guard off\n") != NULL);
		CHECK(strstr(out,
			     "control socket /run/ecr-deployd/control.sock (group ecr-deployd); "
			     "history of 50 rollouts per target\n") != NULL);
		if (!strstr(out, "guard off\n"))
			unit_fail(__FILE__, __LINE__, "the summary:\n%s", out);
	}
	free(out);
	config_free(c);
}

/* Issue 13: the global defaults reach the targets of drop-in files; a drop-in cannot set them. */
TEST(config_approve_and_guard_reach_drop_ins)
{
	char dir[] = "/tmp/ecr-config-XXXXXX", main_file[256], dropins[256], p[300];
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(main_file, sizeof(main_file), "%s/main.json", dir);
	snprintf(dropins, sizeof(dropins), "%s/conf.d", dir);
	CHECK_INT(mkdir(dropins, 0700), 0);
	write_file(main_file,
		   "{\"approve\": \"auto\", \"guard\": \"off\", \"rollout_timeout\": \"7d\"}");
	snprintf(p, sizeof(p), "%s/10-web.json", dropins);
	write_file(p,
		   "{\"watches\": [{\"name\": \"w\", \"repository\": \"team/w\", \"tag\": \"p\",\n"
		   "  \"targets\": [{\"cluster\": \"c\", \"service\": \"s\", \"container\": "
		   "\"a\"}]}]}");
	CHECK_INT(config_load(main_file, dropins, &c, &errs), 0);
	for (size_t i = 0; i < errs.n; i++)
		unit_fail(__FILE__, __LINE__, "unexpected: %s", errs.items[i].text);
	config_errors_done(&errs);
	if (c) {
		CHECK_INT(c->watches[0].targets[0].approve, APPROVE_AUTO);
		CHECK_INT(c->watches[0].targets[0].guard, GUARD_OFF);
		CHECK_INT(c->watches[0].targets[0].rollout_timeout_ms, 7 * DURATION_MS_PER_DAY);
		config_free(c);
		c = NULL;
	}
	snprintf(p, sizeof(p), "%s/20-team.json", dropins);
	write_file(p, "{\"guard\": \"off\", \"approve\": \"manual\", \"watches\": []}");
	CHECK_INT(config_load(main_file, dropins, &c, &errs), -EINVAL);
	CHECK(c == NULL);
	CHECK_INT(errs.n, 2);
	if (errs.n == 2) {
		CHECK(strstr(errs.items[0].text,
			     "20-team.json:1:2: guard: 'guard' belongs in the main configuration "
			     "file; a drop-in file holds only 'watches'") != NULL);
		CHECK(strstr(errs.items[1].text,
			     "20-team.json:1:18: approve: 'approve' belongs in the main "
			     "configuration file; a drop-in file holds only 'watches'") != NULL);
	}
	config_errors_done(&errs);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	CHECK_INT(system(p), 0);
}

/* Issue 14: the queue URL forms SQS answers to, and look-alikes that are not. */
TEST(config_queue_url_forms)
{
	static const struct {
		const char *url;
		bool ok;
	} rows[] = {
		{ "https://sqs.us-east-1.amazonaws.com/123456789012/q", true },
		{ "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", true },
		{ "https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/q-1_x", true },
		{ "https://sqs.eu-west-1.api.aws/123456789012/q.fifo", true },
		{ "http://sqs.us-east-1.amazonaws.com/123456789012/q", false },
		{ "https://sqs.us-east-1.amazonaws.com/12345678901/q", false },
		{ "https://sqs.us-east-1.amazonaws.com/123456789012/", false },
		{ "https://sqs.us-east-1.amazonaws.com/123456789012/q/x", false },
		{ "https://sqs.us-east-1.amazonaws.com/123456789012/q.b", false },
		{ "https://sqs.moon.amazonaws.com/123456789012/q", false },
		{ "https://sqs.us-east-1.evil.com/123456789012/q", false },
		{ "https://sqs..amazonaws.com/123456789012/q", false },
		{ "https://sqs.us-east-1.amazonaws.com.evil/123456789012/q", false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct config_errors errs = { 0 };
		struct config *c = NULL;
		char text[300];
		snprintf(text, sizeof(text), "{\"events\": [{\"queue_url\": \"%s\"}]}",
			 rows[i].url);
		int r = config_parse_text("t.json", text, strlen(text), &c, &errs);
		if ((r == 0) != rows[i].ok)
			unit_fail(__FILE__, __LINE__, "%s: %s", rows[i].url,
				  rows[i].ok ? "refused" : "accepted");
		config_errors_done(&errs);
		config_free(c);
	}
}

/* Issue 14: the old event_queue key is one queue of events, accepted with a warning. */
TEST(config_event_queue_migrates_to_events)
{
	static const char text[] =
	    "{\"event_queue\": \"https://sqs.eu-west-1.amazonaws.com/123456789012/ecr-events\"}";
	struct config_errors errs = { 0 };
	struct config *c = NULL;

	CHECK_INT(config_parse_text("t.json", text, strlen(text), &c, &errs), 0);
	CHECK_INT(errs.n, 1);
	if (errs.n == 1) {
		CHECK(errs.items[0].warning);
		CHECK_STR(
		    errs.items[0].text,
		    "t.json:1:17: event_queue: warning: 'event_queue' is the old name of one "
		    "queue of 'events'; write \"events\": [{\"queue_url\": "
		    "\"https://sqs.eu-west-1.amazonaws.com/123456789012/ecr-events\"}] instead");
	}
	config_errors_done(&errs);
	if (!c)
		return;
	CHECK_INT(c->n_queues, 1);
	CHECK_STR(c->queues[0].url, "https://sqs.eu-west-1.amazonaws.com/123456789012/ecr-events");
	CHECK_STR(c->queues[0].region, "eu-west-1");
	CHECK(c->queues[0].role_arn == NULL);
	config_free(c);
}
