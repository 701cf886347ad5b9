/*
 * ytree.c: YAML bytes -> a tree of nodes with line:column marks.
 *
 * libyaml's event parser does the YAML; this file only builds the tree and
 * turns libyaml's errors into one problem at the right place.  The callers
 * (config.c, yjson.c) report their own problems through the same
 * struct ytree_report, so the whole configuration has one error path.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "util.h"
#include "ytree.h"

struct loader {
	const struct ytree_report *rep;
	yaml_parser_t	 yp;
	const char	*buf;
	size_t		 len;
};

/* ---- reporting -------------------------------------------------------- */

static void
report_v(const struct ytree_report *rep, unsigned line, unsigned column,
    const char *fmt, va_list ap)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_vprintf(&sb, fmt, ap);
	/* strbuf_steal() is NULL after a failed append: reported as OOM */
	rep->error(rep->userdata, line, column, strbuf_steal(&sb));
}

void
ytree_error_at(const struct ytree_report *rep, unsigned line, unsigned column,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_v(rep, line, column, fmt, ap);
	va_end(ap);
}

void
ytree_error(const struct ytree_report *rep, const struct ytree_node *n,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_v(rep, n != NULL ? n->line : 0, n != NULL ? n->column : 0, fmt,
	    ap);
	va_end(ap);
}

const char *
ytree_show(struct ytree_shown *sh, const char *s)
{
	size_t i, max = sizeof(sh->s) - 4;

	for (i = 0; s[i] != '\0' && i < max; i++)
		sh->s[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ?
		    '?' : s[i];
	if (s[i] != '\0') {
		/* cut before a character, not inside one (UTF-8) */
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
		memcpy(sh->s + i, "...", 3);
		i += 3;
	}
	sh->s[i] = '\0';
	return sh->s;
}

/* ---- nodes ------------------------------------------------------------ */

void
ytree_free(struct ytree_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nchild; i++)
		ytree_free(n->child[i]);
	free(n->child);
	if (n->value != NULL) {
		explicit_bzero(n->value, n->len);
		free(n->value);
	}
	free(n);
}

bool
ytree_is_null(const struct ytree_node *n)
{
	return n->kind == YTREE_SCALAR && n->plain &&
	    (n->len == 0 || strcmp(n->value, "~") == 0 ||
	    strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
	    strcmp(n->value, "NULL") == 0);
}

const char *
ytree_describe(const struct ytree_node *n)
{
	switch (n->kind) {
	case YTREE_SEQUENCE:
		return "a list";
	case YTREE_MAPPING:
		return "a mapping";
	default:
		return ytree_is_null(n) ? "nothing" : "a scalar";
	}
}

static struct ytree_node *
node_new(enum ytree_kind kind, const yaml_mark_t *mark)
{
	struct ytree_node *n;

	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)mark->line + 1;
	n->column = (unsigned)mark->column + 1;
	return n;
}

static int
node_append(struct ytree_node *parent, struct ytree_node *child)
{
	struct ytree_node **v;
	size_t ncap;

	if (parent->nchild == parent->cap) {
		ncap = parent->cap != 0 ? parent->cap * 2 : 4;
		v = reallocarray(parent->child, ncap, sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		parent->child = v;
		parent->cap = ncap;
	}
	parent->child[parent->nchild++] = child;
	return 0;
}

/* ---- building the tree from libyaml events ---------------------------- */

/* 1-based line and column of a byte offset (reader errors carry only that). */
static void
offset_to_mark(const char *buf, size_t len, size_t offset, unsigned *line,
    unsigned *column)
{
	size_t i;

	*line = 1;
	*column = 1;
	for (i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*column = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
			(*column)++;
	}
}

static int
loader_syntax_error(struct loader *l)
{
	const yaml_parser_t *yp = &l->yp;
	const char *problem;
	unsigned line, column;

	if (yp->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (yp->error == YAML_READER_ERROR)
		offset_to_mark(l->buf, l->len, yp->problem_offset, &line,
		    &column);
	else {
		line = (unsigned)yp->problem_mark.line + 1;
		column = (unsigned)yp->problem_mark.column + 1;
	}
	problem = yp->problem != NULL ? yp->problem : "invalid YAML";
	if (yp->context != NULL)
		ytree_error_at(l->rep, line, column,
		    "YAML syntax error: %s (%s at line %u, column %u)", problem,
		    yp->context, (unsigned)yp->context_mark.line + 1,
		    (unsigned)yp->context_mark.column + 1);
	else
		ytree_error_at(l->rep, line, column, "YAML syntax error: %s",
		    problem);
	return -EINVAL;
}

static int
loader_next(struct loader *l, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&l->yp, ev))
		return loader_syntax_error(l);
	return 0;
}

