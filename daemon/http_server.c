/*
 * http_server.c: the scrape endpoint, a small HTTP/1.1 server on
 * evconnlistener + bufferevent.
 *
 * libevent's evhttp has no connection cap and no deadline for a whole
 * request head (its timeouts are per-read inactivity, so a client sending
 * a byte a second lives forever), and answers HEAD wrongly; this server
 * does only what a metrics endpoint needs, with limits everywhere:
 *
 *   accept --> HEADER --(head parsed)--> PENDING --> WRITING --+--> close
 *                ^                                             |
 *                +------ IDLE <--(keep-alive, nothing buffered)+
 *                        (pipelined bytes buffered: HEADER at once)
 *
 * One timer per connection holds the deadline of its state: the head must
 * be complete within HTTP_HEADER_TIMEOUT_MSEC (from accept, or from the
 * first byte of a following request), an answer written within
 * HTTP_WRITE_TIMEOUT_MSEC, and a kept-alive connection may sit idle for
 * HTTP_IDLE_TIMEOUT_MSEC.  Requests are answered one at a time in order.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <systemd/sd-daemon.h>

#include "config_types.h"
#include "expo.h"
#include "http_parse.h"
#include "http_server.h"
#include "log.h"
#include "util.h"
#include "web_auth.h"
#include "web_config.h"

/*
 * Deadlines.  Fixed: a scrape is one small request; the test-only build
 * shortens them with -D (CMakeLists.txt) to watch them fire.
 */
#ifndef HTTP_HEADER_TIMEOUT_MSEC
#define HTTP_HEADER_TIMEOUT_MSEC	(10 * 1000)
#endif
#ifndef HTTP_IDLE_TIMEOUT_MSEC
#define HTTP_IDLE_TIMEOUT_MSEC		(30 * 1000)
#endif
#ifndef HTTP_WRITE_TIMEOUT_MSEC
#define HTTP_WRITE_TIMEOUT_MSEC		(60 * 1000)
#endif
/* Accept back-off when out of descriptors: 100 ms doubling to 1 s. */
#define ACCEPT_BACKOFF_MIN_MSEC		100
#define ACCEPT_BACKOFF_MAX_MSEC		1000
/* A cap episode ends after this long without a refused connection. */
#define CAP_QUIET_MSEC			5000
/* Bytes read ahead while an answer is written (pipelining): a bound. */
#define CONN_READ_HIGH_WATER		(HTTP_MAX_HEADER_BYTES + 1024)
/* Bytes handed to one write(2) while sending a scrape response. */
#define SCRAPE_MAX_SINGLE_WRITE		(1024 * 1024)

#define TEXT_PLAIN	"text/plain; charset=utf-8"

enum conn_state {
	CONN_HEADER,	/* reading a request head */
	CONN_PENDING,	/* head parsed, answer not queued yet (async seam) */
	CONN_WRITING,	/* answer queued, waiting for it to drain */
	CONN_IDLE,	/* kept alive, no byte of the next request yet */
};

struct conn {
	struct http_server	*s;
	struct conn		*prev, *next;	/* s->conns */
	struct bufferevent	*bev;
	struct event		*timer;		/* the current state's deadline */
	enum conn_state		 state;
	bool			 close_after;	/* after this answer */
	bool			 eof;		/* the client shut its side */
	struct http_request	 req;
	/* the web configuration it was accepted under (a reference), or NULL */
	struct web_config	*wc;
	/* set while a basic auth check holds the request (CONN_PENDING) */
	struct web_auth_request	*auth_req;
};

struct listener {
	struct evconnlistener	*lev;
	struct listener		*next;
};

