/* recover.c - opening a native store's log: its segment files are opened in file-number
 * (log) order, each scanned record by record (record.h), and the committed rows applied to
 * a key directory sized once for all of them.
 *
 * Rules (record.h): a write's rows are applied only when their commit marker is intact; a
 * commit adopts the last `records` rows before it (earlier pending rows belong to a write
 * that failed without its abort marker and are garbage), an abort drops the pending rows.
 * An unterminated or torn tail of the newest segment is truncated (logged with file and
 * offset), and an abort marker is appended if uncommitted rows remain in older segments;
 * corruption in any other segment marks the table damaged (it refuses reads and writes;
 * other tables serve). Recovery runs before the store is published: no reader or writer
 * runs concurrently. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Committed record locations collected by the scan, applied to the key directory at the
 * end of recovery in one pass (sized once, slots prefetched ahead). */
typedef struct loc_vec {
    uint64_t *v;
    size_t n, cap;
} loc_vec_t;

static void loc_push(loc_vec_t *lv, uint64_t loc)
{
    if (lv->n == lv->cap) {
        lv->cap = lv->cap ? lv->cap * 2 : 4096;
        lv->v = mr_xrealloc(lv->v, lv->cap * sizeof(uint64_t));
    }
    lv->v[lv->n++] = loc;
}

/* Scans one segment of the log, collecting row locations into `out`. *batch_start (kept
 * across segments: a write may span a roll) is where the rows of the open write begin; a
 * commit marker moves it to the end, an abort marker drops the rows after it.
 * *valid_end = end of the last marker in this segment (0 if none). */
static void scan_segment(mr_table_t *t, mr_segment_t *s, loc_vec_t *out, size_t *batch_start, uint64_t *valid_end,
                         const char **why, uint64_t *bad_off)
{
    uint64_t size = atomic_load(&s->size), off = 0;
    *valid_end = 0;
    *why = NULL;
    s->head_continues = *batch_start < out->n; /* rows of an unfinished write carried in */
    while (off < size) {
        const uint8_t *p = s->map + off;
        if ((*why = mr_rec_check(p, size - off)) != NULL)
            break;
        uint32_t len = mr_rec_len(p);
        uint16_t klen = mr_rec_key_len(p), kind = mr_rec_kind(p);
        if (mr_rec_is_marker(kind)) {
            uint64_t seq = mr_rec_marker_seq(p);
            if (seq >= t->next_seq)
                t->next_seq = seq + 1;
            uint32_t count = mr_rec_marker_count(p);
            size_t pending = out->n - *batch_start;
            if (kind == MR_REC_ABORT) {
                mr_rows_to_garbage(t, out->v + *batch_start, pending);
                out->n = *batch_start;
            } else if (count < pending) {
                /* rows of a write that failed without its abort marker (e.g. the disk was
                 * full) precede this commit's own `count` rows: they were never acknowledged */
                size_t orphans = pending - count;
                mr_rows_to_garbage(t, out->v + *batch_start, orphans);
                memmove(out->v + *batch_start, out->v + *batch_start + orphans, count * sizeof(uint64_t));
                out->n -= orphans;
            }
            *batch_start = out->n;
            atomic_fetch_add(&s->garbage, len);
            off += len;
            *valid_end = off;
            continue;
        }
        if (kind != MR_REC_ROW || mr_table_row_base(t, klen) > len) {
            *why = "record does not match the table's row layout";
            break;
        }
        loc_push(out, MR_LOC_MAKE(s->idx, off));
        off += len;
    }
    *bad_off = *why ? off : size;
}

/* Inserts the collected rows in order (later rows win), into a directory sized once for
 * all of them; hashes and slot prefetches run PREFETCH rows ahead of the inserts. */
static int apply_locations(mr_table_t *t, const loc_vec_t *lv)
{
    uint64_t cap = 1024;
    while (cap * 3 < (uint64_t)lv->n * 4)
        cap *= 2;
    mr_kd_table_t *kd = atomic_load(&t->kd);
    if (cap > kd->mask + 1) {
        mr_kd_table_t *n = mr_kd_table_new(cap);
        if (n == NULL)
            return MURR_ENOMEM;
        mr_kd_table_free(kd);
        atomic_store(&t->kd, n);
        kd = n;
    }
    enum { PREFETCH = 16 };
    for (size_t i = 0; i < lv->n; i++) {
        if (i + PREFETCH < lv->n) {
            const uint8_t *r = mr_rec_at(t, lv->v[i + PREFETCH]);
            uint64_t h = mr_kd_fix_hash(mr_hash64(mr_rec_key(r), mr_rec_key_len(r)));
            __builtin_prefetch(&kd->slots[h & kd->mask]);
        }
        const uint8_t *rec = mr_rec_at(t, lv->v[i]);
        MR_RETURN_NOT_OK(mr_kd_put(t, mr_rec_key(rec), mr_rec_key_len(rec), lv->v[i], NULL));
    }
    return 0;
}

static void mark_damaged(mr_table_t *t, const char *fmt, const char *path, uint64_t off, const char *why)
{
    t->damaged = true;
    snprintf(t->damage, sizeof(t->damage), fmt, path, (unsigned long long)off, why);
    MR_ERROR("engine", "table '%s' refuses to open: %s", t->name, t->damage);
}

