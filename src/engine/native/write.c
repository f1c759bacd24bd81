/* write.c - write transactions of the native store: validation of batches against the
 * schema, row encoding (record.h's writers, the layout of table.c), begin / append /
 * commit / abort, and the commit and abort markers.
 *
 * Rules: a transaction holds the writer lock (wlock) from begin to commit or abort. An
 * append validates every batch before writing a byte, encodes outside the log and appends
 * in one pwrite (possibly rolling a segment); rows become visible only at commit: first
 * everything that can fail for lack of memory (the keydir grown, the undo map allocated),
 * then the commit marker and fdatasync (durable), then publication into the key directory
 * in order, behind an undo map when readers may hold an older snapshot (snapshot.h). A
 * write is either durable and published, or neither; rows of a failed or aborted write
 * become garbage and an abort marker keeps recovery from adopting them. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/log.h"
#include "engine/epoch.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Validates one batch against the schema and converts columns into cols[schema index]. */
static int validate_batch(mr_table_t *t, mr_batch_t *scratch, const mr_batch_t *b, mr_column_t *cols, mr_error_t *err)
{
    const mr_schema_t *s = t->schema;
    MR_RETURN_NOT_OK(mr_key_columns_prepare(&t->key, s, b, false, "write payload", scratch, cols, err));
    for (int32_t i = 0; i < s->num_columns; i++) {
        const mr_column_schema_t *cs = &s->columns[i];
        if (cs->key)
            continue;
        int32_t bi = mr_batch_find_column(b, cs->name, cs->name_len);
        if (bi < 0)
            return mr_err_set(err, MURR_EINVAL, "Table error: missing column '%s' in write payload (table '%s' has %d columns)",
                              cs->name, t->name, s->num_columns);
        const mr_column_t *c = &b->columns[bi];
        if (!cs->nullable && c->null_count > 0) {
            int64_t r = 0;
            while (murr_column_is_valid(c, r))
                r++;
            return mr_err_set(err, MURR_EINVAL, "Table error: column '%s' is declared non-nullable but row %lld is null",
                              cs->name, (long long)r);
        }
        if (mr_dtype_is_list(cs->dtype)) {
            mr_error_t e2 = {0};
            if (mr_list_column_convert(scratch, c, b->num_rows, cs->dtype, cs->dim, cs->strict, &cols[i], &e2) != 0)
                return mr_err_set(err, e2.code, "Segment error: %s", e2.message);
        } else if (c->dtype != cs->dtype) {
            mr_error_t e2 = {0};
            if (mr_column_convert(scratch, c, b->num_rows, cs->dtype, cs->strict, &cols[i], &e2) != 0)
                return mr_err_set(err, e2.code, "Segment error: %s", e2.message);
        } else {
            cols[i] = *c;
        }
    }
    return 0;
}

static size_t row_size(mr_table_t *t, mr_column_t *cols, int64_t r, size_t klen)
{
    size_t n = mr_table_row_base(t, klen);
    for (int32_t k = 0; k < t->ncols; k++) {
        const mr_col_layout_t *L = &t->cols[k];
        bool list = mr_dtype_is_list(L->dtype);
        if (L->dtype != MURR_UTF8 && !(list && L->dim == 0))
            continue;
        const mr_column_t *c = &cols[L->schema_index];
        if (!murr_column_is_valid(c, r))
            continue;
        if (list) {
            n = mr_rec_list_end((uint32_t)n, (size_t)mr_list_len(c, r) * mr_list_elem_width(L->dtype));
        } else {
            size_t l;
            mr_column_str(c, r, &l);
            n += mr_rec_str_size(l);
        }
    }
    return mr_rec_pad(n);
}

