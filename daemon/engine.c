/*
 * engine.c: the check engine: schedule, runs, requests, reload.
 *
 * The schedule is one libevent timer for the whole engine, armed for the
 * earliest due check; engine_run_due() starts every check that is due.  A
 * check that is still running when it is due again is skipped (counted as
 * an overrun in the log), never doubled.  Due times are on the engine's
 * monotonic clock, so unit tests drive the schedule with a fake clock and
 * engine_run_due() without a loop.
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/time.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "status.h"

struct creq;
TAILQ_HEAD(creq_list, creq);

/* One request of a run. */
struct creq {
	struct check		*c;
	enum engine_api		 api;
	check_done_fn		 done;
	void			(*free_arg)(void *);
	void			*arg;
	struct http_call	*call;
	TAILQ_ENTRY(creq)	 entry;
};

/* A target's request limiter, kept across reloads by target name. */
struct limiter {
	char			*target;
	struct http_limiter	*l;
};

struct check {
	struct engine		*e;
	const struct check_ops	*ops;
	void			*impl;
	char			*key;
	char			*target;
	struct limiter		*lim;
	uint64_t		 interval;
	double			 jitter;
	enum check_first	 first;
	struct check		*after;

	bool			 scheduled;
	uint64_t		 due;
	bool			 waiting;	/* first run waits for `after` */
	bool			 running;
	unsigned		 outstanding;
	struct creq_list	 inflight;
	bool			 attempted[API__MAX];
	bool			 failed[API__MAX];
	bool			 last_attempted[API__MAX];
	bool			 last_failed[API__MAX];
	bool			 has_run;
	double			 last_ok;
	bool			 once_pending;
	struct event		*finish_ev;	/* ops->finish's next slice */

	/* reload bookkeeping */
	struct check		*replaces;	/* same key, changed: inherit from */
	void			*adopt_impl;	/* carried: new configuration */
	struct check		*adopt_after;
	bool			 matched;
};

struct engine {
	struct event_base	*base;
	struct http_client	*http;
	struct event		*timer;
	struct engine_clock	 clock;
	uint64_t		 rng;
	bool			 once;
	bool			 started;
	size_t			 once_pending;
	bool			 any_failed;
	engine_published_fn	 published;
	void			*published_arg;

	struct check		**checks;
	size_t			 nchecks;
	struct limiter		**limiters;
	size_t			 nlimiters;

	struct metric_family	*requests;
	struct metric_family	*duration;
	struct metric_family	*up;
	struct metric_family	*last_success;
};

struct engine_build {
	struct engine		*e;
	struct check		**checks;
	size_t			 n, cap;
	struct limiter		**limiters;
	size_t			 nlimiters;
	bool			 failed;
};

static const double duration_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

static void run_end(struct check *c);
static void rearm(struct engine *e);

const char *
engine_api_to_string(enum engine_api api)
{
	switch (api) {
	case API_SPACES:		return "spaces";
	case API_CONNECTORS:		return "connectors";
	case API_CONNECTOR_TYPES:	return "connector_types";
	case API_RULES:			return "rules";
	case API_EVENT_LOG:		return "event_log";
	case API_EXECUTE:		return "execute";
	case API__MAX:			break;
	}
	return "unknown";
}

const char *
engine_result_to_string(enum engine_result r)
{
	switch (r) {
	case RESULT_OK:			return "ok";
	case RESULT_HTTP_4XX:		return "http_4xx";
	case RESULT_HTTP_5XX:		return "http_5xx";
	case RESULT_TIMEOUT:		return "timeout";
	case RESULT_CONNECT:		return "connect";
	case RESULT_TLS:		return "tls";
	case RESULT_DNS:		return "dns";
	case RESULT_TOO_LARGE:		return "too_large";
	case RESULT_INVALID_RESPONSE:	return "invalid_response";
	case RESULT__MAX:		break;
	}
	return "invalid_response";
}

