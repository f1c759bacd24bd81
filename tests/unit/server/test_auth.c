/* test_auth.c - server/auth.c: the constant-time compare's contract, the tokens-file parser
 * (scopes, blank lines, comments, duplicates, lengths, characters; errors name file:line),
 * bearer and basic header checks, the route -> scope table, and reload keeping a set alive
 * for a holder of a reference. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/auth.h"

#define T16 "0123456789abcdef"

static mr_auth_t *parse_ok(const char *text)
{
    mr_auth_t *a = NULL;
    mr_error_t e = {0};
    int rc = mr_auth_parse(text, strlen(text), "tok.txt", &a, &e);
    cr_assert_eq(rc, 0, "%s", e.message);
    return a;
}

static void parse_fails(const char *text, const char *message)
{
    mr_auth_t *a = NULL;
    mr_error_t e = {0};
    cr_assert_eq(mr_auth_parse(text, strlen(text), "tok.txt", &a, &e), MURR_EINVAL, "accepted: %s", text);
    cr_assert_null(a);
    cr_assert(strstr(e.message, message), "expected '%s' in '%s'", message, e.message);
}

Test(auth, ct_equal_contract)
{
    cr_assert(mr_auth_ct_equal("abcdef", 6, "abcdef", 6));
    cr_assert(mr_auth_ct_equal("", 0, "", 0));
    cr_assert_not(mr_auth_ct_equal("abcdef", 6, "abcdeg", 6));   /* last byte */
    cr_assert_not(mr_auth_ct_equal("bbcdef", 6, "abcdef", 6));   /* first byte */
    cr_assert_not(mr_auth_ct_equal("abc", 3, "abcdef", 6));      /* a prefix of the secret */
    cr_assert_not(mr_auth_ct_equal("abcdef", 6, "abc", 3));      /* the secret is a prefix */
    cr_assert_not(mr_auth_ct_equal("abcabc", 6, "abc", 3));      /* the secret repeated (it wraps) */
    cr_assert_not(mr_auth_ct_equal("", 0, "a", 1));
    cr_assert_not(mr_auth_ct_equal("a", 1, "", 0));
    /* one flipped bit anywhere in a long token */
    char x[64], y[64];
    memset(x, 'q', sizeof(x));
    for (size_t i = 0; i < sizeof(x); i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(y, x, sizeof(x));
            y[i] ^= (char)(1 << bit);
            cr_assert_not(mr_auth_ct_equal(x, sizeof(x), y, sizeof(y)), "byte %zu bit %d", i, bit);
        }
    cr_assert(mr_auth_ct_equal(x, sizeof(x), x, sizeof(x)));
}

Test(auth, parse_scopes_comments_blanks)
{
    mr_auth_t *a = parse_ok("# tokens\n\n   \nread r" T16 "\r\n  write,admin   w" T16 "  \n#read x" T16
                            "\nread,write,admin a" T16);
    cr_assert_eq(mr_auth_count(a), 3);
    cr_assert_eq(mr_auth_scopes_of(a, "r" T16, 17), MR_AUTH_READ);
    cr_assert_eq(mr_auth_scopes_of(a, "w" T16, 17), MR_AUTH_WRITE | MR_AUTH_ADMIN);
    cr_assert_eq(mr_auth_scopes_of(a, "a" T16, 17), MR_AUTH_READ | MR_AUTH_WRITE | MR_AUTH_ADMIN);
    cr_assert_eq(mr_auth_scopes_of(a, "x" T16, 17), 0); /* commented out */
    cr_assert_eq(mr_auth_scopes_of(a, "r" T16, 16), 0); /* prefix */
    mr_auth_unref(a);
}

Test(auth, parse_errors_name_file_and_line)
{
    parse_fails("read r" T16 "\nreed x" T16 "\n", "tok.txt:2: unknown scope 'reed'");
    parse_fails("read,,write r" T16 "\n", "tok.txt:1: unknown scope ''");
    parse_fails("Read r" T16 "\n", "tok.txt:1: unknown scope 'Read'");
    parse_fails("\n\nread\n", "tok.txt:3: expected '<scopes> <token>', found one field");
    parse_fails("read r" T16 "\n# c\nwrite r" T16 "\n", "tok.txt:3: duplicate token (first at line 1)");
    parse_fails("read short\n", "tok.txt:1: the token is 5 characters long; expected 16 to 512");
    parse_fails("read r" T16 " extra\n", "tok.txt:1: the token has a character (byte 0x20 at offset 17)");
    parse_fails("read r" T16 "=x\n", "(byte 0x78 at offset 18)"); /* '=' only as padding */
    parse_fails("read r\"" T16 "\n", "byte 0x22 at offset 1");
    parse_fails("# nothing\n\n", "tok.txt: no tokens (2 lines");
    parse_fails("", "no tokens");
    char big[600];
    memset(big, 'b', sizeof(big));
    char line[700];
    snprintf(line, sizeof(line), "read %.*s\n", 513, big);
    parse_fails(line, "tok.txt:1: the token is 513 characters long");
    snprintf(line, sizeof(line), "read %.*s\n", 512, big);
    mr_auth_unref(parse_ok(line));
    const char nul[] = "read r" T16 "\nread \0" T16;
    mr_auth_t *a = NULL;
    mr_error_t e = {0};
    cr_assert_eq(mr_auth_parse(nul, sizeof(nul) - 1, "tok.txt", &a, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "tok.txt:2: a NUL byte"), "%s", e.message);
}

