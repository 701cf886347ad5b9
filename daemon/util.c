/*
 * util.c: clocks, the string buffer, strict parsers, base64, opening and
 * reading regular files.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "util.h"

uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

double
realtime_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
usec_to_timeval(uint64_t usec, struct timeval *ret)
{
	ret->tv_sec = (time_t)(usec / USEC_PER_SEC);
	ret->tv_usec = (suseconds_t)(usec % USEC_PER_SEC);
}

int
event_next_turn(struct event *ev)
{
	static const struct timeval now = { 0, 0 };

	return evtimer_add(ev, &now);
}

void
strbuf_init(struct strbuf *sb)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->failed = false;
}

void
strbuf_free(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb);
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->failed = false;
	if (sb->buf != NULL)
		sb->buf[0] = '\0';
}

int
strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need, ncap;
	char *n;

	if (sb->failed)
		return -ENOMEM;
	if (extra > SIZE_MAX - sb->len - 1)
		goto fail;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return 0;
	ncap = sb->cap ? sb->cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	n = realloc(sb->buf, ncap);
	if (n == NULL)
		goto fail;
	sb->buf = n;
	sb->cap = ncap;
	return 0;
fail:
	sb->failed = true;
	return -ENOMEM;
}

int
strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
	if (strbuf_reserve(sb, len) < 0)
		return -ENOMEM;
	if (len > 0)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return 0;
}

int
strbuf_puts(struct strbuf *sb, const char *s)
{
	return strbuf_append(sb, s, strlen(s));
}

int
strbuf_putc(struct strbuf *sb, char c)
{
	return strbuf_append(sb, &c, 1);
}

int
strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (sb->failed)
		return -ENOMEM;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		sb->failed = true;
		return -EINVAL;
	}
	if (strbuf_reserve(sb, (size_t)n) < 0)
		return -ENOMEM;
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
	return 0;
}

int
strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = strbuf_vprintf(sb, fmt, ap);
	va_end(ap);
	return r;
}

const char *
strbuf_str(const struct strbuf *sb)
{
	return sb->buf != NULL ? sb->buf : "";
}

char *
strbuf_steal(struct strbuf *sb)
{
	char *s;

	if (sb->failed) {
		strbuf_free(sb);
		return NULL;
	}
	s = sb->buf != NULL ? sb->buf : strdup("");
	strbuf_init(sb);
	return s;
}

int
parse_uint64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

uint64_t
sat_add_u64(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Reads leading digits; returns the number of characters consumed. */
static size_t
scan_digits(const char *s, uint64_t *ret, bool *overflow)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			*overflow = true;
		else
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return i;
}

int
parse_duration(const char *s, uint64_t *ret_usec)
{
	static const struct {
		const char *unit;
		uint64_t usec;
	} units[] = {
		{ "ms", USEC_PER_MSEC },
		{ "s", USEC_PER_SEC },
		{ "m", 60 * USEC_PER_SEC },
		{ "h", 3600 * USEC_PER_SEC },
		{ "d", 86400 * USEC_PER_SEC },
	};
	uint64_t total = 0, n;
	bool overflow = false;
	size_t k, len;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	while (*s != '\0') {
		len = scan_digits(s, &n, &overflow);
		if (len == 0 || overflow)
			return overflow ? -ERANGE : -EINVAL;
		s += len;
		for (k = 0; k < ELEMENTSOF(units); k++) {
			size_t ul = strlen(units[k].unit);

			if (strncmp(s, units[k].unit, ul) == 0 &&
			    (s[ul] == '\0' || (s[ul] >= '0' && s[ul] <= '9')))
				break;
		}
		if (k == ELEMENTSOF(units))
			return -EINVAL;
		if (n > UINT64_MAX / units[k].usec ||
		    total > UINT64_MAX - n * units[k].usec)
			return -ERANGE;
		total += n * units[k].usec;
		s += strlen(units[k].unit);
	}
	*ret_usec = total;
	return 0;
}

void
format_duration(uint64_t usec, char *buf, size_t bufsz)
{
	uint64_t h, m, s;

	if (usec % USEC_PER_SEC != 0 || usec == 0) {
		snprintf(buf, bufsz, "%llums",
		    (unsigned long long)(usec / USEC_PER_MSEC));
		return;
	}
	s = usec / USEC_PER_SEC;
	h = s / 3600;
	m = (s % 3600) / 60;
	s %= 60;
	if (h > 0 && m == 0 && s == 0)
		snprintf(buf, bufsz, "%lluh", (unsigned long long)h);
	else if (h > 0 && s == 0)
		snprintf(buf, bufsz, "%lluh%llum", (unsigned long long)h,
		    (unsigned long long)m);
	else if (h == 0 && m > 0 && s == 0)
		snprintf(buf, bufsz, "%llum", (unsigned long long)m);
	else
		snprintf(buf, bufsz, "%llus", (unsigned long long)(usec / USEC_PER_SEC));
}

