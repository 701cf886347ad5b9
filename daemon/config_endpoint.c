/*
 * config_endpoint.c: one HTTP endpoint of the configuration, `kibana:` or
 * `elasticsearch:` of a target: the URL, the proxy, the limits, and the
 * files it names, checked here once so that a bad file is a configuration
 * error and not a failing request later:
 *
 *  - credentials: api_key_file, or username + password_file, read from
 *    secret files (secret.c) into the ready Authorization header;
 *  - TLS: ca_file and client_cert_file must be regular files, and
 *    client_key_file a secret file; curl reads them per request.
 *
 * Every file is opened without blocking and must be a regular file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_types.h"
#include "config_endpoint.h"
#include "schema.h"
#include "secret.h"
#include "util.h"
#include "ytree.h"

#define REASON_MAX		128

#define TIMEOUT_MIN		USEC_PER_MSEC
#define TIMEOUT_MAX		(3600 * USEC_PER_SEC)
#define RESPONSE_MIN		UINT64_C(1024)
#define RESPONSE_MAX		(UINT64_C(1024) * 1024 * 1024)

#define AUTH_APIKEY_PREFIX	"Authorization: ApiKey "
#define AUTH_BASIC_PREFIX	"Authorization: Basic "

/* ---- URLs ------------------------------------------------------------- */

static const char *const endpoint_schemes[] = { "http", "https", NULL };
static const char *const proxy_schemes[] = {
	"http", "https", "socks4", "socks4a", "socks5", "socks5h", NULL
};

static const struct schema_url_rules endpoint_url_rules = {
	endpoint_schemes, "http or https",
	"; use api_key_file or username/password_file", true,
};
static const struct schema_url_rules proxy_url_rules = {
	proxy_schemes, "http, https, socks4, socks4a, socks5 or socks5h",
	" (proxy authentication is not supported)", false,
};

/* ---- secret and TLS files --------------------------------------------- */

/* Reports what secret.c found wrong with the file `key` names. */
static int
report_secret_file(struct schema *p, const char *key,
    const struct ytree_node *v, const char *path, int r, const char *reason)
{
	struct ytree_shown sh;

	if (r == -ENOMEM)
		p->oom = true;
	else
		ytree_error(&p->rep, v, "'%s': secret file '%s' %s", key,
		    ytree_show(&sh, path), reason);
	return r;
}

/* The secret in the file `key` names; see secret_read(). */
static int
read_secret(struct schema *p, const char *key, const struct ytree_node *v,
    const char *path, char **ret, size_t *ret_len)
{
	char reason[REASON_MAX];
	int r;

	r = secret_read(path, ret, ret_len, reason, sizeof(reason));
	return r < 0 ? report_secret_file(p, key, v, path, r, reason) : 0;
}

/* A secret file curl reads later (client_key_file): opened and closed. */
static int
check_secret_file(struct schema *p, const char *key,
    const struct ytree_node *v, const char *path)
{
	char reason[REASON_MAX];
	off_t size;
	int fd, r;

	r = secret_open(path, &fd, &size, reason, sizeof(reason));
	if (r < 0)
		return report_secret_file(p, key, v, path, r, reason);
	close(fd);
	return 0;
}

/* CA bundle or client certificate, which curl reads later: opened, closed. */
static int
check_readable_file(struct schema *p, const char *key,
    const struct ytree_node *v, const char *path)
{
	struct ytree_shown sh;
	int fd, r;

	r = open_regular(path, &fd, NULL);
	if (r == -EISDIR || r == -EBADFD)
		ytree_error(&p->rep, v, "'%s': '%s' is not a regular file", key,
		    ytree_show(&sh, path));
	else if (r < 0)
		ytree_error(&p->rep, v, "'%s': cannot open '%s': %s", key,
		    ytree_show(&sh, path), strerror(-r));
	else
		close(fd);
	return r;
}

/* ---- endpoints (kibana:, later elasticsearch:) ------------------------ */

enum {
	EP_URL,
	EP_API_KEY_FILE,
	EP_USERNAME,
	EP_PASSWORD_FILE,
	EP_CA_FILE,
	EP_CLIENT_CERT_FILE,
	EP_CLIENT_KEY_FILE,
	EP_INSECURE_SKIP_VERIFY,
	EP_PROXY,
	EP_TIMEOUT,
	EP_MAX_RESPONSE_BYTES,
	EP_NKEYS,
};