int mr_table_recover(mr_table_t *t, mr_error_t *err)
{
    DIR *d = opendir(t->dir);
    if (d == NULL)
        return mr_err_set(err, MURR_EIO, "cannot open table directory '%s': %s", t->dir, strerror(errno));
    /* segment files are numbered in log order (at least 8 digits); indexes are given in
     * that order */
    uint64_t *ids = mr_xmalloc(MR_TABLE_MAX_SEGMENTS * sizeof(uint64_t));
    size_t nids = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        size_t l = strlen(de->d_name);
        unsigned long long id = l >= 12 && l <= 24 && de->d_name[0] >= '0' && de->d_name[0] <= '9'
                                    ? strtoull(de->d_name, &end, 10) : 0;
        if (id > 0 && end == de->d_name + l - 4 && strcmp(end, ".seg") == 0) {
            if (nids == MR_TABLE_MAX_SEGMENTS - 1) {
                closedir(d);
                mr_free(ids);
                return mr_err_set(err, MURR_ETOOBIG, "table '%s' has more than %d segment files in '%s'", t->name,
                                  MR_TABLE_MAX_SEGMENTS - 1, t->dir);
            }
            ids[nids++] = id;
        } else if (strstr(de->d_name, ".seg") != NULL) {
            MR_WARN("engine", "table '%s': ignoring unexpected file '%s/%s'", t->name, t->dir, de->d_name);
        }
    }
    closedir(d);
    qsort(ids, nids, sizeof(ids[0]), cmp_u64);
    if (nids > 0)
        t->next_file = ids[nids - 1] + 1;
    loc_vec_t lv = {0};
    size_t batch_start = 0;
    uint64_t last_valid_end = 0;
    int rc = 0;
    uint32_t idx = 0;
    for (size_t i = 0; i < nids && rc == 0; i++) {
        mr_segment_t *s;
        mr_error_t e = {0};
        rc = mr_seg_open(t, ids[i], idx + 1, false, 0, &s, &e);
        if (rc == MURR_ENOTFOUND) {
            /* listed, then gone: a compacted segment that another store object of this
             * version (swapped out, its readers draining) is removing; its live rows are in
             * a later file */
            rc = 0;
            continue;
        }
        if (rc != 0) {
            mr_err_copy(err, &e);
            break;
        }
        idx++;
        atomic_store(&t->segs[idx], s);
        if (atomic_load(&s->size) > MR_KD_SEG_REACH) {
            /* this build never writes one (write.c, mr_table_check_options): key directory
             * slots could not address its rows past the reach */
            rc = mr_err_set(err, MURR_ETOOBIG,
                            "segment '%s' has %llu bytes, more than the %llu a key directory slot addresses "
                            "(decision 0013)", s->path, (unsigned long long)atomic_load(&s->size),
                            (unsigned long long)MR_KD_SEG_REACH);
            break;
        }
        atomic_store(&t->live[idx], s);
        t->active = idx;
        uint64_t end, bad;
        const char *why;
        scan_segment(t, s, &lv, &batch_start, &end, &why, &bad);
        last_valid_end = end;
        if (why != NULL && i + 1 < nids) {
            mark_damaged(t, "'%s' is corrupt at offset %llu: %s", s->path, bad, why);
            mr_free(lv.v);
            mr_free(ids);
            return 0;
        }
        if (why != NULL)
            MR_WARN("engine", "table '%s': %s in '%s' at offset %llu: the tail was never acknowledged", t->name, why,
                    s->path, (unsigned long long)bad);
    }
    if (rc == 0 && nids > 0) {
        /* rows after the last marker were never committed: drop them */
        mr_segment_t *last = mr_seg_get(t, t->active);
        bool older_pending = false;
        for (size_t k = batch_start; k < lv.n; k++)
            older_pending |= MR_LOC_SEG(lv.v[k]) != t->active;
        uint64_t size = atomic_load(&last->size);
        if (size > last_valid_end) {
            MR_WARN("engine", "table '%s': dropping %llu unacknowledged bytes at the end of '%s' (truncating to %llu)",
                    t->name, (unsigned long long)(size - last_valid_end), last->path,
                    (unsigned long long)last_valid_end);
            if (ftruncate(last->fd, (off_t)last_valid_end) != 0 || fdatasync(last->fd) != 0)
                rc = mr_err_set(err, MURR_EIO, "cannot truncate '%s' to %llu: %s", last->path,
                                (unsigned long long)last_valid_end, strerror(errno));
            atomic_store(&last->size, last_valid_end);
        }
        size_t kept = batch_start;
        for (size_t k = batch_start; k < lv.n; k++) /* pending rows in older segments are garbage */
            if (MR_LOC_SEG(lv.v[k]) != t->active)
                mr_rows_to_garbage(t, &lv.v[k], 1);
        lv.n = kept;
        if (rc == 0 && older_pending) {
            /* a later commit must never adopt them: close them with an abort marker */
            mr_segment_t *seg;
            rc = mr_txn_append_marker(t, MR_REC_ABORT, 0, &seg, err);
            if (rc == 0 && fdatasync(seg->fd) != 0)
                rc = mr_err_set(err, MURR_EIO, "fdatasync of '%s' failed: %s", seg->path, strerror(errno));
        }
    }
    if (rc == 0 && apply_locations(t, &lv) != 0)
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory rebuilding the key directory of '%s' (%zu rows)", t->name,
                        lv.n);
    mr_free(lv.v);
    mr_free(ids);
    return rc;
}
