/*
 * load.c - the load generator behind `serflow load`: sends each request at its arrival time
 * (scaled) as one OIP v2 inference of a labelled image, over keep-alive connections driven by
 * libcurl's multi interface, and tallies status codes, latency (arrival to answer, client-side
 * queueing included), SLO attainment, accuracy and where the answers ran.
 *
 * The loop is libcurl's socket interface on an epoll set: a wake-up touches only the connections
 * that have something to do (curl_multi_perform would walk every one of hundreds in flight at
 * each arrival), and a timerfd wakes it at the next arrival to the microsecond instead of a
 * millisecond poll that spins through the last fraction of one.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "serflow/load.h"
#include "serflow/trace.h"
#include "wire/wire_int.h"

/* Largest answer the generator reads: one image's JSON answer is about 400 bytes. */
#define LOAD_MAX_RESPONSE_BYTES (64u << 10)

struct req {
    size_t idx; /* request number */
    double t_arrival;
    char *body;
    size_t body_len;
    char *resp;
    size_t resp_len, resp_cap;
    struct curl_slist *hdr;
    CURL *e;
    struct req *prev, *next; /* in flight */
};

static void req_free(CURLM *m, struct req *r, struct req **head)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    curl_multi_remove_handle(m, r->e);
    curl_easy_cleanup(r->e);
    curl_slist_free_all(r->hdr);
    free(r->body);
    free(r->resp);
    free(r);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct req *r = ctx;
    size_t n = size * nmemb;
    return sf__buf_append(&r->resp, &r->resp_len, &r->resp_cap, data, n, LOAD_MAX_RESPONSE_BYTES)
               ? 0
               : n;
}

/* Builds the request body for image img: JSON, or the binary extension's JSON header + floats. */
static int build_body(const struct sf_load_cfg *c, size_t img, struct req *r)
{
    const float *x = c->images + img * c->numel;
    char head[512];
    if (!c->json) {
        int hl = snprintf(head, sizeof(head),
                          "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,%lld,%lld,%lld],"
                          "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":%zu}}]}",
                          (long long)c->dims[0], (long long)c->dims[1], (long long)c->dims[2],
                          c->numel * 4);
        r->body_len = (size_t)hl + c->numel * 4;
        r->body = malloc(r->body_len);
        if (!r->body)
            return -1;
        memcpy(r->body, head, (size_t)hl);
        memcpy(r->body + hl, x, c->numel * 4);
        char h[96];
        snprintf(h, sizeof(h), "Inference-Header-Content-Length: %d", hl);
        r->hdr = curl_slist_append(r->hdr, h);
        r->hdr = curl_slist_append(r->hdr, "Content-Type: application/octet-stream");
        return 0;
    }
    size_t cap = 256 + c->numel * 16;
    r->body = malloc(cap);
    if (!r->body)
        return -1;
    size_t n = (size_t)snprintf(r->body, cap,
                                "{\"id\":\"%zu\",\"inputs\":[{\"name\":\"input\",\"shape\":[1,%lld,"
                                "%lld,%lld],\"datatype\":\"FP32\",\"data\":[",
                                r->idx, (long long)c->dims[0], (long long)c->dims[1],
                                (long long)c->dims[2]);
    for (size_t i = 0; i < c->numel; i++)
        n += (size_t)snprintf(r->body + n, cap - n, i ? ",%.7g" : "%.7g", (double)x[i]);
    n += (size_t)snprintf(r->body + n, cap - n, "]}]}");
    r->body_len = n;
    r->hdr = curl_slist_append(r->hdr, "Content-Type: application/json");
    return 0;
}

double *sf_load_arrivals(const struct sf_trace *t, double rate_scale, size_t *n_out)
{
    size_t n = 0;
    for (int64_t u = 0; u < t->n_units; u++)
        n += (size_t)llround(t->unit_count[u] * rate_scale);
    double *a = malloc((n ? n : 1) * sizeof(double));
    if (!a)
        return NULL;
    size_t j = 0;
    for (int64_t u = 0; u < t->n_units; u++) {
        uint32_t c = (uint32_t)llround(t->unit_count[u] * rate_scale);
        for (uint32_t k = 0; k < c; k++)
            a[j++] = (double)u * t->unit_s + (k + 0.5) / c * t->unit_s;
    }
    *n_out = n;
    return a;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *sorted, size_t n, double q)
{
    if (!n)
        return 0;
    size_t k = (size_t)ceil(q * (double)n);
    return sorted[k ? k - 1 : 0];
}

/* An output tensor of an answer by name, or NULL. */
static json_t *output(json_t *outs, const char *want)
{
    size_t i;
    json_t *out;
    json_array_foreach(outs, i, out)
    {
        const char *name = json_string_value(json_object_get(out, "name"));
        if (name && !strcmp(name, want))
            return out;
    }
    return NULL;
}

