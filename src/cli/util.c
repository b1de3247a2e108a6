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
