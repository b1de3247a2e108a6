/*
 * creds.c - credentials in the SDKs' order: the environment, the shared credentials file, the
 * config file, then the instance role through IMDSv2 (token, role name, credentials), refreshed
 * before they expire. One mutex guards the cache and the metadata connection, so every thread
 * of a process can share a provider.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws_int.h"

/* IMDS tokens are ~56 characters; role names at most 64 (IAM). */
#define IMDS_TOKEN_MAX 1024
#define ROLE_NAME_MAX  65

enum source { SRC_NONE, SRC_ENV, SRC_CREDFILE, SRC_CONFIG, SRC_IMDS, SRC_STATIC };

struct sf_aws_credp {
    pthread_mutex_t mu;
    struct sf__hooks hooks;
    enum source src;
    struct sf_aws_creds creds;
    int have;
    int imds_enabled;
    char imds_endpoint[SF_AWS_URL_MAX];
    char imds_token[IMDS_TOKEN_MAX];
    double imds_token_expires_mono_s;
    int imds_fetches;
    CURL *curl;
};

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v && !strcasecmp(v, "true");
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* ---- shared files ---- */

struct profile_scan {
    const char *want_cred; /* section name in the credentials file, or NULL */
    const char *want_cfg;  /* "profile NAME" in the config file, or NULL */
    int is_default;
    int found;
    struct sf_aws_creds c;
    int have_id, have_secret;
    char region[SF_AWS_NAME_MAX];
    char unsupported[64];
    int unsupported_line;
    const char *file;
    struct sf_err *err;
};

static int scan_fn(void *ctx, const char *section, const char *key, const char *value, int line)
{
    struct profile_scan *s = ctx;
    int match = (s->want_cred && !strcmp(section, s->want_cred)) ||
                (s->want_cfg &&
                 (!strcmp(section, s->want_cfg) || (s->is_default && !strcmp(section, "default"))));
    if (!match)
        return SF_OK;
    s->found = 1;
    size_t n = strlen(value);
    if (!strcmp(key, "aws_access_key_id")) {
        if (n >= sizeof(s->c.access_key_id))
            return sf_err_set(s->err, SF_ETOOBIG, "%s:%d: aws_access_key_id: longer than %d",
                              s->file, line, SF_AWS_KEY_ID_MAX - 1);
        memcpy(s->c.access_key_id, value, n + 1);
        s->have_id = n > 0;
    } else if (!strcmp(key, "aws_secret_access_key")) {
        if (n >= sizeof(s->c.secret_access_key))
            return sf_err_set(s->err, SF_ETOOBIG, "%s:%d: aws_secret_access_key: longer than %d",
                              s->file, line, SF_AWS_SECRET_MAX - 1);
        memcpy(s->c.secret_access_key, value, n + 1);
        s->have_secret = n > 0;
    } else if (!strcmp(key, "aws_session_token") || !strcmp(key, "aws_security_token")) {
        if (n >= sizeof(s->c.session_token))
            return sf_err_set(s->err, SF_ETOOBIG, "%s:%d: %s: longer than %d", s->file, line, key,
                              SF_AWS_TOKEN_MAX - 1);
        memcpy(s->c.session_token, value, n + 1);
    } else if (!strcmp(key, "region")) {
        if (n >= sizeof(s->region))
            return sf_err_set(s->err, SF_ETOOBIG, "%s:%d: region: longer than %d", s->file, line,
                              SF_AWS_NAME_MAX - 1);
        memcpy(s->region, value, n + 1);
    } else if (!strcmp(key, "role_arn") || !strcmp(key, "credential_process") ||
               !strcmp(key, "sso_start_url") || !strcmp(key, "sso_session") ||
               !strcmp(key, "web_identity_token_file") || !strcmp(key, "credential_source")) {
        if (!s->unsupported[0]) {
            snprintf(s->unsupported, sizeof(s->unsupported), "%s", key);
            s->unsupported_line = line;
        }
    }
    return SF_OK;
}

