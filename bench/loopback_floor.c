/* loopback_floor.c - see loopback_floor.h. */
#include "loopback_floor.h"
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define POOL_BYTES ((size_t)1 << 30)

struct bench_floor {
    int lfd;
    uint8_t *resp;
    size_t len;
    pthread_t thr;
    uint8_t *pool; /* scattered: rows are sent from here */
    size_t body_off, row_bytes;
    int nrows;
    uint64_t seed;
};

/* The length of the first complete request in buf[0, n) (head + Content-Length body), or 0. */
static size_t request_len(const char *buf, size_t n)
{
    const char *e = memmem(buf, n, "\r\n\r\n", 4);
    if (e == NULL)
        return 0;
    size_t head = (size_t)(e - buf) + 4, body = 0;
    for (const char *p = buf; p + 17 <= e; p++)
        if (strncasecmp(p, "\r\ncontent-length:", 17) == 0) {
            body = strtoull(p + 17, NULL, 10);
            break;
        }
    return n >= head + body ? head + body : 0;
}

static void send_scattered(bench_floor_t *f, int fd)
{
    struct iovec *iov = malloc(sizeof(struct iovec) * (size_t)(f->nrows + 2));
    size_t rows_end = f->body_off + (size_t)f->nrows * f->row_bytes, slots = POOL_BYTES / f->row_bytes;
    int n = 0;
    iov[n++] = (struct iovec){f->resp, f->body_off};
    for (int i = 0; i < f->nrows; i++) {
        f->seed = f->seed * 6364136223846793005ull + 1442695040888963407ull;
        iov[n++] = (struct iovec){f->pool + (size_t)((f->seed >> 33) % slots) * f->row_bytes, f->row_bytes};
    }
    iov[n++] = (struct iovec){f->resp + rows_end, f->len - rows_end};
    bench_http_send_all(fd, iov, n);
    free(iov);
}

static void *serve(void *arg)
{
    bench_floor_t *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0) {
        perror("floor: accept");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    size_t cap = 1 << 20, have = 0;
    char *in = malloc(cap);
    for (;;) {
        size_t rl;
        while ((rl = request_len(in, have)) == 0) {
            if (have == cap) {
                fprintf(stderr, "floor: a request larger than %zu bytes\n", cap);
                exit(1);
            }
            ssize_t r = read(fd, in + have, cap - have);
            if (r <= 0) { /* the client closed: done */
                free(in);
                close(fd);
                return NULL;
            }
            have += (size_t)r;
        }
        memmove(in, in + rl, have - rl);
        have -= rl;
        if (f->pool)
            send_scattered(f, fd);
        else
            for (size_t off = 0; off < f->len;) {
                ssize_t w = write(fd, f->resp + off, f->len - off);
                if (w <= 0) {
                    perror("floor: write");
                    exit(1);
                }
                off += (size_t)w;
            }
    }
}

static bench_floor_t *start(bench_floor_t *f, const void *response, size_t len, int *port)
{
    f->resp = malloc(len);
    memcpy(f->resp, response, len);
    f->len = len;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(f->lfd, 1) != 0 ||
        getsockname(f->lfd, (struct sockaddr *)&a, &al) != 0) {
        perror("floor: listen");
        exit(1);
    }
    *port = ntohs(a.sin_port);
    if (pthread_create(&f->thr, NULL, serve, f) != 0) {
        fprintf(stderr, "floor: no thread\n");
        exit(1);
    }
    return f;
}

bench_floor_t *bench_floor_start(const void *response, size_t len, int *port)
{
    return start(calloc(1, sizeof(bench_floor_t)), response, len, port);
}

bench_floor_t *bench_floor_start_scattered(const void *response, size_t len, size_t body_off, size_t row_bytes,
                                           int nrows, int *port)
{
    if (body_off + (size_t)nrows * row_bytes > len || row_bytes == 0) {
        fprintf(stderr, "floor: %d rows of %zu bytes from offset %zu exceed the %zu-byte answer\n", nrows, row_bytes,
                body_off, len);
        exit(1);
    }
    uint8_t *pool = malloc(POOL_BYTES);
    if (pool == NULL) {
        fprintf(stderr, "floor: no memory for the %zu-byte pool\n", POOL_BYTES);
        exit(1);
    }
    memset(pool, 0x3f, POOL_BYTES); /* mapped before the timing */
    bench_floor_t *f = calloc(1, sizeof(*f));
    f->pool = pool;
    f->body_off = body_off;
    f->row_bytes = row_bytes;
    f->nrows = nrows;
    f->seed = 97;
    return start(f, response, len, port);
}

void bench_floor_stop(bench_floor_t *f)
{
    free(f->pool);
    pthread_join(f->thr, NULL);
    close(f->lfd);
    free(f->resp);
    free(f);
}
