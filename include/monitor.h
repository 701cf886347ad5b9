/*
 * monitor.h: the daemon's composition root.  It builds the checks of a
 * configuration (one inventory per target, an event-log check per target
 * with elasticsearch.url, one check per probe) into the engine, owns the
 * metric registry and the rendered exposition, and carries the running
 * checks across a reload.  main.c owns it.
 */
#ifndef KCM_MONITOR_H
#define KCM_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct kcm_config;
struct monitor;
struct strbuf;

/*
 * cfg is borrowed until monitor_reload() replaces it.  no_probes: the
 * configured probes are left out (--no-probes), also after reloads.
 */
struct monitor *monitor_new(struct event_base *base,
	    const struct kcm_config *cfg, bool once, bool no_probes);
void	 monitor_free(struct monitor *m);	/* NULL-safe */

/* Starts every check (first inventory polls run at once). */
int	 monitor_start(struct monitor *m);

/*
 * Configuration reload: build the checks of cfg, carry the unchanged ones
 * (engine.h), swap.  Series of targets cfg no longer has vanish.  On
 * failure (-ENOMEM) the running set and configuration stay.  Sets the
 * config_last_reload_* metrics either way.
 */
int	 monitor_reload(struct monitor *m, const struct kcm_config *cfg);
/* A reload was rejected before it reached the monitor (parse errors). */
void	 monitor_reload_rejected(struct monitor *m);

/* The short STATUS= line: targets, connectors, failing, last good poll. */
void	 monitor_status(const struct monitor *m, char *buf, size_t size);
/* --once: a request failed. */
bool	 monitor_any_failed(const struct monitor *m);

/* Appends the current rendering plus fresh process_* metrics. */
int	 monitor_write_metrics(void *m, struct evbuffer *out);
/*
 * The same as one gzip member: the rendering compressed once (cached with
 * it), the process_* tail compressed per call.
 */
int	 monitor_write_metrics_gzip(void *m, struct evbuffer *out);
/* GET /-/ready: every target's inventory has finished its first run. */
bool	 monitor_ready(void *m);
/* The same into a strbuf (--once). */
int	 monitor_render_all(struct monitor *m, struct strbuf *out);

/*
 * GET / (json false: HTML, *csp its Content-Security-Policy) and GET
 * /status.json (json true): the status page (status.h) of the running
 * checks, built from memory on the first request after a publish and
 * shared until the next one; never waits on Kibana.
 */
int	 monitor_write_status(void *m, bool json, struct evbuffer *out,
	    const char **csp);
/* --once --format=text: the same content as text for a terminal. */
int	 monitor_render_status_text(struct monitor *m, struct strbuf *out);

#endif /* KCM_MONITOR_H */
