/* profile.c - model profile loader (format serflow-profile/1, docs/formats.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_in.h"
#include "serflow/model.h"

static int parse_stages(struct sf__jctx *c, json_t *root, struct sf_profile *p)
{
    json_t *st;
    int rc = sf__j_arr(c, root, "stages", SF__J_REQUIRED, SF_MAX_STAGES, &st);
    if (rc != SF_OK)
        return rc;
    if (json_array_size(st) == 0)
        return sf__j_fail(c, "stages", SF_EINVAL, "needs at least one stage");
    p->n_stages = (int)json_array_size(st);
    sf__j_push_key(c, "stages");
    for (size_t i = 0; rc == SF_OK && i < json_array_size(st); i++) {
        json_t *s = json_array_get(st, i);
        struct sf_stage *g = &p->stage[i];
        sf__j_push_index(c, i);
        static const char *const keys[] = {"name", "macs_m", "hidden_bytes_raw", "hidden_bytes_lz4",
                                           NULL};
        if (!json_is_object(s))
            rc = sf__j_fail(c, NULL, SF_EINVAL, "expected an object");
        if (rc == SF_OK)
            rc = sf__j_known(c, s, keys);
        if (rc == SF_OK)
            rc = sf__j_str(c, s, "name", SF__J_REQUIRED, g->name, sizeof(g->name));
        if (rc == SF_OK)
            rc = sf__j_num(c, s, "hidden_bytes_raw", SF__J_REQUIRED | SF__J_NONNEG,
                           SF_MAX_REQUEST_BYTES, &g->hidden_bytes_raw);
        if (rc == SF_OK) {
            g->hidden_bytes_lz4 = g->hidden_bytes_raw;
            rc = sf__j_num(c, s, "hidden_bytes_lz4", SF__J_NONNEG, SF_MAX_REQUEST_BYTES,
                           &g->hidden_bytes_lz4);
        }
        sf__j_pop(c);
    }
    sf__j_pop(c);
    return rc;
}

static int parse_runtime(struct sf__jctx *c, json_t *r, struct sf_profile *p, struct sf_runtime *rt)
{
    char kind[64] = "", unit[64] = "s";
    double scale = 1;
    static const char *const keys[] = {"kind",      "name",         "arch",
                                       "mem_mb",    "time_unit",    "per_request",
                                       "per_batch", "measurements", NULL};
    int rc = sf__j_known(c, r, keys);
    if (rc == SF_OK)
        rc = sf__j_str(c, r, "kind", SF__J_REQUIRED, kind, sizeof(kind));
    if (rc != SF_OK)
        return rc;
    if (!strcmp(kind, "vm")) {
        rt->kind = SF_RT_VM;
        rc = sf__j_str(c, r, "name", SF__J_REQUIRED, rt->name, sizeof(rt->name));
    } else if (!strcmp(kind, "function")) {
        rt->kind = SF_RT_FUNCTION;
        rc = sf__j_str(c, r, "arch", SF__J_REQUIRED, rt->name, sizeof(rt->name));
        if (rc == SF_OK)
            rc = sf__j_int(c, r, "mem_mb", SF__J_REQUIRED, 1, SF_FN_MEM_MAX_MB, &rt->mem_mb);
    } else {
        return sf__j_fail(c, "kind", SF_EUNSUPPORTED,
                          "unknown runtime kind \"%s\" (accepted: vm, function)", kind);
    }
    if (rc == SF_OK)
        rc = sf__j_str(c, r, "time_unit", SF__J_REQUIRED, unit, sizeof(unit));
    if (rc == SF_OK) {
        if (!strcmp(unit, "s"))
            scale = 1;
        else if (!strcmp(unit, "ms"))
            scale = 1e-3;
        else if (!strcmp(unit, "us"))
            scale = 1e-6;
        else
            rc = sf__j_fail(c, "time_unit", SF_EUNSUPPORTED,
                            "unknown unit \"%s\" (accepted: s, ms, us)", unit);
    }
    size_t n = (size_t)p->n_stages;
    /* the cap applies in seconds, after the unit: a value the writer (seconds) writes back must
     * pass it again */
    if (rc == SF_OK)
        rc = sf__j_num_array(c, r, "per_request", SF__J_REQUIRED | SF__J_NONNEG, INFINITY, n,
                             rt->per_request_s);
    if (rc == SF_OK)
        rc = sf__j_num_array(c, r, "per_batch", SF__J_NONNEG, INFINITY, n, rt->per_batch_s);
    for (size_t i = 0; rc == SF_OK && i < n; i++) {
        rt->per_request_s[i] *= scale;
        rt->per_batch_s[i] *= scale;
        for (int b = 0; rc == SF_OK && b < 2; b++) {
            double v = b ? rt->per_batch_s[i] : rt->per_request_s[i];
            if (v <= SF_MAX_STAGE_S)
                continue;
            sf__j_push_key(c, b ? "per_batch" : "per_request");
            sf__j_push_index(c, i);
            rc = sf__j_fail(c, NULL, SF_ERANGE, "must be at most %g s (got %g s)", SF_MAX_STAGE_S,
                            v);
            sf__j_pop(c);
            sf__j_pop(c);
        }
    }
    return rc;
}

