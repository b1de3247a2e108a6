/* cmd_worker.c - the processes `serflow serve` starts: `serflow worker` (a VM instance),
 * `serflow lambda` (the local function runtime) and `serflow function` (a function instance, a
 * Lambda custom-runtime bootstrap). Each runs until SIGTERM and exits 0 after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/http.h"
#include "serflow/worker.h"
#include "serflow/function.h"
#include "serflow/lambda.h"
#include "serve_cli.h"

/* ---- worker ---- */

enum {
    W_MODEL = 1,
    W_CUT,
    W_FANOUT,
    W_FN_URL,
    W_FN,
    W_FN_TIMEOUT,
    W_TAU,
    W_THREADS,
    W_BACKEND,
    W_HOST,
    W_PORT,
    W_BOOT,
    W_READY_FD,
    W_FAULT_DELAY,
    W_FAULT_NO_START,
    W_NO_FN_AUTH
};

static const struct sf_opt worker_opts[] = {
    SF_SO_STR(W_MODEL, "model", "DIR", "model directory (model.json + ONNX stages)"),
    SF_SO_INT(W_CUT, "cut", "C", "stages 1..C here (default: all, IaaS)", 0, SF_NN_MAX_STAGES),
    SF_SO_INT(W_FANOUT, "fanout", "K", "parallel function invocations per batch tail (1)", 1, 64),
    SF_SO_STR(W_FN_URL, "function-url", "U", "function runtime base URL (http://127.0.0.1:PORT)"),
    SF_SO_STR(W_FN, "function", "NAME", "function to invoke for the tail"),
    SF_SO_NUM(W_FN_TIMEOUT, "function-timeout-s", "S", "per invocation (10)", 0.001, 900),
    SF_SO_NUM(W_TAU, "tau", "T", "threshold for OIP requests to the worker itself (1)", 0, 2),
    SF_SO_INT(W_THREADS, "threads", "N", "inference threads (1)", 1, 256),
    SF_SO_WORD(W_BACKEND, "backend", "NAME", "dnnl (default) or ref", sf_cli_backend_words),
    SF_SO_STR(W_HOST, "host", "H", "listen address (127.0.0.1)"),
    SF_SO_INT(W_PORT, "port", "N", "listen port (0: any free port)", 0, 65535),
    SF_SO_NUM(W_BOOT, "boot-delay-s", "S", "ready no sooner than this after the start (0)", 0,
              3600),
    SF_SO_INT(W_READY_FD, "ready-fd", "FD", "write \"ready HOST:PORT\" there when ready", 0, 1024),
    SF_SO_NUM(W_FAULT_DELAY, "fault-delay-s", "S", "test hook: hold every batch this much longer",
              0, 60),
    SF_SO_FLAG(W_FAULT_NO_START, "fault-no-start", "test hook: exit instead of becoming ready"),
    SF_SO_FLAG(W_NO_FN_AUTH, "no-function-auth",
               "call the function runtime without this worker's identity\n(a runtime started "
               "by someone else)"),
    {0}};

static const struct sf_opt_cmd worker_spec = {
    .name = "worker",
    .summary = "a VM instance of the local provider (serflow serve starts these)",
    .synopsis = "--model DIR [options]",
    .about = "A VM instance: POST /v1/batch takes an input frame, runs stages 1..cut and sends\n"
             "the survivors' hidden state to the function in k parallel invocations; POST\n"
             "/v2/models/NAME/infer runs the whole model here (docs/serving.md). Started by\n"
             "serve, it finds its identity on SERFLOW_AUTH_FD and accepts only requests signed\n"
             "with it; SERFLOW_AUTH gives one to a worker started by hand.\n",
    .opts = worker_opts};

