/*
 * web_auth.c: basic authentication with bcrypt off the event loop (see
 * web_auth.h).
 *
 * Threads: the loop owns requests, the pending list, the cache and the
 * counters; the worker only takes jobs from `queue` and puts them on `done`
 * (both under `mu`), reading a job's password and hash, which never change
 * once queued, and writing its result.  A job is freed on the loop only:
 * when delivered, or when its last request is cancelled while it is still
 * queued.  A job the worker is computing when its last request goes is
 * finished, cached and freed on delivery.
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util.h"
#include "web_auth.h"
#include "web_config.h"

#define DIGEST_LEN	32
#define HASH_MAX	64

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct web_auth_request {
	struct web_auth	*auth;
	struct job	*job;
	web_auth_done_fn done;
	void		*arg;
	TAILQ_ENTRY(web_auth_request) link;
};

struct job {
	unsigned char	 digest[DIGEST_LEN];
	char		*password;	/* secret, NUL-terminated */
	size_t		 password_len;
	char		 hash[HASH_MAX];
	bool		 valid_user;
	bool		 match;		/* worker's result */
	enum job_state	 state;		/* under mu */
	bool		 delivering;
	TAILQ_HEAD(, web_auth_request) requests;
	TAILQ_ENTRY(job) link;		/* queue or done, under mu */
	TAILQ_ENTRY(job) plink;		/* pending, loop only */
};

TAILQ_HEAD(job_list, job);

struct cache_entry {
	unsigned char	 digest[DIGEST_LEN];
	bool		 ok;
};

struct web_auth {
	struct event_base *base;
	int		 efd;
	struct event	*ev;
	pthread_t	 thread;
	bool		 started;

	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 stop;		/* under mu */
	struct job_list	 queue;		/* under mu */
	struct job_list	 done;		/* under mu */

	struct job_list	 pending;	/* loop: every job not delivered */
	size_t		 npending;
	unsigned char	 salt[32];
	struct cache_entry cache[WEB_AUTH_CACHE_SIZE];
	size_t		 ncache;
	struct web_auth_stats stats;
};

/* ---- the worker ------------------------------------------------------- */

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->password != NULL) {
		explicit_bzero(j->password, j->password_len);
		free(j->password);
	}
	explicit_bzero(j->hash, sizeof(j->hash));
	free(j);
}

static bool
bcrypt_match(struct crypt_data *cd, const char *password, const char *hash)
{
	const char *out;
	size_t len = strlen(hash);
	bool ok;

	memset(cd, 0, sizeof(*cd));
	out = crypt_r(password, hash, cd);
	/* crypt_r fails with NULL or a string starting with '*' */
	ok = out != NULL && out[0] == '$' && strlen(out) == len &&
	    CRYPTO_memcmp(out, hash, len) == 0;
	explicit_bzero(cd, sizeof(*cd));
	return ok;
}

static void *
worker(void *arg)
{
	struct web_auth *a = arg;
	struct crypt_data *cd;
	uint64_t one = 1;
	struct job *j;
	ssize_t k;
	bool match;

	cd = malloc(sizeof(*cd));
	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (!a->stop && TAILQ_EMPTY(&a->queue))
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stop) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		j = TAILQ_FIRST(&a->queue);
		TAILQ_REMOVE(&a->queue, j, link);
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&a->mu);

		/* no memory for crypt_data: denied, like any failure */
		match = cd != NULL && bcrypt_match(cd, j->password, j->hash);

		pthread_mutex_lock(&a->mu);
		j->match = match;
		j->state = JOB_DONE;
		TAILQ_INSERT_TAIL(&a->done, j, link);
		pthread_mutex_unlock(&a->mu);
		do
			k = write(a->efd, &one, sizeof(one));
		while (k < 0 && errno == EINTR);
	}
	free(cd);
	return NULL;
}

/* ---- the cache (web/cache.go) ----------------------------------------- */

