/*
 * murr.h - the public C API of libmurr, the murr columnar cache engine.
 *
 * This header is the only exported face of libmurr (built with -fvisibility=hidden; every
 * symbol here carries MURR_API). Everything else under src/ is internal and may change.
 *
 * Conventions (read once, they hold everywhere):
 *  - Functions that can fail return an int status: 0 (MURR_OK) on success, otherwise one of
 *    the MURR_E* codes below. They take an optional `murr_error *err` (may be NULL) that
 *    receives a specific, human-readable message naming the thing and the numbers
 *    (column, expected vs actual type, row, offset, limit).
 *  - Opaque handles are returned through `**out` and are only valid after a successful call.
 *    A handle whose open succeeded must be closed exactly once.
 *  - Memory returned to the caller (a batch, a string) is owned by the caller and released
 *    with the matching murr_*_free function; nothing returned points into the engine's
 *    files unless stated.
 *  - Thread-safety: a murr_db handle may be used from any number of threads at once.
 *    Reads never wait for writers, compaction or key-directory growth. Writes to one table
 *    are serialised; writes to different tables run in parallel.
 */
#ifndef MURR_H
#define MURR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MURR_BUILDING) && defined(__GNUC__)
#define MURR_API __attribute__((visibility("default")))
#else
#define MURR_API
#endif

#define MURR_VERSION "0.3.0"

/* ---------------------------------------------------------------------------------------
 * Status codes. The server maps them to protocol statuses (HTTP / gRPC) at the edge only.
 * ------------------------------------------------------------------------------------- */
enum murr_status {
    MURR_OK = 0,
    MURR_EINVAL = 1,       /* a client mistake: bad schema, bad column, bad value (HTTP 400) */
    MURR_ENOTFOUND = 2,    /* the table does not exist (HTTP 404) */
    MURR_EEXIST = 3,       /* the table already exists (HTTP 409) */
    MURR_ETOOBIG = 4,      /* a size limit was exceeded (HTTP 413) */
    MURR_EUNSUPPORTED = 5, /* valid input that uses an unsupported feature or type (HTTP 400) */
    MURR_ECORRUPT = 6,     /* malformed or corrupt bytes: untrusted input or a damaged file */
    MURR_EAGAIN = 7,       /* incremental decoders: need more input (not an error for callers) */
    MURR_ENOMEM = 8,       /* a data-sized allocation failed (HTTP 507/500) */
    MURR_EIO = 9,          /* an operating-system I/O error (HTTP 500) */
    MURR_EINTERNAL = 10,   /* a bug or broken invariant in murr itself (HTTP 500) */
    MURR_ESHAPE = 11,      /* well-formed JSON of the wrong shape (HTTP 422) */
    MURR_ESYNTAX = 12,     /* malformed JSON text (HTTP 400) */
    MURR_EMEDIA = 13,      /* wrong Content-Type (HTTP 415) */
    MURR_EBUSY = 14,       /* resource temporarily unavailable, e.g. table damaged or closing */
    MURR_ENOSPC = 15,      /* the storage device is full (HTTP 507); nothing of the write is visible */
    MURR_ECONFLICT = 16,   /* the request conflicts with the table's state, e.g. no version to roll back to (HTTP 409) */
};

#define MURR_ERROR_MSG_MAX 512

typedef struct murr_error {
    int code;                          /* one of enum murr_status, 0 when no error recorded */
    char message[MURR_ERROR_MSG_MAX];  /* NUL-terminated; truncated with "..." if longer */
} murr_error;

/* A static English name for a status code ("EINVAL", ...). Never NULL. */
MURR_API const char *murr_status_name(int code);

/* ---------------------------------------------------------------------------------------
 * Data types: the 15 dtypes of murr. Names are the lowercase strings of the schema JSON.
 * The three list dtypes are embedding vectors (decision 0012): a list of float32, float16
 * or int8 elements per row, fixed size when the column's `dim` is > 0 (schema JSON
 * {"dtype": "list<float32>", "dim": 768}), variable length when it is 0. Elements are never
 * null; a whole list may be (nullable at the list level).
 * ------------------------------------------------------------------------------------- */