struct http_server {
	struct event_base	*base;
	struct http_server_handlers h;
	struct listener		*listeners;
	struct conn		*conns;
	unsigned		 nconns;
	unsigned		 max_conns;	/* effective cap */
	unsigned		 clipped_to;	/* last cap logged as clipped */
	/* connection cap episode: ends after CAP_QUIET_MSEC without refusals */
	struct event		*cap_timer;
	bool			 at_cap;
	unsigned long		 cap_refused, cap_refused_seen;
	uint64_t		 cap_start;
	/* accept back-off episode (out of descriptors) */
	struct event		*backoff;
	unsigned		 backoff_msec;	/* 0: no episode */
	unsigned long		 accept_failed;
	uint64_t		 episode_start;
	uint64_t		 last_fail;	/* monotonic usec */
	bool			 gzip_failed_logged;
	/* web configuration for new connections (a reference), or NULL */
	struct web_config	*wc;
	struct web_auth		*auth;		/* made with the first users */
	/* Date: cache */
	time_t			 date_at;
	char			 date[64];
};

static const char landing_page[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>Kibana Connector Monitor</title></head>\n"
    "<body><h1>Kibana Connector Monitor</h1>\n"
    "<p>Watches Kibana connectors and serves their health as Prometheus metrics.</p>\n"
    "<ul><li><a href=\"metrics\">Metrics</a></li>\n"
    "<li><a href=\"healthz\">Health</a></li></ul>\n"
    "<p>Version " KCM_VERSION "</p>\n"
    "</body></html>\n";

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_write(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);
static void conn_next(struct conn *c);
static void conn_free(struct conn *c);

/* ---- connections ------------------------------------------------------ */

/* Arms c's one timer; 0, or -1 (out of memory) and c is freed. */
static int
conn_deadline(struct conn *c, unsigned msec)
{
	struct timeval tv;

	usec_to_timeval((uint64_t)msec * USEC_PER_MSEC, &tv);
	if (evtimer_add(c->timer, &tv) < 0) {
		log_error("out of memory arming a scrape connection's deadline; closing it");
		conn_free(c);
		return -1;
	}
	return 0;
}

static void
conn_free(struct conn *c)
{
	struct http_server *s = c->s;

	/* A request held by an auth check: its callback must not come. */
	if (c->auth_req != NULL) {
		web_auth_cancel(c->auth_req);
		c->auth_req = NULL;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->bev != NULL)
		bufferevent_free(c->bev);	/* frees the SSL, closes the socket */
	web_config_unref(c->wc);
	free(c);
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	log_debug("closing a scrape connection: %s deadline passed",
	    c->state == CONN_HEADER ? "request header" :
	    c->state == CONN_IDLE ? "keep-alive idle" : "response");
	conn_free(c);
}

/*
 * Every connection's bufferevent is made here: plain, or TLS when its web
 * configuration has a tls_server_config (bufferevent_free() then frees
 * the SSL and closes the socket).  Nothing else in this file reads or
 * writes the socket; the header deadline also bounds the TLS handshake.
 * NULL: the caller closes fd.
 */
static struct bufferevent *
conn_bufferevent(struct http_server *s, struct conn *c, evutil_socket_t fd)
{
	SSL_CTX *ctx = c->wc != NULL ? web_config_ssl_ctx(c->wc) : NULL;
	struct bufferevent *bev;
	SSL *ssl;

	if (ctx == NULL)
		return bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(s->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* A client that closes without close_notify is an EOF, as in Go. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
conn_new(struct http_server *s, evutil_socket_t fd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->s = s;
	if (s->wc != NULL)
		c->wc = web_config_ref(s->wc);
	if ((c->bev = conn_bufferevent(s, c, fd)) == NULL) {
		evutil_closesocket(fd);
		web_config_unref(c->wc);
		free(c);
		return;
	}
	/* Fails only on a base with one priority: then all are equal. */
	(void)bufferevent_priority_set(c->bev, HTTP_SERVER_PRIORITY);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if ((c->timer = evtimer_new(s->base, conn_timeout, c)) == NULL) {
		conn_free(c);
		return;
	}
	c->state = CONN_HEADER;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_HIGH_WATER);
	bufferevent_set_max_single_write(c->bev, SCRAPE_MAX_SINGLE_WRITE);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
		conn_free(c);
		return;
	}
	(void)conn_deadline(c, HTTP_HEADER_TIMEOUT_MSEC);
}

/* ---- answers ----------------------------------------------------------- */

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

static const char *
http_date(struct http_server *s)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != s->date_at || s->date[0] == '\0') {
		s->date_at = now;
		if (gmtime_r(&now, &tm) == NULL ||
		    strftime(s->date, sizeof(s->date),
		    "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
			s->date[0] = '\0';
	}
	return s->date;
}

struct answer {
	int		 status;
	const char	*ctype;
	const char	*extra;		/* more header lines, each ending CRLF */
	struct evbuffer	*body;		/* NULL: empty; moved into the output */
	const char	*encoding;	/* Content-Encoding, or NULL */
	bool		 vary;		/* Vary: Accept-Encoding */
	bool		 bare;		/* without the web config's headers */
};

/*
 * The web configuration's http_server_config.headers (names and values
 * checked when it was loaded), and X-Content-Type-Options: nosniff unless
 * it sets that header itself.  0 or -1.
 */
static int
add_web_headers(struct evbuffer *out, const struct web_config *wc)
{
	const struct web_config_header *hd = NULL;
	size_t i, n = wc != NULL ? web_config_headers(wc, &hd) : 0;
	bool nosniff = false;

	for (i = 0; i < n; i++) {
		if (strcasecmp(hd[i].name, "X-Content-Type-Options") == 0)
			nosniff = true;
		if (evbuffer_add_printf(out, "%s: %s\r\n", hd[i].name,
		    hd[i].value) < 0)
			return -1;
	}
	if (!nosniff &&
	    evbuffer_add_printf(out, "X-Content-Type-Options: nosniff\r\n") < 0)
		return -1;
	return 0;
}

/*
 * Queues the answer to c's current request: status line, headers, and
 * (not for HEAD) the body, moved into the output without copying (a
 * metrics body is a reference to the shared rendering).
 */
static void
conn_answer(struct conn *c, struct answer *a)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = a->body != NULL ? evbuffer_get_length(a->body) : 0;
	int r;

	if (c->req.has_body)
		c->close_after = true;	/* we do not read request bodies */
	r = evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\n"
	    "Date: %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s%s%s%s"
	    "%s",
	    a->status, reason(a->status), http_date(c->s), a->ctype, len,
	    a->encoding != NULL ? "Content-Encoding: " : "",
	    a->encoding != NULL ? a->encoding : "",
	    a->encoding != NULL ? "\r\n" : "",
	    a->vary ? "Vary: Accept-Encoding\r\n" : "",
	    a->extra != NULL ? a->extra : "");
	if (r >= 0)
		r = add_web_headers(out, a->bare ? NULL : c->wc);
	if (r >= 0)
		r = evbuffer_add_printf(out, "%s\r\n",
		    c->close_after ? "Connection: close\r\n" :
		    c->req.minor == 0 ? "Connection: keep-alive\r\n" : "");
	if (r >= 0 && a->body != NULL && c->req.method != HTTP_HEAD)
		r = evbuffer_add_buffer(out, a->body);
	if (a->body != NULL)
		evbuffer_free(a->body);	/* HEAD: drops the references */
	a->body = NULL;
	if (r < 0) {
		conn_free(c);
		return;
	}
	c->state = CONN_WRITING;
	/* Nothing left to write (impossible but cheap to handle): go on. */
	if (evbuffer_get_length(out) == 0)
		conn_write(c->bev, c);
}

