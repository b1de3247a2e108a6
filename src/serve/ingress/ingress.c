/*
 * ingress.c - `serflow serve`: the Open Inference Protocol v2 endpoints over libmicrohttpd,
 * admission (body size, shape, a bounded queue: 503 + Retry-After when full; connection cap and
 * idle timeout against slow clients), request ids and the result table (exactly one answer per
 * admitted request: a result for an id already answered is dropped), /metrics with the bill,
 * and the lifecycle: start the function runtime and the provider, run the control loop
 * (control.c), and on stop: refuse new connections, answer everything admitted, stop every child.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

/* Latency histogram bounds (s): from 1 ms to 60 s, denser around sub-second SLOs. */
static const double LATENCY_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15,
                                         0.2,   0.3,    0.5,   1,    2,     5,    10,    30,  60};
/* Time to wait for the function runtime and its readiness line at start-up. */
#define LAMBDA_START_TIMEOUT_S 30.0

static void count_result(struct sf__server *s, const struct sf__item *it,
                         const struct sf_serve_result *r, double now)
{
    char lab[64];
    sf_metrics_add(s->metrics, s->mid.answered, r->status ? "outcome=\"failed\"" : "outcome=\"ok\"",
                   1);
    double lat = now - it->arrival_s;
    sf_metrics_observe(s->metrics, s->mid.latency, "", lat);
    if (r->status)
        return;
    if (lat <= s->cfg->bind->env.ctl.epoch_s)
        sf_metrics_add(s->metrics, s->mid.slo_ok, "", 1);
    snprintf(lab, sizeof(lab), "stage=\"%d\"", r->exit_stage);
    sf_metrics_add(s->metrics, s->mid.exit_stage, lab, 1);
    const char *where = r->cut == 0 ? "function" : r->exit_stage <= r->cut ? "vm" : "vm+function";
    snprintf(lab, sizeof(lab), "where=\"%s\"", where);
    sf_metrics_add(s->metrics, s->mid.where, lab, 1);
}

/* Stores one result (mu held); drops duplicates and unknown ids. */
static void deliver_one(struct sf__server *s, const struct sf_serve_result *r, double now)
{
    struct sf__item *it = &s->table[r->id % s->table_cap];
    if (it->id != r->id || !it->owner)
        return; /* answered already (a late duplicate), or never admitted */
    struct sf__pending *p = it->owner;
    p->res[it->idx] = *r;
    p->failed |= r->status != 0;
    count_result(s, it, r, now);
    it->id = 0;
    it->owner = NULL;
    s->unanswered--;
    if (++p->answered == p->n)
        pthread_cond_signal(&p->cv);
}

void sf__server_deliver(struct sf__server *s, const struct sf_serve_result *r, size_t n)
{
    pthread_mutex_lock(&s->mu);
    double now = sf__server_now(s);
    for (size_t i = 0; i < n; i++)
        deliver_one(s, &r[i], now);
    pthread_cond_signal(&s->ctl_cv);
    pthread_mutex_unlock(&s->mu);
}

void sf__server_fail_batch(struct sf__server *s, const struct sf__batch *b)
{
    pthread_mutex_lock(&s->mu);
    double now = sf__server_now(s);
    for (size_t i = 0; i < b->n; i++) {
        struct sf_serve_result r;
        memset(&r, 0, sizeof(r));
        r.id = b->ids[i];
        r.status = 1;
        r.label = -1;
        r.num_classes = s->num_classes;
        deliver_one(s, &r, now);
    }
    pthread_cond_signal(&s->ctl_cv);
    pthread_mutex_unlock(&s->mu);
}

