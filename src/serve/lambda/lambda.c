/*
 * lambda.c - the local function runtime: `serflow lambda`. Clients speak the AWS Lambda Invoke
 * API (POST /2015-03-31/functions/{name}/invocations: RequestResponse, Event or DryRun; the
 * function as a name, name:$LATEST or an ARN); function instances (`serflow function`
 * processes, started on demand) speak the Lambda Runtime API (/2018-06-01/runtime/invocation/
 * next, .../{id}/response, .../{id}/error).
 *
 * An invocation waits in a FIFO until an instance polls; with no idle instance and fewer than the
 * concurrency cap, one more is started (a cold start: process start + model load + the
 * configured delay). Every invocation ends, whatever its instance does:
 *   - queued: a caller that hangs up takes it out of the queue (never run, never billed); one
 *     that waits longer than the queue bound (timeout + cold start + Lambda's 10 s init limit)
 *     fails Sandbox.Timedout; instances that keep failing their start fail it Runtime.InitError;
 *   - running: past the timeout its instance is killed (Sandbox.Timedout); an instance that
 *     dies fails it (Runtime.ExitError), one that polls again without answering fails it
 *     (Runtime.NoResponse);
 *   - SIGTERM: queued ones fail Runtime.Unavailable, running ones with their instance.
 * Identities (auth.h): each instance gets its own key at its start; a poll, a response or an
 * error is accepted only from the instance it concerns, and request ids are random UUIDs.
 * Instances that die before their first poll are restarted with exponential back-off and billed
 * their init time. Billing: duration (plus the init time of a cold start) rounded up to 1 ms x
 * GB, plus the request fee; served on GET /metrics as counters.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "wire/argv_emit.h"
#include "wire/httpd.h"
#include "serflow/cloud.h"
#include "serflow/wire.h"
#include "serflow/billing.h"
#include "serflow/http.h"
#include "serflow/function.h"
#include "serflow/lambda.h"
#include "serflow/log.h"
#include "serflow/metrics.h"

/* Connections: every instance holds one long poll, every in-flight invocation one. */
#define LAMBDA_MAX_CONNECTIONS 1024
#define LAMBDA_IDLE_CONN_S     60
/* A request (an invocation's payload, an instance's answer) must arrive whole within this. */
#define LAMBDA_REQUEST_TIMEOUT_S 30.0
/* Instances tracked at once (the concurrency cap is at most this). */
#define LAMBDA_MAX_INSTANCES 256
/* Invocations waiting or running at once; beyond: 429. */
#define LAMBDA_MAX_INFLIGHT 4096
/* Memory for request bodies (invocation payloads, instance answers) and queued Event payloads:
 * 256 MB, about 40 payloads at the 6 MB cap; beyond: 429 / 503. */
#define LAMBDA_MAX_BUFFERED_BYTES    ((size_t)256 << 20)
#define LAMBDA_MAX_EVENT_QUEUE_BYTES ((size_t)64 << 20)
/* Lambda's asynchronous (Event) payload cap. */
#define LAMBDA_EVENT_MAX_BYTES 262144
/* Lambda's limit on an instance's init phase: part of how long an invocation may wait queued. */
#define LAMBDA_INIT_LIMIT_S 10.0
/* Restart back-off of instances that die before their first poll: 0.1 s doubling to 10 s; from
 * the third failure in a row the runtime reports not ready and fails queued invocations with
 * Runtime.InitError instead of letting them wait. */
#define LAMBDA_BACKOFF_BASE_S  0.1
#define LAMBDA_BACKOFF_MAX_S   10.0
#define LAMBDA_INIT_FAILS_DOWN 3
/* How often a long poll or a waiting caller looks whether its client is still there. */
#define LAMBDA_WAIT_NS (10 * 1000 * 1000)
/* Lambda's LogResult (LogType Tail): the last 4 KB of the invocation's log. */
#define LAMBDA_LOG_TAIL_BYTES 4096
/* An instance's stderr read in one pass of the housekeeping (every 10 ms) or at its answer: a
 * bound on one pass's work; the rest waits for the next pass. */
#define LAMBDA_LOG_READ_BYTES 65536
/* The account and region of the local function's ARN (a local emulator's, as LocalStack's). */
#define LAMBDA_ACCOUNT "000000000000"
#define LAMBDA_REGION  "us-east-1"
/* The account limits GetAccountSettings reports besides the concurrency (Lambda's defaults). */
#define LAMBDA_TOTAL_CODE_BYTES    80530636800LL
#define LAMBDA_CODE_UNZIPPED_BYTES 262144000LL
#define LAMBDA_CODE_ZIPPED_BYTES   52428800LL
/* The most functions ListFunctions takes in MaxItems (the API's range is 1..10000). */
#define LAMBDA_LIST_MAX_ITEMS 10000

/* The Lambda API operations this runtime answers (labels of serflow_function_api_requests_total;
 * "unknown": any other path, a typed error). */
#define LAMBDA_OPERATIONS(X)                                                                       \
    X(INVOKE, "Invoke")                                                                            \
    X(GET_FUNCTION, "GetFunction")                                                                 \
    X(GET_CONFIG, "GetFunctionConfiguration")                                                      \
    X(LIST, "ListFunctions")                                                                       \
    X(ACCOUNT, "GetAccountSettings")                                                               \
    X(RUNTIME, "Runtime")                                                                          \
    X(OTHER, "unknown")
#define LO_ENUM(id, name) LO_##id,
enum { LAMBDA_OPERATIONS(LO_ENUM) LO_COUNT };
#undef LO_ENUM
#define LO_LABEL(id, name) "operation=\"" name "\"",
static const char *const OPERATION_LABELS[] = {LAMBDA_OPERATIONS(LO_LABEL) NULL};
#undef LO_LABEL
#define LO_NAME(id, name) name,
static const char *const OPERATION_NAMES[] = {LAMBDA_OPERATIONS(LO_NAME) NULL};
#undef LO_NAME

enum inv_state { INV_QUEUED = 0, INV_RUNNING, INV_DONE, INV_FAILED };

struct invocation {
    char req_id[40];
    const char *body; /* the caller's request body (RequestResponse) or own_body (Event) */
    size_t len;
    char *own_body;
    int async; /* Event: nobody waits; freed when it ends */
    enum inv_state state;
    int inst; /* instance slot running it, -1 */
    double t_queued, t_start, t_end;
    double billed_s; /* what it was billed (its run, and the init of a cold start); 0: not billed */
    char *out;
    size_t out_len;
    int out_is_error;
    const char *fail_type; /* Sandbox.Timedout, Runtime.ExitError, ... */
    const char *fail_msg;
    struct invocation *next;
    /* the caller's request ids and the runtime's span in its trace (passed to the instance) */
    char ids[SF_REQUEST_IDS_MAX_BYTES + 1];
    struct sf_reqtrace trace;
    /* its log: START, what the instance wrote while running it, END, REPORT; the last
     * LAMBDA_LOG_TAIL_BYTES kept (LogResult) */
    char log[LAMBDA_LOG_TAIL_BYTES];
    size_t log_len;
    double init_s;     /* the init duration billed with it (a cold start's first), 0 */
    double max_mem_mb; /* the instance's peak resident memory at its answer, 0: unknown */
};

enum inst_state { INST_FREE = 0, INST_STARTING, INST_IDLE, INST_BUSY, INST_STOPPING };

struct instance {
    enum inst_state state;
    struct sf_proc proc;
    struct sf_auth id; /* "instance:<16 hex>" and its key */
    double spawn_s, ready_s, idle_since_s;
    int billed_init; /* the first invocation bills the init time */
    struct invocation *cur;
    uint64_t poll_seq;            /* the newest poll; an older one still waiting gives way */
    char line[SF_LOG_LINE_BYTES]; /* a line of its stderr being read */
    size_t line_len;
};

/* Room for the runtime's metric families (LAMBDA_METRICS below). */
#define LAMBDA_METRIC_FAMILIES 24

