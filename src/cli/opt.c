/* opt.c - table-driven option parsing and generated help (opt.h). */
#include "opt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_in.h"

/* Longest option value echoed back in a message; the rest is elided. */
#define ECHO_MAX 80

/* next_arg's id for `--config FILE` (value in v->str); never returned by sf_opt_next. */
#define OPT_CONFIG (-100)

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
                if (sf_opt_find(p->cmd, name) || !strcmp(name, "help") ||
                    !strcmp(name, "version") || !strcmp(name, "config")) {
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
    p->row = o;
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
        p->row = o;
        return o->id;
    }
    const char *inline_val = p->cluster; /* -xVALUE */
    p->cluster = NULL;
    return take_value(p, o, inline_val, v, err);
}

/* `--config FILE` or `--config=FILE` (inline: the value after '=', or NULL). */
static int config_arg(struct sf_opt_parser *p, const char *inline_val, struct sf_optval *v,
                      struct sf_err *err)
{
    static const struct sf_opt row = {.name = "config", .kind = SF_OPT_STR, .want = "a JSON file"};
    int id = take_value(p, &row, inline_val, v, err);
    p->row = NULL;
    return id == SF_OPT_ERROR ? id : OPT_CONFIG;
}

/* The next argument of argv: an option of the table, --help, --version, --config (OPT_CONFIG),
 * an operand, the end or an error. */
static int next_arg(struct sf_opt_parser *p, struct sf_optval *v, struct sf_err *err)
{
    memset(v, 0, sizeof(*v));
    p->row = NULL;
    if (p->cluster)
        return next_short(p, v, err);
    if (p->next >= p->argc)
        return SF_OPT_END;
    const char *arg = p->argv[p->next++];
    if (!p->only_operands && !strcmp(arg, "--")) {
        p->only_operands = 1;
        return next_arg(p, v, err);
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
        /* the options every command has, which its table does not list */
        if ((n == 4 && !strncmp(name, "help", 4)) || (n == 7 && !strncmp(name, "version", 7))) {
            if (eq) {
                sf_err_set(err, SF_EINVAL, "--%.*s takes no value", (int)n, name);
                return SF_OPT_ERROR;
            }
            return n == 4 ? SF_OPT_HELP : SF_OPT_VERSION;
        }
        if (n == 6 && !strncmp(name, "config", 6))
            return config_arg(p, eq ? eq + 1 : NULL, v, err);
        unknown(p, arg, n + 2, NULL, err);
        return SF_OPT_ERROR;
    }
    if (o->kind == SF_OPT_FLAG) {
        if (eq) {
            sf_err_set(err, SF_EINVAL, "--%s takes no value", o->name);
            return SF_OPT_ERROR;
        }
        p->row = o;
        return o->id;
    }
    return take_value(p, o, eq ? eq + 1 : NULL, v, err);
}

int sf_opt_scan(const struct sf_opt_cmd *cmd, int argc, char **argv)
{
    struct sf_opt_parser p;
    struct sf_optval v;
    struct sf_err err = {{0}};
    int id;
    sf_opt_init(&p, cmd, argc, argv);
    while ((id = next_arg(&p, &v, &err)) > 0 || id == SF_OPT_OPERAND || id == OPT_CONFIG)
        ;
    return id;
}

/* ---- config files ---- */

/* Every config file sf_opt_next has read: the values it returned point into them. */
struct kept_config {
    struct kept_config *next;
    struct sf_opt_config config;
};
static struct kept_config *kept;

void sf_opt_config_release(void)
{
    while (kept) {
        struct kept_config *k = kept;
        kept = k->next;
        sf_opt_config_fini(&k->config);
        free(k);
    }
}

void sf_opt_config_fini(struct sf_opt_config *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->set[i].text);
    c->n = 0;
}

/* Informational members a config file may hold anywhere (as the other JSON inputs do). */
static int informational(const char *key)
{
    static const char *const names[] = {"source", "sources", "notes", "description", "provenance"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(key, names[i]))
            return 1;
    return !strncmp(key, "x_", 2);
}

