/*
 * evcore.h - the event core under both protocols (HTTP/1.1 and gRPC/Flight): loop threads
 * with epoll, listeners, the connection table, per-connection timers and idle timeout, the
 * output writer, the job queue and worker pool with completions back on the connection's
 * loop, drain on shutdown, the connection cap, and a detached mode (one connection over a
 * socketpair on the caller's thread) for fuzzing and unit tests. Why: docs/decisions/
 * 0008-event-core.md.
 *
 * A protocol is a module: an ops table (mr_ev_proto_ops_t) called on the connection's loop
 * thread. The core owns the descriptor (through the transport, transport.h), the epoll
 * interest, the output queue and its writes; the protocol owns parsing and answers.
 *
 * Connections: a listener says how large its connection object is (conn_size >=
 * sizeof(mr_ev_conn_t), the core part first); the core allocates it zeroed at accept and
 * frees it once the connection is closed and no job of it is still running. After
 * mr_ev_conn_close the protocol's on_close has run, the transport is gone, and the only
 * callback still made for the connection is on_job_done (with mr_ev_conn_closed true) for
 * jobs that were running.
 *
 * Threads: N loops (each its own epoll set; every listener is in every set with
 * EPOLLEXCLUSIVE, a connection stays on the loop that accepted it) and a worker pool.
 * Everything in this header is loop-thread-only unless marked (any thread).
 */
#ifndef MR_SERVER_EVCORE_H
#define MR_SERVER_EVCORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/error.h"
#include "server/transport.h"

typedef struct mr_ev_core mr_ev_core_t;
typedef struct mr_ev_loop mr_ev_loop_t;
typedef struct mr_ev_listener mr_ev_listener_t;
typedef struct mr_ev_conn mr_ev_conn_t;
typedef struct mr_ev_outq mr_ev_outq_t;

/* Work handed to a worker: run() on a worker thread (inline in detached mode), then the
 * protocol's on_job_done on the connection's loop. Embed it in the protocol's job. */
typedef struct mr_ev_job {
    struct mr_ev_job *next;
    mr_ev_conn_t *conn;
    void (*run)(struct mr_ev_job *j);
} mr_ev_job_t;

typedef struct mr_ev_proto_ops {
    const char *name; /* "HTTP", "Flight": log lines */
    /* A new connection (core part set up). Nonzero: closed at once (on_close is not called). */
    int (*on_open)(mr_ev_conn_t *c);
    /* Input is ready (or end of stream): read with mr_ev_conn_read until it says stop. */
    void (*on_input)(mr_ev_conn_t *c);
    /* The output queue went from full (over its high-water mark) to empty enough again, or
     * was fully written: answers held back may go on. May be NULL. */
    void (*on_writable)(mr_ev_conn_t *c);
    /* A job of this connection finished. The protocol frees the job. */
    void (*on_job_done)(mr_ev_conn_t *c, mr_ev_job_t *j);
    /* Every tick (MR_EV_TICK_MS): protocol timers (header timeout, gRPC deadlines). May close.
     * May be NULL. */
    void (*on_tick)(mr_ev_conn_t *c, uint64_t now_ns);
    /* Shutdown started: stop taking new requests (gRPC sends GOAWAY). May be NULL: the core
     * closes quiet connections while stopping in any case. */
    void (*on_drain)(mr_ev_conn_t *c);
    /* Nothing in progress: no request partly received or being answered. A quiet connection
     * is closed by the idle timeout and at drain. */
    bool (*is_quiet)(mr_ev_conn_t *c);
    /* Free the protocol's state (the transport is still open: last words may not be sent). */
    void (*on_close)(mr_ev_conn_t *c);
    /* Connection cap reached: bytes to write before closing (e.g. a 503), or 0. May be NULL. */
    size_t (*refusal)(const mr_ev_listener_t *l, char *buf, size_t cap);
} mr_ev_proto_ops_t;

