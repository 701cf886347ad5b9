/*
 * inventory.c: a target's inventory poll cycle.
 *
 * A cycle: GET connector_types and (with `spaces: all`) GET spaces; once the
 * space list is known, per space GET connectors and every page of rules.
 * All requests go through the target's limiter (max_parallel_requests).
 * When the last one finishes, the cycle ends: data of every request that
 * succeeded replaces the previous data, data of failed requests stays as it
 * was (the last good values), and the target's series are rebuilt.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_endpoint.h"
#include "config_types.h"
#include "engine.h"
#include "inventory.h"
#include "kibana.h"
#include "log.h"
#include "metrics.h"
#include "msgid.h"
#include "status.h"

/* Kibana's saved-objects paging stops at 10,000 results (100 pages). */
#define RULES_MAX_PAGES 100

struct space_state {
	char			*id;
	bool			 gone;		/* not in the latest space list */
	/* last good data */
	struct kibana_connector_list connectors;
	bool			 have_connectors;
	struct kibana_rule	*rules;
	size_t			 nrules;
	bool			 have_rules;
	/* this cycle */
	struct kibana_connector_list new_connectors;
	bool			 connectors_ok;
	struct kibana_rule	*new_rules;
	size_t			 new_nrules;
	bool			 rules_failed;
	/* replaced by this cycle's, freed by the rewrite (rebuild_step) */
	struct kibana_connector_list old_connectors;
	struct kibana_rule	*old_rules;
	size_t			 old_nrules;
};


struct inventory_families {
	struct metric_family	*connector_info;
	struct metric_family	*connector_missing_secrets;
	struct metric_family	*connector_references;
	struct metric_family	*type_enabled;
	struct metric_family	*type_enabled_in_license;
	struct metric_family	*type_enabled_in_config;
	struct metric_family	*rule_connector_missing;
};

struct keyset {
	char	**v;
	size_t	 n, cap;
};

/* A rewrite of the series in slices (rebuild_step), and where it is. */
struct rebuild {
	bool		 active;
	uint64_t	 epoch;
	bool		 rules;		/* connectors done; now the rules */
	bool		 freed;		/* the space's replaced data is freed */
	size_t		 space, item;	/* the next connector or rule */
	size_t		 swept;		/* families swept, after the rules */
	struct keyset	 pre;		/* preconfigured connector ids */
	struct keyset	 ids;		/* the current space's connector ids */
	struct keyset	 missing;	/* "space\nrule\nconn\nrule name" */
	struct keyset	 secrets;	/* "space\nconn" */
};

/*
 * Connectors (or rules) per slice of the rewrite, three series each: at
 * 10,000 connectors the whole rewrite takes 10-20 ms, a slice a fraction
 * of a millisecond (README "Performance").
 */
#ifndef INVENTORY_SLICE
#define INVENTORY_SLICE	125
#endif

struct inventory {
	const struct target_config *cfg;
	struct metrics		*metrics;
	struct inventory_families fam;

	struct space_state	**spaces;
	size_t			 nspaces;
	struct kibana_connector_type_list types;
	bool			 have_types;

	/* cycle state */
	struct kibana_connector_type_list new_types;
	bool			 types_ok;
	struct kibana_space_list new_spaces;
	bool			 spaces_ok;

	/* failing requests: one line per change of the set of failing paths */
	char			*failing;	/* sorted paths, '\n'-joined; NULL = none */
	char			**cyc_paths;	/* this cycle's failing paths */
	size_t			 ncyc_paths, capcyc_paths;
	enum engine_result	 cyc_result;	/* this cycle's first failure */
	long			 cyc_status;
	char			 cyc_detail[512];
	char			**missing_keys;		/* sorted "space\nrule\nconn" */
	size_t			 nmissing_keys;
	char			**secrets_keys;		/* sorted "space\nconn" */
	size_t			 nsecrets_keys;
	struct rebuild		 rb;		/* finishing a cycle */
};

/* One request of a cycle (freed by the engine after its callback). */
struct treq {
	struct inventory	*t;
	enum engine_api		 api;
	struct space_state	*sp;		/* connectors, rules */
	int64_t			 page;		/* rules */
	char			*path;
	char			*url;
};

static const char *const info_l[] = { "target", "space", "connector_id",
    "name", "connector_type_id", "preconfigured", "deprecated",
    "system_action" };
static const char *const conn_l[] = { "target", "space", "connector_id" };
static const char *const type_l[] = { "target", "connector_type_id",
    "minimum_license_required" };
static const char *const rule_l[] = { "target", "space", "rule_id",
    "rule_name", "connector_id" };

