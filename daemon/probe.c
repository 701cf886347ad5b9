/*
 * probe.c: synthetic test executions of configured connectors.
 *
 * Each probe owns a one-shot timer.  The first run comes at a uniformly
 * random offset in [0, interval), so a restart never fires every probe at
 * once; each later run is scheduled when the previous timer fires, one
 * interval on (plus or minus up to 10% jitter), so a slow run does not
 * shift the cadence.  A timer that fires while the previous run is still
 * in flight is skipped: one probe never overlaps itself.  There are no
 * retries: a failed run is reported, the next comes at the next interval.
 *
 * Safety: the URL is built once, in probe_new(), from the probe's own
 * configuration (target URL, space, connector id).  Nothing that Kibana
 * sends can make the daemon execute another connector.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "http_client.h"
#include "inventory.h"
#include "kcm.h"
#include "kibana.h"
#include "log.h"
#include "msgid.h"
#include "probe.h"

#define PROBE_JITTER	0.10	/* later runs: interval +- 10% */

struct probe {
	struct kcm		*kcm;
	const struct probe_config *cfg;
	struct target		*target;
	struct endpoint_config	 ep;	/* the target's, with the probe's timeout */
	char			*url;
	char			*path;	/* for debug logs */
	struct event		*timer;
	struct http_call	*call;	/* non-NULL while a run is in flight */
	bool			 once;

	/* last run */
	bool			 have_result;
	enum probe_result	 last;
	bool			 exchange_ok;	/* kcm_account's RESULT_OK */
};

static void timer_fired(evutil_socket_t fd, short what, void *arg);

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

/* ---- randomness --------------------------------------------------------- */

