/*
 * secret.h: secret files (API keys, passwords, TLS private keys).
 *
 * A secret file must be a regular file that neither group nor others can
 * read.  It is opened without blocking, so naming a FIFO or a device by
 * mistake is an error instead of a hang.  Secrets are wiped before their
 * memory is freed and are never formatted into a message.
 */
#ifndef KCM_SECRET_H
#define KCM_SECRET_H

#include <stddef.h>
#include <sys/types.h>

#define SECRET_MAX	(64 * 1024)	/* bytes, before the newline is stripped */

/*
 * The failing functions below return a negative errno and write a short
 * reason into err (always NUL-terminated within errsz), worded to follow
 * "secret file 'PATH' ", e.g. "is empty" or "cannot be opened: No such file
 * or directory".  The reason never holds the path or the secret.
 */

/* Opens path as a secret file; returns 0 and *ret_fd. */
int	 secret_open(const char *path, int *ret_fd, off_t *ret_size, char *err,
	    size_t errsz);

/*
 * Reads a secret: at most SECRET_MAX bytes, one trailing "\n" or "\r\n"
 * stripped, not empty, no control character left (it goes into an HTTP
 * header).  Returns 0, *ret (free it with secret_free()) and *ret_len.
 */
int	 secret_read(const char *path, char **ret, size_t *ret_len, char *err,
	    size_t errsz);

/* a + b + c in one exact allocation (no realloc leaves copies); or NULL. */
char	*secret_concat(const char *a, size_t alen, const char *b, size_t blen,
	    const char *c, size_t clen);

/* Overwrites then frees a secret string; NULL-safe. */
void	 secret_free(char *s);

#endif /* KCM_SECRET_H */
