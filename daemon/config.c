/*
 * config.c: the YAML configuration file: its top level (listen, log_*,
 * targets, probes), the targets with their spaces and event_log, and
 * loading, all-or-nothing, with the complete list of errors.  The rest of
 * the configuration module:
 *
 *   config_endpoint.c  kibana: and elasticsearch: (URL, credentials, TLS)
 *   config_probes.c    probes:
 *   schema.c           walking a mapping against a table of keys; values
 *   ytree.c            YAML bytes -> node tree with line:column marks
 *   yjson.c            YAML subtree -> JSON (probe params)
 *   secret.c           reading secret files
 *
 * Loading happens in three steps:
 *
 *  1. The file is opened without blocking and refused unless it is a
 *     regular file, then read whole; ytree.c turns it into a small tree of
 *     nodes, each remembering its line and column.
 *  2. Every mapping is walked against its table of known keys (struct
 *     schema_key).  Adding a key is one table line.
 *  3. Cross-key checks: credentials, secret and TLS files per endpoint,
 *     probes against targets.
 *
 * Every problem, the loader's included, goes through one struct
 * ytree_report into the error list (config_errlist_add()), and parsing goes on,
 * so a single run reports all of them.  The content of secret files never
 * reaches an error message, and neither do URLs (they may hold userinfo).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kibana.h"
#include "config_endpoint.h"
#include "config_probes.h"
#include "log.h"
#include "schema.h"
#include "util.h"
#include "ytree.h"

#define CONFIG_MAX_FILE		(4 * 1024 * 1024)
#define TARGET_NAME_MAX		64
#define WHERE_MAX		128	/* e.g. "targets[12].kibana" */

#define INVENTORY_MIN		CONFIG_INTERVAL_MIN
#define INVENTORY_MAX		(24 * 3600 * USEC_PER_SEC)
#define PARALLEL_MIN		1
#define PARALLEL_MAX		1000

/* ---- errors ----------------------------------------------------------- */

/*
 * The struct ytree_report callback at the end of the chain: every problem
 * of this load, from the YAML loader or the schema, becomes one struct
 * config_error.
 */
void
config_errlist_add(void *userdata, unsigned line, unsigned column,
    char *message)
{
	struct config_errlist *el = userdata;
	struct config_error *v;
	char *file;

	file = strdup(el->path);
	v = reallocarray(el->errs->v, el->errs->n + 1, sizeof(*v));
	if (v != NULL)
		el->errs->v = v;
	if (message == NULL || file == NULL || v == NULL) {
		free(message);
		free(file);
		el->oom = true;
		return;
	}
	v[el->errs->n].file = file;
	v[el->errs->n].line = line;
	v[el->errs->n].column = column;
	v[el->errs->n].message = message;
	el->errs->n++;
}

/* Stable insertion sort of v[from..n) by position: the file's reading order. */
void
config_errors_sort(struct config_errors *errs, size_t from)
{
	struct config_error e;
	size_t i, j;

	for (i = from + 1; i < errs->n; i++) {
		e = errs->v[i];
		for (j = i; j > from && (errs->v[j - 1].line > e.line ||
		    (errs->v[j - 1].line == e.line &&
		    errs->v[j - 1].column > e.column)); j--)
			errs->v[j] = errs->v[j - 1];
		errs->v[j] = e;
	}
}

/* ---- targets ---------------------------------------------------------- */

enum {
	TARGET_NAME,
	TARGET_KIBANA,
	TARGET_SPACES,
	TARGET_INVENTORY_INTERVAL,
	TARGET_MAX_PARALLEL_REQUESTS,
	TARGET_ELASTICSEARCH,
	TARGET_EVENT_LOG,
	TARGET_NKEYS,
};