static int parse_runtimes(struct sf__jctx *c, json_t *root, struct sf_profile *p)
{
    json_t *arr;
    int rc = sf__j_arr(c, root, "runtimes", SF__J_REQUIRED, SF_MAX_RUNTIMES, &arr);
    if (rc != SF_OK)
        return rc;
    sf__j_push_key(c, "runtimes");
    for (size_t i = 0; rc == SF_OK && i < json_array_size(arr); i++) {
        json_t *r = json_array_get(arr, i);
        sf__j_push_index(c, i);
        if (!json_is_object(r))
            rc = sf__j_fail(c, NULL, SF_EINVAL, "expected an object");
        else
            rc = parse_runtime(c, r, p, &p->rt[i]);
        for (size_t j = 0; rc == SF_OK && j < i; j++) {
            const struct sf_runtime *a = &p->rt[j], *b = &p->rt[i];
            if (a->kind == b->kind && !strcmp(a->name, b->name) && a->mem_mb == b->mem_mb)
                rc = sf__j_fail(c, NULL, SF_EINVAL, "duplicate runtime entry for %s", b->name);
        }
        sf__j_pop(c);
        p->n_rt = i + 1;
    }
    sf__j_pop(c);
    return rc;
}

static int parse_exits(struct sf__jctx *c, json_t *root, struct sf_profile *p)
{
    json_t *arr;
    int rc = sf__j_arr(c, root, "exits", SF__J_REQUIRED, SF_MAX_TAUS, &arr);
    if (rc != SF_OK)
        return rc;
    if (json_array_size(arr) == 0)
        return sf__j_fail(c, "exits", SF_EINVAL, "needs at least one tau");
    sf__j_push_key(c, "exits");
    for (size_t i = 0; rc == SF_OK && i < json_array_size(arr); i++) {
        json_t *r = json_array_get(arr, i);
        struct sf_exit_row *row = &p->exits[i];
        sf__j_push_index(c, i);
        static const char *const keys[] = {"tau", "exit_fraction", "accuracy", "mean_stages", NULL};
        if (!json_is_object(r))
            rc = sf__j_fail(c, NULL, SF_EINVAL, "expected an object");
        if (rc == SF_OK)
            rc = sf__j_known(c, r, keys);
        if (rc == SF_OK)
            rc = sf__j_num(c, r, "tau", SF__J_REQUIRED | SF__J_FRACTION, 1, &row->tau);
        if (rc == SF_OK && !(row->tau > 0))
            rc = sf__j_fail(c, "tau", SF_ERANGE, "must be in (0, 1] (got %g)", row->tau);
        if (rc == SF_OK && i > 0 && !(row->tau > p->exits[i - 1].tau))
            rc = sf__j_fail(c, "tau", SF_EINVAL, "tau values must be strictly increasing");
        if (rc == SF_OK)
            rc = sf__j_num_array(c, r, "exit_fraction", SF__J_REQUIRED | SF__J_FRACTION, 1,
                                 (size_t)p->n_stages, row->exit_fraction);
        if (rc == SF_OK && fabs(row->exit_fraction[p->n_stages - 1] - 1.0) > 1e-9) {
            sf__j_push_key(c, "exit_fraction");
            sf__j_push_index(c, (size_t)p->n_stages - 1);
            rc = sf__j_fail(c, NULL, SF_EINVAL,
                            "the last stage's exit fraction must be 1 (every request leaves)");
            sf__j_pop(c);
            sf__j_pop(c);
        }
        if (rc == SF_OK)
            rc = sf__j_num(c, r, "accuracy", SF__J_REQUIRED | SF__J_FRACTION, 1, &row->accuracy);
        sf__j_pop(c);
        p->n_exits = i + 1;
    }
    sf__j_pop(c);
    return rc;
}

