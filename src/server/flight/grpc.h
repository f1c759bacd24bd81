/*
 * grpc.h - the gRPC-over-HTTP/2 pieces that do not depend on a connection: status codes,
 * the grpc-timeout header, grpc-message percent-encoding, and the 5-byte length-prefixed
 * message framing (incremental deframer with a size limit). Pure functions over bytes,
 * bounds-checked, fuzzed through fuzz/fuzz_flight.c.
 */
#ifndef MR_SERVER_FLIGHT_GRPC_H
#define MR_SERVER_FLIGHT_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum mr_grpc_code {
    MR_GRPC_OK = 0,
    MR_GRPC_CANCELLED = 1,
    MR_GRPC_UNKNOWN = 2,
    MR_GRPC_INVALID_ARGUMENT = 3,
    MR_GRPC_DEADLINE_EXCEEDED = 4,
    MR_GRPC_NOT_FOUND = 5,
    MR_GRPC_ALREADY_EXISTS = 6,
    MR_GRPC_PERMISSION_DENIED = 7,
    MR_GRPC_RESOURCE_EXHAUSTED = 8,
    MR_GRPC_FAILED_PRECONDITION = 9,
    MR_GRPC_ABORTED = 10,
    MR_GRPC_OUT_OF_RANGE = 11,
    MR_GRPC_UNIMPLEMENTED = 12,
    MR_GRPC_INTERNAL = 13,
    MR_GRPC_UNAVAILABLE = 14,
    MR_GRPC_DATA_LOSS = 15,
    MR_GRPC_UNAUTHENTICATED = 16,
};

/* "NOT_FOUND", ...; "UNKNOWN" for values out of range. */
const char *mr_grpc_code_name(int code);
/* The gRPC code for a murr status (the only place that maps them for gRPC). */
int mr_grpc_code_of(int murr_status);

/* Parses a grpc-timeout value: 1..8 ASCII digits followed by one unit of H M S m u n.
 * Returns 0 and the timeout in nanoseconds (saturating at UINT64_MAX), or MURR_EINVAL. */
int mr_grpc_timeout_parse(const char *v, size_t len, uint64_t *ns, mr_error_t *err);

/* Percent-encodes a grpc-message value: bytes outside 0x20..0x7E and '%' become %XX.
 * Appends to out; returns 0 or MURR_ENOMEM. */
int mr_grpc_percent_encode(mr_buf_t *out, const char *msg, size_t len);

/* ---- length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length ---- */
#define MR_GRPC_PREFIX_LEN 5

/* Writes the 5-byte prefix of an uncompressed message of len bytes. */
void mr_grpc_prefix_write(uint8_t out[MR_GRPC_PREFIX_LEN], uint32_t len);

/* Incremental deframer: fed the bytes of DATA frames in order, yields complete messages.
 * A message is copied once, into a buffer of its exact size (mr_malloc) that the caller
 * takes over (mr_free), so the decoded FlightData can point into it. */
typedef struct mr_grpc_deframer {
    uint64_t max_message;     /* limit on one message's length */
    uint8_t prefix[MR_GRPC_PREFIX_LEN];
    size_t prefix_have;
    uint8_t *msg;             /* message being filled, NULL between messages */
    size_t msg_len, msg_have;
    uint64_t messages;        /* complete messages yielded so far */
} mr_grpc_deframer_t;

void mr_grpc_deframer_init(mr_grpc_deframer_t *d, uint64_t max_message);
void mr_grpc_deframer_deinit(mr_grpc_deframer_t *d);
/* Consumes bytes from data and len (both advanced) until one message is complete: returns 0 with
 * msg and msg_len set (caller frees *msg with mr_free; a zero-length message gives a non-NULL
 * 1-byte allocation and *msg_len 0), or 0 with *msg NULL when the input ran out mid-message.
 * Errors: MURR_ETOOBIG (length over the limit, message names both), MURR_EUNSUPPORTED
 * (compressed flag set: we announce no grpc-encoding), MURR_ECORRUPT (flag not 0/1),
 * MURR_ENOMEM. After an error the deframer is unusable. */
int mr_grpc_deframer_next(mr_grpc_deframer_t *d, const uint8_t **data, size_t *len, uint8_t **msg, size_t *msg_len,
                          mr_error_t *err);
/* True when no partial message is buffered (the stream may end here). */
bool mr_grpc_deframer_idle(const mr_grpc_deframer_t *d);

#endif
