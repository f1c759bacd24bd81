/* test_evcore.c - the event core (server/evcore.h) under a toy line protocol, on real loop
 * threads and sockets: a job runs on a worker and completes on the connection's own loop
 * thread; borrowed output is released once written; the idle timeout closes a quiet
 * connection (not before its time); the connection cap refuses with the protocol's words;
 * a stop waits for a running job and lets its answer out before closing; detached mode
 * drives the same callbacks.
 *
 * The toy protocol: each input line is answered. "job <ms>" runs on a worker (sleeping ms)
 * and is answered "done <ms>" from on_job_done; any other line is echoed back as a borrowed
 * range whose release is counted. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/time.h"
#include "server/evcore.h"

typedef struct tconn {
    mr_ev_conn_t ev;
    char line[256];
    size_t len;
    pthread_t loop_thread;         /* where on_input ran */
    int jobs;
} tconn_t;

typedef struct tjob {
    mr_ev_job_t ev;
    int ms;
    pthread_t ran_on;
    char *echo;                    /* answer text, freed by the release callback */
} tjob_t;

static _Atomic int released, done_on_loop_thread, done_elsewhere, ran_on_loop_thread, opened, closed_n;

static void release_str(void *p)
{
    free(p);
    atomic_fetch_add(&released, 1);
}

static void job_run(mr_ev_job_t *j)
{
    tjob_t *t = (tjob_t *)j;
    t->ran_on = pthread_self();
    usleep((useconds_t)t->ms * 1000);
}

static void answer(tconn_t *c, const char *text)
{
    char *copy = strdup(text);
    cr_assert_eq(mr_ev_out_ref(&c->ev, copy, strlen(copy), release_str, copy), 0);
    if (mr_ev_flush(&c->ev) != 0)
        mr_ev_conn_close(&c->ev);
}

static void on_line(tconn_t *c)
{
    int ms;
    if (sscanf(c->line, "job %d", &ms) == 1) {
        tjob_t *j = calloc(1, sizeof(*j));
        j->ms = ms;
        j->ev.run = job_run;
        c->jobs++;
        mr_ev_submit(&c->ev, &j->ev);
        return;
    }
    char buf[300];
    snprintf(buf, sizeof(buf), "echo %s\n", c->line);
    answer(c, buf);
}

