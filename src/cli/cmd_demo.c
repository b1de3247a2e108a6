/* cmd_demo.c - `serflow demo` (what `make demo` runs): the live system against its own
 * prediction, on a model and a trace where the choice of path matters.
 *
 * It plans the model (its profile measured on this machine, the local price catalog), measures
 * what a function call costs here beyond the model, then for faas, libra and serflow starts
 * `serflow serve`, replays the trace through it with real test images (`serflow load`'s engine),
 * reads this run's bill from /metrics, stops the server, and replays the same trace in the
 * simulator with the same binding (bind.h): the same profile, catalog, policy, batching, function
 * cold start and dispatch margin, given to serve as files and options. One table: each policy's
 * path, live and predicted cost in $ per hour at the trace's rate, the VM / function split and
 * the request-level SLO; `--json` prints the same per policy.
 *
 * A demo lasts a minute per policy, but a VM is billed per second with a 60 s minimum. The demo
 * runs the paper's world faster: one epoch of the demo (its SLO) stands for one of the paper's
 * 6 s epochs, so the catalog's VM billing rules are divided by the same factor (--time-scale:
 * per 1/X s with a 60/X s minimum) in a catalog file that serve and the simulator both read.
 * Everything else (per-request compute, function billing per 1 ms) is real. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "serflow/cloud.h"
#include "serflow/http.h"
#include "serflow/load.h"
#include "serflow/log.h"
#include "serflow/metrics.h"
#include "serflow/nn_profile.h"
#include "serflow/sim.h"
#include "serflow/trace.h"
#include "serflow/wire.h"
#include "serve_cli.h"

enum {
    D_EPOCHS = 1,
    D_RATE,
    D_BATCHING,
    D_OFFLINE,
    D_PREDICT,
    D_JSON,
    D_MODEL,
    D_PROFILE,
    D_TRACE,
    D_SLO,
    D_TIME_SCALE,
    D_TAU,
    D_MIN_ACC,
    D_LOG_LEVEL,
    D_CALIBRATE
};

static const struct sf_opt demo_opts[] = {
    SF_SO_SECTION("What runs:"),
    SF_SO_STR(D_MODEL, "model", "DIR",
              "model directory (default: models/vgg16-sdn, the paper's\nVGG16-SDN trained here)"),
    SF_SO_STR(D_PROFILE, "profile", "FILE",
              "its profile measured here (default: the bundled one of the\nmodel, "
              "data/profiles/NAME-local.json)"),
    SF_SO_STR(D_TRACE, "trace", "FILE", "requests per epoch (default: the bundled WITS trace)"),
    SF_SO_INT(D_EPOCHS, "epochs", "N", "epochs replayed per policy (100)", 10, 100000),
    SF_SO_NUM(D_RATE, "rate-scale", "F",
              "multiply the trace's counts (default: a mean of twice the\nIaaS pool's T-CIP "
              "the plan finds here, where instances\npay part of the time: 550-660 req/s on the "
              "2-core\nhosts measured; 1.5 over the host speed when there is none)",
              0.001, 100),
    SF_SO_NUM(D_SLO, "slo-s", "S", "the SLO, one epoch (0.5)", 0.001, 3600),
    SF_SO_NUM(D_TAU, "tau", "T",
              "the threshold (0.95: VGG16-SDN's whole accuracy, 91.8 %);\n-1: the planner's "
              "choice",
              -1, 1),
    SF_SO_NUM(D_MIN_ACC, "min-accuracy", "A", "the planner's accuracy floor (with --tau -1)", 0, 1),
    SF_CLI_OPT_BATCHING(D_BATCHING),
    SF_SO_NUM(D_TIME_SCALE, "time-scale", "X",
              "VM billing runs X times faster (default: 6 s over the SLO,\nthe paper's epoch over "
              "the demo's)",
              1, 1e6),
    SF_SO_NUM(D_CALIBRATE, "calibrate-s", "S",
              "time the model here for about S seconds (12: half on one\nthread, half on two; "
              "at least one batch each): its speed\nscales every predicted time; shorter is "
              "noisier",
              0.5, 600),
    SF_SO_SECTION("Output:"),
    SF_SO_FLAG(D_JSON, "json", "per policy: name, path, live_usd, sim_usd, vm_answers, ..."),
    SF_SO_FLAG(D_PREDICT, "predict-only",
               "the prediction alone: the same inputs and binding,\nno server (about 15 s: the "
               "calibration, --calibrate-s)"),
    SF_SO_FLAG(D_OFFLINE, "offline",
               "the earlier demo instead: plan + replay of the paper profile"),
    SF_SO_WORD(D_LOG_LEVEL, "log-level", "L",
               "the live servers' log on standard error: error, warn\n(default), info (each "
               "function invocation with its billed\ntime, each container's init) or debug",
               sf_log_level_words),
    {0}};

static const struct sf_opt_cmd demo_spec = {
    .name = "demo",
    .summary = "the live demo (what `make demo` runs): serve a trace for faas, libra and\n"
               "serflow beside the simulator's prediction (--offline: plan + replay)",
    .synopsis = "[options]",
    .about =
        "Plans the model (its profile measured on this machine, the local catalog), then serves a\n"
        "trace through `serflow serve` for faas, libra and serflow and prints each policy's path,\n"
        "live cost beside the simulator's prediction for the same binding (in $ per hour at the\n"
        "trace's rate), the VM / function split and the request-level SLO (docs/serving.md).\n"
        "VM billing runs --time-scale times faster in both, so that a minute of demo is fair to\n"
        "VMs billed with a 60 s minimum; everything else is real.\n",
    .opts = demo_opts};

/* The demo's threshold: VGG16-SDN's accuracy there is the whole network's (91.8 %, against
 * 85.3 % at 0.5), and a request still leaves after 4.6 of 11 stages on average. */
#define DEMO_TAU 0.95
/* The default load: the trace's mean rate at this multiple of the IaaS pool's traffic cost
 * indifference point (T-CIP) at the demo's tau, as the plan finds it with this machine's speed.
 * A T-CIP is a share of a core whatever the host's speed (an instance's price over a function's
 * per second of the model), so the load asks as much of the cores on any machine. Planned
 * against the bundled WITS prefix, instances pay from about 1.8x (launches, cold starts and the
 * billing minimum weigh against a bursty trace; at 1.2x every policy chose functions); at 2.8x
 * the request SLO falls to 75 % on a 2-core host (docs/benchmarks.md). */
#define DEMO_TCIP_LOAD 2.0
/* When the plan has no finite T-CIP: the trace's counts x this over the host speed. */
#define DEMO_RATE_SCALE 1.5
/* The most time spent timing the model (--calibrate-s's default): 12 s read 1.05-1.11 in six
 * back-to-back calibrations where 6 s read 0.98-1.35 (docs/benchmarks.md). */
#define DEMO_SPEED_MAX_S 12.0

struct demo_args {
    int epochs, offline, json, predict_only;
    double rate_scale, slo_s, time_scale, tau, min_accuracy, calibrate_s;
    int batching;  /* 0 deadline, 1 epoch (sf_cli_batching_words) */
    int log_level; /* the live servers' (sf_log_level_words) */
    const char *model, *profile, *trace;
};

