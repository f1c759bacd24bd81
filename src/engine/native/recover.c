/* recover.c - opening a native store's log: its segment files are opened in file-number
 * (log) order, scanned, and the committed rows applied to a key directory sized once for
 * all of them.
 *
 * Rules (record.h): a write's rows are applied only when their commit marker is intact; a
 * commit adopts the last `records` rows before it (earlier pending rows belong to a write
 * that failed without its abort marker and are garbage), an abort drops the pending rows.
 * An unterminated or torn tail of the newest segment is truncated (logged with file and
 * offset), and an abort marker is appended if uncommitted rows remain in older segments;
 * corruption in any other segment marks the table damaged (it refuses reads and writes;
 * other tables serve). Recovery runs before the store is published: no reader or writer
 * runs concurrently.
 *
 * Three phases, so that the work that is per byte or per row runs on every core
 * (MR_RECOVER_THREADS at most):
 *  1. scan (parallel, one segment per job, read ahead sequentially): each segment's
 *     records are framed and checksummed (mr_rec_check) from offset 0 until the first bad
 *     record, and each row's key hashed while its record is in cache. A segment's framing
 *     never depends on another segment, so the jobs are independent; the result per
 *     segment is the list of its records (row: location and hash; marker: location) and
 *     where and why it stopped.
 *  2. log (one thread, in log order): the marker rules above over those lists, exactly as
 *     a record-by-record walk of the log would apply them (dropped rows are tombstoned in
 *     place); it stops at the first segment that is corrupt and not the newest.
 *  3. key directory (parallel, one part per core): the surviving rows are inserted into a
 *     directory sized once, each part owning the keys whose home slot falls in its share
 *     of the slots (a contiguous range). All rows of one key have one home, so one part
 *     sees them all, in log order (later rows win), and a part is the only writer of its
 *     share; a row whose probe would leave the share is deferred and inserted after the
 *     parts, on one thread (kd_insert). Rows are inserted in bucket order (kd_fill_t):
 *     random inserts into a large directory cost a DRAM miss and, in a VM, a page walk
 *     each, which prefetching did not hide (issue 18: 100M rows took 15 s to insert).
 *
 * Memory while recovery runs: 16 bytes per record (location + hash), which phase 3
 * replaces segment by segment with 12 per row (slot word and home, in bucket order) before
 * it touches the key directory's pages; at 100M rows: 1.6 GB during the scan, then 1.2 GB
 * next to the directory's 1 GiB (the recovery before issue 18's change held 8 bytes per
 * row, 0.8-1 GB, next to the directory). The hash is kept so that phase 3 never reads a
 * record again (a table larger than RAM would read it from disk twice) unless a slot's tag
 * matches. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MR_RECOVER_THREADS 2 /* the cores recovery uses at most (fewer if fewer are online) */
#define KD_INSERT_AHEAD 16   /* rows between a slot's prefetch and its insert */
#define KD_FILL_PARALLEL_ROWS 4096 /* fewer rows fill the directory on one thread */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One record found by the scan: a row (h = its key's fixed hash, never 0), a marker
 * (h = 0, loc = its location) or, after phase 2, a dropped row (h = 0, loc = 0). */
typedef struct rec_ent {
    uint64_t loc;
    uint64_t h;
} rec_ent_t;

static bool ent_is_row(const rec_ent_t *e) { return e->h != 0; }

/* The scan of one segment (phase 1's job) and its result. */
typedef struct scan_job {
    mr_segment_t *s;
    size_t file_pos;     /* position of its file in the listing (the newest is last) */
    rec_ent_t *ents;
    size_t n, cap;
    const char *why;     /* why the scan stopped early (NULL: it reached the end) */
    uint64_t bad_off;    /* where it stopped (the size if it reached the end) */
    uint64_t valid_end;  /* end of the last marker in the segment (0: none) */
} scan_job_t;

static void ent_push(scan_job_t *j, uint64_t loc, uint64_t h)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 4096;
        j->ents = mr_xrealloc(j->ents, j->cap * sizeof(rec_ent_t));
    }
    j->ents[j->n++] = (rec_ent_t){loc, h};
}

