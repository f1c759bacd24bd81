/* auth.c - tokens file parsing, constant-time token lookup, the process's current token set
 * and the auth failure counters. See auth.h. */
#include "server/auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/fs.h"

typedef struct token {
    char *text;
    size_t len;
    unsigned scopes;
    size_t line;
} token_t;

struct mr_auth {
    atomic_int refs;
    token_t *tokens;
    size_t n, cap;
};

static bool is_token68_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

/* token68: the characters above with '=' only as trailing padding; returns the offset of the
 * first bad character, or len when the token is valid */
static size_t token68_bad_at(const char *t, size_t len)
{
    size_t i = 0;
    while (i < len && is_token68_char(t[i]) && t[i] != '=')
        i++;
    while (i < len && t[i] == '=')
        i++;
    return i;
}

bool mr_auth_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile unsigned char *x = a, *y = b;
    /* every byte of the candidate is compared against some byte of the secret (the secret
     * wraps around), so the work is alen steps whatever the contents */
    unsigned char diff = (unsigned char)(alen != blen);
    if (blen == 0)
        return alen == 0;
    size_t j = 0;
    for (size_t i = 0; i < alen; i++) {
        diff |= (unsigned char)(x[i] ^ y[j]);
        j++;
        j &= (size_t)0 - (size_t)(j < blen); /* j = j < blen ? j : 0, without a branch */
    }
    return diff == 0;
}

unsigned mr_auth_scopes_of(const mr_auth_t *a, const char *token, size_t len)
{
    unsigned found = 0;
    if (a == NULL)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        unsigned eq = mr_auth_ct_equal(token, len, a->tokens[i].text, a->tokens[i].len);
        found |= a->tokens[i].scopes & (0u - eq);
    }
    return found;
}

const char *mr_auth_scopes_str(unsigned scopes, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s%s", scopes & MR_AUTH_READ ? "read" : "",
             (scopes & MR_AUTH_READ) && (scopes & (MR_AUTH_WRITE | MR_AUTH_ADMIN)) ? "," : "",
             scopes & MR_AUTH_WRITE ? "write" : "", (scopes & MR_AUTH_WRITE) && (scopes & MR_AUTH_ADMIN) ? "," : "",
             scopes & MR_AUTH_ADMIN ? "admin" : "");
    if (scopes == 0)
        snprintf(buf, n, "none");
    return buf;
}

const char *mr_auth_reason_name(mr_auth_result_t r)
{
    static const char *const names[MR_AUTH_RESULT_COUNT] = {"ok", "missing", "malformed", "wrong_token",
                                                            "insufficient_scope"};
    return (unsigned)r < MR_AUTH_RESULT_COUNT ? names[r] : "unknown";
}

/* ---- parsing ---- */

static void auth_free(mr_auth_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        memset(a->tokens[i].text, 0, a->tokens[i].len); /* secrets do not outlive their set */
        mr_free(a->tokens[i].text);
    }
    mr_free(a->tokens);
    mr_free(a);
}

mr_auth_t *mr_auth_ref(mr_auth_t *a)
{
    if (a)
        atomic_fetch_add(&a->refs, 1);
    return a;
}

void mr_auth_unref(mr_auth_t *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1)
        auth_free(a);
}

size_t mr_auth_count(const mr_auth_t *a) { return a ? a->n : 0; }

/* Parses "read,write" into a mask. */
static int parse_scopes(const char *s, size_t n, const char *name, size_t line, unsigned *out, mr_error_t *err)
{
    static const struct {
        const char *s;
        unsigned bit;
    } tbl[] = {{"read", MR_AUTH_READ}, {"write", MR_AUTH_WRITE}, {"admin", MR_AUTH_ADMIN}};
    *out = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        unsigned bit = 0;
        for (size_t k = 0; k < MR_ARRAY_LEN(tbl) && !bit; k++)
            if (j - i == strlen(tbl[k].s) && memcmp(s + i, tbl[k].s, j - i) == 0)
                bit = tbl[k].bit;
        if (bit == 0)
            return mr_err_set(err, MURR_EINVAL, "%s:%zu: unknown scope '%.*s' (expected read, write or admin, "
                              "comma-separated)", name, line, (int)(j - i > 40 ? 40 : j - i), s + i);
        *out |= bit;
        i = j + 1;
    }
    return 0;
}

