/*
 * record.h - the on-disk record format of the native store, and named accessors for it.
 * Every read or write of a record's bytes in the backend goes through these (static
 * inline: the read path's loops compile as if the offsets were written out).
 *
 * On disk: <data>/<table>/<id>.seg, ids from 1. A segment is a sequence of 8-byte aligned
 * records:
 *   [u32 crc32c of bytes 4..len][u32 len][u16 key_len][u16 kind][key][payload][pad]
 * kind 0 = row: payload = validity bitmap of the non-key columns (bit set = present),
 * fixed slots (1/2/4/8 bytes per column; utf8 and variable-length lists: u32 offset of its
 * tail entry from the record start), then, in tables with fixed-size list columns, the
 * vector area at the record's next 8-byte boundary (each vector dim x element bytes, in
 * column order, each padded to 8; present whether or not the row's vector is null), then
 * the tail entries: utf8 [u32 len][bytes], variable lists [u32 count][elements] placed so
 * that the elements start 8-byte aligned (decision 0012). kind 1 = commit marker closing a
 * write: payload = [u64 sequence][u32 records][u32 0], adopting the last `records` rows
 * before it (rows between the previous marker and those belong to a write that failed
 * without its abort marker, e.g. on a full disk, and stay invisible); kind 2 = abort marker
 * (same layout) dropping the rows since the previous marker. The segments form one log: a
 * write's rows may span a segment roll. Recovery applies rows only when their commit
 * marker is intact; an unterminated or torn tail of the newest segment is truncated
 * (logged with file and offset), and an abort marker is added if uncommitted rows remain
 * in older segments; corruption anywhere else marks the table damaged (it refuses reads
 * and writes; other tables serve). See recover.c.
 *
 * Values are stored in the host's byte order (little-endian on every supported target);
 * loads go through memcpy, so records need no alignment beyond their 8-byte start.
 */
#ifndef MR_ENGINE_NATIVE_RECORD_H
#define MR_ENGINE_NATIVE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/hash.h"

#define MR_REC_HEADER 12       /* crc, len, key_len, kind */
#define MR_REC_MIN_LEN 16      /* the smallest valid record (a header, padded) */
#define MR_REC_MARKER_SIZE 32  /* a commit or abort marker, at least (mr_rec_marker_len) */
#define MR_REC_LINE 64         /* a cache line: what one DRAM access brings */
#define MR_REC_LINE_PAD_MAX 8  /* the most padding spent to keep a record on one line */
#define MR_REC_ROW 0
#define MR_REC_COMMIT 1
#define MR_REC_ABORT 2

/* ---- little-endian loads ---- */

static inline uint32_t mr_rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint16_t mr_rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint64_t mr_rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- header ---- */

static inline uint32_t mr_rec_crc(const uint8_t *rec) { return mr_rd32(rec); }
static inline uint32_t mr_rec_len(const uint8_t *rec) { return mr_rd32(rec + 4); }
static inline uint16_t mr_rec_key_len(const uint8_t *rec) { return mr_rd16(rec + 8); }
static inline uint16_t mr_rec_kind(const uint8_t *rec) { return mr_rd16(rec + 10); }
/* The checksum the record's bytes 4..len should carry. */
static inline uint32_t mr_rec_crc_of(const uint8_t *rec, uint32_t len) { return mr_crc32c(0, rec + 4, len - 4); }

/* ---- rows ---- */

static inline const char *mr_rec_key(const uint8_t *rec) { return (const char *)rec + MR_REC_HEADER; }
/* The payload of a row: its validity bitmap, then the fixed slots. */
static inline const uint8_t *mr_rec_body(const uint8_t *rec) { return rec + MR_REC_HEADER + mr_rec_key_len(rec); }
/* Keys of 4 to 16 bytes (most keys: decimal ids, short strings, one or two integers) are
 * compared with two overlapping loads of each side instead of a call. */
