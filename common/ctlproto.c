/* SPDX-License-Identifier: MIT */
/*
 * The control protocol, version 1: a request line checked whole before anything acts on it (the
 * types of v, cmd, id and args, their bounds, no duplicate and no unknown member), the reply lines
 * built from cJSON, and the helpers with which handlers check their args. No I/O, no logging.
 */
#include "ctlproto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

/* Text from outside, shown in a message: escaped and cut. */
#define SHOWN_MAX 64

static void set_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* A JSON value shown in a message: its serialised text, escaped and cut. */
static const char *show_json(const cJSON *v, char *out, size_t n)
{
	char *text = cJSON_PrintUnformatted(v);

	escape_bounded(text ? text : "(a value)", SHOWN_MAX, out, n, ESCAPE_SQUOTE);
	free(text);
	return out;
}

static const char *show_str(const char *s, char *out, size_t n)
{
	return escape_bounded(s, SHOWN_MAX, out, n, ESCAPE_SQUOTE);
}

/* The first member of obj that another member's name repeats, or NULL. */
static const cJSON *duplicate_member(const cJSON *obj)
{
	const cJSON *a, *b;

	cJSON_ArrayForEach(a, obj)
	{
		for (b = a->next; b; b = b->next)
			if (a->string && b->string && !strcmp(a->string, b->string))
				return b;
	}
	return NULL;
}

/*
 * Whether s[0..len) is UTF-8 (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF).
 * Returns the offset of the first bad byte, or len when every byte is good.
 */
