/*
 * lambda.c - the local function runtime: `serflow lambda`. Clients speak the AWS Lambda Invoke
 * API (POST /2015-03-31/functions/{name}/invocations); function instances (`serflow function`
 * processes, started on demand) speak the Lambda Runtime API (/2018-06-01/runtime/invocation/
 * next, .../{id}/response, .../{id}/error). An invocation waits in a FIFO until an instance
 * polls; with no idle instance and fewer than the concurrency cap, one more is started (a cold
 * start: process start + model load + the configured delay). Instances idle longer than the idle
 * timeout are stopped. An invocation running past the timeout has its instance killed and
 * answers Sandbox.Timedout; an instance that dies mid-invocation answers Runtime.ExitError; both
 * with X-Amz-Function-Error, as Lambda does. Billing: duration (plus the init time of a cold
 * start) rounded up to 1 ms x GB, plus the request fee; served on GET /metrics.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "wire/httpd.h"
#include "serflow/cloud.h"
#include "serflow/wire.h"
#include "serflow/billing.h"
#include "serflow/lambda.h"

/* Connections: every instance holds one long poll, every in-flight invocation one. */
#define LAMBDA_MAX_CONNECTIONS 1024
#define LAMBDA_IDLE_CONN_S     60
/* Instances tracked at once (the concurrency cap is at most this). */
#define LAMBDA_MAX_INSTANCES 256
/* Invocations waiting or running at once; beyond: 429. */
#define LAMBDA_MAX_INFLIGHT 4096

enum inv_state { INV_QUEUED = 0, INV_RUNNING, INV_DONE, INV_FAILED };

struct invocation {
    uint64_t seq;
    char req_id[48];
    const char *body;
    size_t len;
    enum inv_state state;
    int inst; /* instance slot running it, -1 */
    double t_start, t_end;
    char *out;
    size_t out_len;
    int out_is_error;
    const char *fail_type; /* Sandbox.Timedout, Runtime.ExitError */
    struct invocation *next;
};

enum inst_state { INST_FREE = 0, INST_STARTING, INST_IDLE, INST_BUSY, INST_STOPPING };

struct instance {
    enum inst_state state;
    struct sf_proc proc;
    int id;
    double spawn_s, ready_s, idle_since_s;
    int billed_init; /* the first invocation bills the init time */
    struct invocation *cur;
};

struct lambda {
    const struct sf_lambda_cfg *cfg;
    const struct sf_pricing *price;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct invocation *head, *tail; /* queued */
    int inflight;
    struct instance inst[LAMBDA_MAX_INSTANCES];
    int next_inst_id;
    int spawn_wanted; /* instances to start: the main thread starts them (see housekeep) */
    uint64_t seq;
    volatile sig_atomic_t *stop;
    struct sf_meter meter;
    uint64_t cold_starts, throttles, timeouts, crashes, errors, invocations;
    double init_s; /* summed init time of the instances that became ready */
    char exe[4096];
};

