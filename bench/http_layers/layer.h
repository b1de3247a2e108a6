/* layer.h - what the four servers of bench/http_layers.sh share: the one answer, the command line
 * (`[--threads N] [--sync] PORT`), the stop signals and, for the layers that give each loop its
 * own socket, a listener that shares its port. Header-only: each server is one program. */
#ifndef SERFLOW_BENCH_HTTP_LAYER_H
#define SERFLOW_BENCH_HTTP_LAYER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The one inference answer of the benchmark (the same bytes in every server and nginx's). */
static const char ANSWER[] =
    "{\"model_name\":\"m\",\"model_version\":\"1\",\"id\":\"5f1c2a9e8b7d4c3a\",\"outputs\":[{"
    "\"name\":\"class\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[3]}],\"parameters\":{"
    "\"exit_stage\":2}}";
static const char NOT_FOUND[] = "{\"error\":\"no such endpoint\"}";
static const char INFER_PATH[] = "/v2/models/m/infer";
/* Most event loops (threads). */
#define MAX_THREADS 16

struct layer_opts {
    int sync;    /* --sync: answer in the handler */
    int threads; /* --threads N (2) */
    int port;    /* 0: any */
};

/* Reads the command line; 0, or the exit code of a usage error (printed). */
static inline int layer_opts_parse(int argc, char **argv, struct layer_opts *o)
{
    o->sync = 0, o->threads = 2, o->port = -1;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        char *end;
        if (strcmp(argv[i], "--sync") == 0) {
            o->sync = 1;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            bad = *end || v < 1 || v > MAX_THREADS;
            o->threads = (int)v;
        } else {
            long v = strtol(argv[i], &end, 10);
            bad = *end || end == argv[i] || v < 0 || v > 65535 || o->port >= 0;
            o->port = (int)v;
        }
    }
    if (!bad && o->port >= 0)
        return 0;
    fprintf(stderr, "usage: %s [--threads N (1..%d)] [--sync] PORT\n", argv[0], MAX_THREADS);
    return 2;
}

/* SIGTERM and SIGINT blocked, for sigwait in main only (threads started after inherit the mask);
 * a closed client is no signal. */
static inline void layer_block_stop(sigset_t *stop)
{
    sigemptyset(stop);
    sigaddset(stop, SIGTERM);
    sigaddset(stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, stop, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* A server's start: its command line into o, then SIGTERM and SIGINT blocked into stop (for
 * sigwait in main). 0, or the exit code of a usage error (printed). */
static inline int layer_start(int argc, char **argv, struct layer_opts *o, sigset_t *stop)
{
    int rc = layer_opts_parse(argc, argv, o);
    if (!rc)
        layer_block_stop(stop);
    return rc;
}

/* A non-blocking listening socket on 127.0.0.1:port that shares its port (SO_REUSEPORT); -1 on
 * failure. */
static inline int layer_listen_shared(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#endif