static int demo_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    (void)err;
    struct demo_args *a = ctx;
    switch (id) {
    case D_EPOCHS:
        a->epochs = (int)v->i;
        break;
    case D_RATE:
        a->rate_scale = v->num;
        break;
    case D_BATCHING:
        a->batching = v->word;
        break;
    case D_PREDICT:
        a->predict_only = 1;
        break;
    case D_OFFLINE:
        a->offline = 1;
        break;
    case D_JSON:
        a->json = 1;
        break;
    case D_MODEL:
        a->model = v->str;
        break;
    case D_PROFILE:
        a->profile = v->str;
        break;
    case D_TRACE:
        a->trace = v->str;
        break;
    case D_SLO:
        a->slo_s = v->num;
        break;
    case D_TIME_SCALE:
        a->time_scale = v->num;
        break;
    case D_TAU:
        a->tau = v->num;
        break;
    case D_MIN_ACC:
        a->min_accuracy = v->num;
        break;
    case D_LOG_LEVEL:
        a->log_level = v->word;
        break;
    case D_CALIBRATE:
        a->calibrate_s = v->num;
        break;
    }
    return SF_OK;
}

static void demo_defaults(struct demo_args *a)
{
    memset(a, 0, sizeof(*a));
    a->epochs = 100;
    a->rate_scale = 0; /* DEMO_RATE_SCALE over the host speed */
    a->slo_s = 0.5;
    a->tau = DEMO_TAU;
    a->log_level = SF_LOG_WARN; /* the demo's table is the output; problems still show */
    a->calibrate_s = DEMO_SPEED_MAX_S;
}

static int demo_check(int argc, char **argv, struct sf_err *err)
{
    struct demo_args a;
    demo_defaults(&a);
    int rc = sf_cli_parse(&demo_spec, argc, argv, demo_store, &a, err);
    return rc == 1 ? SF_OK : rc;
}

#define DEMO_RUNS 3
/* A serve that has not said "ready" in this long did not start. */
#define DEMO_START_TIMEOUT_S 30.0
/* The batcher's margin for dispatch jitter, told to serve and used by the prediction alike. */
#define DEMO_MARGIN_S 0.005
/* The paper's epoch (its SLO): the demo's epochs stand for these (--time-scale's default). */
#define DEMO_PAPER_EPOCH_S 6.0
/* Function instances at most (one per core below that). */
#define DEMO_MAX_FN_CONCURRENCY 8
/* The share of the SLO the batcher and the planner allow for a function's cold start. */
#define DEMO_COLD_SLO_SHARE 0.25
/* Batches of test images timed against the profile's prediction (the median ratio is used);
 * batch sizes cycle through DEMO_SPEED_BATCHES. */
#define DEMO_SPEED_RUNS 48
static const size_t DEMO_SPEED_BATCHES[] = {100, 50, 20};
/* Function calls timed for the warm per-call overhead (the median is used). */
#define DEMO_WARM_CALLS 25
/* ... and warm calls of a batch of test images at the demo's tau, for the function's speed as
 * billed against the profile's: this many, of at most DEMO_BATCH_IMAGES images. */
#define DEMO_BATCH_CALLS  9
#define DEMO_BATCH_IMAGES 100

/* One policy's run: live (serve + load) and predicted (the simulator on the same binding). */
struct run {
    const char *policy;
    struct sf_load_stats live;
    double live_usd, live_vm_usd, live_fn_usd, live_fn_calls, live_fn_gb_s;
    struct sf_policy_result sim;
    char path[128];
    int ok;
};

/* The files and options serve is given, so that it binds exactly what the prediction binds. */
struct same {
    char profile[64], pricing[64], traffic[64]; /* mkstemp files; "" when none */
    char cold_s[32], margin_s[32], tau[32], fn_conc[16];
    const char *batching, *model_dir, *log_level;
};

/* Function instances: one per core, at most DEMO_MAX_FN_CONCURRENCY. More only share the cores,
 * and their start-ups (model load, the runtime's warm-up) would all land at once on a machine
 * this size. */
static int demo_fn_concurrency(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > DEMO_MAX_FN_CONCURRENCY ? DEMO_MAX_FN_CONCURRENCY : (int)cores;
}

/* ---- the inputs: a catalog with scaled VM billing, a profile with the measured overhead ---- */

/* Writes the JSON document to a new mkstemp file named from tmpl (a template ending XXXXXX). */
static int write_temp_json(json_t *doc, char *tmpl, struct sf_err *err)
{
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        tmpl[0] = '\0';
        return sf_err_set(err, SF_EIO, "cannot create a temporary file");
    }
    FILE *f = fdopen(fd, "w");
    int bad = !f || json_dumpf(doc, f, JSON_INDENT(1)) != 0;
    if (f)
        bad |= fclose(f) != 0;
    else
        close(fd);
    return bad ? sf_err_set(err, SF_EIO, "%s: cannot write", tmpl) : SF_OK;
}

/* The catalog at path with its VM billing granularity and minimum divided by x, and functions
 * of at most max_vcpus vCPUs (memory up to that many times the MB per vCPU), as a new file. */
static int scaled_catalog(const char *path, double x, int max_vcpus, char *out, size_t out_size,
                          struct sf_err *err)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    json_t *bill = doc ? json_object_get(json_object_get(doc, "vm"), "billing") : NULL;
    json_t *g = json_object_get(json_object_get(bill, "granularity"), "value");
    json_t *m = json_object_get(json_object_get(bill, "minimum"), "value");
    json_t *fn = json_object_get(doc, "function");
    json_t *per = json_object_get(fn, "mb_per_vcpu");
    json_t *mem = json_object_get(fn, "memory_mb");
    json_t *max = json_object_get(mem, "max");
    if (!json_is_number(g) || !json_is_number(m) || !json_is_integer(per) ||
        !json_is_integer(max)) {
        json_decref(doc);
        return sf_err_set(err, SF_EPARSE,
                          "%s: no vm.billing granularity and minimum to scale, or no "
                          "function.mb_per_vcpu and memory_mb.max to cap",
                          path);
    }
    json_int_t cap = json_integer_value(per) * (max_vcpus > 0 ? max_vcpus : 1);
    if (cap < json_integer_value(max))
        json_object_set_new(mem, "max", json_integer(cap));
    json_object_set_new(json_object_get(bill, "granularity"), "value",
                        json_real(json_number_value(g) / x));
    json_object_set_new(json_object_get(bill, "minimum"), "value",
                        json_real(json_number_value(m) / x));
    char note[160];
    snprintf(note, sizeof(note), "serflow demo: VM billing %g times faster than the catalog's", x);
    json_object_set_new(doc, "notes", json_string(note));
    snprintf(out, out_size, "/tmp/serflow-demo-pricing-XXXXXX");
    int rc = write_temp_json(doc, out, err);
    json_decref(doc);
    return rc;
}

/* A warm call of a batch of test images at the demo's tau: billed, and how many ran each stage. */
struct fn_batch_call {
    double billed_s;
    int alive[SF_MAX_STAGES];
};

/* What a function call costs here beyond the model, measured with a throwaway `serflow lambda`
 * at mem_mb: the cold start (process start, model load, first batch) and the billed time of a
 * warm one-image call (the event's delivery, decoding, the reply), the median of
 * DEMO_WARM_CALLS; then warm calls of a batch at the demo's tau (the function's speed as billed).
 * 0 when a figure could not be measured. The profile times the bare runtime, so the prediction
 * adds the first two and scales the functions' times by the last. */
struct fn_costs {
    double cold_s, warm_call_s; /* warm_call_s: one image at tau 0 */
    struct fn_batch_call batch[DEMO_BATCH_CALLS];
    int n_batch;
};

