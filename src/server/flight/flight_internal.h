/*
 * flight_internal.h - what the connection layer (flight_conn.c: sockets, nghttp2, gRPC
 * streams, output queue) and the RPC handlers (flight_rpc.c) share.
 *
 * A stream's response is produced message by message into st->out (iovecs that point into
 * the stream's arena or its DoGet batch); the nghttp2 data provider hands those bytes to
 * the output queue without copying (NGHTTP2_DATA_FLAG_NO_COPY). A stream is freed when
 * nghttp2 has closed it, no queued output points into it and no job holds it (st->refs).
 * Everything here runs on the loop thread, except the job fields marked (worker). While a
 * job runs (job_pending) the worker owns the stream's arena and its DoGet/DoPut fields; the
 * loop touches only the response state (a deadline or a cancel may end the call meanwhile:
 * the job's result is then dropped).
 */
#ifndef MR_SERVER_FLIGHT_INTERNAL_H
#define MR_SERVER_FLIGHT_INTERNAL_H

#include <stdatomic.h>
#include <sys/uio.h>

#include "core/arena.h"
#include "core/batch.h"
#include "core/schema.h"
#include "format/arrow_ipc.h"
#include "server/flight/flight.h"
#include "server/evcore.h"
#include "server/flight/grpc.h"

typedef struct mr_flight_conn mr_flight_conn_t;
typedef struct mr_flight_stream mr_flight_stream_t;

typedef enum mr_flight_rpc {
    MR_FLIGHT_RPC_UNKNOWN = 0,
    MR_FLIGHT_RPC_HANDSHAKE,
    MR_FLIGHT_RPC_LIST_FLIGHTS,
    MR_FLIGHT_RPC_GET_FLIGHT_INFO,
    MR_FLIGHT_RPC_POLL_FLIGHT_INFO,
    MR_FLIGHT_RPC_GET_SCHEMA,
    MR_FLIGHT_RPC_DO_GET,
    MR_FLIGHT_RPC_DO_PUT,
    MR_FLIGHT_RPC_DO_EXCHANGE,
    MR_FLIGHT_RPC_DO_ACTION,
    MR_FLIGHT_RPC_LIST_ACTIONS,
} mr_flight_rpc_t;

/* Encoded answers aim at about this many bytes per FlightData message. */
#define MR_FLIGHT_TARGET_MESSAGE (2u << 20)

struct mr_flight_stream {
    mr_flight_conn_t *conn;      /* NULL once the connection is gone (a DoPut job still runs) */
    mr_flight_stream_t *prev, *next; /* the connection's streams */
    int32_t id;
    int refs;
    mr_flight_rpc_t rpc;
    mr_arena_t arena;            /* request and response memory, freed with the stream */

    /* request headers */
    char path[160];
    size_t path_len;
    bool path_too_long;
    char method[16];
    char content_type[128];
    bool has_content_type;
    char encoding[32];
    bool has_encoding;
    char timeout_text[32];
    bool has_timeout;
    char authorization[1024];    /* the `authorization` header (Bearer, or Basic in Handshake) */
    unsigned nauthorization;     /* how many came (more than one is refused) */
    bool authorization_too_long;
    uint64_t deadline_ns;        /* monotonic; 0 = no deadline */

    /* request body */
    mr_grpc_deframer_t df;
    uint8_t *unary_msg;          /* unary RPCs: the request message (mr_free) */
    size_t unary_len;
    uint64_t nmsgs;
    uint64_t req_bytes;
    bool dispatched, req_ended;

    /* response */
    bool responded;              /* response HEADERS submitted */
    const char *resp_authorization; /* Handshake: `authorization` response header (arena), or NULL */
    bool done;                   /* final status decided (trailers submitted or pending) */
    bool closed;                 /* nghttp2 closed the stream */
    bool deadline_hit;
    bool deferred;               /* data provider returned NGHTTP2_ERR_DEFERRED */
    bool rst_after_final;        /* RST_STREAM(NO_ERROR) once the final frame is out */
    bool rst_sent;
    mr_flight_stream_t *next_deferred;
    struct iovec *out;           /* bytes of the current message(s), consumed in order */
    size_t nout, cap_out, out_idx, out_off;
    uint64_t out_left;
    int final_code;
    char final_msg[600];
    /* the message generator: appends the next message to out; *more = false when that was
     * the last one (or there was none). NULL: out holds the whole answer. */
    int (*next_msg)(mr_flight_stream_t *st, bool *more, mr_error_t *err);
    bool gen_more;