static int parse_line(mr_auth_t *a, const char *s, size_t n, const char *name, size_t line, mr_error_t *err)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == n || s[i] == '#')
        return 0;
    size_t sc = i;
    while (i < n && s[i] != ' ' && s[i] != '\t')
        i++;
    size_t sc_len = i - sc;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == n)
        return mr_err_set(err, MURR_EINVAL, "%s:%zu: expected '<scopes> <token>', found one field", name, line);
    unsigned scopes;
    MR_RETURN_NOT_OK(parse_scopes(s + sc, sc_len, name, line, &scopes, err));
    const char *t = s + i;
    size_t tl = n - i;
    size_t bad = token68_bad_at(t, tl);
    if (bad < tl)
        return mr_err_set(err, MURR_EINVAL, "%s:%zu: the token has a character (byte 0x%02x at offset %zu) outside "
                          "A-Z a-z 0-9 - . _ ~ + / and trailing '='; a token is one word after the scopes",
                          name, line, (unsigned char)t[bad], bad);
    if (tl < MR_AUTH_TOKEN_MIN || tl > MR_AUTH_TOKEN_MAX)
        return mr_err_set(err, MURR_EINVAL, "%s:%zu: the token is %zu characters long; expected %d to %d "
                          "(e.g. openssl rand -hex 32)", name, line, tl, MR_AUTH_TOKEN_MIN, MR_AUTH_TOKEN_MAX);
    for (size_t k = 0; k < a->n; k++)
        if (a->tokens[k].len == tl && memcmp(a->tokens[k].text, t, tl) == 0)
            return mr_err_set(err, MURR_EINVAL, "%s:%zu: duplicate token (first at line %zu); list each token "
                              "once with all its scopes", name, line, a->tokens[k].line);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->tokens = mr_xrealloc(a->tokens, a->cap * sizeof(token_t));
    }
    char *copy = mr_xmalloc(tl + 1);
    memcpy(copy, t, tl);
    copy[tl] = '\0';
    a->tokens[a->n++] = (token_t){.text = copy, .len = tl, .scopes = scopes, .line = line};
    return 0;
}

