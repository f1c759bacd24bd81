/* read.c - batched reads of the native store (mr_table_read) and reads by key columns
 * (mr_table_read_keys). Workload: ~1,000 keys x all columns in tens of microseconds, in
 * passes so that DRAM misses overlap: find every key's record (mr_kd_lookup, keydir.c: a
 * pipeline of hash + slot prefetch, probe + record prefetch, key compare); resolve keys a
 * later commit touched back to the snapshot; copy the requested columns block by block from
 * the (now cached) records.
 *
 * Rules: readers take no lock and never wait. The caller is inside an epoch (epoch.h), so
 * the snapshot, the keydir table and the segments loaded here stay mapped until it
 * leaves. The snapshot is loaded first (acquire), then the keydir pointer; every slot read
 * after it is at least as new, and keys a later commit touched are resolved back to the
 * snapshot through its undo maps (snapshot.h). A slot is one word, read with one acquire
 * load (tag and location together), and the key is verified at the record (keydir.h).
 * Record bytes are read through record.h's inline accessors. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/hash.h"

#include <string.h>

/* Rows per block of pass 3: all requested columns of one block are copied before the next
 * block, so its records (64 x ~1-2 lines, 64 pages) stay in L1 and the DTLB while each
 * column takes its values from them; column by column over all rows, 10 passes over 1,000
 * records did not fit (docs/benchmarks.md, issue 18). */
#define COPY_BLOCK 64

/* Where one requested column's copy stands. */
typedef struct copy_col {
    const mr_col_layout_t *L;
    int32_t k;        /* non-key index: the record's validity bit */
    bool nullable;    /* false: every record has the bit set (writes refuse nulls) */
    mr_column_t *col;
    int32_t doff;     /* utf8: bytes written; variable lists: elements written */
} copy_col_t;

/* The value slot of the column with validity bit k and slot offset soff in a record whose
 * body (validity bitmap, then fixed slots) is bm, or NULL when the record is a miss (bm
 * NULL) or the value is null. */
static inline const uint8_t *body_slot(const uint8_t *bm, int32_t k, size_t soff)
{
    return bm != NULL && mr_bit_get(bm, k) ? bm + soff : NULL;
}

/* value_slot from the record itself (NULL: a miss). */
static inline const uint8_t *value_slot(const uint8_t *rec, int32_t k, size_t soff)
{
    return body_slot(rec ? mr_rec_body(rec) : NULL, k, soff);
}

/* The bodies of rows [from, to) of pass 3, found once for all columns (a body's place
 * depends on the record's key length); true when no row of the block is a miss. */
static bool block_bodies(const uint8_t *const *recs, size_t from, size_t to, const uint8_t **bodies)
{
    bool all = true;
    for (size_t i = from; i < to; i++) {
        bodies[i - from] = recs[i] ? mr_rec_body(recs[i]) : NULL;
        all &= recs[i] != NULL;
    }
    return all;
}

/* Row i of the answer has no value in this column (fixed-width values are allocated unset:
 * a null row's value is zeroed here). */
static void copy_null(copy_col_t *cc, size_t i)
{
    mr_bit_clear(cc->col->validity, (int64_t)i);
    size_t w = mr_dtype_scalar_width(cc->L->dtype);
    if (w)
        memset((uint8_t *)cc->col->values + i * w, 0, w);
    else if (cc->L->vec_bytes)
        memset((uint8_t *)cc->col->values + i * cc->L->vec_bytes, 0, cc->L->vec_bytes);
    else if (cc->col->dtype == MURR_UTF8 || mr_dtype_is_list(cc->L->dtype))
        ((int32_t *)cc->col->values)[i + 1] = cc->doff;
}

/* Fixed-width scalars of w bytes (called with a constant w, so each copy is one move; the
 * column's fields are read once, as the stores could otherwise alias them). */
static inline void copy_fixed(const mr_table_t *t, copy_col_t *cc, const uint8_t *const *bodies, bool all, size_t from,
                              size_t to, size_t w)
{
    uint8_t *dst = cc->col->values;
    int32_t k = cc->k;
    size_t soff = t->bitmap_bytes + cc->L->slot;
    if (all && !cc->nullable) { /* the common block: every row found, no bit to test */
        for (size_t i = from; i < to; i++)
            memcpy(dst + i * w, bodies[i - from] + soff, w);
        return;
    }
    for (size_t i = from; i < to; i++) {
        const uint8_t *slot = body_slot(bodies[i - from], k, soff);
        if (slot)
            memcpy(dst + i * w, slot, w);
        else
            copy_null(cc, i);
    }
}

