/*
 * config_probes.c: the `probes:` list of the configuration: which
 * connectors are executed on a schedule, in which target and space, and
 * the request body, converted from YAML `params` to JSON (yjson.c).
 *
 * A probe names its target, so the list is checked once `targets:` is
 * known, wherever it stands in the file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_types.h"
#include "kibana.h"
#include "config_probes.h"
#include "schema.h"
#include "util.h"
#include "yjson.h"
#include "ytree.h"

#define WHERE_MAX		128	/* e.g. "probes[12]" */
#define TIMEOUT_MIN		USEC_PER_MSEC
#define TIMEOUT_MAX		(3600 * USEC_PER_SEC)
#define PROBE_INTERVAL_MAX	(7 * 24 * 3600 * USEC_PER_SEC)
#define PROBE_ID_MAX		1024

enum {
	PROBE_TARGET,
	PROBE_SPACE,
	PROBE_CONNECTOR_ID,
	PROBE_INTERVAL,
	PROBE_TIMEOUT,
	PROBE_PARAMS,
	PROBE_NKEYS,
};

static int
probe_parse_params(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct probe_config *pc = ctx;
	json_t *params, *body;
	char *s;
	int r;

	(void)where;
	if (v->kind != YTREE_MAPPING) {
		ytree_error(&p->rep, v, "'%s': expected a mapping (the "
		    "connector's params, sent as {\"params\": ...}), got %s",
		    spec->key, ytree_describe(v));
		return -EINVAL;
	}
	r = yjson_from_ytree(v, spec->key, &p->rep, &params);
	if (r == -ENOMEM)
		p->oom = true;
	if (r < 0)
		return r;
	body = json_pack("{s:o}", "params", params);
	s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (s == NULL) {
		p->oom = true;
		return -ENOMEM;
	}
	free(pc->body);
	pc->body = s;
	return 0;
}

static int
probe_parse_space(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct probe_config *pc = ctx;
	struct ytree_shown sh;
	const char *s;

	(void)where;
	s = schema_expect_string(p, spec->key, v);
	if (s == NULL)
		return -EINVAL;
	if (!kibana_space_id_valid(s)) {
		ytree_error(&p->rep, v, "'%s': invalid space id '%s' (use only "
		    "a-z, 0-9, '_' and '-')", spec->key, ytree_show(&sh, s));
		return -EINVAL;
	}
	free(pc->space);
	pc->space = NULL;
	return schema_string(p, spec->key, v, &pc->space);
}

static int
probe_parse_connector_id(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	struct probe_config *pc = ctx;
	const char *s;

	(void)where;
	s = schema_expect_string(p, spec->key, v);
	if (s == NULL)
		return -EINVAL;
	if (strlen(s) > PROBE_ID_MAX) {
		ytree_error(&p->rep, v, "'%s': longer than %d characters",
		    spec->key, PROBE_ID_MAX);
		return -EINVAL;
	}
	if (schema_has_control(s, strlen(s))) {
		ytree_error(&p->rep, v, "'%s': must not contain control "
		    "characters", spec->key);
		return -EINVAL;
	}
	return schema_string(p, spec->key, v, &pc->connector_id);
}

static const struct schema_key probe_keys[PROBE_NKEYS] = {
	[PROBE_TARGET] = SCHEMA_KEY("target", SCHEMA_STRING,
	    struct probe_config, target),
	[PROBE_SPACE] = SCHEMA_KEY_CUSTOM("space", probe_parse_space, false),
	[PROBE_CONNECTOR_ID] = SCHEMA_KEY_CUSTOM("connector_id",
	    probe_parse_connector_id, true),
	[PROBE_INTERVAL] = SCHEMA_KEY_RANGE("interval", SCHEMA_DURATION,
	    struct probe_config, interval_usec, CONFIG_PROBE_INTERVAL_MIN,
	    PROBE_INTERVAL_MAX),
	[PROBE_TIMEOUT] = SCHEMA_KEY_RANGE("timeout", SCHEMA_DURATION,
	    struct probe_config, timeout_usec, TIMEOUT_MIN, TIMEOUT_MAX),
	[PROBE_PARAMS] = SCHEMA_KEY_CUSTOM("params", probe_parse_params, true),
};

