/* Tests of core: error formatting, arena, buffers, log format, fs atomic write, crc32c, utf8. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/half.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/utf8.h"

Test(error, set_and_prefix)
{
    mr_error_t e = {0};
    cr_assert_eq(mr_err_set(&e, MURR_EINVAL, "column '%s' row %d", "x", 7), MURR_EINVAL);
    cr_assert_str_eq(e.message, "column 'x' row 7");
    mr_err_prefix(&e, "table %s: ", "t");
    cr_assert_str_eq(e.message, "table t: column 'x' row 7");
    cr_assert_eq(e.code, MURR_EINVAL);
    cr_assert_eq(mr_err_set(NULL, MURR_EIO, "ignored"), MURR_EIO);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    mr_err_set(&e, MURR_EINVAL, "%s", big);
    cr_assert_eq(strlen(e.message), MURR_ERROR_MSG_MAX - 1);
    cr_assert_str_eq(e.message + MURR_ERROR_MSG_MAX - 4, "...");
    cr_assert_str_eq(murr_status_name(MURR_ENOTFOUND), "ENOTFOUND");
}

static int cleanup_hits;
static void hit(void *arg) { cleanup_hits += *(int *)arg; }

Test(arena, alignment_large_and_cleanups)
{
    mr_arena_t a;
    mr_arena_init(&a, 64);
    for (int i = 1; i < 200; i++) {
        uint8_t *p = mr_arena_alloc(&a, (size_t)i);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 8, 0);
        memset(p, 0xab, (size_t)i);
    }
    uint8_t *big = mr_arena_alloc_aligned(&a, 1 << 20, 64);
    cr_assert_eq((uintptr_t)big % 64, 0);
    memset(big, 1, 1 << 20);
    int v = 5;
    mr_arena_add_cleanup(&a, hit, &v);
    mr_arena_add_cleanup(&a, hit, &v);
    mr_arena_reset(&a);
    cr_assert_eq(cleanup_hits, 10);
    char *s = mr_arena_strndup(&a, "hello world", 5);
    cr_assert_str_eq(s, "hello");
    mr_arena_deinit(&a);
    cr_assert_eq(cleanup_hits, 10);
}

Test(alloc, counts_bytes)
{
    uint64_t before = mr_alloc_bytes_in_use();
    void *p = mr_malloc(1 << 20);
    cr_assert_geq(mr_alloc_bytes_in_use(), before + (1 << 20));
    p = mr_realloc(p, 2 << 20);
    cr_assert_geq(mr_alloc_bytes_in_use(), before + (2 << 20));
    mr_free(p);
    cr_assert_eq(mr_alloc_bytes_in_use(), before);
}

Test(buf, append_printf_pad_detach)
{
    mr_buf_t b;
    mr_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(mr_buf_printf(&b, "%d,", i), 0);
    cr_assert(memcmp(b.data, "0,1,2,", 6) == 0);
    size_t n = b.len;
    mr_buf_pad(&b, 8);
    cr_assert_eq(b.len % 8, 0);
    cr_assert_geq(b.len, n);
    size_t len;
    uint8_t *p = mr_buf_detach(&b, &len);
    cr_assert_eq(b.data, NULL);
    cr_assert_eq(len % 8, 0);
    mr_free(p);
}

Test(log, line_format_rfc3339_level_module)
{
    char path[] = "/tmp/murr-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    mr_log_set_fd(fd);
    mr_log_set_level(MR_LOG_INFO);
    MR_INFO("engine", "opened table '%s' (%d rows)", "t", 3);
    MR_DEBUG("engine", "not shown at info");
    mr_log_set_fd(-1);
    char buf[512] = {0};
    cr_assert_gt(pread(fd, buf, sizeof(buf) - 1, 0), 0);
    close(fd);
    unlink(path);
    regex_t re;
    cr_assert_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z INFO  engine: "
                              "opened table 't' \\(3 rows\\)\n$", REG_EXTENDED), 0);
    cr_assert_eq(regexec(&re, buf, 0, NULL, 0), 0, "got: %s", buf);
    regfree(&re);
}

Test(log, level_from_env)
{
    mr_error_t e = {0};
    setenv("MURR_LOG", "debug", 1);
    cr_assert_eq(mr_log_init_from_env(&e), 0);
    cr_assert_eq(mr_log_get_level(), MR_LOG_DEBUG);
    setenv("MURR_LOG", "loud", 1);
    cr_assert_eq(mr_log_init_from_env(&e), MURR_EINVAL);
    cr_assert(strstr(e.message, "loud"));
    unsetenv("MURR_LOG");
    mr_log_set_level(MR_LOG_INFO);
}

Test(fs, write_atomic_replaces_content)
{
    char dir[] = "/tmp/murr-fs-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/manifest.json", dir);
    mr_error_t e = {0};
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    cr_assert_eq(mr_fs_mkdir_p(sub, &e), 0, "%s", e.message);
    cr_assert_eq(mr_fs_write_atomic(path, "one", 3, &e), 0, "%s", e.message);
    cr_assert_eq(mr_fs_write_atomic(path, "second", 6, &e), 0, "%s", e.message);
    uint8_t *data;
    size_t len;
    cr_assert_eq(mr_fs_read_all(path, &data, &len, &e), 0);
    cr_assert_eq(len, 6);
    cr_assert(memcmp(data, "second", 6) == 0);
    mr_free(data);
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cr_assert(!mr_fs_exists(tmp));
    cr_assert_eq(mr_fs_read_all("/nonexistent/x", &data, &len, &e), MURR_ENOTFOUND);
    cr_assert(strstr(e.message, "/nonexistent/x"));
    cr_assert_eq(mr_fs_remove_tree(dir, &e), 0);
    cr_assert(!mr_fs_exists(dir));
}

Test(hash, crc32c_known_vectors)
{
    /* RFC 3720 test vectors */
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, 32);
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    cr_assert_eq(mr_crc32c(0, zeros, 32), 0x8A9136AAu);
    cr_assert_eq(mr_crc32c(0, ones, 32), 0x62A8AB43u);
    cr_assert_eq(mr_crc32c(0, inc, 32), 0x46DD794Eu);
    cr_assert_eq(mr_crc32c(0, "123456789", 9), 0xE3069283u);
    /* incremental == one shot */
    cr_assert_eq(mr_crc32c(mr_crc32c(0, inc, 13), inc + 13, 19), 0x46DD794Eu);
    cr_assert_neq(mr_hash64("a", 1), mr_hash64("b", 1));
}

