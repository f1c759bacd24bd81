/* source_s3.c - an S3 prefix (AWS or any S3-compatible server) as a source of partitions
 * (source.h), over HTTP(S) with libcurl.
 *
 * Requests are signed by libcurl itself (CURLOPT_AWS_SIGV4, "aws:amz:<region>:s3"); with no
 * credentials found they go unsigned (public buckets). list is ListObjectsV2, page after
 * page; read is a ranged GET with If-Match on the listed ETag, so an object replaced since
 * the listing is MURR_ECORRUPT rather than a mix of two versions.
 *
 * Every response is bounded: a listing page at most MR_S3_MAX_LIST_BYTES of XML, an error
 * body at most MR_S3_MAX_ERROR_BYTES, a read body never beyond the length asked (the
 * transfer is aborted at the first extra byte). Every request has a connect timeout, a
 * low-speed limit (a stalled transfer fails) and an overall timeout; 5xx, 429, S3's
 * RequestTimeout, connection errors and timeouts are retried up to max_retries times with
 * exponential backoff and jitter (100 ms doubling, capped at 5 s).
 *
 * Thread-safety: after mr_source_s3_new the source is immutable but for a small pool of
 * idle CURL easy handles under `pool_mu`; a request takes a handle from the pool (or makes
 * one), owns it alone for the request, and gives it back, so concurrent reads never share
 * a handle. Kept handles keep their connections alive for the next request.
 *
 * Since the query strings are built here already sorted by name and RFC 3986-encoded, the
 * canonical request libcurl 7.88 signs (it signs the query as given) is what S3 computes.
 */
#include "loader/source.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "loader/s3_xml.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MR_S3_MAX_LIST_BYTES (16u << 20)
#define MR_S3_MAX_ERROR_BYTES (64u << 10)
#define MR_S3_POOL 8
#define MR_S3_BACKOFF_FIRST_MS 100u
#define MR_S3_BACKOFF_CAP_MS 5000u
#define MR_S3_MAX_PAGES 1000000u
#define MR_S3_MAX_CRED_FILE (1u << 20)

typedef struct s3_source {
    mr_source_t base;
    char bucket[256];
    char prefix[1026];      /* normalised: "" or ending in '/' */
    char base_url[1024];    /* ".../bucket" (path style) or "https://bucket.s3.<region>.amazonaws.com" */
    char sigv4[128];        /* "aws:amz:<region>:s3" */
    char access_key_id[256];
    char secret_access_key[256];
    char token_header[2100]; /* "x-amz-security-token: ..." or "" */
    bool anonymous;
    uint32_t timeout_ms, max_retries;

    pthread_mutex_t pool_mu; /* guards pool, npool */
    CURL *pool[MR_S3_POOL];
    int npool;
} s3_source_t;

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;

static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- small helpers ----------------------------------------------------------------------- */

/* RFC 3986: unreserved characters stay, everything else is %XX; '/' stays when keep_slash
 * (object keys in a path), else is encoded (query values). Returns MURR_EINVAL if out is too
 * small. */
static int url_encode(const char *s, bool keep_slash, char *out, size_t cap, mr_error_t *err)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                     ch == '-' || ch == '.' || ch == '_' || ch == '~' || (keep_slash && ch == '/');
        if (o + (plain ? 1 : 3) >= cap)
            return mr_err_set(err, MURR_EINVAL, "S3: '%.200s' is longer than %zu bytes once URL-encoded", s, cap - 1);
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

static uint32_t jitter_rand(void)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 32);
}

/* Sleeps before retry `attempt` (1-based): 100 ms doubling, capped at 5 s, with jitter (a
 * uniform pick in [d/2, d]) so that loaders retrying together do not stay in step. */
