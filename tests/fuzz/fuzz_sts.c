/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for STS replies (sts_parse_reply: the XML text of
 * Credentials, entity decoding, Expiration; Code and Message of an error).
 * The first byte picks the HTTP status; the rest is the body. Secrets must
 * land in the secret arena and none may leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secmem.h"
#include "sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 200, 200, 200, 400, 403, 500, 503 };
	struct secmem_stats before, after;
	struct aws_credentials *c = NULL;
	char why[512], *body;
	long status;
	int r;

	if (size < 1)
		return 0;
	status = statuses[data[0] % 8];
	body = malloc(size);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	secmem_stats(&before);
	r = sts_parse_reply(body, status, "AssumeRole", &c, why, sizeof(why));
	if (r == 0 && (status != 200 || !c || !secmem_owns(c->secret_access_key) ||
		       !secmem_owns(c->session_token)))
		abort();
	if (r != 0 && c)
		abort();
	aws_credentials_free(c);
	free(sts_xml_text(body, "Message"));
	secmem_stats(&after);
	if (after.in_use != before.in_use)
		abort();
	free(body);
	return 0;
}
