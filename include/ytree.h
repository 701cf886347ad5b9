/*
 * ytree.h: a YAML document as a small tree of nodes (scalars, lists,
 * mappings), each remembering its line and column, built from a buffer with
 * libyaml's event parser; and the reporter through which the loader and the
 * code walking the tree name problems as LINE:COLUMN: message.
 *
 * Anchors, aliases and multiple documents are refused, NUL characters in
 * scalars too, and nesting is limited to YTREE_MAX_DEPTH levels.
 */
#ifndef KCM_YTREE_H
#define KCM_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define YTREE_MAX_DEPTH	32

enum ytree_kind {
	YTREE_SCALAR,
	YTREE_SEQUENCE,
	YTREE_MAPPING,
};

struct ytree_node {
	enum ytree_kind	 kind;
	unsigned	 line;		/* 1-based */
	unsigned	 column;	/* 1-based */
	bool		 plain;		/* unquoted scalar */
	char		*value;		/* scalar text, NUL-terminated */
	size_t		 len;
	struct ytree_node **child;	/* list items; mapping: key, value, ... */
	size_t		 nchild;
	size_t		 cap;
};

/*
 * Where problems go: error() is called once per problem with its 1-based
 * line and column (0:0 = the input as a whole) and the message, a heap
 * string that error() owns from then on; NULL when there was no memory to
 * format it (the problem still counts).
 */
struct ytree_report {
	void	(*error)(void *userdata, unsigned line, unsigned column,
		    char *message);
	void	*userdata;
};

/*
 * Parses buf (len bytes, need not be NUL-terminated) into a tree.  Returns
 * 0 and *ret, or -EINVAL after reporting the problem (a YAML syntax error is
 * one problem at libyaml's mark), or -ENOMEM.  An empty document is a
 * problem; a document of only "---" is a null scalar.
 */
int	 ytree_load(const char *buf, size_t len, const struct ytree_report *rep,
	    struct ytree_node **ret);
/* NULL-safe; overwrites scalar text before freeing it (it may be secret). */
void	 ytree_free(struct ytree_node *n);

/* A plain empty, "~" or "null" scalar. */
bool	 ytree_is_null(const struct ytree_node *n);
/* "a list", "a mapping", "nothing" (null) or "a scalar", for messages. */
const char *ytree_describe(const struct ytree_node *n);

/* Reports a problem at n (NULL: 0:0), or at line:column. */
void	 ytree_error(const struct ytree_report *rep, const struct ytree_node *n,
	    const char *fmt, ...) KCM_PRINTF(3, 4);
void	 ytree_error_at(const struct ytree_report *rep, unsigned line,
	    unsigned column, const char *fmt, ...) KCM_PRINTF(4, 5);

/*
 * A value from the input made safe for a message: control characters
 * become '?', anything longer than 200 bytes is cut before a character
 * (UTF-8) and ends in "...".
 * Never for secrets.  Returns sh->s.
 */
struct ytree_shown {
	char	 s[200 + 4];
};

const char *ytree_show(struct ytree_shown *sh, const char *s);

#endif /* KCM_YTREE_H */
