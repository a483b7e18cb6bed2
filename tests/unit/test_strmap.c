/* SPDX-License-Identifier: MIT */
/* common/strmap against a plain array model, through growth and overwrites. */
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

TEST(strmap_matches_a_model)
{
	struct strmap *m = strmap_new();
	static intptr_t model[5000];
	char key[32];
	uint64_t x = 88172645463325252ull;
	size_t live = 0;

	CHECK(m != NULL);
	if (!m)
		return;
	for (int step = 0; step < 40000; step++) {
		void *old = NULL;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int k = (int)(x % 5000);
		snprintf(key, sizeof(key), "watch-%d/tag", k);
		CHECK_INT(strmap_put(m, key, (void *)(intptr_t)(step + 1), &old), 0);
		CHECK((intptr_t)old == model[k]); /* the value it replaced, or NULL */
		model[k] = step + 1;
	}
	for (int k = 0; k < 5000; k++) {
		snprintf(key, sizeof(key), "watch-%d/tag", k);
		CHECK((intptr_t)strmap_get(m, key) == model[k]);
		live += model[k] != 0;
	}
	CHECK_INT(strmap_size(m), live);
	CHECK(strmap_get(m, "absent") == NULL);
	strmap_free(m, NULL);
	strmap_free(NULL, NULL);
}

TEST(strmap_frees_values)
{
	struct strmap *m = strmap_new();

	CHECK_INT(strmap_put(m, "a", strdup("one"), NULL), 0);
	CHECK_INT(strmap_put(m, "b", strdup("two"), NULL), 0);
	CHECK_STR(strmap_get(m, "b"), "two");
	strmap_free(m, free); /* ASan would report a leak if values were not freed */
}

TEST(strmap_key_is_the_maps_own_copy_through_growth)
{
	struct strmap *m = strmap_new();
	char key[32];
	const char *first;

	CHECK(strmap_key(m, "a") == NULL);
	CHECK(strmap_key(NULL, "a") == NULL);
	snprintf(key, sizeof(key), "series-0");
	CHECK_INT(strmap_put(m, key, (void *)1, NULL), 0);
	first = strmap_key(m, "series-0");
	CHECK(first != NULL && first != key);
	CHECK_STR(first, "series-0");
	snprintf(key, sizeof(key), "changed");
	for (int i = 1; i < 1000; i++) { /* many growths: the copy stays where it was */
		snprintf(key, sizeof(key), "series-%d", i);
		CHECK_INT(strmap_put(m, key, (void *)1, NULL), 0);
	}
	CHECK(strmap_key(m, "series-0") == first);
	CHECK_STR(first, "series-0");
	CHECK_STR(strmap_key(m, "series-999"), "series-999");
	CHECK(strmap_key(m, "series-1000") == NULL);
	strmap_free(m, NULL);
}
