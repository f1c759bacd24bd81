/* parquet_page.c - decodes one column chunk: page headers, decompression, definition
 * levels, and every value encoding, into the batch column (values scattered around nulls).
 * All sizes come from the untrusted file: each is checked against the bytes actually there
 * before use, and no allocation exceeds what the page can describe. */
#include <brotli/decode.h>
#include <lz4.h>
#include <snappy-c.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/budget.h"
#include "format/parquet_internal.h"
#include "format/thrift_compact.h"

#define PAGE_MAX ((size_t)1 << 30)

typedef struct span {
    const uint8_t *p;
    uint32_t len;
} span_t;

/* what is decoded from one page before scattering: non-null values in physical form */
typedef struct chunk_ctx {
    const mr_pq_file_t *f;
    const pq_column_t *col;
    int rg;
    const char *name;
    mr_error_t *err;
    /* dictionary (physical values) */
    uint8_t *dict_fixed;     /* count * width bytes */
    span_t *dict_spans;      /* BYTE_ARRAY */
    uint8_t *dict_page;      /* owns the bytes dict_spans point into */
    int64_t dict_n;
    bool has_dict;
    /* output */
    mr_column_t *out;
    int64_t rows_done, rows;
    mr_buf_t strdata;        /* utf8 bytes of the column (its capacity is charged) */
    pq_list_out_t list;      /* a LIST column being assembled (its elements are charged) */
    /* the file's decode budget: `transient` is what this page's scratch charged (released
     * when the page is done), `kept` what the chunk holds until its end (the dictionary) */
    mr_budget_t *budget;
    uint64_t transient, kept;
} chunk_ctx_t;

static int cerr(chunk_ctx_t *c, int code, size_t off, const char *fmt, const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, detail);
    return mr_err_set(c->err, code, "column '%s' row group %d: %s (byte %zu)", c->name, c->rg, msg, off);
}

/* n x size bytes of scratch for the current page, charged to the budget first; NULL with
 * c->err set (MURR_ETOOBIG over the budget, MURR_ENOMEM). */
static void *pq_scratch(chunk_ctx_t *c, uint64_t n, uint64_t size, const char *what)
{
    if (n == 0)
        n = 1;
    if (mr_budget_charge_n(c->budget, n, size, what, c->name, c->err) != 0)
        return NULL;
    c->transient += n * size;
    void *p = mr_malloc((size_t)(n * size));
    if (p == NULL)
        mr_err_set(c->err, MURR_ENOMEM, "column '%s' row group %d: cannot allocate %llu bytes for %s", c->name, c->rg,
                   (unsigned long long)(n * size), what);
    return p;
}

/* The page is done: its scratch is freed (by the caller) and its charge given back. */
static void page_done(chunk_ctx_t *c)
{
    mr_budget_release(c->budget, c->transient);
    c->transient = 0;
}

static size_t phys_width(int physical)
{
    switch (physical) {
    case PQ_INT32: case PQ_FLOAT: return 4;
    case PQ_INT64: case PQ_DOUBLE: return 8;
    case PQ_FIXED_LEN_BYTE_ARRAY: return 2; /* only FLOAT16 list elements are mapped (parquet.c) */
    default: return 0;
    }
}

/* ---------------------------------------------------------------- bit helpers -------- */

static uint64_t get_bits(const uint8_t *base, uint64_t bitpos, int bw)
{
    uint64_t v = 0;
    int got = 0;
    while (got < bw) {
        uint64_t byte = bitpos >> 3;
        int shift = (int)(bitpos & 7), take = 8 - shift;
        if (take > bw - got)
            take = bw - got;
        uint64_t bits = (base[byte] >> shift) & ((1u << take) - 1);
        v |= bits << got;
        got += take;
        bitpos += (uint64_t)take;
    }
    return v;
}

static bool uleb(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* RLE / bit-packed hybrid: exactly n values of bit width bw from [p, end). */
static bool rle_decode(const uint8_t *p, const uint8_t *end, int bw, uint32_t *out, size_t n)
{
    if (bw < 0 || bw > 32)
        return false;
    size_t i = 0, vbytes = (size_t)(bw + 7) / 8;
    while (i < n) {
        uint64_t h;
        if (!uleb(&p, end, &h))
            return false;
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups == 0 || groups > (uint64_t)(end - p) / (bw ? (uint64_t)bw : 1) + 1)
                return false;
            size_t bytes = (size_t)groups * (size_t)bw;
            if (bytes > (size_t)(end - p))
                return false;
            size_t cnt = (size_t)groups * 8;
            for (size_t k = 0; k < cnt && i < n; k++)
                out[i++] = bw ? (uint32_t)get_bits(p, (uint64_t)k * (uint64_t)bw, bw) : 0;
            p += bytes;
        } else {
            uint64_t cnt = h >> 1;
            if (vbytes > (size_t)(end - p))
                return false;
            uint32_t v = 0;
            for (size_t k = 0; k < vbytes; k++)
                v |= (uint32_t)p[k] << (8 * k);
            p += vbytes;
            if (cnt == 0)
                return false;
            for (uint64_t k = 0; k < cnt && i < n; k++)
                out[i++] = v;
        }
    }
    return true;
}

