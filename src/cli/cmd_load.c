/* cmd_load.c - `serflow load`: replays a trace against an ingress with real Fashion-MNIST test
 * images, checks every label, and reports latency percentiles, request-level SLO attainment,
 * accuracy, where the answers ran, and the bill read from the ingress's /metrics. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "serflow/nn_profile.h"
#include "serflow/metrics.h"
#include "serflow/http.h"
#include "serflow/load.h"
#include "serflow/trace.h"
#include "serflow/sim.h"
#include "serve_cli.h"

enum {
    LD_URL = 1,
    LD_TRACE,
    LD_UNIT,
    LD_EPOCHS,
    LD_EPOCH_S,
    LD_RATE,
    LD_TIME,
    LD_SLO,
    LD_MODEL,
    LD_PROFILE,
    LD_IMAGES,
    LD_LABELS,
    LD_JSON_DATA,
    LD_CONN,
    LD_TIMEOUT,
    LD_JSON,
    LD_QUIET
};

static const char *const unit_words[] = {"epoch", "second", NULL};

static const struct sf_opt load_opts[] = {
    SF_SO_STR(LD_URL, "url", "U", "ingress (http://127.0.0.1:8080)"),
    SF_SO_STR(LD_TRACE, "trace", "FILE", "counts per line (default: the bundled WITS trace)"),
    SF_SO_WORD(LD_UNIT, "trace-unit", "U", "epoch | second: what one line covers (epoch)",
               unit_words),
    SF_SO_INT(LD_EPOCHS, "epochs", "N", "the first N epochs (400; 0 = all)", 0, 100000000),
    SF_SO_NUM(LD_EPOCH_S, "epoch-s", "S", "epoch length = the SLO (default: the profile's)", 0.001,
              86400),
    SF_SO_NUM(LD_RATE, "rate-scale", "F", "multiply every count by F (1)", 0.0001, 1000),
    SF_SO_NUM(LD_TIME, "time-scale", "X", "send X times faster than the trace (1)", 0.001, 1000),
    SF_SO_NUM(LD_SLO, "slo-s", "S", "request SLO for attainment (default: the epoch length)",
              0.0001, 86400),
    SF_SO_STR(LD_MODEL, "model", "DIR", "model manifest: name, normalisation (models/fmnist-ee)"),
    SF_SO_STR(LD_PROFILE, "profile", "FILE",
              "for the default epoch length (the bundled local one)"),
    SF_SO_STR(LD_IMAGES, "images", "FILE", "IDX test images (Debian's Fashion-MNIST t10k)"),
    SF_SO_STR(LD_LABELS, "labels", "FILE", "IDX test labels"),
    SF_SO_FLAG(LD_JSON_DATA, "json-data",
               "send JSON tensors (default: the binary tensor extension)"),
    SF_SO_INT(LD_CONN, "connections", "N", "keep-alive connections at most (256)", 1, 10000),
    SF_SO_NUM(LD_TIMEOUT, "timeout-s", "S", "per request (30)", 0.001, 3600),
    SF_SO_FLAG(LD_JSON, "json", "print the report as one JSON object"),
    SF_SO_FLAG(LD_QUIET, "quiet", "no progress line"),
    {0}};

static const struct sf_opt_cmd load_spec = {
    .name = "load",
    .summary = "replay a trace against an ingress with Fashion-MNIST images; latency, SLO,\n"
               "accuracy and cost",
    .synopsis = "[options]",
    .about = "Replays a request trace against a serflow ingress (or any OIP v2 server) with\n"
             "Fashion-MNIST test images: one image per request at its arrival time. Checks every\n"
             "label; reports latency percentiles, request-level SLO attainment, accuracy, where\n"
             "the answers ran and the cost from the ingress's billing meters (/metrics). A\n"
             "progress line on stderr while it runs. Exit status 1 when a request got no answer.\n",
    .opts = load_opts};

struct load_args {
    const char *url, *trace, *model, *profile, *images, *labels;
    int unit, json_out, quiet, json_data, connections;
    long epochs;
    double epoch_s, rate_scale, time_scale, slo_s, timeout_s;
};

static int load_store(void *ctx, int id, const struct sf_optval *v, struct sf_err *err)
{
    (void)err;
    struct load_args *a = ctx;
    switch (id) {
    case LD_URL:
        a->url = v->str;
        break;
    case LD_TRACE:
        a->trace = v->str;
        break;
    case LD_UNIT:
        a->unit = v->word;
        break;
    case LD_EPOCHS:
        a->epochs = (long)v->i;
        break;
    case LD_EPOCH_S:
        a->epoch_s = v->num;
        break;
    case LD_RATE:
        a->rate_scale = v->num;
        break;
    case LD_TIME:
        a->time_scale = v->num;
        break;
    case LD_SLO:
        a->slo_s = v->num;
        break;
    case LD_MODEL:
        a->model = v->str;
        break;
    case LD_PROFILE:
        a->profile = v->str;
        break;
    case LD_IMAGES:
        a->images = v->str;
        break;
    case LD_LABELS:
        a->labels = v->str;
        break;
    case LD_JSON_DATA:
        a->json_data = 1;
        break;
    case LD_CONN:
        a->connections = (int)v->i;
        break;
    case LD_TIMEOUT:
        a->timeout_s = v->num;
        break;
    case LD_JSON:
        a->json_out = 1;
        break;
    case LD_QUIET:
        a->quiet = 1;
        break;
    }
    return SF_OK;
}

static void load_defaults(struct load_args *a)
{
    memset(a, 0, sizeof(*a));
    a->url = "http://127.0.0.1:8080";
    a->epochs = 400;
    a->rate_scale = 1;
    a->time_scale = 1;
    a->connections = 256;
    a->timeout_s = 30;
    a->images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    a->labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
}

static int load_check(int argc, char **argv, struct sf_err *err)
{
    struct load_args a;
    load_defaults(&a);
    int rc = sf_cli_parse(&load_spec, argc, argv, load_store, &a, err);
    return rc == 1 ? SF_OK : rc;
}

static void progress(void *ctx, const struct sf_load_stats *st)
{
    (void)ctx;
    double pct = st->planned ? 100.0 * (double)st->done / (double)st->planned : 100;
    sf_cli_progress("load", isatty(2), 0,
                    "%6.1f s  %llu/%llu answered (%.0f%%), %llu ok, %llu 503  ", st->elapsed_s,
                    (unsigned long long)st->done, (unsigned long long)st->planned, pct,
                    (unsigned long long)st->ok, (unsigned long long)st->status_503);
}

/* What the server's /metrics say; `serflow load` reads them before and after its run and reports
 * the difference: this run's figures, not the server's lifetime totals. */
