/* cmd_serve.c - `serflow serve`: plans the model (or takes a forced pool and cut), picks the
 * policy's path the way `serflow replay` does (serflow: the plan's cheapest at tau; libra, spock,
 * mark: the cheapest IaaS; faas: functions only), and runs the ingress until SIGTERM. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "serflow/aws.h"
#include "serflow/wire.h"
#include "serflow/http.h"
#include "serflow/ingress.h"
#include "serflow/log.h"
#include "serflow/sim.h"
#include "serve_cli.h"

enum {
    S_MODEL = 1,
    S_PROFILE,
    S_PRICING,
    S_TAU,
    S_TRAFFIC,
    S_POLICY,
    S_POOL,
    S_CUT,
    S_VM,
    S_INSTANCES,
    S_TCIP,
    S_WORKER_URL,
    S_NO_SPILL,
    S_INPROC,
    S_COLD,
    S_PERIOD,
    S_TERM,
    S_K,
    S_SEED,
    S_BATCHING,
    S_MARGIN,
    S_TIME_SCALE,
    S_FN_TIMEOUT,
    S_FN_IDLE,
    S_FN_CONC,
    S_FN_COLD,
    S_FN_COLD_ALLOW,
    S_FN_DISP,
    S_LAMBDA_URL,
    S_FN_FAULT,
    S_WORKER_DELAY,
    S_WORKER_NO_START,
    S_QUEUE,
    S_MAXCONN,
    S_PER_CLIENT,
    S_IDLE,
    S_REQ_TIMEOUT,
    S_MAXBODY,
    S_MAXBUF,
    S_MAXIMG,
    S_DEADLINE,
    S_GRACE,
    S_HOST,
    S_PORT,
    S_READY_FD,
    S_BACKEND,
    S_PROVIDER,
    S_AWS_REGION,
    S_AWS_ENDPOINT,
    S_AWS_EP_ASG,
    S_AWS_EP_EC2,
    S_AWS_EP_ELB,
    S_AWS_EP_LAMBDA,
    S_AWS_GROUP,
    S_AWS_FUNCTION,
    S_AWS_PORT,
    S_AWS_TG,
    S_AWS_POLL,
    S_AWS_TIMEOUT,
    S_AWS_ATTEMPTS,
    S_HTTP_THREADS,
    S_SPIN_US,
    S_LOG_LEVEL,
    S_LOG_FORMAT
};

static const char *const provider_words[] = {"local", "aws", NULL};

static const char *const pool_words[] = {"faas", "iaas", "hybrid", NULL};
static const char *const fault_words[] = {"crash", "hang", "start", "repoll", NULL};

static const struct sf_opt serve_opts[] = {
    SF_SO_SECTION("Model and plan:"),
    SF_SO_STR(S_MODEL, "model", "DIR", "model directory (default: models/fmnist-ee)"),
    SF_CLI_OPT_PROFILE(S_PROFILE),
    SF_CLI_OPT_PRICING(S_PRICING),
    SF_SO_NUM(S_TAU, "tau", "T", "threshold (default: the planner's choice)", 0, 1),
    SF_SO_STR(S_TRAFFIC, "traffic", "FILE",
              "plan the path against this traffic (requests per epoch,\none per line; as serflow "
              "plan --traffic) instead of the profile's rate"),
    {.id = S_POLICY,
     .name = "policy",
     .kind = SF_OPT_STR,
     .metavar = "P",
     .help = "the online policy (default: serflow):",
     .more_help = sf_cli_help_online_policies},
    SF_SO_WORD(S_POOL, "pool", "P", "force a path: faas, iaas, or hybrid (with --cut)", pool_words),
    SF_SO_INT(S_CUT, "cut", "C", "the forced hybrid's cut", 1, SF_MAX_STAGES),
    SF_SO_STR(S_VM, "vm", "NAME", "the forced path's VM type (default: the cheapest)"),
    SF_SO_INT(S_INSTANCES, "instances", "N",
              "a fixed fleet of N instances (ignores the policy's target)", 0, 64),
    SF_SO_NUM(S_TCIP, "tcip", "RPS", "override the planned T-CIP (as serflow replay --tcip)", 0,
              1e12),
    SF_SO_STR(S_WORKER_URL, "worker-url", "H:P",
              "use running workers (repeatable) instead of\nstarting them (the static provider)"),
    SF_SO_FLAG(S_NO_SPILL, "no-spill",
               "IaaS without the FaaS spill: batches wait for a free instance"),
    SF_SO_SECTION("Providers (docs/serving.md \"Providers\", docs/deploy-aws.md):"),
    SF_SO_WORD(S_PROVIDER, "provider", "P",
               "local (default: worker processes and a function runtime\nhere) or aws (an EC2 Auto "
               "Scaling group and a Lambda function;\nSERFLOW_AUTH holds the deployment's root)",
               provider_words),
    SF_SO_STR(S_AWS_REGION, "aws-region", "R", "the region (default: AWS_REGION, the config file)"),
    SF_SO_STR(S_AWS_ENDPOINT, "aws-endpoint-url", "U",
              "every AWS service at this base URL (a test's fake)"),
    SF_SO_STR(S_AWS_EP_ASG, "aws-autoscaling-endpoint", "U", "Auto Scaling at this base URL"),
    SF_SO_STR(S_AWS_EP_EC2, "aws-ec2-endpoint", "U", "EC2 at this base URL"),
    SF_SO_STR(S_AWS_EP_ELB, "aws-elbv2-endpoint", "U", "Elastic Load Balancing at this base URL"),
    SF_SO_STR(S_AWS_EP_LAMBDA, "aws-lambda-endpoint", "U", "Lambda at this base URL"),
    SF_SO_STR(S_AWS_GROUP, "aws-group", "NAME", "the workers' Auto Scaling group"),
    SF_SO_STR(S_AWS_FUNCTION, "aws-function", "NAME", "the Lambda function (a name or ARN)"),
    SF_SO_INT(S_AWS_PORT, "aws-worker-port", "N",
              "the port the workers listen on at their private address (8081)", 1, 65535),
    SF_SO_STR(S_AWS_TG, "aws-target-group", "ARN",
              "readiness from this target group's health\n(default: each worker's GET /v1/health)"),
    SF_SO_NUM(S_AWS_POLL, "aws-poll-s", "S", "the group is described this often (1)", 0.01, 3600),
    SF_SO_NUM(S_AWS_TIMEOUT, "aws-timeout-s", "S", "per attempt of an AWS call (10)", 0.01, 900),
    SF_SO_INT(S_AWS_ATTEMPTS, "aws-max-attempts", "N",
              "attempts per AWS call (3; AWS_MAX_ATTEMPTS)", 1, 20),
    SF_SO_FLAG(S_INPROC, "inproc",
               "run the VM instances inside this process (the same-process\nfast path, IaaS "
               "paths: no worker process, no isolation)"),
    SF_SO_SECTION("Controller (as serflow replay):"),
    SF_SO_STR(S_COLD, "cold-start", "MIN:MAX", "VM boot in epochs, uniform (18:22)"),
    SF_SO_INT(S_PERIOD, "scale-period", "P", "epochs between scaling decisions (25)", 1, 1000000),
    SF_SO_INT(S_TERM, "terminate-delay", "D", "epochs until a termination takes effect (2)", 0,
              1000000),
    SF_SO_NUM(S_K, "k", "K", "weight of sigma in the instance target (1)", 0, 100),
    SF_SO_INT(S_SEED, "seed", "S", "seed of the VM boot-delay draws (1)", 0, 1000000000000LL),
    SF_CLI_OPT_BATCHING(S_BATCHING),
    SF_SO_NUM(S_MARGIN, "margin-s", "S", "batcher: time kept in hand for dispatch jitter (0.005)",
              0, 3600),
    SF_SO_NUM(S_TIME_SCALE, "time-scale", "X",
              "controller clock x X: epochs, VM boots and function idle\ntimeouts shrink by X (SLO "
              "deadlines and bills do not) (1)",
              0.001, 1000),
    SF_SO_SECTION("Functions:"),
    SF_SO_NUM(S_FN_TIMEOUT, "fn-timeout-s", "S", "per invocation (10)", 0.001, 900),
    SF_SO_NUM(S_FN_IDLE, "fn-idle-timeout-s", "S", "a warm instance idle this long stops (600)", 0,
              86400),
    SF_SO_INT(S_FN_CONC, "fn-concurrency", "N", "function instances at most (8)", 1, 256),
    SF_SO_NUM(
        S_FN_COLD_ALLOW, "fn-cold-start-s", "S",
        "the function cold start the batcher allows for\n(default: the profile's; as replay's "
        "--fn-cold-start-s)",
        0, 3600),
    SF_SO_NUM(S_FN_COLD, "fn-cold-start-delay-s", "S", "added to each instance's real start (0)", 0,
              3600),
    SF_SO_INT(S_FN_DISP, "fn-dispatchers", "N",
              "concurrent invocations from the ingress (= --fn-concurrency)", 1, 256),
    SF_SO_STR(S_LAMBDA_URL, "lambda-url", "U",
              "use a running function runtime instead of starting one"),
    SF_SO_WORD(S_FN_FAULT, "fn-fault", "F",
               "test hook: function instances crash, hang, fail to start or\npoll again without "
               "answering, on every event",
               fault_words),
    SF_SO_NUM(S_WORKER_DELAY, "worker-fault-delay-s", "S",
              "test hook: workers hold every batch this much longer", 0, 60),
    SF_SO_FLAG(S_WORKER_NO_START, "worker-fault-no-start",
               "test hook: workers exit instead of becoming ready"),
    SF_SO_SECTION("Limits:"),
    SF_SO_INT(S_QUEUE, "queue-cap", "N",
              "admitted requests waiting for dispatch; beyond: 503 (2000)", 1, 1000000),
    SF_SO_NUM(S_DEADLINE, "deadline-s", "S", "admission to answer at most; then 504 (50 SLOs)",
              0.001, 86400),
    SF_SO_NUM(S_GRACE, "drain-grace-s", "S",
              "at SIGTERM: readiness 503 this long while still serving (1)", 0, 3600),
    SF_SO_INT(S_MAXCONN, "max-connections", "N", "connections at most (1024)", 4, 100000),
    SF_SO_INT(S_PER_CLIENT, "max-connections-per-client", "N",
              "connections from one address at most (512; more are\nclosed at once: keep it above "
              "the busiest client's pool)",
              1, 100000),
    SF_SO_INT(S_IDLE, "idle-timeout-s", "S", "a silent connection is closed after (10)", 1, 3600),
    SF_SO_NUM(S_REQ_TIMEOUT, "request-timeout-s", "S",
              "a request must arrive whole within this (10)", 0.1, 3600),
    SF_SO_INT(S_MAXBODY, "max-body-bytes", "N", "request body at most (8388608)", 1024,
              (long long)SF_SERVE_MAX_BODY_BYTES),
    SF_SO_INT(S_MAXBUF, "max-buffered-bytes", "N",
              "memory for bodies and their parse, all\nconnections; beyond: 503 (268435456)",
              1 << 20, 1LL << 40),
    SF_SO_INT(S_MAXIMG, "max-images", "N", "images per request at most (256, <= --queue-cap)", 1,
              SF_SERVE_MAX_BATCH),
    SF_SO_SECTION("Listening:"),
    SF_SO_STR(S_HOST, "host", "H", "numeric IPv4 address (127.0.0.1)"),
    SF_SO_INT(S_PORT, "port", "N", "port (8080; 0 = any)", 0, 65535),
    SF_SO_INT(S_HTTP_THREADS, "http-threads", "N",
              "event loops of the data plane (default: the cores, at most 4)", 1, 16),
    SF_SO_INT(S_SPIN_US, "spin-us", "US",
              "while at most 4 requests are in flight, an event loop\npolls for the next event "
              "before it sleeps (on a VM a\nwake-up costs more than a small request's work), for "
              "a\nwindow that grows while events come within US of\neach other and closes when "
              "they come further apart\n(sparse traffic never polls); its cost is on /metrics\n"
              "(serflow_http_poll_seconds_total). US: 100; 0: never",
              0, 10000),
    SF_SO_INT(S_READY_FD, "ready-fd", "FD", "write \"ready HOST:PORT\" there once serving", 0,
              1024),
    SF_SO_WORD(S_BACKEND, "backend", "NAME",
               "inference backend of the workers: dnnl (default) or ref", sf_cli_backend_words),
    SF_SO_SECTION("Logs (standard error; its children's too):"),
    SF_SO_WORD(S_LOG_LEVEL, "log-level", "L",
               "error, warn, info (default: an access line per inference\nrequest, scaling "
               "decisions, launches) or debug (every request,\nevery batch); SIGHUP reloads it",
               sf_log_level_words),
    SF_SO_WORD(S_LOG_FORMAT, "log-format", "F", "text (logfmt, default) or json, one object a line",
               sf_log_format_words),
    {0}};

static const struct sf_opt_cmd serve_spec = {
    .name = "serve",
    .summary = "the online system: an OIP v2 ingress, VM workers and a local function\n"
               "runtime, run by a policy (serflow, libra, faas, ...); /metrics with the bill",
    .synopsis = "[options]",
    .about =
        "The online system: an Open Inference Protocol v2 ingress on 127.0.0.1 (POST\n"
        "/v2/models/NAME/infer, GET /v2/models/NAME, /v2/health/live, /v2/health/ready,\n"
        "/metrics), VM workers started by the local provider, and a local Lambda-compatible\n"
        "function runtime; or, with --provider aws, an EC2 Auto Scaling group of workers and a\n"
        "Lambda function (docs/deploy-aws.md). The same ctl/ policy and batcher as `serflow\n"
        "replay`. SIGTERM drains (docs/serving.md).\n",
    .opts = serve_opts,
    .epilog = "Example:\n"
              "  serflow serve --policy libra --port 8080 &\n"
              "  serflow load --url http://127.0.0.1:8080 --epochs 100\n"};

struct serve_args {
    const char *model, *profile, *pricing, *policy, *traffic;
    double tau;
    int log_level, log_format;
    struct sf_bind_opts bo; /* the controller's settings, bound as `serflow replay` binds them */
    struct sf_serve_cfg c;
};

