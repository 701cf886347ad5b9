/*
 * web_config.c: the exporter-toolkit web configuration file (see
 * web_config.h and README, "Web configuration"); the TLS rules and the
 * SSL_CTX are web_tls.c's.
 *
 * The rules are exporter-toolkit's, read from its source (commit 0089e786 of
 * github.com/prometheus/exporter-toolkit unless noted), never its code:
 *
 *  - web/tls_config.go getConfig(): yaml.UnmarshalStrict (unknown and
 *    duplicate keys are errors; an empty file is a valid, empty
 *    configuration), defaults min_version TLS12, max_version TLS13,
 *    prefer_server_cipher_suites true, http2 true; relative cert_file,
 *    key_file and client_ca_file join the folder of the web config file.
 *  - ConfigToTLSConfig(): client_auth_type is "" or NoClientCert,
 *    RequestClientCert, RequireAnyClientCert (and its old name
 *    RequireClientCert), VerifyClientCertIfGiven, RequireAndVerifyClientCert,
 *    anything else "invalid ClientAuth".
 *  - Cipher.UnmarshalYAML(): only names in Go's tls.CipherSuites() ("unknown
 *    cipher").  Curve: CurveP256, CurveP384, CurveP521, X25519 ("unknown
 *    curve").  TLSVersion: TLS10, TLS11, TLS12, TLS13 ("unknown TLS
 *    version").
 *  - web/handler.go: validateUsers() (every hash must pass bcrypt.Cost()),
 *    validateHeaderConfig() (extraHTTPHeaders: only Strict-Transport-Security,
 *    X-Content-Type-Options (nosniff), X-Frame-Options (deny, sameorigin),
 *    X-XSS-Protection, Content-Security-Policy).
 *
 * rate_limit (web/tls_config.go Serve(), RateLimiterConfig): a limiter
 * only when interval is not 0, rate.Every(interval) with `burst` tokens,
 * checked before anything else of a request (429).  Here it belongs to the
 * loaded object, so a reload applies a changed rate_limit with a full
 * bucket (exporter-toolkit keeps the limiter of its start).
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <yaml.h>

#include "config.h"
#include "schema.h"
#include "secret.h"
#include "util.h"
#include "web_config.h"
#include "web_tls.h"
#include "ytree.h"

/* exporter-toolkit's dummy hash (web/handler.go), cost digits replaced. */
#define DUMMY_HASH_FMT	"$2y$%02u$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

struct web_user {
	char	*name;
	size_t	 len;
	char	*hash;		/* secret */
};

struct web_config {
	atomic_uint	 refs;
	/* rate_limit: a token bucket (golang.org/x/time/rate), loop only */
	bool		 rate_on;
	double		 rate_per_usec;	/* tokens per microsecond */
	double		 rate_burst;
	double		 rate_tokens;
	uint64_t	 rate_last;	/* usec of the last update, 0: none */
	char		*path;
	SSL_CTX		*ssl_ctx;
	struct web_config_header *headers;
	size_t		 nheaders;
	struct web_user	*users;
	size_t		 nusers;
	char		 dummy_hash[64];
};

/* ---- the parsed file, before the SSL_CTX is built --------------------- */

struct http_parse {
	bool	 http2;
	struct web_config_header *headers;
	size_t	 nheaders;
};

struct rate_parse {
	int64_t		 interval_ns;	/* <= 0: no limit (Go) */
	unsigned	 burst;
};

struct parse {
	struct schema	*s;
	const char	*basedir;
	struct rate_parse rate;
	struct web_tls_parse tls;
	struct http_parse http;
	struct web_user	*users;
	size_t		 nusers;
	const struct ytree_node *users_at;
};

static void
users_free(struct web_user *u, size_t n)
{
	size_t i;

	if (u == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(u[i].name);
		secret_free(u[i].hash);
	}
	free(u);
}

static void
headers_free(struct web_config_header *h, size_t n)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < n; i++) {
		free((char *)h[i].name);
		free((char *)h[i].value);
	}
	free(h);
}

/*
 * A string value where, as in Go, "" and null mean "not set": returns 1 and
 * *ret (NULL when not set), or -EINVAL after reporting.
 */
static int
opt_string(struct schema *s, const char *key, const struct ytree_node *v,
    const char **ret)
{
	if (v->kind != YTREE_SCALAR) {
		ytree_error(&s->rep, v, "'%s': expected a string, got %s", key,
		    ytree_describe(v));
		return -EINVAL;
	}
	*ret = ytree_is_null(v) || v->len == 0 ? NULL : v->value;
	return 0;
}

