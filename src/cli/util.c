/* util.c - bundled data paths, directories and output files for the CLI. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "serflow/bind.h"
#include "serflow/plan.h"
#include "serflow/trace.h"

const char *const sf_cli_invocation_words[] = {"batch", "request", NULL};
const char *const sf_cli_batching_words[] = {"deadline", "epoch", NULL};

const char *sf_cli_data_path(const char *rel, char *buf, size_t size)
{
    const char *root = getenv("SERFLOW_DATA");
    int n = root && *root ? snprintf(buf, size, "%s/%s", root, rel)
                          : snprintf(buf, size, "%s/data/%s", SF_SOURCE_DIR, rel);
    return n >= 0 && (size_t)n < size ? buf : NULL;
}

int sf_cli_mkdirs(const char *dir, struct sf_err *err)
{
    char buf[SF_PATH_BYTES];
    size_t n = strlen(dir);
    if (n == 0)
        return sf_err_set(err, SF_EINVAL, "empty directory name");
    if (n >= sizeof(buf))
        return sf_err_set(err, SF_EINVAL, "%.64s...: directory path longer than %zu bytes", dir,
                          sizeof(buf) - 1);
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return sf_err_set(err, SF_EIO, "cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    struct stat st;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return sf_err_set(err, SF_EIO, "cannot create directory %s: %s", buf, strerror(errno));
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return sf_err_set(err, SF_EINVAL, "%s: not a directory", buf);
    return SF_OK;
}

int sf_cli_out_open(const char *cmd, struct sf_outfile *o, const char *path)
{
    struct sf_err err = {{0}};
    int rc = sf_outfile_open(o, path, &err);
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail(cmd, rc, &err);
}

int sf_cli_out_commit(const char *cmd, struct sf_outfile *o)
{
    struct sf_err err = {{0}};
    int rc = sf_outfile_commit(o, &err);
    return rc == SF_OK ? SF_EXIT_OK : sf_cli_fail(cmd, rc, &err);
}

double sf_cli_accuracy(double v)
{
    return v > 1 ? v / 100.0 : v;
}

json_t *sf_cli_json_num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

int sf_cli_print_json(const char *cmd, json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!text) {
        sf_cli_error(cmd, "out of memory formatting JSON");
        return SF_EXIT_FAIL;
    }
    puts(text);
    free(text);
    return SF_EXIT_OK;
}

json_t *sf_cli_json_text(const char *s)
{
    char buf[4 * SF_PATH_BYTES + 8];
    return json_string(sf_str_escape(buf, sizeof(buf), s, strlen(s)));
}

int sf_cli_traffic_rates(const char *path, double epoch_s, int unit, int csv, double **rates,
                         size_t *n, struct sf_err *err)
{
    struct sf_trace t = {0};
    size_t len = strlen(path);
    if (csv < 0)
        csv = len > 4 && !strcmp(path + len - 4, ".csv");
    *rates = NULL;
    *n = 0;
    int rc = sf_trace_load(&t, path, csv, (enum sf_trace_unit)unit, epoch_s, 0, err);
    if (rc == SF_OK && t.n_epochs > SF_PLAN_MAX_TRAFFIC_EPOCHS)
        rc = sf_err_set(err, SF_ETOOBIG, "%s: %lld epochs, more than the %d a plan weighs", path,
                        (long long)t.n_epochs, SF_PLAN_MAX_TRAFFIC_EPOCHS);
    if (rc == SF_OK && !(*rates = malloc(sizeof(double) * (size_t)(t.n_epochs ? t.n_epochs : 1))))
        rc = sf_err_set(err, SF_ENOMEM, "out of memory for the traffic");
    for (int64_t e = 0; rc == SF_OK && e < t.n_epochs; e++)
        (*rates)[e] = t.count[e] / epoch_s;
    if (rc == SF_OK)
        *n = (size_t)t.n_epochs;
    sf_trace_fini(&t);
    return rc;
}

int sf_cli_bind_one(const char *cmd, const struct sf_profile *prof, const struct sf_pricing *pr,
                    const char *policy, double tau, const double *traffic_rps, size_t n_traffic,
                    struct sf_bind_opts *bo, struct sf_binding *out)
{
    const struct sf_policy_desc *d = sf_policy_find(policy);
    if (!d || d->needs_future) {
        char known[256];
        sf_cli_error(cmd, "--policy: %s '%s' (online policies: %s)",
                     d ? "needs the whole trace in advance, `serflow replay` only:" : "unknown",
                     policy, sf_policy_names(known, sizeof(known), 1));
        return SF_EXIT_USAGE;
    }
    struct sf_plan plan;
    struct sf_plan_opts po;
    struct sf_err err = {{0}};
    sf_plan_opts_default(&po);
    po.batching = bo->batching;
    po.traffic_rps = traffic_rps;
    po.n_traffic = n_traffic;
    int rc = sf_plan_run(&plan, prof, pr, &po, &err);
    if (rc == SF_OK) {
        bo->tau = tau >= 0 ? tau : plan.best.tau;
        rc = sf_bind(out, &plan, prof, pr, d, bo, &err);
    }
    sf_plan_fini(&plan);
    if (rc != SF_OK)
        return sf_cli_fail(cmd, rc, &err);
    if (out->forced != SF_REJ_NONE)
        sf_cli_note(cmd, "warning: the forced %s path is rejected by the planner (%s)",
                    sf_pool_name(out->pool), sf_reject_name(out->forced));
    return SF_EXIT_OK;
}

static void help_policies(FILE *out, int indent, int online_only)
{
    for (int k = 0; k < sf_policy_count(); k++) {
        const struct sf_policy_desc *d = sf_policy_get(k);
        if (online_only && d->needs_future)
            continue;
        const char *h = d->summary;
        fprintf(out, "%*s%-11s ", indent + 2, "", d->name);
        for (int first = 1; *h; first = 0) {
            const char *nl = strchr(h, '\n');
            size_t len = nl ? (size_t)(nl - h) : strlen(h);
            fprintf(out, "%*s%.*s\n", first ? 0 : indent + 14, "", (int)len, h);
            h += len + (nl ? 1 : 0);
        }
    }
}

void sf_cli_help_policies(FILE *out, int indent)
{
    help_policies(out, indent, 0);
}

void sf_cli_help_online_policies(FILE *out, int indent)
{
    help_policies(out, indent, 1);
}
