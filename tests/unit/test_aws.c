/* test_aws.c - the aws module without a network: SigV4 against AWS's suites (2019/2018 edition
 * and aws-c-auth's) and against botocore's own signer on seeded random requests, URI encoding,
 * redaction of secrets, the INI reader, the credentials chain (environment, shared files,
 * profiles), the retry rules and quota, the XML readers and Lambda's REPORT line. The clients
 * against a fake AWS are in test_aws_fake.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serflow/aws.h"
#include "test_util.h"

/* 2015-08-30T12:36:00Z, the suites' time */
#define SUITE_TIME 1440938160
static const char *SUITE_KEY = "AKIDEXAMPLE";
static const char *SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/* ---- a parsed .req / request.txt ---- */

#define MAXH 32
struct parsed {
    char method[16];
    char path[1024];
    char qbuf[1024];
    struct sf_aws_kv q[32];
    size_t nq;
    char names[MAXH][128];
    char values[MAXH][512];
    struct sf_aws_kv h[MAXH];
    size_t nh;
    char token[SF_AWS_TOKEN_MAX];
    const char *body;
    size_t body_len;
};

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

static void pct_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* fold: 0 = a continuation line is another value of the header (2019 suite), 1 = it continues
 * the value (aws-c-auth, RFC 7230 obs-fold) */
static void parse_req(const char *text, struct parsed *r, int fold)
{
    memset(r, 0, sizeof(*r));
    const char *nl = strchr(text, '\n');
    assert_non_null(nl);
    const char *sp = strchr(text, ' ');
    memcpy(r->method, text, (size_t)(sp - text));
    const char *ver = nl;
    while (ver > sp && *ver != ' ')
        ver--;
    char target[1024];
    size_t tl = (size_t)(ver - sp - 1);
    memcpy(target, sp + 1, tl);
    target[tl] = '\0';
    char *qm = strchr(target, '?');
    if (qm) {
        *qm = '\0';
        snprintf(r->qbuf, sizeof(r->qbuf), "%s", qm + 1);
        char *save = NULL;
        for (char *pair = strtok_r(r->qbuf, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(pair, '=');
            if (eq)
                *eq = '\0';
            pct_decode(pair);
            if (eq)
                pct_decode(eq + 1);
            r->q[r->nq++] = (struct sf_aws_kv){pair, eq ? eq + 1 : ""};
        }
    }
    snprintf(r->path, sizeof(r->path), "%s", target);
    const char *p = nl + 1;
    int last = -1;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0) { /* blank line: the body follows */
            r->body = e ? e + 1 : p + l;
            r->body_len = strlen(r->body);
            break;
        }
        if ((p[0] == ' ' || p[0] == '\t') && last >= 0) {
            if (fold) {
                size_t vl = strlen(r->values[last]);
                snprintf(r->values[last] + vl, sizeof(r->values[last]) - vl, "\n%.*s", (int)l, p);
            } else {
                memcpy(r->names[r->nh], r->names[last], sizeof(r->names[0]));
                snprintf(r->values[r->nh], sizeof(r->values[0]), "%.*s", (int)l, p);
                r->nh++;
            }
        } else {
            const char *colon = memchr(p, ':', l);
            assert_non_null(colon);
            snprintf(r->names[r->nh], sizeof(r->names[0]), "%.*s", (int)(colon - p), p);
            snprintf(r->values[r->nh], sizeof(r->values[0]), "%.*s",
                     (int)(l - (size_t)(colon - p) - 1), colon + 1);
            last = (int)r->nh++;
        }
        p += l + (e ? 1 : 0);
        if (!e)
            break;
    }
    /* the signer sets these two */
    size_t k = 0;
    for (size_t i = 0; i < r->nh; i++) {
        if (!strcasecmp(r->names[i], "X-Amz-Date")) {
            assert_string_equal(r->values[i], "20150830T123600Z");
            continue;
        }
        if (!strcasecmp(r->names[i], "X-Amz-Security-Token")) {
            snprintf(r->token, sizeof(r->token), "%s", r->values[i]);
            continue;
        }
        if (k != i) {
            memcpy(r->names[k], r->names[i], sizeof(r->names[0]));
            memcpy(r->values[k], r->values[i], sizeof(r->values[0]));
        }
        k++;
    }
    r->nh = k;
    for (size_t i = 0; i < r->nh; i++)
        r->h[i] = (struct sf_aws_kv){r->names[i], r->values[i]};
}

/* not inlined: gcc 12 at -O3 took the text tu_read returns for its local out-pointer and
 * warned of a dangling pointer in every caller (-Wdangling-pointer, a false positive) */
__attribute__((noinline)) static char *read_opt(const char *rel)
{
    size_t len;
    char *t = tu_read(rel, &len);
    if (len && t[len - 1] == '\n') /* a file may end with a newline the text does not have */
        t[len - 1] = '\0';
    return t;
}

static void sign_parsed(const struct parsed *r, const char *token, unsigned flags,
                        struct sf_sigv4_out *out)
{
    static struct sf_aws_creds c; /* out->add borrows its token: it must outlive the call */
    memset(&c, 0, sizeof(c));
    strcpy(c.access_key_id, SUITE_KEY);
    strcpy(c.secret_access_key, SUITE_SECRET);
    if (token)
        snprintf(c.session_token, sizeof(c.session_token), "%s", token);
    struct sf_sigv4_req req = {r->method, r->path, r->q, r->nq, r->h, r->nh, r->body, r->body_len};
    struct sf_sigv4_cfg cfg = {"us-east-1", "service", SUITE_TIME, flags};
    struct sf_err err = {{0}};
    int rc = sf_sigv4_sign(&req, &c, &cfg, out, &err);
    if (rc)
        fprintf(stderr, "sign: %s\n", err.msg);
    assert_int_equal(rc, SF_OK);
}

