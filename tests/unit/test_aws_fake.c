/* test_aws_fake.c - the aws clients against the fake AWS of tests/aws_fake/fake_aws.py on
 * 127.0.0.1 (started here, stopped here; every wait bounded): Auto Scaling, EC2, ELBv2 and
 * Lambda calls as the fake sees them (signatures checked by botocore's signer, requests by
 * botocore's models), throttling, 5xx, timeouts and broken connections retried with the
 * standard mode's backoff and quota, Lambda's error semantics, the instance role through IMDSv2
 * and its refresh, no secret in the debug log, and the IAM policy of deploy/aws equal to the
 * calls the clients made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serflow/aws.h"
#include "test_util.h"

static pid_t fake_pid;
static int fake_port;
static char base_url[64];

/* ---- hooks: a recorded sleep that does not sleep, a scripted uniform, a log ---- */

static double slept[64];
static int n_slept;
static double wall_offset_s;
static char logbuf[1 << 20];
static size_t log_len;

static void h_sleep(void *ctx, double s)
{
    (void)ctx;
    if (n_slept < 64)
        slept[n_slept++] = s;
}

static double h_uniform(void *ctx)
{
    (void)ctx;
    return 0.5;
}

static double h_wall(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9 + wall_offset_s;
}

static void h_log(void *ctx, const char *line)
{
    (void)ctx;
    size_t l = strlen(line);
    if (log_len + l + 2 < sizeof(logbuf)) {
        memcpy(logbuf + log_len, line, l);
        log_len += l;
        logbuf[log_len++] = '\n';
        logbuf[log_len] = '\0';
    }
}

static const struct sf_aws_hooks HOOKS = {NULL, NULL, h_sleep, h_uniform, h_log, NULL};
static const struct sf_aws_hooks IMDS_HOOKS = {h_wall, NULL, h_sleep, h_uniform, h_log, NULL};

/* ---- the fake ---- */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int start_fake(void **state)
{
    (void)state;
    struct sf_err err = {{0}};
    if (sf_aws_global_init(&err))
        return -1;
    int fds[2];
    if (pipe(fds))
        return -1;
    fake_pid = fork();
    if (fake_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        char *argv[] = {"/usr/bin/python3",
                        (char *)tu_src("tests/aws_fake/fake_aws.py"),
                        "--lifetime-s",
                        "200",
                        "--max",
                        "8",
                        NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    char line[64] = "";
    size_t n = 0;
    struct pollfd p = {fds[0], POLLIN, 0};
    while (n + 1 < sizeof(line) && !strchr(line, '\n') && poll(&p, 1, 30000) == 1) {
        ssize_t r = read(fds[0], line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
    }
    close(fds[0]);
    if (sscanf(line, "ready %d", &fake_port) != 1) {
        fprintf(stderr, "fake_aws did not start: '%s'\n", line);
        return -1;
    }
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", fake_port);
    return 0;
}

static int stop_fake(void **state)
{
    (void)state;
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        int st;
        for (int i = 0; i < 100 && waitpid(fake_pid, &st, WNOHANG) == 0; i++)
            nap_ms(50);
        if (waitpid(fake_pid, &st, WNOHANG) == 0) {
            kill(fake_pid, SIGKILL);
            waitpid(fake_pid, &st, 0);
        }
    }
    curl_global_cleanup();
    return 0;
}

static size_t sink(char *d, size_t s, size_t n, void *ctx)
{
    struct {
        char *p;
        size_t len;
    } *b = ctx;
    char *q = realloc(b->p, b->len + s * n + 1);
    assert_non_null(q);
    b->p = q;
    memcpy(b->p + b->len, d, s * n);
    b->len += s * n;
    b->p[b->len] = '\0';
    return s * n;
}

/* GET (body NULL) or POST a control endpoint; the JSON answer (caller decrefs). */
static json_t *control(const char *path, const char *body)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    struct {
        char *p;
        size_t len;
    } b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    json_t *j = json_loads(b.p, 0, NULL);
    free(b.p);
    assert_non_null(j);
    return j;
}

static void fault(const char *svc, const char *op, const char *kind, int count)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"service\":\"%s\",\"operation\":\"%s\",\"kind\":\"%s\",\"count\":%d,"
             "\"delay_s\":6.0}",
             svc, op, kind, count);
    json_decref(control("/_fake/fault", body));
}

