/*
 * metrics.c: the metric registry.
 *
 * Families live in an array kept sorted by name (there are a few dozen, so
 * insertion by memmove is fine).  The series of a family live in a chained
 * hash table keyed by their sanitized label values, stored back to back,
 * each NUL-terminated (sanitized values never contain NUL, so the key is
 * unambiguous).  metrics_set() and friends are O(1) on average.
 *
 * Each family also keeps every series in render order (order[]): a sorted
 * prefix and the series added since, which the next rendering sorts and
 * merges in.  A steady registry is rendered without sorting anything, and
 * a rendering can go in steps (metrics_render_step) between which the
 * registry changes: a series removed meanwhile is unlinked from its hash
 * chain at once but freed only when no rendering can still reach it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "metrics.h"

#define SERIES_TABLE_MIN 16

/* 48 bytes and the key: tens of thousands of these are the registry. */
struct series {
	struct series	*next;		/* hash chain (live series only) */
	uint64_t	 epoch;		/* the registry's epoch when last written */
	double		 value;		/* gauge, counter; histogram: sum */
	uint64_t	*counts;	/* histogram: nbuckets + 1, not cumulative */
	uint64_t	 count;		/* histogram observations */
	uint32_t	 keylen;	/* a few labels of at most 1 KiB each */
	bool		 dead;		/* removed; still in order[] */
	char		 key[];		/* nlabels NUL-terminated values */
};

struct metric_family {
	struct metrics	*m;
	char		*name;
	char		*help;
	enum metric_type type;
	char		**label_names;
	size_t		 nlabels;
	double		*buckets;
	char		**bucket_le;	/* buckets formatted, plus "+Inf" */
	size_t		 nbuckets;	/* without +Inf */

	struct series	**table;
	size_t		 tablesz;	/* 0 or a power of two */
	size_t		 nseries;	/* live */

	/*
	 * Every series, live or dead, once: order[0, nsorted) in render
	 * order, order[nsorted, norder) added since, unsorted.
	 */
	struct series	**order;
	size_t		 norder;
	size_t		 nsorted;
	size_t		 caporder;
	size_t		 ndead;
};

/* A rendering in progress: where it is. */
struct metrics_render {
	struct metrics	*m;
	size_t		 fi;		/* index of the family being rendered */
	struct metric_family *f;	/* the family at fi (NULL: done) */
	size_t		 pos;		/* next entry of f->order */
	size_t		 end;		/* f->norder when f was started */
	bool		 started;	/* f's HELP and TYPE are written */
};

struct metrics {
	struct metric_family **families;	/* sorted by name */
	size_t		 nfamilies;
	size_t		 capfamilies;
	struct strbuf	 key;		/* scratch: the key being looked up */
	uint64_t	 truncated;
	uint64_t	 epoch;		/* see metrics_epoch_next() */
	struct metrics_render *render;	/* the rendering in progress, or NULL */
};

static const char *const type_names[] = {
	[METRIC_GAUGE] = "gauge",
	[METRIC_COUNTER] = "counter",
	[METRIC_HISTOGRAM] = "histogram",
};

static void
strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
series_free(struct series *s)
{
	free(s->counts);
	free(s);
}

/* Frees every series and both indexes (no rendering may be in f). */
static void
family_clear(struct metric_family *f)
{
	size_t i;

	for (i = 0; i < f->norder; i++)
		series_free(f->order[i]);
	free(f->order);
	f->order = NULL;
	f->norder = f->nsorted = f->caporder = f->ndead = 0;
	free(f->table);
	f->table = NULL;
	f->tablesz = 0;
	f->nseries = 0;
}

/*
 * Frees the dead series and closes the gaps in order[], which keeps its
 * sorted prefix sorted.  Only when no rendering can reach them.
 */
static void
family_compact(struct metric_family *f)
{
	size_t i, o = 0, sorted = 0;

	if (f->ndead == 0)
		return;
	if (f->nseries == 0) {
		family_clear(f);
		return;
	}
	for (i = 0; i < f->norder; i++) {
		if (f->order[i]->dead) {
			series_free(f->order[i]);
			continue;
		}
		if (i < f->nsorted)
			sorted++;
		f->order[o++] = f->order[i];
	}
	f->norder = o;
	f->nsorted = sorted;
	f->ndead = 0;
}

