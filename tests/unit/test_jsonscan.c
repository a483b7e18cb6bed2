/* SPDX-License-Identifier: MIT */
/*
 * common/jsonscan: documents it must accept and refuse (table rows), the same rows against cJSON
 * (where the two differ, the row says which way), walks over objects and arrays, string
 * decoding with its bound.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "jsonscan.h"
#include "unit.h"

/* How cJSON (ParseWithLengthOpts, require_null_terminated, over a NUL-terminated copy) answers a
 * row: the same, or one of its leniencies, which jsonscan refuses. */
enum cj { SAME, CJSON_LENIENT };

struct row {
	const char *doc;
	size_t len; /* 0: strlen(doc) */
	bool valid;
	enum cj cj;
};

static const struct row rows[] = {
	/* valid */
	{ "{}", 0, true, SAME },
	{ "[]", 0, true, SAME },
	{ " \t\r\n{ \"a\" : [ 1 , -2.5e+3 , 0 , -0 , 0.0 , 1E9 , true , false , null ] } \n", 0,
	  true, SAME },
	{ "\"\"", 0, true, SAME },
	{ "0", 0, true, SAME },
	{ "-0.000e-0", 0, true, SAME },
	{ "1e999", 0, true, SAME },
	{ "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE80 \\u0000\"", 0, true, SAME },
	{ "{\"a\":1,\"a\":2}", 0, true, SAME }, /* duplicate keys: the first is read */
	{ "\"raw \xff\xfe bytes\"", 0, true, SAME },
	{ "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]", 0, true, SAME },
	{ "1234567890123456789012345678901234567890123456789012345678901234567890", 0, true, SAME },
	/* invalid */
	{ "", 0, false, SAME },
	{ "   ", 0, false, SAME },
	{ "{", 0, false, SAME },
	{ "[1,]", 0, false, SAME },
	{ "[,1]", 0, false, SAME },
	{ "{\"a\":1,}", 0, false, SAME },
	{ "{\"a\" 1}", 0, false, SAME },
	{ "{a:1}", 0, false, SAME },
	{ "{1:1}", 0, false, SAME },
	{ "[1 2]", 0, false, SAME },
	{ "{} {}", 0, false, SAME },
	{ "{}x", 0, false, SAME },
	{ "tru", 0, false, SAME },
	{ "nul", 0, false, SAME },
	{ "True", 0, false, SAME },
	{ "NaN", 0, false, SAME },
	{ "-", 0, false, SAME },
	{ "+1", 0, false, SAME },
	{ ".5", 0, false, SAME },
	{ "1e", 0, false, SAME },
	{ "1e+", 0, false, SAME },
	{ "-inf", 0, false, SAME },
	{ "0x10", 0, false, SAME },
	{ "\"unterminated", 0, false, SAME },
	{ "\"bad escape \\x\"", 0, false, SAME },
	{ "\"\\u12\"", 0, false, SAME },
	{ "\"lone high \\uD800\"", 0, false, SAME },
	{ "\"high then other \\uD800\\u0041\"", 0, false, SAME },
	{ "\"lone low \\uDC00\"", 0, false, SAME },
	{ "'single'", 0, false, SAME },
	{ "[1]]", 0, false, SAME },
	/* cJSON's leniencies, refused */
	{ "01", 0, false, CJSON_LENIENT },
	{ "-01", 0, false, CJSON_LENIENT },
	{ "1.", 0, false, CJSON_LENIENT },
	{ "1.e5", 0, false, CJSON_LENIENT },
	{ "-.1", 0, false, CJSON_LENIENT },
	{ "\"raw\ttab\"", 0, false, CJSON_LENIENT },
	{ "\"raw\nnewline\"", 0, false, CJSON_LENIENT },
	{ "\"raw\x01\"", 0, false, CJSON_LENIENT },
	{ "\xef\xbb\xbf{}", 0, false, CJSON_LENIENT },
	{ "\v{}", 0, false, CJSON_LENIENT },
	{ "{}\x0c", 0, false, CJSON_LENIENT },
	{ "{}\0garbage", 10, false, SAME },
	{ "\"\\uZZZZ\"", 0, false, CJSON_LENIENT },
	{ "\"a\0b\"", 5, false, CJSON_LENIENT },
};

