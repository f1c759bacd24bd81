/* arrow_ipc_list.c - Arrow List / LargeList / FixedSizeList columns of Float32, HalfFloat or
 * Int8 in IPC input: the schema's list type and child field, and the record batch buffers
 * (decision 0012). Everything comes from untrusted input: child counts, node lengths,
 * offsets and buffer sizes are checked against each other before use. */
#include "format/arrow_ipc_internal.h"

#include <stdio.h>
#include <string.h>

enum { T_INT = 2, T_FLOAT = 3, T_LIST = 12, T_FSL = 16, T_LARGE_LIST = 21 };

/* The element type of the child field: list<float32|float16|int8>, or an error naming it. */
static int elem_dtype(const fb_table_t *child, const char *fname, const char *outer, murr_dtype *dt, const char **en,
                      mr_error_t *err)
{
    uint8_t ct = fb_u8(child, 2, 0);
    fb_table_t ctype;
    bool has = fb_table_field(child, 3, &ctype);
    if (ct == T_FLOAT && has && fb_i16(&ctype, 0, 0) == 1) {
        *dt = MURR_LIST_FLOAT32;
        *en = "Float32";
    } else if (ct == T_FLOAT && has && fb_i16(&ctype, 0, 0) == 0) {
        *dt = MURR_LIST_FLOAT16;
        *en = "HalfFloat";
    } else if (ct == T_INT && has && fb_i32(&ctype, 0, 0) == 8 && fb_u8(&ctype, 1, 0) != 0) {
        *dt = MURR_LIST_INT8;
        *en = "Int8";
    } else if (ct == T_LIST || ct == T_FSL || ct == T_LARGE_LIST) {
        return mr_err_set(err, MURR_EUNSUPPORTED,
                          "field '%s': %s of lists is nested deeper than one level; list columns hold Float32, "
                          "HalfFloat or Int8 elements",
                          fname, outer);
    } else {
        char what[32];
        if (ct == T_INT && has)
            snprintf(what, sizeof(what), "%s%d", fb_u8(&ctype, 1, 0) ? "Int" : "UInt", fb_i32(&ctype, 0, 0));
        else if (ct == T_FLOAT && has)
            snprintf(what, sizeof(what), "%s", fb_i16(&ctype, 0, 0) == 2 ? "Float64" : "FloatingPoint(?)");
        else
            snprintf(what, sizeof(what), "type tag %u", ct);
        return mr_err_set(err, MURR_EUNSUPPORTED,
                          "field '%s': %s<%s> is not supported; list columns hold Float32, HalfFloat or Int8 "
                          "elements (cast on the client, e.g. pa.list_(pa.float32()))",
                          fname, outer, what);
    }
    if (fb_has(child, 4))
        return mr_err_set(err, MURR_EUNSUPPORTED, "field '%s': dictionary-encoded list elements are not supported", fname);
    size_t n, pos;
    if (fb_vector(child, 5, 4, &n, &pos) && n > 0)
        return mr_err_set(err, MURR_EUNSUPPORTED, "field '%s': %s elements with children are nested deeper than one level",
                          fname, outer);
    return 0;
}

int mr_ipc_list_field(const fb_table_t *ft, uint8_t tt, const fb_table_t *type, bool has_type, const char *fname,
                      mr_ipc_list_kind_t *kind, murr_dtype *dtype, int32_t *dim, char *tn, size_t tncap, mr_error_t *err)
{
    const char *outer = tt == T_FSL ? "FixedSizeList" : tt == T_LARGE_LIST ? "LargeList" : "List";
    *kind = tt == T_FSL ? MR_IPC_FIXED_LIST : tt == T_LARGE_LIST ? MR_IPC_LARGE_LIST : MR_IPC_LIST;
    *dim = 0;
    if (tt == T_FSL) {
        int32_t size = has_type ? fb_i32(type, 0, 0) : 0;
        if (size < 1 || size > MURR_LIST_DIM_MAX)
            return mr_err_set(err, size < 0 ? MURR_ECORRUPT : MURR_EUNSUPPORTED,
                              "field '%s': FixedSizeList of size %d; a list column's dimension is 1 to %d", fname, size,
                              MURR_LIST_DIM_MAX);
        *dim = size;
    }
    size_t n = 0, pos = 0;
    if (!fb_vector(ft, 5, 4, &n, &pos) || n != 1)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': %s has %zu child fields, exactly 1 expected", fname, outer, n);
    fb_table_t child;
    if (!fb_vector_table(ft->ctx, pos, 0, &child))
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': malformed child field of %s", fname, outer);
    const char *en = "";
    MR_RETURN_NOT_OK(elem_dtype(&child, fname, outer, dtype, &en, err));
    if (*dim > 0)
        snprintf(tn, tncap, "%s<%s, %d>", outer, en, *dim);
    else
        snprintf(tn, tncap, "%s<%s>", outer, en);
    return 0;
}

/* Null elements are refused except under a null list (pyarrow writes null slots there for
 * a FixedSizeList): element e of list row r, rows [0, rows) of col, offsets off (NULL:
 * fixed size dim). */
