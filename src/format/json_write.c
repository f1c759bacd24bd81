/* json_write.c - the JSON response writer and shortest round-trip float formatting.
 *
 * Floats: the shortest decimal that reads back to the same bits is found by asking the
 * C library for 1, 2, ... significant digits ("%.*e", correctly rounded in glibc) and
 * reading each back (strtof/strtod, correctly rounded), binary-searching the smallest count
 * that round-trips; float32
 * round-trips as float32, so 0.95f prints "0.95". The digits are then laid out as Python's
 * repr() does: positional for decimal exponents in [-4, 16), else scientific ("1e-05",
 * "1.5e+16"), integral values keep ".0". Correct by construction; cost is a few snprintf
 * calls per number (see docs/benchmarks.md), which a Ryu-style formatter would cut. */
#include "format/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* digits (no dot, no trailing zeros) and decimal exponent e: value = 0.d1d2.. x 10^(e+1)
 * i.e. d1.d2d3.. x 10^e. */
static size_t layout(bool neg, const char *dig, int nd, int e, char *out)
{
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (e >= -4 && e < 16) {
        if (e < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -e - 1; i++)
                out[o++] = '0';
            memcpy(out + o, dig, (size_t)nd);
            o += (size_t)nd;
        } else if (nd <= e + 1) {
            memcpy(out + o, dig, (size_t)nd);
            o += (size_t)nd;
            for (int i = nd; i < e + 1; i++)
                out[o++] = '0';
            out[o++] = '.';
            out[o++] = '0';
        } else {
            memcpy(out + o, dig, (size_t)(e + 1));
            o += (size_t)(e + 1);
            out[o++] = '.';
            memcpy(out + o, dig + e + 1, (size_t)(nd - e - 1));
            o += (size_t)(nd - e - 1);
        }
    } else {
        out[o++] = dig[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, dig + 1, (size_t)(nd - 1));
            o += (size_t)(nd - 1);
        }
        o += (size_t)sprintf(out + o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    return o;
}

/* Splits "%.*e" output "d.ddde±XX" into digits without trailing zeros and exponent. */
static int split_sci(const char *s, char *dig, int *e)
{
    int nd = 0;
    const char *p = s;
    if (*p == '-')
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            dig[nd++] = *p;
    *e = atoi(p + 1);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    return nd;
}

static size_t fmt_shortest(double v, bool is_f32, char *buf)
{
    if (!isfinite(v)) {
        memcpy(buf, "null", 4);
        return 4;
    }
    bool neg = signbit(v);
    double a = fabs(v);
    if (a == 0.0)
        return layout(neg, "0", 1, 0, buf);
    char tmp[64], dig[32];
    /* Round-tripping is monotone in the digit count (p digits round-trip => p+1 do), so
     * binary search for the smallest p: about 4 snprintf/strto* pairs instead of up to 17. */
    int lo = 1, hi = is_f32 ? 9 : 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(tmp, sizeof(tmp), "%.*e", mid - 1, a);
        bool ok = is_f32 ? strtof(tmp, NULL) == (float)a : strtod(tmp, NULL) == a;
        if (ok)
            hi = mid;
        else
            lo = mid + 1;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", lo - 1, a);
    int e;
    int nd = split_sci(tmp, dig, &e);
    return layout(neg, dig, nd, e, buf);
}

size_t mr_fmt_f32(float v, char *buf) { return fmt_shortest(v, true, buf); }
size_t mr_fmt_f64(double v, char *buf) { return fmt_shortest(v, false, buf); }

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

static int write_value(mr_buf_t *out, const mr_column_t *c, int64_t r)
{
    char tmp[MR_FMT_FLOAT_MAX + 8];
    size_t n;
    const void *v = c->values;
    switch (c->dtype) {
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
