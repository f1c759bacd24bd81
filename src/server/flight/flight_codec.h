/*
 * flight_codec.h - FlightData on the wire, by hand: decoded in place (slices into the
 * message buffer, so a record-batch body is never copied) and encoded as small headers
 * around the caller's metadata and body buffers (so a batch's own buffers go out with
 * writev). Plus the protobuf varint/field walker both sides use. Every length of
 * untrusted input is checked against the bytes that remain.
 *
 * FlightData fields (Arrow Flight.proto): flight_descriptor = 1 (message),
 * data_header = 2 (bytes), app_metadata = 3 (bytes), data_body = 1000 (bytes).
 */
#ifndef MR_SERVER_FLIGHT_CODEC_H
#define MR_SERVER_FLIGHT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct mr_flight_bytes {
    const uint8_t *ptr;
    size_t len;
} mr_flight_bytes_t;

typedef struct mr_flight_data {
    bool has_descriptor;
    mr_flight_bytes_t descriptor;   /* the nested FlightDescriptor message bytes */
    mr_flight_bytes_t header;       /* flatbuffer Message (empty if absent) */
    mr_flight_bytes_t app_metadata;
    mr_flight_bytes_t body;
} mr_flight_data_t;

/* Reads a base-128 varint at p[*pos..n): 0 and *pos advanced, or MURR_ECORRUPT. */
int mr_flight_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *out, mr_error_t *err);

/* Decodes one FlightData message (the bytes of one gRPC message). Unknown fields are
 * skipped; a later occurrence of a field replaces an earlier one (protobuf rules). Absent
 * fields are empty slices with a non-NULL pointer.
 * MURR_ECORRUPT names the byte offset and field. */
int mr_flight_data_decode(const uint8_t *p, size_t n, mr_flight_data_t *out, mr_error_t *err);

/* Maximal header sizes for mr_flight_data_frame. */
#define MR_FLIGHT_HEAD_MAX 16
#define MR_FLIGHT_MID_MAX 16

/* Frames one FlightData gRPC message with data_header = meta_len bytes and data_body =
 * body_len bytes: the message is head[0..head_len) meta mid[0..mid_len) body, where head
 * includes the 5-byte gRPC prefix. Returns MURR_ETOOBIG when the message would exceed the
 * 4 GiB gRPC length field. */
int mr_flight_data_frame(size_t meta_len, uint64_t body_len, uint8_t head[MR_FLIGHT_HEAD_MAX], size_t *head_len,
                         uint8_t mid[MR_FLIGHT_MID_MAX], size_t *mid_len, mr_error_t *err);

#endif
