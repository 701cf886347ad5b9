/*
 * test_kibana.c: parsing of Kibana API bodies (fixtures for every version
 * variant in data/kibana/, see shared/reference/kibana-api.md), the JSON
 * repair of hostile bodies, error reporting, and URL path helpers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kibana.h"
#include "util.h"

/*
 * Opens kibana/<name> under $KCM_TEST_DATA, else under the data/ directory
 * next to this source file (where the fixtures live: tests/unit/data).
 */
static FILE *
open_fixture(const char *name, struct strbuf *path)
{
	const char *dir = getenv("KCM_TEST_DATA"), *slash;
	FILE *f;

	if (dir != NULL) {
		strbuf_printf(path, "%s/kibana/%s", dir, name);
		assert_false(strbuf_failed(path));
		if ((f = fopen(strbuf_str(path), "rb")) != NULL)
			return f;
		strbuf_reset(path);
	}
	slash = strrchr(__FILE__, '/');
	if (slash != NULL)
		strbuf_append(path, __FILE__, (size_t)(slash - __FILE__) + 1);
	strbuf_printf(path, "data/kibana/%s", name);
	assert_false(strbuf_failed(path));
	return fopen(strbuf_str(path), "rb");
}

/* Reads fixture <name>; fails the test if it is unreadable. */
static char *
read_fixture(const char *name, size_t *ret_len)
{
	struct strbuf path, data;
	char chunk[4096];
	size_t n;
	FILE *f;

	strbuf_init(&path);
	strbuf_init(&data);
	f = open_fixture(name, &path);
	if (f == NULL)
		fail_msg("cannot open fixture %s (last tried %s)", name,
		    strbuf_str(&path));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		strbuf_append(&data, chunk, n);
	assert_int_equal(ferror(f), 0);
	fclose(f);
	strbuf_free(&path);
	assert_false(strbuf_failed(&data));
	*ret_len = data.len;
	return strbuf_steal(&data);
}

/* Strict UTF-8 check (no overlong, surrogate, > U+10FFFF, truncation). */
static bool
utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n, k;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		} else if ((*s & 0xe0) == 0xc0) {
			n = 1;
			cp = *s & 0x1f;
		} else if ((*s & 0xf0) == 0xe0) {
			n = 2;
			cp = *s & 0x0f;
		} else if ((*s & 0xf8) == 0xf0) {
			n = 3;
			cp = *s & 0x07;
		} else
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

static void
assert_connector(const struct kibana_connector *c, const char *id,
    const char *name, const char *type_id, bool preconfigured,
    bool deprecated, bool system_action, bool missing_secrets,
    int64_t referenced_by_count)
{
	assert_string_equal(c->id, id);
	assert_string_equal(c->name, name);
	assert_string_equal(c->type_id, type_id);
	assert_int_equal(c->preconfigured, preconfigured);
	assert_int_equal(c->deprecated, deprecated);
	assert_int_equal(c->system_action, system_action);
	assert_int_equal(c->missing_secrets, missing_secrets);
	assert_int_equal(c->referenced_by_count, referenced_by_count);
}

static void
parse_connectors_fixture(const char *name, struct kibana_connector_list *l)
{
	char err[128] = "";
	size_t len;
	char *body;

	body = read_fixture(name, &len);
	assert_int_equal(kibana_parse_connectors(body, len, l, err,
	    sizeof(err)), 0);
	assert_string_equal(err, "");
	free(body);
}

static void
test_connectors_7_10_legacy(void **state)
{
	struct kibana_connector_list l;

	(void)state;
	parse_connectors_fixture("connectors_7_10.json", &l);
	assert_int_equal(l.n, 2);
	assert_connector(&l.v[0], "6a4f1c2e-3b5d-4e7f-8a9b-0c1d2e3f4a5b",
	    "Legacy webhook", ".webhook", false, false, false, false, 4);
	assert_connector(&l.v[1], "legacy-log", "Preconfigured log",
	    ".server-log", true, false, false, false, 0);
	kibana_connector_list_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
}

static void
test_connectors_7_17(void **state)
{
	struct kibana_connector_list l;

	(void)state;
	parse_connectors_fixture("connectors_7_17.json", &l);
	assert_int_equal(l.n, 3);
	assert_connector(&l.v[0], "1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
	    "Imported webhook", ".webhook", false, false, false, true, 2);
	assert_connector(&l.v[1], "ops-slack", "Preconfigured Slack", ".slack",
	    true, false, false, false, 1);
	assert_connector(&l.v[2], "5e1d9a47-3c2b-4f0e-8d61-7a9b2c4e6f80",
	    "Server log", ".server-log", false, false, false, false, 0);
	kibana_connector_list_free(&l);
}

static void
test_connectors_8_2(void **state)
{
	struct kibana_connector_list l;

	(void)state;
	parse_connectors_fixture("connectors_8_2.json", &l);
	assert_int_equal(l.n, 3);
	assert_connector(&l.v[0], "c9a0e1f2-6b7d-4e3a-9f18-2d4c6b8a0e13",
	    "alert-history", ".index", false, false, false, false, 2);
	assert_connector(&l.v[1], "preconfigured-email-connector",
	    "Preconfigured email", ".email", true, false, false, false, 0);
	assert_connector(&l.v[2], "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
	    "Imported email", ".email", false, false, false, true, 5);
	kibana_connector_list_free(&l);
}

