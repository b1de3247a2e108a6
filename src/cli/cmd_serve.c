/* cmd_serve.c - `serflow serve`: plans the model (or takes a forced pool and cut), picks the
 * policy's path the way `serflow replay` does (serflow: the plan's cheapest at tau; libra, spock,
 * mark: the cheapest IaaS; faas: functions only), and runs the ingress until SIGTERM. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serflow/serve.h"
#include "serflow/sim.h"
#include "serve_cli.h"

static const char usage[] =
    "usage: serflow serve [options]\n"
    "\n"
    "The online system on this machine: an Open Inference Protocol v2 ingress on 127.0.0.1\n"
    "(POST /v2/models/NAME/infer, GET /v2/models/NAME, /v2/health/live, /v2/health/ready,\n"
    "/metrics), VM workers started by the local provider, and a local Lambda-compatible\n"
    "function runtime; the same ctl/ policy and batcher as `serflow replay`. SIGTERM drains.\n"
    "\n"
    "Model and plan:\n"
    "  --model DIR           model directory (default: models/fmnist-ee)\n"
    "  --profile FILE        its profile (default: data/profiles/fmnist-ee-local.json)\n"
    "  --pricing FILE        catalog (default: data/pricing/local.json)\n"
    "  --tau T               threshold (default: the planner's choice)\n"
    "  --policy P            faas | serflow | libra | libra-orig | spock | mark (serflow)\n"
    "  --pool P --cut C      force a path: faas, iaas, or hybrid at cut C (cheapest VM type)\n"
    "  --instances N         keep a fixed fleet of N instances (ignores the policy's target)\n"
    "  --tcip RPS            override the planned T-CIP (as serflow replay --tcip)\n"
    "  --worker-url H:P      use running workers (repeatable) instead of starting them\n"
    "  --no-spill            IaaS without the FaaS spill: batches wait for a free instance\n"
    "Controller (as serflow replay):\n"
    "  --cold-start MIN:MAX  VM boot in epochs, uniform (18:22)   --scale-period P (25)\n"
    "  --terminate-delay D   epochs (2)       --k K (1)           --seed S (1)\n"
    "  --batching B          deadline (the deadline-aware batcher) | epoch (the paper's)\n"
    "  --margin-s S          batcher: time kept in hand for dispatch jitter (0.005)\n"
    "  --time-scale X        controller clock x X: epochs, VM boots and function idle\n"
    "                        timeouts shrink by X (SLO deadlines and bills do not) (1)\n"
    "Functions:\n"
    "  --fn-timeout-s S (10)   --fn-idle-timeout-s S (600)   --fn-concurrency N (8)\n"
    "  --fn-cold-start-delay-s S  added to each instance's real start (0)\n"
    "  --fn-dispatchers N    concurrent invocations from the ingress (= --fn-concurrency)\n"
    "  --lambda-url U        use a running function runtime instead of starting one\n"
    "  --fn-fault F          test hook: function instances crash or hang on every event\n"
    "Limits:\n"
    "  --queue-cap N         admitted requests waiting for dispatch; beyond: 503 (2000)\n"
    "  --max-connections N (512)   --idle-timeout-s S per connection (10)\n"
    "  --max-body-bytes N (8388608)   --max-images N per request (256)\n"
    "Listening:\n"
    "  --host H (127.0.0.1)  --port N (8080; 0 = any)   --ready-fd FD  (\"ready HOST:PORT\")\n"
    "  --backend ref|dnnl    inference backend of the workers (dnnl)\n"
    "\n"
    "Example:\n"
    "  serflow serve --policy libra --port 8080 &\n"
    "  serflow load --url http://127.0.0.1:8080 --epochs 100\n";

struct serve_args {
    const char *model, *profile, *pricing, *policy, *pool, *vm;
    double tau, tcip;
    int cut;
    struct sf_serve_cfg c;
};

static int parse_pair(const char *v, int *lo, int *hi)
{
    char *end;
    long a = strtol(v, &end, 10);
    if (*end != ':' || a < 0)
        return -1;
    long b = strtol(end + 1, &end, 10);
    if (*end || b < a || b > 100000)
        return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

static int parse_args(int argc, char **argv, struct serve_args *a)
{
    struct sf_serve_cfg *c = &a->c;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 1;
        }
        int r = 0;
        double d;
        const char *o = argv[i];
#define IS(name) (r == 0 && (r = sf_cli_opt("serve", argc, argv, &i, name, &v)) == 1)
#define DBL(lo, hi, dst)                                                                           \
    do {                                                                                           \
        if (sf_cli_opt_double("serve", o, v, lo, hi, &d))                                          \
            return -1;                                                                             \
        dst = d;                                                                                   \
    } while (0)
#define INT(lo, hi, dst)                                                                           \
    do {                                                                                           \
        if (sf_cli_opt_int("serve", o, v, lo, hi, &dst))                                           \
            return -1;                                                                             \
    } while (0)
        if (IS("--model"))
            a->model = v;
        else if (IS("--profile"))
            a->profile = v;
        else if (IS("--pricing"))
            a->pricing = v;
        else if (IS("--policy"))
            a->policy = v;
        else if (IS("--tau"))
            DBL(0, 1, a->tau);
        else if (IS("--pool"))
            a->pool = v;
        else if (IS("--cut"))
            INT(0, SF_MAX_STAGES, a->cut);
        else if (IS("--vm"))
            a->vm = v;
        else if (IS("--cold-start")) {
            if (parse_pair(v, &c->env.ctl.cold_start_min_epochs,
                           &c->env.ctl.cold_start_max_epochs)) {
                fprintf(stderr, "serflow serve: --cold-start: '%s' is not MIN:MAX epochs\n", v);
                return -1;
            }
        } else if (IS("--scale-period"))
            INT(1, 1000000, c->env.ctl.scale_period_epochs);
        else if (IS("--terminate-delay"))
            INT(0, 1000000, c->env.ctl.terminate_delay_epochs);
        else if (IS("--k"))
            DBL(0, 100, c->env.ctl.k);
        else if (IS("--seed"))
            DBL(0, 1e15, c->seed);
        else if (IS("--batching")) {
            if (!strcmp(v, "deadline"))
                c->batching = SF_BATCHING_DEADLINE;
            else if (!strcmp(v, "epoch"))
                c->batching = SF_BATCHING_EPOCH;
            else {
                fprintf(stderr, "serflow serve: --batching: '%s' is not deadline or epoch\n", v);
                return -1;
            }
        } else if (IS("--margin-s"))
            DBL(0, 3600, c->margin_s);
        else if (IS("--time-scale"))
            DBL(0.001, 1000, c->time_scale);
        else if (IS("--fn-timeout-s"))
            DBL(0.001, 900, c->fn_timeout_s);
        else if (IS("--fn-idle-timeout-s"))
            DBL(0, 86400, c->fn_idle_timeout_s);
        else if (IS("--fn-concurrency"))
            INT(1, 256, c->fn_concurrency);
        else if (IS("--fn-cold-start-delay-s"))
            DBL(0, 3600, c->fn_cold_start_delay_s);
        else if (IS("--fn-dispatchers"))
            INT(1, 256, c->fn_dispatchers);
        else if (IS("--tcip"))
            DBL(0, 1e12, a->tcip);
        else if (IS("--worker-url")) {
            if (c->n_worker_urls >= 16) {
                fprintf(stderr, "serflow serve: --worker-url: at most 16\n");
                return -1;
            }
            c->worker_urls[c->n_worker_urls++] = v;
        } else if (r == 0 && !strcmp(o, "--no-spill")) {
            c->no_spill = 1;
            r = 1;
        } else if (IS("--instances"))
            INT(0, 64, c->fixed_instances);
        else if (IS("--fn-fault"))
            c->fn_fault = v;
        else if (IS("--lambda-url"))
            c->lambda_url = v;
        else if (IS("--queue-cap"))
            INT(1, 1000000, c->queue_cap);
        else if (IS("--max-connections"))
            INT(4, 100000, c->max_connections);
        else if (IS("--idle-timeout-s"))
            INT(1, 3600, c->idle_timeout_s);
        else if (IS("--max-body-bytes")) {
            DBL(1024, (double)SF_SERVE_MAX_BODY_BYTES, d);
            c->max_body_bytes = (size_t)d;
        } else if (IS("--max-images"))
            INT(1, (long)SF_SERVE_MAX_BATCH, c->max_images);
        else if (IS("--host"))
            c->host = v;
        else if (IS("--port"))
            INT(0, 65535, c->port);
        else if (IS("--ready-fd"))
            INT(0, 1024, c->ready_fd);
        else if (IS("--backend")) {
            if (sf_nn_backend_parse(v, &c->backend) != SF_OK) {
                fprintf(stderr, "serflow serve: --backend: '%s' is not ref or dnnl\n", v);
                return -1;
            }
        }
#undef IS
#undef DBL
#undef INT
        if (r < 0)
            return -1;
        if (r == 0) {
            fprintf(stderr, "serflow serve: unknown option '%s' (see serflow serve --help)\n", o);
            return -1;
        }
    }
    return 0;
}

/* The forced path: pool at tau (and cut for hybrid), the cheapest feasible VM type (or --vm). */
static int forced_path(const struct sf_plan *plan, const struct sf_pricing *pr, double tau,
                       const char *pool, int cut, const char *vm, struct sf_path *out)
{
    enum sf_pool want = !strcmp(pool, "faas")     ? SF_POOL_FAAS
                        : !strcmp(pool, "iaas")   ? SF_POOL_IAAS
                        : !strcmp(pool, "hybrid") ? SF_POOL_HYBRID
                                                  : (enum sf_pool) - 1;
    if ((int)want < 0) {
        fprintf(stderr, "serflow serve: --pool: '%s' is not faas, iaas or hybrid\n", pool);
        return -1;
    }
    const struct sf_candidate *best = NULL;
    for (size_t i = 0; i < plan->n_alt; i++) {
        const struct sf_candidate *c = &plan->alt[i];
        if (fabs(c->tau - tau) > 1e-9 || c->pool != want || c->fn_mem_mb <= 0)
            continue;
        if (want == SF_POOL_HYBRID && c->cut != cut)
            continue;
        if (vm && (c->vm < 0 || strcmp(pr->vm[c->vm].name, vm) != 0))
            continue;
        int feas = c->reject == SF_REJ_NONE, bfeas = best && best->reject == SF_REJ_NONE;
        if (!best || (feas && !bfeas) ||
            (feas == bfeas && c->cost_usd_per_s < best->cost_usd_per_s))
            best = c;
    }
    if (!best) {
        fprintf(stderr, "serflow serve: no %s configuration%s at tau %g in the plan\n", pool,
                want == SF_POOL_HYBRID ? " with that --cut" : "", tau);
        return -1;
    }
    if (best->reject != SF_REJ_NONE)
        fprintf(stderr,
                "serflow serve: warning: the forced %s path is rejected by the planner "
                "(%s)\n",
                pool, sf_reject_name(best->reject));
    *out = sf_plan_path(best);
    return 0;
}