static int invoke_once(const char *url, const void *frame, size_t len, double *billed_ms)
{
    long status = 0;
    char *resp = NULL;
    struct sf_err err = {{0}};
    struct sf_http_bill bill = {-1, -1, -1};
    struct sf_http_opts o = {.bill = &bill};
    int ok = sf_http_request_opts(NULL, &o, url, frame, len, NULL, 30, &status, &resp, NULL, NULL,
                                  &err) == SF_OK &&
             status == 200;
    free(resp);
    *billed_ms = bill.billed_ms;
    return ok && bill.billed_ms >= 0;
}

/* One first call of several made at once (a thread each). */
struct first_call {
    const char *url;
    const void *frame;
    size_t len;
    double billed_ms;
    int ok;
    pthread_t th;
};

static void *first_call_main(void *arg)
{
    struct first_call *f = arg;
    f->ok = invoke_once(f->url, f->frame, f->len, &f->billed_ms);
    return NULL;
}

/* Warm calls of n test images each at tau (different images each time): what each billed and
 * where its images left, into c->batch; stops at the first that fails. */
static void warm_batches(const char *url, const struct sf_nn_model *m,
                         const struct sf_nn_dataset *ds, size_t n, double tau, struct fn_costs *c)
{
    const struct sf_nn_shape *shape = sf_nn_model_input_shape(m);
    size_t numel = sf_nn_shape_numel(shape);
    uint64_t ids[DEMO_BATCH_IMAGES];
    n = n > DEMO_BATCH_IMAGES ? DEMO_BATCH_IMAGES : n;
    for (size_t i = 0; i < n; i++)
        ids[i] = i + 1;
    c->n_batch = 0;
    for (int k = 0; k < DEMO_BATCH_CALLS && n > 0 && ds->n >= n; k++) {
        size_t at = ((size_t)k * n) % (ds->n - n + 1);
        void *frame = NULL;
        size_t len = 0, resp_len = 0, got = 0;
        char *resp = NULL;
        long status = 0;
        struct sf_err err = {{0}};
        struct sf_http_bill bill = {-1, -1, -1};
        struct sf_http_opts o = {.bill = &bill};
        struct sf_serve_result *r = NULL;
        int ok = sf_frame_input_encode(ids, ds->x + at * numel, n, shape, tau, &frame, &len,
                                       &err) == SF_OK &&
                 sf_http_request_opts(NULL, &o, url, frame, len, NULL, 30, &status, &resp,
                                      &resp_len, NULL, &err) == SF_OK &&
                 status == 200 && bill.billed_ms >= 0 &&
                 sf_frame_result_decode(resp, resp_len, sf_nn_model_num_classes(m), n, &r, &got,
                                        &err) == SF_OK &&
                 got == n;
        if (ok) {
            struct fn_batch_call *b = &c->batch[c->n_batch++];
            memset(b, 0, sizeof(*b));
            b->billed_s = bill.billed_ms / 1000;
            for (size_t i = 0; i < n; i++)
                for (int s = 0; s < r[i].exit_stage && s < SF_MAX_STAGES; s++)
                    b->alive[s]++;
        }
        free(r);
        free(resp);
        free(frame);
        if (!ok)
            break;
    }
}

/* together: containers started at once, as the demo's first batches start one per core; their
 * inits share the cores and the machine's page-fault path, which one started alone does not
 * show (3.0-3.5 s each for two, 2.3 s alone, on a 2-core VM) */
static struct fn_costs measure_function(const char *exe, const char *model_dir, const char *name,
                                        const struct sf_nn_model *m, const struct sf_nn_dataset *ds,
                                        size_t batch_n, double tau, int mem_mb, int together)
{
    struct fn_costs c;
    memset(&c, 0, sizeof(c));
    const float *x = ds->x;
    char fd[8], mem[16], conc[16];
    if (together < 1)
        together = 1;
    if (together > DEMO_MAX_FN_CONCURRENCY)
        together = DEMO_MAX_FN_CONCURRENCY;
    snprintf(fd, sizeof(fd), "%d", SF_PROC_READY_FD);
    snprintf(mem, sizeof(mem), "%d", mem_mb);
    snprintf(conc, sizeof(conc), "%d", together);
    char *argv[] = {(char *)exe,
                    "lambda",
                    "--model",
                    (char *)model_dir,
                    "--function",
                    (char *)name,
                    "--port",
                    "0",
                    "--ready-fd",
                    fd,
                    "--memory-mb",
                    mem,
                    "--concurrency",
                    conc,
                    "--log-level",
                    "warn",
                    NULL};
    struct sf_proc p;
    struct sf_err err = {{0}};
    if (sf_proc_spawn(&p, argv, NULL, NULL, &err) != SF_OK)
        return c;
    double t0 = sf_monotonic_s();
    while (!sf_proc_poll_ready(&p) && !sf_proc_reap(&p) &&
           sf_monotonic_s() - t0 < DEMO_START_TIMEOUT_S)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    void *frame = NULL;
    size_t len = 0;
    uint64_t id = 1;
    if (p.ready && sf_frame_input_encode(&id, x, 1, sf_nn_model_input_shape(m), 0, &frame, &len,
                                         &err) == SF_OK) {
        char url[320];
        snprintf(url, sizeof(url), "http://%s/2015-03-31/functions/%s/invocations", p.endpoint,
                 name);
        struct first_call first[DEMO_MAX_FN_CONCURRENCY];
        int started = 0, all_ok = 1;
        double first_ms = 0;
        for (int k = 0; k < together; k++) {
            first[k] = (struct first_call){.url = url, .frame = frame, .len = len};
            if (pthread_create(&first[k].th, NULL, first_call_main, &first[k]) != 0)
                break;
            started++;
        }
        for (int k = 0; k < started; k++) {
            pthread_join(first[k].th, NULL);
            all_ok = all_ok && first[k].ok;
            /* the longest: the runtime gives a queued event to the first container ready, so
             * only one of the calls may carry an init (the other container's is billed to a
             * later call, one of the warm calls' median's outliers) */
            first_ms = first[k].billed_ms > first_ms ? first[k].billed_ms : first_ms;
        }
        double calls[DEMO_WARM_CALLS];
        int n = 0;
        if (started == together && all_ok) {
            for (int i = 0; i < DEMO_WARM_CALLS && invoke_once(url, frame, len, &calls[n]); i++)
                calls[n++] /= 1000;
            if (n > 0) {
                qsort(calls, (size_t)n, sizeof(double), sf_cmp_double);
                c.warm_call_s = calls[n / 2];
                c.cold_s = first_ms / 1000 - c.warm_call_s; /* the init the first call paid */
            }
            if (n > 0)
                warm_batches(url, m, ds, batch_n, tau, &c);
        }
    }
    free(frame);
    sf_proc_stop(&p, 5);
    return c;
}

/* ---- one live run ---- */

static void progress(void *ctx, const struct sf_load_stats *st)
{
    const struct run *r = ctx;
    sf_cli_progress("demo", isatty(2), 0, "live %-8s %5.1f s  %llu/%llu answered   ", r->policy,
                    st->elapsed_s, (unsigned long long)st->done, (unsigned long long)st->planned);
}

