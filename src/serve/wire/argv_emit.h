/* argv_emit.h - writing a child's command line from its option table (internal to src/serve):
 * one emit function per option kind of SF_WORKER_OPTIONS / SF_LAMBDA_OPTIONS, each appending
 * "--name value" when the setting differs from its default. Typed pointers: a row whose field
 * does not have its kind's type does not compile. */
#ifndef SERFLOW_ARGV_EMIT_H
#define SERFLOW_ARGV_EMIT_H

#include <string.h>

#include "serflow/core.h"
#include "serflow/log.h"
#include "serflow/nn.h"

static inline int sf__emit_STR(struct sf_argv *a, const char *name, const char *const *v,
                               const char *const *d)
{
    if (!*v || (*d && !strcmp(*v, *d)))
        return SF_OK;
    int rc = sf_argv_addf(a, "--%s", name);
    return rc == SF_OK ? sf_argv_add(a, *v) : rc;
}

static inline int sf__emit_INT(struct sf_argv *a, const char *name, const int *v, const int *d)
{
    if (*v == *d)
        return SF_OK;
    int rc = sf_argv_addf(a, "--%s", name);
    return rc == SF_OK ? sf_argv_addf(a, "%d", *v) : rc;
}

static inline int sf__emit_NUM(struct sf_argv *a, const char *name, const double *v,
                               const double *d)
{
    if (*v == *d)
        return SF_OK;
    int rc = sf_argv_addf(a, "--%s", name);
    return rc == SF_OK ? sf_argv_addf(a, "%.17g", *v) : rc; /* exact: parses back equal */
}

static inline int sf__emit_FLAG(struct sf_argv *a, const char *name, const int *v, const int *d)
{
    return *v && !*d ? sf_argv_addf(a, "--%s", name) : SF_OK;
}

static inline int sf__emit_BACKEND(struct sf_argv *a, const char *name, const enum sf_nn_backend *v,
                                   const enum sf_nn_backend *d)
{
    if (*v == *d)
        return SF_OK;
    int rc = sf_argv_addf(a, "--%s", name);
    return rc == SF_OK ? sf_argv_add(a, sf_nn_backend_name(*v)) : rc;
}

static inline int sf__emit_LOGLEVEL(struct sf_argv *a, const char *name, const int *v, const int *d)
{
    if (*v == *d || *v < SF_LOG_ERROR || *v > SF_LOG_DEBUG)
        return SF_OK;
    int rc = sf_argv_addf(a, "--%s", name);
    return rc == SF_OK ? sf_argv_add(a, sf_log_level_words[*v]) : rc;
}

static inline int sf__emit_LOGFORMAT(struct sf_argv *a, const char *name, const int *v,
                                     const int *d)
{
    if (*v == *d || (*v != SF_LOG_TEXT && *v != SF_LOG_JSON))
        return SF_OK;
    int rc = sf_argv_addf(a, "--%s", name);
    return rc == SF_OK ? sf_argv_add(a, sf_log_format_words[*v]) : rc;
}

#endif
