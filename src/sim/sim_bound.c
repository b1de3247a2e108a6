/*
 * sim_bound.c - a true lower bound on what any policy can pay for a trace (docs/controller.md,
 * "The lower bound"): no schedule of instances on any of the given paths, online or clairvoyant,
 * with the simulator's mechanics, costs less.
 *
 * The bound is the value of a relaxed problem solved exactly by dynamic programming, one program
 * per VM type (the best of them, and of functions alone, is the bound):
 *
 *   cost >= sum over requests of their cost on the cheapest function memory (stages they reach)
 *         - the function work instances take off them (below)
 *         + p (serving instance-epochs x T + launches x the shortest cold start)
 *
 * Deadline batching: an instance works on a request between its arrival a and a + SLO (the
 * batcher dispatches by the oldest request's deadline on the worst-case table, so the head ends
 * by then). Relaxed to a fluid: m serving instances give m seconds of VM time per second, which
 * any request may use within its window (at the resolution of SF_BOUND_SLOTS slots per epoch)
 * for up to its own head work; each VM second saves at most kappa = max over stages of (function
 * cost / VM time) of that stage. For a given instance schedule the fluid's best use is
 * earliest-deadline-first, and what an epoch leaves over is the latest part of its arrivals;
 * the program's state is (instances, that carry rounded up to 1/SF_BOUND_CARRY_STEPS of the
 * epoch's work). Epoch batching: an epoch's requests are routed at its end, the instances' share
 * first (sf_lb_route: a prefix in arrival order) and each serving instance takes at most one
 * batch of B, so at best the first m batches of B go to m instances.
 *
 * Relaxations (each only lowers the bound): function cold starts, the 1 ms rounding, per-call
 * time and (deadline batching) the request fee dropped; a launch costs the shortest cold start
 * and the VM minimum only through it; instance counts may change every epoch; batch sizes and the
 * batcher's worst-case admission ignored; every path on one VM type shares its instances.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

/* The bound's time resolution and carry rounding (docs/controller.md). */
#define SF_BOUND_SLOTS       12
#define SF_BOUND_CARRY_STEPS 32

void sf__bound_fini(struct sf__bound *b)
{
    free(b->work);
    free(b->block_usd);
    free(b->dp);
    free(b->slot_hist);
    memset(b, 0, sizeof(*b));
}

/* Every VM type as one that is at least as good as each: the cheapest price, and per exit stage
 * the least VM work, the most savings and the largest kappa (a looser relaxation, for traces too
 * large to keep each type's slots). */
static void merge_types(struct sf__bound *b)
{
    if (b->n_vm <= 1)
        return;
    struct sf__bound_vm m = b->vm[0];
    for (int v = 1; v < b->n_vm; v++) {
        const struct sf__bound_vm *t = &b->vm[v];
        m.usd_per_s = fmin(m.usd_per_s, t->usd_per_s);
        m.kappa = fmax(m.kappa, t->kappa);
        m.maxcut = m.maxcut > t->maxcut ? m.maxcut : t->maxcut;
        for (int i = 0; i < SF_MAX_STAGES; i++) {
            m.work_s[i] = fmin(m.work_s[i], t->work_s[i]);
            m.save_usd[i] = fmax(m.save_usd[i], t->save_usd[i]);
            m.free_usd[i] = fmax(m.free_usd[i], t->free_usd[i]);
        }
    }
    m.vm = -1;
    b->vm[0] = m;
    b->n_vm = 1;
}

