/*
 * evcore.c - the event core's loops, listeners, connection table, timers, drain and
 * detached mode (contract in evcore.h; why in docs/decisions/0008-event-core.md).
 *
 * A loop waits in epoll_wait for at most MR_EV_TICK_MS; after each wake-up it runs the
 * ticks that are due: for every connection the idle timeout (quiet, or output left unread,
 * for the listener's idle_timeout_ms: closed) and the protocol's on_tick. Level-triggered
 * epoll; a connection's interest is EPOLLIN unless its protocol paused input, plus EPOLLOUT
 * while a write would block, plus what its transport wants on its own (TLS handshakes).
 * Input a transport holds where epoll cannot see it (TLS records already read) puts
 * the connection on the loop's ready list: its on_input runs again before the loop waits.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "server/evcore_internal.h"

mr_ev_core_t *mr_ev_conn_core(const mr_ev_conn_t *c) { return c->loop->core; }
uint16_t mr_ev_listener_port(const mr_ev_listener_t *l) { return l->port; }
void *mr_ev_listener_arg(const mr_ev_listener_t *l) { return l->spec.proto_arg; }
uint32_t mr_ev_listener_max_connections(const mr_ev_listener_t *l) { return l->spec.max_connections; }
unsigned mr_ev_listener_open(const mr_ev_listener_t *l) { return atomic_load(&l->open); }
bool mr_ev_core_stopping(const mr_ev_core_t *core) { return atomic_load(&core->stopping); }
int mr_ev_core_nloops(const mr_ev_core_t *core) { return core->nloops; }
uint64_t mr_ev_core_output_queued(const mr_ev_core_t *core) { return atomic_load(&core->out_queued); }

void mr_ev_core_set_output_budget(mr_ev_core_t *core, uint64_t bytes, uint32_t stall_ms)
{
    core->out_budget = bytes;
    core->out_stall_ms = stall_ms;
}
int mr_ev_core_nworkers(const mr_ev_core_t *core) { return core->nworkers; }

static const mr_ev_proto_ops_t *ops_of(const mr_ev_conn_t *c) { return c->listener->spec.ops; }

/* ------------------------------------------------------------- connections ---- */

void mr_ev_conn_update(mr_ev_conn_t *c)
{
    if (c->closed || c->fd < 0)
        return;
    uint32_t mask = (c->in_paused || c->eof || mr_ev_out_full(c) ? 0 : (EPOLLIN | EPOLLRDHUP)) | (c->want_out ? EPOLLOUT : 0) |
                    c->tr.ops->wants(c->tr.t);
    if (mask != c->ev_mask) {
        struct epoll_event ev = {.events = mask, .data.ptr = c};
        epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->ev_mask = mask;
    }
    if ((mask & EPOLLIN) && !c->in_ready && c->tr.ops->pending(c->tr.t) > 0) {
        /* input epoll will not report: the loop calls on_input again before it waits */
        c->in_ready = true;
        c->ready_next = c->loop->ready;
        c->loop->ready = c;
    }
}

ssize_t mr_ev_conn_read(mr_ev_conn_t *c, void *buf, size_t n)
{
    if (c->eof || c->closed)
        return 0;
    for (;;) {
        ssize_t r = c->tr.ops->read(c->tr.t, buf, n);
        if (r > 0) {
            c->last_ns = mr_now_ns();
            if (c->listener->spec.bytes_in)
                atomic_fetch_add_explicit(c->listener->spec.bytes_in, (uint64_t)r, memory_order_relaxed);
            return r;
        }
        if (r == 0) {
            c->eof = true;
            mr_ev_conn_update(c); /* a half-closed peer must not wake a level-triggered loop */
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->eof = true;
            mr_ev_conn_update(c);
        }
        return -1;
    }
}

void mr_ev_conn_pause_input(mr_ev_conn_t *c, bool paused)
{
    c->in_paused = paused;
    mr_ev_conn_update(c);
}

void mr_ev_conn_shutdown_read(mr_ev_conn_t *c)
{
    if (c->closed)
        return;
    c->tr.ops->shutdown_read(c->tr.t);
}

/* Closed connections wait here until the end of the loop iteration (an event of the same
 * epoll batch may still name them) and until their last job has completed. */
static void sweep(mr_ev_loop_t *l)
{
    mr_ev_conn_t **pp = &l->graveyard;
    while (*pp) {
        mr_ev_conn_t *c = *pp;
        if (c->jobs > 0) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        mr_ev_outq_free(c->out);
        mr_free(c);
    }
}

