/*
 * thrift_compact.h - a bounds-checked reader of the Thrift compact protocol, enough for
 * Parquet's footer and page headers. Every read checks the remaining input; nested skips
 * are depth-limited. Errors are sticky: after the first, every read returns zero values and
 * `bad` stays set, so decoders check once per structure.
 */
#ifndef MR_FORMAT_THRIFT_COMPACT_H
#define MR_FORMAT_THRIFT_COMPACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TC_STOP = 0,
    TC_TRUE = 1,
    TC_FALSE = 2,
    TC_BYTE = 3,
    TC_I16 = 4,
    TC_I32 = 5,
    TC_I64 = 6,
    TC_DOUBLE = 7,
    TC_BINARY = 8,
    TC_LIST = 9,
    TC_SET = 10,
    TC_MAP = 11,
    TC_STRUCT = 12,
};

typedef struct tc_reader {
    const uint8_t *p, *end, *start;
    bool bad;
    const char *why; /* first problem, for messages */
    int depth;
} tc_reader_t;

void tc_init(tc_reader_t *r, const uint8_t *data, size_t len);
size_t tc_offset(const tc_reader_t *r);
/* Reads the next field header of the current struct: returns false at STOP (or error).
 * *id gets the field id (delta-decoded against *last_id), *type its compact type. */
bool tc_field(tc_reader_t *r, int16_t *last_id, int16_t *id, uint8_t *type);
int64_t tc_int(tc_reader_t *r, uint8_t type); /* I16/I32/I64 (zigzag varint) or BYTE */
bool tc_bool(uint8_t type);                   /* TRUE/FALSE types carry the value */
/* Binary/string: pointer into the input and its length. */
const uint8_t *tc_binary(tc_reader_t *r, size_t *len);
/* List header: element count and type. Counts are sanity-checked against the input size. */
uint32_t tc_list(tc_reader_t *r, uint8_t *elem_type);
void tc_skip(tc_reader_t *r, uint8_t type);
/* Enters / leaves a nested struct (depth limit 32). */
bool tc_enter(tc_reader_t *r);
void tc_leave(tc_reader_t *r);

#endif
