/* opt.c - table-driven option parsing and generated help (opt.h). */
#include "opt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Longest option value echoed back in a message; the rest is elided. */
#define ECHO_MAX 80

static void echo(const char *text, char *out, size_t out_size)
{
    sf_str_escape(out, out_size < ECHO_MAX + 1 ? out_size : ECHO_MAX + 1, text, strlen(text));
}

/* Whole string, no leading blanks, finite. */
static int parse_num(const char *s, double *out)
{
    if (!*s || *s == ' ' || *s == '\t' || *s == '\n')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE && fabs(v) > 1) /* overflow; an underflow to (near) 0 is a number */
        return -1;
    if (end == s || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Decimal digits with an optional sign, whole string, in long long. */
static int parse_int(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* "a number in [0, 1]", "an integer >= 1", "one of a, b". */
static void describe(const struct sf_opt *o, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    switch (o->kind) {
    case SF_OPT_NUM: {
        int lo = isfinite(o->lo), hi = isfinite(o->hi);
        const char *lb = o->flags & SF_OPT_LO_OPEN ? "(" : "[";
        const char *rb = o->flags & SF_OPT_HI_OPEN ? ")" : "]";
        if (lo && hi)
            snprintf(out, size, "a number in %s%g, %g%s", lb, o->lo, o->hi, rb);
        else if (lo)
            snprintf(out, size, "a number %s %g", o->flags & SF_OPT_LO_OPEN ? ">" : ">=", o->lo);
        else if (hi)
            snprintf(out, size, "a number %s %g", o->flags & SF_OPT_HI_OPEN ? "<" : "<=", o->hi);
        else
            snprintf(out, size, "a number");
        break;
    }
    case SF_OPT_INT:
        if (o->ihi == LLONG_MAX)
            snprintf(out, size, "an integer >= %lld", o->ilo);
        else
            snprintf(out, size, "an integer in [%lld, %lld]", o->ilo, o->ihi);
        break;
    case SF_OPT_WORD:
        for (const char *const *w = o->words; w && *w && n < size; w++) {
            int k = snprintf(out + n, size - n, "%s%s", w == o->words ? "one of " : ", ", *w);
            if (k < 0)
                break;
            n += (size_t)k;
        }
        break;
    case SF_OPT_STR:
        snprintf(out, size, "a non-empty value");
        break;
    case SF_OPT_FLAG:
        break;
    }
}

int sf_opt_value(const struct sf_opt *o, const char *text, struct sf_optval *v, struct sf_err *err)
{
    memset(v, 0, sizeof(*v));
    v->str = text;
    int ok = 1;
    switch (o->kind) {
    case SF_OPT_FLAG:
        return SF_OK;
    case SF_OPT_STR:
        ok = *text || (o->flags & SF_OPT_EMPTY_OK);
        break;
    case SF_OPT_NUM:
        ok = parse_num(text, &v->num) == 0 && !(v->num < o->lo) && !(v->num > o->hi) &&
             !((o->flags & SF_OPT_LO_OPEN) && v->num == o->lo) &&
             !((o->flags & SF_OPT_HI_OPEN) && v->num == o->hi);
        break;
    case SF_OPT_INT:
        ok = parse_int(text, &v->i) == 0 && v->i >= o->ilo && v->i <= o->ihi;
        break;
    case SF_OPT_WORD:
        ok = 0;
        for (int k = 0; o->words && o->words[k]; k++)
            if (!strcmp(o->words[k], text)) {
                v->word = k;
                ok = 1;
            }
        break;
    }
    if (ok)
        return SF_OK;
    char range[256], got[ECHO_MAX + 1];
    describe(o, range, sizeof(range));
    echo(text, got, sizeof(got));
    return sf_err_set(err, SF_EINVAL, "--%s: expected %s%s%s, got '%s'", o->name,
                      o->want ? o->want : "", o->want ? ", " : "", range, got);
}

const struct sf_opt *sf_opt_find(const struct sf_opt_cmd *cmd, const char *name)
{
    for (const struct sf_opt *o = cmd->opts; o->name || o->help; o++)
        if (o->name && !strcmp(o->name, name))
            return o;
    return NULL;
}

static const struct sf_opt *find_short(const struct sf_opt_cmd *cmd, char c)
{
    for (const struct sf_opt *o = cmd->opts; o->name || o->help; o++)
        if (o->name && o->short_name == c)
            return o;
    return NULL;
}

void sf_opt_init(struct sf_opt_parser *p, const struct sf_opt_cmd *cmd, int argc, char **argv)
{
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
    p->argc = argc;
    p->argv = argv;
    p->next = 1;
}

/* "unknown option '--pro' (did you mean --profile or --pricing?)" */
static int unknown(const struct sf_opt_parser *p, const char *arg, size_t name_len,
                   const char *cluster_of, struct sf_err *err)
{
    char shown[ECHO_MAX + 1], hint[256] = "";
    sf_str_escape(shown, sizeof(shown), arg, name_len);
    if (arg[0] == '-' && arg[1] == '-' && name_len > 2) {
        size_t n = 0;
        int count = 0;
        for (const struct sf_opt *o = p->cmd->opts; o->name || o->help; o++) {
            if (!o->name || (o->flags & SF_OPT_HIDDEN) || strncmp(o->name, arg + 2, name_len - 2))
                continue;
            int k = snprintf(hint + n, sizeof(hint) - n, "%s--%s", count ? ", " : "; did you mean ",
                             o->name);
            if (k < 0 || (size_t)k >= sizeof(hint) - n)
                break;
            n += (size_t)k;
            count++;
        }
        if (count)
            snprintf(hint + n, sizeof(hint) - n, "?");
    }
    if (cluster_of) {
        char whole[ECHO_MAX + 1];
        echo(cluster_of, whole, sizeof(whole));
        return sf_err_set(err, SF_EINVAL, "unknown option '%s' in '%s' (see serflow %s --help)",
                          shown, whole, p->cmd->name);
    }
    return sf_err_set(err, SF_EINVAL, "unknown option '%s'%s (see serflow %s --help)", shown, hint,
                      p->cmd->name);
}

static int missing(const struct sf_opt *o, struct sf_err *err)
{
    char range[256];
    describe(o, range, sizeof(range));
    return sf_err_set(err, SF_EINVAL, "--%s: missing value (expected %s%s%s)", o->name,
                      o->want ? o->want : "", o->want ? ", " : "", range);
}

/* Takes the value of a valued option o: inline (after '=' or in a short cluster) or the next
 * argument. A next argument that is itself one of this command's long options is refused: it
 * almost always means the value was forgotten ("--plot --json"). */
static int take_value(struct sf_opt_parser *p, const struct sf_opt *o, const char *inline_val,
                      struct sf_optval *v, struct sf_err *err)
{
    const char *text = inline_val;
    if (!text) {
        if (p->next >= p->argc) {
            missing(o, err);
            return SF_OPT_ERROR;
        }
        text = p->argv[p->next];
        if (text[0] == '-' && text[1] == '-' && text[2]) {
            const char *eq = strchr(text + 2, '=');
            char name[64];
            size_t n = eq ? (size_t)(eq - text - 2) : strlen(text + 2);
            if (n < sizeof(name)) {
                memcpy(name, text + 2, n);
                name[n] = '\0';
                if (sf_opt_find(p->cmd, name) || !strcmp(name, "help")) {
                    char shown[ECHO_MAX + 1];
                    echo(text, shown, sizeof(shown));
                    sf_err_set(err, SF_EINVAL,
                               "--%s: missing value (the next argument '%s' is an option; write "
                               "--%s=%s if it is the value)",
                               o->name, shown, o->name, shown);
                    return SF_OPT_ERROR;
                }
            }
        }
        p->next++;
    }
    if (sf_opt_value(o, text, v, err) != SF_OK)
        return SF_OPT_ERROR;
    return o->id;
}

static int next_short(struct sf_opt_parser *p, struct sf_optval *v, struct sf_err *err)
{
    const char *c = p->cluster;
    const char *whole = p->argv[p->next - 1];
    p->cluster = c[1] ? c + 1 : NULL;
    if (*c == 'h' && !find_short(p->cmd, 'h'))
        return SF_OPT_HELP;
    const struct sf_opt *o = find_short(p->cmd, *c);
    if (!o) {
        char one[3] = {'-', *c, '\0'};
        unknown(p, one, 2, strlen(whole) > 2 ? whole : NULL, err);
        return SF_OPT_ERROR;
    }
    if (o->kind == SF_OPT_FLAG) {
        memset(v, 0, sizeof(*v));
        return o->id;
    }
    const char *inline_val = p->cluster; /* -xVALUE */
    p->cluster = NULL;
    return take_value(p, o, inline_val, v, err);
}

int sf_opt_next(struct sf_opt_parser *p, struct sf_optval *v, struct sf_err *err)
{
    memset(v, 0, sizeof(*v));
    if (p->cluster)
        return next_short(p, v, err);
    if (p->next >= p->argc)
        return SF_OPT_END;
    const char *arg = p->argv[p->next++];
    if (!p->only_operands && !strcmp(arg, "--")) {
        p->only_operands = 1;
        return sf_opt_next(p, v, err);
    }
    if (p->only_operands || arg[0] != '-' || arg[1] == '\0') { /* "-" is an operand */
        if (!p->cmd->operands) {
            char shown[ECHO_MAX + 1];
            echo(arg, shown, sizeof(shown));
            sf_err_set(err, SF_EINVAL, "unexpected argument '%s' (see serflow %s --help)", shown,
                       p->cmd->name);
            return SF_OPT_ERROR;
        }
        v->str = arg;
        return SF_OPT_OPERAND;
    }
    if (arg[1] != '-') {
        p->cluster = arg + 1;
        return next_short(p, v, err);
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    const struct sf_opt *o = NULL;
    for (const struct sf_opt *r = p->cmd->opts; r->name || r->help; r++)
        if (r->name && strlen(r->name) == n && !strncmp(r->name, name, n))
            o = r;
    if (!o) {
        if (n == 4 && !strncmp(name, "help", 4)) {
            if (eq) {
                sf_err_set(err, SF_EINVAL, "--help takes no value");
                return SF_OPT_ERROR;
            }
            return SF_OPT_HELP;
        }
        unknown(p, arg, n + 2, NULL, err);
        return SF_OPT_ERROR;
    }
    if (o->kind == SF_OPT_FLAG) {
        if (eq) {
            sf_err_set(err, SF_EINVAL, "--%s takes no value", o->name);
            return SF_OPT_ERROR;
        }
        return o->id;
    }
    return take_value(p, o, eq ? eq + 1 : NULL, v, err);
}

int sf_opt_next_item(const char **cursor, char sep, char *buf, size_t buf_size)
{
    const char *s = *cursor;
    if (!s)
        return 0;
    const char *e = strchr(s, sep);
    size_t n = e ? (size_t)(e - s) : strlen(s);
    *cursor = e ? e + 1 : NULL;
    if (n >= buf_size)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 1;
}

/* ---- help ---- */

#define HELP_COL 23 /* column where help text starts */

static void help_row(const struct sf_opt *o, FILE *out)
{
    char left[128];
    int n;
    if (o->short_name)
        n = snprintf(left, sizeof(left), "  -%c, --%s%s%s", o->short_name, o->name,
                     o->metavar ? " " : "", o->metavar ? o->metavar : "");
    else
        n = snprintf(left, sizeof(left), "  --%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
    fputs(left, out);
    const char *h = o->help ? o->help : "";
    if (n >= HELP_COL - 1) {
        fputc('\n', out);
        n = 0;
    }
    for (int first = 1; first || *h; first = 0) {
        const char *nl = strchr(h, '\n');
        size_t len = nl ? (size_t)(nl - h) : strlen(h);
        fprintf(out, "%*s%.*s\n", (first ? HELP_COL - n : HELP_COL), "", (int)len, h);
        h += len + (nl ? 1 : 0);
        if (!nl)
            break;
    }
    if (o->more_help)
        o->more_help(out, HELP_COL);
}

void sf_opt_help(const struct sf_opt_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: serflow %s%s%s\n\n", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
    if (cmd->about)
        fprintf(out, "%s\n\n", cmd->about);
    for (const struct sf_opt *o = cmd->opts; o->name || o->help; o++) {
        if (!o->name) {
            fprintf(out, "%s\n", o->help);
            continue;
        }
        if (!(o->flags & SF_OPT_HIDDEN))
            help_row(o, out);
    }
    static const struct sf_opt help = {.name = "help", .short_name = 'h', .help = "this text"};
    help_row(&help, out);
    if (cmd->epilog)
        fprintf(out, "\n%s", cmd->epilog);
}