/* Reads one shared file for the profile. A missing file is no error (*found stays 0). */
static int scan_file(const char *path, struct profile_scan *s, struct sf_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = sf_read_file(path, SF_AWS_CONFIG_FILE_BYTES, &text, &len, err);
    if (rc == SF_ENOTFOUND) {
        sf_err_clear(err);
        return SF_OK;
    }
    if (rc)
        return rc;
    s->file = path;
    s->err = err;
    rc = sf_aws_ini_parse(text, len, path, scan_fn, s, err);
    OPENSSL_cleanse(text, len);
    free(text);
    if (rc == SF_OK && s->unsupported[0])
        rc = sf_err_set(err, SF_EUNSUPPORTED,
                        "%s:%d: %s: this profile gets its credentials in a way serflow does not "
                        "support (assume-role, process, SSO, web identity); give it static keys, "
                        "use the environment or the instance role",
                        path, s->unsupported_line, s->unsupported);
    return rc;
}

static void default_path(char *out, size_t size, const char *env_name, const char *rel)
{
    const char *e = env(env_name), *home = env("HOME");
    if (e)
        snprintf(out, size, "%s", e);
    else if (home)
        snprintf(out, size, "%s/.aws/%s", home, rel);
    else
        out[0] = '\0';
}

static const char *profile_name(const char *given)
{
    if (given && *given)
        return given;
    const char *p = env("AWS_PROFILE");
    return p ? p : "default";
}

/* Looks the profile up in the credentials then the config file: creds (if any), region. */
static int scan_profile(const char *profile, int want_creds, struct sf_aws_creds *out,
                        enum source *src, char *region, size_t region_size, struct sf_err *err)
{
    char cred_path[SF_PATH_BYTES], cfg_path[SF_PATH_BYTES], cfg_section[SF_AWS_INI_LINE_MAX];
    default_path(cred_path, sizeof(cred_path), "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    default_path(cfg_path, sizeof(cfg_path), "AWS_CONFIG_FILE", "config");
    snprintf(cfg_section, sizeof(cfg_section), "profile %s", profile);
    int is_default = !strcmp(profile, "default");
    struct profile_scan a = {.want_cred = profile, .is_default = is_default};
    struct profile_scan b = {.want_cfg = cfg_section, .is_default = is_default};
    int rc = SF_OK;
    if (want_creds && cred_path[0])
        rc = scan_file(cred_path, &a, err);
    if (!rc && cfg_path[0])
        rc = scan_file(cfg_path, &b, err);
    if (rc)
        goto done;
    if (region && region_size) {
        region[0] = '\0';
        if (b.region[0])
            snprintf(region, region_size, "%s", b.region);
    }
    if (!want_creds)
        goto done;
    struct profile_scan *use[2] = {&a, &b};
    const char *paths[2] = {cred_path, cfg_path};
    for (int i = 0; i < 2; i++) {
        struct profile_scan *s = use[i];
        if (!s->have_id && !s->have_secret)
            continue;
        if (!s->have_id || !s->have_secret) {
            rc = sf_err_set(err, SF_EINVAL,
                            "%s: profile %s: aws_access_key_id and aws_secret_access_key must "
                            "come together",
                            paths[i], profile);
            goto done;
        }
        *out = s->c;
        *src = i ? SRC_CONFIG : SRC_CREDFILE;
        goto done;
    }
    if (strcmp(profile, "default") != 0 && !a.found && !b.found)
        rc = sf_err_set(err, SF_ENOTFOUND, "profile %s: in neither %s nor %s", profile,
                        cred_path[0] ? cred_path : "(no credentials file)",
                        cfg_path[0] ? cfg_path : "(no config file)");
done:
    sf_aws_creds_wipe(&a.c);
    sf_aws_creds_wipe(&b.c);
    return rc;
}

int sf_aws_region_resolve(const char *profile, char *out, size_t size, struct sf_err *err)
{
    const char *r = env("AWS_REGION");
    if (!r)
        r = env("AWS_DEFAULT_REGION");
    if (r) {
        if (strlen(r) >= size)
            return sf_err_set(err, SF_EINVAL, "AWS_REGION: too long");
        snprintf(out, size, "%s", r);
        return SF_OK;
    }
    struct sf_aws_creds unused;
    enum source src = SRC_NONE;
    int rc = scan_profile(profile_name(profile), 0, &unused, &src, out, size, err);
    if (rc)
        return rc;
    if (!out[0])
        return sf_err_set(err, SF_ENOTFOUND,
                          "no region: set AWS_REGION or region in the profile's config");
    return SF_OK;
}

/* ---- the provider ---- */

static struct sf_aws_credp *credp_alloc(const struct sf_aws_hooks *hooks)
{
    struct sf_aws_credp *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    sf__hooks_init(&p->hooks, hooks);
    return p;
}

int sf_aws_credp_new_static(struct sf_aws_credp **out, const struct sf_aws_creds *c,
                            struct sf_err *err)
{
    *out = NULL;
    if (!c->access_key_id[0] || !c->secret_access_key[0])
        return sf_err_set(err, SF_EINVAL, "credentials: empty access key or secret");
    struct sf_aws_credp *p = credp_alloc(NULL);
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "credentials: no memory");
    p->creds = *c;
    p->have = 1;
    p->src = SRC_STATIC;
    *out = p;
    return SF_OK;
}

