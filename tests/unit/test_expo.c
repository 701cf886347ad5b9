/*
 * test_expo.c: the exposition writer (expo.c) and the registry (metrics.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "expo.h"
#include "metrics.h"
#include "test_files.h"
#include "util.h"

#define FFFD "\xef\xbf\xbd"

/* ---- helpers ----------------------------------------------------------- */

static char *
sanitize(const char *s, size_t len, size_t max, bool *truncated)
{
	struct strbuf sb;
	bool cut = false;

	strbuf_init(&sb);
	assert_int_equal(expo_sanitize_label(&sb, s, len, max, &cut), 0);
	if (truncated != NULL)
		*truncated = cut;
	return strbuf_steal(&sb);
}

static void
check_sanitize(const char *in, size_t len, const char *want)
{
	char *got;
	bool cut = true;

	got = sanitize(in, len, EXPO_LABEL_VALUE_MAX, &cut);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_false(cut);
	free(got);
}
#define SANITIZE(lit, want) check_sanitize(lit, sizeof(lit) - 1, want)

static char *
escape_label(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb);
	assert_int_equal(expo_escape_label(&sb, s, strlen(s)), 0);
	return strbuf_steal(&sb);
}

static char *
escape_help(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb);
	assert_int_equal(expo_escape_help(&sb, s), 0);
	return strbuf_steal(&sb);
}

static char *
value_str(double v)
{
	struct strbuf sb;

	strbuf_init(&sb);
	assert_int_equal(expo_value(&sb, v), 0);
	return strbuf_steal(&sb);
}

static char *
render(struct metrics *m)
{
	struct strbuf sb;

	strbuf_init(&sb);
	assert_int_equal(metrics_render(m, &sb), 0);
	return strbuf_steal(&sb);
}

/* Strict UTF-8 check (Table 3-7), NUL rejected. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	unsigned char lo, hi;

	while (i < len) {
		unsigned char c = s[i];

		lo = 0x80;
		hi = 0xbf;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else
			return false;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || s[i + k] < lo || s[i + k] > hi)
				return false;
			lo = 0x80;
			hi = 0xbf;
		}
		i += n + 1;
	}
	return true;
}

static size_t
name_len(const char *s, bool colon)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':') || (i > 0 && c >= '0' && c <= '9')))
			break;
	}
	return i;
}

/* Checks one sample line (without '\n'); returns false when malformed. */
static bool
sample_valid(const char *l)
{
	static const char *const special[] = { "NaN", "+Inf", "-Inf" };
	size_t n, k;
	char *end;

	n = name_len(l, true);
	if (n == 0)
		return false;
	l += n;
	if (*l == '{') {
		l++;
		for (;;) {
			n = name_len(l, false);
			if (n == 0 || l[n] != '=' || l[n + 1] != '"')
				return false;
			l += n + 2;
			while (*l != '"') {
				if (*l == '\0')
					return false;
				if (*l == '\\') {
					if (l[1] != '\\' && l[1] != '"' && l[1] != 'n')
						return false;
					l++;
				}
				l++;
			}
			l++;
			if (*l == '}')
				break;
			if (*l != ',')
				return false;
			l++;
		}
		l++;
	}
	if (*l++ != ' ')
		return false;
	for (k = 0; k < ELEMENTSOF(special); k++)
		if (strcmp(l, special[k]) == 0)
			return true;
	if (*l == '\0' || strspn(l, "0123456789+-.e") != strlen(l))
		return false;
	strtod(l, &end);	/* test runs in the C locale here */
	return *end == '\0';
}

/*
 * The whole document: valid UTF-8, ends in '\n', every line a HELP, TYPE or
 * sample line.  Returns the number of sample lines, or -1.
 */
static long
exposition_check(const char *text)
{
	const char *p = text, *nl;
	long samples = 0;
	size_t n;
	char *line;
	bool ok;

	if (!utf8_valid((const unsigned char *)text, strlen(text)))
		return -1;
	if (*text != '\0' && text[strlen(text) - 1] != '\n')
		return -1;
	for (; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		line = strndup(p, (size_t)(nl - p));
		assert_non_null(line);
		if (strncmp(line, "# HELP ", 7) == 0) {
			n = name_len(line + 7, true);
			ok = n > 0 && line[7 + n] == ' ';
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			n = name_len(line + 7, true);
			ok = n > 0 && line[7 + n] == ' ' &&
			    (strcmp(line + 8 + n, "counter") == 0 ||
			    strcmp(line + 8 + n, "gauge") == 0 ||
			    strcmp(line + 8 + n, "histogram") == 0);
		} else {
			ok = sample_valid(line);
			samples++;
		}
		free(line);
		if (!ok)
			return -1;
	}
	return samples;
}

static const char *const L2[] = { "target", "name" };

/* ---- expo.c ------------------------------------------------------------ */

static void
test_escape_label(void **state)
{
	char *s;

	(void)state;
	s = escape_label("back\\slash");
	assert_string_equal(s, "back\\\\slash");
	free(s);
	s = escape_label("say \"hi\"");
	assert_string_equal(s, "say \\\"hi\\\"");
	free(s);
	s = escape_label("two\nlines\n");
	assert_string_equal(s, "two\\nlines\\n");
	free(s);
	s = escape_label("tab\there\rcr");
	assert_string_equal(s, "tab\there\rcr");
	free(s);
	s = escape_label("\\\"\n");
	assert_string_equal(s, "\\\\\\\"\\n");
	free(s);
	s = escape_label("");
	assert_string_equal(s, "");
	free(s);
}

static void
test_escape_help(void **state)
{
	char *s;

	(void)state;
	s = escape_help("a\\b\nc \"quoted\"\tt\rr");
	assert_string_equal(s, "a\\\\b\\nc \"quoted\"\tt\rr");
	free(s);
}

