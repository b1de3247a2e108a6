/*
 * lambda.c - Lambda Invoke (REST JSON, RequestResponse): the payload capped before sending, the
 * function's error header, the executed version, and the billed duration read from the log tail
 * (LogType Tail: base64 of the last 4 KB of the log, whose REPORT line Lambda writes).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"

void sf_aws_invoke_fini(struct sf_aws_invoke *r)
{
    if (!r)
        return;
    free(r->payload);
    memset(r, 0, sizeof(*r));
}

/* The number after "label" in log[0..len), -1 when absent or not a number. For "Duration: "
 * the occurrence inside "Billed Duration: " is skipped. */
static double number_after(const char *log, size_t len, const char *label)
{
    size_t ll = strlen(label);
    for (size_t i = 0; i + ll <= len; i++) {
        if (memcmp(log + i, label, ll) != 0)
            continue;
        if (!strcmp(label, "Duration: ") && i >= 7 && !memcmp(log + i - 7, "Billed ", 7))
            continue;
        char num[32];
        size_t k = 0, j = i + ll;
        while (j < len && k + 1 < sizeof(num) &&
               ((log[j] >= '0' && log[j] <= '9') || log[j] == '.'))
            num[k++] = log[j++];
        num[k] = '\0';
        char *end;
        double v = strtod(num, &end);
        if (k == 0 || *end || !(v >= 0) || v > 1e9)
            return -1;
        return v;
    }
    return -1;
}

void sf_aws_lambda_read_report(const char *log, size_t len, struct sf_aws_invoke *r)
{
    double b = number_after(log, len, "Billed Duration: ");
    double d = number_after(log, len, "Duration: ");
    double m = number_after(log, len, "Memory Size: ");
    if (b >= 0)
        r->billed_duration_s = b / 1000;
    if (d >= 0)
        r->duration_s = d / 1000;
    if (m >= 0 && m <= 1e6)
        r->memory_mb = (int)m;
}

static void read_log_tail(const char *b64, struct sf_aws_invoke *r)
{
    size_t n = strlen(b64);
    if (n == 0 || n > SF_AWS_LAMBDA_LOG_MAX_BYTES * 2 || n % 4)
        return;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return;
    int k = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    /* EVP_DecodeBlock counts the padding as zero bytes */
    k -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
    if (k > 0)
        sf_aws_lambda_read_report((const char *)out, (size_t)k, r);
    free(out);
}

int sf_aws_lambda_invoke(struct sf_aws_client *c, const char *function, const char *qualifier,
                         const void *payload, size_t len, int log_tail, struct sf_aws_invoke *r,
                         struct sf_aws_call_info *info, struct sf_err *err)
{
    memset(r, 0, sizeof(*r));
    r->billed_duration_s = r->duration_s = -1;
    if (!function || !*function || strlen(function) > 256)
        return sf_err_set(err, SF_EINVAL, "lambda Invoke: function name: expected 1..256 bytes");
    if (qualifier && (strlen(qualifier) > 128))
        return sf_err_set(err, SF_EINVAL, "lambda Invoke: qualifier: longer than 128 bytes");
    if (len > SF_AWS_LAMBDA_PAYLOAD_MAX_BYTES) {
        if (info) {
            memset(info, 0, sizeof(*info));
            info->outcome = SF_AWS_TOO_LARGE;
        }
        return sf_err_set(err, SF_ETOOBIG,
                          "lambda Invoke %s: payload of %zu bytes, Lambda takes at most %zu",
                          function, len, SF_AWS_LAMBDA_PAYLOAD_MAX_BYTES);
    }
    char *path = NULL;
    size_t pl = 0;
    int rc = sf_aws_uri_encode("/2015-03-31/functions/", 22, 1, &path, &pl, err);
    if (!rc)
        rc = sf_aws_uri_encode(function, strlen(function), 0, &path, &pl, err);
    if (!rc)
        rc = sf_aws_uri_encode("/invocations", 12, 1, &path, &pl, err);
    if (rc) {
        free(path);
        return rc;
    }
    struct sf_aws_kv q[] = {{"Qualifier", qualifier}};
    struct sf_aws_kv h[] = {{"X-Amz-Invocation-Type", "RequestResponse"},
                            {"X-Amz-Log-Type", "Tail"}};
    struct sf__req req = {.svc = SF_AWS_LAMBDA,
                          .operation = "Invoke",
                          .method = "POST",
                          .path = path,
                          .query = q,
                          .n_query = qualifier && *qualifier ? 1 : 0,
                          .headers = h,
                          .n_headers = log_tail ? 2 : 1,
                          .body = payload ? payload : "",
                          .body_len = payload ? len : 0,
                          .max_body_bytes = SF_AWS_LAMBDA_PAYLOAD_MAX_BYTES};
    struct sf__resp resp;
    rc = sf__aws_call(c, &req, &resp, info, err);
    free(path);
    r->http_status = resp.status;
    snprintf(r->executed_version, sizeof(r->executed_version), "%s", resp.executed_version);
    if (rc == SF_OK) {
        snprintf(r->function_error, sizeof(r->function_error), "%s", resp.function_error);
        r->payload = resp.body;
        r->payload_len = resp.len;
        resp.body = NULL;
        resp.len = 0;
        if (resp.log_result)
            read_log_tail(resp.log_result, r);
        if (r->function_error[0] && info)
            info->outcome = SF_AWS_FUNCTION_ERROR;
    } else if (resp.status == 404) {
        rc = SF_ENOTFOUND;
    }
    sf__resp_fini(&resp);
    return rc;
}