static int serve_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    struct serve_args *a = ctx;
    struct sf_serve_cfg *c = &a->c;
    switch (id) {
    case S_MODEL:
        a->model = v->str;
        break;
    case S_PROFILE:
        a->profile = v->str;
        break;
    case S_PRICING:
        a->pricing = v->str;
        break;
    case S_TRAFFIC:
        a->traffic = v->str;
        break;
    case S_TAU:
        a->tau = v->num;
        break;
    case S_POLICY:
        a->policy = v->str;
        break;
    case S_POOL:
        a->bo.force_pool = v->word; /* pool_words is in enum sf_pool order */
        break;
    case S_CUT:
        a->bo.force_cut = (int)v->i;
        break;
    case S_VM:
        a->bo.force_vm = v->str;
        break;
    case S_INSTANCES:
        c->fixed_instances = (int)v->i;
        break;
    case S_TCIP:
        a->bo.tcip_rps = v->num;
        break;
    case S_WORKER_URL:
        if (c->n_worker_urls >= (int)SF_ARRAY_LEN(c->worker_urls))
            return sf_err_set(err, SF_EINVAL, "--worker-url: at most %zu",
                              SF_ARRAY_LEN(c->worker_urls));
        c->worker_urls[c->n_worker_urls++] = v->str;
        break;
    case S_NO_SPILL:
        c->no_spill = 1;
        break;
    case S_COLD: {
        char *end;
        long lo = strtol(v->str, &end, 10), hi = -1;
        if (*end == ':')
            hi = strtol(end + 1, &end, 10);
        if (*end || lo < 0 || hi < lo || hi > 100000)
            return sf_err_set(err, SF_EINVAL, "--cold-start: expected MIN:MAX epochs, got '%.40s'",
                              v->str);
        a->bo.ctl.cold_start_min_epochs = (int)lo;
        a->bo.ctl.cold_start_max_epochs = (int)hi;
        break;
    }
    case S_PERIOD:
        a->bo.ctl.scale_period_epochs = (int)v->i;
        break;
    case S_TERM:
        a->bo.ctl.terminate_delay_epochs = (int)v->i;
        break;
    case S_K:
        a->bo.ctl.k = v->num;
        break;
    case S_SEED:
        c->seed = (uint64_t)v->i;
        break;
    case S_BATCHING:
        a->bo.batching = v->word == 1 ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
        break;
    case S_MARGIN:
        a->bo.margin_s = v->num;
        break;
    case S_TIME_SCALE:
        c->time_scale = v->num;
        break;
    case S_FN_TIMEOUT:
        c->fn_timeout_s = v->num;
        break;
    case S_FN_IDLE:
        c->fn_idle_timeout_s = v->num;
        break;
    case S_FN_CONC:
        c->fn_concurrency = (int)v->i;
        break;
    case S_FN_COLD_ALLOW:
        a->bo.fn_cold_start_s = v->num;
        break;
    case S_FN_COLD:
        c->fn_cold_start_delay_s = v->num;
        break;
    case S_FN_DISP:
        c->fn_dispatchers = (int)v->i;
        break;
    case S_LAMBDA_URL:
        c->lambda_url = v->str;
        break;
    case S_FN_FAULT:
        c->fn_fault = fault_words[v->word];
        break;
    case S_WORKER_DELAY:
        c->worker_fault_delay_s = v->num;
        break;
    case S_WORKER_NO_START:
        c->worker_fault_no_start = 1;
        break;
    case S_DEADLINE:
        c->deadline_s = v->num;
        break;
    case S_GRACE:
        c->drain_grace_s = v->num;
        break;
    case S_PER_CLIENT:
        c->max_per_client = (int)v->i;
        break;
    case S_REQ_TIMEOUT:
        c->request_timeout_s = v->num;
        break;
    case S_MAXBUF:
        c->max_buffered_bytes = (size_t)v->i;
        break;
    case S_QUEUE:
        c->queue_cap = (int)v->i;
        break;
    case S_MAXCONN:
        c->max_connections = (int)v->i;
        break;
    case S_IDLE:
        c->idle_timeout_s = (int)v->i;
        break;
    case S_MAXBODY:
        c->max_body_bytes = (size_t)v->i;
        break;
    case S_MAXIMG:
        c->max_images = (int)v->i;
        break;
    case S_HOST:
        c->host = v->str;
        break;
    case S_PORT:
        c->port = (int)v->i;
        break;
    case S_READY_FD:
        c->ready_fd = (int)v->i;
        break;
    case S_BACKEND:
        c->backend = sf_cli_backend_of(v->word);
        break;
    case S_PROVIDER:
        c->provider = provider_words[v->word];
        break;
    case S_AWS_REGION:
        c->aws.region = v->str;
        break;
    case S_AWS_ENDPOINT:
        c->aws.endpoint_url = v->str;
        break;
    case S_AWS_EP_ASG:
        c->aws.endpoint[SF_AWS_AUTOSCALING] = v->str;
        break;
    case S_AWS_EP_EC2:
        c->aws.endpoint[SF_AWS_EC2] = v->str;
        break;
    case S_AWS_EP_ELB:
        c->aws.endpoint[SF_AWS_ELBV2] = v->str;
        break;
    case S_AWS_EP_LAMBDA:
        c->aws.endpoint[SF_AWS_LAMBDA] = v->str;
        break;
    case S_AWS_GROUP:
        c->aws.group = v->str;
        break;
    case S_AWS_FUNCTION:
        c->aws.function = v->str;
        break;
    case S_AWS_PORT:
        c->aws.worker_port = (int)v->i;
        break;
    case S_AWS_TG:
        c->aws.target_group_arn = v->str;
        break;
    case S_AWS_POLL:
        c->aws.poll_s = v->num;
        break;
    case S_AWS_TIMEOUT:
        c->aws.timeout_s = v->num;
        break;
    case S_AWS_ATTEMPTS:
        c->aws.max_attempts = (int)v->i;
        break;
    case S_HTTP_THREADS:
        c->http_threads = (int)v->i;
        break;
    case S_SPIN_US:
        c->spin_s = (double)v->i * 1e-6;
        break;
    case S_INPROC:
        c->inproc = 1;
        break;
    case S_LOG_LEVEL:
        a->log_level = v->word;
        break;
    case S_LOG_FORMAT:
        a->log_format = v->word;
        break;
    }
    return SF_OK;
}

