/* cmd_profile.c - `serflow profile`: measures an early-exit model on this machine and writes a
 * profile in the format `serflow plan` reads (serflow-profile/1). */
#include <errno.h>
#include <getopt.h>
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

static const char profile_usage[] =
    "usage: serflow profile --model DIR [options]\n"
    "\n"
    "Measures an early-exit model on this machine and writes a profile `serflow plan` reads:\n"
    "per-stage runtime per batch size (median and p99 after warm-up) for each thread count,\n"
    "hidden-state bytes after each stage (raw and LZ4), and the exit fractions and top-1 accuracy\n"
    "for each tau on a labelled test set. Each thread count N becomes a local VM type\n"
    "'local-Nt' and a function of N x 1,769 MB (one vCPU per thread, the Lambda rule); price\n"
    "them with data/pricing/local.json (docs/profiles.md).\n"
    "\n"
    "  --model DIR          model directory with model.json (e.g. models/fmnist-ee)\n"
    "  --batch-sizes LIST   batch sizes to time (default 1,8,32,100)\n"
    "  --taus A:B:STEP      thresholds (default 0.5:0.95:0.05), or a comma list\n"
    "  --threads LIST       thread counts to time (default 1,2)\n"
    "  --backend NAME       dnnl (default) or ref\n"
    "  --reps N             timed runs per stage and batch size (default 20; 3 untimed first)\n"
    "  --images N           test images for the exit sweep (default: all)\n"
    "  --test-images FILE   IDX images (default: Debian's Fashion-MNIST t10k set)\n"
    "  --test-labels FILE   IDX labels\n"
    "  --slo-s S            SLO written into the profile (default 0.1)\n"
    "  --batch B            batch size per instance per epoch written into the profile (100)\n"
    "  --out FILE           where to write (default: stdout)\n"
    "  -h, --help           this text\n"
    "\n"
    "Example:\n"
    "  serflow profile --model models/fmnist-ee --out my-profile.json\n"
    "  serflow plan --profile my-profile.json --pricing data/pricing/local.json\n";

#define MAX_LIST 32

static int parse_size_list(const char *s, size_t *out, size_t *n, long lo, long hi)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", s);
    *n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n >= MAX_LIST || sf_cli_parse_int(t, lo, hi, &v))
            return -1;
        out[(*n)++] = (size_t)v;
    }
    return *n ? 0 : -1;
}

