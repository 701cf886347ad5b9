/*
 * http_server.c: the scrape endpoint on libevent's evhttp.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <systemd/sd-daemon.h>

#include "config_types.h"
#include "expo.h"
#include "http_server.h"
#include "log.h"

/* Bytes handed to one write(2) while sending a scrape response. */
#define SCRAPE_MAX_SINGLE_WRITE (1024 * 1024)

struct http_server {
	struct evhttp	*http;
	struct http_server_handlers h;
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

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const char *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out;

	if (ctype != NULL)
		evhttp_add_header(h, "Content-Type", ctype);
	out = evbuffer_new();
	if (out == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (body != NULL)
		evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct http_server *s = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct bufferevent *bev;
	struct evbuffer *out;

	if (path == NULL || *path == '\0')
		path = "/";
	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0 &&
	    strcmp(path, "/healthz") != 0 && strcmp(path, "/status.json") != 0) {
		reply(req, 404, "Not Found", "text/plain; charset=utf-8",
		    "404 page not found\n");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		reply(req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
		    "405 method not allowed\n");
		return;
	}
	if (strcmp(path, "/status.json") == 0 && s->h.status == NULL) {
		reply(req, 404, "Not Found", "text/plain; charset=utf-8",
		    "404 page not found\n");
		return;
	}
	if (strcmp(path, "/") == 0 && s->h.status == NULL) {
		reply(req, 200, "OK", "text/html; charset=utf-8", landing_page);
		return;
	}
	if (strcmp(path, "/") == 0 || strcmp(path, "/status.json") == 0) {
		bool json = path[1] != '\0';
		const char *csp = NULL;

		/* The status page (issue 10): built from memory, never waits. */
		out = evbuffer_new();
		if (out == NULL || s->h.status(s->h.arg, json, out, &csp) < 0) {
			if (out != NULL)
				evbuffer_free(out);
			evhttp_send_error(req, 500, NULL);
			return;
		}
		evhttp_add_header(h, "Content-Type", json ?
		    "application/json" : "text/html; charset=utf-8");
		if (csp != NULL)
			evhttp_add_header(h, "Content-Security-Policy", csp);
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		evhttp_add_header(h, "Referrer-Policy", "no-referrer");
		evhttp_add_header(h, "Cache-Control", "no-store");
		evhttp_send_reply(req, 200, "OK", out);
		evbuffer_free(out);
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		reply(req, 200, "OK", "text/plain; charset=utf-8", "ok\n");
		return;
	}

	/* /metrics: the cached rendering; never waits on Kibana. */
	out = evbuffer_new();
	if (out == NULL || s->h.metrics(s->h.arg, out) < 0) {
		if (out != NULL)
			evbuffer_free(out);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", EXPO_CONTENT_TYPE);
	/*
	 * bufferevents write at most 16 KiB per loop iteration by default; a
	 * multi-megabyte exposition then takes a hundred iterations.  Let the
	 * kernel take as much as the socket buffer holds.
	 */
	bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
	if (bev != NULL)
		bufferevent_set_max_single_write(bev, SCRAPE_MAX_SINGLE_WRITE);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

struct http_server *
http_server_new(struct event_base *base, const struct http_server_handlers *h)
{
	struct http_server *s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->h = *h;
	s->http = evhttp_new(base);
	if (s->http == NULL) {
		free(s);
		return NULL;
	}
	/* Every method reaches handle(), which answers 405 itself. */
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(s->http, 16 * 1024);
	evhttp_set_max_body_size(s->http, 64 * 1024);
	evhttp_set_timeout(s->http, 30);
	evhttp_set_gencb(s->http, handle, s);
	return s;
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

int
http_server_listen(struct http_server *s, const struct listen_config *l,
    size_t n)
{
	struct evhttp_bound_socket *bs;
	char addr[INET6_ADDRSTRLEN + 16];
	size_t i;
	int nfds, fd;

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
			    (bs = evhttp_accept_socket_with_handle(s->http, fd)) == NULL) {
				log_error("socket activation: cannot serve on fd %d: %s",
				    fd, strerror(errno));
				return -EIO;
			}
			bound_address(fd, addr, sizeof(addr));
			log_struct(LOG_INFO, NULL,
			    (struct log_field[]){ { "LISTEN", addr } }, 1,
			    "listening on %s (socket activation, fd %d; `listen` is ignored)",
			    addr, fd);
		}
		return 0;
	}

	for (i = 0; i < n; i++) {
		bs = evhttp_bind_socket_with_handle(s->http, l[i].host, l[i].port);
		if (bs == NULL) {
			log_error("cannot listen on %s%s%s:%u: %s",
			    strchr(l[i].host, ':') ? "[" : "", l[i].host,
			    strchr(l[i].host, ':') ? "]" : "", l[i].port,
			    strerror(errno));
			return -EADDRNOTAVAIL;
		}
		bound_address(evhttp_bound_socket_get_fd(bs), addr, sizeof(addr));
		log_struct(LOG_INFO, NULL, (struct log_field[]){ { "LISTEN", addr } },
		    1, "listening on %s", addr);
	}
	return 0;
}

void
http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	evhttp_free(s->http);
	free(s);
}
