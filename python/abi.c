/* abi.c - what libmurr_py adds to libmurr for pymurr:
 *  - murr_py_abi_version: pymurr refuses a library built from another release of the C
 *    API than the one its ctypes declarations describe;
 *  - murr_py_read_joined: the read of a table keyed by one utf8 column with the keys as one
 *    buffer, separated by NUL bytes (Python's "\0".join(keys).encode(), a single C-level
 *    pass), instead of a pyarrow array built from the list (the larger part of an embedded
 *    read of 1,000 keys; docs/benchmarks.md). */
#include "murr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MURR_API const char *murr_py_abi_version(void);
MURR_API int murr_py_read_joined(murr_db *db, const char *table, const char *joined, size_t len, size_t num_keys,
                                 const char *const *columns, size_t num_columns, unsigned flags, murr_batch **out,
                                 murr_error *err);

MURR_API const char *murr_py_abi_version(void) { return MURR_VERSION; }

static int fail(murr_error *err, int code, const char *msg)
{
    if (err) {
        err->code = code;
        snprintf(err->message, sizeof(err->message), "%s", msg);
    }
    return code;
}

MURR_API int murr_py_read_joined(murr_db *db, const char *table, const char *joined, size_t len, size_t num_keys,
                                 const char *const *columns, size_t num_columns, unsigned flags, murr_batch **out,
                                 murr_error *err)
{
    if (num_keys == 0 || num_keys > len + 1)
        return fail(err, MURR_EINVAL, "joined keys: key count does not fit the buffer");
    const char **keys = malloc(num_keys * sizeof(*keys));
    size_t *lens = malloc(num_keys * sizeof(*lens));
    if (keys == NULL || lens == NULL) {
        free(keys);
        free(lens);
        return fail(err, MURR_ENOMEM, "joined keys: cannot allocate the key arrays");
    }
    const char *p = joined, *end = joined + len;
    size_t i = 0;
    for (; i < num_keys && p <= end; i++) {
        const char *q = memchr(p, '\0', (size_t)(end - p));
        if (q == NULL)
            q = end;
        keys[i] = p;
        lens[i] = (size_t)(q - p);
        p = q + 1;
    }
    int rc;
    if (i != num_keys || p != end + 1)
        rc = fail(err, MURR_EINVAL, "joined keys: the buffer does not hold exactly the given number of keys");
    else
        rc = murr_read_opt(db, table, keys, lens, num_keys, columns, num_columns, flags, out, err);
    free(keys);
    free(lens);
    return rc;
}
