/*
 * kcm.c: the daemon's environment: metric families, request accounting,
 * the rendered exposition and the --once bookkeeping.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "expo.h"
#include "eventlog.h"
#include "inventory.h"
#include "kcm.h"
#include "log.h"
#include "notify.h"
#include "probe.h"
#include "process.h"

struct kcm_body {
	unsigned	 refs;
	size_t		 len;
	char		 data[];
};

static const double duration_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

const char *
kcm_api_to_string(enum kcm_api api)
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
kcm_result_to_string(enum kcm_result r)
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

enum kcm_result
kcm_classify(const struct http_response *resp)
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

/* Label sets of the families below. */
static const char *const info_l[] = { "target", "space", "connector_id",
    "name", "connector_type_id", "preconfigured", "deprecated",
    "system_action" };
static const char *const conn_l[] = { "target", "space", "connector_id" };
static const char *const type_l[] = { "target", "connector_type_id",
    "minimum_license_required" };
static const char *const rule_l[] = { "target", "space", "rule_id",
    "rule_name", "connector_id" };
static const char *const api_l[] = { "target", "api" };
static const char *const req_l[] = { "target", "api", "result" };
static const char *const build_l[] = { "version", "libcurl", "libevent",
    "jansson" };
static const char *const exec_l[] = { "target", "space", "connector_id",
    "connector_type_id", "outcome" };
static const char *const last_l[] = { "target", "space", "connector_id",
    "outcome" };
static const char *const target_l[] = { "target" };
static const char *const err_l[] = { "target", "reason" };
static const char *const probe_l[] = { "target", "space", "connector_id" };
static const char *const probe_run_l[] = { "target", "space", "connector_id",
    "result" };

