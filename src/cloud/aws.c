/*
 * aws.c - the aws instances provider: the workers are an EC2 Auto Scaling group's instances,
 * started by its launch template (deploy/aws); this provider sizes the group, sheds the chosen
 * instances, finds their addresses and their readiness, and bills their lifetimes.
 *
 * The ops run under the ingress's lock at every tick of its control loop, so they never call AWS:
 * they record what the controller wants (a launch is one more instance, a termination one
 * fewer) and copy out what the provider's thread last learnt. The thread does every call, each
 * with the aws module's retries and timeouts:
 *   1. DescribeAutoScalingGroups of the group every poll period: its MaxSize and the instances
 *      with their lifecycle. A new instance is given to the oldest launch still waiting for
 *      one; an instance that left the group without being asked is a failure; every listed
 *      instance that runs is billed from when it was first listed to when it is no longer.
 *   2. TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity for each chosen
 *      instance that has one (a launch that has none yet is simply one fewer in step 3).
 *   3. SetDesiredCapacity (HonorCooldown false) to the launches not terminated, plus those
 *      whose termination call has not gone through yet (at most MaxSize), when it changed or
 *      when the group says otherwise.
 *   4. EC2 DescribeInstances for the private addresses of instances in service, then readiness:
 *      the worker's GET /v1/health on ADDRESS:PORT, or "healthy" in DescribeTargetHealth.
 * A failed call (after its retries) leaves the last view in place and is tried again the next
 * period; the api op and the log say so, and the ingress keeps serving with what is ready.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloud_int.h"
#include "serflow/http.h"
#include "serflow/log.h"

/* Instances the group may list that the provider bills at once: the aws module's cap of one
 * describe. */
#define MAX_SEEN SF_AWS_MAX_INSTANCES

struct handle {
    int used;
    struct sf_cloud_instance inst;
    char iid[SF_AWS_ID_MAX]; /* "" until an instance of the group is given to this launch */
    char ip[SF_AWS_ID_MAX];  /* its private address, once known */
    int in_service;          /* its lifecycle is InService */
    int term;                /* the controller asked it to stop */
    int term_sent;           /* TerminateInstanceInAutoScalingGroup went through (or moot) */
};

struct seen {
    char iid[SF_AWS_ID_MAX];
    double first_s; /* the provider's clock */
    int listed;     /* in the last describe */
};

struct awsp {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int have_thread, quit, poke;
    /* configuration */
    char group[256], target_group[SF_AWS_URL_MAX];
    int port;
    double poll_s;
    int vm, authenticated;
    const struct sf_pricing *price;
    struct sf_aws_credp *creds;
    struct sf_aws_quota *quota, *own_quota;
    struct sf_aws_client *client; /* the thread's */
    /* what the controller wants and what the group showed (mu) */
    struct handle h[SF_CLOUD_MAX_INSTANCES];
    int next_id;
    int failures;
    struct seen *seen;
    int n_seen;
    struct sf_meter ended; /* instances no longer listed */
    int max_size;          /* the group's MaxSize, -1 until described */
    int last_set;          /* the desired capacity last set (or read), -1: not yet */
    int need_set;          /* set it again (the group showed another value) */
    double offset_s;       /* sf_monotonic_s() - the caller's clock */
    struct sf_cloud_api api;
};

static double now_of(struct awsp *p)
{
    return sf_monotonic_s() - p->offset_s;
}

/* Counts one API call (mu not held): the log says when the API starts and stops failing. */
static void api_result(struct awsp *p, const char *op, int rc, const struct sf_err *err)
{
    pthread_mutex_lock(&p->mu);
    int was = p->api.failing;
    p->api.calls++;
    if (rc == SF_OK) {
        p->api.failing = 0;
    } else {
        p->api.failing++;
        p->api.errors++;
        snprintf(p->api.last_error, sizeof(p->api.last_error), "%.40s: %.200s", op, err->msg);
    }
    int now = p->api.failing;
    pthread_mutex_unlock(&p->mu);
    if (!was && now)
        sf_log(SF_LOG_WARN, "provider API failing", SF_LS("provider", "aws"), SF_LS("op", op),
               SF_LS("error", err->msg), SF_LS("serving", "ready workers and functions"),
               SF_LN("retry_s", p->poll_s));
    else if (was && !now)
        sf_log(SF_LOG_INFO, "provider API answers again", SF_LS("provider", "aws"), SF_LS("op", op),
               SF_LI("failed_calls", was));
}

