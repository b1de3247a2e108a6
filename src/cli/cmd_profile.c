/* cmd_profile.c - `serflow profile`: measures an early-exit model on this machine and writes a
 * profile in the format `serflow plan` reads (serflow-profile/1). */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "cli.h"
#include "serflow/nn.h"
#include "serflow/nn_profile.h"

enum profile_opt {
    F_MODEL = 1,
    F_BATCH_SIZES,
    F_TAUS,
    F_THREADS,
    F_BACKEND,
    F_REPS,
    F_IMAGES,
    F_TEST_IMAGES,
    F_TEST_LABELS,
    F_SLO,
    F_BATCH,
    F_OUT
};

static const char *const backend_words[] = {"dnnl", "ref", "onednn", NULL};

static const struct sf_opt profile_opts[] = {
    {.id = F_MODEL,
     .name = "model",
     .kind = SF_OPT_STR,
     .metavar = "DIR",
     .help = "model directory with model.json (e.g. models/fmnist-ee)"},
    {.id = F_BATCH_SIZES,
     .name = "batch-sizes",
     .kind = SF_OPT_STR,
     .metavar = "LIST",
     .help = "batch sizes to time (default 1,8,32,100)"},
    {.id = F_TAUS,
     .name = "taus",
     .kind = SF_OPT_STR,
     .metavar = "A:B:STEP",
     .help = "thresholds (default 0.5:0.95:0.05), or an increasing comma list"},
    {.id = F_THREADS,
     .name = "threads",
     .kind = SF_OPT_STR,
     .metavar = "LIST",
     .help = "thread counts to time (default 1,2)"},
    {.id = F_BACKEND,
     .name = "backend",
     .kind = SF_OPT_WORD,
     .metavar = "NAME",
     .help = "dnnl (default) or ref",
     .words = backend_words},
    {.id = F_REPS,
     .name = "reps",
     .kind = SF_OPT_INT,
     .metavar = "N",
     .help = "timed runs per stage and batch size (default 20; 3 untimed first)",
     .ilo = 1,
     .ihi = SF_NN_MAX_REPS},
    {.id = F_IMAGES,
     .name = "images",
     .kind = SF_OPT_INT,
     .metavar = "N",
     .help = "test images for the exit sweep (default: all)",
     .want = "a count",
     .ilo = 1,
     .ihi = SF_NN_MAX_IMAGES},
    {.id = F_TEST_IMAGES,
     .name = "test-images",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "IDX images (default: Debian's Fashion-MNIST t10k set)"},
    {.id = F_TEST_LABELS,
     .name = "test-labels",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "IDX labels"},
    {.id = F_SLO,
     .name = "slo-s",
     .kind = SF_OPT_NUM,
     .metavar = "S",
     .help = "SLO written into the profile (default 0.1)",
     .want = "seconds",
     .lo = 0,
     .hi = SF_MAX_SLO_S,
     .flags = SF_OPT_LO_OPEN},
    {.id = F_BATCH,
     .name = "batch",
     .kind = SF_OPT_INT,
     .metavar = "B",
     .help = "batch size per instance per epoch written into the profile (100)",
     .want = "a batch size",
     .ilo = 1,
     .ihi = SF_MAX_BATCH},
    {.id = F_OUT,
     .name = "out",
     .kind = SF_OPT_STR,
     .metavar = "FILE",
     .help = "where to write (default: stdout)"},
    {0}};

static const struct sf_opt_cmd profile_spec = {
    .name = "profile",
    .summary = "measure an early-exit model (ONNX stages) on this machine: stage runtimes,\n"
               "hidden-state sizes, exits and accuracy per tau -> a profile for plan",
    .synopsis = "--model DIR [options]",
    .about = "Measures an early-exit model on this machine and writes a profile `serflow plan` "
             "reads:\nper-stage runtime per batch size (median and p99 after warm-up) for each "
             "thread count,\nhidden-state bytes after each stage (raw and LZ4), and the exit "
             "fractions and top-1 accuracy\nfor each tau on a labelled test set. Each thread "
             "count N becomes a local VM type\n'local-Nt' and a function of N x 1,769 MB (one "
             "vCPU per thread, the Lambda rule); price\nthem with data/pricing/local.json "
             "(docs/profiles.md).\n\n",
    .opts = profile_opts,
    .epilog = "Example:\n"
              "  serflow profile --model models/fmnist-ee --out my-profile.json\n"
              "  serflow plan --profile my-profile.json --pricing data/pricing/local.json\n"};

