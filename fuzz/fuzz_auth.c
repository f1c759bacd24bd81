/* libFuzzer driver: access control's untrusted inputs (server/auth.h). The input is split at
 * its first '\n': the part before is a tokens file (scopes parser), the rest an
 * Authorization header value checked as Bearer and as Basic (base64) against that set, or
 * against a fixed set when the file does not parse. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mr_auth_t *fixed;
    if (fixed == NULL) {
        const char t[] = "read r0123456789abcdef\nwrite,admin w0123456789abcdef\n";
        if (mr_auth_parse(t, sizeof(t) - 1, "fixed", &fixed, NULL) != 0)
            abort();
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t flen = nl ? (size_t)(nl - data) : 0;
    mr_auth_t *a = NULL;
    if (flen > 0 && mr_auth_parse((const char *)data, flen, "fuzz", &a, NULL) != 0)
        a = NULL;
    const char *h = (const char *)data + (nl ? flen + 1 : 0);
    size_t hl = size - (size_t)(h - (const char *)data);
    char *copy = malloc(hl + 1); /* the server hands the checks NUL-free bounded slices */
    memcpy(copy, h, hl);
    copy[hl] = '\0';
    unsigned have;
    mr_auth_check_bearer(a ? a : fixed, copy, hl, MR_AUTH_READ, &have);
    char *scratch = malloc(hl + 1);
    const char *tok;
    size_t tl;
    if (mr_auth_check_basic(a ? a : fixed, copy, hl, scratch, &tok, &tl) == MR_AUTH_OK && tl > hl)
        abort();
    free(scratch);
    free(copy);
    mr_auth_unref(a);
    return 0;
}
