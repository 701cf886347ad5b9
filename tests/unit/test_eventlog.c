/*
 * test_eventlog.c: the event-log searches as data (eventlog_es.c): request
 * bodies, and the classification and parsing of every Elasticsearch answer
 * shape (fixtures in data/eventlog/, produced by tests/fakes/fake_es.py
 * from the queries the daemon sends; reference sections 11-13).
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
#include <jansson.h>

#include "eventlog_es.h"
#include "util.h"

static FILE *
open_fixture(const char *name, struct strbuf *path)
{
	const char *dir = getenv("KCM_TEST_DATA"), *slash;
	FILE *f;

	if (dir != NULL) {
		strbuf_printf(path, "%s/eventlog/%s", dir, name);
		if ((f = fopen(strbuf_str(path), "rb")) != NULL)
			return f;
		strbuf_reset(path);
	}
	slash = strrchr(__FILE__, '/');
	if (slash != NULL)
		strbuf_append(path, __FILE__, (size_t)(slash - __FILE__) + 1);
	strbuf_printf(path, "data/eventlog/%s", name);
	return fopen(strbuf_str(path), "rb");
}

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
		fail_msg("cannot open fixture %s (%s)", name, strbuf_str(&path));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		strbuf_append(&data, chunk, n);
	fclose(f);
	strbuf_free(&path);
	*ret_len = data.len;
	return strbuf_steal(&data);
}

static void
parse_fixture(const char *name, long status, struct eventlog_result *r)
{
	char err[128];
	size_t len;
	char *body = read_fixture(name, &len);

	assert_int_equal(eventlog_parse_count(status, body, len, r, err,
	    sizeof(err)), 0);
	free(body);
}

static const struct eventlog_bucket *
find(const struct eventlog_result *r, const char *id, const char *space)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i].connector_id, id) == 0 &&
		    strcmp(r->v[i].space, space) == 0)
			return &r->v[i];
	return NULL;
}

static void
test_count_mixed(void **state)
{
	struct eventlog_result r;
	const struct eventlog_bucket *b;

	(void)state;
	parse_fixture("count_mixed.json", 200, &r);
	assert_int_equal(r.reason, EVENTLOG_OK);
	assert_int_equal(r.shards_total, 3);
	assert_int_equal(r.n, 5);

	b = find(&r, "legacy-1", "default");	/* 8.5: nested only */
	assert_non_null(b);
	assert_string_equal(b->type_id, ".slack");
	assert_null(b->namespace);
	assert_false(b->space_agnostic);
	assert_int_equal(b->count[EVENTLOG_SUCCESS], 1);
	assert_int_equal(b->count[EVENTLOG_FAILURE], 1);
	assert_int_equal(b->count[EVENTLOG_TIMEOUT], 0);
	assert_true(b->last[EVENTLOG_FAILURE] > 1741616550.0 &&
	    b->last[EVENTLOG_FAILURE] < 1741616550.6);

	b = find(&r, "pd-1", "sec");		/* 9.x, non-default space */
	assert_non_null(b);
	assert_string_equal(b->namespace, "sec");
	assert_int_equal(b->count[EVENTLOG_FAILURE], 1);
	assert_int_equal(b->count[EVENTLOG_TIMEOUT], 1);
	assert_true(b->last[EVENTLOG_TIMEOUT] > 0);

	b = find(&r, "hook-1", "ops");
	assert_non_null(b);
	assert_int_equal(b->count[EVENTLOG_SUCCESS], 1);

	/* preconfigured: two buckets (namespace differs), both space "*" */
	assert_int_equal(r.v[3].space_agnostic, true);
	assert_string_equal(r.v[3].space, "*");
	assert_string_equal(r.v[4].space, "*");
	assert_int_equal(r.v[3].count[EVENTLOG_SUCCESS] +
	    r.v[4].count[EVENTLOG_SUCCESS], 1);
	assert_int_equal(r.v[3].count[EVENTLOG_FAILURE] +
	    r.v[4].count[EVENTLOG_FAILURE], 1);

	assert_non_null(r.after_key);
	assert_non_null(strstr(r.after_key, "\"pre-1\""));
	eventlog_result_free(&r);
	eventlog_result_free(&r);	/* idempotent */
}