/* A file name, resolved against the web configuration file's folder. */
static int
opt_path(struct schema *s, const char *key, const struct ytree_node *v,
    char **ret)
{
	struct strbuf sb;
	const char *str;
	int r;

	r = opt_string(s, key, v, &str);
	if (r < 0 || str == NULL)
		return r;
	strbuf_init(&sb);
	if (str[0] != '/') {
		strbuf_puts(&sb, s->basedir);
		if (sb.len == 0 || sb.buf[sb.len - 1] != '/')
			strbuf_putc(&sb, '/');
	}
	strbuf_puts(&sb, str);
	free(*ret);
	*ret = strbuf_steal(&sb);
	if (*ret == NULL) {
		s->oom = true;
		return -ENOMEM;
	}
	return 0;
}

static int
opt_copy(struct schema *s, const char *key, const struct ytree_node *v,
    char **ret, bool secret)
{
	const char *str;
	int r;

	r = opt_string(s, key, v, &str);
	if (r < 0 || str == NULL)
		return r;
	if (secret)
		secret_free(*ret);
	else
		free(*ret);
	*ret = schema_strdup(s, str);
	return *ret != NULL ? 0 : -ENOMEM;
}

#define TLS_CTX(ctx)	(&((struct parse *)(ctx))->tls)

static int
tls_cert_file(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	TLS_CTX(ctx)->cert_at = v;
	return opt_path(s, k->key, v, &TLS_CTX(ctx)->cert_file);
}

static int
tls_key_file(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	TLS_CTX(ctx)->key_at = v;
	return opt_path(s, k->key, v, &TLS_CTX(ctx)->key_file);
}

static int
tls_client_ca_file(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	TLS_CTX(ctx)->client_ca_at = v;
	return opt_path(s, k->key, v, &TLS_CTX(ctx)->client_ca_file);
}

static int
tls_cert(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	if (TLS_CTX(ctx)->cert_at == NULL)
		TLS_CTX(ctx)->cert_at = v;
	return opt_copy(s, k->key, v, &TLS_CTX(ctx)->cert, false);
}

static int
tls_key(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	if (TLS_CTX(ctx)->key_at == NULL)
		TLS_CTX(ctx)->key_at = v;
	return opt_copy(s, k->key, v, &TLS_CTX(ctx)->key, true);
}

static int
tls_client_ca(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	if (TLS_CTX(ctx)->client_ca_at == NULL)
		TLS_CTX(ctx)->client_ca_at = v;
	return opt_copy(s, k->key, v, &TLS_CTX(ctx)->client_ca, false);
}

static const struct {
	const char	*name;
	enum web_tls_client_auth value;
} client_auth_types[] = {
	{ "NoClientCert", WEB_TLS_CLIENT_AUTH_NONE },
	{ "RequestClientCert", WEB_TLS_CLIENT_AUTH_REQUEST },
	{ "RequireAnyClientCert", WEB_TLS_CLIENT_AUTH_REQUIRE_ANY },
	{ "RequireClientCert", WEB_TLS_CLIENT_AUTH_REQUIRE_ANY },  /* old name */
	{ "VerifyClientCertIfGiven", WEB_TLS_CLIENT_AUTH_VERIFY_IF_GIVEN },
	{ "RequireAndVerifyClientCert", WEB_TLS_CLIENT_AUTH_REQUIRE_VERIFY },
};

static int
tls_client_auth_type(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct web_tls_parse *t = TLS_CTX(ctx);
	struct ytree_shown sh;
	const char *str;
	size_t i;
	int r;

	(void)where;
	r = opt_string(s, k->key, v, &str);
	if (r < 0 || str == NULL)
		return r;
	for (i = 0; i < ELEMENTSOF(client_auth_types); i++)
		if (strcmp(str, client_auth_types[i].name) == 0) {
			t->client_auth = client_auth_types[i].value;
			t->client_auth_set = true;
			t->client_auth_at = v;
			return 0;
		}
	ytree_error(&s->rep, v, "'%s': invalid ClientAuth '%s' (use "
	    "NoClientCert, RequestClientCert, RequireAnyClientCert, "
	    "VerifyClientCertIfGiven or RequireAndVerifyClientCert)", k->key,
	    ytree_show(&sh, str));
	return -EINVAL;
}

static int
parse_version(struct schema *s, const char *key, const struct ytree_node *v,
    int *ret)
{
	struct ytree_shown sh;
	const char *str;

	str = schema_expect_scalar(s, key, v, "a TLS version");
	if (str == NULL)
		return -EINVAL;
	if (web_tls_version_find(str, ret) == 0)
		return 0;
	ytree_error(&s->rep, v, "'%s': unknown TLS version '%s' (use TLS10, "
	    "TLS11, TLS12 or TLS13)", key, ytree_show(&sh, str));
	return -EINVAL;
}

static int
tls_min_version(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	TLS_CTX(ctx)->min_at = v;
	return parse_version(s, k->key, v, &TLS_CTX(ctx)->min_version);
}

static int
tls_max_version(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)where;
	TLS_CTX(ctx)->max_at = v;
	return parse_version(s, k->key, v, &TLS_CTX(ctx)->max_version);
}

