/* plot.c - plot sets drawn by gnuplot in a private directory, then published (plot.h). */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* gnuplot draws the largest set (a whole-trace replay, 8 policies) in a few seconds; a run
 * this long is stuck and is killed. */
#define GNUPLOT_TIMEOUT_S 300

static int work_path(const struct sf_plot *p, const char *name, char *out, size_t size)
{
    return snprintf(out, size, "%s/%s", p->work, name) < (int)size ? 0 : -1;
}

static int add_name(struct sf_plot *p, const char *name, int png)
{
    if (p->n >= SF_PLOT_MAX_FILES || strlen(name) >= SF_PLOT_NAME_MAX) {
        sf_cli_error(p->cmd, "plot: too many files or a name too long (%s)", name);
        p->failed = 1;
        return -1;
    }
    snprintf(p->names[p->n], SF_PLOT_NAME_MAX, "%s", name);
    p->is_png[p->n++] = png;
    return 0;
}

struct sf_plot *sf_plot_begin(const char *cmd, const char *dir, const char *script_name,
                              const char *preamble, int *code)
{
    struct sf_err err = {{0}};
    struct sf_plot *p = calloc(1, sizeof(*p));
    if (!p) {
        *code = sf_cli_fail(cmd, SF_ENOMEM, &err);
        return NULL;
    }
    p->cmd = cmd;
    p->preamble = preamble;
    int rc = SF_OK;
    if (snprintf(p->dir, sizeof(p->dir), "%s", dir) >= (int)sizeof(p->dir) ||
        snprintf(p->work, sizeof(p->work), "%s/.serflow-plot-XXXXXX", dir) >= (int)sizeof(p->work))
        rc = sf_err_set(&err, SF_EINVAL, "--plot: directory path too long");
    if (rc == SF_OK)
        rc = sf_cli_mkdirs(dir, &err);
    if (rc == SF_OK && !mkdtemp(p->work)) /* mode 0700: nobody else can plant files in it */
        rc = sf_err_set(&err, SF_EIO, "%s: cannot create a directory in it: %s", dir,
                        strerror(errno));
    if (rc != SF_OK) {
        free(p);
        *code = sf_cli_fail(cmd, rc, &err);
        return NULL;
    }
    char path[SF_PATH_BYTES + SF_PLOT_NAME_MAX];
    if (work_path(p, script_name, path, sizeof(path)) != 0)
        rc = sf_err_set(&err, SF_EINVAL, "--plot: directory path too long");
    if (rc == SF_OK)
        rc = sf_outfile_open(&p->script, path, &err);
    if (rc != SF_OK) {
        sf_plot_abort(p);
        *code = sf_cli_fail(cmd, rc, &err);
        return NULL;
    }
    p->gp = p->script.f;
    add_name(p, script_name, 0);
    fputs(preamble, p->gp);
    *code = SF_EXIT_OK;
    return p;
}

FILE *sf_plot_data(struct sf_plot *p, const char *name, struct sf_outfile *o)
{
    char path[SF_PATH_BYTES + SF_PLOT_NAME_MAX];
    struct sf_err err = {{0}};
    int rc = SF_EINVAL;
    if (add_name(p, name, 0) != 0 || work_path(p, name, path, sizeof(path)) != 0 ||
        (rc = sf_outfile_open(o, path, &err)) != SF_OK) {
        if (err.msg[0])
            sf_cli_fail(p->cmd, rc, &err);
        p->failed = 1;
        return NULL;
    }
    return o->f;
}

int sf_plot_data_done(struct sf_plot *p, struct sf_outfile *o)
{
    struct sf_err err = {{0}};
    int rc = sf_outfile_commit(o, &err);
    if (rc != SF_OK) {
        sf_cli_fail(p->cmd, rc, &err);
        p->failed = 1;
    }
    return rc;
}

void sf_plot_new(struct sf_plot *p, const char *png_name)
{
    add_name(p, png_name, 1);
    fprintf(p->gp, "reset\n%sset output ", p->preamble);
    sf_plot_str(p, png_name);
    fputc('\n', p->gp);
}

void sf_plot_str(struct sf_plot *p, const char *s)
{
    /* In a single-quoted gnuplot string backslashes are ordinary, backquotes and @ are not
     * substituted, and a quote is written twice; a newline would end the command, so control
     * characters are refused (names are checked when files are loaded, so this is a backstop). */
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            char shown[80];
            sf_cli_error(p->cmd, "plot: refusing a control character in '%s'",
                         sf_str_escape(shown, sizeof(shown), s, strlen(s)));
            p->failed = 1;
            fputs("''", p->gp);
            return;
        }
    fputc('\'', p->gp);
    for (const char *c = s; *c; c++) {
        if (*c == '\'')
            fputc('\'', p->gp);
        fputc(*c, p->gp);
    }
    fputc('\'', p->gp);
}

void sf_plot_textf(struct sf_plot *p, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    sf_plot_str(p, text);
}

