/* SPDX-License-Identifier: MIT */
/*
 * Tests of common/secmem (the secret arena: marked MADV_DONTDUMP, blocks
 * wiped when freed, split and merged) and of where the credential code puts
 * secrets: the exposed parsers of credential replies and shared files put
 * secret keys and tokens in the arena, and the environment's secret
 * variables are overwritten in environ once taken.
 */
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"
#include "profile.h"
#include "secmem.h"
#include "strbuf.h"
#include "sts.h"

/* The VmFlags of the mapping that holds p, from /proc/self/smaps; "" when not found. */
static void vmflags_of(const void *p, char *out, size_t n)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false;

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, n, "%.200s", line + 8);
			break;
		}
	}
	fclose(f);
}

TEST(secmem_arena_is_left_out_of_core_dumps)
{
	char flags[256];
	char *s = secmem_strdup("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");

	CHECK(s && secmem_owns(s));
	CHECK(((uintptr_t)s & 15) == 0);
	vmflags_of(s, flags, sizeof(flags));
	CHECK(strstr(flags, " dd") != NULL);
	secmem_free(s);
	CHECK(!secmem_owns(flags));
	CHECK(!secmem_owns(NULL));
}

TEST(secmem_free_wipes_and_blocks_are_reused)
{
	struct secmem_stats before, st;
	char *a, *b, *c;

	secmem_stats(&before);
	a = secmem_alloc(100);
	b = secmem_strdup("session-token-bytes");
	c = secmem_alloc(0);
	CHECK(a && b && c && a != b && b != c);
	if (!a || !b || !c)
		return;
	for (size_t i = 0; i < 100; i++)
		CHECK(a[i] == 0);
	memset(a, 'x', 100);
	secmem_stats(&st);
	CHECK_INT(st.blocks, before.blocks + 3);
	secmem_free(b);
	/* The bytes are gone while the arena still holds the block's memory. */
	CHECK(memchr(b, 's', 19) == NULL);
	secmem_free(a);
	secmem_free(c);
	secmem_free(NULL);
	secmem_stats(&st);
	CHECK_INT(st.blocks, before.blocks);
	CHECK_INT(st.in_use, before.in_use);
	/* Freed neighbours merged: a block as large as the three fits where they were. */
	char *d = secmem_alloc(100 + 20 + 16);
	CHECK(d == a);
	secmem_free(d);
}

TEST(secmem_grows_past_a_chunk)
{
	struct secmem_stats before, st;
	char *big, *small[40];

	secmem_stats(&before);
	big = secmem_alloc(200 * 1024);
	CHECK(big && secmem_owns(big) && secmem_owns(big + 200 * 1024 - 1));
	for (size_t i = 0; i < 40; i++) {
		small[i] = secmem_alloc(3000);
		CHECK(small[i] != NULL);
	}
	secmem_stats(&st);
	CHECK(st.chunks > before.chunks);
	CHECK(st.mapped >= 200 * 1024 + 40 * 3000);
	for (size_t i = 0; i < 40; i++)
		secmem_free(small[i]);
	secmem_free(big);
	secmem_stats(&st);
	CHECK_INT(st.in_use, before.in_use);
}

TEST(secmem_foreign_pointer_is_freed_by_free)
{
	char *p = strdup("not from the arena");

	CHECK(!secmem_owns(p));
	secmem_free(p); /* ASan would report a leak or a bad free */
}

TEST(strbuf_secret_growth_leaves_no_copy)
{
	struct strbuf sb;

	strbuf_init_secret(&sb, 1 << 20);
	for (int i = 0; i < 1000; i++)
		CHECK_INT(strbuf_putc(&sb, (char)('a' + i % 26)), 0);
	CHECK_INT(sb.len, 1000);
	CHECK(!strncmp(sb.buf, "abcdefghijklmnopqrstuvwxyzabc", 29));
	strbuf_reset(&sb);
	CHECK_INT(sb.len, 0);
	CHECK(memchr(sb.buf, 'q', sb.cap) == NULL);
	strbuf_done(&sb);
}

