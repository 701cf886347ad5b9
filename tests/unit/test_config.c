/*
 * test_config.c: config_load() and friends.  Every test gets its own
 * mkdtemp() directory, writes config.yml (and secret files with the exact
 * permissions it needs) there, loads it and checks the struct or the exact
 * errors (line:column: message).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "test_files.h"
#include "util.h"

#define SECRET	"SUPERSECRET-4f2a9c"

struct t {
	char	 dir[PATH_MAX];		/* the test's temporary directory */
	char	 cfg[PATH_MAX];		/* dir/config.yml */
	struct kcm_config *c;
	struct config_errors errs;
};

/* ---- helpers ---------------------------------------------------------- */

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct t *t;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	xsnprintf(t->dir, sizeof(t->dir), "%s/test_config.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(t->dir));
	xsnprintf(t->cfg, sizeof(t->cfg), "%s/config.yml", t->dir);
	unsetenv("CREDENTIALS_DIRECTORY");
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;

	unsetenv("CREDENTIALS_DIRECTORY");
	config_free(t->c);
	config_errors_free(&t->errs);
	rm_tree(t->dir);
	free(t);
	return 0;
}

/* dir/name, in a static buffer per slot (a few live at once). */
static const char *
path_in(const struct t *t, const char *name)
{
	static char buf[4][PATH_MAX];
	static unsigned slot;
	char *b = buf[slot++ % 4];

	xsnprintf(b, PATH_MAX, "%s/%s", t->dir, name);
	return b;
}

