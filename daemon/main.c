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
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "version.h"

#define DEFAULT_CONFIG "/etc/ecr-deployd/ecr-deployd.json"

static void usage(FILE *out)
{
	fprintf(out, "Usage: ecr-deployd [OPTION]...\n"
		     "Watch Amazon ECR tags and deploy new image digests to Amazon ECS services.\n"
		     "\n"
		     "  -c, --config FILE   main configuration file (default " DEFAULT_CONFIG ")\n"
		     "  -h, --help          show this help and exit\n"
		     "  -V, --version       show the version and the libraries in use, and exit\n"
		     "\n"
		     "Exit status: 0 success, 64 usage error, 66 configuration file missing,\n"
		     "69 the requested mode is not available in this build, 70 internal error,\n"
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

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG;
	int c;

	while ((c = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
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
	if (access(config, R_OK) < 0) {
		fprintf(stderr, "ecr-deployd: cannot read configuration file '%s': %s\n", config,
			strerror(errno));
		return EX_NOINPUT;
	}
	fprintf(
	    stderr,
	    "ecr-deployd: this build has no watch engine yet; only --help and --version work\n");
	return EX_UNAVAILABLE;
}