static void
test_sanitize_valid(void **state)
{
	(void)state;
	SANITIZE("plain ascii 123", "plain ascii 123");
	SANITIZE("\xc2\x80 \xdf\xbf", "\xc2\x80 \xdf\xbf");		/* U+0080, U+07FF */
	SANITIZE("\xe0\xa0\x80 \xef\xbf\xbf", "\xe0\xa0\x80 \xef\xbf\xbf");
	SANITIZE("\xed\x9f\xbf \xee\x80\x80", "\xed\x9f\xbf \xee\x80\x80");
	SANITIZE("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf",
	    "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf");			/* U+10000, U+10FFFF */
	SANITIZE("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	SANITIZE("", "");
}

static void
test_sanitize_overlong(void **state)
{
	(void)state;
	SANITIZE("\xc0\x80", FFFD FFFD);
	SANITIZE("a\xc1\xbf" "b", "a" FFFD FFFD "b");
	SANITIZE("\xe0\x80\x80", FFFD FFFD FFFD);
	SANITIZE("\xe0\x9f\xbf", FFFD FFFD FFFD);
	SANITIZE("\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD);
	SANITIZE("\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD);
}

static void
test_sanitize_surrogates(void **state)
{
	(void)state;
	SANITIZE("\xed\xa0\x80", FFFD FFFD FFFD);		/* U+D800 */
	SANITIZE("x\xed\xbf\xbfy", "x" FFFD FFFD FFFD "y");	/* U+DFFF */
	/* CESU-8 pair for U+1F600 */
	SANITIZE("\xed\xa0\xbd\xed\xb8\x80", FFFD FFFD FFFD FFFD FFFD FFFD);
}

static void
test_sanitize_too_big(void **state)
{
	(void)state;
	SANITIZE("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);	/* U+110000 */
	SANITIZE("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD);
	SANITIZE("\xf7\xbf\xbf\xbf", FFFD FFFD FFFD FFFD);
	SANITIZE("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD);
	SANITIZE("a\xfe" "b\xff" "c", "a" FFFD "b" FFFD "c");
}

static void
test_sanitize_truncated_sequences(void **state)
{
	(void)state;
	SANITIZE("\xc3", FFFD);
	SANITIZE("euro\xe2\x82", "euro" FFFD);		/* maximal subpart: one */
	SANITIZE("\xe2\x82x", FFFD "x");
	SANITIZE("\xf0\x9f\x98", FFFD);
	SANITIZE("\xf0\x9f\x98z\xf0\x9f", FFFD "z" FFFD);
	SANITIZE("\xe2\xe2\x82\xac", FFFD "\xe2\x82\xac");	/* new lead restarts */
	SANITIZE("\xf4\x8f\xbf" "\xc3\xa9", FFFD "\xc3\xa9");
}

static void
test_sanitize_stray_continuation(void **state)
{
	(void)state;
	SANITIZE("\x80", FFFD);
	SANITIZE("a\x80\xbf" "b", "a" FFFD FFFD "b");
	SANITIZE("\xc3\xa9\xa9", "\xc3\xa9" FFFD);
	SANITIZE("\xbf\xbf\xbf\xbf", FFFD FFFD FFFD FFFD);
}

static void
test_sanitize_nul(void **state)
{
	(void)state;
	SANITIZE("a\0b", "a" FFFD "b");
	SANITIZE("\0\0", FFFD FFFD);
}

static void
test_sanitize_truncation(void **state)
{
	const char emoji[] = "abc\xf0\x9f\x98\x80";	/* 3 + 4 bytes */
	struct strbuf sb;
	char *s;
	bool cut;
	size_t max;

	(void)state;
	/* A 4-byte character straddling the limit is dropped whole. */
	for (max = 3; max < 7; max++) {
		s = sanitize(emoji, 7, max, &cut);
		assert_string_equal(s, "abc");
		assert_true(cut);
		free(s);
	}
	s = sanitize(emoji, 7, 7, &cut);
	assert_string_equal(s, emoji);
	assert_false(cut);
	free(s);

	/* Repair happens first: a U+FFFD is never split either. */
	s = sanitize("ab\xff", 3, 4, &cut);
	assert_string_equal(s, "ab");
	assert_true(cut);
	free(s);
	s = sanitize("ab\xff", 3, 5, &cut);
	assert_string_equal(s, "ab" FFFD);
	assert_false(cut);
	free(s);
	/* One bad byte grows to three: the limit applies to the output. */
	s = sanitize("\xff\xff\xff\xff", 4, 7, &cut);
	assert_string_equal(s, FFFD FFFD);
	assert_true(cut);
	free(s);
	s = sanitize("abc", 3, 0, &cut);
	assert_string_equal(s, "");
	assert_true(cut);
	free(s);

	/* Appends; does not clobber what is already in the buffer. */
	strbuf_init(&sb);
	strbuf_puts(&sb, "pre:");
	assert_int_equal(expo_sanitize_label(&sb, "x\x80", 2, 100, NULL), 0);
	assert_string_equal(strbuf_str(&sb), "pre:x" FFFD);
	strbuf_free(&sb);
}

static void
test_sanitize_long(void **state)
{
	char *in, *s;
	bool cut;

	(void)state;
	in = malloc(10000);
	assert_non_null(in);
	/* 2-byte characters: the cut must land on an even offset. */
	for (size_t i = 0; i < 10000; i += 2)
		memcpy(in + i, "\xc3\xa9", 2);
	s = sanitize(in, 9999, 1023, &cut);
	assert_int_equal(strlen(s), 1022);
	assert_true(cut);
	assert_true(utf8_valid((unsigned char *)s, strlen(s)));
	free(s);
	free(in);
}

/*
 * Makes a de_DE.UTF-8 (',' as decimal separator) available: the system
 * one when installed, else one built with localedef into *tmpdir, used
 * through LOCPATH.  Returns the locale name in effect or NULL.
 */
static const char *
comma_locale(char **tmpdir)
{
	static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8",
	    "fr_FR.UTF-8", "nl_NL.UTF-8" };
	char dir[] = "/tmp/kcm-test-locale.XXXXXX", *out;
	size_t i;
	pid_t pid;
	int status;

	*tmpdir = NULL;
	for (i = 0; i < ELEMENTSOF(names); i++)
		if (setlocale(LC_NUMERIC, names[i]) != NULL)
			return names[i];
	if (access("/usr/bin/localedef", X_OK) != 0 ||
	    access("/usr/share/i18n/locales/de_DE", R_OK) != 0 ||
	    mkdtemp(dir) == NULL)
		return NULL;
	if (asprintf(&out, "%s/de_DE.UTF-8", dir) < 0)
		return NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execl("/usr/bin/localedef", "localedef", "-i", "de_DE", "-f",
		    "UTF-8", out, (char *)NULL);
		_exit(127);
	}
	free(out);
	*tmpdir = strdup(dir);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return NULL;
	setenv("LOCPATH", dir, 1);
	if (setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL)
		return "de_DE.UTF-8 (generated)";
	return NULL;
}

static void
check_values(void)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{ 0.0, "0" }, { -0.0, "0" }, { 1, "1" }, { -1, "-1" },
		{ 1e21, "1e+21" }, { 0.5, "0.5" }, { -2.25, "-2.25" },
		{ 1700000000.123, "1700000000.123" }, { 1700000000, "1700000000" },
		{ 0.1, "0.1" }, { 1e-7, "1e-07" }, { 0.005, "0.005" },
		{ 9007199254740992.0, "9007199254740992" },
		{ -9007199254740992.0, "-9007199254740992" },
		{ 18014398509481984.0, "18014398509481984" },
		{ 1e17, "1e+17" }, { 123456789e10, "1.23456789e+18" },
		{ 123456789012.5, "123456789012.5" },
		{ 1.0 / 3.0, "0.3333333333333333" },
		{ 0.1 + 0.2, "0.30000000000000004" },
	};
	char *s;
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		s = value_str(cases[i].v);
		assert_string_equal(s, cases[i].want);
		free(s);
	}
	s = value_str(NAN);
	assert_string_equal(s, "NaN");
	free(s);
	s = value_str(-NAN);
	assert_string_equal(s, "NaN");
	free(s);
	s = value_str(INFINITY);
	assert_string_equal(s, "+Inf");
	free(s);
	s = value_str(-INFINITY);
	assert_string_equal(s, "-Inf");
	free(s);
}

static void
test_value(void **state)
{
	const char *loc;
	char *tmpdir = NULL, probe[16];

	(void)state;
	check_values();

	loc = comma_locale(&tmpdir);
	if (loc != NULL) {
		snprintf(probe, sizeof(probe), "%.1f", 0.5);
		print_message("expo_value under LC_NUMERIC=%s (0.5 -> \"%s\")\n",
		    loc, probe);
		assert_string_equal(probe, "0,5");	/* really a comma locale */
		check_values();
	} else {
		print_message("no comma locale; using C.UTF-8\n");
		setlocale(LC_NUMERIC, "C.UTF-8");
		check_values();
	}
	setlocale(LC_NUMERIC, "C");
	unsetenv("LOCPATH");
	if (tmpdir != NULL) {
		rm_tree(tmpdir);
		free(tmpdir);
	}
	check_values();
}

static void
test_valid_names(void **state)
{
	(void)state;
	assert_true(expo_valid_metric_name("kcm_up"));
	assert_true(expo_valid_metric_name(":a:b_9"));
	assert_true(expo_valid_metric_name("_x"));
	assert_false(expo_valid_metric_name(""));
	assert_false(expo_valid_metric_name(NULL));
	assert_false(expo_valid_metric_name("9lives"));
	assert_false(expo_valid_metric_name("a-b"));
	assert_false(expo_valid_metric_name("a b"));
	assert_false(expo_valid_metric_name("caf\xc3\xa9"));

	assert_true(expo_valid_label_name("connector_id"));
	assert_true(expo_valid_label_name("_x"));
	assert_true(expo_valid_label_name("A9"));
	assert_false(expo_valid_label_name("__name__"));
	assert_false(expo_valid_label_name("__x"));
	assert_false(expo_valid_label_name("a:b"));
	assert_false(expo_valid_label_name("1a"));
	assert_false(expo_valid_label_name(""));
	assert_false(expo_valid_label_name(NULL));
}

/* ---- metrics.c --------------------------------------------------------- */

static void
test_family_grouping(void **state)
{
	struct metrics *m;
	struct metric_family *b, *a, *empty;
	const char *const lab[] = { "id" };
	char *out;

	(void)state;
	m = metrics_new();
	assert_non_null(m);
	b = metrics_family(m, "kcm_b", "B things.", METRIC_GAUGE, lab, 1, NULL, 0);
	a = metrics_family(m, "kcm_a_total", "A things.", METRIC_COUNTER, lab, 1,
	    NULL, 0);
	empty = metrics_family(m, "kcm_0_unused", "Nothing.", METRIC_GAUGE,
	    NULL, 0, NULL, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(empty);
	assert_int_equal(metrics_set(b, (const char *[]){ "y" }, 2), 0);
	assert_int_equal(metrics_add(a, (const char *[]){ "y" }, 3), 0);
	assert_int_equal(metrics_set(b, (const char *[]){ "x" }, 1), 0);
	assert_int_equal(metrics_add(a, (const char *[]){ "x" }, 4), 0);
	assert_int_equal(metrics_add(a, (const char *[]){ "x" }, 1), 0);
	out = render(m);
	assert_string_equal(out,
	    "# HELP kcm_a_total A things.\n"
	    "# TYPE kcm_a_total counter\n"
	    "kcm_a_total{id=\"x\"} 5\n"
	    "kcm_a_total{id=\"y\"} 3\n"
	    "# HELP kcm_b B things.\n"
	    "# TYPE kcm_b gauge\n"
	    "kcm_b{id=\"x\"} 1\n"
	    "kcm_b{id=\"y\"} 2\n");
	assert_int_equal(exposition_check(out), 4);
	free(out);
	metrics_free(m);
}

static void
test_no_labels(void **state)
{
	struct metrics *m;
	struct metric_family *f;
	char *out;
	double v;

	(void)state;
	m = metrics_new();
	f = metrics_family(m, "kcm_up", "Help with \\ and\nnewline.",
	    METRIC_GAUGE, NULL, 0, NULL, 0);
	assert_non_null(f);
	assert_string_equal(metrics_family_name(f), "kcm_up");
	assert_null(metrics_family_name(NULL));
	out = render(m);
	assert_string_equal(out, "");		/* no series: nothing at all */
	free(out);
	assert_int_equal(metrics_set(f, NULL, 1), 0);
	assert_int_equal(metrics_get(f, NULL, &v), 0);
	assert_true(v == 1);
	out = render(m);
	assert_string_equal(out,
	    "# HELP kcm_up Help with \\\\ and\\nnewline.\n"
	    "# TYPE kcm_up gauge\n"
	    "kcm_up 1\n");
	free(out);
	metrics_free(m);
}

static void
shuffle(size_t *v, size_t n, unsigned *seed)
{
	size_t i, j, t;

	for (i = n - 1; i > 0; i--) {
		j = (size_t)rand_r(seed) % (i + 1);
		t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

static struct metrics *
build_ordered(const size_t *order, size_t n)
{
	struct metrics *m;
	struct metric_family *f, *h;
	char a[32], b[32];
	size_t i;

	m = metrics_new();
	f = metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, L2, 2, NULL, 0);
	h = metrics_family(m, "kcm_h_seconds", "H.", METRIC_HISTOGRAM, L2, 2,
	    (const double[]){ 0.1, 1 }, 2);
	assert_non_null(f);
	assert_non_null(h);
	for (i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "t%zu", order[i] % 7);
		snprintf(b, sizeof(b), "n%zu", order[i]);
		assert_int_equal(metrics_set(f, (const char *[]){ a, b },
		    (double)order[i]), 0);
		assert_int_equal(metrics_observe(h, (const char *[]){ a, b },
		    (double)order[i] / 100), 0);
	}
	/* "a","z" sorts before "ab","a" label by label (not "az" > "aba"). */
	metrics_set(f, (const char *[]){ "ab", "a" }, 1);
	metrics_set(f, (const char *[]){ "a", "z" }, 2);
	return m;
}

static void
test_deterministic_order(void **state)
{
	size_t order[300], i;
	unsigned seed = 42;
	struct metrics *m1, *m2;
	char *r1, *r2, *pa, *pb;

	(void)state;
	for (i = 0; i < ELEMENTSOF(order); i++)
		order[i] = i;
	m1 = build_ordered(order, ELEMENTSOF(order));
	shuffle(order, ELEMENTSOF(order), &seed);
	m2 = build_ordered(order, ELEMENTSOF(order));
	r1 = render(m1);
	r2 = render(m2);
	assert_string_equal(r1, r2);
	assert_int_equal(exposition_check(r1), 302 + 300 * 5);
	pa = strstr(r1, "kcm_g{target=\"a\",name=\"z\"} 2\n");
	pb = strstr(r1, "kcm_g{target=\"ab\",name=\"a\"} 1\n");
	assert_non_null(pa);
	assert_non_null(pb);
	assert_true(pa < pb);
	/* n10 < n100 < n11 in byte order, all within target t3 */
	pa = strstr(r1, "kcm_g{target=\"t3\",name=\"n10\"}");
	pb = strstr(r1, "kcm_g{target=\"t3\",name=\"n115\"}");
	assert_true(pa != NULL && pb != NULL && pa < pb);
	free(r1);
	free(r2);
	metrics_free(m1);
	metrics_free(m2);
}

static void
test_semantics(void **state)
{
	struct metrics *m;
	struct metric_family *g, *c, *h;
	const char *const v1[] = { "t", "a" }, *const vnull[] = { "t", NULL };
	double v;

	(void)state;
	m = metrics_new();
	g = metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, L2, 2, NULL, 0);
	c = metrics_family(m, "kcm_c_total", "C.", METRIC_COUNTER, L2, 2, NULL, 0);
	h = metrics_family(m, "kcm_h", "H.", METRIC_HISTOGRAM, L2, 2,
	    (const double[]){ 1 }, 1);
	assert_true(g && c && h);

	assert_int_equal(metrics_get(g, v1, &v), -ENOENT);
	assert_int_equal(metrics_add(g, v1, -2.5), 0);	/* created at 0 */
	assert_int_equal(metrics_get(g, v1, &v), 0);
	assert_true(v == -2.5);
	assert_int_equal(metrics_set(g, v1, 7), 0);
	assert_int_equal(metrics_add(g, v1, 1), 0);
	assert_int_equal(metrics_get(g, v1, &v), 0);
	assert_true(v == 8);
	assert_int_equal(metrics_count(g), 1);

	assert_int_equal(metrics_add(c, v1, 2), 0);
	assert_int_equal(metrics_add(c, v1, 0), 0);
	assert_int_equal(metrics_add(c, v1, -1), -EINVAL);
	assert_int_equal(metrics_add(c, v1, NAN), -EINVAL);
	assert_int_equal(metrics_get(c, v1, &v), 0);
	assert_true(v == 2);
	assert_int_equal(metrics_set(c, v1, 10), 0);
	assert_int_equal(metrics_get(c, v1, &v), 0);
	assert_true(v == 10);

	/* wrong types */
	assert_int_equal(metrics_observe(g, v1, 1), -EINVAL);
	assert_int_equal(metrics_set(h, v1, 1), -EINVAL);
	assert_int_equal(metrics_add(h, v1, 1), -EINVAL);
	assert_int_equal(metrics_get(h, v1, &v), -EINVAL);
	assert_int_equal(metrics_observe(h, v1, 0.5), 0);
	assert_int_equal(metrics_count(h), 1);

	/* bad arguments */
	assert_int_equal(metrics_set(g, vnull, 1), -EINVAL);
	assert_int_equal(metrics_set(g, NULL, 1), -EINVAL);
	assert_int_equal(metrics_set(NULL, v1, 1), -EINVAL);
	assert_int_equal(metrics_get(g, v1, NULL), -EINVAL);
	assert_int_equal(metrics_count(g), 1);
	assert_int_equal(metrics_count(NULL), 0);

	metrics_free(m);
	metrics_free(NULL);
}

static void
test_remove(void **state)
{
	static const char *const lab[] = { "target", "space", "id" };
	struct metrics *m;
	struct metric_family *f;
	char id[16], *out;
	const char *t, *s;
	size_t i;

	(void)state;
	m = metrics_new();
	f = metrics_family(m, "kcm_x", "X.", METRIC_GAUGE, lab, 3, NULL, 0);
	assert_non_null(f);
	for (i = 0; i < 24; i++) {
		t = i % 2 ? "t1" : "t2";
		s = i % 3 == 0 ? "default" : i % 3 == 1 ? "ops" : "sec\xff";
		snprintf(id, sizeof(id), "c%zu", i);
		assert_int_equal(metrics_set(f, (const char *[]){ t, s, id }, 1), 0);
	}
	assert_int_equal(metrics_count(f), 24);
	assert_int_equal(metrics_remove(f, (const char *[]){ "t1", "ops", NULL }), 4);
	assert_int_equal(metrics_remove(f, (const char *[]){ "t1", "ops", NULL }), 0);
	/* raw match values are sanitized like the series were */
	assert_int_equal(metrics_remove(f, (const char *[]){ NULL, "sec\xfe", NULL }), 8);
	assert_int_equal(metrics_remove(f, (const char *[]){ NULL, NULL, "c0" }), 1);
	assert_int_equal(metrics_remove(f, (const char *[]){ "nope", NULL, NULL }), 0);
	assert_int_equal(metrics_count(f), 11);
	assert_int_equal(metrics_remove(f, (const char *[]){ "t2", NULL, NULL }), 7);
	assert_int_equal(metrics_remove(f, (const char *[]){ NULL, NULL, NULL }), 4);
	assert_int_equal(metrics_count(f), 0);
	out = render(m);
	assert_string_equal(out, "");
	free(out);
	/* usable again after being emptied */
	assert_int_equal(metrics_set(f, (const char *[]){ "a", "b", "c" }, 1), 0);
	assert_int_equal(metrics_remove(f, NULL), 1);
	assert_int_equal(metrics_remove(NULL, NULL), 0);
	metrics_free(m);
}

static void
test_sweep(void **state)
{
	static const char *const lab[] = { "target", "space", "id" };
	struct metrics *m;
	struct metric_family *f;
	uint64_t a, b;
	char *before, *after;

	(void)state;
	m = metrics_new();
	f = metrics_family(m, "kcm_x", "X.", METRIC_GAUGE, lab, 3, NULL, 0);
	assert_non_null(f);
	assert_int_equal(metrics_set(f, (const char *[]){ "t1", "s", "c1" }, 1), 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "t1", "s", "c2" }, 1), 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "t1", "s", "c3" }, 1), 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "t2", "s", "c1" }, 1), 0);
	before = render(m);

	/* Two rewrites interleaved: t1 sets c1 and c3, t2 sets nothing. */
	a = metrics_epoch_next(m);
	b = metrics_epoch_next(m);
	assert_true(b > a);
	assert_int_equal(metrics_set(f, (const char *[]){ "t1", "s", "c3" }, 1), 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "t1", "s", "c1" }, 1), 0);
	/* t2's sweep with the later epoch takes only t2's series. */
	assert_int_equal(metrics_sweep(f, (const char *[]){ "t2", NULL, NULL }, b), 1);
	/* t1's series written after its epoch stay: c2 goes. */
	assert_int_equal(metrics_sweep(f, (const char *[]){ "t1", NULL, NULL }, a), 1);
	assert_int_equal(metrics_count(f), 2);
	after = render(m);
	assert_non_null(strstr(after, "id=\"c1\""));
	assert_non_null(strstr(after, "id=\"c3\""));
	assert_null(strstr(after, "id=\"c2\""));
	assert_null(strstr(after, "target=\"t2\""));
	/* Reads do not count as writes. */
	a = metrics_epoch_next(m);
	assert_int_equal(metrics_get(f, (const char *[]){ "t1", "s", "c1" },
	    &(double){ 0 }), 0);
	assert_int_equal(metrics_sweep(f, NULL, a), 2);
	assert_int_equal(metrics_count(f), 0);
	free(before);
	free(after);
	metrics_free(m);
}

