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
    uint32_t id;
    int fd;
    uint8_t *map;
    size_t map_len;
    _Atomic uint64_t size;     /* bytes written (committed or being committed) */
    _Atomic uint64_t garbage;  /* bytes of records superseded */
    char path[];
} mr_segment_t;

typedef struct mr_table {
    char *name;
    char *dir;
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
    uint32_t active;               /* id of the segment appended to (writer only) */
    uint64_t next_seq;
    _Atomic(mr_kd_table_t *) kd;

    _Atomic uint64_t writes;
    _Atomic uint64_t compactions;
    bool dropped;                  /* under wlock: drop has removed the name; no new writes */
    bool unavailable;              /* its files could not be opened (damage says why): a
                                      stand-in the catalog keeps listed and retries */
    uint64_t reopen_at_ns;         /* catalog: next retry of an unavailable table */
    bool damaged;
    char damage[256];
} mr_table_t;

/* Creates the in-memory table and its directory (empty). */
int mr_table_create(const char *root, const char *name, const mr_schema_t *schema, const murr_options *opts,
                    mr_table_t **out, mr_error_t *err);
/* Opens an existing table directory and recovers its key directory. A damaged table is
 * still returned (damaged = true, message in damage) so the catalog can list it. */
int mr_table_open(const char *root, const char *name, const mr_schema_t *schema, const murr_options *opts,
                  mr_table_t **out, mr_error_t *err);
/* A stand-in for a table whose files could not be opened: no files touched, empty, damaged
 * and unavailable with `reason`; reads and writes refuse with MURR_EBUSY naming it. */
mr_table_t *mr_table_new_unavailable(const char *root, const char *name, const mr_schema_t *schema,
                                     const murr_options *opts, const char *reason);
/* Frees memory and mappings; with remove_files, deletes the directory. Only when no
 * reader can see the table (epoch). */
void mr_table_destroy(mr_table_t *t, bool remove_files);

int mr_table_write(mr_table_t *t, const mr_batch_t *const *batches, size_t n, mr_error_t *err);

/* Marks the table dropped under its writer lock: a writer or compaction holding the lock
 * finishes first; any that takes it later finds the table gone (MURR_ENOTFOUND). Called by
 * drop before the table is retired, while lookups may still hold it. */
void mr_table_mark_dropped(mr_table_t *t);

/* Streaming writes: begin takes the table's writer lock; each append validates and appends
 * batches (nothing visible yet); commit makes them durable and visible atomically, abort
 * discards them. Exactly one of commit/abort must follow a successful begin. */
typedef struct mr_txn mr_txn_t;
int mr_table_txn_begin(mr_table_t *t, mr_txn_t **out, mr_error_t *err);
int mr_table_txn_append(mr_txn_t *x, const mr_batch_t *const *batches, size_t n, mr_error_t *err);
int mr_table_txn_commit(mr_txn_t *x, mr_error_t *err);
void mr_table_txn_abort(mr_txn_t *x);
/* Reads encoded keys (murr_read_opt); flags: MURR_READ_SPARSE. */
int mr_table_read(mr_table_t *t, const char *const *keys, const size_t *key_lens, size_t nkeys,
                  const char *const *columns, size_t ncolumns, unsigned flags, mr_batch_t **out, mr_error_t *err);
/* Reads by key columns (murr_read_keys): prepares and encodes them, then mr_table_read. */
int mr_table_read_keys(mr_table_t *t, const mr_batch_t *keys, const char *const *columns, size_t ncolumns,
                       unsigned flags, mr_batch_t **out, mr_error_t *err);
/* Rewrites sealed segments whose garbage ratio is at least min_ratio (0: any garbage);
 * with force, first seals the active segment if it has garbage. */
int mr_table_compact(mr_table_t *t, double min_ratio, bool force, mr_error_t *err);
void mr_table_stats(mr_table_t *t, murr_table_stats *out);

#endif
