/*
 * status.c: the status model (a jansson document) and its three renderers.
 *
 * Building: the engine walks the running checks (engine_status()); each
 * check adds what it remembers.  Connectors are collected per target in a
 * map keyed by (space, id), because the inventory knows names, types and
 * rules while the event log knows failures; status_finish() turns the map
 * into the bounded, ordered lists the renderers show.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "status.h"
#include "util.h"

struct status {
	json_t	*root;
	json_t	*targets;	/* borrowed from root: the "targets" array */
	json_t	*by_name;	/* target name -> its object */
	json_t	*conns;		/* target name -> { "space\037id" -> entry } */
};

/*
 * The page's only style.  Its SHA-256 (base64) is in the CSP below;
 * tests/unit/test_status.c recomputes it, so a change to one without the
 * other fails the build's tests.
 */
static const char style[] =
    "body{font:14px/1.4 sans-serif;margin:1em 2em;color:#222}"
    "h1{font-size:1.5em}h2{margin-top:1.5em;border-bottom:1px solid #ccc}"
    "h3{font-size:1.05em;margin-bottom:.3em}"
    "table{border-collapse:collapse;margin:.3em 0 1em}"
    "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}.bad{color:#a40000;font-weight:bold}"
    ".ok{color:#1a7f37}.muted{color:#666}.err{white-space:pre-wrap;max-width:40em}"
    ".err,.name{overflow-wrap:anywhere;min-width:14em}.summary{font-size:1.1em}"
    ".t{white-space:nowrap}";

#define STYLE_SHA256 "9pRUwXaqdZcg3fTl+xrY9yFylHMAxmt75PgfbOYOGpc="

static const char csp[] =
    "default-src 'none'; style-src 'sha256-" STYLE_SHA256 "'; "
    "img-src 'none'; script-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

const char *
status_csp(void)
{
	return csp;
}

const char *
status_style(void)
{
	return style;
}

/* ---- building ------------------------------------------------------------ */

struct status *
status_new(void)
{
	struct status *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->root = json_object();
	st->targets = json_array();
	st->by_name = json_object();
	st->conns = json_object();
	if (st->root == NULL || st->targets == NULL || st->by_name == NULL ||
	    st->conns == NULL ||
	    json_object_set_new(st->root, "schema", json_integer(STATUS_SCHEMA)) < 0 ||
	    json_object_set_new(st->root, "version", json_string(KCM_VERSION)) < 0 ||
	    json_object_set_new(st->root, "generated",
	    json_real(floor(realtime_seconds()))) < 0 ||
	    json_object_set(st->root, "targets", st->targets) < 0) {
		status_free(st);
		return NULL;
	}
	return st;
}

void
status_free(struct status *st)
{
	if (st == NULL)
		return;
	json_decref(st->root);
	json_decref(st->targets);
	json_decref(st->by_name);
	json_decref(st->conns);
	free(st);
}

json_t *
status_str(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	struct strbuf sb;
	size_t len, n, skip;
	json_t *j;

	if (s == NULL)
		return json_null();
	len = strlen(s);
	strbuf_init(&sb);
	while (len > 0) {
		if ((n = utf8_sequence(p, len, &skip)) == 0) {
			if (max > 0 && sb.len + 3 > max)
				goto cut;
			strbuf_puts(&sb, "\xef\xbf\xbd");	/* U+FFFD */
			p += skip;
			len -= skip;
			continue;
		}
		if (max > 0 && sb.len + n > max)
			goto cut;
		strbuf_append(&sb, p, n);
		p += n;
		len -= n;
	}
	goto done;
cut:
	strbuf_puts(&sb, "\xe2\x80\xa6");	/* U+2026: cut here */
done:
	if (strbuf_failed(&sb)) {
		strbuf_free(&sb);
		return NULL;
	}
	j = json_stringn(strbuf_str(&sb), sb.len);
	strbuf_free(&sb);
	return j;
}

json_t *
status_time(double t)
{
	if (!(t > 0) || !isfinite(t))
		return json_null();
	return json_real(t);
}

static json_t *
new_target(const char *name)
{
	json_t *t = json_object(), *el = json_object();

	if (t == NULL || el == NULL) {
		json_decref(t);
		json_decref(el);
		return NULL;
	}
	if (json_object_set_new(t, "event_log", el) < 0 ||	/* takes el */
	    json_object_set_new(el, "configured", json_false()) < 0 ||
	    json_object_set_new(t, "name", status_str(name, 0)) < 0 ||
	    json_object_set_new(t, "apis", json_array()) < 0 ||
	    json_object_set_new(t, "connectors_total", json_integer(0)) < 0 ||
	    json_object_set_new(t, "failing_connectors", json_array()) < 0 ||
	    json_object_set_new(t, "failing_total", json_integer(0)) < 0 ||
	    json_object_set_new(t, "connectors", json_array()) < 0 ||
	    json_object_set_new(t, "connectors_omitted", json_integer(0)) < 0 ||
	    json_object_set_new(t, "probes", json_array()) < 0 ||
	    json_object_set_new(t, "probes_total", json_integer(0)) < 0 ||
	    json_object_set_new(t, "rules_missing_connectors", json_array()) < 0 ||
	    json_object_set_new(t, "rules_missing_connectors_total", json_integer(0)) < 0 ||
	    json_object_set_new(t, "connectors_missing_secrets", json_array()) < 0 ||
	    json_object_set_new(t, "connectors_missing_secrets_total", json_integer(0)) < 0 ||
	    json_object_set_new(t, "unavailable_connector_types", json_array()) < 0 ||
	    json_object_set_new(t, "unavailable_connector_types_total", json_integer(0)) < 0) {
		json_decref(t);
		return NULL;
	}
	return t;
}