/* Every metric family the daemon exports (the public contract). */
static const struct family_spec {
	size_t			 field;		/* offset in struct kcm_families */
	const char		*name;
	const char		*help;
	enum metric_type	 type;
	const char *const	*labels;
	size_t			 nlabels;
	const double		*buckets;
	size_t			 nbuckets;
} family_specs[] = {
#define FAMILY(f) offsetof(struct kcm_families, f)
	{ FAMILY(connector_info), "kibana_connector_info",
	  "Connectors Kibana lists, one series per connector and space; preconfigured connectors once with space=\"*\".",
	  METRIC_GAUGE, info_l, ELEMENTSOF(info_l), NULL, 0 },
	{ FAMILY(connector_missing_secrets), "kibana_connector_missing_secrets",
	  "1 when Kibana reports the connector's secrets missing (is_missing_secrets), e.g. after an import.",
	  METRIC_GAUGE, conn_l, ELEMENTSOF(conn_l), NULL, 0 },
	{ FAMILY(connector_references), "kibana_connector_references",
	  "Number of saved objects (rules) referencing the connector (Kibana's referenced_by_count).",
	  METRIC_GAUGE, conn_l, ELEMENTSOF(conn_l), NULL, 0 },
	{ FAMILY(type_enabled), "kibana_connector_type_enabled",
	  "1 when the connector type can be used (enabled in kibana.yml and by the licence).",
	  METRIC_GAUGE, type_l, ELEMENTSOF(type_l), NULL, 0 },
	{ FAMILY(type_enabled_in_license), "kibana_connector_type_enabled_in_license",
	  "1 when the current licence allows the connector type.",
	  METRIC_GAUGE, type_l, ELEMENTSOF(type_l), NULL, 0 },
	{ FAMILY(type_enabled_in_config), "kibana_connector_type_enabled_in_config",
	  "1 when xpack.actions.enabledActionTypes allows the connector type.",
	  METRIC_GAUGE, type_l, ELEMENTSOF(type_l), NULL, 0 },
	{ FAMILY(rule_connector_missing), "kibana_rule_action_connector_missing",
	  "1 for each rule action whose connector no longer exists in the rule's space.",
	  METRIC_GAUGE, rule_l, ELEMENTSOF(rule_l), NULL, 0 },
	{ FAMILY(up), "kibana_connector_monitor_up",
	  "1 when every request of this API in the target's last poll cycle succeeded. Data is polled on the monitor's own schedule, not per scrape.",
	  METRIC_GAUGE, api_l, ELEMENTSOF(api_l), NULL, 0 },
	{ FAMILY(requests), "kibana_connector_monitor_requests_total",
	  "Requests sent to Kibana/Elasticsearch, by outcome.",
	  METRIC_COUNTER, req_l, ELEMENTSOF(req_l), NULL, 0 },
	{ FAMILY(request_duration), "kibana_connector_monitor_request_duration_seconds",
	  "Duration of requests to Kibana/Elasticsearch.",
	  METRIC_HISTOGRAM, api_l, ELEMENTSOF(api_l), duration_buckets, ELEMENTSOF(duration_buckets) },
	{ FAMILY(last_success), "kibana_connector_monitor_last_success_timestamp_seconds",
	  "End of the last poll cycle in which every request of this API succeeded.",
	  METRIC_GAUGE, api_l, ELEMENTSOF(api_l), NULL, 0 },
	{ FAMILY(build_info), "kibana_connector_monitor_build_info",
	  "Version of the monitor and of the libraries it runs with.",
	  METRIC_GAUGE, build_l, ELEMENTSOF(build_l), NULL, 0 },
	{ FAMILY(truncated_labels), "kibana_connector_monitor_label_values_truncated_total",
	  "Label values cut to 1024 bytes (very long names from Kibana).",
	  METRIC_COUNTER, NULL, 0, NULL, 0 },
	{ FAMILY(executions), "kibana_connector_executions_total",
	  "Connector executions found in the Kibana event log (event.provider actions), by outcome: success, failure (execute with outcome failure), timeout (execute-timeout). Counted once per event in windows that end settle_delay before the poll.",
	  METRIC_COUNTER, exec_l, ELEMENTSOF(exec_l), NULL, 0 },
	{ FAMILY(last_execution), "kibana_connector_last_execution_timestamp_seconds",
	  "Time (@timestamp) of the newest execution event counted, by outcome.",
	  METRIC_GAUGE, last_l, ELEMENTSOF(last_l), NULL, 0 },
	{ FAMILY(event_log_visible), "kibana_connector_monitor_event_log_visible",
	  "1 when the last event-log search really covered event-log shards without failures, else 0 (no privilege, no index, errors).",
	  METRIC_GAUGE, target_l, ELEMENTSOF(target_l), NULL, 0 },
	{ FAMILY(event_log_shard_failures), "kibana_connector_monitor_event_log_shard_failures_total",
	  "Failed shards reported by event-log searches (_shards.failed).",
	  METRIC_COUNTER, target_l, ELEMENTSOF(target_l), NULL, 0 },
	{ FAMILY(event_log_window_end), "kibana_connector_monitor_event_log_window_end_timestamp_seconds",
	  "End (exclusive) of the last event-log window that was counted.",
	  METRIC_GAUGE, target_l, ELEMENTSOF(target_l), NULL, 0 },
	{ FAMILY(event_log_errors), "kibana_connector_monitor_event_log_errors_total",
	  "Event-log searches that could not see the log, by reason.",
	  METRIC_COUNTER, err_l, ELEMENTSOF(err_l), NULL, 0 },
	{ FAMILY(config_reload_ok), "kibana_connector_monitor_config_last_reload_successful",
	  "1 when the last configuration load (start or SIGHUP) succeeded, 0 when the last reload was rejected and the previous configuration is still in use.",
	  METRIC_GAUGE, NULL, 0, NULL, 0 },
	{ FAMILY(config_reload_time), "kibana_connector_monitor_config_last_reload_success_timestamp_seconds",
	  "Time of the last successful configuration load (start or SIGHUP).",
	  METRIC_GAUGE, NULL, 0, NULL, 0 },
	{ FAMILY(log_dropped), "kibana_connector_monitor_log_dropped_total",
	  "Journal entries dropped because journald did not keep up (the log queue was full).",
	  METRIC_COUNTER, NULL, 0, NULL, 0 },
	{ FAMILY(probe_success), "kibana_connector_probe_success",
	  "1 when the last synthetic test execution (_execute) of the connector succeeded (status ok), else 0.",
	  METRIC_GAUGE, probe_l, ELEMENTSOF(probe_l), NULL, 0 },
	{ FAMILY(probe_duration), "kibana_connector_probe_duration_seconds",
	  "Duration of the last synthetic test execution of the connector.",
	  METRIC_GAUGE, probe_l, ELEMENTSOF(probe_l), NULL, 0 },
	{ FAMILY(probe_last_run), "kibana_connector_probe_last_run_timestamp_seconds",
	  "End of the last synthetic test execution of the connector.",
	  METRIC_GAUGE, probe_l, ELEMENTSOF(probe_l), NULL, 0 },
	{ FAMILY(probe_runs), "kibana_connector_probe_runs_total",
	  "Synthetic test executions of the connector, by result (ok, connector_error, not_found, forbidden, bad_request, http_error, timeout, transport, invalid_response).",
	  METRIC_COUNTER, probe_run_l, ELEMENTSOF(probe_run_l), NULL, 0 },
#undef FAMILY
};

