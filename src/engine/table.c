/* table.c - row layout, segments, key directory probing, write, batched read, recovery and
 * compaction of one table. Format and concurrency rules: table.h. Workload: reads of ~1,000
 * keys x all columns in tens of microseconds (three passes with prefetch so DRAM misses
 * overlap), bulk upserts of 10K-10M rows. */
#include "engine/table.h"

/* GCC 12 at -O3 reports atomic loads from mr_segment_t (a struct ending in a flexible array
 * member) as "writing 8 bytes into a region of size 0": a false positive of its object-size
 * tracking on the generic __atomic_load temporary, not an overflow (ASan/UBSan runs agree). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include "core/alloc.h"
#include "core/fs.h"
#include "core/hash.h"
#include "core/log.h"
#include "engine/epoch.h"
#include "engine/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ layout ---------- */

static void layout_init(mr_table_t *t)
{
    const mr_schema_t *s = t->schema;
    t->ncols = s->num_columns - s->num_keys;
    mr_key_codec_init(&t->key, s);
    t->cols = mr_xcalloc((size_t)(t->ncols ? t->ncols : 1), sizeof(mr_col_layout_t));
    t->col_of_schema = mr_xcalloc((size_t)s->num_columns, sizeof(int32_t));
    uint32_t off = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < s->num_columns; i++) {
        if (s->columns[i].key) {
            t->col_of_schema[i] = -1;
            continue;
        }
        murr_dtype dt = s->columns[i].dtype;
        uint32_t w = dt == MURR_BOOL ? 1 : (uint32_t)mr_dtype_width(dt);
        t->cols[k] = (mr_col_layout_t){.schema_index = i, .dtype = dt, .slot = off, .width = w};
        t->col_of_schema[i] = k++;
        off += w;
    }
    t->bitmap_bytes = (uint32_t)mr_bitmap_bytes(t->ncols);
    t->fixed_bytes = off;
}

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static int damaged_error(const mr_table_t *t, const char *what, mr_error_t *err)
{
    return mr_err_set(err, MURR_EBUSY, "table '%s' is damaged and refuses %s: %s", t->name, what, t->damage);
}

int mr_table_status(mr_store_t *s, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)s;
    return t->damaged ? damaged_error(t, "reads and writes", err) : 0;
}

/* ---------------------------------------------------------------- segments ---------- */

static mr_segment_t *seg_get(mr_table_t *t, uint32_t id)
{
    if (id == 0 || id >= MR_TABLE_MAX_SEGMENTS)
        return NULL;
    return atomic_load_explicit(&t->segs[id], memory_order_acquire);
}

/* Files are named and removed relative to the table's directory descriptor: a dropped
 * table's directory is moved aside while retired segments may still be closing, and a
 * table re-created under the old path must never lose a file to them. */
static void seg_close(mr_segment_t *s, bool unlink_file)
{
    if (s == NULL)
        return;
    if (s->map)
        munmap(s->map, s->map_len);
    if (s->fd >= 0)
        close(s->fd);
    if (unlink_file) {
        char name[32];
        snprintf(name, sizeof(name), "%08llu.seg", (unsigned long long)s->seq);
        unlinkat(s->dirfd, name, 0);
    }
    mr_free(s);
}

/* A compacted segment goes once no reader can hold a location in it; its index is free
 * for reuse from then on. The retirement holds a reference on the table. */
static void seg_retire_cb(void *p)
{
    mr_segment_t *s = p;
    mr_table_t *t = s->table;
    atomic_store_explicit(&t->segs[s->idx], NULL, memory_order_release);
    seg_close(s, true);
    mr_store_unref(&t->base);
}

static void seg_retire(mr_table_t *t, mr_segment_t *s)
{
    atomic_store(&s->retired, true);
    mr_store_ref(&t->base);
    mr_epoch_retire(seg_retire_cb, s);
}

/* A free index for a new segment (0: all MR_TABLE_MAX_SEGMENTS - 1 are live). Writer. */
static uint32_t seg_free_index(mr_table_t *t)
{
    for (uint32_t i = 1; i < MR_TABLE_MAX_SEGMENTS; i++)
        if (atomic_load_explicit(&t->segs[i], memory_order_acquire) == NULL)
            return i;
    return 0;
}

static int seg_open(mr_table_t *t, uint64_t seq, uint32_t idx, bool create, size_t min_map, mr_segment_t **out,
                    mr_error_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%08llu.seg", t->dir, (unsigned long long)seq);
    int fd = openat(t->dirfd, strrchr(path, '/') + 1, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (fd < 0)
        return mr_err_set(err, MURR_EIO, "cannot %s segment '%s': %s", create ? "create" : "open", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mr_err_set(err, MURR_EIO, "cannot stat '%s': %s", path, strerror(e));
    }
    size_t map_len = t->opts->segment_max_bytes;
    if ((size_t)st.st_size > map_len)
        map_len = (size_t)st.st_size;
    if (min_map > map_len)
        map_len = min_map;
    map_len = (map_len + 4095) & ~(size_t)4095;
    void *m = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        return mr_err_set(err, MURR_EIO, "cannot map '%s' (%zu bytes): %s", path, map_len, strerror(e));
    }
    madvise(m, map_len, MADV_RANDOM);
    mr_segment_t *s = mr_xcalloc(1, sizeof(*s) + strlen(path) + 1);
    s->idx = idx;
    s->seq = seq;
    s->table = t;
    s->fd = fd;
    s->map = m;
    s->map_len = map_len;
    atomic_store(&s->size, (uint64_t)st.st_size);
    strcpy(s->path, path);
    s->dirfd = t->dirfd;
    if (create)
        fsync(t->dirfd);
    *out = s;
    return 0;
}

