/* SPDX-License-Identifier: MIT */
/* common/strmap against a plain array model, through growth and removals. */
#include "unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static void count(const char *key, void *value, void *ctx)
{
	(void)key;
	(void)value;
	(*(size_t *)ctx)++;
}

TEST(strmap_matches_a_model)
{
	struct strmap *m = strmap_new();
	static intptr_t model[5000];
	char key[32];
	uint64_t x = 88172645463325252ull;

	CHECK(m != NULL);
	if (!m)
		return;
	for (int step = 0; step < 40000; step++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int k = (int)(x % 5000);
		snprintf(key, sizeof(key), "watch-%d/tag", k);
		if (x % 3 == 0) {
			void *v = strmap_remove(m, key);
			CHECK((intptr_t)v == model[k]);
			model[k] = 0;
		} else {
			void *old = NULL;
			CHECK_INT(strmap_put(m, key, (void *)(intptr_t)(step + 1), &old), 0);
			CHECK((intptr_t)old == model[k]);
			model[k] = step + 1;
		}
	}
	size_t live = 0, seen = 0;
	for (int k = 0; k < 5000; k++) {
		snprintf(key, sizeof(key), "watch-%d/tag", k);
		CHECK((intptr_t)strmap_get(m, key) == model[k]);
		live += model[k] != 0;
	}
	CHECK_INT(strmap_size(m), live);
	strmap_each(m, count, &seen);
	CHECK_INT(seen, live);
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
