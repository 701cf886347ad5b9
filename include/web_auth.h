/*
 * web_auth.h: basic authentication against the web configuration's
 * basic_auth_users, without ever running bcrypt on the event loop.
 *
 * bcrypt costs tens of milliseconds (cost 10), so checks run on one worker
 * thread (exporter-toolkit too runs one bcrypt at a time: web/handler.go's
 * bcryptMtx) fed by a bounded queue; the answer comes back on the libevent
 * loop through an eventfd.  Results are cached as exporter-toolkit does
 * (web/cache.go: 100 entries, a tenth of them evicted at random when full),
 * keyed by a salted SHA-256 of user, hash and password: the password itself
 * is never stored, and digests are compared with CRYPTO_memcmp().  An unknown
 * user is checked against a dummy hash, so it takes as long as a known one.
 * Identical checks in flight share one bcrypt run.
 *
 * Everything here is called on the loop thread.
 */
#ifndef KCM_WEB_AUTH_H
#define KCM_WEB_AUTH_H

#include <stdint.h>

struct event_base;
struct web_config;
struct web_auth;
struct web_auth_request;

/* Jobs (distinct credentials) queued or running at once; more: BUSY. */
#define WEB_AUTH_QUEUE_MAX	64
/* Cached results (exporter-toolkit's cacheSize). */
#define WEB_AUTH_CACHE_SIZE	100
/* Longest decoded "user:password" looked at; longer is DENIED. */
#define WEB_AUTH_CREDENTIALS_MAX	4096

enum web_auth_result {
	WEB_AUTH_OK,		/* serve the request */
	WEB_AUTH_DENIED,	/* 401 + WWW-Authenticate: Basic */
	WEB_AUTH_PENDING,	/* the answer comes through the callback */
	WEB_AUTH_BUSY,		/* queue full or no memory: 503 */
};

/*
 * Called on the loop with WEB_AUTH_OK or WEB_AUTH_DENIED; never for a
 * cancelled request.  The request handle is freed when it returns.  It may
 * start or cancel other requests, but not call web_auth_free().
 */
typedef void (*web_auth_done_fn)(void *arg, enum web_auth_result result);

/*
 * The checker for one event loop (it outlives reloads: the cache keys hold
 * the hash, so a changed user list never matches an old entry).  Starts the
 * worker thread; NULL on failure (errno set).
 */
struct web_auth *web_auth_new(struct event_base *base);
/*
 * Stops the worker (waits for a running bcrypt) and frees everything,
 * pending requests included (their callbacks are not called): cancel them
 * first, or free the server that owns them first.  NULL-safe.
 */
void	 web_auth_free(struct web_auth *a);

/*
 * Checks one request.  `authorization` is the value of its (first)
 * Authorization header, or NULL when it has none.
 *  - no users in wc: WEB_AUTH_OK;
 *  - no or malformed header (Go's Request.BasicAuth rules: "Basic " in any
 *    case, standard padded base64, "user:password"): WEB_AUTH_DENIED;
 *  - cached: WEB_AUTH_OK or WEB_AUTH_DENIED at once;
 *  - otherwise WEB_AUTH_PENDING and *ret_req: done(arg, result) follows
 *    on the loop unless web_auth_cancel(*ret_req) comes first;
 *  - WEB_AUTH_BUSY: too many checks queued, or out of memory.
 * wc need not outlive the call (what the check needs is copied); done
 * must not be NULL.  Decoded credentials longer than
 * WEB_AUTH_CREDENTIALS_MAX, or a password holding a NUL byte (crypt_r()
 * takes C strings), are DENIED.
 */
enum web_auth_result web_auth_check(struct web_auth *a,
	    const struct web_config *wc, const char *authorization,
	    web_auth_done_fn done, void *arg, struct web_auth_request **ret_req);

/*
 * Forgets a pending request (the connection closed): its callback is never
 * called.  Safe while the worker computes its hash (the result is still
 * cached).  NULL-safe; never after the callback ran.
 */
void	 web_auth_cancel(struct web_auth_request *req);

/* Counters, for tests and metrics. */
struct web_auth_stats {
	uint64_t	 bcrypt_runs;	/* checks the worker finished */
	uint64_t	 cache_hits;
	uint64_t	 coalesced;	/* requests that joined a check in flight */
	uint64_t	 busy;		/* WEB_AUTH_BUSY answers */
};

void	 web_auth_stats(const struct web_auth *a, struct web_auth_stats *ret);

#endif /* KCM_WEB_AUTH_H */