/* Phase 1 for one segment: frames, checks and hashes its records from offset 0 until the
 * first one that fails (mr_rec_check, or a row that does not match the table's layout). */
static void scan_segment(const mr_table_t *t, scan_job_t *j)
{
    mr_segment_t *s = j->s;
    uint64_t size = atomic_load(&s->size), off = 0;
    /* the mapping is MADV_RANDOM for the readers, which turns readahead off: a cold scan
     * read 4 KiB per fault (47 s for 640 MB here, against 1 s sequential). For the scan the
     * range is sequential and read ahead at once; the readers' advice comes back after it */
    if (size > 0) {
        madvise(s->map, (size_t)size, MADV_SEQUENTIAL);
        madvise(s->map, (size_t)size, MADV_WILLNEED);
    }
    /* sized for rows with empty keys (the most a segment of such rows can hold; markers
     * are few): one allocation in the usual case, doubling otherwise */
    size_t row_min = mr_rec_pad(mr_table_row_base(t, 0));
    j->cap = (size_t)(size / (row_min > MR_REC_MIN_LEN ? row_min : MR_REC_MIN_LEN)) + 16;
    j->ents = mr_xmalloc(j->cap * sizeof(rec_ent_t));
    while (off < size) {
        const uint8_t *p = s->map + off;
        if ((j->why = mr_rec_check(p, size - off)) != NULL)
            break;
        uint32_t len = mr_rec_len(p);
        uint16_t klen = mr_rec_key_len(p), kind = mr_rec_kind(p);
        if (mr_rec_is_marker(kind)) {
            ent_push(j, MR_LOC_MAKE(s->idx, off), 0);
            off += len;
            j->valid_end = off;
            continue;
        }
        if (kind != MR_REC_ROW || mr_table_row_base(t, klen) > len) {
            j->why = "record does not match the table's row layout";
            break;
        }
        ent_push(j, MR_LOC_MAKE(s->idx, off), mr_kd_fix_hash(mr_hash64(mr_rec_key(p), klen)));
        off += len;
    }
    j->bad_off = j->why ? off : size;
    madvise(s->map, s->map_len, MADV_RANDOM); /* the readers' advice again */
}

/* Runs fn(arg, part, nparts) for part 0..nparts-1, part 0 on the calling thread and the
 * others on threads of their own (inline if a thread cannot start: the parts are
 * independent). */
typedef struct part_run {
    void (*fn)(void *arg, unsigned part, unsigned nparts);
    void *arg;
    unsigned part, nparts;
} part_run_t;

static void *part_main(void *p)
{
    part_run_t *r = p;
    r->fn(r->arg, r->part, r->nparts);
    return NULL;
}

static unsigned recover_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= MR_RECOVER_THREADS ? MR_RECOVER_THREADS : 1;
}

static void run_parts(void (*fn)(void *, unsigned, unsigned), void *arg, unsigned nparts)
{
    pthread_t th[MR_RECOVER_THREADS];
    part_run_t runs[MR_RECOVER_THREADS];
    bool started[MR_RECOVER_THREADS] = {false};
    for (unsigned i = 1; i < nparts; i++) {
        runs[i] = (part_run_t){fn, arg, i, nparts};
        started[i] = pthread_create(&th[i], NULL, part_main, &runs[i]) == 0;
    }
    fn(arg, 0, nparts);
    for (unsigned i = 1; i < nparts; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            fn(arg, i, nparts);
    }
}

/* Phase 1: the parts take segments in log order from a shared counter. */
typedef struct scan_all {
    const mr_table_t *t;
    scan_job_t *jobs;
    size_t njobs;
    _Atomic size_t next;
} scan_all_t;

static void scan_part(void *arg, unsigned part, unsigned nparts)
{
    (void)part, (void)nparts;
    scan_all_t *a = arg;
    for (size_t k; (k = atomic_fetch_add(&a->next, 1)) < a->njobs;)
        scan_segment(a->t, &a->jobs[k]);
}

