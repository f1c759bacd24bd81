/*
 * auth.h - access control for both listeners: bearer tokens with scopes (issue 14, see
 * docs/decisions/0010-auth-tls.md).
 *
 * A token set (mr_auth_t) is loaded from the file named by server.auth.tokens_file: one
 * token a line, `<scopes> <token>`, scopes comma-separated from read, write, admin; blank
 * lines and lines starting with '#' are skipped. Scopes are independent (admin does not imply
 * read): a token may do what its scopes list and nothing else. Tokens are token68 strings
 * (RFC 7235: A-Z a-z 0-9 - . _ ~ + / and trailing '='), MR_AUTH_TOKEN_MIN..MAX characters,
 * each at most once in a file.
 *
 * The process has one current set (NULL: no tokens configured, everything is allowed as
 * before issue 14). mr_auth_install/mr_auth_reload replace it; requests take a reference
 * with mr_auth_acquire, so a reload on SIGHUP never frees a set a request still checks
 * against. Thread-safety: every function may be called from any thread.
 *
 * Comparison is in constant time with respect to the token bytes (mr_auth_ct_equal), and a
 * check compares the candidate against every token of the set without stopping early.
 */
#ifndef MR_SERVER_AUTH_H
#define MR_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "server/metrics.h"

#define MR_AUTH_READ 1u
#define MR_AUTH_WRITE 2u
#define MR_AUTH_ADMIN 4u
#define MR_AUTH_NONE 0u /* a route that needs no token (/health) */
#define MR_AUTH_ANY 8u  /* any known token, whatever its scopes (the scope is decided later) */

#define MR_AUTH_TOKEN_MIN 16
#define MR_AUTH_TOKEN_MAX 512

typedef struct mr_auth mr_auth_t;

/* What a check found; each failure is one value of the `reason` label of
 * murr_auth_failures_total. */
typedef enum mr_auth_result {
    MR_AUTH_OK = 0,
    MR_AUTH_MISSING,       /* no Authorization header (401) */
    MR_AUTH_MALFORMED,     /* not "Bearer <token68>" (401) */
    MR_AUTH_WRONG_TOKEN,   /* a bearer token that is not in the set (401) */
    MR_AUTH_INSUFFICIENT,  /* a known token without the scope needed (403) */
    MR_AUTH_RESULT_COUNT
} mr_auth_result_t;

typedef enum mr_auth_listener { MR_AUTH_HTTP = 0, MR_AUTH_FLIGHT, MR_AUTH_LISTENER_COUNT } mr_auth_listener_t;

/* Parses a tokens file's text. `name` is used in errors, which name name:line (unknown
 * scope, missing token, bad character, length, duplicate with the line of the first). A file
 * without any token is an error (MURR_EINVAL): an operator who configured a file meant to
 * close the server. On success *out holds one reference. */
int mr_auth_parse(const char *text, size_t len, const char *name, mr_auth_t **out, mr_error_t *err);
/* Reads and parses the file at path (MURR_EIO naming the path when it cannot be read). */
int mr_auth_load_file(const char *path, mr_auth_t **out, mr_error_t *err);
mr_auth_t *mr_auth_ref(mr_auth_t *a);
void mr_auth_unref(mr_auth_t *a); /* NULL is a no-op */
size_t mr_auth_count(const mr_auth_t *a);

/* Constant-time equality: the time depends on alen (the candidate's length) only, never on
 * where the bytes differ or on the secret's bytes. Different lengths are unequal. */
bool mr_auth_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* The scopes of `token` in the set (0 if it is not there). Compares against every token. */
unsigned mr_auth_scopes_of(const mr_auth_t *a, const char *token, size_t len);
/* Checks an Authorization header value (NULL/0: absent) for `need` scopes. Scheme "Bearer"
 * is case-insensitive. *have (may be NULL) receives the token's scopes. */
mr_auth_result_t mr_auth_check_bearer(const mr_auth_t *a, const char *hdr, size_t len, unsigned need, unsigned *have);
/* Same for "Basic base64(user:password)": the password is the token, the user is ignored
 * (pyarrow's authenticate_basic_token). On success *token and *token_len point into `scratch`
 * (at least len bytes). */
mr_auth_result_t mr_auth_check_basic(const mr_auth_t *a, const char *hdr, size_t len, char *scratch,
                                     const char **token, size_t *token_len);

/* "read", "write,admin", ... for messages; buf of at least 20 bytes. */
const char *mr_auth_scopes_str(unsigned scopes, char *buf, size_t n);
const char *mr_auth_reason_name(mr_auth_result_t r);

/* ---- the process's current set ---- */
/* Loads `path` ("" = no tokens) and makes it current; remembers the path for reload. */
int mr_auth_configure(const char *path, mr_error_t *err);
/* Re-reads the configured file; on any error the current set stays (and err says why). */
int mr_auth_reload(mr_error_t *err);
/* The current set with a reference (NULL: no tokens configured). */
mr_auth_t *mr_auth_acquire(void);
/* Replaces the current set (takes over the caller's reference; NULL = open). */
void mr_auth_install(mr_auth_t *a);

/* ---- what each operation needs ---- */
/* HTTP: the scopes a route needs. `get`: the method is GET or HEAD; `replace`: the write
 * route's ?mode=replace (a replace is admin: it discards the table's rows). /health needs
 * none; unknown paths need read (so an anonymous client learns nothing from 404 vs 405). */
unsigned mr_auth_scope_of_route(mr_route_t route, bool get, bool replace);

/* ---- metrics ---- */
void mr_auth_count_failure(mr_auth_listener_t l, mr_auth_result_t r);
unsigned long long mr_auth_failures(mr_auth_listener_t l, mr_auth_result_t r);
/* Appends murr_auth_failures_total{listener,reason} (every pair, zeros included). */
int mr_auth_metrics_render(mr_buf_t *out);

#endif
