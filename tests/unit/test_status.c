/*
 * Unit tests for status.c: the escapers, the model's bounds and order, the
 * three renderers on hostile strings, and the CSP's style hash (recomputed
 * with OpenSSL, so the constant cannot drift from the style).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "status.h"
#include "util.h"

#define IMG "<img src=x onerror=alert(1)>"

static char *
html(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb);
	assert_int_equal(status_html_escape(&sb, s), 0);
	return strbuf_steal(&sb);
}

static char *
text(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb);
	assert_int_equal(status_text_escape(&sb, s), 0);
	return strbuf_steal(&sb);
}

static void
test_html_escape(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" },
		{ "plain name", "plain name" },
		{ IMG, "&lt;img src=x onerror=alert(1)&gt;" },
		{ "a\"b'c&d", "a&quot;b&#39;c&amp;d" },
		{ "\" onmouseover=\"alert(1)", "&quot; onmouseover=&quot;alert(1)" },
		{ "</script><script>", "&lt;/script&gt;&lt;script&gt;" },
		{ "&amp;", "&amp;amp;" },
		{ "tab\tnl\ncr\r", "tab\tnl\ncr\r" },
		{ "esc\x1b[31m", "esc\xef\xbf\xbd[31m" },
		{ "del\x7f", "del\xef\xbf\xbd" },
		{ "csi\xc2\x9b" "2J", "csi\xef\xbf\xbd" "2J" },
		{ "\xc2\xa0nbsp \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80",
		  "\xc2\xa0nbsp \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(v); i++) {
		char *s = html(v[i].in);

		assert_string_equal(s, v[i].out);
		free(s);
	}
	/* NULL appends nothing */
	{
		struct strbuf sb;

		strbuf_init(&sb);
		assert_int_equal(status_html_escape(&sb, NULL), 0);
		assert_int_equal(sb.len, 0);
		strbuf_free(&sb);
	}
}

static void
test_text_escape(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "plain", "plain" },
		{ "a\nforged line", "a\\nforged line" },
		{ "\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m" },
		{ "title\x1b]0;x\x07", "title\\x1b]0;x\\x07" },
		{ "back\\slash", "back\\\\slash" },
		{ "cr\rtab\t", "cr\\rtab\\t" },
		{ "c1 \xc2\x9b" "2J \xc2\x85", "c1 \\u{9b}2J \\u{85}" },
		{ "del\x7f", "del\\x7f" },
		{ "rtl \xe2\x80\xae" "gnp.exe", "rtl \\u{202e}gnp.exe" },
		{ "ls\xe2\x80\xa8ps\xe2\x80\xa9iso\xe2\x81\xa6\xe2\x81\xa9",
		  "ls\\u{2028}ps\\u{2029}iso\\u{2066}\\u{2069}" },
		{ "dash \xe2\x80\x94 ok", "dash \xe2\x80\x94 ok" },
		{ IMG, IMG },
		{ "\xc3\xa9\xc2\xa0", "\xc3\xa9\xc2\xa0" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(v); i++) {
		char *s = text(v[i].in);

		assert_string_equal(s, v[i].out);
		free(s);
	}
}

static void
test_str_repair_and_cut(void **state)
{
	json_t *j;

	(void)state;
	j = status_str("bad \xff\xfe end", 0);
	assert_non_null(j);
	assert_string_equal(json_string_value(j), "bad \xef\xbf\xbd\xef\xbf\xbd end");
	json_decref(j);
	/* cut on a code-point boundary, then an ellipsis */
	j = status_str("ab\xe2\x82\xac" "cd", 4);
	assert_string_equal(json_string_value(j), "ab\xe2\x80\xa6");
	json_decref(j);
	j = status_str("abcd", 4);
	assert_string_equal(json_string_value(j), "abcd");
	json_decref(j);
	j = status_str(NULL, 0);
	assert_true(json_is_null(j));
	json_decref(j);
	j = status_time(0);
	assert_true(json_is_null(j));
	json_decref(j);
}

