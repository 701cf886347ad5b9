/*
 * http_server.h: the HTTP/1.1 endpoint Prometheus scrapes (our own small
 * server on evconnlistener + bufferevent): GET/HEAD /metrics (the cached
 * rendering; a scrape never waits on Kibana), / and /status.json (status
 * page), /-/healthy and /healthz, /-/ready; 405 for other methods, 404
 * for other paths.  Connection discipline: a cap on connections, header,
 * idle and write deadlines, accept back-off when out of descriptors.
 */
#ifndef KCM_HTTP_SERVER_H
#define KCM_HTTP_SERVER_H

#include <stddef.h>

struct event_base;
struct evbuffer;
struct listen_config;
struct http_server;
struct web_config;

#include <stdbool.h>

/*
 * What the endpoint serves; the server owns none of it.  Every callback
 * gets arg.  NULL callbacks: the built-in default named below.
 */
struct http_server_handlers {
	void	*arg;
	/* GET /metrics: appends the exposition (the cached rendering). */
	int	(*metrics)(void *arg, struct evbuffer *out);
	/*
	 * GET / (json false, text/html) and GET /status.json (json true):
	 * appends the status page; *csp is set to the page's
	 * Content-Security-Policy (or left NULL).  NULL: a static landing page.
	 */
	int	(*status)(void *arg, bool json, struct evbuffer *out,
		    const char **csp);
	/* GET /-/ready: true once every target's first inventory finished. */
	bool	(*ready)(void *arg);
	/*
	 * GET /metrics from a client that accepts gzip: appends the same
	 * exposition as one gzip member.  NULL: always plain.
	 */
	int	(*metrics_gzip)(void *arg, struct evbuffer *out);
};

/* The connection cap's bounds (configuration key max_connections). */
/*
 * Event priorities (event_base_priority_init with HTTP_SERVER_PRIORITIES):
 * the scrape connections run at HTTP_SERVER_PRIORITY, everything else at
 * libevent's default, the lower 1, so a scrape that is ready goes before
 * the daemon's own work (Kibana answers, rendering slices) that is.
 */
#define HTTP_SERVER_PRIORITIES	2
#define HTTP_SERVER_PRIORITY	0

#define HTTP_SERVER_MAX_CONNECTIONS_DEFAULT	64
#define HTTP_SERVER_MAX_CONNECTIONS_MAX		4096

/* h is copied. */
struct http_server *http_server_new(struct event_base *base,
	    const struct http_server_handlers *h);
/*
 * The connection cap: at most max_connections at once, and never more
 * than the descriptor limit (RLIMIT_NOFILE) minus reserve_fds, the
 * descriptors kept for the Kibana/Elasticsearch clients, the journal and
 * state files.  Logs once when the limit clips the cap.  Connections
 * already open stay.
 */
void	 http_server_set_limits(struct http_server *s, unsigned max_connections,
	    unsigned reserve_fds);
/* Binds every address; logs each bound address with its real port. */
/*
 * The web configuration (web_config.h) for connections accepted from now
 * on: TLS, extra headers, rate limit, basic auth.  Connections already
 * open keep the one they were accepted under.  NULL: plain HTTP, no auth.
 * Takes its own reference.  0, or -errno when the basic auth worker cannot
 * be started (the previous configuration stays).
 */
int	 http_server_set_web_config(struct http_server *s, struct web_config *wc);
int	 http_server_listen(struct http_server *s, const struct listen_config *l,
	    size_t n);
void	 http_server_free(struct http_server *s);

#endif /* KCM_HTTP_SERVER_H */
