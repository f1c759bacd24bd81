/* config.c - defaults, YAML file, MURR_* environment and --set overrides, bound through one
 * table of keys; cache-dir resolution. See config.h. */
#include "conf/config.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

typedef enum { K_STR, K_U16, K_U32, K_U64, K_BOOL, K_RATIO, K_LOGLEVEL } key_type_t;

typedef struct key_def {
    const char *path;
    key_type_t type;
    size_t offset;
    size_t size;        /* K_STR: buffer size */
    uint64_t min, max;  /* integers */
    const char *help;
} key_def_t;

#define F(field) offsetof(mr_config_t, field), sizeof(((mr_config_t *)0)->field)

static const key_def_t keys[] = {
    {"server.http.host", K_STR, F(http.host), 0, 0, "HTTP listen address"},
    {"server.http.port", K_U16, F(http.port), 0, 65535, "HTTP port (0 = any free port)"},
    {"server.http.max_payload_size", K_U64, F(http.max_payload_size), 1, UINT64_MAX, "request body limit, bytes"},
    {"server.http.threads", K_U32, F(http.threads), 0, 1024, "event-loop threads (0 = one per CPU)"},
    {"server.http.max_connections", K_U32, F(http.max_connections), 1, 10000000, "connection cap"},
    {"server.http.header_timeout_ms", K_U32, F(http.header_timeout_ms), 1, 86400000, "time to receive headers"},
    {"server.http.idle_timeout_ms", K_U32, F(http.idle_timeout_ms), 1, 86400000, "keep-alive idle timeout"},
    {"server.http.max_fetch_keys", K_U64, F(http.max_fetch_keys), 1, UINT64_MAX,
     "keys in one fetch (HTTP and Flight DoGet)"},
    {"server.grpc.host", K_STR, F(grpc.host), 0, 0, "Flight/gRPC listen address"},
    {"server.grpc.port", K_U16, F(grpc.port), 0, 65535, "Flight/gRPC port"},
    {"server.grpc.max_message_size", K_U64, F(grpc.max_message_size), 1024, UINT64_MAX, "gRPC message limit"},
    {"server.grpc.enabled", K_BOOL, F(grpc.enabled), 0, 0, "serve Flight/gRPC"},
    {"server.output_budget_bytes", K_U64, F(output.budget_bytes), 1 << 20, UINT64_MAX,
     "answers queued and unread by clients, all connections"},
    {"server.output_stall_ms", K_U32, F(output.stall_ms), 1, 86400000,
     "a connection over its share of the output budget and not reading this long is closed"},
    {"server.grpc.max_connections", K_U32, F(grpc.max_connections), 1, 10000000, "Flight connection cap"},
    {"server.grpc.idle_timeout_ms", K_U32, F(grpc.idle_timeout_ms), 1, 86400000, "Flight idle connection timeout"},
    {"server.auth.tokens_file", K_STR, F(auth.tokens_file), 0, 0, "bearer tokens, one '<scopes> <token>' a line"},
    {"server.tls.cert_file", K_STR, F(tls.cert_file), 0, 0, "PEM certificate chain (TLS on both listeners)"},
    {"server.tls.key_file", K_STR, F(tls.key_file), 0, 0, "PEM private key of cert_file"},
    {"server.tls.client_ca_file", K_STR, F(tls.client_ca_file), 0, 0, "PEM CAs that client certificates must chain to"},
    {"storage.path", K_STR, F(storage.path), 0, 0, "data directory"},
    {"storage.sync_writes", K_BOOL, F(storage.sync_writes), 0, 0, "fdatasync before acknowledging a write"},
    {"storage.segment_max_bytes", K_U64, F(storage.segment_max_bytes), 1 << 16, UINT64_MAX, "segment roll size"},
    {"storage.compact_garbage_ratio", K_RATIO, F(storage.compact_garbage_ratio), 0, 0, "auto-compaction threshold"},
    {"storage.background_compaction", K_BOOL, F(storage.background_compaction), 0, 0, "compaction thread"},
    {"storage.reopen_interval_ms", K_U32, F(storage.reopen_interval_ms), 10, 86400000,
     "retry of a table whose files could not be opened"},
    {"storage.keep_versions", K_U32, F(storage.keep_versions), 0, 1000,
     "versions kept for rollback besides the serving one"},
    {"log.level", K_LOGLEVEL, F(log_level), 0, 0, "error|warn|info|debug|trace"},
};