Test(utf8, validation)
{
    size_t off;
    cr_assert(mr_utf8_valid((const uint8_t *)"plain ascii text longer than eight", 34, NULL));
    cr_assert(mr_utf8_valid((const uint8_t *)"\xce\xb4\xe2\x82\xac\xf0\x9f\x98\x80", 9, NULL));
    cr_assert(!mr_utf8_valid((const uint8_t *)"ab\xc0\xaf", 4, &off));
    cr_assert_eq(off, 2);
    cr_assert(!mr_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3, &off)); /* surrogate */
    cr_assert(!mr_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4, &off)); /* > U+10FFFF */
    cr_assert(!mr_utf8_valid((const uint8_t *)"\xe2\x82", 2, &off)); /* truncated */
    cr_assert(!mr_utf8_valid((const uint8_t *)"12345678\xff", 9, &off));
    cr_assert_eq(off, 8);
}

/* binary16 bit patterns from the IEEE 754 definition (the format's own examples). */
Test(half, conversions)
{
    cr_assert_eq(mr_float_to_half(1.0f), 0x3c00);
    cr_assert_eq(mr_float_to_half(-2.0f), 0xc000);
    cr_assert_eq(mr_float_to_half(65504.0f), 0x7bff);         /* largest finite */
    cr_assert_eq(mr_float_to_half(65519.0f), 0x7bff);         /* rounds down to it */
    cr_assert_eq(mr_float_to_half(65520.0f), 0x7c00);         /* rounds to infinity */
    cr_assert_eq(mr_float_to_half(0x1p-24f), 0x0001);         /* smallest subnormal */
    cr_assert_eq(mr_float_to_half(0x1p-25f), 0x0000);         /* half of it: ties to even, zero */
    cr_assert_eq(mr_float_to_half(0x1.8p-25f), 0x0001);       /* above half: up */
    cr_assert_eq(mr_float_to_half(0x1p-14f), 0x0400);         /* smallest normal */
    cr_assert_eq(mr_float_to_half(1.0f / 3.0f), 0x3555);
    cr_assert_eq(mr_float_to_half(0.1f), 0x2e66);
    cr_assert_eq(mr_float_to_half(1.0f + 0x1p-11f), 0x3c00);  /* tie: to even */
    cr_assert_eq(mr_float_to_half(1.0f + 0x3p-11f), 0x3c02);  /* tie: to even (up) */
    cr_assert_eq(mr_float_to_half(-0.0f), 0x8000);
    cr_assert_eq(mr_half_to_float(0x3555), 0x1.554p-2f);
    cr_assert_eq(mr_half_to_float(0x0001), 0x1p-24f);
    cr_assert_eq(mr_half_to_float(0x03ff), 0x1.ff8p-15f);     /* largest subnormal */
    cr_assert_eq(mr_half_to_float(0x7bff), 65504.0f);
    cr_assert(mr_half_to_float(0x7e00) != mr_half_to_float(0x7e00)); /* NaN */
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite non-negative value round-trips */
        cr_assert_eq(mr_float_to_half(mr_half_to_float((uint16_t)h)), h, "0x%04x", h);
}