/* Phase 2 state: the rows after the last marker (none of them markers) begin at entry
 * `k` of job `j`; there are `n` of them, possibly spanning segments. */
typedef struct pending {
    size_t j, k, n;
    uint64_t rows; /* rows applied or pending so far (dropped ones are not counted) */
} pending_t;

/* Drops the first m pending rows: garbage in their segments (unless the segment is
 * `keep_seg`, whose tail is about to be truncated), tombstoned for phase 3. */
static void drop_pending(mr_table_t *t, scan_job_t *jobs, pending_t *pd, size_t m, uint32_t keep_seg)
{
    size_t j = pd->j, k = pd->k;
    while (m > 0) {
        if (k == jobs[j].n) {
            j++, k = 0;
            continue;
        }
        rec_ent_t *e = &jobs[j].ents[k++];
        if (MR_LOC_SEG(e->loc) != keep_seg)
            mr_rows_to_garbage(t, &e->loc, 1);
        *e = (rec_ent_t){0, 0};
        m--, pd->n--, pd->rows--;
    }
    pd->j = j, pd->k = k;
}

/* Phase 2 for job jx: the marker rules over its records, in order. */
static void apply_markers(mr_table_t *t, scan_job_t *jobs, size_t jx, pending_t *pd)
{
    scan_job_t *jb = &jobs[jx];
    jb->s->head_continues = pd->n > 0; /* rows of an unfinished write carried in */
    for (size_t k = 0; k < jb->n; k++) {
        rec_ent_t *e = &jb->ents[k];
        if (ent_is_row(e)) {
            if (pd->n++ == 0)
                pd->j = jx, pd->k = k;
            pd->rows++;
            continue;
        }
        const uint8_t *p = mr_rec_at(t, e->loc);
        uint64_t seq = mr_rec_marker_seq(p);
        if (seq >= t->next_seq)
            t->next_seq = seq + 1;
        uint32_t count = mr_rec_marker_count(p);
        if (mr_rec_kind(p) == MR_REC_ABORT)
            drop_pending(t, jobs, pd, pd->n, 0);
        else if (count < pd->n)
            /* rows of a write that failed without its abort marker (e.g. the disk was full)
             * precede this commit's own `count` rows: they were never acknowledged */
            drop_pending(t, jobs, pd, pd->n - count, 0);
        pd->n = 0;
        atomic_fetch_add(&jb->s->garbage, mr_rec_len(p));
    }
}

/* Phase 3. The directory is filled bucket by bucket: a bucket is a run of 2^shift
 * consecutive slots (at most 2 MiB of them, so that its inserts hit the caches and the TLB
 * instead of DRAM and a page walk each, which is what random inserts into a 1 GiB
 * directory cost in a VM: 100M rows took 15 s to insert that way). The rows are first
 * copied in bucket order, stably (log order within a bucket): part p counts and then
 * scatters the p-th slice of the log's records, into the p-th place of each bucket (so
 * each bucket holds part 0's rows, then part 1's: log order); then part p inserts the
 * buckets of its share of the slots, a contiguous range, where it is the only writer. */
typedef struct kd_fill {
    mr_table_t *t;
    mr_kd_table_t *kd;
    scan_job_t *jobs;
    size_t njobs;
    uint64_t nents;           /* records in all jobs (the slices split them evenly) */
    unsigned shift;           /* slots per bucket = 2^shift */
    uint64_t nbuckets;
    unsigned nparts;
    uint64_t *cur[MR_RECOVER_THREADS]; /* per part and bucket: its count, then where its next row goes */
    uint64_t *bstart;         /* bucket b's rows are words[bstart[b] .. bstart[b + 1]) */
    uint64_t *words;          /* the rows' slot words (mr_kd_word), in bucket order */
    uint32_t *lows;           /* their home slot's offset within the bucket */
    uint64_t added[MR_RECOVER_THREADS];
    uint64_t (*deferred[MR_RECOVER_THREADS])[2]; /* {home, word} of rows whose probe left the share */
    size_t ndeferred[MR_RECOVER_THREADS], capdeferred[MR_RECOVER_THREADS];
} kd_fill_t;