/* A registry with a few families of each type, n series each. */
static struct metrics *
steps_registry(size_t n)
{
	static const double buckets[] = { 0.1, 1, 10 };
	struct metrics *m = metrics_new();
	struct metric_family *g, *c, *h, *u;
	char id[32];
	size_t i;

	assert_non_null(m);
	g = metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, L2, 2, NULL, 0);
	c = metrics_family(m, "kcm_c_total", "C.", METRIC_COUNTER, L2, 2, NULL, 0);
	h = metrics_family(m, "kcm_h_seconds", "H.", METRIC_HISTOGRAM, L2, 2,
	    buckets, ELEMENTSOF(buckets));
	u = metrics_family(m, "kcm_u", "U.", METRIC_GAUGE, NULL, 0, NULL, 0);
	assert_non_null(g);
	assert_non_null(c);
	assert_non_null(h);
	assert_non_null(u);
	for (i = 0; i < n; i++) {
		/* Out of order on purpose: the rendering sorts. */
		snprintf(id, sizeof(id), "c%03zu", (i * 37) % n);
		assert_int_equal(metrics_set(g, (const char *[]){ "t", id }, (double)i), 0);
		assert_int_equal(metrics_add(c, (const char *[]){ "t", id }, 1), 0);
		assert_int_equal(metrics_observe(h, (const char *[]){ "t", id },
		    (double)i / 10), 0);
	}
	assert_int_equal(metrics_set(u, NULL, 7), 0);
	return m;
}