typedef enum murr_dtype {
    MURR_UTF8 = 0,
    MURR_BOOL = 1,
    MURR_INT8 = 2,
    MURR_INT16 = 3,
    MURR_INT32 = 4,
    MURR_INT64 = 5,
    MURR_UINT8 = 6,
    MURR_UINT16 = 7,
    MURR_UINT32 = 8,
    MURR_UINT64 = 9,
    MURR_FLOAT32 = 10,
    MURR_FLOAT64 = 11,
    MURR_LIST_FLOAT32 = 12, /* "list<float32>" */
    MURR_LIST_FLOAT16 = 13, /* "list<float16>": IEEE 754 binary16 elements */
    MURR_LIST_INT8 = 14,    /* "list<int8>": quantised embeddings */
} murr_dtype;

#define MURR_DTYPE_COUNT 15
#define MURR_LIST_DIM_MAX 65536 /* the largest fixed dimension of a list column */

/* "utf8", "bool", "int8", ... ; "?" for an out-of-range value. */
MURR_API const char *murr_dtype_name(murr_dtype t);
/* Parses a dtype name (exact, case-sensitive). Returns 0 and sets *out, or MURR_EINVAL. */
MURR_API int murr_dtype_parse(const char *name, size_t len, murr_dtype *out);

/* ---------------------------------------------------------------------------------------
 * Columnar batch, in Arrow's memory layout.
 *
 *  - validity: NULL when the column has no nulls; otherwise ceil(num_rows/8) bytes,
 *    bit i (LSB first) set = row i valid. null_count is always exact.
 *  - values: fixed-width dtypes: num_rows little-endian values; bool: bit-packed like
 *    validity; utf8: num_rows+1 int32 offsets, monotonically non-decreasing, into `data`.
 *  - data/data_len: utf8 bytes (valid UTF-8 per row); NULL/0 for other dtypes.
 *  - list dtypes: dim > 0 (fixed size): values holds num_rows * dim elements (a null row's
 *    are zeros when murr built the batch, unspecified in decoded input), data NULL; dim == 0 (variable length): values holds num_rows+1 int32
 *    offsets counted in elements, monotonically non-decreasing, into data, whose data_len
 *    is in bytes (a whole number of elements). Both are Arrow's FixedSizeList / List
 *    buffers (the child array's values), so answers are written without a copy.
 *  - Buffers are 8-byte aligned and padded to a multiple of 8 bytes when murr allocated
 *    them, so an Arrow IPC writer can point at them directly.
 * A batch is released with murr_batch_free, which frees everything it owns.
 * ------------------------------------------------------------------------------------- */
typedef struct murr_column {
    char *name;         /* NUL-terminated, owned by the batch */
    size_t name_len;
    murr_dtype dtype;
    int64_t null_count;
    uint8_t *validity;
    void *values;
    uint8_t *data;
    int64_t data_len;
    int32_t dim;        /* list dtypes: elements per row if fixed size, 0 if variable; else 0 */
} murr_column;

typedef struct murr_batch {
    int64_t num_rows;
    int32_t num_columns;
    murr_column *columns;
    void *owner;        /* internal: the allocation that owns every buffer above */
} murr_batch;

MURR_API void murr_batch_free(murr_batch *batch);

/* Reads one value; out-of-range rows are the caller's bug. True if row is valid (non-null). */
static inline bool murr_column_is_valid(const murr_column *c, int64_t row)
{
    return c->validity == NULL || ((c->validity[row >> 3] >> (row & 7)) & 1);
}

