/*
 * worker.c: one thread that runs jobs off the event loop (see worker.h).
 *
 * Threads: the thread only takes jobs from `queue`, runs them and puts them
 * on `done` (both lists and every job's state under `mu`), then wakes the
 * loop through an eventfd.  The loop owns everything else: it submits,
 * delivers (one job per turn) and cancels, and frees every job.
 */
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/resource.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "util.h"
#include "worker.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct worker_job {
	struct worker		*w;
	worker_run_fn		 run;
	worker_done_fn		 done;
	void			*arg;
	enum job_state		 state;		/* under mu */
	TAILQ_ENTRY(worker_job)	 link;		/* queue or done, under mu */
};

TAILQ_HEAD(job_list, worker_job);

struct worker {
	pthread_t		 thread;
	bool			 started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 work;		/* a job queued, or stop */
	pthread_cond_t		 ran;		/* a run finished */
	struct job_list		 queue;		/* under mu */
	struct job_list		 done;		/* under mu */
	bool			 stop;		/* under mu */
	int			 efd;		/* the thread -> the loop */
	struct event		*ev;		/* efd readable: woken() */
	struct event		*more;		/* zero timeout: deliver() one */
};

/*
 * Background work: when the loop and the thread want one core, the loop
 * (which answers scrapes) goes first.
 */
#define WORKER_NICE	10

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker_job *j;
	uint64_t one = 1;
	int prio;

	/* Linux: the nice value is the thread's own; failing is harmless. */
	errno = 0;
	prio = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno == 0)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(),
		    prio + WORKER_NICE > 19 ? 19 : prio + WORKER_NICE);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && TAILQ_EMPTY(&w->queue))
			pthread_cond_wait(&w->work, &w->mu);
		if (w->stop)
			break;
		j = TAILQ_FIRST(&w->queue);
		TAILQ_REMOVE(&w->queue, j, link);
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&w->mu);
		j->run(j->arg);
		pthread_mutex_lock(&w->mu);
		j->state = JOB_DONE;
		TAILQ_INSERT_TAIL(&w->done, j, link);
		pthread_cond_broadcast(&w->ran);
		/* A full counter (2^64 - 2) still leaves the fd readable. */
		if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The loop: one finished job per turn, so a burst never holds it up. */
static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_job *j;
	worker_done_fn done;
	bool more;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->mu);
	if ((j = TAILQ_FIRST(&w->done)) != NULL)
		TAILQ_REMOVE(&w->done, j, link);
	more = !TAILQ_EMPTY(&w->done);
	pthread_mutex_unlock(&w->mu);
	if (more)
		event_next_turn(w->more);
	if (j == NULL)
		return;
	done = j->done;
	arg = j->arg;
	free(j);
	done(arg);
}

/* The thread finished jobs: deliveries start on the next turn. */
static void
woken(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	if (!evtimer_pending(w->more, NULL))
		event_next_turn(w->more);
}

struct worker *
worker_new(struct event_base *base)
{
	struct worker *w;
	sigset_t all, old;
	int r;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->efd = -1;
	TAILQ_INIT(&w->queue);
	TAILQ_INIT(&w->done);
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_cond_init(&w->work, NULL) != 0 ||
	    pthread_cond_init(&w->ran, NULL) != 0) {
		/* Destroying a cond that failed to init is harmless here. */
		pthread_mutex_destroy(&w->mu);
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto fail;
	w->ev = event_new(base, w->efd, EV_READ | EV_PERSIST, woken, w);
	w->more = evtimer_new(base, deliver, w);
	if (w->ev == NULL || w->more == NULL || event_add(w->ev, NULL) < 0) {
		errno = ENOMEM;
		goto fail;
	}
	/* The thread takes no signal: they belong to the loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		errno = r;
		goto fail;
	}
	w->started = true;
	return w;
fail:
	r = errno;
	worker_free(w);
	errno = r;
	return NULL;
}

static void
jobs_free(struct job_list *l)
{
	struct worker_job *j;

	while ((j = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, j, link);
		free(j);
	}
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->work);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	jobs_free(&w->queue);
	jobs_free(&w->done);
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->more != NULL)
		event_free(w->more);
	if (w->efd >= 0)
		close(w->efd);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->ran);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

struct worker_job *
worker_submit(struct worker *w, worker_run_fn run, worker_done_fn done,
    void *arg)
{
	struct worker_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->w = w;
	j->run = run;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->mu);
	j->state = JOB_QUEUED;
	TAILQ_INSERT_TAIL(&w->queue, j, link);
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return j;
}

void
worker_cancel(struct worker_job *j)
{
	struct worker *w;

	if (j == NULL)
		return;
	w = j->w;
	pthread_mutex_lock(&w->mu);
	while (j->state == JOB_RUNNING)
		pthread_cond_wait(&w->ran, &w->mu);
	if (j->state == JOB_QUEUED)
		TAILQ_REMOVE(&w->queue, j, link);
	else
		TAILQ_REMOVE(&w->done, j, link);
	pthread_mutex_unlock(&w->mu);
	free(j);
}
