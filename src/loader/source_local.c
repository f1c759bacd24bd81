/* source_local.c - a local directory as a source of partitions (source.h): listing walks
 * the tree (regular files only, symlinks not followed, depth bounded), reads are pread(2)
 * with the file's size and modification time as its ETag, so a file rewritten between the
 * listing and the read is caught. */
#include "loader/source.h"

#include "core/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCAL_MAX_DEPTH 8

typedef struct local_source {
    mr_source_t base;
    char root[800];
} local_source_t;

static void etag_of(const struct stat *st, char *out, size_t cap)
{
    snprintf(out, cap, "%lld%09ld-%lld", (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec,
             (long long)st->st_size);
}

static int walk(local_source_t *ls, const char *rel, int depth, mr_object_list_t *out, mr_error_t *err)
{
    char dir[PATH_MAX];
    int dn = snprintf(dir, sizeof(dir), "%s%s%s", ls->root, rel[0] ? "/" : "", rel);
    if (dn < 0 || (size_t)dn >= sizeof(dir))
        return mr_err_set(err, MURR_EINVAL, "path under '%s' longer than %d bytes: '%s'", ls->root, PATH_MAX, rel);
    DIR *d = opendir(dir);
    if (d == NULL)
        return mr_err_set(err, errno == ENOENT ? MURR_ENOTFOUND : MURR_EIO, "cannot list '%s': %s", dir,
                          strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char child[PATH_MAX], path[PATH_MAX];
        int n = snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof(child))
            continue;
        n = snprintf(path, sizeof(path), "%s/%s", ls->root, child);
        if (n < 0 || (size_t)n >= sizeof(path))
            continue;
        struct stat st;
        if (lstat(path, &st) != 0)
            continue; /* vanished meanwhile */
        if (S_ISDIR(st.st_mode)) {
            if (depth < LOCAL_MAX_DEPTH)
                rc = walk(ls, child, depth + 1, out, err);
            if (rc == MURR_ENOTFOUND) /* a directory removed while listing */
                rc = 0;
        } else if (S_ISREG(st.st_mode)) {
            char etag[80];
            etag_of(&st, etag, sizeof(etag));
            if (mr_object_list_push(out, child, strlen(child), (uint64_t)st.st_size, etag) != 0)
                rc = mr_err_set(err, MURR_ENOMEM, "out of memory listing '%s' (%zu files)", dir, out->n);
        }
    }
    closedir(d);
    return rc;
}

static int local_list(mr_source_t *s, mr_object_list_t *out, mr_error_t *err)
{
    return walk((local_source_t *)s, "", 0, out, err);
}

static int local_read(mr_source_t *s, const char *key, const char *etag, uint64_t off, uint64_t len, uint8_t *buf,
                      mr_error_t *err)
{
    local_source_t *ls = (local_source_t *)s;
    char path[PATH_MAX];
    int pn = snprintf(path, sizeof(path), "%s/%s", ls->root, key);
    if (pn < 0 || (size_t)pn >= sizeof(path))
        return mr_err_set(err, MURR_EINVAL, "path of '%s' under '%s' is longer than %d bytes", key, ls->root, PATH_MAX);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mr_err_set(err, errno == ENOENT ? MURR_ENOTFOUND : MURR_EIO, "cannot open '%s': %s", path,
                          strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = mr_err_set(err, MURR_EIO, "cannot stat '%s': %s", path, strerror(errno));
    } else if (etag && etag[0]) {
        char now[80];
        etag_of(&st, now, sizeof(now));
        if (strcmp(now, etag) != 0)
            rc = mr_err_set(err, MURR_ECORRUPT, "'%s' changed while it was being loaded (was %s, now %s)", path, etag,
                            now);
    }
    if (rc == 0 && off + len > (uint64_t)st.st_size)
        rc = mr_err_set(err, MURR_ECORRUPT, "'%s' has %lld bytes, fewer than the %llu asked at offset %llu", path,
                        (long long)st.st_size, (unsigned long long)len, (unsigned long long)off);
    uint64_t done = 0;
    while (rc == 0 && done < len) {
        ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = mr_err_set(err, r == 0 ? MURR_ECORRUPT : MURR_EIO, "cannot read '%s' at offset %llu: %s", path,
                            (unsigned long long)(off + done), r == 0 ? "unexpected end of file" : strerror(errno));
        else
            done += (uint64_t)r;
    }
    close(fd);
    return rc;
}

static void local_free(mr_source_t *s) { mr_free(s); }

static const mr_source_ops_t local_ops = {.kind = "local", .list = local_list, .read = local_read, .free = local_free};

int mr_source_local_new(const char *path, mr_source_t **out, mr_error_t *err)
{
    *out = NULL;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(((local_source_t *)0)->root))
        return mr_err_set(err, MURR_EINVAL, "source.local.path: '%s' is empty or longer than %zu bytes", path,
                          sizeof(((local_source_t *)0)->root) - 1);
    local_source_t *ls = mr_xcalloc(1, sizeof(*ls));
    ls->base.ops = &local_ops;
    memcpy(ls->root, path, n);
    snprintf(ls->base.uri, sizeof(ls->base.uri), "file://%s/", ls->root);
    *out = &ls->base;
    return 0;
}
