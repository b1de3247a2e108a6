/* cmd_demo.c - `serflow demo` (what `make demo` runs): the live system against its own
 * prediction. On the bundled model with its measured profile and the local price catalog it
 * plans, then for faas, libra and serflow (and a forced hybrid when the plan is not hybrid, so
 * that every path runs) starts `serflow serve`, replays the first WITS epochs through it with
 * real Fashion-MNIST images (`serflow load`'s engine), reads the bill from /metrics, stops the
 * server, and replays the same trace, profile, prices, policy and batching in the simulator.
 * One table: live cost, request-level SLO attainment and accuracy beside the prediction. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "serflow/cloud.h"
#include "serflow/nn_profile.h"
#include "serflow/wire.h"
#include "serflow/metrics.h"
#include "serflow/http.h"
#include "serflow/load.h"
#include "serflow/trace.h"
#include "serflow/sim.h"
#include "serve_cli.h"

enum { D_EPOCHS = 1, D_RATE, D_BATCHING, D_OFFLINE };

static const struct sf_opt demo_opts[] = {
    SF_SO_INT(D_EPOCHS, "epochs", "N",
              "WITS epochs replayed per policy (300 = 30 s at the 0.1 s SLO)", 10, 100000),
    SF_SO_NUM(D_RATE, "rate-scale", "F", "multiply the trace's counts (0.25: about 520 req/s)",
              0.001, 10),
    SF_CLI_OPT_BATCHING(D_BATCHING),
    SF_SO_FLAG(D_OFFLINE, "offline",
               "the earlier demo instead: plan + replay of the paper profile"),
    {0}};

static const struct sf_opt_cmd demo_spec = {
    .name = "demo",
    .summary = "the live demo (what `make demo` runs): serve a WITS replay for faas, libra\n"
               "and serflow beside the simulator's prediction (--offline: plan + replay)",
    .synopsis = "[options]",
    .about =
        "Plans the bundled model (measured profile, local prices), then serves a\n"
        "time-compressed WITS replay through `serflow serve` for faas, libra and serflow (plus\n"
        "a forced hybrid when the plan is not hybrid) and prints live cost, request-level SLO\n"
        "attainment and accuracy per policy beside the simulator's prediction for the same\n"
        "setting (docs/serving.md).\n",
    .opts = demo_opts};

struct demo_args {
    int epochs, offline;
    double rate_scale;
    int batching; /* 0 deadline, 1 epoch (sf_cli_batching_words) */
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
    case D_OFFLINE:
        a->offline = 1;
        break;
    }
    return SF_OK;
}

static void demo_defaults(struct demo_args *a)
{
    a->epochs = 300;
    a->rate_scale = 0.25;
    a->batching = 0;
    a->offline = 0;
}

static int demo_check(int argc, char **argv, struct sf_err *err)
{
    struct demo_args a;
    demo_defaults(&a);
    int rc = sf_cli_parse(&demo_spec, argc, argv, demo_store, &a, err);
    return rc == 1 ? SF_OK : rc;
}

#define DEMO_MAX_RUNS 4
/* The batcher's margin for dispatch jitter, told to serve and used by the prediction alike. */
#define DEMO_MARGIN_S 0.005
/* A serve that has not said "ready" in this long did not start. */
#define DEMO_START_TIMEOUT_S 30.0

struct run {
    const char *label;  /* table row */
    const char *policy; /* serve --policy and the simulator's kind */
    char pool[16];      /* forced path: --pool; "" = the policy's own */
    int cut;
    int tcip_zero; /* forced hybrid: T-CIP 0 so that one instance serves at any rate */
    char vm[64];   /* forced path: the VM type the prediction uses too */
    struct sf_load_stats live;
    double live_usd, live_vm_usd, live_fn_usd, live_vm_s;
    struct sf_policy_result sim;
    int ok;
};

static double scrape(const char *text, const char *name, const char *labels)
{
    double v = 0;
    sf_metrics_scrape(text, name, labels, &v);
    return v;
}

/* What serve is told so that it binds exactly what the prediction binds (bind.h): the profile the
 * prediction uses (with the measured per-call overhead), the measured function cold start as the
 * batcher's allowance, the batcher's margin. */
struct same_inputs {
    const char *profile_path;
    char cold_s[32], margin_s[32];
};

