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
#include <sys/queue.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "eventlog.h"
#include "inventory.h"
#include "kcm.h"
#include "log.h"
#include "msgid.h"

enum elreq_kind { ELREQ_COUNT, ELREQ_DETAIL };

struct elreq;
TAILQ_HEAD(elreq_list, elreq);

/* One connector's counts in the window, buckets merged by (space, id, type). */
struct elconn {
	char		*space;
	char		*id;
	char		*type_id;
	char		*namespace;	/* of the first bucket (detail query) */
	bool		 space_agnostic;
	uint64_t	 count[EVENTLOG__OUTCOMES];
	double		 last[EVENTLOG__OUTCOMES];
};

struct eventlog {
	struct kcm		*kcm;
	struct target		*target;
	const struct target_config *cfg;
	char			*url;		/* <es>/<index>/_search */
	struct event		*timer;
	bool			 once;

	bool			 have_start;
	int64_t			 start_ms;	/* next window's start */

	/* the running poll */
	bool			 running;
	int64_t			 win_start, win_end;
	unsigned		 pages;
	struct elreq_list	 inflight;
	unsigned		 outstanding;
	bool			 failed;	/* some request failed */
	struct elconn		*conns;
	size_t			 nconns, capconns;

	enum eventlog_reason	 last_reason;	/* for logging changes only */
	bool			 started;	/* eventlog_start() ran */
	bool			 inventory_seen; /* the target ended a cycle */
	bool			 first_pending;	/* first poll waits for it */
};

/* Window starts that survive a reload (struct kcm owns the table). */
struct eventlog_window {
	char			*key;		/* target \n url \n index */
	int64_t			 start_ms;
};

struct eventlog_windows {
	struct eventlog_window	*v;
	size_t			 n;
};

struct elreq {
	struct eventlog		*el;
	enum elreq_kind		 kind;
	struct elconn		*conn;		/* detail */
	char			*body;
	struct http_call	*call;
	TAILQ_ENTRY(elreq)	 entry;
};

static const char *const json_headers[] = {
	"Content-Type: application/json", NULL,
};

static void poll_finish(struct eventlog *el);

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

void
eventlog_windows_free(struct eventlog_windows *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		free(w->v[i].key);
	free(w->v);
	free(w);
}

static char *
window_key(const struct eventlog *el)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "%s\n%s", el->cfg->name, el->url);
	return strbuf_steal(&sb);
}

static struct eventlog_window *
window_find(struct kcm *k, const char *key)
{
	struct eventlog_windows *w = k->eventlog_windows;
	size_t i;

	for (i = 0; w != NULL && i < w->n; i++)
		if (strcmp(w->v[i].key, key) == 0)
			return &w->v[i];
	return NULL;
}

/* Remembers where the next window starts (best effort on ENOMEM). */
static void
window_save(struct eventlog *el)
{
	struct eventlog_windows *w = el->kcm->eventlog_windows;
	struct eventlog_window *e, *n;
	char *key;

	if (!el->have_start || (key = window_key(el)) == NULL)
		return;
	if ((e = window_find(el->kcm, key)) != NULL) {
		e->start_ms = el->start_ms;
		free(key);
		return;
	}
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL) {
			free(key);
			return;
		}
		el->kcm->eventlog_windows = w;
	}
	n = reallocarray(w->v, w->n + 1, sizeof(*n));
	if (n == NULL) {
		free(key);
		return;
	}
	w->v = n;
	w->v[w->n].key = key;
	w->v[w->n].start_ms = el->start_ms;
	w->n++;
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
}

static void
elreq_free(struct elreq *r)
{
	free(r->body);
	free(r);
}

static void
set_zero_series(const char *space, const char *id, const char *name,
    const char *type_id, bool preconfigured, void *arg)
{
	struct eventlog *el = arg;
	const char *v[5] = { el->cfg->name, space, id, type_id, NULL };
	unsigned o;

	(void)name;
	(void)preconfigured;
	for (o = 0; o < EVENTLOG__OUTCOMES; o++) {
		v[4] = eventlog_outcome_to_string(o);
		metrics_add(el->kcm->fam.executions, v, 0);
	}
}

void
eventlog_inventory_updated(struct eventlog *el)
{
	if (el == NULL || el->target == NULL)
		return;
	target_foreach_connector(el->target, set_zero_series, el);
}

static void poll_start(struct eventlog *el);

/*
 * After each inventory cycle: zero series; the first poll waits for the
 * first cycle so that connector names are known for the log entries.
 */
static void
inventory_hook(void *arg)
{
	struct eventlog *el = arg;

	eventlog_inventory_updated(el);
	el->inventory_seen = true;
	if (el->first_pending) {
		el->first_pending = false;
		poll_start(el);
	}
}

