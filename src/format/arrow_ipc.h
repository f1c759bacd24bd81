/*
 * arrow_ipc.h - Arrow IPC stream format: writer from mr_batch_t and incremental reader into
 * mr_batch_t. Flatbuffers (Message, Schema, RecordBatch, DictionaryBatch) are read and built
 * by hand; every length, offset, table and vtable of untrusted input is bounds-checked.
 *
 * Writer: messages are produced as metadata bytes (allocated in a caller's arena) plus body
 * iovecs that point at the batch's own buffers (zero copy); mr_ipc_frame_stream() adds the
 * continuation markers, lengths, padding and end-of-stream marker for the HTTP stream,
 * while Flight sends meta (data_header) and body (data_body) separately.
 *
 * Reader: fed bytes as they arrive; yields the schema, then record batches (dictionary
 * batches, including deltas, are applied internally and dictionary-encoded strings are
 * decoded into plain utf8). Accepts the continuation marker and the legacy 4-byte prefix,
 * LargeUtf8/Utf8View/dictionary strings, List/LargeList/FixedSizeList of Float32, HalfFloat
 * and Int8 (list dtypes, decision 0012), LZ4_FRAME and ZSTD body compression, sliced
 * buffers (non-zero offsets), zero-row batches. Unsupported types are refused with an
 * error naming the field and the type.
 */
#ifndef MR_FORMAT_ARROW_IPC_H
#define MR_FORMAT_ARROW_IPC_H

#include <sys/uio.h>

#include "core/arena.h"
#include "core/batch.h"
#include "core/error.h"

#define MR_IPC_CONTENT_TYPE "application/vnd.apache.arrow.stream"

typedef struct mr_ipc_field {
    const char *name;
    size_t name_len;
    murr_dtype dtype;
    bool nullable;
    int32_t dim;          /* list dtypes: FixedSizeList size, 0 for List */
} mr_ipc_field_t;

typedef struct mr_ipc_kv {
    const char *key;
    const char *value;
} mr_ipc_kv_t;

typedef struct mr_ipc_msg {
    const uint8_t *meta;   /* flatbuffer Message bytes */
    size_t meta_len;
    struct iovec *body;    /* body buffers, each 8-byte padded; may point into the batch */
    int body_iovcnt;
    int64_t body_len;      /* sum of body iov lengths (multiple of 8) */
} mr_ipc_msg_t;

/* ---- writer ---- */
/* Schema message with the given fields and optional schema metadata (e.g. {"key","id"}). */
int mr_ipc_encode_schema(mr_arena_t *a, const mr_ipc_field_t *fields, size_t nfields, const mr_ipc_kv_t *meta,
                         size_t nmeta, mr_ipc_msg_t *out, mr_error_t *err);
/* Record batch message for rows [row_off, row_off+rows) of b. A slice that does not start
 * at a byte boundary of a bitmap is copied into the arena; everything else points into b. */
int mr_ipc_encode_batch(mr_arena_t *a, const mr_batch_t *b, int64_t row_off, int64_t rows, mr_ipc_msg_t *out,
                        mr_error_t *err);
/* Fields of a batch (all nullable but the `_idx` column of a sparse answer), allocated in
 * the arena: for fetch responses. */
mr_ipc_field_t *mr_ipc_fields_of_batch(mr_arena_t *a, const mr_batch_t *b);
/* Frames messages as an IPC stream (continuation 0xFFFFFFFF, int32 metadata length padded to
 * 8, metadata, body) followed, if `eos`, by the end-of-stream marker. */
int mr_ipc_frame_stream(mr_arena_t *a, const mr_ipc_msg_t *msgs, size_t nmsgs, bool eos, struct iovec **iov,
                        int *iovcnt, size_t *total, mr_error_t *err);
/* Convenience: schema (fields of b, all nullable) + one batch + EOS. */
int mr_ipc_write_stream(mr_arena_t *a, const mr_batch_t *b, const mr_ipc_kv_t *meta, size_t nmeta,
                        struct iovec **iov, int *iovcnt, size_t *total, mr_error_t *err);

/* ---- reader ---- */
typedef struct mr_ipc_reader mr_ipc_reader_t;

typedef struct mr_ipc_schema {
    size_t nfields;
    mr_ipc_field_t *fields;   /* dtype: the murr dtype values decode into */
    const char **type_names;  /* per field, the Arrow type as sent ("LargeUtf8", "Utf8View",
                                 "Dictionary<Int32, Utf8>", ...) for messages */
    size_t nmeta;
    mr_ipc_kv_t *meta;
} mr_ipc_schema_t;

/* max_message: a limit on one message's metadata and on its body (bytes; 0 = none); a
 * message declaring more is MURR_ECORRUPT. payload_limit sets the stream's decode budget
 * (core/budget.h: every byte the reader allocates for the stream, all its batches and
 * dictionaries together, is charged before it is allocated; over it, MURR_ETOOBIG naming
 * limit_source, the bytes needed and the field). */
mr_ipc_reader_t *mr_ipc_reader_new(uint64_t max_message, uint64_t payload_limit, const char *limit_source);
/* The stream's decode budget (limit, bytes charged so far, peak); what the caller decodes
 * further from the stream's batches (a concatenation) is charged to it too. */
struct mr_budget *mr_ipc_reader_budget(mr_ipc_reader_t *r);
void mr_ipc_reader_free(mr_ipc_reader_t *r);
/* Appends input bytes (copied as needed). */
int mr_ipc_reader_feed(mr_ipc_reader_t *r, const uint8_t *data, size_t len, mr_error_t *err);
/* Zero-copy alternative to feed for a complete stream held by the caller: the reader and
 * every batch it returns point into data, which must outlive them and not change. Only on
 * a fresh reader; feed is refused afterwards. */
int mr_ipc_reader_borrow(mr_ipc_reader_t *r, const uint8_t *data, size_t len, mr_error_t *err);
/* Decodes the next record batch: 0 with *out set (caller frees), 0 with *out == NULL at
 * end-of-stream, MURR_EAGAIN when more input is needed, or an error (ECORRUPT,
 * EUNSUPPORTED, ETOOBIG: over the decode budget, ENOMEM) with a message naming the
 * offset/field. */
int mr_ipc_reader_next(mr_ipc_reader_t *r, mr_batch_t **out, mr_error_t *err);
/* The input has ended: 0 if it ended at a message boundary after the schema, else
 * MURR_ECORRUPT ("truncated ... at offset N"). */
int mr_ipc_reader_finish(mr_ipc_reader_t *r, mr_error_t *err);
/* Decodes every remaining record batch of a complete (borrowed or fully fed) stream, then
 * checks it ended cleanly (mr_ipc_reader_finish). On success *out is an mr_malloc'd array
 * of *n batches (possibly 0; free with mr_ipc_batches_free); on error nothing is returned. */
int mr_ipc_read_all(mr_ipc_reader_t *r, mr_batch_t ***out, size_t *n, mr_error_t *err);
void mr_ipc_batches_free(mr_batch_t **batches, size_t n);
/* NULL until the schema message has been read. */
const mr_ipc_schema_t *mr_ipc_reader_schema(const mr_ipc_reader_t *r);
/* Flight: one message given as metadata (flatbuffer Message) + body. Schema messages set
 * the schema (*out stays NULL); dictionary batches are absorbed; record batches set *out. */
int mr_ipc_reader_message(mr_ipc_reader_t *r, const uint8_t *meta, size_t meta_len, const uint8_t *body,
                          size_t body_len, mr_batch_t **out, mr_error_t *err);

#endif