static int live_run(const char *exe, struct run *r, double tau, const char *batching,
                    const struct same_inputs *in, const struct sf_load_cfg *base)
{
    char tau_s[32], fd[8], cut_s[16];
    snprintf(tau_s, sizeof(tau_s), "%.17g", tau);
    snprintf(fd, sizeof(fd), "%d", SF_PROC_READY_FD);
    snprintf(cut_s, sizeof(cut_s), "%d", r->cut);
    char *argv[40] = {(char *)exe,
                      "serve",
                      "--port",
                      "0",
                      "--ready-fd",
                      fd,
                      "--policy",
                      (char *)r->policy,
                      "--tau",
                      tau_s,
                      "--batching",
                      (char *)batching,
                      "--profile",
                      (char *)in->profile_path,
                      "--fn-cold-start-s",
                      (char *)in->cold_s,
                      "--margin-s",
                      (char *)in->margin_s};
    int a = 18;
    if (r->pool[0]) {
        argv[a++] = "--pool";
        argv[a++] = r->pool;
        argv[a++] = "--cut";
        argv[a++] = cut_s;
    }
    if (r->tcip_zero) {
        argv[a++] = "--tcip";
        argv[a++] = "0";
    }
    if (r->vm[0]) {
        argv[a++] = "--vm";
        argv[a++] = r->vm;
    }
    argv[a] = NULL;
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
        sf_cli_note("demo", "serve (%s) did not start", r->label);
        sf_proc_stop(&p, 5);
        return -1;
    }
    char url[200];
    snprintf(url, sizeof(url), "http://%s", p.endpoint);
    struct sf_load_cfg c = *base;
    c.url = url;
    int rc = sf_load_run(&c, &r->live, &err);
    if (rc == SF_OK) {
        char mu[256];
        snprintf(mu, sizeof(mu), "%s/metrics", url);
        long status = 0;
        char *text = NULL;
        size_t len = 0;
        if (sf_http_request(NULL, mu, NULL, 0, NULL, 5, &status, &text, &len, NULL, &err) ==
                SF_OK &&
            text) {
            r->live_usd = scrape(text, "serflow_bill_usd_total", "");
            r->live_vm_usd = scrape(text, "serflow_bill_vm_usd_total", "");
            r->live_fn_usd = scrape(text, "serflow_bill_function_usd_total", "");
            for (const char *q = text; (q = strstr(q, "\nserflow_bill_vm_seconds_total{"));) {
                const char *sp = strchr(q + 1, ' ');
                if (!sp)
                    break;
                r->live_vm_s += strtod(sp + 1, NULL);
                q = sp;
            }
        }
        free(text);
    }
    sf_proc_stop(&p, 20); /* SIGTERM: drain, stop the workers and the function runtime */
    if (rc != SF_OK)
        sf_cli_error("demo", "%s", err.msg);
    return rc == SF_OK ? 0 : -1;
}

/* What one function call costs here beyond the model, measured with a throwaway `serflow lambda`
 * at mem_mb: the cold start (process start, model load, first batch) and the billed time of a
 * warm one-image call (the event's delivery, decoding, the reply), as the median over
 * DEMO_WARM_CALLS calls. 0 when a figure could not be measured. The profile has neither: it times
 * the bare runtime, so the prediction adds both. */
#define DEMO_WARM_CALLS 25
struct fn_costs {
    double cold_s, warm_call_s;
};

static int invoke_once(const char *url, const void *frame, size_t len)
{
    long status = 0;
    char *resp = NULL;
    struct sf_err err = {{0}};
    int ok = sf_http_request(NULL, url, frame, len, NULL, 30, &status, &resp, NULL, NULL, &err) ==
                 SF_OK &&
             status == 200;
    free(resp);
    return ok;
}

static double scrape_url(const char *endpoint, const char *name)
{
    char url[320];
    snprintf(url, sizeof(url), "http://%s/metrics", endpoint);
    long status = 0;
    char *resp = NULL;
    double v = 0;
    struct sf_err err = {{0}};
    if (sf_http_request(NULL, url, NULL, 0, NULL, 5, &status, &resp, NULL, NULL, &err) == SF_OK &&
        resp)
        v = scrape(resp, name, "");
    free(resp);
    return v;
}