int sf_aws_credp_new(struct sf_aws_credp **out, const struct sf_aws_credp_cfg *cfg,
                     struct sf_err *err)
{
    *out = NULL;
    struct sf_aws_credp *p = credp_alloc(cfg ? cfg->hooks : NULL);
    if (!p)
        return sf_err_set(err, SF_ENOMEM, "credentials: no memory");
    int rc = SF_OK;
    const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if (id || secret) {
        if (!id || !secret) {
            rc = sf_err_set(err, SF_EINVAL, "%s is set but %s is not",
                            id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                            id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
            goto fail;
        }
        const char *tok = env("AWS_SESSION_TOKEN");
        if (!tok)
            tok = env("AWS_SECURITY_TOKEN");
        if ((rc = sf__copy(p->creds.access_key_id, sizeof(p->creds.access_key_id), id,
                           "AWS_ACCESS_KEY_ID", err)) ||
            (rc = sf__copy(p->creds.secret_access_key, sizeof(p->creds.secret_access_key), secret,
                           "AWS_SECRET_ACCESS_KEY", err)) ||
            (rc = sf__copy(p->creds.session_token, sizeof(p->creds.session_token), tok,
                           "AWS_SESSION_TOKEN", err)))
            goto fail;
        p->have = 1;
        p->src = SRC_ENV;
        *out = p;
        return SF_OK;
    }
    enum source src = SRC_NONE;
    rc = scan_profile(profile_name(cfg ? cfg->profile : NULL), 1, &p->creds, &src, NULL, 0, err);
    if (rc)
        goto fail;
    if (src != SRC_NONE) {
        p->have = 1;
        p->src = src;
        *out = p;
        return SF_OK;
    }
    p->imds_enabled = !env_true("AWS_EC2_METADATA_DISABLED");
    const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if ((rc = sf__copy(p->imds_endpoint, sizeof(p->imds_endpoint),
                       ep ? ep : "http://169.254.169.254", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                       err)))
        goto fail;
    size_t el = strlen(p->imds_endpoint);
    while (el && p->imds_endpoint[el - 1] == '/')
        p->imds_endpoint[--el] = '\0';
    if (strncmp(p->imds_endpoint, "http://", 7) && strncmp(p->imds_endpoint, "https://", 8)) {
        rc = sf_err_set(err, SF_EINVAL, "AWS_EC2_METADATA_SERVICE_ENDPOINT: not an http URL");
        goto fail;
    }
    *out = p;
    return SF_OK;
fail:
    sf_aws_credp_free(p);
    return rc;
}

void sf_aws_credp_free(struct sf_aws_credp *p)
{
    if (!p)
        return;
    if (p->curl)
        curl_easy_cleanup(p->curl);
    pthread_mutex_destroy(&p->mu);
    OPENSSL_cleanse(p, sizeof(*p));
    free(p);
}

/* ---- IMDSv2 ---- */

static int imds_call(struct sf_aws_credp *p, const char *method, const char *path,
                     const char *header, struct sf__resp *resp, struct sf_err *err)
{
    if (!p->curl && !(p->curl = curl_easy_init()))
        return sf_err_set(err, SF_ENOMEM, "imds: curl_easy_init failed");
    char url[SF_AWS_URL_MAX + 128];
    snprintf(url, sizeof(url), "%s%s", p->imds_endpoint, path);
    const char *hl[2] = {header, NULL};
    enum sf_aws_outcome tr;
    p->imds_fetches++;
    int rc = sf__http_do(p->curl, method, url, hl, method[0] == 'P' ? "" : NULL, 0,
                         SF_AWS_IMDS_TIMEOUT_S, SF_AWS_IMDS_TIMEOUT_S, SF_AWS_IMDS_MAX_BYTES, resp,
                         &tr, err);
    sf__log(&p->hooks, "imds: %s %s -> %ld", method, path, rc ? 0L : resp->status);
    return rc;
}

static int imds_token(struct sf_aws_credp *p, struct sf_err *err)
{
    double now = p->hooks.h.mono_s(p->hooks.h.ctx);
    if (p->imds_token[0] && now < p->imds_token_expires_mono_s - 60)
        return SF_OK;
    char ttl[96];
    snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d", SF_AWS_IMDS_TOKEN_TTL_S);
    struct sf__resp r;
    int rc = imds_call(p, "PUT", "/latest/api/token", ttl, &r, err);
    if (rc)
        return rc;
    if (r.status != 200 || r.len == 0 || r.len >= sizeof(p->imds_token) ||
        memchr(r.body, '\n', r.len) || memchr(r.body, '\r', r.len) || strlen(r.body) != r.len) {
        rc = sf_err_set(err, r.status == 200 ? SF_EPARSE : SF_EDENIED,
                        "imds: PUT /latest/api/token: HTTP %ld%s", r.status,
                        r.status == 200 ? ", not a token" : "");
        sf__resp_fini(&r);
        return rc;
    }
    memcpy(p->imds_token, r.body, r.len + 1);
    p->imds_token_expires_mono_s = now + SF_AWS_IMDS_TOKEN_TTL_S;
    sf__resp_fini(&r);
    return SF_OK;
}

/* GET path with the token; a 401 (token expired) gets one new token and one more try. */
static int imds_get(struct sf_aws_credp *p, const char *path, struct sf__resp *r,
                    struct sf_err *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = imds_token(p, err);
        if (rc)
            return rc;
        char h[IMDS_TOKEN_MAX + 64];
        snprintf(h, sizeof(h), "X-aws-ec2-metadata-token: %s", p->imds_token);
        rc = imds_call(p, "GET", path, h, r, err);
        OPENSSL_cleanse(h, sizeof(h));
        if (rc)
            return rc;
        if (r->status == 401 && attempt == 0) {
            sf__resp_fini(r);
            p->imds_token[0] = '\0';
            continue;
        }
        if (r->status != 200) {
            rc = sf_err_set(err, r->status == 404 ? SF_EDENIED : SF_EIO, "imds: GET %s: HTTP %ld%s",
                            path, r->status,
                            r->status == 404 ? " (no instance role attached?)" : "");
            sf__resp_fini(r);
            return rc;
        }
        return SF_OK;
    }
    return sf_err_set(err, SF_EDENIED, "imds: GET %s: token refused twice", path);
}