static void
write_raw(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void
write_file(const struct t *t, const char *name, const char *content,
    mode_t mode)
{
	write_raw(path_in(t, name), content, strlen(content), mode);
}

static void
dump_errors(const struct t *t)
{
	config_errors_print(&t->errs, stderr);
}

/* Writes config.yml and loads it into t->c / t->errs. */
static int
load(struct t *t, const char *yaml)
{
	config_free(t->c);
	t->c = NULL;
	config_errors_free(&t->errs);
	write_file(t, "config.yml", yaml, 0644);
	return config_load(t->cfg, &t->c, &t->errs);
}

static void
load_ok(struct t *t, const char *yaml)
{
	int r;

	r = load(t, yaml);
	if (r != 0 || t->errs.n != 0)
		dump_errors(t);
	assert_int_equal(r, 0);
	assert_int_equal(t->errs.n, 0);
	assert_non_null(t->c);
}

static bool
has_error(const struct t *t, unsigned line, unsigned column, const char *msg)
{
	size_t i;

	for (i = 0; i < t->errs.n; i++)
		if (t->errs.v[i].line == line &&
		    t->errs.v[i].column == column &&
		    strstr(t->errs.v[i].message, msg) != NULL)
			return true;
	return false;
}

/* The load fails with exactly one error: at line:column, containing msg. */
static void
load_err(struct t *t, const char *yaml, unsigned line, unsigned column,
    const char *msg)
{
	int r;

	r = load(t, yaml);
	if (r != -EINVAL || t->errs.n != 1 || !has_error(t, line, column, msg)) {
		fprintf(stderr, "expected %u:%u: ...%s...\ngot r=%d:\n", line,
		    column, msg, r);
		dump_errors(t);
	}
	assert_int_equal(r, -EINVAL);
	assert_null(t->c);
	assert_int_equal(t->errs.n, 1);
	assert_true(has_error(t, line, column, msg));
	assert_string_equal(t->errs.v[0].file, t->cfg);
}

/* Like load_err, for a value under targets[0].kibana. */
static void
kibana_err(struct t *t, const char *kibana_lines, unsigned line,
    unsigned column, const char *msg)
{
	char yaml[4096];

	xsnprintf(yaml, sizeof(yaml),
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "%s", kibana_lines);
	load_err(t, yaml, line, column, msg);
}

static void
assert_no_secret_in_errors(const struct t *t, const char *secret)
{
	size_t i;

	for (i = 0; i < t->errs.n; i++) {
		assert_null(strstr(t->errs.v[i].message, secret));
		assert_null(strstr(t->errs.v[i].file, secret));
	}
}

static void
assert_defaults(const struct target_config *tc)
{
	assert_int_equal(tc->kibana.timeout_usec, CONFIG_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(tc->kibana.max_response_bytes,
	    CONFIG_DEFAULT_MAX_RESPONSE);
	assert_false(tc->kibana.insecure_skip_verify);
	assert_null(tc->kibana.api_key_file);
	assert_null(tc->kibana.username);
	assert_null(tc->kibana.password_file);
	assert_null(tc->kibana.ca_file);
	assert_null(tc->kibana.client_cert_file);
	assert_null(tc->kibana.client_key_file);
	assert_null(tc->kibana.proxy);
	assert_null(tc->kibana.auth_header);
	assert_true(tc->spaces_all);
	assert_int_equal(tc->nspaces, 0);
	assert_int_equal(tc->inventory_interval_usec,
	    CONFIG_DEFAULT_INVENTORY_USEC);
	assert_int_equal(tc->max_parallel_requests, CONFIG_DEFAULT_MAX_PARALLEL);
}

static const char *
source_root_file(const char *rel, char *buf, size_t bufsz)
{
	const char *data = getenv("KCM_TEST_DATA");
	const char *me = __FILE__, *cut;

	if (data != NULL && *data != '\0') {
		xsnprintf(buf, bufsz, "%s/../../../%s", data, rel);
		return buf;
	}
	cut = strstr(me, "tests/unit/test_config.c");
	assert_non_null(cut);
	xsnprintf(buf, bufsz, "%.*s%s", (int)(cut - me), me, rel);
	return buf;
}

/* ---- valid configurations --------------------------------------------- */

static void
test_full_config_api_key(void **state)
{
	struct t *t = *state;
	const struct target_config *tc;
	char yaml[4096];

	write_file(t, "kibana-api-key", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==\n", 0600);
	write_file(t, "es-password", "pa:ss w0rd\n", 0600);
	write_file(t, "ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
	write_file(t, "client.crt", "cert\n", 0644);
	write_file(t, "client.key", "key\n", 0600);
	xsnprintf(yaml, sizeof(yaml),
	    "listen:\n"
	    "  - \"0.0.0.0:9100\"\n"
	    "  - \"[::1]:9479\"\n"
	    "log_level: debug\n"
	    "targets:\n"
	    "  - name: production\n"
	    "    kibana:\n"
	    "      url: https://kibana.example.com:5601/\n"
	    "      api_key_file: kibana-api-key\n"
	    "      ca_file: %s/ca.pem\n"
	    "      client_cert_file: client.crt\n"
	    "      client_key_file: client.key\n"
	    "      insecure_skip_verify: true\n"
	    "      proxy: http://proxy.example.com:3128\n"
	    "      timeout: 2m30s\n"
	    "      max_response_bytes: 10MB\n"
	    "    spaces: [default, ops-team, x_1]\n"
	    "    inventory_interval: 5m\n"
	    "    max_parallel_requests: 1000\n"
	    "  - name: Staging.eu-1\n"
	    "    kibana:\n"
	    "      url: http://10.0.0.5/kibana/base\n"
	    "      username: monitor\n"
	    "      password_file: es-password\n"
	    "    spaces:\n"
	    "      - default\n",
	    t->dir);
	load_ok(t, yaml);

	assert_string_equal(t->c->path, t->cfg);
	assert_false(t->c->builtin);
	assert_int_equal(t->c->log_level, LOG_DEBUG);
	assert_int_equal(t->c->nlisten, 2);
	assert_string_equal(t->c->listen[0].host, "0.0.0.0");
	assert_int_equal(t->c->listen[0].port, 9100);
	assert_string_equal(t->c->listen[1].host, "::1");
	assert_int_equal(t->c->listen[1].port, 9479);
	assert_int_equal(t->c->ntargets, 2);

	tc = &t->c->targets[0];
	assert_string_equal(tc->name, "production");
	assert_int_equal(tc->pos.line, 6);
	assert_int_equal(tc->pos.column, 5);
	assert_int_equal(tc->kibana.pos.line, 8);
	assert_int_equal(tc->kibana.pos.column, 7);
	assert_string_equal(tc->kibana.url, "https://kibana.example.com:5601");
	assert_string_equal(tc->kibana.api_key_file,
	    path_in(t, "kibana-api-key"));
	assert_null(tc->kibana.username);
	assert_null(tc->kibana.password_file);
	assert_string_equal(tc->kibana.ca_file, path_in(t, "ca.pem"));
	assert_string_equal(tc->kibana.client_cert_file,
	    path_in(t, "client.crt"));
	assert_string_equal(tc->kibana.client_key_file,
	    path_in(t, "client.key"));
	assert_true(tc->kibana.insecure_skip_verify);
	assert_string_equal(tc->kibana.proxy, "http://proxy.example.com:3128");
	assert_int_equal(tc->kibana.timeout_usec, 150 * USEC_PER_SEC);
	assert_int_equal(tc->kibana.max_response_bytes, 10000000);
	assert_string_equal(tc->kibana.auth_header, "Authorization: ApiKey "
	    "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
	assert_false(tc->spaces_all);
	assert_int_equal(tc->nspaces, 3);
	assert_string_equal(tc->spaces[0], "default");
	assert_string_equal(tc->spaces[1], "ops-team");
	assert_string_equal(tc->spaces[2], "x_1");
	assert_int_equal(tc->inventory_interval_usec, 300 * USEC_PER_SEC);
	assert_int_equal(tc->max_parallel_requests, 1000);

	tc = &t->c->targets[1];
	assert_string_equal(tc->name, "Staging.eu-1");
	assert_string_equal(tc->kibana.url, "http://10.0.0.5/kibana/base");
	assert_null(tc->kibana.api_key_file);
	assert_string_equal(tc->kibana.username, "monitor");
	assert_string_equal(tc->kibana.password_file,
	    path_in(t, "es-password"));
	/* base64("monitor:pa:ss w0rd") */
	assert_string_equal(tc->kibana.auth_header,
	    "Authorization: Basic bW9uaXRvcjpwYTpzcyB3MHJk");
	assert_false(tc->spaces_all);
	assert_int_equal(tc->nspaces, 1);
	assert_string_equal(tc->spaces[0], "default");
	assert_int_equal(tc->kibana.timeout_usec, CONFIG_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(tc->inventory_interval_usec,
	    CONFIG_DEFAULT_INVENTORY_USEC);
	assert_int_equal(tc->max_parallel_requests, CONFIG_DEFAULT_MAX_PARALLEL);
}

static void
test_basic_auth(void **state)
{
	struct t *t = *state;

	write_file(t, "pw", "hunter2\n", 0600);
	load_ok(t,
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: http://k:5601\n"
	    "      username: elastic\n"
	    "      password_file: pw\n");
	/* base64("elastic:hunter2") */
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: Basic ZWxhc3RpYzpodW50ZXIy");
	assert_string_equal(t->c->targets[0].kibana.username, "elastic");
}

static void
test_defaults_when_omitted(void **state)
{
	struct t *t = *state;
	const struct target_config *tc;

	load_ok(t,
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: http://k:5601\n");
	assert_int_equal(t->c->nlisten, 1);
	assert_string_equal(t->c->listen[0].host, CONFIG_DEFAULT_LISTEN_HOST);
	assert_int_equal(t->c->listen[0].port, CONFIG_DEFAULT_LISTEN_PORT);
	assert_int_equal(t->c->log_level, LOG_INFO);
	assert_int_equal(t->c->ntargets, 1);
	tc = &t->c->targets[0];
	assert_string_equal(tc->name, "a");
	assert_string_equal(tc->kibana.url, "http://k:5601");
	assert_defaults(tc);
}

static void
test_default_target_when_targets_absent(void **state)
{
	struct t *t = *state;
	const struct target_config *tc;

	load_ok(t, "log_level: warning\n");
	assert_int_equal(t->c->log_level, LOG_WARNING);
	assert_false(t->c->builtin);
	assert_int_equal(t->c->ntargets, 1);
	tc = &t->c->targets[0];
	assert_string_equal(tc->name, CONFIG_DEFAULT_TARGET_NAME);
	assert_string_equal(tc->kibana.url, CONFIG_DEFAULT_KIBANA_URL);
	assert_int_equal(tc->pos.line, 0);
	assert_defaults(tc);
	assert_int_equal(t->c->nlisten, 1);
	assert_string_equal(t->c->listen[0].host, "127.0.0.1");
	assert_int_equal(t->c->listen[0].port, 9479);
}

static void
test_config_default(void **state)
{
	struct kcm_config *c = NULL;

	(void)state;
	assert_int_equal(config_default(&c), 0);
	assert_non_null(c);
	assert_true(c->builtin);
	assert_null(c->path);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].host, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 9479);
	assert_int_equal(c->ntargets, 1);
	assert_string_equal(c->targets[0].name, "default");
	assert_string_equal(c->targets[0].kibana.url, "http://localhost:5601");
	assert_defaults(&c->targets[0]);
	config_free(c);
	config_free(NULL);
	config_errors_free(NULL);
}

static void
test_example_config_loads(void **state)
{
	struct t *t = *state;
	char src[PATH_MAX], *buf;
	FILE *f;
	long len;
	int r;

	source_root_file("config/config.yml", src, sizeof(src));
	f = fopen(src, "r");
	if (f == NULL)
		fprintf(stderr, "cannot open %s\n", src);
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	write_file(t, "kibana-api-key", "ZXhhbXBsZQ==\n", 0600);
	r = load(t, buf);
	free(buf);
	if (r != 0)
		dump_errors(t);
	assert_int_equal(r, 0);
	assert_int_equal(t->c->nlisten, 1);
	assert_string_equal(t->c->listen[0].host, "127.0.0.1");
	assert_int_equal(t->c->listen[0].port, 9479);
	assert_int_equal(t->c->log_level, LOG_INFO);
	assert_int_equal(t->c->ntargets, 1);
	assert_string_equal(t->c->targets[0].name, "production");
	assert_string_equal(t->c->targets[0].kibana.url,
	    "https://kibana.example.com:5601");
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey ZXhhbXBsZQ==");
	/* every other value in the example is the documented default */
	assert_int_equal(t->c->targets[0].kibana.timeout_usec,
	    CONFIG_DEFAULT_TIMEOUT_USEC);
	assert_int_equal(t->c->targets[0].kibana.max_response_bytes,
	    CONFIG_DEFAULT_MAX_RESPONSE);
	assert_true(t->c->targets[0].spaces_all);
	assert_int_equal(t->c->targets[0].inventory_interval_usec,
	    CONFIG_DEFAULT_INVENTORY_USEC);
	assert_int_equal(t->c->targets[0].max_parallel_requests,
	    CONFIG_DEFAULT_MAX_PARALLEL);
}

static void
test_log_levels(void **state)
{
	static const struct {
		const char *name;
		int prio;
	} v[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO },
		{ "warning", LOG_WARNING }, { "error", LOG_ERR },
	};
	struct t *t = *state;
	char yaml[128];
	size_t i;

	for (i = 0; i < ELEMENTSOF(v); i++) {
		xsnprintf(yaml, sizeof(yaml), "log_level: %s\n", v[i].name);
		load_ok(t, yaml);
		assert_int_equal(t->c->log_level, v[i].prio);
	}
	load_err(t, "log_level: verbose\n", 1, 12,
	    "'log_level': invalid level 'verbose' (use debug, info, warning "
	    "or error)");
	load_err(t, "log_level: WARN\n", 1, 12, "invalid level 'WARN'");
}

static void
test_log_targets(void **state)
{
	struct t *t = *state;

	load_ok(t, "log_level: info\n");
	assert_int_equal(t->c->log_target, LOG_TARGET_AUTO);
	load_ok(t, "log_target: journal\n");
	assert_int_equal(t->c->log_target, LOG_TARGET_JOURNAL);
	load_ok(t, "log_target: stderr\n");
	assert_int_equal(t->c->log_target, LOG_TARGET_STDERR);
	load_ok(t, "log_target: auto\n");
	assert_int_equal(t->c->log_target, LOG_TARGET_AUTO);
	load_err(t, "log_target: syslog\n", 1, 13,
	    "'log_target': invalid target 'syslog' (use auto, journal or stderr)");
}

static void
test_url_normalized(void **state)
{
	struct t *t = *state;

	load_ok(t,
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana: {url: \"HTTPS://Kibana.example.com/base/path///\"}\n"
	    "  - name: b\n"
	    "    kibana: {url: \"http://[::1]:5601/\"}\n"
	    "  - name: c\n"
	    "    kibana: {url: \"http://k:65535\", proxy: \"socks5h://p:1080/\"}\n");
	assert_string_equal(t->c->targets[0].kibana.url,
	    "https://Kibana.example.com/base/path");
	assert_string_equal(t->c->targets[1].kibana.url, "http://[::1]:5601");
	assert_string_equal(t->c->targets[2].kibana.url, "http://k:65535");
	assert_string_equal(t->c->targets[2].kibana.proxy, "socks5h://p:1080");
}

static void
test_proxy_schemes(void **state)
{
	static const char *const ok[] = {
		"http://p:3128", "https://p", "socks4://p:1080",
		"socks4a://p:1080", "socks5://p:1080", "socks5h://10.1.1.1:1080",
	};
	struct t *t = *state;
	char yaml[512];
	size_t i;

	for (i = 0; i < ELEMENTSOF(ok); i++) {
		xsnprintf(yaml, sizeof(yaml),
		    "targets:\n"
		    "  - name: a\n"
		    "    kibana:\n"
		    "      url: http://k\n"
		    "      proxy: %s\n", ok[i]);
		load_ok(t, yaml);
		assert_string_equal(t->c->targets[0].kibana.proxy, ok[i]);
	}
	kibana_err(t, "      url: http://k\n      proxy: ftp://p\n", 5, 14,
	    "'proxy': unsupported scheme 'ftp' (use http, https, socks4, "
	    "socks4a, socks5 or socks5h)");
	kibana_err(t, "      url: http://k\n      proxy: http://u:" SECRET
	    "@p:3128\n", 5, 14, "credentials in 'proxy' are not allowed");
	assert_no_secret_in_errors(t, SECRET);
	kibana_err(t, "      url: http://k\n      proxy: http://p:3128/x\n", 5,
	    14, "'proxy': must not have a path");
	kibana_err(t, "      url: http://k\n      proxy: p:3128\n", 5, 14,
	    "'proxy': not an absolute URL");
}

/* ---- unknown keys, duplicate keys, types ------------------------------ */

static void
test_unknown_keys(void **state)
{
	struct t *t = *state;

	load_err(t, "log_level: info\nlog_levle: debug\n", 2, 1,
	    "unknown key 'log_levle' at the top level");
	load_err(t,
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: http://k\n"
	    "    spaec: all\n", 5, 5, "unknown key 'spaec' in 'targets[0]'");
	load_err(t,
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: http://k\n"
	    "  - name: b\n"
	    "    kibana:\n"
	    "      url: http://k\n"
	    "      timout: 10s\n", 8, 7,
	    "unknown key 'timout' in 'targets[1].kibana'");
	/* exact message */
	assert_string_equal(t->errs.v[0].message,
	    "unknown key 'timout' in 'targets[1].kibana'");
	load_err(t, "? [a, b]\n: c\n", 1, 3, "keys must be plain strings");
}

static void
test_duplicate_keys(void **state)
{
	struct t *t = *state;

	load_err(t, "log_level: info\nlisten: \"127.0.0.1:1\"\nlog_level: "
	    "debug\n", 3, 1, "duplicate key 'log_level' at the top level "
	    "(first defined at line 1)");
	load_err(t,
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: http://k\n"
	    "      timeout: 5s\n"
	    "      timeout: 6s\n", 6, 7,
	    "duplicate key 'timeout' in 'targets[0].kibana' (first defined "
	    "at line 5)");
	load_err(t, "targets:\n  - {name: a, name: b, kibana: {url: "
	    "http://k}}\n", 2, 15, "duplicate key 'name' in 'targets[0]' "
	    "(first defined at line 2)");
}

static void
test_wrong_types(void **state)
{
	struct t *t = *state;

	load_err(t, "listen:\n  a: b\n", 2, 3,
	    "'listen': expected an address:port or a list of them, got a "
	    "mapping");
	load_err(t, "log_level: [info]\n", 1, 12,
	    "'log_level': expected a log level, got a list");
	load_err(t, "targets: production\n", 1, 10,
	    "'targets': expected a list of targets, got a scalar");
	load_err(t, "targets:\n  - production\n", 2, 5,
	    "'targets[0]': expected a mapping, got a scalar");
	load_err(t, "targets:\n  - name: a\n    kibana: http://k\n", 3, 13,
	    "'kibana': expected a mapping, got a scalar");
	load_err(t, "targets:\n  - name: [a]\n    kibana: {url: http://k}\n",
	    2, 11, "'name': expected a string, got a list");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces: {a: b}\n", 4, 13,
	    "'spaces': expected 'all' or a list of space ids, got a mapping");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    max_parallel_requests: [1]\n", 4, 28,
	    "'max_parallel_requests': expected an integer, got a list");
	kibana_err(t, "      url: [http://k]\n", 4, 12,
	    "'url': expected a URL, got a list");
	kibana_err(t, "      url: http://k\n      timeout: {s: 1}\n", 5, 16,
	    "'timeout': expected a duration, got a mapping");
	kibana_err(t, "      url: http://k\n      max_response_bytes: [1]\n",
	    5, 27, "'max_response_bytes': expected a size, got a list");
	kibana_err(t, "      url: http://k\n      ca_file:\n", 5, 15,
	    "'ca_file': missing value (expected a string)");
	kibana_err(t, "      url: http://k\n      ca_file: \"\"\n", 5, 16,
	    "'ca_file': must not be empty");
	kibana_err(t, "      url: ~\n", 4, 12, "'url': missing value");
}

static void
test_booleans(void **state)
{
	static const char *const bad[] = { "yes", "no", "on", "1", "True" };
	struct t *t = *state;
	char lines[256], msg[128];
	size_t i;

	for (i = 0; i < ELEMENTSOF(bad); i++) {
		xsnprintf(lines, sizeof(lines), "      url: http://k\n"
		    "      insecure_skip_verify: %s\n", bad[i]);
		xsnprintf(msg, sizeof(msg), "'insecure_skip_verify': expected "
		    "true or false, got '%s'", bad[i]);
		kibana_err(t, lines, 5, 29, msg);
	}
	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k, "
	    "insecure_skip_verify: false}\n");
	assert_false(t->c->targets[0].kibana.insecure_skip_verify);
	kibana_err(t, "      url: http://k\n      insecure_skip_verify: [true]\n",
	    5, 29, "'insecure_skip_verify': expected true or false, got a "
	    "list");
}

/* ---- numbers ---------------------------------------------------------- */

static void
test_bad_durations(void **state)
{
	static const char *const bad[] = { "ten", "10", "-5s", "5x", "5 s",
	    "1.5s", "s" };
	struct t *t = *state;
	char lines[256], msg[128];
	size_t i;

	for (i = 0; i < ELEMENTSOF(bad); i++) {
		xsnprintf(lines, sizeof(lines), "      url: http://k\n"
		    "      timeout: \"%s\"\n", bad[i]);
		xsnprintf(msg, sizeof(msg), "'timeout': invalid duration '%s' "
		    "(use e.g. 30s, 5m, 1h)", bad[i]);
		kibana_err(t, lines, 5, 16, msg);
		assert_string_equal(t->errs.v[0].message, msg);
	}
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    inventory_interval: 60\n", 4, 25,
	    "'inventory_interval': invalid duration '60'");
}

static void
test_out_of_range(void **state)
{
	struct t *t = *state;

	kibana_err(t, "      url: http://k\n      timeout: 0s\n", 5, 16,
	    "'timeout': '0s' is out of range (1ms..1h)");
	kibana_err(t, "      url: http://k\n      timeout: 1h1s\n", 5, 16,
	    "'timeout': '1h1s' is out of range (1ms..1h)");
	kibana_err(t, "      url: http://k\n      timeout: "
	    "99999999999999999999s\n", 5, 16, "is out of range (1ms..1h)");
	kibana_err(t, "      url: http://k\n      max_response_bytes: 1023\n",
	    5, 27, "'max_response_bytes': '1023' is out of range "
	    "(1KiB..1GiB)");
	kibana_err(t, "      url: http://k\n      max_response_bytes: 2GiB\n",
	    5, 27, "'2GiB' is out of range (1KiB..1GiB)");
	kibana_err(t, "      url: http://k\n      max_response_bytes: 64 MB\n",
	    5, 27, "'max_response_bytes': invalid size '64 MB' (use e.g. "
	    "512KiB, 64MiB, 1GiB)");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    inventory_interval: 999ms\n", 4, 25,
	    "'inventory_interval': '999ms' is out of range (1s..24h)");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    inventory_interval: 1d1s\n", 4, 25, "out of range (1s..24h)");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    max_parallel_requests: 0\n", 4, 28,
	    "'max_parallel_requests': '0' is out of range (1..1000)");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    max_parallel_requests: 1001\n", 4, 28, "out of range (1..1000)");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    max_parallel_requests: -1\n", 4, 28,
	    "'max_parallel_requests': invalid integer '-1'");
	load_err(t, "max_connections: 0\n", 1, 18,
	    "'max_connections': '0' is out of range (1..4096)");
	load_err(t, "max_connections: 4097\n", 1, 18, "out of range (1..4096)");
	load_ok(t, "max_connections: 4096\n");
	assert_int_equal(t->c->max_connections, 4096);
	load_ok(t, "max_connections: 1\n");
	assert_int_equal(t->c->max_connections, 1);
	load_ok(t, "log_level: info\n");
	assert_int_equal(t->c->max_connections, CONFIG_DEFAULT_MAX_CONNECTIONS);

	/* the bounds themselves are fine */
	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k, "
	    "timeout: 1ms, max_response_bytes: 1KiB}\n"
	    "    inventory_interval: 1s\n    max_parallel_requests: 1\n");
	assert_int_equal(t->c->targets[0].kibana.timeout_usec, 1000);
	assert_int_equal(t->c->targets[0].kibana.max_response_bytes, 1024);
	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k, "
	    "timeout: 1h, max_response_bytes: 1GiB}\n"
	    "    inventory_interval: 24h\n");
	assert_int_equal(t->c->targets[0].kibana.max_response_bytes,
	    UINT64_C(1) << 30);
	assert_int_equal(t->c->targets[0].inventory_interval_usec,
	    UINT64_C(86400) * USEC_PER_SEC);
}

