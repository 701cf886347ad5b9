/*
 * test_config_eventlog.c: the per-target `elasticsearch:` and `event_log:`
 * blocks: defaults, every key, errors at file:line:column, secret files.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "util.h"

#include "config_fixture.h"


static void
test_absent_means_no_event_log(void **state)
{
	struct t *t = *state;

	load_ok(t, ONE_TARGET);
	assert_null(t->c->targets[0].elasticsearch.url);
	/* event_log defaults are filled in all the same */
	assert_null(t->c->targets[0].event_log.index);
	assert_true(t->c->targets[0].event_log.interval_usec == 60 * USEC_PER_SEC);
	assert_true(t->c->targets[0].event_log.lookback_usec == 900 * USEC_PER_SEC);
	assert_true(t->c->targets[0].event_log.settle_delay_usec == 30 * USEC_PER_SEC);
}

static void
test_builtin_default_reads_local_es(void **state)
{
	struct kcm_config *c = NULL;

	(void)state;
	assert_int_equal(config_default(&c), 0);
	assert_int_equal(c->ntargets, 1);
	assert_string_equal(c->targets[0].elasticsearch.url, "http://localhost:9200");
	assert_string_equal(c->targets[0].kibana.url, "http://localhost:5601");
	config_free(c);
}

static void
test_full_blocks(void **state)
{
	struct t *t = *state;
	const struct target_config *tc;

	load_ok(t, ONE_TARGET
	    "    elasticsearch:\n"
	    "      url: https://es.example.com:9200/\n"
	    "      timeout: 20s\n"
	    "      max_response_bytes: 2MiB\n"
	    "      insecure_skip_verify: true\n"
	    "    event_log:\n"
	    "      index: \".kibana-event-log-ds\"\n"
	    "      interval: 2m\n"
	    "      lookback: 1h\n"
	    "      settle_delay: 45s\n");
	tc = &t->c->targets[0];
	assert_string_equal(tc->elasticsearch.url, "https://es.example.com:9200");
	assert_true(tc->elasticsearch.timeout_usec == 20 * USEC_PER_SEC);
	assert_true(tc->elasticsearch.max_response_bytes == 2 * 1024 * 1024);
	assert_true(tc->elasticsearch.insecure_skip_verify);
	assert_null(tc->elasticsearch.auth_header);
	assert_string_equal(tc->event_log.index, ".kibana-event-log-ds");
	assert_true(tc->event_log.interval_usec == 120 * USEC_PER_SEC);
	assert_true(tc->event_log.lookback_usec == 3600 * USEC_PER_SEC);
	assert_true(tc->event_log.settle_delay_usec == 45 * USEC_PER_SEC);
	/* the Kibana endpoint keeps its own defaults */
	assert_true(tc->kibana.timeout_usec == 10 * USEC_PER_SEC);
}

static void
test_unknown_keys(void **state)
{
	struct t *t = *state;

	load_err_like(t, ONE_TARGET
	    "    elasticsearch:\n"
	    "      url: http://127.0.0.1:9200\n"
	    "      timout: 5s\n", 6, 7, "timout");
	load_err_like(t, ONE_TARGET
	    "    elasticsearch: {url: 'http://127.0.0.1:9200'}\n"
	    "    event_log:\n"
	    "      lookbak: 5m\n", 6, 7, "lookbak");
}

/* issue 9: where the window is kept, and how long idle series stay. */
static void
test_state_directory_and_retention(void **state)
{
	struct t *t = *state;
	char want[PATH_MAX + 16], *slash;

	load_ok(t, ONE_TARGET);
	assert_null(t->c->state_directory);	/* $STATE_DIRECTORY then */
	assert_true(t->c->targets[0].event_log.series_retention_usec ==
	    24 * 3600 * USEC_PER_SEC);
	load_ok(t, "state_directory: state\n" ONE_TARGET
	    "    event_log:\n"
	    "      series_retention: 2h\n");
	/* relative to the configuration file's folder */
	snprintf(want, sizeof(want), "%s", t->path);
	slash = strrchr(want, '/');
	assert_non_null(slash);
	snprintf(slash + 1, sizeof(want) - (size_t)(slash + 1 - want), "state");
	assert_string_equal(t->c->state_directory, want);
	assert_true(t->c->targets[0].event_log.series_retention_usec ==
	    2 * 3600 * USEC_PER_SEC);
	load_err_like(t, ONE_TARGET
	    "    event_log:\n"
	    "      series_retention: 10s\n", 5, 25, "series_retention");
	load_err_like(t, "state_directory: [a]\n" ONE_TARGET, 1, 18,
	    "state_directory");
}

static void
test_bad_values(void **state)
{
	struct t *t = *state;

	load_err_like(t, ONE_TARGET
	    "    elasticsearch: {url: 'http://127.0.0.1:9200'}\n"
	    "    event_log:\n"
	    "      interval: often\n", 6, 17, "interval");
	load_err_like(t, ONE_TARGET
	    "    elasticsearch: {url: 'http://127.0.0.1:9200'}\n"
	    "    event_log:\n"
	    "      settle_delay: 30\n", 6, 21, "settle_delay");
	load_err_like(t, ONE_TARGET
	    "    elasticsearch:\n"
	    "      url: ftp://127.0.0.1:9200\n", 5, 12, "url");
	load_err_like(t, ONE_TARGET
	    "    elasticsearch: [http://127.0.0.1:9200]\n", 4, 20, "elasticsearch");
}

static void
test_secret_file_permissions(void **state)
{
	struct t *t = *state;
	char key[PATH_MAX + 32], text[2 * PATH_MAX];
	FILE *f;

	snprintf(key, sizeof(key), "%s.key", t->path);
	f = fopen(key, "w");
	assert_non_null(f);
	fputs("c2VjcmV0LWlkOnNlY3JldC1rZXk=\n", f);
	fclose(f);
	snprintf(text, sizeof(text), ONE_TARGET
	    "    elasticsearch:\n"
	    "      url: http://127.0.0.1:9200\n"
	    "      api_key_file: %s\n", key);

	assert_int_equal(chmod(key, 0644), 0);
	load(t, text);
	assert_int_equal(t->r, -EINVAL);
	assert_int_equal(t->errs.n, 1);
	assert_int_equal(t->errs.v[0].line, 6);
	assert_non_null(strstr(t->errs.v[0].message, "readable by group or others"));
	assert_null(strstr(t->errs.v[0].message, "c2VjcmV0"));

	assert_int_equal(chmod(key, 0600), 0);
	load_ok(t, text);
	assert_string_equal(t->c->targets[0].elasticsearch.auth_header,
	    "Authorization: ApiKey c2VjcmV0LWlkOnNlY3JldC1rZXk=");
	unlink(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_absent_means_no_event_log, setup, teardown),
		cmocka_unit_test(test_builtin_default_reads_local_es),
		cmocka_unit_test_setup_teardown(test_full_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_directory_and_retention,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_file_permissions, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
