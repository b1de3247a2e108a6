/* fuzz_aws_ini.c - libFuzzer target for the shared config file reader (sf_aws_ini_parse): any
 * bytes give SF_OK or an error with a "fuzz:LINE:" message; every setting handed out is a
 * NUL-terminated string within the line cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/aws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *ctx, const char *section, const char *key, const char *value, int line)
{
    (void)ctx;
    if (strlen(section) >= SF_AWS_INI_LINE_MAX || strlen(value) >= SF_AWS_INI_LINE_MAX ||
        strlen(key) >= 2 * SF_AWS_INI_LINE_MAX || line < 1 || !key[0])
        abort();
    return SF_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sf_err err = {{0}};
    int rc = sf_aws_ini_parse((const char *)data, size, "fuzz", check, NULL, &err);
    if (rc != SF_OK && strncmp(err.msg, "fuzz:", 5) != 0)
        abort();
    return 0;
}