static bool cjson_accepts(const char *doc, size_t len)
{
	char *copy = malloc(len + 1);
	cJSON *j;

	if (!copy)
		return false;
	memcpy(copy, doc, len);
	copy[len] = '\0';
	j = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
	free(copy);
	cJSON_Delete(j);
	return j != NULL;
}

TEST(jsonscan_table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		size_t len = r->len ? r->len : strlen(r->doc);
		struct jsonscan_value root = { 0 };
		char why[128] = "";
		int got = jsonscan_parse(r->doc, len, &root, why, sizeof(why));
		bool cj = cjson_accepts(r->doc, len);

		if ((got == 0) != r->valid)
			unit_fail(__FILE__, __LINE__, "row %zu '%s': jsonscan %s (%s)", i, r->doc,
				  got == 0 ? "accepts" : "refuses", why);
		if (!r->valid)
			CHECK(got == -EBADMSG && !strncmp(why, "offset ", 7));
		bool want_cj = r->cj == SAME ? r->valid : r->cj == CJSON_LENIENT;
		if (cj != want_cj)
			unit_fail(__FILE__, __LINE__, "row %zu '%s': cJSON %s", i, r->doc,
				  cj ? "accepts" : "refuses");
	}
}

TEST(jsonscan_depth_limit)
{
	size_t n = JSONSCAN_DEPTH_MAX + 1;
	char *doc = malloc(2 * n);
	struct jsonscan_value v;
	char why[128];

	if (!doc)
		return;
	memset(doc, '[', n);
	memset(doc + n, ']', n);
	/* JSONSCAN_DEPTH_MAX levels: accepted, as cJSON does */
	CHECK_INT(jsonscan_parse(doc + 1, 2 * n - 2, &v, why, sizeof(why)), 0);
	CHECK(cjson_accepts(doc + 1, 2 * n - 2));
	CHECK_INT(v.type, JSONSCAN_ARRAY);
	CHECK_INT(v.len, 2 * n - 2);
	/* one more: refused by both */
	CHECK_INT(jsonscan_parse(doc, 2 * n, &v, why, sizeof(why)), -EBADMSG);
	CHECK(strstr(why, "nested too deep") != NULL);
	CHECK(!cjson_accepts(doc, 2 * n));
	free(doc);
}

/* Strings are checked 8 bytes at a time while no byte needs a look: each byte that does (a
 * control character, an escape, a quote, one of 0x80 and up that is not special) at each offset
 * of a long string, and at each length of its tail, is judged as cJSON judges it, but for a raw
 * control character, which cJSON lets through and jsonscan refuses; the root spans the text less
 * its surrounding whitespace. */
TEST(jsonscan_strings_word_at_a_time)
{
	static const char *const inserts[] = { "\x01",    "\x1f",     "\t",   "\\\"", "\\\\", "\\n",
					       "\\u00e9", "\xc3\xa9", "\x7f", "\\x",  "\"" };
	char doc[80];
	struct jsonscan_value v;
	char why[128];

	for (size_t k = 0; k < sizeof(inserts) / sizeof(inserts[0]); k++)
		for (size_t at = 0; at < 20; at++)
			for (size_t tail = 0; tail < 10; tail++) {
				int n = snprintf(doc, sizeof(doc), " \"%.*s%s%.*s\" ", (int)at,
						 "abcdefghijklmnopqrstuvwxyz", inserts[k],
						 (int)tail, "ABCDEFGHIJ");
				bool cj = cjson_accepts(doc, (size_t)n) &&
					  (unsigned char)inserts[k][0] >= 0x20;
				int got = jsonscan_parse(doc, (size_t)n, &v, why, sizeof(why));
				if ((got == 0) != cj)
					unit_fail(
					    __FILE__, __LINE__,
					    "insert %zu at %zu, tail %zu: jsonscan %s, want %s", k,
					    at, tail, got ? "refuses" : "accepts",
					    cj ? "accepts" : "refuses");
				if (got == 0) {
					CHECK_INT(v.type, JSONSCAN_STRING);
					CHECK(v.text == doc + 1);
					CHECK_INT(v.len, (size_t)n - 2);
				}
			}
}

