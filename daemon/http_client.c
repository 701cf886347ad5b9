/*
 * http_client.c: libcurl multi_socket + libevent.
 *
 * The five functions of style.md section 3: sock_cb and timer_update_cb are
 * called by libcurl and only (re)arm libevent events; event_cb and timer_cb
 * are called by libevent and drive curl_multi_socket_action; check_multi_info
 * collects finished transfers and runs completion callbacks, outside any
 * libcurl callback, so a callback may submit new requests.  One completion
 * per turn of the event loop: a callback parses a whole answer (up to a
 * millisecond for a hundred connectors), and four of them back to back
 * would hold up scrapes for that long (README "Performance").
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "http_client.h"
#include "log.h"
#include "util.h"
#include "worker.h"

TAILQ_HEAD(http_call_list, http_call);

struct http_client {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct event		*deliver;	/* the next completion, next turn */
	struct http_call_list	 calls;		/* every call, queued, running
						   or being prepared */
	unsigned		 ncalls;
	struct worker		*worker;	/* prepares answers; made on first use */
	bool			 worker_failed;	/* prepare on the loop instead */
};

struct http_limiter {
	unsigned		 max;
	unsigned		 active;
	struct http_call_list	 queue;
	struct event		*kick;		/* starts queued calls from the loop */
};

struct http_call {
	struct http_client	*client;
	struct http_limiter	*limiter;
	CURL			*easy;
	struct curl_slist	*headers;
	struct strbuf		 resp;
	uint64_t		 max_bytes;
	bool			 too_large;
	bool			 running;	/* added to the multi handle */
	uint64_t		 start_usec;
	http_done_fn		 done;
	void			*arg;
	http_prepare_fn		 prepare;
	void			(*discard)(void *);
	void			*prepared;
	struct worker_job	*job;		/* being prepared */
	struct http_response	 answer;	/* kept while being prepared */
	char			 errbuf[CURL_ERROR_SIZE];
	TAILQ_ENTRY(http_call)	 entry;		/* client->calls */
	TAILQ_ENTRY(http_call)	 qentry;	/* limiter->queue while waiting */
};

struct sock_ctx {
	struct http_client	*client;
	curl_socket_t		 fd;
	struct event		*ev;
};

static void check_multi_info(struct http_client *c);
static void deliver_cb(evutil_socket_t fd, short what, void *arg);

const char *
http_result_to_string(enum http_result r)
{
	switch (r) {
	case HTTP_RESULT_OK:		return "ok";
	case HTTP_RESULT_TIMEOUT:	return "timeout";
	case HTTP_RESULT_CONNECT:	return "connect";
	case HTTP_RESULT_TLS:		return "tls";
	case HTTP_RESULT_DNS:		return "dns";
	case HTTP_RESULT_TOO_LARGE:	return "too_large";
	case HTTP_RESULT_OTHER:		return "other";
	}
	return "other";
}

static enum http_result
result_from_curl(CURLcode rc, bool too_large)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_RESULT_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_RESULT_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return HTTP_RESULT_DNS;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return HTTP_RESULT_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return HTTP_RESULT_TLS;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_RESULT_TOO_LARGE;
	case CURLE_WRITE_ERROR:
		return too_large ? HTTP_RESULT_TOO_LARGE : HTTP_RESULT_OTHER;
	default:
		return HTTP_RESULT_OTHER;
	}
}

/* libevent: a socket curl waits on is ready. */
static void
event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;
	int flags = 0, running;
	CURLMcode rc;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	rc = curl_multi_socket_action(c->multi, fd, flags, &running);
	if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET)
		log_error("curl_multi_socket_action: %s", curl_multi_strerror(rc));
	/*
	 * Unlike hiperfifo, do not delete the timer when nothing runs: a
	 * completion callback in check_multi_info may just have added a
	 * handle, whose kick-start timeout curl armed.  curl disarms the
	 * timer itself (timeout_ms == -1) when it has nothing to wait for.
	 */
	check_multi_info(c);
}

/* libevent: curl's timeout expired. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;
	int running = 0;
	CURLMcode rc;

	(void)fd;
	(void)what;
	rc = curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET)
		log_error("curl_multi_socket_action: %s", curl_multi_strerror(rc));
	check_multi_info(c);
}

/* libcurl: CURLMOPT_TIMERFUNCTION. Only re-arms the timer. */
static int
timer_update_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	return 0;
}

