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
#include <sys/queue.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "inventory.h"
#include "kcm.h"
#include "kibana.h"
#include "log.h"
#include "msgid.h"

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
};

struct treq;
TAILQ_HEAD(treq_list, treq);

/* The last outcome of one URL path, so failures are logged on change only. */
struct path_state {
	char			*path;
	enum kcm_result		 last;
};

struct target {
	struct kcm		*kcm;
	const struct target_config *cfg;
	struct http_limiter	*limiter;
	struct event		*timer;
	bool			 once;
	double			 last_ok;	/* end of last all-ok cycle, 0 = never */

	struct space_state	**spaces;
	size_t			 nspaces;
	struct kibana_connector_type_list types;
	bool			 have_types;

	/* cycle state */
	bool			 running;
	struct treq_list	 inflight;
	unsigned		 outstanding;
	bool			 attempted[API__MAX];
	bool			 failed[API__MAX];
	struct kibana_connector_type_list new_types;
	bool			 types_ok;
	struct kibana_space_list new_spaces;
	bool			 spaces_ok;

	/* for logging state changes only */
	struct path_state	*paths;		/* sorted by path */
	size_t			 npaths;
	char			**missing_keys;		/* sorted "space\nrule\nconn" */
	size_t			 nmissing_keys;
	char			**secrets_keys;		/* sorted "space\nconn" */
	size_t			 nsecrets_keys;

	target_cycle_fn		 cycle_hook;	/* eventlog.c */
	void			*cycle_hook_arg;
};

struct treq {
	struct target		*t;
	enum kcm_api		 api;
	struct space_state	*sp;		/* connectors, rules */
	int64_t			 page;		/* rules */
	char			*path;
	char			*url;
	struct http_call	*call;
	TAILQ_ENTRY(treq)	 entry;
};

static void cycle_finish(struct target *t);
static int submit(struct target *t, enum kcm_api api, struct space_state *sp,
    int64_t page);

const char *
target_name(const struct target *t)
{
	return t->cfg->name;
}

const struct target_config *
target_config(const struct target *t)
{
	return t->cfg;
}

struct http_limiter *
target_limiter(struct target *t)
{
	return t->limiter;
}

void
target_foreach_connector(const struct target *t, target_connector_fn fn,
    void *arg)
{
	size_t i, j;

	for (i = 0; i < t->nspaces; i++) {
		const struct space_state *sp = t->spaces[i];

		for (j = 0; j < sp->connectors.n; j++) {
			const struct kibana_connector *c = &sp->connectors.v[j];

			fn(c->preconfigured ? "*" : sp->id, c->id, c->name,
			    c->type_id, c->preconfigured, arg);
		}
	}
}

const char *
target_connector_name(const struct target *t, const char *space,
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

void
target_set_cycle_hook(struct target *t, target_cycle_fn fn, void *arg)
{
	t->cycle_hook = fn;
	t->cycle_hook_arg = arg;
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
	free(sp);
}

static struct space_state *
space_find(struct target *t, const char *id)
{
	size_t i;

	for (i = 0; i < t->nspaces; i++)
		if (strcmp(t->spaces[i]->id, id) == 0)
			return t->spaces[i];
	return NULL;
}

static struct space_state *
space_add(struct target *t, const char *id)
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

struct target *
target_new(struct kcm *k, const struct target_config *cfg)
{
	struct target *t;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->kcm = k;
	t->cfg = cfg;
	TAILQ_INIT(&t->inflight);
	t->limiter = http_limiter_new(k->http, cfg->max_parallel_requests);
	if (t->limiter == NULL)
		goto fail;
	if (!cfg->spaces_all)
		for (i = 0; i < cfg->nspaces; i++)
			if (space_find(t, cfg->spaces[i]) == NULL &&
			    space_add(t, cfg->spaces[i]) == NULL)
				goto fail;
	return t;
fail:
	target_free(t);
	return NULL;
}

static void
treq_free(struct treq *r)
{
	free(r->path);
	free(r->url);
	free(r);
}

void
target_free(struct target *t)
{
	struct treq *r;
	size_t i;

	if (t == NULL)
		return;
	while ((r = TAILQ_FIRST(&t->inflight)) != NULL) {
		TAILQ_REMOVE(&t->inflight, r, entry);
		http_call_cancel(r->call);
		treq_free(r);
	}
	if (t->timer != NULL)
		event_free(t->timer);
	http_limiter_free(t->limiter);
	for (i = 0; i < t->nspaces; i++)
		space_free(t->spaces[i]);
	free(t->spaces);
	kibana_connector_type_list_free(&t->types);
	kibana_connector_type_list_free(&t->new_types);
	kibana_space_list_free(&t->new_spaces);
	keys_free(t->missing_keys, t->nmissing_keys);
	keys_free(t->secrets_keys, t->nsecrets_keys);
	for (i = 0; i < t->npaths; i++)
		free(t->paths[i].path);
	free(t->paths);
	free(t);
}

static const char *
api_path(enum kcm_api api)
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

static int
path_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct path_state *)elem)->path);
}

