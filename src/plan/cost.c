/* cost.c - the cost model of SERFLOW.md section 3 (eq. 1-4) and the T-CIP closed form. */
#include <math.h>

#include "serflow/plan.h"

static double head_work_s(const struct sf_costcfg *c)
{
    double w = 0;
    for (int i = 0; i < c->cut; i++)
        w += c->fn_work_s[i];
    return w;
}

static double tail_work_s(const struct sf_costcfg *c)
{
    double w = 0;
    for (int i = c->cut; i < c->n_stages; i++)
        w += c->fn_work_s[i];
    return w;
}

/* Invocations per batch tail (k), at least 1. */
static int fanout(const struct sf_costcfg *c)
{
    return c->tail_fanout > 1 ? c->tail_fanout : 1;
}

/* The extra per-invocation time of the k - 1 further tail calls, per request. */
static double fanout_extra_work_s(const struct sf_costcfg *c)
{
    double w = 0;
    for (int i = c->cut; i < c->n_stages; i++)
        w += c->fn_batch_s[i];
    return (fanout(c) - 1) * w / c->batch_size;
}

double sf_cost_faas_usd_per_req(const struct sf_costcfg *c)
{
    /* fn_work_s carries each stage's per-invocation time shared by a batch of B; an invocation
     * of fewer requests shares it among them */
    int nf = c->fn_invoke_size > 0 && c->fn_invoke_size < c->batch_size ? c->fn_invoke_size
                                                                        : c->batch_size;
    double more = 0;
    if (nf != c->batch_size)
        for (int i = 0; i < c->n_stages; i++)
            more += c->fn_batch_s[i] * (1.0 / nf - 1.0 / c->batch_size);
    return c->fn_usd_per_s * (head_work_s(c) + tail_work_s(c) + more) + c->fn_fee_usd / nf;
}

double sf_cost_tail_usd_per_req(const struct sf_costcfg *c)
{
    double w = tail_work_s(c);
    /* A batch whose requests all exit on the instance invokes no function. */
    if (!(w > 0))
        return 0.0;
    return c->fn_usd_per_s * (w + fanout_extra_work_s(c)) +
           fanout(c) * c->fn_fee_usd / c->batch_size;
}

double sf_cost_faas_usd_per_s(const struct sf_costcfg *c, double rate_rps)
{
    return rate_rps * sf_cost_faas_usd_per_req(c);
}

double sf_tcip_rps(const struct sf_costcfg *c)
{
    if (c->cut <= 0)
        return INFINITY;
    /* Instance: p_v + res * tail;  FaaS: res * faas.  Equal at res = p_v / (faas - tail). */
    double saved_usd_per_req = sf_cost_faas_usd_per_req(c) - sf_cost_tail_usd_per_req(c);
    if (!(saved_usd_per_req > 0))
        return INFINITY;
    return c->vm_usd_per_s / saved_usd_per_req;
}

double sf_cost_instance_residual_usd_per_s(const struct sf_costcfg *c, double res_rps)
{
    return c->vm_usd_per_s + res_rps * sf_cost_tail_usd_per_req(c);
}

double sf_cost_usd_per_s(const struct sf_costcfg *c, double rate_rps, struct sf_cost_split *split)
{
    struct sf_cost_split s = {0};
    if (c->cut <= 0) {
        /* c = 0 is FaaS-only: an instance that runs no stage is never bought. */
        s.rate_on_faas_rps = rate_rps;
    } else {
        /* The 1e-9 keeps rate == r from flooring to 0 on rounding noise. */
        double q = floor(rate_rps / c->capacity_rps + 1e-9);
        double res = rate_rps - q * c->capacity_rps;
        if (res < 0)
            res = 0;
        double extra = res > sf_tcip_rps(c) ? 1.0 : 0.0;
        s.instances = q + extra;
        s.rate_on_instances_rps = q * c->capacity_rps + extra * res;
        s.rate_on_faas_rps = rate_rps - s.rate_on_instances_rps;
        s.vm_usd_per_s = c->vm_usd_per_s * s.instances;
        s.fn_usd_per_s = s.rate_on_instances_rps * sf_cost_tail_usd_per_req(c);
    }
    s.fn_usd_per_s += s.rate_on_faas_rps * sf_cost_faas_usd_per_req(c);
    if (split)
        *split = s;
    return s.vm_usd_per_s + s.fn_usd_per_s;
}
