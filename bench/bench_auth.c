/* bench_auth.c - the cost of access control on the fetch path (issue 14): two running murr
 * servers, one without tokens and one with a tokens file (and, with --tls-ca, TLS), the same
 * table on both, fetches interleaved round by round on one kept-alive connection each (so
 * machine noise hits both sides alike). Prints p50/p99 per side and the ratio.
 * bench/auth.sh starts the servers.
 *
 * Usage: bench_auth --open-port P --auth-port P [--base-port P] --token T [--tls-ca FILE]
 *                   [--rounds R] [--per-round K] [--keys N] [--rows N]
 * T must have read, write and admin (it creates and fills the table on the auth server).
 * T = "-": send no token to either (an A/B of two builds serving without tokens).
 * --tls-ca: the auth server speaks TLS; its certificate is verified against FILE (OpenSSL
 * client, TLS 1.3 as negotiated, session kept for the whole run). Both sides go through the
 * same client code here (one request write, a response read by Content-Length), so the only
 * difference is the token check and the encryption. The TLS client reads ahead (one read()
 * per record, as the cleartext side's one read() per response) with a 64 KiB buffer.
 * --pids: the servers' process ids (A,B[,C]): their CPU time (all threads, schedstat) over
 * the measured rounds is printed per fetch, a figure the machine's load disturbs less than
 * latency. --base-port: a third server C configured as B (e.g. the TLS path of another build), same
 * rounds rotated over the three sides: the before/after of B in one run. */
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "http_client.h"

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* One kept-alive connection, cleartext (ssl NULL) or TLS. */
typedef struct conn {
    int fd;
    SSL *ssl;
    mr_buf_t in; /* bytes read past the last response */
} conn_t;