/* A small fixed answer; bare: without the web config's headers. */
static void
conn_answer_small(struct conn *c, int status, const char *ctype,
    const char *extra, const char *text, bool bare)
{
	struct answer a = { .status = status, .ctype = ctype, .extra = extra,
	    .bare = bare };

	if (text != NULL && *text != '\0') {
		if ((a.body = evbuffer_new()) == NULL ||
		    evbuffer_add(a.body, text, strlen(text)) < 0) {
			if (a.body != NULL)
				evbuffer_free(a.body);
			conn_free(c);
			return;
		}
	}
	conn_answer(c, &a);
}

static void
conn_answer_text(struct conn *c, int status, const char *ctype,
    const char *extra, const char *text)
{
	conn_answer_small(c, status, ctype, extra, text, false);
}

static void
conn_error(struct conn *c, int status)
{
	char text[64];

	c->close_after = true;
	snprintf(text, sizeof(text), "%d %s\n", status, reason(status));
	conn_answer_text(c, status, TEXT_PLAIN, NULL, text);
}

/* A body from a handler; *ok false on failure (answered 500). */
static struct evbuffer *
handler_body(struct conn *c, int (*fn)(void *, struct evbuffer *))
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL || fn(c->s->h.arg, b) < 0) {
		if (b != NULL)
			evbuffer_free(b);
		log_error("out of memory answering a scrape");
		conn_error(c, 500);
		return NULL;
	}
	return b;
}