    /* DoGet */
    uint64_t get_max_keys;       /* server.http.max_fetch_keys, read on the loop for the worker */
    uint64_t get_payload_limit;  /* server.http.max_payload_size: the ticket's decode budget */
    mr_batch_t *get_batch;
    mr_ipc_field_t *get_fields;
    int64_t get_row;
    bool get_schema_sent;

    /* DoPut */
    murr_db *db;                 /* DoPut, DoGet: (worker reads) the connection may be gone by then */
    char table[MR_TABLE_NAME_MAX + 1];
    bool have_table;
    unsigned put_mode;           /* MURR_WRITE_UPSERT, or MURR_WRITE_REPLACE from a CMD descriptor */
    mr_ipc_reader_t *ipc;
    mr_batch_t **batches;
    size_t nbatches, cap_batches;
    uint8_t **keep;              /* message buffers the reader may still point into */
    size_t nkeep, cap_keep;
    bool job_pending;
    atomic_bool cancelled;       /* (worker reads) the client went away: abort */
    int job_rc;                  /* (worker writes) */
    int job_code;                /* (worker writes) the gRPC code of a failed job; 0: by job_rc */
    mr_error_t job_err;          /* (worker writes) */
    mr_ev_job_t job;             /* the DoPut commit or a large DoGet on a worker (holds a ref) */
};

/* ---- connection layer (flight_conn.c) for the RPC handlers ---- */
const mr_config_t *mr_flight_stream_cfg(const mr_flight_stream_t *st);
murr_db *mr_flight_stream_db(const mr_flight_stream_t *st);
/* Appends a borrowed piece to the current message (points into the arena or a batch). */
int mr_flight_out_add(mr_flight_stream_t *st, const void *p, size_t len);
/* Appends a gRPC message whose payload is `len` bytes copied into the arena. */
int mr_flight_out_message(mr_flight_stream_t *st, const void *p, size_t len);
/* Starts the response (HEADERS, then what out and next_msg produce, then OK trailers). */
int mr_flight_respond(mr_flight_stream_t *st);
/* Ends the call with a status: trailers-only when nothing was sent yet, otherwise the
 * trailers follow the message in flight. Formats grpc-message. */
void mr_flight_fail(mr_flight_stream_t *st, int grpc_code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Hands the stream's RPC to a worker (inline in detached mode): mr_flight_rpc_job_run runs
 * there, then mr_flight_rpc_job_done on the loop (unless the stream closed meanwhile). */
void mr_flight_submit_job(mr_flight_stream_t *st);

/* ---- access control (flight_auth.c) ---- */
/* The scopes an RPC needs (server/auth.h); `replace`: a DoPut whose CMD descriptor says
 * mode replace. */
unsigned mr_flight_scope_of_rpc(mr_flight_rpc_t rpc, bool replace);
/* Checks the call's `authorization` header for `need`; false when the call was failed
 * (UNAUTHENTICATED / PERMISSION_DENIED, counted in murr_auth_failures_total). `what` names
 * the operation in the message. */
bool mr_flight_authorize(mr_flight_stream_t *st, unsigned need, const char *what);
/* Handshake, at its headers: checks the basic (or bearer) credentials and fails the call
 * with UNAUTHENTICATED at once when they are missing or wrong; valid ones are answered, when
 * the client half-closes (mr_flight_handshake_end), with the response header
 * `authorization: Bearer <token>`. No tokens configured: an empty OK. */
void mr_flight_handshake_begin(mr_flight_stream_t *st);
void mr_flight_handshake_end(mr_flight_stream_t *st);

/* ---- RPC handlers (flight_rpc.c) ---- */
mr_flight_rpc_t mr_flight_rpc_of_path(const char *path, size_t len);
/* The headers were valid: RPCs answered without a request (UNIMPLEMENTED ones) end here. */
void mr_flight_rpc_begin(mr_flight_stream_t *st);
/* One complete request message (ownership of msg passes to the handler: mr_free). */
void mr_flight_rpc_message(mr_flight_stream_t *st, uint8_t *msg, size_t len);
/* The client half-closed the stream at a message boundary. */
void mr_flight_rpc_end(mr_flight_stream_t *st);
/* Worker side of a job. DoPut: begin (in put_mode)/append/commit (or abort). DoGet: decode
 * the ticket and read the keys into get_batch. Sets job_rc/job_err (and job_code). */
void mr_flight_rpc_job_run(mr_flight_stream_t *st);
/* Loop side: answer the call (DoPut: PutResult + OK; DoGet: the answer's messages), or the
 * error. Nothing when the call already ended (deadline). */
void mr_flight_rpc_job_done(mr_flight_stream_t *st);
/* Frees the RPC state of a stream (batches, reader, request message). */
void mr_flight_rpc_release(mr_flight_stream_t *st);

#endif
