/*
 * eventlog_es.c: the event-log searches as data: request bodies and the
 * classification and parsing of Elasticsearch answers.  Pure functions (no
 * clock, no I/O, no logging); see eventlog_es.h.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eventlog_es.h"
#include "kibana.h"

#define REASON_MAX 300

const char *
eventlog_reason_to_string(enum eventlog_reason r)
{
	switch (r) {
	case EVENTLOG_OK:		return "ok";
	case EVENTLOG_NO_SHARDS:	return "no_shards";
	case EVENTLOG_NO_AGGREGATIONS:	return "no_aggregations";
	case EVENTLOG_INDEX_NOT_FOUND:	return "index_not_found";
	case EVENTLOG_SECURITY:		return "security_exception";
	case EVENTLOG_SEARCH_PHASE:	return "search_phase_exception";
	case EVENTLOG_SHARD_FAILURES:	return "shard_failures";
	case EVENTLOG_HTTP_ERROR:	return "http_error";
	case EVENTLOG_TRANSPORT:	return "transport";
	case EVENTLOG_INVALID_RESPONSE:	return "invalid_response";
	case EVENTLOG__MAX:		break;
	}
	return "invalid_response";
}

const char *
eventlog_outcome_to_string(enum eventlog_outcome o)
{
	switch (o) {
	case EVENTLOG_SUCCESS:		return "success";
	case EVENTLOG_FAILURE:		return "failure";
	case EVENTLOG_TIMEOUT:		return "timeout";
	case EVENTLOG__OUTCOMES:	break;
	}
	return "unknown";
}

int
eventlog_search_path(struct strbuf *out, const char *index)
{
	if (index == NULL || *index == '\0')
		return -EINVAL;
	strbuf_putc(out, '/');
	strbuf_put_urlencoded(out, index, "._*,:+-");
	strbuf_puts(out, "/_search");
	return strbuf_failed(out) ? -ENOMEM : 0;
}

/* Appends s as a JSON string literal (s is valid UTF-8 or gets repaired). */
static void
put_str(struct strbuf *out, const char *s)
{
	json_t *j = json_string(s);
	char *d;

	if (j == NULL)	/* invalid UTF-8: never from our own data */
		j = json_string("\xef\xbf\xbd");
	d = j != NULL ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	if (d == NULL)
		out->failed = true;
	else
		strbuf_puts(out, d);
	free(d);
	json_decref(j);
}

/*
 * The composite sources of the count query, in the query's order: the
 * query is built from this table and eventlog_after_key_check() orders
 * after_keys by it, so the two cannot drift apart.  All are terms sources,
 * ascending (the default); keywords compare as byte strings, booleans
 * false < true, and with missing_bucket a null (missing) sorts first.
 */
enum source_kind { SOURCE_KEYWORD, SOURCE_BOOLEAN };

static const struct source {
	const char	*name;
	const char	*field;
	enum source_kind kind;
	bool		 missing_bucket;
} sources[] = {
	{ "id", "kibana.saved_objects.id", SOURCE_KEYWORD, false },
	{ "type_id", "kibana.saved_objects.type_id", SOURCE_KEYWORD, true },
	{ "namespace", "kibana.saved_objects.namespace", SOURCE_KEYWORD, true },
	{ "space_agnostic", "kibana.saved_objects.space_agnostic",
	    SOURCE_BOOLEAN, true },
};

static void
put_filter_head(struct strbuf *out, int64_t start_ms, int64_t end_ms)
{
	strbuf_printf(out,
	    "{\"term\":{\"event.provider\":\"actions\"}},"
	    "{\"range\":{\"@timestamp\":{\"gte\":%lld,\"lt\":%lld,"
	    "\"format\":\"epoch_millis\"}}}",
	    (long long)start_ms, (long long)end_ms);
}

