/* SPDX-License-Identifier: MIT */
/*
 * The control command `metrics` (docs/control.md, docs/metrics.md): read-only, no arguments;
 * answers {"text": the Prometheus text exposition}, the same text metrics_file holds.
 */
#include <errno.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "ctlproto.h"
#include "daemon.h"
#include "metrics.h"
#include "strbuf.h"

#define TEXT_MAX (64 * 1024 * 1024)

static void cmd_metrics(struct control_call *call, const cJSON *args, void *userdata)
{
	struct daemon *d = userdata;
	struct strbuf text;
	cJSON *result;
	char why[256];
	int r;

	if (ctlproto_check_keys(args, (const char *const[]){ NULL }, why, sizeof(why)) < 0) {
		control_fail(call, "bad-argument", EX_USAGE, NULL, "%s", why);
		return;
	}
	if (!d->metrics) {
		control_fail(call, "internal", EX_SOFTWARE, NULL,
			     "the metrics could not be set up (out of memory at start)");
		return;
	}
	strbuf_init(&text, TEXT_MAX);
	r = metrics_render(d->metrics, &text);
	result = r == 0 ? cJSON_CreateObject() : NULL;
	if (!result || !cJSON_AddStringToObject(result, "text", strbuf_str(&text))) {
		cJSON_Delete(result);
		control_fail(call, "internal", EX_SOFTWARE, NULL, "cannot render the metrics: %s",
			     strerror(r < 0 ? -r : ENOMEM));
	} else {
		control_reply(call, result);
	}
	strbuf_done(&text);
}

const struct control_command cmd_metrics_commands[] = {
	{ "metrics", false, cmd_metrics },
	{ NULL, false, NULL },
};
