/* parquet_internal.h - what the Parquet metadata reader (parquet.c) and the page decoder
 * (parquet_page.c) share. */
#ifndef MR_FORMAT_PARQUET_INTERNAL_H
#define MR_FORMAT_PARQUET_INTERNAL_H

#include "format/parquet.h"

enum { PQ_BOOLEAN = 0, PQ_INT32 = 1, PQ_INT64 = 2, PQ_INT96 = 3, PQ_FLOAT = 4, PQ_DOUBLE = 5, PQ_BYTE_ARRAY = 6,
       PQ_FIXED_LEN_BYTE_ARRAY = 7 };
enum { PQ_UNCOMPRESSED = 0, PQ_SNAPPY = 1, PQ_GZIP = 2, PQ_LZO = 3, PQ_BROTLI = 4, PQ_LZ4 = 5, PQ_ZSTD = 6,
       PQ_LZ4_RAW = 7 };
enum { PQ_PLAIN = 0, PQ_PLAIN_DICTIONARY = 2, PQ_RLE = 3, PQ_BIT_PACKED = 4, PQ_DELTA_BINARY_PACKED = 5,
       PQ_DELTA_LENGTH_BYTE_ARRAY = 6, PQ_DELTA_BYTE_ARRAY = 7, PQ_RLE_DICTIONARY = 8, PQ_BYTE_STREAM_SPLIT = 9 };

typedef struct pq_column {
    char *name;
    int physical;        /* PQ_* type */
    murr_dtype dtype;
    bool optional;       /* max definition level 1; a list: the list is nullable */
    bool list;           /* a 3-level LIST (list dtype, variable length): levels below */
    bool elem_optional;  /* list: its element leaf is optional (nulls refused on decode) */
    int max_def;         /* list: 1 (repeated) + optional list + optional element */
} pq_column_t;

typedef struct pq_chunk {
    int codec;
    int64_t num_values;
    int64_t data_page_offset;
    int64_t dictionary_page_offset; /* -1 if none */
    int64_t total_compressed_size;
} pq_chunk_t;

typedef struct pq_row_group {
    int64_t num_rows;
    pq_chunk_t *chunks;  /* one per column */
} pq_row_group_t;

struct mr_pq_file {
    const uint8_t *data;
    size_t len;
    struct mr_budget *budget; /* the caller's, borrowed: charged by every decode */
    int64_t num_rows;
    int ncols;
    pq_column_t *cols;
    int ngroups;
    pq_row_group_t *groups;
};

/* A LIST column chunk being assembled from its levels (parquet_levels.c): each level with
 * repetition 0 starts a row (null list, empty list, or the first element); 1 continues it. */
typedef struct pq_list_out {
    mr_column_t *col;    /* validity (all valid) and rows+1 offsets allocated */
    mr_buf_t elems;      /* element bytes, in the column's list dtype */
    int64_t rows_done, rows;
    bool open;           /* a row has been started (continuations need one) */
} pq_list_out_t;

/* The most levels one page of a list column may declare (two uint32 arrays of this size
 * are the page's decode budget: 128 MiB). */
#define MR_PQ_LIST_LEVELS_MAX ((int64_t)1 << 24)

/* Appends n levels (rep, def) with the m leaf values `vals` (physical FLOAT, FLBA(2) or INT32, one
 * per def == max_def) to o. Errors name the column, row group and row: MURR_ECORRUPT for a
 * continuation without a started row, levels above their maxima, more rows than the row
 * group or values than the levels; MURR_EINVAL for a null element or an INT32 outside int8;
 * MURR_ETOOBIG past INT32_MAX elements. */
int mr_pq_assemble_list(pq_list_out_t *o, const pq_column_t *col, int rg, const uint32_t *rep, const uint32_t *def,
                        int64_t n, const uint8_t *vals, int64_t m, mr_error_t *err);

/* Decodes one column chunk of `rows` rows into column `ci` of batch b. */
int mr_pq_decode_chunk(const mr_pq_file_t *f, int rg, int ci, mr_batch_t *b, mr_error_t *err);

#endif