void mr_ev_conn_close(mr_ev_conn_t *c)
{
    if (c->closed)
        return;
    mr_ev_loop_t *l = c->loop;
    if (!c->open_failed)
        ops_of(c)->on_close(c);
    c->closed = true;
    if (c->fd >= 0)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->tr.ops->free(c->tr.t);
    /* queued output points into the protocol's answers: released now, while they live */
    mr_ev_outq_free(c->out);
    c->out = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = l->graveyard;
    l->graveyard = c;
    atomic_fetch_sub(&c->listener->open, 1);
    atomic_fetch_sub(&l->core->conns, 1);
}

/* A connection of listener li on loop l over transport tr (fd registered unless detached).
 * Its place in li->open was already taken by the caller (accept_all reserves it before the
 * cap check, so loops accepting at once cannot together overshoot the cap). */
static mr_ev_conn_t *conn_open(mr_ev_loop_t *l, mr_ev_listener_t *li, int fd, mr_transport_t tr)
{
    mr_ev_conn_t *c = mr_xcalloc(1, li->spec.conn_size);
    c->loop = l;
    c->listener = li;
    c->fd = fd;
    c->tr = tr;
    c->out = mr_ev_outq_new(&l->core->out_queued);
    c->last_ns = mr_now_ns();
    atomic_fetch_add(&l->core->conns, 1);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    c->ev_mask = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {.events = c->ev_mask, .data.ptr = c};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (li->spec.ops->on_open(c) != 0) {
        c->open_failed = true; /* on_close is not owed */
        mr_ev_conn_close(c);
        return NULL;
    }
    mr_ev_conn_update(c);
    return c;
}

static void refuse(mr_ev_listener_t *li, int fd)
{
    char msg[256];
    /* a refusal in cleartext means nothing to a TLS client (there is no session to say it in) */
    size_t n = li->spec.ops->refusal && li->spec.transport_new == NULL ? li->spec.ops->refusal(li, msg, sizeof(msg)) : 0;
    if (n > 0) {
        ssize_t w = write(fd, msg, n);
        (void)w;
    }
    close(fd);
}

static void accept_all(mr_ev_loop_t *l, mr_ev_listener_t *li)
{
    mr_ev_core_t *core = l->core;
    for (;;) {
        int fd = mr_net_accept(&l->acc[li->idx], li->fd);
        if (fd < 0)
            return;
        if (atomic_load(&core->stopping)) {
            refuse(li, fd);
            continue;
        }
        if (atomic_fetch_add(&li->open, 1) >= li->spec.max_connections) {
            atomic_fetch_sub(&li->open, 1);
            refuse(li, fd);
            continue;
        }
        /* the place reserved above is the connection's: released by mr_ev_conn_close */
        mr_transport_t tr;
        mr_transport_factory_t mk = li->spec.transport_new ? li->spec.transport_new : mr_transport_plain_new;
        if (mk(li->spec.transport_arg, fd, &tr) != 0) {
            atomic_fetch_sub(&li->open, 1);
            continue; /* the factory closed fd */
        }
        conn_open(l, li, fd, tr);
    }
}

/* ------------------------------------------------------------------ timers ---- */

static void tick(mr_ev_loop_t *l, uint64_t now)
{
    bool stopping = atomic_load(&l->core->stopping);
    for (mr_ev_conn_t *c = l->conns, *next; c; c = next) {
        next = c->next;
        const mr_ev_proto_ops_t *ops = ops_of(c);
        if (stopping && !c->drain_seen) {
            c->drain_seen = true;
            if (ops->on_drain)
                ops->on_drain(c);
            if (c->closed)
                continue;
        }
        if (mr_ev_out_held(c) > mr_ev_out_share(c)) {
            /* over its share of the output budget: closed if the peer reads nothing for
             * the stall deadline (others keep being served meanwhile) */
            if (c->over_since_ns == 0)
                c->over_since_ns = now;
            else if (now - c->over_since_ns > (uint64_t)l->core->out_stall_ms * 1000000u) {
                MR_WARN("evcore", "%s: connection closed: %zu bytes of answers unread for %u ms, over its share "
                        "(%zu bytes) of the output budget (%llu bytes, %u connections)",
                        c->listener->what, mr_ev_out_held(c), l->core->out_stall_ms, mr_ev_out_share(c),
                        (unsigned long long)l->core->out_budget, atomic_load(&l->core->conns));
                mr_ev_conn_close(c);
                continue;
            }
        } else
            c->over_since_ns = 0;
        uint64_t idle_ns = (uint64_t)c->listener->spec.idle_timeout_ms * 1000000u;
        bool quiet = c->jobs == 0 && ops->is_quiet(c);
        if (quiet && mr_ev_out_queued(c) == 0 && stopping) {
            mr_ev_conn_close(c);
            continue;
        }
        if (idle_ns && c->jobs == 0 && now - c->last_ns > idle_ns && (quiet || mr_ev_out_queued(c) > 0)) {
            mr_ev_conn_close(c); /* idle, or its answers left unread for the idle timeout */
            continue;
        }
        if (ops->on_tick)
            ops->on_tick(c, now);
    }
}

