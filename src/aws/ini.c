/*
 * ini.c - the reader of the SDKs' shared credentials and config files (~/.aws/credentials,
 * ~/.aws/config): the INI dialect of Python's configparser as botocore uses it. Sections in
 * brackets; `key = value` or `key: value` (keys lower-cased, key and value trimmed); comment
 * lines starting with # or ;; an indented `sub = value` under a `key =` with an empty value is a
 * sub-setting ("key.sub"); other indented lines continue a value and are skipped. Every syntax
 * error is "name:line: problem".
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

int sf_aws_ini_parse(const char *text, size_t len, const char *name, sf_aws_ini_fn fn, void *ctx,
                     struct sf_err *err)
{
    char section[SF_AWS_INI_LINE_MAX] = "", parent[SF_AWS_INI_LINE_MAX] = "";
    char key[SF_AWS_INI_LINE_MAX * 2 + 2], value[SF_AWS_INI_LINE_MAX];
    int have_section = 0, have_key = 0, lineno = 0;
    size_t pos = sf_bom_len(text, len);
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && line[n - 1] == '\r')
            n--;
        if (n >= SF_AWS_INI_LINE_MAX)
            return sf_err_set(err, SF_ETOOBIG, "%s:%d: line longer than %d bytes", name, lineno,
                              SF_AWS_INI_LINE_MAX - 1);
        if (memchr(line, '\0', n))
            return sf_err_set(err, SF_EPARSE, "%s:%d: NUL byte", name, lineno);
        int indented = n && (line[0] == ' ' || line[0] == '\t');
        const char *s = line;
        size_t sl = n;
        trim(&s, &sl);
        if (sl == 0 || s[0] == '#' || s[0] == ';')
            continue;
        if (indented && have_key) {
            if (!parent[0])
                continue; /* continues a value: no setting we read spans lines */
            const char *eq = memchr(s, '=', sl);
            if (!eq)
                return sf_err_set(err, SF_EPARSE, "%s:%d: expected 'name = value' under '%s'", name,
                                  lineno, parent);
            const char *k = s, *v = eq + 1;
            size_t kl = (size_t)(eq - s), vl = sl - kl - 1;
            trim(&k, &kl);
            trim(&v, &vl);
            if (!kl)
                return sf_err_set(err, SF_EPARSE, "%s:%d: empty name", name, lineno);
            size_t pl = strlen(parent);
            memcpy(key, parent, pl);
            key[pl] = '.';
            for (size_t i = 0; i < kl; i++)
                key[pl + 1 + i] = (char)tolower((unsigned char)k[i]);
            key[pl + 1 + kl] = '\0';
            memcpy(value, v, vl);
            value[vl] = '\0';
            int rc = fn(ctx, section, key, value, lineno);
            if (rc)
                return rc;
            continue;
        }
        if (s[0] == '[') {
            if (s[sl - 1] != ']')
                return sf_err_set(err, SF_EPARSE, "%s:%d: section header without ']'", name,
                                  lineno);
            const char *sn = s + 1;
            size_t snl = sl - 2;
            trim(&sn, &snl);
            if (!snl)
                return sf_err_set(err, SF_EPARSE, "%s:%d: empty section name", name, lineno);
            memcpy(section, sn, snl);
            section[snl] = '\0';
            have_section = 1;
            have_key = 0;
            parent[0] = '\0';
            continue;
        }
        size_t d = 0;
        while (d < sl && s[d] != '=' && s[d] != ':')
            d++;
        if (d == sl)
            return sf_err_set(err, SF_EPARSE, "%s:%d: expected '[section]' or 'name = value'", name,
                              lineno);
        if (!have_section)
            return sf_err_set(err, SF_EPARSE, "%s:%d: setting before any [section]", name, lineno);
        const char *k = s, *v = s + d + 1;
        size_t kl = d, vl = sl - d - 1;
        trim(&k, &kl);
        trim(&v, &vl);
        if (!kl)
            return sf_err_set(err, SF_EPARSE, "%s:%d: empty name", name, lineno);
        for (size_t i = 0; i < kl; i++)
            key[i] = (char)tolower((unsigned char)k[i]);
        key[kl] = '\0';
        memcpy(value, v, vl);
        value[vl] = '\0';
        have_key = 1;
        if (vl == 0)
            memcpy(parent, key, kl + 1);
        else
            parent[0] = '\0';
        int rc = fn(ctx, section, key, value, lineno);
        if (rc)
            return rc;
    }
    return SF_OK;
}