static void
family_free(struct metric_family *f)
{
	if (f == NULL)
		return;
	family_clear(f);
	free(f->name);
	free(f->help);
	strv_free(f->label_names, f->nlabels);
	free(f->buckets);
	strv_free(f->bucket_le, f->bucket_le != NULL ? f->nbuckets + 1 : 0);
	free(f);
}

struct metrics *
metrics_new(void)
{
	struct metrics *m;

	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	strbuf_init(&m->key);
	return m;
}

void
metrics_free(struct metrics *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nfamilies; i++)
		family_free(m->families[i]);
	free(m->families);
	strbuf_free(&m->key);
	free(m);
}

/* Index of the family called name, or where it would be inserted. */
static size_t
family_index(const struct metrics *m, const char *name, bool *found)
{
	size_t lo = 0, hi = m->nfamilies, mid;
	int c;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, m->families[mid]->name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static struct metric_family *
family_find(const struct metrics *m, const char *name)
{
	bool found;
	size_t i;

	i = family_index(m, name, &found);
	return found ? m->families[i] : NULL;
}

static bool
has_suffix(const char *s, const char *suffix, size_t *stem)
{
	size_t l = strlen(s), sl = strlen(suffix);

	if (l <= sl || strcmp(s + l - sl, suffix) != 0)
		return false;
	*stem = l - sl;
	return true;
}

/*
 * A histogram "x" also writes x_bucket, x_sum and x_count: refuse families
 * whose sample names would collide with another family's.  Allocation
 * failures count as a collision (the registration fails either way).
 */
static bool
name_collides(const struct metrics *m, const char *name, enum metric_type type)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	const struct metric_family *f;
	struct strbuf sb;
	size_t k, stem;
	bool hit = false;

	strbuf_init(&sb);
	for (k = 0; k < ELEMENTSOF(suffixes) && !hit; k++) {
		if (type == METRIC_HISTOGRAM) {
			strbuf_reset(&sb);
			strbuf_puts(&sb, name);
			strbuf_puts(&sb, suffixes[k]);
			if (strbuf_failed(&sb) ||
			    family_find(m, strbuf_str(&sb)) != NULL)
				hit = true;
		}
		if (!hit && has_suffix(name, suffixes[k], &stem)) {
			strbuf_reset(&sb);
			strbuf_append(&sb, name, stem);
			f = strbuf_failed(&sb) ? NULL :
			    family_find(m, strbuf_str(&sb));
			if (strbuf_failed(&sb) ||
			    (f != NULL && f->type == METRIC_HISTOGRAM))
				hit = true;
		}
	}
	strbuf_free(&sb);
	return hit;
}

static bool
family_matches(const struct metric_family *f, const char *help,
    enum metric_type type, const char *const *label_names, size_t nlabels,
    const double *buckets, size_t nbuckets)
{
	size_t i;

	if (f->type != type || strcmp(f->help, help) != 0 ||
	    f->nlabels != nlabels || f->nbuckets != nbuckets)
		return false;
	for (i = 0; i < nlabels; i++)
		if (strcmp(f->label_names[i], label_names[i]) != 0)
			return false;
	for (i = 0; i < nbuckets; i++)
		if (f->buckets[i] != buckets[i])
			return false;
	return true;
}

static bool
family_args_valid(const char *name, enum metric_type type,
    const char *const *label_names, size_t nlabels,
    const double *buckets, size_t nbuckets)
{
	size_t i, j;

	if (!expo_valid_metric_name(name))
		return false;
	if (type != METRIC_GAUGE && type != METRIC_COUNTER &&
	    type != METRIC_HISTOGRAM)
		return false;
	if (nlabels > 0 && label_names == NULL)
		return false;
	for (i = 0; i < nlabels; i++) {
		if (!expo_valid_label_name(label_names[i]))
			return false;
		if (type == METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0)
			return false;
		for (j = 0; j < i; j++)
			if (strcmp(label_names[i], label_names[j]) == 0)
				return false;
	}
	if (type != METRIC_HISTOGRAM)
		return buckets == NULL && nbuckets == 0;
	if (nbuckets > 0 && buckets == NULL)
		return false;
	for (i = 0; i < nbuckets; i++) {
		if (!isfinite(buckets[i]))
			return false;
		if (i > 0 && !(buckets[i] > buckets[i - 1]))
			return false;
	}
	return true;
}