static void
test_count_page(void **state)
{
	struct eventlog_result r;
	struct strbuf sb;
	json_t *q, *after;

	(void)state;
	parse_fixture("count_page1.json", 200, &r);
	assert_int_equal(r.reason, EVENTLOG_OK);
	assert_int_equal(r.n, 2);
	assert_non_null(r.after_key);

	/* the next page carries it verbatim in composite.after */
	strbuf_init(&sb);
	assert_int_equal(eventlog_build_count_query(&sb, 1000, 2000,
	    r.after_key, 2), 0);
	q = json_loads(strbuf_str(&sb), 0, NULL);
	assert_non_null(q);
	after = json_object_get(json_object_get(json_object_get(json_object_get(
	    json_object_get(json_object_get(json_object_get(json_object_get(q,
	    "aggs"), "so"), "aggs"), "actions"), "aggs"), "connectors"),
	    "composite"), "after");
	assert_string_equal(json_string_value(json_object_get(after, "id")),
	    "legacy-1");
	assert_true(json_is_null(json_object_get(after, "namespace")));
	json_decref(q);
	strbuf_free(&sb);
	eventlog_result_free(&r);
}

static void
test_count_query_shape(void **state)
{
	struct strbuf sb;
	json_t *q, *f, *rng, *nested, *comp;

	(void)state;
	strbuf_init(&sb);
	assert_int_equal(eventlog_build_count_query(&sb, 1741615651512,
	    1741616521512, NULL, EVENTLOG_PAGE_SIZE), 0);
	q = json_loads(strbuf_str(&sb), 0, NULL);
	assert_non_null(q);
	assert_int_equal(json_integer_value(json_object_get(q, "size")), 0);
	f = json_object_get(json_object_get(json_object_get(q, "query"), "bool"),
	    "filter");
	assert_int_equal(json_array_size(f), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_array_get(f, 0), "term"), "event.provider")), "actions");
	rng = json_object_get(json_object_get(json_object_get(json_array_get(f,
	    1), "range"), "@timestamp"), "gte");
	assert_int_equal(json_integer_value(rng), 1741615651512);
	rng = json_object_get(json_object_get(json_object_get(json_array_get(f,
	    1), "range"), "@timestamp"), "lt");
	assert_int_equal(json_integer_value(rng), 1741616521512);
	nested = json_object_get(json_object_get(q, "aggs"), "so");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    nested, "nested"), "path")), "kibana.saved_objects");
	comp = json_object_get(json_object_get(json_object_get(json_object_get(
	    json_object_get(nested, "aggs"), "actions"), "aggs"), "connectors"),
	    "composite");
	assert_int_equal(json_integer_value(json_object_get(comp, "size")),
	    EVENTLOG_PAGE_SIZE);
	assert_null(json_object_get(comp, "after"));
	assert_int_equal(json_array_size(json_object_get(comp, "sources")), 4);
	/* no aggregation on a text field anywhere */
	assert_null(strstr(strbuf_str(&sb), "\"field\":\"message\""));
	assert_null(strstr(strbuf_str(&sb), "\"field\":\"error.message\""));
	json_decref(q);
	strbuf_free(&sb);
}

static void
test_failure_query_shape(void **state)
{
	struct strbuf sb;
	json_t *q;

	(void)state;
	strbuf_init(&sb);
	assert_int_equal(eventlog_build_failure_query(&sb, 1, 2,
	    "id\"with\\quotes", "space-1", false), 0);
	q = json_loads(strbuf_str(&sb), 0, NULL);
	assert_non_null(q);
	assert_int_equal(json_integer_value(json_object_get(q, "size")), 1);
	assert_non_null(strstr(strbuf_str(&sb), "\"id\\\"with\\\\quotes\""));
	assert_non_null(strstr(strbuf_str(&sb),
	    "{\"term\":{\"kibana.saved_objects.namespace\":\"space-1\"}}"));
	json_decref(q);
	strbuf_reset(&sb);
	assert_int_equal(eventlog_build_failure_query(&sb, 1, 2, "x", NULL,
	    false), 0);
	assert_non_null(strstr(strbuf_str(&sb),
	    "{\"exists\":{\"field\":\"kibana.saved_objects.namespace\"}}"));
	q = json_loads(strbuf_str(&sb), 0, NULL);
	assert_non_null(q);
	json_decref(q);
	strbuf_reset(&sb);
	assert_int_equal(eventlog_build_failure_query(&sb, 1, 2, "x", "ops",
	    true), 0);
	assert_null(strstr(strbuf_str(&sb), "namespace"));
	q = json_loads(strbuf_str(&sb), 0, NULL);
	assert_non_null(q);
	json_decref(q);
	strbuf_free(&sb);
}