/*
 * Records res as the latest outcome of path; returns the previous one, or
 * RESULT_OK for a path never seen (so a first success logs nothing).
 */
static enum kcm_result
path_swap(struct target *t, const char *path, enum kcm_result res)
{
	struct path_state *ps, *n;
	enum kcm_result prev;
	size_t lo = 0, hi = t->npaths, mid;
	char *copy;

	ps = t->npaths == 0 ? NULL :
	    bsearch(path, t->paths, t->npaths, sizeof(*t->paths), path_cmp);
	if (ps != NULL) {
		prev = ps->last;
		ps->last = res;
		return prev;
	}
	if (res == RESULT_OK)
		return RESULT_OK;	/* only failing paths need a record */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (strcmp(t->paths[mid].path, path) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if ((copy = strdup(path)) == NULL)
		return RESULT_OK;
	n = reallocarray(t->paths, t->npaths + 1, sizeof(*n));
	if (n == NULL) {
		free(copy);
		return RESULT_OK;
	}
	t->paths = n;
	memmove(&t->paths[lo + 1], &t->paths[lo],
	    (t->npaths - lo) * sizeof(*t->paths));
	t->paths[lo].path = copy;
	t->paths[lo].last = res;
	t->npaths++;
	return RESULT_OK;
}

/* Logs a failed request once per change of state of its path, and recovery. */
static void
note_result(struct target *t, struct treq *r, enum kcm_result res,
    const struct http_response *resp, const char *detail)
{
	char status[16];
	struct log_field f[5];
	enum kcm_result prev;

	prev = path_swap(t, r->path, res);
	if (res == prev)
		return;
	snprintf(status, sizeof(status), "%ld", resp != NULL ? resp->status : 0L);
	f[0] = (struct log_field){ "TARGET", t->cfg->name };
	f[1] = (struct log_field){ "URL_PATH", r->path };
	f[2] = (struct log_field){ "RESULT", kcm_result_to_string(res) };
	f[3] = (struct log_field){ "HTTP_STATUS", status };
	f[4] = (struct log_field){ "ERROR_MESSAGE", detail };

	if (res == RESULT_OK)
		log_struct(LOG_INFO, MSGID_TARGET_RECOVERED, f, 4,
		    "Kibana target '%s' answers %s again", t->cfg->name, r->path);
	else
		log_struct(LOG_WARNING, MSGID_TARGET_UNREACHABLE, f, 5,
		    "request to Kibana target '%s' failed (%s): %s",
		    t->cfg->name, kcm_result_to_string(res), detail);
}

static void
request_done(const struct http_response *resp, void *arg)
{
	struct treq *r = arg;
	struct target *t = r->t;
	struct space_state *sp = r->sp;
	struct kibana_rules_page page;
	enum kcm_result res;
	char err[256], detail[512];
	int64_t pages, p;
	size_t i;
	int pr = 0;

	TAILQ_REMOVE(&t->inflight, r, entry);
	res = kcm_classify(resp);
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
			pr = kibana_parse_connectors(resp->body, resp->body_len,
			    &sp->new_connectors, err, sizeof(err));
			sp->connectors_ok = pr == 0;
			break;
		case API_RULES:
			pr = kibana_parse_rules_page(resp->body, resp->body_len,
			    &page, err, sizeof(err));
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
					if (submit(t, API_RULES, sp, p) < 0)
						sp->rules_failed = t->failed[API_RULES] = true;
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
	if (res != RESULT_OK) {
		t->failed[r->api] = true;
		if (r->api == API_RULES)
			sp->rules_failed = true;
	}
	kcm_account(t->kcm, t->cfg->name, r->api, res, resp->duration_usec);

	if (res == RESULT_INVALID_RESPONSE && err[0] != '\0')
		snprintf(detail, sizeof(detail), "unexpected response body: %s", err);
	else if (res != RESULT_OK && resp->result != HTTP_RESULT_OK)
		snprintf(detail, sizeof(detail), "%s", resp->error);
	else if (res != RESULT_OK)
		snprintf(detail, sizeof(detail), "HTTP status %ld", resp->status);
	else
		detail[0] = '\0';
	note_result(t, r, res, resp, detail);

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
					t->failed[API_SPACES] = true;
					continue;
				}
				s->gone = false;
			}
		}
		for (i = 0; i < t->nspaces; i++) {
			if (t->spaces[i]->gone)
				continue;
			if (submit(t, API_CONNECTORS, t->spaces[i], 0) < 0)
				t->failed[API_CONNECTORS] = true;
			if (submit(t, API_RULES, t->spaces[i], 1) < 0)
				t->spaces[i]->rules_failed = t->failed[API_RULES] = true;
		}
		if (t->nspaces == 0) {
			/* Never had a space list: nothing else can be polled. */
			t->attempted[API_CONNECTORS] = t->attempted[API_RULES] = true;
			t->failed[API_CONNECTORS] = t->failed[API_RULES] = true;
		}
	}

	treq_free(r);
	if (--t->outstanding == 0)
		cycle_finish(t);
}

