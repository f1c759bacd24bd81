/* batch.c - columnar batch allocation, builders, validation and conversions. */
#include "core/batch.h"
#include "core/budget.h"
#include "core/alloc.h"
#include "core/utf8.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct batch_holder {
    murr_batch batch; /* first member: a murr_batch* is a batch_holder* */
    mr_arena_t arena;
} batch_holder_t;

mr_batch_t *mr_batch_new(int32_t num_columns, int64_t num_rows)
{
    if (num_columns < 0 || num_rows < 0)
        return NULL;
    batch_holder_t *h = mr_calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    mr_arena_init(&h->arena, 4096);
    h->batch.owner = &h->arena;
    h->batch.num_rows = num_rows;
    h->batch.num_columns = num_columns;
    if (num_columns > 0) {
        h->batch.columns = mr_arena_calloc(&h->arena, sizeof(mr_column_t) * (size_t)num_columns);
        if (h->batch.columns == NULL) {
            mr_arena_deinit(&h->arena);
            mr_free(h);
            return NULL;
        }
    }
    return &h->batch;
}

void mr_batch_free(mr_batch_t *b)
{
    if (b == NULL)
        return;
    batch_holder_t *h = (batch_holder_t *)b;
    mr_arena_deinit(&h->arena);
    mr_free(h);
}

MURR_API void murr_batch_free(murr_batch *batch) { mr_batch_free(batch); }

mr_arena_t *mr_batch_arena(mr_batch_t *b) { return b->owner; }

void *mr_batch_alloc(mr_batch_t *b, size_t n)
{
    size_t padded = (n + 7) & ~(size_t)7;
    if (padded < n)
        return NULL;
    uint8_t *p = mr_arena_alloc_aligned(b->owner, padded ? padded : 8, 64);
    if (p && padded > n)
        memset(p + n, 0, padded - n);
    return p;
}

void *mr_batch_calloc(mr_batch_t *b, size_t n)
{
    void *p = mr_batch_alloc(b, n);
    if (p)
        memset(p, 0, n);
    return p;
}

int mr_batch_set_name(mr_batch_t *b, int32_t col, const char *name, size_t len)
{
    char *s = mr_arena_strndup(b->owner, name, len);
    if (s == NULL)
        return MURR_ENOMEM;
    b->columns[col].name = s;
    b->columns[col].name_len = len;
    return 0;
}

static uint64_t values_bytes(murr_dtype t, int64_t rows)
{
    if (t == MURR_BOOL)
        return mr_bitmap_bytes(rows);
    if (t == MURR_UTF8)
        return (uint64_t)(rows + 1) * 4;
    return (uint64_t)rows * mr_dtype_width(t);
}

uint64_t mr_batch_column_bytes(murr_dtype t, int64_t rows, bool with_validity, int64_t data_len)
{
    if (rows < 0 || data_len < 0)
        return UINT64_MAX;
    return values_bytes(t, rows) + (with_validity ? mr_bitmap_bytes(rows) : 0) +
           (t == MURR_UTF8 ? (uint64_t)data_len : 0);
}

static int column_alloc(mr_batch_t *b, int32_t col, murr_dtype t, bool with_validity, int64_t data_len, bool zero)
{
    mr_column_t *c = &b->columns[col];
    int64_t rows = b->num_rows;
    size_t vbytes = (size_t)values_bytes(t, rows);
    c->dtype = t;
    c->null_count = 0;
    c->values = zero ? mr_batch_calloc(b, vbytes) : mr_batch_alloc(b, vbytes);
    if (c->values == NULL)
        return MURR_ENOMEM;
    c->validity = NULL;
    if (with_validity) {
        c->validity = mr_batch_alloc(b, mr_bitmap_bytes(rows));
        if (c->validity == NULL)
            return MURR_ENOMEM;
        memset(c->validity, 0xff, mr_bitmap_bytes(rows));
        if (rows & 7)
            c->validity[rows >> 3] = (uint8_t)((1u << (rows & 7)) - 1);
    }
    c->data = NULL;
    c->data_len = 0;
    if (t == MURR_UTF8) {
        c->data = mr_batch_alloc(b, (size_t)data_len);
        if (c->data == NULL)
            return MURR_ENOMEM;
        c->data_len = data_len;
    }
    return 0;
}

