/*
 * log.c: structured log lines.  Two sinks: logfmt on stderr (every value
 * escaped), or the journal through sd_journal_sendv() with one field per
 * log_field.  Journal entries go through a bounded queue drained by one
 * writer thread: sd_journal_sendv() blocks when journald stops reading its
 * socket (the datagram queue fills after ~10 entries), and the event loop
 * must never wait for it.  When the queue is full the entry is dropped and
 * counted (log_dropped()).
 */
#include <sys/stat.h>
#include <sys/uio.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

static int log_level = LOG_INFO;
static const char *log_ident = "kibana-connector-monitor";
static int log_target = LOG_TARGET_STDERR;	/* resolved: journal or stderr */

/* One queued journal entry: niov iovecs pointing into data[]. */
struct jentry {
	struct jentry	*next;
	size_t		 niov;
	struct iovec	*iov;
	char		 data[];
};

static pthread_mutex_t jq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jq_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t jq_idle = PTHREAD_COND_INITIALIZER;
static struct jentry *jq_head, *jq_tail;
static size_t jq_len;
static bool jq_busy;		/* the writer is inside sd_journal_sendv() */
static bool jq_stop;
static bool jq_started;
static pthread_t jq_thread;
static atomic_uint_fast64_t jq_dropped;

static const char *const log_targets[] = {
	[LOG_TARGET_AUTO] = "auto",
	[LOG_TARGET_JOURNAL] = "journal",
	[LOG_TARGET_STDERR] = "stderr",
};

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
	log_set_target(LOG_TARGET_AUTO);
}