int sf__bound_init(struct sf__bound *b, const struct sf__shared *sh,
                   const struct sf_binding *const *paths, size_t n, struct sf_err *err)
{
    memset(b, 0, sizeof(*b));
    const struct sf_sim_opts *o = sh->o;
    int N = sh->prof->n_stages;
    b->deadline = o->batching == SF_BATCHING_DEADLINE;
    b->E = sh->trace->n_epochs;
    b->K = b->deadline ? SF_BOUND_SLOTS : 1;
    b->N = N;
    b->T = o->ctl.epoch_s;
    b->B = o->ctl.batch_size;
    b->nf = 1;
    b->cmin = o->ctl.cold_start_min_epochs;
    b->fee = sh->price->fn_request_fee_usd;
    b->row = -1;
    for (int i = 0; i < N; i++)
        b->fn_stage_usd[i] = INFINITY;
    for (size_t k = 0; k < n; k++) {
        const struct sf_binding *p = paths[k];
        int nf = p->path.fn_invoke_size > 0 && p->path.fn_invoke_size < b->B
                     ? p->path.fn_invoke_size
                     : b->B;
        b->nf = nf > b->nf ? nf : b->nf;
        for (int i = 0; i < N; i++) {
            double c = p->fn_usd_per_s * p->fn_rq_s[i];
            if (c < b->fn_stage_usd[i])
                b->fn_stage_usd[i] = c;
        }
        if (!p->path.has_instances)
            continue;
        int v = 0;
        while (v < b->n_vm && b->vm[v].vm != p->path.vm)
            v++;
        if (v == b->n_vm) {
            if (b->n_vm >= SF_MAX_VM_TYPES)
                continue; /* not reached: a catalog has at most this many types */
            b->vm[v] = (struct sf__bound_vm){.vm = p->path.vm, .usd_per_s = p->vm_usd_per_s};
            memcpy(b->vm[v].rq_s, p->vm_rq_s, sizeof(b->vm[v].rq_s));
            b->n_vm++;
        }
        if (p->path.cut > b->vm[v].maxcut)
            b->vm[v].maxcut = p->path.cut;
    }
    for (int i = 0; i < N; i++)
        if (!isfinite(b->fn_stage_usd[i]))
            b->fn_stage_usd[i] = 0;
    /* per VM type: kappa, each exit stage's VM work and savings; stages that take no VM time
     * save without using any: their savings are granted to every request (a looser bound) */
    for (int v = 0; v < b->n_vm; v++) {
        struct sf__bound_vm *t = &b->vm[v];
        double work = 0, save = 0, free_save = 0;
        for (int i = 0; i < N; i++) {
            if (i < t->maxcut) {
                if (t->rq_s[i] > 0) {
                    double k = b->fn_stage_usd[i] / t->rq_s[i];
                    t->kappa = k > t->kappa ? k : t->kappa;
                    work += t->rq_s[i];
                    save += b->fn_stage_usd[i];
                } else {
                    free_save += b->fn_stage_usd[i];
                }
            }
            t->work_s[i] = work;
            t->save_usd[i] = save;
            t->free_usd[i] = free_save;
        }
    }
    size_t E = (size_t)b->E, rows = 0;
    b->count = sh->trace->count;
    uint32_t most = 0;
    for (size_t e = 0; e < E; e++) {
        rows += b->count[e] > 0;
        most = b->count[e] > most ? b->count[e] : most;
    }
    if (b->deadline) {
        /* the slots of every epoch with requests, per VM type; coarser when that would be too
         * many, then every type as one (both still relaxations, only looser) */
        while (b->K > 1 && (double)rows * b->K * b->n_vm > SF_BOUND_MAX_CELLS)
            b->K /= 2;
        if ((double)rows * b->K * b->n_vm > SF_BOUND_MAX_CELLS)
            merge_types(b);
        size_t V = (size_t)(b->n_vm ? b->n_vm : 1);
        b->work = calloc(rows * (size_t)b->K * V + 1, sizeof(double));
    } else {
        /* epoch batching: the program runs along the pass (sf__bound_epoch_end), on the savings
         * of the epoch's first blocks of B in arrival order; more than one block per instance
         * the trace can use never matters */
        uint32_t mcap = (most + (uint32_t)b->B - 1) / (uint32_t)b->B;
        b->M = mcap < SF_CTL_MAX_INSTANCES ? (int)mcap : SF_CTL_MAX_INSTANCES;
        size_t V = (size_t)(b->n_vm ? b->n_vm : 1), M1 = (size_t)b->M + 1;
        b->block_usd = calloc(M1 * V, sizeof(double));
        b->dp = malloc(sizeof(double) * M1 * (V + 2));
        for (size_t i = 0; b->dp && i < M1 * V; i++)
            b->dp[i] = i % M1 ? INFINITY : 0;
    }
    b->rows = (int64_t)rows;
    b->slot_hist = calloc((size_t)b->K * (size_t)N, sizeof(uint32_t));
    if ((b->deadline ? !b->work : !b->block_usd || !b->dp) || !b->slot_hist) {
        sf__bound_fini(b);
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory for the lower bound");
    }
    return SF_OK;
}

void sf__bound_take(struct sf__bound *b, const struct sf__shared *sh, int64_t e, int64_t first_g,
                    int64_t from_g, int64_t to_g)
{
    double t0 = (double)(e - 1) * b->T, per = b->K / b->T;
    size_t M1 = (size_t)b->M + 1;
    for (int64_t g = from_g; g < to_g; g++) {
        int x = sh->exits[g - sh->base], k = 0;
        int64_t blk = (g - first_g) / b->B;
        if (!b->deadline && blk < b->M)
            for (int v = 0; v < b->n_vm; v++)
                b->block_usd[(size_t)v * M1 + (size_t)blk] += b->vm[v].save_usd[x];
        if (b->K > 1) {
            double s = (sh->arrival[g - sh->base] - t0) * per;
            k = s <= 0 ? 0 : s >= b->K - 1 ? b->K - 1 : (int)s;
        }
        b->slot_hist[(size_t)k * (size_t)b->N + (size_t)x]++;
    }
}