int mr_batch_column_alloc(mr_batch_t *b, int32_t col, murr_dtype t, bool with_validity, int64_t data_len)
{
    return column_alloc(b, col, t, with_validity, data_len, true);
}

int mr_batch_column_alloc_unset(mr_batch_t *b, int32_t col, murr_dtype t, bool with_validity)
{
    if (mr_dtype_scalar_width(t) == 0)
        return MURR_EINVAL; /* offsets and bit-packed values need their zeroes */
    return column_alloc(b, col, t, with_validity, 0, false);
}

static void free_adopted(void *p) { mr_free(p); }

int mr_batch_adopt(mr_batch_t *b, void *p)
{
    if (p == NULL)
        return 0;
    if (mr_arena_add_cleanup(b->owner, free_adopted, p) != 0) {
        mr_free(p);
        return MURR_ENOMEM;
    }
    return 0;
}

int mr_batch_keepalive(mr_batch_t *b, void (*fn)(void *), void *arg)
{
    return mr_arena_add_cleanup(b->owner, fn, arg);
}

int32_t mr_batch_find_column(const mr_batch_t *b, const char *name, size_t len)
{
    for (int32_t i = 0; i < b->num_columns; i++) {
        const mr_column_t *c = &b->columns[i];
        if (c->name_len == len && memcmp(c->name, name, len) == 0)
            return i;
    }
    return -1;
}

int64_t mr_bitmap_count(const uint8_t *bm, int64_t offset, int64_t n)
{
    int64_t count = 0, i = offset, end = offset + n;
    while (i < end && (i & 7))
        count += mr_bit_get(bm, i++);
    while (i + 64 <= end) {
        uint64_t w;
        memcpy(&w, bm + (i >> 3), 8);
        count += __builtin_popcountll(w);
        i += 64;
    }
    while (i + 8 <= end) {
        count += __builtin_popcount(bm[i >> 3]);
        i += 8;
    }
    while (i < end)
        count += mr_bit_get(bm, i++);
    return count;
}

void mr_bitmap_copy(uint8_t *dst, const uint8_t *src, int64_t src_off, int64_t n)
{
    if ((src_off & 7) == 0) {
        memcpy(dst, src + (src_off >> 3), mr_bitmap_bytes(n));
    } else {
        int shift = (int)(src_off & 7);
        const uint8_t *s = src + (src_off >> 3);
        size_t nbytes = mr_bitmap_bytes(n);
        size_t src_bytes = mr_bitmap_bytes(src_off + n) - (size_t)(src_off >> 3);
        for (size_t k = 0; k < nbytes; k++) {
            unsigned v = s[k] >> shift;
            if (k + 1 < src_bytes)
                v |= (unsigned)s[k + 1] << (8 - shift);
            dst[k] = (uint8_t)v;
        }
    }
    if (n & 7)
        dst[n >> 3] &= (uint8_t)((1u << (n & 7)) - 1);
}

/* What the concatenation allocates for a column of `rows` rows: values (or offsets),
 * `data_len` bytes of utf8 or variable-list data, validity. */
static uint64_t concat_bytes(const mr_column_t *c0, int64_t rows, bool validity, int64_t data_len)
{
    uint64_t v;
    if (mr_dtype_is_list(c0->dtype) && c0->dim > 0)
        v = (uint64_t)rows * (uint64_t)c0->dim * mr_list_elem_width(c0->dtype);
    else if (mr_dtype_is_list(c0->dtype))
        v = (uint64_t)(rows + 1) * 4 + (uint64_t)data_len;
    else
        v = mr_batch_column_bytes(c0->dtype, rows, false, data_len);
    return v + (validity ? mr_bitmap_bytes(rows) : 0);
}

