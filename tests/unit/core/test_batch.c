/* Tests of the columnar batch: builders, validation, bitmaps, conversions. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "core/batch.h"
#include "core/budget.h"

static mr_batch_t *one_col(murr_dtype t, mr_colbuilder_t *cb)
{
    mr_batch_t *b = mr_batch_new(1, cb->rows);
    cr_assert_not_null(b);
    cr_assert_eq(mr_batch_set_name(b, 0, "c", 1), 0);
    cr_assert_eq(mr_colbuilder_finish(cb, b, 0), 0);
    (void)t;
    return b;
}

Test(batch, builder_utf8_with_nulls)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_UTF8);
    cr_assert_eq(mr_colbuilder_append_str(&cb, "hello", 5), 0);
    cr_assert_eq(mr_colbuilder_append_null(&cb), 0);
    cr_assert_eq(mr_colbuilder_append_str(&cb, "", 0), 0);
    cr_assert_eq(mr_colbuilder_append_str(&cb, "\xce\xb4-unicode", 10), 0);
    mr_batch_t *b = one_col(MURR_UTF8, &cb);
    mr_error_t err = {0};
    cr_assert_eq(mr_batch_validate(b, &err), 0, "%s", err.message);
    const mr_column_t *c = &b->columns[0];
    cr_assert_eq(c->null_count, 1);
    cr_assert(murr_column_is_valid(c, 0));
    cr_assert(!murr_column_is_valid(c, 1));
    size_t len;
    const uint8_t *s = mr_column_str(c, 3, &len);
    cr_assert_eq(len, 10);
    cr_assert(memcmp(s, "\xce\xb4-unicode", 10) == 0);
    s = mr_column_str(c, 2, &len);
    cr_assert_eq(len, 0);
    cr_assert_eq(((uintptr_t)c->values) % 64, 0, "values must be 64-byte aligned");
    mr_batch_free(b);
    mr_colbuilder_deinit(&cb);
}

Test(batch, builder_no_nulls_has_no_bitmap)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_INT32);
    for (int i = 0; i < 100; i++)
        mr_colbuilder_append_int(&cb, i * 3 - 50);
    mr_batch_t *b = one_col(MURR_INT32, &cb);
    cr_assert_null(b->columns[0].validity);
    cr_assert_eq(((int32_t *)b->columns[0].values)[99], 99 * 3 - 50);
    mr_batch_free(b);
}

Test(batch, bool_bitpacked_and_late_null)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_BOOL);
    for (int i = 0; i < 20; i++)
        mr_colbuilder_append_bool(&cb, i % 3 == 0);
    mr_colbuilder_append_null(&cb);
    mr_batch_t *b = one_col(MURR_BOOL, &cb);
    const mr_column_t *c = &b->columns[0];
    cr_assert_eq(b->num_rows, 21);
    cr_assert_eq(c->null_count, 1);
    for (int i = 0; i < 20; i++) {
        cr_assert(murr_column_is_valid(c, i));
        cr_assert_eq(mr_bit_get(c->values, i), i % 3 == 0, "row %d", i);
    }
    cr_assert(!murr_column_is_valid(c, 20));
    mr_error_t err = {0};
    cr_assert_eq(mr_batch_validate(b, &err), 0, "%s", err.message);
    mr_batch_free(b);
}

Test(batch, validate_rejects_bad_offsets_and_utf8)
{
    mr_batch_t *b = mr_batch_new(1, 2);
    mr_batch_set_name(b, 0, "s", 1);
    cr_assert_eq(mr_batch_column_alloc(b, 0, MURR_UTF8, false, 4), 0);
    int32_t *off = b->columns[0].values;
    memcpy(b->columns[0].data, "ab\xff\xfe", 4);
    off[0] = 0; off[1] = 2; off[2] = 4;
    mr_error_t err = {0};
    cr_assert_eq(mr_batch_validate(b, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "row 1") != NULL, "%s", err.message);
    off[1] = 5;
    cr_assert_eq(mr_batch_validate(b, &err), MURR_ECORRUPT);
    cr_assert(strstr(err.message, "offset") != NULL, "%s", err.message);
    mr_batch_free(b);
}

Test(batch, bitmap_copy_unaligned)
{
    uint8_t src[4] = {0xA5, 0x3C, 0xFF, 0x01};
    for (int off = 0; off < 8; off++) {
        uint8_t dst[4] = {0};
        mr_bitmap_copy(dst, src, off, 20);
        for (int i = 0; i < 20; i++)
            cr_assert_eq(mr_bit_get(dst, i), mr_bit_get(src, off + i), "off %d bit %d", off, i);
        cr_assert_eq(mr_bitmap_count(dst, 0, 20), mr_bitmap_count(src, off, 20));
    }
}

Test(batch, widen_lossless_and_refuse_lossy)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_INT8);
    mr_colbuilder_append_int(&cb, -128);
    mr_colbuilder_append_null(&cb);
    mr_colbuilder_append_int(&cb, 127);
    mr_batch_t *b = one_col(MURR_INT8, &cb);
    mr_column_t out;
    mr_error_t err = {0};
    cr_assert_eq(mr_column_convert(b, &b->columns[0], 3, MURR_INT64, true, &out, &err), 0);
    cr_assert_eq(((int64_t *)out.values)[0], -128);
    cr_assert_eq(((int64_t *)out.values)[2], 127);
    cr_assert(!murr_column_is_valid(&out, 1));
    cr_assert_eq(mr_column_convert(b, &b->columns[0], 3, MURR_FLOAT32, true, &out, &err), 0);
    cr_assert_eq(((float *)out.values)[0], -128.0f);
    /* int8 -> uint8 is lossy: refused when strict, range-checked when not */
    cr_assert_eq(mr_column_convert(b, &b->columns[0], 3, MURR_UINT8, true, &out, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "expected uint8, got int8") != NULL, "%s", err.message);
    cr_assert_eq(mr_column_convert(b, &b->columns[0], 3, MURR_UINT8, false, &out, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "row 0") != NULL && strstr(err.message, "-128") != NULL, "%s", err.message);
    mr_batch_free(b);
}