/* Starts a new active segment (the next file of the log) able to take `need` bytes. */
static int seg_roll(mr_table_t *t, size_t need, mr_error_t *err)
{
    uint32_t idx = seg_free_index(t);
    if (idx == 0)
        return mr_err_set(err, MURR_ETOOBIG,
                          "table '%s' has %d live segment files, the most one table can hold (%llu bytes each at most); "
                          "compact it or raise storage.segment_max_bytes",
                          t->name, MR_TABLE_MAX_SEGMENTS - 1, (unsigned long long)t->opts->segment_max_bytes);
    mr_segment_t *s;
    MR_RETURN_NOT_OK(seg_open(t, t->next_file, idx, true, need, &s, err));
    t->next_file++;
    atomic_store_explicit(&t->segs[idx], s, memory_order_release);
    t->active = idx;
    return 0;
}

/* Makes the active segment able to take `need` more bytes. Writer only. */
static int ensure_room(mr_table_t *t, size_t need, mr_error_t *err)
{
    mr_segment_t *a = seg_get(t, t->active);
    if (a && atomic_load(&a->size) + need <= a->map_len &&
        (atomic_load(&a->size) == 0 || atomic_load(&a->size) + need <= t->opts->segment_max_bytes))
        return 0;
    return seg_roll(t, need, err);
}

