/* SPDX-License-Identifier: MIT */
/*
 * SigV4 against the AWS SigV4 test suite (tests/data/aws-sigv4, a copy of
 * the Apache-2.0 suite) and HMAC-SHA256 against RFC 4231.
 *
 * Which cases apply: every case's header-signing variant (canonical
 * request, string to sign, signature). The query-signing variants
 * (presigned URLs, X-Amz-Signature in the query) do not apply: ecr-deployd
 * never presigns; it signs every request in its Authorization header.
 */
#include "unit.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "sigv4.h"
#include "strbuf.h"

static const char *data_dir(void)
{
	const char *d = getenv("ECR_TEST_DATA");

	return d && *d ? d : "tests/data";
}

static char *slurp(const char *dir, const char *c, const char *file)
{
	char path[1024];
	struct strbuf sb;
	FILE *f;
	char buf[4096];
	size_t n;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, c, file);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	strbuf_init(&sb, 1 << 20);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (strbuf_append(&sb, buf, n) < 0)
			break;
	fclose(f);
	return strbuf_steal(&sb);
}

struct parsed {
	char method[16];
	char *path, *query;
	struct sigv4_header headers[32];
	char *names[32], *values[32];
	size_t n;
	char *body;
};

static void parsed_free(struct parsed *p)
{
	free(p->path);
	free(p->query);
	for (size_t i = 0; i < p->n; i++) {
		free(p->names[i]);
		free(p->values[i]);
	}
	free(p->body);
}

/* request.txt: "METHOD target HTTP/1.1", header lines (folded lines start with white space), blank
 * line, body. */
static int parse_request(char *text, struct parsed *p)
{
	char *line = text, *next, *target, *sp, *q;
	bool first = true;

	memset(p, 0, sizeof(*p));
	for (; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (first) {
			sp = strchr(line, ' ');
			if (!sp || (size_t)(sp - line) >= sizeof(p->method))
				return -EINVAL;
			memcpy(p->method, line, (size_t)(sp - line));
			target = sp + 1;
			sp = strrchr(target, ' ');
			if (!sp)
				return -EINVAL;
			*sp = '\0';
			q = strchr(target, '?');
			if (q)
				*q++ = '\0';
			p->path = strdup(target);
			p->query = q ? strdup(q) : NULL;
			first = false;
			continue;
		}
		if (!*line) {
			p->body = strdup(next ? next : "");
			break;
		}
		if ((line[0] == ' ' || line[0] == '\t') && p->n > 0) {
			size_t a = strlen(p->values[p->n - 1]), b = strlen(line);
			char *v = realloc(p->values[p->n - 1], a + b + 2);
			if (!v)
				return -ENOMEM;
			v[a] = '\n';
			memcpy(v + a + 1, line, b + 1);
			p->values[p->n - 1] = v;
			continue;
		}
		char *colon = strchr(line, ':');
		if (!colon || p->n == 32)
			return -EINVAL;
		*colon = '\0';
		p->names[p->n] = strdup(line);
		p->values[p->n] = strdup(colon + 1);
		p->n++;
	}
	for (size_t i = 0; i < p->n; i++)
		p->headers[i] = (struct sigv4_header){ p->names[i], p->values[i] };
	return 0;
}

