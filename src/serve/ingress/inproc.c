/*
 * inproc.c - the same-process fast path (`serve --inproc`): a provider (cloud.h's ops) whose
 * instances are runners of the model in the ingress's own process instead of `serflow worker`
 * processes. A batch for such an instance is run by the thread that dispatched it (dispatch.c),
 * straight from the batch the requests' bodies were copied into: no frame, no socket, no
 * second process.
 *
 * What it changes (docs/serving.md "Same-process instances"):
 *   - billing: the same rule as the local provider, the catalog's VM rules from launch to
 *     termination (per second, minimum per launch): an instance stands for the same VM;
 *   - isolation: none between the instances and the ingress. A fault in the model's runtime
 *     takes the ingress with it, an instance holds no identity of its own (there is no call to
 *     authenticate), and the instances share the ingress's cores and memory. So it is an option
 *     for a trusted model on one machine, and the worker processes stay the default.
 * Launch builds the runner on a thread of its own (the model is loaded once, shared read-only);
 * the instance is ready once it is built and its boot delay has passed. Only whole-model (IaaS)
 * paths run in-process: a hybrid path's tail fan-out needs a worker process.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

struct sf__local {
    struct sf_nn_runner *runner;
    struct sf_nn_batch batch;
    struct sf_nn_result *res;
    size_t res_cap;
};

struct islot {
    int used;
    struct sf_cloud_instance inst;
    double boot_delay_s;
    struct sf__local *local;
    int held; /* the ingress uses the runner (until sf__inproc_release) */
    pthread_t builder;
    int has_builder, built, build_failed;
    int threads;
};

struct inproc {
    struct sf__server *s;
    pthread_mutex_t mu;
    int next_id;
    int failures;
    struct islot slot[SF_CLOUD_MAX_INSTANCES];
    struct sf_meter ended;
};

static struct islot *by_id(struct inproc *p, int id)
{
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (p->slot[i].used && p->slot[i].inst.id == id)
            return &p->slot[i];
    return NULL;
}

static void local_free(struct sf__local *l)
{
    if (!l)
        return;
    sf_nn_runner_free(l->runner);
    sf_nn_batch_fini(&l->batch);
    free(l->res);
    free(l);
}

struct build_arg {
    struct inproc *p;
    struct islot *slot;
};

static void *build_main(void *arg)
{
    struct build_arg *a = arg;
    struct inproc *p = a->p;
    struct islot *sl = a->slot;
    free(a);
    struct sf_err err = {{0}};
    struct sf__local *l = calloc(1, sizeof(*l));
    struct sf_nn_opts o = {.threads = sl->threads};
    int rc = l ? sf_nn_runner_new_opts(p->s->model, p->s->cfg->backend, &o, &l->runner, &err)
               : SF_ENOMEM;
    if (rc == SF_OK) /* in the boot, before readiness, as a worker: not in the first batches */
        rc = sf_nn_runner_warm(l->runner, &err);
    if (l)
        sf_nn_batch_init(&l->batch);
    pthread_mutex_lock(&p->mu);
    if (rc == SF_OK) {
        sl->local = l;
        sl->built = 1;
    } else {
        sl->build_failed = 1;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc != SF_OK)
        local_free(l);
    return NULL;
}