enum engine_result
engine_classify(const struct http_response *resp)
{
	switch (resp->result) {
	case HTTP_RESULT_OK:
		break;
	case HTTP_RESULT_TIMEOUT:	return RESULT_TIMEOUT;
	case HTTP_RESULT_CONNECT:	return RESULT_CONNECT;
	case HTTP_RESULT_TLS:		return RESULT_TLS;
	case HTTP_RESULT_DNS:		return RESULT_DNS;
	case HTTP_RESULT_TOO_LARGE:	return RESULT_TOO_LARGE;
	case HTTP_RESULT_OTHER:		return RESULT_CONNECT;
	}
	if (resp->status >= 200 && resp->status < 300)
		return RESULT_OK;
	if (resp->status >= 400 && resp->status < 500)
		return RESULT_HTTP_4XX;
	if (resp->status >= 500 && resp->status < 600)
		return RESULT_HTTP_5XX;
	return RESULT_INVALID_RESPONSE;
}

/* ---- clock and randomness ------------------------------------------- */

static uint64_t
real_now(void *arg)
{
	(void)arg;
	return now_usec();
}

/* splitmix64, seeded once from getrandom(): schedules, not secrets. */
static double
real_random(void *arg)
{
	struct engine *e = arg;
	uint64_t z;

	z = (e->rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t
clock_now(const struct engine *e)
{
	return e->clock.now_usec(e->clock.arg);
}

/* interval * (1 +- jitter), never 0. */
static uint64_t
jittered(struct engine *e, uint64_t interval, double jitter)
{
	double j = (e->clock.random(e->clock.arg) * 2.0 - 1.0) * jitter;
	double v = (double)interval * (1.0 + j);

	return v < 1.0 ? 1 : (uint64_t)v;
}

/* ---- the engine ----------------------------------------------------- */

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	engine_run_due(arg);
}

struct engine *
engine_new(struct event_base *base, struct http_client *http,
    struct metrics *metrics, const struct engine_clock *clock, bool once,
    engine_published_fn published, void *arg)
{
	static const char *const req_l[] = { "target", "api", "result" };
	static const char *const api_l[] = { "target", "api" };
	struct engine *e;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->base = base;
	e->http = http;
	e->once = once;
	e->published = published;
	e->published_arg = arg;
	if (clock != NULL)
		e->clock = *clock;
	else {
		e->clock.now_usec = real_now;
		e->clock.random = real_random;
		e->clock.arg = e;
		if (getrandom(&e->rng, sizeof(e->rng), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(e->rng))
			e->rng = now_usec() ^ ((uint64_t)getpid() << 32) ^
			    (uint64_t)time(NULL);
	}
	if (base != NULL &&
	    (e->timer = evtimer_new(base, timer_fired, e)) == NULL)
		goto fail;
	e->requests = metrics_family(metrics,
	    "kibana_connector_monitor_requests_total",
	    "Requests sent to Kibana/Elasticsearch, by outcome.",
	    METRIC_COUNTER, req_l, ELEMENTSOF(req_l), NULL, 0);
	e->duration = metrics_family(metrics,
	    "kibana_connector_monitor_request_duration_seconds",
	    "Duration of requests to Kibana/Elasticsearch.",
	    METRIC_HISTOGRAM, api_l, ELEMENTSOF(api_l), duration_buckets,
	    ELEMENTSOF(duration_buckets));
	e->up = metrics_family(metrics, "kibana_connector_monitor_up",
	    "1 when every request of this API in the target's last poll cycle succeeded. Data is polled on the monitor's own schedule, not per scrape.",
	    METRIC_GAUGE, api_l, ELEMENTSOF(api_l), NULL, 0);
	e->last_success = metrics_family(metrics,
	    "kibana_connector_monitor_last_success_timestamp_seconds",
	    "End of the last poll cycle in which every request of this API succeeded.",
	    METRIC_GAUGE, api_l, ELEMENTSOF(api_l), NULL, 0);
	if (e->requests == NULL || e->duration == NULL || e->up == NULL ||
	    e->last_success == NULL)
		goto fail;
	return e;
fail:
	engine_free(e);
	return NULL;
}

static void
limiter_free(struct limiter *l)
{
	if (l == NULL)
		return;
	http_limiter_free(l->l);
	free(l->target);
	free(l);
}

/* Cancels the check's requests (no callbacks) and its schedule. */
static void
check_stop(struct check *c)
{
	struct creq *r;

	while ((r = TAILQ_FIRST(&c->inflight)) != NULL) {
		TAILQ_REMOVE(&c->inflight, r, entry);
		http_call_cancel(r->call);
		if (r->free_arg != NULL)
			r->free_arg(r->arg);
		free(r);
	}
	c->outstanding = 0;
	if (c->finish_ev != NULL)
		evtimer_del(c->finish_ev);
	c->running = false;
	c->scheduled = false;
	c->waiting = false;
}

static void
check_destroy(struct check *c)
{
	if (c == NULL)
		return;
	check_stop(c);
	if (c->finish_ev != NULL)
		event_free(c->finish_ev);
	if (c->adopt_impl != NULL)
		c->ops->free(c->adopt_impl);
	if (c->impl != NULL)
		c->ops->free(c->impl);
	free(c->key);
	free(c->target);
	free(c);
}

void
engine_free(struct engine *e)
{
	size_t i;

	if (e == NULL)
		return;
	/* Dependent checks first is not needed: no check frees another. */
	for (i = 0; i < e->nchecks; i++)
		check_destroy(e->checks[i]);
	free(e->checks);
	for (i = 0; i < e->nlimiters; i++)
		limiter_free(e->limiters[i]);
	free(e->limiters);
	if (e->timer != NULL)
		event_free(e->timer);
	free(e);
}

bool
engine_once_done(const struct engine *e)
{
	return e->once && e->started && e->once_pending == 0;
}

bool
engine_any_failed(const struct engine *e)
{
	return e->any_failed;
}

static void
schedule_at(struct check *c, uint64_t due)
{
	c->scheduled = true;
	c->due = due;
}

/* Due time of a first run: now, or a random offset inside the interval. */
static void
schedule_initial(struct check *c)
{
	struct engine *e = c->e;
	uint64_t now = clock_now(e), delay = 0;

	if (c->first == CHECK_FIRST_RANDOM && !e->once)
		delay = (uint64_t)(e->clock.random(e->clock.arg) *
		    (double)c->interval);
	schedule_at(c, now + delay);
	if (c->ops->first_scheduled != NULL)
		c->ops->first_scheduled(c->impl, delay);
}

/* The first run of a started check; it may wait for another's first run. */
static void
schedule_first(struct check *c)
{
	struct engine *e = c->e;

	if (e->once) {
		c->once_pending = true;
		e->once_pending++;
	}
	if (c->after != NULL && !c->after->has_run) {
		c->waiting = true;
		return;
	}
	schedule_initial(c);
}

int
engine_start(struct engine *e)
{
	size_t i;

	e->started = true;
	for (i = 0; i < e->nchecks; i++)
		schedule_first(e->checks[i]);
	if (e->once && e->once_pending == 0 && e->base != NULL)
		event_base_loopexit(e->base, NULL);
	engine_run_due(e);
	return 0;
}

static void
rearm(struct engine *e)
{
	struct timeval tv;
	uint64_t now, min = UINT64_MAX;
	size_t i;

	if (e->timer == NULL)
		return;
	for (i = 0; i < e->nchecks; i++)
		if (e->checks[i]->scheduled && e->checks[i]->due < min)
			min = e->checks[i]->due;
	if (min == UINT64_MAX) {
		evtimer_del(e->timer);
		return;
	}
	now = clock_now(e);
	usec_to_timeval(min > now ? min - now : 0, &tv);
	evtimer_add(e->timer, &tv);
}

static void
run_start(struct check *c)
{
	if (c->running) {
		log_struct(LOG_WARNING, NULL, (struct log_field[]){
		    { "TARGET", c->target }, { "CHECK", c->ops->kind } }, 2,
		    "%s check of target '%s': the previous run is still going, skipping this one",
		    c->ops->kind, c->target);
		return;
	}
	c->running = true;
	memset(c->attempted, 0, sizeof(c->attempted));
	memset(c->failed, 0, sizeof(c->failed));
	/* Hold the run so that no completion inside run() ends it early. */
	c->outstanding = 1;
	c->ops->run(c, c->impl);
	check_release(c);
}

void
engine_run_due(struct engine *e)
{
	uint64_t now = clock_now(e);
	size_t i;

	for (i = 0; i < e->nchecks; i++) {
		struct check *c = e->checks[i];

		if (!c->scheduled || c->due > now)
			continue;
		if (e->once)
			c->scheduled = false;	/* one run only */
		else
			schedule_at(c, now + jittered(e, c->interval, c->jitter));
		run_start(c);
	}
	rearm(e);
}

/* up{target,api}: every check of the target that used api last did well. */
static void
update_up(struct engine *e, const char *target, enum engine_api api,
    double now)
{
	const char *v[2] = { target, engine_api_to_string(api) };
	bool any = false, up = true;
	size_t i;

	for (i = 0; i < e->nchecks; i++) {
		struct check *o = e->checks[i];

		if (strcmp(o->target, target) != 0 || !o->last_attempted[api])
			continue;
		any = true;
		if (o->last_failed[api])
			up = false;
	}
	if (!any)
		return;
	metrics_set(e->up, v, up ? 1 : 0);
	if (up && now > 0)
		metrics_set(e->last_success, v, now);
}

static void run_ended(struct check *c);

static void
finish_slice(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;

	(void)fd;
	(void)what;
	run_end(c);
}

/*
 * ops->finish, slice by slice: the next slice on the next turn of the
 * loop (event_next_turn), so answers and other checks' requests go on in
 * between.  Without a loop (or a timer) the slices run at once.
 */
static void
run_end(struct check *c)
{
	struct engine *e = c->e;

	while (c->ops->finish(c, c->impl) > 0) {
		if (e->base == NULL)
			continue;
		if (c->finish_ev == NULL)
			c->finish_ev = evtimer_new(e->base, finish_slice, c);
		if (c->finish_ev != NULL && event_next_turn(c->finish_ev) == 0)
			return;
	}
	run_ended(c);
}

static void
run_ended(struct check *c)
{
	struct engine *e = c->e;
	double now = realtime_seconds();
	bool all_ok = true;
	size_t i;
	unsigned api;

	c->running = false;
	memcpy(c->last_attempted, c->attempted, sizeof(c->attempted));
	memcpy(c->last_failed, c->failed, sizeof(c->failed));
	for (api = 0; api < API__MAX; api++) {
		if (!c->attempted[api])
			continue;
		if (c->failed[api])
			all_ok = false;
		update_up(e, c->target, api, now);
	}
	if (!all_ok)
		e->any_failed = true;
	else
		c->last_ok = now;
	c->has_run = true;

	/* Checks waiting for this one's first run may go now. */
	for (i = 0; i < e->nchecks; i++) {
		struct check *o = e->checks[i];

		if (o->waiting && o->after == c) {
			o->waiting = false;
			schedule_initial(o);
		}
	}
	if (e->published != NULL)
		e->published(e->published_arg);
	if (c->once_pending) {
		c->once_pending = false;
		if (--e->once_pending == 0 && e->base != NULL)
			event_base_loopexit(e->base, NULL);
	}
	rearm(e);
}

/* ---- the status page ------------------------------------------------ */

/* up / last_success of every API the target used, as the series say. */
static void
status_apis(const struct engine *e, json_t *t, const char *target)
{
	json_t *apis = json_object_get(t, "apis"), *a;
	const char *v[2] = { target, NULL };
	double up, last;
	unsigned api;

	if (apis == NULL || json_array_size(apis) > 0)
		return;		/* done for an earlier check of the target */
	for (api = 0; api < API__MAX; api++) {
		v[1] = engine_api_to_string(api);
		if (metrics_get(e->up, v, &up) < 0)
			continue;
		if (metrics_get(e->last_success, v, &last) < 0)
			last = 0;
		if ((a = json_object()) == NULL)
			return;
		json_object_set_new(a, "api", json_string(v[1]));
		json_object_set_new(a, "up", json_boolean(up == 1));
		json_object_set_new(a, "last_success", status_time(last));
		json_array_append_new(apis, a);
	}
}

void
engine_status(const struct engine *e, struct status *st)
{
	size_t i;
	json_t *t;

	for (i = 0; i < e->nchecks; i++) {
		const struct check *c = e->checks[i];

		if ((t = status_target(st, c->target)) != NULL)
			status_apis(e, t, c->target);
		if (c->ops->status != NULL)
			c->ops->status(c->impl, st);
	}
}

/* ---- requests ------------------------------------------------------- */

static void
account(struct engine *e, const char *target, enum engine_api api,
    enum engine_result r, uint64_t duration_usec)
{
	const char *v[3] = { target, engine_api_to_string(api), NULL };
	unsigned i;

	/* Every result starts at 0, so rate() and increase() work at once. */
	for (i = 0; i < RESULT__MAX; i++) {
		v[2] = engine_result_to_string(i);
		metrics_add(e->requests, v, i == r ? 1 : 0);
	}
	metrics_observe(e->duration, v,
	    (double)duration_usec / (double)USEC_PER_SEC);
}

static void
creq_done(const struct http_response *resp, void *arg)
{
	struct creq *r = arg;
	struct check *c = r->c;
	enum engine_result res;

	TAILQ_REMOVE(&c->inflight, r, entry);
	res = r->done(c, resp, engine_classify(resp), r->arg);
	account(c->e, c->target, r->api, res, resp->duration_usec);
	if (res != RESULT_OK)
		c->failed[r->api] = true;
	if (r->free_arg != NULL)
		r->free_arg(r->arg);
	free(r);
	check_release(c);
}

int
check_request(struct check *c, enum engine_api api,
    const struct http_request *req, check_done_fn done,
    void (*free_arg)(void *), void *arg)
{
	struct creq *r;
	int ret;

	c->attempted[api] = true;
	if (c->e->http == NULL)
		return -ENOTCONN;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->c = c;
	r->api = api;
	r->done = done;
	r->free_arg = free_arg;
	r->arg = arg;
	ret = http_client_submit(c->e->http, c->lim != NULL ? c->lim->l : NULL,
	    req, creq_done, r, &r->call);
	if (ret < 0) {
		free(r);
		return ret;
	}
	TAILQ_INSERT_TAIL(&c->inflight, r, entry);
	c->outstanding++;
	return 0;
}

void
check_fail(struct check *c, enum engine_api api)
{
	c->attempted[api] = true;
	c->failed[api] = true;
}

void
check_hold(struct check *c)
{
	c->outstanding++;
}

void
check_release(struct check *c)
{
	if (c->outstanding > 0 && --c->outstanding == 0 && c->running)
		run_end(c);
}

void *
check_impl(const struct check *c)
{
	return c->impl;
}

const char *
check_target(const struct check *c)
{
	return c->target;
}

double
check_last_ok(const struct check *c)
{
	return c->last_ok;
}

bool
check_has_run(const struct check *c)
{
	return c->has_run;
}

/* ---- reload: build, carry, swap -------------------------------------- */

struct engine_build *
engine_build_begin(struct engine *e)
{
	struct engine_build *b;
	size_t i;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->e = e;
	for (i = 0; i < e->nchecks; i++)
		e->checks[i]->matched = false;
	return b;
}

static struct limiter *
limiter_find(struct limiter **v, size_t n, const char *target)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i]->target, target) == 0)
			return v[i];
	return NULL;
}

