/*
 * web_config.c: the exporter-toolkit web configuration file (see
 * web_config.h and README, "Web configuration").
 *
 * The rules are exporter-toolkit's, read from its source (commit 0089e786 of
 * github.com/prometheus/exporter-toolkit unless noted), never its code:
 *
 *  - web/tls_config.go getConfig(): yaml.UnmarshalStrict (unknown and
 *    duplicate keys are errors; an empty file is a valid, empty
 *    configuration), defaults min_version TLS12, max_version TLS13,
 *    prefer_server_cipher_suites true, http2 true; relative cert_file,
 *    key_file and client_ca_file join the folder of the web config file.
 *  - TLSConfig.IsEnabled(): TLS is on when any of cert, cert_file, key,
 *    key_file, client_ca, client_ca_file, client_auth_type is set (an empty
 *    string is "not set"); otherwise plain HTTP, whatever else
 *    tls_server_config holds.
 *  - validateTLSPaths(): "missing one of cert or cert_file", "missing one of
 *    key or key_file".
 *  - ConfigToTLSConfig(): the certificate and key must load and match
 *    (tls.X509KeyPair); client_auth_type is "" or NoClientCert,
 *    RequestClientCert, RequireAnyClientCert (and its old name
 *    RequireClientCert), VerifyClientCertIfGiven, RequireAndVerifyClientCert,
 *    anything else "invalid ClientAuth"; a client CA with NoClientCert is
 *    refused ("client CA's have been configured without a Client Auth
 *    Policy"); client_allowed_sans needs RequireAnyClientCert or
 *    RequireAndVerifyClientCert, and a client certificate passes when one of
 *    its DNS, e-mail, IP or URI SANs equals an entry.  A verifying policy
 *    without a client CA verifies against the system's roots (Go's nil
 *    ClientCAs).
 *  - Cipher.UnmarshalYAML(): only names in Go's tls.CipherSuites() ("unknown
 *    cipher"); Go applies the list to TLS 1.0-1.2 only.  Curve: CurveP256,
 *    CurveP384, CurveP521, X25519 ("unknown curve").  TLSVersion: TLS10,
 *    TLS11, TLS12, TLS13 ("unknown TLS version").
 *  - web/handler.go: validateUsers() (every hash must pass bcrypt.Cost()),
 *    validateHeaderConfig() (extraHTTPHeaders: only Strict-Transport-Security,
 *    X-Content-Type-Options (nosniff), X-Frame-Options (deny, sameorigin),
 *    X-XSS-Protection, Content-Security-Policy).
 *  - web/tls_config_test.go "No HTTP2 cipher": with http2 on, Go's HTTP/2
 *    server refuses a TLS <= 1.2 cipher list without
 *    TLS_ECDHE_{RSA,ECDSA}_WITH_AES_128_GCM_SHA256; refused here at load.
 *
 * rate_limit (web/tls_config.go Serve(), RateLimiterConfig): a limiter
 * only when interval is not 0, rate.Every(interval) with `burst` tokens,
 * checked before anything else of a request (429).  Here it belongs to the
 * loaded object, so a reload applies a changed rate_limit with a full
 * bucket (exporter-toolkit keeps the limiter of its start).
 *
 * Refused here although exporter-toolkit takes them (each with an error
 * naming the key): cert together with
 * cert_file (and key/key_file, client_ca/client_ca_file: exporter-toolkit
 * silently prefers the file); a client CA file without any certificate
 * (exporter-toolkit's later testdata web_config_auth_clientCAs_nocerts.bad.yml);
 * min_version above max_version (Go fails every handshake).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <yaml.h>

#include "config.h"
#include "schema.h"
#include "secret.h"
#include "util.h"
#include "web_config.h"
#include "ytree.h"

#define WEB_CONFIG_MAX_FILE	(1024 * 1024)	/* the YAML, a cert, a CA */
#define REASON_MAX		160
/* exporter-toolkit's dummy hash (web/handler.go), cost digits replaced. */
#define DUMMY_HASH_FMT	"$2y$%02u$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

