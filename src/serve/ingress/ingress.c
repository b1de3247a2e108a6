/*
 * ingress.c - `serflow serve`: the Open Inference Protocol v2 endpoints on the event-driven
 * data plane (wire/ev.h: event loops, no thread per connection, every bound against slow and
 * hostile clients; a parse's memory reserved from the process's budget before it is built),
 * readiness that reflects a broken path, /metrics with the bill as counters, and the lifecycle:
 * identities for the children, the function runtime (runtime.c) and the provider started, the
 * control loop (control.c) run, and on stop: readiness 503 for a grace period while still serving,
 * then no new connections, every admitted request answered (admit.c: by its deadline at the
 * latest), every answer written, every child stopped.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "server.h"
#include "serflow/log.h"
#include "serflow/worker.h"

/* Latency histogram bounds (s): from 1 ms to 60 s, denser around sub-second SLOs. */
static const double LATENCY_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15,
                                         0.2,   0.3,    0.5,   1,    2,     5,    10,    30,  60};
/* Default deadline of a request, in SLO intervals: far beyond any path's worst case (a cold
 * start and a retry), short enough that a stuck request frees its slot. */
#define DEFAULT_DEADLINE_SLOS 50.0
/* Longest wait at stop for the answers of admitted requests to be written. */
#define HTTP_DRAIN_S 5.0
/* Readiness: consecutive VM launches that never became ready before a path of VMs alone (no
 * spill) is reported broken. */
#define LAUNCH_FAILS_DOWN 3

static int reserve_cb(void *ctx, size_t bytes)
{
    return sf__ev_reserve(ctx, bytes);
}

/* A refusal of an inference request before admission: counted under reason, answered now. */
static void refuse_infer(struct sf__server *s, struct sf__ev_req *req, struct sf__httpd_resp *resp,
                         struct sf__pending *p, const char *reason, struct sf__access *acc)
{
    if (reason)
        sf_metrics_add(s->metrics, s->mid.rejected, reason, 1);
    sf__pending_free(p);
    sf__ingress_respond(s, req, resp, acc);
}

/* POST /v2/models/NAME[/versions/1]/infer, on the event loop that read it: its body inflated when
 * compressed (within the body cap and the budget), parsed in place (the binary extension's floats
 * stay in the body), admitted, and handed to the batcher, which may send the batch (or run it
 * in-process) from this very thread; the answer is written by whichever thread finishes the
 * request's last image (admit.c). */
static void handle_infer(struct sf__server *s, struct sf__ev_req *req, struct sf__access *acc)
{
    struct sf_err err = {{0}};
    struct sf__httpd_resp resp;
    memset(&resp, 0, sizeof(resp));
    struct sf__pending *p = calloc(1, sizeof(*p));
    if (!p) {
        sf__httpd_error(&resp, 500, "out of memory");
        refuse_infer(s, req, &resp, NULL, NULL, acc);
        return;
    }
    /* a compressed body is inflated first, within the body cap and the process's budget */
    size_t len = req->len;
    int rc = sf_oip_decode_body(sf__ev_header(req, "Content-Encoding"), req->body, req->len,
                                s->cfg->max_body_bytes, reserve_cb, req, &p->decoded, &len, &err);
    if (rc != SF_OK) {
        int status = rc == SF_EUNSUPPORTED ? 415
                     : rc == SF_ETOOBIG    ? 413
                     : rc == SF_ENOMEM     ? 503
                                           : 400;
        if (status == 415)
            sf__httpd_header(&resp, "Accept-Encoding", SF_OIP_ACCEPT_ENCODING);
        if (status == 503)
            sf__httpd_header(&resp, "Retry-After", "1");
        sf__httpd_error(&resp, status, "%s", err.msg);
        refuse_infer(s, req, &resp, p,
                     status == 415   ? "reason=\"unsupported_encoding\""
                     : status == 503 ? "reason=\"busy\""
                                     : "reason=\"bad_request\"",
                     acc);
        return;
    }
    if (!p->decoded)
        len = req->len;
    const char *body = p->decoded ? p->decoded : req->body ? req->body : "";
    const char *hl = sf__ev_header(req, "Inference-Header-Content-Length");
    size_t json_len = len;
    const void *bin = NULL;
    size_t bin_len = 0;
    if (hl) {
        char *end;
        unsigned long long v = strtoull(hl, &end, 10);
        if (*end || !*hl || v > len) {
            sf__httpd_error(&resp, 400,
                            "Inference-Header-Content-Length: %.32s is not a length "
                            "within the %zu-byte body",
                            hl, len);
            refuse_infer(s, req, &resp, p, "reason=\"bad_request\"", acc);
            return;
        }
        json_len = (size_t)v;
        bin = body + json_len;
        bin_len = len - json_len;
    }
    /* the same header as this loop's last request: its parse again, the floats checked */
    const struct sf_nn_shape *shape = sf_nn_model_input_shape(s->model);
    size_t max_n = (size_t)s->cfg->max_images;
    struct sf_oip_cache *cache = &s->oip_cache[req->loop];
    rc = sf_oip_cache_parse(cache, body, json_len, bin, bin_len, shape, max_n, &p->oip, &err);
    if (rc == SF_ENOTFOUND) {
        /* the parse's memory (tree, tensor) is bounded from the body's size before it is built,
         * and taken from the process's budget */
        if (sf__ev_reserve(req, sf_oip_parse_bytes(body, json_len, bin_len, max_n, s->numel)) !=
            0) {
            sf__httpd_header(&resp, "Retry-After", "1");
            sf__httpd_error(&resp, 503,
                            "server busy: no memory to parse a %zu-byte request; retry later", len);
            refuse_infer(s, req, &resp, p, "reason=\"busy\"", acc);
            return;
        }
        rc = sf_oip_parse_request_ref(body, json_len, bin, bin_len, shape, max_n, &p->oip, &err);
        if (rc == SF_OK)
            sf_oip_cache_put(cache, body, json_len, bin_len, shape, max_n, &p->oip);
    }
    if (rc == SF_OK && !(p->res = calloc(p->oip.n, sizeof(*p->res))))
        rc = sf_err_set(&err, SF_ENOMEM, "out of memory");
    if (rc != SF_OK) {
        sf__httpd_error(&resp, rc == SF_ETOOBIG ? 413 : rc == SF_ENOMEM ? 500 : 400, "%s", err.msg);
        refuse_infer(s, req, &resp, p,
                     rc == SF_ETOOBIG  ? "reason=\"too_many_images\""
                     : rc == SF_ENOMEM ? NULL
                                       : "reason=\"bad_request\"",
                     acc);
        return;
    }
    acc->images = p->oip.n;
    p->n = p->oip.n;
    p->req = req;
    p->acc = *acc;
    int retry = 0, loop = req->loop;
    pthread_mutex_lock(&s->mu);
    int draining = s->draining || *s->stop;
    int status = sf__server_admit(s, p, &retry);
    /* from here p belongs to the server unless refused: its answer may be written before this
     * thread gets the lock back */
    sf__server_unlock(s);
    if (!status) {
        s->loop_admitted[loop] = 1; /* req may be answered already */
        return;
    }
    if (status == 503) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry);
        sf__httpd_header(&resp, "Retry-After", ra);
        sf__httpd_error(&resp, 503, "%s",
                        draining ? "draining: this server is stopping; retry elsewhere"
                                 : "queue full: retry later");
    } else {
        sf__httpd_error(&resp, 413, "%zu images: more than the admission queue holds", p->n);
    }
    refuse_infer(s, req, &resp, p, NULL, acc); /* counted by sf__server_admit */
}

