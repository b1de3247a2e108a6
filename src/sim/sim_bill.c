/*
 * sim_bill.c - what the simulator charges and how long things take: the function container pool
 * (warm reuse within the idle timeout, cold starts, the concurrency cap) and the bill of each
 * invocation and instance life by the catalog's rules (billing.h: Lambda per 1 ms x GB plus the
 * request fee; EC2 per second with a minimum per launch).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

/* ---- function containers ---- */

int sf__fn_pick(struct sf__fnpool *fp, const struct sf_sim_opts *o, double start_s, double *wait_s,
                int *cold, int *throttled)
{
    int pick = -1, pick_cold = 1;
    for (int i = 0; i < fp->n; i++) {
        if (fp->busy_until[i] > start_s)
            continue;
        int warm = start_s - fp->last_end[i] <= o->fn_idle_timeout_s;
        if (warm) {
            pick = i;
            pick_cold = 0;
            break;
        }
        if (pick < 0)
            pick = i;
    }
    *wait_s = 0;
    *throttled = 0;
    if (pick < 0 && fp->n < fp->cap) {
        pick = fp->n++;
        fp->last_end[pick] = -INFINITY;
        fp->busy_until[pick] = start_s; /* free from now: not busy beside its own call */
    }
    if (pick < 0) {
        /* every container busy and the cap reached: wait for the first to finish */
        pick = 0;
        for (int i = 1; i < fp->n; i++)
            if (fp->busy_until[i] < fp->busy_until[pick])
                pick = i;
        *wait_s = fp->busy_until[pick] - start_s;
        pick_cold = 0;
        *throttled = 1;
    }
    *cold = pick_cold;
    return pick;
}

double sf__fn_start(struct sf__fnpool *fp, const struct sf_sim_opts *o, int pick, double start_s,
                    double wait_s, double init_s, double run_s, double *bill_s)
{
    fp->busy_until[pick] = start_s + wait_s + init_s + run_s;
    fp->last_end[pick] = fp->busy_until[pick];
    *bill_s = run_s + (o->fn_bill_init ? init_s : 0);
    return wait_s + init_s + run_s;
}

/* ---- billing ---- */

void sf__charge_fn(struct sf__shared *sh, struct sf__pstate *ps, double bill)
{
    struct sf_policy_result *r = ps->res;
    double d = sf_bill_fn_s(sh->price, bill);
    r->function_gb_s += d * ps->rt->fn_gb;
    r->function_cost_usd += d * ps->rt->fn_usd_per_s + sh->price->fn_request_fee_usd;
    r->fee_usd += sh->price->fn_request_fee_usd;
    r->invocations++;
}

void sf__charge_fn_extra(struct sf__pstate *ps, double extra_s)
{
    ps->res->function_gb_s += extra_s * ps->rt->fn_gb;
    ps->res->function_cost_usd += extra_s * ps->rt->fn_usd_per_s;
}

void sf__bill_vm(struct sf__shared *sh, struct sf__pstate *ps, const struct sf_instance *in,
                 int64_t end_epoch)
{
    double secs =
        sf_bill_vm_s(sh->price, (double)(end_epoch - in->launch_epoch) * sh->o->ctl.epoch_s);
    ps->res->vm_seconds += secs;
    ps->res->vm_cost_usd += secs * ps->rt->vm_usd_per_s;
}

int sf__tail_chunks(const uint8_t *exits, int a, int b, int n, int cut, int k, int survivors,
                    int (*alive)[SF_MAX_STAGES])
{
    if (survivors <= 0)
        return 0;
    if (k > survivors)
        k = survivors;
    if (k < 1)
        k = 1;
    int hist[SF_MAX_FANOUT_CHUNKS][SF_MAX_STAGES];
    memset(hist, 0, sizeof(hist[0]) * (size_t)k);
    for (int j = a, q = 0; j < b; j++) {
        if (exits[j] < cut)
            continue;
        int chunk = (int)((int64_t)q * k / survivors);
        hist[chunk][exits[j]]++;
        q++;
    }
    for (int c = 0; c < k; c++) {
        int acc = 0;
        for (int i = n - 1; i >= 0; i--) {
            acc += i >= cut ? hist[c][i] : 0;
            alive[c][i] = i >= cut ? acc : 0;
        }
    }
    return k;
}
