/*
 * native.h - internal header of the native storage backend: one store (a version of one
 * table) as schema -> row layout, append-only segment files holding records (record.h),
 * the key directory (keydir.h) and snapshots (snapshot.h). Only the backend's own files
 * include it; the catalog, handles and versions reach a store through store.h.
 *
 * The modules: table.c (layout, lifecycle, stats, mr_native_store_ops), segment.c
 * (segment files), keydir.c (directory tables and the writer's probing), write.c
 * (transactions), read.c (batched reads), recover.c (scan and recovery), compact.c
 * (compaction), record.c (the record format's out-of-line parts), snapshot.c.
 *
 * Concurrency: one writer per table (wlock): transactions, compaction, and everything
 * marked "writer" below. Readers take no lock: they enter an epoch (engine/epoch.h), load
 * the snapshot, the keydir pointer and segment pointers with acquire loads, and read
 * mapped records. Segments are mapped read-only once, with room to grow to
 * segment_max_bytes, so appends (pwrite) become visible through the mapping without
 * remapping. Whatever a reader may still hold (a keydir table, a segment, a snapshot) is
 * freed through mr_epoch_retire.
 */
#ifndef MR_ENGINE_NATIVE_NATIVE_H
#define MR_ENGINE_NATIVE_NATIVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "core/batch.h"
#include "core/key.h"
#include "core/schema.h"
#include "engine/native/keydir.h"
#include "engine/native/record.h"
#include "engine/native/snapshot.h"
#include "engine/store.h"

/* GCC 12 at -O3 reports atomic loads from mr_segment_t (a struct ending in a flexible array
 * member) as "writing 8 bytes into a region of size 0": a false positive of its object-size
 * tracking on the generic __atomic_load temporary, not an overflow (ASan/UBSan runs agree).
 * Every module of the backend loads segment fields, so the pragma is here, after the other
 * headers: it holds for the rest of each file that includes this one. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

#define MR_TABLE_MAX_SEGMENTS 4096 /* indexes 1..4095: every one fits a key directory slot */
_Static_assert(MR_TABLE_MAX_SEGMENTS - 1 <= MR_KD_MAX_SEGMENT, "segment indexes must fit the slot's segment field");

typedef struct mr_col_layout {
    int32_t schema_index;
    murr_dtype dtype;
    uint32_t slot;   /* offset of the slot within the fixed area */
    uint32_t width;  /* slot bytes (a fixed-size list: 0, its vector is in the vector area) */
    int32_t dim;     /* list dtypes: the schema's dim (0: variable length, in the tail) */
    uint32_t vec;    /* fixed-size lists: offset of the vector within the vector area */
    uint32_t vec_bytes; /* fixed-size lists: dim x element bytes */
} mr_col_layout_t;

typedef struct mr_segment {
    uint32_t idx;              /* index in the table's segs[] (reused once retired) */
    uint64_t seq;              /* file number: the position in the log, never reused */
    struct mr_table *table;
    _Atomic bool retired;      /* compacted: readers in flight may still use it */
    bool head_continues;       /* it begins inside a write whose earlier rows (or marker-less
                                  orphans) are in the previous segment: recovery of that
                                  segment's rows depends on a marker in this one */
    int fd;
    int dirfd;                 /* the table's directory (not owned) */
    uint8_t *map;
    size_t map_len;
    _Atomic uint64_t size;     /* bytes written (committed or being committed) */
    _Atomic uint64_t garbage;  /* bytes of records superseded */
    char path[];
} mr_segment_t;

typedef struct mr_table {
    mr_store_t base;               /* the store interface (store.h); must come first */
    char *name;
    char *dir;
    int dirfd;                     /* dir, opened once: files are named relative to it */
    mr_schema_t *schema;
    mr_key_codec_t key;            /* how rows' key columns become the record key */
    int32_t ncols;                 /* non-key columns */
    mr_col_layout_t *cols;         /* by non-key index */
    int32_t *col_of_schema;        /* schema index -> non-key index, -1 for key columns */
    uint32_t bitmap_bytes;
    uint32_t fixed_bytes;
    uint32_t vec_area;             /* bytes of the vector area (0: no fixed-size lists, and
                                      no alignment padding: the layout of murr <= 0.3) */
    const murr_options *opts;

    pthread_mutex_t wlock;         /* the one writer; also compaction */
    _Atomic(mr_segment_t *) segs[MR_TABLE_MAX_SEGMENTS]; /* by index: resolves locations until
                                                            the epoch frees a retired segment */
    _Atomic(mr_segment_t *) live[MR_TABLE_MAX_SEGMENTS]; /* the same, cleared at retirement: what
                                                            iterations (stats, compaction, fsync)
                                                            walk, so that inside an epoch they never
                                                            pick up a segment retired before it */
    uint32_t active;               /* index of the segment appended to (writer only) */
    uint64_t next_file;            /* number of the next segment file (writer only) */
    bool pending;                  /* rows appended since the last marker (writer only) */
    uint64_t next_seq;
    _Atomic(mr_kd_table_t *) kd;
    _Atomic(mr_snap_t *) snap;     /* the current snapshot (snapshot.h) */

    _Atomic uint64_t writes;
    _Atomic uint64_t compactions;
    _Atomic bool sealed;           /* no new transactions (superseded version, dropped table) */
    bool damaged;
    char damage[256];
} mr_table_t;