/* -------------------------------------------------------------------- loop ---- */

static void listener_arm(mr_ev_loop_t *l, mr_ev_listener_t *li, bool on)
{
    if (on) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = li};
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, li->fd, &ev);
    } else
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, li->fd, NULL);
}

static bool is_listener(mr_ev_core_t *core, void *p)
{
    for (int i = 0; i < core->nlisteners; i++)
        if (p == core->listeners[i])
            return true;
    return false;
}

/* Writes what the transport takes, then lets the protocol go on. False: c is closed. */
static bool write_ready(mr_ev_conn_t *c)
{
    const mr_ev_proto_ops_t *ops = ops_of(c);
    if (mr_ev_flush(c) != 0) {
        mr_ev_conn_close(c);
        return false;
    }
    if (ops->on_writable && !mr_ev_out_full(c))
        ops->on_writable(c);
    return !c->closed;
}

static void on_event(mr_ev_conn_t *c, uint32_t events)
{
    if (c->closed)
        return; /* closed by an earlier event of this batch */
    if ((events & EPOLLERR) || ((events & EPOLLHUP) && !(events & EPOLLIN))) {
        mr_ev_conn_close(c);
        return;
    }
    /* a read that waits to write (a TLS handshake whose answer filled the socket) goes on
     * when the socket is writable */
    bool read_waits_out = (c->tr.ops->wants(c->tr.t) & EPOLLOUT) != 0;
    if ((events & EPOLLOUT) && !write_ready(c))
        return;
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) || ((events & EPOLLOUT) && read_waits_out))
        ops_of(c)->on_input(c);
    if (!c->closed && c->out_tr_blocked && !write_ready(c)) /* the input may have unblocked it */
        return;
    if (!c->closed)
        mr_ev_conn_update(c);
}

/* Connections whose transport holds input (mr_ev_conn_update put them here): their
 * on_input runs as if epoll had reported it, while they still want input. */
static void run_ready(mr_ev_loop_t *l)
{
    mr_ev_conn_t *c = l->ready;
    l->ready = NULL;
    while (c) {
        mr_ev_conn_t *next = c->ready_next;
        c->in_ready = false;
        if (!c->closed && !c->eof && !c->in_paused && !mr_ev_out_full(c))
            on_event(c, EPOLLIN);
        c = next;
    }
}

static void *loop_main(void *arg)
{
    mr_ev_loop_t *l = arg;
    mr_ev_core_t *core = l->core;
    struct epoll_event evs[64];
    while (!atomic_load(&core->quit)) {
        int n = epoll_wait(l->epfd, evs, 64, l->ready ? 0 : MR_EV_TICK_MS);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &l->evfd) {
                uint64_t v;
                ssize_t r = read(l->evfd, &v, sizeof(v));
                (void)r;
                mr_ev_jobs_complete(l);
                continue;
            }
            if (is_listener(core, p)) {
                mr_ev_listener_t *li = p;
                if (atomic_load(&core->stopping) || li->fd < 0)
                    continue;
                accept_all(l, li);
                if (l->acc[li->idx].starved && l->listen_paused_until[li->idx] == 0) {
                    /* out of descriptors and nothing to refuse with: out of the set a while */
                    listener_arm(l, li, false);
                    l->listen_paused_until[li->idx] = mr_now_ns() + MR_NET_STARVED_PAUSE_MS * 1000000ull;
                }
                continue;
            }
            on_event(p, evs[i].events);
        }
        uint64_t now = mr_now_ns();
        for (int i = 0; i < core->nlisteners; i++)
            if (l->listen_paused_until[i] && now >= l->listen_paused_until[i]) {
                l->listen_paused_until[i] = 0;
                if (!atomic_load(&core->stopping))
                    listener_arm(l, core->listeners[i], true);
            }
        if (now - l->last_tick >= MR_EV_TICK_MS * 1000000ull) {
            l->last_tick = now;
            tick(l, now);
        }
        run_ready(l);
        sweep(l);
    }
    l->ready = NULL;
    while (l->conns)
        mr_ev_conn_close(l->conns);
    sweep(l);
    return NULL;
}

