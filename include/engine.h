/*
 * engine.h: the check engine (cf. relayd's hce.c).  It owns the schedule of
 * every check (inventory, event log, probe), the one-run-at-a-time guard,
 * --once, the HTTP requests a run sends (limiter, accounting, classification)
 * and the per-API health series; the checks own what they ask and what the
 * answers mean.
 *
 * A check is an object of a check module plus a table of operations.  A run:
 * the engine calls ops->run(), the check sends requests with check_request()
 * (or holds the run open with check_hold() for other work), and when the last
 * request of the run has completed the engine calls ops->finish(), updates
 * kibana_connector_monitor_up / _last_success_timestamp_seconds for the APIs
 * the run used, and tells the owner (the published hook) that data changed.
 *
 * Reload is build, carry, swap: engine_build_begin() starts a new set;
 * engine_build_add() matches each new check by key against the running set.
 * A running check with the same key whose configuration ops->same() calls
 * equal is carried: it keeps its object, its schedule, in-flight requests and
 * everything it remembers, and at commit takes the new configuration pointers
 * (ops->adopt).  A check with the same key but another configuration starts
 * fresh, after ops->inherit() copied what must survive (an event-log window).
 * Running checks no key matches are stopped and their series removed
 * (ops->retire).  engine_build_abort() leaves the running set untouched.
 */
#ifndef KCM_ENGINE_H
#define KCM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_client.h"

struct event_base;
struct metrics;
struct engine;
struct engine_build;
struct check;
struct status;

/* The Kibana/Elasticsearch APIs the monitor calls: label `api`. */
enum engine_api {
	API_SPACES,
	API_CONNECTORS,
	API_CONNECTOR_TYPES,
	API_RULES,
	API_EVENT_LOG,		/* Elasticsearch: .kibana-event-log-* searches */
	API_EXECUTE,		/* POST .../connector/{id}/_execute probes */
	API__MAX,
};

/* Outcome of one request: label `result` (a fixed enum, never free text). */
enum engine_result {
	RESULT_OK,
	RESULT_HTTP_4XX,
	RESULT_HTTP_5XX,
	RESULT_TIMEOUT,
	RESULT_CONNECT,
	RESULT_TLS,
	RESULT_DNS,
	RESULT_TOO_LARGE,
	RESULT_INVALID_RESPONSE,
	RESULT__MAX,
};

const char *engine_api_to_string(enum engine_api api);
const char *engine_result_to_string(enum engine_result r);

/*
 * Classifies a finished exchange: transport failures by kind, then the HTTP
 * status (2xx ok, 4xx, 5xx; anything else is invalid_response).
 */
enum engine_result engine_classify(const struct http_response *resp);

/* The clock and randomness the schedule uses; NULL = the real ones. */
struct engine_clock {
	uint64_t (*now_usec)(void *arg);	/* monotonic */
	double	 (*random)(void *arg);		/* uniform in [0, 1) */
	void	*arg;
};

/* Called after every finished run (render the metrics, update STATUS=). */
typedef void (*engine_published_fn)(void *arg);

/*
 * base: the loop (NULL in unit tests that drive engine_run_due() by hand);
 * http: the client requests go through (NULL when no check sends any);
 * metrics: where the engine registers its request families.  once: run
 * every check one time, then stop the loop (engine_start).
 */
struct engine *engine_new(struct event_base *base, struct http_client *http,
	    struct metrics *metrics, const struct engine_clock *clock,
	    bool once, engine_published_fn published, void *arg);
/* Stops and frees every check (in-flight requests cancelled); NULL-safe. */
void	 engine_free(struct engine *e);

/* Starts the schedule of every check of the committed set. */
int	 engine_start(struct engine *e);
/* --once: false until every check has finished its one run. */
bool	 engine_once_done(const struct engine *e);
/* A request failed since start (the --once exit status). */
bool	 engine_any_failed(const struct engine *e);
/* Runs every check that is due at the engine clock's now (the timer does). */
void	 engine_run_due(struct engine *e);
/*
 * The status model (status.h) of the running set: per target, the health
 * of every API it used (up, last success: the engine's own series), then
 * whatever each check's ops->status adds.  Memory only; never blocks.
 */
void	 engine_status(const struct engine *e, struct status *st);

/* ---- checks --------------------------------------------------------- */