static size_t n_calls(void)
{
    json_t *j = control("/_fake/calls", NULL);
    size_t n = json_array_size(json_object_get(j, "calls"));
    json_decref(j);
    return n;
}

/* "Op:status,Op:status" of the calls after the first `from`. */
static void calls_since(size_t from, char *out, size_t size)
{
    json_t *j = control("/_fake/calls", NULL);
    json_t *a = json_object_get(j, "calls");
    out[0] = '\0';
    for (size_t i = from; i < json_array_size(a); i++) {
        json_t *c = json_array_get(a, i);
        size_t l = strlen(out);
        snprintf(out + l, size - l, "%s%s:%d", l ? "," : "",
                 json_string_value(json_object_get(c, "operation")),
                 (int)json_integer_value(json_object_get(c, "status")));
    }
    json_decref(j);
}

static void no_problems(void)
{
    json_t *j = control("/_fake/calls", NULL);
    json_t *p = json_object_get(j, "problems");
    if (json_array_size(p)) {
        char *s = json_dumps(p, JSON_INDENT(1));
        fprintf(stderr, "fake_aws problems: %s\n", s);
        free(s);
    }
    assert_int_equal(json_array_size(p), 0);
    json_decref(j);
}

static const char *KEY = "AKIDFAKESERFLOW", *SECRET = "fake/secret+key";

static struct sf_aws_client *client(const char *secret, struct sf_aws_quota *q, double timeout_s,
                                    struct sf_aws_credp **credp)
{
    struct sf_aws_creds c;
    memset(&c, 0, sizeof(c));
    strcpy(c.access_key_id, KEY);
    strcpy(c.secret_access_key, secret);
    struct sf_err err = {{0}};
    assert_int_equal(sf_aws_credp_new_static(credp, &c, &err), SF_OK);
    struct sf_aws_client_cfg cfg = {.region = "us-east-1",
                                    .endpoint_url = base_url,
                                    .creds = *credp,
                                    .quota = q,
                                    .timeout_s = timeout_s,
                                    .hooks = &HOOKS};
    struct sf_aws_client *cl;
    assert_int_equal(sf_aws_client_new(&cl, &cfg, &err), SF_OK);
    return cl;
}

