/*
 * flight_rpc.c - the RPCs of arrow.flight.protocol.FlightService and the mapping of murr
 * status codes to gRPC codes for them (the only place that does it for Flight). Behaviour:
 * ../shared/spec/murr-0.2.1-reference.md section 4, plus DoPut (CONTRACT.md, "Add").
 *
 *  - DoGet: JSON ticket {"table","keys","columns"} with HTTP fetch semantics (server/fetch.c:
 *    0.2 array of keys -> dense answer, 0.3 object of key columns -> sparse), decoded and
 *    read on a worker when the ticket is over MR_FETCH_INLINE_MAX bytes; a schema
 *    message, then record batches of about MR_FLIGHT_TARGET_MESSAGE bytes each, encoded
 *    lazily as the previous one leaves (slices start at multiples of 8 rows so bitmaps are
 *    sent from the batch itself, not copied).
 *  - GetFlightInfo / GetSchema: full table schema; metadata key=<key column> for tables
 *    created in the 0.2 schema form, none for the 0.3 form (as murr 0.3.1); a FlightInfo
 *    also carries the table's schema JSON in app_metadata (key columns, strict).
 *  - ListFlights: one FlightInfo per table.
 *  - DoPut: descriptor in the first message (PATH [table]: an upsert; CMD with the JSON
 *    {"table": t, "mode": "upsert"|"replace"}: either, a replace making the rows the whole
 *    table as a new version); schema and batches decoded in place as they arrive; at the
 *    end of the stream one atomic write (murr_write_begin_opt/append/commit on the worker;
 *    abort on any error or cancellation), then one PutResult.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/budget.h"
#include "core/dtype.h"
#include "core/log.h"
#include "format/json.h"
#include "server/fetch.h"
#include "server/flight/flight.pb-c.h"
#include "server/auth.h"
#include "server/flight/flight_codec.h"
#include "server/flight/flight_internal.h"

#define SVC "/arrow.flight.protocol.FlightService/"

typedef Arrow__Flight__Protocol__FlightDescriptor fdesc_t;
typedef Arrow__Flight__Protocol__FlightInfo finfo_t;

static const struct {
    const char *name;
    mr_flight_rpc_t rpc;
} k_methods[] = {
    {"Handshake", MR_FLIGHT_RPC_HANDSHAKE},       {"ListFlights", MR_FLIGHT_RPC_LIST_FLIGHTS},
    {"GetFlightInfo", MR_FLIGHT_RPC_GET_FLIGHT_INFO}, {"PollFlightInfo", MR_FLIGHT_RPC_POLL_FLIGHT_INFO},
    {"GetSchema", MR_FLIGHT_RPC_GET_SCHEMA},       {"DoGet", MR_FLIGHT_RPC_DO_GET},
    {"DoPut", MR_FLIGHT_RPC_DO_PUT},               {"DoExchange", MR_FLIGHT_RPC_DO_EXCHANGE},
    {"DoAction", MR_FLIGHT_RPC_DO_ACTION},         {"ListActions", MR_FLIGHT_RPC_LIST_ACTIONS},
};

mr_flight_rpc_t mr_flight_rpc_of_path(const char *path, size_t len)
{
    size_t pl = sizeof(SVC) - 1;
    if (len <= pl || memcmp(path, SVC, pl) != 0)
        return MR_FLIGHT_RPC_UNKNOWN;
    for (size_t i = 0; i < MR_ARRAY_LEN(k_methods); i++)
        if (len - pl == strlen(k_methods[i].name) && memcmp(path + pl, k_methods[i].name, len - pl) == 0)
            return k_methods[i].rpc;
    return MR_FLIGHT_RPC_UNKNOWN;
}

static const char *rpc_name(mr_flight_rpc_t r)
{
    for (size_t i = 0; i < MR_ARRAY_LEN(k_methods); i++)
        if (k_methods[i].rpc == r)
            return k_methods[i].name;
    return "unknown";
}

static void fail_from(mr_flight_stream_t *st, int murr_rc, const mr_error_t *e)
{
    mr_flight_fail(st, mr_grpc_code_of(murr_rc), "%s", e->message);
}

void mr_flight_rpc_begin(mr_flight_stream_t *st)
{
    const char *msg = NULL;
    /* DoPut: a known token now, its scope (write, or admin for a replace) at the descriptor */
    unsigned need = st->rpc == MR_FLIGHT_RPC_DO_PUT ? MR_AUTH_ANY : mr_flight_scope_of_rpc(st->rpc, false);
    if (!mr_flight_authorize(st, need, rpc_name(st->rpc)))
        return;
    switch (st->rpc) {
    case MR_FLIGHT_RPC_POLL_FLIGHT_INFO: msg = "poll_flight_info not supported"; break;
    case MR_FLIGHT_RPC_DO_EXCHANGE: msg = "do_exchange not supported"; break;
    case MR_FLIGHT_RPC_DO_ACTION: msg = "do_action not supported"; break;
    case MR_FLIGHT_RPC_LIST_ACTIONS: msg = "list_actions not supported"; break;
    default: break;
    }
    if (msg)
        mr_flight_fail(st, MR_GRPC_UNIMPLEMENTED, "%s", msg);
    if (st->rpc == MR_FLIGHT_RPC_HANDSHAKE)
        mr_flight_handshake_begin(st);
    if (st->rpc == MR_FLIGHT_RPC_DO_PUT)
        st->db = mr_flight_stream_db(st);
}

