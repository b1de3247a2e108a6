/*
 * http.c - one HTTP exchange over a libcurl easy handle for the aws module: explicit method,
 * headers and body, a deadline on the whole exchange and on the connection, the body kept up to
 * a cap, and the response headers the clients read (request id, error type, Lambda's function
 * error, executed version and log tail). Keep-alive comes from reusing the handle.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_int.h"

struct sink {
    struct sf__resp *r;
    struct sf__abuf body, log;
    size_t max;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct sink *s = ctx;
    size_t n = size * nmemb;
    sf__abuf_add(&s->body, data, n);
    if (s->body.status) {
        s->r->too_big = s->body.status == SF_ETOOBIG;
        return 0; /* aborts the transfer */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct sink *s = ctx;
    size_t n = size * nmemb;
    struct sf__resp *r = s->r;
    if (n > 5 && !memcmp(data, "HTTP/", 5)) { /* a new response (after a 100): reset */
        r->request_id[0] = r->error_type[0] = r->function_error[0] = r->executed_version[0] = 0;
        return n;
    }
    if (sf__header_value(data, n, "x-amzn-RequestId", r->request_id, sizeof(r->request_id)) ||
        sf__header_value(data, n, "x-amz-request-id", r->request_id, sizeof(r->request_id)) ||
        sf__header_value(data, n, "X-Amz-Function-Error", r->function_error,
                         sizeof(r->function_error)) ||
        sf__header_value(data, n, "X-Amz-Executed-Version", r->executed_version,
                         sizeof(r->executed_version)))
        return n;
    char et[SF_AWS_ID_MAX];
    if (sf__header_value(data, n, "X-Amzn-ErrorType", et, sizeof(et))) {
        /* "Code:http://internal.amazon.com/..." -> "Code" */
        char *colon = strchr(et, ':');
        if (colon)
            *colon = '\0';
        memcpy(r->error_type, et, sizeof(et));
        return n;
    }
    static const char lr[] = "X-Amz-Log-Result";
    if (n > sizeof(lr) && !strncasecmp(data, lr, sizeof(lr) - 1) && data[sizeof(lr) - 1] == ':') {
        const char *v = data + sizeof(lr);
        size_t vl = n - sizeof(lr);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        sf__abuf_fini(&s->log);
        sf__abuf_init(&s->log, SF_AWS_LAMBDA_LOG_MAX_BYTES * 2);
        sf__abuf_add(&s->log, v, vl);
    }
    return n;
}

void sf__resp_fini(struct sf__resp *r)
{
    if (!r)
        return;
    if (r->body) {
        OPENSSL_cleanse(r->body, r->len);
        free(r->body);
    }
    free(r->log_result);
    memset(r, 0, sizeof(*r));
}

int sf__http_do(void *curl, const char *method, const char *url, const char *const *headers,
                const void *body, size_t len, double timeout_s, double connect_timeout_s,
                size_t max_bytes, struct sf__resp *resp, enum sf_aws_outcome *transport,
                struct sf_err *err)
{
    CURL *c = curl;
    memset(resp, 0, sizeof(*resp));
    *transport = SF_AWS_OK;
    struct sink s = {.r = resp, .max = max_bytes};
    sf__abuf_init(&s.body, max_bytes);
    sf__abuf_init(&s.log, SF_AWS_LAMBDA_LOG_MAX_BYTES * 2);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *t = curl_slist_append(hl, headers[i]);
        if (!t) {
            curl_slist_free_all(hl);
            return sf_err_set(err, SF_ENOMEM, "%s: no memory", url);
        }
        hl = t;
    }
    /* what curl would add on its own: no 100-continue round trip, no Accept, and no
     * form Content-Type on a POST that did not ask for one */
    int has_type = 0;
    for (size_t i = 0; headers && headers[i]; i++)
        has_type |= !strncasecmp(headers[i], "Content-Type:", 13);
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(hl, "Accept:");
    if (!has_type)
        hl = curl_slist_append(hl, "Content-Type:");
    if (!hl)
        return sf_err_set(err, SF_ENOMEM, "%s: no memory", url);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000 + 0.5));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout_s * 1000 + 0.5));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* the SDKs' variable for another CA bundle (hosts whose bundle is not where libcurl was
     * built to look, e.g. Amazon Linux for a Debian build) */
    const char *ca = getenv("AWS_CA_BUNDLE");
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (!strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hl);
    int ret = SF_OK;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        size_t blen = s.body.len;
        resp->body = sf__abuf_take(&s.body);
        resp->len = resp->body ? blen : 0;
        if (!resp->body)
            ret = sf_err_set(err, SF_ENOMEM, "%s: no memory", url);
    } else if (resp->too_big) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        *transport = SF_AWS_BAD_RESPONSE;
        ret = sf_err_set(err, SF_ETOOBIG, "%s: answer larger than %zu bytes", url, max_bytes);
    } else {
        *transport = rc == CURLE_OPERATION_TIMEDOUT ? SF_AWS_TIMEOUT : SF_AWS_CONNECT_ERROR;
        ret = sf_err_set(err, sf_aws_outcome_status(*transport), "%s: %s", url,
                         curl_easy_strerror(rc));
    }
    if (ret == SF_OK && s.log.len && !s.log.status)
        resp->log_result = sf__abuf_take(&s.log);
    sf__abuf_fini(&s.body);
    sf__abuf_fini(&s.log);
    return ret;
}