enum client_auth {
	CLIENT_AUTH_NONE,		/* NoClientCert */
	CLIENT_AUTH_REQUEST,		/* RequestClientCert */
	CLIENT_AUTH_REQUIRE_ANY,	/* RequireAnyClientCert */
	CLIENT_AUTH_VERIFY_IF_GIVEN,	/* VerifyClientCertIfGiven */
	CLIENT_AUTH_REQUIRE_VERIFY,	/* RequireAndVerifyClientCert */
};

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

/* What the handshake checks of a client certificate; owned by the SSL_CTX. */
struct tls_verify {
	bool	 verify_chain;
	char	**sans;
	size_t	 nsans;
};

/* OpenSSL's reason for the last failure (no secrets in it), errors cleared. */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s != NULL ? s : "unknown error";
}

/* ---- the parsed file, before the SSL_CTX is built --------------------- */

struct tls_parse {
	const struct ytree_node *node;		/* the mapping */
	char	*cert_file, *key_file, *client_ca_file;	/* resolved */
	char	*cert, *key, *client_ca;		/* inline PEM; key secret */
	const struct ytree_node *cert_at, *key_at, *client_ca_at;
	bool	 client_auth_set;
	enum client_auth client_auth;
	const struct ytree_node *client_auth_at;
	int	 min_version, max_version;
	const struct ytree_node *min_at, *max_at;
	/* indexes into ciphers[] */
	size_t	*ciphers;
	size_t	 nciphers;
	const struct ytree_node *ciphers_at;
	int	*curves;
	size_t	 ncurves;
	bool	 prefer_server;
	char	**sans;
	size_t	 nsans;
	bool	 sans_set;
	const struct ytree_node *sans_at;
};

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
	struct tls_parse tls;
	struct http_parse http;
	struct web_user	*users;
	size_t		 nusers;
	const struct ytree_node *users_at;
};

static void
tls_parse_done(struct tls_parse *t)
{
	size_t i;

	free(t->cert_file);
	free(t->key_file);
	free(t->client_ca_file);
	free(t->cert);
	secret_free(t->key);
	free(t->client_ca);
	free(t->ciphers);
	free(t->curves);
	for (i = 0; i < t->nsans; i++)
		free(t->sans[i]);
	free(t->sans);
}

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
	enum client_auth value;
} client_auth_types[] = {
	{ "NoClientCert", CLIENT_AUTH_NONE },
	{ "RequestClientCert", CLIENT_AUTH_REQUEST },
	{ "RequireAnyClientCert", CLIENT_AUTH_REQUIRE_ANY },
	{ "RequireClientCert", CLIENT_AUTH_REQUIRE_ANY },  /* old name */
	{ "VerifyClientCertIfGiven", CLIENT_AUTH_VERIFY_IF_GIVEN },
	{ "RequireAndVerifyClientCert", CLIENT_AUTH_REQUIRE_VERIFY },
};

static int
tls_client_auth_type(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct tls_parse *t = TLS_CTX(ctx);
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

static const struct {
	const char	*name;
	int		 version;
} tls_versions[] = {
	{ "TLS10", TLS1_VERSION },
	{ "TLS11", TLS1_1_VERSION },
	{ "TLS12", TLS1_2_VERSION },
	{ "TLS13", TLS1_3_VERSION },
};

static const char *
tls_version_name(int version)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(tls_versions); i++)
		if (tls_versions[i].version == version)
			return tls_versions[i].name;
	return "?";
}