struct bill {
    double usd, vm_usd, fn_usd, fees_usd, gb_s, invocations, vm_s, accepted, answered_ok,
        answered_failed;
    int reachable; /* /metrics answered 200 */
    int ok;        /* with serflow's billing meters */
};

/* after - before, field by field (the counters only grow; a restarted server could make one
 * smaller: then this run's figure is unknown and reported as after's) */
static struct bill bill_delta(const struct bill *after, const struct bill *before)
{
    struct bill d = *after;
    double *dv[] = {&d.usd,         &d.vm_usd, &d.fn_usd,   &d.fees_usd,    &d.gb_s,
                    &d.invocations, &d.vm_s,   &d.accepted, &d.answered_ok, &d.answered_failed};
    const double bv[] = {
        before->usd,         before->vm_usd,         before->fn_usd, before->fees_usd,
        before->gb_s,        before->invocations,    before->vm_s,   before->accepted,
        before->answered_ok, before->answered_failed};
    for (size_t i = 0; i < SF_ARRAY_LEN(dv); i++)
        if (*dv[i] >= bv[i])
            *dv[i] -= bv[i];
    return d;
}

static void read_bill(const char *url, struct bill *b)
{
    char u[600];
    snprintf(u, sizeof(u), "%s/metrics", url);
    long status = 0;
    char *text = NULL;
    size_t len = 0;
    struct sf_err err = {{0}};
    memset(b, 0, sizeof(*b));
    if (sf_http_request(NULL, u, NULL, 0, NULL, 5, &status, &text, &len, NULL, &err) != SF_OK ||
        status != 200 || !text) {
        free(text);
        return;
    }
    b->reachable = 1;
    b->ok = sf_metrics_scrape(text, "serflow_bill_usd_total", "", &b->usd) == SF_OK;
    sf_metrics_scrape(text, "serflow_bill_vm_usd_total", "", &b->vm_usd);
    sf_metrics_scrape(text, "serflow_bill_function_usd_total", "", &b->fn_usd);
    sf_metrics_scrape(text, "serflow_bill_function_fees_usd_total", "", &b->fees_usd);
    sf_metrics_scrape(text, "serflow_bill_function_gigabyte_seconds_total", "", &b->gb_s);
    sf_metrics_scrape(text, "serflow_bill_function_invocations_total", "", &b->invocations);
    sf_metrics_scrape(text, "serflow_requests_accepted_total", "", &b->accepted);
    sf_metrics_scrape(text, "serflow_requests_answered_total", "outcome=\"ok\"", &b->answered_ok);
    static const char *const bad[] = {"outcome=\"failed\"", "outcome=\"refused\"",
                                      "outcome=\"deadline\""};
    for (size_t i = 0; i < SF_ARRAY_LEN(bad); i++) {
        double v = 0;
        sf_metrics_scrape(text, "serflow_requests_answered_total", bad[i], &v);
        b->answered_failed += v;
    }
    /* VM seconds: every type's series */
    for (const char *p = text; (p = strstr(p, "\nserflow_bill_vm_seconds_total{"));) {
        const char *sp = strchr(p, ' ');
        if (!sp)
            break;
        b->vm_s += strtod(sp + 1, NULL);
        p = sp;
    }
    /* a bill is numbers: anything not finite or negative is no bill at all */
    const double all[] = {b->usd,  b->vm_usd,      b->fn_usd,   b->fees_usd,    b->gb_s,
                          b->vm_s, b->invocations, b->accepted, b->answered_ok, b->answered_failed};
    for (size_t i = 0; i < SF_ARRAY_LEN(all); i++)
        if (!sf_isfinite(all[i]) || all[i] < 0) {
            memset(b, 0, sizeof(*b));
            b->reachable = 1;
            break;
        }
    free(text);
}