Test(auth, load_file_errors_name_the_path)
{
    mr_auth_t *a = NULL;
    mr_error_t e = {0};
    cr_assert_neq(mr_auth_load_file("/nonexistent/murr-tokens", &a, &e), 0);
    cr_assert(strstr(e.message, "server.auth.tokens_file") && strstr(e.message, "/nonexistent/murr-tokens"), "%s",
              e.message);
}

Test(auth, bearer_header)
{
    mr_auth_t *a = parse_ok("read r" T16 "\nwrite w" T16 "\n");
    unsigned have = 99;
#define CHECK(h, need) mr_auth_check_bearer(a, h, strlen(h), need, &have)
    cr_assert_eq(mr_auth_check_bearer(a, NULL, 0, MR_AUTH_READ, &have), MR_AUTH_MISSING);
    cr_assert_eq(have, 0);
    cr_assert_eq(CHECK("Bearer r" T16, MR_AUTH_READ), MR_AUTH_OK);
    cr_assert_eq(have, MR_AUTH_READ);
    cr_assert_eq(CHECK("bearer   r" T16 "  ", MR_AUTH_READ), MR_AUTH_OK);
    cr_assert_eq(CHECK("Bearer r" T16, MR_AUTH_WRITE), MR_AUTH_INSUFFICIENT);
    cr_assert_eq(have, MR_AUTH_READ);
    cr_assert_eq(CHECK("Bearer r" T16, MR_AUTH_ANY), MR_AUTH_OK);
    cr_assert_eq(CHECK("Bearer w" T16, MR_AUTH_READ), MR_AUTH_INSUFFICIENT);
    cr_assert_eq(CHECK("Bearer x" T16, MR_AUTH_READ), MR_AUTH_WRONG_TOKEN);
    cr_assert_eq(CHECK("Bearer x" T16, MR_AUTH_ANY), MR_AUTH_WRONG_TOKEN);
    cr_assert_eq(CHECK("Bearer r" T16 "0", MR_AUTH_READ), MR_AUTH_WRONG_TOKEN);
    cr_assert_eq(CHECK("Bearer", MR_AUTH_READ), MR_AUTH_MALFORMED);
    cr_assert_eq(CHECK("Bearer ", MR_AUTH_READ), MR_AUTH_MALFORMED);
    cr_assert_eq(CHECK("Bearerr" T16, MR_AUTH_READ), MR_AUTH_MALFORMED);
    cr_assert_eq(CHECK("Basic r" T16, MR_AUTH_READ), MR_AUTH_MALFORMED);
    cr_assert_eq(CHECK("r" T16, MR_AUTH_READ), MR_AUTH_MALFORMED);
    cr_assert_eq(CHECK("Bearer r" T16 " r" T16, MR_AUTH_READ), MR_AUTH_MALFORMED);
#undef CHECK
    mr_auth_unref(a);
}

Test(auth, basic_header)
{
    mr_auth_t *a = parse_ok("read r" T16 "\n");
    char scratch[256];
    const char *tok;
    size_t tl;
    /* base64("user:r0123456789abcdef"), computed with `printf %s user:r0123... | base64` */
    const char *ok = "Basic dXNlcjpyMDEyMzQ1Njc4OWFiY2RlZg==";
    cr_assert_eq(mr_auth_check_basic(a, ok, strlen(ok), scratch, &tok, &tl), MR_AUTH_OK);
    cr_assert_eq(tl, 17);
    cr_assert(memcmp(tok, "r" T16, 17) == 0);
    const char *empty_user = "Basic OnIwMTIzNDU2Nzg5YWJjZGVm"; /* ":r0123456789abcdef" */
    cr_assert_eq(mr_auth_check_basic(a, empty_user, strlen(empty_user), scratch, &tok, &tl), MR_AUTH_OK);
    const char *wrong = "Basic dXNlcjp4MDEyMzQ1Njc4OWFiY2RlZg=="; /* user:x0123456789abcdef */
    cr_assert_eq(mr_auth_check_basic(a, wrong, strlen(wrong), scratch, &tok, &tl), MR_AUTH_WRONG_TOKEN);
    const char *nocolon = "Basic cjAxMjM0NTY3ODlhYmNkZWY="; /* r0123456789abcdef */
    cr_assert_eq(mr_auth_check_basic(a, nocolon, strlen(nocolon), scratch, &tok, &tl), MR_AUTH_MALFORMED);
    const char *bad64 = "Basic dXNl*jp4";
    cr_assert_eq(mr_auth_check_basic(a, bad64, strlen(bad64), scratch, &tok, &tl), MR_AUTH_MALFORMED);
    cr_assert_eq(mr_auth_check_basic(a, NULL, 0, scratch, &tok, &tl), MR_AUTH_MISSING);
    mr_auth_unref(a);
}