static int
parse_version(struct schema *s, const char *key, const struct ytree_node *v,
    int *ret)
{
	struct ytree_shown sh;
	const char *str;
	size_t i;

	str = schema_expect_scalar(s, key, v, "a TLS version");
	if (str == NULL)
		return -EINVAL;
	for (i = 0; i < ELEMENTSOF(tls_versions); i++)
		if (strcmp(str, tls_versions[i].name) == 0) {
			*ret = tls_versions[i].version;
			return 0;
		}
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

/*
 * Go's tls.CipherSuites() (Go 1.22-1.25; exporter-toolkit accepts exactly
 * these names) with OpenSSL's names; TLS 1.3 suites have none: Go ignores
 * cipher_suites for TLS 1.3, and so does this daemon.
 */
static const struct {
	const char	*go;
	const char	*openssl;	/* NULL: a TLS 1.3 suite */
} ciphers[] = {
	{ "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA" },
	{ "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA" },
	{ "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256" },
	{ "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384" },
	{ "TLS_AES_128_GCM_SHA256", NULL },
	{ "TLS_AES_256_GCM_SHA384", NULL },
	{ "TLS_CHACHA20_POLY1305_SHA256", NULL },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA" },
	{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA" },
	{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	    "ECDHE-ECDSA-AES128-GCM-SHA256" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	    "ECDHE-ECDSA-AES256-GCM-SHA384" },
	{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	    "ECDHE-RSA-AES128-GCM-SHA256" },
	{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	    "ECDHE-RSA-AES256-GCM-SHA384" },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	    "ECDHE-RSA-CHACHA20-POLY1305" },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	    "ECDHE-ECDSA-CHACHA20-POLY1305" },
};

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
	struct tls_parse *t = TLS_CTX(ctx);
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
		for (j = 0; j < ELEMENTSOF(ciphers); j++)
			if (strcmp(str, ciphers[j].go) == 0)
				break;
		if (j < ELEMENTSOF(ciphers)) {
			t->ciphers[t->nciphers++] = j;
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

/* exporter-toolkit's curves (web/tls_config.go) with OpenSSL's group names. */
static const struct {
	const char	*go;
	const char	*openssl;
	int		 nid;
} curves[] = {
	{ "CurveP256", "P-256", NID_X9_62_prime256v1 },
	{ "CurveP384", "P-384", NID_secp384r1 },
	{ "CurveP521", "P-521", NID_secp521r1 },
	{ "X25519", "X25519", NID_X25519 },
};

static int
tls_curve_preferences(struct schema *s, const struct schema_key *k,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct tls_parse *t = TLS_CTX(ctx);
	struct ytree_shown sh;
	const char *str;
	size_t i, j;
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
		for (j = 0; j < ELEMENTSOF(curves); j++)
			if (strcmp(str, curves[j].go) == 0)
				break;
		if (j < ELEMENTSOF(curves)) {
			t->curves[t->ncurves++] = (int)j;
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
	struct tls_parse *t = TLS_CTX(ctx);
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

/* ---- files ------------------------------------------------------------ */

/*
 * The file `key` names, read whole: a secret file (not group/other
 * readable) or any regular file.  Reports and returns -errno on failure.
 */
static int
load_file(struct schema *s, const char *key, const struct ytree_node *at,
    const char *path, bool secret, char **ret, size_t *ret_len)
{
	char reason[REASON_MAX];
	struct ytree_shown sh;
	off_t size;
	int fd, r;

	if (secret) {
		r = secret_open(path, &fd, &size, reason, sizeof(reason));
		if (r < 0) {
			if (r == -ENOMEM)
				s->oom = true;
			else
				ytree_error(&s->rep, at, "'%s': secret file "
				    "'%s' %s", key, ytree_show(&sh, path),
				    reason);
			return r;
		}
	} else {
		r = open_regular(path, &fd, NULL);
		if (r < 0) {
			ytree_error(&s->rep, at, "'%s': file '%s' %s%s", key,
			    ytree_show(&sh, path), r == -EISDIR ||
			    r == -EBADFD ? "is not a regular file" :
			    "cannot be opened: ", r == -EISDIR || r == -EBADFD ?
			    "" : strerror(-r));
			return r;
		}
	}
	r = read_regular(fd, secret ? SECRET_MAX : WEB_CONFIG_MAX_FILE, ret,
	    ret_len);
	close(fd);
	if (r == -ENOMEM)
		s->oom = true;
	else if (r == -EFBIG)
		ytree_error(&s->rep, at, "'%s': file '%s' is larger than %d "
		    "KiB", key, ytree_show(&sh, path), (secret ? SECRET_MAX :
		    WEB_CONFIG_MAX_FILE) / 1024);
	else if (r < 0)
		ytree_error(&s->rep, at, "'%s': file '%s' cannot be read: %s",
		    key, ytree_show(&sh, path), strerror(-r));
	return r;
}

/* Never asks for a passphrase (an encrypted key is refused). */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Every certificate in a PEM buffer; other PEM blocks are skipped (as Go). */
static STACK_OF(X509) *
pem_certs(const char *buf, size_t len)
{
	STACK_OF(X509) *sk;
	X509 *x;
	BIO *bio;

	if (len > INT_MAX)
		return NULL;
	sk = sk_X509_new_null();
	bio = BIO_new_mem_buf(buf, (int)len);
	if (sk == NULL || bio == NULL) {
		sk_X509_free(sk);
		BIO_free(bio);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL)
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			break;
		}
	ERR_clear_error();	/* the end of the input is an "error" */
	BIO_free(bio);
	return sk;
}

/* ---- the SSL_CTX ------------------------------------------------------ */

static int verify_index = -1;
static pthread_once_t verify_once = PTHREAD_ONCE_INIT;

static void
tls_verify_free(struct tls_verify *tv)
{
	size_t i;

	if (tv == NULL)
		return;
	for (i = 0; i < tv->nsans; i++)
		free(tv->sans[i]);
	free(tv->sans);
	free(tv);
}

static void
verify_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	tls_verify_free(ptr);
}

static void
verify_index_init(void)
{
	verify_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    verify_ex_free);
}