/* Waits on the runtime's condition for at most 10 ms (locked): the period of the timeout checks. */
static void wait_10ms(struct lambda *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 10 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

static void wake_all(struct lambda *l)
{
    pthread_cond_broadcast(&l->cv);
}

static int starting_or_idle(struct lambda *l)
{
    int n = l->spawn_wanted;
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        n += l->inst[i].state == INST_STARTING || l->inst[i].state == INST_IDLE;
    return n;
}

static int live_instances(struct lambda *l)
{
    int n = l->spawn_wanted;
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        n += l->inst[i].state != INST_FREE;
    return n;
}

/* Starts one instance; locked. */
static int spawn_instance(struct lambda *l)
{
    int slot = -1;
    for (int i = 0; i < LAMBDA_MAX_INSTANCES && slot < 0; i++)
        if (l->inst[i].state == INST_FREE)
            slot = i;
    if (slot < 0)
        return -1;
    struct instance *in = &l->inst[slot];
    memset(in, 0, sizeof(*in));
    in->id = ++l->next_inst_id;
    char api[160], inst_env[64], api_env[200], tau[32], threads[16], delay[32];
    snprintf(api, sizeof(api), "127.0.0.1:%d", l->cfg->bound_port);
    snprintf(api_env, sizeof(api_env), "AWS_LAMBDA_RUNTIME_API=%s", api);
    snprintf(inst_env, sizeof(inst_env), "SERFLOW_INSTANCE_ID=%d", in->id);
    snprintf(tau, sizeof(tau), "%.17g", l->cfg->tau);
    int vcpus =
        (int)((l->cfg->memory_mb + l->price->fn_mb_per_vcpu - 1) / l->price->fn_mb_per_vcpu);
    /* a function's vCPUs as threads, but no more than this machine has: oversubscribing two
     * cores with a 5-vCPU function would only make it slower */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus >= 1 && vcpus > cpus)
        vcpus = (int)cpus;
    snprintf(threads, sizeof(threads), "%d", vcpus < 1 ? 1 : vcpus);
    snprintf(delay, sizeof(delay), "%.17g", l->cfg->cold_start_delay_s);
    char *argv[] = {l->exe,           "function", "--model",   (char *)l->cfg->model_dir,
                    "--tau",          tau,        "--threads", threads,
                    "--init-delay-s", delay,      NULL};
    char fault_env[64];
    snprintf(fault_env, sizeof(fault_env), "SERFLOW_FUNCTION_FAULT=%s",
             l->cfg->fault ? l->cfg->fault : "");
    char *env[] = {api_env, inst_env, fault_env, NULL};
    struct sf_err err = {{0}};
    if (sf_proc_spawn(&in->proc, argv, env, &err) != SF_OK) {
        in->state = INST_FREE;
        return -1;
    }
    in->state = INST_STARTING;
    in->spawn_s = sf_monotonic_s();
    l->cold_starts++;
    return slot;
}

static int find_instance(struct lambda *l, const char *hdr)
{
    if (!hdr)
        return -1;
    int id = atoi(hdr);
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        if (l->inst[i].state != INST_FREE && l->inst[i].id == id)
            return i;
    return -1;
}

/* Ends the instance's current invocation as failed; locked. */
static void fail_current(struct lambda *l, struct instance *in, const char *type)
{
    struct invocation *v = in->cur;
    if (!v)
        return;
    v->state = INV_FAILED;
    v->fail_type = type;
    v->t_end = sf_monotonic_s();
    in->cur = NULL;
    wake_all(l);
}

static void bill(struct lambda *l, struct instance *in, struct invocation *v)
{
    double d = v->t_end - v->t_start;
    if (in && !in->billed_init) { /* Lambda bills the init phase of a cold start */
        d += in->ready_s - in->spawn_s;
        in->billed_init = 1;
    }
    sf_meter_fn(&l->meter, l->price, 0, l->cfg->memory_mb, d);
}

/* An error of the Lambda service itself, shaped as Lambda answers it: the error type in
 * X-Amzn-ErrorType and {"Type": "User", "message": ...}, which the AWS SDKs read. */
static void service_error(struct sf__httpd_resp *resp, int status, const char *type,
                          const char *msg)
{
    sf__httpd_header(resp, "X-Amzn-ErrorType", type);
    json_t *o = json_pack("{s:s,s:s}", "Type", "User", "message", msg);
    sf__httpd_json(resp, status, o ? json_dumps(o, JSON_COMPACT) : NULL);
    json_decref(o);
}