/* Encodes row r into p (rec_len bytes, zeroed by the caller). */
static void encode_row(mr_table_t *t, mr_column_t *cols, int64_t r, uint8_t *p, uint32_t rec_len)
{
    size_t klen = mr_key_encode(&t->key, cols, r, mr_rec_key_out(p));
    mr_rec_put_header(p, rec_len, (uint16_t)klen, MR_REC_ROW);
    uint8_t *bm = mr_rec_body_out(p, klen);
    uint8_t *fixed = bm + t->bitmap_bytes;
    uint8_t *vec = p + mr_rec_vec_start(klen, (size_t)t->bitmap_bytes + t->fixed_bytes);
    uint32_t tail = (uint32_t)mr_table_row_base(t, klen);
    for (int32_t k = 0; k < t->ncols; k++) {
        const mr_col_layout_t *L = &t->cols[k];
        const mr_column_t *c = &cols[L->schema_index];
        if (!murr_column_is_valid(c, r))
            continue;
        mr_bit_set(bm, k);
        uint8_t *slot = fixed + L->slot;
        if (L->dtype == MURR_UTF8) {
            size_t l;
            const uint8_t *sv = mr_column_str(c, r, &l);
            tail = mr_rec_put_str(p, slot, tail, sv, (uint32_t)l);
        } else if (mr_dtype_is_list(L->dtype) && L->dim > 0) {
            memcpy(vec + L->vec, mr_list_elems(c, r), L->vec_bytes);
        } else if (mr_dtype_is_list(L->dtype)) {
            int64_t n = mr_list_len(c, r);
            tail = mr_rec_put_list(p, slot, tail, mr_list_elems(c, r), (uint32_t)n,
                                   (size_t)n * mr_list_elem_width(L->dtype));
        } else if (L->dtype == MURR_BOOL) {
            *slot = mr_bit_get(c->values, r);
        } else {
            memcpy(slot, (const uint8_t *)c->values + (size_t)r * L->width, L->width);
        }
    }
    mr_rec_seal(p, rec_len);
}

int mr_table_txn_begin(mr_store_t *st, mr_store_txn_t **out, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)st;
    *out = NULL;
    pthread_mutex_lock(&t->wlock);
    if (t->damaged) {
        pthread_mutex_unlock(&t->wlock);
        return mr_table_damaged_error(t, "writes", err);
    }
    if (atomic_load(&t->sealed)) {
        pthread_mutex_unlock(&t->wlock);
        return mr_table_sealed_error(t, err);
    }
    mr_txn_t *x = mr_xcalloc(1, sizeof(*x));
    x->base.ops = t->base.ops;
    x->t = t;
    *out = &x->base;
    return 0;
}