/* Column `col` of the concatenation: sizes first (charged), then one copy per part. */
static int concat_column(const mr_batch_t *const *bs, size_t n, int32_t col, mr_budget_t *budget, mr_batch_t *out,
                         mr_error_t *err)
{
    const mr_column_t *c0 = &bs[0]->columns[col];
    int64_t data_len = 0, nulls = 0;
    for (size_t i = 0; i < n; i++) {
        data_len += bs[i]->columns[col].data_len;
        nulls += bs[i]->columns[col].null_count;
    }
    bool list = mr_dtype_is_list(c0->dtype);
    /* offsets (utf8, variable lists) count units of `unit` bytes of data */
    bool offsets = c0->dtype == MURR_UTF8 || (list && c0->dim == 0);
    size_t unit = list ? mr_list_elem_width(c0->dtype) : 1;
    if (offsets && data_len / (int64_t)unit > INT32_MAX)
        return mr_err_set(err, MURR_ETOOBIG, "column '%s': %lld bytes of values in %zu batches exceed the limit of %d "
                          "offsets", c0->name, (long long)data_len, n, INT32_MAX);
    if (budget != NULL)
        MR_RETURN_NOT_OK(mr_budget_charge(budget, concat_bytes(c0, out->num_rows, nulls > 0, data_len),
                                          "the concatenation of the stream's record batches", c0->name, err));
    int arc = list ? mr_batch_list_alloc(out, col, c0->dtype, c0->dim, nulls > 0, data_len / (int64_t)unit)
                   : mr_batch_column_alloc(out, col, c0->dtype, nulls > 0, offsets ? data_len : 0);
    if (arc != 0 || mr_batch_set_name(out, col, c0->name, c0->name_len) != 0)
        return mr_err_set(err, MURR_ENOMEM, "out of memory concatenating column '%s' (%lld rows)", c0->name,
                          (long long)out->num_rows);
    mr_column_t *d = &out->columns[col];
    size_t w = offsets || c0->dtype == MURR_BOOL ? 0
               : list                            ? (size_t)c0->dim * unit
                                                 : mr_dtype_width(c0->dtype);
    int64_t row = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        const mr_column_t *c = &bs[i]->columns[col];
        int64_t rows = bs[i]->num_rows;
        if (rows == 0)
            continue; /* a zero-row part may have no buffers at all */
        if (w > 0)
            memcpy((uint8_t *)d->values + (size_t)row * w, c->values, (size_t)rows * w);
        for (int64_t r = 0; c0->dtype == MURR_BOOL && r < rows; r++)
            mr_bit_put(d->values, row + r, mr_bit_get(c->values, r));
        if (offsets) {
            const int32_t *so = c->values;
            int32_t *dof = d->values;
            for (int64_t r = 0; r < rows; r++)
                dof[row + r + 1] = (int32_t)(pos + so[r + 1] - so[0]);
            if (so[rows] > so[0])
                memcpy(d->data + (size_t)pos * unit, c->data + (size_t)so[0] * unit, (size_t)(so[rows] - so[0]) * unit);
            pos += so[rows] - so[0];
        }
        for (int64_t r = 0; d->validity != NULL && r < rows; r++)
            mr_bit_put(d->validity, row + r, murr_column_is_valid(c, r));
        row += rows;
    }
    if (offsets)
        d->data_len = pos * (int64_t)unit;
    d->null_count = nulls;
    return 0;
}

int mr_batch_concat(const mr_batch_t *const *batches, size_t n, mr_budget_t *budget, mr_batch_t **out,
                    mr_error_t *err)
{
    *out = NULL;
    if (n == 0)
        return mr_err_set(err, MURR_EINTERNAL, "mr_batch_concat of no batches");
    const mr_batch_t *b0 = batches[0];
    int64_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        const mr_batch_t *b = batches[i];
        if (b->num_columns != b0->num_columns)
            return mr_err_set(err, MURR_EINVAL, "batch %zu has %d columns, batch 0 has %d", i, b->num_columns,
                              b0->num_columns);
        for (int32_t c = 0; c < b0->num_columns; c++)
            if (b->columns[c].dtype != b0->columns[c].dtype || b->columns[c].dim != b0->columns[c].dim ||
                b->columns[c].name_len != b0->columns[c].name_len ||
                memcmp(b->columns[c].name, b0->columns[c].name, b0->columns[c].name_len) != 0)
                return mr_err_set(err, MURR_EINVAL, "batch %zu: column %d is '%s' (%s), in batch 0 it is '%s' (%s)", i,
                                  c, b->columns[c].name, murr_dtype_name(b->columns[c].dtype), b0->columns[c].name,
                                  murr_dtype_name(b0->columns[c].dtype));
        rows += b->num_rows;
    }
    mr_batch_t *o = mr_batch_new(b0->num_columns, rows);
    if (o == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for a batch of %lld rows", (long long)rows);
    for (int32_t c = 0; c < b0->num_columns; c++) {
        int rc = concat_column(batches, n, c, budget, o, err);
        if (rc != 0) {
            mr_batch_free(o);
            return rc;
        }
    }
    *out = o;
    return 0;
}