/* ---- helpers ---- */

static int out_packed(mr_flight_stream_t *st, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > UINT32_MAX)
        return MURR_ETOOBIG;
    uint8_t *b = mr_arena_alloc(&st->arena, MR_GRPC_PREFIX_LEN + n + 1);
    if (b == NULL)
        return MURR_ENOMEM;
    mr_grpc_prefix_write(b, (uint32_t)n);
    protobuf_c_message_pack(m, b + MR_GRPC_PREFIX_LEN);
    return mr_flight_out_add(st, b, MR_GRPC_PREFIX_LEN + n);
}

/* One FlightData message around an encoded IPC message: borrowed pieces only. */
static int out_ipc(mr_flight_stream_t *st, const mr_ipc_msg_t *m, mr_error_t *err)
{
    uint8_t *hdr = mr_arena_alloc(&st->arena, MR_FLIGHT_HEAD_MAX + MR_FLIGHT_MID_MAX);
    if (hdr == NULL)
        return mr_err_set(err, MURR_ENOMEM, "out of memory");
    size_t hl, ml;
    MR_RETURN_NOT_OK(mr_flight_data_frame(m->meta_len, (uint64_t)m->body_len, hdr, &hl, hdr + MR_FLIGHT_HEAD_MAX, &ml, err));
    int rc = mr_flight_out_add(st, hdr, hl);
    rc = rc ? rc : mr_flight_out_add(st, m->meta, m->meta_len);
    rc = rc ? rc : mr_flight_out_add(st, hdr + MR_FLIGHT_HEAD_MAX, ml);
    for (int i = 0; rc == 0 && i < m->body_iovcnt; i++)
        rc = mr_flight_out_add(st, m->body[i].iov_base, m->body[i].iov_len);
    return rc ? mr_err_set(err, rc, "out of memory queueing a FlightData message") : 0;
}

/* The schema s as an encapsulated IPC message (continuation, length, flatbuffer), full
 * schema in declaration order with key metadata. Arena memory. */
static int schema_bytes(mr_flight_stream_t *st, const murr_schema *s, ProtobufCBinaryData *out, mr_error_t *e)
{
    int rc = 0;
    mr_ipc_field_t *f = mr_arena_calloc(&st->arena, sizeof(*f) * (size_t)(s->num_columns ? s->num_columns : 1));
    if (f == NULL)
        return mr_err_set(e, MURR_ENOMEM, "out of memory");
    for (int32_t i = 0; i < s->num_columns; i++) {
        f[i].name = mr_arena_strndup(&st->arena, s->columns[i].name, s->columns[i].name_len);
        f[i].name_len = s->columns[i].name_len;
        f[i].dtype = s->columns[i].dtype;
        f[i].nullable = s->columns[i].nullable;
        f[i].dim = s->columns[i].dim;
    }
    /* a 0.2 table names its key in the metadata (0.2 clients read it); a 0.3 table has none,
     * as murr 0.3.1: its clients read key columns from the HTTP schema */
    mr_ipc_kv_t kv = {"key", mr_arena_strndup(&st->arena, s->columns[s->key_index].name,
                                              s->columns[s->key_index].name_len)};
    size_t nkv = s->form == MURR_SCHEMA_FORM3 ? 0 : 1;
    mr_ipc_msg_t m;
    rc = mr_ipc_encode_schema(&st->arena, f, (size_t)s->num_columns, nkv ? &kv : NULL, nkv, &m, e);
    struct iovec *iov;
    int cnt;
    size_t total;
    if (rc == 0)
        rc = mr_ipc_frame_stream(&st->arena, &m, 1, false, &iov, &cnt, &total, e);
    if (rc == 0) {
        uint8_t *b = mr_arena_alloc(&st->arena, total + 1);
        if (b == NULL)
            return mr_err_set(e, MURR_ENOMEM, "out of memory");
        size_t pos = 0;
        for (int i = 0; i < cnt; i++) {
            memcpy(b + pos, iov[i].iov_base, iov[i].iov_len);
            pos += iov[i].iov_len;
        }
        out->data = b;
        out->len = pos;
    }
    return rc;
}

