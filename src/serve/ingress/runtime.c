/*
 * runtime.c - the ingress's function side: the function provider the configuration names (cloud.h:
 * Lambda for --provider aws; else the local runtime's Invoke API), and the local function runtime
 * (`serflow lambda`): started with the deployment's root identity on an inherited pipe,
 * supervised from the main loop, and billed.
 *
 * Supervision: a runtime that exits is started again on the same port (the workers were given
 * its URL) after an exponential back-off (0.2 s doubling to 10 s); readiness says 503 while it
 * is down, and while its /metrics says its instances fail to start (a readiness probe). Bill:
 * every answer of the runtime carries its invocation's billed duration, and a worker's answer the
 * tail it invoked; the ingress meters those (sf__meter_functions), so the bill is data it was
 * given, never scraped, and it only grows across the runtime's restarts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"
#include "serflow/lambda.h"
#include "serflow/log.h"

/* Time to wait for the function runtime's readiness line. */
#define RUNTIME_START_TIMEOUT_S 30.0
/* Restart back-off: 0.2 s doubling to 10 s. */
#define RUNTIME_BACKOFF_BASE_S 0.2
#define RUNTIME_BACKOFF_MAX_S  10.0
/* How often the main loop probes the runtime's readiness. */
#define RUNTIME_SCRAPE_S 0.5
/* A probe's timeout. */
#define RUNTIME_SCRAPE_TIMEOUT_S 1.0

static int spawn_runtime(struct sf__server *s, struct sf_err *err)
{
    const struct sf_serve_cfg *c = s->cfg;
    struct sf_lambda_cfg l;
    sf_lambda_defaults(&l);
    l.model_dir = c->model_dir;
    l.function_name = sf_nn_model_name(s->model);
    l.memory_mb = c->bind->path.fn_mem_mb;
    l.pricing_path = c->pricing_path; /* it bills with serve's catalog */
    l.tau = c->bind->tau;
    l.timeout_s = c->fn_timeout_s;
    l.idle_timeout_s = c->fn_idle_timeout_s / c->time_scale;
    l.cold_start_delay_s = c->fn_cold_start_delay_s / c->time_scale;
    l.concurrency = c->fn_concurrency;
    l.ready_fd = SF_PROC_READY_FD;
    l.port = s->rt.port;
    l.fault = c->fn_fault;
    l.backend = c->backend;
    l.log_level = sf_log_get_level();
    l.log_format = sf_log_get_format();
    struct sf_argv *argv = malloc(sizeof(*argv));
    if (!argv)
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    sf_argv_init(argv);
    int rc = sf_argv_add(argv, s->exe);
    if (rc == SF_OK)
        rc = sf_argv_add(argv, "lambda");
    if (rc == SF_OK)
        rc = sf_lambda_argv(&l, argv, err);
    if (rc != SF_OK) {
        free(argv);
        return rc;
    }
    char line[SF_AUTH_PRINCIPAL_MAX + 2 * SF_AUTH_KEY_BYTES + 8];
    sf_auth_line(&s->root, line, sizeof(line));
    rc = sf_proc_spawn(&s->lambda, argv->v, NULL, line, err);
    memset(line, 0, sizeof(line));
    free(argv);
    s->rt.spawned_s = sf_monotonic_s();
    return rc;
}

/* The function provider the configuration names: Lambda (aws), or the local runtime's Invoke
 * API at lambda_url, signed as the ingress. */
static int start_functions(struct sf__server *s, struct sf_err *err)
{
    const struct sf_serve_cfg *c = s->cfg;
    struct sf_fn_cfg fc;
    memset(&fc, 0, sizeof(fc));
    if (s->aws) {
        fc.provider = "aws";
        fc.function = c->aws.function;
        fc.url =
            c->aws.endpoint[SF_AWS_LAMBDA] ? c->aws.endpoint[SF_AWS_LAMBDA] : c->aws.endpoint_url;
        fc.region = c->aws.region;
        fc.creds = s->aws_creds;
        fc.timeout_s = c->aws.timeout_s;
        fc.max_attempts = c->aws.max_attempts;
    } else {
        fc.provider = "local";
        fc.function = sf_nn_model_name(s->model);
        fc.url = s->lambda_url;
        fc.auth = &s->ingress_id;
    }
    return sf_fn_new(&s->fn, &fc, err);
}

