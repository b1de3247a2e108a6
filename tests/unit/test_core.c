/* test_core.c - status names, error buffers, whole-file reads with a size cap, escaping, output
 * files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serflow/core.h"

static void test_strerror_names_every_status(void **state)
{
    (void)state;
    for (int s = SF_OK; s >= SF_EINFEASIBLE; s--)
        assert_string_not_equal(sf_strerror(s), "unknown error");
    assert_string_equal(sf_strerror(42), "unknown error");
}

static void test_err_set_formats_and_returns_status(void **state)
{
    (void)state;
    struct sf_err err;
    sf_err_clear(&err);
    assert_int_equal(sf_err_set(&err, SF_ERANGE, "%s:%d: x", "f.json", 3), SF_ERANGE);
    assert_string_equal(err.msg, "f.json:3: x");
    assert_int_equal(sf_err_set(NULL, SF_EINVAL, "ignored"), SF_EINVAL);
}

static void test_read_file_roundtrip_and_cap(void **state)
{
    (void)state;
    char path[] = "/tmp/sf_test_core_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char data[10000];
    memset(data, 'a', sizeof(data));
    assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
    close(fd);
    char *buf = NULL;
    size_t len = 0;
    struct sf_err err = {{0}};
    assert_int_equal(sf_read_file(path, 1 << 20, &buf, &len, &err), SF_OK);
    assert_int_equal(len, sizeof(data));
    assert_int_equal(buf[len], '\0');
    free(buf);
    assert_int_equal(sf_read_file(path, 5000, &buf, &len, &err), SF_ETOOBIG);
    assert_null(buf);
    assert_non_null(strstr(err.msg, "limit"));
    unlink(path);
    assert_int_equal(sf_read_file("/nonexistent/x", 100, &buf, &len, &err), SF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x"));
}

static void test_escape_keeps_text_and_escapes_controls(void **state)
{
    (void)state;
    char out[64];
    const char in[] = "a\x1b[2J\n\xc3\xa9\xc2\x9b\xff\x00z";
    sf_str_escape(out, sizeof(out), in, sizeof(in) - 1);
    /* ESC, C1 CSI (U+009B), a stray 0xFF and NUL are escaped; e-acute (UTF-8) is kept */
    assert_string_equal(out, "a\\x1B[2J\\n\xc3\xa9\\xC2\\x9B\\xFF\\x00z");
    /* overlong and surrogate encodings are not UTF-8 */
    sf_str_escape(out, sizeof(out), "\xc0\xaf\xed\xa0\x80", 5);
    assert_string_equal(out, "\\xC0\\xAF\\xED\\xA0\\x80");
    /* invisible and reordering characters are named */
    sf_str_escape(out, sizeof(out),
                  "\xef\xbb\xbf"
                  "1\xe2\x80\xae"
                  "2",
                  8);
    assert_string_equal(out, "\\uFEFF1\\u202E2");
    /* cut with "..." when the output is too small, always terminated */
    char small[8];
    sf_str_escape(small, sizeof(small), "abcdefghijkl", 12);
    assert_string_equal(small, "abcd...");
    sf_str_escape(small, sizeof(small), "\x01\x02\x03", 3);
    assert_string_equal(small, "\\x01...");
    sf_str_escape(small, sizeof(small), "abcdefg", 7);
    assert_string_equal(small, "abcdefg");
}

/* Inputs that are not plain files: refused, or read with the cap, never endlessly or forever. */
static void test_read_file_special_inputs(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    struct sf_err err = {{0}};
    assert_int_equal(sf_read_file("/dev/zero", 1 << 20, &buf, &len, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "not a regular file or a pipe"));
    assert_int_equal(sf_read_file("/tmp", 1 << 20, &buf, &len, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "/tmp: is a directory"));
    /* a FIFO with no writer reads as empty at once (alarm: fail rather than hang) */
    char dir[] = "/tmp/sf_test_fifo_XXXXXX", fifo[64];
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof(fifo), "%s/f", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    assert_int_equal(sf_read_file(fifo, 1 << 20, &buf, &len, &err), SF_OK);
    alarm(0);
    assert_int_equal(len, 0);
    free(buf);
    unlink(fifo);
    rmdir(dir);
    /* a pipe is read up to the cap and refused beyond it */
    int p[2];
    char data[10000], path[64];
    memset(data, 'x', sizeof(data));
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], data, sizeof(data)), (ssize_t)sizeof(data));
    close(p[1]);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
    assert_int_equal(sf_read_file(path, 5000, &buf, &len, &err), SF_ETOOBIG);
    assert_null(buf);
    close(p[0]);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], data, sizeof(data)), (ssize_t)sizeof(data));
    close(p[1]);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
    assert_int_equal(sf_read_file(path, 10000, &buf, &len, &err), SF_OK);
    assert_int_equal(len, 10000);
    free(buf);
    close(p[0]);
}