/* A FlightInfo of table `name`: its Arrow schema, and in app_metadata the schema JSON of
 * GET /api/v1/table/{name}/schema (the form the table was created in): what the Arrow
 * schema cannot say (which columns form a 0.3 table's key, `strict`), for clients that read
 * it; murr 0.3.1 leaves app_metadata empty and clients that do not know the field skip it. */
static int out_flight_info(mr_flight_stream_t *st, const char *name, fdesc_t *desc, mr_error_t *e)
{
    murr_schema *s;
    MR_RETURN_NOT_OK(murr_describe_table(mr_flight_stream_db(st), name, &s, e));
    finfo_t info = ARROW__FLIGHT__PROTOCOL__FLIGHT_INFO__INIT;
    int rc = schema_bytes(st, s, &info.schema, e);
    char *json = rc == 0 ? murr_schema_to_json(s) : NULL;
    murr_schema_free(s);
    if (rc != 0)
        return rc;
    if (json == NULL)
        return mr_err_set(e, MURR_ENOMEM, "out of memory writing the schema JSON of %s", name);
    info.app_metadata.len = strlen(json);
    info.app_metadata.data = (uint8_t *)mr_arena_strndup(&st->arena, json, info.app_metadata.len);
    murr_free(json);
    if (info.app_metadata.data == NULL)
        return mr_err_set(e, MURR_ENOMEM, "out of memory");
    info.flight_descriptor = desc;
    info.total_records = -1;
    info.total_bytes = -1;
    rc = out_packed(st, &info.base);
    return rc ? mr_err_set(e, rc, "cannot encode the FlightInfo of %s", name) : 0;
}

/* Byte length of the first `path` (field 3) in raw FlightDescriptor bytes, or SIZE_MAX.
 * protobuf-c hands strings out NUL-terminated without a length, so this is how an embedded
 * NUL ("t\0x" read as "t") is caught. The bytes already unpacked, so they are well formed. */
static size_t first_path_len(const uint8_t *p, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        uint64_t key, v;
        if (mr_flight_varint(p, n, &pos, &key, NULL) != 0)
            return SIZE_MAX;
        unsigned wt = (unsigned)(key & 7);
        if (wt == 0) {
            if (mr_flight_varint(p, n, &pos, &v, NULL) != 0)
                return SIZE_MAX;
        } else if (wt == 1 || wt == 5) {
            size_t w = wt == 1 ? 8 : 4;
            if (n - pos < w)
                return SIZE_MAX;
            pos += w;
        } else if (wt == 2) {
            if (mr_flight_varint(p, n, &pos, &v, NULL) != 0 || v > n - pos)
                return SIZE_MAX;
            if ((key >> 3) == 3)
                return (size_t)v;
            pos += (size_t)v;
        } else {
            return SIZE_MAX;
        }
    }
    return SIZE_MAX;
}

/* Copies the n bytes of name (no NUL among them) into buf if they are a valid table name;
 * INVALID_ARGUMENT on failure. */
static bool table_name_copy(mr_flight_stream_t *st, const char *name, size_t n, char *buf, size_t cap)
{
    mr_error_t e = {0};
    if (n >= cap || murr_table_name_check(name, n, &e) != 0) {
        if (n >= cap)
            murr_table_name_check("", 0, &e);
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "%s", e.message);
        return false;
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    return true;
}

/* Copies path[0] of a descriptor (unpacked d, raw bytes raw/raw_len) into buf as a table
 * name; INVALID_ARGUMENT on failure. */
static bool table_of_descriptor(mr_flight_stream_t *st, const fdesc_t *d, const uint8_t *raw, size_t raw_len,
                                char *buf, size_t cap)
{
    if (d->n_path == 0 || d->path[0] == NULL) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "path must contain table name");
        return false;
    }
    size_t n = strlen(d->path[0]);
    if (first_path_len(raw, raw_len) != n) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "path[0] contains a NUL byte at offset %zu", n);
        return false;
    }
    return table_name_copy(st, d->path[0], n, buf, cap);
}

/* ---- GetFlightInfo / GetSchema / ListFlights ---- */