static inline bool mr_rec_key_eq(const uint8_t *rec, const char *key, size_t len)
{
    if (mr_rec_key_len(rec) != len)
        return false;
    const uint8_t *a = (const uint8_t *)mr_rec_key(rec), *b = (const uint8_t *)key;
    if (len >= 8 && len <= 16)
        return ((mr_rd64(a) ^ mr_rd64(b)) | (mr_rd64(a + len - 8) ^ mr_rd64(b + len - 8))) == 0;
    if (len >= 4 && len < 8)
        return ((mr_rd32(a) ^ mr_rd32(b)) | (mr_rd32(a + len - 4) ^ mr_rd32(b + len - 4))) == 0;
    return memcmp(a, b, len) == 0;
}
/* A utf8 value: `slot` holds the offset of its tail entry [u32 len][bytes] in rec. */
static inline uint32_t mr_rec_str_len(const uint8_t *rec, const uint8_t *slot) { return mr_rd32(rec + mr_rd32(slot)); }
static inline const uint8_t *mr_rec_str(const uint8_t *rec, const uint8_t *slot, uint32_t *len)
{
    const uint8_t *te = rec + mr_rd32(slot);
    *len = mr_rd32(te);
    return te + 4;
}

/* Fixed-size vectors: the vector area begins at the first 8-byte boundary after the fixed
 * slots (body_bytes = bitmap + fixed slots); vec_off is the vector's offset within it. */
static inline size_t mr_rec_vec_start(size_t klen, size_t body_bytes) { return (MR_REC_HEADER + klen + body_bytes + 7) & ~(size_t)7; }
static inline const uint8_t *mr_rec_vec(const uint8_t *rec, size_t body_bytes, uint32_t vec_off)
{
    return rec + mr_rec_vec_start(mr_rec_key_len(rec), body_bytes) + vec_off;
}
/* Variable-length lists: the entry [u32 count][elements] written at or after `tail` is at
 * the first offset that puts its elements on an 8-byte boundary; its end. */
static inline uint32_t mr_rec_list_entry_at(uint32_t tail) { return ((tail + 4 + 7) & ~(uint32_t)7) - 4; }
static inline uint32_t mr_rec_list_end(uint32_t tail, size_t bytes) { return mr_rec_list_entry_at(tail) + 4 + (uint32_t)bytes; }
static inline const uint8_t *mr_rec_list(const uint8_t *rec, const uint8_t *slot, uint32_t *count)
{
    const uint8_t *te = rec + mr_rd32(slot);
    *count = mr_rd32(te);
    return te + 4;
}
static inline uint32_t mr_rec_list_count(const uint8_t *rec, const uint8_t *slot) { return mr_rd32(rec + mr_rd32(slot)); }

/* Sizes: a row with a key of klen bytes and body_bytes of bitmap and fixed slots, before
 * its utf8 tail entries; a tail entry of l bytes; a record padded to its 8-byte end. */
static inline size_t mr_rec_row_min(size_t klen, size_t body_bytes) { return MR_REC_HEADER + klen + body_bytes; }
static inline size_t mr_rec_str_size(size_t l) { return 4 + l; }
static inline size_t mr_rec_pad(size_t n) { return (n + 7) & ~(size_t)7; }

/* ---- cache-line placement (decision 0015) ----
 * A record of at most a line that would straddle two lines starts on the next line when
 * that costs at most MR_REC_LINE_PAD_MAX bytes (a 57-64 byte record: one DRAM line per read
 * instead of two, 7 times in 8); the padding goes to the end of the record before it, whose
 * length covers it. A marker ends on a line boundary, so every write starts on one. Both
 * only grow lengths that readers and recovery already take from the header: segments
 * written without this rule read the same. */

