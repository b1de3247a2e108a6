/*
 * opt.h - table-driven option parsing for the serflow commands (src/cli only).
 *
 * Each command declares an enum of option ids and one table of struct sf_opt (as curl's
 * tool_getparam.c does): long name, optional one-letter alias, value kind, allowed range or
 * words, what a valid value looks like (for messages) and the help line. sf_opt_next() walks
 * argv and returns one validated option at a time; the command's switch only stores values.
 * `--help` text is generated from the same table (sf_opt_help), so the two cannot drift apart.
 *
 * Accepted forms: --name, --name=value, --name value, -x, -x value, -xVALUE, clusters of flag
 * letters (-hq), and `--` to end the options. Names must be spelt in full (no abbreviations: a
 * new option must never change what an old command line means). The parser prints nothing: an
 * error fills a struct sf_err with a line that names the option (and the caller adds
 * "serflow CMD: ").
 */
#ifndef SERFLOW_CLI_OPT_H
#define SERFLOW_CLI_OPT_H

#include <stddef.h>
#include <stdio.h>

#include "serflow/core.h"

enum sf_opt_kind {
    SF_OPT_FLAG = 0, /* no value */
    SF_OPT_STR,      /* any non-empty string (a path, a list parsed by the command) */
    SF_OPT_NUM,      /* a finite decimal number in [lo, hi] (bounds open with the flags below) */
    SF_OPT_INT,      /* a decimal integer in [ilo, ihi] */
    SF_OPT_WORD      /* one of words[] (NULL-terminated); the value is its index */
};

/* flags */
enum {
    SF_OPT_LO_OPEN = 1u << 0,  /* NUM: value must be > lo */
    SF_OPT_HI_OPEN = 1u << 1,  /* NUM: value must be < hi */
    SF_OPT_EMPTY_OK = 1u << 2, /* STR: "" is a valid value */
    SF_OPT_HIDDEN = 1u << 3    /* accepted but not listed by --help */
};

/* One row of a command's table. A row with name == NULL and id == 0 is a section heading in the
 * help text (help = the heading); a row with name == NULL and help == NULL ends the table. */
struct sf_opt {
    int id;           /* the command's enum value, > 0 */
    const char *name; /* long name without "--" */
    char short_name;  /* 0: none */
    enum sf_opt_kind kind;
    const char *metavar; /* value placeholder in the help ("FILE", "S"); NULL for flags */
    const char *help;    /* help text; '\n' starts a continuation line */
    const char *want;    /* what a valid value is, for messages ("seconds > 0") */
    double lo, hi;       /* NUM bounds */
    long long ilo, ihi;  /* INT bounds */
    unsigned flags;
    const char *const *words; /* WORD: accepted values */
    /* more help generated at run time, printed under the row (e.g. the policies of the registry
     * with their summaries), each line indented by `indent` columns; NULL: none */
    void (*more_help)(FILE *out, int indent);
};

/* A command: its name (for messages), a summary for the command list, a synopsis, description,
 * options and epilog (examples, exit status). operands: NULL when the command takes none, else
 * their placeholder for the synopsis; then sf_opt_next returns SF_OPT_OPERAND for each. */
struct sf_opt_cmd {
    const char *name;
    const char *summary;  /* for `serflow --help`; '\n' starts a continuation line */
    const char *synopsis; /* after "usage: serflow NAME " */
    const char *about;
    const struct sf_opt *opts;
    const char *epilog;
    const char *operands;
};

/* Returned by sf_opt_next besides option ids (> 0). */
enum {
    SF_OPT_END = 0,     /* no more arguments */
    SF_OPT_ERROR = -1,  /* err is set; a usage error */
    SF_OPT_HELP = -2,   /* -h or --help: print sf_opt_help and exit 0 */
    SF_OPT_OPERAND = -3 /* a non-option argument (only when cmd->operands is set) */
};

/* The value of the option just returned. str points into argv (valid for the program's life). */
struct sf_optval {
    const char *str;
    double num;
    long long i;
    int word;
};

struct sf_opt_parser {
    const struct sf_opt_cmd *cmd;
    int argc;
    char **argv;
    int next;            /* next argv index */
    const char *cluster; /* rest of a short-option cluster, or NULL */
    int only_operands;   /* after "--" */
};

/* argv[0] is the command name and is skipped. */
void sf_opt_init(struct sf_opt_parser *p, const struct sf_opt_cmd *cmd, int argc, char **argv);

/* Next option id (> 0) with its validated value, SF_OPT_END, SF_OPT_HELP, SF_OPT_OPERAND (value
 * in v->str), or SF_OPT_ERROR with err = "--name: problem" (or "unknown option '...'"). */
int sf_opt_next(struct sf_opt_parser *p, struct sf_optval *v, struct sf_err *err);

/* Validates text as a value of o (kind, range, words) into v. On failure fills err with
 * "--NAME: expected WANT, got 'TEXT'" (prefix: o->name, or label when o->name is NULL). */
int sf_opt_value(const struct sf_opt *o, const char *text, struct sf_optval *v, struct sf_err *err);

/* Row of cmd's table with this long name, or NULL. */
const struct sf_opt *sf_opt_find(const struct sf_opt_cmd *cmd, const char *name);

/* Writes "usage: serflow NAME SYNOPSIS", the description, every option by section and the
 * epilog. */
void sf_opt_help(const struct sf_opt_cmd *cmd, FILE *out);

/* Splits a separated list: copies the next item of *cursor (up to sep or the end) into buf and
 * advances *cursor past the separator. Returns 1 with an item, 0 at the end of the list, -1
 * when an item does not fit buf (never truncates). An empty item ("a,,b", a trailing ",") is
 * returned as "" for the caller to refuse. */
int sf_opt_next_item(const char **cursor, char sep, char *buf, size_t buf_size);

#endif
