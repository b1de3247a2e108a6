/* cmd_worker.c - the processes `serflow serve` starts: `serflow worker` (a VM instance),
 * `serflow lambda` (the local function runtime) and `serflow function` (a function instance, a
 * Lambda custom-runtime bootstrap). Each runs until SIGTERM and exits 0 after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/aws.h"
#include "serflow/http.h"
#include "serflow/worker.h"
#include "serflow/function.h"
#include "serflow/lambda.h"
#include "serflow/log.h"
#include "serve_cli.h"

/* ---- worker ---- */

/* The option rows of each kind of SF_WORKER_OPTIONS / SF_LAMBDA_OPTIONS (the library's tables). */
#define OPT_STR(id, n, m, h, lo, hi)       SF_SO_STR(id, n, m, h)
#define OPT_INT(id, n, m, h, lo, hi)       SF_SO_INT(id, n, m, h, lo, hi)
#define OPT_NUM(id, n, m, h, lo, hi)       SF_SO_NUM(id, n, m, h, lo, hi)
#define OPT_FLAG(id, n, m, h, lo, hi)      SF_SO_FLAG(id, n, h)
#define OPT_BACKEND(id, n, m, h, lo, hi)   SF_SO_WORD(id, n, m, h, sf_cli_backend_words)
#define OPT_FAULT(id, n, m, h, lo, hi)     SF_SO_WORD(id, n, m, h, sf_lambda_faults)
#define OPT_LOGLEVEL(id, n, m, h, lo, hi)  SF_SO_WORD(id, n, m, h, sf_log_level_words)
#define OPT_LOGFORMAT(id, n, m, h, lo, hi) SF_SO_WORD(id, n, m, h, sf_log_format_words)
/* ... and how each kind stores its value */
#define STORE_STR(dst, v)       (dst) = (v)->str
#define STORE_INT(dst, v)       (dst) = (int)(v)->i
#define STORE_NUM(dst, v)       (dst) = (v)->num
#define STORE_FLAG(dst, v)      (dst) = 1
#define STORE_BACKEND(dst, v)   (dst) = sf_cli_backend_of((v)->word)
#define STORE_FAULT(dst, v)     (dst) = sf_lambda_faults[(v)->word]
#define STORE_LOGLEVEL(dst, v)  (dst) = (v)->word
#define STORE_LOGFORMAT(dst, v) (dst) = (v)->word

#define W_ENUM(ID, name, KIND, field, meta, help, lo, hi) W_##ID,
enum { W_NONE = 0, SF_WORKER_OPTIONS(W_ENUM) };
#undef W_ENUM

static const struct sf_opt worker_opts[] = {
#define W_ROW(ID, name, KIND, field, meta, help, lo, hi)                                           \
    OPT_##KIND(W_##ID, name, meta, help, lo, hi),
    SF_WORKER_OPTIONS(W_ROW)
#undef W_ROW
        {0}};

static const struct sf_opt_cmd worker_spec = {
    .name = "worker",
    .summary = "a VM instance (serflow serve starts these; on AWS, its group's launch template)",
    .synopsis = "--model DIR [options]",
    .about = "A VM instance: POST /v1/batch takes an input frame, runs stages 1..cut and sends\n"
             "the survivors' hidden state to the function in k parallel invocations; POST\n"
             "/v2/models/NAME/infer runs the whole model here (docs/serving.md). Started by\n"
             "serve, it finds its identity on SERFLOW_AUTH_FD and accepts only requests signed\n"
             "with it; SERFLOW_AUTH gives one to a worker started by hand or on EC2. Without one\n"
             "it listens on loopback only. --provider aws invokes the tail on Lambda, signed with\n"
             "the credentials chain (an instance role on EC2; docs/deploy-aws.md).\n",
    .opts = worker_opts};

static int worker_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    (void)err;
    struct sf_worker_cfg *c = ctx;
    switch (id) {
#define W_STORE(ID, name, KIND, field, meta, help, lo, hi)                                         \
    case W_##ID:                                                                                   \
        STORE_##KIND(c->field, v);                                                                 \
        break;
        SF_WORKER_OPTIONS(W_STORE)
#undef W_STORE
    }
    return SF_OK;
}

int sf_cli_worker_parse(int argc, char **argv, struct sf_worker_cfg *c, struct sf_err *err)
{
    sf_worker_defaults(c);
    return sf_cli_parse(&worker_spec, argc, argv, worker_store, c, err);
}

static int worker_check(int argc, char **argv, struct sf_err *err)
{
    struct sf_worker_cfg c;
    sf_worker_defaults(&c);
    int rc = sf_cli_parse(&worker_spec, argc, argv, worker_store, &c, err);
    return rc == 1 ? SF_OK : rc;
}

static int worker_run(int argc, char **argv)
{
    struct sf_worker_cfg c;
    sf_worker_defaults(&c);
    int code;
    if (sf_cli_parse_or_exit(&worker_spec, argc, argv, worker_store, &c, &code))
        return code;
    struct sf_err err = {{0}};
    if (!c.model_dir) {
        sf_cli_error("worker", "--model DIR is required");
        return SF_EXIT_USAGE;
    }
    sf_log_setup("worker", c.log_level, c.log_format);
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
    if (rc == SF_OK && c.provider && !strcmp(c.provider, "aws"))
        rc = sf_aws_global_init(&err); /* the tail's Lambda calls */
    if (rc == SF_OK)
        rc = sf_worker_run(&c, &sf_cli_stop, &err);
    memset(&id, 0, sizeof(id));
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail("worker", rc, &err);
}