/* DELTA_BINARY_PACKED: decodes all values of the stream at *pp (advancing it) into a new
 * scratch array; *count gets the total. 0, MURR_ECORRUPT for a malformed stream (no message:
 * the caller names it), or the budget's / allocator's error with c->err set. */
static int dbp_decode(chunk_ctx_t *c, const uint8_t **pp, const uint8_t *end, int64_t **vals, uint64_t *count,
                      size_t limit)
{
    const uint8_t *p = *pp;
    uint64_t block, mbs, total, first_z;
    if (!uleb(&p, end, &block) || !uleb(&p, end, &mbs) || !uleb(&p, end, &total) || !uleb(&p, end, &first_z))
        return MURR_ECORRUPT;
    if (block == 0 || block % 128 || mbs == 0 || block % mbs || (block / mbs) % 32 || total > limit || block > 65536)
        return MURR_ECORRUPT;
    int64_t *v = pq_scratch(c, total, sizeof(int64_t), "DELTA_BINARY_PACKED values");
    if (v == NULL)
        return c->err->code;
    uint64_t per_mb = block / mbs, got = 0;
    int64_t last = (int64_t)((first_z >> 1) ^ (~(first_z & 1) + 1));
    if (total > 0)
        v[got++] = last;
    while (got < total) {
        uint64_t md_z;
        if (!uleb(&p, end, &md_z) || mbs > (uint64_t)(end - p))
            goto bad;
        int64_t min_delta = (int64_t)((md_z >> 1) ^ (~(md_z & 1) + 1));
        const uint8_t *widths = p;
        p += mbs;
        for (uint64_t m = 0; m < mbs && got < total; m++) {
            int bw = widths[m];
            if (bw > 64)
                goto bad;
            uint64_t bytes = per_mb * (uint64_t)bw / 8;
            if (bytes > (uint64_t)(end - p))
                goto bad;
            for (uint64_t k = 0; k < per_mb && got < total; k++) {
                uint64_t d = bw ? get_bits(p, k * (uint64_t)bw, bw) : 0;
                last = (int64_t)((uint64_t)last + (uint64_t)min_delta + d);
                v[got++] = last;
            }
            p += bytes;
        }
    }
    *pp = p;
    *vals = v;
    *count = total;
    return 0;
bad:
    mr_free(v);
    return MURR_ECORRUPT;
}

/* ------------------------------------------------------------------ codecs ----------- */

static uint8_t *decompress(chunk_ctx_t *c, int codec, const uint8_t *src, size_t slen, size_t ulen, size_t off)
{
    if (ulen > PAGE_MAX) {
        cerr(c, MURR_ECORRUPT, off, "page declares %s of uncompressed data", "more than 1 GiB");
        return NULL;
    }
    uint8_t *dst = pq_scratch(c, ulen, 1, "a decompressed page");
    if (dst == NULL)
        return NULL;
    bool ok = false;
    switch (codec) {
    case PQ_UNCOMPRESSED:
        ok = slen == ulen;
        if (ok)
            memcpy(dst, src, ulen);
        break;
    case PQ_SNAPPY: {
        size_t n;
        ok = snappy_uncompressed_length((const char *)src, slen, &n) == SNAPPY_OK && n == ulen &&
             snappy_uncompress((const char *)src, slen, (char *)dst, &n) == SNAPPY_OK && n == ulen;
        break;
    }
    case PQ_GZIP: {
        z_stream z = {0};
        if (inflateInit2(&z, 15 + 32) == Z_OK) {
            z.next_in = (Bytef *)src;
            z.avail_in = (uInt)slen;
            z.next_out = dst;
            z.avail_out = (uInt)ulen;
            int zr = inflate(&z, Z_FINISH);
            ok = zr == Z_STREAM_END && z.total_out == ulen;
            inflateEnd(&z);
        }
        break;
    }
    case PQ_ZSTD: {
        size_t n = ZSTD_decompress(dst, ulen, src, slen);
        ok = !ZSTD_isError(n) && n == ulen;
        break;
    }
    case PQ_LZ4_RAW:
        ok = slen <= INT32_MAX && ulen <= INT32_MAX &&
             LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)ulen) == (int)ulen;
        break;
    case PQ_LZ4: { /* Hadoop framing: [u32 BE raw][u32 BE compressed][block]...; else a raw block */
        size_t in = 0, outp = 0;
        ok = true;
        while (ok && in < slen) {
            if (slen - in < 8) {
                ok = false;
                break;
            }
            uint32_t raw = (uint32_t)src[in] << 24 | (uint32_t)src[in + 1] << 16 | (uint32_t)src[in + 2] << 8 | src[in + 3];
            uint32_t cmp = (uint32_t)src[in + 4] << 24 | (uint32_t)src[in + 5] << 16 | (uint32_t)src[in + 6] << 8 |
                           src[in + 7];
            in += 8;
            if (cmp > slen - in || raw > ulen - outp || cmp > INT32_MAX) {
                ok = false;
                break;
            }
            int n = LZ4_decompress_safe((const char *)src + in, (char *)dst + outp, (int)cmp, (int)raw);
            ok = n == (int)raw;
            in += cmp;
            outp += raw;
        }
        ok = ok && outp == ulen;
        if (!ok)
            ok = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)ulen) == (int)ulen;
        break;
    }
    case PQ_BROTLI: {
        size_t n = ulen;
        ok = BrotliDecoderDecompress(slen, src, &n, dst) == BROTLI_DECODER_RESULT_SUCCESS && n == ulen;
        break;
    }
    default:
        mr_free(dst);
        cerr(c, MURR_EUNSUPPORTED, off, "unsupported compression codec %s", codec == PQ_LZO ? "LZO" : "(unknown)");
        return NULL;
    }
    if (!ok) {
        mr_free(dst);
        static const char *const names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
        cerr(c, MURR_ECORRUPT, off, "%s page does not decompress to its declared size", names[codec]);
        return NULL;
    }
    return dst;
}

