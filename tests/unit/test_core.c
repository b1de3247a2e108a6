/* test_core.c - status names, error buffers, whole-file reads with a size cap, escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_status),
        cmocka_unit_test(test_err_set_formats_and_returns_status),
        cmocka_unit_test(test_read_file_roundtrip_and_cap),
        cmocka_unit_test(test_escape_keeps_text_and_escapes_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
