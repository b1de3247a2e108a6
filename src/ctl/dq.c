/*
 * dq.c - the loop that drives the deadline-aware batcher (batcher.h): one queue of requests and
 * its clock, generic over what serves it and where its requests live. The simulator runs one per
 * policy (its fleet, the shared sample buffer) and one per oracle lane; the server runs one on its
 * admission queue and the wall clock (serve/ingress/control.c). The queue holds requests next_g ..
 * next_g + q_n - 1 of the caller's numbering, in arrival order.
 */
#include <math.h>

#include "serflow/batcher.h"

/* Asks the batcher at now; notes when it was asked with a queue and no free instance, and when
 * to look again if nothing changes (the batcher's wake time, or an instance becoming free). */
static void ask(struct sf_dq *q, double now, struct sf_batch_decision *d)
{
    int free = q->ops->free(q->ctx, now);
    double next_free = q->ops->next_free(q->ctx, now);
    if (free == 0 && q->q_n > 0)
        q->saturated = 1;
    sf_batcher_decide(q->cfg, now, q->q_n, q->ops->arrival_s(q->ctx, q->next_g), free, next_free,
                      d);
    q->next_event_s = d->wake_s;
    /* a batch bound for a function may get an instance when one becomes free */
    double change = q->ops->next_change ? q->ops->next_change(q->ctx, now) : next_free;
    if (free == 0 && change < q->next_event_s)
        q->next_event_s = change;
    q->event_known = d->path == SF_BATCH_NONE;
}

static void send(struct sf_dq *q, const struct sf_batch_decision *d, double now)
{
    int64_t took = q->ops->dispatch(q->ctx, d, q->next_g, now);
    q->next_g += took;
    q->q_n -= (int)took;
    q->event_known = 0;
}

void sf_dq_settle(struct sf_dq *q, double now)
{
    struct sf_batch_decision d;
    q->event_known = 0; /* the caller may have changed the fleet */
    while (q->q_n > 0) {
        ask(q, now, &d);
        if (d.path == SF_BATCH_NONE)
            return;
        send(q, &d, now);
    }
}

void sf_dq_advance(struct sf_dq *q, double t)
{
    struct sf_batch_decision d;
    while (q->q_n > 0) {
        if (q->event_known && !(q->next_event_s < t))
            break; /* nothing happens before t */
        double now = q->cur_s;
        ask(q, now, &d);
        if (d.path != SF_BATCH_NONE) {
            send(q, &d, now);
            continue;
        }
        if (!(q->next_event_s < t))
            break;
        /* an event that is not later than the clock cannot move it (the server's instance that
         * is overdue reports itself free "now"): the caller comes back when something changes */
        if (!(q->next_event_s > q->cur_s))
            break;
        q->cur_s = q->next_event_s;
        q->event_known = 0;
    }
    if (t > q->cur_s && isfinite(t))
        q->cur_s = t;
}

void sf_dq_arrive(struct sf_dq *q, int64_t g)
{
    double t = q->ops->arrival_s(q->ctx, g);
    sf_dq_advance(q, t);
    if (q->q_n > 0) {
        int free = q->ops->free(q->ctx, t);
        if (free == 0)
            q->saturated = 1;
        struct sf_batch_decision d;
        if (sf_batcher_admit(q->cfg, t, q->q_n, q->ops->arrival_s(q->ctx, q->next_g), free,
                             q->ops->next_free(q->ctx, t), &d)) {
            send(q, &d, t);
            sf_dq_settle(q, t); /* what a cap held back, if anything */
        }
    }
    if (q->q_n == 0)
        q->next_g = g;
    q->q_n++;
    q->event_known = 0;
    sf_dq_settle(q, t);
}

void sf_dq_init(struct sf_dq *q, const struct sf_batcher_cfg *cfg, const struct sf_dq_ops *ops,
                void *ctx, int64_t first_g)
{
    *q = (struct sf_dq){.cfg = cfg, .ops = ops, .ctx = ctx, .next_g = first_g};
}