int mr_table_txn_append(mr_store_txn_t *xb, const mr_batch_t *const *batches, size_t n, mr_error_t *err)
{
    mr_txn_t *x = (mr_txn_t *)xb;
    mr_table_t *t = x->t;
    if (x->failed)
        return mr_err_set(err, MURR_EINVAL, "write to '%s' already failed; abort it", t->name);
    mr_batch_t *scratch = mr_batch_new(0, 0);
    if (scratch == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory");
    int ns = t->schema->num_columns;
    mr_column_t *cols = mr_xcalloc(n * (size_t)ns + 1, sizeof(mr_column_t));
    int rc = 0;
    size_t total = 0;
    uint64_t rows = 0, phase = mr_seg_tail(t); /* where the rows will start (a roll starts at 0) */
    /* 1. validate every batch before writing a byte */
    for (size_t bi = 0; bi < n; bi++) {
        rc = validate_batch(t, scratch, batches[bi], cols + bi * (size_t)ns, err);
        if (rc != 0) {
            if (n > 1)
                mr_err_prefix(err, "batch %zu: ", bi);
            goto out;
        }
        mr_column_t *bc = cols + bi * (size_t)ns;
        for (int64_t r = 0; r < batches[bi]->num_rows; r++) {
            size_t len = row_size(t, bc, r, mr_key_encoded_len(&t->key, bc, r));
            total += (total ? mr_rec_line_pad(phase + total, len) : 0) + len; /* as the encoding below */
        }
        rows += (uint64_t)batches[bi]->num_rows;
    }
    if (rows == 0)
        goto out;
    /* one append goes to one segment, and its rows must start within a key directory
     * slot's reach (keydir.h) */
    if (x->nlocs + rows > UINT32_MAX || total > MR_KD_SEG_REACH) {
        rc = mr_err_set(err, MURR_ETOOBIG,
                        "write of %llu rows (%zu bytes) exceeds the per-request limit of %u rows and %llu bytes",
                        (unsigned long long)(x->nlocs + rows), total, UINT32_MAX, (unsigned long long)MR_KD_SEG_REACH);
        goto out;
    }
    /* 2. encode */
    uint8_t *buf = mr_calloc(1, total);
    if (buf == NULL) {
        rc = mr_err_set(err, MURR_ENOMEM, "cannot allocate %zu bytes to encode %llu rows", total, (unsigned long long)rows);
        goto out;
    }
    if (x->nlocs + rows > x->cap) {
        size_t cap = x->cap ? x->cap : 1024;
        while (cap < x->nlocs + rows)
            cap *= 2;
        uint64_t *nl = mr_realloc(x->locs, cap * sizeof(uint64_t));
        if (nl == NULL) {
            mr_free(buf);
            rc = mr_err_set(err, MURR_ENOMEM, "out of memory for %llu rows", (unsigned long long)rows);
            goto out;
        }
        x->locs = nl;
        x->cap = cap;
    }
    size_t off = 0;
    uint64_t *rel = x->locs + x->nlocs; /* offsets within buf for now */
    size_t ri = 0;
    for (size_t bi = 0; bi < n; bi++) {
        mr_column_t *bc = cols + bi * (size_t)ns;
        for (int64_t r = 0; r < batches[bi]->num_rows; r++) {
            uint32_t len = (uint32_t)row_size(t, bc, r, mr_key_encoded_len(&t->key, bc, r));
            uint32_t pad = off ? mr_rec_line_pad(phase + off, len) : 0; /* on one line (record.h) */
            if (pad) {
                mr_rec_extend(buf + rel[ri - 1], pad);
                off += pad;
            }
            encode_row(t, bc, r, buf + off, len);
            rel[ri++] = off;
            off += len;
        }
    }
    /* 3. append (durability comes with the commit) */
    mr_segment_t *seg = NULL;
    uint64_t base = 0;
    rc = mr_seg_append(t, buf, total, &seg, &base, err);
    if (rc == 0)
        t->pending = true;
    mr_free(buf);
    if (rc != 0) {
        x->failed = true;
        goto out;
    }
    if (x->first_seq == 0)
        x->first_seq = seg->seq;
    for (size_t i = 0; i < ri; i++)
        rel[i] = MR_LOC_MAKE(seg->idx, base + rel[i]);
    x->nlocs += ri;
    x->bytes += total;
out:
    mr_free(cols);
    mr_batch_free(scratch);
    return rc;
}

static void txn_free(mr_txn_t *x)
{
    pthread_mutex_unlock(&x->t->wlock);
    mr_free(x->locs);
    mr_free(x);
}

int mr_txn_append_marker(mr_table_t *t, uint16_t kind, uint32_t count, mr_segment_t **seg, mr_error_t *err)
{
    uint8_t rec[MR_REC_MARKER_SIZE + MR_REC_LINE];
    *seg = NULL;
    uint32_t len = mr_rec_marker_len(mr_seg_tail(t)); /* ends on a line: the next write starts on one */
    mr_rec_encode_marker(rec, len, kind, t->next_seq, count);
    uint64_t base;
    MR_RETURN_NOT_OK(mr_seg_append(t, rec, len, seg, &base, err));
    t->pending = false;
    atomic_fetch_add(&(*seg)->garbage, len); /* markers are never live */
    return 0;
}

int mr_table_txn_commit(mr_store_txn_t *xb, mr_error_t *err)
{
    mr_txn_t *x = (mr_txn_t *)xb;
    mr_table_t *t = x->t;
    if (x->failed) {
        mr_table_txn_abort(xb);
        return mr_err_set(err, MURR_EINVAL, "write to '%s' had failed and was aborted", t->name);
    }
    if (x->nlocs == 0) { /* nothing appended: nothing to commit */
        txn_free(x);
        return 0;
    }
    /* Everything that can fail for lack of memory happens before the commit marker: a
     * write is either durable and published, or neither. */
    mr_snap_t *snap = atomic_load_explicit(&t->snap, memory_order_relaxed);
    mr_undo_t *undo = NULL;
    int rc = mr_kd_reserve(t, x->nlocs);
    if (rc == 0 && !snap->empty && (undo = mr_undo_new(x->nlocs)) == NULL)
        rc = MURR_ENOMEM;
    if (rc != 0) {
        size_t n = x->nlocs;
        mr_table_txn_abort(xb);
        if (rc == MURR_EINTERNAL)
            return mr_err_set(err, rc, "the key directory of '%s' points at a missing segment; the write of %zu rows "
                              "is not applied", t->name, n);
        return mr_err_set(err, MURR_ENOMEM, "out of memory publishing %zu rows into '%s'; the write is not applied",
                          n, t->name);
    }
    mr_segment_t *seg;
    rc = mr_txn_append_marker(t, MR_REC_COMMIT, (uint32_t)x->nlocs, &seg, err);
    if (rc == 0 && t->opts->sync_writes) {
        /* inside an epoch: a segment compaction retired may be freed by any collector */
        mr_epoch_guard_t g;
        mr_epoch_enter(&g);
        for (uint32_t idx = 1; idx < MR_TABLE_MAX_SEGMENTS && rc == 0; idx++) {
            mr_segment_t *s = mr_seg_live(t, idx);
            if (s && s->seq >= x->first_seq && !atomic_load(&s->retired) && fdatasync(s->fd) != 0)
                rc = mr_err_set(err, errno == ENOSPC || errno == EDQUOT ? MURR_ENOSPC : MURR_EIO,
                                "fdatasync of '%s' failed: %s; the write is not applied", s->path, strerror(errno));
        }
        mr_epoch_exit(&g);
    }
    if (rc != 0) {
        /* not durable: the rows must not become visible; a marker keeps recovery from
         * committing them with a later batch */
        mr_rows_to_garbage(t, x->locs, x->nlocs);
        mr_error_t e2 = {0};
        mr_txn_append_marker(t, MR_REC_ABORT, (uint32_t)x->nlocs, &seg, &e2);
        if (undo)
            mr_snap_retire_undo(undo);
        txn_free(x);
        return rc;
    }
    /* Publish in order, so the last duplicate wins; readers of the current snapshot
     * resolve through the undo map (snapshot.h). */
    if (undo)
        atomic_store_explicit(&snap->undo, undo, memory_order_release);
    for (size_t i = 0; i < x->nlocs; i++) {
        const uint8_t *rec = mr_rec_at(t, x->locs[i]);
        mr_kd_put(t, mr_rec_key(rec), mr_rec_key_len(rec), x->locs[i], undo); /* reserved: cannot fail */
    }
    mr_snap_t *next = mr_snap_new(false);
    atomic_store_explicit(&snap->next, next, memory_order_release);
    atomic_store_explicit(&t->snap, next, memory_order_release);
    mr_epoch_retire(mr_snap_retire_cb, snap);
    t->next_seq++;
    atomic_fetch_add(&t->writes, 1);
    txn_free(x);
    return rc;
}

void mr_table_txn_abort(mr_store_txn_t *xb)
{
    mr_txn_t *x = (mr_txn_t *)xb;
    if (x == NULL)
        return;
    mr_table_t *t = x->t;
    if (x->nlocs > 0 || x->failed) {
        mr_rows_to_garbage(t, x->locs, x->nlocs);
        mr_segment_t *seg;
        mr_error_t e = {0};
        if (mr_txn_append_marker(t, MR_REC_ABORT, (uint32_t)x->nlocs, &seg, &e) != 0)
            MR_ERROR("engine", "table '%s': cannot write an abort marker: %s", t->name, e.message);
        t->next_seq++;
    }
    txn_free(x);
}
