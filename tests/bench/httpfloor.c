/* SPDX-License-Identifier: MIT */
/*
 * httpfloor: the part of a poll cycle's CPU that is not ecr-deployd's own code. It sends one
 * request, signed beforehand, N times through the daemon's HTTP layer (common/http: libcurl multi
 * on libev, keep-alive connections, PARALLEL in flight) and does nothing with the replies but
 * check their status: no signing, no JSON, no state. What remains is libcurl, libev and the
 * kernel's loopback TCP (and TLS, for an https URL), which any ecr-deployd has to pay. make bench
 * prints it next to the daemon's figures.
 *
 *   httpfloor [-2] [-c CONNECTIONS] [-a CA_BUNDLE] URL N IN_FLIGHT HEADERS BODY
 *
 * IN_FLIGHT requests are kept in flight over at most CONNECTIONS connections to the host (the
 * client's max_host_connections; default IN_FLIGHT), as the daemon keeps max_requests_in_flight
 * over its HTTP client's connections; -2: over TLS the client offers HTTP/2 (ALPN), as the daemon
 * does with aws.http_version "2" (else HTTP/1.1, the daemon's default). CA_BUNDLE: the CA file to
 * verify an https server with. HEADERS is a file of "Name: value" lines, BODY the request body. The
 * first IN_FLIGHT requests (which open the connections) are not measured. Prints one line,
 * "httpfloor: requests=N cpu_s=C rss_kb=K anon_kb=A connections=O http_version=V" (rss_kb: the
 * peak RSS, VmHWM; anon_kb: RssAnon at the end, what a cgroup is charged for; connections: how
 * many the client opened; http_version: of the last reply, 11 or 20), and exits 0 when every
 * reply was a 200, else 1.
 */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http.h"

#define MAX_HEADERS 32

struct run {
	struct http_client *http;
	struct http_request_spec spec;
	long total, started, done, failed, warm;
	struct rusage at_warm;
	int last_error;
	long http_version;
};

static void submit(struct run *r);

static void on_done(struct http_response *resp, void *userdata)
{
	struct run *r = userdata;

	r->done++;
	if (resp->error || resp->status != 200) {
		r->failed++;
		r->last_error = resp->error ? resp->error : (int)resp->status;
	}
	r->http_version = resp->http_version;
	if (r->done == r->warm)
		getrusage(RUSAGE_SELF, &r->at_warm);
	if (r->started < r->total)
		submit(r);
}

static void submit(struct run *r)
{
	r->started++;
	if (http_submit(r->http, &r->spec, on_done, r, NULL) < 0) {
		r->done++;
		r->failed++;
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* A "Name: N kB" line of /proc/self/status; -1 when missing. For the peak, VmHWM, not ru_maxrss:
 * Linux carries the forking parent's peak over exec into ru_maxrss. */
static long status_kb(const char *name)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(name);
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* A count of 1 to 1,000,000, or -1 (said on stderr). */
static long count(const char *what, const char *text)
{
	char *end = NULL;
	long v = strtol(text, &end, 10);

	if (!*text || *end || v <= 0 || v > 1000000) {
		fprintf(stderr, "httpfloor: bad %s '%s'\n", what, text);
		return -1;
	}
	return v;
}

static double seconds(const struct rusage *u)
{
	return (double)u->ru_utime.tv_sec + (double)u->ru_stime.tv_sec +
	       ((double)u->ru_utime.tv_usec + (double)u->ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	struct run r = { 0 };
	const char *lines[MAX_HEADERS + 1];
	size_t n_lines = 0, hlen = 0, blen = 0;
	char *headers, *body, *save = NULL;
	long parallel, connections = 0;
	const char *ca = NULL;
	bool http2 = false;
	struct rusage end;
	int opt;

	while ((opt = getopt(argc, argv, "2c:a:")) != -1) {
		if (opt == 'c') {
			if ((connections = count("CONNECTIONS", optarg)) < 0)
				return 2;
		} else if (opt == 'a') {
			ca = optarg;
		} else if (opt == '2') {
			http2 = true;
		} else {
			goto usage;
		}
	}
	if (argc - optind != 5)
		goto usage;
	argv += optind;
	r.total = count("N", argv[1]);
	parallel = count("IN_FLIGHT", argv[2]);
	if (r.total < 0 || parallel < 0)
		return 2;
	headers = slurp(argv[3], &hlen);
	body = slurp(argv[4], &blen);
	if (!headers || !body) {
		fprintf(stderr, "httpfloor: cannot read '%s' or '%s': %s\n", argv[3], argv[4],
			strerror(errno));
		return 2;
	}
	for (char *l = strtok_r(headers, "\n", &save); l && n_lines < MAX_HEADERS;
	     l = strtok_r(NULL, "\n", &save))
		lines[n_lines++] = l;
	lines[n_lines] = NULL;
	r.spec = (struct http_request_spec){
		.method = "POST", .url = argv[0], .headers = lines, .body = body, .body_len = blen
	};
	r.warm = parallel;
	r.total += parallel;

	struct ev_loop *loop = EV_DEFAULT;
	struct http_client_options ho = { .max_host_connections =
					      connections ? connections : parallel,
					  .ca_bundle = ca,
					  .http2 = http2 };
	r.http = http_client_new(loop, &ho);
	if (!r.http) {
		fprintf(stderr, "httpfloor: cannot start the HTTP client\n");
		return 2;
	}
	for (long i = 0; i < parallel && r.started < r.total; i++)
		submit(&r);
	ev_run(loop, 0);
	getrusage(RUSAGE_SELF, &end);
	printf("httpfloor: requests=%ld cpu_s=%.4f rss_kb=%ld anon_kb=%ld connections=%ld "
	       "http_version=%ld\n",
	       r.total - r.warm, seconds(&end) - seconds(&r.at_warm), status_kb("VmHWM"),
	       status_kb("RssAnon"), http_connections_opened(r.http), r.http_version);
	if (r.failed)
		fprintf(stderr, "httpfloor: %ld of %ld requests failed (last: %d)\n", r.failed,
			r.total, r.last_error);
	http_client_free(r.http);
	free(headers);
	free(body);
	return r.failed ? 1 : 0;
usage:
	fprintf(stderr,
		"usage: httpfloor [-2] [-c CONNECTIONS] [-a CA_BUNDLE] URL N IN_FLIGHT HEADERS "
		"BODY\n");
	return 2;
}