/* This run's bill from serve's /metrics (the server is fresh: its totals are this run's). */
static void read_bill(const char *url, struct run *r)
{
    char mu[256];
    snprintf(mu, sizeof(mu), "%s/metrics", url);
    long status = 0;
    char *text = NULL;
    size_t len = 0;
    struct sf_err err = {{0}};
    if (sf_http_request(NULL, mu, NULL, 0, NULL, 5, &status, &text, &len, NULL, &err) == SF_OK &&
        text) {
        sf_metrics_scrape(text, "serflow_bill_usd_total", "", &r->live_usd);
        sf_metrics_scrape(text, "serflow_bill_vm_usd_total", "", &r->live_vm_usd);
        sf_metrics_scrape(text, "serflow_bill_function_usd_total", "", &r->live_fn_usd);
        sf_metrics_scrape(text, "serflow_bill_function_invocations_total", "", &r->live_fn_calls);
        sf_metrics_scrape(text, "serflow_bill_function_gigabyte_seconds_total", "",
                          &r->live_fn_gb_s);
    }
    free(text);
}

static int live_run(const char *exe, struct run *r, const struct same *in,
                    const struct sf_load_cfg *base)
{
    char fd[8];
    snprintf(fd, sizeof(fd), "%d", SF_PROC_READY_FD);
    char *argv[] = {(char *)exe,
                    "serve",
                    "--port",
                    "0",
                    "--ready-fd",
                    fd,
                    "--policy",
                    (char *)r->policy,
                    "--model",
                    (char *)in->model_dir,
                    "--tau",
                    (char *)in->tau,
                    "--batching",
                    (char *)in->batching,
                    "--profile",
                    (char *)in->profile,
                    "--pricing",
                    (char *)in->pricing,
                    "--fn-cold-start-s",
                    (char *)in->cold_s,
                    "--margin-s",
                    (char *)in->margin_s,
                    "--traffic",
                    (char *)in->traffic,
                    "--fn-concurrency",
                    (char *)in->fn_conc,
                    "--log-level",
                    (char *)in->log_level,
                    NULL};
    struct sf_proc p;
    struct sf_err err = {{0}};
    if (sf_proc_spawn(&p, argv, NULL, NULL, &err) != SF_OK) {
        sf_cli_error("demo", "%s", err.msg);
        return -1;
    }
    double t0 = sf_monotonic_s();
    while (!sf_proc_poll_ready(&p) && !sf_proc_reap(&p) &&
           sf_monotonic_s() - t0 < DEMO_START_TIMEOUT_S)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    if (!p.ready) {
        sf_cli_error("demo", "serve (%s) did not start", r->policy);
        sf_proc_stop(&p, 5);
        return -1;
    }
    char url[200];
    snprintf(url, sizeof(url), "http://%s", p.endpoint);
    struct sf_load_cfg c = *base;
    c.url = url;
    c.progress_ctx = r;
    int rc = sf_load_run(&c, &r->live, &err);
    if (rc == SF_OK)
        read_bill(url, r);
    sf_proc_stop(&p, 20); /* SIGTERM: drain, stop the workers and the function runtime */
    if (rc != SF_OK)
        sf_cli_error("demo", "%s", err.msg);
    return rc == SF_OK ? 0 : -1;
}

/* ---- the prediction: the simulator on the same binding ---- */

static int predict(struct run *r, const struct sf_plan *plan, const struct sf_profile *prof,
                   const struct sf_pricing *pr, const struct sf_trace *tr,
                   const struct sf_sim_opts *so, double cold_allowed_s, struct sf_err *err)
{
    struct sf_bind_opts bo;
    sf_sim_bind_opts(so, &bo);
    bo.margin_s = DEMO_MARGIN_S;         /* the server's dispatch margin, in the prediction too */
    bo.fn_cold_start_s = cold_allowed_s; /* serve's --fn-cold-start-s */
    struct sf_binding b;
    int rc = sf_bind(&b, plan, prof, pr, sf_policy_find(r->policy), &bo, err);
    if (rc != SF_OK)
        return rc;
    sf_path_describe(&b.path, pr, prof->n_stages, r->path, sizeof(r->path));
    rc = sf_sim_run(prof, pr, tr, so, &b, 1, &r->sim, err);
    sf_binding_fini(&b);
    return rc;
}

/* ---- output ---- */

static double per_hour(double usd, double seconds)
{
    return seconds > 0 ? usd * 3600 / seconds : 0;
}

static void print_table(const struct run *runs, int n, double trace_s, double slo_s, int live)
{
    printf("\n%-8s %-30s %9s %9s %6s %13s %8s\n", "policy", "path", "live $/h", "sim $/h", "diff",
           "VM/fn answers", "SLO req");
    for (int i = 0; i < n; i++) {
        const struct run *r = &runs[i];
        if (!r->ok) {
            printf("%-8s (failed)\n", r->policy);
            continue;
        }
        if (!live) { /* the prediction alone: its SLO attainment */
            double sr = r->sim.requests ? (double)r->sim.requests : 1;
            printf("%-8s %-30.30s %9s %9.4f %6s %13s %7.2f%%\n", r->policy, r->path, "-",
                   per_hour(r->sim.cost_usd, trace_s), "-", "-",
                   100.0 * (double)r->sim.requests_slo_ok / sr);
            continue;
        }
        double planned = r->live.planned ? (double)r->live.planned : 1;
        double diff = r->sim.cost_usd > 0 ? 100 * (r->live_usd / r->sim.cost_usd - 1) : 0;
        char split[32];
        snprintf(split, sizeof(split), "%.0f%% / %.0f%%",
                 100.0 * (double)(r->live.where_vm + r->live.where_hybrid) / planned,
                 100.0 * (double)r->live.where_function / planned);
        printf("%-8s %-30.30s %9.4f %9.4f %+5.1f%% %13s %7.2f%%\n", r->policy, r->path,
               per_hour(r->live_usd, trace_s), per_hour(r->sim.cost_usd, trace_s), diff, split,
               100.0 * (double)r->live.slo_ok / planned);
    }
    printf("\n$/h: cost over the replay's %.0f s, per hour at the trace's rate. live: the bill of\n"
           "the running system (serve's meters); sim: `serflow replay` of the same trace on the\n"
           "same binding. VM/fn: answers a VM ran (in part) / functions ran. SLO req: answered\n"
           "within %g s of arrival%s.\n",
           trace_s, slo_s, live ? "" : " (predicted; --predict-only runs no server)");
}

