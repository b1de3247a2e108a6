/*
 * batcher.h - deadline-aware batching (ctl/): every request answered within its SLO, counted
 * from its own arrival.
 *
 * Requests wait in one FIFO queue (kept by the caller: the simulator's request arrays, the
 * server's admission queue). Each carries the deadline arrival + SLO; the oldest one binds. A
 * batch leaves when it holds B requests, or at the latest moment at which its oldest request
 * still meets its deadline on the path the batch will take: a free instance (the head on the VM,
 * the hand-off and the fanned-out tail on functions, or the whole model for IaaS) when one is
 * free, else a function running the whole model. Each path's worst-case service time for a batch
 * of n (every request running every stage of the path, plus a cold-start allowance where one may
 * occur) comes from a table the planner fills (sf_service_table in plan.h).
 *
 * Pure and allocation-free: the caller owns the queue, the tables and the instances' busy times,
 * and calls
 *   - sf_batcher_admit() before it enqueues an arrival (the open batch may have to leave first,
 *     or the newcomer would push the oldest past its deadline),
 *   - sf_batcher_decide() after every arrival, when a timer it set fires, and when an instance
 *     becomes free; it says whether to dispatch (how many, where) or when to look again.
 * The simulator calls exactly this; the server calls it from its ingress loop.
 */
#ifndef SERFLOW_BATCHER_H
#define SERFLOW_BATCHER_H

#include "serflow/core.h"

struct sf_batcher_cfg {
    double slo_s;   /* deadline = arrival + slo_s */
    int batch_size; /* B: the largest batch; a full batch leaves at once */
    /* worst-case service time (s) of a batch of n requests, n = 0..batch_size:
     * inst_worst_s on a free instance (NULL: the pool has no instances), fn_worst_s on a
     * function (full model). Non-decreasing in n. */
    const double *inst_worst_s;
    const double *fn_worst_s;
    double margin_s; /* kept in hand for what the tables do not model (the server's dispatch
                        and network jitter); 0 in the simulator */
};

/* Checks the configuration: slo > 0, B >= 1, finite non-decreasing tables. SF_EINVAL otherwise. */
int sf_batcher_check(const struct sf_batcher_cfg *c, struct sf_err *err);

enum sf_batch_path { SF_BATCH_NONE = 0, SF_BATCH_INSTANCE = 1, SF_BATCH_FUNCTION = 2 };

struct sf_batch_decision {
    enum sf_batch_path path; /* SF_BATCH_NONE: keep waiting */
    int n;                   /* requests to dispatch from the head of the queue (0 when waiting) */
    double wake_s;           /* when waiting: the time to call decide again (INFINITY: only on the
                                next arrival); when dispatching: now */
    double deadline_s;       /* the oldest request's deadline */
};

/* The worst-case service time of a batch of n (clamped to 0..B) on the instance path (on_instance
 * = 1; the function table when the pool has no instances) or the function path. A busy instance
 * is promised free at its batch's dispatch plus this (the server and the simulator alike). */
double sf_batcher_worst_s(const struct sf_batcher_cfg *c, int n, int on_instance);

/* The latest dispatch time of a batch of n whose oldest request arrived at oldest_arrival_s, on
 * the instance path (on_instance = 1) or the function path. */
double sf_batcher_latest_s(const struct sf_batcher_cfg *c, double oldest_arrival_s, int n,
                           int on_instance);

/* With `queued` requests waiting (oldest at oldest_arrival_s), free_instances instances that may
 * take a batch now (0 when the policy's instance cap is reached) and next_free_s the time the
 * next busy instance becomes free (INFINITY: none): the path of the batch is a free instance while
 * it can still meet the oldest request's deadline, else a busy instance that becomes free early
 * enough to meet it (the batch waits for it, when whatever that instance could not take could
 * still go to a function then), else a function. A full batch (B or more queued) leaves at once,
 * to a free instance or a function. A free instance that can no longer take the whole queue in
 * time takes, now, the longest prefix that it can (out->n < queued). Otherwise the whole queue
 * leaves when now has reached its latest dispatch time on its path; until then the caller is told
 * when to look again (the latest time, or next_free_s when it waits for an instance). */
void sf_batcher_decide(const struct sf_batcher_cfg *c, double now_s, int queued,
                       double oldest_arrival_s, int free_instances, double next_free_s,
                       struct sf_batch_decision *out);

/* Before enqueuing a request arriving at now_s: when one more request would push the open batch
 * of `queued` (oldest at oldest_arrival_s) past the oldest's deadline on the path it would take,
 * fills out with the dispatch of the whole open batch on that path and returns 1 (the newcomer then
 * starts the next batch); else returns 0 and out->path = SF_BATCH_NONE. */
int sf_batcher_admit(const struct sf_batcher_cfg *c, double now_s, int queued,
                     double oldest_arrival_s, int free_instances, double next_free_s,
                     struct sf_batch_decision *out);

/* ---- the loop that drives the batcher (dq.c) ---- */

/* What serves a queue and where its requests live, for sf_dq. Requests are numbered by the caller
 * (g: the simulator's global request index, the server's admission sequence), in arrival order. */
struct sf_dq_ops {
    int (*free)(void *ctx, double t);         /* instances that may take a batch at t */
    double (*next_free)(void *ctx, double t); /* when the next busy one is free (INFINITY) */
    /* sends requests g, g + 1, ... where d says, at now; returns how many it took (<= d->n) */
    int64_t (*dispatch)(void *ctx, const struct sf_batch_decision *d, int64_t g, double now);
    double (*arrival_s)(void *ctx, int64_t g); /* the arrival time of request g (queued) */
    /* optional: when a busy instance really becomes free (INFINITY: none), where that differs
     * from what next_free promises the batcher; the loop looks again then. NULL: next_free. The
     * server needs none: a batch's answer wakes its loop. */
    double (*next_change)(void *ctx, double t);
};

/* One queue and its clock. Caller-owned; no allocation. */
struct sf_dq {
    const struct sf_batcher_cfg *cfg;
    const struct sf_dq_ops *ops;
    void *ctx;
    int64_t next_g; /* the queue's head */
    int q_n;        /* requests queued */
    double cur_s;   /* the queue's clock */
    int saturated;  /* the batcher was asked with a queue and no free instance */
    /* when the next dispatch can happen if nothing changes (valid while event_known) */
    double next_event_s;
    int event_known;
};

/* An empty queue whose first request will be first_g. */
void sf_dq_init(struct sf_dq *q, const struct sf_batcher_cfg *cfg, const struct sf_dq_ops *ops,
                void *ctx, int64_t first_g);
/* Every dispatch the batcher makes strictly before t (at deadlines, or when an instance frees),
 * each at its own time; the clock then moves to t (when finite). */
void sf_dq_advance(struct sf_dq *q, double t);
/* Request g (the next in arrival order) arrives at its arrival time: what is due before it
 * leaves, the open batch leaves first when the newcomer would push its oldest past the deadline
 * (sf_batcher_admit), then it joins and whatever is due at once leaves. */
void sf_dq_arrive(struct sf_dq *q, int64_t g);
/* Dispatches what the batcher says must leave at now (after the caller changed what serves the
 * queue: an instance became free or ready). */
void sf_dq_settle(struct sf_dq *q, double now);

#endif
