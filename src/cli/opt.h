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
 *
 * Every command also gets, from this parser and not from its table, `--version` (SF_OPT_VERSION;
 * main.c answers it before the command runs) and `--config FILE`: a JSON file (docs/formats.md,
 * "serflow-config/1") whose section named after the command holds options by their long names,
 * values as on the command line. The whole file is read and checked at the first sf_opt_next
 * call, before any option is returned (errors are "FILE:LINE: CMD.OPTION: problem"); its
 * options are returned first, in table order, except those given on the command line, which
 * override them. A command that stores each option's value therefore needs no change.
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
    SF_OPT_END = 0,      /* no more arguments */
    SF_OPT_ERROR = -1,   /* err is set; a usage error */
    SF_OPT_HELP = -2,    /* -h or --help: print sf_opt_help and exit 0 */
    SF_OPT_OPERAND = -3, /* a non-option argument (only when cmd->operands is set) */
    SF_OPT_VERSION = -4  /* --version: print the version and exit 0 (main.c does, before the
                            command runs; a parse-only check treats it as --help) */
};

/* Config files (--config FILE). Caps on what a file may hold: */
#define SF_OPT_CONFIG_FORMAT      "serflow-config/1"
#define SF_OPT_CONFIG_BYTES       (1u << 20)    /* a file: a few hundred bytes per command */
#define SF_OPT_CONFIG_VALUE_BYTES SF_PATH_BYTES /* one value: a path at most */
#define SF_OPT_MAX_ROWS           256 /* rows of one command's table (the largest has ~60) */

/* One option of a config file: its row, its value as on the command line (NULL for a flag
 * given as true) and the line it is on. */
struct sf_opt_setting {
    const struct sf_opt *opt;
    char *text;
    int line;
};

/* The options a config file gives one command, in table order. */
struct sf_opt_config {
    struct sf_opt_setting set[SF_OPT_MAX_ROWS];
    size_t n;
};

/* The value of the option just returned. str points into argv or into a config file's values
 * (valid for the program's life, or until sf_opt_config_release). */
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
    int next;                             /* next argv index */
    const char *cluster;                  /* rest of a short-option cluster, or NULL */
    int only_operands;                    /* after "--" */
    int started;                          /* the command line was scanned for --config */
    const struct sf_opt *row;             /* the row of the option last read from argv */
    const struct sf_opt_config *config;   /* from --config, or NULL */
    size_t config_next;                   /* next setting of config to return */
    unsigned char given[SF_OPT_MAX_ROWS]; /* rows given on the command line */
};

/* argv[0] is the command name and is skipped. */
void sf_opt_init(struct sf_opt_parser *p, const struct sf_opt_cmd *cmd, int argc, char **argv);

/* Next option id (> 0) with its validated value, SF_OPT_END, SF_OPT_HELP, SF_OPT_VERSION,
 * SF_OPT_OPERAND (value in v->str), or SF_OPT_ERROR with err = "--name: problem" (or "unknown
 * option '...'", or a config file's "FILE:LINE: CMD.OPTION: problem"). */
int sf_opt_next(struct sf_opt_parser *p, struct sf_optval *v, struct sf_err *err);

/* Walks argv alone (no config file is read) up to the first of --help (SF_OPT_HELP), --version
 * (SF_OPT_VERSION), a usage error (SF_OPT_ERROR) or the end (SF_OPT_END), and returns it: what
 * the command's own parse would meet first on its command line. */
int sf_opt_scan(const struct sf_opt_cmd *cmd, int argc, char **argv);

/* Parses the text of a config file (name for messages) for cmd into *out: the format, the
 * command's section (required; other sections are only checked to be objects), each member an
 * option of cmd's table with a value it accepts. SF_OK, or SF_EPARSE / SF_EINVAL / SF_ERANGE /
 * SF_ETOOBIG / SF_ENOMEM with err = "FILE:LINE: FIELD: problem"; on failure out owns nothing. */
int sf_opt_config_parse(const struct sf_opt_cmd *cmd, const char *name, const char *text,
                        size_t len, struct sf_opt_config *out, struct sf_err *err);
void sf_opt_config_fini(struct sf_opt_config *c);

/* Frees the config files sf_opt_next has read (their values may be held by the caller, so they
 * live until this call): for tests and fuzz targets that parse many command lines. */
void sf_opt_config_release(void);

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