typedef struct mr_ev_listener_spec {
    const char *host;
    uint16_t port;                 /* 0: any free port */
    const mr_ev_proto_ops_t *ops;
    size_t conn_size;              /* sizeof the protocol's connection (mr_ev_conn_t first) */
    void *proto_arg;               /* the protocol's server object (mr_ev_listener_arg) */
    mr_transport_factory_t transport_new; /* NULL: plain sockets */
    void *transport_arg;
    uint32_t max_connections;      /* open connections of this listener; more are refused */
    uint32_t idle_timeout_ms;      /* quiet this long (or output unread this long): closed */
    _Atomic uint64_t *bytes_in, *bytes_out; /* counters to add transferred bytes to (may be NULL) */
} mr_ev_listener_spec_t;

#define MR_EV_TICK_MS 50
/* Output queued on one connection above which its protocol stops producing (per connection,
 * a flow-control mark; the share of the global budget can be lower, mr_ev_out_limit). */
#define MR_EV_OUT_HIGH_WATER (8u << 20)
/* A connection's share of the output budget never drops below this (a few answers). */
#define MR_EV_OUT_MIN_SHARE (256u << 10)

struct mr_ev_conn {
    mr_ev_loop_t *loop;
    mr_ev_listener_t *listener;
    int fd;                        /* for epoll only: I/O goes through tr */
    mr_transport_t tr;
    mr_ev_conn_t *prev, *next;     /* the loop's connection table */
    mr_ev_outq_t *out;             /* the output queue (evcore_out.c) */
    bool want_out;                 /* a write would block: EPOLLOUT armed */
    bool in_paused;                /* the protocol stopped reading (busy, answers unread) */
    bool eof;                      /* read returned 0 or a fatal error */
    bool closed;
    bool drain_seen;               /* on_drain called */
    bool open_failed;              /* on_open refused it: on_close is not owed */
    bool out_tr_blocked;           /* a write would block until the transport reads (TLS) */
    bool in_ready;                 /* on the loop's ready list: the transport holds input */
    mr_ev_conn_t *ready_next;
    uint32_t ev_mask;
    int jobs;                      /* jobs running for this connection */
    uint64_t last_ns;              /* last byte read or written */
    uint64_t over_since_ns;        /* over its output share without the peer reading since; 0: not */
};

/* ---- the core ---- */

/* A core with `loops` loop threads (0: one per CPU) and `workers` worker threads (0: as many
 * as loops, at least 2). Not started: add listeners, then mr_ev_core_start. */
mr_ev_core_t *mr_ev_core_new(int loops, int workers);
/* Binds and listens (errors name the address: "cannot listen on 127.0.0.1:8080: ..."). */
int mr_ev_core_listen(mr_ev_core_t *core, const mr_ev_listener_spec_t *spec, mr_ev_listener_t **out,
                      mr_error_t *err);
int mr_ev_core_start(mr_ev_core_t *core, mr_error_t *err);
int mr_ev_core_nloops(const mr_ev_core_t *core);
/* The output budget (before start): bytes queued and not yet read by the peers, all
 * connections of all listeners together. A connection's share is max(MR_EV_OUT_MIN_SHARE,
 * budget / open connections). While the total is over the budget, a connection over its
 * share stops producing (mr_ev_out_full) and its input is not read (so the total stays
 * under about budget + connections x share, and a connection under its share is always
 * served); a connection over its share for stall_ms without the peer reading a byte is
 * closed. Default: 256 MiB, 10 s. */
void mr_ev_core_set_output_budget(mr_ev_core_t *core, uint64_t bytes, uint32_t stall_ms);
/* (any thread) output queued now, all connections */
uint64_t mr_ev_core_output_queued(const mr_ev_core_t *core);
int mr_ev_core_nworkers(const mr_ev_core_t *core);
/* Graceful stop: stop accepting, on_drain every connection, wait for in-flight jobs and for
 * connections to close (quiet ones are closed; output drains), up to drain_ms; then close
 * what is left, stop the threads and free. Returns how many connections were still open at
 * the deadline. */
unsigned mr_ev_core_stop(mr_ev_core_t *core, uint32_t drain_ms);
/* (any thread) shutdown has started */
bool mr_ev_core_stopping(const mr_ev_core_t *core);

