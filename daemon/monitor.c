/*
 * monitor.c: the composition root: the checks of a configuration, the
 * registry, the rendered exposition, reload and STATUS=.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <zlib.h>

#include "config_types.h"
#include "engine.h"
#include "eventlog.h"
#include "inventory.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "notify.h"
#include "probe.h"
#include "process.h"
#include "state.h"
#include "status.h"

/*
 * zlib level of the cached compressed rendering.  Measured on a 10,000-
 * connector exposition (3.3 MiB; README "Performance"): level 1 gives
 * 128 KiB in 4.5 ms, level 6 113 KiB in 13 ms, level 9 110 KiB in 48 ms.
 * It runs once per rendering (not per scrape), so 6: 11% fewer bytes on
 * every scrape for 9 ms more once a cycle.
 */
#ifndef MONITOR_GZIP_LEVEL
#define MONITOR_GZIP_LEVEL	6
#endif

/*
 * The registry is rendered, and the rendering compressed, in slices of
 * about this many samples and input bytes, one slice per turn of the
 * event loop, so that scrapes are answered in between: at 10,000
 * connectors a whole rendering takes ~20 ms and its compression ~13 ms,
 * a slice a fraction of a millisecond (README "Performance").
 */
#ifndef MONITOR_RENDER_SLICE
#define MONITOR_RENDER_SLICE	250
#endif
#ifndef MONITOR_DEFLATE_SLICE
#define MONITOR_DEFLATE_SLICE	(32 * 1024)
#endif

/*
 * A rendered exposition, shared by every response that sends it, plain
 * or compressed: responses hold references (evbuffer_add_reference),
 * never copies, so a hundred slow readers pin one rendering.
 */
struct body {
	unsigned	 refs;
	size_t		 len;
	char		*data;
	/*
	 * data[] as a raw deflate stream ended with Z_SYNC_FLUSH (byte-
	 * aligned, no final block): made with the rendering when it is
	 * rendered in slices, on the first gzip request otherwise.  Each gzip
	 * response appends the process_* tail (stored blocks) and the trailer
	 * (monitor_write_metrics_gzip).  z == NULL: not made yet.
	 */
	unsigned char	*z;
	size_t		 zlen;
	uint32_t	 crc;		/* crc32 of data[0..len) */
};

/*
 * A publication in progress: the registry rendered slice by slice, then
 * the text deflated slice by slice, then swapped in as the body, so plain
 * and gzip answers always come from the same rendering.
 */
struct render_job {
	struct monitor		*m;
	struct event		*ev;		/* zero timeout: the next slice */
	struct metrics_render	*mr;		/* NULL once rendered */
	struct strbuf		 sb;
	z_stream		 zs;
	bool			 zinit;
	unsigned char		*z;
	size_t			 zcap;
	size_t			 zin;		/* bytes of sb fed to deflate */
	uint32_t		 crc;
	bool			 ready;		/* every target had run at the start */
	bool			 again;		/* published again meanwhile */
};

struct monitor_families {
	struct metric_family	*build_info;
	struct metric_family	*truncated_labels;
	struct metric_family	*config_reload_ok;
	struct metric_family	*config_reload_time;
	struct metric_family	*log_dropped;
};

struct monitor {
	struct event_base	*base;
	const struct kcm_config	*cfg;
	bool			 once;
	bool			 no_probes;	/* --no-probes: never execute */
	struct http_client	*http;
	struct metrics		*metrics;
	struct monitor_families	 fam;
	struct engine		*engine;
	struct check		**inventories;	/* one per cfg->targets entry */
	size_t			 ninventories;
	struct body		*body;		/* last rendering */
	bool			 body_ready;	/* it has every target's first inventory */
	struct render_job	*job;		/* the next one, being rendered */
	/* the status page, rendered on the first request after a publish */
	struct body		*status_html, *status_json;
};

static const char *const build_l[] = { "version", "libcurl", "libevent",
    "jansson" };