static void rpc_describe(mr_flight_stream_t *st, const uint8_t *msg, size_t len)
{
    fdesc_t *d = arrow__flight__protocol__flight_descriptor__unpack(NULL, len, msg);
    if (d == NULL) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "%s: cannot decode the FlightDescriptor (%zu bytes of protobuf)",
                       rpc_name(st->rpc), len);
        return;
    }
    char name[MR_TABLE_NAME_MAX + 1];
    mr_error_t e = {0};
    int rc = 0;
    if (!table_of_descriptor(st, d, msg, len, name, sizeof(name)))
        goto done;
    if (st->rpc == MR_FLIGHT_RPC_GET_FLIGHT_INFO) {
        rc = out_flight_info(st, name, d, &e);
    } else {
        Arrow__Flight__Protocol__SchemaResult sr = ARROW__FLIGHT__PROTOCOL__SCHEMA_RESULT__INIT;
        murr_schema *s;
        rc = murr_describe_table(mr_flight_stream_db(st), name, &s, &e);
        if (rc == 0) {
            rc = schema_bytes(st, s, &sr.schema, &e);
            murr_schema_free(s);
        }
        if (rc == 0 && (rc = out_packed(st, &sr.base)) != 0)
            mr_err_set(&e, rc, "cannot encode the SchemaResult of %s", name);
    }
    if (rc != 0)
        fail_from(st, rc, &e);
    else if (mr_flight_respond(st) != 0)
        mr_flight_fail(st, MR_GRPC_INTERNAL, "cannot submit the response");
done:
    arrow__flight__protocol__flight_descriptor__free_unpacked(d, NULL);
}

static void rpc_list_flights(mr_flight_stream_t *st, const uint8_t *msg, size_t len)
{
    Arrow__Flight__Protocol__Criteria *cr = arrow__flight__protocol__criteria__unpack(NULL, len, msg);
    if (cr == NULL) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "ListFlights: cannot decode the Criteria (%zu bytes of protobuf)",
                       len);
        return;
    }
    arrow__flight__protocol__criteria__free_unpacked(cr, NULL); /* criteria are ignored */
    char **names;
    size_t n;
    mr_error_t e = {0};
    int rc = murr_list_tables(mr_flight_stream_db(st), &names, &n, &e);
    if (rc != 0) {
        fail_from(st, rc, &e);
        return;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        fdesc_t d = ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__INIT;
        d.type = ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__DESCRIPTOR_TYPE__PATH;
        d.n_path = 1;
        d.path = &names[i];
        rc = out_flight_info(st, names[i], &d, &e);
        if (rc == MURR_ENOTFOUND) /* dropped meanwhile */
            rc = 0;
    }
    murr_names_free(names, n);
    if (rc != 0)
        fail_from(st, rc, &e);
    else if (mr_flight_respond(st) != 0)
        mr_flight_fail(st, MR_GRPC_INTERNAL, "cannot submit the response");
}

/* ---- DoGet ---- */

/* End row of the slice that starts at r (a multiple of 8): as many rows as fit in about
 * MR_FLIGHT_TARGET_MESSAGE bytes of body, a multiple of 8 unless it is the last slice. */
static int64_t slice_end(const mr_batch_t *b, int64_t r)
{
    int64_t n = b->num_rows;
    if (r >= n)
        return n;
    double fixed = 0;
    for (int32_t i = 0; i < b->num_columns; i++) {
        const mr_column_t *c = &b->columns[i];
        bool list = mr_dtype_is_list(c->dtype);
        fixed += c->dtype == MURR_BOOL                ? 0.125
                 : c->dtype == MURR_UTF8              ? 4.0
                 : list && c->dim > 0                 ? (double)c->dim * (double)mr_list_elem_width(c->dtype)
                 : list                               ? 4.0
                                                      : (double)mr_dtype_width(c->dtype);
        if (c->validity)
            fixed += 0.125;
    }
    int64_t lo = r + 1, hi = n, best = r + 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        double cost = (double)(mid - r) * fixed;
        for (int32_t i = 0; i < b->num_columns; i++)
            if (b->columns[i].dtype == MURR_UTF8 || (mr_dtype_is_list(b->columns[i].dtype) && b->columns[i].dim == 0)) {
                const int32_t *off = b->columns[i].values; /* utf8: bytes; lists: elements */
                size_t unit = b->columns[i].dtype == MURR_UTF8 ? 1 : mr_list_elem_width(b->columns[i].dtype);
                cost += (double)(off[mid] - off[r]) * (double)unit;
            }
        if (cost <= (double)MR_FLIGHT_TARGET_MESSAGE) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (best < n) {
        best = r + ((best - r) / 8) * 8;
        if (best == r)
            best = r + 8 < n ? r + 8 : n;
    }
    return best;
}

