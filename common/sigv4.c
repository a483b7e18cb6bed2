/* SPDX-License-Identifier: MIT */
/*
 * SigV4: canonical request, string to sign, derived keys, Authorization.
 * The algorithm is the one in AWS's IAM user guide ("Create a signed AWS API
 * request"); the tests run it against the AWS SigV4 test suite.
 */
#include "sigv4.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secmem.h"

#define SIGV4_PART_MAX  (1024 * 1024) /* bound on any text we build */
#define KEY_CACHE_SLOTS 8

struct cached_key {
	char access_key_id[129];
	char date[9];
	char region[64];
	char service[64];
	uint8_t secret_digest[CRYPTO_SHA256_LEN]; /* tells a rotated secret apart */
	uint8_t key[CRYPTO_SHA256_LEN];
	unsigned long used;
	bool valid;
};

struct sigv4_signer {
	struct cached_key cache[KEY_CACHE_SLOTS];
	unsigned long clock;
};

struct sigv4_signer *sigv4_signer_new(void)
{
	/* The cache holds derived signing keys: in the secret arena, out of core dumps. */
	return secmem_alloc(sizeof(struct sigv4_signer));
}

void sigv4_signer_free(struct sigv4_signer *s)
{
	if (!s)
		return;
	secmem_free(s);
}

void sigv4_result_init(struct sigv4_result *r)
{
	memset(r, 0, sizeof(*r));
	/* The canonical request holds the session token; the rest, the signature. */
	strbuf_init_secret(&r->authorization, SIGV4_PART_MAX);
	strbuf_init_secret(&r->canonical_request, SIGV4_PART_MAX);
	strbuf_init_secret(&r->string_to_sign, SIGV4_PART_MAX);
}

void sigv4_result_done(struct sigv4_result *r)
{
	if (!r)
		return;
	strbuf_done(&r->authorization);
	strbuf_done(&r->canonical_request);
	strbuf_done(&r->string_to_sign);
	crypto_wipe(r->signature, sizeof(r->signature));
}

