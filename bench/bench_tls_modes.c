/* bench_tls_modes.c - OpenSSL's own cost of one fetch-shaped exchange (a 1 KiB request
 * record, a 4 KiB answer record) under the server settings decision 0010 weighs: read-ahead,
 * SSL_MODE_RELEASE_BUFFERS, the TLS 1.3 cipher. No murr code and no event loop: both ends
 * in one thread over a socketpair, so what differs between variants is OpenSSL's work only
 * (no scheduling, no other process), and the variants run interleaved round by round so the
 * machine's load hits all alike. Prints the median over rounds of ns per exchange and the
 * ratio to the first variant (murr's settings).
 *
 * Usage: bench_tls_modes PKI_DIR [--rounds R] [--per-round K] [--request B] [--answer B]
 * PKI_DIR holds server.pem/server.key/ca.pem (tests/support/mkcerts.sh makes them). */
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct variant {
    const char *name;
    bool read_ahead, release_buffers;
    const char *suite; /* the TLS 1.3 suite the client offers (the server accepts any) */
    SSL *srv, *cli;
    uint64_t *per_round; /* ns per exchange, one a round */
} variant_t;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_tls_modes: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void open_pair(variant_t *v, const char *dir)
{
    char cert[512], key[512], ca[512];
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method()), *cc = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_chain_file(sc, cert) != 1 || SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM) != 1)
        die("cannot load the server certificate");
    /* the server as tls.c builds it, with the variant's two switches */
    SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
    SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             (v->release_buffers ? SSL_MODE_RELEASE_BUFFERS : 0));
    SSL_CTX_set_read_ahead(sc, v->read_ahead);
    /* the client as bench_auth's */
    if (SSL_CTX_load_verify_locations(cc, ca, NULL) != 1)
        die("cannot load the CA");
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_read_ahead(cc, 1);
    SSL_CTX_set_default_read_buffer_len(cc, 65536);
    if (SSL_CTX_set_ciphersuites(cc, v->suite) != 1)
        die("unknown TLS 1.3 suite");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    v->srv = SSL_new(sc);
    v->cli = SSL_new(cc);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
    SSL_set_fd(v->srv, sv[0]);
    SSL_set_fd(v->cli, sv[1]);
    SSL_set_accept_state(v->srv);
    SSL_set_connect_state(v->cli);
    SSL_set1_host(v->cli, "localhost");
    int ds = 0, dc = 0;
    for (int i = 0; i < 100 && !(ds == 1 && dc == 1); i++) { /* both ends, one thread */
        if (dc != 1)
            dc = SSL_do_handshake(v->cli);
        if (ds != 1)
            ds = SSL_do_handshake(v->srv);
    }
    if (ds != 1 || dc != 1)
        die("handshake did not complete");
}

/* Reads exactly n bytes (the peer wrote them already: no wait). */
static void read_all(SSL *s, uint8_t *buf, size_t n)
{
    size_t got = 0, k;
    while (got < n) {
        if (SSL_read_ex(s, buf + got, n - got, &k) != 1)
            die("a read found nothing (the exchange lost bytes)");
        got += k;
    }
}

static void write_one(SSL *s, const uint8_t *buf, size_t n)
{
    size_t k;
    if (SSL_write_ex(s, buf, n, &k) != 1 || k != n)
        die("a record did not fit the socket");
}

/* One exchange as a fetch does it: request record in, answer record out, and the server's
 * read that ends at EAGAIN (the event core reads until it would block). */
static void exchange(variant_t *v, const uint8_t *req, size_t rn, const uint8_t *ans, size_t an, uint8_t *buf)
{
    write_one(v->cli, req, rn);
    read_all(v->srv, buf, rn);
    size_t k;
    if (SSL_read_ex(v->srv, buf, 1, &k) == 1 || SSL_get_error(v->srv, 0) != SSL_ERROR_WANT_READ)
        die("the server read more than the request");
    write_one(v->srv, ans, an);
    read_all(v->cli, buf, an);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_tls_modes PKI_DIR [--rounds R] [--per-round K] [--request B] [--answer B]\n");
        return 2;
    }
    int rounds = 200, per = 200;
    size_t rn = 1024, an = 4096;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--per-round")) per = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--request")) rn = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--answer")) an = strtoull(argv[i + 1], NULL, 10);
    }
    if (rounds < 1 || per < 1 || rn < 1 || rn > 16384 || an < 1 || an > 16384) {
        fprintf(stderr, "bench_tls_modes: rounds, per-round >= 1; request and answer 1..16384 bytes (one record)\n");
        return 2;
    }
    variant_t vs[] = {
        {.name = "murr: read-ahead, release buffers, AES-256-GCM", .read_ahead = true, .release_buffers = true,
         .suite = "TLS_AES_256_GCM_SHA384"},
        {.name = "no read-ahead (main before session 6)", .release_buffers = true, .suite = "TLS_AES_256_GCM_SHA384"},
        {.name = "buffers kept (no SSL_MODE_RELEASE_BUFFERS)", .read_ahead = true, .suite = "TLS_AES_256_GCM_SHA384"},
        {.name = "AES-128-GCM", .read_ahead = true, .release_buffers = true, .suite = "TLS_AES_128_GCM_SHA256"},
        {.name = "ChaCha20-Poly1305", .read_ahead = true, .release_buffers = true, .suite = "TLS_CHACHA20_POLY1305_SHA256"},
    };
    int nv = (int)(sizeof(vs) / sizeof(vs[0]));
    uint8_t *req = malloc(rn), *ans = malloc(an), *buf = malloc(16384);
    memset(req, 'q', rn);
    memset(ans, 'a', an);
    for (int i = 0; i < nv; i++) {
        open_pair(&vs[i], argv[1]);
        vs[i].per_round = malloc((size_t)rounds * sizeof(uint64_t));
        for (int w = 0; w < 200; w++)
            exchange(&vs[i], req, rn, ans, an, buf);
    }
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < nv; j++) {
            variant_t *v = &vs[(r + j) % nv];
            uint64_t t0 = now_ns();
            for (int i = 0; i < per; i++)
                exchange(v, req, rn, ans, an, buf);
            v->per_round[r] = (now_ns() - t0) / (uint64_t)per;
        }
    printf("%zu-byte request record, %zu-byte answer record, %d rounds x %d exchanges, median of rounds\n", rn, an,
           rounds, per);
    printf("| server variant | negotiated | ns/exchange | vs murr's |\n|---|---|---:|---:|\n");
    double base = 0;
    for (int i = 0; i < nv; i++) {
        qsort(vs[i].per_round, (size_t)rounds, sizeof(uint64_t), cmp_u64);
        double med = (double)vs[i].per_round[rounds / 2];
        base = i == 0 ? med : base;
        printf("| %s | %s | %.0f | %.3f |\n", vs[i].name, SSL_get_cipher_name(vs[i].srv), med, med / base);
        SSL_free(vs[i].srv);
        SSL_free(vs[i].cli);
        free(vs[i].per_round);
    }
    free(req);
    free(ans);
    free(buf);
    return 0;
}
