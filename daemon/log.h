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