/* Runs `gnuplot script` in the work directory with an argument vector (no shell). Keeps the
 * first line gnuplot prints, for the message. Returns 0 when it exited 0. */
static int run_gnuplot(struct sf_plot *p, const char *script)
{
    int fds[2];
    if (pipe(fds) != 0) {
        sf_cli_error(p->cmd, "cannot run gnuplot: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        sf_cli_error(p->cmd, "cannot run gnuplot: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        char *argv[] = {"gnuplot", (char *)script, NULL};
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0 ||
            chdir(p->work) != 0)
            _exit(126);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    char out[256], buf[4096];
    size_t out_len = 0;
    int timed_out = 0;
    time_t deadline = time(NULL) + GNUPLOT_TIMEOUT_S;
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int left = (int)(deadline - time(NULL));
        if (left <= 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        int pr = poll(&pfd, 1, left * 1000);
        if (pr <= 0)
            continue; /* EINTR, or the deadline: checked above */
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n < sizeof(out) - 1 - out_len ? (size_t)n : sizeof(out) - 1 - out_len;
        memcpy(out + out_len, buf, take); /* the start is kept for the message, the rest drained */
        out_len += take;
    }
    out[out_len] = '\0';
    char *first = out + strspn(out, "\n");
    first[strcspn(first, "\n")] = '\0';
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        sf_cli_error(p->cmd, "gnuplot did not finish in %d s; killed", GNUPLOT_TIMEOUT_S);
        return -1;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        sf_cli_error(p->cmd, "gnuplot not found (install gnuplot-nox, or run "
                             "scripts/install-deps.sh)");
    else if (WIFEXITED(st))
        sf_cli_error(p->cmd, "gnuplot failed (exit %d): %s", WEXITSTATUS(st),
                     first[0] ? first : "(no output)");
    else
        sf_cli_error(p->cmd, "gnuplot killed by signal %d: %s", WTERMSIG(st),
                     first[0] ? first : "(no output)");
    return -1;
}

/* A PNG gnuplot should have drawn: a regular file that starts with the PNG signature and ends
 * with the IEND chunk (gnuplot exits 0 even when a full disk cut the file short). */
static int check_png(struct sf_plot *p, const char *name)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    char path[SF_PATH_BYTES + SF_PLOT_NAME_MAX];
    unsigned char head[8], tail[12];
    struct stat st;
    int fd = work_path(p, name, path, sizeof(path)) == 0
                 ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    int ok =
        fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size >= (off_t)(sizeof(head) + sizeof(tail)) &&
        pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
        pread(fd, tail, sizeof(tail), st.st_size - (off_t)sizeof(tail)) == (ssize_t)sizeof(tail) &&
        !memcmp(head, sig, sizeof(sig)) && !memcmp(tail, iend, sizeof(iend));
    if (fd >= 0)
        close(fd);
    if (!ok)
        sf_cli_error(p->cmd, "plot %s was not written completely (disk full?)", name);
    return ok ? 0 : -1;
}

static void remove_work(struct sf_plot *p)
{
    char path[SF_PATH_BYTES + SF_PLOT_NAME_MAX];
    if (!p->work[0])
        return;
    for (size_t i = 0; i < p->n; i++)
        if (work_path(p, p->names[i], path, sizeof(path)) == 0)
            unlink(path);
    rmdir(p->work);
    p->work[0] = '\0';
}

void sf_plot_abort(struct sf_plot *p)
{
    if (!p)
        return;
    if (p->gp)
        sf_outfile_abort(&p->script);
    remove_work(p);
    free(p);
}

int sf_plot_finish(struct sf_plot *p)
{
    struct sf_err err = {{0}};
    int rc = sf_outfile_commit(&p->script, &err);
    p->gp = NULL;
    if (rc != SF_OK) {
        sf_cli_fail(p->cmd, rc, &err);
        p->failed = 1;
    }
    if (p->failed || run_gnuplot(p, p->names[0]) != 0) {
        sf_plot_abort(p);
        return SF_EXIT_FAIL;
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->is_png[i] && check_png(p, p->names[i]) != 0) {
            sf_plot_abort(p);
            return SF_EXIT_FAIL;
        }
    char from[SF_PATH_BYTES + SF_PLOT_NAME_MAX], to[SF_PATH_BYTES + SF_PLOT_NAME_MAX];
    for (size_t i = 0; i < p->n; i++) {
        /* rename replaces whatever DIR/name is (a symlink included) without following it */
        if (work_path(p, p->names[i], from, sizeof(from)) != 0 ||
            snprintf(to, sizeof(to), "%s/%s", p->dir, p->names[i]) >= (int)sizeof(to) ||
            rename(from, to) != 0) {
            sf_cli_error(p->cmd, "cannot move %s into %s: %s", p->names[i], p->dir,
                         strerror(errno));
            sf_plot_abort(p);
            return SF_EXIT_FAIL;
        }
    }
    rmdir(p->work);
    free(p);
    return 0;
}