void mr_config_defaults(mr_config_t *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->http.host, sizeof(c->http.host), "0.0.0.0");
    c->http.port = 8080;
    c->http.max_payload_size = 1073741824ull;
    c->http.threads = 0;
    c->http.max_connections = 10000;
    c->http.header_timeout_ms = 10000;
    c->http.idle_timeout_ms = 60000;
    c->http.max_fetch_keys = 10000000;
    snprintf(c->grpc.host, sizeof(c->grpc.host), "0.0.0.0");
    c->grpc.port = 8081;
    c->grpc.max_message_size = 64ull << 20;
    c->grpc.enabled = true;
    c->grpc.max_connections = 10000;
    c->grpc.idle_timeout_ms = 300000;
    c->output.budget_bytes = 256ull << 20;
    c->output.stall_ms = 10000;
    c->storage.sync_writes = true;
    c->storage.segment_max_bytes = 256ull << 20;
    c->storage.compact_garbage_ratio = 0.5;
    c->storage.background_compaction = true;
    c->storage.reopen_interval_ms = 10000;
    c->storage.keep_versions = 1;
    snprintf(c->storage.backend, sizeof(c->storage.backend), "native");
    snprintf(c->log_level, sizeof(c->log_level), "info");
}

static const key_def_t *find_key(const char *path)
{
    for (size_t i = 0; i < MR_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

/* Parses an unsigned integer with an optional binary size suffix (KiB, MiB, GiB, TiB, or
 * K/M/G/T). Rejects signs, fractions, overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    while (*end == ' ')
        end++;
    uint64_t mul = 1;
    if (*end) {
        static const char *const suf[] = {"K", "M", "G", "T"};
        bool ok = false;
        for (int i = 0; i < 4 && !ok; i++) {
            char a[8], b[8], c2[8];
            snprintf(a, sizeof(a), "%s", suf[i]);
            snprintf(b, sizeof(b), "%siB", suf[i]);
            snprintf(c2, sizeof(c2), "%sB", suf[i]);
            if (strcasecmp(end, a) == 0 || strcasecmp(end, b) == 0 || strcasecmp(end, c2) == 0) {
                mul = 1ull << (10 * (i + 1));
                ok = true;
            }
        }
        if (!ok)
            return false;
    }
    if (v > UINT64_MAX / mul)
        return false;
    *out = (uint64_t)v * mul;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "yes", "on", "1"};
    static const char *const f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Stores `value` into the field of `k`. `where` names the source for messages
 * ("config.yaml line 3", "environment variable MURR_X", "--set"). */
static int bind_value(mr_config_t *c, const key_def_t *k, const char *value, const char *where, mr_error_t *err)
{
    char *field = (char *)c + k->offset;
    switch (k->type) {
    case K_STR:
        if (strlen(value) >= k->size)
            return mr_err_set(err, MURR_EINVAL, "%s: %s is %zu bytes long, the limit is %zu", where, k->path,
                              strlen(value), k->size - 1);
        snprintf(field, k->size, "%s", value);
        return 0;
    case K_LOGLEVEL: {
        mr_log_level_t lvl;
        if (mr_log_level_parse(value, &lvl) != 0)
            return mr_err_set(err, MURR_EINVAL, "%s: %s: '%s' is not a log level (expected error, warn, info, debug or trace)",
                              where, k->path, value);
        snprintf(field, k->size, "%s", value);
        return 0;
    }
    case K_BOOL: {
        bool b;
        if (!parse_bool(value, &b))
            return mr_err_set(err, MURR_EINVAL, "%s: %s: expected true or false, got '%s'", where, k->path, value);
        *(bool *)field = b;
        return 0;
    }
    case K_RATIO: {
        char *end;
        errno = 0;
        double d = strtod(value, &end);
        if (errno || *end || end == value || !(d > 0.0 && d <= 1.0))
            return mr_err_set(err, MURR_EINVAL, "%s: %s: expected a number in (0, 1], got '%s'", where, k->path, value);
        *(double *)field = d;
        return 0;
    }
    case K_U16:
    case K_U32:
    case K_U64: {
        uint64_t v;
        if (!parse_u64(value, &v))
            return mr_err_set(err, MURR_EINVAL, "%s: %s: expected a non-negative integer, got '%s'", where, k->path,
                              value);
        if (v < k->min || v > k->max)
            return mr_err_set(err, MURR_EINVAL, "%s: %s: %llu is out of range [%llu, %llu]", where, k->path,
                              (unsigned long long)v, (unsigned long long)k->min, (unsigned long long)k->max);
        if (k->type == K_U16)
            *(uint16_t *)field = (uint16_t)v;
        else if (k->type == K_U32)
            *(uint32_t *)field = (uint32_t)v;
        else
            *(uint64_t *)field = v;
        return 0;
    }
    }
    return MURR_EINTERNAL;
}

/* ---- YAML ---- */

#define MAX_DEPTH 8

typedef struct yaml_walk {
    mr_config_t *c;
    const char *name;
    char path[MAX_DEPTH][128];
    int depth;           /* number of keys in the path */
    bool expect_key[MAX_DEPTH + 1];
    int ignore_depth;    /* > 0 while inside storage.mmap / storage.block */
    size_t key_col;      /* column of the last key, for messages */
} yaml_walk_t;

static void join_path(const yaml_walk_t *w, char *out, size_t n)
{
    out[0] = '\0';
    for (int i = 0; i < w->depth; i++) {
        if (i)
            strncat(out, ".", n - strlen(out) - 1);
        strncat(out, w->path[i], n - strlen(out) - 1);
    }
}

static bool is_null_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

static int walk_value_scalar(yaml_walk_t *w, const yaml_event_t *ev, mr_error_t *err)
{
    char full[512];
    join_path(w, full, sizeof(full));
    size_t line = ev->start_mark.line + 1;
    if (w->ignore_depth > 0)
        return 0;
    if (is_null_scalar(ev)) {
        if (strcmp(full, "storage.mmap") == 0 || strcmp(full, "storage.block") == 0)
            MR_WARN("conf", "%s:%zu: %s selects the reference's RocksDB profile; this build serves the native "
                    "engine (the section is accepted and ignored)", w->name, line, full);
        return 0; /* `section:` with no value, or key: null -> keep default */
    }
    const key_def_t *k = find_key(full);
    if (k == NULL)
        return mr_err_set(err, MURR_EINVAL, "%s:%zu:%zu: unknown key '%s'", w->name, line, w->key_col, full);
    char where[300];
    snprintf(where, sizeof(where), "%.250s:%zu:%zu", w->name, line, (size_t)ev->start_mark.column + 1);
    return bind_value(w->c, k, (const char *)ev->data.scalar.value, where, err);
}

static int walk_mapping_start(yaml_walk_t *w, const yaml_event_t *ev, mr_error_t *err)
{
    char full[512];
    join_path(w, full, sizeof(full));
    size_t line = ev->start_mark.line + 1;
    if (w->ignore_depth > 0) {
        w->ignore_depth++;
        return 0;
    }
    if (strcmp(full, "tables") == 0) { /* tables that follow a source: conf/tables.c */
        w->ignore_depth = 1;
        return 0;
    }
    if (strcmp(full, "storage.mmap") == 0 || strcmp(full, "storage.block") == 0) {
        MR_WARN("conf", "%s:%zu: %s configures the reference's RocksDB profile; this build serves the native "
                "engine (the section is accepted and its keys ignored)", w->name, line, full);
        w->ignore_depth = 1;
        return 0;
    }
    if (w->depth > 0) {
        /* a mapping must be a known section: some key must start with "<full>." */
        size_t n = strlen(full);
        bool known = false;
        for (size_t i = 0; i < MR_ARRAY_LEN(keys) && !known; i++)
            known = strncmp(keys[i].path, full, n) == 0 && keys[i].path[n] == '.';
        if (!known)
            return mr_err_set(err, MURR_EINVAL, "%s:%zu:%zu: unknown section '%s'", w->name, line, w->key_col, full);
    }
    return 0;
}

int mr_config_load_yaml(mr_config_t *c, const char *text, size_t len, const char *name, mr_error_t *err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return mr_err_set(err, MURR_ENOMEM, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_walk_t w = {.c = c, .name = name};
    int rc = 0;
    int map_depth = 0; /* nesting of mappings */
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = mr_err_set(err, MURR_EINVAL, "%s:%zu:%zu: %s%s%s", name, p.problem_mark.line + 1,
                            p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML",
                            p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        size_t line = ev.start_mark.line + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
            if (map_depth > 0 && w.expect_key[map_depth]) {
                rc = mr_err_set(err, MURR_EINVAL, "%s:%zu: a mapping cannot be a key", name, line);
                break;
            }
            if (map_depth >= MAX_DEPTH) {
                rc = mr_err_set(err, MURR_EINVAL, "%s:%zu: nesting deeper than %d levels", name, line, MAX_DEPTH);
                break;
            }
            rc = walk_mapping_start(&w, &ev, err);
            map_depth++;
            w.expect_key[map_depth] = true;
            break;
        case YAML_MAPPING_END_EVENT:
            map_depth--;
            if (w.ignore_depth > 0)
                w.ignore_depth--;
            if (map_depth > 0) {
                w.depth--; /* pop the key whose value this mapping was */
                w.expect_key[map_depth] = true;
            }
            break;
        case YAML_SCALAR_EVENT:
            if (map_depth == 0) {
                if (!is_null_scalar(&ev))
                    rc = mr_err_set(err, MURR_EINVAL, "%s:%zu: expected a mapping at the top level", name, line);
                break;
            }
            if (w.expect_key[map_depth]) {
                if (w.depth >= MAX_DEPTH || strlen((const char *)ev.data.scalar.value) >= sizeof(w.path[0])) {
                    rc = mr_err_set(err, MURR_EINVAL, "%s:%zu: key too long or too deep", name, line);
                    break;
                }
                snprintf(w.path[w.depth++], sizeof(w.path[0]), "%s", (const char *)ev.data.scalar.value);
                w.key_col = ev.start_mark.column + 1;
                w.expect_key[map_depth] = false;
            } else {
                rc = walk_value_scalar(&w, &ev, err);
                w.depth--;
                w.expect_key[map_depth] = true;
            }
            break;
        case YAML_SEQUENCE_START_EVENT: {
            char full[512];
            join_path(&w, full, sizeof(full));
            if (w.ignore_depth == 0)
                rc = mr_err_set(err, MURR_EINVAL, "%s:%zu: '%s': lists are not valid here", name, line, full);
            else
                w.ignore_depth++;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
            if (w.ignore_depth > 0)
                w.ignore_depth--;
            break;
        case YAML_ALIAS_EVENT:
            rc = mr_err_set(err, MURR_EINVAL, "%s:%zu: YAML aliases are not supported", name, line);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

int mr_config_load_file(mr_config_t *c, const char *path, mr_error_t *err)
{
    uint8_t *data;
    size_t len;
    int rc = mr_fs_read_all(path, &data, &len, err);
    if (rc != 0)
        return mr_err_prefix(err, "cannot load config file: ");
    rc = mr_config_load_yaml(c, (const char *)data, len, path, err);
    mr_free(data);
    if (rc == 0)
        snprintf(c->source_file, sizeof(c->source_file), "%s", path);
    return rc;
}

/* "server.http.max_payload_size" -> "SERVER_HTTP_MAX_PAYLOAD_SIZE" */
static void env_name_of(const char *path, char *out, size_t n)
{
    size_t i = 0;
    for (; path[i] && i + 1 < n; i++)
        out[i] = path[i] == '.' ? '_' : (char)toupper((unsigned char)path[i]);
    out[i] = '\0';
}

int mr_config_apply_env(mr_config_t *c, char *const *envp, mr_error_t *err)
{
    for (char *const *e = envp; e && *e; e++) {
        if (strncasecmp(*e, "MURR_", 5) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (eq == NULL)
            continue;
        size_t nlen = (size_t)(eq - *e - 5);
        const char *name = *e + 5;
        if (nlen == 3 && strncasecmp(name, "LOG", 3) == 0)
            continue; /* MURR_LOG: the log level, read by the logger itself */
        const key_def_t *k = NULL;
        for (size_t i = 0; i < MR_ARRAY_LEN(keys) && !k; i++) {
            char en[128];
            env_name_of(keys[i].path, en, sizeof(en));
            if (strlen(en) == nlen && strncasecmp(en, name, nlen) == 0)
                k = &keys[i];
        }
        if (k == NULL) {
            MR_WARN("conf", "ignoring environment variable MURR_%.*s: not a murr setting", (int)nlen, name);
            continue;
        }
        char where[200];
        snprintf(where, sizeof(where), "environment variable MURR_%.*s", (int)(nlen > 100 ? 100 : nlen), name);
        MR_RETURN_NOT_OK(bind_value(c, k, eq + 1, where, err));
    }
    return 0;
}

/* Copies src into dst[n] if it fits (no silent truncation). */
static bool copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

/* Probe: can we create and delete a file in dir? */
static bool dir_writable(const char *dir)
{
    char probe[4200];
    snprintf(probe, sizeof(probe), "%s/.murr_write_probe", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    close(fd);
    unlink(probe);
    return true;
}

int mr_config_resolve_storage(mr_config_t *c, mr_error_t *err)
{
    if (c->storage.path[0] != '\0')
        return 0;
    char cwd[4096];
    const char *tmp = getenv("TMPDIR");
    const char *parents[4] = {getcwd(cwd, sizeof(cwd)) ? cwd : NULL, "/var/lib/murr", "/data",
                              tmp && *tmp ? tmp : "/tmp"};
    char tried[2048] = "";
    for (int i = 0; i < 4; i++) {
        const char *parent = parents[i];
        if (parent == NULL || *parent == '\0')
            continue;
        char dir[4200], note[4800];
        snprintf(dir, sizeof(dir), "%s/murr", strcmp(parent, "/") == 0 ? "" : parent);
        if (!mr_fs_is_dir(parent) || !dir_writable(parent)) {
            snprintf(note, sizeof(note), "%s: not writable", parent);
        } else if (mr_fs_is_dir(dir)) {
            if (dir_writable(dir) && copy_str(c->storage.path, sizeof(c->storage.path), dir)) {
                MR_INFO("conf", "Using cache dir: %s", dir);
                return 0;
            }
            snprintf(note, sizeof(note), "%s: exists but not writable", dir);
        } else {
            mr_error_t e2 = {0};
            if (mr_fs_mkdir_p(dir, &e2) == 0 && copy_str(c->storage.path, sizeof(c->storage.path), dir)) {
                MR_INFO("conf", "Using cache dir: %s", dir);
                return 0;
            }
            snprintf(note, sizeof(note), "%s: failed to create: %s", dir, e2.message);
        }
        if (tried[0])
            strncat(tried, "; ", sizeof(tried) - strlen(tried) - 1);
        strncat(tried, note, sizeof(tried) - strlen(tried) - 1);
    }
    return mr_err_set(err, MURR_EIO,
                      "failed to resolve cache dir — set storage.path or MURR_STORAGE_PATH: no writable cache directory "
                      "found. Tried: %s",
                      tried);
}

int mr_config_validate(const mr_config_t *c, mr_error_t *err)
{
    if (c->http.host[0] == '\0')
        return mr_err_set(err, MURR_EINVAL, "server.http.host is empty");
    if (c->grpc.enabled && c->grpc.host[0] == '\0')
        return mr_err_set(err, MURR_EINVAL, "server.grpc.host is empty");
    if (c->grpc.enabled && c->http.port != 0 && c->http.port == c->grpc.port && strcmp(c->http.host, c->grpc.host) == 0)
        return mr_err_set(err, MURR_EINVAL, "server.http.port and server.grpc.port are both %u on %s", c->http.port,
                          c->http.host);
    if ((c->tls.cert_file[0] == '\0') != (c->tls.key_file[0] == '\0'))
        return mr_err_set(err, MURR_EINVAL, "server.tls.cert_file and server.tls.key_file go together: %s is set, %s "
                          "is not", c->tls.cert_file[0] ? "cert_file" : "key_file",
                          c->tls.cert_file[0] ? "key_file" : "cert_file");
    if (c->tls.client_ca_file[0] && c->tls.cert_file[0] == '\0')
        return mr_err_set(err, MURR_EINVAL, "server.tls.client_ca_file needs server.tls.cert_file and key_file "
                          "(client certificates are verified during a TLS handshake)");
    return 0;
}

int mr_config_print_yaml(const mr_config_t *c, FILE *out)
{
    /* Walks the key table in order, opening a section whenever the path prefix changes. */
    char prev[3][64] = {{0}};
    for (size_t i = 0; i < MR_ARRAY_LEN(keys); i++) {
        const key_def_t *k = &keys[i];
        char parts[3][64] = {{0}};
        int np = 0;
        const char *p = k->path;
        while (*p && np < 3) {
            const char *dot = strchr(p, '.');
            size_t n = dot ? (size_t)(dot - p) : strlen(p);
            snprintf(parts[np++], sizeof(parts[0]), "%.*s", (int)n, p);
            p = dot ? dot + 1 : p + n;
        }
        int same = 0;
        while (same < np - 1 && strcmp(parts[same], prev[same]) == 0)
            same++;
        for (int d = same; d < np - 1; d++)
            fprintf(out, "%*s%s:\n", 2 * d, "", parts[d]);
        for (int d = 0; d < 3; d++)
            snprintf(prev[d], sizeof(prev[d]), "%s", d < np - 1 ? parts[d] : "");
        fprintf(out, "%*s%s: ", 2 * (np - 1), "", parts[np - 1]);
        const char *f = (const char *)c + k->offset;
        switch (k->type) {
        case K_STR:
        case K_LOGLEVEL: fprintf(out, "\"%s\"\n", f); break;
        case K_BOOL: fprintf(out, "%s\n", *(const bool *)f ? "true" : "false"); break;
        case K_RATIO: fprintf(out, "%g\n", *(const double *)f); break;
        case K_U16: fprintf(out, "%u\n", *(const uint16_t *)f); break;
        case K_U32: fprintf(out, "%u\n", *(const uint32_t *)f); break;
        case K_U64: fprintf(out, "%llu\n", (unsigned long long)*(const uint64_t *)f); break;
        }
    }
    return ferror(out) ? MURR_EIO : 0;
}