/* base64(sha256(status_style())) is the hash the CSP allows. */
static void
test_csp_hash(void **state)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned char b64[64];
	char want[128];
	const char *csp = status_csp();

	(void)state;
	SHA256((const unsigned char *)status_style(), strlen(status_style()), md);
	assert_int_equal(EVP_EncodeBlock(b64, md, sizeof(md)), 44);
	snprintf(want, sizeof(want), "style-src 'sha256-%s';", (const char *)b64);
	assert_non_null(strstr(csp, want));
	assert_non_null(strstr(csp, "default-src 'none';"));
	assert_non_null(strstr(csp, "frame-ancestors 'none'"));
	assert_non_null(strstr(csp, "base-uri 'none'"));
	assert_non_null(strstr(csp, "form-action 'none'"));
	assert_null(strstr(csp, "unsafe"));
	/* the style has no way out of its element */
	assert_null(strchr(status_style(), '<'));
}

/* A target with a hostile failing connector, rules, and other data. */
static struct status *
hostile_model(void)
{
	struct status *st = status_new();
	json_t *t, *c, *lf, *o;
	char id[32], name[32];
	int i;

	assert_non_null(st);
	t = status_target(st, "kib");
	assert_non_null(t);
	assert_ptr_equal(status_target(st, "kib"), t);
	c = status_connector(st, "kib", "default", "c-img");
	assert_non_null(c);
	assert_ptr_equal(status_connector_find(st, "kib", "default", "c-img"), c);
	assert_null(status_connector_find(st, "kib", "ops", "c-img"));
	json_object_set_new(c, "name", status_str(IMG, 0));
	json_object_set_new(c, "type", status_str(".webhook", 0));
	json_object_set_new(c, "listed", json_true());
	json_object_set_new(c, "failures_1h", json_integer(3));
	lf = json_object();
	json_object_set_new(lf, "time", status_time(1700000000));
	json_object_set_new(lf, "error", status_str("boom <b>\"x\"</b>\x1b[2J", 0));
	json_object_set_new(c, "last_failure", lf);
	for (i = 0; i < 25; i++) {
		snprintf(id, sizeof(id), "rule-%02d", i);
		status_connector_rule(c, "default", id,
		    i == 0 ? "<script>alert(1)</script>" : id);
	}
	/* a connector that timed out once: failing, after c-img */
	c = status_connector(st, "kib", "ops", "c-timeout");
	json_object_set_new(c, "timeouts_1h", json_integer(1));
	/* 600 healthy connectors: 500 listed, 100 counted */
	for (i = 0; i < 600; i++) {
		snprintf(id, sizeof(id), "ok-%03d", i);
		snprintf(name, sizeof(name), "Healthy %03d", i);
		c = status_connector(st, "kib", "default", id);
		json_object_set_new(c, "name", status_str(name, 0));
		json_object_set_new(c, "listed", json_true());
	}
	for (i = 0; i < STATUS_LIST_MAX + 3; i++) {
		o = json_object();
		json_object_set_new(o, "id", json_string(".x"));
		status_list_add(t, "unavailable_connector_types", o);
	}
	o = json_object();
	json_object_set_new(o, "space", json_string("default"));
	json_object_set_new(o, "id", json_string("p\"1"));
	json_object_set_new(o, "name", status_str("probe <i>x</i>", 0));
	json_object_set_new(o, "result", json_string("connector_error"));
	json_object_set_new(o, "last_run", status_time(1700000000));
	json_object_set_new(o, "message", status_str("refused: <svg onload=alert(1)>", 0));
	status_list_add(t, "probes", o);
	status_list_add(t, "no_such_list", json_object());	/* freed, no crash */
	assert_int_equal(status_finish(st), 0);
	return st;
}

static void
test_model_bounds_and_order(void **state)
{
	struct status *st = hostile_model();
	const json_t *root = status_json(st), *t, *f;

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(root, "schema")), 1);
	t = json_array_get(json_object_get(root, "targets"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "name")), "kib");
	f = json_object_get(t, "failing_connectors");
	assert_int_equal(json_array_size(f), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 0), "id")),
	    "c-img");
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 1), "id")),
	    "c-timeout");
	assert_int_equal(json_array_size(json_object_get(json_array_get(f, 0), "rules")),
	    STATUS_RULES_MAX);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f, 0),
	    "rules_total")), 25);
	assert_int_equal(json_integer_value(json_object_get(t, "failing_total")), 2);
	assert_int_equal(json_integer_value(json_object_get(t, "connectors_total")), 602);
	assert_int_equal(json_array_size(json_object_get(t, "connectors")),
	    STATUS_CONNECTORS_MAX);
	assert_int_equal(json_integer_value(json_object_get(t, "connectors_omitted")), 100);
	/* sorted by space, name: the first listed is Healthy 000 */
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(t, "connectors"), 0), "name")), "Healthy 000");
	assert_int_equal(json_array_size(json_object_get(t,
	    "unavailable_connector_types")), STATUS_LIST_MAX);
	assert_int_equal(json_integer_value(json_object_get(t,
	    "unavailable_connector_types_total")), STATUS_LIST_MAX + 3);
	status_free(st);
}

