/* tables.c - the `tables:` section of the YAML configuration: tables that follow a source
 * of Parquet partitions (loader.h). Parsed as a document (libyaml), separately from the
 * flat keys of config.c, which skips the section. Every error names file:line and the key.
 *
 *   tables:
 *     <name>:
 *       source:
 *         s3: {bucket, prefix, region, endpoint, access_key_id, secret_access_key,
 *              session_token, profile, path_style, timeout_ms, max_retries}
 *         local: {path}                 # one of s3 / local
 *       poll_interval: 5m               # 250ms, 30s, 5m, 1h, or a number of seconds
 *       key: [user_id]                  # or a string; or per-column `key: true`
 *       columns:                        # optional: inferred from the Parquet schema
 *         user_id: {dtype: utf8, nullable: false}
 *         click_rate_7d: {dtype: float32}
 */
#include "conf/tables.h"

#include "core/alloc.h"
#include "core/fs.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct ctx {
    yaml_document_t *doc;
    const char *file;
} ctx_t;

static int where_err(const ctx_t *c, const yaml_node_t *n, mr_error_t *err, const char *fmt, const char *a,
                     const char *b)
{
    char msg[MURR_ERROR_MSG_MAX + 400]; /* a nested message (columns: ...) fits whole; mr_err_set bounds the result */
    if (snprintf(msg, sizeof(msg), fmt, a, b) < 0)
        msg[0] = '\0';
    return mr_err_set(err, MURR_EINVAL, "%s:%zu:%zu: %s", c->file, n->start_mark.line + 1, n->start_mark.column + 1,
                      msg);
}

static const char *scalar(const yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL; }

static int copy_str(const ctx_t *c, const yaml_node_t *v, const char *key, char *out, size_t cap, mr_error_t *err)
{
    const char *s = scalar(v);
    if (s == NULL)
        return where_err(c, v, err, "%s%s: expected a string", key, "");
    if (strlen(s) >= cap) {
        char lim[32];
        snprintf(lim, sizeof(lim), "%zu", cap - 1);
        return where_err(c, v, err, "%s: longer than %s bytes", key, lim);
    }
    snprintf(out, cap, "%s", s);
    return 0;
}

static int parse_u32(const ctx_t *c, const yaml_node_t *v, const char *key, uint32_t *out, mr_error_t *err)
{
    const char *s = scalar(v);
    char *end;
    errno = 0;
    unsigned long long x = s ? strtoull(s, &end, 10) : 0;
    if (s == NULL || s[0] == '\0' || *end != '\0' || errno != 0 || x > UINT32_MAX)
        return where_err(c, v, err, "%s: '%s' is not a number from 0 to 4294967295", key, s ? s : "");
    *out = (uint32_t)x;
    return 0;
}

static int parse_bool(const ctx_t *c, const yaml_node_t *v, const char *key, bool *out, mr_error_t *err)
{
    const char *s = scalar(v);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)) {
        *out = s[0] == 't';
        return 0;
    }
    return where_err(c, v, err, "%s: '%s' is not true or false", key, s ? s : "");
}

int mr_parse_duration_ms(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || v < 0)
        return -1;
    double mult = strcmp(end, "ms") == 0 ? 1 : strcmp(end, "s") == 0 || *end == '\0' ? 1000
                  : strcmp(end, "m") == 0 ? 60000 : strcmp(end, "h") == 0 ? 3600000 : -1;
    if (mult < 0 || v * mult > 1e15)
        return -1;
    *out = (uint64_t)(v * mult);
    return 0;
}

#define CAT2_(a, b) a##b
#define CAT_(a, b) CAT2_(a, b)
/* for each pair of mapping `map`: k and v are its key and value nodes (nestable) */
#define FOREACH_PAIR(c, map, k, v) FOREACH_PAIR_(c, map, k, v, CAT_(p_, __LINE__), CAT_(once_, __LINE__))
#define FOREACH_PAIR_(c, map, k, v, p, once)                                                                        \
    for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start; p < (map)->data.mapping.pairs.top; p++)            \
        for (yaml_node_t *k = yaml_document_get_node((c)->doc, p->key), *v = yaml_document_get_node((c)->doc, p->value), \
                         *once = k;                                                                                 \
             once; once = NULL)

