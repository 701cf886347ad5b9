/*
 * config.h: the YAML configuration, parsed and validated into an immutable
 * struct kcm_config.  Loading is all-or-nothing: either every value, every
 * secret file and every path checked out, or the caller gets the complete
 * list of errors (file:line:column: message) and no configuration.
 */
#ifndef KCM_CONFIG_H
#define KCM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config_types.h"

struct config_error {
	char		*file;
	unsigned	 line;		/* 1-based */
	unsigned	 column;	/* 1-based */
	char		*message;
};

struct config_errors {
	struct config_error *v;
	size_t		 n;
};

/*
 * Collects the problems of one file's load (the loaders of config.c and
 * web_config.c): config_errlist_add() is the struct ytree_report callback
 * (userdata a struct config_errlist) that appends one error naming `path`;
 * oom is set when one could not be kept.  config_errors_sort() orders
 * errs->v[from..n) by position, stably: the file's reading order.
 */
struct config_errlist {
	const char		*path;		/* names the input in errors */
	struct config_errors	*errs;
	bool			 oom;
};

void	 config_errlist_add(void *userdata, unsigned line, unsigned column,
	    char *message);
void	 config_errors_sort(struct config_errors *errs, size_t from);

/*
 * Loads and validates `path`, reading secret files (see README).  Every
 * file is opened without blocking and must be a regular file.  On success
 * returns 0 and *ret owns a new configuration.  On failure returns a negative
 * errno (-EINVAL for validation errors) and appends every problem to errs.
 * A missing or unreadable file is one error with line 0 / column 0.
 */
int	 config_load(const char *path, struct kcm_config **ret,
	    struct config_errors *errs);

/*
 * config_load() without the file: parses len bytes at buf (need not be
 * NUL-terminated).  `name` stands for the file in errors and becomes
 * cfg->path; relative *_file names resolve against basedir (non-NULL).
 * Secret and TLS files are read and checked as by config_load().
 */
int	 config_load_buffer(const char *name, const void *buf, size_t len,
	    const char *basedir, struct kcm_config **ret,
	    struct config_errors *errs);

/* The built-in defaults (one target "default" at http://localhost:5601). */
int	 config_default(struct kcm_config **ret);

/*
 * --web.listen-address: replaces cfg's `listen` list by addrs[0..n)
 * (each address:port or [v6]:port, as `listen`).  n == 0 changes nothing.
 * Errors name "command line" as their file (no line:column).
 */
int	 config_override_listen(struct kcm_config *cfg,
	    const char *const *addrs, size_t n, struct config_errors *errs);

void	 config_free(struct kcm_config *cfg);	/* NULL-safe; wipes secrets */
void	 config_errors_free(struct config_errors *errs);
/* Writes each error as "FILE:LINE:COLUMN: message\n" ("FILE: message\n"
 * for an error about the whole file, such as one that cannot be opened). */
void	 config_errors_print(const struct config_errors *errs, FILE *f);

#endif /* KCM_CONFIG_H */