static int
submit(struct target *t, enum kcm_api api, struct space_state *sp, int64_t page)
{
	struct http_request req;
	struct strbuf path, url;
	struct treq *r;
	int ret;

	t->attempted[api] = true;
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
	ret = http_client_submit(t->kcm->http, t->limiter, &req, request_done,
	    r, &r->call);
	if (ret < 0) {
		treq_free(r);
		return ret;
	}
	TAILQ_INSERT_TAIL(&t->inflight, r, entry);
	t->outstanding++;
	log_debug("GET %s (target %s)", r->path, t->cfg->name);
	return 0;
}

static void
cycle_start(struct target *t)
{
	size_t i;

	if (t->running) {
		log_warning("target '%s': previous poll still running, skipping this one",
		    t->cfg->name);
		return;
	}
	t->running = true;
	memset(t->attempted, 0, sizeof(t->attempted));
	memset(t->failed, 0, sizeof(t->failed));
	t->types_ok = t->spaces_ok = false;
	for (i = 0; i < t->nspaces; i++) {
		struct space_state *sp = t->spaces[i];

		sp->connectors_ok = sp->rules_failed = false;
		kibana_connector_list_free(&sp->new_connectors);
		rules_free(sp->new_rules, sp->new_nrules);
		sp->new_rules = NULL;
		sp->new_nrules = 0;
	}

	/* Hold one reference so no completion can end the cycle early. */
	t->outstanding++;
	if (submit(t, API_CONNECTOR_TYPES, NULL, 0) < 0)
		t->failed[API_CONNECTOR_TYPES] = true;
	if (t->cfg->spaces_all) {
		if (submit(t, API_SPACES, NULL, 0) < 0)
			t->failed[API_SPACES] = true;
	} else {
		for (i = 0; i < t->nspaces; i++) {
			if (submit(t, API_CONNECTORS, t->spaces[i], 0) < 0)
				t->failed[API_CONNECTORS] = true;
			if (submit(t, API_RULES, t->spaces[i], 1) < 0)
				t->spaces[i]->rules_failed = t->failed[API_RULES] = true;
		}
	}
	if (--t->outstanding == 0)
		cycle_finish(t);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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

struct keyset {
	char	**v;
	size_t	 n, cap;
};

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

/* Rebuilds every inventory series of the target from its last good data. */
static void
rebuild_metrics(struct target *t)
{
	struct kcm_families *f = &t->kcm->fam;
	const char *name = t->cfg->name;
	const char *match[8] = { name, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	struct keyset pre = { 0 }, missing = { 0 }, secrets = { 0 };
	size_t i, j, a;

	metrics_remove(f->connector_info, match);
	metrics_remove(f->connector_missing_secrets, match);
	metrics_remove(f->connector_references, match);
	metrics_remove(f->rule_connector_missing, match);
	if (t->have_types) {
		metrics_remove(f->type_enabled, match);
		metrics_remove(f->type_enabled_in_license, match);
		metrics_remove(f->type_enabled_in_config, match);
		for (i = 0; i < t->types.n; i++) {
			const struct kibana_connector_type *ct = &t->types.v[i];
			const char *v[3] = { name, ct->id, ct->minimum_license_required };

			metrics_set(f->type_enabled, v, ct->enabled);
			metrics_set(f->type_enabled_in_license, v, ct->enabled_in_license);
			metrics_set(f->type_enabled_in_config, v, ct->enabled_in_config);
		}
	}

	/* Connectors; preconfigured ones once per target with space="*". */
	for (i = 0; i < t->nspaces; i++) {
		struct space_state *sp = t->spaces[i];

		for (j = 0; j < sp->connectors.n; j++) {
			const struct kibana_connector *c = &sp->connectors.v[j];
			const char *space = c->preconfigured ? "*" : sp->id;
			const char *iv[8] = { name, space, c->id, c->name,
			    c->type_id, boolstr(c->preconfigured),
			    boolstr(c->deprecated), boolstr(c->system_action) };
			const char *cv[3] = { name, space, c->id };

			metrics_set(f->connector_info, iv, 1);
			metrics_set(f->connector_missing_secrets, cv,
			    c->missing_secrets);
			if (c->preconfigured) {
				/* Summed over spaces: each counts its own rules. */
				metrics_add(f->connector_references, cv,
				    (double)c->referenced_by_count);
				keyset_add(&pre, strdup(c->id));
			} else {
				metrics_set(f->connector_references, cv,
				    (double)c->referenced_by_count);
			}
			if (c->missing_secrets)
				keyset_add(&secrets, join3(space, c->id, NULL));
		}
	}
	keyset_sort(&pre);

	/* Rule actions whose connector is gone from the rule's space. */
	for (i = 0; i < t->nspaces; i++) {
		struct space_state *sp = t->spaces[i];
		struct keyset ids = { 0 };

		if (!sp->have_rules || !sp->have_connectors)
			continue;
		for (j = 0; j < sp->connectors.n; j++)
			keyset_add(&ids, strdup(sp->connectors.v[j].id));
		keyset_sort(&ids);
		for (j = 0; j < sp->nrules; j++) {
			const struct kibana_rule *rule = &sp->rules[j];

			for (a = 0; a < rule->nactions; a++) {
				const char *cid = rule->action_ids[a];
				const char *v[5] = { name, sp->id, rule->id,
				    rule->name, cid };

				if (kibana_is_system_connector_id(cid) ||
				    connector_known(&ids, &pre, cid))
					continue;
				metrics_set(f->rule_connector_missing, v, 1);
				keyset_add(&missing, join4(sp->id, rule->id, cid,
				    rule->name));
			}
		}
		keys_free(ids.v, ids.n);
	}
	keyset_sort(&missing);
	keyset_sort(&secrets);

	/* Log what is new since the last cycle (state changes, not repeats). */
	for (i = 0; i < missing.n; i++) {
		char *sp_id, *rule_id, *cid, *rule_name, *dup;

		if ((i > 0 && strcmp(missing.v[i], missing.v[i - 1]) == 0) ||
		    sorted_contains(t->missing_keys, t->nmissing_keys, missing.v[i]))
			continue;
		if ((dup = strdup(missing.v[i])) == NULL)
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
	for (i = 0; i < secrets.n; i++) {
		char *sp_id, *cid, *dup;

		if ((i > 0 && strcmp(secrets.v[i], secrets.v[i - 1]) == 0) ||
		    sorted_contains(t->secrets_keys, t->nsecrets_keys, secrets.v[i]))
			continue;
		if ((dup = strdup(secrets.v[i])) == NULL)
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
	t->missing_keys = missing.v;
	t->nmissing_keys = missing.n;
	keys_free(t->secrets_keys, t->nsecrets_keys);
	t->secrets_keys = secrets.v;
	t->nsecrets_keys = secrets.n;
	keys_free(pre.v, pre.n);
}

static void
cycle_finish(struct target *t)
{
	struct kcm_families *f = &t->kcm->fam;
	bool all_ok = true;
	double now = realtime_seconds();
	size_t i, o;
	unsigned api;

	/* Adopt what succeeded; keep the last good data for the rest. */
	if (t->types_ok) {
		kibana_connector_type_list_free(&t->types);
		t->types = t->new_types;
		memset(&t->new_types, 0, sizeof(t->new_types));
		t->have_types = true;
	}
	for (i = 0; i < t->nspaces; i++) {
		struct space_state *sp = t->spaces[i];

		if (sp->connectors_ok) {
			kibana_connector_list_free(&sp->connectors);
			sp->connectors = sp->new_connectors;
			memset(&sp->new_connectors, 0, sizeof(sp->new_connectors));
			sp->have_connectors = true;
		}
		if (!sp->rules_failed && !sp->gone) {
			rules_free(sp->rules, sp->nrules);
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

	rebuild_metrics(t);
	if (t->cycle_hook != NULL)
		t->cycle_hook(t->cycle_hook_arg);

	for (api = 0; api < API__MAX; api++) {
		const char *v[2] = { t->cfg->name, kcm_api_to_string(api) };

		if (!t->attempted[api])
			continue;
		metrics_set(f->up, v, t->failed[api] ? 0 : 1);
		if (t->failed[api])
			all_ok = false;
		else
			metrics_set(f->last_success, v, now);
	}
	if (all_ok)
		t->last_ok = now;
	t->running = false;
	kcm_cycle_done(t->kcm, t, all_ok);
	if (t->once) {
		t->once = false;	/* one cycle only */
		kcm_once_release(t->kcm);
	}
}

void
target_summary(const struct target *t, struct target_summary *ret)
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
	ret->last_ok = t->last_ok;
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cycle_start(arg);
}

int
target_start(struct target *t, bool once)
{
	struct timeval tv;
	uint64_t iv = t->cfg->inventory_interval_usec;

	t->once = once;
	if (once)
		kcm_once_hold(t->kcm);
	else {
		t->timer = event_new(t->kcm->base, -1, EV_PERSIST, timer_fired, t);
		if (t->timer == NULL)
			return -ENOMEM;
		tv.tv_sec = (time_t)(iv / USEC_PER_SEC);
		tv.tv_usec = (suseconds_t)(iv % USEC_PER_SEC);
		if (event_add(t->timer, &tv) < 0)
			return -EIO;
	}
	cycle_start(t);
	return 0;
}