void mr_column_normalize_nulls(mr_column_t *c, int64_t rows)
{
    if (c->validity == NULL) {
        c->null_count = 0;
        return;
    }
    c->null_count = rows - mr_bitmap_count(c->validity, 0, rows);
    if (c->null_count == 0)
        c->validity = NULL;
}

int mr_batch_validate(const mr_batch_t *b, mr_error_t *err)
{
    int64_t rows = b->num_rows;
    for (int32_t i = 0; i < b->num_columns; i++) {
        const mr_column_t *c = &b->columns[i];
        if (c->name == NULL)
            return mr_err_set(err, MURR_EINTERNAL, "column %d has no name", i);
        if ((unsigned)c->dtype >= MURR_DTYPE_COUNT)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': invalid dtype %d", c->name, (int)c->dtype);
        if (rows > 0 && c->values == NULL)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': missing values buffer", c->name);
        int64_t nulls = c->validity ? rows - mr_bitmap_count(c->validity, 0, rows) : 0;
        if (nulls != c->null_count)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': null_count %lld but validity bitmap has %lld nulls",
                              c->name, (long long)c->null_count, (long long)nulls);
        if (mr_dtype_is_list(c->dtype)) {
            MR_RETURN_NOT_OK(mr_list_column_validate(c, rows, err));
            continue;
        }
        if (c->dtype != MURR_UTF8)
            continue;
        const int32_t *off = c->values;
        if (off == NULL)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': missing offsets buffer", c->name);
        if (off[0] < 0)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': first offset %d is negative", c->name, off[0]);
        for (int64_t r = 0; r < rows; r++) {
            if (off[r + 1] < off[r])
                return mr_err_set(err, MURR_ECORRUPT, "column '%s' row %lld: offset %d is less than previous offset %d",
                                  c->name, (long long)r, off[r + 1], off[r]);
        }
        if (off[rows] > c->data_len)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': last offset %d exceeds data length %lld", c->name,
                              off[rows], (long long)c->data_len);
        size_t bad;
        if (rows > 0 && !mr_utf8_valid(c->data + off[0], (size_t)(off[rows] - off[0]), &bad)) {
            /* find the row for the message */
            int64_t r = 0;
            while (r < rows && (size_t)off[r + 1] <= (size_t)off[0] + bad)
                r++;
            return mr_err_set(err, MURR_EINVAL, "column '%s' row %lld: invalid UTF-8 at byte %zu of the string",
                              c->name, (long long)r, (size_t)off[0] + bad - (size_t)off[r]);
        }
    }
    return 0;
}

/* ---- column builder ---- */

void mr_colbuilder_init(mr_colbuilder_t *cb, murr_dtype t)
{
    memset(cb, 0, sizeof(*cb));
    cb->dtype = t;
}

void mr_colbuilder_init_list(mr_colbuilder_t *cb, murr_dtype t, int32_t dim)
{
    mr_colbuilder_init(cb, t);
    cb->dim = dim;
}

void mr_colbuilder_deinit(mr_colbuilder_t *cb)
{
    mr_buf_deinit(&cb->values);
    mr_buf_deinit(&cb->validity);
    mr_buf_deinit(&cb->data);
}

/* Grows the validity bitmap by one bit with value v (materialised lazily at first null). */
static int push_valid(mr_colbuilder_t *cb, bool v)
{
    if (v && cb->null_count == 0)
        return 0; /* no bitmap until the first null */
    if (!v && cb->null_count == 0) {
        /* materialise: rows so far are all valid */
        size_t need = mr_bitmap_bytes(cb->rows + 1);
        MR_RETURN_NOT_OK(mr_buf_reserve(&cb->validity, need));
        memset(cb->validity.data, 0xff, need);
        cb->validity.len = need;
    } else {
        size_t need = mr_bitmap_bytes(cb->rows + 1);
        if (need > cb->validity.len) {
            MR_RETURN_NOT_OK(mr_buf_append_byte(&cb->validity, 0xff));
        }
    }
    mr_bit_put(cb->validity.data, cb->rows, v);
    if (!v)
        cb->null_count++;
    return 0;
}