static struct handle *by_id(struct awsp *p, int id)
{
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (p->h[i].used && p->h[i].inst.id == id)
            return &p->h[i];
    return NULL;
}

static void retire(struct awsp *p, struct handle *h, double now)
{
    if (!h->term) {
        h->inst.failed = 1;
        p->failures++;
    }
    h->inst.state = SF_CLOUD_GONE;
    h->inst.end_s = now;
    h->used = 0;
}

/* The desired capacity the group must have now (mu held): launches not terminated, and those
 * whose termination has not gone through yet (the group still counts them). */
static int desired_of(const struct awsp *p)
{
    int n = 0;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        const struct handle *h = &p->h[i];
        if (h->used && (!h->term || (h->iid[0] && !h->term_sent)))
            n++;
    }
    return n;
}

static int active_of(const struct awsp *p)
{
    int n = 0;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        n += p->h[i].used && !p->h[i].term;
    return n;
}

/* ---- the ops (under the ingress's lock: no call to AWS here) ---- */

static void sync_clock(struct awsp *p, double now_s)
{
    p->offset_s = sf_monotonic_s() - now_s;
}

static int aws_launch(void *ctx, int vm, double boot_delay_s, double now_s, int *id,
                      struct sf_err *err)
{
    (void)boot_delay_s; /* the group's instances boot in their own time */
    struct awsp *p = ctx;
    if (vm != p->vm)
        return sf_err_set(err, SF_EINVAL,
                          "aws provider: the group runs VM type %d, not %d (its launch template)",
                          p->vm, vm);
    pthread_mutex_lock(&p->mu);
    sync_clock(p, now_s);
    struct handle *h = NULL;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES && !h; i++)
        if (!p->h[i].used)
            h = &p->h[i];
    int rc = SF_OK;
    if (!h)
        rc = sf_err_set(err, SF_ETOOBIG, "aws provider: %d instances already",
                        SF_CLOUD_MAX_INSTANCES);
    else if (p->max_size >= 0 && active_of(p) >= p->max_size)
        rc = sf_err_set(err, SF_ETOOBIG, "aws provider: the group %s is at its MaxSize %d",
                        p->group, p->max_size);
    if (rc == SF_OK) {
        memset(h, 0, sizeof(*h));
        h->used = 1;
        h->inst.id = ++p->next_id;
        h->inst.state = SF_CLOUD_PENDING;
        h->inst.vm = vm;
        h->inst.launch_s = now_s;
        h->inst.authenticated = p->authenticated;
        if (p->authenticated)
            snprintf(h->inst.principal, sizeof(h->inst.principal), "%s", SF_CLOUD_AWS_PRINCIPAL);
        *id = h->inst.id;
        p->poke = 1;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void aws_terminate(void *ctx, int id, double now_s)
{
    struct awsp *p = ctx;
    pthread_mutex_lock(&p->mu);
    sync_clock(p, now_s);
    struct handle *h = by_id(p, id);
    if (h && !h->term) {
        h->term = 1;
        h->inst.state = SF_CLOUD_TERMINATING;
        if (!h->iid[0]) /* no instance yet: one fewer is all it takes */
            retire(p, h, now_s);
        p->poke = 1;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

static int aws_poll(void *ctx, double now_s, struct sf_cloud_instance *out, int cap)
{
    struct awsp *p = ctx;
    int n = 0;
    pthread_mutex_lock(&p->mu);
    sync_clock(p, now_s);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES && n < cap; i++)
        if (p->h[i].used)
            out[n++] = p->h[i].inst;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void aws_bill(void *ctx, double now_s, struct sf_meter *m)
{
    struct awsp *p = ctx;
    pthread_mutex_lock(&p->mu);
    sync_clock(p, now_s);
    sf_meter_merge(m, &p->ended);
    for (int i = 0; i < p->n_seen; i++)
        sf_meter_vm(m, p->price, p->vm, now_s - p->seen[i].first_s);
    pthread_mutex_unlock(&p->mu);
}

static int aws_failures(void *ctx)
{
    struct awsp *p = ctx;
    pthread_mutex_lock(&p->mu);
    int n = p->failures;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static int aws_failing(void *ctx)
{
    (void)ctx; /* the group backs off failed launches itself */
    return 0;
}

static void aws_api(void *ctx, struct sf_cloud_api *out)
{
    struct awsp *p = ctx;
    pthread_mutex_lock(&p->mu);
    *out = p->api;
    pthread_mutex_unlock(&p->mu);
}

/* ---- the thread ---- */

static int running_state(const char *lifecycle)
{
    return strcmp(lifecycle, "Terminated") != 0 && strcmp(lifecycle, "Detached") != 0 &&
           strncmp(lifecycle, "Warmed", 6) != 0;
}

static int serving_state(const char *lifecycle)
{
    return !strncmp(lifecycle, "Pending", 7) || !strcmp(lifecycle, "InService");
}

/* Takes a describe's answer in (mu held). */
static void take_group(struct awsp *p, const struct sf_aws_asg *g, double now)
{
    p->max_size = g->max_size;
    if (p->last_set >= 0 && g->desired_capacity != p->last_set)
        p->need_set = 1; /* changed behind our back, or a call we could not see through */
    /* billing: what runs, from when it was first listed */
    for (int i = 0; i < p->n_seen; i++)
        p->seen[i].listed = 0;
    for (int k = 0; k < g->n_instances; k++) {
        const struct sf_aws_asg_instance *in = &g->instances[k];
        if (!running_state(in->lifecycle_state))
            continue;
        int j = 0;
        while (j < p->n_seen && strcmp(p->seen[j].iid, in->instance_id) != 0)
            j++;
        if (j == p->n_seen && p->n_seen < MAX_SEEN) {
            snprintf(p->seen[j].iid, sizeof(p->seen[j].iid), "%s", in->instance_id);
            p->seen[j].first_s = now;
            p->n_seen++;
        }
        if (j < p->n_seen)
            p->seen[j].listed = 1;
    }
    for (int i = 0; i < p->n_seen;) {
        if (p->seen[i].listed) {
            i++;
            continue;
        }
        sf_meter_vm(&p->ended, p->price, p->vm, now - p->seen[i].first_s);
        p->seen[i] = p->seen[--p->n_seen];
    }
    /* the launches' instances: a bound one that left, a new one given to the oldest launch */
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct handle *h = &p->h[i];
        if (!h->used || !h->iid[0])
            continue;
        const struct sf_aws_asg_instance *in = NULL;
        for (int k = 0; k < g->n_instances && !in; k++)
            if (!strcmp(g->instances[k].instance_id, h->iid))
                in = &g->instances[k];
        if (!in || !serving_state(in->lifecycle_state)) {
            if (h->term || !in || !running_state(in->lifecycle_state)) {
                retire(p, h, now); /* asked to stop and leaving, or gone on its own */
            } else { /* leaving without being asked: a failure; nothing to terminate */
                h->term = h->term_sent = 1;
                h->inst.failed = 1;
                p->failures++;
                h->inst.state = SF_CLOUD_TERMINATING;
            }
            continue;
        }
        h->in_service = !strcmp(in->lifecycle_state, "InService");
    }
    for (int k = 0; k < g->n_instances; k++) {
        const struct sf_aws_asg_instance *in = &g->instances[k];
        if (!serving_state(in->lifecycle_state))
            continue;
        int bound = 0;
        for (int i = 0; i < SF_CLOUD_MAX_INSTANCES && !bound; i++)
            bound = p->h[i].used && !strcmp(p->h[i].iid, in->instance_id);
        if (bound)
            continue;
        struct handle *oldest = NULL;
        for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
            struct handle *h = &p->h[i];
            if (h->used && !h->term && !h->iid[0] && (!oldest || h->inst.id < oldest->inst.id))
                oldest = h;
        }
        if (!oldest)
            break; /* not ours (yet): billed, not served */
        snprintf(oldest->iid, sizeof(oldest->iid), "%s", in->instance_id);
        oldest->in_service = !strcmp(in->lifecycle_state, "InService");
    }
}

/* One reconciliation: describe, terminate, size, addresses, readiness. */
static void reconcile(struct awsp *p, int describe)
{
    struct sf_err err = {{0}};
    int rc;
    if (describe) {
        struct sf_aws_asg g;
        rc = sf_aws_asg_describe(p->client, p->group, &g, NULL, &err);
        api_result(p, "DescribeAutoScalingGroups", rc, &err);
        if (rc == SF_OK) {
            pthread_mutex_lock(&p->mu);
            if (p->last_set < 0)
                p->last_set = g.desired_capacity;
            take_group(p, &g, now_of(p));
            pthread_mutex_unlock(&p->mu);
        }
        sf_aws_asg_fini(&g);
    }
    /* terminations of chosen instances */
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        char iid[SF_AWS_ID_MAX] = "";
        pthread_mutex_lock(&p->mu);
        struct handle *h = &p->h[i];
        if (h->used && h->term && h->iid[0] && !h->term_sent)
            snprintf(iid, sizeof(iid), "%s", h->iid);
        pthread_mutex_unlock(&p->mu);
        if (!iid[0])
            continue;
        struct sf_aws_call_info info;
        rc = sf_aws_asg_terminate(p->client, iid, 1, &info, &err);
        /* a ValidationError: the instance is no longer the group's to terminate (gone already) */
        int moot = rc != SF_OK && info.outcome == SF_AWS_CLIENT_ERROR;
        api_result(p, "TerminateInstanceInAutoScalingGroup", moot ? SF_OK : rc, &err);
        pthread_mutex_lock(&p->mu);
        if (h->used && !strcmp(h->iid, iid) && (rc == SF_OK || moot)) {
            h->term_sent = 1;
            if (rc == SF_OK && p->last_set > 0)
                p->last_set--; /* the call took the desired capacity down by one */
            else
                p->need_set = 1;
        }
        pthread_mutex_unlock(&p->mu);
        if (rc == SF_OK)
            sf_log(SF_LOG_INFO, "provider terminate", SF_LS("provider", "aws"),
                   SF_LS("group", p->group), SF_LS("ec2_instance", iid),
                   SF_LI("desired_capacity", p->last_set));
    }
    /* the desired capacity */
    pthread_mutex_lock(&p->mu);
    int want = desired_of(p);
    if (p->max_size >= 0 && want > p->max_size)
        want = p->max_size;
    int set = want != p->last_set || p->need_set;
    pthread_mutex_unlock(&p->mu);
    if (set) {
        rc = sf_aws_asg_set_desired(p->client, p->group, want, NULL, &err);
        api_result(p, "SetDesiredCapacity", rc, &err);
        if (rc == SF_OK) {
            pthread_mutex_lock(&p->mu);
            p->last_set = want;
            p->need_set = 0;
            pthread_mutex_unlock(&p->mu);
            sf_log(SF_LOG_INFO, "provider desired capacity", SF_LS("provider", "aws"),
                   SF_LS("group", p->group), SF_LI("desired_capacity", want));
        }
    }
    /* addresses of the instances in service that have none yet */
    const char *ids[SF_CLOUD_MAX_INSTANCES];
    char idbuf[SF_CLOUD_MAX_INSTANCES][SF_AWS_ID_MAX];
    int n = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        struct handle *h = &p->h[i];
        if (h->used && !h->term && h->in_service && !h->ip[0]) {
            snprintf(idbuf[n], sizeof(idbuf[n]), "%s", h->iid);
            ids[n] = idbuf[n];
            n++;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (n) {
        struct sf_aws_ec2_instance out[SF_CLOUD_MAX_INSTANCES];
        int got = 0;
        rc = sf_aws_ec2_describe_instances(p->client, ids, n, out, SF_CLOUD_MAX_INSTANCES, &got,
                                           NULL, &err);
        api_result(p, "DescribeInstances", rc, &err);
        pthread_mutex_lock(&p->mu);
        for (int k = 0; rc == SF_OK && k < got; k++)
            for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
                if (p->h[i].used && !strcmp(p->h[i].iid, out[k].instance_id) &&
                    !strcmp(out[k].state, "running") && out[k].private_ip[0])
                    snprintf(p->h[i].ip, sizeof(p->h[i].ip), "%s", out[k].private_ip);
        pthread_mutex_unlock(&p->mu);
    }
    /* readiness: the target group's health, or each worker's own health endpoint */
    struct sf_aws_target_health th[SF_CLOUD_MAX_INSTANCES];
    int n_th = -1;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++) {
        char ip[SF_AWS_ID_MAX] = "", iid[SF_AWS_ID_MAX] = "";
        pthread_mutex_lock(&p->mu);
        struct handle *h = &p->h[i];
        if (h->used && !h->term && h->ip[0] && h->inst.state == SF_CLOUD_PENDING) {
            snprintf(ip, sizeof(ip), "%s", h->ip);
            snprintf(iid, sizeof(iid), "%s", h->iid);
        }
        pthread_mutex_unlock(&p->mu);
        if (!ip[0])
            continue;
        int ready = 0;
        if (p->target_group[0]) {
            if (n_th < 0) {
                rc = sf_aws_elbv2_target_health(p->client, p->target_group, th,
                                                SF_CLOUD_MAX_INSTANCES, &n_th, NULL, &err);
                api_result(p, "DescribeTargetHealth", rc, &err);
                if (rc != SF_OK)
                    n_th = 0;
            }
            for (int k = 0; k < n_th && !ready; k++)
                ready = !strcmp(th[k].target_id, iid) && !strcmp(th[k].state, "healthy");
        } else {
            char url[SF_AWS_ID_MAX + 48];
            snprintf(url, sizeof(url), "http://%s:%d/v1/health", ip, p->port);
            long status = 0;
            struct sf_err herr = {{0}};
            ready = sf_http_request(NULL, url, NULL, 0, NULL, SF_CLOUD_AWS_PROBE_TIMEOUT_S, &status,
                                    NULL, NULL, NULL, &herr) == SF_OK &&
                    status == 200;
        }
        if (!ready)
            continue;
        pthread_mutex_lock(&p->mu);
        if (h->used && !strcmp(h->iid, iid) && h->inst.state == SF_CLOUD_PENDING) {
            h->inst.state = SF_CLOUD_READY;
            h->inst.ready_s = now_of(p);
            snprintf(h->inst.endpoint, sizeof(h->inst.endpoint), "%s:%d", ip, p->port);
        }
        pthread_mutex_unlock(&p->mu);
    }
}

static void *aws_main(void *arg)
{
    struct awsp *p = arg;
    double last_describe = -1e9;
    pthread_mutex_lock(&p->mu);
    while (!p->quit) {
        p->poke = 0;
        pthread_mutex_unlock(&p->mu);
        double t = sf_monotonic_s();
        int describe = t - last_describe >= p->poll_s;
        if (describe)
            last_describe = t;
        reconcile(p, describe);
        pthread_mutex_lock(&p->mu);
        if (p->quit || p->poke)
            continue;
        double wait = last_describe + p->poll_s - sf_monotonic_s();
        sf_cond_wait_s(&p->cv, &p->mu, wait);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void free_awsp(struct awsp *p)
{
    sf_aws_client_free(p->client);
    sf_aws_quota_free(p->own_quota);
    free(p->seen);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void aws_shutdown(void *ctx, double now_s)
{
    struct awsp *p = ctx;
    pthread_mutex_lock(&p->mu);
    sync_clock(p, now_s);
    p->quit = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->have_thread)
        pthread_join(p->thread, NULL);
    /* the controller is gone: so are its workers (as the local provider stops its processes) */
    struct sf_err err = {{0}};
    int rc = sf_aws_asg_set_desired(p->client, p->group, 0, NULL, &err);
    api_result(p, "SetDesiredCapacity", rc, &err);
    if (rc == SF_OK)
        sf_log(SF_LOG_INFO, "provider desired capacity", SF_LS("provider", "aws"),
               SF_LS("group", p->group), SF_LI("desired_capacity", 0), SF_LB("stopping", 1));
    else
        sf_log(SF_LOG_ERROR, "provider stop failed", SF_LS("provider", "aws"),
               SF_LS("group", p->group), SF_LS("error", err.msg),
               SF_LS("left", "the group's desired capacity; set it to 0 by hand"));
    free_awsp(p);
}

static const struct sf_cloud_ops aws_ops = {
    .name = "aws",
    .launch = aws_launch,
    .terminate = aws_terminate,
    .poll = aws_poll,
    .bill = aws_bill,
    .failures = aws_failures,
    .failing = aws_failing,
    .shutdown = aws_shutdown,
    .api = aws_api,
};

int sf_cloud_aws_new(struct sf_cloud *out, const struct sf_cloud_aws_cfg *cfg, struct sf_err *err)
{
    const struct sf_cloud_aws_opts *o = cfg->opts;
    if (!o->group || !*o->group || strlen(o->group) > 255)
        return sf_err_set(err, SF_EINVAL,
                          "aws provider: the Auto Scaling group's name (1..255 "
                          "bytes) is required");
    if (o->worker_port < 1 || o->worker_port > 65535)
        return sf_err_set(err, SF_EINVAL, "aws provider: worker port %d: expected 1..65535",
                          o->worker_port);
    if (o->target_group_arn && strlen(o->target_group_arn) >= SF_AWS_URL_MAX)
        return sf_err_set(err, SF_EINVAL, "aws provider: target group ARN too long");
    if (!cfg->creds || !cfg->price || cfg->vm < 0 || (size_t)cfg->vm >= cfg->price->n_vm)
        return sf_err_set(err, SF_EINVAL, "aws provider: credentials and a VM type are required");
    struct awsp *p = calloc(1, sizeof(*p));
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "aws provider: out of memory");
    pthread_mutex_init(&p->mu, NULL);
    if (sf_cond_init_monotonic(&p->cv) != SF_OK) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return sf_err_set(err, SF_EIO, "aws provider: cannot make a condition variable");
    }
    snprintf(p->group, sizeof(p->group), "%s", o->group);
    snprintf(p->target_group, sizeof(p->target_group), "%s",
             o->target_group_arn ? o->target_group_arn : "");
    p->port = o->worker_port;
    p->poll_s = o->poll_s > 0 ? o->poll_s : SF_CLOUD_AWS_POLL_S;
    p->vm = cfg->vm;
    p->price = cfg->price;
    p->authenticated = cfg->authenticated;
    p->creds = cfg->creds;
    p->max_size = p->last_set = -1;
    p->offset_s = sf_monotonic_s();
    p->seen = calloc(MAX_SEEN, sizeof(*p->seen));
    p->quota = cfg->quota;
    int rc = SF_OK;
    if (!p->seen ||
        (!p->quota && !(p->quota = p->own_quota = sf_aws_quota_new(SF_AWS_RETRY_QUOTA))))
        rc = sf_err_set(err, SF_ENOMEM, "aws provider: out of memory");
    if (rc == SF_OK) {
        struct sf_aws_client_cfg cc;
        memset(&cc, 0, sizeof(cc));
        cc.region = o->region;
        cc.endpoint_url = o->endpoint_url;
        for (int s = 0; s < SF_AWS_N_SERVICES; s++)
            cc.endpoint[s] = o->endpoint[s];
        cc.max_attempts = o->max_attempts;
        cc.timeout_s = o->timeout_s;
        cc.creds = p->creds;
        cc.quota = p->quota;
        rc = sf_aws_client_new(&p->client, &cc, err);
    }
    if (rc == SF_OK) {
        if (pthread_create(&p->thread, NULL, aws_main, p) != 0)
            rc = sf_err_set(err, SF_EIO, "aws provider: cannot start its thread");
        else
            p->have_thread = 1;
    }
    if (rc != SF_OK) {
        free_awsp(p);
        return rc;
    }
    out->ops = &aws_ops;
    out->ctx = p;
    return SF_OK;
}
