/* fuzz_profile.c - libFuzzer target for the profile loader and writer: any bytes must give SF_OK
 * or a clean error with a message, never a crash, leak or undefined behaviour; a profile that
 * loads must write (sf_profile_write) and read back as the same struct. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sf_profile out, again;
    struct sf_err err = {{0}};
    int rc = sf_profile_parse(&out, "fuzz.json", (const char *)data, size, &err);
    if (rc != SF_OK && err.msg[0] == '\0')
        abort(); /* every failure must explain itself */
    if (rc != SF_OK)
        return 0;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        abort();
    rc = sf_profile_write(&out, NULL, f, &err);
    fclose(f);
    if (rc != SF_OK || sf_profile_parse(&again, "written", text, len, &err) != SF_OK ||
        memcmp(&out, &again, sizeof(out)) != 0)
        abort(); /* what loads, writes; what is written, reads back unchanged */
    free(text);
    return 0;
}
