/*
 * sim_oracle.c - the clairvoyant oracle and the best static fleet (SERFLOW.md section 6).
 *
 * During the policies' pass, each epoch's function cost is recorded for every count of free
 * instances (on the same exit draws). The clairvoyant schedule is the best of the schedules two
 * dynamic programs over that table find, and of the static fleet, each replayed like any policy
 * (sim.c): one decides at epoch 1 and every P epochs with the same cold-start draws, balancer
 * and VM billing and warm-function prices; the other decides every epoch, launching a cold start
 * (the longest) ahead of need. The static fleet is the best count launched at epoch 1 and kept.
 * Their estimates are not bounds (sim_bound.c computes the bound).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

static double warm_fn_cost(struct sf__shared *sh, const struct sf_binding *rt, double run)
{
    return sf_bill_fn_s(sh->price, run) * rt->fn_usd_per_s + sh->price->fn_request_fee_usd;
}

/* Warm cost of the survivors' tail of batch a..b-1 on the path's k parallel calls. */
static double warm_tail_cost(struct sf__shared *sh, const struct sf_binding *rt, int a, int b,
                             const int *alive)
{
    int N = rt->n_stages, cut = rt->path.cut, k = rt->path.tail_fanout;
    if (alive[cut] <= 0)
        return 0;
    if (k <= 1)
        return warm_fn_cost(sh, rt, sf__run_s(rt->fn_rq_s, rt->fn_rb_s, alive, cut, N));
    int chunk_alive[SF_MAX_FANOUT_CHUNKS][SF_MAX_STAGES];
    int n_chunks = sf__tail_chunks(sh->exits, a, b, N, cut, k, alive[cut], chunk_alive);
    double c = 0;
    for (int j = 0; j < n_chunks; j++)
        c += warm_fn_cost(sh, rt, sf__run_s(rt->fn_rq_s, rt->fn_rb_s, chunk_alive[j], cut, N));
    return c;
}

/* ---- deadline batching: lanes ---- */

static int lane_free(void *ctx, double t)
{
    const struct sf__lane *l = ctx;
    int n = 0;
    for (int i = 0; i < l->m; i++)
        n += l->busy[i] <= t;
    return n;
}

static double lane_next_free(void *ctx, double t)
{
    const struct sf__lane *l = ctx;
    double best = INFINITY;
    for (int i = 0; i < l->m; i++)
        if (l->busy[i] > t && l->busy[i] < best)
            best = l->busy[i];
    return best;
}

/* A batch on the lane's first free instance (busy for the head, the tail priced warm) or on warm
 * functions. */
static int64_t lane_dispatch(void *ctx, const struct sf_batch_decision *d, int64_t g, double now)
{
    struct sf__lane *l = ctx;
    struct sf__shared *sh = l->sh;
    const struct sf_binding *rt = l->rt;
    int B = sh->o->ctl.batch_size, N = rt->n_stages, cut = rt->path.cut, alive[SF_MAX_STAGES];
    int nf =
        rt->path.fn_invoke_size > 0 && rt->path.fn_invoke_size < B ? rt->path.fn_invoke_size : B;
    int a = (int)(g - sh->base), b = a + d->n;
    if (d->path == SF_BATCH_INSTANCE) {
        int i = 0;
        while (i < l->m && l->busy[i] > now)
            i++;
        sf__stage_counts(sh->exits, a, b, N, alive);
        l->busy[i] = now + sf__run_s(rt->vm_rq_s, rt->vm_rb_s, alive, 0, cut);
        if (cut < N)
            l->cost += warm_tail_cost(sh, rt, a, b, alive);
        return d->n;
    }
    for (int s0 = a; s0 < b; s0 += nf) {
        int s1 = s0 + nf < b ? s0 + nf : b;
        sf__stage_counts(sh->exits, s0, s1, N, alive);
        l->cost += warm_fn_cost(sh, rt, sf__run_s(rt->fn_rq_s, rt->fn_rb_s, alive, 0, N));
    }
    return d->n;
}

static double lane_arrival_s(void *ctx, int64_t g)
{
    const struct sf__shared *sh = ((const struct sf__lane *)ctx)->sh;
    return sh->arrival[g - sh->base];
}

static const struct sf_dq_ops lane_ops = {.free = lane_free,
                                          .next_free = lane_next_free,
                                          .dispatch = lane_dispatch,
                                          .arrival_s = lane_arrival_s};

/* Copies lane src into dst (its m instances' busy times, queue and cost). */
static void lane_copy(struct sf__lane *dst, const struct sf__lane *src)
{
    dst->dq = src->dq;
    dst->dq.ctx = dst;
    dst->sh = src->sh;
    dst->rt = src->rt;
    dst->m = src->m;
    dst->cost = src->cost;
    dst->resume_g = src->resume_g;
    memcpy(dst->busy, src->busy, sizeof(double) * (size_t)src->m);
}

