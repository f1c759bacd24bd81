/*
 * arrow_c.c - murr batches across the Arrow C Data Interface (murr_batch_export_arrow,
 * murr_batch_import_arrow in murr.h). No buffer is copied on export; on import only a
 * bitmap at a bit offset and the offsets of a utf8 slice that does not start at 0 are.
 */
#include "core/alloc.h"
#include "core/batch.h"
#include "core/dtype.h"

#include <string.h>

/* The format string of each dtype (murr_dtype order). */
static const char *const arrow_formats[MURR_DTYPE_COUNT] = {
    "u", "b", "c", "s", "i", "l", "C", "S", "I", "L", "f", "g",
};

/* Stands in for the buffers of an empty column (a 0-row utf8 column still has one offset). */
static const int64_t zero_buffer[2];

/* ---- export ---------------------------------------------------------------------------- */

typedef struct export_array {
    murr_batch *batch;
    const void *parent_buffers[1];
    struct ArrowArray *child_ptrs; /* n pointers into children */
    /* followed by: struct ArrowArray children[n]; const void *buffers[3 * n] */
} export_array_t;

typedef struct export_schema {
    struct ArrowSchema *child_ptrs;
    /* followed by: struct ArrowSchema children[n]; then the NUL-terminated names */
} export_schema_t;

static void release_child_array(struct ArrowArray *a) { a->release = NULL; }
static void release_child_schema(struct ArrowSchema *s) { s->release = NULL; }

static void release_array(struct ArrowArray *a)
{
    export_array_t *p = a->private_data;
    murr_batch_free(p->batch);
    mr_free(p);
    a->release = NULL;
}

static void release_schema(struct ArrowSchema *s)
{
    mr_free(s->private_data);
    s->release = NULL;
}

static const void *or_zero(const void *p) { return p ? p : (const void *)zero_buffer; }

static int export_schema(const murr_batch *b, struct ArrowSchema *out, mr_error_t *err)
{
    size_t n = (size_t)b->num_columns, names = 0;
    for (size_t i = 0; i < n; i++)
        names += b->columns[i].name_len + 1;
    size_t size = sizeof(export_schema_t) + n * (sizeof(struct ArrowSchema) + sizeof(struct ArrowSchema *)) + names;
    uint8_t *mem = mr_calloc(1, size);
    if (mem == NULL)
        return mr_err_set(err, MURR_ENOMEM, "arrow export: cannot allocate the schema of %zu columns", n);
    struct ArrowSchema *children = (struct ArrowSchema *)(mem + sizeof(export_schema_t));
    struct ArrowSchema **ptrs = (struct ArrowSchema **)(children + n);
    char *name = (char *)(ptrs + n);
    for (size_t i = 0; i < n; i++) {
        const murr_column *c = &b->columns[i];
        memcpy(name, c->name, c->name_len);
        name[c->name_len] = '\0';
        children[i] = (struct ArrowSchema){.format = arrow_formats[c->dtype], .name = name,
                                           .flags = ARROW_FLAG_NULLABLE, .release = release_child_schema};
        ptrs[i] = &children[i];
        name += c->name_len + 1;
    }
    *out = (struct ArrowSchema){.format = "+s", .name = "", .n_children = (int64_t)n,
                                .children = n ? ptrs : NULL, .release = release_schema, .private_data = mem};
    return 0;
}

