/* key.c - encoded keys; format and rules in key.h and murr.h. */
#include "core/key.h"
#include "core/alloc.h"
#include "core/varint.h"

#include <string.h>

void mr_key_codec_init(mr_key_codec_t *kc, const mr_schema_t *s)
{
    kc->n = s->num_keys;
    kc->cols = mr_xcalloc((size_t)(kc->n ? kc->n : 1), sizeof(int32_t));
    kc->widths = mr_xcalloc((size_t)(kc->n ? kc->n : 1), sizeof(uint32_t));
    kc->fixed_len = 0;
    kc->nstr = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < s->num_columns && k < kc->n; i++) {
        if (!s->columns[i].key)
            continue;
        kc->cols[k] = i;
        murr_dtype t = s->columns[i].dtype;
        kc->widths[k] = t == MURR_UTF8 ? 0 : (uint32_t)mr_dtype_width(t);
        kc->fixed_len += kc->widths[k];
        kc->nstr += kc->widths[k] == 0;
        k++;
    }
    kc->raw = kc->n == 1 && kc->widths[0] == 0;
}

void mr_key_codec_deinit(mr_key_codec_t *kc)
{
    mr_free(kc->cols);
    mr_free(kc->widths);
    memset(kc, 0, sizeof(*kc));
}

size_t mr_key_encoded_len(const mr_key_codec_t *kc, const mr_column_t *cols, int64_t row)
{
    if (kc->nstr == 0)
        return kc->fixed_len;
    size_t n = kc->fixed_len;
    for (int32_t k = 0; k < kc->n; k++) {
        if (kc->widths[k] != 0)
            continue;
        size_t l;
        mr_column_str(&cols[kc->cols[k]], row, &l);
        n += kc->raw ? l : mr_varint_len(l) + l;
    }
    return n;
}

/* One integer component: fixed-size copies the compiler inlines (a libc memcpy call per
 * component costs more than the rest of the key). Little-endian host. */
static inline uint8_t *put_int(uint8_t *p, const uint8_t *v, size_t w)
{
    switch (w) {
    case 1: *p = *v; break;
    case 2: memcpy(p, v, 2); break;
    case 4: memcpy(p, v, 4); break;
    default: memcpy(p, v, 8); break;
    }
    return p + w;
}

static inline uint8_t *put_bytes(uint8_t *p, const uint8_t *s, size_t l)
{
    if (l <= 16) /* ids are short: a byte loop beats a libc call */
        for (size_t i = 0; i < l; i++)
            p[i] = s[i];
    else
        memcpy(p, s, l);
    return p + l;
}

/* One utf8 component of a compound key: LEB128 length, then the bytes. */
static inline uint8_t *put_str(uint8_t *p, const uint8_t *s, size_t l)
{
    if (l < 0x80)
        *p++ = (uint8_t)l;
    else
        p += mr_varint_put(p, l);
    return put_bytes(p, s, l);
}

size_t mr_key_encode(const mr_key_codec_t *kc, const mr_column_t *cols, int64_t row, uint8_t *dst)
{
    uint8_t *p = dst;
    for (int32_t k = 0; k < kc->n; k++) {
        const mr_column_t *c = &cols[kc->cols[k]];
        size_t w = kc->widths[k];
        if (w != 0) {
            p = put_int(p, (const uint8_t *)c->values + (size_t)row * w, w);
            continue;
        }
        size_t l;
        const uint8_t *s = mr_column_str(c, row, &l);
        p = kc->raw ? put_bytes(p, s, l) : put_str(p, s, l);
    }
    return (size_t)(p - dst);
}

static int key_too_long(int64_t row, size_t len, mr_error_t *err)
{
    return mr_err_set(err, MURR_EINVAL, "Segment error: key at row %lld is %zu bytes, the limit is %d", (long long)row,
                      len, MURR_KEY_MAX);
}