json_t *
status_target(struct status *st, const char *target)
{
	json_t *t, *m;

	if (target == NULL)
		return NULL;
	if ((t = json_object_get(st->by_name, target)) != NULL)
		return t;
	if ((t = new_target(target)) == NULL)
		return NULL;
	m = json_object();
	if (m == NULL || json_object_set_new_nocheck(st->conns, target, m) < 0) {
		json_decref(t);
		return NULL;
	}
	if (json_object_set_nocheck(st->by_name, target, t) < 0 ||
	    json_array_append(st->targets, t) < 0) {
		json_object_del(st->conns, target);
		json_object_del(st->by_name, target);
		json_decref(t);
		return NULL;
	}
	json_decref(t);	/* by_name and targets hold it */
	return t;
}

json_t *
status_connector(struct status *st, const char *target, const char *space,
    const char *id)
{
	json_t *map, *c;
	struct strbuf key;

	if (space == NULL || id == NULL || status_target(st, target) == NULL ||
	    (map = json_object_get(st->conns, target)) == NULL)
		return NULL;
	strbuf_init(&key);
	strbuf_printf(&key, "%s\037%s", space, id);
	if (strbuf_failed(&key))
		return NULL;
	if ((c = json_object_get(map, strbuf_str(&key))) != NULL) {
		strbuf_free(&key);
		return c;
	}
	c = json_object();
	if (c == NULL ||
	    json_object_set_new(c, "space", status_str(space, 0)) < 0 ||
	    json_object_set_new(c, "id", status_str(id, 0)) < 0 ||
	    json_object_set_new(c, "name", json_null()) < 0 ||
	    json_object_set_new(c, "type", json_null()) < 0 ||
	    json_object_set_new(c, "listed", json_false()) < 0 ||
	    json_object_set_new(c, "failures_1h", json_integer(0)) < 0 ||
	    json_object_set_new(c, "timeouts_1h", json_integer(0)) < 0 ||
	    json_object_set_new(c, "last_failure", json_null()) < 0 ||
	    json_object_set_new(c, "rules", json_array()) < 0 ||
	    json_object_set_new(c, "rules_total", json_integer(0)) < 0) {
		json_decref(c);
		strbuf_free(&key);
		return NULL;
	}
	/* set_new takes c, also when it fails. */
	if (json_object_set_new_nocheck(map, strbuf_str(&key), c) < 0)
		c = NULL;
	strbuf_free(&key);
	return c;
}

json_t *
status_connector_find(struct status *st, const char *target, const char *space,
    const char *id)
{
	json_t *map, *c;
	struct strbuf key;

	if (target == NULL || space == NULL || id == NULL ||
	    (map = json_object_get(st->conns, target)) == NULL)
		return NULL;
	strbuf_init(&key);
	strbuf_printf(&key, "%s\037%s", space, id);
	c = strbuf_failed(&key) ? NULL : json_object_get(map, strbuf_str(&key));
	strbuf_free(&key);
	return c;
}

static void
count_up(json_t *obj, const char *key)
{
	json_t *n = json_object_get(obj, key);

	json_object_set_new(obj, key,
	    json_integer((n != NULL ? json_integer_value(n) : 0) + 1));
}

void
status_connector_rule(json_t *conn, const char *space, const char *rule_id,
    const char *rule_name)
{
	json_t *rules, *r;

	if (conn == NULL)
		return;
	count_up(conn, "rules_total");
	rules = json_object_get(conn, "rules");
	if (rules == NULL || json_array_size(rules) >= STATUS_RULES_MAX)
		return;
	if ((r = json_object()) == NULL)
		return;
	json_object_set_new(r, "space", status_str(space, 0));
	json_object_set_new(r, "id", status_str(rule_id, 0));
	json_object_set_new(r, "name", status_str(rule_name, 0));
	json_array_append_new(rules, r);
}

void
status_list_add(json_t *target, const char *key, json_t *item)
{
	json_t *a;
	char total[64];

	if (target == NULL || (a = json_object_get(target, key)) == NULL) {
		json_decref(item);
		return;
	}
	snprintf(total, sizeof(total), "%s_total", key);
	count_up(target, total);
	if (item == NULL || json_array_size(a) >= STATUS_LIST_MAX) {
		json_decref(item);
		return;
	}
	json_array_append_new(a, item);
}