static void on_ready(void *ctx, const char *host, int port)
{
    (void)ctx;
    sf_cli_note("serve",
                "listening on http://%s:%d (POST /v2/models/NAME/infer, GET "
                "/metrics); SIGTERM or Ctrl-C drains and stops",
                host, port);
}

static void serve_defaults(struct serve_args *a)
{
    memset(a, 0, sizeof(*a));
    a->tau = -1;
    a->policy = "serflow";
    a->log_level = SF_LOG_INFO;
    a->log_format = SF_LOG_TEXT;
    sf_bind_opts_default(&a->bo);
    a->bo.margin_s = 0.005;
    struct sf_serve_cfg *c = &a->c;
    c->host = "127.0.0.1";
    c->port = 8080;
    c->time_scale = 1;
    c->queue_cap = 2000;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->http_threads = cores < 1 ? 1 : cores > 4 ? 4 : (int)cores;
    c->spin_s = SF_SERVE_SPIN_S;
    c->max_connections = 1024;
    c->max_per_client = 512;
    c->idle_timeout_s = 10;
    c->request_timeout_s = 10;
    c->max_body_bytes = (size_t)8 << 20;
    c->max_buffered_bytes = (size_t)256 << 20;
    c->max_images = 256;
    c->drain_grace_s = 1;
    c->fn_timeout_s = 10;
    c->fn_idle_timeout_s = 600;
    c->fn_concurrency = 8;
    c->backend = SF_NN_BACKEND_DNNL;
    c->seed = 1;
    c->ready_fd = -1;
    c->on_ready = on_ready;
    c->fixed_instances = -1;
    c->aws.worker_port = 8081;
    c->aws.poll_s = SF_CLOUD_AWS_POLL_S;
}