/* libcurl: CURLMOPT_SOCKETFUNCTION. Only (re)arms socket events. */
static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock_ctx *sc = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* curl >= 8.13 may announce REMOVE for a socket it never added. */
		if (sc != NULL) {
			event_free(sc->ev);	/* event_del tolerates a closed fd */
			free(sc);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	if (sc == NULL) {
		sc = calloc(1, sizeof(*sc));
		if (sc == NULL)
			return -1;
		sc->client = c;
		sc->fd = s;
		sc->ev = event_new(c->base, s, 0, event_cb, c);
		if (sc->ev == NULL) {
			free(sc);
			return -1;
		}
		curl_multi_assign(c->multi, s, sc);
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	event_del(sc->ev);
	if (event_assign(sc->ev, c->base, s, kind, event_cb, c) < 0 ||
	    event_add(sc->ev, NULL) < 0)
		return -1;
	return 0;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_call *call = userdata;
	size_t n = size * nmemb;

	if ((uint64_t)call->resp.len + n > call->max_bytes) {
		call->too_large = true;
		return 0;	/* short count: curl aborts with CURLE_WRITE_ERROR */
	}
	if (strbuf_append(&call->resp, ptr, n) < 0)
		return 0;
	return n;
}

struct http_client *
http_client_new(struct event_base *base)
{
	struct http_client *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->base = base;
	TAILQ_INIT(&c->calls);
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, timer_cb, c);
	c->deliver = evtimer_new(base, deliver_cb, c);
	if (c->multi == NULL || c->timer == NULL || c->deliver == NULL) {
		http_client_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_update_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

static void
wipe_slist(struct curl_slist *l)
{
	struct curl_slist *i;

	/* The Authorization line is a secret: wipe before freeing. */
	for (i = l; i != NULL; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static void
call_free(struct http_call *call)
{
	if (call == NULL)
		return;
	if (call->easy != NULL)
		curl_easy_cleanup(call->easy);
	if (call->prepared != NULL && call->discard != NULL)
		call->discard(call->prepared);
	wipe_slist(call->headers);
	strbuf_free(&call->resp);
	free(call);
}

static int
call_start(struct http_call *call)
{
	CURLMcode rc;

	rc = curl_multi_add_handle(call->client->multi, call->easy);
	if (rc != CURLM_OK) {
		log_error("curl_multi_add_handle: %s", curl_multi_strerror(rc));
		return -EIO;
	}
	call->running = true;
	call->start_usec = now_usec();
	if (call->limiter != NULL)
		call->limiter->active++;
	return 0;
}

/*
 * A running call ended: free its slot.  Waiting calls are started from the
 * loop (kick), not from here, so cancelling a call never starts another one
 * under the canceller's feet, and a start failure can be reported through
 * the call's own callback.
 */
static void
limiter_release(struct http_limiter *l)
{
	if (l == NULL)
		return;
	l->active--;
	if (!TAILQ_EMPTY(&l->queue))
		event_next_turn(l->kick);
}

static void
limiter_kick(evutil_socket_t fd, short what, void *arg)
{
	struct http_limiter *l = arg;
	struct http_response resp;
	struct http_call *next;

	(void)fd;
	(void)what;
	while (l->active < l->max && (next = TAILQ_FIRST(&l->queue)) != NULL) {
		TAILQ_REMOVE(&l->queue, next, qentry);
		if (call_start(next) == 0)
			continue;
		/* Cannot happen short of memory: fail the call, not the caller. */
		TAILQ_REMOVE(&next->client->calls, next, entry);
		next->client->ncalls--;
		memset(&resp, 0, sizeof(resp));
		resp.result = HTTP_RESULT_OTHER;
		resp.body = "";
		resp.error = "cannot start the request";
		if (next->done != NULL)
			next->done(&resp, next->arg);
		call_free(next);
	}
}

/* Detaches a call from the multi handle, the limiter and the client. */
static void
call_detach(struct http_call *call)
{
	struct http_client *c = call->client;

	if (call->running) {
		curl_multi_remove_handle(c->multi, call->easy);
		call->running = false;
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
		limiter_release(call->limiter);
	} else {
		if (call->limiter != NULL)
			TAILQ_REMOVE(&call->limiter->queue, call, qentry);
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
	}
}

/* The worker thread: the answer, prepared. */
static void
prepare_run(void *arg)
{
	struct http_call *call = arg;

	call->prepared = call->prepare(&call->answer);
}

/* The loop, in a later turn: the callback, as for any answer. */
static void
prepare_done(void *arg)
{
	struct http_call *call = arg;
	struct http_client *c = call->client;
	struct http_response resp = call->answer;

	call->job = NULL;
	TAILQ_REMOVE(&c->calls, call, entry);
	c->ncalls--;
	resp.prepared = call->prepared;
	if (call->done != NULL)
		call->done(&resp, call->arg);
	call_free(call);
}

/*
 * A finished call (detached) whose answer is to be prepared: true when it
 * went to the worker (the callback comes later).  Without a worker the
 * answer is prepared here, on the loop, and false says: call back now.
 */
static bool
call_prepare(struct http_client *c, struct http_call *call,
    const struct http_response *resp)
{
	if (call->prepare == NULL || resp->result != HTTP_RESULT_OK ||
	    resp->status < 200 || resp->status > 299)
		return false;
	call->answer = *resp;
	call->answer.error = "";	/* an OK answer's; the errbuf may go */
	if (c->worker == NULL && !c->worker_failed &&
	    (c->worker = worker_new(c->base)) == NULL) {
		c->worker_failed = true;
		log_warning("cannot start the thread that parses answers (%s): parsing on the event loop",
		    strerror(errno));
	}
	if (c->worker != NULL &&
	    (call->job = worker_submit(c->worker, prepare_run, prepare_done,
	    call)) != NULL) {
		TAILQ_INSERT_TAIL(&c->calls, call, entry);
		c->ncalls++;
		return true;
	}
	call->prepared = call->prepare(&call->answer);
	return false;
}

static void
check_multi_info(struct http_client *c)
{
	struct http_response resp;
	struct http_call *call;
	CURLMsg *msg;
	CURLcode res;
	long status = 0;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (left > 0) {
			/*
			 * The others wait for the next turn.  If the timer
			 * cannot be armed, they go now, as before.
			 */
			if (event_next_turn(c->deliver) == 0)
				left = -1;
		}
		if (msg->msg != CURLMSG_DONE)
			goto next;
		res = msg->data.result;
		call = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
		if (call == NULL)
			goto next;
		curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);

		memset(&resp, 0, sizeof(resp));
		resp.result = result_from_curl(res, call->too_large);
		resp.status = status;
		resp.body = strbuf_str(&call->resp);
		resp.body_len = call->resp.len;
		resp.duration_usec = now_usec() - call->start_usec;
		if (res != CURLE_OK)
			resp.error = call->errbuf[0] != '\0' ? call->errbuf :
			    curl_easy_strerror(res);
		else
			resp.error = "";
		if (resp.result == HTTP_RESULT_TOO_LARGE)
			resp.error = "response body larger than max_response_bytes";

		/* msg is invalid after remove_handle; we copied what we need. */
		call_detach(call);
		if (call_prepare(c, call, &resp))
			goto next;
		resp.prepared = call->prepared;
		if (call->done != NULL)
			call->done(&resp, call->arg);
		call_free(call);
next:
		if (left < 0)
			break;
	}
}

/* libevent: the completions check_multi_info left for this turn. */
static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check_multi_info(arg);
}

static int
set_common_options(struct http_call *call, const struct http_request *req)
{
	const struct endpoint_config *ep = req->ep;
	CURL *e = call->easy;
	CURLcode rc = CURLE_OK;
	size_t i;

#define SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SETOPT(CURLOPT_URL, req->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_USERAGENT, "kibana-connector-monitor/" KCM_VERSION);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_TIMEOUT_MS, (long)(ep->timeout_usec / USEC_PER_MSEC));
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)(ep->timeout_usec / USEC_PER_MSEC));
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ep->max_response_bytes);
	/* No proxy unless configured: "" also ignores http_proxy & co. */
	SETOPT(CURLOPT_PROXY, ep->proxy != NULL ? ep->proxy : "");
	if (ep->ca_file != NULL)
		SETOPT(CURLOPT_CAINFO, ep->ca_file);
	if (ep->client_cert_file != NULL)
		SETOPT(CURLOPT_SSLCERT, ep->client_cert_file);
	if (ep->client_key_file != NULL)
		SETOPT(CURLOPT_SSLKEY, ep->client_key_file);
	if (ep->insecure_skip_verify) {
		SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, call);
	SETOPT(CURLOPT_PRIVATE, call);
	SETOPT(CURLOPT_ERRORBUFFER, call->errbuf);
	if (strcmp(req->method, "GET") != 0) {
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SETOPT(CURLOPT_COPYPOSTFIELDS, req->body != NULL ? req->body : "");
		if (strcmp(req->method, "POST") != 0)
			SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
	}
	if (rc != CURLE_OK)
		return -EINVAL;
