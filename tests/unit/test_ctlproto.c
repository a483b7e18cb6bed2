/* SPDX-License-Identifier: MIT */
/* Table-driven tests of common/ctlproto: requests accepted and refused (with their codes), the
 * args helpers, reply lines built and parsed back. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"

TEST(ctlproto_request_rows)
{
	static const struct {
		const char *line;
		const char *code; /* NULL: accepted */
		const char *cmd;
		const char *why; /* a part of the message */
	} rows[] = {
		{ "{\"v\":1,\"cmd\":\"status\"}", NULL, "status", NULL },
		{ "{\"v\": 1, \"cmd\": \"pause\", \"args\": {\"name\": \"web\"}, \"id\": [1, "
		  "\"x\"]} \r",
		  NULL, "pause", NULL },
		{ "{\"v\":1.0,\"cmd\":\"a-b\"}", NULL, "a-b", NULL },
		{ "", "bad-request", NULL, "not JSON" },
		{ "nope", "bad-request", NULL, "not JSON" },
		{ "[1]", "bad-request", NULL, "not a JSON object" },
		{ "\"x\"", "bad-request", NULL, "not a JSON object" },
		{ "{\"v\":1,\"cmd\":\"x\"} {}", "bad-request", NULL, "text after" },
		{ "{\"cmd\":\"status\"}", "bad-request", NULL, "no protocol version" },
		{ "{\"v\":\"1\",\"cmd\":\"status\"}", "bad-request", NULL, "not a number" },
		{ "{\"v\":2,\"cmd\":\"status\"}", "unsupported-version", NULL, "version 2" },
		{ "{\"v\":1.5,\"cmd\":\"status\"}", "unsupported-version", NULL, "1.5" },
		{ "{\"v\":1}", "bad-request", NULL, "no \"cmd\"" },
		{ "{\"v\":1,\"cmd\":7}", "bad-request", NULL, "not a command name" },
		{ "{\"v\":1,\"cmd\":\"\"}", "bad-request", NULL, "not a command name" },
		{ "{\"v\":1,\"cmd\":\"Status\"}", "bad-request", NULL, "not a command name" },
		{ "{\"v\":1,\"cmd\":\"abcdefghijabcdefghijabcdefghijabc\"}", "bad-request", NULL,
		  "not a command name" },
		{ "{\"v\":1,\"cmd\":\"s\",\"args\":[]}", "bad-request", NULL, "not an object" },
		{ "{\"v\":1,\"cmd\":\"s\",\"args\":null}", "bad-request", NULL, "not an object" },
		{ "{\"v\":1,\"cmd\":\"s\",\"extra\":1}", "bad-request", NULL,
		  "unknown member 'extra'" },
		{ "{\"v\":1,\"cmd\":\"s\",\"cmd\":\"t\"}", "bad-request", NULL, "'cmd' twice" },
		{ "{\"v\":1,\"cmd\":\"s\",\"args\":{\"a\":1,\"a\":2}}", "bad-request", NULL,
		  "'a' twice" },
		{ "{\"v\":1,\"cmd\":\"s\",\"x\\n\\u001b\":1}", "bad-request", NULL, "'x\\n\\x1b'" },
		/* Not UTF-8: a stray byte, an overlong '/', a surrogate, a cut sequence. */
		{ "{\"v\":1,\"cmd\":\"s\",\"args\":{\"reason\":\"a\xff\"}}", "bad-request", NULL,
		  "not UTF-8 (at byte 37)" },
		{ "{\"v\":1,\"cmd\":\"s\",\"id\":\"\xc0\xaf\"}", "bad-request", NULL, "not UTF-8" },
		{ "{\"v\":1,\"cmd\":\"s\",\"id\":\"\xed\xa0\x80\"}", "bad-request", NULL,
		  "not UTF-8" },
		{ "{\"v\":1,\"cmd\":\"s\",\"id\":\"\xe2\x82\"}", "bad-request", NULL, "not UTF-8" },
		{ "{\"v\":1,\"cmd\":\"s\",\"id\":\"\xf4\x90\x80\x80\"}", "bad-request", NULL,
		  "not UTF-8" },
		{ "{\"v\":1,\"cmd\":\"s\",\"id\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
		  NULL, "s", NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ctlproto_request req;
		const char *code = NULL;
		char why[512] = "";
		int r = ctlproto_parse_request(rows[i].line, strlen(rows[i].line), &req, &code, why,
					       sizeof(why));
		if (!rows[i].code) {
			CHECK_INT(r, 0);
			if (r == 0) {
				CHECK_STR(req.cmd, rows[i].cmd);
				CHECK(cJSON_IsObject(req.args));
			}
		} else {
			CHECK(r < 0);
			CHECK_STR(code, rows[i].code);
			if (!strstr(why, rows[i].why))
				unit_fail(__FILE__, __LINE__, "row %zu: '%s' not in '%s'", i,
					  rows[i].why, why);
		}
		ctlproto_request_done(&req);
	}
}