static json_int_t
int_of(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *
str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static json_int_t
failed_1h(const json_t *c)
{
	return int_of(c, "failures_1h") + int_of(c, "timeouts_1h");
}

/* A connector with its sort key, read once (not in every comparison). */
struct conn_key {
	json_t		*c;
	json_int_t	 failed;
	const char	*space, *name, *id;
};

static int
strcmp_null(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

/* Failing first (most failures first), then by space, name, id. */
static int
cmp_conn(const void *a, const void *b)
{
	const struct conn_key *x = a, *y = b;
	int r;

	if ((x->failed > 0) != (y->failed > 0))
		return x->failed > 0 ? -1 : 1;
	if (x->failed != y->failed)
		return x->failed > y->failed ? -1 : 1;
	if ((r = strcmp_null(x->space, y->space)) != 0)
		return r;
	if ((r = strcmp_null(x->name, y->name)) != 0)
		return r;
	return strcmp_null(x->id, y->id);
}

static int
finish_target(json_t *t, json_t *map)
{
	const char *key;
	json_t *c, *failing, *others;
	struct conn_key *v;
	size_t n = 0, i, nfail = 0, nother = 0;

	failing = json_object_get(t, "failing_connectors");
	others = json_object_get(t, "connectors");
	if (failing == NULL || others == NULL)
		return -ENOMEM;
	v = calloc(json_object_size(map) + 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	json_object_foreach(map, key, c) {
		v[n].c = c;
		v[n].failed = failed_1h(c);
		v[n].space = str_of(c, "space");
		v[n].name = str_of(c, "name");
		v[n].id = str_of(c, "id");
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_conn);
	for (i = 0; i < n; i++) {
		if (v[i].failed > 0) {
			if (nfail++ < STATUS_FAILING_MAX)
				json_array_append(failing, v[i].c);
			continue;
		}
		if (nother++ < STATUS_CONNECTORS_MAX) {
			/* Rules only where they matter: next to a failure. */
			json_object_del(v[i].c, "rules");
			json_array_append(others, v[i].c);
		}
	}
	json_object_set_new(t, "connectors_total", json_integer((json_int_t)n));
	json_object_set_new(t, "failing_total", json_integer((json_int_t)nfail));
	json_object_set_new(t, "connectors_omitted", json_integer(
	    (json_int_t)(nother > STATUS_CONNECTORS_MAX ?
	    nother - STATUS_CONNECTORS_MAX : 0)));
	free(v);
	return 0;
}

int
status_finish(struct status *st)
{
	const char *name;
	json_t *t;
	int r = 0;

	json_object_foreach(st->by_name, name, t) {
		json_t *map = json_object_get(st->conns, name);

		if (map != NULL && finish_target(t, map) < 0)
			r = -ENOMEM;
	}
	json_object_clear(st->conns);
	return r;
}

const json_t *
status_json(const struct status *st)
{
	return st->root;
}

/* ---- rendering: JSON ----------------------------------------------------- */

int
status_render_json(const struct status *st, struct strbuf *out)
{
	char *s = json_dumps(st->root, JSON_INDENT(1) | JSON_REAL_PRECISION(15));

	if (s == NULL)
		return -ENOMEM;
	strbuf_puts(out, s);
	strbuf_putc(out, '\n');
	free(s);
	return strbuf_failed(out) ? -ENOMEM : 0;
}

/* ---- escaping ------------------------------------------------------------ */

int
status_html_escape(struct strbuf *out, const char *s)
{
	const unsigned char *p, *run;

	if (s == NULL)
		return 0;
	for (p = run = (const unsigned char *)s; *p != '\0'; p++) {
		const char *ent;
		size_t skip = 1;

		switch (*p) {
		case '&':	ent = "&amp;"; break;
		case '<':	ent = "&lt;"; break;
		case '>':	ent = "&gt;"; break;
		case '"':	ent = "&quot;"; break;
		case '\'':	ent = "&#39;"; break;
		case '\t':
		case '\n':
		case '\r':	continue;
		default:
			/*
			 * Controls (C0, DEL, C1) are parse errors in HTML and
			 * mean nothing on a page: U+FFFD shows one was there.
			 */
			if (*p < 0x20 || *p == 0x7f)
				ent = "\xef\xbf\xbd";
			else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
				ent = "\xef\xbf\xbd";
				skip = 2;
			} else
				continue;
			break;
		}
		strbuf_append(out, run, (size_t)(p - run));
		strbuf_puts(out, ent);
		p += skip - 1;
		run = p + 1;
	}
	strbuf_append(out, run, (size_t)(p - run));
	return strbuf_failed(out) ? -ENOMEM : 0;
}

int
status_text_escape(struct strbuf *out, const char *s)
{
	const unsigned char *p;

	if (s == NULL)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '\n':	strbuf_puts(out, "\\n"); continue;
		case '\r':	strbuf_puts(out, "\\r"); continue;
		case '\t':	strbuf_puts(out, "\\t"); continue;
		case '\\':	strbuf_puts(out, "\\\\"); continue;
		default:	break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			strbuf_printf(out, "\\x%02x", *p);
			continue;
		}
		/* C1 controls U+0080..U+009F (0xc2 0x80..0x9f): CSI is one. */
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			strbuf_printf(out, "\\u{%02x}", p[1]);
			p++;
			continue;
		}
		/*
		 * Line and paragraph separators (U+2028, U+2029) and the bidi
		 * embeddings, overrides and isolates (U+202A..U+202E,
		 * U+2066..U+2069) that could make a name look like other text.
		 */
		if (*p == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xa8 && p[2] <= 0xae) ||
		    (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
			strbuf_printf(out, "\\u{%x}",
			    0x2000 + ((p[1] & 0x3f) << 6) + (p[2] & 0x3f));
			p += 2;
			continue;
		}
		strbuf_putc(out, (char)*p);
	}
	return strbuf_failed(out) ? -ENOMEM : 0;
}

