/* SPDX-License-Identifier: MIT */
/*
 * The sightings of one watch, compact (see sightings.h): an array of 48-byte entries in order,
 * their tags (and picked tags) as text in one buffer of the watch, a hash of positions once there
 * are more than a few, and the odd entries (not in the file's form) as their cJSON objects.
 */
#include "sightings.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "jsonscan.h"

/* at of an entry kept as its cJSON object (aux: its place in odd[]). */
#define ODD        INT64_MIN
/* The entries a watch may have before lookups go through the hash. */
#define LINEAR_MAX 16
#define NAMES_MAX  UINT32_MAX

struct entry {
	uint32_t key; /* offset of the tag's text in names */
	uint32_t
	    aux;    /* compact: 1 + offset of the picked tag in names, 0 none; odd: index in odd */
	int64_t at; /* seen_at (Unix seconds), or ODD */
	uint8_t digest[32];
};

struct sightings {
	struct entry *v;
	uint32_t n, cap;
	char *names; /* NUL-terminated texts, referred to by offset */
	uint32_t names_len, names_cap, garbage;
	uint32_t *hash; /* 1 + position, 0 empty; NULL while n <= LINEAR_MAX */
	uint32_t hash_cap;
	cJSON **odd;
	uint32_t n_odd;
};

static const char stamp_format[] = "%Y-%m-%dT%H:%M:%SZ";

struct sightings *sightings_new(void)
{
	return calloc(1, sizeof(struct sightings));
}

void sightings_free(struct sightings *g)
{
	if (!g)
		return;
	for (uint32_t i = 0; i < g->n_odd; i++)
		cJSON_Delete(g->odd[i]);
	free(g->odd);
	free(g->v);
	free(g->names);
	free(g->hash);
	free(g);
}

size_t sightings_count(const struct sightings *g)
{
	return g ? g->n : 0;
}

