/* Tests of the config model: defaults, YAML file, MURR_* environment, --set, cache dir. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conf/config.h"
#include "core/fs.h"

static int load(mr_config_t *c, const char *yaml, mr_error_t *err)
{
    return mr_config_load_yaml(c, yaml, strlen(yaml), "test.yaml", err);
}

/* The YAML mr_config_print_yaml writes (free it); its length in *len if not NULL. */
static char *printed(const mr_config_t *c, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    cr_assert_eq(mr_config_print_yaml(c, f), 0);
    fclose(f);
    if (len)
        *len = n;
    return text;
}

Test(config, defaults_match_reference)
{
    mr_config_t c;
    mr_config_defaults(&c);
    cr_assert_str_eq(c.http.host, "0.0.0.0");
    cr_assert_eq(c.http.port, 8080);
    cr_assert_eq(c.http.max_payload_size, 1073741824ull);
    cr_assert_str_eq(c.grpc.host, "0.0.0.0");
    cr_assert_eq(c.grpc.port, 8081);
    cr_assert(c.storage.sync_writes);
    cr_assert_str_eq(c.storage.path, "");
}

Test(config, yaml_overlays_defaults)
{
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    cr_assert_eq(load(&c, "server:\n  http:\n    port: 9090\n    max_payload_size: 2MiB\n  grpc:\n    host: 127.0.0.1\n"
                         "storage:\n  path: /custom/path\n  sync_writes: false\n", &err), 0, "%s", err.message);
    cr_assert_eq(c.http.port, 9090);
    cr_assert_eq(c.http.max_payload_size, 2u << 20);
    cr_assert_str_eq(c.http.host, "0.0.0.0");
    cr_assert_str_eq(c.grpc.host, "127.0.0.1");
    cr_assert_str_eq(c.storage.path, "/custom/path");
    cr_assert(!c.storage.sync_writes);
}

Test(config, reference_backend_sections_are_accepted)
{
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    cr_assert_eq(load(&c, "storage:\n  path: /x\n  mmap:\n    bloom_bits_per_key: 20\n    read_method: par_get\n", &err),
                 0, "%s", err.message);
    cr_assert_str_eq(c.storage.path, "/x");
    cr_assert_eq(load(&c, "storage: {path: /y, block: {block_size: 8192}}\n", &err), 0, "%s", err.message);
    cr_assert_str_eq(c.storage.path, "/y");
    cr_assert_eq(load(&c, "storage:\n  mmap: {}\n", &err), 0, "%s", err.message);
}

Test(config, unknown_key_names_file_line_and_key)
{
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    cr_assert_eq(load(&c, "server:\n  http:\n    port: 1\n    prot: 2\n", &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "test.yaml:4:5:") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "server.http.prot") != NULL, "%s", err.message);
    cr_assert_eq(load(&c, "servre:\n  http:\n    port: 1\n", &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "servre") != NULL, "%s", err.message);
}

Test(config, bad_values_are_refused_with_numbers)
{
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    cr_assert_eq(load(&c, "server:\n  http:\n    port: 70000\n", &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "70000") && strstr(err.message, "65535"), "%s", err.message);
    cr_assert_eq(load(&c, "server:\n  http:\n    port: -1\n", &err), MURR_EINVAL);
    cr_assert_eq(load(&c, "storage:\n  sync_writes: maybe\n", &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "maybe"), "%s", err.message);
    cr_assert_eq(load(&c, "server: [1, 2]\n", &err), MURR_EINVAL);
    cr_assert_eq(load(&c, "server:\n  http: {port: 1\n", &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "test.yaml:3:1: did not find expected") != NULL, "%s", err.message);
}

Test(config, env_overlay_binds_keys_with_underscores)
{
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    char *envp[] = {"MURR_SERVER_HTTP_MAX_PAYLOAD_SIZE=1234", "MURR_STORAGE_PATH=/data/x", "murr_server_grpc_port=9999",
                    "MURR_DEBUG=1", "MURR_LOG=debug", "PATH=/bin", NULL};
    cr_assert_eq(mr_config_apply_env(&c, envp, &err), 0, "%s", err.message);
    cr_assert_eq(c.http.max_payload_size, 1234);
    cr_assert_str_eq(c.storage.path, "/data/x");
    cr_assert_eq(c.grpc.port, 9999);
    char *bad[] = {"MURR_SERVER_HTTP_PORT=http", NULL};
    cr_assert_eq(mr_config_apply_env(&c, bad, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "MURR_SERVER_HTTP_PORT"), "%s", err.message);
}