static char **
strv_copy(const char *const *v, size_t n)
{
	char **r;
	size_t i;

	r = calloc(n > 0 ? n : 1, sizeof(*r));
	if (r == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		r[i] = strdup(v[i]);
		if (r[i] == NULL) {
			strv_free(r, i);
			return NULL;
		}
	}
	return r;
}

static struct metric_family *
family_new(struct metrics *m, const char *name, const char *help,
    enum metric_type type, const char *const *label_names, size_t nlabels,
    const double *buckets, size_t nbuckets)
{
	struct metric_family *f;
	struct strbuf sb;
	size_t i;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->m = m;
	f->type = type;
	f->nlabels = nlabels;
	f->nbuckets = nbuckets;
	f->name = strdup(name);
	f->help = strdup(help);
	f->label_names = strv_copy(label_names, nlabels);
	if (f->name == NULL || f->help == NULL || f->label_names == NULL)
		goto fail;
	if (type != METRIC_HISTOGRAM)
		return f;

	f->buckets = calloc(nbuckets > 0 ? nbuckets : 1, sizeof(double));
	f->bucket_le = calloc(nbuckets + 1, sizeof(char *));
	if (f->buckets == NULL || f->bucket_le == NULL)
		goto fail;
	if (nbuckets > 0)
		memcpy(f->buckets, buckets, nbuckets * sizeof(double));
	for (i = 0; i <= nbuckets; i++) {
		strbuf_init(&sb);
		if (i < nbuckets)
			expo_value(&sb, buckets[i]);
		else
			strbuf_puts(&sb, "+Inf");
		f->bucket_le[i] = strbuf_steal(&sb);
		if (f->bucket_le[i] == NULL)
			goto fail;
	}
	return f;
fail:
	family_free(f);
	return NULL;
}

struct metric_family *
metrics_family(struct metrics *m, const char *name, const char *help,
    enum metric_type type, const char *const *label_names, size_t nlabels,
    const double *buckets, size_t nbuckets)
{
	struct metric_family *f, **nf;
	size_t idx, ncap;
	bool found;

	if (m == NULL || help == NULL)
		return NULL;
	if (!family_args_valid(name, type, label_names, nlabels, buckets,
	    nbuckets))
		return NULL;

	idx = family_index(m, name, &found);
	if (found) {
		f = m->families[idx];
		return family_matches(f, help, type, label_names, nlabels,
		    buckets, nbuckets) ? f : NULL;
	}
	if (name_collides(m, name, type))
		return NULL;

	if (m->nfamilies == m->capfamilies) {
		ncap = m->capfamilies > 0 ? m->capfamilies * 2 : 16;
		nf = reallocarray(m->families, ncap, sizeof(*nf));
		if (nf == NULL)
			return NULL;
		m->families = nf;
		m->capfamilies = ncap;
	}
	f = family_new(m, name, help, type, label_names, nlabels, buckets,
	    nbuckets);
	if (f == NULL)
		return NULL;
	memmove(m->families + idx + 1, m->families + idx,
	    (m->nfamilies - idx) * sizeof(*m->families));
	m->families[idx] = f;
	m->nfamilies++;
	return f;
}

const char *
metrics_family_name(const struct metric_family *f)
{
	return f != NULL ? f->name : NULL;
}