static bool
san_allowed(const struct tls_verify *tv, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < tv->nsans; i++)
		if (strlen(tv->sans[i]) == len &&
		    memcmp(tv->sans[i], s, len) == 0)
			return true;
	return false;
}

/* tls_config.go VerifyPeerCertificate(): DNS, e-mail, IP and URI SANs. */
static bool
sans_match(const struct tls_verify *tv, X509 *cert)
{
	GENERAL_NAMES *names;
	const GENERAL_NAME *gn;
	const ASN1_STRING *str;
	char ip[INET6_ADDRSTRLEN];
	bool found = false;
	int i, n, len;

	if (cert == NULL)
		return false;
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (names == NULL)
		return false;
	n = sk_GENERAL_NAME_num(names);
	for (i = 0; i < n && !found; i++) {
		gn = sk_GENERAL_NAME_value(names, i);
		switch (gn->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			str = gn->d.ia5;
			found = san_allowed(tv, (const char *)
			    ASN1_STRING_get0_data(str),
			    (size_t)ASN1_STRING_length(str));
			break;
		case GEN_IPADD:
			str = gn->d.iPAddress;
			len = ASN1_STRING_length(str);
			if ((len != 4 && len != 16) ||
			    inet_ntop(len == 4 ? AF_INET : AF_INET6,
			    ASN1_STRING_get0_data(str), ip, sizeof(ip)) == NULL)
				break;
			found = san_allowed(tv, ip, strlen(ip));
			break;
		default:
			break;
		}
	}
	GENERAL_NAMES_free(names);
	return found;
}

/*
 * The client certificate check of every handshake: the chain against the
 * client CAs for the verifying policies (none for RequestClientCert and
 * RequireAnyClientCert: Go accepts any certificate there), then
 * client_allowed_sans.
 */
static int
verify_client(X509_STORE_CTX *xs, void *arg)
{
	const struct tls_verify *tv = arg;

	if (tv->verify_chain && X509_verify_cert(xs) <= 0)
		return 0;
	if (tv->nsans > 0 && !sans_match(tv, X509_STORE_CTX_get0_cert(xs))) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	return 1;
}