static int role_char(unsigned char ch)
{
    return isalnum(ch) || strchr("+=,.@_-", ch) != NULL;
}

/* "2026-12-05T21:14:32Z" -> Unix seconds. */
static int parse_iso8601(const char *s, double *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        s[n] != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return -1;
    /* days from 1970-01-01 of a proleptic Gregorian date (timegm is not POSIX) */
    int y = tm.tm_year - (tm.tm_mon <= 2), m = tm.tm_mon;
    int era = y / 400, yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + tm.tm_mday - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = (long)era * 146097 + doe - 719468;
    *out = (double)days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return 0;
}

static int imds_fetch(struct sf_aws_credp *p, struct sf_err *err)
{
    static const char base[] = "/latest/meta-data/iam/security-credentials/";
    struct sf__resp r;
    int rc = imds_get(p, base, &r, err);
    if (rc)
        return rc;
    char role[ROLE_NAME_MAX];
    size_t n = 0;
    while (n < r.len && r.body[n] != '\n' && r.body[n] != '\r')
        n++;
    int ok = n > 0 && n < sizeof(role);
    for (size_t i = 0; ok && i < n; i++)
        ok = role_char((unsigned char)r.body[i]);
    if (ok) {
        memcpy(role, r.body, n);
        role[n] = '\0';
    }
    sf__resp_fini(&r);
    if (!ok)
        return sf_err_set(err, SF_EPARSE, "imds: GET %s: not a role name", base);
    char path[sizeof(base) + ROLE_NAME_MAX];
    snprintf(path, sizeof(path), "%s%s", base, role);
    if ((rc = imds_get(p, path, &r, err)))
        return rc;
    json_error_t je;
    json_t *j = json_loadb(r.body, r.len, JSON_REJECT_DUPLICATES, &je);
    sf__resp_fini(&r);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return sf_err_set(err, SF_EPARSE, "imds: GET %s: not a JSON object", path);
    }
    const char *code = json_string_value(json_object_get(j, "Code"));
    const char *id = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *tok = json_string_value(json_object_get(j, "Token"));
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    struct sf_aws_creds c;
    memset(&c, 0, sizeof(c));
    if (!code || strcmp(code, "Success") != 0) {
        rc = sf_err_set(err, SF_EDENIED, "imds: role %s: Code is not Success", role);
    } else if (!id || !secret || !tok || !exp || !*id || !*secret) {
        rc = sf_err_set(err, SF_EPARSE,
                        "imds: role %s: AccessKeyId, SecretAccessKey, Token and Expiration are "
                        "required",
                        role);
    } else if (parse_iso8601(exp, &c.expires_s)) {
        rc =
            sf_err_set(err, SF_EPARSE, "imds: role %s: Expiration: not YYYY-MM-DDTHH:MM:SSZ", role);
    } else if (!(rc = sf__copy(c.access_key_id, sizeof(c.access_key_id), id, "imds AccessKeyId",
                               err)) &&
               !(rc = sf__copy(c.secret_access_key, sizeof(c.secret_access_key), secret,
                               "imds SecretAccessKey", err)) &&
               !(rc = sf__copy(c.session_token, sizeof(c.session_token), tok, "imds Token", err))) {
        p->creds = c;
        p->have = 1;
        p->src = SRC_IMDS;
        sf__log(&p->hooks, "imds: credentials of role %s, expire %s", role, exp);
    }
    sf_aws_creds_wipe(&c);
    json_decref(j);
    return rc;
}