/* ---- URLs ------------------------------------------------------------- */

static void
test_bad_urls(void **state)
{
	static const struct {
		const char *url;
		const char *msg;
	} v[] = {
		{ "ftp://k/", "'url': unsupported scheme 'ftp' (use http or "
		    "https)" },
		{ "http://", "'url': missing host name" },
		{ "http:///path", "'url': missing host name" },
		{ "http://k/?a=1", "'url': query strings and fragments are not "
		    "allowed" },
		{ "http://k/?", "'url': query strings and fragments are not "
		    "allowed" },
		{ "http://k/#top", "'url': query strings and fragments are not "
		    "allowed" },
		{ "http://k:0/", "'url': invalid port (must be 1-65535)" },
		{ "http://k:70000/", "'url': invalid port (must be 1-65535)" },
		{ "http://k:80x/", "'url': invalid port (must be 1-65535)" },
		{ "kibana:5601", "'url': not an absolute URL" },
		{ "/kibana", "'url': not an absolute URL" },
		{ "http://k k/", "'url': invalid URL: " },
	};
	struct t *t = *state;
	char lines[256];
	size_t i;

	for (i = 0; i < ELEMENTSOF(v); i++) {
		xsnprintf(lines, sizeof(lines), "      url: \"%s\"\n", v[i].url);
		kibana_err(t, lines, 4, 12, v[i].msg);
	}
}

