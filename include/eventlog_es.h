/*
 * eventlog_es.h: the event-log searches as data (eventlog_es.c): request
 * bodies for Elasticsearch and the classification and parsing of its
 * answers.  Pure functions: no clock, no I/O, no logging, so unit tests and
 * the fuzzer drive them with canned bodies.  Responses are parsed with
 * kibana_json_load() (input repair).  Reference: shared/reference/
 * kibana-api.md sections 11-13.
 */
#ifndef KCM_EVENTLOG_ES_H
#define KCM_EVENTLOG_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Composite page size: connector buckets per count request. */
#define EVENTLOG_PAGE_SIZE	500
/* At most this many count pages per poll (500,000 connector buckets). */
#define EVENTLOG_MAX_PAGES	1000
/* At most this many "connector started failing" entries (and detail
 * requests) per poll and target; the rest are counted, not logged. */
#define EVENTLOG_DETAILS_MAX	10
/* A pending (not yet counted) window never reaches further back than
 * max(lookback, this) before its end. */
#define EVENTLOG_MAX_SPAN_MSEC	(24 * 3600 * INT64_C(1000))

/* Why a search could not be used: label `reason` (fixed enum). */
enum eventlog_reason {
	EVENTLOG_OK,
	EVENTLOG_NO_SHARDS,		/* 200, _shards.total 0 (no privilege / no index) */
	EVENTLOG_NO_AGGREGATIONS,	/* 200 without "aggregations" */
	EVENTLOG_INDEX_NOT_FOUND,	/* 404 index_not_found_exception */
	EVENTLOG_SECURITY,		/* 401/403 security_exception */
	EVENTLOG_SEARCH_PHASE,		/* 400 search_phase_execution_exception */
	EVENTLOG_SHARD_FAILURES,	/* 200 with _shards.failed > 0 */
	EVENTLOG_HTTP_ERROR,		/* any other non-2xx */
	EVENTLOG_TRANSPORT,		/* no HTTP response (connect, TLS, timeout...) */
	EVENTLOG_INVALID_RESPONSE,	/* 2xx but not the documented shape */
	EVENTLOG__MAX,
};

const char *eventlog_reason_to_string(enum eventlog_reason r);

/* Outcome label values, in this order. */
enum eventlog_outcome {
	EVENTLOG_SUCCESS,
	EVENTLOG_FAILURE,
	EVENTLOG_TIMEOUT,
	EVENTLOG__OUTCOMES,
};

const char *eventlog_outcome_to_string(enum eventlog_outcome o);

/*
 * Counts from Elasticsearch (every doc_count, _shards.total and
 * _shards.failed) are range-checked before conversion: a JSON integer must
 * be >= 0 (a negative one makes the answer invalid_response: ES never sends
 * one, so the answer is not trusted, rather than read as 0); a JSON real
 * must be an exact non-negative integer <= EVENTLOG_REAL_COUNT_MAX, else
 * invalid_response (NaN, infinities, fractions, and values a double cannot
 * hold exactly are never converted).  Integers above INT64_MAX make the
 * body malformed JSON (jansson), hence invalid_response.  Counts that add
 * up (a key repeated inside one bucket) saturate at EVENTLOG_COUNT_MAX
 * (sat_add_u64) instead of wrapping; the poller merging pages and windows
 * uses sat_add_u64 too.  Converting a uint64_t count to double (metrics) is
 * always defined.
 */
#define EVENTLOG_COUNT_MAX	UINT64_MAX
#define EVENTLOG_REAL_COUNT_MAX	9007199254740992.0	/* 2^53 */

/* One connector of one composite bucket (not yet merged). */
struct eventlog_bucket {
	char	*connector_id;
	char	*type_id;	/* "" when the event has none */
	char	*space;		/* "*" (space_agnostic), "default" (no namespace), namespace */
	char	*namespace;	/* raw, NULL when missing */
	bool	 space_agnostic;
	uint64_t count[EVENTLOG__OUTCOMES];	/* <= EVENTLOG_COUNT_MAX */
	/* epoch seconds of the newest event, finite; 0 = none (also for a
	 * value that is not a date after the epoch) */
	double	 last[EVENTLOG__OUTCOMES];
};

struct eventlog_result {
	enum eventlog_reason reason;
	int64_t	 shards_total;	/* >= 0 */
	int64_t	 shards_failed;	/* >= 0; 0 when absent */
	char	*error_type;	/* ES error.type / first shard failure type, or NULL */
	char	*error_reason;	/* ES error.reason (cut to 300 bytes), or NULL */
	struct eventlog_bucket *v;
	size_t	 n;
	char	*after_key;	/* composite after_key as compact JSON, or NULL */
};

/* The latest failure document of one connector (second request). */
struct eventlog_failure {
	char	*timestamp;	/* @timestamp as sent */
	char	*message;
	char	*error_message;
	char	*action_name;	/* kibana.action.name, or NULL (pre-8.7) */
	char	*rule_id;	/* rule.id or the nested saved object of type alert */
	char	*outcome;	/* "failure", or "timeout" for execute-timeout */
};

