/* flatbuf.c - bounds-checked FlatBuffers reading and a forward builder; see flatbuf.h. */
#include "format/flatbuf.h"

#include <string.h>

static bool in_range(const fb_ctx_t *c, size_t pos, size_t n) { return pos <= c->len && n <= c->len - pos; }

static uint32_t rd_u32(const fb_ctx_t *c, size_t pos)
{
    uint32_t v;
    memcpy(&v, c->buf + pos, 4);
    return v;
}

static bool load_table(fb_ctx_t *ctx, size_t pos, fb_table_t *out)
{
    if ((pos & 3) || !in_range(ctx, pos, 4)) {
        ctx->bad = true;
        return false;
    }
    int32_t so;
    memcpy(&so, ctx->buf + pos, 4);
    int64_t vt = (int64_t)pos - so;
    if (vt < 0 || !in_range(ctx, (size_t)vt, 4) || (vt & 1)) {
        ctx->bad = true;
        return false;
    }
    uint16_t vt_len, tbl_len;
    memcpy(&vt_len, ctx->buf + vt, 2);
    memcpy(&tbl_len, ctx->buf + vt + 2, 2);
    if (vt_len < 4 || (vt_len & 1) || !in_range(ctx, (size_t)vt, vt_len) || tbl_len < 4 || !in_range(ctx, pos, tbl_len)) {
        ctx->bad = true;
        return false;
    }
    out->ctx = ctx;
    out->pos = pos;
    out->vt = (size_t)vt;
    out->vt_len = vt_len;
    return true;
}

bool fb_root(fb_ctx_t *ctx, fb_table_t *out)
{
    if (!in_range(ctx, 0, 4)) {
        ctx->bad = true;
        return false;
    }
    return load_table(ctx, rd_u32(ctx, 0), out);
}

/* Absolute position of field `id` with `size` bytes, or 0 if absent/invalid. */
static size_t field_pos(const fb_table_t *t, int id, size_t size)
{
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vt_len)
        return 0;
    uint16_t off;
    memcpy(&off, t->ctx->buf + t->vt + slot, 2);
    if (off == 0)
        return 0;
    uint16_t tbl_len;
    memcpy(&tbl_len, t->ctx->buf + t->vt + 2, 2);
    if ((size_t)off + size > tbl_len) {
        t->ctx->bad = true;
        return 0;
    }
    return t->pos + off;
}

bool fb_has(const fb_table_t *t, int id) { return field_pos(t, id, 1) != 0; }

#define FB_SCALAR(name, type)                                  \
    type name(const fb_table_t *t, int id, type def)           \
    {                                                          \
        size_t p = field_pos(t, id, sizeof(type));             \
        if (p == 0)                                            \
            return def;                                        \
        type v;                                                \
        memcpy(&v, t->ctx->buf + p, sizeof(type));             \
        return v;                                              \
    }
FB_SCALAR(fb_i64, int64_t)
FB_SCALAR(fb_i32, int32_t)
FB_SCALAR(fb_i16, int16_t)
FB_SCALAR(fb_u8, uint8_t)

/* Follows the uoffset at field `id`; returns the target position or 0. */
static size_t follow(const fb_table_t *t, int id)
{
    size_t p = field_pos(t, id, 4);
    if (p == 0)
        return 0;
    uint32_t off = rd_u32(t->ctx, p);
    if (off == 0 || !in_range(t->ctx, p, (size_t)off)) {
        t->ctx->bad = true;
        return 0;
    }
    return p + off;
}

bool fb_table_field(const fb_table_t *t, int id, fb_table_t *out)
{
    size_t p = follow(t, id);
    return p != 0 && load_table(t->ctx, p, out);
}

bool fb_string(const fb_table_t *t, int id, const char **s, size_t *len)
{
    size_t p = follow(t, id);
    if (p == 0 || !in_range(t->ctx, p, 4)) {
        if (p)
            t->ctx->bad = true;
        return false;
    }
    uint32_t n = rd_u32(t->ctx, p);
    if (!in_range(t->ctx, p + 4, n)) {
        t->ctx->bad = true;
        return false;
    }
    *s = (const char *)t->ctx->buf + p + 4;
    *len = n;
    return true;
}

bool fb_vector(const fb_table_t *t, int id, size_t elem_size, size_t *count, size_t *data_pos)
{
    size_t p = follow(t, id);
    if (p == 0 || !in_range(t->ctx, p, 4)) {
        if (p)
            t->ctx->bad = true;
        return false;
    }
    uint32_t n = rd_u32(t->ctx, p);
    if ((uint64_t)n * elem_size > t->ctx->len || !in_range(t->ctx, p + 4, (size_t)n * elem_size)) {
        t->ctx->bad = true;
        return false;
    }
    *count = n;
    *data_pos = p + 4;
    return true;
}

