/*
 * redact.c - sf_aws_redact: text safe to log. Secrets (signatures, secret keys, session and
 * metadata tokens) are found by the names they travel under (HTTP headers, JSON members, query
 * parameters, INI keys, environment assignments) and replaced by "[redacted]"; what is left is
 * escaped for a terminal.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws_int.h"

static const char *const SECRET_NAMES[] = {
    /* headers */
    "authorization", "x-amz-security-token", "x-aws-ec2-metadata-token",
    /* JSON members (IMDS, credential_process, SDK config dumps), quotes included */
    "\"secretaccesskey\"", "\"token\"", "\"sessiontoken\"", "\"secret_access_key\"",
    "\"session_token\"",
    /* presigned URL parameters */
    "x-amz-signature", "x-amz-credential",
    /* shared files and the environment */
    "aws_secret_access_key", "aws_session_token", "aws_security_token"};

static int word(unsigned char ch)
{
    return isalnum(ch) || ch == '_' || ch == '-';
}

/* Length of the secret name at text[i] (0 when none starts there). */
static size_t secret_name_at(const char *text, size_t len, size_t i)
{
    if (i > 0 && word((unsigned char)text[i - 1]))
        return 0;
    for (size_t k = 0; k < SF_ARRAY_LEN(SECRET_NAMES); k++) {
        size_t n = strlen(SECRET_NAMES[k]);
        if (n <= len - i && !strncasecmp(text + i, SECRET_NAMES[k], n) &&
            (i + n == len || !word((unsigned char)text[i + n])))
            return n;
    }
    return 0;
}

char *sf_aws_redact(char *out, size_t out_size, const char *text, size_t len)
{
    struct sf__abuf b;
    sf__abuf_init(&b, 4 * len + 64);
    size_t i = 0;
    while (i < len) {
        size_t n = secret_name_at(text, len, i);
        if (!n) {
            sf__abuf_ch(&b, text[i++]);
            continue;
        }
        size_t j = i + n;
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
            j++;
        if (j >= len || (text[j] != ':' && text[j] != '=')) {
            sf__abuf_add(&b, text + i, n);
            i += n;
            continue;
        }
        char sep = text[j++];
        while (j < len && (text[j] == ' ' || text[j] == '\t'))
            j++;
        sf__abuf_add(&b, text + i, j - i); /* the name, the separator, the spaces */
        if (j < len && text[j] == '"') {   /* a quoted value: to its closing quote */
            size_t e = j + 1;
            while (e < len && text[e] != '"' && text[e] != '\n')
                e += text[e] == '\\' && e + 1 < len ? 2 : 1;
            sf__abuf_str(&b, "\"[redacted]");
            i = e; /* the closing quote (if any) is copied next */
        } else {
            size_t e = j;
            if (sep == ':') /* a header: the rest of the line */
                while (e < len && text[e] != '\n' && text[e] != '\r')
                    e++;
            else /* a parameter or assignment: one word */
                while (e < len && !strchr("&\n\r\t ,;\"'", text[e]))
                    e++;
            sf__abuf_str(&b, "[redacted]");
            i = e;
        }
    }
    if (b.status) {
        sf__abuf_fini(&b);
        sf_str_escape(out, out_size, "[redacted: too long]", 20);
        return out;
    }
    sf_str_escape(out, out_size, b.p ? b.p : "", b.len);
    sf__abuf_fini(&b);
    return out;
}