Test(batch, float64_to_float32_only_when_not_strict)
{
    mr_colbuilder_t cb;
    mr_colbuilder_init(&cb, MURR_FLOAT64);
    mr_colbuilder_append_float(&cb, 0.1);
    mr_colbuilder_append_float(&cb, -1e300);
    mr_batch_t *b = one_col(MURR_FLOAT64, &cb);
    mr_column_t out;
    mr_error_t err = {0};
    cr_assert_eq(mr_column_convert(b, &b->columns[0], 2, MURR_FLOAT32, true, &out, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "cast the column to float32") != NULL, "%s", err.message);
    cr_assert_eq(mr_column_convert(b, &b->columns[0], 2, MURR_FLOAT32, false, &out, &err), 0);
    cr_assert_eq(((float *)out.values)[0], 0.1f);
    cr_assert(isinf(((float *)out.values)[1]));
    mr_batch_free(b);
}

Test(dtype, widening_table)
{
    cr_assert(mr_dtype_widens_losslessly(MURR_INT8, MURR_INT16));
    cr_assert(mr_dtype_widens_losslessly(MURR_UINT32, MURR_INT64));
    cr_assert(mr_dtype_widens_losslessly(MURR_UINT32, MURR_FLOAT64));
    cr_assert(!mr_dtype_widens_losslessly(MURR_INT32, MURR_FLOAT32));
    cr_assert(mr_dtype_widens_losslessly(MURR_INT16, MURR_FLOAT32));
    cr_assert(!mr_dtype_widens_losslessly(MURR_INT64, MURR_INT32));
    cr_assert(!mr_dtype_widens_losslessly(MURR_INT8, MURR_UINT64));
    cr_assert(!mr_dtype_widens_losslessly(MURR_FLOAT64, MURR_FLOAT32));
    cr_assert(!mr_dtype_widens_losslessly(MURR_BOOL, MURR_INT8));
    cr_assert(!mr_dtype_widens_losslessly(MURR_UTF8, MURR_BOOL));
    for (int t = 0; t < MURR_DTYPE_COUNT; t++) {
        murr_dtype back;
        const char *n = murr_dtype_name((murr_dtype)t);
        cr_assert_eq(murr_dtype_parse(n, strlen(n), &back), 0);
        cr_assert_eq((int)back, t);
    }
    murr_dtype x;
    cr_assert_eq(murr_dtype_parse("UInt8", 5, &x), MURR_EINVAL);
}

/* A batch of three columns: s utf8 (row i = "s<i+base>", row 1 null when with_null),
 * n int64 (i + base), f bool (i odd), rows rows. */
