/*
 * client.c - the client object (region, endpoints, credentials, retry quota, one curl handle)
 * and the attempt loop every API call goes through: sign with fresh credentials and the current
 * time, send, read the service's error code, classify, and retry the retryable outcomes with
 * full-jitter backoff while the attempts and the retry quota last.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"

struct sf_aws_client {
    char region[SF_AWS_NAME_MAX];
    char endpoint[SF_AWS_N_SERVICES][SF_AWS_URL_MAX];
    char host[SF_AWS_N_SERVICES][SF_AWS_URL_MAX];
    int max_attempts;
    double timeout_s, connect_timeout_s;
    struct sf_aws_credp *creds;
    struct sf_aws_quota *quota, *own_quota;
    struct sf__hooks hooks;
    CURL *curl;
    double deadline_s; /* hooks' monotonic clock; 0: none (sf_aws_client_set_deadline) */
};

void sf_aws_client_set_deadline(struct sf_aws_client *c, double mono_deadline_s)
{
    c->deadline_s = mono_deadline_s > 0 ? mono_deadline_s : 0;
}

/* The time one attempt may take now: the client's, cut to the deadline (<= 0: past it). */
static double attempt_timeout_s(struct sf_aws_client *c)
{
    if (!c->deadline_s)
        return c->timeout_s;
    double left = c->deadline_s - c->hooks.h.mono_s(c->hooks.h.ctx);
    return left < c->timeout_s ? left : c->timeout_s;
}

int sf_aws_global_init(struct sf_err *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return sf_err_set(err, SF_EIO, "curl_global_init failed");
    xmlInitParser();
    return SF_OK;
}

/* Checks a base URL and splits off its host[:port] (what goes in the Host header). */
static int set_endpoint(struct sf_aws_client *c, enum sf_aws_service s, const char *url,
                        struct sf_err *err)
{
    const char *what = sf__svc_signing_name(s);
    int rc = sf__copy(c->endpoint[s], sizeof(c->endpoint[s]), url, what, err);
    if (rc)
        return rc;
    char *e = c->endpoint[s];
    size_t n = strlen(e);
    while (n && e[n - 1] == '/')
        e[--n] = '\0';
    const char *h = !strncmp(e, "https://", 8) ? e + 8 : !strncmp(e, "http://", 7) ? e + 7 : NULL;
    if (!h)
        return sf_err_set(err, SF_EINVAL, "%s endpoint %s: not an http(s) URL", what, e);
    size_t hl = strcspn(h, "/");
    if (hl == 0 || strcspn(e, "?#@ \t\r\n") != n || h[hl] != '\0')
        return sf_err_set(err, SF_EINVAL,
                          "%s endpoint %s: expected scheme://host[:port] with no path, user, "
                          "query or fragment",
                          what, e);
    memcpy(c->host[s], h, hl);
    c->host[s][hl] = '\0';
    return SF_OK;
}