/* ------------------------------------------------------------- page headers ---------- */

typedef struct page_hdr {
    int type;                 /* 0 data v1, 2 dictionary, 3 data v2 */
    int32_t usize, csize;
    int32_t num_values, encoding, def_encoding;
    int32_t num_nulls, num_rows, def_len, rep_len;
    bool is_compressed;
    bool has_crc;             /* PageHeader.crc (field 4): CRC-32 of the csize page bytes */
    uint32_t crc;
} page_hdr_t;

static bool read_sub(tc_reader_t *r, page_hdr_t *h, int which)
{
    if (!tc_enter(r))
        return false;
    int16_t last = 0, id;
    uint8_t t;
    while (tc_field(r, &last, &id, &t)) {
        int64_t v = (t == TC_TRUE || t == TC_FALSE) ? tc_bool(t) : (t <= TC_I64 ? tc_int(r, t) : (tc_skip(r, t), 0));
        if (which == 5) { /* DataPageHeader */
            if (id == 1) h->num_values = (int32_t)v;
            else if (id == 2) h->encoding = (int32_t)v;
            else if (id == 3) h->def_encoding = (int32_t)v;
        } else if (which == 7) { /* DictionaryPageHeader */
            if (id == 1) h->num_values = (int32_t)v;
            else if (id == 2) h->encoding = (int32_t)v;
        } else { /* DataPageHeaderV2 */
            if (id == 1) h->num_values = (int32_t)v;
            else if (id == 2) h->num_nulls = (int32_t)v;
            else if (id == 3) h->num_rows = (int32_t)v;
            else if (id == 4) h->encoding = (int32_t)v;
            else if (id == 5) h->def_len = (int32_t)v;
            else if (id == 6) h->rep_len = (int32_t)v;
            else if (id == 7) h->is_compressed = v != 0;
        }
    }
    tc_leave(r);
    return !r->bad;
}

static bool read_page_header(tc_reader_t *r, page_hdr_t *h)
{
    memset(h, 0, sizeof(*h));
    h->type = -1;
    h->is_compressed = true;
    int16_t last = 0, id;
    uint8_t t;
    while (tc_field(r, &last, &id, &t)) {
        if (id == 1) h->type = (int)tc_int(r, t);
        else if (id == 2) h->usize = (int32_t)tc_int(r, t);
        else if (id == 3) h->csize = (int32_t)tc_int(r, t);
        else if (id == 4 && t == TC_I32) h->crc = (uint32_t)tc_int(r, t), h->has_crc = true;
        else if ((id == 5 || id == 7 || id == 8) && t == TC_STRUCT) read_sub(r, h, id);
        else tc_skip(r, t);
    }
    return !r->bad && h->type >= 0 && h->usize >= 0 && h->csize >= 0 && h->num_values >= 0;
}

/* --------------------------------------------------------------- values -------------- */

/* Decodes m non-null physical values of a page body [p, end) into fixed (m*w bytes) or
 * spans; scratch receives any memory the values live in (caller frees). */
