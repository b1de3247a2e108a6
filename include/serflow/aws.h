/*
 * aws.h - the AWS client side (src/aws/): Signature Version 4, credentials in the SDKs' order,
 * retries in the SDKs' standard mode, and clients for EC2 Auto Scaling, EC2, ELBv2 and Lambda
 * over libcurl, with XML (libxml2) and JSON (jansson) responses read under named size caps.
 *
 * Layer: above core/, below cloud/. Nothing here knows about serving or providers; cloud/'s aws
 * provider (a later step) drives these clients. docs/aws.md describes the module.
 *
 * Threads: a struct sf_aws_client holds one curl handle (keep-alive) and is used by one thread at
 * a time; make one per thread. The credentials provider and the retry quota are thread-safe and
 * meant to be shared by every client of a process.
 *
 * Secrets: no function here writes a secret anywhere but into the request it signs. Debug lines
 * (struct sf_aws_hooks.log) pass through sf_aws_redact first.
 */
#ifndef SERFLOW_AWS_H
#define SERFLOW_AWS_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"

/* ---- caps on outside input (each with its reason) ------------------------------------------ */

/* Access key ids are 16..128 characters (IAM's AccessKeyId); secrets are 40 today. */
#define SF_AWS_KEY_ID_MAX 129
#define SF_AWS_SECRET_MAX 129
/* Session tokens from STS and IMDS are 400..2,000 characters today; STS documents no maximum,
 * so this leaves room for growth while bounding what a hostile file or endpoint can make us keep.
 */
#define SF_AWS_TOKEN_MAX 4097
/* Region and service names ("ap-southeast-4", "elasticloadbalancing"). */
#define SF_AWS_NAME_MAX 64
/* Endpoint URLs and request paths. */
#define SF_AWS_URL_MAX 2048
/* Shared credentials and config files: a few kB in practice; read whole. */
#define SF_AWS_CONFIG_FILE_BYTES ((size_t)1 << 20)
/* One line of a shared config file. */
#define SF_AWS_INI_LINE_MAX 4096
/* Headers and query parameters the signer takes for one request (our clients send < 10). */
#define SF_AWS_MAX_HEADERS 64
#define SF_AWS_MAX_QUERY   512
/* One header value or query value to sign (a session token is the longest we send). */
#define SF_AWS_VALUE_MAX 8192
/* Query API (Auto Scaling, EC2, ELBv2) response bodies: a DescribeAutoScalingGroups of one group
 * with 1,000 instances is ~600 kB; EC2's DescribeInstances for 1,000 instances ~5 MB. */
#define SF_AWS_XML_MAX_BYTES ((size_t)8 << 20)
/* XML element nesting the response readers accept (EC2's responses nest < 12 deep). */
#define SF_AWS_XML_MAX_DEPTH 32
/* Error bodies (XML or JSON) of any service: a message and an id. */
#define SF_AWS_ERROR_BODY_MAX_BYTES ((size_t)64 << 10)
/* Lambda synchronous invocation: request and response payloads are capped at 6 MB by Lambda. */
#define SF_AWS_LAMBDA_PAYLOAD_MAX_BYTES ((size_t)6 << 20)
/* Lambda's X-Amz-Log-Result is the base64 of the last 4 KB of the log. */
#define SF_AWS_LAMBDA_LOG_MAX_BYTES ((size_t)8 << 10)
/* Instance metadata (IMDSv2) answers: a token, a role name, a credentials JSON (~1.5 kB). */
#define SF_AWS_IMDS_MAX_BYTES ((size_t)16 << 10)
/* Instances one describe call may return: an Auto Scaling group holds at most a few thousand. */
#define SF_AWS_MAX_INSTANCES 4096
/* Instance ids ("i-" and 8 or 17 hex digits), target ids, lifecycle and state names. */
#define SF_AWS_ID_MAX 64
/* Pages one paginated describe call may follow before it gives up. */
#define SF_AWS_MAX_PAGES 64
/* Attempts per call, as configured (the SDKs' standard mode defaults to 3). */
#define SF_AWS_MAX_ATTEMPTS_CAP 20
#define SF_AWS_DEFAULT_ATTEMPTS 3
/* Backoff: min(uniform(0,1) x 2^(attempt-1), 20 s), the SDKs' standard mode. */
#define SF_AWS_BACKOFF_BASE  2.0
#define SF_AWS_BACKOFF_MAX_S 20.0
/* Retry quota (the SDKs' standard mode): 500 tokens; a retry costs 5 (10 after a timeout); a
 * call that succeeds gives back what its last retry took, or 1 when it needed none. */
