/* SPDX-License-Identifier: MIT */
/* Tests of aws_parse_error() and aws_parse_http_date(): table rows, failing ones included. */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include "aws.h"

TEST(aws_parse_error_rows)
{
	static const struct {
		long status;
		const char *body, *error_type, *query_error;
		const char *code, *legacy, *message;
	} rows[] = {
		{ 400, "{\"__type\":\"com.amazonaws.ecs#ClientException\",\"message\":\"bad\"}",
		  NULL, NULL, "ClientException", "", "bad" },
		{ 400, "{\"code\":\"ThrottlingException\",\"Message\":\"Rate exceeded\"}", NULL,
		  NULL, "ThrottlingException", "", "Rate exceeded" },
		{ 400, "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"message\":\"m\"}",
		  NULL, "AWS.SimpleQueueService.NonExistentQueue;Sender", "QueueDoesNotExist",
		  "AWS.SimpleQueueService.NonExistentQueue", "m" },
		{ 400, "{}", "ValidationException:http://internal.amazon.com/coral/", NULL,
		  "ValidationException", "", "{}" },
		{ 502, "<html>\n502</html>", NULL, NULL, "HTTP502", "", "<html>?502</html>" },
		{ 500, "{\"__type\":\"\"}", "", NULL, "HTTP500", "", "{\"__type\":\"\"}" },
		{ 403, "", NULL, NULL, "HTTP403", "", "" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_error e;
		aws_parse_error(rows[i].status, rows[i].body, strlen(rows[i].body),
				rows[i].error_type, rows[i].query_error, "rid-1", &e);
		CHECK_STR(e.code, rows[i].code);
		CHECK_STR(e.legacy_code, rows[i].legacy);
		CHECK_STR(e.message, rows[i].message);
		CHECK_STR(e.request_id, "rid-1");
		CHECK_INT(e.http_status, rows[i].status);
	}
}

TEST(aws_parse_http_date_rows)
{
	time_t t = 0;

	CHECK_INT(aws_parse_http_date("Tue, 01 Dec 2026 10:00:00 GMT", &t), 0);
	CHECK_INT(t, 1796119200);
	CHECK_INT(aws_parse_http_date("Tue, 01 Dec 2026 10:00:00 GMT junk", &t), -EINVAL);
	CHECK_INT(aws_parse_http_date("yesterday", &t), -EINVAL);
	CHECK_INT(aws_parse_http_date(NULL, &t), -EINVAL);
}
