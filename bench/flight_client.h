/* flight_client.h - the benchmarks' minimal blocking Arrow Flight client on libnghttp2's
 * client session API (h2c, one TCP connection to 127.0.0.1 with TCP_NODELAY, 1 GiB stream
 * and connection windows): what bench_harness (murr-flight backend) and bench_vectors time
 * DoPut and DoGet with. One call at a time per connection. Every failure (connect, send, a
 * closed connection, a grpc-status other than 0, a malformed answer) prints a message naming
 * the RPC and exits the process: a benchmark that lost its server has nothing to report. */
#ifndef MR_BENCH_FLIGHT_CLIENT_H
#define MR_BENCH_FLIGHT_CLIENT_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/batch.h"
#include "core/buf.h"
#include "format/arrow_ipc.h"

typedef struct bench_fl_conn {
    int fd, port;
    nghttp2_session *h2;
    bool closed;
    int grpc_status;            /* -1 = not seen */
    char grpc_message[256];
    mr_buf_t in;                /* DATA bytes of the current stream: the answer's gRPC messages */
    const uint8_t *body;        /* request body */
    size_t body_len, body_off;
} bench_fl_conn_t;

void bench_fl_connect(bench_fl_conn_t *c, int port);
void bench_fl_close(bench_fl_conn_t *c);
/* One RPC: sends body (complete gRPC messages), half-closes, and waits until the stream
 * closes; the answer is in c->in. */
void bench_fl_call(bench_fl_conn_t *c, const char *method, const uint8_t *body, size_t len);
/* Appends one FlightData gRPC message: optional descriptor (PATH [table]), header, body. */
void bench_fl_put_flight_data(mr_buf_t *out, const char *table, const mr_ipc_msg_t *m);
/* Sets out to the gRPC message of a Ticket whose bytes are the JSON `json` (a DoGet body). */
void bench_fl_ticket(mr_buf_t *out, const char *json, size_t len);
/* Decodes the answer of the last call (gRPC messages of FlightData: a schema, then record
 * batches) and hands every batch to fn in order (the batch is freed when fn returns). `what`
 * names the call in messages. Returns the rows seen. */
int64_t bench_fl_answer(const bench_fl_conn_t *c, const char *what, void (*fn)(void *arg, const mr_batch_t *b),
                        void *arg);

#endif
