/*
 * table.h - one table of the native engine: schema -> row layout, append-only segment
 * files holding row records, the key directory, and the write / read / recover / compact
 * operations on them. The catalog (catalog.c) owns tables and the manifest.
 *
 * On disk: <data>/<table>/<id>.seg, ids from 1. A segment is a sequence of 8-byte aligned
 * records:
 *   [u32 crc32c of bytes 4..len][u32 len][u16 key_len][u16 kind][key][payload][pad]
 * kind 0 = row: payload = validity bitmap of the non-key columns (bit set = present),
 * fixed slots (1/2/4/8 bytes per column; utf8: u32 offset of its tail entry from the
 * record start), then utf8 tail entries [u32 len][bytes]. kind 1 = commit marker closing a
 * write: payload = [u64 sequence][u32 records][u32 0], adopting the last `records` rows
 * before it (rows between the previous marker and those belong to a write that failed
 * without its abort marker, e.g. on a full disk, and stay invisible); kind 2 = abort marker
 * (same layout) dropping the rows since the previous marker. The segments form one log: a write's rows may
 * span a segment roll. Recovery applies rows only when their commit marker is intact; an
 * unterminated or torn tail of the newest segment is truncated (logged with file and
 * offset), and an abort marker is added if uncommitted rows remain in older segments;
 * corruption anywhere else marks the table damaged (it refuses reads and writes; other
 * tables serve).
 *
 * Concurrency: one writer per table (wlock); readers take no lock: they enter an epoch,
 * load the keydir pointer and segment pointers atomically, and read mapped records.
 * Segments are mapped read-only once, with room to grow to segment_max_bytes, so appends
 * (pwrite) become visible through the mapping without remapping.
 */
#ifndef MR_ENGINE_TABLE_H
#define MR_ENGINE_TABLE_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/batch.h"
#include "core/key.h"
#include "core/schema.h"
#include "engine/keydir.h"
#include "engine/store.h"

#define MR_TABLE_MAX_SEGMENTS 4096
#define MR_REC_HEADER 12
#define MR_REC_ROW 0
#define MR_REC_COMMIT 1
#define MR_REC_ABORT 2

typedef struct mr_col_layout {
    int32_t schema_index;
    murr_dtype dtype;
    uint32_t slot;   /* offset of the slot within the fixed area */
    uint32_t width;  /* slot bytes */
} mr_col_layout_t;

typedef struct mr_segment {
    uint32_t idx;              /* index in the table's segs[] (reused once retired) */
    uint64_t seq;              /* file number: the position in the log, never reused */
    struct mr_table *table;
    _Atomic bool retired;      /* compacted: readers in flight may still use it */
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
    const murr_options *opts;

    pthread_mutex_t wlock;         /* the one writer; also compaction */
    _Atomic(mr_segment_t *) segs[MR_TABLE_MAX_SEGMENTS];
    uint32_t active;               /* index of the segment appended to (writer only) */
    uint64_t next_file;            /* number of the next segment file (writer only) */
    uint64_t next_seq;
    _Atomic(mr_kd_table_t *) kd;
    _Atomic(struct mr_snap *) snap;  /* the current snapshot (snapshot.h) */

    _Atomic uint64_t writes;
    _Atomic uint64_t compactions;
    _Atomic bool sealed;           /* no new transactions (superseded version, dropped table) */
    bool damaged;
    char damage[256];
} mr_table_t;

/* The native store's operations (store.h); mr_native_store_ops binds them. dir is the
 * store's own directory (a table's version). */
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