static void
test_connectors_8_9(void **state)
{
	struct kibana_connector_list l;

	(void)state;
	parse_connectors_fixture("connectors_8_9.json", &l);
	assert_int_equal(l.n, 3);
	assert_connector(&l.v[0], "0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11",
	    "Ops webhook", ".webhook", false, false, false, false, 3);
	assert_connector(&l.v[1], "ops-slack", "Preconfigured Slack", ".slack",
	    true, false, false, false, 1);
	assert_connector(&l.v[2], "2f3a4b5c-6d7e-4f80-9a1b-2c3d4e5f6a7b",
	    "ServiceNow ITSM (table API)", ".servicenow", false, true, false,
	    true, 0);
	kibana_connector_list_free(&l);
}

static void
test_connectors_8_17(void **state)
{
	struct kibana_connector_list l;

	(void)state;
	parse_connectors_fixture("connectors_8_17.json", &l);
	assert_int_equal(l.n, 3);
	assert_connector(&l.v[0], "0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11",
	    "Ops webhook", ".webhook", false, false, false, true, 3);
	assert_connector(&l.v[1], "my-deprecated-servicenow",
	    "Preconfigured ServiceNow", ".servicenow", true, true, false,
	    false, 7);
	/* An empty name is allowed. */
	assert_connector(&l.v[2], "5e1d9a47-3c2b-4f0e-8d61-7a9b2c4e6f80", "",
	    ".server-log", false, false, false, false, 0);
	kibana_connector_list_free(&l);
}

static void
test_connectors_9_x(void **state)
{
	struct kibana_connector_list l;

	(void)state;
	parse_connectors_fixture("connectors_9_x.json", &l);
	assert_int_equal(l.n, 4);
	assert_connector(&l.v[0], "0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11",
	    "Ops webhook", ".webhook", false, false, false, false, 3);
	assert_connector(&l.v[1], "ops-slack", "Preconfigured Slack", ".slack",
	    true, false, false, false, 1);
	assert_connector(&l.v[2], "5e1d9a47-3c2b-4f0e-8d61-7a9b2c4e6f80",
	    "Server log", ".server-log", false, false, false, false, 0);
	assert_connector(&l.v[3], "c9a0e1f2-6b7d-4e3a-9f18-2d4c6b8a0e13",
	    "alert-history", ".index", false, false, false, true, 2);
	kibana_connector_list_free(&l);
}

static void
test_connectors_empty_and_counts(void **state)
{
	struct kibana_connector_list l;
	char err[128];
	const char *body;

	(void)state;
	assert_int_equal(kibana_parse_connectors("[]", 2, &l, err,
	    sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	kibana_connector_list_free(&l);

	/* An integral real is accepted; connector_type_id wins over actionTypeId. */
	body = "[{\"id\":\"a\",\"name\":\"n\",\"connector_type_id\":\".x\","
	    "\"actionTypeId\":\".old\",\"referenced_by_count\":2.0},"
	    "{\"id\":\"b\",\"name\":\"m\",\"connector_type_id\":\".y\","
	    "\"referenced_by_count\":9007199254740993}]";
	assert_int_equal(kibana_parse_connectors(body, strlen(body), &l, err,
	    sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	assert_connector(&l.v[0], "a", "n", ".x", false, false, false, false, 2);
	assert_int_equal(l.v[1].referenced_by_count, INT64_C(9007199254740993));
	kibana_connector_list_free(&l);

	/* Duplicate keys: the last one wins. */
	body = "[{\"id\":\"a\",\"id\":\"b\",\"name\":\"n\","
	    "\"connector_type_id\":\".x\"}]";
	assert_int_equal(kibana_parse_connectors(body, strlen(body), &l, err,
	    sizeof(err)), 0);
	assert_string_equal(l.v[0].id, "b");
	kibana_connector_list_free(&l);

	kibana_connector_list_free(NULL);
}

static void
test_connector_types_8_0(void **state)
{
	struct kibana_connector_type_list l;
	char err[128] = "", *body;
	size_t len;

	(void)state;
	body = read_fixture("connector_types_8_0.json", &len);
	assert_int_equal(kibana_parse_connector_types(body, len, &l, err,
	    sizeof(err)), 0);
	free(body);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].id, ".server-log");
	assert_string_equal(l.v[0].minimum_license_required, "basic");
	assert_true(l.v[0].enabled);
	assert_true(l.v[0].enabled_in_config);
	assert_true(l.v[0].enabled_in_license);
	assert_string_equal(l.v[1].id, ".webhook");
	assert_string_equal(l.v[1].minimum_license_required, "gold");
	assert_false(l.v[1].enabled);
	assert_true(l.v[1].enabled_in_config);
	assert_false(l.v[1].enabled_in_license);
	assert_string_equal(l.v[2].id, ".index");
	assert_string_equal(l.v[2].minimum_license_required, "basic");
	assert_false(l.v[2].enabled);
	assert_false(l.v[2].enabled_in_config);
	assert_true(l.v[2].enabled_in_license);
	kibana_connector_type_list_free(&l);
	assert_null(l.v);
}

static void
test_connector_types_9_x(void **state)
{
	struct kibana_connector_type_list l;
	char err[128] = "", *body;
	size_t len;

	(void)state;
	body = read_fixture("connector_types_9_x.json", &len);
	assert_int_equal(kibana_parse_connector_types(body, len, &l, err,
	    sizeof(err)), 0);
	free(body);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].id, ".server-log");
	assert_string_equal(l.v[0].minimum_license_required, "basic");
	assert_true(l.v[0].enabled && l.v[0].enabled_in_config &&
	    l.v[0].enabled_in_license);
	assert_string_equal(l.v[1].id, ".webhook");
	assert_string_equal(l.v[1].minimum_license_required, "gold");
	assert_false(l.v[1].enabled);
	assert_true(l.v[1].enabled_in_config);
	assert_false(l.v[1].enabled_in_license);
	assert_string_equal(l.v[2].id, ".cases");
	assert_string_equal(l.v[2].minimum_license_required, "platinum");
	assert_true(l.v[2].enabled && l.v[2].enabled_in_config &&
	    l.v[2].enabled_in_license);
	assert_string_equal(l.v[3].id, ".sentinelone");
	assert_string_equal(l.v[3].minimum_license_required, "enterprise");
	assert_true(l.v[3].enabled && l.v[3].enabled_in_config &&
	    l.v[3].enabled_in_license);
	kibana_connector_type_list_free(&l);
}