#define FAM(f) offsetof(struct inventory_families, f)
static const struct metrics_spec inventory_specs[] = {
	{ FAM(connector_info), "kibana_connector_info",
	  "Connectors Kibana lists, one series per connector and space; preconfigured connectors once with space=\"*\".",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(info_l), NULL, 0 },
	{ FAM(connector_missing_secrets), "kibana_connector_missing_secrets",
	  "1 when Kibana reports the connector's secrets missing (is_missing_secrets), e.g. after an import.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(conn_l), NULL, 0 },
	{ FAM(connector_references), "kibana_connector_references",
	  "Number of saved objects (rules) referencing the connector (Kibana's referenced_by_count).",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(conn_l), NULL, 0 },
	{ FAM(type_enabled), "kibana_connector_type_enabled",
	  "1 when the connector type can be used (enabled in kibana.yml and by the licence).",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(type_l), NULL, 0 },
	{ FAM(type_enabled_in_license), "kibana_connector_type_enabled_in_license",
	  "1 when the current licence allows the connector type.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(type_l), NULL, 0 },
	{ FAM(type_enabled_in_config), "kibana_connector_type_enabled_in_config",
	  "1 when xpack.actions.enabledActionTypes allows the connector type.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(type_l), NULL, 0 },
	{ FAM(rule_connector_missing), "kibana_rule_action_connector_missing",
	  "1 for each rule action whose connector no longer exists in the rule's space.",
	  METRIC_GAUGE, METRICS_SPEC_LABELS(rule_l), NULL, 0 },
};
#undef FAM

static int submit(struct check *c, struct inventory *t, enum engine_api api,
    struct space_state *sp, int64_t page);
static void submit_space(struct check *c, struct inventory *t,
    struct space_state *sp);

int
inventory_foreach_connector(const struct inventory *t,
    struct inventory_cursor *cur, size_t budget, inventory_connector_fn fn,
    void *arg)
{
	size_t done = 0;

	for (; cur->space < t->nspaces; cur->space++, cur->item = 0) {
		const struct space_state *sp = t->spaces[cur->space];

		for (; cur->item < sp->connectors.n; cur->item++, done++) {
			const struct kibana_connector *c = &sp->connectors.v[cur->item];

			if (done >= budget)
				return 1;
			fn(c->preconfigured ? "*" : sp->id, c->id, c->name,
			    c->type_id, c->preconfigured, arg);
		}
	}
	return 0;
}

const char *
inventory_connector_name(const struct inventory *t, const char *space,
    const char *id)
{
	bool pre = strcmp(space, "*") == 0;
	size_t i, j;

	for (i = 0; i < t->nspaces; i++) {
		const struct space_state *sp = t->spaces[i];

		if (!pre && strcmp(sp->id, space) != 0)
			continue;
		for (j = 0; j < sp->connectors.n; j++) {
			const struct kibana_connector *c = &sp->connectors.v[j];

			if (c->preconfigured == pre && strcmp(c->id, id) == 0)
				return c->name;
		}
	}
	return NULL;
}

static void
rules_free(struct kibana_rule *v, size_t n)
{
	struct kibana_rules_page p;

	memset(&p, 0, sizeof(p));
	p.v = v;
	p.n = n;
	kibana_rules_page_free(&p);
}

static void
space_free(struct space_state *sp)
{
	if (sp == NULL)
		return;
	free(sp->id);
	kibana_connector_list_free(&sp->connectors);
	kibana_connector_list_free(&sp->new_connectors);
	rules_free(sp->rules, sp->nrules);
	rules_free(sp->new_rules, sp->new_nrules);
	kibana_connector_list_free(&sp->old_connectors);
	rules_free(sp->old_rules, sp->old_nrules);
	free(sp);
}

/* Frees what the cycle replaced; returns about how much work that was. */
static size_t
space_free_old(struct space_state *sp)
{
	size_t n = sp->old_connectors.n + sp->old_nrules;

	kibana_connector_list_free(&sp->old_connectors);
	rules_free(sp->old_rules, sp->old_nrules);
	sp->old_rules = NULL;
	sp->old_nrules = 0;
	return n;
}

static struct space_state *
space_find(struct inventory *t, const char *id)
{
	size_t i;

	for (i = 0; i < t->nspaces; i++)
		if (strcmp(t->spaces[i]->id, id) == 0)
			return t->spaces[i];
	return NULL;
}

static struct space_state *
space_add(struct inventory *t, const char *id)
{
	struct space_state *sp, **n;

	n = reallocarray(t->spaces, t->nspaces + 1, sizeof(*n));
	if (n == NULL)
		return NULL;
	t->spaces = n;
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL || (sp->id = strdup(id)) == NULL) {
		free(sp);
		return NULL;
	}
	t->spaces[t->nspaces++] = sp;
	return sp;
}

static void
keys_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
rebuild_reset(struct rebuild *rb)
{
	keys_free(rb->pre.v, rb->pre.n);
	keys_free(rb->ids.v, rb->ids.n);
	keys_free(rb->missing.v, rb->missing.n);
	keys_free(rb->secrets.v, rb->secrets.n);
	memset(rb, 0, sizeof(*rb));
}

static void
inventory_free(void *arg)
{
	struct inventory *t = arg;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nspaces; i++)
		space_free(t->spaces[i]);
	free(t->spaces);
	kibana_connector_type_list_free(&t->types);
	kibana_connector_type_list_free(&t->new_types);
	kibana_space_list_free(&t->new_spaces);
	keys_free(t->missing_keys, t->nmissing_keys);
	keys_free(t->secrets_keys, t->nsecrets_keys);
	rebuild_reset(&t->rb);
	free(t->failing);
	for (i = 0; i < t->ncyc_paths; i++)
		free(t->cyc_paths[i]);
	free(t->cyc_paths);
	free(t);
}

static struct inventory *
inventory_new(struct metrics *m, const struct target_config *cfg)
{
	struct inventory *t;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->cfg = cfg;
	t->metrics = m;
	if (metrics_register(m, inventory_specs, ELEMENTSOF(inventory_specs),
	    &t->fam) < 0)
		goto fail;
	if (!cfg->spaces_all)
		for (i = 0; i < cfg->nspaces; i++)
			if (space_find(t, cfg->spaces[i]) == NULL &&
			    space_add(t, cfg->spaces[i]) == NULL)
				goto fail;
	return t;
fail:
	inventory_free(t);
	return NULL;
}

static void
treq_free(void *arg)
{
	struct treq *r = arg;

	free(r->path);
	free(r->url);
	free(r);
}

static const char *
api_path(enum engine_api api)
{
	switch (api) {
	case API_SPACES:		return "/api/spaces/space";
	case API_CONNECTORS:		return "/api/actions/connectors";
	case API_CONNECTOR_TYPES:	return "/api/actions/connector_types";
	case API_RULES:			return "/api/alerting/rules/_find";
	case API_EVENT_LOG:
	case API_EXECUTE:
	case API__MAX:			break;
	}
	return "/";
}

/* Records a failed request of this cycle (logged at the end of the cycle). */
static void
note_failure(struct inventory *t, const struct treq *r, enum engine_result res,
    const struct http_response *resp, const char *detail)
{
	char **n, *copy;

	if (t->ncyc_paths == 0) {
		t->cyc_result = res;
		t->cyc_status = resp->status;
		snprintf(t->cyc_detail, sizeof(t->cyc_detail), "%s", detail);
	}
	if (t->ncyc_paths == t->capcyc_paths) {
		size_t cap = t->capcyc_paths ? t->capcyc_paths * 2 : 8;

		if ((n = reallocarray(t->cyc_paths, cap, sizeof(*n))) == NULL)
			return;
		t->cyc_paths = n;
		t->capcyc_paths = cap;
	}
	if ((copy = strdup(r->path)) != NULL)
		t->cyc_paths[t->ncyc_paths++] = copy;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * End of a cycle: one warning when the set of failing paths changes (a
 * Kibana outage is one line, not one per URL), one line on recovery.
 */
static void
log_failures(struct inventory *t)
{
	struct strbuf joined, shown;
	char status[16], count[24];
	size_t i;

	strbuf_init(&joined);
	strbuf_init(&shown);
	if (t->ncyc_paths > 1)
		qsort(t->cyc_paths, t->ncyc_paths, sizeof(*t->cyc_paths), cmp_str);
	for (i = 0; i < t->ncyc_paths; i++) {
		if (i > 0 && strcmp(t->cyc_paths[i], t->cyc_paths[i - 1]) == 0)
			continue;
		strbuf_printf(&joined, "%s%s", joined.len > 0 ? "\n" : "",
		    t->cyc_paths[i]);
		strbuf_printf(&shown, "%s%s", shown.len > 0 ? ", " : "",
		    t->cyc_paths[i]);
	}
	if (strbuf_failed(&joined) || strbuf_failed(&shown))
		goto out;
	if (t->ncyc_paths == 0 && t->failing != NULL) {
		struct log_field f[] = {
			{ "TARGET", t->cfg->name }, { "URL_PATH", t->failing },
			{ "URL_PATHS", NULL },
		};
		char *p, *nl;

		/* URL_PATH: the first path that failed; URL_PATHS: all. */
		for (p = t->failing; p != NULL; p = nl != NULL ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			strbuf_printf(&shown, "%s%.*s", p == t->failing ? "" : ", ",
			    nl != NULL ? (int)(nl - p) : (int)strlen(p), p);
		}
		if ((nl = strchr(t->failing, '\n')) != NULL)
			*nl = '\0';
		f[2].value = strbuf_str(&shown);
		log_struct(LOG_INFO, MSGID_TARGET_RECOVERED, f, ELEMENTSOF(f),
		    "Kibana target '%s' answers every request again",
		    t->cfg->name);
		free(t->failing);
		t->failing = NULL;
	} else if (t->ncyc_paths > 0 && (t->failing == NULL ||
	    strcmp(t->failing, strbuf_str(&joined)) != 0)) {
		struct log_field f[] = {
			{ "TARGET", t->cfg->name },
			{ "URL_PATH", t->cyc_paths[0] },
			{ "URL_PATHS", strbuf_str(&shown) },
			{ "FAILED_REQUESTS", count },
			{ "RESULT", engine_result_to_string(t->cyc_result) },
			{ "HTTP_STATUS", status },
			{ "ERROR_MESSAGE", t->cyc_detail },
		};

		snprintf(status, sizeof(status), "%ld", t->cyc_status);
		snprintf(count, sizeof(count), "%zu", t->ncyc_paths);
		log_struct(LOG_WARNING, MSGID_TARGET_UNREACHABLE, f, ELEMENTSOF(f),
		    "requests to Kibana target '%s' fail (%s): %s; failing: %s",
		    t->cfg->name, engine_result_to_string(t->cyc_result),
		    t->cyc_detail, strbuf_str(&shown));
		free(t->failing);
		t->failing = strbuf_steal(&joined);
	}
out:
	for (i = 0; i < t->ncyc_paths; i++)
		free(t->cyc_paths[i]);
	t->ncyc_paths = 0;
	strbuf_free(&joined);
	strbuf_free(&shown);
}

/*
 * An answer parsed on the HTTP client's worker thread (http_client.h):
 * only the body is read, and the result is the parser's as it would be on
 * the loop.
 */
struct parsed {
	int				 pr;
	char				 err[256];
	struct kibana_connector_list	 connectors;
	struct kibana_rules_page	 page;
};

static void
parsed_free(void *arg)
{
	struct parsed *p = arg;

	kibana_connector_list_free(&p->connectors);
	kibana_rules_page_free(&p->page);
	free(p);
}

static void *
prepare_connectors(const struct http_response *resp)
{
	struct parsed *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->pr = kibana_parse_connectors(resp->body, resp->body_len,
		    &p->connectors, p->err, sizeof(p->err));
	return p;
}

static void *
prepare_rules(const struct http_response *resp)
{
	struct parsed *p = calloc(1, sizeof(*p));

	if (p != NULL)
		p->pr = kibana_parse_rules_page(resp->body, resp->body_len,
		    &p->page, p->err, sizeof(p->err));
	return p;
}

static enum engine_result
request_done(struct check *c, const struct http_response *resp,
    enum engine_result res, void *arg)
{
	struct treq *r = arg;
	struct inventory *t = r->t;
	struct space_state *sp = r->sp;
	struct parsed *pp = resp->prepared;
	struct kibana_rules_page page;
	char err[256], detail[512];
	int64_t pages, p;
	size_t i;
	int pr = 0;

	err[0] = '\0';
	if (res == RESULT_OK) {
		switch (r->api) {
		case API_SPACES:
			kibana_space_list_free(&t->new_spaces);
			pr = kibana_parse_spaces(resp->body, resp->body_len,
			    &t->new_spaces, err, sizeof(err));
			t->spaces_ok = pr == 0;
			break;
		case API_CONNECTOR_TYPES:
			kibana_connector_type_list_free(&t->new_types);
			pr = kibana_parse_connector_types(resp->body,
			    resp->body_len, &t->new_types, err, sizeof(err));
			t->types_ok = pr == 0;
			break;
		case API_CONNECTORS:
			kibana_connector_list_free(&sp->new_connectors);
			if (pp != NULL) {
				pr = pp->pr;
				snprintf(err, sizeof(err), "%s", pp->err);
				sp->new_connectors = pp->connectors;
				memset(&pp->connectors, 0, sizeof(pp->connectors));
			} else
				pr = kibana_parse_connectors(resp->body,
				    resp->body_len, &sp->new_connectors, err,
				    sizeof(err));
			sp->connectors_ok = pr == 0;
			break;
		case API_RULES:
			if (pp != NULL) {
				pr = pp->pr;
				snprintf(err, sizeof(err), "%s", pp->err);
				page = pp->page;
				memset(&pp->page, 0, sizeof(pp->page));
			} else
				pr = kibana_parse_rules_page(resp->body,
				    resp->body_len, &page, err, sizeof(err));
			if (pr < 0)
				break;
			if (page.n > 0) {
				struct kibana_rule *n = reallocarray(sp->new_rules,
				    sp->new_nrules + page.n, sizeof(*n));
				if (n == NULL) {
					kibana_rules_page_free(&page);
					pr = -ENOMEM;
					snprintf(err, sizeof(err), "out of memory");
					break;
				}
				sp->new_rules = n;
				for (i = 0; i < page.n; i++)
					sp->new_rules[sp->new_nrules++] = page.v[i];
				free(page.v);	/* elements moved */
				page.v = NULL;
				page.n = 0;
			}
			if (r->page == 1) {
				pages = kibana_rules_pages(page.total,
				    KIBANA_RULES_PER_PAGE);
				if (pages > RULES_MAX_PAGES)
					pages = RULES_MAX_PAGES;
				for (p = 2; p <= pages; p++)
					if (submit(c, t, API_RULES, sp, p) < 0) {
						sp->rules_failed = true;
						check_fail(c, API_RULES);
					}
			}
			kibana_rules_page_free(&page);
			break;
		case API_EVENT_LOG:
		case API_EXECUTE:
		case API__MAX:
			break;
		}
		if (pr < 0)
			res = RESULT_INVALID_RESPONSE;
	}
	if (res != RESULT_OK && r->api == API_RULES)
		sp->rules_failed = true;

	if (res == RESULT_INVALID_RESPONSE && err[0] != '\0')
		snprintf(detail, sizeof(detail), "unexpected response body: %s", err);
	else if (res != RESULT_OK && resp->result != HTTP_RESULT_OK)
		snprintf(detail, sizeof(detail), "%s", resp->error);
	else if (res != RESULT_OK)
		snprintf(detail, sizeof(detail), "HTTP status %ld", resp->status);
	else
		detail[0] = '\0';
	if (res != RESULT_OK)
		note_failure(t, r, res, resp, detail);

	/* The space list is known: poll every space in it. */
	if (r->api == API_SPACES) {
		if (t->spaces_ok) {
			for (i = 0; i < t->nspaces; i++)
				t->spaces[i]->gone = true;
			for (i = 0; i < t->new_spaces.n; i++) {
				struct space_state *s = space_find(t,
				    t->new_spaces.ids[i]);
				if (s == NULL)
					s = space_add(t, t->new_spaces.ids[i]);
				if (s == NULL) {
					check_fail(c, API_SPACES);
					continue;
				}
				s->gone = false;
			}
		}
		for (i = 0; i < t->nspaces; i++) {
			if (t->spaces[i]->gone)
				continue;
			submit_space(c, t, t->spaces[i]);
		}
		if (t->nspaces == 0) {
			/* Never had a space list: nothing else can be polled. */
			check_fail(c, API_CONNECTORS);
			check_fail(c, API_RULES);
		}
	}
	return res;
}

static int
submit(struct check *c, struct inventory *t, enum engine_api api,
    struct space_state *sp, int64_t page)
{
	struct http_request req;
	struct strbuf path, url;
	struct treq *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->t = t;
	r->api = api;
	r->sp = sp;
	r->page = page;

	strbuf_init(&path);
	strbuf_init(&url);
	kibana_space_path(&path, sp != NULL ? sp->id : "default", api_path(api));
	if (api == API_RULES)
		strbuf_printf(&path, "?per_page=%d&page=%lld",
		    KIBANA_RULES_PER_PAGE, (long long)page);
	strbuf_printf(&url, "%s%s", t->cfg->kibana.url, strbuf_str(&path));
	r->path = strbuf_steal(&path);
	r->url = strbuf_steal(&url);
	if (r->path == NULL || r->url == NULL) {
		treq_free(r);
		return -ENOMEM;
	}

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = r->url;
	req.ep = &t->cfg->kibana;
	/* The two answers that grow with Kibana are parsed off the loop. */
	if (api == API_CONNECTORS)
		req.prepare = prepare_connectors;
	else if (api == API_RULES)
		req.prepare = prepare_rules;
	req.discard = parsed_free;
	log_debug("GET %s (target %s)", r->path, t->cfg->name);
	ret = check_request(c, api, &req, request_done, treq_free, r);
	if (ret < 0)
		treq_free(r);
	return ret;
}

/* Connectors and the first page of rules of one space. */
static void
submit_space(struct check *c, struct inventory *t, struct space_state *sp)
{
	if (submit(c, t, API_CONNECTORS, sp, 0) < 0)
		check_fail(c, API_CONNECTORS);
	if (submit(c, t, API_RULES, sp, 1) < 0) {
		sp->rules_failed = true;
		check_fail(c, API_RULES);
	}
}

static void
inventory_run(struct check *c, void *arg)
{
	struct inventory *t = arg;
	size_t i;

	t->types_ok = t->spaces_ok = false;
	for (i = 0; i < t->nspaces; i++) {
		struct space_state *sp = t->spaces[i];

		sp->connectors_ok = sp->rules_failed = false;
		kibana_connector_list_free(&sp->new_connectors);
		rules_free(sp->new_rules, sp->new_nrules);
		sp->new_rules = NULL;
		sp->new_nrules = 0;
	}
	if (submit(c, t, API_CONNECTOR_TYPES, NULL, 0) < 0)
		check_fail(c, API_CONNECTOR_TYPES);
	if (t->cfg->spaces_all) {
		if (submit(c, t, API_SPACES, NULL, 0) < 0)
			check_fail(c, API_SPACES);
	} else {
		for (i = 0; i < t->nspaces; i++)
			submit_space(c, t, t->spaces[i]);
	}
}

static bool
sorted_contains(char **v, size_t n, const char *key)
{
	return n > 0 && bsearch(&key, v, n, sizeof(*v), cmp_str) != NULL;
}

static char *
join4(const char *a, const char *b, const char *c, const char *d)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "%s\n%s\n%s\n%s", a, b, c, d);
	return strbuf_steal(&sb);
}