static int parse_taus(const char *s, double *out, size_t *n)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", s);
    *n = 0;
    char *c1 = strchr(buf, ':');
    if (c1) {
        char *c2 = strchr(c1 + 1, ':');
        double a, b, step;
        if (!c2)
            return -1;
        *c1 = *c2 = '\0';
        if (sf_cli_parse_double(buf, &a) || sf_cli_parse_double(c1 + 1, &b) ||
            sf_cli_parse_double(c2 + 1, &step) || !(step > 0) || !(a > 0) || b > 1 || b < a)
            return -1;
        for (int k = 0; *n < SF_MAX_TAUS; k++) {
            double t = a + k * step;
            if (t > b + 1e-9)
                break;
            out[(*n)++] = round(t * 1e6) / 1e6;
        }
        return *n ? 0 : -1;
    }
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        double v;
        if (*n >= SF_MAX_TAUS || sf_cli_parse_double(t, &v) || !(v > 0) || v > 1 ||
            (*n && v <= out[*n - 1]))
            return -1;
        out[(*n)++] = v;
    }
    return *n ? 0 : -1;
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
    size_t batches[MAX_LIST], nb, threads[MAX_LIST], nt;
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
    if (sf_nn_model_load(a->model_dir, &m, &err) != SF_OK) {
        fprintf(stderr, "serflow profile: %s\n", err.msg);
        return SF_EXIT_USAGE;
    }
    double load_s = sf_monotonic_s() - t0; /* what a cold function pays to get ready */
    int ns = sf_nn_model_num_stages(m);
    if (sf_nn_runner_new(m, a->backend, &r, &err) != SF_OK ||
        sf_nn_dataset_load_idx(a->images_path, a->labels_path, sf_nn_model_norm_mean(m),
                               sf_nn_model_norm_std(m), (size_t)a->images, &ds, &err) != SF_OK) {
        fprintf(stderr, "serflow profile: %s\n", err.msg);
        code = SF_EXIT_USAGE;
        goto out;
    }
    progress_line("%s: %d stages, %zu test images, backend %s", sf_nn_model_name(m), ns, ds.n,
                  sf_nn_backend_name(a->backend));
    size_t numel = sf_nn_shape_numel(sf_nn_model_input_shape(m));
    size_t n_time = ds.n < 256 ? ds.n : 256;

    /* hidden-state sizes */
    struct sf_nn_hidden_size hs[SF_NN_MAX_STAGES];
    if (sf_nn_profile_hidden_sizes(r, m, ds.x, n_time, hs, &err) != SF_OK) {
        fprintf(stderr, "serflow profile: %s\n", err.msg);
        goto out;
    }
    /* exits and accuracy per tau */
    progress_line("exit sweep over %zu taus on %zu images ...", a->ntau, ds.n);
    struct sf_nn_tau_stats ts[SF_MAX_TAUS];
    double cls_acc[SF_NN_MAX_STAGES];
    omp_set_num_threads((int)a->threads[a->nt - 1]);
    if (sf_nn_profile_taus(r, m, &ds, 100, a->taus, a->ntau, ts, cls_acc, &err) != SF_OK) {
        fprintf(stderr, "serflow profile: %s\n", err.msg);
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
            fprintf(stderr, "serflow profile: %s\n", err.msg);
            goto out;
        }
        double per_req[SF_NN_MAX_STAGES], per_batch[SF_NN_MAX_STAGES];
        json_t *meas = json_array();
        for (int k = 0; k < ns; k++) {
            double med[MAX_LIST];
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

int sf_cmd_profile(int argc, char **argv)
{
    static const struct option longopts[] = {{"model", required_argument, NULL, 'm'},
                                             {"batch-sizes", required_argument, NULL, 'b'},
                                             {"taus", required_argument, NULL, 't'},
                                             {"threads", required_argument, NULL, 'n'},
                                             {"backend", required_argument, NULL, 'B'},
                                             {"reps", required_argument, NULL, 'r'},
                                             {"images", required_argument, NULL, 'i'},
                                             {"test-images", required_argument, NULL, 'I'},
                                             {"test-labels", required_argument, NULL, 'L'},
                                             {"slo-s", required_argument, NULL, 's'},
                                             {"batch", required_argument, NULL, 'c'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct prof_args a = {
        .images_path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
        .labels_path = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
        .backend = SF_NN_BACKEND_DNNL,
        .reps = 20,
        .batch = 100,
        .slo_s = 0.1};
    parse_size_list("1,8,32,100", a.batches, &a.nb, 1, 1 << 16);
    parse_size_list("1,2", a.threads, &a.nt, 1, 1024);
    parse_taus("0.5:0.95:0.05", a.taus, &a.ntau);
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double d;
        const char *bad = NULL;
        switch (ch) {
        case 'm':
            a.model_dir = optarg;
            break;
        case 'b':
            if (parse_size_list(optarg, a.batches, &a.nb, 1, 1 << 16))
                bad = "--batch-sizes: expected a comma list of batch sizes >= 1";
            break;
        case 't':
            if (parse_taus(optarg, a.taus, &a.ntau))
                bad = "--taus: expected A:B:STEP or an increasing comma list in (0, 1]";
            break;
        case 'n':
            if (parse_size_list(optarg, a.threads, &a.nt, 1, 1024))
                bad = "--threads: expected a comma list of thread counts >= 1";
            break;
        case 'B':
            if (sf_nn_backend_parse(optarg, &a.backend) != SF_OK)
                bad = "--backend: expected dnnl or ref";
            break;
        case 'r':
            if (sf_cli_parse_int(optarg, 1, 100000, &a.reps))
                bad = "--reps: expected 1..100000";
            break;
        case 'i':
            if (sf_cli_parse_int(optarg, 1, 100000000, &a.images))
                bad = "--images: expected a count >= 1";
            break;
        case 'I':
            a.images_path = optarg;
            break;
        case 'L':
            a.labels_path = optarg;
            break;
        case 's':
            if (sf_cli_parse_double(optarg, &d) || !(d > 0))
                bad = "--slo-s: expected seconds > 0";
            a.slo_s = d;
            break;
        case 'c':
            if (sf_cli_parse_int(optarg, 1, 1000000, &a.batch))
                bad = "--batch: expected an integer >= 1";
            break;
        case 'o':
            a.out = optarg;
            break;
        case 'h':
            fputs(profile_usage, stdout);
            return SF_EXIT_OK;
        default:
            fprintf(stderr,
                    "serflow profile: unknown or incomplete option '%s' (see serflow "
                    "profile --help)\n",
                    argv[optind - 1]);
            return SF_EXIT_USAGE;
        }
        if (bad) {
            fprintf(stderr, "serflow profile: %s, got '%s'\n", bad, optarg);
            return SF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "serflow profile: unexpected argument '%s'\n", argv[optind]);
        return SF_EXIT_USAGE;
    }
    if (!a.model_dir) {
        fprintf(stderr,
                "serflow profile: --model DIR is required (e.g. --model models/fmnist-ee)\n");
        return SF_EXIT_USAGE;
    }
    return run_profile(&a, argc, argv);
}