int sf__runtime_start(struct sf__server *s, struct sf_err *err)
{
    const struct sf_serve_cfg *c = s->cfg;
    if (s->aws) { /* Lambda runs the functions: nothing to start or supervise here */
        if (!c->aws.function || !*c->aws.function)
            return sf_err_set(err, SF_EINVAL,
                              "--provider aws: the Lambda function (--aws-function) "
                              "is required");
        int rc = sf_aws_credp_new(&s->aws_creds, NULL, err);
        if (rc != SF_OK)
            return rc;
        s->rt.up = s->rt.ready = 1;
        return start_functions(s, err);
    }
    if (c->lambda_url) { /* the provider (cloud/fn.c) makes the Invoke URL from it */
        snprintf(s->lambda_url, sizeof(s->lambda_url), "%s", c->lambda_url);
        s->rt.up = s->rt.ready = 1;
        return start_functions(s, err);
    }
    s->rt.owned = 1;
    int rc = spawn_runtime(s, err);
    if (rc != SF_OK)
        return rc;
    double t0 = sf_monotonic_s();
    while (!sf_proc_poll_ready(&s->lambda)) {
        if (sf_proc_reap(&s->lambda) || sf_monotonic_s() - t0 > RUNTIME_START_TIMEOUT_S)
            return sf_err_set(err, SF_EIO, "the function runtime (serflow lambda) did not start");
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    const char *colon = strrchr(s->lambda.endpoint, ':');
    s->rt.port = colon ? atoi(colon + 1) : 0;
    s->rt.up = s->rt.ready = 1;
    snprintf(s->lambda_url, sizeof(s->lambda_url), "http://%s", s->lambda.endpoint);
    return start_functions(s, err);
}

/* Reads the runtime's readiness from its /metrics (whether an instance can start): a probe,
 * not its bill, which the answers carry. 1 ready, 0 not, -1 no answer. */
static int probe(struct sf__server *s)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/metrics", s->lambda_url);
    long status = 0;
    char *text = NULL;
    size_t len = 0;
    struct sf_err err = {{0}};
    int ready = -1;
    if (sf_http_request(NULL, url, NULL, 0, NULL, RUNTIME_SCRAPE_TIMEOUT_S, &status, &text, &len,
                        NULL, &err) == SF_OK &&
        status == 200 && text) {
        double v;
        ready = sf_metrics_scrape(text, "serflow_function_ready", "", &v) != SF_OK || v > 0;
    }
    free(text);
    return ready;
}

void sf__meter_functions(struct sf__server *s, double billed_ms, uint64_t calls)
{
    if (!(billed_ms >= 0) || !calls)
        return;
    const struct sf_binding *b = s->cfg->bind;
    pthread_mutex_lock(&s->bill_mu);
    sf_meter_fn_billed(&s->fn_meter, s->cfg->price, b->fn_arch, b->path.fn_mem_mb, billed_ms / 1000,
                       calls);
    pthread_mutex_unlock(&s->bill_mu);
}

void sf__runtime_bill(struct sf__server *s, struct sf_meter *m)
{
    pthread_mutex_lock(&s->bill_mu);
    sf_meter_merge(m, &s->fn_meter);
    pthread_mutex_unlock(&s->bill_mu);
}

void sf__runtime_supervise(struct sf__server *s)
{
    if (!s->rt.owned)
        return;
    double now = sf_monotonic_s();
    if (s->rt.up && sf_proc_reap(&s->lambda)) {
        /* it died: its bill so far is kept, it starts again after the back-off */
        sf_proc_stop(&s->lambda, 0);
        s->rt.up = 0;
        s->rt.fails_in_row++;
        double b = RUNTIME_BACKOFF_BASE_S;
        for (int i = 1; i < s->rt.fails_in_row && b < RUNTIME_BACKOFF_MAX_S; i++)
            b *= 2;
        s->rt.next_start_s = now + (b < RUNTIME_BACKOFF_MAX_S ? b : RUNTIME_BACKOFF_MAX_S);
        s->lambda.pid = 0;
        return;
    }
    if (!s->rt.up) {
        if (s->lambda.pid > 0) { /* an incarnation starting */
            if (sf_proc_poll_ready(&s->lambda)) {
                s->rt.up = 1;
                s->rt.restarts++;
                sf_metrics_add(s->metrics, s->mid.runtime_restarts, "", 1);
            } else if (sf_proc_reap(&s->lambda) ||
                       now - s->rt.spawned_s > RUNTIME_START_TIMEOUT_S) {
                sf_proc_stop(&s->lambda, 0.5); /* could not start (its port taken?) */
                s->lambda.pid = 0;
                s->rt.fails_in_row++;
                double b = RUNTIME_BACKOFF_BASE_S;
                for (int i = 1; i < s->rt.fails_in_row && b < RUNTIME_BACKOFF_MAX_S; i++)
                    b *= 2;
                s->rt.next_start_s = now + (b < RUNTIME_BACKOFF_MAX_S ? b : RUNTIME_BACKOFF_MAX_S);
            }
        } else if (now >= s->rt.next_start_s) {
            struct sf_err err = {{0}};
            if (spawn_runtime(s, &err) != SF_OK) {
                s->lambda.pid = 0;
                s->rt.next_start_s = now + RUNTIME_BACKOFF_MAX_S;
            }
        }
        return;
    }
    if (now - s->rt.probed_s >= RUNTIME_SCRAPE_S) {
        int ready = probe(s);
        if (ready >= 0)
            s->rt.ready = ready;
        if (s->rt.ready)
            s->rt.fails_in_row = 0;
        s->rt.probed_s = now; /* also after a failed probe: not every tick */
    }
}

void sf__runtime_stop(struct sf__server *s)
{
    if (s->rt.owned && s->lambda.pid > 0)
        sf_proc_stop(&s->lambda, 3.0);
    sf_fn_free(&s->fn);
}