static int write_full(int fd, const uint8_t *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

/* ------------------------------------------------------------ key directory ---------- */

static bool rec_key_eq(const uint8_t *rec, const char *key, size_t len)
{
    return rd16(rec + 8) == len && memcmp(rec + MR_REC_HEADER, key, len) == 0;
}

static const uint8_t *rec_at(mr_table_t *t, uint64_t loc)
{
    mr_segment_t *s = seg_get(t, MR_LOC_SEG(loc));
    if (s == NULL)
        return NULL;
    return s->map + MR_LOC_OFF(loc);
}

/* Finds the slot of key (writer side, or recovery). Returns the slot or NULL; *empty gets
 * the first empty slot on the probe path. */
static mr_kd_slot_t *kd_find(mr_table_t *t, mr_kd_table_t *kd, uint64_t h, const char *key, size_t len,
                             mr_kd_slot_t **empty)
{
    uint64_t i = h & kd->mask;
    for (;;) {
        mr_kd_slot_t *s = &kd->slots[i];
        uint64_t sh = atomic_load_explicit(&s->hash, memory_order_relaxed);
        if (sh == 0) {
            *empty = s;
            return NULL;
        }
        if (sh == h) {
            const uint8_t *rec = rec_at(t, atomic_load_explicit(&s->loc, memory_order_relaxed));
            if (rec && rec_key_eq(rec, key, len))
                return s;
        }
        i = (i + 1) & kd->mask;
    }
}

static int kd_grow_to(mr_table_t *t, mr_kd_table_t *old, uint64_t cap)
{
    mr_kd_table_t *n = mr_kd_table_new(cap);
    if (n == NULL)
        return MURR_ENOMEM;
    for (uint64_t i = 0; i <= old->mask; i++) {
        uint64_t h = atomic_load_explicit(&old->slots[i].hash, memory_order_relaxed);
        if (h == 0)
            continue;
        uint64_t j = h & n->mask;
        while (atomic_load_explicit(&n->slots[j].hash, memory_order_relaxed) != 0)
            j = (j + 1) & n->mask;
        atomic_store_explicit(&n->slots[j].loc, atomic_load(&old->slots[i].loc), memory_order_relaxed);
        atomic_store_explicit(&n->slots[j].hash, h, memory_order_relaxed);
    }
    atomic_store_explicit(&n->count, atomic_load_explicit(&old->count, memory_order_relaxed), memory_order_relaxed);
    atomic_store_explicit(&t->kd, n, memory_order_release);
    mr_epoch_retire(mr_kd_table_free, old);
    return 0;
}

static int kd_grow(mr_table_t *t, mr_kd_table_t *old) { return kd_grow_to(t, old, (old->mask + 1) * 2); }

/* Grows the directory now so that n more keys fit without growing (load <= 75%). */
static int kd_reserve(mr_table_t *t, uint64_t n)
{
    mr_kd_table_t *kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    uint64_t want = atomic_load_explicit(&kd->count, memory_order_relaxed) + n + 1, cap = kd->mask + 1;
    while (want * 4 > cap * 3)
        cap *= 2;
    return cap == kd->mask + 1 ? 0 : kd_grow_to(t, kd, cap);
}

static bool loc_key_eq(void *ctx, uint64_t loc, const char *key, size_t len)
{
    const uint8_t *rec = rec_at(ctx, loc);
    return rec != NULL && rec_key_eq(rec, key, len);
}

/* Publishes key -> loc; the superseded record (if any) becomes garbage. With an undo map
 * (a commit while readers may hold an older snapshot), the key's previous location is
 * recorded before its slot changes. Writer only. */
static int kd_put(mr_table_t *t, const char *key, size_t len, uint64_t loc, mr_undo_t *u)
{
    mr_kd_table_t *kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    if ((atomic_load_explicit(&kd->count, memory_order_relaxed) + 1) * 4 > (kd->mask + 1) * 3) {
        MR_RETURN_NOT_OK(kd_grow(t, kd));
        kd = atomic_load_explicit(&t->kd, memory_order_relaxed);
    }
    uint64_t h = mr_kd_fix_hash(mr_hash64(key, len));
    mr_kd_slot_t *empty = NULL;
    mr_kd_slot_t *s = kd_find(t, kd, h, key, len, &empty);
    if (s) {
        uint64_t old = atomic_load_explicit(&s->loc, memory_order_relaxed);
        if (u)
            mr_undo_record(u, h, key, len, loc, old, loc_key_eq, t);
        mr_segment_t *os = seg_get(t, MR_LOC_SEG(old));
        if (os)
            atomic_fetch_add_explicit(&os->garbage, rd32(os->map + MR_LOC_OFF(old) + 4), memory_order_relaxed);
        atomic_store_explicit(&s->loc, loc, memory_order_release);
    } else {
        if (u)
            mr_undo_record(u, h, key, len, loc, 0, loc_key_eq, t);
        atomic_store_explicit(&empty->loc, loc, memory_order_release);
        atomic_store_explicit(&empty->hash, h, memory_order_release);
        atomic_fetch_add_explicit(&kd->count, 1, memory_order_relaxed);
    }
    return 0;
}

/* ----------------------------------------------------------------- write ------------ */

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
        if (c->dtype != cs->dtype) {
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
    size_t n = MR_REC_HEADER + klen + t->bitmap_bytes + t->fixed_bytes;
    for (int32_t k = 0; k < t->ncols; k++) {
        if (t->cols[k].dtype != MURR_UTF8)
            continue;
        const mr_column_t *c = &cols[t->cols[k].schema_index];
        if (murr_column_is_valid(c, r)) {
            size_t l;
            mr_column_str(c, r, &l);
            n += 4 + l;
        }
    }
    return (n + 7) & ~(size_t)7;
}

/* Encodes row r into p (rec_len bytes, zeroed by the caller). */
static void encode_row(mr_table_t *t, mr_column_t *cols, int64_t r, uint8_t *p, uint32_t rec_len)
{
    size_t klen = mr_key_encode(&t->key, cols, r, p + MR_REC_HEADER);
    uint16_t kl = (uint16_t)klen, kind = MR_REC_ROW;
    memcpy(p + 4, &rec_len, 4);
    memcpy(p + 8, &kl, 2);
    memcpy(p + 10, &kind, 2);
    uint8_t *bm = p + MR_REC_HEADER + klen;
    uint8_t *fixed = bm + t->bitmap_bytes;
    uint32_t tail = (uint32_t)(fixed + t->fixed_bytes - p);
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
            uint32_t l32 = (uint32_t)l;
            memcpy(slot, &tail, 4);
            memcpy(p + tail, &l32, 4);
            memcpy(p + tail + 4, sv, l);
            tail += 4 + l32;
        } else if (L->dtype == MURR_BOOL) {
            *slot = mr_bit_get(c->values, r);
        } else {
            memcpy(slot, (const uint8_t *)c->values + (size_t)r * L->width, L->width);
        }
    }
    uint32_t crc = mr_crc32c(0, p + 4, rec_len - 4);
    memcpy(p, &crc, 4);
}

static void encode_commit(uint8_t *p, uint64_t seq, uint32_t count)
{
    uint32_t len = 32;
    uint16_t kl = 0, kind = MR_REC_COMMIT;
    memset(p, 0, 32);
    memcpy(p + 4, &len, 4);
    memcpy(p + 8, &kl, 2);
    memcpy(p + 10, &kind, 2);
    memcpy(p + 16, &seq, 8);
    memcpy(p + 24, &count, 4);
    uint32_t crc = mr_crc32c(0, p + 4, 28);
    memcpy(p, &crc, 4);
}

/* A write transaction: holds the table's writer lock from begin to commit/abort. Appended
 * rows go to the segment files at once (possibly across a segment roll) but are published
 * to the key directory only at commit, after the commit record is durable. An abort (or a
 * crash) leaves them as garbage; an abort record makes sure a later commit never adopts
 * them on recovery. */
typedef struct mr_txn {
    mr_store_txn_t base;
    mr_table_t *t;
    uint64_t *locs;
    size_t nlocs, cap;
    uint64_t first_seq; /* the first segment file this transaction appended to (0: none) */
    uint64_t bytes;     /* row bytes appended */
    bool failed;        /* an append failed part-way: only abort is possible */
} mr_txn_t;

void mr_table_seal(mr_store_t *s)
{
    atomic_store(&((mr_table_t *)s)->sealed, true);
}

