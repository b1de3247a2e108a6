/* fuzz_config.c - libFuzzer target for config files (--config FILE, src/cli/opt.c): the first
 * byte picks a command, the rest is the file's text, parsed for that command's table. Any text
 * must be accepted or refused with a message, never crash, overflow or leak; every value it
 * accepts must be one the command line would accept for the same option. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n_cmd = 0;
    while (sf_cli_commands[n_cmd])
        n_cmd++;
    const struct sf_cli_command *c = sf_cli_commands[data[0] % n_cmd];
    /* a heap copy of exactly the text, so that ASan bounds every read of it */
    char *text = malloc(size - 1 ? size - 1 : 1);
    struct sf_opt_config *cfg = malloc(sizeof(*cfg));
    if (!text || !cfg) {
        free(text);
        free(cfg);
        return 0;
    }
    memcpy(text, data + 1, size - 1);
    struct sf_err err = {{0}};
    int rc = sf_opt_config_parse(c->spec, "fuzz.json", text, size - 1, cfg, &err);
    if (rc != SF_OK && err.msg[0] == '\0')
        abort(); /* every refusal explains itself */
    if (rc == SF_OK) {
        for (size_t i = 0; i < cfg->n; i++) {
            const struct sf_opt_setting *s = &cfg->set[i];
            struct sf_optval v;
            if (s->opt->kind == SF_OPT_FLAG ? s->text != NULL
                                            : sf_opt_value(s->opt, s->text, &v, &err) != SF_OK)
                abort(); /* accepted from the file, refused on the command line */
        }
        sf_opt_config_fini(cfg);
    }
    free(cfg);
    free(text);
    return 0;
}