static const char *SUITE_TESTS[] = {"get-header-key-duplicate",
                                    "get-header-value-multiline",
                                    "get-header-value-order",
                                    "get-header-value-trim",
                                    "get-unreserved",
                                    "get-utf8",
                                    "get-vanilla",
                                    "get-vanilla-empty-query-key",
                                    "get-vanilla-query",
                                    "get-vanilla-query-order-key",
                                    "get-vanilla-query-order-key-case",
                                    "get-vanilla-query-order-value",
                                    "get-vanilla-query-unreserved",
                                    "get-vanilla-utf8-query",
                                    "normalize-path/get-relative",
                                    "normalize-path/get-relative-relative",
                                    "normalize-path/get-slash",
                                    "normalize-path/get-slash-dot-slash",
                                    "normalize-path/get-slash-pointless-dot",
                                    "normalize-path/get-slashes",
                                    "normalize-path/get-space",
                                    "post-header-key-case",
                                    "post-header-key-sort",
                                    "post-header-value-case",
                                    "post-sts-token/post-sts-header-after",
                                    "post-sts-token/post-sts-header-before",
                                    "post-vanilla",
                                    "post-vanilla-empty-query-value",
                                    "post-vanilla-query",
                                    "post-x-www-form-urlencoded",
                                    "post-x-www-form-urlencoded-parameters"};

static void test_sigv4_suite(void **state)
{
    (void)state;
    for (size_t i = 0; i < SF_ARRAY_LEN(SUITE_TESTS); i++) {
        const char *t = SUITE_TESTS[i], *base = strrchr(t, '/') ? strrchr(t, '/') + 1 : t;
        char rel[512];
        snprintf(rel, sizeof(rel), "tests/data/aws-sigv4/aws-sig-v4-test-suite/%s/%s", t, base);
        char p[600];
        snprintf(p, sizeof(p), "%s.req", rel);
        char *req = read_opt(p);
        snprintf(p, sizeof(p), "%s.creq", rel);
        char *creq = read_opt(p);
        snprintf(p, sizeof(p), "%s.sts", rel);
        char *sts = read_opt(p);
        snprintf(p, sizeof(p), "%s.authz", rel);
        char *authz = read_opt(p);
        static struct parsed r;
        parse_req(req, &r, 0);
        const char *token = NULL;
        unsigned flags = 0;
        static const char sts_token[] =
            "AQoDYXdzEPT//////////"
            "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8"
            "YUuwthAx7mSEI/qkPpKPi/"
            "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6f"
            "E8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
            "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
        if (strstr(t, "post-sts-header-before")) {
            assert_string_equal(r.token, sts_token);
            token = sts_token;
        } else if (strstr(t, "post-sts-header-after")) {
            token = sts_token;
            flags = SF_SIGV4_TOKEN_UNSIGNED;
        }
        struct sf_sigv4_out out;
        sign_parsed(&r, token, flags, &out);
        if (strcmp(out.canonical_request, creq) != 0)
            fprintf(stderr, "%s: canonical request\n%s\n--- expected\n%s\n", t,
                    out.canonical_request, creq);
        assert_string_equal(out.canonical_request, creq);
        assert_string_equal(out.string_to_sign, sts);
        assert_string_equal(out.authorization, authz);
        if (token) { /* the token header is added either way */
            int found = 0;
            for (size_t k = 0; k < out.n_add; k++)
                found |= !strcmp(out.add[k].name, "X-Amz-Security-Token") &&
                         !strcmp(out.add[k].value, token);
            assert_true(found);
        }
        sf_sigv4_out_fini(&out);
        free(req);
        free(creq);
        free(sts);
        free(authz);
    }
}

static void test_sigv4_aws_c_auth(void **state)
{
    (void)state;
    char dirpath[4096];
    snprintf(dirpath, sizeof(dirpath), "%s", tu_src("tests/data/aws-sigv4/aws-c-auth-v4"));
    DIR *dir = opendir(dirpath);
    assert_non_null(dir);
    int n = 0;
    for (struct dirent *de; (de = readdir(dir));) {
        char name[256];
        snprintf(name, sizeof(name), "%s", de->d_name);
        if (name[0] == '.' || !strcmp(name, "LICENSE") || !strcmp(name, "NOTICE"))
            continue;
        char rel[512];
        snprintf(rel, sizeof(rel), "tests/data/aws-sigv4/aws-c-auth-v4/%s/context.json", name);
        json_error_t je;
        json_t *ctx = json_load_file(tu_src(rel), 0, &je);
        assert_non_null(ctx);
        json_t *cred = json_object_get(ctx, "credentials");
        assert_string_equal(json_string_value(json_object_get(cred, "access_key_id")), SUITE_KEY);
        assert_string_equal(json_string_value(json_object_get(ctx, "timestamp")),
                            "2015-08-30T12:36:00Z");
        const char *token = json_string_value(json_object_get(cred, "token"));
        unsigned flags = 0;
        if (json_is_false(json_object_get(ctx, "normalize")))
            flags |= SF_SIGV4_NO_NORMALIZE;
        if (json_is_true(json_object_get(ctx, "sign_body")))
            flags |= SF_SIGV4_CONTENT_SHA256;
        if (json_is_true(json_object_get(ctx, "omit_session_token")))
            flags |= SF_SIGV4_TOKEN_UNSIGNED;
        snprintf(rel, sizeof(rel), "tests/data/aws-sigv4/aws-c-auth-v4/%s/request.txt", name);
        char *req = read_opt(rel);
        static struct parsed r;
        parse_req(req, &r, 1);
        struct sf_sigv4_out out;
        sign_parsed(&r, token, flags, &out);
        const char *files[3] = {"header-canonical-request.txt", "header-string-to-sign.txt",
                                "header-signature.txt"};
        const char *got[3] = {out.canonical_request, out.string_to_sign, out.signature};
        for (int k = 0; k < 3; k++) {
            snprintf(rel, sizeof(rel), "tests/data/aws-sigv4/aws-c-auth-v4/%s/%s", name, files[k]);
            char *want = read_opt(rel);
            if (strcmp(got[k], want) != 0)
                fprintf(stderr, "%s: %s\n%s\n--- expected\n%s\n", name, files[k], got[k], want);
            assert_string_equal(got[k], want);
            free(want);
        }
        snprintf(rel, sizeof(rel),
                 "tests/data/aws-sigv4/aws-c-auth-v4/%s/header-signed-request.txt", name);
        char *sreq = read_opt(rel);
        char line[1024];
        snprintf(line, sizeof(line), "\nAuthorization:%s\n", out.authorization);
        assert_non_null(strstr(sreq, line));
        free(sreq);
        sf_sigv4_out_fini(&out);
        free(req);
        json_decref(ctx);
        n++;
    }
    closedir(dir);
    assert_int_equal(n, 38);
}