TEST(jsonscan_why_names_the_offset)
{
	struct jsonscan_value v;
	char why[128], small[12];

	CHECK_INT(jsonscan_parse("{\"a\": \"x\ty\"}", 12, &v, why, sizeof(why)), -EBADMSG);
	CHECK_STR(why, "offset 8: raw control character in a string");
	CHECK_INT(jsonscan_parse("[1,]", 4, &v, small, sizeof(small)), -EBADMSG);
	CHECK_INT(strlen(small), sizeof(small) - 1);
	CHECK_INT(jsonscan_parse("[1,]", 4, &v, NULL, 0), -EBADMSG);
}

TEST(jsonscan_walks_members_and_items)
{
	const char *doc =
	    " { \"imageDetails\" : [ {\"imageDigest\":\"sha256:ab\", \"imageTags\":[\"a\","
	    "\"b\\u002dc\"], \"x\":{\"y\":[1,{\"z\":\"]}\"}]}}, 17 , \"s\" ], "
	    "\"n\\u0065xtToken\" : \"t\", \"num\": -1.5e2 } ";
	struct jsonscan_value root, details, item, k, v, tags, t;
	struct jsonscan_iter it, it2;
	char buf[32];
	size_t len;
	double d;
	int n_items = 0;

	CHECK_INT(jsonscan_parse(doc, strlen(doc), &root, NULL, 0), 0);
	CHECK_INT(root.type, JSONSCAN_OBJECT);
	CHECK(root.text[0] == '{' && root.text[root.len - 1] == '}');
	CHECK(jsonscan_member(&root, "imageDetails", &details));
	CHECK_INT(details.type, JSONSCAN_ARRAY);
	CHECK(!jsonscan_member(&root, "imagedetails", &v)); /* case-sensitive, unlike cJSON's */
	CHECK(!jsonscan_member(&details, "imageDetails", &v));
	CHECK(jsonscan_member(&root, "nextToken", &v)); /* a key with an escape */
	CHECK(jsonscan_string_is(&v, "t"));
	CHECK(jsonscan_member(&root, "num", &v));
	CHECK_INT(jsonscan_number(&v, &d), 0);
	CHECK(d == -150.0);
	CHECK_INT(jsonscan_string(&v, buf, sizeof(buf), NULL), -EINVAL);

	jsonscan_iter_init(&it, &details);
	while (jsonscan_next_item(&it, &item)) {
		n_items++;
		if (n_items == 1) {
			CHECK_INT(item.type, JSONSCAN_OBJECT);
			jsonscan_iter_init(&it2, &item);
			CHECK(jsonscan_next_member(&it2, &k, &v));
			CHECK(jsonscan_string_is(&k, "imageDigest"));
			CHECK(jsonscan_string_is(&v, "sha256:ab"));
			CHECK(jsonscan_next_member(&it2, &k, &tags));
			CHECK_INT(tags.type, JSONSCAN_ARRAY);
			CHECK(jsonscan_next_member(&it2, &k, &v));
			CHECK(jsonscan_string_is(&k, "x"));
			CHECK_INT(v.type, JSONSCAN_OBJECT);
			CHECK(v.text[v.len - 1] == '}');
			CHECK(!jsonscan_next_member(&it2, &k, &v));
			jsonscan_iter_init(&it2, &tags);
			CHECK(jsonscan_next_item(&it2, &t) && jsonscan_string_is(&t, "a"));
			CHECK(jsonscan_next_item(&it2, &t));
			CHECK_INT(jsonscan_string(&t, buf, sizeof(buf), &len), 0);
			CHECK_STR(buf, "b-c");
			CHECK_INT(len, 3);
			CHECK(jsonscan_string_is(&t, "b-c") && !jsonscan_string_is(&t, "b-"));
			CHECK(!jsonscan_string_is(&t, "b-cd"));
			CHECK(!jsonscan_next_item(&it2, &t));
		} else if (n_items == 2) {
			CHECK_INT(item.type, JSONSCAN_NUMBER);
			CHECK_INT(item.len, 2);
		} else {
			CHECK_INT(item.type, JSONSCAN_STRING);
			CHECK_INT(item.len, 3);
		}
	}
	CHECK_INT(n_items, 3);
	/* nothing to walk in a scalar, nor in empty containers */
	CHECK(jsonscan_member(&root, "num", &v));
	jsonscan_iter_init(&it, &v);
	CHECK(!jsonscan_next_item(&it, &item));
	CHECK_INT(jsonscan_parse("[ ]", 3, &root, NULL, 0), 0);
	jsonscan_iter_init(&it, &root);
	CHECK(!jsonscan_next_item(&it, &item));
	CHECK_INT(jsonscan_parse("{ }", 3, &root, NULL, 0), 0);
	jsonscan_iter_init(&it, &root);
	CHECK(!jsonscan_next_member(&it, &k, &v));
}

