/*
 * log.c: structured log lines.  For now one sink: logfmt on stderr, every
 * value escaped.  The journald sink (issue 5) plugs in at log_emit().
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = LOG_INFO;
static const char *log_ident = "kibana-connector-monitor";

static const struct {
	const char *name;
	int prio;
} log_levels[] = {
	{ "error", LOG_ERR },
	{ "warning", LOG_WARNING },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

void
log_init(const char *ident)
{
	if (ident != NULL)
		log_ident = ident;
}

void
log_set_level(int prio)
{
	log_level = prio;
}

int
log_get_level(void)
{
	return log_level;
}

int
log_level_from_string(const char *s)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(log_levels); i++)
		if (strcmp(s, log_levels[i].name) == 0)
			return log_levels[i].prio;
	return -EINVAL;
}

const char *
log_level_to_string(int prio)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(log_levels); i++)
		if (log_levels[i].prio == prio)
			return log_levels[i].name;
	if (prio < LOG_ERR)
		return "error";
	return "debug";
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int
log_escape_value(struct strbuf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	bool bare = len > 0;
	size_t i, n;

	for (i = 0; i < len && bare; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '"' ||
		    p[i] == '=' || p[i] == '\\')
			bare = false;
	if (bare)
		return strbuf_append(out, s, len);

	strbuf_putc(out, '"');
	for (i = 0; i < len; i += n) {
		n = 1;
		switch (p[i]) {
		case '"':
			strbuf_puts(out, "\\\"");
			continue;
		case '\\':
			strbuf_puts(out, "\\\\");
			continue;
		case '\n':
			strbuf_puts(out, "\\n");
			continue;
		case '\r':
			strbuf_puts(out, "\\r");
			continue;
		case '\t':
			strbuf_puts(out, "\\t");
			continue;
		default:
			break;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			strbuf_printf(out, "\\x%02x", p[i]);
			continue;
		}
		n = utf8_seq_len(p + i, len - i);
		if (n == 0) {
			strbuf_printf(out, "\\x%02x", p[i]);
			n = 1;
			continue;
		}
		strbuf_append(out, p + i, n);
	}
	return strbuf_putc(out, '"');
}

static void
log_key(struct strbuf *sb, const char *key)
{
	for (; *key != '\0'; key++)
		strbuf_putc(sb, (char)tolower((unsigned char)*key));
}

void
log_structv(int prio, const char *msgid, const struct log_field *fields,
    size_t n, const char *fmt, va_list ap)
{
	struct strbuf msg, line;
	struct timespec ts;
	struct tm tm;
	char tbuf[64];
	size_t i;

	if (prio > log_level)
		return;

	strbuf_init(&msg);
	strbuf_init(&line);
	strbuf_vprintf(&msg, fmt, ap);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	strbuf_printf(&line, "time=%s.%03ldZ level=%s msg=", tbuf,
	    ts.tv_nsec / 1000000, log_level_to_string(prio));
	log_escape_value(&line, strbuf_str(&msg), msg.len);
	for (i = 0; i < n; i++) {
		if (fields[i].key == NULL || fields[i].value == NULL)
			continue;
		strbuf_putc(&line, ' ');
		log_key(&line, fields[i].key);
		strbuf_putc(&line, '=');
		log_escape_value(&line, fields[i].value, strlen(fields[i].value));
	}
	if (msgid != NULL)
		strbuf_printf(&line, " message_id=%s", msgid);
	strbuf_putc(&line, '\n');

	if (!strbuf_failed(&line)) {
		/* One write(2) per line so concurrent writers never interleave. */
		ssize_t w = write(STDERR_FILENO, line.buf, line.len);
		(void)w;
	}
	(void)log_ident;
	strbuf_free(&msg);
	strbuf_free(&line);
}

void
log_struct(int prio, const char *msgid, const struct log_field *fields,
    size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_structv(prio, msgid, fields, n, fmt, ap);
	va_end(ap);
}