TEST(ctlproto_request_id_and_bounds)
{
	struct ctlproto_request req;
	const char *code = NULL;
	char why[512], line[CTLPROTO_MAX_LINE + 64];

	/* An id is echoed even from a refused request; one longer than 256 bytes is refused. */
	const char *bad = "{\"v\":3,\"id\":\"abc\",\"cmd\":\"s\"}";
	CHECK(ctlproto_parse_request(bad, strlen(bad), &req, &code, why, sizeof(why)) < 0);
	CHECK(req.id && cJSON_IsString(req.id) && !strcmp(req.id->valuestring, "abc"));
	ctlproto_request_done(&req);

	int n = snprintf(line, sizeof(line), "{\"v\":1,\"cmd\":\"s\",\"id\":\"%0*d\"}", 255, 0);
	CHECK(ctlproto_parse_request(line, (size_t)n, &req, &code, why, sizeof(why)) < 0);
	CHECK_STR(code, "bad-request");
	CHECK(strstr(why, "id") != NULL);
	ctlproto_request_done(&req);
	n = snprintf(line, sizeof(line), "{\"v\":1,\"cmd\":\"s\",\"id\":\"%0*d\"}", 254, 0);
	CHECK_INT(ctlproto_parse_request(line, (size_t)n, &req, &code, why, sizeof(why)), 0);
	ctlproto_request_done(&req);

	/* A NUL inside the line. */
	static const char nul[] = "{\"v\":1,\"cmd\":\"s\"}\0";
	CHECK(ctlproto_parse_request(nul, sizeof(nul) - 1, &req, &code, why, sizeof(why)) < 0);
	CHECK_STR(code, "bad-request");
	ctlproto_request_done(&req);

	/* Exactly the limit is read; one byte more is too large. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "{\"v\":1,\"cmd\":\"s\"}", 17);
	CHECK_INT(ctlproto_parse_request(line, CTLPROTO_MAX_LINE, &req, &code, why, sizeof(why)),
		  0);
	ctlproto_request_done(&req);
	CHECK(ctlproto_parse_request(line, CTLPROTO_MAX_LINE + 1, &req, &code, why, sizeof(why)) <
	      0);
	CHECK_STR(code, "request-too-large");
	ctlproto_request_done(&req);

	/* Nesting deeper than cJSON allows is refused, not a crash. */
	char *deep = malloc(4002);
	if (deep) {
		memset(deep, '[', 2000);
		memset(deep + 2000, ']', 2000);
		CHECK(ctlproto_parse_request(deep, 4000, &req, &code, why, sizeof(why)) < 0);
		ctlproto_request_done(&req);
		free(deep);
	}
}

