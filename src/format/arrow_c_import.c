/*
 * arrow_c_import.c - a murr batch over the buffers of an Arrow struct array (a record batch
 * exported through the C Data Interface, murr_batch_import_arrow in murr.h). No values or
 * utf8/list data are copied; only a bitmap at a bit offset and the offsets of a utf8 or
 * list slice that does not start at 0 are. Everything is checked before use: the producer
 * is another library, and a wrong buffer count or length must be an error, not a read past
 * the end. List columns: List ("+l") and FixedSizeList ("+w:N") of float32, float16 or int8.
 */
#include "format/arrow_c_internal.h"

#include "core/alloc.h"
#include "core/batch.h"

#include <stdlib.h>
#include <string.h>

/* A flat format, "+l" or "+w:N" -> dtype (lists: from the child's format) and dim. */
static int parse_format(const struct ArrowSchema *s, const char *name, murr_dtype *out, int32_t *dim, mr_error_t *err)
{
    const char *f = s->format;
    *dim = 0;
    if (strcmp(f, "+l") != 0 && strncmp(f, "+w:", 3) != 0) {
        for (int t = 0; t < MURR_DTYPE_COUNT; t++) {
            if (!mr_dtype_is_list((murr_dtype)t) && strcmp(f, mr_arrow_c_format((murr_dtype)t)) == 0) {
                *out = (murr_dtype)t;
                return 0;
            }
        }
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': arrow format '%s' is not a murr dtype (cast it to one "
                          "of utf8, bool, int8..int64, uint8..uint64, float32, float64, or a list of float32, float16 "
                          "or int8)", name, f);
    }
    if (f[1] == 'w') {
        char *end = NULL;
        long d = strtol(f + 3, &end, 10);
        if (end == f + 3 || *end != '\0' || d < 1 || d > MURR_LIST_DIM_MAX)
            return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': arrow FixedSizeList format '%s': the size must be "
                              "1 to %d", name, f, MURR_LIST_DIM_MAX);
        *dim = (int32_t)d;
    }
    const struct ArrowSchema *item = s->n_children == 1 && s->children ? s->children[0] : NULL;
    if (item == NULL || item->format == NULL)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow list schema has %lld children, expected 1", name,
                          (long long)s->n_children);
    static const murr_dtype lists[] = {MURR_LIST_FLOAT32, MURR_LIST_FLOAT16, MURR_LIST_INT8};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (strcmp(item->format, mr_arrow_c_format(lists[i])) == 0 && item->dictionary == NULL) {
            *out = lists[i];
            return 0;
        }
    }
    return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': a list of arrow format '%s'%s; list columns hold float32 "
                      "('f'), float16 ('e') or int8 ('c') elements (cast on the client, e.g. pa.list_(pa.float32()))",
                      name, item->format, item->dictionary ? " (dictionary)" : "");
}

/* A bitmap of rows [off, off + rows): a pointer into src when off is a whole byte, else a copy. */
static const uint8_t *bitmap_at(mr_batch_t *b, const uint8_t *src, int64_t off, int64_t rows)
{
    if ((off & 7) == 0)
        return src + (off >> 3);
    uint8_t *dst = mr_batch_calloc(b, mr_bitmap_bytes(rows));
    if (dst)
        mr_bitmap_copy(dst, src, off, rows);
    return dst;
}

/* Offsets [off, off + rows] of a utf8 or variable list column, rebased to 0 (a copy) when the
 * slice does not start at 0; *first / *last: the range they cover in the data. */
static int slice_offsets(mr_batch_t *b, murr_column *c, const void *buf, int64_t off, int32_t *first, int32_t *last,
                         mr_error_t *err)
{
    int64_t rows = b->num_rows;
    const int32_t *offsets = (const int32_t *)(buf ? buf : (const void *)mr_arrow_c_zero) + off;
    *first = offsets[0];
    *last = offsets[rows];
    if (*first < 0 || *last < *first)
        return mr_err_set(err, MURR_ECORRUPT, "column '%s': arrow offsets [%d, %d] at row offset %lld are not a range",
                          c->name, *first, *last, (long long)off);
    if (*first != 0) {
        int32_t *rebased = mr_batch_alloc(b, sizeof(int32_t) * (size_t)(rows + 1));
        if (rebased == NULL)
            return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot copy the offsets of column '%s'", c->name);
        for (int64_t r = 0; r <= rows; r++)
            rebased[r] = offsets[r] - *first;
        offsets = rebased;
    }
    c->values = (void *)offsets;
    return 0;
}