/* Go's tls.InsecureCipherSuites(): refused by exporter-toolkit too. */
static const char *const insecure_ciphers[] = {
	"TLS_RSA_WITH_RC4_128_SHA",
	"TLS_RSA_WITH_3DES_EDE_CBC_SHA",
	"TLS_RSA_WITH_AES_128_CBC_SHA256",
	"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
	"TLS_ECDHE_RSA_WITH_RC4_128_SHA",
	"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
	"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
	"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
};

/* A YAML list of strings (null: empty list); NULL after reporting. */
static bool
expect_list(struct schema *s, const char *key, const struct ytree_node *v)
{
	if (v->kind == YTREE_SEQUENCE || ytree_is_null(v))
		return true;
	ytree_error(&s->rep, v, "'%s': expected a list, got %s", key,
	    ytree_describe(v));
	return false;
}

static int
tls_cipher_suites(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct web_tls_parse *t = TLS_CTX(ctx);
	struct ytree_shown sh;
	const char *str;
	size_t i, j;
	bool ok = true;

	(void)where;
	if (!expect_list(s, k->key, v))
		return -EINVAL;
	t->ciphers_at = v;
	if (v->nchild == 0)
		return 0;
	t->ciphers = calloc(v->nchild, sizeof(*t->ciphers));
	if (t->ciphers == NULL) {
		s->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i < v->nchild; i++) {
		str = schema_expect_scalar(s, k->key, v->child[i],
		    "a cipher suite name");
		if (str == NULL) {
			ok = false;
			continue;
		}
		if (web_tls_cipher_find(str, &t->ciphers[t->nciphers]) == 0) {
			t->nciphers++;
			continue;
		}
		ok = false;
		for (j = 0; j < ELEMENTSOF(insecure_ciphers); j++)
			if (strcmp(str, insecure_ciphers[j]) == 0)
				break;
		if (j < ELEMENTSOF(insecure_ciphers))
			ytree_error(&s->rep, v->child[i], "'%s': unknown cipher "
			    "'%s': it is one of Go's insecure cipher suites, "
			    "which exporter-toolkit does not accept",
			    k->key, ytree_show(&sh, str));
		else
			ytree_error(&s->rep, v->child[i], "'%s': unknown cipher "
			    "'%s' (use Go's names, e.g. "
			    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", k->key,
			    ytree_show(&sh, str));
	}
	return ok ? 0 : -EINVAL;
}

static int
tls_curve_preferences(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct web_tls_parse *t = TLS_CTX(ctx);
	struct ytree_shown sh;
	const char *str;
	size_t i;
	bool ok = true;

	(void)where;
	if (!expect_list(s, k->key, v))
		return -EINVAL;
	if (v->nchild == 0)
		return 0;
	t->curves = calloc(v->nchild, sizeof(*t->curves));
	if (t->curves == NULL) {
		s->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i < v->nchild; i++) {
		str = schema_expect_scalar(s, k->key, v->child[i],
		    "a curve name");
		if (str == NULL) {
			ok = false;
			continue;
		}
		if (web_tls_curve_find(str, &t->curves[t->ncurves]) == 0) {
			t->ncurves++;
			continue;
		}
		ok = false;
		if (strcmp(str, "X25519MLKEM768") == 0)
			ytree_error(&s->rep, v->child[i], "'%s': unknown curve "
			    "'X25519MLKEM768': exporter-toolkit does not "
			    "accept it, and OpenSSL 3.0 has no ML-KEM (use "
			    "CurveP256, CurveP384, CurveP521 or X25519)",
			    k->key);
		else
			ytree_error(&s->rep, v->child[i], "'%s': unknown curve "
			    "'%s' (use CurveP256, CurveP384, CurveP521 or "
			    "X25519)", k->key, ytree_show(&sh, str));
	}
	return ok ? 0 : -EINVAL;
}

static int
tls_client_allowed_sans(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct web_tls_parse *t = TLS_CTX(ctx);
	const char *str;
	size_t i;
	bool ok = true;

	(void)where;
	if (!expect_list(s, k->key, v))
		return -EINVAL;
	/* Go: a nil slice is "not set", an empty list is set */
	t->sans_set = !ytree_is_null(v);
	t->sans_at = v;
	if (v->nchild == 0)
		return 0;
	t->sans = calloc(v->nchild, sizeof(*t->sans));
	if (t->sans == NULL) {
		s->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i < v->nchild; i++) {
		str = schema_expect_scalar(s, k->key, v->child[i], "a string");
		if (str == NULL) {
			ok = false;
			continue;
		}
		t->sans[t->nsans] = schema_strdup(s, str);
		if (t->sans[t->nsans] == NULL)
			return -ENOMEM;
		t->nsans++;
	}
	return ok ? 0 : -EINVAL;
}