static int parse_s3(const ctx_t *c, const yaml_node_t *m, mr_s3_config_t *s3, mr_error_t *err)
{
    if (m->type != YAML_MAPPING_NODE)
        return where_err(c, m, err, "source.s3%s: expected a mapping%s", "", "");
    int rc = 0;
    FOREACH_PAIR(c, m, k, v)
    {
        const char *key = scalar(k);
        if (rc != 0 || key == NULL)
            continue;
#define S3_STR(name) else if (strcmp(key, #name) == 0) rc = copy_str(c, v, "source.s3." #name, s3->name, sizeof(s3->name), err);
        if (0) {
        }
        S3_STR(bucket) S3_STR(prefix) S3_STR(region) S3_STR(endpoint) S3_STR(access_key_id)
            S3_STR(secret_access_key) S3_STR(session_token) S3_STR(profile)
        else if (strcmp(key, "path_style") == 0) rc = parse_bool(c, v, "source.s3.path_style", &s3->path_style, err);
        else if (strcmp(key, "timeout_ms") == 0) rc = parse_u32(c, v, "source.s3.timeout_ms", &s3->timeout_ms, err);
        else if (strcmp(key, "max_retries") == 0) rc = parse_u32(c, v, "source.s3.max_retries", &s3->max_retries, err);
        else rc = where_err(c, k, err, "unknown key 'source.s3.%s' (bucket, prefix, region, endpoint, access_key_id, "
                            "secret_access_key, session_token, profile, path_style, timeout_ms, max_retries)%s", key, "");
#undef S3_STR
    }
    if (rc == 0 && s3->bucket[0] == '\0')
        rc = where_err(c, m, err, "source.s3.bucket is required%s%s", "", "");
    return rc;
}

static int parse_source(const ctx_t *c, const yaml_node_t *m, mr_follow_config_t *f, mr_error_t *err)
{
    if (m->type != YAML_MAPPING_NODE)
        return where_err(c, m, err, "source%s: expected a mapping with `s3` or `local`%s", "", "");
    int rc = 0;
    FOREACH_PAIR(c, m, k, v)
    {
        const char *key = scalar(k);
        if (rc != 0 || key == NULL)
            continue;
        if (f->kind != 0)
            rc = where_err(c, k, err, "source.%s: a table has one source (s3 or local)%s", key, "");
        else if (strcmp(key, "s3") == 0) {
            f->kind = MR_SOURCE_S3;
            rc = parse_s3(c, v, &f->s3, err);
        } else if (strcmp(key, "local") == 0) {
            f->kind = MR_SOURCE_LOCAL;
            const yaml_node_t *path = NULL;
            if (v->type == YAML_MAPPING_NODE)
                FOREACH_PAIR(c, v, lk, lv)
                {
                    if (scalar(lk) && strcmp(scalar(lk), "path") == 0)
                        path = lv;
                    else if (rc == 0)
                        rc = where_err(c, lk, err, "unknown key 'source.local.%s' (path)%s", scalar(lk) ? scalar(lk) : "?", "");
                }
            if (rc == 0 && path == NULL)
                rc = where_err(c, v, err, "source.local.path is required%s%s", "", "");
            if (rc == 0)
                rc = copy_str(c, path, "source.local.path", f->local_path, sizeof(f->local_path), err);
        } else {
            rc = where_err(c, k, err, "unknown source kind '%s' (s3, local)%s", key, "");
        }
    }
    return rc;
}

