/* shortest.c - shortest round-trip decimal text of float16, float32 and float64 values.
 *
 * The digits come from the Schubfach method (R. Giulietti, "The Schubfach way to render
 * doubles", 2020), implemented here from the paper: a binary value v = c * 2^q has a
 * rounding interval [vl, vr] of the reals that read back as v (endpoints included iff c is
 * even, as readers round half to even). Scaled by 10^-k, with k chosen so the scaled
 * interval is between 1 and 10 wide, it contains one or two integers; a multiple of 10 in
 * it gives one digit fewer. Scaling uses a 126-bit approximation g of 10^-k
 * (pow10_table.h, generated exactly by scripts/gen_pow10_table.py) and round-to-odd
 * products, which keep every comparison against the interval's endpoints exact.
 *
 * float32 values have their own path, the paper's binary32 variant: a 64-bit approximation
 * of 10^-k (pow10_table_f32.h) and one 64x64->128-bit product per endpoint, so they print
 * the shortest float32 representation (0.95f -> "0.95") at a third of the multiplications.
 * float16 (binary16, the elements of list<float16>) runs through the 126-bit machinery with
 * its 11-bit significand, spacing and exponent. Correctness is
 * checked exhaustively over all 2^32 float32 bit patterns (tests/prog/float32_exhaustive)
 * and by sampling for float64 against an independent oracle (tests/unit/format/test_json).
 *
 * Layout follows Python's repr(): positional for decimal exponents in [-4, 16), else
 * scientific ("1e-05", "1.5e+16"); integral values keep ".0". */
#include <math.h>
#include <string.h>

#include "format/json.h"
#include "format/pow10_table.h"
#include "format/pow10_table_f32.h"

__extension__ typedef unsigned __int128 u128;

#define MASK63 ((UINT64_C(1) << 63) - 1)
#define MASK32 ((UINT64_C(1) << 32) - 1)

/* floor(q * log10(2)), floor(log10(3/4 * 2^q)), floor(e * log2(10)) in fixed point; the
 * generator checks them against exact values over every exponent used here. */
static inline int flog10pow2(int q) { return (int)(((int64_t)q * 661971961083LL) >> 41); }
static inline int flog10_three_quarters_pow2(int q)
{
    return (int)(((int64_t)q * 661971961083LL - 274743187321LL) >> 41);
}
static inline int flog2pow10(int e) { return (int)(((int64_t)e * 913124641741LL) >> 38); }

/* Round to odd of g * cp / 2^127 (g = g1 * 2^63 + g0): the floor, with the low bit set when
 * the product is not an integer. */
static inline uint64_t rop(uint64_t g1, uint64_t g0, uint64_t cp)
{
    uint64_t x1 = (uint64_t)(((u128)g0 * cp) >> 64);
    u128 y = (u128)g1 * cp;
    uint64_t y0 = (uint64_t)y, y1 = (uint64_t)(y >> 64);
    uint64_t z = (y0 >> 1) + x1;
    uint64_t vbp = y1 + (z >> 63);
    return vbp | (((z & MASK63) + MASK63) >> 63);
}

typedef struct {
    uint64_t d; /* decimal significand */
    int e;      /* value = d * 10^e */
} dec_t;

/* The decimal of v from its scaled interval: vb = 4 * v * 10^-k, vbl and vbr its endpoints,
 * all round-to-odd; out = 1 when the endpoints are excluded (c odd). */
static inline dec_t pick(uint64_t vb, uint64_t vbl, uint64_t vbr, uint64_t out, int k)
{
    uint64_t s = vb >> 2;
    if (s >= 10) { /* a multiple of 10 in the interval is one digit shorter (s < 10: it would be 0) */
        uint64_t sp10 = 10 * (s / 10), tp10 = sp10 + 10;
        bool upin = vbl + out <= sp10 << 2;
        bool wpin = (tp10 << 2) + out <= vbr;
        if (upin != wpin)
            return (dec_t){upin ? sp10 : tp10, k};
    }
    uint64_t t = s + 1;
    bool uin = vbl + out <= s << 2;
    bool win = (t << 2) + out <= vbr;
    if (uin != win)
        return (dec_t){uin ? s : t, k};
    /* both (or, by the choice of k, never neither) in: the one closer to v, ties to even */
    int64_t cmp = (int64_t)(vb - ((s + t) << 1));
    return (dec_t){cmp < 0 || (cmp == 0 && (s & 1) == 0) ? s : t, k};
}

/* The interval of v = c * 2^q as 4c and its endpoints 4c - 2 (or 4c - 1 at a power of two,
 * where the spacing below is half the spacing above) and 4c + 2, and k = floor(log10 of
 * the spacing); c_min is the smallest normal significand, q_min the subnormal exponent. */
typedef struct {
    uint64_t cb, cbl, cbr;
    int k;
} interval_t;

static inline interval_t interval_of(int q, uint64_t c, uint64_t c_min, int q_min)
{
    uint64_t cb = c << 2;
    if (c != c_min || q == q_min)
        return (interval_t){cb, cb - 2, cb + 2, flog10pow2(q)};
    return (interval_t){cb, cb - 1, cb + 2, flog10_three_quarters_pow2(q)};
}

/* Round to odd of g * cp / 2^95 for the binary32 path (g < 2^63, cp < 2^64): the bits below
 * 2^64 of the product are dropped, which the paper shows cannot change a comparison for
 * 24-bit significands (and float32_exhaustive checks every input). */
static inline uint64_t rop32(uint64_t g, uint64_t cp)
{
    uint64_t x1 = (uint64_t)(((u128)g * cp) >> 64);
    return (x1 >> 31) | (((x1 & MASK32) + MASK32) >> 32);
}