/* Renders in steps of budget; the number of steps in *nsteps. */
static char *
render_steps(struct metrics *m, size_t budget, size_t *nsteps)
{
	struct metrics_render *r;
	struct strbuf sb;
	int e;

	strbuf_init(&sb);
	r = metrics_render_begin(m);
	assert_non_null(r);
	*nsteps = 0;
	do {
		e = metrics_render_step(r, &sb, budget);
		assert_true(e >= 0);
		(*nsteps)++;
	} while (e == 1);
	metrics_render_end(r);
	return strbuf_steal(&sb);
}

static void
test_render_steps(void **state)
{
	static const size_t budgets[] = { 1, 2, 3, 7, 64, 1000 };
	struct metrics *m;
	char *whole, *stepped;
	size_t i, n;

	(void)state;
	m = steps_registry(50);
	whole = render(m);
	assert_int_equal(exposition_check(whole), 50 + 50 + 50 * 6 + 1);
	for (i = 0; i < ELEMENTSOF(budgets); i++) {
		stepped = render_steps(m, budgets[i], &n);
		assert_string_equal(stepped, whole);
		/* 401 samples: a histogram series counts as its 6 lines. */
		if (budgets[i] == 7)
			assert_in_range(n, 401 / 13, 401 / 7 + 8);
		free(stepped);
	}
	free(whole);
	metrics_free(m);
}