int
engine_build_target(struct engine_build *b, const char *target,
    unsigned max_parallel)
{
	struct limiter *l, **n;

	if (b->failed)
		return -ENOMEM;
	if (limiter_find(b->limiters, b->nlimiters, target) != NULL)
		return 0;
	n = reallocarray(b->limiters, b->nlimiters + 1, sizeof(*n));
	if (n == NULL)
		goto fail;
	b->limiters = n;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto fail;
	if ((l->target = strdup(target)) == NULL ||
	    (b->e->http != NULL &&
	    (l->l = http_limiter_new(b->e->http, max_parallel)) == NULL)) {
		limiter_free(l);
		goto fail;
	}
	b->limiters[b->nlimiters++] = l;
	return 0;
fail:
	b->failed = true;
	return -ENOMEM;
}

static struct check *
find_running(struct engine *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->nchecks; i++)
		if (!e->checks[i]->matched && strcmp(e->checks[i]->key, key) == 0)
			return e->checks[i];
	return NULL;
}

static bool
build_push(struct engine_build *b, struct check *c)
{
	struct check **n;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;

		if ((n = reallocarray(b->checks, cap, sizeof(*n))) == NULL)
			return false;
		b->checks = n;
		b->cap = cap;
	}
	b->checks[b->n++] = c;
	return true;
}