/* ---- rendering: shared helpers ------------------------------------------- */

static void
fmt_time(const json_t *v, char *buf, size_t size, const char *none)
{
	double t = json_is_number(v) ? json_number_value(v) : 0;
	time_t tt;
	struct tm tm;

	if (!(t > 0) || !isfinite(t) || t > 253402300799.0 ||
	    (tt = (time_t)t, gmtime_r(&tt, &tm)) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "%s", none);
}

/* Up to STATUS_RULES_MAX rules, then "and N more". */
static size_t
rules_more(const json_t *c)
{
	json_int_t total = int_of(c, "rules_total");
	size_t shown = json_array_size(json_object_get(c, "rules"));

	return total > (json_int_t)shown ? (size_t)total - shown : 0;
}

/* ---- rendering: HTML ----------------------------------------------------- */

static void
h(struct strbuf *o, const char *s)
{
	status_html_escape(o, s);
}

/* A string value, or `none` (trusted) for null. */
static void
hv(struct strbuf *o, const json_t *v, const char *none)
{
	if (json_is_string(v))
		h(o, json_string_value(v));
	else
		strbuf_puts(o, none);
}

static void
ht(struct strbuf *o, const json_t *v, const char *none)
{
	char buf[64];

	fmt_time(v, buf, sizeof(buf), none);
	strbuf_puts(o, "<span class=\"t\">");
	h(o, buf);
	strbuf_puts(o, "</span>");
}

/* Name in a cell, the id in its title attribute (escaped there too). */
static void
h_name_cell(struct strbuf *o, const json_t *c)
{
	strbuf_puts(o, "<td class=\"name\" title=\"");
	hv(o, json_object_get(c, "id"), "");
	strbuf_puts(o, "\">");
	hv(o, json_object_get(c, "name"), "<span class=\"muted\">(no name)</span>");
	strbuf_puts(o, "<br><span class=\"muted\">");
	hv(o, json_object_get(c, "id"), "");
	strbuf_puts(o, "</span>");
	if (!json_is_true(json_object_get(c, "listed")))
		strbuf_puts(o, "<br><span class=\"bad\">not in the inventory</span>");
	strbuf_puts(o, "</td>");
}

static void
h_count_note(struct strbuf *o, const json_t *t, const char *key,
    const char *total_key)
{
	json_int_t total = int_of(t, total_key);
	size_t shown = json_array_size(json_object_get(t, key));

	if (total > (json_int_t)shown)
		strbuf_printf(o, "<p class=\"muted\">and %lld more (not listed)</p>\n",
		    (long long)(total - (json_int_t)shown));
}

static void
h_apis(struct strbuf *o, const json_t *t)
{
	const json_t *apis = json_object_get(t, "apis"), *a;
	size_t i;

	strbuf_puts(o, "<h3>Kibana and Elasticsearch APIs</h3>\n");
	if (json_array_size(apis) == 0) {
		strbuf_puts(o, "<p class=\"muted\">No request answered yet.</p>\n");
		return;
	}
	strbuf_puts(o, "<table><tr><th>API</th><th>Health</th><th>Last success</th></tr>\n");
	json_array_foreach(apis, i, a) {
		strbuf_puts(o, "<tr><td>");
		hv(o, json_object_get(a, "api"), "");
		strbuf_puts(o, json_is_true(json_object_get(a, "up")) ?
		    "</td><td class=\"ok\">up" : "</td><td class=\"bad\">down");
		strbuf_puts(o, "</td><td>");
		ht(o, json_object_get(a, "last_success"), "never");
		strbuf_puts(o, "</td></tr>\n");
	}
	strbuf_puts(o, "</table>\n");
}

static const char *
tri(const json_t *v, const char *yes, const char *no, const char *unknown)
{
	return json_is_true(v) ? yes : json_is_false(v) ? no : unknown;
}

static void
h_eventlog(struct strbuf *o, const json_t *t)
{
	const json_t *el = json_object_get(t, "event_log");

	strbuf_puts(o, "<h3>Event log</h3>\n");
	if (!json_is_true(json_object_get(el, "configured"))) {
		strbuf_puts(o, "<p class=\"bad\">Not configured (no elasticsearch.url): "
		    "failed connector runs are not counted.</p>\n");
		return;
	}
	strbuf_puts(o, "<table><tr><th>Elasticsearch reachable</th><td>");
	strbuf_puts(o, tri(json_object_get(el, "reachable"), "yes",
	    "<span class=\"bad\">no</span>", "not searched yet"));
	strbuf_puts(o, "</td></tr>\n<tr><th>Event log visible</th><td>");
	strbuf_puts(o, tri(json_object_get(el, "visible"), "yes",
	    "<span class=\"bad\">no</span>", "not searched yet"));
	if (json_is_string(json_object_get(el, "reason"))) {
		strbuf_puts(o, " (");
		hv(o, json_object_get(el, "reason"), "");
		strbuf_puts(o, ")");
	}
	strbuf_puts(o, "</td></tr>\n<tr><th>Last counted window</th><td>");
	ht(o, json_object_get(el, "window_start"), "none yet");
	strbuf_puts(o, " &ndash; ");
	ht(o, json_object_get(el, "window_end"), "none yet");
	strbuf_puts(o, "</td></tr></table>\n");
}