static void backoff_sleep(uint32_t attempt)
{
    uint64_t d = MR_S3_BACKOFF_FIRST_MS;
    for (uint32_t i = 1; i < attempt && d < MR_S3_BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > MR_S3_BACKOFF_CAP_MS)
        d = MR_S3_BACKOFF_CAP_MS;
    uint64_t ms = d / 2 + jitter_rand() % (d / 2 + 1);
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- credentials ------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

static int copy_field(char *dst, size_t cap, const char *src, const char *what, mr_error_t *err)
{
    int n = snprintf(dst, cap, "%s", src);
    if (n < 0 || (size_t)n >= cap)
        return mr_err_set(err, MURR_EINVAL, "S3 credentials: %s is %zu bytes, more than %zu", what, strlen(src),
                          cap - 1);
    return 0;
}

/* Reads [profile] of an AWS shared credentials file (INI). *found tells whether the profile
 * has both keys; a missing file is not an error (found = false). */
static int load_credentials_file(s3_source_t *s, const char *path, const char *profile, bool *found,
                                 char *token, size_t token_cap, mr_error_t *err)
{
    *found = false;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return mr_err_set(err, MURR_EIO, "S3 credentials: cannot open '%s': %s", path, strerror(errno));
    }
    char line[4096];
    bool in_profile = false, have_id = false, have_secret = false;
    size_t total = 0;
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        total += n;
        if (total > MR_S3_MAX_CRED_FILE) {
            rc = mr_err_set(err, MURR_EINVAL, "S3 credentials: '%s' is larger than %u bytes", path,
                            MR_S3_MAX_CRED_FILE);
            break;
        }
        if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(f)) {
            rc = mr_err_set(err, MURR_EINVAL, "S3 credentials: line %u of '%s' is longer than %zu bytes", lineno,
                            path, sizeof(line) - 2);
            break;
        }
        char *l = trim(line);
        if (*l == '\0' || *l == '#' || *l == ';')
            continue;
        if (*l == '[') {
            char *close = strchr(l, ']');
            if (close == NULL)
                continue;
            *close = '\0';
            in_profile = strcmp(trim(l + 1), profile) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in_profile || eq == NULL)
            continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        if (strcasecmp(k, "aws_access_key_id") == 0) {
            rc = copy_field(s->access_key_id, sizeof(s->access_key_id), v, "aws_access_key_id", err);
            have_id = true;
        } else if (strcasecmp(k, "aws_secret_access_key") == 0) {
            rc = copy_field(s->secret_access_key, sizeof(s->secret_access_key), v, "aws_secret_access_key", err);
            have_secret = true;
        } else if (strcasecmp(k, "aws_session_token") == 0) {
            rc = copy_field(token, token_cap, v, "aws_session_token", err);
        }
    }
    fclose(f);
    *found = rc == 0 && have_id && have_secret && s->access_key_id[0] && s->secret_access_key[0];
    return rc;
}

static int resolve_credentials(s3_source_t *s, const mr_s3_config_t *cfg, mr_error_t *err)
{
    char token[2048] = "";
    const char *env_id = getenv("AWS_ACCESS_KEY_ID"), *env_secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (cfg->access_key_id[0] || cfg->secret_access_key[0]) {
        if (!cfg->access_key_id[0] || !cfg->secret_access_key[0])
            return mr_err_set(err, MURR_EINVAL, "source.s3: access_key_id and secret_access_key go together (%s is "
                              "missing)", cfg->access_key_id[0] ? "secret_access_key" : "access_key_id");
        MR_RETURN_NOT_OK(copy_field(s->access_key_id, sizeof(s->access_key_id), cfg->access_key_id,
                                    "access_key_id", err));
        MR_RETURN_NOT_OK(copy_field(s->secret_access_key, sizeof(s->secret_access_key), cfg->secret_access_key,
                                    "secret_access_key", err));
        MR_RETURN_NOT_OK(copy_field(token, sizeof(token), cfg->session_token, "session_token", err));
    } else if (env_id && env_id[0] && env_secret && env_secret[0]) {
        MR_RETURN_NOT_OK(copy_field(s->access_key_id, sizeof(s->access_key_id), env_id, "AWS_ACCESS_KEY_ID", err));
        MR_RETURN_NOT_OK(copy_field(s->secret_access_key, sizeof(s->secret_access_key), env_secret,
                                    "AWS_SECRET_ACCESS_KEY", err));
        const char *env_token = getenv("AWS_SESSION_TOKEN");
        if (env_token)
            MR_RETURN_NOT_OK(copy_field(token, sizeof(token), env_token, "AWS_SESSION_TOKEN", err));
    } else {
        const char *profile = cfg->profile[0] ? cfg->profile : getenv("AWS_PROFILE");
        bool named = profile && profile[0];
        if (!named)
            profile = "default";
        char path[1024];
        const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
        int pn;
        if (file && file[0])
            pn = snprintf(path, sizeof(path), "%s", file);
        else
            pn = snprintf(path, sizeof(path), "%s/.aws/credentials", home ? home : "");
        if (pn < 0 || (size_t)pn >= sizeof(path))
            return mr_err_set(err, MURR_EINVAL, "S3 credentials: file path longer than %zu bytes", sizeof(path) - 1);
        bool found = false;
        if (file || home)
            MR_RETURN_NOT_OK(load_credentials_file(s, path, profile, &found, token, sizeof(token), err));
        if (!found) {
            if (named)
                return mr_err_set(err, MURR_EINVAL, "S3 credentials: profile '%s' has no aws_access_key_id and "
                                  "aws_secret_access_key in '%s'", profile, path);
            s->access_key_id[0] = s->secret_access_key[0] = '\0';
            s->anonymous = true;
            return 0;
        }
    }
    if (token[0]) {
        int n = snprintf(s->token_header, sizeof(s->token_header), "x-amz-security-token: %s", token);
        if (n < 0 || (size_t)n >= sizeof(s->token_header))
            return mr_err_set(err, MURR_EINVAL, "S3 credentials: session token of %zu bytes is too long", strlen(token));
    }
    return 0;
}

