/* arrow_ipc_internal.h - what the Arrow IPC reader's parts share: the record batch
 * decoding context and the list decoder (arrow_ipc_list.c). Not for use outside format/. */
#ifndef MR_FORMAT_ARROW_IPC_INTERNAL_H
#define MR_FORMAT_ARROW_IPC_INTERNAL_H

#include "core/budget.h"
#include "format/arrow_ipc.h"
#include "format/flatbuf.h"

typedef struct rb_ctx {
    mr_batch_t *out;
    const uint8_t *body;      /* in the batch arena */
    int64_t body_len;
    const uint8_t *nodes;     /* FieldNode structs */
    size_t nnodes, node_i;
    const uint8_t *bufs;      /* Buffer structs */
    size_t nbufs, buf_i;
    const uint8_t *variadic;  /* variadicBufferCounts (int64) */
    size_t nvariadic, variadic_i;
    int codec;                /* -1 none, 0 LZ4_FRAME, 1 ZSTD */
    uint64_t msg_off;
    mr_budget_t *budget;      /* the stream's: charged before every allocation (decision 0009) */
} rb_ctx_t;

/* The next body buffer of the batch (range-checked, decompressed) and the next field node
 * {length, null_count} (arrow_ipc_read.c). */
int mr_ipc_rb_buffer(rb_ctx_t *c, const char *fname, const uint8_t **data, int64_t *len, mr_error_t *err);
int mr_ipc_rb_node(rb_ctx_t *c, const char *fname, int64_t *length, int64_t *null_count, mr_error_t *err);
/* n bytes in the batch for `what` of field fname, charged to the stream's budget first; NULL
 * with err set (MURR_ETOOBIG over the budget, MURR_ENOMEM). */
void *mr_ipc_rb_alloc(rb_ctx_t *c, uint64_t n, const char *what, const char *fname, mr_error_t *err);

/* Arrow List / LargeList / FixedSizeList of Float32, HalfFloat or Int8 (decision 0012). */
typedef enum { MR_IPC_LIST, MR_IPC_LARGE_LIST, MR_IPC_FIXED_LIST } mr_ipc_list_kind_t;

/* Schema: a list field's type (tt: its Arrow Type union tag, T_LIST 12, T_FSL 16, T_LARGE_LIST
 * 21) and its one child. Sets *dtype, *dim (fixed size) and the type's name for messages
 * ("FixedSizeList<Float32, 768>"). Errors: MURR_EUNSUPPORTED naming the field for an element
 * type other than Float32, HalfFloat or Int8 (including a nested list: one level only),
 * MURR_ECORRUPT for a malformed type. */
int mr_ipc_list_field(const fb_table_t *ft, uint8_t tt, const fb_table_t *type, bool has_type, const char *fname,
                      mr_ipc_list_kind_t *kind, murr_dtype *dtype, int32_t *dim, char *tn, size_t tncap, mr_error_t *err);
/* Record batch: the buffers after the list's validity (offsets; the child's node, validity
 * and values) into col (dtype, dim set). Offsets must be non-decreasing and inside the
 * child, the child's length must match (rows x dim for a fixed list), elements must not be
 * null (MURR_EINVAL naming field and count). */
int mr_ipc_list_decode(rb_ctx_t *c, const char *fname, mr_ipc_list_kind_t kind, murr_dtype dtype, int32_t dim,
                       int64_t rows, mr_column_t *col, mr_error_t *err);

#endif