struct blind_case {
	const char		*fixture;
	long			 status;
	enum eventlog_reason	 reason;
	const char		*type;		/* error_type or NULL */
};

static void
test_blind_answers(void **state)
{
	static const struct blind_case cases[] = {
		{ "zero_shards.json", 200, EVENTLOG_NO_SHARDS, NULL },
		{ "no_aggregations.json", 200, EVENTLOG_NO_AGGREGATIONS, NULL },
		{ "index_not_found.json", 404, EVENTLOG_INDEX_NOT_FOUND,
		    "index_not_found_exception" },
		{ "security_401.json", 401, EVENTLOG_SECURITY, "security_exception" },
		{ "security_403.json", 403, EVENTLOG_SECURITY, "security_exception" },
		{ "search_phase_400.json", 400, EVENTLOG_SEARCH_PHASE,
		    "search_phase_execution_exception" },
		{ "partial_shards.json", 200, EVENTLOG_SHARD_FAILURES,
		    "node_disconnected_exception" },
		{ "truncated.json", 200, EVENTLOG_INVALID_RESPONSE, NULL },
		{ "count_mixed.json", 503, EVENTLOG_HTTP_ERROR, NULL },
	};
	struct eventlog_result r;
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		parse_fixture(cases[i].fixture, cases[i].status, &r);
		if (r.reason != cases[i].reason)
			fail_msg("%s: reason %s, want %s", cases[i].fixture,
			    eventlog_reason_to_string(r.reason),
			    eventlog_reason_to_string(cases[i].reason));
		assert_int_equal(r.n, 0);
		if (cases[i].type != NULL)
			assert_string_equal(r.error_type, cases[i].type);
		eventlog_result_free(&r);
	}
	/* the partial answer reports its failed shard count */
	parse_fixture("partial_shards.json", 200, &r);
	assert_int_equal(r.shards_failed, 1);
	assert_int_equal(r.shards_total, 3);
	eventlog_result_free(&r);
	/* the fielddata root cause is what gets logged */
	parse_fixture("search_phase_400.json", 400, &r);
	assert_non_null(strstr(r.error_reason, "Fielddata is disabled"));
	assert_true(strlen(r.error_reason) <= 300);
	eventlog_result_free(&r);
	/* transport */
	assert_int_equal(eventlog_parse_count(0, NULL, 0, &r, NULL, 0), 0);
	assert_int_equal(r.reason, EVENTLOG_TRANSPORT);
	eventlog_result_free(&r);
}

static void
test_hostile(void **state)
{
	struct eventlog_result r;

	(void)state;
	parse_fixture("hostile.json", 200, &r);
	/* doc_count out of range for int64: rejected, nothing counted */
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);

	parse_fixture("hostile_names.json", 200, &r);
	assert_int_equal(r.reason, EVENTLOG_OK);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].count[EVENTLOG_FAILURE], 3);
	assert_null(r.v[0].namespace);	/* "" is no namespace */
	{
		assert_string_equal(r.v[0].space, "*");	/* "true" string */
		/* the NUL inside the id became U+FFFD, nothing was cut */
		assert_string_equal(r.v[0].connector_id, "a\xef\xbf\xbd" "b\"\n");
	}
	eventlog_result_free(&r);
}

/*
 * One connector bucket with the given JSON number texts: _shards.total,
 * _shards.failed, the execute action's doc_count, its failure outcome's
 * doc_count and "last" value.
 */