static void test_clients(void **state)
{
    (void)state;
    struct sf_aws_credp *cp;
    struct sf_aws_client *c = client(SECRET, NULL, 5, &cp);
    struct sf_err err = {{0}};
    struct sf_aws_call_info info;
    assert_int_equal(sf_aws_asg_set_desired(c, "serflow-workers", 3, &info, &err), SF_OK);
    assert_int_equal(info.attempts, 1);
    struct sf_aws_asg g;
    assert_int_equal(sf_aws_asg_describe(c, "serflow-workers", &g, &info, &err), SF_OK);
    assert_int_equal(g.desired_capacity, 3);
    assert_int_equal(g.max_size, 8);
    assert_int_equal(g.n_instances, 3);
    sf_aws_asg_fini(&g);
    /* pending, then in service: poll (bounded) */
    int in_service = 0;
    for (int i = 0; i < 100 && in_service < 3; i++) {
        nap_ms(50);
        assert_int_equal(sf_aws_asg_describe(c, "serflow-workers", &g, NULL, &err), SF_OK);
        in_service = 0;
        for (int k = 0; k < g.n_instances; k++)
            in_service += !strcmp(g.instances[k].lifecycle_state, "InService");
        if (in_service < 3)
            sf_aws_asg_fini(&g);
    }
    assert_int_equal(in_service, 3);
    const char *ids[3] = {g.instances[0].instance_id, g.instances[1].instance_id,
                          g.instances[2].instance_id};
    struct sf_aws_ec2_instance ins[8];
    int n = 0;
    assert_int_equal(sf_aws_ec2_describe_instances(c, ids, 3, ins, 8, &n, &info, &err), SF_OK);
    assert_int_equal(n, 3);
    for (int k = 0; k < 3; k++) {
        assert_string_equal(ins[k].state, "running");
        assert_true(!strncmp(ins[k].private_ip, "127.0.1.", 8));
    }
    json_t *st = control("/_fake/state", NULL);
    char arn[512];
    snprintf(arn, sizeof(arn), "%s", json_string_value(json_object_get(st, "target_group_arn")));
    json_decref(st);
    struct sf_aws_target_health th[8];
    assert_int_equal(sf_aws_elbv2_target_health(c, arn, th, 8, &n, &info, &err), SF_OK);
    assert_int_equal(n, 3);
    assert_string_equal(th[0].state, "healthy");
    assert_int_equal(th[0].port, 8080);
    assert_int_equal(sf_aws_elbv2_target_health(c, "arn:nosuch", th, 8, &n, &info, &err),
                     SF_EINVAL);
    assert_non_null(strstr(err.msg, "TargetGroupNotFound"));
    /* shed a chosen instance */
    assert_int_equal(sf_aws_asg_terminate(c, ids[0], 1, &info, &err), SF_OK);
    sf_aws_asg_fini(&g);
    assert_int_equal(sf_aws_asg_describe(c, "serflow-workers", &g, NULL, &err), SF_OK);
    assert_int_equal(g.desired_capacity, 2);
    sf_aws_asg_fini(&g);
    assert_int_equal(sf_aws_asg_terminate(c, "i-0000000000000dead", 1, &info, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "ValidationError"));
    assert_int_equal(info.attempts, 1);
    /* a request the service refuses is not retried */
    assert_int_equal(sf_aws_asg_set_desired(c, "serflow-workers", 9, &info, &err), SF_EINVAL);
    assert_int_equal(info.attempts, 1);
    assert_string_equal(info.error_code, "ValidationError");
    assert_non_null(strstr(err.msg, "above max value 8"));
    assert_int_equal(sf_aws_asg_describe(c, "nosuch", &g, NULL, &err), SF_ENOTFOUND);

    /* Lambda */
    struct sf_aws_invoke r;
    const char *payload = "{\"inputs\": [1, 2, 3]}";
    assert_int_equal(
        sf_aws_lambda_invoke(c, "serflow-fn", NULL, payload, strlen(payload), 1, &r, &info, &err),
        SF_OK);
    assert_int_equal(r.http_status, 200);
    assert_string_equal(r.function_error, "");
    assert_string_equal(r.executed_version, "$LATEST");
    json_t *out = json_loadb(r.payload, r.payload_len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(out, "bytes")),
                     (json_int_t)strlen(payload));
    json_decref(out);
    assert_true(r.billed_duration_s >= 0.001);
    assert_int_equal(r.memory_mb, 1769);
    sf_aws_invoke_fini(&r);
    /* by ARN, with a qualifier, binary payload */
    char bin[1000];
    for (size_t k = 0; k < sizeof(bin); k++)
        bin[k] = (char)(k * 7);
    assert_int_equal(
        sf_aws_lambda_invoke(c, "arn:aws:lambda:us-east-1:123456789012:function:serflow-fn",
                             "$LATEST", bin, sizeof(bin), 0, &r, &info, &err),
        SF_OK);
    assert_true(r.billed_duration_s < 0); /* no log tail asked for */
    sf_aws_invoke_fini(&r);
    assert_int_equal(sf_aws_lambda_invoke(c, "nosuch", NULL, "{}", 2, 0, &r, &info, &err),
                     SF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "ResourceNotFoundException"));
    sf_aws_invoke_fini(&r);
    sf_aws_client_free(c);
    sf_aws_credp_free(cp);
    no_problems();
}

