/* utf8.h - UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
#ifndef MR_CORE_UTF8_H
#define MR_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns true if p[0..n) is valid UTF-8; otherwise false and *bad_offset (if non-NULL)
 * is the offset of the first invalid byte. */
bool mr_utf8_valid(const uint8_t *p, size_t n, size_t *bad_offset);

#endif
