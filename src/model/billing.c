/*
 * billing.c - the catalog's billing rules as meters: VMs per second (rounded up to the
 * granularity) with a minimum per launch, functions per millisecond (rounded up) x GB plus the
 * per-invocation fee. The same rules the simulator prices with (sim.c), applied to what the
 * processes really did.
 */
#include <math.h>

#include "serflow/billing.h"

/* Durations within this of a granularity multiple are not rounded up once more: float noise
 * from clock subtraction must not add a whole millisecond. */
#define BILL_SLACK_S 1e-9

static double round_up(double s, double gran)
{
    if (!(s > 0))
        return 0;
    if (!(gran > 0))
        return s;
    return ceil((s - BILL_SLACK_S) / gran) * gran;
}

double sf_bill_vm_s(const struct sf_pricing *p, double alive_s)
{
    double s = round_up(alive_s, p->vm_billing_granularity_s);
    return s < p->vm_billing_minimum_s ? p->vm_billing_minimum_s : s;
}

double sf_bill_fn_s(const struct sf_pricing *p, double duration_s)
{
    double s = round_up(duration_s, p->fn_billing_granularity_s);
    /* a zero-length invocation still bills one unit, as Lambda bills at least 1 ms */
    return s > 0 ? s : p->fn_billing_granularity_s;
}

void sf_meter_vm(struct sf_meter *m, const struct sf_pricing *p, int vm, double alive_s)
{
    if (vm < 0 || (size_t)vm >= p->n_vm)
        return;
    double s = sf_bill_vm_s(p, alive_s);
    m->vm_s[vm] += s;
    m->vm_usd += s * p->vm[vm].price_usd_per_s;
}

void sf_meter_fn(struct sf_meter *m, const struct sf_pricing *p, size_t arch, int mem_mb,
                 double duration_s)
{
    if (arch >= p->n_fn_arch)
        return;
    double gb_s = sf_bill_fn_s(p, duration_s) * mem_mb / 1024.0;
    m->fn_gb_s += gb_s;
    m->fn_usd += gb_s * p->fn_arch[arch].price_usd_per_gb_s;
    m->fee_usd += p->fn_request_fee_usd;
    m->invocations++;
}

void sf_meter_fn_init(struct sf_meter *m, const struct sf_pricing *p, size_t arch, int mem_mb,
                      double duration_s)
{
    if (arch >= p->n_fn_arch)
        return;
    double gb_s = sf_bill_fn_s(p, duration_s) * mem_mb / 1024.0;
    m->fn_gb_s += gb_s;
    m->fn_usd += gb_s * p->fn_arch[arch].price_usd_per_gb_s;
}

void sf_meter_fn_billed(struct sf_meter *m, const struct sf_pricing *p, size_t arch, int mem_mb,
                        double billed_s, uint64_t calls)
{
    if (arch >= p->n_fn_arch || !(billed_s >= 0) || !sf_isfinite(billed_s))
        return;
    double gb_s = billed_s * mem_mb / 1024.0;
    m->fn_gb_s += gb_s;
    m->fn_usd += gb_s * p->fn_arch[arch].price_usd_per_gb_s;
    m->fee_usd += (double)calls * p->fn_request_fee_usd;
    m->invocations += calls;
}

void sf_meter_merge(struct sf_meter *m, const struct sf_meter *add)
{
    for (int v = 0; v < SF_MAX_VM_TYPES; v++)
        m->vm_s[v] += add->vm_s[v];
    m->vm_usd += add->vm_usd;
    m->fn_gb_s += add->fn_gb_s;
    m->fn_usd += add->fn_usd;
    m->fee_usd += add->fee_usd;
    m->invocations += add->invocations;
}

double sf_meter_total_usd(const struct sf_meter *m)
{
    return m->vm_usd + m->fn_usd + m->fee_usd;
}
