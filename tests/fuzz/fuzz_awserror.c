/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for AWS JSON error replies (aws_parse_error: the body's
 * __type/code and message/Message, the x-amzn-ErrorType,
 * x-amzn-query-error and x-amzn-RequestId headers) and the Date header
 * (aws_parse_http_date). The input is up to four header values, one per
 * line (ErrorType, query-error, RequestId, Date; an empty line is an
 * absent header), then the body; the first byte picks the HTTP status.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 400, 403, 404, 429, 500, 503, 200, 302 };
	char *copy, *p, *end, *hdr[4] = { NULL, NULL, NULL, NULL };
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
	aws_parse_error(statuses[data[0] % 8], p, (size_t)(end - p), hdr[0], hdr[1], hdr[2], &e);
	if (!e.code[0] || !memchr(e.code, '\0', sizeof(e.code)) ||
	    !memchr(e.message, '\0', sizeof(e.message)) ||
	    !memchr(e.legacy_code, '\0', sizeof(e.legacy_code)) ||
	    !memchr(e.request_id, '\0', sizeof(e.request_id)))
		abort();
	(void)aws_parse_http_date(hdr[3], &t);
	free(copy);
	return 0;
}
