/* SPDX-License-Identifier: MIT */
/* The two sinks: the journal (sd_journal_sendv, one field per KEY), and stderr (one line per
 * event, fields as KEY=value). */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "strbuf.h"

#define MAX_FIELDS 48

int log_max_priority = LOG_INFO;
static bool to_journal;

bool log_journal_stream(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_journal(bool on)
{
	to_journal = on;
}

/* One event to the journal; false when journald cannot be reached (then stderr says it). */
static bool journal_send(int priority, const char *message_id, const struct log_field *fields,
			 const char *message)
{
	struct iovec iov[MAX_FIELDS + 4];
	char *own[MAX_FIELDS + 4];
	char prio[16];
	size_t n = 0, k = 0;
	bool ok;

	snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
	own[k] = malloc(strlen(message) + 9);
	if (!own[k])
		return false;
	snprintf(own[k], strlen(message) + 9, "MESSAGE=%s", message);
	iov[n++] = (struct iovec){ own[k], strlen(own[k]) };
	k++;
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=ecr-deployd", 29 };
	if (message_id) {
		own[k] = malloc(strlen(message_id) + 12);
		if (own[k]) {
			snprintf(own[k], strlen(message_id) + 12, "MESSAGE_ID=%s", message_id);
			iov[n++] = (struct iovec){ own[k], strlen(own[k]) };
			k++;
		}
	}
	for (const struct log_field *f = fields; f && f->key && n < MAX_FIELDS + 4; f++) {
		size_t len;
		if (!f->value)
			continue;
		len = strlen(f->key) + strlen(f->value) + 2;
		own[k] = malloc(len);
		if (!own[k])
			continue;
		snprintf(own[k], len, "%s=%s", f->key, f->value);
		iov[n++] = (struct iovec){ own[k], len - 1 };
		k++;
	}
	ok = sd_journal_sendv(iov, (int)n) >= 0;
	for (size_t i = 0; i < k; i++)
		free(own[i]);
	return ok;
}

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
	if (to_journal) {
		static bool said;
		va_start(ap, fmt);
		strbuf_vprintf(&sb, fmt, ap);
		va_end(ap);
		if (journal_send(priority, message_id, fields, strbuf_str(&sb))) {
			strbuf_done(&sb);
			return;
		}
		if (!said)
			fprintf(stderr, "ecr-deployd: the journal cannot be reached; events go to "
					"stderr\n");
		said = true;
		strbuf_reset(&sb);
	}
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