static int get_next(mr_flight_stream_t *st, bool *more, mr_error_t *err)
{
    mr_batch_t *b = st->get_batch;
    mr_ipc_msg_t m;
    if (!st->get_schema_sent) {
        st->get_schema_sent = true;
        MR_RETURN_NOT_OK(mr_ipc_encode_schema(&st->arena, st->get_fields, (size_t)b->num_columns, NULL, 0, &m, err));
        *more = true;
        return out_ipc(st, &m, err);
    }
    int64_t r = st->get_row, end = slice_end(b, r);
    MR_RETURN_NOT_OK(mr_ipc_encode_batch(&st->arena, b, r, end - r, &m, err));
    st->get_row = end;
    *more = end < b->num_rows;
    return out_ipc(st, &m, err);
}

/* The ticket's fetch, decoded, checked and read into get_batch / get_fields. Runs on the loop
 * for a small ticket and on a worker for a large one, so it touches only the stream's request
 * fields and arena (db and limits were copied for it). 0, or the gRPC code with e set. */
static int get_prepare(mr_flight_stream_t *st, const uint8_t *msg, size_t len, mr_error_t *e)
{
    Arrow__Flight__Protocol__Ticket *t = arrow__flight__protocol__ticket__unpack(NULL, len, msg);
    if (t == NULL) {
        mr_err_set(e, MURR_EINVAL, "DoGet: cannot decode the Ticket (%zu bytes of protobuf)", len);
        return MR_GRPC_INVALID_ARGUMENT;
    }
    mr_fetch_req_t fr;
    mr_budget_t budget; /* decision 0009: the ticket is an untrusted body like an HTTP fetch's */
    mr_budget_init(&budget, st->get_payload_limit, "server.http.max_payload_size");
    int code = 0;
    int rc = mr_json_parse_fetch(&st->arena, (const char *)t->ticket.data, t->ticket.len, true, &budget, &fr, e);
    char table[MR_TABLE_NAME_MAX + 1];
    if (rc != 0) {
        mr_err_prefix(e, "invalid ticket JSON: ");
        code = rc == MURR_ENOMEM || rc == MURR_ETOOBIG ? MR_GRPC_RESOURCE_EXHAUSTED : MR_GRPC_INVALID_ARGUMENT;
        goto done;
    }
    if (fr.table.len > MR_TABLE_NAME_MAX || murr_table_name_check(fr.table.ptr, fr.table.len, e) != 0 ||
        memchr(fr.table.ptr, 0, fr.table.len)) {
        if (fr.table.len > MR_TABLE_NAME_MAX || e->code == 0)
            murr_table_name_check("", 0, e);
        code = MR_GRPC_INVALID_ARGUMENT;
        goto done;
    }
    memcpy(table, fr.table.ptr, fr.table.len);
    table[fr.table.len] = '\0';
    murr_batch *b;
    if ((rc = mr_fetch_json(st->db, table, &fr, st->get_max_keys, &st->arena, &b, e)) != 0) {
        code = mr_grpc_code_of(rc);
        goto done;
    }
    st->get_batch = b;
    st->get_fields = mr_ipc_fields_of_batch(&st->arena, b);
    if (st->get_fields == NULL) {
        mr_err_set(e, MURR_ENOMEM, "out of memory for the schema of %d columns", b->num_columns);
        code = MR_GRPC_RESOURCE_EXHAUSTED;
    }
done:
    arrow__flight__protocol__ticket__free_unpacked(t, NULL);
    return code;
}

/* Loop side: the answer (schema, then the batch in slices, encoded as the previous leaves)
 * or the failure of get_prepare. */
static void get_answer(mr_flight_stream_t *st, int code, const mr_error_t *e)
{
    if (code != 0) {
        mr_flight_fail(st, code, "%s", e->message);
        return;
    }
    st->next_msg = get_next;
    st->gen_more = true;
    if (mr_flight_respond(st) != 0)
        mr_flight_fail(st, MR_GRPC_INTERNAL, "cannot submit the response");
}

/* A ticket above MR_FETCH_INLINE_MAX bytes (the HTTP fetch body threshold: about 5,000 JSON
 * keys) is decoded and read on a worker: a 2.5M-key DoGet on the loop stalled every other
 * connection of that loop for the whole fetch (docs/decisions/0008-event-core.md). */
static void rpc_do_get(mr_flight_stream_t *st)
{
    const mr_config_t *cfg = mr_flight_stream_cfg(st);
    st->db = mr_flight_stream_db(st);
    st->get_max_keys = cfg->http.max_fetch_keys;
    st->get_payload_limit = cfg->http.max_payload_size;
    if (st->unary_len > MR_FETCH_INLINE_MAX) {
        mr_flight_submit_job(st); /* the ticket (unary_msg) stays with the stream until then */
        return;
    }
    mr_error_t e = {0};
    int code = get_prepare(st, st->unary_msg, st->unary_len, &e);
    get_answer(st, code, &e);
}

