/*
 * eventlog.c: one target's event-log poller (issue 3).
 *
 * A poll: the window [start, now - settle_delay) (start = the end of the
 * last counted window, or now - lookback at first), counted with the nested
 * composite aggregation of eventlog_es.c, page after page.  Only when every
 * page came back usable are the counters raised and the window closed; a
 * failed or blind search leaves the window pending for the next poll (never
 * reaching back further than max(lookback, 24h)).  Then, for at most
 * EVENTLOG_DETAILS_MAX connectors with failures or timeouts in the window,
 * one small search fetches the newest such document, and one log entry per
 * connector tells what went wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "config_endpoint.h"
#include "config_types.h"
#include "engine.h"
#include "eventlog.h"
#include "inventory.h"
#include "log.h"
#include "metrics.h"
#include "msgid.h"
#include "state.h"
#include "status.h"

enum elreq_kind { ELREQ_COUNT, ELREQ_DETAIL };

struct eventlog_families {
	struct metric_family	*executions;
	struct metric_family	*last_execution;
	struct metric_family	*visible;
	struct metric_family	*shard_failures;
	struct metric_family	*window_end;
	struct metric_family	*errors;
};

/* One connector's counts in the window, buckets merged by (space, id, type). */
struct elconn {
	char		*space;
	char		*id;
	char		*type_id;
	char		*namespace;	/* of the first bucket (detail query) */
	bool		 space_agnostic;
	uint64_t	 count[EVENTLOG__OUTCOMES];
	double		 last[EVENTLOG__OUTCOMES];
	bool		 known_failing;	/* scratch: submit_details() */
};

/* Connectors given their zero series per slice of a finish. */
#ifndef EVENTLOG_SLICE
#define EVENTLOG_SLICE	100
#endif

struct eventlog {
	const struct target_config *cfg;
	struct inventory	*inventory;	/* the target's, for names */
	bool			 finishing;	/* between finish slices */
	struct inventory_cursor	 zero_cur;	/* the next connector to set */
	struct eventlog_families fam;
	char			*url;		/* <es>/<index>/_search */
	char			*state_dir;	/* NULL: nothing kept across restarts */

	bool			 have_start;
	int64_t			 start_ms;	/* next window's start */
	bool			 state_read;	/* the state file was looked at */
	bool			 state_failing;	/* saving failed: log on change */

	/* the running poll */
	int64_t			 win_start, win_end;
	unsigned		 pages;
	struct elconn		*conns;
	size_t			 nconns, capconns;
	uint64_t		*seen;		/* hashes of this poll's bucket keys */
	size_t			 nseen, capseen;	/* open addressing, 0 = empty */

	enum eventlog_reason	 last_reason;	/* for logging changes only */
	bool			 searched;	/* a count search came back */
	int64_t			 counted_start_ms, counted_end_ms; /* last window */

	/* every connector with series, sorted by (space, id, type_id) */
	struct elseries		*series;
	size_t			 nseries, capseries;
};

/*
 * A connector's executions_total / last_execution series and what was
 * logged about it.  The series go once the connector is neither in the
 * inventory nor had a counted run within event_log.series_retention.
 */
struct elseries {
	char			*space;
	char			*id;
	char			*type_id;
	int64_t			 counted_ms;	/* last window with a run; 0 = never */
	bool			 seen;		/* scratch: in the inventory now */
	bool			 failing;	/* its last logged state */
	char			*error;		/* the error text last logged */
	int64_t			 logged_ms;	/* last failing line or reminder */
	/* the status page */
	struct elhour		*hour;		/* NULL until a failure is counted */
	double			 last_failure;	/* newest failure/timeout, epoch s */
	char			*last_error;	/* its error text; NULL: not fetched */
	char			*name;		/* kibana.action.name, if sent */
};

/*
 * Failures and timeouts counted in the last hour: one bucket per minute (of
 * the end of the window that counted them), a ring of 60, so a connector's
 * memory never grows with time.
 */
#define ELHOUR_MINUTES	60
struct elhour {
	int64_t			 minute[ELHOUR_MINUTES];	/* epoch minute held */
	uint32_t		 failures[ELHOUR_MINUTES];
	uint32_t		 timeouts[ELHOUR_MINUTES];
};

/* One search of a poll (freed by the engine after its callback). */
struct elreq {
	struct eventlog		*el;
	enum elreq_kind		 kind;
	struct elconn		*conn;		/* detail */
	char			*after_key;	/* count: the page's after_key sent */
	char			*body;
};

static const char *const exec_l[] = { "target", "space", "connector_id",
    "connector_type_id", "outcome" };
static const char *const last_l[] = { "target", "space", "connector_id",
    "connector_type_id", "outcome" };
static const char *const target_l[] = { "target" };
static const char *const err_l[] = { "target", "reason" };

