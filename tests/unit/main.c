/* SPDX-License-Identifier: MIT */
/*
 * Runner for the unit tests: runs every registered case (or those whose name
 * contains one of the arguments), reports each failure with file:line, and
 * ends with "unit: N passed, N failed". Exit status 1 when any case failed.
 */
#include "unit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct unit_case *cases;
static int current_failures;

void unit_register(struct unit_case *c)
{
	c->next = cases;
	cases = c;
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	current_failures++;
}

static int by_file_then_name(const void *a, const void *b)
{
	const struct unit_case *x = *(const struct unit_case *const *)a;
	const struct unit_case *y = *(const struct unit_case *const *)b;
	int r = strcmp(x->file, y->file);

	return r ? r : strcmp(x->name, y->name);
}

static int selected(const struct unit_case *c, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(c->name, argv[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct unit_case **all;
	size_t n = 0, i = 0;
	int passed = 0, failed = 0;

	for (struct unit_case *c = cases; c; c = c->next)
		n++;
	all = calloc(n ? n : 1, sizeof(*all));
	if (!all) {
		fputs("unit: out of memory\n", stderr);
		return 2;
	}
	for (struct unit_case *c = cases; c; c = c->next)
		all[i++] = c;
	qsort(all, n, sizeof(*all), by_file_then_name);

	for (i = 0; i < n; i++) {
		if (!selected(all[i], argc, argv))
			continue;
		current_failures = 0;
		all[i]->fn();
		if (current_failures) {
			printf("FAIL %s (%s)\n", all[i]->name, all[i]->file);
			failed++;
		} else {
			printf("ok   %s\n", all[i]->name);
			passed++;
		}
		fflush(stdout);
	}
	free(all);
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
