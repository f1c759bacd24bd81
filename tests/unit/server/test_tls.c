/* test_tls.c - server/tls.c over a socketpair against an OpenSSL *client* written here (the
 * test's own SSL_CTX: verifies the server against the test CA, offers ALPN, optionally
 * presents a client certificate). The PKI comes from the openssl CLI (tests/support/
 * mkcerts.sh). Covered: handshake driven through read/writev/wants on a nonblocking socket,
 * a 1 MiB answer that fills the socket (EAGAIN and retried records) checked byte by byte,
 * pending() with read-ahead (records read but not decrypted; a record's start after EAGAIN),
 * ALPN per listener, client-certificate verification (accepted, missing, other CA), reload
 * (a connection made before keeps its certificate; new ones get the new one; a broken file
 * keeps the current one), and load errors naming the file. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/tls.h"

#define BIG (1u << 20)

static char g_dir[256];

static void make_pki(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/murr-tls-test-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    const char *src = getenv("MURR_SOURCE_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/support/mkcerts.sh %s", src ? src : ".", g_dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void rm_pki(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *pki(const char *name)
{
    static char bufs[8][400];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 400, "%s/%s", g_dir, name);
    return b;
}

static uint8_t pattern(size_t i) { return (uint8_t)((i * 131u + (i >> 9)) & 0xff); }

/* ---- the client (a thread: blocking OpenSSL) ---- */

typedef struct client {
    int fd;
    const char *alpn_wire; /* ALPN list in wire format, NULL: none offered */
    unsigned alpn_len;
    const char *cert, *key; /* client certificate, NULL: none */
    int go_fd;              /* >= 0: wait for a byte here before the exchange */
    /* results */
    bool connected, exchanged;
    char peer_cn[64];
    char alpn[16];
    pthread_t th;
} client_t;

static void *client_main(void *arg)
{
    client_t *c = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, pki("ca.pem"), NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (c->cert) {
        SSL_CTX_use_certificate_file(ctx, c->cert, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM);
    }
    if (c->alpn_wire)
        SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)c->alpn_wire, c->alpn_len);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, c->fd);
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) == 1) {
        c->connected = true;
        X509 *peer = SSL_get1_peer_certificate(ssl);
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->peer_cn, sizeof(c->peer_cn));
        X509_free(peer);
        const unsigned char *p;
        unsigned n;
        SSL_get0_alpn_selected(ssl, &p, &n);
        snprintf(c->alpn, sizeof(c->alpn), "%.*s", (int)n, p ? (const char *)p : "");
        char b;
        if (c->go_fd >= 0 && read(c->go_fd, &b, 1) != 1)
            goto out;
        size_t done = 0;
        if (SSL_write_ex(ssl, "ping\n", 5, &done) == 1) {
            uint8_t *in = malloc(5 + BIG);
            size_t got = 0, k;
            while (got < 5 + BIG && SSL_read_ex(ssl, in + got, 5 + BIG - got, &k) == 1)
                got += k;
            bool ok = got == 5 + BIG && memcmp(in, "pong\n", 5) == 0;
            for (size_t i = 0; ok && i < BIG; i++)
                ok = in[5 + i] == pattern(i);
            c->exchanged = ok;
            free(in);
        }
    }
out:
    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    shutdown(c->fd, SHUT_WR);
    ERR_clear_error();
    return NULL;
}

/* ---- the server side: the transport under test, driven like the event core would ---- */

typedef struct sconn {
    mr_transport_t tr;
    int fd;
    char in[8];
    size_t nin;
    uint8_t *big;
    size_t out_off; /* bytes of "pong\n" + big written */
    bool eof;
    int err;        /* errno of a fatal transport error */
    size_t read_max;        /* 0: 4096 a read */
    size_t pending_after[5]; /* pending() after each read of the ping */
} sconn_t;

static void start(mr_tls_server_t *s, client_t *c, sconn_t *sc)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    memset(sc, 0, sizeof(*sc));
    sc->fd = sv[0];
    cr_assert_eq(mr_tls_transport_new(s, sv[0], &sc->tr), 0);
    c->fd = sv[1];
    pthread_create(&c->th, NULL, client_main, c);
}

/* Runs the connection until `until_established` holds, or the exchange ended (EOF or a
 * fatal error). Each step waits for what the protocol needs plus what wants() reports. */