/* ---- botocore on random requests ---- */

static uint64_t rng = 20261205;

static int pick(int n)
{
    return (int)(sf_splitmix64(&rng) % (uint64_t)n);
}

/* A random string from pieces: ASCII odd characters and multi-byte UTF-8. */
static void rand_text(char *out, size_t size, int allow_utf8)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "0",
                                         "-",
                                         "_",
                                         ".",
                                         "~",
                                         " ",
                                         "%",
                                         "+",
                                         "=",
                                         "&",
                                         "/",
                                         "?",
                                         "#",
                                         ":",
                                         "@",
                                         "!",
                                         "$",
                                         "'",
                                         "(",
                                         "*",
                                         ",",
                                         ";",
                                         "\"",
                                         "<",
                                         "\xc3\xa9",
                                         "\xe1\x88\xb4",
                                         "\xf0\x9f\x98\x80",
                                         "abc",
                                         "Value"};
    size_t n = 0, want = (size_t)pick(12);
    out[0] = '\0';
    for (size_t i = 0; i < want; i++) {
        const char *p = pieces[pick((int)SF_ARRAY_LEN(pieces) - (allow_utf8 ? 0 : 5))];
        size_t l = strlen(p);
        if (n + l + 1 >= size)
            break;
        memcpy(out + n, p, l + 1);
        n += l;
    }
}

/* A wire path: segments of odd text, percent-encoded (with some sub-delims left raw, which the
 * signer must encode), and now and then ".", ".." or an empty segment. */
static void rand_path(char *out, size_t size)
{
    char *enc = NULL;
    size_t el = 0;
    int segs = pick(5);
    assert_int_equal(sf_aws_uri_encode("/", 1, 1, &enc, &el, NULL), SF_OK);
    for (int s = 0; s < segs; s++) {
        int kind = pick(10);
        if (kind == 0)
            assert_int_equal(sf_aws_uri_encode(".", 1, 1, &enc, &el, NULL), SF_OK);
        else if (kind == 1)
            assert_int_equal(sf_aws_uri_encode("..", 2, 1, &enc, &el, NULL), SF_OK);
        else if (kind == 2) {
            static const char *const raw[] = {"a:b", "x@y", "!$&'()*+,;=", "k=v"};
            const char *r = raw[pick(4)];
            char *t = realloc(enc, el + strlen(r) + 1);
            assert_non_null(t);
            enc = t;
            strcpy(enc + el, r);
            el += strlen(r);
        } else if (kind != 3) {
            char seg[64];
            rand_text(seg, sizeof(seg), 1);
            assert_int_equal(sf_aws_uri_encode(seg, strlen(seg), 0, &enc, &el, NULL), SF_OK);
        }
        if (s + 1 < segs || pick(2))
            assert_int_equal(sf_aws_uri_encode("/", 1, 1, &enc, &el, NULL), SF_OK);
    }
    snprintf(out, size, "%s", enc);
    free(enc);
}

