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

static double worst_s(const struct sf_batcher_cfg *c, int n, int on_instance)
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
    return oldest_arrival_s + c->slo_s - c->margin_s - worst_s(c, n, on_instance);
}

static void dispatch(struct sf_batch_decision *out, int n, int on_instance, double now_s)
{
    out->path = on_instance ? SF_BATCH_INSTANCE : SF_BATCH_FUNCTION;
    out->n = n;
    out->wake_s = now_s;
}

void sf_batcher_decide(const struct sf_batcher_cfg *c, double now_s, int queued,
                       double oldest_arrival_s, int free_instances, struct sf_batch_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->wake_s = INFINITY;
    if (queued <= 0)
        return;
    out->deadline_s = oldest_arrival_s + c->slo_s;
    int on_inst = free_instances > 0 && c->inst_worst_s != NULL;
    if (queued >= c->batch_size) {
        dispatch(out, c->batch_size, on_inst, now_s);
        return;
    }
    double latest = sf_batcher_latest_s(c, oldest_arrival_s, queued, on_inst);
    if (now_s >= latest) {
        dispatch(out, queued, on_inst, now_s);
        return;
    }
    out->wake_s = latest;
}

int sf_batcher_admit(const struct sf_batcher_cfg *c, double now_s, int queued,
                     double oldest_arrival_s, int free_instances, struct sf_batch_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->wake_s = INFINITY;
    if (queued <= 0 || queued >= c->batch_size)
        return 0; /* an empty queue takes anyone; a full one is dispatched by decide */
    int on_inst = free_instances > 0 && c->inst_worst_s != NULL;
    if (now_s <= sf_batcher_latest_s(c, oldest_arrival_s, queued + 1, on_inst))
        return 0;
    out->deadline_s = oldest_arrival_s + c->slo_s;
    dispatch(out, queued, on_inst, now_s);
    return 1;
}
