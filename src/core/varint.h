/* varint.h - LEB128 / protobuf base-128 varints (7 bits a byte, low group first, high bit =
 * more follows): the one writer used by encoded keys and the Flight codec. */
#ifndef MR_CORE_VARINT_H
#define MR_CORE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define MR_VARINT_MAX 10

static inline size_t mr_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v at o (at most MR_VARINT_MAX bytes); returns the bytes written. */
static inline size_t mr_varint_put(uint8_t *o, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        o[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[i++] = (uint8_t)v;
    return i;
}

#endif
