/*
 * inventory.h: one Kibana target's inventory poll: spaces, connectors,
 * connector types and rules, every inventory_interval, all requests
 * concurrent and bounded by max_parallel_requests.  Keeps the last good data
 * per space and per API, and turns it into metrics after every cycle.
 */
#ifndef KCM_INVENTORY_H
#define KCM_INVENTORY_H

#include <stdbool.h>

struct kcm;
struct target;
struct target_config;

struct target *target_new(struct kcm *k, const struct target_config *cfg);
/* Cancels in-flight requests and timers; NULL-safe. */
void	 target_free(struct target *t);
/* Runs a cycle now and (unless once) every inventory_interval after. */
int	 target_start(struct target *t, bool once);
const char *target_name(const struct target *t);
const struct target_config *target_config(const struct target *t);
/*
 * Cheap summary for the service manager's STATUS= line: connectors listed
 * (summed over spaces, last good data), connectors with missing secrets,
 * and the realtime end of the last cycle in which every request succeeded
 * (0 = never).
 */
struct target_summary {
	size_t		 connectors;
	size_t		 failing;
	double		 last_ok;
};
void	 target_summary(const struct target *t, struct target_summary *ret);
/* The target's request limiter (max_parallel_requests), for other modules. */
struct http_limiter *target_limiter(struct target *t);

/*
 * Read-only access for other modules (issue 3): every connector of the last
 * good inventory, preconfigured ones with space "*" (once per polled space,
 * so possibly repeated).
 */
typedef void (*target_connector_fn)(const char *space, const char *id,
    const char *name, const char *type_id, bool preconfigured, void *arg);
void	 target_foreach_connector(const struct target *t,
	    target_connector_fn fn, void *arg);
/* Name of connector id in space ("*" = preconfigured), or NULL. */
const char *target_connector_name(const struct target *t, const char *space,
	    const char *id);
/* Called after every inventory cycle, once its series are rebuilt (one hook). */
typedef void (*target_cycle_fn)(void *arg);
void	 target_set_cycle_hook(struct target *t, target_cycle_fn fn, void *arg);

#endif /* KCM_INVENTORY_H */