/* A sealed table takes no new transaction: checked under the writer lock, so a writer
 * that looked the store up before it was sealed either finished first or finds it here. */
static int sealed_error(const mr_table_t *t, mr_error_t *err)
{
    return mr_err_set(err, MURR_EAGAIN, "table '%s': this version no longer takes writes", t->name);
}

int mr_table_txn_begin(mr_store_t *st, mr_store_txn_t **out, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)st;
    *out = NULL;
    pthread_mutex_lock(&t->wlock);
    if (t->damaged) {
        pthread_mutex_unlock(&t->wlock);
        return damaged_error(t, "writes", err);
    }
    if (atomic_load(&t->sealed)) {
        pthread_mutex_unlock(&t->wlock);
        return sealed_error(t, err);
    }
    mr_txn_t *x = mr_xcalloc(1, sizeof(*x));
    x->base.ops = t->base.ops;
    x->t = t;
    *out = &x->base;
    return 0;
}

/* Appends bytes at the end of the active segment (rolling first if needed); *seg_out and
 * *base_out say where they landed. */
static int append_bytes(mr_table_t *t, const uint8_t *buf, size_t len, mr_segment_t **seg_out, uint64_t *base_out,
                        mr_error_t *err)
{
    MR_RETURN_NOT_OK(ensure_room(t, len, err));
    mr_segment_t *seg = seg_get(t, t->active);
    if (seg == NULL)
        return mr_err_set(err, MURR_EINTERNAL, "table '%s': active segment %u is missing", t->name, t->active);
    uint64_t base = atomic_load(&seg->size);
    if (write_full(seg->fd, buf, len, (off_t)base) != 0) {
        int e = errno;
        int rc = e == ENOSPC || e == EDQUOT
                     ? mr_err_set(err, MURR_ENOSPC,
                                  "no space left on the storage device: cannot write %zu bytes to '%s' at offset %llu "
                                  "(%s); the write is not applied",
                                  len, seg->path, (unsigned long long)base, strerror(e))
                     : mr_err_set(err, MURR_EIO, "cannot write %zu bytes to '%s' at offset %llu: %s", len, seg->path,
                                  (unsigned long long)base, strerror(e));
        if (ftruncate(seg->fd, (off_t)base) != 0) /* drop a partial record */
            MR_ERROR("engine", "cannot truncate '%s' back to %llu: %s", seg->path, (unsigned long long)base,
                     strerror(errno));
        return rc;
    }
    atomic_store(&seg->size, base + len);
    *seg_out = seg;
    *base_out = base;
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
    uint64_t rows = 0;
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
            total += row_size(t, bc, r, mr_key_encoded_len(&t->key, bc, r));
        }
        rows += (uint64_t)batches[bi]->num_rows;
    }
    if (rows == 0)
        goto out;
    if (x->nlocs + rows > UINT32_MAX || total > (1ull << 40)) {
        rc = mr_err_set(err, MURR_ETOOBIG, "write of %llu rows (%zu bytes) exceeds the per-request limit",
                        (unsigned long long)(x->nlocs + rows), total);
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
            encode_row(t, bc, r, buf + off, len);
            rel[ri++] = off;
            off += len;
        }
    }
    /* 3. append (durability comes with the commit) */
    mr_segment_t *seg = NULL;
    uint64_t base = 0;
    rc = append_bytes(t, buf, total, &seg, &base, err);
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

/* Writes a 32-byte marker record (commit or abort) at the end of the log. */
static int append_marker(mr_table_t *t, uint16_t kind, uint32_t count, mr_segment_t **seg, mr_error_t *err)
{
    uint8_t rec[32];
    *seg = NULL;
    encode_commit(rec, t->next_seq, count);
    if (kind != MR_REC_COMMIT) {
        memcpy(rec + 10, &kind, 2);
        uint32_t crc = mr_crc32c(0, rec + 4, 28);
        memcpy(rec, &crc, 4);
    }
    uint64_t base;
    MR_RETURN_NOT_OK(append_bytes(t, rec, 32, seg, &base, err));
    atomic_fetch_add(&(*seg)->garbage, 32); /* markers are never live */
    return 0;
}