#define FAM(f) offsetof(struct monitor_families, f)
static const struct metrics_spec monitor_specs[] = {
	{ FAM(build_info), "kibana_connector_monitor_build_info",
	  "Version of the monitor and of the libraries it runs with.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(build_l), NULL, 0 },
	{ FAM(truncated_labels), "kibana_connector_monitor_label_values_truncated_total",
	  "Label values cut to 1024 bytes (very long names from Kibana).",
	  METRIC_COUNTER, NULL, 0, NULL, 0 },
	{ FAM(config_reload_ok), "kibana_connector_monitor_config_last_reload_successful",
	  "1 when the last configuration load (start or SIGHUP) succeeded, 0 when the last reload was rejected and the previous configuration is still in use.",
	  METRIC_GAUGE, NULL, 0, NULL, 0 },
	{ FAM(config_reload_time), "kibana_connector_monitor_config_last_reload_success_timestamp_seconds",
	  "Time of the last successful configuration load (start or SIGHUP).",
	  METRIC_GAUGE, NULL, 0, NULL, 0 },
	{ FAM(log_dropped), "kibana_connector_monitor_log_dropped_total",
	  "Journal entries dropped because journald did not keep up (the log queue was full).",
	  METRIC_COUNTER, NULL, 0, NULL, 0 },
};
#undef FAM

static void
body_unref(struct body *b)
{
	if (b != NULL && --b->refs == 0) {
		free(b->z);
		free(b->data);
		free(b);
	}
}

/* A body that takes sb's text (one reference; sb is emptied), or NULL. */
static struct body *
body_take(struct strbuf *sb)
{
	struct body *b;

	if (strbuf_failed(sb) || (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->len = sb->len;
	if ((b->data = strbuf_steal(sb)) == NULL) {
		free(b);
		return NULL;
	}
	b->refs = 1;
	return b;
}

static bool
all_inventories_run(const struct monitor *m)
{
	size_t i;

	for (i = 0; i < m->ninventories; i++)
		if (!check_has_run(m->inventories[i]))
			return false;
	return true;
}

/* Serves b from now on (takes the reference). */
static void
body_swap(struct monitor *m, struct body *b, bool ready)
{
	body_unref(m->body);
	m->body = b;
	m->body_ready = ready;
	/* New data: the status page is rendered again when next asked for. */
	body_unref(m->status_html);
	body_unref(m->status_json);
	m->status_html = m->status_json = NULL;
}

/* The monitor's own counters, brought up to date before each rendering. */
static void
update_counters(struct monitor *m)
{
	double prev = 0;

	metrics_get(m->fam.truncated_labels, NULL, &prev);
	metrics_add(m->fam.truncated_labels, NULL,
	    (double)metrics_truncated_labels(m->metrics) - prev);
	prev = 0;
	metrics_get(m->fam.log_dropped, NULL, &prev);
	if ((double)log_dropped() > prev)
		metrics_add(m->fam.log_dropped, NULL, (double)log_dropped() - prev);
}

static void
job_free(struct render_job *j)
{
	if (j == NULL)
		return;
	if (j->ev != NULL)
		event_free(j->ev);
	metrics_render_end(j->mr);
	if (j->zinit)
		deflateEnd(&j->zs);
	free(j->z);
	strbuf_free(&j->sb);
	free(j);
}

/* Renders the registry into a fresh body at once (no compression yet). */
static int
publish_now(struct monitor *m)
{
	struct strbuf sb;
	struct body *b;
	bool ready = all_inventories_run(m);

	/* A rendering in slices would be older than this one. */
	job_free(m->job);
	m->job = NULL;
	update_counters(m);
	strbuf_init(&sb);
	if (metrics_render(m->metrics, &sb) < 0 || (b = body_take(&sb)) == NULL) {
		strbuf_free(&sb);
		return -ENOMEM;
	}
	body_swap(m, b, ready);
	return 0;
}

static void job_slice(evutil_socket_t fd, short what, void *arg);

static int
job_schedule(struct render_job *j)
{
	return event_next_turn(j->ev) < 0 ? -ENOMEM : 0;
}

static int
job_start(struct monitor *m)
{
	struct render_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ENOMEM;
	j->m = m;
	strbuf_init(&j->sb);
	/*
	 * The size of the last rendering and some: one allocation instead of
	 * a copy at every doubling, which took milliseconds in one slice.
	 */
	if (m->body != NULL)
		(void)strbuf_reserve(&j->sb, m->body->len + m->body->len / 8);
	j->ready = all_inventories_run(m);
	update_counters(m);
	if ((j->ev = evtimer_new(m->base, job_slice, j)) == NULL ||
	    (j->mr = metrics_render_begin(m->metrics)) == NULL ||
	    job_schedule(j) < 0) {
		job_free(j);
		return -ENOMEM;
	}
	m->job = j;
	return 0;
}

/* Starts compressing the rendered text: one deflate stream, sized once. */
static int
job_deflate_begin(struct render_job *j)
{
	if (j->sb.len > UINT_MAX / 2)
		return -E2BIG;		/* zlib counts in uInt */
	if (deflateInit2(&j->zs, MONITOR_GZIP_LEVEL, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	j->zinit = true;
	/* deflateBound() covers Z_FINISH; a sync flush adds at most 5+. */
	j->zcap = deflateBound(&j->zs, (uLong)j->sb.len) + 16;
	if ((j->z = malloc(j->zcap)) == NULL)
		return -ENOMEM;
	j->zs.next_out = j->z;
	j->zs.avail_out = (uInt)j->zcap;
	j->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	return 0;
}

/* Deflates the next slice; 1 while more is to come, 0 when done. */
static int
job_deflate_slice(struct render_job *j)
{
	size_t n = j->sb.len - j->zin;
	const Bytef *in = (const Bytef *)j->sb.buf + j->zin;
	int flush = Z_SYNC_FLUSH;

	if (n > MONITOR_DEFLATE_SLICE) {
		n = MONITOR_DEFLATE_SLICE;
		flush = Z_NO_FLUSH;
	}
	j->zs.next_in = (Bytef *)in;
	j->zs.avail_in = (uInt)n;
	if (deflate(&j->zs, flush) != Z_OK || j->zs.avail_in != 0 ||
	    j->zs.avail_out == 0)
		return -ENOMEM;
	j->crc = (uint32_t)crc32(j->crc, in, (uInt)n);
	j->zin += n;
	return flush == Z_SYNC_FLUSH ? 0 : 1;
}

/* The slices are done: the rendering becomes the body. */
static int
job_finish(struct render_job *j)
{
	struct monitor *m = j->m;
	unsigned char *shrunk;
	struct body *b;
	size_t zlen;

	zlen = j->zinit ? j->zcap - j->zs.avail_out : 0;
	if ((b = body_take(&j->sb)) == NULL)
		return -ENOMEM;
	if (zlen > 0) {
		if ((shrunk = realloc(j->z, zlen)) != NULL)
			j->z = shrunk;
		b->z = j->z;
		b->zlen = zlen;
		b->crc = j->crc;
		j->z = NULL;
	}
	body_swap(m, b, j->ready);
	return 0;
}

static void
job_slice(evutil_socket_t fd, short what, void *arg)
{
	struct render_job *j = arg;
	struct monitor *m = j->m;
	bool again;
	int r;

	(void)fd;
	(void)what;
	if (j->mr != NULL) {
		r = metrics_render_step(j->mr, &j->sb, MONITOR_RENDER_SLICE);
		if (r == 0) {
			metrics_render_end(j->mr);
			j->mr = NULL;
			if (j->sb.len > 0)
				r = job_deflate_begin(j);
			if (r == 0 && j->sb.len > 0)
				r = 1;
		}
	} else
		r = job_deflate_slice(j);
	if (r == 1 && job_schedule(j) == 0)
		return;
	if (r == 0)
		r = job_finish(j);
	if (r < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
	again = j->again;
	m->job = NULL;
	job_free(j);
	if (again && job_start(m) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
}

/*
 * New data to serve.  Under the event loop the rendering goes in slices
 * (job_slice) and a publication that comes while one is going on is
 * rendered right after it; --once (and the start, before the loop runs)
 * renders at once.
 */
static int
publish(struct monitor *m)
{
	if (m->once || m->body == NULL)
		return publish_now(m);
	if (m->job != NULL) {
		m->job->again = true;
		return 0;
	}
	return job_start(m);
}

/* The engine finished a run: new data to serve and to report. */
static void
published(void *arg)
{
	struct monitor *m = arg;
	char status[256];

	if (publish(m) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
	if (!m->once) {
		monitor_status(m, status, sizeof(status));
		notify_status("%s", status);
	}
}

static int
register_families(struct monitor *m)
{
	const char *build_v[4];
	char jv[32];
	int r;

	if ((r = metrics_register(m->metrics, monitor_specs,
	    ELEMENTSOF(monitor_specs), &m->fam)) < 0)
		return r;
	snprintf(jv, sizeof(jv), "%s", jansson_version_str());
	build_v[0] = KCM_VERSION;
	build_v[1] = curl_version_info(CURLVERSION_NOW)->version;
	build_v[2] = event_get_version();
	build_v[3] = jv;
	metrics_set(m->fam.config_reload_ok, NULL, 1);
	metrics_set(m->fam.config_reload_time, NULL, realtime_seconds());
	metrics_add(m->fam.log_dropped, NULL, 0);
	return metrics_set(m->fam.build_info, build_v, 1);
}

/*
 * Builds the checks of cfg into a new set and swaps it in: parse, build,
 * carry, swap.  On failure nothing changes.
 */
static int
build(struct monitor *m, const struct kcm_config *cfg)
{
	struct engine_build *b;
	struct check **inv, *c;
	const char *state_dir;
	size_t i;

	/* --once neither reads nor writes state. */
	state_dir = m->once ? NULL : state_directory(cfg->state_directory);

	inv = calloc(cfg->ntargets > 0 ? cfg->ntargets : 1, sizeof(*inv));
	if (inv == NULL || (b = engine_build_begin(m->engine)) == NULL) {
		free(inv);
		return -ENOMEM;
	}
	for (i = 0; i < cfg->ntargets; i++) {
		const struct target_config *t = &cfg->targets[i];

		if (engine_build_target(b, t->name, t->max_parallel_requests) < 0 ||
		    (inv[i] = inventory_add(b, m->metrics, t)) == NULL)
			goto fail;
		if (t->elasticsearch.url != NULL &&
		    eventlog_add(b, m->metrics, t, inv[i], state_dir) == NULL)
			goto fail;
	}
	for (i = 0; i < (m->no_probes ? 0 : cfg->nprobes); i++) {
		const struct probe_config *p = &cfg->probes[i];

		if (p->target_index >= cfg->ntargets)
			goto fail;
		c = probe_add(b, m->metrics, p, &cfg->targets[p->target_index],
		    inv[p->target_index]);
		if (c == NULL)
			goto fail;
	}
	engine_build_commit(b);
	free(m->inventories);
	m->inventories = inv;
	m->ninventories = cfg->ntargets;
	m->cfg = cfg;
	return 0;
fail:
	engine_build_abort(b);
	free(inv);
	return -ENOMEM;
}

struct monitor *
monitor_new(struct event_base *base, const struct kcm_config *cfg, bool once,
    bool no_probes)
{
	struct monitor *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->base = base;
	m->once = once;
	m->no_probes = no_probes;
	if ((m->metrics = metrics_new()) == NULL ||
	    (m->http = http_client_new(base)) == NULL ||
	    register_families(m) < 0 ||
	    (m->engine = engine_new(base, m->http, m->metrics, NULL, once,
	    published, m)) == NULL ||
	    build(m, cfg) < 0 || publish(m) < 0) {
		monitor_free(m);
		return NULL;
	}
	return m;
}

void
monitor_free(struct monitor *m)
{
	if (m == NULL)
		return;
	job_free(m->job);	/* before the registry it renders */
	engine_free(m->engine);
	http_client_free(m->http);
	metrics_free(m->metrics);
	body_unref(m->body);
	body_unref(m->status_html);
	body_unref(m->status_json);
	free(m->inventories);
	free(m);
}

int
monitor_start(struct monitor *m)
{
	return engine_start(m->engine);
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
monitor_reload(struct monitor *m, const struct kcm_config *cfg)
{
	const struct kcm_config *old = m->cfg;
	char **gone;
	size_t i, ngone = 0;
	int r;

	/* Names of targets that go, copied: the old configuration may go first. */
	gone = calloc(old->ntargets > 0 ? old->ntargets : 1, sizeof(*gone));
	if (gone == NULL) {
		monitor_reload_rejected(m);
		return -ENOMEM;
	}
	for (i = 0; i < old->ntargets; i++)
		if (!cfg_has_target(cfg, old->targets[i].name) &&
		    (gone[ngone++] = strdup(old->targets[i].name)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
	if ((r = build(m, cfg)) < 0)
		goto out;
	/* The new configuration runs: every series of a removed target goes. */
	for (i = 0; i < ngone; i++)
		metrics_remove_label(m->metrics, "target", gone[i]);
	metrics_set(m->fam.config_reload_ok, NULL, 1);
	metrics_set(m->fam.config_reload_time, NULL, realtime_seconds());
	if (publish(m) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
out:
	for (i = 0; i < ngone; i++)
		free(gone[i]);
	free(gone);
	if (r < 0)
		monitor_reload_rejected(m);
	return r;
}

void
monitor_reload_rejected(struct monitor *m)
{
	metrics_set(m->fam.config_reload_ok, NULL, 0);
	if (publish(m) < 0)
		log_error("out of memory rendering metrics; serving the previous rendering");
}

void
monitor_status(const struct monitor *m, char *buf, size_t size)
{
	struct inventory_summary s;
	size_t i, n = m->ninventories, conns = 0, failing = 0;
	double last = 0, now = realtime_seconds();

	for (i = 0; i < n; i++) {
		inventory_summary(check_impl(m->inventories[i]), &s);
		conns += s.connectors;
		failing += s.failing;
		if (check_last_ok(m->inventories[i]) > last)
			last = check_last_ok(m->inventories[i]);
	}
	if (last > 0)
		snprintf(buf, size, "%zu target%s, %zu connectors, %zu failing, last successful poll %.0fs ago",
		    n, n == 1 ? "" : "s", conns, failing,
		    now > last ? now - last : 0.0);
	else
		snprintf(buf, size, "%zu target%s, %zu connectors, %zu failing, no successful poll yet",
		    n, n == 1 ? "" : "s", conns, failing);
}

bool
monitor_any_failed(const struct monitor *m)
{
	return engine_any_failed(m->engine);
}

static void
body_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	body_unref(arg);
}

static void
owned_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	free(arg);
}

/*
 * Hands sb's text to out (sb is emptied).  Not evbuffer_add(): after a
 * reference to a rendering libevent sizes a new chain like the last one,
 * so a kilobyte of process_* lines cost a 128 KiB (gzip) or 4 MiB (plain)
 * allocation per scrape, and the heap grew and shrank with every one.
 */
static int
add_owned(struct evbuffer *out, struct strbuf *sb)
{
	size_t len = sb->len;
	char *data;

	if (strbuf_failed(sb))
		return -ENOMEM;
	if (len == 0)
		return 0;
	if ((data = strbuf_steal(sb)) == NULL)
		return -ENOMEM;
	if (evbuffer_add_reference(out, data, len, owned_cleanup, data) < 0) {
		free(data);
		return -ENOMEM;
	}
	return 0;
}

int
monitor_write_metrics(void *arg, struct evbuffer *out)
{
	struct monitor *m = arg;
	struct strbuf sb;
	int r = 0;

	if (m->body != NULL && m->body->len > 0) {
		/* Zero-copy: the buffer holds a reference until it is sent. */
		m->body->refs++;
		if (evbuffer_add_reference(out, m->body->data, m->body->len,
		    body_cleanup, m->body) < 0) {
			m->body->refs--;
			return -ENOMEM;
		}
	}
	strbuf_init(&sb);
	process_metrics_render(&sb);
	r = add_owned(out, &sb);
	strbuf_free(&sb);
	return r;
}

/* b->data as raw deflate ended with a sync flush, once per rendering. */
static int
body_deflate(struct body *b)
{
	z_stream zs;
	unsigned char *z, *shrunk;
	size_t cap;
	int r;

	/* zlib counts in uInt: one call takes at most 4 GiB (never seen). */
	if (b->len > UINT_MAX / 2)
		return -E2BIG;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, MONITOR_GZIP_LEVEL, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	/* deflateBound() covers Z_FINISH; a sync flush adds at most 5+. */
	cap = deflateBound(&zs, (uLong)b->len) + 16;
	if ((z = malloc(cap)) == NULL) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)b->data;
	zs.avail_in = (uInt)b->len;
	zs.next_out = z;
	zs.avail_out = (uInt)cap;
	r = deflate(&zs, Z_SYNC_FLUSH);
	if (r != Z_OK || zs.avail_in != 0 || zs.avail_out == 0) {
		deflateEnd(&zs);
		free(z);
		return -ENOMEM;
	}
	b->zlen = cap - zs.avail_out;
	deflateEnd(&zs);
	if ((shrunk = realloc(z, b->zlen > 0 ? b->zlen : 1)) != NULL)
		z = shrunk;
	b->z = z;
	b->crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)b->data,
	    (uInt)b->len);
	return 0;
}

/*
 * The process_* tail as the stream's final deflate blocks, stored (RFC
 * 1951 3.2.4: BTYPE 00, no compression).  The cached body ends byte-
 * aligned (Z_SYNC_FLUSH), so each block is a byte 0 or 1 (BFINAL), LEN
 * and NLEN, then the bytes.  A kilobyte sent as it is costs a few hundred
 * bytes on the wire and no compressor per scrape: compressing it was half
 * of a gzip scrape's CPU (README "Performance").
 */
static void
tail_stored(const char *data, size_t len, struct strbuf *out)
{
	unsigned char hdr[5];
	size_t n;

	do {
		n = len < 65535 ? len : 65535;
		hdr[0] = n == len ? 1 : 0;
		hdr[1] = n & 0xff;
		hdr[2] = (n >> 8) & 0xff;
		hdr[3] = ~n & 0xff;
		hdr[4] = (~n >> 8) & 0xff;
		strbuf_append(out, hdr, sizeof(hdr));
		strbuf_append(out, data, n);
		data += n;
		len -= n;
	} while (len > 0);
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

/*
 * One gzip member (RFC 1952) from the cached deflated rendering and a
 * fresh tail (the pigz technique): header, the body's deflate blocks by
 * reference, the tail's final blocks, and a trailer whose CRC32 is
 * crc32_combine(crc(body), crc(tail), len(tail)).
 */
int
monitor_write_metrics_gzip(void *arg, struct evbuffer *out)
{
	static const unsigned char header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0,
	    0, 3 };
	struct monitor *m = arg;
	struct body *b = m->body;
	unsigned char trailer[8];
	struct strbuf sb, tail;
	uint32_t crc, tcrc;
	size_t total;
	int r = -ENOMEM;

	strbuf_init(&sb);
	strbuf_init(&tail);
	process_metrics_render(&sb);
	if (strbuf_failed(&sb))
		goto out;
	if (b != NULL && b->len > 0 && b->z == NULL &&
	    (r = body_deflate(b)) < 0)
		goto out;
	r = -ENOMEM;
	if (evbuffer_add(out, header, sizeof(header)) < 0)
		goto out;
	crc = crc32(0L, Z_NULL, 0);
	total = 0;
	if (b != NULL && b->len > 0) {
		b->refs++;
		if (evbuffer_add_reference(out, b->z, b->zlen, body_cleanup, b) < 0) {
			b->refs--;
			goto out;
		}
		crc = b->crc;
		total = b->len;
	}
	tail_stored(strbuf_str(&sb), sb.len, &tail);
	tcrc = (uint32_t)crc32(crc32(0L, Z_NULL, 0),
	    (const Bytef *)strbuf_str(&sb), (uInt)sb.len);
	crc = total > 0 ? (uint32_t)crc32_combine(crc, tcrc, (z_off_t)sb.len) :
	    tcrc;
	total += sb.len;
	put_le32(trailer, crc);
	put_le32(trailer + 4, (uint32_t)(total & 0xffffffffu));
	strbuf_append(&tail, trailer, sizeof(trailer));
	r = add_owned(out, &tail);
out:
	strbuf_free(&sb);
	strbuf_free(&tail);
	return r;
}

/* Every target's first inventory is done and in the served rendering. */
bool
monitor_ready(void *arg)
{
	const struct monitor *m = arg;

	return m->body_ready && all_inventories_run(m);
}

int
monitor_render_all(struct monitor *m, struct strbuf *out)
{
	if (m->body != NULL)
		strbuf_append(out, m->body->data, m->body->len);
	process_metrics_render(out);
	return strbuf_failed(out) ? -ENOMEM : 0;
}

/* The status model of the running checks, built now (memory only). */
static struct status *
status_build(struct monitor *m)
{
	struct status *st = status_new();

	if (st == NULL)
		return NULL;
	engine_status(m->engine, st);
	if (status_finish(st) < 0) {
		status_free(st);
		return NULL;
	}
	return st;
}

/*
 * The page is built (memory only, a few tens of milliseconds for ten
 * thousand connectors) at most once per publish and format: requests in
 * between share the rendering, so a burst of them costs no more.
 */
int
monitor_write_status(void *arg, bool json, struct evbuffer *out,
    const char **csp)
{
	struct monitor *m = arg;
	struct body **cache = json ? &m->status_json : &m->status_html, *b = NULL;
	struct status *st;
	struct strbuf sb;
	int r;

	if (*cache == NULL) {
		if ((st = status_build(m)) == NULL)
			return -ENOMEM;
		strbuf_init(&sb);
		r = json ? status_render_json(st, &sb) : status_render_html(st, &sb);
		status_free(st);
		if (r == 0 && strbuf_failed(&sb))
			r = -ENOMEM;
		if (r == 0 && (b = body_take(&sb)) == NULL)
			r = -ENOMEM;
		strbuf_free(&sb);
		if (r < 0)
			return r;
		*cache = b;
	}
	b = *cache;
	b->refs++;
	if (evbuffer_add_reference(out, b->data, b->len, body_cleanup, b) < 0) {
		b->refs--;
		return -ENOMEM;
	}
	if (csp != NULL)
		*csp = json ? NULL : status_csp();
	return 0;
}

int
monitor_render_status_text(struct monitor *m, struct strbuf *out)
{
	struct status *st;
	int r;

	if ((st = status_build(m)) == NULL)
		return -ENOMEM;
	r = status_render_text(st, out);
	status_free(st);
	return r;
}