enum {
	TK_CERT, TK_KEY, TK_CLIENT_CA, TK_CERT_FILE, TK_KEY_FILE,
	TK_CLIENT_AUTH_TYPE, TK_CLIENT_CA_FILE, TK_CIPHER_SUITES,
	TK_CURVE_PREFERENCES, TK_MIN_VERSION, TK_MAX_VERSION,
	TK_PREFER_SERVER, TK_CLIENT_ALLOWED_SANS, TK_NKEYS,
};

static const struct schema_key tls_keys[TK_NKEYS] = {
	[TK_CERT] = SCHEMA_KEY_CUSTOM("cert", tls_cert, false),
	[TK_KEY] = SCHEMA_KEY_CUSTOM("key", tls_key, false),
	[TK_CLIENT_CA] = SCHEMA_KEY_CUSTOM("client_ca", tls_client_ca, false),
	[TK_CERT_FILE] = SCHEMA_KEY_CUSTOM("cert_file", tls_cert_file, false),
	[TK_KEY_FILE] = SCHEMA_KEY_CUSTOM("key_file", tls_key_file, false),
	[TK_CLIENT_AUTH_TYPE] = SCHEMA_KEY_CUSTOM("client_auth_type",
	    tls_client_auth_type, false),
	[TK_CLIENT_CA_FILE] = SCHEMA_KEY_CUSTOM("client_ca_file",
	    tls_client_ca_file, false),
	[TK_CIPHER_SUITES] = SCHEMA_KEY_CUSTOM("cipher_suites",
	    tls_cipher_suites, false),
	[TK_CURVE_PREFERENCES] = SCHEMA_KEY_CUSTOM("curve_preferences",
	    tls_curve_preferences, false),
	[TK_MIN_VERSION] = SCHEMA_KEY_CUSTOM("min_version", tls_min_version,
	    false),
	[TK_MAX_VERSION] = SCHEMA_KEY_CUSTOM("max_version", tls_max_version,
	    false),
	[TK_PREFER_SERVER] = { .key = "prefer_server_cipher_suites",
	    .kind = SCHEMA_BOOL, .offset = offsetof(struct parse,
	    tls.prefer_server) },
	[TK_CLIENT_ALLOWED_SANS] = SCHEMA_KEY_CUSTOM("client_allowed_sans",
	    tls_client_allowed_sans, false),
};

/* ---- http_server_config ----------------------------------------------- */

/* exporter-toolkit's extraHTTPHeaders (web/handler.go). */
static const struct {
	const char	*name;
	const char	*values[2];	/* allowed values; none: any */
	const char	*values_text;
} extra_headers[] = {
	{ "Strict-Transport-Security", { NULL, NULL }, NULL },
	{ "X-Content-Type-Options", { "nosniff", NULL }, "nosniff" },
	{ "X-Frame-Options", { "deny", "sameorigin" }, "deny or sameorigin" },
	{ "X-XSS-Protection", { NULL, NULL }, NULL },
	{ "Content-Security-Policy", { NULL, NULL }, NULL },
};

static int
http_headers(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct http_parse *h = &((struct parse *)ctx)->http;
	const struct ytree_node *name, *val;
	struct ytree_shown sh, sh2;
	const char *str;
	size_t i, j, n;
	bool ok = true;

	(void)where;
	if (ytree_is_null(v))
		return 0;
	if (v->kind != YTREE_MAPPING) {
		ytree_error(&s->rep, v, "'%s': expected a mapping of header "
		    "names to values, got %s", k->key, ytree_describe(v));
		return -EINVAL;
	}
	h->headers = calloc(v->nchild / 2 + 1, sizeof(*h->headers));
	if (h->headers == NULL) {
		s->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i + 1 < v->nchild; i += 2) {
		name = v->child[i];
		val = v->child[i + 1];
		if (name->kind != YTREE_SCALAR) {
			ytree_error(&s->rep, name, "'%s': header names must be "
			    "strings, got %s", k->key, ytree_describe(name));
			ok = false;
			continue;
		}
		for (j = 0; j < ELEMENTSOF(extra_headers); j++)
			if (strcmp(name->value, extra_headers[j].name) == 0)
				break;
		if (j == ELEMENTSOF(extra_headers)) {
			ytree_error(&s->rep, name, "'%s': HTTP header '%s' can "
			    "not be configured (use Strict-Transport-Security, "
			    "X-Content-Type-Options, X-Frame-Options, "
			    "X-XSS-Protection or Content-Security-Policy)",
			    k->key, ytree_show(&sh, name->value));
			ok = false;
			continue;
		}
		for (n = 0; n < i; n += 2)
			if (v->child[n]->kind == YTREE_SCALAR &&
			    strcmp(v->child[n]->value, name->value) == 0)
				break;
		if (n < i) {
			ytree_error(&s->rep, name, "'%s': duplicate header "
			    "'%s' (first defined at line %u)", k->key,
			    name->value, v->child[n]->line);
			ok = false;
			continue;
		}
		if (val->kind != YTREE_SCALAR) {
			ytree_error(&s->rep, val, "'%s': the value of '%s' must "
			    "be a string, got %s", k->key, name->value,
			    ytree_describe(val));
			ok = false;
			continue;
		}
		str = ytree_is_null(val) ? "" : val->value;
		if (extra_headers[j].values[0] != NULL &&
		    strcmp(str, extra_headers[j].values[0]) != 0 &&
		    (extra_headers[j].values[1] == NULL ||
		    strcmp(str, extra_headers[j].values[1]) != 0)) {
			ytree_error(&s->rep, val, "'%s': invalid value for %s: "
			    "'%s' (expected %s)", k->key, name->value,
			    ytree_show(&sh2, str), extra_headers[j].values_text);
			ok = false;
			continue;
		}
		if (schema_has_control(str, strlen(str))) {
			ytree_error(&s->rep, val, "'%s': the value of '%s' must "
			    "not contain control characters", k->key,
			    name->value);
			ok = false;
			continue;
		}
		if (*str == '\0')	/* documented: "Unset if blank" */
			continue;
		h->headers[h->nheaders].name = schema_strdup(s,
		    extra_headers[j].name);
		h->headers[h->nheaders].value = schema_strdup(s, str);
		h->nheaders++;
		if (s->oom)
			return -ENOMEM;
	}
	return ok ? 0 : -EINVAL;
}