#undef SETOPT

	if (ep->auth_header != NULL &&
	    (call->headers = curl_slist_append(call->headers, ep->auth_header)) == NULL)
		return -ENOMEM;
	if ((call->headers = curl_slist_append(call->headers,
	    "Accept: application/json")) == NULL)
		return -ENOMEM;
	/* No "Expect: 100-continue" round trip on POST. */
	if ((call->headers = curl_slist_append(call->headers, "Expect:")) == NULL)
		return -ENOMEM;
	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		if ((call->headers = curl_slist_append(call->headers,
		    req->headers[i])) == NULL)
			return -ENOMEM;
	if (curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers) != CURLE_OK)
		return -EINVAL;
	return 0;
}

int
http_client_submit(struct http_client *c, struct http_limiter *l,
    const struct http_request *req, http_done_fn done, void *arg,
    struct http_call **ret_call)
{
	struct http_call *call;
	int r;

	call = calloc(1, sizeof(*call));
	if (call == NULL)
		return -ENOMEM;
	call->client = c;
	call->limiter = l;
	call->done = done;
	call->arg = arg;
	call->prepare = req->prepare;
	call->discard = req->discard;
	call->max_bytes = req->ep->max_response_bytes;
	strbuf_init(&call->resp);
	call->easy = curl_easy_init();
	if (call->easy == NULL) {
		call_free(call);
		return -ENOMEM;
	}
	r = set_common_options(call, req);
	if (r < 0) {
		call_free(call);
		return r;
	}