static mr_batch_t *three_cols(int rows, int base, bool with_null)
{
    mr_colbuilder_t cb[3];
    murr_dtype t[3] = {MURR_UTF8, MURR_INT64, MURR_BOOL};
    const char *names[3] = {"s", "n", "f"};
    mr_batch_t *b = mr_batch_new(3, rows);
    for (int c = 0; c < 3; c++) {
        mr_colbuilder_init(&cb[c], t[c]);
        for (int i = 0; i < rows; i++) {
            char s[16];
            int n = snprintf(s, sizeof(s), "s%d", i + base);
            if (c == 0 && with_null && i == 1)
                mr_colbuilder_append_null(&cb[c]);
            else if (c == 0)
                mr_colbuilder_append_str(&cb[c], s, (size_t)n);
            else if (c == 1)
                mr_colbuilder_append_int(&cb[c], i + base);
            else
                mr_colbuilder_append_bool(&cb[c], (i + base) & 1);
        }
        mr_batch_set_name(b, c, names[c], 1);
        cr_assert_eq(mr_colbuilder_finish(&cb[c], b, c), 0);
        mr_colbuilder_deinit(&cb[c]);
    }
    return b;
}

Test(batch, concat_charges_every_column_to_the_budget)
{
    mr_batch_t *parts[3] = {three_cols(5, 0, false), three_cols(0, 5, false), three_cols(11, 5, true)};
    /* 16 rows: utf8 17 x 4 offsets + 36 bytes ("s0".."s15" without the null s6) + 2 validity;
     * int64 16 x 8; bool 2 */
    const uint64_t need = 68 + 36 + 2 + 128 + 2;
    mr_budget_t b;
    mr_budget_init(&b, 1000, "test.limit");
    mr_batch_t *out;
    mr_error_t e = {0};
    cr_assert_eq(mr_batch_concat((const mr_batch_t *const *)parts, 3, &b, &out, &e), 0, "%s", e.message);
    cr_assert_eq(b.used, need);
    mr_batch_free(out);
    /* one byte short: the last column (the bool 'b'... named by three_cols) is refused */
    mr_budget_init(&b, need - 1, "test.limit");
    cr_assert_eq(mr_batch_concat((const mr_batch_t *const *)parts, 3, &b, &out, &e), MURR_ETOOBIG);
    cr_assert_null(out);
    cr_assert(strstr(e.message, "the concatenation of the stream's record batches") != NULL, "%s", e.message);
    cr_assert(strstr(e.message, "test.limit") != NULL, "%s", e.message);
    for (int i = 0; i < 3; i++)
        mr_batch_free(parts[i]);
}

Test(batch, concat_keeps_values_nulls_and_names)
{
    /* 5 + 0 + 11 rows: bit positions of the later parts are not byte aligned */
    mr_batch_t *parts[3] = {three_cols(5, 0, false), three_cols(0, 5, false), three_cols(11, 5, true)};
    mr_batch_t *out;
    mr_error_t e = {0};
    cr_assert_eq(mr_batch_concat((const mr_batch_t *const *)parts, 3, NULL, &out, &e), 0, "%s", e.message);
    cr_assert_eq(mr_batch_validate(out, &e), 0, "%s", e.message);
    cr_assert_eq(out->num_rows, 16);
    cr_assert_str_eq(out->columns[1].name, "n");
    cr_assert_eq(out->columns[0].null_count, 1);
    for (int r = 0; r < 16; r++) {
        cr_assert_eq(((int64_t *)out->columns[1].values)[r], r);
        cr_assert_eq(mr_bit_get(out->columns[2].values, r), r & 1, "row %d", r);
        cr_assert_eq(murr_column_is_valid(&out->columns[0], r), r != 6, "row %d", r);
        if (r == 6)
            continue;
        char want[16];
        snprintf(want, sizeof(want), "s%d", r);
        size_t l;
        const uint8_t *s = mr_column_str(&out->columns[0], r, &l);
        cr_assert(l == strlen(want) && memcmp(s, want, l) == 0, "row %d", r);
    }
    mr_batch_free(out);
    /* shapes that differ are refused, naming the batch and column */
    mr_batch_t *other = mr_batch_new(3, 1);
    for (int c = 0; c < 3; c++) {
        mr_batch_column_alloc(other, c, c == 1 ? MURR_INT32 : parts[0]->columns[c].dtype, false, 0);
        mr_batch_set_name(other, c, parts[0]->columns[c].name, 1);
    }
    const mr_batch_t *mixed[2] = {parts[0], other};
    cr_assert_eq(mr_batch_concat(mixed, 2, NULL, &out, &e), MURR_EINVAL);
    cr_assert_str_eq(e.message, "batch 1: column 1 is 'n' (int32), in batch 0 it is 'n' (int64)");
    cr_assert_null(out);
    mr_batch_free(other);
    for (int i = 0; i < 3; i++)
        mr_batch_free(parts[i]);
}