enum { HTTP_HTTP2, HTTP_HEADERS, HTTP_NKEYS };

static const struct schema_key http_keys[HTTP_NKEYS] = {
	/* accepted and ignored: HTTP/2 is never served (README) */
	[HTTP_HTTP2] = { .key = "http2", .kind = SCHEMA_BOOL,
	    .offset = offsetof(struct parse, http.http2) },
	[HTTP_HEADERS] = SCHEMA_KEY_CUSTOM("headers", http_headers, false),
};

/* ---- basic_auth_users ------------------------------------------------- */

static bool
bcrypt_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '/';
}

bool
web_config_bcrypt_valid(const char *h, unsigned *ret_cost)
{
	unsigned cost;
	size_t i;

	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' ||
	    strchr("aby", h[2]) == NULL || h[2] == '\0' || h[3] != '$' ||
	    h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' ||
	    h[6] != '$')
		return false;
	cost = (unsigned)(h[4] - '0') * 10 + (unsigned)(h[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	for (i = 7; i < 60; i++)
		if (!bcrypt_char(h[i]))
			return false;
	if (ret_cost != NULL)
		*ret_cost = cost;
	return true;
}

static int
parse_users(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct parse *p = ctx;
	const struct ytree_node *name, *val;
	struct ytree_shown sh;
	size_t i, n;
	bool ok = true;

	(void)where;
	if (ytree_is_null(v))
		return 0;
	if (v->kind != YTREE_MAPPING) {
		ytree_error(&s->rep, v, "'%s': expected a mapping of user "
		    "names to bcrypt hashes, got %s", k->key,
		    ytree_describe(v));
		return -EINVAL;
	}
	p->users_at = v;
	p->users = calloc(v->nchild / 2 + 1, sizeof(*p->users));
	if (p->users == NULL) {
		s->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i + 1 < v->nchild; i += 2) {
		name = v->child[i];
		val = v->child[i + 1];
		if (name->kind != YTREE_SCALAR) {
			ytree_error(&s->rep, name, "'%s': user names must be "
			    "strings, got %s", k->key, ytree_describe(name));
			ok = false;
			continue;
		}
		for (n = 0; n < i; n += 2)
			if (v->child[n]->kind == YTREE_SCALAR &&
			    strcmp(v->child[n]->value, name->value) == 0)
				break;
		if (n < i) {
			ytree_error(&s->rep, name, "'%s': duplicate user '%s' "
			    "(first defined at line %u)", k->key,
			    ytree_show(&sh, name->value), v->child[n]->line);
			ok = false;
			continue;
		}
		/* the hash is a secret: never shown */
		if (val->kind != YTREE_SCALAR || ytree_is_null(val) ||
		    !web_config_bcrypt_valid(val->value, NULL)) {
			ytree_error(&s->rep, val, "'%s': the password of user "
			    "'%s' is not a bcrypt hash ($2a$, $2b$ or $2y$, "
			    "cost 04 to 31, 60 characters); make one with "
			    "htpasswd -nBC 10 USER", k->key,
			    ytree_show(&sh, name->value));
			ok = false;
			continue;
		}
		p->users[p->nusers].name = schema_strdup(s, name->value);
		p->users[p->nusers].len = name->len;
		p->users[p->nusers].hash = schema_strdup(s, val->value);
		p->nusers++;
		if (s->oom)
			return -ENOMEM;
	}
	return ok ? 0 : -EINVAL;
}

/* ---- the top level ---------------------------------------------------- */

static int
parse_tls(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct schema_seen seen[TK_NKEYS];

	(void)where;
	if (ytree_is_null(v))
		return 0;
	if (v->kind != YTREE_MAPPING) {
		ytree_error(&s->rep, v, "'%s': expected a mapping, got %s",
		    k->key, ytree_describe(v));
		return -EINVAL;
	}
	TLS_CTX(ctx)->node = v;
	return schema_mapping(s, v, k->key, tls_keys, TK_NKEYS, ctx, seen);
}

static int
parse_http(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct schema_seen seen[HTTP_NKEYS];

	(void)where;
	if (ytree_is_null(v))
		return 0;
	if (v->kind != YTREE_MAPPING) {
		ytree_error(&s->rep, v, "'%s': expected a mapping, got %s",
		    k->key, ytree_describe(v));
		return -EINVAL;
	}
	return schema_mapping(s, v, k->key, http_keys, HTTP_NKEYS, ctx, seen);
}

/* ---- rate_limit --------------------------------------------------------- */

/*
 * Go's time.ParseDuration: [-+] then one or more decimal numbers with an
 * optional fraction, each with a unit ns, us (µs, μs), ms, s, m, h; or a
 * bare "0".  0 and *ret (nanoseconds), or -EINVAL / -ERANGE.
 */
static int
go_duration(const char *str, int64_t *ret)
{
	static const struct {
		const char	*unit;
		double		 ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 },
		{ "\xce\xbcs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 },
		{ "h", 3600e9 },
	};
	const char *p = str;
	double total = 0, v, scale;
	bool neg = false, digits;
	size_t i, best, blen;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*ret = 0;
		return 0;
	}
	if (*p == '\0')
		return -EINVAL;
	while (*p != '\0') {
		v = 0;
		digits = false;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (*p++ - '0');
			digits = true;
		}
		if (*p == '.') {
			p++;
			for (scale = 0.1; *p >= '0' && *p <= '9'; scale /= 10) {
				v += (*p++ - '0') * scale;
				digits = true;
			}
		}
		if (!digits)
			return -EINVAL;
		best = ELEMENTSOF(units);
		blen = 0;
		for (i = 0; i < ELEMENTSOF(units); i++)
			if (strncmp(p, units[i].unit, strlen(units[i].unit)) ==
			    0 && strlen(units[i].unit) > blen) {
				best = i;
				blen = strlen(units[i].unit);
			}
		if (best == ELEMENTSOF(units))
			return -EINVAL;
		p += blen;
		total += v * units[best].ns;
		if (total > 9.2e18)
			return -ERANGE;
	}
	*ret = (int64_t)(neg ? -total : total);
	return 0;
}

