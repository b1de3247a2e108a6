/* test_batcher.c - the deadline-aware batcher (batcher.h): a full batch leaves at once, nothing
 * waits at zero traffic, every deadline is met when capacity exists, a burst far above capacity
 * spills to functions with nothing dropped, and instances are preferred while they can make it.
 * It drives the batcher through ctl/'s loop (sf_dq), as the simulator and the server do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "serflow/batcher.h"
#include "test_util.h"

#define B 100
static double inst_tab[B + 1], fn_tab[B + 1];

/* worst-case service: instance 0.05 s per request + 0.2 s; function 0.03 s per request + 1 s
 * (a cold-start allowance) */
static struct sf_batcher_cfg cfg(int with_instances)
{
    for (int n = 0; n <= B; n++) {
        inst_tab[n] = n ? 0.2 + 0.05 * n : 0;
        fn_tab[n] = n ? 1.0 + 0.03 * n : 0;
    }
    struct sf_batcher_cfg c = {.slo_s = 6,
                               .batch_size = B,
                               .inst_worst_s = with_instances ? inst_tab : NULL,
                               .fn_worst_s = fn_tab};
    return c;
}

static void test_check_refuses_bad_tables(void **state)
{
    (void)state;
    struct sf_batcher_cfg c = cfg(1);
    struct sf_err err = {{0}};
    assert_int_equal(sf_batcher_check(&c, &err), SF_OK);
    inst_tab[50] = inst_tab[49] - 1; /* decreasing */
    assert_int_equal(sf_batcher_check(&c, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "instance service time of a batch of 50"));
    c = cfg(1);
    fn_tab[3] = NAN;
    assert_int_equal(sf_batcher_check(&c, &err), SF_EINVAL);
    c = cfg(1);
    c.slo_s = 0;
    assert_int_equal(sf_batcher_check(&c, &err), SF_EINVAL);
}

static void test_zero_traffic_and_full_batch(void **state)
{
    (void)state;
    struct sf_batcher_cfg c = cfg(1);
    struct sf_batch_decision d;
    sf_batcher_decide(&c, 10, 0, 0, 1, INFINITY, &d);
    assert_int_equal(d.path, SF_BATCH_NONE);
    assert_true(isinf(d.wake_s));
    /* a full batch leaves at once: to the free instance, else to a function */
    sf_batcher_decide(&c, 10, B, 9.9, 1, INFINITY, &d);
    assert_int_equal(d.path, SF_BATCH_INSTANCE);
    assert_int_equal(d.n, B);
    sf_batcher_decide(&c, 10, B + 37, 9.9, 0, 10.5, &d);
    assert_int_equal(d.path, SF_BATCH_FUNCTION);
    assert_int_equal(d.n, B);
    /* one request, a free instance: it waits until 6 - 0.25 s after its arrival */
    sf_batcher_decide(&c, 10, 1, 10, 1, INFINITY, &d);
    assert_int_equal(d.path, SF_BATCH_NONE);
    assert_float_equal(d.wake_s, 10 + 6 - 0.25, 1e-12);
    sf_batcher_decide(&c, d.wake_s, 1, 10, 1, INFINITY, &d);
    assert_int_equal(d.path, SF_BATCH_INSTANCE);
    /* no instance at all: the function's latest time */
    c = cfg(0);
    sf_batcher_decide(&c, 10, 20, 10, 1, INFINITY, &d);
    assert_float_equal(d.wake_s, 10 + 6 - 1.6, 1e-12);
}