TEST(jsonscan_decodes_strings_within_bounds)
{
	const char *doc = "[\"\\u00e9\\uD83D\\uDE80\\n\", \"a\\u0000b\", \"abcd\", \"\"]";
	struct jsonscan_value root, v;
	struct jsonscan_iter it;
	char buf[16];
	size_t len = 99;

	CHECK_INT(jsonscan_parse(doc, strlen(doc), &root, NULL, 0), 0);
	jsonscan_iter_init(&it, &root);
	CHECK(jsonscan_next_item(&it, &v));
	CHECK_INT(jsonscan_string(&v, buf, sizeof(buf), &len), 0);
	CHECK_STR(buf, "\xc3\xa9\xf0\x9f\x9a\x80\n");
	CHECK_INT(len, 7);
	CHECK(jsonscan_string_is(&v, "\xc3\xa9\xf0\x9f\x9a\x80\n"));
	CHECK(jsonscan_next_item(&it, &v));
	CHECK_INT(jsonscan_string(&v, buf, sizeof(buf), &len), 0);
	CHECK_INT(len, 3); /* the NUL counted: a caller can tell */
	CHECK(!memcmp(buf, "a\0b", 4));
	CHECK(!jsonscan_string_is(&v, "a"));
	CHECK(jsonscan_next_item(&it, &v));
	CHECK_INT(jsonscan_string(&v, buf, 5, &len), 0);
	CHECK_STR(buf, "abcd");
	CHECK_INT(jsonscan_string(&v, buf, 4, &len), -ENOBUFS);
	CHECK_STR(buf, "");
	CHECK_INT(jsonscan_string(&v, buf, 0, &len), -ENOBUFS);
	CHECK(jsonscan_next_item(&it, &v));
	CHECK_INT(jsonscan_string(&v, buf, 1, &len), 0);
	CHECK_INT(len, 0);
	CHECK(jsonscan_string_is(&v, ""));
	CHECK(!jsonscan_next_item(&it, &v));
}