/* A problem at the start of the event. */
static int
loader_refuse(struct loader *l, const yaml_event_t *ev, const char *what)
{
	ytree_error_at(l->rep, (unsigned)ev->start_mark.line + 1,
	    (unsigned)ev->start_mark.column + 1, "%s", what);
	return -EINVAL;
}

static const yaml_char_t *
event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

static int
load_scalar(struct loader *l, const yaml_event_t *ev,
    struct ytree_node **ret)
{
	const char *value = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct ytree_node *n;

	if (memchr(value, '\0', len) != NULL)
		return loader_refuse(l, ev, "NUL characters are not allowed");
	n = node_new(YTREE_SCALAR, &ev->start_mark);
	if (n == NULL)
		return -ENOMEM;
	n->value = malloc(len + 1);
	if (n->value == NULL) {
		free(n);
		return -ENOMEM;
	}
	memcpy(n->value, value, len);
	n->value[len] = '\0';
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	*ret = n;
	return 0;
}

/* Builds the node that starts with *ev; always consumes *ev. */
static int
load_node(struct loader *l, yaml_event_t *ev, unsigned depth,
    struct ytree_node **ret)
{
	yaml_event_type_t end;
	enum ytree_kind kind;
	struct ytree_node *n = NULL, *c;
	int r;

	if (ev->type == YAML_ALIAS_EVENT || event_anchor(ev) != NULL) {
		r = loader_refuse(l, ev,
		    "YAML anchors and aliases are not supported");
		goto out;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		r = load_scalar(l, ev, &n);
		if (r == 0)
			*ret = n;
		goto out;
	case YAML_SEQUENCE_START_EVENT:
		kind = YTREE_SEQUENCE;
		end = YAML_SEQUENCE_END_EVENT;
		break;
	case YAML_MAPPING_START_EVENT:
		kind = YTREE_MAPPING;
		end = YAML_MAPPING_END_EVENT;
		break;
	default:
		r = loader_refuse(l, ev, "unexpected YAML structure");
		goto out;
	}
	if (depth >= YTREE_MAX_DEPTH) {
		ytree_error_at(l->rep, (unsigned)ev->start_mark.line + 1,
		    (unsigned)ev->start_mark.column + 1,
		    "nested deeper than %d levels", YTREE_MAX_DEPTH);
		r = -EINVAL;
		goto out;
	}
	n = node_new(kind, &ev->start_mark);
	if (n == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		yaml_event_delete(ev);
		r = loader_next(l, ev);
		if (r < 0)
			break;
		if (ev->type == end) {
			*ret = n;
			n = NULL;
			break;
		}
		r = load_node(l, ev, depth + 1, &c);
		if (r < 0)
			break;
		r = node_append(n, c);
		if (r < 0) {
			ytree_free(c);
			break;
		}
	}
	ytree_free(n);
out:
	yaml_event_delete(ev);
	return r;
}

int
ytree_load(const char *buf, size_t len, const struct ytree_report *rep,
    struct ytree_node **ret)
{
	struct loader l = { .rep = rep, .buf = buf, .len = len };
	struct ytree_node *root = NULL;
	yaml_event_t ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	if (!yaml_parser_initialize(&l.yp))
		return -ENOMEM;
	yaml_parser_set_input_string(&l.yp, (const unsigned char *)buf, len);

	/* STREAM-START, then DOCUMENT-START or STREAM-END. */
	r = loader_next(&l, &ev);
	if (r < 0)
		goto out;
	yaml_event_delete(&ev);
	r = loader_next(&l, &ev);
	if (r < 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		ytree_error_at(rep, 1, 1, "the file is empty; expected a "
		    "mapping of settings (key: value)");
		r = -EINVAL;
		goto out;
	}
	yaml_event_delete(&ev);
	r = loader_next(&l, &ev);
	if (r < 0)
		goto out;
	r = load_node(&l, &ev, 0, &root);
	if (r < 0)
		goto out;
	/* DOCUMENT-END, then STREAM-END. */
	r = loader_next(&l, &ev);
	if (r < 0)
		goto out;
	yaml_event_delete(&ev);
	r = loader_next(&l, &ev);
	if (r < 0)
		goto out;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		r = loader_refuse(&l, &ev,
		    "multiple YAML documents are not supported");
out:
	yaml_event_delete(&ev);
	yaml_parser_delete(&l.yp);
	if (r < 0) {
		ytree_free(root);
		return r;
	}
	*ret = root;
	return 0;
}
