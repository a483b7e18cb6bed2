/* SPDX-License-Identifier: MIT */
/*
 * daemon/ddb: the requests as sent (the fenced TransactWriteItems with its ConditionCheck
 * first), the replies as read (every attribute checked: failing rows), the errors as mapped
 * (-ESTALE for the fence, from the error body and from the message), the options checked.
 */
#include <cJSON.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "credentials.h"
#include "ddb.h"
#include "http.h"
#include "sigv4.h"
#include "unit.h"

static char *print(const cJSON *j)
{
	return j ? cJSON_PrintUnformatted(j) : NULL;
}

TEST(ddb_build_write_fenced_exact)
{
	const struct ddb_write w[] = {
		{ "w/web", "{\"a\":1}", 0 },
		{ "r/web/svc", NULL, 0 },
		{ "s/0001", "", 1767225600 },
	};
	char why[256] = "";
	cJSON *req = ddb_build_write("ecr-ha", "prod", "host-a", 7, w, 3, why, sizeof(why));
	char *s = print(req);

	CHECK_STR(s, "{\"TransactItems\":["
		     "{\"ConditionCheck\":{\"TableName\":\"ecr-ha\","
		     "\"Key\":{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"}},"
		     "\"ConditionExpression\":\"#o = :me AND #t = :term\","
		     "\"ExpressionAttributeNames\":{\"#o\":\"owner\",\"#t\":\"term\"},"
		     "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"host-a\"},\":term\":{\"N\":"
		     "\"7\"}}}},"
		     "{\"Put\":{\"TableName\":\"ecr-ha\",\"Item\":{\"pk\":{\"S\":\"prod\"},"
		     "\"sk\":{\"S\":\"w/web\"},\"doc\":{\"S\":\"{\\\"a\\\":1}\"},\"term\":{\"N\":"
		     "\"7\"}}}},"
		     "{\"Delete\":{\"TableName\":\"ecr-ha\",\"Key\":{\"pk\":{\"S\":\"prod\"},"
		     "\"sk\":{\"S\":\"r/web/svc\"}}}},"
		     "{\"Put\":{\"TableName\":\"ecr-ha\",\"Item\":{\"pk\":{\"S\":\"prod\"},"
		     "\"sk\":{\"S\":\"s/0001\"},\"doc\":{\"S\":\"\"},\"term\":{\"N\":\"7\"},"
		     "\"expires\":{\"N\":\"1767225600\"}}}}]}");
	free(s);
	cJSON_Delete(req);

	/* unfenced (the migration): no ConditionCheck, no term */
	req = ddb_build_write("ecr-ha", "prod", NULL, 0, w, 1, why, sizeof(why));
	s = print(req);
	CHECK_STR(
	    s, "{\"TransactItems\":[{\"Put\":{\"TableName\":\"ecr-ha\",\"Item\":{\"pk\":{"
	       "\"S\":\"prod\"},\"sk\":{\"S\":\"w/web\"},\"doc\":{\"S\":\"{\\\"a\\\":1}\"}}}}]}");
	free(s);
	cJSON_Delete(req);
}

