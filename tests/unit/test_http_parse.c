/* Unit tests for http_parse.c: the request head parser and Accept-Encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_parse.h"

static int
parse(const char *s, struct http_request *r)
{
	return http_request_parse(s, strlen(s), r);
}

static void
test_good_requests(void **state)
{
	struct http_request r;
	const char *s;

	(void)state;
	s = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
	assert_int_equal(parse(s, &r), (int)strlen(s));
	assert_int_equal(r.method, HTTP_GET);
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(r.minor, 1);
	assert_true(r.keep_alive);
	assert_true(r.gzip);
	assert_false(r.has_body);
	assert_int_equal(r.header_len, strlen(s));

	/* bare LF, query string, HTTP/1.0 */
	s = "HEAD /metrics?x=1 HTTP/1.0\n\n";
	assert_int_equal(parse(s, &r), (int)strlen(s));
	assert_int_equal(r.method, HTTP_HEAD);
	assert_string_equal(r.path, "/metrics");
	assert_false(r.keep_alive);
	assert_false(r.gzip);

	s = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
	assert_true(parse(s, &r) > 0);
	assert_true(r.keep_alive);
	s = "GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n";
	assert_true(parse(s, &r) > 0);
	assert_false(r.keep_alive);

	/* methods are case-sensitive; other ones are OTHER (405) */
	assert_true(parse("get / HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.method, HTTP_OTHER);
	assert_true(parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &r) > 0);
	assert_int_equal(r.method, HTTP_OTHER);
	assert_true(r.has_body);
	assert_int_equal(r.header_len, strlen("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"));
	assert_true(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) > 0);
	assert_false(r.has_body);
	assert_true(parse("GET / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", &r) > 0);

	/* absolute-form keeps the path */
	assert_true(parse("GET http://h:9479/metrics?q HTTP/1.1\r\n\r\n", &r) > 0);
	assert_string_equal(r.path, "/metrics");
	assert_true(parse("GET http://h HTTP/1.1\r\n\r\n", &r) > 0);
	assert_string_equal(r.path, "/");

	/* leading empty lines are skipped; pipelined bytes are not consumed */
	s = "\r\n\nGET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
	assert_int_equal(parse(s, &r),
	    (int)strlen("\r\n\nGET /a HTTP/1.1\r\n\r\n"));
	assert_string_equal(r.path, "/a");
	assert_int_equal(r.header_len, strlen("\r\n\nGET /a HTTP/1.1\r\n\r\n"));
}

static void
test_incomplete(void **state)
{
	static const char full[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_request r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(full) - 1; i++)
		assert_int_equal(http_request_parse(full, i, &r), 0);
	assert_int_equal(http_request_parse(full, sizeof(full) - 1, &r),
	    (int)sizeof(full) - 1);
}

static void
test_bad_requests(void **state)
{
	static const struct {
		const char	*in;
		int		 want;
	} v[] = {
		{ "garbage\r\n\r\n", -400 },
		{ " GET / HTTP/1.1\r\n\r\n", -400 },
		{ "GET  / HTTP/1.1\r\n\r\n", -400 },
		{ "GET / HTTP/1.1 \r\n\r\n", -400 },
		{ "GET /\r\n\r\n", -400 },
		{ "GET / HTTP/1\r\n\r\n", -400 },
		{ "GET / http/1.1\r\n\r\n", -400 },
		{ "GET * HTTP/1.1\r\n\r\n", -400 },
		{ "GET /a\x7f HTTP/1.1\r\n\r\n", -400 },
		{ "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", -400 },
		{ "GET / HTTP/2.0\r\n\r\n", -505 },
		{ "GET / HTTP/1.2\r\n\r\n", -505 },
		{ "GET / HTTP/1.1\r\n folded\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nX\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\n: v\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nX : v\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -400 },
		{ "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", -400 },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -501 },
	};
	struct http_request r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int got = parse(v[i].in, &r);

		if (got != v[i].want)
			fail_msg("%zu: %s: got %d, want %d", i, v[i].in, got, v[i].want);
	}
	/* a NUL inside a header value */
	assert_int_equal(http_request_parse("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
	    25, &r), -400);
}