void sigv4_result_clear(struct sigv4_result *r)
{
	strbuf_reset(&r->authorization);
	strbuf_reset(&r->canonical_request);
	strbuf_reset(&r->string_to_sign);
	crypto_wipe(r->signature, sizeof(r->signature));
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int sigv4_uri_encode(struct strbuf *out, const char *src, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		int r;

		if (unreserved(c) || (keep_slash && c == '/')) {
			r = strbuf_putc(out, (char)c);
		} else {
			char enc[3] = { '%', hex[c >> 4], hex[c & 15] };
			r = strbuf_append(out, enc, 3);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX sequences of src[0..len) into out (a malformed % stays as is). */
static int uri_decode(struct strbuf *out, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int r;

		if (src[i] == '%' && i + 2 < len && hexval(src[i + 1]) >= 0 &&
		    hexval(src[i + 2]) >= 0) {
			r = strbuf_putc(out, (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2])));
			i += 2;
		} else {
			r = strbuf_putc(out, src[i]);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Appends the canonical URI of path: normalized when asked, then encoded. */
static int canonical_uri(struct strbuf *out, const char *path, bool normalize)
{
	const char *segs[256];
	size_t lens[256], n = 0;
	size_t plen = strlen(path);
	bool trailing;
	int r;

	if (!*path)
		return strbuf_putc(out, '/');
	if (!normalize)
		return sigv4_uri_encode(out, path, plen, true);

	/* Split on '/', dropping empty and "." segments and resolving "..". */
	for (const char *p = path; *p;) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == 0 || (l == 1 && p[0] == '.')) {
			/* nothing */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (n > 0)
				n--;
		} else {
			if (n == sizeof(segs) / sizeof(segs[0]))
				return -ENOBUFS;
			segs[n] = p;
			lens[n] = l;
			n++;
		}
		p += l;
		if (*p == '/')
			p++;
	}
	trailing = plen > 0 && path[plen - 1] == '/';
	if (n == 0)
		return strbuf_putc(out, '/');
	for (size_t i = 0; i < n; i++) {
		if ((r = strbuf_putc(out, '/')) < 0 ||
		    (r = sigv4_uri_encode(out, segs[i], lens[i], false)) < 0)
			return r;
	}
	return trailing ? strbuf_putc(out, '/') : 0;
}

struct qparam {
	char *key; /* encoded */
	char *value;
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : strcmp(x->value, y->value);
}

/* Decodes then re-encodes src[0..len) into a fresh string in *ret. */
static int reencode(const char *src, size_t len, char **ret)
{
	struct strbuf raw, enc;
	int r;

	strbuf_init(&raw, SIGV4_PART_MAX);
	strbuf_init(&enc, SIGV4_PART_MAX);
	r = uri_decode(&raw, src, len);
	if (r >= 0)
		r = sigv4_uri_encode(&enc, raw.buf ? raw.buf : "", raw.len, false);
	strbuf_done(&raw);
	if (r < 0) {
		strbuf_done(&enc);
		return r;
	}
	*ret = strbuf_steal(&enc);
	return *ret ? 0 : -ENOMEM;
}

static int canonical_query(struct strbuf *out, const char *query)
{
	struct qparam *params = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (!query || !*query)
		return 0;
	for (const char *p = query; *p;) {
		const char *amp = strchr(p, '&');
		size_t l = amp ? (size_t)(amp - p) : strlen(p);

		if (l > 0) {
			const char *eq = memchr(p, '=', l);
			size_t kl = eq ? (size_t)(eq - p) : l;

			if (n == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct qparam *np = realloc(params, nc * sizeof(*np));
				if (!np) {
					r = -ENOMEM;
					goto out;
				}
				params = np;
				cap = nc;
			}
			params[n].key = params[n].value = NULL;
			n++;
			if ((r = reencode(p, kl, &params[n - 1].key)) < 0 ||
			    (r = reencode(eq ? eq + 1 : p + l, eq ? l - kl - 1 : 0,
					  &params[n - 1].value)) < 0)
				goto out;
		}
		p += l;
		if (*p == '&')
			p++;
	}
	qsort(params, n, sizeof(*params), qparam_cmp);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = strbuf_printf(out, "%s%s=%s", i ? "&" : "", params[i].key, params[i].value);
out:
	for (size_t i = 0; i < n; i++) {
		free(params[i].key);
		free(params[i].value);
	}
	free(params);
	return r;
}

struct hdr {
	const char *name; /* as the caller wrote it */
	const char *value;
	size_t order;
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* strcmp() of the two names in lower case (ASCII: valid_name() allows nothing else). */
static int name_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)lower(*a), y = (unsigned char)lower(*b);

		if (x != y || !x)
			return x - y;
	}
}

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int r = name_cmp(x->name, y->name);

	return r ? r : (x->order < y->order ? -1 : x->order > y->order);
}

/* Appends value with leading/trailing white space trimmed and inner runs folded to one space. */
static int fold_value(struct strbuf *out, const char *v)
{
	bool space = false, any = false;
	const char *run = v; /* bytes not yet appended start here */
	int r;

	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (!space && any && (r = strbuf_append(out, run, (size_t)(v - run))) < 0)
				return r;
			space = any;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
		if (space) {
			if ((r = strbuf_putc(out, ' ')) < 0)
				return r;
			space = false;
			run = v;
		} else if (!any) {
			run = v;
		}
		any = true;
	}
	/* a run of white space at the end was never appended; the text before it was */
	if (any && !space && (r = strbuf_append(out, run, (size_t)(v - run))) < 0)
		return r;
	return 0;
}

static bool valid_name(const char *n)
{
	if (!*n)
		return false;
	for (; *n; n++)
		if ((unsigned char)*n <= ' ' || *n == ':' || (unsigned char)*n >= 0x7f)
			return false;
	return true;
}

