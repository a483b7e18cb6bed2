/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the control protocol (common/ctlproto): a request line as a client sends
 * it (ctlproto_parse_request, then the args helpers a handler runs on it) or a reply line as
 * ecr-deployctl reads it (ctlproto_parse_reply), picked by the first byte's low bit. Checks what
 * the header promises: an accepted request has a command name of 1 to 32 of [a-z-], args an
 * object, an id of at most 256 bytes serialised; a refused one has a code of the three stable
 * words; the reply built for either (echoing its id) is one line that parses back as a reply.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply_line(char *line, int want)
{
	cJSON *root = NULL;
	const cJSON *res = NULL, *err = NULL;
	char why[256];

	if (!line)
		return;
	if (strchr(line, '\n') ||
	    ctlproto_parse_reply(line, strlen(line), &root, &res, &err, why, sizeof(why)) != want)
		abort();
	cJSON_Delete(root);
	free(line);
}

static void fuzz_request(const char *line, size_t len)
{
	static const char *const allowed[] = { "name", "n", "force", "until", NULL };
	struct ctlproto_request req;
	const char *code = NULL, *s = NULL;
	char why[512];
	double d = 0;
	bool b = false;

	if (ctlproto_parse_request(line, len, &req, &code, why, sizeof(why)) < 0) {
		if (!code || (strcmp(code, "bad-request") && strcmp(code, "unsupported-version") &&
			      strcmp(code, "request-too-large")))
			abort();
		check_reply_line(ctlproto_reply_error(req.id, code, 64, NULL, why), 0);
		ctlproto_request_done(&req);
		return;
	}
	size_t n = strlen(req.cmd);
	if (n < 1 || n > 32 || strspn(req.cmd, "abcdefghijklmnopqrstuvwxyz-") != n ||
	    !cJSON_IsObject(req.args))
		abort();
	if (req.id) {
		char *text = cJSON_PrintUnformatted(req.id);
		if (text && strlen(text) > CTLPROTO_MAX_ID)
			abort();
		free(text);
	}
	ctlproto_check_keys(req.args, allowed, why, sizeof(why));
	ctlproto_get_string(req.args, "name", false, 256, &s, why, sizeof(why));
	ctlproto_get_number(req.args, "n", false, 1, 1000, &d, why, sizeof(why));
	ctlproto_get_number(req.args, "until", true, 0, 1e12, &d, why, sizeof(why));
	ctlproto_get_bool(req.args, "force", &b, why, sizeof(why));
	check_reply_line(ctlproto_reply_ok(req.id, cJSON_Duplicate(req.args, true)), 1);
	ctlproto_request_done(&req);
}

static void fuzz_reply(const char *line, size_t len)
{
	cJSON *root = NULL;
	const cJSON *res = NULL, *err = NULL;
	char why[256];
	int r = ctlproto_parse_reply(line, len, &root, &res, &err, why, sizeof(why));

	if (r == 1 && !cJSON_IsObject(res))
		abort();
	if (r == 0 && (!cJSON_IsObject(err) ||
		       !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "code"))))
		abort();
	if (r < 0 && root)
		abort();
	cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* The line as the server hands it over: its own buffer, no terminating NUL promised. */
	char *line = malloc(size - 1 ? size - 1 : 1);
	if (!line)
		return 0;
	memcpy(line, data + 1, size - 1);
	if (data[0] & 1)
		fuzz_reply(line, size - 1);
	else
		fuzz_request(line, size - 1);
	free(line);
	return 0;
}