static int push_fixed(mr_colbuilder_t *cb, const void *p, size_t w)
{
    if (cb->dtype == MURR_BOOL) {
        size_t need = mr_bitmap_bytes(cb->rows + 1);
        if (need > cb->values.len)
            MR_RETURN_NOT_OK(mr_buf_append_byte(&cb->values, 0));
        mr_bit_put(cb->values.data, cb->rows, *(const uint8_t *)p != 0);
        return 0;
    }
    return mr_buf_append(&cb->values, p, w);
}

static int finish_row(mr_colbuilder_t *cb, bool valid)
{
    MR_RETURN_NOT_OK(push_valid(cb, valid));
    cb->rows++;
    return 0;
}

static int push_offset(mr_colbuilder_t *cb)
{
    if (cb->values.len == 0) {
        int32_t zero = 0;
        MR_RETURN_NOT_OK(mr_buf_append(&cb->values, &zero, 4));
    }
    size_t unit = mr_dtype_is_list(cb->dtype) ? mr_list_elem_width(cb->dtype) : 1; /* list offsets count elements */
    if (cb->data.len / unit > INT32_MAX)
        return MURR_ETOOBIG;
    int32_t end = (int32_t)(cb->data.len / unit);
    return mr_buf_append(&cb->values, &end, 4);
}

int mr_colbuilder_append_null(mr_colbuilder_t *cb)
{
    if (mr_dtype_is_list(cb->dtype) && cb->dim > 0) {
        size_t n = (size_t)cb->dim * mr_list_elem_width(cb->dtype);
        MR_RETURN_NOT_OK(mr_buf_reserve(&cb->values, n));
        memset(cb->values.data + cb->values.len, 0, n);
        cb->values.len += n;
    } else if (cb->dtype == MURR_UTF8 || mr_dtype_is_list(cb->dtype)) {
        MR_RETURN_NOT_OK(push_offset(cb));
    } else {
        uint64_t zero = 0;
        MR_RETURN_NOT_OK(push_fixed(cb, &zero, mr_dtype_width(cb->dtype)));
    }
    return finish_row(cb, false);
}

int mr_colbuilder_append_int(mr_colbuilder_t *cb, int64_t v)
{
    int8_t i8 = (int8_t)v;
    int16_t i16 = (int16_t)v;
    int32_t i32 = (int32_t)v;
    const void *p = &v;
    switch (mr_dtype_width(cb->dtype)) {
    case 1: p = &i8; break;
    case 2: p = &i16; break;
    case 4: p = &i32; break;
    default: break;
    }
    MR_RETURN_NOT_OK(push_fixed(cb, p, mr_dtype_width(cb->dtype)));
    return finish_row(cb, true);
}

int mr_colbuilder_append_uint(mr_colbuilder_t *cb, uint64_t v) { return mr_colbuilder_append_int(cb, (int64_t)v); }

int mr_colbuilder_append_float(mr_colbuilder_t *cb, double v)
{
    if (cb->dtype == MURR_FLOAT32) {
        float f = (float)v;
        MR_RETURN_NOT_OK(push_fixed(cb, &f, 4));
    } else {
        MR_RETURN_NOT_OK(push_fixed(cb, &v, 8));
    }
    return finish_row(cb, true);
}

int mr_colbuilder_append_bool(mr_colbuilder_t *cb, bool v)
{
    uint8_t b = v;
    MR_RETURN_NOT_OK(push_fixed(cb, &b, 1));
    return finish_row(cb, true);
}

int mr_colbuilder_append_str(mr_colbuilder_t *cb, const char *s, size_t len)
{
    MR_RETURN_NOT_OK(mr_buf_append(&cb->data, s, len));
    MR_RETURN_NOT_OK(push_offset(cb));
    return finish_row(cb, true);
}

int mr_colbuilder_append_list(mr_colbuilder_t *cb, const void *elems, size_t n)
{
    size_t bytes = n * mr_list_elem_width(cb->dtype);
    if (cb->dim > 0) {
        MR_RETURN_NOT_OK(mr_buf_append(&cb->values, elems, bytes));
    } else {
        MR_RETURN_NOT_OK(mr_buf_append(&cb->data, elems, bytes));
        MR_RETURN_NOT_OK(push_offset(cb));
    }
    return finish_row(cb, true);
}

/* Copies a builder buffer into the batch arena (aligned, padded). */
static void *move_buf(mr_batch_t *b, mr_buf_t *buf, size_t min)
{
    size_t n = buf->len > min ? buf->len : min;
    uint8_t *p = mr_batch_calloc(b, n);
    if (p && buf->len)
        memcpy(p, buf->data, buf->len);
    return p;
}