/* A comma list of distinct integers, each checked by item (a row of the table). */
static int parse_size_list(const struct sf_opt *item, const char *s, size_t *out, size_t *n,
                           struct sf_err *err)
{
    char buf[32];
    const char *cur = s;
    int r;
    *n = 0;
    while ((r = sf_opt_next_item(&cur, ',', buf, sizeof(buf))) != 0) {
        struct sf_optval v;
        if (*n >= SF_CLI_MAX_LIST)
            return sf_err_set(err, SF_ETOOBIG, "--%s: more than %d values", item->name,
                              SF_CLI_MAX_LIST);
        if (r < 0)
            return sf_err_set(err, SF_EINVAL, "--%s: a value is too long", item->name);
        if (sf_opt_value(item, buf, &v, err) != SF_OK)
            return SF_EINVAL;
        for (size_t i = 0; i < *n; i++)
            if (out[i] == (size_t)v.i)
                return sf_err_set(err, SF_EINVAL, "--%s: %lld appears twice", item->name, v.i);
        out[(*n)++] = (size_t)v.i;
    }
    return SF_OK;
}

/* A:B:STEP or an increasing comma list, each tau in (0, 1]. */
static int parse_taus(const char *s, double *out, size_t *n, struct sf_err *err)
{
    static const struct sf_opt tau = {.id = F_TAUS,
                                      .name = "taus",
                                      .kind = SF_OPT_NUM,
                                      .metavar = "T",
                                      .help = NULL,
                                      .want = "thresholds",
                                      .lo = 0,
                                      .hi = 1,
                                      .flags = SF_OPT_LO_OPEN};
    static const struct sf_opt step = {.id = F_TAUS,
                                       .name = "taus",
                                       .kind = SF_OPT_NUM,
                                       .metavar = "T",
                                       .help = NULL,
                                       .want = "a step",
                                       .lo = 0,
                                       .hi = 1,
                                       .flags = SF_OPT_LO_OPEN};
    char buf[3][32];
    const char *cur = s;
    *n = 0;
    if (strchr(s, ':')) {
        struct sf_optval a, b, st;
        for (int k = 0; k < 3; k++)
            if (sf_opt_next_item(&cur, ':', buf[k], sizeof(buf[k])) <= 0 || (k < 2 && !cur) ||
                (k == 2 && cur))
                return sf_err_set(err, SF_EINVAL, "--taus: expected A:B:STEP or a comma list");
        if (sf_opt_value(&tau, buf[0], &a, err) || sf_opt_value(&tau, buf[1], &b, err) ||
            sf_opt_value(&step, buf[2], &st, err))
            return SF_EINVAL;
        if (b.num < a.num)
            return sf_err_set(err, SF_EINVAL, "--taus: A:B:STEP needs A <= B");
        for (int k = 0; *n < SF_MAX_TAUS; k++) {
            double t = a.num + k * st.num;
            if (t > b.num + 1e-9)
                break;
            t = round(t * 1e6) / 1e6; /* 6 decimals, as profiles write tau */
            if (*n && t <= out[*n - 1])
                return sf_err_set(err, SF_EINVAL, "--taus: STEP below 0.000001");
            out[(*n)++] = t;
        }
        if (a.num + (double)SF_MAX_TAUS * st.num <= b.num + 1e-9)
            return sf_err_set(err, SF_ETOOBIG, "--taus: more than %d thresholds", SF_MAX_TAUS);
        return SF_OK;
    }
    int r;
    while ((r = sf_opt_next_item(&cur, ',', buf[0], sizeof(buf[0]))) != 0) {
        struct sf_optval v;
        if (*n >= SF_MAX_TAUS)
            return sf_err_set(err, SF_ETOOBIG, "--taus: more than %d thresholds", SF_MAX_TAUS);
        if (r < 0)
            return sf_err_set(err, SF_EINVAL, "--taus: a value is too long");
        if (sf_opt_value(&tau, buf[0], &v, err) != SF_OK)
            return SF_EINVAL;
        if (*n && v.num <= out[*n - 1])
            return sf_err_set(err, SF_EINVAL, "--taus: thresholds must be increasing (%g after %g)",
                              v.num, out[*n - 1]);
        out[(*n)++] = v.num;
    }
    return SF_OK;
}