int mr_auth_parse(const char *text, size_t len, const char *name, mr_auth_t **out, mr_error_t *err)
{
    mr_auth_t *a = mr_xcalloc(1, sizeof(*a));
    atomic_init(&a->refs, 1);
    size_t line = 0, i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        line++;
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        if (memchr(text + i, '\0', n))
            rc = mr_err_set(err, MURR_EINVAL, "%s:%zu: a NUL byte in the line", name, line);
        else
            rc = parse_line(a, text + i, n, name, line, err);
        i += n + 1;
    }
    if (rc == 0 && a->n == 0)
        rc = mr_err_set(err, MURR_EINVAL, "%s: no tokens (%zu lines of blanks and comments); add lines like "
                        "'read,write <token>' or unset server.auth.tokens_file to run without access control",
                        name, line);
    if (rc != 0) {
        auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int mr_auth_load_file(const char *path, mr_auth_t **out, mr_error_t *err)
{
    uint8_t *data;
    size_t len;
    if (mr_fs_read_all(path, &data, &len, err) != 0)
        return mr_err_prefix(err, "server.auth.tokens_file: ");
    int rc = mr_auth_parse((const char *)data, len, path, out, err);
    memset(data, 0, len);
    mr_free(data);
    return rc;
}

/* ---- header checks ---- */

/* Splits "<scheme> <credentials>": true when the scheme is `scheme` (any case). */
static bool split_scheme(const char *hdr, size_t len, const char *scheme, const char **cred, size_t *cred_len)
{
    size_t sl = strlen(scheme);
    if (len <= sl || strncasecmp(hdr, scheme, sl) != 0 || (hdr[sl] != ' ' && hdr[sl] != '\t'))
        return false;
    size_t i = sl;
    while (i < len && (hdr[i] == ' ' || hdr[i] == '\t'))
        i++;
    size_t end = len;
    while (end > i && (hdr[end - 1] == ' ' || hdr[end - 1] == '\t'))
        end--;
    *cred = hdr + i;
    *cred_len = end - i;
    return true;
}

static mr_auth_result_t decide(const mr_auth_t *a, const char *tok, size_t tl, unsigned need, unsigned *have)
{
    if (tl == 0 || tl > MR_AUTH_TOKEN_MAX || token68_bad_at(tok, tl) < tl)
        return MR_AUTH_MALFORMED;
    unsigned s = mr_auth_scopes_of(a, tok, tl);
    if (have)
        *have = s;
    if (s == 0)
        return MR_AUTH_WRONG_TOKEN;
    return need == MR_AUTH_ANY || (s & need) == need ? MR_AUTH_OK : MR_AUTH_INSUFFICIENT;
}

mr_auth_result_t mr_auth_check_bearer(const mr_auth_t *a, const char *hdr, size_t len, unsigned need, unsigned *have)
{
    if (have)
        *have = 0;
    if (hdr == NULL || len == 0)
        return MR_AUTH_MISSING;
    const char *tok;
    size_t tl;
    if (!split_scheme(hdr, len, "Bearer", &tok, &tl))
        return MR_AUTH_MALFORMED;
    return decide(a, tok, tl, need, have);
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding (RFC 4648 4); false on any other byte. dst >= n*3/4 bytes. */
static bool b64_decode(const char *s, size_t n, char *dst, size_t *dn)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    *dn = o;
    return true;
}

mr_auth_result_t mr_auth_check_basic(const mr_auth_t *a, const char *hdr, size_t len, char *scratch,
                                     const char **token, size_t *token_len)
{
    if (hdr == NULL || len == 0)
        return MR_AUTH_MISSING;
    const char *cred;
    size_t cl, dn;
    if (!split_scheme(hdr, len, "Basic", &cred, &cl) || !b64_decode(cred, cl, scratch, &dn))
        return MR_AUTH_MALFORMED;
    const char *colon = memchr(scratch, ':', dn);
    if (colon == NULL)
        return MR_AUTH_MALFORMED;
    *token = colon + 1;
    *token_len = dn - (size_t)(colon + 1 - scratch);
    unsigned have;
    mr_auth_result_t r = decide(a, *token, *token_len, MR_AUTH_ANY, &have);
    return r;
}

/* ---- the current set ---- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static mr_auth_t *g_current;      /* guarded by g_lock */
static char g_path[4096];         /* guarded by g_lock */

void mr_auth_install(mr_auth_t *a)
{
    pthread_mutex_lock(&g_lock);
    mr_auth_t *old = g_current;
    g_current = a;
    pthread_mutex_unlock(&g_lock);
    mr_auth_unref(old);
}

mr_auth_t *mr_auth_acquire(void)
{
    pthread_mutex_lock(&g_lock);
    mr_auth_t *a = mr_auth_ref(g_current);
    pthread_mutex_unlock(&g_lock);
    return a;
}

int mr_auth_configure(const char *path, mr_error_t *err)
{
    mr_auth_t *a = NULL;
    if (path && *path)
        MR_RETURN_NOT_OK(mr_auth_load_file(path, &a, err));
    pthread_mutex_lock(&g_lock);
    snprintf(g_path, sizeof(g_path), "%s", path ? path : "");
    pthread_mutex_unlock(&g_lock);
    mr_auth_install(a);
    return 0;
}

int mr_auth_reload(mr_error_t *err)
{
    char path[sizeof(g_path)];
    pthread_mutex_lock(&g_lock);
    memcpy(path, g_path, sizeof(path));
    pthread_mutex_unlock(&g_lock);
    if (path[0] == '\0')
        return 0;
    mr_auth_t *a;
    MR_RETURN_NOT_OK(mr_auth_load_file(path, &a, err));
    mr_auth_install(a);
    return 0;
}

/* ---- scopes of operations ---- */

unsigned mr_auth_scope_of_route(mr_route_t route, bool get, bool replace)
{
    switch (route) {
    case MR_ROUTE_HEALTH: return MR_AUTH_NONE;
    case MR_ROUTE_SOURCE: return get ? MR_AUTH_READ : MR_AUTH_ADMIN; /* PUT/DELETE set or stop a follow */
    case MR_ROUTE_WRITE: return replace ? MR_AUTH_ADMIN : MR_AUTH_WRITE;
    case MR_ROUTE_CREATE:
    case MR_ROUTE_DROP:
    case MR_ROUTE_COMPACT:
    case MR_ROUTE_ROLLBACK:
    case MR_ROUTE_REFRESH: return MR_AUTH_ADMIN;
    default: return MR_AUTH_READ; /* list, schema, fetch, metrics, openapi, versions, unknown paths */
    }
}

/* ---- metrics ---- */

static _Atomic unsigned long long g_failures[MR_AUTH_LISTENER_COUNT][MR_AUTH_RESULT_COUNT];

void mr_auth_count_failure(mr_auth_listener_t l, mr_auth_result_t r)
{
    if ((unsigned)l < MR_AUTH_LISTENER_COUNT && (unsigned)r < MR_AUTH_RESULT_COUNT)
        atomic_fetch_add_explicit(&g_failures[l][r], 1, memory_order_relaxed);
}

unsigned long long mr_auth_failures(mr_auth_listener_t l, mr_auth_result_t r)
{
    return atomic_load_explicit(&g_failures[l][r], memory_order_relaxed);
}

int mr_auth_metrics_render(mr_buf_t *out)
{
    static const char *const listeners[MR_AUTH_LISTENER_COUNT] = {"http", "flight"};
    int rc = mr_buf_append_cstr(out, "# HELP murr_auth_failures_total Requests refused by access control, by "
                                     "listener and reason.\n# TYPE murr_auth_failures_total counter\n");
    for (int l = 0; l < MR_AUTH_LISTENER_COUNT; l++)
        for (int r = MR_AUTH_MISSING; r < MR_AUTH_RESULT_COUNT; r++)
            rc |= mr_buf_printf(out, "murr_auth_failures_total{listener=\"%s\",reason=\"%s\"} %llu\n", listeners[l],
                                mr_auth_reason_name((mr_auth_result_t)r),
                                mr_auth_failures((mr_auth_listener_t)l, (mr_auth_result_t)r));
    return rc;
}
