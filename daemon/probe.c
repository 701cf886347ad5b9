/*
 * probe.c: synthetic test executions of configured connectors.
 *
 * A probe is a check of the engine (engine.h): the first run comes at a
 * uniformly random offset in [0, interval), so a restart never fires every
 * probe at once; later runs every interval (plus or minus up to 10%
 * jitter).  The engine never overlaps two runs of a probe.  There are no
 * retries: a failed run is reported, the next comes at the next interval.
 *
 * Safety: the URL is built once, in probe_new(), from the probe's own
 * configuration (target URL, space, connector id).  Nothing that Kibana
 * sends can make the daemon execute another connector.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_endpoint.h"
#include "config_types.h"
#include "engine.h"
#include "http_client.h"
#include "inventory.h"
#include "kibana.h"
#include "log.h"
#include "metrics.h"
#include "msgid.h"
#include "probe.h"
#include "status.h"

struct probe_families {
	struct metric_family	*success;
	struct metric_family	*duration;
	struct metric_family	*last_run;
	struct metric_family	*runs;
};

struct probe {
	const struct probe_config *cfg;
	const struct target_config *tcfg;
	struct inventory	*inventory;	/* the target's, for names */
	struct probe_families	 fam;
	struct endpoint_config	 ep;	/* the target's, with the probe's timeout */
	char			*url;
	char			*path;	/* for debug logs */

	/* last run */
	bool			 have_result;
	enum probe_result	 last;
	const char		*label_space;	/* its series' space; NULL = none yet */
	double			 last_run;	/* epoch s of the last run's end */
	char			*message;	/* what Kibana said (bounded), or NULL */
};

static const char *const probe_l[] = { "target", "space", "connector_id" };
static const char *const probe_run_l[] = { "target", "space", "connector_id",
    "result" };