static int serve_check(int argc, char **argv, struct sf_err *err)
{
    struct serve_args a;
    serve_defaults(&a);
    int rc = sf_cli_parse(&serve_spec, argc, argv, serve_store, &a, err);
    return rc == 1 ? SF_OK : rc;
}

/* Binds the policy on a loaded profile and catalog, against the traffic file when one is
 * given (read again on every call: a reload sees its new contents). */
static int bind_policy(const struct sf_profile *prof, const struct sf_pricing *pr,
                       const char *traffic, const char *policy, double tau, struct sf_bind_opts *bo,
                       struct sf_binding *out)
{
    struct sf_err err = {{0}};
    double *rates = NULL;
    size_t n_rates = 0;
    int rc;
    if (traffic &&
        (rc = sf_cli_traffic_rates(traffic, prof->slo_s, 0, 0, &rates, &n_rates, &err)) != SF_OK)
        return sf_cli_fail("serve", rc, &err);
    int code = sf_cli_bind_one("serve", prof, pr, policy, tau, rates, n_rates, bo, out);
    free(rates);
    return code;
}

/* Loads the profile and the catalog and binds the policy (after parsing). */
static int serve_bind(struct serve_args *a, struct sf_profile *prof, struct sf_pricing *pr,
                      struct sf_binding *out)
{
    if (a->bo.force_pool == SF_POOL_HYBRID && a->bo.force_cut < 0) {
        sf_cli_error("serve", "--pool hybrid needs --cut C");
        return SF_EXIT_USAGE;
    }
    struct sf_err err = {{0}};
    int rc = sf_profile_load(
        prof, a->profile ? a->profile : sf_cli_bundled("profiles/fmnist-ee-local.json"), &err);
    if (rc == SF_OK)
        rc = sf_pricing_load(pr, a->pricing ? a->pricing : sf_cli_bundled("pricing/local.json"),
                             &err);
    if (rc != SF_OK)
        return sf_cli_fail("serve", rc, &err);
    return bind_policy(prof, pr, a->traffic, a->policy, a->tau, &a->bo, out);
}

