/*
 * source.h - where a pull-loaded table's Parquet partitions come from: a local directory
 * or an S3 prefix. A source lists the objects under its prefix and reads byte ranges of
 * them; the loader (loader.c) finds partitions and loads them. Object keys are relative
 * to the source's prefix ("2026-01-19/part-0.parquet", "dt=2026-01-19/_SUCCESS").
 *
 * Every call is synchronous, bounded in time (timeouts, retries with backoff inside the
 * source) and reports failures as MURR_EIO (unreachable, 5xx after retries, timeouts),
 * MURR_ENOTFOUND (the object or prefix vanished), MURR_ECORRUPT (a response that does
 * not parse, a size or ETag that changed under a read) or MURR_EINVAL (bad configuration),
 * with a message naming the object and the numbers. Sources are thread-safe: the loader
 * reads ranges of one object from several threads at once.
 */
#ifndef MR_LOADER_SOURCE_H
#define MR_LOADER_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct mr_source mr_source_t;

typedef struct mr_object {
    char *key;          /* relative to the prefix */
    uint64_t size;
    char etag[80];      /* S3 ETag (quotes stripped) or, locally, "<mtime_ns>-<size>" */
} mr_object_t;

typedef struct mr_object_list {
    mr_object_t *v;
    size_t n, cap;
} mr_object_list_t;

void mr_object_list_free(mr_object_list_t *l);
/* Appends a copy of key (the list owns it). 0, or MURR_ENOMEM with the list unchanged. */
int mr_object_list_push(mr_object_list_t *l, const char *key, size_t key_len, uint64_t size, const char *etag);

typedef struct mr_source_ops {
    const char *kind;   /* "local", "s3" */
    /* Every object under the prefix (recursively), in any order. */
    int (*list)(mr_source_t *s, mr_object_list_t *out, mr_error_t *err);
    /* Reads len bytes at off of object `key` into buf; etag (may be NULL or "") is the
     * one listed: a different object under the same key is MURR_ECORRUPT. */
    int (*read)(mr_source_t *s, const char *key, const char *etag, uint64_t off, uint64_t len, uint8_t *buf,
                mr_error_t *err);
    void (*free)(mr_source_t *s);
} mr_source_ops_t;

struct mr_source {
    const mr_source_ops_t *ops;
    char uri[1024];     /* for logs and status: "file:///data/t/", "s3://bucket/prefix/" */
};

/* S3 settings (config `source.s3`). Credentials: these if set, else the standard AWS
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else
 * ~/.aws/credentials (profile: `profile`, else AWS_PROFILE, else "default"); none: anonymous. */
typedef struct mr_s3_config {
    char bucket[256];
    char prefix[1024];
    char region[64];          /* "" = AWS_REGION, else "us-east-1" */
    char endpoint[512];       /* "" = https://s3.<region>.amazonaws.com; else e.g. "http://127.0.0.1:9000" */
    char access_key_id[256];
    char secret_access_key[256];
    char session_token[2048];
    char profile[128];
    bool path_style;          /* default true when an endpoint is given */
    uint32_t timeout_ms;      /* per request (default 30000; 0 here = 30000) */
    uint32_t max_retries;     /* on 5xx, 429/503 throttling, timeouts (default 5) */
} mr_s3_config_t;

int mr_source_local_new(const char *path, mr_source_t **out, mr_error_t *err);
int mr_source_s3_new(const mr_s3_config_t *cfg, mr_source_t **out, mr_error_t *err);

static inline void mr_source_free(mr_source_t *s)
{
    if (s)
        s->ops->free(s);
}

#endif
