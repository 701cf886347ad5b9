/*
 * test_files.h: helpers for unit tests that write files into a temporary
 * directory.  Include after <cmocka.h>.
 */
#ifndef KCM_TEST_FILES_H
#define KCM_TEST_FILES_H

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "util.h"

static inline void xsnprintf(char *buf, size_t bufsz, const char *fmt, ...)
    KCM_PRINTF(3, 4);

/* snprintf that fails the test instead of truncating. */
static inline void
xsnprintf(char *buf, size_t bufsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, bufsz, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < bufsz);
}

static inline int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes dir and everything in it (best effort). */
static inline void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* KCM_TEST_FILES_H */