static int worker_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    (void)err;
    struct sf_worker_cfg *c = ctx;
    switch (id) {
    case W_MODEL:
        c->model_dir = v->str;
        break;
    case W_CUT:
        c->cut = (int)v->i;
        break;
    case W_FANOUT:
        c->fanout = (int)v->i;
        break;
    case W_FN_URL:
        c->fn_url = v->str;
        break;
    case W_FN:
        c->fn_name = v->str;
        break;
    case W_FN_TIMEOUT:
        c->fn_timeout_s = v->num;
        break;
    case W_TAU:
        c->tau = v->num;
        break;
    case W_THREADS:
        c->threads = (int)v->i;
        break;
    case W_BACKEND:
        c->backend = sf_cli_backend_of(v->word);
        break;
    case W_HOST:
        c->host = v->str;
        break;
    case W_PORT:
        c->port = (int)v->i;
        break;
    case W_BOOT:
        c->boot_delay_s = v->num;
        break;
    case W_READY_FD:
        c->ready_fd = (int)v->i;
        break;
    case W_FAULT_DELAY:
        c->fault_delay_s = v->num;
        break;
    case W_FAULT_NO_START:
        c->fault_no_start = 1;
        break;
    case W_NO_FN_AUTH:
        c->no_function_auth = 1;
        break;
    }
    return SF_OK;
}

static void worker_defaults(struct sf_worker_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->host = "127.0.0.1";
    c->cut = 1 << 20;
    c->tau = 1;
    c->fanout = 1;
    c->fn_timeout_s = 10;
    c->threads = 1;
    c->ready_fd = -1;
    c->backend = SF_NN_BACKEND_DNNL;
}

static int worker_check(int argc, char **argv, struct sf_err *err)
{
    struct sf_worker_cfg c;
    worker_defaults(&c);
    int rc = sf_cli_parse(&worker_spec, argc, argv, worker_store, &c, err);
    return rc == 1 ? SF_OK : rc;
}

static int worker_run(int argc, char **argv)
{
    struct sf_worker_cfg c;
    worker_defaults(&c);
    int code;
    if (sf_cli_parse_or_exit(&worker_spec, argc, argv, worker_store, &c, &code))
        return code;
    struct sf_err err = {{0}};
    if (!c.model_dir) {
        sf_cli_error("worker", "--model DIR is required");
        return SF_EXIT_USAGE;
    }
    sf_cli_bound_malloc();
    sf_cli_install_stop();
    if (c.ready_fd >= 0)
        sf_cli_die_with_parent();
    struct sf_auth id;
    int rc = sf_auth_from_env(&id, &err);
    if (rc != SF_OK)
        return sf_cli_fail("worker", rc, &err);
    c.auth = &id;
    sf_cli_set_threads(c.threads);
    rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = sf_worker_run(&c, &sf_cli_stop, &err);
    memset(&id, 0, sizeof(id));
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail("worker", rc, &err);
}

const struct sf_cli_command sf_cli_worker_command = {&worker_spec, worker_check, worker_run};

/* ---- lambda ---- */

enum {
    L_MODEL = 1,
    L_FN,
    L_MEM,
    L_PRICING,
    L_TAU,
    L_TIMEOUT,
    L_IDLE,
    L_COLD,
    L_CONC,
    L_HOST,
    L_PORT,
    L_READY_FD,
    L_FAULT
};

static const char *const fault_words[] = {"crash", "hang", "start", "repoll", NULL};

static const struct sf_opt lambda_opts[] = {
    SF_SO_STR(L_MODEL, "model", "DIR", "the model the function serves"),
    SF_SO_STR(L_FN, "function", "NAME", "the function's name in the Invoke API"),
    SF_SO_INT(L_MEM, "memory-mb", "M", "function memory (1769): billed GB-s, instance threads", 1,
              1 << 20),
    SF_SO_STR(L_PRICING, "pricing", "FILE", "catalog for billing (data/pricing/local.json)"),
    SF_SO_NUM(L_TAU, "tau", "T", "threshold for OIP JSON events (1: no early exit)", 0, 2),
    SF_SO_NUM(L_TIMEOUT, "timeout-s", "S", "per invocation (10)", 0.001, 900),
    SF_SO_NUM(L_IDLE, "idle-timeout-s", "S", "a warm instance idle this long stops (60)", 0, 86400),
    SF_SO_NUM(L_COLD, "cold-start-delay-s", "S", "added to each instance's real start-up (0)", 0,
              3600),
    SF_SO_INT(L_CONC, "concurrency", "N", "instances at most (16); beyond: 429", 1, 256),
    SF_SO_STR(L_HOST, "host", "H", "listen address (127.0.0.1)"),
    SF_SO_INT(L_PORT, "port", "N", "listen port (0: any free port)", 0, 65535),
    SF_SO_INT(L_READY_FD, "ready-fd", "FD", "write \"ready HOST:PORT\" there when listening", 0,
              1024),
    SF_SO_WORD(L_FAULT, "fault", "F",
               "test hook: instances crash, hang, fail to start (start) or\npoll again without "
               "answering (repoll)",
               fault_words),
    {0}};

