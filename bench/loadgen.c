/*
 * loadgen: an open-loop HTTP/1.1 load client with latencies corrected for
 * coordinated omission.
 *
 *	loadgen HOST:PORT PATH RATE CONNECTIONS SECONDS [HEADER ...]
 *
 * Request i (i = 0, 1, ...) is scheduled at start + i / RATE and goes to
 * connection i % CONNECTIONS, a kept-alive connection.  A connection sends
 * its next request at its scheduled time, or as soon as its previous answer
 * is complete if that is later; there is no pipelining.  The latency of a
 * request is the time its answer was fully read minus its scheduled time,
 * so a server that stalls is charged for every request that should have
 * been sent during the stall, not only for the one that waited.
 *
 * Answers must carry a Content-Length (chunked answers are refused).  A
 * server that closes after an answer (Connection: close, or HTTP/1.0
 * without keep-alive) gets a new connection before the next request.
 *
 * One line on stdout:
 *	requests=N p50=X p90=X p99=X p999=X max=X bytes_per_answer=B
 * latencies in ms (nearest-rank percentiles of all requests), B the bytes
 * read per answer, header included.  Exit 1, with the reason on stderr, on
 * any connect, read or parse error, on any answer other than 200, and when
 * the client itself fell behind: more than 1% of the requests sent over 1 s
 * late for the client's own sake (over 1 s after their connection was free
 * to send them, or due while the client's loop was stalled over 1 s).  A
 * server that is slow to answer is not the client falling behind: that is
 * what the latencies show.
 *
 * Build: cc -O2 -Wall -Wextra -std=c11 -D_POSIX_C_SOURCE=200809L loadgen.c
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX	16384		/* status line and headers */
#define LATE_NS		1000000000LL	/* a send this late is the client's */
#define GRACE_NS	60000000000LL	/* answers may trail the schedule */
#define NAP_NS		100000L		/* sub-millisecond wait step */
#define CONN_MAX	1000
#define REQ_MAX		100000000L

enum state { IDLE, SENDING, READING };

struct conn {
	int		 fd;
	enum state	 state;
	long		 next;		/* index of its next request */
	int64_t		 sched;		/* scheduled time of the one in flight */
	int64_t		 ready;		/* when it was last free to send */
	size_t		 sent;		/* request bytes written */
	int		 inbody;	/* header parsed, reading the body */
	uint64_t	 bodyleft;
	int		 status;
	int		 closing;	/* the server closes after this answer */
	size_t		 headlen;
	char		 head[HEAD_MAX];
};

static struct addrinfo	*addrs;
static const char	*target;
static char		*req;
static size_t		 reqlen;
static double		 rate;
static int64_t		 start;
static int64_t		*lat;
static long		 done, late, bad;
static int		 firstbad;
static uint64_t		 nread;
static char		 scratch[65536];

static void
fatal(int with_errno, const char *fmt, ...)
{
	int	 saved = errno;
	va_list	 ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	exit(1);
}

static void
usage(void)
{
	fputs("usage: loadgen HOST:PORT PATH RATE CONNECTIONS SECONDS "
	    "[HEADER ...]\n", stderr);
	exit(1);
}

static int64_t
now_ns(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal(1, "clock_gettime");
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
sched_of(long i)
{
	return start + (int64_t)((double)i * 1e9 / rate);
}

/* How many requests are scheduled at or before t. */
static long
due_by(int64_t t, long n)
{
	long	k;

	if (t < start)
		return 0;
	k = (long)((double)(t - start) * rate / 1e9) + 1;
	return k < n ? k : n;
}

static double
number(const char *s, const char *what)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0)
		fatal(0, "%s must be a positive number: %s", what, s);
	return v;
}

/* HOST:PORT, HOST an IPv4 address or name, or [IPv6]:PORT. */
static void
resolve(const char *arg)
{
	struct addrinfo	 hints;
	char		*host, *port, *p;
	int		 e;

	if ((host = strdup(arg)) == NULL)
		fatal(1, "strdup");
	if (host[0] == '[') {
		if ((p = strchr(host, ']')) == NULL || p[1] != ':')
			fatal(0, "bad address (want [IPv6]:PORT): %s", arg);
		*p = '\0';
		port = p + 2;
		host++;
	} else {
		if ((p = strrchr(host, ':')) == NULL)
			fatal(0, "bad address (want HOST:PORT): %s", arg);
		*p = '\0';
		port = p + 1;
		if (strchr(host, ':') != NULL)
			fatal(0, "an IPv6 address needs brackets: %s", arg);
	}
	if (*host == '\0' || *port == '\0')
		fatal(0, "bad address (want HOST:PORT): %s", arg);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &addrs)) != 0)
		fatal(0, "resolve %s: %s", arg, gai_strerror(e));
}

