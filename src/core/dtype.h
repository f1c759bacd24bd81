/* dtype.h - facts about the 12 dtypes (widths, families, lossless widening). */
#ifndef MR_CORE_DTYPE_H
#define MR_CORE_DTYPE_H

#include "murr.h"
#include <stdbool.h>
#include <stddef.h>

/* Bytes per value in a batch's values buffer: 1/2/4/8; utf8 = 4 (int32 offset); bool = 0
 * (bit-packed). */
size_t mr_dtype_width(murr_dtype t);
bool mr_dtype_is_int(murr_dtype t);
bool mr_dtype_is_signed_int(murr_dtype t);
bool mr_dtype_is_unsigned_int(murr_dtype t);
bool mr_dtype_is_float(murr_dtype t);
/* True if every value of `from` is exactly representable in `to` (int8 -> int64,
 * uint16 -> int32, float32 -> float64, int16 -> float32, ...). Equal types are lossless. */
bool mr_dtype_widens_losslessly(murr_dtype from, murr_dtype to);

#endif