/* The elements of list column c (validity already set) from the child array of `a`. */
static int import_list(mr_batch_t *b, murr_column *c, const struct ArrowArray *a, int64_t off, mr_error_t *err)
{
    int64_t rows = b->num_rows;
    const struct ArrowArray *item = a->n_children == 1 && a->children ? a->children[0] : NULL;
    if (item == NULL || item->n_buffers != 2 || item->buffers == NULL || item->offset < 0 || item->length < 0
        || item->dictionary)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow list array has %lld children (expected 1 of 2 buffers)",
                          c->name, (long long)a->n_children);
    size_t w = mr_list_elem_width(c->dtype);
    int64_t start, count; /* the child elements the rows cover */
    const int32_t *offsets = NULL;
    if (c->dim > 0) {
        start = off * c->dim;
        count = rows * c->dim;
    } else {
        int32_t first, last;
        MR_RETURN_NOT_OK(slice_offsets(b, c, a->buffers[1], off, &first, &last, err));
        offsets = c->values;
        start = first;
        count = (int64_t)last - first;
    }
    if (item->length < start + count)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow list child has %lld elements, its rows need %lld",
                          c->name, (long long)item->length, (long long)(start + count));
    const uint8_t *elems = item->buffers[1];
    if (elems == NULL && count > 0)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow list values buffer is NULL for %lld elements", c->name,
                          (long long)count);
    const uint8_t *item_valid = item->buffers[0];
    if (item_valid != NULL && item->null_count != 0 && count > 0) {
        const uint8_t *cv = bitmap_at(b, item_valid, item->offset + start, count);
        if (cv == NULL)
            return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot copy the element validity of column '%s'", c->name);
        MR_RETURN_NOT_OK(mr_list_check_null_elems(c->name, c, offsets, 0, c->dim, rows, cv, count, err));
    }
    const uint8_t *base = count ? elems + (size_t)(item->offset + start) * w : (const uint8_t *)mr_arrow_c_zero;
    if (c->dim > 0) {
        c->values = (void *)base;
    } else {
        c->data = (uint8_t *)base;
        c->data_len = count * (int64_t)w;
    }
    return 0;
}

