/* plot.h - PNG plots through gnuplot without a shell and without data in scripts' syntax.
 *
 * A plot set lives in a private directory (mkdtemp inside the user's --plot DIR): the script and
 * its data files are written there (sf_outfile), gnuplot runs there (fork + exec with an
 * argument vector, its working directory set to it, so every file name in a script is a fixed
 * relative name), each expected PNG is checked (non-empty, PNG signature), and only then are all
 * files renamed into DIR (a planted symlink there is replaced, never written through). Every
 * string from data that enters a script goes through sf_plot_str, which writes a gnuplot
 * single-quoted string (no backslash, backquote or macro processing inside; ' doubled) and
 * refuses control characters. */
#ifndef SERFLOW_CLI_PLOT_H
#define SERFLOW_CLI_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "serflow/core.h"
#include "serflow/limits.h"

/* Files of one plot set: a script, and a data file and a PNG per tau (plan) or per policy. */
#define SF_PLOT_MAX_FILES (2 * SF_MAX_TAUS + 8)
#define SF_PLOT_NAME_MAX  64 /* file names inside a plot set are ours: short and plain */

struct sf_plot {
    const char *cmd;      /* for messages: "plan", "replay" */
    const char *preamble; /* terminal and common settings, repeated after each reset */
    char dir[SF_PATH_BYTES];
    char work[SF_PATH_BYTES];
    struct sf_outfile script;
    FILE *gp; /* the script being written */
    char names[SF_PLOT_MAX_FILES][SF_PLOT_NAME_MAX];
    int is_png[SF_PLOT_MAX_FILES];
    size_t n;
    int failed; /* a write or a quoting error happened; finish refuses to publish */
};

/* Creates dir (and parents), a private work directory inside it, and the script `script_name`;
 * returns the plot set (heap; sf_plot_finish or sf_plot_abort frees it). preamble (kept, not
 * copied: a string constant) holds the terminal and the settings every plot of the set shares.
 * On failure prints the reason, sets *code to an exit code != 0 and returns NULL. */
struct sf_plot *sf_plot_begin(const char *cmd, const char *dir, const char *script_name,
                              const char *preamble, int *code);

/* Opens a data file `name` in the work directory (published with the plots). NULL on failure
 * (printed; p->failed set). Close it with sf_plot_data_done. */
FILE *sf_plot_data(struct sf_plot *p, const char *name, struct sf_outfile *o);
int sf_plot_data_done(struct sf_plot *p, struct sf_outfile *o);

/* Starts a new plot: resets gnuplot's state (ranges, styles, labels of the previous plot: the
 * replay cost plot once inherited the epoch plots' x range), repeats the preamble and sets the
 * output to png_name (a plain name of ours), which finish then checks and publishes. */
void sf_plot_new(struct sf_plot *p, const char *png_name);

/* Writes s as a gnuplot single-quoted string literal. Control characters are refused
 * (p->failed). */
void sf_plot_str(struct sf_plot *p, const char *s);
/* The same for text formatted as printf would. */
void sf_plot_textf(struct sf_plot *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Finishes the script, runs gnuplot, checks every PNG and publishes everything into dir.
 * Returns 0 or an exit code (and prints why). Always removes the work directory and frees p. */
int sf_plot_finish(struct sf_plot *p);

/* Abandons the plot set: removes the work directory and its files, frees p. */
void sf_plot_abort(struct sf_plot *p);

#endif