static void
test_render_steps_changes(void **state)
{
	struct metrics *m;
	struct metric_family *g, *c, *a, *z;
	struct metrics_render *r;
	struct strbuf sb;
	char *out, *again;
	size_t n;
	int e;

	(void)state;
	m = steps_registry(50);
	g = metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, L2, 2, NULL, 0);
	c = metrics_family(m, "kcm_c_total", "C.", METRIC_COUNTER, L2, 2, NULL, 0);
	assert_non_null(g);
	assert_non_null(c);
	strbuf_init(&sb);
	r = metrics_render_begin(m);
	assert_non_null(r);
	/* One rendering at a time. */
	assert_null(metrics_render_begin(m));
	assert_int_equal(metrics_render(m, &(struct strbuf){ 0 }), -EBUSY);

	/* kcm_c_total comes first: 10 of its 50 series. */
	assert_int_equal(metrics_render_step(r, &sb, 10), 1);
	assert_non_null(strstr(strbuf_str(&sb), "name=\"c009\"} 1\n"));
	assert_null(strstr(strbuf_str(&sb), "c010"));
	/* Behind and ahead in the family being walked, and in the next. */
	assert_int_equal(metrics_remove(c, (const char *[]){ "t", "c005" }), 1);
	assert_int_equal(metrics_remove(c, (const char *[]){ "t", "c020" }), 1);
	assert_int_equal(metrics_set(c, (const char *[]){ "t", "c999" }, 1), 0);
	assert_int_equal(metrics_add(c, (const char *[]){ "t", "c030" }, 41), 0);
	assert_int_equal(metrics_remove(g, (const char *[]){ "t", "c001" }), 1);
	assert_int_equal(metrics_set(g, (const char *[]){ "t", "c000a" }, 1), 0);
	/* Removed and set again: a new series, after its family started. */
	assert_int_equal(metrics_remove(c, (const char *[]){ "t", "c040" }), 1);
	assert_int_equal(metrics_set(c, (const char *[]){ "t", "c040" }, 5), 0);
	/* Families registered before and after the one being walked. */
	a = metrics_family(m, "kcm_a", "A.", METRIC_GAUGE, NULL, 0, NULL, 0);
	z = metrics_family(m, "kcm_z", "Z.", METRIC_GAUGE, NULL, 0, NULL, 0);
	assert_non_null(a);
	assert_non_null(z);
	assert_int_equal(metrics_set(a, NULL, 1), 0);
	assert_int_equal(metrics_set(z, NULL, 2), 0);
	do {
		e = metrics_render_step(r, &sb, 3);
		assert_true(e >= 0);
	} while (e == 1);
	metrics_render_end(r);
	out = strbuf_steal(&sb);
	assert_true(exposition_check(out) > 0);
	/* Rendered before it went: kept. */
	assert_non_null(strstr(out, "kcm_c_total{target=\"t\",name=\"c005\"}"));
	/* Went before its step: left out, and so is what came after the start. */
	assert_null(strstr(out, "kcm_c_total{target=\"t\",name=\"c020\"}"));
	assert_null(strstr(out, "name=\"c999\""));
	assert_null(strstr(out, "kcm_c_total{target=\"t\",name=\"c040\"}"));
	/* Values are what they are when their step reaches them. */
	assert_non_null(strstr(out, "kcm_c_total{target=\"t\",name=\"c030\"} 42\n"));
	/* The next family had not started: it has the changes, sorted. */
	assert_null(strstr(out, "kcm_g{target=\"t\",name=\"c001\"}"));
	assert_non_null(strstr(out, "kcm_g{target=\"t\",name=\"c000\"} 0\n"
	    "kcm_g{target=\"t\",name=\"c000a\"} 1\n"
	    "kcm_g{target=\"t\",name=\"c002\"}"));
	/* A family registered behind the rendering waits; one ahead is in. */
	assert_null(strstr(out, "kcm_a "));
	assert_non_null(strstr(out, "\nkcm_z 2\n"));
	free(out);

	/* The next rendering has everything, in order, like a fresh one. */
	out = render(m);
	again = render_steps(m, 4, &n);
	assert_string_equal(out, again);
	assert_non_null(strstr(out, "# TYPE kcm_a gauge\nkcm_a 1\n"));
	assert_non_null(strstr(out, "name=\"c040\"} 5\nkcm_c_total{target=\"t\",name=\"c041\"}"));
	assert_non_null(strstr(out, "name=\"c049\"} 1\nkcm_c_total{target=\"t\",name=\"c999\"} 1\n"));
	assert_null(strstr(out, "kcm_c_total{target=\"t\",name=\"c020\"}"));
	free(out);
	free(again);
	metrics_free(m);
}