/* Appends name in lower case. */
static int put_lower(struct strbuf *out, const char *name)
{
	size_t n = strlen(name), at = out->len;
	int r = strbuf_append(out, name, n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		out->buf[at + i] = lower(out->buf[at + i]);
	return 0;
}

#define HDR_STACK 16 /* headers sorted without an allocation */

/*
 * Builds "name:value\n" lines (sorted, repeats joined by ',') into canon and appends "a;b;c" to
 * signed_names, from the caller's headers plus ours.
 */
static int canonical_headers(struct strbuf *canon, struct strbuf *signed_names,
			     const struct sigv4_request *r, const struct sigv4_header *extra,
			     size_t n_extra)
{
	size_t n = r->n_headers + n_extra;
	struct hdr stack[HDR_STACK];
	struct hdr *h = n <= HDR_STACK ? stack : calloc(n, sizeof(*h));
	size_t names_at = signed_names->len;
	bool host = false;
	int ret = 0;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct sigv4_header *src =
		    i < r->n_headers ? &r->headers[i] : &extra[i - r->n_headers];
		if (!src->name || !src->value || !valid_name(src->name)) {
			ret = -EINVAL;
			goto out;
		}
		if (i < r->n_headers &&
		    (!name_cmp(src->name, "x-amz-date") || !name_cmp(src->name, "authorization"))) {
			ret = -EINVAL; /* ours to set */
			goto out;
		}
		if (!name_cmp(src->name, "host"))
			host = true;
		h[i] = (struct hdr){ src->name, src->value, i };
	}
	if (!host) {
		ret = -EINVAL;
		goto out;
	}
	qsort(h, n, sizeof(*h), hdr_cmp);
	for (size_t i = 0; i < n; i++) {
		bool repeat = i > 0 && !name_cmp(h[i].name, h[i - 1].name);

		if (repeat) {
			ret = strbuf_putc(canon, ',');
		} else {
			if (i > 0 && (ret = strbuf_putc(canon, '\n')) < 0)
				goto out;
			if ((ret = put_lower(canon, h[i].name)) < 0 ||
			    (ret = strbuf_putc(canon, ':')) < 0)
				goto out;
			if (signed_names->len > names_at &&
			    (ret = strbuf_putc(signed_names, ';')) < 0)
				goto out;
			ret = put_lower(signed_names, h[i].name);
		}
		if (ret < 0 || (ret = fold_value(canon, h[i].value)) < 0)
			goto out;
	}
	ret = strbuf_putc(canon, '\n');
out:
	if (h != stack)
		free(h);
	return ret;
}

