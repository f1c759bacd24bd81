/* py_read.c - the hot read path of pymurr's embedded mode (libmurr_py only, not murr.h:
 * conveniences of this binding; docs/decisions/0011-python-package.md, measured in
 * docs/benchmarks.md):
 *  - murr_py_read_joined: the read of a table keyed by one utf8 column with the keys as one
 *    buffer separated by NUL bytes (Python's "\0".join(keys).encode(), one C-level pass)
 *    instead of a pyarrow array built from the list;
 *  - murr_py_batch_columns: the result's column buffers in one call, so read_numpy builds
 *    numpy arrays over them without pyarrow (and without a ctypes access per field). */
#include "murr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The joined buffer does not hold exactly num_keys keys (a key contains NUL): not an error
 * of the caller's, who reads the keys the general way. Outside the MURR_E* codes. */
#define MURR_PY_ESPLIT (-2)
/* int64 fields per column of murr_py_batch_columns */
#define MURR_PY_COL_FIELDS 5

MURR_API int murr_py_read_joined(murr_db *db, const char *table, const char *joined, size_t len, size_t num_keys,
                                 const char *const *columns, size_t num_columns, unsigned flags, murr_batch **out,
                                 murr_error *err);
MURR_API int64_t murr_py_batch_columns(const murr_batch *b, int64_t *out, size_t cap);

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
        rc = MURR_PY_ESPLIT;
    else
        rc = murr_read_opt(db, table, keys, lens, num_keys, columns, num_columns, flags, out, err);
    free(keys);
    free(lens);
    return rc;
}

/* Per column, MURR_PY_COL_FIELDS int64s: values address, values bytes, dtype, dim,
 * null_count. Returns the batch's row count, or -1 when cap fields are too few. The values
 * bytes are rows x width (rows x dim x element width for a fixed list); other layouts
 * (utf8, bool, variable lists) report 0 and are read through pyarrow. */
MURR_API int64_t murr_py_batch_columns(const murr_batch *b, int64_t *out, size_t cap)
{
    if ((size_t)b->num_columns > cap / MURR_PY_COL_FIELDS)
        return -1;
    static const int8_t width[MURR_DTYPE_COUNT] = {
        [MURR_INT8] = 1,  [MURR_INT16] = 2,  [MURR_INT32] = 4,   [MURR_INT64] = 8,   [MURR_UINT8] = 1,
        [MURR_UINT16] = 2, [MURR_UINT32] = 4, [MURR_UINT64] = 8, [MURR_FLOAT32] = 4, [MURR_FLOAT64] = 8,
        [MURR_LIST_FLOAT32] = 4, [MURR_LIST_FLOAT16] = 2, [MURR_LIST_INT8] = 1,
    };
    for (int32_t i = 0; i < b->num_columns; i++) {
        const murr_column *c = &b->columns[i];
        int64_t *f = out + (size_t)i * MURR_PY_COL_FIELDS;
        int64_t per_row = (unsigned)c->dtype < MURR_DTYPE_COUNT ? width[c->dtype] : 0;
        if (c->dtype >= MURR_LIST_FLOAT32)
            per_row *= c->dim; /* 0 for a variable list */
        f[0] = (int64_t)(uintptr_t)c->values;
        f[1] = per_row * b->num_rows;
        f[2] = c->dtype;
        f[3] = c->dim;
        f[4] = c->null_count;
    }
    return b->num_rows;
}
