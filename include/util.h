/*
 * util.h: small helpers shared by every module: clocks, a growable string
 * buffer, strict number/duration/size parsing, base64.
 *
 * Conventions (whole project): functions return 0 on success or a negative
 * errno on failure; out-parameters are written only on success.
 */
#ifndef KCM_UTIL_H
#define KCM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define KCM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KCM_PRINTF(a, b)
#endif

/* CLOCK_MONOTONIC in microseconds: every deadline and duration uses it. */
uint64_t now_usec(void);
/* CLOCK_REALTIME as seconds since the epoch, for *_timestamp_seconds. */
double realtime_seconds(void);

struct timeval;
/* The one microseconds -> struct timeval conversion (libevent timers). */
void	 usec_to_timeval(uint64_t usec, struct timeval *ret);
struct event;
/*
 * Runs the timer ev on the next turn of the loop: a zero timeout, not
 * event_active(), because timers run after the loop has polled, so what
 * is ready (a scrape) goes first.  evtimer_add()'s result.
 */
int	 event_next_turn(struct event *ev);

/*
 * A growable, always NUL-terminated byte buffer.  After the first allocation
 * failure every later append is a no-op and strbuf_failed() is true, so a
 * caller can build a whole document and check once at the end.
 */
struct strbuf {
	char	*buf;	/* NULL until the first append */
	size_t	 len;
	size_t	 cap;
	bool	 failed;
};

void	 strbuf_init(struct strbuf *sb);
void	 strbuf_free(struct strbuf *sb);	/* frees buf, re-inits */
void	 strbuf_reset(struct strbuf *sb);	/* len = 0, keeps memory */
int	 strbuf_append(struct strbuf *sb, const void *data, size_t len);
int	 strbuf_puts(struct strbuf *sb, const char *s);
int	 strbuf_putc(struct strbuf *sb, char c);
int	 strbuf_printf(struct strbuf *sb, const char *fmt, ...) KCM_PRINTF(2, 3);
int	 strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap);
/* "" when nothing was appended; never NULL. */
const char *strbuf_str(const struct strbuf *sb);
/* Room for extra more bytes without a reallocation; 0 or -ENOMEM (failed). */
int	 strbuf_reserve(struct strbuf *sb, size_t extra);
/* Hands the heap buffer to the caller (never NULL unless failed) and re-inits. */
char	*strbuf_steal(struct strbuf *sb);
static inline bool strbuf_failed(const struct strbuf *sb) { return sb->failed; }

/*
 * Strict parsers for configuration values.  No leading/trailing space, no
 * sign, no overflow.
 *   parse_uint64("42")
 *   parse_duration("30s" | "5m" | "1h" | "1h30m" | "250ms" | "2d") -> usec;
 *     a bare number without unit is rejected; "0s" is allowed (callers
 *     check ranges).
 *   parse_size("64MiB" | "10MB" | "512KiB" | "1GiB" | "1000" | "100B") -> bytes;
 *     decimal units (kB, KB, MB, GB) are powers of 1000, binary (KiB, MiB,
 *     GiB) powers of 1024.
 */
int	 parse_uint64(const char *s, uint64_t *ret);
int	 parse_duration(const char *s, uint64_t *ret_usec);
int	 parse_size(const char *s, uint64_t *ret_bytes);

/*
 * a + b, or UINT64_MAX when the sum does not fit: for counters fed by
 * another program (Elasticsearch doc_count), which must stick at the top
 * rather than wrap to a small number.
 */
uint64_t sat_add_u64(uint64_t a, uint64_t b);

/* Formats a duration as the shortest of "250ms", "30s", "5m", "1h30m". */
void	 format_duration(uint64_t usec, char *buf, size_t bufsz);

/*
 * The one URL encoder: appends s with every byte percent-encoded (%XX,
 * upper-case hex) except ASCII letters, digits and the bytes in `keep`
 * (e.g. "-._~" for RFC 3986 unreserved characters).
 */
int	 strbuf_put_urlencoded(struct strbuf *sb, const char *s, const char *keep);

/* Standard base64 (RFC 4648, with padding).  Returns a heap string or NULL. */
char	*base64_encode(const void *data, size_t len);

/*
 * Length (1-4) of the well-formed UTF-8 sequence at s (avail > 0 bytes), or
 * 0 with *skip set to the length of the maximal invalid subpart, which a
 * repair replaces by one U+FFFD.  Rejects overlongs, encoded surrogates,
 * code points above U+10FFFF, truncated sequences and stray continuation
 * bytes.  NUL is a valid one-byte sequence here.
 */
size_t	 utf8_sequence(const unsigned char *s, size_t avail, size_t *skip);

/* Both NULL, or both strings and equal. */
bool	 str_equal_null(const char *a, const char *b);

/*
 * Opens a file the configuration names, for reading, without blocking on it
 * (O_NONBLOCK: a FIFO, terminal or device named by mistake cannot stall the
 * caller) and checks that it is a regular file.  Returns 0 and *ret_fd (and
 * *ret_st unless NULL), or a negative errno: open()'s or fstat()'s, -EISDIR
 * for a directory, -EBADFD for any other kind of file.  Reads from the fd
 * never block: it is a regular file.
 */
struct stat;
int	 open_regular(const char *path, int *ret_fd, struct stat *ret_st);
/*
 * Reads a file opened with open_regular() whole, at most max bytes: 0,
 * *ret (NUL-terminated, to free) and *ret_len, or -EFBIG (larger than
 * max), -ENOMEM or read()'s -errno.  What it read is wiped on failure (it
 * may be a key).  The caller closes fd.
 */
int	 read_regular(int fd, size_t max, char **ret, size_t *ret_len);
/*
 * The absolute directory of path (relative: against the working
 * directory) in *ret, to free.  0 or -errno.
 */
int	 path_dirname(const char *path, char **ret);

#endif /* KCM_UTIL_H */