#define SF_AWS_RETRY_QUOTA           500
#define SF_AWS_RETRY_COST            5
#define SF_AWS_RETRY_TIMEOUT_COST    10
#define SF_AWS_RETRY_NO_RETRY_REFUND 1
/* Default time for one attempt, and for the connection within it. */
#define SF_AWS_DEFAULT_TIMEOUT_S         10.0
#define SF_AWS_DEFAULT_CONNECT_TIMEOUT_S 3.0
/* IMDS: one second per request (the SDKs' default), a token that lives 6 hours. */
#define SF_AWS_IMDS_TIMEOUT_S   1.0
#define SF_AWS_IMDS_TOKEN_TTL_S 21600
/* Refreshable credentials are refreshed this long before they expire (botocore's advisory
 * window); when a refresh fails they are kept until the mandatory window. */
#define SF_AWS_REFRESH_ADVISORY_S  (15 * 60.0)
#define SF_AWS_REFRESH_MANDATORY_S (10 * 60.0)

/* ---- hooks: time, sleep, randomness, debug log ------------------------------------------- */

/* Everything the module reads from the world besides the network and the environment, so tests
 * can drive it. Any NULL member takes the default: CLOCK_REALTIME, CLOCK_MONOTONIC, nanosleep,
 * a SplitMix64 stream seeded from the clock, no log. The log receives lines that went through
 * sf_aws_redact. */
struct sf_aws_hooks {
    double (*wall_s)(void *ctx); /* Unix time, for signing and expiry */
    double (*mono_s)(void *ctx);
    void (*sleep_s)(void *ctx, double s);
    double (*uniform)(void *ctx); /* in [0, 1) */
    void (*log)(void *ctx, const char *line);
    void *ctx;
};

/* ---- credentials ---------------------------------------------------------------------------- */

struct sf_aws_creds {
    char access_key_id[SF_AWS_KEY_ID_MAX];
    char secret_access_key[SF_AWS_SECRET_MAX];
    char session_token[SF_AWS_TOKEN_MAX]; /* "" when none */
    double expires_s;                     /* Unix time; 0 when they do not expire */
};

/* Wipes a credentials struct (OPENSSL_cleanse: not optimised away). */
void sf_aws_creds_wipe(struct sf_aws_creds *c);

/* A credentials provider: the SDKs' chain, resolved in this order.
 * 1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 * 2. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), section
 *    [PROFILE], then the config file (AWS_CONFIG_FILE or ~/.aws/config), [profile PROFILE] or
 *    [default]; PROFILE is cfg->profile, AWS_PROFILE or "default". A profile named explicitly
 *    that neither file has is an error (SF_ENOTFOUND), as in the SDKs; profiles that assume a
 *    role, run a process or use SSO are refused (SF_EUNSUPPORTED) rather than skipped;
 * 3. the instance role through IMDSv2 (unless AWS_EC2_METADATA_DISABLED=true): PUT
 *    /latest/api/token with a 6-hour TTL, GET the role name, GET its credentials; the endpoint is
 *    AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254. Refreshed 15 minutes before
 *    they expire.
 * Files are read (and their syntax errors reported as file:line) by sf_aws_credp_new; the
 * instance role on the first sf_aws_credp_get. Thread-safe. */
struct sf_aws_credp;
struct sf_aws_credp_cfg {
    const char *profile;              /* NULL: AWS_PROFILE, else "default" */
    const struct sf_aws_hooks *hooks; /* borrowed; NULL: defaults */
};
int sf_aws_credp_new(struct sf_aws_credp **out, const struct sf_aws_credp_cfg *cfg,
                     struct sf_err *err);
/* A provider that always gives c (copied): tests, or credentials from elsewhere. */
int sf_aws_credp_new_static(struct sf_aws_credp **out, const struct sf_aws_creds *c,
                            struct sf_err *err);
/* Current credentials into *out (fetched or refreshed from IMDS when due; blocking for at most
 * a few IMDS timeouts). Errors: SF_EDENIED (none found), SF_EPARSE (bad IMDS answer), SF_EIO. */
int sf_aws_credp_get(struct sf_aws_credp *p, struct sf_aws_creds *out, struct sf_err *err);
/* Where the credentials come from: "environment", "shared-credentials-file",
 * "config-file", "instance-role", "static" or "none yet". */