static void test_sigv4_botocore(void **state)
{
    (void)state;
    char path_jsonl[] = "/tmp/sf_sigv4_XXXXXX";
    int fd = mkstemp(path_jsonl);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"};
    static const char *const services[] = {"lambda", "autoscaling", "ec2"};
    static const char *const regions[] = {"us-east-1", "eu-west-3", "ap-southeast-4"};
    static const char *const hosts[] = {"lambda.eu-west-3.amazonaws.com", "127.0.0.1:8123",
                                        "ec2.us-east-1.amazonaws.com"};
    static const char *const hnames[] = {"Content-Type",
                                         "content-type",
                                         "X-Amz-Target",
                                         "X-Amz-Invocation-Type",
                                         "My-Header",
                                         "MY-HEADER",
                                         "a",
                                         "Z-Last",
                                         "Content-Length",
                                         "User-Agent",
                                         "Expect",
                                         "X-Amzn-Trace-Id",
                                         "x-amz-meta-odd_name"};
    const int N = 400;
    for (int i = 0; i < N; i++) {
        char path[1024], host[128];
        rand_path(path, sizeof(path));
        snprintf(host, sizeof(host), "%s", hosts[pick(3)]);
        int nq = pick(5), nh = pick(6);
        static char qk[8][128], qv[8][128], hv[8][128];
        struct sf_aws_kv q[8], h[9];
        for (int k = 0; k < nq; k++) {
            rand_text(qk[k], sizeof(qk[k]), 1);
            if (k && pick(3) == 0)
                memcpy(qk[k], qk[k - 1], sizeof(qk[k])); /* a repeated name: sorted by value */
            rand_text(qv[k], sizeof(qv[k]), 1);
            q[k] = (struct sf_aws_kv){qk[k], qv[k]};
        }
        h[0] = (struct sf_aws_kv){"Host", host};
        for (int k = 0; k < nh; k++) {
            static const char *const pads[] = {"", " ", "  ", "\t", " \t "};
            char core[96];
            rand_text(core, sizeof(core), 0);
            snprintf(hv[k], sizeof(hv[k]), "%s%s%s%s", pads[pick(5)], core,
                     pick(2) ? "   inner  run" : "", pads[pick(5)]);
            h[k + 1] = (struct sf_aws_kv){hnames[pick((int)SF_ARRAY_LEN(hnames))], hv[k]};
        }
        unsigned char body[200];
        size_t blen = (size_t)pick(3) ? (size_t)pick((int)sizeof(body)) : 0;
        for (size_t k = 0; k < blen; k++)
            body[k] = (unsigned char)sf_splitmix64(&rng);
        struct sf_aws_creds c;
        memset(&c, 0, sizeof(c));
        snprintf(c.access_key_id, sizeof(c.access_key_id), "AKIA%012d", pick(1000000));
        snprintf(c.secret_access_key, sizeof(c.secret_access_key), "secret/%d+key=%d", pick(1000),
                 pick(1000));
        if (pick(2))
            snprintf(c.session_token, sizeof(c.session_token),
                     "IQoJb3JpZ2luX2Vj%d/+abc==", pick(99999));
        const char *svc = services[pick(3)], *region = regions[pick(3)];
        int64_t t = 1500000000 + pick(400000000);
        struct sf_sigv4_req req = {methods[pick(6)], path, q,   (size_t)nq, h,
                                   (size_t)nh + 1,   body, blen};
        struct sf_sigv4_cfg cfg = {region, svc, t, 0};
        struct sf_sigv4_out out;
        struct sf_err err = {{0}};
        int rc = sf_sigv4_sign(&req, &c, &cfg, &out, &err);
        if (rc)
            fprintf(stderr, "sign: %s\n", err.msg);
        assert_int_equal(rc, SF_OK);
        /* the URL as the client sends it */
        char *url = NULL;
        size_t ul = 0;
        char prefix[1200];
        snprintf(prefix, sizeof(prefix), "http://%s%s", host, path);
        url = strdup(prefix);
        ul = strlen(url);
        for (int k = 0; k < nq; k++) {
            assert_int_equal(sf_aws_uri_encode(k ? "&" : "?", 1, 1, &url, &ul, NULL), SF_OK);
            url[ul - 3] = '\0'; /* "?" and "&" were encoded: put them back raw */
            ul -= 3;
            char *t2 = realloc(url, ul + 2);
            url = t2;
            url[ul++] = k ? '&' : '?';
            url[ul] = '\0';
            assert_int_equal(sf_aws_uri_encode(qk[k], strlen(qk[k]), 0, &url, &ul, NULL), SF_OK);
            t2 = realloc(url, ul + 2);
            url = t2;
            url[ul++] = '=';
            url[ul] = '\0';
            assert_int_equal(sf_aws_uri_encode(qv[k], strlen(qv[k]), 0, &url, &ul, NULL), SF_OK);
        }
        json_t *hl = json_array();
        for (int k = 0; k <= nh; k++)
            json_array_append_new(hl, json_pack("[ss]", h[k].name, h[k].value));
        char *hex = malloc(blen * 2 + 1);
        for (size_t k = 0; k < blen; k++)
            sprintf(hex + 2 * k, "%02x", body[k]);
        hex[blen * 2] = '\0';
        json_t *line = json_pack(
            "{ss ss so ss ss ss ss ss ss ss ss ss}", "method", req.method, "url", url, "headers",
            hl, "body_hex", hex, "region", region, "service", svc, "access_key", c.access_key_id,
            "secret_key", c.secret_access_key, "token", c.session_token, "amz_date", out.amz_date,
            "authorization", out.authorization, "creq", out.canonical_request);
        assert_non_null(line);
        char *s = json_dumps(line, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(line);
        free(hex);
        free(url);
        sf_sigv4_out_fini(&out);
    }
    assert_int_equal(fclose(f), 0);
    char outpath[] = "/tmp/sf_sigv4_out_XXXXXX";
    int ofd = mkstemp(outpath);
    assert_true(ofd >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ofd, 1);
        char *argv[] = {"/usr/bin/python3", (char *)tu_src("tests/aws_fake/sigv4_botocore.py"),
                        path_jsonl, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(ofd);
    size_t len;
    char *text;
    struct sf_err err = {{0}};
    assert_int_equal(sf_read_file(outpath, 1 << 20, &text, &len, &err), SF_OK);
    char want[64];
    snprintf(want, sizeof(want), "checked %d, 0 differ", N);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(text, want))
        fprintf(stderr, "botocore cross-check:\n%s\n", text);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(text, want));
    free(text);
    unlink(outpath);
    unlink(path_jsonl);
}

