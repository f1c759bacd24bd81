/* arrow_c_internal.h - what the Arrow C Data Interface export (arrow_c.c) and import
 * (arrow_c_import.c) share: the format strings of murr's dtypes. */
#ifndef MR_FORMAT_ARROW_C_INTERNAL_H
#define MR_FORMAT_ARROW_C_INTERNAL_H

#include "core/dtype.h"

/* The format string of a flat dtype ("u", "b", "c", ...), or of a list dtype's element
 * ("f", "e", "c"); a list column itself is "+l" (variable) or "+w:<dim>" (fixed). */
const char *mr_arrow_c_format(murr_dtype t);
/* Stands in for the buffers of an empty column (a 0-row utf8 column still has one offset). */
extern const int64_t mr_arrow_c_zero[2];

#endif