int mr_key_columns_prepare(const mr_key_codec_t *kc, const mr_schema_t *s, const mr_batch_t *b, bool exact,
                           const char *what, mr_batch_t *scratch, mr_column_t *cols, mr_error_t *err)
{
    if (exact) {
        for (int32_t i = 0; i < b->num_columns; i++) {
            int32_t si = mr_schema_find(s, b->columns[i].name, b->columns[i].name_len);
            if (si < 0 || !s->columns[si].key)
                return mr_err_set(err, MURR_EINVAL,
                                  "Table error: %s: column '%s' is not a key column; the keys hold exactly the %d key "
                                  "column(s) of the table",
                                  what, b->columns[i].name, kc->n);
            for (int32_t j = 0; j < i; j++)
                if (b->columns[j].name_len == b->columns[i].name_len &&
                    memcmp(b->columns[j].name, b->columns[i].name, b->columns[i].name_len) == 0)
                    return mr_err_set(err, MURR_EINVAL, "Table error: %s: key column '%s' appears twice (columns %d and %d)",
                                      what, b->columns[i].name, j, i);
        }
    }
    for (int32_t k = 0; k < kc->n; k++) {
        const mr_column_schema_t *cs = &s->columns[kc->cols[k]];
        int32_t bi = mr_batch_find_column(b, cs->name, cs->name_len);
        if (bi < 0)
            return mr_err_set(err, MURR_EINVAL, "Table error: missing column '%s' in %s (it is key column %d of %d)",
                              cs->name, what, k + 1, kc->n);
        const mr_column_t *c = &b->columns[bi];
        if (c->null_count > 0) {
            int64_t r = 0;
            while (murr_column_is_valid(c, r))
                r++;
            return mr_err_set(err, MURR_EINVAL, "Segment error: null in key column '%s' at row %lld", cs->name,
                              (long long)r);
        }
        mr_column_t *out = &cols[kc->cols[k]];
        if (c->dtype == cs->dtype) {
            *out = *c;
            continue;
        }
        mr_error_t e2 = {0};
        if ((c->dtype == MURR_UTF8) != (cs->dtype == MURR_UTF8) || !mr_dtype_widens_losslessly(c->dtype, cs->dtype))
            return mr_err_set(err, MURR_EINVAL,
                              "Table error: key column '%s' is %s, got %s in %s: key types only widen losslessly "
                              "(cast the keys to %s)",
                              cs->name, murr_dtype_name(cs->dtype), murr_dtype_name(c->dtype), what,
                              murr_dtype_name(cs->dtype));
        if (mr_column_convert(scratch, c, b->num_rows, cs->dtype, true, out, &e2) != 0)
            return mr_err_set(err, e2.code, "Table error: key column '%s': %s", cs->name, e2.message);
    }
    /* integer-only keys have one length (fixed_len <= 8 x MR_SCHEMA_MAX_COLUMNS < MURR_KEY_MAX);
     * fetch keys (exact) are checked while mr_key_encode_all encodes them, in the same pass */
    for (int64_t r = 0; !exact && kc->nstr > 0 && r < b->num_rows; r++) {
        size_t l = mr_key_encoded_len(kc, cols, r);
        if (l > MURR_KEY_MAX)
            return key_too_long(r, l, err);
    }
    return 0;
}

/* Integer-only keys, fixed_len bytes each: every component copied column-wise. */
static void encode_fixed(const mr_key_codec_t *kc, const mr_key_part_t *parts, int64_t rows, uint8_t *buf,
                         const char **keys)
{
    size_t fw = kc->fixed_len, off = 0;
    for (int32_t k = 0; k < kc->n; k++) {
        size_t w = kc->widths[k], stride = parts[k].stride;
        const uint8_t *v = parts[k].ints;
        for (int64_t r = 0; r < rows; r++)
            put_int(buf + (size_t)r * fw + off, v + (size_t)r * stride, w);
        off += w;
    }
    for (int64_t r = 0; r < rows; r++)
        keys[r] = (const char *)buf + (size_t)r * fw;
}