/* A write transaction: holds the table's writer lock from begin to commit/abort. Appended
 * rows go to the segment files at once (possibly across a segment roll) but are published
 * to the key directory only at commit, after the commit record is durable. An abort (or a
 * crash) leaves them as garbage; an abort record makes sure a later commit never adopts
 * them on recovery. (write.c) */
typedef struct mr_txn {
    mr_store_txn_t base;
    mr_table_t *t;
    uint64_t *locs;
    uint64_t *hashes;   /* hashes[i]: the key directory hash of the key of locs[i] */
    uint16_t *klens;    /* klens[i]: its length */
    size_t nlocs, cap;
    uint64_t first_seq; /* the first segment file this transaction appended to (0: none) */
    uint64_t bytes;     /* row bytes appended */
    bool failed;        /* an append failed part-way: only abort is possible */
} mr_txn_t;

/* ---- segments (segment.c) ---- */

/* The live segment at index id, or NULL. Readers and writer. */
/* Bytes of a row with a klen-byte key before its tail entries: header, key, bitmap, fixed
 * slots and, if the table has fixed-size lists, the aligned vector area (record.h). */
static inline size_t mr_table_row_base(const mr_table_t *t, size_t klen)
{
    size_t body = (size_t)t->bitmap_bytes + t->fixed_bytes;
    return t->vec_area ? mr_rec_vec_start(klen, body) + t->vec_area : mr_rec_row_min(klen, body);
}

static inline mr_segment_t *mr_seg_get(mr_table_t *t, uint32_t id)
{
    if (id == 0 || id >= MR_TABLE_MAX_SEGMENTS)
        return NULL;
    return atomic_load_explicit(&t->segs[id], memory_order_acquire);
}

/* The segment at index id if it is not retired (iterations; caller inside an epoch). */
static inline mr_segment_t *mr_seg_live(mr_table_t *t, uint32_t id)
{
    return atomic_load_explicit(&t->live[id], memory_order_acquire);
}

/* The record at loc (NULL if its segment is gone). */
static inline const uint8_t *mr_rec_at(mr_table_t *t, uint64_t loc)
{
    mr_segment_t *s = mr_seg_get(t, MR_LOC_SEG(loc));
    if (s == NULL)
        return NULL;
    return s->map + MR_LOC_OFF(loc);
}

/* Opens (or creates) segment file number seq as index idx, mapped for at least min_map
 * bytes; the caller publishes it in segs[]. */
int mr_seg_open(mr_table_t *t, uint64_t seq, uint32_t idx, bool create, size_t min_map, mr_segment_t **out,
                mr_error_t *err);
/* Unmaps and closes s (NULL: nothing), unlinking its file if asked. */
void mr_seg_close(mr_segment_t *s, bool unlink_file);
/* Starts a new active segment (the next file of the log) able to take `need` bytes. Writer. */
int mr_seg_roll(mr_table_t *t, size_t need, mr_error_t *err);
/* Retires a compacted segment: closed and unlinked once no reader can hold it. Writer. */
void mr_seg_retire(mr_table_t *t, mr_segment_t *s);
/* A free index for a new segment (0: all MR_TABLE_MAX_SEGMENTS - 1 are live). Writer. */
uint32_t mr_seg_free_index(mr_table_t *t);
/* Makes the active segment able to take `need` more bytes. Writer. */
int mr_seg_ensure_room(mr_table_t *t, size_t need, mr_error_t *err);
/* Appends bytes at the end of the active segment (rolling first if needed); *seg_out and
 * *base_out say where they landed. Writer. */
int mr_seg_append(mr_table_t *t, const uint8_t *buf, size_t len, mr_segment_t **seg_out, uint64_t *base_out,
                  mr_error_t *err);