static int
rate_interval(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct rate_parse *rp = &((struct parse *)ctx)->rate;
	struct ytree_shown sh;
	const char *str;
	uint64_t n;

	(void)where;
	str = schema_expect_scalar(s, k->key, v, "a duration");
	if (str == NULL)
		return -EINVAL;
	/* yaml.v2 reads a plain integer as nanoseconds */
	if (v->plain && parse_uint64(str, &n) == 0 && n <= INT64_MAX) {
		rp->interval_ns = (int64_t)n;
		return 0;
	}
	if (go_duration(str, &rp->interval_ns) < 0) {
		ytree_error(&s->rep, v, "'%s': invalid duration '%s' (Go's "
		    "syntax, e.g. 1s, 500ms, 1m30s)", k->key,
		    ytree_show(&sh, str));
		return -EINVAL;
	}
	return 0;
}

enum { RATE_INTERVAL, RATE_BURST, RATE_NKEYS };

static const struct schema_key rate_keys[RATE_NKEYS] = {
	[RATE_INTERVAL] = SCHEMA_KEY_CUSTOM("interval", rate_interval, false),
	[RATE_BURST] = { .key = "burst", .kind = SCHEMA_UINT,
	    .offset = offsetof(struct parse, rate.burst), .min = 0,
	    .max = INT_MAX },
};

static int
parse_rate_limit(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct schema_seen seen[RATE_NKEYS];

	(void)where;
	if (ytree_is_null(v))
		return 0;
	if (v->kind != YTREE_MAPPING) {
		ytree_error(&s->rep, v, "'%s': expected a mapping, got %s",
		    k->key, ytree_describe(v));
		return -EINVAL;
	}
	return schema_mapping(s, v, k->key, rate_keys, RATE_NKEYS, ctx, seen);
}

enum { TOP_TLS, TOP_HTTP, TOP_USERS, TOP_RATE_LIMIT, TOP_NKEYS };

