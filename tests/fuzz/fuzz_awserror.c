/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for AWS error replies (aws_parse_error: a JSON body's __type/code and
 * message/Message, an XML body's Code, Message and RequestId, the x-amzn-ErrorType,
 * x-amzn-query-error and x-amzn-RequestId headers), what is made of them
 * (aws_error_classify, aws_error_action) and the Date header (aws_parse_http_date). The input is
 * up to four header values, one per line (ErrorType, query-error, RequestId, Date; an empty line
 * is an absent header), then the body; the first byte picks the HTTP status (its low 3 bits) and
 * whether the body is put after "<ErrorResponse><Error><Code>" (bit 3), so that the XML reader
 * is driven from any input. Checks what the header promises: every field terminated, a code of
 * printable ASCII, an action of the allowed characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define XML_PREFIX "<ErrorResponse><Error><Code>"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 400, 403, 404, 429, 500, 503, 200, 302 };
	size_t pre = 0;
	char *copy, *p, *end, *hdr[4] = { NULL, NULL, NULL, NULL };
	char action[64];
	struct aws_error e;
	time_t t;

	if (size < 1)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	p = copy;
	end = copy + size - 1;
	for (int i = 0; i < 4 && p < end; i++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		*nl = '\0';
		hdr[i] = *p ? p : NULL;
		p = nl + 1;
	}
	if (data[0] & 8) {
		char *body = malloc(sizeof(XML_PREFIX) + (size_t)(end - p));

		if (!body) {
			free(copy);
			return 0;
		}
		pre = sizeof(XML_PREFIX) - 1;
		memcpy(body, XML_PREFIX, pre);
		memcpy(body + pre, p, (size_t)(end - p));
		aws_parse_error(statuses[data[0] % 8], body, pre + (size_t)(end - p), hdr[0],
				hdr[1], hdr[2], &e);
		free(body);
	} else {
		aws_parse_error(statuses[data[0] % 8], p, (size_t)(end - p), hdr[0], hdr[1], hdr[2],
				&e);
	}
	if (!e.code[0] || !memchr(e.code, '\0', sizeof(e.code)) ||
	    !memchr(e.message, '\0', sizeof(e.message)) ||
	    !memchr(e.legacy_code, '\0', sizeof(e.legacy_code)) ||
	    !memchr(e.request_id, '\0', sizeof(e.request_id)))
		abort();
	for (const char *c = e.code; *c; c++)
		if (*c < 32 || *c > 126)
			abort();
	if ((unsigned)aws_error_classify(&e) > AWS_ERROR_NOT_FOUND)
		abort();
	if (aws_error_action(&e, action, sizeof(action))) {
		const char *colon = strchr(action, ':');
		if (!colon || colon == action || !colon[1] ||
		    strspn(action, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
			(size_t)(colon - action) ||
		    strspn(colon + 1,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*") !=
			strlen(colon + 1))
			abort();
	} else if (action[0]) {
		abort();
	}
	(void)aws_parse_http_date(hdr[3], &t);
	free(copy);
	return 0;
}