/* ---------------------------------------------------------------------------------------
 * Table schema. Two JSON forms are accepted (what the HTTP API takes and the manifest
 * stores); a schema remembers the form it was created in and is written back in it:
 *   form 2 (murr 0.2):  {"key": "<col>", "columns": {"<col>": {"dtype": "<dtype>",
 *                        "nullable": <bool>, "strict": <bool>}, ...}}
 *   form 3 (murr 0.3):  {"columns": {"<col>": {"dtype": "<dtype>", "nullable": <bool>,
 *                        "key": <bool>, "strict": <bool>}, ...}}
 * A list column may carry "dim": N (fixed size, both forms; written back when set).
 * Column order is kept. nullable defaults to true; strict defaults to true (strict=false
 * allows lossy conversions such as float64 -> float32 on write); key defaults to false.
 * The key is one or more columns (key = true), in schema order (a compound key); key
 * columns are utf8 or an integer dtype and never null. Form 3 requires "nullable": false
 * on key columns; form 2 has exactly one key column (its nullable flag is kept as given,
 * nulls in it are refused on write either way). "_idx" is reserved (sparse answers).
 * ------------------------------------------------------------------------------------- */
typedef struct murr_column_schema {
    char *name;
    size_t name_len;
    murr_dtype dtype;
    bool nullable;
    bool strict;
    bool key;                     /* part of the table key */
    int32_t dim;                  /* list dtypes: fixed size (1..MURR_LIST_DIM_MAX), or 0 for
                                     variable length ("dim" absent); 0 for other dtypes */
} murr_column_schema;

typedef enum murr_schema_form {
    MURR_SCHEMA_FORM2 = 2,        /* top-level "key": murr 0.2 clients */
    MURR_SCHEMA_FORM3 = 3,        /* per-column "key": murr 0.3 clients */
} murr_schema_form;

typedef struct murr_schema {
    int32_t num_columns;
    int32_t key_index;            /* index of the first key column in columns[] */
    int32_t num_keys;             /* key columns (>= 1); 1 in form 2 */
    murr_schema_form form;
    murr_column_schema *columns;
} murr_schema;

/* Name of the leading column of a sparse answer: the uint32 position of the key in the
 * request. Reserved: no table column may be named so. */
#define MURR_IDX_COLUMN "_idx"

/* Parses and validates a schema from JSON text. On success *out must be freed with
 * murr_schema_free. Errors: MURR_ESYNTAX (not JSON), MURR_ESHAPE (wrong shape, unknown
 * dtype, unknown member in a column), MURR_EINVAL (no key column, key missing from columns,
 * a nullable, float or bool key column in form 3, a column named "_idx", no columns). */
MURR_API int murr_schema_from_json(const char *json, size_t len, murr_schema **out, murr_error *err);
/* Serialises to compact JSON in the schema's form: form 2 writes "key" and per column
 * "dtype", "nullable" and "strict" only when false; form 3 writes every column's "dtype",
 * "nullable", "key" and "strict" (what murr 0.3.1 answers). Returns a malloc'd
 * NUL-terminated string the caller frees with murr_free, or NULL on OOM. */
MURR_API char *murr_schema_to_json(const murr_schema *schema);
MURR_API void murr_schema_free(murr_schema *schema);
/* Validates the table-name rule: [A-Za-z0-9_.-]{1,128}, not starting with '.'. */
MURR_API int murr_table_name_check(const char *name, size_t len, murr_error *err);

MURR_API void murr_free(void *p);

/* ---------------------------------------------------------------------------------------
 * Database handle (engine). Implemented by src/engine/.
 * ------------------------------------------------------------------------------------- */
typedef struct murr_db murr_db;

typedef struct murr_options {
    bool sync_writes;            /* fdatasync before a write returns (default true) */
    uint64_t segment_max_bytes;  /* roll to a new segment after this size (default 256 MiB) */
    double compact_garbage_ratio;/* auto-compact a segment past this garbage ratio (0.5) */
    bool background_compaction;  /* run the background compaction thread (default true) */
    uint32_t reopen_interval_ms; /* retry opening a table whose files could not be opened at
                                    startup this often (default 10000) */
    uint32_t keep_versions;      /* versions kept on disk besides the serving one after a
                                    replace, for rollback (default 1; 0 keeps none) */
} murr_options;