static void
test_connector_types_defaults(void **state)
{
	struct kibana_connector_type_list l;
	char err[128];
	const char *body;

	(void)state;
	/* Absent enabled_in_* take "enabled"; absent license is "". */
	body = "[{\"id\":\".a\",\"enabled\":true},"
	    "{\"id\":\".b\",\"enabled\":false,\"enabled_in_license\":true}]";
	assert_int_equal(kibana_parse_connector_types(body, strlen(body), &l,
	    err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.v[0].enabled && l.v[0].enabled_in_config &&
	    l.v[0].enabled_in_license);
	assert_string_equal(l.v[0].minimum_license_required, "");
	assert_false(l.v[1].enabled);
	assert_false(l.v[1].enabled_in_config);
	assert_true(l.v[1].enabled_in_license);
	assert_string_equal(l.v[1].minimum_license_required, "");
	kibana_connector_type_list_free(&l);
	kibana_connector_type_list_free(NULL);
}

static void
test_spaces(void **state)
{
	struct kibana_space_list l;
	char err[128] = "", *body;
	size_t len;

	(void)state;
	body = read_fixture("spaces.json", &len);
	assert_int_equal(kibana_parse_spaces(body, len, &l, err, sizeof(err)),
	    0);
	free(body);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.ids[0], "default");
	assert_string_equal(l.ids[1], "ops");
	assert_string_equal(l.ids[2], "marketing-eu_1");
	kibana_space_list_free(&l);
	assert_null(l.ids);
	kibana_space_list_free(NULL);
}

static void
test_rules_pages_fixtures(void **state)
{
	struct kibana_rules_page p1, p2;
	struct kibana_connector_list conns;
	const char *flagged[8];
	size_t len, nflagged = 0, i, j, k;
	char err[128] = "", *body;
	bool known;

	(void)state;
	body = read_fixture("rules_page_1.json", &len);
	assert_int_equal(kibana_parse_rules_page(body, len, &p1, err,
	    sizeof(err)), 0);
	free(body);
	assert_int_equal(p1.page, 1);
	assert_int_equal(p1.per_page, 2);
	assert_int_equal(p1.total, 3);
	assert_int_equal(kibana_rules_pages(p1.total, p1.per_page), 2);
	assert_int_equal(p1.n, 2);
	assert_string_equal(p1.v[0].id, "41f0a2d8-9a6b-4c1e-8f2d-7b3e5c9a1d04");
	assert_string_equal(p1.v[0].name, "CPU high");
	assert_int_equal(p1.v[0].nactions, 3);
	assert_string_equal(p1.v[0].action_ids[0],
	    "0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11");
	assert_string_equal(p1.v[0].action_ids[1], "ops-slack");
	assert_string_equal(p1.v[0].action_ids[2],
	    "deadbeef-0000-4000-8000-000000000000");
	assert_string_equal(p1.v[1].id, "9c2e7f10-4d3b-4a8e-b5c6-1f2e3d4c5b6a");
	assert_string_equal(p1.v[1].name, "Error budget burn");
	assert_int_equal(p1.v[1].nactions, 2);
	assert_string_equal(p1.v[1].action_ids[0], "system-connector-.cases");
	assert_true(kibana_is_system_connector_id(p1.v[1].action_ids[0]));
	assert_string_equal(p1.v[1].action_ids[1], "ops-slack");

	body = read_fixture("rules_page_2.json", &len);
	assert_int_equal(kibana_parse_rules_page(body, len, &p2, err,
	    sizeof(err)), 0);
	free(body);
	assert_int_equal(p2.page, 2);
	assert_int_equal(p2.per_page, 2);
	assert_int_equal(p2.total, 3);
	assert_int_equal(p2.n, 1);
	assert_string_equal(p2.v[0].id, "e1d2c3b4-a596-4786-9a0b-1c2d3e4f5a6b");
	assert_string_equal(p2.v[0].name, "Disk watermark (muted, no actions)");
	assert_int_equal(p2.v[0].nactions, 0);
	assert_null(p2.v[0].action_ids);
	assert_true(p2.page * p2.per_page >= p2.total);

	/* Section 8's algorithm: only the deleted connector is flagged. */
	parse_connectors_fixture("connectors_9_x.json", &conns);
	for (i = 0; i < p1.n; i++)
		for (j = 0; j < p1.v[i].nactions; j++) {
			const char *id = p1.v[i].action_ids[j];

			known = false;
			for (k = 0; k < conns.n; k++)
				if (strcmp(conns.v[k].id, id) == 0)
					known = true;
			if (!known && !kibana_is_system_connector_id(id) &&
			    nflagged < ELEMENTSOF(flagged))
				flagged[nflagged++] = id;
		}
	assert_int_equal(nflagged, 1);
	assert_string_equal(flagged[0], "deadbeef-0000-4000-8000-000000000000");

	kibana_connector_list_free(&conns);
	kibana_rules_page_free(&p1);
	kibana_rules_page_free(&p2);
	assert_null(p1.v);
	assert_int_equal(p1.n, 0);
	kibana_rules_page_free(NULL);
}