int
parse_size(const char *s, uint64_t *ret_bytes)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
		{ "", 1 }, { "B", 1 },
		{ "kB", 1000 }, { "KB", 1000 }, { "MB", 1000000 },
		{ "GB", 1000000000 },
		{ "KiB", 1024 }, { "MiB", 1024 * 1024 },
		{ "GiB", UINT64_C(1024) * 1024 * 1024 },
	};
	uint64_t n;
	bool overflow = false;
	size_t len, k;

	if (s == NULL)
		return -EINVAL;
	len = scan_digits(s, &n, &overflow);
	if (len == 0)
		return -EINVAL;
	if (overflow)
		return -ERANGE;
	for (k = 0; k < ELEMENTSOF(units); k++)
		if (strcmp(s + len, units[k].unit) == 0)
			break;
	if (k == ELEMENTSOF(units))
		return -EINVAL;
	if (n > UINT64_MAX / units[k].mult)
		return -ERANGE;
	*ret_bytes = n * units[k].mult;
	return 0;
}

bool
str_equal_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int
strbuf_put_urlencoded(struct strbuf *sb, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr(keep, *p) != NULL)
			strbuf_putc(sb, (char)*p);
		else {
			strbuf_putc(sb, '%');
			strbuf_putc(sb, hex[*p >> 4]);
			strbuf_putc(sb, hex[*p & 15]);
		}
	}
	return strbuf_failed(sb) ? -ENOMEM : 0;
}

char *
base64_encode(const void *data, size_t len)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i, o = 0;
	char *out;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = malloc((len + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = tbl[p[i] >> 2];
		out[o++] = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		out[o++] = tbl[p[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = tbl[p[i] >> 2];
		if (i + 1 < len) {
			out[o++] = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			out[o++] = tbl[(p[i + 1] & 15) << 2];
		} else {
			out[o++] = tbl[(p[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

int
open_regular(const char *path, int *ret_fd, struct stat *ret_st)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
	}
	*ret_fd = fd;
	if (ret_st != NULL)
		*ret_st = st;
	return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at s (1-4), or 0 with *skip set
 * to the length of the maximal invalid subpart to replace by one U+FFFD.
 */
size_t
utf8_sequence(const unsigned char *s, size_t avail, size_t *skip)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, k;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* encoded surrogate */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		*skip = 1;	/* continuation, C0, C1 or F5-FF lead byte */
		return 0;
	}
	for (k = 1; k <= need; k++) {
		if (k >= avail || s[k] < lo || s[k] > hi) {
			*skip = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

int
read_regular(int fd, size_t max, char **ret, size_t *ret_len)
{
	struct strbuf sb;
	char chunk[8192];
	ssize_t k;
	int r = 0;

	strbuf_init(&sb);
	for (;;) {
		k = read(fd, chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		if (sb.len + (size_t)k > max) {
			r = -EFBIG;
			break;
		}
		if (strbuf_append(&sb, chunk, (size_t)k) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	if (r == 0) {
		size_t len = sb.len;
		char *buf = strbuf_steal(&sb);

		if (buf == NULL)
			return -ENOMEM;
		*ret = buf;
		*ret_len = len;
		return 0;
	}
	if (sb.buf != NULL)
		explicit_bzero(sb.buf, sb.len);
	strbuf_free(&sb);
	return r;
}

int
path_dirname(const char *path, char **ret)
{
	const char *slash = strrchr(path, '/');
	struct strbuf sb;
	char *cwd;

	if (slash == path)
		return (*ret = strdup("/")) != NULL ? 0 : -ENOMEM;
	if (slash != NULL && path[0] == '/')
		return (*ret = strndup(path, (size_t)(slash - path))) != NULL ?
		    0 : -ENOMEM;
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return -errno;
	strbuf_init(&sb);
	strbuf_puts(&sb, cwd);
	free(cwd);
	if (slash != NULL) {
		if (sb.len == 0 || sb.buf[sb.len - 1] != '/')
			strbuf_putc(&sb, '/');
		strbuf_append(&sb, path, (size_t)(slash - path));
	}
	*ret = strbuf_steal(&sb);
	return *ret != NULL ? 0 : -ENOMEM;
}