const struct sf_cli_command sf_cli_worker_command = {&worker_spec, worker_check, worker_run};

/* ---- lambda ---- */

#define L_ENUM(ID, name, KIND, field, meta, help, lo, hi) L_##ID,
enum { L_NONE = 0, SF_LAMBDA_OPTIONS(L_ENUM) };
#undef L_ENUM

static const struct sf_opt lambda_opts[] = {
#define L_ROW(ID, name, KIND, field, meta, help, lo, hi)                                           \
    OPT_##KIND(L_##ID, name, meta, help, lo, hi),
    SF_LAMBDA_OPTIONS(L_ROW)
#undef L_ROW
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

static int lambda_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    (void)err;
    struct sf_lambda_cfg *c = ctx;
    switch (id) {
#define L_STORE(ID, name, KIND, field, meta, help, lo, hi)                                         \
    case L_##ID:                                                                                   \
        STORE_##KIND(c->field, v);                                                                 \
        break;
        SF_LAMBDA_OPTIONS(L_STORE)
#undef L_STORE
    }
    return SF_OK;
}

int sf_cli_lambda_parse(int argc, char **argv, struct sf_lambda_cfg *c, struct sf_err *err)
{
    sf_lambda_defaults(c);
    return sf_cli_parse(&lambda_spec, argc, argv, lambda_store, c, err);
}

static int lambda_check(int argc, char **argv, struct sf_err *err)
{
    struct sf_lambda_cfg c;
    sf_lambda_defaults(&c);
    int rc = sf_cli_parse(&lambda_spec, argc, argv, lambda_store, &c, err);
    return rc == 1 ? SF_OK : rc;
}

static int lambda_run(int argc, char **argv)
{
    struct sf_lambda_cfg c;
    sf_lambda_defaults(&c);
    int code;
    if (sf_cli_parse_or_exit(&lambda_spec, argc, argv, lambda_store, &c, &code))
        return code;
    if (!c.model_dir || !c.function_name) {
        sf_cli_error("lambda", "--model DIR and --function NAME are required");
        return SF_EXIT_USAGE;
    }
    sf_log_setup("lambda", c.log_level, c.log_format);
    struct sf_err err = {{0}};
    static struct sf_pricing price;
    int rc = sf_pricing_load(
        &price, c.pricing_path ? c.pricing_path : sf_cli_bundled("pricing/local.json"), &err);
    if (rc != SF_OK)
        return sf_cli_fail("lambda", rc, &err);
    sf_cli_bound_malloc();
    sf_cli_install_stop();
    if (c.ready_fd >= 0)
        sf_cli_die_with_parent();
    struct sf_auth root;
    rc = sf_auth_from_env(&root, &err);
    if (rc != SF_OK)
        return sf_cli_fail("lambda", rc, &err);
    c.auth = &root;
    if (!root.set)
        sf_cli_note("lambda", "no SERFLOW_AUTH: the Invoke API is open to local callers");
    rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = sf_lambda_run(&c, &price, &sf_cli_stop, &err);
    memset(&root, 0, sizeof(root));
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail("lambda", rc, &err);
}

const struct sf_cli_command sf_cli_lambda_command = {&lambda_spec, lambda_check, lambda_run};

/* ---- function ---- */

#define F_ENUM(ID, name, KIND, field, meta, help, lo, hi) F_##ID,
enum { F_NONE = 0, SF_FUNCTION_OPTIONS(F_ENUM) };
#undef F_ENUM

static const struct sf_opt function_opts[] = {
#define F_ROW(ID, name, KIND, field, meta, help, lo, hi)                                           \
    OPT_##KIND(F_##ID, name, meta, help, lo, hi),
    SF_FUNCTION_OPTIONS(F_ROW)
#undef F_ROW
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
#define F_STORE(ID, name, KIND, field, meta, help, lo, hi)                                         \
    case F_##ID:                                                                                   \
        STORE_##KIND(c->field, v);                                                                 \
        break;
        SF_FUNCTION_OPTIONS(F_STORE)
#undef F_STORE
    }
    return SF_OK;
}

int sf_cli_function_parse(int argc, char **argv, struct sf_function_cfg *c, struct sf_err *err)
{
    sf_function_defaults(c);
    return sf_cli_parse(&function_spec, argc, argv, function_store, c, err);
}

static int function_check(int argc, char **argv, struct sf_err *err)
{
    struct sf_function_cfg c;
    sf_function_defaults(&c);
    int rc = sf_cli_parse(&function_spec, argc, argv, function_store, &c, err);
    return rc == 1 ? SF_OK : rc;
}

static int function_run(int argc, char **argv)
{
    struct sf_function_cfg c;
    sf_function_defaults(&c);
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
    sf_log_setup("function", c.log_level, c.log_format);
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
