/* SPDX-License-Identifier: MIT */
/*
 * httpfloor: the part of a poll cycle's CPU that is not ecr-deployd's own code. It sends one
 * request, signed beforehand, N times through the daemon's HTTP layer (common/http: libcurl multi
 * on libev, keep-alive connections, PARALLEL in flight) and does nothing with the replies but
 * check their status: no signing, no JSON, no state. What remains is libcurl, libev and the
 * kernel's loopback TCP, which any ecr-deployd has to pay. make bench prints it next to the
 * daemon's figures.
 *
 *   httpfloor URL N PARALLEL HEADERS BODY
 *
 * HEADERS is a file of "Name: value" lines, BODY the request body. The first PARALLEL requests
 * (which open the connections) are not measured. Prints one line,
 * "httpfloor: requests=N cpu_s=C rss_kb=K", and exits 0 when every reply was a 200, else 1.
 */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "http.h"

#define MAX_HEADERS 32

struct run {
	struct http_client *http;
	struct http_request_spec spec;
	long total, started, done, failed, warm;
	struct rusage at_warm;
	int last_error;
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

/* VmHWM, not ru_maxrss: Linux carries the forking parent's peak over exec into ru_maxrss. */
static long peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
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
	long parallel;
	struct rusage end;

	if (argc != 6) {
		fprintf(stderr, "usage: httpfloor URL N PARALLEL HEADERS BODY\n");
		return 2;
	}
	r.total = strtol(argv[2], NULL, 10);
	parallel = strtol(argv[3], NULL, 10);
	headers = slurp(argv[4], &hlen);
	body = slurp(argv[5], &blen);
	if (r.total <= 0 || parallel <= 0 || !headers || !body) {
		fprintf(stderr, "httpfloor: bad arguments or unreadable files: %s\n",
			strerror(errno));
		return 2;
	}
	for (char *l = strtok_r(headers, "\n", &save); l && n_lines < MAX_HEADERS;
	     l = strtok_r(NULL, "\n", &save))
		lines[n_lines++] = l;
	lines[n_lines] = NULL;
	r.spec = (struct http_request_spec){
		.method = "POST", .url = argv[1], .headers = lines, .body = body, .body_len = blen
	};
	r.warm = parallel;
	r.total += parallel;

	struct ev_loop *loop = EV_DEFAULT;
	struct http_client_options ho = { .max_host_connections = parallel };
	r.http = http_client_new(loop, &ho);
	if (!r.http) {
		fprintf(stderr, "httpfloor: cannot start the HTTP client\n");
		return 2;
	}
	for (long i = 0; i < parallel && r.started < r.total; i++)
		submit(&r);
	ev_run(loop, 0);
	getrusage(RUSAGE_SELF, &end);
	printf("httpfloor: requests=%ld cpu_s=%.4f rss_kb=%ld\n", r.total - r.warm,
	       seconds(&end) - seconds(&r.at_warm), peak_rss_kb());
	if (r.failed)
		fprintf(stderr, "httpfloor: %ld of %ld requests failed (last: %d)\n", r.failed,
			r.total, r.last_error);
	http_client_free(r.http);
	free(headers);
	free(body);
	return r.failed ? 1 : 0;
}