static void handle_invoke(struct lambda *l, const struct sf__httpd_req *req,
                          struct sf__httpd_resp *resp, const char *name)
{
    if (strcmp(name, l->cfg->function_name) != 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "Function not found: %.128s", name);
        service_error(resp, 404, "ResourceNotFoundException", msg);
        return;
    }
    if ((double)req->len > l->price->fn_payload_max_bytes) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "Request must be smaller than %.0f bytes for the "
                 "InvokeFunction operation (got %zu)",
                 l->price->fn_payload_max_bytes, req->len);
        service_error(resp, 413, "RequestEntityTooLargeException", msg);
        return;
    }
    struct invocation v;
    memset(&v, 0, sizeof(v));
    v.body = req->body ? req->body : "";
    v.len = req->len;
    v.inst = -1;
    pthread_mutex_lock(&l->mu);
    v.seq = ++l->seq;
    snprintf(v.req_id, sizeof(v.req_id), "%08llx-0000-4000-8000-%012llx",
             (unsigned long long)(v.seq & 0xffffffffu), (unsigned long long)v.seq);
    int queued = 0;
    for (struct invocation *q = l->head; q; q = q->next)
        queued++;
    if (l->inflight >= LAMBDA_MAX_INFLIGHT ||
        (queued >= starting_or_idle(l) && live_instances(l) >= l->cfg->concurrency)) {
        l->throttles++;
        pthread_mutex_unlock(&l->mu);
        char msg[128];
        snprintf(msg, sizeof(msg), "Rate Exceeded: %d concurrent executions", l->cfg->concurrency);
        service_error(resp, 429, "TooManyRequestsException", msg);
        return;
    }
    l->inflight++;
    l->invocations++;
    if (l->tail)
        l->tail->next = &v;
    else
        l->head = &v;
    l->tail = &v;
    if (queued + 1 > starting_or_idle(l))
        l->spawn_wanted++;
    wake_all(l);
    while (v.state == INV_QUEUED || v.state == INV_RUNNING) {
        wait_10ms(l);
        double now = sf_monotonic_s();
        if (v.state == INV_RUNNING && now - v.t_start > l->cfg->timeout_s) {
            struct instance *in = &l->inst[v.inst];
            l->timeouts++;
            fail_current(l, in, "Sandbox.Timedout");
            sf_proc_signal(&in->proc, SIGKILL);
            in->state = INST_STOPPING;
        }
        if (v.state == INV_QUEUED && *l->stop) {
            v.state = INV_FAILED;
            v.fail_type = "Runtime.Unavailable";
            /* unlink from the queue */
            struct invocation **pp = &l->head;
            while (*pp && *pp != &v)
                pp = &(*pp)->next;
            if (*pp)
                *pp = v.next;
            l->tail = NULL;
            for (struct invocation *q = l->head; q; q = q->next)
                l->tail = q;
        }
    }
    if (v.t_start > 0)
        bill(l, v.inst >= 0 ? &l->inst[v.inst] : NULL, &v);
    if (v.state == INV_FAILED || v.out_is_error)
        l->errors++;
    l->inflight--;
    pthread_mutex_unlock(&l->mu);
    sf__httpd_header(resp, "X-Amz-Executed-Version", "$LATEST");
    char billed[32];
    snprintf(billed, sizeof(billed), "%.0f",
             sf_bill_fn_s(l->price, v.t_end > v.t_start ? v.t_end - v.t_start : 0) * 1000);
    sf__httpd_header(resp, "X-Serflow-Billed-Duration-Ms", billed);
    if (v.state == INV_FAILED) {
        sf__httpd_header(resp, "X-Amz-Function-Error", "Unhandled");
        char msg[256];
        snprintf(msg, sizeof(msg), "{\"errorType\":\"%s\",\"errorMessage\":\"%s\"}", v.fail_type,
                 !strcmp(v.fail_type, "Sandbox.Timedout") ? "Task timed out"
                                                          : "the function instance exited");
        sf__httpd_json(resp, 200, sf_strdup(msg));
        free(v.out);
        return;
    }
    if (v.out_is_error)
        sf__httpd_header(resp, "X-Amz-Function-Error", "Unhandled");
    resp->status = 200;
    resp->body = v.out;
    resp->len = v.out_len;
    resp->content_type =
        v.out_len && v.out[0] == '{' ? "application/json" : "application/octet-stream";
}

