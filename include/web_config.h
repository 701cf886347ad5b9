/*
 * web_config.h: the Prometheus exporter-toolkit web configuration file
 * (--web.config.file): TLS for the metrics endpoint, extra response headers,
 * basic-auth users with bcrypt hashes.
 *
 * The file has exporter-toolkit's format and meaning (see README, "Web
 * configuration"); it is parsed with the project's ytree/schema machinery,
 * so every problem is reported as FILE:LINE:COLUMN: message naming the web
 * configuration file.  Loading is all-or-nothing: the certificate, key and
 * client CA files are read and the OpenSSL SSL_CTX is built at load time;
 * either everything checked out, or the caller gets the errors and no
 * object.
 *
 * A loaded object is immutable and reference-counted: the server keeps one
 * reference for new connections and each connection takes its own, so a
 * reload (which swaps the server's pointer) never pulls the TLS context or
 * the user list from under a connection opened before it.  References are
 * taken and dropped on the event-loop thread.
 *
 * How the HTTP server uses it (with web_auth.h):
 *
 *   reload:      http_server_set_web_config(srv, wc): web_config_ref(wc),
 *                web_config_unref(old); only new connections see wc.
 *   accept:      conn->wc = web_config_ref(srv->wc);
 *                ctx = web_config_ssl_ctx(conn->wc);
 *                ctx == NULL: plain bufferevent_socket_new() as today;
 *                else ssl = SSL_new(ctx) and
 *                bufferevent_openssl_socket_new(base, fd, ssl,
 *                    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
 *                (client certificates, client_allowed_sans included, are
 *                checked in the handshake: a refused client never gets to
 *                send a request).
 *   request:     web_config_rate_allow(conn->wc, now_usec()) false: 429;
 *                r = web_auth_check(auth, conn->wc, value of Authorization
 *                or NULL, done, conn, &conn->auth_req):
 *                WEB_AUTH_OK: serve; WEB_AUTH_DENIED: 401 with
 *                "WWW-Authenticate: Basic"; WEB_AUTH_BUSY: 503;
 *                WEB_AUTH_PENDING: stop reading, wait for done(conn, r)
 *                (then conn->auth_req = NULL, and OK/DENIED as above).
 *                Every response, 401/503 included, gets the headers of
 *                web_config_headers(conn->wc, &h).
 *   close:       web_auth_cancel(conn->auth_req) if still pending;
 *                SSL/bufferevent freed; web_config_unref(conn->wc).
 *   shutdown:    free the server (its connections) before web_auth_free().
 */
#ifndef KCM_WEB_CONFIG_H
#define KCM_WEB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct config_errors;
struct web_config;

/*
 * Loads the web configuration at `path`.  Relative file names in it resolve
 * against the folder of `path` (as exporter-toolkit does).  Returns 0 and
 * *ret (one reference), or a negative errno (-EINVAL for validation errors)
 * after appending every problem to errs (which may be NULL).
 *
 * The key file, and the web configuration file itself when it holds an
 * inline `key`, must not be readable by group or others.  Every file is
 * opened without blocking and must be a regular file.
 */
int	 web_config_load(const char *path, struct web_config **ret,
	    struct config_errors *errs);

/*
 * web_config_load() without the file: len bytes at buf (need not be
 * NUL-terminated); `name` stands for the file in errors, relative file
 * names resolve against basedir, and `mode` is the file's st_mode (an
 * inline key needs no group/other read bits).  For tests and the fuzzer.
 */
int	 web_config_load_buffer(const char *name, const void *buf, size_t len,
	    const char *basedir, mode_t mode, struct web_config **ret,
	    struct config_errors *errs);

/* Another reference; returns wc (NULL-safe). */
struct web_config *web_config_ref(struct web_config *wc);
/* Drops a reference; the last one frees everything (NULL-safe). */
void	 web_config_unref(struct web_config *wc);

/* The file it was loaded from. */
const char *web_config_path(const struct web_config *wc);

/*
 * The TLS context for new connections, or NULL: plain HTTP (no
 * tls_server_config, or one that sets none of cert, cert_file, key,
 * key_file, client_ca, client_ca_file, client_auth_type: exporter-toolkit's
 * rule).  Borrowed: valid while the caller holds a reference to wc; SSL_new()
 * takes OpenSSL's own reference on it.  Client certificates (verify mode,
 * client CA, client_allowed_sans) are checked inside the handshake.
 */
SSL_CTX	*web_config_ssl_ctx(const struct web_config *wc);

/* One extra response header (http_server_config.headers). */
struct web_config_header {
	const char	*name;		/* e.g. "X-Frame-Options" */
	const char	*value;		/* never empty, no control characters */
};

/*
 * The extra headers to add to every response (401s included, as
 * exporter-toolkit does); *ret points into wc.  Returns their number.
 */
size_t	 web_config_headers(const struct web_config *wc,
	    const struct web_config_header **ret);

/*
 * rate_limit (exporter-toolkit's token bucket: one token per `interval`,
 * at most `burst`, one per request, shared by every client): true when a
 * request arriving at `now` (now_usec()) may go on, false: answer 429 Too
 * Many Requests, before the headers and auth (as exporter-toolkit).
 * Always true without rate_limit.  Loop thread only (it updates wc's
 * bucket).
 */
bool	 web_config_rate_allow(struct web_config *wc, uint64_t now);

/* True when basic_auth_users is set and not empty: every request needs auth. */
bool	 web_config_has_users(const struct web_config *wc);

/*
 * For web_auth.c: the bcrypt hash of user (len bytes, any bytes), or NULL
 * when there is no such user.  The hash is a secret: never log it.
 */
const char *web_config_user_hash(const struct web_config *wc,
	    const char *user, size_t len);
/*
 * A bcrypt hash that no password matches, at the cost most users have:
 * checked for an unknown user, so that unknown and known users take the
 * same time (exporter-toolkit checks a fixed dummy hash, web/handler.go).
 */
const char *web_config_dummy_hash(const struct web_config *wc);

/*
 * exporter-toolkit's test for a bcrypt hash it can use (golang.org/x/crypto
 * bcrypt.Cost(), web/handler.go validateUsers), restricted to the variants
 * libxcrypt's crypt_r() verifies: "$2a$", "$2b$" or "$2y$", a two-digit cost
 * 04..31, "$", 53 characters of bcrypt's base64.  *ret_cost unless NULL.
 */
bool	 web_config_bcrypt_valid(const char *hash, unsigned *ret_cost);

#endif /* KCM_WEB_CONFIG_H */
