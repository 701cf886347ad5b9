/* Unit tests for log.c: logfmt escaping keeps hostile strings on one line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "log.h"

static char *
esc(const char *s, size_t len)
{
	struct strbuf sb;

	strbuf_init(&sb);
	log_escape_value(&sb, s, len);
	return strbuf_steal(&sb);
}

#define ASSERT_ESC(in, len, expect) do {			\
	char *_s = esc(in, len);				\
	assert_string_equal(_s, expect);			\
	free(_s);						\
} while (0)

static void
test_escape(void **state)
{
	(void)state;
	ASSERT_ESC("plain", 5, "plain");
	ASSERT_ESC("/s/ops/api/actions/connectors", 29, "/s/ops/api/actions/connectors");
	ASSERT_ESC("", 0, "\"\"");
	ASSERT_ESC("two words", 9, "\"two words\"");
	ASSERT_ESC("a=b", 3, "\"a=b\"");
	ASSERT_ESC("say \"hi\"", 8, "\"say \\\"hi\\\"\"");
	ASSERT_ESC("back\\slash", 10, "\"back\\\\slash\"");
	ASSERT_ESC("line1\nlevel=error msg=forged", 28,
	    "\"line1\\nlevel=error msg=forged\"");
	ASSERT_ESC("cr\rtab\t", 7, "\"cr\\rtab\\t\"");
	ASSERT_ESC("nul\0x", 5, "\"nul\\x00x\"");
	ASSERT_ESC("esc\x1b[31m", 8, "\"esc\\x1b[31m\"");
	ASSERT_ESC("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");		/* valid UTF-8 kept */
	ASSERT_ESC("bad\xff\xc3", 5, "\"bad\\xff\\xc3\"");	/* invalid escaped */
	ASSERT_ESC("\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\"");	/* surrogate */
	ASSERT_ESC("\xc0\xaf", 2, "\"\\xc0\\xaf\"");		/* overlong */
}

static void
test_levels(void **state)
{
	(void)state;
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("info"), LOG_INFO);
	assert_int_equal(log_level_from_string("warning"), LOG_WARNING);
	assert_int_equal(log_level_from_string("error"), LOG_ERR);
	assert_int_equal(log_level_from_string("verbose"), -EINVAL);
	assert_string_equal(log_level_to_string(LOG_WARNING), "warning");
}

/* A whole record with a hostile field stays one line on stderr. */
static void
test_record_one_line(void **state)
{
	struct log_field f[] = {
		{ "TARGET", "prod" },
		{ "CONNECTOR_NAME", "evil\nlevel=error msg=\"forged\"" },
		{ "SKIPPED", NULL },
	};
	char buf[4096];
	int fds[2], saved;
	ssize_t n;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	log_set_level(LOG_INFO);
	log_struct(LOG_WARNING, "0123456789abcdef0123456789abcdef", f, 3,
	    "connector '%s' failed", "a\nb");
	log_struct(LOG_DEBUG, NULL, NULL, 0, "filtered out");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	/* exactly one newline, at the end */
	assert_non_null(strchr(buf, '\n'));
	assert_true(strchr(buf, '\n') == buf + n - 1);
	assert_non_null(strstr(buf, " level=warning msg=\"connector 'a\\nb' failed\""));
	assert_non_null(strstr(buf, " target=prod "));
	assert_non_null(strstr(buf,
	    " connector_name=\"evil\\nlevel=error msg=\\\"forged\\\"\""));
	assert_null(strstr(buf, "skipped"));
	assert_non_null(strstr(buf, " message_id=0123456789abcdef0123456789abcdef\n"));
	assert_null(strstr(buf, "filtered out"));
}

/* log_target: names, and auto = journal only when JOURNAL_STREAM is stderr. */
static void
test_targets(void **state)
{
	struct stat st;
	char buf[64];

	(void)state;
	assert_int_equal(log_target_from_string("auto"), LOG_TARGET_AUTO);
	assert_int_equal(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
	assert_int_equal(log_target_from_string("stderr"), LOG_TARGET_STDERR);
	assert_int_equal(log_target_from_string("syslog"), -EINVAL);
	assert_int_equal(log_target_from_string(""), -EINVAL);
	assert_string_equal(log_target_to_string(LOG_TARGET_JOURNAL), "journal");
	assert_int_equal(log_set_target(42), -EINVAL);

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	unsetenv("JOURNAL_STREAM");
	assert_int_equal(log_set_target(LOG_TARGET_AUTO), 0);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	snprintf(buf, sizeof(buf), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", buf, 1);
	assert_int_equal(log_set_target(LOG_TARGET_AUTO), 0);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	snprintf(buf, sizeof(buf), "%llu:%llux", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", buf, 1);
	assert_int_equal(log_set_target(LOG_TARGET_AUTO), 0);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	snprintf(buf, sizeof(buf), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", buf, 1);
	assert_int_equal(log_set_target(LOG_TARGET_AUTO), 0);
	assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);
	unsetenv("JOURNAL_STREAM");
	assert_int_equal(log_set_target(LOG_TARGET_STDERR), 0);
	assert_int_equal(log_dropped(), 0);
	log_fini(0);		/* no writer thread was started: a no-op */
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_record_one_line),
		cmocka_unit_test(test_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