static void handle_next(struct lambda *l, const struct sf__httpd_req *req,
                        struct sf__httpd_resp *resp)
{
    pthread_mutex_lock(&l->mu);
    int slot = find_instance(l, sf__httpd_req_header(req, "X-Serflow-Instance"));
    if (slot < 0) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 403, "unknown function instance");
        return;
    }
    struct instance *in = &l->inst[slot];
    double now = sf_monotonic_s();
    if (in->state == INST_STARTING) {
        in->ready_s = now;
        l->init_s += now - in->spawn_s;
        /* the configured cold-start delay was spent inside the instance before its first poll */
    }
    in->state = INST_IDLE;
    in->idle_since_s = now;
    while (!l->head && in->state == INST_IDLE && !*l->stop)
        pthread_cond_wait(&l->cv, &l->mu);
    if (in->state != INST_IDLE || !l->head) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 410, "instance stopped");
        return;
    }
    struct invocation *v = l->head;
    l->head = v->next;
    if (!l->head)
        l->tail = NULL;
    v->next = NULL;
    v->state = INV_RUNNING;
    v->inst = slot;
    v->t_start = sf_monotonic_s();
    in->state = INST_BUSY;
    in->cur = v;
    char *body = malloc(v->len + 1);
    if (body) {
        memcpy(body, v->body, v->len);
        body[v->len] = '\0';
    }
    char deadline[32];
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    snprintf(deadline, sizeof(deadline), "%lld",
             (long long)rt.tv_sec * 1000 + rt.tv_nsec / 1000000 +
                 (long long)(l->cfg->timeout_s * 1000));
    sf__httpd_header(resp, "Lambda-Runtime-Aws-Request-Id", v->req_id);
    sf__httpd_header(resp, "Lambda-Runtime-Deadline-Ms", deadline);
    pthread_mutex_unlock(&l->mu);
    resp->status = 200;
    resp->body = body;
    resp->len = body ? v->len : 0;
    resp->content_type = "application/octet-stream";
}

static void handle_result(struct lambda *l, const struct sf__httpd_req *req,
                          struct sf__httpd_resp *resp, const char *req_id, int is_error)
{
    pthread_mutex_lock(&l->mu);
    struct instance *in = NULL;
    for (int i = 0; i < LAMBDA_MAX_INSTANCES && !in; i++)
        if (l->inst[i].state == INST_BUSY && l->inst[i].cur &&
            !strcmp(l->inst[i].cur->req_id, req_id))
            in = &l->inst[i];
    if (!in) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 400, "no running invocation %.64s", req_id);
        return;
    }
    struct invocation *v = in->cur;
    v->out = malloc(req->len + 1);
    if (v->out) {
        memcpy(v->out, req->body ? req->body : "", req->len);
        v->out[req->len] = '\0';
        v->out_len = req->len;
    }
    v->out_is_error = is_error;
    v->state = INV_DONE;
    v->t_end = sf_monotonic_s();
    in->cur = NULL;
    in->state = INST_IDLE; /* until its next poll */
    in->idle_since_s = v->t_end;
    wake_all(l);
    pthread_mutex_unlock(&l->mu);
    sf__httpd_json(resp, 202, sf_strdup("{\"status\":\"OK\"}"));
}

