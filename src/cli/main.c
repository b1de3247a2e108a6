/* main.c - serflow command dispatcher: the only code that prints for people or exits. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: serflow <command> [options]\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "serflow: unknown command '%s'\n", argv[1]);
    return 2;
}
