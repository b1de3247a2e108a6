/* status.c - status names, error buffers and capped whole-file reads. */
#include "serflow/core.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *sf_strerror(int status)
{
    switch (status) {
#define NAME(name, value, text)                                                                    \
    case name:                                                                                     \
        return text;
        SF_STATUS_LIST(NAME)
#undef NAME
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

void sf_err_prefix(struct sf_err *err, const char *prefix)
{
    if (!err)
        return;
    char tmp[SF_ERR_MAX];
    snprintf(tmp, sizeof(tmp), "%s%s", prefix, err->msg);
    memcpy(err->msg, tmp, sizeof(err->msg));
}

int sf_isfinite(double x)
{
    return isfinite(x) ? 1 : 0;
}

/* First buffer for an input of unknown size (a pipe). */
#define STREAM_CHUNK ((size_t)64 << 10)

int sf_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len,
                 struct sf_err *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    /* O_NONBLOCK: opening a FIFO that has no writer returns at once instead of waiting */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return sf_err_set(err, errno == ENOENT ? SF_ENOTFOUND : SF_EINVAL, "%s: cannot open: %s",
                          path, strerror(errno));
    struct stat st;
    int rc = SF_OK;
    char *buf = NULL;
    size_t len = 0;
    if (fstat(fd, &st) != 0) {
        rc = sf_err_set(err, SF_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = sf_err_set(err, SF_EINVAL, "%s: is a directory (expected a file)", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        /* a device (/dev/zero, a terminal) or a socket: endless or interactive input */
        rc = sf_err_set(err, SF_EINVAL, "%s: not a regular file or a pipe; refused", path);
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max_bytes) {
        rc = sf_err_set(err, SF_ETOOBIG, "%s: %jd bytes, larger than the %zu-byte limit", path,
                        (intmax_t)st.st_size, max_bytes);
        goto out;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        rc = sf_err_set(err, SF_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    /* Room for max_bytes + 1 bytes at most (one more than allowed tells "too big") and a NUL:
     * the buffer never grows past the cap, whatever the input. */
    size_t limit = max_bytes + 2;
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : STREAM_CHUNK;
    if (cap > limit)
        cap = limit;
    buf = malloc(cap);
    if (!buf) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len + 1 == cap) {
            if (cap == limit) {
                rc = sf_err_set(err, SF_ETOOBIG, "%s: larger than the %zu-byte limit", path,
                                max_bytes);
                goto out;
            }
            size_t ncap = cap > limit / 2 ? limit : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sf_err_set(err, SF_EIO, "%s: read error: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max_bytes) {
        rc = sf_err_set(err, SF_ETOOBIG, "%s: larger than the %zu-byte limit", path, max_bytes);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    if (out_len)
        *out_len = len;
out:
    free(buf);
    close(fd);
    return rc;
}
