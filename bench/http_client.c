/* http_client.c - see http_client.h. */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "format/arrow_ipc.h"

int bench_http_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

void bench_http_send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n > 1024 ? 1024 : n);
        if (w < 0) {
            perror("writev");
            exit(1);
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
}

/* The Content-Length of a response head of n bytes (0 if absent). Header names are
 * case-insensitive (compared only at line starts: this runs inside the timed region): murr writes "Content-Length", hyper (the Rust murr peers) "content-length". */
static size_t content_length(const uint8_t *head, size_t n)
{
    static const char name[] = "\r\ncontent-length:";
    for (size_t i = 0; i + sizeof(name) - 1 <= n; i++)
        if (head[i] == '\r' && strncasecmp((const char *)head + i, name, sizeof(name) - 1) == 0)
            return strtoull((const char *)head + i + sizeof(name) - 1, NULL, 10);
    return 0;
}

int bench_http_read_response(int fd, mr_buf_t *buf, size_t *body_off, size_t *body_len)
{
    buf->len = 0;
    size_t hdr_end = 0, clen = 0;
    for (;;) {
        mr_buf_reserve(buf, 65536);
        ssize_t r = read(fd, buf->data + buf->len, buf->cap - buf->len);
        if (r <= 0) {
            fprintf(stderr, "connection closed\n");
            exit(1);
        }
        buf->len += (size_t)r;
        if (!hdr_end) {
            uint8_t *e = memmem(buf->data, buf->len, "\r\n\r\n", 4);
            if (e) {
                hdr_end = (size_t)(e - buf->data) + 4;
                clen = content_length(buf->data, hdr_end);
            }
        }
        if (hdr_end && buf->len >= hdr_end + clen)
            break;
    }
    *body_off = hdr_end;
    *body_len = clen;
    return atoi((char *)buf->data + 9);
}

int bench_http_simple(int fd, const char *method, const char *path, const char *ctype, const char *body,
                      mr_buf_t *resp)
{
    char hdr[512];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(hdr, sizeof(hdr), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     method, path, ctype, bl);
    struct iovec iov[2] = {{hdr, (size_t)n}, {(void *)body, bl}};
    bench_http_send_all(fd, iov, bl ? 2 : 1);
    size_t o, l;
    return bench_http_read_response(fd, resp, &o, &l);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_http_send_arrow(int fd, const char *method, const char *path, const mr_batch_t *b, mr_buf_t *resp,
                          size_t *body_off, size_t *body_len, uint64_t *ns)
{
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    struct iovec *iov;
    int cnt;
    size_t total;
    mr_error_t e = {0};
    if (mr_ipc_write_stream(&a, b, NULL, 0, &iov, &cnt, &total, &e) != 0) {
        fprintf(stderr, "%s %s: encoding %lld rows as Arrow IPC failed: %s\n", method, path, (long long)b->num_rows,
                e.message);
        exit(1);
    }
    char hdr[512];
    int hl = snprintf(hdr, sizeof(hdr), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      "application/vnd.apache.arrow.stream\r\nContent-Length: %zu\r\n\r\n", method, path, total);
    struct iovec *all = malloc(sizeof(struct iovec) * (size_t)(cnt + 1));
    all[0] = (struct iovec){hdr, (size_t)hl};
    memcpy(all + 1, iov, sizeof(struct iovec) * (size_t)cnt);
    uint64_t t0 = now_ns();
    bench_http_send_all(fd, all, cnt + 1);
    int st = bench_http_read_response(fd, resp, body_off, body_len);
    if (ns)
        *ns = now_ns() - t0;
    free(all);
    mr_arena_deinit(&a);
    return st;
}