struct lambda {
    const struct sf_lambda_cfg *cfg;
    const struct sf_pricing *price;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct invocation *head, *tail; /* queued */
    int n_queued;
    int inflight;
    struct instance inst[LAMBDA_MAX_INSTANCES];
    int spawn_wanted; /* instances to start: the main thread starts them (see housekeep) */
    volatile sig_atomic_t *stop;
    int stopping;
    struct sf_auth root;
    int require_auth;
    double queue_wait_s;
    struct sf_meter meter;
    struct sf_metrics *reg; /* its /metrics (handle_metrics) */
    struct sf_argv argv; /* an instance's command line being written (spawn_instance, under mu) */
    int fam[LAMBDA_METRIC_FAMILIES]; /* the families of LAMBDA_METRICS, by LM_ index */
    uint64_t cold_starts, throttles, timeouts, crashes, errors, invocations, init_failures, events,
        events_dropped, dropped, auth_failures, no_response;
    int init_fails_in_row;
    double next_spawn_s;
    double init_s; /* summed init time of the instances that became ready */
    size_t event_bytes;
    char exe[4096];
    /* the function's configuration as GetFunction answers it (control_init) */
    long long code_bytes;
    char code_sha256[48]; /* base64 of the executable's SHA-256 */
    char last_modified[96];
    char revision_id[40];
    int fam_duration, fam_api; /* the invocation duration histogram, API requests by operation */
};

static void function_arn(const struct lambda *l, char *buf, size_t size);

static void wake_all(struct lambda *l)
{
    pthread_cond_broadcast(&l->cv);
}

/* Waits on the runtime's condition for at most ns (locked). */
static void wait_ns(struct lambda *l, long ns)
{
    sf_cond_wait_s(&l->cv, &l->mu, (double)ns * 1e-9);
}

static int count_state(struct lambda *l, enum inst_state st)
{
    int n = 0;
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        n += l->inst[i].state == st;
    return n;
}

static int starting_or_idle(struct lambda *l)
{
    return l->spawn_wanted + count_state(l, INST_STARTING) + count_state(l, INST_IDLE);
}

static int live_instances(struct lambda *l)
{
    return l->spawn_wanted + LAMBDA_MAX_INSTANCES - count_state(l, INST_FREE);
}

/* Appends text to an invocation's log, keeping its last LAMBDA_LOG_TAIL_BYTES. */
static void log_append(struct invocation *v, const char *text, size_t n)
{
    if (n >= sizeof(v->log)) {
        text += n - sizeof(v->log);
        n = sizeof(v->log);
    }
    if (v->log_len + n > sizeof(v->log)) {
        size_t drop = v->log_len + n - sizeof(v->log);
        memmove(v->log, v->log + drop, v->log_len - drop);
        v->log_len -= drop;
    }
    memcpy(v->log + v->log_len, text, n);
    v->log_len += n;
}

/* One line the instance wrote: forwarded to this process's stderr, and into the log of the
 * invocation it is running. */
static void instance_line(struct instance *in, const char *line, size_t n)
{
    sf_log_forward(line, n);
    if (in->cur) {
        log_append(in->cur, line, n);
        if (!n || line[n - 1] != '\n')
            log_append(in->cur, "\n", 1);
    }
}

/* Reads what the instance wrote on its stderr so far (non-blocking, bounded), line by line
 * (locked). At its end (exited), a last line without its newline is taken too. */
static void read_instance_log(struct instance *in, int at_end)
{
    if (in->proc.log_fd <= 2)
        return;
    char buf[4096];
    for (size_t total = 0; total < LAMBDA_LOG_READ_BYTES;) {
        ssize_t r = read(in->proc.log_fd, buf, sizeof(buf));
        if (r <= 0)
            break;
        total += (size_t)r;
        for (ssize_t i = 0; i < r; i++) {
            in->line[in->line_len++] = buf[i];
            if (buf[i] == '\n' || in->line_len == sizeof(in->line)) {
                instance_line(in, in->line, in->line_len);
                in->line_len = 0;
            }
        }
    }
    if (at_end && in->line_len) {
        instance_line(in, in->line, in->line_len);
        in->line_len = 0;
    }
}

/* The instance's peak resident memory (VmHWM) in MB, 0 when unknown. */
static double peak_mem_mb(const struct instance *in)
{
    char path[64], line[128];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)in->proc.pid);
    FILE *f = in->proc.pid > 0 ? fopen(path, "r") : NULL;
    double mb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmHWM:", 6))
            mb = strtod(line + 6, NULL) / 1024.0;
    if (f)
        fclose(f);
    return mb;
}

static void bill(struct lambda *l, struct instance *in, struct invocation *v)
{
    double d = v->t_end - v->t_start;
    if (in && !in->billed_init) { /* Lambda bills the init phase of a cold start */
        v->init_s = in->ready_s - in->spawn_s;
        d += v->init_s;
        in->billed_init = 1;
    }
    sf_meter_fn(&l->meter, l->price, 0, l->cfg->memory_mb, d);
    v->billed_s = sf_bill_fn_s(l->price, d); /* told to the caller with the answer */
}

static void unlink_queued(struct lambda *l, struct invocation *v)
{
    struct invocation **pp = &l->head, *prev = NULL;
    while (*pp && *pp != v) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = v->next;
    if (l->tail == v)
        l->tail = prev;
    v->next = NULL;
    l->n_queued--;
}

/* The end of an invocation's log as Lambda writes it (END, then REPORT with its durations and
 * memory), and its line in this process's log (locked). */
static void report(struct lambda *l, struct invocation *v)
{
    double ran_ms = v->t_start > 0 ? (v->t_end - v->t_start) * 1000 : 0;
    if (v->t_start > 0) {
        char line[512];
        int w = snprintf(line, sizeof(line), "END RequestId: %s\n", v->req_id);
        log_append(v, line, (size_t)w);
        w = snprintf(line, sizeof(line),
                     "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\t"
                     "Memory Size: %d MB\tMax Memory Used: %.0f MB\t",
                     v->req_id, ran_ms, v->billed_s * 1000, l->cfg->memory_mb, v->max_mem_mb);
        if (v->init_s > 0)
            w += snprintf(line + w, sizeof(line) - (size_t)w, "Init Duration: %.2f ms\t",
                          v->init_s * 1000);
        w += snprintf(line + w, sizeof(line) - (size_t)w, "\n");
        log_append(v, line, (size_t)w);
        sf_metrics_observe(l->reg, l->fam_duration, "", ran_ms / 1000);
    }
    const char *status = v->state == INV_FAILED ? "failed" : v->out_is_error ? "error" : "ok";
    sf_log(v->state == INV_FAILED ? SF_LOG_WARN : SF_LOG_INFO, "invocation",
           SF_LS("request_id", v->req_id), SF_LS("ids", v->ids),
           SF_LS("trace_id", v->trace.trace_id), SF_LS("span_id", v->trace.span_id),
           SF_LS("status", status), SF_LS("error_type", v->fail_type ? v->fail_type : ""),
           SF_LB("event", v->async),
           SF_LN("queued_s", (v->t_start > 0 ? v->t_start : v->t_end) - v->t_queued),
           SF_LN("duration_ms", ran_ms), SF_LN("billed_ms", v->billed_s * 1000),
           SF_LN("init_ms", v->init_s * 1000), SF_LN("max_memory_mb", v->max_mem_mb));
}

/* Ends v (locked): DONE with its output, or FAILED with type and message. Bills what ran,
 * frees an Event's invocation (v is gone after this call then). */
static void end_invocation(struct lambda *l, struct invocation *v, enum inv_state st,
                           const char *type, const char *msg)
{
    if (v->state == INV_QUEUED)
        unlink_queued(l, v);
    struct instance *in = v->inst >= 0 ? &l->inst[v->inst] : NULL;
    if (in && in->cur == v)
        in->cur = NULL;
    v->state = st;
    v->fail_type = type;
    v->fail_msg = msg;
    v->t_end = sf_monotonic_s();
    if (v->t_start > 0)
        bill(l, in, v);
    if (st == INV_FAILED || v->out_is_error)
        l->errors++;
    report(l, v);
    l->inflight--;
    if (v->async) {
        l->event_bytes -= v->len;
        free(v->own_body);
        free(v->out);
        free(v);
    }
    wake_all(l);
}

