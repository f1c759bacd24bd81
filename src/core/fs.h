/*
 * fs.h - file-system helpers with the durability rules of murr spelled out:
 * mr_fs_write_atomic writes tmp, fsyncs it, renames it over the target and fsyncs the
 * directory, so after a crash the file is either the old or the new content.
 */
#ifndef MR_CORE_FS_H
#define MR_CORE_FS_H

#include "core/error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int mr_fs_mkdir_p(const char *path, mr_error_t *err);
int mr_fs_write_atomic(const char *path, const void *data, size_t len, mr_error_t *err);
/* Reads a whole file into a malloc'd buffer (NUL-terminated for convenience). */
int mr_fs_read_all(const char *path, uint8_t **out, size_t *len, mr_error_t *err);
int mr_fs_fsync_dir(const char *dir, mr_error_t *err);
/* Removes a directory tree (like rm -rf). Missing path is OK. */
int mr_fs_remove_tree(const char *path, mr_error_t *err);
bool mr_fs_exists(const char *path);
bool mr_fs_is_dir(const char *path);

#endif
