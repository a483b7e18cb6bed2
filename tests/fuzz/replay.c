/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz corpora without libFuzzer: runs LLVMFuzzerTestOneInput on
 * every file in the directories given. A crash or a sanitizer report ends
 * the process (and fails the suite). The replay of each corpus directory
 * counts as one test: "fuzz: N passed, M failed" over the directories.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return -1;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		int inputs = 0, unreadable = 0;

		if (!d) {
			fprintf(stderr, "fuzz: cannot open corpus '%s'\n", argv[i]);
			failed++;
			continue;
		}
		while ((e = readdir(d))) {
			char path[4096];
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (replay_file(path) < 0) {
				fprintf(stderr, "fuzz: cannot read '%s'\n", path);
				unreadable++;
			} else {
				inputs++;
			}
		}
		closedir(d);
		printf("%s %s: %d inputs replayed\n", unreadable || !inputs ? "FAIL" : "ok  ",
		       argv[i], inputs);
		if (unreadable || !inputs)
			failed++;
		else
			passed++;
	}
	printf("fuzz: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
