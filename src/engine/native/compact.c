/* compact.c - compaction of a native store: the live records of each sealed segment past
 * the garbage ratio are copied to the active segment as one committed batch, made durable
 * (fdatasync), re-pointed in the key directory, and the old segment retired.
 *
 * Rules: runs under the writer lock (wlock), so no transaction interleaves. Each key is
 * re-pointed with compare-and-swap from the old location, so a newer location wins; the
 * copy holds the same row, so readers need no undo (snapshot.h). The copy is durable
 * before the old file goes, and it has the higher file number, so recovery (which replays
 * files in order) prefers it. The old segment is unmapped and unlinked through the epoch
 * once no reader can hold a location in it. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "engine/epoch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Copies the live records of segment s into the active segment and re-points them.
 * Writer lock held. */
static int compact_segment_locked(mr_table_t *t, mr_segment_t *s, mr_error_t *err)
{
    uint64_t size = atomic_load(&s->size), off = 0, phase = mr_seg_tail(t); /* where the copy will start */
    mr_buf_t buf;
    mr_buf_init(&buf);
    typedef struct moved {
        uint64_t old_loc;
        uint64_t new_off;
    } moved_t;
    moved_t *mv = NULL;
    size_t nmv = 0, cap = 0;
    mr_kd_table_t *kd = atomic_load(&t->kd);
    while (off < size) {
        const uint8_t *p = s->map + off;
        uint32_t len = size - off >= MR_REC_HEADER ? mr_rec_len(p) : 0;
        if (len < MR_REC_HEADER || (len & 7) || len > size - off) { /* recovery checked it: never loop on damage */
            mr_free(mv);
            mr_buf_deinit(&buf);
            return mr_err_set(err, MURR_ECORRUPT, "compaction of '%s': invalid record length %u at offset %llu of %llu",
                              s->path, len, (unsigned long long)off, (unsigned long long)size);
        }
        if (mr_rec_kind(p) == MR_REC_ROW) {
            mr_kd_slot_t *slot = mr_kd_find_rec(t, kd, p);
            uint64_t loc = MR_LOC_MAKE(s->idx, off);
            if (slot && mr_kd_slot_loc(slot) == loc) {
                if (nmv == cap) {
                    cap = cap ? cap * 2 : 1024;
                    mv = mr_xrealloc(mv, cap * sizeof(*mv));
                }
                /* line placement (record.h): the copy before it takes the padding */
                uint32_t pad = nmv ? mr_rec_line_pad(phase + buf.len, len) : 0;
                int arc = pad ? mr_buf_append_zeros(&buf, pad) : 0;
                if (arc == 0 && pad)
                    mr_rec_extend(buf.data + mv[nmv - 1].new_off, pad);
                mv[nmv++] = (moved_t){loc, buf.len};
                if (arc != 0 || mr_buf_append(&buf, p, len) != 0) {
                    mr_free(mv);
                    mr_buf_deinit(&buf);
                    return mr_err_set(err, MURR_ENOMEM, "out of memory compacting '%s'", s->path);
                }
            }
        }
        off += len;
    }
    int rc = 0;
    if (nmv > 0) {
        uint8_t commit[MR_REC_MARKER_SIZE + MR_REC_LINE];
        uint32_t mlen = mr_rec_marker_len(phase + buf.len);
        mr_rec_encode_marker(commit, mlen, MR_REC_COMMIT, t->next_seq++, (uint32_t)nmv);
        rc = mr_buf_append(&buf, commit, mlen);
        if (rc == 0)
            rc = mr_seg_ensure_room(t, buf.len, err);
        mr_segment_t *a = rc == 0 ? mr_seg_get(t, t->active) : NULL;
        if (rc == 0 && a == NULL)
            rc = mr_err_set(err, MURR_EINTERNAL, "table '%s': active segment %u is missing", t->name, t->active);
        if (rc == 0) {
            uint64_t base = atomic_load(&a->size);
            if (mr_write_full(a->fd, buf.data, buf.len, (off_t)base) != 0 || fdatasync(a->fd) != 0) {
                rc = mr_err_set(err, errno == ENOSPC || errno == EDQUOT ? MURR_ENOSPC : MURR_EIO,
                                "compaction cannot write %zu bytes to '%s': %s", buf.len, a->path, strerror(errno));
                if (ftruncate(a->fd, (off_t)base) != 0)
                    MR_ERROR("engine", "cannot truncate '%s': %s", a->path, strerror(errno));
            } else {
                mr_seg_populate(a, base, buf.len);
                atomic_store(&a->size, base + buf.len);
                t->pending = false; /* the copy ends with its marker */
                atomic_fetch_add(&a->garbage, mlen);
                for (size_t i = 0; i < nmv; i++) {
                    const uint8_t *p = s->map + MR_LOC_OFF(mv[i].old_loc);
                    mr_kd_slot_t *slot = mr_kd_find_rec(t, kd, p);
                    if (slot == NULL)
                        continue;
                    /* CAS of the whole word (the tag stays: same key): a newer location (a
                     * write that raced in) wins */
                    uint64_t expect = atomic_load(&slot->word);
                    if (mr_kd_word_loc(expect) == mv[i].old_loc)
                        atomic_compare_exchange_strong(&slot->word, &expect,
                                                       mr_kd_word(expect, MR_LOC_MAKE(a->idx, base + mv[i].new_off)));
                }
            }
        }
    }
    mr_free(mv);
    mr_buf_deinit(&buf);
    if (rc != 0)
        return rc;
    mr_seg_retire(t, s);
    return 0;
}