/* Rows [from, to) of one column from the found records (NULL records are misses) and their
 * bodies (block_bodies; all: no miss among them). */
static void copy_rows(const mr_table_t *t, copy_col_t *cc, const uint8_t *const *recs, const uint8_t *const *bodies,
                      bool all, size_t from, size_t to)
{
    const mr_col_layout_t *L = cc->L;
    mr_column_t *col = cc->col;
    switch (L->dtype) {
    case MURR_INT8: case MURR_UINT8:
        copy_fixed(t, cc, bodies, all, from, to, 1);
        return;
    case MURR_INT16: case MURR_UINT16:
        copy_fixed(t, cc, bodies, all, from, to, 2);
        return;
    case MURR_INT32: case MURR_UINT32: case MURR_FLOAT32:
        copy_fixed(t, cc, bodies, all, from, to, 4);
        return;
    case MURR_INT64: case MURR_UINT64: case MURR_FLOAT64:
        copy_fixed(t, cc, bodies, all, from, to, 8);
        return;
    default:
        break;
    }
    size_t body = (size_t)t->bitmap_bytes + t->fixed_bytes, ew = mr_list_elem_width(L->dtype);
    size_t soff = t->bitmap_bytes + L->slot;
    int32_t *offs = col->values;
    for (size_t i = from; i < to; i++) {
        const uint8_t *rec = recs[i], *slot = body_slot(bodies[i - from], cc->k, soff);
        if (slot == NULL) {
            copy_null(cc, i);
            continue;
        }
        switch (L->dtype) {
        case MURR_LIST_FLOAT32: case MURR_LIST_FLOAT16: case MURR_LIST_INT8:
            if (L->dim > 0) { /* straight into the FixedSizeList child buffer */
                memcpy((uint8_t *)col->values + i * L->vec_bytes, mr_rec_vec(rec, body, L->vec), L->vec_bytes);
            } else { /* into the List child buffer; offsets count elements */
                uint32_t n;
                const uint8_t *el = mr_rec_list(rec, slot, &n);
                memcpy(col->data + (size_t)cc->doff * ew, el, (size_t)n * ew);
                cc->doff += (int32_t)n;
                offs[i + 1] = cc->doff;
            }
            break;
        case MURR_UTF8: {
            uint32_t l;
            const uint8_t *sv = mr_rec_str(rec, slot, &l);
            memcpy(col->data + cc->doff, sv, l);
            cc->doff += (int32_t)l;
            offs[i + 1] = cc->doff;
            break;
        }
        case MURR_BOOL:
            if (*slot)
                mr_bit_set(col->values, (int64_t)i);
            break;
        default: /* the fixed widths returned above */
            break;
        }
    }
}

/* Resolves requested column names to non-key indexes (sel[c]). */
static int select_columns(mr_table_t *t, const char *const *columns, size_t ncolumns, int32_t *sel, mr_error_t *err)
{
    for (size_t c = 0; c < ncolumns; c++) {
        size_t len = strlen(columns[c]);
        if (strcmp(columns[c], MURR_IDX_COLUMN) == 0)
            return mr_err_set(err, MURR_EINVAL,
                              "Segment error: column '%s' not found: '%s' is the request position of sparse answers, "
                              "added to them without asking",
                              columns[c], MURR_IDX_COLUMN);
        int32_t si = mr_schema_find(t->schema, columns[c], len);
        if (si < 0)
            return mr_err_set(err, MURR_EINVAL, "Segment error: column '%s' not found", columns[c]);
        if (t->schema->columns[si].key) /* the reference's words: key columns are not value columns */
            return mr_err_set(err, MURR_EINVAL, "Segment error: column '%s' not found", columns[c]);
        sel[c] = t->col_of_schema[si];
    }
    return 0;
}

