/* dtype.c - dtype names, widths and the lossless widening table of CONTRACT.md. */
#include "core/dtype.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>

static const char *const dtype_names[MURR_DTYPE_COUNT] = {
    "utf8", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
    "list<float32>", "list<float16>", "list<int8>",
};

MURR_API const char *murr_dtype_name(murr_dtype t)
{
    if ((unsigned)t >= MURR_DTYPE_COUNT)
        return "?";
    return dtype_names[t];
}

MURR_API int murr_dtype_parse(const char *name, size_t len, murr_dtype *out)
{
    for (int i = 0; i < MURR_DTYPE_COUNT; i++) {
        if (strlen(dtype_names[i]) == len && memcmp(dtype_names[i], name, len) == 0) {
            *out = (murr_dtype)i;
            return 0;
        }
    }
    return MURR_EINVAL;
}

size_t mr_dtype_width(murr_dtype t)
{
    switch (t) {
    case MURR_BOOL: return 0;
    case MURR_INT8: case MURR_UINT8: return 1;
    case MURR_INT16: case MURR_UINT16: return 2;
    case MURR_UTF8: case MURR_INT32: case MURR_UINT32: case MURR_FLOAT32: return 4;
    case MURR_INT64: case MURR_UINT64: case MURR_FLOAT64: return 8;
    case MURR_LIST_FLOAT32: case MURR_LIST_FLOAT16: case MURR_LIST_INT8: return 0;
    }
    return 0;
}

size_t mr_dtype_scalar_width(murr_dtype t) { return t == MURR_UTF8 ? 0 : mr_dtype_width(t); }

bool mr_dtype_is_signed_int(murr_dtype t) { return t >= MURR_INT8 && t <= MURR_INT64; }
bool mr_dtype_is_unsigned_int(murr_dtype t) { return t >= MURR_UINT8 && t <= MURR_UINT64; }
bool mr_dtype_is_int(murr_dtype t) { return mr_dtype_is_signed_int(t) || mr_dtype_is_unsigned_int(t); }
bool mr_dtype_is_float(murr_dtype t) { return t == MURR_FLOAT32 || t == MURR_FLOAT64; }

/* Value bits of a type: integers' magnitude bits, floats' mantissa bits (+1 implicit). */
static int value_bits(murr_dtype t)
{
    switch (t) {
    case MURR_INT8: return 7;
    case MURR_INT16: return 15;
    case MURR_INT32: return 31;
    case MURR_INT64: return 63;
    case MURR_UINT8: return 8;
    case MURR_UINT16: return 16;
    case MURR_UINT32: return 32;
    case MURR_UINT64: return 64;
    case MURR_FLOAT32: return 24;
    case MURR_FLOAT64: return 53;
    default: return 0;
    }
}

bool mr_dtype_widens_losslessly(murr_dtype from, murr_dtype to)
{
    if (from == to)
        return true;
    if (from == MURR_UTF8 || to == MURR_UTF8 || from == MURR_BOOL || to == MURR_BOOL)
        return false;
    if (mr_dtype_is_list(from) || mr_dtype_is_list(to))
        return mr_dtype_is_list(from) && mr_dtype_is_list(to) && mr_list_widens_losslessly(from, to);
    if (mr_dtype_is_float(from))
        return from == MURR_FLOAT32 && to == MURR_FLOAT64;
    /* from is an integer */
    if (mr_dtype_is_float(to))
        return value_bits(from) <= value_bits(to);
    if (mr_dtype_is_signed_int(from) && mr_dtype_is_unsigned_int(to))
        return false; /* negatives do not fit */
    return value_bits(from) <= value_bits(to);
}

bool mr_dtype_is_list(murr_dtype t) { return t == MURR_LIST_FLOAT32 || t == MURR_LIST_FLOAT16 || t == MURR_LIST_INT8; }

size_t mr_list_elem_width(murr_dtype t)
{
    return t == MURR_LIST_FLOAT32 ? 4 : t == MURR_LIST_FLOAT16 ? 2 : t == MURR_LIST_INT8 ? 1 : 0;
}

const char *mr_list_elem_name(murr_dtype t)
{
    return t == MURR_LIST_FLOAT32 ? "float32" : t == MURR_LIST_FLOAT16 ? "float16" : t == MURR_LIST_INT8 ? "int8" : "?";
}

/* int8 -> float16 -> float32: every int8 is exact in binary16 (11 significant bits). */
bool mr_list_widens_losslessly(murr_dtype from, murr_dtype to)
{
    if (from == to)
        return true;
    if (to == MURR_LIST_FLOAT32)
        return from == MURR_LIST_FLOAT16 || from == MURR_LIST_INT8;
    return to == MURR_LIST_FLOAT16 && from == MURR_LIST_INT8;
}

const char *mr_dtype_describe(murr_dtype t, int32_t dim, char *buf, size_t cap)
{
    if (mr_dtype_is_list(t) && dim > 0)
        snprintf(buf, cap, "%s (dim %d)", murr_dtype_name(t), dim);
    else
        snprintf(buf, cap, "%s", murr_dtype_name(t));
    return buf;
}