uint16_t mr_ev_listener_port(const mr_ev_listener_t *l);
void *mr_ev_listener_arg(const mr_ev_listener_t *l);
uint32_t mr_ev_listener_max_connections(const mr_ev_listener_t *l);
/* (any thread) connections of this listener open now */
unsigned mr_ev_listener_open(const mr_ev_listener_t *l);
mr_ev_core_t *mr_ev_conn_core(const mr_ev_conn_t *c);
static inline void *mr_ev_conn_arg(const mr_ev_conn_t *c);

/* ---- a connection ---- */

/* Reads up to n bytes: >0 read, 0 at end of stream (eof set), -1 would block (EAGAIN) or
 * failed (eof set; the connection is closed after the callback). */
ssize_t mr_ev_conn_read(mr_ev_conn_t *c, void *buf, size_t n);
/* Input interest: a paused connection's bytes stay in the kernel (TCP back-pressure). */
void mr_ev_conn_pause_input(mr_ev_conn_t *c, bool paused);
/* No more input will be read (answers still go out). */
void mr_ev_conn_shutdown_read(mr_ev_conn_t *c);
/* Closes now: on_close, the transport, out of the table; memory goes when no job runs. */
void mr_ev_conn_close(mr_ev_conn_t *c);
static inline bool mr_ev_conn_closed(const mr_ev_conn_t *c) { return c->closed; }
/* Hands a job to the worker pool (inline in detached mode; its on_job_done then runs after
 * the current callback returns, as on a loop). */
void mr_ev_submit(mr_ev_conn_t *c, mr_ev_job_t *j);

/* ---- output (evcore_out.c): a queue of byte ranges written with the transport's writev ---- */

/* Queues `len` bytes the caller keeps alive until release(arg) is called (after they are
 * written, or when the connection closes); release may be NULL. 0, or MURR_EIO on a closed
 * connection (release is called at once). */
int mr_ev_out_ref(mr_ev_conn_t *c, const void *p, size_t len, void (*release)(void *), void *arg);
/* The same, for ranges that keep `held` more bytes alive until release (an answer's request
 * arena): counted in the output budget with the bytes themselves. */
int mr_ev_out_ref_held(mr_ev_conn_t *c, const void *p, size_t len, void (*release)(void *), void *arg, size_t held);
/* Queues a copy of `len` bytes (small pieces coalesce). 0, MURR_ENOMEM, or MURR_EIO (closed). */
int mr_ev_out_copy(mr_ev_conn_t *c, const void *p, size_t len);
/* Bytes queued and not yet written. */
size_t mr_ev_out_queued(const mr_ev_conn_t *c);
/* What the queue costs the output budget: the bytes plus what they keep alive. */
size_t mr_ev_out_held(const mr_ev_conn_t *c);
/* This connection's share of the output budget now. */
size_t mr_ev_out_share(const mr_ev_conn_t *c);
/* What a protocol may queue before it stops producing: its high-water mark, or while the
 * total is over the budget, min(high_water, the share). */
size_t mr_ev_out_limit(const mr_ev_conn_t *c, size_t high_water);
static inline bool mr_ev_out_full(const mr_ev_conn_t *c)
{
    return mr_ev_out_held(c) > mr_ev_out_limit(c, MR_EV_OUT_HIGH_WATER);
}
/* Writes what the transport takes now; arms EPOLLOUT when it would block. 0, or -1 when the
 * connection broke (the caller closes it). */
int mr_ev_flush(mr_ev_conn_t *c);

/* ---- detached mode (fuzzing, unit tests) ---- */

/* A core without threads or sockets of its own, with one listener of `spec` (host/port
 * unused). mr_ev_detached_run opens one connection of it over a socketpair, writes `data`
 * in pieces of `split` bytes (0: as much as the socket takes), then ends the input, and
 * drives the connection with the same callbacks as a loop (jobs inline) until it closes;
 * what the server wrote is appended to out (may be NULL). */
mr_ev_core_t *mr_ev_core_new_detached(const mr_ev_listener_spec_t *spec);
int mr_ev_detached_run(mr_ev_core_t *core, const uint8_t *data, size_t len, size_t split, mr_buf_t *out);
void mr_ev_core_free_detached(mr_ev_core_t *core);

static inline void *mr_ev_conn_arg(const mr_ev_conn_t *c) { return mr_ev_listener_arg(c->listener); }

#endif