/* The next lane: the top lane as it was just before the step that first found all of its
 * instances busy with a batch waiting (snap), with one more instance, free. Until that step the
 * two lanes would have done exactly the same. */
static void lane_spawn(struct sf__oracle_table *tb, const struct sf__lane *snap)
{
    struct sf__lane *l = &tb->lanes[++tb->top];
    lane_copy(l, snap);
    l->busy[l->m++] = -INFINITY;
}

/* Deadline batching, epoch-local: for every count m, m instances ready from the epoch's start,
 * an empty queue at its start and drained at its end, functions priced warm. Lane m + 1 exists
 * only once lane m has found all of its instances busy with a batch waiting. */
static void oracle_fill_deadline(struct sf__shared *sh, const struct sf_binding *rt,
                                 struct sf__oracle_table *tb, int64_t e, int64_t first_g,
                                 int64_t end_g, int64_t avail_g)
{
    struct sf__lane *snap = &tb->lanes[tb->nmax + 1];
    if (tb->epoch_first_g != first_g) {
        struct sf__lane *l = &tb->lanes[0];
        l->sh = sh;
        l->rt = rt;
        l->m = 0;
        l->cost = 0;
        l->resume_g = first_g;
        l->dq = (struct sf_dq){.cfg = tb->cfg,
                               .ops = &lane_ops,
                               .ctx = l,
                               .next_g = first_g,
                               .cur_s = (double)(e - 1) * sh->o->ctl.epoch_s};
        tb->top = 0;
        tb->epoch_first_g = first_g;
    }
    for (int L = 0; L <= tb->top; L++) {
        struct sf__lane *l = &tb->lanes[L];
        for (int64_t g = l->resume_g; g < avail_g; g++) {
            int may_spawn = L == tb->top && tb->top < tb->nmax;
            if (may_spawn)
                lane_copy(snap, l);
            l->dq.saturated = 0;
            sf_dq_arrive(&l->dq, g);
            if (may_spawn && l->dq.saturated) {
                snap->resume_g = g;
                lane_spawn(tb, snap);
            }
        }
        l->resume_g = avail_g;
    }
    if (avail_g < end_g)
        return;
    for (int L = 0; L <= tb->top; L++) { /* drain, still spawning */
        struct sf__lane *l = &tb->lanes[L];
        int may_spawn = L == tb->top && tb->top < tb->nmax;
        if (may_spawn)
            lane_copy(snap, l);
        l->dq.saturated = 0;
        sf_dq_advance(&l->dq, INFINITY);
        if (may_spawn && l->dq.saturated)
            lane_spawn(tb, snap);
    }
    double *row = tb->cost + (size_t)(e - 1) * (size_t)(tb->nmax + 1);
    for (int m = 0; m <= tb->nmax; m++)
        row[m] = tb->lanes[m < tb->top ? m : tb->top].cost;
    tb->epoch_first_g = -1;
}

void sf__oracle_fill(struct sf__shared *sh, const struct sf_binding *rt,
                     struct sf__oracle_table *tb, int64_t e, int64_t first_g, int64_t end_g,
                     int64_t avail_g)
{
    if (tb->lanes) {
        oracle_fill_deadline(sh, rt, tb, e, first_g, end_g, avail_g);
        return;
    }
    int B = sh->o->ctl.batch_size, N = rt->n_stages, cut = rt->path.cut;
    int nf =
        rt->path.fn_invoke_size > 0 && rt->path.fn_invoke_size < B ? rt->path.fn_invoke_size : B;
    int64_t n = end_g - first_g;
    int nb = (int)((n + B - 1) / B), full = (int)(n / B);
    int kmax = nb < tb->nmax ? nb : tb->nmax;
    int alive[SF_MAX_STAGES];
    if (tb->next_g < first_g)
        tb->next_g = first_g;
    while (tb->next_g < end_g) {
        int64_t ga = tb->next_g, gb = ga + B < end_g ? ga + B : end_g;
        if (gb > avail_g)
            break; /* the rest of this batch is in the next chunk */
        int a = (int)(ga - sh->base), b = (int)(gb - sh->base);
        double fk = 0;
        for (int s = a; s < b; s += nf) { /* the batch's FaaS invocations */
            int t = s + nf < b ? s + nf : b;
            sf__stage_counts(sh->exits, s, t, N, alive);
            fk += warm_fn_cost(sh, rt, sf__run_s(rt->fn_rq_s, rt->fn_rb_s, alive, 0, N));
        }
        if (nf < B)
            sf__stage_counts(sh->exits, a, b, N, alive); /* the whole batch, for the tail */
        tb->fsum += fk;
        int k = tb->nb++;
        if (k <= kmax) {
            tb->f[k] = fk;
            tb->tl[k] = cut < N ? warm_tail_cost(sh, rt, a, b, alive) : 0;
        }
        tb->next_g = gb;
    }
    if (avail_g < end_g)
        return;
    double *row = tb->cost + (size_t)(e - 1) * (size_t)(tb->nmax + 1);
    double c = tb->fsum;
    row[0] = c;
    for (int m = 1; m <= tb->nmax; m++) {
        int k = m - 1; /* the m-th instance takes batch k */
        if (k < nb && (k < full || sh->o->ctl.partial_to_instance))
            c += tb->tl[k] - tb->f[k];
        row[m] = c;
    }
    tb->nb = 0;
    tb->fsum = 0;
}

