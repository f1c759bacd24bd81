/* segment.c - the segment files of one table: open (mapped read-only once, with room to
 * grow to segment_max_bytes, so appends show through the mapping without remapping),
 * close, roll to the next file of the log, retire after compaction, append, and the
 * per-segment garbage count. Appends, rolls and retirement are the writer's (wlock);
 * readers only load segs[] (mr_seg_get) and read the mapping. A segment's index in segs[]
 * is reused once it is retired; its file number (seq) never is: files are numbered in
 * log order. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/log.h"
#include "engine/epoch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files are named and removed relative to the table's directory descriptor: a dropped
 * table's directory is moved aside while retired segments may still be closing, and a
 * table re-created under the old path must never lose a file to them. */
void mr_seg_close(mr_segment_t *s, bool unlink_file)
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
    mr_seg_close(s, true);
    mr_store_unref(&t->base);
}

void mr_seg_retire(mr_table_t *t, mr_segment_t *s)
{
    atomic_store(&s->retired, true);
    atomic_store_explicit(&t->live[s->idx], NULL, memory_order_release);
    mr_store_ref(&t->base);
    mr_epoch_retire(seg_retire_cb, s);
}

uint32_t mr_seg_free_index(mr_table_t *t)
{
    for (uint32_t i = 1; i < MR_TABLE_MAX_SEGMENTS; i++)
        if (atomic_load_explicit(&t->segs[i], memory_order_acquire) == NULL)
            return i;
    return 0;
}

int mr_seg_open(mr_table_t *t, uint64_t seq, uint32_t idx, bool create, size_t min_map, mr_segment_t **out,
                mr_error_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%08llu.seg", t->dir, (unsigned long long)seq);
    int fd = openat(t->dirfd, strrchr(path, '/') + 1, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (fd < 0)
        return mr_err_set(err, !create && errno == ENOENT ? MURR_ENOTFOUND : MURR_EIO, "cannot %s segment '%s': %s",
                          create ? "create" : "open", path, strerror(errno));
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

int mr_seg_roll(mr_table_t *t, size_t need, mr_error_t *err)
{
    uint32_t idx = mr_seg_free_index(t);
    if (idx == 0)
        return mr_err_set(err, MURR_ETOOBIG,
                          "table '%s' has %d live segment files, the most one table can hold (%llu bytes each at most); "
                          "compact it or raise storage.segment_max_bytes",
                          t->name, MR_TABLE_MAX_SEGMENTS - 1, (unsigned long long)t->opts->segment_max_bytes);
    mr_segment_t *s;
    MR_RETURN_NOT_OK(mr_seg_open(t, t->next_file, idx, true, need, &s, err));
    s->head_continues = t->pending;
    t->next_file++;
    atomic_store_explicit(&t->segs[idx], s, memory_order_release);
    atomic_store_explicit(&t->live[idx], s, memory_order_release);
    t->active = idx;
    return 0;
}

int mr_seg_ensure_room(mr_table_t *t, size_t need, mr_error_t *err)
{
    mr_segment_t *a = mr_seg_get(t, t->active);
    if (a && atomic_load(&a->size) + need <= a->map_len &&
        (atomic_load(&a->size) == 0 || atomic_load(&a->size) + need <= t->opts->segment_max_bytes))
        return 0;
    return mr_seg_roll(t, need, err);
}

int mr_write_full(int fd, const uint8_t *p, size_t n, off_t off)
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

int mr_seg_append_begin(mr_table_t *t, size_t len, mr_segment_t **seg_out, uint64_t *base_out, mr_error_t *err)
{
    MR_RETURN_NOT_OK(mr_seg_ensure_room(t, len, err));
    mr_segment_t *seg = mr_seg_get(t, t->active);
    if (seg == NULL)
        return mr_err_set(err, MURR_EINTERNAL, "table '%s': active segment %u is missing", t->name, t->active);
    *seg_out = seg;
    *base_out = atomic_load(&seg->size);
    return 0;
}

int mr_seg_append_piece(mr_segment_t *seg, uint64_t base, uint64_t off, const uint8_t *buf, size_t n, mr_error_t *err)
{
    if (mr_write_full(seg->fd, buf, n, (off_t)(base + off)) == 0)
        return 0;
    int e = errno;
    int rc = e == ENOSPC || e == EDQUOT
                 ? mr_err_set(err, MURR_ENOSPC,
                              "no space left on the storage device: cannot write %zu bytes to '%s' at offset %llu "
                              "(%s); the write is not applied",
                              n, seg->path, (unsigned long long)(base + off), strerror(e))
                 : mr_err_set(err, MURR_EIO, "cannot write %zu bytes to '%s' at offset %llu: %s", n, seg->path,
                              (unsigned long long)(base + off), strerror(e));
    if (ftruncate(seg->fd, (off_t)base) != 0) /* drop the partial append */
        MR_ERROR("engine", "cannot truncate '%s' back to %llu: %s", seg->path, (unsigned long long)base,
                 strerror(errno));
    return rc;
}

void mr_seg_start_writeback(mr_segment_t *seg, uint64_t off, size_t len)
{
    /* best effort: the commit's fdatasync is what makes the bytes durable */
    (void)sync_file_range(seg->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

void mr_seg_populate(mr_segment_t *seg, uint64_t off, size_t len)
{
    if (len < MR_SEG_POPULATE_MIN)
        return;
    uint64_t from = off & ~(uint64_t)4095, to = off + len;
    if (to > seg->map_len)
        to = seg->map_len;
    if (to > from) /* best effort: older kernels refuse the advice, and reads then fault as before */
        (void)madvise(seg->map + from, (size_t)(to - from), MADV_POPULATE_READ);
}

void mr_seg_append_end(mr_segment_t *seg, uint64_t base, size_t len)
{
    mr_seg_populate(seg, base, len);
    atomic_store(&seg->size, base + len);
}

int mr_seg_append(mr_table_t *t, const uint8_t *buf, size_t len, mr_segment_t **seg_out, uint64_t *base_out,
                  mr_error_t *err)
{
    mr_segment_t *seg = NULL;
    uint64_t base = 0;
    MR_RETURN_NOT_OK(mr_seg_append_begin(t, len, &seg, &base, err));
    MR_RETURN_NOT_OK(mr_seg_append_piece(seg, base, 0, buf, len, err));
    mr_seg_append_end(seg, base, len);
    *seg_out = seg;
    *base_out = base;
    return 0;
}

uint64_t mr_seg_tail(mr_table_t *t)
{
    mr_segment_t *seg = mr_seg_get(t, t->active);
    return seg ? atomic_load(&seg->size) : 0;
}

void mr_rows_to_garbage(mr_table_t *t, const uint64_t *locs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mr_segment_t *s = mr_seg_get(t, MR_LOC_SEG(locs[i]));
        if (s)
            atomic_fetch_add(&s->garbage, mr_rec_len(s->map + MR_LOC_OFF(locs[i])));
    }
}