static int add_key(const ctx_t *c, const yaml_node_t *v, mr_follow_config_t *f, mr_error_t *err)
{
    if (f->nkeys == (int)(sizeof(f->key) / sizeof(f->key[0])))
        return where_err(c, v, err, "key: more than 8 key columns%s%s", "", "");
    return copy_str(c, v, "key", f->key[f->nkeys++], sizeof(f->key[0]), err);
}

/* columns -> a form-3 schema JSON (keys from `key:` and per-column `key: true`). */
static int parse_columns(const ctx_t *c, const yaml_node_t *m, mr_follow_config_t *f, mr_error_t *err)
{
    if (m->type != YAML_MAPPING_NODE)
        return where_err(c, m, err, "columns%s: expected a mapping of column name to {dtype, nullable}%s", "", "");
    json_t *cols = json_object();
    int rc = 0;
    FOREACH_PAIR(c, m, k, v)
    {
        const char *name = scalar(k);
        if (rc != 0 || name == NULL)
            continue;
        if (v->type != YAML_MAPPING_NODE) {
            rc = where_err(c, v, err, "columns.%s: expected {dtype, nullable, key, strict}%s", name, "");
            continue;
        }
        bool key = false, nullable_set = false, nullable = true, strict = false;
        const char *dtype = NULL;
        for (int i = 0; i < f->nkeys; i++)
            key |= strcmp(f->key[i], name) == 0;
        FOREACH_PAIR(c, v, ck, cv)
        {
            const char *m2 = scalar(ck);
            char what[200];
            snprintf(what, sizeof(what), "columns.%.100s.%.60s", name, m2 ? m2 : "?");
            if (rc != 0 || m2 == NULL)
                continue;
            if (strcmp(m2, "dtype") == 0)
                dtype = scalar(cv);
            else if (strcmp(m2, "nullable") == 0) {
                nullable_set = true;
                rc = parse_bool(c, cv, what, &nullable, err);
            } else if (strcmp(m2, "key") == 0) {
                bool kk = false;
                rc = parse_bool(c, cv, what, &kk, err);
                key |= kk;
            } else if (strcmp(m2, "strict") == 0)
                rc = parse_bool(c, cv, what, &strict, err);
            else
                rc = where_err(c, ck, err, "unknown key '%s' (dtype, nullable, key, strict)%s", what, "");
        }
        if (rc == 0 && dtype == NULL)
            rc = where_err(c, v, err, "columns.%s: dtype is required%s", name, "");
        if (rc == 0)
            json_object_set_new(cols, name, json_pack("{sssbsbsb}", "dtype", dtype, "nullable",
                                                      nullable_set ? nullable : !key, "key", key, "strict", strict));
    }
    if (rc == 0) {
        json_t *root = json_pack("{so}", "columns", cols);
        char *text = json_dumps(root, JSON_PRESERVE_ORDER);
        json_decref(root);
        mr_error_t e = {0};
        if (murr_schema_from_json(text, strlen(text), &f->schema, &e) != 0)
            rc = where_err(c, m, err, "columns: %s%s", e.message, "");
        free(text);
    } else {
        json_decref(cols);
    }
    return rc;
}
/* A follow entry's defaults and release (loader.h). Here, with the parser that fills
 * them, so that libmurr (which has the configuration but not the loader) links whole. */
void mr_follow_config_init(mr_follow_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->poll_interval_ms = 300000;
    c->s3.max_retries = 5; /* the documented default (source.h, README); 0 in a config means no retry */
}

void mr_follow_config_deinit(mr_follow_config_t *c)
{
    if (c->schema)
        murr_schema_free(c->schema);
    c->schema = NULL;
}


