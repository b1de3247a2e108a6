/* fuzz_profile.c - libFuzzer target for the profile loader: any bytes must give SF_OK or a clean
 * error with a message, never a crash, leak or undefined behaviour. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sf_profile out;
    struct sf_err err = {{0}};
    int rc = sf_profile_parse(&out, "fuzz.json", (const char *)data, size, &err);
    if (rc != SF_OK && err.msg[0] == '\0')
        abort(); /* every failure must explain itself */
    return 0;
}