static int derive_key(struct sigv4_signer *s, const struct sigv4_credentials *c, const char *date,
		      const char *region, const char *service, uint8_t out[CRYPTO_SHA256_LEN])
{
	uint8_t digest[CRYPTO_SHA256_LEN], k[CRYPTO_SHA256_LEN];
	struct cached_key *slot = NULL;
	size_t klen;
	char *secret;
	int r;

	if ((r = crypto_sha256(c->secret_access_key, strlen(c->secret_access_key), digest)) < 0)
		return r;
	for (size_t i = 0; i < KEY_CACHE_SLOTS; i++) {
		struct cached_key *e = &s->cache[i];

		if (e->valid && !strcmp(e->access_key_id, c->access_key_id) &&
		    !strcmp(e->date, date) && !strcmp(e->region, region) &&
		    !strcmp(e->service, service) &&
		    !memcmp(e->secret_digest, digest, sizeof(digest))) {
			e->used = ++s->clock;
			memcpy(out, e->key, CRYPTO_SHA256_LEN);
			return 0;
		}
	}

	/* kDate = HMAC("AWS4" + secret, date), then region, service, "aws4_request". */
	klen = 4 + strlen(c->secret_access_key);
	secret = secmem_alloc(klen + 1);
	if (!secret)
		return -ENOMEM;
	snprintf(secret, klen + 1, "AWS4%s", c->secret_access_key);
	r = crypto_hmac_sha256(secret, klen, date, strlen(date), k);
	secmem_free(secret);
	if (r < 0 || (r = crypto_hmac_sha256(k, sizeof(k), region, strlen(region), k)) < 0 ||
	    (r = crypto_hmac_sha256(k, sizeof(k), service, strlen(service), k)) < 0 ||
	    (r = crypto_hmac_sha256(k, sizeof(k), "aws4_request", 12, k)) < 0) {
		crypto_wipe(k, sizeof(k));
		return r;
	}
	memcpy(out, k, sizeof(k));

	if (strlen(c->access_key_id) < sizeof(slot->access_key_id) &&
	    strlen(region) < sizeof(slot->region) && strlen(service) < sizeof(slot->service)) {
		/* An empty slot, else the least recently used one. */
		slot = &s->cache[0];
		for (size_t i = 0; i < KEY_CACHE_SLOTS && slot->valid; i++)
			if (!s->cache[i].valid || s->cache[i].used < slot->used)
				slot = &s->cache[i];
		snprintf(slot->access_key_id, sizeof(slot->access_key_id), "%s", c->access_key_id);
		snprintf(slot->date, sizeof(slot->date), "%s", date);
		snprintf(slot->region, sizeof(slot->region), "%s", region);
		snprintf(slot->service, sizeof(slot->service), "%s", service);
		memcpy(slot->secret_digest, digest, sizeof(digest));
		memcpy(slot->key, k, sizeof(k));
		slot->used = ++s->clock;
		slot->valid = true;
	}
	crypto_wipe(k, sizeof(k));
	return 0;
}

/*
 * when as "YYYYMMDDTHHMMSSZ" (UTC) into out (SIGV4_DATE_LEN bytes): the civil date of a day count
 * by whole arithmetic (March-based years of 400-year eras), not gmtime_r() and strftime(), which
 * take the time zone lock and parse a format on every request. -ERANGE outside years 1-9999.
 */
static int amz_date(time_t when, char out[SIGV4_DATE_LEN])
{
	int64_t days = (int64_t)when / 86400, secs = (int64_t)when % 86400;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468; /* from 0000-03-01 */
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	int64_t doe = days - era * 146097;                                   /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11], March 0 */
	int64_t day = doy - (153 * mp + 2) / 5 + 1;
	int64_t month = mp < 10 ? mp + 3 : mp - 9;
	int64_t year = yoe + era * 400 + (month <= 2);
	int64_t fields[6] = { year, month, day, secs / 3600, secs / 60 % 60, secs % 60 };
	static const int widths[6] = { 4, 2, 2, 2, 2, 2 };
	char *p = out;

	if (year < 1 || year > 9999)
		return -ERANGE;
	for (int f = 0; f < 6; f++) {
		if (f == 3)
			*p++ = 'T';
		for (int i = widths[f] - 1; i >= 0; i--, fields[f] /= 10)
			p[i] = (char)('0' + fields[f] % 10);
		p += widths[f];
	}
	*p++ = 'Z';
	*p = '\0';
	return 0;
}

