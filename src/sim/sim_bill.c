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

double sf__fn_invoke(struct sf__fnpool *fp, const struct sf_sim_opts *o, double start_s, double run,
                     double slow, int *cold, int *throttled, double *bill_s)
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
    double wait = 0;
    *throttled = 0;
    if (pick < 0 && fp->n < fp->cap) {
        pick = fp->n++;
        fp->last_end[pick] = -INFINITY;
    }
    if (pick < 0) {
        /* every container busy and the cap reached: wait for the first to finish */
        pick = 0;
        for (int i = 1; i < fp->n; i++)
            if (fp->busy_until[i] < fp->busy_until[pick])
                pick = i;
        wait = fp->busy_until[pick] - start_s;
        pick_cold = 0;
        *throttled = 1;
    }
    double init = pick_cold ? o->fn_cold_start_s * slow : 0;
    fp->busy_until[pick] = start_s + wait + init + run;
    fp->last_end[pick] = fp->busy_until[pick];
    *cold = pick_cold;
    *bill_s = run + (o->fn_bill_init ? init : 0);
    return wait + init + run;
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