static struct fn_costs measure_function(const char *exe, const char *model_dir, const char *name,
                                        const struct sf_nn_model *m, const float *x, int mem_mb)
{
    struct fn_costs c = {0, 0};
    char fd[8], mem[16];
    snprintf(fd, sizeof(fd), "%d", SF_PROC_READY_FD);
    snprintf(mem, sizeof(mem), "%d", mem_mb);
    char *argv[] = {(char *)exe,     "lambda",     "--model",     (char *)model_dir,
                    "--function",    (char *)name, "--port",      "0",
                    "--ready-fd",    fd,           "--memory-mb", mem,
                    "--concurrency", "1",          NULL};
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
    if (p.ready && sf_frame_input_encode(&id, x, 1, sf_nn_model_input_shape(m), 0.5, &frame, &len,
                                         &err) == SF_OK) {
        char url[320];
        snprintf(url, sizeof(url), "http://%s/2015-03-31/functions/%s/invocations", p.endpoint,
                 name);
        if (invoke_once(url, frame, len)) {
            c.cold_s = scrape_url(p.endpoint, "serflow_function_init_seconds_total");
            /* warm calls one at a time: the billed GB-s of each, back to seconds */
            double calls[DEMO_WARM_CALLS];
            int n = 0;
            double g0 = scrape_url(p.endpoint, "serflow_function_gigabyte_seconds_total");
            for (int i = 0; i < DEMO_WARM_CALLS && invoke_once(url, frame, len); i++) {
                double g1 = scrape_url(p.endpoint, "serflow_function_gigabyte_seconds_total");
                calls[n++] = (g1 - g0) * 1024.0 / mem_mb;
                g0 = g1;
            }
            if (n > 0) {
                qsort(calls, (size_t)n, sizeof(double), sf_cmp_double);
                c.warm_call_s = calls[n / 2];
            }
        }
    }
    free(frame);
    sf_proc_stop(&p, 5);
    return c;
}