TEST(ctlproto_args_helpers)
{
	static const char *const allowed[] = { "name", "n", "force", NULL };
	cJSON *args = cJSON_Parse("{\"name\": \"web\", \"n\": 20, \"force\": true, \"bad\": "
				  "\"a\\u0007b\", \"long\": \"abcdef\", \"nan\": \"x\"}");
	const char *s = NULL;
	double d = -1;
	bool b = false;
	char why[256];

	CHECK(args != NULL);
	CHECK(ctlproto_check_keys(args, allowed, why, sizeof(why)) == -EINVAL);
	CHECK(strstr(why, "unknown argument 'bad'") && strstr(why, "name, n, force"));
	CHECK_INT(ctlproto_get_string(args, "name", true, 64, &s, why, sizeof(why)), 0);
	CHECK_STR(s, "web");
	CHECK_INT(ctlproto_get_string(args, "none", false, 64, &s, why, sizeof(why)), 0);
	CHECK(s == NULL);
	CHECK_INT(ctlproto_get_string(args, "none", true, 64, &s, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "'none' is missing") != NULL);
	CHECK_INT(ctlproto_get_string(args, "bad", true, 64, &s, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "control character") && strstr(why, "\\x07"));
	CHECK_INT(ctlproto_get_string(args, "long", true, 5, &s, why, sizeof(why)), -EINVAL);
	CHECK_INT(ctlproto_get_string(args, "n", true, 5, &s, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "not a string") != NULL);
	CHECK_INT(ctlproto_get_number(args, "n", true, 1, 1000, &d, why, sizeof(why)), 0);
	CHECK(d == 20);
	CHECK_INT(ctlproto_get_number(args, "n", true, 1, 10, &d, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "not from 1 to 10") != NULL);
	CHECK_INT(ctlproto_get_number(args, "nan", true, 1, 10, &d, why, sizeof(why)), -EINVAL);
	d = 7;
	CHECK_INT(ctlproto_get_number(args, "none", false, 1, 10, &d, why, sizeof(why)), 0);
	CHECK(d == 7);
	CHECK_INT(ctlproto_get_bool(args, "force", &b, why, sizeof(why)), 0);
	CHECK(b);
	CHECK_INT(ctlproto_get_bool(args, "name", &b, why, sizeof(why)), -EINVAL);
	cJSON_Delete(args);

	args = cJSON_Parse("{}");
	CHECK_INT(ctlproto_check_keys(args, allowed, why, sizeof(why)), 0);
	cJSON_Delete(args);
}

TEST(ctlproto_replies_round_trip)
{
	cJSON *id = cJSON_CreateString("7"), *root = NULL, *result = cJSON_CreateObject();
	const cJSON *res = NULL, *err = NULL;
	char why[256];

	cJSON_AddStringToObject(result, "text", "a\nb");
	char *ok = ctlproto_reply_ok(id, result);
	CHECK(ok && !strchr(ok, '\n'));
	if (!ok)
		return;
	CHECK_INT(ctlproto_parse_reply(ok, strlen(ok), &root, &res, &err, why, sizeof(why)), 1);
	CHECK(res && !strcmp(cJSON_GetObjectItem(res, "text")->valuestring, "a\nb"));
	CHECK(!strcmp(cJSON_GetObjectItem(root, "id")->valuestring, "7"));
	cJSON_Delete(root);
	free(ok);

	cJSON *extra = cJSON_CreateObject();
	cJSON_AddItemToObject(extra, "candidates",
			      cJSON_CreateStringArray((const char *[]){ "web" }, 1));
	cJSON_AddStringToObject(extra, "code", "forged");
	char *bad = ctlproto_reply_error(NULL, "unknown-target", 64, extra, "no target 'x'");
	CHECK(bad != NULL);
	if (!bad)
		return;
	root = NULL;
	CHECK_INT(ctlproto_parse_reply(bad, strlen(bad), &root, &res, &err, why, sizeof(why)), 0);
	CHECK(err && !strcmp(cJSON_GetObjectItem(err, "code")->valuestring, "unknown-target"));
	CHECK(err && cJSON_GetObjectItem(err, "exit")->valuedouble == 64);
	CHECK(err && cJSON_IsArray(cJSON_GetObjectItem(err, "candidates")));
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(root, "id")));
	cJSON_Delete(root);
	free(bad);
	cJSON_Delete(id);

	static const char *const refused[] = {
		"",
		"[]",
		"{\"v\":2,\"ok\":true,\"result\":{}}",
		"{\"v\":1,\"ok\":1}",
		"{\"v\":1,\"ok\":true}",
		"{\"v\":1,\"ok\":false,\"error\":{\"code\":\"x\"}}",
		"{\"v\":1,\"ok\":false,\"error\":{\"code\":\"x\",\"message\":\"m\",\"exit\":300}}",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		root = NULL;
		CHECK_INT(ctlproto_parse_reply(refused[i], strlen(refused[i]), &root, &res, &err,
					       why, sizeof(why)),
			  -EPROTO);
		CHECK(root == NULL);
	}

	char *req = ctlproto_request_line("status", NULL);
	CHECK_STR(req, "{\"v\":1,\"cmd\":\"status\"}");
	free(req);
	req = ctlproto_request_line("pause", cJSON_Parse("{\"all\":true}"));
	CHECK_STR(req, "{\"v\":1,\"cmd\":\"pause\",\"args\":{\"all\":true}}");
	free(req);
}