struct eventlog *
eventlog_new(struct kcm *k, struct target *t, const struct target_config *cfg)
{
	struct eventlog *el;
	struct strbuf sb;
	const char *tv[1] = { cfg->name };
	const char *ev[2] = { cfg->name, NULL };
	unsigned i;

	el = calloc(1, sizeof(*el));
	if (el == NULL)
		return NULL;
	el->kcm = k;
	el->target = t;
	el->cfg = cfg;
	el->last_reason = EVENTLOG_OK;
	TAILQ_INIT(&el->inflight);
	strbuf_init(&sb);
	strbuf_puts(&sb, cfg->elasticsearch.url);
	if (eventlog_search_path(&sb, el_index(el)) < 0 ||
	    (el->url = strbuf_steal(&sb)) == NULL) {
		strbuf_free(&sb);
		free(el);
		return NULL;
	}
	/* Every reason starts at 0, so increase() works from the first one. */
	for (i = 0; i < EVENTLOG__MAX; i++) {
		if (i == EVENTLOG_OK)
			continue;
		ev[1] = eventlog_reason_to_string(i);
		metrics_add(k->fam.event_log_errors, ev, 0);
	}
	metrics_add(k->fam.event_log_shard_failures, tv, 0);
	{
		char *key = window_key(el);
		struct eventlog_window *e = key != NULL ? window_find(k, key) : NULL;

		if (e != NULL) {	/* a reload: continue where we were */
			el->have_start = true;
			el->start_ms = e->start_ms;
		}
		free(key);
	}
	if (t != NULL)
		target_set_cycle_hook(t, inventory_hook, el);
	return el;
}

void
eventlog_free(struct eventlog *el)
{
	struct elreq *r;

	if (el == NULL)
		return;
	while ((r = TAILQ_FIRST(&el->inflight)) != NULL) {
		TAILQ_REMOVE(&el->inflight, r, entry);
		http_call_cancel(r->call);
		elreq_free(r);
	}
	if (el->timer != NULL)
		event_free(el->timer);
	if (el->target != NULL)
		target_set_cycle_hook(el->target, NULL, NULL);
	conns_reset(el);
	free(el->url);
	free(el);
}

static void request_done(const struct http_response *resp, void *arg);

static int
submit(struct eventlog *el, enum elreq_kind kind, struct elconn *c,
    const char *after_key)
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
	if (ret < 0 || r == NULL || (r->body = strbuf_steal(&body)) == NULL) {
		strbuf_free(&body);
		free(r);
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
	ret = http_client_submit(el->kcm->http,
	    el->target != NULL ? target_limiter(el->target) : NULL, &req,
	    request_done, r, &r->call);
	if (ret < 0) {
		elreq_free(r);
		return ret;
	}
	TAILQ_INSERT_TAIL(&el->inflight, r, entry);
	el->outstanding++;
	log_debug("POST %s (target %s, event log %s)", el_index(el),
	    el->cfg->name, kind == ELREQ_COUNT ? "count" : "detail");
	return 0;
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

static int
merge(struct eventlog *el, const struct eventlog_result *res)
{
	struct elconn *c;
	size_t i;
	unsigned o;

	for (i = 0; i < res->n; i++) {
		const struct eventlog_bucket *b = &res->v[i];

		if ((c = conn_find_or_add(el, b)) == NULL)
			return -ENOMEM;
		for (o = 0; o < EVENTLOG__OUTCOMES; o++) {
			c->count[o] += b->count[o];
			if (b->last[o] > c->last[o])
				c->last[o] = b->last[o];
		}
	}
	return 0;
}

/* The window is complete: raise the counters, close the window. */
static void
commit_window(struct eventlog *el)
{
	struct kcm_families *f = &el->kcm->fam;
	const char *name = el->cfg->name;
	const char *tv[1] = { name };
	size_t i;
	unsigned o;

	for (i = 0; i < el->nconns; i++) {
		struct elconn *c = &el->conns[i];
		const char *v[5] = { name, c->space, c->id, c->type_id, NULL };
		const char *lv[4] = { name, c->space, c->id, NULL };
		double prev;

		for (o = 0; o < EVENTLOG__OUTCOMES; o++) {
			v[4] = lv[3] = eventlog_outcome_to_string(o);
			metrics_add(f->executions, v, (double)c->count[o]);
			if (c->count[o] == 0 || c->last[o] <= 0)
				continue;
			if (metrics_get(f->last_execution, lv, &prev) == 0 &&
			    prev >= c->last[o])
				continue;
			metrics_set(f->last_execution, lv, c->last[o]);
		}
	}
	el->start_ms = el->win_end;
	window_save(el);
	metrics_set(f->event_log_window_end, tv, (double)el->win_end / 1000.0);
}

static int
cmp_failing(const void *a, const void *b)
{
	const struct elconn *x = *(const struct elconn *const *)a;
	const struct elconn *y = *(const struct elconn *const *)b;
	uint64_t nx = x->count[EVENTLOG_FAILURE] + x->count[EVENTLOG_TIMEOUT];
	uint64_t ny = y->count[EVENTLOG_FAILURE] + y->count[EVENTLOG_TIMEOUT];
	int r;

	if (nx != ny)
		return nx > ny ? -1 : 1;
	if ((r = strcmp(x->space, y->space)) != 0)
		return r;
	return strcmp(x->id, y->id);
}

/* Detail requests for the connectors that failed in the window. */
static void
submit_details(struct eventlog *el)
{
	struct elconn **v;
	size_t i, n = 0;

	v = calloc(el->nconns > 0 ? el->nconns : 1, sizeof(*v));
	if (v == NULL)
		return;
	for (i = 0; i < el->nconns; i++)
		if (el->conns[i].count[EVENTLOG_FAILURE] +
		    el->conns[i].count[EVENTLOG_TIMEOUT] > 0)
			v[n++] = &el->conns[i];
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_failing);
	for (i = 0; i < n && i < EVENTLOG_DETAILS_MAX; i++)
		if (submit(el, ELREQ_DETAIL, v[i], NULL) < 0)
			el->failed = true;
	if (n > EVENTLOG_DETAILS_MAX) {
		char more[24];
		struct log_field f[] = {
			{ "TARGET", el->cfg->name }, { "CONNECTORS", more },
		};

		snprintf(more, sizeof(more), "%zu", n - EVENTLOG_DETAILS_MAX);
		log_struct(LOG_WARNING, NULL, f, ELEMENTSOF(f),
		    "%zu more connectors of target '%s' failed in this window; "
		    "only %d are logged per poll, see "
		    "kibana_connector_executions_total", n - EVENTLOG_DETAILS_MAX,
		    el->cfg->name, EVENTLOG_DETAILS_MAX);
	}
	free(v);
}

