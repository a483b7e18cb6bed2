/* SPDX-License-Identifier: MIT */
/*
 * daemon/rollout: the step table the header (and docs/architecture.md) show is the step table
 * the engine runs: every step, whether it is written, where its reader may go, and what it is
 * resumed as. A picture that goes stale fails here.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "rollout.h"

/* Checks the rows of the table in file (lines "step  yes|no  a, b|-  resumed"); returns the
 * number of rows read. */
static int check_table(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[512];
	int rows = 0;
	bool seen[STEP_COUNT] = { false };

	if (!f) {
		unit_fail(__FILE__, __LINE__, "cannot open %s", file);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[64], written[8], rest[400], *p = line;
		while (*p == ' ' || *p == '*' || *p == '\t')
			p++;
		if (sscanf(p, "%63s %7s %399[^\n]", name, written, rest) != 3 ||
		    (strcmp(written, "yes") && strcmp(written, "no")))
			continue;
		int step = record_step_from_name(name);
		if (step < 0)
			continue; /* prose; a row with a misspelt step shows as a step missing */
		rows++;
		seen[step] = true;
		const struct rollout_step_def *s = &rollout_steps[step];
		if (s->written != !strcmp(written, "yes"))
			unit_fail(__FILE__, __LINE__, "%s: step '%s' written: table says %s", file,
				  name, s->written ? "yes" : "no");
		/* The words after "written": the next steps, then the resume step. */
		char words[8][64];
		int n = 0;
		for (char *w = rest; *w && n < 8;) {
			size_t len = strcspn(w, ", ");
			if (len) {
				snprintf(words[n++], sizeof(words[0]), "%.*s", (int)len, w);
				w += len;
			} else {
				w++;
			}
		}
		if (n < 2) {
			unit_fail(__FILE__, __LINE__, "%s: step '%s': no next steps or resume",
				  file, name);
			continue;
		}
		if (record_step_from_name(words[n - 1]) != (int)s->resume)
			unit_fail(__FILE__, __LINE__,
				  "%s: step '%s' resumed as '%s', table says '%s'", file, name,
				  words[n - 1], record_step_name(s->resume));
		int listed = 0;
		for (int i = 0; i < n - 1; i++) {
			if (!strcmp(words[i], "-"))
				continue;
			int to = record_step_from_name(words[i]);
			if (to < 0 ||
			    !rollout_step_may((enum rollout_step)step, (enum rollout_step)to))
				unit_fail(__FILE__, __LINE__,
					  "%s: step '%s' -> '%s' is not in the table", file, name,
					  words[i]);
			listed++;
		}
		int in_table = 0;
		for (int to = 0; to < STEP_COUNT; to++)
			in_table +=
			    rollout_step_may((enum rollout_step)step, (enum rollout_step)to);
		if (listed != in_table)
			unit_fail(__FILE__, __LINE__,
				  "%s: step '%s' lists %d next steps, table has %d", file, name,
				  listed, in_table);
	}
	fclose(f);
	for (int i = 0; i < STEP_COUNT; i++)
		if (!seen[i])
			unit_fail(__FILE__, __LINE__, "%s does not show step '%s'", file,
				  record_step_name((enum rollout_step)i));
	return rows;
}

TEST(rollout_table_matches_the_header_and_the_docs)
{
	CHECK_INT(check_table("daemon/rollout.h"), STEP_COUNT);
	CHECK_INT(check_table("docs/architecture.md"), STEP_COUNT);
}

TEST(rollout_table_is_whole)
{
	for (int i = 0; i < STEP_COUNT; i++) {
		const struct rollout_step_def *s = &rollout_steps[i];
		/* every step reads something; a request comes with its builder, except tracking,
		 * which the engine batches */
		CHECK(s->read != NULL);
		CHECK(!s->operation || s->params || s->batched);
		/* a record picked up at a step resumes at a step that is safe to run first: one
		 * without a call that changes AWS */
		CHECK(rollout_steps[s->resume].sent_at == 0);
		/* names round-trip */
		CHECK_INT(record_step_from_name(record_step_name((enum rollout_step)i)), i);
	}
	CHECK_INT(record_step_from_name("flying"), -1);
	CHECK_INT(record_step_from_name(NULL), -1);
}