/* Expected USD of one request fully on functions at the path's memory (MArk compares with it). */
static double faas_usd_per_req(const struct sf_profile *prof, const struct sf_pricing *pr,
                               const struct sf_path *path, double tau)
{
    double rq[SF_MAX_STAGES], rb[SF_MAX_STAGES], s[SF_MAX_STAGES], work = 0;
    const struct sf_exit_row *row = sf_profile_exits(prof, tau);
    if (!row || sf_fn_runtime_at(prof, pr, pr->fn_arch[0].name, path->fn_mem_mb, rq, rb) != SF_OK)
        return 0;
    sf_profile_survival(prof, row, s);
    for (int i = 0; i < prof->n_stages; i++)
        work += s[i] * rq[i];
    return sf_pricing_fn_usd_per_s(pr, 0, path->fn_mem_mb) * work;
}

static void on_ready(void *ctx, const char *host, int port)
{
    (void)ctx;
    fprintf(stderr,
            "serflow serve: listening on http://%s:%d (POST /v2/models/NAME/infer, GET "
            "/metrics); SIGTERM or Ctrl-C drains and stops\n",
            host, port);
}

int sf_cmd_serve(int argc, char **argv)
{
    static struct sf_profile prof;
    static struct sf_pricing pr;
    struct serve_args a;
    memset(&a, 0, sizeof(a));
    a.tau = -1;
    a.cut = -1;
    a.tcip = -1;
    a.policy = "serflow";
    struct sf_serve_cfg *c = &a.c;
    sf_policy_env_default(&c->env);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->time_scale = 1;
    c->batching = SF_BATCHING_DEADLINE;
    c->margin_s = 0.005;
    c->queue_cap = 2000;
    c->max_connections = 512;
    c->idle_timeout_s = 10;
    c->max_body_bytes = (size_t)8 << 20;
    c->max_images = 256;
    c->fn_timeout_s = 10;
    c->fn_idle_timeout_s = 600;
    c->fn_concurrency = 8;
    c->fn_dispatchers = 16;
    c->backend = SF_NN_BACKEND_DNNL;
    c->seed = 1;
    c->ready_fd = -1;
    c->on_ready = on_ready;
    c->fixed_instances = -1;
    c->fn_dispatchers = 0;
    int prc = parse_args(argc, argv, &a);
    if (prc)
        return prc > 0 ? SF_EXIT_OK : SF_EXIT_USAGE;
    if (c->fn_dispatchers == 0) /* one in-flight invocation per function instance allowed */
        c->fn_dispatchers = c->fn_concurrency;
    char model_dir[4096];
    if (a.model)
        snprintf(model_dir, sizeof(model_dir), "%s", a.model);
    else
        snprintf(model_dir, sizeof(model_dir), "%s/models/fmnist-ee", SF_SOURCE_DIR);
    c->model_dir = model_dir;
    struct sf_err err = {{0}};
    if (sf_profile_load(&prof,
                        a.profile ? a.profile : sf_cli_data_path("profiles/fmnist-ee-local.json"),
                        &err) != SF_OK ||
        sf_pricing_load(&pr, a.pricing ? a.pricing : sf_cli_data_path("pricing/local.json"),
                        &err) != SF_OK) {
        fprintf(stderr, "serflow serve: %s\n", err.msg);
        return SF_EXIT_USAGE;
    }
    if (!sf_policy_ops_find(a.policy)) {
        fprintf(stderr,
                "serflow serve: --policy: unknown policy '%s' (faas, serflow, libra, "
                "libra-orig, spock, mark)\n",
                a.policy);
        return SF_EXIT_USAGE;
    }
    struct sf_plan plan;
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    int rc = sf_plan_run(&plan, &prof, &pr, &po, &err);
    if (rc != SF_OK) {
        fprintf(stderr, "serflow serve: %s\n", err.msg);
        if (rc == SF_EINFEASIBLE)
            sf_plan_fini(&plan);
        return SF_EXIT_FAIL;
    }
    c->tau = a.tau >= 0 ? a.tau : plan.best.tau;
    struct sf_sim_paths paths;
    if (sf_sim_paths_from_plan(&plan, c->tau, &paths, &err) != SF_OK) {
        fprintf(stderr, "serflow serve: %s\n", err.msg);
        sf_plan_fini(&plan);
        return SF_EXIT_USAGE;
    }
    const char *pol = a.policy;
    if (a.pool) {
        if (forced_path(&plan, &pr, c->tau, a.pool, a.cut, a.vm, &c->path) != 0) {
            sf_plan_fini(&plan);
            return SF_EXIT_USAGE;
        }
    } else if (!strcmp(pol, "faas")) {
        c->path = paths.faas;
    } else if (!strcmp(pol, "serflow")) {
        c->path = paths.serflow;
    } else {
        if (paths.iaas.has_instances < 0) {
            fprintf(stderr, "serflow serve: no SLO-feasible IaaS configuration for %s at tau %g\n",
                    pol, c->tau);
            sf_plan_fini(&plan);
            return SF_EXIT_FAIL;
        }
        c->path = paths.iaas;
    }
    sf_plan_fini(&plan);
    c->prof = &prof;
    c->price = &pr;
    c->fn_arch = 0;
    c->policy = pol;
    c->env.ctl.epoch_s = prof.slo_s;
    c->env.ctl.batch_size = prof.batch_size;
    c->env.ctl.capacity_rps = prof.batch_size / prof.slo_s;
    c->env.ctl.use_instances = c->path.has_instances;
    if (a.tcip >= 0)
        c->path.tcip_rps = a.tcip;
    c->env.ctl.tcip_rps = c->path.tcip_rps;
    if (strcmp(pol, "serflow") != 0)
        c->env.ctl.scaling_rule = SF_SCALE_PAPER; /* the baselines keep their own rules */
    c->env.vm_usd_per_s = c->path.has_instances ? pr.vm[c->path.vm].price_usd_per_s : 0;
    c->env.faas_usd_per_req = faas_usd_per_req(&prof, &pr, &c->path, c->tau);
    sf_cli_install_stop();
    if (sf_http_global_init(&err) != SF_OK) {
        fprintf(stderr, "serflow serve: %s\n", err.msg);
        return SF_EXIT_FAIL;
    }
    char where[160];
    if (!c->path.has_instances)
        snprintf(where, sizeof(where), "functions only (%d MB)", c->path.fn_mem_mb);
    else if (c->path.cut >= prof.n_stages)
        snprintf(where, sizeof(where), "IaaS on %s, FaaS spill at %d MB", pr.vm[c->path.vm].name,
                 c->path.fn_mem_mb);
    else
        snprintf(where, sizeof(where), "hybrid: stages 1-%d on %s, %d-%d on %d x %d MB functions",
                 c->path.cut, pr.vm[c->path.vm].name, c->path.cut + 1, prof.n_stages,
                 c->path.tail_fanout, c->path.fn_mem_mb);
    fprintf(stderr, "serflow serve: policy %s, tau %.2f, %s; SLO %g s, batch %d, %s batching\n",
            pol, c->tau, where, prof.slo_s, prof.batch_size,
            c->batching == SF_BATCHING_EPOCH ? "epoch" : "deadline-aware");
    rc = sf_serve_run(c, &sf_cli_stop, &err);
    if (rc != SF_OK) {
        fprintf(stderr, "serflow serve: %s\n", err.msg);
        return rc == SF_EINVAL || rc == SF_ENOTFOUND ? SF_EXIT_USAGE : SF_EXIT_FAIL;
    }
    fprintf(stderr, "serflow serve: drained and stopped: %llu requests accepted, %llu answered\n",
            (unsigned long long)c->accepted, (unsigned long long)c->answered);
    return SF_EXIT_OK;
}
