/* SPDX-License-Identifier: MIT */
/*
 * ecr-deployd: watches Amazon ECR tags and deploys new image digests to
 * Amazon ECS services. This file owns the command line and the process's
 * exit codes (those of sysexits.h).
 */
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "approve.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "version.h"

#define DEFAULT_CONFIG CONFIG_DEFAULT_FILE

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ecr-deployd [OPTION]...\n"
		"Watch Amazon ECR tags and deploy new image digests to Amazon ECS services.\n"
		"\n"
		"  -c, --config FILE     main configuration file (default " DEFAULT_CONFIG ")\n"
		"      --config-dir DIR  drop-in directory (default: conf.d beside FILE)\n"
		"      --check-config    validate the configuration, print a summary, exit\n"
		"      --dry-run         decide and log everything; call only read APIs\n"
		"      --once            one reconcile pass: poll once, deploy what differs,\n"
		"                        wait for those rollouts, exit 0 if all succeeded,\n"
		"                        else 1\n"
		"      --approve TARGET  continue the PAUSE lifecycle hook that TARGET's ECS\n"
		"                        deployment waits at (ContinueServiceDeployment\n"
		"                        CONTINUE), then exit; TARGET is WATCH/SERVICE,\n"
		"                        CLUSTER/SERVICE, or SERVICE when only one target has it\n"
		"      --reject TARGET   the same with ROLLBACK: ECS rolls the deployment back\n"
		"      --migrate-state-to-table\n"
		"                        copy the state directory into the configuration's ha\n"
		"                        table once (refused when the table holds state), exit\n"
		"      --log-target T    journal, stderr, or auto (default: the journal when\n"
		"                        stderr is connected to it, as under systemd)\n"
		"      --log-level L     error, warning, notice, info or debug (default: the\n"
		"                        configuration's log_level)\n"
		"  -h, --help            show this help and exit\n"
		"  -V, --version         show the version and the libraries in use, and exit\n"
		"\n"
		"Exit status: 0 success, 1 a deploy or poll failed (--once) or no PAUSE hook\n"
		"awaits action (--approve, --reject), 64 usage error (also an unknown or\n"
		"ambiguous TARGET), 66 configuration file missing, 69 the requested mode is not\n"
		"available in this build, or an AWS call failed (--approve, --reject), 70\n"
		"internal error, 73 state directory unusable, 75 stopped by a signal (--once),\n"
		"78 configuration error.\n");
}

static void version(void)
{
	printf("ecr-deployd %s%s%s%s\n", ECR_DEPLOYD_VERSION, *ECR_DEPLOYD_REVISION ? " (" : "",
	       ECR_DEPLOYD_REVISION, *ECR_DEPLOYD_REVISION ? ")" : "");
	printf("libcurl %s, %s, libev %d.%d, cJSON %s\n",
	       curl_version_info(CURLVERSION_NOW)->version, OpenSSL_version(OPENSSL_VERSION),
	       ev_version_major(), ev_version_minor(), cJSON_Version());
}

/* The drop-in directory: given, or conf.d beside the main file. */
static char *dropin_dir(const char *config, const char *given)
{
	const char *slash;
	char *d;

	if (given)
		return strdup(given);
	slash = strrchr(config, '/');
	if (!slash)
		return strdup("conf.d");
	d = malloc((size_t)(slash - config) + 8);
	if (d)
		snprintf(d, (size_t)(slash - config) + 8, "%.*s/conf.d", (int)(slash - config),
			 config);
	return d;
}

/* Loads the configuration; on failure prints every error and returns the exit code. */
static int load_config(const char *file, const char *dir, struct config **ret)
{
	struct config_errors errs = { 0 };
	int r = config_load(file, dir, ret, &errs);

	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.items[i].text);
	config_errors_done(&errs);
	if (r == -ENOENT) {
		notify_start_failed(EX_NOINPUT, ENOENT, "the configuration file does not exist");
		return EX_NOINPUT;
	}
	if (r == -ENOMEM)
		return EX_OSERR;
	if (r < 0) {
		fprintf(stderr, "ecr-deployd: configuration has errors (%s); nothing was started\n",
			file);
		notify_start_failed(EX_CONFIG, EINVAL,
				    "the configuration has errors (see the log)");
		return EX_CONFIG;
	}
	return EX_OK;
}

