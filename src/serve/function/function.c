/*
 * function.c - a function instance: `serflow function`, a Lambda custom-runtime `bootstrap`. It
 * long-polls AWS_LAMBDA_RUNTIME_API for the next event, runs it and posts the answer:
 *   input frame "SFIB"    the whole model from stage 1 on a batch (the FaaS path and the spill)
 *   codec frame "SFHS"    the tail from the frame's stage on (the hybrid hand-off)
 *   OIP v2 JSON request   the whole model; the answer is the OIP JSON response
 *   {"serflow_frame": b64} either frame inside JSON, as Lambda's JSON-only Invoke API carries it
 *                          (the aws function provider); the answer is the result frame wrapped
 * Every event is checked against the model before anything is copied: an input frame's shape
 * must be the model's, a hidden-state frame's stage, classes and state shape the next stage's,
 * ids distinct. Outputs that are not finite are refused per image (status 2 in the result frame).
 * The same binary could run on AWS Lambda: it only speaks the documented Runtime API. Under the
 * local runtime each call also carries the instance's X-Serflow-Auth (auth.h; Lambda would
 * ignore it), and an event is taken only with the runtime's response MAC.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "serflow/nn_codec.h"
#include "serflow/wire.h"
#include "serflow/function.h"
#include "serflow/log.h"
#include "wire/argv_emit.h"
#include "wire/wire_int.h"

/* How long a post of an answer may take (the runtime answers at once). */
#define FN_POST_TIMEOUT_MS 10000L

struct event {
    char request_id[128];
    char auth[80]; /* the runtime's X-Serflow-Auth-Response */
    /* Lambda-Runtime-Client-Context: the caller's context (JSON), where the local runtime puts
     * the request ids and trace context of the invocation; a longer one is ignored */
    char client_context[SF_REQUEST_IDS_MAX_BYTES + 512];
    char *body;
    size_t len, cap;
    int too_big;
};

static size_t ev_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct event *e = ctx;
    size_t n = size * nmemb;
    int rc = sf__buf_append(&e->body, &e->len, &e->cap, data, n, SF_SERVE_MAX_BODY_BYTES);
    e->too_big |= rc == -1;
    return rc ? 0 : n;
}

/* Copies the value of header `name:` from a header line into out (cut: ignored). */
static void header_value(const char *data, size_t n, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(data, name, nl) != 0)
        return;
    const char *v = data + nl;
    size_t vl = n - nl;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl < size) {
        memcpy(out, v, vl);
        out[vl] = '\0';
    }
}

static size_t ev_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct event *e = ctx;
    size_t n = size * nmemb;
    header_value(data, n, "Lambda-Runtime-Aws-Request-Id:", e->request_id, sizeof(e->request_id));
    header_value(data, n, SF_AUTH_RESPONSE_HEADER ":", e->auth, sizeof(e->auth));
    header_value(data, n, "Lambda-Runtime-Client-Context:", e->client_context,
                 sizeof(e->client_context));
    return n;
}

/* The request ids and trace context of an event, from its client context's custom fields
 * ("x-request-id", "traceparent"; checked, else left out), with this instance's own span. */
static void event_trace(const struct event *ev, struct sf_reqtrace *tr, char *ids, size_t size)
{
    ids[0] = '\0';
    const char *tp = NULL;
    json_error_t je;
    json_t *cc = ev->client_context[0] ? json_loads(ev->client_context, 0, &je) : NULL;
    const json_t *custom = json_is_object(cc) ? json_object_get(cc, "custom") : NULL;
    if (json_is_object(custom)) {
        const char *v = json_string_value(json_object_get(custom, "x-request-id"));
        if (sf_request_ids_valid(v))
            snprintf(ids, size, "%s", v);
        tp = json_string_value(json_object_get(custom, "traceparent"));
    }
    sf_reqtrace_begin(tr, NULL, tp);
    json_decref(cc);
}

/* The kind of an event, for its log line. */
/* The CPU time of this process (every thread), in seconds: beside an event's wall time in its
 * log line, it tells the work from the waiting for a core on a shared host. */