static char *
join3(const char *a, const char *b, const char *c)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "%s\n%s%s%s", a, b, c != NULL ? "\n" : "",
	    c != NULL ? c : "");
	return strbuf_steal(&sb);
}

static void
keyset_add(struct keyset *ks, char *key)
{
	char **n;

	if (key == NULL)
		return;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 16;
		n = reallocarray(ks->v, cap, sizeof(*n));
		if (n == NULL) {
			free(key);
			return;
		}
		ks->v = n;
		ks->cap = cap;
	}
	ks->v[ks->n++] = key;
}

static void
keyset_sort(struct keyset *ks)
{
	if (ks->n > 1)
		qsort(ks->v, ks->n, sizeof(*ks->v), cmp_str);
}

/* Is connector id known in this space (its own list, or preconfigured)? */
static bool
connector_known(const struct keyset *ids, const struct keyset *pre, const char *id)
{
	return sorted_contains(ids->v, ids->n, id) ||
	    sorted_contains(pre->v, pre->n, id);
}

static const char *
boolstr(bool b)
{
	return b ? "true" : "false";
}

/* Types: a few dozen series, in the first slice. */
static void
rebuild_types(struct inventory *t)
{
	struct inventory_families *f = &t->fam;
	size_t i;

	for (i = 0; i < t->types.n; i++) {
		const struct kibana_connector_type *ct = &t->types.v[i];
		const char *v[3] = { t->cfg->name, ct->id,
		    ct->minimum_license_required };

		metrics_set(f->type_enabled, v, ct->enabled);
		metrics_set(f->type_enabled_in_license, v, ct->enabled_in_license);
		metrics_set(f->type_enabled_in_config, v, ct->enabled_in_config);
	}
}