/* The runs as JSON; rate_scale and tcip_rps: how the load was set (docs/serving.md). */
static int print_json(const struct run *runs, int n, double trace_s, int live, double speed,
                      double speed_2t, double speed_fn, double rate_scale, double tcip_rps)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const struct run *r = &runs[i];
        double planned = r->live.planned ? (double)r->live.planned : 1;
        json_t *p = json_pack(
            "{s:s,s:s,s:b,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:f,s:f,s:f}", "name", r->policy, "path",
            r->path, "ok", r->ok, "live_usd", r->live_usd, "sim_usd", r->sim.cost_usd,
            "live_usd_per_hour", per_hour(r->live_usd, trace_s), "sim_usd_per_hour",
            per_hour(r->sim.cost_usd, trace_s), "vm_answers",
            (json_int_t)(r->live.where_vm + r->live.where_hybrid), "function_answers",
            (json_int_t)r->live.where_function, "requests", (json_int_t)r->live.planned,
            "slo_request", (double)r->live.slo_ok / planned, "sim_slo_request",
            r->sim.requests ? (double)r->sim.requests_slo_ok / (double)r->sim.requests : 0,
            "accuracy", r->live.ok ? (double)r->live.correct / (double)r->live.ok : 0);
        /* where the money went, live and predicted */
        json_object_set_new(p, "live_vm_usd", json_real(r->live_vm_usd));
        json_object_set_new(p, "live_function_usd", json_real(r->live_fn_usd));
        json_object_set_new(p, "sim_vm_usd", json_real(r->sim.vm_cost_usd));
        json_object_set_new(p, "sim_function_usd", json_real(r->sim.function_cost_usd));
        json_object_set_new(p, "live_invocations", json_real(r->live_fn_calls));
        json_object_set_new(p, "live_function_gb_s", json_real(r->live_fn_gb_s));
        json_object_set_new(p, "sim_invocations", json_integer((json_int_t)r->sim.invocations));
        json_object_set_new(p, "sim_function_gb_s", json_real(r->sim.function_gb_s));
        if (!live) /* no server ran: nothing live to report */
            for (const char *const *k =
                     (const char *const[]){"live_usd", "live_usd_per_hour", "live_vm_usd",
                                           "live_function_usd", "live_invocations",
                                           "live_function_gb_s", "vm_answers", "function_answers",
                                           "requests", "slo_request", "accuracy", NULL};
                 *k; k++)
                json_object_set_new(p, *k, json_null());
        json_array_append_new(arr, p);
    }
    json_t *o =
        json_pack("{s:f,s:b,s:f,s:f,s:f,s:o}", "trace_s", trace_s, "live", live, "host_speed_ratio",
                  speed, "rate_scale", rate_scale, "tcip_rps", tcip_rps, "policies", arr);
    json_object_set_new(o, "host_speed_ratio_2t", speed_2t > 0 ? json_real(speed_2t) : json_null());
    json_object_set_new(o, "function_speed_ratio",
                        speed_fn > 0 ? json_real(speed_fn) : json_null());
    int code = sf_cli_print_json("demo", o);
    json_decref(o);
    return code;
}

static int offline_demo(void)
{
    char *plan_argv[] = {"plan", NULL};
    char *replay_argv[] = {"replay", "--tau", "0.7", NULL};
    printf("== serflow demo (offline) 1/2: plan on the bundled paper profile and AWS catalog\n\n");
    fflush(stdout);
    int rc = sf_cli_plan_command.run(1, plan_argv);
    if (rc != SF_EXIT_OK)
        return rc;
    printf("\n== serflow demo (offline) 2/2: replay of the first 400 WITS epochs at tau 0.7\n\n");
    fflush(stdout);
    return sf_cli_replay_command.run(3, replay_argv);
}

/* ---- the demo ---- */

struct demo {
    struct demo_args a;
    char model_dir[4096], exe[4096], prof_file[256];
    const char *prof_path, *trace_path;
    struct sf_profile prof;
    struct sf_pricing pr;
    struct sf_nn_model *m;
    struct sf_nn_dataset ds;
    struct sf_trace tr;
    double *arr, *rates;
    size_t n_req, n_rates;
    struct sf_plan plan;
    double tau;
    struct sf_sim_opts so;
    double cold_s, cold_allowed_s; /* measured; allowed for in the SLO */
    double host_speed;    /* this machine's model time over the profile's, 1 thread (1: same) */
    double host_speed_2t; /* the same with 2 threads (runtimes of 2+ threads); 0: not measured */
    double fn_speed;      /* a function's billed time over the scaled profile's, calls of a batch */
    double tcip_rps;      /* the IaaS pool's T-CIP the default load is set from; 0: not used */
    struct same same;
    struct run runs[DEMO_RUNS];
};

/* The scaled trace as a traffic file: serve plans its path against it (--traffic), as the
 * prediction does, so both see what the run will bring. */
static int write_traffic(struct demo *d, struct sf_err *err)
{
    snprintf(d->same.traffic, sizeof(d->same.traffic), "/tmp/serflow-demo-traffic-XXXXXX");
    int fd = mkstemp(d->same.traffic);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        else
            d->same.traffic[0] = '\0';
        return sf_err_set(err, SF_EIO, "cannot create the demo's traffic file");
    }
    int bad = 0;
    for (int64_t e = 0; e < d->tr.n_epochs; e++)
        bad |= fprintf(f, "%u\n", d->tr.count[e]) < 0;
    bad |= fclose(f) != 0;
    d->n_rates = (size_t)d->tr.n_epochs;
    d->rates = malloc(sizeof(double) * (d->n_rates ? d->n_rates : 1));
    if (!d->rates)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    for (size_t e = 0; e < d->n_rates; e++)
        d->rates[e] = d->tr.count[e] / d->prof.slo_s; /* as serve reads it */
    return bad ? sf_err_set(err, SF_EIO, "%s: cannot write", d->same.traffic) : SF_OK;
}

/* The profile (with the demo's SLO), the model and its test images, the scaled catalog, the
 * trace (its counts scaled by demo_scale_trace). */
static int demo_load(struct demo *d, struct sf_err *err)
{
    struct demo_args *a = &d->a;
    snprintf(d->model_dir, sizeof(d->model_dir), "%s", a->model ? a->model : "");
    if (!a->model)
        snprintf(d->model_dir, sizeof(d->model_dir), "%s/models/vgg16-sdn", SF_SOURCE_DIR);
    d->trace_path = a->trace ? a->trace : sf_cli_bundled("traces/wits_libra_per_second.txt");
    int rc = sf_proc_self_exe(d->exe, sizeof(d->exe), err);
    if (rc == SF_OK)
        rc = sf_nn_model_load(d->model_dir, &d->m, err);
    if (rc != SF_OK)
        return rc;
    /* the model's own profile, measured here and bundled */
    snprintf(d->prof_file, sizeof(d->prof_file), "profiles/%s-local.json", sf_nn_model_name(d->m));
    d->prof_path = a->profile ? a->profile : sf_cli_bundled(d->prof_file);
    if ((rc = sf_profile_load(&d->prof, d->prof_path, err)) != SF_OK)
        return rc;
    if (strcmp(d->prof.model, sf_nn_model_name(d->m)) != 0)
        return sf_err_set(err, SF_EINVAL, "%s: a profile of '%s', but the model is '%s'",
                          d->prof_path, d->prof.model, sf_nn_model_name(d->m));
    d->prof.slo_s = a->slo_s;
    /* until the calibration measures it, the cold start the SLO can allow for (as below) */
    d->prof.fn_cold_start_s = fmin(d->prof.fn_cold_start_s, DEMO_COLD_SLO_SHARE * a->slo_s);
    if (a->time_scale <= 0)
        a->time_scale =
            DEMO_PAPER_EPOCH_S / d->prof.slo_s > 1 ? DEMO_PAPER_EPOCH_S / d->prof.slo_s : 1;
    /* functions of at most the cores over the containers run at once: a container of more
     * vCPUs than it gets under load is billed for them and runs slower than profiled (3,538 MB
     * functions, two threads, ran 10-13 % slower than predicted beside the load generator and
     * the ingress on a 2-core host; one-thread ones within 2 %) */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int fn_vcpus = cores >= demo_fn_concurrency() ? (int)cores / demo_fn_concurrency() : 1;
    if ((rc = scaled_catalog(sf_cli_bundled("pricing/local.json"), a->time_scale, fn_vcpus,
                             d->same.pricing, sizeof(d->same.pricing), err)) != SF_OK ||
        (rc = sf_pricing_load(&d->pr, d->same.pricing, err)) != SF_OK ||
        (rc = sf_nn_dataset_load_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                     "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                     sf_nn_model_norm_mean(d->m), sf_nn_model_norm_std(d->m), 0,
                                     &d->ds, err)) != SF_OK ||
        (rc = sf_nn_dataset_fit(&d->ds, d->m, err)) != SF_OK ||
        (rc = sf_nn_dataset_check(&d->ds, d->m, "the Fashion-MNIST test set", err)) != SF_OK ||
        (rc = sf_trace_load(&d->tr, d->trace_path, 0, SF_TRACE_EPOCH, d->prof.slo_s, a->epochs,
                            err)) != SF_OK)
        return rc;
    return SF_OK;
}

