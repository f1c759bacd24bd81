/* http_client.h - the benchmarks' minimal blocking HTTP/1.1 client over loopback TCP
 * (keep-alive, TCP_NODELAY): what bench_harness and bench_keys time their requests with.
 * Every failure (connect, write, a closed connection) prints a message and exits the
 * process: a benchmark that lost its server has nothing to report. Not thread-safe per
 * connection; one thread per fd. Responses must carry Content-Length (murr and the Rust murr peers always do). */
#ifndef MR_BENCH_HTTP_CLIENT_H
#define MR_BENCH_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/uio.h>

#include "core/batch.h"
#include "core/buf.h"

/* Connects to 127.0.0.1:port with TCP_NODELAY; returns the fd. */
int bench_http_connect(int port);

/* Writes all n iovecs (writev, at most 1024 at a time). The iovec array is consumed: its
 * entries are advanced as bytes go out, so pass a copy if it is reused. */
void bench_http_send_all(int fd, struct iovec *iov, int n);

/* Reads one response into *buf (reused; grown as needed); returns the status code. The
 * body is buf->data[*body_off, *body_off + *body_len). */
int bench_http_read_response(int fd, mr_buf_t *buf, size_t *body_off, size_t *body_len);

/* Sends `method path` with Content-Type ctype and the NUL-terminated body (NULL: none),
 * reads the response into *resp; returns the status. */
int bench_http_simple(int fd, const char *method, const char *path, const char *ctype, const char *body,
                      mr_buf_t *resp);

/* Sends batch b as an Arrow IPC stream body (schema, one batch, EOS; zero copy from the
 * batch's buffers) with `method path` (e.g. PUT /api/v1/table/t/write) and reads the
 * response into *resp. Returns the status; *ns (if not NULL) = time from the first byte sent
 * to the last byte received (the encoding is outside it). Exits if the batch cannot be
 * encoded. */
int bench_http_send_arrow(int fd, const char *method, const char *path, const mr_batch_t *b, mr_buf_t *resp,
                          size_t *body_off, size_t *body_len, uint64_t *ns);

#endif