static void t_on_input(mr_ev_conn_t *ev)
{
    tconn_t *c = (tconn_t *)ev;
    c->loop_thread = pthread_self();
    char buf[512];
    ssize_t n;
    while ((n = mr_ev_conn_read(ev, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n && !mr_ev_conn_closed(ev); i++) {
            if (buf[i] == '\n') {
                c->line[c->len] = 0;
                on_line(c);
                c->len = 0;
            } else if (c->len < sizeof(c->line) - 1)
                c->line[c->len++] = buf[i];
        }
    if (n == 0 && c->jobs == 0 && !mr_ev_conn_closed(ev))
        mr_ev_conn_close(ev);
}

static void t_on_job_done(mr_ev_conn_t *ev, mr_ev_job_t *jev)
{
    tconn_t *c = (tconn_t *)ev;
    tjob_t *j = (tjob_t *)jev;
    if (pthread_equal(pthread_self(), c->loop_thread))
        atomic_fetch_add(&done_on_loop_thread, 1);
    else
        atomic_fetch_add(&done_elsewhere, 1);
    if (pthread_equal(j->ran_on, c->loop_thread))
        atomic_fetch_add(&ran_on_loop_thread, 1);
    c->jobs--;
    if (!mr_ev_conn_closed(ev)) {
        char buf[64];
        snprintf(buf, sizeof(buf), "done %d\n", j->ms);
        answer(c, buf);
    }
    free(j);
}

static bool t_is_quiet(mr_ev_conn_t *ev)
{
    tconn_t *c = (tconn_t *)ev;
    return c->jobs == 0 && c->len == 0;
}

static int t_on_open(mr_ev_conn_t *ev)
{
    (void)ev;
    atomic_fetch_add(&opened, 1);
    return 0;
}

static void t_on_close(mr_ev_conn_t *ev)
{
    (void)ev;
    atomic_fetch_add(&closed_n, 1);
}

static size_t t_refusal(const mr_ev_listener_t *l, char *buf, size_t cap)
{
    return (size_t)snprintf(buf, cap, "full %u\n", mr_ev_listener_max_connections(l));
}

static const mr_ev_proto_ops_t tops = {
    .name = "toy",
    .on_open = t_on_open,
    .on_input = t_on_input,
    .on_job_done = t_on_job_done,
    .is_quiet = t_is_quiet,
    .on_close = t_on_close,
    .refusal = t_refusal,
};

static mr_ev_core_t *core;
static mr_ev_listener_t *li;

static void start(uint32_t max_conns, uint32_t idle_ms)
{
    atomic_store(&released, 0);
    atomic_store(&done_on_loop_thread, 0);
    atomic_store(&done_elsewhere, 0);
    atomic_store(&ran_on_loop_thread, 0);
    atomic_store(&opened, 0);
    atomic_store(&closed_n, 0);
    core = mr_ev_core_new(2, 2);
    mr_ev_listener_spec_t spec = {.host = "127.0.0.1", .ops = &tops, .conn_size = sizeof(tconn_t),
                                  .max_connections = max_conns, .idle_timeout_ms = idle_ms};
    mr_error_t e = {0};
    cr_assert_eq(mr_ev_core_listen(core, &spec, &li, &e), 0, "%s", e.message);
    cr_assert_eq(mr_ev_core_start(core, &e), 0, "%s", e.message);
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(mr_ev_listener_port(li))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Reads until `want` bytes, EOF or timeout; returns what was read (NUL-terminated). */
static size_t recv_all(int fd, char *buf, size_t cap, size_t want, int timeout_ms, bool *eof)
{
    size_t have = 0;
    *eof = false;
    uint64_t end = mr_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (have < want && have < cap - 1 && mr_now_ns() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0) {
            *eof = true;
            break;
        }
        have += (size_t)r;
    }
    buf[have] = 0;
    return have;
}

static void say(int fd, const char *s) { cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s)); }

Test(evcore, job_runs_on_a_worker_and_completes_on_the_connection_loop)
{
    start(100, 0);
    int fd = dial();
    say(fd, "hello\njob 20\nworld\n");
    char buf[256];
    bool eof;
    recv_all(fd, buf, sizeof(buf), strlen("echo hello\necho world\ndone 20\n"), 5000, &eof);
    /* the echo after the job needs no wait: the job does not block the loop */
    cr_assert_str_eq(buf, "echo hello\necho world\ndone 20\n");
    close(fd);
    cr_assert_eq(mr_ev_core_stop(core, 5000), 0);
    cr_assert_eq(atomic_load(&done_on_loop_thread), 1);
    cr_assert_eq(atomic_load(&done_elsewhere), 0);
    cr_assert_eq(atomic_load(&ran_on_loop_thread), 0, "the job ran on the loop thread");
    cr_assert_eq(atomic_load(&released), 3, "every borrowed answer released once written");
}

Test(evcore, idle_timeout_closes_a_quiet_connection_not_before_its_time)
{
    start(100, 300);
    int fd = dial();
    uint64_t t0 = mr_now_ns();
    say(fd, "ping\n");
    char buf[64];
    bool eof;
    recv_all(fd, buf, sizeof(buf), sizeof(buf), 5000, &eof);
    uint64_t ms = (mr_now_ns() - t0) / 1000000u;
    cr_assert_str_eq(buf, "echo ping\n");
    cr_assert(eof, "closed by the idle timeout");
    cr_assert_geq(ms, 300, "closed after %llu ms, before the 300 ms idle timeout", (unsigned long long)ms);
    close(fd);
    mr_ev_core_stop(core, 5000);
    cr_assert_eq(atomic_load(&opened), 1);
    cr_assert_eq(atomic_load(&closed_n), 1);
}