TEST(ddb_build_write_refuses)
{
	struct ddb_write w[DDB_TX_MAX + 2];
	char keys[DDB_TX_MAX + 2][16];
	char why[256] = "";
	char *big = malloc(DDB_ITEM_MAX + 2);
	char longkey[DDB_SK_MAX + 2];

	for (int i = 0; i < DDB_TX_MAX + 2; i++) {
		snprintf(keys[i], sizeof(keys[i]), "t/w/%d", i);
		w[i] = (struct ddb_write){ keys[i], "{}", 0 };
	}
	/* sizes: 99 fenced actions, 100 unfenced */
	cJSON *r = ddb_build_write("tbl", "g", "me", 1, w, DDB_TX_MAX, why, sizeof(why));
	CHECK(r != NULL);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "TransactItems")), 100);
	cJSON_Delete(r);
	CHECK(!ddb_build_write("tbl", "g", "me", 1, w, DDB_TX_MAX + 1, why, sizeof(why)));
	CHECK(strstr(why, "100 actions") != NULL);
	r = ddb_build_write("tbl", "g", NULL, 0, w, DDB_TX_MAX + 1, why, sizeof(why));
	CHECK(r != NULL);
	cJSON_Delete(r);
	CHECK(!ddb_build_write("tbl", "g", "me", 1, w, 0, why, sizeof(why)));

	/* two actions on one item; the lease item; bad keys; a document too big */
	struct ddb_write dup[] = { { "w/a", "{}", 0 }, { "w/a", NULL, 0 } };
	CHECK(!ddb_build_write("tbl", "g", "me", 1, dup, 2, why, sizeof(why)));
	CHECK(strstr(why, "same item") != NULL);
	struct ddb_write lease[] = { { "lease", "{}", 0 } };
	CHECK(!ddb_build_write("tbl", "g", "me", 1, lease, 1, why, sizeof(why)));
	struct ddb_write empty[] = { { "", "{}", 0 } };
	CHECK(!ddb_build_write("tbl", "g", "me", 1, empty, 1, why, sizeof(why)));
	struct ddb_write ctl[] = { { "w/a\nb", "{}", 0 } };
	CHECK(!ddb_build_write("tbl", "g", "me", 1, ctl, 1, why, sizeof(why)));
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	struct ddb_write lk[] = { { longkey, "{}", 0 } };
	CHECK(!ddb_build_write("tbl", "g", "me", 1, lk, 1, why, sizeof(why)));
	longkey[DDB_SK_MAX] = '\0';
	r = ddb_build_write("tbl", "g", "me", 1, lk, 1, why, sizeof(why));
	CHECK(r != NULL);
	cJSON_Delete(r);
	if (big) {
		memset(big, 'x', DDB_ITEM_MAX + 1);
		big[DDB_ITEM_MAX + 1] = '\0';
		struct ddb_write b[] = { { "w/a", big, 0 } };
		CHECK(!ddb_build_write("tbl", "g", "me", 1, b, 1, why, sizeof(why)));
		CHECK(strstr(why, "400000") != NULL);
	}
	struct ddb_write neg[] = { { "s/a", "", -1 } };
	CHECK(!ddb_build_write("tbl", "g", "me", 1, neg, 1, why, sizeof(why)));
	free(big);
}

