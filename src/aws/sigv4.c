/*
 * sigv4.c - AWS Signature Version 4 (header mode) on OpenSSL's libcrypto: the canonical request
 * (method, canonical URI, canonical query, canonical headers, signed headers, payload hash), the
 * string to sign, the signing key HMAC chain, and the Authorization header.
 *
 * The rules follow the SigV4 documentation and the SDKs (checked against AWS's test suites in
 * tests/data/aws-sigv4 and against botocore on random requests in tests/unit/test_aws.c):
 * - the path is normalised (RFC 3986 dot segments removed, repeated slashes collapsed) and
 *   percent-encoded once more (so an encoded "%3A" is signed as "%253A"), except in S3 style;
 * - query parameters are encoded (unreserved characters kept) and sorted by name, then value;
 * - header names are lower-cased; repeated names joined with ","; values trimmed with inner
 *   whitespace runs (line folds too) collapsed to one space; sorted by name.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws_int.h"

/* The canonical request of a request with every header and parameter at its cap. */
#define SIGV4_TEXT_MAX ((size_t)(SF_AWS_MAX_HEADERS + SF_AWS_MAX_QUERY) * 3 * SF_AWS_VALUE_MAX)

static int unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

void sf__abuf_uri(struct sf__abuf *b, const char *s, size_t len, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (unreserved(ch) || (keep_slash && ch == '/')) {
            sf__abuf_ch(b, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sf__abuf_add(b, e, 3);
        }
    }
}

int sf_aws_uri_encode(const char *s, size_t len, int keep_slash, char **out, size_t *out_len,
                      struct sf_err *err)
{
    struct sf__abuf b;
    sf__abuf_init(&b, (size_t)SF_AWS_URL_MAX * 3);
    if (*out)
        sf__abuf_str(&b, *out);
    sf__abuf_uri(&b, s, len, keep_slash);
    int st = b.status;
    char *p = sf__abuf_take(&b);
    if (!p)
        return sf_err_set(err, st, "uri encoding: %s", st == SF_ETOOBIG ? "too long" : "no memory");
    free(*out);
    *out = p;
    if (out_len)
        *out_len = strlen(p);
    return SF_OK;
}

/* RFC 3986 5.2.4 on a path, with empty segments dropped too (what AWS services expect and
 * botocore does): "/a//b/../c/." -> "/a/c". */
static void normalize_path(struct sf__abuf *out, const char *path)
{
    size_t n = strlen(path);
    if (n == 0) {
        sf__abuf_ch(out, '/');
        return;
    }
    /* segment offsets kept on a stack; a path has at most n/2 + 1 segments */
    size_t *start = malloc((n / 2 + 2) * sizeof(*start)),
           *slen = malloc((n / 2 + 2) * sizeof(*slen));
    if (!start || !slen) {
        free(start);
        free(slen);
        out->status = SF_ENOMEM;
        return;
    }
    size_t depth = 0;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        size_t l = j - i;
        if (l == 0 || (l == 1 && path[i] == '.')) {
            /* empty or "." */
        } else if (l == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (depth)
                depth--;
        } else {
            start[depth] = i;
            slen[depth] = l;
            depth++;
        }
        i = j + 1;
    }
    if (path[0] == '/')
        sf__abuf_ch(out, '/');
    for (size_t k = 0; k < depth; k++) {
        if (k)
            sf__abuf_ch(out, '/');
        sf__abuf_add(out, path + start[k], slen[k]);
    }
    if (path[n - 1] == '/' && depth)
        sf__abuf_ch(out, '/');
    free(start);
    free(slen);
}

struct qpair {
    char *k, *v;
};

