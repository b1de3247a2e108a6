/*
 * sim_queue.c - one deadline-batching queue and its clock (batcher.h), generic over what serves
 * it: a policy's fleet (sim.c) or an oracle lane's always-ready instances (sim_oracle.c). The
 * queue holds requests next_g .. next_g + q_n - 1 of the shared sample buffer, in arrival order.
 */
#include <math.h>

#include "sim_int.h"

/* Asks the batcher at now; notes when it was asked with a queue and no free instance, and when
 * to look again if nothing changes (the batcher's wake time, or an instance becoming free). */
static void ask(struct sf__shared *sh, struct sf__dq *q, double now, struct sf_batch_decision *d)
{
    int free = q->ops->free(q->ctx, now);
    double next_free = q->ops->next_free(q->ctx, now);
    if (free == 0 && q->q_n > 0)
        q->saturated = 1;
    sf_batcher_decide(q->cfg, now, q->q_n, sh->arrival[q->next_g - sh->base], free, next_free, d);
    q->next_event_s = d->wake_s;
    if (free == 0 && next_free < q->next_event_s) /* a batch bound for a function may get one */
        q->next_event_s = next_free;
    q->event_known = d->path == SF_BATCH_NONE;
}

static void send(struct sf__dq *q, const struct sf_batch_decision *d, double now)
{
    int64_t took = q->ops->dispatch(q->ctx, d, q->next_g, now);
    q->next_g += took;
    q->q_n -= (int)took;
    q->event_known = 0;
}

void sf__dq_settle(struct sf__shared *sh, struct sf__dq *q, double now)
{
    struct sf_batch_decision d;
    q->event_known = 0; /* the caller may have changed the fleet */
    while (q->q_n > 0) {
        ask(sh, q, now, &d);
        if (d.path == SF_BATCH_NONE)
            return;
        send(q, &d, now);
    }
}

void sf__dq_advance(struct sf__shared *sh, struct sf__dq *q, double t)
{
    struct sf_batch_decision d;
    while (q->q_n > 0) {
        if (q->event_known && !(q->next_event_s < t))
            break; /* nothing happens before t */
        double now = q->cur_s;
        ask(sh, q, now, &d);
        if (d.path != SF_BATCH_NONE) {
            send(q, &d, now);
            continue;
        }
        if (!(q->next_event_s < t))
            break;
        q->cur_s = q->next_event_s;
        q->event_known = 0;
    }
    if (t > q->cur_s && isfinite(t))
        q->cur_s = t;
}

void sf__dq_arrive(struct sf__shared *sh, struct sf__dq *q, int64_t g)
{
    double t = sh->arrival[g - sh->base];
    sf__dq_advance(sh, q, t);
    if (q->q_n > 0) {
        int free = q->ops->free(q->ctx, t);
        if (free == 0)
            q->saturated = 1;
        struct sf_batch_decision d;
        if (sf_batcher_admit(q->cfg, t, q->q_n, sh->arrival[q->next_g - sh->base], free,
                             q->ops->next_free(q->ctx, t), &d)) {
            send(q, &d, t);
            sf__dq_settle(sh, q, t); /* what a cap held back, if anything */
        }
    }
    if (q->q_n == 0)
        q->next_g = g;
    q->q_n++;
    q->event_known = 0;
    sf__dq_settle(sh, q, t);
}