/* ---- one request ------------------------------------------------------------------------- */

typedef struct s3_req {
    CURL *curl;
    const char *what;   /* "s3://bucket/key" for messages */
    /* reads: the caller's buffer (2xx bodies go there, never beyond dst_len) */
    uint8_t *dst;
    uint64_t dst_len, got, off;
    /* lists (2xx) and error bodies (any other status) */
    mr_buf_t body;
    size_t body_max;
    bool body_cut;      /* an error body reached MR_S3_MAX_ERROR_BYTES: the rest was dropped */
    long status;
    int abort_rc;       /* the write callback refused the response: not retried */
    mr_error_t *err;
} s3_req_t;

static size_t req_abort(s3_req_t *r, int rc)
{
    r->abort_rc = rc;
    return 0; /* curl stops the transfer with CURLE_WRITE_ERROR */
}

static bool status_ok(long st) { return st >= 200 && st < 300; }

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    s3_req_t *r = ud;
    size_t n = size * nmemb;
    if (r->status == 0) {
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->dst && status_ok(r->status)) {
            curl_off_t cl = -1;
            curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            if (r->status != 206 && (r->status != 200 || r->off != 0))
                return req_abort(r, mr_err_set(r->err, MURR_ECORRUPT, "%s: HTTP %ld to a read of bytes %" PRIu64
                                               "-%" PRIu64 " (the server ignored the Range)", r->what, r->status,
                                               r->off, r->off + r->dst_len - 1));
            if (cl >= 0 && (uint64_t)cl != r->dst_len)
                return req_abort(r, mr_err_set(r->err, MURR_ECORRUPT, "%s: Content-Length %" PRId64 " for a read "
                                               "of %" PRIu64 " bytes at offset %" PRIu64 " (HTTP %ld)", r->what,
                                               (int64_t)cl, r->dst_len, r->off, r->status));
        }
    }
    if (r->dst && status_ok(r->status)) {
        if (n > r->dst_len - r->got)
            return req_abort(r, mr_err_set(r->err, MURR_ECORRUPT, "%s: more than the %" PRIu64 " bytes asked at "
                                           "offset %" PRIu64 " (HTTP %ld)", r->what, r->dst_len, r->off, r->status));
        memcpy(r->dst + r->got, p, n);
        r->got += n;
        return n;
    }
    size_t max = status_ok(r->status) ? r->body_max : MR_S3_MAX_ERROR_BYTES;
    if (n > max - r->body.len) {
        if (!status_ok(r->status)) {
            r->body_cut = true; /* enough of it to name the error; stop reading */
            return 0;
        }
        return req_abort(r, mr_err_set(r->err, MURR_ECORRUPT, "%s: listing page larger than %zu bytes", r->what, max));
    }
    if (mr_buf_append(&r->body, p, n) != 0)
        return req_abort(r, mr_err_set(r->err, MURR_ENOMEM, "%s: no memory for a %zu-byte response", r->what,
                                       r->body.len + n));
    return n;
}

static CURL *pool_take(s3_source_t *s)
{
    CURL *c = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool > 0)
        c = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_mu);
    if (c)
        curl_easy_reset(c);
    else
        c = curl_easy_init();
    return c;
}