static void test_waits_for_a_busy_instance_that_frees_in_time(void **state)
{
    (void)state;
    struct sf_batcher_cfg c = cfg(1);
    struct sf_batch_decision d;
    /* 10 requests, oldest at 0, instance busy until 2 s: 2 + 0.7 <= 6, so wait for it */
    sf_batcher_decide(&c, 0.5, 10, 0, 0, 2.0, &d);
    assert_int_equal(d.path, SF_BATCH_NONE);
    assert_float_equal(d.wake_s, 2.0, 0);
    /* busy until 5.9 s: too late for any of it: the function's latest time */
    sf_batcher_decide(&c, 0.5, 10, 0, 0, 5.9, &d);
    assert_float_equal(d.wake_s, 6 - 1.3, 1e-12);
    /* a free instance that can no longer take the whole queue takes the part that fits */
    sf_batcher_decide(&c, 2.93, 80, 0, 1, INFINITY, &d);
    assert_int_equal(d.path, SF_BATCH_INSTANCE);
    assert_int_equal(d.n, 57); /* 2.93 + 0.2 + 0.05 n <= 6 */
    /* a batch bound for a free instance leaves for it rather than grow too late for it */
    struct sf_batch_decision a;
    assert_int_equal(sf_batcher_admit(&c, 2.93, 57, 0, 1, INFINITY, &a), 1);
    assert_int_equal(a.path, SF_BATCH_INSTANCE);
    assert_int_equal(a.n, 57);
    assert_int_equal(sf_batcher_admit(&c, 2.93, 56, 0, 1, INFINITY, &a), 0);
}

/* ctl's driver loop (sf_dq) over requests at times arr[0..n) and instances of the given count,
 * every request dispatched exactly once; returns how many went to instances and the latest
 * completion minus deadline. Instances are busy for 60 % of their worst-case batch time. */
struct run {
    long on_inst, on_fn, dispatched;
    double worst_overrun_s; /* max over batches of completion - oldest deadline */
};

struct queue {
    const struct sf_batcher_cfg *c;
    const double *arr;
    double busy[8];
    double promise[8]; /* dispatch + worst-case time: what a server can promise the batcher */
    int promised;      /* next_free tells the promise (the server's view), not the real end */
    int n_inst;
    struct run r;
};

static int q_free(void *ctx, double t)
{
    const struct queue *s = ctx;
    int n = 0;
    for (int i = 0; i < s->n_inst; i++)
        n += s->busy[i] <= t;
    return n;
}

static double q_end(const struct queue *s, double t, int promised)
{
    double next = INFINITY;
    for (int i = 0; i < s->n_inst; i++) {
        double end = promised ? s->promise[i] : s->busy[i];
        if (s->busy[i] > t && end < next)
            next = end;
    }
    return promised && next < t ? t : next;
}

static double q_next_free(void *ctx, double t)
{
    const struct queue *s = ctx;
    return q_end(s, t, s->promised);
}

static double q_next_change(void *ctx, double t)
{
    return q_end(ctx, t, 0);
}

/* Sends requests g.. where d says, at now, and notes how late the batch finishes. */
static int64_t q_dispatch(void *ctx, const struct sf_batch_decision *d, int64_t g, double now)
{
    struct queue *s = ctx;
    int on_inst = d->path == SF_BATCH_INSTANCE;
    double service = on_inst ? s->c->inst_worst_s[d->n] : s->c->fn_worst_s[d->n];
    if (on_inst) {
        int i = 0;
        while (i < s->n_inst && s->busy[i] > now)
            i++;
        assert_true(i < s->n_inst); /* the batcher only picks an instance that is free */
        s->busy[i] = now + 0.6 * service;
        s->promise[i] = now + service;
        s->r.on_inst += d->n;
    } else {
        s->r.on_fn += d->n;
    }
    double over = now + service - (s->arr[g] + s->c->slo_s);
    s->r.worst_overrun_s = over > s->r.worst_overrun_s ? over : s->r.worst_overrun_s;
    s->r.dispatched += d->n;
    return d->n;
}

static double q_arrival_s(void *ctx, int64_t g)
{
    return ((const struct queue *)ctx)->arr[g];
}

static const struct sf_dq_ops q_ops = {
    .free = q_free, .next_free = q_next_free, .dispatch = q_dispatch, .arrival_s = q_arrival_s};
/* the simulator's: the batcher told the server's promise, the loop woken at the real end */
static const struct sf_dq_ops q_ops_change = {.free = q_free,
                                              .next_free = q_next_free,
                                              .dispatch = q_dispatch,
                                              .arrival_s = q_arrival_s,
                                              .next_change = q_next_change};

/* promised: 0 the batcher knows each batch's real end; 1 it is told the promise and the loop
 * wakes only then; 2 told the promise, woken at the real end (next_change) */