static int cmp_seg_seq(const void *a, const void *b)
{
    uint64_t x = (*(mr_segment_t *const *)a)->seq, y = (*(mr_segment_t *const *)b)->seq;
    return x < y ? -1 : x > y;
}

int mr_table_compact(mr_store_t *st, double min_ratio, bool force, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)st;
    if (t->damaged)
        return mr_table_damaged_error(t, "compaction", err);
    pthread_mutex_lock(&t->wlock);
    if (atomic_load(&t->sealed)) {
        pthread_mutex_unlock(&t->wlock);
        return mr_table_sealed_error(t, err);
    }
    int rc = 0;
    /* inside an epoch: segments retired earlier may be freed by any collector meanwhile */
    mr_epoch_guard_t eg;
    mr_epoch_enter(&eg);
    mr_segment_t *a = mr_seg_get(t, t->active);
    if (force && a && atomic_load(&a->garbage) > 0 && mr_seg_free_index(t) != 0)
        rc = mr_seg_roll(t, 0, err);
    /* The sealed segments (files before the active one) in log order; those past the
     * garbage ratio are chosen, and with one that begins inside a write, the segment
     * before it too (recursively): the marker of that write is in the chosen one, and
     * recovery of the earlier segment's rows needs it, so they must not outlive it. */
    uint64_t below = t->next_file - 1;
    mr_segment_t **v = mr_xcalloc(MR_TABLE_MAX_SEGMENTS, sizeof(*v));
    bool *pick = mr_xcalloc(MR_TABLE_MAX_SEGMENTS, sizeof(*pick));
    size_t n = 0;
    for (uint32_t idx = 1; idx < MR_TABLE_MAX_SEGMENTS; idx++) {
        mr_segment_t *s = mr_seg_live(t, idx);
        if (s != NULL && s->seq < below && !atomic_load(&s->retired))
            v[n++] = s;
    }
    qsort(v, n, sizeof(*v), cmp_seg_seq);
    for (size_t i = 0; i < n; i++) {
        uint64_t size = atomic_load(&v[i]->size), g = atomic_load(&v[i]->garbage);
        pick[i] = size > 0 && g > 0 && (double)g >= min_ratio * (double)size;
    }
    for (size_t i = n; i-- > 1;)
        if (pick[i] && v[i]->head_continues)
            pick[i - 1] = true;
    bool did = false;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (pick[i]) {
            rc = compact_segment_locked(t, v[i], err);
            did = true;
        }
    mr_free(pick);
    mr_free(v);
    if (did && rc == 0)
        atomic_fetch_add(&t->compactions, 1);
    mr_epoch_exit(&eg);
    pthread_mutex_unlock(&t->wlock);
    mr_epoch_collect();
    return rc;
}
