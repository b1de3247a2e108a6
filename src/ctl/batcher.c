/* batcher.c - deadline-aware batching (batcher.h). */
#include <math.h>
#include <string.h>

#include "serflow/batcher.h"

int sf_batcher_check(const struct sf_batcher_cfg *c, struct sf_err *err)
{
    if (!(c->slo_s > 0) || !isfinite(c->slo_s))
        return sf_err_set(err, SF_EINVAL, "batcher: the SLO must be > 0 s");
    if (c->batch_size < 1)
        return sf_err_set(err, SF_EINVAL, "batcher: the batch size must be >= 1");
    if (!(c->margin_s >= 0) || !isfinite(c->margin_s))
        return sf_err_set(err, SF_EINVAL, "batcher: the margin must be >= 0 s");
    if (!c->fn_worst_s)
        return sf_err_set(err, SF_EINVAL, "batcher: no function service table");
    for (int path = 0; path < 2; path++) {
        const double *t = path ? c->inst_worst_s : c->fn_worst_s;
        for (int n = 0; t && n <= c->batch_size; n++)
            if (!(t[n] >= 0) || !isfinite(t[n]) || (n > 0 && t[n] < t[n - 1]))
                return sf_err_set(err, SF_EINVAL,
                                  "batcher: %s service time of a batch of %d is %g s: tables "
                                  "must be finite, >= 0 and non-decreasing",
                                  path ? "instance" : "function", n, t[n]);
    }
    return SF_OK;
}

double sf_batcher_worst_s(const struct sf_batcher_cfg *c, int n, int on_instance)
{
    if (n > c->batch_size)
        n = c->batch_size;
    if (n < 0)
        n = 0;
    const double *t = on_instance && c->inst_worst_s ? c->inst_worst_s : c->fn_worst_s;
    return t[n];
}

double sf_batcher_latest_s(const struct sf_batcher_cfg *c, double oldest_arrival_s, int n,
                           int on_instance)
{
    return oldest_arrival_s + c->slo_s - c->margin_s - sf_batcher_worst_s(c, n, on_instance);
}

static void dispatch(struct sf_batch_decision *out, int n, int on_instance, double now_s)
{
    out->path = on_instance ? SF_BATCH_INSTANCE : SF_BATCH_FUNCTION;
    out->n = n;
    out->wake_s = now_s;
}

/* The largest prefix of the queue (at most min(queued, B)) that still meets the oldest request's
 * deadline on an instance taking it at t: 0 when not even the oldest alone does. The tables are
 * non-decreasing, so a binary search. */
static int inst_prefix(const struct sf_batcher_cfg *c, double t, int queued,
                       double oldest_arrival_s)
{
    int lo = 0, hi = queued < c->batch_size ? queued : c->batch_size;
    if (t <= sf_batcher_latest_s(c, oldest_arrival_s, hi, 1))
        return hi; /* the common case: all of it fits */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (t <= sf_batcher_latest_s(c, oldest_arrival_s, mid, 1))
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Whether waiting for the instance that becomes free at next_free_s is safe for `queued`
 * requests: it takes the prefix that meets the deadline then, and the rest could still go to a
 * function at that moment in time (judged conservatively, as if the rest were as old as the
 * oldest). */
static int wait_for_instance(const struct sf_batcher_cfg *c, int queued, double oldest_arrival_s,
                             double next_free_s)
{
    if (!c->inst_worst_s || !isfinite(next_free_s))
        return 0;
    int take = inst_prefix(c, next_free_s, queued, oldest_arrival_s);
    if (take < 1)
        return 0;
    int rest = queued - take;
    return rest <= 0 || next_free_s <= sf_batcher_latest_s(c, oldest_arrival_s, rest, 0);
}

void sf_batcher_decide(const struct sf_batcher_cfg *c, double now_s, int queued,
                       double oldest_arrival_s, int free_instances, double next_free_s,
                       struct sf_batch_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->wake_s = INFINITY;
    if (queued <= 0)
        return;
    out->deadline_s = oldest_arrival_s + c->slo_s;
    int n = queued < c->batch_size ? queued : c->batch_size;
    if (free_instances > 0 && c->inst_worst_s) {
        /* a free instance: it takes the batch at its latest time, or at once when full; when only
         * part of the queue still fits it, that part leaves now */
        int take = inst_prefix(c, now_s, queued, oldest_arrival_s);
        if (take == n) {
            double latest = sf_batcher_latest_s(c, oldest_arrival_s, n, 1);
            if (queued >= c->batch_size || now_s >= latest)
                dispatch(out, n, 1, now_s);
            else
                out->wake_s = latest;
            return;
        }
        if (take >= 1) {
            dispatch(out, take, 1, now_s);
            return;
        }
    } else if (free_instances <= 0 &&
               (queued < c->batch_size || now_s > sf_batcher_latest_s(c, oldest_arrival_s, n, 0)) &&
               wait_for_instance(c, queued, oldest_arrival_s, next_free_s)) {
        /* the instance takes it when free; a full queue waits too when a function would already
         * be late for it (it grew while waiting for that instance) */
        out->wake_s = next_free_s;
        return;
    }
    /* a function: a full batch at once, else at the latest time of the whole queue */
    double latest = sf_batcher_latest_s(c, oldest_arrival_s, n, 0);
    if (queued >= c->batch_size || now_s >= latest)
        dispatch(out, n, 0, now_s);
    else
        out->wake_s = latest;
}

int sf_batcher_admit(const struct sf_batcher_cfg *c, double now_s, int queued,
                     double oldest_arrival_s, int free_instances, double next_free_s,
                     struct sf_batch_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->wake_s = INFINITY;
    if (queued <= 0 || queued >= c->batch_size)
        return 0; /* an empty queue takes anyone; a full one is dispatched by decide */
    int n = queued + 1;
    int on_inst = free_instances > 0 && c->inst_worst_s;
    if (on_inst) {
        /* a batch bound for a free instance keeps it: when one more request would make the
         * batch too late there, the batch leaves for the instance now */
        if (now_s <= sf_batcher_latest_s(c, oldest_arrival_s, n, 1))
            return 0;
        if (now_s <= sf_batcher_latest_s(c, oldest_arrival_s, queued, 1)) {
            out->deadline_s = oldest_arrival_s + c->slo_s;
            dispatch(out, queued, 1, now_s);
            return 1;
        }
    } else if (wait_for_instance(c, n, oldest_arrival_s, next_free_s)) {
        return 0;
    }
    if (now_s <= sf_batcher_latest_s(c, oldest_arrival_s, n, 0))
        return 0; /* it still fits a function */
    out->deadline_s = oldest_arrival_s + c->slo_s;
    dispatch(out, queued, 0, now_s);
    return 1;
}