static void pool_give(s3_source_t *s, CURL *c)
{
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool < MR_S3_POOL) {
        s->pool[s->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c)
        curl_easy_cleanup(c);
}

/* libcurl 7.88 signs the payload hash given in this header (and S3 requires the header on
 * SigV4 requests) but does not add it by itself: every request here is a GET with no body,
 * so it is the SHA-256 of nothing. */
#define S3_EMPTY_PAYLOAD_HDR "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The headers every request carries: the payload hash and the session token when signed. */
static struct curl_slist *req_headers(const s3_source_t *s, struct curl_slist *h)
{
    if (s->anonymous)
        return h;
    h = curl_slist_append(h, S3_EMPTY_PAYLOAD_HDR);
    if (s->token_header[0])
        h = curl_slist_append(h, s->token_header);
    return h;
}

static void req_setup(s3_source_t *s, s3_req_t *r, const char *url, struct curl_slist *hdrs)
{
    CURL *c = r->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    long t = (long)s->timeout_ms;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, t < 10000 ? t : 10000L);
    /* A transfer below 1 byte/s for this long is stalled. */
    long stall_s = t / 1000 < 10 ? (t / 1000 > 0 ? t / 1000 : 1) : 10;
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_s);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "murr-s3");
    if (!s->anonymous) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
        /* USERNAME/PASSWORD rather than USERPWD "key:secret": a ':' in either stays intact. */
        curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key_id);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_access_key);
    }
}

/* Transport errors worth another try: the network or the server may recover. */
static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static bool status_retryable(long st, const mr_s3_error_doc_t *doc)
{
    return st >= 500 || st == 429 || (st == 400 && strcmp(doc->code, "RequestTimeout") == 0);
}

/* Performs one request with retries. Returns 0 with r->status set to a 2xx status (the body
 * in r->dst or r->body), or an error naming `what`. Statuses that are not retried (404, 403,
 * 412, ...) come back as 0 too with r->status and the parsed error document in *doc, for the
 * caller to map (it knows whether a 404 is a missing key or a missing bucket). */
static int req_perform(s3_source_t *s, s3_req_t *r, const char *url, struct curl_slist *hdrs,
                       mr_s3_error_doc_t *doc)
{
    uint32_t attempts = 0;
    char last[640] = "";
    for (;;) {
        attempts++;
        r->status = 0;
        r->got = 0;
        r->body.len = 0;
        r->body_cut = false;
        r->abort_rc = 0;
        memset(doc, 0, sizeof(*doc));
        r->curl = pool_take(s);
        if (r->curl == NULL)
            return mr_err_set(r->err, MURR_ENOMEM, "%s: cannot create a CURL handle", r->what);
        req_setup(s, r, url, hdrs);
        char ebuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, ebuf);
        CURLcode rc = curl_easy_perform(r->curl);
        if (r->status == 0)
            curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, NULL);
        bool retry;
        if (r->abort_rc != 0) {
            /* our own refusal of the response (too long, wrong length): the connection is in
             * an unknown state, so the handle is not pooled */
            curl_easy_cleanup(r->curl);
            r->curl = NULL;
            return r->abort_rc;
        }
        if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->body_cut)) {
            retry = curl_retryable(rc);
            snprintf(last, sizeof(last), "%s (curl error %d)", ebuf[0] ? ebuf : curl_easy_strerror(rc), (int)rc);
            curl_easy_cleanup(r->curl);
            r->curl = NULL;
            if (!retry)
                return mr_err_set(r->err, MURR_EIO, "%s: %s", r->what, last);
        } else {
            if (rc == CURLE_OK)
                pool_give(s, r->curl);
            else
                curl_easy_cleanup(r->curl);
            r->curl = NULL;
            if (status_ok(r->status))
                return 0;
            if (r->body.len > 0)
                mr_s3_xml_parse_error((const char *)r->body.data, r->body.len, doc, NULL);
            if (!status_retryable(r->status, doc))
                return 0;
            snprintf(last, sizeof(last), "HTTP %ld%s%s%s%s", r->status, doc->code[0] ? " " : "", doc->code,
                     doc->message[0] ? ": " : "", doc->message);
        }
        if (attempts > s->max_retries)
            return mr_err_set(r->err, MURR_EIO, "%s: %s, after %u attempt%s", r->what, last, attempts,
                              attempts == 1 ? "" : "s");
        backoff_sleep(attempts);
    }
}