const char *sf_aws_credp_source(struct sf_aws_credp *p);
/* IMDS requests made so far (tests check the refresh rule with it). */
int sf_aws_credp_imds_fetches(struct sf_aws_credp *p);
void sf_aws_credp_free(struct sf_aws_credp *p);

/* The region: AWS_REGION, AWS_DEFAULT_REGION, then `region` in the config file's profile (as
 * above). SF_ENOTFOUND when none is set. */
int sf_aws_region_resolve(const char *profile, char *out, size_t size, struct sf_err *err);

/* ---- shared config files (INI) ------------------------------------------------------------- */

/* Calls fn for every `key = value` of text (the file's whole contents; name is for messages):
 * section is the text between [ ], key and value are trimmed. Lines starting with # or ; are
 * comments; an indented line after `key =` is a sub-setting, passed as key "parent.sub". fn
 * returns SF_OK to go on, anything else stops the parse with that status. Syntax errors:
 * SF_EPARSE "name:line: problem". Lines are capped at SF_AWS_INI_LINE_MAX. */
typedef int (*sf_aws_ini_fn)(void *ctx, const char *section, const char *key, const char *value,
                             int line);
int sf_aws_ini_parse(const char *text, size_t len, const char *name, sf_aws_ini_fn fn, void *ctx,
                     struct sf_err *err);

/* ---- Signature Version 4 ---------------------------------------------------------------- */

/* A header or a query parameter. Query parameters are given decoded; the signer and the clients
 * encode them (RFC 3986 unreserved characters kept, everything else %XX). */
struct sf_aws_kv {
    const char *name;
    const char *value;
};

struct sf_sigv4_req {
    const char *method;
    /* The path exactly as it goes on the request line (already percent-encoded by the caller,
     * as the SDKs' serialisers do). */
    const char *path;
    const struct sf_aws_kv *query;
    size_t n_query;
    /* Headers to sign; must include Host. Names are case-insensitive; repeated names are joined
     * with commas in order; values are trimmed and inner whitespace runs (also line breaks of
     * folded values) become one space. X-Amz-Date, X-Amz-Security-Token and Authorization are
     * set by the signer and refused here; User-Agent, Expect and X-Amzn-Trace-Id are never
     * signed (proxies change them), as in the SDKs. */
    const struct sf_aws_kv *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
};

enum {
    SF_SIGV4_NO_NORMALIZE = 1 << 0,   /* keep "." and ".." segments and repeated slashes (S3) */
    SF_SIGV4_PATH_AS_IS = 1 << 1,     /* do not percent-encode the path again (S3) */
    SF_SIGV4_CONTENT_SHA256 = 1 << 2, /* sign an x-amz-content-sha256 header (S3 requires it) */
    SF_SIGV4_TOKEN_UNSIGNED = 1 << 3  /* add X-Amz-Security-Token after signing (a few services) */
};

struct sf_sigv4_cfg {
    const char *region;
    const char *service; /* the signing name: "autoscaling", "ec2", "elasticloadbalancing" */
    int64_t time_unix_s;
    unsigned flags;
};

/* What signing gives: the headers to add to the request (in this order: X-Amz-Date,
 * X-Amz-Security-Token when there is a token, x-amz-content-sha256 with SF_SIGV4_CONTENT_SHA256,
 * Authorization), and the intermediate texts for tests. Heap strings; sf_sigv4_out_fini frees
 * and wipes them. canonical_request carries the session token when it is signed. */