static void test_sigv4_refusals(void **state)
{
    (void)state;
    struct sf_aws_creds c;
    memset(&c, 0, sizeof(c));
    strcpy(c.access_key_id, SUITE_KEY);
    strcpy(c.secret_access_key, SUITE_SECRET);
    struct sf_aws_kv host = {"Host", "example.com"};
    struct sf_aws_kv bad[][2] = {{{"Host", "h"}, {"X-Amz-Date", "x"}},
                                 {{"Host", "h"}, {"Authorization", "x"}},
                                 {{"Host", "h"}, {"Bad Name", "x"}},
                                 {{"Host", "h"}, {"", "x"}},
                                 {{"My", "x"}, {"Other", "y"}}};
    struct sf_sigv4_cfg cfg = {"us-east-1", "service", SUITE_TIME, 0};
    struct sf_sigv4_out out;
    struct sf_err err = {{0}};
    for (size_t i = 0; i < SF_ARRAY_LEN(bad); i++) {
        struct sf_sigv4_req req = {"GET", "/", NULL, 0, bad[i], 2, NULL, 0};
        assert_int_equal(sf_sigv4_sign(&req, &c, &cfg, &out, &err), SF_EINVAL);
        assert_true(err.msg[0] != '\0');
    }
    struct sf_sigv4_req ok = {"GET", "/", NULL, 0, &host, 1, NULL, 0};
    struct sf_sigv4_cfg noregion = {"", "service", SUITE_TIME, 0};
    assert_int_equal(sf_sigv4_sign(&ok, &c, &noregion, &out, &err), SF_EINVAL);
    struct sf_aws_creds empty;
    memset(&empty, 0, sizeof(empty));
    assert_int_equal(sf_sigv4_sign(&ok, &empty, &cfg, &out, &err), SF_EINVAL);
    /* a value above the cap is refused, not cut */
    char *big = malloc(SF_AWS_VALUE_MAX + 2);
    memset(big, 'v', SF_AWS_VALUE_MAX + 1);
    big[SF_AWS_VALUE_MAX + 1] = '\0';
    struct sf_aws_kv hb[2] = {{"Host", "h"}, {"Big", big}};
    struct sf_sigv4_req rb = {"GET", "/", NULL, 0, hb, 2, NULL, 0};
    assert_int_equal(sf_sigv4_sign(&rb, &c, &cfg, &out, &err), SF_ETOOBIG);
    free(big);
    /* S3 style: the path as it is */
    struct sf_sigv4_req s3 = {"GET", "/my-object//example//photo.user", NULL, 0, &host, 1, NULL, 0};
    struct sf_sigv4_cfg s3cfg = {"us-east-1", "s3", SUITE_TIME,
                                 SF_SIGV4_NO_NORMALIZE | SF_SIGV4_PATH_AS_IS};
    assert_int_equal(sf_sigv4_sign(&s3, &c, &s3cfg, &out, &err), SF_OK);
    assert_non_null(strstr(out.canonical_request, "\n/my-object//example//photo.user\n"));
    sf_sigv4_out_fini(&out);
    /* others: normalised and encoded again */
    struct sf_sigv4_req en = {"GET", "/a/./b/../fn%3Aalias//", NULL, 0, &host, 1, NULL, 0};
    assert_int_equal(sf_sigv4_sign(&en, &c, &cfg, &out, &err), SF_OK);
    assert_non_null(strstr(out.canonical_request, "\n/a/fn%253Aalias/\n"));
    sf_sigv4_out_fini(&out);
}

static void test_uri_encode(void **state)
{
    (void)state;
    char *o = NULL;
    size_t n = 0;
    assert_int_equal(sf_aws_uri_encode("a b/~é+*", 9, 0, &o, &n, NULL), SF_OK);
    assert_string_equal(o, "a%20b%2F~%C3%A9%2B%2A");
    free(o);
    o = NULL;
    assert_int_equal(sf_aws_uri_encode("a b/c", 5, 1, &o, &n, NULL), SF_OK);
    assert_string_equal(o, "a%20b/c");
    free(o);
}

/* ---- redaction ---- */

static void test_redact(void **state)
{
    (void)state;
    static const char *const secrets[] = {"wJalrXUtnFEMI", "AQoDYXdzEPT", "f00dfeed", "TOKEN123abc",
                                          "s3cr3t"};
    const char *text =
        "POST / HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/"
        "service/aws4_request, SignedHeaders=host, Signature=f00dfeed\r\n"
        "x-amz-security-token:AQoDYXdzEPT//+==\n"
        "X-aws-ec2-metadata-token: TOKEN123abc\n"
        "{\"Code\": \"Success\", \"AccessKeyId\": \"ASIA1\", \"SecretAccessKey\": "
        "\"wJalrXUtnFEMI\\\"x\", \"Token\" : \"AQoDYXdzEPT\", \"Expiration\": \"2026\"}\n"
        "GET /?X-Amz-Signature=f00dfeed&X-Amz-Credential=AKID%2Fx&Other=1\n"
        "aws_secret_access_key = s3cr3t\naws_session_token=AQoDYXdzEPT\n"
        "env AWS_SECRET_ACCESS_KEY=s3cr3t AWS_SESSION_TOKEN=AQoDYXdzEPT done\n"
        "tokenizer: not a secret name; MyAuthorization: kept";
    char out[4096];
    sf_aws_redact(out, sizeof(out), text, strlen(text));
    for (size_t i = 0; i < SF_ARRAY_LEN(secrets); i++) {
        if (strstr(out, secrets[i]))
            fprintf(stderr, "redacted text still has %s:\n%s\n", secrets[i], out);
        assert_null(strstr(out, secrets[i]));
    }
    /* what is not secret stays */
    assert_non_null(strstr(out, "\"AccessKeyId\": \"ASIA1\""));
    assert_non_null(strstr(out, "\"Expiration\": \"2026\""));
    assert_non_null(strstr(out, "Other=1"));
    assert_non_null(strstr(out, "MyAuthorization: kept"));
    assert_non_null(strstr(out, "Authorization: [redacted]"));
    assert_non_null(strstr(out, "done"));
    /* control bytes are escaped */
    assert_null(strchr(out, '\r'));
    /* a small buffer cuts, never overflows */
    char small[24];
    sf_aws_redact(small, sizeof(small), text, strlen(text));
    assert_true(strlen(small) < sizeof(small));
}

/* ---- INI ---- */

struct collected {
    char lines[16][256];
    int n;
};

static int collect(void *ctx, const char *section, const char *key, const char *value, int line)
{
    struct collected *c = ctx;
    if (c->n < 16)
        snprintf(c->lines[c->n++], 256, "%d [%s] %s=%s", line, section, key, value);
    return SF_OK;
}