/* The offset the next append to the active segment starts at (0 without one; a roll to a
 * new segment starts at 0 instead). The writer's lock keeps it stable. */
uint64_t mr_seg_tail(mr_table_t *t);
/* An append in pieces (encoded chunk by chunk): begin makes room for all len bytes in one
 * segment (rolling it if needed) and gives the segment and the base offset; each piece is
 * written at base + off, in order; a failed piece truncates the file back to base (the
 * append is dropped whole) and says why; end publishes the new size. mr_seg_append is the
 * one-piece case. Writer. */
int mr_seg_append_begin(mr_table_t *t, size_t len, mr_segment_t **seg_out, uint64_t *base_out, mr_error_t *err);
int mr_seg_append_piece(mr_segment_t *seg, uint64_t base, uint64_t off, const uint8_t *buf, size_t n, mr_error_t *err);
void mr_seg_append_end(mr_segment_t *seg, uint64_t base, size_t len);
/* Maps the pages of len appended bytes at off into the segment's mapping (they are in the
 * page cache: pwrite put them there), so that the first reads of a fresh load do not take a
 * page fault per record page; appends below MR_SEG_POPULATE_MIN are left to fault. Rows are
 * published without reading them back (write.c keeps their hashes), so nothing else maps
 * them. Best effort. */
#define MR_SEG_POPULATE_MIN ((size_t)64 << 10)
void mr_seg_populate(mr_segment_t *seg, uint64_t off, size_t len);
/* Starts writeback of len bytes at off (asynchronous, best effort; durability is still the
 * commit's fdatasync). */
void mr_seg_start_writeback(mr_segment_t *seg, uint64_t off, size_t len);
/* pwrite of all n bytes at off (0, or -1 with errno). */
int mr_write_full(int fd, const uint8_t *p, size_t n, off_t off);
/* The records at locs become garbage (an abort, or rows that never got published). */
void mr_rows_to_garbage(mr_table_t *t, const uint64_t *locs, size_t n);

/* ---- key directory (keydir.c) ---- */

/* Finds the slot of key (writer side, or recovery). Returns the slot or NULL; *empty gets
 * the first empty slot on the probe path. */
mr_kd_slot_t *mr_kd_find(mr_table_t *t, mr_kd_table_t *kd, uint64_t h, const char *key, size_t len,
                         mr_kd_slot_t **empty);
/* Readers' batched lookup (no lock; caller inside an epoch): recs[i] = the current record
 * of keys[i] in kd, or NULL; hashes[i] = its fixed hash. Hashing, slot loads, record loads
 * and key compares run as a pipeline so that the misses of many keys overlap. */
void mr_kd_lookup(mr_table_t *t, mr_kd_table_t *kd, const char *const *keys, const size_t *key_lens, size_t n,
                  uint64_t *hashes, const uint8_t **recs);
/* mr_kd_find for the key of record rec. */
mr_kd_slot_t *mr_kd_find_rec(mr_table_t *t, mr_kd_table_t *kd, const uint8_t *rec);
/* Publishes key -> loc; the superseded record (if any) becomes garbage. With an undo map,
 * the key's previous location is recorded before its slot changes. Writer. */
int mr_kd_put(mr_table_t *t, const char *key, size_t len, uint64_t loc, mr_undo_t *u);
/* Publishes locs[0..n) in order (the last duplicate wins). hashes[i] is the key's
 * mr_kd_fix_hash(mr_hash64(key)) and klens[i] its length, as the writer knows them from
 * encoding (then a new key's record is never read); either NULL: read from the records.
 * Checks every location and grows the directory once for all n first (MURR_EINTERNAL for a
 * location in no mapped segment, MURR_ENOMEM / MURR_EINTERNAL from mr_kd_reserve; nothing
 * is published then), so with fresh records after an mr_kd_reserve(t, n) it cannot fail.
 * The slots and undo entries of KD_PUT_AHEAD keys (and their record lines, when read) are
 * in flight at once, not one dependent miss per key. Undo as mr_kd_put. Writer, or
 * recovery (u NULL). */
int mr_kd_put_many(mr_table_t *t, const uint64_t *locs, const uint64_t *hashes, const uint16_t *klens, size_t n,
                   mr_undo_t *u);
/* Grows the directory now so that n more keys fit without growing (load <= 75%). Writer. */
int mr_kd_reserve(mr_table_t *t, uint64_t n);

/* Does the record at loc hold this key? (mr_snap_key_eq_fn; ctx is the table). Inline so
 * that the read path's snapshot resolution compiles with it. */