/* Series added between renderings are merged into the order kept. */
static void
test_render_order_kept(void **state)
{
	static const char *const lab[] = { "id" };
	struct metrics *m1, *m2;
	struct metric_family *f1, *f2;
	char id[16], *r1, *r2;
	bool set[200] = { false };
	size_t i, j, k;

	(void)state;
	m1 = metrics_new();
	m2 = metrics_new();
	f1 = metrics_family(m1, "kcm_o", "O.", METRIC_GAUGE, lab, 1, NULL, 0);
	f2 = metrics_family(m2, "kcm_o", "O.", METRIC_GAUGE, lab, 1, NULL, 0);
	assert_non_null(f1);
	assert_non_null(f2);
	/* m1 in rounds with renderings and removals between, m2 at once. */
	for (j = 0; j < 5; j++) {
		for (i = j; i < 200; i += 5) {
			k = (i * 131) % 200;
			snprintf(id, sizeof(id), "x%zu", k);
			assert_int_equal(metrics_set(f1, (const char *[]){ id }, 1), 0);
			set[k] = true;
		}
		free(render(m1));
		k = (j * 53) % 200;
		snprintf(id, sizeof(id), "x%zu", k);
		metrics_remove(f1, (const char *[]){ id });
		set[k] = false;
	}
	for (i = 0; i < 200; i++) {
		if (!set[i])
			continue;
		snprintf(id, sizeof(id), "x%zu", i);
		assert_int_equal(metrics_set(f2, (const char *[]){ id }, 1), 0);
	}
	assert_int_equal(metrics_count(f1), metrics_count(f2));
	assert_true(metrics_count(f2) < 200);
	r1 = render(m1);
	r2 = render(m2);
	assert_string_equal(r1, r2);
	free(r1);
	free(r2);
	metrics_free(m1);
	metrics_free(m2);
}