static int
target_parse_name(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct target_config *t = ctx;
	struct ytree_shown sh;
	const char *s;
	size_t len;

	(void)where;
	s = schema_expect_string(p, spec->key, v);
	if (s == NULL)
		return -EINVAL;
	len = strlen(s);
	if (len > TARGET_NAME_MAX) {
		ytree_error(&p->rep, v, "'%s': longer than %d characters",
		    spec->key, TARGET_NAME_MAX);
		return -EINVAL;
	}
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.-") != len) {
		ytree_error(&p->rep, v, "'%s': invalid target name '%s' (use "
		    "only A-Z, a-z, 0-9, '_', '.' and '-')", spec->key,
		    ytree_show(&sh, s));
		return -EINVAL;
	}
	return schema_string(p, spec->key, v, &t->name);
}

static int
target_parse_kibana(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct target_config *t = ctx;
	char sub[WHERE_MAX];

	snprintf(sub, sizeof(sub), "%s.%s", where, spec->key);
	return config_endpoint_parse(p, spec->key, v, sub, &t->kibana);
}

/* ---- elasticsearch: and event_log: (issue 3) -------------------------- */

#define EVENT_LOG_INTERVAL_MIN	CONFIG_INTERVAL_MIN
#define EVENT_LOG_INTERVAL_MAX	(24 * 3600 * USEC_PER_SEC)
#define EVENT_LOG_LOOKBACK_MAX	(7 * 24 * 3600 * USEC_PER_SEC)
#define EVENT_LOG_SETTLE_MAX	(3600 * USEC_PER_SEC)
#define EVENT_LOG_RETENTION_MIN	CONFIG_RETENTION_MIN
#define EVENT_LOG_RETENTION_MAX	(90 * 24 * 3600 * USEC_PER_SEC)
#define EVENT_LOG_INDEX_MAX	255

enum {
	EL_INDEX,
	EL_INTERVAL,
	EL_LOOKBACK,
	EL_SETTLE_DELAY,
	EL_SERIES_RETENTION,
	EL_NKEYS,
};

static int
target_parse_elasticsearch(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct target_config *t = ctx;
	char sub[WHERE_MAX];

	snprintf(sub, sizeof(sub), "%s.%s", where, spec->key);
	return config_endpoint_parse(p, spec->key, v, sub, &t->elasticsearch);
}

static int
event_log_parse_index(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct event_log_config *el = ctx;
	struct ytree_shown sh;
	const char *s, *c;

	(void)where;
	s = schema_expect_string(p, spec->key, v);
	if (s == NULL)
		return -EINVAL;
	if (*s == '\0' || strlen(s) > EVENT_LOG_INDEX_MAX) {
		ytree_error(&p->rep, v, "'%s': must be 1 to %d characters",
		    spec->key, EVENT_LOG_INDEX_MAX);
		return -EINVAL;
	}
	for (c = s; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f ||
		    strchr("/\\\"?#<>|", *c) != NULL) {
			ytree_error(&p->rep, v, "'%s': invalid index "
			    "expression '%s' (no spaces, control characters or "
			    "any of / \\ \" ? # < > |)", spec->key,
			    ytree_show(&sh, s));
			return -EINVAL;
		}
	free(el->index);
	el->index = NULL;
	return schema_string(p, spec->key, v, &el->index);
}

static const struct schema_key event_log_keys[EL_NKEYS] = {
	[EL_INDEX] = SCHEMA_KEY_CUSTOM("index", event_log_parse_index, false),
	[EL_INTERVAL] = SCHEMA_KEY_RANGE("interval", SCHEMA_DURATION,
	    struct event_log_config, interval_usec, EVENT_LOG_INTERVAL_MIN,
	    EVENT_LOG_INTERVAL_MAX),
	[EL_LOOKBACK] = SCHEMA_KEY_RANGE("lookback", SCHEMA_DURATION,
	    struct event_log_config, lookback_usec, 0, EVENT_LOG_LOOKBACK_MAX),
	[EL_SETTLE_DELAY] = SCHEMA_KEY_RANGE("settle_delay", SCHEMA_DURATION,
	    struct event_log_config, settle_delay_usec, 0,
	    EVENT_LOG_SETTLE_MAX),
	[EL_SERIES_RETENTION] = SCHEMA_KEY_RANGE("series_retention",
	    SCHEMA_DURATION, struct event_log_config, series_retention_usec,
	    EVENT_LOG_RETENTION_MIN, EVENT_LOG_RETENTION_MAX),
};

