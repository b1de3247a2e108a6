/* cmd_profile.c - `serflow profile`: measures an early-exit model on this machine and writes a
 * profile in the format `serflow plan` reads (serflow-profile/1). */
#include <errno.h>
#include <jansson.h>
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

/* A comma list of integers, each checked by item (a row of the table). */
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
            out[(*n)++] = round(t * 1e6) / 1e6;
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

/* Least-squares t(batch) = fixed + per_req * batch, both kept >= 0. */
static void fit_line(const size_t *batch, const double *t, size_t n, double *fixed, double *per_req)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        sx += (double)batch[i];
        sy += t[i];
        sxx += (double)batch[i] * (double)batch[i];
        sxy += (double)batch[i] * t[i];
    }
    double det = n * sxx - sx * sx;
    double b = det > 0 ? (n * sxy - sx * sy) / det : sy / (sx > 0 ? sx : 1);
    double a = det > 0 ? (sy - b * sx) / n : 0;
    if (a < 0) { /* through the origin instead */
        a = 0;
        b = sxx > 0 ? sxy / sxx : 0;
    }
    if (b < 0) {
        b = 0;
        a = sy / n;
    }
    *fixed = a;
    *per_req = b;
}

static void progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("serflow profile: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static json_t *num_array(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
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

static int write_json_atomic(json_t *doc, const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(doc, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8)) !=
            0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "serflow profile: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static int run_profile(const struct prof_args *a, int argc, char **argv)
{
    struct sf_err err = {{0}};
    struct sf_nn_model *m = NULL;
    struct sf_nn_runner *r = NULL;
    struct sf_nn_dataset ds = {0};
    json_t *doc = NULL;
    struct sf_nn_stage_timing *tim = NULL;
    int code = SF_EXIT_FAIL;
    double t0 = sf_monotonic_s();
    int rc = sf_nn_model_load(a->model_dir, &m, &err);
    if (rc != SF_OK)
        return sf_cli_fail("profile", rc, &err);
    double load_s = sf_monotonic_s() - t0; /* what a cold function pays to get ready */
    int ns = sf_nn_model_num_stages(m);
    if ((rc = sf_nn_runner_new(m, a->backend, &r, &err)) != SF_OK ||
        (rc = sf_nn_dataset_load_idx(a->images_path, a->labels_path, sf_nn_model_norm_mean(m),
                                     sf_nn_model_norm_std(m), (size_t)a->images, &ds, &err)) !=
            SF_OK ||
        (rc = sf_nn_dataset_check(&ds, m, a->images_path, &err)) != SF_OK) {
        code = sf_cli_fail("profile", rc, &err);
        goto out;
    }
    progress_line("%s: %d stages, %zu test images, backend %s", sf_nn_model_name(m), ns, ds.n,
                  sf_nn_backend_name(a->backend));
    size_t numel = sf_nn_shape_numel(sf_nn_model_input_shape(m));
    size_t n_time = ds.n < 256 ? ds.n : 256;

    /* hidden-state sizes */
    struct sf_nn_hidden_size hs[SF_NN_MAX_STAGES];
    if ((rc = sf_nn_profile_hidden_sizes(r, m, ds.x, n_time, hs, &err)) != SF_OK) {
        code = sf_cli_fail("profile", rc, &err);
        goto out;
    }
    /* exits and accuracy per tau */
    progress_line("exit sweep over %zu taus on %zu images ...", a->ntau, ds.n);
    struct sf_nn_tau_stats ts[SF_MAX_TAUS];
    double cls_acc[SF_NN_MAX_STAGES];
    omp_set_num_threads((int)a->threads[a->nt - 1]);
    if ((rc = sf_nn_profile_taus(r, m, &ds, 100, a->taus, a->ntau, ts, cls_acc, &err)) != SF_OK) {
        code = sf_cli_fail("profile", rc, &err);
        goto out;
    }
    /* timings per thread count */
    tim = calloc((size_t)ns * a->nb, sizeof(*tim));
    if (!tim)
        goto out;
    doc = json_object();
    json_object_set_new(doc, "format", json_string("serflow-profile/1"));
    json_object_set_new(doc, "model", json_string(sf_nn_model_name(m)));
    struct utsname u;
    char machine[256] = "unknown", when[64] = "";
    if (uname(&u) == 0)
        snprintf(machine, sizeof(machine), "%s %s %s", u.sysname, u.release, u.machine);
    time_t now = time(NULL);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    char cmdline[1024] = "";
    for (int i = 0, n = 0; i < argc && n < (int)sizeof(cmdline); i++)
        n += snprintf(cmdline + n, sizeof(cmdline) - (size_t)n, "%s%s", i ? " " : "serflow ",
                      argv[i]);
    json_t *prov = json_object();
    json_object_set_new(prov, "generator", json_string(cmdline));
    json_object_set_new(prov, "measured_on", json_string(machine));
    json_object_set_new(prov, "measured_at", json_string(when));
    json_object_set_new(prov, "backend", json_string(sf_nn_backend_name(a->backend)));
    json_object_set_new(prov, "note",
                        json_string("runtimes: least-squares fit of the median "
                                    "per-stage time over the batch sizes; local "
                                    "types are priced by data/pricing/local.json"));
    json_object_set_new(doc, "provenance", prov);
    json_object_set_new(doc, "num_classes", json_integer(sf_nn_model_num_classes(m)));
    json_object_set_new(doc, "batch_size", json_integer(a->batch));
    json_object_set_new(doc, "slo_s", json_real(a->slo_s));
    json_object_set_new(doc, "rate_rps", json_real(a->batch / a->slo_s));
    json_object_set_new(doc, "classifier_accuracy", num_array(cls_acc, (size_t)ns));
    json_object_set_new(doc, "input_bytes", json_integer((json_int_t)(numel * sizeof(float))));
    json_t *stages = json_array();
    for (int k = 0; k < ns; k++) {
        json_t *s = json_object();
        char name[32];
        snprintf(name, sizeof(name), "stage%d", k + 1);
        json_object_set_new(s, "name", json_string(name));
        json_object_set_new(s, "hidden_bytes_raw",
                            json_integer(k < ns - 1 ? (json_int_t)hs[k].raw_bytes_per_req : 0));
        json_object_set_new(s, "hidden_bytes_lz4",
                            json_real(k < ns - 1 ? hs[k].lz4_bytes_per_req : 0));
        json_array_append_new(stages, s);
    }
    json_object_set_new(doc, "stages", stages);
    json_t *xfer = json_object();
    json_object_set_new(xfer, "latency_s", json_real(0.0005));
    json_object_set_new(xfer, "bandwidth_bytes_per_s", json_real(1e9));
    json_object_set_new(xfer, "source", json_string("assumed: loopback between local processes"));
    json_object_set_new(doc, "transfer", xfer);
    json_t *fn = json_object();
    json_object_set_new(fn, "cold_start_s", json_real(load_s));
    json_object_set_new(fn, "scaling_exponent", json_real(1.0));
    json_object_set_new(fn, "partial_vcpu_efficiency", json_real(0.5));
    json_object_set_new(fn, "source",
                        json_string("cold start: measured model load time; "
                                    "scaling: as the paper reconstruction"));
    json_object_set_new(doc, "function", fn);
    json_t *rts = json_array();
    for (size_t ti = 0; ti < a->nt; ti++) {
        int threads = (int)a->threads[ti];
        /* oneDNN fixes a primitive's thread count when it creates it: a fresh runner per count */
        omp_set_num_threads(threads);
        struct sf_nn_runner *rt = NULL;
        progress_line("timing %d stages x %zu batch sizes with %d thread%s ...", ns, a->nb, threads,
                      threads > 1 ? "s" : "");
        int trc = sf_nn_runner_new(m, a->backend, &rt, &err);
        if (trc == SF_OK)
            trc = sf_nn_profile_stage_times(rt, m, ds.x, n_time, a->batches, a->nb, 3, (int)a->reps,
                                            tim, &err);
        sf_nn_runner_free(rt);
        if (trc != SF_OK) {
            code = sf_cli_fail("profile", trc, &err);
            goto out;
        }
        double per_req[SF_NN_MAX_STAGES], per_batch[SF_NN_MAX_STAGES];
        json_t *meas = json_array();
        for (int k = 0; k < ns; k++) {
            double med[SF_CLI_MAX_LIST];
            for (size_t b = 0; b < a->nb; b++) {
                const struct sf_nn_stage_timing *t = &tim[(size_t)k * a->nb + b];
                med[b] = t->median_s;
                json_t *o = json_object();
                json_object_set_new(o, "stage", json_integer(k + 1));
                json_object_set_new(o, "batch", json_integer((json_int_t)t->batch));
                json_object_set_new(o, "median_s", json_real(t->median_s));
                json_object_set_new(o, "p99_s", json_real(t->p99_s));
                json_array_append_new(meas, o);
            }
            fit_line(a->batches, med, a->nb, &per_batch[k], &per_req[k]);
        }
        char name[32], src[160];
        snprintf(name, sizeof(name), "local-%dt", threads);
        snprintf(src, sizeof(src), "measured: %s backend, %d thread%s, %ld runs per point",
                 sf_nn_backend_name(a->backend), threads, threads > 1 ? "s" : "", a->reps);
        for (int kind = 0; kind < 2; kind++) {
            json_t *e = json_object();
            json_object_set_new(e, "kind", json_string(kind ? "function" : "vm"));
            if (kind) {
                json_object_set_new(e, "arch", json_string("x86_64"));
                json_object_set_new(e, "mem_mb", json_integer(1769 * threads));
            } else {
                json_object_set_new(e, "name", json_string(name));
            }
            json_object_set_new(e, "time_unit", json_string("s"));
            json_object_set_new(e, "per_request", num_array(per_req, (size_t)ns));
            json_object_set_new(e, "per_batch", num_array(per_batch, (size_t)ns));
            json_object_set_new(e, "source", json_string(src));
            if (!kind)
                json_object_set_new(e, "measurements", json_incref(meas));
            json_array_append_new(rts, e);
        }
        json_decref(meas);
    }
    json_object_set_new(doc, "runtimes", rts);
    json_t *exits = json_array();
    for (size_t t = 0; t < a->ntau; t++) {
        double e[SF_NN_MAX_STAGES], alive = 1.0;
        for (int k = 0; k < ns; k++) {
            double f = ts[t].exit_frac[k];
            e[k] = k == ns - 1 ? 1.0 : (alive > 1e-12 ? f / alive : 0.0);
            if (e[k] > 1)
                e[k] = 1;
            alive -= f;
        }
        json_t *row = json_object();
        json_object_set_new(row, "tau", json_real(ts[t].tau));
        json_object_set_new(row, "exit_fraction", num_array(e, (size_t)ns));
        json_object_set_new(row, "accuracy", json_real(ts[t].accuracy));
        json_object_set_new(row, "mean_stages", json_real(ts[t].mean_stages));
        json_array_append_new(exits, row);
    }
    json_object_set_new(doc, "exits", exits);
    if (a->out) {
        if (write_json_atomic(doc, a->out) != 0)
            goto out;
        progress_line("wrote %s in %.1f s", a->out, sf_monotonic_s() - t0);
    } else {
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
        if (text)
            puts(text);
        free(text);
    }
    code = SF_EXIT_OK;
out:
    json_decref(doc);
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
