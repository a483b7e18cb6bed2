/* SPDX-License-Identifier: MIT */
/*
 * statebench: what one change of the state costs to make durable, at a given size. It opens a
 * state directory through daemon/state.h alone (so it measures whatever representation and
 * file layout state.c has at the time), fills it with WATCHES watches of TAGS sightings and one
 * deployed target each, saves once (not measured), then times, ROUNDS times over:
 *   - K sightings, each a new digest of one tag followed by state_save() (a poll that saw a push);
 *   - K rollout steps, each a state_rollout_save() of one record (a step of a rollout);
 *   - K rollout ends, each state_set_deployed() of one target followed by state_save().
 * For each it prints the CPU time per change (getrusage), the wall time per change (fsync
 * included) and the bytes written per change (/proc/self/io: wchar, what went through write();
 * write_bytes, what reached the block layer), one line per round:
 *
 *   statebench: round=R tags=T sighting_cpu_ms=.. sighting_wall_ms=.. sighting_wchar=..
 *     sighting_write_bytes=.. rollout_cpu_ms=.. ... deployed_cpu_ms=.. ...
 *
 *   statebench DIR WATCHES TAGS K ROUNDS
 *
 * DIR must not exist yet or be empty of state (it is filled afresh). Exits 0, or 1 with the
 * failing call named on stderr.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "record.h"
#include "state.h"

struct io {
	double cpu, wall;
	long long wchar, write_bytes;
};

struct cost {
	double cpu_ms, wall_ms, wchar, write_bytes;
};

static void sample(struct io *io)
{
	struct rusage u;
	struct timespec ts;
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long long v;

	getrusage(RUSAGE_SELF, &u);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	io->cpu = (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
		  ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) / 1e6;
	io->wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	io->wchar = io->write_bytes = -1;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "wchar: %lld", &v) == 1)
			io->wchar = v;
		else if (sscanf(line, "write_bytes: %lld", &v) == 1)
			io->write_bytes = v;
	}
	if (f)
		fclose(f);
}

static struct cost per_change(const struct io *a, const struct io *b, long k)
{
	return (struct cost){ .cpu_ms = (b->cpu - a->cpu) * 1000.0 / (double)k,
			      .wall_ms = (b->wall - a->wall) * 1000.0 / (double)k,
			      .wchar = (double)(b->wchar - a->wchar) / (double)k,
			      .write_bytes =
				  (double)(b->write_bytes - a->write_bytes) / (double)k };
}

/* A digest that differs for every n: "sha256:" and 64 hex digits. */
static void digest_of(uint64_t n, char out[72])
{
	uint64_t x = n * 0x9e3779b97f4a7c15ULL + 1;

	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 4; i++) {
		x ^= x >> 31;
		x *= 0xbf58476d1ce4e5b9ULL;
		snprintf(out + 7 + 16 * i, 17, "%016llx", (unsigned long long)x);
	}
}

static int fail(const char *what, int r, const char *why)
{
	fprintf(stderr, "statebench: %s failed: %s (%s)\n", what, strerror(r < 0 ? -r : r),
		why && why[0] ? why : "no detail");
	return 1;
}