static int ip_launch(void *ctx, int vm, double boot_delay_s, double now_s, int *id,
                     struct sf_err *err)
{
    struct inproc *p = ctx;
    const struct sf_pricing *price = p->s->cfg->price;
    if (vm < 0 || (size_t)vm >= price->n_vm)
        return sf_err_set(err, SF_EINVAL, "in-process provider: VM type %d not in the catalog", vm);
    pthread_mutex_lock(&p->mu);
    struct islot *sl = NULL;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES && !sl; i++)
        if (!p->slot[i].used && !p->slot[i].has_builder)
            sl = &p->slot[i];
    if (!sl) {
        pthread_mutex_unlock(&p->mu);
        return sf_err_set(err, SF_ETOOBIG, "in-process provider: %d instances already",
                          SF_CLOUD_MAX_INSTANCES);
    }
    memset(sl, 0, sizeof(*sl));
    sl->used = 1;
    sl->inst.id = ++p->next_id;
    sl->inst.state = SF_CLOUD_PENDING;
    sl->inst.vm = vm;
    sl->inst.launch_s = now_s;
    snprintf(sl->inst.endpoint, sizeof(sl->inst.endpoint), "in-process:%d", sl->inst.id);
    sl->boot_delay_s = boot_delay_s > 0 ? boot_delay_s : 0;
    sl->threads = price->vm[vm].vcpus > 0 ? price->vm[vm].vcpus : 1;
    struct build_arg *a = malloc(sizeof(*a));
    if (a) {
        a->p = p;
        a->slot = sl;
    }
    int rc = SF_OK;
    if (!a || pthread_create(&sl->builder, NULL, build_main, a) != 0) {
        free(a);
        sl->used = 0;
        rc = sf_err_set(err, SF_EIO, "in-process provider: cannot start a runner's builder");
    } else {
        sl->has_builder = 1;
        *id = sl->inst.id;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void ip_terminate(void *ctx, int id, double now_s)
{
    (void)now_s;
    struct inproc *p = ctx;
    pthread_mutex_lock(&p->mu);
    struct islot *sl = by_id(p, id);
    if (sl && sl->inst.state < SF_CLOUD_TERMINATING)
        sl->inst.state = SF_CLOUD_TERMINATING;
    pthread_mutex_unlock(&p->mu);
}

/* The instance ends: billed from launch to now (p->mu held). */
static void retire(struct inproc *p, struct islot *sl, double now_s)
{
    if (sl->inst.state != SF_CLOUD_TERMINATING) {
        sl->inst.failed = 1;
        p->failures++;
    }
    sl->inst.state = SF_CLOUD_GONE;
    sl->inst.end_s = now_s;
    sf_meter_vm(&p->ended, p->s->cfg->price, sl->inst.vm, now_s - sl->inst.launch_s);
}

static int ip_poll(void *ctx, double now_s, struct sf_cloud_instance *out, int cap)
{
    struct inproc *p = ctx;
    int n = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct islot *sl = &p->slot[i];
        if (!sl->used || sl->inst.state == SF_CLOUD_GONE)
            continue;
        if (sl->inst.state == SF_CLOUD_PENDING && sl->build_failed) {
            retire(p, sl, now_s);
            continue;
        }
        if (sl->inst.state == SF_CLOUD_PENDING && sl->built &&
            now_s - sl->inst.launch_s >= sl->boot_delay_s) {
            sl->inst.state = SF_CLOUD_READY;
            sl->inst.ready_s = now_s;
        }
        if (sl->inst.state == SF_CLOUD_TERMINATING) {
            /* it stops at once (the ingress finishes the batch in hand on the runner it holds) */
            retire(p, sl, now_s);
            continue;
        }
        if (n < cap)
            out[n++] = sl->inst;
    }
    /* slots whose instance is gone and whose runner the ingress gave back are free again */
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct islot *sl = &p->slot[i];
        if (sl->used && sl->inst.state == SF_CLOUD_GONE && !sl->held && sl->has_builder) {
            pthread_mutex_unlock(&p->mu);
            pthread_join(sl->builder, NULL);
            pthread_mutex_lock(&p->mu);
            sl->has_builder = 0;
            local_free(sl->local);
            sl->local = NULL;
            sl->used = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void ip_bill(void *ctx, double now_s, struct sf_meter *m)
{
    struct inproc *p = ctx;
    pthread_mutex_lock(&p->mu);
    sf_meter_merge(m, &p->ended);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (p->slot[i].used && p->slot[i].inst.state != SF_CLOUD_GONE)
            sf_meter_vm(m, p->s->cfg->price, p->slot[i].inst.vm, now_s - p->slot[i].inst.launch_s);
    pthread_mutex_unlock(&p->mu);
}

static int ip_failures(void *ctx)
{
    struct inproc *p = ctx;
    pthread_mutex_lock(&p->mu);
    int f = p->failures;
    pthread_mutex_unlock(&p->mu);
    return f;
}

static int ip_failing(void *ctx)
{
    (void)ctx;
    return 0;
}

static void ip_shutdown(void *ctx, double now_s)
{
    struct inproc *p = ctx;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct islot *sl = &p->slot[i];
        if (sl->has_builder)
            pthread_join(sl->builder, NULL);
        pthread_mutex_lock(&p->mu);
        if (sl->used && sl->inst.state != SF_CLOUD_GONE) {
            sl->inst.state = SF_CLOUD_TERMINATING;
            retire(p, sl, now_s);
        }
        local_free(sl->local);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static const struct sf_cloud_ops inproc_ops = {
    .name = "in-process",
    .launch = ip_launch,
    .terminate = ip_terminate,
    .poll = ip_poll,
    .bill = ip_bill,
    .failures = ip_failures,
    .failing = ip_failing,
    .shutdown = ip_shutdown,
};

int sf__inproc_new(struct sf__server *s, struct sf_err *err)
{
    const struct sf_path *path = &s->cfg->bind->path;
    if (path->has_instances && path->cut < s->n_stages)
        return sf_err_set(err, SF_EINVAL,
                          "--inproc: the path's instances run stages 1..%d and fan the rest out "
                          "to functions; only whole-model (IaaS) instances run in-process",
                          path->cut);
    struct inproc *p = calloc(1, sizeof(*p));
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    p->s = s;
    pthread_mutex_init(&p->mu, NULL);
    s->cloud.ops = &inproc_ops;
    s->cloud.ctx = p;
    s->have_cloud = 1;
    s->inproc = 1;
    return SF_OK;
}

struct sf__local *sf__inproc_runner(struct sf__server *s, int provider_id)
{
    struct inproc *p = s->cloud.ctx;
    pthread_mutex_lock(&p->mu);
    struct islot *sl = by_id(p, provider_id);
    struct sf__local *l = sl && sl->built ? sl->local : NULL;
    if (l)
        sl->held = 1;
    pthread_mutex_unlock(&p->mu);
    return l;
}

void sf__inproc_release(struct sf__server *s, int provider_id)
{
    struct inproc *p = s->cloud.ctx;
    pthread_mutex_lock(&p->mu);
    struct islot *sl = by_id(p, provider_id);
    if (sl)
        sl->held = 0;
    pthread_mutex_unlock(&p->mu);
}

struct sf_nn_batch *sf__inproc_batch(struct sf__local *l)
{
    return &l->batch;
}

int sf__inproc_run(struct sf__server *s, struct sf__local *l, struct sf__batch *b,
                   struct sf_serve_result *out, struct sf_err *err)
{
    if (l->res_cap < b->n) {
        struct sf_nn_result *r = realloc(l->res, b->n * sizeof(*r));
        if (!r)
            return sf_err_set(err, SF_ENOMEM, "out of memory");
        l->res = r;
        l->res_cap = b->n;
    }
    size_t done = 0;
    int rc =
        sf_nn_runner_run(l->runner, &l->batch, s->n_stages, s->cfg->bind->tau, l->res, &done, err);
    if (rc != SF_OK)
        return rc;
    if (done != b->n)
        return sf_err_set(err, SF_EINVAL, "in-process instance: %zu of %zu answered", done, b->n);
    for (size_t i = 0; i < done; i++)
        sf_serve_result_from_nn(&l->res[i], s->num_classes, s->n_stages, SF_WHERE_VM, &out[i]);
    return SF_OK;
}
