/* fuzz_auth.c - libFuzzer target for the identity headers and key lines between the serving
 * processes (auth.h): any X-Serflow-Auth value or SERFLOW_AUTH line is parsed or refused cleanly,
 * a parsed token never checks under a key it was not made with, a signed one always checks, and a
 * response MAC is accepted only when it is the right one. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct sf_err err = {{0}};
    struct sf_auth_token t;
    struct sf_auth a, b;
    static const unsigned char key[SF_AUTH_KEY_BYTES] = {1, 2, 3};
    if (sf_auth_parse_request(text, &t, &err) == SF_OK) {
        /* fuzzed bytes cannot forge a MAC for a key they do not know */
        if (sf_auth_check_request(key, &t, "POST", "/v1/batch", &err) == SF_OK)
            abort();
    }
    if (sf_auth_parse_line(text, &a, &err) == SF_OK) {
        char line[SF_AUTH_PRINCIPAL_MAX + 2 * SF_AUTH_KEY_BYTES + 8], hdr[SF_AUTH_HEADER_BYTES],
            nonce[33];
        sf_auth_line(&a, line, sizeof(line));
        if (sf_auth_parse_line(line, &b, &err) != SF_OK || strcmp(a.principal, b.principal) ||
            memcmp(a.key, b.key, SF_AUTH_KEY_BYTES))
            abort(); /* a key line round-trips */
        if (sf_auth_sign_request(&a, "GET", text, hdr, sizeof(hdr), nonce) == SF_OK) {
            if (sf_auth_parse_request(hdr, &t, &err) != SF_OK ||
                sf_auth_check_request(a.key, &t, "GET", text, &err) != SF_OK)
                abort(); /* what we sign, we accept */
            if (sf_auth_check_request(a.key, &t, "POST", text, &err) == SF_OK)
                abort(); /* for that method and path only */
        }
        char mac[80];
        sf_auth_sign_response(a.key, "00", 200, mac, sizeof(mac));
        if (sf_auth_check_response(a.key, "00", 200, mac) != SF_OK ||
            sf_auth_check_response(a.key, "00", 500, mac) == SF_OK)
            abort();
    }
    if (sf_auth_check_response(key, "00", 200, text) == SF_OK)
        abort();
    char path[256];
    sf_auth_url_path(text, path, sizeof(path));
    if (strlen(path) >= sizeof(path))
        abort();
    free(text);
    return 0;
}
