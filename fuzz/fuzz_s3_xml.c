/* libFuzzer driver: S3 XML responses (src/loader/s3_xml.c). The first byte picks the
 * document (even: a ListObjectsV2 page, odd: an error document) and, for listings, the
 * prefix stripped from keys (bit 1: "tables/t/", else none); the rest is the document. Every
 * listed object must satisfy the parser's contract: a key of 1..1024 bytes, relative to the
 * prefix, not a folder placeholder, and an ETag without quotes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    const char *xml = (const char *)data + 1;
    size_t len = size - 1;
    mr_error_t e = {0};
    if (mode & 1) {
        mr_s3_error_doc_t d;
        if (mr_s3_xml_parse_error(xml, len, &d, &e) == 0 &&
            (strlen(d.code) >= sizeof(d.code) || strlen(d.message) >= sizeof(d.message)))
            abort();
        return 0;
    }
    const char *prefix = (mode & 2) ? "tables/t/" : "";
    mr_object_list_t l = {0};
    mr_s3_list_page_t pg;
    int rc = mr_s3_xml_parse_list(xml, len, prefix, &l, &pg, &e);
    if (rc != 0 && rc != MURR_ECORRUPT && rc != MURR_ENOMEM)
        abort();
    if (rc != 0 && e.message[0] == '\0')
        abort();
    for (size_t i = 0; i < l.n; i++) {
        size_t kl = strlen(l.v[i].key);
        if (kl == 0 || kl + strlen(prefix) > MR_S3_XML_MAX_KEY || l.v[i].key[kl - 1] == '/')
            abort();
        size_t el = strlen(l.v[i].etag);
        if (el > 0 && (l.v[i].etag[0] == '"' || l.v[i].etag[el - 1] == '"'))
            abort();
    }
    if (rc == 0 && pg.truncated && pg.next_token[0] == '\0')
        abort();
    mr_object_list_free(&l);
    return 0;
}