static const struct schema_key top_keys[TOP_NKEYS] = {
	[TOP_TLS] = SCHEMA_KEY_CUSTOM("tls_server_config", parse_tls, false),
	[TOP_HTTP] = SCHEMA_KEY_CUSTOM("http_server_config", parse_http,
	    false),
	[TOP_USERS] = SCHEMA_KEY_CUSTOM("basic_auth_users", parse_users, false),
	[TOP_RATE_LIMIT] = SCHEMA_KEY_CUSTOM("rate_limit", parse_rate_limit,
	    false),
};

/* ---- loading ---------------------------------------------------------- */

/* True when the input holds no YAML document (empty or only comments). */
static bool
yaml_empty(const char *buf, size_t len)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	bool empty = false;
	int i;

	if (!yaml_parser_initialize(&yp))
		return false;
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	for (i = 0; i < 2; i++) {
		if (!yaml_parser_parse(&yp, &ev))
			break;
		empty = i == 1 && ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	return empty;
}

static void
set_dummy_hash(struct web_config *wc)
{
	unsigned count[32] = { 0 }, cost, best = 10;
	size_t i;

	for (i = 0; i < wc->nusers; i++)
		if (web_config_bcrypt_valid(wc->users[i].hash, &cost))
			count[cost]++;
	for (cost = 4; cost < 32; cost++)
		if (count[cost] > 0 && count[cost] >= count[best])
			best = cost;
	snprintf(wc->dummy_hash, sizeof(wc->dummy_hash), DUMMY_HASH_FMT, best);
}

static int
load_buffer(const char *path, const char *buf, size_t len, mode_t mode,
    struct schema *s, struct web_config *wc)
{
	struct schema_seen seen[TOP_NKEYS];
	struct ytree_node *root = NULL;
	struct parse p;
	int r;

	memset(&p, 0, sizeof(p));
	p.s = s;
	web_tls_parse_init(&p.tls);
	p.http.http2 = true;
	set_dummy_hash(wc);	/* no users yet: cost 10 */
	if (yaml_empty(buf, len))
		return 0;
	r = ytree_load(buf, len, &s->rep, &root);
	if (r < 0)
		return r;
	if (ytree_is_null(root))
		goto out;
	if (root->kind != YTREE_MAPPING) {
		ytree_error(&s->rep, root, "the top level must be a mapping of "
		    "settings (key: value), got %s", ytree_describe(root));
		goto out;
	}
	schema_mapping(s, root, NULL, top_keys, TOP_NKEYS, &p, seen);
	if (s->nerrors > 0 || s->oom)
		goto out;
	if (p.tls.key != NULL && (mode & (S_IRGRP | S_IROTH)) != 0) {
		ytree_error(&s->rep, p.tls.key_at, "'key': an inline private "
		    "key needs the web configuration file to be unreadable by "
		    "group and others (mode %04o); run chmod 600 on '%s', or "
		    "use key_file", (unsigned)(mode & 07777), path);
		goto out;
	}
	r = web_tls_build(s, &p.tls, p.http.http2, &wc->ssl_ctx);
	if (r < 0)
		goto out;
	wc->headers = p.http.headers;
	wc->nheaders = p.http.nheaders;
	p.http.headers = NULL;
	p.http.nheaders = 0;
	/* Serve(): a limiter only when interval != 0; rate.Every() of a
	 * negative interval is no limit at all */
	if (p.rate.interval_ns > 0) {
		wc->rate_on = true;
		wc->rate_per_usec = 1000.0 / (double)p.rate.interval_ns;
		wc->rate_burst = p.rate.burst;
		wc->rate_tokens = p.rate.burst;
	}
	wc->users = p.users;
	wc->nusers = p.nusers;
	p.users = NULL;
	p.nusers = 0;
	set_dummy_hash(wc);
out:
	web_tls_parse_done(&p.tls);
	headers_free(p.http.headers, p.http.nheaders);
	users_free(p.users, p.nusers);
	ytree_free(root);
	if (s->oom)
		return -ENOMEM;
	if (s->nerrors > 0)
		return -EINVAL;
	/* A failure nobody reported is still a failure: never a half-built
	 * configuration (TLS asked for, served as plain HTTP). */
	return r < 0 ? r : 0;
}

/* The errors of one load, sorted, and the result (see web_config_load). */
static int
finish(int r, struct schema *s, struct config_errlist *el, size_t first,
    struct web_config *wc, struct web_config **ret)
{
	if (r == 0 && (s->nerrors > 0 || s->oom))
		r = s->oom ? -ENOMEM : -EINVAL;
	if (el->oom)
		r = -ENOMEM;
	else if (r == -EINVAL && el->errs->n == first)
		r = -ENOMEM;	/* nothing could be reported */
	config_errors_sort(el->errs, first);
	if (r < 0) {
		web_config_unref(wc);
		return r;
	}
	*ret = wc;
	return 0;
}