/* The error for a final non-2xx status. */
static int status_error(const s3_req_t *r, const mr_s3_error_doc_t *d, bool listing, const char *bucket,
                        mr_error_t *err)
{
    char detail[600];
    snprintf(detail, sizeof(detail), "HTTP %ld%s%s%s%s", r->status, d->code[0] ? " " : "", d->code,
             d->message[0] ? ": " : "", d->message);
    switch (r->status) {
    case 404:
        if (listing || strcmp(d->code, "NoSuchBucket") == 0)
            return mr_err_set(err, MURR_ENOTFOUND, "%s: bucket '%s' not found (%s)", r->what, bucket, detail);
        return mr_err_set(err, MURR_ENOTFOUND, "%s: object not found (%s)", r->what, detail);
    case 412:
        return mr_err_set(err, MURR_ECORRUPT, "%s: object changed since it was listed (If-Match failed, %s)", r->what,
                          detail);
    case 416:
        return mr_err_set(err, MURR_ECORRUPT, "%s: bytes %" PRIu64 "-%" PRIu64 " are past the end of the object (%s)",
                          r->what, r->off, r->off + r->dst_len - 1, detail);
    case 403:
        return mr_err_set(err, MURR_EIO, "%s: access denied (%s)", r->what, detail);
    default:
        return mr_err_set(err, MURR_EIO, "%s: %s", r->what, detail);
    }
}

/* ---- list and read ----------------------------------------------------------------------- */

static int s3_list(mr_source_t *base, mr_object_list_t *out, mr_error_t *err)
{
    s3_source_t *s = (s3_source_t *)base;
    char *token = mr_xcalloc(1, MR_S3_XML_MAX_TOKEN + 1);
    char *prev = mr_xcalloc(1, MR_S3_XML_MAX_TOKEN + 1);
    char *url = mr_xmalloc(16384);
    char enc_prefix[3 * sizeof(s->prefix) + 1], *enc_token = mr_xmalloc(3 * MR_S3_XML_MAX_TOKEN + 1);
    mr_s3_list_page_t *page = mr_xmalloc(sizeof(*page));
    char what[1400];
    s3_req_t r = {.what = what, .body_max = MR_S3_MAX_LIST_BYTES, .err = err};
    mr_buf_init(&r.body);
    int rc = url_encode(s->prefix, false, enc_prefix, sizeof(enc_prefix), err);
    for (uint32_t pageno = 1; rc == 0; pageno++) {
        snprintf(what, sizeof(what), "listing %s (page %u)", s->base.uri, pageno);
        if (pageno > MR_S3_MAX_PAGES) {
            rc = mr_err_set(err, MURR_ECORRUPT, "%s: more than %u pages", what, MR_S3_MAX_PAGES);
            break;
        }
        if ((rc = url_encode(token, false, enc_token, 3 * MR_S3_XML_MAX_TOKEN + 1, err)) != 0)
            break;
        /* parameters sorted by name: this string is the canonical query that gets signed */
        int n = snprintf(url, 16384, "%s%s?%s%s%slist-type=2&prefix=%s", s->base_url,
                         strchr(s->base_url + 8, '/') ? "" : "/", token[0] ? "continuation-token=" : "", enc_token,
                         token[0] ? "&" : "", enc_prefix);
        if (n < 0 || n >= 16384) {
            rc = mr_err_set(err, MURR_EINVAL, "%s: URL longer than 16384 bytes", what);
            break;
        }
        struct curl_slist *hdrs = req_headers(s, NULL);
        mr_s3_error_doc_t doc;
        rc = req_perform(s, &r, url, hdrs, &doc);
        curl_slist_free_all(hdrs);
        if (rc != 0)
            break;
        if (!status_ok(r.status)) {
            rc = status_error(&r, &doc, true, s->bucket, err);
            break;
        }
        rc = mr_s3_xml_parse_list((const char *)r.body.data, r.body.len, s->prefix, out, page, err);
        if (rc != 0) {
            mr_err_prefix(err, "%s: ", what);
            break;
        }
        if (!page->truncated)
            break;
        if (strcmp(page->next_token, token) == 0 || strcmp(page->next_token, prev) == 0) {
            rc = mr_err_set(err, MURR_ECORRUPT, "%s: the server returned the same continuation token twice", what);
            break;
        }
        memcpy(prev, token, MR_S3_XML_MAX_TOKEN + 1);
        memcpy(token, page->next_token, MR_S3_XML_MAX_TOKEN + 1);
    }
    mr_buf_deinit(&r.body);
    mr_free(page);
    mr_free(enc_token);
    mr_free(url);
    mr_free(prev);
    mr_free(token);
    return rc;
}

