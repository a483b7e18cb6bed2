/* SPDX-License-Identifier: MIT */
/*
 * Structured event logging. Every event has a priority (syslog levels), an
 * optional MESSAGE_ID (events.h), a human sentence, and fields (WATCH,
 * ECR_REPOSITORY, IMAGE_DIGEST, ...) named as journal fields. In the
 * journal each field is a field of the entry, with MESSAGE, PRIORITY,
 * MESSAGE_ID and SYSLOG_IDENTIFIER=ecr-deployd; on stderr an event is one
 * line, "<time> <level> <sentence> KEY=value ...", with user values in the
 * sentence in 'single quotes'. The level is checked before any argument is
 * formatted.
 */
#ifndef ECR_LOG_H
#define ECR_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

struct strbuf;

struct log_field {
	const char *key;
	const char *value; /* NULL: the field is left out */
};

/* The mutable globals besides struct daemon: the most verbose priority shown... */
extern int log_max_priority;

/* ...and the sink: the journal when on (stderr when journald cannot be reached), else stderr. */
void log_set_journal(bool on);

/* Whether stderr is connected to the journal (JOURNAL_STREAM names it), as under systemd. */
bool log_journal_stream(void);

/* Writes one event. fields ends with { NULL, NULL }; it may be NULL. */
void log_event(int priority, const char *message_id, const struct log_field *fields,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* How log_escape() treats what it copies. */
enum log_escape_flags {
	LOG_ESCAPE_KEEP_NEWLINE = 1 << 0, /* '\n' stays raw (journal fields: may be multi-line) */
	LOG_ESCAPE_QUOTES = 1 << 1,       /* '"' and '\\' become \" and \\ (a quoted value) */
};

/*
 * Appends s to sb so that it cannot break or forge a log line nor drive a terminal: printable
 * ASCII and valid UTF-8 stay as they are; \n, \r and \t become "\n", "\r", "\t"; other
 * control characters (C0, DEL) and each byte of invalid UTF-8 (overlong, surrogate, beyond
 * U+10FFFF, truncated) become "\xNN"; C1 controls, the Unicode line and paragraph separators
 * and the bidirectional overrides become "\uNNNN". log_event() applies it to the sentence and
 * to every field, so callers pass values from outside as they are. Returns 0, or -ENOBUFS when
 * sb is full or -ENOMEM (what fitted is kept).
 */
int log_escape(struct strbuf *sb, const char *s, unsigned flags);

#define LOG_FIELDS(...) ((const struct log_field[]){ __VA_ARGS__, { NULL, NULL } })

#define log_at(priority, message_id, fields, ...)                             \
	do {                                                                  \
		if ((priority) <= log_max_priority)                           \
			log_event(priority, message_id, fields, __VA_ARGS__); \
	} while (0)

#define log_error(...)   log_at(LOG_ERR, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, NULL, NULL, __VA_ARGS__)
#define log_notice(...)  log_at(LOG_NOTICE, NULL, NULL, __VA_ARGS__)
#define log_info(...)    log_at(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...)   log_at(LOG_DEBUG, NULL, NULL, __VA_ARGS__)

#endif