static uint32_t hash_of(const char *p)
{
	uint32_t h = 2166136261u;

	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

/* Puts position i in the hash unless its tag is there already (a duplicate: the first is found). */
static void hash_insert(struct sightings *g, uint32_t i)
{
	const char *key = g->names + g->v[i].key;
	uint32_t mask = g->hash_cap - 1, h = hash_of(key) & mask;

	while (g->hash[h]) {
		if (!strcmp(g->names + g->v[g->hash[h] - 1].key, key))
			return;
		h = (h + 1) & mask;
	}
	g->hash[h] = i + 1;
}

/* (Re)builds the hash for up to want entries (nothing below LINEAR_MAX). 0 or -ENOMEM. */
static int hash_build(struct sightings *g, uint32_t want)
{
	uint32_t cap = 16;

	if (want <= LINEAR_MAX) {
		free(g->hash);
		g->hash = NULL;
		g->hash_cap = 0;
		return 0;
	}
	while (cap < want * 2)
		cap *= 2;
	uint32_t *h = calloc(cap, sizeof(*h));
	if (!h)
		return -ENOMEM;
	free(g->hash);
	g->hash = h;
	g->hash_cap = cap;
	for (uint32_t i = 0; i < g->n; i++)
		hash_insert(g, i);
	return 0;
}

long sightings_find(const struct sightings *g, const char *tag)
{
	if (!g)
		return -1;
	if (!g->hash) {
		for (uint32_t i = 0; i < g->n; i++) {
			const char *k = g->names + g->v[i].key;
			/* tags of one watch often differ early: no call for those */
			if (k[0] == tag[0] && (!k[0] || k[1] == tag[1]) && !strcmp(k, tag))
				return i;
		}
		return -1;
	}
	uint32_t mask = g->hash_cap - 1, h = hash_of(tag) & mask;
	while (g->hash[h]) {
		uint32_t i = g->hash[h] - 1;
		if (!strcmp(g->names + g->v[i].key, tag))
			return i;
		h = (h + 1) & mask;
	}
	return -1;
}

const char *sightings_key(const struct sightings *g, size_t i)
{
	return g->names + g->v[i].key;
}

const cJSON *sightings_odd(const struct sightings *g, size_t i)
{
	return g->v[i].at == ODD ? g->odd[g->v[i].aux] : NULL;
}

const char *sightings_digest(const struct sightings *g, size_t i, char buf[SIGHTINGS_DIGEST_SIZE])
{
	const struct entry *e = &g->v[i];

	if (e->at == ODD)
		return cJSON_GetStringValue(cJSON_GetObjectItem(g->odd[e->aux], "digest"));
	return digest_unpack(e->digest, buf);
}

bool sightings_digest_is(const struct sightings *g, size_t i, const char *digest)
{
	const struct entry *e = &g->v[i];
	const char *d;

	if (e->at == ODD)
		return (d = cJSON_GetStringValue(cJSON_GetObjectItem(g->odd[e->aux], "digest"))) &&
		       !strcmp(d, digest);
	return digest_packed_is(e->digest, digest);
}

const char *sightings_pick(const struct sightings *g, size_t i)
{
	const struct entry *e = &g->v[i];

	if (e->at == ODD)
		return cJSON_GetStringValue(cJSON_GetObjectItem(g->odd[e->aux], "tag"));
	return e->aux ? g->names + e->aux - 1 : NULL;
}

/* ---- changes ---- */

/* Room for one more entry. 0 or -ENOMEM. */
static int reserve_entry(struct sightings *g)
{
	if (g->n < g->cap)
		return 0;
	if (g->cap >= UINT32_MAX / 2)
		return -ENOMEM;
	/* one by one while small (a watch of ten tags has room for ten), then 1.5x */
	uint32_t cap = g->cap < 16 ? g->cap + 1 : g->cap + g->cap / 2;
	struct entry *v = realloc(g->v, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	g->v = v;
	g->cap = cap;
	return 0;
}

/* Keeps only the texts the entries refer to (after many replaced picks). 0 or -ENOMEM. */
static int names_compact(struct sightings *g)
{
	uint32_t len = 0;
	char *n;

	for (uint32_t i = 0; i < g->n; i++) {
		len += (uint32_t)strlen(g->names + g->v[i].key) + 1;
		if (g->v[i].at != ODD && g->v[i].aux)
			len += (uint32_t)strlen(g->names + g->v[i].aux - 1) + 1;
	}
	if (!(n = malloc(len ? len : 1)))
		return -ENOMEM;
	len = 0;
	for (uint32_t i = 0; i < g->n; i++) {
		size_t k = strlen(g->names + g->v[i].key) + 1;
		memcpy(n + len, g->names + g->v[i].key, k);
		g->v[i].key = len;
		len += (uint32_t)k;
		if (g->v[i].at != ODD && g->v[i].aux) {
			k = strlen(g->names + g->v[i].aux - 1) + 1;
			memcpy(n + len, g->names + g->v[i].aux - 1, k);
			g->v[i].aux = len + 1;
			len += (uint32_t)k;
		}
	}
	free(g->names);
	g->names = n;
	g->names_len = g->names_cap = len;
	g->garbage = 0;
	return 0;
}

int sightings_reserve(struct sightings *g, size_t entries, size_t text)
{
	if (entries > UINT32_MAX / 4 - g->n || text > NAMES_MAX / 4 - g->names_len)
		return -ENOMEM;
	if (g->n + entries > g->cap) {
		struct entry *v = realloc(g->v, (g->n + entries) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		g->v = v;
		g->cap = g->n + (uint32_t)entries;
	}
	if (g->names_len + text > g->names_cap) {
		char *n = realloc(g->names, g->names_len + text);
		if (!n)
			return -ENOMEM;
		g->names = n;
		g->names_cap = g->names_len + (uint32_t)text;
	}
	return 0;
}

/* Room for len more bytes of text. 0 or -ENOMEM. */
static int reserve_names(struct sightings *g, size_t len)
{
	if (len > NAMES_MAX / 4 || g->names_len > NAMES_MAX / 2)
		return -ENOMEM;
	if (g->garbage > 256 && g->garbage > g->names_len / 2 && names_compact(g) < 0)
		return -ENOMEM;
	if (g->names_len + len <= g->names_cap)
		return 0;
	size_t cap = g->names_len + len;
	cap += cap / 2 < 16 ? 16 : cap / 2;
	char *n = realloc(g->names, cap);
	if (!n)
		return -ENOMEM;
	g->names = n;
	g->names_cap = (uint32_t)cap;
	return 0;
}

/* Copies text into names (room reserved); returns its offset. */
static uint32_t names_add(struct sightings *g, const char *text, size_t len)
{
	uint32_t off = g->names_len;

	memcpy(g->names + off, text, len);
	g->names[off + len] = '\0';
	g->names_len += (uint32_t)len + 1;
	return off;
}

/* Forgets the texts (and the odd object) of entry e, which is being replaced or removed. */
static void entry_release(struct sightings *g, struct entry *e, bool key_too)
{
	if (key_too)
		g->garbage += (uint32_t)strlen(g->names + e->key) + 1;
	if (e->at != ODD) {
		if (e->aux)
			g->garbage += (uint32_t)strlen(g->names + e->aux - 1) + 1;
		return;
	}
	/* the last odd object takes the freed place */
	uint32_t k = e->aux, last = g->n_odd - 1;
	cJSON_Delete(g->odd[k]);
	if (k != last) {
		g->odd[k] = g->odd[last];
		for (uint32_t i = 0; i < g->n; i++)
			if (g->v[i].at == ODD && g->v[i].aux == last) {
				g->v[i].aux = k;
				break;
			}
	}
	g->n_odd--;
}

/* Room for one more odd object (odd[] holds exactly n_odd, plus this one). 0 or -ENOMEM. */
static int odd_reserve(struct sightings *g)
{
	cJSON **odd = realloc(g->odd, (g->n_odd + 1) * sizeof(*odd));

	if (!odd)
		return -ENOMEM;
	g->odd = odd;
	return 0;
}

/* The seconds of years 1970 to 9999, which print in 20 characters. */
#define STAMP_MAX 253402300799LL

/* Days since 1970-01-01 of a date of the proleptic Gregorian calendar (m 1-12, d 1-31). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/*
 * at as UTC "%Y-%m-%dT%H:%M:%SZ" (what strftime() prints; written here for speed: a save prints
 * one per tag). false when gmtime_r() cannot convert at.
 */
static bool stamp_of(time_t at, char out[32])
{
	struct tm tm;

	if (at < 0 || at > STAMP_MAX)
		return gmtime_r(&at, &tm) && strftime(out, 32, stamp_format, &tm) > 0;
	int64_t z = at / 86400 + 719468, secs = at % 86400;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	unsigned y = (unsigned)((int64_t)yoe + era * 400 + (m <= 2));
	unsigned h = (unsigned)(secs / 3600), mi = (unsigned)(secs / 60 % 60),
		 se = (unsigned)(secs % 60);
	const unsigned part[] = { y / 100, y % 100, m, d, h, mi, se };
	static const char sep[7] = { 0, '-', '-', 'T', ':', ':', 'Z' };
	for (size_t k = 0, o = 0; k < 7; k++) {
		out[o++] = (char)('0' + part[k] / 10);
		out[o++] = (char)('0' + part[k] % 10);
		if (sep[k])
			out[o++] = sep[k];
	}
	out[20] = '\0';
	return true;
}

/* n digits at p as a number, or -1. */
static int digits(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* The time text says, when it prints back exactly so (else the entry is kept as read). */
static bool parse_stamp(const char *text, time_t *ret)
{
	char back[32];

	if (strlen(text) != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
	    text[13] != ':' || text[16] != ':' || text[19] != 'Z')
		return false;
	int y = digits(text, 4), mo = digits(text + 5, 2), d = digits(text + 8, 2);
	int h = digits(text + 11, 2), mi = digits(text + 14, 2), se = digits(text + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 59)
		return false;
	*ret = (time_t)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
			se);
	/* (a day past its month's end prints as another date: kept as read) */
	return stamp_of(*ret, back) && !strcmp(back, text);
}

/*
 * Whether o is {"digest": a digest, "tag": a string?, "seen_at": a time} in that order and nothing
 * else: the form this module prints back exactly.
 */
static bool compact_form(const cJSON *o, const char **ret_digest, const char **ret_pick,
			 time_t *ret_at)
{
	const cJSON *m = o->child;

	if (!m || !m->string || strcmp(m->string, "digest") || !cJSON_IsString(m) ||
	    !digest_valid(m->valuestring))
		return false;
	*ret_digest = m->valuestring;
	*ret_pick = NULL;
	m = m->next;
	if (m && m->string && !strcmp(m->string, "tag") && cJSON_IsString(m)) {
		*ret_pick = m->valuestring;
		m = m->next;
	}
	return m && !m->next && m->string && !strcmp(m->string, "seen_at") && cJSON_IsString(m) &&
	       parse_stamp(m->valuestring, ret_at);
}

/*
 * Writes entry i (at g->n: a new one) from its parts: compact when digest is one (odd NULL), else
 * odd (taken over on success). The tag's text is added when new.
 */
static int put_entry(struct sightings *g, uint32_t i, const char *tag, const char *digest,
		     const char *pick, time_t at, cJSON *odd)
{
	bool append = i == g->n;
	size_t klen = append ? strlen(tag) : 0, plen = !odd && pick ? strlen(pick) : 0;
	struct entry e = { 0 };

	if ((append && reserve_entry(g) < 0) ||
	    reserve_names(g, (append ? klen + 1 : 0) + (!odd && pick ? plen + 1 : 0)) < 0)
		return -ENOMEM;
	if (append && g->n + 1 > LINEAR_MAX && (!g->hash || (g->n + 1) * 2 > g->hash_cap) &&
	    hash_build(g, (g->n + 1) * 2) < 0)
		return -ENOMEM;
	if (odd && odd_reserve(g) < 0)
		return -ENOMEM;
	/* nothing can fail from here on; digest and pick are read before the entry they may belong
	 * to (an odd one's strings) is released */
	e.key = append ? names_add(g, tag, klen) : g->v[i].key;
	if (!odd) {
		e.at = (int64_t)at;
		digest_pack(digest, e.digest);
		e.aux = pick ? names_add(g, pick, plen) + 1 : 0;
	}
	if (!append)
		entry_release(g, &g->v[i], false);
	if (odd) {
		e.at = ODD;
		e.aux = g->n_odd;
		g->odd[g->n_odd++] = odd;
	}
	g->v[i] = e;
	if (append) {
		g->n++;
		if (g->hash)
			hash_insert(g, i);
	}
	return 0;
}

/* Whether p points into g's texts (which a change may move). */
static bool in_names(const struct sightings *g, const char *p)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)g->names;

	return p && g->names && a >= b && a < b + g->names_cap;
}

int sightings_set(struct sightings *g, const char *tag, const char *digest, const char *pick,
		  time_t at)
{
	if (in_names(g, tag) || in_names(g, pick)) {
		/* a text of g's own (sightings_key(), sightings_pick()): copied first */
		char *t = strdup(tag), *p = pick ? strdup(pick) : NULL;
		int r = t && (p || !pick) ? sightings_set(g, t, digest, p, at) : -ENOMEM;
		free(t);
		free(p);
		return r;
	}
	long i = sightings_find(g, tag);
	uint32_t pos = i < 0 ? g->n : (uint32_t)i;
	cJSON *odd = NULL;
	char when[32];

	if (!digest_valid(digest)) {
		/* what the file would have held, kept as such */
		if (!stamp_of(at, when) || !(odd = cJSON_CreateObject()) ||
		    !cJSON_AddStringToObject(odd, "digest", digest ? digest : "") ||
		    (pick && !cJSON_AddStringToObject(odd, "tag", pick)) ||
		    !cJSON_AddStringToObject(odd, "seen_at", when)) {
			cJSON_Delete(odd);
			return -ENOMEM;
		}
	}
	int r = put_entry(g, pos, tag, digest, pick, at, odd);
	if (r < 0)
		cJSON_Delete(odd);
	return r;
}

int sightings_add_json(struct sightings *g, const char *tag, cJSON *entry)
{
	const char *digest, *pick;
	time_t at;

	if (compact_form(entry, &digest, &pick, &at)) {
		int r = put_entry(g, g->n, tag, digest, pick, at, NULL);
		if (r == 0)
			cJSON_Delete(entry);
		return r;
	}
	return put_entry(g, g->n, tag, NULL, NULL, 0, entry);
}

int sightings_add_copy(struct sightings *g, const char *tag, const cJSON *entry)
{
	const char *digest, *pick;
	time_t at;
	cJSON *odd;

	if (compact_form(entry, &digest, &pick, &at))
		return put_entry(g, g->n, tag, digest, pick, at, NULL);
	if (!(odd = cJSON_Duplicate(entry, true)))
		return -ENOMEM;
	int r = put_entry(g, g->n, tag, NULL, NULL, 0, odd);
	if (r < 0)
		cJSON_Delete(odd);
	return r;
}

void sightings_remove(struct sightings *g, size_t i)
{
	entry_release(g, &g->v[i], true);
	memmove(g->v + i, g->v + i + 1, (g->n - i - 1) * sizeof(*g->v));
	g->n--;
	if (g->hash && hash_build(g, g->n) < 0) {
		/* without memory for a new hash, lookups go through the array */
		free(g->hash);
		g->hash = NULL;
		g->hash_cap = 0;
	}
}

struct sightings *sightings_clone(const struct sightings *g)
{
	struct sightings *c;

	if (!g || !(c = sightings_new()))
		return NULL;
	c->v = malloc((g->n ? g->n : 1) * sizeof(*c->v));
	c->names = malloc(g->names_len ? g->names_len : 1);
	c->odd = calloc(g->n_odd ? g->n_odd : 1, sizeof(*c->odd));
	if (!c->v || !c->names || !c->odd)
		goto nomem;
	memcpy(c->v, g->v, g->n * sizeof(*c->v));
	memcpy(c->names, g->names, g->names_len);
	c->n = c->cap = g->n;
	c->names_len = c->names_cap = g->names_len;
	c->garbage = g->garbage;
	for (; c->n_odd < g->n_odd; c->n_odd++)
		if (!(c->odd[c->n_odd] = cJSON_Duplicate(g->odd[c->n_odd], true)))
			goto nomem;
	if (g->hash) {
		if (!(c->hash = malloc(g->hash_cap * sizeof(*c->hash))))
			goto nomem;
		memcpy(c->hash, g->hash, g->hash_cap * sizeof(*c->hash));
		c->hash_cap = g->hash_cap;
	}
	return c;
nomem:
	sightings_free(c);
	return NULL;
}

/* ---- printing ---- */

int sightings_print(const struct sightings *g, struct strbuf *out)
{
	int r = strbuf_putc(out, '{');

	for (uint32_t i = 0; r == 0 && i < sightings_count(g); i++) {
		const struct entry *e = &g->v[i];
		char d[SIGHTINGS_DIGEST_SIZE], when[32];
		if (i)
			r = strbuf_putc(out, ',');
		r = r ? r : jsonscan_write_string(out, g->names + e->key);
		r = r ? r : strbuf_putc(out, ':');
		if (r)
			break;
		if (e->at == ODD) {
			char *text = cJSON_PrintUnformatted(g->odd[e->aux]);
			r = text ? strbuf_puts(out, text) : -ENOMEM;
			free(text);
			continue;
		}
		if (!stamp_of((time_t)e->at, when))
			return -EINVAL; /* (a compact entry's time always prints) */
		/* {"digest":"<71>" (,"tag":<escaped>)? ,"seen_at":"<20>"} */
		char text[128];
		size_t n = 0;
		memcpy(text, "{\"digest\":\"", 11);
		memcpy(text + 11, sightings_digest(g, i, d), DIGEST_LEN);
		n = 11 + DIGEST_LEN;
		text[n++] = '"';
		if (e->aux) {
			r = strbuf_append(out, text, n);
			r = r ? r : strbuf_puts(out, ",\"tag\":");
			r = r ? r : jsonscan_write_string(out, g->names + e->aux - 1);
			n = 0;
		}
		memcpy(text + n, ",\"seen_at\":\"", 12);
		memcpy(text + n + 12, when, 20);
		memcpy(text + n + 32, "\"}", 2);
		r = r ? r : strbuf_append(out, text, n + 34);
	}
	return r ? r : strbuf_putc(out, '}');
}
