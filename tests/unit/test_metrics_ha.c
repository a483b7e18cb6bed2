/* SPDX-License-Identifier: MIT */
/* The metrics of high availability (issue 18): ecr_deployd_ha_role, one series per role, and
 * ecr_deployd_ha_term, from metrics_ha(); none for a single instance. */
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "strbuf.h"
#include "unit.h"

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, line, len) && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

static int count_prefix(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n += !strncmp(p, prefix, strlen(prefix));
	return n;
}

TEST(metrics_ha_role_and_term)
{
	struct metrics_deps deps = { .version = "0.1.0", .revision = "r", .start_time = 1 };
	struct metrics *m = metrics_new(&deps);
	struct strbuf sb;

	CHECK(m != NULL);
	if (!m)
		return;
	/* A single instance: no ha series at all. */
	strbuf_init(&sb, 1 << 20);
	CHECK_INT(metrics_render(m, &sb), 0);
	CHECK_INT(count_prefix(strbuf_str(&sb), "ecr_deployd_ha_"), 0);
	CHECK_INT(count_prefix(strbuf_str(&sb), "# TYPE ecr_deployd_ha_"), 0);
	strbuf_done(&sb);

	metrics_ha(m, LEASE_STANDBY, 7);
	strbuf_init(&sb, 1 << 20);
	CHECK_INT(metrics_render(m, &sb), 0);
	const char *t = strbuf_str(&sb);
	CHECK(has_line(t, "# TYPE ecr_deployd_ha_role gauge"));
	CHECK(has_line(t, "ecr_deployd_ha_role{role=\"starting\"} 0"));
	CHECK(has_line(t, "ecr_deployd_ha_role{role=\"standby\"} 1"));
	CHECK(has_line(t, "ecr_deployd_ha_role{role=\"leading\"} 0"));
	CHECK(has_line(t, "ecr_deployd_ha_role{role=\"suspended\"} 0"));
	CHECK(has_line(t, "ecr_deployd_ha_role{role=\"lost\"} 0"));
	CHECK(has_line(t, "# TYPE ecr_deployd_ha_term gauge"));
	CHECK(has_line(t, "ecr_deployd_ha_term 7"));
	CHECK_INT(count_prefix(t, "ecr_deployd_ha_role{"), 5);
	CHECK_INT(count_prefix(t, "# HELP ecr_deployd_ha_role "), 1);
	strbuf_done(&sb);

	/* Taking over: the role moves, one series at 1, the term follows. */
	metrics_ha(m, LEASE_LEADING, 8);
	strbuf_init(&sb, 1 << 20);
	CHECK_INT(metrics_render(m, &sb), 0);
	t = strbuf_str(&sb);
	CHECK(has_line(t, "ecr_deployd_ha_role{role=\"standby\"} 0"));
	CHECK(has_line(t, "ecr_deployd_ha_role{role=\"leading\"} 1"));
	CHECK(has_line(t, "ecr_deployd_ha_term 8"));
	CHECK_INT(count_prefix(t, "ecr_deployd_ha_role{role=\"leading\"} 1"), 1);
	strbuf_done(&sb);

	metrics_ha(m, LEASE_SUSPENDED, 8);
	strbuf_init(&sb, 1 << 20);
	CHECK_INT(metrics_render(m, &sb), 0);
	CHECK(has_line(strbuf_str(&sb), "ecr_deployd_ha_role{role=\"suspended\"} 1"));
	CHECK(has_line(strbuf_str(&sb), "ecr_deployd_ha_role{role=\"leading\"} 0"));
	strbuf_done(&sb);
	metrics_free(m);
	metrics_ha(NULL, LEASE_LEADING, 1); /* no-op */
}
