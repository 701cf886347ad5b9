/*
 * config_fixture.h: a temporary configuration file for the cmocka tests of
 * config.c, loaded with config_load(); shared by the test files of the
 * configuration's sections.  Include after <cmocka.h>, "config.h", "util.h".
 */
#ifndef KCM_TEST_CONFIG_FIXTURE_H
#define KCM_TEST_CONFIG_FIXTURE_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ONE_TARGET \
	"targets:\n" \
	"  - name: only\n" \
	"    kibana: {url: 'http://127.0.0.1:9'}\n"

struct t {
	char	 path[PATH_MAX];
	struct kcm_config *c;
	struct config_errors errs;
	int	 r;
};

static inline int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct t *t;
	int fd;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	snprintf(t->path, sizeof(t->path), "%s/test_config.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	fd = mkstemp(t->path);
	assert_true(fd >= 0);
	close(fd);
	*state = t;
	return 0;
}

static inline int
teardown(void **state)
{
	struct t *t = *state;

	config_free(t->c);
	config_errors_free(&t->errs);
	unlink(t->path);
	free(t);
	return 0;
}

static inline void
load(struct t *t, const char *text)
{
	FILE *f = fopen(t->path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	config_free(t->c);
	t->c = NULL;
	config_errors_free(&t->errs);
	t->r = config_load(t->path, &t->c, &t->errs);
}

/* The configuration loads, and its only error list is empty. */
static inline void
load_ok(struct t *t, const char *text)
{
	load(t, text);
	if (t->r != 0)
		config_errors_print(&t->errs, stderr);
	assert_int_equal(t->r, 0);
	assert_non_null(t->c);
}

/* Exactly one error, "LINE:COLUMN: message". */
static inline void
load_err(struct t *t, const char *text, unsigned line, unsigned column,
    const char *message)
{
	load(t, text);
	if (t->errs.n != 1)
		config_errors_print(&t->errs, stderr);
	assert_int_equal(t->r, -EINVAL);
	assert_null(t->c);
	assert_int_equal(t->errs.n, 1);
	assert_int_equal(t->errs.v[0].line, line);
	assert_int_equal(t->errs.v[0].column, column);
	assert_string_equal(t->errs.v[0].message, message);
}

/* Exactly one error at LINE:COLUMN whose message contains `needle`. */
static inline void
load_err_like(struct t *t, const char *text, unsigned line, unsigned column,
    const char *needle)
{
	load(t, text);
	if (t->errs.n != 1)
		config_errors_print(&t->errs, stderr);
	assert_int_equal(t->r, -EINVAL);
	assert_null(t->c);
	assert_int_equal(t->errs.n, 1);
	assert_int_equal(t->errs.v[0].line, line);
	assert_int_equal(t->errs.v[0].column, column);
	assert_non_null(strstr(t->errs.v[0].message, needle));
}

#endif /* KCM_TEST_CONFIG_FIXTURE_H */
