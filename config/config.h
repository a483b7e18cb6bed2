/* SPDX-License-Identifier: MIT */
/*
 * The watch rules: loading the main file and the drop-in directory, every
 * check they must pass, and the in-memory config the daemon runs on.
 *
 * Files are JSON with // and block comments. The main file holds the global
 * settings and may hold watches; each *.json in the drop-in directory (in
 * lexical order) holds only {"watches": [...]}, so that each team can own a
 * file. Every error is collected (not just the first), each with
 * file:line:col, the JSON path, the value and what is allowed.
 */
#ifndef ECR_CONFIG_H
#define ECR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "endpoint.h"
#include "semver.h"

#define CONFIG_DEFAULT_FILE           "/etc/ecr-deployd/ecr-deployd.json"
#define CONFIG_DEFAULT_DIR            "/etc/ecr-deployd/conf.d"
#define CONFIG_DEFAULT_STATE_DIR      "/var/lib/ecr-deployd"
#define CONFIG_DEFAULT_CONTROL_SOCKET "/run/ecr-deployd/control.sock"
#define CONFIG_DEFAULT_CONTROL_GROUP  "ecr-deployd"
#define CONFIG_CONTROL_SOCKET_MAX     107 /* sun_path less its NUL */
#define CONFIG_CONTROL_SOCKET_DIR_MAX                                                          \
	99 /* its directory, to the last '/': room for the name the socket is made under first \
	      (daemon/control.c) */
#define CONFIG_DEFAULT_HISTORY_MAX 50

enum config_tag_rule { TAG_ONE, TAG_LIST, TAG_GLOB, TAG_SEMVER };
enum config_strategy { STRATEGY_REVISION, STRATEGY_FORCE, STRATEGY_CODEDEPLOY };
enum config_approve { APPROVE_MANUAL, APPROVE_AUTO };
enum config_guard { GUARD_WARN, GUARD_ENFORCE, GUARD_OFF };
enum config_log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

struct config_place {
	const char *file; /* points into config->files */
	int line, col;
};

struct config_target {
	char *cluster;
	char *service;
	char **containers;
	size_t n_containers;
	enum config_strategy strategy;
	char *cd_application, *cd_group, *cd_config, *cd_container;
	int cd_port;
	uint64_t rollout_timeout_ms;
	bool rollback;               /* "auto" */
	enum config_approve approve; /* PAUSE hooks: continued by us, or by an operator */
	enum config_guard guard;     /* the zero-downtime guard */
	char *role_arn;
	char *account; /* of role_arn, or NULL */
	bool paused;
	bool first_start_skip; /* on_first_start "skip": wait for the next push */
	char *retry;           /* a failed digest the operator allows once more, or NULL */
	struct config_place at;
};

/* A queue of EventBridge events (events[]; the old event_queue key is one of them). */
struct config_queue {
	char *url;    /* https://sqs.<region>.amazonaws.com/<account>/<name> */
	char *region; /* its own "region", else the URL's */
	char *name;
	char *role_arn; /* assumed to read it, or NULL */
};

#define CONFIG_MAX_QUEUES 16

/* The phases a notification is sent for (docs/notifications.md), in the order of their bits in
 * config_sink.kinds; their names are what the configuration, the body and the metrics use. */
enum notice_kind {
	NOTICE_STARTED,           /* "deploy-started" (off by default) */
	NOTICE_COMPLETED,         /* "deploy-completed" */
	NOTICE_FAILED,            /* "deploy-failed" */
	NOTICE_ROLLED_BACK,       /* "rolled-back" */
	NOTICE_ROLLBACK_FAILED,   /* "rollback-failed" */
	NOTICE_AWAITING_APPROVAL, /* "awaiting-approval" */
	NOTICE_BLOCKED,           /* "blocked" */
	NOTICE_WATCH_FAILING,     /* "watch-failing": a repository failed every poll for a while */
	NOTICE_KIND_COUNT
};