static void
answer_metrics(struct conn *c)
{
	const struct http_server_handlers *h = &c->s->h;
	struct answer a = { .status = 200, .ctype = EXPO_CONTENT_TYPE,
	    .vary = true };

	if (c->req.gzip && h->metrics_gzip != NULL) {
		/* Compression failing (memory) is no reason to fail a scrape. */
		if ((a.body = evbuffer_new()) != NULL &&
		    h->metrics_gzip(h->arg, a.body) == 0) {
			a.encoding = "gzip";
			conn_answer(c, &a);
			return;
		}
		if (a.body != NULL)
			evbuffer_free(a.body);
		if (!c->s->gzip_failed_logged) {
			log_warning("cannot compress the exposition (out of memory?); answering uncompressed");
			c->s->gzip_failed_logged = true;
		}
	}
	if ((a.body = handler_body(c, h->metrics)) == NULL)
		return;
	conn_answer(c, &a);
}

static void
answer_status(struct conn *c, bool json)
{
	const struct http_server_handlers *h = &c->s->h;
	struct answer a = { .status = 200 };
	const char *csp = NULL;
	char extra[1024];
	int n;

	if (h->status == NULL) {
		if (json)
			conn_answer_text(c, 404, TEXT_PLAIN, NULL, "404 page not found\n");
		else
			conn_answer_text(c, 200, "text/html; charset=utf-8", NULL,
			    landing_page);
		return;
	}
	a.ctype = json ? "application/json" : "text/html; charset=utf-8";
	if ((a.body = evbuffer_new()) == NULL ||
	    h->status(h->arg, json, a.body, &csp) < 0) {
		if (a.body != NULL)
			evbuffer_free(a.body);
		log_error("out of memory answering a status request");
		conn_error(c, 500);
		return;
	}
	/* one header line: never split by the page's own text */
	if (csp != NULL && strpbrk(csp, "\r\n") == NULL) {
		n = snprintf(extra, sizeof(extra), "Content-Security-Policy: %s\r\n"
		    "Referrer-Policy: no-referrer\r\nCache-Control: no-store\r\n",
		    csp);
		if (n > 0 && (size_t)n < sizeof(extra))
			a.extra = extra;
	}
	conn_answer(c, &a);
}

/*
 * Answers c's request (c->req).  May be called later than dispatch(),
 * from the callback of an asynchronous step; the connection is still
 * there (conn_free() cancels such a step first).
 */