/* "kind\npart\npart...": a check's identity across reloads. */
static char *
build_key(const struct check_spec *spec)
{
	struct strbuf sb;
	size_t i;

	strbuf_init(&sb);
	strbuf_puts(&sb, spec->ops->kind);
	for (i = 0; i < ELEMENTSOF(spec->key) && spec->key[i] != NULL; i++)
		strbuf_printf(&sb, "\n%s", spec->key[i]);
	return strbuf_steal(&sb);
}

struct check *
engine_build_add(struct engine_build *b, const struct check_spec *spec)
{
	struct check *old, *c;
	char *key;

	if (b->failed || (key = build_key(spec)) == NULL)
		goto fail;
	old = find_running(b->e, key);
	if (old != NULL && old->ops == spec->ops &&
	    old->ops->same(old->impl, spec->impl)) {
		/* Carried: the running object stays, with the new configuration. */
		free(key);
		if (!build_push(b, old))
			goto fail;
		old->matched = true;
		old->adopt_impl = spec->impl;
		old->adopt_after = spec->after;
		old->interval = spec->interval_usec;
		return old;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free(key);
		goto fail;
	}
	TAILQ_INIT(&c->inflight);
	c->key = key;
	c->e = b->e;
	c->ops = spec->ops;
	c->impl = spec->impl;
	c->interval = spec->interval_usec;
	c->jitter = spec->jitter;
	c->first = spec->first;
	c->after = spec->after;
	c->lim = limiter_find(b->limiters, b->nlimiters, spec->target);
	if ((c->target = strdup(spec->target)) == NULL || !build_push(b, c)) {
		check_destroy(c);
		b->failed = true;
		return NULL;
	}
	if (old != NULL && old->ops == spec->ops) {
		old->matched = true;
		c->replaces = old;
	}
	return c;
fail:
	b->failed = true;
	spec->ops->free(spec->impl);
	return NULL;
}

