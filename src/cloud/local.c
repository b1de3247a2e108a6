/*
 * local.c - the local provider: a "VM instance" is a `serflow worker` process on this machine.
 * Launch spawns it (its VM type's vCPUs as its thread count), poll turns its readiness line into
 * READY and its exit into GONE, terminate sends SIGTERM (it drains its batch) and, after the
 * grace time, SIGKILL to its group. Each instance is billed by the catalog's VM rules (per
 * second, minimum per launch) from launch to exit. Instances that exit before they become ready
 * make the provider back off its launches exponentially (SF_CLOUD_BACKOFF_*), so a worker that
 * cannot start costs a few launches, not one per poll. Each worker gets its identity
 * "worker:<id>" (derived from the root) on a pipe at its start, never in argv.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/cloud.h"

struct slot {
    int used;
    struct sf_cloud_instance inst;
    struct sf_proc proc;
    double term_s; /* when terminate was asked, 0 if never */
};

struct local {
    int (*worker_argv)(void *ctx, int vm, double boot_delay_s, int ready_fd, struct sf_argv *out,
                       struct sf_err *err);
    void *argv_ctx;
    struct sf_argv argv; /* the launch being written */
    const struct sf_pricing *price;
    double grace_s;
    int next_id;
    int failures;
    struct slot slot[SF_CLOUD_MAX_INSTANCES];
    struct sf_meter ended; /* bill of instances that are gone */
    struct sf_auth root;
    int fails_in_row;     /* launches in a row that never became ready */
    double next_launch_s; /* back-off: no launch before */
};

static struct slot *by_id(struct local *l, int id)
{
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (l->slot[i].used && l->slot[i].inst.id == id)
            return &l->slot[i];
    return NULL;
}

static int local_launch(void *ctx, int vm, double boot_delay_s, double now_s, int *id,
                        struct sf_err *err)
{
    struct local *l = ctx;
    if (vm < 0 || (size_t)vm >= l->price->n_vm)
        return sf_err_set(err, SF_EINVAL, "local provider: VM type %d not in the catalog", vm);
    if (l->fails_in_row && now_s < l->next_launch_s)
        return sf_err_set(err, SF_EIO,
                          "local provider: backing off after %d launches that never became "
                          "ready (next in %.1f s)",
                          l->fails_in_row, l->next_launch_s - now_s);
    struct slot *s = NULL;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES && !s; i++)
        if (!l->slot[i].used)
            s = &l->slot[i];
    if (!s)
        return sf_err_set(err, SF_ETOOBIG, "local provider: %d instances already",
                          SF_CLOUD_MAX_INSTANCES);
    sf_argv_init(&l->argv);
    int arc = l->worker_argv(l->argv_ctx, vm, boot_delay_s > 0 ? boot_delay_s : 0, SF_PROC_READY_FD,
                             &l->argv, err);
    if (arc != SF_OK)
        return arc;
    memset(s, 0, sizeof(*s));
    int new_id = l->next_id + 1;
    char line[SF_AUTH_PRINCIPAL_MAX + 2 * SF_AUTH_KEY_BYTES + 8] = "";
    if (l->root.set) {
        char principal[32];
        struct sf_auth who;
        snprintf(principal, sizeof(principal), "worker:%d", new_id);
        int rc = sf_auth_derive(&l->root, principal, &who, err);
        if (rc)
            return rc;
        sf_auth_line(&who, line, sizeof(line));
    }
    int rc = sf_proc_spawn(&s->proc, l->argv.v, NULL, l->root.set ? line : NULL, err);
    memset(line, 0, sizeof(line));
    if (rc)
        return rc; /* never started: not billed, as a launch EC2 refuses */
    s->used = 1;
    l->next_id = new_id;
    s->inst.id = new_id;
    s->inst.authenticated = l->root.set;
    s->inst.state = SF_CLOUD_PENDING;
    s->inst.vm = vm;
    s->inst.launch_s = now_s;
    *id = s->inst.id;
    return SF_OK;
}

static void local_terminate(void *ctx, int id, double now_s)
{
    struct local *l = ctx;
    struct slot *s = by_id(l, id);
    if (!s || s->inst.state >= SF_CLOUD_TERMINATING)
        return;
    s->inst.state = SF_CLOUD_TERMINATING;
    s->term_s = now_s;
    sf_proc_signal(&s->proc, SIGTERM);
}

