/*
 * eventlog.h: failed connector executions from Kibana's event log
 * (.kibana-event-log-*) in Elasticsearch, turned into per-connector counters.
 *
 * Every generation of the event log stores the connector in the NESTED
 * kibana.saved_objects (type "action"; namespace only outside the default
 * space; space_agnostic true for preconfigured connectors), so one nested
 * aggregation counts them all: nested -> filter(type action) -> composite
 * (id, type_id, namespace, space_agnostic; paged with after_key) ->
 * reverse_nested -> terms event.action -> terms event.outcome + max
 * @timestamp.  Reference: shared/reference/kibana-api.md sections 11-13.
 *
 * The pure functions (query building, response parsing) are declared in
 * eventlog_es.h; this header adds the poller.
 */
#ifndef KCM_EVENTLOG_H
#define KCM_EVENTLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "eventlog_es.h"

struct check;
struct engine_build;
struct metrics;
struct target_config;

/* ---- the check (one per target with elasticsearch.url) ------------ */

/* A connector that keeps failing is logged again at most this often. */
#define EVENTLOG_REMINDER_MS		(3600 * INT64_C(1000))

/* What to log about a connector with failures in the window. */
enum eventlog_log {
	EVENTLOG_LOG_NONE,
	EVENTLOG_LOG_STARTED,	/* it was not failing */
	EVENTLOG_LOG_CHANGED,	/* another error text than the one logged */
	EVENTLOG_LOG_REMINDER,	/* the same, EVENTLOG_REMINDER_MS after the last */
};

/*
 * The log policy (pure): failing = its last logged state, logged_error the
 * error text logged then (NULL: none), error this window's newest error
 * text (NULL: details unavailable, never a change), logged_ms when it was
 * last logged, now_ms now.
 */
enum eventlog_log eventlog_log_decision(bool failing, const char *logged_error,
	    const char *error, int64_t logged_ms, int64_t now_ms);

/* Later polls start every event_log.interval * (1 +- this). */
#define EVENTLOG_JITTER		0.05

/*
 * Adds the target's event-log check to a new set (engine.h).  Its first
 * poll waits for the first run of `inventory` (the target's inventory
 * check, whose connectors get series at 0 and names in log entries).
 * Keyed by target, Elasticsearch URL and index: a reload that keeps them
 * keeps the window, so no event is counted twice or skipped.  With a
 * state_dir (state.h), the end of each counted window is saved there and
 * the first window after a restart starts at the saved end.
 */
struct check *eventlog_add(struct engine_build *b, struct metrics *m,
	    const struct target_config *cfg, struct check *inventory,
	    const char *state_dir);

#endif /* KCM_EVENTLOG_H */