int sf_aws_client_new(struct sf_aws_client **out, const struct sf_aws_client_cfg *cfg,
                      struct sf_err *err)
{
    *out = NULL;
    if (!cfg || !cfg->creds)
        return sf_err_set(err, SF_EINVAL, "aws client: a credentials provider is required");
    struct sf_aws_client *c = calloc(1, sizeof(*c));
    if (!c)
        return sf_err_set(err, SF_ENOMEM, "aws client: no memory");
    int rc = SF_OK;
    sf__hooks_init(&c->hooks, cfg->hooks);
    c->creds = cfg->creds;
    if (cfg->region && *cfg->region)
        rc = sf__copy(c->region, sizeof(c->region), cfg->region, "region", err);
    else
        rc = sf_aws_region_resolve(NULL, c->region, sizeof(c->region), err);
    if (rc)
        goto fail;
    for (const char *p = c->region; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-') {
            rc = sf_err_set(err, SF_EINVAL, "region %s: expected lower-case letters, digits, -",
                            c->region);
            goto fail;
        }
    for (int s = 0; s < SF_AWS_N_SERVICES; s++) {
        char env_name[96], def[SF_AWS_URL_MAX];
        snprintf(env_name, sizeof(env_name), "AWS_ENDPOINT_URL_%s", sf__svc_env_name(s));
        const char *url = cfg->endpoint[s];
        if (!url || !*url)
            url = cfg->endpoint_url;
        if (!url || !*url)
            url = getenv(env_name);
        if (!url || !*url)
            url = getenv("AWS_ENDPOINT_URL");
        if (!url || !*url) {
            snprintf(def, sizeof(def), "https://%s.%s.amazonaws.com", sf__svc_signing_name(s),
                     c->region);
            url = def;
        }
        if ((rc = set_endpoint(c, s, url, err)))
            goto fail;
    }
    c->max_attempts = cfg->max_attempts;
    if (c->max_attempts == 0) {
        const char *e = getenv("AWS_MAX_ATTEMPTS");
        char *end = NULL;
        long v = e && *e ? strtol(e, &end, 10) : 0;
        c->max_attempts =
            e && *e && end && !*end ? (int)(v > 0 && v < 1000 ? v : -1) : SF_AWS_DEFAULT_ATTEMPTS;
    }
    if (c->max_attempts < 1 || c->max_attempts > SF_AWS_MAX_ATTEMPTS_CAP) {
        rc = sf_err_set(err, SF_ERANGE, "max attempts: expected 1..%d", SF_AWS_MAX_ATTEMPTS_CAP);
        goto fail;
    }
    c->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : SF_AWS_DEFAULT_TIMEOUT_S;
    c->connect_timeout_s =
        cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : SF_AWS_DEFAULT_CONNECT_TIMEOUT_S;
    if (c->timeout_s > 3600 || c->connect_timeout_s > 3600) {
        rc = sf_err_set(err, SF_ERANGE, "timeouts: at most an hour");
        goto fail;
    }
    c->quota = cfg->quota;
    if (!c->quota && !(c->quota = c->own_quota = sf_aws_quota_new(SF_AWS_RETRY_QUOTA))) {
        rc = sf_err_set(err, SF_ENOMEM, "aws client: no memory");
        goto fail;
    }
    if (!(c->curl = curl_easy_init())) {
        rc = sf_err_set(err, SF_ENOMEM, "aws client: curl_easy_init failed");
        goto fail;
    }
    *out = c;
    return SF_OK;
fail:
    sf_aws_client_free(c);
    return rc;
}

void sf_aws_client_free(struct sf_aws_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    sf_aws_quota_free(c->own_quota);
    free(c);
}

const char *sf_aws_client_region(const struct sf_aws_client *c)
{
    return c->region;
}

const char *sf_aws_client_endpoint(const struct sf_aws_client *c, enum sf_aws_service s)
{
    return (unsigned)s < SF_AWS_N_SERVICES ? c->endpoint[s] : "";
}

char *sf__query_body(enum sf_aws_service s, const char *action, const struct sf_aws_kv *params,
                     size_t n, size_t *len)
{
    struct sf__abuf b;
    sf__abuf_init(&b, (size_t)SF_AWS_XML_MAX_BYTES);
    sf__abuf_str(&b, "Action=");
    sf__abuf_uri(&b, action, strlen(action), 0);
    sf__abuf_str(&b, "&Version=");
    sf__abuf_str(&b, sf__svc_api_version(s));
    for (size_t i = 0; i < n; i++) {
        sf__abuf_ch(&b, '&');
        sf__abuf_uri(&b, params[i].name, strlen(params[i].name), 0);
        sf__abuf_ch(&b, '=');
        sf__abuf_uri(&b, params[i].value, strlen(params[i].value), 0);
    }
    *len = b.len;
    return sf__abuf_take(&b);
}

/* The code and message of a REST JSON error: X-Amzn-ErrorType, else the body's __type or code;
 * the message from message or Message. */
static void json_error(const struct sf__resp *r, char *code, size_t code_size, char *msg,
                       size_t msg_size)
{
    if (r->error_type[0])
        snprintf(code, code_size, "%s", r->error_type);
    if (!r->body || r->len == 0 || r->len > SF_AWS_ERROR_BODY_MAX_BYTES)
        return;
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    const char *t = json_string_value(json_object_get(j, "__type"));
    if (!t)
        t = json_string_value(json_object_get(j, "code"));
    if (t && !code[0]) {
        const char *hash = strrchr(t, '#'); /* "aws.protocol#Code" */
        snprintf(code, code_size, "%s", hash ? hash + 1 : t);
    }
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!m)
        m = json_string_value(json_object_get(j, "Message"));
    if (m)
        snprintf(msg, msg_size, "%s", m);
    json_decref(j);
}

