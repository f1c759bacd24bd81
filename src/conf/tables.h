/*
 * tables.h - the `tables:` section of the YAML configuration (tables that follow a source
 * of Parquet partitions; see tables.c for the shape and loader.h for the behaviour).
 */
#ifndef MR_CONF_TABLES_H
#define MR_CONF_TABLES_H

#include "loader/loader.h"

/* Parses the section out of a YAML document (no section: zero tables). */
int mr_tables_conf_parse(const char *text, size_t len, const char *file, mr_follow_config_t **out, size_t *count,
                         mr_error_t *err);
int mr_tables_conf_load_file(const char *path, mr_follow_config_t **out, size_t *count, mr_error_t *err);
void mr_tables_conf_free(mr_follow_config_t *v, size_t n);
/* "250ms", "30s", "5m", "1h" or a number of seconds -> milliseconds; -1 if not one. */
int mr_parse_duration_ms(const char *s, uint64_t *out);

#endif
