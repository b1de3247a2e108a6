/* pricing.c - pricing catalog loader (format serflow-pricing/1, docs/formats.md). */
#include <stdlib.h>
#include <string.h>

#include "core/json_in.h"
#include "serflow/model.h"

static int parse_vm(struct sf__jctx *c, json_t *root, struct sf_pricing *p)
{
    json_t *vm, *billing, *types;
    int rc = sf__j_obj(c, root, "vm", SF__J_REQUIRED, &vm);
    if (rc != SF_OK)
        return rc;
    sf__j_push_key(c, "vm");
    static const char *const vm_keys[] = {"billing", "types", NULL};
    static const char *const billing_keys[] = {"granularity", "minimum", NULL};
    static const char *const type_keys[] = {"name", "vcpus", "mem_gib", "price", NULL};
    rc = sf__j_known(c, vm, vm_keys);
    if (rc == SF_OK)
        rc = sf__j_obj(c, vm, "billing", SF__J_REQUIRED, &billing);
    if (rc == SF_OK) {
        sf__j_push_key(c, "billing");
        rc = sf__j_known(c, billing, billing_keys);
        if (rc == SF_OK)
            rc = sf__j_quantity(c, billing, "granularity", SF__J_REQUIRED | SF__J_POSITIVE,
                                SF__Q_TIME_S, SF_MAX_BILLING_S, &p->vm_billing_granularity_s);
        if (rc == SF_OK)
            rc = sf__j_quantity(c, billing, "minimum", SF__J_REQUIRED | SF__J_NONNEG, SF__Q_TIME_S,
                                SF_MAX_BILLING_S, &p->vm_billing_minimum_s);
        sf__j_pop(c);
    }
    if (rc == SF_OK)
        rc = sf__j_arr(c, vm, "types", SF__J_REQUIRED, SF_MAX_VM_TYPES, &types);
    if (rc == SF_OK && json_array_size(types) == 0)
        rc = sf__j_fail(c, "types", SF_EINVAL, "needs at least one VM type");
    if (rc == SF_OK) {
        sf__j_push_key(c, "types");
        for (size_t i = 0; rc == SF_OK && i < json_array_size(types); i++) {
            json_t *t = json_array_get(types, i);
            struct sf_vm_type *v = &p->vm[i];
            sf__j_push_index(c, i);
            if (!json_is_object(t))
                rc = sf__j_fail(c, NULL, SF_EINVAL, "expected an object");
            if (rc == SF_OK)
                rc = sf__j_known(c, t, type_keys);
            if (rc == SF_OK)
                rc = sf__j_str(c, t, "name", SF__J_REQUIRED, v->name, sizeof(v->name));
            if (rc == SF_OK)
                rc = sf__j_int(c, t, "vcpus", SF__J_REQUIRED, 1, SF_MAX_VM_VCPUS, &v->vcpus);
            if (rc == SF_OK)
                rc = sf__j_num(c, t, "mem_gib", SF__J_POSITIVE, SF_MAX_VM_MEM_GIB, &v->mem_gib);
            if (rc == SF_OK)
                rc = sf__j_quantity(c, t, "price", SF__J_REQUIRED | SF__J_POSITIVE, SF__Q_USD_PER_S,
                                    SF_MAX_USD_PER_S, &v->price_usd_per_s);
            for (size_t j = 0; rc == SF_OK && j < i; j++)
                if (!strcmp(p->vm[j].name, v->name))
                    rc = sf__j_fail(c, "name", SF_EINVAL, "duplicate VM type \"%s\"", v->name);
            sf__j_pop(c);
            p->n_vm = i + 1;
        }
        sf__j_pop(c);
    }
    sf__j_pop(c);
    return rc;
}