/* Admits n images of one request; returns 0, or the HTTP status of the refusal (mu not held). */
static int admit(struct sf__server *s, struct sf__pending *p, int *retry_after_s)
{
    pthread_mutex_lock(&s->mu);
    if (s->draining || *s->stop) {
        pthread_mutex_unlock(&s->mu);
        *retry_after_s = 1;
        return 503;
    }
    /* every image needs a queue place and a free result slot */
    int room = s->q_len + p->n <= s->q_cap;
    for (size_t i = 0; room && i < p->n; i++)
        room = s->table[(s->next_id + 1 + i) % s->table_cap].id == 0;
    if (!room) {
        pthread_mutex_unlock(&s->mu);
        sf_metrics_add(s->metrics, s->mid.rejected, "reason=\"queue_full\"", (double)p->n);
        /* the queue drains within about one SLO interval */
        *retry_after_s = (int)ceil(s->cfg->bind->env.ctl.epoch_s);
        return 503;
    }
    double now = sf__server_now(s);
    for (size_t i = 0; i < p->n; i++) {
        sf__control_admit(s, now); /* the open batch may have to leave first */
        uint64_t id = ++s->next_id;
        struct sf__item *it = &s->table[id % s->table_cap];
        it->id = id;
        it->arrival_s = now;
        it->owner = p;
        it->idx = i;
        s->queue[(s->q_head + s->q_len) % s->q_cap] = it;
        s->q_len++;
        s->unanswered++;
    }
    sf_metrics_add(s->metrics, s->mid.accepted, "", (double)p->n);
    sf__control_arrived(s, now);
    while (p->answered < p->n)
        pthread_cond_wait(&p->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void handle_infer(struct sf__server *s, const struct sf__httpd_req *req,
                         struct sf__httpd_resp *resp)
{
    struct sf_err err = {{0}};
    const char *hl = sf__httpd_req_header(req, "Inference-Header-Content-Length");
    size_t json_len = req->len;
    const void *bin = NULL;
    size_t bin_len = 0;
    if (hl) {
        char *end;
        unsigned long long v = strtoull(hl, &end, 10);
        if (*end || v > req->len) {
            sf_metrics_add(s->metrics, s->mid.rejected, "reason=\"bad_request\"", 1);
            sf__httpd_error(resp, 400,
                            "Inference-Header-Content-Length: %.32s is not a length "
                            "within the %zu-byte body",
                            hl, req->len);
            return;
        }
        json_len = (size_t)v;
        bin = req->body + json_len;
        bin_len = req->len - json_len;
    }
    struct sf_oip_request oip;
    int rc = sf_oip_parse_request(req->body ? req->body : "", json_len, bin, bin_len,
                                  sf_nn_model_input_shape(s->model), (size_t)s->cfg->max_images,
                                  &oip, &err);
    if (rc != SF_OK) {
        sf_metrics_add(s->metrics, s->mid.rejected,
                       rc == SF_ETOOBIG ? "reason=\"too_many_images\"" : "reason=\"bad_request\"",
                       1);
        sf__httpd_error(resp, rc == SF_ETOOBIG ? 413 : 400, "%s", err.msg);
        return;
    }
    struct sf__pending p;
    memset(&p, 0, sizeof(p));
    p.n = oip.n;
    p.x = oip.x;
    p.res = calloc(oip.n, sizeof(*p.res));
    pthread_cond_init(&p.cv, NULL);
    int retry = 0;
    int status = p.res ? admit(s, &p, &retry) : 500;
    if (status == 503) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry);
        sf__httpd_header(resp, "Retry-After", ra);
        sf__httpd_error(resp, 503, "queue full (%zu requests admitted and waiting); retry later",
                        s->q_cap);
    } else if (status) {
        sf__httpd_error(resp, 500, "out of memory");
    } else if (p.failed) {
        sf__httpd_error(resp, 502,
                        "inference failed: the function path failed twice (crash or "
                        "timeout) for this request");
    } else {
        char *body = sf_oip_response_json(sf_nn_model_name(s->model), oip.id, p.res, p.n);
        if (body)
            sf__httpd_json(resp, 200, body);
        else
            sf__httpd_error(resp, 500, "out of memory");
    }
    pthread_cond_destroy(&p.cv);
    free(p.res);
    sf_oip_request_fini(&oip);
}