static int s3_read(mr_source_t *base, const char *key, const char *etag, uint64_t off, uint64_t len, uint8_t *buf,
                   mr_error_t *err)
{
    s3_source_t *s = (s3_source_t *)base;
    if (len == 0)
        return 0;
    if (off > UINT64_MAX - len)
        return mr_err_set(err, MURR_EINVAL, "s3://%s/%s%s: range at offset %" PRIu64 " of %" PRIu64 " bytes overflows",
                          s->bucket, s->prefix, key, off, len);
    char what[1400];
    snprintf(what, sizeof(what), "s3://%s/%s%s", s->bucket, s->prefix, key);
    char full[2100], enc[6400], url[8192];
    int n = snprintf(full, sizeof(full), "%s%s", s->prefix, key);
    if (n < 0 || (size_t)n >= sizeof(full) || (size_t)n > MR_S3_XML_MAX_KEY)
        return mr_err_set(err, MURR_EINVAL, "%s: key longer than %d bytes", what, MR_S3_XML_MAX_KEY);
    MR_RETURN_NOT_OK(url_encode(full, true, enc, sizeof(enc), err));
    n = snprintf(url, sizeof(url), "%s/%s", s->base_url, enc);
    if (n < 0 || (size_t)n >= sizeof(url))
        return mr_err_set(err, MURR_EINVAL, "%s: URL longer than %zu bytes", what, sizeof(url) - 1);

    char range[96], if_match[160];
    snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
    struct curl_slist *hdrs = curl_slist_append(NULL, range);
    if (etag && etag[0]) {
        if (strpbrk(etag, "\"\r\n") != NULL || strlen(etag) > 100) {
            curl_slist_free_all(hdrs);
            return mr_err_set(err, MURR_EINVAL, "%s: ETag '%.100s' has quotes or newlines, or is over 100 bytes", what,
                              etag);
        }
        snprintf(if_match, sizeof(if_match), "If-Match: \"%s\"", etag);
        hdrs = curl_slist_append(hdrs, if_match);
    }
    hdrs = req_headers(s, hdrs);
    s3_req_t r = {.what = what, .dst = buf, .dst_len = len, .off = off, .err = err};
    mr_buf_init(&r.body);
    mr_s3_error_doc_t doc;
    int rc = req_perform(s, &r, url, hdrs, &doc);
    curl_slist_free_all(hdrs);
    if (rc == 0 && !status_ok(r.status))
        rc = status_error(&r, &doc, false, s->bucket, err);
    else if (rc == 0 && r.got != len)
        rc = mr_err_set(err, MURR_ECORRUPT, "%s: %" PRIu64 " bytes received of the %" PRIu64 " asked at offset %" PRIu64
                        " (HTTP %ld)", what, r.got, len, off, r.status);
    mr_buf_deinit(&r.body);
    return rc;
}

static void s3_free(mr_source_t *base)
{
    s3_source_t *s = (s3_source_t *)base;
    for (int i = 0; i < s->npool; i++)
        curl_easy_cleanup(s->pool[i]);
    pthread_mutex_destroy(&s->pool_mu);
    /* the secret does not outlive the source in freed memory */
    memset(s->secret_access_key, 0, sizeof(s->secret_access_key));
    memset(s->token_header, 0, sizeof(s->token_header));
    mr_free(s);
}

static const mr_source_ops_t s3_ops = {.kind = "s3", .list = s3_list, .read = s3_read, .free = s3_free};

static bool all_of(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr(extra, *s)))
            return false;
    return true;
}

