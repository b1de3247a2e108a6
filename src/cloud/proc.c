/*
 * proc.c - child processes for the local provider and the local function runtime: posix_spawn
 * with an argument vector (no shell), a new process group, a readiness pipe at fd 3, non-blocking
 * reaping, and group-wide SIGTERM then SIGKILL on stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serflow/auth.h"
#include "serflow/cloud.h"

extern char **environ;

/* Environment entries a child may get: ours plus a few extra; more is a caller bug. */
#define MAX_ENV 4096

/* A pipe whose ends are above the descriptors a child gets (3, 4) and close-on-exec, so the
 * file actions' dup2 calls cannot overwrite one another; -1 on failure. */
static int high_pipe(int fds[2])
{
    int raw[2];
    if (pipe(raw) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fds[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 10);
        close(raw[i]);
    }
    if (fds[0] < 0 || fds[1] < 0) {
        if (fds[0] >= 0)
            close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        return -1;
    }
    return 0;
}

static int spawn(struct sf_proc *p, char *const argv[], char *const extra_env[],
                 const char *auth_line, int capture, struct sf_err *err)
{
    memset(p, 0, sizeof(*p));
    p->ready_fd = -1;
    p->log_fd = -1;
    int fds[2], afd[2] = {-1, -1}, lfd[2] = {-1, -1};
    if (high_pipe(fds) != 0)
        return sf_err_set(err, SF_EIO, "%s: pipe: %s", argv[0], strerror(errno));
    if (capture && high_pipe(lfd) != 0) {
        close(fds[0]);
        close(fds[1]);
        return sf_err_set(err, SF_EIO, "%s: stderr pipe: %s", argv[0], strerror(errno));
    }
    if (capture)
        fcntl(lfd[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    if (auth_line) {
        /* the line (< 200 bytes) fits the pipe's buffer: written now, read by the child */
        size_t al = strlen(auth_line);
        if (high_pipe(afd) != 0 || write(afd[1], auth_line, al) != (ssize_t)al) {
            close(fds[0]);
            close(fds[1]);
            if (capture) {
                close(lfd[0]);
                close(lfd[1]);
            }
            if (afd[0] >= 0) {
                close(afd[0]);
                close(afd[1]);
            }
            return sf_err_set(err, SF_EIO, "%s: identity pipe: %s", argv[0], strerror(errno));
        }
        close(afd[1]);
    }
    size_t n_env = 0, n_extra = 0;
    while (environ && environ[n_env] && n_env < MAX_ENV)
        n_env++;
    while (extra_env && extra_env[n_extra] && n_extra < 16)
        n_extra++;
    char **envp = calloc(n_env + n_extra + 2, sizeof(char *));
    if (!envp) {
        close(fds[0]);
        close(fds[1]);
        if (afd[0] >= 0)
            close(afd[0]);
        if (capture) {
            close(lfd[0]);
            close(lfd[1]);
        }
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", argv[0]);
    }
    size_t e = 0;
    static char auth_fd_env[] = "SERFLOW_AUTH_FD=4";
    _Static_assert(SF_AUTH_FD == 4, "SERFLOW_AUTH_FD names SF_AUTH_FD");
    if (auth_line)
        envp[e++] = auth_fd_env;
    for (size_t i = 0; i < n_extra; i++)
        envp[e++] = extra_env[i];
    for (size_t i = 0; i < n_env; i++) /* extras first: getenv finds them first */
        if (strncmp(environ[i], "SERFLOW_AUTH", 12) != 0) /* never a parent's identity */
            envp[e++] = environ[i];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], SF_PROC_READY_FD);
    if (auth_line)
        posix_spawn_file_actions_adddup2(&fa, afd[0], SF_AUTH_FD);
    if (capture)
        posix_spawn_file_actions_adddup2(&fa, lfd[1], 2);
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGCHLD);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGHUP); /* a parent that ignores it (serve reloads on it) */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &deflt);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(envp);
    close(fds[1]);
    if (afd[0] >= 0)
        close(afd[0]);
    if (capture)
        close(lfd[1]);
    if (rc != 0) {
        close(fds[0]);
        if (capture)
            close(lfd[0]);
        return sf_err_set(err, SF_EIO, "%s: posix_spawn: %s", argv[0], strerror(rc));
    }
    p->pid = pid;
    p->ready_fd = fds[0];
    p->log_fd = capture ? lfd[0] : -1;
    return SF_OK;
}

int sf_proc_spawn(struct sf_proc *p, char *const argv[], char *const extra_env[],
                  const char *auth_line, struct sf_err *err)
{
    return spawn(p, argv, extra_env, auth_line, 0, err);
}

int sf_proc_spawn_captured(struct sf_proc *p, char *const argv[], char *const extra_env[],
                           const char *auth_line, struct sf_err *err)
{
    return spawn(p, argv, extra_env, auth_line, 1, err);
}

int sf_proc_poll_ready(struct sf_proc *p)
{
    if (p->ready)
        return 1;
    if (p->ready_fd < 0)
        return 0;
    for (;;) {
        char c;
        ssize_t r = read(p->ready_fd, &c, 1);
        if (r != 1) {
            if (r == 0) { /* the child closed it without a line: it will not become ready */
                close(p->ready_fd);
                p->ready_fd = -1;
            }
            return 0;
        }
        if (c != '\n') {
            if (p->line_len + 1 < sizeof(p->line))
                p->line[p->line_len++] = c;
            continue;
        }
        p->line[p->line_len] = '\0';
        p->line_len = 0;
        if (!strncmp(p->line, "ready ", 6) && p->line[6]) {
            snprintf(p->endpoint, sizeof(p->endpoint), "%s", p->line + 6);
            p->ready = 1;
            close(p->ready_fd);
            p->ready_fd = -1;
            return 1;
        }
    }
}

int sf_proc_reap(struct sf_proc *p)
{
    if (p->exited || p->pid <= 0)
        return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->exited = 1;
        p->status = r == p->pid ? st : 0;
        return 1;
    }
    return 0;
}

void sf_proc_signal(struct sf_proc *p, int sig)
{
    if (p->pid > 0 && !p->exited)
        kill(-p->pid, sig);
}

void sf_proc_stop(struct sf_proc *p, double grace_s)
{
    if (p->pid > 0 && !sf_proc_reap(p)) {
        sf_proc_signal(p, SIGTERM);
        double t0 = sf_monotonic_s();
        while (!sf_proc_reap(p) && sf_monotonic_s() - t0 < grace_s) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!p->exited) {
            kill(-p->pid, SIGKILL);
            int st;
            if (waitpid(p->pid, &st, 0) == p->pid)
                p->status = st;
            p->exited = 1;
        }
    }
    if (p->ready_fd >= 0) {
        close(p->ready_fd);
        p->ready_fd = -1;
    }
    if (p->log_fd > 2) { /* a zeroed struct's 0 is not ours */
        close(p->log_fd);
        p->log_fd = -1;
    }
}

int sf_proc_announce_ready(int fd, const char *host, int port)
{
    if (fd < 0)
        return SF_OK;
    char line[160];
    int n = snprintf(line, sizeof(line), "ready %s:%d\n", host, port);
    if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n)
        return SF_EIO;
    close(fd);
    return SF_OK;
}

int sf_proc_self_exe(char *buf, size_t size, struct sf_err *err)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        return sf_err_set(err, SF_EIO, "/proc/self/exe: cannot resolve this executable");
    buf[n] = '\0';
    return SF_OK;
}