int
eventlog_build_count_query(struct strbuf *out, int64_t start_ms,
    int64_t end_ms, const char *after_key, unsigned page_size)
{
	size_t i;

	strbuf_puts(out, "{\"size\":0,\"track_total_hits\":false,"
	    "\"query\":{\"bool\":{\"filter\":[");
	put_filter_head(out, start_ms, end_ms);
	strbuf_puts(out, ",{\"terms\":{\"event.action\":"
	    "[\"execute\",\"execute-timeout\"]}}]}},"
	    "\"aggs\":{\"so\":{\"nested\":{\"path\":\"kibana.saved_objects\"},"
	    "\"aggs\":{\"actions\":{\"filter\":{\"term\":"
	    "{\"kibana.saved_objects.type\":\"action\"}},"
	    "\"aggs\":{\"connectors\":{\"composite\":{");
	strbuf_printf(out, "\"size\":%u,", page_size);
	strbuf_puts(out, "\"sources\":[");
	for (i = 0; i < ELEMENTSOF(sources); i++)
		strbuf_printf(out, "%s{\"%s\":{\"terms\":{\"field\":\"%s\"%s}}}",
		    i > 0 ? "," : "", sources[i].name, sources[i].field,
		    sources[i].missing_bucket ? ",\"missing_bucket\":true" : "");
	strbuf_putc(out, ']');
	if (after_key != NULL) {
		strbuf_puts(out, ",\"after\":");
		strbuf_puts(out, after_key);
	}
	strbuf_puts(out, "},\"aggs\":{\"events\":{\"reverse_nested\":{},"
	    "\"aggs\":{\"action\":{\"terms\":{\"field\":\"event.action\","
	    "\"size\":10},\"aggs\":{"
	    "\"last\":{\"max\":{\"field\":\"@timestamp\"}},"
	    "\"outcome\":{\"terms\":{\"field\":\"event.outcome\",\"size\":10},"
	    "\"aggs\":{\"last\":{\"max\":{\"field\":\"@timestamp\"}}}}"
	    "}}}}}}}}}}}}");
	return strbuf_failed(out) ? -ENOMEM : 0;
}

int
eventlog_build_failure_query(struct strbuf *out, int64_t start_ms,
    int64_t end_ms, const char *connector_id, const char *namespace,
    bool space_agnostic)
{
	strbuf_puts(out, "{\"size\":1,\"track_total_hits\":false,"
	    "\"sort\":[{\"@timestamp\":{\"order\":\"desc\"}}],"
	    "\"_source\":{\"includes\":[\"@timestamp\",\"message\","
	    "\"error.message\",\"event.action\",\"event.outcome\","
	    "\"kibana.saved_objects\",\"kibana.action.name\",\"rule.id\","
	    "\"kibana.space_ids\"]},"
	    "\"query\":{\"bool\":{\"filter\":[");
	put_filter_head(out, start_ms, end_ms);
	strbuf_puts(out, ",{\"bool\":{\"should\":["
	    "{\"bool\":{\"filter\":[{\"term\":{\"event.action\":\"execute\"}},"
	    "{\"term\":{\"event.outcome\":\"failure\"}}]}},"
	    "{\"term\":{\"event.action\":\"execute-timeout\"}}],"
	    "\"minimum_should_match\":1}},"
	    "{\"nested\":{\"path\":\"kibana.saved_objects\",\"query\":{\"bool\":"
	    "{\"filter\":[{\"term\":{\"kibana.saved_objects.type\":\"action\"}},"
	    "{\"term\":{\"kibana.saved_objects.id\":");
	put_str(out, connector_id);
	strbuf_puts(out, "}}");
	if (space_agnostic)
		strbuf_puts(out, ",{\"term\":{\"kibana.saved_objects."
		    "space_agnostic\":true}}]");
	else if (namespace != NULL) {
		strbuf_puts(out, ",{\"term\":{\"kibana.saved_objects.namespace\":");
		put_str(out, namespace);
		strbuf_puts(out, "}}],\"must_not\":[{\"term\":{\"kibana.saved_objects."
		    "space_agnostic\":true}}]");
	} else
		strbuf_puts(out, "],\"must_not\":[{\"exists\":{\"field\":"
		    "\"kibana.saved_objects.namespace\"}},{\"term\":{\"kibana."
		    "saved_objects.space_agnostic\":true}}]");
	strbuf_puts(out, "}}}}]}}}");
	return strbuf_failed(out) ? -ENOMEM : 0;
}