static int parse_table(const ctx_t *c, const char *name, const yaml_node_t *m, mr_follow_config_t *f, mr_error_t *err)
{
    mr_follow_config_init(f);
    MR_RETURN_NOT_OK(murr_table_name_check(name, strlen(name), err));
    snprintf(f->table, sizeof(f->table), "%s", name);
    if (m->type != YAML_MAPPING_NODE)
        return where_err(c, m, err, "tables.%s: expected a mapping (source, poll_interval, key, columns)%s", name, "");
    const yaml_node_t *columns = NULL, *source = NULL;
    int rc = 0;
    FOREACH_PAIR(c, m, k, v)
    {
        const char *key = scalar(k);
        if (rc != 0 || key == NULL)
            continue;
        if (strcmp(key, "source") == 0)
            source = v;
        else if (strcmp(key, "columns") == 0)
            columns = v;
        else if (strcmp(key, "poll_interval") == 0) {
            if (scalar(v) == NULL || mr_parse_duration_ms(scalar(v), &f->poll_interval_ms) != 0)
                rc = where_err(c, v, err, "tables.%s.poll_interval: '%s' is not a duration (250ms, 30s, 5m, 1h)", name,
                               scalar(v) ? scalar(v) : "");
        } else if (strcmp(key, "key") == 0) {
            if (v->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = v->data.sequence.items.start; rc == 0 && it < v->data.sequence.items.top; it++)
                    rc = add_key(c, yaml_document_get_node(c->doc, *it), f, err);
            } else {
                rc = add_key(c, v, f, err);
            }
        } else {
            rc = where_err(c, k, err, "unknown key 'tables.%s.%s' (source, poll_interval, key, columns)", name, key);
        }
    }
    if (rc == 0 && source == NULL)
        rc = where_err(c, m, err, "tables.%s.source is required%s", name, "");
    if (rc == 0)
        rc = parse_source(c, source, f, err);
    if (rc == 0 && columns)
        rc = parse_columns(c, columns, f, err);
    return rc;
}

int mr_tables_conf_parse(const char *text, size_t len, const char *file, mr_follow_config_t **out, size_t *count,
                         mr_error_t *err)
{
    *out = NULL;
    *count = 0;
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p))
        return mr_err_set(err, MURR_ENOMEM, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        int rc = mr_err_set(err, MURR_EINVAL, "%s:%zu:%zu: %s", file, p.problem_mark.line + 1,
                            p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML");
        yaml_parser_delete(&p);
        return rc;
    }
    ctx_t c = {.doc = &doc, .file = file};
    yaml_node_t *root = yaml_document_get_root_node(&doc), *tables = NULL;
    int rc = 0;
    if (root && root->type == YAML_MAPPING_NODE)
        FOREACH_PAIR(&c, root, k, v)
        {
            if (scalar(k) && strcmp(scalar(k), "tables") == 0)
                tables = v;
        }
    mr_follow_config_t *v = NULL;
    size_t n = 0;
    if (tables && tables->type == YAML_MAPPING_NODE) {
        size_t cap = (size_t)(tables->data.mapping.pairs.top - tables->data.mapping.pairs.start);
        v = mr_xcalloc(cap ? cap : 1, sizeof(*v));
        FOREACH_PAIR(&c, tables, k, tv)
        {
            if (rc == 0 && scalar(k)) {
                rc = parse_table(&c, scalar(k), tv, &v[n], err);
                n++;
            }
        }
    } else if (tables && !(tables->type == YAML_SCALAR_NODE && scalar(tables)[0] == '\0')) {
        rc = where_err(&c, tables, err, "tables%s: expected a mapping of table name to its source%s", "", "");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    if (rc != 0) {
        mr_tables_conf_free(v, n);
        return rc;
    }
    *out = v;
    *count = n;
    return 0;
}

int mr_tables_conf_load_file(const char *path, mr_follow_config_t **out, size_t *count, mr_error_t *err)
{
    uint8_t *text;
    size_t len;
    MR_RETURN_NOT_OK(mr_fs_read_all(path, &text, &len, err));
    int rc = mr_tables_conf_parse((const char *)text, len, path, out, count, err);
    mr_free(text);
    return rc;
}

void mr_tables_conf_free(mr_follow_config_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mr_follow_config_deinit(&v[i]);
    mr_free(v);
}