/* A JSON number as the shortest text that reads back as the same double. */
static void num_text(double x, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* The value of member key (row o) of the section as command-line text into *text (heap; NULL
 * for a flag given as true, and *skip set for a flag given as false). */
static int setting_text(struct sf__jctx *c, const struct sf_opt *o, const char *key, json_t *v,
                        char **text, int *skip)
{
    char buf[64];
    const char *t = NULL;
    *text = NULL;
    *skip = 0;
    switch (o->kind) {
    case SF_OPT_FLAG:
        if (!json_is_boolean(v))
            return sf__j_fail(c, key, SF_EINVAL, "expected true or false (a flag)");
        *skip = json_is_false(v);
        return SF_OK;
    case SF_OPT_NUM:
    case SF_OPT_INT:
        if (json_is_integer(v)) {
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
            t = buf;
        } else if (json_is_real(v)) {
            if (o->kind == SF_OPT_INT)
                return sf__j_fail(c, key, SF_EINVAL, "expected an integer, got %g",
                                  json_real_value(v));
            num_text(json_real_value(v), buf, sizeof(buf));
            t = buf;
        }
        break;
    case SF_OPT_STR:
    case SF_OPT_WORD:
        break;
    }
    if (!t) {
        if (!json_is_string(v))
            return sf__j_fail(c, key, SF_EINVAL, "expected %s",
                              o->kind == SF_OPT_STR || o->kind == SF_OPT_WORD
                                  ? "a string"
                                  : "a number (or a string, as on the command line)");
        size_t n = json_string_length(v);
        if (n >= SF_OPT_CONFIG_VALUE_BYTES)
            return sf__j_fail(c, key, SF_ETOOBIG, "longer than %d bytes",
                              SF_OPT_CONFIG_VALUE_BYTES - 1);
        /* a command line holds no NUL and no control character reaches a value from a file */
        const unsigned char *b = (const unsigned char *)json_string_value(v);
        for (size_t i = 0; i < n; i++)
            if (b[i] < 0x20 || b[i] == 0x7f)
                return sf__j_fail(c, key, SF_EINVAL, "control character \\x%02X at offset %zu",
                                  b[i], i);
        t = json_string_value(v);
    }
    struct sf_optval val;
    struct sf_err sub = {{0}};
    if (sf_opt_value(o, t, &val, &sub) != SF_OK) {
        /* "--NAME: expected ..." without the option, which the field names */
        const char *what = strstr(sub.msg, ": ");
        return sf__j_fail(c, key, SF_EINVAL, "%s", what ? what + 2 : sub.msg);
    }
    *text = strdup(t);
    return *text ? SF_OK : sf__j_fail(c, key, SF_ENOMEM, "out of memory");
}

/* "unknown option of serflow plan (did you mean slo-s?)": rows whose name starts as key does. */
static int unknown_key(struct sf__jctx *c, const struct sf_opt_cmd *cmd, const char *key)
{
    char hint[256] = "";
    size_t n = 0, klen = strlen(key) < 3 ? strlen(key) : 3;
    int count = 0;
    for (const struct sf_opt *o = cmd->opts; o->name || o->help; o++) {
        if (!o->name || (o->flags & SF_OPT_HIDDEN) || strncmp(o->name, key, klen))
            continue;
        int k =
            snprintf(hint + n, sizeof(hint) - n, "%s%s", count ? ", " : "; did you mean ", o->name);
        if (k < 0 || (size_t)k >= sizeof(hint) - n)
            break;
        n += (size_t)k;
        count++;
    }
    if (count)
        snprintf(hint + n, sizeof(hint) - n, "?");
    if (!strcmp(key, "config") || !strcmp(key, "help") || !strcmp(key, "version"))
        return sf__j_fail(c, key, SF_EINVAL, "--%s is for the command line only", key);
    return sf__j_fail(c, key, SF_EINVAL, "unknown option of serflow %s%s (see serflow %s --help)",
                      cmd->name, hint, cmd->name);
}

int sf_opt_config_parse(const struct sf_opt_cmd *cmd, const char *name, const char *text,
                        size_t len, struct sf_opt_config *out, struct sf_err *err)
{
    struct sf__jctx c = {.file = name, .text = text, .len = len, .err = err};
    json_t *root = NULL, *section = NULL;
    out->n = 0;
    int rc = sf__j_load(&c, &root);
    if (rc == SF_OK)
        rc = sf__j_format(&c, root, SF_OPT_CONFIG_FORMAT);
    const char *key;
    json_t *v;
    char sections[192] = "";
    size_t ns = 0;
    if (rc == SF_OK)
        json_object_foreach(root, key, v)
        {
            if (!strcmp(key, "format") || informational(key))
                continue;
            if (!json_is_object(v)) {
                rc = sf__j_fail(&c, key, SF_EINVAL, "expected an object: the options of serflow %s",
                                key);
                break;
            }
            if (!strcmp(key, cmd->name))
                section = v;
            int k = snprintf(sections + ns, sizeof(sections) - ns, "%s%s", ns ? ", " : "", key);
            if (k > 0 && (size_t)k < sizeof(sections) - ns)
                ns += (size_t)k;
        }
    if (rc == SF_OK && !section)
        rc = sf__j_fail(&c, cmd->name, SF_EINVAL,
                        "no section for serflow %s (the file has %s); write \"%s\": {...}",
                        cmd->name, ns ? sections : "none", cmd->name);
    if (rc == SF_OK) {
        sf__j_push_key(&c, cmd->name);
        json_object_foreach(section, key, v)
        {
            if (informational(key))
                continue;
            const struct sf_opt *o = sf_opt_find(cmd, key);
            if (!o) {
                rc = unknown_key(&c, cmd, key);
                break;
            }
        }
        /* table order: what the command meets does not depend on the file's member order */
        for (const struct sf_opt *o = cmd->opts; rc == SF_OK && (o->name || o->help); o++) {
            if (!o->name || !(v = json_object_get(section, o->name)))
                continue;
            if (out->n >= SF_OPT_MAX_ROWS) {
                rc = sf__j_fail(&c, NULL, SF_ETOOBIG, "more than %d options", SF_OPT_MAX_ROWS);
                break;
            }
            char *t;
            int skip;
            rc = setting_text(&c, o, o->name, v, &t, &skip);
            if (rc != SF_OK || skip)
                continue;
            out->set[out->n++] = (struct sf_opt_setting){
                .opt = o, .text = t, .line = sf__json_line_of(text, len, c.path, 1, o->name)};
        }
    }
    json_decref(root);
    if (rc != SF_OK)
        sf_opt_config_fini(out);
    return rc;
}

/* Reads --config's file into a kept config (the values returned point into it). */
static int load_config(struct sf_opt_parser *p, const char *path, struct sf_err *err)
{
    char *text;
    size_t len;
    int rc = sf_read_file(path, SF_OPT_CONFIG_BYTES, &text, &len, err);
    if (rc != SF_OK) {
        sf_err_prefix(err, "--config: ");
        return rc;
    }
    struct kept_config *k = malloc(sizeof(*k));
    if (!k) {
        free(text);
        return sf_err_set(err, SF_ENOMEM, "--config: out of memory");
    }
    char shown[ECHO_MAX + 1];
    echo(path, shown, sizeof(shown));
    rc = sf_opt_config_parse(p->cmd, shown, text, len, &k->config, err);
    free(text);
    if (rc != SF_OK) {
        free(k);
        return rc;
    }
    k->next = kept;
    kept = k;
    p->config = &k->config;
    return SF_OK;
}

/* The first call: walks argv for --config and the options given there (which override the
 * file's), then reads the file. When the walk meets --help, --version or an error first, no
 * file is read: the walk over argv that follows meets it at the same place. */
static int start(struct sf_opt_parser *p, struct sf_err *err)
{
    struct sf_opt_parser scan;
    struct sf_optval v;
    struct sf_err ignored = {{0}};
    const char *path = NULL;
    int id;
    p->started = 1;
    sf_opt_init(&scan, p->cmd, p->argc, p->argv);
    while ((id = next_arg(&scan, &v, &ignored)) != SF_OPT_END) {
        if (id == SF_OPT_ERROR || id == SF_OPT_HELP || id == SF_OPT_VERSION)
            return SF_OK;
        if (id == OPT_CONFIG) {
            if (path)
                return sf_err_set(err, SF_EINVAL, "--config: given twice (one file per run)");
            path = v.str;
        } else if (id > 0 && scan.row && scan.row - p->cmd->opts < SF_OPT_MAX_ROWS) {
            p->given[scan.row - p->cmd->opts] = 1;
        }
    }
    return path ? load_config(p, path, err) : SF_OK;
}

int sf_opt_next(struct sf_opt_parser *p, struct sf_optval *v, struct sf_err *err)
{
    memset(v, 0, sizeof(*v));
    if (!p->started && start(p, err) != SF_OK)
        return SF_OPT_ERROR;
    while (p->config && p->config_next < p->config->n) {
        const struct sf_opt_setting *s = &p->config->set[p->config_next++];
        ptrdiff_t row = s->opt - p->cmd->opts;
        if (row < SF_OPT_MAX_ROWS && p->given[row])
            continue; /* the command line overrides the file */
        if (s->opt->kind == SF_OPT_FLAG)
            return s->opt->id;
        if (sf_opt_value(s->opt, s->text, v, err) != SF_OK) /* checked when read: a backstop */
            return SF_OPT_ERROR;
        return s->opt->id;
    }
    int id;
    while ((id = next_arg(p, v, err)) == OPT_CONFIG)
        ;
    return id;
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
    /* the options the parser gives every command */
    static const struct sf_opt common[] = {
        {.name = "config",
         .kind = SF_OPT_STR,
         .metavar = "FILE",
         .help = "options from a JSON file (docs/formats.md); the command line\noverrides it"},
        {.name = "version", .help = "print the version and exit"},
        {.name = "help", .short_name = 'h', .help = "this text"}};
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        help_row(&common[i], out);
    if (cmd->epilog)
        fprintf(out, "\n%s", cmd->epilog);
}