static void
respond(struct conn *c)
{
	const struct http_server_handlers *h = &c->s->h;
	const char *path = c->req.path;

	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0 &&
	    strcmp(path, "/status.json") != 0 && strcmp(path, "/healthz") != 0 &&
	    strcmp(path, "/-/healthy") != 0 && strcmp(path, "/-/ready") != 0) {
		conn_answer_text(c, 404, TEXT_PLAIN, NULL, "404 page not found\n");
		return;
	}
	if (c->req.method == HTTP_OTHER) {
		conn_answer_text(c, 405, TEXT_PLAIN, "Allow: GET, HEAD\r\n",
		    "405 method not allowed\n");
		return;
	}
	if (strcmp(path, "/metrics") == 0)
		answer_metrics(c);
	else if (strcmp(path, "/") == 0)
		answer_status(c, false);
	else if (strcmp(path, "/status.json") == 0)
		answer_status(c, true);
	else if (strcmp(path, "/healthz") == 0)
		conn_answer_text(c, 200, TEXT_PLAIN, NULL, "ok\n");
	else if (strcmp(path, "/-/healthy") == 0)
		conn_answer_text(c, 200, TEXT_PLAIN, NULL, "OK");
	else if (h->ready == NULL || h->ready(h->arg))
		conn_answer_text(c, 200, TEXT_PLAIN, NULL, "OK");
	else
		conn_answer_text(c, 503, TEXT_PLAIN, NULL,
		    "Service Unavailable: the first inventory of every target has not finished\n");
}

static void
answer_unauthorized(struct conn *c)
{
	conn_answer_text(c, 401, TEXT_PLAIN, "WWW-Authenticate: Basic\r\n",
	    "Unauthorized\n");
}

/* A basic auth check finished on the worker (web_auth.h). */
static void
auth_done(void *arg, enum web_auth_result result)
{
	struct conn *c = arg;

	c->auth_req = NULL;	/* freed by web_auth when this returns */
	if (result == WEB_AUTH_OK)
		respond(c);
	else
		answer_unauthorized(c);
}

/*
 * A parsed request: the web configuration's rate limit, then its basic
 * auth (exporter-toolkit's order, web/handler.go), then the answer.  A
 * bcrypt check runs on web_auth's worker: the connection waits in
 * CONN_PENDING under the write deadline, and conn_free() cancels the
 * check if the client goes away first.
 */
static void
dispatch(struct conn *c)
{
	struct http_server *s = c->s;
	enum web_auth_result r;

	c->state = CONN_PENDING;
	if (conn_deadline(c, HTTP_WRITE_TIMEOUT_MSEC) < 0)
		return;
	if (c->wc == NULL) {
		respond(c);
		return;
	}
	if (!web_config_rate_allow(c->wc, now_usec())) {
		/* the limiter wraps everything in exporter-toolkit: bare */
		conn_answer_small(c, 429, TEXT_PLAIN, NULL, "Too Many Requests\n",
		    true);
		return;
	}
	if (!web_config_has_users(c->wc)) {
		respond(c);
		return;
	}
	r = web_auth_check(s->auth, c->wc, c->req.has_authorization ?
	    c->req.authorization : NULL, auth_done, c, &c->auth_req);
	switch (r) {
	case WEB_AUTH_OK:
		respond(c);
		break;
	case WEB_AUTH_DENIED:
		answer_unauthorized(c);
		break;
	case WEB_AUTH_PENDING:
		break;		/* auth_done() answers */
	case WEB_AUTH_BUSY:
		conn_answer_text(c, 503, TEXT_PLAIN, NULL,
		    "Service Unavailable: too many authentication checks at once\n");
		break;
	}
}

/* Parses what is buffered in CONN_HEADER. */
static void
conn_parse(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), want;
	const char *p;
	int r;

	if (len == 0)
		return;
	want = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES;
	if ((p = (const char *)evbuffer_pullup(in, (ssize_t)want)) == NULL) {
		conn_free(c);
		return;
	}
	r = http_request_parse(p, want, &c->req);
	if (r == 0) {
		if (c->eof)
			conn_free(c);	/* a partial head and nothing more */
		return;
	}
	if (r < 0) {
		/* Keep what was parsed (method: a HEAD gets no body). */
		c->req.keep_alive = false;
		conn_error(c, -r);
		return;
	}
	evbuffer_drain(in, (size_t)r);
	if (!c->req.keep_alive)
		c->close_after = true;
	dispatch(c);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == CONN_IDLE) {
		/* The first byte of the next request: its head's deadline. */
		c->state = CONN_HEADER;
		if (conn_deadline(c, HTTP_HEADER_TIMEOUT_MSEC) < 0)
			return;
	}
	if (c->state == CONN_HEADER)
		conn_parse(c);
	/* PENDING, WRITING: read ahead (bounded by the watermark) only. */
}