static void test_retries(void **state)
{
    (void)state;
    struct sf_aws_quota *q = sf_aws_quota_new(SF_AWS_RETRY_QUOTA);
    struct sf_aws_credp *cp;
    /* 2 s per attempt: far above a loaded machine's answer (under valgrind too), far below the
     * 6 s the fake holds a "timeout" fault */
    struct sf_aws_client *c = client(SECRET, q, 2.0, &cp);
    struct sf_err err = {{0}};
    struct sf_aws_call_info info;
    char seq[1024];
    /* two throttles, then success: backoff u x 2^(attempt-1) with u = 0.5 */
    size_t n0 = n_calls();
    n_slept = 0;
    fault("autoscaling", "SetDesiredCapacity", "throttle", 2);
    assert_int_equal(sf_aws_asg_set_desired(c, "serflow-workers", 2, &info, &err), SF_OK);
    assert_int_equal(info.attempts, 3);
    assert_int_equal(n_slept, 2);
    assert_true(slept[0] == 0.5 && slept[1] == 1.0);
    assert_true(info.slept_s == 1.5);
    calls_since(n0, seq, sizeof(seq));
    assert_string_equal(seq,
                        "SetDesiredCapacity:400,SetDesiredCapacity:400,SetDesiredCapacity:200");
    /* two retries took 5 each; success gives back the last one's 5 (botocore's rule) */
    int quota = SF_AWS_RETRY_QUOTA - 2 * SF_AWS_RETRY_COST + SF_AWS_RETRY_COST;
    assert_int_equal(sf_aws_quota_available(q), quota);
    /* throttled beyond the attempts: a clear status */
    fault("autoscaling", "SetDesiredCapacity", "throttle", 3);
    assert_int_equal(sf_aws_asg_set_desired(c, "serflow-workers", 2, &info, &err), SF_ETHROTTLED);
    assert_int_equal(info.attempts, 3);
    assert_int_equal(info.outcome, SF_AWS_THROTTLED);
    assert_non_null(strstr(err.msg, "Throttling"));
    assert_non_null(strstr(err.msg, "3 attempts"));
    quota -= 2 * SF_AWS_RETRY_COST; /* a failure gives nothing back */
    assert_int_equal(sf_aws_quota_available(q), quota);
    /* EC2 throttles with 503 RequestLimitExceeded; 5xx; a broken connection; a timeout */
    struct sf_aws_asg g;
    assert_int_equal(sf_aws_asg_describe(c, "serflow-workers", &g, NULL, &err), SF_OK);
    const char *id = g.instances[0].instance_id;
    struct sf_aws_ec2_instance ins[4];
    int n = 0;
    n0 = n_calls();
    fault("ec2", "DescribeInstances", "throttle", 1);
    fault("ec2", "DescribeInstances", "server_error", 1);
    fault("ec2", "DescribeInstances", "reset", 1);
    struct sf_aws_client *c5;
    struct sf_aws_credp *cp5;
    {
        struct sf_aws_creds cr;
        memset(&cr, 0, sizeof(cr));
        strcpy(cr.access_key_id, KEY);
        strcpy(cr.secret_access_key, SECRET);
        assert_int_equal(sf_aws_credp_new_static(&cp5, &cr, &err), SF_OK);
        struct sf_aws_client_cfg cfg = {.region = "us-east-1",
                                        .endpoint_url = base_url,
                                        .creds = cp5,
                                        .quota = q,
                                        .max_attempts = 5,
                                        .timeout_s = 2.0,
                                        .hooks = &HOOKS};
        assert_int_equal(sf_aws_client_new(&c5, &cfg, &err), SF_OK);
    }
    assert_int_equal(sf_aws_ec2_describe_instances(c5, &id, 1, ins, 4, &n, &info, &err), SF_OK);
    calls_since(n0, seq, sizeof(seq));
    /* the broken connection was a kept-alive one: libcurl itself sends the request again on a
     * fresh connection once, so the fake may see one attempt more than the client counts */
    assert_true(info.attempts == 3 || info.attempts == 4);
    assert_string_equal(seq, "DescribeInstances:503,DescribeInstances:500,DescribeInstances:0,"
                             "DescribeInstances:200");
    int before = sf_aws_quota_available(q);
    fault("autoscaling", "DescribeAutoScalingGroups", "timeout", 1);
    sf_aws_asg_fini(&g);
    assert_int_equal(sf_aws_asg_describe(c, "serflow-workers", &g, &info, &err), SF_OK);
    assert_int_equal(info.attempts, 2);
    assert_int_equal(sf_aws_quota_available(q), before); /* took 10, gave 10 back */
    sf_aws_asg_fini(&g);
    /* an empty quota stops retries */
    struct sf_aws_quota *tiny = sf_aws_quota_new(SF_AWS_RETRY_COST);
    struct sf_aws_credp *cpt;
    struct sf_aws_client *ct = client(SECRET, tiny, 2, &cpt);
    fault("autoscaling", "SetDesiredCapacity", "throttle", 3);
    assert_int_equal(sf_aws_asg_set_desired(ct, "serflow-workers", 2, &info, &err), SF_ETHROTTLED);
    assert_int_equal(info.attempts, 2);
    assert_true(info.quota_refused);
    assert_non_null(strstr(err.msg, "retry quota empty"));
    json_decref(control("/_fake/reset", "{}")); /* drop the fault left over */
    /* Lambda: 429 retried then reported; a 5xx retried; a function error is an answer */
    fault("lambda", "Invoke", "throttle", 3);
    struct sf_aws_invoke r;
    assert_int_equal(sf_aws_lambda_invoke(c, "serflow-fn", NULL, "{}", 2, 0, &r, &info, &err),
                     SF_ETHROTTLED);
    assert_non_null(strstr(err.msg, "TooManyRequestsException"));
    sf_aws_invoke_fini(&r);
    fault("lambda", "Invoke", "server_error", 1);
    assert_int_equal(sf_aws_lambda_invoke(c, "serflow-fn", NULL, "{}", 2, 0, &r, &info, &err),
                     SF_OK);
    assert_int_equal(info.attempts, 2);
    sf_aws_invoke_fini(&r);
    fault("lambda", "Invoke", "function_error", 1);
    assert_int_equal(sf_aws_lambda_invoke(c, "serflow-fn", NULL, "{}", 2, 0, &r, &info, &err),
                     SF_OK);
    assert_string_equal(r.function_error, "Unhandled");
    assert_int_equal(info.outcome, SF_AWS_FUNCTION_ERROR);
    assert_int_equal(info.attempts, 1);
    assert_non_null(strstr(r.payload, "Runtime.ExitError"));
    sf_aws_invoke_fini(&r);
    /* above Lambda's 6 MB: refused here, nothing sent */
    size_t big = SF_AWS_LAMBDA_PAYLOAD_MAX_BYTES + 1;
    char *p = calloc(1, big);
    n0 = n_calls();
    assert_int_equal(sf_aws_lambda_invoke(c, "serflow-fn", NULL, p, big, 0, &r, &info, &err),
                     SF_ETOOBIG);
    assert_int_equal(n_calls(), n0);
    free(p);
    /* a wrong secret: refused by botocore's signer on the other side, not retried */
    struct sf_aws_credp *cpw;
    struct sf_aws_client *cw = client("wrong", NULL, 2, &cpw);
    assert_int_equal(sf_aws_asg_set_desired(cw, "serflow-workers", 1, &info, &err), SF_EDENIED);
    assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
    assert_int_equal(info.attempts, 1);
    json_decref(control("/_fake/reset", "{}")); /* the mismatch was a problem on purpose */
    sf_aws_client_free(cw);
    sf_aws_credp_free(cpw);
    sf_aws_client_free(ct);
    sf_aws_credp_free(cpt);
    sf_aws_quota_free(tiny);
    sf_aws_client_free(c5);
    sf_aws_credp_free(cp5);
    sf_aws_client_free(c);
    sf_aws_credp_free(cp);
    sf_aws_quota_free(q);
    no_problems();
}