int sf_aws_credp_get(struct sf_aws_credp *p, struct sf_aws_creds *out, struct sf_err *err)
{
    pthread_mutex_lock(&p->mu);
    int rc = SF_OK;
    if (p->src == SRC_NONE || p->src == SRC_IMDS) {
        double now = p->hooks.h.wall_s(p->hooks.h.ctx);
        int due = !p->have || now >= p->creds.expires_s - SF_AWS_REFRESH_ADVISORY_S;
        if (due && !p->imds_enabled) {
            rc = sf_err_set(err, SF_EDENIED,
                            "no AWS credentials: none in the environment, the shared files or "
                            "the profile, and AWS_EC2_METADATA_DISABLED is true");
        } else if (due) {
            struct sf_err e2 = {{0}};
            rc = imds_fetch(p, &e2);
            if (rc && p->have && now < p->creds.expires_s - SF_AWS_REFRESH_MANDATORY_S) {
                sf__log(&p->hooks, "imds: refresh failed, keeping the current credentials: %s",
                        e2.msg);
                rc = SF_OK;
            } else if (rc) {
                p->have = 0;
                sf_err_set(err, rc,
                           "no AWS credentials: none in the environment or the shared "
                           "files; instance role: %s",
                           e2.msg);
            }
        }
    }
    if (!rc)
        *out = p->creds;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

const char *sf_aws_credp_source(struct sf_aws_credp *p)
{
    static const char *const names[] = {"none yet",    "environment",   "shared-credentials-file",
                                        "config-file", "instance-role", "static"};
    pthread_mutex_lock(&p->mu);
    const char *s = names[p->src];
    pthread_mutex_unlock(&p->mu);
    return s;
}

int sf_aws_credp_imds_fetches(struct sf_aws_credp *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->imds_fetches;
    pthread_mutex_unlock(&p->mu);
    return n;
}