int sf_cli_serve_bind(int argc, char **argv, struct sf_profile *prof, struct sf_pricing *pr,
                      struct sf_binding *out)
{
    struct serve_args a;
    serve_defaults(&a);
    struct sf_err err = {{0}};
    if (sf_cli_parse(&serve_spec, argc, argv, serve_store, &a, &err) != SF_OK)
        return sf_cli_fail("serve", SF_EINVAL, &err);
    return serve_bind(&a, prof, pr, out);
}

/* ---- SIGHUP: read the command line (and its config file) again, apply what can change ---- */

/* What a reload compares: every option's value text, repeated ones joined by newlines (heap). */
struct optvals {
    char *v[SF_OPT_MAX_ROWS];
};

static void optvals_fini(struct optvals *o)
{
    for (size_t i = 0; i < SF_ARRAY_LEN(o->v); i++)
        free(o->v[i]);
}

static int collect(int argc, char **argv, struct optvals *o, struct sf_err *err)
{
    memset(o, 0, sizeof(*o));
    struct sf_opt_parser p;
    struct sf_optval v;
    int id;
    sf_opt_init(&p, &serve_spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) != SF_OPT_END) {
        if (id == SF_OPT_HELP || id == SF_OPT_VERSION)
            continue;
        if (id < 0 || id >= SF_OPT_MAX_ROWS)
            return SF_EINVAL;
        const char *t = v.str ? v.str : "1";
        size_t old = o->v[id] ? strlen(o->v[id]) : 0;
        char *n = realloc(o->v[id], old + strlen(t) + 2);
        if (!n)
            return sf_err_set(err, SF_ENOMEM, "out of memory");
        snprintf(n + old, strlen(t) + 2, "%s%s", old ? "\n" : "", t);
        o->v[id] = n;
    }
    return SF_OK;
}