static int
target_parse_event_log(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct target_config *t = ctx;
	struct schema_seen seen[EL_NKEYS];
	char sub[WHERE_MAX];

	if (v->kind != YTREE_MAPPING) {
		ytree_error(&p->rep, v, "'%s': expected a mapping, got %s",
		    spec->key, ytree_describe(v));
		return -EINVAL;
	}
	snprintf(sub, sizeof(sub), "%s.%s", where, spec->key);
	return schema_mapping(p, v, sub, event_log_keys, EL_NKEYS,
	    &t->event_log, seen);
}

static void
event_log_init(struct event_log_config *el)
{
	memset(el, 0, sizeof(*el));
	el->interval_usec = CONFIG_DEFAULT_EVENT_LOG_INTERVAL_USEC;
	el->lookback_usec = CONFIG_DEFAULT_EVENT_LOG_LOOKBACK_USEC;
	el->settle_delay_usec = CONFIG_DEFAULT_EVENT_LOG_SETTLE_USEC;
	el->series_retention_usec = CONFIG_DEFAULT_EVENT_LOG_RETENTION_USEC;
}

static int
target_parse_spaces(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct target_config *t = ctx;
	const struct ytree_node *item;
	struct ytree_shown sh, sh2;
	const char *s;
	char **spaces;
	size_t i, j, n = 0;
	bool ok = true;

	(void)where;
	if (v->kind == YTREE_SCALAR && !ytree_is_null(v)) {
		if (strcmp(v->value, "all") == 0) {
			t->spaces_all = true;
			return 0;
		}
		ytree_error(&p->rep, v, "'%s': expected 'all' or a list of "
		    "space ids, got '%s' (write [%s] for a single space)",
		    spec->key, ytree_show(&sh, v->value), ytree_show(&sh2,
		    v->value));
		return -EINVAL;
	}
	if (v->kind != YTREE_SEQUENCE) {
		ytree_error(&p->rep, v, "'%s': expected 'all' or a list of "
		    "space ids, got %s", spec->key, ytree_describe(v));
		return -EINVAL;
	}
	if (v->nchild == 0) {
		ytree_error(&p->rep, v, "'%s': the list must not be empty (use "
		    "'all' for every space)", spec->key);
		return -EINVAL;
	}
	spaces = calloc(v->nchild, sizeof(*spaces));
	if (spaces == NULL) {
		p->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i < v->nchild; i++) {
		item = v->child[i];
		s = schema_expect_scalar(p, spec->key, item, "a space id");
		if (s == NULL) {
			ok = false;
			continue;
		}
		if (!kibana_space_id_valid(s)) {
			ytree_error(&p->rep, item, "'%s': invalid space id "
			    "'%s' (use only a-z, 0-9, '_' and '-')", spec->key,
			    ytree_show(&sh, s));
			ok = false;
			continue;
		}
		for (j = 0; j < i; j++)
			if (v->child[j]->kind == YTREE_SCALAR &&
			    strcmp(v->child[j]->value, s) == 0)
				break;
		if (j < i) {
			ytree_error(&p->rep, item, "'%s': duplicate space '%s' "
			    "(first listed at line %u)", spec->key, s,
			    v->child[j]->line);
			ok = false;
			continue;
		}
		spaces[n] = schema_strdup(p, s);
		if (spaces[n] == NULL) {
			ok = false;
			break;
		}
		n++;
	}
	if (!ok) {
		for (i = 0; i < n; i++)
			free(spaces[i]);
		free(spaces);
		return -EINVAL;
	}
	t->spaces = spaces;
	t->nspaces = n;
	t->spaces_all = false;
	return 0;
}