static void epoch_step(struct sf__bound *b, int64_t e0, uint32_t n);

void sf__bound_epoch_end(struct sf__bound *b, int64_t e)
{
    int N = b->N;
    double cum[SF_MAX_STAGES], acc = 0;
    for (int i = 0; i < N; i++)
        cum[i] = acc += b->fn_stage_usd[i];
    if (b->count[e - 1] == 0) {
        b->empty += e - 1 >= b->cmin; /* before it, no instance can serve: nothing changes */
        return;
    }
    size_t K = (size_t)b->K, row = b->deadline ? (size_t)++b->row : 0, rows = (size_t)b->rows;
    double fn = 0;
    for (size_t k = 0; k < K; k++) {
        const uint32_t *h = b->slot_hist + k * (size_t)N;
        for (int x = 0; x < N; x++) {
            if (!h[x])
                continue;
            fn += h[x] * cum[x];
            for (int v = 0; v < b->n_vm; v++) {
                const struct sf__bound_vm *t = &b->vm[v];
                if (b->deadline)
                    b->work[((size_t)v * rows + row) * K + k] += h[x] * t->work_s[x];
                b->vm[v].free_total_usd += h[x] * t->free_usd[x];
            }
        }
    }
    b->fn_total_usd += fn;
    memset(b->slot_hist, 0, sizeof(uint32_t) * K * (size_t)N);
    if (!b->deadline)
        epoch_step(b, e - 1, b->count[e - 1]);
}

/* ---- deadline batching: the fluid, earliest deadline first ---- */

/* One epoch's slots with `cap` VM-seconds per slot: first the carry (the last `carry` of the
 * previous epoch's work prev[], its slot j due by the end of slot j here), then this epoch's
 * arrivals cur[] in order (due in the next epoch). Returns the work done; *left is what is left
 * of cur (a suffix of it). */
static double edf_epoch(const double *prev, double carry, const double *cur, int K, double cap,
                        double *left)
{
    double cr[SF_BOUND_SLOTS], q[SF_BOUND_SLOTS], done = 0;
    for (int j = K - 1; j >= 0; j--) {
        double t = prev[j] < carry ? prev[j] : carry;
        cr[j] = t;
        carry -= t;
    }
    if (carry > 0)
        cr[0] += carry; /* rounding: never more than the epoch's work, but keep it anyway */
    int jc = 0, qh = 0;
    for (int t = 0; t < K; t++) {
        double c = cap;
        q[t] = cur[t];
        if (jc < t)
            jc = t; /* carry of earlier slots is past its deadline */
        while (c > 0 && jc < K) {
            double x = cr[jc] < c ? cr[jc] : c;
            cr[jc] -= x;
            c -= x;
            done += x;
            if (cr[jc] <= 0)
                jc++;
        }
        while (c > 0 && qh <= t) {
            double x = q[qh] < c ? q[qh] : c;
            q[qh] -= x;
            c -= x;
            done += x;
            if (q[qh] <= 0)
                qh++;
        }
    }
    double l = 0;
    for (int t = qh; t < K; t++)
        l += q[t];
    *left = l;
    return done;
}

/* The carry levels, as fractions of an epoch's work: (g / G)^2, finer near zero where the
 * programs spend most of their time; a carry is rounded up to the next level. */
static double carry_level(int g)
{
    double f = (double)g / SF_BOUND_CARRY_STEPS;
    return f * f;
}

static int carry_step(double frac)
{
    double s = ceil(sqrt(frac) * SF_BOUND_CARRY_STEPS - 1e-9);
    int g = s < 1 ? 1 : s > SF_BOUND_CARRY_STEPS ? SF_BOUND_CARRY_STEPS : (int)s;
    while (g < SF_BOUND_CARRY_STEPS && carry_level(g) < frac)
        g++; /* never below the carry */
    return g;
}

/* The launch step of the program: W[m] = min over m' of V[m'] + launch (m - m')+. */
static void launch_step(const double *V, int M, double launch, double *W)
{
    double best_below = INFINITY; /* min over m' < m of V[m'] - launch m' */
    double suffix = INFINITY;
    for (int m = M; m >= 0; m--) {
        suffix = V[m] < suffix ? V[m] : suffix;
        W[m] = suffix;
    }
    for (int m = 0; m <= M; m++) {
        double via = best_below + launch * m;
        if (via < W[m])
            W[m] = via;
        double c = V[m] - launch * m;
        if (c < best_below)
            best_below = c;
    }
}

