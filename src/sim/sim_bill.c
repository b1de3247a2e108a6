/*
 * sim_bill.c - what the simulator charges and how long things take: the policies' paths from a
 * plan, a path's per-stage runtimes and prices, the function container pool (warm reuse within the
 * idle timeout, cold starts, the concurrency cap) and AWS billing (Lambda per 1 ms x GB plus the
 * request fee; EC2 per second with a minimum per launch).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

int sf_sim_paths_from_plan(const struct sf_plan *plan, double tau, struct sf_sim_paths *out,
                           struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    size_t t = 0;
    while (t < plan->n_tau && fabs(plan->alt[t * plan->alt_per_tau].tau - tau) > 1e-9)
        t++;
    if (t == plan->n_tau)
        return sf_err_set(err, SF_ENOTFOUND, "replay: tau %g is not in the plan", tau);
    const int *found = plan->per_tau_found[t];
    const struct sf_candidate *c = plan->per_tau[t];
    if (!found[SF_POOL_FAAS])
        return sf_err_set(err, SF_EINFEASIBLE,
                          "replay: no function memory runs the model within the SLO at tau %g",
                          tau);
    out->faas = sf_plan_path(&c[SF_POOL_FAAS]);
    int best = SF_POOL_FAAS;
    for (int p = 1; p < 3; p++)
        if (found[p] && c[p].cost_usd_per_s < c[best].cost_usd_per_s)
            best = p;
    out->serflow = sf_plan_path(&c[best]);
    out->iaas.has_instances = -1; /* marks "none" */
    if (found[SF_POOL_IAAS])
        out->iaas = sf_plan_path(&c[SF_POOL_IAAS]);
    if (out->serflow.has_instances) {
        out->oracle = out->serflow;
    } else {
        int inst = -1;
        for (int p = 1; p < 3; p++)
            if (found[p] && (inst < 0 || c[p].cost_usd_per_s < c[inst].cost_usd_per_s))
                inst = p;
        out->oracle = inst >= 0 ? sf_plan_path(&c[inst]) : out->faas;
    }
    /* every path invokes functions as the plan priced them */
    out->faas.fn_invoke_size = out->serflow.fn_invoke_size = out->iaas.fn_invoke_size =
        out->oracle.fn_invoke_size = plan->fn_invoke_size;
    return SF_OK;
}

/* ---- per-path runtimes and prices ---- */

int sf__pathrt_init(struct sf__pathrt *r, const struct sf_path *p, const struct sf_profile *prof,
                    const struct sf_pricing *price, double tau, double payload_factor,
                    struct sf_err *err)
{
    memset(r, 0, sizeof(*r));
    r->path = *p;
    r->n = prof->n_stages;
    const char *arch = price->fn_arch[0].name;
    if (sf_fn_runtime_at(prof, price, arch, p->fn_mem_mb, r->fn_rq, r->fn_rb) != SF_OK)
        return sf_err_set(err, SF_ENOTFOUND, "replay: no function runtime for arch %s", arch);
    r->fn_usd_per_s = sf_pricing_fn_usd_per_s(price, 0, p->fn_mem_mb);
    r->fn_gb = p->fn_mem_mb / 1024.0;
    if (p->has_instances) {
        if (p->vm < 0 || (size_t)p->vm >= price->n_vm)
            return sf_err_set(err, SF_EINVAL, "replay: bad VM index %d", p->vm);
        const struct sf_runtime *v = sf_profile_vm_runtime(prof, price->vm[p->vm].name);
        if (!v)
            return sf_err_set(err, SF_ENOTFOUND, "replay: no runtime for VM %s",
                              price->vm[p->vm].name);
        memcpy(r->vm_rq, v->per_request_s, sizeof(r->vm_rq));
        memcpy(r->vm_rb, v->per_batch_s, sizeof(r->vm_rb));
        r->vm_usd_per_s = price->vm[p->vm].price_usd_per_s;
        if (p->cut > 0 && p->cut < r->n)
            r->hand_off_bytes = prof->stage[p->cut - 1].hidden_bytes_lz4 * payload_factor;
    }
    const struct sf_exit_row *row = sf_profile_exits(prof, tau);
    if (!row)
        return sf_err_set(err, SF_ENOTFOUND, "replay: tau %g is not in the profile", tau);
    double s[SF_MAX_STAGES], work = 0;
    sf_profile_survival(prof, row, s);
    for (int i = 0; i < r->n; i++)
        work += s[i] * r->fn_rq[i];
    r->faas_usd_per_req = r->fn_usd_per_s * work; /* fees are per batch: negligible here */
    return SF_OK;
}

/* ---- function containers ---- */

double sf__fn_invoke(struct sf__fnpool *fp, const struct sf_sim_opts *o, double start_s, double run,
                     int *cold, int *throttled, double *bill_s)
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
    double init = pick_cold ? o->fn_cold_start_s : 0;
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
    double d = sf__billed_s(bill, sh->price->fn_billing_granularity_s);
    r->function_gb_s += d * ps->rt.fn_gb;
    r->function_cost_usd += d * ps->rt.fn_usd_per_s + sh->price->fn_request_fee_usd;
    r->fee_usd += sh->price->fn_request_fee_usd;
    r->invocations++;
}

void sf__bill_vm(struct sf__shared *sh, struct sf__pstate *ps, const struct sf_instance *in,
                 int64_t end_epoch)
{
    double secs = (double)(end_epoch - in->launch_epoch) * sh->o->ctl.epoch_s;
    secs = sf__billed_s(secs, sh->price->vm_billing_granularity_s);
    if (secs < sh->price->vm_billing_minimum_s)
        secs = sh->price->vm_billing_minimum_s;
    ps->res->vm_seconds += secs;
    ps->res->vm_cost_usd += secs * ps->rt.vm_usd_per_s;
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