static void test_ini(void **state)
{
    (void)state;
    const char *text = "\xef\xbb\xbf# comment\n[default]\naws_access_key_id = AKID \r\n"
                       "; another\n[profile dev]\nRegion: eu-west-3\ns3 =\n"
                       "  max_concurrent_requests = 20\n\n[ spaced ]\nk=v=w\n";
    struct collected c = {0};
    struct sf_err err = {{0}};
    assert_int_equal(sf_aws_ini_parse(text, strlen(text), "cfg", collect, &c, &err), SF_OK);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.lines[0], "3 [default] aws_access_key_id=AKID");
    assert_string_equal(c.lines[1], "6 [profile dev] region=eu-west-3");
    assert_string_equal(c.lines[2], "7 [profile dev] s3=");
    assert_string_equal(c.lines[3], "8 [profile dev] s3.max_concurrent_requests=20");
    assert_string_equal(c.lines[4], "11 [spaced] k=v=w");
    struct {
        const char *text, *msg;
    } bad[] = {{"k = v\n", "f:1: setting before any [section]"},
               {"[a]\njunk line\n", "f:2: expected '[section]' or 'name = value'"},
               {"[a\n", "f:1: section header without ']'"},
               {"[ ]\n", "f:1: empty section name"},
               {"[a]\n = v\n", "f:2: empty name"},
               {"[a]\ns3 =\n  nonsense\n", "f:3: expected 'name = value' under 's3'"}};
    for (size_t i = 0; i < SF_ARRAY_LEN(bad); i++) {
        struct collected c2 = {0};
        assert_int_equal(
            sf_aws_ini_parse(bad[i].text, strlen(bad[i].text), "f", collect, &c2, &err), SF_EPARSE);
        assert_non_null(strstr(err.msg, bad[i].msg));
    }
    char *longline = malloc(SF_AWS_INI_LINE_MAX + 10);
    memset(longline, 'x', SF_AWS_INI_LINE_MAX + 5);
    longline[SF_AWS_INI_LINE_MAX + 5] = '\0';
    assert_int_equal(sf_aws_ini_parse(longline, strlen(longline), "f", collect, &c, &err),
                     SF_ETOOBIG);
    assert_non_null(strstr(err.msg, "f:1: line longer than"));
    free(longline);
}

/* ---- credentials chain ---- */

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
    struct sf_err err = {{0}};
    assert_int_equal(sf_write_file_atomic(p, text, strlen(text), &err), SF_OK);
}

static void env_clear(void)
{
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_SECURITY_TOKEN",
                                       "AWS_PROFILE",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_EC2_METADATA_DISABLED",
                                       "AWS_SHARED_CREDENTIALS_FILE",
                                       "AWS_CONFIG_FILE"};
    for (size_t i = 0; i < SF_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
}

static void files_env(void)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/credentials", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    snprintf(p, sizeof(p), "%s/config", tmpdir);
    setenv("AWS_CONFIG_FILE", p, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void test_creds_chain(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/sf_awscfg_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    env_clear();
    files_env();
    write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                              "aws_secret_access_key = secretfile\n"
                              "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=sdev\n"
                              "aws_session_token=tokdev\n"
                              "[half]\naws_access_key_id=AKIDHALF\n");
    write_file("config", "[default]\nregion = us-west-2\n[profile dev]\nregion=eu-west-3\n"
                         "[profile cfgonly]\naws_access_key_id=AKIDCFG\n"
                         "aws_secret_access_key=scfg\n"
                         "[profile role]\nrole_arn = arn:aws:iam::1:role/x\n"
                         "source_profile = default\n");
    struct sf_aws_credp *p;
    struct sf_aws_creds c;
    struct sf_err err = {{0}};
    char region[64];
    /* 1. the environment wins */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
    setenv("AWS_SESSION_TOKEN", "tokenv", 1);
    assert_int_equal(sf_aws_credp_new(&p, NULL, &err), SF_OK);
    assert_int_equal(sf_aws_credp_get(p, &c, &err), SF_OK);
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_string_equal(c.session_token, "tokenv");
    assert_string_equal(sf_aws_credp_source(p), "environment");
    sf_aws_credp_free(p);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(sf_aws_credp_new(&p, NULL, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SESSION_TOKEN");
    /* 2. the credentials file's default profile */
    assert_int_equal(sf_aws_credp_new(&p, NULL, &err), SF_OK);
    assert_int_equal(sf_aws_credp_get(p, &c, &err), SF_OK);
    assert_string_equal(c.access_key_id, "AKIDFILE");
    assert_string_equal(c.session_token, "");
    assert_string_equal(sf_aws_credp_source(p), "shared-credentials-file");
    sf_aws_credp_free(p);
    assert_int_equal(sf_aws_region_resolve(NULL, region, sizeof(region), &err), SF_OK);
    assert_string_equal(region, "us-west-2");
    /* AWS_PROFILE picks another, with its token and its region */
    setenv("AWS_PROFILE", "dev", 1);
    assert_int_equal(sf_aws_credp_new(&p, NULL, &err), SF_OK);
    assert_int_equal(sf_aws_credp_get(p, &c, &err), SF_OK);
    assert_string_equal(c.access_key_id, "AKIDDEV");
    assert_string_equal(c.session_token, "tokdev");
    sf_aws_credp_free(p);
    assert_int_equal(sf_aws_region_resolve(NULL, region, sizeof(region), &err), SF_OK);
    assert_string_equal(region, "eu-west-3");
    setenv("AWS_REGION", "ca-central-1", 1);
    assert_int_equal(sf_aws_region_resolve(NULL, region, sizeof(region), &err), SF_OK);
    assert_string_equal(region, "ca-central-1");
    unsetenv("AWS_REGION");
    /* 3. the config file when the credentials file lacks the profile */
    struct sf_aws_credp_cfg cfg = {"cfgonly", NULL};
    assert_int_equal(sf_aws_credp_new(&p, &cfg, &err), SF_OK);
    assert_int_equal(sf_aws_credp_get(p, &c, &err), SF_OK);
    assert_string_equal(c.access_key_id, "AKIDCFG");
    assert_string_equal(sf_aws_credp_source(p), "config-file");
    sf_aws_credp_free(p);
    /* refusals: a half profile, an assume-role profile, an unknown profile */
    cfg.profile = "half";
    assert_int_equal(sf_aws_credp_new(&p, &cfg, &err), SF_EINVAL);
    assert_non_null(strstr(err.msg, "must come together"));
    cfg.profile = "role";
    assert_int_equal(sf_aws_credp_new(&p, &cfg, &err), SF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "config:9: role_arn"));
    cfg.profile = "nosuch";
    assert_int_equal(sf_aws_credp_new(&p, &cfg, &err), SF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "profile nosuch"));
    /* a syntax error says file:line */
    write_file("config", "[default]\nregion = us-west-2\nnot a setting\n");
    unsetenv("AWS_PROFILE");
    assert_int_equal(sf_aws_credp_new(&p, NULL, &err), SF_EPARSE);
    assert_non_null(strstr(err.msg, "config:3: expected"));
    /* nothing anywhere and IMDS disabled: created, then get says why */
    write_file("config", "");
    write_file("credentials", "");
    assert_int_equal(sf_aws_credp_new(&p, NULL, &err), SF_OK);
    assert_int_equal(sf_aws_credp_get(p, &c, &err), SF_EDENIED);
    assert_non_null(strstr(err.msg, "AWS_EC2_METADATA_DISABLED"));
    sf_aws_credp_free(p);
    char rm[128];
    snprintf(rm, sizeof(rm), "%s/credentials", tmpdir);
    unlink(rm);
    snprintf(rm, sizeof(rm), "%s/config", tmpdir);
    unlink(rm);
    rmdir(tmpdir);
    env_clear();
}