/* --------------------------------------------------------------- lifecycle ---- */

static void loop_init(mr_ev_core_t *core, mr_ev_loop_t *l)
{
    l->core = core;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = -1;
    pthread_mutex_init(&l->done_lock, NULL);
    for (int i = 0; i < MR_EV_MAX_LISTENERS; i++)
        l->acc[i].spare_fd = -1;
}

static void loop_deinit(mr_ev_loop_t *l)
{
    close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    for (int i = 0; i < MR_EV_MAX_LISTENERS; i++)
        mr_net_acceptor_deinit(&l->acc[i]);
    pthread_mutex_destroy(&l->done_lock);
}

static mr_ev_core_t *core_alloc(int loops, int workers)
{
    mr_ev_core_t *core = mr_xcalloc(1, sizeof(*core));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    core->nloops = loops > 0 ? loops : (int)(ncpu > 0 ? ncpu : 1);
    core->nworkers = workers > 0 ? workers : core->nloops < 2 ? 2 : core->nloops;
    core->out_budget = 256ull << 20;
    core->out_stall_ms = 10000;
    core->loops = mr_xcalloc((size_t)core->nloops, sizeof(mr_ev_loop_t));
    for (int i = 0; i < core->nloops; i++)
        loop_init(core, &core->loops[i]);
    pthread_mutex_init(&core->jlock, NULL);
    pthread_cond_init(&core->jcond, NULL);
    return core;
}

static void core_free(mr_ev_core_t *core)
{
    for (int i = 0; i < core->nloops; i++)
        loop_deinit(&core->loops[i]);
    for (int i = 0; i < core->nlisteners; i++) {
        if (core->listeners[i]->fd >= 0)
            close(core->listeners[i]->fd);
        mr_free(core->listeners[i]);
    }
    mr_free(core->loops);
    pthread_mutex_destroy(&core->jlock);
    pthread_cond_destroy(&core->jcond);
    mr_free(core);
}

mr_ev_core_t *mr_ev_core_new(int loops, int workers) { return core_alloc(loops, workers); }

static mr_ev_listener_t *listener_add(mr_ev_core_t *core, const mr_ev_listener_spec_t *spec)
{
    mr_ev_listener_t *li = mr_xcalloc(1, sizeof(*li));
    li->core = core;
    li->idx = core->nlisteners;
    li->spec = *spec;
    li->fd = -1;
    atomic_init(&li->open, 0);
    core->listeners[core->nlisteners++] = li;
    return li;
}

int mr_ev_core_listen(mr_ev_core_t *core, const mr_ev_listener_spec_t *spec, mr_ev_listener_t **out,
                      mr_error_t *err)
{
    if (core->nlisteners == MR_EV_MAX_LISTENERS)
        return mr_err_set(err, MURR_EINVAL, "the event core takes at most %d listeners", MR_EV_MAX_LISTENERS);
    int fd;
    uint16_t port;
    MR_RETURN_NOT_OK(mr_net_listen(spec->host, spec->port, &fd, &port, err));
    mr_ev_listener_t *li = listener_add(core, spec);
    li->fd = fd;
    li->port = port;
    snprintf(li->what, sizeof(li->what), "%s on %.64s:%u", spec->ops->name, spec->host, port);
    for (int i = 0; i < core->nloops; i++)
        mr_net_acceptor_init(&core->loops[i].acc[li->idx], li->what);
    *out = li;
    return 0;
}

int mr_ev_core_start(mr_ev_core_t *core, mr_error_t *err)
{
    for (int i = 0; i < core->nloops; i++) {
        mr_ev_loop_t *l = &core->loops[i];
        l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->epfd < 0 || l->evfd < 0)
            return mr_err_set(err, MURR_EIO, "cannot create an event loop: %s", strerror(errno));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->evfd};
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev);
        for (int k = 0; k < core->nlisteners; k++)
            listener_arm(l, core->listeners[k], true);
    }
    mr_ev_jobs_start(core);
    for (int i = 0; i < core->nloops; i++)
        pthread_create(&core->loops[i].th, NULL, loop_main, &core->loops[i]);
    core->started = true;
    return 0;
}

