/* Tests of the Arrow C Data Interface export and import (src/format/arrow_c.c). pyarrow's
 * side of the interface is tested in python/tests (embedded mode). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/batch.h"
#include "test_util.h"

Test(arrow_export, formats_buffers_and_release)
{
    const char *keys[] = {"a", "bb", NULL};
    const float scores[] = {1.5f, NAN, 3.0f};
    mr_batch_t *b = tu_batch_id_score(keys, scores, 3);
    cr_assert_not_null(b);
    const void *key_data = b->columns[0].data, *score_values = b->columns[1].values;
    struct ArrowArray a;
    struct ArrowSchema s;
    murr_error e = {0};
    cr_assert_eq(murr_batch_export_arrow(b, &a, &s, &e), 0, "%s", e.message);
    cr_assert_str_eq(s.format, "+s");
    cr_assert_eq(s.n_children, 2);
    cr_assert_str_eq(s.children[0]->format, "u");
    cr_assert_str_eq(s.children[0]->name, "id");
    cr_assert_str_eq(s.children[1]->format, "f");
    cr_assert_str_eq(s.children[1]->name, "score");
    cr_assert_eq(s.children[1]->flags, ARROW_FLAG_NULLABLE);
    cr_assert_eq(a.length, 3);
    cr_assert_eq(a.n_children, 2);
    cr_assert_eq(a.children[0]->n_buffers, 3);
    cr_assert_eq(a.children[0]->null_count, 1);
    cr_assert_eq(a.children[0]->buffers[2], key_data, "utf8 data is the batch's, not a copy");
    cr_assert_eq(a.children[1]->n_buffers, 2);
    cr_assert_eq(a.children[1]->null_count, 1);
    cr_assert_eq(a.children[1]->buffers[1], score_values, "values are the batch's, not a copy");
    const uint8_t *validity = a.children[1]->buffers[0];
    cr_assert_eq(validity[0] & 7, 5, "rows 0 and 2 valid, row 1 null");
    const int32_t *off = a.children[0]->buffers[1];
    cr_assert_eq(off[1], 1);
    cr_assert_eq(off[2], 3);
    /* a consumer releases children through the parent; the batch is freed then (ASan: no leak) */
    a.release(&a);
    cr_assert_null(a.release);
    s.release(&s);
    cr_assert_null(s.release);
}

static int released;
static void count_release(struct ArrowArray *a)
{
    released++;
    a->release = NULL;
}

/* A struct array of: bool "flag" at array offset 3 (bit offset: copied), int64 "n" with a
 * validity bitmap at offset 3, utf8 "s" whose slice starts at data offset 2. */
