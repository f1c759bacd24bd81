/* pq_dump - decodes a Parquet file with murr's reader and prints it as JSON lines, one per
 * row group: {"rows": N, "columns": {"<name>": {"dtype": "...", "values": [...]}}}, with
 * floats as hex bit patterns ("0x3f800000") so comparisons are exact, nulls as null.
 * On error prints "<STATUS>: <message>" to stderr and exits 1. Usage: pq_dump FILE
 * pq_dump --status FILE...: decodes every file (all row groups, output discarded) in this one
 * process and prints one line per file, "<FILE>\tok" or "<FILE>\terror\t<STATUS>: <message>";
 * exits 0 (the caller judges each line). Used by tests that decode thousands of mutated
 * files, where one process per file under ASan costs minutes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/budget.h"
#include "core/fs.h"
#include "format/json.h"
#include "format/parquet.h"

/* Decodes every row group of path; 0, or the status with its message in *e. */
static int decode_all(const char *path, mr_error_t *e)
{
    uint8_t *data;
    size_t len;
    int rc = mr_fs_read_all(path, &data, &len, e);
    if (rc != 0)
        return rc;
    mr_pq_file_t *f = NULL;
    mr_budget_t budget; /* a test tool reading a file it was given: the loader's rule */
    mr_budget_init_file(&budget, len);
    rc = mr_pq_open(data, len, &budget, &f, e);
    if (rc == 0) {
        for (int g = 0; rc == 0 && g < mr_pq_num_row_groups(f); g++) {
            mr_batch_t *b;
            if ((rc = mr_pq_read_row_group(f, g, &b, e)) == 0)
                mr_batch_free(b);
        }
        mr_pq_close(f);
    }
    mr_free(data);
    return rc;
}

static int status_mode(int n, char **paths)
{
    for (int i = 0; i < n; i++) {
        mr_error_t e = {0};
        if (decode_all(paths[i], &e) == 0)
            printf("%s\tok\n", paths[i]);
        else
            printf("%s\terror\t%s: %s\n", paths[i], murr_status_name(e.code), e.message);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--status") == 0)
        return status_mode(argc - 2, argv + 2);
    if (argc != 2)
        return 2;
    uint8_t *data;
    size_t len;
    mr_error_t e = {0};
    if (mr_fs_read_all(argv[1], &data, &len, &e) != 0) {
        fprintf(stderr, "%s: %s\n", murr_status_name(e.code), e.message);
        return 1;
    }
    mr_pq_file_t *f;
    mr_budget_t budget;
    mr_budget_init_file(&budget, len);
    if (mr_pq_open(data, len, &budget, &f, &e) != 0) {
        fprintf(stderr, "%s: %s\n", murr_status_name(e.code), e.message);
        return 1;
    }
    mr_buf_t out;
    mr_buf_init(&out);
    for (int g = 0; g < mr_pq_num_row_groups(f); g++) {
        mr_batch_t *b;
        if (mr_pq_read_row_group(f, g, &b, &e) != 0) {
            fprintf(stderr, "%s: %s\n", murr_status_name(e.code), e.message);
            return 1;
        }
        out.len = 0;
        mr_buf_printf(&out, "{\"rows\":%lld,\"columns\":{", (long long)b->num_rows);
        for (int32_t c = 0; c < b->num_columns; c++) {
            const mr_column_t *col = &b->columns[c];
            if (c)
                mr_buf_append_byte(&out, ',');
            mr_json_write_string(&out, col->name, col->name_len);
            mr_buf_printf(&out, ":{\"dtype\":\"%s\",\"values\":[", murr_dtype_name(col->dtype));
            for (int64_t r = 0; r < b->num_rows; r++) {
                if (r)
                    mr_buf_append_byte(&out, ',');
                if (!murr_column_is_valid(col, r)) {
                    mr_buf_append_cstr(&out, "null");
                    continue;
                }
                const void *v = col->values;
                switch (col->dtype) {
                case MURR_UTF8: {
                    size_t l;
                    const uint8_t *s = mr_column_str(col, r, &l);
                    mr_json_write_string(&out, (const char *)s, l);
                    break;
                }
                case MURR_BOOL: mr_buf_append_cstr(&out, mr_bit_get(v, r) ? "true" : "false"); break;
                case MURR_INT8: mr_buf_printf(&out, "%d", ((const int8_t *)v)[r]); break;
                case MURR_INT16: mr_buf_printf(&out, "%d", ((const int16_t *)v)[r]); break;
                case MURR_INT32: mr_buf_printf(&out, "%d", ((const int32_t *)v)[r]); break;
                case MURR_INT64: mr_buf_printf(&out, "%" PRId64, ((const int64_t *)v)[r]); break;
                case MURR_UINT8: mr_buf_printf(&out, "%u", ((const uint8_t *)v)[r]); break;
                case MURR_UINT16: mr_buf_printf(&out, "%u", ((const uint16_t *)v)[r]); break;
                case MURR_UINT32: mr_buf_printf(&out, "%u", ((const uint32_t *)v)[r]); break;
                case MURR_UINT64: mr_buf_printf(&out, "%" PRIu64, ((const uint64_t *)v)[r]); break;
                case MURR_FLOAT32: mr_buf_printf(&out, "\"0x%08x\"", ((const uint32_t *)v)[r]); break;
                case MURR_FLOAT64: mr_buf_printf(&out, "\"0x%016" PRIx64 "\"", ((const uint64_t *)v)[r]); break;
                case MURR_LIST_FLOAT32: case MURR_LIST_FLOAT16: case MURR_LIST_INT8: {
                    /* elements as hex bit patterns of their width */
                    size_t w = mr_list_elem_width(col->dtype);
                    const uint8_t *el = mr_list_elems(col, r);
                    mr_buf_append_byte(&out, '[');
                    for (int64_t i = 0; i < mr_list_len(col, r); i++) {
                        uint32_t bits = 0;
                        memcpy(&bits, el + (size_t)i * w, w);
                        mr_buf_printf(&out, "%s\"0x%0*x\"", i ? "," : "", (int)(2 * w), bits);
                    }
                    mr_buf_append_byte(&out, ']');
                    break;
                }
                }
            }
            mr_buf_append_cstr(&out, "]}");
        }
        mr_buf_append_cstr(&out, "}}\n");
        fwrite(out.data, 1, out.len, stdout);
        mr_batch_free(b);
    }
    mr_buf_deinit(&out);
    mr_pq_close(f);
    mr_free(data);
    return 0;
}