/* Starts one instance (locked); -1 when it could not be spawned. */
static int spawn_instance(struct lambda *l, double now)
{
    int slot = -1;
    for (int i = 0; i < LAMBDA_MAX_INSTANCES && slot < 0; i++)
        if (l->inst[i].state == INST_FREE)
            slot = i;
    if (slot < 0)
        return -1;
    struct instance *in = &l->inst[slot];
    memset(in, 0, sizeof(*in));
    char principal[SF_AUTH_PRINCIPAL_MAX + 1];
    snprintf(principal, sizeof(principal), "instance:%016llx",
             (unsigned long long)sf_auth_random_u64());
    struct sf_err err = {{0}};
    if (sf_auth_derive(&l->root, principal, &in->id, &err) != SF_OK)
        return -1;
    char api[160], api_env[200];
    snprintf(api, sizeof(api), "127.0.0.1:%d", l->cfg->bound_port);
    snprintf(api_env, sizeof(api_env), "AWS_LAMBDA_RUNTIME_API=%s", api);
    int vcpus =
        (int)((l->cfg->memory_mb + l->price->fn_mb_per_vcpu - 1) / l->price->fn_mb_per_vcpu);
    /* a function's vCPUs as threads, but no more than this machine has: oversubscribing two
     * cores with a 5-vCPU function would only make it slower */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus >= 1 && vcpus > cpus)
        vcpus = (int)cpus;
    struct sf_function_cfg f;
    sf_function_defaults(&f);
    f.model_dir = l->cfg->model_dir;
    f.tau = l->cfg->tau;
    f.threads = vcpus < 1 ? 1 : vcpus;
    f.init_delay_s = l->cfg->cold_start_delay_s;
    f.backend = l->cfg->backend;
    f.log_level = sf_log_get_level();
    f.log_format = sf_log_get_format();
    struct sf_argv *argv = &l->argv; /* under mu: one instance started at a time */
    sf_argv_init(argv);
    if (sf_argv_add(argv, l->exe) != SF_OK || sf_argv_add(argv, "function") != SF_OK ||
        sf_function_argv(&f, argv, &err) != SF_OK) {
        memset(in, 0, sizeof(*in));
        return -1;
    }
    char fault_env[64];
    snprintf(fault_env, sizeof(fault_env), "SERFLOW_FUNCTION_FAULT=%s",
             l->cfg->fault ? l->cfg->fault : "");
    /* SERFLOW_INSTANCE marks a child of this runtime (it asks for the parent-death signal) */
    char *env[] = {api_env, fault_env, "SERFLOW_INSTANCE=1", NULL};
    char line[SF_AUTH_PRINCIPAL_MAX + 2 * SF_AUTH_KEY_BYTES + 8];
    sf_auth_line(&in->id, line, sizeof(line));
    /* its stderr on a pipe: each invocation's log (LogResult), every line forwarded */
    int rc = sf_proc_spawn_captured(&in->proc, argv->v, env, line, &err);
    memset(line, 0, sizeof(line));
    if (rc != SF_OK) {
        memset(in, 0, sizeof(*in));
        return -1;
    }
    in->state = INST_STARTING;
    in->spawn_s = now;
    l->cold_starts++;
    return slot;
}

/* The instance whose identity signed this request, checked (locked); -1 with resp filled. */
static int authenticated_instance(struct lambda *l, const struct sf__httpd_req *req,
                                  struct sf__httpd_resp *resp)
{
    struct sf_auth_token t;
    struct sf_err err = {{0}};
    int rc = sf_auth_parse_request(sf__httpd_req_header(req, SF_AUTH_REQUEST_HEADER), &t, &err);
    int slot = -1;
    for (int i = 0; rc == SF_OK && i < LAMBDA_MAX_INSTANCES && slot < 0; i++)
        if (l->inst[i].state != INST_FREE && !strcmp(l->inst[i].id.principal, t.principal))
            slot = i;
    if (rc == SF_OK && slot < 0)
        rc = sf_err_set(&err, SF_EINVAL, "'%s' is not a running instance of this runtime",
                        t.principal);
    if (rc == SF_OK)
        rc = sf_auth_check_request(l->inst[slot].id.key, &t, req->method, req->url, &err);
    if (rc != SF_OK) {
        l->auth_failures++;
        sf__httpd_error(resp, 401, "unauthenticated: %s", err.msg);
        return -1;
    }
    memcpy(resp->auth_key, l->inst[slot].id.key, sizeof(resp->auth_key));
    memcpy(resp->auth_nonce, t.nonce, sizeof(resp->auth_nonce));
    resp->auth = 1;
    return slot;
}

/* An error of the Lambda service itself, shaped as Lambda answers it: the error type in
 * X-Amzn-ErrorType and {"Type": "User", "message": ...}, which the AWS SDKs read. */
static void service_error(struct sf__httpd_resp *resp, int status, const char *type,
                          const char *msg)
{
    sf__httpd_header(resp, "X-Amzn-ErrorType", type);
    json_t *o = json_pack("{s:s,s:s}", "Type", "User", "message", msg);
    if (!o) { /* msg not UTF-8 (a name echoed back) */
        char esc[SF_ERR_MAX];
        sf_str_escape(esc, sizeof(esc), msg, strlen(msg));
        o = json_pack("{s:s,s:s}", "Type", "User", "message", esc);
    }
    sf__httpd_json(resp, status, o ? json_dumps(o, JSON_COMPACT) : NULL);
    json_decref(o);
}

/* The layer's own refusals (413, 400, 503), in the Lambda error shape. */
static void new_uuid(char *buf, size_t size);

static void refusal(void *ctx, struct sf__httpd_resp *resp, int status, const char *msg)
{
    struct lambda *l = ctx;
    char rid[40];
    new_uuid(rid, sizeof(rid));
    sf__httpd_header(resp, "x-amzn-RequestId", rid);
    if (status == 413) {
        char m[160];
        snprintf(m, sizeof(m),
                 "Request must be smaller than %.0f bytes for the InvokeFunction operation",
                 l->price->fn_payload_max_bytes);
        service_error(resp, 413, "RequestEntityTooLargeException", m);
        return;
    }
    service_error(resp, status == 503 ? 429 : status,
                  status == 503 ? "TooManyRequestsException" : "InvalidRequestContentException",
                  msg);
}

/* Authenticates an Invoke call (locked): principal "ingress" or "worker:N" under a key derived
 * from the root. 0, or -1 with resp filled. */
static int authenticate_caller(struct lambda *l, const struct sf__httpd_req *req,
                               struct sf__httpd_resp *resp)
{
    if (!l->require_auth)
        return 0;
    struct sf_auth_token t;
    struct sf_err err = {{0}};
    struct sf_auth who;
    int rc = sf_auth_parse_request(sf__httpd_req_header(req, SF_AUTH_REQUEST_HEADER), &t, &err);
    if (rc == SF_OK && strcmp(t.principal, "ingress") != 0 &&
        strncmp(t.principal, "worker:", 7) != 0)
        rc = sf_err_set(&err, SF_EINVAL, "'%s' may not invoke functions", t.principal);
    if (rc == SF_OK)
        rc = sf_auth_derive(&l->root, t.principal, &who, &err);
    if (rc == SF_OK)
        rc = sf_auth_check_request(who.key, &t, req->method, req->url, &err);
    if (rc != SF_OK) {
        l->auth_failures++;
        char msg[SF_ERR_MAX + 64];
        snprintf(msg, sizeof(msg), "The security token included in the request is invalid: %s",
                 err.msg);
        service_error(resp, 403, "UnrecognizedClientException", msg);
        return -1;
    }
    memcpy(resp->auth_key, who.key, sizeof(resp->auth_key));
    memcpy(resp->auth_nonce, t.nonce, sizeof(resp->auth_nonce));
    resp->auth = 1;
    return 0;
}