static void
test_rules_page_variants(void **state)
{
	struct kibana_rules_page p;
	char err[128];
	const char *body;

	(void)state;
	/* No "actions" key at all; duplicates kept; integral reals. */
	body = "{\"page\":1.0,\"per_page\":100,\"total\":2,\"data\":["
	    "{\"id\":\"r1\",\"name\":\"no actions key\"},"
	    "{\"id\":\"r2\",\"name\":\"dup\",\"actions\":[{\"id\":\"c\"},"
	    "{\"id\":\"c\",\"group\":\"g\"}]}]}";
	assert_int_equal(kibana_parse_rules_page(body, strlen(body), &p, err,
	    sizeof(err)), 0);
	assert_int_equal(p.page, 1);
	assert_int_equal(p.per_page, 100);
	assert_int_equal(p.total, 2);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.v[0].nactions, 0);
	assert_null(p.v[0].action_ids);
	assert_int_equal(p.v[1].nactions, 2);
	assert_string_equal(p.v[1].action_ids[0], "c");
	assert_string_equal(p.v[1].action_ids[1], "c");
	kibana_rules_page_free(&p);

	/* An empty page. */
	body = "{\"page\":1,\"per_page\":100,\"total\":0,\"data\":[]}";
	assert_int_equal(kibana_parse_rules_page(body, strlen(body), &p, err,
	    sizeof(err)), 0);
	assert_int_equal(p.n, 0);
	assert_null(p.v);
	kibana_rules_page_free(&p);
}

/* Builds [{"id":"x","name":"<raw>","connector_type_id":".t"}] and returns the name. */
static char *
parse_name(const char *raw, size_t rawlen)
{
	struct kibana_connector_list l;
	struct strbuf b;
	char err[128] = "", *name;
	int r;

	strbuf_init(&b);
	strbuf_puts(&b, "[{\"id\":\"x\",\"name\":\"");
	strbuf_append(&b, raw, rawlen);
	strbuf_puts(&b, "\",\"connector_type_id\":\".t\"}]");
	assert_false(strbuf_failed(&b));
	r = kibana_parse_connectors(b.buf, b.len, &l, err, sizeof(err));
	if (r != 0)
		fail_msg("parse failed (%d): %s", r, err);
	strbuf_free(&b);
	assert_int_equal(l.n, 1);
	name = l.v[0].name;
	l.v[0].name = NULL;
	kibana_connector_list_free(&l);
	return name;
}

#define FFFD "\xef\xbf\xbd"

