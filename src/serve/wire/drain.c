/* drain.c - what both HTTP servers of src/serve (the event-driven ingress, ev.c, and the
 * libmicrohttpd one of the worker and the function runtime, httpd.c) do when they stop: answer
 * the listen backlog, and wait for the requests in flight. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serflow/core.h"
#include "wire/wire_int.h"

/* Connections answered 503 at quiesce that are read until they hang up (the rest are closed at
 * once), and for how long at most. */
#define QUIESCE_MAX_PENDING 1024
#define QUIESCE_LINGER_MS   200

static double now_s(void)
{
    return sf_monotonic_s();
}

/* Answers the connections waiting in the listening socket's backlog with 503 and closes the
 * socket: closing it with connections in its backlog would reset them, and a client that had
 * sent its request on one would see its connection closed without an answer. */
void sf__wire_refuse_backlog(int ls)
{
    static const char body[] = "{\"error\":\"draining: this server is stopping; retry elsewhere\"}";
    char answer[320];
    int al = snprintf(answer, sizeof(answer),
                      "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      sizeof(body) - 1, body);
    struct pollfd p[QUIESCE_MAX_PENDING];
    int n = 0;
    fcntl(ls, F_SETFL, fcntl(ls, F_GETFL) | O_NONBLOCK);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            break;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        ssize_t w = send(fd, answer, (size_t)al, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        if (w < 0 || n == QUIESCE_MAX_PENDING) {
            close(fd);
            continue;
        }
        p[n].fd = fd;
        p[n].events = POLLIN;
        n++;
    }
    close(ls);
    /* read what they sent until they hang up, so that closing sends no reset ahead of the answer */
    double t0 = now_s();
    while (n > 0 && (now_s() - t0) * 1000 < QUIESCE_LINGER_MS) {
        if (poll(p, (nfds_t)n, 20) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (!p[i].revents)
                continue;
            char buf[4096];
            ssize_t r = recv(p[i].fd, buf, sizeof(buf), 0);
            if (r > 0)
                continue;
            close(p[i].fd);
            p[i--] = p[--n];
        }
    }
    for (int i = 0; i < n; i++)
        close(p[i].fd);
}

int sf__wire_wait_idle(pthread_mutex_t *mu, pthread_cond_t *cv, const int *active, double timeout_s)
{
    double t0 = now_s();
    pthread_mutex_lock(mu);
    while (*active > 0 && now_s() - t0 < timeout_s)
        sf_cond_wait_s(cv, mu, 0.01);
    int left = *active;
    pthread_mutex_unlock(mu);
    return left;
}