/* Every appended row becomes garbage (an abort, or rows that never got published). */
static void rows_to_garbage(mr_table_t *t, const uint64_t *locs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mr_segment_t *s = seg_get(t, MR_LOC_SEG(locs[i]));
        if (s)
            atomic_fetch_add(&s->garbage, rd32(s->map + MR_LOC_OFF(locs[i]) + 4));
    }
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
    int rc = kd_reserve(t, x->nlocs);
    if (rc == 0 && !snap->empty && (undo = mr_undo_new(x->nlocs)) == NULL)
        rc = MURR_ENOMEM;
    if (rc != 0) {
        mr_table_txn_abort(xb);
        return mr_err_set(err, MURR_ENOMEM, "out of memory publishing %zu rows into '%s'; the write is not applied",
                          x->nlocs, t->name);
    }
    mr_segment_t *seg;
    rc = append_marker(t, MR_REC_COMMIT, (uint32_t)x->nlocs, &seg, err);
    if (rc == 0 && t->opts->sync_writes) {
        for (uint32_t idx = 1; idx < MR_TABLE_MAX_SEGMENTS && rc == 0; idx++) {
            mr_segment_t *s = seg_get(t, idx);
            if (s && s->seq >= x->first_seq && !atomic_load(&s->retired) && fdatasync(s->fd) != 0)
                rc = mr_err_set(err, errno == ENOSPC || errno == EDQUOT ? MURR_ENOSPC : MURR_EIO,
                                "fdatasync of '%s' failed: %s; the write is not applied", s->path, strerror(errno));
        }
    }
    if (rc != 0) {
        /* not durable: the rows must not become visible; a marker keeps recovery from
         * committing them with a later batch */
        rows_to_garbage(t, x->locs, x->nlocs);
        mr_error_t e2 = {0};
        append_marker(t, 2, (uint32_t)x->nlocs, &seg, &e2);
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
        const uint8_t *rec = rec_at(t, x->locs[i]);
        kd_put(t, (const char *)rec + MR_REC_HEADER, rd16(rec + 8), x->locs[i], undo); /* reserved: cannot fail */
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
        rows_to_garbage(t, x->locs, x->nlocs);
        mr_segment_t *seg;
        mr_error_t e = {0};
        if (append_marker(t, 2, (uint32_t)x->nlocs, &seg, &e) != 0)
            MR_ERROR("engine", "table '%s': cannot write an abort marker: %s", t->name, e.message);
        t->next_seq++;
    }
    txn_free(x);
}

/* ------------------------------------------------------------------ read ------------ */

#define READ_CHUNK 64

