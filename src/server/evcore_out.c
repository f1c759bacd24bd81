/*
 * evcore_out.c - a connection's output queue: byte ranges in order, each either a copy the
 * queue owns (small pieces, e.g. HTTP/2 frame headers, coalesce into 4 KiB chunks) or a
 * borrowed range (an answer's own buffers: zero copy) with a release callback called once
 * the range is written or the connection closes. mr_ev_flush writes the queue with the
 * transport's writev, up to 256 ranges a call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "core/alloc.h"
#include "core/time.h"
#include "server/evcore_internal.h"

#define SMALL_CHUNK 4096
#define WRITEV_MAX 256

typedef struct outseg {
    const uint8_t *p;
    size_t len;
    uint8_t *own;                  /* owned copy, or NULL */
    size_t own_cap;
    void (*release)(void *);       /* borrowed: called when written or dropped */
    void *arg;
    size_t held;                   /* memory kept alive beyond len until release (budget) */
} outseg_t;

struct mr_ev_outq {
    outseg_t *q;
    size_t head, len, cap;
    size_t queued;                 /* bytes in q */
    size_t held;                   /* what the queued ranges keep alive beyond their bytes */
    _Atomic uint64_t *global;      /* the core's total of queued bytes (the output budget) */
};

mr_ev_outq_t *mr_ev_outq_new(_Atomic uint64_t *global)
{
    mr_ev_outq_t *q = mr_xcalloc(1, sizeof(mr_ev_outq_t));
    q->global = global;
    return q;
}


static void account(mr_ev_outq_t *q, size_t add, size_t sub)
{
    q->queued += add;
    q->queued -= sub;
    if (add)
        atomic_fetch_add_explicit(q->global, add, memory_order_relaxed);
    if (sub)
        atomic_fetch_sub_explicit(q->global, sub, memory_order_relaxed);
}

static void seg_release(mr_ev_outq_t *q, outseg_t *s)
{
    if (s->held) {
        q->held -= s->held;
        atomic_fetch_sub_explicit(q->global, s->held, memory_order_relaxed);
    }
    mr_free(s->own);
    if (s->release)
        s->release(s->arg);
    memset(s, 0, sizeof(*s));
}

void mr_ev_outq_free(mr_ev_outq_t *q)
{
    if (q == NULL)
        return;
    for (size_t i = q->head; i < q->len; i++)
        seg_release(q, &q->q[i]);
    account(q, 0, q->queued);
    mr_free(q->q);
    mr_free(q);
}

static outseg_t *seg_push(mr_ev_outq_t *q)
{
    if (q->len == q->cap) {
        if (q->head > 0) {
            memmove(q->q, q->q + q->head, (q->len - q->head) * sizeof(outseg_t));
            q->len -= q->head;
            q->head = 0;
        }
        if (q->len == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 64;
            q->q = mr_xrealloc(q->q, cap * sizeof(outseg_t)); /* control structure: 40 B a range */
            q->cap = cap;
        }
    }
    outseg_t *s = &q->q[q->len++];
    memset(s, 0, sizeof(*s));
    return s;
}

int mr_ev_out_ref(mr_ev_conn_t *c, const void *p, size_t len, void (*release)(void *), void *arg)
{
    return mr_ev_out_ref_held(c, p, len, release, arg, 0);
}

int mr_ev_out_ref_held(mr_ev_conn_t *c, const void *p, size_t len, void (*release)(void *), void *arg, size_t held)
{
    mr_ev_outq_t *q = c->out;
    if (q == NULL) { /* closed: nothing goes out any more */
        if (release)
            release(arg);
        return MURR_EIO;
    }
    outseg_t *s = seg_push(q);
    s->p = p;
    s->len = len;
    s->release = release;
    s->arg = arg;
    s->held = held;
    q->held += held;
    account(q, len, 0);
    if (held)
        atomic_fetch_add_explicit(q->global, held, memory_order_relaxed);
    return 0;
}

