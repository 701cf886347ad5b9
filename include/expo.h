/*
 * expo.h: the Prometheus text exposition format 0.0.4, as pure functions.
 * No I/O and no state: the registry (metrics.c) calls these, and the fuzzer
 * feeds them arbitrary bytes.
 */
#ifndef KCM_EXPO_H
#define KCM_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Longest label value we export, in bytes (after UTF-8 repair). */
#define EXPO_LABEL_VALUE_MAX 1024

/*
 * Makes a label value safe to store: invalid UTF-8 sequences (overlongs,
 * surrogates, > U+10FFFF, truncated sequences, stray continuation bytes)
 * become U+FFFD, NUL bytes become U+FFFD, and the result is cut to at most
 * max bytes on a code-point boundary.  Appends to out; sets *truncated when
 * it had to cut (truncated may be NULL).  Escaping is NOT done here (see
 * expo_escape_label).  Each maximal invalid subpart (Unicode 3.9) becomes
 * one U+FFFD, e.g. "\xe2\x82" -> 1, "\xc0\x80" -> 2, "\xed\xa0\x80" -> 3.
 */
int	 expo_sanitize_label(struct strbuf *out, const char *s, size_t len,
	    size_t max, bool *truncated);

/* Appends s escaped for a label value: \\ \" \n only (exactly those three). */
int	 expo_escape_label(struct strbuf *out, const char *s, size_t len);

/* Appends s escaped for HELP text: \\ and \n only. */
int	 expo_escape_help(struct strbuf *out, const char *s);

/*
 * Appends a sample value, independent of the locale: integers that a double
 * holds exactly are printed without exponent or fraction ("3", "-1",
 * "1700000000"), NaN as "NaN", infinities as "+Inf" / "-Inf", others
 * with up to 17 significant digits using '.' as decimal separator.
 */
int	 expo_value(struct strbuf *out, double v);

/* True when name matches [a-zA-Z_:][a-zA-Z0-9_:]* (metric names). */
bool	 expo_valid_metric_name(const char *name);
/* True when name matches [a-zA-Z_][a-zA-Z0-9_]* and does not start "__". */
bool	 expo_valid_label_name(const char *name);

#endif /* KCM_EXPO_H */