/* Ready instances at epoch e of a period that began at d with n_prev and moved to n. */
static int ready_at(const struct sf_ctl_params *p, uint64_t seed, int64_t d, int n_prev, int n,
                    int64_t e)
{
    if (n >= n_prev) {
        int r = n_prev;
        for (int k = 0; k < n - n_prev; k++)
            r += d + sf_cold_start_epochs(p, seed, d, k) <= e;
        return r;
    }
    return e < d + p->terminate_delay_epochs ? n_prev : n;
}

int sf__run_oracle_epochwise(struct sf__shared *sh, const struct sf_binding *rt,
                             const struct sf__oracle_table *tb, int32_t *sched, double *estimate,
                             struct sf_err *err)
{
    const struct sf_ctl_params *p = &sh->o->ctl;
    int64_t E = sh->trace->n_epochs;
    int M = tb->nmax, cmax = p->cold_start_max_epochs, d = p->terminate_delay_epochs;
    /* serving epoch u (1-based) needs a launch at decision u - cmax (epoch batching: decisions
     * come before the epoch's routing) or u - 1 - cmax (deadline batching: a decision at the end
     * of epoch t acts from epoch t + 1) */
    int off = sh->o->batching == SF_BATCHING_DEADLINE ? 1 : 0;
    double T = p->epoch_s, price = rt->vm_usd_per_s;
    double launch = price * T * cmax, term = price * T * d;
    double *V = calloc((size_t)(M + 1) * 3, sizeof(double));
    int16_t *from = malloc(sizeof(int16_t) * (size_t)E * (size_t)(M + 1)); /* M <= 256 */
    int32_t *wfrom = malloc(sizeof(int32_t) * (size_t)(M + 1));
    int32_t *serve = malloc(sizeof(int32_t) * (size_t)(E + 2));
    if (!V || !from || !wfrom || !serve) {
        free(V), free(from), free(wfrom), free(serve);
        return sf_err_set(err, SF_ENOMEM, "oracle: out of memory");
    }
    double *Vn = V + M + 1, *W = Vn + M + 1;
    for (int m = 0; m <= 2 * M + 2; m++)
        V[m] = m ? INFINITY : 0;
    for (int64_t u = 1; u <= E; u++) {
        /* W[m] = min over m' of V[m'] + launch (m - m')+ + term (m' - m)+ */
        double best = INFINITY;
        int32_t bi = 0;
        for (int m = 0; m <= M; m++) { /* from below */
            double c = V[m] - launch * m;
            if (c < best) {
                best = c;
                bi = m;
            }
            W[m] = best + launch * m;
            wfrom[m] = bi;
        }
        best = INFINITY;
        bi = M;
        for (int m = M; m >= 0; m--) { /* from above */
            double c = V[m] + term * m;
            if (c < best) {
                best = c;
                bi = m;
            }
            if (best - term * m < W[m]) {
                W[m] = best - term * m;
                wfrom[m] = bi;
            }
        }
        int top = u >= 1 + off + cmax ? M : 0;
        for (int m = 0; m <= M; m++) {
            from[(size_t)(u - 1) * (size_t)(M + 1) + (size_t)m] = (int16_t)wfrom[m];
            Vn[m] = m > top ? INFINITY
                            : W[m] + price * T * m +
                                  tb->cost[(size_t)(u - 1) * (size_t)(M + 1) + (size_t)m];
        }
        memcpy(V, Vn, sizeof(double) * (size_t)(M + 1));
    }
    int m = 0;
    for (int k = 1; k <= M; k++)
        if (V[k] < V[m])
            m = k;
    *estimate = V[m];
    /* serving counts per epoch, then targets: at decision t, what any epoch it can still reach
     * with a launch needs (so that a dip shorter than a cold start keeps its instances) */
    for (int64_t u = E; u >= 1; u--) {
        serve[u] = m;
        m = from[(size_t)(u - 1) * (size_t)(M + 1) + (size_t)m];
    }
    for (int64_t t = 0; t <= E; t++) {
        int32_t want = 0;
        for (int64_t u = t + off; u <= t + off + cmax && u <= E; u++)
            if (u >= 1 && serve[u] > want)
                want = serve[u];
        sched[t] = want;
    }
    sched[0] = -1;
    free(V), free(from), free(wfrom), free(serve);
    return SF_OK;
}

