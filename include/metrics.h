/*
 * metrics.h: the metric registry.  Modules register families once and then
 * set, add or observe series; the registry owns every series and renders the
 * whole exposition on demand.  No I/O here.
 *
 * Rendering is deterministic: families in byte order of their names, series
 * in byte order of their label values (compared label by label), one HELP
 * and one TYPE line per family, each name+label set once.
 *
 * Label values are passed raw (hostile strings are fine): the registry
 * sanitizes them (expo_sanitize_label, EXPO_LABEL_VALUE_MAX) when a series is
 * created, so two values that sanitize to the same string are one series.
 */
#ifndef KCM_METRICS_H
#define KCM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum metric_type {
	METRIC_GAUGE,
	METRIC_COUNTER,
	METRIC_HISTOGRAM,
};

struct metrics;			/* the registry */
struct metric_family;

struct metrics *metrics_new(void);
void	 metrics_free(struct metrics *m);	/* NULL-safe, frees all */

/*
 * Registers a family, or returns the existing one with that name (then
 * type, help and label names must match; otherwise NULL).  label_names has
 * nlabels entries (may be 0).  For METRIC_HISTOGRAM, buckets holds
 * nbuckets strictly increasing upper bounds, without +Inf (added
 * automatically); for other types pass NULL, 0.  Returns NULL on
 * allocation failure or invalid names.  The registry copies everything.
 * Also NULL (invalid): help == NULL, duplicate label names, a histogram
 * label called "le", non-finite or unordered buckets, and names whose
 * samples would clash with a histogram's x_bucket / x_sum / x_count.
 */
struct metric_family *metrics_family(struct metrics *m, const char *name,
	    const char *help, enum metric_type type,
	    const char *const *label_names, size_t nlabels,
	    const double *buckets, size_t nbuckets);

/*
 * A module's families as a table: metrics_register() registers each one
 * and stores the family pointer at `offset` in the module's struct `fams`
 * (a struct of struct metric_family pointers).  0 or -ENOMEM/-EINVAL.
 */
struct metrics_spec {
	size_t			 offset;
	const char		*name;
	const char		*help;
	enum metric_type	 type;
	const char *const	*labels;
	size_t			 nlabels;
	const double		*buckets;
	size_t			 nbuckets;
};

#define METRICS_SPEC_LABELS(l)	(l), ELEMENTSOF(l)

int	 metrics_register(struct metrics *m, const struct metrics_spec *v,
	    size_t n, void *fams);
/*
 * metrics_remove() on every family of such a struct (size bytes of family
 * pointers); match has at least as many entries as the widest family.
 */
void	 metrics_remove_each(const void *fams, size_t size,
	    const char *const *match);

/*
 * values has exactly the family's nlabels entries; none may be NULL
 * (values itself may be NULL when nlabels is 0).
 * metrics_set: gauge or counter, creates the series if needed.
 * metrics_add: gauge or counter; creates the series at 0 then adds.
 * metrics_observe: histogram only.
 * All return 0 or -ENOMEM / -EINVAL (wrong type; also a negative or NaN
 * delta for a counter in metrics_add: counters only go up).
 */
int	 metrics_set(struct metric_family *f, const char *const *values, double v);
int	 metrics_add(struct metric_family *f, const char *const *values, double delta);
int	 metrics_observe(struct metric_family *f, const char *const *values, double v);
/* Reads a gauge/counter value; -ENOENT when the series does not exist. */
int	 metrics_get(struct metric_family *f, const char *const *values, double *ret);

/*
 * Removes every series whose label values match `match`: an array of the
 * family's nlabels entries where NULL matches anything.  Returns the number
 * of series removed.  Used when objects vanish from Kibana, e.g.
 * {target, space, NULL, ...} drops a whole space of one target.  Match
 * values are sanitized like label values; match == NULL removes every
 * series.  Returns 0 (removing nothing) on allocation failure.
 */
size_t	 metrics_remove(struct metric_family *f, const char *const *match);
/*
 * Removes, in every family that has a label named `label`, the series whose
 * value for it is `value` (e.g. "target", "production" when a target is
 * removed from the configuration).  Returns the number removed.
 */
size_t	 metrics_remove_label(struct metrics *m, const char *label,
	    const char *value);

/* Number of series in the family. */
size_t	 metrics_count(const struct metric_family *f);

/* The family's name as registered (for log messages); NULL-safe. */
const char *metrics_family_name(const struct metric_family *f);

/*
 * Rewriting a set of series without a gap: n = metrics_epoch_next(m), then
 * metrics_set() (or add, observe) every series that is still there, then
 * metrics_sweep(f, match, n) removes those that match and were not written
 * since.  Series that stay are never removed and re-created, so they keep
 * their place in the render order.  Returns the number removed.
 */
uint64_t metrics_epoch_next(struct metrics *m);
size_t	 metrics_sweep(struct metric_family *f, const char *const *match,
	    uint64_t epoch);

/*
 * Renders every family (see above) and appends to out.  Families without
 * series are left out entirely (no HELP/TYPE either).  -EBUSY while a
 * rendering in steps is going on.
 */
int	 metrics_render(struct metrics *m, struct strbuf *out);

/*
 * The same rendering in steps, so that an event loop can serve others in
 * between: each step appends about `budget` samples (a histogram series
 * counts one per line) and returns 1 while more is to come, 0 when the
 * exposition is complete, or -ENOMEM.  The registry may change between
 * steps: a value is rendered as it is when its step reaches it, series
 * added after their family was started wait for the next rendering, and
 * series removed before their step reaches them are left out.  One
 * rendering at a time per registry (begin returns NULL otherwise, or on
 * allocation failure); end it (metrics_render_end, NULL-safe) before
 * metrics_free().
 */
struct metrics_render;
struct metrics_render *metrics_render_begin(struct metrics *m);
int	 metrics_render_step(struct metrics_render *r, struct strbuf *out,
	    size_t budget);
void	 metrics_render_end(struct metrics_render *r);

/* How many label values were cut to EXPO_LABEL_VALUE_MAX so far. */
uint64_t metrics_truncated_labels(const struct metrics *m);

#endif /* KCM_METRICS_H */