static size_t utf8_bad_at(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = u[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (len - i < n)
			return i;
		for (size_t k = 1; k < n; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (u[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += n;
	}
	return len;
}

static bool command_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return false;
	return true;
}

void ctlproto_request_done(struct ctlproto_request *req)
{
	if (!req)
		return;
	cJSON_Delete(req->root);
	memset(req, 0, sizeof(*req));
}

int ctlproto_parse_request(const char *line, size_t len, struct ctlproto_request *ret,
			   const char **ret_code, char *why, size_t why_len)
{
	static const char *const members[] = { "v", "id", "cmd", "args" };
	struct ctlproto_request req = { 0 };
	const char *end = NULL;
	char shown[SHOWN_MAX * 4 + 8];
	const cJSON *m;

	memset(ret, 0, sizeof(*ret));
	*ret_code = "bad-request";
	if (len > CTLPROTO_MAX_LINE) {
		*ret_code = "request-too-large";
		set_why(why, why_len, "the request is longer than %d bytes", CTLPROTO_MAX_LINE);
		return -EMSGSIZE;
	}
	if (memchr(line, '\0', len)) {
		set_why(why, why_len, "the request holds a NUL byte");
		return -EINVAL;
	}
	/* The protocol is UTF-8: bytes that are not would reach state.json, the journal and
	 * every reader's status reply as they came. */
	size_t bad = utf8_bad_at(line, len);
	if (bad < len) {
		set_why(why, why_len, "the request is not UTF-8 (at byte %zu)", bad + 1);
		return -EINVAL;
	}
	req.root = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!req.root) {
		size_t at = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
		set_why(why, why_len, "the request is not JSON (at byte %zu)", at + 1);
		return -EINVAL;
	}
	for (; end && end < line + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\r') {
			set_why(why, why_len,
				"the request has text after its JSON object (at byte %zu)",
				(size_t)(end - line) + 1);
			goto bad;
		}
	if (!cJSON_IsObject(req.root)) {
		set_why(why, why_len, "the request is %s, not a JSON object",
			show_json(req.root, shown, sizeof(shown)));
		goto bad;
	}
	if ((m = duplicate_member(req.root))) {
		set_why(why, why_len, "the request has member '%s' twice",
			show_str(m->string, shown, sizeof(shown)));
		goto bad;
	}
	/* id first, so that the error replies below can echo it. */
	m = cJSON_GetObjectItemCaseSensitive(req.root, "id");
	if (m) {
		char *text = cJSON_PrintUnformatted(m);
		size_t n = text ? strlen(text) : SIZE_MAX;
		free(text);
		if (n > CTLPROTO_MAX_ID) {
			set_why(why, why_len, "the request's id is longer than %d bytes",
				CTLPROTO_MAX_ID);
			goto bad;
		}
		ret->id = m;
	}
	cJSON_ArrayForEach(m, req.root)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
			known = known || !strcmp(m->string, members[i]);
		if (!known) {
			set_why(
			    why, why_len,
			    "the request has an unknown member '%s' (allowed: v, id, cmd, args)",
			    show_str(m->string, shown, sizeof(shown)));
			goto bad;
		}
	}
	m = cJSON_GetObjectItemCaseSensitive(req.root, "v");
	if (!m) {
		set_why(why, why_len, "the request has no protocol version \"v\"");
		goto bad;
	}
	if (!cJSON_IsNumber(m)) {
		set_why(why, why_len, "the request's \"v\" is %s, not a number",
			show_json(m, shown, sizeof(shown)));
		goto bad;
	}
	if (m->valuedouble != CTLPROTO_VERSION) {
		*ret_code = "unsupported-version";
		set_why(why, why_len, "protocol version %s is not supported (supported: %d)",
			show_json(m, shown, sizeof(shown)), CTLPROTO_VERSION);
		goto bad;
	}
	m = cJSON_GetObjectItemCaseSensitive(req.root, "cmd");
	if (!m || !cJSON_IsString(m) || !command_name_valid(m->valuestring)) {
		if (!m)
			set_why(why, why_len, "the request has no \"cmd\"");
		else
			set_why(why, why_len,
				"the request's \"cmd\" %s is not a command name (1 to 32 of a-z "
				"and -)",
				show_json(m, shown, sizeof(shown)));
		goto bad;
	}
	req.cmd = m->valuestring;
	m = cJSON_GetObjectItemCaseSensitive(req.root, "args");
	if (!m) {
		cJSON *args = cJSON_AddObjectToObject(req.root, "args");
		if (!args) {
			set_why(why, why_len, "out of memory");
			goto bad;
		}
		m = args;
	} else if (!cJSON_IsObject(m)) {
		set_why(why, why_len, "the request's \"args\" is %s, not an object",
			show_json(m, shown, sizeof(shown)));
		goto bad;
	} else if (duplicate_member(m)) {
		set_why(why, why_len, "the request's args have member '%s' twice",
			show_str(duplicate_member(m)->string, shown, sizeof(shown)));
		goto bad;
	}
	req.args = m;
	req.id = ret->id;
	*ret = req;
	return 0;
bad:
	/* The tree stays with ret so that an error reply can echo a valid id. */
	ret->root = req.root;
	return -EINVAL;
}

int ctlproto_check_keys(const cJSON *args, const char *const *allowed, char *why, size_t why_len)
{
	const cJSON *m;
	char shown[SHOWN_MAX * 4 + 8];

	cJSON_ArrayForEach(m, args)
	{
		bool known = false;
		for (size_t i = 0; allowed && allowed[i] && !known; i++)
			known = !strcmp(m->string, allowed[i]);
		if (known)
			continue;
		char list[256] = "";
		size_t off = 0;
		for (size_t i = 0; allowed && allowed[i]; i++) {
			int n = snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
					 allowed[i]);
			if (n < 0 || (size_t)n >= sizeof(list) - off)
				break;
			off += (size_t)n;
		}
		set_why(why, why_len, "unknown argument '%s' (allowed: %s)",
			show_str(m->string, shown, sizeof(shown)), *list ? list : "none");
		return -EINVAL;
	}
	return 0;
}

static const cJSON *arg(const cJSON *args, const char *key)
{
	return args ? cJSON_GetObjectItemCaseSensitive(args, key) : NULL;
}

