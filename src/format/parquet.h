/*
 * parquet.h - a Parquet reader for flat schemas and 3-level LIST columns, into mr_batch_t,
 * one row group at a time.
 *
 * The whole file is in memory (an HTTP body); mr_pq_open validates the magic, the footer
 * and FileMetaData and maps every column onto a murr dtype (a 3-level LIST of FLOAT,
 * FIXED_LEN_BYTE_ARRAY(2) FLOAT16 or INT32 INT_8, as pyarrow and duckdb write lists, onto a variable-length list dtype:
 * parquet_levels.c assembles rows from its levels), refusing other nested or repeated
 * columns, INT96, decimals, dates, times, timestamps and fixed-length byte arrays with
 * MURR_EUNSUPPORTED naming the column and its type. Pages: data page v1 and v2, dictionary
 * pages; encodings PLAIN, PLAIN_DICTIONARY / RLE_DICTIONARY, RLE / bit-packed levels and
 * RLE booleans, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY,
 * BYTE_STREAM_SPLIT; codecs UNCOMPRESSED, SNAPPY, GZIP, ZSTD, LZ4_RAW, LZ4 (Hadoop
 * framing), BROTLI. Every offset, length and count of the file is bounds-checked;
 * corruption is MURR_ECORRUPT naming the column, row group and byte offset.
 */
#ifndef MR_FORMAT_PARQUET_H
#define MR_FORMAT_PARQUET_H

#include "core/batch.h"
#include "core/error.h"

#define MR_PARQUET_CONTENT_TYPE "application/vnd.apache.parquet"

typedef struct mr_pq_file mr_pq_file_t;

struct mr_budget;

/* data must outlive the file handle and the batches read from it. budget (core/budget.h) is
 * the file's decode budget, borrowed until mr_pq_close: the metadata, every row group's
 * columns, decompressed pages and dictionary expansion are charged to it before they are
 * allocated (row groups add up; page scratch is given back when the page is done). Over it,
 * MURR_ETOOBIG naming the limit, the bytes needed and the column. */
int mr_pq_open(const uint8_t *data, size_t len, struct mr_budget *budget, mr_pq_file_t **out, mr_error_t *err);
int mr_pq_num_row_groups(const mr_pq_file_t *f);
int64_t mr_pq_num_rows(const mr_pq_file_t *f);
int mr_pq_num_columns(const mr_pq_file_t *f);
const char *mr_pq_column_name(const mr_pq_file_t *f, int col);
murr_dtype mr_pq_column_dtype(const mr_pq_file_t *f, int col);
/* Decodes row group rg into a new batch with every column of the file (caller frees).
 * Errors: MURR_ECORRUPT, MURR_EUNSUPPORTED, MURR_ETOOBIG (the budget), MURR_ENOMEM. */
int mr_pq_read_row_group(mr_pq_file_t *f, int rg, mr_batch_t **out, mr_error_t *err);
void mr_pq_close(mr_pq_file_t *f);

/* Row groups decoded one ahead on a thread of their own (parquet_ahead.c): while it runs,
 * only the decoder uses f and its budget, and at most two decoded row groups are alive (the
 * one the caller holds and the one being decoded). start: MURR_ENOMEM if the thread cannot
 * start. next: waits for the next row group in order: 0 with *out = its batch (the
 * caller's) or *out = NULL after the last; or the error mr_pq_read_row_group gave; *group
 * = that row group's index. stop: the decoder finishes at its next row group boundary and
 * is joined; an undelivered batch is freed; f is the caller's again (close it after). */
typedef struct mr_pq_ahead mr_pq_ahead_t;
int mr_pq_ahead_start(mr_pq_file_t *f, mr_pq_ahead_t **out, mr_error_t *err);
int mr_pq_ahead_next(mr_pq_ahead_t *a, mr_batch_t **out, int *group, mr_error_t *err);
void mr_pq_ahead_stop(mr_pq_ahead_t *a);

#endif