/* Fills *opts with the defaults above. */
MURR_API void murr_options_default(murr_options *opts);

/* Opens (creating if needed) the data directory `path`. opts may be NULL for defaults.
 * Tables whose files are damaged are logged and refuse to open; the others serve. A table
 * whose files cannot be opened (e.g. storage remounted read-only) is never forgotten: it
 * stays listed and in the manifest, reads and writes answer MURR_EBUSY naming it and the
 * reason, and a background thread retries it every reopen_interval_ms until it opens. */
MURR_API int murr_open(const char *path, const murr_options *opts, murr_db **out, murr_error *err);
/* Stops background work, makes everything durable, unmaps and frees. NULL is a no-op. */
MURR_API void murr_close(murr_db *db);

/* Creates a table. The schema is validated before anything is persisted. The db keeps
 * its own copy of the schema. Errors: MURR_EINVAL (bad name or schema), MURR_EEXIST. */
MURR_API int murr_create_table(murr_db *db, const char *name, const murr_schema *schema, murr_error *err);
/* Drops a table and removes its files. Errors: MURR_ENOTFOUND. */
MURR_API int murr_drop_table(murr_db *db, const char *name, murr_error *err);
/* Lists table names: *names is a malloc'd array of malloc'd strings, sorted; free with
 * murr_names_free. */
MURR_API int murr_list_tables(murr_db *db, char ***names, size_t *count, murr_error *err);
MURR_API void murr_names_free(char **names, size_t count);
/* Copies the table's schema into *out (free with murr_schema_free). */
MURR_API int murr_describe_table(murr_db *db, const char *name, murr_schema **out, murr_error *err);

/* Upserts the rows of `batch` into the table: whole-row replacement, last duplicate key in
 * the batch wins. The whole batch is validated first (every schema column present by name,
 * dtype equal or losslessly widened (key columns: widened only, never narrowed, whatever
 * "strict" says), no null in a key column or a non-nullable column, every encoded key at
 * most MURR_KEY_MAX bytes); on any error nothing is written. Atomic and (with sync_writes) durable when it returns 0. */
MURR_API int murr_write(murr_db *db, const char *name, const murr_batch *batch, murr_error *err);

/* Atomic multi-batch write: every batch lands or none (used by HTTP/Flight bodies that carry
 * several record batches). */
MURR_API int murr_write_many(murr_db *db, const char *name, const murr_batch *const *batches,
                             size_t count, murr_error *err);

/* Streaming atomic write, for inputs too large to hold decoded at once (a Parquet file is
 * written one row group at a time): murr_write_begin takes the table's writer lock (other
 * writers of that table wait; readers never do); each murr_writer_append validates and
 * appends batches (not visible yet); murr_writer_commit makes everything appended durable
 * and visible atomically; murr_writer_abort discards it. Exactly one of commit/abort must
 * follow a successful begin, from the same thread. A failed append leaves abort as the only
 * way out. */
typedef struct murr_writer murr_writer;
MURR_API int murr_write_begin(murr_db *db, const char *name, murr_writer **out, murr_error *err);
MURR_API int murr_writer_append(murr_writer *w, const murr_batch *batch, murr_error *err);
MURR_API int murr_writer_commit(murr_writer *w, murr_error *err);
MURR_API void murr_writer_abort(murr_writer *w);

/* Write modes (murr_write_begin_opt). */
#define MURR_WRITE_UPSERT 0u   /* rows are upserted into the serving version (murr_write_begin) */
#define MURR_WRITE_REPLACE 1u  /* the rows appended form a complete new version of the table,
                                  built beside the serving one (which keeps serving, and takes
                                  upserts that the new version will not contain); commit swaps
                                  it in atomically: readers in flight finish on the old version,
                                  later ones see only the new one. The previous version is kept
                                  on disk (keep_versions) for murr_rollback. Replaces of one
                                  table are serialised. An empty replace empties the table. */