Test(config, print_yaml_round_trips)
{
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    cr_assert_eq(load(&c, "server:\n  http:\n    port: 9191\nstorage:\n  path: /p\n  sync_writes: false\n", &err), 0);
    size_t len;
    char *text = printed(&c, &len);
    cr_assert(strstr(text, "server:\n  http:\n    host: \"0.0.0.0\"\n    port: 9191\n"), "%s", text);
    cr_assert(strstr(text, "storage:\n  path: \"/p\"\n  sync_writes: false\n"), "%s", text);
    mr_config_t back;
    mr_config_defaults(&back);
    cr_assert_eq(mr_config_load_yaml(&back, text, len, "printed", &err), 0, "%s", err.message);
    cr_assert_eq(back.http.port, 9191);
    cr_assert_str_eq(back.storage.path, "/p");
    cr_assert(!back.storage.sync_writes);
    free(text);
}

Test(config, storage_path_resolves_to_cwd_murr)
{
    char tmpl[] = "/tmp/murr-conf-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    char old[4096];
    cr_assert_not_null(getcwd(old, sizeof(old)));
    cr_assert_eq(chdir(tmpl), 0);
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    cr_assert_eq(mr_config_resolve_storage(&c, &err), 0, "%s", err.message);
    char want[4200];
    snprintf(want, sizeof(want), "%s/murr", tmpl);
    cr_assert_str_eq(c.storage.path, want);
    cr_assert(mr_fs_is_dir(want));
    cr_assert(!mr_fs_exists(strcat(strcpy((char[4300]){0}, tmpl), "/.murr_write_probe")));
    cr_assert_eq(chdir(old), 0);
    mr_fs_remove_tree(tmpl, NULL);
}

Test(config, keep_versions_from_file_and_env_with_range)
{
    mr_config_t c;
    mr_config_defaults(&c);
    cr_assert_eq(c.storage.keep_versions, 1);
    mr_error_t err = {0};
    cr_assert_eq(load(&c, "storage:\n  keep_versions: 0\n", &err), 0, "%s", err.message);
    cr_assert_eq(c.storage.keep_versions, 0);
    cr_assert_eq(load(&c, "storage:\n  keep_versions: 1000\n", &err), 0, "%s", err.message);
    cr_assert_eq(c.storage.keep_versions, 1000);
    cr_assert_eq(load(&c, "storage:\n  keep_versions: 1001\n", &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "storage.keep_versions") && strstr(err.message, "1001") &&
              strstr(err.message, "[0, 1000]"), "%s", err.message);
    cr_assert_eq(c.storage.keep_versions, 1000, "a refused value leaves the previous one");
    cr_assert_eq(load(&c, "storage:\n  keep_versions: -1\n", &err), MURR_EINVAL);
    char *envp[] = {"MURR_STORAGE_KEEP_VERSIONS=7", NULL};
    cr_assert_eq(mr_config_apply_env(&c, envp, &err), 0, "%s", err.message);
    cr_assert_eq(c.storage.keep_versions, 7);
    char *bad[] = {"MURR_STORAGE_KEEP_VERSIONS=two", NULL};
    cr_assert_eq(mr_config_apply_env(&c, bad, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "MURR_STORAGE_KEEP_VERSIONS") && strstr(err.message, "two"), "%s", err.message);
    char *text = printed(&c, NULL);
    cr_assert(strstr(text, "  keep_versions: 7\n"), "%s", text);
    free(text);
}

Test(config, auth_and_tls_keys_bind_from_yaml_and_env)
{
    mr_config_t c;
    mr_config_defaults(&c);
    mr_error_t err = {0};
    cr_assert_str_empty(c.auth.tokens_file);
    const char *y = "server:\n  auth:\n    tokens_file: /etc/murr/tokens\n  tls:\n    cert_file: /c.pem\n"
                    "    key_file: /k.pem\n";
    cr_assert_eq(mr_config_load_yaml(&c, y, strlen(y), "t.yaml", &err), 0, "%s", err.message);
    cr_assert_str_eq(c.auth.tokens_file, "/etc/murr/tokens");
    cr_assert_str_eq(c.tls.cert_file, "/c.pem");
    char *envp[] = {"MURR_SERVER_AUTH_TOKENS_FILE=/run/secrets/t", "MURR_SERVER_TLS_CLIENT_CA_FILE=/ca.pem", NULL};
    cr_assert_eq(mr_config_apply_env(&c, envp, &err), 0, "%s", err.message);
    cr_assert_str_eq(c.auth.tokens_file, "/run/secrets/t");
    cr_assert_str_eq(c.tls.client_ca_file, "/ca.pem");
    cr_assert_eq(mr_config_validate(&c, &err), 0, "%s", err.message);
    c.tls.key_file[0] = '\0';
    cr_assert_eq(mr_config_validate(&c, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "cert_file is set, key_file is not"), "%s", err.message);
    c.tls.cert_file[0] = '\0';
    cr_assert_eq(mr_config_validate(&c, &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "client_ca_file needs server.tls.cert_file"), "%s", err.message);
    const char *bad = "server:\n  auth:\n    token_file: x\n";
    cr_assert_eq(mr_config_load_yaml(&c, bad, strlen(bad), "t.yaml", &err), MURR_EINVAL);
    cr_assert(strstr(err.message, "t.yaml:3:5: unknown key 'server.auth.token_file'"), "%s", err.message);
}
