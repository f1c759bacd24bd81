/* batch_list.c - list (embedding vector) columns of a batch: allocation, invariants and
 * conversion into a table column's element type and shape (decision 0012). Layout: murr.h. */
#include "core/batch.h"
#include "core/half.h"

#include <math.h>
#include <string.h>

int mr_batch_list_alloc(mr_batch_t *b, int32_t col, murr_dtype t, int32_t dim, bool with_validity, int64_t nelems)
{
    mr_column_t *c = &b->columns[col];
    int64_t rows = b->num_rows;
    size_t w = mr_list_elem_width(t);
    MR_RETURN_NOT_OK(mr_batch_column_alloc(b, col, MURR_INT32, with_validity, 0)); /* validity; values replaced */
    c->dtype = t;
    c->dim = dim;
    if (dim > 0) {
        c->values = mr_batch_alloc(b, (size_t)rows * (size_t)dim * w); /* every row is written by the caller */
        return c->values == NULL ? MURR_ENOMEM : 0;
    }
    c->values = mr_batch_calloc(b, (size_t)(rows + 1) * 4);
    c->data = mr_batch_alloc(b, (size_t)nelems * w);
    c->data_len = nelems * (int64_t)w;
    return c->values == NULL || c->data == NULL ? MURR_ENOMEM : 0;
}

int64_t mr_list_len(const mr_column_t *c, int64_t row)
{
    if (c->dim > 0)
        return c->dim;
    const int32_t *off = c->values;
    return off[row + 1] - off[row];
}

const uint8_t *mr_list_elems(const mr_column_t *c, int64_t row)
{
    size_t w = mr_list_elem_width(c->dtype);
    if (c->dim > 0)
        return (const uint8_t *)c->values + (size_t)row * (size_t)c->dim * w;
    return c->data + (size_t)((const int32_t *)c->values)[row] * w;
}

int mr_list_column_validate(const mr_column_t *c, int64_t rows, mr_error_t *err)
{
    if (c->dim < 0 || c->dim > MURR_LIST_DIM_MAX)
        return mr_err_set(err, MURR_ECORRUPT, "column '%s': list dimension %d is outside 0..%d", c->name, c->dim,
                          MURR_LIST_DIM_MAX);
    if (c->dim > 0)
        return 0;
    const int32_t *off = c->values;
    if (off == NULL)
        return mr_err_set(err, MURR_ECORRUPT, "column '%s': missing list offsets buffer", c->name);
    if (off[0] < 0)
        return mr_err_set(err, MURR_ECORRUPT, "column '%s': first list offset %d is negative", c->name, off[0]);
    for (int64_t r = 0; r < rows; r++)
        if (off[r + 1] < off[r])
            return mr_err_set(err, MURR_ECORRUPT, "column '%s' row %lld: list offset %d is less than the previous offset %d",
                              c->name, (long long)r, off[r + 1], off[r]);
    int64_t elems = c->data_len / (int64_t)mr_list_elem_width(c->dtype);
    if (off[rows] > elems)
        return mr_err_set(err, MURR_ECORRUPT, "column '%s': last list offset %d exceeds the %lld elements of its values",
                          c->name, off[rows], (long long)elems);
    return 0;
}

/* ---- element conversion ---- */

static double load_elem(murr_dtype t, const uint8_t *p, int64_t i)
{
    switch (t) {
    case MURR_LIST_FLOAT32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case MURR_LIST_FLOAT16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return mr_half_to_float(h);
    }
    default: return (int8_t)p[i];
    }
}

/* Stores v as element i of type t; false if an int8 target cannot hold it exactly. */
static bool store_elem(murr_dtype t, uint8_t *p, int64_t i, double v)
{
    switch (t) {
    case MURR_LIST_FLOAT32: {
        float f = (float)v;
        memcpy(p + 4 * i, &f, 4);
        return true;
    }
    case MURR_LIST_FLOAT16: {
        uint16_t h = mr_float_to_half((float)v);
        memcpy(p + 2 * i, &h, 2);
        return true;
    }
    default:
        if (!(v >= -128 && v <= 127) || v != trunc(v))
            return false;
        p[i] = (uint8_t)(int8_t)v;
        return true;
    }
}

