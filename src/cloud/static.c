/*
 * static.c - the static provider: instances that already run somewhere (`serflow worker`
 * processes started by someone else, or VMs of a fixed fleet), given by their endpoints. Launch
 * takes the next unused endpoint, which is ready at once; terminate gives it back. Billed like the
 * local provider, from launch to termination. Used by benchmarks that must put the ingress and
 * another proxy in front of the same workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/cloud.h"

struct slot {
    char endpoint[128];
    int in_use;
    struct sf_cloud_instance inst;
};

struct fixed {
    struct slot slot[SF_CLOUD_MAX_INSTANCES];
    int n;
    int next_id;
    const struct sf_pricing *price;
    struct sf_meter ended;
};

static int st_launch(void *ctx, int vm, double boot_delay_s, double now_s, int *id,
                     struct sf_err *err)
{
    (void)boot_delay_s; /* already running */
    struct fixed *f = ctx;
    for (int i = 0; i < f->n; i++) {
        struct slot *s = &f->slot[i];
        if (s->in_use)
            continue;
        s->in_use = 1;
        memset(&s->inst, 0, sizeof(s->inst));
        s->inst.id = ++f->next_id;
        s->inst.state = SF_CLOUD_READY;
        s->inst.vm = vm;
        s->inst.launch_s = s->inst.ready_s = now_s;
        memcpy(s->inst.endpoint, s->endpoint, sizeof(s->inst.endpoint));
        *id = s->inst.id;
        return SF_OK;
    }
    return sf_err_set(err, SF_ETOOBIG, "static provider: all %d workers in use", f->n);
}

static void st_terminate(void *ctx, int id, double now_s)
{
    struct fixed *f = ctx;
    for (int i = 0; i < f->n; i++)
        if (f->slot[i].in_use && f->slot[i].inst.id == id) {
            f->slot[i].in_use = 0;
            sf_meter_vm(&f->ended, f->price, f->slot[i].inst.vm, now_s - f->slot[i].inst.launch_s);
        }
}

static int st_poll(void *ctx, double now_s, struct sf_cloud_instance *out, int cap)
{
    (void)now_s;
    struct fixed *f = ctx;
    int n = 0;
    for (int i = 0; i < f->n && n < cap; i++)
        if (f->slot[i].in_use)
            out[n++] = f->slot[i].inst;
    return n;
}

static void st_bill(void *ctx, double now_s, struct sf_meter *m)
{
    struct fixed *f = ctx;
    sf_meter_merge(m, &f->ended);
    for (int i = 0; i < f->n; i++)
        if (f->slot[i].in_use)
            sf_meter_vm(m, f->price, f->slot[i].inst.vm, now_s - f->slot[i].inst.launch_s);
}

static int st_failures(void *ctx)
{
    (void)ctx;
    return 0;
}

static int st_failing(void *ctx)
{
    (void)ctx;
    return 0;
}

static void st_shutdown(void *ctx, double now_s)
{
    (void)now_s;
    free(ctx); /* the workers are not ours to stop */
}

static const struct sf_cloud_ops static_ops = {
    .name = "static",
    .launch = st_launch,
    .terminate = st_terminate,
    .poll = st_poll,
    .bill = st_bill,
    .failures = st_failures,
    .failing = st_failing,
    .shutdown = st_shutdown,
    .api = NULL,
};

int sf_cloud_static_new(struct sf_cloud *out, const char *const *endpoints, int n,
                        const struct sf_pricing *price, struct sf_err *err)
{
    if (n < 1 || n > SF_CLOUD_MAX_INSTANCES)
        return sf_err_set(err, SF_EINVAL, "static provider: %d workers, want 1..%d", n,
                          SF_CLOUD_MAX_INSTANCES);
    struct fixed *f = calloc(1, sizeof(*f));
    if (!f)
        return sf_err_set(err, SF_ENOMEM, "static provider: out of memory");
    for (int i = 0; i < n; i++) {
        if (strlen(endpoints[i]) >= sizeof(f->slot[i].endpoint)) {
            free(f);
            return sf_err_set(err, SF_EINVAL, "static provider: endpoint '%.40s...' too long",
                              endpoints[i]);
        }
        snprintf(f->slot[i].endpoint, sizeof(f->slot[i].endpoint), "%s", endpoints[i]);
    }
    f->n = n;
    f->price = price;
    out->ops = &static_ops;
    out->ctx = f;
    return SF_OK;
}