int
web_config_load_buffer(const char *name, const void *buf, size_t len,
    const char *basedir, mode_t mode, struct web_config **ret,
    struct config_errors *errs)
{
	struct config_errors local = { NULL, 0 };
	struct config_errlist el = { .path = name, .errs = errs };
	struct ytree_report out = { config_errlist_add, &el };
	struct web_config *wc;
	struct schema s;
	size_t first;
	int r;

	if (errs == NULL)
		el.errs = &local;
	first = el.errs->n;
	schema_init(&s, &out, basedir);
	wc = calloc(1, sizeof(*wc));
	if (wc == NULL || (wc->path = strdup(name)) == NULL)
		r = -ENOMEM;
	else {
		atomic_init(&wc->refs, 1);
		r = load_buffer(name, buf, len, mode, &s, wc);
	}
	r = finish(r, &s, &el, first, wc, ret);
	config_errors_free(&local);
	return r;
}

int
web_config_load(const char *path, struct web_config **ret,
    struct config_errors *errs)
{
	struct config_errors local = { NULL, 0 };
	struct config_errlist el = { .path = path, .errs = errs };
	struct ytree_report out = { config_errlist_add, &el };
	char *buf = NULL, *basedir = NULL;
	struct schema s;
	struct stat st;
	size_t len = 0, first;
	int fd = -1, r;

	if (errs == NULL)
		el.errs = &local;
	first = el.errs->n;
	schema_init(&s, &out, NULL);
	r = open_regular(path, &fd, &st);
	if (r == -EISDIR || r == -EBADFD) {
		ytree_error_at(&s.rep, 0, 0, "not a regular file");
		goto out;
	}
	if (r < 0) {
		ytree_error_at(&s.rep, 0, 0, "cannot open: %s", strerror(-r));
		goto out;
	}
	r = read_regular(fd, WEB_CONFIG_MAX_FILE, &buf, &len);
	if (r == -EFBIG)
		ytree_error_at(&s.rep, 0, 0, "larger than %d MiB",
		    WEB_CONFIG_MAX_FILE / (1024 * 1024));
	else if (r < 0 && r != -ENOMEM)
		ytree_error_at(&s.rep, 0, 0, "cannot read: %s", strerror(-r));
	if (r < 0)
		goto out;
	r = path_dirname(path, &basedir);
	if (r < 0) {
		if (r != -ENOMEM)
			ytree_error_at(&s.rep, 0, 0, "cannot resolve the "
			    "directory of the file: %s", strerror(-r));
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (r == 0) {
		r = web_config_load_buffer(path, buf, len, basedir, st.st_mode,
		    ret, el.errs);
	} else {
		r = finish(r, &s, &el, first, NULL, ret);
	}
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	free(basedir);
	config_errors_free(&local);
	return r;
}

struct web_config *
web_config_ref(struct web_config *wc)
{
	if (wc != NULL)
		atomic_fetch_add(&wc->refs, 1);
	return wc;
}

void
web_config_unref(struct web_config *wc)
{
	if (wc == NULL || atomic_fetch_sub(&wc->refs, 1) != 1)
		return;
	SSL_CTX_free(wc->ssl_ctx);
	headers_free(wc->headers, wc->nheaders);
	users_free(wc->users, wc->nusers);
	free(wc->path);
	free(wc);
}

const char *
web_config_path(const struct web_config *wc)
{
	return wc->path;
}

SSL_CTX *
web_config_ssl_ctx(const struct web_config *wc)
{
	return wc->ssl_ctx;
}

size_t
web_config_headers(const struct web_config *wc,
    const struct web_config_header **ret)
{
	*ret = wc->headers;
	return wc->nheaders;
}

bool
web_config_has_users(const struct web_config *wc)
{
	return wc->nusers > 0;
}

const char *
web_config_user_hash(const struct web_config *wc, const char *user,
    size_t len)
{
	size_t i;

	for (i = 0; i < wc->nusers; i++)
		if (wc->users[i].len == len &&
		    memcmp(wc->users[i].name, user, len) == 0)
			return wc->users[i].hash;
	return NULL;
}

const char *
web_config_dummy_hash(const struct web_config *wc)
{
	return wc->dummy_hash;
}

bool
web_config_rate_allow(struct web_config *wc, uint64_t now)
{
	if (!wc->rate_on)
		return true;
	if (wc->rate_last != 0 && now > wc->rate_last) {
		wc->rate_tokens += (double)(now - wc->rate_last) *
		    wc->rate_per_usec;
		if (wc->rate_tokens > wc->rate_burst)
			wc->rate_tokens = wc->rate_burst;
	}
	if (wc->rate_last == 0 || now > wc->rate_last)
		wc->rate_last = now;
	if (wc->rate_tokens < 1 - 1e-9)	/* floating-point dust */
		return false;
	wc->rate_tokens -= 1;
	return true;
}