static void handle_model_meta(struct sf__server *s, struct sf__httpd_resp *resp)
{
    const struct sf_nn_shape *sh = sf_nn_model_input_shape(s->model);
    char buf[1024];
    snprintf(
        buf, sizeof(buf),
        "{\"name\":\"%s\",\"versions\":[\"1\"],\"platform\":\"serflow-ee-onnx\","
        "\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[-1,%lld,%lld,%lld]}],"
        "\"outputs\":[{\"name\":\"label\",\"datatype\":\"INT64\",\"shape\":[-1]},"
        "{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":[-1,%d]},"
        "{\"name\":\"exit_stage\",\"datatype\":\"INT32\",\"shape\":[-1]},"
        "{\"name\":\"where\",\"datatype\":\"BYTES\",\"shape\":[-1]}]}",
        sf_nn_model_name(s->model), (long long)sh->dims[0],
        (long long)(sh->ndim > 1 ? sh->dims[1] : 1), (long long)(sh->ndim > 2 ? sh->dims[2] : 1),
        s->num_classes);
    sf__httpd_json(resp, 200, sf_strdup(buf));
}

/* Reads the function runtime's bill from its /metrics. */
static void function_bill(struct sf__server *s, struct sf_meter *m)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/metrics", s->lambda_url);
    long status = 0;
    char *text = NULL;
    size_t len = 0;
    struct sf_err err = {{0}};
    if (sf_http_request(NULL, url, NULL, 0, NULL, 2.0, &status, &text, &len, NULL, &err) != SF_OK ||
        status != 200 || !text) {
        free(text);
        return;
    }
    double v;
    if (sf_metrics_scrape(text, "serflow_function_gigabyte_seconds_total", "", &v) == SF_OK)
        m->fn_gb_s = v;
    if (sf_metrics_scrape(text, "serflow_function_fees_usd_total", "", &v) == SF_OK)
        m->fee_usd = v;
    if (sf_metrics_scrape(text, "serflow_function_cost_usd_total", "", &v) == SF_OK)
        m->fn_usd = v - m->fee_usd;
    if (sf_metrics_scrape(text, "serflow_function_billed_invocations_total", "", &v) == SF_OK)
        m->invocations = (uint64_t)v;
    free(text);
}

