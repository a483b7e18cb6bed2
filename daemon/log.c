/* SPDX-License-Identifier: MIT */
/* The stderr sink: one line per event, fields as KEY=value. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"

int log_max_priority = LOG_INFO;

static const char *level_name(int p)
{
	switch (p) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* value, quoted when it has a space, quote or control character. */
static void put_value(struct strbuf *sb, const char *v)
{
	bool plain = *v != '\0';

	for (const char *p = v; *p && plain; p++)
		plain = (unsigned char)*p > ' ' && *p != '"' && *p != '\'' && *p != '\\';
	if (plain) {
		strbuf_puts(sb, v);
		return;
	}
	strbuf_putc(sb, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			strbuf_putc(sb, '\\');
		strbuf_putc(sb, (unsigned char)*p < ' ' ? ' ' : *p);
	}
	strbuf_putc(sb, '"');
}

void log_event(int priority, const char *message_id, const struct log_field *fields,
	       const char *fmt, ...)
{
	struct strbuf sb;
	va_list ap;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	strbuf_init(&sb, 64 * 1024);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strbuf_printf(&sb, "%s %-7s ", when, level_name(priority));
	va_start(ap, fmt);
	strbuf_vprintf(&sb, fmt, ap);
	va_end(ap);
	if (message_id)
		strbuf_printf(&sb, " MESSAGE_ID=%s", message_id);
	for (const struct log_field *f = fields; f && f->key; f++) {
		if (!f->value)
			continue;
		strbuf_printf(&sb, " %s=", f->key);
		put_value(&sb, f->value);
	}
	strbuf_putc(&sb, '\n');
	fwrite(strbuf_str(&sb), 1, sb.len, stderr);
	fflush(stderr);
	strbuf_done(&sb);
}