static void
test_hostile_names(void **state)
{
	static const struct {
		const char *raw;	/* JSON string content, as sent */
		const char *want;	/* C string after parsing */
	} cases[] = {
		{ "say \\\"hi\\\"", "say \"hi\"" },
		{ "back\\\\slash\\/", "back\\slash/" },
		{ "line\\nbreak\\ttab\\r\\b\\f", "line\nbreak\ttab\r\b\f" },
		{ "nul\\u0000byte\\u0000", "nul" FFFD "byte" FFFD },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "caf\\u00e9 \\u20AC \\ud83d\\ude00",
		    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		/* raw invalid UTF-8, one U+FFFD per maximal subpart */
		{ "a\xff" "b", "a" FFFD "b" },
		{ "\xc0\xaf", FFFD FFFD },			/* overlong '/' */
		{ "\xe0\x80\xaf", FFFD FFFD FFFD },		/* overlong */
		{ "\xed\xa0\x80", FFFD FFFD FFFD },		/* U+D800 */
		{ "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD },	/* > U+10FFFF */
		{ "\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD },
		{ "x\xe2\x82", "x" FFFD },			/* truncated */
		{ "\xf0\x9f\x98" "y", FFFD "y" },		/* truncated */
		{ "\x80\xbf", FFFD FFFD },			/* stray */
		{ "\xc3", FFFD },
		/* surrogate escapes */
		{ "\\ud800", FFFD },
		{ "\\uD800x", FFFD "x" },
		{ "\\udbff\\udbff", FFFD FFFD },
		{ "\\udc00", FFFD },
		{ "\\udfff\\ud800", FFFD FFFD },
		{ "\\ud800\\u0041", FFFD "A" },
		{ "\\ud800\\ud83d\\ude00", FFFD "\xf0\x9f\x98\x80" },
		{ "\\ud800\\n", FFFD "\n" },
		{ "\\\\ud800", "\\ud800" },	/* escaped backslash, then text */
		{ "\\\\\\ud800", "\\" FFFD },
		{ "\\\"\\udc00\\\"", "\"" FFFD "\"" },
		{ "", "" },
	};
	char *name;
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		name = parse_name(cases[i].raw, strlen(cases[i].raw));
		if (strcmp(name, cases[i].want) != 0)
			fail_msg("case %zu: unexpected name", i);
		assert_true(utf8_valid(name));
		free(name);
	}
}

static void
test_hostile_string_state(void **state)
{
	struct kibana_connector_list l;
	char err[128];
	const char *body;

	(void)state;
	/* A name ending in an escaped backslash must end the string. */
	body = "[{\"id\":\"a\\\\\",\"name\":\"\\ud800\","
	    "\"connector_type_id\":\"\\udc00\\\\\"}]";
	assert_int_equal(kibana_parse_connectors(body, strlen(body), &l, err,
	    sizeof(err)), 0);
	assert_string_equal(l.v[0].id, "a\\");
	assert_string_equal(l.v[0].name, FFFD);
	assert_string_equal(l.v[0].type_id, FFFD "\\");
	kibana_connector_list_free(&l);

	/* \u0000 in a key and invalid bytes in an ignored field. */
	body = "[{\"id\":\"a\",\"name\":\"n\",\"connector_type_id\":\".t\","
	    "\"config\":{\"na\\u0000me\":\"\xff\\ud800\","
	    "\"headers\":{\"\\udc00\":null}}}]";
	assert_int_equal(kibana_parse_connectors(body, strlen(body), &l, err,
	    sizeof(err)), 0);
	assert_string_equal(l.v[0].name, "n");
	kibana_connector_list_free(&l);

	/* A raw NUL byte inside a string is still malformed JSON. */
	assert_int_equal(kibana_parse_connectors("[\"a\0b\"]", 7, &l, err,
	    sizeof(err)), -EBADMSG);
}

static void
test_hostile_big_name(void **state)
{
	struct strbuf raw;
	char *name;
	size_t i;

	(void)state;
	strbuf_init(&raw);
	for (i = 0; i < 10240; i++)
		strbuf_putc(&raw, (char)('A' + i % 26));
	/* and a mix of every repair at the end */
	strbuf_puts(&raw, "\\u0000\xff\\ud800\xe2\x82\xac");
	assert_false(strbuf_failed(&raw));
	name = parse_name(raw.buf, raw.len);
	assert_int_equal(strlen(name), 10240 + 3 + 3 + 3 + 3);
	assert_memory_equal(name, raw.buf, 10240);
	assert_string_equal(name + 10240, FFFD FFFD FFFD "\xe2\x82\xac");
	assert_true(utf8_valid(name));
	free(name);
	strbuf_free(&raw);
}

static void
test_json_load(void **state)
{
	char err[128];
	json_t *root;

	(void)state;
	root = kibana_json_load("{\"a\":\"\\ud800\xc0\"}", 15, err, sizeof(err));
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "a")),
	    FFFD FFFD);
	json_decref(root);

	/* Not NUL-terminated: only len bytes are read. */
	root = kibana_json_load("[1]garbage", 3, err, sizeof(err));
	assert_non_null(root);
	json_decref(root);

	assert_null(kibana_json_load("", 0, err, sizeof(err)));
	assert_string_equal(err, "empty body");
	assert_null(kibana_json_load(NULL, 0, err, sizeof(err)));
	assert_null(kibana_json_load("42", 2, err, sizeof(err)));
	assert_null(kibana_json_load("\"s\"", 3, err, sizeof(err)));
	assert_null(kibana_json_load("[1] [2]", 7, err, sizeof(err)));
	assert_non_null(strstr(err, "trailing data"));
	assert_null(kibana_json_load("[1", 2, err, sizeof(err)));
	assert_non_null(strstr(err, "premature end of input"));
	assert_null(kibana_json_load("[99999999999999999999]", 22, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "number out of range"));
	/* jansson would quote the body ("near 'SECRET'"); we must not. */
	assert_null(kibana_json_load("[SECRET-TOKEN]", 14, err, sizeof(err)));
	assert_non_null(strstr(err, "malformed JSON"));
	assert_null(strstr(err, "SECRET"));
	/* Invalid bytes outside strings are repaired, then still rejected. */
	assert_null(kibana_json_load("[\xff]", 3, err, sizeof(err)));
}

static void
test_json_load_deep(void **state)
{
	struct strbuf b;
	char err[128];
	size_t i;

	(void)state;
	strbuf_init(&b);
	for (i = 0; i < 100000; i++)
		strbuf_putc(&b, '[');
	assert_false(strbuf_failed(&b));
	assert_null(kibana_json_load(b.buf, b.len, err, sizeof(err)));
	assert_non_null(strstr(err, "malformed JSON"));
	strbuf_free(&b);
}

static void
test_json_strdup(void **state)
{
	json_t *s;
	char *c;

	(void)state;
	s = json_stringn("a\0b\0", 4);
	assert_non_null(s);
	c = kibana_json_strdup(s);
	assert_non_null(c);
	assert_string_equal(c, "a" FFFD "b" FFFD);
	free(c);
	json_decref(s);

	s = json_integer(1);
	assert_null(kibana_json_strdup(s));
	json_decref(s);
	assert_null(kibana_json_strdup(NULL));
}

enum parser { P_CONNECTORS, P_TYPES, P_SPACES, P_RULES };

struct bad_case {
	enum parser p;
	const char *body;
	const char *err;	/* expected err, exactly */
};

