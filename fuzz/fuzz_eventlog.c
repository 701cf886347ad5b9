/*
 * fuzz_eventlog.c: feeds one input to the event-log answer parsers under
 * every status class (200, 400, 401, 404, 500), to the after_key checks
 * both as an answer's after_key and as raw text, and asserts the contract
 * of eventlog_es.h (abort() on any violation, which libFuzzer and the
 * standalone driver fuzz_main.c report):
 *   - only a 2xx can be EVENTLOG_OK, and buckets and an after_key come
 *     only with EVENTLOG_OK;
 *   - every count <= EVENTLOG_COUNT_MAX, every time finite and >= 0, every
 *     string non-NULL, valid UTF-8 and not shortened by a NUL; shard counts
 *     >= 0; err NUL-terminated;
 *   - an after_key is JSON object text and makes a valid next query;
 *   - eventlog_after_key_check(x, x) is never 0, and check(a, b) == 0
 *     implies check(b, a) != 0; two well-formed keys are either ordered
 *     one way or the other, or equal (same fingerprint).
 * Seeds: tests/unit/data/eventlog/ (shared with the unit tests) and
 * fuzz/corpus/eventlog/ (inputs only the fuzzer uses).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eventlog_es.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond))							\
		abort();						\
} while (0)

/* Well-formed keys around the interesting boundaries of the order. */
static const char *const keys[] = {
	"{\"id\":\"\",\"type_id\":null,\"namespace\":null,\"space_agnostic\":null}",
	"{\"id\":\"a\",\"type_id\":null,\"namespace\":null,\"space_agnostic\":false}",
	"{\"id\":\"a\",\"type_id\":\"\",\"namespace\":\"\",\"space_agnostic\":true}",
	"{\"id\":\"legacy-1\",\"type_id\":\".slack\",\"namespace\":null,"
	    "\"space_agnostic\":null}",
	"{\"id\":\"\\u00e9\",\"type_id\":\".webhook\",\"namespace\":\"ops\","
	    "\"space_agnostic\":null}",
	"{\"id\":\"\\ud83d\\ude00\",\"type_id\":null,\"namespace\":null,"
	    "\"space_agnostic\":true}",
};

/* Valid UTF-8 of exactly strlen(s) bytes (utf8_sequence counts NUL as valid). */
static void
check_str(const char *s)
{
	size_t len, i, n, skip;

	CHECK(s != NULL);
	len = strlen(s);
	for (i = 0; i < len; i += n) {
		n = utf8_sequence((const unsigned char *)s + i, len - i, &skip);
		CHECK(n > 0);
	}
}

/* The order of two texts as after_keys, with every law it must obey. */
static void
check_pair(const char *a, const char *b)
{
	int ab = eventlog_after_key_check(a, b);
	int ba = eventlog_after_key_check(b, a);
	uint64_t fa, fb;
	int va, vb;

	CHECK(ab == 0 || ab == -EBADMSG || ab == -ENOMEM);
	CHECK(ba == 0 || ba == -EBADMSG || ba == -ENOMEM);
	CHECK(ab != 0 || ba != 0);
	va = eventlog_after_key_fingerprint(a, &fa);
	vb = eventlog_after_key_fingerprint(b, &fb);
	if (va == -ENOMEM || vb == -ENOMEM)
		return;
	/* ordered only when both are well formed */
	if (ab == 0 || ba == 0)
		CHECK(va == 0 && vb == 0);
	/* two well-formed keys that are not ordered are equal */
	if (va == 0 && vb == 0 && ab != 0 && ba != 0)
		CHECK(fa == fb);
}

static void
check_key(const char *k)
{
	uint64_t f;
	int r, v;
	size_t i;

	r = eventlog_after_key_check(NULL, k);
	CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	v = eventlog_after_key_fingerprint(k, &f);
	CHECK(v == r || r == -ENOMEM || v == -ENOMEM);
	/* a key never advances past itself */
	CHECK(eventlog_after_key_check(k, k) != 0);
	for (i = 0; i < ELEMENTSOF(keys); i++)
		check_pair(keys[i], k);
}

static void
check_result(long status, const struct eventlog_result *r, const char *err,
    size_t errsz)
{
	const struct eventlog_bucket *b;
	struct strbuf sb;
	json_t *q;
	size_t j;
	int o;

	CHECK(memchr(err, '\0', errsz) != NULL);
	CHECK(r->reason < EVENTLOG__MAX);
	if (r->reason == EVENTLOG_OK)
		CHECK(status >= 200 && status <= 299);
	else
		CHECK(r->n == 0 && r->v == NULL && r->after_key == NULL);
	CHECK(r->n == 0 || r->v != NULL);
	CHECK(r->shards_total >= 0 && r->shards_failed >= 0);
	if (r->error_type != NULL)
		check_str(r->error_type);
	if (r->error_reason != NULL) {
		check_str(r->error_reason);
		CHECK(strlen(r->error_reason) <= 300);
	}
	for (j = 0; j < r->n; j++) {
		b = &r->v[j];
		check_str(b->connector_id);
		check_str(b->type_id);
		check_str(b->space);
		if (b->namespace != NULL) {
			check_str(b->namespace);
			CHECK(b->namespace[0] != '\0');
		}
		CHECK(b->space_agnostic == (strcmp(b->space, "*") == 0) ||
		    (!b->space_agnostic && b->namespace != NULL &&
		    strcmp(b->namespace, "*") == 0));
		for (o = 0; o < EVENTLOG__OUTCOMES; o++) {
			CHECK(b->count[o] <= EVENTLOG_COUNT_MAX);
			CHECK(isfinite(b->last[o]) && b->last[o] >= 0);
		}
	}
	if (r->after_key == NULL)
		return;
	q = json_loads(r->after_key, JSON_ALLOW_NUL, NULL);
	CHECK(q != NULL && json_is_object(q));
	json_decref(q);
	strbuf_init(&sb);
	if (eventlog_build_count_query(&sb, 0, 1, r->after_key, 500) == 0) {
		q = json_loads(strbuf_str(&sb), JSON_ALLOW_NUL, NULL);
		CHECK(q != NULL);
		json_decref(q);
	}
	strbuf_free(&sb);
	check_key(r->after_key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 400, 401, 404, 500 };
	struct eventlog_result r;
	struct eventlog_failure f;
	enum eventlog_reason reason;
	char err[64], *text;
	size_t i;
	int rc;

	for (i = 0; i < ELEMENTSOF(statuses); i++) {
		memset(err, 'x', sizeof(err));
		rc = eventlog_parse_count(statuses[i], (const char *)data, size,
		    &r, err, sizeof(err));
		CHECK(rc == 0 || rc == -ENOMEM);
		if (rc == 0) {
			check_result(statuses[i], &r, err, sizeof(err));
			eventlog_result_free(&r);
		}
		rc = eventlog_parse_failure(statuses[i], (const char *)data,
		    size, &reason, &f);
		CHECK(reason < EVENTLOG__MAX);
		if (rc == 0) {
			CHECK(reason == EVENTLOG_OK);
			CHECK(f.outcome != NULL);
			check_str(f.outcome);
			if (f.timestamp != NULL)
				check_str(f.timestamp);
			if (f.message != NULL)
				check_str(f.message);
			if (f.error_message != NULL)
				check_str(f.error_message);
			if (f.action_name != NULL)
				check_str(f.action_name);
			if (f.rule_id != NULL)
				check_str(f.rule_id);
			eventlog_failure_free(&f);
		}
	}

	/* the raw input as an after_key text */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_key(text);
	free(text);
	return 0;
}
