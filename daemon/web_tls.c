/*
 * web_tls.c: the TLS part of the web configuration (see web_tls.h): from a
 * parsed tls_server_config to the OpenSSL SSL_CTX the endpoint serves
 * with, reading the certificate, key and client CA files on the way.
 *
 * The rules are exporter-toolkit's, read from its source (commit 0089e786 of
 * github.com/prometheus/exporter-toolkit unless noted), never its code:
 *
 *  - TLSConfig.IsEnabled(): TLS is on when any of cert, cert_file, key,
 *    key_file, client_ca, client_ca_file, client_auth_type is set (an empty
 *    string is "not set"); otherwise plain HTTP, whatever else
 *    tls_server_config holds.
 *  - validateTLSPaths(): "missing one of cert or cert_file", "missing one of
 *    key or key_file".
 *  - ConfigToTLSConfig(): the certificate and key must load and match
 *    (tls.X509KeyPair); a client CA with NoClientCert is refused ("client
 *    CA's have been configured without a Client Auth Policy");
 *    client_allowed_sans needs RequireAnyClientCert or
 *    RequireAndVerifyClientCert, and a client certificate passes when one of
 *    its DNS, e-mail, IP or URI SANs equals an entry.  A verifying policy
 *    without a client CA verifies against the system's roots (Go's nil
 *    ClientCAs).
 *  - Go applies cipher_suites to TLS 1.0-1.2 only.
 *  - web/tls_config_test.go "No HTTP2 cipher": with http2 on, Go's HTTP/2
 *    server refuses a TLS <= 1.2 cipher list without
 *    TLS_ECDHE_{RSA,ECDSA}_WITH_AES_128_GCM_SHA256; refused here at load.
 *
 * Refused here although exporter-toolkit takes them (each with an error
 * naming the key): cert together with cert_file (and key/key_file,
 * client_ca/client_ca_file: exporter-toolkit silently prefers the file); a
 * client CA file without any certificate (exporter-toolkit's later testdata
 * web_config_auth_clientCAs_nocerts.bad.yml); min_version above
 * max_version (Go fails every handshake).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "schema.h"
#include "secret.h"
#include "util.h"
#include "web_tls.h"
#include "ytree.h"

#define REASON_MAX		160

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

/* ---- names: the YAML's (Go's) and OpenSSL's --------------------------- */

/* A name the YAML takes and what it means to OpenSSL. */
struct tls_name {
	const char	*go;
	const char	*openssl;	/* NULL: a TLS 1.3 suite, a version */
	int		 value;		/* TLS*_VERSION; a curve's NID */
};

static const struct tls_name tls_versions[] = {
	{ "TLS10", NULL, TLS1_VERSION },
	{ "TLS11", NULL, TLS1_1_VERSION },
	{ "TLS12", NULL, TLS1_2_VERSION },
	{ "TLS13", NULL, TLS1_3_VERSION },
};

/*
 * Go's tls.CipherSuites() (Go 1.22-1.25; exporter-toolkit accepts exactly
 * these names) with OpenSSL's names; TLS 1.3 suites have none: Go ignores
 * cipher_suites for TLS 1.3, and so does this daemon.
 */
static const struct tls_name ciphers[] = {
	{ "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", 0 },
	{ "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", 0 },
	{ "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", 0 },
	{ "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", 0 },
	{ "TLS_AES_128_GCM_SHA256", NULL, 0 },
	{ "TLS_AES_256_GCM_SHA384", NULL, 0 },
	{ "TLS_CHACHA20_POLY1305_SHA256", NULL, 0 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", 0 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", 0 },
	{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", 0 },
	{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", 0 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	    "ECDHE-ECDSA-AES128-GCM-SHA256", 0 },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	    "ECDHE-ECDSA-AES256-GCM-SHA384", 0 },
	{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	    "ECDHE-RSA-AES128-GCM-SHA256", 0 },
	{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	    "ECDHE-RSA-AES256-GCM-SHA384", 0 },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	    "ECDHE-RSA-CHACHA20-POLY1305", 0 },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	    "ECDHE-ECDSA-CHACHA20-POLY1305", 0 },
};

/* exporter-toolkit's curves (web/tls_config.go) with OpenSSL's group names. */
static const struct tls_name curves[] = {
	{ "CurveP256", "P-256", NID_X9_62_prime256v1 },
	{ "CurveP384", "P-384", NID_secp384r1 },
	{ "CurveP521", "P-521", NID_secp521r1 },
	{ "X25519", "X25519", NID_X25519 },
};