/* The long name of option id (for messages). */
static const char *opt_name(int id)
{
    for (const struct sf_opt *o = serve_opts; o->name || o->help; o++)
        if (o->name && o->id == id)
            return o->name;
    return "?";
}

struct reload_ctx {
    int argc;
    char **argv;
    const struct serve_args *run; /* the settings serving now */
    struct optvals now;           /* their option texts */
    const struct sf_profile *prof;
    const struct sf_pricing *pr;
    const struct sf_binding *bind;
    struct sf_policy_env env; /* what a reload hands the server */
};

/* The controller's parameters serve takes on SIGHUP (bound again with the running path). */
static int controller_option(int id)
{
    return id == S_K || id == S_PERIOD || id == S_TERM || id == S_COLD || id == S_TCIP;
}

static const struct sf_policy_env *serve_reload(void *ctx)
{
    struct reload_ctx *r = ctx;
    struct sf_err err = {{0}};
    struct serve_args b;
    serve_defaults(&b);
    struct optvals next;
    int rc = collect(r->argc, r->argv, &next, &err);
    if (rc == SF_OK)
        rc = sf_cli_parse(&serve_spec, r->argc, r->argv, serve_store, &b, &err);
    if (rc != SF_OK) {
        sf_log(SF_LOG_ERROR, "reload", SF_LB("applied", 0), SF_LS("why", err.msg));
        optvals_fini(&next);
        return NULL;
    }
    int ctl_changed = 0, changed = 0;
    for (int id = 1; id < SF_OPT_MAX_ROWS; id++) {
        const char *a = r->now.v[id], *c = next.v[id];
        if ((!a && !c) || (a && c && !strcmp(a, c)))
            continue;
        changed++;
        if (id == S_LOG_LEVEL) {
            sf_log_set_level(b.log_level);
            sf_log(SF_LOG_WARN, "reload", SF_LS("option", "log-level"), SF_LB("applied", 1),
                   SF_LS("value", sf_log_level_words[b.log_level]));
        } else if (controller_option(id)) {
            ctl_changed = 1;
        } else {
            sf_log(SF_LOG_WARN, "reload", SF_LS("option", opt_name(id)), SF_LB("applied", 0),
                   SF_LS("why", "cannot change while serving: restart to apply"));
        }
    }
    optvals_fini(&r->now);
    r->now = next; /* what is in force from now on is compared next time */
    if (!changed)
        sf_log(SF_LOG_INFO, "reload", SF_LS("what", "nothing changed"), SF_LB("applied", 1));
    if (!ctl_changed)
        return NULL;
    /* the running path with the new controller's parameters: taken only when binding them gives
     * the same path (T-CIP and the cold start are also the batcher's business: it keeps its
     * tables) */
    struct sf_bind_opts bo = r->run->bo;
    bo.ctl.k = b.bo.ctl.k;
    bo.ctl.scale_period_epochs = b.bo.ctl.scale_period_epochs;
    bo.ctl.terminate_delay_epochs = b.bo.ctl.terminate_delay_epochs;
    bo.ctl.cold_start_min_epochs = b.bo.ctl.cold_start_min_epochs;
    bo.ctl.cold_start_max_epochs = b.bo.ctl.cold_start_max_epochs;
    bo.tcip_rps = b.bo.tcip_rps;
    struct sf_binding nb;
    if (bind_policy(r->prof, r->pr, r->run->traffic, r->run->policy, r->run->tau, &bo, &nb) !=
        SF_EXIT_OK) {
        sf_log(SF_LOG_WARN, "reload", SF_LS("what", "policy parameters"), SF_LB("applied", 0),
               SF_LS("why", "they do not bind (see above)"));
        return NULL;
    }
    const struct sf_path *p0 = &r->bind->path, *p1 = &nb.path;
    int same = nb.pool == r->bind->pool && p0->vm == p1->vm && p0->cut == p1->cut &&
               p0->has_instances == p1->has_instances && p0->fn_mem_mb == p1->fn_mem_mb &&
               p0->tail_fanout == p1->tail_fanout && nb.tau == r->bind->tau &&
               nb.batching == r->bind->batching;
    r->env = nb.env;
    sf_binding_fini(&nb);
    if (!same) {
        sf_log(SF_LOG_WARN, "reload", SF_LS("what", "policy parameters"), SF_LB("applied", 0),
               SF_LS("why", "with them the policy would take another path: restart to apply"));
        return NULL;
    }
    return &r->env;
}