static void progress(void *ctx, const struct sf_load_stats *st)
{
    const struct run *r = ctx;
    sf_cli_progress("demo", isatty(2), 0, "live %-8s %5.1f s  %llu/%llu answered   ", r->label,
                    st->elapsed_s, (unsigned long long)st->done, (unsigned long long)st->planned);
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

static int demo_run(int argc, char **argv)
{
    struct demo_args da;
    demo_defaults(&da);
    int pcode;
    if (sf_cli_parse_or_exit(&demo_spec, argc, argv, demo_store, &da, &pcode))
        return pcode;
    if (da.offline)
        return offline_demo();
    int epochs = da.epochs;
    double rate_scale = da.rate_scale;
    const char *batching = sf_cli_batching_words[da.batching];
    static struct sf_profile prof;
    static struct sf_pricing pr;
    struct sf_err err = {{0}};
    char prof_path[4096], model_dir[4096], exe[4096];
    snprintf(prof_path, sizeof(prof_path), "%s", sf_cli_bundled("profiles/fmnist-ee-local.json"));
    snprintf(model_dir, sizeof(model_dir), "%s/models/fmnist-ee", SF_SOURCE_DIR);
    if (sf_profile_load(&prof, prof_path, &err) != SF_OK ||
        sf_pricing_load(&pr, sf_cli_bundled("pricing/local.json"), &err) != SF_OK ||
        sf_proc_self_exe(exe, sizeof(exe), &err) != SF_OK) {
        sf_cli_error("demo", "%s", err.msg);
        return SF_EXIT_FAIL;
    }
    struct sf_plan plan;
    struct sf_plan_opts po;
    sf_plan_opts_default(&po);
    if (sf_plan_run(&plan, &prof, &pr, &po, &err) != SF_OK) {
        sf_plan_fini(&plan);
        sf_cli_error("demo", "%s", err.msg);
        return SF_EXIT_FAIL;
    }
    double tau = plan.best.tau;
    struct sf_sim_opts so;
    sf_sim_opts_default(&so);
    so.tau = tau;
    so.ctl.epoch_s = prof.slo_s;
    so.ctl.batch_size = prof.batch_size;
    so.ctl.capacity_rps = prof.batch_size / prof.slo_s;
    so.batching = da.batching ? SF_BATCHING_EPOCH : SF_BATCHING_DEADLINE;
    struct sf_bind_opts bo;
    sf_sim_bind_opts(&so, &bo);
    struct sf_path faas_path, chosen_path;
    enum sf_pool pool;
    double planned;
    enum sf_reject rej;
    int rc = sf_bind_resolve(&plan, &pr, SF_POLICY_PATH_FAAS, &bo, &faas_path, &pool, &planned,
                             &rej, &err);
    if (rc == SF_OK)
        rc = sf_bind_resolve(&plan, &pr, SF_POLICY_PATH_PLAN, &bo, &chosen_path, &pool, &planned,
                             &rej, &err);
    /* the forced hybrid: the plan's cheapest hybrid at tau */
    size_t t = 0;
    while (t < plan.n_tau && fabs(plan.per_tau[t][0].tau - tau) > 1e-9)
        t++;
    int have_hybrid = t < plan.n_tau && plan.per_tau_found[t][SF_POOL_HYBRID];
    struct sf_path hybrid =
        have_hybrid ? sf_plan_path(&plan.per_tau[t][SF_POOL_HYBRID]) : faas_path;
    char chosen[96];
    sf_path_describe(&chosen_path, &pr, prof.n_stages, chosen, sizeof(chosen));
    printf("== serflow demo: the live system beside the simulator's prediction\n\n");
    printf("model    %s (%d stages) with its profile measured on this machine (%s)\n", prof.model,
           prof.n_stages, prof_path);
    printf("prices   %s (%s)\n", pr.provider, pr.region);
    printf("plan     pool {%s} at tau %.2f, %s; SLO %g s, batch %d, r = %.0f req/s\n",
           sf_pool_name(plan.best.pool), tau, chosen, prof.slo_s, prof.batch_size,
           plan.capacity_rps);
    if (rc != SF_OK) {
        sf_cli_error("demo", "%s", err.msg);
        sf_plan_fini(&plan);
        return SF_EXIT_FAIL;
    }
    struct run runs[DEMO_MAX_RUNS];
    memset(runs, 0, sizeof(runs));
    int nr = 0;
    runs[nr++] = (struct run){.label = "faas", .policy = "faas"};
    runs[nr++] = (struct run){.label = "libra", .policy = "libra"};
    runs[nr++] = (struct run){.label = "serflow", .policy = "serflow"};
    int plan_hybrid = chosen_path.has_instances && chosen_path.cut < prof.n_stages;
    if (!plan_hybrid && have_hybrid) {
        /* LIBRA's mechanics on the hybrid path with T-CIP 0: one instance at any rate below r */
        runs[nr] =
            (struct run){.label = "hybrid", .policy = "libra", .cut = hybrid.cut, .tcip_zero = 1};
        snprintf(runs[nr].pool, sizeof(runs[nr].pool), "hybrid");
        snprintf(runs[nr].vm, sizeof(runs[nr].vm), "%s", pr.vm[hybrid.vm].name);
        nr++;
    }
    /* the trace, scaled, and what the load sends */
    struct sf_trace tr;
    memset(&tr, 0, sizeof(tr));
    struct sf_nn_model *m = NULL;
    struct sf_nn_dataset ds;
    memset(&ds, 0, sizeof(ds));
    double *arr = NULL;
    int code = SF_EXIT_FAIL;
    char tmp_profile[64] = ""; /* the profile serve reads (mkstemp), removed at the end */
    if (sf_trace_load(&tr, sf_cli_bundled("traces/wits_libra_per_second.txt"), 0, SF_TRACE_EPOCH,
                      prof.slo_s, epochs, &err) != SF_OK ||
        sf_nn_model_load(model_dir, &m, &err) != SF_OK ||
        sf_nn_dataset_load_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                               "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                               sf_nn_model_norm_mean(m), sf_nn_model_norm_std(m), 0, &ds,
                               &err) != SF_OK) {
        sf_cli_error("demo", "%s", err.msg);
        goto out;
    }
    /* the same scaled counts for the simulator and the load */
    tr.n_requests = 0;
    for (int64_t e = 0; e < tr.n_epochs; e++) {
        tr.count[e] = (uint32_t)llround(tr.count[e] * rate_scale);
        tr.unit_count[e] = tr.count[e];
        tr.n_requests += tr.count[e];
    }
    size_t n_req = 0;
    arr = sf_load_arrivals(&tr, 1, &n_req);
    if (!arr || sf_http_global_init(&err) != SF_OK)
        goto out;
    printf("trace    first %lld WITS epochs x %.2f: %zu requests in %.0f s (mean %.0f req/s), %s "
           "batching\n",
           (long long)tr.n_epochs, rate_scale, n_req, tr.n_epochs * prof.slo_s,
           n_req / (tr.n_epochs * prof.slo_s), batching);
    fflush(stdout);
    sf_cli_install_stop();
    struct sf_load_cfg lc;
    memset(&lc, 0, sizeof(lc));
    const struct sf_nn_shape *shape = sf_nn_model_input_shape(m);
    lc.model_name = sf_nn_model_name(m);
    lc.arrival_s = arr;
    lc.n_requests = n_req;
    lc.time_scale = 1;
    lc.images = ds.x;
    lc.labels = ds.labels;
    lc.n_images = ds.n;
    lc.numel = sf_nn_shape_numel(shape);
    for (int d = 0; d < 3; d++)
        lc.dims[d] = d < shape->ndim ? shape->dims[d] : 1;
    lc.max_connections = 256;
    lc.slo_s = prof.slo_s;
    lc.timeout_s = 60;
    lc.progress = progress;
    lc.progress_every_s = isatty(2) ? 0.5 : 10;
    lc.stop = &sf_cli_stop;
    /* the prediction: the same trace, profile, prices, policies and batching */
    /* what a function call costs here beyond the model: the profile times the bare runtime */
    struct fn_costs fc =
        measure_function(exe, model_dir, sf_nn_model_name(m), m, ds.x, faas_path.fn_mem_mb);
    double rq[SF_MAX_STAGES], rb[SF_MAX_STAGES], one = 0;
    const struct sf_exit_row *row = sf_profile_exits(&prof, tau);
    double surv[SF_MAX_STAGES];
    if (row &&
        sf_fn_runtime_at(&prof, &pr, pr.fn_arch[0].name, faas_path.fn_mem_mb, rq, rb) == SF_OK) {
        sf_profile_survival(&prof, row, surv);
        for (int i = 0; i < prof.n_stages; i++)
            one += surv[i] * rq[i] + (surv[i] > 0 ? rb[i] : 0);
    }
    double overhead = fc.warm_call_s > one ? fc.warm_call_s - one : 0;
    for (size_t i = 0; i < prof.n_rt; i++)
        if (prof.rt[i].kind == SF_RT_FUNCTION)
            prof.rt[i].per_batch_s[0] += overhead; /* once per call, whatever its size */
    /* serve reads the same profile, so that it binds what the prediction binds */
    struct same_inputs same;
    snprintf(tmp_profile, sizeof(tmp_profile), "/tmp/serflow-demo-profile-XXXXXX");
    int tfd = mkstemp(tmp_profile);
    if (tfd < 0)
        tmp_profile[0] = '\0'; /* nothing of ours to remove */
    FILE *tf = tfd >= 0 ? fdopen(tfd, "w") : NULL;
    if (!tf || sf_profile_write(&prof, NULL, tf, &err) != SF_OK || fclose(tf) != 0) {
        if (tf == NULL && tfd >= 0)
            close(tfd);
        sf_cli_error("demo", "cannot write the adjusted profile to %s: %s", tmp_profile,
                     err.msg[0] ? err.msg : "I/O error");
        goto out;
    }
    same.profile_path = tmp_profile;
    so.fn_cold_start_s = fc.cold_s > 0 ? fc.cold_s : prof.fn_cold_start_s;
    snprintf(same.cold_s, sizeof(same.cold_s), "%.17g", so.fn_cold_start_s);
    snprintf(same.margin_s, sizeof(same.margin_s), "%.17g", DEMO_MARGIN_S);
    printf("measured a function cold start here: %.3f s (process start, model load, first run; "
           "the profile's %.3f s\n         is the model load alone), and a warm one-image call "
           "billed %.1f ms where the model\n         needs %.1f ms: %.1f ms per call of event "
           "delivery, decoding and reply. The prediction\n         uses both.\n\n",
           fc.cold_s, prof.fn_cold_start_s, 1e3 * fc.warm_call_s, 1e3 * one, 1e3 * overhead);
    fflush(stdout);
    so.fn_concurrency = 8; /* serve's --fn-concurrency default */
    sf_sim_bind_opts(&so, &bo);
    bo.margin_s = DEMO_MARGIN_S; /* the server's dispatch margin, in the prediction too */
    for (int i = 0; i < nr && !sf_cli_stop; i++) {
        struct run *r = &runs[i];
        lc.progress_ctx = r;
        r->ok = live_run(exe, r, tau, batching, &same, &lc) == 0;
        if (isatty(2))
            fputc('\n', stderr);
        struct sf_bind_opts rbo = bo;
        if (r->pool[0]) { /* the forced hybrid, as serve is told: --pool hybrid --cut --vm --tcip 0
                           */
            rbo.force_pool = SF_POOL_HYBRID;
            rbo.force_cut = r->cut;
            rbo.force_vm = r->vm;
            rbo.tcip_rps = 0;
        }
        struct sf_binding bnd;
        if (sf_bind(&bnd, &plan, &prof, &pr, sf_policy_find(r->policy), &rbo, &err) != SF_OK ||
            sf_sim_run(&prof, &pr, &tr, &so, &bnd, 1, &r->sim, &err) != SF_OK) {
            sf_cli_error("demo", "%s", err.msg);
            r->ok = 0;
        }
        sf_binding_fini(&bnd);
    }
    printf("%-8s %-24s %11s %11s %7s  %15s  %15s  %s\n", "policy", "path", "live $", "sim $",
           "diff", "SLO req live/sim", "accuracy l/s", "answers vm/vm+fn/fn");
    for (int i = 0; i < nr; i++) {
        struct run *r = &runs[i];
        if (!r->ok) {
            printf("%-8s (failed)\n", r->label);
            continue;
        }
        char p[96];
        sf_path_describe(&r->sim.path, &pr, prof.n_stages, p, sizeof(p));
        double n = r->live.planned ? (double)r->live.planned : 1;
        double diff = r->sim.cost_usd > 0 ? 100 * (r->live_usd / r->sim.cost_usd - 1) : 0;
        printf(
            "%-8s %-24s %11.7f %11.7f %+6.1f%%  %6.1f%% / %5.1f%%  %6.1f%% / %5.1f%%  "
            "%llu/%llu/%llu\n",
            r->label, p, r->live_usd, r->sim.cost_usd, diff, 100 * (double)r->live.slo_ok / n,
            r->sim.requests ? 100.0 * (double)r->sim.requests_slo_ok / (double)r->sim.requests : 0,
            r->live.ok ? 100.0 * (double)r->live.correct / (double)r->live.ok : 0,
            100 * r->sim.accuracy, (unsigned long long)r->live.where_vm,
            (unsigned long long)r->live.where_hybrid, (unsigned long long)r->live.where_function);
    }
    printf("\nlive: billing meters of the running system (VMs per second with the 60 s minimum "
           "from launch to exit, functions per 1 ms x GB + fees); sim: `serflow replay` on the "
           "same trace, profile, prices, policy and batching. SLO req: answered within %g s of "
           "arrival. docs/serving.md explains the gaps.\n",
           prof.slo_s);
    for (int i = 0; i < nr; i++)
        if (runs[i].ok)
            printf("  %-8s live VM $%.7f (%.0f VM-s), functions $%.7f; sim VM $%.7f (%.0f VM-s), "
                   "functions $%.7f; p50/p99 live %.3f/%.3f s, sim %.3f/%.3f s\n",
                   runs[i].label, runs[i].live_vm_usd, runs[i].live_vm_s, runs[i].live_fn_usd,
                   runs[i].sim.vm_cost_usd, runs[i].sim.vm_seconds, runs[i].sim.function_cost_usd,
                   runs[i].live.p50_s, runs[i].live.p99_s, runs[i].sim.response_p50_s,
                   runs[i].sim.response_p99_s);
    code = SF_EXIT_OK;
    for (int i = 0; i < nr; i++)
        code = runs[i].ok ? code : SF_EXIT_FAIL;
out:
    if (tmp_profile[0])
        unlink(tmp_profile);
    sf_plan_fini(&plan);
    for (int i = 0; i < nr; i++)
        sf_sim_results_fini(&runs[i].sim, 1);
    free(arr);
    sf_trace_fini(&tr);
    sf_nn_dataset_fini(&ds);
    sf_nn_model_free(m);
    return code;
}

const struct sf_cli_command sf_cli_demo_command = {&demo_spec, demo_check, demo_run};