static int check_child_nulls(const char *fname, const mr_column_t *col, const int32_t *off, int64_t base, int32_t dim,
                             int64_t rows, const uint8_t *cv, int64_t clen, mr_error_t *err)
{
    int64_t r = 0;
    for (int64_t e = 0; e < clen; e++) {
        if (mr_bit_get(cv, e))
            continue;
        if (off == NULL) {
            r = e / dim;
        } else {
            while (r < rows && off[r + 1] + base <= e)
                r++;
            if (r >= rows || off[r] + base > e)
                continue; /* an element no list row covers */
        }
        if (r < rows && murr_column_is_valid(col, r))
            return mr_err_set(err, MURR_EINVAL,
                              "field '%s' row %lld: element %lld is null; list elements cannot be null (a whole list "
                              "can)",
                              fname, (long long)r, (long long)(e - (off ? off[r] + base : r * dim)));
    }
    return 0;
}

/* The child array's node, validity and values: clen elements of w bytes (the node's length
 * must be `expect`, or at least it when !exact); nulls only under null lists. */
static int child_values(rb_ctx_t *c, const char *fname, const mr_column_t *col, const int32_t *off, int64_t base,
                        int32_t dim, int64_t rows, int64_t expect, bool exact, size_t w, const uint8_t **values,
                        mr_error_t *err)
{
    int64_t clen, cnull;
    MR_RETURN_NOT_OK(mr_ipc_rb_node(c, fname, &clen, &cnull, err));
    if (exact ? clen != expect : clen < expect)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': list child has length %lld, its lists need %s%lld elements",
                          fname, (long long)clen, exact ? "" : "at least ", (long long)expect);
    const uint8_t *vb, *db;
    int64_t vl, dl;
    MR_RETURN_NOT_OK(mr_ipc_rb_buffer(c, fname, &vb, &vl, err));
    if (cnull < 0 || cnull > clen)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': list child null_count %lld for %lld elements", fname,
                          (long long)cnull, (long long)clen);
    if (cnull > 0 && (vl < 0 || (uint64_t)vl < mr_bitmap_bytes(clen)))
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': list child validity has %lld bytes, %zu needed", fname,
                          (long long)vl, mr_bitmap_bytes(clen));
    if (cnull > 0) {
        if (mr_bitmap_count(vb, 0, clen) != clen - cnull)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s': list child null_count %lld disagrees with its bitmap",
                              fname, (long long)cnull);
        MR_RETURN_NOT_OK(check_child_nulls(fname, col, off, base, dim, rows, vb, clen, err));
    }
    MR_RETURN_NOT_OK(mr_ipc_rb_buffer(c, fname, &db, &dl, err));
    if ((uint64_t)clen > (uint64_t)dl / w)
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': list values buffer has %lld bytes, %lld elements of %zu bytes "
                          "needed", fname, (long long)dl, (long long)clen, w);
    *values = db;
    return 0;
}

int mr_ipc_list_decode(rb_ctx_t *c, const char *fname, mr_ipc_list_kind_t kind, murr_dtype dtype, int32_t dim,
                       int64_t rows, mr_column_t *col, mr_error_t *err)
{
    size_t w = mr_list_elem_width(dtype);
    col->dtype = dtype;
    col->dim = dim;
    col->data = NULL;
    col->data_len = 0;
    if (kind == MR_IPC_FIXED_LIST) {
        if (rows > ((int64_t)1 << 40) / dim)
            return mr_err_set(err, MURR_ETOOBIG, "field '%s': %lld rows of dimension %d", fname, (long long)rows, dim);
        const uint8_t *v;
        MR_RETURN_NOT_OK(child_values(c, fname, col, NULL, 0, dim, rows, rows * dim, true, w, &v, err));
        col->values = (void *)v;
        return 0;
    }
    const uint8_t *ob;
    int64_t ol;
    MR_RETURN_NOT_OK(mr_ipc_rb_buffer(c, fname, &ob, &ol, err));
    size_t ow = kind == MR_IPC_LARGE_LIST ? 8 : 4;
    if (rows > 0 && (ol < 0 || (uint64_t)ol / ow < (uint64_t)rows + 1))
        return mr_err_set(err, MURR_ECORRUPT, "field '%s': list offsets buffer has %lld bytes, %lld needed", fname,
                          (long long)ol, (long long)((rows + 1) * (int64_t)ow));
    int32_t *o = mr_ipc_rb_alloc(c, (uint64_t)(rows + 1) * 4, "list offsets", fname, err);
    if (o == NULL)
        return err ? err->code : MURR_ENOMEM;
    int64_t base = 0, prev = 0;
    for (int64_t i = 0; i <= rows; i++) {
        int64_t v = 0;
        if (rows > 0 && ow == 4) {
            int32_t v32;
            memcpy(&v32, ob + 4 * i, 4);
            v = v32;
        } else if (rows > 0) {
            memcpy(&v, ob + 8 * i, 8);
        }
        if (i == 0)
            base = prev = v;
        if (v < prev || v < 0)
            return mr_err_set(err, MURR_ECORRUPT, "field '%s' row %lld: list offset %lld is %s", fname, (long long)i,
                              (long long)v, v < 0 ? "negative" : "less than the previous one");
        if (v - base > INT32_MAX)
            return mr_err_set(err, MURR_ETOOBIG, "field '%s': more than %d list elements in one batch", fname, INT32_MAX);
        o[i] = (int32_t)(v - base);
        prev = v;
    }
    /* the child holds at least the elements up to the last offset; it may hold more */
    const uint8_t *v;
    MR_RETURN_NOT_OK(child_values(c, fname, col, o, base, 0, rows, prev, false, w, &v, err));
    col->values = o;
    col->data = (uint8_t *)v + (size_t)base * w;
    col->data_len = (prev - base) * (int64_t)w;
    return 0;
}
