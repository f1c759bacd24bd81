/* thrift_compact.c - Thrift compact protocol reader; see thrift_compact.h. */
#include "format/thrift_compact.h"

#include <string.h>

static void fail(tc_reader_t *r, const char *why)
{
    if (!r->bad) {
        r->bad = true;
        r->why = why;
    }
    r->p = r->end;
}

void tc_init(tc_reader_t *r, const uint8_t *data, size_t len)
{
    r->p = r->start = data;
    r->end = data + len;
    r->bad = false;
    r->why = NULL;
    r->depth = 0;
}

size_t tc_offset(const tc_reader_t *r) { return (size_t)(r->p - r->start); }

static uint64_t varint(tc_reader_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            fail(r, "truncated varint");
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    fail(r, "varint longer than 10 bytes");
    return 0;
}

static int64_t zigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

bool tc_field(tc_reader_t *r, int16_t *last_id, int16_t *id, uint8_t *type)
{
    if (r->bad)
        return false;
    if (r->p >= r->end) {
        fail(r, "truncated struct (no STOP field)");
        return false;
    }
    uint8_t b = *r->p++;
    if (b == TC_STOP)
        return false;
    *type = b & 0x0f;
    uint8_t delta = b >> 4;
    if (delta)
        *id = (int16_t)(*last_id + delta);
    else
        *id = (int16_t)zigzag(varint(r));
    *last_id = *id;
    if (*type > TC_STRUCT) {
        fail(r, "invalid field type");
        return false;
    }
    return !r->bad;
}

int64_t tc_int(tc_reader_t *r, uint8_t type)
{
    if (type == TC_BYTE) {
        if (r->p >= r->end) {
            fail(r, "truncated byte");
            return 0;
        }
        return (int8_t)*r->p++;
    }
    if (type == TC_I16 || type == TC_I32 || type == TC_I64)
        return zigzag(varint(r));
    tc_skip(r, type);
    fail(r, "expected an integer field");
    return 0;
}

bool tc_bool(uint8_t type) { return type == TC_TRUE; }

const uint8_t *tc_binary(tc_reader_t *r, size_t *len)
{
    uint64_t n = varint(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        fail(r, "binary field runs past the end");
        *len = 0;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    *len = (size_t)n;
    return p;
}

uint32_t tc_list(tc_reader_t *r, uint8_t *elem_type)
{
    if (r->p >= r->end) {
        fail(r, "truncated list header");
        return 0;
    }
    uint8_t b = *r->p++;
    uint64_t n = b >> 4;
    *elem_type = b & 0x0f;
    if (n == 15)
        n = varint(r);
    /* every element takes at least one byte, except booleans packed in the header types */
    if (n > (uint64_t)(r->end - r->p) + 1 || n > 0x7fffffff) {
        fail(r, "list longer than its input");
        return 0;
    }
    return (uint32_t)n;
}

bool tc_enter(tc_reader_t *r)
{
    if (++r->depth > 32) {
        fail(r, "structures nested deeper than 32 levels");
        return false;
    }
    return true;
}

void tc_leave(tc_reader_t *r) { r->depth--; }

void tc_skip(tc_reader_t *r, uint8_t type)
{
    switch (type) {
    case TC_TRUE:
    case TC_FALSE:
        return;
    case TC_BYTE:
        if (r->p < r->end)
            r->p++;
        else
            fail(r, "truncated byte");
        return;
    case TC_I16:
    case TC_I32:
    case TC_I64:
        varint(r);
        return;
    case TC_DOUBLE:
        if (r->end - r->p < 8)
            fail(r, "truncated double");
        else
            r->p += 8;
        return;
    case TC_BINARY: {
        size_t n;
        tc_binary(r, &n);
        return;
    }
    case TC_LIST:
    case TC_SET: {
        uint8_t et;
        uint32_t n = tc_list(r, &et);
        if (!tc_enter(r))
            return;
        for (uint32_t i = 0; i < n && !r->bad; i++) {
            if (et == TC_TRUE || et == TC_FALSE) { /* booleans in lists take one byte */
                if (r->p < r->end)
                    r->p++;
                else
                    fail(r, "truncated bool");
            } else {
                tc_skip(r, et);
            }
        }
        tc_leave(r);
        return;
    }
    case TC_MAP: {
        uint64_t n = varint(r);
        if (n == 0)
            return;
        if (r->p >= r->end || n > (uint64_t)(r->end - r->p)) {
            fail(r, "map longer than its input");
            return;
        }
        uint8_t kv = *r->p++;
        if (!tc_enter(r))
            return;
        for (uint64_t i = 0; i < n && !r->bad; i++) {
            tc_skip(r, kv >> 4);
            tc_skip(r, kv & 0x0f);
        }
        tc_leave(r);
        return;
    }
    case TC_STRUCT: {
        if (!tc_enter(r))
            return;
        int16_t last = 0, id;
        uint8_t t;
        while (tc_field(r, &last, &id, &t))
            tc_skip(r, t);
        tc_leave(r);
        return;
    }
    default:
        fail(r, "unknown type");
    }
}