/* Copies column c of the found records into col (rows = nrecs; NULL records are misses). */
static void copy_column(mr_table_t *t, const mr_col_layout_t *L, int32_t k, const uint8_t *const *recs, size_t nrecs,
                        mr_column_t *col)
{
    int32_t *offs = col->dtype == MURR_UTF8 ? col->values : NULL;
    int32_t doff = 0;
    for (size_t i = 0; i < nrecs; i++) {
        const uint8_t *rec = recs[i];
        const uint8_t *bm = rec ? rec + MR_REC_HEADER + rd16(rec + 8) : NULL;
        if (rec == NULL || !mr_bit_get(bm, k)) {
            mr_bit_clear(col->validity, (int64_t)i);
            if (offs)
                offs[i + 1] = doff;
            continue;
        }
        const uint8_t *slot = bm + t->bitmap_bytes + L->slot;
        switch (L->dtype) {
        case MURR_UTF8: {
            const uint8_t *te = rec + rd32(slot);
            uint32_t l = rd32(te);
            memcpy(col->data + doff, te + 4, l);
            doff += (int32_t)l;
            offs[i + 1] = doff;
            break;
        }
        case MURR_BOOL:
            if (*slot)
                mr_bit_set(col->values, (int64_t)i);
            break;
        case MURR_INT8: case MURR_UINT8:
            ((uint8_t *)col->values)[i] = *slot;
            break;
        case MURR_INT16: case MURR_UINT16:
            memcpy((uint8_t *)col->values + i * 2, slot, 2);
            break;
        case MURR_INT32: case MURR_UINT32: case MURR_FLOAT32:
            memcpy((uint8_t *)col->values + i * 4, slot, 4);
            break;
        default:
            memcpy((uint8_t *)col->values + i * 8, slot, 8);
            break;
        }
    }
    mr_column_normalize_nulls(col, (int64_t)nrecs);
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
        return damaged_error(t, "reads", err);
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
    /* Pass 1: hash every key, prefetch its first slot. */
    for (size_t i = 0; i < nprobe; i++) {
        hashes[i] = mr_kd_fix_hash(mr_hash64(keys[i], key_lens[i]));
        __builtin_prefetch(&kd->slots[hashes[i] & kd->mask]);
    }
    /* Pass 2: probe; on a fingerprint match prefetch the record and compare the key. */
    for (size_t i = 0; i < nprobe; i++) {
        uint64_t h = hashes[i], j = h & kd->mask;
        recs[i] = NULL;
        for (;;) {
            mr_kd_slot_t *s = &kd->slots[j];
            uint64_t sh = atomic_load_explicit(&s->hash, memory_order_acquire);
            if (sh == 0)
                break;
            if (sh == h) {
                uint64_t loc = atomic_load_explicit(&s->loc, memory_order_acquire);
                const uint8_t *rec = loc ? rec_at(t, loc) : NULL;
                if (rec) {
                    __builtin_prefetch(rec);
                    __builtin_prefetch(rec + 64);
                    if (rec_key_eq(rec, keys[i], key_lens[i])) {
                        recs[i] = rec;
                        break;
                    }
                }
            }
            j = (j + 1) & kd->mask;
        }
    }
    /* A commit after our snapshot started publishing: take each key as of the snapshot. */
    if (nprobe && atomic_load_explicit(&snap->undo, memory_order_acquire) != NULL)
        for (size_t i = 0; i < nprobe; i++) {
            if (recs[i] == NULL)
                continue; /* keys are never removed: missing now, missing at the snapshot */
            uint64_t loc = mr_snap_resolve(snap, hashes[i], keys[i], key_lens[i], UINT64_MAX, loc_key_eq, t);
            if (loc != UINT64_MAX)
                recs[i] = loc ? rec_at(t, loc) : NULL;
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
    /* Pass 3: copy the requested columns, column by column (records are now cached). */
    for (size_t c = 0; c < ncolumns && rc == 0; c++) {
        const mr_col_layout_t *L = &t->cols[sel[c]];
        const mr_column_schema_t *cs = &t->schema->columns[L->schema_index];
        int32_t oc = (int32_t)c + lead;
        mr_batch_set_name(b, oc, cs->name, cs->name_len);
        int64_t data_len = 0;
        if (L->dtype == MURR_UTF8) {
            for (size_t i = 0; i < nrows; i++) {
                const uint8_t *rec = recs[i];
                if (rec == NULL)
                    continue;
                const uint8_t *bm = rec + MR_REC_HEADER + rd16(rec + 8);
                if (mr_bit_get(bm, sel[c]))
                    data_len += rd32(rec + rd32(bm + t->bitmap_bytes + L->slot));
            }
            if (data_len > INT32_MAX) {
                rc = mr_err_set(err, MURR_ETOOBIG, "column '%s': %lld bytes of strings exceed the 2 GiB limit of one answer",
                                cs->name, (long long)data_len);
                break;
            }
        }
        if (mr_batch_column_alloc(b, oc, L->dtype, true, data_len) != 0) {
            rc = mr_err_set(err, MURR_ENOMEM, "cannot allocate column '%s' for %zu keys", cs->name, nrows);
            break;
        }
        copy_column(t, L, sel[c], recs, nrows, &b->columns[oc]);
    }
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

/* --------------------------------------------------------------- recovery ----------- */

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
    while (off < size) {
        const uint8_t *p = s->map + off;
        if (size - off < 16) {
            *why = "truncated record header";
            break;
        }
        uint32_t len = rd32(p + 4);
        if (len < 16 || (len & 7) || len > size - off) {
            *why = len > size - off ? "record runs past the end of the file" : "invalid record length";
            break;
        }
        if (mr_crc32c(0, p + 4, len - 4) != rd32(p)) {
            *why = "checksum mismatch";
            break;
        }
        uint16_t klen = rd16(p + 8), kind = rd16(p + 10);
        if (kind == MR_REC_COMMIT || kind == MR_REC_ABORT) {
            uint64_t seq;
            memcpy(&seq, p + 16, 8);
            if (seq >= t->next_seq)
                t->next_seq = seq + 1;
            uint32_t count;
            memcpy(&count, p + 24, 4);
            size_t pending = out->n - *batch_start;
            if (kind == MR_REC_ABORT) {
                rows_to_garbage(t, out->v + *batch_start, pending);
                out->n = *batch_start;
            } else if (count < pending) {
                /* rows of a write that failed without its abort marker (e.g. the disk was
                 * full) precede this commit's own `count` rows: they were never acknowledged */
                size_t orphans = pending - count;
                rows_to_garbage(t, out->v + *batch_start, orphans);
                memmove(out->v + *batch_start, out->v + *batch_start + orphans, count * sizeof(uint64_t));
                out->n -= orphans;
            }
            *batch_start = out->n;
            atomic_fetch_add(&s->garbage, len);
            off += len;
            *valid_end = off;
            continue;
        }
        if (kind != MR_REC_ROW || MR_REC_HEADER + (size_t)klen + t->bitmap_bytes + t->fixed_bytes > len) {
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
            const uint8_t *r = rec_at(t, lv->v[i + PREFETCH]);
            uint64_t h = mr_kd_fix_hash(mr_hash64(r + MR_REC_HEADER, rd16(r + 8)));
            __builtin_prefetch(&kd->slots[h & kd->mask]);
        }
        const uint8_t *rec = rec_at(t, lv->v[i]);
        MR_RETURN_NOT_OK(kd_put(t, (const char *)rec + MR_REC_HEADER, rd16(rec + 8), lv->v[i], NULL));
    }
    return 0;
}

static void mark_damaged(mr_table_t *t, const char *fmt, const char *path, uint64_t off, const char *why)
{
    t->damaged = true;
    snprintf(t->damage, sizeof(t->damage), fmt, path, (unsigned long long)off, why);
    MR_ERROR("engine", "table '%s' refuses to open: %s", t->name, t->damage);
}

static int recover(mr_table_t *t, mr_error_t *err)
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
    for (size_t i = 0; i < nids && rc == 0; i++) {
        mr_segment_t *s;
        uint32_t idx = (uint32_t)i + 1;
        rc = seg_open(t, ids[i], idx, false, 0, &s, err);
        if (rc != 0)
            break;
        atomic_store(&t->segs[idx], s);
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
        mr_segment_t *last = seg_get(t, t->active);
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
                rows_to_garbage(t, &lv.v[k], 1);
        lv.n = kept;
        if (rc == 0 && older_pending) {
            /* a later commit must never adopt them: close them with an abort marker */
            mr_segment_t *seg;
            rc = append_marker(t, MR_REC_ABORT, 0, &seg, err);
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

/* ------------------------------------------------------------ lifecycle ------------- */

static mr_table_t *table_alloc(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts)
{
    mr_table_t *t = mr_xcalloc(1, sizeof(*t));
    mr_store_init(&t->base, &mr_native_store_ops);
    t->name = mr_xstrdup(name);
    t->dir = mr_xstrdup(dir);
    t->dirfd = -1;
    t->schema = mr_schema_clone(schema);
    t->opts = opts;
    t->next_seq = 1;
    t->next_file = 1;
    pthread_mutex_init(&t->wlock, NULL);
    layout_init(t);
    return t;
}

static int table_open_dir(mr_table_t *t, mr_error_t *err)
{
    t->dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->dirfd < 0)
        return mr_err_set(err, MURR_EIO, "cannot open table directory '%s': %s", t->dir, strerror(errno));
    return 0;
}

static int table_init_kd(mr_table_t *t, mr_error_t *err)
{
    mr_kd_table_t *kd = mr_kd_table_new(1024);
    if (kd == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate a key directory");
    atomic_store(&t->kd, kd);
    atomic_store(&t->snap, mr_snap_new(true));
    return 0;
}

int mr_table_create(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts,
                    mr_store_t **out, mr_error_t *err)
{
    mr_table_t *t = table_alloc(dir, name, schema, opts);
    int rc = mr_fs_remove_tree(t->dir, err); /* leftovers of a dropped table never resurface */
    if (rc == 0)
        rc = mr_fs_mkdir_p(t->dir, err);
    if (rc == 0)
        rc = table_open_dir(t, err);
    if (rc == 0)
        rc = table_init_kd(t, err);
    if (rc != 0) {
        mr_table_destroy(&t->base, false);
        return rc;
    }
    *out = &t->base;
    return 0;
}

int mr_table_open(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts,
                  mr_store_t **out, mr_error_t *err)
{
    mr_table_t *t = table_alloc(dir, name, schema, opts);
    int rc = mr_fs_mkdir_p(t->dir, err);
    if (rc == 0)
        rc = table_open_dir(t, err);
    if (rc == 0)
        rc = table_init_kd(t, err);
    if (rc == 0)
        rc = recover(t, err);
    if (rc == 0 && atomic_load(&atomic_load(&t->kd)->count) > 0) {
        mr_snap_retire_cb(atomic_load(&t->snap)); /* no reader yet */
        atomic_store(&t->snap, mr_snap_new(false));
    }
    if (rc != 0) {
        mr_table_destroy(&t->base, false);
        return rc;
    }
    *out = &t->base;
    return 0;
}

static bool is_segment_name(const char *n)
{
    size_t l = strlen(n);
    return l > 4 && strcmp(n + l - 4, ".seg") == 0;
}

int mr_table_remove_files(const char *dir, mr_error_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : mr_err_set(err, MURR_EIO, "cannot open '%s': %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!is_segment_name(de->d_name))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT && rc == 0)
            rc = mr_err_set(err, MURR_EIO, "cannot remove '%s': %s", path, strerror(errno));
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
        rc = mr_err_set(err, MURR_EIO, "cannot remove '%s': %s", dir, strerror(errno));
    return rc;
}

void mr_table_destroy(mr_store_t *st, bool remove_files)
{
    mr_table_t *t = (mr_table_t *)st;
    if (t == NULL)
        return;
    for (uint32_t i = 0; i < MR_TABLE_MAX_SEGMENTS; i++)
        seg_close(atomic_load(&t->segs[i]), remove_files);
    mr_kd_table_free(atomic_load(&t->kd));
    if (atomic_load(&t->snap))
        mr_snap_retire_cb(atomic_load(&t->snap));
    if (t->dirfd >= 0)
        close(t->dirfd);
    pthread_mutex_destroy(&t->wlock);
    mr_schema_free(t->schema);
    mr_free(t->cols);
    mr_free(t->col_of_schema);
    mr_key_codec_deinit(&t->key);
    mr_free(t->name);
    mr_free(t->dir);
    mr_free(t);
}

/* -------------------------------------------------------------- compaction ---------- */

/* Copies the live records of segment s into the active segment and re-points them.
 * Writer lock held. */
static int compact_segment_locked(mr_table_t *t, mr_segment_t *s, mr_error_t *err)
{
    uint64_t size = atomic_load(&s->size), off = 0;
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
        uint32_t len = rd32(p + 4);
        if (rd16(p + 10) == MR_REC_ROW) {
            uint16_t klen = rd16(p + 8);
            uint64_t h = mr_kd_fix_hash(mr_hash64(p + MR_REC_HEADER, klen));
            mr_kd_slot_t *empty;
            mr_kd_slot_t *slot = kd_find(t, kd, h, (const char *)p + MR_REC_HEADER, klen, &empty);
            uint64_t loc = MR_LOC_MAKE(s->idx, off);
            if (slot && atomic_load(&slot->loc) == loc) {
                if (nmv == cap) {
                    cap = cap ? cap * 2 : 1024;
                    mv = mr_xrealloc(mv, cap * sizeof(*mv));
                }
                mv[nmv++] = (moved_t){loc, buf.len};
                if (mr_buf_append(&buf, p, len) != 0) {
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
        uint8_t commit[32];
        encode_commit(commit, t->next_seq++, (uint32_t)nmv);
        rc = mr_buf_append(&buf, commit, 32);
        if (rc == 0)
            rc = ensure_room(t, buf.len, err);
        mr_segment_t *a = rc == 0 ? seg_get(t, t->active) : NULL;
        if (rc == 0 && a == NULL)
            rc = mr_err_set(err, MURR_EINTERNAL, "table '%s': active segment %u is missing", t->name, t->active);
        if (rc == 0) {
            uint64_t base = atomic_load(&a->size);
            if (write_full(a->fd, buf.data, buf.len, (off_t)base) != 0 || fdatasync(a->fd) != 0) {
                rc = mr_err_set(err, errno == ENOSPC || errno == EDQUOT ? MURR_ENOSPC : MURR_EIO,
                                "compaction cannot write %zu bytes to '%s': %s", buf.len, a->path, strerror(errno));
                if (ftruncate(a->fd, (off_t)base) != 0)
                    MR_ERROR("engine", "cannot truncate '%s': %s", a->path, strerror(errno));
            } else {
                atomic_store(&a->size, base + buf.len);
                atomic_fetch_add(&a->garbage, 32);
                for (size_t i = 0; i < nmv; i++) {
                    const uint8_t *p = s->map + MR_LOC_OFF(mv[i].old_loc);
                    uint16_t klen = rd16(p + 8);
                    uint64_t h = mr_kd_fix_hash(mr_hash64(p + MR_REC_HEADER, klen));
                    mr_kd_slot_t *empty;
                    mr_kd_slot_t *slot = kd_find(t, kd, h, (const char *)p + MR_REC_HEADER, klen, &empty);
                    uint64_t expect = mv[i].old_loc;
                    /* CAS: a newer location (a write that raced in) wins */
                    if (slot)
                        atomic_compare_exchange_strong(&slot->loc, &expect, MR_LOC_MAKE(a->idx, base + mv[i].new_off));
                }
            }
        }
    }
    mr_free(mv);
    mr_buf_deinit(&buf);
    if (rc != 0)
        return rc;
    seg_retire(t, s);
    return 0;
}

int mr_table_compact(mr_store_t *st, double min_ratio, bool force, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)st;
    if (t->damaged)
        return damaged_error(t, "compaction", err);
    pthread_mutex_lock(&t->wlock);
    if (atomic_load(&t->sealed)) {
        pthread_mutex_unlock(&t->wlock);
        return sealed_error(t, err);
    }
    int rc = 0;
    mr_segment_t *a = seg_get(t, t->active);
    if (force && a && atomic_load(&a->garbage) > 0 && seg_free_index(t) != 0)
        rc = seg_roll(t, 0, err);
    uint64_t below = t->next_file - 1; /* sealed segments: files before the active one */
    bool did = false;
    for (uint32_t idx = 1; idx < MR_TABLE_MAX_SEGMENTS && rc == 0; idx++) {
        mr_segment_t *s = seg_get(t, idx);
        if (s == NULL || s->seq >= below || atomic_load(&s->retired))
            continue;
        uint64_t size = atomic_load(&s->size), g = atomic_load(&s->garbage);
        if (size == 0 || g == 0 || (double)g < min_ratio * (double)size)
            continue;
        rc = compact_segment_locked(t, s, err);
        did = true;
    }
    if (did && rc == 0)
        atomic_fetch_add(&t->compactions, 1);
    pthread_mutex_unlock(&t->wlock);
    mr_epoch_collect();
    return rc;
}

void mr_table_stats(mr_store_t *st, murr_table_stats *out)
{
    mr_table_t *t = (mr_table_t *)st;
    /* Lock-free: a long streaming write holds the writer lock, and /metrics must not wait
     * for it. The caller is inside an epoch, so segments and the directory stay mapped. */
    memset(out, 0, sizeof(*out));
    mr_kd_table_t *kd = atomic_load(&t->kd);
    out->rows = atomic_load_explicit(&kd->count, memory_order_relaxed);
    out->keydir_bytes = mr_kd_table_bytes(kd);
    for (uint32_t i = 1; i < MR_TABLE_MAX_SEGMENTS; i++) {
        mr_segment_t *s = seg_get(t, i);
        if (s == NULL || atomic_load(&s->retired))
            continue;
        uint64_t size = atomic_load(&s->size), g = atomic_load(&s->garbage);
        out->segments++;
        out->garbage_bytes += g;
        out->live_bytes += size - (g < size ? g : size);
        out->mapped_bytes += size;
    }
    out->writes = atomic_load(&t->writes);
    out->compactions = atomic_load(&t->compactions);
}

const mr_store_ops_t mr_native_store_ops = {
    .name = "native",
    .create = mr_table_create,
    .open = mr_table_open,
    .remove = mr_table_remove_files,
    .destroy = mr_table_destroy,
    .status = mr_table_status,
    .txn_begin = mr_table_txn_begin,
    .txn_append = mr_table_txn_append,
    .txn_commit = mr_table_txn_commit,
    .txn_abort = mr_table_txn_abort,
    .seal = mr_table_seal,
    .read = mr_table_read,
    .read_keys = mr_table_read_keys,
    .compact = mr_table_compact,
    .stats = mr_table_stats,
};