/* The padding to put before a record of len bytes that would start at offset off. */
static inline uint32_t mr_rec_line_pad(uint64_t off, size_t len)
{
    uint32_t phase = (uint32_t)(off & (MR_REC_LINE - 1));
    if (len > MR_REC_LINE || phase + len <= MR_REC_LINE || MR_REC_LINE - phase > MR_REC_LINE_PAD_MAX)
        return 0;
    return MR_REC_LINE - phase;
}
/* The length of a marker written at offset off: MR_REC_MARKER_SIZE, padded to end on a line. */
static inline uint32_t mr_rec_marker_len(uint64_t off)
{
    uint64_t end = (off + MR_REC_MARKER_SIZE + MR_REC_LINE - 1) & ~(uint64_t)(MR_REC_LINE - 1);
    return (uint32_t)(end - off);
}

/* ---- markers ---- */

static inline uint64_t mr_rec_marker_seq(const uint8_t *rec) { return mr_rd64(rec + 16); }
static inline uint32_t mr_rec_marker_count(const uint8_t *rec) { return mr_rd32(rec + 24); }
static inline bool mr_rec_is_marker(uint16_t kind) { return kind == MR_REC_COMMIT || kind == MR_REC_ABORT; }

/* ---- writers (into zeroed memory of the record's length) ---- */

static inline void mr_rec_put_header(uint8_t *rec, uint32_t len, uint16_t key_len, uint16_t kind)
{
    memcpy(rec + 4, &len, 4);
    memcpy(rec + 8, &key_len, 2);
    memcpy(rec + 10, &kind, 2);
}
static inline uint8_t *mr_rec_key_out(uint8_t *rec) { return rec + MR_REC_HEADER; }
static inline uint8_t *mr_rec_body_out(uint8_t *rec, size_t key_len) { return rec + MR_REC_HEADER + key_len; }
/* Writes a utf8 value of l bytes as the tail entry at offset `tail` and points `slot` at
 * it; returns the offset after the entry. */
static inline uint32_t mr_rec_put_str(uint8_t *rec, uint8_t *slot, uint32_t tail, const uint8_t *s, uint32_t l)
{
    memcpy(slot, &tail, 4);
    memcpy(rec + tail, &l, 4);
    memcpy(rec + tail + 4, s, l);
    return tail + 4 + l;
}
/* Writes a variable-length list of `count` elements (`bytes` bytes) as the tail entry at or
 * after offset `tail` (aligned, see mr_rec_list_entry_at) and points `slot` at it; returns
 * the offset after the entry. */
static inline uint32_t mr_rec_put_list(uint8_t *rec, uint8_t *slot, uint32_t tail, const uint8_t *elems, uint32_t count,
                                       size_t bytes)
{
    uint32_t at = mr_rec_list_entry_at(tail);
    memcpy(slot, &at, 4);
    memcpy(rec + at, &count, 4);
    if (bytes)
        memcpy(rec + at + 4, elems, bytes);
    return at + 4 + (uint32_t)bytes;
}
/* Stores the checksum of the finished record (last). */
static inline void mr_rec_seal(uint8_t *rec, uint32_t len)
{
    uint32_t crc = mr_rec_crc_of(rec, len);
    memcpy(rec, &crc, 4);
}
/* Grows a sealed record by pad bytes of zeros that follow it in memory (line placement of
 * the next record) and seals it again. */
static inline void mr_rec_extend(uint8_t *rec, uint32_t pad)
{
    uint32_t len = mr_rec_len(rec) + pad;
    memcpy(rec + 4, &len, 4);
    mr_rec_seal(rec, len);
}

/* Encodes a commit or abort marker of len bytes (MR_REC_MARKER_SIZE or more: mr_rec_marker_len). */
void mr_rec_encode_marker(uint8_t *rec, uint32_t len, uint16_t kind, uint64_t seq, uint32_t count);

/* Checks the framing of the record at rec with `avail` bytes left in its file: a header,
 * a length that is aligned and fits, an intact checksum. NULL if sound, else why not. */
const char *mr_rec_check(const uint8_t *rec, uint64_t avail);

#endif