static int cmp_qpair(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

struct hdr {
    char name[128];
    const char *value;
    size_t order;
};

static int cmp_hdr(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* What Python's str.split() takes for whitespace among ASCII bytes (botocore trims with it). */
static int ws(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f' ||
           (ch >= 0x1c && ch <= 0x1f);
}

static void add_trimmed(struct sf__abuf *b, const char *v)
{
    int first = 1;
    const unsigned char *p = (const unsigned char *)v;
    while (*p) {
        while (*p && ws(*p))
            p++;
        if (!*p)
            break;
        const unsigned char *q = p;
        while (*q && !ws(*q))
            q++;
        if (!first)
            sf__abuf_ch(b, ' ');
        sf__abuf_add(b, p, (size_t)(q - p));
        first = 0;
        p = q;
    }
}

static int tchar(unsigned char ch)
{
    return isalnum(ch) || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Headers the SDKs never sign: proxies and tracing add or change them on the way. */
static int unsigned_header(const char *lname)
{
    return !strcmp(lname, "user-agent") || !strcmp(lname, "expect") ||
           !strcmp(lname, "x-amzn-trace-id");
}

static int hmac(const void *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &n) && n == 32;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
static int signing_key(const char *secret, const char *date8, const char *region,
                       const char *service, unsigned char k[32])
{
    char seed[SF_AWS_SECRET_MAX + 8];
    size_t sl = strlen(secret);
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, sl);
    int ok = hmac(seed, 4 + sl, date8, 8, k) && hmac(k, 32, region, strlen(region), k) &&
             hmac(k, 32, service, strlen(service), k) && hmac(k, 32, "aws4_request", 12, k);
    OPENSSL_cleanse(seed, sizeof(seed));
    return ok;
}

void sf_sigv4_out_fini(struct sf_sigv4_out *out)
{
    if (!out)
        return;
    char *s[3] = {out->canonical_request, out->string_to_sign, out->authorization};
    for (int i = 0; i < 3; i++)
        if (s[i]) {
            OPENSSL_cleanse(s[i], strlen(s[i]));
            free(s[i]);
        }
    memset(out, 0, sizeof(*out));
}

static int check_inputs(const struct sf_sigv4_req *req, const struct sf_aws_creds *c,
                        const struct sf_sigv4_cfg *cfg, struct sf_err *err)
{
    if (!req->method || !*req->method || !req->path)
        return sf_err_set(err, SF_EINVAL, "sigv4: method and path are required");
    for (const char *m = req->method; *m; m++)
        if (!tchar((unsigned char)*m))
            return sf_err_set(err, SF_EINVAL, "sigv4: method: not a token");
    if (!cfg->region || !*cfg->region || !cfg->service || !*cfg->service)
        return sf_err_set(err, SF_EINVAL, "sigv4: region and service are required");
    if (strlen(cfg->region) >= SF_AWS_NAME_MAX || strlen(cfg->service) >= SF_AWS_NAME_MAX)
        return sf_err_set(err, SF_EINVAL, "sigv4: region or service name too long");
    if (!c || !c->access_key_id[0] || !c->secret_access_key[0])
        return sf_err_set(err, SF_EINVAL, "sigv4: no access key");
    if (memchr(c->access_key_id, '\0', sizeof(c->access_key_id)) == NULL ||
        memchr(c->secret_access_key, '\0', sizeof(c->secret_access_key)) == NULL ||
        memchr(c->session_token, '\0', sizeof(c->session_token)) == NULL)
        return sf_err_set(err, SF_EINVAL, "sigv4: credentials not terminated");
    for (const char *p = c->access_key_id; *p; p++)
        if (*p == '/' || (unsigned char)*p <= ' ')
            return sf_err_set(err, SF_EINVAL, "sigv4: access key id: bad character");
    if (req->n_headers > SF_AWS_MAX_HEADERS)
        return sf_err_set(err, SF_EINVAL, "sigv4: %zu headers, at most %d", req->n_headers,
                          SF_AWS_MAX_HEADERS);
    if (req->n_query > SF_AWS_MAX_QUERY)
        return sf_err_set(err, SF_EINVAL, "sigv4: %zu query parameters, at most %d", req->n_query,
                          SF_AWS_MAX_QUERY);
    if (strlen(req->path) > SF_AWS_URL_MAX)
        return sf_err_set(err, SF_ETOOBIG, "sigv4: path longer than %d bytes", SF_AWS_URL_MAX);
    for (size_t i = 0; i < req->n_query; i++) {
        const struct sf_aws_kv *q = &req->query[i];
        if (!q->name || strlen(q->name) > SF_AWS_VALUE_MAX ||
            (q->value && strlen(q->value) > SF_AWS_VALUE_MAX))
            return sf_err_set(err, q->name ? SF_ETOOBIG : SF_EINVAL,
                              "sigv4: query parameter %zu: missing or longer than %d bytes", i,
                              SF_AWS_VALUE_MAX);
    }
    return SF_OK;
}

/* Collects the headers to sign (given + the signer's own) into h[], sorted. */
static int collect_headers(const struct sf_sigv4_req *req, const struct sf_aws_creds *c,
                           const struct sf_sigv4_cfg *cfg, const struct sf_sigv4_out *out,
                           struct hdr *h, size_t *nh, struct sf_err *err)
{
    size_t n = 0;
    int host = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct sf_aws_kv *kv = &req->headers[i];
        size_t nl = kv->name ? strlen(kv->name) : 0;
        if (nl == 0 || nl >= sizeof(h[0].name))
            return sf_err_set(err, SF_EINVAL, "sigv4: header %zu: empty or too long name", i);
        if (!kv->value || strlen(kv->value) > SF_AWS_VALUE_MAX)
            return sf_err_set(err, kv->value ? SF_ETOOBIG : SF_EINVAL,
                              "sigv4: header %zu: missing or longer than %d bytes", i,
                              SF_AWS_VALUE_MAX);
        struct hdr *d = &h[n];
        for (size_t k = 0; k < nl; k++) {
            unsigned char ch = (unsigned char)kv->name[k];
            if (!tchar(ch))
                return sf_err_set(err, SF_EINVAL, "sigv4: header %zu: name: not a token", i);
            d->name[k] = (char)tolower(ch);
        }
        d->name[nl] = '\0';
        if (!strcmp(d->name, "x-amz-date") || !strcmp(d->name, "authorization") ||
            !strcmp(d->name, "x-amz-security-token") ||
            ((cfg->flags & SF_SIGV4_CONTENT_SHA256) && !strcmp(d->name, "x-amz-content-sha256")))
            return sf_err_set(err, SF_EINVAL, "sigv4: header %s: set by the signer", d->name);
        if (unsigned_header(d->name))
            continue;
        host |= !strcmp(d->name, "host");
        d->value = kv->value;
        d->order = n;
        n++;
    }
    if (!host)
        return sf_err_set(err, SF_EINVAL, "sigv4: no Host header");
    struct hdr own[3] = {{"x-amz-date", out->amz_date, 0},
                         {"x-amz-security-token", c->session_token, 0},
                         {"x-amz-content-sha256", out->payload_sha256, 0}};
    int use[3] = {1, c->session_token[0] && !(cfg->flags & SF_SIGV4_TOKEN_UNSIGNED),
                  (cfg->flags & SF_SIGV4_CONTENT_SHA256) != 0};
    for (int i = 0; i < 3; i++)
        if (use[i]) {
            h[n] = own[i];
            h[n].order = n;
            n++;
        }
    qsort(h, n, sizeof(*h), cmp_hdr);
    *nh = n;
    return SF_OK;
}

static void add_query(struct sf__abuf *cr, const struct sf_sigv4_req *req, struct qpair *qp)
{
    size_t nq = 0;
    for (size_t i = 0; i < req->n_query; i++) {
        struct sf__abuf k, v;
        sf__abuf_init(&k, (size_t)SF_AWS_VALUE_MAX * 3);
        sf__abuf_init(&v, (size_t)SF_AWS_VALUE_MAX * 3);
        const char *val = req->query[i].value ? req->query[i].value : "";
        sf__abuf_uri(&k, req->query[i].name, strlen(req->query[i].name), 0);
        sf__abuf_uri(&v, val, strlen(val), 0);
        qp[nq].k = sf__abuf_take(&k);
        qp[nq].v = sf__abuf_take(&v);
        nq++;
        if (!qp[nq - 1].k || !qp[nq - 1].v) {
            cr->status = SF_ENOMEM;
            break;
        }
    }
    if (!cr->status)
        qsort(qp, nq, sizeof(*qp), cmp_qpair);
    for (size_t i = 0; i < nq && !cr->status; i++) {
        if (i)
            sf__abuf_ch(cr, '&');
        sf__abuf_str(cr, qp[i].k);
        sf__abuf_ch(cr, '=');
        sf__abuf_str(cr, qp[i].v);
    }
    for (size_t i = 0; i < nq; i++) {
        free(qp[i].k);
        free(qp[i].v);
    }
}

int sf_sigv4_sign(const struct sf_sigv4_req *req, const struct sf_aws_creds *c,
                  const struct sf_sigv4_cfg *cfg, struct sf_sigv4_out *out, struct sf_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = check_inputs(req, c, cfg, err);
    if (rc)
        return rc;
    time_t t = (time_t)cfg->time_unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999)
        return sf_err_set(err, SF_EINVAL, "sigv4: time out of range");
    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm);
    sf__sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, out->payload_sha256);

    struct hdr *h = calloc(SF_AWS_MAX_HEADERS + 3, sizeof(*h));
    struct qpair *qp = calloc(req->n_query + 1, sizeof(*qp));
    struct sf__abuf cr, sh, sts, au;
    sf__abuf_init(&cr, SIGV4_TEXT_MAX);
    sf__abuf_init(&sh, (size_t)(SF_AWS_MAX_HEADERS + 3) * 129);
    sf__abuf_init(&sts, 1024);
    sf__abuf_init(&au, (size_t)(SF_AWS_MAX_HEADERS + 3) * 129 + 512);
    size_t nh = 0;
    if (!h || !qp) {
        rc = sf_err_set(err, SF_ENOMEM, "sigv4: no memory");
        goto done;
    }
    rc = collect_headers(req, c, cfg, out, h, &nh, err);
    if (rc)
        goto done;

    /* method */
    for (const char *m = req->method; *m; m++)
        sf__abuf_ch(&cr, (char)toupper((unsigned char)*m));
    sf__abuf_ch(&cr, '\n');
    /* canonical URI */
    struct sf__abuf path;
    sf__abuf_init(&path, (size_t)SF_AWS_URL_MAX);
    if (cfg->flags & SF_SIGV4_NO_NORMALIZE)
        sf__abuf_str(&path, *req->path ? req->path : "/");
    else
        normalize_path(&path, req->path);
    if (path.status)
        cr.status = path.status;
    else if (cfg->flags & SF_SIGV4_PATH_AS_IS)
        sf__abuf_add(&cr, path.p, path.len);
    else
        sf__abuf_uri(&cr, path.p, path.len, 1);
    sf__abuf_fini(&path);
    sf__abuf_ch(&cr, '\n');
    /* canonical query */
    add_query(&cr, req, qp);
    sf__abuf_ch(&cr, '\n');
    /* canonical headers and signed headers */
    for (size_t i = 0; i < nh; i++) {
        int same = i > 0 && !strcmp(h[i].name, h[i - 1].name);
        if (same) {
            sf__abuf_ch(&cr, ',');
        } else {
            if (i)
                sf__abuf_ch(&cr, '\n');
            sf__abuf_str(&cr, h[i].name);
            sf__abuf_ch(&cr, ':');
            if (sh.len)
                sf__abuf_ch(&sh, ';');
            sf__abuf_str(&sh, h[i].name);
        }
        add_trimmed(&cr, h[i].value);
    }
    sf__abuf_str(&cr, "\n\n");
    sf__abuf_add(&cr, sh.p ? sh.p : "", sh.len);
    sf__abuf_ch(&cr, '\n');
    sf__abuf_str(&cr, out->payload_sha256);
    if (cr.status || sh.status) {
        rc =
            sf_err_set(err, cr.status ? cr.status : sh.status, "sigv4: canonical request: %s",
                       (cr.status ? cr.status : sh.status) == SF_ENOMEM ? "no memory" : "too long");
        goto done;
    }

    /* string to sign */
    char date8[9], creq_hash[65];
    memcpy(date8, out->amz_date, 8);
    date8[8] = '\0';
    sf__sha256_hex(cr.p, cr.len, creq_hash);
    sf__abuf_fmt(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", out->amz_date, date8,
                 cfg->region, cfg->service, creq_hash);
    /* signature */
    unsigned char k[32], sig[32];
    if (sts.status || !signing_key(c->secret_access_key, date8, cfg->region, cfg->service, k) ||
        !hmac(k, 32, sts.p, sts.len, sig)) {
        OPENSSL_cleanse(k, sizeof(k));
        rc = sf_err_set(err, SF_EIO, "sigv4: HMAC-SHA256 failed");
        goto done;
    }
    OPENSSL_cleanse(k, sizeof(k));
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out->signature[2 * i] = digits[sig[i] >> 4];
        out->signature[2 * i + 1] = digits[sig[i] & 15];
    }
    out->signature[64] = '\0';
    sf__abuf_fmt(&au, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=",
                 c->access_key_id, date8, cfg->region, cfg->service);
    sf__abuf_add(&au, sh.p, sh.len);
    sf__abuf_str(&au, ", Signature=");
    sf__abuf_str(&au, out->signature);
    if (au.status) {
        rc = sf_err_set(err, au.status, "sigv4: authorization header too long");
        goto done;
    }
    out->canonical_request = sf__abuf_take(&cr);
    out->string_to_sign = sf__abuf_take(&sts);
    out->authorization = sf__abuf_take(&au);
    out->add[out->n_add++] = (struct sf_aws_kv){"X-Amz-Date", out->amz_date};
    if (c->session_token[0])
        out->add[out->n_add++] = (struct sf_aws_kv){"X-Amz-Security-Token", c->session_token};
    if (cfg->flags & SF_SIGV4_CONTENT_SHA256)
        out->add[out->n_add++] = (struct sf_aws_kv){"x-amz-content-sha256", out->payload_sha256};
    out->add[out->n_add++] = (struct sf_aws_kv){"Authorization", out->authorization};
    rc = SF_OK;
done:
    sf__abuf_fini(&cr);
    sf__abuf_fini(&sh);
    sf__abuf_fini(&sts);
    sf__abuf_fini(&au);
    free(h);
    free(qp);
    if (rc)
        sf_sigv4_out_fini(out);
    return rc;
}
