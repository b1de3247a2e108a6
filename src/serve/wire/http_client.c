/*
 * http_client.c - one-shot HTTP requests with libcurl for the serving processes: a POST of a
 * frame or JSON (or a GET), bounded by a timeout and a response cap, reporting the status and
 * whether the Lambda Invoke API flagged a function error (X-Amz-Function-Error).
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serflow/wire.h"
#include "serflow/http.h"
#include "wire/wire_int.h"

struct sink {
    char *p;
    size_t len, cap, max;
    int too_big;
    int fn_error;
    char auth[80]; /* the answer's X-Serflow-Auth-Response */
    struct sf_http_bill bill;
};

/* A response header's value as a finite number >= 0 (the bill a callee reports), or -1. */
static double header_number(const char *data, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(data, name, nl) != 0 || data[nl] != ':')
        return -2; /* not this header */
    char v[64];
    size_t vl = n - nl - 1;
    const char *p = data + nl + 1;
    while (vl && (*p == ' ' || *p == '\t'))
        p++, vl--;
    while (vl && (p[vl - 1] == '\r' || p[vl - 1] == '\n' || p[vl - 1] == ' '))
        vl--;
    if (vl == 0 || vl >= sizeof(v))
        return -1;
    memcpy(v, p, vl);
    v[vl] = '\0';
    char *end;
    double x = strtod(v, &end);
    return *end == '\0' && x >= 0 && x < 1e15 ? x : -1;
}

static void sink_init(struct sink *s, const struct sf_http_opts *o)
{
    memset(s, 0, sizeof(*s));
    s->max = o ? o->max_resp_bytes : 0;
    s->bill = (struct sf_http_bill){-1, -1, -1};
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx);

int sf__buf_append(char **p, size_t *len, size_t *cap, const void *data, size_t n, size_t max)
{
    if (n > max || *len > max - n)
        return -1;
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        if (c > max + 1)
            c = max + 1;
        char *q = realloc(*p, c);
        if (!q)
            return -2;
        *p = q;
        *cap = c;
    }
    memcpy(*p + *len, data, n);
    *len += n;
    (*p)[*len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct sink *s = ctx;
    size_t n = size * nmemb;
    int rc =
        sf__buf_append(&s->p, &s->len, &s->cap, data, n, s->max ? s->max : SF_SERVE_MAX_BODY_BYTES);
    s->too_big |= rc == -1;
    return rc ? 0 : n; /* 0 aborts the transfer */
}

/* The options every request here shares: url, headers, no signals, timeouts, the body sink and
 * the function-error header, and the POST body when there is one. */
static void easy_setup(CURL *c, const char *url, struct curl_slist *hl, double timeout_s,
                       struct sink *s, const void *body, size_t len)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000 + 0.5));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct sink *s = ctx;
    size_t n = size * nmemb;
    static const char name[] = "X-Amz-Function-Error:";
    static const char auth[] = SF_AUTH_RESPONSE_HEADER ":";
    if (n >= sizeof(name) - 1 && !strncasecmp(data, name, sizeof(name) - 1))
        s->fn_error = 1;
    double x;
    if ((x = header_number(data, n, SF_HTTP_BILLED_HEADER)) > -2)
        s->bill.billed_ms = x;
    else if ((x = header_number(data, n, SF_HTTP_TAIL_BILLED_HEADER)) > -2)
        s->bill.tail_billed_ms = x;
    else if ((x = header_number(data, n, SF_HTTP_TAIL_CALLS_HEADER)) > -2)
        s->bill.tail_calls = x;
    if (n > sizeof(auth) - 1 && !strncasecmp(data, auth, sizeof(auth) - 1)) {
        const char *v = data + sizeof(auth) - 1;
        size_t vl = n - (sizeof(auth) - 1);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof(s->auth)) {
            memcpy(s->auth, v, vl);
            s->auth[vl] = '\0';
        }
    }
    return n;
}

/* Adds the signed X-Serflow-Auth header for METHOD url to hl; nonce receives its nonce. */
static struct curl_slist *sign(const struct sf_http_opts *o, const char *method, const char *url,
                               struct curl_slist *hl, char *nonce)
{
    if (!o || !o->auth || !o->auth->set)
        return hl;
    char path[1024], v[SF_AUTH_HEADER_BYTES], line[SF_AUTH_HEADER_BYTES + 32];
    sf_auth_url_path(url, path, sizeof(path));
    if (sf_auth_sign_request(o->auth, method, path, v, sizeof(v), nonce) != SF_OK)
        return hl;
    snprintf(line, sizeof(line), "%s: %s", SF_AUTH_REQUEST_HEADER, v);
    return curl_slist_append(hl, line);
}

/* 1 when the answer may be used: no identity asked for, or its MAC is right. */
static int answer_ok(const struct sf_http_opts *o, const char *nonce, long status,
                     const struct sink *s)
{
    if (!o || !o->auth || !o->auth->set)
        return 1;
    return sf_auth_check_response(o->auth->key, nonce, (int)status, s->auth) == SF_OK;
}

int sf_http_global_init(struct sf_err *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return sf_err_set(err, SF_EIO, "curl_global_init failed");
    return SF_OK;
}

struct sf_http {
    CURL *c;
};

struct sf_http *sf_http_new(void)
{
    struct sf_http *h = calloc(1, sizeof(*h));
    if (h && !(h->c = curl_easy_init())) {
        free(h);
        h = NULL;
    }
    return h;
}

void sf_http_free(struct sf_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->c);
    free(h);
}