static void
parse_counts(const char *total, const char *failed, const char *action,
    const char *failure, const char *last, struct eventlog_result *r)
{
	char body[1024], err[128];
	int n;

	n = snprintf(body, sizeof(body),
	    "{\"_shards\":{\"total\":%s,\"failed\":%s},\"aggregations\":{\"so\":"
	    "{\"actions\":{\"connectors\":{\"buckets\":[{\"key\":{\"id\":\"c1\","
	    "\"type_id\":\".webhook\",\"namespace\":null,\"space_agnostic\":null},"
	    "\"events\":{\"action\":{\"buckets\":[{\"key\":\"execute\","
	    "\"doc_count\":%s,\"outcome\":{\"buckets\":[{\"key\":\"failure\","
	    "\"doc_count\":%s,\"last\":{\"value\":%s}}]}}]}}}]}}}}}",
	    total, failed, action, failure, last);
	assert_true(n > 0 && (size_t)n < sizeof(body));
	assert_int_equal(eventlog_parse_count(200, body, (size_t)n, r, err,
	    sizeof(err)), 0);
	if (r->reason == EVENTLOG_INVALID_RESPONSE)	/* says why */
		assert_true(err[0] != '\0');
}

static void
test_count_ranges(void **state)
{
	static const struct {
		const char	*failure;	/* doc_count text */
		bool		 ok;
		uint64_t	 want;
	} cases[] = {
		{ "7", true, 7 },
		{ "0", true, 0 },
		{ "7.0", true, 7 },
		{ "7e0", true, 7 },
		{ "-0.0", true, 0 },
		{ "9223372036854775807", true, INT64_MAX },
		{ "9007199254740992.0", true, UINT64_C(1) << 53 },
		{ "-1", false, 0 },		/* ES never sends one */
		{ "-9223372036854775808", false, 0 },
		{ "7.5", false, 0 },
		{ "1e300", false, 0 },		/* no UB: never converted */
		{ "9007199254740994.0", false, 0 },	/* above 2^53 */
		{ "18446744073709551616.0", false, 0 },
		{ "9223372036854775808", false, 0 },	/* jansson: too big */
		{ "1e400", false, 0 },		/* jansson: overflow */
		{ "\"7\"", false, 0 },
		{ "null", false, 0 },
		{ "true", false, 0 },
	};
	struct eventlog_result r;
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		parse_counts("1", "0", "1", cases[i].failure, "1000", &r);
		if ((r.reason == EVENTLOG_OK) != cases[i].ok)
			fail_msg("doc_count %s: reason %s", cases[i].failure,
			    eventlog_reason_to_string(r.reason));
		if (cases[i].ok) {
			assert_int_equal(r.n, 1);
			assert_true(r.v[0].count[EVENTLOG_FAILURE] ==
			    cases[i].want);
		} else {
			assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
			assert_int_equal(r.n, 0);
		}
		eventlog_result_free(&r);
	}
	/* the action-level doc_count is checked the same way */
	parse_counts("1", "0", "-1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);
	parse_counts("1", "0", "0.5", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);

	/* _shards: negative or fractional is invalid, not "no shards" */
	parse_counts("-1", "0", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);
	parse_counts("2.5", "0", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);
	parse_counts("1e300", "0", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);
	parse_counts("0", "0", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_NO_SHARDS);
	eventlog_result_free(&r);
	parse_counts("2.0", "0", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_OK);
	assert_int_equal(r.shards_total, 2);
	eventlog_result_free(&r);
	parse_counts("2", "-1", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);
	parse_counts("2", "\"1\"", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_INVALID_RESPONSE);
	eventlog_result_free(&r);
	parse_counts("2", "1.0", "1", "1", "1000", &r);
	assert_int_equal(r.reason, EVENTLOG_SHARD_FAILURES);
	assert_int_equal(r.shards_failed, 1);
	eventlog_result_free(&r);

	/* timestamps: finite and after the epoch, else "none" (0) */
	parse_counts("1", "0", "1", "1", "-5000", &r);
	assert_int_equal(r.reason, EVENTLOG_OK);
	assert_true(r.v[0].last[EVENTLOG_FAILURE] == 0);
	eventlog_result_free(&r);
	parse_counts("1", "0", "1", "1", "null", &r);
	assert_true(r.v[0].last[EVENTLOG_FAILURE] == 0);
	eventlog_result_free(&r);
	parse_counts("1", "0", "1", "1", "1.7e308", &r);
	assert_true(r.v[0].last[EVENTLOG_FAILURE] > 1e300);
	eventlog_result_free(&r);
}

