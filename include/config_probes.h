/*
 * config_probes.h: the `probes:` list of the configuration, for config.c.
 * Part of the configuration module; callers outside it use config.h.
 */
#ifndef KCM_CONFIG_PROBES_H
#define KCM_CONFIG_PROBES_H

#include "config_types.h"
#include "schema.h"
#include "ytree.h"

/*
 * Parses the `probes:` value v into cfg->probes / cfg->nprobes; cfg's
 * targets must be parsed already (a probe names its target).  Problems are
 * reported through s; cfg->nprobes counts every probe started, valid or
 * not, so config_free() frees them all.
 */
void	 config_probes_parse(struct schema *s, const struct ytree_node *v,
	    struct kcm_config *cfg);
/* Frees what one probe holds. */
void	 config_probes_done(struct probe_config *pc);

#endif /* KCM_CONFIG_PROBES_H */