TEST(cred_parse_json_rows)
{
	static const struct {
		const char *body;
		int err;
		const char *why;
	} rows[] = {
		{ "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"sec\","
		  "\"Token\":\"tok\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
		  0, NULL },
		{ "{\"AccessKeyId\":\"AKIAX\",\"SecretAccessKey\":\"sec\"}", 0, NULL },
		{ "not json", -EPROTO, "is not JSON" },
		{ "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}", -EPROTO,
		  "Code is 'Failure'" },
		{ "{\"AccessKeyId\":\"A\"}", -EPROTO, "lacks AccessKeyId or SecretAccessKey" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\"}", -EPROTO, "lacks" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":7}", -EPROTO, "lacks" },
		{ "[\"AccessKeyId\"]", -EPROTO, "lacks" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":\"soon\"}",
		  -EPROTO, "Expiration 'soon' is not an ISO 8601 time" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_credentials *c = NULL;
		char why[256] = "";
		int r = cred_parse_json(rows[i].body, strlen(rows[i].body), "test", &c, why,
					sizeof(why));
		CHECK_INT(r, rows[i].err);
		if (rows[i].err == 0) {
			CHECK(c && secmem_owns(c->secret_access_key));
			CHECK(c && (!c->session_token || secmem_owns(c->session_token)));
			CHECK(c && !strcmp(c->secret_access_key, "sec"));
		} else {
			CHECK(c == NULL);
			if (!strstr(why, rows[i].why))
				unit_fail(__FILE__, __LINE__, "row %zu: '%s' lacks '%s'", i, why,
					  rows[i].why);
			CHECK(!strstr(why, "sec\"") && !strstr(why, "'s'"));
		}
		aws_credentials_free(c);
	}
}

TEST(sts_parse_reply_rows)
{
	static const char ok[] =
	    "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAQ</AccessKeyId>"
	    "<SecretAccessKey>s&amp;cret</SecretAccessKey><SessionToken>tok&lt;</SessionToken>"
	    "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>"
	    "</AssumeRoleResponse>";
	static const struct {
		const char *body;
		long status;
		int err;
		const char *why;
	} rows[] = {
		{ ok, 200, 0, NULL },
		{ "<Error><Code>AccessDenied</Code><Message>no &amp; never</Message></Error>", 403,
		  -EACCES, "HTTP 403 AccessDenied: no & never" },
		{ "", 503, -EAGAIN, "HTTP 503 (no error code): (no message)" },
		{ "<SecretAccessKey>x</SecretAccessKey>", 200, -EPROTO, "lacks credentials" },
		{ "<AccessKeyId>A</AccessKeyId><SecretAccessKey>x</SecretAccessKey><SessionToken>t"
		  "</SessionToken><Expiration>never</Expiration>",
		  200, -EPROTO, "lacks credentials or their expiry" },
		{ "<AccessKeyId>A</AccessKeyId><SecretAccessKey></SecretAccessKey><SessionToken>t"
		  "</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>",
		  200, -EPROTO, "lacks" },
		{ "<AccessKeyId>A<SecretAccessKey>", 200, -EPROTO, "lacks" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct aws_credentials *c = NULL;
		char why[512] = "";
		int r = sts_parse_reply(rows[i].body, rows[i].status, "AssumeRole", &c, why,
					sizeof(why));
		CHECK_INT(r, rows[i].err);
		if (rows[i].err == 0) {
			CHECK(c && secmem_owns(c->secret_access_key) &&
			      secmem_owns(c->session_token));
			CHECK_STR(c ? c->secret_access_key : NULL, "s&cret");
			CHECK_STR(c ? c->session_token : NULL, "tok<");
			CHECK_STR(c ? c->access_key_id : NULL, "ASIAQ");
		} else {
			CHECK(c == NULL);
			if (!strstr(why, rows[i].why))
				unit_fail(__FILE__, __LINE__, "row %zu: '%s' lacks '%s'", i, why,
					  rows[i].why);
		}
		aws_credentials_free(c);
	}
}

TEST(profile_parse_text_rows)
{
	char text[] = "# comment\n[default]\nregion = eu-west-1\n[profile ops]\n"
		      "aws_access_key_id = AKIAOPS\naws_secret_access_key = opsSecret\n"
		      "aws_session_token=opsToken\n  nested = skipped\n[profile other]\n"
		      "aws_secret_access_key = otherSecret\n";
	char bad1[] = "[profile ops\n";
	char bad2[] = "[profile ops]\nregion eu\n";
	struct aws_profile p;
	char why[256];

	memset(&p, 0, sizeof(p));
	CHECK_INT(profile_parse_text(text, "cfg", true, "ops", &p, why, sizeof(why)), 0);
	CHECK(p.found);
	CHECK_STR(p.access_key_id, "AKIAOPS");
	CHECK_STR(p.secret_access_key, "opsSecret");
	CHECK_STR(p.session_token, "opsToken");
	CHECK(secmem_owns(p.secret_access_key) && secmem_owns(p.session_token));
	CHECK(!secmem_owns(p.access_key_id));
	CHECK(p.region == NULL);
	profile_done(&p);
	CHECK_INT(profile_parse_text(bad1, "cfg", true, "ops", &p, why, sizeof(why)), -EIO);
	CHECK_STR(why, "cfg:1: a section header without ']'");
	profile_done(&p);
	CHECK_INT(profile_parse_text(bad2, "creds", false, "ops", &p, why, sizeof(why)), -EIO);
	CHECK_STR(why, "creds:2: expected 'key = value'");
	profile_done(&p);
}

TEST(cred_chain_takes_secrets_out_of_environ)
{
	struct cred_options o = { 0 };
	struct cred_provider *p;
	const char *v;

	setenv("AWS_SECRET_ACCESS_KEY", "envSecretValue", 1);
	setenv("AWS_SESSION_TOKEN", "envTokenValue", 1);
	p = cred_chain_new(&o);
	CHECK(p != NULL);
	v = getenv("AWS_SECRET_ACCESS_KEY");
	CHECK(v && *v == '\0');
	v = getenv("AWS_SESSION_TOKEN");
	CHECK(v && *v == '\0');
	cred_provider_free(p);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	p = cred_chain_new(&o); /* drops the copies of variables that are gone */
	cred_provider_free(p);
}