static double process_cpu_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *event_kind(const char *body, size_t len)
{
    if (len > 0 && body[0] == '{')
        return "oip";
    if (len >= 4 && !memcmp(body, "SFHS", 4))
        return "hidden";
    return "input";
}

/* Adds this instance's signed X-Serflow-Auth for METHOD url (nonce out); unchanged without an
 * identity. */
static struct curl_slist *sign(const struct sf_function_cfg *cfg, struct curl_slist *hl,
                               const char *method, const char *url, char *nonce)
{
    if (!cfg->auth || !cfg->auth->set)
        return hl;
    char path[512], v[SF_AUTH_HEADER_BYTES], line[SF_AUTH_HEADER_BYTES + 32];
    sf_auth_url_path(url, path, sizeof(path));
    if (sf_auth_sign_request(cfg->auth, method, path, v, sizeof(v), nonce) != SF_OK)
        return hl;
    snprintf(line, sizeof(line), "%s: %s", SF_AUTH_REQUEST_HEADER, v);
    return curl_slist_append(hl, line);
}

/* Checks a hidden-state frame's header against the model before it is decoded: the stage it
 * continues from, the classes, the state's shape (the next stage's input) and the count; sets
 * *max_bytes to exactly the state it may hold. */
static int check_hidden_header(const struct sf_nn_model *m, const char *body, size_t len,
                               size_t *max_bytes, struct sf_err *err)
{
    const unsigned char *p = (const unsigned char *)body;
    if (len < SF_NN_CODEC_HEADER_BYTES)
        return sf_err_set(err, SF_EPARSE, "hidden-state frame: %zu bytes, shorter than its header",
                          len);
    int ns = sf_nn_model_num_stages(m), nc = sf_nn_model_num_classes(m);
    int done = (int)sf__get16(p + 8), classes = (int)sf__get16(p + 10),
        ndim = (int)sf__get16(p + 12);
    uint32_t n = sf__get32(p + 16);
    if (done < 1 || done >= ns || classes != nc)
        return sf_err_set(err, SF_EINVAL,
                          "hidden-state frame: after stage %d with %d classes; the model has %d "
                          "stages and %d classes",
                          done, classes, ns, nc);
    if (n > SF_SERVE_MAX_BATCH)
        return sf_err_set(err, SF_ETOOBIG, "hidden-state frame: %u requests exceed %u", n,
                          SF_SERVE_MAX_BATCH);
    const struct sf_nn_shape *want = sf_nn_stage_input_shape(sf_nn_model_stage(m, done + 1));
    int same = ndim == want->ndim;
    for (int d = 0; d < 3 && same; d++)
        same = sf__get32(p + 24 + 4 * (size_t)d) == (d < want->ndim ? (uint32_t)want->dims[d] : 0);
    if (!same)
        return sf_err_set(err, SF_EINVAL,
                          "hidden-state frame: the state's shape is not stage %d's input",
                          done + 1);
    *max_bytes = (size_t)n * sf_nn_shape_numel(want) * sizeof(float);
    return SF_OK;
}