/* A blocking connect, then non-blocking from there on. */
static void
conn_open(struct conn *c, int id)
{
	struct addrinfo	*ai;
	int		 fd = -1, on = 1, fl;

	errno = 0;
	for (ai = addrs; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		fatal(1, "connect %s (connection %d)", target, id);
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		fatal(1, "setsockopt TCP_NODELAY");
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal(1, "fcntl O_NONBLOCK");
	c->fd = fd;
}

static void
conn_send(struct conn *c, int id)
{
	ssize_t	w;

	while (c->sent < reqlen) {
		w = send(c->fd, req + c->sent, reqlen - c->sent, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			fatal(1, "send on connection %d", id);
		}
		c->sent += (size_t)w;
	}
	c->state = READING;
	c->headlen = 0;
	c->inbody = 0;
}

static void
conn_start(struct conn *c, int id, int64_t sched, int64_t now)
{
	int64_t	free_at = sched > c->ready ? sched : c->ready;

	if (now - free_at > LATE_NS)
		late++;
	if (c->fd == -1)
		conn_open(c, id);
	c->sched = sched;
	c->sent = 0;
	c->state = SENDING;
	conn_send(c, id);
}

/* The next line in [p, end), without its CRLF; NULL at the end. */
static char *
line(char *p, char *end, size_t *len)
{
	char	*q;

	for (q = p; q + 1 < end; q++)
		if (q[0] == '\r' && q[1] == '\n') {
			*len = (size_t)(q - p);
			return p;
		}
	return NULL;
}

static int
is_value(const char *v, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(v, want, len) == 0;
}

/* Parses the header of length hlen (its final CRLF CRLF included). */
static void
parse_head(struct conn *c, int id, size_t hlen)
{
	char		*p, *end = c->head + hlen, *name, *v, *colon;
	size_t		 len, vlen, i;
	uint64_t	 clen = 0;
	int		 haveclen = 0, keepalive = 0, closing = 0, http10;

	p = c->head;
	if ((p = line(p, end, &len)) == NULL || len < 12 ||
	    strncmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5' ||
	    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
	    (len > 12 && p[12] != ' '))
		fatal(0, "parse: bad status line on connection %d", id);
	http10 = p[7] == '0';
	c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	p += len + 2;
	while ((name = line(p, end, &len)) != NULL && len > 0) {
		p += len + 2;
		if ((colon = memchr(name, ':', len)) == NULL || colon == name)
			fatal(0, "parse: bad header line on connection %d",
			    id);
		v = colon + 1;
		vlen = len - (size_t)(v - name);
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		len = (size_t)(colon - name);
		if (is_value(name, len, "content-length")) {
			if (vlen == 0 || vlen > 15)
				fatal(0, "parse: bad Content-Length on "
				    "connection %d", id);
			clen = 0;
			for (i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					fatal(0, "parse: bad Content-Length on "
					    "connection %d", id);
				clen = clen * 10 + (uint64_t)(v[i] - '0');
			}
			if (haveclen && clen != c->bodyleft)
				fatal(0, "parse: two Content-Lengths on "
				    "connection %d", id);
			haveclen = 1;
			c->bodyleft = clen;
		} else if (is_value(name, len, "transfer-encoding"))
			fatal(0, "parse: Transfer-Encoding answer on "
			    "connection %d (chunked is not supported; "
			    "Content-Length is required)", id);
		else if (is_value(name, len, "connection")) {
			if (is_value(v, vlen, "close"))
				closing = 1;
			else if (is_value(v, vlen, "keep-alive"))
				keepalive = 1;
		}
	}
	if (name == NULL)
		fatal(0, "parse: header not terminated on connection %d", id);
	if (!haveclen)
		fatal(0, "parse: answer without Content-Length on "
		    "connection %d (status %d)", id, c->status);
	c->closing = closing || (http10 && !keepalive);
}

static void
conn_done(struct conn *c, int nconn)
{
	int64_t	t = now_ns();

	lat[done++] = t - c->sched;
	if (c->status != 200 && bad++ == 0)
		firstbad = c->status;
	c->ready = t;
	c->next += nconn;
	c->state = IDLE;
	if (c->closing) {
		if (close(c->fd) == -1)
			fatal(1, "close");
		c->fd = -1;
	}
}

/* The header end in head[0, headlen), or 0. */
static size_t
head_end(const struct conn *c)
{
	size_t	i;

	for (i = 0; i + 3 < c->headlen; i++)
		if (memcmp(c->head + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

static void
conn_read(struct conn *c, int id, int nconn)
{
	ssize_t	r;
	size_t	want, hlen, extra;

	for (;;) {
		if (!c->inbody)
			r = read(c->fd, c->head + c->headlen,
			    sizeof(c->head) - c->headlen);
		else {
			want = sizeof(scratch);
			if (c->bodyleft < want)
				want = (size_t)c->bodyleft;
			r = read(c->fd, scratch, want);
		}
		if (r == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			fatal(1, "read on connection %d", id);
		}
		if (r == 0)
			fatal(0, "read: connection %d closed by the server "
			    "before the answer was complete", id);
		nread += (uint64_t)r;
		if (!c->inbody) {
			c->headlen += (size_t)r;
			if ((hlen = head_end(c)) == 0) {
				if (c->headlen == sizeof(c->head))
					fatal(0, "parse: header over %d bytes "
					    "on connection %d", HEAD_MAX, id);
				continue;
			}
			parse_head(c, id, hlen);
			extra = c->headlen - hlen;
			if (extra > c->bodyleft)
				fatal(0, "parse: more bytes than the "
				    "Content-Length on connection %d", id);
			c->bodyleft -= extra;
			c->inbody = 1;
		} else
			c->bodyleft -= (uint64_t)r;
		if (c->bodyleft == 0) {
			conn_done(c, nconn);
			return;
		}
	}
}

static int
cmp_lat(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least pm per mille at or below. */
static double
pct(long n, long pm)
{
	long	rank = (n * pm + 999) / 1000;

	if (rank < 1)
		rank = 1;
	return (double)lat[rank - 1] / 1e6;
}

static void
build_request(const char *path, int nhdr, char **hdr)
{
	size_t	len, off;
	int	i, w;

	if (path[0] != '/' || strpbrk(path, " \r\n") != NULL)
		fatal(0, "PATH must start with / and hold no space: %s", path);
	len = strlen(path) + strlen(target) + 64;
	for (i = 0; i < nhdr; i++) {
		if (strpbrk(hdr[i], "\r\n") != NULL || strchr(hdr[i], ':') ==
		    NULL)
			fatal(0, "bad HEADER (want \"Name: value\"): %s",
			    hdr[i]);
		len += strlen(hdr[i]) + 2;
	}
	if ((req = malloc(len)) == NULL)
		fatal(1, "malloc");
	w = snprintf(req, len, "GET %s HTTP/1.1\r\nHost: %s\r\n", path,
	    target);
	if (w < 0 || (size_t)w >= len)
		fatal(0, "request too long");
	off = (size_t)w;
	for (i = 0; i < nhdr; i++) {
		w = snprintf(req + off, len - off, "%s\r\n", hdr[i]);
		if (w < 0 || (size_t)w >= len - off)
			fatal(0, "request too long");
		off += (size_t)w;
	}
	w = snprintf(req + off, len - off, "\r\n");
	if (w < 0 || (size_t)w >= len - off)
		fatal(0, "request too long");
	reqlen = off + (size_t)w;
}

int
main(int argc, char *argv[])
{
	struct conn	*conns;
	struct pollfd	*pfd;
	struct timespec	 ts;
	double		 seconds;
	char		*end;
	int64_t		 t, t2, s, wake, deadline, nap, expect;
	long		 n, nc;
	int		 nconn, i, timeout, ready;

	if (argc < 6)
		usage();
	target = argv[1];
	resolve(argv[1]);
	rate = number(argv[3], "RATE");
	errno = 0;
	nc = strtol(argv[4], &end, 10);
	if (end == argv[4] || *end != '\0' || errno != 0 || nc < 1 ||
	    nc > CONN_MAX)
		fatal(0, "CONNECTIONS must be a whole number from 1 to %d: %s",
		    CONN_MAX, argv[4]);
	nconn = (int)nc;
	seconds = number(argv[5], "SECONDS");
	if (rate * seconds < 1 || rate * seconds > REQ_MAX)
		fatal(0, "RATE * SECONDS must be between 1 and %ld", REQ_MAX);
	n = (long)(rate * seconds);
	build_request(argv[2], argc - 6, argv + 6);

	if ((lat = calloc((size_t)n, sizeof(*lat))) == NULL ||
	    (conns = calloc((size_t)nconn, sizeof(*conns))) == NULL ||
	    (pfd = calloc((size_t)nconn, sizeof(*pfd))) == NULL)
		fatal(1, "calloc");
	for (i = 0; i < nconn; i++) {
		conns[i].fd = -1;
		conns[i].state = IDLE;
		conns[i].next = i;
		conn_open(&conns[i], i);
	}

	start = now_ns();
	deadline = sched_of(n - 1) + GRACE_NS;
	while (done < n) {
		t = now_ns();
		if (t > deadline)
			fatal(0, "timeout: %ld of %ld answers missing %lld s "
			    "after the last scheduled send", n - done, n,
			    (long long)(GRACE_NS / 1000000000));
		wake = deadline;
		for (i = 0; i < nconn; i++) {
			if (conns[i].state != IDLE || conns[i].next >= n)
				continue;
			s = sched_of(conns[i].next);
			if (s <= t)
				conn_start(&conns[i], i, s, t);
			else if (s < wake)
				wake = s;
		}
		for (i = 0; i < nconn; i++) {
			pfd[i].fd = conns[i].state == IDLE ? -1 : conns[i].fd;
			pfd[i].events = conns[i].state == SENDING ? POLLOUT :
			    POLLIN;
			pfd[i].revents = 0;
		}
		t = now_ns();
		timeout = wake <= t ? 0 : (wake - t) / 1000000 > INT_MAX ?
		    INT_MAX : (int)((wake - t) / 1000000);
		ready = poll(pfd, (nfds_t)nconn, timeout);
		if (ready == -1 && errno != EINTR)
			fatal(1, "poll");
		/*
		 * Back from poll over a second after its timeout: the client
		 * itself stalled (descheduled, stopped), and the requests due
		 * meanwhile went out late for want of it, whatever their
		 * connections were doing.
		 */
		t2 = now_ns();
		expect = t + (int64_t)timeout * 1000000;
		if (t2 - expect > LATE_NS)
			late += due_by(t2 - LATE_NS, n) - due_by(expect, n);
		if (ready == -1)
			continue;
		if (ready == 0) {
			/*
			 * Under a millisecond to the next send, which poll
			 * cannot wait for: nap in short steps so a send is
			 * not a whole millisecond late, nor an answer read
			 * that late meanwhile.
			 */
			if (timeout == 0 && wake > t2) {
				nap = wake - t2 < NAP_NS ? wake - t2 : NAP_NS;
				ts.tv_sec = 0;
				ts.tv_nsec = (long)nap;
				(void)nanosleep(&ts, NULL);
			}
			continue;
		}
		for (i = 0; i < nconn; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (conns[i].state == SENDING)
				conn_send(&conns[i], i);
			else if (conns[i].state == READING)
				conn_read(&conns[i], i, nconn);
		}
	}

	if (bad > 0)
		fatal(0, "%ld of %ld answers were not 200 (the first was %d)",
		    bad, n, firstbad);
	if (late * 100 > n)
		fatal(0, "the client fell behind: %ld of %ld requests sent "
		    "over 1 s late through its own fault", late, n);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_lat);
	printf("requests=%ld p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f "
	    "bytes_per_answer=%llu\n", n, pct(n, 500), pct(n, 900),
	    pct(n, 990), pct(n, 999), (double)lat[n - 1] / 1e6,
	    (unsigned long long)(nread / (uint64_t)n));
	if (fflush(stdout) == EOF || ferror(stdout))
		fatal(1, "stdout");
	freeaddrinfo(addrs);
	return 0;
}