#define KD_BUCKET_SHIFT_MAX 18 /* 2^18 slots = 2 MiB per bucket */
#define KD_NO_END UINT64_MAX   /* kd_insert: probe without a share boundary (wrapping) */

/* Inserts a row (slot word `word`, home slot `home`), probing up to slot `end` (exclusive;
 * KD_NO_END: the whole table). Returns 1 for a new key, 0 for a key that was re-pointed
 * (its older record becomes garbage), -1 if the probe reached `end`: the row is left for
 * kd_fill_deferred, and so is every later row of that key (its probe path from home stays
 * full up to `end`, so it reaches `end` too), which keeps them in log order. Not
 * mr_kd_put: this probe reads the row's own record only when a slot's tag matches (the
 * scan hashed it), and within its share a part is the only writer, so slots are taken
 * with plain stores. */
static int kd_insert(mr_table_t *t, mr_kd_table_t *kd, uint64_t home, uint64_t word, uint64_t end)
{
    for (uint64_t j = home;;) {
        _Atomic uint64_t *slot = &kd->slots[j].word;
        uint64_t w = atomic_load_explicit(slot, memory_order_relaxed);
        if (w == 0) {
            atomic_store_explicit(slot, word, memory_order_relaxed);
            return 1;
        }
        if (mr_kd_word_tag_eq(w, word)) { /* the word's top bits are its hash's tag */
            uint64_t old = mr_kd_word_loc(w);
            const uint8_t *orec = mr_rec_at(t, old), *rec = mr_rec_at(t, mr_kd_word_loc(word));
            if (orec != NULL && mr_rec_key_eq(orec, mr_rec_key(rec), mr_rec_key_len(rec))) {
                mr_rows_to_garbage(t, &old, 1);
                atomic_store_explicit(slot, word, memory_order_relaxed);
                return 0;
            }
        }
        if (++j == end)
            return -1;
        j &= kd->mask;
    }
}

/* Part `part`'s slice of the records, in log order: counts its rows per bucket or (scatter)
 * copies them to their places, freeing each job that lies wholly in the slice once copied
 * (the scan's 16 bytes per record go while the copy's 12 per row arrive; the key
 * directory's pages are touched only later, by the inserts). */
static void kd_bucket_pass(kd_fill_t *f, unsigned part, bool scatter)
{
    uint64_t g0 = f->nents * part / f->nparts, g1 = f->nents * (part + 1) / f->nparts, base = 0;
    uint64_t mask = f->kd->mask, lmask = (1ull << f->shift) - 1, *cur = f->cur[part];
    for (size_t jx = 0; jx < f->njobs && base < g1; base += f->jobs[jx++].n) {
        uint64_t n = f->jobs[jx].n, k1 = g1 - base < n ? g1 - base : n;
        if (base + n <= g0)
            continue; /* before the slice (the part that owns it may be freeing it) */
        const rec_ent_t *e = f->jobs[jx].ents;
        bool mine = scatter && base >= g0 && base + n <= g1; /* no other part reads it */
        for (uint64_t k = g0 > base ? g0 - base : 0; k < k1; k++) {
            if (!ent_is_row(&e[k]))
                continue;
            uint64_t b = (e[k].h & mask) >> f->shift;
            if (!scatter) {
                cur[b]++;
                continue;
            }
            uint64_t at = cur[b]++;
            f->words[at] = mr_kd_word(e[k].h, e[k].loc);
            f->lows[at] = (uint32_t)(e[k].h & lmask);
        }
        if (mine) {
            mr_free(f->jobs[jx].ents);
            f->jobs[jx].ents = NULL;
        }
    }
}

static void kd_count_part(void *arg, unsigned part, unsigned nparts)
{
    (void)nparts;
    kd_bucket_pass(arg, part, false);
}

static void kd_scatter_part(void *arg, unsigned part, unsigned nparts)
{
    (void)nparts;
    kd_bucket_pass(arg, part, true);
}