static bool
build_has(const struct engine_build *b, const struct check *c)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->checks[i] == c)
			return true;
	return false;
}

void
engine_build_abort(struct engine_build *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		struct check *c = b->checks[i];

		if (c->adopt_impl != NULL) {	/* a running check: keep it */
			c->ops->free(c->adopt_impl);
			c->adopt_impl = NULL;
			c->adopt_after = NULL;
			continue;
		}
		check_destroy(c);
	}
	for (i = 0; i < b->nlimiters; i++)
		limiter_free(b->limiters[i]);
	free(b->limiters);
	free(b->checks);
	free(b);
}

/*
 * The limiters of the new set: a target that stays keeps its limiter (its
 * carried checks' requests are queued in it), with the new maximum.
 */
static void
limiters_swap(struct engine_build *b)
{
	struct engine *e = b->e;
	struct limiter *old;
	size_t i, j;

	for (i = 0; i < b->nlimiters; i++) {
		old = limiter_find(e->limiters, e->nlimiters, b->limiters[i]->target);
		if (old == NULL)
			continue;
		/* Point every new check at the old limiter, then drop the new one. */
		for (j = 0; j < b->n; j++)
			if (b->checks[j]->lim == b->limiters[i])
				b->checks[j]->lim = old;
		if (old->l != NULL && b->limiters[i]->l != NULL)
			http_limiter_set_max(old->l,
			    http_limiter_max(b->limiters[i]->l));
		limiter_free(b->limiters[i]);
		b->limiters[i] = old;
	}
	for (i = 0; i < e->nlimiters; i++)
		if (limiter_find(b->limiters, b->nlimiters,
		    e->limiters[i]->target) == NULL)
			limiter_free(e->limiters[i]);
	free(e->limiters);
	e->limiters = b->limiters;
	e->nlimiters = b->nlimiters;
	b->limiters = NULL;
	b->nlimiters = 0;
}