static int serve_run(int argc, char **argv)
{
    static struct sf_profile prof;
    static struct sf_pricing pr;
    static struct sf_binding bnd;
    struct serve_args a;
    serve_defaults(&a);
    struct sf_serve_cfg *c = &a.c;
    int code;
    if (sf_cli_parse_or_exit(&serve_spec, argc, argv, serve_store, &a, &code))
        return code;
    sf_log_setup("serve", a.log_level, a.log_format);
    if (c->fn_dispatchers == 0) /* one in-flight invocation per function instance allowed */
        c->fn_dispatchers = c->fn_concurrency;
    if (c->max_images > c->queue_cap) {
        sf_cli_error("serve", "--max-images is above --queue-cap: a request of --max-images images "
                              "could never be admitted");
        return SF_EXIT_USAGE;
    }
    char model_dir[4096];
    if (a.model)
        snprintf(model_dir, sizeof(model_dir), "%s", a.model);
    else
        snprintf(model_dir, sizeof(model_dir), "%s/models/fmnist-ee", SF_SOURCE_DIR);
    c->model_dir = model_dir;
    if ((code = serve_bind(&a, &prof, &pr, &bnd)) != SF_EXIT_OK)
        return code;
    struct sf_err err = {{0}};
    c->prof = &prof;
    c->price = &pr;
    c->pricing_path = a.pricing; /* NULL: the bundled catalog, as the runtime's default */
    c->bind = &bnd;
    sf_cli_bound_malloc();
    sf_cli_install_stop();
    if (c->ready_fd >= 0) /* started by a parent (serflow demo): dies with it, children too */
        sf_cli_die_with_parent();
    if (sf_http_global_init(&err) != SF_OK ||
        (c->provider && !strcmp(c->provider, "aws") && sf_aws_global_init(&err) != SF_OK)) {
        sf_cli_error("serve", "%s", err.msg);
        return SF_EXIT_FAIL;
    }
    char where[160];
    sf_path_describe(&bnd.path, &pr, prof.n_stages, where, sizeof(where));
    sf_cli_note("serve",
                "policy %s, tau %.2f, %s; SLO %g s, batch %d, %s batching; r %.4g "
                "req/s per instance, T-CIP %.4g req/s",
                bnd.policy->name, bnd.tau, where, prof.slo_s, prof.batch_size,
                bnd.batching == SF_BATCHING_EPOCH ? "epoch" : "deadline-aware",
                bnd.env.ctl.capacity_rps, bnd.env.ctl.tcip_rps);
    static struct reload_ctx rctx;
    rctx.argc = argc;
    rctx.argv = argv;
    rctx.run = &a;
    rctx.prof = &prof;
    rctx.pr = &pr;
    rctx.bind = &bnd;
    if (collect(argc, argv, &rctx.now, &err) != SF_OK) {
        sf_cli_error("serve", "%s", err.msg);
        return SF_EXIT_FAIL;
    }
    sf_cli_install_reload();
    c->reload = &sf_cli_reload;
    c->on_reload = serve_reload;
    c->on_reload_ctx = &rctx;
    int rc = sf_serve_run(c, &sf_cli_stop, &err);
    optvals_fini(&rctx.now);
    sf_binding_fini(&bnd);
    if (rc != SF_OK) {
        sf_cli_error("serve", "%s", err.msg);
        return rc == SF_EINVAL || rc == SF_ENOTFOUND ? SF_EXIT_USAGE : SF_EXIT_FAIL;
    }
    sf_cli_note("serve", "drained and stopped: %llu requests accepted, %llu answered",
                (unsigned long long)c->accepted, (unsigned long long)c->answered);
    return SF_EXIT_OK;
}

const struct sf_cli_command sf_cli_serve_command = {&serve_spec, serve_check, serve_run};