/* A key repeated inside one bucket adds up, saturating, never wrapping. */
static void
test_count_saturates(void **state)
{
	static const char body[] =
	    "{\"_shards\":{\"total\":1,\"failed\":0},\"aggregations\":{\"so\":"
	    "{\"actions\":{\"connectors\":{\"buckets\":[{\"key\":{\"id\":\"c1\","
	    "\"type_id\":\".webhook\",\"namespace\":null,\"space_agnostic\":null},"
	    "\"events\":{\"action\":{\"buckets\":["
	    "{\"key\":\"execute-timeout\",\"doc_count\":9223372036854775807,"
	    "\"last\":{\"value\":2000}},"
	    "{\"key\":\"execute-timeout\",\"doc_count\":9223372036854775807,"
	    "\"last\":{\"value\":1000}},"
	    "{\"key\":\"execute\",\"doc_count\":1,\"outcome\":{\"buckets\":["
	    "{\"key\":\"failure\",\"doc_count\":9223372036854775807},"
	    "{\"key\":\"failure\",\"doc_count\":9223372036854775807},"
	    "{\"key\":\"failure\",\"doc_count\":2},"
	    "{\"key\":\"success\",\"doc_count\":3}]}}]}}}]}}}}}";
	struct eventlog_result r;
	char err[128];

	(void)state;
	assert_int_equal(eventlog_parse_count(200, body, sizeof(body) - 1, &r,
	    err, sizeof(err)), 0);
	assert_int_equal(r.reason, EVENTLOG_OK);
	assert_int_equal(r.n, 1);
	/* 2 * (2^63 - 1) still fits */
	assert_true(r.v[0].count[EVENTLOG_TIMEOUT] == UINT64_MAX - 1);
	assert_true(r.v[0].last[EVENTLOG_TIMEOUT] == 2.0);	/* the newest */
	assert_true(r.v[0].count[EVENTLOG_FAILURE] == EVENTLOG_COUNT_MAX);
	assert_true(r.v[0].count[EVENTLOG_SUCCESS] == 3);
	eventlog_result_free(&r);
}

#define AK(id, tid, ns, sa) "{\"id\":" id ",\"type_id\":" tid \
	",\"namespace\":" ns ",\"space_agnostic\":" sa "}"

static void
want_order(const char *lo, const char *hi)
{
	if (eventlog_after_key_check(lo, hi) != 0)
		fail_msg("%s should advance past %s", hi, lo);
	if (eventlog_after_key_check(hi, lo) != -EBADMSG)
		fail_msg("%s should not advance past %s", lo, hi);
	assert_int_equal(eventlog_after_key_check(lo, lo), -EBADMSG);
	assert_int_equal(eventlog_after_key_check(hi, hi), -EBADMSG);
}