struct check_ops {
	const char *kind;			/* "inventory", "eventlog", "probe" */
	/* Start one run: send requests with check_request() (or none). */
	void	(*run)(struct check *c, void *impl);
	/*
	 * Every request of the run completed: adopt results, set series.
	 * 0 when done; 1 to be called again on the next turn of the event
	 * loop, so that long work goes in slices (the run goes on meanwhile:
	 * no new run starts, and nothing is published).
	 */
	int	(*finish)(struct check *c, void *impl);
	/* Configuration of old and new is the same (carry old as it is). */
	bool	(*same)(const void *old_impl, const void *new_impl);
	/* Carry: old takes new's configuration pointers (new is freed next). */
	void	(*adopt)(void *old_impl, void *new_impl);
	/* Same key, other configuration: new takes what must survive; NULL ok. */
	void	(*inherit)(void *new_impl, const void *old_impl);
	/* The check left the configuration: remove its series; NULL ok. */
	void	(*retire)(void *impl);
	/* Its first run was scheduled delay_usec from now (to log it); NULL ok. */
	void	(*first_scheduled)(void *impl, uint64_t delay_usec);
	/*
	 * The status page (status.h): adds what the check remembers to st,
	 * reading only memory (never a request).  NULL: contributes nothing.
	 */
	void	(*status)(const void *impl, struct status *st);
	void	(*free)(void *impl);
};

enum check_first {
	CHECK_FIRST_NOW,	/* first run at start */
	CHECK_FIRST_RANDOM,	/* at a uniformly random offset in [0, interval) */
};

struct check_spec {
	const struct check_ops *ops;
	void		*impl;		/* owned by the engine from here on */
	/* identity across reloads: ops->kind and these parts (NULL-ended) */
	const char	*key[4];
	const char	*target;	/* label `target` of its requests (copied) */
	uint64_t	 interval_usec;
	double		 jitter;	/* later runs: interval * (1 +- jitter) */
	enum check_first first;
	struct check	*after;		/* first run waits for after's first run */
};

/*
 * Starts a new set of checks.  Targets are declared first: each gets the
 * request limiter of its max_parallel_requests, kept across reloads by name.
 */
struct engine_build *engine_build_begin(struct engine *e);
int	 engine_build_target(struct engine_build *b, const char *target,
	    unsigned max_parallel);
/*
 * Adds a check; returns the check that will run: a carried one (the new impl
 * is freed at commit, the returned check's impl is the running object) or a
 * new one.  NULL on allocation failure (spec->impl is freed).  Use
 * check_impl() on the result to wire dependent checks to the right object.
 */
struct check *engine_build_add(struct engine_build *b,
	    const struct check_spec *spec);
/*
 * Swaps the new set in: carried checks adopt their new configuration, new
 * checks start (when the engine has started), removed checks stop and retire.
 */
void	 engine_build_commit(struct engine_build *b);
/* Drops the new set; the running set stays as it was.  NULL-safe. */
void	 engine_build_abort(struct engine_build *b);

void	*check_impl(const struct check *c);
const char *check_target(const struct check *c);
/* Realtime seconds of the end of the last run in which every request
 * succeeded; 0 = none yet.  Carried across reloads. */
double	 check_last_ok(const struct check *c);
/* The check has finished at least one run (carried across reloads). */
bool	 check_has_run(const struct check *c);

/*
 * Completion of a request: res is engine_classify()'s verdict; the callback
 * returns the final one (RESULT_INVALID_RESPONSE for a 2xx it cannot use),
 * which the engine counts.  arg is freed with free_arg afterwards (also when
 * the request is cancelled).
 */
typedef enum engine_result (*check_done_fn)(struct check *c,
	    const struct http_response *resp, enum engine_result res, void *arg);

/*
 * Sends a request of the current run (through the target's limiter).  On
 * failure -errno and arg is NOT freed (it stays the caller's).
 */
int	 check_request(struct check *c, enum engine_api api,
	    const struct http_request *req, check_done_fn done,
	    void (*free_arg)(void *), void *arg);
/* Marks api as used and failed in this run without a request. */
void	 check_fail(struct check *c, enum engine_api api);
/* Holds the run open (work outside check_request); release ends it. */
void	 check_hold(struct check *c);
void	 check_release(struct check *c);

#endif /* KCM_ENGINE_H */