static int decode_values(chunk_ctx_t *c, int enc, const uint8_t *p, const uint8_t *end, int64_t m, uint8_t *fixed,
                         span_t *spans, uint8_t **scratch, size_t off)
{
    int phys = c->col->physical;
    size_t w = phys_width(phys);
    size_t avail = (size_t)(end - p);
    if (enc == PQ_PLAIN) {
        if (phys == PQ_BOOLEAN) {
            if ((size_t)((m + 7) / 8) > avail)
                return cerr(c, MURR_ECORRUPT, off, "%s", "PLAIN booleans run past the page");
            for (int64_t i = 0; i < m; i++)
                fixed[i] = (p[i >> 3] >> (i & 7)) & 1;
            return 0;
        }
        if (phys == PQ_BYTE_ARRAY) {
            for (int64_t i = 0; i < m; i++) {
                if (end - p < 4)
                    return cerr(c, MURR_ECORRUPT, off, "%s", "PLAIN byte array length runs past the page");
                uint32_t l;
                memcpy(&l, p, 4);
                p += 4;
                if (l > (size_t)(end - p))
                    return cerr(c, MURR_ECORRUPT, off, "%s", "PLAIN byte array runs past the page");
                spans[i] = (span_t){p, l};
                p += l;
            }
            return 0;
        }
        if ((size_t)m * w > avail)
            return cerr(c, MURR_ECORRUPT, off, "%s", "PLAIN values run past the page");
        memcpy(fixed, p, (size_t)m * w);
        return 0;
    }
    if (enc == PQ_PLAIN_DICTIONARY || enc == PQ_RLE_DICTIONARY) {
        if (!c->has_dict)
            return cerr(c, MURR_ECORRUPT, off, "%s", "dictionary-encoded page without a dictionary page");
        if (avail < 1)
            return cerr(c, MURR_ECORRUPT, off, "%s", "missing index bit width");
        int bw = *p++;
        uint32_t *idx = pq_scratch(c, (uint64_t)m, sizeof(uint32_t), "dictionary indices");
        if (idx == NULL)
            return c->err->code;
        if (!rle_decode(p, end, bw, idx, (size_t)m)) {
            mr_free(idx);
            return cerr(c, MURR_ECORRUPT, off, "%s", "malformed RLE dictionary indices");
        }
        for (int64_t i = 0; i < m; i++) {
            if (idx[i] >= (uint64_t)c->dict_n) {
                mr_free(idx);
                return cerr(c, MURR_ECORRUPT, off, "%s", "dictionary index out of range");
            }
            if (phys == PQ_BYTE_ARRAY)
                spans[i] = c->dict_spans[idx[i]];
            else if (phys == PQ_BOOLEAN)
                fixed[i] = c->dict_fixed[idx[i]];
            else
                memcpy(fixed + (size_t)i * w, c->dict_fixed + (size_t)idx[i] * w, w);
        }
        mr_free(idx);
        return 0;
    }
    if (enc == PQ_RLE && phys == PQ_BOOLEAN) {
        if (avail < 4)
            return cerr(c, MURR_ECORRUPT, off, "%s", "RLE booleans lack their length");
        uint32_t l;
        memcpy(&l, p, 4);
        p += 4;
        if (l > (size_t)(end - p))
            return cerr(c, MURR_ECORRUPT, off, "%s", "RLE booleans run past the page");
        uint32_t *v = pq_scratch(c, (uint64_t)m, sizeof(uint32_t), "RLE booleans");
        if (v == NULL)
            return c->err->code;
        bool ok = rle_decode(p, p + l, 1, v, (size_t)m);
        for (int64_t i = 0; ok && i < m; i++)
            fixed[i] = (uint8_t)v[i];
        mr_free(v);
        return ok ? 0 : cerr(c, MURR_ECORRUPT, off, "%s", "malformed RLE booleans");
    }
    if (enc == PQ_BYTE_STREAM_SPLIT && w > 0) {
        if ((size_t)m * w > avail)
            return cerr(c, MURR_ECORRUPT, off, "%s", "BYTE_STREAM_SPLIT values run past the page");
        for (int64_t i = 0; i < m; i++)
            for (size_t k = 0; k < w; k++)
                fixed[(size_t)i * w + k] = p[k * (size_t)m + (size_t)i];
        return 0;
    }
    if (enc == PQ_DELTA_BINARY_PACKED && (phys == PQ_INT32 || phys == PQ_INT64)) {
        int64_t *v = NULL;
        uint64_t n = 0;
        int dr = dbp_decode(c, &p, end, &v, &n, avail * 64 + 1);
        if (dr != 0 || n < (uint64_t)m) {
            mr_free(v);
            return dr != 0 && dr != MURR_ECORRUPT ? dr
                                                  : cerr(c, MURR_ECORRUPT, off, "%s", "malformed DELTA_BINARY_PACKED values");
        }
        for (int64_t i = 0; i < m; i++) {
            if (phys == PQ_INT32) {
                int32_t x = (int32_t)v[i];
                memcpy(fixed + 4 * i, &x, 4);
            } else {
                memcpy(fixed + 8 * i, &v[i], 8);
            }
        }
        mr_free(v);
        return 0;
    }
    if ((enc == PQ_DELTA_LENGTH_BYTE_ARRAY || enc == PQ_DELTA_BYTE_ARRAY) && phys == PQ_BYTE_ARRAY) {
        int64_t *pre = NULL, *suf = NULL;
        uint64_t npre = 0, nsuf = 0;
        int dr = enc == PQ_DELTA_BYTE_ARRAY ? dbp_decode(c, &p, end, &pre, &npre, avail * 64 + 1) : 0;
        if (dr != 0 || (enc == PQ_DELTA_BYTE_ARRAY && npre < (uint64_t)m)) {
            mr_free(pre);
            return dr != 0 && dr != MURR_ECORRUPT
                       ? dr
                       : cerr(c, MURR_ECORRUPT, off, "%s", "malformed DELTA_BYTE_ARRAY prefix lengths");
        }
        dr = dbp_decode(c, &p, end, &suf, &nsuf, avail * 64 + 1);
        if (dr != 0 || nsuf < (uint64_t)m) {
            mr_free(suf);
            mr_free(pre);
            return dr != 0 && dr != MURR_ECORRUPT ? dr : cerr(c, MURR_ECORRUPT, off, "%s", "malformed DELTA lengths");
        }
        int rc = 0;
        if (enc == PQ_DELTA_LENGTH_BYTE_ARRAY) {
            for (int64_t i = 0; i < m && rc == 0; i++) {
                if (suf[i] < 0 || (uint64_t)suf[i] > (uint64_t)(end - p))
                    rc = cerr(c, MURR_ECORRUPT, off, "%s", "DELTA_LENGTH_BYTE_ARRAY value runs past the page");
                else {
                    spans[i] = (span_t){p, (uint32_t)suf[i]};
                    p += suf[i];
                }
            }
        } else {
            /* materialise prefix + suffix values into scratch */
            uint64_t total = 0;
            for (int64_t i = 0; i < m; i++) {
                if (pre[i] < 0 || suf[i] < 0 || (i == 0 && pre[i] != 0) ||
                    (i > 0 && (uint64_t)pre[i] > (uint64_t)pre[i - 1] + (uint64_t)suf[i - 1])) {
                    rc = cerr(c, MURR_ECORRUPT, off, "%s", "invalid DELTA_BYTE_ARRAY prefix length");
                    break;
                }
                total += (uint64_t)pre[i] + (uint64_t)suf[i];
                if (total > PAGE_MAX) {
                    rc = cerr(c, MURR_ECORRUPT, off, "%s", "DELTA_BYTE_ARRAY values expand beyond 1 GiB");
                    break;
                }
            }
            uint8_t *buf = rc == 0 ? pq_scratch(c, total, 1, "DELTA_BYTE_ARRAY values") : NULL;
            if (rc == 0 && buf == NULL)
                rc = c->err->code;
            uint64_t pos = 0;
            for (int64_t i = 0; i < m && rc == 0; i++) {
                if ((uint64_t)suf[i] > (uint64_t)(end - p)) {
                    rc = cerr(c, MURR_ECORRUPT, off, "%s", "DELTA_BYTE_ARRAY suffix runs past the page");
                    break;
                }
                if (pre[i] > 0)
                    memcpy(buf + pos, spans[i - 1].p, (size_t)pre[i]);
                memcpy(buf + pos + pre[i], p, (size_t)suf[i]);
                spans[i] = (span_t){buf + pos, (uint32_t)(pre[i] + suf[i])};
                pos += (uint64_t)(pre[i] + suf[i]);
                p += suf[i];
            }
            if (rc == 0)
                *scratch = buf;
            else
                mr_free(buf);
        }
        mr_free(pre);
        mr_free(suf);
        return rc;
    }
    static const char *const names[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
                                        "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
                                        "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return cerr(c, MURR_EUNSUPPORTED, off, "unsupported encoding %s for this column",
                enc >= 0 && enc <= 9 ? names[enc] : "(unknown)");
}