/* FNV-1a, then the murmur3 finalizer so the low bits mix well. */
static uint64_t
key_hash(const char *key, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/*
 * Builds the lookup key for values into m->key: every value sanitized and
 * NUL-terminated.  *ntrunc counts the values that had to be cut.
 */
static int
key_build(struct metric_family *f, const char *const *values, size_t *ntrunc)
{
	struct strbuf *k = &f->m->key;
	bool cut;
	size_t i;
	int r;

	if (f->nlabels > 0 && values == NULL)
		return -EINVAL;
	strbuf_reset(k);
	*ntrunc = 0;
	for (i = 0; i < f->nlabels; i++) {
		if (values[i] == NULL)
			return -EINVAL;
		r = expo_sanitize_label(k, values[i], strlen(values[i]),
		    EXPO_LABEL_VALUE_MAX, &cut);
		if (r < 0)
			return r;
		if (cut)
			(*ntrunc)++;
		if (strbuf_putc(k, '\0') < 0)
			return -ENOMEM;
	}
	return 0;
}

static struct series *
series_lookup(const struct metric_family *f, const char *key, size_t len,
    uint64_t hash)
{
	struct series *s;

	if (f->tablesz == 0)
		return NULL;
	for (s = f->table[hash & (f->tablesz - 1)]; s != NULL; s = s->next)
		if (s->keylen == len && memcmp(s->key, key, len) == 0)
			return s;
	return NULL;
}

static int
table_grow(struct metric_family *f)
{
	struct series **nt, *s, *next;
	size_t nsz, i, h;

	nsz = f->tablesz > 0 ? f->tablesz * 2 : SERIES_TABLE_MIN;
	nt = calloc(nsz, sizeof(*nt));
	if (nt == NULL)
		return -ENOMEM;
	/* The hash is not kept (8 bytes a series): computed again here. */
	for (i = 0; i < f->tablesz; i++) {
		for (s = f->table[i]; s != NULL; s = next) {
			next = s->next;
			h = key_hash(s->key, s->keylen) & (nsz - 1);
			s->next = nt[h];
			nt[h] = s;
		}
	}
	free(f->table);
	f->table = nt;
	f->tablesz = nsz;
	return 0;
}

static int
order_grow(struct metric_family *f)
{
	struct series **n;
	size_t cap;

	cap = f->caporder > 0 ? f->caporder * 2 : SERIES_TABLE_MIN;
	if ((n = reallocarray(f->order, cap, sizeof(*n))) == NULL)
		return -ENOMEM;
	f->order = n;
	f->caporder = cap;
	return 0;
}

/* Finds or creates the series for values; *ret borrows from the family. */
static int
series_get(struct metric_family *f, const char *const *values, bool create,
    struct series **ret)
{
	struct strbuf *k = &f->m->key;
	struct series *s;
	size_t ntrunc, len;
	uint64_t h;
	int r;

	r = key_build(f, values, &ntrunc);
	if (r < 0)
		return r;
	if (strbuf_failed(k))
		return -ENOMEM;
	len = k->len;
	if (len > UINT32_MAX)
		return -E2BIG;
	h = key_hash(strbuf_str(k), len);
	s = series_lookup(f, strbuf_str(k), len, h);
	if (s != NULL) {
		*ret = s;
		return 0;
	}
	if (!create)
		return -ENOENT;

	if (f->nseries >= f->tablesz && (r = table_grow(f)) < 0)
		return r;
	if (f->norder == f->caporder && (r = order_grow(f)) < 0)
		return r;
	s = calloc(1, sizeof(*s) + len + 1);
	if (s == NULL)
		return -ENOMEM;
	if (f->type == METRIC_HISTOGRAM) {
		s->counts = calloc(f->nbuckets + 1, sizeof(*s->counts));
		if (s->counts == NULL) {
			free(s);
			return -ENOMEM;
		}
	}
	s->keylen = (uint32_t)len;
	if (len > 0)
		memcpy(s->key, strbuf_str(k), len);
	s->next = f->table[h & (f->tablesz - 1)];
	f->table[h & (f->tablesz - 1)] = s;
	f->order[f->norder++] = s;
	f->nseries++;
	f->m->truncated += ntrunc;
	*ret = s;
	return 0;
}

int
metrics_set(struct metric_family *f, const char *const *values, double v)
{
	struct series *s;
	int r;

	if (f == NULL || f->type == METRIC_HISTOGRAM)
		return -EINVAL;
	r = series_get(f, values, true, &s);
	if (r < 0)
		return r;
	s->value = v;
	s->epoch = f->m->epoch;
	return 0;
}

int
metrics_add(struct metric_family *f, const char *const *values, double delta)
{
	struct series *s;
	int r;

	if (f == NULL || f->type == METRIC_HISTOGRAM)
		return -EINVAL;
	if (f->type == METRIC_COUNTER && !(delta >= 0))
		return -EINVAL;		/* counters only go up */
	r = series_get(f, values, true, &s);
	if (r < 0)
		return r;
	s->value += delta;
	s->epoch = f->m->epoch;
	return 0;
}

int
metrics_observe(struct metric_family *f, const char *const *values, double v)
{
	struct series *s;
	size_t i;
	int r;

	if (f == NULL || f->type != METRIC_HISTOGRAM)
		return -EINVAL;
	r = series_get(f, values, true, &s);
	if (r < 0)
		return r;
	/* NaN compares false everywhere and lands in +Inf, like client_golang. */
	for (i = 0; i < f->nbuckets; i++)
		if (v <= f->buckets[i])
			break;
	s->counts[i]++;
	s->count++;
	s->value += v;
	s->epoch = f->m->epoch;
	return 0;
}

int
metrics_get(struct metric_family *f, const char *const *values, double *ret)
{
	struct series *s;
	int r;

	if (f == NULL || ret == NULL || f->type == METRIC_HISTOGRAM)
		return -EINVAL;
	r = series_get(f, values, false, &s);
	if (r < 0)
		return r;
	*ret = s->value;
	return 0;
}

/* True when every non-NULL entry of match (offsets into mkey) equals key. */
static bool
series_matches(const struct series *s, size_t nlabels, const char *mkey,
    const bool *wild)
{
	const char *a = s->key, *b = mkey;
	size_t i;

	for (i = 0; i < nlabels; i++) {
		if (!wild[i] && strcmp(a, b) != 0)
			return false;
		a += strlen(a) + 1;
		b += strlen(b) + 1;
	}
	return true;
}

/* Is a rendering walking f's order[] right now? */
static bool
family_in_render(const struct metric_family *f)
{
	const struct metrics_render *r = f->m->render;

	return r != NULL && r->started && r->f == f;
}

/*
 * Removes the series that match and were last written before epoch
 * (UINT64_MAX: all that match).  They leave the hash table at once; they
 * are freed now, or by the rendering that may still reach them.
 */
static size_t
remove_matching(struct metric_family *f, const char *const *match,
    uint64_t epoch)
{
	struct strbuf *k;
	struct series **pp, *s;
	const char **vals = NULL;
	bool *wild = NULL;
	size_t i, n, ntrunc, removed = 0;

	if (f == NULL || f->nseries == 0)
		return 0;
	k = &f->m->key;

	/* Sanitize the match like a key; wildcards become "" in the key. */
	n = f->nlabels > 0 ? f->nlabels : 1;
	vals = calloc(n, sizeof(*vals));
	wild = calloc(n, sizeof(*wild));
	if (vals == NULL || wild == NULL)
		goto out;
	for (i = 0; i < f->nlabels; i++) {
		wild[i] = match == NULL || match[i] == NULL;
		vals[i] = wild[i] ? "" : match[i];
	}
	if (key_build(f, vals, &ntrunc) < 0 || strbuf_failed(k))
		goto out;

	for (i = 0; i < f->tablesz; i++) {
		pp = &f->table[i];
		while ((s = *pp) != NULL) {
			if (s->epoch < epoch &&
			    series_matches(s, f->nlabels, strbuf_str(k), wild)) {
				*pp = s->next;
				s->next = NULL;
				s->dead = true;
				f->ndead++;
				f->nseries--;
				removed++;
			} else
				pp = &s->next;
		}
	}
	/* A rendering walking f frees them itself (metrics_render_end). */
	if (!family_in_render(f))
		family_compact(f);
out:
	free(vals);
	free(wild);
	return removed;
}

size_t
metrics_remove(struct metric_family *f, const char *const *match)
{
	return remove_matching(f, match, UINT64_MAX);
}

uint64_t
metrics_epoch_next(struct metrics *m)
{
	return ++m->epoch;
}

size_t
metrics_sweep(struct metric_family *f, const char *const *match,
    uint64_t epoch)
{
	return remove_matching(f, match, epoch);
}

size_t
metrics_count(const struct metric_family *f)
{
	return f != NULL ? f->nseries : 0;
}

uint64_t
metrics_truncated_labels(const struct metrics *m)
{
	return m != NULL ? m->truncated : 0;
}

/* Label-by-label strcmp of two keys with the same number of values. */
static int
series_cmp(const void *pa, const void *pb)
{
	const struct series *a = *(struct series *const *)pa;
	const struct series *b = *(struct series *const *)pb;
	const char *x = a->key, *y = b->key, *xend = a->key + a->keylen;
	int c;

	while (x < xend) {
		c = strcmp(x, y);
		if (c != 0)
			return c;
		x += strlen(x) + 1;
		y += strlen(y) + 1;
	}
	return 0;
}

/* Appends l1="v1",l2="v2" (no braces) for the series. */
static void
render_labels(const struct metric_family *f, const struct series *s,
    struct strbuf *out)
{
	const char *v = s->key;
	size_t i, l;

	for (i = 0; i < f->nlabels; i++) {
		l = strlen(v);
		if (i > 0)
			strbuf_putc(out, ',');
		strbuf_puts(out, f->label_names[i]);
		strbuf_append(out, "=\"", 2);
		expo_escape_label(out, v, l);
		strbuf_putc(out, '"');
		v += l + 1;
	}
}

/* name[suffix]{labels[,le="x"]} */
static void
render_series_name(const struct metric_family *f, const struct series *s,
    const char *suffix, const char *le, struct strbuf *out)
{
	strbuf_puts(out, f->name);
	strbuf_puts(out, suffix);
	if (f->nlabels == 0 && le == NULL)
		return;
	strbuf_putc(out, '{');
	render_labels(f, s, out);
	if (le != NULL) {
		if (f->nlabels > 0)
			strbuf_putc(out, ',');
		strbuf_append(out, "le=\"", 4);
		strbuf_puts(out, le);
		strbuf_putc(out, '"');
	}
	strbuf_putc(out, '}');
}

static void
render_uint(struct strbuf *out, uint64_t v)
{
	char buf[24];
	int n;

	n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
	if (n > 0 && (size_t)n < sizeof(buf))
		strbuf_append(out, buf, (size_t)n);
}

static void
render_series(const struct metric_family *f, const struct series *s,
    struct strbuf *out)
{
	uint64_t cum = 0;
	size_t i;

	if (f->type != METRIC_HISTOGRAM) {
		render_series_name(f, s, "", NULL, out);
		strbuf_putc(out, ' ');
		expo_value(out, s->value);
		strbuf_putc(out, '\n');
		return;
	}
	for (i = 0; i <= f->nbuckets; i++) {
		cum += s->counts[i];
		render_series_name(f, s, "_bucket", f->bucket_le[i], out);
		strbuf_putc(out, ' ');
		render_uint(out, cum);
		strbuf_putc(out, '\n');
	}
	render_series_name(f, s, "_sum", NULL, out);
	strbuf_putc(out, ' ');
	expo_value(out, s->value);
	strbuf_putc(out, '\n');
	render_series_name(f, s, "_count", NULL, out);
	strbuf_putc(out, ' ');
	render_uint(out, s->count);
	strbuf_putc(out, '\n');
}

/*
 * Puts f->order[] in render order: sorts the series added since the last
 * rendering (usually none) and merges them into the sorted prefix, leaving
 * out the dead.  Only between renderings of f.
 */
static int
family_sort(struct metric_family *f)
{
	struct series **tmp, **a, **b;
	size_t na, nb, i, j, o;

	family_compact(f);
	if (f->nsorted == f->norder)
		return 0;
	b = f->order + f->nsorted;
	nb = f->norder - f->nsorted;
	qsort(b, nb, sizeof(*b), series_cmp);
	if (f->nsorted > 0) {
		/* Merge: the prefix moves to tmp, both merge back into order. */
		na = f->nsorted;
		if ((tmp = reallocarray(NULL, na, sizeof(*tmp))) == NULL)
			return -ENOMEM;
		memcpy(tmp, f->order, na * sizeof(*tmp));
		a = tmp;
		i = j = o = 0;
		while (i < na && j < nb) {
			if (series_cmp(&b[j], &a[i]) < 0)
				f->order[o++] = b[j++];
			else
				f->order[o++] = a[i++];
		}
		while (i < na)
			f->order[o++] = a[i++];
		/* What is left of b[] is already in place. */
		free(tmp);
	}
	f->nsorted = f->norder;
	return 0;
}

static void
render_header(const struct metric_family *f, struct strbuf *out)
{
	strbuf_append(out, "# HELP ", 7);
	strbuf_puts(out, f->name);
	strbuf_putc(out, ' ');
	expo_escape_help(out, f->help);
	strbuf_append(out, "\n# TYPE ", 8);
	strbuf_puts(out, f->name);
	strbuf_putc(out, ' ');
	strbuf_puts(out, type_names[f->type]);
	strbuf_putc(out, '\n');
}

struct metrics_render *
metrics_render_begin(struct metrics *m)
{
	struct metrics_render *r;

	if (m == NULL || m->render != NULL)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->m = m;
	r->f = m->nfamilies > 0 ? m->families[0] : NULL;
	m->render = r;
	return r;
}

/*
 * r->f is the family at r->fi (NULL past the last): families registered
 * since the last step may have moved it along the array (families are
 * never removed).
 */
static void
render_seek(struct metrics_render *r)
{
	struct metrics *m = r->m;
	bool found;

	if (r->f == NULL)
		r->fi = m->nfamilies;
	else if (r->fi >= m->nfamilies || m->families[r->fi] != r->f)
		r->fi = family_index(m, r->f->name, &found);
}

static void
render_next_family(struct metrics_render *r)
{
	r->started = false;
	r->fi++;
	r->f = r->fi < r->m->nfamilies ? r->m->families[r->fi] : NULL;
}

int
metrics_render_step(struct metrics_render *r, struct strbuf *out,
    size_t budget)
{
	struct metric_family *f;
	struct series *s;
	size_t done = 0;
	int e;

	if (r == NULL || out == NULL)
		return -EINVAL;
	render_seek(r);
	while ((f = r->f) != NULL) {
		if (!r->started) {
			if (f->nseries == 0) {
				render_next_family(r);
				continue;
			}
			if ((e = family_sort(f)) < 0)
				return e;
			/* Series added from here on wait for the next rendering. */
			r->pos = 0;
			r->end = f->norder;
			r->started = true;
			render_header(f, out);
		}
		while (r->pos < r->end) {
			if (done >= budget)
				return strbuf_failed(out) ? -ENOMEM : 1;
			s = f->order[r->pos++];
			if (s->dead)
				continue;
			render_series(f, s, out);
			done += f->type == METRIC_HISTOGRAM ? f->nbuckets + 3 : 1;
		}
		render_next_family(r);
		family_compact(f);	/* what died while it was being walked */
	}
	return strbuf_failed(out) ? -ENOMEM : 0;
}

void
metrics_render_end(struct metrics_render *r)
{
	struct metric_family *f;

	if (r == NULL)
		return;
	f = r->started ? r->f : NULL;
	r->m->render = NULL;
	if (f != NULL)
		family_compact(f);	/* what died while it was being walked */
	free(r);
}

int
metrics_render(struct metrics *m, struct strbuf *out)
{
	struct metrics_render *r;
	int e;

	if (m == NULL || out == NULL)
		return -EINVAL;
	if (m->render != NULL)
		return -EBUSY;
	if ((r = metrics_render_begin(m)) == NULL)
		return -ENOMEM;
	e = metrics_render_step(r, out, SIZE_MAX);
	metrics_render_end(r);
	return e < 0 ? e : 0;
}

size_t
metrics_remove_label(struct metrics *m, const char *label, const char *value)
{
	const char **match;
	size_t i, j, removed = 0;

	for (i = 0; i < m->nfamilies; i++) {
		struct metric_family *f = m->families[i];

		for (j = 0; j < f->nlabels; j++)
			if (strcmp(f->label_names[j], label) == 0)
				break;
		if (j == f->nlabels)
			continue;
		match = calloc(f->nlabels, sizeof(*match));
		if (match == NULL)
			continue;
		match[j] = value;
		removed += metrics_remove(f, match);
		free(match);
	}
	return removed;
}

int
metrics_register(struct metrics *m, const struct metrics_spec *v, size_t n,
    void *fams)
{
	struct metric_family **slot;
	size_t i;

	for (i = 0; i < n; i++) {
		slot = (struct metric_family **)((char *)fams + v[i].offset);
		*slot = metrics_family(m, v[i].name, v[i].help, v[i].type,
		    v[i].labels, v[i].nlabels, v[i].buckets, v[i].nbuckets);
		if (*slot == NULL)
			return -ENOMEM;
	}
	return 0;
}

void
metrics_remove_each(const void *fams, size_t size, const char *const *match)
{
	struct metric_family *const *f = fams;
	size_t i;

	for (i = 0; i < size / sizeof(*f); i++)
		metrics_remove(f[i], match);
}