static void
test_after_key_order(void **state)
{
	const char *base = AK("\"b\"", "\"b\"", "\"b\"", "false");

	(void)state;
	/* equal keys never advance, also when written differently */
	assert_int_equal(eventlog_after_key_check(base, base), -EBADMSG);
	assert_int_equal(eventlog_after_key_check(base,
	    "{ \"space_agnostic\" : false, \"namespace\":\"b\","
	    "\"type_id\":\"b\",\"id\":\"b\" }"), -EBADMSG);

	/* each source position, forward and back */
	want_order(base, AK("\"c\"", "\"b\"", "\"b\"", "false"));
	want_order(AK("\"a\"", "\"b\"", "\"b\"", "false"), base);
	want_order(base, AK("\"b\"", "\"c\"", "\"b\"", "false"));
	want_order(AK("\"b\"", "\"a\"", "\"b\"", "false"), base);
	want_order(base, AK("\"b\"", "\"b\"", "\"c\"", "false"));
	want_order(AK("\"b\"", "\"b\"", "\"a\"", "false"), base);
	want_order(base, AK("\"b\"", "\"b\"", "\"b\"", "true"));
	/* an earlier source decides, whatever the later ones do */
	want_order(AK("\"a\"", "\"z\"", "\"z\"", "true"),
	    AK("\"b\"", "\"a\"", "null", "null"));
	want_order(AK("\"b\"", "\"a\"", "\"z\"", "true"),
	    AK("\"b\"", "\"b\"", "null", "null"));
	want_order(AK("\"b\"", "\"b\"", "\"a\"", "true"),
	    AK("\"b\"", "\"b\"", "\"b\"", "null"));

	/* missing_bucket: null first, before "" and false */
	want_order(AK("\"b\"", "null", "\"b\"", "false"),
	    AK("\"b\"", "\"\"", "\"b\"", "false"));
	want_order(AK("\"b\"", "\"b\"", "null", "true"),
	    AK("\"b\"", "\"b\"", "\"\"", "false"));
	want_order(AK("\"b\"", "\"b\"", "\"b\"", "null"), base);
	assert_int_equal(eventlog_after_key_check(
	    AK("\"b\"", "null", "null", "null"),
	    AK("\"b\"", "null", "null", "null")), -EBADMSG);

	/* booleans */
	want_order(AK("\"b\"", "\"b\"", "\"b\"", "false"),
	    AK("\"b\"", "\"b\"", "\"b\"", "true"));

	/* byte order: a prefix first, then UTF-8 binary order */
	want_order(AK("\"\"", "null", "null", "null"),
	    AK("\"a\"", "null", "null", "null"));
	want_order(AK("\"a\"", "null", "null", "null"),
	    AK("\"ab\"", "null", "null", "null"));
	want_order(AK("\"a\"", "null", "null", "null"),
	    AK("\"a\\u0000\"", "null", "null", "null"));
	want_order(AK("\"B\"", "null", "null", "null"),
	    AK("\"a\"", "null", "null", "null"));
	want_order(AK("\"z\"", "null", "null", "null"),		/* 7a < c3 a9 */
	    AK("\"\\u00e9\"", "null", "null", "null"));
	want_order(AK("\"\xc3\xa9\"", "null", "null", "null"),
	    AK("\"\\u0800\"", "null", "null", "null"));
	/* U+FFFD (ef bf bd) < U+1F600 (f0 9f 98 80) in UTF-8, unlike UTF-16 */
	want_order(AK("\"\\ufffd\"", "null", "null", "null"),
	    AK("\"\\ud83d\\ude00\"", "null", "null", "null"));
	want_order(AK("\"\xef\xbf\xbd\"", "null", "null", "null"),
	    AK("\"\xf0\x9f\x98\x80\"", "null", "null", "null"));
	/* bytes >= 0x80 are unsigned */
	want_order(AK("\"\\u007f\"", "null", "null", "null"),
	    AK("\"\\u0080\"", "null", "null", "null"));

	/* the first page: only the shape of the key */
	assert_int_equal(eventlog_after_key_check(NULL, base), 0);
	assert_int_equal(eventlog_after_key_check(base, NULL), -EINVAL);
}

