/*
 * status.h: the operator's status page (issue 10).  One model, a jansson
 * document built on request from what the running checks remember (the
 * engine walks them, engine_status()), and three renderers: JSON (GET
 * /status.json), HTML (GET /) and text (--once --format=text).
 *
 * Every string in the model may come from Kibana or Elasticsearch and is
 * hostile: the HTML renderer escapes every one of them (text and attribute
 * context alike), the text renderer escapes control characters so a name
 * cannot move the cursor or forge a line, and the JSON renderer relies on
 * jansson's escaping.  Secrets are never put into the model.
 *
 * The document (schema 1, README "Status page"):
 *   { "schema": 1, "version": "...", "generated": <epoch s>,
 *     "targets": [ { "name", "apis": [...], "event_log": {...},
 *       "connectors_total", "failing_connectors": [...], "failing_total",
 *       "connectors": [...], "connectors_omitted", "probes": [...],
 *       "rules_missing_connectors": [...], "rules_missing_connectors_total",
 *       "connectors_missing_secrets": [...], "connectors_missing_secrets_total",
 *       "unavailable_connector_types": [...] } ] }
 */
#ifndef KCM_STATUS_H
#define KCM_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct strbuf;
struct status;

#define STATUS_SCHEMA		1
/* Rules listed per failing connector (rules_total counts them all). */
#define STATUS_RULES_MAX	20
/* Connectors listed per target besides the failing ones (the rest: a count). */
#define STATUS_CONNECTORS_MAX	500
/* Failing connectors listed per target (the rest: failing_total). */
#define STATUS_FAILING_MAX	500
/* Entries of the other per-target lists (missing connectors, secrets, ...). */
#define STATUS_LIST_MAX		500
/* Bytes kept of an error text or a probe message (cut on a UTF-8 boundary). */
#define STATUS_TEXT_MAX		1024

struct status *status_new(void);
void	 status_free(struct status *st);	/* NULL-safe */

/* ---- building (the checks and the engine) ----------------------------- */

/*
 * The target's object, created on first use (targets keep the order of
 * their first use).  NULL only when out of memory; every json_object_set_new
 * with a NULL value fails harmlessly, so callers need not check.
 */
json_t	*status_target(struct status *st, const char *target);
/*
 * A connector's entry of a target (space "*" = preconfigured), created on
 * first use.  Fields the checks set: "name", "type", "preconfigured" (the
 * inventory), "failures_1h", "timeouts_1h", "last_failure" {"time",
 * "error"} (the event log); "rules" is filled with status_connector_rule().
 */
json_t	*status_connector(struct status *st, const char *target,
	    const char *space, const char *id);
/* The entry if some check created it, else NULL. */
json_t	*status_connector_find(struct status *st, const char *target,
	    const char *space, const char *id);
/* Notes that rule (id, name, space) uses the connector (bounded list). */
void	 status_connector_rule(json_t *conn, const char *space,
	    const char *rule_id, const char *rule_name);
/* Appends item to the target's list `key`, at most STATUS_LIST_MAX of them;
 * key_total counts every one.  Steals item. */
void	 status_list_add(json_t *target, const char *key, json_t *item);

/*
 * A JSON string from a C string, invalid UTF-8 replaced by U+FFFD and cut
 * to max bytes (0: no limit) on a code-point boundary.  s NULL: JSON null.
 */
json_t	*status_str(const char *s, size_t max);
/* A time (epoch seconds) or JSON null when t <= 0. */
json_t	*status_time(double t);

/*
 * Turns the connector map into the per-target lists: failing connectors
 * (failures or timeouts in the last hour) first, most failures first, at
 * most STATUS_FAILING_MAX; then the others by space and name, at most
 * STATUS_CONNECTORS_MAX, the rest counted in connectors_omitted.
 */
int	 status_finish(struct status *st);

/* ---- rendering --------------------------------------------------------- */

const json_t *status_json(const struct status *st);
int	 status_render_json(const struct status *st, struct strbuf *out);
int	 status_render_html(const struct status *st, struct strbuf *out);
int	 status_render_text(const struct status *st, struct strbuf *out);

/* The page's Content-Security-Policy: only its one inline <style> block. */
const char *status_csp(void);
/* That <style> block's content (what the CSP hash covers). */
const char *status_style(void);

/*
 * Appends s with & < > " ' as character references (safe in text and in
 * quoted attributes) and control characters (C0 but tab, newline and
 * carriage return; DEL; C1) as U+FFFD.
 */
int	 status_html_escape(struct strbuf *out, const char *s);
/*
 * Appends s for a terminal: C0 and C1 controls and DEL as \n, \t, \r, \\
 * or \xNN / \u{NN}, so a name can neither forge a line nor send an escape
 * sequence; also U+2028/U+2029 and the bidi controls as \u{NNNN}; backslash
 * doubled.  Valid UTF-8 expected (the model is).
 */
int	 status_text_escape(struct strbuf *out, const char *s);

#endif /* KCM_STATUS_H */