/* Every header line to send: Host, the request's own, then the signer's. */
static int header_lines(const char *host, const struct sf__req *req, const struct sf_sigv4_out *so,
                        char ***lines_out)
{
    size_t n = 1 + req->n_headers + so->n_add;
    char **lines = calloc(n + 1, sizeof(*lines));
    if (!lines)
        return SF_ENOMEM;
    struct sf_aws_kv all[SF_AWS_MAX_HEADERS + 8];
    size_t k = 0;
    all[k++] = (struct sf_aws_kv){"Host", host};
    for (size_t i = 0; i < req->n_headers; i++)
        all[k++] = req->headers[i];
    for (size_t i = 0; i < so->n_add; i++)
        all[k++] = so->add[i];
    for (size_t i = 0; i < k; i++) {
        size_t l = strlen(all[i].name) + strlen(all[i].value) + 3;
        int bad = strpbrk(all[i].value, "\r\n") != NULL; /* no header injection */
        if (!bad)
            lines[i] = malloc(l);
        if (bad || !lines[i]) {
            for (size_t j = 0; j < i; j++)
                free(lines[j]);
            free(lines);
            return bad ? SF_EINVAL : SF_ENOMEM;
        }
        snprintf(lines[i], l, "%s: %s", all[i].name, all[i].value);
    }
    *lines_out = lines;
    return SF_OK;
}

static void free_lines(char **lines)
{
    for (size_t i = 0; lines && lines[i]; i++) {
        OPENSSL_cleanse(lines[i], strlen(lines[i]));
        free(lines[i]);
    }
    free(lines);
}

