/* wire_int.h - little-endian field access and a capped buffer, shared by the files of src/serve
 * (never installed). */
#ifndef SERFLOW_WIRE_INT_H
#define SERFLOW_WIRE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* drain.c: answers the connections in a listening socket's backlog with 503 and closes it
 * (closing it with connections queued would reset them, unanswered). */
void sf__wire_refuse_backlog(int ls);
/* Waits until *active (guarded by mu, signalled on cv) is 0 or timeout_s passes; returns what is
 * left. */
int sf__wire_wait_idle(pthread_mutex_t *mu, pthread_cond_t *cv, const int *active,
                       double timeout_s);

/* Little-endian field access for the frames. */
static inline void sf__put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void sf__put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void sf__put64(unsigned char *p, uint64_t v)
{
    sf__put32(p, (uint32_t)v);
    sf__put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t sf__get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t sf__get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sf__get64(const unsigned char *p)
{
    return (uint64_t)sf__get32(p) | (uint64_t)sf__get32(p + 4) << 32;
}

static inline void sf__putf(unsigned char *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    sf__put32(p, v);
}

static inline float sf__getf(const unsigned char *p)
{
    uint32_t v = sf__get32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* Appends n bytes of data to the NUL-terminated heap buffer *p (len bytes used, cap allocated),
 * growing it geometrically but never past max bytes of content. 0 on success, -1 when the content
 * would exceed max, -2 when out of memory (the buffer is left as it was). http_client.c. */
int sf__buf_append(char **p, size_t *len, size_t *cap, const void *data, size_t n, size_t max);

#endif