static const struct sf_opt_cmd lambda_spec = {
    .name = "lambda",
    .summary = "the local function runtime (AWS Lambda Invoke and Runtime APIs)",
    .synopsis = "--model DIR --function NAME [options]",
    .about = "The local function runtime: the AWS Lambda Invoke API\n"
             "(POST /2015-03-31/functions/NAME/invocations) for clients, the Lambda Runtime API\n"
             "for the function instances it starts on demand (serflow function), GET /metrics\n"
             "for its bill (1 ms x GB, request fees, cold starts, throttles, timeouts).\n",
    .opts = lambda_opts,
    .epilog = "Example:\n"
              "  serflow lambda --model models/fmnist-ee --function fmnist-ee --port 9001 &\n"
              "  aws lambda invoke --endpoint-url http://127.0.0.1:9001 --function-name "
              "fmnist-ee \\\n      --payload fileb://request.json out.json\n"};

struct lambda_args {
    struct sf_lambda_cfg c;
    const char *pricing;
};

static int lambda_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    (void)err;
    struct lambda_args *a = ctx;
    struct sf_lambda_cfg *c = &a->c;
    switch (id) {
    case L_MODEL:
        c->model_dir = v->str;
        break;
    case L_FN:
        c->function_name = v->str;
        break;
    case L_MEM:
        c->memory_mb = (int)v->i;
        break;
    case L_PRICING:
        a->pricing = v->str;
        break;
    case L_TAU:
        c->tau = v->num;
        break;
    case L_TIMEOUT:
        c->timeout_s = v->num;
        break;
    case L_IDLE:
        c->idle_timeout_s = v->num;
        break;
    case L_COLD:
        c->cold_start_delay_s = v->num;
        break;
    case L_CONC:
        c->concurrency = (int)v->i;
        break;
    case L_HOST:
        c->host = v->str;
        break;
    case L_PORT:
        c->port = (int)v->i;
        break;
    case L_READY_FD:
        c->ready_fd = (int)v->i;
        break;
    case L_FAULT:
        c->fault = fault_words[v->word];
        break;
    }
    return SF_OK;
}

static void lambda_defaults(struct lambda_args *a)
{
    memset(a, 0, sizeof(*a));
    a->c.host = "127.0.0.1";
    a->c.memory_mb = 1769;
    a->c.tau = 1;
    a->c.timeout_s = 10;
    a->c.idle_timeout_s = 60;
    a->c.concurrency = 16;
    a->c.ready_fd = -1;
}

static int lambda_check(int argc, char **argv, struct sf_err *err)
{
    struct lambda_args a;
    lambda_defaults(&a);
    int rc = sf_cli_parse(&lambda_spec, argc, argv, lambda_store, &a, err);
    return rc == 1 ? SF_OK : rc;
}

static int lambda_run(int argc, char **argv)
{
    struct lambda_args a;
    lambda_defaults(&a);
    int code;
    if (sf_cli_parse_or_exit(&lambda_spec, argc, argv, lambda_store, &a, &code))
        return code;
    if (!a.c.model_dir || !a.c.function_name) {
        sf_cli_error("lambda", "--model DIR and --function NAME are required");
        return SF_EXIT_USAGE;
    }
    struct sf_err err = {{0}};
    static struct sf_pricing price;
    int rc =
        sf_pricing_load(&price, a.pricing ? a.pricing : sf_cli_bundled("pricing/local.json"), &err);
    if (rc != SF_OK)
        return sf_cli_fail("lambda", rc, &err);
    sf_cli_bound_malloc();
    sf_cli_install_stop();
    if (a.c.ready_fd >= 0)
        sf_cli_die_with_parent();
    struct sf_auth root;
    rc = sf_auth_from_env(&root, &err);
    if (rc != SF_OK)
        return sf_cli_fail("lambda", rc, &err);
    a.c.auth = &root;
    if (!root.set)
        sf_cli_note("lambda", "no SERFLOW_AUTH: the Invoke API is open to local callers");
    rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = sf_lambda_run(&a.c, &price, &sf_cli_stop, &err);
    memset(&root, 0, sizeof(root));
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail("lambda", rc, &err);
}