static void
h_rules(struct strbuf *o, const json_t *c)
{
	const json_t *r;
	size_t i, more = rules_more(c);

	json_array_foreach(json_object_get(c, "rules"), i, r) {
		if (i > 0)
			strbuf_puts(o, ", ");
		strbuf_puts(o, "<span title=\"");
		hv(o, json_object_get(r, "id"), "");
		strbuf_puts(o, "\">");
		hv(o, json_object_get(r, "name"), "");
		strbuf_puts(o, "</span>");
	}
	if (more > 0)
		strbuf_printf(o, " <span class=\"muted\">and %zu more</span>", more);
	if (int_of(c, "rules_total") == 0)
		strbuf_puts(o, "<span class=\"muted\">none</span>");
}

static void
h_failing(struct strbuf *o, const json_t *t)
{
	const json_t *v = json_object_get(t, "failing_connectors"), *c, *lf;
	size_t i;

	strbuf_printf(o, "<h3>Failing connectors (%lld)</h3>\n",
	    (long long)int_of(t, "failing_total"));
	if (json_array_size(v) == 0) {
		strbuf_puts(o, "<p class=\"ok\">No connector failed in the last hour.</p>\n");
		return;
	}
	strbuf_puts(o, "<table id=\"failing\"><tr><th>Connector</th><th>Type</th>"
	    "<th>Space</th><th>Failures (1 h)</th><th>Timeouts (1 h)</th>"
	    "<th>Last failure</th><th>Error</th><th>Rules using it</th></tr>\n");
	json_array_foreach(v, i, c) {
		lf = json_object_get(c, "last_failure");
		strbuf_puts(o, "<tr class=\"failing\">");
		h_name_cell(o, c);
		strbuf_puts(o, "<td>");
		hv(o, json_object_get(c, "type"), "");
		strbuf_puts(o, "</td><td>");
		hv(o, json_object_get(c, "space"), "");
		strbuf_printf(o, "</td><td class=\"bad\">%lld</td><td class=\"bad\">%lld</td><td>",
		    (long long)int_of(c, "failures_1h"),
		    (long long)int_of(c, "timeouts_1h"));
		ht(o, json_object_get(lf, "time"), "unknown");
		strbuf_puts(o, "</td><td class=\"err\">");
		hv(o, json_object_get(lf, "error"),
		    "<span class=\"muted\">(not fetched yet)</span>");
		strbuf_puts(o, "</td><td>");
		h_rules(o, c);
		strbuf_puts(o, "</td></tr>\n");
	}
	strbuf_puts(o, "</table>\n");
	h_count_note(o, t, "failing_connectors", "failing_total");
}

static void
h_others(struct strbuf *o, const json_t *t)
{
	const json_t *v = json_object_get(t, "connectors"), *c;
	size_t i;

	strbuf_printf(o, "<h3>Other connectors (%lld)</h3>\n",
	    (long long)(int_of(t, "connectors_total") - int_of(t, "failing_total")));
	if (json_array_size(v) == 0) {
		strbuf_puts(o, "<p class=\"muted\">None.</p>\n");
		return;
	}
	strbuf_puts(o, "<table><tr><th>Connector</th><th>Type</th><th>Space</th>"
	    "<th>Rules using it</th><th>Last failure</th></tr>\n");
	json_array_foreach(v, i, c) {
		strbuf_puts(o, "<tr>");
		h_name_cell(o, c);
		strbuf_puts(o, "<td>");
		hv(o, json_object_get(c, "type"), "");
		strbuf_puts(o, "</td><td>");
		hv(o, json_object_get(c, "space"), "");
		strbuf_printf(o, "</td><td>%lld</td><td>",
		    (long long)int_of(c, "rules_total"));
		ht(o, json_object_get(json_object_get(c, "last_failure"), "time"),
		    "none seen");
		strbuf_puts(o, "</td></tr>\n");
	}
	strbuf_puts(o, "</table>\n");
	if (int_of(t, "connectors_omitted") > 0)
		strbuf_printf(o, "<p class=\"muted\">and %lld more (not listed; "
		    "kibana_connector_info has them all)</p>\n",
		    (long long)int_of(t, "connectors_omitted"));
}

static void
h_probes(struct strbuf *o, const json_t *t)
{
	const json_t *v = json_object_get(t, "probes"), *p;
	size_t i;

	strbuf_puts(o, "<h3>Probes</h3>\n");
	if (json_array_size(v) == 0) {
		strbuf_puts(o, "<p class=\"muted\">None configured.</p>\n");
		return;
	}
	strbuf_puts(o, "<table><tr><th>Connector</th><th>Space</th><th>Last result</th>"
	    "<th>Last run</th><th>Message</th></tr>\n");
	json_array_foreach(v, i, p) {
		const json_t *res = json_object_get(p, "result");

		strbuf_puts(o, "<tr>");
		h_name_cell(o, p);
		strbuf_puts(o, "<td>");
		hv(o, json_object_get(p, "space"), "");
		strbuf_puts(o, json_is_string(res) &&
		    strcmp(json_string_value(res), "ok") == 0 ?
		    "</td><td class=\"ok\">" : "</td><td class=\"bad\">");
		hv(o, res, "not run yet");
		strbuf_puts(o, "</td><td>");
		ht(o, json_object_get(p, "last_run"), "never");
		strbuf_puts(o, "</td><td class=\"err\">");
		hv(o, json_object_get(p, "message"), "");
		strbuf_puts(o, "</td></tr>\n");
	}
	strbuf_puts(o, "</table>\n");
}