void
config_probes_done(struct probe_config *pc)
{
	free(pc->target);
	free(pc->space);
	free(pc->connector_id);
	free(pc->body);
}

/*
 * `probes:` is checked after `targets:` (it refers to them, and may come
 * first in the file): called from config_parse_root().
 */
void
config_probes_parse(struct schema *p, const struct ytree_node *v,
    struct kcm_config *cfg)
{
	struct schema_seen seen[PROBE_NKEYS];
	const struct ytree_node **at;
	char sub[WHERE_MAX];
	struct ytree_shown sh, sh2;
	size_t i, j, n = 0;

	if (v->kind != YTREE_SEQUENCE) {
		if (!ytree_is_null(v))
			ytree_error(&p->rep, v, "'probes': expected a list of "
			    "probes, got %s", ytree_describe(v));
		return;
	}
	if (v->nchild == 0)
		return;
	cfg->probes = calloc(v->nchild, sizeof(*cfg->probes));
	at = calloc(v->nchild, sizeof(*at));
	if (cfg->probes == NULL || at == NULL) {
		free(at);
		p->oom = true;
		return;
	}
	for (i = 0; i < v->nchild; i++) {
		struct probe_config *pc = &cfg->probes[n];
		const struct ytree_node *item = v->child[i];
		size_t before = p->nerrors;

		snprintf(sub, sizeof(sub), "probes[%zu]", i);
		if (item->kind != YTREE_MAPPING) {
			ytree_error(&p->rep, item, "'%s': expected a mapping, "
			    "got %s", sub, ytree_describe(item));
			continue;
		}
		memset(pc, 0, sizeof(*pc));
		pc->interval_usec = CONFIG_DEFAULT_PROBE_INTERVAL;
		pc->timeout_usec = CONFIG_DEFAULT_PROBE_TIMEOUT;
		pc->pos.line = item->line;
		pc->pos.column = item->column;
		cfg->nprobes = ++n;
		schema_mapping(p, item, sub, probe_keys, PROBE_NKEYS, pc, seen);
		if (pc->space == NULL &&
		    (pc->space = schema_strdup(p, "default")) == NULL)
			continue;
		if (seen[PROBE_TARGET].key == NULL) {
			if (cfg->ntargets != 1) {
				ytree_error(&p->rep, item, "missing required "
				    "key 'target' in '%s' (required when more "
				    "than one target is configured)", sub);
				continue;
			}
			if (cfg->targets[0].name == NULL ||
			    (pc->target = schema_strdup(p,
			    cfg->targets[0].name)) == NULL)
				continue;
			pc->target_index = 0;
		} else if (seen[PROBE_TARGET].ok) {
			for (j = 0; j < cfg->ntargets; j++)
				if (cfg->targets[j].name != NULL &&
				    strcmp(cfg->targets[j].name, pc->target) == 0)
					break;
			if (j == cfg->ntargets) {
				ytree_error(&p->rep, seen[PROBE_TARGET].value,
				    "'target': no target named '%s' is "
				    "configured", ytree_show(&sh, pc->target));
				continue;
			}
			pc->target_index = j;
		}
		if (p->nerrors != before || pc->connector_id == NULL)
			continue;
		at[n - 1] = item;
		for (j = 0; j + 1 < n; j++)
			if (at[j] != NULL && cfg->probes[j].target != NULL &&
			    strcmp(cfg->probes[j].target, pc->target) == 0 &&
			    strcmp(cfg->probes[j].space, pc->space) == 0 &&
			    strcmp(cfg->probes[j].connector_id,
			    pc->connector_id) == 0)
				break;
		if (j + 1 < n) {
			ytree_error(&p->rep, seen[PROBE_CONNECTOR_ID].value,
			    "duplicate probe of connector '%s' in space '%s' of "
			    "target '%s' (first defined at line %u)",
			    ytree_show(&sh, pc->connector_id), pc->space,
			    ytree_show(&sh2, pc->target), at[j]->line);
			at[n - 1] = NULL;
		}
	}
	free(at);
}