const struct sf_cli_command sf_cli_lambda_command = {&lambda_spec, lambda_check, lambda_run};

/* ---- function ---- */

enum { F_MODEL = 1, F_TAU, F_THREADS, F_BACKEND, F_INIT };

static const struct sf_opt function_opts[] = {
    SF_SO_STR(F_MODEL, "model", "DIR", "model directory (or SERFLOW_MODEL_DIR)"),
    SF_SO_NUM(F_TAU, "tau", "T", "threshold for OIP JSON events (1)", 0, 2),
    SF_SO_INT(F_THREADS, "threads", "N", "inference threads (1)", 1, 256),
    SF_SO_WORD(F_BACKEND, "backend", "NAME", "dnnl (default) or ref", sf_cli_backend_words),
    SF_SO_NUM(F_INIT, "init-delay-s", "S", "extra cold-start time before the first poll (0)", 0,
              3600),
    {0}};

static const struct sf_opt_cmd function_spec = {
    .name = "function",
    .summary = "a function instance: a Lambda custom-runtime bootstrap",
    .synopsis = "--model DIR [options]",
    .about = "A function instance: polls AWS_LAMBDA_RUNTIME_API for events (input frames,\n"
             "hidden-state frames, OIP v2 JSON) and posts the answers (Lambda Runtime API).\n",
    .opts = function_opts};

static int function_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    (void)err;
    struct sf_function_cfg *c = ctx;
    switch (id) {
    case F_MODEL:
        c->model_dir = v->str;
        break;
    case F_TAU:
        c->tau = v->num;
        break;
    case F_THREADS:
        c->threads = (int)v->i;
        break;
    case F_BACKEND:
        c->backend = sf_cli_backend_of(v->word);
        break;
    case F_INIT:
        c->init_delay_s = v->num;
        break;
    }
    return SF_OK;
}

static void function_defaults(struct sf_function_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->tau = 1;
    c->threads = 1;
    c->backend = SF_NN_BACKEND_DNNL;
}

static int function_check(int argc, char **argv, struct sf_err *err)
{
    struct sf_function_cfg c;
    function_defaults(&c);
    int rc = sf_cli_parse(&function_spec, argc, argv, function_store, &c, err);
    return rc == 1 ? SF_OK : rc;
}

static int function_run(int argc, char **argv)
{
    struct sf_function_cfg c;
    function_defaults(&c);
    int code;
    if (sf_cli_parse_or_exit(&function_spec, argc, argv, function_store, &c, &code))
        return code;
    c.runtime_api = getenv("AWS_LAMBDA_RUNTIME_API");
    c.fault = getenv("SERFLOW_FUNCTION_FAULT");
    if (c.fault && !*c.fault)
        c.fault = NULL;
    if (!c.model_dir)
        c.model_dir = getenv("SERFLOW_MODEL_DIR"); /* on Lambda: next to the bootstrap */
    if (!c.model_dir) {
        sf_cli_error("function", "--model DIR (or SERFLOW_MODEL_DIR) is required");
        return SF_EXIT_USAGE;
    }
    sf_cli_bound_malloc();
    if (getenv("SERFLOW_INSTANCE"))
        sf_cli_die_with_parent(); /* started by the local runtime */
    struct sf_err err = {{0}};
    struct sf_auth id;
    int rc = sf_auth_from_env(&id, &err);
    if (rc != SF_OK)
        return sf_cli_fail("function", rc, &err);
    c.auth = &id;
    sf_cli_set_threads(c.threads);
    rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = sf_function_run(&c, &sf_cli_stop, &err);
    memset(&id, 0, sizeof(id));
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail("function", rc, &err);
}

const struct sf_cli_command sf_cli_function_command = {&function_spec, function_check,
                                                       function_run};
