/* cli.h - shared helpers of the serflow command-line front end (src/cli only). */
#ifndef SERFLOW_CLI_H
#define SERFLOW_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "serflow/model.h"

/* Exit codes: 0 ok, 1 runtime failure or infeasible, 2 usage or bad input. */
enum { SF_EXIT_OK = 0, SF_EXIT_FAIL = 1, SF_EXIT_USAGE = 2 };

/* The one mapping from a status to an exit code: SF_OK -> 0; a problem with what the user gave
 * (arguments, file contents, a missing file, a cap exceeded: SF_EINVAL, SF_EPARSE, SF_ERANGE,
 * SF_ENOTFOUND, SF_EUNSUPPORTED, SF_ECORRUPT, SF_ETOOBIG) -> 2; anything else (no feasible
 * configuration, I/O failure, out of memory) -> 1. */
int sf_cli_exit_code(int status);

/* Prints "serflow CMD: MESSAGE" on stderr with every non-printable byte escaped (messages echo
 * file contents and arguments). */
void sf_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same for a note that is not an error ("plots written to ..."), also escaped. */
void sf_cli_note(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A progress update on stderr, escaped: on a terminal (tty) it redraws the current line (the
 * last update ends it), elsewhere every update is a line. */
void sf_cli_progress(const char *cmd, int tty, int last, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A JSON string of s, escaped as sf_str_escape does (so always valid UTF-8: json_string would
 * return NULL for a path that is not, and the member would vanish). */
struct json_t *sf_cli_json_text(const char *s);

/* sf_cli_error(cmd, "%s", err->msg) and returns sf_cli_exit_code(status). */
int sf_cli_fail(const char *cmd, int status, const struct sf_err *err);

/* A command: its option table, a parse-only check (reads no file, prints nothing; for tests and
 * the option fuzz target) and its entry point, which returns an exit code. */
struct sf_cli_command {
    const struct sf_opt_cmd *spec;
    int (*check)(int argc, char **argv, struct sf_err *err);
    int (*run)(int argc, char **argv);
};

/* Every command, NULL-terminated (commands.c). */
extern const struct sf_cli_command *const sf_cli_commands[];
const struct sf_cli_command *sf_cli_command_find(const char *name);

/* The list of commands (serflow --help). */
void sf_cli_usage(FILE *out);

/* "serflow 0.1.0 (git 0123456789ab)\n": serflow --version and every command's --version. */
void sf_cli_version(FILE *out);

extern const struct sf_cli_command sf_cli_plan_command, sf_cli_replay_command,
    sf_cli_profile_command, sf_cli_tracegen_command, sf_cli_demo_command, sf_cli_help_command;

/* Plans prof on pr with the binding's batching, takes tau (< 0: the plan's choice) and binds the
 * named policy as `serflow replay` and `serflow serve` both do (bind.h); prints every problem as
 * "serflow CMD: ..." (an unknown policy with the registry's list, a clairvoyant one, a forced
 * path the planner rejects as a warning). Returns SF_EXIT_OK with *out bound (sf_binding_fini),
 * or the exit code. The plan is released in every outcome. */
struct sf_bind_opts;
struct sf_binding;
int sf_cli_bind_one(const char *cmd, const struct sf_profile *prof, const struct sf_pricing *pr,
                    const char *policy, double tau, const double *traffic_rps, size_t n_traffic,
                    struct sf_bind_opts *bo, struct sf_binding *out);

/* The arrival rate of each epoch of a traffic file, for planning against the traffic (plan.h):
 * read as a trace (unit: 0 lines are epochs, 1 seconds; csv: -1 from the name's .csv, else 0/1)
 * with epochs of epoch_s, at most SF_PLAN_MAX_TRAFFIC_EPOCHS. *rates is heap (caller frees). */
int sf_cli_traffic_rates(const char *path, double epoch_s, int unit, int csv, double **rates,
                         size_t *n, struct sf_err *err);

/* What `serflow serve ARGS` and `serflow replay ARGS` bind, without running (for the test that
 * they agree): the profile and catalog are loaded into prof and pr; replay binds up to cap
 * policies into out (*n of them). Exit codes as the commands'. */
int sf_cli_serve_bind(int argc, char **argv, struct sf_profile *prof, struct sf_pricing *pr,
                      struct sf_binding *out);
int sf_cli_replay_bind(int argc, char **argv, struct sf_profile *prof, struct sf_pricing *pr,
                       struct sf_binding *out, size_t cap, size_t *n);

/* --help lines for --policy, generated from the registry (policy.h): every policy, or the online
 * ones, with its summary. For struct sf_opt.more_help. */
void sf_cli_help_policies(FILE *out, int indent);
void sf_cli_help_online_policies(FILE *out, int indent);

/* Runs a parse loop that only validates (for the .check entries of commands whose switch has no
 * side effects beyond storing values). */
int sf_cli_check_only(const struct sf_opt_cmd *spec, int argc, char **argv, struct sf_err *err);

/* Option rows shared by plan and replay (same meaning, same checks). */
#define SF_CLI_OPT_PROFILE(opt_id)                                                                 \
    {                                                                                              \
        .id = (opt_id), .name = "profile", .kind = SF_OPT_STR, .metavar = "FILE",                  \
        .help = "model profile (serflow-profile/1, docs/formats.md)"                               \
    }
#define SF_CLI_OPT_PRICING(opt_id)                                                                 \
    {                                                                                              \
        .id = (opt_id), .name = "pricing", .kind = SF_OPT_STR, .metavar = "FILE",                  \
        .help = "pricing catalog (serflow-pricing/1)"                                              \
    }
#define SF_CLI_OPT_MIN_ACCURACY(opt_id, text)                                                      \
    {                                                                                              \
        .id = (opt_id), .name = "min-accuracy", .kind = SF_OPT_NUM, .metavar = "A",                \
        .help = (text), .want = "an accuracy, 0..1 or a percentage", .lo = 0, .hi = 100            \
    }
#define SF_CLI_OPT_TAU(opt_id, text)                                                               \
    {                                                                                              \
        .id = (opt_id), .name = "tau", .kind = SF_OPT_NUM, .metavar = "T", .help = (text),         \
        .want = "a confidence threshold", .lo = 0, .hi = 1, .flags = SF_OPT_LO_OPEN                \
    }

/* How functions are invoked on the FaaS path: a batch of B per call, or one call per request. */
extern const char *const sf_cli_invocation_words[];
#define SF_CLI_OPT_FN_INVOCATION(opt_id)                                                           \
    {                                                                                              \
        .id = (opt_id), .name = "fn-invocation", .kind = SF_OPT_WORD, .metavar = "W",              \
        .help = "batch | request: a FaaS call carries a batch of B (default) or one request\n"     \
                "(LIBRA's setup: data/profiles/libra-wits.json)",                                  \
        .words = sf_cli_invocation_words                                                           \
    }

/* Which batches: the deadline-aware batcher's (default) or the paper's epoch batches. */
extern const char *const sf_cli_batching_words[];
#define SF_CLI_OPT_BATCHING(opt_id)                                                                \
    {                                                                                              \
        .id = (opt_id), .name = "batching", .kind = SF_OPT_WORD, .metavar = "B",                   \
        .help = "deadline | epoch: a batch leaves when full or when its oldest request would\n"    \
                "otherwise miss the SLO (default: every request answered within the SLO of its\n"  \
                "arrival), or the paper's: each epoch's requests in batches of B at its end",      \
        .words = sf_cli_batching_words                                                             \
    }

/* An accuracy option's value: 0..1 as is, above 1 a percentage. */
double sf_cli_accuracy(double v);

/* A JSON number, or null when x is not finite (json_real would return NULL and the member would
 * silently vanish from its object). */
struct json_t;
struct json_t *sf_cli_json_num(double x);

/* Writes doc as indented JSON on stdout; an exit code (a serialisation failure is reported, never
 * a silent empty output). */
int sf_cli_print_json(const char *cmd, struct json_t *doc);

/* Path of a bundled data file (relative to data/) into buf: $SERFLOW_DATA/rel if set, else the
 * source tree's data/rel. NULL when it does not fit. */
const char *sf_cli_data_path(const char *rel, char *buf, size_t size);

/* Creates directory dir (and parents) if missing; SF_EINVAL when dir exists and is not a
 * directory. */
int sf_cli_mkdirs(const char *dir, struct sf_err *err);

/* Opens an output file (sf_outfile_open) for a command; prints the reason and returns an exit
 * code != 0 on failure. */
int sf_cli_out_open(const char *cmd, struct sf_outfile *o, const char *path);
/* Commits it (sf_outfile_commit); prints the reason and returns an exit code != 0 on failure. */
int sf_cli_out_commit(const char *cmd, struct sf_outfile *o);

#endif