/* The answer is out: close, or the next request. */
static void
conn_next(struct conn *c)
{
	if (c->close_after || c->eof) {
		conn_free(c);
		return;
	}
	memset(&c->req, 0, sizeof(c->req));
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		c->state = CONN_HEADER;
		if (conn_deadline(c, HTTP_HEADER_TIMEOUT_MSEC) == 0)
			conn_parse(c);
	} else {
		c->state = CONN_IDLE;
		(void)conn_deadline(c, HTTP_IDLE_TIMEOUT_MSEC);
	}
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_WRITING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_next(c);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what == BEV_EVENT_CONNECTED)
		return;		/* a TLS handshake finished */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (c->state == CONN_PENDING || c->state == CONN_WRITING)) {
		/* Half-closed after its request: answer, then close. */
		c->eof = true;
		c->close_after = true;
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->state == CONN_HEADER &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		/* A complete head may still be buffered behind a partial one. */
		c->eof = true;
		c->close_after = true;
		conn_parse(c);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && c->wc != NULL &&
	    web_config_ssl_ctx(c->wc) != NULL) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

		/* debug only: a port scanner must not fill the journal */
		log_debug("closing a scrape connection: TLS: %s",
		    why != NULL ? why : "connection error");
	}
	conn_free(c);
}

/* ---- accepting ----------------------------------------------------------- */

static void
listeners_enable(struct http_server *s, bool on)
{
	struct listener *l;

	for (l = s->listeners; l != NULL; l = l->next)
		if (on)
			evconnlistener_enable(l->lev);
		else
			evconnlistener_disable(l->lev);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct http_server *s = arg;

	(void)lev;
	(void)sa;
	(void)socklen;
	/*
	 * The episode ends with an accept a whole back-off maximum after the
	 * last failure: descriptors hovering at the limit (one freed, one
	 * taken) stay one episode, not a pair of lines each time.
	 */
	if (s->backoff_msec != 0 && now_usec() - s->last_fail >=
	    ACCEPT_BACKOFF_MAX_MSEC * USEC_PER_MSEC) {
		log_info("accepting connections again (out of descriptors from %.1f s ago); %lu accept attempt(s) failed meanwhile",
		    (double)(now_usec() - s->episode_start) / (double)USEC_PER_SEC,
		    s->accept_failed);
		s->backoff_msec = 0;
		s->accept_failed = 0;
	}
	if (s->nconns >= s->max_conns) {
		/* Over the cap: accept and close at once (no bytes: TLS-safe). */
		evutil_closesocket(fd);
		if (!s->at_cap) {
			struct timeval tv;

			log_warning("%u scrape connections open, the limit (max_connections): refusing new ones until some close",
			    s->max_conns);
			s->at_cap = true;
			s->cap_start = now_usec();
			usec_to_timeval(CAP_QUIET_MSEC * USEC_PER_MSEC, &tv);
			if (evtimer_add(s->cap_timer, &tv) < 0)
				s->at_cap = false;	/* no end line then */
		}
		s->cap_refused++;
		return;
	}
	conn_new(s, fd);
}

/*
 * One line per cap episode at each end, however the count hovers at the
 * limit: the episode ends after CAP_QUIET_MSEC without a refusal.
 */