static const struct schema_key target_keys[TARGET_NKEYS] = {
	[TARGET_NAME] = SCHEMA_KEY_CUSTOM("name", target_parse_name, true),
	[TARGET_KIBANA] = SCHEMA_KEY_CUSTOM("kibana", target_parse_kibana,
	    true),
	[TARGET_SPACES] = SCHEMA_KEY_CUSTOM("spaces", target_parse_spaces,
	    false),
	[TARGET_INVENTORY_INTERVAL] = SCHEMA_KEY_RANGE("inventory_interval",
	    SCHEMA_DURATION, struct target_config, inventory_interval_usec,
	    INVENTORY_MIN, INVENTORY_MAX),
	[TARGET_MAX_PARALLEL_REQUESTS] = SCHEMA_KEY_RANGE(
	    "max_parallel_requests", SCHEMA_UINT, struct target_config,
	    max_parallel_requests, PARALLEL_MIN, PARALLEL_MAX),
	[TARGET_ELASTICSEARCH] = SCHEMA_KEY_CUSTOM("elasticsearch",
	    target_parse_elasticsearch, false),
	[TARGET_EVENT_LOG] = SCHEMA_KEY_CUSTOM("event_log",
	    target_parse_event_log, false),
};

static void
target_init(struct target_config *t)
{
	memset(t, 0, sizeof(*t));
	config_endpoint_init(&t->kibana);
	config_endpoint_init(&t->elasticsearch);
	event_log_init(&t->event_log);
	t->spaces_all = true;
	t->inventory_interval_usec = CONFIG_DEFAULT_INVENTORY_USEC;
	t->max_parallel_requests = CONFIG_DEFAULT_MAX_PARALLEL;
}

static void
target_done(struct target_config *t)
{
	size_t i;

	free(t->name);
	config_endpoint_done(&t->kibana);
	config_endpoint_done(&t->elasticsearch);
	free(t->event_log.index);
	for (i = 0; i < t->nspaces; i++)
		free(t->spaces[i]);
	free(t->spaces);
}

static int
target_set_default(struct target_config *t)
{
	target_init(t);
	t->name = strdup(CONFIG_DEFAULT_TARGET_NAME);
	t->kibana.url = strdup(CONFIG_DEFAULT_KIBANA_URL);
	t->elasticsearch.url = strdup(CONFIG_DEFAULT_ES_URL);
	if (t->name == NULL || t->kibana.url == NULL ||
	    t->elasticsearch.url == NULL)
		return -ENOMEM;
	return 0;
}

/* One list item of `targets`; *ret_name is its `name` value node. */
static int
target_parse(struct schema *p, const struct ytree_node *v, const char *where,
    struct target_config *t, const struct ytree_node **ret_name)
{
	struct schema_seen seen[TARGET_NKEYS];

	if (v->kind != YTREE_MAPPING) {
		ytree_error(&p->rep, v, "'%s': expected a mapping, got %s",
		    where, ytree_describe(v));
		return -EINVAL;
	}
	t->pos.line = v->line;
	t->pos.column = v->column;
	schema_mapping(p, v, where, target_keys, TARGET_NKEYS, t, seen);
	*ret_name = seen[TARGET_NAME].ok ? seen[TARGET_NAME].value : NULL;
	return 0;
}

static int
config_defer_probes(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	(void)p;
	(void)spec;
	(void)v;
	(void)ctx;
	(void)where;
	return 0;
}

/* ---- the top level ---------------------------------------------------- */

enum {
	TOP_LISTEN,
	TOP_LOG_LEVEL,
	TOP_LOG_TARGET,
	TOP_TARGETS,
	TOP_PROBES,
	TOP_STATE_DIRECTORY,
	TOP_WEB_CONFIG_FILE,
	TOP_MAX_CONNECTIONS,
	TOP_NKEYS,
};