int ctlproto_get_string(const cJSON *args, const char *key, bool required, size_t max_len,
			const char **ret, char *why, size_t why_len)
{
	const cJSON *v = arg(args, key);
	char shown[SHOWN_MAX * 4 + 8];

	if (!v) {
		if (required) {
			set_why(why, why_len, "argument '%s' is missing", key);
			return -EINVAL;
		}
		*ret = NULL;
		return 0;
	}
	if (!cJSON_IsString(v)) {
		set_why(why, why_len, "argument '%s' is %s, not a string", key,
			show_json(v, shown, sizeof(shown)));
		return -EINVAL;
	}
	size_t n = strlen(v->valuestring);
	if (n > max_len) {
		set_why(why, why_len, "argument '%s' is longer than %zu bytes", key, max_len);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v->valuestring[i];
		if (ch < 0x20 || ch == 0x7f) {
			set_why(why, why_len, "argument '%s' holds a control character: %s", key,
				show_str(v->valuestring, shown, sizeof(shown)));
			return -EINVAL;
		}
	}
	*ret = v->valuestring;
	return 0;
}

int ctlproto_get_number(const cJSON *args, const char *key, bool required, double min, double max,
			double *ret, char *why, size_t why_len)
{
	const cJSON *v = arg(args, key);
	char shown[SHOWN_MAX * 4 + 8];

	if (!v) {
		if (required) {
			set_why(why, why_len, "argument '%s' is missing", key);
			return -EINVAL;
		}
		return 0;
	}
	if (!cJSON_IsNumber(v)) {
		set_why(why, why_len, "argument '%s' is %s, not a number", key,
			show_json(v, shown, sizeof(shown)));
		return -EINVAL;
	}
	if (!(v->valuedouble >= min && v->valuedouble <= max)) { /* NaN too */
		set_why(why, why_len, "argument '%s' is %s, not from %g to %g", key,
			show_json(v, shown, sizeof(shown)), min, max);
		return -EINVAL;
	}
	*ret = v->valuedouble;
	return 0;
}

int ctlproto_get_bool(const cJSON *args, const char *key, bool *ret, char *why, size_t why_len)
{
	const cJSON *v = arg(args, key);
	char shown[SHOWN_MAX * 4 + 8];

	if (!v)
		return 0;
	if (!cJSON_IsBool(v)) {
		set_why(why, why_len, "argument '%s' is %s, not true or false", key,
			show_json(v, shown, sizeof(shown)));
		return -EINVAL;
	}
	*ret = cJSON_IsTrue(v);
	return 0;
}

/* {"v": 1, "id": id or null, ...}: a reply's head. */
static cJSON *reply_head(const cJSON *id, bool ok)
{
	cJSON *r = cJSON_CreateObject();

	if (!r || !cJSON_AddNumberToObject(r, "v", CTLPROTO_VERSION))
		goto fail;
	cJSON *idc = id ? cJSON_Duplicate(id, true) : cJSON_CreateNull();
	if (!idc || !cJSON_AddItemToObject(r, "id", idc)) {
		cJSON_Delete(idc);
		goto fail;
	}
	if (!cJSON_AddBoolToObject(r, "ok", ok))
		goto fail;
	return r;
fail:
	cJSON_Delete(r);
	return NULL;
}

static char *print_line(cJSON *r)
{
	char *text = r ? cJSON_PrintUnformatted(r) : NULL;

	cJSON_Delete(r);
	return text;
}

char *ctlproto_reply_ok(const cJSON *id, cJSON *result)
{
	cJSON *r = reply_head(id, true);

	if (!result)
		result = cJSON_CreateObject();
	if (!r || !result || !cJSON_AddItemToObject(r, "result", result)) {
		cJSON_Delete(result);
		cJSON_Delete(r);
		return NULL;
	}
	return print_line(r);
}