static void drive(sconn_t *sc, bool until_established)
{
    const size_t total = 5 + BIG;
    for (int guard = 0; guard < 100000; guard++) {
        if (until_established && mr_tls_transport_established(sc->tr.t))
            return;
        if (sc->eof || sc->err)
            return;
        bool want_out = sc->nin == 5 && sc->out_off < total;
        if (want_out) {
            struct iovec iov[2];
            int n = 0;
            if (sc->out_off < 5)
                iov[n++] = (struct iovec){(char *)"pong\n" + sc->out_off, 5 - sc->out_off};
            size_t b = sc->out_off < 5 ? 0 : sc->out_off - 5;
            iov[n++] = (struct iovec){sc->big + b, BIG - b};
            ssize_t w = sc->tr.ops->writev(sc->tr.t, iov, n);
            if (w > 0) {
                sc->out_off += (size_t)w;
                continue;
            }
            cr_assert_eq(w, -1);
            if (errno != EAGAIN) {
                sc->err = errno;
                return;
            }
        } else {
            char buf[4096];
            ssize_t r = sc->tr.ops->read(sc->tr.t, buf, sc->read_max ? sc->read_max : sizeof(buf));
            if (r > 0) {
                cr_assert(sc->nin + (size_t)r <= 5, "the client sent more than ping");
                memcpy(sc->in + sc->nin, buf, (size_t)r);
                sc->nin += (size_t)r;
                sc->pending_after[sc->nin - 1] = sc->tr.ops->pending(sc->tr.t);
                continue;
            }
            if (r == 0) {
                sc->eof = true;
                return;
            }
            if (errno != EAGAIN) {
                sc->err = errno;
                return;
            }
        }
        if (until_established && mr_tls_transport_established(sc->tr.t))
            return;
        /* what the core waits for: the protocol's direction (it arms EPOLLIN / EPOLLOUT
         * itself) plus what the transport reports on its own */
        unsigned own = sc->tr.ops->wants(sc->tr.t);
        if (mr_tls_transport_established(sc->tr.t))
            cr_assert_eq(own & (want_out ? EPOLLOUT : EPOLLIN), 0u,
                         "an established transport reports the protocol's own direction (wants %u)", own);
        else
            cr_assert(own != 0, "EAGAIN in a handshake but the transport waits for nothing");
        unsigned w = own | (want_out ? EPOLLOUT : EPOLLIN);
        struct pollfd p = {.fd = sc->fd, .events = (short)((w & EPOLLIN ? POLLIN : 0) | (w & EPOLLOUT ? POLLOUT : 0))};
        cr_assert_eq(poll(&p, 1, 10000), 1, "no progress in 10 s (wants %u)", w);
    }
    cr_assert_fail("the exchange did not finish");
}

static void finish(client_t *c, sconn_t *sc)
{
    pthread_join(c->th, NULL);
    sc->tr.ops->free(sc->tr.t);
    close(c->fd);
}

static mr_tls_server_t *server(const char *cert, const char *key, const char *ca, const char *alpn)
{
    mr_tls_server_t *s = NULL;
    mr_error_t e = {0};
    cr_assert_eq(mr_tls_server_new(cert, key, ca, alpn, &s, &e), 0, "%s", e.message);
    return s;
}

/* One whole exchange; returns the client's view. */
static client_t exchange(mr_tls_server_t *s, client_t c, sconn_t *sc)
{
    static uint8_t *big;
    if (big == NULL) {
        big = malloc(BIG);
        for (size_t i = 0; i < BIG; i++)
            big[i] = pattern(i);
    }
    c.go_fd = c.go_fd ? c.go_fd : -1;
    start(s, &c, sc);
    sc->big = big;
    drive(sc, false);
    finish(&c, sc);
    return c;
}

#define H2 "\x02h2"
#define H1 "\x08http/1.1"

TestSuite(tls, .init = make_pki, .fini = rm_pki);

Test(tls, handshake_and_a_1mib_answer_through_the_transport)
{
    mr_tls_server_t *s = server(pki("server.pem"), pki("server.key"), NULL, MR_TLS_ALPN_H2);
    sconn_t sc;
    client_t c = exchange(s, (client_t){.alpn_wire = H2, .alpn_len = 3}, &sc);
    cr_assert(c.connected);
    cr_assert_str_eq(c.peer_cn, "murr-test-server");
    cr_assert_str_eq(c.alpn, "h2");
    cr_assert(c.exchanged, "the client did not receive pong + 1 MiB intact");
    cr_assert_eq(sc.out_off, 5 + BIG);
    cr_assert(sc.eof, "the client's close_notify is a clean end of stream (err %d)", sc.err);
    mr_tls_server_free(s);
}

