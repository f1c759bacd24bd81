/* libFuzzer driver: fetch-request / Flight-ticket JSON parser, then, against four table keys
 * (one utf8 column, one int32 column, a compound utf8 + uint16 key, a compound int64 + utf8
 * + int8 key), the typed key batch (mr_json_fetch_keys) and the encoded keys of the scanned
 * path (mr_json_fetch_encode). A key batch that is built must be valid; the two paths are
 * checked against each other: keys the encoder produces must be exactly what the key batch
 * encodes to (core/key.h), an encoder refusal must be a refusal of the key batch too, and a
 * request it declines is left to the key batch. Decoded under the server's default decode
 * budget. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/budget.h"
#include "core/key.h"
#include "format/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mr_schema_t *schema(const char *json)
{
    mr_schema_t *s;
    if (murr_schema_from_json(json, strlen(json), &s, NULL) != 0)
        abort(); /* a broken fixture, not a finding */
    return s;
}

/* The keys of batch b for schema s as the engine encodes them (murr_read_keys' path). */
static int batch_keys(const mr_schema_t *s, const mr_batch_t *b, mr_batch_t *scratch, const char **keys, size_t *lens,
                      mr_error_t *e)
{
    mr_key_codec_t kc;
    mr_key_codec_init(&kc, s);
    mr_column_t *cols = calloc((size_t)s->num_columns, sizeof(mr_column_t));
    int rc = mr_key_columns_prepare(&kc, s, b, true, "fetch keys", scratch, cols, e);
    rc = rc ? rc : mr_key_encode_all(&kc, cols, b->num_rows, scratch, keys, lens, e);
    free(cols);
    mr_key_codec_deinit(&kc);
    return rc;
}

/* mr_json_fetch_encode against mr_json_fetch_keys for one schema. */
static void check_paths(mr_fetch_req_t *r, const mr_schema_t *s, mr_arena_t *a)
{
    mr_error_t e = {0}, e2 = {0};
    const char **keys = NULL;
    size_t *lens = NULL;
    int enc = mr_json_fetch_encode(r, s, a, &keys, &lens, &e);
    mr_batch_t *b = NULL;
    int rc = mr_json_fetch_keys(r, s, &b, &e2);
    if (rc == 0 && (mr_batch_validate(b, &e2) != 0 || (!r->sparse && b->num_rows != (int64_t)r->nkeys)))
        abort();
    if (enc == MURR_ETOOBIG || enc == MURR_ENOMEM || enc == MURR_EAGAIN) {
        mr_batch_free(b);
        return;
    }
    if (rc != 0) /* the encoder took (or refused) what the key batch refuses */
        abort();
    mr_batch_t *scratch = mr_batch_new(0, 0);
    size_t n = (size_t)b->num_rows;
    const char **bk = malloc((n + 1) * sizeof(char *));
    size_t *bl = malloc((n + 1) * sizeof(size_t));
    int brc = batch_keys(s, b, scratch, bk, bl, &e2);
    if (enc != 0) {
        if (brc != enc || strcmp(e.message, e2.message) != 0) /* e.g. a key over MURR_KEY_MAX, same words */
            abort();
    } else {
        if (brc != 0 || n != r->nkeys)
            abort();
        for (size_t i = 0; i < n; i++)
            if (lens[i] != bl[i] || memcmp(keys[i], bk[i], bl[i]) != 0)
                abort();
    }
    free(bk);
    free(bl);
    mr_batch_free(scratch);
    mr_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mr_schema_t *schemas[4];
    if (schemas[0] == NULL) {
        schemas[0] = schema("{\"key\":\"k\",\"columns\":{\"k\":{\"dtype\":\"utf8\"},\"v\":{\"dtype\":\"float32\"}}}");
        schemas[1] = schema("{\"columns\":{\"v\":{\"dtype\":\"float64\"},"
                            "\"id\":{\"dtype\":\"int32\",\"key\":true,\"nullable\":false}}}");
        schemas[2] = schema("{\"columns\":{\"u\":{\"dtype\":\"utf8\",\"key\":true,\"nullable\":false},"
                            "\"n\":{\"dtype\":\"uint16\",\"key\":true,\"nullable\":false},\"v\":{\"dtype\":\"bool\"}}}");
        schemas[3] = schema("{\"columns\":{\"user\":{\"dtype\":\"int64\",\"key\":true,\"nullable\":false},"
                            "\"item\":{\"dtype\":\"utf8\",\"key\":true,\"nullable\":false},"
                            "\"k\":{\"dtype\":\"int8\",\"key\":true,\"nullable\":false}}}");
    }
    mr_arena_t a;
    mr_arena_init(&a, 1024);
    mr_fetch_req_t r;
    mr_error_t e = {0};
    mr_budget_t budget; /* the server's default limit (1 GiB): a memory bomb is a finding */
    mr_budget_init(&budget, 1ull << 30, "server.http.max_payload_size");
    if (mr_json_parse_fetch(&a, (const char *)data, size, size > 0 && (data[0] & 1), &budget, &r, &e) == 0)
        for (int i = 0; i < 4; i++)
            check_paths(&r, schemas[i], &a);
    mr_arena_deinit(&a);
    return 0;
}
