/* test_util.h - helpers shared by the unit tests (header-only, test code only). */
#ifndef SERFLOW_TEST_UTIL_H
#define SERFLOW_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/core.h"

/* Path of a file under the source tree (SF_SOURCE_DIR from the environment or the build). */
static inline const char *tu_src(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("SF_SOURCE_DIR");
    snprintf(buf, sizeof(buf), "%s/%s", root && *root ? root : SF_SOURCE_DIR, rel);
    return buf;
}

/* 1 when the Makefile's valgrind target runs the test (SF_TEST_VALGRIND): memcheck runs oneDNN's
 * JIT code 50-100x slower, so the oneDNN tests check fewer shapes there (every shape still runs
 * in the plain and ASan+UBSan passes).
 *
 * Threads the oneDNN tests may use: 2, or 1 when the Makefile's valgrind target sets
 * SF_TEST_VALGRIND. Under memcheck, oneDNN's JIT kernels on a second thread now and then leave
 * that thread's whole state marked undefined (errors cascade into glibc's mutex code and
 * pool.c's plain loads; which run it hits depends on valgrind's thread schedule). The 2-thread
 * variants still run in the plain and ASan+UBSan test passes, and were clean under TSan. */
static inline int tu_under_valgrind(void)
{
    const char *v = getenv("SF_TEST_VALGRIND");
    return v && *v && strcmp(v, "0") != 0;
}

static inline int tu_dnnl_threads(void)
{
    return tu_under_valgrind() ? 1 : 2;
}

/* Reads a source-tree file; aborts the test binary on failure (test setup, not a test). */
static inline char *tu_read(const char *rel, size_t *len)
{
    char *text;
    struct sf_err err = {{0}};
    if (sf_read_file(tu_src(rel), 1 << 24, &text, len, &err) != SF_OK) {
        fprintf(stderr, "test setup: %s\n", err.msg);
        abort();
    }
    return text;
}

/* Returns a heap copy of text with the first occurrence of `from` replaced by `to`, and the
 * 1-based line where the replacement starts in *line. Aborts when `from` is absent. */
static inline char *tu_replace(const char *text, const char *from, const char *to, int *line)
{
    size_t pre = 0, flen = strlen(from), tlen = strlen(to);
    while (text[pre] && strncmp(text + pre, from, flen) != 0)
        pre++;
    if (!text[pre]) {
        fprintf(stderr, "test setup: '%s' not found\n", from);
        abort();
    }
    size_t rest = strlen(text + pre + flen);
    char *out = malloc(pre + tlen + rest + 1);
    if (!out)
        abort();
    memcpy(out, text, pre);
    memcpy(out + pre, to, tlen);
    memcpy(out + pre + tlen, text + pre + flen, rest + 1);
    int l = 1;
    for (size_t i = 0; i < pre; i++)
        l += text[i] == '\n';
    if (line)
        *line = l;
    return out;
}

#endif