int sigv4_sign(struct sigv4_signer *s, const struct sigv4_request *r,
	       const struct sigv4_credentials *c, const char *region, const char *service,
	       time_t when, struct sigv4_result *ret)
{
	struct sigv4_header extra[3];
	size_t n_extra = 0, names_at, names_len;
	char date[9], creq_hash[CRYPTO_SHA256_HEX];
	uint8_t key[CRYPTO_SHA256_LEN], sig[CRYPTO_SHA256_LEN];
	struct strbuf *cr = &ret->canonical_request, *sts = &ret->string_to_sign,
		      *authz = &ret->authorization;
	int err;

	if (!c || !c->access_key_id || !c->secret_access_key || !*c->access_key_id || !region ||
	    !*region || !service || !*service || !r->method || !r->path)
		return -EINVAL;
	if (amz_date(when, ret->amz_date) < 0)
		return -EINVAL;
	memcpy(date, ret->amz_date, 8);
	date[8] = '\0';
	strbuf_reset(authz);
	strbuf_reset(cr);
	strbuf_reset(sts);

	if ((err = crypto_sha256_hex(r->body ? r->body : "", r->body_len, ret->payload_hash)) < 0)
		return err;
	extra[n_extra++] = (struct sigv4_header){ "x-amz-date", ret->amz_date };
	if (c->session_token)
		extra[n_extra++] =
		    (struct sigv4_header){ "x-amz-security-token", c->session_token };
	if (r->sign_payload_header)
		extra[n_extra++] =
		    (struct sigv4_header){ "x-amz-content-sha256", ret->payload_hash };

	/* The scope, "date/region/service/aws4_request", is written once into the Authorization
	 * value, and the signed header names after it, then copied from there. */
	size_t scope_at, scope_len;
	if ((err = strbuf_puts(authz, "AWS4-HMAC-SHA256 Credential=")) < 0 ||
	    (err = strbuf_puts(authz, c->access_key_id)) < 0 || (err = strbuf_putc(authz, '/')) < 0)
		goto out;
	scope_at = authz->len;
	if ((err = strbuf_puts(authz, date)) < 0 || (err = strbuf_putc(authz, '/')) < 0 ||
	    (err = strbuf_puts(authz, region)) < 0 || (err = strbuf_putc(authz, '/')) < 0 ||
	    (err = strbuf_puts(authz, service)) < 0 ||
	    (err = strbuf_puts(authz, "/aws4_request")) < 0)
		goto out;
	scope_len = authz->len - scope_at;
	if ((err = strbuf_puts(authz, ", SignedHeaders=")) < 0)
		goto out;
	names_at = authz->len;

	if ((err = strbuf_puts(cr, r->method)) < 0 || (err = strbuf_putc(cr, '\n')) < 0 ||
	    (err = canonical_uri(cr, r->path, r->normalize_path)) < 0 ||
	    (err = strbuf_putc(cr, '\n')) < 0 || (err = canonical_query(cr, r->query)) < 0 ||
	    (err = strbuf_putc(cr, '\n')) < 0 ||
	    (err = canonical_headers(cr, authz, r, extra, n_extra)) < 0)
		goto out;
	names_len = authz->len - names_at;
	if ((err = strbuf_putc(cr, '\n')) < 0 ||
	    (err = strbuf_append(cr, authz->buf + names_at, names_len)) < 0 ||
	    (err = strbuf_putc(cr, '\n')) < 0 || (err = strbuf_puts(cr, ret->payload_hash)) < 0)
		goto out;

	if ((err = crypto_sha256_hex(cr->buf, cr->len, creq_hash)) < 0 ||
	    (err = strbuf_puts(sts, "AWS4-HMAC-SHA256\n")) < 0 ||
	    (err = strbuf_puts(sts, ret->amz_date)) < 0 || (err = strbuf_putc(sts, '\n')) < 0 ||
	    (err = strbuf_append(sts, authz->buf + scope_at, scope_len)) < 0 ||
	    (err = strbuf_putc(sts, '\n')) < 0 || (err = strbuf_puts(sts, creq_hash)) < 0)
		goto out;
	if ((err = derive_key(s, c, date, region, service, key)) < 0)
		goto out;
	err = crypto_hmac_sha256(key, sizeof(key), sts->buf, sts->len, sig);
	crypto_wipe(key, sizeof(key));
	if (err < 0)
		goto out;
	crypto_hex(sig, sizeof(sig), ret->signature);
	crypto_wipe(sig, sizeof(sig));
	if ((err = strbuf_puts(authz, ", Signature=")) < 0 ||
	    (err = strbuf_puts(authz, ret->signature)) < 0)
		goto out;
out:
	if (err < 0)
		strbuf_reset(authz); /* never half a header */
	return err < 0 ? err : 0;
}