static void die(const char *what)
{
    fprintf(stderr, "bench_auth: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static conn_t conn_open(int port, const char *ca)
{
    conn_t c = {.fd = bench_http_connect(port)};
    mr_buf_init(&c.in);
    if (ca == NULL)
        return c;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        die("cannot load the CA file");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 65536);
    c.ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL keeps its reference */
    SSL_set_fd(c.ssl, c.fd);
    SSL_set1_host(c.ssl, "localhost");
    if (SSL_connect(c.ssl) != 1)
        die("TLS handshake failed");
    return c;
}

static void conn_write(conn_t *c, const void *p, size_t n)
{
    while (n > 0) {
        size_t w = 0;
        ssize_t r = 0;
        if (c->ssl) {
            if (SSL_write_ex(c->ssl, p, n, &w) != 1)
                die("SSL_write failed");
        } else if ((r = write(c->fd, p, n)) <= 0) {
            die("write failed");
        } else {
            w = (size_t)r;
        }
        p = (const char *)p + w;
        n -= w;
    }
}

static void conn_fill(conn_t *c)
{
    mr_buf_reserve(&c->in, 65536);
    size_t got = 0;
    ssize_t r = 0;
    if (c->ssl) {
        if (SSL_read_ex(c->ssl, c->in.data + c->in.len, 65536, &got) != 1)
            die("the server closed the TLS connection");
    } else if ((r = read(c->fd, c->in.data + c->in.len, 65536)) <= 0) {
        die("the server closed the connection");
    } else {
        got = (size_t)r;
    }
    c->in.len += got;
}

/* One response (Content-Length framed, as murr always answers): returns the status; the
 * response is left in *resp. */
static int conn_response(conn_t *c, mr_buf_t *resp)
{
    char *end;
    while ((end = c->in.len ? memmem(c->in.data, c->in.len, "\r\n\r\n", 4) : NULL) == NULL)
        conn_fill(c);
    size_t head = (size_t)(end - (char *)c->in.data) + 4;
    const char *cl = memmem(c->in.data, head, "Content-Length: ", 16);
    size_t body = cl ? strtoull(cl + 16, NULL, 10) : 0;
    while (c->in.len < head + body)
        conn_fill(c);
    int status = atoi((const char *)c->in.data + 9);
    resp->len = 0;
    mr_buf_append(resp, c->in.data, head + body);
    memmove(c->in.data, c->in.data + head + body, c->in.len - head - body);
    c->in.len -= head + body;
    return status;
}

/* One request with an optional bearer token; returns the status. */
static int request(conn_t *c, const char *method, const char *path, const char *token, const char *body,
                   mr_buf_t *resp)
{
    mr_buf_t h;
    mr_buf_init(&h);
    mr_buf_printf(&h, "%s %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n",
                  method, path, body ? strlen(body) : 0);
    if (token)
        mr_buf_printf(&h, "Authorization: Bearer %s\r\n", token);
    mr_buf_append_cstr(&h, "\r\n");
    if (body)
        mr_buf_append_cstr(&h, body); /* one write: one TLS record for a small request */
    conn_write(c, h.data, h.len);
    int st = conn_response(c, resp);
    mr_buf_deinit(&h);
    return st;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void setup(conn_t *fd, const char *token, int rows, mr_buf_t *resp)
{
    request(fd, "DELETE", "/api/v1/table/bench_auth", token, NULL, resp);
    const char *schema = "{\"key\":\"id\",\"columns\":{\"id\":{\"dtype\":\"utf8\",\"nullable\":false},"
                         "\"a\":{\"dtype\":\"float32\"},\"b\":{\"dtype\":\"float32\"},\"c\":{\"dtype\":\"float32\"},"
                         "\"d\":{\"dtype\":\"float32\"}}}";
    if (request(fd, "PUT", "/api/v1/table/bench_auth", token, schema, resp) != 201) {
        fprintf(stderr, "bench_auth: cannot create the table: %.*s\n", (int)resp->len, (const char *)resp->data);
        exit(1);
    }
    mr_buf_t w;
    mr_buf_init(&w);
    const char *cols[] = {"a", "b", "c", "d"};
    mr_buf_append_cstr(&w, "{\"columns\":{\"id\":[");
    for (int i = 0; i < rows; i++)
        mr_buf_printf(&w, "%s\"k%d\"", i ? "," : "", i);
    for (int c = 0; c < 4; c++) {
        mr_buf_printf(&w, "],\"%s\":[", cols[c]);
        for (int i = 0; i < rows; i++)
            mr_buf_printf(&w, "%s%d.5", i ? "," : "", i + c);
    }
    mr_buf_append_cstr(&w, "]}}");
    mr_buf_append(&w, "", 1);
    if (request(fd, "PUT", "/api/v1/table/bench_auth/write", token, (const char *)w.data, resp) != 200) {
        fprintf(stderr, "bench_auth: write failed: %.*s\n", (int)resp->len, (const char *)resp->data);
        exit(1);
    }
    mr_buf_deinit(&w);
}

/* CPU time a process has run, all threads (ns; the first field of /proc/PID/task/TID/schedstat),
 * or 0 when pid is 0 or unreadable. Threads that exited meanwhile are not counted: murr's
 * loop and worker threads live as long as the server. */
static uint64_t cpu_ns(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = pid > 0 ? opendir(path) : NULL;
    if (d == NULL)
        return 0;
    uint64_t sum = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char f[128];
        snprintf(f, sizeof(f), "/proc/%d/task/%.20s/schedstat", pid, e->d_name);
        FILE *fp = fopen(f, "r");
        unsigned long long ns = 0;
        if (fp && fscanf(fp, "%llu", &ns) == 1)
            sum += ns;
        if (fp)
            fclose(fp);
    }
    closedir(d);
    return sum;
}

/* One side of the comparison: a server, its connection, its token and its samples. */
typedef struct side {
    const char *label;
    int port, pid;
    conn_t conn;
    const char *token;
    uint64_t *t;
    uint64_t cpu0, cpu1; /* the server's CPU time around the measured rounds */
} side_t;

int main(int argc, char **argv)
{
    int open_port = 0, auth_port = 0, base_port = 0, pids[3] = {0, 0, 0}, rounds = 50, per = 200, keys = 100, rows = 10000;
    const char *token = NULL, *tls_ca = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *f = argv[i], *v = argv[i + 1];
        if (!strcmp(f, "--open-port")) open_port = atoi(v);
        else if (!strcmp(f, "--auth-port")) auth_port = atoi(v);
        else if (!strcmp(f, "--base-port")) base_port = atoi(v);
        else if (!strcmp(f, "--token")) token = v;
        else if (!strcmp(f, "--pids")) sscanf(v, "%d,%d,%d", &pids[0], &pids[1], &pids[2]);
        else if (!strcmp(f, "--tls-ca")) tls_ca = v;
        else if (!strcmp(f, "--rounds")) rounds = atoi(v);
        else if (!strcmp(f, "--per-round")) per = atoi(v);
        else if (!strcmp(f, "--keys")) keys = atoi(v);
        else if (!strcmp(f, "--rows")) rows = atoi(v);
    }
    if (!open_port || !auth_port || !token || rounds < 1 || per < 1 || keys < 1 || rows < keys) {
        fprintf(stderr, "usage: bench_auth --open-port P --auth-port P [--base-port P] --token T [--tls-ca FILE] "
                        "[--pids A,B[,C]] [--rounds R] [--per-round K] [--keys N] [--rows N>=keys]\n");
        return 2;
    }
    if (strcmp(token, "-") == 0)
        token = NULL;
    mr_buf_t resp;
    mr_buf_init(&resp);
    size_t n = (size_t)rounds * (size_t)per;
    /* A: cleartext without a token; B: the auth server; C (--base-port): another build
     * configured as B (its before/after in the same run) */
    side_t sides[3] = {{.label = "A", .port = open_port}, {.label = "B", .port = auth_port, .token = token},
                       {.label = "C", .port = base_port, .token = token}};
    int nsides = base_port ? 3 : 2;
    for (int s = 0; s < nsides; s++) {
        sides[s].pid = pids[s];
        sides[s].conn = conn_open(sides[s].port, s == 0 ? NULL : tls_ca);
        setup(&sides[s].conn, sides[s].token, rows, &resp);
        sides[s].t = malloc(n * sizeof(uint64_t));
    }
    mr_buf_t body;
    mr_buf_init(&body);
    mr_buf_append_cstr(&body, "{\"columns\":[\"a\",\"b\",\"c\",\"d\"],\"keys\":[");
    for (int i = 0; i < keys; i++)
        mr_buf_printf(&body, "%s\"k%d\"", i ? "," : "", (i * 7919) % rows);
    mr_buf_append_cstr(&body, "]}");
    mr_buf_append(&body, "", 1);
    for (int w = 0; w < 200; w++) /* warm every side */
        for (int s = 0; s < nsides; s++)
            request(&sides[s].conn, "POST", "/api/v1/table/bench_auth/fetch", sides[s].token, (const char *)body.data,
                    &resp);
    for (int s = 0; s < nsides; s++)
        sides[s].cpu0 = cpu_ns(sides[s].pid);
    size_t k = 0;
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < nsides; j++) {
            side_t *sd = &sides[(r + j) % nsides]; /* rotate which side goes first in a round */
            for (int i = 0; i < per; i++) {
                uint64_t t0 = now_ns();
                int st = request(&sd->conn, "POST", "/api/v1/table/bench_auth/fetch", sd->token,
                                 (const char *)body.data, &resp);
                uint64_t dt = now_ns() - t0;
                if (st != 200) {
                    fprintf(stderr, "bench_auth: fetch on side %s answered %d\n", sd->label, st);
                    return 1;
                }
                sd->t[k + (size_t)i] = dt;
            }
        }
        k += (size_t)per;
    }
    for (int s = 0; s < nsides; s++)
        sides[s].cpu1 = cpu_ns(sides[s].pid);
    double p50[3], p99[3], cpu[3];
    printf("| side | fetches | p50 us | p99 us | server CPU us/fetch |\n|---|---:|---:|---:|---:|\n");
    for (int s = 0; s < nsides; s++) {
        side_t *sd = &sides[s];
        qsort(sd->t, n, sizeof(uint64_t), cmp_u64);
        p50[s] = (double)sd->t[n / 2] / 1e3;
        p99[s] = (double)sd->t[n * 99 / 100] / 1e3;
        cpu[s] = sd->pid ? (double)(sd->cpu1 - sd->cpu0) / 1e3 / (double)n : 0;
        printf("| %s: port %d, %s%s%s | %zu | %.1f | %.1f | %.1f |\n", sd->label, sd->port,
               sd->token ? "bearer token (scope checked)" : "no token", sd->conn.ssl ? ", TLS" : "",
               s == 2 ? ", base build" : "", n, p50[s], p99[s], cpu[s]);
        free(sd->t);
    }
    if (sides[1].conn.ssl)
        printf("B's TLS: %s, %s\n", SSL_get_version(sides[1].conn.ssl), SSL_get_cipher_name(sides[1].conn.ssl));
    printf("ratio B/A: p50 %.3f, p99 %.3f", p50[1] / p50[0], p99[1] / p99[0]);
    if (cpu[0] > 0)
        printf(", server CPU %.3f", cpu[1] / cpu[0]);
    if (nsides == 3) {
        printf("\nratio C/A: p50 %.3f, p99 %.3f", p50[2] / p50[0], p99[2] / p99[0]);
        if (cpu[0] > 0)
            printf(", server CPU %.3f", cpu[2] / cpu[0]);
        printf("\nratio B/C: p50 %.3f", p50[1] / p50[2]);
        if (cpu[2] > 0)
            printf(", server CPU %.3f", cpu[1] / cpu[2]);
    }
    printf("\n");
    mr_buf_deinit(&body);
    mr_buf_deinit(&resp);
    return 0;
}
