/*
 * Unit tests for engine.c: the schedule, the one-run guard, dependencies,
 * --once and reload (build, carry, swap), on a fake clock and without an
 * event loop: the tests call engine_run_due() after moving the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "engine.h"
#include "metrics.h"
#include "status.h"
#include "util.h"

#define SEC	USEC_PER_SEC

struct fake_clock {
	uint64_t now;
	double	 random;	/* what random() returns */
};

static uint64_t
fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->now;
}

static double
fake_random(void *arg)
{
	return ((struct fake_clock *)arg)->random;
}

/* What happened to fake checks, across their objects. */
struct journal {
	int	 runs[8];
	int	 finishes[8];
	int	 adopts[8];
	int	 inherits[8];
	int	 retires[8];
	int	 frees[8];
	uint64_t last_run[8];
};

struct fake {
	int		 id;		/* index into the journal */
	int		 setting;	/* "configuration": same() compares it */
	bool		 hold;		/* run() holds the run open */
	bool		 fail;		/* run() marks API_EVENT_LOG failed */
	int		 slices;	/* finish() asks for this many more calls */
	struct check	*held;
	struct journal	*j;
	struct fake_clock *clk;
	int		 state;		/* carried / inherited */
};

static void
fake_run(struct check *c, void *impl)
{
	struct fake *f = impl;

	f->j->runs[f->id]++;
	f->j->last_run[f->id] = f->clk->now;
	f->state++;
	if (f->fail)
		check_fail(c, API_EVENT_LOG);
	if (f->hold) {
		check_hold(c);
		f->held = c;
	}
}

static int
fake_finish(struct check *c, void *impl)
{
	struct fake *f = impl;

	(void)c;
	f->j->finishes[f->id]++;
	if (f->slices > 0) {
		f->slices--;
		return 1;
	}
	return 0;
}

static bool
fake_same(const void *a, const void *b)
{
	return ((const struct fake *)a)->setting == ((const struct fake *)b)->setting;
}

static void
fake_adopt(void *old, void *new)
{
	struct fake *o = old, *n = new;

	o->setting = n->setting;
	o->j->adopts[o->id]++;
}

static void
fake_inherit(void *new, const void *old)
{
	struct fake *n = new;

	n->state = ((const struct fake *)old)->state;
	n->j->inherits[n->id]++;
}

static void
fake_retire(void *impl)
{
	struct fake *f = impl;

	f->j->retires[f->id]++;
}

static void
fake_free(void *impl)
{
	struct fake *f = impl;

	f->j->frees[f->id]++;
	free(f);
}

/* The status op: one probe-like entry with the check's state. */
static void
fake_status(const void *impl, struct status *st)
{
	const struct fake *f = impl;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(f->id));
	json_object_set_new(o, "state", json_integer(f->state));
	status_list_add(status_target(st, "t"), "probes", o);
}

static const struct check_ops fake_ops = {
	.kind = "fake",
	.run = fake_run,
	.finish = fake_finish,
	.same = fake_same,
	.adopt = fake_adopt,
	.inherit = fake_inherit,
	.retire = fake_retire,
	.status = fake_status,
	.free = fake_free,
};

struct env {
	struct fake_clock clk;
	struct journal	 j;
	struct metrics	*m;
	struct engine	*e;
	int		 published;
};

static void
on_published(void *arg)
{
	((struct env *)arg)->published++;
}

static struct env *
env_new_base(bool once, struct event_base *base)
{
	struct env *v = calloc(1, sizeof(*v));
	struct engine_clock clock = { fake_now, fake_random, NULL };

	assert_non_null(v);
	v->clk.now = 1000 * SEC;
	v->clk.random = 0.5;	/* no jitter; random first runs at half the interval */
	clock.arg = &v->clk;
	v->m = metrics_new();
	assert_non_null(v->m);
	v->e = engine_new(base, NULL, v->m, &clock, once, on_published, v);
	assert_non_null(v->e);
	return v;
}

static struct env *
env_new(bool once)
{
	return env_new_base(once, NULL);
}

static void
env_free(struct env *v)
{
	engine_free(v->e);
	metrics_free(v->m);
	free(v);
}

static struct fake *
fake_new(struct env *v, int id, int setting)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->id = id;
	f->setting = setting;
	f->j = &v->j;
	f->clk = &v->clk;
	return f;
}