/* ---- answers ---------------------------------------------------------- */

static char *
dup_cut(const json_t *s)
{
	char *d = kibana_json_strdup(s);
	size_t n;

	if (d != NULL && (n = strlen(d)) > REASON_MAX) {
		/* cut on a UTF-8 boundary */
		n = REASON_MAX;
		while (n > 0 && ((unsigned char)d[n] & 0xc0) == 0x80)
			n--;
		d[n] = '\0';
	}
	return d;
}

/*
 * A count from Elasticsearch (doc_count, _shards.*), checked before any
 * conversion.  ES sends them as JSON integers (Java long).  A negative
 * integer is refused, not taken as 0: no ES sends one, so the answer is not
 * what it claims to be and nothing in it is trusted (no partial results).
 * Integers above INT64_MAX never get here: jansson refuses the whole body.
 * A real is accepted only when it is an exact non-negative integer of at
 * most 2^53 (beyond that a double no longer names one integer), so NaN,
 * infinities, fractions and huge values are refused rather than converted
 * (converting an out-of-range double to an integer is undefined).
 * Returns 0, -ENOENT when the key is absent, -EBADMSG otherwise.
 */
static int
get_count(const json_t *o, const char *key, uint64_t *ret)
{
	const json_t *v = json_object_get(o, key);
	json_int_t i;
	double d;

	if (v == NULL)
		return -ENOENT;
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i < 0)
			return -EBADMSG;
		*ret = (uint64_t)i;
		return 0;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (!(d >= 0 && d <= EVENTLOG_REAL_COUNT_MAX) || d != floor(d))
			return -EBADMSG;
		*ret = (uint64_t)d;
		return 0;
	}
	return -EBADMSG;
}

/* Non-2xx: error.type (or the status) decides the reason. */
static void
classify_error(long status, const json_t *root, struct eventlog_result *r)
{
	const json_t *err = json_object_get(root, "error");
	const json_t *type = json_object_get(err, "type");
	const json_t *reason = json_object_get(err, "reason");
	const json_t *rc = json_array_get(json_object_get(err, "root_cause"), 0);
	const char *t = json_string_value(type);

	if (t != NULL)
		r->error_type = dup_cut(type);
	if (json_is_string(json_object_get(rc, "reason")) &&
	    t != NULL && strcmp(t, "search_phase_execution_exception") == 0)
		r->error_reason = dup_cut(json_object_get(rc, "reason"));
	else if (json_is_string(reason))
		r->error_reason = dup_cut(reason);
	else if (json_is_string(err))	/* very old ES: "error": "..." */
		r->error_reason = dup_cut(err);

	if (t != NULL && strcmp(t, "index_not_found_exception") == 0)
		r->reason = EVENTLOG_INDEX_NOT_FOUND;
	else if ((t != NULL && strcmp(t, "security_exception") == 0) ||
	    status == 401 || status == 403)
		r->reason = EVENTLOG_SECURITY;
	else if (t != NULL && strcmp(t, "search_phase_execution_exception") == 0)
		r->reason = EVENTLOG_SEARCH_PHASE;
	else
		r->reason = EVENTLOG_HTTP_ERROR;
}

/*
 * The common checks of a 2xx answer: _shards (total 0, failures).  Returns
 * true when the answer covered shards without failures.
 */