static int
endpoint_parse_url(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct endpoint_config *ep = ctx;

	(void)where;
	return schema_url(p, spec->key, v, &endpoint_url_rules, &ep->url);
}

static int
endpoint_parse_proxy(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct endpoint_config *ep = ctx;

	(void)where;
	return schema_url(p, spec->key, v, &proxy_url_rules, &ep->proxy);
}

static int
endpoint_parse_username(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct endpoint_config *ep = ctx;
	const char *s;

	(void)where;
	s = schema_expect_string(p, spec->key, v);
	if (s == NULL)
		return -EINVAL;
	if (strchr(s, ':') != NULL || schema_has_control(s, strlen(s))) {
		ytree_error(&p->rep, v, "'%s': must not contain ':' or control "
		    "characters", spec->key);
		return -EINVAL;
	}
	return schema_string(p, spec->key, v, &ep->username);
}

static const struct schema_key endpoint_keys[EP_NKEYS] = {
	[EP_URL] = SCHEMA_KEY_CUSTOM("url", endpoint_parse_url, true),
	[EP_API_KEY_FILE] = SCHEMA_KEY("api_key_file", SCHEMA_PATH,
	    struct endpoint_config, api_key_file),
	[EP_USERNAME] = SCHEMA_KEY_CUSTOM("username", endpoint_parse_username,
	    false),
	[EP_PASSWORD_FILE] = SCHEMA_KEY("password_file", SCHEMA_PATH,
	    struct endpoint_config, password_file),
	[EP_CA_FILE] = SCHEMA_KEY("ca_file", SCHEMA_PATH,
	    struct endpoint_config, ca_file),
	[EP_CLIENT_CERT_FILE] = SCHEMA_KEY("client_cert_file", SCHEMA_PATH,
	    struct endpoint_config, client_cert_file),
	[EP_CLIENT_KEY_FILE] = SCHEMA_KEY("client_key_file", SCHEMA_PATH,
	    struct endpoint_config, client_key_file),
	[EP_INSECURE_SKIP_VERIFY] = SCHEMA_KEY("insecure_skip_verify",
	    SCHEMA_BOOL, struct endpoint_config, insecure_skip_verify),
	[EP_PROXY] = SCHEMA_KEY_CUSTOM("proxy", endpoint_parse_proxy, false),
	[EP_TIMEOUT] = SCHEMA_KEY_RANGE("timeout", SCHEMA_DURATION,
	    struct endpoint_config, timeout_usec, TIMEOUT_MIN, TIMEOUT_MAX),
	[EP_MAX_RESPONSE_BYTES] = SCHEMA_KEY_RANGE("max_response_bytes",
	    SCHEMA_SIZE, struct endpoint_config, max_response_bytes,
	    RESPONSE_MIN, RESPONSE_MAX),
};

void
config_endpoint_init(struct endpoint_config *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->timeout_usec = CONFIG_DEFAULT_TIMEOUT_USEC;
	ep->max_response_bytes = CONFIG_DEFAULT_MAX_RESPONSE;
}

void
config_endpoint_done(struct endpoint_config *ep)
{
	free(ep->url);
	free(ep->api_key_file);
	free(ep->username);
	free(ep->password_file);
	free(ep->ca_file);
	free(ep->client_cert_file);
	free(ep->client_key_file);
	free(ep->proxy);
	secret_free(ep->auth_header);
	ep->auth_header = NULL;
}

static void
endpoint_load_api_key(struct schema *p, struct endpoint_config *ep,
    const struct ytree_node *v)
{
	char *key = NULL;
	size_t len;

	if (read_secret(p, "api_key_file", v, ep->api_key_file, &key,
	    &len) < 0)
		return;
	ep->auth_header = secret_concat(AUTH_APIKEY_PREFIX,
	    strlen(AUTH_APIKEY_PREFIX), key, len, "", 0);
	if (ep->auth_header == NULL)
		p->oom = true;
	secret_free(key);
}

static void
endpoint_load_basic(struct schema *p, struct endpoint_config *ep,
    const struct ytree_node *v)
{
	char *pw = NULL, *cred, *b64;
	size_t len, clen;

	if (read_secret(p, "password_file", v, ep->password_file, &pw,
	    &len) < 0)
		return;
	clen = strlen(ep->username) + 1 + len;
	cred = secret_concat(ep->username, strlen(ep->username), ":", 1,
	    pw, len);
	secret_free(pw);
	if (cred == NULL) {
		p->oom = true;
		return;
	}
	b64 = base64_encode(cred, clen);
	secret_free(cred);
	if (b64 == NULL) {
		p->oom = true;
		return;
	}
	ep->auth_header = secret_concat(AUTH_BASIC_PREFIX,
	    strlen(AUTH_BASIC_PREFIX), b64, strlen(b64), "", 0);
	if (ep->auth_header == NULL)
		p->oom = true;
	secret_free(b64);
}