/* v = c * 2^q, a float32 value (c < 2^24, q in [-149, 104]). */
static dec_t to_decimal_f32(int q, uint64_t c)
{
    interval_t iv = interval_of(q, c, UINT64_C(1) << 23, -149);
    int h = q + flog2pow10(-iv.k) + 33;
    uint64_t g = mr_pow10_g32[iv.k - MR_POW10_F32_K_MIN];
    return pick(rop32(g, iv.cb << h), rop32(g, iv.cbl << h), rop32(g, iv.cbr << h), c & 1, iv.k);
}

/* v = c * 2^q through the 126-bit table (float64, float16). */
static dec_t to_decimal(int q, uint64_t c, uint64_t c_min, int q_min)
{
    interval_t iv = interval_of(q, c, c_min, q_min);
    uint64_t out = c & 1;
    uint64_t cb = iv.cb, cbl = iv.cbl, cbr = iv.cbr;
    int k = iv.k;
    int h = q + flog2pow10(-k) + 2;
    const uint64_t *g = mr_pow10_g[k - MR_POW10_K_MIN];
    uint64_t vb = rop(g[0], g[1], cb << h);
    uint64_t vbl = rop(g[0], g[1], cbl << h);
    uint64_t vbr = rop(g[0], g[1], cbr << h);
    return pick(vb, vbl, vbr, out, k);
}

/* Decimal of a finite non-zero binary value with significand bits `frac` (p-1 of them) and
 * biased exponent `bexp`; bias and limits per format (p = 24: float32, its own path). */
static inline dec_t decimal_of(uint64_t frac, int bexp, int p, int q_min)
{
    uint64_t c_min = UINT64_C(1) << (p - 1);
    int q = q_min;
    uint64_t c = frac; /* subnormal */
    if (bexp != 0) {
        int mq = -q_min + 1 - bexp; /* -q */
        c = c_min | frac;
        if (mq > 0 && mq < p) { /* integral values below 2^p print as themselves */
            uint64_t f = c >> mq;
            if (f << mq == c)
                return (dec_t){f, 0};
        }
        q = -mq;
    }
    return p == 24 ? to_decimal_f32(q, c) : to_decimal(q, c, c_min, q_min);
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

/* The decimal digits of d (< 10^20) written to end back from `end`, two per division;
 * returns how many. */
static inline int digits_back(uint64_t d, char *end)
{
    char *p = end;
    while (d >= 100) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * (d % 100), 2);
        d /= 100;
    }
    if (d >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * d, 2);
    } else {
        *--p = (char)('0' + d);
    }
    return (int)(end - p);
}

/* Python repr() layout of d * 10^e. */
static size_t layout(bool neg, dec_t v, char *out)
{
    while (v.d % 10 == 0 && v.d != 0) {
        v.d /= 10;
        v.e++;
    }
    char buf[24];
    int nd = digits_back(v.d, buf + sizeof(buf));
    const char *dig = buf + sizeof(buf) - nd;
    int e = v.e + nd - 1; /* value = d1.d2d3... x 10^e */
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (e >= -4 && e < 16) {
        if (e < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -e - 1; i++)
                out[o++] = '0';
            memcpy(out + o, dig, (size_t)nd);
            o += (size_t)nd;
        } else if (nd <= e + 1) {
            memcpy(out + o, dig, (size_t)nd);
            o += (size_t)nd;
            for (int i = nd; i < e + 1; i++)
                out[o++] = '0';
            out[o++] = '.';
            out[o++] = '0';
        } else {
            memcpy(out + o, dig, (size_t)(e + 1));
            o += (size_t)(e + 1);
            out[o++] = '.';
            memcpy(out + o, dig + e + 1, (size_t)(nd - e - 1));
            o += (size_t)(nd - e - 1);
        }
        return o;
    }
    out[o++] = dig[0];
    if (nd > 1) {
        out[o++] = '.';
        memcpy(out + o, dig + 1, (size_t)(nd - 1));
        o += (size_t)(nd - 1);
    }
    out[o++] = 'e';
    out[o++] = e < 0 ? '-' : '+';
    int ae = e < 0 ? -e : e;
    if (ae >= 100)
        out[o++] = (char)('0' + ae / 100);
    memcpy(out + o, digit_pairs + 2 * (ae % 100), 2);
    return o + 2;
}

/* A binary value's fields: sign, biased exponent (all ones: NaN/Inf), significand bits. */
static inline size_t fmt_bits(bool neg, int bexp, int bexp_max, uint64_t frac, int p, int q_min, char *buf)
{
    if (bexp == bexp_max) {
        memcpy(buf, "null", 4);
        return 4;
    }
    if (bexp == 0 && frac == 0)
        return layout(neg, (dec_t){0, 0}, buf);
    return layout(neg, decimal_of(frac, bexp, p, q_min), buf);
}

size_t mr_fmt_f32(float v, char *buf)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return fmt_bits(bits >> 31, (int)(bits >> 23) & 0xff, 0xff, bits & 0x7fffff, 24, -149, buf);
}

size_t mr_fmt_f64(double v, char *buf)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return fmt_bits(bits >> 63, (int)(bits >> 52) & 0x7ff, 0x7ff, bits & ((UINT64_C(1) << 52) - 1), 53, -1074, buf);
}

size_t mr_fmt_f16(uint16_t bits, char *buf)
{
    return fmt_bits(bits >> 15, (bits >> 10) & 0x1f, 0x1f, bits & 0x3ff, 11, -24, buf);
}