static uint32_t
random_below(uint32_t n)
{
	uint32_t x = 0;

	if (RAND_bytes((unsigned char *)&x, sizeof(x)) != 1)
		x = (uint32_t)random();
	return x % n;
}

static const struct cache_entry *
cache_get(const struct web_auth *a, const unsigned char *digest)
{
	size_t i;

	for (i = 0; i < a->ncache; i++)
		if (CRYPTO_memcmp(a->cache[i].digest, digest, DIGEST_LEN) == 0)
			return &a->cache[i];
	return NULL;
}

static void
cache_set(struct web_auth *a, const unsigned char *digest, bool ok)
{
	size_t n, i, victim;

	if (cache_get(a, digest) != NULL)
		return;
	if (a->ncache >= WEB_AUTH_CACHE_SIZE) {
		/* makeRoom(): len/10 + 1 entries chosen at random */
		n = a->ncache / 10 + 1;
		for (i = 0; i < n && a->ncache > 0; i++) {
			victim = random_below((uint32_t)a->ncache);
			a->cache[victim] = a->cache[a->ncache - 1];
			a->ncache--;
		}
	}
	memcpy(a->cache[a->ncache].digest, digest, DIGEST_LEN);
	a->cache[a->ncache].ok = ok;
	a->ncache++;
}

/* ---- delivery on the loop --------------------------------------------- */

static void
deliver(struct web_auth *a, struct job *j)
{
	struct web_auth_request *req;
	enum web_auth_result result;
	bool ok = j->valid_user && j->match;

	TAILQ_REMOVE(&a->pending, j, plink);
	a->npending--;
	a->stats.bcrypt_runs++;
	cache_set(a, j->digest, ok);
	result = ok ? WEB_AUTH_OK : WEB_AUTH_DENIED;
	j->delivering = true;
	/* a callback may cancel a later request of the same job */
	while ((req = TAILQ_FIRST(&j->requests)) != NULL) {
		TAILQ_REMOVE(&j->requests, req, link);
		req->job = NULL;
		req->done(req->arg, result);
		free(req);
	}
	job_free(j);
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct web_auth *a = arg;
	struct job_list done;
	uint64_t v;
	struct job *j;

	(void)what;
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&a->mu);
	TAILQ_CONCAT(&done, &a->done, link);
	pthread_mutex_unlock(&a->mu);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, link);
		deliver(a, j);
	}
}

/* ---- the Authorization header (Go's Request.BasicAuth) ---------------- */

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Go's base64.StdEncoding.DecodeString: padded, standard alphabet, CR and
 * LF ignored, '=' only as padding at the end.  out holds len*3/4 bytes.
 */
static int
b64_decode(const char *in, size_t len, unsigned char *out, size_t *ret_len)
{
	unsigned char quad[4];
	size_t n = 0, q = 0, pad = 0, i;
	int v;

	for (i = 0; i < len; i++) {
		if (in[i] == '\r' || in[i] == '\n')
			continue;
		if (pad > 0 && in[i] != '=')
			return -EINVAL;		/* data after padding */
		if (in[i] == '=') {
			if (q < 2)
				return -EINVAL;
			pad++;
			quad[q++] = 0;
		} else {
			v = b64_value((unsigned char)in[i]);
			if (v < 0)
				return -EINVAL;
			quad[q++] = (unsigned char)v;
		}
		if (q == 4) {
			out[n++] = (unsigned char)(quad[0] << 2 | quad[1] >> 4);
			if (pad < 2)
				out[n++] = (unsigned char)(quad[1] << 4 |
				    quad[2] >> 2);
			if (pad < 1)
				out[n++] = (unsigned char)(quad[2] << 6 |
				    quad[3]);
			q = 0;
			if (pad > 0)
				break;
		}
	}
	for (i++; i < len; i++)		/* nothing but CR/LF after padding */
		if (in[i] != '\r' && in[i] != '\n')
			return -EINVAL;
	if (q != 0)
		return -EINVAL;
	*ret_len = n;
	return 0;
}

