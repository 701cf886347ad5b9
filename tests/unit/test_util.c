/* Unit tests for util.c: parsers, strbuf, base64. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "util.h"

static void
test_duration(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_duration("30s", &v), 0);
	assert_true(v == 30 * USEC_PER_SEC);
	assert_int_equal(parse_duration("5m", &v), 0);
	assert_true(v == 300 * USEC_PER_SEC);
	assert_int_equal(parse_duration("1h", &v), 0);
	assert_true(v == 3600 * USEC_PER_SEC);
	assert_int_equal(parse_duration("1h30m", &v), 0);
	assert_true(v == 5400 * USEC_PER_SEC);
	assert_int_equal(parse_duration("250ms", &v), 0);
	assert_true(v == 250 * USEC_PER_MSEC);
	assert_int_equal(parse_duration("2d", &v), 0);
	assert_true(v == 2 * 86400 * USEC_PER_SEC);
	assert_int_equal(parse_duration("0s", &v), 0);
	assert_true(v == 0);

	v = 42;
	assert_int_equal(parse_duration("", &v), -EINVAL);
	assert_int_equal(parse_duration("10", &v), -EINVAL);
	assert_int_equal(parse_duration("ten", &v), -EINVAL);
	assert_int_equal(parse_duration("-5s", &v), -EINVAL);
	assert_int_equal(parse_duration("5x", &v), -EINVAL);
	assert_int_equal(parse_duration("5 s", &v), -EINVAL);
	assert_int_equal(parse_duration("s", &v), -EINVAL);
	assert_int_equal(parse_duration("1.5s", &v), -EINVAL);
	assert_int_equal(parse_duration("99999999999999999999s", &v), -ERANGE);
	assert_int_equal(parse_duration("999999999999999d", &v), -ERANGE);
	assert_true(v == 42);	/* untouched on failure */
}

static void
test_format_duration(void **state)
{
	char buf[32];

	(void)state;
	format_duration(30 * USEC_PER_SEC, buf, sizeof(buf));
	assert_string_equal(buf, "30s");
	format_duration(300 * USEC_PER_SEC, buf, sizeof(buf));
	assert_string_equal(buf, "5m");
	format_duration(3600 * USEC_PER_SEC, buf, sizeof(buf));
	assert_string_equal(buf, "1h");
	format_duration(5400 * USEC_PER_SEC, buf, sizeof(buf));
	assert_string_equal(buf, "1h30m");
	format_duration(250 * USEC_PER_MSEC, buf, sizeof(buf));
	assert_string_equal(buf, "250ms");
	format_duration(90 * USEC_PER_SEC, buf, sizeof(buf));
	assert_string_equal(buf, "90s");
}

static void
test_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("64MiB", &v), 0);
	assert_true(v == 64 * 1024 * 1024);
	assert_int_equal(parse_size("10MB", &v), 0);
	assert_true(v == 10000000);
	assert_int_equal(parse_size("512KiB", &v), 0);
	assert_true(v == 512 * 1024);
	assert_int_equal(parse_size("1GiB", &v), 0);
	assert_true(v == UINT64_C(1024) * 1024 * 1024);
	assert_int_equal(parse_size("1000", &v), 0);
	assert_true(v == 1000);
	assert_int_equal(parse_size("100B", &v), 0);
	assert_true(v == 100);
	assert_int_equal(parse_size("2kB", &v), 0);
	assert_true(v == 2000);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("MiB", &v), -EINVAL);
	assert_int_equal(parse_size("5XB", &v), -EINVAL);
	assert_int_equal(parse_size("-1", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999GiB", &v), -ERANGE);
}

static void
test_uint64(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_uint64("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(parse_uint64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_uint64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(parse_uint64("+1", &v), -EINVAL);
	assert_int_equal(parse_uint64(" 1", &v), -EINVAL);
	assert_int_equal(parse_uint64("", &v), -EINVAL);
}

static void
test_sat_add(void **state)
{
	(void)state;
	assert_true(sat_add_u64(0, 0) == 0);
	assert_true(sat_add_u64(2, 3) == 5);
	assert_true(sat_add_u64(UINT64_MAX - 1, 1) == UINT64_MAX);
	assert_true(sat_add_u64(UINT64_MAX - 1, 2) == UINT64_MAX);
	assert_true(sat_add_u64(1, UINT64_MAX) == UINT64_MAX);
	assert_true(sat_add_u64(UINT64_MAX, UINT64_MAX) == UINT64_MAX);
	assert_true(sat_add_u64(UINT64_C(1) << 63, UINT64_C(1) << 63) ==
	    UINT64_MAX);
	assert_true(sat_add_u64(INT64_MAX, INT64_MAX) == UINT64_MAX - 1);
}

static void
test_strbuf(void **state)
{
	struct strbuf sb;
	char *s;
	int i;

	(void)state;
	strbuf_init(&sb);
	assert_string_equal(strbuf_str(&sb), "");
	for (i = 0; i < 1000; i++)
		strbuf_printf(&sb, "%d,", i);
	assert_false(strbuf_failed(&sb));
	assert_int_equal(strncmp(strbuf_str(&sb), "0,1,2,", 6), 0);
	assert_int_equal(sb.len, strlen(sb.buf));
	strbuf_reset(&sb);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_append(&sb, "a\0b", 3);
	assert_int_equal(sb.len, 3);
	s = strbuf_steal(&sb);
	assert_non_null(s);
	assert_int_equal(memcmp(s, "a\0b", 4), 0);
	assert_null(sb.buf);
	free(s);
	s = strbuf_steal(&sb);
	assert_string_equal(s, "");
	free(s);
}

static void
test_base64(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" }, { "monitor:s3cr3t", "bW9uaXRvcjpzM2NyM3Q=" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(v); i++) {
		char *s = base64_encode(v[i].in, strlen(v[i].in));

		assert_non_null(s);
		assert_string_equal(s, v[i].out);
		free(s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_uint64),
		cmocka_unit_test(test_sat_add),
		cmocka_unit_test(test_strbuf),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