/* Connector series; preconfigured ones once per target with space="*". */
static void
rebuild_connector(struct inventory *t, const struct space_state *sp,
    const struct kibana_connector *c)
{
	struct inventory_families *f = &t->fam;
	struct rebuild *rb = &t->rb;
	const char *space = c->preconfigured ? "*" : sp->id;
	const char *iv[8] = { t->cfg->name, space, c->id, c->name, c->type_id,
	    boolstr(c->preconfigured), boolstr(c->deprecated),
	    boolstr(c->system_action) };
	const char *cv[3] = { t->cfg->name, space, c->id };

	metrics_set(f->connector_info, iv, 1);
	metrics_set(f->connector_missing_secrets, cv, c->missing_secrets);
	/*
	 * Kibana computes referenced_by_count over all saved objects, not per
	 * space (injectExtraFindData in the actions plugin): every space
	 * reports the same global count of a preconfigured connector,
	 * exported once.
	 */
	metrics_set(f->connector_references, cv, (double)c->referenced_by_count);
	if (c->preconfigured)
		keyset_add(&rb->pre, strdup(c->id));
	if (c->missing_secrets)
		keyset_add(&rb->secrets, join3(space, c->id, NULL));
}

/* Rule actions whose connector is gone from the rule's space. */
static void
rebuild_rule(struct inventory *t, const struct space_state *sp,
    const struct kibana_rule *rule)
{
	struct rebuild *rb = &t->rb;
	size_t a;

	for (a = 0; a < rule->nactions; a++) {
		const char *cid = rule->action_ids[a];
		const char *v[5] = { t->cfg->name, sp->id, rule->id, rule->name,
		    cid };

		if (kibana_is_system_connector_id(cid) ||
		    connector_known(&rb->ids, &rb->pre, cid))
			continue;
		metrics_set(t->fam.rule_connector_missing, v, 1);
		keyset_add(&rb->missing, join4(sp->id, rule->id, cid,
		    rule->name));
	}
}

