/*
 * kcm.h: the daemon's environment (cf. struct relayd): the event loop, the
 * configuration, the HTTP client, the metric registry with its families,
 * the targets and the rendered exposition.  main.c owns it.
 */
#ifndef KCM_KCM_H
#define KCM_KCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http_client.h"
#include "metrics.h"

struct event_base;
struct evbuffer;
struct target;
struct eventlog;
struct eventlog_windows;
struct http_server;

/* The Kibana/Elasticsearch APIs the monitor calls: label `api`. */
enum kcm_api {
	API_SPACES,
	API_CONNECTORS,
	API_CONNECTOR_TYPES,
	API_RULES,
	API_EVENT_LOG,		/* Elasticsearch: .kibana-event-log-* searches */
	API_EXECUTE,		/* POST .../connector/{id}/_execute probes */
	API__MAX,
};

/* Outcome of one request: label `result` (a fixed enum, never free text). */
enum kcm_result {
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

const char *kcm_api_to_string(enum kcm_api api);
const char *kcm_result_to_string(enum kcm_result r);

/*
 * Classifies a finished exchange: transport failures by kind, then the HTTP
 * status (2xx ok, 4xx, 5xx; anything else is invalid_response).  Callers
 * turn an unparsable 2xx body into RESULT_INVALID_RESPONSE themselves.
 */
enum kcm_result kcm_classify(const struct http_response *resp);

struct kcm_families {
	struct metric_family *connector_info;
	struct metric_family *connector_missing_secrets;
	struct metric_family *connector_references;
	struct metric_family *type_enabled;
	struct metric_family *type_enabled_in_license;
	struct metric_family *type_enabled_in_config;
	struct metric_family *rule_connector_missing;
	struct metric_family *up;
	struct metric_family *requests;
	struct metric_family *request_duration;
	struct metric_family *last_success;
	struct metric_family *build_info;
	struct metric_family *truncated_labels;
	/* configuration reloads, journal queue (issue 5) */
	struct metric_family *config_reload_ok;
	struct metric_family *config_reload_time;
	struct metric_family *log_dropped;
	/* event log (eventlog.c) */
	struct metric_family *executions;
	struct metric_family *last_execution;
	struct metric_family *event_log_visible;
	struct metric_family *event_log_shard_failures;
	struct metric_family *event_log_window_end;
	struct metric_family *event_log_errors;
	/* synthetic test executions (probe.c) */
	struct metric_family *probe_success;
	struct metric_family *probe_duration;
	struct metric_family *probe_last_run;
	struct metric_family *probe_runs;
};

struct kcm_body;	/* a rendered exposition, reference counted */

struct kcm {
	struct event_base	*base;
	struct kcm_config	*cfg;
	struct http_client	*http;
	struct metrics		*metrics;
	struct kcm_families	 fam;
	struct target		**targets;
	size_t			 ntargets;
	struct eventlog		**eventlogs;	/* targets with elasticsearch.url */
	size_t			 neventlogs;
	/* where each event-log poller's next window starts; survives reloads */
	struct eventlog_windows	*eventlog_windows;
	struct probe		**probes;	/* one per cfg->probes entry */
	size_t			 nprobes;
	struct http_server	*server;
	struct kcm_body		*body;		/* last rendering */
	double			 start_time;	/* realtime seconds */

	bool			 once;		/* --once: run every job once, then stop */
	size_t			 once_pending;	/* jobs of this run not finished yet */
	bool			 once_started;	/* kcm_start() has run */
	bool			 any_failed;	/* a request failed (for --once) */
};

/* Sets up everything but the listener; cfg is borrowed. */
int	 kcm_init(struct kcm *k, struct event_base *base, struct kcm_config *cfg,
	    bool once);
/* Starts every target's schedule (first polls run at once). */
int	 kcm_start(struct kcm *k);
void	 kcm_fini(struct kcm *k);

/*
 * The objects built from k->cfg (targets; probes and event-log pollers as
 * they come): create, start their schedules, destroy (cancelling in-flight
 * requests).  A reload destroys, swaps k->cfg, creates and starts again.
 */
int	 kcm_modules_create(struct kcm *k);
int	 kcm_modules_start(struct kcm *k);
void	 kcm_modules_destroy(struct kcm *k);

/*
 * Configuration reload (SIGHUP): destroys the per-configuration objects,
 * points k->cfg at cfg (borrowed), creates and starts the objects again,
 * removes every series of targets that are no longer configured
 * (metrics_remove_label "target") and re-renders.  Series of a removed
 * probe of a target that stays are the probe module's business.  On
 * failure (-ENOMEM) the old configuration is restored and k->cfg still
 * points at it.  The listener is not touched.  Sets the reload metrics.
 */
int	 kcm_reload(struct kcm *k, struct kcm_config *cfg);
/* A reload was rejected: config_last_reload_successful 0, re-render. */
void	 kcm_reload_rejected(struct kcm *k);
/* The short STATUS= line: targets, connectors, failing, last good poll. */
void	 kcm_status(struct kcm *k, char *buf, size_t size);

/* Counts one request in requests_total and request_duration_seconds. */
void	 kcm_account(struct kcm *k, const char *target, enum kcm_api api,
	    enum kcm_result r, uint64_t duration_usec);

/* A target finished a poll cycle: re-render; in --once mode maybe stop. */
void	 kcm_cycle_done(struct kcm *k, struct target *t, bool all_ok);

/*
 * --once bookkeeping for any job (a target's cycle, a probe, an event-log
 * poll): kcm_once_hold() before the job starts, kcm_once_release() when it
 * has finished and its results are in the registry.  When the last hold is
 * released the metrics are rendered and the loop stops.  No-ops unless
 * k->once.
 */
void	 kcm_once_hold(struct kcm *k);
void	 kcm_once_release(struct kcm *k);

/* Renders the registry into a fresh body (called after every cycle). */
int	 kcm_publish(struct kcm *k);

/* Appends the current body plus fresh process_* metrics to out. */
int	 kcm_write_metrics(struct kcm *k, struct evbuffer *out);
/* The same into a strbuf (for --once). */
int	 kcm_render_all(struct kcm *k, struct strbuf *out);

#endif /* KCM_KCM_H */