static int import_column(mr_batch_t *b, int32_t i, const struct ArrowArray *a, const struct ArrowSchema *s,
                         int64_t parent_off, mr_error_t *err)
{
    int64_t rows = b->num_rows;
    const char *name = s->name ? s->name : "";
    murr_dtype t = MURR_UTF8;
    int32_t dim = 0;
    if (s->format == NULL || s->dictionary || a->dictionary)
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': arrow format '%s'%s is not a murr dtype (decode "
                          "dictionaries on the client)", name, s->format ? s->format : "(null)",
                          s->dictionary || a->dictionary ? " (dictionary)" : "");
    MR_RETURN_NOT_OK(parse_format(s, name, &t, &dim, err));
    int64_t want = t == MURR_UTF8 ? 3 : mr_dtype_is_list(t) && dim > 0 ? 1 : 2;
    if (a->n_buffers != want || a->buffers == NULL || a->offset < 0 || a->length < 0)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow array of format '%s' has %lld buffers, expected %lld",
                          name, s->format, (long long)a->n_buffers, (long long)want);
    int64_t off = a->offset + parent_off;
    if (a->length - parent_off < rows || off < 0)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow array has %lld rows at offset %lld, the batch needs %lld",
                          name, (long long)a->length, (long long)a->offset, (long long)(rows + parent_off));
    int rc = mr_batch_set_name(b, i, name, strlen(name));
    if (rc != 0)
        return mr_err_set(err, rc, "arrow import: cannot allocate the name of column '%s'", name);
    murr_column *c = &b->columns[i];
    c->dtype = t;
    c->dim = dim;
    const uint8_t *validity = a->buffers[0];
    if (validity != NULL && a->null_count != 0 && rows > 0) {
        c->validity = (uint8_t *)bitmap_at(b, validity, off, rows);
        if (c->validity == NULL)
            return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot copy the validity of column '%s'", name);
        mr_column_normalize_nulls(c, rows);
    }
    if (mr_dtype_is_list(t))
        return import_list(b, c, a, off, err);
    const uint8_t *values = a->buffers[1];
    if (values == NULL && rows > 0)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow values buffer is NULL for %lld rows", name,
                          (long long)rows);
    if (t == MURR_BOOL) {
        c->values = rows ? (void *)bitmap_at(b, values, off, rows) : (void *)mr_arrow_c_zero;
        if (c->values == NULL)
            return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot copy the values of column '%s'", name);
    } else if (t == MURR_UTF8) {
        int32_t first, last;
        MR_RETURN_NOT_OK(slice_offsets(b, c, values, off, &first, &last, err));
        const uint8_t *data = a->buffers[2];
        if (data == NULL && last > first)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': arrow utf8 data is NULL for %d bytes", name,
                              last - first);
        c->data = data ? (uint8_t *)data + first : (uint8_t *)mr_arrow_c_zero;
        c->data_len = last - first;
    } else {
        c->values = rows ? (void *)(values + (size_t)off * mr_dtype_width(t)) : (void *)mr_arrow_c_zero;
    }
    return 0;
}

static void release_moved(void *p)
{
    struct ArrowArray *a = p;
    if (a->release)
        a->release(a);
}

MURR_API int murr_batch_import_arrow(struct ArrowArray *array, const struct ArrowSchema *schema,
                                     murr_batch **out, murr_error *err)
{
    if (array == NULL || schema == NULL || array->release == NULL || schema->format == NULL)
        return mr_err_set(err, MURR_EINVAL, "arrow import: the array or schema is NULL or released");
    if (strcmp(schema->format, "+s") != 0)
        return mr_err_set(err, MURR_EUNSUPPORTED, "arrow import: format '%s' is not a struct array (a record batch, "
                          "format '+s')", schema->format);
    if (array->n_children != schema->n_children || array->n_children < 0 || array->n_children > INT32_MAX
        || array->length < 0 || array->offset < 0 || (array->n_children > 0 && (!array->children || !schema->children)))
        return mr_err_set(err, MURR_EINVAL, "arrow import: the array has %lld children and the schema %lld",
                          (long long)array->n_children, (long long)schema->n_children);
    if (array->null_count != 0 && array->n_buffers > 0 && array->buffers && array->buffers[0])
        return mr_err_set(err, MURR_EUNSUPPORTED, "arrow import: the struct array has %lld null rows (a record batch "
                          "has none)", (long long)array->null_count);
    mr_batch_t *b = mr_batch_new((int32_t)array->n_children, array->length);
    if (b == NULL)
        return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot allocate a batch of %lld columns",
                          (long long)array->n_children);
    int rc = 0;
    for (int32_t i = 0; i < b->num_columns && rc == 0; i++)
        rc = import_column(b, i, array->children[i], schema->children[i], array->offset, err);
    if (rc == 0)
        rc = mr_batch_validate(b, err);
    struct ArrowArray *moved = rc == 0 ? mr_batch_alloc(b, sizeof(*moved)) : NULL;
    if (rc == 0 && (moved == NULL || mr_batch_keepalive(b, release_moved, moved) != 0))
        rc = mr_err_set(err, MURR_ENOMEM, "arrow import: cannot keep the array alive");
    if (rc != 0) {
        mr_batch_free(b);
        return rc;
    }
    *moved = *array;
    array->release = NULL;
    *out = b;
    return 0;
}