static void
test_after_key_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"null",
		"\"b\"",
		"{}",
		AK("\"b\"", "\"b\"", "\"b\"", "false") " ",	/* fine: trailing space */
		AK("\"b\"", "\"b\"", "\"b\"", "false") "x",
		AK("\"b\"", "\"b\"", "\"b\"", "false") "{}",
		AK("null", "\"b\"", "\"b\"", "false"),		/* id has no missing_bucket */
		AK("1", "\"b\"", "\"b\"", "false"),
		AK("\"b\"", "1", "\"b\"", "false"),
		AK("\"b\"", "\"b\"", "true", "false"),
		AK("\"b\"", "\"b\"", "[]", "false"),
		AK("\"b\"", "\"b\"", "\"b\"", "\"true\""),
		AK("\"b\"", "\"b\"", "\"b\"", "1"),
		AK("\"b\"", "\"b\"", "\"b\"", "0.0"),
		AK("\"b\"", "\"b\"", "\"b\"", "{}"),
		"{\"id\":\"b\",\"type_id\":\"b\",\"namespace\":\"b\"}",
		"{\"id\":\"b\",\"type_id\":\"b\",\"namespace\":\"b\","
		    "\"space_agnostic\":false,\"extra\":1}",
		"{\"id\":\"b\",\"type_id\":\"b\",\"namespace\":\"b\","
		    "\"spaceagnostic\":false}",
		"{\"id\":\"b\",\"id\":\"c\",\"type_id\":\"b\",\"namespace\":\"b\","
		    "\"space_agnostic\":false}",
	};
	const char *good = AK("\"b\"", "\"b\"", "\"b\"", "false");
	uint64_t fp;
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(bad); i++) {
		if (i == 6) {	/* the trailing space is valid JSON text */
			assert_int_equal(eventlog_after_key_check(good, bad[i]),
			    -EBADMSG);	/* equal */
			continue;
		}
		if (eventlog_after_key_check(NULL, bad[i]) != -EBADMSG ||
		    eventlog_after_key_check(good, bad[i]) != -EBADMSG ||
		    eventlog_after_key_check(bad[i], good) != -EBADMSG ||
		    eventlog_after_key_fingerprint(bad[i], &fp) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_int_equal(eventlog_after_key_fingerprint(NULL, &fp), -EINVAL);
}

static void
test_after_key_fingerprint(void **state)
{
	uint64_t a, b, c, d, e, sentinel = 42;

	(void)state;
	assert_int_equal(eventlog_after_key_fingerprint(
	    AK("\"b\"", "\"b\"", "null", "false"), &a), 0);
	/* the same key written in another order and spacing */
	assert_int_equal(eventlog_after_key_fingerprint(
	    "{\"space_agnostic\": false, \"namespace\": null, "
	    "\"id\": \"b\", \"type_id\": \"b\"}", &b), 0);
	assert_true(a == b);
	/* null, "", false and true differ; so do shifted string boundaries */
	assert_int_equal(eventlog_after_key_fingerprint(
	    AK("\"b\"", "\"b\"", "\"\"", "false"), &c), 0);
	assert_int_equal(eventlog_after_key_fingerprint(
	    AK("\"b\"", "\"b\"", "null", "null"), &d), 0);
	assert_int_equal(eventlog_after_key_fingerprint(
	    AK("\"bb\"", "\"\"", "null", "false"), &e), 0);
	assert_true(a != c && a != d && c != d && a != e);
	/* written only on success */
	assert_int_equal(eventlog_after_key_fingerprint("{}", &sentinel),
	    -EBADMSG);
	assert_true(sentinel == 42);
}

/* What the poller does with a real answer: the key it got is well formed. */
static void
test_after_key_from_answer(void **state)
{
	struct eventlog_result r;

	(void)state;
	parse_fixture("count_page1.json", 200, &r);
	assert_non_null(r.after_key);
	assert_int_equal(eventlog_after_key_check(NULL, r.after_key), 0);
	assert_int_equal(eventlog_after_key_check(r.after_key, r.after_key),
	    -EBADMSG);
	assert_int_equal(eventlog_after_key_check(r.after_key,
	    AK("\"legacy-2\"", "null", "null", "null")), 0);
	eventlog_result_free(&r);
}

static void
test_failure_docs(void **state)
{
	struct eventlog_failure f;
	enum eventlog_reason reason;
	size_t len;
	char *body;

	(void)state;
	body = read_fixture("failure_hit_9x.json", &len);
	assert_int_equal(eventlog_parse_failure(200, body, len, &reason, &f), 0);
	assert_int_equal(reason, EVENTLOG_OK);
	/* newest of failure + timeout: the timeout (t0-6000) */
	assert_string_equal(f.outcome, "timeout");
	assert_string_equal(f.action_name, "PD");
	assert_string_equal(f.timestamp, "2025-03-10T14:22:25.512Z");
	assert_null(f.error_message);
	eventlog_failure_free(&f);
	free(body);

	body = read_fixture("failure_hit_85.json", &len);
	assert_int_equal(eventlog_parse_failure(200, body, len, &reason, &f), 0);
	assert_string_equal(f.outcome, "failure");
	assert_null(f.action_name);			/* pre-8.7 */
	assert_string_equal(f.rule_id, "rule-1");	/* from nested */
	assert_string_equal(f.error_message, "slack 503");
	assert_non_null(strstr(f.message, "action execution failure: .slack:legacy-1"));
	eventlog_failure_free(&f);
	free(body);

	/* the detail search sees the same zero-shard answer as the count */
	body = read_fixture("zero_shards.json", &len);
	assert_int_equal(eventlog_parse_failure(200, body, len, &reason, &f),
	    -EBADMSG);
	assert_int_equal(reason, EVENTLOG_NO_SHARDS);
	free(body);

	body = read_fixture("security_403.json", &len);
	assert_int_equal(eventlog_parse_failure(403, body, len, &reason, &f),
	    -EBADMSG);
	assert_int_equal(reason, EVENTLOG_SECURITY);
	free(body);

	body = read_fixture("count_mixed.json", &len);	/* no hits */
	assert_int_equal(eventlog_parse_failure(200, body, len, &reason, &f),
	    -ENOENT);
	assert_int_equal(reason, EVENTLOG_OK);
	free(body);
}

static void
test_search_path(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb);
	assert_int_equal(eventlog_search_path(&sb, ".kibana-event-log-*"), 0);
	assert_string_equal(strbuf_str(&sb), "/.kibana-event-log-*/_search");
	strbuf_reset(&sb);
	assert_int_equal(eventlog_search_path(&sb, "a,b*,remote:c%d"), 0);
	assert_string_equal(strbuf_str(&sb), "/a,b*,remote:c%25d/_search");
	assert_int_equal(eventlog_search_path(&sb, ""), -EINVAL);
	strbuf_free(&sb);
}