/* ---- retries ---- */

static void test_retry_rules(void **state)
{
    (void)state;
    assert_int_equal(sf_aws_classify(200, ""), SF_AWS_OK);
    assert_int_equal(sf_aws_classify(400, "Throttling"), SF_AWS_THROTTLED);
    assert_int_equal(sf_aws_classify(503, "RequestLimitExceeded"), SF_AWS_THROTTLED);
    assert_int_equal(sf_aws_classify(429, "TooManyRequestsException"), SF_AWS_THROTTLED);
    assert_int_equal(sf_aws_classify(429, ""), SF_AWS_THROTTLED);
    assert_int_equal(sf_aws_classify(500, "InternalFailure"), SF_AWS_SERVER_ERROR);
    assert_int_equal(sf_aws_classify(502, ""), SF_AWS_SERVER_ERROR);
    assert_int_equal(sf_aws_classify(400, "RequestTimeout"), SF_AWS_SERVER_ERROR);
    assert_int_equal(sf_aws_classify(403, "SignatureDoesNotMatch"), SF_AWS_AUTH_ERROR);
    assert_int_equal(sf_aws_classify(400, "ValidationError"), SF_AWS_CLIENT_ERROR);
    assert_int_equal(sf_aws_classify(413, "RequestTooLargeException"), SF_AWS_TOO_LARGE);
    assert_true(sf_aws_outcome_retryable(SF_AWS_TIMEOUT));
    assert_true(sf_aws_outcome_retryable(SF_AWS_CONNECT_ERROR));
    assert_false(sf_aws_outcome_retryable(SF_AWS_CLIENT_ERROR));
    assert_false(sf_aws_outcome_retryable(SF_AWS_FUNCTION_ERROR));
    assert_int_equal(sf_aws_outcome_status(SF_AWS_THROTTLED), SF_ETHROTTLED);
    assert_int_equal(sf_aws_outcome_status(SF_AWS_TIMEOUT), SF_ETIMEDOUT);
    assert_int_equal(sf_aws_outcome_status(SF_AWS_SERVER_ERROR), SF_EREMOTE);
    /* full jitter: u x 2^(attempt-1), capped at 20 s */
    assert_true(sf_aws_backoff_s(1, 0.5) == 0.5);
    assert_true(sf_aws_backoff_s(3, 0.5) == 2.0);
    assert_true(sf_aws_backoff_s(10, 0.999) == SF_AWS_BACKOFF_MAX_S);
    assert_true(sf_aws_backoff_s(2, 0.0) == 0.0);
    /* the quota: 500, 5 per retry, 10 per timeout retry, refunds capped at the start */
    struct sf_aws_quota *q = sf_aws_quota_new(SF_AWS_RETRY_QUOTA);
    int taken = 0;
    while (sf_aws_quota_acquire(q, SF_AWS_RETRY_COST))
        taken++;
    assert_int_equal(taken, SF_AWS_RETRY_QUOTA / SF_AWS_RETRY_COST);
    assert_int_equal(sf_aws_quota_available(q), 0);
    sf_aws_quota_release(q, SF_AWS_RETRY_TIMEOUT_COST);
    assert_int_equal(sf_aws_quota_available(q), 10);
    assert_false(sf_aws_quota_acquire(q, 11));
    sf_aws_quota_release(q, 100000);
    assert_int_equal(sf_aws_quota_available(q), SF_AWS_RETRY_QUOTA);
    sf_aws_quota_free(q);
    /* the IAM table covers each call once */
    size_t n;
    const struct sf_aws_op *ops = sf_aws_ops(&n);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_non_null(strchr(ops[i].iam_action, ':'));
}

/* ---- XML and Lambda readers ---- */