/* t(batch) = fixed + per_req * batch, both kept >= 0, by least squares in relative error (each
 * point weighted 1 / t^2): a plain fit is held by the largest batch and put a negative intercept
 * through VGG16-SDN's last stage (2.5 ms at batch 1, 103 ms at 100), so the clamped line said
 * 1.0 ms for a batch of 1; small batches are what an exit path's later stages see. */
static void fit_line(const size_t *batch, const double *t, size_t n, double *fixed, double *per_req)
{
    double s = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double w = t[i] > 0 ? 1 / (t[i] * t[i]) : 0, x = (double)batch[i];
        s += w;
        sx += w * x;
        sy += w * t[i];
        sxx += w * x * x;
        sxy += w * x * t[i];
    }
    double det = s * sxx - sx * sx;
    double b = det > 0 ? (s * sxy - sx * sy) / det : sy / (sx > 0 ? sx : 1);
    double a = det > 0 ? (sy - b * sx) / s : 0;
    if (a < 0) { /* through the origin instead */
        a = 0;
        b = sxx > 0 ? sxy / sxx : 0;
    }
    if (b < 0) {
        b = 0;
        a = s > 0 ? sy / s : 0;
    }
    *fixed = a;
    *per_req = b;
}

static void progress_line(const char *fmt, ...)
{
    char msg[SF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sf_cli_note("profile", "%s", msg);
}

struct prof_args {
    const char *model_dir, *out, *images_path, *labels_path;
    size_t batches[SF_CLI_MAX_LIST], nb, threads[SF_CLI_MAX_LIST], nt;
    double taus[SF_MAX_TAUS];
    size_t ntau;
    enum sf_nn_backend backend;
    long reps, images, batch;
    double slo_s;
};

/* The exit fractions of a profile row (of those entering each stage) from the fractions of
 * all requests leaving after each stage. */
static void exit_fractions(const struct sf_nn_tau_stats *ts, int ns, double *e)
{
    double alive = 1.0;
    for (int k = 0; k < ns; k++) {
        double f = ts->exit_frac[k];
        e[k] = k == ns - 1 ? 1.0 : (alive > 1e-12 ? f / alive : 0.0);
        e[k] = e[k] < 0 ? 0 : e[k] > 1 ? 1 : e[k];
        alive -= f;
    }
}

/* Everything the measurement needs and produces, on the heap (the profile is ~70 kB). */
struct prof_run {
    struct sf_profile prof;
    struct sf_profile_notes notes;
    struct sf_nn_tau_stats ts[SF_MAX_TAUS];
    double cls_acc[SF_NN_MAX_STAGES], mean_stages[SF_MAX_TAUS];
    char rt_source[SF_MAX_RUNTIMES][160];
    struct sf_profile_measurement *meas[SF_MAX_RUNTIMES];
    char cmdline[1024], machine[256], when[64];
};

/* The profile's static part: what the model and the exit sweep gave. */
static void fill_from_sweep(struct prof_run *x, const struct prof_args *a,
                            const struct sf_nn_model *m, const struct sf_nn_hidden_size *hs,
                            double load_s)
{
    struct sf_profile *p = &x->prof;
    int ns = sf_nn_model_num_stages(m);
    snprintf(p->model, sizeof(p->model), "%s", sf_nn_model_name(m));
    p->n_stages = ns;
    p->batch_size = (int)a->batch;
    p->slo_s = a->slo_s;
    p->rate_rps = (double)a->batch / a->slo_s;
    p->input_bytes = (double)(sf_nn_shape_numel(sf_nn_model_input_shape(m)) * sizeof(float));
    for (int k = 0; k < ns; k++) {
        snprintf(p->stage[k].name, sizeof(p->stage[k].name), "stage%d", k + 1);
        p->stage[k].hidden_bytes_raw = k < ns - 1 ? (double)hs[k].raw_bytes_per_req : 0;
        p->stage[k].hidden_bytes_lz4 = k < ns - 1 ? hs[k].lz4_bytes_per_req : 0;
    }
    p->xfer_latency_s = 0.0005;
    p->xfer_bandwidth_bytes_per_s = 1e9;
    p->fn_cold_start_s = load_s;
    p->fn_scaling_exponent = 1.0;
    p->fn_partial_vcpu_efficiency = 0.5;
    p->n_exits = a->ntau;
    for (size_t t = 0; t < a->ntau; t++) {
        p->exits[t].tau = x->ts[t].tau;
        p->exits[t].accuracy = x->ts[t].accuracy;
        exit_fractions(&x->ts[t], ns, p->exits[t].exit_fraction);
        x->mean_stages[t] = x->ts[t].mean_stages;
    }
}

/* Times every stage at every batch size with `threads` threads (a fresh runner: oneDNN fixes a
 * primitive's thread count when it creates it) and fills the VM type 'local-Nt' and the function
 * of N x 1,769 MB at index 2 ti, 2 ti + 1 with the least-squares fit of the medians. */
static int time_threads(struct prof_run *x, const struct prof_args *a, size_t ti,
                        const struct sf_nn_model *m, const struct sf_nn_dataset *ds, size_t n_time,
                        struct sf_nn_stage_timing *tim, struct sf_err *err)
{
    struct sf_profile *p = &x->prof;
    int ns = sf_nn_model_num_stages(m), threads = (int)a->threads[ti];
    omp_set_num_threads(threads);
    progress_line("timing %d stages x %zu batch sizes with %d thread%s ...", ns, a->nb, threads,
                  threads > 1 ? "s" : "");
    struct sf_nn_runner *rt = NULL;
    int rc = sf_nn_runner_new(m, a->backend, &rt, err);
    if (rc == SF_OK)
        rc = sf_nn_profile_stage_times(rt, m, ds->x, n_time, a->batches, a->nb, 3, (int)a->reps,
                                       tim, err);
    sf_nn_runner_free(rt);
    if (rc != SF_OK)
        return rc;
    size_t vm = 2 * ti, fn = vm + 1;
    struct sf_runtime *rv = &p->rt[vm], *rf = &p->rt[fn];
    x->meas[vm] = calloc((size_t)ns * a->nb, sizeof(*x->meas[vm]));
    if (!x->meas[vm])
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    for (int k = 0; k < ns; k++) {
        double med[SF_CLI_MAX_LIST];
        for (size_t b = 0; b < a->nb; b++) {
            const struct sf_nn_stage_timing *t = &tim[(size_t)k * a->nb + b];
            med[b] = t->median_s;
            x->meas[vm][(size_t)k * a->nb + b] =
                (struct sf_profile_measurement){k + 1, (long)t->batch, t->median_s, t->p99_s};
        }
        fit_line(a->batches, med, a->nb, &rv->per_batch_s[k], &rv->per_request_s[k]);
    }
    rv->kind = SF_RT_VM;
    snprintf(rv->name, sizeof(rv->name), "local-%dt", threads);
    *rf = *rv;
    rf->kind = SF_RT_FUNCTION;
    snprintf(rf->name, sizeof(rf->name), "x86_64");
    rf->mem_mb = 1769 * threads;
    snprintf(x->rt_source[vm], sizeof(x->rt_source[vm]),
             "measured: %s backend, %d thread%s, %ld runs per point",
             sf_nn_backend_name(a->backend), threads, threads > 1 ? "s" : "", a->reps);
    x->notes.runtime_source[vm] = x->notes.runtime_source[fn] = x->rt_source[vm];
    x->notes.measurements[vm] = x->meas[vm];
    x->notes.n_measurements[vm] = (size_t)ns * a->nb;
    p->n_rt = fn + 1;
    return SF_OK;
}

/* Informational notes: where, when and how it was measured (the command line escaped: valid
 * UTF-8 without control characters). */
static void fill_notes(struct prof_run *x, const struct prof_args *a, const struct sf_nn_model *m,
                       int argc, char **argv)
{
    struct utsname u;
    snprintf(x->machine, sizeof(x->machine), "unknown");
    if (uname(&u) == 0)
        snprintf(x->machine, sizeof(x->machine), "%s %s %s", u.sysname, u.release, u.machine);
    time_t now = time(NULL);
    strftime(x->when, sizeof(x->when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    size_t n = 0;
    for (int i = 0; i < argc && n + 8 < sizeof(x->cmdline); i++) {
        memcpy(x->cmdline + n, i ? " " : "serflow ", i ? 1 : 8);
        n += i ? 1 : 8;
        sf_str_escape(x->cmdline + n, sizeof(x->cmdline) - n, argv[i], strlen(argv[i]));
        n += strlen(x->cmdline + n);
    }
    x->notes.generator = x->cmdline;
    x->notes.measured_on = x->machine;
    x->notes.measured_at = x->when;
    x->notes.backend = sf_nn_backend_name(a->backend);
    x->notes.note = "runtimes: least-squares fit (relative error) of the median per-stage time "
                    "over the batch "
                    "sizes; local types are priced by data/pricing/local.json";
    x->notes.num_classes = sf_nn_model_num_classes(m);
    x->notes.classifier_accuracy = x->cls_acc;
    x->notes.mean_stages = x->mean_stages;
    x->notes.transfer_source = "assumed: loopback between local processes";
    x->notes.function_source = "cold start: measured model load time; scaling: as the paper "
                               "reconstruction";
}

/* Loads the model (timed: what a cold function pays to get ready), the runner and the test set;
 * measures hidden-state sizes and the exit sweep; fills the profile's static part. */
static int measure_model(struct prof_run *x, const struct prof_args *a, struct sf_nn_model **m,
                         struct sf_nn_runner **r, struct sf_nn_dataset *ds, struct sf_err *err)
{
    double t0 = sf_monotonic_s();
    int rc = sf_nn_model_load(a->model_dir, m, err);
    if (rc != SF_OK)
        return rc;
    if ((rc = sf_nn_runner_new(*m, a->backend, r, err)) != SF_OK ||
        (rc = sf_nn_runner_warm(*r, err)) != SF_OK)
        return rc;
    double load_s = sf_monotonic_s() - t0; /* load and warm-up: as a function instance starts */
    if ((rc = sf_nn_dataset_load_idx(a->images_path, a->labels_path, sf_nn_model_norm_mean(*m),
                                     sf_nn_model_norm_std(*m), (size_t)a->images, ds, err)) !=
            SF_OK ||
        (rc = sf_nn_dataset_fit(ds, *m, err)) != SF_OK ||
        (rc = sf_nn_dataset_check(ds, *m, a->images_path, err)) != SF_OK)
        return rc;
    progress_line("%s: %d stages, %zu test images, backend %s", sf_nn_model_name(*m),
                  sf_nn_model_num_stages(*m), ds->n, sf_nn_backend_name(a->backend));
    size_t n_time = ds->n < 256 ? ds->n : 256;
    struct sf_nn_hidden_size hs[SF_NN_MAX_STAGES];
    if ((rc = sf_nn_profile_hidden_sizes(*r, *m, ds->x, n_time, hs, err)) != SF_OK)
        return rc;
    progress_line("exit sweep over %zu taus on %zu images ...", a->ntau, ds->n);
    omp_set_num_threads((int)a->threads[a->nt - 1]);
    rc = sf_nn_profile_taus(*r, *m, ds, 100, a->taus, a->ntau, x->ts, x->cls_acc, err);
    if (rc == SF_OK)
        fill_from_sweep(x, a, *m, hs, load_s);
    return rc;
}

static int run_profile(const struct prof_args *a, int argc, char **argv)
{
    struct sf_err err = {{0}};
    struct sf_nn_model *m = NULL;
    struct sf_nn_runner *r = NULL;
    struct sf_nn_dataset ds = {0};
    struct sf_nn_stage_timing *tim = NULL;
    struct sf_outfile out;
    /* an unwritable --out fails now, not after minutes of measuring */
    int code = sf_cli_out_open("profile", &out, a->out ? a->out : "-");
    if (code != SF_EXIT_OK)
        return code;
    double t0 = sf_monotonic_s();
    struct prof_run *x = calloc(1, sizeof(*x));
    int rc = x ? measure_model(x, a, &m, &r, &ds, &err) : SF_ENOMEM;
    if (rc == SF_OK) {
        tim = calloc((size_t)sf_nn_model_num_stages(m) * a->nb, sizeof(*tim));
        rc = tim ? SF_OK : SF_ENOMEM;
    }
    for (size_t ti = 0; rc == SF_OK && ti < a->nt; ti++)
        rc = time_threads(x, a, ti, m, &ds, ds.n < 256 ? ds.n : 256, tim, &err);
    if (rc == SF_OK) {
        fill_notes(x, a, m, argc, argv);
        rc = sf_profile_write(&x->prof, &x->notes, out.f, &err);
    }
    if (rc != SF_OK)
        code = sf_cli_fail("profile", rc, &err);
    else if ((code = sf_cli_out_commit("profile", &out)) == SF_EXIT_OK && a->out)
        progress_line("wrote %s in %.1f s", a->out, sf_monotonic_s() - t0);
    sf_outfile_abort(&out);
    for (size_t i = 0; x && i < SF_MAX_RUNTIMES; i++)
        free(x->meas[i]);
    free(x);
    free(tim);
    sf_nn_dataset_fini(&ds);
    sf_nn_runner_free(r);
    sf_nn_model_free(m);
    return code;
}

static const struct sf_opt batch_item = {.id = F_BATCH_SIZES,
                                         .name = "batch-sizes",
                                         .kind = SF_OPT_INT,
                                         .metavar = "B",
                                         .help = NULL,
                                         .want = "batch sizes",
                                         .ilo = 1,
                                         .ihi = SF_NN_MAX_PROFILE_BATCH};
static const struct sf_opt thread_item = {.id = F_THREADS,
                                          .name = "threads",
                                          .kind = SF_OPT_INT,
                                          .metavar = "N",
                                          .help = NULL,
                                          .want = "thread counts",
                                          .ilo = 1,
                                          .ihi = SF_CLI_MAX_THREADS};

/* Fills a from argv: SF_OPT_END to run, SF_OPT_HELP, or SF_OPT_ERROR (err). */
static int parse_args(int argc, char **argv, struct prof_args *a, struct sf_err *err)
{
    *a = (struct prof_args){
        .images_path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
        .labels_path = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
        .backend = SF_NN_BACKEND_DNNL,
        .reps = 20,
        .batch = 100,
        .slo_s = 0.1};
    if (parse_size_list(&batch_item, "1,8,32,100", a->batches, &a->nb, err) ||
        parse_size_list(&thread_item, "1,2", a->threads, &a->nt, err) ||
        parse_taus("0.5:0.95:0.05", a->taus, &a->ntau, err))
        return SF_OPT_ERROR;
    struct sf_opt_parser p;
    struct sf_optval v;
    int id;
    sf_opt_init(&p, &profile_spec, argc, argv);
    while ((id = sf_opt_next(&p, &v, err)) > 0) {
        int rc = SF_OK;
        switch ((enum profile_opt)id) {
        case F_MODEL:
            a->model_dir = v.str;
            break;
        case F_BATCH_SIZES:
            rc = parse_size_list(&batch_item, v.str, a->batches, &a->nb, err);
            break;
        case F_TAUS:
            rc = parse_taus(v.str, a->taus, &a->ntau, err);
            break;
        case F_THREADS:
            rc = parse_size_list(&thread_item, v.str, a->threads, &a->nt, err);
            break;
        case F_BACKEND:
            a->backend = v.word == 1 ? SF_NN_BACKEND_REF : SF_NN_BACKEND_DNNL;
            break;
        case F_REPS:
            a->reps = (long)v.i;
            break;
        case F_IMAGES:
            a->images = (long)v.i;
            break;
        case F_TEST_IMAGES:
            a->images_path = v.str;
            break;
        case F_TEST_LABELS:
            a->labels_path = v.str;
            break;
        case F_SLO:
            a->slo_s = v.num;
            break;
        case F_BATCH:
            a->batch = (long)v.i;
            break;
        case F_OUT:
            a->out = v.str;
            break;
        }
        if (rc != SF_OK)
            return SF_OPT_ERROR;
    }
    if (id == SF_OPT_END && (double)a->batch / a->slo_s > SF_MAX_RATE_RPS) {
        sf_err_set(err, SF_EINVAL, "--batch / --slo-s: a rate of %g req/s is above %g",
                   (double)a->batch / a->slo_s, SF_MAX_RATE_RPS);
        return SF_OPT_ERROR;
    }
    if (id == SF_OPT_END && !a->model_dir) {
        sf_err_set(err, SF_EINVAL, "--model DIR is required (e.g. --model models/fmnist-ee)");
        return SF_OPT_ERROR;
    }
    return id;
}

static int profile_check(int argc, char **argv, struct sf_err *err)
{
    struct prof_args a;
    return parse_args(argc, argv, &a, err) == SF_OPT_ERROR ? SF_EINVAL : SF_OK;
}

static int profile_run(int argc, char **argv)
{
    struct prof_args a;
    struct sf_err err = {{0}};
    int id = parse_args(argc, argv, &a, &err);
    if (id == SF_OPT_HELP) {
        sf_opt_help(&profile_spec, stdout);
        return SF_EXIT_OK;
    }
    if (id != SF_OPT_END)
        return sf_cli_fail("profile", SF_EINVAL, &err);
    return run_profile(&a, argc, argv);
}

const struct sf_cli_command sf_cli_profile_command = {&profile_spec, profile_check, profile_run};