/* The series of up/last_success no check of the new set can set again. */
static void
retire_up(struct engine *e, const struct engine_build *b, const struct check *c)
{
	unsigned api;
	size_t i;

	for (api = 0; api < API__MAX; api++) {
		const char *v[2] = { c->target, engine_api_to_string(api) };
		bool kept = false;

		if (!c->last_attempted[api])
			continue;
		for (i = 0; i < b->n && !kept; i++)
			kept = strcmp(b->checks[i]->target, c->target) == 0 &&
			    strcmp(b->checks[i]->ops->kind, c->ops->kind) == 0;
		if (!kept) {
			metrics_remove(e->up, v);
			metrics_remove(e->last_success, v);
		}
	}
}

void
engine_build_commit(struct engine_build *b)
{
	struct engine *e = b->e;
	struct check **gone;
	size_t i, ngone = 0;

	/* Removed (and replaced) checks stop first: no request outlives them. */
	gone = calloc(e->nchecks > 0 ? e->nchecks : 1, sizeof(*gone));
	for (i = 0; i < e->nchecks; i++) {
		struct check *c = e->checks[i];

		if (build_has(b, c))
			continue;
		check_stop(c);
		if (gone != NULL)
			gone[ngone++] = c;
		else
			check_destroy(c);	/* out of memory: no retire */
	}
	/* Fresh checks inherit from the ones they replace (before those go). */
	for (i = 0; i < b->n; i++) {
		struct check *c = b->checks[i];

		if (c->replaces != NULL) {
			if (c->ops->inherit != NULL)
				c->ops->inherit(c->impl, c->replaces->impl);
			c->replaces = NULL;
		}
	}
	limiters_swap(b);
	for (i = 0; i < ngone; i++) {
		struct check *c = gone[i];

		retire_up(e, b, c);
		if (c->ops->retire != NULL && !c->matched)
			c->ops->retire(c->impl);
		check_destroy(c);
	}
	free(gone);
	/* Carried checks take their new configuration. */
	for (i = 0; i < b->n; i++) {
		struct check *c = b->checks[i];

		if (c->adopt_impl == NULL)
			continue;
		c->ops->adopt(c->impl, c->adopt_impl);
		c->ops->free(c->adopt_impl);
		c->adopt_impl = NULL;
		c->after = c->adopt_after;
		c->adopt_after = NULL;
	}
	free(e->checks);
	e->checks = b->checks;
	e->nchecks = b->n;
	b->checks = NULL;
	b->n = 0;
	free(b);
	/* New checks start; carried ones go on as they were. */
	if (e->started)
		for (i = 0; i < e->nchecks; i++) {
			struct check *c = e->checks[i];

			if (!c->scheduled && !c->running && !c->waiting)
				schedule_first(c);
		}
	rearm(e);
}
