/*
 * schema.h: checking a YAML tree (ytree.h) against tables of known keys.
 *
 * A mapping is walked against an array of struct schema_key.  Unknown,
 * duplicate and missing required keys are errors; the common value kinds
 * (string, file name, boolean, integer, duration, size) are parsed straight
 * from the table into a field of the caller's struct, anything else by a
 * per-key function.  Every problem is reported through the schema's
 * ytree_report, and walking goes on, so one pass finds them all.
 *
 * Values from the input appear in messages only through ytree_show(); URLs
 * never do (they may hold a password).
 */
#ifndef KCM_SCHEMA_H
#define KCM_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ytree.h"

struct schema {
	struct ytree_report	 rep;	/* counts, then forwards to out */
	const struct ytree_report *out;
	const char		*basedir; /* for relative SCHEMA_PATH values */
	size_t			 nerrors; /* problems reported through rep */
	bool			 oom;	/* set on allocation failure */
};

/* Sets s up to report to out; basedir must outlive s. */
void	 schema_init(struct schema *s, const struct ytree_report *out,
	    const char *basedir);

/*
 * A table entry for one key of a mapping.  For the simple kinds the value
 * is parsed into the field at `offset` of the mapping's struct; for
 * SCHEMA_CUSTOM `parse` gets the struct and does it.
 */
enum schema_kind {
	SCHEMA_STRING,		/* char *, non-empty */
	SCHEMA_PATH,		/* char *, file name made absolute (basedir) */
	SCHEMA_BOOL,		/* bool: true | false */
	SCHEMA_UINT,		/* unsigned, min..max */
	SCHEMA_DURATION,	/* uint64_t usec, min..max */
	SCHEMA_SIZE,		/* uint64_t bytes, min..max */
	SCHEMA_CUSTOM,
};

struct schema_key;
/* `where` names the mapping in messages, e.g. "targets[0]"; NULL: top. */
typedef int (*schema_parse_fn)(struct schema *s, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where);

struct schema_key {
	const char	*key;
	enum schema_kind kind;
	size_t		 offset;
	uint64_t	 min;
	uint64_t	 max;
	schema_parse_fn	 parse;
	bool		 required;
};

#define SCHEMA_KEY(k, knd, type, field) \
	{ .key = (k), .kind = (knd), .offset = offsetof(type, field) }
#define SCHEMA_KEY_RANGE(k, knd, type, field, lo, hi) \
	{ .key = (k), .kind = (knd), .offset = offsetof(type, field), \
	  .min = (lo), .max = (hi) }
#define SCHEMA_KEY_CUSTOM(k, fn, req) \
	{ .key = (k), .kind = SCHEMA_CUSTOM, .parse = (fn), .required = (req) }

/* What schema_mapping() saw for each key of the table. */
struct schema_seen {
	const struct ytree_node *key;	/* NULL: key absent */
	const struct ytree_node *value;
	bool		 ok;		/* value parsed and stored */
};

/*
 * Walks mapping `map` against keys[0..nkeys), storing values into ctx;
 * seen[i] tells what was found for keys[i].  Returns 0 when the mapping
 * was entirely valid, -EINVAL otherwise (problems reported).
 */
int	 schema_mapping(struct schema *s, const struct ytree_node *map,
	    const char *where, const struct schema_key *keys, size_t nkeys,
	    void *ctx, struct schema_seen *seen);

/*
 * Value helpers for SCHEMA_CUSTOM parsers; `key` names the value in
 * messages.  The expect functions return the text of a non-null scalar
 * (non-empty for _string), or NULL after reporting a problem.
 */
const char *schema_expect_scalar(struct schema *s, const char *key,
	    const struct ytree_node *v, const char *what);
const char *schema_expect_string(struct schema *s, const char *key,
	    const struct ytree_node *v);
/* A copy of a non-empty string value: 0, -EINVAL (reported), -ENOMEM. */
int	 schema_string(struct schema *s, const char *key,
	    const struct ytree_node *v, char **ret);
/*
 * A scalar naming one of a fixed set of words: from_string() maps it to a
 * value >= 0 or fails; `what` (the expected kind), `noun` and `choices`
 * make the messages.
 */
int	 schema_word(struct schema *s, const struct schema_key *spec,
	    const struct ytree_node *v, int (*from_string)(const char *),
	    const char *what, const char *noun, const char *choices, int *ret);

/* Which URLs schema_url() accepts. */
struct schema_url_rules {
	const char *const *schemes;	/* lower case, NULL-terminated */
	const char	*schemes_text;	/* "http or https" */
	const char	*credentials_hint; /* ends "credentials in ..." */
	bool		 allow_path;
};

/*
 * scheme://host[:port][/base] without userinfo, query or fragment,
 * validated with libcurl's URL parser and stored as libcurl writes it back,
 * without trailing '/'.
 */
int	 schema_url(struct schema *s, const char *key,
	    const struct ytree_node *v, const struct schema_url_rules *rules,
	    char **ret);

/* strdup() that sets s->oom on failure. */
char	*schema_strdup(struct schema *s, const char *str);
/* True when str[0..len) holds a C0 control character or DEL. */
bool	 schema_has_control(const char *str, size_t len);

#endif /* KCM_SCHEMA_H */