/* The ping is one record: read a byte at a time, the other bytes are inside OpenSSL where
 * epoll cannot see them; pending() says how many (the event core calls on_input again). */
Test(tls, pending_reports_decrypted_bytes_not_yet_read)
{
    mr_tls_server_t *s = server(pki("server.pem"), pki("server.key"), NULL, MR_TLS_ALPN_H2);
    static uint8_t *big;
    big = big ? big : calloc(1, BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = pattern(i);
    client_t c = {.alpn_wire = H2, .alpn_len = 3, .go_fd = -1};
    sconn_t sc;
    start(s, &c, &sc);
    sc.big = big;
    sc.read_max = 1;
    drive(&sc, false);
    finish(&c, &sc);
    cr_assert(c.exchanged);
    cr_assert_eq(memcmp(sc.in, "ping\n", 5), 0);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(sc.pending_after[i], 4 - i, "after %zu bytes: pending %zu, expected %zu", i + 1,
                     sc.pending_after[i], 4 - i);
    mr_tls_server_free(s);
}

/* ---- read-ahead: records OpenSSL read from the socket but has not decrypted yet ---- */

/* A client that writes records through a memory BIO and puts their bytes on the socket in
 * the pieces the test asks for: two whole records in one write, then the first 10 bytes of
 * a third, then its rest; it waits for a byte on go_fd before each step after the first. */
typedef struct raw_client {
    int fd, go_fd;
    bool connected;
    pthread_t th;
} raw_client_t;

static void wait_go(int fd)
{
    char b;
    cr_assert_eq(read(fd, &b, 1), 1);
}

static size_t seal(SSL *ssl, BIO *mem, const char *text, unsigned char *out, size_t cap)
{
    size_t done = 0;
    cr_assert_eq(SSL_write_ex(ssl, text, strlen(text), &done), 1);
    int n = BIO_read(mem, out, (int)cap);
    cr_assert_gt(n, (int)strlen(text), "one record: the text plus its header and tag");
    return (size_t)n;
}

static void *raw_client_main(void *arg)
{
    raw_client_t *c = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, pki("ca.pem"), NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, c->fd);
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) == 1) {
        c->connected = true;
        BIO *mem = BIO_new(BIO_s_mem());
        SSL_set0_wbio(ssl, mem); /* records from now on go to mem, not the socket */
        unsigned char wire[512];
        size_t n = seal(ssl, mem, "first\n", wire, sizeof(wire));
        n += seal(ssl, mem, "second\n", wire + n, sizeof(wire) - n);
        cr_assert_eq(write(c->fd, wire, n), (ssize_t)n); /* two records, one write */
        wait_go(c->go_fd);
        n = seal(ssl, mem, "third\n", wire, sizeof(wire));
        cr_assert_eq(write(c->fd, wire, 10), 10); /* a record's start */
        wait_go(c->go_fd);
        cr_assert_eq(write(c->fd, wire + 10, n - 10), (ssize_t)(n - 10)); /* and its rest */
        wait_go(c->go_fd);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    shutdown(c->fd, SHUT_WR);
    ERR_clear_error();
    return NULL;
}