int mr_table_read(mr_store_t *st, const char *const *keys, const size_t *key_lens, size_t nkeys,
                  const char *const *columns, size_t ncolumns, unsigned flags, mr_batch_t **out, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)st;
    *out = NULL;
    if (t->damaged)
        return mr_table_damaged_error(t, "reads", err);
    bool sparse = (flags & MURR_READ_SPARSE) != 0;
    if (ncolumns == 0 && !sparse) /* a sparse read of no columns asks which keys exist (_idx alone) */
        return mr_err_set(err, MURR_EINVAL, "Segment error: no columns requested: name at least one column of table '%s'",
                          t->name);
    if (sparse && nkeys > UINT32_MAX)
        return mr_err_set(err, MURR_ETOOBIG, "%zu keys exceed the %u positions a sparse answer's '%s' can hold", nkeys,
                          UINT32_MAX, MURR_IDX_COLUMN);
    int32_t *sel = mr_xmalloc((ncolumns ? ncolumns : 1) * sizeof(int32_t));
    int rc = select_columns(t, columns, ncolumns, sel, err);
    if (rc != 0) {
        mr_free(sel);
        return rc;
    }
    const uint8_t **recs = mr_malloc((nkeys ? nkeys : 1) * sizeof(*recs));
    uint64_t *hashes = mr_malloc((nkeys ? nkeys : 1) * sizeof(uint64_t));
    if (recs == NULL || hashes == NULL) {
        mr_free(recs);
        mr_free(hashes);
        mr_free(sel);
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate the answer for %zu keys", nkeys);
    }
    /* the snapshot first: every slot read below is then at least as new (snapshot.h) */
    const mr_snap_t *snap = atomic_load_explicit(&t->snap, memory_order_acquire);
    mr_kd_table_t *kd = atomic_load_explicit(&t->kd, memory_order_acquire);
    size_t nprobe = snap->empty ? 0 : nkeys; /* empty at the snapshot: every key is missing */
    for (size_t i = nprobe; i < nkeys; i++)
        recs[i] = NULL;
    /* Passes 1-2: find every key's current record (keydir.c pipelines the misses). */
    mr_kd_lookup(t, kd, keys, key_lens, nprobe, hashes, recs);
    /* A commit after our snapshot started publishing: take each key as of the snapshot. */
    if (nprobe && atomic_load_explicit(&snap->undo, memory_order_acquire) != NULL)
        for (size_t i = 0; i < nprobe; i++) {
            if (recs[i] == NULL)
                continue; /* keys are never removed: missing now, missing at the snapshot */
            uint64_t loc = mr_snap_resolve(snap, hashes[i], keys[i], key_lens[i], UINT64_MAX, mr_loc_key_eq, t);
            if (loc != UINT64_MAX)
                recs[i] = loc ? mr_rec_at(t, loc) : NULL;
        }
    mr_free(hashes);
    /* Sparse: keep the found records, remembering their request positions. */
    size_t nrows = nkeys;
    uint32_t *idx = NULL;
    if (sparse) {
        idx = mr_malloc((nkeys ? nkeys : 1) * sizeof(uint32_t));
        if (idx == NULL) {
            mr_free(recs);
            mr_free(sel);
            return mr_err_set(err, MURR_ENOMEM, "cannot allocate the answer for %zu keys", nkeys);
        }
        nrows = 0;
        for (size_t i = 0; i < nkeys; i++)
            if (recs[i] != NULL) {
                idx[nrows] = (uint32_t)i;
                recs[nrows++] = recs[i];
            }
    }
    int32_t lead = sparse ? 1 : 0;
    mr_batch_t *b = mr_batch_new((int32_t)ncolumns + lead, (int64_t)nrows);
    if (b == NULL) {
        rc = mr_err_set(err, MURR_ENOMEM, "cannot allocate the answer for %zu keys", nkeys);
        goto out;
    }
    if (sparse) {
        mr_batch_set_name(b, 0, MURR_IDX_COLUMN, strlen(MURR_IDX_COLUMN));
        if (mr_batch_column_alloc(b, 0, MURR_UINT32, false, 0) != 0) {
            rc = mr_err_set(err, MURR_ENOMEM, "cannot allocate column '%s' for %zu rows", MURR_IDX_COLUMN, nrows);
            goto out;
        }
        memcpy(b->columns[0].values, idx, nrows * sizeof(uint32_t));
    }
    /* Pass 3: allocate the requested columns, then copy them block by block of rows
     * (records are now cached). */
    copy_col_t *cc = mr_malloc((ncolumns ? ncolumns : 1) * sizeof(copy_col_t));
    if (cc == NULL)
        rc = mr_err_set(err, MURR_ENOMEM, "cannot allocate the answer for %zu keys", nkeys);
    for (size_t c = 0; c < ncolumns && rc == 0; c++) {
        const mr_col_layout_t *L = &t->cols[sel[c]];
        const mr_column_schema_t *cs = &t->schema->columns[L->schema_index];
        int32_t oc = (int32_t)c + lead;
        mr_batch_set_name(b, oc, cs->name, cs->name_len);
        int64_t data_len = 0; /* utf8: bytes; variable lists: elements */
        bool var_list = mr_dtype_is_list(L->dtype) && L->dim == 0;
        if (L->dtype == MURR_UTF8 || var_list) {
            size_t soff = t->bitmap_bytes + L->slot;
            for (size_t i = 0; i < nrows; i++) {
                const uint8_t *slot = value_slot(recs[i], sel[c], soff);
                if (slot)
                    data_len += var_list ? mr_rec_list_count(recs[i], slot) : mr_rec_str_len(recs[i], slot);
            }
            if (data_len > INT32_MAX) {
                rc = mr_err_set(err, MURR_ETOOBIG, "column '%s': %lld %s exceed the limit of %d in one answer", cs->name,
                                (long long)data_len, var_list ? "list elements" : "bytes of strings", INT32_MAX);
                break;
            }
        }
        bool fixed = mr_dtype_scalar_width(L->dtype) > 0;
        int arc = mr_dtype_is_list(L->dtype) ? mr_batch_list_alloc(b, oc, L->dtype, L->dim, true, data_len)
                  : fixed                    ? mr_batch_column_alloc_unset(b, oc, L->dtype, true)
                                             : mr_batch_column_alloc(b, oc, L->dtype, true, data_len);
        if (arc != 0) {
            rc = mr_err_set(err, MURR_ENOMEM, "cannot allocate column '%s' for %zu keys", cs->name, nrows);
            break;
        }
        cc[c] = (copy_col_t){.L = L, .k = sel[c], .nullable = cs->nullable, .col = &b->columns[oc], .doff = 0};
    }
    if (rc == 0) {
        const uint8_t *bodies[COPY_BLOCK];
        for (size_t from = 0; from < nrows; from += COPY_BLOCK) {
            size_t to = nrows - from < COPY_BLOCK ? nrows : from + COPY_BLOCK;
            bool all = block_bodies(recs, from, to, bodies);
            for (size_t c = 0; c < ncolumns; c++)
                copy_rows(t, &cc[c], recs, bodies, all, from, to);
        }
        for (size_t c = 0; c < ncolumns; c++)
            mr_column_normalize_nulls(cc[c].col, (int64_t)nrows);
    }
    mr_free(cc);
