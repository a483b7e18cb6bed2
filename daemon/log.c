/* SPDX-License-Identifier: MIT */
/* The two sinks: the journal (sd_journal_sendv, one field per KEY), and stderr (one line per
 * event, fields as KEY=value). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "escape.h"
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

/* "KEY=value" with the value escaped (newlines kept: a journal field may be multi-line), or NULL
 * without memory. */
static char *journal_field(const char *key, const char *value)
{
	struct strbuf sb;

	strbuf_init(&sb, 1024 * 1024); /* 4 x CONFIG_ERRORS's 256 KiB: each byte may become 4 */
	if (strbuf_printf(&sb, "%s=", key) < 0 ||
	    escape_append(&sb, value, ESCAPE_KEEP_NEWLINE) < 0) {
		strbuf_done(&sb);
		return NULL;
	}
	return strbuf_steal(&sb);
}

/* One event to the journal; false when journald cannot be reached (then stderr says it).
 * message is escaped already. */
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
		if (!f->value)
			continue;
		own[k] = journal_field(f->key, f->value);
		if (!own[k])
			continue;
		iov[n++] = (struct iovec){ own[k], strlen(own[k]) };
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

/* value, plain when it is printable ASCII without space, quote or backslash, else quoted and
 * escaped. */
static void put_value(struct strbuf *sb, const char *v)
{
	bool plain = *v != '\0';

	for (const char *p = v; *p && plain; p++)
		plain = (unsigned char)*p > ' ' && (unsigned char)*p < 0x7f && *p != '"' &&
			*p != '\'' && *p != '\\';
	if (plain) {
		strbuf_puts(sb, v);
		return;
	}
	strbuf_putc(sb, '"');
	escape_append(sb, v, ESCAPE_DQUOTE | ESCAPE_BACKSLASH);
	strbuf_putc(sb, '"');
}

/* The sentence, formatted, then escaped whole: the daemon's own words hold no control
 * character, so whatever is escaped came from outside. */
static void put_sentence(struct strbuf *sb, const char *fmt, va_list ap)
{
	struct strbuf raw;

	strbuf_init(&raw, 64 * 1024);
	if (strbuf_vprintf(&raw, fmt, ap) < 0)
		strbuf_puts(&raw, "(an event too long to show)");
	escape_append(sb, strbuf_str(&raw), 0);
	strbuf_done(&raw);
}

void log_event(int priority, const char *message_id, const struct log_field *fields,
	       const char *fmt, ...)
{
	struct strbuf sb;
	va_list ap;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	strbuf_init(&sb, 320 * 1024);
	if (to_journal) {
		static bool said;
		va_start(ap, fmt);
		put_sentence(&sb, fmt, ap);
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
	put_sentence(&sb, fmt, ap);
	va_end(ap);
	if (message_id)
		strbuf_printf(&sb, " MESSAGE_ID=%s", message_id);
	for (const struct log_field *f = fields; f && f->key; f++) {
		if (!f->value)
			continue;
		strbuf_printf(&sb, " %s=", f->key);
		put_value(&sb, f->value);
	}
	fwrite(strbuf_str(&sb), 1, sb.len, stderr);
	fputc('\n', stderr); /* also after an event cut at the buffer's bound */
	fflush(stderr);
	strbuf_done(&sb);
}