static void
cap_quiet(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (s->cap_refused != s->cap_refused_seen) {
		s->cap_refused_seen = s->cap_refused;
		usec_to_timeval(CAP_QUIET_MSEC * USEC_PER_MSEC, &tv);
		if (evtimer_add(s->cap_timer, &tv) == 0)
			return;
	}
	log_info("no scrape connection refused for %d s; %lu were refused over %.1f s",
	    CAP_QUIET_MSEC / 1000, s->cap_refused,
	    (double)(now_usec() - s->cap_start) / (double)USEC_PER_SEC);
	s->at_cap = false;
	s->cap_refused = s->cap_refused_seen = 0;
}

static void
backoff_fired(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *s = arg;

	(void)fd;
	(void)what;
	/* Try again; the next failure doubles the pause. */
	listeners_enable(s, true);
}

/*
 * accept() failed with something else than EAGAIN/EINTR/ECONNABORTED
 * (libevent retries those): typically EMFILE/ENFILE, also ENOBUFS/ENOMEM.
 * The pending connection stays in the backlog, so the listener would fire
 * again at once: pause it instead, 100 ms doubling to 1 s, with one log
 * line when the episode starts and one when accepting works again.
 */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct http_server *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv;

	(void)lev;
	listeners_enable(s, false);
	s->accept_failed++;
	s->last_fail = now_usec();
	if (s->backoff_msec == 0) {
		s->backoff_msec = ACCEPT_BACKOFF_MIN_MSEC;
		s->episode_start = s->last_fail;
		if (err == EMFILE || err == ENFILE)
			log_warning("out of file descriptors, pausing accept: %s",
			    strerror(err));
		else
			log_warning("accept failed, pausing accept: %s",
			    strerror(err));
	} else if ((s->backoff_msec *= 2) > ACCEPT_BACKOFF_MAX_MSEC)
		s->backoff_msec = ACCEPT_BACKOFF_MAX_MSEC;
	usec_to_timeval((uint64_t)s->backoff_msec * USEC_PER_MSEC, &tv);
	if (evtimer_add(s->backoff, &tv) < 0)
		listeners_enable(s, true);	/* never stay deaf */
}

static int
add_listener(struct http_server *s, struct evconnlistener *lev)
{
	struct listener *l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		evconnlistener_free(lev);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(lev, on_accept_error);
	l->lev = lev;
	l->next = s->listeners;
	s->listeners = l;
	return 0;
}

/* ---- the server ---------------------------------------------------------- */

struct http_server *
http_server_new(struct event_base *base, const struct http_server_handlers *h)
{
	struct http_server *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->base = base;
	s->h = *h;
	s->max_conns = HTTP_SERVER_MAX_CONNECTIONS_DEFAULT;
	if ((s->backoff = evtimer_new(base, backoff_fired, s)) == NULL ||
	    (s->cap_timer = evtimer_new(base, cap_quiet, s)) == NULL) {
		if (s->backoff != NULL)
			event_free(s->backoff);
		free(s);
		return NULL;
	}
	return s;
}

int
http_server_set_web_config(struct http_server *s, struct web_config *wc)
{
	if (wc != NULL && web_config_has_users(wc) && s->auth == NULL &&
	    (s->auth = web_auth_new(s->base)) == NULL)
		return -errno;
	if (wc != NULL)
		web_config_ref(wc);
	web_config_unref(s->wc);
	s->wc = wc;
	return 0;
}

void
http_server_set_limits(struct http_server *s, unsigned max_connections,
    unsigned reserve_fds)
{
	struct rlimit rl;
	unsigned cap = max_connections > 0 ? max_connections :
	    HTTP_SERVER_MAX_CONNECTIONS_DEFAULT;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t room = rl.rlim_cur > reserve_fds ?
		    rl.rlim_cur - reserve_fds : 1;

		if (room < 1)
			room = 1;
		if ((rlim_t)cap > room && s->clipped_to != (unsigned)room) {
			s->clipped_to = (unsigned)room;
			log_warning("max_connections %u clipped to %u: the descriptor limit is %llu and %u are kept for the Kibana/Elasticsearch clients and files (raise LimitNOFILE=)",
			    cap, (unsigned)room, (unsigned long long)rl.rlim_cur,
			    reserve_fds);
		}
		if ((rlim_t)cap > room)
			cap = (unsigned)room;
	}
	s->max_conns = cap;
}