int mr_colbuilder_finish(mr_colbuilder_t *cb, mr_batch_t *b, int32_t col)
{
    if (cb->rows != b->num_rows)
        return MURR_EINTERNAL;
    mr_column_t *c = &b->columns[col];
    c->dtype = cb->dtype;
    c->dim = cb->dim;
    bool offsets = cb->dtype == MURR_UTF8 || (mr_dtype_is_list(cb->dtype) && cb->dim == 0);
    size_t vmin = offsets ? 4 : 0;
    c->values = move_buf(b, &cb->values, vmin);
    if (c->values == NULL)
        return MURR_ENOMEM;
    c->null_count = cb->null_count;
    c->validity = NULL;
    if (cb->null_count > 0) {
        c->validity = move_buf(b, &cb->validity, 0);
        if (c->validity == NULL)
            return MURR_ENOMEM;
    }
    c->data = NULL;
    c->data_len = 0;
    if (offsets) {
        c->data = move_buf(b, &cb->data, 0);
        if (c->data == NULL)
            return MURR_ENOMEM;
        c->data_len = (int64_t)cb->data.len;
    }
    mr_colbuilder_deinit(cb);
    mr_colbuilder_init_list(cb, c->dtype, c->dim);
    return 0;
}

/* ---- conversions ---- */

static double load_as_double(const mr_column_t *c, int64_t r)
{
    switch (c->dtype) {
    case MURR_INT8: return ((const int8_t *)c->values)[r];
    case MURR_INT16: return ((const int16_t *)c->values)[r];
    case MURR_INT32: return ((const int32_t *)c->values)[r];
    case MURR_INT64: return (double)((const int64_t *)c->values)[r];
    case MURR_UINT8: return ((const uint8_t *)c->values)[r];
    case MURR_UINT16: return ((const uint16_t *)c->values)[r];
    case MURR_UINT32: return ((const uint32_t *)c->values)[r];
    case MURR_UINT64: return (double)((const uint64_t *)c->values)[r];
    case MURR_FLOAT32: return ((const float *)c->values)[r];
    case MURR_FLOAT64: return ((const double *)c->values)[r];
    default: return 0;
    }
}

/* Integers are carried as (negative flag, magnitude) so int64 and uint64 both fit exactly. */
static void load_as_int(const mr_column_t *c, int64_t r, bool *neg, uint64_t *mag)
{
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = mr_dtype_is_signed_int(c->dtype);
    switch (c->dtype) {
    case MURR_INT8: s = ((const int8_t *)c->values)[r]; break;
    case MURR_INT16: s = ((const int16_t *)c->values)[r]; break;
    case MURR_INT32: s = ((const int32_t *)c->values)[r]; break;
    case MURR_INT64: s = ((const int64_t *)c->values)[r]; break;
    case MURR_UINT8: u = ((const uint8_t *)c->values)[r]; break;
    case MURR_UINT16: u = ((const uint16_t *)c->values)[r]; break;
    case MURR_UINT32: u = ((const uint32_t *)c->values)[r]; break;
    case MURR_UINT64: u = ((const uint64_t *)c->values)[r]; break;
    default: break;
    }
    if (is_signed) {
        *neg = s < 0;
        *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    } else {
        *neg = false;
        *mag = u;
    }
}

static void int_range(murr_dtype t, uint64_t *max_pos, uint64_t *max_neg)
{
    switch (t) {
    case MURR_INT8: *max_pos = INT8_MAX; *max_neg = 128; break;
    case MURR_INT16: *max_pos = INT16_MAX; *max_neg = 32768; break;
    case MURR_INT32: *max_pos = INT32_MAX; *max_neg = 2147483648u; break;
    case MURR_INT64: *max_pos = INT64_MAX; *max_neg = (uint64_t)INT64_MAX + 1; break;
    case MURR_UINT8: *max_pos = UINT8_MAX; *max_neg = 0; break;
    case MURR_UINT16: *max_pos = UINT16_MAX; *max_neg = 0; break;
    case MURR_UINT32: *max_pos = UINT32_MAX; *max_neg = 0; break;
    default: *max_pos = UINT64_MAX; *max_neg = 0; break;
    }
}

