/* parquet_levels.c - assembling LIST columns from Parquet repetition and definition levels
 * (decision 0012). For the 3-level list optional group v (LIST) > repeated group list >
 * optional element, a level pair (rep, def) is: rep 0 = a new row, 1 = the same row's next
 * entry; def 0 = null list (if the list is optional), then empty list, then null element
 * (if the element is optional), max_def = an element with a value. Levels come from
 * untrusted pages: every value is checked before it moves a row or an offset. */
#include "format/parquet_internal.h"

#include <string.h>

int mr_pq_assemble_list(pq_list_out_t *o, const pq_column_t *col, int rg, const uint32_t *rep, const uint32_t *def,
                        int64_t n, const uint8_t *vals, int64_t m, mr_error_t *err)
{
    int32_t *off = o->col->values;
    int null_list = col->optional ? 0 : -1, empty = col->optional ? 1 : 0;
    int null_elem = col->elem_optional ? empty + 1 : -1, value = col->max_def;
    int64_t vi = 0;
    for (int64_t i = 0; i < n; i++) {
        if (rep[i] > 1 || def[i] > (uint32_t)value)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s' row group %d: level %lld has repetition %u / definition "
                              "%u, above the list's maxima 1 / %d", col->name, rg, (long long)i, rep[i], def[i], value);
        if (rep[i] == 0) {
            if (o->rows_done >= o->rows)
                return mr_err_set(err, MURR_ECORRUPT, "column '%s' row group %d: levels start more rows than the row "
                                  "group's %lld", col->name, rg, (long long)o->rows);
            o->rows_done++;
            off[o->rows_done] = off[o->rows_done - 1];
            o->open = true;
        } else if (!o->open) {
            return mr_err_set(err, MURR_ECORRUPT, "column '%s' row group %d: level %lld continues a list (repetition 1) "
                              "before any row started", col->name, rg, (long long)i);
        }
        int64_t row = o->rows_done - 1;
        int d = (int)def[i];
        if (d == null_list || d == empty) {
            if (rep[i] != 0)
                return mr_err_set(err, MURR_ECORRUPT, "column '%s' row group %d row %lld: a %s inside a list "
                                  "(repetition 1)", col->name, rg, (long long)row, d == empty ? "empty list" : "null");
            if (d == null_list)
                mr_bit_clear(o->col->validity, row);
            continue;
        }
        if (d == null_elem)
            return mr_err_set(err, MURR_EINVAL, "column '%s' row group %d row %lld: element %d is null; list elements "
                              "cannot be null (a whole list can)", col->name, rg, (long long)row, off[row + 1] - off[row]);
        if (d != value)
            continue; /* unreachable: every level below value is named above */
        if (vi >= m)
            return mr_err_set(err, MURR_ECORRUPT, "column '%s' row group %d: levels hold more values than the page's %lld",
                              col->name, rg, (long long)m);
        if (off[o->rows_done] == INT32_MAX)
            return mr_err_set(err, MURR_ETOOBIG, "column '%s' row group %d: more than %d list elements", col->name, rg,
                              INT32_MAX);
        int rc;
        if (o->col->dtype == MURR_LIST_INT8) {
            int32_t x;
            memcpy(&x, vals + 4 * vi, 4);
            if (x < -128 || x > 127)
                return mr_err_set(err, MURR_EINVAL, "column '%s' row group %d row %lld: INT_8 element %d is outside "
                                  "-128..127", col->name, rg, (long long)row, x);
            rc = mr_buf_append_byte(&o->elems, (uint8_t)(int8_t)x);
        } else { /* FLOAT as float32, FIXED_LEN_BYTE_ARRAY(2) FLOAT16 as binary16: the same bytes */
            size_t w = mr_list_elem_width(o->col->dtype);
            rc = mr_buf_append(&o->elems, vals + w * (size_t)vi, w);
        }
        if (rc != 0)
            return mr_err_set(err, MURR_ENOMEM, "column '%s': out of memory for list elements", col->name);
        vi++;
        off[o->rows_done]++;
    }
    return 0;
}