static void
test_url_userinfo_never_echoed(void **state)
{
	static const char *const v[] = {
		"https://admin:" SECRET "@kibana:5601",
		"https://" SECRET "@kibana",
		"http://admin:" SECRET "@k:99999/",
		"http://admin:" SECRET "@k k/",
		"ftp://admin:" SECRET "@k",
		"http://@k/",
	};
	struct t *t = *state;
	char lines[256];
	size_t i;

	for (i = 0; i < ELEMENTSOF(v); i++) {
		xsnprintf(lines, sizeof(lines), "      url: \"%s\"\n", v[i]);
		if (i == 4)
			kibana_err(t, lines, 4, 12, "unsupported scheme 'ftp'");
		else {
			kibana_err(t, lines, 4, 12, "");
			assert_string_equal(t->errs.v[0].message,
			    "credentials in 'url' are not allowed; use "
			    "api_key_file or username/password_file");
		}
		assert_no_secret_in_errors(t, SECRET);
	}
}

/* ---- targets and spaces ----------------------------------------------- */

static void
test_duplicate_target_names(void **state)
{
	struct t *t = *state;

	load_err(t,
	    "targets:\n"
	    "  - name: x\n"
	    "    kibana: {url: http://a}\n"
	    "  - name: production\n"
	    "    kibana: {url: http://b}\n"
	    "  - name: production\n"
	    "    kibana: {url: http://c}\n", 6, 11,
	    "duplicate target name 'production' (first defined at line 4)");
	assert_string_equal(t->errs.v[0].message,
	    "duplicate target name 'production' (first defined at line 4)");
}

static void
test_target_names(void **state)
{
	struct t *t = *state;
	char yaml[512], name[80];

	memset(name, 'n', 64);
	name[64] = '\0';
	xsnprintf(yaml, sizeof(yaml), "targets:\n  - name: %s\n    kibana: "
	    "{url: http://k}\n", name);
	load_ok(t, yaml);
	assert_string_equal(t->c->targets[0].name, name);
	name[64] = 'n';
	name[65] = '\0';
	xsnprintf(yaml, sizeof(yaml), "targets:\n  - name: %s\n    kibana: "
	    "{url: http://k}\n", name);
	load_err(t, yaml, 2, 11, "'name': longer than 64 characters");
	load_err(t, "targets:\n  - name: \"a b\"\n    kibana: {url: http://k}\n",
	    2, 11, "'name': invalid target name 'a b' (use only A-Z, a-z, "
	    "0-9, '_', '.' and '-')");
	load_err(t, "targets:\n  - name: \"a\\nb\"\n    kibana: {url: "
	    "http://k}\n", 2, 11, "invalid target name 'a?b'");
	load_err(t, "targets:\n  - name: \"\"\n    kibana: {url: http://k}\n",
	    2, 11, "'name': must not be empty");
	load_err(t, "targets:\n  - name: \"a\\0b\"\n    kibana: {url: "
	    "http://k}\n", 2, 11, "NUL characters are not allowed");
}

static void
test_missing_required_keys(void **state)
{
	struct t *t = *state;

	load_err(t, "targets:\n  - kibana: {url: http://k}\n", 2, 5,
	    "missing required key 'name' in 'targets[0]'");
	load_err(t, "targets:\n  - name: a\n    spaces: all\n", 2, 5,
	    "missing required key 'kibana' in 'targets[0]'");
	load_err(t, "targets:\n  - name: a\n    kibana:\n      timeout: 5s\n",
	    4, 7, "missing required key 'url' in 'targets[0].kibana'");
	load_err(t, "targets: []\n", 1, 10,
	    "'targets': the list must not be empty");
}

static void
test_spaces(void **state)
{
	struct t *t = *state;

	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces: all\n");
	assert_true(t->c->targets[0].spaces_all);
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces: [default, ops, default]\n", 4, 28,
	    "'spaces': duplicate space 'default' (first listed at line 4)");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces:\n      - ops\n      - Ops\n", 6, 9,
	    "'spaces': invalid space id 'Ops' (use only a-z, 0-9, '_' and "
	    "'-')");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces: [\"\"]\n", 4, 14, "'spaces': invalid space id ''");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces: []\n", 4, 13, "'spaces': the list must not be empty");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces: default\n", 4, 13,
	    "'spaces': expected 'all' or a list of space ids, got 'default'");
	load_err(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n"
	    "    spaces: [[a]]\n", 4, 14,
	    "'spaces': expected a space id, got a list");
}

