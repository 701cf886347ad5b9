/*
 * log.h: the daemon's one logging sink.
 *
 * Every line is structured: a message plus named fields.  On stderr the line
 * is logfmt ("level=warning msg=\"...\" target=prod url_path=/api/..."), with
 * every value escaped, so hostile strings from Kibana (connector names, error
 * text) can never forge a line or a field.  Field keys are journald-style
 * (upper case, digits, underscore) so the journald backend (issue 5) can pass
 * them through unchanged; on stderr they are printed in lower case.
 *
 * Library code (parsers, clients) never logs: it returns errors, and the
 * caller that decides logs them.  Secrets are never passed to these
 * functions.
 */
#ifndef KCM_LOG_H
#define KCM_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>	/* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */

#include "util.h"

struct log_field {
	const char	*key;	/* e.g. "TARGET", "URL_PATH"; NULL ends a list */
	const char	*value;	/* NULL fields are skipped */
};

/*
 * Where lines go.  auto: the journal when stderr is connected to it (the
 * JOURNAL_STREAM device:inode matches stderr's, as under systemd), else
 * stderr.  journal: structured entries through sd_journal_sendv(), written
 * by one background thread from a bounded queue so that a stuck journald
 * can never stall the event loop; entries that do not fit are dropped and
 * counted (log_dropped()).  stderr: logfmt lines, one write(2) each.
 */
enum log_target {
	LOG_TARGET_AUTO,
	LOG_TARGET_JOURNAL,
	LOG_TARGET_STDERR,
};

/* Journal queue capacity (entries). */
#define LOG_JOURNAL_QUEUE_MAX	1024

void	 log_init(const char *ident);
/* "auto" | "journal" | "stderr" -> enum log_target; -EINVAL otherwise. */
int	 log_target_from_string(const char *s);
const char *log_target_to_string(int t);
/* Selects the sink (auto resolved here); 0 or -errno (thread creation). */
int	 log_set_target(int t);
/* The sink in use: LOG_TARGET_JOURNAL or LOG_TARGET_STDERR. */
int	 log_get_target(void);
/* Journal entries dropped because the queue was full (any thread). */
uint64_t log_dropped(void);
/*
 * Flushes the journal queue for at most timeout_usec and stops the writer
 * thread; a writer stuck in sd_journal_sendv() is abandoned (detached).
 * Later log calls go to stderr.
 */
void	 log_fini(uint64_t timeout_usec);
void	 log_set_level(int prio);		/* LOG_ERR .. LOG_DEBUG */
int	 log_get_level(void);
/* "debug" | "info" | "warning" | "error" -> LOG_*; -EINVAL otherwise. */
int	 log_level_from_string(const char *s);
const char *log_level_to_string(int prio);

/*
 * msgid: a 32-hex-digit MESSAGE_ID from msgid.h, or NULL.
 * fields: array of n fields (n may be 0, fields NULL).
 */
void	 log_struct(int prio, const char *msgid, const struct log_field *fields,
	    size_t n, const char *fmt, ...) KCM_PRINTF(5, 6);
void	 log_structv(int prio, const char *msgid, const struct log_field *fields,
	    size_t n, const char *fmt, va_list ap);

#define log_error(...)	 log_struct(LOG_ERR, NULL, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_struct(LOG_WARNING, NULL, NULL, 0, __VA_ARGS__)
#define log_info(...)	 log_struct(LOG_INFO, NULL, NULL, 0, __VA_ARGS__)
#define log_debug(...)	 log_struct(LOG_DEBUG, NULL, NULL, 0, __VA_ARGS__)

/*
 * Appends s (len bytes, may contain anything) as a logfmt value: bare when
 * it is non-empty and holds only printable ASCII other than space, '"', '=',
 * '\\'; otherwise double-quoted with \" \\ \n \r \t escaped, other control
 * bytes and invalid UTF-8 as \xNN.  Valid UTF-8 passes through.
 */
int	 log_escape_value(struct strbuf *out, const char *s, size_t len);

#endif /* KCM_LOG_H */