/*
 * The families the rewrite sweeps, one per slice; the last RB_SWEEP_TYPES
 * only once the types were read.
 */
#define RB_SWEEP_TYPES	3
static const size_t rb_sweep[] = {
	offsetof(struct inventory_families, connector_info),
	offsetof(struct inventory_families, connector_missing_secrets),
	offsetof(struct inventory_families, connector_references),
	offsetof(struct inventory_families, rule_connector_missing),
	offsetof(struct inventory_families, type_enabled),
	offsetof(struct inventory_families, type_enabled_in_license),
	offsetof(struct inventory_families, type_enabled_in_config),
};

/* Removes the target's series of one family that the rewrite did not set. */
static void
rebuild_sweep(struct inventory *t, size_t k)
{
	const char *match[8] = { t->cfg->name, NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL };
	struct metric_family *f;

	f = *(struct metric_family **)((char *)&t->fam + rb_sweep[k]);
	if (k >= ELEMENTSOF(rb_sweep) - RB_SWEEP_TYPES && !t->have_types)
		return;
	metrics_sweep(f, match, t->rb.epoch);
}

/*
 * Rewrites the target's inventory series from its last good data, about
 * budget connectors or rules per call: 1 while more is to come, 0 when
 * every series is set.  Series are set where they are and the ones not
 * set are swept at the end (rebuild_end), so a rendering between two
 * slices has every series, with its old value or its new one.
 */