struct sf_sigv4_out {
    char amz_date[17];       /* YYYYMMDDTHHMMSSZ */
    char payload_sha256[65]; /* hex */
    char signature[65];      /* hex */
    char *canonical_request;
    char *string_to_sign;
    char *authorization; /* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
    struct sf_aws_kv add[4];
    size_t n_add;
};

/* Signs req with c under cfg (reads no clock). Errors: SF_EINVAL (a missing Host, a bad header
 * name, a header the signer owns, too many headers or parameters, an empty region, service or
 * key), SF_ETOOBIG (a value above SF_AWS_VALUE_MAX), SF_ENOMEM. out is valid (and must be
 * finied) only on SF_OK; the value of the token header in out->add borrows c. */
int sf_sigv4_sign(const struct sf_sigv4_req *req, const struct sf_aws_creds *c,
                  const struct sf_sigv4_cfg *cfg, struct sf_sigv4_out *out, struct sf_err *err);
void sf_sigv4_out_fini(struct sf_sigv4_out *out);

/* Appends the AWS URI encoding of s[0..len) to a heap buffer *out (NUL-terminated; caller frees;
 * *out may be NULL at first): A-Z a-z 0-9 - _ . ~ as they are, '/' too when keep_slash, every
 * other byte as %XX (upper case). SF_ETOOBIG beyond SF_AWS_URL_MAX x 3 bytes. */
int sf_aws_uri_encode(const char *s, size_t len, int keep_slash, char **out, size_t *out_len,
                      struct sf_err *err);

/* ---- redaction ---------------------------------------------------------------------------- */

/* Copies text[0..len) into out (NUL-terminated, cut with "..." when it does not fit; out_size >=
 * 16) with every secret replaced by "[redacted]": the values of the headers Authorization,
 * X-Amz-Security-Token, X-aws-ec2-metadata-token (any case, "Name: value" up to the line end),
 * the JSON members "SecretAccessKey", "Token", "SessionToken", "secret_access_key" and
 * "session_token", the query parameters X-Amz-Signature, X-Amz-Security-Token and
 * X-Amz-Credential, the INI keys aws_secret_access_key and aws_session_token, and the
 * environment assignments AWS_SECRET_ACCESS_KEY= and AWS_SESSION_TOKEN=. Non-printable bytes are
 * escaped as sf_str_escape does. Returns out. */
char *sf_aws_redact(char *out, size_t out_size, const char *text, size_t len);

/* ---- retries -------------------------------------------------------------------------------- */

/* The retry quota (token bucket) of the SDKs' standard mode; thread-safe, shared by clients. */
struct sf_aws_quota;
struct sf_aws_quota *sf_aws_quota_new(int capacity);
/* Takes cost tokens; 0 (and nothing taken) when fewer are left. */
int sf_aws_quota_acquire(struct sf_aws_quota *q, int cost);
void sf_aws_quota_release(struct sf_aws_quota *q, int amount);
int sf_aws_quota_available(struct sf_aws_quota *q);
void sf_aws_quota_free(struct sf_aws_quota *q);

/* How an attempt ended, and what it means for a retry. */
enum sf_aws_outcome {
    SF_AWS_OK = 0,
    SF_AWS_THROTTLED,      /* throttling error code or HTTP 429: retryable */
    SF_AWS_SERVER_ERROR,   /* HTTP 500, 502, 503, 504 or a transient error code: retryable */
    SF_AWS_TIMEOUT,        /* no answer in time: retryable (costs the quota more) */
    SF_AWS_CONNECT_ERROR,  /* connection refused, reset or closed early: retryable */
    SF_AWS_CLIENT_ERROR,   /* any other 4xx: the request is wrong; not retried */
    SF_AWS_AUTH_ERROR,     /* 401/403 or a signature or token error code: not retried */
    SF_AWS_TOO_LARGE,      /* 413 or a payload above its cap: not retried */
    SF_AWS_FUNCTION_ERROR, /* Lambda ran the function and it failed: not retried */
    SF_AWS_BAD_RESPONSE    /* an answer we cannot read (syntax, size): not retried */
};
const char *sf_aws_outcome_name(enum sf_aws_outcome o);
/* 1 when the SDKs' standard mode retries an attempt with this outcome. */
int sf_aws_outcome_retryable(enum sf_aws_outcome o);
/* The outcome of an HTTP answer with this status and (possibly empty) error code. */
enum sf_aws_outcome sf_aws_classify(long http_status, const char *error_code);
/* The sf_status a final outcome maps to: OK, SF_ETHROTTLED, SF_EREMOTE, SF_ETIMEDOUT, SF_EIO,
 * SF_EINVAL, SF_EDENIED, SF_ETOOBIG, SF_EREMOTE, SF_EPARSE. */
int sf_aws_outcome_status(enum sf_aws_outcome o);
/* Backoff before attempt `attempt` + 1 (attempt >= 1 has failed), from u in [0, 1). */
double sf_aws_backoff_s(int attempt, double u);

/* What one API call did (every client function fills it when given one). */
struct sf_aws_call_info {
    enum sf_aws_outcome outcome; /* of the last attempt */
    int attempts;
    long http_status;               /* of the last attempt; 0 when none came */
    char error_code[SF_AWS_ID_MAX]; /* the service's error code, "" when none */
    char request_id[SF_AWS_ID_MAX];
    double slept_s;    /* backoff in total */
    int quota_refused; /* a retry was not made because the quota was empty */
};

/* ---- clients -------------------------------------------------------------------------------- */

enum sf_aws_service {
    SF_AWS_AUTOSCALING = 0,
    SF_AWS_EC2,
    SF_AWS_ELBV2,
    SF_AWS_LAMBDA,
    SF_AWS_N_SERVICES
};

/* Every API call the clients can make, with the IAM action that allows it: the deployment's
 * least-privilege policy is this list (tests/aws_fake checks both against the calls made). */
struct sf_aws_op {
    enum sf_aws_service service;
    const char *operation;  /* "SetDesiredCapacity" */
    const char *iam_action; /* "autoscaling:SetDesiredCapacity" */
};
const struct sf_aws_op *sf_aws_ops(size_t *n);

struct sf_aws_client_cfg {
    const char *region;       /* NULL: sf_aws_region_resolve */
    const char *endpoint_url; /* one base URL for every service (a test's fake), NULL: below */
    /* Per-service base URLs; NULL: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then
     * https://<prefix>.<region>.amazonaws.com. */
    const char *endpoint[SF_AWS_N_SERVICES];
    int max_attempts;           /* 0: AWS_MAX_ATTEMPTS or 3; at most SF_AWS_MAX_ATTEMPTS_CAP */
    double timeout_s;           /* per attempt; 0: SF_AWS_DEFAULT_TIMEOUT_S */
    double connect_timeout_s;   /* 0: SF_AWS_DEFAULT_CONNECT_TIMEOUT_S */
    struct sf_aws_credp *creds; /* borrowed; required */
    struct sf_aws_quota *quota; /* borrowed; NULL: the client's own */
    const struct sf_aws_hooks *hooks; /* borrowed; NULL: defaults */
};

/* Once per process, before any thread makes a client or provider: libcurl's and libxml2's
 * global state. */
int sf_aws_global_init(struct sf_err *err);

struct sf_aws_client;
/* Errors: SF_EINVAL (no credentials provider, a bad URL or count), SF_ENOTFOUND (no region),
 * SF_ENOMEM. Needs sf_aws_global_init done once per process before. */
int sf_aws_client_new(struct sf_aws_client **out, const struct sf_aws_client_cfg *cfg,
                      struct sf_err *err);
void sf_aws_client_free(struct sf_aws_client *c);
/* A deadline for the calls that follow, on the hooks' monotonic clock (CLOCK_MONOTONIC by
 * default): no attempt starts after it, an attempt's timeout is cut to it, and no backoff sleeps
 * past it (the call then ends with the last attempt's status, or SF_ETIMEDOUT when none was
 * made). 0: none (each attempt has timeout_s). */
void sf_aws_client_set_deadline(struct sf_aws_client *c, double mono_deadline_s);
/* The region and the base URL a service is called at. */
const char *sf_aws_client_region(const struct sf_aws_client *c);
const char *sf_aws_client_endpoint(const struct sf_aws_client *c, enum sf_aws_service s);

/* -- EC2 Auto Scaling (Query API 2011-01-01) -- */

struct sf_aws_asg_instance {
    char instance_id[SF_AWS_ID_MAX];
    char lifecycle_state[SF_AWS_ID_MAX]; /* Pending, InService, Terminating, ... */
    char health_status[SF_AWS_ID_MAX];   /* Healthy, Unhealthy */
    char availability_zone[SF_AWS_ID_MAX];
};
struct sf_aws_asg {
    int min_size, max_size, desired_capacity;
    int n_instances;
    struct sf_aws_asg_instance *instances; /* heap; sf_aws_asg_fini */
};
void sf_aws_asg_fini(struct sf_aws_asg *g);

/* SetDesiredCapacity (HonorCooldown false). Errors: the call's status (see the outcomes). */
int sf_aws_asg_set_desired(struct sf_aws_client *c, const char *group, int desired,
                           struct sf_aws_call_info *info, struct sf_err *err);
/* DescribeAutoScalingGroups of one group into *out. SF_ENOTFOUND when there is no such group. */
int sf_aws_asg_describe(struct sf_aws_client *c, const char *group, struct sf_aws_asg *out,
                        struct sf_aws_call_info *info, struct sf_err *err);
/* TerminateInstanceInAutoScalingGroup: sheds one chosen instance; with decrement the group's
 * desired capacity drops by one (no replacement). */
int sf_aws_asg_terminate(struct sf_aws_client *c, const char *instance_id, int decrement,
                         struct sf_aws_call_info *info, struct sf_err *err);

/* -- EC2 (Query API 2016-11-15) -- */

struct sf_aws_ec2_instance {
    char instance_id[SF_AWS_ID_MAX];
    char state[SF_AWS_ID_MAX];      /* pending, running, shutting-down, terminated, ... */
    char private_ip[SF_AWS_ID_MAX]; /* "" when it has none yet */
};
/* DescribeInstances of ids[0..n) (n <= SF_AWS_MAX_INSTANCES): up to cap into out, *n_out found.
 * Follows nextToken pages (at most SF_AWS_MAX_PAGES). */
int sf_aws_ec2_describe_instances(struct sf_aws_client *c, const char *const *ids, int n,
                                  struct sf_aws_ec2_instance *out, int cap, int *n_out,
                                  struct sf_aws_call_info *info, struct sf_err *err);

/* -- ELBv2 (Query API 2015-12-01) -- */

struct sf_aws_target_health {
    char target_id[SF_AWS_ID_MAX];
    int port;
    char state[SF_AWS_ID_MAX]; /* initial, healthy, unhealthy, draining, unused, unavailable */
};
/* DescribeTargetHealth of one target group. */
int sf_aws_elbv2_target_health(struct sf_aws_client *c, const char *target_group_arn,
                               struct sf_aws_target_health *out, int cap, int *n_out,
                               struct sf_aws_call_info *info, struct sf_err *err);

/* -- Lambda (REST JSON 2015-03-31) -- */

struct sf_aws_invoke {
    long http_status;
    char function_error[SF_AWS_ID_MAX];   /* X-Amz-Function-Error: Unhandled or Handled; "" */
    char executed_version[SF_AWS_ID_MAX]; /* X-Amz-Executed-Version */
    double billed_duration_s;             /* from the log tail's REPORT line; -1 when not known */
    double duration_s;                    /* ditto */
    int memory_mb;                        /* ditto; 0 when not known */
    char *payload; /* heap, NUL-terminated; the function's answer or its error */
    size_t payload_len;
};
void sf_aws_invoke_fini(struct sf_aws_invoke *r);
/* Invoke (RequestResponse) of function (a name or ARN; qualifier may be NULL) with payload.
 * log_tail asks for LogType Tail, from which the billed duration is read. Statuses:
 * SF_OK with r->function_error set when the function itself failed (its error document is the
 * payload: the caller decides); SF_ETHROTTLED (429 TooManyRequestsException, after retries);
 * SF_ETOOBIG (a payload above SF_AWS_LAMBDA_PAYLOAD_MAX_BYTES, refused before sending, or 413
 * RequestTooLargeException); SF_EREMOTE (5xx after retries); SF_ETIMEDOUT; SF_ENOTFOUND (404
 * ResourceNotFoundException); SF_EDENIED; SF_EINVAL (other 4xx). err names the error type and
 * Lambda's message. */
int sf_aws_lambda_invoke(struct sf_aws_client *c, const char *function, const char *qualifier,
                         const void *payload, size_t len, int log_tail, struct sf_aws_invoke *r,
                         struct sf_aws_call_info *info, struct sf_err *err);

/* ---- response readers (exposed for tests and fuzzing) -------------------------------------- */

/* The error of a Query API body (<ErrorResponse><Error>... or EC2's <Response><Errors><Error>...):
 * code and message copied (cut to their sizes). SF_EPARSE when it is neither. */
int sf_aws_xml_error(const char *body, size_t len, char *code, size_t code_size, char *msg,
                     size_t msg_size);
/* The readers of the describe responses (bodies of a 200). */
int sf_aws_xml_read_asg(const char *body, size_t len, const char *group, struct sf_aws_asg *out,
                        struct sf_err *err);
int sf_aws_xml_read_instances(const char *body, size_t len, struct sf_aws_ec2_instance *out,
                              int cap, int *n_out, char *next_token, size_t next_size,
                              struct sf_err *err);
int sf_aws_xml_read_target_health(const char *body, size_t len, struct sf_aws_target_health *out,
                                  int cap, int *n_out, struct sf_err *err);
/* Reads "Billed Duration: N ms", "Duration: N ms", "Memory Size: N MB" from a Lambda log tail
 * (already base64-decoded). Fields not found are left as they are. */
void sf_aws_lambda_read_report(const char *log, size_t len, struct sf_aws_invoke *r);

#endif
