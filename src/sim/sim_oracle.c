/*
 * sim_oracle.c - the clairvoyant oracle and the best static fleet (SERFLOW.md section 6).
 *
 * During the policies' pass, each epoch's function cost is recorded for every count of free
 * instances (on the same exit draws). The oracle is then an exact dynamic program over
 * (scaling decision, instance count) with decisions at epoch 1 and every P epochs, the same
 * cold-start draws, balancer and VM billing, and warm-function prices (so its value is a lower
 * bound); the static fleet is the best count launched at epoch 1 and kept. Their schedules are
 * replayed afterwards like any policy (sim.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

static double warm_fn_cost(struct sf__shared *sh, const struct sf__pathrt *rt, double run)
{
    return sf__billed_s(run, sh->price->fn_billing_granularity_s) * rt->fn_usd_per_s +
           sh->price->fn_request_fee_usd;
}

/* Warm cost of the survivors' tail of batch a..b-1 on the path's k parallel calls. */
static double warm_tail_cost(struct sf__shared *sh, const struct sf__pathrt *rt, int a, int b,
                             const int *alive)
{
    int N = rt->n, cut = rt->path.cut, k = rt->path.tail_fanout;
    if (alive[cut] <= 0)
        return 0;
    if (k <= 1)
        return warm_fn_cost(sh, rt, sf__run_s(rt->fn_rq, rt->fn_rb, alive, cut, N));
    int chunk_alive[SF_MAX_FANOUT_CHUNKS][SF_MAX_STAGES];
    int n_chunks = sf__tail_chunks(sh->exits, a, b, N, cut, k, alive[cut], chunk_alive);
    double c = 0;
    for (int j = 0; j < n_chunks; j++)
        c += warm_fn_cost(sh, rt, sf__run_s(rt->fn_rq, rt->fn_rb, chunk_alive[j], cut, N));
    return c;
}

void sf__oracle_fill(struct sf__shared *sh, const struct sf__pathrt *rt,
                     struct sf__oracle_table *tb, int64_t e, int n)
{
    int B = sh->o->ctl.batch_size, N = rt->n, cut = rt->path.cut;
    int nb = (n + B - 1) / B, full = n / B;
    double *row = tb->cost + (size_t)(e - 1) * (size_t)(tb->nmax + 1);
    double fsum = 0, f[SF_CTL_MAX_INSTANCES + 1], tl[SF_CTL_MAX_INSTANCES + 1];
    int alive[SF_MAX_STAGES];
    int kmax = nb < tb->nmax ? nb : tb->nmax;
    for (int k = 0; k < nb; k++) {
        int a = k * B, b = a + B < n ? a + B : n;
        sf__stage_counts(sh->exits, a, b, N, alive);
        double fk = warm_fn_cost(sh, rt, sf__run_s(rt->fn_rq, rt->fn_rb, alive, 0, N));
        fsum += fk;
        if (k <= kmax) {
            f[k] = fk;
            tl[k] = cut < N ? warm_tail_cost(sh, rt, a, b, alive) : 0;
        }
    }
    double c = fsum;
    row[0] = c;
    for (int m = 1; m <= tb->nmax; m++) {
        int k = m - 1; /* the m-th instance takes batch k */
        if (k < nb && (k < full || sh->o->ctl.partial_to_instance))
            c += tl[k] - f[k];
        row[m] = c;
    }
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

int sf__run_oracle(struct sf__shared *sh, const struct sf__pathrt *rt,
                   const struct sf__oracle_table *tb, int32_t *sched_oracle, int32_t *sched_static,
                   double *bound_oracle, double *bound_static, int *static_n, struct sf_err *err)
{
    const struct sf_ctl_params *p = &sh->o->ctl;
    int64_t E = sh->trace->n_epochs;
    int P = p->scale_period_epochs, M = tb->nmax;
    if (p->cold_start_max_epochs >= P || p->terminate_delay_epochs >= P)
        return sf_err_set(err, SF_EINVAL,
                          "oracle: needs cold start (max %d) and termination delay (%d) shorter "
                          "than the scaling period (%d epochs)",
                          p->cold_start_max_epochs, p->terminate_delay_epochs, P);
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
    J = nd;
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
    *bound_oracle = V[best];
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
