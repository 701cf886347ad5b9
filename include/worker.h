/*
 * worker.h: one thread that runs work off the event loop, and hands each
 * result back to the loop.
 *
 * A job's run() executes on the worker thread and must touch only what its
 * argument gives it (nothing the loop may change meanwhile); its done()
 * executes on the loop, one job per turn of the loop, in submission order.
 * Everything but run() happens on the loop thread.
 */
#ifndef KCM_WORKER_H
#define KCM_WORKER_H

struct event_base;
struct worker;
struct worker_job;

typedef void (*worker_run_fn)(void *arg);
typedef void (*worker_done_fn)(void *arg);

/* The thread starts here; NULL with errno set when it cannot. */
struct worker *worker_new(struct event_base *base);
/*
 * Stops the thread (after the job it is running, if any) and frees the
 * jobs not delivered yet without calling their done().  NULL-safe.
 */
void	 worker_free(struct worker *w);

/* Queues a job; NULL on allocation failure (nothing queued). */
struct worker_job *worker_submit(struct worker *w, worker_run_fn run,
	    worker_done_fn done, void *arg);
/*
 * The job's done() will not run, and its run() is not running when this
 * returns (a run in progress is waited for: a job is short), so the
 * caller may free the argument.  The job is freed.  NULL-safe.
 */
void	 worker_cancel(struct worker_job *j);

#endif /* KCM_WORKER_H */