/* ---- DoPut ---- */

static bool put_keep(mr_flight_stream_t *st, uint8_t *msg)
{
    if (st->nkeep == st->cap_keep) {
        size_t cap = st->cap_keep ? st->cap_keep * 2 : 8;
        uint8_t **n = mr_realloc(st->keep, cap * sizeof(*n));
        if (n == NULL)
            return false;
        st->keep = n;
        st->cap_keep = cap;
    }
    st->keep[st->nkeep++] = msg;
    return true;
}

#define PUT_CMD_FORM "{\"table\": \"<name>\", \"mode\": \"upsert\" or \"replace\"}"

/* One member of a DoPut CMD object: "table" (a string) or "mode" (optional). */
static bool put_cmd_member(mr_flight_stream_t *st, const char *key, json_t *val, bool *have_table)
{
    if (strcmp(key, "table") == 0) {
        if (!json_is_string(val)) {
            mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut CMD descriptor: \"table\" must be a string");
            return false;
        }
        size_t n = json_string_length(val);
        if (strlen(json_string_value(val)) != n) {
            mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut CMD descriptor: \"table\" contains a NUL at offset %zu",
                           strlen(json_string_value(val)));
            return false;
        }
        *have_table = true;
        return table_name_copy(st, json_string_value(val), n, st->table, sizeof(st->table));
    }
    if (strcmp(key, "mode") == 0) {
        const char *m = json_string_value(val);
        if (m == NULL) {
            mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut CMD descriptor: \"mode\" must be a string");
            return false;
        }
        if (strcmp(m, "upsert") != 0 && strcmp(m, "replace") != 0) {
            mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT,
                           "DoPut CMD descriptor: unknown mode \"%.100s\": expected \"upsert\" (the default) or "
                           "\"replace\"", m);
            return false;
        }
        st->put_mode = strcmp(m, "replace") == 0 ? MURR_WRITE_REPLACE : MURR_WRITE_UPSERT;
        return true;
    }
    mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut CMD descriptor: unknown member \"%.100s\" (expected " PUT_CMD_FORM
                   ")", key);
    return false;
}

/* A CMD descriptor: JSON PUT_CMD_FORM, mode optional (upsert). Sets st->table, st->put_mode. */
static bool put_open_cmd(mr_flight_stream_t *st, const fdesc_t *d)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)d->cmd.data, d->cmd.len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT,
                       "DoPut CMD descriptor (%zu bytes) is not JSON: %s at byte %d; expected " PUT_CMD_FORM, d->cmd.len,
                       je.text, je.position);
        return false;
    }
    bool ok = json_is_object(root), have_table = false;
    if (!ok)
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut CMD descriptor must be a JSON object " PUT_CMD_FORM);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (ok)
            ok = put_cmd_member(st, key, val, &have_table);
    }
    if (ok && !have_table) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut CMD descriptor has no \"table\": expected " PUT_CMD_FORM);
        ok = false;
    }
    json_decref(root);
    return ok;
}

static bool put_open(mr_flight_stream_t *st, const mr_flight_data_t *fd)
{
    if (!fd->has_descriptor) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT,
                       "the first DoPut message must carry a flight_descriptor with path [table]");
        return false;
    }
    fdesc_t *d = arrow__flight__protocol__flight_descriptor__unpack(NULL, fd->descriptor.len, fd->descriptor.ptr);
    if (d == NULL) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut: cannot decode the FlightDescriptor (%zu bytes of protobuf)",
                       fd->descriptor.len);
        return false;
    }
    st->put_mode = MURR_WRITE_UPSERT;
    bool ok = d->type == ARROW__FLIGHT__PROTOCOL__FLIGHT_DESCRIPTOR__DESCRIPTOR_TYPE__CMD
                  ? put_open_cmd(st, d)
                  : table_of_descriptor(st, d, fd->descriptor.ptr, fd->descriptor.len, st->table, sizeof(st->table));
    arrow__flight__protocol__flight_descriptor__free_unpacked(d, NULL);
    if (!ok)
        return false;
    bool replace = st->put_mode == MURR_WRITE_REPLACE;
    if (!mr_flight_authorize(st, mr_flight_scope_of_rpc(st->rpc, replace), replace ? "DoPut with mode replace" : "DoPut"))
        return false;
    murr_schema *s;
    mr_error_t e = {0};
    int rc = murr_describe_table(st->db, st->table, &s, &e);
    if (rc != 0) {
        fail_from(st, rc, &e);
        return false;
    }
    murr_schema_free(s);
    st->ipc = mr_ipc_reader_new(mr_flight_stream_cfg(st)->grpc.max_message_size,
                                mr_flight_stream_cfg(st)->http.max_payload_size, "server.http.max_payload_size");
    /* borrowed mode: record batches point into the message buffers (kept alive by them) */
    static const uint8_t none[1];
    if (st->ipc == NULL || mr_ipc_reader_borrow(st->ipc, none, 0, &e) != 0) {
        mr_flight_fail(st, MR_GRPC_RESOURCE_EXHAUSTED, "out of memory for an Arrow reader");
        return false;
    }
    st->have_table = true;
    return true;
}