/* murr_write_begin with a mode; `source` (NULL: "api") is recorded with the new version
 * (murr_list_versions) when replacing, e.g. "http", "flight" or a partition's address. */
MURR_API int murr_write_begin_opt(murr_db *db, const char *name, unsigned mode, const char *source,
                                  murr_writer **out, murr_error *err);
/* murr_write_many in MURR_WRITE_REPLACE mode. */
MURR_API int murr_replace(murr_db *db, const char *name, const murr_batch *const *batches, size_t count,
                          const char *source, murr_error *err);

/* Versions: every table has one serving version (id 1 when created; each replace or
 * rollback makes another one serve) and up to keep_versions others kept on disk. */
#define MURR_SOURCE_MAX 256
typedef struct murr_version_info {
    uint64_t id;               /* increasing per table, never reused */
    uint64_t rows;             /* live keys (serving version: now; kept ones: when last served) */
    uint64_t bytes;            /* bytes of its segment files */
    int64_t created;           /* Unix seconds when it was committed */
    bool serving;              /* the version reads and writes go to */
    char source[MURR_SOURCE_MAX]; /* what wrote it: "create", "api", "http", "flight", ... */
} murr_version_info;
/* The table's versions, newest id first, into *out (free with murr_free). */
MURR_API int murr_list_versions(murr_db *db, const char *name, murr_version_info **out, size_t *count,
                                murr_error *err);
/* Makes kept version `version` serve (0: the newest kept version older than the serving
 * one), atomically as a replace does; the version that served is kept in its place.
 * *serving (may be NULL) gets the id now serving. Errors: MURR_ENOTFOUND (table or version
 * id), MURR_ECONFLICT (0 given and no older version kept), MURR_EBUSY (its files cannot be
 * opened), MURR_ENOSPC, MURR_EIO. */
MURR_API int murr_rollback(murr_db *db, const char *name, uint64_t version, uint64_t *serving, murr_error *err);

/* Encoded keys. The engine identifies a row by the bytes of its key columns: a table
 * whose key is one utf8 column uses the string itself (so murr_read takes plain strings for
 * it); otherwise the key columns are concatenated in schema order, integers as their
 * dtype's width in little-endian two's complement (int32: 4 bytes), utf8 as a LEB128
 * varint length then the bytes. An encoded key is at most MURR_KEY_MAX bytes. */
#define MURR_KEY_MAX 65535

/* Read flags. */
#define MURR_READ_SPARSE 1u  /* answer only the keys found: first column MURR_IDX_COLUMN
                                (uint32 position in the request), then the requested columns;
                                duplicates repeated, in request order; zero rows keep the schema */

/* Reads `columns` for `keys` (encoded keys, see above): dense (flags 0): one row per key
 * in request order, nulls for missing keys, duplicates repeated. Requesting a key column,
 * "_idx" or an unknown column is MURR_EINVAL; an empty column list is MURR_EINVAL for a
 * dense read and, sparse, asks which keys exist (the answer is "_idx" alone). Result
 * columns are in request order; *out is owned by the caller (murr_batch_free). keys[i]
 * points at key_lens[i] bytes. murr_read is murr_read_opt with flags 0. */
MURR_API int murr_read(murr_db *db, const char *name, const char *const *keys, const size_t *key_lens,
                       size_t num_keys, const char *const *columns, size_t num_columns,
                       murr_batch **out, murr_error *err);
MURR_API int murr_read_opt(murr_db *db, const char *name, const char *const *keys, const size_t *key_lens,
                           size_t num_keys, const char *const *columns, size_t num_columns, unsigned flags,
                           murr_batch **out, murr_error *err);
/* murr_read_opt for keys a caller encoded against `keyed_by` (the table's schema as
 * murr_describe_table gave it): if the table serving `name` now has other key columns (it
 * was dropped and re-created with another key meanwhile), the encoded keys would mean other
 * rows, and the read is MURR_ECONFLICT naming the table instead. Only the key columns
 * (names, dtypes, order) are compared. */