TEST(jsonscan_numbers)
{
	struct jsonscan_value v;
	double d = 0;
	const char *long_num = "1234567890123456789012345678901234567890123456789012345678901234";

	CHECK_INT(jsonscan_parse("1e999", 5, &v, NULL, 0), 0);
	CHECK_INT(jsonscan_number(&v, &d), 0);
	CHECK(isinf(d));
	CHECK_INT(jsonscan_parse(" 1717171717.25 ", 15, &v, NULL, 0), 0);
	CHECK_INT(v.len, 13);
	CHECK_INT(jsonscan_number(&v, &d), 0);
	CHECK(d == 1717171717.25);
	CHECK_INT(jsonscan_parse(long_num, strlen(long_num), &v, NULL, 0), 0);
	CHECK_INT(jsonscan_number(&v, &d), 0);
	CHECK(d == strtod(long_num, NULL));
}

TEST(jsonscan_items_and_their_members_in_one_walk)
{
	static const char *const names[] = { "a", "b" };
	const char *doc =
	    "[ {\"b\":[1,{\"a\":0}],\"a\":\"x\",\"a\":\"dup\"} , 7, {}, {\"c\":\"}\"} ,\"s\"]";
	struct jsonscan_value root, item, f[2], v;
	struct jsonscan_iter it;

	CHECK_INT(jsonscan_parse(doc, strlen(doc), &root, NULL, 0), 0);
	jsonscan_iter_init(&it, &root);
	CHECK(jsonscan_next_item_members(&it, names, 2, f, &item));
	CHECK_INT(item.type, JSONSCAN_OBJECT);
	CHECK(item.text[0] == '{' && item.text[item.len - 1] == '}');
	CHECK(jsonscan_string_is(&f[0], "x")); /* the first of a duplicate */
	CHECK_INT(f[1].type, JSONSCAN_ARRAY);
	CHECK(jsonscan_member(&item, "a", &v) && jsonscan_string_is(&v, "x"));
	CHECK(jsonscan_next_item_members(&it, names, 2, f, &item));
	CHECK(item.type == JSONSCAN_NUMBER && !f[0].type && !f[1].type);
	CHECK(jsonscan_next_item_members(&it, names, 2, f, &item));
	CHECK(item.type == JSONSCAN_OBJECT && item.len == 2 && !f[0].type);
	CHECK(jsonscan_next_item_members(&it, names, 2, f, &item));
	CHECK(item.type == JSONSCAN_OBJECT && item.len == 9 && !f[0].type && !f[1].type);
	CHECK(jsonscan_next_item_members(&it, names, 2, f, &item));
	CHECK_INT(item.type, JSONSCAN_STRING);
	CHECK(!jsonscan_next_item_members(&it, names, 2, f, &item));
	/* an object has no items */
	jsonscan_iter_init(&it, &f[0]);
	CHECK(!jsonscan_next_item_members(&it, names, 2, f, &item));
}

/* Walks a member's array (or object) found by jsonscan_member_iter() to its end, writing each
 * item's text (or each member's key and value) separated by '|'. */
static void walked(struct jsonscan_iter *it, char *out, size_t n)
{
	struct jsonscan_value k, v;
	size_t len = 0;

	out[0] = '\0';
	while (len < n &&
	       (it->object ? jsonscan_next_member(it, &k, &v) : jsonscan_next_item(it, &v)))
		len += (size_t)(it->object
				    ? snprintf(out + len, n - len, "%.*s=%.*s|", (int)k.len, k.text,
					       (int)v.len, v.text)
				    : snprintf(out + len, n - len, "%.*s|", (int)v.len, v.text));
}