/* ---- listen ----------------------------------------------------------- */

static void
test_listen_variants(void **state)
{
	struct t *t = *state;

	load_ok(t, "listen: \"[::1]:9479\"\n");
	assert_int_equal(t->c->nlisten, 1);
	assert_string_equal(t->c->listen[0].host, "::1");
	assert_int_equal(t->c->listen[0].port, 9479);

	load_ok(t, "listen:\n  - 127.0.0.1:0\n  - \"[::]:65535\"\n"
	    "  - localhost:8080\n  - 0.0.0.0:9479\n");
	assert_int_equal(t->c->nlisten, 4);
	assert_string_equal(t->c->listen[0].host, "127.0.0.1");
	assert_int_equal(t->c->listen[0].port, 0);
	assert_string_equal(t->c->listen[1].host, "::");
	assert_int_equal(t->c->listen[1].port, 65535);
	assert_string_equal(t->c->listen[2].host, "localhost");
	assert_int_equal(t->c->listen[2].port, 8080);
	assert_string_equal(t->c->listen[3].host, "0.0.0.0");
}

static void
test_listen_errors(void **state)
{
	static const struct {
		const char *value;
		const char *msg;
	} v[] = {
		{ "127.0.0.1:70000", "'listen': invalid port '70000' (must be "
		    "0-65535)" },
		{ "127.0.0.1:http", "'listen': invalid port 'http'" },
		{ "127.0.0.1:", "'listen': invalid port ''" },
		{ "127.0.0.1", "'listen': missing port in '127.0.0.1' (use "
		    "host:port or [ipv6]:port)" },
		{ "[::1]", "'listen': missing port in '[::1]'" },
		{ "[::1", "'listen': missing ']' in '[::1'" },
		{ "example.com:9479", "'listen': host 'example.com' is not an "
		    "IP address or 'localhost'" },
		{ "[localhost]:1", "'listen': host 'localhost' is not an IP "
		    "address" },
		{ "[127.0.0.1]:1", "host '127.0.0.1' is not an IP address" },
		{ "::1:9479", "'listen': write IPv6 addresses in brackets" },
		{ ":9479", "'listen': missing host in ':9479'" },
		{ "1.2.3:80", "host '1.2.3' is not an IP address" },
	};
	struct t *t = *state;
	char yaml[256];
	size_t i;

	for (i = 0; i < ELEMENTSOF(v); i++) {
		xsnprintf(yaml, sizeof(yaml), "listen: \"%s\"\n", v[i].value);
		load_err(t, yaml, 1, 9, v[i].msg);
	}
	load_err(t, "listen: []\n", 1, 9, "'listen': the list must not be empty");
	load_err(t, "listen:\n  - 127.0.0.1:1\n  - \"[::1]:2\"\n"
	    "  - 127.0.0.1:1\n", 4, 5, "'listen': duplicate address "
	    "'127.0.0.1:1' (first listed at line 2)");
	load_err(t, "listen:\n  - 127.0.0.1:1\n  - [a]\n", 3, 5,
	    "'listen': expected an address:port, got a list");
}

/* ---- secret files ----------------------------------------------------- */

static void
api_key_config(struct t *t, const char *file)
{
	char yaml[PATH_MAX + 256];

	xsnprintf(yaml, sizeof(yaml),
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: http://k\n"
	    "      api_key_file: %s\n", file);
	write_file(t, "config.yml", yaml, 0644);
}

static int
load_api_key(struct t *t, const char *content, mode_t mode)
{
	write_file(t, "key", content, mode);
	api_key_config(t, "key");
	config_free(t->c);
	t->c = NULL;
	config_errors_free(&t->errs);
	return config_load(t->cfg, &t->c, &t->errs);
}

static void
api_key_err(struct t *t, const char *content, mode_t mode, const char *msg)
{
	char full[PATH_MAX + 128];
	int r;

	r = load_api_key(t, content, mode);
	xsnprintf(full, sizeof(full), "'api_key_file': secret file '%s' %s",
	    path_in(t, "key"), msg);
	if (r != -EINVAL || t->errs.n != 1)
		dump_errors(t);
	assert_int_equal(r, -EINVAL);
	assert_null(t->c);
	assert_int_equal(t->errs.n, 1);
	assert_int_equal(t->errs.v[0].line, 5);
	assert_int_equal(t->errs.v[0].column, 21);
	assert_string_equal(t->errs.v[0].message, full);
	assert_no_secret_in_errors(t, SECRET);
}

static void
test_secret_permissions(void **state)
{
	struct t *t = *state;

	api_key_err(t, SECRET "\n", 0644, "is readable by group or others "
	    "(mode 0644); run chmod 600 on it");
	api_key_err(t, SECRET "\n", 0640, "is readable by group or others "
	    "(mode 0640); run chmod 600 on it");
	api_key_err(t, SECRET "\n", 0604, "is readable by group or others "
	    "(mode 0604); run chmod 600 on it");

	assert_int_equal(load_api_key(t, SECRET "\n", 0600), 0);
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey " SECRET);
	assert_int_equal(load_api_key(t, SECRET "\n", 0400), 0);
	assert_int_equal(load_api_key(t, SECRET "\n", 0620), 0);
}

static void
test_secret_content(void **state)
{
	struct t *t = *state;
	char *big;

	/* one trailing LF or CRLF is stripped, none is fine too */
	assert_int_equal(load_api_key(t, SECRET "\n", 0600), 0);
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey " SECRET);
	assert_int_equal(load_api_key(t, SECRET "\r\n", 0600), 0);
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey " SECRET);
	assert_int_equal(load_api_key(t, SECRET, 0600), 0);
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey " SECRET);

	api_key_err(t, "", 0600, "is empty");
	api_key_err(t, "\n", 0600, "is empty");
	api_key_err(t, "\r\n", 0600, "is empty");
	api_key_err(t, SECRET "\nX-Injected: 1\n", 0600,
	    "contains a line break or control character");
	api_key_err(t, SECRET "\n\n", 0600,
	    "contains a line break or control character");
	api_key_err(t, SECRET "\r", 0600,
	    "contains a line break or control character");
	api_key_err(t, "a\tb" SECRET, 0600,
	    "contains a line break or control character");
	api_key_err(t, SECRET "\x7f", 0600,
	    "contains a line break or control character");

	big = malloc(64 * 1024 + 2);
	assert_non_null(big);
	memset(big, 'k', 64 * 1024);
	big[64 * 1024] = '\0';
	assert_int_equal(load_api_key(t, big, 0600), 0);
	big[64 * 1024] = 'k';
	big[64 * 1024 + 1] = '\0';
	api_key_err(t, big, 0600, "is larger than 64 KiB");
	free(big);

	/* a NUL byte is a control character too */
	write_raw(path_in(t, "key"), SECRET "\0x", sizeof(SECRET) + 1, 0600);
	api_key_config(t, "key");
	config_errors_free(&t->errs);
	assert_int_equal(config_load(t->cfg, &t->c, &t->errs), -EINVAL);
	assert_true(has_error(t, 5, 21, "contains a line break or control"));
	assert_no_secret_in_errors(t, SECRET);
}

static void
test_secret_file_problems(void **state)
{
	struct t *t = *state;
	char msg[PATH_MAX + 64];

	api_key_config(t, "missing-key");
	assert_int_equal(config_load(t->cfg, &t->c, &t->errs), -EINVAL);
	xsnprintf(msg, sizeof(msg), "'api_key_file': secret file '%s' cannot "
	    "be opened: No such file or directory", path_in(t, "missing-key"));
	assert_int_equal(t->errs.n, 1);
	assert_string_equal(t->errs.v[0].message, msg);

	config_errors_free(&t->errs);
	assert_int_equal(mkdir(path_in(t, "keydir"), 0700), 0);
	api_key_config(t, "keydir");
	assert_int_equal(config_load(t->cfg, &t->c, &t->errs), -EINVAL);
	xsnprintf(msg, sizeof(msg), "'api_key_file': secret file '%s' is not "
	    "a regular file", path_in(t, "keydir"));
	assert_true(has_error(t, 5, 21, msg));
}

