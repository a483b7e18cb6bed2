/* SPDX-License-Identifier: MIT */
/*
 * Tests of aws_parse_error() (JSON and XML error bodies, the bound on the message),
 * aws_error_classify(), aws_error_action() and aws_parse_http_date(): table rows, failing ones
 * included.
 */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aws.h"
#include "sts.h"

#define XML_PROLOG "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define ACCESS_MSG                                                                     \
	"User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: " \
	"ecs:RegisterTaskDefinition on resource: "                                     \
	"arn:aws:ecs:eu-west-1:123456789012:task-definition/web"

/* Whether s is valid UTF-8 (no overlong, surrogate or out-of-range sequence). */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p;
		int n = c < 0x80             ? 0
			: (c & 0xe0) == 0xc0 ? 1
			: (c & 0xf0) == 0xe0 ? 2
			: (c & 0xf8) == 0xf0 ? 3
					     : -1;
		unsigned cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;

		if (n < 0 || (n == 1 && c < 0xc2))
			return false;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		p += n + 1;
	}
	return true;
}

TEST(aws_parse_error_rows)
{
	static const struct {
		long status;
		const char *body, *error_type, *query_error, *request_id;
		const char *code, *legacy, *message, *rid;
	} rows[] = {
		/* JSON */
		{ 400, "{\"__type\":\"com.amazonaws.ecs#ClientException\",\"message\":\"bad\"}",
		  NULL, NULL, "rid-1", "ClientException", "", "bad", "rid-1" },
		{ 400, "{\"code\":\"ThrottlingException\",\"Message\":\"Rate exceeded\"}", NULL,
		  NULL, "rid-1", "ThrottlingException", "", "Rate exceeded", "rid-1" },
		{ 400, "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"message\":\"m\"}",
		  NULL, "AWS.SimpleQueueService.NonExistentQueue;Sender", "rid-1",
		  "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "m", "rid-1" },
		{ 400, "{}", "ValidationException:http://internal.amazon.com/coral/", NULL, "rid-1",
		  "ValidationException", "", "{}", "rid-1" },
		{ 500, "{\"__type\":\"\"}", "", NULL, "rid-1", "HTTP500", "", "{\"__type\":\"\"}",
		  "rid-1" },
		/* control characters and invalid UTF-8 are kept as they came (the log sinks escape
		 * them), like the characters of every other string from AWS */
		{ 400, "{\"__type\":\"X\",\"message\":\"a\\u0001b\\nc\"}", NULL, NULL, NULL, "X",
		  "",
		  "a\x01"
		  "b\nc",
		  "" },
		{ 400, "{\"__type\":\"X\",\"message\":\"caf\xc3\xa9 \xff\xc3(\"}", NULL, NULL, NULL,
		  "X", "", "caf\xc3\xa9 \xff\xc3(", "" },
		/* empty bodies */
		{ 403, "", NULL, NULL, "rid-1", "HTTP403", "", "", "rid-1" },
		{ 403, "", "AccessDeniedException:http://internal.amazon.com/coral/", NULL, NULL,
		  "AccessDeniedException", "", "", "" },
		{ 400, "  \n ", NULL, NULL, NULL, "HTTP400", "", "  ? ", "" },
		/* not AWS's: an excerpt */
		{ 502, "<html>\n502</html>", NULL, NULL, "rid-1", "HTTP502", "",
		  "<html>?502</html>", "rid-1" },
		{ 400, "<<<>>>&&&", NULL, NULL, NULL, "HTTP400", "", "<<<>>>&&&", "" },
		{ 400, "garbage \x01\xff", NULL, NULL, NULL, "HTTP400", "", "garbage ??", "" },
		/* XML: the query protocol's ErrorResponse, with and without a prolog and a
		   namespace */
		{ 403,
		  "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</"
		  "Code><Message>" ACCESS_MSG
		  "</Message></Error><RequestId>R-1</RequestId></ErrorResponse>",
		  NULL, NULL, NULL, "AccessDenied", "", ACCESS_MSG, "R-1" },
		{ 403,
		  XML_PROLOG "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n"
			     "  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n"
			     "    <Message>Access denied</Message>\n  </Error>\n"
			     "  <RequestId>R-2</RequestId>\n</ErrorResponse>\n",
		  NULL, NULL, "rid-h", "AccessDenied", "", "Access denied", "rid-h" },
		/* the S3/REST shape */
		{ 403,
		  XML_PROLOG "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
			     "<RequestId>R-3</RequestId><HostId>h</HostId></Error>",
		  NULL, NULL, NULL, "AccessDenied", "", "Access Denied", "R-3" },
		{ 403, "<Error><Code>AccessDenied</Code><Message>m</Message></Error>", NULL, NULL,
		  NULL, "AccessDenied", "", "m", "" },
		/* EC2's: Response/Errors/Error */
		{ 400,
		  "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message>"
		  "</Error></Errors><RequestID>R-4</RequestID></Response>",
		  NULL, NULL, NULL, "UnauthorizedOperation", "", "no", "R-4" },
		/* namespace prefixes, whitespace around the code */
		{ 400,
		  "<aws:ErrorResponse xmlns:aws=\"urn:x\"><aws:Error><aws:Code>\n Throttling\n"
		  "</aws:Code><aws:Message>Rate "
		  "exceeded</aws:Message></aws:Error></aws:ErrorResponse>",
		  NULL, NULL, NULL, "Throttling", "", "Rate exceeded", "" },
		/* entities, numeric references, CDATA, comments */
		{ 400,
		  "<Error><Code>X</Code><Message>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; "
		  "&#65;&#x42;&#xe9;&#X20AC; &unknown; & &#; &#xZZ;</Message></Error>",
		  NULL, NULL, NULL, "X", "",
		  "a <b> & \"c\" 'd' AB\xc3\xa9\xe2\x82\xac &unknown; & &#; &#xZZ;", "" },
		{ 400,
		  "<Error><Code>X</Code><Message><![CDATA[x < y & <z>]]> and &amp; "
		  "more</Message></Error>",
		  NULL, NULL, NULL, "X", "", "x < y & <z> and & more", "" },
		{ 400,
		  "<Error><!-- <Code>Fake</Code> --><Code>Real</Code><Message>m<!-- c --> "
		  "n</Message></Error>",
		  NULL, NULL, NULL, "Real", "", "m n", "" },
		/* a character reference to NUL, a surrogate or beyond Unicode is a '?'; a control
		 * is kept like a raw one */
		{ 400,
		  "<Error><Code>X</Code><Message>a&#0;b&#1;c&#xD800;d&#x110000;e&#10;f\x1b</"
		  "Message>"
		  "</Error>",
		  NULL, NULL, NULL, "X", "",
		  "a?b\x01"
		  "c?d?e\nf\x1b",
		  "" },
		/* white space inside XML text is kept, around it dropped */
		{ 400, "<Error><Code>X</Code><Message>\n  a\n\tb  \r\n</Message></Error>", NULL,
		  NULL, NULL, "X", "", "a\n\tb", "" },
		/* Code elsewhere than in Error (or the root) is not the error's code */
		{ 400,
		  "<Error><Detail><Code>Inner</Code></Detail><Code>Outer</Code><Message>m</"
		  "Message></Error>",
		  NULL, NULL, NULL, "Outer", "", "m", "" },
		{ 500, "<html><body><Code>NotAnError</Code></body></html>", NULL, NULL, NULL,
		  "HTTP500", "", "<html><body><Code>NotAnError</Code></body></html>", "" },
		/* the code of the body wins over the header's */
		{ 400, "<Error><Code>Body</Code></Error>", "Header:http://x/", NULL, NULL, "Body",
		  "", "", "" },
		{ 400, "<Error><Message>only a message</Message></Error>", "Header:http://x/", NULL,
		  NULL, "Header", "", "only a message", "" },
		/* self-closing, empty */
		{ 400, "<Error><Code/><Message></Message></Error>", NULL, NULL, NULL, "HTTP400", "",
		  "", "" },
		/* unterminated: a code is whole or not at all; a message cut off is marked */
		{ 403, "<Error><Code>AccessDenied</Code><Message>cut here", NULL, NULL, NULL,
		  "AccessDenied", "", "cut here" AWS_ERROR_CUT_MARK, "" },
		{ 403, "<Error><Code>AccessDen", NULL, NULL, NULL, "HTTP403", "",
		  "<Error><Code>AccessDen", "" },
		{ 403, "<Error><Code>AccessDenied</Code><Message", NULL, NULL, NULL, "AccessDenied",
		  "", "", "" },
		{ 400, "<Error><Code>X</Code><Message><![CDATA[abc", NULL, NULL, NULL, "X", "",
		  "abc" AWS_ERROR_CUT_MARK, "" },
		{ 400, "<Error><!-- never closed <Code>X</Code>", NULL, NULL, NULL, "HTTP400", "",
		  "<Error><!-- never closed <Code>X</Code>", "" },
		/* a content type that lies does not matter: the first byte decides */
		{ 400, " \n\t<Error><Code>X</Code><Message>m</Message></Error>", NULL, NULL, NULL,
		  "X", "", "m", "" },
		{ 400, "\xef\xbb\xbf<Error><Code>X</Code><Message>m</Message></Error>", NULL, NULL,
		  NULL, "X", "", "m", "" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_error e;
		aws_parse_error(rows[i].status, rows[i].body, strlen(rows[i].body),
				rows[i].error_type, rows[i].query_error, rows[i].request_id, &e);
		if (strcmp(e.code, rows[i].code) || strcmp(e.message, rows[i].message) ||
		    strcmp(e.request_id, rows[i].rid))
			fprintf(stderr, "row %zu:\n", i);
		CHECK_STR(e.code, rows[i].code);
		CHECK_STR(e.legacy_code, rows[i].legacy);
		CHECK_STR(e.message, rows[i].message);
		CHECK_STR(e.request_id, rows[i].rid);
		CHECK_INT(e.http_status, rows[i].status);
	}
}

/* NUL bytes inside the body (outside bytes: the length is what counts). */
TEST(aws_parse_error_nul)
{
	static const char body[] = "<Error><Code>X</Code><Message>a\0b</Message></Error>";
	static const char json[] = "{\"__type\":\"Y\",\"message\":\"m\"}\0junk";
	struct aws_error e;

	aws_parse_error(400, body, sizeof(body) - 1, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "X");
	CHECK_STR(e.message, "a?b");
	aws_parse_error(400, "\0<Error>", 8, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "HTTP400");
	CHECK_STR(e.message, "?<Error>");
	/* what follows a JSON object is not read */
	aws_parse_error(400, json, sizeof(json) - 1, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "Y");
}

/* A message longer than the bound: cut at a word boundary, marked, never inside UTF-8. */
TEST(aws_parse_error_long_message)
{
	static char body[8192], msg[4096], want[2048];
	struct aws_error e;
	size_t n = 0, len;

	/* words of 7 letters and a space: the cut falls after a whole word */
	for (int i = 0; n + 8 < 3000; i++)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "word%03d ", i % 1000);
	msg[--n] = '\0';
	snprintf(body, sizeof(body), "{\"__type\":\"AccessDeniedException\",\"message\":\"%s\"}",
		 msg);
	aws_parse_error(400, body, strlen(body), NULL, NULL, NULL, &e);
	len = strlen(e.message);
	CHECK(len < sizeof(e.message));
	CHECK(len > sizeof(e.message) - 32);
	CHECK(len > strlen(AWS_ERROR_CUT_MARK));
	CHECK_STR(e.message + len - strlen(AWS_ERROR_CUT_MARK), AWS_ERROR_CUT_MARK);
	/* what precedes the mark is the message's start, ending on a whole word */
	snprintf(want, sizeof(want), "%.*s", (int)(len - strlen(AWS_ERROR_CUT_MARK)), msg);
	CHECK(!strncmp(e.message, msg, strlen(want)));
	CHECK(msg[strlen(want)] == ' ');
	CHECK(want[strlen(want) - 1] != ' ');

	/* the same through XML */
	snprintf(body, sizeof(body),
		 "<Error><Code>AccessDenied</Code><Message>%s</Message></Error>", msg);
	aws_parse_error(403, body, strlen(body), NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "AccessDenied");
	CHECK_INT(strlen(e.message), len);
	CHECK(!strncmp(e.message, msg, strlen(want)));

	/* one long word of two-byte characters: cut between characters, marked */
	n = 0;
	for (int i = 0; i < 1500; i++) {
		msg[n++] = '\xc3';
		msg[n++] = '\xa9';
	}
	msg[n] = '\0';
	snprintf(body, sizeof(body), "<Error><Code>X</Code><Message>%s</Message></Error>", msg);
	aws_parse_error(403, body, strlen(body), NULL, NULL, NULL, &e);
	len = strlen(e.message);
	CHECK(len < sizeof(e.message) && len > sizeof(e.message) - 32);
	CHECK(utf8_valid(e.message));
	CHECK_STR(e.message + len - strlen(AWS_ERROR_CUT_MARK), AWS_ERROR_CUT_MARK);

	/* invalid UTF-8 bytes are characters of their own: a long run of them is cut near the
	 * bound too */
	memset(msg, '\x80', 3000);
	msg[3000] = '\0';
	snprintf(body, sizeof(body), "<Error><Code>X</Code><Message>%s</Message></Error>", msg);
	aws_parse_error(403, body, strlen(body), NULL, NULL, NULL, &e);
	len = strlen(e.message);
	CHECK(len < sizeof(e.message) && len > sizeof(e.message) - 32);
	CHECK_STR(e.message + len - strlen(AWS_ERROR_CUT_MARK), AWS_ERROR_CUT_MARK);

	/* exactly the bound: whole, no mark */
	memset(msg, 'a', sizeof(e.message) - 1);
	msg[sizeof(e.message) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"__type\":\"X\",\"message\":\"%s\"}", msg);
	aws_parse_error(400, body, strlen(body), NULL, NULL, NULL, &e);
	CHECK_STR(e.message, msg);

	/* a long body that is not AWS's: its excerpt is marked too */
	memset(body, 'x', 1000);
	body[1000] = '\0';
	aws_parse_error(502, body, strlen(body), NULL, NULL, NULL, &e);
	CHECK(strlen(e.message) <= 200 + strlen(AWS_ERROR_CUT_MARK));
	CHECK_STR(e.message + strlen(e.message) - strlen(AWS_ERROR_CUT_MARK), AWS_ERROR_CUT_MARK);
}

/* Hostile XML: deep nesting, huge bodies, unterminated tags: bounded, never a crash. */
TEST(aws_parse_error_hostile_xml)
{
	static char body[1 << 20];
	struct aws_error e;
	size_t n = 0;

	while (n + 3 < 200000) {
		memcpy(body + n, "<a>", 3);
		n += 3;
	}
	n += (size_t)snprintf(body + n, sizeof(body) - n, "<Code>Deep</Code>");
	aws_parse_error(400, body, n, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "HTTP400");

	n = (size_t)snprintf(body, sizeof(body), "<Error><Code>X</Code><Message>");
	while (n + 6 < sizeof(body) - 100) {
		memcpy(body + n, "&amp; ", 6);
		n += 6;
	}
	n += (size_t)snprintf(body + n, sizeof(body) - n, "</Message></Error>");
	aws_parse_error(400, body, n, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "X");
	CHECK_STR(e.message + strlen(e.message) - strlen(AWS_ERROR_CUT_MARK), AWS_ERROR_CUT_MARK);

	memset(body, '<', 100000);
	aws_parse_error(400, body, 100000, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "HTTP400");
	aws_parse_error(400, "<", 1, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "HTTP400");
	aws_parse_error(400, "<Error><Code>&#x", 16, NULL, NULL, NULL, &e);
	CHECK_STR(e.code, "HTTP400");
	aws_parse_error(400,
			"<Error><Code>X</Code><Message>&#99999999999999999999;</Message></Error>",
			71, NULL, NULL, NULL, &e);
	CHECK_STR(e.message, "&#99999999999999999999;");
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

TEST(aws_error_classify_rows)
{
	static const struct {
		int status;
		const char *code;
		enum aws_error_class want;
	} rows[] = {
		/* no reply, or the client's own failures */
		{ 0, "RequestTimeout", AWS_ERROR_TRANSIENT },
		{ 0, "ConnectionError", AWS_ERROR_TRANSIENT },
		{ 0, "CredentialsError", AWS_ERROR_TRANSIENT },
		{ 0, "EndpointError", AWS_ERROR_TRANSIENT },
		{ 200, "MalformedResponse", AWS_ERROR_TRANSIENT },
		{ 503, "CredentialsError", AWS_ERROR_TRANSIENT },
		/* 5xx, whatever the code */
		{ 500, "ServerException", AWS_ERROR_TRANSIENT },
		{ 500, "InternalFailure", AWS_ERROR_TRANSIENT },
		{ 503, "ServiceUnavailable", AWS_ERROR_TRANSIENT },
		{ 502, "HTTP502", AWS_ERROR_TRANSIENT },
		{ 504, "AccessDenied", AWS_ERROR_TRANSIENT },
		/* throttling and timeouts in a 4xx */
		{ 400, "ThrottlingException", AWS_ERROR_TRANSIENT },
		{ 400, "Throttling", AWS_ERROR_TRANSIENT },
		{ 400, "RequestThrottled", AWS_ERROR_TRANSIENT },
		{ 429, "HTTP429", AWS_ERROR_TRANSIENT },
		{ 429, "TooManyRequestsException", AWS_ERROR_TRANSIENT },
		{ 400, "RequestTimeout", AWS_ERROR_TRANSIENT },
		{ 400, "RequestTimeoutException", AWS_ERROR_TRANSIENT },
		{ 400, "PriorRequestNotComplete", AWS_ERROR_TRANSIENT },
		/* authorization */
		{ 400, "AccessDeniedException", AWS_ERROR_AUTH },
		{ 403, "AccessDenied", AWS_ERROR_AUTH },
		{ 403, "UnauthorizedOperation", AWS_ERROR_AUTH },
		{ 400, "UnrecognizedClientException", AWS_ERROR_AUTH },
		{ 403, "InvalidClientTokenId", AWS_ERROR_AUTH },
		{ 400, "ExpiredTokenException", AWS_ERROR_AUTH },
		{ 400, "ExpiredToken", AWS_ERROR_AUTH },
		{ 403, "MissingAuthenticationTokenException", AWS_ERROR_AUTH },
		{ 403, "InvalidSignatureException", AWS_ERROR_AUTH },
		{ 403, "SignatureDoesNotMatch", AWS_ERROR_AUTH },
		{ 403, "HTTP403", AWS_ERROR_AUTH },
		{ 401, "HTTP401", AWS_ERROR_AUTH },
		/* missing things */
		{ 400, "ServiceNotFoundException", AWS_ERROR_NOT_FOUND },
		{ 400, "ClusterNotFoundException", AWS_ERROR_NOT_FOUND },
		{ 400, "ResourceNotFoundException", AWS_ERROR_NOT_FOUND },
		{ 400, "RepositoryNotFoundException", AWS_ERROR_NOT_FOUND },
		{ 400, "ImageNotFoundException", AWS_ERROR_NOT_FOUND },
		{ 400, "ServiceNotActiveException", AWS_ERROR_NOT_FOUND },
		{ 404, "NoSuchEntity", AWS_ERROR_NOT_FOUND },
		{ 400, "QueueDoesNotExist", AWS_ERROR_NOT_FOUND },
		{ 400, "AWS.SimpleQueueService.NonExistentQueue", AWS_ERROR_NOT_FOUND },
		/* the request's fault */
		{ 400, "ClientException", AWS_ERROR_REQUEST },
		{ 400, "InvalidParameterException", AWS_ERROR_REQUEST },
		{ 400, "ValidationException", AWS_ERROR_REQUEST },
		{ 400, "ValidationError", AWS_ERROR_REQUEST },
		{ 400, "InvalidParameterValue", AWS_ERROR_REQUEST },
		{ 400, "SerializationException", AWS_ERROR_REQUEST },
		{ 409, "SomethingNew", AWS_ERROR_REQUEST },
		{ 400, "HTTP400", AWS_ERROR_REQUEST },
		{ 404, "HTTP404", AWS_ERROR_REQUEST },
		{ 302, "HTTP302", AWS_ERROR_REQUEST },
		{ 400, "", AWS_ERROR_REQUEST },
		{ 400, "Accessdenied", AWS_ERROR_REQUEST },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_error e = { .http_status = rows[i].status };
		snprintf(e.code, sizeof(e.code), "%s", rows[i].code);
		if (aws_error_classify(&e) != rows[i].want)
			fprintf(stderr, "row %zu: %d %s\n", i, rows[i].status, rows[i].code);
		CHECK_STR(aws_error_class_name(aws_error_classify(&e)),
			  aws_error_class_name(rows[i].want));
	}
	CHECK_STR(aws_error_class_name(AWS_ERROR_TRANSIENT), "transient");
	CHECK_STR(aws_error_class_name(AWS_ERROR_AUTH), "authorization");
	CHECK_STR(aws_error_class_name(AWS_ERROR_REQUEST), "request");
	CHECK_STR(aws_error_class_name(AWS_ERROR_NOT_FOUND), "not-found");
	CHECK_STR(aws_error_class_name((enum aws_error_class)99), "unknown");
}

TEST(aws_error_action_rows)
{
	static const struct {
		const char *message;
		int found;
		const char *action;
	} rows[] = {
		{ ACCESS_MSG, 1, "ecs:RegisterTaskDefinition" },
		{ "User: arn:aws:sts::123456789012:assumed-role/deploy/i-1 is not authorized to "
		  "perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/task because "
		  "no "
		  "identity-based policy allows the iam:PassRole action",
		  1, "iam:PassRole" },
		{ "User: arn:aws:iam::1:user/x is not authorized to perform iam:PassRole on "
		  "resource "
		  "role x",
		  1, "iam:PassRole" },
		{ "... is not authorized to perform: ecr:BatchGetImage", 1, "ecr:BatchGetImage" },
		{ "... is not authorized to perform: ecr:BatchGetImage.", 1, "ecr:BatchGetImage" },
		{ "User x is not authorized to perform: codedeploy:CreateDeployment on y", 1,
		  "codedeploy:CreateDeployment" },
		{ "... not authorized to perform: ecs:*", 1, "ecs:*" },
		{ "because no identity-based policy allows the ecs:UpdateService action", 1,
		  "ecs:UpdateService" },
		/* escaped into the message: kept to the allowed characters */
		{ "not authorized to perform: ecs:Update'Service", 1, "ecs:Update" },
		/* not an action */
		{ "You are not authorized to perform this operation.", 0, "" },
		{ "not authorized to perform: Ecs:Update", 0, "" },
		{ "not authorized to perform: ecs:", 0, "" },
		{ "not authorized to perform: :Update", 0, "" },
		{ "not authorized to perform:", 0, "" },
		{ "Access Denied", 0, "" },
		{ "", 0, "" },
		{ "is not authorized to perform: ecs:RegisterTaskDefinition... (cut)", 1,
		  "ecs:RegisterTaskDefinition" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_error e = { .http_status = 400 };
		char buf[128] = "junk";
		snprintf(e.message, sizeof(e.message), "%s", rows[i].message);
		CHECK_INT(aws_error_action(&e, buf, sizeof(buf)), rows[i].found);
		CHECK_STR(buf, rows[i].action);
	}
	/* an action longer than the buffer is not returned cut */
	{
		struct aws_error e = { .http_status = 400 };
		char small[8] = "junk";
		snprintf(e.message, sizeof(e.message),
			 "not authorized to perform: ecs:UpdateService");
		CHECK_INT(aws_error_action(&e, small, sizeof(small)), 0);
		CHECK_STR(small, "");
		CHECK_INT(aws_error_action(&e, NULL, 0), 0);
	}
}

/* STS's errors are read by the same reader: sts_parse_reply's why. */
TEST(sts_error_rows)
{
	static const struct {
		const char *body;
		long status;
		int err;
		const char *why;
	} rows[] = {
		{ "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
		  "<Type>Sender</Type><Code>AccessDenied</Code><Message>not &#x61;uthorized to "
		  "perform: sts:AssumeRole<![CDATA[ on <role>]]></Message></Error>"
		  "<RequestId>r</RequestId></ErrorResponse>",
		  403, -EACCES,
		  "STS AssumeRole: HTTP 403 AccessDenied: not authorized to perform: "
		  "sts:AssumeRole "
		  "on <role>" },
		{ "<Error><Code>AccessDenied</Code><Message>no &amp; never</Message></Error>", 403,
		  -EACCES, "STS AssumeRole: HTTP 403 AccessDenied: no & never" },
		{ "", 503, -EAGAIN, "STS AssumeRole: HTTP 503 (no error code): (no message)" },
		/* a body that is not an error is never quoted */
		{ "<html>AccessKeyId</html>", 502, -EAGAIN,
		  "STS AssumeRole: HTTP 502 (no error code): (no message)" },
	};
	static char body[4096];
	char why[512];
	size_t n;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_credentials *c = NULL;
		CHECK_INT(sts_parse_reply(rows[i].body, rows[i].status, "AssumeRole", &c, why,
					  sizeof(why)),
			  rows[i].err);
		CHECK_STR(why, rows[i].why);
		CHECK(c == NULL);
	}
	/* longer than why: cut with the mark, not silently */
	n = (size_t)snprintf(body, sizeof(body), "<Error><Code>AccessDenied</Code><Message>");
	while (n < 2000)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "word \xc3\xa9 ");
	snprintf(body + n, sizeof(body) - n, "</Message></Error>");
	CHECK_INT(sts_parse_reply(body, 403, "AssumeRole", NULL, why, sizeof(why)), -EACCES);
	CHECK(strlen(why) > sizeof(why) - 8);
	CHECK_STR(why + strlen(why) - strlen(AWS_ERROR_CUT_MARK), AWS_ERROR_CUT_MARK);
	CHECK(utf8_valid(why));
}