int mr_list_convert_elems(murr_dtype from, const uint8_t *src, murr_dtype to, uint8_t *dst, int64_t n, int64_t *bad)
{
    if (from == to) {
        memcpy(dst, src, (size_t)n * mr_list_elem_width(to));
        return 0;
    }
    for (int64_t i = 0; i < n; i++)
        if (!store_elem(to, dst, i, load_elem(from, src, i))) {
            *bad = i;
            return MURR_EINVAL;
        }
    return 0;
}

double mr_list_elem_value(murr_dtype t, const uint8_t *elems, int64_t i) { return load_elem(t, elems, i); }

int mr_list_column_convert(mr_batch_t *owner, const mr_column_t *src, int64_t rows, murr_dtype to, int32_t to_dim,
                           bool strict, mr_column_t *out, mr_error_t *err)
{
    char want[64], got[64];
    mr_dtype_describe(to, to_dim, want, sizeof(want));
    mr_dtype_describe(src->dtype, src->dim, got, sizeof(got));
    if (!mr_dtype_is_list(src->dtype))
        return mr_err_set(err, MURR_EINVAL, "column '%s': expected %s, got %s (no conversion between these types)",
                          src->name, want, got);
    if (src->dtype == to && src->dim == to_dim) {
        *out = *src;
        return 0;
    }
    if (strict && !mr_list_widens_losslessly(src->dtype, to))
        return mr_err_set(err, MURR_EINVAL,
                          "column '%s': expected %s, got %s; %s elements -> %s may lose information: cast the "
                          "column to %s on the client, or declare it \"strict\": false",
                          src->name, want, got, mr_list_elem_name(src->dtype), mr_list_elem_name(to), want);
    if (to_dim > 0 && src->dim > 0 && src->dim != to_dim)
        return mr_err_set(err, MURR_EINVAL, "column '%s': vectors of dimension %d, the column's dimension is %d", src->name,
                          src->dim, to_dim);
    int64_t nelems = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (!murr_column_is_valid(src, r))
            continue;
        int64_t n = mr_list_len(src, r);
        if (to_dim > 0 && n != to_dim)
            return mr_err_set(err, MURR_EINVAL, "column '%s' row %lld: vector has %lld elements, the column's dimension is %d",
                              src->name, (long long)r, (long long)n, to_dim);
        nelems += n;
    }
    size_t w = mr_list_elem_width(to);
    *out = *src;
    out->dtype = to;
    out->dim = to_dim;
    out->data = NULL;
    out->data_len = 0;
    int32_t *offs = NULL;
    if (to_dim > 0) {
        out->values = mr_batch_calloc(owner, (size_t)rows * (size_t)to_dim * w);
    } else {
        if (nelems > INT32_MAX)
            return mr_err_set(err, MURR_ETOOBIG, "column '%s': %lld list elements exceed the %d of one batch", src->name,
                              (long long)nelems, INT32_MAX);
        out->values = offs = mr_batch_calloc(owner, (size_t)(rows + 1) * 4);
        out->data = mr_batch_alloc(owner, (size_t)nelems * w);
        out->data_len = nelems * (int64_t)w;
    }
    if (out->values == NULL || (to_dim == 0 && out->data == NULL))
        return mr_err_set(err, MURR_ENOMEM, "column '%s': cannot allocate %lld list elements", src->name,
                          (long long)nelems);
    int64_t pos = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = murr_column_is_valid(src, r) ? mr_list_len(src, r) : 0;
        uint8_t *dst = to_dim > 0 ? (uint8_t *)out->values + (size_t)r * (size_t)to_dim * w : out->data + (size_t)pos * w;
        int64_t bad = 0;
        if (n > 0 && mr_list_convert_elems(src->dtype, mr_list_elems(src, r), to, dst, n, &bad) != 0)
            return mr_err_set(err, MURR_EINVAL, "column '%s' row %lld: element %lld (%.17g) does not fit %s exactly",
                              src->name, (long long)r, (long long)bad,
                              mr_list_elem_value(src->dtype, mr_list_elems(src, r), bad), mr_list_elem_name(to));
        pos += n;
        if (offs)
            offs[r + 1] = (int32_t)pos;
    }
    return 0;
}