Test(auth, route_scopes)
{
    cr_assert_eq(mr_auth_scope_of_route(MR_ROUTE_HEALTH, true, false), MR_AUTH_NONE);
    const mr_route_t reads[] = {MR_ROUTE_OPENAPI, MR_ROUTE_METRICS, MR_ROUTE_LIST, MR_ROUTE_SCHEMA,
                                MR_ROUTE_FETCH, MR_ROUTE_VERSIONS, MR_ROUTE_NOT_FOUND};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
        cr_assert_eq(mr_auth_scope_of_route(reads[i], true, false), MR_AUTH_READ, "route %d", (int)reads[i]);
    const mr_route_t admins[] = {MR_ROUTE_CREATE, MR_ROUTE_DROP, MR_ROUTE_COMPACT, MR_ROUTE_ROLLBACK,
                                 MR_ROUTE_REFRESH};
    for (size_t i = 0; i < sizeof(admins) / sizeof(admins[0]); i++)
        cr_assert_eq(mr_auth_scope_of_route(admins[i], false, false), MR_AUTH_ADMIN, "route %d", (int)admins[i]);
    cr_assert_eq(mr_auth_scope_of_route(MR_ROUTE_WRITE, false, false), MR_AUTH_WRITE);
    cr_assert_eq(mr_auth_scope_of_route(MR_ROUTE_WRITE, false, true), MR_AUTH_ADMIN);
    cr_assert_eq(mr_auth_scope_of_route(MR_ROUTE_SOURCE, true, false), MR_AUTH_READ);
    cr_assert_eq(mr_auth_scope_of_route(MR_ROUTE_SOURCE, false, false), MR_AUTH_ADMIN);
}

Test(auth, reload_keeps_a_held_set_and_a_bad_file_keeps_the_current)
{
    char path[] = "/tmp/murr-test-tokens-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("read r" T16 "\n", f);
    fclose(f);
    mr_error_t e = {0};
    cr_assert_eq(mr_auth_configure(path, &e), 0, "%s", e.message);
    mr_auth_t *held = mr_auth_acquire();
    cr_assert_eq(mr_auth_scopes_of(held, "r" T16, 17), MR_AUTH_READ);
    f = fopen(path, "w");
    fputs("admin n" T16 "\n", f);
    fclose(f);
    cr_assert_eq(mr_auth_reload(&e), 0, "%s", e.message);
    mr_auth_t *now = mr_auth_acquire();
    cr_assert_eq(mr_auth_scopes_of(now, "r" T16, 17), 0);
    cr_assert_eq(mr_auth_scopes_of(now, "n" T16, 17), MR_AUTH_ADMIN);
    cr_assert_eq(mr_auth_scopes_of(held, "r" T16, 17), MR_AUTH_READ); /* still valid for its holder */
    mr_auth_unref(held);
    f = fopen(path, "w");
    fputs("admin,root z" T16 "\n", f);
    fclose(f);
    cr_assert_eq(mr_auth_reload(&e), MURR_EINVAL);
    cr_assert(strstr(e.message, ":1: unknown scope 'root'"), "%s", e.message);
    mr_auth_t *kept = mr_auth_acquire();
    cr_assert_eq(kept, now);
    mr_auth_unref(kept);
    mr_auth_unref(now);
    cr_assert_eq(mr_auth_configure("", &e), 0);
    cr_assert_null(mr_auth_acquire());
    unlink(path);
}

Test(auth, metrics_render_every_pair)
{
    unsigned long long before = mr_auth_failures(MR_AUTH_FLIGHT, MR_AUTH_WRONG_TOKEN);
    mr_auth_count_failure(MR_AUTH_FLIGHT, MR_AUTH_WRONG_TOKEN);
    cr_assert_eq(mr_auth_failures(MR_AUTH_FLIGHT, MR_AUTH_WRONG_TOKEN), before + 1);
    mr_buf_t b;
    mr_buf_init(&b);
    cr_assert_eq(mr_auth_metrics_render(&b), 0);
    mr_buf_append(&b, "", 1);
    const char *t = (const char *)b.data;
    cr_assert(strstr(t, "murr_auth_failures_total{listener=\"flight\",reason=\"wrong_token\"} 1\n"), "%s", t);
    cr_assert(strstr(t, "murr_auth_failures_total{listener=\"http\",reason=\"insufficient_scope\"} 0\n"), "%s", t);
    cr_assert(strstr(t, "murr_auth_failures_total{listener=\"http\",reason=\"missing\"} 0\n"), "%s", t);
    cr_assert_null(strstr(t, "reason=\"ok\""));
    mr_buf_deinit(&b);
}