static void retire(struct local *l, struct slot *s, double now_s)
{
    if (s->inst.state != SF_CLOUD_TERMINATING) {
        s->inst.failed = 1;
        l->failures++;
    }
    if (s->inst.state == SF_CLOUD_PENDING) { /* it never became ready: back off */
        l->fails_in_row++;
        double b = SF_CLOUD_BACKOFF_BASE_S;
        for (int i = 1; i < l->fails_in_row && b < SF_CLOUD_BACKOFF_MAX_S; i++)
            b *= 2;
        l->next_launch_s = now_s + (b < SF_CLOUD_BACKOFF_MAX_S ? b : SF_CLOUD_BACKOFF_MAX_S);
    }
    s->inst.state = SF_CLOUD_GONE;
    s->inst.end_s = now_s;
    sf_meter_vm(&l->ended, l->price, s->inst.vm, now_s - s->inst.launch_s);
    sf_proc_stop(&s->proc, 0); /* closes the pipe; already reaped */
    s->used = 0;
}

static int local_poll(void *ctx, double now_s, struct sf_cloud_instance *out, int cap)
{
    struct local *l = ctx;
    int n = 0;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct slot *s = &l->slot[i];
        if (!s->used)
            continue;
        if (s->inst.state == SF_CLOUD_PENDING && sf_proc_poll_ready(&s->proc)) {
            s->inst.state = SF_CLOUD_READY;
            s->inst.ready_s = now_s;
            l->fails_in_row = 0;
            _Static_assert(sizeof(s->inst.endpoint) == sizeof(s->proc.endpoint), "endpoint sizes");
            memcpy(s->inst.endpoint, s->proc.endpoint, sizeof(s->inst.endpoint));
        }
        if (sf_proc_reap(&s->proc)) {
            retire(l, s, now_s);
            continue;
        }
        if (s->inst.state == SF_CLOUD_TERMINATING && now_s - s->term_s > l->grace_s)
            sf_proc_signal(&s->proc, SIGKILL);
        if (n < cap)
            out[n++] = s->inst;
    }
    return n;
}

static void local_bill(void *ctx, double now_s, struct sf_meter *m)
{
    struct local *l = ctx;
    sf_meter_merge(m, &l->ended);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (l->slot[i].used)
            sf_meter_vm(m, l->price, l->slot[i].inst.vm, now_s - l->slot[i].inst.launch_s);
}

static int local_failures(void *ctx)
{
    return ((struct local *)ctx)->failures;
}

static int local_failing(void *ctx)
{
    return ((struct local *)ctx)->fails_in_row;
}

static void local_shutdown(void *ctx, double now_s)
{
    struct local *l = ctx;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (l->slot[i].used)
            sf_proc_signal(&l->slot[i].proc, SIGTERM);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (l->slot[i].used) {
            l->slot[i].inst.state = SF_CLOUD_TERMINATING;
            sf_proc_stop(&l->slot[i].proc, l->grace_s);
            retire(l, &l->slot[i], now_s);
        }
    free(l);
}

static const struct sf_cloud_ops local_ops = {
    .name = "local",
    .launch = local_launch,
    .terminate = local_terminate,
    .poll = local_poll,
    .bill = local_bill,
    .failures = local_failures,
    .failing = local_failing,
    .shutdown = local_shutdown,
};

int sf_cloud_local_new(struct sf_cloud *out, const struct sf_cloud_local_cfg *cfg,
                       struct sf_err *err)
{
    struct local *l = calloc(1, sizeof(*l));
    if (!l)
        return sf_err_set(err, SF_ENOMEM, "local provider: out of memory");
    if (!cfg->worker_argv) {
        free(l);
        return sf_err_set(err, SF_EINVAL, "local provider: no worker command");
    }
    l->worker_argv = cfg->worker_argv;
    l->argv_ctx = cfg->argv_ctx;
    l->price = cfg->price;
    l->grace_s = cfg->stop_grace_s > 0 ? cfg->stop_grace_s : 2.0;
    if (cfg->root)
        l->root = *cfg->root;
    out->ops = &local_ops;
    out->ctx = l;
    return SF_OK;
}
