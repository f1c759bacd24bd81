/* evcore_internal.h - what the event core's files share (evcore.c: loops, listeners,
 * connections, timers, drain, detached mode; evcore_jobs.c: the worker pool and
 * completions; evcore_out.c: the output queue). Protocol modules use evcore.h only. */
#ifndef MR_SERVER_EVCORE_INTERNAL_H
#define MR_SERVER_EVCORE_INTERNAL_H

#include <pthread.h>

#include "core/net.h"
#include "server/evcore.h"

#define MR_EV_MAX_LISTENERS 4

struct mr_ev_listener {
    mr_ev_core_t *core;
    int idx;                       /* in core->listeners */
    mr_ev_listener_spec_t spec;
    char what[96];                 /* "HTTP on 0.0.0.0:8080", for messages */
    int fd;                        /* -1: detached, or closed at drain */
    uint16_t port;
    _Atomic unsigned open;         /* connections open now */
};

struct mr_ev_loop {
    mr_ev_core_t *core;
    int epfd, evfd;                /* evfd: completions and the stop signal wake the loop */
    pthread_t th;
    mr_net_acceptor_t acc[MR_EV_MAX_LISTENERS];          /* one per listener (spare fd each) */
    uint64_t listen_paused_until[MR_EV_MAX_LISTENERS];   /* out of descriptors: out of epoll */
    mr_ev_conn_t *conns;
    mr_ev_conn_t *graveyard;       /* closed, freed at the end of the iteration / last job */
    mr_ev_conn_t *ready;           /* input inside their transport (TLS): on_input again */
    uint64_t last_tick;
    /* completed jobs, pushed by workers (done_lock only, never with another lock) */
    pthread_mutex_t done_lock;
    mr_ev_job_t *done;
};

struct mr_ev_core {
    int nloops, nworkers;
    mr_ev_loop_t *loops;
    pthread_t *workers;
    mr_ev_listener_t *listeners[MR_EV_MAX_LISTENERS];
    int nlisteners;
    bool detached, started;
    _Atomic bool stopping, quit;
    _Atomic int jobs_running;      /* submitted and not yet completed on their loop */
    _Atomic unsigned conns;        /* open connections, all listeners */
    _Atomic uint64_t out_queued;   /* output queued and unwritten, all connections */
    uint64_t out_budget;
    uint32_t out_stall_ms;
    /* the job queue (jlock only) */
    pthread_mutex_t jlock;
    pthread_cond_t jcond;
    mr_ev_job_t *jhead, *jtail;
    bool jquit;
};

/* evcore_jobs.c */
void mr_ev_jobs_start(mr_ev_core_t *core);
void mr_ev_jobs_stop(mr_ev_core_t *core);
/* Runs the completions queued for this loop (on_job_done, then deferred frees). */
void mr_ev_jobs_complete(mr_ev_loop_t *l);

/* evcore.c */
/* Recomputes the epoll interest (a syscall only when it changes). */
void mr_ev_conn_update(mr_ev_conn_t *c);

/* evcore_out.c */
mr_ev_outq_t *mr_ev_outq_new(_Atomic uint64_t *global);
/* Releases everything still queued and frees the queue. */
void mr_ev_outq_free(mr_ev_outq_t *q);

#endif