static int parse_top(struct sf__jctx *c, json_t *root, struct sf_profile *p)
{
    json_t *o;
    static const char *const keys[] = {"format",
                                       "model",
                                       "num_classes",
                                       "batch_size",
                                       "slo_s",
                                       "rate_rps",
                                       "classifier_accuracy",
                                       "input_bytes",
                                       "stages",
                                       "transfer",
                                       "function",
                                       "runtimes",
                                       "exits",
                                       NULL};
    static const char *const xfer_keys[] = {"latency_s", "bandwidth_bytes_per_s", NULL};
    static const char *const fn_keys[] = {"cold_start_s", "scaling_exponent",
                                          "partial_vcpu_efficiency", NULL};
    int rc = sf__j_format(c, root, "serflow-profile/1");
    if (rc == SF_OK)
        rc = sf__j_known(c, root, keys);
    if (rc == SF_OK)
        rc = sf__j_str(c, root, "model", SF__J_REQUIRED, p->model, sizeof(p->model));
    if (rc == SF_OK)
        rc = sf__j_int(c, root, "batch_size", SF__J_REQUIRED, 1, SF_MAX_BATCH, &p->batch_size);
    if (rc == SF_OK)
        rc = sf__j_num(c, root, "slo_s", SF__J_REQUIRED | SF__J_POSITIVE, SF_MAX_SLO_S, &p->slo_s);
    if (rc == SF_OK)
        rc = sf__j_num(c, root, "rate_rps", SF__J_REQUIRED | SF__J_POSITIVE, SF_MAX_RATE_RPS,
                       &p->rate_rps);
    if (rc == SF_OK)
        rc = sf__j_num(c, root, "input_bytes", SF__J_NONNEG, SF_MAX_REQUEST_BYTES, &p->input_bytes);
    if (rc == SF_OK)
        rc = parse_stages(c, root, p);
    if (rc == SF_OK)
        rc = sf__j_obj(c, root, "transfer", SF__J_REQUIRED, &o);
    if (rc == SF_OK) {
        sf__j_push_key(c, "transfer");
        rc = sf__j_known(c, o, xfer_keys);
        if (rc == SF_OK)
            rc = sf__j_num(c, o, "latency_s", SF__J_REQUIRED | SF__J_NONNEG, SF_MAX_STAGE_S,
                           &p->xfer_latency_s);
        if (rc == SF_OK)
            rc = sf__j_num(c, o, "bandwidth_bytes_per_s", SF__J_REQUIRED | SF__J_POSITIVE,
                           SF_MAX_BANDWIDTH_BYTES_PER_S, &p->xfer_bandwidth_bytes_per_s);
        if (rc == SF_OK && p->xfer_bandwidth_bytes_per_s < SF_MIN_BANDWIDTH_BYTES_PER_S)
            rc = sf__j_fail(c, "bandwidth_bytes_per_s", SF_ERANGE, "must be at least %g (got %g)",
                            SF_MIN_BANDWIDTH_BYTES_PER_S, p->xfer_bandwidth_bytes_per_s);
        sf__j_pop(c);
    }
    if (rc == SF_OK)
        rc = sf__j_obj(c, root, "function", 0, &o);
    p->fn_scaling_exponent = 1.0;
    p->fn_partial_vcpu_efficiency = 1.0;
    if (rc == SF_OK && o) {
        sf__j_push_key(c, "function");
        rc = sf__j_known(c, o, fn_keys);
        if (rc == SF_OK)
            rc = sf__j_num(c, o, "cold_start_s", SF__J_NONNEG, SF_MAX_FN_COLD_START_S,
                           &p->fn_cold_start_s);
        if (rc == SF_OK)
            rc = sf__j_num(c, o, "scaling_exponent", SF__J_NONNEG, SF_MAX_SCALING_EXPONENT,
                           &p->fn_scaling_exponent);
        if (rc == SF_OK)
            rc = sf__j_num(c, o, "partial_vcpu_efficiency", SF__J_FRACTION, 1,
                           &p->fn_partial_vcpu_efficiency);
        sf__j_pop(c);
    }
    if (rc == SF_OK)
        rc = parse_runtimes(c, root, p);
    if (rc == SF_OK)
        rc = parse_exits(c, root, p);
    return rc;
}

int sf_profile_parse(struct sf_profile *p, const char *name, const char *text, size_t len,
                     struct sf_err *err)
{
    memset(p, 0, sizeof(*p));
    struct sf__jctx c = {.file = name, .text = text, .len = len, .err = err};
    json_t *root;
    int rc = sf__j_load(&c, &root);
    if (rc != SF_OK)
        return rc;
    rc = parse_top(&c, root, p);
    json_decref(root);
    return rc;
}

static int parse_any(void *out, const char *name, const char *text, size_t len, struct sf_err *err)
{
    return sf_profile_parse(out, name, text, len, err);
}

int sf_profile_load(struct sf_profile *p, const char *path, struct sf_err *err)
{
    return sf__j_load_file(p, path, SF_MODEL_FILE_BYTES, parse_any, err);
}

const struct sf_runtime *sf_profile_vm_runtime(const struct sf_profile *p, const char *vm_name)
{
    for (size_t i = 0; i < p->n_rt; i++)
        if (p->rt[i].kind == SF_RT_VM && !strcmp(p->rt[i].name, vm_name))
            return &p->rt[i];
    return NULL;
}

const struct sf_exit_row *sf_profile_exits(const struct sf_profile *p, double tau)
{
    for (size_t i = 0; i < p->n_exits; i++)
        if (fabs(p->exits[i].tau - tau) < SF_TAU_EPS)
            return &p->exits[i];
    return NULL;
}

void sf_profile_survival(const struct sf_profile *p, const struct sf_exit_row *row,
                         double *survival)
{
    double s = 1.0;
    for (int i = 0; i < p->n_stages; i++) {
        survival[i] = s;
        s *= 1.0 - row->exit_fraction[i];
    }
}