static int parse_function(struct sf__jctx *c, json_t *root, struct sf_pricing *p)
{
    json_t *fn, *mem, *arch;
    int rc = sf__j_obj(c, root, "function", SF__J_REQUIRED, &fn);
    if (rc != SF_OK)
        return rc;
    sf__j_push_key(c, "function");
    static const char *const fn_keys[] = {"memory_mb",   "mb_per_vcpu", "billing_granularity",
                                          "request_fee", "payload_max", "arch",
                                          NULL};
    static const char *const mem_keys[] = {"min", "max", "step", NULL};
    static const char *const arch_keys[] = {"name", "price", NULL};
    rc = sf__j_known(c, fn, fn_keys);
    if (rc == SF_OK)
        rc = sf__j_obj(c, fn, "memory_mb", SF__J_REQUIRED, &mem);
    if (rc == SF_OK) {
        sf__j_push_key(c, "memory_mb");
        rc = sf__j_known(c, mem, mem_keys);
        if (rc == SF_OK)
            rc = sf__j_int(c, mem, "min", SF__J_REQUIRED, 1, SF_FN_MEM_MAX_MB, &p->fn_mem_min_mb);
        if (rc == SF_OK)
            rc = sf__j_int(c, mem, "max", SF__J_REQUIRED, 1, SF_FN_MEM_MAX_MB, &p->fn_mem_max_mb);
        if (rc == SF_OK)
            rc = sf__j_int(c, mem, "step", SF__J_REQUIRED, 1, SF_FN_MEM_MAX_MB, &p->fn_mem_step_mb);
        if (rc == SF_OK && p->fn_mem_max_mb < p->fn_mem_min_mb)
            rc = sf__j_fail(c, "max", SF_ERANGE, "smaller than min (%d < %d)", p->fn_mem_max_mb,
                            p->fn_mem_min_mb);
        sf__j_pop(c);
    }
    if (rc == SF_OK)
        rc = sf__j_int(c, fn, "mb_per_vcpu", SF__J_REQUIRED, 1, SF_FN_MEM_MAX_MB,
                       &p->fn_mb_per_vcpu);
    /* the planner enumerates every step (--any-memory) or every whole-vCPU multiple */
    if (rc == SF_OK &&
        (p->fn_mem_max_mb - p->fn_mem_min_mb) / p->fn_mem_step_mb + 1 > SF_FN_MAX_MEMORY_SIZES) {
        sf__j_push_key(c, "memory_mb");
        rc = sf__j_fail(
            c, "step", SF_ERANGE, "[%d, %d] MB in steps of %d MB is more than %d memory sizes",
            p->fn_mem_min_mb, p->fn_mem_max_mb, p->fn_mem_step_mb, SF_FN_MAX_MEMORY_SIZES);
        sf__j_pop(c);
    }
    if (rc == SF_OK && p->fn_mem_max_mb / p->fn_mb_per_vcpu > SF_FN_MAX_MEMORY_SIZES)
        rc = sf__j_fail(c, "mb_per_vcpu", SF_ERANGE,
                        "%d MB per vCPU up to %d MB is more than %d memory sizes (whole vCPUs)",
                        p->fn_mb_per_vcpu, p->fn_mem_max_mb, SF_FN_MAX_MEMORY_SIZES);
    if (rc == SF_OK)
        rc = sf__j_quantity(c, fn, "billing_granularity", SF__J_REQUIRED | SF__J_POSITIVE,
                            SF__Q_TIME_S, SF_MAX_BILLING_S, &p->fn_billing_granularity_s);
    if (rc == SF_OK)
        rc = sf__j_quantity(c, fn, "request_fee", SF__J_REQUIRED | SF__J_NONNEG, SF__Q_USD_PER_REQ,
                            SF_MAX_USD_PER_REQUEST, &p->fn_request_fee_usd);
    if (rc == SF_OK)
        rc = sf__j_quantity(c, fn, "payload_max", SF__J_REQUIRED | SF__J_POSITIVE, SF__Q_BYTES,
                            SF_MAX_REQUEST_BYTES, &p->fn_payload_max_bytes);
    if (rc == SF_OK)
        rc = sf__j_arr(c, fn, "arch", SF__J_REQUIRED, SF_ARRAY_LEN(p->fn_arch), &arch);
    if (rc == SF_OK && json_array_size(arch) == 0)
        rc = sf__j_fail(c, "arch", SF_EINVAL, "needs at least one architecture");
    if (rc == SF_OK) {
        sf__j_push_key(c, "arch");
        for (size_t i = 0; rc == SF_OK && i < json_array_size(arch); i++) {
            json_t *a = json_array_get(arch, i);
            struct sf_fn_arch *fa = &p->fn_arch[i];
            sf__j_push_index(c, i);
            if (!json_is_object(a))
                rc = sf__j_fail(c, NULL, SF_EINVAL, "expected an object");
            if (rc == SF_OK)
                rc = sf__j_known(c, a, arch_keys);
            if (rc == SF_OK)
                rc = sf__j_str(c, a, "name", SF__J_REQUIRED, fa->name, sizeof(fa->name));
            if (rc == SF_OK)
                rc = sf__j_quantity(c, a, "price", SF__J_REQUIRED | SF__J_POSITIVE,
                                    SF__Q_USD_PER_GB_S, SF_MAX_USD_PER_GB_S,
                                    &fa->price_usd_per_gb_s);
            sf__j_pop(c);
            p->n_fn_arch = i + 1;
        }
        sf__j_pop(c);
    }
    sf__j_pop(c);
    return rc;
}

int sf_pricing_parse(struct sf_pricing *p, const char *name, const char *text, size_t len,
                     struct sf_err *err)
{
    memset(p, 0, sizeof(*p));
    struct sf__jctx c = {.file = name, .text = text, .len = len, .err = err};
    json_t *root;
    int rc = sf__j_load(&c, &root);
    if (rc != SF_OK)
        return rc;
    static const char *const root_keys[] = {"format", "provider", "region", "as_of",
                                            "vm",     "function", NULL};
    rc = sf__j_format(&c, root, "serflow-pricing/1");
    if (rc == SF_OK)
        rc = sf__j_known(&c, root, root_keys);
    if (rc == SF_OK)
        rc = sf__j_str(&c, root, "provider", SF__J_REQUIRED, p->provider, sizeof(p->provider));
    if (rc == SF_OK)
        rc = sf__j_str(&c, root, "region", SF__J_REQUIRED, p->region, sizeof(p->region));
    if (rc == SF_OK)
        rc = sf__j_str(&c, root, "as_of", SF__J_REQUIRED, p->as_of, sizeof(p->as_of));
    if (rc == SF_OK)
        rc = parse_vm(&c, root, p);
    if (rc == SF_OK)
        rc = parse_function(&c, root, p);
    json_decref(root);
    return rc;
}

static int parse_any(void *out, const char *name, const char *text, size_t len, struct sf_err *err)
{
    return sf_pricing_parse(out, name, text, len, err);
}

int sf_pricing_load(struct sf_pricing *p, const char *path, struct sf_err *err)
{
    return sf__j_load_file(p, path, SF_MODEL_FILE_BYTES, parse_any, err);
}

const struct sf_vm_type *sf_pricing_vm(const struct sf_pricing *p, const char *name)
{
    for (size_t i = 0; i < p->n_vm; i++)
        if (!strcmp(p->vm[i].name, name))
            return &p->vm[i];
    return NULL;
}

double sf_pricing_fn_usd_per_s(const struct sf_pricing *p, size_t arch, int mem_mb)
{
    /* Lambda's GB-second counts memory in units of 1,024 MB. */
    return p->fn_arch[arch].price_usd_per_gb_s * (double)mem_mb / 1024.0;
}
