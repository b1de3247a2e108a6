/* status.c - status names, error buffers and whole-file reads. */
#include "serflow/core.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sf_strerror(int status)
{
    switch (status) {
    case SF_OK:
        return "ok";
    case SF_ENOMEM:
        return "out of memory";
    case SF_EINVAL:
        return "invalid value";
    case SF_EIO:
        return "I/O error";
    case SF_EPARSE:
        return "parse error";
    case SF_ERANGE:
        return "value out of range";
    case SF_ENOTFOUND:
        return "not found";
    case SF_EUNSUPPORTED:
        return "unsupported";
    case SF_ECORRUPT:
        return "corrupt data";
    case SF_ETOOBIG:
        return "too big";
    case SF_EINFEASIBLE:
        return "infeasible";
    default:
        return "unknown error";
    }
}

void sf_err_clear(struct sf_err *err)
{
    if (err)
        err->msg[0] = '\0';
}

int sf_err_set(struct sf_err *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return status;
}

int sf_isfinite(double x)
{
    return isfinite(x) ? 1 : 0;
}

int sf_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len,
                 struct sf_err *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sf_err_set(err, errno == ENOENT ? SF_ENOTFOUND : SF_EINVAL, "%s: cannot open: %s",
                          path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max_bytes) {
                free(buf);
                fclose(f);
                return sf_err_set(err, SF_ETOOBIG, "%s: larger than the %zu-byte limit", path,
                                  max_bytes);
            }
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err) {
        free(buf);
        return sf_err_set(err, SF_EIO, "%s: read error", path);
    }
    if (len > max_bytes) {
        free(buf);
        return sf_err_set(err, SF_ETOOBIG, "%s: larger than the %zu-byte limit", path, max_bytes);
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len)
        *out_len = len;
    return SF_OK;
}