static void store_int(mr_column_t *c, int64_t r, bool neg, uint64_t mag)
{
    uint64_t bits = neg ? (uint64_t)0 - mag : mag;
    switch (mr_dtype_width(c->dtype)) {
    case 1: ((uint8_t *)c->values)[r] = (uint8_t)bits; break;
    case 2: ((uint16_t *)c->values)[r] = (uint16_t)bits; break;
    case 4: ((uint32_t *)c->values)[r] = (uint32_t)bits; break;
    default: ((uint64_t *)c->values)[r] = bits; break;
    }
}

/* Converts a float to an integer target exactly, or fails (fraction, NaN, out of range). */
static bool float_to_int(double d, murr_dtype to, bool *neg, uint64_t *mag)
{
    if (!isfinite(d) || d != trunc(d))
        return false;
    uint64_t max_pos, max_neg;
    int_range(to, &max_pos, &max_neg);
    if (d >= 0) {
        if (d >= 18446744073709551616.0 || (uint64_t)d > max_pos)
            return false;
        *neg = false;
        *mag = (uint64_t)d;
    } else {
        if (-d > 9223372036854775808.0 || (uint64_t)(-d) > max_neg)
            return false;
        *neg = true;
        *mag = (uint64_t)(-d);
    }
    return true;
}

int mr_column_convert(mr_batch_t *owner, const mr_column_t *src, int64_t rows, murr_dtype to, bool strict,
                      mr_column_t *out, mr_error_t *err)
{
    murr_dtype from = src->dtype;
    if (mr_dtype_is_list(from) || mr_dtype_is_list(to)) {
        if (!mr_dtype_is_list(to))
            return mr_err_set(err, MURR_EINVAL, "column '%s': expected %s, got %s (no conversion between these types)",
                              src->name, murr_dtype_name(to), murr_dtype_name(from));
        return mr_list_column_convert(owner, src, rows, to, src->dim, strict, out, err);
    }
    if (from == to) {
        *out = *src;
        return 0;
    }
    bool lossless = mr_dtype_widens_losslessly(from, to);
    bool numeric = from != MURR_UTF8 && from != MURR_BOOL && to != MURR_UTF8 && to != MURR_BOOL;
    if (!numeric)
        return mr_err_set(err, MURR_EINVAL, "column '%s': expected %s, got %s (no conversion between these types)",
                          src->name, murr_dtype_name(to), murr_dtype_name(from));
    if (!lossless && strict)
        return mr_err_set(err, MURR_EINVAL,
                          "column '%s': expected %s, got %s; %s -> %s may lose information: cast the column to %s "
                          "on the client, or declare it \"strict\": false",
                          src->name, murr_dtype_name(to), murr_dtype_name(from), murr_dtype_name(from),
                          murr_dtype_name(to), murr_dtype_name(to));
    *out = *src;
    out->dtype = to;
    out->values = mr_batch_calloc(owner, (size_t)rows * mr_dtype_width(to));
    if (out->values == NULL)
        return mr_err_set(err, MURR_ENOMEM, "column '%s': cannot allocate %lld rows", src->name, (long long)rows);
    for (int64_t r = 0; r < rows; r++) {
        if (!murr_column_is_valid(src, r))
            continue;
        if (to == MURR_FLOAT32) {
            ((float *)out->values)[r] = (float)load_as_double(src, r);
        } else if (to == MURR_FLOAT64) {
            ((double *)out->values)[r] = load_as_double(src, r);
        } else {
            bool neg;
            uint64_t mag;
            if (mr_dtype_is_float(from)) {
                double d = load_as_double(src, r);
                if (!float_to_int(d, to, &neg, &mag))
                    return mr_err_set(err, MURR_EINVAL, "column '%s' row %lld: %s value %.17g does not fit %s exactly",
                                      src->name, (long long)r, murr_dtype_name(from), d, murr_dtype_name(to));
            } else {
                load_as_int(src, r, &neg, &mag);
                uint64_t max_pos, max_neg;
                int_range(to, &max_pos, &max_neg);
                if ((neg && mag > max_neg) || (!neg && mag > max_pos))
                    return mr_err_set(err, MURR_EINVAL, "column '%s' row %lld: value %s%llu is out of range for %s",
                                      src->name, (long long)r, neg ? "-" : "", (unsigned long long)mag,
                                      murr_dtype_name(to));
            }
            store_int(out, r, neg, mag);
        }
    }
    return 0;
}