/* The JSON report: this run's figures (the bill as the difference of the server's metrics before
 * and after it), the server's totals apart. 0 when it could not be written. */
static int report_json(const struct load_args *args, const struct sf_load_stats *stp,
                       const struct bill *bp, const struct bill *totalp)
{
    const struct load_args a = *args;
    const struct sf_load_stats st = *stp;
    const struct bill b = *bp, total = *totalp;
    double n = (double)(st.planned ? st.planned : 1), okd = (double)(st.ok ? st.ok : 1);
    int report_ok;
    json_t *o = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:{s:I,s:I,s:"
        "I},"
        "s:b,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
        "url", a.url, "requests", (json_int_t)st.planned, "ok", (json_int_t)st.ok, "invalid",
        (json_int_t)st.invalid, "correct", (json_int_t)st.correct, "status_503",
        (json_int_t)st.status_503, "status_4xx", (json_int_t)st.status_4xx, "status_5xx",
        (json_int_t)st.status_5xx, "conn_errors", (json_int_t)st.conn_errors, "refused",
        (json_int_t)st.refused, "elapsed_s", st.elapsed_s, "p50_s", st.p50_s, "p95_s", st.p95_s,
        "p99_s", st.p99_s, "max_s", st.max_s, "slo_s", a.slo_s, "slo_attainment_request",
        (double)st.slo_ok / n, "accuracy", (double)st.correct / okd, "where", "vm",
        (json_int_t)st.where_vm, "vm+function", (json_int_t)st.where_hybrid, "function",
        (json_int_t)st.where_function, "billed", b.ok, "cost_usd", b.usd, "vm_cost_usd", b.vm_usd,
        "function_cost_usd", b.fn_usd, "fee_usd", b.fees_usd, "vm_seconds", b.vm_s, "function_gb_s",
        b.gb_s, "invocations", b.invocations, "server_accepted", b.accepted, "server_answered",
        b.answered_ok + b.answered_failed);
    if (o) /* the figures above are this run's (metrics read before and after it) */
        json_object_set_new(o, "server_totals",
                            json_pack("{s:f,s:f,s:f}", "cost_usd", total.usd, "accepted",
                                      total.accepted, "answered",
                                      total.answered_ok + total.answered_failed));
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;
    if (s)
        printf("%s\n", s);
    else
        sf_cli_error("load", "cannot write the JSON report");
    report_ok = s != NULL;
    free(s);
    json_decref(o);
    return report_ok;
}

