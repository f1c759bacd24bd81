/* libFuzzer driver for the HTTP request layer: the input is the byte stream of one client
 * connection (possibly several pipelined requests), fed through the server's own connection
 * code (loop.c in detached mode: libhttp-parser callbacks, header capture, Expect, limits
 * and early 413/431/505 answers, pipelining, routing, percent-decoding, name rules, the real
 * handlers over a real engine in a temporary directory with tables "t" and "ui"). The first input byte
 * chooses the size of the pieces the stream arrives in (1..255 bytes, 0 = all at once), so
 * callbacks that see a header or URL split across reads are exercised. Invariants checked:
 * no crash or sanitizer report, and every response the server wrote starts with a status
 * line. Limits are small (payload 64 KiB) so the 413 paths are reachable. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/schema.h"
#include "server/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static murr_db *db;
static mr_config_t cfg;
static mr_server_t *srv;

/* Creates the table if a fuzzed DELETE dropped it (or on the first input). */
static void ensure(const char *name, mr_schema_t *s)
{
    murr_schema *have;
    murr_error e = {0};
    if (murr_describe_table(db, name, &have, &e) == 0)
        murr_schema_free(have);
    else
        murr_create_table(db, name, s, &e);
    mr_schema_free(s);
}

/* "t": a 0.2-form utf8 key; "ui": a 0.3-form compound key (int64 user, utf8 item), for
 * the 0.3 fetch forms (JSON key objects, Arrow IPC requests). */
static void ensure_table(void)
{
    ensure("t", mr_schema_make("id", "id:utf8", "score:float32?", "s:utf8?", NULL));
    ensure("ui", mr_schema_make("user,item", "user:int64", "item:utf8", "score:float32?", NULL));
}

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    char tmpl[] = "/tmp/murr-fuzz-http-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        abort();
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.background_compaction = false;
    murr_error e = {0};
    if (murr_open(tmpl, &o, &db, &e) != 0)
        abort();
    mr_config_defaults(&cfg);
    cfg.http.max_payload_size = 1 << 16;
    srv = mr_server_new_detached(&cfg, db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (db == NULL)
        setup();
    if (size == 0 || size > (1u << 17))
        return 0;
    ensure_table(); /* a fuzzed DELETE may have dropped it */
    mr_buf_t out;
    mr_buf_init(&out);
    mr_server_feed_detached(srv, data + 1, size - 1, data[0], &out);
    if (out.len > 0 && (out.len < 12 || memcmp(out.data, "HTTP/1.1 ", 9) != 0))
        __builtin_trap(); /* the first bytes the server writes are always a status line */
    mr_buf_deinit(&out);
    return 0;
}