/* Reads label and where from an answer to one image; 0 only when it is a valid OIP response:
 * label an INT64 [1] within the classes, probabilities an FP32 [1, C] of C finite numbers in
 * [0, 1] (1 <= C <= 64), exit_stage >= 1, where a string. */
static int parse_answer(const char *text, size_t len, int *label, char *where, size_t wsize)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    if (!o)
        return -1;
    int rc = -1;
    json_t *outs = json_object_get(o, "outputs");
    json_t *lab = output(outs, "label"), *prob = output(outs, "probabilities"),
           *ex = output(outs, "exit_stage"), *wh = output(outs, "where");
    *label = -1;
    where[0] = '\0';
    json_t *pd = prob ? json_object_get(prob, "data") : NULL;
    json_t *ps = prob ? json_object_get(prob, "shape") : NULL;
    json_t *ld = lab ? json_object_get(lab, "data") : NULL;
    json_t *ed = ex ? json_object_get(ex, "data") : NULL;
    json_t *wd = wh ? json_object_get(wh, "data") : NULL;
    size_t c = json_is_array(pd) ? json_array_size(pd) : 0;
    int ok = c >= 1 && c <= SF_NN_MAX_CLASSES && json_array_size(ps) == 2 &&
             json_integer_value(json_array_get(ps, 0)) == 1 &&
             json_integer_value(json_array_get(ps, 1)) == (json_int_t)c &&
             json_array_size(ld) == 1 && json_is_integer(json_array_get(ld, 0)) &&
             json_array_size(ed) == 1 && json_integer_value(json_array_get(ed, 0)) >= 1 &&
             json_array_size(wd) == 1 && json_is_string(json_array_get(wd, 0));
    for (size_t i = 0; ok && i < c; i++) {
        double v = json_number_value(json_array_get(pd, i));
        ok = json_is_number(json_array_get(pd, i)) && isfinite(v) && v >= 0 && v <= 1 + 1e-6;
    }
    if (ok) {
        json_int_t l = json_integer_value(json_array_get(ld, 0));
        if (l >= 0 && (size_t)l < c) {
            *label = (int)l;
            snprintf(where, wsize, "%s", json_string_value(json_array_get(wd, 0)));
            rc = 0;
        }
    }
    json_decref(o);
    return rc;
}

static void finish_req(const struct sf_load_cfg *c, struct sf_load_stats *st, struct req *r,
                       CURLcode res, long status, double now, double *lat)
{
    st->done++;
    if (res == CURLE_COULDNT_CONNECT) {
        st->refused++;
        return;
    }
    if (res != CURLE_OK) {
        st->conn_errors++;
        return;
    }
    if (status == 503)
        st->status_503++;
    else if (status >= 500)
        st->status_5xx++;
    else if (status >= 400)
        st->status_4xx++;
    int label;
    char where[96];
    if (status != 200)
        return;
    if (parse_answer(r->resp, r->resp_len, &label, where, sizeof(where)) != 0) {
        st->invalid++; /* a 200 that is not an answer: never counted as one */
        return;
    }
    double l = now - r->t_arrival;
    lat[st->ok++] = l;
    if (label == c->labels[r->idx % c->n_images])
        st->correct++;
    if (l <= c->slo_s)
        st->slo_ok++;
    if (!strncmp(where, "function", 8))
        st->where_function++;
    else if (strstr(where, "function"))
        st->where_hybrid++;
    else
        st->where_vm++;
}

/* The event loop libcurl's socket interface drives: its sockets in an epoll set, its timeout. */
struct loop {
    int ep;
    CURLM *m;
    double timer_at_s; /* libcurl's next timeout (monotonic seconds); INFINITY: none */
};

/* Events a wake-up handles at most; the rest come with the next epoll_wait. */
#define LOAD_MAX_EVENTS 64

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    struct loop *l = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(l->m, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                                       ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u),
                             .data.fd = s};
    if (socketp)
        return epoll_ctl(l->ep, EPOLL_CTL_MOD, s, &ev) == 0 ? 0 : -1;
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, s, &ev) != 0)
        return -1;
    curl_multi_assign(l->m, s, l); /* any non-NULL pointer: "in the set" */
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct loop *l = userp;
    l->timer_at_s = timeout_ms < 0 ? INFINITY : sf_monotonic_s() + (double)timeout_ms / 1e3;
    return 0;
}