/* The human report of the same figures. */
static void report_text(const struct load_args *args, const struct sf_load_stats *stp,
                        const struct bill *bp, const struct bill *totalp)
{
    const struct load_args a = *args;
    const struct sf_load_stats st = *stp;
    const struct bill b = *bp, total = *totalp;
    double n = (double)(st.planned ? st.planned : 1), okd = (double)(st.ok ? st.ok : 1);
    printf("serflow load: %llu requests in %.1f s against %s\n", (unsigned long long)st.planned,
           st.elapsed_s, a.url);
    printf("  answered   %llu ok (%.2f%%), %llu invalid; %llu x 503, %llu x 4xx, %llu x 5xx, "
           "%llu connection errors\n",
           (unsigned long long)st.ok, 100.0 * (double)st.ok / n, (unsigned long long)st.invalid,
           (unsigned long long)st.status_503, (unsigned long long)st.status_4xx,
           (unsigned long long)st.status_5xx, (unsigned long long)st.conn_errors);
    printf("  latency    p50 %.4f s, p95 %.4f s, p99 %.4f s, max %.4f s (arrival to answer)\n",
           st.p50_s, st.p95_s, st.p99_s, st.max_s);
    printf("  SLO %g s   %.2f%% of requests answered within it\n", a.slo_s,
           100.0 * (double)st.slo_ok / n);
    printf("  accuracy   %.2f%% of the answers match the test set's label\n",
           100.0 * (double)st.correct / okd);
    printf("  where      %llu on a VM, %llu VM head + function tail, %llu on functions\n",
           (unsigned long long)st.where_vm, (unsigned long long)st.where_hybrid,
           (unsigned long long)st.where_function);
    if (b.ok) {
        printf("  server     this run: accepted %.0f, answered %.0f (%.0f failed)\n", b.accepted,
               b.answered_ok + b.answered_failed, b.answered_failed);
        printf("  cost       this run: $%.6f: VMs $%.6f (%.0f VM-s), functions $%.6f (%.3f "
               "GB-s, %.0f invocations, fees $%.6f)\n",
               b.usd, b.vm_usd, b.vm_s, b.fn_usd, b.gb_s, b.invocations, b.fees_usd);
        printf("             (the server's totals since it started: $%.6f, %.0f accepted; "
               "VM seconds still running are billed as if they ended now)\n",
               total.usd, total.accepted);
    } else {
        printf("  cost       (no serflow billing meters at %s/metrics)\n", a.url);
    }
}