static void test_xml_readers(void **state)
{
    (void)state;
    char code[64], msg[128];
    const char *qerr = "<ErrorResponse xmlns=\"https://autoscaling.amazonaws.com/doc/2011-01-01/\">"
                       "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded"
                       "</Message></Error><RequestId>r1</RequestId></ErrorResponse>";
    assert_int_equal(sf_aws_xml_error(qerr, strlen(qerr), code, sizeof(code), msg, sizeof(msg)),
                     SF_OK);
    assert_string_equal(code, "Throttling");
    assert_string_equal(msg, "Rate exceeded");
    const char *eerr = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>RequestLimitExceeded"
                       "</Code><Message>m</Message></Error></Errors><RequestID>x</RequestID>"
                       "</Response>";
    assert_int_equal(sf_aws_xml_error(eerr, strlen(eerr), code, sizeof(code), msg, sizeof(msg)),
                     SF_OK);
    assert_string_equal(code, "RequestLimitExceeded");
    const char *dtd = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]>"
                      "<ErrorResponse><Error><Code>&a;</Code></Error></ErrorResponse>";
    assert_int_equal(sf_aws_xml_error(dtd, strlen(dtd), code, sizeof(code), msg, sizeof(msg)),
                     SF_EPARSE);
    assert_int_equal(sf_aws_xml_error("<a>", 3, code, sizeof(code), msg, sizeof(msg)), SF_EPARSE);
    /* an empty code is no error answer (found by fuzz_aws_xml) */
    const char *nocode = "<ErrorResponse><Error><Type>Sender</Type><Code></Code><Message>Rate "
                         "exceeded</Message></Error></ErrorResponse>";
    assert_int_equal(sf_aws_xml_error(nocode, strlen(nocode), code, sizeof(code), msg, sizeof(msg)),
                     SF_EPARSE);

    const char *asg =
        "<DescribeAutoScalingGroupsResponse xmlns=\"http://autoscaling.amazonaws.com/doc/"
        "2011-01-01/\"><DescribeAutoScalingGroupsResult><AutoScalingGroups><member>"
        "<AutoScalingGroupName>other</AutoScalingGroupName><MinSize>0</MinSize>"
        "<MaxSize>1</MaxSize><DesiredCapacity>0</DesiredCapacity></member><member>"
        "<AutoScalingGroupName>g</AutoScalingGroupName><MinSize>0</MinSize><MaxSize>8</MaxSize>"
        "<DesiredCapacity>2</DesiredCapacity><Instances><member><InstanceId>i-1</InstanceId>"
        "<AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>InService"
        "</LifecycleState><HealthStatus>Healthy</HealthStatus></member><member><InstanceId>i-2"
        "</InstanceId><LifecycleState>Pending</LifecycleState><HealthStatus>Healthy"
        "</HealthStatus></member></Instances></member></AutoScalingGroups>"
        "</DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";
    struct sf_aws_asg g;
    struct sf_err err = {{0}};
    assert_int_equal(sf_aws_xml_read_asg(asg, strlen(asg), "g", &g, &err), SF_OK);
    assert_int_equal(g.max_size, 8);
    assert_int_equal(g.desired_capacity, 2);
    assert_int_equal(g.n_instances, 2);
    assert_string_equal(g.instances[1].instance_id, "i-2");
    assert_string_equal(g.instances[1].lifecycle_state, "Pending");
    sf_aws_asg_fini(&g);
    assert_int_equal(sf_aws_xml_read_asg(asg, strlen(asg), "nosuch", &g, &err), SF_ENOTFOUND);
    char *bad = tu_replace(asg, "<MaxSize>8", "<MaxSize>-8", NULL);
    assert_int_equal(sf_aws_xml_read_asg(bad, strlen(bad), "g", &g, &err), SF_EPARSE);
    free(bad);

    const char *inst =
        "<DescribeInstancesResponse><requestId>r</requestId><reservationSet><item><instancesSet>"
        "<item><instanceId>i-1</instanceId><instanceState><code>16</code><name>running</name>"
        "</instanceState><privateIpAddress>10.0.0.5</privateIpAddress></item><item><instanceId>"
        "i-2</instanceId><instanceState><code>0</code><name>pending</name></instanceState></item>"
        "</instancesSet></item></reservationSet><nextToken>tok</nextToken>"
        "</DescribeInstancesResponse>";
    struct sf_aws_ec2_instance ins[4];
    int n = 0;
    char next[64];
    assert_int_equal(
        sf_aws_xml_read_instances(inst, strlen(inst), ins, 4, &n, next, sizeof(next), &err), SF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ins[0].private_ip, "10.0.0.5");
    assert_string_equal(ins[1].private_ip, "");
    assert_string_equal(ins[1].state, "pending");
    assert_string_equal(next, "tok");
    n = 0;
    assert_int_equal(
        sf_aws_xml_read_instances(inst, strlen(inst), ins, 1, &n, next, sizeof(next), &err),
        SF_ETOOBIG);

    const char *th = "<DescribeTargetHealthResponse><DescribeTargetHealthResult>"
                     "<TargetHealthDescriptions><member><Target><Id>i-1</Id><Port>8080</Port>"
                     "</Target><TargetHealth><State>healthy</State></TargetHealth></member>"
                     "</TargetHealthDescriptions></DescribeTargetHealthResult>"
                     "</DescribeTargetHealthResponse>";
    struct sf_aws_target_health t[2];
    assert_int_equal(sf_aws_xml_read_target_health(th, strlen(th), t, 2, &n, &err), SF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].port, 8080);
    assert_string_equal(t[0].state, "healthy");
}

static void test_lambda_report(void **state)
{
    (void)state;
    const char *log = "START RequestId: 1 Version: $LATEST\nEND RequestId: 1\nREPORT RequestId: 1"
                      "\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 1769 MB\t"
                      "Max Memory Used: 70 MB\t\n";
    struct sf_aws_invoke r;
    memset(&r, 0, sizeof(r));
    r.billed_duration_s = r.duration_s = -1;
    sf_aws_lambda_read_report(log, strlen(log), &r);
    assert_true(r.billed_duration_s > 0.0129 && r.billed_duration_s < 0.0131);
    assert_true(r.duration_s > 0.01233 && r.duration_s < 0.01235);
    assert_int_equal(r.memory_mb, 1769);
    memset(&r, 0, sizeof(r));
    r.billed_duration_s = -1;
    sf_aws_lambda_read_report("no report", 9, &r);
    assert_true(r.billed_duration_s < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_suite),
        cmocka_unit_test(test_sigv4_aws_c_auth),
        cmocka_unit_test(test_sigv4_botocore),
        cmocka_unit_test(test_sigv4_refusals),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_ini),
        cmocka_unit_test(test_creds_chain),
        cmocka_unit_test(test_retry_rules),
        cmocka_unit_test(test_xml_readers),
        cmocka_unit_test(test_lambda_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
