/* SPDX-License-Identifier: MIT */
/*
 * daemon/images.c: the readers of ECR replies keep only valid digests and
 * remember the rest by tag; the pick of glob and semver rules. Table rows
 * are replies as ECR (or a hostile peer) sends them.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "images.h"
#include "jsonscan.h"
#include "semver.h"
#include "strbuf.h"
#include "strmap.h"
#include "unit.h"

#define D(c)                                                                                      \
	"sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	    c c c c c c c c c c c c c c c c c c c c c c c c

typedef int (*reader_fn)(struct images *, const char *, size_t, struct images_reply *, char *,
			 size_t);

/* Reads text with fn; the reply's extras into *ret when asked (the caller frees its token). */
static int read_with(reader_fn fn, struct images *im, const char *text, struct images_reply *ret)
{
	struct images_reply a;
	char why[256] = "";
	int r = fn(im, text, strlen(text), &a, why, sizeof(why));

	if (r == -EBADMSG)
		CHECK(strncmp(why, "the reply ", 10) == 0);
	if (ret)
		*ret = a;
	else
		free(a.next_token);
	return r;
}

TEST(images_lookup_keeps_valid_digests_and_refuses_the_rest)
{
	static const struct {
		const char *digest; /* as a JSON string body */
		bool valid;
	} rows[] = {
		{ "\"" D("a") "\"", true },
		{ "\"" D("0") "\"", true },
		{ "\"" D("g") "\"", false },                   /* not hex */
		{ "\"" D("A") "\"", false },                   /* uppercase */
		{ "\"" D("a") "a\"", false },                  /* long */
		{ "\"sha256:abc\"", false },                   /* short */
		{ "\"sha512:" D("a") "\"", false },            /* another prefix */
		{ "\"" D("a") "\\n\"", false },                /* newline */
		{ "\"" D("a") "/../x\"", false },              /* path */
		{ "\"sha256:aa\\\",\\\"x\\\":\\\"\"", false }, /* quotes */
		{ "\"\"", false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct images im = { 0 };
		char text[512];
		snprintf(text, sizeof(text),
			 "{\"imageDetails\":[{\"registryId\":\"123456789012\",\"imageDigest\":%s,"
			 "\"imageTags\":[\"prod\",\"v1\"]},{\"imageDigest\":\"" D(
			     "b") "\","
				  "\"imageTags\":[\"other\"]}]}",
			 rows[i].digest);
		CHECK_INT(read_with(images_read_lookup, &im, text, NULL), 0);
		if (rows[i].valid) {
			CHECK(images_digest(&im, "prod") != NULL);
			CHECK(images_bad_digest(&im, "prod") == NULL);
			CHECK_STR(im.registry, "123456789012");
		} else {
			if (images_digest(&im, "prod") || !images_bad_digest(&im, "v1"))
				unit_fail(__FILE__, __LINE__, "row %zu: %s kept or not refused", i,
					  rows[i].digest);
			CHECK_STR(im.registry, ""); /* taken from valid images only */
		}
		CHECK_STR((const char *)images_digest(&im, "other"), D("b"));
		images_done(&im);
	}
}

TEST(images_batch_reads_images_and_failures)
{
	struct images im = { 0 };
	const char *j = ("{\"images\":[{\"imageId\":{\"imageTag\":\"prod\",\"imageDigest\":\"" D(
	    "c") "\"}},{\"imageId\":{\"imageTag\":\"bad\",\"imageDigest\":\"sha256:C\"}}],"
		 "\"failures\":[{\"imageId\":{\"imageTag\":\"gone\"},\"failureCode\":"
		 "\"ImageNotFound\"},{\"imageId\":{\"imageTag\":\"locked\"},\"failureCode\":"
		 "\"KmsError\",\"failureReason\":\"no key\"}]}");

	CHECK_INT(read_with(images_read_batch, &im, j, NULL), 0);
	CHECK_STR((const char *)images_digest(&im, "prod"), D("c"));
	CHECK_STR(images_bad_digest(&im, "bad"), "sha256:C");
	CHECK(images_digest(&im, "bad") == NULL);
	CHECK_INT(im.tag_failures, 2);
	CHECK(strmap_get(im.tag_errors, "gone") == NULL);
	CHECK_STR((const char *)strmap_get(im.tag_errors, "locked"), "KmsError: no key");
	images_done(&im);
}

/* A reply of many long tags, one tag answered twice: each tag has its own digest, the latest answer
 * of a tag wins, and a reply read after another adds to what was read. */
TEST(images_digests_many_tags_latest_wins)
{
	struct images im = { 0 };
	struct strbuf sb;
	char tag[64];

	strbuf_init(&sb, 1 << 20);
	CHECK_INT(strbuf_puts(&sb, "{\"images\":["), 0);
	for (int i = 0; i < 300; i++)
		CHECK_INT(strbuf_printf(&sb,
					"%s{\"imageId\":{\"imageTag\":\"release-%03d-%s\","
					"\"imageDigest\":\"sha256:%064x\"}}",
					i ? "," : "", i, "with-a-long-name", i),
			  0);
	CHECK_INT(strbuf_printf(&sb,
				",{\"imageId\":{\"imageTag\":\"release-007-%s\","
				"\"imageDigest\":\"%s\"}}]}",
				"with-a-long-name", D("e")),
		  0);
	CHECK_INT(read_with(images_read_batch, &im, sb.buf, NULL), 0);
	CHECK_INT((int)images_digest_count(&im), 300);
	for (int i = 0; i < 300; i++) {
		char want[DIGEST_LEN + 1];
		snprintf(tag, sizeof(tag), "release-%03d-with-a-long-name", i);
		snprintf(want, sizeof(want), "sha256:%064x", i);
		CHECK_STR(images_digest(&im, tag), i == 7 ? D("e") : want);
	}
	CHECK(images_digest(&im, "release-300-with-a-long-name") == NULL);
	CHECK(images_digest(&im, "release-007") == NULL);
	CHECK_INT(read_with(images_read_lookup, &im,
			    "{\"imageDetails\":[{\"imageDigest\":\"" D(
				"f") "\",\"imageTags\":[\"x\",\"release-000-with-a-long-name\"]}]}",
			    NULL),
		  0);
	CHECK_INT((int)images_digest_count(&im), 301);
	CHECK_STR(images_digest(&im, "x"), D("f"));
	CHECK_STR(images_digest(&im, "release-000-with-a-long-name"), D("f"));
	images_done(&im);
	CHECK(!im.digests);
	/* and empty again, reusable */
	CHECK_INT(
	    read_with(images_read_lookup, &im,
		      "{\"imageDetails\":[{\"imageDigest\":\"" D("a") "\",\"imageTags\":[\"y\"]}]}",
		      NULL),
	    0);
	CHECK_STR(images_digest(&im, "y"), D("a"));
	images_done(&im);
	strbuf_done(&sb);
}

TEST(images_pick_glob_and_semver)
{
	static char glob[] = "rel-*", rc[] = "*-rc*", range[] = "^1.2";
	static char *excl[] = { rc };
	struct config_watch g = { .rule = TAG_GLOB, .glob = glob, .exclude = excl, .n_exclude = 1 };
	struct config_watch s = { .rule = TAG_SEMVER, .semver_text = range };
	struct images im = { 0 };
	const char *why, *tag, *digest;
	const char *j =
	    ("{\"imageDetails\":["
	     "{\"imageDigest\":\"" D(
		 "1") "\",\"imageTags\":[\"rel-1\",\"1.2.0\"],\"imagePushedAt\":10},"
		      "{\"imageDigest\":\"" D(
			  "2") "\",\"imageTags\":[\"rel-2\",\"1.3.0\"],\"imagePushedAt\":20},"
			       "{\"imageDigest\":\"" D(
				   "3") "\",\"imageTags\":[\"rel-3-rc1\",\"1.4.0-rc.1\"],"
					"\"imagePushedAt\":30},"
					"{\"imageDigest\":\"sha256:bad\",\"imageTags\":[\"rel-"
					"9\",\"1.9.0\"],\"imagePushedAt\":90},"
					"{\"imageDigest\":\"" D(
					    "4") "\",\"imageTags\":[\"rel-0\",\"2.0.0\"]},"
						 "{\"imageDigest\":\"" D(
						     "5") "\",\"imageTags\":[\"rel-b\"],"
							  "\"imagePushedAt\":20}"
							  "]}");

	CHECK_INT(semver_range_parse(range, &s.semver, &why), 0);
	CHECK_INT(read_with(images_read_list, &im, j, NULL), 0);
	CHECK_INT(im.n_list, 5); /* the malformed digest is left out of the list... */
	CHECK_STR(images_bad_digest(&im, "rel-9"), "sha256:bad"); /* ...and remembered */
	/* glob: the newest push (rel-9 is refused, rel-3-rc1 excluded), a tie to the greater tag */
	CHECK(images_pick(&im, &g, &tag, &digest));
	CHECK_STR(tag, "rel-b");
	CHECK_STR(digest, D("5"));
	CHECK(images_rule_matches(&g, "rel-9") && !images_rule_matches(&g, "rel-3-rc1"));
	/* a tag outside Docker's grammar is never followed, whatever the rule says */
	static const char *const hostile[] = { "rel-\n9",   "rel-\x1b[2J",  "rel-\"x",
					       "rel-/../x", "rel-\xc3\xa9", "rel- 1",
					       "rel-9\r" };
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		if (images_rule_matches(&g, hostile[i]))
			unit_fail(__FILE__, __LINE__, "hostile tag %zu matched", i);
	CHECK(!images_rule_matches(&g, "") && images_rule_matches(&g, "rel-a.b_c-D"));
	char long_tag[IMAGES_TAG_MAX + 2];
	memset(long_tag, 'a', sizeof(long_tag) - 1);
	long_tag[sizeof(long_tag) - 1] = '\0';
	memcpy(long_tag, "rel-", 4);
	CHECK(!images_rule_matches(&g, long_tag));
	long_tag[IMAGES_TAG_MAX] = '\0';
	CHECK(images_rule_matches(&g, long_tag));
	/* semver: the highest match, no pre-release, nothing from the refused image */
	CHECK(images_pick(&im, &s, &tag, &digest));
	CHECK_STR(tag, "1.3.0");
	CHECK_STR(digest, D("2"));
	s.prerelease = true;
	CHECK(images_pick(&im, &s, &tag, &digest));
	CHECK_STR(tag, "1.4.0-rc.1");
	semver_range_free(s.semver);
	images_done(&im);
}

TEST(images_readers_refuse_what_is_not_a_strict_json_object)
{
	static const char *const rows[] = {
		"",
		"[]",
		"\"x\"",
		"{\"imageDetails\":[]",    /* cut */
		"{\"imageDetails\":[]}{}", /* more after it (cJSON_ParseWithLength took it) */
		"{\"imageDetails\":[{\"imageTags\":[\"a\tb\"]}]}", /* raw tab in a string */
		"{\"maxResults\":01}",                             /* leading zero */
		"\xef\xbb\xbf{}",                                  /* byte-order mark */
	};
	reader_fn fns[] = { images_read_batch, images_read_lookup, images_read_list };

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (size_t f = 0; f < 3; f++) {
			struct images im = { 0 };
			struct images_reply a;
			char why[256] = "";
			int r = fns[f](&im, rows[i], strlen(rows[i]), &a, why, sizeof(why));
			if (r != -EBADMSG)
				unit_fail(__FILE__, __LINE__, "row %zu reader %zu: %d", i, f, r);
			CHECK(!strncmp(why, "the reply is not ", 17));
			CHECK(!a.next_token && !*a.account && !im.digests && !im.n_list);
		}
}

TEST(images_readers_take_only_the_shape_they_read)
{
	struct images im = { 0 };
	struct images_reply a;

	/* wrong shapes add nothing; a name in another case is another name */
	CHECK_INT(read_with(images_read_lookup, &im,
			    "{\"imageDetails\":{\"imageDigest\":\"" D(
				"a") "\",\"imageTags\":[\"x\"]},"
				     "\"ImageDetails\":[{\"imageDigest\":\"" D(
					 "a") "\",\"imageTags\":[\"y\"]}]}",
			    NULL),
		  0);
	CHECK(!im.digests);
	CHECK_INT(read_with(images_read_lookup, &im,
			    "{\"imageDetails\":[1,\"s\",[],{\"imageDigest\":\"" D(
				"a") "\",\"imageTags\":{\"t\":\"x\"}},{\"imageDigest\":1,"
				     "\"imageTags\":[\"y\"]},{\"imageDigest\":\"" D(
					 "b") "\",\"imageTags\":[2,null,\"a b\",\"-x\",\"z\"]}]}",
			    NULL),
		  0);
	CHECK_INT((int)images_digest_count(&im), 1); /* z only: no other tag of Docker's grammar */
	CHECK_STR((const char *)images_digest(&im, "z"), D("b"));
	images_done(&im);
	/* a tag holding U+0000 is no tag (cJSON cut it: "p\u0000x" was "p") */
	CHECK_INT(read_with(images_read_lookup, &im,
			    "{\"imageDetails\":[{\"imageDigest\":\"" D("c") "\",\"imageTags\":"
									    "[\"p\\u0000x\"]}]}",
			    NULL),
		  0);
	CHECK(!images_digest(&im, "p"));
	images_done(&im);
	/* a digest holding U+0000 is a bad one, shown whole */
	CHECK_INT(
	    read_with(images_read_lookup, &im,
		      "{\"imageDetails\":[{\"imageDigest\":\"" D("c") "\\u0000x\",\"imageTags\":"
								      "[\"p\"]}]}",
		      NULL),
	    0);
	CHECK(!images_digest(&im, "p"));
	CHECK_STR(images_bad_digest(&im, "p"), D("c") "\\u0000x");
	images_done(&im);
	/* the account: the first image's registryId, 12 digits */
	CHECK_INT(read_with(images_read_batch, &im,
			    "{\"images\":[{\"registryId\":\"123456789012\"},{\"registryId\":"
			    "\"210987654321\"}]}",
			    &a),
		  0);
	CHECK_STR(a.account, "123456789012");
	CHECK_INT(read_with(images_read_batch, &im,
			    "{\"imageDetails\":[{\"registryId\":\"1234567890123\"}],\"images\":[{"
			    "\"registryId\":\"123456789012\"}]}",
			    &a),
		  0);
	CHECK_STR(a.account, ""); /* imageDetails is the list, and that one is no account */
	CHECK_INT(read_with(images_read_batch, &im,
			    "{\"imageDetails\":5,\"images\":[{"
			    "\"registryId\":\"123456789012\"}]}",
			    &a),
		  0);
	CHECK_STR(a.account, "123456789012");
	images_done(&im);
}

TEST(images_list_reads_the_next_token)
{
	struct images im = { 0 };
	struct images_reply a;

	CHECK_INT(
	    read_with(images_read_list, &im,
		      "{\"nextToken\":\"t\\\"\\u00e9\",\"imageDetails\":[{\"imageDigest\":\"" D(
			  "a") "\",\"imageTags\":[\"v1\"],\"imagePushedAt\":\"soon\"}]}",
		      &a),
	    0);
	CHECK_STR(a.next_token, "t\"\xc3\xa9");
	free(a.next_token);
	CHECK_INT(im.n_list, 1);
	CHECK(im.list[0].pushed_at == -HUGE_VAL); /* not a number: the oldest */
	CHECK_INT(read_with(images_read_list, &im, "{\"nextToken\":7}", &a), 0);
	CHECK(a.next_token == NULL);
	/* a token holding U+0000 could only be sent back cut: the reply is refused, unread */
	CHECK_INT(read_with(images_read_list, &im,
			    "{\"nextToken\":\"a\\u0000b\",\"imageDetails\":[{\"imageDigest\":\"" D(
				"b") "\",\"imageTags\":[\"v2\"]}]}",
			    &a),
		  -EBADMSG);
	CHECK(a.next_token == NULL);
	CHECK_INT(im.n_list, 1);
	images_done(&im);
}

/* The body cJSON wrote for the same call (what the watcher sent before). */
static char *cjson_body(enum images_call call, const char *repo, const char *registry,
			const char *const *tags, size_t n, const char *next)
{
	static const char *const media[] = {
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.oci.image.index.v1+json",
	};
	cJSON *p = cJSON_CreateObject(), *sub;
	char *text;

	cJSON_AddStringToObject(p, "repositoryName", repo);
	if (registry)
		cJSON_AddStringToObject(p, "registryId", registry);
	if (call == IMAGES_LIST) {
		sub = cJSON_AddObjectToObject(p, "filter");
		cJSON_AddStringToObject(sub, "tagStatus", "TAGGED");
		cJSON_AddNumberToObject(p, "maxResults", IMAGES_PER_PAGE);
		if (next)
			cJSON_AddStringToObject(p, "nextToken", next);
	} else {
		sub = cJSON_AddArrayToObject(p, "imageIds");
		for (size_t k = 0; k < n; k++) {
			cJSON *id = cJSON_CreateObject();
			cJSON_AddItemToArray(sub, id);
			cJSON_AddStringToObject(id, "imageTag", tags[k]);
		}
		if (call == IMAGES_BATCH)
			cJSON_AddItemToObject(p, "acceptedMediaTypes",
					      cJSON_CreateStringArray(media, 4));
	}
	text = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	return text;
}

TEST(images_request_bodies_as_cjson_wrote_them)
{
	static const char *const tags[] = {
		"prod", "v1.2.3", "a\"b\\c", "\x01\x1f\t\n\r\b\f", "caf\xc3\xa9 \xff", "/\x7f"
	};
	static const char *const repos[] = { "team/web", "q\"uo\\te", "ctl\x02\x1b" };
	static const char *const nexts[] = { NULL, "tok+/=", "n\"\\\n\x01\xfe" };
	struct strbuf sb;

	strbuf_init(&sb, 1 << 16);
	for (size_t r = 0; r < 3; r++)
		for (int call = IMAGES_LOOKUP; call <= IMAGES_LIST; call++)
			for (size_t v = 0; v < 3; v++) {
				const char *reg = v == 1 ? "123456789012" : NULL;
				size_t n = v == 0 ? 1 : 6;
				char *want = cjson_body((enum images_call)call, repos[r], reg, tags,
							n, nexts[v]);
				CHECK_INT(images_request(&sb, (enum images_call)call, repos[r], reg,
							 tags, n, nexts[v]),
					  0);
				CHECK_STR(strbuf_str(&sb), want);
				/* and it reads back as JSON */
				struct jsonscan_value root;
				CHECK_INT(jsonscan_parse(sb.buf, sb.len, &root, NULL, 0), 0);
				cJSON_free(want);
			}
	strbuf_done(&sb);
	/* bounded: a body past the buffer's bound is an error, not a cut request */
	strbuf_init(&sb, 16);
	CHECK(images_request(&sb, IMAGES_LOOKUP, "team/web", NULL, tags, 6, NULL) < 0);
	strbuf_done(&sb);
}
