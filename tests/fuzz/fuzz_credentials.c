/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the credential replies of the ECS container endpoint
 * and EC2 IMDS (cred_parse_json: cJSON, the Code check, the ISO 8601
 * Expiration). Every secret it keeps must be in the secret arena, and the
 * arena must hold no more after each input than before.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"
#include "secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secmem_stats before, after;
	struct aws_credentials *c = NULL;
	char why[512];

	secmem_stats(&before);
	if (cred_parse_json((const char *)data, size, "fuzz", &c, why, sizeof(why)) == 0) {
		if (!c || !c->access_key_id || !secmem_owns(c->secret_access_key) ||
		    (c->session_token && !secmem_owns(c->session_token)))
			abort();
	} else if (c || !memchr(why, '\0', sizeof(why))) {
		abort();
	}
	aws_credentials_free(c);
	secmem_stats(&after);
	if (after.in_use != before.in_use)
		abort(); /* a secret block leaked */
	return 0;
}
