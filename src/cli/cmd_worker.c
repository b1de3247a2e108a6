/* cmd_worker.c - the processes `serflow serve` starts: `serflow worker` (a VM instance),
 * `serflow lambda` (the local function runtime) and `serflow function` (a function instance, a
 * Lambda custom-runtime bootstrap). Each runs until SIGTERM and exits 0 after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serflow/serve.h"
#include "serve_cli.h"

static const char worker_usage[] =
    "usage: serflow worker --model DIR [options]\n"
    "\n"
    "A VM instance of the local provider (serflow serve starts these). POST /v1/batch takes an\n"
    "input frame, runs stages 1..cut, and sends the survivors' hidden state to the function.\n"
    "\n"
    "  --model DIR          model directory (model.json + ONNX stages)\n"
    "  --cut C              stages 1..C here (default: all, IaaS)\n"
    "  --fanout K           parallel function invocations per batch tail (1)\n"
    "  --function-url U     function runtime base URL (http://127.0.0.1:PORT)\n"
    "  --function NAME      function to invoke for the tail\n"
    "  --function-timeout-s S  per invocation (10)\n"
    "  --threads N          inference threads (1)   --backend ref|dnnl (dnnl)\n"
    "  --host H --port N    listen address (127.0.0.1, 0 = any free port)\n"
    "  --boot-delay-s S     wait after loading before announcing readiness (0)\n"
    "  --ready-fd FD        write \"ready HOST:PORT\" there when ready\n";

static const char lambda_usage[] =
    "usage: serflow lambda --model DIR --function NAME [options]\n"
    "\n"
    "The local function runtime: the AWS Lambda Invoke API\n"
    "(POST /2015-03-31/functions/NAME/invocations) for clients, the Lambda Runtime API for the\n"
    "function instances it starts on demand (serflow function), GET /metrics for its bill.\n"
    "\n"
    "  --model DIR --function NAME   the one function it serves\n"
    "  --memory-mb M        function memory (1769); billed GB-s and the instance's threads\n"
    "  --pricing FILE       catalog for billing (default: data/pricing/local.json)\n"
    "  --tau T              threshold for OIP JSON events (1: no early exit)\n"
    "  --timeout-s S        per invocation (10)       --idle-timeout-s S  warm instance (60)\n"
    "  --cold-start-delay-s S  added to each instance's real start-up (0)\n"
    "  --concurrency N      instances at most (16); beyond: 429\n"
    "  --host H --port N    listen address (127.0.0.1, 0 = any free port)\n"
    "  --ready-fd FD        write \"ready HOST:PORT\" there when listening\n";

static const char function_usage[] =
    "usage: serflow function --model DIR [options]\n"
    "\n"
    "A function instance: a Lambda custom-runtime bootstrap that polls AWS_LAMBDA_RUNTIME_API\n"
    "for events (input frames, hidden-state frames, OIP v2 JSON) and posts the answers.\n"
    "\n"
    "  --model DIR   --tau T (1)   --threads N (1)   --backend ref|dnnl (dnnl)\n"
    "  --init-delay-s S   extra cold-start time before the first poll (0)\n";

static int parse_backend(const char *cmd, const char *v, enum sf_nn_backend *b)
{
    if (sf_nn_backend_parse(v, b) != SF_OK) {
        fprintf(stderr, "serflow %s: --backend: '%s' is not ref or dnnl\n", cmd, v);
        return -1;
    }
    return 0;
}

static int finish(const char *cmd, int rc, const struct sf_err *err)
{
    if (rc != SF_OK) {
        fprintf(stderr, "serflow %s: %s\n", cmd, err->msg);
        return rc == SF_EINVAL || rc == SF_ENOTFOUND || rc == SF_EPARSE ? SF_EXIT_USAGE
                                                                        : SF_EXIT_FAIL;
    }
    return SF_EXIT_OK;
}

int sf_cmd_worker(int argc, char **argv)
{
    struct sf_worker_cfg c = {0};
    c.host = "127.0.0.1";
    c.cut = 1 << 20;
    c.tau = 1;
    c.fanout = 1;
    c.fn_timeout_s = 10;
    c.threads = 1;
    c.ready_fd = -1;
    c.backend = SF_NN_BACKEND_DNNL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(worker_usage, stdout);
            return SF_EXIT_OK;
        }
#define OPT(name) sf_cli_opt("worker", argc, argv, &i, name, &v)
        if ((r = OPT("--model")) == 1)
            c.model_dir = v;
        else if (r == 0 && (r = OPT("--cut")) == 1)
            r = sf_cli_opt_int("worker", "--cut", v, 0, 1 << 20, &c.cut) ? -1 : 1;
        else if (r == 0 && (r = OPT("--fanout")) == 1)
            r = sf_cli_opt_int("worker", "--fanout", v, 1, 64, &c.fanout) ? -1 : 1;
        else if (r == 0 && (r = OPT("--function-url")) == 1)
            c.fn_url = v;
        else if (r == 0 && (r = OPT("--function")) == 1)
            c.fn_name = v;
        else if (r == 0 && (r = OPT("--function-timeout-s")) == 1)
            r = sf_cli_opt_double("worker", argv[i - 1], v, 0.001, 900, &c.fn_timeout_s) ? -1 : 1;
        else if (r == 0 && (r = OPT("--threads")) == 1)
            r = sf_cli_opt_int("worker", "--threads", v, 1, 256, &c.threads) ? -1 : 1;
        else if (r == 0 && (r = OPT("--backend")) == 1)
            r = parse_backend("worker", v, &c.backend) ? -1 : 1;
        else if (r == 0 && (r = OPT("--host")) == 1)
            c.host = v;
        else if (r == 0 && (r = OPT("--port")) == 1)
            r = sf_cli_opt_int("worker", "--port", v, 0, 65535, &c.port) ? -1 : 1;
        else if (r == 0 && (r = OPT("--boot-delay-s")) == 1)
            r = sf_cli_opt_double("worker", "--boot-delay-s", v, 0, 3600, &c.boot_delay_s) ? -1 : 1;
        else if (r == 0 && (r = OPT("--ready-fd")) == 1)
            r = sf_cli_opt_int("worker", "--ready-fd", v, 0, 1024, &c.ready_fd) ? -1 : 1;
        else if (r == 0 && (r = OPT("--tau")) == 1)
            r = sf_cli_opt_double("worker", "--tau", v, 0, 2, &c.tau) ? -1 : 1;
#undef OPT
        if (r == 0) {
            fprintf(stderr, "serflow worker: unknown option '%s' (see serflow worker --help)\n",
                    argv[i]);
            return SF_EXIT_USAGE;
        }
        if (r < 0)
            return SF_EXIT_USAGE;
    }
    if (!c.model_dir) {
        fprintf(stderr, "serflow worker: --model DIR is required\n");
        return SF_EXIT_USAGE;
    }
    sf_cli_install_stop();
    if (c.ready_fd >= 0)
        sf_cli_die_with_parent();
    sf_cli_set_threads(c.threads);
    struct sf_err err = {{0}};
    int rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = sf_worker_run(&c, &sf_cli_stop, &err);
    return finish("worker", rc, &err);
}

int sf_cmd_lambda(int argc, char **argv)
{
    struct sf_lambda_cfg c = {0};
    c.host = "127.0.0.1";
    c.memory_mb = 1769;
    c.tau = 1;
    c.timeout_s = 10;
    c.idle_timeout_s = 60;
    c.concurrency = 16;
    c.ready_fd = -1;
    const char *pricing = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(lambda_usage, stdout);
            return SF_EXIT_OK;
        }
#define OPT(name) sf_cli_opt("lambda", argc, argv, &i, name, &v)
        if ((r = OPT("--model")) == 1)
            c.model_dir = v;
        else if (r == 0 && (r = OPT("--function")) == 1)
            c.function_name = v;
        else if (r == 0 && (r = OPT("--memory-mb")) == 1)
            r = sf_cli_opt_int("lambda", "--memory-mb", v, 1, 1 << 20, &c.memory_mb) ? -1 : 1;
        else if (r == 0 && (r = OPT("--pricing")) == 1)
            pricing = v;
        else if (r == 0 && (r = OPT("--tau")) == 1)
            r = sf_cli_opt_double("lambda", "--tau", v, 0, 2, &c.tau) ? -1 : 1;
        else if (r == 0 && (r = OPT("--timeout-s")) == 1)
            r = sf_cli_opt_double("lambda", "--timeout-s", v, 0.001, 900, &c.timeout_s) ? -1 : 1;
        else if (r == 0 && (r = OPT("--idle-timeout-s")) == 1)
            r = sf_cli_opt_double("lambda", "--idle-timeout-s", v, 0, 86400, &c.idle_timeout_s) ? -1
                                                                                                : 1;
        else if (r == 0 && (r = OPT("--cold-start-delay-s")) == 1)
            r = sf_cli_opt_double("lambda", "--cold-start-delay-s", v, 0, 3600,
                                  &c.cold_start_delay_s)
                    ? -1
                    : 1;
        else if (r == 0 && (r = OPT("--concurrency")) == 1)
            r = sf_cli_opt_int("lambda", "--concurrency", v, 1, 256, &c.concurrency) ? -1 : 1;
        else if (r == 0 && (r = OPT("--host")) == 1)
            c.host = v;
        else if (r == 0 && (r = OPT("--port")) == 1)
            r = sf_cli_opt_int("lambda", "--port", v, 0, 65535, &c.port) ? -1 : 1;
        else if (r == 0 && (r = OPT("--ready-fd")) == 1)
            r = sf_cli_opt_int("lambda", "--ready-fd", v, 0, 1024, &c.ready_fd) ? -1 : 1;
        else if (r == 0 && (r = OPT("--fault")) == 1)
            c.fault = v;
#undef OPT
        if (r == 0) {
            fprintf(stderr, "serflow lambda: unknown option '%s' (see serflow lambda --help)\n",
                    argv[i]);
            return SF_EXIT_USAGE;
        }
        if (r < 0)
            return SF_EXIT_USAGE;
    }
    if (!c.model_dir || !c.function_name) {
        fprintf(stderr, "serflow lambda: --model DIR and --function NAME are required\n");
        return SF_EXIT_USAGE;
    }
    struct sf_err err = {{0}};
    static struct sf_pricing price;
    int rc =
        sf_pricing_load(&price, pricing ? pricing : sf_cli_data_path("pricing/local.json"), &err);
    if (rc != SF_OK)
        return finish("lambda", rc, &err);
    sf_cli_install_stop();
    if (c.ready_fd >= 0)
        sf_cli_die_with_parent();
    rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = sf_lambda_run(&c, &price, &sf_cli_stop, &err);
    return finish("lambda", rc, &err);
}

int sf_cmd_function(int argc, char **argv)
{
    struct sf_function_cfg c = {0};
    c.tau = 1;
    c.threads = 1;
    c.backend = SF_NN_BACKEND_DNNL;
    c.runtime_api = getenv("AWS_LAMBDA_RUNTIME_API");
    c.fault = getenv("SERFLOW_FUNCTION_FAULT");
    if (c.fault && !*c.fault)
        c.fault = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(function_usage, stdout);
            return SF_EXIT_OK;
        }
#define OPT(name) sf_cli_opt("function", argc, argv, &i, name, &v)
        if ((r = OPT("--model")) == 1)
            c.model_dir = v;
        else if (r == 0 && (r = OPT("--tau")) == 1)
            r = sf_cli_opt_double("function", "--tau", v, 0, 2, &c.tau) ? -1 : 1;
        else if (r == 0 && (r = OPT("--threads")) == 1)
            r = sf_cli_opt_int("function", "--threads", v, 1, 256, &c.threads) ? -1 : 1;
        else if (r == 0 && (r = OPT("--backend")) == 1)
            r = parse_backend("function", v, &c.backend) ? -1 : 1;
        else if (r == 0 && (r = OPT("--init-delay-s")) == 1)
            r = sf_cli_opt_double("function", "--init-delay-s", v, 0, 3600, &c.init_delay_s) ? -1
                                                                                             : 1;
#undef OPT
        if (r == 0) {
            fprintf(stderr, "serflow function: unknown option '%s'\n", argv[i]);
            return SF_EXIT_USAGE;
        }
        if (r < 0)
            return SF_EXIT_USAGE;
    }
    if (!c.model_dir) {
        /* on Lambda the model ships in the deployment package next to the bootstrap */
        c.model_dir = getenv("SERFLOW_MODEL_DIR");
        if (!c.model_dir) {
            fprintf(stderr, "serflow function: --model DIR (or SERFLOW_MODEL_DIR) is required\n");
            return SF_EXIT_USAGE;
        }
    }
    if (getenv("SERFLOW_INSTANCE_ID"))
        sf_cli_die_with_parent(); /* started by the local runtime */
    sf_cli_set_threads(c.threads);
    struct sf_err err = {{0}};
    int rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = sf_function_run(&c, &sf_cli_stop, &err);
    return finish("function", rc, &err);
}