static void kd_defer(kd_fill_t *f, unsigned part, uint64_t home, uint64_t word)
{
    if (f->ndeferred[part] == f->capdeferred[part]) {
        f->capdeferred[part] = f->capdeferred[part] ? f->capdeferred[part] * 2 : 64;
        f->deferred[part] = mr_xrealloc(f->deferred[part], f->capdeferred[part] * sizeof(f->deferred[part][0]));
    }
    f->deferred[part][f->ndeferred[part]][0] = home;
    f->deferred[part][f->ndeferred[part]++][1] = word;
}

/* Inserts the buckets of part `part`'s share; a probe may not leave the share (for the last
 * share it ends at the table's end: a wrap is deferred too). */
static void kd_insert_part(void *arg, unsigned part, unsigned nparts)
{
    kd_fill_t *f = arg;
    mr_kd_table_t *kd = f->kd;
    uint64_t b0 = f->nbuckets * part / nparts, b1 = f->nbuckets * (part + 1) / nparts;
    uint64_t added = 0, end = b1 << f->shift;
    for (uint64_t b = b0; b < b1; b++) {
        uint64_t base = b << f->shift;
        for (uint64_t i = f->bstart[b], n = f->bstart[b + 1]; i < n; i++) {
            if (i + KD_INSERT_AHEAD < n)
                __builtin_prefetch(&kd->slots[base + f->lows[i + KD_INSERT_AHEAD]], 1);
            int r = kd_insert(f->t, kd, base + f->lows[i], f->words[i], end);
            if (r >= 0)
                added += (uint64_t)r;
            else
                kd_defer(f, part, base + f->lows[i], f->words[i]);
        }
    }
    f->added[part] = added;
}

/* After the parts: the rows whose probe crossed a share's end (a few per share), on one
 * thread. The shares own disjoint keys, so only the order within a share matters. */
static void kd_fill_deferred(kd_fill_t *f)
{
    for (unsigned p = 0; p < f->nparts; p++) {
        for (size_t i = 0; i < f->ndeferred[p]; i++)
            f->added[p] += (uint64_t)kd_insert(f->t, f->kd, f->deferred[p][i][0], f->deferred[p][i][1], KD_NO_END);
        mr_free(f->deferred[p]);
    }
}

