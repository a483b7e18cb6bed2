/* SPDX-License-Identifier: MIT */
/*
 * The one mutable context of the program, owned by main(): the loop, the
 * configuration in force, the AWS client stack and the parts that run on it.
 */
#ifndef ECR_DAEMON_H
#define ECR_DAEMON_H

#include <ev.h>
#include <signal.h>
#include <stdbool.h>

#include "aws.h"
#include "config.h"
#include "credentials.h"
#include "http.h"
#include "sigv4.h"

struct control;
struct ddb;
struct deployer;
struct history;
struct lease;
struct metrics;
struct notifier;
struct outbox;
struct state;
struct watcher;

struct daemon {
	struct ev_loop *loop;
	const char *config_file;
	const char *config_dir;
	struct config *cfg; /* in force; a poll cycle may still hold the one before */
	char region[64];
	struct http_client *http;
	struct sigv4_signer *signer;
	struct cred_provider *creds;
	struct aws_client *aws;
	struct state *state;
	struct history *history; /* <state_directory>/history.json */
	struct watcher *watcher;
	struct deployer *deployer;
	struct queues *queues; /* push events (config "events"); none with --once */
	struct notifier *notifier;
	struct control *control;    /* the control socket; none with --once or control.socket "" */
	struct metrics *metrics;    /* counters and the metrics file (metrics.h) */
	struct outbox *outbox;      /* notifications (config "notify"); none in a dry run */
	struct strmap *polled;      /* cfg's watches by region and repository, made when first */
				    /* needed after each (re)load (on_polled) */
	const struct config_ha *ha; /* the ha in force (of ha_cfg), or NULL: a single instance */
	struct config *ha_cfg;      /* a reference to the configuration it came from */
	struct ddb *ddb;            /* ha: the shared table (ddb.h), else NULL */
	struct lease *lease;        /* ha: who acts (lease.h), else NULL */
	struct http_client_options http_options; /* what the clients were made with (the ha */
	struct aws_options aws_options;          /* table's blocking calls make their own) */
	int ha_role_said;                        /* the enum lease_role last said */
	char ha_leader_said[130];
	char refusal[400]; /* a standby's answer to a command it does not run */
	bool working;      /* the parts that act run: always alone; ha: while leading */
	bool demoting;     /* ha: another instance leads; nothing is written on the way out */
	bool fenced;       /* ha: DynamoDB refused a write of ours by the fence */
	char *const *argv; /* for the demotion's exec */
	char host[256];    /* gethostname(), for the notifications */
	struct ev_signal sighup, sigterm, sigint;
	struct ev_timer once_check;
	struct ev_prepare status_prep; /* sends STATUS= when it changed */
	char status[512];              /* the last one sent */
	char rollouts_seen[512];       /* the rollouts' line when the metrics were last told */
	bool dry_run;                  /* --dry-run: only read APIs (also the config's dry_run) */
	bool once;                     /* --once: one reconcile pass, wait for its rollouts, exit */
	bool stopped;                  /* by a signal */
	int log_level;                 /* --log-level, or -1 */
	int exit_code;
};

struct daemon_options {
	bool dry_run;
	bool once;
	int log_level;     /* --log-level (an enum config_log_level), or -1: the config's */
	char *const *argv; /* main()'s, for the demotion of an ha instance (it executes itself) */
};

/*
 * The signals the loop handles: SIGHUP, SIGTERM, SIGINT. main() blocks them before anything else,
 * so that one sent before the loop's handlers exist waits (a SIGHUP's default action would kill
 * the process); daemon_run() unblocks them once its ev_signal watchers are started, and a signal
 * that waited is handled then.
 */
void daemon_signals(sigset_t *set);

/*
 * Sets up everything around cfg (taking it over), runs the loop until SIGTERM or SIGINT, tears
 * down. Returns the process exit code. With ha, the instance stands by until it holds the lease;
 * one that loses it executes itself again (o->argv) and does not return.
 */
int daemon_run(const char *config_file, const char *config_dir, struct config *cfg,
	       const struct daemon_options *o);

/*
 * --migrate-state-to-table: copies the state directory of cfg into its ha table once (migrate.h).
 * Prints what it did to stdout; returns the exit code.
 */
int daemon_migrate(struct config *cfg);

#endif