static void put_message(mr_flight_stream_t *st, uint8_t *msg, size_t len)
{
    mr_flight_data_t fd;
    mr_error_t e = {0};
    uint64_t limit = mr_flight_stream_cfg(st)->http.max_payload_size;
    if (limit && st->req_bytes > limit) {
        mr_free(msg);
        mr_flight_fail(st, MR_GRPC_RESOURCE_EXHAUSTED,
                       "DoPut of %llu bytes exceeds the limit of %llu bytes (server.http.max_payload_size)",
                       (unsigned long long)st->req_bytes, (unsigned long long)limit);
        return;
    }
    if (mr_flight_data_decode(msg, len, &fd, &e) != 0) {
        mr_free(msg);
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "invalid FlightData in DoPut message %llu: %s",
                       (unsigned long long)st->nmsgs, e.message);
        return;
    }
    if (!st->have_table && !put_open(st, &fd)) {
        mr_free(msg);
        return;
    }
    if (fd.header.len == 0) { /* app_metadata only */
        mr_free(msg);
        return;
    }
    mr_batch_t *b = NULL;
    int rc = mr_ipc_reader_message(st->ipc, fd.header.ptr, fd.header.len, fd.body.ptr, fd.body.len, &b, &e);
    if (rc != 0) {
        mr_free(msg);
        if (strncmp(e.message, "Arrow", 5) != 0)
            mr_err_prefix(&e, "Arrow error: ");
        mr_flight_fail(st, rc == MURR_ETOOBIG ? MR_GRPC_RESOURCE_EXHAUSTED : rc == MURR_ENOMEM ? MR_GRPC_RESOURCE_EXHAUSTED
                                                                                          : MR_GRPC_INVALID_ARGUMENT,
                       "DoPut message %llu: %s", (unsigned long long)st->nmsgs, e.message);
        return;
    }
    if (b == NULL) { /* schema or dictionary: the reader may point into it */
        if (!put_keep(st, msg)) {
            mr_free(msg);
            mr_flight_fail(st, MR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        }
        return;
    }
    if (mr_batch_keepalive(b, mr_free, msg) != 0) {
        mr_batch_free(b);
        mr_free(msg);
        mr_flight_fail(st, MR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (st->nbatches == st->cap_batches) {
        size_t cap = st->cap_batches ? st->cap_batches * 2 : 8;
        mr_batch_t **n = mr_realloc(st->batches, cap * sizeof(*n));
        if (n == NULL) {
            mr_batch_free(b);
            mr_flight_fail(st, MR_GRPC_RESOURCE_EXHAUSTED, "out of memory for %zu batches", cap);
            return;
        }
        st->batches = n;
        st->cap_batches = cap;
    }
    st->batches[st->nbatches++] = b;
}

static void put_answer(mr_flight_stream_t *st)
{
    /* one PutResult with empty app_metadata: a zero-length protobuf message */
    if (mr_flight_out_message(st, NULL, 0) != 0 || mr_flight_respond(st) != 0)
        mr_flight_fail(st, MR_GRPC_INTERNAL, "cannot submit the PutResult");
}

static void put_end(mr_flight_stream_t *st)
{
    if (!st->have_table) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT,
                       "DoPut stream has no messages: the first must carry a flight_descriptor with path [table]");
        return;
    }
    if (mr_ipc_reader_schema(st->ipc) == NULL) {
        mr_flight_fail(st, MR_GRPC_INVALID_ARGUMENT, "DoPut stream to %s carried no Arrow schema message", st->table);
        return;
    }
    if (st->nbatches == 0 && st->put_mode == MURR_WRITE_UPSERT) {
        put_answer(st);
        return;
    }
    mr_flight_submit_job(st); /* a replace of no batches empties the table: a new version */
}

