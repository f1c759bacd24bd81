/* flight_codec.c - FlightData decode in place and encode around caller buffers (see
 * flight_codec.h). Protobuf wire types handled: 0 varint, 1 fixed64, 2 length-delimited,
 * 5 fixed32; groups (3, 4) are refused as they never occur in Flight. */
#include "server/flight/flight_codec.h"
#include "core/varint.h"

#include <string.h>

#include "server/flight/grpc.h"

int mr_flight_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *out, mr_error_t *err)
{
    uint64_t v = 0;
    size_t start = *pos;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= n)
            return mr_err_set(err, MURR_ECORRUPT, "truncated varint at byte %zu of %zu", start, n);
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return mr_err_set(err, MURR_ECORRUPT, "varint longer than 10 bytes at byte %zu", start);
}

int mr_flight_data_decode(const uint8_t *p, size_t n, mr_flight_data_t *out, mr_error_t *err)
{
    memset(out, 0, sizeof(*out));
    /* absent fields are empty slices that still point somewhere valid: decoders downstream
     * (the IPC reader) do pointer arithmetic on them even at length 0 */
    static const uint8_t empty[1];
    const uint8_t *base = p ? p : empty;
    out->descriptor.ptr = out->header.ptr = out->app_metadata.ptr = out->body.ptr = base;
    size_t pos = 0;
    while (pos < n) {
        size_t at = pos;
        uint64_t key = 0;
        MR_RETURN_NOT_OK(mr_flight_varint(p, n, &pos, &key, err));
        uint64_t field = key >> 3;
        unsigned wt = (unsigned)(key & 7);
        if (field == 0)
            return mr_err_set(err, MURR_ECORRUPT, "FlightData: field number 0 at byte %zu", at);
        switch (wt) {
        case 0: {
            uint64_t ignored = 0;
            MR_RETURN_NOT_OK(mr_flight_varint(p, n, &pos, &ignored, err));
            break;
        }
        case 1:
        case 5: {
            size_t w = wt == 1 ? 8 : 4;
            if (n - pos < w)
                return mr_err_set(err, MURR_ECORRUPT, "FlightData: truncated fixed%zu field %llu at byte %zu", w * 8,
                                  (unsigned long long)field, at);
            pos += w;
            break;
        }
        case 2: {
            uint64_t len = 0;
            MR_RETURN_NOT_OK(mr_flight_varint(p, n, &pos, &len, err));
            if (len > n - pos)
                return mr_err_set(err, MURR_ECORRUPT,
                                  "FlightData: field %llu at byte %zu declares %llu bytes but only %zu remain",
                                  (unsigned long long)field, at, (unsigned long long)len, n - pos);
            mr_flight_bytes_t b = {p + pos, (size_t)len};
            if (field == 1) {
                out->has_descriptor = true;
                out->descriptor = b;
            } else if (field == 2) {
                out->header = b;
            } else if (field == 3) {
                out->app_metadata = b;
            } else if (field == 1000) {
                out->body = b;
            }
            pos += (size_t)len;
            break;
        }
        default:
            return mr_err_set(err, MURR_ECORRUPT, "FlightData: unsupported wire type %u for field %llu at byte %zu", wt,
                              (unsigned long long)field, at);
        }
        if (wt != 2 && (field == 1 || field == 2 || field == 3 || field == 1000))
            return mr_err_set(err, MURR_ECORRUPT, "FlightData: field %llu at byte %zu has wire type %u, expected 2",
                              (unsigned long long)field, at, wt);
    }
    return 0;
}

int mr_flight_data_frame(size_t meta_len, uint64_t body_len, uint8_t head[MR_FLIGHT_HEAD_MAX], size_t *head_len,
                         uint8_t mid[MR_FLIGHT_MID_MAX], size_t *mid_len, mr_error_t *err)
{
    uint8_t h[MR_FLIGHT_HEAD_MAX];
    size_t hl = 0;
    if (meta_len) {
        h[hl++] = (2 << 3) | 2;
        hl += mr_varint_put(h + hl, meta_len);
    }
    size_t ml = 0;
    if (body_len) {
        ml += mr_varint_put(mid, (1000 << 3) | 2);
        ml += mr_varint_put(mid + ml, body_len);
    }
    uint64_t total = (uint64_t)hl + meta_len + ml + body_len;
    if (total > UINT32_MAX)
        return mr_err_set(err, MURR_ETOOBIG, "FlightData message of %llu bytes exceeds the gRPC limit of %u bytes",
                          (unsigned long long)total, UINT32_MAX);
    mr_grpc_prefix_write(head, (uint32_t)total);
    memcpy(head + MR_GRPC_PREFIX_LEN, h, hl);
    *head_len = MR_GRPC_PREFIX_LEN + hl;
    *mid_len = ml;
    return 0;
}
