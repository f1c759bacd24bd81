/* encode.c - row encoding of the native store: one record per row (record.h's writers, the
 * layout of table.c), with the columns' encoding decided once per batch (mr_enc_plan) so
 * that the per-row loop is a switch over fixed kinds and constant-size copies. The record
 * format is record.h's; nothing here decides it. */
#include "engine/native/native.h"

#include "core/hash.h"

#include <string.h>

void mr_enc_plan(mr_table_t *t, const mr_column_t *cols, mr_enc_plan_t *pl)
{
    pl->var = false;
    for (int32_t k = 0; k < t->ncols; k++) {
        const mr_col_layout_t *L = &t->cols[k];
        const mr_column_t *c = &cols[L->schema_index];
        mr_enc_col_t *e = &pl->cols[k];
        *e = (mr_enc_col_t){.L = L, .c = c, .values = c->values, .slot = L->slot, .width = L->width,
                            .nulls = c->validity != NULL};
        bool list = mr_dtype_is_list(L->dtype);
        if (L->dtype == MURR_UTF8)
            e->kind = MR_ENC_UTF8;
        else if (list)
            e->kind = L->dim > 0 ? MR_ENC_VEC : MR_ENC_LIST;
        else if (L->dtype == MURR_BOOL)
            e->kind = MR_ENC_BOOL;
        else
            e->kind = L->width == 4 ? MR_ENC_FIXED4 : L->width == 8 ? MR_ENC_FIXED8 : MR_ENC_FIXED;
        pl->var |= e->kind == MR_ENC_UTF8 || e->kind == MR_ENC_LIST;
    }
}

size_t mr_enc_row_size(mr_table_t *t, const mr_enc_plan_t *pl, int64_t r, size_t klen)
{
    size_t n = mr_table_row_base(t, klen);
    if (!pl->var)
        return mr_rec_pad(n);
    for (int32_t k = 0; k < t->ncols; k++) {
        const mr_enc_col_t *e = &pl->cols[k];
        if ((e->kind != MR_ENC_UTF8 && e->kind != MR_ENC_LIST) || !murr_column_is_valid(e->c, r))
            continue;
        if (e->kind == MR_ENC_LIST) {
            n = mr_rec_list_end((uint32_t)n, (size_t)mr_list_len(e->c, r) * mr_list_elem_width(e->L->dtype));
        } else {
            size_t l;
            mr_column_str(e->c, r, &l);
            n += mr_rec_str_size(l);
        }
    }
    return mr_rec_pad(n);
}

uint64_t mr_enc_row(mr_table_t *t, const mr_enc_plan_t *pl, const mr_column_t *cols, int64_t r, uint8_t *p,
                    uint32_t rec_len, uint16_t *klen_out)
{
    size_t klen = mr_key_encode(&t->key, cols, r, mr_rec_key_out(p));
    mr_rec_put_header(p, rec_len, (uint16_t)klen, MR_REC_ROW);
    uint8_t *bm = mr_rec_body_out(p, klen);
    uint8_t *fixed = bm + t->bitmap_bytes;
    uint8_t *vec = p + mr_rec_vec_start(klen, (size_t)t->bitmap_bytes + t->fixed_bytes);
    uint32_t tail = (uint32_t)mr_table_row_base(t, klen);
    for (int32_t k = 0; k < t->ncols; k++) {
        const mr_enc_col_t *e = &pl->cols[k];
        if (e->nulls && !murr_column_is_valid(e->c, r))
            continue;
        mr_bit_set(bm, k);
        uint8_t *slot = fixed + e->slot;
        switch (e->kind) {
        case MR_ENC_FIXED4: memcpy(slot, e->values + (size_t)r * 4, 4); break;
        case MR_ENC_FIXED8: memcpy(slot, e->values + (size_t)r * 8, 8); break;
        case MR_ENC_FIXED: memcpy(slot, e->values + (size_t)r * e->width, e->width); break;
        case MR_ENC_BOOL: *slot = mr_bit_get(e->values, r); break;
        case MR_ENC_VEC: memcpy(vec + e->L->vec, mr_list_elems(e->c, r), e->L->vec_bytes); break;
        case MR_ENC_UTF8: {
            size_t l;
            const uint8_t *sv = mr_column_str(e->c, r, &l);
            tail = mr_rec_put_str(p, slot, tail, sv, (uint32_t)l);
            break;
        }
        default: {
            int64_t n = mr_list_len(e->c, r);
            tail = mr_rec_put_list(p, slot, tail, mr_list_elems(e->c, r), (uint32_t)n,
                                   (size_t)n * mr_list_elem_width(e->L->dtype));
            break;
        }
        }
    }
    mr_rec_seal(p, rec_len);
    *klen_out = (uint16_t)klen;
    return mr_kd_fix_hash(mr_hash64(mr_rec_key_out(p), klen));
}
