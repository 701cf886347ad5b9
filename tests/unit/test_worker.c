/*
 * Unit tests for worker.c: jobs run on another thread, come back to the
 * loop one per turn in order, and a cancelled job never calls back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <event2/event.h>

#include "util.h"
#include "worker.h"

/* A gate a job can wait at, opened by the test. */
struct gate {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 open;
	bool		 entered;
};

struct job {
	struct gate	*gate;		/* NULL: do not wait */
	pthread_t	 ran_on;
	bool		 ran;		/* written by the worker */
	int		 done_seq;	/* 0: done not called */
	int		*seq;
};

static void
gate_init(struct gate *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->open = g->entered = false;
}

static void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void
gate_wait_entered(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->entered)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void
job_run(void *arg)
{
	struct job *j = arg;

	j->ran_on = pthread_self();
	if (j->gate != NULL) {
		pthread_mutex_lock(&j->gate->mu);
		j->gate->entered = true;
		pthread_cond_broadcast(&j->gate->cv);
		while (!j->gate->open)
			pthread_cond_wait(&j->gate->cv, &j->gate->mu);
		pthread_mutex_unlock(&j->gate->mu);
	}
	j->ran = true;
}

static void
job_done(void *arg)
{
	struct job *j = arg;

	j->done_seq = ++*j->seq;
}

/* Turns of the loop until n jobs were delivered (bounded). */
static int
loop_until(struct event_base *base, const int *seq, int n)
{
	int turns = 0;

	while (*seq < n && turns < 100000) {
		assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
		turns++;
	}
	assert_int_equal(*seq, n);
	return turns;
}

static void
test_order(void **state)
{
	struct event_base *base = event_base_new();
	struct worker *w;
	struct job jobs[5];
	int seq = 0, i, turns;

	(void)state;
	w = worker_new(base);
	assert_non_null(w);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 5; i++) {
		jobs[i].seq = &seq;
		assert_non_null(worker_submit(w, job_run, job_done, &jobs[i]));
	}
	turns = loop_until(base, &seq, 5);
	/* One delivery per turn of the loop, in order, run elsewhere. */
	assert_true(turns >= 5);
	for (i = 0; i < 5; i++) {
		assert_true(jobs[i].ran);
		assert_int_equal(jobs[i].done_seq, i + 1);
		assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
	}
	worker_free(w);
	event_base_free(base);
}

static void *
opener(void *arg)
{
	gate_open(arg);
	return NULL;
}

static void
test_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct worker *w;
	struct gate g;
	struct job busy, queued, running, after;
	struct worker_job *jq, *jr;
	pthread_t t;
	int seq = 0;

	(void)state;
	gate_init(&g);
	w = worker_new(base);
	assert_non_null(w);
	memset(&busy, 0, sizeof(busy));
	memset(&queued, 0, sizeof(queued));
	memset(&running, 0, sizeof(running));
	memset(&after, 0, sizeof(after));
	busy.seq = queued.seq = running.seq = after.seq = &seq;

	/* Queued behind a job held at the gate: cancelled, it never runs. */
	busy.gate = &g;
	assert_non_null(worker_submit(w, job_run, job_done, &busy));
	gate_wait_entered(&g);
	jq = worker_submit(w, job_run, job_done, &queued);
	assert_non_null(jq);
	worker_cancel(jq);
	gate_open(&g);
	loop_until(base, &seq, 1);
	assert_int_equal(busy.done_seq, 1);
	assert_false(queued.ran);
	assert_int_equal(queued.done_seq, 0);

	/* Cancelled while it runs: cancel returns after the run. */
	gate_init(&g);
	running.gate = &g;
	jr = worker_submit(w, job_run, job_done, &running);
	assert_non_null(jr);
	gate_wait_entered(&g);
	assert_int_equal(pthread_create(&t, NULL, opener, &g), 0);
	worker_cancel(jr);
	assert_true(running.ran);
	pthread_join(t, NULL);
	/* Its done never comes; the next job's does. */
	assert_non_null(worker_submit(w, job_run, job_done, &after));
	loop_until(base, &seq, 2);
	assert_int_equal(after.done_seq, 2);
	assert_int_equal(running.done_seq, 0);
	worker_cancel(NULL);

	/* Freed with jobs queued or finished: no callback, nothing leaks. */
	memset(&queued, 0, sizeof(queued));
	queued.seq = &seq;
	assert_non_null(worker_submit(w, job_run, job_done, &queued));
	assert_non_null(worker_submit(w, job_run, job_done, &queued));
	worker_free(w);
	assert_int_equal(seq, 2);
	worker_free(NULL);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