MURR_API int murr_read_encoded(murr_db *db, const char *name, const murr_schema *keyed_by, const char *const *keys,
                               const size_t *key_lens, size_t num_keys, const char *const *columns,
                               size_t num_columns, unsigned flags, murr_batch **out, murr_error *err);
/* Reads by key columns: `keys` holds exactly the table's key columns, matched by name (a
 * missing or extra column is MURR_EINVAL naming it), each of the key's dtype or one that
 * widens losslessly into it (int32 into an int64 key; never a narrowing, which is
 * MURR_EINVAL naming the cast), no nulls, all of keys->num_rows rows. Then as murr_read_opt. */
MURR_API int murr_read_keys(murr_db *db, const char *name, const murr_batch *keys, const char *const *columns,
                            size_t num_columns, unsigned flags, murr_batch **out, murr_error *err);

/* Rewrites segments with garbage now, re-points live keys. Errors: MURR_ENOTFOUND. */
MURR_API int murr_compact(murr_db *db, const char *name, murr_error *err);

typedef struct murr_table_stats {
    uint64_t rows;             /* live keys */
    uint64_t live_bytes;       /* bytes of live records in segments */
    uint64_t garbage_bytes;    /* bytes of overwritten records not yet compacted */
    uint64_t segments;         /* segment files */
    uint64_t keydir_bytes;     /* memory of the key directory */
    uint64_t mapped_bytes;     /* bytes of segment files mapped */
    uint64_t writes;           /* write calls applied */
    uint64_t compactions;      /* compactions completed */
    uint64_t version;          /* id of the serving version */
} murr_table_stats;

MURR_API int murr_table_stats_get(murr_db *db, const char *name, murr_table_stats *out, murr_error *err);

/* ---------------------------------------------------------------------------------------
 * Arrow C Data Interface (https://arrow.apache.org/docs/format/CDataInterface.html): a
 * batch crosses into another Arrow implementation (pyarrow, duckdb, ...) in the same
 * process without copying a buffer. Implemented by src/format/arrow_c.c.
 * ------------------------------------------------------------------------------------- */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};
struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif

/* Moves `batch` into *out_array (a struct array, one child per column, no copy: the
 * buffers are the batch's) and describes it in *out_schema (struct of the columns, each
 * nullable, formats "u" "b" "c" "s" "i" "l" "C" "S" "I" "L" "f" "g"). On success the batch
 * belongs to the array: the consumer's call of out_array->release frees it (children are
 * released with their parent); out_schema->release frees the schema. On failure
 * (MURR_ENOMEM) nothing is moved: the caller still owns the batch. */
MURR_API int murr_batch_export_arrow(murr_batch *batch, struct ArrowArray *out_array,
                                     struct ArrowSchema *out_schema, murr_error *err);
/* A batch over the buffers of an Arrow struct array (a record batch as exported by
 * pyarrow's RecordBatch._export_to_c), without copying fixed-width values or utf8 data:
 * `array` is moved into the batch (its release is set to NULL here and called by
 * murr_batch_free); `schema` is only read (the caller releases it). Column formats are
 * the twelve above ("U" large_utf8, dictionaries, nested types: MURR_EUNSUPPORTED naming
 * the column and format); a validity or bool bitmap at a bit offset is copied to offset 0.
 * The buffers are validated as mr_batch_validate does (offsets within data, UTF-8, null
 * counts). Errors leave `array` unreleased and owned by the caller. */
MURR_API int murr_batch_import_arrow(struct ArrowArray *array, const struct ArrowSchema *schema,
                                     murr_batch **out, murr_error *err);

/* Bytes currently allocated through murr's counting allocator (whole process). */
MURR_API uint64_t murr_memory_in_use(void);

#ifdef __cplusplus
}
#endif
#endif /* MURR_H */