static bool
check_shards(const json_t *root, struct eventlog_result *r, char *err,
    size_t errsz)
{
	const json_t *sh = json_object_get(root, "_shards");
	const json_t *f0;
	uint64_t total, failed = 0;
	int k;

	if (!json_is_object(sh) || get_count(sh, "total", &total) < 0) {
		r->reason = EVENTLOG_INVALID_RESPONSE;
		snprintf(err, errsz, "no valid _shards.total");
		return false;
	}
	k = get_count(sh, "failed", &failed);
	if (k == -EBADMSG) {
		r->reason = EVENTLOG_INVALID_RESPONSE;
		snprintf(err, errsz, "invalid _shards.failed");
		return false;
	}
	/* both <= INT64_MAX (jansson integers, reals <= 2^53) */
	r->shards_total = (int64_t)total;
	r->shards_failed = (int64_t)failed;
	if (r->shards_total == 0) {
		r->reason = EVENTLOG_NO_SHARDS;
		return false;
	}
	if (r->shards_failed > 0) {
		r->reason = EVENTLOG_SHARD_FAILURES;
		f0 = json_object_get(json_array_get(json_object_get(sh,
		    "failures"), 0), "reason");
		if (json_is_string(json_object_get(f0, "type")))
			r->error_type = dup_cut(json_object_get(f0, "type"));
		if (json_is_string(json_object_get(f0, "reason")))
			r->error_reason = dup_cut(json_object_get(f0, "reason"));
		return false;
	}
	return true;
}

/*
 * A max aggregation's value (epoch milliseconds) as epoch seconds; 0 (none)
 * when there is none (null: no documents) or it is not a finite date after
 * the epoch.  Informational only, so it does not void the answer.
 */
static double
max_value(const json_t *agg)
{
	const json_t *v = json_object_get(agg, "value");
	double d;

	if (!json_is_number(v))
		return 0;
	d = json_number_value(v) / 1000.0;
	return isfinite(d) && d > 0 ? d : 0;
}

static void
add_outcome(struct eventlog_bucket *out, enum eventlog_outcome oc,
    uint64_t n, const json_t *agg)
{
	double last = max_value(json_object_get(agg, "last"));

	/* a repeated key adds up, saturating, and keeps the newest time */
	out->count[oc] = sat_add_u64(out->count[oc], n);
	if (last > out->last[oc])
		out->last[oc] = last;
}

static int
parse_bucket(const json_t *b, struct eventlog_bucket *out)
{
	const json_t *key = json_object_get(b, "key");
	const json_t *id = json_object_get(key, "id");
	const json_t *tid = json_object_get(key, "type_id");
	const json_t *ns = json_object_get(key, "namespace");
	const json_t *sa = json_object_get(key, "space_agnostic");
	const json_t *acts, *a, *outs, *o;
	const char *an, *on;
	size_t i, j;
	uint64_t n;

	memset(out, 0, sizeof(*out));
	if (!json_is_string(id))
		return -EBADMSG;
	out->space_agnostic = json_is_true(sa) ||
	    (json_is_string(sa) && strcmp(json_string_value(sa), "true") == 0) ||
	    (json_is_integer(sa) && json_integer_value(sa) != 0);
	out->connector_id = kibana_json_strdup(id);
	out->type_id = json_is_string(tid) ? kibana_json_strdup(tid) : strdup("");
	if (json_is_string(ns) && json_string_length(ns) > 0)
		out->namespace = kibana_json_strdup(ns);
	if (out->space_agnostic)
		out->space = strdup("*");
	else
		out->space = strdup(out->namespace != NULL ? out->namespace :
		    "default");
	if (out->connector_id == NULL || out->type_id == NULL ||
	    out->space == NULL || (json_is_string(ns) &&
	    json_string_length(ns) > 0 && out->namespace == NULL))
		return -ENOMEM;

	acts = json_object_get(json_object_get(json_object_get(b, "events"),
	    "action"), "buckets");
	if (!json_is_array(acts))
		return -EBADMSG;
	json_array_foreach(acts, i, a) {
		an = json_string_value(json_object_get(a, "key"));
		if (an == NULL || get_count(a, "doc_count", &n) < 0)
			return -EBADMSG;
		if (strcmp(an, "execute-timeout") == 0) {
			add_outcome(out, EVENTLOG_TIMEOUT, n, a);
			continue;
		}
		if (strcmp(an, "execute") != 0)
			continue;
		outs = json_object_get(json_object_get(a, "outcome"), "buckets");
		if (!json_is_array(outs))
			return -EBADMSG;
		json_array_foreach(outs, j, o) {
			enum eventlog_outcome oc;

			on = json_string_value(json_object_get(o, "key"));
			if (on == NULL || get_count(o, "doc_count", &n) < 0)
				return -EBADMSG;
			if (strcmp(on, "success") == 0)
				oc = EVENTLOG_SUCCESS;
			else if (strcmp(on, "failure") == 0)
				oc = EVENTLOG_FAILURE;
			else
				continue;
			add_outcome(out, oc, n, o);
		}
	}
	return 0;
}