static const struct bad_case bad_cases[] = {
	/* connectors */
	{ P_CONNECTORS, "{\"statusCode\":401,\"error\":\"Unauthorized\","
	    "\"message\":\"Unauthorized\"}",
	    "expected a JSON array, got a Kibana error envelope" },
	{ P_CONNECTORS, "{}", "expected a JSON array" },
	{ P_CONNECTORS, "[1]", "[0]: expected object" },
	{ P_CONNECTORS, "[null]", "[0]: expected object" },
	{ P_CONNECTORS, "[{\"name\":\"a\",\"connector_type_id\":\".x\"}]",
	    "[0].id: expected non-empty string" },
	{ P_CONNECTORS, "[{\"id\":\"\",\"name\":\"a\",\"connector_type_id\":\".x\"}]",
	    "[0].id: expected non-empty string" },
	{ P_CONNECTORS, "[{\"id\":5,\"name\":\"a\",\"connector_type_id\":\".x\"}]",
	    "[0].id: expected non-empty string" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"connector_type_id\":\".x\"}]",
	    "[0].name: expected string" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":null,\"connector_type_id\":\".x\"}]",
	    "[0].name: expected string" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"SECRET\"}]",
	    "[0].connector_type_id: expected non-empty string" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":7,"
	    "\"actionTypeId\":\".x\"}]",
	    "[0].connector_type_id: expected non-empty string" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"actionTypeId\":[]}]",
	    "[0].actionTypeId: expected non-empty string" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\"},"
	    "{\"id\":\"b\",\"name\":\"b\",\"connector_type_id\":\".x\"},"
	    "{\"id\":\"c\",\"name\":\"c\",\"connector_type_id\":\".x\"},"
	    "{\"id\":\"d\",\"name\":\"d\",\"connector_type_id\":\".x\","
	    "\"is_preconfigured\":\"true\"}]",
	    "[3].is_preconfigured: expected boolean" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"is_deprecated\":1}]", "[0].is_deprecated: expected boolean" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"is_system_action\":null}]",
	    "[0].is_system_action: expected boolean" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"is_missing_secrets\":\"SECRET\"}]",
	    "[0].is_missing_secrets: expected boolean" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"isPreconfigured\":0}]", "[0].isPreconfigured: expected boolean" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"referenced_by_count\":-1}]",
	    "[0].referenced_by_count: expected non-negative integer" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"referenced_by_count\":1.5}]",
	    "[0].referenced_by_count: expected non-negative integer" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"referenced_by_count\":-0.5}]",
	    "[0].referenced_by_count: expected non-negative integer" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"referenced_by_count\":1e300}]",
	    "[0].referenced_by_count: expected non-negative integer" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"referenced_by_count\":\"3\"}]",
	    "[0].referenced_by_count: expected non-negative integer" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"referenced_by_count\":true}]",
	    "[0].referenced_by_count: expected non-negative integer" },
	{ P_CONNECTORS, "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\"}",
	    "malformed JSON: premature end of input at line 1 column 47" },
	{ P_CONNECTORS, "", "empty body" },
	{ P_CONNECTORS, "null", NULL },
	{ P_CONNECTORS, "\"[]\"", NULL },
	{ P_CONNECTORS, "[]]", NULL },
	{ P_CONNECTORS, "<html><body>502 Bad Gateway</body></html>", NULL },
	{ P_CONNECTORS, "[{\"id\":\"a\",}]", NULL },
	{ P_CONNECTORS, "[{'id':'a'}]", NULL },
	/* connector types */
	{ P_TYPES, "{\"statusCode\":404,\"error\":\"Not Found\",\"message\":\"Not Found\"}",
	    "expected a JSON array, got a Kibana error envelope" },
	{ P_TYPES, "[{\"id\":\".a\"}]", "[0].enabled: missing boolean" },
	{ P_TYPES, "[{\"id\":\".a\",\"enabled\":\"true\"}]",
	    "[0].enabled: expected boolean" },
	{ P_TYPES, "[{\"id\":\".a\",\"enabled\":true,\"enabled_in_config\":1}]",
	    "[0].enabled_in_config: expected boolean" },
	{ P_TYPES, "[{\"id\":\".a\",\"enabled\":true,\"enabled_in_license\":null}]",
	    "[0].enabled_in_license: expected boolean" },
	{ P_TYPES, "[{\"id\":\".a\",\"enabled\":true,"
	    "\"minimum_license_required\":5}]",
	    "[0].minimum_license_required: expected string" },
	{ P_TYPES, "[{\"id\":\".a\",\"enabled\":true},{\"enabled\":true}]",
	    "[1].id: expected non-empty string" },
	{ P_TYPES, "[\".webhook\"]", "[0]: expected object" },
	/* spaces */
	{ P_SPACES, "[{\"name\":\"x\"}]", "[0].id: expected non-empty string" },
	{ P_SPACES, "[{\"id\":\"default\"},{\"id\":\"\"}]",
	    "[1].id: expected non-empty string" },
	{ P_SPACES, "[\"default\"]", "[0]: expected object" },
	{ P_SPACES, "{\"statusCode\":403,\"error\":\"Forbidden\",\"message\":\"Forbidden\"}",
	    "expected a JSON array, got a Kibana error envelope" },
	/* rules */
	{ P_RULES, "[]", "expected a JSON object" },
	{ P_RULES, "{\"statusCode\":404,\"error\":\"Not Found\",\"message\":\"Not Found\"}",
	    "expected a JSON object, got a Kibana error envelope" },
	{ P_RULES, "{\"per_page\":100,\"total\":0,\"data\":[]}",
	    "page: missing integer" },
	{ P_RULES, "{\"page\":1,\"per_page\":\"100\",\"total\":0,\"data\":[]}",
	    "per_page: expected non-negative integer" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":-1,\"data\":[]}",
	    "total: expected non-negative integer" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":0}",
	    "data: expected array" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":0,\"data\":{}}",
	    "data: expected array" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":1,\"data\":[1]}",
	    "data[0]: expected object" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":1,\"data\":"
	    "[{\"name\":\"r\"}]}", "data[0].id: expected non-empty string" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":1,\"data\":"
	    "[{\"id\":\"r\"}]}", "data[0].name: expected string" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":1,\"data\":"
	    "[{\"id\":\"r\",\"name\":\"r\",\"actions\":{}}]}",
	    "data[0].actions: expected array" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":1,\"data\":"
	    "[{\"id\":\"r\",\"name\":\"r\",\"actions\":null}]}",
	    "data[0].actions: expected array" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":1,\"data\":"
	    "[{\"id\":\"r\",\"name\":\"r\",\"actions\":[\"c\"]}]}",
	    "data[0].actions[0]: expected object" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":1,\"data\":"
	    "[{\"id\":\"r\",\"name\":\"r\",\"actions\":[{\"group\":\"g\"}]}]}",
	    "data[0].actions[0].id: expected non-empty string" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":2,\"data\":["
	    "{\"id\":\"r\",\"name\":\"r\",\"actions\":[{\"id\":\"c\"}]},"
	    "{\"id\":\"s\",\"name\":\"s\",\"actions\":[{\"id\":\"c\"},"
	    "{\"id\":\"d\"},{\"id\":5}]}]}",
	    "data[1].actions[2].id: expected non-empty string" },
	{ P_RULES, "{\"page\":1,\"per_page\":100,\"total\":0,\"data\":[]",
	    NULL },
};