int mr_key_encode_all(const mr_key_codec_t *kc, const mr_column_t *cols, int64_t rows, mr_batch_t *scratch,
                      const char **keys, size_t *lens, mr_error_t *err)
{
    if (kc->raw) {
        const mr_column_t *c = &cols[kc->cols[0]];
        for (int64_t r = 0; r < rows; r++) {
            keys[r] = (const char *)mr_column_str(c, r, &lens[r]);
            if (lens[r] > MURR_KEY_MAX)
                return key_too_long(r, lens[r], err);
        }
        return 0;
    }
    if (kc->nstr == 0) { /* fixed-width keys: each component copied column-wise */
        uint8_t *buf = mr_batch_alloc(scratch, kc->fixed_len * (size_t)rows + 1);
        if (buf == NULL)
            return mr_err_set(err, MURR_ENOMEM, "cannot allocate %zu bytes for %lld encoded keys",
                              kc->fixed_len * (size_t)rows, (long long)rows);
        mr_key_part_t parts[8];
        mr_key_part_t *pp = kc->n <= 8 ? parts : mr_batch_alloc(scratch, (size_t)kc->n * sizeof(*pp));
        if (pp == NULL)
            return mr_err_set(err, MURR_ENOMEM, "cannot allocate %d key components", kc->n);
        for (int32_t k = 0; k < kc->n; k++)
            pp[k] = (mr_key_part_t){.ints = cols[kc->cols[k]].values, .stride = kc->widths[k]};
        encode_fixed(kc, pp, rows, buf, keys);
        for (int64_t r = 0; r < rows; r++)
            lens[r] = kc->fixed_len;
        return 0;
    }
    /* A bound, not the sum: utf8 lengths are int32 offsets, so a length prefix takes at most
     * 5 bytes. */
    size_t bound = kc->fixed_len * (size_t)rows;
    for (int32_t k = 0; k < kc->n; k++) {
        if (kc->widths[k] != 0)
            continue;
        const int32_t *off = cols[kc->cols[k]].values;
        bound += 5 * (size_t)rows + (size_t)(off[rows] - off[0]);
    }
    uint8_t *p = mr_batch_alloc(scratch, bound + 1);
    if (p == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate %zu bytes for %lld encoded keys", bound, (long long)rows);
    for (int64_t r = 0; r < rows; r++) {
        keys[r] = (const char *)p;
        lens[r] = mr_key_encode(kc, cols, r, p);
        if (lens[r] > MURR_KEY_MAX)
            return key_too_long(r, lens[r], err);
        p += lens[r];
    }
    return 0;
}

int mr_key_parts_lens(const mr_key_codec_t *kc, const mr_key_part_t *parts, int64_t rows, size_t *lens, size_t *total,
                      mr_error_t *err)
{
    size_t n = 0;
    for (int64_t r = 0; r < rows; r++) {
        size_t l = kc->fixed_len;
        for (int32_t k = 0; k < kc->n; k++)
            if (kc->widths[k] == 0)
                l += mr_varint_len(parts[k].strs[r].len) + parts[k].strs[r].len;
        if (l > MURR_KEY_MAX)
            return key_too_long(r, l, err);
        lens[r] = l;
        n += l;
    }
    *total = n;
    return 0;
}

void mr_key_encode_parts(const mr_key_codec_t *kc, const mr_key_part_t *parts, int64_t rows, uint8_t *buf,
                         const char **keys, const size_t *lens)
{
    if (kc->nstr == 0) {
        encode_fixed(kc, parts, rows, buf, keys);
        return;
    }
    /* component by component, each a tight loop of one kind; keys[r] is row r's cursor */
    uint8_t *p = buf;
    for (int64_t r = 0; r < rows; r++) {
        keys[r] = (const char *)p;
        p += lens[r];
    }
    uint8_t **cur = (uint8_t **)keys;
    for (int32_t k = 0; k < kc->n; k++) {
        size_t w = kc->widths[k];
        if (w != 0) {
            const uint8_t *v = parts[k].ints;
            size_t stride = parts[k].stride;
            for (int64_t r = 0; r < rows; r++)
                cur[r] = put_int(cur[r], v + (size_t)r * stride, w);
        } else {
            const mr_slice_t *st = parts[k].strs;
            for (int64_t r = 0; r < rows; r++)
                cur[r] = put_str(cur[r], (const uint8_t *)st[r].ptr, st[r].len);
        }
    }
    for (int64_t r = 0; r < rows; r++)
        keys[r] -= lens[r];
}