Test(arrow_import, offsets_bitmaps_and_moved_release)
{
    /* 8 source rows; the batch takes rows 3..6 (offset 3, length 4) */
    static const uint8_t flag_bits[1] = {0x28}; /* rows 3 and 5 true */
    static const uint8_t n_valid[1] = {0xE8};    /* rows 3,5,6,7 valid; row 4 null */
    static const int64_t n_vals[8] = {0, 1, 2, 30, 40, 50, 60, 70};
    static const int32_t s_off[9] = {0, 1, 2, 2, 4, 5, 5, 8, 8};
    static const char s_data[] = "xyabcdefgh";
    const void *fb[2] = {NULL, flag_bits}, *nb[2] = {n_valid, n_vals}, *sb[3] = {NULL, s_off, s_data};
    struct ArrowArray kids[3] = {
        {.length = 8, .null_count = 0, .n_buffers = 2, .buffers = fb, .release = count_release},
        {.length = 8, .null_count = -1, .n_buffers = 2, .buffers = nb, .release = count_release},
        {.length = 8, .null_count = 0, .n_buffers = 3, .buffers = sb, .release = count_release},
    };
    struct ArrowArray *kp[3] = {&kids[0], &kids[1], &kids[2]};
    const void *pb[1] = {NULL};
    struct ArrowArray a = {.length = 4, .offset = 3, .n_buffers = 1, .n_children = 3, .buffers = pb,
                           .children = kp, .release = count_release};
    struct ArrowSchema ks[3] = {{.format = "b", .name = "flag"}, {.format = "l", .name = "n"},
                                {.format = "u", .name = "s"}};
    struct ArrowSchema *ksp[3] = {&ks[0], &ks[1], &ks[2]};
    struct ArrowSchema s = {.format = "+s", .name = "", .n_children = 3, .children = ksp};
    murr_batch *b = NULL;
    murr_error e = {0};
    released = 0;
    cr_assert_eq(murr_batch_import_arrow(&a, &s, &b, &e), 0, "%s", e.message);
    cr_assert_null(a.release, "the array moved into the batch");
    cr_assert_eq(b->num_rows, 4);
    cr_assert_str_eq(b->columns[0].name, "flag");
    cr_assert_eq(b->columns[0].dtype, MURR_BOOL);
    const uint8_t *fv = b->columns[0].values;
    cr_assert_eq(fv[0] & 0xF, 0x5, "rows 0 and 2 of the slice true");
    cr_assert_eq(b->columns[1].dtype, MURR_INT64);
    cr_assert_eq(b->columns[1].values, &n_vals[3], "int64 values are not copied");
    cr_assert_eq(b->columns[1].null_count, 1);
    cr_assert_not(murr_column_is_valid(&b->columns[1], 1));
    cr_assert(murr_column_is_valid(&b->columns[1], 2));
    size_t len;
    const uint8_t *p = mr_column_str(&b->columns[2], 0, &len);
    cr_assert_eq(len, 2);
    cr_assert_eq(memcmp(p, "ab", 2), 0);
    p = mr_column_str(&b->columns[2], 3, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(p, "def", 3), 0);
    cr_assert_eq(released, 0);
    murr_batch_free(b);
    cr_assert_eq(released, 1, "freeing the batch releases the moved array once");
}

Test(arrow_import, unsupported_format_names_the_column_and_keeps_the_array)
{
    static const int64_t vals[1] = {1};
    const void *kb[2] = {NULL, vals}, *pb[1] = {NULL};
    struct ArrowArray kid = {.length = 1, .n_buffers = 2, .buffers = kb, .release = count_release};
    struct ArrowArray *kp[1] = {&kid};
    struct ArrowArray a = {.length = 1, .n_buffers = 1, .n_children = 1, .buffers = pb, .children = kp,
                           .release = count_release};
    struct ArrowSchema ks = {.format = "tsu:", .name = "when"};
    struct ArrowSchema *ksp[1] = {&ks};
    struct ArrowSchema s = {.format = "+s", .n_children = 1, .children = ksp};
    murr_batch *b = NULL;
    murr_error e = {0};
    released = 0;
    cr_assert_eq(murr_batch_import_arrow(&a, &s, &b, &e), MURR_EUNSUPPORTED);
    cr_assert(strstr(e.message, "'when'") && strstr(e.message, "'tsu:'"), "%s", e.message);
    cr_assert_not_null(a.release, "a failed import leaves the array with the caller");
    cr_assert_eq(released, 0);
    ks.format = "U";
    cr_assert_eq(murr_batch_import_arrow(&a, &s, &b, &e), MURR_EUNSUPPORTED);
    struct ArrowSchema notstruct = {.format = "l"};
    cr_assert_eq(murr_batch_import_arrow(&a, &notstruct, &b, &e), MURR_EUNSUPPORTED);
}

Test(arrow_import, utf8_offsets_past_the_data_are_corrupt)
{
    static const int32_t off[3] = {0, 5, 2};
    const void *kb[3] = {NULL, off, "hello"}, *pb[1] = {NULL};
    struct ArrowArray kid = {.length = 2, .n_buffers = 3, .buffers = kb, .release = count_release};
    struct ArrowArray *kp[1] = {&kid};
    struct ArrowArray a = {.length = 2, .n_buffers = 1, .n_children = 1, .buffers = pb, .children = kp,
                           .release = count_release};
    struct ArrowSchema ks = {.format = "u", .name = "s"};
    struct ArrowSchema *ksp[1] = {&ks};
    struct ArrowSchema s = {.format = "+s", .n_children = 1, .children = ksp};
    murr_batch *b = NULL;
    murr_error e = {0};
    cr_assert_eq(murr_batch_import_arrow(&a, &s, &b, &e), MURR_ECORRUPT, "%s", e.message);
    cr_assert_not_null(a.release);
}