/* One event that is not a wrapped frame (below): an input frame, a hidden-state frame or OIP. */
static int run_event(struct sf_nn_runner *r, const struct sf_nn_model *m, const char *body,
                     size_t len, double default_tau, void **out, size_t *out_len, int *is_json,
                     struct sf_err *err)
{
    int ns = sf_nn_model_num_stages(m), nc = sf_nn_model_num_classes(m);
    struct sf_nn_batch b;
    sf_nn_batch_init(&b);
    struct sf_oip_request oip;
    memset(&oip, 0, sizeof(oip));
    uint64_t *ids = NULL;
    float *x = NULL;
    struct sf_nn_result *nr = NULL;
    struct sf_serve_result *res = NULL;
    double tau = default_tau;
    int rc, cut = 0, head = SF_WHERE_NONE;
    *is_json = len > 0 && body[0] == '{';
    if (*is_json) {
        rc = sf_oip_parse_request(body, len, NULL, 0, sf_nn_model_input_shape(m),
                                  SF_SERVE_MAX_BATCH, &oip, err);
        if (rc == SF_OK)
            rc = sf_nn_batch_set_input(&b, m, oip.x, NULL, oip.n, err);
    } else if (len >= 4 && !memcmp(body, "SFHS", 4)) {
        size_t max_bytes = 0;
        rc = check_hidden_header(m, body, len, &max_bytes, err);
        if (rc == SF_OK)
            rc = sf_nn_codec_decode(body, len, max_bytes, &b, &tau, err);
        if (rc == SF_OK)
            rc = sf_ids_distinct(b.ids, b.n, err);
        cut = b.stages_done;
        head = SF_WHERE_VM;
        if (rc == SF_OK && (cut < 1 || cut >= ns || b.num_classes != nc))
            rc = sf_err_set(err, SF_EINVAL,
                            "hidden-state frame: after stage %d of a %d-stage "
                            "model with %d classes",
                            cut, ns, b.num_classes);
    } else {
        size_t n;
        struct sf_nn_shape shape;
        rc = sf_frame_input_decode(body, len, sf_nn_model_input_shape(m), SF_SERVE_MAX_BATCH, &ids,
                                   &x, &n, &shape, &tau, err);
        if (rc == SF_OK)
            rc = sf_nn_batch_set_input(&b, m, x, ids, n, err);
    }
    size_t n_in = b.n, done = 0;
    if (rc == SF_OK) {
        nr = calloc(n_in ? n_in : 1, sizeof(*nr));
        res = calloc(n_in ? n_in : 1, sizeof(*res));
        rc = nr && res ? SF_OK : sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    if (rc == SF_OK && n_in)
        rc = sf_nn_runner_run(r, &b, ns, tau, nr, &done, err);
    for (size_t i = 0; rc == SF_OK && i < done; i++)
        sf_serve_result_from_nn(&nr[i], nc, cut, head, &res[i]);
    if (rc == SF_OK && *is_json) {
        for (size_t i = 0; rc == SF_OK && i < done; i++)
            if (res[i].status != SF_RESULT_OK)
                rc = sf_err_set(err, SF_ERANGE,
                                "image %zu: the model's outputs are not finite (its values are "
                                "outside what the model handles)",
                                i);
        /* the outputs it names, as JSON: a Lambda payload has no header for a binary part */
        oip.binary = 0;
        char *s = NULL;
        size_t sl = 0, jl = 0;
        if (rc == SF_OK && sf_oip_response(sf_nn_model_name(m), SF_OIP_MODEL_VERSION, oip.id, &oip,
                                           res, done, &s, &sl, &jl) != SF_OK)
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        *out = s;
        *out_len = s ? sl : 0;
    } else if (rc == SF_OK) {
        rc = sf_frame_result_encode(res, done, nc, out, out_len, err);
    }
    sf_nn_batch_fini(&b);
    sf_oip_request_fini(&oip);
    free(ids);
    free(x);
    free(nr);
    free(res);
    return rc;
}

int sf_function_event(struct sf_nn_runner *r, const struct sf_nn_model *m, const char *body,
                      size_t len, double default_tau, void **out, size_t *out_len, int *is_json,
                      struct sf_err *err)
{
    *out = NULL;
    *out_len = 0;
    *is_json = 0;
    if (!sf_frame_json_is_wrapped(body, len))
        return run_event(r, m, body, len, default_tau, out, out_len, is_json, err);
    /* Lambda's JSON-only payloads: a frame inside JSON, answered the same way */
    void *frame = NULL, *ans = NULL;
    size_t flen = 0, alen = 0;
    int inner_json = 0;
    int rc = sf_frame_json_unwrap(body, len, SF_SERVE_MAX_BODY_BYTES, &frame, &flen, err);
    if (rc == SF_OK && flen > 0 && ((const char *)frame)[0] == '{')
        rc = sf_err_set(err, SF_EINVAL, "%s: a binary frame is expected inside, not JSON",
                        SF_FRAME_JSON_KEY);
    if (rc == SF_OK)
        rc = run_event(r, m, frame, flen, default_tau, &ans, &alen, &inner_json, err);
    if (rc == SF_OK) {
        char *wrapped = NULL;
        size_t wl = 0;
        rc = sf_frame_json_wrap(ans, alen, &wrapped, &wl, err);
        *out = wrapped;
        *out_len = wl;
        *is_json = rc == SF_OK;
    }
    free(ans);
    free(frame);
    return rc;
}

static int post(const struct sf_function_cfg *cfg, CURL *c, const char *url, const void *body,
                size_t len, const char *ctype)
{
    struct curl_slist *hl = NULL;
    char ct[96], nonce[33];
    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
    hl = curl_slist_append(hl, ct);
    hl = curl_slist_append(hl, "Expect:");
    hl = sign(cfg, hl, "POST", url, nonce);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, FN_POST_TIMEOUT_MS);
    struct event sink = {0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ev_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    CURLcode rc = curl_easy_perform(c);
    free(sink.body);
    curl_slist_free_all(hl);
    return rc == CURLE_OK ? SF_OK : SF_EIO;
}

int sf_function_run(const struct sf_function_cfg *cfg, volatile sig_atomic_t *stop,
                    struct sf_err *err)
{
    if (!cfg->runtime_api || !*cfg->runtime_api)
        return sf_err_set(err, SF_EINVAL,
                          "AWS_LAMBDA_RUNTIME_API is not set (a function "
                          "instance is started by a Lambda runtime)");
    double t_init = sf_monotonic_s();
    struct sf_nn_model *m = NULL;
    struct sf_nn_runner *r = NULL;
    int rc = sf_nn_model_load(cfg->model_dir, &m, err);
    if (rc == SF_OK)
        rc = sf_nn_runner_new(m, cfg->backend, &r, err);
    if (rc == SF_OK) /* in the init, which Lambda bills: not in the first events of each size */
        rc = sf_nn_runner_warm(r, err);
    CURL *c = rc == SF_OK ? curl_easy_init() : NULL;
    if (rc == SF_OK && !c)
        rc = sf_err_set(err, SF_ENOMEM, "curl_easy_init failed");
    /* the configured part of the cold start, after the real one (process start, model load) */
    for (double t0 = sf_monotonic_s();
         rc == SF_OK && !*stop && sf_monotonic_s() - t0 < cfg->init_delay_s;) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char next_url[320];
    snprintf(next_url, sizeof(next_url), "http://%s/2018-06-01/runtime/invocation/next",
             cfg->runtime_api);
    if (rc == SF_OK && cfg->fault && !strcmp(cfg->fault, "start"))
        rc = sf_err_set(err, SF_EIO, "fault injected: exit before the first poll");
    if (rc == SF_OK) /* no address of its own: it polls the runtime's */
        sf_log(SF_LOG_INFO, "ready", SF_LS("runtime_api", cfg->runtime_api),
               SF_LS("model", sf_nn_model_name(m)), SF_LI("threads", cfg->threads),
               SF_LN("init_s", sf_monotonic_s() - t_init));
    while (rc == SF_OK && !*stop) {
        struct event ev;
        memset(&ev, 0, sizeof(ev));
        char nonce[33] = "";
        struct curl_slist *hl = sign(cfg, NULL, "GET", next_url, nonce);
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, next_url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ev_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &ev);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ev_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &ev);
        CURLcode cr = curl_easy_perform(c); /* long poll: no timeout, as on Lambda */
        curl_slist_free_all(hl);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cr != CURLE_OK || status != 200 || !ev.request_id[0]) {
            free(ev.body);
            if (cr != CURLE_OK || status >= 400) /* the runtime went away or shut us down */
                break;
            continue;
        }
        if (strspn(ev.request_id,
                   "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.") !=
            strlen(ev.request_id)) {
            free(ev.body); /* it goes into a URL path: letters, digits, - _ . only */
            rc = sf_err_set(err, SF_EIO, "an event with a malformed request id");
            break;
        }
        if (cfg->auth && cfg->auth->set &&
            sf_auth_check_response(cfg->auth->key, nonce, (int)status, ev.auth) != SF_OK) {
            /* not from our runtime (its port taken over): never run, never answered */
            free(ev.body);
            rc = sf_err_set(err, SF_EIO, "an event without the runtime's %s",
                            SF_AUTH_RESPONSE_HEADER);
            break;
        }
        if (cfg->fault && !strcmp(cfg->fault, "crash")) {
            free(ev.body);
            rc = sf_err_set(err, SF_EIO, "fault injected: crash mid-invocation");
            break;
        }
        if (cfg->fault && !strcmp(cfg->fault, "repoll")) {
            free(ev.body); /* asks for the next event without answering this one */
            continue;
        }
        while (cfg->fault && !strcmp(cfg->fault, "hang") && !*stop) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        void *out = NULL;
        size_t out_len = 0;
        int is_json = 0;
        struct sf_err eerr = {{0}};
        char url[512];
        struct sf_reqtrace tr;
        char ids[SF_REQUEST_IDS_MAX_BYTES + 1];
        event_trace(&ev, &tr, ids, sizeof(ids));
        double t_event = sf_monotonic_s(), cpu_event = process_cpu_s();
        int erc = sf_function_event(r, m, ev.body ? ev.body : "", ev.len, cfg->tau, &out, &out_len,
                                    &is_json, &eerr);
        /* its line before its answer: the runtime's log of this invocation holds it */
        sf_log(erc == SF_OK ? SF_LOG_INFO : SF_LOG_WARN, "event",
               SF_LS("request_id", ev.request_id), SF_LS("ids", ids),
               SF_LS("trace_id", tr.trace_id), SF_LS("span_id", tr.span_id),
               SF_LS("parent_id", tr.parent_id),
               SF_LS("kind", event_kind(ev.body ? ev.body : "", ev.len)), SF_LI("bytes_in", ev.len),
               SF_LI("bytes_out", out_len), SF_LN("duration_s", sf_monotonic_s() - t_event),
               SF_LN("cpu_s", process_cpu_s() - cpu_event),
               SF_LS("error", erc == SF_OK ? "" : eerr.msg));
        if (erc == SF_OK) {
            snprintf(url, sizeof(url), "http://%s/2018-06-01/runtime/invocation/%s/response",
                     cfg->runtime_api, ev.request_id);
            post(cfg, c, url, out, out_len,
                 is_json ? "application/json" : "application/octet-stream");
        } else {
            /* the Runtime API's error shape: errorMessage and errorType */
            json_t *o =
                json_pack("{s:s,s:s}", "errorType", "Serflow.BadEvent", "errorMessage", eerr.msg);
            char *msg = o ? json_dumps(o, JSON_COMPACT) : NULL;
            json_decref(o);
            snprintf(url, sizeof(url), "http://%s/2018-06-01/runtime/invocation/%s/error",
                     cfg->runtime_api, ev.request_id);
            post(cfg, c, url, msg ? msg : "{}", msg ? strlen(msg) : 2, "application/json");
            free(msg);
        }
        free(out);
        free(ev.body);
    }
    if (c)
        curl_easy_cleanup(c);
    sf_nn_runner_free(r);
    sf_nn_model_free(m);
    return rc;
}

void sf_function_defaults(struct sf_function_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->tau = 1;
    c->threads = 1;
    c->backend = SF_NN_BACKEND_DNNL;
    c->log_level = SF_LOG_INFO;
    c->log_format = SF_LOG_TEXT;
}

int sf_function_argv(const struct sf_function_cfg *c, struct sf_argv *a, struct sf_err *err)
{
    struct sf_function_cfg d;
    sf_function_defaults(&d);
    int rc = SF_OK;
#define EMIT(ID, name, KIND, field, meta, help, lo, hi)                                            \
    if (rc == SF_OK)                                                                               \
        rc = sf__emit_##KIND(a, name, &c->field, &d.field);
    SF_FUNCTION_OPTIONS(EMIT)
#undef EMIT
    return rc == SF_OK ? SF_OK : sf_err_set(err, rc, "function: the command line is too long");
}