/* Arms the timerfd for monotonic time at_s (0 disarms). */
static void arm(int tfd, double at_s)
{
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (isfinite(at_s) && at_s > 0) {
        its.it_value.tv_sec = (time_t)at_s;
        its.it_value.tv_nsec = (long)((at_s - (double)its.it_value.tv_sec) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
    }
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Starts request number `next` (its handle joins the multi); 0, or -1 when out of memory (the
 * request then counts as a connection error). */
static int start_req(const struct sf_load_cfg *c, CURLM *m, const char *url, size_t next,
                     struct req **inflight)
{
    struct req *r = calloc(1, sizeof(*r));
    CURL *e = r ? curl_easy_init() : NULL;
    if (!e || build_body(c, next % c->n_images, r) != 0) {
        if (r) {
            curl_slist_free_all(r->hdr);
            free(r->body);
        }
        free(r);
        if (e)
            curl_easy_cleanup(e);
        return -1;
    }
    r->idx = next;
    r->t_arrival = c->arrival_s[next] / c->time_scale;
    r->hdr = curl_slist_append(r->hdr, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000));
    r->e = e;
    r->next = *inflight;
    if (*inflight)
        (*inflight)->prev = r;
    *inflight = r;
    curl_multi_add_handle(m, e);
    return 0;
}

int sf_load_run(const struct sf_load_cfg *c, struct sf_load_stats *st, struct sf_err *err)
{
    memset(st, 0, sizeof(*st));
    st->planned = c->n_requests;
    if (!c->n_images || !c->numel)
        return sf_err_set(err, SF_EINVAL, "load: no images");
    double *lat = malloc((c->n_requests ? c->n_requests : 1) * sizeof(double));
    CURLM *m = curl_multi_init();
    struct loop l = {.ep = epoll_create1(EPOLL_CLOEXEC), .m = m, .timer_at_s = INFINITY};
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.fd = tfd};
    if (!lat || !m || l.ep < 0 || tfd < 0 || epoll_ctl(l.ep, EPOLL_CTL_ADD, tfd, &tev) != 0) {
        int e = errno;
        free(lat);
        if (m)
            curl_multi_cleanup(m);
        if (l.ep >= 0)
            close(l.ep);
        if (tfd >= 0)
            close(tfd);
        return !lat || !m ? sf_err_set(err, SF_ENOMEM, "load: out of memory")
                          : sf_err_set(err, SF_EIO, "load: epoll/timerfd: %s", strerror(e));
    }
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->max_connections);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_connections);
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, &l);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, &l);
    char url[512];
    snprintf(url, sizeof(url), "%s/v2/models/%s/infer", c->url, c->model_name);
    double t0 = sf_monotonic_s(), last_progress = 0;
    size_t next = 0;
    int running = 0;
    struct req *inflight = NULL;
    struct epoll_event ev[LOAD_MAX_EVENTS];
    while ((st->done < c->n_requests) && !(c->stop && *c->stop)) {
        double now = sf_monotonic_s() - t0;
        while (next < c->n_requests && c->arrival_s[next] / c->time_scale <= now) {
            if (start_req(c, m, url, next, &inflight) != 0) {
                st->done++;
                st->conn_errors++;
            } else {
                st->sent++;
            }
            next++;
        }
        /* libcurl's timeouts (a new handle asks for one at once), then the sockets ready */
        if (sf_monotonic_s() >= l.timer_at_s) {
            l.timer_at_s = INFINITY;
            curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        /* sleep until a socket, libcurl's timer or the next arrival, and at most 0.1 s (the
         * stop flag and the progress line); the timerfd carries the deadline */
        double wake_s = sf_monotonic_s() + 0.1;
        if (next < c->n_requests && t0 + c->arrival_s[next] / c->time_scale < wake_s)
            wake_s = t0 + c->arrival_s[next] / c->time_scale;
        if (l.timer_at_s < wake_s)
            wake_s = l.timer_at_s;
        int n = 0;
        if (wake_s > sf_monotonic_s()) {
            arm(tfd, wake_s);
            n = epoll_wait(l.ep, ev, LOAD_MAX_EVENTS, -1);
        } else {
            n = epoll_wait(l.ep, ev, LOAD_MAX_EVENTS, 0);
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == tfd) {
                uint64_t ticks;
                ssize_t rd = read(tfd, &ticks, sizeof(ticks));
                (void)rd;
                continue;
            }
            int fl = ((ev[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                     ((ev[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                     ((ev[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(m, ev[i].data.fd, fl, &running);
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            struct req *r = NULL;
            long status = 0;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            finish_req(c, st, r, msg->data.result, status, sf_monotonic_s() - t0, lat);
            req_free(m, r, &inflight);
        }
        now = sf_monotonic_s() - t0;
        st->elapsed_s = now;
        if (c->progress && now - last_progress >= c->progress_every_s) {
            last_progress = now;
            c->progress(c->progress_ctx, st);
        }
    }
    /* stopped early: abandon what is in flight */
    while (inflight)
        req_free(m, inflight, &inflight);
    curl_multi_cleanup(m);
    close(l.ep);
    close(tfd);
    qsort(lat, st->ok, sizeof(double), cmp_double);
    st->p50_s = quantile(lat, st->ok, 0.50);
    st->p95_s = quantile(lat, st->ok, 0.95);
    st->p99_s = quantile(lat, st->ok, 0.99);
    st->max_s = st->ok ? lat[st->ok - 1] : 0;
    st->elapsed_s = sf_monotonic_s() - t0;
    free(lat);
    return SF_OK;
}
