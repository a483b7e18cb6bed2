/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the HA table's replies (daemon/ddb.h): the body of a GetItem
 * ({"Item": lease}), of a Query ({"Items": [...], "LastEvaluatedKey"}) and of a
 * TransactionCanceledException (CancellationReasons, or the bracket list of its message).
 * Whatever is accepted must hold what the parsers promise (an owner of instance characters, a
 * non-empty sk of the group, reason codes of printable ASCII).
 */
#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "ddb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512], sk[DDB_SK_MAX + 1], codes[8][AWS_REASON_MAX];
	char *text = malloc(size + 1);
	cJSON *body;
	const cJSON *it;
	struct ddb_lease l;
	int n;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	body = cJSON_ParseWithLength((const char *)data, size);

	if (ddb_parse_lease(cJSON_GetObjectItemCaseSensitive(body, "Item"), &l, why, sizeof(why)) ==
	    0) {
		if (strlen(l.owner) > DDB_INSTANCE_MAX ||
		    strspn(l.owner, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				    "0123456789_.:-") != strlen(l.owner) ||
		    (*l.owner && l.lease_ms == 0))
			abort();
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(body, "Items"))
	{
		const char *doc = NULL;
		size_t len = 0;

		if (ddb_parse_state_item(it, "prod", sk, &doc, &len, why, sizeof(why)) == 0) {
			if (!*sk || strlen(sk) > DDB_SK_MAX || (doc && strlen(doc) != len) ||
			    (!doc && len))
				abort();
		} else if (!*why) {
			abort();
		}
	}
	uint64_t v;
	(void)ddb_parse_u64(body, &v);
	n = aws_cancellation_reasons(body, text, codes, 8);
	if (n > 8)
		abort();
	for (int i = 0; i < n; i++)
		check_printable(codes[i]);
	cJSON_Delete(body);
	free(text);
	return 0;
}
