/*
 * s3_xml.h - the two S3 response documents the S3 source reads, parsed with expat and
 * bounded: a ListObjectsV2 page (ListBucketResult) and an error document (Error).
 *
 * Both take untrusted bytes and never assert. A DOCTYPE (and so any entity declaration) is
 * refused, so entity expansion cannot amplify the input; every text field is copied into a
 * bounded buffer and a field past its bound is MURR_ECORRUPT naming the field and the limit.
 */
#ifndef MR_LOADER_S3_XML_H
#define MR_LOADER_S3_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "loader/source.h"

/* S3's own limit on a key, in bytes of UTF-8. */
#define MR_S3_XML_MAX_KEY 1024
/* Continuation tokens are opaque; S3's are ~100-200 bytes. */
#define MR_S3_XML_MAX_TOKEN 4096

typedef struct mr_s3_list_page {
    bool truncated;                             /* IsTruncated */
    char next_token[MR_S3_XML_MAX_TOKEN + 1];   /* NextContinuationToken, "" when absent */
    size_t n_contents;                          /* Contents elements seen (kept or skipped) */
} mr_s3_list_page_t;

/* Parses one ListObjectsV2 page of `len` bytes. Each Contents whose Key starts with
 * `prefix` (may be "") is appended to `out` with the prefix stripped; keys equal to the
 * prefix or ending in '/' (folder placeholders) are skipped. ETags have their quotes
 * (literal or as &quot;) stripped. Returns 0, or MURR_ECORRUPT (not well-formed XML, a root
 * other than ListBucketResult, a Contents without Key or Size, a Key over
 * MR_S3_XML_MAX_KEY bytes or outside the prefix, a Size that is not a decimal uint64, an
 * ETag over 79 bytes, IsTruncated neither "true" nor "false", or truncated without a
 * NextContinuationToken), with the line and byte offset. On error, objects appended before
 * the error stay in `out` (the caller frees the list either way). */
int mr_s3_xml_parse_list(const char *xml, size_t len, const char *prefix, mr_object_list_t *out,
                         mr_s3_list_page_t *page, mr_error_t *err);

typedef struct mr_s3_error_doc {
    char code[128];      /* "NoSuchKey", "AccessDenied", ... (truncated if longer) */
    char message[384];   /* human text (truncated if longer) */
} mr_s3_error_doc_t;

/* Parses an S3 error document (<Error><Code>..</Code><Message>..</Message>...</Error>).
 * Returns 0 when it is one (code may still be "" if the element is missing), else
 * MURR_ECORRUPT; `doc` is always initialised. */
int mr_s3_xml_parse_error(const char *xml, size_t len, mr_s3_error_doc_t *doc, mr_error_t *err);

#endif