int main(int argc, char **argv)
{
	enum {
		OPT_CONFIG_DIR = 256,
		OPT_CHECK_CONFIG,
		OPT_DRY_RUN,
		OPT_ONCE,
		OPT_LOG_TARGET,
		OPT_LOG_LEVEL,
		OPT_APPROVE,
		OPT_REJECT,
		OPT_MIGRATE
	};
	static const char *const levels[] = { "error", "warning", "notice", "info", "debug" };
	const char *target = "auto";
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "log-target", required_argument, NULL, OPT_LOG_TARGET },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "approve", required_argument, NULL, OPT_APPROVE },
		{ "reject", required_argument, NULL, OPT_REJECT },
		{ "migrate-state-to-table", no_argument, NULL, OPT_MIGRATE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_file = DEFAULT_CONFIG, *config_dir = NULL;
	bool check_only = false, migrate = false;
	const char *approve = NULL, *approve_opt = NULL; /* --approve/--reject TARGET */
	enum approve_action action = APPROVE_CONTINUE;
	struct daemon_options opts = { .log_level = -1 };
	struct config *cfg = NULL;
	char *dir;
	int c, rc;
	sigset_t handled;

	/* First of all: a SIGHUP (or SIGTERM) sent the moment we were started waits for the loop
	 * to handle it, instead of killing the process by its default action. */
	daemon_signals(&handled);
	sigprocmask(SIG_BLOCK, &handled, NULL);
	while ((c = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_file = optarg;
			break;
		case OPT_CONFIG_DIR:
			config_dir = optarg;
			break;
		case OPT_CHECK_CONFIG:
			check_only = true;
			break;
		case OPT_DRY_RUN:
			opts.dry_run = true;
			break;
		case OPT_ONCE:
			opts.once = true;
			break;
		case OPT_MIGRATE:
			migrate = true;
			break;
		case OPT_APPROVE:
		case OPT_REJECT:
			if (approve) {
				fprintf(
				    stderr,
				    "ecr-deployd: --approve and --reject cannot be combined, nor "
				    "given twice\n");
				return EX_USAGE;
			}
			approve = optarg;
			approve_opt = c == OPT_APPROVE ? "--approve" : "--reject";
			action = c == OPT_APPROVE ? APPROVE_CONTINUE : APPROVE_ROLLBACK;
			break;
		case OPT_LOG_TARGET:
			if (strcmp(optarg, "auto") && strcmp(optarg, "journal") &&
			    strcmp(optarg, "stderr")) {
				fprintf(stderr,
					"ecr-deployd: --log-target '%s': use auto, journal or "
					"stderr\n",
					optarg);
				return EX_USAGE;
			}
			target = optarg;
			break;
		case OPT_LOG_LEVEL:
			opts.log_level = -1;
			for (int i = 0; i < 5; i++)
				if (!strcmp(optarg, levels[i]))
					opts.log_level = i;
			if (opts.log_level < 0) {
				fprintf(
				    stderr,
				    "ecr-deployd: --log-level '%s': use error, warning, notice, "
				    "info or debug\n",
				    optarg);
				return EX_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			version();
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ecr-deployd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	if (approve && (check_only || opts.once || opts.dry_run)) {
		fprintf(stderr, "ecr-deployd: %s cannot be combined with %s\n", approve_opt,
			check_only  ? "--check-config"
			: opts.once ? "--once"
				    : "--dry-run");
		return EX_USAGE;
	}
	if (migrate && (check_only || approve || opts.once || opts.dry_run)) {
		fprintf(stderr, "ecr-deployd: --migrate-state-to-table runs alone\n");
		return EX_USAGE;
	}
	dir = dropin_dir(config_file, config_dir);
	if (!dir)
		return EX_OSERR;
	if (check_only || approve || migrate) /* no daemon loop: signals act as on any command */
		sigprocmask(SIG_UNBLOCK, &handled, NULL);
	rc = load_config(config_file, dir, &cfg);
	if (rc != EX_OK || check_only) {
		if (rc == EX_OK) {
			config_print_summary(cfg, stdout);
			printf("configuration OK\n");
		}
		config_free(cfg);
		free(dir);
		return rc;
	}
	if (migrate) { /* a one-shot command too */
		free(dir);
		return daemon_migrate(cfg);
	}
	if (approve) { /* a one-shot command: stdout and stderr, no daemon */
		rc = approve_run(cfg, approve, action);
		config_free(cfg);
		free(dir);
		return rc;
	}
	log_set_journal(!strcmp(target, "journal") ||
			(!strcmp(target, "auto") && log_journal_stream()));
	opts.argv = argv;
	rc = daemon_run(config_file, dir, cfg, &opts);
	free(dir);
	return rc;
}
