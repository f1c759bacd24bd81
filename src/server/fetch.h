/*
 * fetch.h - the one implementation of a fetch (read columns for keys) behind HTTP POST
 * /api/v1/table/{name}/fetch and Flight DoGet, for both protocol generations:
 *   - a parsed JSON request (an HTTP body or a Flight ticket, see format/json.h): the 0.2
 *     array of keys gets a dense answer (one row per key, nulls for a miss), the 0.3
 *     object of key columns a sparse one (MURR_READ_SPARSE: `_idx` first, found keys only);
 *   - an Arrow IPC stream request (HTTP only, murr 0.3): the record batches hold the key
 *     columns, the schema metadata entry "columns" is a JSON array of the columns to
 *     return; sparse answer. `_idx` counts positions across all batches of the stream.
 * Both return murr status codes and messages; the front ends alone map them to HTTP
 * statuses and gRPC codes. The answer *out belongs to the caller (murr_batch_free).
 * Per-request scratch memory (column names, key pointers) comes from the arena `a`.
 */
#ifndef MR_SERVER_FETCH_H
#define MR_SERVER_FETCH_H

#include "core/arena.h"
#include "core/error.h"
#include "format/json.h"

/* A fetch request (HTTP body, Flight ticket) above this many bytes, about 5,000 JSON keys, is
 * answered on a worker instead of on the event loop (docs/decisions/0008-event-core.md): the
 * key count is known only once the request is parsed, its size costs nothing to test and is
 * proportional to it. */
#define MR_FETCH_INLINE_MAX (64u << 10)

/* max_keys: server.http.max_fetch_keys; a request for more keys is MURR_ETOOBIG naming
 * both numbers (HTTP 413, gRPC RESOURCE_EXHAUSTED), before any key is decoded or read.
 * The key pointers of the string fast path are charged to fr->budget (MURR_ETOOBIG).
 * Errors: those of the key decoding (mr_json_fetch_encode / mr_json_fetch_keys: MURR_EINVAL,
 * MURR_ESHAPE), a column name with a NUL (MURR_EINVAL), and those of the engine read
 * (MURR_ENOTFOUND for the table, MURR_EINVAL for a bad column, MURR_ECONFLICT when the
 * table was re-created with another key while the request was decoded). */
int mr_fetch_json(murr_db *db, const char *table, const mr_fetch_req_t *fr, uint64_t max_keys, mr_arena_t *a,
                  murr_batch **out, mr_error_t *err);

/* body: the complete request stream, borrowed (zero copy) for the duration of the call;
 * max_message bounds one IPC message and the decode budget of the stream (mr_ipc_reader_new).
 * The stream's decode budget also pays for the "columns" metadata parse and for joining
 * several batches (decision 0009).
 * Errors: MURR_ECORRUPT / MURR_EUNSUPPORTED for a bad stream, MURR_ETOOBIG over the budget, MURR_EINVAL for missing or malformed "columns"
 * metadata, then those of murr_read_keys (names, dtypes, nulls of the key columns). */
int mr_fetch_arrow(murr_db *db, const char *table, const uint8_t *body, size_t len, uint64_t max_message,
                   uint64_t max_keys, mr_arena_t *a, murr_batch **out, mr_error_t *err);

#endif
