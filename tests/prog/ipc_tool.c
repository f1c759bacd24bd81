/* ipc_tool - drives the Arrow IPC reader and writer from tests (pytest + pyarrow).
 *   ipc_tool recode [split]  < in.arrows > out.arrows
 *       decodes every record batch of the stream on stdin (fed in chunks of `split` bytes,
 *       default: all at once) and writes them back as one stream (schema + batches + EOS);
 *       exit 0 on success, 1 with the error message on stderr otherwise.
 *   ipc_tool slice OFF LEN < in.arrows > out.arrows
 *       re-encodes rows [OFF, OFF+LEN) of the first batch (the writer's slicing path). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "format/arrow_ipc.h"

static uint8_t *slurp(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap)
            b = realloc(b, cap *= 2);
        ssize_t r = read(0, b + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return b;
}

static int emit(mr_batch_t **batches, size_t n, int64_t off, int64_t len)
{
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    mr_error_t e = {0};
    mr_ipc_msg_t *msgs = calloc(n + 1, sizeof(*msgs));
    mr_batch_t *first = batches[0];
    mr_ipc_field_t *f = mr_ipc_fields_of_batch(&a, first);
    mr_ipc_kv_t meta = {"origin", "murr ipc_tool"};
    if (mr_ipc_encode_schema(&a, f, (size_t)first->num_columns, &meta, 1, &msgs[0], &e) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        int64_t o = off >= 0 ? off : 0, l = off >= 0 ? len : batches[i]->num_rows;
        if (mr_ipc_encode_batch(&a, batches[i], o, l, &msgs[i + 1], &e) != 0)
            goto fail;
    }
    struct iovec *iov;
    int cnt;
    size_t total;
    if (mr_ipc_frame_stream(&a, msgs, n + 1, true, &iov, &cnt, &total, &e) != 0)
        goto fail;
    for (int i = 0; i < cnt; i++)
        if (fwrite(iov[i].iov_base, 1, iov[i].iov_len, stdout) != iov[i].iov_len)
            return 1;
    free(msgs);
    mr_arena_deinit(&a);
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", murr_status_name(e.code), e.message);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    size_t len;
    uint8_t *in = slurp(&len);
    size_t split = argc > 2 && strcmp(argv[1], "recode") == 0 ? strtoul(argv[2], NULL, 10) : 0;
    if (split == 0)
        split = len ? len : 1;
    mr_ipc_reader_t *r = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
    mr_error_t e = {0};
    mr_batch_t *batches[4096];
    size_t n = 0, fed = 0;
    int rc = 0;
    for (;;) {
        mr_batch_t *b = NULL;
        rc = mr_ipc_reader_next(r, &b, &e);
        if (rc == MURR_EAGAIN) {
            if (fed == len) {
                rc = mr_ipc_reader_finish(r, &e);
                break;
            }
            size_t k = len - fed < split ? len - fed : split;
            mr_ipc_reader_feed(r, in + fed, k, &e);
            fed += k;
            continue;
        }
        if (rc != 0 || b == NULL)
            break;
        if (n < 4096)
            batches[n++] = b;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", murr_status_name(e.code), e.message);
        return 1;
    }
    if (n == 0) {
        fprintf(stderr, "no record batches\n");
        return 3;
    }
    int out = strcmp(argv[1], "slice") == 0 && argc > 3 ? emit(batches, 1, atoll(argv[2]), atoll(argv[3]))
                                                       : emit(batches, n, -1, -1);
    for (size_t i = 0; i < n; i++)
        mr_batch_free(batches[i]);
    mr_ipc_reader_free(r);
    free(in);
    return out;
}