unsigned mr_ev_core_stop(mr_ev_core_t *core, uint32_t drain_ms)
{
    if (core == NULL)
        return 0;
    unsigned left = 0;
    if (core->started) {
        atomic_store(&core->stopping, true);
        for (int k = 0; k < core->nlisteners; k++) {
            mr_ev_listener_t *li = core->listeners[k];
            for (int i = 0; i < core->nloops; i++)
                listener_arm(&core->loops[i], li, false);
            /* stop listening now (new connections are refused, queued ones reset), but keep
             * the descriptor until the loops have quit: one may still be in accept_all with
             * it, and a closed number can be reused by the next open() (core_free closes) */
            shutdown(li->fd, SHUT_RDWR);
        }
        /* the loops call on_drain at their next tick, close quiet connections and finish
         * the rest as their answers go out; jobs in flight complete on their loops */
        uint64_t deadline = mr_now_ns() + (uint64_t)drain_ms * 1000000u;
        while ((atomic_load(&core->conns) > 0 || atomic_load(&core->jobs_running) > 0) && mr_now_ns() < deadline)
            usleep(5000);
        left = atomic_load(&core->conns);
        atomic_store(&core->quit, true);
        for (int i = 0; i < core->nloops; i++)
            pthread_join(core->loops[i].th, NULL);
        mr_ev_jobs_stop(core);
        /* jobs that finished after their loop quit: their connections are closed */
        for (int i = 0; i < core->nloops; i++) {
            mr_ev_jobs_complete(&core->loops[i]);
            sweep(&core->loops[i]);
        }
    }
    core_free(core);
    return left;
}

/* ------------------------------------------------------------ detached mode ---- */

mr_ev_core_t *mr_ev_core_new_detached(const mr_ev_listener_spec_t *spec)
{
    mr_ev_core_t *core = core_alloc(1, 1);
    core->detached = true;
    mr_ev_listener_t *li = listener_add(core, spec);
    snprintf(li->what, sizeof(li->what), "%s (detached)", spec->ops->name);
    return core;
}

static void drain_peer(int fd, mr_buf_t *out)
{
    char tmp[16384];
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r <= 0)
            return;
        if (out)
            mr_buf_append(out, tmp, (size_t)r);
    }
}

int mr_ev_detached_run(mr_ev_core_t *core, const uint8_t *data, size_t len, size_t split, mr_buf_t *out)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return MURR_EIO;
    mr_ev_loop_t *l = &core->loops[0];
    mr_transport_t tr;
    mr_transport_plain_new(NULL, sv[0], &tr);
    atomic_fetch_add(&core->listeners[0]->open, 1); /* the place conn_open's connection holds */
    mr_ev_conn_t *c = conn_open(l, core->listeners[0], sv[0], tr);
    size_t off = 0;
    bool eof = false;
    /* every round either moves input, output or closes; the bound only guards against a bug */
    if (c == NULL) {
        sweep(l);
        close(sv[1]);
        return MURR_EIO;
    }
    for (int round = 0; round < 100000 && !c->closed; round++) {
        if (off < len) {
            size_t n = split && split < len - off ? split : len - off;
            ssize_t w = write(sv[1], data + off, n);
            if (w > 0)
                off += (size_t)w;
        } else if (!eof) {
            shutdown(sv[1], SHUT_WR);
            eof = true;
        }
        /* the events a loop would see: input while the interest has it (a busy or paused
         * connection does not read), output while some is queued */
        uint32_t events = (c->ev_mask & (EPOLLIN | EPOLLRDHUP)) | (mr_ev_out_queued(c) > 0 ? EPOLLOUT : 0);
        if (events)
            on_event(c, events);
        else if (eof && l->done == NULL && c->jobs == 0)
            break; /* all input delivered, nothing to write, no job: no event will come */
        if (!c->closed)
            mr_ev_jobs_complete(l);
        drain_peer(sv[1], out);
        if (!c->closed && c->eof && mr_ev_out_queued(c) == 0 && c->jobs == 0 && ops_of(c)->is_quiet(c))
            mr_ev_conn_close(c);
    }
    if (!c->closed)
        mr_ev_conn_close(c);
    mr_ev_jobs_complete(l);
    sweep(l);
    drain_peer(sv[1], out);
    close(sv[1]);
    return 0;
}

void mr_ev_core_free_detached(mr_ev_core_t *core)
{
    if (core)
        core_free(core);
}