int sf_lambda_names_function(const char *fn, const char *want)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", fn);
    char *part[8];
    int np = 0;
    for (char *p = buf; np < 8;) {
        part[np++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    const char *name = NULL, *qual = NULL;
    if (np >= 7 && !strcmp(part[0], "arn") && !strcmp(part[2], "lambda") &&
        !strcmp(part[5], "function")) {
        name = part[6];
        qual = np > 7 ? part[7] : NULL;
    } else if (np >= 3 && !strcmp(part[1], "function")) {
        name = part[2];
        qual = np > 3 ? part[3] : NULL;
    } else if (np <= 2) {
        name = part[0];
        qual = np > 1 ? part[1] : NULL;
    }
    return name && !strcmp(name, want) && (!qual || !strcmp(qual, "$LATEST")) ? 0 : -1;
}

static void handle_invoke(struct lambda *l, const struct sf__httpd_req *req,
                          struct sf__httpd_resp *resp, const char *name, const char *rid)
{
    const char *qual = sf__httpd_req_arg(req, "Qualifier");
    if (sf_lambda_names_function(name, l->cfg->function_name) != 0 ||
        (qual && strcmp(qual, "$LATEST") != 0)) {
        char msg[320];
        snprintf(msg, sizeof(msg), "Function not found: %.200s%s%.32s", name, qual ? ":" : "",
                 qual ? qual : "");
        service_error(resp, 404, "ResourceNotFoundException", msg);
        return;
    }
    const char *log_type = sf__httpd_req_header(req, "X-Amz-Log-Type");
    if (log_type && strcmp(log_type, "Tail") != 0 && strcmp(log_type, "None") != 0) {
        service_error(resp, 400, "InvalidParameterValueException",
                      "X-Amz-Log-Type: expected None or Tail");
        return;
    }
    int tail = log_type && !strcmp(log_type, "Tail");
    const char *type = sf__httpd_req_header(req, "X-Amz-Invocation-Type");
    int async = 0, dry = 0;
    if (type && !strcmp(type, "Event"))
        async = 1;
    else if (type && !strcmp(type, "DryRun"))
        dry = 1;
    else if (type && strcmp(type, "RequestResponse") != 0) {
        service_error(resp, 400, "InvalidParameterValueException",
                      "X-Amz-Invocation-Type: expected RequestResponse, Event or DryRun");
        return;
    }
    double cap = async ? LAMBDA_EVENT_MAX_BYTES : l->price->fn_payload_max_bytes;
    if ((double)req->len > cap) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "Request must be smaller than %.0f bytes for the InvokeFunction operation "
                 "(got %zu)",
                 cap, req->len);
        service_error(resp, 413, "RequestEntityTooLargeException", msg);
        return;
    }
    pthread_mutex_lock(&l->mu);
    if (authenticate_caller(l, req, resp) != 0) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    if (dry) { /* the parameters are valid: nothing runs, nothing is billed */
        pthread_mutex_unlock(&l->mu);
        resp->status = 204;
        return;
    }
    if (l->stopping || l->inflight >= LAMBDA_MAX_INFLIGHT ||
        (async && l->event_bytes + req->len > LAMBDA_MAX_EVENT_QUEUE_BYTES) ||
        (l->n_queued >= starting_or_idle(l) && live_instances(l) >= l->cfg->concurrency)) {
        l->throttles++;
        pthread_mutex_unlock(&l->mu);
        char msg[128];
        snprintf(msg, sizeof(msg), "Rate Exceeded: %d concurrent executions", l->cfg->concurrency);
        service_error(resp, 429, "TooManyRequestsException", msg);
        return;
    }
    struct invocation local, *v = &local;
    if (async) {
        v = calloc(1, sizeof(*v));
        char *copy = v ? malloc(req->len ? req->len : 1) : NULL;
        if (!copy) {
            free(v);
            pthread_mutex_unlock(&l->mu);
            service_error(resp, 500, "ServiceException", "out of memory");
            return;
        }
        memcpy(copy, req->body ? req->body : "", req->len);
        v->own_body = copy;
        v->body = copy;
        v->async = 1;
        l->event_bytes += req->len;
        l->events++;
    } else {
        memset(v, 0, sizeof(*v));
        v->body = req->body ? req->body : "";
    }
    v->len = req->len;
    v->inst = -1;
    v->t_queued = sf_monotonic_s();
    /* the invocation's id is the answer's x-amzn-RequestId (a UUID v4 from the CSPRNG: not
     * guessable from another one), as on Lambda */
    snprintf(v->req_id, sizeof(v->req_id), "%s", rid);
    /* the caller's request ids and trace context; this runtime is a span of that trace */
    const char *ids = sf__httpd_req_header(req, "X-Request-Id");
    snprintf(v->ids, sizeof(v->ids), "%s", sf_request_ids_valid(ids) ? ids : "");
    sf_reqtrace_begin(&v->trace, NULL, sf__httpd_req_header(req, "traceparent"));
    l->inflight++;
    l->invocations++;
    if (l->tail)
        l->tail->next = v;
    else
        l->head = v;
    l->tail = v;
    l->n_queued++;
    if (l->n_queued > starting_or_idle(l))
        l->spawn_wanted++;
    wake_all(l);
    if (async) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_header(resp, "X-Amz-Executed-Version", "$LATEST");
        resp->status = 202;
        return;
    }
    /* every exit of this loop is bounded: the queue bound, the timeout (housekeep), the stop */
    while (v->state == INV_QUEUED || v->state == INV_RUNNING) {
        wait_ns(l, LAMBDA_WAIT_NS);
        if (v->state != INV_QUEUED)
            continue;
        if (l->stopping) {
            end_invocation(l, v, INV_FAILED, "Runtime.Unavailable",
                           "the function runtime is shutting down");
        } else if (sf__httpd_client_gone(req)) {
            l->dropped++; /* the caller left: never run, never billed */
            end_invocation(l, v, INV_FAILED, "Runtime.Unavailable", "the caller went away");
        } else if (sf_monotonic_s() - v->t_queued > l->queue_wait_s) {
            l->timeouts++;
            end_invocation(l, v, INV_FAILED, "Sandbox.Timedout",
                           "no function instance became ready in time");
        }
    }
    pthread_mutex_unlock(&l->mu);
    sf__httpd_header(resp, "X-Amz-Executed-Version", "$LATEST");
    char tp[64];
    if (v->ids[0])
        sf__httpd_header(resp, "X-Request-Id", v->ids);
    sf__httpd_header(resp, "traceparent", sf_reqtrace_header(&v->trace, tp, sizeof(tp)));
    if (tail) { /* LogResult: the base64 of the last 4 KB of its log */
        unsigned char b64[4 * ((LAMBDA_LOG_TAIL_BYTES + 2) / 3) + 1];
        EVP_EncodeBlock(b64, (const unsigned char *)v->log, (int)v->log_len);
        sf__httpd_header(resp, "X-Amz-Log-Result", (const char *)b64);
    }
    if (v->billed_s > 0) { /* the bill as data: the caller meters it (not a scrape) */
        char billed[32];
        snprintf(billed, sizeof(billed), "%.0f", v->billed_s * 1000);
        sf__httpd_header(resp, SF_HTTP_BILLED_HEADER, billed);
    }
    if (v->state == INV_FAILED) {
        sf__httpd_header(resp, "X-Amz-Function-Error", "Unhandled");
        json_t *o = json_pack("{s:s,s:s}", "errorType", v->fail_type, "errorMessage",
                              v->fail_msg ? v->fail_msg : "the function instance exited");
        sf__httpd_json(resp, 200, o ? json_dumps(o, JSON_COMPACT) : NULL);
        json_decref(o);
        free(v->out);
        return;
    }
    if (v->out_is_error)
        sf__httpd_header(resp, "X-Amz-Function-Error", "Unhandled");
    resp->status = 200;
    resp->body = v->out;
    resp->len = v->out_len;
    resp->content_type =
        v->out_len && v->out[0] == '{' ? "application/json" : "application/octet-stream";
}

