/*
 * retry.c - the SDKs' standard retry mode: which answers are retried (throttling codes, 429,
 * 5xx, transient codes, timeouts, broken connections), the backoff (full jitter, doubling,
 * capped at 20 s) and the retry quota (a token bucket shared by a process's clients). Also the
 * table of services and of the API calls the clients make.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"

/* Error codes the SDKs treat as throttling (botocore's standard mode list). */
static const char *const THROTTLING_CODES[] = {"Throttling",
                                               "ThrottlingException",
                                               "ThrottledException",
                                               "RequestThrottledException",
                                               "TooManyRequestsException",
                                               "ProvisionedThroughputExceededException",
                                               "TransactionInProgressException",
                                               "RequestLimitExceeded",
                                               "BandwidthLimitExceeded",
                                               "LimitExceededException",
                                               "RequestThrottled",
                                               "SlowDown",
                                               "PriorRequestNotComplete",
                                               "EC2ThrottledException"};
/* Error codes the SDKs treat as transient. */
static const char *const TRANSIENT_CODES[] = {"RequestTimeout", "RequestTimeoutException",
                                              "PriorRequestNotComplete"};
/* Codes that say the credentials or the signature were refused. */
static const char *const AUTH_CODES[] = {"AuthFailure",
                                         "SignatureDoesNotMatch",
                                         "IncompleteSignature",
                                         "InvalidClientTokenId",
                                         "UnrecognizedClientException",
                                         "ExpiredToken",
                                         "ExpiredTokenException",
                                         "AccessDenied",
                                         "AccessDeniedException",
                                         "UnauthorizedOperation",
                                         "InvalidSignatureException",
                                         "MissingAuthenticationToken"};

static int in(const char *code, const char *const *list, size_t n)
{
    for (size_t i = 0; code && *code && i < n; i++)
        if (!strcmp(code, list[i]))
            return 1;
    return 0;
}

enum sf_aws_outcome sf_aws_classify(long status, const char *code)
{
    if (status >= 200 && status < 300)
        return SF_AWS_OK;
    if (status == 429 || in(code, THROTTLING_CODES, SF_ARRAY_LEN(THROTTLING_CODES)))
        return SF_AWS_THROTTLED;
    if (status == 500 || status == 502 || status == 503 || status == 504 ||
        in(code, TRANSIENT_CODES, SF_ARRAY_LEN(TRANSIENT_CODES)))
        return SF_AWS_SERVER_ERROR;
    if (status == 401 || status == 403 || in(code, AUTH_CODES, SF_ARRAY_LEN(AUTH_CODES)))
        return SF_AWS_AUTH_ERROR;
    if (status == 413)
        return SF_AWS_TOO_LARGE;
    if (status >= 500)
        return SF_AWS_SERVER_ERROR; /* not retried by the SDKs unless listed; reported as such */
    return SF_AWS_CLIENT_ERROR;
}

int sf_aws_outcome_retryable(enum sf_aws_outcome o)
{
    return o == SF_AWS_THROTTLED || o == SF_AWS_SERVER_ERROR || o == SF_AWS_TIMEOUT ||
           o == SF_AWS_CONNECT_ERROR;
}

const char *sf_aws_outcome_name(enum sf_aws_outcome o)
{
    static const char *const names[] = {
        "ok",           "throttled",     "server error", "timeout",        "connection error",
        "client error", "access denied", "too large",    "function error", "bad response"};
    return (unsigned)o < SF_ARRAY_LEN(names) ? names[o] : "unknown";
}

