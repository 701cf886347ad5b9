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

/* Appends the exposition to out (the cached rendering); 0 or -errno. */
typedef int (*http_server_metrics_fn)(void *arg, struct evbuffer *out);

struct http_server *http_server_new(struct event_base *base,
	    http_server_metrics_fn metrics, void *arg);
/* Binds every address; logs each bound address with its real port. */
int	 http_server_listen(struct http_server *s, const struct listen_config *l,
	    size_t n);
void	 http_server_free(struct http_server *s);

#endif /* KCM_HTTP_SERVER_H */