static void handle_next(struct lambda *l, const struct sf__httpd_req *req,
                        struct sf__httpd_resp *resp)
{
    pthread_mutex_lock(&l->mu);
    int slot = authenticated_instance(l, req, resp);
    if (slot < 0) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    struct instance *in = &l->inst[slot];
    double now = sf_monotonic_s();
    if (in->state == INST_STOPPING) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 410, "instance stopped");
        return;
    }
    if (in->cur) { /* polled again without answering: that invocation is over */
        l->no_response++;
        end_invocation(l, in->cur, INV_FAILED, "Runtime.NoResponse",
                       "the instance asked for its next event without answering this one");
    }
    if (in->state == INST_STARTING) {
        in->ready_s = now;
        l->init_s += now - in->spawn_s;
        l->init_fails_in_row = 0;
        /* the configured cold-start delay was spent inside the instance before its first poll */
    }
    in->state = INST_IDLE;
    in->idle_since_s = now;
    uint64_t mine = ++in->poll_seq;
    wake_all(l); /* an older poll of this instance gives way */
    while (!l->head && in->state == INST_IDLE && !l->stopping && in->poll_seq == mine &&
           !sf__httpd_client_gone(req))
        wait_ns(l, 10 * LAMBDA_WAIT_NS);
    if (in->poll_seq != mine) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 409, "superseded by a newer poll of this instance");
        return;
    }
    if (in->state != INST_IDLE || !l->head || l->stopping) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 410, "instance stopped");
        return;
    }
    if (sf__httpd_client_gone(req)) { /* nobody to take the event */
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 410, "the poll went away");
        return;
    }
    struct invocation *v = l->head;
    char *body = malloc(v->len + 1);
    if (!body) {
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, 500, "out of memory");
        return;
    }
    unlink_queued(l, v);
    v->state = INV_RUNNING;
    v->inst = slot;
    v->t_start = sf_monotonic_s();
    in->state = INST_BUSY;
    in->cur = v;
    memcpy(body, v->body, v->len);
    body[v->len] = '\0';
    char deadline[32];
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    snprintf(deadline, sizeof(deadline), "%lld",
             (long long)rt.tv_sec * 1000 + rt.tv_nsec / 1000000 +
                 (long long)(l->cfg->timeout_s * 1000));
    sf__httpd_header(resp, "Lambda-Runtime-Aws-Request-Id", v->req_id);
    sf__httpd_header(resp, "Lambda-Runtime-Deadline-Ms", deadline);
    char arn[SF_NAME_MAX * 4 + 96];
    function_arn(l, arn, sizeof(arn));
    sf__httpd_header(resp, "Lambda-Runtime-Invoked-Function-Arn", arn);
    /* the caller's request ids and trace as Lambda hands a function its caller's context: the
     * client context's custom fields */
    char tp[64];
    json_t *cc = json_pack("{s:{s:s,s:s}}", "custom", "x-request-id", v->ids, "traceparent",
                           sf_reqtrace_header(&v->trace, tp, sizeof(tp)));
    char *ccs = cc ? json_dumps(cc, JSON_COMPACT) : NULL;
    json_decref(cc);
    if (ccs)
        sf__httpd_header(resp, "Lambda-Runtime-Client-Context", ccs);
    free(ccs);
    char start[128];
    int sw = snprintf(start, sizeof(start), "START RequestId: %s Version: $LATEST\n", v->req_id);
    log_append(v, start, (size_t)sw);
    pthread_mutex_unlock(&l->mu);
    resp->status = 200;
    resp->body = body;
    resp->len = v->len;
    resp->content_type = "application/octet-stream";
}

static void handle_result(struct lambda *l, const struct sf__httpd_req *req,
                          struct sf__httpd_resp *resp, const char *req_id, int is_error)
{
    pthread_mutex_lock(&l->mu);
    int slot = authenticated_instance(l, req, resp);
    if (slot < 0) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    struct instance *in = &l->inst[slot];
    struct invocation *v = in->cur;
    if (!v || strcmp(v->req_id, req_id) != 0) {
        /* not this instance's invocation: another's, or over (timed out, failed) */
        int other = 0;
        for (int i = 0; i < LAMBDA_MAX_INSTANCES && !other; i++)
            other = l->inst[i].cur && !strcmp(l->inst[i].cur->req_id, req_id);
        pthread_mutex_unlock(&l->mu);
        sf__httpd_error(resp, other ? 403 : 404,
                        other ? "invocation %.40s is held by another instance"
                              : "no invocation %.40s running on this instance",
                        req_id);
        return;
    }
    if (!v->async && req->len) {
        v->out = malloc(req->len + 1);
        if (v->out) {
            memcpy(v->out, req->body, req->len);
            v->out[req->len] = '\0';
            v->out_len = req->len;
        }
    }
    v->out_is_error = is_error;
    read_instance_log(in, 0); /* what it wrote for this invocation, before its answer */
    v->max_mem_mb = peak_mem_mb(in);
    end_invocation(l, v, INV_DONE, NULL, NULL); /* v may be freed (Event) */
    in->state = INST_IDLE;                      /* until its next poll */
    in->idle_since_s = sf_monotonic_s();
    pthread_mutex_unlock(&l->mu);
    sf__httpd_json(resp, 202, sf_strdup("{\"status\":\"OK\"}"));
}

/* The runtime's metric families: declared in its registry at start (metrics.h, the same
 * registry and exposition code every serving process uses), their values taken from its state at
 * each scrape. */
#define LAMBDA_METRICS(X)                                                                          \
    X(INVOCATIONS, "serflow_function_invocations_total", COUNTER, "Invocations received.")         \
    X(BILLED, "serflow_function_billed_invocations_total", COUNTER, "Invocations billed.")         \
    X(GB_S, "serflow_function_gigabyte_seconds_total", COUNTER,                                    \
      "Billed GB-seconds (1 ms rounding; init of failed starts included).")                        \
    X(COST, "serflow_function_cost_usd_total", COUNTER, "Duration cost plus request fees.")        \
    X(FEES, "serflow_function_fees_usd_total", COUNTER, "Request fees.")                           \
    X(COLD, "serflow_function_cold_starts_total", COUNTER, "Instances started.")                   \
    X(INIT_FAIL, "serflow_function_init_failures_total", COUNTER,                                  \
      "Instances that exited before their first poll.")                                            \
    X(THROTTLES, "serflow_function_throttles_total", COUNTER,                                      \
      "Invocations refused at the cap (429).")                                                     \
    X(TIMEOUTS, "serflow_function_timeouts_total", COUNTER,                                        \
      "Invocations killed at the timeout or not started in time.")                                 \
    X(CRASHES, "serflow_function_crashes_total", COUNTER, "Instances that exited mid-invocation.") \
    X(ERRORS, "serflow_function_errors_total", COUNTER,                                            \
      "Invocations answered with a function error.")                                               \
    X(NO_RESPONSE, "serflow_function_no_response_total", COUNTER,                                  \
      "Invocations abandoned by an instance that polled again.")                                   \
    X(DROPPED, "serflow_function_dropped_total", COUNTER,                                          \
      "Queued invocations whose caller went away (never run).")                                    \
    X(EVENTS, "serflow_function_events_total", COUNTER,                                            \
      "Asynchronous (Event) invocations queued.")                                                  \
    X(AUTH_FAIL, "serflow_function_auth_failures_total", COUNTER,                                  \
      "Requests refused for a missing or wrong identity.")                                         \
    X(INIT_S, "serflow_function_init_seconds_total", COUNTER,                                      \
      "Init time of the instances started (process start, model load, configured delay).")         \
    X(INSTANCES, "serflow_function_instances", GAUGE, "Function instances alive.")                 \
    X(QUEUED, "serflow_function_queued", GAUGE, "Invocations waiting for an instance.")            \
    X(STARTING, "serflow_function_instances_starting", GAUGE,                                      \
      "Function instances in their init (spawned or about to be, not yet polling).")               \
    X(READY, "serflow_function_ready", GAUGE,                                                      \
      "1 when instances start; 0 after several failed starts in a row.")

#define LM_ENUM(id, name, type, help) LM_##id,
enum { LAMBDA_METRICS(LM_ENUM) LM_COUNT };
#undef LM_ENUM
_Static_assert(LM_COUNT <= LAMBDA_METRIC_FAMILIES, "struct lambda's fam[] is too small");

static int metrics_init(struct lambda *l, struct sf_err *err)
{
    static const struct {
        const char *name, *help;
        enum sf_metric_type type;
    } fams[] = {
#define LM_ROW(id, name, type, help) {name, help, SF_METRIC_##type},
        LAMBDA_METRICS(LM_ROW)
#undef LM_ROW
    };
    l->reg = sf_metrics_new();
    if (!l->reg)
        return sf_err_set(err, SF_ENOMEM, "lambda: out of memory");
    for (int i = 0; i < LM_COUNT; i++) {
        /* every series present from the start, at 0 (the registry's default) */
        l->fam[i] =
            sf_metrics_family(l->reg, fams[i].name, fams[i].type, fams[i].help, NULL, 0, NULL);
        if (l->fam[i] < 0)
            return sf_err_set(err, SF_EINVAL, "lambda: metric %s refused", fams[i].name);
    }
    static const double DURATION_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10,   30};
    l->fam_duration =
        sf_metrics_family(l->reg, "serflow_function_duration_seconds", SF_METRIC_HISTOGRAM,
                          "Invocations' run time on an instance (what REPORT's Duration says).",
                          DURATION_BUCKETS, SF_ARRAY_LEN(DURATION_BUCKETS), NULL);
    l->fam_api = sf_metrics_family(l->reg, "serflow_function_api_requests_total", SF_METRIC_COUNTER,
                                   "Lambda API and Runtime API requests, by operation.", NULL, 0,
                                   OPERATION_LABELS);
    if (l->fam_duration < 0 || l->fam_api < 0)
        return sf_err_set(err, SF_EINVAL, "lambda: metrics refused");
    return SF_OK;
}