static int
run_parser(enum parser p, const char *body, size_t len, char *err,
    size_t errsz)
{
	struct kibana_connector_list cl = { (void *)0x1, 42 };
	struct kibana_connector_type_list tl = { (void *)0x1, 42 };
	struct kibana_space_list sl = { (void *)0x1, 42 };
	struct kibana_rules_page rp;
	int r = 0;

	memset(&rp, 0, sizeof(rp));
	rp.v = (void *)0x1;
	rp.n = 42;
	switch (p) {
	case P_CONNECTORS:
		r = kibana_parse_connectors(body, len, &cl, err, errsz);
		if (r == 0)
			kibana_connector_list_free(&cl);
		else
			assert_true(cl.v == (void *)0x1 && cl.n == 42);
		break;
	case P_TYPES:
		r = kibana_parse_connector_types(body, len, &tl, err, errsz);
		if (r == 0)
			kibana_connector_type_list_free(&tl);
		else
			assert_true(tl.v == (void *)0x1 && tl.n == 42);
		break;
	case P_SPACES:
		r = kibana_parse_spaces(body, len, &sl, err, errsz);
		if (r == 0)
			kibana_space_list_free(&sl);
		else
			assert_true(sl.ids == (void *)0x1 && sl.n == 42);
		break;
	case P_RULES:
		r = kibana_parse_rules_page(body, len, &rp, err, errsz);
		if (r == 0)
			kibana_rules_page_free(&rp);
		else
			assert_true(rp.v == (void *)0x1 && rp.n == 42);
		break;
	}
	return r;
}

static void
test_bad_bodies(void **state)
{
	char err[128];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < ELEMENTSOF(bad_cases); i++) {
		memset(err, 'X', sizeof(err));
		r = run_parser(bad_cases[i].p, bad_cases[i].body,
		    strlen(bad_cases[i].body), err, sizeof(err));
		if (r != -EBADMSG)
			fail_msg("case %zu: r=%d", i, r);
		assert_non_null(memchr(err, '\0', sizeof(err)));
		assert_true(err[0] != '\0');
		assert_null(strstr(err, "SECRET"));
		assert_true(utf8_valid(err));
		if (bad_cases[i].err != NULL &&
		    strcmp(err, bad_cases[i].err) != 0)
			fail_msg("case %zu: err '%s', want '%s'", i, err,
			    bad_cases[i].err);
	}
}

static void
test_error_envelope_fixtures(void **state)
{
	static const char *const files[] = { "error_401.json", "error_404.json" };
	char err[128], *body;
	size_t i, len;
	int p;

	(void)state;
	for (i = 0; i < ELEMENTSOF(files); i++) {
		body = read_fixture(files[i], &len);
		for (p = P_CONNECTORS; p <= P_RULES; p++) {
			assert_int_equal(run_parser((enum parser)p, body, len,
			    err, sizeof(err)), -EBADMSG);
			assert_non_null(strstr(err, "got a Kibana error envelope"));
			assert_null(strstr(err, "Unauthorized"));
		}
		free(body);
	}
}

/* Every proper prefix of a good body is malformed and leaks nothing. */
static void
test_truncated_fixtures(void **state)
{
	static const struct {
		const char *file;
		enum parser p;
	} files[] = {
		{ "connectors_9_x.json", P_CONNECTORS },
		{ "connector_types_9_x.json", P_TYPES },
		{ "spaces.json", P_SPACES },
		{ "rules_page_1.json", P_RULES },
	};
	char err[128], *body, *end;
	size_t i, n, len;

	(void)state;
	for (i = 0; i < ELEMENTSOF(files); i++) {
		body = read_fixture(files[i].file, &len);
		end = strrchr(body, files[i].p == P_RULES ? '}' : ']');
		assert_non_null(end);
		for (n = 0; n < (size_t)(end - body); n++)
			if (run_parser(files[i].p, body, n, err,
			    sizeof(err)) != -EBADMSG)
				fail_msg("%s: prefix %zu parsed", files[i].file,
				    n);
		assert_int_equal(run_parser(files[i].p, body,
		    (size_t)(end - body) + 1, err, sizeof(err)), 0);
		free(body);
	}
}

