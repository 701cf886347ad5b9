/*
 * http_server.h: the evhttp endpoint Prometheus scrapes: GET/HEAD /metrics
 * (the cached rendering; a scrape never waits on Kibana), / (landing page),
 * /healthz; 405 for other methods, 404 for other paths.
 */
#ifndef KCM_HTTP_SERVER_H
#define KCM_HTTP_SERVER_H

#include <stddef.h>

struct event_base;
struct evbuffer;
struct listen_config;
struct http_server;

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
};

/* h is copied. */
struct http_server *http_server_new(struct event_base *base,
	    const struct http_server_handlers *h);
/* Binds every address; logs each bound address with its real port. */
int	 http_server_listen(struct http_server *s, const struct listen_config *l,
	    size_t n);
void	 http_server_free(struct http_server *s);

#endif /* KCM_HTTP_SERVER_H */