static int
register_families(struct kcm *k)
{
	const struct family_spec *fs;
	struct metric_family **slot;
	const char *build_v[4];
	char jv[32];
	size_t i;

	for (i = 0; i < ELEMENTSOF(family_specs); i++) {
		fs = &family_specs[i];
		slot = (struct metric_family **)((char *)&k->fam + fs->field);
		*slot = metrics_family(k->metrics, fs->name, fs->help, fs->type,
		    fs->labels, fs->nlabels, fs->buckets, fs->nbuckets);
		if (*slot == NULL)
			return -ENOMEM;
	}

	snprintf(jv, sizeof(jv), "%s", jansson_version_str());
	build_v[0] = KCM_VERSION;
	build_v[1] = curl_version_info(CURLVERSION_NOW)->version;
	build_v[2] = event_get_version();
	build_v[3] = jv;
	metrics_set(k->fam.config_reload_ok, NULL, 1);
	metrics_set(k->fam.config_reload_time, NULL, realtime_seconds());
	metrics_add(k->fam.log_dropped, NULL, 0);
	return metrics_set(k->fam.build_info, build_v, 1);
}

static bool
cfg_has_target(const struct kcm_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->ntargets; i++)
		if (strcmp(cfg->targets[i].name, name) == 0)
			return true;
	return false;
}

