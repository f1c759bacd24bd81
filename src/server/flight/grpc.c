/* grpc.c - gRPC status codes, grpc-timeout, grpc-message encoding, message framing.
 * See grpc.h; everything here reads untrusted bytes and checks every length. */
#include "server/flight/grpc.h"

#include <string.h>

#include "core/alloc.h"

const char *mr_grpc_code_name(int code)
{
    static const char *const names[] = {"OK",
                                        "CANCELLED",
                                        "UNKNOWN",
                                        "INVALID_ARGUMENT",
                                        "DEADLINE_EXCEEDED",
                                        "NOT_FOUND",
                                        "ALREADY_EXISTS",
                                        "PERMISSION_DENIED",
                                        "RESOURCE_EXHAUSTED",
                                        "FAILED_PRECONDITION",
                                        "ABORTED",
                                        "OUT_OF_RANGE",
                                        "UNIMPLEMENTED",
                                        "INTERNAL",
                                        "UNAVAILABLE",
                                        "DATA_LOSS",
                                        "UNAUTHENTICATED"};
    if (code < 0 || (size_t)code >= MR_ARRAY_LEN(names))
        return "UNKNOWN";
    return names[code];
}

int mr_grpc_code_of(int murr_status)
{
    switch (murr_status) {
    case MURR_OK: return MR_GRPC_OK;
    case MURR_ENOTFOUND: return MR_GRPC_NOT_FOUND;
    case MURR_EEXIST: return MR_GRPC_ALREADY_EXISTS;
    case MURR_EINVAL: case MURR_EUNSUPPORTED: case MURR_ECORRUPT: case MURR_ESHAPE: case MURR_ESYNTAX:
    case MURR_EMEDIA:
        return MR_GRPC_INVALID_ARGUMENT;
    case MURR_ETOOBIG: case MURR_ENOSPC: return MR_GRPC_RESOURCE_EXHAUSTED;
    case MURR_EBUSY: return MR_GRPC_UNAVAILABLE;
    case MURR_ECONFLICT: return MR_GRPC_FAILED_PRECONDITION;
    default: return MR_GRPC_INTERNAL; /* ENOMEM, EIO, EINTERNAL, EAGAIN: server faults */
    }
}

int mr_grpc_timeout_parse(const char *v, size_t len, uint64_t *ns, mr_error_t *err)
{
    if (len < 2 || len > 9)
        return mr_err_set(err, MURR_EINVAL, "grpc-timeout of %zu bytes: expected 1 to 8 digits and a unit", len);
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return mr_err_set(err, MURR_EINVAL, "grpc-timeout: byte %zu is not a digit (0x%02x)", i, (unsigned char)v[i]);
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    uint64_t mul;
    switch (v[len - 1]) {
    case 'H': mul = 3600000000000ull; break;
    case 'M': mul = 60000000000ull; break;
    case 'S': mul = 1000000000ull; break;
    case 'm': mul = 1000000ull; break;
    case 'u': mul = 1000ull; break;
    case 'n': mul = 1; break;
    default:
        return mr_err_set(err, MURR_EINVAL, "grpc-timeout: unknown unit '%c' (expected one of H M S m u n)",
                          v[len - 1]);
    }
    *ns = (n != 0 && mul > UINT64_MAX / n) ? UINT64_MAX : n * mul;
    return 0;
}

int mr_grpc_percent_encode(mr_buf_t *out, const char *msg, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c >= 0x20 && c <= 0x7E && c != '%') {
            MR_RETURN_NOT_OK(mr_buf_append_byte(out, c));
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            MR_RETURN_NOT_OK(mr_buf_append(out, e, 3));
        }
    }
    return 0;
}

void mr_grpc_prefix_write(uint8_t out[MR_GRPC_PREFIX_LEN], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

void mr_grpc_deframer_init(mr_grpc_deframer_t *d, uint64_t max_message)
{
    memset(d, 0, sizeof(*d));
    d->max_message = max_message;
}

void mr_grpc_deframer_deinit(mr_grpc_deframer_t *d)
{
    mr_free(d->msg);
    d->msg = NULL;
}

bool mr_grpc_deframer_idle(const mr_grpc_deframer_t *d) { return d->prefix_have == 0 && d->msg == NULL; }

int mr_grpc_deframer_next(mr_grpc_deframer_t *d, const uint8_t **data, size_t *len, uint8_t **msg, size_t *msg_len,
                          mr_error_t *err)
{
    *msg = NULL;
    *msg_len = 0;
    if (d->msg == NULL) {
        while (d->prefix_have < MR_GRPC_PREFIX_LEN && *len > 0) {
            d->prefix[d->prefix_have++] = **data;
            (*data)++;
            (*len)--;
        }
        if (d->prefix_have < MR_GRPC_PREFIX_LEN)
            return 0;
        uint8_t flag = d->prefix[0];
        uint32_t n = ((uint32_t)d->prefix[1] << 24) | ((uint32_t)d->prefix[2] << 16) | ((uint32_t)d->prefix[3] << 8) |
                     d->prefix[4];
        if (flag == 1)
            return mr_err_set(err, MURR_EUNSUPPORTED,
                              "message %llu has the compressed flag set, but no grpc-encoding was negotiated "
                              "(this server supports identity only)",
                              (unsigned long long)d->messages + 1);
        if (flag != 0)
            return mr_err_set(err, MURR_ECORRUPT, "message %llu: invalid compressed flag %u (expected 0 or 1)",
                              (unsigned long long)d->messages + 1, flag);
        if (d->max_message && n > d->max_message)
            return mr_err_set(err, MURR_ETOOBIG,
                              "received message larger than max (%u vs. %llu bytes: server.grpc.max_message_size)", n,
                              (unsigned long long)d->max_message);
        d->msg = mr_malloc(n ? n : 1);
        if (d->msg == NULL)
            return mr_err_set(err, MURR_ENOMEM, "cannot allocate %u bytes for a gRPC message", n);
        d->msg_len = n;
        d->msg_have = 0;
    }
    size_t take = d->msg_len - d->msg_have;
    if (take > *len)
        take = *len;
    if (take) {
        memcpy(d->msg + d->msg_have, *data, take);
        d->msg_have += take;
        *data += take;
        *len -= take;
    }
    if (d->msg_have < d->msg_len)
        return 0;
    *msg = d->msg;
    *msg_len = d->msg_len;
    d->msg = NULL;
    d->prefix_have = 0;
    d->messages++;
    return 0;
}