static void
test_secret_never_in_messages(void **state)
{
	struct t *t = *state;
	char yaml[1024];
	int r;

	/* Every secret problem at once; the secret must appear nowhere. */
	write_file(t, "k1", SECRET "\n", 0644);
	write_file(t, "k2", SECRET "\nsecond line\n", 0600);
	write_file(t, "pw", "\n" SECRET, 0600);
	write_file(t, "tls.key", SECRET, 0666);
	write_file(t, "tls.crt", "cert", 0644);
	xsnprintf(yaml, sizeof(yaml),
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana: {url: \"https://u:" SECRET "@k\", api_key_file: k1}\n"
	    "  - name: b\n"
	    "    kibana: {url: http://k, api_key_file: k2}\n"
	    "  - name: c\n"
	    "    kibana: {url: http://k, username: u, password_file: pw,\n"
	    "             client_cert_file: tls.crt,\n"
	    "             client_key_file: tls.key}\n"
	    "  - name: d\n"
	    "    kibana: {url: http://k, proxy: \"http://" SECRET ":x@p\"}\n");
	r = load(t, yaml);
	assert_int_equal(r, -EINVAL);
	if (t->errs.n != 6)
		dump_errors(t);
	assert_int_equal(t->errs.n, 6);
	assert_no_secret_in_errors(t, SECRET);
	assert_true(has_error(t, 3, 19, "credentials in 'url'"));
	assert_true(has_error(t, 3, 67, "readable by group or others"));
	assert_true(has_error(t, 5, 43, "contains a line break"));
	assert_true(has_error(t, 7, 57, "contains a line break"));
	assert_true(has_error(t, 9, 31, "(mode 0666)"));
	assert_true(has_error(t, 11, 36, "credentials in 'proxy'"));
}

static void
test_auth_combinations(void **state)
{
	struct t *t = *state;

	write_file(t, "key", "k\n", 0600);
	write_file(t, "pw", "p\n", 0600);
	kibana_err(t, "      url: http://k\n      api_key_file: key\n"
	    "      username: u\n      password_file: pw\n", 5, 21,
	    "'api_key_file' cannot be combined with 'username'/"
	    "'password_file'");
	kibana_err(t, "      url: http://k\n      api_key_file: key\n"
	    "      username: u\n", 5, 21, "'api_key_file' cannot be combined");
	kibana_err(t, "      url: http://k\n      username: u\n", 5, 17,
	    "'username' requires 'password_file'");
	kibana_err(t, "      url: http://k\n      password_file: pw\n", 5, 22,
	    "'password_file' requires 'username'");
	kibana_err(t, "      url: http://k\n      username: \"a:b\"\n"
	    "      password_file: pw\n", 5, 17,
	    "'username': must not contain ':' or control characters");
	kibana_err(t, "      url: http://k\n      username: \"a\\rb\"\n"
	    "      password_file: pw\n", 5, 17,
	    "'username': must not contain ':' or control characters");
	/* no credentials at all: no header */
	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k}\n");
	assert_null(t->c->targets[0].kibana.auth_header);
}

/* ---- file name resolution --------------------------------------------- */

static void
test_relative_to_config_dir(void **state)
{
	struct t *t = *state;
	char cwd[PATH_MAX], rel[PATH_MAX];

	assert_int_equal(mkdir(path_in(t, "sub"), 0700), 0);
	write_file(t, "sub/key", "k1\n", 0600);
	write_file(t, "ca.pem", "ca\n", 0644);
	load_ok(t, "targets:\n  - name: a\n    kibana:\n"
	    "      url: https://k\n"
	    "      api_key_file: sub/key\n"
	    "      ca_file: ./ca.pem\n");
	assert_string_equal(t->c->targets[0].kibana.api_key_file,
	    path_in(t, "sub/key"));
	assert_string_equal(t->c->targets[0].kibana.ca_file,
	    path_in(t, "./ca.pem"));
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey k1");

	/* a relative config path still yields absolute file names */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t->dir), 0);
	config_free(t->c);
	t->c = NULL;
	assert_int_equal(config_load("config.yml", &t->c, &t->errs), 0);
	assert_string_equal(t->c->targets[0].kibana.api_key_file,
	    path_in(t, "sub/key"));
	assert_string_equal(t->c->path, "config.yml");
	config_free(t->c);
	t->c = NULL;
	assert_int_equal(chdir("sub"), 0);
	assert_int_equal(config_load("../config.yml", &t->c, &t->errs), 0);
	xsnprintf(rel, sizeof(rel), "%s/sub/../sub/key", t->dir);
	assert_string_equal(t->c->targets[0].kibana.api_key_file, rel);
	assert_int_equal(chdir(cwd), 0);
}

static void
test_credentials_directory(void **state)
{
	struct t *t = *state;
	char creds[PATH_MAX];

	assert_int_equal(mkdir(path_in(t, "creds"), 0700), 0);
	xsnprintf(creds, sizeof(creds), "%s", path_in(t, "creds"));
	write_file(t, "creds/kibana-api-key", "from-creds\n", 0400);
	write_file(t, "kibana-api-key", "from-config-dir\n", 0600);
	write_file(t, "abs-key", "absolute\n", 0600);

	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k, "
	    "api_key_file: kibana-api-key}\n");
	assert_string_equal(t->c->targets[0].kibana.api_key_file,
	    path_in(t, "creds/kibana-api-key"));
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey from-creds");

	/* absolute names ignore it */
	{
		char yaml[PATH_MAX + 128];

		xsnprintf(yaml, sizeof(yaml), "targets:\n  - name: a\n    "
		    "kibana: {url: http://k, api_key_file: %s}\n",
		    path_in(t, "abs-key"));
		load_ok(t, yaml);
		assert_string_equal(t->c->targets[0].kibana.auth_header,
		    "Authorization: ApiKey absolute");
	}

	/* set but empty: the config file's directory */
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k, "
	    "api_key_file: kibana-api-key}\n");
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey from-config-dir");

	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	load_ok(t, "targets:\n  - name: a\n    kibana: {url: http://k, "
	    "api_key_file: kibana-api-key}\n");
	assert_string_equal(t->c->targets[0].kibana.auth_header,
	    "Authorization: ApiKey from-config-dir");
}

/* ---- TLS files -------------------------------------------------------- */

static void
test_tls_files(void **state)
{
	struct t *t = *state;
	char msg[PATH_MAX + 128];

	write_file(t, "ca.pem", "ca", 0644);
	write_file(t, "c.crt", "crt", 0644);
	write_file(t, "c.key", "key", 0600);
	write_file(t, "open.key", "key", 0644);

	load_ok(t, "targets:\n  - name: a\n    kibana:\n      url: https://k\n"
	    "      ca_file: ca.pem\n      client_cert_file: c.crt\n"
	    "      client_key_file: c.key\n");
	assert_string_equal(t->c->targets[0].kibana.ca_file,
	    path_in(t, "ca.pem"));
	assert_null(t->c->targets[0].kibana.auth_header);

	xsnprintf(msg, sizeof(msg), "'ca_file': cannot open '%s': No such "
	    "file or directory", path_in(t, "nope.pem"));
	kibana_err(t, "      url: https://k\n      ca_file: nope.pem\n", 5, 16,
	    msg);
	assert_string_equal(t->errs.v[0].message, msg);
	xsnprintf(msg, sizeof(msg), "'ca_file': '%s/.' is not a regular file",
	    t->dir);
	kibana_err(t, "      url: https://k\n      ca_file: .\n", 5, 16, msg);
	xsnprintf(msg, sizeof(msg), "'client_cert_file': cannot open '%s'",
	    path_in(t, "none.crt"));
	kibana_err(t, "      url: https://k\n      client_cert_file: none.crt\n"
	    "      client_key_file: c.key\n", 5, 25, msg);
	kibana_err(t, "      url: https://k\n      client_cert_file: c.crt\n",
	    5, 25, "'client_cert_file' requires 'client_key_file'");
	kibana_err(t, "      url: https://k\n      client_key_file: c.key\n",
	    5, 24, "'client_key_file' requires 'client_cert_file'");
	xsnprintf(msg, sizeof(msg), "'client_key_file': secret file '%s' is "
	    "readable by group or others (mode 0644); run chmod 600 on it",
	    path_in(t, "open.key"));
	kibana_err(t, "      url: https://k\n      client_cert_file: c.crt\n"
	    "      client_key_file: open.key\n", 6, 24, msg);
	xsnprintf(msg, sizeof(msg), "'client_key_file': secret file '%s' "
	    "cannot be opened", path_in(t, "gone.key"));
	kibana_err(t, "      url: https://k\n      client_cert_file: c.crt\n"
	    "      client_key_file: gone.key\n", 6, 24, msg);
}