static void read_back(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Output files: replaced atomically with the old permissions; a symlink at the target or a
 * planted temporary name is never followed; a directory is refused; abort leaves the target. */
static void test_outfile_never_clobbers(void **state)
{
    (void)state;
    char dir[] = "/tmp/sf_test_outfile_XXXXXX", path[256], link[256], victim[256], buf[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/out.txt", dir);
    snprintf(link, sizeof(link), "%s/link.txt", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    struct sf_err err = {{0}};
    assert_int_equal(sf_write_file_atomic(victim, "victim", 6, &err), SF_OK);
    assert_int_equal(sf_write_file_atomic(path, "one", 3, &err), SF_OK);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(sf_write_file_atomic(path, "two", 3, &err), SF_OK);
    read_back(path, buf, sizeof(buf));
    assert_string_equal(buf, "two");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* a symlink at the target is replaced by the file; its target is untouched */
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(sf_write_file_atomic(link, "new", 3, &err), SF_OK);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    read_back(victim, buf, sizeof(buf));
    assert_string_equal(buf, "victim");
    /* abort: the target keeps its content, no temporary is left */
    struct sf_outfile o;
    assert_int_equal(sf_outfile_open(&o, path, &err), SF_OK);
    fputs("half", o.f);
    sf_outfile_abort(&o);
    read_back(path, buf, sizeof(buf));
    assert_string_equal(buf, "two");
    assert_int_equal(access(o.tmp, F_OK), -1);
    /* refused: a directory, a missing directory, an empty path */
    assert_int_equal(sf_outfile_open(&o, dir, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "is a directory"));
    snprintf(buf, sizeof(buf), "%s/none/x", dir);
    assert_int_equal(sf_outfile_open(&o, buf, &err), SF_ENOTFOUND);
    assert_int_equal(sf_outfile_open(&o, "", &err), SF_EINVAL);
    /* character devices are written straight through */
    assert_int_equal(sf_write_file_atomic("/dev/null", "x", 1, &err), SF_OK);
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    unlink(path);
    unlink(link);
    unlink(victim);
    assert_int_equal(rmdir(dir), 0); /* nothing else was left in it */
}

/* A monotonic condition's timed wait lasts its time: a deadline taken from another clock than the
 * condition's would end at once (a past deadline) or hang for decades (a future one). Waits of 0
 * or less return at once. */
static void test_cond_wait_monotonic(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    assert_int_equal(sf_cond_init_monotonic(&cv), SF_OK);
    pthread_mutex_lock(&mu);
    sf_cond_wait_s(&cv, &mu, 0); /* each returns at once (a hang fails the test's timeout) */
    sf_cond_wait_s(&cv, &mu, -1);
    sf_cond_wait_s(&cv, &mu, NAN);
    int waits = 0;
    double t0 = sf_monotonic_s();
    while (sf_monotonic_s() - t0 < 0.02 && waits < 10) { /* a spurious wake-up waits again */
        sf_cond_wait_s(&cv, &mu, 0.02);
        waits++;
    }
    double took = sf_monotonic_s() - t0;
    pthread_mutex_unlock(&mu);
    assert_true(took >= 0.02 && took < 5);
    assert_true(waits <= 3); /* a deadline in the past would return at once, ten times */
    pthread_cond_destroy(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_status),
        cmocka_unit_test(test_err_set_formats_and_returns_status),
        cmocka_unit_test(test_read_file_roundtrip_and_cap),
        cmocka_unit_test(test_escape_keeps_text_and_escapes_controls),
        cmocka_unit_test(test_outfile_never_clobbers),
        cmocka_unit_test(test_read_file_special_inputs),
        cmocka_unit_test(test_cond_wait_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
