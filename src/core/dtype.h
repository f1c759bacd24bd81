/* dtype.h - facts about the 15 dtypes (widths, families, lossless widening). */
#ifndef MR_CORE_DTYPE_H
#define MR_CORE_DTYPE_H

#include "murr.h"
#include <stdbool.h>
#include <stddef.h>

/* Bytes per value in a batch's values buffer: 1/2/4/8; utf8 = 4 (int32 offset); bool = 0
 * (bit-packed); list dtypes = 0 (see mr_list_elem_width). */
size_t mr_dtype_width(murr_dtype t);
/* Bytes of one value of a fixed-width scalar dtype (integers, floats: 1/2/4/8); 0 for utf8,
 * bool and the list dtypes, whose values are not one fixed-width slot each. */
size_t mr_dtype_scalar_width(murr_dtype t);
bool mr_dtype_is_int(murr_dtype t);
bool mr_dtype_is_signed_int(murr_dtype t);
bool mr_dtype_is_unsigned_int(murr_dtype t);
bool mr_dtype_is_float(murr_dtype t);
/* True if every value of `from` is exactly representable in `to` (int8 -> int64,
 * uint16 -> int32, float32 -> float64, int16 -> float32, ...). Equal types are lossless. */
bool mr_dtype_widens_losslessly(murr_dtype from, murr_dtype to);

/* The list dtypes (embedding vectors, decision 0012). */
bool mr_dtype_is_list(murr_dtype t);
/* Bytes per element of a list dtype (4, 2, 1); 0 for other dtypes. */
size_t mr_list_elem_width(murr_dtype t);
/* "float32", "float16", "int8". */
const char *mr_list_elem_name(murr_dtype t);
/* int8 -> float16 -> float32 (the element types); equal types are lossless. */
bool mr_list_widens_losslessly(murr_dtype from, murr_dtype to);
/* "list<float32> (dim 768)" for messages; the plain name otherwise. Returns buf. */
const char *mr_dtype_describe(murr_dtype t, int32_t dim, char *buf, size_t cap);

#endif
