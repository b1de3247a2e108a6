/* outfile.c - output files that never clobber what they should not (core.h: sf_outfile_*).
 *
 * A regular (or new) target is written to a mkstemp temporary in the target's own directory
 * and renamed over it after fflush + fsync, so readers see the old file or the whole new one and
 * a planted symlink or a predictable temporary name cannot redirect the write. A FIFO or a
 * character device (a pipe from process substitution, /dev/null, a terminal) is written straight
 * through; "-" and "/dev/stdout" mean standard output; anything else is refused. */
#include "serflow/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directory part of path into dir ("." when there is none). */
static int dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(dir, size, ".") < (int)size ? 0 : -1;
    size_t n = slash == path ? 1 : (size_t)(slash - path); /* "/x" -> "/" */
    if (n >= size)
        return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

static mode_t new_file_mode(void)
{
    mode_t mask = umask(0); /* read the umask: set and restore (the CLI is single-threaded) */
    umask(mask);
    return 0666 & ~mask;
}

/* Opens a FIFO or character device for writing without waiting for a reader forever. */
static int open_through(struct sf_outfile *o, const char *path, int fifo, struct sf_err *err)
{
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | (fifo ? O_NONBLOCK : 0));
    if (fd < 0)
        return sf_err_set(err, errno == ENXIO ? SF_EINVAL : SF_EIO, "%s: cannot write: %s%s", path,
                          strerror(errno), errno == ENXIO ? " (a FIFO with no reader)" : "");
    if (fifo) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            int e = errno;
            close(fd);
            return sf_err_set(err, SF_EIO, "%s: cannot write: %s", path, strerror(e));
        }
    }
    o->f = fdopen(fd, "w");
    if (!o->f) {
        close(fd);
        return sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
    }
    o->mode = SF_OUT_THROUGH;
    return SF_OK;
}

int sf_outfile_open(struct sf_outfile *o, const char *path, struct sf_err *err)
{
    memset(o, 0, sizeof(*o));
    if (!path || !*path)
        return sf_err_set(err, SF_EINVAL, "output path is empty");
    if (snprintf(o->path, sizeof(o->path), "%s", path) >= (int)sizeof(o->path))
        return sf_err_set(err, SF_EINVAL, "%.64s...: output path longer than %zu bytes", path,
                          sizeof(o->path) - 1);
    if (!strcmp(path, "-") || !strcmp(path, "/dev/stdout")) {
        o->f = stdout;
        o->mode = SF_OUT_STDOUT;
        return SF_OK;
    }
    struct stat st;
    mode_t mode;
    if (lstat(path, &st) == 0) {
        struct stat target = st;
        if (S_ISLNK(st.st_mode) && stat(path, &target) != 0)
            target = st; /* dangling: the link is replaced */
        if (S_ISDIR(target.st_mode))
            return sf_err_set(err, SF_EINVAL, "%s: is a directory", path);
        if (S_ISFIFO(target.st_mode) || S_ISCHR(target.st_mode))
            return open_through(o, path, S_ISFIFO(target.st_mode), err);
        if (!S_ISREG(target.st_mode) && !S_ISLNK(target.st_mode))
            return sf_err_set(err, SF_EINVAL,
                              "%s: not a regular file, FIFO or character device; refused", path);
        /* a regular file keeps its permissions; a symlink (to one) is replaced, not followed */
        mode = S_ISREG(st.st_mode) ? (st.st_mode & 0777) : new_file_mode();
    } else if (errno == ENOENT) {
        mode = new_file_mode();
    } else {
        return sf_err_set(err, SF_EIO, "%s: cannot write: %s", path, strerror(errno));
    }
    char dir[sizeof(o->path)];
    if (dir_of(path, dir, sizeof(dir)) != 0 ||
        snprintf(o->tmp, sizeof(o->tmp), "%s/.serflow-XXXXXX", dir) >= (int)sizeof(o->tmp))
        return sf_err_set(err, SF_EINVAL, "%s: output path too long", path);
    int fd = mkstemp(o->tmp); /* O_CREAT | O_EXCL, mode 0600: never follows a planted name */
    if (fd < 0) {
        int e = errno;
        o->tmp[0] = '\0';
        return sf_err_set(err, e == ENOENT || e == ENOTDIR ? SF_ENOTFOUND : SF_EIO,
                          "%s: cannot create a file in %s: %s", path, dir, strerror(e));
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fchmod(fd, mode) != 0 || !(o->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = '\0';
        return sf_err_set(err, SF_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    o->mode = SF_OUT_REPLACE;
    return SF_OK;
}

int sf_outfile_commit(struct sf_outfile *o, struct sf_err *err)
{
    if (!o->f)
        return sf_err_set(err, SF_EINVAL, "%s: not open", o->path);
    FILE *f = o->f;
    o->f = NULL;
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (o->mode == SF_OUT_STDOUT) {
        if (bad)
            return sf_err_set(err, SF_EIO, "standard output: write error: %s", strerror(e));
        return SF_OK; /* closed (and checked again) by the program at exit */
    }
    if (!bad && o->mode == SF_OUT_REPLACE && fsync(fileno(f)) != 0) {
        bad = 1;
        e = errno;
    }
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && o->mode == SF_OUT_REPLACE && rename(o->tmp, o->path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        if (o->mode == SF_OUT_REPLACE)
            unlink(o->tmp);
        o->tmp[0] = '\0';
        return sf_err_set(err, SF_EIO, "%s: write error: %s", o->path, strerror(e));
    }
    if (o->mode == SF_OUT_REPLACE) {
        /* make the rename itself durable */
        char dir[sizeof(o->path)];
        int dfd = dir_of(o->path, dir, sizeof(dir)) == 0
                      ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                      : -1;
        if (dfd >= 0) {
            (void)fsync(dfd); /* some file systems refuse fsync on a directory: not an error */
            close(dfd);
        }
    }
    o->tmp[0] = '\0';
    return SF_OK;
}

void sf_outfile_abort(struct sf_outfile *o)
{
    if (o->f && o->mode != SF_OUT_STDOUT)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0])
        unlink(o->tmp);
    o->tmp[0] = '\0';
}

int sf_write_file_atomic(const char *path, const void *data, size_t len, struct sf_err *err)
{
    struct sf_outfile o;
    int rc = sf_outfile_open(&o, path, err);
    if (rc != SF_OK)
        return rc;
    if (len && fwrite(data, 1, len, o.f) != len) {
        int e = errno;
        sf_outfile_abort(&o);
        return sf_err_set(err, SF_EIO, "%s: write error: %s", path, strerror(e));
    }
    return sf_outfile_commit(&o, err);
}