int sf__run_oracle(struct sf__shared *sh, const struct sf_binding *rt,
                   const struct sf__oracle_table *tb, int32_t *sched_oracle, int32_t *sched_static,
                   double *bound_oracle, double *bound_static, int *static_n, struct sf_err *err)
{
    const struct sf_ctl_params *p = &sh->o->ctl;
    int64_t E = sh->trace->n_epochs;
    int P = p->scale_period_epochs, M = tb->nmax;
    int periodic = p->cold_start_max_epochs < P && p->terminate_delay_epochs < P;
    double T = p->epoch_s, price = rt->vm_usd_per_s, min_s = sh->price->vm_billing_minimum_s;
    /* decision epochs: 1, P, 2P, ... */
    int64_t J = 1 + E / P;
    if (P == 1)
        J = E;
    int64_t *d = malloc(sizeof(int64_t) * (size_t)(J + 1));
    double *V = malloc(sizeof(double) * (size_t)(M + 1)),
           *V2 = malloc(sizeof(double) * (size_t)(M + 1));
    int32_t *arg = malloc(sizeof(int32_t) * (size_t)J * (size_t)(M + 1));
    if (!d || !V || !V2 || !arg) {
        free(d), free(V), free(V2), free(arg);
        return sf_err_set(err, SF_ENOMEM, "oracle: out of memory");
    }
    int64_t nd = 0;
    d[nd++] = 1;
    for (int64_t k = P; k <= E; k += P)
        if (k > 1)
            d[nd++] = k;
    J = periodic ? nd : 0; /* its model needs launches ready and ends done within a period */
    d[J] = E + 1;
    for (int n = 0; n <= M; n++)
        V[n] = n == 0 ? 0 : INFINITY;
    for (int64_t j = 0; j < J; j++) {
        int64_t len = d[j + 1] - d[j];
        for (int n = 0; n <= M; n++) {
            V2[n] = INFINITY;
            arg[j * (M + 1) + n] = 0;
            for (int np = 0; np <= M; np++) {
                if (!isfinite(V[np]))
                    continue;
                double kept = n < np ? n : np;
                double launched = n > np ? n - np : 0, term = np > n ? np - n : 0;
                double launch_s = len * T;
                if (j == J - 1 && launch_s < min_s)
                    launch_s = min_s;
                double term_len = len < p->terminate_delay_epochs ? len : p->terminate_delay_epochs;
                double c = price * (kept * len * T + launched * launch_s + term * term_len * T);
                for (int64_t e = d[j]; e < d[j + 1] && c < V2[n] - V[np]; e++) {
                    int rd = ready_at(p, sh->o->seed, d[j], np, n, e);
                    c += tb->cost[(size_t)(e - 1) * (size_t)(M + 1) + (size_t)(rd < M ? rd : M)];
                }
                if (V[np] + c < V2[n]) {
                    V2[n] = V[np] + c;
                    arg[j * (M + 1) + n] = np;
                }
            }
        }
        memcpy(V, V2, sizeof(double) * (size_t)(M + 1));
    }
    int best = 0;
    for (int n = 1; n <= M; n++)
        if (V[n] < V[best])
            best = n;
    *bound_oracle = periodic ? V[best] : NAN;
    for (int64_t e = 0; e <= E; e++)
        sched_oracle[e] = -1;
    for (int64_t j = J - 1; j >= 0; j--) {
        sched_oracle[d[j]] = best;
        best = arg[j * (M + 1) + best];
    }
    /* static: n instances launched at epoch 1 and kept */
    *bound_static = INFINITY;
    for (int n = 0; n <= M; n++) {
        double c = price * n * (double)E * T;
        if (n > 0 && E * T < min_s)
            c = price * n * min_s;
        for (int64_t e = 1; e <= E; e++) {
            int rd = ready_at(p, sh->o->seed, 1, 0, n, e);
            c += tb->cost[(size_t)(e - 1) * (size_t)(M + 1) + (size_t)rd];
        }
        if (c < *bound_static) {
            *bound_static = c;
            *static_n = n;
        }
    }
    for (int64_t e = 0; e <= E; e++)
        sched_static[e] = -1;
    sched_static[1] = *static_n;
    free(d), free(V), free(V2), free(arg);
    return SF_OK;
}
