/*
 * budget.h - the decode budget: one per untrusted body (an HTTP write or fetch body, a Flight
 * DoPut stream, a Parquet file the loader reads). Every decoder charges the bytes it is about
 * to allocate because of what the input says (decompressed buffers and pages, dictionary
 * expansion, materialised batch columns, offsets and validity) *before* allocating them; a
 * charge that would take the total above the limit fails with MURR_ETOOBIG and a message
 * naming the limit, where it comes from, the bytes that would have been needed and the
 * column. The rule that sets the limit is in docs/decisions/0009-decode-budgets.md:
 * limit = the payload limit in use (server.http.max_payload_size) x MR_BUDGET_FACTOR.
 *
 * Charges are cumulative over the body (batches of one stream add up); a decoder releases
 * what it charged for transient scratch (a decompressed page it frees) so the count stays
 * the live decoded memory. Not thread-safe: one body is decoded by one thread.
 */
#ifndef MR_CORE_BUDGET_H
#define MR_CORE_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

/* decoded bytes of one body <= MR_BUDGET_FACTOR x the payload limit (decision 0009) */
#define MR_BUDGET_FACTOR 1u

typedef struct mr_budget {
    uint64_t limit;     /* bytes */
    uint64_t used;      /* charged and not released */
    uint64_t peak;      /* highest `used` seen */
    const char *source; /* what the limit derives from, for messages (static string) */
} mr_budget_t;

/* limit = payload_limit x MR_BUDGET_FACTOR, saturating at UINT64_MAX; source names the
 * configuration key (e.g. "server.http.max_payload_size"). */
void mr_budget_init(mr_budget_t *b, uint64_t payload_limit, const char *source);
/* A data file the loader reads (not an HTTP body, so no payload limit applies): it may decode
 * into max(MR_BUDGET_FILE_RATIO x its size, MR_BUDGET_FILE_FLOOR) bytes per row group. */
#define MR_BUDGET_FILE_RATIO 64u
#define MR_BUDGET_FILE_FLOOR ((uint64_t)1 << 30)
void mr_budget_init_file(mr_budget_t *b, uint64_t file_size);
/* a * b into *out; false (and *out = UINT64_MAX) if it overflows 64 bits */
bool mr_budget_mul(uint64_t a, uint64_t b, uint64_t *out);
/* Charges `bytes` for `what` ("a ZSTD buffer", "dictionary expansion", ...) of `column`
 * (may be NULL). 0, or MURR_ETOOBIG with nothing charged. */
int mr_budget_charge(mr_budget_t *b, uint64_t bytes, const char *what, const char *column, mr_error_t *err);
/* count * size bytes, the multiplication overflow-checked (an overflow is over any limit). */
int mr_budget_charge_n(mr_budget_t *b, uint64_t count, uint64_t size, const char *what, const char *column,
                       mr_error_t *err);
/* The refusal of a decoder that stopped counting as soon as its total passed the room left
 * (at_least > mr_budget_room): MURR_ETOOBIG, "... needs at least N bytes ...". */
int mr_budget_refuse(const mr_budget_t *b, uint64_t at_least, const char *what, const char *column, mr_error_t *err);
/* Bytes that can still be charged (limit - used); inline: decoders test it per value. */
static inline uint64_t mr_budget_room(const mr_budget_t *b) { return b->used >= b->limit ? 0 : b->limit - b->used; }
/* Gives back bytes charged earlier (transient scratch that has been freed). */
void mr_budget_release(mr_budget_t *b, uint64_t bytes);

#endif
