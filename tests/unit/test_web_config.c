/*
 * test_web_config.c: web_config_load() (exporter-toolkit's web
 * configuration: every key, its refusals, the SSL_CTX it builds, checked
 * with in-memory TLS handshakes) and web_auth (basic auth with bcrypt on a
 * worker, on a real libevent loop).
 *
 * Cases marked "exporter-toolkit:" replicate a file of its web/testdata and
 * the expectation web/tls_config_test.go has for it.  The certificates are
 * tests/unit/data/web/ (make-certs.sh there); each test copies what it needs
 * into its own mkdtemp() directory, keys with mode 0600.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "test_files.h"
#include "util.h"
#include "web_auth.h"
#include "web_config.h"

struct t {
	char	 dir[PATH_MAX];
	char	 path[PATH_MAX];	/* dir/web.yml */
	struct web_config *wc;
	struct config_errors errs;
	int	 r;
};

static const char *
data_dir(void)
{
	const char *d = getenv("KCM_TEST_DATA");

	return d != NULL ? d : "tests/unit/data";
}

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Reads tests/unit/data/web/name (heap, NUL-terminated). */
static char *
read_data(const char *name)
{
	char path[PATH_MAX], *buf;
	FILE *f;
	long n;

	xsnprintf(path, sizeof(path), "%s/web/%s", data_dir(), name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Copies a data file into the test's directory. */
static void
copy_in(const struct t *t, const char *name, mode_t mode)
{
	char path[PATH_MAX], *buf;

	buf = read_data(name);
	xsnprintf(path, sizeof(path), "%s/%s", t->dir, name);
	write_file(path, buf, strlen(buf), mode);
	free(buf);
}

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct t *t;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	xsnprintf(t->dir, sizeof(t->dir), "%s/test_web_config.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(t->dir));
	xsnprintf(t->path, sizeof(t->path), "%s/web.yml", t->dir);
	copy_in(t, "server.crt", 0644);
	copy_in(t, "server.key", 0600);
	copy_in(t, "server-rsa.crt", 0644);
	copy_in(t, "server-rsa.key", 0600);
	copy_in(t, "ca.crt", 0644);
	copy_in(t, "other.key", 0600);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;

	web_config_unref(t->wc);
	config_errors_free(&t->errs);
	rm_tree(t->dir);
	free(t);
	return 0;
}

static void
load_mode(struct t *t, const char *text, mode_t mode)
{
	write_file(t->path, text, strlen(text), mode);
	web_config_unref(t->wc);
	t->wc = NULL;
	config_errors_free(&t->errs);
	t->r = web_config_load(t->path, &t->wc, &t->errs);
}

static void
load_ok(struct t *t, const char *text)
{
	load_mode(t, text, 0644);
	if (t->r != 0)
		config_errors_print(&t->errs, stderr);
	assert_int_equal(t->r, 0);
	assert_non_null(t->wc);
	assert_int_equal(t->errs.n, 0);
}

/* Exactly one error at line:column whose message contains needle. */
static void
load_err(struct t *t, const char *text, unsigned line, unsigned column,
    const char *needle)
{
	load_mode(t, text, 0644);
	if (t->errs.n != 1 || strstr(t->errs.v[0].message, needle) == NULL)
		config_errors_print(&t->errs, stderr);
	assert_int_equal(t->r, -EINVAL);
	assert_null(t->wc);
	assert_int_equal(t->errs.n, 1);
	assert_string_equal(t->errs.v[0].file, t->path);
	assert_int_equal(t->errs.v[0].line, line);
	assert_int_equal(t->errs.v[0].column, column);
	assert_non_null(strstr(t->errs.v[0].message, needle));
}

static void
path_chmod(const struct t *t, const char *name, mode_t mode)
{
	char path[PATH_MAX];

	xsnprintf(path, sizeof(path), "%s/%s", t->dir, name);
	assert_int_equal(chmod(path, mode), 0);
}

#define TLS_OK \
	"tls_server_config:\n" \
	"  cert_file: server.crt\n" \
	"  key_file: server.key\n"

/* ---- the file as a whole ---------------------------------------------- */

/* exporter-toolkit: web_config_empty.yml -> no error, plain HTTP. */
static void
test_empty(void **state)
{
	const struct web_config_header *h;
	struct t *t = *state;

	load_ok(t, "");
	assert_null(web_config_ssl_ctx(t->wc));
	assert_false(web_config_has_users(t->wc));
	assert_int_equal(web_config_headers(t->wc, &h), 0);
	load_ok(t, "# only a comment\n\n");
	assert_null(web_config_ssl_ctx(t->wc));
	load_ok(t, "---\n");
	/* found by the fuzzer: a null document still has a dummy hash */
	assert_true(web_config_bcrypt_valid(web_config_dummy_hash(t->wc), NULL));
	load_ok(t, "!\n");
	assert_true(web_config_bcrypt_valid(web_config_dummy_hash(t->wc), NULL));
	load_ok(t, "tls_server_config:\nhttp_server_config:\n"
	    "basic_auth_users:\n");
	assert_null(web_config_ssl_ctx(t->wc));
}

static void
test_file_errors(void **state)
{
	struct t *t = *state;
	char path[PATH_MAX];

	/* exporter-toolkit: "path to config yml invalid" */
	xsnprintf(path, sizeof(path), "%s/missing.yml", t->dir);
	t->r = web_config_load(path, &t->wc, &t->errs);
	assert_int_equal(t->r, -ENOENT);
	assert_int_equal(t->errs.n, 1);
	assert_int_equal(t->errs.v[0].line, 0);
	assert_non_null(strstr(t->errs.v[0].message, "No such file"));
	config_errors_free(&t->errs);
	t->r = web_config_load(t->dir, &t->wc, &t->errs);
	assert_int_equal(t->errs.n, 1);
	assert_string_equal(t->errs.v[0].message, "not a regular file");
	config_errors_free(&t->errs);
	/* exporter-toolkit: web_config_junk.yml, web_config_junk_key.yml */
	load_err(t, "hello: [\n", 2, 1, "YAML syntax error");
	load_err(t, "- a\n- b\n", 1, 1, "the top level must be a mapping");
	load_err(t, "tls_server_config: {}\nfoo: 1\n", 2, 1,
	    "unknown key 'foo' at the top level");
	load_err(t, "tls_server_config:\n  cert_file: a\n  certfile: b\n", 3,
	    3, "unknown key 'certfile' in 'tls_server_config'");
	load_err(t, "basic_auth_users: {}\nbasic_auth_users: {}\n", 2, 1,
	    "duplicate key 'basic_auth_users'");
}

/* rate_limit (web_config_rate_limiter_one_second.yaml and _nonblocking) */
static void
test_rate_limit(void **state)
{
	struct t *t = *state;
	uint64_t now = 1000 * USEC_PER_SEC;
	int i;

	load_ok(t, "");
	for (i = 0; i < 100; i++)
		assert_true(web_config_rate_allow(t->wc, now));
	/* interval 0: no limiter */
	load_ok(t, "rate_limit:\n  interval: 0s\n  burst: 0\n");
	for (i = 0; i < 10; i++)
		assert_true(web_config_rate_allow(t->wc, now));
	/* negative: rate.Every() is Inf, no limit either */
	load_ok(t, "rate_limit:\n  interval: -1s\n  burst: 0\n");
	assert_true(web_config_rate_allow(t->wc, now));
	load_ok(t, "rate_limit:\n  interval: 1s\n  burst: 2\n");
	assert_true(web_config_rate_allow(t->wc, now));
	assert_true(web_config_rate_allow(t->wc, now));
	assert_false(web_config_rate_allow(t->wc, now));
	assert_false(web_config_rate_allow(t->wc, now + 900 * USEC_PER_MSEC));
	assert_true(web_config_rate_allow(t->wc, now + 1000 * USEC_PER_MSEC));
	assert_false(web_config_rate_allow(t->wc, now + 1001 * USEC_PER_MSEC));
	/* the bucket holds at most burst tokens */
	now += 3600 * USEC_PER_SEC;
	assert_true(web_config_rate_allow(t->wc, now));
	assert_true(web_config_rate_allow(t->wc, now));
	assert_false(web_config_rate_allow(t->wc, now));
	/* burst 0: nothing passes */
	load_ok(t, "rate_limit:\n  interval: 1ms\n");
	assert_false(web_config_rate_allow(t->wc, now));
	/* Go's durations; a plain integer is nanoseconds (yaml.v2) */
	load_ok(t, "rate_limit:\n  interval: 1m30.5s\n  burst: 1\n");
	load_ok(t, "rate_limit:\n  interval: 1h2m3s4ms5us6ns\n  burst: 1\n");
	load_ok(t, "rate_limit:\n  interval: 500000000\n  burst: 1\n");
	assert_true(web_config_rate_allow(t->wc, now));
	assert_false(web_config_rate_allow(t->wc, now + 499 * USEC_PER_MSEC));
	assert_true(web_config_rate_allow(t->wc, now + 500 * USEC_PER_MSEC));
	load_err(t, "rate_limit:\n  interval: 1d\n", 2, 13,
	    "'interval': invalid duration '1d'");
	load_err(t, "rate_limit:\n  interval: s\n", 2, 13, "invalid duration");
	load_err(t, "rate_limit:\n  interval: '10'\n", 2, 13,
	    "invalid duration");
	load_err(t, "rate_limit:\n  burst: -1\n", 2, 10, "'burst'");
	load_err(t, "rate_limit:\n  every: 1s\n", 2, 3,
	    "unknown key 'every' in 'rate_limit'");
	load_err(t, "rate_limit: 1s\n", 1, 13, "expected a mapping");
}

/* ---- tls_server_config ------------------------------------------------ */

static void
test_tls_defaults(void **state)
{
	struct t *t = *state;
	SSL_CTX *ctx;

	load_ok(t, TLS_OK);
	ctx = web_config_ssl_ctx(t->wc);
	assert_non_null(ctx);
	/* exporter-toolkit's defaults: TLS12..TLS13, server preference */
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);

	load_ok(t, TLS_OK "  min_version: TLS13\n  max_version: TLS13\n"
	    "  prefer_server_cipher_suites: false\n");
	ctx = web_config_ssl_ctx(t->wc);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	assert_false(SSL_CTX_get_options(ctx) &
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	load_ok(t, TLS_OK "  min_version: TLS10\n  max_version: TLS11\n");
	ctx = web_config_ssl_ctx(t->wc);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_1_VERSION);
}

/* TLSConfig.IsEnabled(): no cert, key, CA or auth type: plain HTTP. */
static void
test_tls_not_enabled(void **state)
{
	struct t *t = *state;

	load_ok(t, "tls_server_config:\n  min_version: TLS13\n"
	    "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n");
	assert_null(web_config_ssl_ctx(t->wc));
	load_ok(t, "tls_server_config:\n  cert_file: ''\n  key_file:\n");
	assert_null(web_config_ssl_ctx(t->wc));
}

/* Relative names join the web configuration file's folder, not the cwd. */
static void
test_tls_relative_paths(void **state)
{
	struct t *t = *state;
	char sub[PATH_MAX], text[PATH_MAX * 2], cwd[PATH_MAX];

	xsnprintf(sub, sizeof(sub), "%s/tls", t->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	xsnprintf(text, sizeof(text), "%s/tls/s.crt", t->dir);
	{
		char *c = read_data("server.crt"), *k = read_data("server.key");

		write_file(text, c, strlen(c), 0644);
		xsnprintf(text, sizeof(text), "%s/tls/s.key", t->dir);
		write_file(text, k, strlen(k), 0600);
		free(c);
		free(k);
	}
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	load_ok(t, "tls_server_config:\n  cert_file: tls/s.crt\n"
	    "  key_file: ./tls/s.key\n");
	assert_non_null(web_config_ssl_ctx(t->wc));
	/* absolute names stay */
	xsnprintf(text, sizeof(text), "tls_server_config:\n"
	    "  cert_file: %s/tls/s.crt\n  key_file: %s/tls/s.key\n", t->dir,
	    t->dir);
	load_ok(t, text);
	assert_int_equal(chdir(cwd), 0);
}

/* exporter-toolkit: web_config_noAuth_{cert,key}Path_empty.bad.yml. */
static void
test_tls_missing_cert_key(void **state)
{
	struct t *t = *state;

	load_err(t, "tls_server_config:\n  cert_file: \"\"\n"
	    "  key_file: server.key\n", 2, 3,
	    "missing one of 'cert' or 'cert_file'");
	load_err(t, "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: \"\"\n", 2, 3, "missing one of 'key' or 'key_file'");
	load_err(t, "tls_server_config:\n  client_auth_type: "
	    "RequireAnyClientCert\n", 2, 3,
	    "missing one of 'cert' or 'cert_file'");
	/* web_config_noAuth_certPath_invalid.bad.yml: "no such file" */
	load_err(t, "tls_server_config:\n  cert_file: nope.crt\n"
	    "  key_file: server.key\n", 2, 14,
	    "cannot be opened: No such file or directory");
	load_err(t, "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: nope.key\n", 3, 13,
	    "cannot be opened: No such file or directory");
	load_err(t, "tls_server_config:\n  cert_file: server.crt\n"
	    "  cert: x\n  key_file: server.key\n", 2, 3,
	    "either 'cert' or 'cert_file'");
	load_err(t, "tls_server_config:\n  cert_file: server.key\n"
	    "  key_file: server.key\n", 2, 14, "no PEM certificate found");
	path_chmod(t, "ca.crt", 0600);
	load_err(t, "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: ca.crt\n", 3, 13,
	    "no unencrypted PEM private key found");
	load_err(t, "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: other.key\n", 3, 13,
	    "the private key does not match the certificate");
	load_err(t, "tls_server_config:\n  cert_file: [a]\n", 2, 14,
	    "expected a string, got a list");
}

static void
test_tls_key_permissions(void **state)
{
	struct t *t = *state;
	char path[PATH_MAX];

	xsnprintf(path, sizeof(path), "%s/server.key", t->dir);
	assert_int_equal(chmod(path, 0640), 0);
	load_err(t, TLS_OK, 3, 13, "is readable by group or others");
	assert_int_equal(chmod(path, 0604), 0);
	load_err(t, TLS_OK, 3, 13, "run chmod 600");
	assert_int_equal(chmod(path, 0400), 0);
	load_ok(t, TLS_OK);
	/* a FIFO is refused without blocking */
	xsnprintf(path, sizeof(path), "%s/fifo.key", t->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	load_err(t, "tls_server_config:\n  cert_file: server.crt\n"
	    "  key_file: fifo.key\n", 3, 13, "is not a regular file");
}

/* Inline cert and key (exporter-toolkit: web_config_noAuth_tlsInline). */
static void
test_tls_inline(void **state)
{
	struct t *t = *state;
	char *cert = read_data("server.crt"), *key = read_data("server.key");
	char *ca = read_data("ca.crt");
	struct strbuf sb;
	const char *p;

	strbuf_init(&sb);
	strbuf_puts(&sb, "tls_server_config:\n  cert: |\n");
	for (p = strtok(cert, "\n"); p != NULL; p = strtok(NULL, "\n"))
		strbuf_printf(&sb, "    %s\n", p);
	strbuf_puts(&sb, "  key: |\n");
	for (p = strtok(key, "\n"); p != NULL; p = strtok(NULL, "\n"))
		strbuf_printf(&sb, "    %s\n", p);
	strbuf_puts(&sb, "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca: |\n");
	for (p = strtok(ca, "\n"); p != NULL; p = strtok(NULL, "\n"))
		strbuf_printf(&sb, "    %s\n", p);
	assert_false(strbuf_failed(&sb));
	/* an inline key in a file others can read: refused */
	load_mode(t, strbuf_str(&sb), 0644);
	assert_int_equal(t->r, -EINVAL);
	assert_int_equal(t->errs.n, 1);
	assert_non_null(strstr(t->errs.v[0].message, "inline private key"));
	assert_null(strstr(t->errs.v[0].message, "BEGIN"));
	load_mode(t, strbuf_str(&sb), 0600);
	assert_int_equal(t->r, 0);
	assert_non_null(web_config_ssl_ctx(t->wc));
	strbuf_free(&sb);
	free(cert);
	free(key);
	free(ca);
}

static void
test_tls_client_auth(void **state)
{
	struct t *t = *state;

	/* exporter-toolkit: web_config_noAuth.bad.yml */
	load_err(t, TLS_OK "  client_ca_file: ca.crt\n", 4, 19,
	    "client CA's have been configured without a Client Auth Policy");
	load_err(t, TLS_OK "  client_ca_file: ca.crt\n"
	    "  client_auth_type: NoClientCert\n", 4, 19,
	    "without a Client Auth Policy");
	load_err(t, TLS_OK "  client_auth_type: Maybe\n", 4, 21,
	    "invalid ClientAuth 'Maybe'");
	/* web_config_auth_clientCAs_invalid.bad.yml */
	load_err(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: nope.pem\n", 5, 19, "No such file");
	load_err(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: server.key\n", 5, 19,
	    "no PEM certificate found");
	load_ok(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\n");
	assert_int_equal(SSL_CTX_get_verify_mode(web_config_ssl_ctx(t->wc)),
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	load_ok(t, TLS_OK "  client_auth_type: VerifyClientCertIfGiven\n");
	assert_int_equal(SSL_CTX_get_verify_mode(web_config_ssl_ctx(t->wc)),
	    SSL_VERIFY_PEER);
	load_ok(t, TLS_OK "  client_auth_type: RequireClientCert\n");
	assert_int_equal(SSL_CTX_get_verify_mode(web_config_ssl_ctx(t->wc)),
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	/* web_config_auth_client_san_optional_cert.bad.yaml */
	load_err(t, TLS_OK "  client_auth_type: VerifyClientCertIfGiven\n"
	    "  client_ca_file: ca.crt\n  client_allowed_sans: [a]\n", 6, 24,
	    "'client_allowed_sans' requires client_auth_type to be one of "
	    "RequireAnyClientCert or RequireAndVerifyClientCert");
	load_err(t, TLS_OK "  client_allowed_sans: []\n", 4, 24,
	    "requires client_auth_type");
}

static void
test_tls_ciphers_curves_versions(void **state)
{
	struct t *t = *state;

	/* web_config_noAuth_inventedCiphers.bad.yml */
	load_err(t, TLS_OK "  cipher_suites:\n    - TLS_RSA_WITH_INVENTED\n",
	    5, 7, "'cipher_suites': unknown cipher 'TLS_RSA_WITH_INVENTED'");
	load_err(t, TLS_OK "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
	    4, 19, "insecure cipher suites");
	load_err(t, TLS_OK "  cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256]\n",
	    4, 19, "unknown cipher");
	/* web_config_noAuth_noHTTP2Cipher.bad.yml */
	load_err(t, TLS_OK "  client_auth_type: VerifyClientCertIfGiven\n"
	    "  cipher_suites:\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n"
	    "  max_version: TLS12\n", 6, 5,
	    "missing an HTTP/2-required AES_128_GCM_SHA256 cipher");
	/* web_config_noAuth_noHTTP2.good.yml: http2 off */
	load_ok(t, TLS_OK "  cipher_suites:\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n"
	    "  max_version: TLS12\nhttp_server_config:\n  http2: false\n");
	/* all of Go's tls.CipherSuites() (web_config_noAuth_allCiphers) */
	load_ok(t, TLS_OK "  cipher_suites:\n"
	    "    - TLS_RSA_WITH_AES_128_CBC_SHA\n"
	    "    - TLS_RSA_WITH_AES_256_CBC_SHA\n"
	    "    - TLS_RSA_WITH_AES_128_GCM_SHA256\n"
	    "    - TLS_RSA_WITH_AES_256_GCM_SHA384\n"
	    "    - TLS_AES_128_GCM_SHA256\n"
	    "    - TLS_AES_256_GCM_SHA384\n"
	    "    - TLS_CHACHA20_POLY1305_SHA256\n"
	    "    - TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA\n"
	    "    - TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\n"
	    "    - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n"
	    "    - TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA\n"
	    "    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
	    "    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n"
	    "    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
	    "    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
	    "    - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n"
	    "    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n");
	/* TLS 1.3 names only: Go's HTTP/2 refuses it below TLS 1.3 ... */
	load_err(t, TLS_OK "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", 4,
	    18, "HTTP/2-required");
	/* ... and without HTTP/2 nothing below TLS 1.3 can be negotiated */
	load_ok(t, TLS_OK "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
	    "http_server_config: {http2: false}\n");
	assert_int_equal(SSL_CTX_get_min_proto_version(
	    web_config_ssl_ctx(t->wc)), TLS1_3_VERSION);
	load_err(t, TLS_OK "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
	    "  max_version: TLS12\nhttp_server_config: {http2: false}\n", 4,
	    18, "only TLS 1.3 suites");
	/* web_config_noAuth_inventedCurves.bad.yml */
	load_err(t, TLS_OK "  curve_preferences:\n    - CurveP257\n", 5, 7,
	    "'curve_preferences': unknown curve 'CurveP257'");
	load_err(t, TLS_OK "  curve_preferences: [X25519MLKEM768]\n", 4, 23,
	    "OpenSSL 3.0 has no ML-KEM");
	/* web_config_noAuth_allCurves.good.yml */
	load_ok(t, TLS_OK "  curve_preferences: [CurveP256, CurveP384, "
	    "CurveP521, X25519]\n");
	load_err(t, TLS_OK "  curve_preferences: CurveP256\n", 4, 22,
	    "expected a list");
	/* web_config_noAuth_wrongTLSVersion.bad.yml */
	load_err(t, TLS_OK "  min_version: TLS111\n", 4, 16,
	    "unknown TLS version 'TLS111'");
	load_err(t, TLS_OK "  min_version: TLS13\n  max_version: TLS12\n", 4,
	    16, "'min_version' TLS13 is above 'max_version' TLS12");
	load_err(t, TLS_OK "  prefer_server_cipher_suites: maybe\n", 4, 32,
	    "expected true or false");
}

/* ---- handshakes ------------------------------------------------------- */

/* A client context; cert/key NULL: none. */
static SSL_CTX *
client_ctx(const char *cert, const char *key)
{
	char path[PATH_MAX];
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	assert_non_null(c);
	xsnprintf(path, sizeof(path), "%s/web/ca.crt", data_dir());
	assert_int_equal(SSL_CTX_load_verify_locations(c, path, NULL), 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (cert != NULL) {
		xsnprintf(path, sizeof(path), "%s/web/%s", data_dir(), cert);
		assert_int_equal(SSL_CTX_use_certificate_file(c, path,
		    SSL_FILETYPE_PEM), 1);
		xsnprintf(path, sizeof(path), "%s/web/%s", data_dir(), key);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(c, path,
		    SSL_FILETYPE_PEM), 1);
	}
	return c;
}

/* One handshake in memory; true when the server side completed it. */
static bool
handshake(SSL_CTX *server_ctx, SSL_CTX *cctx)
{
	SSL *s = SSL_new(server_ctx), *c = SSL_new(cctx);
	BIO *sb = NULL, *cb = NULL;
	int i, rs = 0, rc = 0;
	bool ok;

	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "localhost");
	for (i = 0; i < 50 && (rs != 1 || rc != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
		if ((rs <= 0 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ) ||
		    (rc <= 0 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ))
			break;
	}
	ok = rs == 1;
	SSL_free(s);
	SSL_free(c);
	ERR_clear_error();
	return ok;
}

static bool
try_client(struct t *t, const char *cert, const char *key)
{
	SSL_CTX *c = client_ctx(cert, key);
	bool ok = handshake(web_config_ssl_ctx(t->wc), c);

	SSL_CTX_free(c);
	return ok;
}

static void
test_handshake_client_auth(void **state)
{
	struct t *t = *state;

	load_ok(t, TLS_OK);
	assert_true(try_client(t, NULL, NULL));
	assert_true(try_client(t, "selfsigned.crt", "selfsigned.key"));

	/* tls_config_noAuth.requireandverifyclientcert.good.yml */
	load_ok(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\n");
	assert_false(try_client(t, NULL, NULL));
	assert_true(try_client(t, "client.crt", "client.key"));
	assert_false(try_client(t, "selfsigned.crt", "selfsigned.key"));

	/* tls_config_noAuth.requireanyclientcert.good.yml: any cert */
	load_ok(t, TLS_OK "  client_auth_type: RequireAnyClientCert\n");
	assert_false(try_client(t, NULL, NULL));
	assert_true(try_client(t, "selfsigned.crt", "selfsigned.key"));

	load_ok(t, TLS_OK "  client_auth_type: VerifyClientCertIfGiven\n"
	    "  client_ca_file: ca.crt\n");
	assert_true(try_client(t, NULL, NULL));
	assert_true(try_client(t, "client.crt", "client.key"));
	assert_false(try_client(t, "selfsigned.crt", "selfsigned.key"));

	load_ok(t, TLS_OK "  client_auth_type: RequestClientCert\n");
	assert_true(try_client(t, NULL, NULL));
	assert_true(try_client(t, "selfsigned.crt", "selfsigned.key"));
}

/* web_config_auth_client_san{,_dns}.{good,bad}.yaml */
static void
test_handshake_sans(void **state)
{
	struct t *t = *state;

	load_ok(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\n"
	    "  client_allowed_sans: [other.example, client.example]\n");
	assert_true(try_client(t, "client.crt", "client.key"));
	load_ok(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\n"
	    "  client_allowed_sans: [ops@example.com]\n");
	assert_true(try_client(t, "client.crt", "client.key"));
	load_ok(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\n"
	    "  client_allowed_sans: ['10.1.2.3']\n");
	assert_true(try_client(t, "client.crt", "client.key"));
	load_ok(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\n"
	    "  client_allowed_sans: ['spiffe://example/prometheus']\n");
	assert_true(try_client(t, "client.crt", "client.key"));
	load_ok(t, TLS_OK "  client_auth_type: RequireAndVerifyClientCert\n"
	    "  client_ca_file: ca.crt\n"
	    "  client_allowed_sans: [client.example.org, CLIENT.EXAMPLE]\n");
	assert_false(try_client(t, "client.crt", "client.key"));
	/* RequireAnyClientCert + SANs: any issuer, SAN still checked */
	load_ok(t, TLS_OK "  client_auth_type: RequireAnyClientCert\n"
	    "  client_allowed_sans: [selfsigned.example]\n");
	assert_true(try_client(t, "selfsigned.crt", "selfsigned.key"));
	assert_false(try_client(t, "client.crt", "client.key"));
}

static void
test_handshake_ciphers_curves_versions(void **state)
{
	struct t *t = *state;
	SSL_CTX *c;

	/* web_config_noAuth_someCiphers.good.yml, with an RSA certificate */
	load_ok(t, "tls_server_config:\n  cert_file: server-rsa.crt\n"
	    "  key_file: server-rsa.key\n  max_version: TLS12\n"
	    "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n");
	c = client_ctx(NULL, NULL);
	assert_int_equal(SSL_CTX_set_cipher_list(c,
	    "ECDHE-RSA-AES128-GCM-SHA256"), 1);
	assert_true(handshake(web_config_ssl_ctx(t->wc), c));
	/* "no common cipher" */
	assert_int_equal(SSL_CTX_set_cipher_list(c, "ECDHE-RSA-AES256-SHA"), 1);
	assert_false(handshake(web_config_ssl_ctx(t->wc), c));
	SSL_CTX_free(c);

	/* web_config_noAuth_someCurves.good.yml: CurveP521 only */
	load_ok(t, TLS_OK "  curve_preferences: [CurveP521]\n");
	c = client_ctx(NULL, NULL);
	assert_int_equal(SSL_CTX_set1_groups_list(c, "P-521"), 1);
	assert_true(handshake(web_config_ssl_ctx(t->wc), c));
	assert_int_equal(SSL_CTX_set1_groups_list(c, "P-384"), 1);
	assert_false(handshake(web_config_ssl_ctx(t->wc), c));
	SSL_CTX_free(c);

	/* "valid tls config yml with TLS 1.1 client": refused by default */
	load_ok(t, TLS_OK);
	c = client_ctx(NULL, NULL);
	SSL_CTX_set_security_level(c, 0);
	assert_int_equal(SSL_CTX_set_min_proto_version(c, TLS1_VERSION), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(c, TLS1_1_VERSION), 1);
	assert_false(handshake(web_config_ssl_ctx(t->wc), c));
	SSL_CTX_free(c);
}

/* ---- http_server_config ----------------------------------------------- */

static void
test_headers(void **state)
{
	const struct web_config_header *h;
	struct t *t = *state;

	/* web_config_headers.good.yml */
	load_ok(t, "http_server_config:\n  headers:\n"
	    "    X-Frame-Options: deny\n"
	    "    Strict-Transport-Security: max-age=31536000; "
	    "includeSubDomains\n"
	    "    X-Content-Type-Options: nosniff\n"
	    "    X-XSS-Protection: 1\n"
	    "    Content-Security-Policy: \"default-src 'self' "
	    "*.test.example.net\"\n");
	assert_int_equal(web_config_headers(t->wc, &h), 5);
	assert_string_equal(h[0].name, "X-Frame-Options");
	assert_string_equal(h[0].value, "deny");
	assert_string_equal(h[1].value, "max-age=31536000; includeSubDomains");
	assert_string_equal(h[3].name, "X-XSS-Protection");
	assert_string_equal(h[3].value, "1");
	assert_string_equal(h[4].value, "default-src 'self' *.test.example.net");
	assert_null(web_config_ssl_ctx(t->wc));
	/* "Unset if blank" */
	load_ok(t, "http_server_config:\n  headers:\n"
	    "    Content-Security-Policy: ''\n    X-Frame-Options: sameorigin\n");
	assert_int_equal(web_config_headers(t->wc, &h), 1);
	assert_string_equal(h[0].value, "sameorigin");
	/* web_config_headers_content_type_options.bad.yml */
	load_err(t, "http_server_config:\n  headers:\n"
	    "    X-Content-Type-Options: foo\n", 3, 29,
	    "invalid value for X-Content-Type-Options: 'foo' (expected "
	    "nosniff)");
	/* web_config_headers_frame_options.bad.yml */
	load_err(t, "http_server_config:\n  headers:\n"
	    "    X-Frame-Options: allow\n", 3, 22,
	    "invalid value for X-Frame-Options");
	load_err(t, "http_server_config:\n  headers:\n"
	    "    X-Frame-Options: DENY\n", 3, 22, "expected deny or sameorigin");
	/* web_config_headers_extra_header.bad.yml */
	load_err(t, "http_server_config:\n  headers:\n    Server: nginx\n", 3, 5,
	    "HTTP header 'Server' can not be configured");
	load_err(t, "http_server_config:\n  headers:\n"
	    "    x-frame-options: deny\n", 3, 5, "can not be configured");
	load_err(t, "http_server_config:\n  headers:\n"
	    "    Content-Security-Policy: \"a\\r\\nSet-Cookie: x\"\n", 3, 30,
	    "control characters");
	load_err(t, "http_server_config:\n  headers: [a]\n", 2, 12,
	    "expected a mapping of header names");
	load_err(t, "http_server_config:\n  http2: yes\n", 2, 10,
	    "expected true or false");
	load_err(t, "http_server_config:\n  http3: true\n", 2, 3,
	    "unknown key 'http3' in 'http_server_config'");
	load_ok(t, "http_server_config:\n  http2: false\n");
}

/* ---- basic_auth_users ------------------------------------------------- */

#define DAVE_HASH "$2y$10$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq"

static void
test_users(void **state)
{
	struct t *t = *state;

	/* web_config_users_noTLS.good.yml (exporter-toolkit's hashes) */
	load_ok(t, "basic_auth_users:\n"
	    "  alice: $2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby\n"
	    "  bob: $2y$14$y7HJ017Lo/wKPDdzdHahNevjaqE.WRk3iKVLLt1yKO7RtIrNbvy6.\n"
	    "  carol: $2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu\n"
	    "  dave: " DAVE_HASH "\n");
	assert_true(web_config_has_users(t->wc));
	assert_string_equal(web_config_user_hash(t->wc, "dave", 4), DAVE_HASH);
	assert_null(web_config_user_hash(t->wc, "dav", 3));
	assert_null(web_config_user_hash(t->wc, "eve", 3));
	/* the dummy hash has the most common cost (10) */
	assert_memory_equal(web_config_dummy_hash(t->wc), "$2y$10$", 7);
	/* web_config_auth_user_list_invalid.bad.yml: never the value */
	load_err(t, "basic_auth_users:\n  john: doe\n", 2, 9,
	    "the password of user 'john' is not a bcrypt hash");
	assert_null(strstr(t->errs.v[0].message, "doe"));
	load_err(t, "basic_auth_users:\n  john:\n", 2, 8, "not a bcrypt hash");
	load_err(t, "basic_auth_users:\n  john: "
	    "$2y$03$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq\n",
	    2, 9, "not a bcrypt hash");
	load_err(t, "basic_auth_users:\n  john: "
	    "$2y$32$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq\n",
	    2, 9, "not a bcrypt hash");
	load_err(t, "basic_auth_users:\n  john: "
	    "$1$10$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq\n",
	    2, 9, "not a bcrypt hash");
	load_err(t, "basic_auth_users:\n  john: " DAVE_HASH "x\n", 2, 9,
	    "not a bcrypt hash");
	load_err(t, "basic_auth_users:\n  a: " DAVE_HASH "\n  a: " DAVE_HASH
	    "\n", 3, 3, "duplicate user 'a'");
	load_err(t, "basic_auth_users: [a]\n", 1, 19, "expected a mapping");
	assert_true(web_config_bcrypt_valid(
	    "$2a$04$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi", NULL));
	assert_true(web_config_bcrypt_valid(
	    "$2b$31$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi", NULL));
	assert_false(web_config_bcrypt_valid(
	    "$2x$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi", NULL));
	assert_false(web_config_bcrypt_valid(
	    "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeS!", NULL));
}

/* ---- web_auth on a real loop ------------------------------------------ */

struct loop {
	struct event_base *base;
	struct web_auth	*auth;
	unsigned	 answers;
	unsigned	 ok, denied;
	unsigned	 ticks;
	uint64_t	 last_tick, max_gap;
	struct event	*tick;
};

static void
on_answer(void *arg, enum web_auth_result r)
{
	struct loop *l = arg;

	l->answers++;
	if (r == WEB_AUTH_OK)
		l->ok++;
	else if (r == WEB_AUTH_DENIED)
		l->denied++;
	else
		fail_msg("unexpected result %d", r);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	uint64_t now = now_usec();

	(void)fd;
	(void)what;
	if (l->last_tick != 0 && now - l->last_tick > l->max_gap)
		l->max_gap = now - l->last_tick;
	l->last_tick = now;
	l->ticks++;
}

static void
loop_init(struct loop *l)
{
	struct timeval tv = { 0, 5000 };

	memset(l, 0, sizeof(*l));
	l->base = event_base_new();
	assert_non_null(l->base);
	l->auth = web_auth_new(l->base);
	assert_non_null(l->auth);
	l->tick = event_new(l->base, -1, EV_PERSIST, on_tick, l);
	assert_non_null(l->tick);
	assert_int_equal(event_add(l->tick, &tv), 0);
}

/* Runs the loop until `answers` answers came (deadline 30 s). */
static void
loop_until(struct loop *l, unsigned answers)
{
	uint64_t deadline = now_usec() + 30 * USEC_PER_SEC;

	while (l->answers < answers && now_usec() < deadline)
		event_base_loop(l->base, EVLOOP_ONCE);
	assert_int_equal(l->answers, answers);
}

static void
loop_fini(struct loop *l)
{
	event_free(l->tick);
	web_auth_free(l->auth);
	event_base_free(l->base);
}

/* "Authorization: Basic base64(user:pass)" value. */
static char *
basic(const char *user, const char *pass)
{
	char *up, *b, *h;

	assert_true(asprintf(&up, "%s:%s", user, pass) > 0);
	b = base64_encode(up, strlen(up));
	assert_non_null(b);
	assert_true(asprintf(&h, "Basic %s", b) > 0);
	free(up);
	free(b);
	return h;
}

/* A bcrypt hash of pass at cost. */
static char *
make_hash(const char *pass, unsigned cost)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	char *out;

	assert_non_null(crypt_gensalt_rn("$2b$", cost, NULL, 0, salt,
	    sizeof(salt)));
	memset(&cd, 0, sizeof(cd));
	out = crypt_r(pass, salt, &cd);
	assert_non_null(out);
	assert_true(web_config_bcrypt_valid(out, NULL));
	return strdup(out);
}

static enum web_auth_result
check(struct loop *l, const struct web_config *wc, const char *h,
    struct web_auth_request **req)
{
	*req = NULL;
	return web_auth_check(l->auth, wc, h, on_answer, l, req);
}

static void
load_users(struct t *t, const char *users)
{
	char *text;

	assert_true(asprintf(&text, "basic_auth_users:\n%s", users) > 0);
	load_ok(t, text);
	free(text);
}

static void
test_auth_basic(void **state)
{
	struct web_auth_request *req;
	struct web_auth_stats st;
	struct t *t = *state;
	struct loop l;
	char *h;

	loop_init(&l);
	/* no users: OK without a header */
	load_ok(t, "");
	assert_int_equal(check(&l, t->wc, NULL, &req), WEB_AUTH_OK);

	load_users(t, "  dave: " DAVE_HASH "\n");
	assert_int_equal(check(&l, t->wc, NULL, &req), WEB_AUTH_DENIED);
	/* malformed: DENIED without bcrypt (Go's Request.BasicAuth) */
	assert_int_equal(check(&l, t->wc, "Bearer abc", &req), WEB_AUTH_DENIED);
	assert_int_equal(check(&l, t->wc, "Basic", &req), WEB_AUTH_DENIED);
	assert_int_equal(check(&l, t->wc, "Basic !!!!", &req), WEB_AUTH_DENIED);
	/* "dave" without a colon */
	assert_int_equal(check(&l, t->wc, "Basic ZGF2ZQ==", &req),
	    WEB_AUTH_DENIED);
	/* unpadded "dave:dave123" */
	assert_int_equal(check(&l, t->wc, "Basic ZGF2ZTpkYXZlMTIz=", &req),
	    WEB_AUTH_DENIED);
	assert_int_equal(check(&l, t->wc, "Basic  ZGF2ZTpkYXZlMTIz", &req),
	    WEB_AUTH_DENIED);
	web_auth_stats(l.auth, &st);
	assert_int_equal(st.bcrypt_runs, 0);

	/* exporter-toolkit's dave/dave123, "basic" in lower case */
	assert_int_equal(check(&l, t->wc, "basic ZGF2ZTpkYXZlMTIz", &req),
	    WEB_AUTH_PENDING);
	assert_non_null(req);
	loop_until(&l, 1);
	assert_int_equal(l.ok, 1);
	/* cached: at once, no bcrypt */
	assert_int_equal(check(&l, t->wc, "Basic ZGF2ZTpkYXZlMTIz", &req),
	    WEB_AUTH_OK);
	web_auth_stats(l.auth, &st);
	assert_int_equal(st.bcrypt_runs, 1);
	assert_int_equal(st.cache_hits, 1);

	/* wrong password */
	h = basic("dave", "dave124");
	assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_PENDING);
	loop_until(&l, 2);
	assert_int_equal(l.denied, 1);
	assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_DENIED);
	free(h);

	/* unknown user: bcrypt still runs (the dummy hash), DENIED */
	h = basic("eve", "dave123");
	assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_PENDING);
	loop_until(&l, 3);
	assert_int_equal(l.denied, 2);
	web_auth_stats(l.auth, &st);
	assert_int_equal(st.bcrypt_runs, 3);
	free(h);

	loop_fini(&l);
}

static void
test_auth_colon_reload(void **state)
{
	struct web_auth_request *req;
	struct t *t = *state;
	struct web_config *old;
	struct loop l;
	char *hash, *users, *h;

	loop_init(&l);
	hash = make_hash("a:b", 4);
	assert_true(asprintf(&users, "  u: %s\n", hash) > 0);
	load_users(t, users);
	h = basic("u", "a:b");
	assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_PENDING);
	loop_until(&l, 1);
	assert_int_equal(l.ok, 1);
	assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_OK);
	/* a reload that changes the hash: the cached answer no longer
	 * applies, and the old object stays usable while referenced */
	old = web_config_ref(t->wc);
	free(users);
	free(hash);
	hash = make_hash("other", 4);
	assert_true(asprintf(&users, "  u: %s\n", hash) > 0);
	load_users(t, users);
	assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_PENDING);
	loop_until(&l, 2);
	assert_int_equal(l.denied, 1);
	assert_int_equal(check(&l, old, h, &req), WEB_AUTH_OK);
	web_config_unref(old);
	free(h);
	free(users);
	free(hash);
	loop_fini(&l);
}

/* Cancel while queued, while computing, and free with requests pending. */
static void
test_auth_cancel(void **state)
{
	struct web_auth_request *r1, *r2, *r3;
	struct web_auth_stats st;
	struct t *t = *state;
	struct loop l;
	char *h1, *h2, *h3;

	loop_init(&l);
	load_users(t, "  dave: " DAVE_HASH "\n");
	h1 = basic("dave", "one");
	h2 = basic("dave", "two");
	h3 = basic("dave", "three");
	assert_int_equal(check(&l, t->wc, h1, &r1), WEB_AUTH_PENDING);
	assert_int_equal(check(&l, t->wc, h2, &r2), WEB_AUTH_PENDING);
	/* r1 is (about to be) computing, r2 queued: cancel both */
	web_auth_cancel(r2);
	web_auth_cancel(r1);
	web_auth_cancel(NULL);
	assert_int_equal(check(&l, t->wc, h3, &r3), WEB_AUTH_PENDING);
	loop_until(&l, 1);
	assert_int_equal(l.denied, 1);
	/* the cancelled check that ran was still cached */
	web_auth_stats(l.auth, &st);
	assert_true(st.bcrypt_runs >= 1);
	/* coalescing: two identical checks, one bcrypt, both answered */
	free(h3);
	h3 = basic("dave", "four");
	assert_int_equal(check(&l, t->wc, h3, &r1), WEB_AUTH_PENDING);
	assert_int_equal(check(&l, t->wc, h3, &r2), WEB_AUTH_PENDING);
	assert_int_equal(check(&l, t->wc, h3, &r3), WEB_AUTH_PENDING);
	web_auth_cancel(r2);
	loop_until(&l, 3);
	web_auth_stats(l.auth, &st);
	assert_int_equal(st.coalesced, 2);
	/* freed with a request pending: no callback, no leak */
	assert_int_equal(check(&l, t->wc, h2, &r1), WEB_AUTH_PENDING);
	loop_fini(&l);
	assert_int_equal(l.answers, 3);
	free(h1);
	free(h2);
	free(h3);
}

/* 50 concurrent checks: the loop's timer keeps firing meanwhile. */
static void
test_auth_concurrent(void **state)
{
	struct web_auth_request *req;
	struct web_auth_stats st;
	struct t *t = *state;
	struct loop l;
	char *hash, *users, *h;
	uint64_t start;
	unsigned i, ticks;

	loop_init(&l);
	hash = make_hash("right", 8);
	assert_true(asprintf(&users, "  p: %s\n", hash) > 0);
	load_users(t, users);
	for (i = 0; i < 50; i++) {
		char pass[16];

		xsnprintf(pass, sizeof(pass), i % 2 ? "right%u" : "wrong%u", i);
		if (i == 7)
			xsnprintf(pass, sizeof(pass), "right");
		h = basic("p", pass);
		assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_PENDING);
		free(h);
	}
	ticks = l.ticks;
	loop_until(&l, 50);
	assert_int_equal(l.ok, 1);
	assert_int_equal(l.denied, 49);
	web_auth_stats(l.auth, &st);
	assert_int_equal(st.bcrypt_runs, 50);
	/* cost 8 is ~15 ms each: the 5 ms timer ran all along (generous
	 * bounds: the machine may be busy) */
	assert_true(l.ticks - ticks >= 20);
	assert_true(l.max_gap < 500 * USEC_PER_MSEC);
	/* more distinct checks than the queue holds: BUSY (503) */
	for (i = 0; i < WEB_AUTH_QUEUE_MAX + 5; i++) {
		char pass[16];

		xsnprintf(pass, sizeof(pass), "busy%u", i);
		h = basic("p", pass);
		(void)check(&l, t->wc, h, &req);
		free(h);
	}
	web_auth_stats(l.auth, &st);
	assert_true(st.busy >= 5);
	loop_fini(&l);
	free(users);
	free(hash);

	/* web_auth_check() never waits for bcrypt: a cost-14 hash (about a
	 * second) answers PENDING at once */
	loop_init(&l);
	hash = make_hash("slow", 14);
	assert_true(asprintf(&users, "  s: %s\n", hash) > 0);
	load_users(t, users);
	h = basic("s", "slow");
	start = now_usec();
	assert_int_equal(check(&l, t->wc, h, &req), WEB_AUTH_PENDING);
	assert_true(now_usec() - start < 200 * USEC_PER_MSEC);
	web_auth_cancel(req);
	free(h);
	loop_fini(&l);
	free(users);
	free(hash);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_not_enabled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_relative_paths, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_missing_cert_key,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_key_permissions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_inline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_client_auth, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_tls_ciphers_curves_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_client_auth,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_sans, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_handshake_ciphers_curves_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_basic, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_colon_reload, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_cancel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_concurrent, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