static void
log_failing(struct eventlog *el, const struct elconn *c,
    const struct eventlog_failure *d)
{
	const char *name = NULL;
	char fails[24], touts[24];

	if (d != NULL && d->action_name != NULL)
		name = d->action_name;
	else if (el->target != NULL)
		name = target_connector_name(el->target, c->space, c->id);
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
		    "connector '%s' (%s) in space '%s' of target '%s' failed "
		    "%s times and timed out %s times in the event log: %s",
		    name != NULL ? name : "", c->id, c->space, el->cfg->name,
		    fails, touts,
		    d == NULL ? "(details unavailable)" :
		    d->error_message != NULL ? d->error_message :
		    d->message != NULL ? d->message : "");
	}
}

static void
count_done(struct eventlog *el, const struct http_response *resp)
{
	struct eventlog_result res;
	enum kcm_result kr = kcm_classify(resp);
	const char *tv[1] = { el->cfg->name };
	char err[256];
	long status = resp->result == HTTP_RESULT_OK ? resp->status : 0;

	if (eventlog_parse_count(status, resp->body, resp->body_len, &res,
	    err, sizeof(err)) < 0) {
		kcm_account(el->kcm, el->cfg->name, API_EVENT_LOG, kr,
		    resp->duration_usec);
		el->failed = true;
		return;
	}
	if (res.reason == EVENTLOG_INVALID_RESPONSE && kr == RESULT_OK)
		kr = RESULT_INVALID_RESPONSE;
	kcm_account(el->kcm, el->cfg->name, API_EVENT_LOG, kr,
	    resp->duration_usec);
	if (res.shards_failed > 0)
		metrics_add(el->kcm->fam.event_log_shard_failures, tv,
		    (double)res.shards_failed);
	if (res.reason != EVENTLOG_OK) {
		const char *ev[2] = { el->cfg->name,
		    eventlog_reason_to_string(res.reason) };
		const char *detail = res.error_reason != NULL ? res.error_reason :
		    res.reason == EVENTLOG_TRANSPORT ? resp->error :
		    res.reason == EVENTLOG_INVALID_RESPONSE ? err : "";

		metrics_add(el->kcm->fam.event_log_errors, ev, 1);
		metrics_set(el->kcm->fam.event_log_visible, tv, 0);
		note_visibility(el, res.reason, status, res.error_type, detail);
		el->failed = true;
		eventlog_result_free(&res);
		return;
	}
	el->pages++;
	if (merge(el, &res) < 0) {
		log_error("out of memory counting the event log of target '%s'",
		    el->cfg->name);
		el->failed = true;
		eventlog_result_free(&res);
		return;
	}
	if (res.n >= EVENTLOG_PAGE_SIZE && res.after_key != NULL) {
		if (el->pages < EVENTLOG_MAX_PAGES) {
			if (submit(el, ELREQ_COUNT, NULL, res.after_key) < 0)
				el->failed = true;
			eventlog_result_free(&res);
			return;
		}
		log_warning("event log of target '%s': more than %d connector "
		    "buckets in one window, the rest is not counted",
		    el->cfg->name, EVENTLOG_PAGE_SIZE * EVENTLOG_MAX_PAGES);
	}
	eventlog_result_free(&res);

	/* Every page is in. */
	metrics_set(el->kcm->fam.event_log_visible, tv, 1);
	note_visibility(el, EVENTLOG_OK, status, NULL, NULL);
	commit_window(el);
	submit_details(el);
}