char *ctlproto_reply_error(const cJSON *id, const char *code, int exit, cJSON *extra,
			   const char *message)
{
	cJSON *r = reply_head(id, false);
	cJSON *e = cJSON_CreateObject();

	if (!r || !e || !cJSON_AddItemToObject(r, "error", e)) {
		cJSON_Delete(e);
		goto fail;
	}
	if (!cJSON_AddStringToObject(e, "code", code) ||
	    !cJSON_AddStringToObject(e, "message", message ? message : "") ||
	    !cJSON_AddNumberToObject(e, "exit", exit))
		goto fail;
	if (extra) {
		cJSON *m = extra->child;
		while (m) {
			cJSON *next = m->next;
			cJSON *item = cJSON_DetachItemViaPointer(extra, m);
			if (cJSON_GetObjectItemCaseSensitive(e, item->string))
				cJSON_Delete(item); /* code, message and exit stay the server's */
			else
				cJSON_AddItemToObject(e, item->string, item);
			m = next;
		}
		cJSON_Delete(extra);
	}
	return print_line(r);
fail:
	cJSON_Delete(extra);
	cJSON_Delete(r);
	return NULL;
}

char *ctlproto_request_line(const char *cmd, cJSON *args)
{
	cJSON *r = cJSON_CreateObject();

	if (!r || !cJSON_AddNumberToObject(r, "v", CTLPROTO_VERSION) ||
	    !cJSON_AddStringToObject(r, "cmd", cmd)) {
		cJSON_Delete(args);
		cJSON_Delete(r);
		return NULL;
	}
	if (args && !cJSON_AddItemToObject(r, "args", args)) {
		cJSON_Delete(args);
		cJSON_Delete(r);
		return NULL;
	}
	return print_line(r);
}

int ctlproto_parse_reply(const char *line, size_t len, cJSON **ret_root, const cJSON **ret_result,
			 const cJSON **ret_error, char *why, size_t why_len)
{
	const char *end = NULL;
	const cJSON *v, *ok, *x;
	cJSON *root;

	if (len > CTLPROTO_MAX_REPLY) {
		set_why(why, why_len, "the reply is longer than %d bytes", CTLPROTO_MAX_REPLY);
		return -EPROTO;
	}
	if (memchr(line, '\0', len)) {
		set_why(why, why_len, "the reply holds a NUL byte");
		return -EPROTO;
	}
	root = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!root) {
		set_why(why, why_len, "the reply is not JSON");
		return -EPROTO;
	}
	for (; end && end < line + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\r') {
			set_why(why, why_len, "the reply has text after its JSON object");
			goto bad;
		}
	if (!cJSON_IsObject(root)) {
		set_why(why, why_len, "the reply is not a JSON object");
		goto bad;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "v");
	if (!cJSON_IsNumber(v) || v->valuedouble != CTLPROTO_VERSION) {
		set_why(why, why_len, "the reply is not of protocol version %d", CTLPROTO_VERSION);
		goto bad;
	}
	ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
	if (!cJSON_IsBool(ok)) {
		set_why(why, why_len, "the reply has no \"ok\" true or false");
		goto bad;
	}
	if (cJSON_IsTrue(ok)) {
		x = cJSON_GetObjectItemCaseSensitive(root, "result");
		if (!cJSON_IsObject(x)) {
			set_why(why, why_len, "the reply has no \"result\" object");
			goto bad;
		}
		*ret_root = root;
		*ret_result = x;
		return 1;
	}
	x = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(x, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(x, "message");
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(x, "exit");
	if (!cJSON_IsObject(x) || !cJSON_IsString(code) || !cJSON_IsString(msg) ||
	    !cJSON_IsNumber(ex) || !(ex->valuedouble >= 0 && ex->valuedouble <= 255) ||
	    ex->valuedouble != (double)(int)ex->valuedouble) {
		set_why(why, why_len,
			"the reply's \"error\" is not an object with code, message and exit");
		goto bad;
	}
	*ret_root = root;
	*ret_error = x;
	return 0;
bad:
	cJSON_Delete(root);
	return -EPROTO;
}