/*
 * Splits "Basic base64(user:password)" into buf (user, then password);
 * 0, or -EINVAL for anything Go's Request.BasicAuth refuses.
 */
static int
parse_basic(const char *h, unsigned char *buf, size_t bufsz, size_t *user_len,
    size_t *total)
{
	size_t len, n;
	unsigned char *colon;

	while (*h == ' ' || *h == '\t')
		h++;
	len = strlen(h);
	while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	if (len < 6 || strncasecmp(h, "Basic ", 6) != 0)
		return -EINVAL;
	h += 6;
	len -= 6;
	if (len / 4 * 3 + 3 > bufsz)
		return -EINVAL;
	if (b64_decode(h, len, buf, &n) < 0)
		return -EINVAL;
	colon = memchr(buf, ':', n);
	if (colon == NULL) {
		explicit_bzero(buf, n);
		return -EINVAL;
	}
	*user_len = (size_t)(colon - buf);
	*total = n;
	return 0;
}

/* Salted SHA-256 of user, hash and password, each length-prefixed. */
static int
credentials_digest(const struct web_auth *a, const unsigned char *user,
    size_t ulen, const char *hash, const unsigned char *pass, size_t plen,
    unsigned char *out)
{
	const void *parts[] = { user, hash, pass };
	size_t lens[] = { ulen, strlen(hash), plen }, i;
	uint64_t l;
	EVP_MD_CTX *md;
	int ok;

	md = EVP_MD_CTX_new();
	if (md == NULL)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, a->salt, sizeof(a->salt)) == 1;
	for (i = 0; ok && i < ELEMENTSOF(parts); i++) {
		l = lens[i];
		ok = EVP_DigestUpdate(md, &l, sizeof(l)) == 1 &&
		    EVP_DigestUpdate(md, parts[i], lens[i]) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -ENOMEM;
}

/* ---- the API ---------------------------------------------------------- */

enum web_auth_result
web_auth_check(struct web_auth *a, const struct web_config *wc,
    const char *authorization, web_auth_done_fn done, void *arg,
    struct web_auth_request **ret_req)
{
	unsigned char buf[WEB_AUTH_CREDENTIALS_MAX + 4];
	unsigned char digest[DIGEST_LEN];
	const struct cache_entry *ce;
	struct web_auth_request *req;
	enum web_auth_result res;
	const unsigned char *pass;
	size_t ulen = 0, total = 0, plen;
	const char *hash;
	bool valid;
	struct job *j;

	if (!web_config_has_users(wc))
		return WEB_AUTH_OK;
	if (authorization == NULL ||
	    parse_basic(authorization, buf, sizeof(buf), &ulen, &total) < 0)
		return WEB_AUTH_DENIED;
	pass = buf + ulen + 1;
	plen = total - ulen - 1;
	/* crypt_r() takes a C string: a NUL would cut the password */
	if (memchr(pass, '\0', plen) != NULL) {
		res = WEB_AUTH_DENIED;
		goto out;
	}
	hash = web_config_user_hash(wc, (const char *)buf, ulen);
	valid = hash != NULL;
	if (!valid)
		hash = web_config_dummy_hash(wc);
	if (strlen(hash) >= HASH_MAX ||
	    credentials_digest(a, buf, ulen, hash, pass, plen, digest) < 0) {
		res = WEB_AUTH_BUSY;
		a->stats.busy++;
		goto out;
	}
	ce = cache_get(a, digest);
	if (ce != NULL) {
		a->stats.cache_hits++;
		res = ce->ok && valid ? WEB_AUTH_OK : WEB_AUTH_DENIED;
		goto out;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		res = WEB_AUTH_BUSY;
		a->stats.busy++;
		goto out;
	}
	req->auth = a;
	req->done = done;
	req->arg = arg;
	TAILQ_FOREACH(j, &a->pending, plink)
		if (CRYPTO_memcmp(j->digest, digest, DIGEST_LEN) == 0)
			break;
	if (j != NULL) {
		a->stats.coalesced++;
		goto attach;
	}
	if (a->npending >= WEB_AUTH_QUEUE_MAX ||
	    (j = calloc(1, sizeof(*j))) == NULL ||
	    (j->password = malloc(plen + 1)) == NULL) {
		free(j);
		free(req);
		res = WEB_AUTH_BUSY;
		a->stats.busy++;
		goto out;
	}
	memcpy(j->digest, digest, DIGEST_LEN);
	memcpy(j->password, pass, plen);
	j->password[plen] = '\0';
	j->password_len = plen;
	memcpy(j->hash, hash, strlen(hash) + 1);
	j->valid_user = valid;
	j->state = JOB_QUEUED;
	TAILQ_INIT(&j->requests);
	TAILQ_INSERT_TAIL(&a->pending, j, plink);
	a->npending++;
	pthread_mutex_lock(&a->mu);
	TAILQ_INSERT_TAIL(&a->queue, j, link);
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
attach:
	req->job = j;
	TAILQ_INSERT_TAIL(&j->requests, req, link);
	*ret_req = req;
	res = WEB_AUTH_PENDING;
out:
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(digest, sizeof(digest));
	return res;
}