/* Phase 3: sizes the directory once for `rows` rows (load <= 75%) and fills it. */
static int apply_rows(mr_table_t *t, scan_job_t *jobs, size_t njobs, uint64_t rows)
{
    uint64_t cap = 1024;
    while (cap * 3 < rows * 4)
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
    if (rows == 0)
        return 0;
    unsigned lg = (unsigned)__builtin_ctzll(kd->mask + 1); /* >= 10 */
    kd_fill_t f = {.t = t, .kd = kd, .jobs = jobs, .njobs = njobs};
    f.shift = lg - 4 < KD_BUCKET_SHIFT_MAX ? lg - 4 : KD_BUCKET_SHIFT_MAX; /* at least 16 buckets */
    f.nbuckets = 1ull << (lg - f.shift);
    for (size_t jx = 0; jx < njobs; jx++)
        f.nents += jobs[jx].n;
    /* a thread costs tens of microseconds: small tables fill on the calling thread */
    f.nparts = rows >= KD_FILL_PARALLEL_ROWS ? recover_threads() : 1;
    for (unsigned p = 0; p < f.nparts; p++)
        f.cur[p] = mr_xcalloc((size_t)f.nbuckets, sizeof(uint64_t));
    run_parts(kd_count_part, &f, f.nparts);
    f.bstart = mr_xmalloc(((size_t)f.nbuckets + 1) * sizeof(uint64_t));
    uint64_t at = 0;
    for (uint64_t b = 0; b < f.nbuckets; b++) {
        f.bstart[b] = at;
        for (unsigned p = 0; p < f.nparts; p++) { /* part 0's rows first: log order */
            uint64_t c = f.cur[p][b];
            f.cur[p][b] = at;
            at += c;
        }
    }
    f.bstart[f.nbuckets] = at; /* == rows */
    f.words = mr_xmalloc((size_t)rows * sizeof(uint64_t));
    f.lows = mr_xmalloc((size_t)rows * sizeof(uint32_t));
    run_parts(kd_scatter_part, &f, f.nparts);
    run_parts(kd_insert_part, &f, f.nparts);
    kd_fill_deferred(&f);
    uint64_t added = 0;
    for (unsigned p = 0; p < f.nparts; p++) {
        added += f.added[p];
        mr_free(f.cur[p]);
    }
    atomic_fetch_add(&kd->count, added);
    mr_free(f.words);
    mr_free(f.lows);
    mr_free(f.bstart);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void mark_damaged(mr_table_t *t, const char *fmt, const char *path, uint64_t off, const char *why)
{
    t->damaged = true;
    snprintf(t->damage, sizeof(t->damage), fmt, path, (unsigned long long)off, why);
    MR_ERROR("engine", "table '%s' refuses to open: %s", t->name, t->damage);
}

/* The segment files' numbers in log order (at least 8 digits), into ids (caller frees). */
static int list_segments(mr_table_t *t, uint64_t **ids_out, size_t *n_out, mr_error_t *err)
{
    DIR *d = opendir(t->dir);
    if (d == NULL)
        return mr_err_set(err, MURR_EIO, "cannot open table directory '%s': %s", t->dir, strerror(errno));
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
    *ids_out = ids;
    *n_out = nids;
    return 0;
}

/* Opens and publishes the listed segments in log order, one job each, until one fails to
 * open (rc, in err; later files are not opened). Indexes are given in that order. */
static int open_segments(mr_table_t *t, const uint64_t *ids, size_t nids, scan_job_t *jobs, size_t *njobs,
                         mr_error_t *err)
{
    uint32_t idx = 0;
    *njobs = 0;
    for (size_t i = 0; i < nids; i++) {
        mr_segment_t *s;
        mr_error_t e = {0};
        int rc = mr_seg_open(t, ids[i], idx + 1, false, 0, &s, &e);
        if (rc == MURR_ENOTFOUND)
            /* listed, then gone: a compacted segment that another store object of this
             * version (swapped out, its readers draining) is removing; its live rows are in
             * a later file */
            continue;
        if (rc != 0) {
            mr_err_copy(err, &e);
            return rc;
        }
        if (atomic_load(&s->size) > MR_KD_SEG_REACH) {
            /* this build never writes one (write.c, mr_table_check_options): key directory
             * slots could not address its rows past the reach */
            rc = mr_err_set(err, MURR_ETOOBIG,
                            "segment '%s' has %llu bytes, more than the %llu a key directory slot addresses "
                            "(decision 0013)", s->path, (unsigned long long)atomic_load(&s->size),
                            (unsigned long long)MR_KD_SEG_REACH);
            mr_seg_close(s, false);
            return rc;
        }
        idx++;
        atomic_store(&t->segs[idx], s);
        atomic_store(&t->live[idx], s);
        t->active = idx;
        jobs[(*njobs)++] = (scan_job_t){.s = s, .file_pos = i};
    }
    return 0;
}

/* A damaged table keeps the segments up to the corrupt one, as if the log had been read
 * only that far: the later ones are closed and unpublished. */
static void close_after(mr_table_t *t, scan_job_t *jobs, size_t from, size_t njobs)
{
    for (size_t k = from; k < njobs; k++) {
        atomic_store(&t->live[jobs[k].s->idx], NULL);
        atomic_store(&t->segs[jobs[k].s->idx], NULL);
        mr_seg_close(jobs[k].s, false);
    }
    if (from > 0)
        t->active = jobs[from - 1].s->idx;
}

/* The end of the log: rows after the last marker were never committed. The newest
 * segment is truncated after its last marker; pending rows in older segments become
 * garbage and get an abort marker so that a later commit never adopts them. */
static int close_log(mr_table_t *t, scan_job_t *jobs, pending_t *pd, uint64_t last_valid_end, mr_error_t *err)
{
    int rc = 0;
    mr_segment_t *last = mr_seg_get(t, t->active);
    bool older_pending = pd->n > 0 && MR_LOC_SEG(jobs[pd->j].ents[pd->k].loc) != t->active;
    uint64_t size = atomic_load(&last->size);
    if (size > last_valid_end) {
        MR_WARN("engine", "table '%s': dropping %llu unacknowledged bytes at the end of '%s' (truncating to %llu)",
                t->name, (unsigned long long)(size - last_valid_end), last->path, (unsigned long long)last_valid_end);
        if (ftruncate(last->fd, (off_t)last_valid_end) != 0 || fdatasync(last->fd) != 0)
            rc = mr_err_set(err, MURR_EIO, "cannot truncate '%s' to %llu: %s", last->path,
                            (unsigned long long)last_valid_end, strerror(errno));
        atomic_store(&last->size, last_valid_end);
    }
    drop_pending(t, jobs, pd, pd->n, t->active);
    if (rc == 0 && older_pending) {
        mr_segment_t *seg;
        rc = mr_txn_append_marker(t, MR_REC_ABORT, 0, &seg, err);
        if (rc == 0 && fdatasync(seg->fd) != 0)
            rc = mr_err_set(err, MURR_EIO, "fdatasync of '%s' failed: %s", seg->path, strerror(errno));
    }
    return rc;
}

static void free_jobs(scan_job_t *jobs, size_t njobs)
{
    for (size_t k = 0; k < njobs; k++)
        mr_free(jobs[k].ents);
    mr_free(jobs);
}

int mr_table_recover(mr_table_t *t, mr_error_t *err)
{
    uint64_t *ids = NULL;
    size_t nids = 0, njobs = 0;
    MR_RETURN_NOT_OK(list_segments(t, &ids, &nids, err));
    if (nids > 0)
        t->next_file = ids[nids - 1] + 1;
    scan_job_t *jobs = mr_xcalloc(nids + 1, sizeof(scan_job_t));
    mr_error_t open_err = {0};
    int open_rc = open_segments(t, ids, nids, jobs, &njobs, &open_err);
    scan_all_t sa = {.t = t, .jobs = jobs, .njobs = njobs};
    double t0 = now_ms();
    run_parts(scan_part, &sa, njobs >= 2 ? recover_threads() : 1);
    double t1 = now_ms();
    /* phase 2, in log order; a segment that failed to open ends the log there (its error
     * is returned unless an earlier segment is corrupt) */
    pending_t pd = {0};
    uint64_t rows = 0;
    int rc = 0;
    for (size_t jx = 0; jx < njobs; jx++) {
        scan_job_t *jb = &jobs[jx];
        apply_markers(t, jobs, jx, &pd);
        if (jb->why != NULL && jb->file_pos + 1 < nids) {
            mark_damaged(t, "'%s' is corrupt at offset %llu: %s", jb->s->path, jb->bad_off, jb->why);
            close_after(t, jobs, jx + 1, njobs);
            free_jobs(jobs, njobs);
            mr_free(ids);
            return 0;
        }
        if (jb->why != NULL)
            MR_WARN("engine", "table '%s': %s in '%s' at offset %llu: the tail was never acknowledged", t->name,
                    jb->why, jb->s->path, (unsigned long long)jb->bad_off);
    }
    if (open_rc != 0) {
        mr_err_copy(err, &open_err);
        rc = open_rc;
    } else if (njobs > 0) {
        rc = close_log(t, jobs, &pd, jobs[njobs - 1].valid_end, err);
    }
    rows = pd.rows;
    double t2 = now_ms();
    if (rc == 0 && apply_rows(t, jobs, njobs, rows) != 0)
        rc = mr_err_set(err, MURR_ENOMEM, "out of memory rebuilding the key directory of '%s' (%llu rows)", t->name,
                        (unsigned long long)rows);
    MR_INFO("engine", "table '%s': recovered %llu rows from %zu segment files: scan %.0f ms, log %.0f ms, "
             "key directory %.0f ms", t->name, (unsigned long long)rows, njobs, t1 - t0, t2 - t1, now_ms() - t2);
    free_jobs(jobs, njobs);
    mr_free(ids);
    return rc;
}