int
kcm_reload(struct kcm *k, struct kcm_config *cfg)
{
	struct kcm_config *old = k->cfg;
	size_t i;
	int r;

	kcm_modules_destroy(k);
	k->cfg = cfg;
	if ((r = kcm_modules_create(k)) < 0 ||
	    (r = kcm_modules_start(k)) < 0) {
		kcm_modules_destroy(k);
		k->cfg = old;
		if (kcm_modules_create(k) < 0 || kcm_modules_start(k) < 0)
			log_error("cannot restore the previous configuration's jobs: out of memory");
		kcm_reload_rejected(k);
		return r;
	}
	/* The new configuration runs: series of removed targets vanish. */
	for (i = 0; i < old->ntargets; i++)
		if (!cfg_has_target(cfg, old->targets[i].name))
			metrics_remove_label(k->metrics, "target",
			    old->targets[i].name);
	probe_prune_series(k, old, cfg);
	metrics_set(k->fam.config_reload_ok, NULL, 1);
	metrics_set(k->fam.config_reload_time, NULL, realtime_seconds());
	if (kcm_publish(k) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
	return 0;
}

void
kcm_reload_rejected(struct kcm *k)
{
	metrics_set(k->fam.config_reload_ok, NULL, 0);
	if (kcm_publish(k) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
}

void
kcm_status(struct kcm *k, char *buf, size_t size)
{
	struct target_summary s;
	size_t i, conns = 0, failing = 0;
	double last = 0, now = realtime_seconds();

	for (i = 0; i < k->ntargets; i++) {
		target_summary(k->targets[i], &s);
		conns += s.connectors;
		failing += s.failing;
		if (s.last_ok > last)
			last = s.last_ok;
	}
	if (last > 0)
		snprintf(buf, size, "%zu target%s, %zu connectors, %zu failing, last successful poll %.0fs ago",
		    k->ntargets, k->ntargets == 1 ? "" : "s", conns, failing,
		    now > last ? now - last : 0.0);
	else
		snprintf(buf, size, "%zu target%s, %zu connectors, %zu failing, no successful poll yet",
		    k->ntargets, k->ntargets == 1 ? "" : "s", conns, failing);
}

/*
 * The per-configuration objects: everything built from k->cfg.  A
 * configuration reload destroys them and creates them again from the new
 * configuration; the registry, the HTTP client and the families stay.
 * Modules that come with later features add themselves here.
 */
int
kcm_modules_create(struct kcm *k)
{
	struct kcm_config *cfg = k->cfg;
	size_t i;

	k->targets = calloc(cfg->ntargets, sizeof(*k->targets));
	if (k->targets == NULL && cfg->ntargets > 0)
		return -ENOMEM;
	for (i = 0; i < cfg->ntargets; i++) {
		k->targets[i] = target_new(k, &cfg->targets[i]);
		if (k->targets[i] == NULL)
			return -ENOMEM;
		k->ntargets++;
	}
	/* Event-log pollers: one per target with elasticsearch.url. */
	k->eventlogs = calloc(cfg->ntargets, sizeof(*k->eventlogs));
	if (k->eventlogs == NULL && cfg->ntargets > 0)
		return -ENOMEM;
	for (i = 0; i < cfg->ntargets; i++) {
		if (cfg->targets[i].elasticsearch.url == NULL)
			continue;
		k->eventlogs[k->neventlogs] = eventlog_new(k, k->targets[i],
		    &cfg->targets[i]);
		if (k->eventlogs[k->neventlogs] == NULL)
			return -ENOMEM;
		k->neventlogs++;
	}
	/* Probes: one per `probes:` entry, each pointing at its target. */
	k->probes = calloc(cfg->nprobes, sizeof(*k->probes));
	if (k->probes == NULL && cfg->nprobes > 0)
		return -ENOMEM;
	for (i = 0; i < cfg->nprobes; i++) {
		k->probes[i] = probe_new(k, &cfg->probes[i]);
		if (k->probes[i] == NULL)
			return -ENOMEM;
		k->nprobes++;
	}
	return 0;
}

int
kcm_modules_start(struct kcm *k)
{
	size_t i;
	int r;

	for (i = 0; i < k->ntargets; i++)
		if ((r = target_start(k->targets[i], k->once)) < 0)
			return r;
	for (i = 0; i < k->neventlogs; i++)
		if ((r = eventlog_start(k->eventlogs[i], k->once)) < 0)
			return r;
	for (i = 0; i < k->nprobes; i++)
		if ((r = probe_start(k->probes[i], k->once)) < 0)
			return r;
	return 0;
}

void
kcm_modules_destroy(struct kcm *k)
{
	size_t i;

	/* Probes and event-log pollers first: they point at their targets. */
	for (i = 0; i < k->nprobes; i++)
		probe_free(k->probes[i]);
	free(k->probes);
	k->probes = NULL;
	k->nprobes = 0;
	for (i = 0; i < k->neventlogs; i++)
		eventlog_free(k->eventlogs[i]);
	free(k->eventlogs);
	k->eventlogs = NULL;
	k->neventlogs = 0;
	for (i = 0; i < k->ntargets; i++)
		target_free(k->targets[i]);
	free(k->targets);
	k->targets = NULL;
	k->ntargets = 0;
}

int
kcm_init(struct kcm *k, struct event_base *base, struct kcm_config *cfg,
    bool once)
{
	int r;

	memset(k, 0, sizeof(*k));
	k->base = base;
	k->cfg = cfg;
	k->once = once;
	k->start_time = process_start_time();
	k->metrics = metrics_new();
	k->http = http_client_new(base);
	if (k->metrics == NULL || k->http == NULL)
		return -ENOMEM;
	if ((r = register_families(k)) < 0)
		return r;
	if ((r = kcm_modules_create(k)) < 0)
		return r;
	return kcm_publish(k);
}

int
kcm_start(struct kcm *k)
{
	int r;

	/* Hold the run open until every job has been started. */
	kcm_once_hold(k);
	r = kcm_modules_start(k);
	k->once_started = true;
	kcm_once_release(k);
	return r;
}

void
kcm_once_hold(struct kcm *k)
{
	if (k->once)
		k->once_pending++;
}

void
kcm_once_release(struct kcm *k)
{
	if (!k->once || k->once_pending == 0)
		return;
	if (--k->once_pending == 0) {
		if (kcm_publish(k) < 0)
			log_error("out of memory rendering metrics");
		event_base_loopexit(k->base, NULL);
	}
}

static void
body_unref(struct kcm_body *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

void
kcm_fini(struct kcm *k)
{
	kcm_modules_destroy(k);
	eventlog_windows_free(k->eventlog_windows);
	k->eventlog_windows = NULL;
	http_client_free(k->http);
	k->http = NULL;
	metrics_free(k->metrics);
	k->metrics = NULL;
	body_unref(k->body);
	k->body = NULL;
}

void
kcm_account(struct kcm *k, const char *target, enum kcm_api api,
    enum kcm_result r, uint64_t duration_usec)
{
	const char *v[3] = { target, kcm_api_to_string(api), NULL };
	unsigned i;

	/* Every result starts at 0, so rate() and increase() work at once. */
	for (i = 0; i < RESULT__MAX; i++) {
		v[2] = kcm_result_to_string(i);
		metrics_add(k->fam.requests, v, i == r ? 1 : 0);
	}
	metrics_observe(k->fam.request_duration, v,
	    (double)duration_usec / (double)USEC_PER_SEC);
	if (r != RESULT_OK)
		k->any_failed = true;
}

int
kcm_publish(struct kcm *k)
{
	struct kcm_body *b;
	struct strbuf sb;
	double prev = 0;

	metrics_get(k->fam.truncated_labels, NULL, &prev);
	metrics_add(k->fam.truncated_labels, NULL,
	    (double)metrics_truncated_labels(k->metrics) - prev);
	prev = 0;
	metrics_get(k->fam.log_dropped, NULL, &prev);
	if ((double)log_dropped() > prev)
		metrics_add(k->fam.log_dropped, NULL, (double)log_dropped() - prev);

	strbuf_init(&sb);
	if (metrics_render(k->metrics, &sb) < 0 || strbuf_failed(&sb)) {
		strbuf_free(&sb);
		return -ENOMEM;
	}
	b = malloc(sizeof(*b) + sb.len);
	if (b == NULL) {
		strbuf_free(&sb);
		return -ENOMEM;
	}
	b->refs = 1;
	b->len = sb.len;
	memcpy(b->data, strbuf_str(&sb), sb.len);
	strbuf_free(&sb);
	body_unref(k->body);
	k->body = b;
	return 0;
}

void
kcm_cycle_done(struct kcm *k, struct target *t, bool all_ok)
{
	char status[256];

	(void)t;
	if (!all_ok)
		k->any_failed = true;
	if (kcm_publish(k) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
	if (!k->once) {
		kcm_status(k, status, sizeof(status));
		notify_status("%s", status);
	}
}

static void
body_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	body_unref(arg);
}

int
kcm_write_metrics(struct kcm *k, struct evbuffer *out)
{
	struct strbuf sb;
	int r = 0;

	if (k->body != NULL && k->body->len > 0) {
		/* Zero-copy: the buffer holds a reference until it is sent. */
		k->body->refs++;
		if (evbuffer_add_reference(out, k->body->data, k->body->len,
		    body_cleanup, k->body) < 0) {
			k->body->refs--;
			return -ENOMEM;
		}
	}
	strbuf_init(&sb);
	process_metrics_render(&sb);
	if (strbuf_failed(&sb) || evbuffer_add(out, strbuf_str(&sb), sb.len) < 0)
		r = -ENOMEM;
	strbuf_free(&sb);
	return r;
}

int
kcm_render_all(struct kcm *k, struct strbuf *out)
{
	if (k->body != NULL)
		strbuf_append(out, k->body->data, k->body->len);
	process_metrics_render(out);
	return strbuf_failed(out) ? -ENOMEM : 0;
}