static int
rebuild_step(struct inventory *t, size_t budget)
{
	struct rebuild *rb = &t->rb;
	struct space_state *sp;
	size_t done = 0, j;

	if (!rb->active) {
		rb->active = true;
		rb->epoch = metrics_epoch_next(t->metrics);
		if (t->have_types)
			rebuild_types(t);
	}
	for (; !rb->rules && rb->space < t->nspaces;
	    rb->space++, rb->item = 0, rb->freed = false) {
		sp = t->spaces[rb->space];
		if (!rb->freed) {
			done += space_free_old(sp);
			rb->freed = true;
		}
		for (; rb->item < sp->connectors.n; rb->item++, done++) {
			if (done >= budget)
				return 1;
			rebuild_connector(t, sp, &sp->connectors.v[rb->item]);
		}
	}
	if (!rb->rules) {
		keyset_sort(&rb->pre);
		rb->rules = true;
		rb->space = rb->item = 0;
	}
	for (; rb->space < t->nspaces; rb->space++, rb->item = 0) {
		sp = t->spaces[rb->space];
		if (!sp->have_rules || !sp->have_connectors)
			continue;
		if (rb->item == 0) {
			/* The space's connector ids, to look the actions up. */
			keys_free(rb->ids.v, rb->ids.n);
			memset(&rb->ids, 0, sizeof(rb->ids));
			for (j = 0; j < sp->connectors.n; j++)
				keyset_add(&rb->ids, strdup(sp->connectors.v[j].id));
			keyset_sort(&rb->ids);
			done += sp->connectors.n / 4;
		}
		for (; rb->item < sp->nrules; rb->item++, done++) {
			if (done >= budget)
				return 1;
			rebuild_rule(t, sp, &sp->rules[rb->item]);
		}
	}
	/* One family per slice: a sweep walks all of a family's series. */
	if (rb->swept < ELEMENTSOF(rb_sweep)) {
		rebuild_sweep(t, rb->swept++);
		return 1;
	}
	return 0;
}