int mr_ev_out_copy(mr_ev_conn_t *c, const void *p, size_t len)
{
    mr_ev_outq_t *q = c->out;
    if (q == NULL)
        return MURR_EIO;
    if (len == 0)
        return 0;
    if (q->len > q->head) { /* coalesce into the last owned chunk */
        outseg_t *last = &q->q[q->len - 1];
        if (last->own && last->p == last->own && last->own_cap - last->len >= len) {
            memcpy(last->own + last->len, p, len);
            last->len += len;
            account(q, len, 0);
            return 0;
        }
    }
    /* a 9-byte HTTP/2 frame header sits between borrowed payloads and never gets company:
     * keep it small; other small pieces coalesce into a 4 KiB chunk */
    size_t cap = len > SMALL_CHUNK ? len : len <= 9 ? 16 : SMALL_CHUNK;
    uint8_t *own = mr_malloc(cap);
    if (own == NULL)
        return MURR_ENOMEM;
    outseg_t *s = seg_push(q);
    memcpy(own, p, len);
    s->own = own;
    s->own_cap = cap;
    s->p = own;
    s->len = len;
    account(q, len, 0);
    return 0;
}

size_t mr_ev_out_queued(const mr_ev_conn_t *c) { return c->out ? c->out->queued : 0; }
size_t mr_ev_out_held(const mr_ev_conn_t *c) { return c->out ? c->out->queued + c->out->held : 0; }

size_t mr_ev_out_share(const mr_ev_conn_t *c)
{
    const mr_ev_core_t *core = c->loop->core;
    unsigned n = atomic_load_explicit(&core->conns, memory_order_relaxed);
    uint64_t share = core->out_budget / (n ? n : 1);
    return share < MR_EV_OUT_MIN_SHARE ? MR_EV_OUT_MIN_SHARE : share > SIZE_MAX ? SIZE_MAX : (size_t)share;
}

size_t mr_ev_out_limit(const mr_ev_conn_t *c, size_t high_water)
{
    const mr_ev_core_t *core = c->loop->core;
    if (atomic_load_explicit(&core->out_queued, memory_order_relaxed) <= core->out_budget)
        return high_water; /* under the budget: every connection up to its high-water mark */
    size_t share = mr_ev_out_share(c);
    return share < high_water ? share : high_water;
}

/* Removes n written bytes from the front of the queue. */
static void consume(mr_ev_outq_t *q, size_t n)
{
    account(q, 0, n);
    while (n > 0) {
        outseg_t *s = &q->q[q->head];
        if (n < s->len) {
            s->p += n;
            s->len -= n;
            return;
        }
        n -= s->len;
        seg_release(q, s);
        q->head++;
    }
    /* zero-length ranges written with the rest */
    while (q->head < q->len && q->q[q->head].len == 0)
        seg_release(q, &q->q[q->head++]);
    if (q->head == q->len)
        q->head = q->len = 0;
}

int mr_ev_flush(mr_ev_conn_t *c)
{
    mr_ev_outq_t *q = c->out;
    if (c->closed || q == NULL)
        return -1;
    while (q->head < q->len) {
        if (q->queued == 0) {
            consume(q, 0);
            break;
        }
        struct iovec iov[WRITEV_MAX];
        int n = 0;
        for (size_t i = q->head; i < q->len && n < WRITEV_MAX; i++)
            if (q->q[i].len)
                iov[n++] = (struct iovec){(void *)q->q[i].p, q->q[i].len};
        ssize_t w = c->tr.ops->writev(c->tr.t, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* a TLS write waiting for the peer's bytes (a handshake the protocol wrote
                 * first in, e.g. Flight's SETTINGS) is retried after the next input, not on
                 * EPOLLOUT (the socket is writable: that would spin) */
                unsigned tw = c->tr.ops->wants(c->tr.t);
                c->out_tr_blocked = (tw & EPOLLIN) != 0;
                c->want_out = !c->out_tr_blocked || (tw & EPOLLOUT);
                mr_ev_conn_update(c);
                return 0;
            }
            return -1;
        }
        c->out_tr_blocked = false;
        c->last_ns = mr_now_ns(); /* a client reading its answers is active */
        c->over_since_ns = 0;     /* and not stalled over its share */
        if (c->listener->spec.bytes_out)
            atomic_fetch_add_explicit(c->listener->spec.bytes_out, (uint64_t)w, memory_order_relaxed);
        consume(q, (size_t)w);
    }
    c->want_out = false;
    c->out_tr_blocked = false;
    mr_ev_conn_update(c);
    return 0;
}
