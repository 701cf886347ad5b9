/*
 * http_client.h: asynchronous HTTP requests on the daemon's one event loop,
 * libcurl's multi_socket interface glued to libevent (style.md section 3).
 * It knows nothing of Kibana: callers hand in a URL, an endpoint's TLS,
 * proxy, timeout and size settings, and get a completion callback.
 */
#ifndef KCM_HTTP_CLIENT_H
#define KCM_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "config_types.h"

struct event_base;
struct http_client;
struct http_limiter;
struct http_call;

/* What happened at the transport level; HTTP status is separate. */
enum http_result {
	HTTP_RESULT_OK,		/* a complete response arrived (any status) */
	HTTP_RESULT_TIMEOUT,	/* the endpoint's whole-request deadline passed */
	HTTP_RESULT_CONNECT,	/* refused, reset, closed early, send/recv error */
	HTTP_RESULT_TLS,	/* handshake or certificate verification */
	HTTP_RESULT_DNS,	/* name (or proxy name) did not resolve */
	HTTP_RESULT_TOO_LARGE,	/* body over max_response_bytes, aborted */
	HTTP_RESULT_OTHER,	/* anything else curl reports */
};

const char *http_result_to_string(enum http_result r);

struct http_response {
	enum http_result result;
	long		 status;	/* HTTP status, 0 when none */
	const char	*body;		/* borrowed until the callback returns */
	size_t		 body_len;
	uint64_t	 duration_usec;	/* monotonic, submit-to-done */
	const char	*error;		/* curl's error text or "" (never secrets) */
	void		*prepared;	/* http_request.prepare's result, or NULL */
};

typedef void (*http_done_fn)(const struct http_response *resp, void *arg);
/*
 * Work on a successful (2xx) answer before the callback, on the client's
 * worker thread (worker.h): it reads only resp and returns what it made
 * (NULL on failure), which the callback finds in resp->prepared.  The
 * callback may take parts of it; discard frees the rest after the
 * callback (or at once when the call is cancelled).  Parsing a large
 * answer takes a millisecond: off the loop, scrapes do not wait for it.
 */
typedef void *(*http_prepare_fn)(const struct http_response *resp);

struct http_request {
	const char	*method;	/* "GET" or "POST" */
	const char	*url;		/* complete URL */
	const char	*body;		/* POST body or NULL */
	size_t		 body_len;
	const struct endpoint_config *ep; /* TLS, proxy, timeout, limit, auth */
	const char *const *headers;	/* extra "Name: value" lines, NULL-terminated, or NULL */
	http_prepare_fn	 prepare;	/* NULL: none */
	void		(*discard)(void *prepared);
};

struct http_client *http_client_new(struct event_base *base);
/* Cancels every call (no callbacks run) and frees the client. NULL-safe. */
void	 http_client_free(struct http_client *c);

/* At most max calls of one limiter run at once; the rest wait in order. */
struct http_limiter *http_limiter_new(struct http_client *c, unsigned max);
/* Changes the maximum (a reload); queued calls start when there is room. */
void	 http_limiter_set_max(struct http_limiter *l, unsigned max);
unsigned http_limiter_max(const struct http_limiter *l);
/* The limiter must have no calls left (cancel them first). NULL-safe. */
void	 http_limiter_free(struct http_limiter *l);

/*
 * Starts (or queues behind the limiter, which may be NULL) a request.  The
 * request is copied.  On success *ret_call (optional) identifies the call
 * until its callback runs or it is cancelled.  The callback is always
 * invoked from the event loop, never from inside http_client_submit.
 */
int	 http_client_submit(struct http_client *c, struct http_limiter *l,
	    const struct http_request *req, http_done_fn done, void *arg,
	    struct http_call **ret_call);

/* Stops a call that has not completed; its callback never runs. */
void	 http_call_cancel(struct http_call *call);

/* Number of calls started or queued and not yet completed. */
unsigned http_client_pending(const struct http_client *c);

#endif /* KCM_HTTP_CLIENT_H */
