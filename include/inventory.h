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
/* The target's request limiter (max_parallel_requests), for other modules. */
struct http_limiter *target_limiter(struct target *t);

#endif /* KCM_INVENTORY_H */