static void
test_render_html(void **state)
{
	struct status *st = hostile_model();
	struct strbuf sb;
	const char *p;

	(void)state;
	strbuf_init(&sb);
	assert_int_equal(status_render_html(st, &sb), 0);
	p = strbuf_str(&sb);
	assert_null(strstr(p, "<img"));
	assert_null(strstr(p, "<script"));
	assert_null(strstr(p, "\x1b"));
	assert_non_null(strstr(p, "&lt;img src=x onerror=alert(1)&gt;"));
	assert_non_null(strstr(p, "boom &lt;b&gt;&quot;x&quot;&lt;/b&gt;\xef\xbf\xbd[2J"));
	assert_non_null(strstr(p, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(p, "and 5 more"));
	assert_non_null(strstr(p, "and 100 more"));
	/* probes: name, id in an attribute, message, all escaped */
	assert_non_null(strstr(p, "title=\"p&quot;1\">probe &lt;i&gt;x&lt;/i&gt;"));
	assert_non_null(strstr(p, "refused: &lt;svg onload=alert(1)&gt;"));
	assert_null(strstr(p, "<svg"));
	assert_null(strstr(p, "<i>"));
	/* the failing table comes before the others */
	assert_true(strstr(p, "Failing connectors (2)") < strstr(p, "Other connectors"));
	assert_true(strstr(p, "c-img") < strstr(p, "Healthy 000"));
	/* exactly one style element, the one the CSP hash covers */
	assert_non_null(strstr(p, status_style()));
	assert_null(strstr(strstr(p, "<style>") + 1, "<style"));
	strbuf_free(&sb);
	status_free(st);
}

static void
test_render_json_and_text(void **state)
{
	struct status *st = hostile_model();
	struct strbuf sb;
	json_error_t err;
	json_t *back, *c;

	(void)state;
	strbuf_init(&sb);
	assert_int_equal(status_render_json(st, &sb), 0);
	back = json_loads(strbuf_str(&sb), 0, &err);
	assert_non_null(back);
	c = json_array_get(json_object_get(json_array_get(json_object_get(back,
	    "targets"), 0), "failing_connectors"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "name")), IMG);
	assert_string_equal(json_string_value(json_object_get(json_object_get(c,
	    "last_failure"), "error")), "boom <b>\"x\"</b>\x1b[2J");
	json_decref(back);
	strbuf_free(&sb);

	strbuf_init(&sb);
	assert_int_equal(status_render_text(st, &sb), 0);
	assert_null(strstr(strbuf_str(&sb), "\x1b"));
	assert_non_null(strstr(strbuf_str(&sb), "'" IMG "'"));
	assert_non_null(strstr(strbuf_str(&sb), "\\x1b[2J"));
	assert_non_null(strstr(strbuf_str(&sb), "Failing connectors (2):"));
	assert_non_null(strstr(strbuf_str(&sb), "... and 100 more"));
	strbuf_free(&sb);
	status_free(st);
}

/* An empty model renders, and a target without data says so. */
static void
test_render_empty(void **state)
{
	struct status *st = status_new();
	struct strbuf sb;

	(void)state;
	assert_int_equal(status_finish(st), 0);
	strbuf_init(&sb);
	assert_int_equal(status_render_html(st, &sb), 0);
	assert_non_null(strstr(strbuf_str(&sb), "No target has been polled yet"));
	strbuf_reset(&sb);
	assert_non_null(status_target(st, "t"));
	assert_int_equal(status_finish(st), 0);
	assert_int_equal(status_render_text(st, &sb), 0);
	assert_non_null(strstr(strbuf_str(&sb), "NOT CONFIGURED"));
	strbuf_free(&sb);
	status_free(st);
	status_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_text_escape),
		cmocka_unit_test(test_str_repair_and_cut),
		cmocka_unit_test(test_csp_hash),
		cmocka_unit_test(test_model_bounds_and_order),
		cmocka_unit_test(test_render_html),
		cmocka_unit_test(test_render_json_and_text),
		cmocka_unit_test(test_render_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