TEST(ddb_parse_u64_rows)
{
	static const struct {
		const char *json;
		int r;
		uint64_t v;
	} rows[] = {
		{ "{\"N\":\"0\"}", 0, 0 },
		{ "{\"N\":\"42\"}", 0, 42 },
		{ "{\"N\":\"18446744073709551615\"}", 0, UINT64_MAX },
		{ "{\"N\":\"18446744073709551616\"}", -EPROTO, 0 },
		{ "{\"N\":\"99999999999999999999\"}", -EPROTO, 0 },
		{ "{\"N\":\"123456789012345678901\"}", -EPROTO, 0 },
		{ "{\"N\":\"-1\"}", -EPROTO, 0 },
		{ "{\"N\":\"+1\"}", -EPROTO, 0 },
		{ "{\"N\":\"1.5\"}", -EPROTO, 0 },
		{ "{\"N\":\"1e3\"}", -EPROTO, 0 },
		{ "{\"N\":\"01\"}", -EPROTO, 0 },
		{ "{\"N\":\"\"}", -EPROTO, 0 },
		{ "{\"N\":\" 1\"}", -EPROTO, 0 },
		{ "{\"N\":1}", -EPROTO, 0 },
		{ "{\"S\":\"1\"}", -EPROTO, 0 },
		{ "{\"N\":\"1\",\"S\":\"1\"}", -EPROTO, 0 },
		{ "[\"1\"]", -EPROTO, 0 },
		{ "\"1\"", -EPROTO, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *j = cJSON_Parse(rows[i].json);
		uint64_t v = 12345;
		int r = ddb_parse_u64(j, &v);

		if (r != rows[i].r || (r == 0 && v != rows[i].v))
			unit_fail(__FILE__, __LINE__, "row %zu (%s): %d", i, rows[i].json, r);
		cJSON_Delete(j);
	}
	CHECK_INT(ddb_parse_u64(NULL, &(uint64_t){ 0 }), -EPROTO);
}

#define LEASE_OK                                                                            \
	"\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"host-a\"},"    \
	"\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"41\"},\"lease_ms\":{\"N\":\"20000\"}," \
	"\"since\":{\"N\":\"1764547200000\"},\"host\":{\"S\":\"a.example\"}"

TEST(ddb_parse_lease_rows)
{
	static const struct {
		const char *json;
		const char *why; /* NULL: accepted */
	} rows[] = {
		{ "{" LEASE_OK "}", NULL },
		{ "{" LEASE_OK ",\"extra\":{\"BOOL\":true}}", NULL },
		/* released: owner "", no lease_ms needed */
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"42\"}}",
		  NULL },
		{ "[]", "not a map" },
		{ "{\"sk\":{\"S\":\"lease\"}}", "pk" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/x\"}}", "sk other" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"N\":\"1\"}}", "sk" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a b\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"42\"},\"lease_ms\":{\"N\":\"5\"}}",
		  "'owner'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"N\":\"1\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"42\"},\"lease_ms\":{\"N\":\"5\"}}",
		  "'owner'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"},"
		  "\"term\":{\"N\":\"-3\"},\"version\":{\"N\":\"42\"},\"lease_ms\":{\"N\":\"5\"}}",
		  "'term'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"},"
		  "\"term\":{\"N\":\"3\"},\"lease_ms\":{\"N\":\"5\"}}",
		  "'version'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"4\"}}",
		  "'lease_ms'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"4\"},\"lease_ms\":{\"N\":\"0\"}}",
		  "'lease_ms'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"4\"},\"lease_ms\":{\"N\":"
		  "\"86400001\"}}",
		  "'lease_ms'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"4\"},\"lease_ms\":{\"N\":\"9\"},"
		  "\"since\":{\"S\":\"yesterday\"}}",
		  "'since'" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"},"
		  "\"term\":{\"N\":\"3\"},\"version\":{\"N\":\"4\"},\"lease_ms\":{\"N\":\"9\"},"
		  "\"host\":{\"S\":\"a\\u001b[31m\"}}",
		  "'host'" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *j = cJSON_Parse(rows[i].json);
		struct ddb_lease l;
		char why[256] = "";
		int r = ddb_parse_lease(j, &l, why, sizeof(why));

		if (!j)
			unit_fail(__FILE__, __LINE__, "row %zu: not JSON", i);
		else if (rows[i].why ? r != -EPROTO || !strstr(why, rows[i].why) : r != 0)
			unit_fail(__FILE__, __LINE__, "row %zu: %d '%s'", i, r, why);
		cJSON_Delete(j);
	}
	cJSON *j = cJSON_Parse("{" LEASE_OK "}");
	struct ddb_lease l;
	char why[256];
	CHECK_INT(ddb_parse_lease(j, &l, why, sizeof(why)), 0);
	CHECK_STR(l.owner, "host-a");
	CHECK_INT(l.term, 3);
	CHECK_INT(l.version, 41);
	CHECK_INT(l.lease_ms, 20000);
	CHECK_INT(l.since_ms, 1764547200000LL);
	CHECK_STR(l.host, "a.example");
	cJSON_Delete(j);
}

