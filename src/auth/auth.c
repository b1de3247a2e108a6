/*
 * auth.c - keys, request tokens and response MACs between the serving processes (the scheme is
 * in include/serflow/auth.h): HMAC-SHA256 from OpenSSL's libcrypto, randomness from getrandom,
 * MACs compared in constant time.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "serflow/auth.h"

/* Bytes of a key line read from the inherited descriptor: principal, space, 64 hex, newline. */
#define AUTH_LINE_MAX 160

int sf_auth_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return SF_EIO;
        }
        p += r;
        n -= (size_t)r;
    }
    return SF_OK;
}

uint64_t sf_auth_random_u64(void)
{
    uint64_t v = 0;
    if (sf_auth_random(&v, sizeof(v)) != SF_OK)
        return 0;
    return v;
}

static void hmac(const unsigned char *key, const void *msg, size_t len, unsigned char out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, SF_AUTH_KEY_BYTES, msg, len, out, &olen);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, size_t n_bytes, unsigned char *out)
{
    for (size_t i = 0; i < 2 * n_bytes; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2)
            out[i / 2] = (unsigned char)(out[i / 2] | v);
        else
            out[i / 2] = (unsigned char)(v << 4);
    }
    return 0;
}

static int principal_ok(const char *p, size_t len)
{
    if (len < 1 || len > SF_AUTH_PRINCIPAL_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int sf_auth_new_root(struct sf_auth *root, struct sf_err *err)
{
    memset(root, 0, sizeof(*root));
    if (sf_auth_random(root->key, sizeof(root->key)) != SF_OK)
        return sf_err_set(err, SF_EIO, "getrandom: cannot make a key: %s", strerror(errno));
    snprintf(root->principal, sizeof(root->principal), "root");
    root->set = 1;
    return SF_OK;
}

int sf_auth_derive(const struct sf_auth *root, const char *p, struct sf_auth *out,
                   struct sf_err *err)
{
    size_t len = strlen(p);
    if (!principal_ok(p, len))
        return sf_err_set(err, SF_EINVAL, "principal '%.48s' is not 1..%d of [a-z0-9:_-]", p,
                          SF_AUTH_PRINCIPAL_MAX);
    char msg[64 + SF_AUTH_PRINCIPAL_MAX];
    int ml = snprintf(msg, sizeof(msg), "serflow principal %s", p);
    struct sf_auth a;
    memset(&a, 0, sizeof(a));
    hmac(root->key, msg, (size_t)ml, a.key);
    memcpy(a.principal, p, len + 1);
    a.set = 1;
    *out = a;
    return SF_OK;
}

void sf_auth_line(const struct sf_auth *a, char *out, size_t size)
{
    char k[2 * SF_AUTH_KEY_BYTES + 1];
    hex(a->key, SF_AUTH_KEY_BYTES, k);
    snprintf(out, size, "%s %s\n", a->principal, k);
    OPENSSL_cleanse(k, sizeof(k));
}

int sf_auth_parse_line(const char *line, struct sf_auth *out, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *sp = strchr(line, ' ');
    size_t pl = sp ? (size_t)(sp - line) : 0;
    if (!sp || !principal_ok(line, pl))
        return sf_err_set(err, SF_EINVAL, "identity: expected 'PRINCIPAL HEXKEY'");
    const char *k = sp + 1;
    size_t kl = strcspn(k, "\r\n");
    if (kl != 2 * SF_AUTH_KEY_BYTES || unhex(k, SF_AUTH_KEY_BYTES, out->key) != 0)
        return sf_err_set(err, SF_EINVAL, "identity: the key is not %d hex digits",
                          2 * SF_AUTH_KEY_BYTES);
    memcpy(out->principal, line, pl);
    out->principal[pl] = '\0';
    out->set = 1;
    return SF_OK;
}

int sf_auth_from_env(struct sf_auth *out, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *fd_s = getenv("SERFLOW_AUTH_FD");
    if (fd_s && *fd_s) {
        char *end;
        long fd = strtol(fd_s, &end, 10);
        if (*end || fd < 0 || fd > 1024)
            return sf_err_set(err, SF_EINVAL, "SERFLOW_AUTH_FD: '%.16s' is not a descriptor", fd_s);
        char line[AUTH_LINE_MAX];
        size_t n = 0;
        for (;;) {
            ssize_t r = read((int)fd, line + n, sizeof(line) - 1 - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
            if (n == sizeof(line) - 1)
                break;
        }
        close((int)fd);
        line[n] = '\0';
        int rc = sf_auth_parse_line(line, out, err);
        OPENSSL_cleanse(line, sizeof(line));
        return rc;
    }
    char *v = getenv("SERFLOW_AUTH");
    if (v && *v) {
        int rc = sf_auth_parse_line(v, out, err);
        /* the string is the process's environment block: wiped, it no longer shows in
         * /proc/PID/environ, and children do not inherit it */
        OPENSSL_cleanse(v, strlen(v));
        unsetenv("SERFLOW_AUTH");
        return rc;
    }
    return SF_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t request_msg(char *buf, size_t size, const char *method, const char *path, int64_t ts,
                          const char *nonce)
{
    int n = snprintf(buf, size, "serflow-v1 request\n%s\n%s\n%lld\n%s", method, path, (long long)ts,
                     nonce);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

int sf_auth_sign_request(const struct sf_auth *a, const char *method, const char *path, char *out,
                         size_t size, char *nonce_out)
{
    unsigned char nb[16], mac[32];
    if (sf_auth_random(nb, sizeof(nb)) != SF_OK)
        return SF_EIO;
    char nonce[33], macs[65];
    hex(nb, sizeof(nb), nonce);
    int64_t ts = now_ms();
    char msg[1024];
    size_t ml = request_msg(msg, sizeof(msg), method, path, ts, nonce);
    hmac(a->key, msg, ml, mac);
    hex(mac, sizeof(mac), macs);
    int n = snprintf(out, size, "%s %lld %s %s", a->principal, (long long)ts, nonce, macs);
    if (n < 0 || (size_t)n >= size)
        return SF_EINVAL;
    if (nonce_out)
        memcpy(nonce_out, nonce, sizeof(nonce));
    return SF_OK;
}

int sf_auth_parse_request(const char *hdr, struct sf_auth_token *t, struct sf_err *err)
{
    memset(t, 0, sizeof(*t));
    if (!hdr)
        return sf_err_set(err, SF_EINVAL, "no %s header", SF_AUTH_REQUEST_HEADER);
    /* PRINCIPAL SP TS SP NONCE(32 hex) SP MAC(64 hex) */
    const char *p = hdr, *sp = strchr(p, ' ');
    if (!sp || !principal_ok(p, (size_t)(sp - p)))
        return sf_err_set(err, SF_EINVAL, "%s: bad principal", SF_AUTH_REQUEST_HEADER);
    memcpy(t->principal, p, (size_t)(sp - p));
    p = sp + 1;
    char *end;
    long long ts = strtoll(p, &end, 10);
    if (end == p || *end != ' ' || ts <= 0)
        return sf_err_set(err, SF_EINVAL, "%s: bad timestamp", SF_AUTH_REQUEST_HEADER);
    t->ts_ms = ts;
    p = end + 1;
    unsigned char nb[16];
    if (strlen(p) != 32 + 1 + 64 || p[32] != ' ' || unhex(p, 16, nb) != 0 ||
        unhex(p + 33, 32, t->mac) != 0)
        return sf_err_set(err, SF_EINVAL, "%s: bad nonce or MAC", SF_AUTH_REQUEST_HEADER);
    memcpy(t->nonce, p, 32);
    t->nonce[32] = '\0';
    return SF_OK;
}

int sf_auth_check_request(const unsigned char key[SF_AUTH_KEY_BYTES], const struct sf_auth_token *t,
                          const char *method, const char *path, struct sf_err *err)
{
    char msg[1024];
    unsigned char mac[32];
    size_t ml = request_msg(msg, sizeof(msg), method, path, t->ts_ms, t->nonce);
    hmac(key, msg, ml, mac);
    if (CRYPTO_memcmp(mac, t->mac, sizeof(mac)) != 0)
        return sf_err_set(err, SF_EINVAL,
                          "%s: the MAC does not match (wrong key, principal or path)",
                          SF_AUTH_REQUEST_HEADER);
    int64_t d = now_ms() - t->ts_ms;
    if (d > SF_AUTH_SKEW_S * 1000 || d < -SF_AUTH_SKEW_S * 1000)
        return sf_err_set(err, SF_EINVAL, "%s: timestamp %lld ms away from this clock",
                          SF_AUTH_REQUEST_HEADER, (long long)d);
    return SF_OK;
}

static void response_mac(const unsigned char *key, const char *nonce, int status,
                         unsigned char mac[32])
{
    char msg[128];
    int ml = snprintf(msg, sizeof(msg), "serflow-v1 response\n%.32s\n%d", nonce, status);
    hmac(key, msg, ml < 0 ? 0 : (size_t)ml, mac);
}

void sf_auth_sign_response(const unsigned char key[SF_AUTH_KEY_BYTES], const char *nonce,
                           int status, char *out, size_t size)
{
    unsigned char mac[32];
    char macs[65];
    response_mac(key, nonce, status, mac);
    hex(mac, sizeof(mac), macs);
    snprintf(out, size, "%s", macs);
}

int sf_auth_check_response(const unsigned char key[SF_AUTH_KEY_BYTES], const char *nonce,
                           int status, const char *hdr)
{
    unsigned char want[32], got[32];
    if (!hdr || strlen(hdr) != 64 || unhex(hdr, 32, got) != 0)
        return SF_EINVAL;
    response_mac(key, nonce, status, want);
    return CRYPTO_memcmp(want, got, sizeof(want)) == 0 ? SF_OK : SF_EINVAL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

void sf_auth_url_path(const char *url, char *out, size_t size)
{
    if (!size)
        return;
    out[0] = '\0';
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : url;
    if (!p)
        return;
    size_t o = 0;
    for (; *p && *p != '?' && *p != '#' && o + 1 < size; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}