Test(evcore, a_connection_with_a_job_running_is_not_idle)
{
    start(100, 100);
    int fd = dial();
    say(fd, "job 400\n");
    char buf[64];
    bool eof;
    recv_all(fd, buf, sizeof(buf), strlen("done 400\n"), 5000, &eof);
    cr_assert_str_eq(buf, "done 400\n", "closed while its job ran (idle 100 ms < job 400 ms)");
    close(fd);
    mr_ev_core_stop(core, 5000);
}

Test(evcore, connection_cap_refuses_with_the_protocols_words)
{
    start(2, 0);
    int a = dial(), b = dial();
    say(a, "x\n");
    say(b, "y\n");
    char buf[64];
    bool eof;
    recv_all(a, buf, sizeof(buf), 7, 5000, &eof);
    cr_assert_str_eq(buf, "echo x\n");
    recv_all(b, buf, sizeof(buf), 7, 5000, &eof);
    cr_assert_str_eq(buf, "echo y\n");
    cr_assert_eq(mr_ev_listener_open(li), 2);
    int c = dial();
    recv_all(c, buf, sizeof(buf), sizeof(buf), 5000, &eof);
    cr_assert_str_eq(buf, "full 2\n");
    cr_assert(eof);
    close(a);
    close(b);
    close(c);
    mr_ev_core_stop(core, 5000);
    cr_assert_eq(atomic_load(&opened), 2, "the refused connection never reached the protocol");
}

Test(evcore, stop_waits_for_the_running_job_and_lets_its_answer_out)
{
    start(100, 0);
    int busy = dial(), quiet = dial();
    say(busy, "job 500\n");
    say(quiet, "q\n");
    char buf[64];
    bool eof;
    recv_all(quiet, buf, sizeof(buf), 7, 5000, &eof);
    cr_assert_str_eq(buf, "echo q\n");
    usleep(50000); /* the job is running */
    uint64_t t0 = mr_now_ns();
    unsigned left = mr_ev_core_stop(core, 10000);
    uint64_t ms = (mr_now_ns() - t0) / 1000000u;
    cr_assert_eq(left, 0, "%u connections cut at the drain deadline", left);
    cr_assert_lt(ms, 10000, "the drain waited for its deadline instead of the job");
    recv_all(busy, buf, sizeof(buf), sizeof(buf), 5000, &eof);
    cr_assert_str_eq(buf, "done 500\n");
    cr_assert(eof, "closed after its answer");
    recv_all(quiet, buf, sizeof(buf), sizeof(buf), 5000, &eof);
    cr_assert(eof && buf[0] == 0, "the quiet connection is closed at stop");
    cr_assert_eq(atomic_load(&closed_n), 2);
    close(busy);
    close(quiet);
}

Test(evcore, detached_mode_runs_the_same_callbacks_with_jobs_inline)
{
    atomic_store(&released, 0);
    mr_ev_listener_spec_t spec = {.ops = &tops, .conn_size = sizeof(tconn_t), .max_connections = 1};
    mr_ev_core_t *d = mr_ev_core_new_detached(&spec);
    mr_buf_t out;
    mr_buf_init(&out);
    const char *in = "a\njob 1\nb\n";
    cr_assert_eq(mr_ev_detached_run(d, (const uint8_t *)in, strlen(in), 1, &out), 0);
    mr_buf_append(&out, "", 1);
    /* inline jobs complete after the callback that submitted them: "b" was read in the same
     * one-byte pieces after the job's line, so its echo follows "done" */
    cr_assert_str_eq((const char *)out.data, "echo a\ndone 1\necho b\n");
    cr_assert_eq(atomic_load(&released), 3);
    mr_buf_deinit(&out);
    mr_ev_core_free_detached(d);
}