static void
test_registration(void **state)
{
	static const char *const other[] = { "target", "id" };
	static const char *const dup[] = { "a", "a" };
	static const char *const le[] = { "le" };
	static const char *const bad[] = { "__x" };
	static const double b2[] = { 0.1, 1 }, b3[] = { 0.1, 1, 10 };
	struct metrics *m;
	struct metric_family *f, *h;

	(void)state;
	m = metrics_new();
	f = metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, L2, 2, NULL, 0);
	assert_non_null(f);
	assert_ptr_equal(metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, L2, 2,
	    NULL, 0), f);
	assert_null(metrics_family(m, "kcm_g", "G.", METRIC_COUNTER, L2, 2, NULL, 0));
	assert_null(metrics_family(m, "kcm_g", "Other.", METRIC_GAUGE, L2, 2, NULL, 0));
	assert_null(metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, other, 2, NULL, 0));
	assert_null(metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, L2, 1, NULL, 0));

	h = metrics_family(m, "kcm_h", "H.", METRIC_HISTOGRAM, NULL, 0, b2, 2);
	assert_non_null(h);
	assert_ptr_equal(metrics_family(m, "kcm_h", "H.", METRIC_HISTOGRAM,
	    NULL, 0, b2, 2), h);
	assert_null(metrics_family(m, "kcm_h", "H.", METRIC_HISTOGRAM, NULL, 0, b3, 3));
	assert_null(metrics_family(m, "kcm_h", "H.", METRIC_HISTOGRAM, NULL, 0,
	    (const double[]){ 0.1, 2 }, 2));
	/* sample names of a histogram are taken */
	assert_null(metrics_family(m, "kcm_h_sum", "S.", METRIC_GAUGE, NULL, 0, NULL, 0));
	assert_null(metrics_family(m, "kcm_h_bucket", "S.", METRIC_GAUGE, NULL, 0, NULL, 0));
	assert_null(metrics_family(m, "kcm_g", "G.", METRIC_HISTOGRAM, NULL, 0, b2, 2));
	assert_non_null(metrics_family(m, "kcm_z_count", "Z.", METRIC_GAUGE, NULL, 0, NULL, 0));
	assert_null(metrics_family(m, "kcm_z", "Z.", METRIC_HISTOGRAM, NULL, 0, b2, 2));

	/* invalid */
	assert_null(metrics_family(m, "9bad", "B.", METRIC_GAUGE, NULL, 0, NULL, 0));
	assert_null(metrics_family(m, "kcm-bad", "B.", METRIC_GAUGE, NULL, 0, NULL, 0));
	assert_null(metrics_family(m, NULL, "B.", METRIC_GAUGE, NULL, 0, NULL, 0));
	assert_null(metrics_family(m, "kcm_n", NULL, METRIC_GAUGE, NULL, 0, NULL, 0));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_GAUGE, dup, 2, NULL, 0));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_GAUGE, bad, 1, NULL, 0));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_GAUGE, NULL, 1, NULL, 0));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_GAUGE, NULL, 0, b2, 2));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_HISTOGRAM, le, 1, b2, 2));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_HISTOGRAM, NULL, 0,
	    (const double[]){ 1, 1 }, 2));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_HISTOGRAM, NULL, 0,
	    (const double[]){ 2, 1 }, 2));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_HISTOGRAM, NULL, 0,
	    (const double[]){ 1, INFINITY }, 2));
	assert_null(metrics_family(m, "kcm_d", "D.", METRIC_HISTOGRAM, NULL, 0,
	    (const double[]){ NAN }, 1));
	assert_null(metrics_family(m, "kcm_d", "D.", (enum metric_type)42, NULL, 0,
	    NULL, 0));
	assert_null(metrics_family(NULL, "kcm_d", "D.", METRIC_GAUGE, NULL, 0, NULL, 0));
	/* "le" is fine outside histograms; empty help is allowed */
	assert_non_null(metrics_family(m, "kcm_d", "", METRIC_GAUGE, le, 1, NULL, 0));
	metrics_free(m);
}

static void
test_histogram(void **state)
{
	static const char *const lab[] = { "connector" };
	static const double b[] = { 0.005, 0.5, 1, 2.5 };
	struct metrics *m;
	struct metric_family *h, *h0;
	char *out;

	(void)state;
	m = metrics_new();
	h = metrics_family(m, "kcm_check_duration_seconds", "Check duration.",
	    METRIC_HISTOGRAM, lab, 1, b, ELEMENTSOF(b));
	h0 = metrics_family(m, "kcm_scrape_seconds", "Scrape.",
	    METRIC_HISTOGRAM, NULL, 0, (const double[]){ 1 }, 1);
	assert_non_null(h);
	assert_non_null(h0);
	assert_int_equal(metrics_observe(h, (const char *[]){ "b" }, 0.00390625), 0);
	assert_int_equal(metrics_observe(h, (const char *[]){ "b" }, 0.5), 0);
	assert_int_equal(metrics_observe(h, (const char *[]){ "b" }, 0.75), 0);
	assert_int_equal(metrics_observe(h, (const char *[]){ "b" }, 3), 0);
	assert_int_equal(metrics_observe(h, (const char *[]){ "a" }, 2.5), 0);
	assert_int_equal(metrics_observe(h0, NULL, 4), 0);
	out = render(m);
	assert_string_equal(out,
	    "# HELP kcm_check_duration_seconds Check duration.\n"
	    "# TYPE kcm_check_duration_seconds histogram\n"
	    "kcm_check_duration_seconds_bucket{connector=\"a\",le=\"0.005\"} 0\n"
	    "kcm_check_duration_seconds_bucket{connector=\"a\",le=\"0.5\"} 0\n"
	    "kcm_check_duration_seconds_bucket{connector=\"a\",le=\"1\"} 0\n"
	    "kcm_check_duration_seconds_bucket{connector=\"a\",le=\"2.5\"} 1\n"
	    "kcm_check_duration_seconds_bucket{connector=\"a\",le=\"+Inf\"} 1\n"
	    "kcm_check_duration_seconds_sum{connector=\"a\"} 2.5\n"
	    "kcm_check_duration_seconds_count{connector=\"a\"} 1\n"
	    "kcm_check_duration_seconds_bucket{connector=\"b\",le=\"0.005\"} 1\n"
	    "kcm_check_duration_seconds_bucket{connector=\"b\",le=\"0.5\"} 2\n"
	    "kcm_check_duration_seconds_bucket{connector=\"b\",le=\"1\"} 3\n"
	    "kcm_check_duration_seconds_bucket{connector=\"b\",le=\"2.5\"} 3\n"
	    "kcm_check_duration_seconds_bucket{connector=\"b\",le=\"+Inf\"} 4\n"
	    "kcm_check_duration_seconds_sum{connector=\"b\"} 4.25390625\n"
	    "kcm_check_duration_seconds_count{connector=\"b\"} 4\n"
	    "# HELP kcm_scrape_seconds Scrape.\n"
	    "# TYPE kcm_scrape_seconds histogram\n"
	    "kcm_scrape_seconds_bucket{le=\"1\"} 0\n"
	    "kcm_scrape_seconds_bucket{le=\"+Inf\"} 1\n"
	    "kcm_scrape_seconds_sum 4\n"
	    "kcm_scrape_seconds_count 1\n");
	free(out);
	metrics_free(m);
}

static void
test_sanitized_collisions(void **state)
{
	static const char *const lab[] = { "name" };
	struct metrics *m;
	struct metric_family *f;
	char *a, *b, *out;
	double v;

	(void)state;
	m = metrics_new();
	f = metrics_family(m, "kcm_g", "G.", METRIC_GAUGE, lab, 1, NULL, 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "x\xff" }, 1), 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "x\xfe" }, 2), 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "x" FFFD }, 3), 0);
	assert_int_equal(metrics_count(f), 1);
	assert_int_equal(metrics_get(f, (const char *[]){ "x\x80" }, &v), 0);
	assert_true(v == 3);
	assert_int_equal(metrics_truncated_labels(m), 0);

	/* Two values that differ only past the cap are one series. */
	a = malloc(3000);
	b = malloc(3000);
	memset(a, 'a', 2999);
	memset(b, 'a', 2999);
	a[2999] = b[2999] = '\0';
	b[2000] = 'b';
	assert_int_equal(metrics_set(f, (const char *[]){ a }, 4), 0);
	assert_int_equal(metrics_truncated_labels(m), 1);
	assert_int_equal(metrics_set(f, (const char *[]){ b }, 5), 0);
	assert_int_equal(metrics_set(f, (const char *[]){ a }, 6), 0);
	assert_int_equal(metrics_truncated_labels(m), 1);	/* created once */
	assert_int_equal(metrics_count(f), 2);
	out = render(m);
	assert_int_equal(exposition_check(out), 2);
	assert_non_null(strstr(out, "kcm_g{name=\"x" FFFD "\"} 3\n"));
	free(out);
	free(a);
	free(b);
	metrics_free(m);
	assert_int_equal(metrics_truncated_labels(NULL), 0);
}

