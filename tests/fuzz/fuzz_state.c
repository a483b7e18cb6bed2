/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the state file loader: the bytes become state.json in a
 * scratch directory, state_open() reads them (checks the shape, refuses invalid
 * digests, sets an unusable file aside and starts afresh), the readers run over
 * what it kept; then the state is saved (after a change elsewhere) and read
 * again, and what the readers said must not have changed (a watch held without
 * a tree prints back what it stands for), nor a target's digest when a failure
 * makes its watch a tree; everything is freed and emptied again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "statedir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TKEY "us-east-1/prod/web"
#define D0   "sha256:0000000000000000000000000000000000000000000000000000000000000000"

/* What the readers say of watch "web" (texts copied; "\x01" for none). */
struct said {
	char seen[80], deployed[300], task_def[300], held[300], want_digest[80], want_image[300];
	int failed, wanted;
};

static void put(char *out, size_t n, const char *v)
{
	memset(out, 0, n);
	snprintf(out, n, "%s", v ? v : "\x01");
}

static int same(const char *v, const char *kept)
{
	char buf[300];

	put(buf, sizeof(buf), v);
	return !strcmp(buf, kept);
}

static void say(const struct state *s, struct said *o)
{
	struct state_want want;

	memset(o, 0, sizeof(*o));
	put(o->seen, sizeof(o->seen), state_seen(s, "web", "prod"));
	put(o->deployed, sizeof(o->deployed), state_deployed(s, "web", TKEY));
	put(o->task_def, sizeof(o->task_def), state_task_def(s, "web", TKEY));
	put(o->held, sizeof(o->held), state_held(s, "web", TKEY));
	o->failed = state_failed_has(s, "web", TKEY, D0);
	o->wanted = state_want(s, "web", &want);
	if (o->wanted && (!want.image || !digest_valid(want.digest)))
		abort();
	if (o->wanted) {
		put(o->want_digest, sizeof(o->want_digest), want.digest);
		put(o->want_image, sizeof(o->want_image), want.image);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fuzz_statedir();
	char path[300], why[600];
	struct state *s = NULL;
	char *warning = NULL;

	if (!dir)
		return 0;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (fuzz_put(path, data, size) == 0 &&
	    state_open(dir, &s, &warning, why, sizeof(why)) == 0) {
		struct said before, after;
		(void)state_seen_tag(s, "web");
		(void)state_reset_pending(s);
		say(s, &before);
		/* a change elsewhere, saved, read again: the same answers */
		if (state_set_seen(s, "fuzz-other", "x", D0, NULL) == 0 &&
		    state_save(s, why, sizeof(why)) == 0) {
			state_free(s);
			s = NULL;
			free(warning);
			warning = NULL;
			if (state_open(dir, &s, &warning, why, sizeof(why)) < 0)
				abort();
			say(s, &after);
			if (memcmp(&before, &after, sizeof(before)))
				abort();
			/* a failure makes the watch a tree: its target keeps its digest */
			if (state_add_failed(s, "web", TKEY, D0, "r", 1) == 0 &&
			    (!state_failed_has(s, "web", TKEY, D0) ||
			     !same(state_deployed(s, "web", TKEY), before.deployed) ||
			     !same(state_task_def(s, "web", TKEY), before.task_def)))
				abort();
		}
		state_free(s);
	}
	free(warning);
	fuzz_clean();
	return 0;
}