int main(int argc, char **argv)
{
	struct state *s = NULL;
	char why[512] = "", watch[32], tag[24], tkey[64], digest[72];
	char *warning = NULL, *end = NULL;
	long watches, tags, k, rounds;
	uint64_t serial = 0;
	int r;

	if (argc != 6) {
		fprintf(stderr, "usage: statebench DIR WATCHES TAGS K ROUNDS\n");
		return 2;
	}
	watches = strtol(argv[2], &end, 10);
	if (*end || watches <= 0 || watches > 10000000)
		return fprintf(stderr, "statebench: bad WATCHES '%s'\n", argv[2]), 2;
	tags = strtol(argv[3], &end, 10);
	if (*end || tags <= 0 || tags > 1000)
		return fprintf(stderr, "statebench: bad TAGS '%s'\n", argv[3]), 2;
	k = strtol(argv[4], &end, 10);
	if (*end || k <= 0 || k > 10000000)
		return fprintf(stderr, "statebench: bad K '%s'\n", argv[4]), 2;
	rounds = strtol(argv[5], &end, 10);
	if (*end || rounds <= 0 || rounds > 100)
		return fprintf(stderr, "statebench: bad ROUNDS '%s'\n", argv[5]), 2;

	r = state_open(argv[1], &s, &warning, why, sizeof(why));
	if (r < 0)
		return fail("state_open", r, why);
	free(warning);
	for (long w = 0; w < watches; w++) {
		snprintf(watch, sizeof(watch), "w%06ld", w);
		for (long t = 0; t < tags; t++) {
			snprintf(tag, sizeof(tag), "t%ld", t);
			digest_of(serial++, digest);
			if ((r = state_set_seen(s, watch, tag, digest, NULL)) < 0)
				return fail("state_set_seen", r, NULL);
		}
		snprintf(tkey, sizeof(tkey), "us-east-1/prod/s%06ld", w);
		if ((r = state_set_deployed(s, watch, tkey, digest)) < 0)
			return fail("state_set_deployed", r, NULL);
	}
	if ((r = state_save(s, why, sizeof(why))) < 0)
		return fail("the first state_save", r, why);

	for (long round = 1; round <= rounds; round++) {
		struct io a, b;
		struct cost seen, step, deployed;
		struct rollout_rec rec = { 0 };
		char *containers[1] = { "app" };

		/* A push seen: one tag of one watch moves, and it is made durable. */
		sample(&a);
		for (long i = 0; i < k; i++) {
			long w = (long)(serial % (uint64_t)watches);
			snprintf(watch, sizeof(watch), "w%06ld", w);
			snprintf(tag, sizeof(tag), "t%ld",
				 (long)(serial / (uint64_t)watches) % tags);
			digest_of(serial++, digest);
			if ((r = state_set_seen(s, watch, tag, digest, NULL)) < 0)
				return fail("state_set_seen", r, NULL);
			if ((r = state_save(s, why, sizeof(why))) < 0)
				return fail("state_save after a sighting", r, why);
		}
		sample(&b);
		seen = per_change(&a, &b, k);

		/* A rollout step: its record written, as the engine does before and after each
		 * call. */
		rec.step = STEP_TRACKING;
		rec.watch = watch;
		rec.tkey = tkey;
		rec.repository = "r";
		rec.tag = tag;
		rec.digest = digest;
		rec.image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/r";
		rec.strategy = "revision";
		rec.cluster = "prod";
		rec.service = "s";
		rec.region = "us-east-1";
		rec.containers[0] = containers[0];
		rec.n_containers = 1;
		rec.rollback = true;
		rec.timeout_ms = 600000;
		rec.started_at = 1.7e9;
		rec.deadline = 1.7e9 + 600;
		sample(&a);
		for (long i = 0; i < k; i++) {
			long w = i % watches;
			snprintf(watch, sizeof(watch), "w%06ld", w);
			snprintf(tkey, sizeof(tkey), "us-east-1/prod/s%06ld", w);
			rec.update_sent_at = 1.7e9 + (double)i;
			if ((r = state_rollout_save(s, &rec, why, sizeof(why))) < 0)
				return fail("state_rollout_save", r, why);
		}
		sample(&b);
		step = per_change(&a, &b, k);
		/* Not measured: the records (watches 0..k-1) go, so that each round starts alike.
		 */
		for (long w = 0; w < watches && w < k; w++) {
			snprintf(watch, sizeof(watch), "w%06ld", w);
			snprintf(tkey, sizeof(tkey), "us-east-1/prod/s%06ld", w);
			if (state_has_rollout(s, watch, tkey) &&
			    (r = state_rollout_remove(s, watch, tkey, why, sizeof(why))) < 0)
				return fail("state_rollout_remove", r, why);
		}
		/* A rollout's end: the target runs the new digest, made durable. */
		sample(&a);
		for (long i = 0; i < k; i++) {
			long w = (long)(serial % (uint64_t)watches);
			snprintf(watch, sizeof(watch), "w%06ld", w);
			snprintf(tkey, sizeof(tkey), "us-east-1/prod/s%06ld", w);
			digest_of(serial++, digest);
			if ((r = state_set_deployed(s, watch, tkey, digest)) < 0)
				return fail("state_set_deployed", r, NULL);
			if ((r = state_save(s, why, sizeof(why))) < 0)
				return fail("state_save after a rollout's end", r, why);
		}
		sample(&b);
		deployed = per_change(&a, &b, k);

		printf("statebench: round=%ld tags=%ld changes=%ld"
		       " sighting_cpu_ms=%.3f sighting_wall_ms=%.3f sighting_wchar=%.0f"
		       " sighting_write_bytes=%.0f"
		       " rollout_cpu_ms=%.3f rollout_wall_ms=%.3f rollout_wchar=%.0f"
		       " rollout_write_bytes=%.0f"
		       " deployed_cpu_ms=%.3f deployed_wall_ms=%.3f deployed_wchar=%.0f"
		       " deployed_write_bytes=%.0f\n",
		       round, watches * tags, k, seen.cpu_ms, seen.wall_ms, seen.wchar,
		       seen.write_bytes, step.cpu_ms, step.wall_ms, step.wchar, step.write_bytes,
		       deployed.cpu_ms, deployed.wall_ms, deployed.wchar, deployed.write_bytes);
		fflush(stdout);
	}
	state_free(s);
	return 0;
}