#define FAM(f) offsetof(struct probe_families, f)
static const struct metrics_spec probe_specs[] = {
	{ FAM(success), "kibana_connector_probe_success",
	  "1 when the last synthetic test execution (_execute) of the connector succeeded (status ok), else 0.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(probe_l), NULL, 0 },
	{ FAM(duration), "kibana_connector_probe_duration_seconds",
	  "Duration of the last synthetic test execution of the connector.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(probe_l), NULL, 0 },
	{ FAM(last_run), "kibana_connector_probe_last_run_timestamp_seconds",
	  "End of the last synthetic test execution of the connector.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(probe_l), NULL, 0 },
	{ FAM(runs), "kibana_connector_probe_runs_total",
	  "Synthetic test executions of the connector, by result (ok, connector_error, not_found, forbidden, bad_request, http_error, timeout, transport, invalid_response).",
	  METRIC_COUNTER, METRICS_SPEC_LABELS(probe_run_l), NULL, 0 },
};
#undef FAM

const char *
probe_result_to_string(enum probe_result r)
{
	switch (r) {
	case PROBE_OK:			return "ok";
	case PROBE_CONNECTOR_ERROR:	return "connector_error";
	case PROBE_NOT_FOUND:		return "not_found";
	case PROBE_FORBIDDEN:		return "forbidden";
	case PROBE_BAD_REQUEST:		return "bad_request";
	case PROBE_HTTP_ERROR:		return "http_error";
	case PROBE_TIMEOUT:		return "timeout";
	case PROBE_TRANSPORT:		return "transport";
	case PROBE_INVALID_RESPONSE:	return "invalid_response";
	case PROBE__MAX:		break;
	}
	return "invalid_response";
}

void
probe_details_free(struct probe_details *d)
{
	if (d == NULL)
		return;
	free(d->message);
	free(d->service_message);
	free(d->retry);
	memset(d, 0, sizeof(*d));
}

/* The documented fields of an _execute body (result or Boom envelope). */
static void
details_from(const json_t *root, struct probe_details *d)
{
	const json_t *v;

	if (d == NULL || !json_is_object(root))
		return;
	if (json_is_string(v = json_object_get(root, "message")))
		d->message = kibana_json_strdup(v);
	if (json_is_string(v = json_object_get(root, "service_message")))
		d->service_message = kibana_json_strdup(v);
	v = json_object_get(root, "retry");
	if (json_is_boolean(v))
		d->retry = strdup(json_is_true(v) ? "true" : "false");
	else if (json_is_string(v))
		d->retry = kibana_json_strdup(v);
}

enum probe_result
probe_classify(const struct http_response *resp, struct probe_details *ret)
{
	enum probe_result r;
	const json_t *status;
	json_t *root = NULL;
	char err[128];

	if (ret != NULL)
		memset(ret, 0, sizeof(*ret));
	switch (resp->result) {
	case HTTP_RESULT_OK:
		break;
	case HTTP_RESULT_TIMEOUT:
		return PROBE_TIMEOUT;
	case HTTP_RESULT_TOO_LARGE:
		return PROBE_INVALID_RESPONSE;
	case HTTP_RESULT_CONNECT:
	case HTTP_RESULT_TLS:
	case HTTP_RESULT_DNS:
	case HTTP_RESULT_OTHER:
		return PROBE_TRANSPORT;
	}
	if (resp->status == 204)
		return PROBE_OK;	/* executor returned nothing: ok */
	if (resp->body != NULL && resp->body_len > 0)
		root = kibana_json_load(resp->body, resp->body_len, err,
		    sizeof(err));
	if (resp->status >= 200 && resp->status < 300) {
		status = json_object_get(root, "status");	/* NULL-safe */
		if (!json_is_object(root) || !json_is_string(status))
			r = PROBE_INVALID_RESPONSE;
		else if (strcmp(json_string_value(status), "ok") == 0)
			r = PROBE_OK;
		else if (strcmp(json_string_value(status), "error") == 0)
			r = PROBE_CONNECTOR_ERROR;
		else
			r = PROBE_INVALID_RESPONSE;
	} else if (resp->status == 400)
		r = PROBE_BAD_REQUEST;
	else if (resp->status == 403)
		r = PROBE_FORBIDDEN;
	else if (resp->status == 404)
		r = PROBE_NOT_FOUND;
	else
		r = PROBE_HTTP_ERROR;
	if (r != PROBE_INVALID_RESPONSE)
		details_from(root, ret);
	json_decref(root);
	return r;
}

/* ---- the probe ----------------------------------------------------------- */

static void
probe_free(void *arg)
{
	struct probe *p = arg;

	if (p == NULL)
		return;
	free(p->url);
	free(p->path);
	free(p->message);
	free(p);
}

static struct probe *
probe_new(struct metrics *m, const struct probe_config *cfg,
    const struct target_config *tcfg, struct inventory *inv)
{
	struct strbuf api, path, url;
	struct probe *p;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cfg = cfg;
	p->tcfg = tcfg;
	p->inventory = inv;
	p->ep = tcfg->kibana;	/* pointers borrowed */
	p->ep.timeout_usec = cfg->timeout_usec;

	strbuf_init(&api);
	strbuf_init(&path);
	strbuf_init(&url);
	strbuf_puts(&api, "/api/actions/connector/");
	strbuf_put_urlencoded(&api, cfg->connector_id, "-._~");
	strbuf_puts(&api, "/_execute");
	if (strbuf_failed(&api) ||
	    kibana_space_path(&path, cfg->space, strbuf_str(&api)) < 0)
		goto fail;
	strbuf_printf(&url, "%s%s", p->ep.url, strbuf_str(&path));
	p->path = strbuf_steal(&path);
	p->url = strbuf_steal(&url);
	strbuf_free(&api);
	if (p->path == NULL || p->url == NULL ||
	    metrics_register(m, probe_specs, ELEMENTSOF(probe_specs),
	    &p->fam) < 0) {
		probe_free(p);
		return NULL;
	}
	return p;
fail:
	strbuf_free(&api);
	strbuf_free(&path);
	strbuf_free(&url);
	probe_free(p);
	return NULL;
}

static const char *
connector_name(const struct probe *p)
{
	const char *name;

	if (p->inventory == NULL)
		return NULL;
	name = inventory_connector_name(p->inventory, p->cfg->space,
	    p->cfg->connector_id);
	if (name == NULL)
		name = inventory_connector_name(p->inventory, "*",
		    p->cfg->connector_id);
	return name;
}

/* One log entry per change of the probe's result (and the first one). */
static void
note_result(struct probe *p, enum probe_result r,
    const struct http_response *resp, const struct probe_details *d)
{
	const struct probe_config *c = p->cfg;
	const char *name = connector_name(p);
	const char *what;
	char status[16];
	struct log_field f[9];
	size_t n = 0;

	if (p->have_result && p->last == r)
		return;
	snprintf(status, sizeof(status), "%ld", resp->status);
	f[n++] = (struct log_field){ "TARGET", c->target };
	f[n++] = (struct log_field){ "SPACE", c->space };
	f[n++] = (struct log_field){ "CONNECTOR_ID", c->connector_id };
	f[n++] = (struct log_field){ "CONNECTOR_NAME", name };
	f[n++] = (struct log_field){ "RESULT", probe_result_to_string(r) };
	f[n++] = (struct log_field){ "HTTP_STATUS", status };
	f[n++] = (struct log_field){ "ERROR_MESSAGE", d->message != NULL ?
	    d->message : (resp->result != HTTP_RESULT_OK ? resp->error : NULL) };
	f[n++] = (struct log_field){ "SERVICE_MESSAGE", d->service_message };
	f[n++] = (struct log_field){ "RETRY", d->retry };
	what = name != NULL ? name : c->connector_id;
	if (r == PROBE_OK)
		log_struct(LOG_INFO, MSGID_PROBE_STATE_CHANGED, f, n,
		    "synthetic test execution of connector '%s' in space '%s' of target '%s' succeeded",
		    what, c->space, c->target);
	else
		log_struct(LOG_WARNING, MSGID_PROBE_STATE_CHANGED, f, n,
		    "synthetic test execution of connector '%s' in space '%s' of target '%s' failed (%s): %s",
		    what, c->space, c->target, probe_result_to_string(r),
		    d->message != NULL ? d->message :
		    resp->result != HTTP_RESULT_OK ? resp->error : status);
}

/*
 * The space its series carry: "*" for a preconfigured connector (as in
 * kibana_connector_info, so the two join), although the probe runs through
 * the space it is configured with; else that space.
 */
static const char *
label_space(const struct probe *p)
{
	const struct probe_config *c = p->cfg;

	if (p->inventory != NULL &&
	    inventory_connector_name(p->inventory, c->space, c->connector_id) == NULL &&
	    inventory_connector_name(p->inventory, "*", c->connector_id) != NULL)
		return "*";
	return c->space;
}

static void
remove_series(struct probe *p, const char *space)
{
	const char *m[4] = { p->cfg->target, space, p->cfg->connector_id, NULL };

	metrics_remove_each(&p->fam, sizeof(p->fam), m);
}

/* Moves the series to the right space label, every result at 0 first. */
static void
set_labels(struct probe *p)
{
	const char *space = label_space(p);
	const char *v[4] = { p->cfg->target, space, p->cfg->connector_id, NULL };
	unsigned i;

	if (p->label_space != NULL && strcmp(p->label_space, space) == 0)
		return;
	if (p->label_space != NULL)
		remove_series(p, p->label_space);
	p->label_space = strcmp(space, "*") == 0 ? "*" : p->cfg->space;
	/* Every result starts at 0, so increase() works from the first run. */
	for (i = 0; i < PROBE__MAX; i++) {
		v[3] = probe_result_to_string(i);
		metrics_add(p->fam.runs, v, 0);
	}
}

/* The status page's copy of the last run (bounded). */
static void
remember(struct probe *p, enum probe_result r, const struct http_response *resp,
    const struct probe_details *d)
{
	char buf[64];
	const char *m = d->message != NULL ? d->message :
	    d->service_message != NULL ? d->service_message : NULL;

	if (m == NULL && r != PROBE_OK) {
		if (resp->result != HTTP_RESULT_OK)
			m = resp->error;
		else {
			snprintf(buf, sizeof(buf), "HTTP status %ld", resp->status);
			m = buf;
		}
	}
	free(p->message);
	p->message = m != NULL ? strndup(m, STATUS_TEXT_MAX + 4) : NULL;
	p->last_run = realtime_seconds();
}

static enum engine_result
run_done(struct check *ck, const struct http_response *resp,
    enum engine_result kr, void *arg)
{
	struct probe *p = arg;
	const struct probe_config *c = p->cfg;
	const char *v[4] = { c->target, NULL, c->connector_id, NULL };
	struct probe_details d;
	enum probe_result r;

	(void)ck;
	set_labels(p);
	v[1] = p->label_space;
	r = probe_classify(resp, &d);
	if (kr == RESULT_OK && r == PROBE_INVALID_RESPONSE)
		kr = RESULT_INVALID_RESPONSE;

	metrics_set(p->fam.success, v, r == PROBE_OK ? 1 : 0);
	metrics_set(p->fam.duration, v,
	    (double)resp->duration_usec / (double)USEC_PER_SEC);
	metrics_set(p->fam.last_run, v, realtime_seconds());
	v[3] = probe_result_to_string(r);
	metrics_add(p->fam.runs, v, 1);

	log_debug("POST %s (target %s): %s, HTTP %ld", p->path, c->target,
	    probe_result_to_string(r), resp->status);
	note_result(p, r, resp, &d);
	remember(p, r, resp, &d);
	probe_details_free(&d);
	p->have_result = true;
	p->last = r;
	return kr;
}

static void
probe_run(struct check *ck, void *arg)
{
	static const char *const headers[] = {
		"kbn-xsrf: kibana-connector-monitor",
		"Content-Type: application/json",
		NULL,
	};
	struct probe *p = arg;
	const struct probe_config *c = p->cfg;
	struct http_request req;
	int r;

	/* Only the configured connector, never an empty id (the list route). */
	if (c->connector_id == NULL || c->connector_id[0] == '\0' ||
	    c->body == NULL) {
		log_error("probe without connector id or params refused");
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = p->url;
	req.body = c->body;
	req.body_len = strlen(c->body);
	req.ep = &p->ep;
	req.headers = headers;
	log_debug("POST %s (target %s)", p->path, c->target);
	r = check_request(ck, API_EXECUTE, &req, run_done, NULL, p);
	if (r < 0)
		log_error("probe of connector '%s' in space '%s' of target '%s': cannot start the request: %s",
		    c->connector_id, c->space, c->target, strerror(-r));
}

static int
probe_finish(struct check *ck, void *arg)
{
	(void)ck;
	(void)arg;
	return 0;
}

/* ---- the status page ---------------------------------------------------- */

static void
probe_status(const void *arg, struct status *st)
{
	const struct probe *p = arg;
	const struct probe_config *c = p->cfg;
	json_t *o = json_object();

	json_object_set_new(o, "space", status_str(c->space, 0));
	json_object_set_new(o, "id", status_str(c->connector_id, 0));
	json_object_set_new(o, "name",
	    status_str(connector_name(p), 0));
	json_object_set_new(o, "listed", json_boolean(p->inventory == NULL ||
	    connector_name(p) != NULL));
	json_object_set_new(o, "result", p->have_result ?
	    json_string(probe_result_to_string(p->last)) : json_null());
	json_object_set_new(o, "last_run", status_time(p->last_run));
	json_object_set_new(o, "message", status_str(p->message, STATUS_TEXT_MAX));
	status_list_add(status_target(st, c->target), "probes", o);
}

/* ---- the check's life across reloads ---------------------------------- */

static bool
probe_same(const void *a, const void *b)
{
	const struct probe *x = a, *y = b;

	return strcmp(x->url, y->url) == 0 &&
	    strcmp(x->cfg->body, y->cfg->body) == 0 &&
	    x->cfg->interval_usec == y->cfg->interval_usec &&
	    x->cfg->timeout_usec == y->cfg->timeout_usec &&
	    config_endpoint_equal(&x->tcfg->kibana, &y->tcfg->kibana);
}

static void
probe_adopt(void *old, void *new)
{
	struct probe *o = old, *n = new;

	o->cfg = n->cfg;
	o->tcfg = n->tcfg;
	o->ep = n->ep;
	o->inventory = n->inventory;
	if (o->label_space != NULL && strcmp(o->label_space, "*") != 0)
		o->label_space = o->cfg->space;	/* the same text, new memory */
}

/* The probe left the configuration: its series go. */
static void
probe_retire(void *arg)
{
	struct probe *p = arg;

	if (p->label_space != NULL)
		remove_series(p, p->label_space);
}

static void
probe_first_scheduled(void *arg, uint64_t delay_usec)
{
	struct probe *p = arg;
	char buf[32];

	snprintf(buf, sizeof(buf), "%.1f", (double)delay_usec / (double)USEC_PER_SEC);
	log_struct(LOG_DEBUG, NULL, (struct log_field[]){
	    { "TARGET", p->cfg->target }, { "SPACE", p->cfg->space },
	    { "CONNECTOR_ID", p->cfg->connector_id },
	    { "FIRST_RUN_SECONDS", buf } }, 4,
	    "probe of connector '%s' in space '%s' of target '%s': first run in %ss",
	    p->cfg->connector_id, p->cfg->space, p->cfg->target, buf);
}

static const struct check_ops probe_ops = {
	.kind = "probe",
	.run = probe_run,
	.finish = probe_finish,
	.same = probe_same,
	.adopt = probe_adopt,
	.retire = probe_retire,
	.first_scheduled = probe_first_scheduled,
	.status = probe_status,
	.free = probe_free,
};

struct check *
probe_add(struct engine_build *b, struct metrics *m,
    const struct probe_config *cfg, const struct target_config *tcfg,
    struct check *inventory)
{
	struct check_spec spec = {
		.ops = &probe_ops,
		.key = { cfg->target, cfg->space, cfg->connector_id },
		.target = cfg->target,
		.interval_usec = cfg->interval_usec,
		.jitter = PROBE_JITTER,
		/* A restart never fires every probe at once. */
		.first = CHECK_FIRST_RANDOM,
		/* Not before the inventory says whether it is preconfigured. */
		.after = inventory,
	};

	spec.impl = probe_new(m, cfg, tcfg,
	    inventory != NULL ? check_impl(inventory) : NULL);
	if (spec.impl == NULL)
		return NULL;
	return engine_build_add(b, &spec);
}