static void imds_env(const char *endpoint)
{
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN", "AWS_PROFILE",
                                       "AWS_EC2_METADATA_DISABLED"};
    for (size_t i = 0; i < SF_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
}

static char imds_secret[SF_AWS_SECRET_MAX], imds_token[SF_AWS_TOKEN_MAX];

static void test_imds(void **state)
{
    (void)state;
    imds_env(base_url);
    json_decref(control("/_fake/state", "{\"imds_expiry_s\": 1200}"));
    struct sf_aws_credp *p;
    struct sf_err err = {{0}};
    struct sf_aws_credp_cfg cfg = {NULL, &IMDS_HOOKS};
    wall_offset_s = 0;
    assert_int_equal(sf_aws_credp_new(&p, &cfg, &err), SF_OK);
    assert_string_equal(sf_aws_credp_source(p), "none yet");
    struct sf_aws_creds c1, c2, c3;
    assert_int_equal(sf_aws_credp_get(p, &c1, &err), SF_OK);
    assert_string_equal(sf_aws_credp_source(p), "instance-role");
    assert_true(!strncmp(c1.access_key_id, "ASIAFAKE", 8));
    assert_true(strlen(c1.session_token) > 100);
    assert_int_equal(sf_aws_credp_imds_fetches(p), 3); /* token, role, credentials */
    snprintf(imds_secret, sizeof(imds_secret), "%s", c1.secret_access_key);
    snprintf(imds_token, sizeof(imds_token), "%s", c1.session_token);
    /* cached while far from expiry */
    wall_offset_s = 60;
    assert_int_equal(sf_aws_credp_get(p, &c2, &err), SF_OK);
    assert_string_equal(c2.access_key_id, c1.access_key_id);
    assert_int_equal(sf_aws_credp_imds_fetches(p), 3);
    /* 20 min credentials: 6 min later, 14 min are left, inside the 15 min window: refreshed,
     * with the same metadata token */
    wall_offset_s = 6 * 60;
    assert_int_equal(sf_aws_credp_get(p, &c3, &err), SF_OK);
    assert_string_not_equal(c3.access_key_id, c1.access_key_id);
    assert_int_equal(sf_aws_credp_imds_fetches(p), 5);
    /* the credentials sign calls with their token */
    struct sf_aws_client_cfg ccfg = {
        .region = "us-east-1", .endpoint_url = base_url, .creds = p, .hooks = &HOOKS};
    struct sf_aws_client *c;
    assert_int_equal(sf_aws_client_new(&c, &ccfg, &err), SF_OK);
    struct sf_aws_asg g;
    int rc = sf_aws_asg_describe(c, "serflow-workers", &g, NULL, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, SF_OK);
    sf_aws_asg_fini(&g);
    sf_aws_client_free(c);
    sf_aws_credp_free(p);
    /* disabled, or nothing listening: a clear error */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    assert_int_equal(sf_aws_credp_new(&p, &cfg, &err), SF_OK);
    assert_int_equal(sf_aws_credp_get(p, &c1, &err), SF_EDENIED);
    sf_aws_credp_free(p);
    imds_env("http://127.0.0.1:1");
    assert_int_equal(sf_aws_credp_new(&p, &cfg, &err), SF_OK);
    assert_int_not_equal(sf_aws_credp_get(p, &c1, &err), SF_OK);
    assert_non_null(strstr(err.msg, "instance role"));
    sf_aws_credp_free(p);
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    wall_offset_s = 0;
    no_problems();
}