static void handle_model_meta(struct sf__server *s, struct sf__httpd_resp *resp)
{
    const struct sf_nn_shape *sh = sf_nn_model_input_shape(s->model);
    json_t *shape = json_array();
    json_array_append_new(shape, json_integer(-1));
    for (int d = 0; d < sh->ndim; d++)
        json_array_append_new(shape, json_integer(sh->dims[d]));
    /* built, not printed: a model name with a quote stays one string */
    json_t *o = json_pack(
        "{s:s,s:[s],s:s,s:[{s:s,s:s,s:o}],s:[{s:s,s:s,s:[i]},{s:s,s:s,s:[i,i]},{s:s,s:s,s:[i]},"
        "{s:s,s:s,s:[i]}]}",
        "name", sf_nn_model_name(s->model), "versions", SF_OIP_MODEL_VERSION, "platform",
        "serflow-ee-onnx", "inputs", "name", SF_OIP_INPUT_NAME, "datatype", "FP32", "shape", shape,
        "outputs", "name", "label", "datatype", "INT64", "shape", -1, "name", "probabilities",
        "datatype", "FP32", "shape", -1, s->num_classes, "name", "exit_stage", "datatype", "INT32",
        "shape", -1, "name", "where", "datatype", "BYTES", "shape", -1);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body)
        sf__httpd_json(resp, 200, body);
    else
        sf__httpd_error(resp, 500, "could not build the model's metadata");
}

/* Why the server is not ready, or NULL when it is. */
static const char *not_ready(struct sf__server *s, char *buf, size_t size)
{
    if (s->stopping)
        return "draining: this server is stopping";
    pthread_mutex_lock(&s->bill_mu);
    int up = s->rt.up, ready = s->rt.ready, restarts = s->rt.restarts;
    pthread_mutex_unlock(&s->bill_mu);
    int fn_path = !s->cfg->no_spill || !s->cfg->bind->path.has_instances;
    if (fn_path && !up) {
        snprintf(buf, size, "the function runtime is down (restarting with back-off; %d restarts)",
                 restarts);
        return buf;
    }
    if (fn_path && !ready)
        return "function instances fail to start";
    pthread_mutex_lock(&s->mu);
    int failing = s->have_cloud ? s->cloud.ops->failing(s->cloud.ctx) : 0;
    int ready_inst = 0;
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        ready_inst += s->inst[i].used && s->inst[i].state == SF_CLOUD_READY;
    pthread_mutex_unlock(&s->mu);
    if (!fn_path && failing >= LAUNCH_FAILS_DOWN && !ready_inst) {
        snprintf(buf, size, "VM workers fail to start (%d launches in a row)", failing);
        return buf;
    }
    return NULL;
}

static void handle_ready(struct sf__server *s, struct sf__httpd_resp *resp)
{
    char buf[160];
    const char *why = not_ready(s, buf, sizeof(buf));
    json_t *o =
        why ? json_pack("{s:b,s:s}", "ready", 0, "reason", why) : json_pack("{s:b}", "ready", 1);
    sf__httpd_json(resp, why ? 503 : 200, o ? json_dumps(o, JSON_COMPACT) : NULL);
    json_decref(o);
}

/* Sets a bill counter to v, never below a value shown before (mu not needed: bill_mu). */
static void bill_counter(struct sf__server *s, int family, const char *labels, int k, double v)
{
    if (k >= 0) {
        pthread_mutex_lock(&s->bill_mu);
        if (v < s->bill_last[k])
            v = s->bill_last[k];
        s->bill_last[k] = v;
        pthread_mutex_unlock(&s->bill_mu);
    }
    sf_metrics_set(s->metrics, family, labels, v);
}

