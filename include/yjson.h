/*
 * yjson.h: a YAML subtree (ytree.h) as a JSON value, for values that are
 * passed through rather than understood, such as a probe's `params`.
 *
 * Plain scalars resolve per the YAML 1.2 core schema: null, true/false,
 * integers (decimal, 0o octal, 0x hex) and floats become JSON null, booleans
 * and numbers; anything else, and every quoted scalar, is a string.
 */
#ifndef KCM_YJSON_H
#define KCM_YJSON_H

#include <jansson.h>

#include "ytree.h"

/*
 * Converts n and everything below it.  Returns 0 and a new reference in
 * *ret, or -EINVAL after reporting each problem through rep (messages start
 * with 'key':), or -ENOMEM.  Refused: .inf and .nan (no JSON form),
 * integers outside int64, duplicate keys and keys that are not scalars.
 */
int	 yjson_from_ytree(const struct ytree_node *n, const char *key,
	    const struct ytree_report *rep, json_t **ret);

#endif /* KCM_YJSON_H */
