/*
 * web_tls.h: the TLS part of the web configuration, for web_config.c: the
 * parsed tls_server_config and the OpenSSL SSL_CTX built from it.  Part of
 * the web configuration module; callers outside it use web_config.h.
 *
 * web_config.c parses tls_server_config into a struct web_tls_parse (the
 * names in it through the *_find() functions), then web_tls_build() applies
 * exporter-toolkit's TLS rules, reads the files and builds the SSL_CTX.
 * Both report through the same struct schema, so every problem is a
 * FILE:LINE:COLUMN of the web configuration file.
 */
#ifndef KCM_WEB_TLS_H
#define KCM_WEB_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "schema.h"
#include "ytree.h"

/* The largest file read: the web configuration itself, a cert, a CA. */
#define WEB_CONFIG_MAX_FILE	(1024 * 1024)

/* client_auth_type (Go's tls.ClientAuthType). */
enum web_tls_client_auth {
	WEB_TLS_CLIENT_AUTH_NONE,		/* NoClientCert */
	WEB_TLS_CLIENT_AUTH_REQUEST,		/* RequestClientCert */
	WEB_TLS_CLIENT_AUTH_REQUIRE_ANY,	/* RequireAnyClientCert */
	WEB_TLS_CLIENT_AUTH_VERIFY_IF_GIVEN,	/* VerifyClientCertIfGiven */
	WEB_TLS_CLIENT_AUTH_REQUIRE_VERIFY,	/* RequireAndVerifyClientCert */
};

/* tls_server_config as parsed; the *_at nodes place the errors. */
struct web_tls_parse {
	const struct ytree_node *node;		/* the mapping */
	char	*cert_file, *key_file, *client_ca_file;	/* resolved */
	char	*cert, *key, *client_ca;		/* inline PEM; key secret */
	const struct ytree_node *cert_at, *key_at, *client_ca_at;
	bool	 client_auth_set;
	enum web_tls_client_auth client_auth;
	const struct ytree_node *client_auth_at;
	int	 min_version, max_version;	/* OpenSSL's TLS*_VERSION */
	const struct ytree_node *min_at, *max_at;
	/* indexes of web_tls_cipher_find() */
	size_t	*ciphers;
	size_t	 nciphers;
	const struct ytree_node *ciphers_at;
	size_t	*curves;	/* indexes of web_tls_curve_find() */
	size_t	 ncurves;
	bool	 prefer_server;
	char	**sans;
	size_t	 nsans;
	bool	 sans_set;
	const struct ytree_node *sans_at;
};

/* Nothing set, exporter-toolkit's defaults: TLS12 to TLS13, server order. */
void	 web_tls_parse_init(struct web_tls_parse *t);
/* Frees what t holds (wiping the inline key). */
void	 web_tls_parse_done(struct web_tls_parse *t);

/*
 * The values of Go's names as exporter-toolkit takes them: TLS10..TLS13,
 * a name of Go's tls.CipherSuites(), CurveP256, CurveP384, CurveP521 or
 * X25519.  0 and *ret, or -ENOENT for any other name.
 */
int	 web_tls_version_find(const char *name, int *ret);
int	 web_tls_cipher_find(const char *name, size_t *ret);
int	 web_tls_curve_find(const char *name, size_t *ret);

/*
 * exporter-toolkit's TLS rules over t (http2: http_server_config.http2),
 * then the SSL_CTX with the certificate, key and client CA files read:
 * 0 and *ret (NULL: plain HTTP, TLS is not enabled), or a negative errno
 * after reporting through s (an allocation failure sets s->oom instead).
 * Takes t's client_allowed_sans into the SSL_CTX; web_tls_parse_done(t)
 * still frees the rest.
 */
int	 web_tls_build(struct schema *s, struct web_tls_parse *t, bool http2,
	    SSL_CTX **ret);

#endif /* KCM_WEB_TLS_H */