int
log_target_from_string(const char *s)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(log_targets); i++)
		if (strcmp(s, log_targets[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *
log_target_to_string(int t)
{
	if (t < 0 || (size_t)t >= ELEMENTSOF(log_targets))
		return "stderr";
	return log_targets[t];
}

/* sd-daemon convention: JOURNAL_STREAM="DEV:INODE" of our stderr. */
static bool
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (e == NULL || sscanf(e, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    e[end] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

int
log_set_target(int t)
{
	if (t == LOG_TARGET_AUTO)
		t = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
	if (t != LOG_TARGET_JOURNAL && t != LOG_TARGET_STDERR)
		return -EINVAL;
	log_target = t;
	return 0;
}

int
log_get_target(void)
{
	return log_target;
}

uint64_t
log_dropped(void)
{
	return (uint64_t)atomic_load(&jq_dropped);
}

static void *
jq_writer(void *arg)
{
	struct jentry *e;

	(void)arg;
	pthread_mutex_lock(&jq_lock);
	for (;;) {
		while (jq_head == NULL && !jq_stop)
			pthread_cond_wait(&jq_nonempty, &jq_lock);
		if (jq_head == NULL)
			break;
		e = jq_head;
		jq_head = e->next;
		if (jq_head == NULL)
			jq_tail = NULL;
		jq_len--;
		jq_busy = true;
		pthread_mutex_unlock(&jq_lock);
		/* May block for as long as journald does not read. */
		(void)sd_journal_sendv(e->iov, (int)e->niov);
		free(e);
		pthread_mutex_lock(&jq_lock);
		jq_busy = false;
		if (jq_head == NULL)
			pthread_cond_broadcast(&jq_idle);
	}
	pthread_mutex_unlock(&jq_lock);
	return NULL;
}

/* Called with jq_lock held. */
static int
jq_start_locked(void)
{
	sigset_t all, old;
	int r;

	if (jq_started)
		return 0;
	/* Signals stay with the main thread (libevent handles them). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&jq_thread, NULL, jq_writer, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	jq_started = true;
	return 0;
}

/* Queues e (taking it) or drops it; never blocks on journald. */
static int
jq_push(struct jentry *e)
{
	int r = 0;

	pthread_mutex_lock(&jq_lock);
	if (jq_stop || (r = jq_start_locked()) < 0) {
		pthread_mutex_unlock(&jq_lock);
		free(e);
		return r < 0 ? r : -ESHUTDOWN;
	}
	if (jq_len >= LOG_JOURNAL_QUEUE_MAX) {
		pthread_mutex_unlock(&jq_lock);
		free(e);
		atomic_fetch_add(&jq_dropped, 1);
		return 0;
	}
	e->next = NULL;
	if (jq_tail != NULL)
		jq_tail->next = e;
	else
		jq_head = e;
	jq_tail = e;
	jq_len++;
	pthread_cond_signal(&jq_nonempty);
	pthread_mutex_unlock(&jq_lock);
	return 0;
}

void
log_fini(uint64_t timeout_usec)
{
	struct timespec deadline;
	struct jentry *e;
	bool drained;

	pthread_mutex_lock(&jq_lock);
	if (!jq_started) {
		jq_stop = true;
		pthread_mutex_unlock(&jq_lock);
		log_target = LOG_TARGET_STDERR;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(timeout_usec / 1000000);
	deadline.tv_nsec += (long)(timeout_usec % 1000000) * 1000;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while ((jq_head != NULL || jq_busy) &&
	    pthread_cond_timedwait(&jq_idle, &jq_lock, &deadline) == 0)
		;
	drained = jq_head == NULL && !jq_busy;
	/* Whatever is still queued is dropped (and freed). */
	while ((e = jq_head) != NULL) {
		jq_head = e->next;
		free(e);
		atomic_fetch_add(&jq_dropped, 1);
	}
	jq_tail = NULL;
	jq_len = 0;
	jq_stop = true;
	pthread_cond_broadcast(&jq_nonempty);
	pthread_mutex_unlock(&jq_lock);
	if (drained)
		pthread_join(jq_thread, NULL);
	else
		pthread_detach(jq_thread);	/* stuck in sendmsg: abandon it */
	jq_started = false;
	log_target = LOG_TARGET_STDERR;
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

int
log_escape_value(struct strbuf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	bool bare = len > 0;
	size_t i, n, skip;

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
		n = utf8_sequence(p + i, len - i, &skip);
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

/*
 * A journal field name: [A-Z0-9_], not starting with '_' (trusted fields)
 * or a digit, at most 64 bytes; the names log.c itself sets are reserved.
 */
static bool
journal_key_ok(const char *key)
{
	static const char *const reserved[] = { "MESSAGE", "MESSAGE_ID",
	    "PRIORITY", "SYSLOG_IDENTIFIER" };
	size_t i, n = strlen(key);

	if (n == 0 || n > 64 || key[0] == '_' || (key[0] >= '0' && key[0] <= '9'))
		return false;
	for (i = 0; i < n; i++)
		if (!((key[i] >= 'A' && key[i] <= 'Z') ||
		    (key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
			return false;
	for (i = 0; i < ELEMENTSOF(reserved); i++)
		if (strcmp(key, reserved[i]) == 0)
			return false;
	return true;
}

/*
 * Builds one entry of "KEY=value" iovecs.  Values go in verbatim: for a
 * value holding a newline sd_journal_sendv() switches to the binary
 * length-prefixed encoding, so no value can end a field or forge another.
 */
static struct jentry *
journal_entry(int prio, const char *msgid, const struct log_field *fields,
    size_t n, const char *msg, size_t msglen)
{
	struct jentry *e;
	char pbuf[16];
	size_t niov = 3, bytes, i, off;
	const char *k[4];
	const char *v[4];
	size_t vl[4];

	snprintf(pbuf, sizeof(pbuf), "%d", prio);
	k[0] = "PRIORITY", v[0] = pbuf, vl[0] = strlen(pbuf);
	k[1] = "SYSLOG_IDENTIFIER", v[1] = log_ident, vl[1] = strlen(log_ident);
	k[2] = "MESSAGE", v[2] = msg, vl[2] = msglen;
	if (msgid != NULL) {
		k[3] = "MESSAGE_ID", v[3] = msgid, vl[3] = strlen(msgid);
		niov++;
	}
	bytes = 0;
	for (i = 0; i < niov; i++)
		bytes += strlen(k[i]) + 1 + vl[i];
	for (i = 0; i < n; i++) {
		if (fields[i].key == NULL || fields[i].value == NULL ||
		    !journal_key_ok(fields[i].key))
			continue;
		bytes += strlen(fields[i].key) + 1 + strlen(fields[i].value);
		niov++;
	}
	e = malloc(sizeof(*e) + niov * sizeof(struct iovec) + bytes);
	if (e == NULL)
		return NULL;
	e->next = NULL;
	e->niov = 0;
	e->iov = (struct iovec *)(void *)e->data;
	off = niov * sizeof(struct iovec);
#define PUT(key, val, len) do {						\
		size_t kl_ = strlen(key);				\
		char *d_ = e->data + off;				\
		memcpy(d_, (key), kl_);					\
		d_[kl_] = '=';						\
		memcpy(d_ + kl_ + 1, (val), (len));			\
		e->iov[e->niov].iov_base = d_;				\
		e->iov[e->niov].iov_len = kl_ + 1 + (len);		\
		e->niov++;						\
		off += kl_ + 1 + (len);					\
	} while (0)
	for (i = 0; i < (msgid != NULL ? 4u : 3u); i++)
		PUT(k[i], v[i], vl[i]);
	for (i = 0; i < n; i++) {
		if (fields[i].key == NULL || fields[i].value == NULL ||
		    !journal_key_ok(fields[i].key))
			continue;
		PUT(fields[i].key, fields[i].value, strlen(fields[i].value));
	}
#undef PUT
	return e;
}

static void
log_stderr(int prio, const char *msgid, const struct log_field *fields,
    size_t n, const char *msg, size_t msglen)
{
	struct strbuf line;
	struct timespec ts;
	struct tm tm;
	char tbuf[64];
	size_t i;

	strbuf_init(&line);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	strbuf_printf(&line, "time=%s.%03ldZ level=%s msg=", tbuf,
	    ts.tv_nsec / 1000000, log_level_to_string(prio));
	log_escape_value(&line, msg, msglen);
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
	strbuf_free(&line);
}

void
log_structv(int prio, const char *msgid, const struct log_field *fields,
    size_t n, const char *fmt, va_list ap)
{
	struct jentry *e;
	struct strbuf msg;

	if (prio > log_level)
		return;

	strbuf_init(&msg);
	strbuf_vprintf(&msg, fmt, ap);
	if (strbuf_failed(&msg)) {
		strbuf_free(&msg);
		return;
	}
	if (log_target == LOG_TARGET_JOURNAL) {
		e = journal_entry(prio, msgid, fields, n, strbuf_str(&msg),
		    msg.len);
		if (e != NULL && jq_push(e) == 0) {
			strbuf_free(&msg);
			return;
		}
		/* No memory or no thread: fall back to stderr. */
	}
	log_stderr(prio, msgid, fields, n, strbuf_str(&msg), msg.len);
	strbuf_free(&msg);
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