/* Logs what is new since the last cycle. */
static void
rebuild_end(struct inventory *t)
{
	struct rebuild *rb = &t->rb;
	const char *name = t->cfg->name;
	size_t i;

	keyset_sort(&rb->missing);
	keyset_sort(&rb->secrets);

	/* Log what is new since the last cycle (state changes, not repeats). */
	for (i = 0; i < rb->missing.n; i++) {
		char *sp_id, *rule_id, *cid, *rule_name, *dup;
		const char *key = rb->missing.v[i];

		if ((i > 0 && strcmp(key, rb->missing.v[i - 1]) == 0) ||
		    sorted_contains(t->missing_keys, t->nmissing_keys, key))
			continue;
		if ((dup = strdup(key)) == NULL)
			continue;
		sp_id = dup;
		rule_id = strchr(sp_id, '\n');
		*rule_id++ = '\0';
		cid = strchr(rule_id, '\n');
		*cid++ = '\0';
		rule_name = strchr(cid, '\n');
		*rule_name++ = '\0';
		{
			struct log_field lf[] = {
				{ "TARGET", name }, { "SPACE", sp_id },
				{ "RULE_ID", rule_id }, { "RULE_NAME", rule_name },
				{ "CONNECTOR_ID", cid },
			};
			log_struct(LOG_WARNING, MSGID_RULE_CONNECTOR_MISSING, lf,
			    ELEMENTSOF(lf),
			    "rule '%s' (%s) in space '%s' of target '%s' uses connector '%s', which does not exist: its notifications are lost",
			    rule_name, rule_id, sp_id, name, cid);
		}
		free(dup);
	}
	for (i = 0; i < rb->secrets.n; i++) {
		char *sp_id, *cid, *dup;
		const char *key = rb->secrets.v[i];

		if ((i > 0 && strcmp(key, rb->secrets.v[i - 1]) == 0) ||
		    sorted_contains(t->secrets_keys, t->nsecrets_keys, key))
			continue;
		if ((dup = strdup(key)) == NULL)
			continue;
		sp_id = dup;
		cid = strchr(sp_id, '\n');
		*cid++ = '\0';
		{
			struct log_field lf[] = {
				{ "TARGET", name }, { "SPACE", sp_id },
				{ "CONNECTOR_ID", cid },
			};
			log_struct(LOG_WARNING, MSGID_CONNECTOR_MISSING_SECRETS, lf,
			    ELEMENTSOF(lf),
			    "connector '%s' in space '%s' of target '%s' is missing its secrets: it will fail when a rule uses it",
			    cid, sp_id, name);
		}
		free(dup);
	}
	keys_free(t->missing_keys, t->nmissing_keys);
	t->missing_keys = rb->missing.v;
	t->nmissing_keys = rb->missing.n;
	memset(&rb->missing, 0, sizeof(rb->missing));
	keys_free(t->secrets_keys, t->nsecrets_keys);
	t->secrets_keys = rb->secrets.v;
	t->nsecrets_keys = rb->secrets.n;
	memset(&rb->secrets, 0, sizeof(rb->secrets));
	rebuild_reset(rb);
}

/* The cycle's answers replace the last good data where they succeeded. */
static void
adopt_cycle(struct inventory *t)
{
	size_t i, o;

	if (t->types_ok) {
		kibana_connector_type_list_free(&t->types);
		t->types = t->new_types;
		memset(&t->new_types, 0, sizeof(t->new_types));
		t->have_types = true;
	}
	for (i = 0; i < t->nspaces; i++) {
		struct space_state *sp = t->spaces[i];

		/* The replaced data is freed slice by slice (rebuild_step). */
		if (sp->connectors_ok) {
			kibana_connector_list_free(&sp->old_connectors);
			sp->old_connectors = sp->connectors;
			sp->connectors = sp->new_connectors;
			memset(&sp->new_connectors, 0, sizeof(sp->new_connectors));
			sp->have_connectors = true;
		}
		if (!sp->rules_failed && !sp->gone) {
			rules_free(sp->old_rules, sp->old_nrules);
			sp->old_rules = sp->rules;
			sp->old_nrules = sp->nrules;
			sp->rules = sp->new_rules;
			sp->nrules = sp->new_nrules;
			sp->new_rules = NULL;
			sp->new_nrules = 0;
			sp->have_rules = true;
		}
	}
	/* Spaces that left the (successfully read) list vanish. */
	if (t->spaces_ok) {
		for (i = o = 0; i < t->nspaces; i++) {
			if (t->spaces[i]->gone)
				space_free(t->spaces[i]);
			else
				t->spaces[o++] = t->spaces[i];
		}
		t->nspaces = o;
	}
	kibana_space_list_free(&t->new_spaces);
}

/*
 * In slices (engine.h): the cycle's data is adopted in the first, the
 * series are rewritten over as many as it takes.  Nothing changes the
 * data meanwhile: the run goes on, so no new cycle starts.
 */
static int
inventory_finish(struct check *c, void *arg)
{
	struct inventory *t = arg;

	(void)c;
	if (!t->rb.active)
		adopt_cycle(t);
	if (rebuild_step(t, INVENTORY_SLICE) > 0)
		return 1;
	rebuild_end(t);
	log_failures(t);
	return 0;
}

void
inventory_summary(const struct inventory *t, struct inventory_summary *ret)
{
	size_t i, j;

	memset(ret, 0, sizeof(*ret));
	for (i = 0; i < t->nspaces; i++) {
		const struct space_state *sp = t->spaces[i];

		if (!sp->have_connectors)
			continue;
		ret->connectors += sp->connectors.n;
		for (j = 0; j < sp->connectors.n; j++)
			if (sp->connectors.v[j].missing_secrets)
				ret->failing++;
	}
}

/* ---- the status page ---------------------------------------------------- */

static json_t *
conn_item(const char *space, const struct kibana_connector *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "space", status_str(space, 0));
	json_object_set_new(o, "id", status_str(c->id, 0));
	json_object_set_new(o, "name", status_str(c->name, 0));
	json_object_set_new(o, "type", status_str(c->type_id, 0));
	json_object_set_new(o, "listed", json_true());
	return o;
}