static void
h_missing(struct strbuf *o, const json_t *t)
{
	const json_t *v, *r;
	size_t i;

	v = json_object_get(t, "rules_missing_connectors");
	strbuf_printf(o, "<h3>Rules that use missing connectors (%lld)</h3>\n",
	    (long long)int_of(t, "rules_missing_connectors_total"));
	if (json_array_size(v) > 0) {
		strbuf_puts(o, "<table><tr><th>Rule</th><th>Space</th>"
		    "<th>Missing connector id</th></tr>\n");
		json_array_foreach(v, i, r) {
			strbuf_puts(o, "<tr><td title=\"");
			hv(o, json_object_get(r, "rule_id"), "");
			strbuf_puts(o, "\">");
			hv(o, json_object_get(r, "rule_name"), "");
			strbuf_puts(o, "<br><span class=\"muted\">");
			hv(o, json_object_get(r, "rule_id"), "");
			strbuf_puts(o, "</span></td><td>");
			hv(o, json_object_get(r, "space"), "");
			strbuf_puts(o, "</td><td class=\"bad\">");
			hv(o, json_object_get(r, "connector_id"), "");
			strbuf_puts(o, "</td></tr>\n");
		}
		strbuf_puts(o, "</table>\n");
		h_count_note(o, t, "rules_missing_connectors",
		    "rules_missing_connectors_total");
	} else
		strbuf_puts(o, "<p class=\"ok\">None.</p>\n");

	v = json_object_get(t, "connectors_missing_secrets");
	strbuf_printf(o, "<h3>Connectors missing secrets (%lld)</h3>\n",
	    (long long)int_of(t, "connectors_missing_secrets_total"));
	if (json_array_size(v) > 0) {
		strbuf_puts(o, "<table><tr><th>Connector</th><th>Type</th><th>Space</th></tr>\n");
		json_array_foreach(v, i, r) {
			strbuf_puts(o, "<tr>");
			h_name_cell(o, r);
			strbuf_puts(o, "<td>");
			hv(o, json_object_get(r, "type"), "");
			strbuf_puts(o, "</td><td>");
			hv(o, json_object_get(r, "space"), "");
			strbuf_puts(o, "</td></tr>\n");
		}
		strbuf_puts(o, "</table>\n");
		h_count_note(o, t, "connectors_missing_secrets",
		    "connectors_missing_secrets_total");
	} else
		strbuf_puts(o, "<p class=\"ok\">None.</p>\n");

	v = json_object_get(t, "unavailable_connector_types");
	strbuf_printf(o, "<h3>Unavailable connector types (%lld)</h3>\n",
	    (long long)int_of(t, "unavailable_connector_types_total"));
	if (json_array_size(v) > 0) {
		strbuf_puts(o, "<table><tr><th>Type</th><th>Enabled in kibana.yml</th>"
		    "<th>Allowed by the licence</th><th>Licence required</th></tr>\n");
		json_array_foreach(v, i, r) {
			strbuf_puts(o, "<tr><td>");
			hv(o, json_object_get(r, "id"), "");
			strbuf_printf(o, "</td><td>%s</td><td>%s</td><td>",
			    json_is_true(json_object_get(r, "enabled_in_config")) ?
			    "yes" : "<span class=\"bad\">no</span>",
			    json_is_true(json_object_get(r, "enabled_in_license")) ?
			    "yes" : "<span class=\"bad\">no</span>");
			hv(o, json_object_get(r, "minimum_license_required"), "");
			strbuf_puts(o, "</td></tr>\n");
		}
		strbuf_puts(o, "</table>\n");
	} else
		strbuf_puts(o, "<p class=\"ok\">None.</p>\n");
}

/* One line at the top: what needs attention. */
static void
h_summary(struct strbuf *o, const json_t *t)
{
	const json_t *el = json_object_get(t, "event_log"), *a;
	json_int_t failing = int_of(t, "failing_total");
	size_t i, down = 0;

	json_array_foreach(json_object_get(t, "apis"), i, a)
		if (!json_is_true(json_object_get(a, "up")))
			down++;
	strbuf_printf(o, "<p class=\"summary\"><span class=\"%s\">%lld failing "
	    "connector%s</span> of %lld", failing > 0 ? "bad" : "ok",
	    (long long)failing, failing == 1 ? "" : "s",
	    (long long)int_of(t, "connectors_total"));
	if (down > 0)
		strbuf_printf(o, "; <span class=\"bad\">%zu API%s down</span>", down,
		    down == 1 ? "" : "s");
	if (!json_is_true(json_object_get(el, "configured")))
		strbuf_puts(o, "; <span class=\"bad\">event log not configured</span>");
	else if (json_is_false(json_object_get(el, "visible")))
		strbuf_puts(o, "; <span class=\"bad\">event log not visible</span>");
	strbuf_puts(o, ".</p>\n");
}