/* splitmix64, seeded once from getrandom(): schedules, not secrets. */
static uint64_t
rng_next(void)
{
	static uint64_t state;
	static bool seeded;
	uint64_t z;

	if (!seeded) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(state))
			state = now_usec() ^ ((uint64_t)getpid() << 32) ^
			    (uint64_t)time(NULL);
		seeded = true;
	}
	z = (state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
rng_unit(void)
{
	return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

static bool
cfg_has_probe(const struct kcm_config *cfg, const struct probe_config *pc)
{
	size_t i;

	for (i = 0; i < cfg->nprobes; i++)
		if (strcmp(cfg->probes[i].target, pc->target) == 0 &&
		    strcmp(cfg->probes[i].space, pc->space) == 0 &&
		    strcmp(cfg->probes[i].connector_id, pc->connector_id) == 0)
			return true;
	return false;
}

static bool
cfg_target_has_probes(const struct kcm_config *cfg, const char *target)
{
	size_t i;

	for (i = 0; i < cfg->nprobes; i++)
		if (strcmp(cfg->probes[i].target, target) == 0)
			return true;
	return false;
}

void
probe_prune_series(struct kcm *k, const struct kcm_config *old,
    const struct kcm_config *cfg)
{
	struct kcm_families *f = &k->fam;
	size_t i;

	for (i = 0; i < old->nprobes; i++) {
		const struct probe_config *pc = &old->probes[i];
		const char *m[4] = { pc->target, pc->space, pc->connector_id,
		    NULL };

		if (!cfg_has_probe(cfg, pc)) {
			metrics_remove(f->probe_success, m);
			metrics_remove(f->probe_duration, m);
			metrics_remove(f->probe_last_run, m);
			metrics_remove(f->probe_runs, m);
		}
		if (!cfg_target_has_probes(cfg, pc->target)) {
			const char *u[2] = { pc->target, "execute" };

			metrics_remove(f->up, u);
			metrics_remove(f->last_success, u);
		}
	}
}

/* ---- the probe ----------------------------------------------------------- */

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static void
url_encode(struct strbuf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~')
			strbuf_putc(out, (char)*p);
		else {
			strbuf_putc(out, '%');
			strbuf_putc(out, hex[*p >> 4]);
			strbuf_putc(out, hex[*p & 15]);
		}
	}
}

struct probe *
probe_new(struct kcm *k, const struct probe_config *cfg)
{
	struct strbuf api, path, url;
	struct probe *p;
	const char *v[4];
	unsigned i;

	if (cfg->target_index >= k->ntargets)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->kcm = k;
	p->cfg = cfg;
	p->target = k->targets[cfg->target_index];
	p->ep = target_config(p->target)->kibana;	/* pointers borrowed */
	p->ep.timeout_usec = cfg->timeout_usec;

	strbuf_init(&api);
	strbuf_init(&path);
	strbuf_init(&url);
	strbuf_puts(&api, "/api/actions/connector/");
	url_encode(&api, cfg->connector_id);
	strbuf_puts(&api, "/_execute");
	if (strbuf_failed(&api) ||
	    kibana_space_path(&path, cfg->space, strbuf_str(&api)) < 0)
		goto fail;
	strbuf_printf(&url, "%s%s", p->ep.url, strbuf_str(&path));
	p->path = strbuf_steal(&path);
	p->url = strbuf_steal(&url);
	if (p->path == NULL || p->url == NULL)
		goto fail;
	strbuf_free(&api);

	p->timer = evtimer_new(k->base, timer_fired, p);
	if (p->timer == NULL)
		goto fail2;

	/* Every result starts at 0, so increase() works from the first run. */
	v[0] = cfg->target;
	v[1] = cfg->space;
	v[2] = cfg->connector_id;
	for (i = 0; i < PROBE__MAX; i++) {
		v[3] = probe_result_to_string(i);
		if (metrics_add(k->fam.probe_runs, v, 0) < 0)
			goto fail2;
	}
	return p;
fail:
	strbuf_free(&api);
	strbuf_free(&path);
	strbuf_free(&url);
fail2:
	probe_free(p);
	return NULL;
}

void
probe_free(struct probe *p)
{
	if (p == NULL)
		return;
	if (p->call != NULL)
		http_call_cancel(p->call);
	if (p->timer != NULL)
		event_free(p->timer);
	free(p->url);
	free(p->path);
	free(p);
}

static void
schedule(struct probe *p, uint64_t delay_usec)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(delay_usec / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(delay_usec % USEC_PER_SEC);
	if (event_add(p->timer, &tv) < 0)
		log_error("probe of connector '%s': cannot schedule the next run",
		    p->cfg->connector_id);
}

static const char *
connector_name(struct probe *p)
{
	const char *name;

	name = target_connector_name(p->target, p->cfg->space,
	    p->cfg->connector_id);
	if (name == NULL)
		name = target_connector_name(p->target, "*",
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

/* up{api="execute"}: every probe of the target that ran had a good exchange. */
static void
update_up(struct probe *p)
{
	struct kcm *k = p->kcm;
	const char *v[2] = { p->cfg->target, kcm_api_to_string(API_EXECUTE) };
	bool up = true;
	size_t i;

	for (i = 0; i < k->nprobes; i++) {
		struct probe *o = k->probes[i];

		if (o != NULL && o->cfg->target_index == p->cfg->target_index &&
		    o->have_result && !o->exchange_ok)
			up = false;
	}
	metrics_set(k->fam.up, v, up ? 1 : 0);
	if (up && p->exchange_ok)
		metrics_set(k->fam.last_success, v, realtime_seconds());
}

static void
run_done(const struct http_response *resp, void *arg)
{
	struct probe *p = arg;
	struct kcm *k = p->kcm;
	struct kcm_families *f = &k->fam;
	const struct probe_config *c = p->cfg;
	const char *v[4] = { c->target, c->space, c->connector_id, NULL };
	struct probe_details d;
	enum probe_result r;
	enum kcm_result kr;

	p->call = NULL;
	r = probe_classify(resp, &d);
	kr = kcm_classify(resp);
	if (kr == RESULT_OK && r == PROBE_INVALID_RESPONSE)
		kr = RESULT_INVALID_RESPONSE;
	kcm_account(k, c->target, API_EXECUTE, kr, resp->duration_usec);
	p->exchange_ok = kr == RESULT_OK;

	metrics_set(f->probe_success, v, r == PROBE_OK ? 1 : 0);
	metrics_set(f->probe_duration, v,
	    (double)resp->duration_usec / (double)USEC_PER_SEC);
	metrics_set(f->probe_last_run, v, realtime_seconds());
	v[3] = probe_result_to_string(r);
	metrics_add(f->probe_runs, v, 1);

	log_debug("POST %s (target %s): %s, HTTP %ld", p->path, c->target,
	    probe_result_to_string(r), resp->status);
	note_result(p, r, resp, &d);
	probe_details_free(&d);
	p->have_result = true;
	p->last = r;
	update_up(p);

	if (kcm_publish(k) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
	if (p->once) {
		p->once = false;
		kcm_once_release(k);
	}
}

/* Starts a run; false when none was started (and nothing is pending). */
static bool
run(struct probe *p)
{
	static const char *const headers[] = {
		"kbn-xsrf: kibana-connector-monitor",
		"Content-Type: application/json",
		NULL,
	};
	const struct probe_config *c = p->cfg;
	struct http_request req;
	int r;

	if (p->call != NULL) {
		log_debug("probe of connector '%s' in space '%s' of target '%s': previous run still in flight, skipping this one",
		    c->connector_id, c->space, c->target);
		return false;
	}
	/* Only the configured connector, never an empty id (the list route). */
	if (c->connector_id == NULL || c->connector_id[0] == '\0' ||
	    c->body == NULL) {
		log_error("probe without connector id or params refused");
		return false;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = p->url;
	req.body = c->body;
	req.body_len = strlen(c->body);
	req.ep = &p->ep;
	req.headers = headers;
	r = http_client_submit(p->kcm->http, target_limiter(p->target), &req,
	    run_done, p, &p->call);
	if (r < 0) {
		p->call = NULL;
		log_error("probe of connector '%s' in space '%s' of target '%s': cannot start the request: %s",
		    c->connector_id, c->space, c->target, strerror(-r));
		return false;
	}
	log_debug("POST %s (target %s)", p->path, c->target);
	return true;
}

static uint64_t
jittered(uint64_t interval)
{
	double j = (rng_unit() * 2.0 - 1.0) * PROBE_JITTER;

	return (uint64_t)((double)interval * (1.0 + j));
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	schedule(p, jittered(p->cfg->interval_usec));
	run(p);
}

int
probe_start(struct probe *p, bool once)
{
	uint64_t offset;
	char buf[32];

	if (once) {
		kcm_once_hold(p->kcm);
		p->once = true;
		if (!run(p)) {
			p->once = false;
			kcm_once_release(p->kcm);
		}
		return 0;
	}
	offset = (uint64_t)(rng_unit() * (double)p->cfg->interval_usec);
	snprintf(buf, sizeof(buf), "%.1f", (double)offset / (double)USEC_PER_SEC);
	{
		struct log_field f[] = {
			{ "TARGET", p->cfg->target }, { "SPACE", p->cfg->space },
			{ "CONNECTOR_ID", p->cfg->connector_id },
			{ "FIRST_RUN_SECONDS", buf },
		};
		log_struct(LOG_DEBUG, NULL, f, ELEMENTSOF(f),
		    "probe of connector '%s' in space '%s' of target '%s': first run in %ss",
		    p->cfg->connector_id, p->cfg->space, p->cfg->target, buf);
	}
	schedule(p, offset);
	return 0;
}
