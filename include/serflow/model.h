/*
 * model.h - the inputs serflow plans and simulates with: a cloud pricing catalog and a model
 * profile. Both are versioned JSON files (docs/formats.md); the loaders check every field and
 * report "file:line: field: problem" through struct sf_err.
 *
 * Ownership: a loaded struct is self-contained (no pointers into the file text); release it with
 * the matching _fini. Loading never prints.
 */
#ifndef SERFLOW_MODEL_H
#define SERFLOW_MODEL_H

#include <stddef.h>
#include <stdio.h>

#include "serflow/core.h"
#include "serflow/limits.h" /* caps: a catalog or profile beyond them is refused, not truncated */

/* ---- pricing catalog ---- */

struct sf_vm_type {
    char name[SF_NAME_MAX];
    int vcpus;
    double mem_gib;
    double price_usd_per_s;
};

struct sf_fn_arch {
    char name[SF_NAME_MAX]; /* "x86_64", "arm64" */
    double price_usd_per_gb_s;
};

struct sf_pricing {
    char provider[SF_NAME_MAX];
    char region[SF_NAME_MAX];
    char as_of[SF_NAME_MAX];
    /* VMs */
    struct sf_vm_type vm[SF_MAX_VM_TYPES];
    size_t n_vm;
    double vm_billing_granularity_s; /* EC2: 1 s */
    double vm_billing_minimum_s;     /* EC2: 60 s per launch */
    /* functions */
    struct sf_fn_arch fn_arch[SF_MAX_FN_ARCHS];
    size_t n_fn_arch;
    double fn_request_fee_usd; /* per invocation */
    int fn_mem_min_mb, fn_mem_max_mb, fn_mem_step_mb;
    int fn_mb_per_vcpu;              /* Lambda: 1,769 MB = one vCPU */
    double fn_billing_granularity_s; /* Lambda: 0.001 s */
    double fn_payload_max_bytes;     /* synchronous invoke payload cap */
};

/* Loads a pricing catalog. Returns SF_OK, or SF_EIO / SF_EPARSE / SF_EINVAL / SF_ERANGE /
 * SF_EUNSUPPORTED with err->msg = "file:line: field: problem". */
int sf_pricing_load(struct sf_pricing *p, const char *path, struct sf_err *err);
/* Same from memory; `name` is used in messages in place of a path. */
int sf_pricing_parse(struct sf_pricing *p, const char *name, const char *text, size_t len,
                     struct sf_err *err);
/* Looks up a VM type by name; NULL when absent. O(n). */
const struct sf_vm_type *sf_pricing_vm(const struct sf_pricing *p, const char *name);
/* Function price per second at mem_mb for the arch (index into fn_arch). */
double sf_pricing_fn_usd_per_s(const struct sf_pricing *p, size_t arch, int mem_mb);

/* ---- model profile ---- */

enum sf_runtime_kind { SF_RT_VM = 0, SF_RT_FUNCTION = 1 };

/* Runtimes of every stage on one configuration: a request costs per_request_s[i] at stage i, a
 * batch additionally per_batch_s[i] when at least one request reaches stage i. */
struct sf_runtime {
    enum sf_runtime_kind kind;
    char name[SF_NAME_MAX]; /* VM type name, or function arch for kind FUNCTION */
    int mem_mb;             /* functions only */
    double per_request_s[SF_MAX_STAGES];
    double per_batch_s[SF_MAX_STAGES];
};

struct sf_stage {
    char name[SF_NAME_MAX];
    double hidden_bytes_raw; /* per request, after this stage (0 for the last) */
    double hidden_bytes_lz4;
};

struct sf_exit_row {
    double tau;
    double exit_fraction[SF_MAX_STAGES]; /* of those entering stage i; last is 1 */
    double accuracy;                     /* top-1 in [0,1] */
};

struct sf_profile {
    char model[SF_NAME_MAX];
    int n_stages;
    struct sf_stage stage[SF_MAX_STAGES];
    int batch_size;
    double slo_s;
    double rate_rps; /* long-term mean rate the plan is made for */
    double input_bytes;
    double xfer_latency_s;
    double xfer_bandwidth_bytes_per_s;
    double fn_cold_start_s;
    double fn_scaling_exponent;        /* runtime ~ (vcpus)^-exponent between memories */
    double fn_partial_vcpu_efficiency; /* worth of a partial vCPU above the whole ones */
    struct sf_runtime rt[SF_MAX_RUNTIMES];
    size_t n_rt;
    struct sf_exit_row exits[SF_MAX_TAUS];
    size_t n_exits;
};

/* Loads a model profile; errors as for sf_pricing_load. Checks: exit fractions in [0,1] with the
 * last equal to 1, non-negative finite runtimes, tau strictly increasing in (0,1], arrays of
 * length n_stages. */
int sf_profile_load(struct sf_profile *p, const char *path, struct sf_err *err);
int sf_profile_parse(struct sf_profile *p, const char *name, const char *text, size_t len,
                     struct sf_err *err);
/* One raw timing behind a fitted runtime (informational, written by serflow profile). */
struct sf_profile_measurement {
    int stage;
    long batch;
    double median_s, p99_s;
};

/* Informational members sf_profile_write adds to a profile: the loader allows and skips them.
 * Every pointer may be NULL and every count 0 (then the member is left out). */
struct sf_profile_notes {
    const char *generator, *measured_on, *measured_at, *backend, *note; /* "provenance" */
    int num_classes;
    const double *classifier_accuracy; /* n_stages values */
    const double *mean_stages;         /* one per exit row */
    const char *transfer_source, *function_source;
    const char *runtime_source[SF_MAX_RUNTIMES];
    const struct sf_profile_measurement *measurements[SF_MAX_RUNTIMES];
    size_t n_measurements[SF_MAX_RUNTIMES];
};

/* Writes p as a serflow-profile/1 document to f (times in seconds, every double with 17
 * significant digits, so sf_profile_load reads back exactly p). The document is checked with
 * sf_profile_parse before anything is written: a profile the loader would refuse is refused
 * here (SF_EINVAL, with the loader's message), so the writer never produces an unreadable file.
 * SF_EIO when f reports a write error. */
int sf_profile_write(const struct sf_profile *p, const struct sf_profile_notes *notes, FILE *f,
                     struct sf_err *err);

/* Runtime entry for a VM type, or NULL when the profile has none. */
const struct sf_runtime *sf_profile_vm_runtime(const struct sf_profile *p, const char *vm_name);
/* Exit row for tau (exact match within 1e-9), or NULL. */
const struct sf_exit_row *sf_profile_exits(const struct sf_profile *p, double tau);

/* Fills survival[i] = s_{i+1}(tau) for i in 0..n-1: s_1 = 1, s_i = prod_{j<i}(1 - e_j). */
void sf_profile_survival(const struct sf_profile *p, const struct sf_exit_row *row,
                         double *survival);

#endif