/* R epochs without requests (and no carry), over the states V[0..M] (V[m] for m above top is
 * infinite and stays so): an instance present at the end was either kept through the run or
 * launched for its last epoch, whichever is cheaper; the others are dropped at once. U is
 * scratch of M + 1. */
static void empty_run(double *V, int M, int64_t R, double launch, double epoch_usd, double *U)
{
    if (R <= 0)
        return;
    double suffix = INFINITY;
    for (int m = M; m >= 0; m--) {
        suffix = V[m] < suffix ? V[m] : suffix;
        U[m] = suffix; /* the cheapest state with at least m instances */
    }
    double slope = epoch_usd * (double)R - launch - epoch_usd, best = INFINITY;
    for (int m = 0; m <= M; m++) {
        double c = U[m] + m * slope;
        best = c < best ? c : best;
        V[m] = best + m * (launch + epoch_usd);
    }
}

static int solve_deadline(const struct sf__bound *b, int v, double *out, struct sf_err *err)
{
    const struct sf__bound_vm *t = &b->vm[v];
    int K = b->K, G = SF_BOUND_CARRY_STEPS;
    size_t E = (size_t)b->E, rows = (size_t)b->rows;
    const double *A = b->work + (size_t)v * rows * (size_t)K;
    double slot_s = b->T / K, p = t->usd_per_s, T = b->T, kappa = t->kappa;
    double launch = p * T * (double)b->cmin;
    /* more instances than the work of two consecutive epochs needs in one slot process nothing
     * more, and are never worth keeping */
    double most = 0, prev_tot = 0;
    for (size_t e = 0, r = 0; e < E; e++) {
        double tot = 0;
        if (b->count[e] > 0)
            for (int k = 0; k < K; k++)
                tot += A[r * (size_t)K + (size_t)k];
        r += b->count[e] > 0;
        most = fmax(most, prev_tot + tot);
        prev_tot = tot;
    }
    double mcap = ceil(most / slot_s);
    int M = mcap < SF_CTL_MAX_INSTANCES ? (int)mcap : SF_CTL_MAX_INSTANCES;
    size_t S = (size_t)(M + 1) * (size_t)(G + 1);
    double *V = malloc(sizeof(double) * S), *Vn = malloc(sizeof(double) * S);
    double *col = malloc(sizeof(double) * (size_t)(M + 1) * 2);
    if (!V || !Vn || !col) {
        free(V), free(Vn), free(col);
        return sf_err_set(err, SF_ENOMEM, "replay: out of memory for the lower bound");
    }
    double *W = col + M + 1;
    for (size_t s = 0; s < S; s++)
        V[s] = INFINITY;
    V[0] = 0; /* no instance, no carry */
    static const double zero[SF_BOUND_SLOTS];
    const double *prev = zero;
    prev_tot = 0;
    size_t row = 0;
    for (size_t e = 0; e <= E;) { /* epoch E: the drain after the last one */
        const double *cur = e < E && b->count[e] > 0 ? A + row++ * (size_t)K : zero;
        double tot = 0;
        for (int k = 0; k < K; k++)
            tot += cur[k];
        if (tot <= 0 && prev_tot <= 0 && e < E) {
            /* a run of epochs with nothing to do: in closed form, while m is free to move */
            size_t end = e;
            while (end < E && b->count[end] == 0)
                end++;
            if ((int64_t)e >= b->cmin) {
                for (int m = 0; m <= M; m++)
                    col[m] = V[(size_t)m * (size_t)(G + 1)];
                empty_run(col, M, (int64_t)(end - e), launch, p * T, W);
                for (int m = 0; m <= M; m++)
                    V[(size_t)m * (size_t)(G + 1)] = col[m];
                e = end;
                prev = zero;
                continue;
            }
        }
        int top = (int64_t)e >= b->cmin ? M : 0;
        for (size_t s = 0; s < S; s++)
            Vn[s] = INFINITY;
        for (int g = 0; g <= G; g++) {
            int any = 0;
            for (int m = 0; m <= M; m++) {
                col[m] = V[(size_t)m * (size_t)(G + 1) + (size_t)g];
                any |= isfinite(col[m]);
            }
            if (!any)
                continue;
            launch_step(col, M, launch, W);
            double carry = prev_tot * carry_level(g);
            double sat_done = -1, sat_left = 0;
            for (int m = 0; m <= top; m++) {
                if (!isfinite(W[m]))
                    continue;
                double left, done;
                if (sat_done >= 0) {
                    done = sat_done;
                    left = sat_left;
                } else {
                    done = edf_epoch(prev, carry, cur, K, m * slot_s, &left);
                    if (left <= 0 && done >= carry + tot - 1e-12 * (1 + carry + tot)) {
                        sat_done = done; /* everything done: more instances change nothing */
                        sat_left = left;
                    }
                }
                int gn = left > 0 && tot > 0 ? carry_step(left / tot) : 0;
                double val = W[m] + m * p * T - kappa * done;
                double *dst = &Vn[(size_t)m * (size_t)(G + 1) + (size_t)gn];
                if (val < *dst)
                    *dst = val;
            }
        }
        double *sw = V;
        V = Vn;
        Vn = sw;
        prev = cur;
        prev_tot = tot;
        e++;
    }
    double best = INFINITY;
    for (size_t s = 0; s < S; s++)
        best = V[s] < best ? V[s] : best;
    free(V), free(Vn), free(col);
    *out = best;
    return SF_OK;
}