static struct check *
add(struct engine_build *b, struct fake *f, const char *key,
    uint64_t interval, enum check_first first, struct check *after)
{
	struct check_spec spec = {
		.ops = &fake_ops, .impl = f, .key = { key }, .target = "t",
		.interval_usec = interval, .jitter = 0.1, .first = first,
		.after = after,
	};

	return engine_build_add(b, &spec);
}

static void
advance(struct env *v, uint64_t usec)
{
	v->clk.now += usec;
	engine_run_due(v->e);
}

static void
test_schedule(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);

	(void)state;
	assert_int_equal(engine_build_target(b, "t", 4), 0);
	add(b, fake_new(v, 0, 1), "now", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 1, 1), "random", 100 * SEC, CHECK_FIRST_RANDOM, NULL);
	engine_build_commit(b);
	assert_int_equal(v->j.runs[0], 0);	/* nothing before start */
	engine_start(v->e);
	assert_int_equal(v->j.runs[0], 1);
	assert_int_equal(v->j.finishes[0], 1);
	assert_int_equal(v->j.runs[1], 0);
	advance(v, 50 * SEC - 1);
	assert_int_equal(v->j.runs[1], 0);
	advance(v, 1);				/* random 0.5 of 100 s */
	assert_int_equal(v->j.runs[1], 1);
	advance(v, 10 * SEC - 1);		/* 60 s after the first run, less 1 */
	assert_int_equal(v->j.runs[0], 1);
	advance(v, 1);
	assert_int_equal(v->j.runs[0], 2);
	advance(v, 60 * SEC);
	assert_int_equal(v->j.runs[0], 3);
	assert_true(v->published >= 4);
	env_free(v);
}

/* A jittered interval stays within interval * (1 +- jitter). */
static void
test_jitter(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);

	(void)state;
	add(b, fake_new(v, 0, 1), "a", 100 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	v->clk.random = 0.0;			/* the shortest: 90 s */
	engine_start(v->e);
	advance(v, 90 * SEC - 1);
	assert_int_equal(v->j.runs[0], 1);
	v->clk.random = 0.999999;		/* next: just under 110 s */
	advance(v, 1);
	assert_int_equal(v->j.runs[0], 2);
	advance(v, 109 * SEC);
	assert_int_equal(v->j.runs[0], 2);
	advance(v, 1 * SEC);
	assert_int_equal(v->j.runs[0], 3);
	env_free(v);
}

static void
test_no_overlap(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);
	struct fake *f = fake_new(v, 0, 1);

	(void)state;
	f->hold = true;
	add(b, f, "a", 10 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	engine_start(v->e);
	assert_int_equal(v->j.runs[0], 1);
	assert_int_equal(v->j.finishes[0], 0);	/* held */
	advance(v, 10 * SEC);
	advance(v, 10 * SEC);
	assert_int_equal(v->j.runs[0], 1);	/* due twice, still running */
	f->hold = false;
	check_release(f->held);
	assert_int_equal(v->j.finishes[0], 1);
	advance(v, 10 * SEC);
	assert_int_equal(v->j.runs[0], 2);
	assert_int_equal(v->j.finishes[0], 2);
	env_free(v);
}

/*
 * A finish in slices: one slice per turn of the loop, the run goes on
 * meanwhile (no new run, nothing published), and a reload that removes
 * the check stops the slices.  Without a loop they run at once.
 */