/* The certificate chain and the key; reports what fails. */
static int
ctx_use_cert_key(struct schema *s, SSL_CTX *ctx, struct tls_parse *t)
{
	STACK_OF(X509) *chain = NULL;
	char *cbuf = NULL, *kbuf = NULL;
	size_t clen = 0, klen = 0;
	const char *ckey = t->cert_file != NULL ? "cert_file" : "cert";
	const char *kkey = t->key_file != NULL ? "key_file" : "key";
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	X509 *x;
	int r = -EINVAL;

	if (t->cert_file != NULL) {
		if (load_file(s, ckey, t->cert_at, t->cert_file, false, &cbuf,
		    &clen) < 0)
			goto out;
	} else if ((cbuf = schema_strdup(s, t->cert)) == NULL)
		goto out;
	else
		clen = strlen(cbuf);
	if (t->key_file != NULL) {
		if (load_file(s, kkey, t->key_at, t->key_file, true, &kbuf,
		    &klen) < 0)
			goto out;
	} else {
		kbuf = schema_strdup(s, t->key);
		if (kbuf == NULL)
			goto out;
		klen = strlen(kbuf);
	}
	chain = pem_certs(cbuf, clen);
	if (chain == NULL) {
		s->oom = true;
		goto out;
	}
	if (sk_X509_num(chain) == 0) {
		ytree_error(&s->rep, t->cert_at, "'%s': no PEM certificate "
		    "found", ckey);
		goto out;
	}
	bio = BIO_new_mem_buf(kbuf, (int)klen);
	if (bio == NULL) {
		s->oom = true;
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	ERR_clear_error();
	if (pkey == NULL) {
		/* never the key's text, nor OpenSSL's words about it */
		ytree_error(&s->rep, t->key_at, "'%s': no unencrypted PEM "
		    "private key found", kkey);
		goto out;
	}
	x = sk_X509_shift(chain);
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		X509_free(x);
		ytree_error(&s->rep, t->cert_at, "'%s': the certificate is "
		    "refused: %s", ckey, ssl_reason());
		goto out;
	}
	X509_free(x);
	while ((x = sk_X509_shift(chain)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ytree_error(&s->rep, t->cert_at, "'%s': a chain "
			    "certificate is refused: %s", ckey, ssl_reason());
			goto out;
		}
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		ytree_error(&s->rep, t->key_at, "'%s': the private key does not "
		    "match the certificate of '%s'", kkey, ckey);
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	sk_X509_pop_free(chain, X509_free);
	free(cbuf);
	if (kbuf != NULL) {
		explicit_bzero(kbuf, klen);
		free(kbuf);
	}
	return r;
}

/* The client CAs: trust store and the names sent in CertificateRequest. */
static int
ctx_use_client_ca(struct schema *s, SSL_CTX *ctx, struct tls_parse *t)
{
	const char *key = t->client_ca_file != NULL ? "client_ca_file" :
	    "client_ca";
	STACK_OF(X509) *sk;
	X509_STORE *store;
	char *buf = NULL;
	size_t len = 0;
	X509 *x;
	int i, r = -EINVAL;

	if (t->client_ca_file != NULL) {
		if (load_file(s, key, t->client_ca_at, t->client_ca_file, false,
		    &buf, &len) < 0)
			return -EINVAL;
	} else if ((buf = schema_strdup(s, t->client_ca)) == NULL)
		return -ENOMEM;
	else
		len = strlen(buf);
	sk = pem_certs(buf, len);
	free(buf);
	if (sk == NULL) {
		s->oom = true;
		return -ENOMEM;
	}
	if (sk_X509_num(sk) == 0) {
		ytree_error(&s->rep, t->client_ca_at, "'%s': no PEM "
		    "certificate found", key);
		goto out;
	}
	store = SSL_CTX_get_cert_store(ctx);
	for (i = 0; i < sk_X509_num(sk); i++) {
		x = sk_X509_value(sk, i);
		if (X509_STORE_add_cert(store, x) != 1 ||
		    SSL_CTX_add_client_CA(ctx, x) != 1) {
			ytree_error(&s->rep, t->client_ca_at, "'%s': a "
			    "certificate is refused: %s", key, ssl_reason());
			goto out;
		}
	}
	r = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return r;
}

static int
ctx_ciphers_curves(struct schema *s, SSL_CTX *ctx, struct tls_parse *t)
{
	struct strbuf sb;
	size_t i;
	int r = 0;

	strbuf_init(&sb);
	for (i = 0; i < t->nciphers; i++) {
		if (ciphers[t->ciphers[i]].openssl == NULL)
			continue;	/* TLS 1.3: ignored, as Go does */
		if (sb.len > 0)
			strbuf_putc(&sb, ':');
		strbuf_puts(&sb, ciphers[t->ciphers[i]].openssl);
	}
	if (strbuf_failed(&sb)) {
		s->oom = true;
		return -ENOMEM;
	}
	if (t->nciphers > 0 && sb.len == 0) {
		/* only TLS 1.3 names: Go negotiates nothing below TLS 1.3 */
		if (t->max_version < TLS1_3_VERSION) {
			ytree_error(&s->rep, t->ciphers_at, "'cipher_suites': "
			    "only TLS 1.3 suites, which apply to no version up "
			    "to max_version %s: no handshake could succeed",
			    tls_version_name(t->max_version));
			r = -EINVAL;
		} else if (SSL_CTX_set_min_proto_version(ctx,
		    TLS1_3_VERSION) != 1)
			r = -ENOMEM;
	} else if (sb.len > 0 && SSL_CTX_set_cipher_list(ctx,
	    strbuf_str(&sb)) != 1) {
		ytree_error(&s->rep, t->ciphers_at, "'cipher_suites': OpenSSL "
		    "refuses the list: %s", ssl_reason());
		r = -EINVAL;
	}
	strbuf_free(&sb);
	if (r < 0 || t->ncurves == 0)
		return r;
	{
		int nids[ELEMENTSOF(curves) * 8];
		size_t n = 0;

		for (i = 0; i < t->ncurves && n < ELEMENTSOF(nids); i++)
			nids[n++] = curves[t->curves[i]].nid;
		if (SSL_CTX_set1_groups(ctx, nids, (long)n) != 1) {
			ytree_error(&s->rep, t->node, "'curve_preferences': "
			    "OpenSSL refuses the list: %s", ssl_reason());
			return -EINVAL;
		}
	}
	return 0;
}

/* exporter-toolkit's TLS rules, then the SSL_CTX; NULL: plain HTTP. */
static int
build_ssl_ctx(struct parse *p, SSL_CTX **ret)
{
	struct schema *s = p->s;
	struct tls_parse *t = &p->tls;
	struct tls_verify *tv = NULL;
	bool any_client_ca;
	SSL_CTX *ctx = NULL;
	int mode, r = -EINVAL;
	size_t i;

	*ret = NULL;
	/* TLSConfig.IsEnabled() */
	if (t->cert_file == NULL && t->cert == NULL && t->key_file == NULL &&
	    t->key == NULL && t->client_ca_file == NULL &&
	    t->client_ca == NULL && !t->client_auth_set)
		return 0;
	/* validateTLSPaths() */
	if (t->cert_file == NULL && t->cert == NULL) {
		ytree_error(&s->rep, t->node, "'tls_server_config': missing "
		    "one of 'cert' or 'cert_file'");
		return -EINVAL;
	}
	if (t->key_file == NULL && t->key == NULL) {
		ytree_error(&s->rep, t->node, "'tls_server_config': missing "
		    "one of 'key' or 'key_file'");
		return -EINVAL;
	}
	if (t->cert_file != NULL && t->cert != NULL) {
		ytree_error(&s->rep, t->node, "'tls_server_config': set "
		    "either 'cert' or 'cert_file', not both");
		return -EINVAL;
	}
	if (t->key_file != NULL && t->key != NULL) {
		ytree_error(&s->rep, t->node, "'tls_server_config': set "
		    "either 'key' or 'key_file', not both");
		return -EINVAL;
	}
	if (t->client_ca_file != NULL && t->client_ca != NULL) {
		ytree_error(&s->rep, t->node, "'tls_server_config': set "
		    "either 'client_ca' or 'client_ca_file', not both");
		return -EINVAL;
	}
	any_client_ca = t->client_ca_file != NULL || t->client_ca != NULL;
	if (any_client_ca && t->client_auth == CLIENT_AUTH_NONE) {
		ytree_error(&s->rep, t->client_ca_at, "client CA's have been "
		    "configured without a Client Auth Policy (set "
		    "'client_auth_type', e.g. RequireAndVerifyClientCert)");
		return -EINVAL;
	}
	if (t->sans_set && t->client_auth != CLIENT_AUTH_REQUIRE_ANY &&
	    t->client_auth != CLIENT_AUTH_REQUIRE_VERIFY) {
		ytree_error(&s->rep, t->sans_at, "'client_allowed_sans' "
		    "requires client_auth_type to be one of "
		    "RequireAnyClientCert or RequireAndVerifyClientCert");
		return -EINVAL;
	}
	if (t->min_version > t->max_version) {
		ytree_error(&s->rep, t->min_at != NULL ? t->min_at : t->max_at,
		    "'min_version' %s is above 'max_version' %s: no handshake "
		    "could succeed", tls_version_name(t->min_version),
		    tls_version_name(t->max_version));
		return -EINVAL;
	}
	/* Go's HTTP/2 server (web/tls_config_test.go "No HTTP2 cipher") */
	if (p->http.http2 && t->nciphers > 0 &&
	    t->min_version < TLS1_3_VERSION) {
		for (i = 0; i < t->nciphers; i++)
			if (strcmp(ciphers[t->ciphers[i]].go,
			    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") == 0 ||
			    strcmp(ciphers[t->ciphers[i]].go,
			    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") == 0)
				break;
		if (i == t->nciphers) {
			ytree_error(&s->rep, t->ciphers_at, "'cipher_suites' "
			    "is missing an HTTP/2-required AES_128_GCM_SHA256 "
			    "cipher (need at least one of "
			    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or "
			    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), which "
			    "exporter-toolkit refuses while "
			    "http_server_config.http2 is true");
			return -EINVAL;
		}
	}

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		goto oom;
	if (SSL_CTX_set_min_proto_version(ctx, t->min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, t->max_version) != 1)
		goto oom;
	/* OpenSSL 3's level 1 forbids the SHA-1 handshakes of TLS 1.0/1.1 */
	if (t->min_version < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	if (t->prefer_server)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	else
		SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (ctx_use_cert_key(s, ctx, t) < 0)
		goto fail;
	if (ctx_ciphers_curves(s, ctx, t) < 0)
		goto fail;
	if (any_client_ca && ctx_use_client_ca(s, ctx, t) < 0)
		goto fail;

	switch (t->client_auth) {
	case CLIENT_AUTH_NONE:
		mode = SSL_VERIFY_NONE;
		break;
	case CLIENT_AUTH_REQUEST:
	case CLIENT_AUTH_VERIFY_IF_GIVEN:
		mode = SSL_VERIFY_PEER;
		break;
	default:
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		break;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	if (mode != SSL_VERIFY_NONE) {
		/* Go verifies against the system roots when no CA is given */
		if (!any_client_ca && (t->client_auth ==
		    CLIENT_AUTH_VERIFY_IF_GIVEN || t->client_auth ==
		    CLIENT_AUTH_REQUIRE_VERIFY) &&
		    SSL_CTX_set_default_verify_paths(ctx) != 1)
			ERR_clear_error();
		pthread_once(&verify_once, verify_index_init);
		if (verify_index < 0)
			goto oom;
		tv = calloc(1, sizeof(*tv));
		if (tv == NULL)
			goto oom;
		tv->verify_chain = t->client_auth ==
		    CLIENT_AUTH_VERIFY_IF_GIVEN || t->client_auth ==
		    CLIENT_AUTH_REQUIRE_VERIFY;
		tv->sans = t->sans;
		tv->nsans = t->nsans;
		t->sans = NULL;
		t->nsans = 0;
		if (SSL_CTX_set_ex_data(ctx, verify_index, tv) != 1) {
			tls_verify_free(tv);
			goto oom;
		}
		SSL_CTX_set_cert_verify_callback(ctx, verify_client, tv);
	}
	*ret = ctx;
	return 0;
oom:
	ERR_clear_error();
	s->oom = true;
	r = -ENOMEM;
fail:
	SSL_CTX_free(ctx);
	return r;
}

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
	p.tls.min_version = TLS1_2_VERSION;
	p.tls.max_version = TLS1_3_VERSION;
	p.tls.prefer_server = true;
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
	r = build_ssl_ctx(&p, &wc->ssl_ctx);
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
	tls_parse_done(&p.tls);
	headers_free(p.http.headers, p.http.nheaders);
	users_free(p.users, p.nusers);
	ytree_free(root);
	return s->oom ? -ENOMEM : s->nerrors > 0 ? -EINVAL : 0;
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