bool fb_vector_table(fb_ctx_t *ctx, size_t data_pos, size_t i, fb_table_t *out)
{
    size_t p = data_pos + 4 * i;
    if (!in_range(ctx, p, 4)) {
        ctx->bad = true;
        return false;
    }
    uint32_t off = rd_u32(ctx, p);
    if (off == 0 || !in_range(ctx, p, (size_t)off)) {
        ctx->bad = true;
        return false;
    }
    return load_table(ctx, p + off, out);
}

/* ---- builder ---- */

static void pad_to(mr_buf_t *b, size_t align, size_t phase)
{
    size_t n = (phase + align - (b->len % align)) % align;
    if (n == 0 || mr_buf_reserve(b, n) != 0)
        return;
    memset(b->data + b->len, 0, n);
    b->len += n;
}

size_t fbb_table(mr_buf_t *b, const fb_field_t *f, int n, size_t *patch)
{
    int max_id = -1;
    for (int i = 0; i < n; i++)
        if (f[i].id > max_id)
            max_id = f[i].id;
    uint16_t vt_len = (uint16_t)(4 + 2 * (max_id + 1));
    /* layout: [vtable][pad][table: soffset, 8-byte fields, 4, 2, 1] with the table 8-aligned */
    uint16_t offs[64] = {0};
    size_t cur = 4;
    bool has8 = false;
    for (int i = 0; i < n; i++)
        has8 |= f[i].size == 8;
    if (has8)
        cur = 8;
    for (int sz = 8; sz >= 1; sz /= 2)
        for (int i = 0; i < n; i++)
            if (f[i].size == sz) {
                offs[i] = (uint16_t)cur;
                cur += (size_t)sz;
            }
    uint16_t tbl_len = (uint16_t)((cur + 3) & ~(size_t)3);
    /* vtable must end where padding before the 8-aligned table begins */
    pad_to(b, 2, 0);
    size_t vt_pos = b->len;
    uint16_t vt[68] = {0};
    vt[0] = vt_len;
    vt[1] = tbl_len;
    for (int i = 0; i < n; i++)
        vt[2 + f[i].id] = offs[i];
    mr_buf_append(b, vt, vt_len);
    pad_to(b, 8, 0);
    size_t tpos = b->len;
    mr_buf_reserve(b, tbl_len);
    memset(b->data + tpos, 0, tbl_len);
    b->len += tbl_len;
    int32_t so = (int32_t)(tpos - vt_pos);
    memcpy(b->data + tpos, &so, 4);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (f[i].is_offset) {
            patch[k++] = tpos + offs[i];
            continue;
        }
        uint64_t v = f[i].value;
        memcpy(b->data + tpos + offs[i], &v, (size_t)f[i].size); /* little endian */
    }
    return tpos;
}

void fbb_patch(mr_buf_t *b, size_t field_pos, size_t target)
{
    uint32_t off = (uint32_t)(target - field_pos);
    memcpy(b->data + field_pos, &off, 4);
}

size_t fbb_string(mr_buf_t *b, const char *s, size_t len)
{
    pad_to(b, 4, 0);
    size_t pos = b->len;
    uint32_t n = (uint32_t)len;
    mr_buf_append(b, &n, 4);
    mr_buf_append(b, s, len);
    mr_buf_append_byte(b, 0);
    return pos;
}

size_t fbb_offset_vector(mr_buf_t *b, size_t n)
{
    pad_to(b, 4, 0);
    size_t pos = b->len;
    uint32_t n32 = (uint32_t)n;
    mr_buf_append(b, &n32, 4);
    mr_buf_reserve(b, 4 * n);
    memset(b->data + b->len, 0, 4 * n);
    b->len += 4 * n;
    return pos;
}

size_t fbb_struct_vector(mr_buf_t *b, size_t n, size_t size, size_t align, uint8_t **data)
{
    pad_to(b, align < 4 ? 4 : align, align > 4 ? align - 4 : 0);
    size_t pos = b->len;
    uint32_t n32 = (uint32_t)n;
    mr_buf_append(b, &n32, 4);
    mr_buf_reserve(b, n * size);
    memset(b->data + b->len, 0, n * size);
    *data = b->data + b->len;
    b->len += n * size;
    return pos;
}