static struct run play_as(const struct sf_batcher_cfg *c, const double *arr, int n, int n_inst,
                          int promised)
{
    struct queue s = {
        .c = c, .arr = arr, .n_inst = n_inst, .promised = promised > 0, .r = {0, 0, 0, -INFINITY}};
    struct sf_dq q;
    sf_dq_init(&q, c, promised == 2 ? &q_ops_change : &q_ops, &s, 0);
    for (int g = 0; g < n; g++)
        sf_dq_arrive(&q, g);
    sf_dq_advance(&q, INFINITY);
    assert_int_equal(q.q_n, 0);
    return s.r;
}

static struct run play(const struct sf_batcher_cfg *c, const double *arr, int n, int n_inst)
{
    return play_as(c, arr, n, n_inst, 0);
}

/* n Poisson arrivals at rate_rps (seeded); heap array the caller frees. */
static double *poisson_arrivals(int n, double rate_rps, uint64_t seed)
{
    double *arr = malloc(sizeof(double) * (size_t)n);
    assert_non_null(arr);
    double t = 0;
    for (int i = 0; i < n; i++) {
        t += -log((double)((sf_splitmix64(&seed) >> 11) + 1) / 9007199254740993.0) / rate_rps;
        arr[i] = t;
    }
    return arr;
}

static void test_deadlines_met_and_instances_preferred(void **state)
{
    (void)state;
    struct sf_batcher_cfg c = cfg(1);
    enum { N = 20000 };
    /* Poisson arrivals at 15 req/s: one instance (about 33 req/s at 60 % busy) has capacity */
    double *arr = poisson_arrivals(N, 15, 7);
    struct run r = play(&c, arr, N, 1);
    assert_int_equal(r.dispatched, N);
    assert_true(r.worst_overrun_s <= 1e-9);
    assert_true(r.on_inst > 0.95 * N); /* the instance takes almost everything */
    /* no instance: everything on functions, still on time */
    r = play(&c, arr, N, 0);
    assert_int_equal(r.on_fn, N);
    assert_true(r.worst_overrun_s <= 1e-9);
    free(arr);
}

static void test_burst_spills_nothing_dropped(void **state)
{
    (void)state;
    struct sf_batcher_cfg c = cfg(1);
    enum { N = 10000 };
    double *arr = malloc(sizeof(double) * N);
    assert_non_null(arr);
    for (int i = 0; i < N; i++)
        arr[i] = 100 + 1e-4 * i; /* 10,000 requests in one second: far above 2 instances */
    struct run r = play(&c, arr, N, 2);
    assert_int_equal(r.dispatched, N);
    assert_int_equal(r.on_inst + r.on_fn, N);
    assert_true(r.on_fn > N / 2); /* spilled */
    assert_true(r.on_inst > 0);
    assert_true(r.worst_overrun_s <= 1e-9);
    free(arr);
}

/* A server cannot know when a batch really ends, only the worst case it promised (the ingress's
 * next_free); the simulator tells its batcher the same promise and wakes its loop at the real end
 * (next_change). Every deadline holds either way; knowing the real end serves more on instances,
 * and waking at the real end serves more than waking only at the promise. */
static void test_promised_free_times(void **state)
{
    (void)state;
    struct sf_batcher_cfg c = cfg(1);
    enum { N = 20000 };
    double *arr = poisson_arrivals(N, 30, 11); /* about what one instance takes */
    struct run known = play_as(&c, arr, N, 1, 0), late = play_as(&c, arr, N, 1, 1),
               woken = play_as(&c, arr, N, 1, 2);
    assert_int_equal(known.dispatched, N);
    assert_int_equal(late.dispatched, N);
    assert_int_equal(woken.dispatched, N);
    assert_true(known.worst_overrun_s <= 1e-9);
    assert_true(late.worst_overrun_s <= 1e-9);
    assert_true(woken.worst_overrun_s <= 1e-9);
    assert_true(known.on_inst > woken.on_inst);
    assert_true(woken.on_inst > late.on_inst);
    free(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_refuses_bad_tables),
        cmocka_unit_test(test_zero_traffic_and_full_batch),
        cmocka_unit_test(test_waits_for_a_busy_instance_that_frees_in_time),
        cmocka_unit_test(test_deadlines_met_and_instances_preferred),
        cmocka_unit_test(test_burst_spills_nothing_dropped),
        cmocka_unit_test(test_promised_free_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