static void handle_metrics(struct lambda *l, struct sf__httpd_resp *resp)
{
    double v[LM_COUNT];
    pthread_mutex_lock(&l->mu);
    v[LM_INVOCATIONS] = (double)l->invocations;
    v[LM_BILLED] = (double)l->meter.invocations;
    v[LM_GB_S] = l->meter.fn_gb_s;
    v[LM_COST] = l->meter.fn_usd + l->meter.fee_usd;
    v[LM_FEES] = l->meter.fee_usd;
    v[LM_COLD] = (double)l->cold_starts;
    v[LM_INIT_FAIL] = (double)l->init_failures;
    v[LM_THROTTLES] = (double)l->throttles;
    v[LM_TIMEOUTS] = (double)l->timeouts;
    v[LM_CRASHES] = (double)l->crashes;
    v[LM_ERRORS] = (double)l->errors;
    v[LM_NO_RESPONSE] = (double)l->no_response;
    v[LM_DROPPED] = (double)l->dropped;
    v[LM_EVENTS] = (double)l->events;
    v[LM_AUTH_FAIL] = (double)l->auth_failures;
    v[LM_INIT_S] = l->init_s;
    v[LM_INSTANCES] = (double)(live_instances(l) - l->spawn_wanted);
    v[LM_QUEUED] = (double)l->n_queued;
    v[LM_STARTING] = (double)(l->spawn_wanted + count_state(l, INST_STARTING));
    v[LM_READY] = l->init_fails_in_row < LAMBDA_INIT_FAILS_DOWN ? 1.0 : 0.0;
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < LM_COUNT; i++)
        sf_metrics_set(l->reg, l->fam[i], "", v[i]);
    size_t len = 0;
    char *t = sf_metrics_render(l->reg, &len);
    if (!t) {
        sf__httpd_error(resp, 500, "out of memory");
        return;
    }
    resp->status = 200;
    resp->body = t;
    resp->len = len;
    resp->content_type = "text/plain; version=0.0.4";
}

static void handle_health(struct lambda *l, struct sf__httpd_resp *resp)
{
    pthread_mutex_lock(&l->mu);
    int fails = l->init_fails_in_row;
    int stopping = l->stopping;
    pthread_mutex_unlock(&l->mu);
    if (stopping)
        sf__httpd_json(resp, 503, sf_strdup("{\"ready\":false,\"reason\":\"stopping\"}"));
    else if (fails >= LAMBDA_INIT_FAILS_DOWN)
        sf__httpd_error(resp, 503, "function instances failed to start %d times in a row", fails);
    else
        sf__httpd_json(resp, 200, sf_strdup("{\"ready\":true}"));
}

/* ---- the control plane: what a client asks before it invokes ---- */

static void function_arn(const struct lambda *l, char *buf, size_t size)
{
    snprintf(buf, size, "arn:aws:lambda:%s:%s:function:%s", LAMBDA_REGION, LAMBDA_ACCOUNT,
             l->cfg->function_name);
}

/* A UUID v4 from the CSPRNG into buf (>= 37). */
static void new_uuid(char *buf, size_t size)
{
    unsigned char r[16];
    sf_auth_random(r, sizeof(r));
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

/* What GetFunction says of the code and when it changed: the executable the instances run (its
 * size and SHA-256, as Lambda reports a deployment package's), the runtime's start time. */
static int control_init(struct lambda *l, struct sf_err *err)
{
    FILE *f = fopen(l->exe, "rb");
    if (!f)
        return sf_err_set(err, SF_EIO, "lambda: cannot read %s", l->exe);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char buf[65536], digest[32];
    unsigned dl = 0;
    size_t n;
    long long total = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        ok = EVP_DigestUpdate(md, buf, n) == 1;
        total += (long long)n;
    }
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, digest, &dl) == 1 && dl == 32;
    fclose(f);
    EVP_MD_CTX_free(md);
    if (!ok)
        return sf_err_set(err, SF_EIO, "lambda: cannot hash %s", l->exe);
    EVP_EncodeBlock((unsigned char *)l->code_sha256, digest, 32);
    l->code_bytes = total;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    snprintf(l->last_modified, sizeof(l->last_modified), "%04d-%02d-%02dT%02d:%02d:%02d.%03u+0000",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(now.tv_nsec / 1000000) % 1000);
    new_uuid(l->revision_id, sizeof(l->revision_id));
    return SF_OK;
}

/* The FunctionConfiguration of the function this runtime serves, from its settings (locked:
 * its state reads the instances' start failures). */
static json_t *function_config(struct lambda *l)
{
    char arn[SF_NAME_MAX * 4 + 96], desc[256];
    function_arn(l, arn, sizeof(arn));
    snprintf(desc, sizeof(desc),
             "serflow function: the early-exit model in %s, tau %g for OIP events (local "
             "runtime)",
             l->cfg->model_dir, l->cfg->tau);
    int failing = l->init_fails_in_row >= LAMBDA_INIT_FAILS_DOWN;
    json_t *c = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:{s:i},s:{s:s},"
        "s:s}",
        "FunctionName", l->cfg->function_name, "FunctionArn", arn, "Runtime", "provided.al2",
        "Role", "arn:aws:iam::" LAMBDA_ACCOUNT ":role/serflow-local", "Handler", "serflow.function",
        "CodeSize", (json_int_t)l->code_bytes, "Description", desc,
        /* Lambda's timeout is whole seconds: a fraction rounds up */
        "Timeout", (int)ceil(l->cfg->timeout_s), "MemorySize", l->cfg->memory_mb, "LastModified",
        l->last_modified, "CodeSha256", l->code_sha256, "Version", "$LATEST", "RevisionId",
        l->revision_id, "State", failing ? "Failed" : "Active", "LastUpdateStatus", "Successful",
        "Architectures",
#if defined(__aarch64__)
        "arm64",
#else
        "x86_64",
#endif
        "EphemeralStorage", "Size", 512, "TracingConfig", "Mode", "PassThrough", "PackageType",
        "Zip");
    if (c && failing) {
        char why[128];
        snprintf(why, sizeof(why), "function instances failed to start %d times in a row",
                 l->init_fails_in_row);
        json_object_set_new(c, "StateReason", json_string(why));
        json_object_set_new(c, "StateReasonCode", json_string("InternalError"));
    }
    return c;
}

static void answer_json(struct sf__httpd_resp *resp, json_t *o)
{
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body)
        sf__httpd_json(resp, 200, body);
    else
        service_error(resp, 500, "ServiceException", "out of memory");
}

/* 0 when name (a path's FunctionName) and the Qualifier query argument name this function at
 * $LATEST; else resp is a ResourceNotFoundException. */
static int is_ours(struct lambda *l, const struct sf__httpd_req *req, const char *name,
                   struct sf__httpd_resp *resp)
{
    const char *qual = sf__httpd_req_arg(req, "Qualifier");
    if (sf_lambda_names_function(name, l->cfg->function_name) == 0 &&
        (!qual || !strcmp(qual, "$LATEST")))
        return 0;
    char msg[800], arn[SF_NAME_MAX * 4 + 96];
    function_arn(l, arn, sizeof(arn));
    snprintf(msg, sizeof(msg), "Function not found: %.200s%s%.32s (this runtime serves %s)", name,
             qual ? ":" : "", qual ? qual : "", arn);
    service_error(resp, 404, "ResourceNotFoundException", msg);
    return -1;
}

static void handle_get_function(struct lambda *l, const struct sf__httpd_req *req,
                                struct sf__httpd_resp *resp, const char *name, int config_only)
{
    if (is_ours(l, req, name, resp) != 0)
        return;
    pthread_mutex_lock(&l->mu);
    json_t *c = function_config(l);
    pthread_mutex_unlock(&l->mu);
    if (config_only || !c) {
        answer_json(resp, c);
        return;
    }
    char loc[SF_PATH_BYTES + 16];
    snprintf(loc, sizeof(loc), "file://%s", l->cfg->model_dir);
    answer_json(resp, json_pack("{s:o,s:{s:s,s:s},s:{}}", "Configuration", c, "Code",
                                "RepositoryType", "Local", "Location", loc, "Tags"));
}

