/*
 * yjson.c: YAML subtree -> jansson value (see yjson.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"
#include "yjson.h"
#include "ytree.h"

static bool
match(const char *s, const char *const *v)
{
	for (; *v != NULL; v++)
		if (strcmp(s, *v) == 0)
			return true;
	return false;
}

/* YAML 1.2 core schema integer forms: [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+. */
static bool
scalar_integer(const char *s, json_int_t *ret, bool *overflow)
{
	const char *digits = s;
	unsigned long long u;
	char *end;
	int base = 10;
	bool neg = false;

	*overflow = false;
	if (strncmp(s, "0o", 2) == 0 || strncmp(s, "0x", 2) == 0) {
		base = s[1] == 'o' ? 8 : 16;
		digits = s + 2;
	} else if (*s == '-' || *s == '+') {
		neg = *s == '-';
		digits = s + 1;
	}
	if (*digits == '\0' || strspn(digits, base == 8 ? "01234567" :
	    base == 16 ? "0123456789abcdefABCDEF" : "0123456789") !=
	    strlen(digits))
		return false;
	errno = 0;
	u = strtoull(digits, &end, base);
	if (errno == ERANGE ||
	    u > (unsigned long long)INT64_MAX + (neg ? 1 : 0)) {
		*overflow = true;
		return true;
	}
	*ret = neg ? (json_int_t)(0 - u) : (json_int_t)u;
	return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool
scalar_float(const char *s, double *ret)
{
	const char *q = s;
	size_t n, m;
	char *end;

	if (*q == '-' || *q == '+')
		q++;
	n = strspn(q, "0123456789");
	q += n;
	if (*q == '.') {
		m = strspn(q + 1, "0123456789");
		if (n == 0 && m == 0)
			return false;
		q += 1 + m;
	} else if (n == 0)
		return false;
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '-' || *q == '+')
			q++;
		n = strspn(q, "0123456789");
		if (n == 0)
			return false;
		q += n;
	}
	if (*q != '\0')
		return false;
	*ret = strtod(s, &end);	/* config loading runs in the "C" locale */
	return *end == '\0';
}

/*
 * A plain YAML scalar resolved per the YAML 1.2 core schema; quoted scalars
 * are always strings.  .inf and .nan have no JSON form: errors.
 */
static int
from_scalar(const struct ytree_node *n, const char *key,
    const struct ytree_report *rep, json_t **ret)
{
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const specials[] = { ".inf", ".Inf", ".INF",
	    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
	    ".NaN", ".NAN", NULL };
	struct ytree_shown sh;
	json_int_t i;
	bool overflow;
	json_t *j;
	double d;

	if (!n->plain)
		j = json_stringn(n->value, n->len);
	else if (ytree_is_null(n))
		j = json_null();
	else if (match(n->value, trues))
		j = json_true();
	else if (match(n->value, falses))
		j = json_false();
	else if (match(n->value, specials)) {
		ytree_error(rep, n, "'%s': '%s' has no JSON representation "
		    "(quote it to send a string)", key,
		    ytree_show(&sh, n->value));
		return -EINVAL;
	} else if (scalar_integer(n->value, &i, &overflow)) {
		if (overflow) {
			ytree_error(rep, n, "'%s': integer '%s' is out of range "
			    "(quote it to send a string)", key,
			    ytree_show(&sh, n->value));
			return -EINVAL;
		}
		j = json_integer(i);
	} else if (scalar_float(n->value, &d))
		j = json_real(d);
	else
		j = json_stringn(n->value, n->len);
	if (j == NULL)
		return -ENOMEM;
	*ret = j;
	return 0;
}

static int
from_mapping(const struct ytree_node *n, const char *key,
    const struct ytree_report *rep, json_t **ret)
{
	const struct ytree_node *k;
	struct ytree_shown sh;
	json_t *out, *c;
	size_t i;
	int r;

	out = json_object();
	if (out == NULL)
		return -ENOMEM;
	for (i = 0; i + 1 < n->nchild; i += 2) {
		k = n->child[i];
		if (k->kind != YTREE_SCALAR) {
			ytree_error(rep, k, "'%s': keys must be strings, got %s",
			    key, ytree_describe(k));
			r = -EINVAL;
			goto fail;
		}
		if (json_object_get(out, k->value) != NULL) {
			ytree_error(rep, k, "'%s': duplicate key '%s'", key,
			    ytree_show(&sh, k->value));
			r = -EINVAL;
			goto fail;
		}
		r = yjson_from_ytree(n->child[i + 1], key, rep, &c);
		if (r < 0)
			goto fail;
		if (json_object_set_new(out, k->value, c) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*ret = out;
	return 0;
fail:
	json_decref(out);
	return r;
}

int
yjson_from_ytree(const struct ytree_node *n, const char *key,
    const struct ytree_report *rep, json_t **ret)
{
	json_t *out, *c;
	size_t i;
	int r;

	switch (n->kind) {
	case YTREE_SCALAR:
		return from_scalar(n, key, rep, ret);
	case YTREE_MAPPING:
		return from_mapping(n, key, rep, ret);
	case YTREE_SEQUENCE:
		break;
	}
	out = json_array();
	if (out == NULL)
		return -ENOMEM;
	for (i = 0; i < n->nchild; i++) {
		r = yjson_from_ytree(n->child[i], key, rep, &c);
		if (r == 0 && json_array_append_new(out, c) < 0)
			r = -ENOMEM;
		if (r < 0) {
			json_decref(out);
			return r;
		}
	}
	*ret = out;
	return 0;
}