/* Makes room in the column's string bytes for the m values of a page, before any is
 * copied: this is where dictionary expansion lands, so the growth of the buffer (what
 * mr_buf_reserve will allocate) is charged to the budget first. */
static int reserve_strings(chunk_ctx_t *c, const span_t *spans, int64_t m)
{
    uint64_t total = 0;
    for (int64_t i = 0; i < m; i++) {
        total += spans[i].len;
        if (total > INT32_MAX - c->strdata.len)
            return mr_err_set(c->err, MURR_ETOOBIG, "column '%s': more than 2 GiB of strings in row group %d", c->name,
                              c->rg);
    }
    if (total <= c->strdata.cap - c->strdata.len)
        return 0;
    uint64_t need = c->strdata.len + total, cap = c->strdata.cap ? c->strdata.cap : 64;
    while (cap < need)
        cap *= 2;
    MR_RETURN_NOT_OK(mr_budget_charge(c->budget, cap - c->strdata.cap, "the strings of the column (dictionary "
                                      "expansion included)", c->name, c->err));
    if (mr_buf_reserve(&c->strdata, (size_t)total) != 0)
        return mr_err_set(c->err, MURR_ENOMEM, "column '%s': out of memory for %llu bytes of strings", c->name,
                          (unsigned long long)need);
    return 0;
}

/* Stores non-null values at the rows given by the definition levels. */
static int scatter(chunk_ctx_t *c, const uint32_t *defs, int64_t n, int64_t m, const uint8_t *fixed,
                   const span_t *spans)
{
    mr_column_t *col = c->out;
    if (col->dtype == MURR_UTF8)
        MR_RETURN_NOT_OK(reserve_strings(c, spans, m));
    int64_t row = c->rows_done, vi = 0;
    size_t w = phys_width(c->col->physical);
    for (int64_t i = 0; i < n; i++, row++) {
        bool valid = defs == NULL || defs[i] == 1;
        if (!valid) {
            mr_bit_clear(col->validity, row);
            if (col->dtype == MURR_UTF8)
                ((int32_t *)col->values)[row + 1] = (int32_t)c->strdata.len;
            continue;
        }
        switch (col->dtype) {
        case MURR_UTF8: {
            const span_t *s = &spans[vi];
            if (c->strdata.len + s->len > INT32_MAX)
                return mr_err_set(c->err, MURR_ETOOBIG, "column '%s': more than 2 GiB of strings in row group %d",
                                  c->name, c->rg);
            if (mr_buf_append(&c->strdata, s->p, s->len) != 0)
                return mr_err_set(c->err, MURR_ENOMEM, "out of memory");
            ((int32_t *)col->values)[row + 1] = (int32_t)c->strdata.len;
            break;
        }
        case MURR_BOOL:
            if (fixed[vi])
                mr_bit_set(col->values, row);
            break;
        case MURR_INT8: case MURR_UINT8: case MURR_INT16: case MURR_UINT16: {
            int32_t x;
            memcpy(&x, fixed + (size_t)vi * 4, 4);
            if (mr_dtype_width(col->dtype) == 1)
                ((uint8_t *)col->values)[row] = (uint8_t)x;
            else
                ((uint16_t *)col->values)[row] = (uint16_t)x;
            break;
        }
        default:
            memcpy((uint8_t *)col->values + (size_t)row * w, fixed + (size_t)vi * w, w);
            break;
        }
        vi++;
    }
    c->rows_done = row;
    return 0;
}

