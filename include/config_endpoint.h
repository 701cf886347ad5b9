/*
 * config_endpoint.h: the endpoint mappings of the configuration (`kibana:`,
 * `elasticsearch:`), for config.c.  Part of the configuration module;
 * callers outside it use config.h.
 */
#ifndef KCM_CONFIG_ENDPOINT_H
#define KCM_CONFIG_ENDPOINT_H

#include "config_types.h"
#include "schema.h"
#include "ytree.h"

/* The defaults: no URL, no credentials, default timeout and size limit. */
void	 config_endpoint_init(struct endpoint_config *ep);
/* Frees what ep holds (wiping auth_header) and leaves it unusable. */
void	 config_endpoint_done(struct endpoint_config *ep);

/*
 * Parses the endpoint mapping v of key `key` into ep (set up with
 * config_endpoint_init()), reads its secret files and checks its TLS files.
 * `where` names it in messages, e.g. "targets[0].kibana".  Returns 0, or
 * -EINVAL after reporting every problem through s.
 */
int	 config_endpoint_parse(struct schema *s, const char *key,
	    const struct ytree_node *v, const char *where,
	    struct endpoint_config *ep);

/* Same settings (credentials compared too): a reload may carry its check. */
bool	 config_endpoint_equal(const struct endpoint_config *a,
	    const struct endpoint_config *b);

#endif /* KCM_CONFIG_ENDPOINT_H */