static bool run_case(struct sigv4_signer *s, const char *dir, const char *name)
{
	char *ctx_text = slurp(dir, name, "context.json");
	char *req_text = slurp(dir, name, "request.txt");
	char *want_creq = slurp(dir, name, "header-canonical-request.txt");
	char *want_sts = slurp(dir, name, "header-string-to-sign.txt");
	char *want_sig = slurp(dir, name, "header-signature.txt");
	cJSON *ctx = ctx_text ? cJSON_Parse(ctx_text) : NULL;
	struct parsed p;
	struct sigv4_result res;
	bool ok = false;

	sigv4_result_init(&res);
	memset(&p, 0, sizeof(p));
	if (!ctx || !req_text || !want_creq || !want_sts || !want_sig) {
		unit_fail(__FILE__, __LINE__, "%s: case files missing or unreadable", name);
		goto out;
	}
	if (parse_request(req_text, &p) < 0) {
		unit_fail(__FILE__, __LINE__, "%s: request.txt does not parse", name);
		goto out;
	}
	cJSON *cr = cJSON_GetObjectItem(ctx, "credentials");
	cJSON *tok = cJSON_GetObjectItem(cr, "token");
	bool omit = cJSON_IsTrue(cJSON_GetObjectItem(ctx, "omit_session_token"));
	struct sigv4_credentials creds = {
		cJSON_GetStringValue(cJSON_GetObjectItem(cr, "access_key_id")),
		cJSON_GetStringValue(cJSON_GetObjectItem(cr, "secret_access_key")),
		tok && !omit ? cJSON_GetStringValue(tok) : NULL,
	};
	struct tm tm = { 0 };
	const char *ts = cJSON_GetStringValue(cJSON_GetObjectItem(ctx, "timestamp"));
	if (!ts || !strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		unit_fail(__FILE__, __LINE__, "%s: bad timestamp", name);
		goto out;
	}
	struct sigv4_request r = {
		.method = p.method,
		.path = p.path,
		.query = p.query,
		.headers = p.headers,
		.n_headers = p.n,
		.body = p.body,
		.body_len = p.body ? strlen(p.body) : 0,
		.normalize_path = cJSON_IsTrue(cJSON_GetObjectItem(ctx, "normalize")),
		.sign_payload_header = cJSON_IsTrue(cJSON_GetObjectItem(ctx, "sign_body")),
	};
	int rc = sigv4_sign(s, &r, &creds, cJSON_GetStringValue(cJSON_GetObjectItem(ctx, "region")),
			    cJSON_GetStringValue(cJSON_GetObjectItem(ctx, "service")), timegm(&tm),
			    &res);
	if (rc < 0) {
		unit_fail(__FILE__, __LINE__, "%s: sigv4_sign failed: %d", name, rc);
		goto out;
	}
	ok = true;
	if (strcmp(strbuf_str(&res.canonical_request), want_creq) != 0) {
		unit_fail(__FILE__, __LINE__, "%s: canonical request\n--- got\n%s\n--- want\n%s",
			  name, strbuf_str(&res.canonical_request), want_creq);
		ok = false;
	}
	if (strcmp(strbuf_str(&res.string_to_sign), want_sts) != 0) {
		unit_fail(__FILE__, __LINE__, "%s: string to sign differs", name);
		ok = false;
	}
	if (strcmp(res.signature, want_sig) != 0) {
		unit_fail(__FILE__, __LINE__, "%s: signature %s, want %s", name, res.signature,
			  want_sig);
		ok = false;
	}
out:
	sigv4_result_done(&res);
	parsed_free(&p);
	cJSON_Delete(ctx);
	free(ctx_text);
	free(req_text);
	free(want_creq);
	free(want_sts);
	free(want_sig);
	return ok;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

TEST(sigv4_aws_test_suite)
{
	char dir[1024];
	DIR *d;
	struct dirent *e;
	char *names[128];
	size_t n = 0;
	int pass = 0, applicable = 0, not_applicable = 0;
	struct sigv4_signer *s = sigv4_signer_new();

	snprintf(dir, sizeof(dir), "%s/aws-sigv4", data_dir());
	d = opendir(dir);
	CHECK(d != NULL);
	if (!d) {
		sigv4_signer_free(s);
		return;
	}
	while ((e = readdir(d)) && n < 128) {
		char path[2048];
		snprintf(path, sizeof(path), "%s/%s/request.txt", dir, e->d_name);
		if (e->d_name[0] != '.' && access(path, R_OK) == 0)
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	for (size_t i = 0; i < n; i++) {
		char path[2048];

		applicable++; /* the header-signing variant */
		if (run_case(s, dir, names[i]))
			pass++;
		snprintf(path, sizeof(path), "%s/%s/query-signature.txt", dir, names[i]);
		if (access(path, R_OK) == 0)
			not_applicable++; /* the query-signing (presign) variant */
		free(names[i]);
	}
	sigv4_signer_free(s);
	CHECK(applicable >= 38);
	CHECK_INT(pass, applicable);
	printf("aws-sigv4 test suite: %d of %d applicable cases pass (%d not applicable)\n", pass,
	       applicable, not_applicable);
}

static void unhex(const char *h, uint8_t *out, size_t *len)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	*len = n;
}

/* RFC 4231 section 4: test cases 1-7 (case 5 compares the first 128 bits). */
TEST(hmac_sha256_rfc4231)
{
	static const struct {
		const char *key_hex, *data_hex, *mac_hex;
	} rows[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		  "dd"
		  "dddddddddddddddddd",
		  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
		{ "0102030405060708090a0b0c0d0e0f10111213141516171819",
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
		  "cd"
		  "cdcdcdcdcdcdcdcdcd",
		  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
		{ "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
		  "546573742057697468205472756e636174696f6e", "a3b6167473100ee06e0c796c2955552b" },
		{ NULL, /* 131 bytes of 0xaa */
		  "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d20"
		  "48"
		  "617368204b6579204669727374",
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
		{ NULL, /* 131 bytes of 0xaa */
		  "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b"
		  "2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a652064"
		  "6174612e20546865206b6579206e6565647320746f20626520686173686564206265666f72652062"
		  "65696e6720757365642062792074686520484d414320616c676f726974686d2e",
		  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t key[256], data[256], mac[CRYPTO_SHA256_LEN];
		size_t kl, dl;
		char hex[CRYPTO_SHA256_HEX];

		if (rows[i].key_hex) {
			unhex(rows[i].key_hex, key, &kl);
		} else {
			kl = 131;
			memset(key, 0xaa, kl);
		}
		unhex(rows[i].data_hex, data, &dl);
		CHECK_INT(crypto_hmac_sha256(key, kl, data, dl, mac), 0);
		crypto_hex(mac, sizeof(mac), hex);
		if (strncmp(hex, rows[i].mac_hex, strlen(rows[i].mac_hex)) != 0)
			unit_fail(__FILE__, __LINE__, "RFC 4231 case %zu: %s, want %s", i + 1, hex,
				  rows[i].mac_hex);
	}
}

TEST(sha256_known_answers)
{
	char hex[CRYPTO_SHA256_HEX];

	CHECK_INT(crypto_sha256_hex("", 0, hex), 0);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_INT(crypto_sha256_hex("abc", 3, hex), 0);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(sigv4_rejects_unsignable_requests)
{
	struct sigv4_signer *s = sigv4_signer_new();
	struct sigv4_result res;
	struct sigv4_credentials c = { "AKID", "secret", NULL };
	struct sigv4_header no_host[] = { { "Content-Type", "x" } };
	struct sigv4_header own_date[] = { { "Host", "h" }, { "X-Amz-Date", "20150830T123600Z" } };
	struct sigv4_header ctl[] = { { "Host", "h" }, { "X-Bad", "a\001b" } };
	struct sigv4_header bad_name[] = { { "Host", "h" }, { "Bad Name", "v" } };
	struct sigv4_request r = { .method = "POST", .path = "/", .normalize_path = true };

	sigv4_result_init(&res);
	r.headers = no_host;
	r.n_headers = 1;
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", 1440938160, &res), -EINVAL);
	r.headers = own_date;
	r.n_headers = 2;
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", 1440938160, &res), -EINVAL);
	r.headers = ctl;
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", 1440938160, &res), -EINVAL);
	r.headers = bad_name;
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", 1440938160, &res), -EINVAL);
	CHECK_INT(sigv4_sign(s, &r, &c, "", "ecs", 1440938160, &res), -EINVAL);
	sigv4_result_done(&res);
	sigv4_signer_free(s);
}

TEST(sigv4_cached_key_matches_fresh_key)
{
	/* The same request signed twice (second time from the key cache), and
	 * with a rotated secret under the same key id, must differ accordingly. */
	struct sigv4_signer *s = sigv4_signer_new();
	struct sigv4_result a, b, c2;
	struct sigv4_header h[] = { { "Host", "ecs.us-east-1.amazonaws.com" } };
	struct sigv4_request r = { .method = "POST",
				   .path = "/",
				   .headers = h,
				   .n_headers = 1,
				   .body = "{}",
				   .body_len = 2,
				   .normalize_path = true };
	struct sigv4_credentials c = { "AKID", "secret-one", NULL };
	struct sigv4_credentials rotated = { "AKID", "secret-two", NULL };

	sigv4_result_init(&a);
	sigv4_result_init(&b);
	sigv4_result_init(&c2);
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", 1440938160, &a), 0);
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", 1440938160, &b), 0);
	CHECK_STR(a.signature, b.signature);
	CHECK_INT(sigv4_sign(s, &r, &rotated, "us-east-1", "ecs", 1440938160, &c2), 0);
	CHECK(strcmp(a.signature, c2.signature) != 0);
	for (int i = 0; i < 20; i++) { /* more keys than cache slots */
		char region[32];
		snprintf(region, sizeof(region), "region-%d", i);
		CHECK_INT(sigv4_sign(s, &r, &c, region, "ecs", 1440938160, &b), 0);
	}
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", 1440938160, &b), 0);
	CHECK_STR(a.signature, b.signature);
	CHECK(strstr(strbuf_str(&a.authorization), "SignedHeaders=host;x-amz-date,") != NULL);
	sigv4_result_done(&a);
	sigv4_result_done(&b);
	sigv4_result_done(&c2);
	sigv4_signer_free(s);
}

TEST(sigv4_date_matches_gmtime_over_centuries)
{
	/* X-Amz-Date is computed without gmtime_r()/strftime(): it must agree with them on every
	 * kind of day (leap days, century years, 2000, month and year ends, before 1970). */
	struct sigv4_signer *s = sigv4_signer_new();
	struct sigv4_result res;
	struct sigv4_header h[] = { { "Host", "h" } };
	struct sigv4_request r = {
		.method = "POST", .path = "/", .headers = h, .n_headers = 1, .normalize_path = true
	};
	struct sigv4_credentials c = { "AKID", "secret", NULL };
	static const time_t fixed[] = {
		0,          -1,         951782399,  951782400, 951868799,
		4107542399, 4107542400, 1440938160, -86400,    253402300799
	};
	uint64_t x = 88172645463325252ULL;
	size_t checked = 0;

	sigv4_result_init(&res);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 20000; i++) {
		time_t when;
		char want[SIGV4_DATE_LEN];
		struct tm tm;
		if (i < sizeof(fixed) / sizeof(fixed[0])) {
			when = fixed[i];
		} else { /* xorshift over years 1900-2400, any second of the day */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			when = (time_t)(x % (15778368000ULL)) - 2208988800LL;
		}
		CHECK(gmtime_r(&when, &tm) != NULL);
		CHECK(strftime(want, sizeof(want), "%Y%m%dT%H%M%SZ", &tm) == SIGV4_DATE_LEN - 1);
		CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", when, &res), 0);
		CHECK_STR(res.amz_date, want);
		checked++;
	}
	CHECK(checked > 20000);
	/* outside years 1-9999: refused, never a wrong date */
	CHECK_INT(sigv4_sign(s, &r, &c, "us-east-1", "ecs", (time_t)253402300800LL, &res), -EINVAL);
	sigv4_result_done(&res);
	sigv4_signer_free(s);
}