static int
listen_parse_one(struct schema *p, const char *key, const struct ytree_node *v,
    struct listen_config *ret)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *s, *rbracket, *colon;
	struct ytree_shown sh, sh2;
	char *host = NULL;
	uint64_t port;
	bool v6;

	s = schema_expect_scalar(p, key, v, "an address:port");
	if (s == NULL)
		return -EINVAL;
	v6 = s[0] == '[';
	if (v6) {
		rbracket = strchr(s, ']');
		if (rbracket == NULL) {
			ytree_error(&p->rep, v, "'%s': missing ']' in '%s'",
			    key, ytree_show(&sh, s));
			return -EINVAL;
		}
		host = strndup(s + 1, (size_t)(rbracket - s - 1));
		colon = rbracket + 1;
		if (*colon != ':')
			colon = NULL;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL)
			host = strndup(s, (size_t)(colon - s));
	}
	if (colon == NULL) {
		ytree_error(&p->rep, v, "'%s': missing port in '%s' (use "
		    "host:port or [ipv6]:port)", key, ytree_show(&sh, s));
		goto fail;
	}
	if (host == NULL) {
		p->oom = true;
		return -ENOMEM;
	}
	if (!v6 && strchr(host, ':') != NULL) {
		ytree_error(&p->rep, v, "'%s': write IPv6 addresses in "
		    "brackets, e.g. [::1]:9479", key);
		goto fail;
	}
	if (*host == '\0') {
		ytree_error(&p->rep, v, "'%s': missing host in '%s' (use e.g. "
		    "0.0.0.0:%s for every address)", key, ytree_show(&sh, s),
		    ytree_show(&sh2, colon + 1));
		goto fail;
	}
	if (v6 ? inet_pton(AF_INET6, host, addr) != 1 :
	    strcmp(host, "localhost") != 0 &&
	    inet_pton(AF_INET, host, addr) != 1) {
		ytree_error(&p->rep, v, "'%s': host '%s' is not an IP address "
		    "or 'localhost'", key, ytree_show(&sh, host));
		goto fail;
	}
	if (parse_uint64(colon + 1, &port) < 0 || port > 65535) {
		ytree_error(&p->rep, v, "'%s': invalid port '%s' (must be "
		    "0-65535)", key, ytree_show(&sh, colon + 1));
		goto fail;
	}
	ret->host = host;
	ret->port = (uint16_t)port;
	return 0;
fail:
	free(host);
	return -EINVAL;
}

static int
config_parse_listen(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct kcm_config *cfg = ctx;
	const struct ytree_node *item, **at;
	struct listen_config *list;
	size_t i, j, n, nl = 0;
	struct ytree_shown sh;
	bool ok = true;

	(void)where;
	if (v->kind == YTREE_MAPPING) {
		ytree_error(&p->rep, v, "'%s': expected an address:port or a "
		    "list of them, got a mapping", spec->key);
		return -EINVAL;
	}
	n = v->kind == YTREE_SCALAR ? 1 : v->nchild;
	if (n == 0) {
		ytree_error(&p->rep, v, "'%s': the list must not be empty",
		    spec->key);
		return -EINVAL;
	}
	list = calloc(n, sizeof(*list));
	at = calloc(n, sizeof(*at));
	if (list == NULL || at == NULL) {
		free(list);
		free(at);
		p->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		item = v->kind == YTREE_SCALAR ? v : v->child[i];
		if (listen_parse_one(p, spec->key, item, &list[nl]) < 0) {
			ok = false;
			continue;
		}
		for (j = 0; j < nl; j++)
			if (list[j].port != 0 && list[j].port == list[nl].port &&
			    strcmp(list[j].host, list[nl].host) == 0)
				break;
		if (j < nl) {
			ytree_error(&p->rep, item, "'%s': duplicate address "
			    "'%s' (first listed at line %u)", spec->key,
			    ytree_show(&sh, item->value), at[j]->line);
			free(list[nl].host);
			ok = false;
			continue;
		}
		at[nl++] = item;
	}
	free(at);
	if (!ok) {
		for (i = 0; i < nl; i++)
			free(list[i].host);
		free(list);
		return -EINVAL;
	}
	cfg->listen = list;
	cfg->nlisten = nl;
	return 0;
}

static int
config_parse_log_level(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct kcm_config *cfg = ctx;

	(void)where;
	return schema_word(p, spec, v, log_level_from_string, "a log level",
	    "level", "debug, info, warning or error", &cfg->log_level);
}