#define FAM(f) offsetof(struct eventlog_families, f)
static const struct metrics_spec eventlog_specs[] = {
	{ FAM(executions), "kibana_connector_executions_total",
	  "Connector executions found in the Kibana event log (event.provider actions), by outcome: success, failure (execute with outcome failure), timeout (execute-timeout). Counted once per event in windows that end settle_delay before the poll.",
	  METRIC_COUNTER, METRICS_SPEC_LABELS(exec_l), NULL, 0 },
	{ FAM(last_execution), "kibana_connector_last_execution_timestamp_seconds",
	  "Time (@timestamp) of the newest execution event counted, by outcome.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(last_l), NULL, 0 },
	{ FAM(visible), "kibana_connector_monitor_event_log_visible",
	  "1 when the last event-log search really covered event-log shards without failures, else 0 (no privilege, no index, errors).",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(target_l), NULL, 0 },
	{ FAM(shard_failures), "kibana_connector_monitor_event_log_shard_failures_total",
	  "Failed shards reported by event-log searches (_shards.failed).",
	  METRIC_COUNTER, METRICS_SPEC_LABELS(target_l), NULL, 0 },
	{ FAM(window_end), "kibana_connector_monitor_event_log_window_end_timestamp_seconds",
	  "End (exclusive) of the last event-log window that was counted.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(target_l), NULL, 0 },
	{ FAM(errors), "kibana_connector_monitor_event_log_errors_total",
	  "Event-log searches that could not see the log, by reason.",
	  METRIC_COUNTER, METRICS_SPEC_LABELS(err_l), NULL, 0 },
};
#undef FAM

static const char *const json_headers[] = {
	"Content-Type: application/json", NULL,
};

static int64_t
now_ms(void)
{
	return (int64_t)(realtime_seconds() * 1000.0);
}

static const char *
el_index(const struct eventlog *el)
{
	return el->cfg->event_log.index != NULL ? el->cfg->event_log.index :
	    CONFIG_DEFAULT_EVENT_LOG_INDEX;
}

static void
conns_reset(struct eventlog *el)
{
	size_t i;

	for (i = 0; i < el->nconns; i++) {
		free(el->conns[i].space);
		free(el->conns[i].id);
		free(el->conns[i].type_id);
		free(el->conns[i].namespace);
	}
	free(el->conns);
	el->conns = NULL;
	el->nconns = el->capconns = 0;
	free(el->seen);
	el->seen = NULL;
	el->nseen = el->capseen = 0;
}

/* FNV-1a of a composite bucket key (never 0: 0 marks an empty slot). */
static uint64_t
bucket_hash(const struct eventlog_bucket *b)
{
	const char *parts[3] = { b->connector_id, b->type_id,
	    b->namespace != NULL ? b->namespace : "" };
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	const unsigned char *p;
	size_t i;

	for (i = 0; i < 3; i++) {
		for (p = (const unsigned char *)parts[i]; *p != '\0'; p++)
			h = (h ^ *p) * UINT64_C(0x100000001b3);
		h = (h ^ 0xff) * UINT64_C(0x100000001b3);
	}
	h = (h ^ (b->namespace == NULL ? 1u : 2u)) * UINT64_C(0x100000001b3);
	h = (h ^ (b->space_agnostic ? 3u : 4u)) * UINT64_C(0x100000001b3);
	return h != 0 ? h : 1;
}

/*
 * Records a bucket key of this poll: 1 when it was new, 0 when the poll
 * already had it (composite pages never repeat a bucket: a server that
 * does would have the same executions counted again), -ENOMEM.
 */
static int
bucket_seen(struct eventlog *el, uint64_t h)
{
	size_t i, mask;

	if ((el->nseen + 1) * 2 > el->capseen) {
		size_t cap = el->capseen ? el->capseen * 2 : 1024, j;
		uint64_t *n = calloc(cap, sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		for (j = 0; j < el->capseen; j++) {
			if (el->seen[j] == 0)
				continue;
			for (i = el->seen[j] & (cap - 1); n[i] != 0; i = (i + 1) & (cap - 1))
				;
			n[i] = el->seen[j];
		}
		free(el->seen);
		el->seen = n;
		el->capseen = cap;
	}
	mask = el->capseen - 1;
	for (i = h & mask; el->seen[i] != 0; i = (i + 1) & mask)
		if (el->seen[i] == h)
			return 0;
	el->seen[i] = h;
	el->nseen++;
	return 1;
}

static int
series_cmp(const struct elseries *e, const char *space, const char *id,
    const char *type_id)
{
	int r;

	if ((r = strcmp(e->space, space)) != 0)
		return r;
	if ((r = strcmp(e->id, id)) != 0)
		return r;
	return strcmp(e->type_id, type_id);
}

static void
series_free(struct elseries *e)
{
	free(e->space);
	free(e->id);
	free(e->type_id);
	free(e->error);
	free(e->hour);
	free(e->last_error);
	free(e->name);
}

static uint32_t
sat_add_u32(uint32_t a, uint64_t b)
{
	return b >= UINT32_MAX - a ? UINT32_MAX : a + (uint32_t)b;
}

/* Counts a window's failures and timeouts in the minute its end falls in. */
static void
hour_add(struct elseries *e, int64_t end_ms, uint64_t failures,
    uint64_t timeouts)
{
	int64_t m = end_ms / 60000;
	size_t i = (size_t)(m % ELHOUR_MINUTES);

	if (failures == 0 && timeouts == 0)
		return;
	if (e->hour == NULL &&
	    (e->hour = calloc(1, sizeof(*e->hour))) == NULL)
		return;
	if (e->hour->minute[i] != m) {
		e->hour->minute[i] = m;
		e->hour->failures[i] = e->hour->timeouts[i] = 0;
	}
	e->hour->failures[i] = sat_add_u32(e->hour->failures[i], failures);
	e->hour->timeouts[i] = sat_add_u32(e->hour->timeouts[i], timeouts);
}

/* Sums of the last hour at now_ms; false when the ring is all stale. */
static bool
hour_sum(const struct elseries *e, int64_t now, uint64_t *fail, uint64_t *tout)
{
	int64_t m = now / 60000;
	size_t i;

	*fail = *tout = 0;
	if (e->hour == NULL)
		return false;
	for (i = 0; i < ELHOUR_MINUTES; i++) {
		if (e->hour->minute[i] <= m - ELHOUR_MINUTES || e->hour->minute[i] > m)
			continue;
		*fail += e->hour->failures[i];
		*tout += e->hour->timeouts[i];
	}
	return *fail > 0 || *tout > 0;
}

/* The connector's entry; with create, added when missing (NULL on ENOMEM). */
static struct elseries *
series_find(struct eventlog *el, const char *space, const char *id,
    const char *type_id, bool create)
{
	struct elseries *e, *n;
	size_t lo = 0, hi = el->nseries, mid;
	int r;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		r = series_cmp(&el->series[mid], space, id, type_id);
		if (r == 0)
			return &el->series[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	if (el->nseries == el->capseries) {
		size_t cap = el->capseries ? el->capseries * 2 : 64;

		if ((n = reallocarray(el->series, cap, sizeof(*n))) == NULL)
			return NULL;
		el->series = n;
		el->capseries = cap;
	}
	e = &el->series[lo];
	memmove(e + 1, e, (el->nseries - lo) * sizeof(*e));
	memset(e, 0, sizeof(*e));
	e->space = strdup(space);
	e->id = strdup(id);
	e->type_id = strdup(type_id);
	if (e->space == NULL || e->id == NULL || e->type_id == NULL) {
		series_free(e);
		memmove(e, e + 1, (el->nseries - lo) * sizeof(*e));
		return NULL;
	}
	el->nseries++;
	return e;
}

static void
elreq_free(void *arg)
{
	struct elreq *r = arg;

	free(r->after_key);
	free(r->body);
	free(r);
}

static void
set_zero_series(const char *space, const char *id, const char *name,
    const char *type_id, bool preconfigured, void *arg)
{
	struct eventlog *el = arg;
	const char *v[5] = { el->cfg->name, space, id, type_id, NULL };
	struct elseries *e;
	unsigned o;

	(void)name;
	(void)preconfigured;
	if ((e = series_find(el, space, id, type_id, true)) != NULL)
		e->seen = true;
	for (o = 0; o < EVENTLOG__OUTCOMES; o++) {
		v[4] = eventlog_outcome_to_string(o);
		metrics_add(el->fam.executions, v, 0);
	}
}

static void
eventlog_free(void *arg)
{
	struct eventlog *el = arg;
	size_t i;

	if (el == NULL)
		return;
	conns_reset(el);
	for (i = 0; i < el->nseries; i++)
		series_free(&el->series[i]);
	free(el->series);
	free(el->url);
	free(el->state_dir);
	free(el);
}

static struct eventlog *
eventlog_new(struct metrics *m, struct inventory *inv,
    const struct target_config *cfg, const char *state_dir)
{
	struct eventlog *el;
	struct strbuf sb;
	const char *tv[1] = { cfg->name };
	const char *ev[2] = { cfg->name, NULL };
	unsigned i;

	el = calloc(1, sizeof(*el));
	if (el == NULL)
		return NULL;
	el->inventory = inv;
	el->cfg = cfg;
	el->last_reason = EVENTLOG_OK;
	strbuf_init(&sb);
	strbuf_puts(&sb, cfg->elasticsearch.url);
	if (eventlog_search_path(&sb, el_index(el)) < 0 ||
	    (el->url = strbuf_steal(&sb)) == NULL ||
	    (state_dir != NULL && (el->state_dir = strdup(state_dir)) == NULL) ||
	    metrics_register(m, eventlog_specs, ELEMENTSOF(eventlog_specs),
	    &el->fam) < 0) {
		strbuf_free(&sb);
		eventlog_free(el);
		return NULL;
	}
	/* Every reason starts at 0, so increase() works from the first one. */
	for (i = 0; i < EVENTLOG__MAX; i++) {
		if (i == EVENTLOG_OK)
			continue;
		ev[1] = eventlog_reason_to_string(i);
		metrics_add(el->fam.errors, ev, 0);
	}
	metrics_add(el->fam.shard_failures, tv, 0);
	return el;
}

static enum engine_result request_done(struct check *c,
    const struct http_response *resp, enum engine_result res, void *arg);

static int
submit(struct check *ck, struct eventlog *el, enum elreq_kind kind,
    struct elconn *c, const char *after_key)
{
	struct http_request req;
	struct strbuf body;
	struct elreq *r;
	int ret;

	strbuf_init(&body);
	if (kind == ELREQ_COUNT)
		ret = eventlog_build_count_query(&body, el->win_start,
		    el->win_end, after_key, EVENTLOG_PAGE_SIZE);
	else
		ret = eventlog_build_failure_query(&body, el->win_start,
		    el->win_end, c->id, c->namespace, c->space_agnostic);
	r = calloc(1, sizeof(*r));
	if (ret < 0 || r == NULL || (r->body = strbuf_steal(&body)) == NULL ||
	    (after_key != NULL && (r->after_key = strdup(after_key)) == NULL)) {
		strbuf_free(&body);
		if (r != NULL)
			elreq_free(r);
		return -ENOMEM;
	}
	r->el = el;
	r->kind = kind;
	r->conn = c;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = el->url;
	req.body = r->body;
	req.body_len = strlen(r->body);
	req.ep = &el->cfg->elasticsearch;
	req.headers = json_headers;
	log_debug("POST %s (target %s, event log %s)", el_index(el),
	    el->cfg->name, kind == ELREQ_COUNT ? "count" : "detail");
	ret = check_request(ck, API_EVENT_LOG, &req, request_done, elreq_free, r);
	if (ret < 0)
		elreq_free(r);
	return ret;
}

/* Logs a change of visibility (and nothing while it stays the same). */
static void
note_visibility(struct eventlog *el, enum eventlog_reason reason,
    long status, const char *etype, const char *detail)
{
	const char *name = el->cfg->name, *index = el_index(el);
	const char *what;
	char st[16];
	struct log_field f[6];

	if (reason == el->last_reason)
		return;
	el->last_reason = reason;
	snprintf(st, sizeof(st), "%ld", status);
	f[0] = (struct log_field){ "TARGET", name };
	f[1] = (struct log_field){ "INDEX", index };
	f[2] = (struct log_field){ "REASON", eventlog_reason_to_string(reason) };
	f[3] = (struct log_field){ "HTTP_STATUS", st };
	f[4] = (struct log_field){ "ERROR_TYPE", etype };
	f[5] = (struct log_field){ "ERROR_MESSAGE", detail };
	if (reason == EVENTLOG_OK) {
		log_struct(LOG_INFO, MSGID_EVENT_LOG_VISIBLE, f, 3,
		    "event log '%s' of target '%s' is visible again",
		    index, name);
		return;
	}
	switch (reason) {
	case EVENTLOG_NO_SHARDS:
		what = "the search covered no shards: the Elasticsearch user "
		    "lacks 'read' on the index, or no index matches";
		break;
	case EVENTLOG_NO_AGGREGATIONS:
		what = "the answer has no aggregations (no privilege or no index)";
		break;
	case EVENTLOG_INDEX_NOT_FOUND:
		what = "the index does not exist (index_not_found_exception)";
		break;
	case EVENTLOG_SECURITY:
		what = "Elasticsearch refused the credentials or the privilege "
		    "(security_exception)";
		break;
	case EVENTLOG_SEARCH_PHASE:
		what = "every shard failed (search_phase_execution_exception)";
		break;
	case EVENTLOG_SHARD_FAILURES:
		what = "some shards failed, the counts would be incomplete";
		break;
	case EVENTLOG_TRANSPORT:
		what = "Elasticsearch could not be reached";
		break;
	case EVENTLOG_INVALID_RESPONSE:
		what = "the answer is not a search response";
		break;
	default:
		what = "Elasticsearch answered with an error";
		break;
	}
	log_struct(LOG_WARNING, MSGID_EVENT_LOG_NOT_VISIBLE, f, 6,
	    "cannot see the event log '%s' of target '%s' (%s): %s; failed "
	    "connector runs are NOT counted until this is fixed%s%s",
	    index, name, eventlog_reason_to_string(reason), what,
	    detail != NULL && *detail != '\0' ? ": " : "",
	    detail != NULL ? detail : "");
}

static struct elconn *
conn_find_or_add(struct eventlog *el, const struct eventlog_bucket *b)
{
	struct elconn *c, *n;
	size_t i;

	for (i = 0; i < el->nconns; i++) {
		c = &el->conns[i];
		if (strcmp(c->space, b->space) == 0 &&
		    strcmp(c->id, b->connector_id) == 0 &&
		    strcmp(c->type_id, b->type_id) == 0)
			return c;
	}
	if (el->nconns == el->capconns) {
		size_t cap = el->capconns ? el->capconns * 2 : 16;

		n = reallocarray(el->conns, cap, sizeof(*n));
		if (n == NULL)
			return NULL;
		el->conns = n;
		el->capconns = cap;
	}
	c = &el->conns[el->nconns];
	memset(c, 0, sizeof(*c));
	c->space = strdup(b->space);
	c->id = strdup(b->connector_id);
	c->type_id = strdup(b->type_id);
	c->namespace = b->namespace != NULL ? strdup(b->namespace) : NULL;
	c->space_agnostic = b->space_agnostic;
	if (c->space == NULL || c->id == NULL || c->type_id == NULL ||
	    (b->namespace != NULL && c->namespace == NULL)) {
		free(c->space);
		free(c->id);
		free(c->type_id);
		free(c->namespace);
		return NULL;
	}
	el->nconns++;
	return c;
}

/* 0, -EBADMSG for a bucket an earlier page (or this one) had, -ENOMEM. */
static int
merge(struct eventlog *el, const struct eventlog_result *res)
{
	struct elconn *c;
	size_t i;
	unsigned o;
	int r;

	for (i = 0; i < res->n; i++) {
		if ((r = bucket_seen(el, bucket_hash(&res->v[i]))) <= 0)
			return r < 0 ? r : -EBADMSG;
	}
	for (i = 0; i < res->n; i++) {
		const struct eventlog_bucket *b = &res->v[i];

		if ((c = conn_find_or_add(el, b)) == NULL)
			return -ENOMEM;
		for (o = 0; o < EVENTLOG__OUTCOMES; o++) {
			c->count[o] = sat_add_u64(c->count[o], b->count[o]);
			if (b->last[o] > c->last[o])
				c->last[o] = b->last[o];
		}
	}
	return 0;
}

/*
 * Before the first window: where the last run of the daemon stopped
 * counting.  A file that cannot be used is named in a warning and ignored
 * (the lookback applies); it never stops the daemon.
 */
static void
state_resume(struct eventlog *el)
{
	char err[512];
	int64_t end;
	int r;

	el->state_read = true;
	if (el->state_dir == NULL || el->have_start)
		return;
	r = state_load_window(el->state_dir, el->cfg->name, el->url, &end, err,
	    sizeof(err));
	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_struct(LOG_WARNING, NULL, (struct log_field[]){
		    { "TARGET", el->cfg->name }, { "ERROR_MESSAGE", err } }, 2,
		    "event log of target '%s': ignoring the saved window: %s; "
		    "counting from the lookback instead", el->cfg->name, err);
		return;
	}
	el->have_start = true;
	el->start_ms = end;
	log_struct(LOG_INFO, NULL, (struct log_field[]){
	    { "TARGET", el->cfg->name } }, 1,
	    "event log of target '%s': resuming after the window saved in %s",
	    el->cfg->name, el->state_dir);
}

/* After the counts of a window are applied: keep its end across restarts. */
static void
state_save(struct eventlog *el)
{
	char err[512];
	int r;

	if (el->state_dir == NULL)
		return;
	r = state_save_window(el->state_dir, el->cfg->name, el->url,
	    el->start_ms, err, sizeof(err));
	if (r < 0 && !el->state_failing)
		log_struct(LOG_WARNING, NULL, (struct log_field[]){
		    { "TARGET", el->cfg->name }, { "ERROR_MESSAGE", err } }, 2,
		    "event log of target '%s': cannot save the window: %s; a "
		    "restart will count the lookback window again", el->cfg->name,
		    err);
	else if (r == 0 && el->state_failing)
		log_info("event log of target '%s': the window is saved again",
		    el->cfg->name);
	el->state_failing = r < 0;
}

static const char *
connector_name(const struct eventlog *el, const char *space, const char *id,
    const struct eventlog_failure *d)
{
	if (d != NULL && d->action_name != NULL)
		return d->action_name;
	if (el->inventory != NULL)
		return inventory_connector_name(el->inventory, space, id);
	return NULL;
}

/* A connector that failed ran successfully again, and only so. */
static void
log_recovered(struct eventlog *el, const struct elconn *c, struct elseries *e)
{
	const char *name = connector_name(el, c->space, c->id, NULL);
	char ok[24];
	struct log_field f[] = {
		{ "TARGET", el->cfg->name },
		{ "SPACE", c->space },
		{ "CONNECTOR_ID", c->id },
		{ "CONNECTOR_NAME", name },
		{ "CONNECTOR_TYPE_ID", c->type_id },
		{ "SUCCESSES", ok },
	};

	snprintf(ok, sizeof(ok), "%" PRIu64, c->count[EVENTLOG_SUCCESS]);
	log_struct(LOG_INFO, MSGID_CONNECTOR_RECOVERED, f, ELEMENTSOF(f),
	    "connector '%s' (%s) in space '%s' of target '%s' recovered: %s "
	    "successful executions and no failure in the event log",
	    name != NULL ? name : "", c->id, c->space, el->cfg->name, ok);
	e->failing = false;
	free(e->error);
	e->error = NULL;
}

/* The window is complete: raise the counters, close the window. */
static void
commit_window(struct eventlog *el)
{
	struct eventlog_families *f = &el->fam;
	const char *name = el->cfg->name;
	const char *tv[1] = { name };
	int64_t now = now_ms();
	size_t i;
	unsigned o;

	for (i = 0; i < el->nconns; i++) {
		struct elconn *c = &el->conns[i];
		const char *v[5] = { name, c->space, c->id, c->type_id, NULL };
		struct elseries *e;
		double prev;

		for (o = 0; o < EVENTLOG__OUTCOMES; o++) {
			v[4] = eventlog_outcome_to_string(o);
			metrics_add(f->executions, v, (double)c->count[o]);
			if (c->count[o] == 0 || c->last[o] <= 0)
				continue;
			if (metrics_get(f->last_execution, v, &prev) == 0 &&
			    prev >= c->last[o])
				continue;
			metrics_set(f->last_execution, v, c->last[o]);
		}
		e = series_find(el, c->space, c->id, c->type_id, true);
		if (e == NULL)
			continue;
		e->counted_ms = now;
		hour_add(e, el->win_end, c->count[EVENTLOG_FAILURE],
		    c->count[EVENTLOG_TIMEOUT]);
		if (c->count[EVENTLOG_FAILURE] > 0 &&
		    c->last[EVENTLOG_FAILURE] > e->last_failure)
			e->last_failure = c->last[EVENTLOG_FAILURE];
		if (c->count[EVENTLOG_TIMEOUT] > 0 &&
		    c->last[EVENTLOG_TIMEOUT] > e->last_failure)
			e->last_failure = c->last[EVENTLOG_TIMEOUT];
		if (e->failing && c->count[EVENTLOG_FAILURE] == 0 &&
		    c->count[EVENTLOG_TIMEOUT] == 0 && c->count[EVENTLOG_SUCCESS] > 0)
			log_recovered(el, c, e);
	}
	el->start_ms = el->win_end;
	el->counted_start_ms = el->win_start;
	el->counted_end_ms = el->win_end;
	metrics_set(f->window_end, tv, (double)el->win_end / 1000.0);
	state_save(el);
}

/*
 * Series of connectors that are gone from the inventory and had no counted
 * run within the retention go, so connector churn cannot grow the
 * exposition without bound.
 */
static void
series_prune(struct eventlog *el)
{
	const char *name = el->cfg->name;
	int64_t now = now_ms();
	int64_t keep = (int64_t)(el->cfg->event_log.series_retention_usec /
	    USEC_PER_MSEC);
	size_t i, o;

	for (i = o = 0; i < el->nseries; i++) {
		struct elseries *e = &el->series[i];
		const char *m[5] = { name, e->space, e->id, e->type_id, NULL };

		if (!e->seen && (e->counted_ms == 0 || now - e->counted_ms > keep)) {
			metrics_remove(el->fam.executions, m);
			metrics_remove(el->fam.last_execution, m);
			series_free(e);
			continue;
		}
		e->seen = false;
		if (e->hour != NULL && !hour_sum(e, now, &(uint64_t){ 0 },
		    &(uint64_t){ 0 })) {
			free(e->hour);	/* nothing in the last hour */
			e->hour = NULL;
		}
		el->series[o++] = *e;
	}
	el->nseries = o;
}

static bool
is_failing(const struct elconn *c)
{
	return c->count[EVENTLOG_FAILURE] > 0 || c->count[EVENTLOG_TIMEOUT] > 0;
}

/* Connectors not yet known to fail first, then by number of failures. */
static int
cmp_failing(const void *a, const void *b)
{
	const struct elconn *x = *(const struct elconn *const *)a;
	const struct elconn *y = *(const struct elconn *const *)b;
	uint64_t nx = sat_add_u64(x->count[EVENTLOG_FAILURE], x->count[EVENTLOG_TIMEOUT]);
	uint64_t ny = sat_add_u64(y->count[EVENTLOG_FAILURE], y->count[EVENTLOG_TIMEOUT]);
	int r;

	if (x->known_failing != y->known_failing)
		return x->known_failing ? 1 : -1;
	if (nx != ny)
		return nx > ny ? -1 : 1;
	if ((r = strcmp(x->space, y->space)) != 0)
		return r;
	return strcmp(x->id, y->id);
}

/*
 * Detail requests (the newest failure's error text) for the connectors that
 * failed in the window: at most EVENTLOG_DETAILS_MAX per poll.
 */
static void
submit_details(struct check *ck, struct eventlog *el)
{
	struct elconn **v;
	struct elseries *e;
	size_t i, n = 0;

	v = calloc(el->nconns > 0 ? el->nconns : 1, sizeof(*v));
	if (v == NULL)
		return;
	for (i = 0; i < el->nconns; i++) {
		struct elconn *c = &el->conns[i];

		if (!is_failing(c))
			continue;
		e = series_find(el, c->space, c->id, c->type_id, false);
		c->known_failing = e != NULL && e->failing;
		v[n++] = c;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_failing);
	for (i = 0; i < n && i < EVENTLOG_DETAILS_MAX; i++)
		if (submit(ck, el, ELREQ_DETAIL, v[i], NULL) < 0)
			check_fail(ck, API_EVENT_LOG);
	if (n > EVENTLOG_DETAILS_MAX && !v[EVENTLOG_DETAILS_MAX]->known_failing) {
		char more[24];
		struct log_field f[] = {
			{ "TARGET", el->cfg->name }, { "CONNECTORS", more },
		};

		snprintf(more, sizeof(more), "%zu", n - EVENTLOG_DETAILS_MAX);
		log_struct(LOG_WARNING, NULL, f, ELEMENTSOF(f),
		    "%zu more connectors of target '%s' failed in this window; "
		    "only %d are looked at per poll, see "
		    "kibana_connector_executions_total", n - EVENTLOG_DETAILS_MAX,
		    el->cfg->name, EVENTLOG_DETAILS_MAX);
	}
	free(v);
}

enum eventlog_log
eventlog_log_decision(bool failing, const char *logged_error, const char *error,
    int64_t logged_ms, int64_t now_ms)
{
	if (!failing)
		return EVENTLOG_LOG_STARTED;
	if (error != NULL &&
	    (logged_error == NULL || strcmp(logged_error, error) != 0))
		return EVENTLOG_LOG_CHANGED;
	if (now_ms - logged_ms >= EVENTLOG_REMINDER_MS)
		return EVENTLOG_LOG_REMINDER;
	return EVENTLOG_LOG_NONE;
}

/*
 * The log policy for a failing connector: one entry when it starts failing,
 * one when its error text changes, and while it keeps failing a reminder at
 * most every EVENTLOG_REMINDER_MS; nothing otherwise.
 */
static void
log_failing(struct eventlog *el, const struct elconn *c,
    const struct eventlog_failure *d)
{
	const char *name = connector_name(el, c->space, c->id, d);
	const char *text, *why;
	char fails[24], touts[24];
	struct elseries *e;
	int64_t now = now_ms();

	text = d == NULL ? "(details unavailable)" :
	    d->error_message != NULL ? d->error_message :
	    d->message != NULL ? d->message : "";
	e = series_find(el, c->space, c->id, c->type_id, true);
	/* The status page shows the newest error text (bounded). */
	if (e != NULL && d != NULL) {
		char *copy = strndup(text, STATUS_TEXT_MAX + 4);

		if (copy != NULL) {
			free(e->last_error);
			e->last_error = copy;
		}
		if (d->action_name != NULL &&
		    (copy = strndup(d->action_name, STATUS_TEXT_MAX)) != NULL) {
			free(e->name);
			e->name = copy;
		}
	}
	switch (e == NULL ? EVENTLOG_LOG_STARTED : eventlog_log_decision(
	    e->failing, e->error, d != NULL ? text : NULL, e->logged_ms, now)) {
	case EVENTLOG_LOG_NONE:
		return;
	case EVENTLOG_LOG_STARTED:
		why = "started failing:";
		break;
	case EVENTLOG_LOG_CHANGED:
		why = "keeps failing with another error:";
		break;
	case EVENTLOG_LOG_REMINDER:
		why = "is still failing (reminder, at most once an hour):";
		break;
	}
	if (e != NULL) {
		e->failing = true;
		e->logged_ms = now;
		if (d != NULL || e->error == NULL) {
			free(e->error);
			e->error = strdup(text);
		}
	}
	snprintf(fails, sizeof(fails), "%" PRIu64, c->count[EVENTLOG_FAILURE]);
	snprintf(touts, sizeof(touts), "%" PRIu64, c->count[EVENTLOG_TIMEOUT]);
	{
		struct log_field f[] = {
			{ "TARGET", el->cfg->name },
			{ "SPACE", c->space },
			{ "CONNECTOR_ID", c->id },
			{ "CONNECTOR_NAME", name },
			{ "CONNECTOR_TYPE_ID", c->type_id },
			{ "RULE_ID", d != NULL ? d->rule_id : NULL },
			{ "OUTCOME", d != NULL ? d->outcome : NULL },
			{ "ERROR_MESSAGE", d != NULL ? d->error_message : NULL },
			{ "EVENT_MESSAGE", d != NULL ? d->message : NULL },
			{ "EVENT_TIMESTAMP", d != NULL ? d->timestamp : NULL },
			{ "FAILURES", fails },
			{ "TIMEOUTS", touts },
		};

		log_struct(LOG_WARNING, MSGID_CONNECTOR_FAILING, f,
		    ELEMENTSOF(f),
		    "connector '%s' (%s) in space '%s' of target '%s' %s %s "
		    "failures and %s timeouts in the event log: %s",
		    name != NULL ? name : "", c->id, c->space, el->cfg->name,
		    why, fails, touts, text);
	}
}

/* Returns the final verdict of a count search (see check_done_fn). */
static enum engine_result
count_done(struct check *ck, struct eventlog *el, const char *sent_after_key,
    const struct http_response *resp, enum engine_result kr)
{
	struct eventlog_result res;
	const char *tv[1] = { el->cfg->name };
	const char *why;
	char err[256];
	int mr;
	long status = resp->result == HTTP_RESULT_OK ? resp->status : 0;

	if (eventlog_parse_count(status, resp->body, resp->body_len, &res,
	    err, sizeof(err)) < 0) {
		check_fail(ck, API_EVENT_LOG);
		return kr;
	}
	el->searched = true;
	if (res.reason == EVENTLOG_INVALID_RESPONSE && kr == RESULT_OK)
		kr = RESULT_INVALID_RESPONSE;
	if (res.shards_failed > 0)
		metrics_add(el->fam.shard_failures, tv,
		    (double)res.shards_failed);
	if (res.reason != EVENTLOG_OK) {
		const char *ev[2] = { el->cfg->name,
		    eventlog_reason_to_string(res.reason) };
		const char *detail = res.error_reason != NULL ? res.error_reason :
		    res.reason == EVENTLOG_TRANSPORT ? resp->error :
		    res.reason == EVENTLOG_INVALID_RESPONSE ? err : "";

		metrics_add(el->fam.errors, ev, 1);
		metrics_set(el->fam.visible, tv, 0);
		note_visibility(el, res.reason, status, res.error_type, detail);
		check_fail(ck, API_EVENT_LOG);
		eventlog_result_free(&res);
		return kr;
	}
	/*
	 * A page must move past the after_key it was asked for and hold no
	 * bucket an earlier page had: a server that repeats either would have
	 * the same executions counted again, page after page.  Then nothing of
	 * this poll is counted (the window stays pending).
	 */
	why = NULL;
	if (res.after_key != NULL &&
	    eventlog_after_key_check(sent_after_key, res.after_key) < 0)
		why = "the composite after_key does not advance past the one sent";
	else if ((mr = merge(el, &res)) == -EBADMSG)
		why = "a composite bucket comes back on a later page";
	else if (mr < 0) {
		log_error("out of memory counting the event log of target '%s'",
		    el->cfg->name);
		check_fail(ck, API_EVENT_LOG);
		eventlog_result_free(&res);
		return kr;
	}
	if (why != NULL) {
		const char *ev[2] = { el->cfg->name,
		    eventlog_reason_to_string(EVENTLOG_INVALID_RESPONSE) };

		metrics_add(el->fam.errors, ev, 1);
		metrics_set(el->fam.visible, tv, 0);
		note_visibility(el, EVENTLOG_INVALID_RESPONSE, status, NULL, why);
		check_fail(ck, API_EVENT_LOG);
		eventlog_result_free(&res);
		return RESULT_INVALID_RESPONSE;
	}
	el->pages++;
	if (res.n >= EVENTLOG_PAGE_SIZE && res.after_key != NULL) {
		if (el->pages < EVENTLOG_MAX_PAGES) {
			if (submit(ck, el, ELREQ_COUNT, NULL, res.after_key) < 0)
				check_fail(ck, API_EVENT_LOG);
			eventlog_result_free(&res);
			return kr;
		}
		log_warning("event log of target '%s': more than %d connector "
		    "buckets in one window, the rest is not counted",
		    el->cfg->name, EVENTLOG_PAGE_SIZE * EVENTLOG_MAX_PAGES);
	}
	eventlog_result_free(&res);

	/* Every page is in. */
	metrics_set(el->fam.visible, tv, 1);
	note_visibility(el, EVENTLOG_OK, status, NULL, NULL);
	commit_window(el);
	submit_details(ck, el);
	return kr;
}

static enum engine_result
detail_done(struct check *ck, struct eventlog *el, struct elconn *c,
    const struct http_response *resp, enum engine_result kr)
{
	struct eventlog_failure d;
	enum eventlog_reason reason;
	long status = resp->result == HTTP_RESULT_OK ? resp->status : 0;
	int r;

	r = eventlog_parse_failure(status, resp->body, resp->body_len, &reason,
	    &d);
	if (reason == EVENTLOG_INVALID_RESPONSE && kr == RESULT_OK)
		kr = RESULT_INVALID_RESPONSE;
	if (reason != EVENTLOG_OK)
		check_fail(ck, API_EVENT_LOG);
	log_failing(el, c, r == 0 ? &d : NULL);
	if (r == 0)
		eventlog_failure_free(&d);
	return kr;
}

static enum engine_result
request_done(struct check *ck, const struct http_response *resp,
    enum engine_result res, void *arg)
{
	struct elreq *r = arg;

	if (r->kind == ELREQ_COUNT)
		return count_done(ck, r->el, r->after_key, resp, res);
	return detail_done(ck, r->el, r->conn, resp, res);
}

/*
 * In slices (engine.h): at 10,000 connectors setting every zero series
 * takes some 20 ms, EVENTLOG_SLICE connectors a fraction of one.
 */
static int
eventlog_finish(struct check *ck, void *arg)
{
	struct eventlog *el = arg;

	(void)ck;
	if (!el->finishing) {
		conns_reset(el);
		memset(&el->zero_cur, 0, sizeof(el->zero_cur));
		el->finishing = true;
	}
	/* Every connector of the inventory has its series, at 0 when idle. */
	if (el->inventory != NULL && inventory_foreach_connector(el->inventory,
	    &el->zero_cur, EVENTLOG_SLICE, set_zero_series, el) > 0)
		return 1;
	series_prune(el);
	el->finishing = false;
	return 0;
}

static void
eventlog_run(struct check *ck, void *arg)
{
	struct eventlog *el = arg;
	const struct event_log_config *c = &el->cfg->event_log;
	int64_t now = now_ms(), lookback, start, end;

	if (!el->state_read)
		state_resume(el);
	lookback = (int64_t)(c->lookback_usec / USEC_PER_MSEC);
	if (eventlog_window(now, el->have_start, el->start_ms, lookback,
	    (int64_t)(c->settle_delay_usec / USEC_PER_MSEC), &start, &end)) {
		struct log_field f[] = { { "TARGET", el->cfg->name } };

		log_struct(LOG_WARNING, NULL, f, ELEMENTSOF(f),
		    "event log of target '%s': the pending window reaches back "
		    "%lld s; events older than %lld s before its end are not "
		    "counted", el->cfg->name,
		    (long long)((end - (el->have_start ? el->start_ms :
		    now - lookback)) / 1000), (long long)((end - start) / 1000));
	}
	el->start_ms = start;
	el->have_start = true;
	el->win_start = start;
	el->win_end = end;
	if (el->win_end <= el->win_start)
		return;	/* nothing settled yet (lookback shorter than settle_delay) */
	el->pages = 0;
	conns_reset(el);
	if (submit(ck, el, ELREQ_COUNT, NULL, NULL) < 0)
		check_fail(ck, API_EVENT_LOG);
}

/* ---- the status page ---------------------------------------------------- */

static void
eventlog_status(const void *arg, struct status *st)
{
	const struct eventlog *el = arg;
	const char *name = el->cfg->name;
	json_t *t = status_target(st, name), *o, *c, *lf;
	int64_t now = now_ms();
	uint64_t fail, tout;
	size_t i;

	if ((o = json_object()) != NULL) {
		json_object_set_new(o, "configured", json_true());
		json_object_set_new(o, "index", status_str(el_index(el), 0));
		json_object_set_new(o, "reachable", !el->searched ? json_null() :
		    json_boolean(el->last_reason != EVENTLOG_TRANSPORT));
		json_object_set_new(o, "visible", !el->searched ? json_null() :
		    json_boolean(el->last_reason == EVENTLOG_OK));
		json_object_set_new(o, "reason", !el->searched ||
		    el->last_reason == EVENTLOG_OK ? json_null() :
		    json_string(eventlog_reason_to_string(el->last_reason)));
		json_object_set_new(o, "window_start",
		    status_time((double)el->counted_start_ms / 1000.0));
		json_object_set_new(o, "window_end",
		    status_time((double)el->counted_end_ms / 1000.0));
		json_object_set_new(t, "event_log", o);
	}
	for (i = 0; i < el->nseries; i++) {
		const struct elseries *e = &el->series[i];

		if (!hour_sum(e, now, &fail, &tout) && e->last_failure <= 0 &&
		    e->last_error == NULL)
			continue;
		if ((c = status_connector(st, name, e->space, e->id)) == NULL)
			continue;
		/* Added: the same id with another type id is one connector. */
		fail = sat_add_u64(fail, (uint64_t)json_integer_value(
		    json_object_get(c, "failures_1h")));
		tout = sat_add_u64(tout, (uint64_t)json_integer_value(
		    json_object_get(c, "timeouts_1h")));
		json_object_set_new(c, "failures_1h", json_integer(
		    (json_int_t)(fail > INT64_MAX ? INT64_MAX : fail)));
		json_object_set_new(c, "timeouts_1h", json_integer(
		    (json_int_t)(tout > INT64_MAX ? INT64_MAX : tout)));
		if (json_is_null(json_object_get(c, "type")))
			json_object_set_new(c, "type", status_str(e->type_id, 0));
		if (json_is_null(json_object_get(c, "name")) && e->name != NULL)
			json_object_set_new(c, "name", status_str(e->name, 0));
		if (json_is_object(json_object_get(c, "last_failure")) &&
		    json_number_value(json_object_get(json_object_get(c,
		    "last_failure"), "time")) > e->last_failure)
			continue;	/* that one failed later */
		if ((lf = json_object()) != NULL) {
			json_object_set_new(lf, "time", status_time(e->last_failure));
			json_object_set_new(lf, "error",
			    status_str(e->last_error, STATUS_TEXT_MAX));
			json_object_set_new(c, "last_failure", lf);
		}
	}
}

/* ---- the check's life across reloads ---------------------------------- */

static bool
eventlog_same(const void *a, const void *b)
{
	const struct eventlog *x = a, *y = b;
	const struct event_log_config *p = &x->cfg->event_log;
	const struct event_log_config *q = &y->cfg->event_log;

	return strcmp(x->cfg->name, y->cfg->name) == 0 &&
	    strcmp(x->url, y->url) == 0 &&
	    str_equal_null(x->state_dir, y->state_dir) &&
	    config_endpoint_equal(&x->cfg->elasticsearch, &y->cfg->elasticsearch) &&
	    p->interval_usec == q->interval_usec &&
	    p->lookback_usec == q->lookback_usec &&
	    p->settle_delay_usec == q->settle_delay_usec &&
	    p->series_retention_usec == q->series_retention_usec;
}

static void
eventlog_adopt(void *old, void *new)
{
	struct eventlog *o = old, *n = new;

	o->cfg = n->cfg;
	o->inventory = n->inventory;
}

/*
 * Same Elasticsearch and index, other settings: the next window starts where
 * the last one ended, so a reload neither counts an event twice nor skips one.
 */
static void
eventlog_inherit(void *new, const void *old)
{
	struct eventlog *n = new;
	const struct eventlog *o = old;

	n->have_start = o->have_start;
	n->start_ms = o->start_ms;
	n->state_read = o->state_read;
	n->state_failing = o->state_failing;
	n->last_reason = o->last_reason;
	n->searched = o->searched;
	n->counted_start_ms = o->counted_start_ms;
	n->counted_end_ms = o->counted_end_ms;
}

static void
eventlog_retire(void *arg)
{
	struct eventlog *el = arg;
	const char *match[5] = { el->cfg->name };

	metrics_remove_each(&el->fam, sizeof(el->fam), match);
}

static const struct check_ops eventlog_ops = {
	.kind = "eventlog",
	.run = eventlog_run,
	.finish = eventlog_finish,
	.same = eventlog_same,
	.adopt = eventlog_adopt,
	.inherit = eventlog_inherit,
	.retire = eventlog_retire,
	.status = eventlog_status,
	.free = eventlog_free,
};

struct check *
eventlog_add(struct engine_build *b, struct metrics *m,
    const struct target_config *cfg, struct check *inventory,
    const char *state_dir)
{
	struct check_spec spec = {
		.ops = &eventlog_ops,
		.target = cfg->name,
		.interval_usec = cfg->event_log.interval_usec,
		.jitter = EVENTLOG_JITTER,
		.first = CHECK_FIRST_NOW,
		/* The first poll waits for the inventory: names for the logs. */
		.after = inventory,
	};
	struct eventlog *el;

	el = eventlog_new(m, inventory != NULL ? check_impl(inventory) : NULL,
	    cfg, state_dir);
	if (el == NULL)
		return NULL;
	/* A changed Elasticsearch URL or index is another event log. */
	spec.key[0] = cfg->name;
	spec.key[1] = el->url;
	spec.impl = el;
	return engine_build_add(b, &spec);
}