/* info < warning < error (the sink's "min_severity"). */
enum notice_severity { SEVERITY_INFO, SEVERITY_WARNING, SEVERITY_ERROR };

enum config_sink_type { SINK_WEBHOOK, SINK_SLACK, SINK_EVENTBRIDGE };

/* A notification sink (notify[]). url and secret are secrets: they live in secmem (secmem.h),
 * and nothing prints them; host is what may be shown. */
struct config_sink {
	char *name; /* [A-Za-z0-9_.-]{1,64}, unique; default "<type>" or "<type>-<n>" (n: 1-based
		       index in notify[]) when several of a type */
	enum config_sink_type type;
	char *url;      /* webhook, slack: https:// (http:// only to a loopback host), from "url" or
			   read from "url_file" (one line; the newline stripped) at load */
	char *url_file; /* where the URL came from, or NULL */
	char *host;     /* the URL's host (and :port when given): what logs, status, metrics show */
	unsigned char *secret; /* webhook: the HMAC-SHA256 key (the bytes of "secret_file", a final
				  newline stripped), or NULL: no signature header */
	size_t secret_len;
	char *secret_file;
	char *bus;      /* eventbridge: "event_bus" (name or ARN), default "default" */
	char *region;   /* eventbridge: "region", default the global one (NULL) */
	char *role_arn; /* eventbridge: assumed to put events, or NULL */
	uint32_t
	    kinds; /* filter "events": 1u << enum notice_kind; default every kind but started */
	char **watches; /* filter "watches": watch names; none: all */
	size_t n_watches;
	struct config_place *watches_at; /* where each of watches[] is given (for messages) */
	char **services; /* filter "services": "cluster/service" or "service"; none: all */
	size_t n_services;
	enum notice_severity min_severity; /* filter "min_severity", default info */
	uint64_t max_age_ms;       /* "max_age": attempts end after it, default 24h (1m..7d) */
	uint64_t timeout_ms;       /* "timeout": one attempt, default 10s (1s..60s) */
	uint64_t failing_after_ms; /* "failing_after": watch-failing after it, 15m (10s..7d) */
	int concurrency;           /* "concurrency": attempts in flight, default 2 (1..16) */
	int max_pending;           /* "max_pending": the backlog bound, default 1000 (1..100000) */
	struct config_place at;
};

#define CONFIG_MAX_SINKS 16

/* ha: several instances share one DynamoDB table; exactly one acts (docs/ha.md). */
#define CONFIG_HA_DEFAULT_GROUP    "ecr-deployd"
#define CONFIG_HA_DEFAULT_LEASE_MS (20 * 1000)
#define CONFIG_HA_LEASE_MIN_MS     (3 * 1000)
#define CONFIG_HA_LEASE_MAX_MS     (5 * 60 * 1000)
#define CONFIG_HA_INSTANCE_MAX     128

struct config_ha {
	char *table;       /* "table": a table name [A-Za-z0-9_.-]{3,255} or a table ARN
			      (arn:<partition>:dynamodb:<region>:<account>:table/<name>) */
	char *table_name;  /* the name alone (the table's, also from an ARN) */
	char *region;      /* "region", else the ARN's; NULL: the global region */
	char *role_arn;    /* "role_arn": assumed for every DynamoDB call, or NULL */
	char *group;       /* "group": the partition key of this set of instances, default
			      "ecr-deployd"; [A-Za-z0-9_.-]{1,64} */
	char *instance_id; /* "instance_id", default the host name (gethostname) at load;
			      [A-Za-z0-9_.:-]{1,128} */
	uint64_t lease_ms; /* "lease_duration", default 20s, 3s..5m */
	struct config_place at;
};

struct config_watch {
	char *name;
	char *repository;  /* the name within the registry */
	char *registry_id; /* 12 digits, or NULL for the caller's account */
	char *region;      /* NULL: the global region */
	enum config_tag_rule rule;
	char **tags; /* TAG_ONE: one; TAG_LIST: several */
	size_t n_tags;
	char *glob;
	char *semver_text;
	struct semver_range *semver;
	bool prerelease;
	char **exclude;
	size_t n_exclude;
	struct config_target *targets;
	size_t n_targets;
	struct config_place at;
};