TEST(jsonscan_member_iter_walks_a_member_once)
{
	static const struct {
		const char *doc, *name;
		bool found;
		const char *items; /* what the walk gives, as walked() writes it */
	} cases[] = {
		{ "{\"x\":[9],\"d\":[1, \"]\" ,[2,[3]] , {\"a\":\"}\"}],\"y\":[8]}", "d", true,
		  "1|\"]\"|[2,[3]]|{\"a\":\"}\"}|" },
		{ "{\"d\":[]}", "d", true, "" },
		{ "{\"d\" : [ ] , \"e\":1}", "d", true, "" },
		{ "{\"d\":{\"k\":[1],\"l\":{}}}", "d", true, "\"k\"=[1]|\"l\"={}|" },
		{ "{\"d\":[{\"a\":1}],\"d\":[2]}", "d", true, "{\"a\":1}|" }, /* the first */
		{ "{\"d\":\"s\",\"d\":[2]}", "d", false, "" }, /* the first is neither */
		{ "{\"e\":[1]}", "d", false, "" },
		{ "[{\"d\":[1]}]", "d", false, "" },      /* not an object */
		{ "{\"\\u0064\":[5]}", "d", true, "5|" }, /* the key decoded */
	};
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jsonscan_value root;
		struct jsonscan_iter it;
		CHECK_INT(jsonscan_parse(cases[i].doc, strlen(cases[i].doc), &root, NULL, 0), 0);
		bool found = jsonscan_member_iter(&root, cases[i].name, &it);
		walked(&it, out, sizeof(out));
		if (found != cases[i].found || strcmp(out, cases[i].items))
			unit_fail(__FILE__, __LINE__, "row %zu: found %d, walked '%s'", i, found,
				  out);
	}
	/* items with their members, then nothing more: not the members after the array */
	static const char *const names[] = { "a" };
	const char *doc =
	    "{\"d\":[{\"a\":\"1\"},7,{\"b\":2,\"a\":\"2\"}],\"a\":\"no\",\"z\":[{\"a\":\"3\"}]}";
	struct jsonscan_value root, f[1], item;
	struct jsonscan_iter it;
	int n = 0;
	CHECK_INT(jsonscan_parse(doc, strlen(doc), &root, NULL, 0), 0);
	CHECK(jsonscan_member_iter(&root, "d", &it));
	while (jsonscan_next_item_members(&it, names, 1, f, &item)) {
		n++;
		CHECK(n != 1 || jsonscan_string_is(&f[0], "1"));
		CHECK(n != 2 || (!f[0].type && item.type == JSONSCAN_NUMBER));
		CHECK(n != 3 || jsonscan_string_is(&f[0], "2"));
	}
	CHECK_INT(n, 3);
	CHECK(!jsonscan_next_item_members(&it, names, 1, f, &item)); /* stays at its end */
}

TEST(jsonscan_string_is_with_an_escape_first)
{
	/* A name is told apart by its first byte, unless that byte starts an escape: "\u0061bc"
	 * is "abc", "\"q" is "\"q", "\/" is "/"; a first byte that differs is never "equal". */
	const char *doc = "[\"\\u0061bc\", \"\\\"q\", \"\\/\", \"abc\", \"\"]";
	struct jsonscan_value root, v;
	struct jsonscan_iter it;

	CHECK_INT(jsonscan_parse(doc, strlen(doc), &root, NULL, 0), 0);
	jsonscan_iter_init(&it, &root);
	CHECK(jsonscan_next_item(&it, &v));
	CHECK(jsonscan_string_is(&v, "abc") && !jsonscan_string_is(&v, "bbc"));
	CHECK(!jsonscan_string_is(&v, "ab") && !jsonscan_string_is(&v, ""));
	CHECK(jsonscan_next_item(&it, &v));
	CHECK(jsonscan_string_is(&v, "\"q") && !jsonscan_string_is(&v, "q"));
	CHECK(jsonscan_next_item(&it, &v));
	CHECK(jsonscan_string_is(&v, "/") && !jsonscan_string_is(&v, "\\/"));
	CHECK(jsonscan_next_item(&it, &v));
	CHECK(jsonscan_string_is(&v, "abc") && !jsonscan_string_is(&v, "xbc"));
	CHECK(!jsonscan_string_is(&v, "abcd") && !jsonscan_string_is(&v, ""));
	CHECK(jsonscan_next_item(&it, &v));
	CHECK(jsonscan_string_is(&v, "") && !jsonscan_string_is(&v, "a"));
}

/* A walk over the cursor that takes no value: next() after next() (a reader that skips what it
 * does not want by not taking it). The cursor must still refuse a value missing where the
 * document needs one; it is refused at the next() that reaches it. */