/* The IaaS pool's T-CIP at the demo's tau (the plan's choice with --tau -1) on the calibrated
 * profile and the demo's prices, without traffic; 0 when there is none or it is not finite. */
static double demo_tcip_rps(const struct demo *d)
{
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    po.batching = d->a.batching ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
    po.min_accuracy = d->a.min_accuracy;
    po.tau = d->a.tau;
    struct sf_plan p;
    struct sf_err err = {{0}};
    double tcip = 0;
    if (sf_plan_run(&p, &d->prof, &d->pr, &po, &err) == SF_OK && p.found)
        for (size_t t = 0; t < p.n_tau; t++)
            if (p.per_tau_found[t][SF_POOL_IAAS] &&
                fabs(p.per_tau[t][SF_POOL_IAAS].tau - p.best.tau) < 1e-9) {
                double r = p.per_tau[t][SF_POOL_IAAS].tcip_rps;
                tcip = isfinite(r) && r > 0 ? r : 0;
            }
    sf_plan_fini(&p);
    return tcip;
}

/* The trace's counts scaled (the same for the load and the simulator), its arrivals and its
 * traffic file; after the calibration, which sets the default scale from this machine's speed. */
static int demo_scale_trace(struct demo *d, struct sf_err *err)
{
    struct demo_args *a = &d->a;
    if (a->rate_scale <= 0) {
        double tcip = d->tcip_rps = demo_tcip_rps(d), n = 0;
        for (int64_t e = 0; e < d->tr.n_epochs; e++)
            n += d->tr.count[e];
        double mean_rps = d->tr.n_epochs > 0 ? n / ((double)d->tr.n_epochs * d->prof.slo_s) : 0;
        a->rate_scale = tcip > 0 && mean_rps > 0
                            ? DEMO_TCIP_LOAD * tcip / mean_rps
                            : DEMO_RATE_SCALE / (d->host_speed > 0 ? d->host_speed : 1);
    }
    d->tr.n_requests = 0;
    for (int64_t e = 0; e < d->tr.n_epochs; e++) {
        d->tr.count[e] = (uint32_t)llround(d->tr.count[e] * a->rate_scale);
        d->tr.unit_count[e] = d->tr.count[e];
        d->tr.n_requests += d->tr.count[e];
    }
    d->arr = sf_load_arrivals(&d->tr, 1, &d->n_req);
    if (!d->arr)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    return write_traffic(d, err);
}

/* The profile's time for one batch whose requests left at exits[] (1-based stages) on its
 * `threads`-thread VM line (local-Nt: what a worker of N threads and a function of N x 1,769 MB
 * run). -1: no such line. */
static double profile_batch_s(const struct sf_profile *p, int threads,
                              const struct sf_nn_result *res, size_t n)
{
    char name[SF_NAME_MAX];
    snprintf(name, sizeof(name), "local-%dt", threads);
    const struct sf_runtime *rt = NULL;
    for (size_t i = 0; i < p->n_rt && !rt; i++)
        if (p->rt[i].kind == SF_RT_VM && !strcmp(p->rt[i].name, name))
            rt = &p->rt[i];
    if (!rt)
        return -1;
    double t = 0;
    for (int k = 0; k < p->n_stages; k++) {
        size_t alive = 0; /* requests that ran stage k + 1 */
        for (size_t j = 0; j < n; j++)
            alive += res[j].exit_stage >= k + 1;
        t += alive ? (double)alive * rt->per_request_s[k] + rt->per_batch_s[k] : 0;
    }
    return t;
}

/* Threads a runtime line of the profile runs on: a VM type's vCPUs, a function's memory over
 * the MB per vCPU (rounded up); at least 1. */
static int runtime_threads(const struct sf_runtime *rt, const struct sf_pricing *pr)
{
    int t = 1;
    if (rt->kind == SF_RT_FUNCTION && pr->fn_mb_per_vcpu > 0)
        t = (rt->mem_mb + pr->fn_mb_per_vcpu - 1) / pr->fn_mb_per_vcpu;
    for (size_t i = 0; rt->kind == SF_RT_VM && i < pr->n_vm; i++)
        if (!strcmp(pr->vm[i].name, rt->name))
            t = pr->vm[i].vcpus;
    return t < 1 ? 1 : t;
}

/* The bundled profile was measured on one machine; this one may run the model faster or slower
 * (VGG16-SDN's profile came from a host that ran it about twice as fast as the next one did).
 * Times batches of the test images at tau through a runner of `threads` threads, as a function
 * or a worker of that many runs them, for up to budget_s, against the profile's local-Nt time
 * for the same batches and exits: the median ratio; 0 when nothing could be timed (err says why
 * when a call failed). */
static double host_speed(const struct demo *d, double tau, int threads, double budget_s,
                         struct sf_err *err)
{
    struct sf_nn_opts o = {.threads = threads};
    struct sf_nn_runner *r = NULL;
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    size_t max_b = DEMO_SPEED_BATCHES[0], numel = (size_t)d->ds.h * (size_t)d->ds.w;
    struct sf_nn_result *res = malloc(max_b * sizeof(*res));
    double ratio[DEMO_SPEED_RUNS], t_end = sf_monotonic_s() + budget_s;
    int n = 0, ns = sf_nn_model_num_stages(d->m);
    int rc = !res              ? sf_err_set(err, SF_ENOMEM, "out of memory")
             : d->ds.n < max_b ? sf_err_set(err, SF_EINVAL, "fewer than %zu test images", max_b)
                               : SF_OK;
    if (rc == SF_OK)
        rc = sf_nn_runner_new_opts(d->m, SF_NN_BACKEND_DNNL, &o, &r, err);
    if (rc == SF_OK)
        rc = sf_nn_runner_warm(r, err);
    size_t at = 0;
    /* run -1 is untimed: the first call of each size meets cold caches; run 0 is timed however
     * long that took */
    for (int run = -1;
         rc == SF_OK && run < DEMO_SPEED_RUNS && (run < 1 || sf_monotonic_s() < t_end); run++) {
        size_t nb = DEMO_SPEED_BATCHES[(size_t)(run + 1) % (sizeof(DEMO_SPEED_BATCHES) /
                                                            sizeof(DEMO_SPEED_BATCHES[0]))];
        if (at + nb > d->ds.n)
            at = 0;
        size_t n_out = 0;
        double t0 = sf_monotonic_s();
        rc = sf_nn_batch_set_input(&b, d->m, d->ds.x + at * numel, NULL, nb, err);
        if (rc == SF_OK)
            rc = sf_nn_runner_run(r, &b, ns, tau, res, &n_out, err);
        double took = sf_monotonic_s() - t0, want = profile_batch_s(&d->prof, threads, res, n_out);
        at += nb;
        if (rc == SF_OK && run >= 0 && want > 0 && n_out == nb)
            ratio[n++] = took / want;
    }
    sf_nn_runner_free(r);
    sf_nn_batch_fini(&b);
    free(res);
    if (rc == SF_OK && n == 0 && profile_batch_s(&d->prof, threads, NULL, 0) < 0)
        sf_err_set(err, SF_ENOTFOUND, "the profile has no local-%dt line", threads);
    if (rc != SF_OK || n == 0)
        return 0;
    qsort(ratio, (size_t)n, sizeof(double), sf_cmp_double);
    return ratio[n / 2];
}

