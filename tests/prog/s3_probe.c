/* s3_probe - drives the S3 source (src/loader/source_s3.c) from the command line, for the
 * end-to-end tests against a real S3-compatible server (tests/e2e/test_s3_source.py).
 *
 *   s3_probe [options] list                       key<TAB>size<TAB>etag per object
 *   s3_probe [options] read KEY OFF LEN           the bytes, raw, on stdout
 *   s3_probe [options] pread KEY SIZE CHUNK THREADS
 *                                                 the whole object read in CHUNK-byte ranges by
 *                                                 THREADS threads at once, raw on stdout
 * options: --endpoint URL --bucket B --prefix P --region R --etag E --retries N
 *          --timeout-ms N --access-key K --secret-key S --session-token T --profile NAME
 *
 * Exit status: 0, or the murr status code of the error (ENOTFOUND 2, ECORRUPT 6, EIO 9, ...)
 * with "error: <NAME>: <message>" on stderr. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "loader/source.h"

static int fail(const mr_error_t *e)
{
    fprintf(stderr, "error: %s: %s\n", murr_status_name(e->code), e->message);
    return e->code ? e->code : 1;
}

static void set(char *dst, size_t cap, const char *v)
{
    if (snprintf(dst, cap, "%s", v) >= (int)cap) {
        fprintf(stderr, "s3_probe: value '%s' longer than %zu bytes\n", v, cap - 1);
        exit(64);
    }
}

typedef struct job {
    mr_source_t *src;
    const char *key, *etag;
    uint8_t *buf;
    uint64_t size, chunk;
    uint64_t next; /* next chunk index, taken under mu */
    pthread_mutex_t mu;
    mr_error_t err; /* first error */
} job_t;

static void *worker(void *arg)
{
    job_t *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        uint64_t off = j->next * j->chunk;
        bool stop = off >= j->size || j->err.code != 0;
        j->next++;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            return NULL;
        uint64_t len = j->size - off < j->chunk ? j->size - off : j->chunk;
        mr_error_t e = {0};
        if (j->src->ops->read(j->src, j->key, j->etag, off, len, j->buf + off, &e) != 0) {
            pthread_mutex_lock(&j->mu);
            if (j->err.code == 0)
                j->err = e;
            pthread_mutex_unlock(&j->mu);
            return NULL;
        }
    }
}

int main(int argc, char **argv)
{
    mr_s3_config_t cfg = {.max_retries = 5, .timeout_ms = 30000};
    const char *etag = NULL;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *o = argv[i] + 2, *v = argv[i + 1];
        if (strcmp(o, "endpoint") == 0)
            set(cfg.endpoint, sizeof(cfg.endpoint), v);
        else if (strcmp(o, "bucket") == 0)
            set(cfg.bucket, sizeof(cfg.bucket), v);
        else if (strcmp(o, "prefix") == 0)
            set(cfg.prefix, sizeof(cfg.prefix), v);
        else if (strcmp(o, "region") == 0)
            set(cfg.region, sizeof(cfg.region), v);
        else if (strcmp(o, "access-key") == 0)
            set(cfg.access_key_id, sizeof(cfg.access_key_id), v);
        else if (strcmp(o, "secret-key") == 0)
            set(cfg.secret_access_key, sizeof(cfg.secret_access_key), v);
        else if (strcmp(o, "session-token") == 0)
            set(cfg.session_token, sizeof(cfg.session_token), v);
        else if (strcmp(o, "profile") == 0)
            set(cfg.profile, sizeof(cfg.profile), v);
        else if (strcmp(o, "retries") == 0)
            cfg.max_retries = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(o, "timeout-ms") == 0)
            cfg.timeout_ms = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(o, "etag") == 0)
            etag = v;
        else {
            fprintf(stderr, "s3_probe: unknown option --%s\n", o);
            return 64;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: s3_probe [options] list | read KEY OFF LEN | pread KEY SIZE CHUNK THREADS\n");
        return 64;
    }
    const char *cmd = argv[i];
    mr_error_t e = {0};
    mr_source_t *src = NULL;
    if (mr_source_s3_new(&cfg, &src, &e) != 0)
        return fail(&e);
    int rc = 0;
    if (strcmp(cmd, "list") == 0) {
        mr_object_list_t l = {0};
        rc = src->ops->list(src, &l, &e);
        for (size_t k = 0; rc == 0 && k < l.n; k++)
            printf("%s\t%llu\t%s\n", l.v[k].key, (unsigned long long)l.v[k].size, l.v[k].etag);
        mr_object_list_free(&l);
    } else if (strcmp(cmd, "read") == 0 && i + 3 < argc) {
        uint64_t off = strtoull(argv[i + 2], NULL, 10), len = strtoull(argv[i + 3], NULL, 10);
        uint8_t *buf = mr_malloc(len ? len : 1);
        if (buf == NULL) {
            fprintf(stderr, "s3_probe: cannot allocate %llu bytes\n", (unsigned long long)len);
            return 1;
        }
        rc = src->ops->read(src, argv[i + 1], etag, off, len, buf, &e);
        if (rc == 0)
            fwrite(buf, 1, len, stdout);
        mr_free(buf);
    } else if (strcmp(cmd, "pread") == 0 && i + 4 < argc) {
        job_t j = {.src = src, .key = argv[i + 1], .etag = etag, .size = strtoull(argv[i + 2], NULL, 10),
                   .chunk = strtoull(argv[i + 3], NULL, 10)};
        int nt = atoi(argv[i + 4]);
        if (j.chunk == 0 || nt < 1 || nt > 64) {
            fprintf(stderr, "s3_probe: CHUNK must be > 0 and THREADS 1..64\n");
            return 64;
        }
        j.buf = mr_malloc(j.size ? j.size : 1);
        pthread_mutex_init(&j.mu, NULL);
        pthread_t th[64];
        for (int t = 0; t < nt; t++)
            pthread_create(&th[t], NULL, worker, &j);
        for (int t = 0; t < nt; t++)
            pthread_join(th[t], NULL);
        pthread_mutex_destroy(&j.mu);
        rc = j.err.code;
        e = j.err;
        if (rc == 0)
            fwrite(j.buf, 1, j.size, stdout);
        mr_free(j.buf);
    } else {
        fprintf(stderr, "s3_probe: unknown command or missing arguments: %s\n", cmd);
        rc = 64;
        e.code = 0;
    }
    mr_source_free(src);
    fflush(stdout);
    if (rc == 64 && e.code == 0)
        return 64;
    return rc ? fail(&e) : 0;
}
