/*
 * secret.c: reading secret files (see secret.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "util.h"

int
secret_open(const char *path, int *ret_fd, off_t *ret_size, char *err,
    size_t errsz)
{
	struct stat st;
	int fd, r;

	r = open_regular(path, &fd, &st);
	if (r == -EISDIR || r == -EBADFD) {
		snprintf(err, errsz, "is not a regular file");
		return r;
	}
	if (r < 0) {
		snprintf(err, errsz, "cannot be opened: %s", strerror(-r));
		return r;
	}
	if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		snprintf(err, errsz, "is readable by group or others (mode "
		    "%04o); run chmod 600 on it",
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	*ret_fd = fd;
	*ret_size = st.st_size;
	return 0;
}

static bool
has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

int
secret_read(const char *path, char **ret, size_t *ret_len, char *err,
    size_t errsz)
{
	char *buf, *s;
	size_t len = 0;
	off_t size;
	ssize_t k;
	int fd, r;

	r = secret_open(path, &fd, &size, err, errsz);
	if (r < 0)
		return r;
	buf = malloc(SECRET_MAX + 1);
	if (buf == NULL) {
		snprintf(err, errsz, "cannot be read: %s", strerror(ENOMEM));
		close(fd);
		return -ENOMEM;
	}
	if (size > SECRET_MAX)
		len = SECRET_MAX + 1;
	while (len <= SECRET_MAX) {
		k = read(fd, buf + len, SECRET_MAX + 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			snprintf(err, errsz, "cannot be read: %s",
			    strerror(-r));
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if (len > SECRET_MAX) {
		r = -EFBIG;
		snprintf(err, errsz, "is larger than %d KiB", SECRET_MAX / 1024);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len == 0) {
		r = -ENODATA;
		snprintf(err, errsz, "is empty");
		goto out;
	}
	if (has_control(buf, len)) {
		r = -EBADMSG;
		snprintf(err, errsz, "contains a line break or control "
		    "character");
		goto out;
	}
	s = malloc(len + 1);
	if (s == NULL) {
		r = -ENOMEM;
		snprintf(err, errsz, "cannot be read: %s", strerror(-r));
		goto out;
	}
	memcpy(s, buf, len);
	s[len] = '\0';
	*ret = s;
	*ret_len = len;
out:
	explicit_bzero(buf, SECRET_MAX + 1);
	free(buf);
	close(fd);
	return r;
}

char *
secret_concat(const char *a, size_t alen, const char *b, size_t blen,
    const char *c, size_t clen)
{
	char *s;

	s = malloc(alen + blen + clen + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, a, alen);
	memcpy(s + alen, b, blen);
	memcpy(s + alen + blen, c, clen);
	s[alen + blen + clen] = '\0';
	return s;
}

void
secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