static int load_run(int argc, char **argv)
{
    struct load_args a;
    load_defaults(&a);
    int code;
    if (sf_cli_parse_or_exit(&load_spec, argc, argv, load_store, &a, &code))
        return code;
    char model_dir[4096], trace_path[4096];
    snprintf(model_dir, sizeof(model_dir), "%s", a.model ? a.model : "");
    if (!a.model)
        snprintf(model_dir, sizeof(model_dir), "%s/models/fmnist-ee", SF_SOURCE_DIR);
    if (a.trace)
        snprintf(trace_path, sizeof(trace_path), "%s", a.trace);
    else
        sf_cli_data_path("traces/wits_libra_per_second.txt", trace_path, sizeof(trace_path));
    struct sf_err err = {{0}};
    if (a.epoch_s <= 0) {
        static struct sf_profile prof;
        if (sf_profile_load(&prof,
                            a.profile ? a.profile : sf_cli_bundled("profiles/fmnist-ee-local.json"),
                            &err) != SF_OK) {
            sf_cli_error("load", "%s", err.msg);
            return SF_EXIT_USAGE;
        }
        a.epoch_s = prof.slo_s;
    }
    if (a.slo_s <= 0)
        a.slo_s = a.epoch_s;
    struct sf_nn_model *m = NULL;
    struct sf_nn_dataset ds;
    memset(&ds, 0, sizeof(ds));
    struct sf_trace t;
    memset(&t, 0, sizeof(t));
    code = SF_EXIT_USAGE;
    double *arr = NULL;
    int *labels = NULL;
    if (sf_nn_model_load(model_dir, &m, &err) != SF_OK ||
        sf_nn_dataset_load_idx(a.images, a.labels, sf_nn_model_norm_mean(m),
                               sf_nn_model_norm_std(m), 0, &ds, &err) != SF_OK ||
        /* the model's input size (28x28 test images for a 32x32 model), else refused by name:
         * the requests are cut from these rows at the model's size */
        sf_nn_dataset_fit(&ds, m, &err) != SF_OK ||
        sf_nn_dataset_check(&ds, m, a.images, &err) != SF_OK ||
        sf_trace_load(&t, trace_path, 0, a.unit ? SF_TRACE_SECOND : SF_TRACE_EPOCH, a.epoch_s,
                      a.epochs, &err) != SF_OK) {
        sf_cli_error("load", "%s", err.msg);
        goto out;
    }
    const struct sf_nn_shape *shape = sf_nn_model_input_shape(m);
    size_t n_req = 0;
    arr = sf_load_arrivals(&t, a.rate_scale, &n_req);
    if (!arr || sf_http_global_init(&err) != SF_OK) {
        sf_cli_note("load", "out of memory");
        code = SF_EXIT_FAIL;
        goto out;
    }
    sf_cli_install_stop();
    struct sf_load_cfg c;
    memset(&c, 0, sizeof(c));
    c.url = a.url;
    c.model_name = sf_nn_model_name(m);
    c.arrival_s = arr;
    c.n_requests = n_req;
    c.time_scale = a.time_scale;
    c.images = ds.x;
    c.labels = ds.labels;
    c.n_images = ds.n;
    c.numel = sf_nn_shape_numel(shape);
    for (int d = 0; d < 3; d++)
        c.dims[d] = d < shape->ndim ? shape->dims[d] : 1;
    c.json = a.json_data;
    c.max_connections = a.connections;
    c.slo_s = a.slo_s;
    c.timeout_s = a.timeout_s;
    c.progress = a.quiet ? NULL : progress;
    c.progress_every_s = isatty(2) ? 0.5 : 5;
    c.stop = &sf_cli_stop;
    if (!a.quiet)
        sf_cli_note("load",
                    "%zu requests over %.1f s of trace (%lld epochs of %g s) "
                    "to %s",
                    n_req, (double)t.n_units * t.unit_s, (long long)t.n_epochs, a.epoch_s, a.url);
    struct bill before;
    read_bill(a.url, &before);
    if (!before.reachable) {
        sf_cli_error("load", "cannot reach %s (GET /metrics gave no answer): is serve running?",
                     a.url);
        code = SF_EXIT_FAIL;
        goto out;
    }
    struct sf_load_stats st;
    if (sf_load_run(&c, &st, &err) != SF_OK) {
        sf_cli_error("load", "%s", err.msg);
        code = SF_EXIT_FAIL;
        goto out;
    }
    if (!a.quiet && isatty(2))
        fputc('\n', stderr);
    struct bill total;
    read_bill(a.url, &total);
    struct bill b = bill_delta(&total, &before); /* this run's */
    b.ok = before.ok && total.ok;
    int report_ok = 1;
    if (a.json_out)
        report_ok = report_json(&a, &st, &b, &total);
    else
        report_text(&a, &st, &b, &total);
    /* a run is a success only when every request came back and every 200 was a valid answer;
     * nothing valid back is a failure whatever else happened */
    code = !report_ok || st.conn_errors || st.refused || st.done < st.planned || st.invalid ||
                   (st.planned && !st.ok)
               ? SF_EXIT_FAIL
               : SF_EXIT_OK;
    if (st.planned && !st.ok && !a.quiet)
        sf_cli_note("load", "no valid answer came back");
out:
    free(arr);
    free(labels);
    sf_trace_fini(&t);
    sf_nn_dataset_fini(&ds);
    sf_nn_model_free(m);
    return code;
}

const struct sf_cli_command sf_cli_load_command = {&load_spec, load_check, load_run};
