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
 * float32 values run through the same 64-bit machinery with their own c, q and spacing,
 * so they print the shortest float32 representation (0.95f -> "0.95"); float16 (binary16,
 * the elements of list<float16>) likewise with its 11-bit significand. Correctness is
 * checked exhaustively over all 2^32 float32 bit patterns (tests/prog/float32_exhaustive)
 * and by sampling for float64 against an independent oracle (tests/unit/format/test_json).
 *
 * Layout follows Python's repr(): positional for decimal exponents in [-4, 16), else
 * scientific ("1e-05", "1.5e+16"); integral values keep ".0". */
#include <math.h>
#include <string.h>

#include "format/json.h"
#include "format/pow10_table.h"

__extension__ typedef unsigned __int128 u128;

#define MASK63 ((UINT64_C(1) << 63) - 1)

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

/* v = c * 2^q; c_min is the smallest normal significand, q_min the subnormal exponent. */
static dec_t to_decimal(int q, uint64_t c, uint64_t c_min, int q_min)
{
    uint64_t out = c & 1;
    uint64_t cb = c << 2, cbr = cb + 2, cbl;
    int k;
    if (c != c_min || q == q_min) {
        cbl = cb - 2;
        k = flog10pow2(q);
    } else { /* at a power of two the spacing below is half the spacing above */
        cbl = cb - 1;
        k = flog10_three_quarters_pow2(q);
    }
    int h = q + flog2pow10(-k) + 2;
    const uint64_t *g = mr_pow10_g[k - MR_POW10_K_MIN];
    uint64_t vb = rop(g[0], g[1], cb << h);
    uint64_t vbl = rop(g[0], g[1], cbl << h);
    uint64_t vbr = rop(g[0], g[1], cbr << h);
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

/* Decimal of a finite non-zero binary value with significand bits `frac` (p-1 of them) and
 * biased exponent `bexp`; bias and limits per format. */
static dec_t decimal_of(uint64_t frac, int bexp, int p, int q_min)
{
    uint64_t c_min = UINT64_C(1) << (p - 1);
    if (bexp != 0) {
        int mq = -q_min + 1 - bexp; /* -q */
        uint64_t c = c_min | frac;
        if (mq > 0 && mq < p) { /* integral values below 2^p print as themselves */
            uint64_t f = c >> mq;
            if (f << mq == c)
                return (dec_t){f, 0};
        }
        return to_decimal(-mq, c, c_min, q_min);
    }
    return to_decimal(q_min, frac, c_min, q_min); /* subnormal */
}

/* Python repr() layout of d * 10^e. */
static size_t layout(bool neg, dec_t v, char *out)
{
    char dig[24];
    int nd = 0;
    while (v.d % 10 == 0 && v.d != 0) {
        v.d /= 10;
        v.e++;
    }
    char rev[24];
    do {
        rev[nd++] = (char)('0' + v.d % 10);
        v.d /= 10;
    } while (v.d);
    for (int i = 0; i < nd; i++)
        dig[i] = rev[nd - 1 - i];
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
    out[o++] = (char)('0' + ae / 10 % 10);
    out[o++] = (char)('0' + ae % 10);
    return o;
}

/* A binary value's fields: sign, biased exponent (all ones: NaN/Inf), significand bits. */
static size_t fmt_bits(bool neg, int bexp, int bexp_max, uint64_t frac, int p, int q_min, char *buf)
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
