/* libFuzzer driver for the Flight server: gRPC framing, FlightData and Flight protobuf
 * decoding, and the nghttp2 server session itself. The first input byte picks the mode:
 *  - even: the rest is the byte stream of one client connection (the HTTP/2 preface and an
 *    empty SETTINGS frame are prepended when missing, so mutations reach the frames), fed
 *    through the server's own connection code in detached mode (flight_conn.c: nghttp2
 *    callbacks, header checks, deframing, deadlines, limits) and the real RPC handlers
 *    over a real engine in a temporary directory with table "t" (DoPut commits inline);
 *  - odd: the rest is a sequence of gRPC-framed FlightData messages, deframed in pieces of
 *    (byte >> 1) + 1 bytes, each decoded by hand, its descriptor unpacked by protobuf-c and
 *    its data_header/data_body fed to an Arrow IPC reader, as DoPut does.
 * Invariants: no crash or sanitizer report; in connection mode, whatever the server wrote
 * starts with an HTTP/2 frame header of a SETTINGS frame (the server preface). Limits are
 * small (64 KiB messages) so the RESOURCE_EXHAUSTED paths are reachable. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/schema.h"
#include "format/arrow_ipc.h"
#include "server/flight/flight.h"
#include "server/flight/flight.pb-c.h"
#include "server/flight/flight_codec.h"
#include "server/flight/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static murr_db *db;
static mr_config_t cfg;
static mr_flight_server_t *srv;
static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
#define PREFACE_LEN 24
#define PREFACE_SETTINGS_LEN (PREFACE_LEN + 9)

static void ensure_table(void)
{
    murr_schema *have;
    murr_error e = {0};
    if (murr_describe_table(db, "t", &have, &e) == 0) {
        murr_schema_free(have);
        return;
    }
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", "s:utf8?", NULL);
    murr_create_table(db, "t", s, &e);
    mr_schema_free(s);
}

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    char tmpl[] = "/tmp/murr-fuzz-flight-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        abort();
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.background_compaction = false;
    murr_error e = {0};
    if (murr_open(tmpl, &o, &db, &e) != 0)
        abort();
    mr_config_defaults(&cfg);
    cfg.grpc.max_message_size = 1 << 16;
    cfg.http.max_payload_size = 1 << 20;
    srv = mr_flight_new_detached(&cfg, db);
}

static void fuzz_connection(const uint8_t *data, size_t size)
{
    mr_buf_t in, out;
    mr_buf_init(&in);
    mr_buf_init(&out);
    if (size < PREFACE_LEN || memcmp(data, preface, PREFACE_LEN) != 0)
        mr_buf_append(&in, preface, PREFACE_SETTINGS_LEN);
    mr_buf_append(&in, data, size);
    mr_flight_feed_detached(srv, in.data, in.len, &out);
    /* the server always speaks first with its SETTINGS frame */
    if (out.len < 9 || out.data[3] != 0x04)
        __builtin_trap();
    mr_buf_deinit(&in);
    mr_buf_deinit(&out);
}

static void fuzz_messages(uint8_t mode, const uint8_t *data, size_t size)
{
    size_t piece = (size_t)(mode >> 1) + 1;
    mr_grpc_deframer_t d;
    mr_grpc_deframer_init(&d, 1 << 16);
    mr_ipc_reader_t *r = mr_ipc_reader_new(1 << 16, (uint64_t)1 << 30, "server.http.max_payload_size (default)");
    static const uint8_t none[1];
    mr_ipc_reader_borrow(r, none, 0, NULL);
    uint8_t *keep[64];
    size_t nkeep = 0;
    size_t pos = 0;
    bool reader_failed = false;
    while (pos < size) {
        const uint8_t *p = data + pos;
        size_t n = size - pos < piece ? size - pos : piece;
        pos += n;
        while (n > 0) {
            uint8_t *msg;
            size_t ml;
            mr_error_t e = {0};
            if (mr_grpc_deframer_next(&d, &p, &n, &msg, &ml, &e) != 0)
                goto out;
            if (msg == NULL)
                break;
            mr_flight_data_t fd;
            if (mr_flight_data_decode(msg, ml, &fd, &e) == 0) {
                if (fd.has_descriptor) {
                    Arrow__Flight__Protocol__FlightDescriptor *desc =
                        arrow__flight__protocol__flight_descriptor__unpack(NULL, fd.descriptor.len, fd.descriptor.ptr);
                    if (desc)
                        arrow__flight__protocol__flight_descriptor__free_unpacked(desc, NULL);
                }
                mr_batch_t *b = NULL;
                /* like DoPut, the stream ends at the reader's first error (the reader is not
                 * meant to be fed after one) */
                if (fd.header.len && !reader_failed) {
                    if (mr_ipc_reader_message(r, fd.header.ptr, fd.header.len, fd.body.ptr, fd.body.len, &b, &e) != 0)
                        reader_failed = true;
                }
                if (b) {
                    mr_batch_validate(b, NULL);
                    mr_batch_free(b);
                }
            }
            /* the reader may point into schema/dictionary messages: keep them until the end */
            if (nkeep < MR_ARRAY_LEN(keep))
                keep[nkeep++] = msg;
            else
                goto out_free;
            continue;
        out_free:
            mr_free(msg);
            goto out;
        }
    }
out:
    mr_ipc_reader_free(r);
    for (size_t i = 0; i < nkeep; i++)
        mr_free(keep[i]);
    mr_grpc_deframer_deinit(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (db == NULL)
        setup();
    if (size == 0 || size > (1u << 18))
        return 0;
    if (data[0] & 1) {
        fuzz_messages(data[0], data + 1, size - 1);
        return 0;
    }
    ensure_table();
    fuzz_connection(data + 1, size - 1);
    return 0;
}
