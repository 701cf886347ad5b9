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

#include "eventlog_es.h"

struct kcm;
struct target;
struct target_config;

/* ---- the poller (one per target with elasticsearch.url) ------------- */

struct eventlog;
struct eventlog_windows;

struct eventlog *eventlog_new(struct kcm *k, struct target *t,
	    const struct target_config *cfg);
/* Polls now and (unless once) every event_log.interval after. */
int	 eventlog_start(struct eventlog *el, bool once);
/* Cancels timers and in-flight requests; NULL-safe. */
void	 eventlog_free(struct eventlog *el);
/*
 * Where each poller's next window starts, kept in struct kcm across
 * configuration reloads (keyed by target name, Elasticsearch URL and index)
 * so a reload neither counts an event twice nor skips one.  NULL-safe.
 */
void	 eventlog_windows_free(struct eventlog_windows *w);
/*
 * The target finished an inventory cycle: create executions_total series
 * at 0 for every inventory connector and outcome.
 */
void	 eventlog_inventory_updated(struct eventlog *el);

#endif /* KCM_EVENTLOG_H */