static void
test_limits(void **state)
{
	struct http_request r;
	char *buf;
	size_t n, i;

	(void)state;
	buf = malloc(64 * 1024);
	assert_non_null(buf);

	/* a path longer than HTTP_MAX_PATH: 414 */
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', HTTP_MAX_PATH);
	n += HTTP_MAX_PATH;
	n += (size_t)sprintf(buf + n, " HTTP/1.1\r\n\r\n");
	assert_int_equal(http_request_parse(buf, n, &r), -414);
	/* exactly HTTP_MAX_PATH is fine */
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', HTTP_MAX_PATH - 1);
	n += HTTP_MAX_PATH - 1;
	n += (size_t)sprintf(buf + n, " HTTP/1.1\r\n\r\n");
	assert_int_equal(http_request_parse(buf, n, &r), (int)n);
	assert_int_equal(strlen(r.path), HTTP_MAX_PATH);

	/* 100 header lines are fine, 101 are not */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_MAX_HEADER_LINES; i++)
		n += (size_t)sprintf(buf + n, "X-%zu: y\r\n", i);
	assert_int_equal(http_request_parse(buf, n, &r), 0);
	memcpy(buf + n, "\r\n", 2);
	assert_int_equal(http_request_parse(buf, n + 2, &r), (int)n + 2);
	n += (size_t)sprintf(buf + n, "X-last: y\r\n\r\n");
	assert_int_equal(http_request_parse(buf, n, &r), -431);

	/* no end within HTTP_MAX_HEADER_BYTES: 431; just below: need more */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nX: ");
	memset(buf + n, 'y', 40000);
	assert_int_equal(http_request_parse(buf, HTTP_MAX_HEADER_BYTES - 1, &r), 0);
	assert_int_equal(http_request_parse(buf, HTTP_MAX_HEADER_BYTES, &r), -431);
	assert_int_equal(http_request_parse(buf, 40000, &r), -431);
	free(buf);
}

static bool
gz(const char *v)
{
	struct http_accept_encoding ae;

	http_accept_encoding_init(&ae);
	http_accept_encoding_add(&ae, v, strlen(v));
	return http_accept_encoding_gzip(&ae);
}

/* The first Authorization value, trimmed; a too long one kept as "". */
static void
test_authorization(void **state)
{
	struct http_request r;
	char buf[HTTP_MAX_AUTHORIZATION + 128];
	int n;

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\n\r\n", &r) > 0);
	assert_false(r.has_authorization);
	assert_true(parse("GET / HTTP/1.1\r\nauthorization:  Basic YTpi  \r\n"
	    "Authorization: Basic other\r\n\r\n", &r) > 0);
	assert_true(r.has_authorization);
	assert_string_equal(r.authorization, "Basic YTpi");
	assert_true(parse("GET / HTTP/1.1\r\nAuthorization:\r\n\r\n", &r) > 0);
	assert_true(r.has_authorization);
	assert_string_equal(r.authorization, "");

	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nAuthorization: Basic ");
	memset(buf + n, 'A', HTTP_MAX_AUTHORIZATION - 6);
	n += HTTP_MAX_AUTHORIZATION - 6;
	memcpy(buf + n, "\r\n\r\n", 5);
	assert_int_equal(parse(buf, &r), n + 4);
	assert_int_equal(strlen(r.authorization), HTTP_MAX_AUTHORIZATION);
	memcpy(buf + n, "A\r\n\r\n", 6);
	assert_int_equal(parse(buf, &r), n + 5);
	assert_true(r.has_authorization);
	assert_string_equal(r.authorization, "");
}

static void
test_accept_encoding(void **state)
{
	struct http_accept_encoding ae;

	(void)state;
	assert_true(gz("gzip"));
	assert_true(gz("GZip"));
	assert_true(gz("x-gzip"));
	assert_true(gz("deflate, gzip"));
	assert_true(gz("gzip;q=0.5"));
	assert_true(gz("gzip; q=1.000"));
	assert_true(gz("gzip;q=0.001"));
	assert_true(gz("*"));
	assert_true(gz("identity;q=0.5, *"));
	assert_true(gz("gzip;level=9;q=0.3"));
	assert_true(gz(" ,gzip,, "));
	assert_true(gz("gzip;q=0.5, identity;q=0.5"));
	assert_false(gz(""));
	assert_false(gz("identity"));
	assert_false(gz("br"));
	assert_false(gz("gzip;q=0"));
	assert_false(gz("gzip;q=0.000"));
	assert_false(gz("*;q=0"));
	assert_false(gz("gzip;q=0, *"));
	assert_false(gz("*;q=0.5, gzip;q=0"));
	assert_false(gz("gzip;q=0.5, identity"));
	/* bad q-values and syntax: not acceptable */
	assert_false(gz("gzip;q=2"));
	assert_false(gz("gzip;q=1.5"));
	assert_false(gz("gzip;q=0.0001"));
	assert_false(gz("gzip;q="));
	assert_false(gz("gzip;q"));
	assert_false(gz("gzip;=1"));
	assert_false(gz("gzip q=1"));
	assert_false(gz("gzip;q=-1"));

	/* several headers add up */
	http_accept_encoding_init(&ae);
	assert_int_equal(http_accept_encoding_add(&ae, "br", 2), 0);
	assert_false(http_accept_encoding_gzip(&ae));
	assert_int_equal(http_accept_encoding_add(&ae, "gzip", 4), 0);
	assert_true(http_accept_encoding_gzip(&ae));
	assert_int_equal(http_accept_encoding_add(&ae, "gzip;q=x", 8), -1);

	/* through the request parser, also split over two headers */
	{
		struct http_request r;
		const char *s = "GET / HTTP/1.1\r\nAccept-Encoding: br\r\n"
		    "accept-encoding: gzip;q=0.2\r\n\r\n";

		assert_true(http_request_parse(s, strlen(s), &r) > 0);
		assert_true(r.gzip);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_requests),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_accept_encoding),
		cmocka_unit_test(test_authorization),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
