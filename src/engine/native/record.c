/* record.c - the out-of-line parts of the record format (record.h): encoding a marker and
 * checking a record's framing when recovery scans a segment. Rows are encoded by write.c
 * (they need the table's layout) through record.h's writers. */
#include "engine/native/record.h"

void mr_rec_encode_marker(uint8_t *rec, uint32_t len, uint16_t kind, uint64_t seq, uint32_t count)
{
    memset(rec, 0, len);
    mr_rec_put_header(rec, len, 0, kind);
    memcpy(rec + 16, &seq, 8);
    memcpy(rec + 24, &count, 4);
    mr_rec_seal(rec, len);
}

const char *mr_rec_check(const uint8_t *rec, uint64_t avail)
{
    if (avail < MR_REC_MIN_LEN)
        return "truncated record header";
    uint32_t len = mr_rec_len(rec);
    if (len < MR_REC_MIN_LEN || (len & 7) || len > avail)
        return len > avail ? "record runs past the end of the file" : "invalid record length";
    if (mr_rec_crc_of(rec, len) != mr_rec_crc(rec))
        return "checksum mismatch";
    if (mr_rec_is_marker(mr_rec_kind(rec)) && len < MR_REC_MARKER_SIZE)
        return "marker shorter than its 32 bytes of fields";
    return NULL;
}
