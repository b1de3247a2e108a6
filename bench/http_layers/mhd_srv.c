/* mhd_srv.c - issue 17's HTTP-layer benchmark: libmicrohttpd in epoll mode (an internal thread
 * pool, one epoll loop per thread) answering POST /v2/models/m/infer with a fixed OIP v2 answer,
 * as bench/http_layers.sh times it beside serflow's layer, h2o, libevent and nginx.
 *
 * Asynchronous by default, libmicrohttpd's way: the handler's final call (the whole body read)
 * suspends the connection and resumes it at once (MHD_ALLOW_SUSPEND_RESUME; a resume wakes the
 * connection's loop through its inter-thread channel), and returns without an answer; the loop
 * resumes the connection in its next round and calls the handler again, which queues the answer.
 * This is the least a deferred answer costs here: an answer from another thread takes the same
 * resume. --sync queues the answer in the final call itself (and leaves suspend/resume off).
 * MHD_USE_TURBO is on (libmicrohttpd's fastest settings in epoll mode).
 *
 * Usage: mhd_srv [--threads N] [--sync] PORT   (PORT 0: any; prints "ready 127.0.0.1:PORT",
 * serves until SIGTERM or SIGINT) */
#define _DEFAULT_SOURCE /* SO_REUSEPORT in layer.h */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "layer.h"

/* A request's phase, kept in its con_cls: the addresses of these mark it (no allocation). */
static char phase_reading;  /* headers seen, body being read */
static char phase_deferred; /* suspended and resumed: answer at the next call */

struct srv {
    int sync;
    struct MHD_Response *ok, *not_found;
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    struct srv *s = cls;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* the first call: headers only */
        *con_cls = &phase_reading;
        return MHD_YES;
    }
    if (*upload_data_size) { /* a piece of the body: read and dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    int infer = strcmp(method, "POST") == 0 && strcmp(url, INFER_PATH) == 0;
    if (infer && !s->sync && *con_cls == &phase_reading) {
        /* the whole request is in: hand it off; the answer comes after this call returns */
        *con_cls = &phase_deferred;
        MHD_suspend_connection(conn);
        MHD_resume_connection(conn);
        return MHD_YES;
    }
    return MHD_queue_response(conn, infer ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND,
                              infer ? s->ok : s->not_found);
}

static struct MHD_Response *json_response(const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES)
        return NULL;
    return r;
}

int main(int argc, char **argv)
{
    struct srv s;
    memset(&s, 0, sizeof(s));
    struct layer_opts o;
    sigset_t stop; /* taken by sigwait below only */
    int rc = layer_start(argc, argv, &o, &stop);
    if (rc)
        return rc;
    int threads = o.threads, port = o.port;
    s.sync = o.sync;

    s.ok = json_response(ANSWER);
    s.not_found = json_response(NOT_FOUND);
    if (!s.ok || !s.not_found) {
        fprintf(stderr, "mhd_srv: cannot create the responses\n");
        return 1;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    if (!s.sync)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, handler, &s, MHD_OPTION_SOCK_ADDR,
                                            (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
                                            (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, 1024u,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd_srv: cannot start on 127.0.0.1:%d\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("ready 127.0.0.1:%u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(s.ok);
    MHD_destroy_response(s.not_found);
    return 0;
}