/* Formats the address a bound socket really has (port 0 -> real port). */
static void
bound_address(evutil_socket_t fd, char *buf, size_t bufsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, bufsz, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, bufsz, "%s:%u", host, ntohs(s4->sin_port));
	}
}

/* Binds host:port (numeric; the configuration checked it). */
static struct evconnlistener *
bind_one(struct http_server *s, const struct listen_config *l)
{
	struct addrinfo hints, *ai = NULL;
	struct evconnlistener *lev;
	char port[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", l->port);
	if ((r = getaddrinfo(l->host, port, &hints, &ai)) != 0) {
		errno = r == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
		return NULL;
	}
	lev = evconnlistener_new_bind(s->base, on_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    128, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	return lev;
}

int
http_server_listen(struct http_server *s, const struct listen_config *l,
    size_t n)
{
	struct evconnlistener *lev;
	char addr[INET6_ADDRSTRLEN + 16];
	size_t i;
	int nfds, fd, r;

	/*
	 * Socket activation (the .socket unit): serve on the passed sockets
	 * instead of `listen`.  sd_listen_fds(1) checks LISTEN_PID and unsets
	 * the variables so no child inherits them.
	 */
	nfds = sd_listen_fds(1);
	if (nfds < 0)
		log_warning("ignoring invalid LISTEN_FDS/LISTEN_PID: %s",
		    strerror(-nfds));
	if (nfds > 0) {
		for (fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + nfds; fd++) {
			if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
				log_error("socket activation: fd %d is not a listening stream socket",
				    fd);
				return -EINVAL;
			}
			if (evutil_make_socket_nonblocking(fd) < 0 ||
			    evutil_make_socket_closeonexec(fd) < 0 ||
			    (lev = evconnlistener_new(s->base, on_accept, s,
			    LEV_OPT_CLOSE_ON_FREE, -1, fd)) == NULL) {
				log_error("socket activation: cannot serve on fd %d: %s",
				    fd, strerror(errno));
				return -EIO;
			}
			if ((r = add_listener(s, lev)) < 0)
				return r;
			bound_address(fd, addr, sizeof(addr));
			log_struct(LOG_INFO, NULL,
			    (struct log_field[]){ { "LISTEN", addr } }, 1,
			    "listening on %s (socket activation, fd %d; `listen` is ignored)",
			    addr, fd);
		}
		return 0;
	}

	for (i = 0; i < n; i++) {
		if ((lev = bind_one(s, &l[i])) == NULL) {
			log_error("cannot listen on %s%s%s:%u: %s",
			    strchr(l[i].host, ':') ? "[" : "", l[i].host,
			    strchr(l[i].host, ':') ? "]" : "", l[i].port,
			    strerror(errno));
			return -EADDRNOTAVAIL;
		}
		if ((r = add_listener(s, lev)) < 0)
			return r;
		bound_address(evconnlistener_get_fd(lev), addr, sizeof(addr));
		log_struct(LOG_INFO, NULL, (struct log_field[]){ { "LISTEN", addr } },
		    1, "listening on %s", addr);
	}
	return 0;
}

void
http_server_free(struct http_server *s)
{
	struct listener *l;

	if (s == NULL)
		return;
	while (s->conns != NULL)
		conn_free(s->conns);
	while ((l = s->listeners) != NULL) {
		s->listeners = l->next;
		evconnlistener_free(l->lev);
		free(l);
	}
	if (s->backoff != NULL)
		event_free(s->backoff);
	if (s->cap_timer != NULL)
		event_free(s->cap_timer);
	/* after the connections: none holds an auth check any more */
	web_auth_free(s->auth);
	web_config_unref(s->wc);
	free(s);
}