static void handle_metrics(struct sf__server *s, struct sf__httpd_resp *resp)
{
    struct sf_meter m;
    memset(&m, 0, sizeof(m));
    pthread_mutex_lock(&s->mu);
    if (s->have_cloud)
        s->cloud.ops->bill(s->cloud.ctx, sf__server_now(s), &m);
    int failures = s->have_cloud ? s->cloud.ops->failures(s->cloud.ctx) : 0;
    pthread_mutex_unlock(&s->mu);
    function_bill(s, &m);
    const struct sf_pricing *p = s->cfg->price;
    for (size_t v = 0; v < p->n_vm; v++) {
        char lab[96];
        snprintf(lab, sizeof(lab), "type=\"%s\"", p->vm[v].name);
        sf_metrics_set(s->metrics, s->mid.bill_vm_s, lab, m.vm_s[v]);
    }
    sf_metrics_set(s->metrics, s->mid.bill_vm_usd, "", m.vm_usd);
    sf_metrics_set(s->metrics, s->mid.bill_fn_gb_s, "", m.fn_gb_s);
    sf_metrics_set(s->metrics, s->mid.bill_fn_inv, "", (double)m.invocations);
    sf_metrics_set(s->metrics, s->mid.bill_fn_usd, "", m.fn_usd + m.fee_usd);
    sf_metrics_set(s->metrics, s->mid.bill_fees_usd, "", m.fee_usd);
    sf_metrics_set(s->metrics, s->mid.bill_usd, "", sf_meter_total_usd(&m));
    sf_metrics_set(s->metrics, s->mid.inst_failures, "", failures);
    size_t len;
    char *t = sf_metrics_render(s->metrics, &len);
    if (!t) {
        sf__httpd_error(resp, 500, "out of memory");
        return;
    }
    resp->status = 200;
    resp->body = t;
    resp->len = len;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void ingress_handler(void *ctx, const struct sf__httpd_req *req, struct sf__httpd_resp *resp)
{
    struct sf__server *s = ctx;
    const char *u = req->url, *name = sf_nn_model_name(s->model);
    static const char pre[] = "/v2/models/";
    int get = !strcmp(req->method, "GET");
    if (!strcmp(u, "/v2/health/live") && get) {
        sf__httpd_json(resp, 200, sf_strdup("{\"live\":true}"));
    } else if (!strcmp(u, "/v2/health/ready") && get) {
        int draining = *s->stop != 0;
        sf__httpd_json(resp, draining ? 503 : 200,
                       sf_strdup(draining ? "{\"ready\":false}" : "{\"ready\":true}"));
    } else if (!strcmp(u, "/v2") && get) {
        sf__httpd_json(resp, 200,
                       sf_strdup("{\"name\":\"serflow\",\"version\":\"1\",\"extensions\":"
                                 "[\"binary_tensor_data\"]}"));
    } else if (!strcmp(u, "/metrics") && get) {
        handle_metrics(s, resp);
    } else if (!strncmp(u, pre, sizeof(pre) - 1)) {
        const char *m = u + sizeof(pre) - 1;
        const char *slash = strchr(m, '/');
        size_t ml = slash ? (size_t)(slash - m) : strlen(m);
        const char *rest = slash ? slash : "";
        if (ml != strlen(name) || strncmp(m, name, ml) != 0) {
            sf_metrics_add(s->metrics, s->mid.rejected, "reason=\"unknown_model\"", 1);
            sf__httpd_error(resp, 404, "model '%.*s' not found (this server serves '%s')",
                            (int)(ml < 128 ? ml : 128), m, name);
        } else if (!strcmp(rest, "/infer") && !strcmp(req->method, "POST")) {
            handle_infer(s, req, resp);
        } else if (!*rest && get) {
            handle_model_meta(s, resp);
        } else if (!strcmp(rest, "/ready") && get) {
            sf__httpd_json(resp, 200, sf_strdup("{\"ready\":true}"));
        } else {
            sf__httpd_error(resp, 404, "%s %s: no such endpoint", req->method, u);
        }
    } else {
        sf__httpd_error(resp, 404, "%s %s: no such endpoint", req->method, u);
    }
}

static int declare_metrics(struct sf__server *s, struct sf_err *err)
{
    struct sf_metrics *m = s->metrics;
    struct sf__metrics_ids *d = &s->mid;
    struct {
        int *id;
        const char *name;
        enum sf_metric_type type;
        const char *help;
    } f[] = {
        {&d->accepted, "serflow_requests_accepted_total", SF_METRIC_COUNTER,
         "Requests (images) admitted."},
        {&d->answered, "serflow_requests_answered_total", SF_METRIC_COUNTER,
         "Admitted requests answered, by outcome."},
        {&d->rejected, "serflow_requests_rejected_total", SF_METRIC_COUNTER,
         "Requests refused at admission, by reason."},
        {&d->exit_stage, "serflow_requests_exit_stage_total", SF_METRIC_COUNTER,
         "Answered requests by the stage they left the network at."},
        {&d->where, "serflow_requests_where_total", SF_METRIC_COUNTER,
         "Answered requests by where they ran."},
        {&d->latency, "serflow_request_latency_seconds", SF_METRIC_HISTOGRAM,
         "Admission to answer."},
        {&d->slo_ok, "serflow_requests_slo_ok_total", SF_METRIC_COUNTER,
         "Requests answered within the SLO of their arrival."},
        {&d->batches, "serflow_batches_total", SF_METRIC_COUNTER, "Batches dispatched, by path."},
        {&d->redispatch, "serflow_batches_redispatched_total", SF_METRIC_COUNTER,
         "Batches of a failed worker sent again to functions."},
        {&d->fn_retries, "serflow_function_retries_total", SF_METRIC_COUNTER,
         "Function invocations retried after a failure."},
        {&d->fn_throttled, "serflow_function_throttled_total", SF_METRIC_COUNTER,
         "Function invocations refused at the concurrency cap (429) and tried again."},
        {&d->instances, "serflow_instances", SF_METRIC_GAUGE, "Instances by state."},
        {&d->target, "serflow_instances_target", SF_METRIC_GAUGE,
         "The policy's last instance target."},
        {&d->launches, "serflow_instance_launches_total", SF_METRIC_COUNTER, "Instances launched."},
        {&d->inst_failures, "serflow_instance_failures", SF_METRIC_GAUGE,
         "Instances that exited without being asked."},
        {&d->queue, "serflow_queue_depth", SF_METRIC_GAUGE, "Admitted requests not dispatched."},
        {&d->epoch, "serflow_epoch", SF_METRIC_GAUGE, "Controller epoch."},
        {&d->bill_vm_s, "serflow_bill_vm_seconds", SF_METRIC_GAUGE,
         "Billed VM seconds by type (per second, minimum per launch; running ones so far)."},
        {&d->bill_vm_usd, "serflow_bill_vm_usd", SF_METRIC_GAUGE, "VM cost."},
        {&d->bill_fn_gb_s, "serflow_bill_function_gigabyte_seconds", SF_METRIC_GAUGE,
         "Billed function GB-seconds (1 ms rounding)."},
        {&d->bill_fn_inv, "serflow_bill_function_invocations", SF_METRIC_GAUGE,
         "Billed function invocations."},
        {&d->bill_fn_usd, "serflow_bill_function_usd", SF_METRIC_GAUGE,
         "Function cost, request fees included."},
        {&d->bill_fees_usd, "serflow_bill_function_fees_usd", SF_METRIC_GAUGE, "Request fees."},
        {&d->bill_usd, "serflow_bill_usd", SF_METRIC_GAUGE, "Estimated total cost."},
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(f); i++) {
        int hist = f[i].type == SF_METRIC_HISTOGRAM;
        *f[i].id =
            sf_metrics_family(m, f[i].name, f[i].type, f[i].help, hist ? LATENCY_BUCKETS : NULL,
                              hist ? SF_ARRAY_LEN(LATENCY_BUCKETS) : 0);
        if (*f[i].id < 0)
            return sf_err_set(err, SF_EINVAL, "metrics: cannot declare %s", f[i].name);
    }
    /* the outcomes exist from the start, so accepted = answered can be read at once */
    sf_metrics_add(m, d->answered, "outcome=\"ok\"", 0);
    sf_metrics_add(m, d->answered, "outcome=\"failed\"", 0);
    sf_metrics_add(m, d->accepted, "", 0);
    return SF_OK;
}

static int start_lambda(struct sf__server *s, const char *exe, struct sf_err *err)
{
    const struct sf_serve_cfg *c = s->cfg;
    if (c->lambda_url) {
        snprintf(s->lambda_url, sizeof(s->lambda_url), "%s", c->lambda_url);
        return SF_OK;
    }
    char mem[16], tau[32], to[32], idle[32], delay[32], conc[16], fd[16];
    snprintf(mem, sizeof(mem), "%d", c->bind->path.fn_mem_mb);
    snprintf(tau, sizeof(tau), "%.17g", c->bind->tau);
    snprintf(to, sizeof(to), "%.9g", c->fn_timeout_s);
    snprintf(idle, sizeof(idle), "%.9g", c->fn_idle_timeout_s / c->time_scale);
    snprintf(delay, sizeof(delay), "%.9g", c->fn_cold_start_delay_s / c->time_scale);
    snprintf(conc, sizeof(conc), "%d", c->fn_concurrency);
    snprintf(fd, sizeof(fd), "%d", SF_PROC_READY_FD);
    char *argv[] = {(char *)exe,
                    "lambda",
                    "--model",
                    (char *)c->model_dir,
                    "--function",
                    (char *)sf_nn_model_name(s->model),
                    "--memory-mb",
                    mem,
                    "--tau",
                    tau,
                    "--timeout-s",
                    to,
                    "--idle-timeout-s",
                    idle,
                    "--cold-start-delay-s",
                    delay,
                    "--concurrency",
                    conc,
                    "--ready-fd",
                    fd,
                    NULL,
                    NULL,
                    NULL};
    if (c->fn_fault) {
        size_t k = SF_ARRAY_LEN(argv) - 3;
        argv[k] = "--fault";
        argv[k + 1] = (char *)c->fn_fault;
    }
    int rc = sf_proc_spawn(&s->lambda, argv, NULL, err);
    if (rc != SF_OK)
        return rc;
    double t0 = sf_monotonic_s();
    while (!sf_proc_poll_ready(&s->lambda)) {
        if (sf_proc_reap(&s->lambda) || sf_monotonic_s() - t0 > LAMBDA_START_TIMEOUT_S)
            return sf_err_set(err, SF_EIO, "the function runtime (serflow lambda) did not start");
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    snprintf(s->lambda_url, sizeof(s->lambda_url), "http://%s", s->lambda.endpoint);
    return SF_OK;
}

static int start_cloud(struct sf__server *s, const char *exe, struct sf_err *err)
{
    const struct sf_serve_cfg *c = s->cfg;
    char cut[16], tau[32], k[16], to[32], delay[32];
    snprintf(delay, sizeof(delay), "%.9g", c->worker_fault_delay_s);
    snprintf(cut, sizeof(cut), "%d", c->bind->path.has_instances ? c->bind->path.cut : s->n_stages);
    snprintf(tau, sizeof(tau), "%.17g", c->bind->tau);
    snprintf(k, sizeof(k), "%d", c->bind->path.tail_fanout > 0 ? c->bind->path.tail_fanout : 1);
    snprintf(to, sizeof(to), "%.9g", c->fn_timeout_s);
    char *argv[] = {(char *)exe,
                    "worker",
                    "--model",
                    (char *)c->model_dir,
                    "--cut",
                    cut,
                    "--tau",
                    tau,
                    "--fanout",
                    k,
                    "--function-url",
                    s->lambda_url,
                    "--function",
                    (char *)sf_nn_model_name(s->model),
                    "--function-timeout-s",
                    to,
                    "--backend",
                    (char *)sf_nn_backend_name(c->backend),
                    "--fault-delay-s",
                    delay,
                    NULL};
    struct sf_cloud_local_cfg lc = {argv, c->price, 2.0};
    int rc = c->n_worker_urls
                 ? sf_cloud_static_new(&s->cloud, c->worker_urls, c->n_worker_urls, c->price, err)
                 : sf_cloud_local_new(&s->cloud, &lc, err);
    s->have_cloud = rc == SF_OK;
    return rc;
}

int sf_serve_run(struct sf_serve_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err)
{
    struct sf__server *s = calloc(1, sizeof(*s));
    if (!s)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    s->cfg = cfg;
    s->stop = stop;
    s->t0 = sf_monotonic_s();
    s->lambda.ready_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->ctl_cv, NULL);
    pthread_cond_init(&s->fn_cv, NULL);
    char exe[4096];
    pthread_t ctl;
    int have_ctl = 0;
    int rc = sf_nn_model_load(cfg->model_dir, &s->model, err);
    if (rc == SF_OK) {
        s->numel = sf_nn_shape_numel(sf_nn_model_input_shape(s->model));
        s->n_stages = sf_nn_model_num_stages(s->model);
        s->num_classes = sf_nn_model_num_classes(s->model);
        s->q_cap = (size_t)cfg->queue_cap;
        s->queue = calloc(s->q_cap, sizeof(*s->queue));
        /* ids of admitted requests stay in the table until answered: room for the queue plus
         * what can be in flight (every instance and dispatcher a batch, several times over) */
        s->table_cap = 4 * (s->q_cap + (size_t)cfg->bind->env.ctl.batch_size *
                                           (SF_CLOUD_MAX_INSTANCES + (size_t)cfg->fn_dispatchers));
        s->table = calloc(s->table_cap, sizeof(*s->table));
        s->metrics = sf_metrics_new();
        if (!s->queue || !s->table || !s->metrics)
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    if (rc == SF_OK)
        rc = declare_metrics(s, err);
    if (rc == SF_OK)
        rc = sf__control_init(s, err);
    if (rc == SF_OK)
        rc = sf_proc_self_exe(exe, sizeof(exe), err);
    if (rc == SF_OK)
        rc = start_lambda(s, exe, err);
    if (rc == SF_OK) {
        snprintf(s->invoke_url, sizeof(s->invoke_url), "%s/2015-03-31/functions/%s/invocations",
                 s->lambda_url, sf_nn_model_name(s->model));
        rc = start_cloud(s, exe, err);
    }
    if (rc == SF_OK)
        rc = sf__fn_dispatchers_start(s, cfg->fn_dispatchers, err);
    if (rc == SF_OK) {
        if (pthread_create(&ctl, NULL, sf__control_main, s) != 0)
            rc = sf_err_set(err, SF_EIO, "cannot start the control thread");
        else
            have_ctl = 1;
    }
    if (rc == SF_OK) {
        struct sf__httpd_cfg hc = {cfg->host,
                                   cfg->port,
                                   (unsigned)cfg->max_connections,
                                   (unsigned)cfg->idle_timeout_s,
                                   cfg->max_body_bytes,
                                   ingress_handler,
                                   s};
        rc = sf__httpd_start(&s->httpd, &hc, err);
    }
    if (rc == SF_OK) {
        cfg->bound_port = sf__httpd_port(s->httpd);
        if (sf_proc_announce_ready(cfg->ready_fd, cfg->host, cfg->bound_port) != SF_OK)
            rc = sf_err_set(err, SF_EIO, "cannot write the readiness line");
        else if (cfg->on_ready)
            cfg->on_ready(cfg->on_ready_ctx, cfg->host, cfg->bound_port);
    }
    while (rc == SF_OK && !*stop) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* stop: no new connections; the control loop answers everything admitted, then returns */
    sf__httpd_quiesce(s->httpd);
    if (have_ctl) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_signal(&s->ctl_cv);
        pthread_mutex_unlock(&s->mu);
        if (rc != SF_OK)
            *stop = 1;
        pthread_join(ctl, NULL);
    }
    sf__httpd_stop(s->httpd); /* connection threads have their answers: they finish */
    sf__fn_dispatchers_stop(s);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        sf__inst_join(s, i);
    if (s->have_cloud)
        s->cloud.ops->shutdown(s->cloud.ctx, sf__server_now(s));
    if (s->lambda.pid > 0)
        sf_proc_stop(&s->lambda, 3.0);
    sf__control_fini(s);
    cfg->accepted = (uint64_t)sf_metrics_get(s->metrics, s->mid.accepted, "");
    cfg->answered = (uint64_t)(sf_metrics_get(s->metrics, s->mid.answered, "outcome=\"ok\"") +
                               sf_metrics_get(s->metrics, s->mid.answered, "outcome=\"failed\""));
    sf_metrics_free(s->metrics);
    free(s->queue);
    free(s->table);
    sf_nn_model_free(s->model);
    pthread_cond_destroy(&s->ctl_cv);
    pthread_cond_destroy(&s->fn_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return rc;
}