TEST(ddb_parse_state_item_rows)
{
	static const struct {
		const char *json;
		const char *sk;  /* NULL: refused */
		const char *doc; /* NULL: none */
	} rows[] = {
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/web\"},\"doc\":{\"S\":\"{}\"},"
		  "\"term\":{\"N\":\"3\"}}",
		  "w/web", "{}" },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"s/1\"},\"expires\":{\"N\":\"17\"}}",
		  "s/1", NULL },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"lease\"},\"owner\":{\"S\":\"a\"}}",
		  "lease", NULL },
		{ "{\"pk\":{\"S\":\"other\"},\"sk\":{\"S\":\"w/web\"},\"doc\":{\"S\":\"{}\"}}",
		  NULL, NULL },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"\"},\"doc\":{\"S\":\"{}\"}}", NULL,
		  NULL },
		{ "{\"pk\":{\"S\":\"prod\"},\"doc\":{\"S\":\"{}\"}}", NULL, NULL },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/a\"},\"doc\":{\"B\":\"e30=\"}}", NULL,
		  NULL },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/a\"},\"doc\":\"{}\"}", NULL, NULL },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/a\"},\"term\":{\"N\":\"x\"}}", NULL,
		  NULL },
		{ "{\"pk\":{\"S\":\"prod\"},\"sk\":{\"S\":\"w/a\"},\"expires\":{\"S\":\"1\"}}",
		  NULL, NULL },
		{ "7", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cJSON *j = cJSON_Parse(rows[i].json);
		char sk[DDB_SK_MAX + 1] = "", why[400] = "";
		const char *doc = "unset";
		size_t len = 99;
		int r = ddb_parse_state_item(j, "prod", sk, &doc, &len, why, sizeof(why));

		if (rows[i].sk) {
			if (r != 0 || strcmp(sk, rows[i].sk) ||
			    (rows[i].doc ? !doc || strcmp(doc, rows[i].doc) : doc != NULL) ||
			    len != (rows[i].doc ? strlen(rows[i].doc) : 0))
				unit_fail(__FILE__, __LINE__, "row %zu: %d '%s'", i, r, why);
		} else if (r != -EPROTO || !*why) {
			unit_fail(__FILE__, __LINE__, "row %zu: accepted", i);
		}
		cJSON_Delete(j);
	}
}

static int map(const char *code, const char *message, const char *body, char *why, size_t n)
{
	struct aws_result res = { .ok = false, .operation = "TransactWriteItems" };
	int r;

	res.err.http_status = 400;
	snprintf(res.err.code, sizeof(res.err.code), "%s", code);
	snprintf(res.err.message, sizeof(res.err.message), "%s", message);
	res.err_body = body ? cJSON_Parse(body) : NULL;
	r = ddb_map_error("ecr-ha", &res, why, n);
	cJSON_Delete(res.err_body);
	return r;
}

TEST(ddb_map_error_rows)
{
	char why[700];

	/* the fence: from the body */
	CHECK_INT(map("TransactionCanceledException", "Transaction cancelled",
		      "{\"CancellationReasons\":[{\"Code\":\"ConditionalCheckFailed\"},{\"Code\":"
		      "\"None\"}]}",
		      why, sizeof(why)),
		  -ESTALE);
	CHECK(strstr(why, "table 'ecr-ha' TransactWriteItems: TransactionCanceledException "
			  "(action 0: ConditionalCheckFailed)") != NULL);
	/* ... and from the message alone */
	CHECK_INT(map("TransactionCanceledException",
		      "Transaction cancelled, please refer cancellation reasons for specific "
		      "reasons [ConditionalCheckFailed, None]",
		      NULL, why, sizeof(why)),
		  -ESTALE);
	CHECK_INT(map("TransactionCanceledException", "x [None, TransactionConflict]", NULL, why,
		      sizeof(why)),
		  -EDEADLK);
	CHECK_INT(map("TransactionCanceledException", "x [None, ThrottlingError]", NULL, why,
		      sizeof(why)),
		  -EAGAIN);
	CHECK_INT(map("TransactionCanceledException", "x [None, ValidationError]", NULL, why,
		      sizeof(why)),
		  -EINVAL);
	CHECK_INT(
	    map("TransactionCanceledException", "Transaction cancelled", NULL, why, sizeof(why)),
	    -EAGAIN);
	CHECK_INT(map("ConditionalCheckFailedException", "The conditional request failed", NULL,
		      why, sizeof(why)),
		  -ESTALE);
	CHECK_INT(map("ResourceNotFoundException", "Requested resource not found", NULL, why,
		      sizeof(why)),
		  -ENXIO);
	/* a single write racing a transaction on the same item (a renewal and a fenced write):
	 * never the lease lost, never the request's fault */
	CHECK_INT(map("TransactionConflictException", "Transaction is ongoing for the item", NULL,
		      why, sizeof(why)),
		  -EAGAIN);
	CHECK_INT(map("AccessDeniedException",
		      "User: x is not authorized to perform: dynamodb:TransactWriteItems", NULL,
		      why, sizeof(why)),
		  -EACCES);
	CHECK(strstr(why, "AccessDeniedException") != NULL);
	CHECK_INT(
	    map("ProvisionedThroughputExceededException", "slow down", NULL, why, sizeof(why)),
	    -EAGAIN);
	CHECK_INT(map("ThrottlingException", "slow down", NULL, why, sizeof(why)), -EAGAIN);
	CHECK_INT(map("ValidationException", "bad", NULL, why, sizeof(why)), -EINVAL);
	CHECK_INT(map("RequestTimeout", "no reply", NULL, why, sizeof(why)), -EAGAIN);
	/* a message from outside is escaped */
	CHECK_INT(map("ValidationException", "bad\nline '", NULL, why, sizeof(why)), -EINVAL);
	CHECK(strchr(why, '\n') == NULL);
}