/* ---- epoch batching: the first m blocks of B on m instances, along the pass ---- */

/* One epoch with requests (0-based e0, n of them) for every VM type's program; the run of empty
 * epochs before it first. */
static void epoch_step(struct sf__bound *b, int64_t e0, uint32_t n)
{
    size_t M1 = (size_t)b->M + 1;
    int M = b->M, B = b->B;
    double *W = b->dp + (size_t)b->n_vm * M1, *Vn = W + M1, T = b->T;
    uint64_t nblk = ((uint64_t)n + (uint64_t)B - 1) / (uint64_t)B;
    int top = e0 >= b->cmin ? M : 0;
    for (int v = 0; v < b->n_vm; v++) {
        double *V = b->dp + (size_t)v * M1, p = b->vm[v].usd_per_s;
        double launch = p * T * (double)b->cmin;
        empty_run(V, M, b->empty, launch, p * T, W);
        launch_step(V, M, launch, W);
        const double *blk = b->block_usd + (size_t)v * M1;
        double saved = 0;
        for (int m = 0; m <= M; m++) {
            if (m > 0 && (uint64_t)m <= nblk) /* the m-th instance takes the m-th block of B */
                saved += blk[m - 1];
            if (m > top) {
                Vn[m] = INFINITY;
                continue;
            }
            uint64_t on_inst = (uint64_t)m * (uint64_t)B, rest = n > on_inst ? n - on_inst : 0;
            double fees = b->fee * (double)((rest + (uint64_t)b->nf - 1) / (uint64_t)b->nf);
            Vn[m] = W[m] + m * p * T - saved + fees;
        }
        memcpy(V, Vn, sizeof(double) * M1);
    }
    b->empty = 0;
    memset(b->block_usd, 0, sizeof(double) * M1 * (size_t)b->n_vm);
}

int sf__bound_solve(struct sf__bound *b, double *usd, int *vm_type, struct sf_err *err)
{
    double fn = b->fn_total_usd, fees = 0;
    if (!b->deadline) /* functions alone: every request in calls of at most nf */
        for (int64_t e = 0; e < b->E; e++)
            fees +=
                b->fee * (double)(((uint64_t)b->count[e] + (uint64_t)b->nf - 1) / (uint64_t)b->nf);
    double best = fn + fees;
    *vm_type = -1;
    for (int v = 0; v < b->n_vm; v++) {
        double val = INFINITY;
        if (b->deadline) {
            int rc = solve_deadline(b, v, &val, err);
            if (rc != SF_OK)
                return rc;
        } else { /* the program ran along the pass; the empty epochs at the end remain */
            size_t M1 = (size_t)b->M + 1;
            double *V = b->dp + (size_t)v * M1, *W = b->dp + (size_t)b->n_vm * M1;
            empty_run(V, b->M, b->empty, b->vm[v].usd_per_s * b->T * (double)b->cmin,
                      b->vm[v].usd_per_s * b->T, W);
            for (int m = 0; m <= b->M; m++)
                val = V[m] < val ? V[m] : val;
        }
        val += fn - b->vm[v].free_total_usd;
        if (val < best) {
            best = val;
            *vm_type = b->vm[v].vm < 0 ? -2 : b->vm[v].vm; /* -2: the types merged */
        }
    }
    /* a hair below: sums taken in another order must not put the bound above a policy's cost */
    *usd = best - 1e-9 * fabs(best);
    return SF_OK;
}