static void put_run(mr_flight_stream_t *st)
{
    murr_writer *w = NULL;
    mr_error_t e = {0};
    int rc = murr_write_begin_opt(st->db, st->table, st->put_mode, "flight", &w, &e);
    for (size_t i = 0; rc == 0 && i < st->nbatches; i++) {
        if (atomic_load(&st->cancelled)) {
            rc = mr_err_set(&e, MURR_EINTERNAL, "DoPut to %s cancelled by the client after %zu of %zu batches",
                            st->table, i, st->nbatches);
            break;
        }
        rc = murr_writer_append(w, st->batches[i], &e);
        if (rc != 0 && st->nbatches > 1)
            mr_err_prefix(&e, "batch %zu: ", i);
    }
    if (w != NULL) {
        if (rc == 0 && atomic_load(&st->cancelled))
            rc = mr_err_set(&e, MURR_EINTERNAL, "DoPut to %s cancelled by the client before commit", st->table);
        if (rc == 0)
            rc = murr_writer_commit(w, &e);
        else
            murr_writer_abort(w);
    }
    st->job_rc = rc;
    st->job_err = e;
}

void mr_flight_rpc_job_run(mr_flight_stream_t *st)
{
    if (st->rpc == MR_FLIGHT_RPC_DO_GET) {
        mr_error_t e = {0};
        st->job_code = get_prepare(st, st->unary_msg, st->unary_len, &e);
        st->job_err = e;
        return;
    }
    put_run(st);
}

void mr_flight_rpc_job_done(mr_flight_stream_t *st)
{
    if (st->done)
        return;
    if (st->rpc == MR_FLIGHT_RPC_DO_GET) {
        mr_free(st->unary_msg); /* the ticket: its keys are in get_batch now */
        st->unary_msg = NULL;
        get_answer(st, st->job_code, &st->job_err);
    } else if (st->job_rc != 0) {
        fail_from(st, st->job_rc, &st->job_err);
    } else {
        put_answer(st);
    }
}

/* ---- dispatch ---- */

void mr_flight_rpc_message(mr_flight_stream_t *st, uint8_t *msg, size_t len)
{
    if (st->done) {
        mr_free(msg);
        return;
    }
    if (st->rpc == MR_FLIGHT_RPC_DO_PUT) {
        put_message(st, msg, len);
        return;
    }
    if (st->rpc == MR_FLIGHT_RPC_HANDSHAKE) { /* HandshakeRequest payloads: credentials are in the header */
        mr_free(msg);
        return;
    }
    if (st->unary_msg != NULL) {
        mr_free(msg);
        mr_flight_fail(st, MR_GRPC_INTERNAL, "%s takes exactly one request message; received %llu", rpc_name(st->rpc),
                       (unsigned long long)st->nmsgs);
        return;
    }
    st->unary_msg = msg;
    st->unary_len = len;
}

void mr_flight_rpc_end(mr_flight_stream_t *st)
{
    if (st->rpc == MR_FLIGHT_RPC_DO_PUT) {
        put_end(st);
        return;
    }
    if (st->rpc == MR_FLIGHT_RPC_HANDSHAKE) {
        mr_flight_handshake_end(st);
        return;
    }
    if (st->unary_msg == NULL) {
        mr_flight_fail(st, MR_GRPC_INTERNAL, "%s takes exactly one request message; received none", rpc_name(st->rpc));
        return;
    }
    switch (st->rpc) {
    case MR_FLIGHT_RPC_GET_FLIGHT_INFO:
    case MR_FLIGHT_RPC_GET_SCHEMA: rpc_describe(st, st->unary_msg, st->unary_len); break;
    case MR_FLIGHT_RPC_LIST_FLIGHTS: rpc_list_flights(st, st->unary_msg, st->unary_len); break;
    case MR_FLIGHT_RPC_DO_GET: rpc_do_get(st); break;
    default: mr_flight_fail(st, MR_GRPC_UNIMPLEMENTED, "%s not supported", rpc_name(st->rpc)); break;
    }
    if (!st->job_pending) { /* a DoGet job still reads it */
        mr_free(st->unary_msg);
        st->unary_msg = NULL;
    }
}

void mr_flight_rpc_release(mr_flight_stream_t *st)
{
    mr_free(st->unary_msg);
    st->unary_msg = NULL;
    for (size_t i = 0; i < st->nbatches; i++)
        mr_batch_free(st->batches[i]);
    mr_free(st->batches);
    st->batches = NULL;
    st->nbatches = 0;
    if (st->ipc)
        mr_ipc_reader_free(st->ipc);
    st->ipc = NULL;
    for (size_t i = 0; i < st->nkeep; i++)
        mr_free(st->keep[i]);
    mr_free(st->keep);
    st->keep = NULL;
    st->nkeep = 0;
    if (st->get_batch)
        murr_batch_free(st->get_batch);
    st->get_batch = NULL;
}