static void handle_list(struct lambda *l, const struct sf__httpd_req *req,
                        struct sf__httpd_resp *resp)
{
    const char *max = sf__httpd_req_arg(req, "MaxItems"),
               *marker = sf__httpd_req_arg(req, "Marker"),
               *version = sf__httpd_req_arg(req, "FunctionVersion"),
               *region = sf__httpd_req_arg(req, "MasterRegion");
    if (max) {
        char *end;
        long v = strtol(max, &end, 10);
        if (!*max || *end || v < 1 || v > LAMBDA_LIST_MAX_ITEMS) {
            service_error(resp, 400, "InvalidParameterValueException",
                          "MaxItems: expected an integer from 1 to 10000");
            return;
        }
    }
    if (version && strcmp(version, "ALL") != 0) {
        service_error(resp, 400, "InvalidParameterValueException",
                      "FunctionVersion: the only value is ALL");
        return;
    }
    if (region && !version) {
        service_error(resp, 400, "InvalidParameterValueException",
                      "MasterRegion: needs FunctionVersion ALL");
        return;
    }
    if (marker) { /* this runtime never hands one out: its one function fits a page */
        service_error(resp, 400, "InvalidParameterValueException",
                      "Marker: not a pagination token of this runtime");
        return;
    }
    pthread_mutex_lock(&l->mu);
    json_t *c = function_config(l);
    pthread_mutex_unlock(&l->mu);
    /* Lambda@Edge replicas of a master region: none here */
    answer_json(resp, c ? region ? (json_decref(c), json_pack("{s:[]}", "Functions"))
                                 : json_pack("{s:[o]}", "Functions", c)
                        : NULL);
}

static void handle_account(struct lambda *l, struct sf__httpd_resp *resp)
{
    answer_json(resp,
                json_pack("{s:{s:I,s:I,s:I,s:i,s:i},s:{s:I,s:I}}", "AccountLimit", "TotalCodeSize",
                          (json_int_t)LAMBDA_TOTAL_CODE_BYTES, "CodeSizeUnzipped",
                          (json_int_t)LAMBDA_CODE_UNZIPPED_BYTES, "CodeSizeZipped",
                          (json_int_t)LAMBDA_CODE_ZIPPED_BYTES, "ConcurrentExecutions",
                          l->cfg->concurrency, "UnreservedConcurrentExecutions",
                          l->cfg->concurrency, "AccountUsage", "TotalCodeSize",
                          (json_int_t)l->code_bytes, "FunctionCount", (json_int_t)1));
}

/* The FunctionName of /2015-03-31/functions/NAME[suffix] into name; 0, or -1 when u is not that
 * path (a name holds no '/'). */
static int function_path(const char *u, const char *suffix, char *name, size_t size)
{
    static const char pre[] = "/2015-03-31/functions/";
    size_t pl = sizeof(pre) - 1, ul = strlen(u), sl = strlen(suffix);
    if (ul <= pl + sl || strncmp(u, pre, pl) != 0 || strcmp(u + ul - sl, suffix) != 0)
        return -1;
    size_t nl = ul - pl - sl;
    if (nl >= size || memchr(u + pl, '/', nl))
        return -1;
    memcpy(name, u + pl, nl);
    name[nl] = '\0';
    return 0;
}

/* The Lambda API (Invoke and the control plane), the Runtime API of the instances, /metrics and
 * /health. Every answer carries x-amzn-RequestId (an invocation's is its id); a path or method
 * this runtime does not serve is a typed error (X-Amzn-ErrorType UnknownOperationException). */
static int route(struct lambda *l, const struct sf__httpd_req *req, struct sf__httpd_resp *resp,
                 const char *rid)
{
    static const char rt_pre[] = "/2018-06-01/runtime/invocation/";
    const char *u = req->url;
    int get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    char name[256];
    if (post && function_path(u, "/invocations", name, sizeof(name)) == 0) {
        handle_invoke(l, req, resp, name, rid);
        return LO_INVOKE;
    }
    if (get && function_path(u, "/configuration", name, sizeof(name)) == 0) {
        handle_get_function(l, req, resp, name, 1);
        return LO_GET_CONFIG;
    }
    if (get && (!strcmp(u, "/2015-03-31/functions/") || !strcmp(u, "/2015-03-31/functions"))) {
        handle_list(l, req, resp);
        return LO_LIST;
    }
    if (get && function_path(u, "", name, sizeof(name)) == 0) {
        handle_get_function(l, req, resp, name, 0);
        return LO_GET_FUNCTION;
    }
    if (get && (!strcmp(u, "/2016-08-19/account-settings/") ||
                !strcmp(u, "/2016-08-19/account-settings"))) {
        handle_account(l, resp);
        return LO_ACCOUNT;
    }
    if (!strcmp(u, "/2018-06-01/runtime/invocation/next") && get) {
        handle_next(l, req, resp);
        return LO_RUNTIME;
    }
    if (!strncmp(u, rt_pre, sizeof(rt_pre) - 1) && post) {
        const char *id = u + sizeof(rt_pre) - 1;
        const char *slash = strchr(id, '/');
        char inv[64];
        if (!slash || (size_t)(slash - id) >= sizeof(inv)) {
            sf__httpd_error(resp, 404, "no such runtime endpoint");
            return LO_RUNTIME;
        }
        memcpy(inv, id, (size_t)(slash - id));
        inv[slash - id] = '\0';
        if (!strcmp(slash, "/response"))
            handle_result(l, req, resp, inv, 0);
        else if (!strcmp(slash, "/error"))
            handle_result(l, req, resp, inv, 1);
        else
            sf__httpd_error(resp, 404, "no such runtime endpoint");
        return LO_RUNTIME;
    }
    if (!strcmp(u, "/metrics") && get) {
        handle_metrics(l, resp);
        return -1;
    }
    if (!strcmp(u, "/health") && get) {
        handle_health(l, resp);
        return -1;
    }
    char msg[400];
    snprintf(msg, sizeof(msg),
             "%s %.200s: not an operation of this local Lambda runtime (it serves Invoke, "
             "GetFunction, GetFunctionConfiguration, ListFunctions and GetAccountSettings)",
             req->method, u);
    service_error(resp, 404, "UnknownOperationException", msg);
    return LO_OTHER;
}

static void lambda_handler(void *ctx, const struct sf__httpd_req *req, struct sf__httpd_resp *resp)
{
    struct lambda *l = ctx;
    char rid[40];
    new_uuid(rid, sizeof(rid));
    int op = route(l, req, resp, rid);
    sf__httpd_header(resp, "x-amzn-RequestId", rid);
    if (op >= 0)
        sf_metrics_add(l->reg, l->fam_api, OPERATION_LABELS[op], 1);
    if (op >= 0 && op != LO_INVOKE && op != LO_RUNTIME) /* Invoke logs its invocation */
        sf_log(resp->status >= 400 ? SF_LOG_WARN : SF_LOG_INFO, "api",
               SF_LS("operation", OPERATION_NAMES[op]), SF_LS("method", req->method),
               SF_LS("path", req->url), SF_LI("status", resp->status), SF_LS("request_id", rid));
}

static double backoff_s(int fails)
{
    double b = LAMBDA_BACKOFF_BASE_S;
    for (int i = 1; i < fails && b < LAMBDA_BACKOFF_MAX_S; i++)
        b *= 2;
    return b < LAMBDA_BACKOFF_MAX_S ? b : LAMBDA_BACKOFF_MAX_S;
}

/* Starts wanted instances, reaps exited ones (failing their invocation), enforces the timeout of
 * running invocations and the idle timeout, expires queued Event invocations; locked. Runs on
 * the main thread: a child's parent-death signal follows the thread that started it. */
