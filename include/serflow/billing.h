/*
 * billing.h - the pricing catalog's billing rules, once (model/billing.c): VM seconds rounded up
 * to the granularity with a minimum per launch (EC2: 1 s, 60 s), function seconds rounded up to
 * the granularity (Lambda: 1 ms, at least one unit) x GB plus the per-invocation fee. The
 * simulator, the planner's checks, the server's meters and the function runtime all bill
 * through these functions.
 */
#ifndef SERFLOW_BILLING_H
#define SERFLOW_BILLING_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/model.h"

/* ---- billing (the catalog's rules) ---- */

/* VM seconds billed for an instance alive alive_s: rounded up to the granularity, at least the
 * minimum (EC2: 1 s, 60 s). */
double sf_bill_vm_s(const struct sf_pricing *p, double alive_s);
/* Function seconds billed for one invocation of duration_s: rounded up to the granularity
 * (Lambda: 1 ms). A duration within 1 ns of a multiple is not rounded up again. */
double sf_bill_fn_s(const struct sf_pricing *p, double duration_s);

/* Running totals of one process's bill. Not thread-safe: callers lock. */
struct sf_meter {
    double vm_s[SF_MAX_VM_TYPES]; /* billed VM seconds by type (pricing->vm index) */
    double vm_usd;                /* their price */
    double fn_gb_s;               /* billed function GB-seconds */
    double fn_usd;                /* their price (without fees) */
    double fee_usd;               /* invocation fees */
    uint64_t invocations;         /* function invocations billed */
};

/* Bills one ended (or, for an estimate, still running) instance of type vm alive alive_s. */
void sf_meter_vm(struct sf_meter *m, const struct sf_pricing *p, int vm, double alive_s);
/* Bills one invocation of duration_s at mem_mb on arch (index into fn_arch): GB-s and the fee. */
void sf_meter_fn(struct sf_meter *m, const struct sf_pricing *p, size_t arch, int mem_mb,
                 double duration_s);
/* Bills the init phase of a function instance that never became ready (it exited during its
 * start, duration_s from its start to its exit): GB-s at mem_mb on arch, no request fee and no
 * invocation, as Lambda bills the INIT phase (docs/serving.md "Billing"). */
void sf_meter_fn_init(struct sf_meter *m, const struct sf_pricing *p, size_t arch, int mem_mb,
                      double duration_s);
/* Bills `calls` invocations whose billed durations, as the provider reported them (each already
 * rounded by its rules), sum to billed_s, at mem_mb on arch: GB-s and the request fees. How a
 * caller meters what its callees report (the bill as data; docs/serving.md "Billing"). */
void sf_meter_fn_billed(struct sf_meter *m, const struct sf_pricing *p, size_t arch, int mem_mb,
                        double billed_s, uint64_t calls);
/* Adds every total of add to m. */
void sf_meter_merge(struct sf_meter *m, const struct sf_meter *add);
double sf_meter_total_usd(const struct sf_meter *m);

#endif