struct config {
	char **files; /* every file read, main first */
	size_t n_files;
	char *region, *profile, *ca_bundle;
	bool fips;
	bool http2; /* aws.http_version "2": offered in ALPN, streams multiplexed */
	char *endpoints[AWS_SERVICE_COUNT];
	uint64_t poll_interval_ms, jitter_ms, rollout_timeout_ms;
	enum config_approve approve; /* the targets' default */
	enum config_guard guard;     /* the targets' default */
	char *state_dir;
	enum config_log_level log_level;
	bool dry_run;
	int max_concurrent_deploys;
	int max_requests_in_flight;
	/* The control socket (docs/control.md): path ("" none), write group, read-only group or "*"
	 * (NULL none). */
	char *control_socket, *control_group, *control_read_group;
	char *metrics_file;          /* the Prometheus text file, or NULL */
	int history_max;             /* history entries kept per target */
	struct config_queue *queues; /* events[] */
	size_t n_queues;
	struct config_sink *sinks; /* notify[] */
	size_t n_sinks;
	struct config_watch *watches;
	size_t n_watches;
	struct config_ha *ha; /* NULL: single instance, the state directory alone (unchanged) */
	unsigned refs;        /* config_ref() / config_free() */
};

struct config_error {
	char *text;     /* "file:line:col: path: message"; values from the file escaped */
	bool warning;   /* the configuration is accepted all the same */
	size_t file_no; /* where, for the order: the file's index in config->files, */
	int line, col;  /* 1-based (0: the file as a whole) */
};

struct config_errors {
	struct config_error *items;
	size_t n, cap;
};

/*
 * Loads main_file and every *.json in dir (NULL or missing: none) and
 * validates them all. Only regular files are read (a FIFO, device, socket
 * or directory is refused, never opened for reading), so loading never
 * blocks. On success returns 0 and *ret. Otherwise returns -ENOENT when
 * main_file does not exist, -EINVAL when anything is invalid, -ENOMEM; errs
 * then holds every error found (also for -ENOENT). Warnings (.warning set)
 * may come with success too. What this call added to errs is sorted by
 * file (in the order read), line and column, stably.
 */
int config_load(const char *main_file, const char *dir, struct config **ret,
		struct config_errors *errs);

/*
 * The same for in-memory text (one file named name); for tests and fuzzing.
 * text need not be NUL-terminated.
 */
int config_parse_text(const char *name, const char *text, size_t len, struct config **ret,
		      struct config_errors *errs);

/* Another reference; config_free() drops one and frees the config with the last. */
struct config *config_ref(struct config *c);
void config_free(struct config *c);
void config_errors_done(struct config_errors *e);

/* Total targets over all watches. */
size_t config_target_count(const struct config *c);

/*
 * Which keys of ha differ between two configurations, for a reload (SIGHUP) that must keep the
 * running ha: writes the changed paths ("ha", "ha.table", "ha.lease_duration", ...) separated by
 * spaces into out (size n, always terminated, "" when none) and returns how many differ.
 */
size_t config_ha_changes(const struct config *old, const struct config *new, char *out, size_t n);

/* The one-screen summary --check-config prints. */
void config_print_summary(const struct config *c, FILE *out);

const char *config_strategy_name(enum config_strategy s);
/* "manual", "auto"; "warn", "enforce", "off": the names the configuration uses. */
const char *config_approve_name(enum config_approve a);
const char *config_guard_name(enum config_guard g);
/* "deploy-started", ...; "info", "warning", "error"; "webhook", "slack", "eventbridge"; NULL for
 * a value out of range. notice_kind_from_name() returns the kind or -1. */
const char *notice_kind_name(enum notice_kind k);
int notice_kind_from_name(const char *name);
const char *notice_severity_name(enum notice_severity s);
const char *config_sink_type_name(enum config_sink_type t);

#endif
