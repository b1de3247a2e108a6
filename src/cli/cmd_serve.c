/* cmd_serve.c - `serflow serve` (placeholder until the ingress lands). */
#include <stdio.h>

#include "cli.h"
#include "serve_cli.h"

int sf_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "serflow serve: not built yet\n");
    return SF_EXIT_FAIL;
}

int sf_cmd_load(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "serflow load: not built yet\n");
    return SF_EXIT_FAIL;
}