/* Bucket, region, prefix and endpoint checked and normalised into s. */
static int s3_locate(s3_source_t *s, const mr_s3_config_t *cfg, mr_error_t *err)
{
    size_t bn = strnlen(cfg->bucket, sizeof(cfg->bucket));
    if (bn == 0 || bn >= sizeof(cfg->bucket) || !all_of(cfg->bucket, ".-_"))
        return mr_err_set(err, MURR_EINVAL, "source.s3.bucket: '%.255s' is empty or has characters other than "
                          "letters, digits, '.', '-' and '_'", cfg->bucket);
    memcpy(s->bucket, cfg->bucket, bn + 1);
    char region[64];
    const char *rg = cfg->region[0] ? cfg->region : (getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1");
    if (snprintf(region, sizeof(region), "%s", rg) >= (int)sizeof(region) || !region[0] || !all_of(region, "-"))
        return mr_err_set(err, MURR_EINVAL, "source.s3.region: '%.100s' is empty, over %zu bytes or not of letters, "
                          "digits and '-'", rg, sizeof(region) - 1);
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", region);

    /* prefix: no leading '/', and a trailing one so "t" does not also list "t2/" */
    const char *p = cfg->prefix;
    while (*p == '/')
        p++;
    size_t pn = strnlen(p, sizeof(cfg->prefix));
    if (pn > MR_S3_XML_MAX_KEY - 1)
        return mr_err_set(err, MURR_EINVAL, "source.s3.prefix: %zu bytes, more than %d", pn, MR_S3_XML_MAX_KEY - 1);
    memcpy(s->prefix, p, pn);
    if (pn > 0 && p[pn - 1] != '/')
        s->prefix[pn++] = '/';
    s->prefix[pn] = '\0';

    int n;
    if (cfg->endpoint[0]) {
        char ep[sizeof(cfg->endpoint)];
        snprintf(ep, sizeof(ep), "%s", cfg->endpoint);
        size_t en = strlen(ep);
        while (en > 0 && ep[en - 1] == '/')
            ep[--en] = '\0';
        if ((strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) || strchr(ep + 8, '/') ||
            strpbrk(ep, "?#@ \r\n"))
            return mr_err_set(err, MURR_EINVAL, "source.s3.endpoint: '%.400s' is not http[s]://host[:port]", ep);
        /* a custom endpoint is addressed path style: S3-compatible servers rarely have DNS
         * for bucket.host */
        n = snprintf(s->base_url, sizeof(s->base_url), "%s/%s", ep, s->bucket);
    } else if (cfg->path_style || strchr(s->bucket, '.')) {
        /* dotted buckets do not match the *.s3 TLS certificate: path style */
        n = snprintf(s->base_url, sizeof(s->base_url), "https://s3.%s.amazonaws.com/%s", region, s->bucket);
    } else {
        n = snprintf(s->base_url, sizeof(s->base_url), "https://%s.s3.%s.amazonaws.com", s->bucket, region);
    }
    if (n < 0 || (size_t)n >= sizeof(s->base_url))
        return mr_err_set(err, MURR_EINVAL, "source.s3: URL of bucket '%s' longer than %zu bytes", s->bucket,
                          sizeof(s->base_url) - 1);
    n = snprintf(s->base.uri, sizeof(s->base.uri), "s3://%s/%s", s->bucket, s->prefix);
    if (n < 0 || (size_t)n >= sizeof(s->base.uri))
        return mr_err_set(err, MURR_EINVAL, "source.s3: s3://%s/%s is longer than %zu bytes", s->bucket, s->prefix,
                          sizeof(s->base.uri) - 1);
    return 0;
}

int mr_source_s3_new(const mr_s3_config_t *cfg, mr_source_t **out, mr_error_t *err)
{
    *out = NULL;
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return mr_err_set(err, MURR_EIO, "S3: curl_global_init failed: %s", curl_easy_strerror(g_curl_init_rc));
    curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    if (vi->version_num < 0x074b00) /* 7.75.0: CURLOPT_AWS_SIGV4 */
        return mr_err_set(err, MURR_EUNSUPPORTED, "S3: libcurl %s has no AWS SigV4 signing (7.75 or later needed)",
                          vi->version);
    s3_source_t *s = mr_xcalloc(1, sizeof(*s));
    s->base.ops = &s3_ops;
    int rc = s3_locate(s, cfg, err);
    if (rc == 0)
        rc = resolve_credentials(s, cfg, err);
    if (rc != 0) {
        memset(s->secret_access_key, 0, sizeof(s->secret_access_key));
        mr_free(s);
        return rc;
    }
    s->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 30000;
    s->max_retries = cfg->max_retries;
    pthread_mutex_init(&s->pool_mu, NULL);
    *out = &s->base;
    return 0;
}