static int
config_parse_log_target(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct kcm_config *cfg = ctx;

	(void)where;
	return schema_word(p, spec, v, log_target_from_string, "a log target",
	    "target", "auto, journal or stderr", &cfg->log_target);
}

static int
config_parse_targets(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct kcm_config *cfg = ctx;
	const struct ytree_node **names;
	char sub[WHERE_MAX];
	struct ytree_shown sh;
	size_t i, j, before = p->nerrors;

	(void)where;
	if (v->kind != YTREE_SEQUENCE) {
		ytree_error(&p->rep, v, "'%s': expected a list of targets, got "
		    "%s", spec->key, ytree_describe(v));
		return -EINVAL;
	}
	if (v->nchild == 0) {
		ytree_error(&p->rep, v, "'%s': the list must not be empty",
		    spec->key);
		return -EINVAL;
	}
	cfg->targets = calloc(v->nchild, sizeof(*cfg->targets));
	names = calloc(v->nchild, sizeof(*names));
	if (cfg->targets == NULL || names == NULL) {
		free(names);
		p->oom = true;
		return -ENOMEM;
	}
	for (i = 0; i < v->nchild; i++) {
		target_init(&cfg->targets[i]);
		cfg->ntargets = i + 1;
		snprintf(sub, sizeof(sub), "%s[%zu]", spec->key, i);
		if (target_parse(p, v->child[i], sub, &cfg->targets[i],
		    &names[i]) < 0 || names[i] == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (names[j] != NULL &&
			    strcmp(names[j]->value, names[i]->value) == 0)
				break;
		if (j < i)
			ytree_error(&p->rep, names[i], "duplicate target name "
			    "'%s' (first defined at line %u)", ytree_show(&sh,
			    names[i]->value), names[j]->line);
	}
	free(names);
	return p->nerrors == before ? 0 : -EINVAL;
}

static const struct schema_key top_keys[TOP_NKEYS] = {
	[TOP_LISTEN] = SCHEMA_KEY_CUSTOM("listen", config_parse_listen, false),
	[TOP_LOG_LEVEL] = SCHEMA_KEY_CUSTOM("log_level", config_parse_log_level,
	    false),
	[TOP_LOG_TARGET] = SCHEMA_KEY_CUSTOM("log_target",
	    config_parse_log_target, false),
	[TOP_TARGETS] = SCHEMA_KEY_CUSTOM("targets", config_parse_targets,
	    false),
	/* checked once the targets are known: config_probes_parse() */
	[TOP_PROBES] = SCHEMA_KEY_CUSTOM("probes", config_defer_probes, false),
	[TOP_STATE_DIRECTORY] = SCHEMA_KEY("state_directory", SCHEMA_PATH,
	    struct kcm_config, state_directory),
	/* loaded and checked by main.c with web_config_load() */
	[TOP_WEB_CONFIG_FILE] = SCHEMA_KEY("web_config_file", SCHEMA_PATH,
	    struct kcm_config, web_config_file),
	/* concurrent scrape connections; more are accepted and closed */
	[TOP_MAX_CONNECTIONS] = SCHEMA_KEY_RANGE("max_connections", SCHEMA_UINT,
	    struct kcm_config, max_connections, 1,
	    CONFIG_MAX_CONNECTIONS_MAX),
};

static int
config_new(struct kcm_config **ret)
{
	struct kcm_config *cfg;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return -ENOMEM;
	cfg->log_level = LOG_INFO;
	cfg->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
	*ret = cfg;
	return 0;
}

static int
config_add_default_listen(struct kcm_config *cfg)
{
	cfg->listen = calloc(1, sizeof(*cfg->listen));
	if (cfg->listen == NULL)
		return -ENOMEM;
	cfg->listen[0].host = strdup(CONFIG_DEFAULT_LISTEN_HOST);
	cfg->listen[0].port = CONFIG_DEFAULT_LISTEN_PORT;
	cfg->nlisten = 1;
	return cfg->listen[0].host != NULL ? 0 : -ENOMEM;
}

static int
config_add_default_target(struct kcm_config *cfg)
{
	cfg->targets = calloc(1, sizeof(*cfg->targets));
	if (cfg->targets == NULL)
		return -ENOMEM;
	cfg->ntargets = 1;
	return target_set_default(&cfg->targets[0]);
}

static void
config_parse_root(struct schema *p, const struct ytree_node *root,
    struct kcm_config *cfg)
{
	struct schema_seen seen[TOP_NKEYS];

	if (root->kind != YTREE_MAPPING) {
		ytree_error(&p->rep, root, "the top level must be a mapping of "
		    "settings (key: value), got %s", ytree_describe(root));
		return;
	}
	schema_mapping(p, root, NULL, top_keys, TOP_NKEYS, cfg, seen);
	if (seen[TOP_LISTEN].key == NULL && config_add_default_listen(cfg) < 0)
		p->oom = true;
	if (seen[TOP_TARGETS].key == NULL &&
	    config_add_default_target(cfg) < 0)
		p->oom = true;
	if (seen[TOP_PROBES].key != NULL && !p->oom)
		config_probes_parse(p, seen[TOP_PROBES].value, cfg);
}

/* ---- loading ---------------------------------------------------------- */

/*
 * Reads the configuration file whole.  It is opened without blocking and
 * must be a regular file: a FIFO named by mistake would otherwise stall
 * --check-config, or the event loop on SIGHUP, forever.
 */
static int
read_file(const char *path, const struct ytree_report *rep, char **ret,
    size_t *ret_len)
{
	int fd, r;

	r = open_regular(path, &fd, NULL);
	if (r == -EISDIR || r == -EBADFD) {
		ytree_error_at(rep, 0, 0, "not a regular file");
		return r;
	}
	if (r < 0) {
		ytree_error_at(rep, 0, 0, "cannot open: %s", strerror(-r));
		return r;
	}
	r = read_regular(fd, CONFIG_MAX_FILE, ret, ret_len);
	close(fd);
	if (r == -EFBIG)
		ytree_error_at(rep, 0, 0, "larger than %d MiB",
		    CONFIG_MAX_FILE / (1024 * 1024));
	else if (r < 0 && r != -ENOMEM)
		ytree_error_at(rep, 0, 0, "cannot read: %s", strerror(-r));
	return r;
}

/* The directory relative *_file names resolve against, absolute. */
static int
config_basedir(const char *path, char **ret)
{
	const char *env;

	env = getenv("CREDENTIALS_DIRECTORY");
	if (env != NULL && *env != '\0')
		return (*ret = strdup(env)) != NULL ? 0 : -ENOMEM;
	return path_dirname(path, ret);
}

int
config_load_buffer(const char *name, const void *buf, size_t len,
    const char *basedir, struct kcm_config **ret, struct config_errors *errs)
{
	struct config_errors local = { NULL, 0 };
	struct config_errlist el = { .path = name, .errs = errs };
	struct ytree_report out = { config_errlist_add, &el };
	struct kcm_config *cfg = NULL;
	struct ytree_node *root = NULL;
	struct schema p;
	size_t first;
	int r;

	if (errs == NULL)
		el.errs = &local;
	first = el.errs->n;
	schema_init(&p, &out, basedir);
	r = ytree_load(buf, len, &p.rep, &root);
	if (r < 0)
		goto out;
	r = config_new(&cfg);
	if (r < 0) {
		p.oom = true;
		goto out;
	}
	cfg->path = schema_strdup(&p, name);
	config_parse_root(&p, root, cfg);
	r = p.nerrors > 0 ? -EINVAL : 0;
out:
	if (p.oom || el.oom)
		r = -ENOMEM;
	ytree_free(root);
	config_errors_sort(el.errs, first);
	config_errors_free(&local);
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}

int
config_load(const char *path, struct kcm_config **ret,
    struct config_errors *errs)
{
	struct config_errors local = { NULL, 0 };
	struct config_errlist el = { .path = path, .errs = errs };
	struct ytree_report out = { config_errlist_add, &el };
	char *buf = NULL, *basedir = NULL;
	size_t len = 0;
	int r;

	if (errs == NULL)
		el.errs = &local;
	r = read_file(path, &out, &buf, &len);
	if (r == 0) {
		r = config_basedir(path, &basedir);
		if (r < 0 && r != -ENOMEM)
			ytree_error_at(&out, 0, 0, "cannot resolve the "
			    "directory of the file: %s", strerror(-r));
	}
	if (el.oom)
		r = -ENOMEM;
	if (r == 0)
		r = config_load_buffer(path, buf, len, basedir, ret, el.errs);
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	free(basedir);
	config_errors_free(&local);
	return r;
}

int
config_default(struct kcm_config **ret)
{
	struct kcm_config *cfg;
	int r;

	r = config_new(&cfg);
	if (r < 0)
		return r;
	cfg->builtin = true;
	if (config_add_default_listen(cfg) < 0 ||
	    config_add_default_target(cfg) < 0) {
		config_free(cfg);
		return -ENOMEM;
	}
	*ret = cfg;
	return 0;
}

void
config_free(struct kcm_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	for (i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i].host);
	free(cfg->listen);
	for (i = 0; i < cfg->ntargets; i++)
		target_done(&cfg->targets[i]);
	free(cfg->targets);
	for (i = 0; i < cfg->nprobes; i++)
		config_probes_done(&cfg->probes[i]);
	free(cfg->probes);
	free(cfg->state_directory);
	free(cfg->web_config_file);
	free(cfg);
}