void
web_auth_cancel(struct web_auth_request *req)
{
	struct web_auth *a;
	struct job *j;
	bool unqueued = false;

	if (req == NULL)
		return;
	a = req->auth;
	j = req->job;
	if (j != NULL)
		TAILQ_REMOVE(&j->requests, req, link);
	free(req);
	if (j == NULL)
		return;
	if (!TAILQ_EMPTY(&j->requests) || j->delivering)
		return;
	pthread_mutex_lock(&a->mu);
	if (j->state == JOB_QUEUED) {
		TAILQ_REMOVE(&a->queue, j, link);
		unqueued = true;
	}
	pthread_mutex_unlock(&a->mu);
	if (!unqueued)
		return;		/* running: finished, cached, freed on delivery */
	TAILQ_REMOVE(&a->pending, j, plink);
	a->npending--;
	job_free(j);
}

struct web_auth *
web_auth_new(struct event_base *base)
{
	struct web_auth *a;
	sigset_t all, old;
	int r;

	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->base = base;
	a->efd = -1;
	TAILQ_INIT(&a->queue);
	TAILQ_INIT(&a->done);
	TAILQ_INIT(&a->pending);
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_cond_init(&a->cv, NULL) != 0) {
		pthread_mutex_destroy(&a->mu);
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	if (RAND_bytes(a->salt, sizeof(a->salt)) != 1) {
		errno = EIO;
		goto fail;
	}
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0)
		goto fail;
	a->ev = event_new(base, a->efd, EV_READ | EV_PERSIST, on_done, a);
	if (a->ev == NULL || event_add(a->ev, NULL) < 0) {
		errno = ENOMEM;
		goto fail;
	}
	/* the worker takes no signal: they belong to the loop */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&a->thread, NULL, worker, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		errno = r;
		goto fail;
	}
	a->started = true;
	return a;
fail:
	r = errno;
	web_auth_free(a);
	errno = r;
	return NULL;
}

void
web_auth_free(struct web_auth *a)
{
	struct web_auth_request *req;
	struct job *j;

	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	/* every job not delivered is on the pending list */
	while ((j = TAILQ_FIRST(&a->pending)) != NULL) {
		TAILQ_REMOVE(&a->pending, j, plink);
		while ((req = TAILQ_FIRST(&j->requests)) != NULL) {
			TAILQ_REMOVE(&j->requests, req, link);
			free(req);
		}
		job_free(j);
	}
	if (a->ev != NULL)
		event_free(a->ev);
	if (a->efd >= 0)
		close(a->efd);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	explicit_bzero(a->cache, sizeof(a->cache));
	explicit_bzero(a->salt, sizeof(a->salt));
	free(a);
}

void
web_auth_stats(const struct web_auth *a, struct web_auth_stats *ret)
{
	*ret = a->stats;
}