/* Rule actions: every connector a rule uses once, with the rule. */
static void
status_rules(const struct inventory *t, struct status *st)
{
	const char *name = t->cfg->name;
	size_t i, j, a, b;

	for (i = 0; i < t->nspaces; i++) {
		const struct space_state *sp = t->spaces[i];

		if (!sp->have_rules)
			continue;
		for (j = 0; j < sp->nrules; j++) {
			const struct kibana_rule *r = &sp->rules[j];

			for (a = 0; a < r->nactions; a++) {
				const char *cid = r->action_ids[a];
				json_t *c;

				for (b = 0; b < a; b++)
					if (strcmp(r->action_ids[b], cid) == 0)
						break;
				if (b < a)
					continue;	/* the rule uses it twice */
				c = status_connector_find(st, name, sp->id, cid);
				if (c == NULL)
					c = status_connector_find(st, name, "*", cid);
				status_connector_rule(c, sp->id, r->id, r->name);
			}
		}
	}
}

static void
inventory_status(const void *arg, struct status *st)
{
	const struct inventory *t = arg;
	const char *name = t->cfg->name;
	json_t *tg = status_target(st, name), *c, *o;
	size_t i, j;

	for (i = 0; i < t->nspaces; i++) {
		const struct space_state *sp = t->spaces[i];

		for (j = 0; sp->have_connectors && j < sp->connectors.n; j++) {
			const struct kibana_connector *k = &sp->connectors.v[j];
			const char *space = k->preconfigured ? "*" : sp->id;

			if ((c = status_connector(st, name, space, k->id)) == NULL)
				continue;
			if (json_is_true(json_object_get(c, "listed")))
				continue;	/* preconfigured: once per space */
			json_object_set_new(c, "name", status_str(k->name, 0));
			json_object_set_new(c, "type", status_str(k->type_id, 0));
			json_object_set_new(c, "listed", json_true());
			json_object_set_new(c, "preconfigured",
			    json_boolean(k->preconfigured));
			json_object_set_new(c, "missing_secrets",
			    json_boolean(k->missing_secrets));
			if (k->missing_secrets)
				status_list_add(tg, "connectors_missing_secrets",
				    conn_item(space, k));
		}
	}
	status_rules(t, st);

	/* "space\nrule\nconnector\nrule name", sorted, maybe repeated */
	for (i = 0; i < t->nmissing_keys; i++) {
		const char *k = t->missing_keys[i], *rule, *cid, *rname;

		if (i > 0 && strcmp(k, t->missing_keys[i - 1]) == 0)
			continue;
		if ((rule = strchr(k, '\n')) == NULL ||
		    (cid = strchr(rule + 1, '\n')) == NULL ||
		    (rname = strchr(cid + 1, '\n')) == NULL)
			continue;
		o = json_object();
		json_object_set_new(o, "space", json_stringn(k, (size_t)(rule - k)));
		json_object_set_new(o, "rule_id",
		    json_stringn(rule + 1, (size_t)(cid - rule - 1)));
		json_object_set_new(o, "rule_name", status_str(rname + 1, 0));
		json_object_set_new(o, "connector_id",
		    json_stringn(cid + 1, (size_t)(rname - cid - 1)));
		status_list_add(tg, "rules_missing_connectors", o);
	}

	for (i = 0; t->have_types && i < t->types.n; i++) {
		const struct kibana_connector_type *ct = &t->types.v[i];

		if (ct->enabled)
			continue;
		o = json_object();
		json_object_set_new(o, "id", status_str(ct->id, 0));
		json_object_set_new(o, "enabled_in_config",
		    json_boolean(ct->enabled_in_config));
		json_object_set_new(o, "enabled_in_license",
		    json_boolean(ct->enabled_in_license));
		json_object_set_new(o, "minimum_license_required",
		    status_str(ct->minimum_license_required, 0));
		status_list_add(tg, "unavailable_connector_types", o);
	}
}

/* ---- the check's life across reloads ---------------------------------- */

static bool
inventory_same(const void *a, const void *b)
{
	const struct target_config *x = ((const struct inventory *)a)->cfg;
	const struct target_config *y = ((const struct inventory *)b)->cfg;
	size_t i;

	if (strcmp(x->name, y->name) != 0 ||
	    !config_endpoint_equal(&x->kibana, &y->kibana) ||
	    x->spaces_all != y->spaces_all || x->nspaces != y->nspaces ||
	    x->inventory_interval_usec != y->inventory_interval_usec ||
	    x->max_parallel_requests != y->max_parallel_requests)
		return false;
	for (i = 0; i < x->nspaces; i++)
		if (strcmp(x->spaces[i], y->spaces[i]) != 0)
			return false;
	return true;
}

static void
inventory_adopt(void *old, void *new)
{
	((struct inventory *)old)->cfg = ((struct inventory *)new)->cfg;
}

/* The target left the configuration: its inventory series go. */
static void
inventory_retire(void *arg)
{
	struct inventory *t = arg;
	const char *match[8] = { t->cfg->name };

	metrics_remove_each(&t->fam, sizeof(t->fam), match);
}

static const struct check_ops inventory_ops = {
	.kind = "inventory",
	.run = inventory_run,
	.finish = inventory_finish,
	.same = inventory_same,
	.adopt = inventory_adopt,
	.retire = inventory_retire,
	.status = inventory_status,
	.free = inventory_free,
};

struct check *
inventory_add(struct engine_build *b, struct metrics *m,
    const struct target_config *cfg)
{
	struct check_spec spec = {
		.ops = &inventory_ops,
		.key = { cfg->name },
		.target = cfg->name,
		.interval_usec = cfg->inventory_interval_usec,
		.jitter = INVENTORY_JITTER,
		.first = CHECK_FIRST_NOW,
	};

	if ((spec.impl = inventory_new(m, cfg)) == NULL)
		return NULL;
	return engine_build_add(b, &spec);
}