int
config_override_listen(struct kcm_config *cfg, const char *const *addrs,
    size_t n, struct config_errors *errs)
{
	struct config_errors local = { NULL, 0 };
	struct config_errlist el = { .path = "command line", .errs = errs };
	struct ytree_report out = { config_errlist_add, &el };
	struct listen_config *list;
	struct ytree_node node;
	struct ytree_shown sh;
	struct schema p;
	size_t i, j, nl = 0;
	int r = 0;

	if (errs == NULL)
		el.errs = &local;
	if (n == 0)
		return 0;
	list = calloc(n, sizeof(*list));
	if (list == NULL)
		return -ENOMEM;
	schema_init(&p, &out, "/");
	for (i = 0; i < n; i++) {
		memset(&node, 0, sizeof(node));
		node.kind = YTREE_SCALAR;
		node.value = (char *)addrs[i];
		node.len = strlen(addrs[i]);
		if (node.len == 0) {
			ytree_error(&p.rep, NULL, "'--web.listen-address': "
			    "missing value (expected an address:port)");
			continue;
		}
		if (listen_parse_one(&p, "--web.listen-address", &node,
		    &list[nl]) < 0)
			continue;
		for (j = 0; j < nl; j++)
			if (list[j].port != 0 && list[j].port == list[nl].port &&
			    strcmp(list[j].host, list[nl].host) == 0)
				break;
		if (j < nl) {
			ytree_error(&p.rep, NULL, "'--web.listen-address': "
			    "duplicate address '%s'", ytree_show(&sh, addrs[i]));
			free(list[nl].host);
			continue;
		}
		nl++;
	}
	if (p.oom || el.oom)
		r = -ENOMEM;
	else if (p.nerrors > 0)
		r = -EINVAL;
	config_errors_free(&local);
	if (r < 0) {
		for (i = 0; i < nl; i++)
			free(list[i].host);
		free(list);
		return r;
	}
	for (i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i].host);
	free(cfg->listen);
	cfg->listen = list;
	cfg->nlisten = nl;
	return 0;
}

void
config_errors_free(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++) {
		free(errs->v[i].file);
		free(errs->v[i].message);
	}
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

void
config_errors_print(const struct config_errors *errs, FILE *f)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++) {
		if (errs->v[i].line == 0)	/* about the file as a whole */
			fprintf(f, "%s: %s\n", errs->v[i].file,
			    errs->v[i].message);
		else
			fprintf(f, "%s:%u:%u: %s\n", errs->v[i].file,
			    errs->v[i].line, errs->v[i].column,
			    errs->v[i].message);
	}
}

