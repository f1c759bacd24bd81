/*
 * config.h - the configuration model of murr and its three sources, applied in order:
 *   1. built-in defaults (the embedded default: no file needed),
 *   2. an optional YAML file (`-c/--config`),
 *   3. MURR_* environment variables (MURR_SERVER_HTTP_PORT, MURR_STORAGE_PATH,
 *      MURR_SERVER_HTTP_MAX_PAYLOAD_SIZE, ...: the key path upper-cased, dots -> '_'),
 *      and nothing else on top.
 * One table of keys (config.c) binds both sources, so a key that works in one works in the
 * other. Unknown keys in the file are errors naming file:line:column and key (except inside
 * `storage.mmap` / `storage.block`, the reference's RocksDB profiles, which are accepted
 * and ignored with a warning); unknown MURR_* variables are warnings.
 * storage.path, when not set, is resolved like the reference: ./murr, /var/lib/murr/murr,
 * /data/murr, $TMPDIR/murr (or /tmp/murr): the first writable one.
 */
#ifndef MR_CONF_CONFIG_H
#define MR_CONF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

typedef struct mr_config {
    struct {
        char host[256];
        uint16_t port;
        uint64_t max_payload_size;
        uint32_t threads;           /* 0 = one per CPU */
        uint32_t max_connections;
        uint32_t header_timeout_ms;
        uint32_t idle_timeout_ms;
        uint64_t max_fetch_keys;    /* keys in one fetch (HTTP and Flight DoGet); more: 413 */
    } http;
    struct {
        char host[256];
        uint16_t port;
        uint64_t max_message_size;
        bool enabled;
        uint32_t max_connections;   /* open Flight connections; more are closed at accept */
        uint32_t idle_timeout_ms;   /* no stream open this long: GOAWAY and close */
    } grpc;
    struct {
        uint64_t budget_bytes;      /* answers queued and unread, all connections of both listeners */
        uint32_t stall_ms;          /* over its share and not reading this long: closed */
    } output;
    struct {
        char tokens_file[4096];     /* "" = no access control (server/auth.h) */
    } auth;
    struct {
        char cert_file[4096];       /* PEM; with key_file: TLS on both listeners */
        char key_file[4096];
        char client_ca_file[4096];  /* PEM CAs: require and verify client certificates */
    } tls;
    struct {
        char path[4096];            /* "" until resolved */
        bool sync_writes;
        uint64_t segment_max_bytes;
        double compact_garbage_ratio;
        bool background_compaction;
        uint32_t reopen_interval_ms;
        uint32_t keep_versions;     /* kept for rollback after a replace (murr_options.keep_versions) */
        char backend[16];           /* "native"; "mmap"/"block" sections are accepted */
    } storage;
    char log_level[16];
    char source_file[4096];         /* the file loaded, "" if none */
} mr_config_t;

void mr_config_defaults(mr_config_t *c);
/* Loads the YAML file at path over c. Errors name the file, line and key. */
int mr_config_load_file(mr_config_t *c, const char *path, mr_error_t *err);
/* Same, from text (tests); `name` is used in messages. */
int mr_config_load_yaml(mr_config_t *c, const char *text, size_t len, const char *name, mr_error_t *err);
/* Applies MURR_* variables from envp (NULL-terminated "K=V" strings). Unknown variables are
 * logged as warnings; a bad value is an error naming the variable. */
int mr_config_apply_env(mr_config_t *c, char *const *envp, mr_error_t *err);
/* Resolves storage.path if empty (see above); logs "Using cache dir: <dir>". */
int mr_config_resolve_storage(mr_config_t *c, mr_error_t *err);
/* Writes the effective configuration as YAML (every key, in table order). */
int mr_config_print_yaml(const mr_config_t *c, FILE *out);
/* Checks cross-field rules (ports, sizes). */
int mr_config_validate(const mr_config_t *c, mr_error_t *err);

#endif