/* The options: a table name or ARN (its region used), a group, a region. */
TEST(ddb_new_options)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct http_client_options ho = { 0 };
	struct http_client *http = http_client_new(loop, &ho);
	struct sigv4_signer *signer = sigv4_signer_new();
	struct cred_options co = { .loop = loop, .http = http, .signer = signer };
	struct cred_provider *creds;
	struct aws_options ao = { .region = "eu-west-1" };
	struct aws_client *aws;
	const char *w = NULL;
	struct ddb *t = NULL;
	char why[256];

	setenv("AWS_ACCESS_KEY_ID", "AKIDDDBTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ddbTestSecret", 1);
	creds = cred_chain_new(&co);
	aws = aws_client_new(loop, http, signer, creds, &ao, &w);
	struct ddb_options o = { .loop = loop,
				 .aws = aws,
				 .http = http,
				 .signer = signer,
				 .creds = creds,
				 .aws_options = &ao,
				 .table = "ecr-deployd-ha",
				 .group = "prod" };
	CHECK_INT(ddb_new(&o, &t, why, sizeof(why)), 0);
	if (t) {
		CHECK_STR(ddb_region(t), "eu-west-1");
		CHECK_STR(ddb_table(t), "ecr-deployd-ha");
		CHECK_STR(ddb_group(t), "prod");
		/* no fence: a fenced write is refused at once, without a call */
		struct ddb_write wr[] = { { "w/a", "{}", 0 } };
		CHECK_INT(ddb_write(t, wr, 1, why, sizeof(why)), -EAGAIN);
		CHECK(strstr(why, "not acting") != NULL);
		ddb_free(t);
		t = NULL;
	}
	o.table = "arn:aws:dynamodb:us-west-2:123456789012:table/ecr-deployd-ha";
	CHECK_INT(ddb_new(&o, &t, why, sizeof(why)), 0);
	if (t) {
		CHECK_STR(ddb_region(t), "us-west-2");
		ddb_free(t);
		t = NULL;
	}
	o.region = "ap-south-1";
	CHECK_INT(ddb_new(&o, &t, why, sizeof(why)), 0);
	if (t) {
		CHECK_STR(ddb_region(t), "ap-south-1");
		ddb_free(t);
		t = NULL;
	}
	static const char *const bad_tables[] = {
		"ab",
		"a b c",
		"arn:aws:dynamodb:us-west-2:12345678901:table/x-y-z",
		"arn:aws:s3:us-west-2:123456789012:table/xyz",
		"arn:aws:dynamodb:nowhere:123456789012:table/xyz",
		"arn:aws:dynamodb:us-west-2:123456789012:index/xyz",
		"",
	};
	o.region = NULL;
	for (size_t i = 0; i < sizeof(bad_tables) / sizeof(bad_tables[0]); i++) {
		o.table = bad_tables[i];
		if (ddb_new(&o, &t, why, sizeof(why)) != -EINVAL)
			unit_fail(__FILE__, __LINE__, "table '%s' accepted", bad_tables[i]);
	}
	o.table = "ecr-deployd-ha";
	o.group = "a/b";
	CHECK_INT(ddb_new(&o, &t, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "ha.group") != NULL);
	o.group = "prod";
	o.region = "mars";
	CHECK_INT(ddb_new(&o, &t, why, sizeof(why)), -EINVAL);
	o.region = NULL;
	o.aws = NULL;
	CHECK_INT(ddb_new(&o, &t, why, sizeof(why)), -EINVAL);
	ddb_free(NULL);

	aws_client_free(aws);
	cred_provider_free(creds);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	sigv4_signer_free(signer);
	http_client_free(http);
	ev_loop_destroy(loop);
}