/* One attempt: sign, send, read. *outcome says how it ended; err why, when not OK. */
static int attempt_once(struct sf_aws_client *c, const struct sf__req *req, struct sf__resp *resp,
                        enum sf_aws_outcome *outcome, char *code, size_t code_size,
                        struct sf_err *err)
{
    struct sf_aws_creds cr;
    int rc = sf_aws_credp_get(c->creds, &cr, err);
    if (rc) {
        *outcome = SF_AWS_AUTH_ERROR;
        return rc;
    }
    const char *host = c->host[req->svc];
    if (req->n_headers + 1 > SF_AWS_MAX_HEADERS) {
        sf_aws_creds_wipe(&cr);
        *outcome = SF_AWS_CLIENT_ERROR;
        return sf_err_set(err, SF_EINVAL, "%s: too many headers", req->operation);
    }
    struct sf_aws_kv hdrs[SF_AWS_MAX_HEADERS];
    hdrs[0] = (struct sf_aws_kv){"Host", host};
    for (size_t i = 0; i < req->n_headers; i++)
        hdrs[i + 1] = req->headers[i];
    struct sf_sigv4_req sr = {req->method, req->path,          req->query, req->n_query,
                              hdrs,        req->n_headers + 1, req->body,  req->body_len};
    struct sf_sigv4_cfg sc = {c->region, sf__svc_signing_name(req->svc),
                              (int64_t)c->hooks.h.wall_s(c->hooks.h.ctx), 0};
    struct sf_sigv4_out so;
    rc = sf_sigv4_sign(&sr, &cr, &sc, &so, err);
    if (rc) {
        sf_aws_creds_wipe(&cr);
        *outcome = SF_AWS_CLIENT_ERROR;
        return rc;
    }
    struct sf__abuf url;
    sf__abuf_init(&url, (size_t)SF_AWS_URL_MAX * 8);
    sf__abuf_str(&url, c->endpoint[req->svc]);
    sf__abuf_str(&url, req->path);
    for (size_t i = 0; i < req->n_query; i++) {
        sf__abuf_ch(&url, i ? '&' : '?');
        sf__abuf_uri(&url, req->query[i].name, strlen(req->query[i].name), 0);
        sf__abuf_ch(&url, '=');
        const char *v = req->query[i].value ? req->query[i].value : "";
        sf__abuf_uri(&url, v, strlen(v), 0);
    }
    char **lines = NULL;
    /* so.add's token header borrows cr: the lines are built before cr is wiped */
    int hrc = url.status ? url.status : header_lines(host, req, &so, &lines);
    sf_aws_creds_wipe(&cr);
    if (hrc != SF_OK) {
        sf__abuf_fini(&url);
        sf_sigv4_out_fini(&so);
        *outcome = SF_AWS_CLIENT_ERROR;
        return sf_err_set(err, SF_EINVAL, "%s %s: cannot build the request",
                          sf__svc_signing_name(req->svc), req->operation);
    }
    sf__log(&c->hooks, "aws: %s %s (%s) Authorization: %s", req->method, url.p, req->operation,
            so.authorization);
    enum sf_aws_outcome tr;
    double tmo = attempt_timeout_s(c);
    double ctmo = c->connect_timeout_s < tmo ? c->connect_timeout_s : tmo;
    rc = sf__http_do(c->curl, req->method, url.p, (const char *const *)lines, req->body,
                     req->body_len, tmo > 0.001 ? tmo : 0.001, ctmo > 0.001 ? ctmo : 0.001,
                     req->max_body_bytes, resp, &tr, err);
    free_lines(lines);
    sf_sigv4_out_fini(&so);
    if (rc) {
        *outcome = tr != SF_AWS_OK ? tr : SF_AWS_CONNECT_ERROR;
        sf__log(&c->hooks, "aws: %s %s: %s", req->operation, sf_aws_outcome_name(*outcome),
                err ? err->msg : "");
        sf__abuf_fini(&url);
        return rc;
    }
    sf__abuf_fini(&url);
    char msg[256] = "";
    code[0] = '\0';
    if (resp->status < 200 || resp->status >= 300) {
        if (req->svc == SF_AWS_LAMBDA)
            json_error(resp, code, code_size, msg, sizeof(msg));
        else if (resp->body && resp->len <= SF_AWS_ERROR_BODY_MAX_BYTES)
            sf_aws_xml_error(resp->body, resp->len, code, code_size, msg, sizeof(msg));
    }
    *outcome = sf_aws_classify(resp->status, code);
    sf__log(&c->hooks, "aws: %s -> HTTP %ld %s %s (request id %s)", req->operation, resp->status,
            code, msg, resp->request_id);
    if (*outcome != SF_AWS_OK)
        return sf_err_set(err, sf_aws_outcome_status(*outcome), "%s %s: HTTP %ld%s%s%s%s",
                          sf__svc_signing_name(req->svc), req->operation, resp->status,
                          code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
    return SF_OK;
}

int sf__aws_call(struct sf_aws_client *c, const struct sf__req *req, struct sf__resp *resp,
                 struct sf_aws_call_info *info, struct sf_err *err)
{
    struct sf_aws_call_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    memset(resp, 0, sizeof(*resp));
    int last_cost = 0, rc = SF_OK;
    for (int attempt = 1;; attempt++) {
        sf__resp_fini(resp);
        enum sf_aws_outcome o;
        char code[SF_AWS_ID_MAX];
        code[0] = '\0';
        if (attempt_timeout_s(c) <= 0) { /* the caller's deadline passed: no attempt starts */
            info->outcome = SF_AWS_TIMEOUT;
            rc = sf_err_set(err, SF_ETIMEDOUT, "%s %s: the call's deadline passed",
                            sf__svc_signing_name(req->svc), req->operation);
            break;
        }
        rc = attempt_once(c, req, resp, &o, code, sizeof(code), err);
        info->attempts = attempt;
        info->outcome = o;
        info->http_status = resp->status;
        snprintf(info->error_code, sizeof(info->error_code), "%s", code);
        snprintf(info->request_id, sizeof(info->request_id), "%s", resp->request_id);
        if (o == SF_AWS_OK) {
            sf_aws_quota_release(c->quota, last_cost ? last_cost : SF_AWS_RETRY_NO_RETRY_REFUND);
            return SF_OK;
        }
        if (!sf_aws_outcome_retryable(o) || attempt >= c->max_attempts)
            break;
        int cost = o == SF_AWS_TIMEOUT ? SF_AWS_RETRY_TIMEOUT_COST : SF_AWS_RETRY_COST;
        if (!sf_aws_quota_acquire(c->quota, cost)) {
            info->quota_refused = 1;
            sf__log(&c->hooks, "aws: %s: retry quota empty, not retrying", req->operation);
            break;
        }
        last_cost = cost;
        double d = sf_aws_backoff_s(attempt, sf__hooks_uniform(&c->hooks));
        if (c->deadline_s && c->hooks.h.mono_s(c->hooks.h.ctx) + d >= c->deadline_s) {
            sf_aws_quota_release(c->quota, cost); /* the retry is not made */
            sf__log(&c->hooks, "aws: %s: %s, no retry before the call's deadline", req->operation,
                    sf_aws_outcome_name(o));
            break;
        }
        sf__log(&c->hooks, "aws: %s: %s, attempt %d of %d, retrying in %.3f s", req->operation,
                sf_aws_outcome_name(o), attempt, c->max_attempts, d);
        c->hooks.h.sleep_s(c->hooks.h.ctx, d);
        info->slept_s += d;
    }
    if (err) {
        char tail[64];
        snprintf(tail, sizeof(tail), " (%d attempt%s%s)", info->attempts,
                 info->attempts == 1 ? "" : "s", info->quota_refused ? ", retry quota empty" : "");
        size_t l = strlen(err->msg);
        if (l + strlen(tail) < sizeof(err->msg))
            memcpy(err->msg + l, tail, strlen(tail) + 1);
    }
    return rc ? rc : SF_EIO;
}