static void
bucket_free(struct eventlog_bucket *b)
{
	free(b->connector_id);
	free(b->type_id);
	free(b->space);
	free(b->namespace);
}

void
eventlog_result_free(struct eventlog_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		bucket_free(&r->v[i]);
	free(r->v);
	free(r->error_type);
	free(r->error_reason);
	free(r->after_key);
	memset(r, 0, sizeof(*r));
}

int
eventlog_parse_count(long status, const char *body, size_t len,
    struct eventlog_result *ret, char *err, size_t errsz)
{
	const json_t *aggs, *conn, *buckets, *ak, *b;
	char jerr[160];
	json_t *root;
	size_t i;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (errsz > 0)
		err[0] = '\0';
	if (status == 0) {
		ret->reason = EVENTLOG_TRANSPORT;
		return 0;
	}
	root = kibana_json_load(body, len, jerr, sizeof(jerr));
	if (status < 200 || status > 299) {
		classify_error(status, root, ret);
		json_decref(root);
		return 0;
	}
	if (!json_is_object(root)) {
		ret->reason = EVENTLOG_INVALID_RESPONSE;
		snprintf(err, errsz, "%s", root == NULL ? jerr : "not an object");
		json_decref(root);
		return 0;
	}
	if (!check_shards(root, ret, err, errsz))
		goto out;
	aggs = json_object_get(root, "aggregations");
	if (aggs == NULL || json_is_null(aggs)) {
		ret->reason = EVENTLOG_NO_AGGREGATIONS;
		goto out;
	}
	conn = json_object_get(json_object_get(json_object_get(aggs, "so"),
	    "actions"), "connectors");
	buckets = json_object_get(conn, "buckets");
	if (!json_is_array(buckets)) {
		ret->reason = EVENTLOG_INVALID_RESPONSE;
		snprintf(err, errsz, "no aggregations.so.actions.connectors.buckets");
		goto out;
	}
	if (json_array_size(buckets) > 0) {
		ret->v = calloc(json_array_size(buckets), sizeof(*ret->v));
		if (ret->v == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	json_array_foreach(buckets, i, b) {
		r = parse_bucket(b, &ret->v[ret->n]);
		ret->n++;
		if (r == -EBADMSG) {
			/* no partial results: drop every bucket */
			for (; ret->n > 0; ret->n--)
				bucket_free(&ret->v[ret->n - 1]);
			free(ret->v);
			ret->v = NULL;
			ret->reason = EVENTLOG_INVALID_RESPONSE;
			snprintf(err, errsz, "unexpected connectors.buckets[%zu]", i);
			r = 0;
			goto out;
		}
		if (r < 0)
			goto out;
	}
	ak = json_object_get(conn, "after_key");
	if (json_is_object(ak)) {
		ret->after_key = json_dumps(ak, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (ret->after_key == NULL)
			r = -ENOMEM;
	}
	ret->reason = EVENTLOG_OK;
out:
	json_decref(root);
	if (r < 0)
		eventlog_result_free(ret);
	return r;
}

/* ---- composite after_key ---------------------------------------------- */

/*
 * Parses an after_key into its values in source order (borrowed from
 * *ret_root, which the caller frees).  The object must have exactly the
 * query's sources, each a string (keyword) or a boolean, or null where the
 * source has missing_bucket.
 */
static int
after_key_load(const char *text, json_t **ret_root,
    const json_t *ret_v[ELEMENTSOF(sources)])
{
	const json_t *v[ELEMENTSOF(sources)];
	json_error_t jerr;
	json_t *root;
	size_t i;

	root = json_loads(text, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return json_error_code(&jerr) == json_error_out_of_memory ?
		    -ENOMEM : -EBADMSG;
	if (!json_is_object(root) ||
	    json_object_size(root) != ELEMENTSOF(sources))
		goto bad;
	for (i = 0; i < ELEMENTSOF(sources); i++) {
		v[i] = json_object_get(root, sources[i].name);
		if (v[i] == NULL)
			goto bad;
		if (json_is_null(v[i])) {
			if (!sources[i].missing_bucket)
				goto bad;
		} else if (sources[i].kind == SOURCE_KEYWORD ?
		    !json_is_string(v[i]) : !json_is_boolean(v[i]))
			goto bad;
	}
	memcpy(ret_v, v, sizeof(v));
	*ret_root = root;
	return 0;
bad:
	json_decref(root);
	return -EBADMSG;
}

/* Ascending composite order of one source's values (null first). */
static int
after_key_cmp_value(const json_t *a, const json_t *b, enum source_kind kind)
{
	size_t la, lb;
	int c;

	if (json_is_null(a) || json_is_null(b))
		return (int)!json_is_null(a) - (int)!json_is_null(b);
	if (kind == SOURCE_BOOLEAN)
		return (int)json_is_true(a) - (int)json_is_true(b);
	/* UTF-8 byte order, as Elasticsearch compares keyword terms */
	la = json_string_length(a);
	lb = json_string_length(b);
	c = memcmp(json_string_value(a), json_string_value(b),
	    la < lb ? la : lb);
	if (c != 0)
		return c < 0 ? -1 : 1;
	return (la > lb) - (la < lb);
}

int
eventlog_after_key_check(const char *prev_after_key,
    const char *next_after_key)
{
	const json_t *pv[ELEMENTSOF(sources)], *nv[ELEMENTSOF(sources)];
	json_t *proot = NULL, *nroot = NULL;
	size_t i;
	int r, c = 0;

	if (next_after_key == NULL)
		return -EINVAL;
	r = after_key_load(next_after_key, &nroot, nv);
	if (r < 0 || prev_after_key == NULL)
		goto out;
	r = after_key_load(prev_after_key, &proot, pv);
	if (r < 0)
		goto out;
	for (i = 0; i < ELEMENTSOF(sources) && c == 0; i++)
		c = after_key_cmp_value(pv[i], nv[i], sources[i].kind);
	r = c < 0 ? 0 : -EBADMSG;
out:
	json_decref(proot);
	json_decref(nroot);
	return r;
}

/* FNV-1a, 64 bits */
static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

int
eventlog_after_key_fingerprint(const char *after_key, uint64_t *ret)
{
	const json_t *v[ELEMENTSOF(sources)];
	uint64_t h = UINT64_C(0xcbf29ce484222325), len;
	json_t *root;
	unsigned char tag;
	size_t i;
	int r;

	if (after_key == NULL)
		return -EINVAL;
	r = after_key_load(after_key, &root, v);
	if (r < 0)
		return r;
	/* source order, a type tag, strings with their length: unambiguous */
	for (i = 0; i < ELEMENTSOF(sources); i++) {
		tag = json_is_null(v[i]) ? 0 : json_is_false(v[i]) ? 1 :
		    json_is_true(v[i]) ? 2 : 3;
		h = fnv1a(h, &tag, 1);
		if (tag != 3)
			continue;
		len = json_string_length(v[i]);
		h = fnv1a(h, &len, sizeof(len));
		h = fnv1a(h, json_string_value(v[i]), (size_t)len);
	}
	json_decref(root);
	*ret = h;
	return 0;
}

void
eventlog_failure_free(struct eventlog_failure *f)
{
	if (f == NULL)
		return;
	free(f->timestamp);
	free(f->message);
	free(f->error_message);
	free(f->action_name);
	free(f->rule_id);
	free(f->outcome);
	memset(f, 0, sizeof(*f));
}

/* o[a][b]... as a string, NULL when absent. */
static const json_t *
path_get(const json_t *o, const char *const *path)
{
	for (; *path != NULL && o != NULL; path++)
		o = json_object_get(o, *path);
	return o;
}

static char *
dup_path(const json_t *src, const char *a, const char *b, const char *c)
{
	const char *p[4] = { a, b, c, NULL };
	const json_t *v = path_get(src, p);

	return json_is_string(v) ? kibana_json_strdup(v) : NULL;
}

int
eventlog_parse_failure(long status, const char *body, size_t len,
    enum eventlog_reason *reason, struct eventlog_failure *ret)
{
	struct eventlog_result r;
	const json_t *hit, *src, *sos, *so;
	const char *act;
	char jerr[160];
	json_t *root;
	size_t i;

	memset(&r, 0, sizeof(r));
	memset(ret, 0, sizeof(*ret));
	if (status == 0) {
		*reason = EVENTLOG_TRANSPORT;
		return -EBADMSG;
	}
	root = kibana_json_load(body, len, jerr, sizeof(jerr));
	if (status < 200 || status > 299) {
		classify_error(status, root, &r);
		*reason = r.reason;
		eventlog_result_free(&r);
		json_decref(root);
		return -EBADMSG;
	}
	if (!json_is_object(root)) {
		*reason = EVENTLOG_INVALID_RESPONSE;
		json_decref(root);
		return -EBADMSG;
	}
	if (!check_shards(root, &r, jerr, sizeof(jerr))) {
		*reason = r.reason;
		eventlog_result_free(&r);
		json_decref(root);
		return -EBADMSG;
	}
	eventlog_result_free(&r);
	*reason = EVENTLOG_OK;
	hit = json_array_get(json_object_get(json_object_get(root, "hits"),
	    "hits"), 0);
	src = json_object_get(hit, "_source");
	if (!json_is_object(src)) {
		json_decref(root);
		return -ENOENT;
	}
	ret->timestamp = dup_path(src, "@timestamp", NULL, NULL);
	ret->message = dup_path(src, "message", NULL, NULL);
	ret->error_message = dup_path(src, "error", "message", NULL);
	if (ret->error_message == NULL)	/* flattened "error.message" */
		ret->error_message = dup_path(src, "error.message", NULL, NULL);
	ret->action_name = dup_path(src, "kibana", "action", "name");
	ret->rule_id = dup_path(src, "rule", "id", NULL);
	if (ret->rule_id == NULL) {
		sos = json_object_get(json_object_get(src, "kibana"),
		    "saved_objects");
		json_array_foreach(sos, i, so) {
			const char *t = json_string_value(json_object_get(so,
			    "type"));

			if (t != NULL && strcmp(t, "alert") == 0 &&
			    json_is_string(json_object_get(so, "id"))) {
				ret->rule_id = kibana_json_strdup(
				    json_object_get(so, "id"));
				break;
			}
		}
	}
	act = json_string_value(json_object_get(json_object_get(src, "event"),
	    "action"));
	ret->outcome = strdup(act != NULL && strcmp(act, "execute-timeout") == 0 ?
	    "timeout" : "failure");
	json_decref(root);
	if (ret->outcome == NULL) {
		eventlog_failure_free(ret);
		return -ENOMEM;
	}
	return 0;
}

bool
eventlog_window(int64_t now_ms, bool have_start, int64_t start_ms,
    int64_t lookback_ms, int64_t settle_ms, int64_t *ret_start,
    int64_t *ret_end)
{
	int64_t start, end, span;
	bool capped = false;

	start = have_start ? start_ms : now_ms - lookback_ms;
	end = now_ms - settle_ms;
	span = lookback_ms > EVENTLOG_MAX_SPAN_MSEC ? lookback_ms :
	    EVENTLOG_MAX_SPAN_MSEC;
	if (end - start > span) {
		start = end - span;
		capped = true;
	}
	*ret_start = start;
	*ret_end = end;
	return capped;
}
