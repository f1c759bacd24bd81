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

/* A batch of 3 rows: "v" list<float32> dim 2 (row 1 null), "w" variable list<int8>. */
static mr_batch_t *list_batch(void)
{
    mr_batch_t *b = mr_batch_new(2, 3);
    cr_assert_not_null(b);
    cr_assert_eq(mr_batch_set_name(b, 0, "v", 1), 0);
    cr_assert_eq(mr_batch_set_name(b, 1, "w", 1), 0);
    cr_assert_eq(mr_batch_list_alloc(b, 0, MURR_LIST_FLOAT32, 2, true, 0), 0);
    cr_assert_eq(mr_batch_list_alloc(b, 1, MURR_LIST_INT8, 0, false, 3), 0);
    float *v = b->columns[0].values;
    const float vv[6] = {1, 2, 0, 0, 5, 6};
    memcpy(v, vv, sizeof(vv));
    b->columns[0].validity[0] = 0x5;
    b->columns[0].null_count = 1;
    int32_t *off = b->columns[1].values;
    off[0] = 0, off[1] = 2, off[2] = 2, off[3] = 3; /* [7, -8], [], [9] */
    int8_t *w = (int8_t *)b->columns[1].data;
    w[0] = 7, w[1] = -8, w[2] = 9;
    return b;
}

Test(arrow_export, list_columns_are_fixed_size_and_variable_lists_over_the_batch_buffers)
{
    mr_batch_t *b = list_batch();
    const void *v_values = b->columns[0].values, *w_off = b->columns[1].values, *w_data = b->columns[1].data;
    struct ArrowArray a;
    struct ArrowSchema s;
    murr_error e = {0};
    cr_assert_eq(murr_batch_export_arrow(b, &a, &s, &e), 0, "%s", e.message);
    cr_assert_str_eq(s.children[0]->format, "+w:2");
    cr_assert_eq(s.children[0]->n_children, 1);
    cr_assert_str_eq(s.children[0]->children[0]->format, "f");
    cr_assert_str_eq(s.children[0]->children[0]->name, "item");
    cr_assert_str_eq(s.children[1]->format, "+l");
    cr_assert_str_eq(s.children[1]->children[0]->format, "c");
    const struct ArrowArray *v = a.children[0], *w = a.children[1];
    cr_assert_eq(v->n_buffers, 1, "a FixedSizeList has only a validity buffer");
    cr_assert_eq(v->null_count, 1);
    cr_assert_eq(v->n_children, 1);
    cr_assert_eq(v->children[0]->length, 6, "3 rows x dim 2 elements");
    cr_assert_eq(v->children[0]->null_count, 0);
    cr_assert_eq(v->children[0]->buffers[1], v_values, "elements are the batch's, not a copy");
    cr_assert_eq(w->n_buffers, 2);
    cr_assert_eq(w->buffers[0], NULL, "no nulls: no validity");
    cr_assert_eq(w->buffers[1], w_off);
    cr_assert_eq(w->children[0]->length, 3);
    cr_assert_eq(w->children[0]->buffers[1], w_data);
    a.release(&a);
    s.release(&s);
}

/* Rows 1..2 of a FixedSizeList<float16, 2> whose child starts at element offset 1, and of a
 * List<float32> whose offsets start at 3 (rebased: a copy), with a null element under the
 * null row 1 of the fixed column (accepted: pyarrow writes such slots). */
Test(arrow_import, list_slices_are_views_of_the_child_elements)
{
    static const uint16_t halfs[9] = {0, 0x3C00, 0x4000, 0, 0, 0x4200, 0x4400, 0x4500, 0x4600}; /* 1 2 . . 3 4 5 6 */
    static const uint8_t v_valid[1] = {0x5};                  /* rows 0 and 2 valid, row 1 null */
    static const uint8_t h_valid[2] = {0xE7, 0x01};           /* child elements 3, 4 (under row 1) null */
    static const int32_t w_off[4] = {3, 4, 6, 9};
    static const float floats[9] = {0, 0, 0, 10, 20, 21, 30, 31, 32};
    const void *hb[2] = {h_valid, halfs}, *vb[1] = {v_valid}, *fb[2] = {NULL, floats}, *wb[2] = {NULL, w_off};
    struct ArrowArray h = {.length = 8, .offset = 1, .null_count = 2, .n_buffers = 2, .buffers = hb,
                           .release = count_release};
    struct ArrowArray f = {.length = 9, .n_buffers = 2, .buffers = fb, .release = count_release};
    struct ArrowArray *hp[1] = {&h}, *fp[1] = {&f};
    struct ArrowArray kids[2] = {
        {.length = 3, .null_count = 1, .n_buffers = 1, .n_children = 1, .buffers = vb, .children = hp,
         .release = count_release},
        {.length = 3, .n_buffers = 2, .n_children = 1, .buffers = wb, .children = fp, .release = count_release},
    };
    struct ArrowArray *kp[2] = {&kids[0], &kids[1]};
    const void *pb[1] = {NULL};
    struct ArrowArray a = {.length = 2, .offset = 1, .n_buffers = 1, .n_children = 2, .buffers = pb, .children = kp,
                           .release = count_release};
    struct ArrowSchema hs = {.format = "e", .name = "item"}, fs = {.format = "f", .name = "item"};
    struct ArrowSchema *hsp[1] = {&hs}, *fsp[1] = {&fs};
    struct ArrowSchema ks[2] = {{.format = "+w:2", .name = "v", .n_children = 1, .children = hsp},
                                {.format = "+l", .name = "w", .n_children = 1, .children = fsp}};
    struct ArrowSchema *ksp[2] = {&ks[0], &ks[1]};
    struct ArrowSchema s = {.format = "+s", .n_children = 2, .children = ksp};
    murr_batch *b = NULL;
    murr_error e = {0};
    cr_assert_eq(murr_batch_import_arrow(&a, &s, &b, &e), 0, "%s", e.message);
    cr_assert_eq(b->num_rows, 2);
    const murr_column *v = &b->columns[0], *w = &b->columns[1];
    cr_assert_eq(v->dtype, MURR_LIST_FLOAT16);
    cr_assert_eq(v->dim, 2);
    cr_assert_eq(v->null_count, 1);
    cr_assert_not(murr_column_is_valid(v, 0));
    cr_assert(murr_column_is_valid(v, 1));
    cr_assert_eq(mr_list_elems(v, 1), (const uint8_t *)&halfs[5], "row 2 of the source: child elements 4..5 + 1");
    cr_assert_eq(w->dtype, MURR_LIST_FLOAT32);
    cr_assert_eq(w->dim, 0);
    cr_assert_eq(mr_list_len(w, 0), 2);
    cr_assert_eq(mr_list_len(w, 1), 3);
    cr_assert_eq(mr_list_elems(w, 0), (const uint8_t *)&floats[4], "no copy of the elements");
    cr_assert_eq(w->data_len, 5 * 4);
    murr_batch_free(b);
}