/* A Prometheus label value (quotes, backslashes and newlines escaped) into out. */
static void label_value(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 3 < size; in++) {
        if (*in == '"' || *in == '\\' || *in == '\n') {
            out[o++] = '\\';
            out[o++] = *in == '\n' ? 'n' : *in;
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static void handle_metrics(struct sf__server *s, struct sf__httpd_resp *resp)
{
    struct sf_meter m;
    memset(&m, 0, sizeof(m));
    pthread_mutex_lock(&s->mu);
    if (s->have_cloud)
        s->cloud.ops->bill(s->cloud.ctx, sf__server_now(s), &m);
    int failures = s->have_cloud ? s->cloud.ops->failures(s->cloud.ctx) : 0;
    int failing = s->have_cloud ? s->cloud.ops->failing(s->cloud.ctx) : 0;
    struct sf_cloud_api api;
    memset(&api, 0, sizeof(api));
    if (s->have_cloud && s->cloud.ops->api)
        s->cloud.ops->api(s->cloud.ctx, &api);
    double unanswered = (double)s->unanswered;
    pthread_mutex_unlock(&s->mu);
    sf__runtime_bill(s, &m);
    const struct sf_pricing *p = s->cfg->price;
    for (size_t v = 0; v < p->n_vm; v++) {
        char lab[160], val[128];
        label_value(p->vm[v].name, val, sizeof(val));
        snprintf(lab, sizeof(lab), "type=\"%s\"", val);
        bill_counter(s, s->mid.bill_vm_s, lab, -1, m.vm_s[v]); /* per type: from the provider */
    }
    bill_counter(s, s->mid.bill_vm_usd, "", 0, m.vm_usd);
    bill_counter(s, s->mid.bill_fn_gb_s, "", 1, m.fn_gb_s);
    bill_counter(s, s->mid.bill_fn_inv, "", 2, (double)m.invocations);
    bill_counter(s, s->mid.bill_fn_usd, "", 3, m.fn_usd + m.fee_usd);
    bill_counter(s, s->mid.bill_fees_usd, "", 4, m.fee_usd);
    bill_counter(s, s->mid.bill_usd, "", 5, sf_meter_total_usd(&m));
    bill_counter(s, s->mid.inst_failures, "", 6, failures);
    sf_metrics_set(s->metrics, s->mid.launch_failing, "", failing);
    sf_metrics_set(s->metrics, s->mid.api_failing, "", api.failing);
    sf_metrics_set(s->metrics, s->mid.api_errors, "", (double)api.errors);
    sf_metrics_set(s->metrics, s->mid.api_calls, "", (double)api.calls);
    char buf[160];
    sf_metrics_set(s->metrics, s->mid.ready, "", not_ready(s, buf, sizeof(buf)) ? 0 : 1);
    sf_metrics_set(s->metrics, s->mid.buffered, "", (double)sf__ev_buffered(s->ev));
    sf_metrics_set(s->metrics, s->mid.connections, "", sf__ev_connections(s->ev));
    sf_metrics_set(s->metrics, s->mid.polled, "", sf__ev_poll_seconds(s->ev));
    sf_metrics_set(s->metrics, s->mid.unanswered, "", unanswered);
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

/* 405 for a known path asked with another method: Allow names the ones it takes. */
static void not_allowed(struct sf__httpd_resp *resp, const char *method, const char *url,
                        const char *allow)
{
    sf__httpd_header(resp, "Allow", allow);
    sf__httpd_error(resp, 405, "%s %.200s: method not allowed (allowed: %s)", method, url, allow);
}

/* The endpoints. A model's paths are /v2/models/NAME[/versions/1][/ready|/infer]; the name is
 * the path up to the next '/' (a name may hold anything else, as decoded by the HTTP layer).
 * resp->status -1: an inference request, for handle_infer. */
static void route(struct sf__server *s, const struct sf__ev_req *req, struct sf__httpd_resp *resp,
                  struct sf__access *acc)
{
    const char *u = req->url, *name = sf_nn_model_name(s->model);
    static const char pre[] = "/v2/models/", ver[] = "/versions/";
    int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    static const char GET_ONLY[] = "GET, HEAD";
    acc->handler = SF__H_HEALTH;
    if (!strcmp(u, "/v2/health/live")) {
        if (get)
            sf__httpd_json(resp, 200, sf_strdup("{\"live\":true}"));
        else
            not_allowed(resp, req->method, u, GET_ONLY);
        return;
    }
    if (!strcmp(u, "/v2/health/ready")) {
        if (get)
            handle_ready(s, resp);
        else
            not_allowed(resp, req->method, u, GET_ONLY);
        return;
    }
    acc->handler = SF__H_METADATA;
    if (!strcmp(u, "/v2")) {
        if (get)
            sf__httpd_json(resp, 200,
                           sf_strdup("{\"name\":\"serflow\",\"version\":\"1\",\"extensions\":"
                                     "[\"binary_tensor_data\"]}"));
        else
            not_allowed(resp, req->method, u, GET_ONLY);
        return;
    }
    acc->handler = SF__H_METRICS;
    if (!strcmp(u, "/metrics")) {
        if (get)
            handle_metrics(s, resp);
        else
            not_allowed(resp, req->method, u, GET_ONLY);
        return;
    }
    acc->handler = SF__H_OTHER;
    if (strncmp(u, pre, sizeof(pre) - 1) != 0) {
        sf__httpd_error(resp, 404, "%s %.200s: no such endpoint", req->method, u);
        return;
    }
    const char *m = u + sizeof(pre) - 1;
    size_t ul = strlen(m), nl = strlen(name);
    if (!(ul >= nl && !strncmp(m, name, nl) && (m[nl] == '\0' || m[nl] == '/'))) {
        const char *slash = strchr(m, '/');
        size_t ml = slash ? (size_t)(slash - m) : ul;
        sf_metrics_add(s->metrics, s->mid.rejected, "reason=\"unknown_model\"", 1);
        sf__httpd_error(resp, 404, "model '%.*s' not found (this server serves '%s')",
                        (int)(ml < 128 ? ml : 128), m, name);
        return;
    }
    const char *rest = m + nl;
    if (!strncmp(rest, ver, sizeof(ver) - 1)) { /* /versions/V: the one version there is */
        const char *v = rest + sizeof(ver) - 1;
        size_t vl = strcspn(v, "/");
        if (vl != strlen(SF_OIP_MODEL_VERSION) || strncmp(v, SF_OIP_MODEL_VERSION, vl) != 0) {
            sf__httpd_error(resp, 404, "model '%s' has no version '%.*s' (its versions: %s)", name,
                            (int)(vl < 64 ? vl : 64), v, SF_OIP_MODEL_VERSION);
            return;
        }
        rest = v + vl;
    }
    if (!strcmp(rest, "/infer")) {
        acc->handler = SF__H_INFER;
        if (!strcmp(req->method, "POST"))
            resp->status = -1; /* answered by handle_infer, now or later */
        else
            not_allowed(resp, req->method, u, "POST");
    } else if (!*rest) {
        acc->handler = SF__H_METADATA;
        if (get)
            handle_model_meta(s, resp);
        else
            not_allowed(resp, req->method, u, GET_ONLY);
    } else if (!strcmp(rest, "/ready")) {
        acc->handler = SF__H_HEALTH;
        if (get)
            handle_ready(s, resp);
        else
            not_allowed(resp, req->method, u, GET_ONLY);
    } else {
        sf__httpd_error(resp, 404, "%s %.200s: no such endpoint", req->method, u);
    }
}

static const char *const HANDLER_NAMES[SF__N_HANDLERS] = {"infer", "metadata", "health", "metrics",
                                                          "other"};

void sf__ingress_respond(struct sf__server *s, struct sf__ev_req *req, struct sf__httpd_resp *resp,
                         const struct sf__access *acc)
{
    char tp[64];
    sf__httpd_header(resp, "X-Request-Id", acc->trace.request_id);
    sf__httpd_header(resp, "traceparent", sf_reqtrace_header(&acc->trace, tp, sizeof(tp)));
    int status = resp->status > 0 ? resp->status : 500;
    int h = acc->handler >= 0 && acc->handler < SF__N_HANDLERS ? acc->handler : SF__H_OTHER;
    sf_metrics_add_at(s->metrics, s->http_series[h][status >= 500 ? 2 : status >= 400 ? 1 : 0], 1);
    int level = h == SF__H_INFER ? SF_LOG_INFO : status >= 500 ? SF_LOG_WARN : SF_LOG_DEBUG;
    if (sf_log_on(level)) { /* the request is still valid: its answer is not written yet */
        size_t bytes_out = resp->len;
        sf_log(level, "access", SF_LS("id", acc->trace.request_id),
               SF_LS("trace_id", acc->trace.trace_id), SF_LS("span_id", acc->trace.span_id),
               SF_LS("method", req->method), SF_LS("path", req->url), SF_LI("status", status),
               SF_LN("latency_s", sf_monotonic_s() - acc->t0_s), SF_LS("handler", HANDLER_NAMES[h]),
               SF_LI("images", acc->images), SF_LS("route", acc->route ? acc->route : "none"),
               SF_LI("bytes_in", req->len), SF_LI("bytes_out", bytes_out));
    }
    sf__ev_respond(req, resp);
}

/* Every request: its id and trace context (the client's when valid, else new) returned with
 * the answer, the answer counted by handler and status class, and one access log line: at info
 * for inference, at debug for probes and scrapes (a warning when one fails with a 5xx). An
 * inference request is answered later, by whoever finishes it (sf__ingress_respond). */
static void ingress_handler(void *ctx, struct sf__ev_req *req)
{
    struct sf__server *s = ctx;
    struct sf__access acc;
    acc.t0_s = sf_monotonic_s();
    acc.handler = SF__H_OTHER;
    acc.images = 0;
    acc.route = NULL;
    acc.route_buf[0] = '\0';
    sf_reqtrace_begin(&acc.trace, sf__ev_header(req, "X-Request-Id"),
                      sf__ev_header(req, "traceparent"));
    struct sf__httpd_resp resp;
    memset(&resp, 0, sizeof(resp));
    route(s, req, &resp, &acc);
    if (resp.status == -1)
        handle_infer(s, req, &acc);
    else
        sf__ingress_respond(s, req, &resp, &acc);
}

static void ingress_tick(void *ctx, int loop, double now_s)
{
    sf__dispatch_tick(ctx, loop, now_s);
}

/* The end of a loop's round: what it admitted leaves together (control.c). */
static void ingress_round(void *ctx, int loop)
{
    struct sf__server *s = ctx;
    if (!s->loop_admitted[loop])
        return;
    s->loop_admitted[loop] = 0;
    pthread_mutex_lock(&s->mu);
    sf__control_round(s);
    sf__server_unlock(s);
}

/* The label sets of the labelled families: every series exists from the start, at 0 (rate()
 * over a counter that never fired is 0, not empty). */
static const char *const OUTCOMES[] = {"outcome=\"ok\"", "outcome=\"failed\"",
                                       "outcome=\"refused\"", "outcome=\"deadline\"", NULL};
static const char *const REJECT_REASONS[] = {"reason=\"queue_full\"",
                                             "reason=\"bad_request\"",
                                             "reason=\"too_many_images\"",
                                             "reason=\"unknown_model\"",
                                             "reason=\"unsupported_encoding\"",
                                             "reason=\"busy\"",
                                             "reason=\"draining\"",
                                             NULL};
static const char *const WHERES[] = {"where=\"vm\"", "where=\"vm+function\"", "where=\"function\"",
                                     NULL};
static const char *const PATHS[] = {"path=\"instance\"", "path=\"function\"", NULL};
static const char *const STATES[] = {"state=\"pending\"", "state=\"ready\"", "state=\"busy\"",
                                     NULL};
static const char *const NONE_YET[] = {NULL}; /* declared after the model is known */
/* HTTP answers by handler and status class */
#define HTTP_HANDLERS(X) X(infer) X(metadata) X(health) X(metrics) X(other)
#define HTTP_SERIES(h)                                                                             \
    "handler=\"" #h "\",code=\"2xx\"", "handler=\"" #h "\",code=\"4xx\"",                          \
        "handler=\"" #h "\",code=\"5xx\"",
static const char *const HTTP_LABELS[] = {HTTP_HANDLERS(HTTP_SERIES) NULL};

static int declare_metrics(struct sf__server *s, struct sf_err *err)
{
    struct sf_metrics *m = s->metrics;
    struct sf__metrics_ids *d = &s->mid;
    struct {
        int *id;
        const char *name;
        enum sf_metric_type type;
        const char *help;
        const char *const *labels;
    } f[] = {
        {&d->accepted, "serflow_requests_accepted_total", SF_METRIC_COUNTER,
         "Requests (images) admitted.", NULL},
        {&d->answered, "serflow_requests_answered_total", SF_METRIC_COUNTER,
         "Admitted requests answered, by outcome (ok, failed: 502, refused: 422 outputs not "
         "finite, deadline: 504).",
         OUTCOMES},
        {&d->rejected, "serflow_requests_rejected_total", SF_METRIC_COUNTER,
         "Requests refused at admission, by reason.", REJECT_REASONS},
        {&d->exit_stage, "serflow_requests_exit_stage_total", SF_METRIC_COUNTER,
         "Answered requests by the stage they left the network at.", NONE_YET},
        {&d->where, "serflow_requests_where_total", SF_METRIC_COUNTER,
         "Answered requests by where they ran.", WHERES},
        {&d->latency, "serflow_request_latency_seconds", SF_METRIC_HISTOGRAM,
         "Admission to answer.", NULL},
        {&d->slo_ok, "serflow_requests_slo_ok_total", SF_METRIC_COUNTER,
         "Requests answered (ok) within the SLO of their admission.", NULL},
        {&d->slo_all, "serflow_requests_slo_total", SF_METRIC_COUNTER,
         "Requests answered, every outcome: the SLO ratio is serflow_requests_slo_ok_total / "
         "serflow_requests_slo_total.",
         NULL},
        {&d->slo_s, "serflow_slo_seconds", SF_METRIC_GAUGE, "The latency SLO.", NULL},
        {&d->unanswered, "serflow_requests_unanswered", SF_METRIC_GAUGE,
         "Admitted requests not answered yet.", NULL},
        {&d->dropped, "serflow_results_dropped_total", SF_METRIC_COUNTER,
         "Results for requests no longer waiting (answered, or past their deadline).", NULL},
        {&d->frames_rejected, "serflow_frames_rejected_total", SF_METRIC_COUNTER,
         "Answers of workers and functions refused (malformed, unauthenticated, or not the "
         "batch's ids), by path.",
         PATHS},
        {&d->batches, "serflow_batches_total", SF_METRIC_COUNTER, "Batches dispatched, by path.",
         PATHS},
        {&d->redispatch, "serflow_batches_redispatched_total", SF_METRIC_COUNTER,
         "Batches of a failed worker sent again to functions.", NULL},
        {&d->fn_retries, "serflow_function_retries_total", SF_METRIC_COUNTER,
         "Function invocations retried after a failure.", NULL},
        {&d->fn_throttled, "serflow_function_throttled_total", SF_METRIC_COUNTER,
         "Function invocations refused at the concurrency cap (429) and tried again.", NULL},
        {&d->runtime_restarts, "serflow_function_runtime_restarts_total", SF_METRIC_COUNTER,
         "Restarts of the function runtime after it died.", NULL},
        {&d->instances, "serflow_instances", SF_METRIC_GAUGE, "Instances by state.", STATES},
        {&d->target, "serflow_instances_target", SF_METRIC_GAUGE,
         "The policy's last instance target.", NULL},
        {&d->launches, "serflow_instance_launches_total", SF_METRIC_COUNTER, "Instances launched.",
         NULL},
        {&d->terminations, "serflow_instance_terminations_total", SF_METRIC_COUNTER,
         "Instances terminated by the policy.", NULL},
        {&d->inst_failures, "serflow_instance_failures_total", SF_METRIC_COUNTER,
         "Instances that exited without being asked.", NULL},
        {&d->launch_failing, "serflow_instance_launches_failing", SF_METRIC_GAUGE,
         "Launches in a row that never became ready (the provider backs off).", NULL},
        {&d->api_failing, "serflow_provider_api_failing", SF_METRIC_GAUGE,
         "Calls of the instances provider's API (aws: Auto Scaling, EC2) failed in a row after "
         "their retries; 0 when the last one worked. While it fails, ready workers and functions "
         "serve.",
         NULL},
        {&d->api_errors, "serflow_provider_api_errors_total", SF_METRIC_COUNTER,
         "Calls of the instances provider's API that failed after their retries.", NULL},
        {&d->api_calls, "serflow_provider_api_calls_total", SF_METRIC_COUNTER,
         "Calls of the instances provider's API.", NULL},
        {&d->queue, "serflow_queue_depth", SF_METRIC_GAUGE, "Admitted requests not dispatched.",
         NULL},
        {&d->epoch, "serflow_epoch", SF_METRIC_GAUGE, "Controller epoch.", NULL},
        {&d->ready, "serflow_ready", SF_METRIC_GAUGE, "1 when /v2/health/ready answers 200.", NULL},
        {&d->http, "serflow_http_requests_total", SF_METRIC_COUNTER,
         "HTTP requests answered, by handler and status class.", HTTP_LABELS},
        {&d->buffered, "serflow_http_buffered_bytes", SF_METRIC_GAUGE,
         "Memory held for request bodies and their parse.", NULL},
        {&d->connections, "serflow_http_connections", SF_METRIC_GAUGE, "Client connections open.",
         NULL},
        {&d->polled, "serflow_http_poll_seconds_total", SF_METRIC_COUNTER,
         "Seconds the event loops spent polling for the next event before sleeping (--spin-us; "
         "an upper bound on its CPU: a poll yields its core to any thread waiting for it).",
         NULL},
        {&d->bill_vm_s, "serflow_bill_vm_seconds_total", SF_METRIC_COUNTER,
         "Billed VM seconds by type (per second, minimum per launch; running ones so far).",
         NONE_YET},
        {&d->bill_vm_usd, "serflow_bill_vm_usd_total", SF_METRIC_COUNTER, "VM cost.", NULL},
        {&d->bill_fn_gb_s, "serflow_bill_function_gigabyte_seconds_total", SF_METRIC_COUNTER,
         "Billed function GB-seconds (1 ms rounding).", NULL},
        {&d->bill_fn_inv, "serflow_bill_function_invocations_total", SF_METRIC_COUNTER,
         "Billed function invocations.", NULL},
        {&d->bill_fn_usd, "serflow_bill_function_usd_total", SF_METRIC_COUNTER,
         "Function cost, request fees included.", NULL},
        {&d->bill_fees_usd, "serflow_bill_function_fees_usd_total", SF_METRIC_COUNTER,
         "Request fees.", NULL},
        {&d->bill_usd, "serflow_bill_usd_total", SF_METRIC_COUNTER, "Estimated total cost.", NULL},
    };
    for (size_t i = 0; i < SF_ARRAY_LEN(f); i++) {
        int hist = f[i].type == SF_METRIC_HISTOGRAM;
        *f[i].id =
            sf_metrics_family(m, f[i].name, f[i].type, f[i].help, hist ? LATENCY_BUCKETS : NULL,
                              hist ? SF_ARRAY_LEN(LATENCY_BUCKETS) : 0, f[i].labels);
        if (*f[i].id < 0)
            return sf_err_set(err, SF_EINVAL, "metrics: cannot declare %s", f[i].name);
    }
    char lab[160], val[128];
    for (int st = 1; st <= s->n_stages; st++) { /* the model's stages */
        snprintf(lab, sizeof(lab), "stage=\"%d\"", st);
        sf_metrics_declare(m, d->exit_stage, lab);
    }
    const struct sf_pricing *p = s->cfg->price;
    for (size_t v = 0; v < p->n_vm; v++) { /* the catalog's VM types */
        label_value(p->vm[v].name, val, sizeof(val));
        snprintf(lab, sizeof(lab), "type=\"%s\"", val);
        sf_metrics_declare(m, d->bill_vm_s, lab);
    }
    sf_metrics_set(m, d->slo_s, "", s->cfg->bind->env.ctl.epoch_s);
    for (int h = 0; h < SF__N_HANDLERS; h++) /* handles: every answer counts without a search */
        for (int c = 0; c < 3; c++)
            s->http_series[h][c] = sf_metrics_series(m, d->http, HTTP_LABELS[3 * h + c]);
    return SF_OK;
}

/* The workers' settings: the path's head (cut, tail fan-out), tau, the function runtime. */
static void worker_settings(const struct sf__server *s, struct sf_worker_cfg *w)
{
    const struct sf_serve_cfg *c = s->cfg;
    const struct sf_path *p = &c->bind->path;
    sf_worker_defaults(w);
    w->model_dir = c->model_dir;
    w->cut = p->has_instances ? p->cut : s->n_stages;
    w->tau = c->bind->tau;
    w->fanout = p->tail_fanout > 0 ? p->tail_fanout : 1;
    w->fn_url = s->lambda_url;
    w->fn_name = sf_nn_model_name(s->model);
    w->fn_timeout_s = c->fn_timeout_s;
    w->backend = c->backend;
    w->fault_delay_s = c->worker_fault_delay_s;
    w->fault_no_start = c->worker_fault_no_start;
    w->no_function_auth = !s->ingress_id.set; /* someone else's runtime: no identity to call it */
    w->log_level = sf_log_get_level();        /* as the ingress's now (SIGHUP may change it) */
    w->log_format = sf_log_get_format();
}

/* A launch's command line for the local provider: the workers' settings, the VM type's vCPUs as
 * inference threads (what the profile measured for that type), the boot delay, the readiness fd. */
static int worker_argv(void *ctx, int vm, double boot_delay_s, int ready_fd, struct sf_argv *out,
                       struct sf_err *err)
{
    struct sf__server *s = ctx;
    struct sf_worker_cfg w;
    worker_settings(s, &w);
    if (vm >= 0 && (size_t)vm < s->cfg->price->n_vm)
        w.threads = s->cfg->price->vm[vm].vcpus;
    w.boot_delay_s = boot_delay_s;
    w.ready_fd = ready_fd;
    int rc = sf_argv_add(out, s->exe);
    if (rc == SF_OK)
        rc = sf_argv_add(out, "worker");
    return rc == SF_OK ? sf_worker_argv(&w, out, err)
                       : sf_err_set(err, rc, "worker: the command line is too long");
}

/* The instances provider the configuration names: aws (the Auto Scaling group), static (running
 * workers given by URL), or local (worker processes started here). */
static int start_cloud(struct sf__server *s, struct sf_err *err)
{
    const struct sf_serve_cfg *c = s->cfg;
    int rc;
    if (s->aws && (c->bind->path.has_instances || c->aws.group)) {
        struct sf_cloud_aws_cfg ac = {.opts = &c->aws,
                                      .creds = s->aws_creds,
                                      .vm = c->bind->path.vm,
                                      .price = c->price,
                                      .authenticated = s->root.set};
        if (!c->bind->path.has_instances)
            ac.vm = 0; /* a path of functions only never launches; the bill needs a type */
        rc = sf_cloud_aws_new(&s->cloud, &ac, err);
    } else if (c->n_worker_urls) {
        rc = sf_cloud_static_new(&s->cloud, c->worker_urls, c->n_worker_urls, c->price, err);
    } else { /* (aws with functions only and no group: a provider that is never asked) */
        struct sf_cloud_local_cfg lc = {worker_argv, s, c->price, 2.0, &s->root};
        rc = sf_cloud_local_new(&s->cloud, &lc, err);
    }
    s->have_cloud = rc == SF_OK;
    return rc;
}

/* The deployment's root identity: SERFLOW_AUTH when given (shared with processes started
 * elsewhere), else a new random one; and the ingress's own, derived from it. */
static int make_identities(struct sf__server *s, struct sf_err *err)
{
    struct sf_auth given;
    int rc = sf_auth_from_env(&given, err);
    if (rc != SF_OK)
        return rc;
    if (given.set)
        s->root = given;
    else if (s->aws) /* workers on other machines hold a key derived from the deployment's root */
        return sf_err_set(err, SF_EINVAL,
                          "--provider aws: SERFLOW_AUTH must hold the deployment's root key line, "
                          "from which the workers' %s key is derived (docs/deploy-aws.md)",
                          SF_CLOUD_AWS_PRINCIPAL);
    else if ((rc = sf_auth_new_root(&s->root, err)) != SF_OK)
        return rc;
    /* a runtime started by someone else shares no key with us unless SERFLOW_AUTH says so (and
     * Lambda needs none: its calls are signed with SigV4) */
    if (!s->aws && (!s->cfg->lambda_url || given.set))
        rc = sf_auth_derive(&s->root, "ingress", &s->ingress_id, err);
    return rc;
}

/* SIGHUP: what the caller re-read, applied (the log level it set itself; the controller's
 * parameters here, under the lock). */
static void reload(struct sf__server *s)
{
    *s->cfg->reload = 0;
    sf_log(SF_LOG_INFO, "reload", SF_LS("what", "SIGHUP"), SF_LI("epoch", s->epoch));
    const struct sf_policy_env *env =
        s->cfg->on_reload ? s->cfg->on_reload(s->cfg->on_reload_ctx) : NULL;
    if (!env)
        return;
    pthread_mutex_lock(&s->mu);
    sf__control_retune(s, env);
    pthread_mutex_unlock(&s->mu);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

int sf_serve_run(struct sf_serve_cfg *cfg, volatile sig_atomic_t *stop, struct sf_err *err)
{
    struct sf__server *s = calloc(1, sizeof(*s));
    if (!s)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    s->cfg = cfg;
    s->aws = cfg->provider && !strcmp(cfg->provider, "aws");
    s->stop = &s->stop_flag; /* the control loop drains when the grace period is over */
    s->t0 = sf_monotonic_s();
    s->lambda.ready_fd = -1;
    s->deadline_s =
        cfg->deadline_s > 0 ? cfg->deadline_s : DEFAULT_DEADLINE_SLOS * cfg->bind->env.ctl.epoch_s;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->bill_mu, NULL);
    pthread_cond_init(&s->fn_cv, NULL);
    pthread_t ctl;
    int have_ctl = 0;
    int rc = sf_cond_init_monotonic(&s->ctl_cv) == SF_OK
                 ? SF_OK
                 : sf_err_set(err, SF_EIO, "serve: cannot make a condition variable");
    /* signals go to this thread only: the threads started below inherit the mask (a SIGTERM
     * taken by a thread in a send or a poll would break that call) */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (rc == SF_OK && cfg->max_images > cfg->queue_cap)
        rc = sf_err_set(err, SF_EINVAL,
                        "--max-images %d is above --queue-cap %d: a request of that many "
                        "images could never be admitted",
                        cfg->max_images, cfg->queue_cap);
    if (rc == SF_OK && cfg->provider && !s->aws && strcmp(cfg->provider, "local") != 0)
        rc = sf_err_set(err, SF_EINVAL, "--provider %.32s: expected local or aws", cfg->provider);
    if (rc == SF_OK && s->aws && (cfg->n_worker_urls || cfg->lambda_url))
        rc = sf_err_set(err, SF_EINVAL,
                        "--provider aws: the group's workers and Lambda serve; --worker-url and "
                        "--lambda-url belong to the local provider");
    if (rc == SF_OK)
        rc = sf_nn_model_load(cfg->model_dir, &s->model, err);
    if (rc == SF_OK) {
        s->numel = sf_nn_shape_numel(sf_nn_model_input_shape(s->model));
        s->n_stages = sf_nn_model_num_stages(s->model);
        s->num_classes = sf_nn_model_num_classes(s->model);
        s->q_cap = (size_t)cfg->queue_cap;
        s->q_head_seq = 1;
        s->queue = calloc(s->q_cap, sizeof(*s->queue));
        s->metrics = sf_metrics_new();
        if (!s->queue || !s->metrics)
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    if (rc == SF_OK)
        rc = sf__table_init(s, err);
    if (rc == SF_OK)
        rc = declare_metrics(s, err);
    if (rc == SF_OK)
        rc = make_identities(s, err);
    if (rc == SF_OK)
        rc = sf__control_init(s, err);
    if (rc == SF_OK)
        rc = sf_proc_self_exe(s->exe, sizeof(s->exe), err);
    if (rc == SF_OK)
        rc = sf__runtime_start(s, err);
    if (rc == SF_OK)
        rc = cfg->inproc ? sf__inproc_new(s, err) : start_cloud(s, err);
    if (rc == SF_OK) {
        /* the event loops first: the control loop opens its instances' connections on them */
        struct sf__ev_cfg ec = {.host = cfg->host,
                                .port = cfg->port,
                                .loops = cfg->http_threads > 0 ? cfg->http_threads : 1,
                                .max_connections = (unsigned)cfg->max_connections,
                                .max_per_client = (unsigned)cfg->max_per_client,
                                .idle_timeout_s = cfg->idle_timeout_s,
                                .request_timeout_s = cfg->request_timeout_s,
                                .max_body_bytes = cfg->max_body_bytes,
                                .max_buffered_bytes = cfg->max_buffered_bytes,
                                .spin_s = cfg->spin_s,
                                .handler = ingress_handler,
                                .ctx = s,
                                .tick = ingress_tick,
                                .round = ingress_round};
        rc = sf__ev_start(&s->ev, &ec, err);
    }
    if (rc == SF_OK) {
        rc = sf__fn_dispatchers_start(s, cfg->fn_dispatchers, err);
    }
    if (rc == SF_OK) {
        if (pthread_create(&ctl, NULL, sf__control_main, s) != 0)
            rc = sf_err_set(err, SF_EIO, "cannot start the control thread");
        else
            have_ctl = 1;
    }
    if (rc == SF_OK) {
        cfg->bound_port = sf__ev_port(s->ev);
        if (sf_proc_announce_ready(cfg->ready_fd, cfg->host, cfg->bound_port) != SF_OK)
            rc = sf_err_set(err, SF_EIO, "cannot write the readiness line");
        else if (cfg->on_ready)
            cfg->on_ready(cfg->on_ready_ctx, cfg->host, cfg->bound_port);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    while (rc == SF_OK && !*stop) {
        if (cfg->reload && *cfg->reload)
            reload(s);
        sf__runtime_supervise(s);
        nap_ms(20);
    }
    /* stop, 1: readiness 503 while still serving, so that a balancer stops sending */
    s->stopping = 1;
    for (double t = sf_monotonic_s(); rc == SF_OK && sf_monotonic_s() - t < cfg->drain_grace_s;) {
        sf__runtime_supervise(s);
        nap_ms(20);
    }
    /* 2: no new connections; new requests on open ones 503 with Connection: close; the control
     * loop answers everything admitted (by the deadline at the latest), then returns */
    sf__ev_quiesce(s->ev);
    sf__ev_closing(s->ev);
    if (have_ctl) {
        pthread_mutex_lock(&s->mu);
        s->stop_flag = 1;
        pthread_cond_signal(&s->ctl_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(ctl, NULL);
    }
    /* 3: every answer written before the connections close; then the calls out end (a batch
     * still on a worker is dropped: its requests were answered) and the loops stop */
    sf__ev_drain(s->ev, HTTP_DRAIN_S);
    sf__fn_dispatchers_stop(s);
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < SF_CLOUD_MAX_INSTANCES; i++)
        if (s->inst[i].used)
            sf__inst_close(s, i);
    sf__server_unlock(s); /* a batch failed there is answered before the connections close */
    sf__ev_stop(s->ev);
    if (s->have_cloud)
        s->cloud.ops->shutdown(s->cloud.ctx, sf__server_now(s));
    sf__runtime_stop(s);
    sf_aws_credp_free(s->aws_creds);
    sf__control_fini(s);
    cfg->accepted = (uint64_t)sf_metrics_get(s->metrics, s->mid.accepted, "");
    cfg->answered = 0;
    for (size_t i = 0; s->metrics && OUTCOMES[i]; i++)
        cfg->answered += (uint64_t)sf_metrics_get(s->metrics, s->mid.answered, OUTCOMES[i]);
    sf_metrics_free(s->metrics);
    free(s->queue);
    free(s->table);
    sf_nn_model_free(s->model);
    pthread_cond_destroy(&s->ctl_cv);
    pthread_cond_destroy(&s->fn_cv);
    pthread_mutex_destroy(&s->bill_mu);
    pthread_mutex_destroy(&s->mu);
    memset(&s->root, 0, sizeof(s->root));
    memset(&s->ingress_id, 0, sizeof(s->ingress_id));
    free(s);
    return rc;
}
