/* fuzz_cli.c - libFuzzer target for the CLI's option parsing: the first byte picks a command,
 * the rest is split at NUL bytes into its arguments, and the command's parse-only check runs
 * (option tables, numbers, ranges, lists, --sweep, --cold-start, --policy, --taus, --version,
 * --config; the files themselves: fuzz_config.c). Any arguments must be accepted or refused
 * with a message, never crash, overflow or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n_cmd = 0;
    while (sf_cli_commands[n_cmd])
        n_cmd++;
    const struct sf_cli_command *c = sf_cli_commands[data[0] % n_cmd];
    /* one heap copy, NUL-terminated, so every argument is a C string ASan can bound */
    char *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *argv[MAX_ARGS + 1] = {(char *)c->spec->name};
    int argc = 1;
    for (size_t i = 0; i < size - 1 && argc < MAX_ARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    struct sf_err err = {{0}};
    if (c->check(argc, argv, &err) != SF_OK && err.msg[0] == '\0')
        abort();             /* every refusal explains itself */
    sf_opt_config_release(); /* a --config file the arguments named and the parser kept */
    free(buf);
    return 0;
}