/* One list column "v" of format `format` over child `item` of `item_format`. */
static int import_one_list(const char *format, const char *item_format, const struct ArrowArray *item,
                           const void *offsets, int64_t rows, murr_error *e)
{
    const void *vb[2] = {NULL, offsets}, *pb[1] = {NULL};
    struct ArrowArray *ip[1] = {(struct ArrowArray *)item};
    struct ArrowArray kid = {.length = rows, .n_buffers = format[1] == 'w' ? 1 : 2, .n_children = 1, .buffers = vb,
                             .children = ip, .release = count_release};
    struct ArrowArray *kp[1] = {&kid};
    struct ArrowArray a = {.length = rows, .n_buffers = 1, .n_children = 1, .buffers = pb, .children = kp,
                           .release = count_release};
    struct ArrowSchema is = {.format = item_format, .name = "item"};
    struct ArrowSchema *isp[1] = {&is};
    struct ArrowSchema ks = {.format = format, .name = "v", .n_children = 1, .children = isp};
    struct ArrowSchema *ksp[1] = {&ks};
    struct ArrowSchema s = {.format = "+s", .n_children = 1, .children = ksp};
    murr_batch *b = NULL;
    int rc = murr_batch_import_arrow(&a, &s, &b, e);
    if (rc == 0)
        murr_batch_free(b);
    return rc;
}

Test(arrow_import, list_errors_name_the_column_and_the_numbers)
{
    static const float elems[4] = {1, 2, 3, 4};
    static const uint8_t one_null[1] = {0xB}; /* element 2 null */
    static const int32_t off[3] = {0, 2, 5};
    const void *eb[2] = {NULL, elems}, *nb[2] = {one_null, elems};
    struct ArrowArray item = {.length = 4, .n_buffers = 2, .buffers = eb, .release = count_release};
    murr_error e = {0};
    cr_assert_eq(import_one_list("+w:2", "f", &item, NULL, 2, &e), 0, "%s", e.message);
    cr_assert_eq(import_one_list("+w:2", "f", &item, NULL, 3, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "'v'") && strstr(e.message, "4 elements") && strstr(e.message, "need 6"), "%s",
              e.message);
    cr_assert_eq(import_one_list("+l", "f", &item, off, 2, &e), MURR_EINVAL, "offsets up to 5 over 4 elements");
    cr_assert(strstr(e.message, "need 5"), "%s", e.message);
    cr_assert_eq(import_one_list("+L", "f", &item, off, 2, &e), MURR_EUNSUPPORTED);
    cr_assert(strstr(e.message, "'+L'"), "%s", e.message);
    cr_assert_eq(import_one_list("+l", "g", &item, off, 1, &e), MURR_EUNSUPPORTED);
    cr_assert(strstr(e.message, "'g'") && strstr(e.message, "float16"), "%s", e.message);
    cr_assert_eq(import_one_list("+w:0", "f", &item, NULL, 1, &e), MURR_EUNSUPPORTED);
    cr_assert_eq(import_one_list("+w:2x", "f", &item, NULL, 1, &e), MURR_EUNSUPPORTED);
    struct ArrowArray with_null = {.length = 4, .null_count = 1, .n_buffers = 2, .buffers = nb,
                                   .release = count_release};
    cr_assert_eq(import_one_list("+w:2", "f", &with_null, NULL, 2, &e), MURR_EINVAL, "a null element under a valid row");
    cr_assert(strstr(e.message, "row 1") && strstr(e.message, "element 0"), "%s", e.message);
}