MURR_API int murr_batch_export_arrow(murr_batch *batch, struct ArrowArray *out_array,
                                     struct ArrowSchema *out_schema, murr_error *err)
{
    size_t n = (size_t)batch->num_columns;
    size_t size = sizeof(export_array_t) + n * (sizeof(struct ArrowArray) + sizeof(struct ArrowArray *)
                                                + 3 * sizeof(void *));
    uint8_t *mem = mr_calloc(1, size);
    if (mem == NULL)
        return mr_err_set(err, MURR_ENOMEM, "arrow export: cannot allocate the array of %zu columns", n);
    int rc = export_schema(batch, out_schema, err);
    if (rc != 0) {
        mr_free(mem);
        return rc;
    }
    export_array_t *p = (export_array_t *)mem;
    struct ArrowArray *children = (struct ArrowArray *)(mem + sizeof(export_array_t));
    struct ArrowArray **ptrs = (struct ArrowArray **)(children + n);
    const void **bufs = (const void **)(ptrs + n);
    p->batch = batch;
    for (size_t i = 0; i < n; i++) {
        const murr_column *c = &batch->columns[i];
        const void **cb = bufs + 3 * i;
        cb[0] = c->null_count ? c->validity : NULL;
        cb[1] = or_zero(c->values);
        cb[2] = or_zero(c->data);
        children[i] = (struct ArrowArray){.length = batch->num_rows, .null_count = c->null_count,
                                          .n_buffers = c->dtype == MURR_UTF8 ? 3 : 2, .buffers = cb,
                                          .release = release_child_array};
        ptrs[i] = &children[i];
    }
    *out_array = (struct ArrowArray){.length = batch->num_rows, .n_buffers = 1, .n_children = (int64_t)n,
                                     .buffers = p->parent_buffers, .children = n ? ptrs : NULL,
                                     .release = release_array, .private_data = p};
    return 0;
}

/* ---- import ---------------------------------------------------------------------------- */

static int parse_format(const char *f, murr_dtype *out)
{
    for (int t = 0; t < MURR_DTYPE_COUNT; t++) {
        if (strcmp(f, arrow_formats[t]) == 0) {
            *out = (murr_dtype)t;
            return 0;
        }
    }
    return MURR_EUNSUPPORTED;
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

static int import_column(mr_batch_t *b, int32_t i, const struct ArrowArray *a, const struct ArrowSchema *s,
                         int64_t parent_off, mr_error_t *err)
{
    int64_t rows = b->num_rows;
    const char *name = s->name ? s->name : "";
    murr_dtype t;
    if (s->format == NULL || parse_format(s->format, &t) != 0 || s->dictionary || a->dictionary)
        return mr_err_set(err, MURR_EUNSUPPORTED, "column '%s': arrow format '%s'%s is not a murr dtype (cast it to "
                          "one of utf8, bool, int8..int64, uint8..uint64, float32, float64)", name,
                          s->format ? s->format : "(null)", s->dictionary ? " (dictionary)" : "");
    int64_t want = t == MURR_UTF8 ? 3 : 2;
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
    const uint8_t *validity = a->buffers[0];
    if (validity != NULL && a->null_count != 0 && rows > 0) {
        c->validity = (uint8_t *)bitmap_at(b, validity, off, rows);
        if (c->validity == NULL)
            return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot copy the validity of column '%s'", name);
        mr_column_normalize_nulls(c, rows);
    }
    const uint8_t *values = a->buffers[1];
    if (values == NULL && rows > 0)
        return mr_err_set(err, MURR_EINVAL, "column '%s': arrow values buffer is NULL for %lld rows", name,
                          (long long)rows);
    if (t == MURR_BOOL) {
        c->values = rows ? (void *)bitmap_at(b, values, off, rows) : (void *)zero_buffer;
        if (c->values == NULL)
            return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot copy the values of column '%s'", name);
    } else if (t == MURR_UTF8) {
        const int32_t *offsets = (const int32_t *)(values ? values : (const uint8_t *)zero_buffer) + off;
        const uint8_t *data = a->buffers[2];
        int32_t first = offsets[0], last = offsets[rows];
        if (first < 0 || last < first || (data == NULL && last > first))
            return mr_err_set(err, MURR_ECORRUPT, "column '%s': arrow utf8 offsets [%d, %d] at row offset %lld are "
                              "not a range of the data", name, first, last, (long long)off);
        if (first != 0) {
            int32_t *rebased = mr_batch_alloc(b, sizeof(int32_t) * (size_t)(rows + 1));
            if (rebased == NULL)
                return mr_err_set(err, MURR_ENOMEM, "arrow import: cannot copy the offsets of column '%s'", name);
            for (int64_t r = 0; r <= rows; r++)
                rebased[r] = offsets[r] - first;
            offsets = rebased;
        }
        c->values = (void *)offsets;
        c->data = data ? (uint8_t *)data + first : (uint8_t *)zero_buffer;
        c->data_len = last - first;
    } else {
        c->values = rows ? (void *)(values + (size_t)off * mr_dtype_width(t)) : (void *)zero_buffer;
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