int sf_http_request(struct sf_http *h, const char *url, const void *body, size_t len,
                    const char *const *headers, double timeout_s, long *status, char **resp,
                    size_t *resp_len, int *fn_error, struct sf_err *err)
{
    return sf_http_request_opts(h, NULL, url, body, len, headers, timeout_s, status, resp, resp_len,
                                fn_error, err);
}

int sf_http_request_opts(struct sf_http *h, const struct sf_http_opts *opts, const char *url,
                         const void *body, size_t len, const char *const *headers, double timeout_s,
                         long *status, char **resp, size_t *resp_len, int *fn_error,
                         struct sf_err *err)
{
    *status = 0;
    if (resp)
        *resp = NULL;
    if (resp_len)
        *resp_len = 0;
    CURL *c = h ? h->c : curl_easy_init();
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "%s: curl_easy_init failed", url);
    if (h)
        curl_easy_reset(c); /* options reset, the connection cache kept: keep-alive */
    struct sink s;
    sink_init(&s, opts);
    struct curl_slist *hl = NULL;
    char nonce[33] = "";
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    for (size_t i = 0; opts && opts->headers && opts->headers[i]; i++)
        hl = curl_slist_append(hl, opts->headers[i]);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    hl = sign(opts, body ? "POST" : "GET", url, hl, nonce);
    easy_setup(c, url, hl, timeout_s, &s, body, len);
    CURLcode rc = curl_easy_perform(c);
    int ret = SF_OK;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK || !answer_ok(opts, nonce, *status, &s)) {
        ret = rc != CURLE_OK
                  ? sf_err_set(err, s.too_big ? SF_ETOOBIG : SF_EIO, "%s: %s", url,
                               s.too_big ? "response too large" : curl_easy_strerror(rc))
                  : sf_err_set(err, SF_EIO, "%s: the answer does not carry the callee's %s", url,
                               SF_AUTH_RESPONSE_HEADER);
        *status = 0;
        free(s.p);
        s.p = NULL;
        s.len = 0;
    }
    curl_slist_free_all(hl);
    if (!h)
        curl_easy_cleanup(c);
    if (fn_error)
        *fn_error = s.fn_error;
    if (opts && opts->bill)
        *opts->bill = s.bill; /* billed even when the answer itself failed */
    if (resp)
        *resp = s.p;
    else
        free(s.p);
    if (resp_len)
        *resp_len = s.len;
    return ret;
}

int sf_http_post_many(const struct sf_http_opts *opts, const char *url, const void *const *bodies,
                      const size_t *lens, size_t n, double timeout_s, long *status, char **resps,
                      size_t *resp_lens, int *fn_errors)
{
    CURLM *multi = curl_multi_init();
    if (!multi)
        return SF_ENOMEM;
    CURL **easy = calloc(n, sizeof(*easy));
    struct sink *sinks = calloc(n, sizeof(*sinks));
    struct curl_slist **hls = calloc(n, sizeof(*hls));
    char(*nonces)[33] = calloc(n, sizeof(*nonces));
    int rc = SF_OK;
    if (!easy || !sinks || !hls || !nonces) {
        rc = SF_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        status[i] = 0;
        resps[i] = NULL;
        resp_lens[i] = 0;
        fn_errors[i] = 0;
        if (opts && opts->bill)
            opts->bill[i] = (struct sf_http_bill){-1, -1, -1};
    }
    for (size_t i = 0; i < n; i++) {
        CURL *c = easy[i] = curl_easy_init();
        /* each request its own nonce */
        hls[i] = curl_slist_append(NULL, "Expect:");
        hls[i] = curl_slist_append(hls[i], "Content-Type: application/octet-stream");
        for (size_t k = 0; opts && opts->headers && opts->headers[k]; k++)
            hls[i] = curl_slist_append(hls[i], opts->headers[k]);
        hls[i] = sign(opts, "POST", url, hls[i], nonces[i]);
        if (!c || !hls[i]) {
            rc = SF_ENOMEM;
            goto done;
        }
        sink_init(&sinks[i], opts);
        easy_setup(c, url, hls[i], timeout_s, &sinks[i], bodies[i], lens[i]);
        curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)(uintptr_t)i);
        curl_multi_add_handle(multi, c);
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        void *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        size_t i = (size_t)(uintptr_t)priv;
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status[i]);
        if (status[i] && !answer_ok(opts, nonces[i], status[i], &sinks[i]))
            status[i] = 0; /* not from the callee: as if no answer came */
    }
    for (size_t i = 0; i < n; i++) {
        if (status[i] == 0) {
            free(sinks[i].p);
            sinks[i].p = NULL;
            sinks[i].len = 0;
        }
        resps[i] = sinks[i].p;
        resp_lens[i] = sinks[i].len;
        fn_errors[i] = sinks[i].fn_error;
        if (opts && opts->bill)
            opts->bill[i] = sinks[i].bill;
        sinks[i].p = NULL;
    }
done:
    for (size_t i = 0; easy && i < n; i++)
        if (easy[i]) {
            curl_multi_remove_handle(multi, easy[i]);
            curl_easy_cleanup(easy[i]);
        }
    for (size_t i = 0; sinks && i < n; i++)
        free(sinks[i].p);
    for (size_t i = 0; hls && i < n; i++)
        curl_slist_free_all(hls[i]);
    curl_multi_cleanup(multi);
    free(easy);
    free(sinks);
    free(hls);
    free(nonces);
    return rc;
}