int sf_aws_outcome_status(enum sf_aws_outcome o)
{
    switch (o) {
    case SF_AWS_OK:
        return SF_OK;
    case SF_AWS_THROTTLED:
        return SF_ETHROTTLED;
    case SF_AWS_SERVER_ERROR:
    case SF_AWS_FUNCTION_ERROR:
        return SF_EREMOTE;
    case SF_AWS_TIMEOUT:
        return SF_ETIMEDOUT;
    case SF_AWS_CONNECT_ERROR:
        return SF_EIO;
    case SF_AWS_CLIENT_ERROR:
        return SF_EINVAL;
    case SF_AWS_AUTH_ERROR:
        return SF_EDENIED;
    case SF_AWS_TOO_LARGE:
        return SF_ETOOBIG;
    case SF_AWS_BAD_RESPONSE:
        return SF_EPARSE;
    }
    return SF_EIO;
}

double sf_aws_backoff_s(int attempt, double u)
{
    if (attempt < 1)
        attempt = 1;
    if (!(u >= 0) || u >= 1)
        u = 0;
    double d = u * pow(SF_AWS_BACKOFF_BASE, attempt - 1);
    return d < SF_AWS_BACKOFF_MAX_S ? d : SF_AWS_BACKOFF_MAX_S;
}

struct sf_aws_quota {
    pthread_mutex_t mu;
    int max, available;
};

struct sf_aws_quota *sf_aws_quota_new(int capacity)
{
    struct sf_aws_quota *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    q->max = q->available = capacity > 0 ? capacity : SF_AWS_RETRY_QUOTA;
    return q;
}

int sf_aws_quota_acquire(struct sf_aws_quota *q, int cost)
{
    pthread_mutex_lock(&q->mu);
    int ok = cost <= q->available;
    if (ok)
        q->available -= cost;
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void sf_aws_quota_release(struct sf_aws_quota *q, int amount)
{
    pthread_mutex_lock(&q->mu);
    q->available += amount;
    if (q->available > q->max)
        q->available = q->max;
    pthread_mutex_unlock(&q->mu);
}

int sf_aws_quota_available(struct sf_aws_quota *q)
{
    pthread_mutex_lock(&q->mu);
    int a = q->available;
    pthread_mutex_unlock(&q->mu);
    return a;
}

void sf_aws_quota_free(struct sf_aws_quota *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* ---- services and calls ---- */

static const struct {
    const char *signing, *prefix, *version, *env;
} SERVICES[SF_AWS_N_SERVICES] = {
    [SF_AWS_AUTOSCALING] = {"autoscaling", "autoscaling", "2011-01-01", "AUTO_SCALING"},
    [SF_AWS_EC2] = {"ec2", "ec2", "2016-11-15", "EC2"},
    [SF_AWS_ELBV2] = {"elasticloadbalancing", "elasticloadbalancing", "2015-12-01",
                      "ELASTIC_LOAD_BALANCING_V2"},
    [SF_AWS_LAMBDA] = {"lambda", "lambda", "2015-03-31", "LAMBDA"},
};

const char *sf__svc_signing_name(enum sf_aws_service s)
{
    return SERVICES[s].signing;
}

const char *sf__svc_api_version(enum sf_aws_service s)
{
    return SERVICES[s].version;
}

const char *sf__svc_env_name(enum sf_aws_service s)
{
    return SERVICES[s].env;
}

static const struct sf_aws_op OPS[] = {
    {SF_AWS_AUTOSCALING, "SetDesiredCapacity", "autoscaling:SetDesiredCapacity"},
    {SF_AWS_AUTOSCALING, "DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingGroups"},
    {SF_AWS_AUTOSCALING, "TerminateInstanceInAutoScalingGroup",
     "autoscaling:TerminateInstanceInAutoScalingGroup"},
    {SF_AWS_EC2, "DescribeInstances", "ec2:DescribeInstances"},
    {SF_AWS_ELBV2, "DescribeTargetHealth", "elasticloadbalancing:DescribeTargetHealth"},
    {SF_AWS_LAMBDA, "Invoke", "lambda:InvokeFunction"},
};

const struct sf_aws_op *sf_aws_ops(size_t *n)
{
    *n = SF_ARRAY_LEN(OPS);
    return OPS;
}