static void handle_metrics(struct lambda *l, struct sf__httpd_resp *resp)
{
    char *t = malloc(4096);
    if (!t) {
        sf__httpd_error(resp, 500, "out of memory");
        return;
    }
    pthread_mutex_lock(&l->mu);
    int live = live_instances(l);
    snprintf(
        t, 4096,
        "# HELP serflow_function_invocations_total Invocations received.\n"
        "# TYPE serflow_function_invocations_total counter\n"
        "serflow_function_invocations_total %llu\n"
        "# HELP serflow_function_billed_invocations_total Invocations billed.\n"
        "# TYPE serflow_function_billed_invocations_total counter\n"
        "serflow_function_billed_invocations_total %llu\n"
        "# HELP serflow_function_gigabyte_seconds_total Billed GB-seconds (1 ms rounding).\n"
        "# TYPE serflow_function_gigabyte_seconds_total counter\n"
        "serflow_function_gigabyte_seconds_total %.9g\n"
        "# HELP serflow_function_cost_usd_total Duration cost plus request fees.\n"
        "# TYPE serflow_function_cost_usd_total counter\n"
        "serflow_function_cost_usd_total %.9g\n"
        "# HELP serflow_function_fees_usd_total Request fees.\n"
        "# TYPE serflow_function_fees_usd_total counter\n"
        "serflow_function_fees_usd_total %.9g\n"
        "# HELP serflow_function_cold_starts_total Instances started.\n"
        "# TYPE serflow_function_cold_starts_total counter\n"
        "serflow_function_cold_starts_total %llu\n"
        "# HELP serflow_function_throttles_total Invocations refused at the cap (429).\n"
        "# TYPE serflow_function_throttles_total counter\n"
        "serflow_function_throttles_total %llu\n"
        "# HELP serflow_function_timeouts_total Invocations killed at the timeout.\n"
        "# TYPE serflow_function_timeouts_total counter\n"
        "serflow_function_timeouts_total %llu\n"
        "# HELP serflow_function_crashes_total Instances that exited mid-invocation.\n"
        "# TYPE serflow_function_crashes_total counter\n"
        "serflow_function_crashes_total %llu\n"
        "# HELP serflow_function_errors_total Invocations answered with a function error.\n"
        "# TYPE serflow_function_errors_total counter\n"
        "serflow_function_errors_total %llu\n"
        "# HELP serflow_function_init_seconds_total Init time of the instances started (process "
        "start, model load, configured delay).\n"
        "# TYPE serflow_function_init_seconds_total counter\n"
        "serflow_function_init_seconds_total %.9g\n"
        "# HELP serflow_function_instances Function instances alive.\n"
        "# TYPE serflow_function_instances gauge\n"
        "serflow_function_instances %d\n",
        (unsigned long long)l->invocations, (unsigned long long)l->meter.invocations,
        l->meter.fn_gb_s, l->meter.fn_usd + l->meter.fee_usd, l->meter.fee_usd,
        (unsigned long long)l->cold_starts, (unsigned long long)l->throttles,
        (unsigned long long)l->timeouts, (unsigned long long)l->crashes,
        (unsigned long long)l->errors, l->init_s, live);
    pthread_mutex_unlock(&l->mu);
    resp->status = 200;
    resp->body = t;
    resp->len = strlen(t);
    resp->content_type = "text/plain; version=0.0.4";
}

static void lambda_handler(void *ctx, const struct sf__httpd_req *req, struct sf__httpd_resp *resp)
{
    struct lambda *l = ctx;
    static const char inv_pre[] = "/2015-03-31/functions/", inv_suf[] = "/invocations";
    static const char rt_pre[] = "/2018-06-01/runtime/invocation/";
    const char *u = req->url;
    size_t ul = strlen(u);
    if (!strncmp(u, inv_pre, sizeof(inv_pre) - 1) && ul > sizeof(inv_pre) - 1 + 12 &&
        !strcmp(u + ul - 12, inv_suf) && !strcmp(req->method, "POST")) {
        char name[160];
        size_t nl = ul - (sizeof(inv_pre) - 1) - 12;
        if (nl >= sizeof(name)) {
            sf__httpd_error(resp, 400, "function name too long");
            return;
        }
        memcpy(name, u + sizeof(inv_pre) - 1, nl);
        name[nl] = '\0';
        handle_invoke(l, req, resp, name);
    } else if (!strcmp(u, "/2018-06-01/runtime/invocation/next") && !strcmp(req->method, "GET")) {
        handle_next(l, req, resp);
    } else if (!strncmp(u, rt_pre, sizeof(rt_pre) - 1) && !strcmp(req->method, "POST")) {
        const char *id = u + sizeof(rt_pre) - 1;
        const char *slash = strchr(id, '/');
        char rid[64];
        if (!slash || (size_t)(slash - id) >= sizeof(rid)) {
            sf__httpd_error(resp, 404, "no such runtime endpoint");
            return;
        }
        memcpy(rid, id, (size_t)(slash - id));
        rid[slash - id] = '\0';
        if (!strcmp(slash, "/response"))
            handle_result(l, req, resp, rid, 0);
        else if (!strcmp(slash, "/error"))
            handle_result(l, req, resp, rid, 1);
        else
            sf__httpd_error(resp, 404, "no such runtime endpoint");
    } else if (!strcmp(u, "/metrics")) {
        handle_metrics(l, resp);
    } else {
        sf__httpd_error(resp, 404, "%s %s: no such endpoint on the function runtime", req->method,
                        u);
    }
}