/* api_key_file XOR (username + password_file), or no credentials. */
static void
endpoint_check_auth(struct schema *p, struct endpoint_config *ep,
    const struct schema_seen *seen)
{
	const struct schema_seen *api = &seen[EP_API_KEY_FILE];
	const struct schema_seen *user = &seen[EP_USERNAME];
	const struct schema_seen *pw = &seen[EP_PASSWORD_FILE];

	if (api->key != NULL && (user->key != NULL || pw->key != NULL)) {
		ytree_error(&p->rep, api->value, "'api_key_file' cannot be "
		    "combined with 'username'/'password_file'; configure one "
		    "kind of credentials");
		return;
	}
	if (user->key != NULL && pw->key == NULL) {
		ytree_error(&p->rep, user->value, "'username' requires "
		    "'password_file'");
		return;
	}
	if (pw->key != NULL && user->key == NULL) {
		ytree_error(&p->rep, pw->value, "'password_file' requires "
		    "'username'");
		return;
	}
	if (api->ok)
		endpoint_load_api_key(p, ep, api->value);
	else if (user->ok && pw->ok)
		endpoint_load_basic(p, ep, pw->value);
}

static void
endpoint_check_tls(struct schema *p, struct endpoint_config *ep,
    const struct schema_seen *seen)
{
	const struct schema_seen *ca = &seen[EP_CA_FILE];
	const struct schema_seen *cert = &seen[EP_CLIENT_CERT_FILE];
	const struct schema_seen *key = &seen[EP_CLIENT_KEY_FILE];

	if (ca->ok)
		check_readable_file(p, "ca_file", ca->value, ep->ca_file);
	if (cert->key != NULL && key->key == NULL)
		ytree_error(&p->rep, cert->value,
		    "'client_cert_file' requires 'client_key_file'");
	if (key->key != NULL && cert->key == NULL)
		ytree_error(&p->rep, key->value,
		    "'client_key_file' requires 'client_cert_file'");
	if (cert->ok)
		check_readable_file(p, "client_cert_file", cert->value,
		    ep->client_cert_file);
	if (key->ok)
		check_secret_file(p, "client_key_file", key->value,
		    ep->client_key_file);
}

/*
 * Parses one endpoint mapping (`kibana:`; `elasticsearch:` reuses it).
 * `where` names it in messages, e.g. "targets[0].kibana".  ep must have
 * been set up with config_endpoint_init().
 */
int
config_endpoint_parse(struct schema *p, const char *key,
    const struct ytree_node *v, const char *where, struct endpoint_config *ep)
{
	struct schema_seen seen[EP_NKEYS];
	size_t before = p->nerrors;

	if (v->kind != YTREE_MAPPING) {
		ytree_error(&p->rep, v, "'%s': expected a mapping, got %s", key,
		    ytree_describe(v));
		return -EINVAL;
	}
	ep->pos.line = v->line;
	ep->pos.column = v->column;
	schema_mapping(p, v, where, endpoint_keys, EP_NKEYS, ep, seen);
	endpoint_check_auth(p, ep, seen);
	endpoint_check_tls(p, ep, seen);
	return p->nerrors == before ? 0 : -EINVAL;
}

bool
config_endpoint_equal(const struct endpoint_config *a,
    const struct endpoint_config *b)
{
	return str_equal_null(a->url, b->url) &&
	    str_equal_null(a->api_key_file, b->api_key_file) &&
	    str_equal_null(a->username, b->username) &&
	    str_equal_null(a->password_file, b->password_file) &&
	    str_equal_null(a->ca_file, b->ca_file) &&
	    str_equal_null(a->client_cert_file, b->client_cert_file) &&
	    str_equal_null(a->client_key_file, b->client_key_file) &&
	    str_equal_null(a->proxy, b->proxy) &&
	    a->insecure_skip_verify == b->insecure_skip_verify &&
	    a->timeout_usec == b->timeout_usec &&
	    a->max_response_bytes == b->max_response_bytes &&
	    str_equal_null(a->auth_header, b->auth_header);
}