int
status_render_html(const struct status *st, struct strbuf *o)
{
	const json_t *t;
	char gen[64];
	size_t i;

	fmt_time(json_object_get(st->root, "generated"), gen, sizeof(gen), "");
	strbuf_puts(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>Kibana Connector Monitor: status</title>\n<style>");
	strbuf_puts(o, style);
	strbuf_puts(o, "</style></head>\n<body>\n<h1>Kibana Connector Monitor</h1>\n"
	    "<p class=\"muted\">Version " KCM_VERSION ", page generated ");
	h(o, gen);
	strbuf_puts(o, ". <a href=\"status.json\">JSON</a> &middot; "
	    "<a href=\"metrics\">Metrics</a> &middot; <a href=\"healthz\">Health</a></p>\n");
	if (json_array_size(json_object_get(st->root, "targets")) == 0)
		strbuf_puts(o, "<p class=\"muted\">No target has been polled yet.</p>\n");
	json_array_foreach(json_object_get(st->root, "targets"), i, t) {
		strbuf_puts(o, "<section>\n<h2>Target ");
		hv(o, json_object_get(t, "name"), "");
		strbuf_puts(o, "</h2>\n");
		h_summary(o, t);
		h_apis(o, t);
		h_eventlog(o, t);
		h_failing(o, t);
		h_others(o, t);
		h_probes(o, t);
		h_missing(o, t);
		strbuf_puts(o, "</section>\n");
	}
	strbuf_puts(o, "</body></html>\n");
	return strbuf_failed(o) ? -ENOMEM : 0;
}

/* ---- rendering: text ----------------------------------------------------- */

static void
tv(struct strbuf *o, const json_t *v, const char *none)
{
	if (json_is_string(v)) {
		strbuf_putc(o, '\'');
		status_text_escape(o, json_string_value(v));
		strbuf_putc(o, '\'');
	} else
		strbuf_puts(o, none);
}

static void
tt(struct strbuf *o, const json_t *v, const char *none)
{
	char buf[64];

	fmt_time(v, buf, sizeof(buf), none);
	strbuf_puts(o, buf);
}

static void
t_conn(struct strbuf *o, const json_t *c)
{
	tv(o, json_object_get(c, "name"), "(no name)");
	strbuf_puts(o, " (id ");
	tv(o, json_object_get(c, "id"), "?");
	strbuf_puts(o, ", type ");
	tv(o, json_object_get(c, "type"), "?");
	strbuf_puts(o, ", space ");
	tv(o, json_object_get(c, "space"), "?");
	strbuf_puts(o, ")");
	if (json_object_get(c, "listed") != NULL &&
	    !json_is_true(json_object_get(c, "listed")))
		strbuf_puts(o, " NOT IN THE INVENTORY");
}

static void
t_more(struct strbuf *o, const json_t *t, const char *key, const char *total_key)
{
	json_int_t total = int_of(t, total_key);
	size_t shown = json_array_size(json_object_get(t, key));

	if (total > (json_int_t)shown)
		strbuf_printf(o, "    ... and %lld more\n",
		    (long long)(total - (json_int_t)shown));
}

static void
t_target(struct strbuf *o, const json_t *t)
{
	const json_t *a, *c, *el = json_object_get(t, "event_log"), *r, *lf;
	size_t i, j;

	strbuf_puts(o, "\nTarget ");
	tv(o, json_object_get(t, "name"), "?");
	strbuf_puts(o, "\n  APIs:\n");
	if (json_array_size(json_object_get(t, "apis")) == 0)
		strbuf_puts(o, "    no request answered yet\n");
	json_array_foreach(json_object_get(t, "apis"), i, a) {
		strbuf_puts(o, "    ");
		tv(o, json_object_get(a, "api"), "?");
		strbuf_puts(o, json_is_true(json_object_get(a, "up")) ?
		    ": up, last success " : ": DOWN, last success ");
		tt(o, json_object_get(a, "last_success"), "never");
		strbuf_putc(o, '\n');
	}
	strbuf_puts(o, "  Event log: ");
	if (!json_is_true(json_object_get(el, "configured")))
		strbuf_puts(o, "NOT CONFIGURED (no elasticsearch.url)\n");
	else {
		strbuf_printf(o, "Elasticsearch reachable: %s, visible: %s",
		    tri(json_object_get(el, "reachable"), "yes", "NO", "not searched yet"),
		    tri(json_object_get(el, "visible"), "yes", "NO", "not searched yet"));
		if (json_is_string(json_object_get(el, "reason"))) {
			strbuf_puts(o, " (");
			status_text_escape(o, str_of(el, "reason"));
			strbuf_puts(o, ")");
		}
		strbuf_puts(o, "; last counted window ");
		tt(o, json_object_get(el, "window_start"), "none yet");
		strbuf_puts(o, " - ");
		tt(o, json_object_get(el, "window_end"), "none yet");
		strbuf_putc(o, '\n');
	}

	strbuf_printf(o, "  Failing connectors (%lld):\n",
	    (long long)int_of(t, "failing_total"));
	if (json_array_size(json_object_get(t, "failing_connectors")) == 0)
		strbuf_puts(o, "    none in the last hour\n");
	json_array_foreach(json_object_get(t, "failing_connectors"), i, c) {
		lf = json_object_get(c, "last_failure");
		strbuf_puts(o, "    ");
		t_conn(o, c);
		strbuf_printf(o, ": %lld failures, %lld timeouts in the last hour\n",
		    (long long)int_of(c, "failures_1h"),
		    (long long)int_of(c, "timeouts_1h"));
		strbuf_puts(o, "      last failure ");
		tt(o, json_object_get(lf, "time"), "unknown");
		strbuf_puts(o, ": ");
		tv(o, json_object_get(lf, "error"), "(error text not fetched yet)");
		strbuf_puts(o, "\n      rules: ");
		if (int_of(c, "rules_total") == 0)
			strbuf_puts(o, "none");
		json_array_foreach(json_object_get(c, "rules"), j, r) {
			if (j > 0)
				strbuf_puts(o, ", ");
			tv(o, json_object_get(r, "name"), "?");
			strbuf_puts(o, " (");
			status_text_escape(o, str_of(r, "id"));
			strbuf_puts(o, ")");
		}
		if (rules_more(c) > 0)
			strbuf_printf(o, " and %zu more", rules_more(c));
		strbuf_putc(o, '\n');
	}
	t_more(o, t, "failing_connectors", "failing_total");

	strbuf_printf(o, "  Other connectors (%lld):\n",
	    (long long)(int_of(t, "connectors_total") - int_of(t, "failing_total")));
	json_array_foreach(json_object_get(t, "connectors"), i, c) {
		strbuf_puts(o, "    ");
		t_conn(o, c);
		strbuf_putc(o, '\n');
	}
	if (int_of(t, "connectors_omitted") > 0)
		strbuf_printf(o, "    ... and %lld more\n",
		    (long long)int_of(t, "connectors_omitted"));

	strbuf_puts(o, "  Probes:\n");
	if (json_array_size(json_object_get(t, "probes")) == 0)
		strbuf_puts(o, "    none\n");
	json_array_foreach(json_object_get(t, "probes"), i, c) {
		strbuf_puts(o, "    ");
		tv(o, json_object_get(c, "name"), "(no name)");
		strbuf_puts(o, " (id ");
		tv(o, json_object_get(c, "id"), "?");
		strbuf_puts(o, ", space ");
		tv(o, json_object_get(c, "space"), "?");
		strbuf_puts(o, "): ");
		if (json_is_string(json_object_get(c, "result"))) {
			status_text_escape(o, str_of(c, "result"));
			strbuf_puts(o, " at ");
			tt(o, json_object_get(c, "last_run"), "?");
			if (json_is_string(json_object_get(c, "message"))) {
				strbuf_puts(o, ": ");
				tv(o, json_object_get(c, "message"), "");
			}
		} else
			strbuf_puts(o, "not run yet");
		strbuf_putc(o, '\n');
	}

	strbuf_printf(o, "  Rules that use missing connectors (%lld):\n",
	    (long long)int_of(t, "rules_missing_connectors_total"));
	json_array_foreach(json_object_get(t, "rules_missing_connectors"), i, r) {
		strbuf_puts(o, "    rule ");
		tv(o, json_object_get(r, "rule_name"), "?");
		strbuf_puts(o, " (id ");
		tv(o, json_object_get(r, "rule_id"), "?");
		strbuf_puts(o, ", space ");
		tv(o, json_object_get(r, "space"), "?");
		strbuf_puts(o, ") uses missing connector ");
		tv(o, json_object_get(r, "connector_id"), "?");
		strbuf_putc(o, '\n');
	}
	t_more(o, t, "rules_missing_connectors", "rules_missing_connectors_total");
	strbuf_printf(o, "  Connectors missing secrets (%lld):\n",
	    (long long)int_of(t, "connectors_missing_secrets_total"));
	json_array_foreach(json_object_get(t, "connectors_missing_secrets"), i, c) {
		strbuf_puts(o, "    ");
		t_conn(o, c);
		strbuf_putc(o, '\n');
	}
	t_more(o, t, "connectors_missing_secrets", "connectors_missing_secrets_total");
	strbuf_printf(o, "  Unavailable connector types (%lld):\n",
	    (long long)int_of(t, "unavailable_connector_types_total"));
	json_array_foreach(json_object_get(t, "unavailable_connector_types"), i, c) {
		strbuf_puts(o, "    ");
		tv(o, json_object_get(c, "id"), "?");
		strbuf_printf(o, ": enabled in kibana.yml: %s, allowed by the licence: %s\n",
		    json_is_true(json_object_get(c, "enabled_in_config")) ? "yes" : "NO",
		    json_is_true(json_object_get(c, "enabled_in_license")) ? "yes" : "NO");
	}
}

int
status_render_text(const struct status *st, struct strbuf *o)
{
	const json_t *t;
	char gen[64];
	size_t i;

	fmt_time(json_object_get(st->root, "generated"), gen, sizeof(gen), "?");
	strbuf_printf(o, "Kibana Connector Monitor %s, status at %s\n", KCM_VERSION, gen);
	if (json_array_size(json_object_get(st->root, "targets")) == 0)
		strbuf_puts(o, "no target\n");
	json_array_foreach(json_object_get(st->root, "targets"), i, t)
		t_target(o, t);
	return strbuf_failed(o) ? -ENOMEM : 0;
}