/* Every stage time of a runtime line times x. */
static void scale_runtime(struct sf_runtime *rt, int n_stages, double x)
{
    for (int k = 0; k < n_stages; k++) {
        rt->per_request_s[k] *= x;
        rt->per_batch_s[k] *= x;
    }
}

/* A function's speed as billed: the median over the warm batch calls of what each billed over
 * its model time on the function line (rq, rb: already scaled to this machine) plus the per-call
 * overhead; its count in *n. 0 when no call was timed. */
static double billed_speed(const struct fn_costs *fc, int n_stages, const double *rq,
                           const double *rb, double overhead, int *n)
{
    double ratio[DEMO_BATCH_CALLS];
    *n = 0;
    for (int i = 0; i < fc->n_batch; i++) {
        double want = overhead;
        for (int k = 0; k < n_stages; k++)
            want += fc->batch[i].alive[k] > 0 ? fc->batch[i].alive[k] * rq[k] + rb[k] : 0;
        if (want > 0)
            ratio[(*n)++] = fc->batch[i].billed_s / want;
    }
    if (*n == 0)
        return 0;
    qsort(ratio, (size_t)*n, sizeof(double), sf_cmp_double);
    return ratio[*n / 2];
}

/* Measures a function call here (cold start, per-call overhead beyond the model) and writes the
 * profile serve reads: the measured one with that overhead added once per call. */
static int demo_calibrate(struct demo *d, struct sf_err *err)
{
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    struct sf_plan probe;
    int rc = sf_plan_run(&probe, &d->prof, &d->pr, &po, err);
    int mem = rc == SF_OK ? probe.best.fn_mem_mb : 0;
    sf_plan_fini(&probe);
    if (rc != SF_OK)
        return rc;
    /* this machine's speed first: the per-call overhead below is what is left beyond it */
    struct sf_err serr = {{0}};
    double tau = d->a.tau >= 0 ? d->a.tau : DEMO_TAU;
    d->host_speed = host_speed(d, tau, 1, d->a.calibrate_s / 2, &serr);
    if (d->host_speed <= 0) { /* the prediction still runs, on the profile's own times */
        sf_cli_note("demo",
                    "could not time the model here (%s): the profile's times are used "
                    "as measured on its own host",
                    serr.msg[0] ? serr.msg : "no batch ran as the profile predicts");
        d->host_speed = 1;
    }
    /* a runtime of more threads scales by its own ratio: how well the model's layers split over
     * this machine's cores is not the profiling host's (VGG16-SDN: 2 threads 2.09x faster than
     * 1 in the profile, ~1.9x on the next host) */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    d->host_speed_2t = cores >= 2 && profile_batch_s(&d->prof, 2, NULL, 0) >= 0
                           ? host_speed(d, tau, 2, d->a.calibrate_s / 2, &serr)
                           : 0;
    for (size_t i = 0; i < d->prof.n_rt; i++)
        scale_runtime(&d->prof.rt[i], d->prof.n_stages,
                      runtime_threads(&d->prof.rt[i], &d->pr) >= 2 && d->host_speed_2t > 0
                          ? d->host_speed_2t
                          : d->host_speed);
    size_t batch_n = (size_t)d->prof.batch_size < d->ds.n ? (size_t)d->prof.batch_size : d->ds.n;
    struct fn_costs fc = measure_function(d->exe, d->model_dir, sf_nn_model_name(d->m), d->m,
                                          &d->ds, batch_n, tau, mem, demo_fn_concurrency());
    /* the one-image calls run at tau 0: the image leaves after stage 1, so the model's share of
     * a call is stage 1's time and the rest is the call's own */
    double rq[SF_MAX_STAGES], rb[SF_MAX_STAGES], one = 0;
    int have = sf_fn_runtime_at(&d->prof, &d->pr, d->pr.fn_arch[0].name, mem, rq, rb) == SF_OK;
    if (have)
        one = rq[0] + rb[0];
    double overhead = fc.warm_call_s > one ? fc.warm_call_s - one : 0;
    int nr = 0;
    d->fn_speed = have ? billed_speed(&fc, d->prof.n_stages, rq, rb, overhead, &nr) : 0;
    for (size_t i = 0; i < d->prof.n_rt; i++)
        if (d->prof.rt[i].kind == SF_RT_FUNCTION) {
            scale_runtime(&d->prof.rt[i], d->prof.n_stages, d->fn_speed > 0 ? d->fn_speed : 1);
            d->prof.rt[i].per_batch_s[0] += overhead; /* once per call, whatever its size */
        }
    double cold = fc.cold_s > 0 ? fc.cold_s : d->prof.fn_cold_start_s;
    /* the simulator's containers start as slowly as the real ones (and bill it); the batcher and
     * the planner allow for at most a share of the SLO: a longer cold start cannot fit in it,
     * and a request that meets a cold function then misses the SLO, live as predicted */
    d->cold_s = cold;
    d->cold_allowed_s = fmin(cold, DEMO_COLD_SLO_SHARE * d->prof.slo_s);
    d->prof.fn_cold_start_s = d->cold_allowed_s;
    snprintf(d->same.profile, sizeof(d->same.profile), "/tmp/serflow-demo-profile-XXXXXX");
    int fd = mkstemp(d->same.profile);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd < 0)
        d->same.profile[0] = '\0';
    rc = f ? sf_profile_write(&d->prof, NULL, f, err) : SF_EIO;
    if (f && fclose(f) != 0 && rc == SF_OK)
        rc = SF_EIO;
    else if (!f && fd >= 0)
        close(fd);
    if (rc != SF_OK)
        return err->msg[0] ? rc : sf_err_set(err, rc, "cannot write the demo's profile");
    snprintf(d->same.cold_s, sizeof(d->same.cold_s), "%.17g", d->cold_allowed_s);
    snprintf(d->same.margin_s, sizeof(d->same.margin_s), "%.17g", DEMO_MARGIN_S);
    if (!d->a.json && d->host_speed_2t > 0)
        printf("measured  the model takes %.2fx the profile's times here on one thread, %.2fx on "
               "two (test images):\n          every stage time of a runtime with that many "
               "threads scaled by it\n",
               d->host_speed, d->host_speed_2t);
    else if (!d->a.json)
        printf("measured  the model takes %.2fx the profile's times here (test images, one "
               "thread):\n          every stage time scaled by it\n",
               d->host_speed);
    if (!d->a.json)
        printf("measured  a function's cold start here %.3f s (%d container%s started at once, "
               "as the\n          demo's first batches start them; the SLO allows for %.3f s)\n"
               "measured  a warm one-image call billed %.1f ms (the model needs %.1f ms): %.1f ms "
               "of overhead\n          per call, in the prediction too\n",
               cold, demo_fn_concurrency(), demo_fn_concurrency() == 1 ? "" : "s",
               d->cold_allowed_s, 1e3 * fc.warm_call_s, 1e3 * one, 1e3 * overhead);
    if (!d->a.json && d->fn_speed > 0)
        printf("measured  calls of %zu test images at tau %.2f billed %.2fx the model's time with "
               "it\n          (median of %d): the functions' times scaled by that\n",
               batch_n, tau, d->fn_speed, nr);
    else if (!d->a.json)
        printf("measured  no call of %zu test images at tau %.2f answered: the functions' times "
               "are\n          the calibrated model's\n",
               batch_n, tau);
    return SF_OK;
}

