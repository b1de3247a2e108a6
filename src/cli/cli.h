/* cli.h - shared helpers of the serflow command-line front end (src/cli only). */
#ifndef SERFLOW_CLI_H
#define SERFLOW_CLI_H

#include <stdio.h>

#include "serflow/model.h"

/* Exit codes: 0 ok, 1 runtime failure or infeasible, 2 usage or bad input. */
enum { SF_EXIT_OK = 0, SF_EXIT_FAIL = 1, SF_EXIT_USAGE = 2 };

/* Path of a bundled data file (relative to data/): $SERFLOW_DATA/rel if set, else the source
 * tree's data/rel. Returns a static buffer. */
const char *sf_cli_data_path(const char *rel);

/* Strict number parsing for options: whole string, finite. Returns 0 on success. */
int sf_cli_parse_double(const char *s, double *out);
int sf_cli_parse_int(const char *s, long lo, long hi, long *out);

/* Runs gnuplot on a script file; returns 0 on success, prints the reason to stderr otherwise. */
int sf_cli_gnuplot(const char *script_path);

/* Creates dir (and parents) and opens dir/name for writing a gnuplot script; the script's path
 * goes to path. Prints the reason and returns NULL on failure. */
FILE *sf_cli_open_script(const char *dir, const char *name, char *path, size_t path_size);

/* Creates directory dir (and parents) if missing. Returns 0 on success. */
int sf_cli_mkdirs(const char *dir);

int sf_cmd_plan(int argc, char **argv);
int sf_cmd_replay(int argc, char **argv);
int sf_cmd_profile(int argc, char **argv);

#endif
