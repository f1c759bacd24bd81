/* loopback_floor.h - the wire floor of an answer: a thread serving one loopback connection
 * that answers every HTTP/1.1 request (head, then Content-Length bytes of body) with the same
 * prebuilt response, written with one write() loop from one buffer. Timed with the same
 * client as the servers, it is what moving those bytes over loopback costs when the server
 * does no work at all (bench_vectors wire: murr's own answer bytes). The scattered variant
 * sends the rows from where they lie in a large pool instead of one buffer. */
#ifndef MR_BENCH_LOOPBACK_FLOOR_H
#define MR_BENCH_LOOPBACK_FLOOR_H

#include <stddef.h>

typedef struct bench_floor bench_floor_t;

/* Copies the len-byte response, listens on 127.0.0.1 (an ephemeral port, *port) and serves
 * the first connection from a thread until it closes. Exits the process on failure. */
bench_floor_t *bench_floor_start(const void *response, size_t len, int *port);

/* As bench_floor_start, but each answer's bytes [body_off, body_off + nrows * row_bytes) are
 * written instead from nrows uniformly random row_bytes-long rows of a 1 GiB pool (one
 * iovec each, writev): what answering from the rows where they are stored (no gather copy)
 * would cost on the wire. The byte count is the same, the content is not. */
bench_floor_t *bench_floor_start_scattered(const void *response, size_t len, size_t body_off, size_t row_bytes,
                                           int nrows, int *port);

/* Waits for the thread (the caller closes its connection first) and frees f. */
void bench_floor_stop(bench_floor_t *f);

#endif