static void
test_enums(void **state)
{
	unsigned i;

	(void)state;
	for (i = 0; i < EVENTLOG__MAX; i++)
		assert_non_null(eventlog_reason_to_string(i));
	assert_string_equal(eventlog_reason_to_string(EVENTLOG_SEARCH_PHASE),
	    "search_phase_exception");
	assert_string_equal(eventlog_outcome_to_string(EVENTLOG_TIMEOUT),
	    "timeout");
}

/* Windows: contiguous, half-open, settle_delay before now, capped span. */
static void
test_window(void **state)
{
	const int64_t min = 60 * 1000, h = 60 * min, now = INT64_C(1800000000000);
	int64_t start, end;

	(void)state;
	/* First window: now - lookback .. now - settle. */
	assert_false(eventlog_window(now, false, 0, 15 * min, 30 * 1000,
	    &start, &end));
	assert_true(start == now - 15 * min);
	assert_true(end == now - 30 * 1000);
	/* Next one starts exactly where the last counted one ended. */
	assert_false(eventlog_window(now + min, true, end, 15 * min, 30 * 1000,
	    &start, &end));
	assert_true(start == now - 30 * 1000);
	assert_true(end == now + min - 30 * 1000);
	/* Nothing settled yet: lookback shorter than settle_delay. */
	eventlog_window(now, false, 0, 10 * 1000, 30 * 1000, &start, &end);
	assert_true(end <= start);
	/* A window pending for 30 h is cut to 24 h before its end... */
	assert_true(eventlog_window(now, true, now - 30 * h, 15 * min, 0,
	    &start, &end));
	assert_true(end == now);
	assert_true(start == now - EVENTLOG_MAX_SPAN_MSEC);
	/* ...or to lookback when that is longer than 24 h. */
	assert_true(eventlog_window(now, true, now - 72 * h, 48 * h, 0,
	    &start, &end));
	assert_true(start == now - 48 * h);
	/* Exactly at the cap: not cut. */
	assert_false(eventlog_window(now, true, now - 24 * h, 15 * min, 0,
	    &start, &end));
	assert_true(start == now - 24 * h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_mixed),
		cmocka_unit_test(test_count_page),
		cmocka_unit_test(test_count_query_shape),
		cmocka_unit_test(test_failure_query_shape),
		cmocka_unit_test(test_blind_answers),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_count_ranges),
		cmocka_unit_test(test_count_saturates),
		cmocka_unit_test(test_after_key_order),
		cmocka_unit_test(test_after_key_malformed),
		cmocka_unit_test(test_after_key_fingerprint),
		cmocka_unit_test(test_after_key_from_answer),
		cmocka_unit_test(test_failure_docs),
		cmocka_unit_test(test_search_path),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