/* ---- file-level problems ---------------------------------------------- */

static void
test_missing_file(void **state)
{
	struct t *t = *state;
	struct kcm_config *c = (struct kcm_config *)&c;	/* sentinel */
	char *out = NULL, want[PATH_MAX + 64];
	size_t outlen = 0;
	FILE *f;

	assert_int_equal(config_load(path_in(t, "nope.yml"), &c, &t->errs),
	    -ENOENT);
	assert_ptr_equal(c, (struct kcm_config *)&c);	/* untouched */
	assert_int_equal(t->errs.n, 1);
	assert_int_equal(t->errs.v[0].line, 0);
	assert_int_equal(t->errs.v[0].column, 0);
	assert_string_equal(t->errs.v[0].message,
	    "cannot open: No such file or directory");

	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	config_errors_print(&t->errs, f);
	fclose(f);
	/* no position for an error about the whole file: never FILE:0:0 */
	xsnprintf(want, sizeof(want), "%s: cannot open: No such file or "
	    "directory\n", path_in(t, "nope.yml"));
	assert_string_equal(out, want);
	free(out);

	/* errs may be NULL */
	assert_int_equal(config_load(path_in(t, "nope.yml"), &c, NULL),
	    -ENOENT);
}

/* ---- files that are not regular files --------------------------------- */

/*
 * A FIFO, a directory or a device named by the configuration is refused
 * with an error naming it.  Opening a FIFO that has no writer would block
 * forever without O_NONBLOCK, so each test arms alarm(): a regression fails
 * (SIGALRM) instead of hanging.
 */

static void
test_config_file_not_regular(void **state)
{
	struct t *t = *state;
	struct kcm_config *c;
	char fifo[PATH_MAX], dir[PATH_MAX];
	const char *paths[] = { fifo, dir, "/dev/null" };
	size_t i;
	int r;

	alarm(10);
	xsnprintf(fifo, sizeof(fifo), "%s", path_in(t, "fifo.yml"));
	xsnprintf(dir, sizeof(dir), "%s", path_in(t, "dir.yml"));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (i = 0; i < ELEMENTSOF(paths); i++) {
		c = (struct kcm_config *)&c;	/* sentinel */
		config_errors_free(&t->errs);
		r = config_load(paths[i], &c, &t->errs);
		if (t->errs.n != 1)
			dump_errors(t);
		assert_true(r == -EBADFD || r == -EISDIR);
		assert_ptr_equal(c, (struct kcm_config *)&c);	/* untouched */
		assert_int_equal(t->errs.n, 1);
		assert_string_equal(t->errs.v[0].file, paths[i]);
		assert_int_equal(t->errs.v[0].line, 0);
		assert_int_equal(t->errs.v[0].column, 0);
		assert_string_equal(t->errs.v[0].message, "not a regular file");
	}
	alarm(0);
}

static void
test_secret_files_not_regular(void **state)
{
	struct t *t = *state;
	char fifo[PATH_MAX], msg[PATH_MAX + 128], yaml[PATH_MAX + 256];

	alarm(10);
	xsnprintf(fifo, sizeof(fifo), "%s", path_in(t, "key.fifo"));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	write_file(t, "c.crt", "crt", 0644);

	xsnprintf(msg, sizeof(msg), "'api_key_file': secret file '%s' is not "
	    "a regular file", fifo);
	kibana_err(t, "      url: https://k\n      api_key_file: key.fifo\n",
	    5, 21, msg);
	xsnprintf(msg, sizeof(msg), "'password_file': secret file '%s' is not "
	    "a regular file", fifo);
	kibana_err(t, "      url: https://k\n      username: u\n"
	    "      password_file: key.fifo\n", 6, 22, msg);
	xsnprintf(msg, sizeof(msg), "'client_key_file': secret file '%s' is "
	    "not a regular file", fifo);
	kibana_err(t, "      url: https://k\n      client_cert_file: c.crt\n"
	    "      client_key_file: key.fifo\n", 6, 24, msg);
	/* the same for elasticsearch: */
	xsnprintf(yaml, sizeof(yaml),
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana: {url: 'http://k'}\n"
	    "    elasticsearch:\n"
	    "      url: http://es\n"
	    "      api_key_file: %s\n", fifo);
	xsnprintf(msg, sizeof(msg), "'api_key_file': secret file '%s' is not "
	    "a regular file", fifo);
	load_err(t, yaml, 6, 21, msg);
	/* a character device */
	kibana_err(t, "      url: https://k\n      api_key_file: /dev/null\n",
	    5, 21, "'api_key_file': secret file '/dev/null' is not a regular "
	    "file");
	alarm(0);
}

static void
test_tls_files_not_regular(void **state)
{
	struct t *t = *state;
	char fifo[PATH_MAX], msg[PATH_MAX + 128];

	alarm(10);
	xsnprintf(fifo, sizeof(fifo), "%s", path_in(t, "ca.fifo"));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	write_file(t, "c.key", "key", 0600);

	xsnprintf(msg, sizeof(msg), "'ca_file': '%s' is not a regular file",
	    fifo);
	kibana_err(t, "      url: https://k\n      ca_file: ca.fifo\n", 5, 16,
	    msg);
	xsnprintf(msg, sizeof(msg), "'client_cert_file': '%s' is not a "
	    "regular file", fifo);
	kibana_err(t, "      url: https://k\n      client_cert_file: ca.fifo\n"
	    "      client_key_file: c.key\n", 5, 25, msg);
	kibana_err(t, "      url: https://k\n      ca_file: /dev/null\n", 5, 16,
	    "'ca_file': '/dev/null' is not a regular file");
	kibana_err(t, "      url: https://k\n      ca_file: /\n", 5, 16,
	    "'ca_file': '/' is not a regular file");
	alarm(0);
}

static void
test_empty_and_non_mapping(void **state)
{
	struct t *t = *state;

	load_err(t, "", 1, 1, "the file is empty");
	load_err(t, "# only a comment\n\n", 1, 1, "the file is empty");
	load_err(t, "---\n", 2, 1, "the top level must be a mapping of "
	    "settings (key: value), got nothing");
	load_err(t, "- a\n- b\n", 1, 1, "the top level must be a mapping of "
	    "settings (key: value), got a list");
	load_err(t, "just text\n", 1, 1, "got a scalar");
	load_err(t, "log_level: info\n---\nlog_level: debug\n", 2, 1,
	    "multiple YAML documents are not supported");
}

static void
test_yaml_syntax_errors(void **state)
{
	struct t *t = *state;
	char path[PATH_MAX];
	int r;

	load_err(t, "log_level: info\n  listen: x\n", 2, 9,
	    "YAML syntax error: mapping values are not allowed in this "
	    "context");
	load_err(t,
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: http://k\n"
	    "     timeout: 5s\n", 5, 6,
	    "YAML syntax error: did not find expected key (while parsing a "
	    "block mapping at line 2, column 5)");
	load_err(t, "targets:\n\t- name: a\n", 2, 1,
	    "found character that cannot start any token");
	load_err(t, "log_level: \"info\n", 2, 1,
	    "found unexpected end of stream (while scanning a quoted scalar "
	    "at line 1, column 12)");
	load_err(t, "log_level: info\n\xff\n", 2, 1,
	    "YAML syntax error: invalid leading UTF-8 octet");
	load_err(t, "targets:\n  - &t {name: a, kibana: {url: http://k}}\n"
	    "  - *t\n", 2, 5, "YAML anchors and aliases are not supported");

	/* the checked-in fixture */
	source_root_file("tests/unit/data/config/syntax-error.yml", path,
	    sizeof(path));
	config_errors_free(&t->errs);
	r = config_load(path, &t->c, &t->errs);
	if (r != -EINVAL)
		dump_errors(t);
	assert_int_equal(r, -EINVAL);
	assert_int_equal(t->errs.n, 1);
	assert_int_equal(t->errs.v[0].line, 6);
	assert_int_equal(t->errs.v[0].column, 1);
	assert_non_null(strstr(t->errs.v[0].message,
	    "did not find expected ',' or '}' (while parsing a flow mapping at "
	    "line 5, column 13)"));
}