	TAILQ_INSERT_TAIL(&c->calls, call, entry);
	c->ncalls++;
	if (l != NULL && l->active >= l->max) {
		TAILQ_INSERT_TAIL(&l->queue, call, qentry);
	} else if ((r = call_start(call)) < 0) {
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
		call_free(call);
		return r;
	}
	if (ret_call != NULL)
		*ret_call = call;
	return 0;
}

void
http_call_cancel(struct http_call *call)
{
	struct http_client *c;

	if (call == NULL)
		return;
	if (call->job != NULL) {
		/* Being prepared: waits for a run in progress (a short one). */
		c = call->client;
		worker_cancel(call->job);
		call->job = NULL;
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
	} else
		call_detach(call);
	call_free(call);
}

unsigned
http_client_pending(const struct http_client *c)
{
	return c->ncalls;
}

struct http_limiter *
http_limiter_new(struct http_client *c, unsigned max)
{
	struct http_limiter *l;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->max = max > 0 ? max : 1;
	TAILQ_INIT(&l->queue);
	l->kick = evtimer_new(c->base, limiter_kick, l);
	if (l->kick == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void
http_limiter_set_max(struct http_limiter *l, unsigned max)
{
	l->max = max > 0 ? max : 1;
	if (l->active < l->max && !TAILQ_EMPTY(&l->queue))
		event_next_turn(l->kick);
}

unsigned
http_limiter_max(const struct http_limiter *l)
{
	return l->max;
}

void
http_limiter_free(struct http_limiter *l)
{
	if (l == NULL)
		return;
	event_free(l->kick);
	free(l);
}

void
http_client_free(struct http_client *c)
{
	struct http_call *call;

	if (c == NULL)
		return;
	/* Queued calls first, so cancelling a running one starts nothing. */
	TAILQ_FOREACH(call, &c->calls, entry)
		if (!call->running && call->limiter != NULL) {
			TAILQ_REMOVE(&call->limiter->queue, call, qentry);
			call->limiter = NULL;
		}
	while ((call = TAILQ_FIRST(&c->calls)) != NULL) {
		call->limiter = NULL;
		http_call_cancel(call);
	}
	worker_free(c->worker);
	/* May call sock_cb: the base and the socket contexts are still alive. */
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->deliver != NULL)
		event_free(c->deliver);
	free(c);
}