static int decode_dictionary(chunk_ctx_t *c, const uint8_t *p, size_t len, int32_t n, size_t off)
{
    if (c->has_dict)
        return cerr(c, MURR_ECORRUPT, off, "%s", "second dictionary page in one column chunk");
    if (n < 0 || (size_t)n > len * 8 + 8)
        return cerr(c, MURR_ECORRUPT, off, "%s", "dictionary value count exceeds the page");
    int phys = c->col->physical;
    size_t w = phys == PQ_BOOLEAN ? 1 : phys_width(phys);
    c->dict_n = n;
    /* kept for the chunk: charged as page scratch, then moved to `kept` with the page */
    if (phys == PQ_BYTE_ARRAY)
        c->dict_spans = pq_scratch(c, (uint64_t)n, sizeof(span_t), "a dictionary");
    else
        c->dict_fixed = pq_scratch(c, (uint64_t)n, w, "a dictionary");
    if (c->dict_spans == NULL && c->dict_fixed == NULL)
        return c->err->code;
    uint8_t *scratch = NULL;
    int rc = decode_values(c, PQ_PLAIN, p, p + len, n, c->dict_fixed, c->dict_spans, &scratch, off);
    mr_free(scratch);
    c->has_dict = rc == 0;
    return rc;
}

/* One level array of a list page: v1 (h->type 0) with its 4-byte length, v2 of `v2len`. */
static bool list_levels(const page_hdr_t *h, const uint8_t **p, const uint8_t *end, int32_t v2len, int max,
                        uint32_t *out, size_t n)
{
    int bw = 32 - __builtin_clz((unsigned)max | 1);
    uint32_t l;
    if (h->type == 3) {
        l = (uint32_t)v2len;
    } else {
        if (end - *p < 4)
            return false;
        memcpy(&l, *p, 4);
        *p += 4;
    }
    if (l > (size_t)(end - *p) || !rle_decode(*p, *p + l, bw, out, n))
        return false;
    *p += l;
    return true;
}

/* A data page of a LIST column: repetition then definition levels, then the values of
 * the levels at max_def, assembled into rows by parquet_levels.c. */
static int decode_list_page(chunk_ctx_t *c, const page_hdr_t *h, const uint8_t *body, size_t blen, size_t off)
{
    int64_t n = h->num_values;
    if (n < 0 || n > MR_PQ_LIST_LEVELS_MAX)
        return cerr(c, n < 0 ? MURR_ECORRUPT : MURR_ETOOBIG, off, "%s",
                    "a list page declares a negative number of levels or more than 16777216");
    const uint8_t *p = body, *end = body + blen;
    uint32_t *rep = pq_scratch(c, (uint64_t)n, sizeof(uint32_t), "repetition levels");
    uint32_t *def = rep ? pq_scratch(c, (uint64_t)n, sizeof(uint32_t), "definition levels") : NULL;
    int rc = 0;
    if (rep == NULL || def == NULL)
        rc = c->err->code;
    else if (!list_levels(h, &p, end, h->rep_len, 1, rep, (size_t)n))
        rc = cerr(c, MURR_ECORRUPT, off, "%s", "malformed repetition levels");
    else if (!list_levels(h, &p, end, h->def_len, c->col->max_def, def, (size_t)n))
        rc = cerr(c, MURR_ECORRUPT, off, "%s", "malformed definition levels");
    int64_t m = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++)
        m += def[i] == (uint32_t)c->col->max_def;
    uint8_t *fixed = rc == 0 ? pq_scratch(c, (uint64_t)m, phys_width(c->col->physical), "list values") : NULL;
    uint8_t *scratch = NULL;
    if (rc == 0 && fixed == NULL)
        rc = c->err->code;
    if (rc == 0)
        rc = decode_values(c, h->encoding, p, end, m, fixed, NULL, &scratch, off);
    /* the elements stay with the batch: charged for good (not `kept`, which the chunk gives back) */
    if (rc == 0)
        rc = mr_budget_charge_n(c->budget, (uint64_t)m, mr_list_elem_width(c->col->dtype), "list elements", c->name,
                                c->err);
    if (rc == 0)
        rc = mr_pq_assemble_list(&c->list, c->col, c->rg, rep, def, n, fixed, m, c->err);
    mr_free(scratch);
    mr_free(fixed);
    mr_free(rep);
    mr_free(def);
    return rc;
}

