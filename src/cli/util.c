/* util.c - bundled data paths, gnuplot and directory helpers for the CLI. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

int sf_cli_gnuplot(const char *script_path)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "gnuplot '%s' 2>&1", script_path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "serflow: cannot run gnuplot: %s\n", strerror(errno));
        return -1;
    }
    char line[512], first[512] = "";
    while (fgets(line, sizeof(line), p))
        if (!first[0])
            snprintf(first, sizeof(first), "%s", line);
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            fprintf(stderr, "serflow: gnuplot not found (install gnuplot-nox, or run "
                            "scripts/install-deps.sh)\n");
        else
            fprintf(stderr, "serflow: gnuplot failed on %s: %s", script_path,
                    first[0] ? first : "(no output)\n");
        return -1;
    }
    return 0;
}

int sf_cli_mkdirs(const char *dir)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

FILE *sf_cli_open_script(const char *dir, const char *name, char *path, size_t path_size)
{
    if (sf_cli_mkdirs(dir) != 0) {
        fprintf(stderr, "serflow: cannot create directory %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    snprintf(path, path_size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "serflow: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

double sf_cli_accuracy(double v)
{
    return v > 1 ? v / 100.0 : v;
}
