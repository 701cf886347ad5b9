/*
 * inventory.h: the inventory check of one Kibana target: spaces,
 * connectors, connector types and rules, every inventory_interval, all
 * requests concurrent and bounded by the target's max_parallel_requests.
 * Keeps the last good data per space and per API and turns it into the
 * kibana_connector_* / kibana_rule_* series after every cycle.
 */
#ifndef KCM_INVENTORY_H
#define KCM_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>

struct check;
struct engine_build;
struct inventory;
struct metrics;
struct target_config;

/* Later cycles start every interval * (1 +- this). */
#define INVENTORY_JITTER	0.05

/*
 * Adds the target's inventory check to a new set (engine.h); returns the
 * check that runs (check_impl() is its struct inventory), or NULL.
 */
struct check *inventory_add(struct engine_build *b, struct metrics *m,
	    const struct target_config *cfg);

/* Cheap summary for STATUS=: connectors listed, connectors missing secrets. */
struct inventory_summary {
	size_t		 connectors;
	size_t		 failing;
};
void	 inventory_summary(const struct inventory *t,
	    struct inventory_summary *ret);

/*
 * Every connector of the last good inventory, preconfigured ones with
 * space "*" (once per polled space, so possibly repeated), in slices:
 * from *cur (zeroed for the first call), at most budget per call; 1 while
 * more are to come, 0 at the end.  If the inventory changes between two
 * calls the walk may skip or repeat some, never read past the end.
 */
struct inventory_cursor {
	size_t	 space, item;
};
typedef void (*inventory_connector_fn)(const char *space, const char *id,
    const char *name, const char *type_id, bool preconfigured, void *arg);
int	 inventory_foreach_connector(const struct inventory *t,
	    struct inventory_cursor *cur, size_t budget,
	    inventory_connector_fn fn, void *arg);
/* Name of connector id in space ("*" = preconfigured), or NULL. */
const char *inventory_connector_name(const struct inventory *t,
	    const char *space, const char *id);

#endif /* KCM_INVENTORY_H */