static void
test_finish_slices(void **state)
{
	struct event_base *base = event_base_new();
	struct env *v;
	struct engine_build *b;
	struct fake *f;
	int published;

	(void)state;
	assert_non_null(base);
	v = env_new_base(false, base);
	b = engine_build_begin(v->e);
	f = fake_new(v, 0, 1);
	f->slices = 3;
	add(b, f, "a", 10 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	published = v->published;
	engine_start(v->e);
	assert_int_equal(v->j.runs[0], 1);
	assert_int_equal(v->j.finishes[0], 1);	/* the first slice, at once */
	assert_int_equal(v->published, published);
	advance(v, 10 * SEC);			/* due again: still finishing */
	assert_int_equal(v->j.runs[0], 1);
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
	assert_int_equal(v->j.finishes[0], 2);
	assert_int_equal(v->published, published);
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
	assert_int_equal(v->j.finishes[0], 4);
	assert_int_equal(v->published, published + 1);
	advance(v, 10 * SEC);
	assert_int_equal(v->j.runs[0], 2);

	/* Removed while finishing: no slice after the reload. */
	f->slices = 5;
	advance(v, 10 * SEC);
	assert_int_equal(v->j.runs[0], 3);
	assert_int_equal(v->j.finishes[0], 6);
	b = engine_build_begin(v->e);
	add(b, fake_new(v, 1, 1), "b", 10 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	assert_int_equal(v->j.frees[0], 1);
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
	assert_int_equal(v->j.finishes[0], 6);
	env_free(v);

	/* No loop: every slice at once. */
	v = env_new(false);
	b = engine_build_begin(v->e);
	f = fake_new(v, 0, 1);
	f->slices = 3;
	add(b, f, "a", 10 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	engine_start(v->e);
	assert_int_equal(v->j.finishes[0], 4);
	assert_true(v->published >= 1);
	env_free(v);
	event_base_free(base);
}

static void
test_after(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);
	struct fake *inv = fake_new(v, 0, 1);
	struct check *c;

	(void)state;
	inv->hold = true;
	c = add(b, inv, "inv", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 1, 1), "dep", 60 * SEC, CHECK_FIRST_NOW, c);
	engine_build_commit(b);
	engine_start(v->e);
	advance(v, 5 * SEC);
	assert_int_equal(v->j.runs[1], 0);	/* waits for inv's first run */
	assert_false(check_has_run(c));
	inv->hold = false;
	check_release(inv->held);
	assert_true(check_has_run(c));
	advance(v, 0);
	assert_int_equal(v->j.runs[1], 1);
	env_free(v);
}

/* A random first run that waits for another check keeps its random offset. */
static void
test_after_random(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);
	struct fake *inv = fake_new(v, 0, 1);
	struct check *c;

	(void)state;
	inv->hold = true;
	c = add(b, inv, "inv", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 1, 1), "probe", 100 * SEC, CHECK_FIRST_RANDOM, c);
	engine_build_commit(b);
	engine_start(v->e);
	advance(v, 5 * SEC);
	inv->hold = false;
	check_release(inv->held);		/* inventory done at 5 s */
	advance(v, 50 * SEC - 1);
	assert_int_equal(v->j.runs[1], 0);
	advance(v, 1);				/* 0.5 of 100 s after that */
	assert_int_equal(v->j.runs[1], 1);
	env_free(v);
}

static void
test_once(void **state)
{
	struct env *v = env_new(true);
	struct engine_build *b = engine_build_begin(v->e);
	struct fake *f = fake_new(v, 0, 1);
	struct check *c;

	(void)state;
	f->hold = true;
	c = add(b, f, "a", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 1, 1), "b", 3600 * SEC, CHECK_FIRST_RANDOM, c);
	engine_build_commit(b);
	engine_start(v->e);
	assert_false(engine_once_done(v->e));
	f->hold = false;
	check_release(f->held);
	assert_false(engine_once_done(v->e));
	advance(v, 0);				/* random first runs at once */
	assert_int_equal(v->j.runs[1], 1);
	assert_true(engine_once_done(v->e));
	advance(v, 7200 * SEC);
	assert_int_equal(v->j.runs[0], 1);	/* one run each, never again */
	assert_int_equal(v->j.runs[1], 1);
	env_free(v);
}