static void
detail_done(struct eventlog *el, struct elconn *c,
    const struct http_response *resp)
{
	struct eventlog_failure d;
	enum eventlog_reason reason;
	enum kcm_result kr = kcm_classify(resp);
	long status = resp->result == HTTP_RESULT_OK ? resp->status : 0;
	int r;

	r = eventlog_parse_failure(status, resp->body, resp->body_len, &reason,
	    &d);
	if (reason == EVENTLOG_INVALID_RESPONSE && kr == RESULT_OK)
		kr = RESULT_INVALID_RESPONSE;
	kcm_account(el->kcm, el->cfg->name, API_EVENT_LOG, kr,
	    resp->duration_usec);
	if (reason != EVENTLOG_OK)
		el->failed = true;
	log_failing(el, c, r == 0 ? &d : NULL);
	if (r == 0)
		eventlog_failure_free(&d);
}

static void
request_done(const struct http_response *resp, void *arg)
{
	struct elreq *r = arg;
	struct eventlog *el = r->el;

	TAILQ_REMOVE(&el->inflight, r, entry);
	if (r->kind == ELREQ_COUNT)
		count_done(el, resp);
	else
		detail_done(el, r->conn, resp);
	elreq_free(r);
	if (--el->outstanding == 0)
		poll_finish(el);
}

static void
poll_finish(struct eventlog *el)
{
	struct kcm_families *f = &el->kcm->fam;
	const char *v[2] = { el->cfg->name, kcm_api_to_string(API_EVENT_LOG) };

	metrics_set(f->up, v, el->failed ? 0 : 1);
	if (!el->failed)
		metrics_set(f->last_success, v, realtime_seconds());
	else
		el->kcm->any_failed = true;
	conns_reset(el);
	el->running = false;
	if (kcm_publish(el->kcm) < 0)
		log_error("out of memory rendering metrics");
	if (el->once) {
		el->once = false;
		kcm_once_release(el->kcm);
	}
}

static void
poll_start(struct eventlog *el)
{
	const struct event_log_config *c = &el->cfg->event_log;
	int64_t now = now_ms(), lookback, start, end;

	el->first_pending = false;	/* the timer came first */
	if (el->running) {
		log_warning("event log of target '%s': previous poll still "
		    "running, skipping this one", el->cfg->name);
		return;
	}
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
	el->win_end = end;
	window_save(el);	/* the first start, or a capped one */
	el->win_start = el->start_ms;
	if (el->win_end <= el->win_start) {
		/* Nothing settled yet (lookback shorter than settle_delay). */
		if (el->once) {
			el->once = false;
			kcm_once_release(el->kcm);
		}
		return;
	}
	el->running = true;
	el->failed = false;
	el->pages = 0;
	conns_reset(el);
	/* Hold one reference so no completion can end the poll early. */
	el->outstanding++;
	if (submit(el, ELREQ_COUNT, NULL, NULL) < 0)
		el->failed = true;
	if (--el->outstanding == 0)
		poll_finish(el);
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	poll_start(arg);
}

int
eventlog_start(struct eventlog *el, bool once)
{
	struct timeval tv;
	uint64_t iv = el->cfg->event_log.interval_usec;

	el->once = once;
	if (once)
		kcm_once_hold(el->kcm);
	else {
		el->timer = event_new(el->kcm->base, -1, EV_PERSIST,
		    timer_fired, el);
		if (el->timer == NULL)
			return -ENOMEM;
		tv.tv_sec = (time_t)(iv / USEC_PER_SEC);
		tv.tv_usec = (suseconds_t)(iv % USEC_PER_SEC);
		if (event_add(el->timer, &tv) < 0)
			return -EIO;
	}
	el->started = true;
	if (el->inventory_seen || el->target == NULL)
		poll_start(el);
	else
		el->first_pending = true;
	return 0;
}