static int
name_find(const struct tls_name *names, size_t n, const char *name,
    size_t *ret)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, names[i].go) == 0) {
			*ret = i;
			return 0;
		}
	return -ENOENT;
}

static const char *
tls_version_name(int version)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(tls_versions); i++)
		if (tls_versions[i].value == version)
			return tls_versions[i].go;
	return "?";
}

int
web_tls_version_find(const char *name, int *ret)
{
	size_t i;

	if (name_find(tls_versions, ELEMENTSOF(tls_versions), name, &i) < 0)
		return -ENOENT;
	*ret = tls_versions[i].value;
	return 0;
}

int
web_tls_cipher_find(const char *name, size_t *ret)
{
	return name_find(ciphers, ELEMENTSOF(ciphers), name, ret);
}

int
web_tls_curve_find(const char *name, size_t *ret)
{
	return name_find(curves, ELEMENTSOF(curves), name, ret);
}

/* ---- the parsed tls_server_config ------------------------------------- */

void
web_tls_parse_init(struct web_tls_parse *t)
{
	memset(t, 0, sizeof(*t));
	t->min_version = TLS1_2_VERSION;
	t->max_version = TLS1_3_VERSION;
	t->prefer_server = true;
}

void
web_tls_parse_done(struct web_tls_parse *t)
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
ctx_use_cert_key(struct schema *s, SSL_CTX *ctx, struct web_tls_parse *t)
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
ctx_use_client_ca(struct schema *s, SSL_CTX *ctx, struct web_tls_parse *t)
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
ctx_ciphers_curves(struct schema *s, SSL_CTX *ctx, struct web_tls_parse *t)
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
		    TLS1_3_VERSION) != 1) {
			ytree_error(&s->rep, t->ciphers_at, "'cipher_suites': "
			    "OpenSSL cannot limit the versions to TLS 1.3: %s",
			    ssl_reason());
			r = -EINVAL;
		}
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
			nids[n++] = curves[t->curves[i]].value;
		if (SSL_CTX_set1_groups(ctx, nids, (long)n) != 1) {
			ytree_error(&s->rep, t->node, "'curve_preferences': "
			    "OpenSSL refuses the list: %s", ssl_reason());
			return -EINVAL;
		}
	}
	return 0;
}

/* exporter-toolkit's TLS rules, then the SSL_CTX; NULL: plain HTTP. */
int
web_tls_build(struct schema *s, struct web_tls_parse *t, bool http2,
    SSL_CTX **ret)
{
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
	if (any_client_ca && t->client_auth == WEB_TLS_CLIENT_AUTH_NONE) {
		ytree_error(&s->rep, t->client_ca_at, "client CA's have been "
		    "configured without a Client Auth Policy (set "
		    "'client_auth_type', e.g. RequireAndVerifyClientCert)");
		return -EINVAL;
	}
	if (t->sans_set && t->client_auth != WEB_TLS_CLIENT_AUTH_REQUIRE_ANY &&
	    t->client_auth != WEB_TLS_CLIENT_AUTH_REQUIRE_VERIFY) {
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
	if (http2 && t->nciphers > 0 &&
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
	case WEB_TLS_CLIENT_AUTH_NONE:
		mode = SSL_VERIFY_NONE;
		break;
	case WEB_TLS_CLIENT_AUTH_REQUEST:
	case WEB_TLS_CLIENT_AUTH_VERIFY_IF_GIVEN:
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
		    WEB_TLS_CLIENT_AUTH_VERIFY_IF_GIVEN || t->client_auth ==
		    WEB_TLS_CLIENT_AUTH_REQUIRE_VERIFY) &&
		    SSL_CTX_set_default_verify_paths(ctx) != 1)
			ERR_clear_error();
		pthread_once(&verify_once, verify_index_init);
		if (verify_index < 0)
			goto oom;
		tv = calloc(1, sizeof(*tv));
		if (tv == NULL)
			goto oom;
		tv->verify_chain = t->client_auth ==
		    WEB_TLS_CLIENT_AUTH_VERIFY_IF_GIVEN || t->client_auth ==
		    WEB_TLS_CLIENT_AUTH_REQUIRE_VERIFY;
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