static void
test_err_buffer(void **state)
{
	struct kibana_connector_list l;
	const char *body = "[{\"id\":\"a\",\"name\":\"a\",\"connector_type_id\":\".x\","
	    "\"is_preconfigured\":\"true\"}]";
	char err[16];
	size_t len = strlen(body);

	(void)state;
	memset(err, 'X', sizeof(err));
	assert_int_equal(kibana_parse_connectors(body, len, &l, err, 8),
	    -EBADMSG);
	assert_string_equal(err, "[0].is_");
	assert_int_equal(err[8], 'X');

	memset(err, 'X', sizeof(err));
	assert_int_equal(kibana_parse_connectors(body, len, &l, err, 1),
	    -EBADMSG);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'X');

	assert_int_equal(kibana_parse_connectors(body, len, &l, NULL, 0),
	    -EBADMSG);
	assert_null(kibana_json_load("[", 1, NULL, 0));
	assert_int_equal(kibana_parse_rules_page("[", 1, NULL, NULL, 0),
	    -EBADMSG);
}

static void
test_space_path(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb);
	assert_int_equal(kibana_space_path(&sb, "default",
	    "/api/actions/connectors"), 0);
	assert_string_equal(strbuf_str(&sb), "/api/actions/connectors");

	strbuf_reset(&sb);
	assert_int_equal(kibana_space_path(&sb, "ops",
	    "/api/actions/connectors"), 0);
	assert_string_equal(strbuf_str(&sb), "/s/ops/api/actions/connectors");

	strbuf_reset(&sb);
	assert_int_equal(kibana_space_path(&sb, "marketing-eu_1",
	    "/api/alerting/rules/_find?per_page=100&page=2"), 0);
	assert_string_equal(strbuf_str(&sb),
	    "/s/marketing-eu_1/api/alerting/rules/_find?per_page=100&page=2");

	strbuf_reset(&sb);
	assert_int_equal(kibana_space_path(&sb, "a b/../c?d%e.f\xc3\xa9",
	    "/api/spaces/space"), 0);
	assert_string_equal(strbuf_str(&sb),
	    "/s/a%20b%2F%2E%2E%2Fc%3Fd%25e%2Ef%C3%A9/api/spaces/space");

	/* It appends. */
	strbuf_reset(&sb);
	strbuf_puts(&sb, "https://kibana:5601");
	assert_int_equal(kibana_space_path(&sb, "Default", "/api/x"), 0);
	assert_string_equal(strbuf_str(&sb), "https://kibana:5601/s/Default/api/x");

	strbuf_reset(&sb);
	assert_int_equal(kibana_space_path(&sb, "", "/api/x"), -EINVAL);
	assert_int_equal(kibana_space_path(&sb, NULL, "/api/x"), -EINVAL);
	assert_int_equal(kibana_space_path(&sb, "ops", "api/x"), -EINVAL);
	assert_int_equal(kibana_space_path(&sb, "ops", NULL), -EINVAL);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_free(&sb);
}

static void
test_rules_pages(void **state)
{
	(void)state;
	assert_int_equal(kibana_rules_pages(0, 100), 1);
	assert_int_equal(kibana_rules_pages(-5, 100), 1);
	assert_int_equal(kibana_rules_pages(1, 100), 1);
	assert_int_equal(kibana_rules_pages(100, 100), 1);
	assert_int_equal(kibana_rules_pages(101, 100), 2);
	assert_int_equal(kibana_rules_pages(250, 100), 3);
	assert_int_equal(kibana_rules_pages(3, 2), 2);
	assert_int_equal(kibana_rules_pages(7, 1), 7);
	assert_int_equal(kibana_rules_pages(250, 0), 3);
	assert_int_equal(kibana_rules_pages(250, -1), 3);
	assert_int_equal(kibana_rules_pages(250, INT64_MIN), 3);
	assert_int_equal(kibana_rules_pages(1000000, 100), 10000);
	assert_int_equal(kibana_rules_pages(1000001, 100), 10000);
	assert_int_equal(kibana_rules_pages(INT64_MAX, 1), 10000);
	assert_int_equal(kibana_rules_pages(INT64_MAX, INT64_MAX), 1);
	assert_int_equal(kibana_rules_pages(10, INT64_MAX), 1);
}

static void
test_system_connector_id(void **state)
{
	(void)state;
	assert_true(kibana_is_system_connector_id("system-connector-.cases"));
	assert_true(kibana_is_system_connector_id("system-connector-"));
	assert_false(kibana_is_system_connector_id("system-connector"));
	assert_false(kibana_is_system_connector_id("ops-slack"));
	assert_false(kibana_is_system_connector_id(""));
	assert_false(kibana_is_system_connector_id(NULL));
	assert_false(kibana_is_system_connector_id("System-connector-.cases"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connectors_7_10_legacy),
		cmocka_unit_test(test_connectors_7_17),
		cmocka_unit_test(test_connectors_8_2),
		cmocka_unit_test(test_connectors_8_9),
		cmocka_unit_test(test_connectors_8_17),
		cmocka_unit_test(test_connectors_9_x),
		cmocka_unit_test(test_connectors_empty_and_counts),
		cmocka_unit_test(test_connector_types_8_0),
		cmocka_unit_test(test_connector_types_9_x),
		cmocka_unit_test(test_connector_types_defaults),
		cmocka_unit_test(test_spaces),
		cmocka_unit_test(test_rules_pages_fixtures),
		cmocka_unit_test(test_rules_page_variants),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_hostile_string_state),
		cmocka_unit_test(test_hostile_big_name),
		cmocka_unit_test(test_json_load),
		cmocka_unit_test(test_json_load_deep),
		cmocka_unit_test(test_json_strdup),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_error_envelope_fixtures),
		cmocka_unit_test(test_truncated_fixtures),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_space_path),
		cmocka_unit_test(test_rules_pages),
		cmocka_unit_test(test_system_connector_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