/* The plan on the demo's inputs, its tau, and the simulator's settings of the prediction. */
static int demo_plan(struct demo *d, struct sf_err *err)
{
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    po.batching = d->a.batching ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
    po.min_accuracy = d->a.min_accuracy;
    po.traffic_rps = d->rates;
    po.n_traffic = d->n_rates;
    int rc = sf_plan_run(&d->plan, &d->prof, &d->pr, &po, err);
    if (rc != SF_OK)
        return rc;
    d->tau = d->a.tau >= 0 ? d->a.tau : d->plan.best.tau;
    snprintf(d->same.tau, sizeof(d->same.tau), "%.17g", d->tau);
    d->same.batching = sf_cli_batching_words[d->a.batching];
    d->same.model_dir = d->model_dir;
    d->same.log_level = sf_log_level_words[d->a.log_level];
    sf_sim_opts_default(&d->so);
    d->so.tau = d->tau;
    d->so.ctl.epoch_s = d->prof.slo_s;
    d->so.ctl.batch_size = d->prof.batch_size;
    d->so.ctl.capacity_rps = d->prof.batch_size / d->prof.slo_s;
    d->so.batching = po.batching;
    d->so.fn_cold_start_s = d->cold_s;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    d->so.fn_concurrency = demo_fn_concurrency();
    snprintf(d->same.fn_conc, sizeof(d->same.fn_conc), "%d", d->so.fn_concurrency);
    /* the workers and the function instances share this machine's cores, in the prediction too */
    d->so.host_cores = cores >= 1 ? (double)cores : 1;
    return SF_OK;
}

static void demo_header(const struct demo *d)
{
    if (d->a.json)
        return;
    printf("== serflow demo: the live system beside the simulator's prediction\n\n");
    printf("model     %s (%d stages), profile %s\n", d->prof.model, d->prof.n_stages, d->prof_path);
    printf("trace     %lld epochs of %g s x %.2f: %zu requests (mean %.0f req/s), %s batching\n",
           (long long)d->tr.n_epochs, d->prof.slo_s, d->a.rate_scale, d->n_req,
           d->n_req / (d->tr.n_epochs * d->prof.slo_s), d->same.batching);
    if (d->tcip_rps > 0)
        printf("          scaled to %g x the rate where a VM starts to pay for itself here\n"
               "          (the IaaS pool's traffic cost indifference point, T-CIP: %.0f req/s)\n",
               DEMO_TCIP_LOAD, d->tcip_rps);
    printf("prices    %s, VM billing %g x faster (per %.3g s, %.3g s minimum):\n          a demo "
           "epoch stands for the paper's %g s one; functions of at most %d MB\n",
           d->pr.provider, d->a.time_scale, d->pr.vm_billing_granularity_s,
           d->pr.vm_billing_minimum_s, DEMO_PAPER_EPOCH_S, d->pr.fn_mem_max_mb);
    printf("plan      tau %.2f, each policy's path planned against the trace (below)\n", d->tau);
    fflush(stdout);
}

static struct sf_load_cfg load_cfg(const struct demo *d)
{
    struct sf_load_cfg lc;
    memset(&lc, 0, sizeof(lc));
    const struct sf_nn_shape *shape = sf_nn_model_input_shape(d->m);
    lc.model_name = sf_nn_model_name(d->m);
    lc.arrival_s = d->arr;
    lc.n_requests = d->n_req;
    lc.time_scale = 1;
    lc.images = d->ds.x;
    lc.labels = d->ds.labels;
    lc.n_images = d->ds.n;
    lc.numel = sf_nn_shape_numel(shape);
    for (int k = 0; k < 3; k++)
        lc.dims[k] = k < shape->ndim ? shape->dims[k] : 1;
    lc.max_connections = 256;
    lc.slo_s = d->prof.slo_s;
    lc.timeout_s = 60;
    lc.progress = d->a.json ? NULL : progress;
    lc.progress_every_s = isatty(2) ? 0.5 : 10;
    lc.stop = &sf_cli_stop;
    return lc;
}

static void demo_fini(struct demo *d)
{
    if (d->same.profile[0])
        unlink(d->same.profile);
    if (d->same.pricing[0])
        unlink(d->same.pricing);
    if (d->same.traffic[0])
        unlink(d->same.traffic);
    free(d->rates);
    sf_plan_fini(&d->plan);
    for (int i = 0; i < DEMO_RUNS; i++)
        sf_sim_results_fini(&d->runs[i].sim, 1);
    free(d->arr);
    sf_trace_fini(&d->tr);
    sf_nn_dataset_fini(&d->ds);
    sf_nn_model_free(d->m);
}

static int demo_run(int argc, char **argv)
{
    struct demo *d = calloc(1, sizeof(*d));
    if (!d)
        return sf_cli_fail("demo", SF_ENOMEM, &(struct sf_err){{0}});
    demo_defaults(&d->a);
    int code;
    if (sf_cli_parse_or_exit(&demo_spec, argc, argv, demo_store, &d->a, &code)) {
        free(d);
        return code;
    }
    if (d->a.offline) {
        free(d);
        return offline_demo();
    }
    struct sf_err err = {{0}};
    int rc = sf_http_global_init(&err);
    if (rc == SF_OK)
        rc = demo_load(d, &err);
    if (rc == SF_OK)
        rc = demo_calibrate(d, &err);
    if (rc == SF_OK)
        rc = demo_scale_trace(d, &err);
    if (rc == SF_OK)
        rc = demo_plan(d, &err);
    code = rc == SF_OK ? SF_EXIT_OK : sf_cli_fail("demo", rc, &err);
    if (rc == SF_OK) {
        demo_header(d);
        sf_cli_install_stop();
        static const char *const policies[DEMO_RUNS] = {"faas", "libra", "serflow"};
        struct sf_load_cfg lc = load_cfg(d);
        for (int i = 0; i < DEMO_RUNS && !sf_cli_stop; i++) {
            struct run *r = &d->runs[i];
            r->policy = policies[i];
            r->ok = d->a.predict_only || live_run(d->exe, r, &d->same, &lc) == 0;
            if (isatty(2) && !d->a.json && !d->a.predict_only)
                fputc('\n', stderr);
            if (predict(r, &d->plan, &d->prof, &d->pr, &d->tr, &d->so, d->cold_allowed_s, &err) !=
                SF_OK) {
                sf_cli_error("demo", "%s: %s", r->policy, err.msg);
                r->ok = 0;
            }
            code = r->ok ? code : SF_EXIT_FAIL;
        }
        double trace_s = (double)d->tr.n_epochs * d->prof.slo_s;
        if (d->a.json) {
            int jc = print_json(d->runs, DEMO_RUNS, trace_s, !d->a.predict_only, d->host_speed,
                                d->host_speed_2t, d->fn_speed, d->a.rate_scale, d->tcip_rps);
            code = code == SF_EXIT_OK ? jc : code;
        } else {
            print_table(d->runs, DEMO_RUNS, trace_s, d->prof.slo_s, !d->a.predict_only);
        }
    }
    demo_fini(d);
    free(d);
    return code;
}

const struct sf_cli_command sf_cli_demo_command = {&demo_spec, demo_check, demo_run};