static void test_no_secret_logged(void **state)
{
    (void)state;
    assert_true(log_len > 0);
    assert_null(strstr(logbuf, SECRET));
    assert_null(strstr(logbuf, "wrong"));
    assert_true(imds_secret[0] && imds_token[0]);
    assert_null(strstr(logbuf, imds_secret));
    assert_null(strstr(logbuf, imds_token));
    assert_null(strstr(logbuf, "Signature="));
    assert_non_null(strstr(logbuf, "Authorization: [redacted]"));
    assert_non_null(strstr(logbuf, "retrying in"));
}

/* The IAM policy in deploy/aws allows exactly the calls the clients made (as the fake recorded
 * them), and those are exactly the table sf_aws_ops. */
static void test_iam_policy(void **state)
{
    (void)state;
    json_t *j = control("/_fake/calls", NULL);
    json_t *acts = json_object_get(j, "iam_actions");
    (void)acts;
    json_decref(j);
    /* the recorded calls were reset along the way: make each call once more, then compare */
    struct sf_aws_credp *cp;
    struct sf_aws_client *c = client(SECRET, NULL, 5, &cp);
    struct sf_err err = {{0}};
    struct sf_aws_asg g;
    assert_int_equal(sf_aws_asg_set_desired(c, "serflow-workers", 2, NULL, &err), SF_OK);
    assert_int_equal(sf_aws_asg_describe(c, "serflow-workers", &g, NULL, &err), SF_OK);
    const char *id = g.instances[0].instance_id;
    struct sf_aws_ec2_instance ins[2];
    int n;
    assert_int_equal(sf_aws_ec2_describe_instances(c, &id, 1, ins, 2, &n, NULL, &err), SF_OK);
    assert_int_equal(sf_aws_asg_terminate(c, id, 0, NULL, &err), SF_OK);
    sf_aws_asg_fini(&g);
    json_t *st = control("/_fake/state", NULL);
    struct sf_aws_target_health th[8];
    assert_int_equal(
        sf_aws_elbv2_target_health(c, json_string_value(json_object_get(st, "target_group_arn")),
                                   th, 8, &n, NULL, &err),
        SF_OK);
    json_decref(st);
    struct sf_aws_invoke r;
    assert_int_equal(sf_aws_lambda_invoke(c, "serflow-fn", NULL, "{}", 2, 0, &r, NULL, &err),
                     SF_OK);
    sf_aws_invoke_fini(&r);
    sf_aws_client_free(c);
    sf_aws_credp_free(cp);
    j = control("/_fake/calls", NULL);
    acts = json_object_get(j, "iam_actions");
    size_t nops;
    const struct sf_aws_op *ops = sf_aws_ops(&nops);
    assert_int_equal(json_array_size(acts), nops);
    char list[1024] = "";
    for (size_t i = 0; i < json_array_size(acts); i++) {
        const char *a = json_string_value(json_array_get(acts, i));
        int found = 0;
        for (size_t k = 0; k < nops; k++)
            found |= !strcmp(ops[k].iam_action, a);
        assert_true(found);
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", l ? "," : "", a);
    }
    json_decref(j);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"/usr/bin/python3", (char *)tu_src("tests/aws_fake/check_deploy.py"),
                        "--iam-actions", list, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    int wst = 0;
    waitpid(pid, &wst, 0);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    no_problems();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clients),    cmocka_unit_test(test_retries),
        cmocka_unit_test(test_imds),       cmocka_unit_test(test_no_secret_logged),
        cmocka_unit_test(test_iam_policy),
    };
    return cmocka_run_group_tests(tests, start_fake, stop_fake);
}