static void
test_deep_nesting(void **state)
{
	struct t *t = *state;
	char open[41], close[41], doc[128];

	memset(open, '[', 40);
	open[40] = '\0';
	memset(close, ']', 40);
	close[40] = '\0';
	xsnprintf(doc, sizeof(doc), "listen: %sx%s\n", open, close);
	/* the root mapping is level 0; the 32nd list starts at column 40 */
	load_err(t, doc, 1, 40, "nested deeper than 32 levels");
}

static void
test_multiple_errors(void **state)
{
	struct t *t = *state;
	int r;

	r = load(t,
	    "log_level: loud\n"
	    "targets:\n"
	    "  - name: a\n"
	    "    kibana:\n"
	    "      url: ftp://k\n"
	    "      timout: 5s\n"
	    "      timeout: ten\n"
	    "    spaces: [Bad]\n"
	    "  - name: a\n"
	    "    kibana: {url: http://k}\n"
	    "    foo: 1\n"
	    "bar: 2\n");
	assert_int_equal(r, -EINVAL);
	if (t->errs.n != 8)
		dump_errors(t);
	assert_int_equal(t->errs.n, 8);
	/* in the order of the file */
	assert_int_equal(t->errs.v[0].line, 1);
	assert_int_equal(t->errs.v[0].column, 12);
	assert_string_equal(t->errs.v[0].message,
	    "'log_level': invalid level 'loud' (use debug, info, warning or "
	    "error)");
	assert_int_equal(t->errs.v[1].line, 5);
	assert_int_equal(t->errs.v[1].column, 12);
	assert_int_equal(t->errs.v[2].line, 6);
	assert_int_equal(t->errs.v[2].column, 7);
	assert_string_equal(t->errs.v[2].message,
	    "unknown key 'timout' in 'targets[0].kibana'");
	assert_int_equal(t->errs.v[3].line, 7);
	assert_int_equal(t->errs.v[3].column, 16);
	assert_string_equal(t->errs.v[3].message,
	    "'timeout': invalid duration 'ten' (use e.g. 30s, 5m, 1h)");
	assert_int_equal(t->errs.v[4].line, 8);
	assert_int_equal(t->errs.v[4].column, 14);
	assert_int_equal(t->errs.v[5].line, 9);
	assert_int_equal(t->errs.v[5].column, 11);
	assert_string_equal(t->errs.v[5].message,
	    "duplicate target name 'a' (first defined at line 3)");
	assert_int_equal(t->errs.v[6].line, 11);
	assert_int_equal(t->errs.v[6].column, 5);
	assert_int_equal(t->errs.v[7].line, 12);
	assert_int_equal(t->errs.v[7].column, 1);
	assert_string_equal(t->errs.v[7].message,
	    "unknown key 'bar' at the top level");
}

static void
test_errors_appended(void **state)
{
	struct t *t = *state;
	struct kcm_config *c = NULL;

	write_file(t, "config.yml", "a: 1\n", 0644);
	assert_int_equal(config_load(t->cfg, &c, &t->errs), -EINVAL);
	assert_int_equal(config_load(t->cfg, &c, &t->errs), -EINVAL);
	assert_null(c);
	assert_int_equal(t->errs.n, 2);
	assert_string_equal(t->errs.v[1].message,
	    "unknown key 'a' at the top level");
	/* unknown key names are shown safely */
	load_err(t, "\"a\\tb\": 1\n", 1, 1, "unknown key 'a?b'");
}

/*
 * Values in messages are cut after 200 bytes, before a character and not
 * inside one: the message stays valid UTF-8 (fuzz_config checks it).
 */
static void
test_long_values_cut(void **state)
{
	struct t *t = *state;
	char yaml[512], want[512];

	memset(yaml, 'a', 199);
	xsnprintf(yaml + 199, sizeof(yaml) - 199, "\xc3\xa9: 1\n");
	memset(want, 'a', 199);
	xsnprintf(want + 199, sizeof(want) - 199, "...' at the top level");
	load_err(t, yaml, 1, 1, want);

	memset(yaml, 'a', 200);
	xsnprintf(yaml + 200, sizeof(yaml) - 200, "\xc3\xa9: 1\n");
	memset(want, 'a', 200);
	xsnprintf(want + 200, sizeof(want) - 200, "...' at the top level");
	load_err(t, yaml, 1, 1, want);

	memset(yaml, 'a', 198);
	xsnprintf(yaml + 198, sizeof(yaml) - 198, "\xc3\xa9: 1\n");
	memset(want, 'a', 198);
	xsnprintf(want + 198, sizeof(want) - 198, "\xc3\xa9' at the top level");
	load_err(t, yaml, 1, 1, want);
}

/* ---- the checked-in data files ---------------------------------------- */

/*
 * tests/unit/data/config/ doubles as the seed corpus of fuzz/fuzz_config.c:
 * every ok-*.yml loads, every other file fails with errors at positions in
 * the file (relative file names resolve against that directory, where no
 * secret file exists).
 */
static void
test_data_files(void **state)
{
	struct t *t = *state;
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent **ents;
	const char *name;
	size_t k;
	int i, n, r, nfiles = 0;

	source_root_file("tests/unit/data/config", dir, sizeof(dir));
	n = scandir(dir, &ents, NULL, alphasort);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		name = ents[i]->d_name;
		if (name[0] != '.') {
			xsnprintf(path, sizeof(path), "%s/%s", dir, name);
			config_free(t->c);
			t->c = NULL;
			config_errors_free(&t->errs);
			r = config_load(path, &t->c, &t->errs);
			fprintf(stderr, "%s: %d, %zu error(s)\n", name, r,
			    t->errs.n);
			if (strncmp(name, "ok-", 3) == 0) {
				if (r != 0)
					dump_errors(t);
				assert_int_equal(r, 0);
			} else {
				assert_int_equal(r, -EINVAL);
				assert_true(t->errs.n > 0);
			}
			for (k = 0; k < t->errs.n; k++)
				assert_true(t->errs.v[k].line > 0);
			nfiles++;
		}
		free(ents[i]);
	}
	free(ents);
	assert_true(nfiles >= 3);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_full_config_api_key),
		T(test_basic_auth),
		T(test_defaults_when_omitted),
		T(test_default_target_when_targets_absent),
		T(test_config_default),
		T(test_example_config_loads),
		T(test_log_levels),
		T(test_log_targets),
		T(test_url_normalized),
		T(test_proxy_schemes),
		T(test_unknown_keys),
		T(test_duplicate_keys),
		T(test_wrong_types),
		T(test_booleans),
		T(test_bad_durations),
		T(test_out_of_range),
		T(test_bad_urls),
		T(test_url_userinfo_never_echoed),
		T(test_duplicate_target_names),
		T(test_target_names),
		T(test_missing_required_keys),
		T(test_spaces),
		T(test_listen_variants),
		T(test_listen_errors),
		T(test_secret_permissions),
		T(test_secret_content),
		T(test_secret_file_problems),
		T(test_secret_never_in_messages),
		T(test_auth_combinations),
		T(test_relative_to_config_dir),
		T(test_credentials_directory),
		T(test_tls_files),
		T(test_missing_file),
		T(test_config_file_not_regular),
		T(test_secret_files_not_regular),
		T(test_tls_files_not_regular),
		T(test_empty_and_non_mapping),
		T(test_yaml_syntax_errors),
		T(test_deep_nesting),
		T(test_multiple_errors),
		T(test_errors_appended),
		T(test_long_values_cut),
		T(test_data_files),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