static bool readable_now(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* Reads into buf (at most n) once the socket is readable or the transport says it holds
 * input; returns what read() returned. */
static ssize_t read_when_ready(mr_transport_t *tr, int fd, char *buf, size_t n)
{
    for (int guard = 0; guard < 1000; guard++) {
        if (tr->ops->pending(tr->t) == 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            cr_assert_eq(poll(&p, 1, 10000), 1, "no input in 10 s");
        }
        ssize_t r = tr->ops->read(tr->t, buf, n);
        if (r >= 0 || errno != EAGAIN)
            return r;
    }
    cr_assert_fail("the transport never returned the input");
    return -1;
}

/* With read-ahead a read takes every byte the socket has: the second of two records sits in
 * OpenSSL undecrypted (SSL_pending 0) while the socket is empty, so pending() must still say
 * so, or the core would wait for an EPOLLIN that never comes. A record's start alone is not
 * input: after the read that finds it incomplete pending() is 0 (or the core would spin),
 * and the rest arriving wakes the socket. */
Test(tls, read_ahead_records_are_pending_until_a_read_finds_one_incomplete)
{
    mr_tls_server_t *s = server(pki("server.pem"), pki("server.key"), NULL, MR_TLS_ALPN_HTTP1);
    int sv[2], go[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(pipe(go), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    mr_transport_t tr;
    cr_assert_eq(mr_tls_transport_new(s, sv[0], &tr), 0);
    raw_client_t c = {.fd = sv[1], .go_fd = go[0]};
    pthread_create(&c.th, NULL, raw_client_main, &c);
    char buf[64];
    ssize_t r = read_when_ready(&tr, sv[0], buf, 6); /* drives the handshake, then the records */
    cr_assert_eq(r, 6, "read %zd (errno %d)", r, errno);
    cr_assert_eq(memcmp(buf, "first\n", 6), 0);
    cr_assert_not(readable_now(sv[0]), "both records were read ahead: the socket is empty");
    cr_assert_gt(tr.ops->pending(tr.t), 0u, "the second record is inside OpenSSL: pending");
    r = tr.ops->read(tr.t, buf, sizeof(buf));
    cr_assert_eq(r, 7);
    cr_assert_eq(memcmp(buf, "second\n", 7), 0);
    r = tr.ops->read(tr.t, buf, sizeof(buf));
    cr_assert(r == -1 && errno == EAGAIN, "nothing more yet: EAGAIN (read %zd, errno %d)", r, errno);
    cr_assert_eq(tr.ops->pending(tr.t), 0u);

    cr_assert_eq(write(go[1], "g", 1), 1); /* the third record's first 10 bytes */
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 10000), 1);
    r = tr.ops->read(tr.t, buf, sizeof(buf));
    cr_assert(r == -1 && errno == EAGAIN, "a record's start is not input (read %zd, errno %d)", r, errno);
    cr_assert_eq(tr.ops->pending(tr.t), 0u, "after EAGAIN the held bytes wait for the rest: not pending");
    cr_assert_not(readable_now(sv[0]));
    cr_assert_eq(tr.ops->wants(tr.t), 0u, "the wait is the core's own EPOLLIN");

    cr_assert_eq(write(go[1], "g", 1), 1); /* the rest: the socket wakes */
    cr_assert_eq(poll(&p, 1, 10000), 1, "the rest of the record makes the socket readable");
    r = read_when_ready(&tr, sv[0], buf, sizeof(buf));
    cr_assert_eq(r, 6);
    cr_assert_eq(memcmp(buf, "third\n", 6), 0);
    cr_assert_eq(write(go[1], "g", 1), 1);
    pthread_join(c.th, NULL);
    cr_assert(c.connected);
    r = read_when_ready(&tr, sv[0], buf, sizeof(buf));
    cr_assert_eq(r, 0, "the client's close is the end of stream (read %zd, errno %d)", r, errno);
    tr.ops->free(tr.t);
    close(sv[1]);
    close(go[0]);
    close(go[1]);
    mr_tls_server_free(s);
}

Test(tls, alpn_per_listener)
{
    mr_tls_server_t *http = server(pki("server.pem"), pki("server.key"), NULL, MR_TLS_ALPN_HTTP1);
    sconn_t sc;
    client_t c = exchange(http, (client_t){.alpn_wire = H2 H1, .alpn_len = 12}, &sc); /* as curl offers */
    cr_assert(c.exchanged);
    cr_assert_str_eq(c.alpn, "http/1.1");
    c = exchange(http, (client_t){0}, &sc); /* no ALPN: served */
    cr_assert(c.exchanged);
    cr_assert_str_eq(c.alpn, "");
    c = exchange(http, (client_t){.alpn_wire = H2, .alpn_len = 3}, &sc); /* only h2: refused */
    cr_assert_not(c.connected);
    cr_assert_eq(sc.err, EPROTO);
    mr_tls_server_free(http);
    mr_tls_server_t *flight = server(pki("server.pem"), pki("server.key"), NULL, MR_TLS_ALPN_H2);
    c = exchange(flight, (client_t){.alpn_wire = H1, .alpn_len = 9}, &sc);
    cr_assert_not(c.connected);
    cr_assert_eq(sc.err, EPROTO);
    mr_tls_server_free(flight);
}

Test(tls, client_certificates)
{
    mr_tls_server_t *s = server(pki("server.pem"), pki("server.key"), pki("ca.pem"), MR_TLS_ALPN_HTTP1);
    sconn_t sc;
    client_t c = exchange(s, (client_t){.cert = pki("client.pem"), .key = pki("client.key")}, &sc);
    cr_assert(c.exchanged, "a client certificate of the CA is accepted");
    c = exchange(s, (client_t){0}, &sc);
    cr_assert_not(c.exchanged);
    cr_assert_eq(sc.err, EPROTO, "no client certificate: the handshake fails (err %d)", sc.err);
    c = exchange(s, (client_t){.cert = pki("rogue.pem"), .key = pki("rogue.key")}, &sc);
    cr_assert_not(c.exchanged);
    cr_assert_eq(sc.err, EPROTO, "a certificate of another CA is refused (err %d)", sc.err);
    mr_tls_server_free(s);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp %s %s", from, to);
    cr_assert_eq(system(cmd), 0);
}

Test(tls, reload_new_connections_get_the_new_certificate_open_ones_keep_theirs)
{
    copy_file(pki("server.pem"), pki("live.pem"));
    copy_file(pki("server.key"), pki("live.key"));
    mr_tls_server_t *s = server(pki("live.pem"), pki("live.key"), NULL, MR_TLS_ALPN_H2);
    uint8_t *big = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = pattern(i);
    /* connection A: handshake done, exchange held back */
    int go[2];
    cr_assert_eq(pipe(go), 0);
    client_t a = {.go_fd = go[0]};
    sconn_t sa;
    start(s, &a, &sa);
    sa.big = big;
    drive(&sa, true);
    /* swap the files and reload */
    copy_file(pki("server2.pem"), pki("live.pem"));
    copy_file(pki("server2.key"), pki("live.key"));
    mr_error_t e = {0};
    cr_assert_eq(mr_tls_server_reload(s, &e), 0, "%s", e.message);
    sconn_t sb;
    client_t b = exchange(s, (client_t){0}, &sb);
    cr_assert(b.exchanged);
    cr_assert_str_eq(b.peer_cn, "murr-test-server-2");
    /* A goes on, on its old certificate */
    cr_assert_eq(write(go[1], "g", 1), 1);
    drive(&sa, false);
    finish(&a, &sa);
    cr_assert(a.exchanged, "the connection made before the reload was kept");
    cr_assert_str_eq(a.peer_cn, "murr-test-server");
    /* a broken certificate file: the reload fails naming it, the current context stays */
    FILE *f = fopen(pki("live.pem"), "w");
    fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    cr_assert_eq(mr_tls_server_reload(s, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "server.tls.cert_file") && strstr(e.message, pki("live.pem")), "%s", e.message);
    b = exchange(s, (client_t){0}, &sb);
    cr_assert(b.exchanged);
    cr_assert_str_eq(b.peer_cn, "murr-test-server-2");
    close(go[0]);
    close(go[1]);
    free(big);
    mr_tls_server_free(s);
}

Test(tls, load_errors_name_the_file)
{
    mr_tls_server_t *s = NULL;
    mr_error_t e = {0};
    cr_assert_eq(mr_tls_server_new(pki("nope.pem"), pki("server.key"), NULL, MR_TLS_ALPN_H2, &s, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "server.tls.cert_file") && strstr(e.message, "nope.pem"), "%s", e.message);
    cr_assert_eq(mr_tls_server_new(pki("server.pem"), pki("server2.key"), NULL, MR_TLS_ALPN_H2, &s, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "server.tls.key_file") && strstr(e.message, "server2.key") &&
                  strstr(e.message, "mismatch"), "%s", e.message);
    cr_assert_eq(mr_tls_server_new(pki("server.pem"), pki("ca.pem"), NULL, MR_TLS_ALPN_H2, &s, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "server.tls.key_file") && strstr(e.message, "ca.pem"), "%s", e.message);
    cr_assert_eq(mr_tls_server_new(pki("server.pem"), pki("server.key"), pki("none-ca.pem"), MR_TLS_ALPN_H2, &s, &e),
                 MURR_EINVAL);
    cr_assert(strstr(e.message, "server.tls.client_ca_file") && strstr(e.message, "none-ca.pem"), "%s", e.message);
    cr_assert_null(s);
}
