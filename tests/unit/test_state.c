/*
 * Unit tests for state.c: window ends saved and read back, keyed by target
 * and URL, and every unusable file refused with a message naming it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "state.h"

#define URL1 "http://es:9200/.kibana-event-log-*/_search"
#define URL2 "http://es:9200/.kibana-event-log-other/_search"

static char dir[] = "/tmp/kcm-state-XXXXXX";

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/kcm-state-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The path of the one state file in dir (the test wrote exactly one). */
static void
only_file(char *buf, size_t size)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(buf, size, "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
}

static void
test_round_trip(void **state)
{
	char err[512] = "";
	int64_t end = 0;

	(void)state;
	assert_int_equal(state_load_window(dir, "kib", URL1, &end, err,
	    sizeof(err)), -ENOENT);
	assert_int_equal(state_save_window(dir, "kib", URL1, 1764000000123,
	    err, sizeof(err)), 0);
	assert_int_equal(state_load_window(dir, "kib", URL1, &end, err,
	    sizeof(err)), 0);
	assert_true(end == 1764000000123);
	/* overwrite in place */
	assert_int_equal(state_save_window(dir, "kib", URL1, 1764000060000,
	    err, sizeof(err)), 0);
	assert_int_equal(state_load_window(dir, "kib", URL1, &end, err,
	    sizeof(err)), 0);
	assert_true(end == 1764000060000);
	/* another index or target is another window */
	assert_int_equal(state_load_window(dir, "kib", URL2, &end, err,
	    sizeof(err)), -ENOENT);
	assert_int_equal(state_load_window(dir, "other", URL1, &end, err,
	    sizeof(err)), -ENOENT);
}

static void
write_only_file(const char *text)
{
	char path[600];
	FILE *f;

	only_file(path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_bad_files(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"version\":2,\"target\":\"kib\",\"url\":\"" URL1 "\",\"window_end_ms\":1}",
		"{\"version\":1,\"target\":\"kib\",\"url\":\"" URL2 "\",\"window_end_ms\":1}",
		"{\"version\":1,\"target\":\"x\",\"url\":\"" URL1 "\",\"window_end_ms\":1}",
		"{\"version\":1,\"target\":\"kib\",\"url\":\"" URL1 "\",\"window_end_ms\":-5}",
		"{\"version\":1,\"target\":\"kib\",\"url\":\"" URL1 "\",\"window_end_ms\":1.5}",
		"{\"version\":1,\"target\":\"kib\",\"url\":\"" URL1 "\"}",
	};
	char err[512], path[600];
	int64_t end = 42;
	size_t i;

	(void)state;
	assert_int_equal(state_save_window(dir, "kib", URL1, 1000, err,
	    sizeof(err)), 0);
	only_file(path, sizeof(path));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_only_file(bad[i]);
		err[0] = '\0';
		assert_true(state_load_window(dir, "kib", URL1, &end, err,
		    sizeof(err)) < 0);
		assert_true(end == 42);			/* untouched */
		assert_non_null(strstr(err, path));	/* names the file */
	}
	/* a FIFO in its place is refused at once, not waited on */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_int_equal(state_load_window(dir, "kib", URL1, &end, err,
	    sizeof(err)), -EINVAL);
	alarm(0);
	assert_non_null(strstr(err, "not a regular file"));
	/* saving replaces it with a file again */
	assert_int_equal(state_save_window(dir, "kib", URL1, 2000, err,
	    sizeof(err)), 0);
	assert_int_equal(state_load_window(dir, "kib", URL1, &end, err,
	    sizeof(err)), 0);
	assert_true(end == 2000);
}

static void
test_unwritable(void **state)
{
	char err[512] = "";

	(void)state;
	assert_true(state_save_window("/nonexistent/kcm", "kib", URL1, 1, err,
	    sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/kcm/"));
}

static void
test_directory(void **state)
{
	(void)state;
	unsetenv("STATE_DIRECTORY");
	assert_null(state_directory(NULL));
	assert_string_equal(state_directory("/x"), "/x");
	setenv("STATE_DIRECTORY", "/var/lib/a:/var/lib/b", 1);
	assert_string_equal(state_directory(NULL), "/var/lib/a");
	assert_string_equal(state_directory("/x"), "/x");
	setenv("STATE_DIRECTORY", "", 1);
	assert_null(state_directory(NULL));
	unsetenv("STATE_DIRECTORY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test(test_unwritable),
		cmocka_unit_test(test_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