static char *
hostile_value(size_t len)
{
	static const char pieces[] = "\"\\\n\xff\xc0\x80\xed\xa0\x80\t\r{}=,# \xe2\x82";
	char *s;
	size_t i;

	s = malloc(len + 1);
	assert_non_null(s);
	for (i = 0; i < len; i++)
		s[i] = pieces[i % (sizeof(pieces) - 1)];
	s[len] = '\0';
	return s;
}

static void
test_hostile_value(void **state)
{
	struct metrics *m;
	struct metric_family *f;
	char *v, *out, *line;
	size_t nl = 0;

	(void)state;
	v = hostile_value(10 * 1024);
	m = metrics_new();
	f = metrics_family(m, "kcm_connector_info", "Info.", METRIC_GAUGE, L2, 2,
	    NULL, 0);
	assert_int_equal(metrics_set(f, (const char *[]){ "t\"1\"", v }, 1), 0);
	assert_int_equal(metrics_truncated_labels(m), 1);
	out = render(m);
	for (char *p = out; *p != '\0'; p++)
		nl += *p == '\n';
	assert_int_equal(nl, 3);
	assert_int_equal(exposition_check(out), 1);
	line = strstr(out, "\nkcm_connector_info{");
	assert_non_null(line);
	assert_true(strncmp(line + 1, "kcm_connector_info{target=\"t\\\"1\\\"\",name=\"\\\"\\\\\\n" FFFD,
	    50) == 0);
	/* 1024 raw bytes at most, at most doubled by escaping */
	assert_true(strlen(line) < 2 * EXPO_LABEL_VALUE_MAX + 64);
	free(out);
	free(v);
	metrics_free(m);
}

static void
test_promtool(void **state)
{
	static const char *const lab[] = { "target", "name", "type" };
	struct metrics *m;
	struct metric_family *g, *c, *h, *u;
	char *v, *out;
	FILE *p;
	int st;

	(void)state;
	if (access("/usr/bin/promtool", X_OK) != 0) {
		skip();
		return;
	}
	v = hostile_value(3000);
	m = metrics_new();
	g = metrics_family(m, "kcm_connector_up", "Whether the connector \\ works\n.",
	    METRIC_GAUGE, lab, 3, NULL, 0);
	c = metrics_family(m, "kcm_checks_total", "Checks run.", METRIC_COUNTER,
	    lab, 3, NULL, 0);
	h = metrics_family(m, "kcm_check_duration_seconds", "Duration.",
	    METRIC_HISTOGRAM, lab, 3, (const double[]){ 0.01, 0.1, 1, 10 }, 4);
	u = metrics_family(m, "kcm_build_info", "Build.", METRIC_GAUGE, NULL, 0,
	    NULL, 0);
	assert_true(g && c && h && u);
	for (int i = 0; i < 3; i++) {
		const char *vals[] = { i ? "prod" : "t\n\"x\"", v + i * 7,
		    i == 2 ? "\0" : ".webhook\t\r" };

		assert_int_equal(metrics_set(g, vals, i % 2), 0);
		assert_int_equal(metrics_add(c, vals, 1e21), 0);
		assert_int_equal(metrics_observe(h, vals, 0.05 * i), 0);
		assert_int_equal(metrics_observe(h, vals, NAN), 0);
	}
	assert_int_equal(metrics_set(u, NULL, 1), 0);
	out = render(m);
	p = popen("/usr/bin/promtool check metrics", "w");
	assert_non_null(p);
	fputs(out, p);
	st = pclose(p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	free(out);
	free(v);
	metrics_free(m);
}

static void
test_many_series(void **state)
{
	enum { N = 100000 };
	struct metrics *m;
	struct metric_family *f;
	struct strbuf sb;
	char id[32];
	uint64_t t0, t1, t2;
	size_t i;

	(void)state;
	m = metrics_new();
	f = metrics_family(m, "kcm_connector_up", "Up.", METRIC_GAUGE, L2, 2,
	    NULL, 0);
	t0 = now_usec();
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "connector-%zu", i * 7919 % N);
		assert_int_equal(metrics_set(f, (const char *[]){ "default", id },
		    (double)i), 0);
	}
	for (i = 0; i < N; i++) {	/* updates hit existing series */
		snprintf(id, sizeof(id), "connector-%zu", i);
		assert_int_equal(metrics_add(f, (const char *[]){ "default", id }, 1), 0);
	}
	t1 = now_usec();
	strbuf_init(&sb);
	assert_int_equal(metrics_render(m, &sb), 0);
	t2 = now_usec();
	assert_int_equal(metrics_count(f), N);
	assert_int_equal(exposition_check(strbuf_str(&sb)), N);
	print_message("100k series: set+add %.1f ms, render %.1f ms, %zu bytes\n",
	    (double)(t1 - t0) / 1000, (double)(t2 - t1) / 1000, sb.len);
	strbuf_free(&sb);
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_label),
		cmocka_unit_test(test_escape_help),
		cmocka_unit_test(test_sanitize_valid),
		cmocka_unit_test(test_sanitize_overlong),
		cmocka_unit_test(test_sanitize_surrogates),
		cmocka_unit_test(test_sanitize_too_big),
		cmocka_unit_test(test_sanitize_truncated_sequences),
		cmocka_unit_test(test_sanitize_stray_continuation),
		cmocka_unit_test(test_sanitize_nul),
		cmocka_unit_test(test_sanitize_truncation),
		cmocka_unit_test(test_sanitize_long),
		cmocka_unit_test(test_value),
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_family_grouping),
		cmocka_unit_test(test_no_labels),
		cmocka_unit_test(test_deterministic_order),
		cmocka_unit_test(test_semantics),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_render_steps),
		cmocka_unit_test(test_render_steps_changes),
		cmocka_unit_test(test_render_order_kept),
		cmocka_unit_test(test_registration),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_sanitized_collisions),
		cmocka_unit_test(test_hostile_value),
		cmocka_unit_test(test_promtool),
		cmocka_unit_test(test_many_series),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