static inline bool mr_loc_key_eq(void *ctx, uint64_t loc, const char *key, size_t len)
{
    const uint8_t *rec = mr_rec_at(ctx, loc);
    return rec != NULL && mr_rec_key_eq(rec, key, len);
}

/* ---- row encoding (encode.c) ---- */

/* How one non-key column of a batch goes into records (the layout of table.c), decided once
 * per batch instead of per row. */
enum { MR_ENC_FIXED4, MR_ENC_FIXED8, MR_ENC_FIXED, MR_ENC_BOOL, MR_ENC_UTF8, MR_ENC_VEC, MR_ENC_LIST };

typedef struct mr_enc_col {
    const mr_col_layout_t *L;
    const mr_column_t *c;
    const uint8_t *values;
    uint32_t slot, width;
    uint8_t kind;
    bool nulls; /* c has a validity bitmap */
} mr_enc_col_t;

typedef struct mr_enc_plan {
    mr_enc_col_t *cols; /* t->ncols */
    bool var;           /* some column is variable-width (utf8, list without a fixed dim) */
} mr_enc_plan_t;

/* Plans batch columns cols (schema order, validated) for t's layout into pl (pl->cols has
 * t->ncols entries). */
void mr_enc_plan(mr_table_t *t, const mr_column_t *cols, mr_enc_plan_t *pl);
/* The record length of row r whose encoded key has klen bytes. */
size_t mr_enc_row_size(mr_table_t *t, const mr_enc_plan_t *pl, int64_t r, size_t klen);
/* Encodes row r into p (rec_len bytes from mr_enc_row_size, zeroed by the caller); returns
 * the key directory hash of its key (mr_kd_fix_hash(mr_hash64)), whose length goes to
 * *klen_out. */
uint64_t mr_enc_row(mr_table_t *t, const mr_enc_plan_t *pl, const mr_column_t *cols, int64_t r, uint8_t *p,
                    uint32_t rec_len, uint16_t *klen_out);

/* ---- write (write.c), recovery (recover.c), errors (table.c) ---- */

/* Writes a marker record (commit or abort) at the end of the log, sequence next_seq. Writer. */
int mr_txn_append_marker(mr_table_t *t, uint16_t kind, uint32_t count, mr_segment_t **seg, mr_error_t *err);
/* Opens the table's segments and rebuilds its key directory (may mark it damaged). */
int mr_table_recover(mr_table_t *t, mr_error_t *err);
/* "table is damaged and refuses <what>" (MURR_EBUSY). */
int mr_table_damaged_error(const mr_table_t *t, const char *what, mr_error_t *err);
/* A sealed table takes no new transaction (MURR_EAGAIN). */
int mr_table_sealed_error(const mr_table_t *t, mr_error_t *err);

/* The native store's operations (store.h); mr_native_store_ops binds them. dir is the
 * store's own directory (a table's version). */
/* MURR_EINVAL for options this backend cannot honour: storage.segment_max_bytes above
 * MR_KD_SEG_REACH (keydir.h). */
int mr_table_check_options(const murr_options *opts, mr_error_t *err);
int mr_table_create(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts,
                    mr_store_t **out, mr_error_t *err);
int mr_table_open(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts,
                  mr_store_t **out, mr_error_t *err);
int mr_table_remove_files(const char *dir, mr_error_t *err);
void mr_table_destroy(mr_store_t *s, bool remove_files);
int mr_table_status(mr_store_t *s, mr_error_t *err);
void mr_table_seal(mr_store_t *s);

int mr_table_txn_begin(mr_store_t *s, mr_store_txn_t **out, mr_error_t *err);
int mr_table_txn_append(mr_store_txn_t *x, const mr_batch_t *const *batches, size_t n, mr_error_t *err);
int mr_table_txn_commit(mr_store_txn_t *x, mr_error_t *err);
void mr_table_txn_abort(mr_store_txn_t *x);
int mr_table_read(mr_store_t *s, const char *const *keys, const size_t *key_lens, size_t nkeys,
                  const char *const *columns, size_t ncolumns, unsigned flags, mr_batch_t **out, mr_error_t *err);
int mr_table_read_keys(mr_store_t *s, const mr_batch_t *keys, const char *const *columns, size_t ncolumns,
                       unsigned flags, mr_batch_t **out, mr_error_t *err);
int mr_table_compact(mr_store_t *s, double min_ratio, bool force, mr_error_t *err);
void mr_table_stats(mr_store_t *s, murr_table_stats *out);

#endif
