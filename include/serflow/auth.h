/*
 * auth.h - identity between serflow's serving processes (src/auth/auth.c; docs/security.md
 * "Serving plane").
 *
 * A deployment has one root key, 32 random bytes made by `serflow serve` (or given as
 * SERFLOW_AUTH to processes started by hand or on another machine). Every principal has its own
 * key derived from it, K(p) = HMAC-SHA256(root, "serflow principal " p): the ingress is
 * "ingress", a VM worker "worker:N", a function instance "instance:<16 hex random>". The function
 * runtime holds the root (it derives and checks every other key); a worker or an instance holds
 * only its own key, so it can neither act as another nor derive another's.
 *
 * Keys reach a child at launch through an inherited pipe (SERFLOW_AUTH_FD names the descriptor;
 * one line "PRINCIPAL HEXKEY"), never in argv, the environment of a running process or /metrics;
 * a process started by hand (or on AWS) may be given the line in SERFLOW_AUTH instead, which is
 * wiped from the process's environment once read.
 *
 * Every internal request carries `X-Serflow-Auth: PRINCIPAL TS_MS NONCE MAC` with
 * MAC = HMAC-SHA256(K(PRINCIPAL), "serflow-v1 request\n" METHOD "\n" PATH "\n" TS_MS "\n" NONCE),
 * PATH as the server sees it (percent-decoded); a request older or newer than SF_AUTH_SKEW_S is
 * refused. Every answer to one carries `X-Serflow-Auth-Response: MAC'` with
 * MAC' = HMAC-SHA256(K(PRINCIPAL), "serflow-v1 response\n" NONCE "\n" STATUS), so a process that
 * took over a dead peer's port cannot answer in its place. Contents are not in the MAC: on
 * loopback no other user can alter a TCP stream, and across machines the same headers travel
 * inside TLS.
 */
#ifndef SERFLOW_AUTH_H
#define SERFLOW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "serflow/core.h"

#define SF_AUTH_KEY_BYTES 32
/* Longest principal name ("instance:" + 16 hex digits is 25). */
#define SF_AUTH_PRINCIPAL_MAX 48
/* Clock difference accepted between two processes (ms timestamps); across machines NTP keeps
 * clocks within milliseconds. */
#define SF_AUTH_SKEW_S 60
/* Room for a request header value and a response header value. */
#define SF_AUTH_HEADER_BYTES    192
#define SF_AUTH_REQUEST_HEADER  "X-Serflow-Auth"
#define SF_AUTH_RESPONSE_HEADER "X-Serflow-Auth-Response"
/* The descriptor a child finds its key line on (after the readiness pipe at 3). */
#define SF_AUTH_FD 4

/* A principal and its key. */
struct sf_auth {
    int set; /* 0: no identity (a process started by hand without SERFLOW_AUTH) */
    char principal[SF_AUTH_PRINCIPAL_MAX + 1];
    unsigned char key[SF_AUTH_KEY_BYTES];
};

/* n bytes from the kernel's CSPRNG (getrandom); SF_EIO when it fails. */
int sf_auth_random(void *buf, size_t n);
/* A random 64-bit value from the CSPRNG; 0 only when the CSPRNG failed (callers refuse 0). */
uint64_t sf_auth_random_u64(void);
/* A new root identity: random key, principal "root". */
int sf_auth_new_root(struct sf_auth *root, struct sf_err *err);
/* out = principal p with K(p) derived from root. p: 1..SF_AUTH_PRINCIPAL_MAX characters of
 * [a-z0-9:_-] (SF_EINVAL otherwise). */
int sf_auth_derive(const struct sf_auth *root, const char *p, struct sf_auth *out,
                   struct sf_err *err);
/* "PRINCIPAL HEXKEY\n" into out (at least SF_AUTH_PRINCIPAL_MAX + 2 * SF_AUTH_KEY_BYTES + 3). */
void sf_auth_line(const struct sf_auth *a, char *out, size_t size);
/* Parses a key line (as sf_auth_line writes it, trailing newline optional). */
int sf_auth_parse_line(const char *line, struct sf_auth *out, struct sf_err *err);
/* This process's identity from SERFLOW_AUTH_FD (read and closed) or SERFLOW_AUTH (wiped);
 * out->set = 0 when neither is set. SF_EINVAL for a malformed line. */
int sf_auth_from_env(struct sf_auth *out, struct sf_err *err);

/* The request header value for METHOD PATH signed by a (now: wall clock); nonce_out (33 bytes)
 * receives the nonce for checking the answer. */
int sf_auth_sign_request(const struct sf_auth *a, const char *method, const char *path, char *out,
                         size_t size, char *nonce_out);
/* A parsed request header. */
struct sf_auth_token {
    char principal[SF_AUTH_PRINCIPAL_MAX + 1];
    char nonce[33];
    int64_t ts_ms;
    unsigned char mac[32];
};
/* Parses a request header value (SF_EINVAL when malformed or absent). */
int sf_auth_parse_request(const char *hdr, struct sf_auth_token *t, struct sf_err *err);
/* Checks a parsed token against METHOD PATH with key (the principal's K): the MAC in constant
 * time, then the timestamp within SF_AUTH_SKEW_S of now. SF_EINVAL with the reason. */
int sf_auth_check_request(const unsigned char key[SF_AUTH_KEY_BYTES], const struct sf_auth_token *t,
                          const char *method, const char *path, struct sf_err *err);
/* The response header value for an answer of status to the request of nonce, with key. */
void sf_auth_sign_response(const unsigned char key[SF_AUTH_KEY_BYTES], const char *nonce,
                           int status, char *out, size_t size);
/* SF_OK when hdr is the response MAC for (nonce, status) under key; SF_EINVAL otherwise. */
int sf_auth_check_response(const unsigned char key[SF_AUTH_KEY_BYTES], const char *nonce,
                           int status, const char *hdr);

/* Percent-decodes the path of url ("http://host:port/a%20b?q" -> "/a b") into out, as a server
 * sees it; "" when there is none. */
void sf_auth_url_path(const char *url, char *out, size_t size);

#endif
