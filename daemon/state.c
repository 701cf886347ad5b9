/*
 * state.c: window ends kept across restarts (see state.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "state.h"
#include "util.h"

#define STATE_VERSION	1

const char *
state_directory(const char *configured)
{
	static char first[4096];
	const char *env, *colon;
	size_t n;

	if (configured != NULL && *configured != '\0')
		return configured;
	env = getenv("STATE_DIRECTORY");
	if (env == NULL || *env == '\0')
		return NULL;
	/* systemd lists several directories separated by ':'; use the first. */
	colon = strchr(env, ':');
	n = colon != NULL ? (size_t)(colon - env) : strlen(env);
	if (n == 0 || n >= sizeof(first))
		return NULL;
	memcpy(first, env, n);
	first[n] = '\0';
	return first;
}

/* FNV-1a: a file name, not a secret; the file holds the key to compare. */
static uint64_t
key_hash(const char *target, const char *url)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	const unsigned char *p;

	for (p = (const unsigned char *)target; *p != '\0'; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	h = (h ^ '\n') * UINT64_C(0x100000001b3);
	for (p = (const unsigned char *)url; *p != '\0'; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	return h;
}

static int
window_path(struct strbuf *out, const char *dir, const char *target,
    const char *url)
{
	strbuf_printf(out, "%s/eventlog-window-%016" PRIx64 ".json", dir,
	    key_hash(target, url));
	return strbuf_failed(out) ? -ENOMEM : 0;
}

/* Reads a regular file of at most STATE_FILE_MAX bytes without blocking. */
static int
read_small(const char *path, struct strbuf *out, char *err, size_t errsz)
{
	struct stat st;
	char buf[4096];
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		if (r != -ENOENT)
			snprintf(err, errsz, "cannot open %s: %s", path,
			    strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errsz, "cannot read %s: %s", path, strerror(-r));
			break;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > STATE_FILE_MAX) {
			snprintf(err, errsz, "%s is larger than %d bytes", path,
			    STATE_FILE_MAX);
			r = -EFBIG;
			break;
		}
		if (strbuf_append(out, buf, (size_t)n) < 0) {
			r = -ENOMEM;
			snprintf(err, errsz, "out of memory reading %s", path);
			break;
		}
	}
	close(fd);
	return r;
}

int
state_load_window(const char *dir, const char *target, const char *url,
    int64_t *ret_end_ms, char *err, size_t errsz)
{
	struct strbuf path, body;
	json_error_t jerr;
	json_t *root = NULL, *v;
	int r;

	strbuf_init(&path);
	strbuf_init(&body);
	if ((r = window_path(&path, dir, target, url)) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if ((r = read_small(strbuf_str(&path), &body, err, errsz)) < 0)
		goto out;
	root = json_loadb(strbuf_str(&body), body.len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (root == NULL) {
		snprintf(err, errsz, "%s:%d:%d: %s", strbuf_str(&path),
		    jerr.line, jerr.column, jerr.text);
		r = -EBADMSG;
		goto out;
	}
	r = -EBADMSG;
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION) {
		snprintf(err, errsz, "%s: 'version' is not %d", strbuf_str(&path),
		    STATE_VERSION);
		goto out;
	}
	if (!json_is_string(json_object_get(root, "target")) ||
	    !json_is_string(json_object_get(root, "url")) ||
	    strcmp(json_string_value(json_object_get(root, "target")), target) != 0 ||
	    strcmp(json_string_value(json_object_get(root, "url")), url) != 0) {
		/* Another poller's file under the same hash: never reuse it. */
		snprintf(err, errsz, "%s belongs to another target or event log",
		    strbuf_str(&path));
		goto out;
	}
	v = json_object_get(root, "window_end_ms");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		snprintf(err, errsz, "%s: 'window_end_ms' is not a positive integer",
		    strbuf_str(&path));
		goto out;
	}
	*ret_end_ms = (int64_t)json_integer_value(v);
	r = 0;
out:
	json_decref(root);
	strbuf_free(&path);
	strbuf_free(&body);
	return r;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
state_save_window(const char *dir, const char *target, const char *url,
    int64_t end_ms, char *err, size_t errsz)
{
	struct strbuf path, tmp;
	json_t *root;
	char *text = NULL;
	int fd = -1, dfd, r;

	strbuf_init(&path);
	strbuf_init(&tmp);
	root = json_pack("{s:i, s:s, s:s, s:I}", "version", STATE_VERSION,
	    "target", target, "url", url, "window_end_ms", (json_int_t)end_ms);
	if (root == NULL || (text = json_dumps(root, JSON_COMPACT)) == NULL ||
	    window_path(&path, dir, target, url) < 0 ||
	    strbuf_printf(&tmp, "%s.tmp", strbuf_str(&path)) < 0) {
		snprintf(err, errsz, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	fd = open(strbuf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errsz, "cannot create %s: %s", strbuf_str(&tmp),
		    strerror(-r));
		goto out;
	}
	if ((r = write_all(fd, text, strlen(text))) < 0 ||
	    (r = write_all(fd, "\n", 1)) < 0 ||
	    (fsync(fd) < 0 && (r = -errno) < 0)) {
		snprintf(err, errsz, "cannot write %s: %s", strbuf_str(&tmp),
		    strerror(-r));
		goto unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		snprintf(err, errsz, "cannot write %s: %s", strbuf_str(&tmp),
		    strerror(-r));
		goto unlink;
	}
	fd = -1;
	if (rename(strbuf_str(&tmp), strbuf_str(&path)) < 0) {
		r = -errno;
		snprintf(err, errsz, "cannot rename %s to %s: %s",
		    strbuf_str(&tmp), strbuf_str(&path), strerror(-r));
		goto unlink;
	}
	/* The rename itself survives a crash once the directory is synced. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	r = 0;
	goto out;
unlink:
	(void)unlink(strbuf_str(&tmp));
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(root);
	strbuf_free(&path);
	strbuf_free(&tmp);
	return r;
}