out:
    mr_free(idx);
    mr_free(recs);
    mr_free(sel);
    if (rc != 0) {
        mr_batch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int mr_table_read_keys(mr_store_t *st, const mr_batch_t *keys, const char *const *columns, size_t ncolumns,
                       unsigned flags, mr_batch_t **out, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)st;
    *out = NULL;
    if (keys == NULL || keys->num_rows < 0)
        return mr_err_set(err, MURR_EINVAL, "Table error: no key batch given for table '%s'", t->name);
    mr_batch_t *scratch = mr_batch_new(0, 0);
    size_t n = (size_t)keys->num_rows;
    mr_column_t *cols = mr_calloc((size_t)t->schema->num_columns, sizeof(mr_column_t));
    const char **kp = mr_malloc((n ? n : 1) * sizeof(char *));
    size_t *kl = mr_malloc((n ? n : 1) * sizeof(size_t));
    int rc;
    if (scratch == NULL || cols == NULL || kp == NULL || kl == NULL)
        rc = mr_err_set(err, MURR_ENOMEM, "cannot allocate %zu keys", n);
    else if ((rc = mr_key_columns_prepare(&t->key, t->schema, keys, true, "fetch keys", scratch, cols, err)) == 0 &&
             (rc = mr_key_encode_all(&t->key, cols, keys->num_rows, scratch, kp, kl, err)) == 0)
        rc = mr_table_read(st, kp, kl, n, columns, ncolumns, flags, out, err);
    mr_free(kl);
    mr_free(kp);
    mr_free(cols);
    mr_batch_free(scratch);
    return rc;
}