/* Reaps exited instances (failing their invocation) and stops idle ones; locked. */
static void housekeep(struct lambda *l, double now)
{
    /* instances are started here, on the main thread: a child's parent-death signal follows the
     * thread that started it, and connection threads come and go */
    for (; l->spawn_wanted > 0; l->spawn_wanted--)
        spawn_instance(l);
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++) {
        struct instance *in = &l->inst[i];
        if (in->state == INST_FREE)
            continue;
        if (sf_proc_reap(&in->proc)) {
            if (in->cur) {
                l->crashes++;
                fail_current(l, in, "Runtime.ExitError");
            }
            sf_proc_stop(&in->proc, 0);
            in->state = INST_FREE;
            wake_all(l);
            continue;
        }
        if (in->state == INST_IDLE && now - in->idle_since_s > l->cfg->idle_timeout_s) {
            in->state = INST_STOPPING;
            sf_proc_signal(&in->proc, SIGKILL);
            wake_all(l);
        }
    }
}

int sf_lambda_run(struct sf_lambda_cfg *cfg, const struct sf_pricing *price,
                  volatile sig_atomic_t *stop, struct sf_err *err)
{
    struct lambda *l = calloc(1, sizeof(*l));
    if (!l)
        return sf_err_set(err, SF_ENOMEM, "lambda: out of memory");
    l->cfg = cfg;
    l->price = price;
    l->stop = stop;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    int rc = SF_OK;
    if (cfg->concurrency < 1 || cfg->concurrency > LAMBDA_MAX_INSTANCES)
        rc = sf_err_set(err, SF_EINVAL, "--concurrency: %d out of 1..%d", cfg->concurrency,
                        LAMBDA_MAX_INSTANCES);
    else if (cfg->memory_mb < price->fn_mem_min_mb || cfg->memory_mb > price->fn_mem_max_mb)
        rc = sf_err_set(err, SF_EINVAL, "--memory-mb: %d outside the catalog's %d..%d",
                        cfg->memory_mb, price->fn_mem_min_mb, price->fn_mem_max_mb);
    if (rc == SF_OK)
        rc = sf_proc_self_exe(l->exe, sizeof(l->exe), err);
    struct sf__httpd *h = NULL;
    if (rc == SF_OK) {
        struct sf__httpd_cfg hc = {cfg->host,
                                   cfg->port,
                                   LAMBDA_MAX_CONNECTIONS,
                                   LAMBDA_IDLE_CONN_S,
                                   SF_SERVE_MAX_BODY_BYTES,
                                   lambda_handler,
                                   l};
        rc = sf__httpd_start(&h, &hc, err);
    }
    if (rc == SF_OK) {
        cfg->bound_port = sf__httpd_port(h);
        if (sf_proc_announce_ready(cfg->ready_fd, cfg->host, cfg->bound_port) != SF_OK)
            rc = sf_err_set(err, SF_EIO, "lambda: cannot write the readiness line");
    }
    while (rc == SF_OK && !*stop) {
        /* woken at once when an invocation wants a new instance, else every 10 ms */
        pthread_mutex_lock(&l->mu);
        if (!l->spawn_wanted) {
            wait_10ms(l);
        }
        housekeep(l, sf_monotonic_s());
        pthread_mutex_unlock(&l->mu);
    }
    /* stop: refuse new work, fail the queued invocations, stop every instance */
    sf__httpd_quiesce(h);
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        if (l->inst[i].state != INST_FREE)
            sf_proc_signal(&l->inst[i].proc, SIGKILL);
    wake_all(l);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        if (l->inst[i].state != INST_FREE) {
            sf_proc_stop(&l->inst[i].proc, 1.0);
            pthread_mutex_lock(&l->mu);
            if (l->inst[i].cur)
                fail_current(l, &l->inst[i], "Runtime.ExitError");
            l->inst[i].state = INST_FREE;
            wake_all(l);
            pthread_mutex_unlock(&l->mu);
        }
    sf__httpd_stop(h);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
    return rc;
}