static int decode_data_page(chunk_ctx_t *c, const page_hdr_t *h, const uint8_t *body, size_t blen, size_t off)
{
    if (c->col->list)
        return decode_list_page(c, h, body, blen, off);
    int64_t n = h->num_values;
    if (n < 0 || c->rows_done + n > c->rows)
        return cerr(c, MURR_ECORRUPT, off, "%s", "page holds more values than the row group has rows");
    uint32_t *defs = NULL;
    const uint8_t *p = body, *end = body + blen;
    int64_t m = n;
    if (c->col->optional) {
        defs = pq_scratch(c, (uint64_t)n, sizeof(uint32_t), "definition levels");
        if (defs == NULL)
            return c->err->code;
        bool ok;
        if (h->type == 3) {
            ok = (size_t)h->def_len <= blen && rle_decode(p, p + h->def_len, 1, defs, (size_t)n);
            p += h->def_len;
        } else {
            uint32_t l = 0;
            ok = blen >= 4;
            if (ok) {
                memcpy(&l, p, 4);
                p += 4;
                ok = l <= (size_t)(end - p) && rle_decode(p, p + l, 1, defs, (size_t)n);
                p += ok ? l : 0;
            }
        }
        if (!ok) {
            mr_free(defs);
            return cerr(c, MURR_ECORRUPT, off, "%s", "malformed definition levels");
        }
        m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (defs[i] > 1) {
                mr_free(defs);
                return cerr(c, MURR_ECORRUPT, off, "%s", "definition level above 1 in a flat column");
            }
            m += defs[i];
        }
    } else if (h->type == 3) {
        p += h->def_len <= (int32_t)blen ? h->def_len : 0;
    }
    int phys = c->col->physical;
    size_t w = phys == PQ_BOOLEAN ? 1 : phys_width(phys);
    uint8_t *fixed = phys == PQ_BYTE_ARRAY ? NULL : pq_scratch(c, (uint64_t)m, w, "page values");
    span_t *spans = phys == PQ_BYTE_ARRAY ? pq_scratch(c, (uint64_t)m, sizeof(span_t), "page values") : NULL;
    uint8_t *scratch = NULL;
    int rc = (fixed || spans) ? decode_values(c, h->encoding, p, end, m, fixed, spans, &scratch, off) : c->err->code;
    if (rc == 0)
        rc = scatter(c, defs, n, m, fixed, spans);
    mr_free(scratch);
    mr_free(fixed);
    mr_free(spans);
    mr_free(defs);
    return rc;
}