static int walk_without_taking(const char *doc)
{
	struct jsonscan_cursor c;
	struct jsonscan_value key;
	int k;

	jsonscan_cursor_init(&c, doc, strlen(doc));
	if (!jsonscan_cursor_enter(&c, doc[0]))
		return -2;
	while ((k = jsonscan_cursor_next(&c, doc[0] == '{' ? &key : NULL)) == 1)
		;
	return k;
}

TEST(jsonscan_cursor_walks_checks_and_refuses)
{
	struct jsonscan_cursor c;
	struct jsonscan_value key, v;
	const char *doc = " {\"a\": [1, {\"b\": \"x\"}], \"c\": true} ";

	jsonscan_cursor_init(&c, doc, strlen(doc));
	CHECK(jsonscan_cursor_enter(&c, '{'));
	CHECK(jsonscan_cursor_next(&c, &key) == 1 && jsonscan_string_is(&key, "a"));
	CHECK(jsonscan_cursor_enter(&c, '['));
	CHECK(jsonscan_cursor_next(&c, NULL) == 1 && jsonscan_cursor_value(&c, &v));
	CHECK(v.type == JSONSCAN_NUMBER && v.len == 1 && v.text[0] == '1');
	CHECK(jsonscan_cursor_next(&c, NULL) == 1 && jsonscan_cursor_value(&c, &v));
	CHECK(v.type == JSONSCAN_OBJECT && v.len == strlen("{\"b\": \"x\"}"));
	CHECK(jsonscan_cursor_next(&c, NULL) == 0);
	CHECK(!jsonscan_cursor_end(&c)); /* still in the root */
	CHECK(jsonscan_cursor_next(&c, &key) == 1 && jsonscan_string_is(&key, "c"));
	CHECK(jsonscan_cursor_next(&c, NULL) == -1); /* an item asked of an object */
	CHECK(jsonscan_cursor_value(&c, &v) && v.type == JSONSCAN_TRUE);
	CHECK(jsonscan_cursor_next(&c, &key) == 0);
	CHECK(jsonscan_cursor_end(&c));

	/* refused where a value is missing, even by a reader that takes none */
	CHECK(walk_without_taking("[1,]") == -1);
	CHECK(walk_without_taking("[,1]") == -1);
	CHECK(walk_without_taking("{\"a\":}") == -1);
	CHECK(walk_without_taking("{\"a\":,\"b\":1}") == -1);
	CHECK(walk_without_taking("[]") == 0);
	CHECK(walk_without_taking("{}") == 0);

	/* a value taken whole is checked whole, with the containers entered counted */
	doc = "[\"\\x\"]";
	jsonscan_cursor_init(&c, doc, strlen(doc));
	CHECK(jsonscan_cursor_enter(&c, '[') && jsonscan_cursor_next(&c, NULL) == 1);
	CHECK(!jsonscan_cursor_value(&c, &v));
	/* JSONSCAN_DEPTH_MAX open containers pass, one more does not, counted from the root */
	static char deep[2 * JSONSCAN_DEPTH_MAX + 4];
	struct jsonscan_value root;
	for (int levels = JSONSCAN_DEPTH_MAX; levels <= JSONSCAN_DEPTH_MAX + 1; levels++) {
		memset(deep, '[', (size_t)levels);
		deep[levels] = '1';
		memset(deep + levels + 1, ']', (size_t)levels);
		deep[2 * levels + 1] = '\0';
		bool ok = levels <= JSONSCAN_DEPTH_MAX;
		CHECK((jsonscan_parse(deep, strlen(deep), &root, NULL, 0) == 0) == ok);
		jsonscan_cursor_init(&c, deep, strlen(deep));
		CHECK(jsonscan_cursor_enter(&c, '[') && jsonscan_cursor_next(&c, NULL) == 1);
		CHECK(jsonscan_cursor_value(&c, &v) == ok);
	}
}