static void housekeep(struct lambda *l, double now)
{
    if (l->spawn_wanted > l->cfg->concurrency)
        l->spawn_wanted = l->cfg->concurrency;
    while (l->spawn_wanted > 0 && now >= l->next_spawn_s && !l->stopping) {
        /* after failed starts: one at a time, each after its back-off */
        if (l->init_fails_in_row && count_state(l, INST_STARTING))
            break;
        l->spawn_wanted--;
        if (spawn_instance(l, now) < 0) {
            l->init_failures++;
            l->init_fails_in_row++;
            l->next_spawn_s = now + backoff_s(l->init_fails_in_row);
        }
    }
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++) {
        struct instance *in = &l->inst[i];
        if (in->state == INST_FREE)
            continue;
        read_instance_log(in, 0);
        if (sf_proc_reap(&in->proc)) {
            read_instance_log(in, 1); /* its last words (a crash's report) */
            if (in->cur) {
                l->crashes++;
                end_invocation(l, in->cur, INV_FAILED, "Runtime.ExitError",
                               "the function instance exited");
            }
            if (in->state == INST_STARTING) { /* died before its first poll */
                l->init_failures++;
                l->init_fails_in_row++;
                l->next_spawn_s = now + backoff_s(l->init_fails_in_row);
                sf_meter_fn_init(&l->meter, l->price, 0, l->cfg->memory_mb, now - in->spawn_s);
                if (l->n_queued > starting_or_idle(l) - 1)
                    l->spawn_wanted++; /* its invocations still need an instance */
            }
            sf_proc_stop(&in->proc, 0);
            memset(in, 0, sizeof(*in));
            wake_all(l);
            continue;
        }
        if (in->state == INST_BUSY && in->cur && now - in->cur->t_start > l->cfg->timeout_s) {
            l->timeouts++;
            end_invocation(l, in->cur, INV_FAILED, "Sandbox.Timedout", "Task timed out");
            sf_proc_signal(&in->proc, SIGKILL);
            in->state = INST_STOPPING;
        } else if (in->state == INST_IDLE && now - in->idle_since_s > l->cfg->idle_timeout_s) {
            in->state = INST_STOPPING;
            sf_proc_signal(&in->proc, SIGKILL);
            wake_all(l);
        }
    }
    /* failing starts: nothing is coming for the queue, so it fails now rather than waiting */
    int hopeless = l->init_fails_in_row >= LAMBDA_INIT_FAILS_DOWN &&
                   !count_state(l, INST_STARTING) && !count_state(l, INST_IDLE);
    for (struct invocation *v = l->head, *nx; v; v = nx) {
        nx = v->next;
        if (hopeless)
            end_invocation(l, v, INV_FAILED, "Runtime.InitError",
                           "function instances fail to start");
        else if (v->async && now - v->t_queued > l->queue_wait_s) {
            l->events_dropped++;
            end_invocation(l, v, INV_FAILED, "Sandbox.Timedout", "not started in time");
        }
    }
    if (hopeless)
        l->spawn_wanted = l->spawn_wanted > 1 ? 1 : l->spawn_wanted;
}

/* Stops: every queued invocation fails, every instance is killed (failing what it ran). */
static void stop_all(struct lambda *l)
{
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    while (l->head)
        end_invocation(l, l->head, INV_FAILED, "Runtime.Unavailable",
                       "the function runtime is shutting down");
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        if (l->inst[i].state != INST_FREE) {
            read_instance_log(&l->inst[i], 1); /* what it wrote before it is killed */
            sf_proc_signal(&l->inst[i].proc, SIGKILL);
        }
    wake_all(l);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < LAMBDA_MAX_INSTANCES; i++)
        if (l->inst[i].state != INST_FREE) {
            sf_proc_stop(&l->inst[i].proc, 1.0);
            pthread_mutex_lock(&l->mu);
            if (l->inst[i].cur)
                end_invocation(l, l->inst[i].cur, INV_FAILED, "Runtime.ExitError",
                               "the function runtime is shutting down");
            memset(&l->inst[i], 0, sizeof(l->inst[i]));
            wake_all(l);
            pthread_mutex_unlock(&l->mu);
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
    l->queue_wait_s = cfg->timeout_s + cfg->cold_start_delay_s + LAMBDA_INIT_LIMIT_S;
    pthread_mutex_init(&l->mu, NULL);
    int rc = SF_OK;
    if (sf_cond_init_monotonic(&l->cv) != SF_OK)
        rc = sf_err_set(err, SF_EIO, "function runtime: cannot make a condition variable");
    else if (cfg->concurrency < 1 || cfg->concurrency > LAMBDA_MAX_INSTANCES)
        rc = sf_err_set(err, SF_EINVAL, "--concurrency: %d out of 1..%d", cfg->concurrency,
                        LAMBDA_MAX_INSTANCES);
    else if (cfg->memory_mb < price->fn_mem_min_mb || cfg->memory_mb > price->fn_mem_max_mb)
        rc = sf_err_set(err, SF_EINVAL, "--memory-mb: %d outside the catalog's %d..%d",
                        cfg->memory_mb, price->fn_mem_min_mb, price->fn_mem_max_mb);
    if (rc == SF_OK && cfg->auth && cfg->auth->set) {
        l->root = *cfg->auth;
        l->require_auth = 1;
    } else if (rc == SF_OK) {
        rc = sf_auth_new_root(&l->root, err); /* the instances' keys only */
    }
    if (rc == SF_OK)
        rc = sf_proc_self_exe(l->exe, sizeof(l->exe), err);
    if (rc == SF_OK)
        rc = control_init(l, err);
    if (rc == SF_OK)
        rc = metrics_init(l, err);
    struct sf__httpd *h = NULL;
    if (rc == SF_OK) {
        size_t body_cap = (size_t)price->fn_payload_max_bytes;
        if (body_cap > SF_SERVE_MAX_BODY_BYTES)
            body_cap = SF_SERVE_MAX_BODY_BYTES;
        struct sf__httpd_cfg hc = {.host = cfg->host,
                                   .port = cfg->port,
                                   .max_connections = LAMBDA_MAX_CONNECTIONS,
                                   .max_per_client = 0, /* every caller is on loopback */
                                   .idle_timeout_s = LAMBDA_IDLE_CONN_S,
                                   .request_timeout_s = LAMBDA_REQUEST_TIMEOUT_S,
                                   .max_body_bytes = body_cap,
                                   .max_buffered_bytes = LAMBDA_MAX_BUFFERED_BYTES,
                                   .handler = lambda_handler,
                                   .ctx = l,
                                   .refusal = refusal};
        rc = sf__httpd_start(&h, &hc, err);
    }
    if (rc == SF_OK) {
        cfg->bound_port = sf__httpd_port(h);
        if (sf_proc_announce_ready(cfg->ready_fd, cfg->host, cfg->bound_port) != SF_OK)
            rc = sf_err_set(err, SF_EIO, "lambda: cannot write the readiness line");
        char addr[160];
        snprintf(addr, sizeof(addr), "http://%s:%d", cfg->host, cfg->bound_port);
        sf_log(SF_LOG_INFO, "ready", SF_LS("address", addr), SF_LS("function", cfg->function_name),
               SF_LI("memory_mb", cfg->memory_mb), SF_LI("concurrency", cfg->concurrency),
               SF_LB("authenticated", l->require_auth));
    }
    while (rc == SF_OK && !*stop) {
        /* woken at once when an invocation wants a new instance, else every 10 ms */
        pthread_mutex_lock(&l->mu);
        if (!l->spawn_wanted || sf_monotonic_s() < l->next_spawn_s)
            wait_ns(l, LAMBDA_WAIT_NS);
        housekeep(l, sf_monotonic_s());
        pthread_mutex_unlock(&l->mu);
    }
    /* stop: refuse new work, end every invocation, stop every instance, answer every caller */
    sf__httpd_quiesce(h);
    sf__httpd_closing(h);
    stop_all(l);
    sf__httpd_drain(h, 2.0);
    sf__httpd_stop(h);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    sf_metrics_free(l->reg);
    free(l);
    return rc;
}

const char *const sf_lambda_faults[] = {"crash", "hang", "start", "repoll", NULL};

void sf_lambda_defaults(struct sf_lambda_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->host = "127.0.0.1";
    c->memory_mb = 1769;
    c->tau = 1;
    c->timeout_s = 10;
    c->idle_timeout_s = 60;
    c->concurrency = 16;
    c->ready_fd = -1;
    c->backend = SF_NN_BACKEND_DNNL;
    c->log_level = SF_LOG_INFO;
    c->log_format = SF_LOG_TEXT;
}

int sf_lambda_argv(const struct sf_lambda_cfg *c, struct sf_argv *a, struct sf_err *err)
{
    struct sf_lambda_cfg d;
    sf_lambda_defaults(&d);
    int rc = SF_OK;
#define sf__emit_FAULT sf__emit_STR
#define EMIT(ID, name, KIND, field, meta, help, lo, hi)                                            \
    if (rc == SF_OK)                                                                               \
        rc = sf__emit_##KIND(a, name, &c->field, &d.field);
    SF_LAMBDA_OPTIONS(EMIT)
#undef EMIT
#undef sf__emit_FAULT
    return rc == SF_OK ? SF_OK : sf_err_set(err, rc, "lambda: the command line is too long");
}