/* Unchanged checks are carried: same object, same schedule, no extra run. */
static void
test_reload_carry(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);
	struct fake *keep = fake_new(v, 0, 1);
	struct check *c0, *c1;
	struct strbuf sb;

	(void)state;
	keep->fail = true;
	c0 = add(b, keep, "keep", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 1, 1), "change", 60 * SEC, CHECK_FIRST_RANDOM, NULL);
	add(b, fake_new(v, 2, 1), "remove", 60 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	engine_start(v->e);
	advance(v, 30 * SEC);			/* "change" runs at 30 s */
	assert_int_equal(v->j.runs[0], 1);
	assert_int_equal(v->j.runs[1], 1);
	strbuf_init(&sb);
	assert_int_equal(metrics_render(v->m, &sb), 0);
	assert_non_null(strstr(strbuf_str(&sb),
	    "kibana_connector_monitor_up{target=\"t\",api=\"event_log\"} 0\n"));
	strbuf_free(&sb);

	b = engine_build_begin(v->e);
	c1 = add(b, fake_new(v, 3, 1), "keep", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 4, 2), "change", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 5, 1), "new", 60 * SEC, CHECK_FIRST_NOW, NULL);
	assert_ptr_equal(c1, c0);		/* the running check */
	assert_ptr_equal(check_impl(c1), keep);
	engine_build_commit(b);

	assert_int_equal(v->j.adopts[0], 1);	/* old took the new settings */
	assert_int_equal(v->j.frees[3], 1);	/* the new object went */
	assert_int_equal(v->j.frees[0], 0);
	assert_int_equal(keep->state, 1);	/* state kept */
	assert_int_equal(v->j.inherits[4], 1);	/* changed: fresh, inherits */
	assert_int_equal(v->j.frees[1], 1);
	assert_int_equal(v->j.retires[1], 0);	/* replaced, not removed */
	assert_int_equal(v->j.retires[2], 1);	/* removed: series go */
	assert_int_equal(v->j.frees[2], 1);
	/* Fresh checks are due at once; the carried one is not. */
	advance(v, 0);
	assert_int_equal(v->j.runs[0], 1);
	assert_int_equal(v->j.runs[4], 1);
	assert_int_equal(v->j.runs[5], 1);
	advance(v, 30 * SEC - 1);		/* keep: due 60 s after its run */
	assert_int_equal(v->j.runs[0], 1);
	advance(v, 1);
	assert_int_equal(v->j.runs[0], 2);
	assert_true(check_last_ok(c0) == 0);	/* it always fails */
	env_free(v);
}

/*
 * engine_status(): one target object, the engine's own health per API (a
 * failed API is down and has no last success), then each check's status
 * op, reading what a carried check kept.
 */
static void
test_status(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);
	struct fake *ok = fake_new(v, 0, 1), *bad = fake_new(v, 1, 1);
	struct status *st;
	const json_t *t, *apis, *p;

	(void)state;
	bad->fail = true;
	add(b, ok, "ok", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, bad, "bad", 60 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	st = status_new();
	engine_status(v->e, st);	/* before any run: no API yet */
	assert_int_equal(status_finish(st), 0);
	t = json_array_get(json_object_get(status_json(st), "targets"), 0);
	assert_int_equal(json_array_size(json_object_get(t, "apis")), 0);
	status_free(st);

	engine_start(v->e);
	advance(v, 0);
	/* a reload with the same settings carries both (and their state) */
	b = engine_build_begin(v->e);
	add(b, fake_new(v, 2, 1), "ok", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 3, 1), "bad", 60 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);

	st = status_new();
	engine_status(v->e, st);
	assert_int_equal(status_finish(st), 0);
	assert_int_equal(json_array_size(json_object_get(status_json(st), "targets")), 1);
	t = json_array_get(json_object_get(status_json(st), "targets"), 0);
	apis = json_object_get(t, "apis");
	assert_int_equal(json_array_size(apis), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(apis, 0),
	    "api")), "event_log");
	assert_true(json_is_false(json_object_get(json_array_get(apis, 0), "up")));
	assert_true(json_is_null(json_object_get(json_array_get(apis, 0),
	    "last_success")));
	p = json_object_get(t, "probes");
	assert_int_equal(json_array_size(p), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(p, 0),
	    "id")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(p, 0),
	    "state")), 1);
	status_free(st);
	env_free(v);
}

static void
test_reload_abort(void **state)
{
	struct env *v = env_new(false);
	struct engine_build *b = engine_build_begin(v->e);
	struct fake *keep = fake_new(v, 0, 1);

	(void)state;
	add(b, keep, "keep", 60 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_commit(b);
	engine_start(v->e);

	b = engine_build_begin(v->e);
	add(b, fake_new(v, 1, 1), "keep", 60 * SEC, CHECK_FIRST_NOW, NULL);
	add(b, fake_new(v, 2, 1), "new", 60 * SEC, CHECK_FIRST_NOW, NULL);
	engine_build_abort(b);
	assert_int_equal(v->j.frees[1], 1);
	assert_int_equal(v->j.frees[2], 1);
	assert_int_equal(v->j.adopts[0], 0);
	assert_int_equal(v->j.runs[2], 0);
	advance(v, 60 * SEC);
	assert_int_equal(v->j.runs[0], 2);	/* still on its schedule */
	assert_int_equal(v->j.frees[0], 0);
	env_free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_no_overlap),
		cmocka_unit_test(test_finish_slices),
		cmocka_unit_test(test_after),
		cmocka_unit_test(test_after_random),
		cmocka_unit_test(test_once),
		cmocka_unit_test(test_reload_carry),
		cmocka_unit_test(test_reload_abort),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