int mr_pq_decode_chunk(const mr_pq_file_t *f, int rg, int ci, mr_batch_t *b, mr_error_t *err)
{
    const pq_chunk_t *ch = &f->groups[rg].chunks[ci];
    chunk_ctx_t c = {.f = f, .col = &f->cols[ci], .rg = rg, .name = f->cols[ci].name, .err = err, .rows = b->num_rows,
                     .budget = f->budget};
    mr_buf_init(&c.strdata);
    c.out = &b->columns[ci];
    uint64_t need = mr_batch_column_bytes(c.col->list ? MURR_UTF8 : c.col->dtype, c.rows, true, 0); /* list: offsets */
    MR_RETURN_NOT_OK(mr_budget_charge(f->budget, need, "the rows of the row group", c.name, err));
    int rc = c.col->list ? mr_batch_list_alloc(b, ci, c.col->dtype, 0, true, 0)
                         : mr_batch_column_alloc(b, ci, c.col->dtype, true, 0);
    if (rc != 0)
        return mr_err_set(err, MURR_ENOMEM, "out of memory for column '%s'", c.name);
    c.list = (pq_list_out_t){.col = c.out, .rows = c.rows};
    mr_buf_init(&c.list.elems);
    if (c.rows == 0) { /* an empty row group has no pages to read */
        mr_column_normalize_nulls(c.out, 0);
        return 0;
    }
    int64_t start = ch->dictionary_page_offset >= 0 && ch->dictionary_page_offset < ch->data_page_offset
                        ? ch->dictionary_page_offset
                        : ch->data_page_offset;
    if (start < 4 || (uint64_t)start >= f->len || ch->total_compressed_size < 0 ||
        (uint64_t)ch->total_compressed_size > f->len - (uint64_t)start)
        return mr_err_set(err, MURR_ECORRUPT, "column '%s' row group %d: chunk [%lld, +%lld) lies outside the file (%zu "
                          "bytes)", c.name, rg, (long long)start, (long long)ch->total_compressed_size, f->len);
    size_t pos = (size_t)start, end = (size_t)start + (size_t)ch->total_compressed_size;
    /* a list's last row may continue into the chunk's next page: read every page */
    while (rc == 0 && (c.col->list || c.rows_done < c.rows) && pos < end) {
        tc_reader_t r;
        tc_init(&r, f->data + pos, end - pos);
        page_hdr_t h;
        if (!read_page_header(&r, &h)) {
            rc = cerr(&c, MURR_ECORRUPT, pos, "malformed page header: %s", r.why ? r.why : "invalid fields");
            break;
        }
        size_t body = pos + tc_offset(&r);
        if ((size_t)h.csize > end - body) {
            rc = cerr(&c, MURR_ECORRUPT, pos, "%s", "page runs past the column chunk");
            break;
        }
        const uint8_t *src = f->data + body;
        if (h.has_crc) { /* the page as stored (compressed, levels included), zlib's CRC-32 */
            uint32_t got = (uint32_t)crc32(0L, src, (uInt)h.csize);
            if (got != h.crc) {
                char why[128];
                snprintf(why, sizeof(why), "the header says 0x%08x, its %d bytes give 0x%08x", h.crc, h.csize, got);
                rc = cerr(&c, MURR_ECORRUPT, pos, "page checksum mismatch: %s", why);
                break;
            }
        }
        uint8_t *page = NULL;
        if (h.type == 3) { /* v2: levels are never compressed */
            size_t lv = (size_t)h.def_len + (size_t)h.rep_len;
            if (h.def_len < 0 || h.rep_len < 0 || lv > (size_t)h.csize || lv > (size_t)h.usize) {
                rc = cerr(&c, MURR_ECORRUPT, pos, "%s", "v2 level lengths exceed the page");
                break;
            }
            if (h.rep_len != 0 && !c.col->list) {
                rc = cerr(&c, MURR_EUNSUPPORTED, pos, "%s", "repetition levels in a flat column");
                break;
            }
            uint8_t *vals = h.is_compressed ? decompress(&c, ch->codec, src + lv, (size_t)h.csize - lv,
                                                         (size_t)h.usize - lv, pos)
                                            : decompress(&c, PQ_UNCOMPRESSED, src + lv, (size_t)h.csize - lv,
                                                         (size_t)h.usize - lv, pos);
            if (vals == NULL) {
                rc = err->code ? err->code : MURR_ECORRUPT;
                break;
            }
            page = pq_scratch(&c, (uint64_t)h.usize, 1, "a decompressed page");
            if (page == NULL) {
                mr_free(vals);
                rc = err->code;
                break;
            }
            memcpy(page, src, lv);
            memcpy(page + lv, vals, (size_t)h.usize - lv);
            mr_free(vals);
        } else if (h.type == 0 || h.type == 2) {
            page = decompress(&c, ch->codec, src, (size_t)h.csize, (size_t)h.usize, pos);
            if (page == NULL) {
                rc = err->code ? err->code : MURR_ECORRUPT;
                break;
            }
        }
        if (h.type == 2) {
            rc = decode_dictionary(&c, page, (size_t)h.usize, h.num_values, pos);
            if (rc == 0) {
                /* spans point into the page: keep it (and its charge) for the chunk */
                c.dict_page = page;
                page = NULL;
                c.kept += c.transient;
                c.transient = 0;
            }
        } else if (h.type == 0 || h.type == 3) {
            rc = decode_data_page(&c, &h, page, (size_t)h.usize, pos);
        } /* index pages and unknown types are skipped */
        mr_free(page);
        page_done(&c);
        pos = body + (size_t)h.csize;
    }
    if (c.col->list)
        c.rows_done = c.list.rows_done;
    if (rc == 0 && c.rows_done != c.rows)
        rc = mr_err_set(err, MURR_ECORRUPT, "column '%s' row group %d: pages hold %lld values, the row group has %lld rows",
                        c.name, rg, (long long)c.rows_done, (long long)c.rows);
    if (rc == 0 && c.out->dtype == MURR_UTF8) { /* the batch takes the bytes (and their charge): no copy */
        size_t len = c.strdata.len;
        uint8_t *data = c.strdata.data ? mr_buf_detach(&c.strdata, &len) : NULL;
        if (data != NULL && mr_batch_adopt(b, data) != 0) /* adopt frees data on failure */
            rc = mr_err_set(err, MURR_ENOMEM, "out of memory");
        c.out->data = data ? data : mr_batch_alloc(b, 0);
        c.out->data_len = (int64_t)len;
    }
    if (rc == 0 && c.col->list) { /* the batch takes the elements (charged as they came): no copy */
        size_t len = c.list.elems.len;
        uint8_t *data = c.list.elems.data ? mr_buf_detach(&c.list.elems, &len) : NULL;
        if (data != NULL && mr_batch_adopt(b, data) != 0) /* adopt frees data on failure */
            rc = mr_err_set(err, MURR_ENOMEM, "out of memory");
        c.out->data = data ? data : mr_batch_alloc(b, 0);
        c.out->data_len = (int64_t)len;
    }
    if (rc == 0)
        mr_column_normalize_nulls(c.out, c.rows);
    mr_buf_deinit(&c.list.elems);
    mr_buf_deinit(&c.strdata);
    mr_free(c.dict_fixed);
    mr_free(c.dict_spans);
    mr_free(c.dict_page);
    page_done(&c); /* a page that failed half-way */
    mr_budget_release(f->budget, c.kept);
    return rc;
}
