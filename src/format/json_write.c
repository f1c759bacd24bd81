/* json_write.c - the JSON response writer: exact integers, shortest round-trip floats
 * (shortest.c; float32 as float32, NaN/Inf as null), strings escaped per RFC 8259, the
 * `columns` object in batch order. */
#include "format/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mr_json_write_string(mr_buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    MR_RETURN_NOT_OK(mr_buf_reserve(out, len + 2));
    out->data[out->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            MR_RETURN_NOT_OK(mr_buf_append_byte(out, c));
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        MR_RETURN_NOT_OK(mr_buf_append(out, esc, n));
    }
    return mr_buf_append_byte(out, '"');
}

/* [e0,e1,...] of a list row. */
static int write_list(mr_buf_t *out, const mr_column_t *c, int64_t r)
{
    int64_t n = mr_list_len(c, r);
    const uint8_t *el = mr_list_elems(c, r);
    MR_RETURN_NOT_OK(mr_buf_reserve(out, 2 + (size_t)n * (MR_FMT_FLOAT_MAX + 1)));
    char *o = (char *)out->data + out->len;
    *o++ = '[';
    for (int64_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        if (c->dtype == MURR_LIST_FLOAT32) {
            float f;
            memcpy(&f, el + 4 * i, 4);
            o += mr_fmt_f32(f, o);
        } else if (c->dtype == MURR_LIST_FLOAT16) {
            uint16_t h;
            memcpy(&h, el + 2 * i, 2);
            o += mr_fmt_f16(h, o);
        } else {
            o += sprintf(o, "%d", (int8_t)el[i]);
        }
    }
    *o++ = ']';
    out->len = (size_t)(o - (char *)out->data);
    return 0;
}

static int write_value(mr_buf_t *out, const mr_column_t *c, int64_t r)
{
    char tmp[MR_FMT_FLOAT_MAX + 8];
    size_t n;
    const void *v = c->values;
    switch (c->dtype) {
    case MURR_LIST_FLOAT32: case MURR_LIST_FLOAT16: case MURR_LIST_INT8:
        return write_list(out, c, r);
    case MURR_UTF8: {
        size_t l;
        const uint8_t *s = mr_column_str(c, r, &l);
        return mr_json_write_string(out, (const char *)s, l);
    }
    case MURR_BOOL:
        return mr_buf_append_cstr(out, mr_bit_get(v, r) ? "true" : "false");
    case MURR_INT8: n = (size_t)sprintf(tmp, "%d", ((const int8_t *)v)[r]); break;
    case MURR_INT16: n = (size_t)sprintf(tmp, "%d", ((const int16_t *)v)[r]); break;
    case MURR_INT32: n = (size_t)sprintf(tmp, "%d", ((const int32_t *)v)[r]); break;
    case MURR_INT64: n = (size_t)sprintf(tmp, "%lld", (long long)((const int64_t *)v)[r]); break;
    case MURR_UINT8: n = (size_t)sprintf(tmp, "%u", ((const uint8_t *)v)[r]); break;
    case MURR_UINT16: n = (size_t)sprintf(tmp, "%u", ((const uint16_t *)v)[r]); break;
    case MURR_UINT32: n = (size_t)sprintf(tmp, "%u", ((const uint32_t *)v)[r]); break;
    case MURR_UINT64: n = (size_t)sprintf(tmp, "%llu", (unsigned long long)((const uint64_t *)v)[r]); break;
    case MURR_FLOAT32: n = mr_fmt_f32(((const float *)v)[r], tmp); break;
    default: n = mr_fmt_f64(((const double *)v)[r], tmp); break;
    }
    return mr_buf_append(out, tmp, n);
}

/* The values of a float32 or float64 column, comma-separated: the room for the longest
 * text of every row is reserved once, and each row is written in place. */
static int write_float_column(mr_buf_t *out, const mr_column_t *c, int64_t rows)
{
    if (rows <= 0)
        return 0;
    MR_RETURN_NOT_OK(mr_buf_reserve(out, (size_t)rows * (MR_FMT_FLOAT_MAX + 1)));
    char *o = (char *)out->data + out->len;
    for (int64_t r = 0; r < rows; r++) {
        if (r)
            *o++ = ',';
        if (!murr_column_is_valid(c, r)) {
            memcpy(o, "null", 4);
            o += 4;
        } else if (c->dtype == MURR_FLOAT32) {
            o += mr_fmt_f32(((const float *)c->values)[r], o);
        } else {
            o += mr_fmt_f64(((const double *)c->values)[r], o);
        }
    }
    out->len = (size_t)(o - (char *)out->data);
    return 0;
}

int mr_json_write_batch(mr_buf_t *out, const mr_batch_t *b, mr_error_t *err)
{
    int rc = mr_buf_reserve(out, 16 + (size_t)b->num_rows * (size_t)b->num_columns * 12);
    rc = rc ? rc : mr_buf_append_cstr(out, "{\"columns\":{");
    bool first_col = true;
    for (int32_t ci = 0; ci < b->num_columns && rc == 0; ci++) {
        const mr_column_t *c = &b->columns[ci];
        if (mr_batch_find_column(b, c->name, c->name_len) != ci)
            continue; /* a repeated name is written once */
        if (!first_col)
            rc = mr_buf_append_byte(out, ',');
        first_col = false;
        rc = rc ? rc : mr_json_write_string(out, c->name, c->name_len);
        rc = rc ? rc : mr_buf_append(out, ":[", 2);
        if (rc == 0 && (c->dtype == MURR_FLOAT32 || c->dtype == MURR_FLOAT64)) {
            rc = write_float_column(out, c, b->num_rows);
            rc = rc ? rc : mr_buf_append_byte(out, ']');
            continue;
        }
        for (int64_t r = 0; r < b->num_rows && rc == 0; r++) {
            if (r)
                rc = mr_buf_append_byte(out, ',');
            if (rc == 0)
                rc = murr_column_is_valid(c, r) ? write_value(out, c, r) : mr_buf_append(out, "null", 4);
        }
        rc = rc ? rc : mr_buf_append_byte(out, ']');
    }
    rc = rc ? rc : mr_buf_append(out, "}}", 2);
    if (rc != 0)
        return mr_err_set(err, MURR_ENOMEM, "out of memory writing a JSON answer of %lld rows", (long long)b->num_rows);
    return 0;
}