/*
 * The next window [*ret_start, *ret_end) in epoch milliseconds.  It starts
 * where the last counted window ended (start_ms; at first now - lookback)
 * and ends settle_ms before now.  A pending window reaching back more than
 * max(lookback, EVENTLOG_MAX_SPAN_MSEC) before its end is cut to that span:
 * then the function returns true (the caller warns that older events are
 * not counted).  *ret_end <= *ret_start means nothing has settled yet.
 */
bool	 eventlog_window(int64_t now_ms, bool have_start, int64_t start_ms,
	    int64_t lookback_ms, int64_t settle_ms, int64_t *ret_start,
	    int64_t *ret_end);

/*
 * Appends the URL path "/<index>/_search" with index percent-encoded
 * (anything but [A-Za-z0-9._*,:+-] becomes %XX).  -EINVAL for an empty index.
 */
int	 eventlog_search_path(struct strbuf *out, const char *index);

/*
 * The count request body for the half-open window [start_ms, end_ms)
 * (epoch milliseconds), composite page after `after_key` (compact JSON
 * object from a previous page, or NULL for the first page).
 */
int	 eventlog_build_count_query(struct strbuf *out, int64_t start_ms,
	    int64_t end_ms, const char *after_key, unsigned page_size);

/*
 * The detail request body: the newest failed (execute/failure) or timed-out
 * execution of one connector in the window, size 1, _source filtered.
 * space_agnostic selects preconfigured connectors; otherwise namespace
 * (NULL = the default space, i.e. no namespace field).
 */
int	 eventlog_build_failure_query(struct strbuf *out, int64_t start_ms,
	    int64_t end_ms, const char *connector_id, const char *namespace,
	    bool space_agnostic);

/*
 * Classifies an Elasticsearch answer by HTTP status (0 = transport failure)
 * and body, and for a usable 2xx count response parses the buckets.
 * Always fills *ret (free with eventlog_result_free) and returns 0, or
 * -ENOMEM.  ret->reason says whether the answer can be used (buckets and
 * after_key are returned only with EVENTLOG_OK; after_key is the compact
 * text of a JSON object, to be checked with eventlog_after_key_check()
 * before it is sent); err gets a short reason for invalid_response.
 */
int	 eventlog_parse_count(long status, const char *body, size_t len,
	    struct eventlog_result *ret, char *err, size_t errsz);
void	 eventlog_result_free(struct eventlog_result *r);

/*
 * Paging guard: a hostile or broken Elasticsearch that answers every page
 * with the same (or an earlier) composite after_key would make the poller
 * fetch EVENTLOG_MAX_PAGES pages and count the same buckets on each.  For
 * every page after the first the poller calls
 *
 *	eventlog_after_key_check(after_key_sent, after_key_received)
 *
 * with the after_key it sent (the previous page's ret->after_key) and the
 * one just received, and stops paging (invalid_response, nothing from the
 * poll counted) unless it returns 0.
 *
 * 0: next_after_key advances strictly past prev_after_key in
 * Elasticsearch's composite order for the sources of
 * eventlog_build_count_query(): the tuples (id, type_id, namespace,
 * space_agnostic) compared source by source in that order, all ascending;
 * keyword terms as byte strings (UTF-8 binary order, a prefix first),
 * booleans false < true, and null (missing_bucket) before any value.
 * -EBADMSG: it repeats or goes back, or either key is not a JSON object
 * with exactly those four keys, each a string (id, type_id, namespace) or a
 * boolean (space_agnostic), null only where the source has missing_bucket
 * (not id), no duplicate keys.  -EINVAL: next_after_key is NULL.  -ENOMEM.
 * prev_after_key NULL (first page): only next_after_key's shape is checked.
 * A key never advances past itself, and check(a, b) == 0 implies
 * check(b, a) != 0, so the keys of one poll that all pass are strictly
 * increasing and none can come back: no cycle is possible.
 */
int	 eventlog_after_key_check(const char *prev_after_key,
	    const char *next_after_key);

/*
 * For a caller that cannot rely on the strict order above (a future query
 * with other sources, an Elasticsearch whose order is not the documented
 * one): a 64-bit fingerprint of an after_key (FNV-1a over its values in
 * source order, independent of key order and whitespace in the text).  The
 * poller keeps the fingerprints of the after_keys of one poll (at most
 * EVENTLOG_MAX_PAGES) and treats a repeat as a cycle.  A collision can only
 * end paging early (reported, nothing counted), never count a page twice.
 * Same shape rules and errors as eventlog_after_key_check().
 */
int	 eventlog_after_key_fingerprint(const char *after_key, uint64_t *ret);

/*
 * Parses a detail response: the verdict into *reason, and when it is
 * EVENTLOG_OK and a hit exists, the document into *ret (0); -ENOENT when
 * there is no hit, -EBADMSG when the answer is unusable.
 */
int	 eventlog_parse_failure(long status, const char *body, size_t len,
	    enum eventlog_reason *reason, struct eventlog_failure *ret);
void	 eventlog_failure_free(struct eventlog_failure *f);

#endif /* KCM_EVENTLOG_ES_H */
