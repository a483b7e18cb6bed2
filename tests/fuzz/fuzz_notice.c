/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the outbox entry's reader (daemon/notice.c): the input is an entry file
 * as found in the outbox after a restart. Besides the sanitizers it checks what the reader
 * promises: a refusal is -EINVAL with a terminated why free of raw control characters and
 * touches nothing; an entry that parses is written again by notice_entry() into text that parses
 * to the same notification, and that text is a fixed point (entry -> parse -> entry gives the
 * same bytes); its Slack message and EventBridge entry can be made and are JSON.
 */
#include <cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "notice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok)
{
	if (!ok)
		abort();
}

static bool no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so that ASan sees any read past the end */
	char *text = malloc(size ? size : 1), *e1, *e2, *slack;
	char sink[65], sink2[65], why[200];
	struct notice n, n2;
	double created, created2;
	cJSON *eb, *parsed;
	int r;

	require(text != NULL);
	memcpy(text, data, size);
	memset(sink, 0, sizeof(sink));
	r = notice_entry_parse(text, size, &n, &created, sink, sizeof(sink), why, sizeof(why));
	require(memchr(why, '\0', sizeof(why)) != NULL && no_controls(why));
	if (r < 0) {
		require(r == -EINVAL && *why && !*sink);
		free(text);
		return 0;
	}
	require(r == 0 && strlen(n.key) == NOTICE_KEY_LEN && n.host);
	require(!n.digest || digest_valid(n.digest));
	require(n.n_messages <= NOTICE_MESSAGES_MAX);

	e1 = notice_entry(&n, sink, created);
	require(e1 != NULL);
	r = notice_entry_parse(e1, strlen(e1), &n2, &created2, sink2, sizeof(sink2), why,
			       sizeof(why));
	require(r == 0);
	require(!strcmp(sink, sink2) && created == created2 && n.kind == n2.kind &&
		!strcmp(n.key, n2.key) && n.n_messages == n2.n_messages &&
		n.duration_ms == n2.duration_ms);
	e2 = notice_entry(&n2, sink2, created2);
	require(e2 != NULL && !strcmp(e1, e2));

	slack = notice_slack(&n);
	require(slack != NULL);
	parsed = cJSON_Parse(slack);
	require(parsed != NULL);
	cJSON_Delete(parsed);
	eb = notice_eventbridge(&n, "default");
	require(eb != NULL);

	cJSON_Delete(eb);
	free(slack);
	free(e1);
	free(e2);
	notice_done(&n);
	notice_done(&n2);
	free(text);
	return 0;
}
