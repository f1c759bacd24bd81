/*
 * arrow_c.c - a murr batch exported across the Arrow C Data Interface
 * (murr_batch_export_arrow in murr.h) without copying a buffer: flat columns are primitive
 * or utf8 arrays, list columns a FixedSizeList ("+w:<dim>") or a List ("+l") with one child
 * "item" over the column's elements (decision 0012). The import is arrow_c_import.c.
 */
#include "format/arrow_c_internal.h"

#include "core/alloc.h"
#include "core/batch.h"

#include <stdio.h>
#include <string.h>

/* murr_dtype order; a list dtype's entry is its element's format */
static const char *const arrow_formats[MURR_DTYPE_COUNT] = {
    "u", "b", "c", "s", "i", "l", "C", "S", "I", "L", "f", "g", "f", "e", "c",
};

const int64_t mr_arrow_c_zero[2];

const char *mr_arrow_c_format(murr_dtype t) { return (unsigned)t < MURR_DTYPE_COUNT ? arrow_formats[t] : NULL; }

static const void *or_zero(const void *p) { return p ? p : (const void *)mr_arrow_c_zero; }

/* Per column, whatever its dtype (a flat column leaves the child part unused): the column's
 * array, its list child, the pointer to that child, and 3 + 2 buffer pointers. */
typedef struct export_col {
    struct ArrowArray array, item;
    struct ArrowArray *item_ptr;
    const void *buffers[3], *item_buffers[2];
} export_col_t;

typedef struct export_array {
    murr_batch *batch;
    const void *parent_buffers[1];
    /* followed by: struct ArrowArray *ptrs[n]; export_col_t cols[n] */
} export_array_t;

typedef struct export_schema_col {
    struct ArrowSchema schema, item;
    struct ArrowSchema *item_ptr;
    char format[16]; /* "+w:65536" at most */
} export_schema_col_t;

/* followed by: struct ArrowSchema *ptrs[n]; export_schema_col_t cols[n]; the NUL-terminated names */

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

static int export_schema(const murr_batch *b, struct ArrowSchema *out, mr_error_t *err)
{
    size_t n = (size_t)b->num_columns, names = 0;
    for (size_t i = 0; i < n; i++)
        names += b->columns[i].name_len + 1;
    size_t size = n * (sizeof(struct ArrowSchema *) + sizeof(export_schema_col_t)) + names;
    uint8_t *mem = mr_calloc(1, size ? size : 1);
    if (mem == NULL)
        return mr_err_set(err, MURR_ENOMEM, "arrow export: cannot allocate the schema of %zu columns", n);
    struct ArrowSchema **ptrs = (struct ArrowSchema **)mem;
    export_schema_col_t *cols = (export_schema_col_t *)(ptrs + n);
    char *name = (char *)(cols + n);
    for (size_t i = 0; i < n; i++) {
        const murr_column *c = &b->columns[i];
        export_schema_col_t *sc = &cols[i];
        memcpy(name, c->name, c->name_len);
        name[c->name_len] = '\0';
        const char *format = arrow_formats[c->dtype];
        if (mr_dtype_is_list(c->dtype)) {
            /* the child is nullable, as pyarrow declares list items; its elements never are null */
            sc->item = (struct ArrowSchema){.format = arrow_formats[c->dtype], .name = "item",
                                            .flags = ARROW_FLAG_NULLABLE, .release = release_child_schema};
            sc->item_ptr = &sc->item;
            if (c->dim > 0)
                snprintf(sc->format, sizeof(sc->format), "+w:%d", (int)c->dim);
            else
                memcpy(sc->format, "+l", 3);
            format = sc->format;
        }
        sc->schema = (struct ArrowSchema){.format = format, .name = name, .flags = ARROW_FLAG_NULLABLE,
                                          .n_children = mr_dtype_is_list(c->dtype) ? 1 : 0,
                                          .children = mr_dtype_is_list(c->dtype) ? &sc->item_ptr : NULL,
                                          .release = release_child_schema};
        ptrs[i] = &sc->schema;
        name += c->name_len + 1;
    }
    *out = (struct ArrowSchema){.format = "+s", .name = "", .n_children = (int64_t)n,
                                .children = n ? ptrs : NULL, .release = release_schema, .private_data = mem};
    return 0;
}

/* Column c of a batch of `rows` rows as the arrays of ec. */
static void export_column(const murr_column *c, int64_t rows, export_col_t *ec)
{
    ec->buffers[0] = c->null_count ? c->validity : NULL;
    ec->array = (struct ArrowArray){.length = rows, .null_count = c->null_count, .n_buffers = 2,
                                    .buffers = ec->buffers, .release = release_child_array};
    if (!mr_dtype_is_list(c->dtype)) {
        ec->buffers[1] = or_zero(c->values);
        ec->buffers[2] = or_zero(c->data);
        ec->array.n_buffers = c->dtype == MURR_UTF8 ? 3 : 2;
        return;
    }
    int64_t elems;
    ec->item_buffers[0] = NULL;
    if (c->dim > 0) {
        ec->array.n_buffers = 1; /* FixedSizeList: validity only */
        ec->item_buffers[1] = or_zero(c->values);
        elems = rows * c->dim;
    } else {
        ec->buffers[1] = or_zero(c->values);
        ec->item_buffers[1] = or_zero(c->data);
        elems = c->data_len / (int64_t)mr_list_elem_width(c->dtype);
    }
    ec->item = (struct ArrowArray){.length = elems, .n_buffers = 2, .buffers = ec->item_buffers,
                                   .release = release_child_array};
    ec->item_ptr = &ec->item;
    ec->array.n_children = 1;
    ec->array.children = &ec->item_ptr;
}

MURR_API int murr_batch_export_arrow(murr_batch *batch, struct ArrowArray *out_array,
                                     struct ArrowSchema *out_schema, murr_error *err)
{
    size_t n = (size_t)batch->num_columns;
    uint8_t *mem = mr_calloc(1, sizeof(export_array_t) + n * (sizeof(struct ArrowArray *) + sizeof(export_col_t)));
    if (mem == NULL)
        return mr_err_set(err, MURR_ENOMEM, "arrow export: cannot allocate the array of %zu columns", n);
    int rc = export_schema(batch, out_schema, err);
    if (rc != 0) {
        mr_free(mem);
        return rc;
    }
    export_array_t *p = (export_array_t *)mem;
    struct ArrowArray **ptrs = (struct ArrowArray **)(p + 1);
    export_col_t *cols = (export_col_t *)(ptrs + n);
    p->batch = batch;
    for (size_t i = 0; i < n; i++) {
        export_column(&batch->columns[i], batch->num_rows, &cols[i]);
        ptrs[i] = &cols[i].array;
    }
    *out_array = (struct ArrowArray){.length = batch->num_rows, .n_buffers = 1, .n_children = (int64_t)n,
                                     .buffers = p->parent_buffers, .children = n ? ptrs : NULL,
                                     .release = release_array, .private_data = p};
    return 0;
}
