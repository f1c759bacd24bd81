/* fs.c - file-system helpers; see fs.h. */
#include "core/fs.h"
#include "core/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mr_fs_mkdir_p(const char *path, mr_error_t *err)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return mr_err_set(err, MURR_EINVAL, "path '%s' is empty or longer than %d bytes", path, PATH_MAX - 1);
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return mr_err_set(err, MURR_EIO, "cannot create directory '%s': %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return mr_err_set(err, MURR_EIO, "cannot create directory '%s': %s", tmp, strerror(errno));
    if (!mr_fs_is_dir(tmp))
        return mr_err_set(err, MURR_EIO, "'%s' exists and is not a directory", tmp);
    return 0;
}

int mr_fs_fsync_dir(const char *dir, mr_error_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mr_err_set(err, MURR_EIO, "cannot open directory '%s': %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return mr_err_set(err, MURR_EIO, "fsync of directory '%s' failed: %s", dir, strerror(e));
    return 0;
}

static int write_full(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int mr_fs_write_atomic(const char *path, const void *data, size_t len, mr_error_t *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return mr_err_set(err, MURR_EINVAL, "path '%s' too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return mr_err_set(err, MURR_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    if (write_full(fd, data, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return mr_err_set(err, e == ENOSPC || e == EDQUOT ? MURR_ENOSPC : MURR_EIO, "cannot write '%s' (%zu bytes): %s",
                          tmp, len, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return mr_err_set(err, MURR_EIO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return mr_fs_fsync_dir(dir, err);
}

int mr_fs_read_all(const char *path, uint8_t **out, size_t *len, mr_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mr_err_set(err, errno == ENOENT ? MURR_ENOTFOUND : MURR_EIO, "cannot open '%s': %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mr_err_set(err, MURR_EIO, "cannot stat '%s': %s", path, strerror(e));
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = mr_malloc(n + 1);
    if (buf == NULL) {
        close(fd);
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate %zu bytes to read '%s'", n + 1, path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            mr_free(buf);
            return mr_err_set(err, MURR_EIO, "cannot read '%s' at offset %zu: %s", path, got, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int mr_fs_remove_tree(const char *path, mr_error_t *err)
{
    if (!mr_fs_exists(path))
        return 0;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return mr_err_set(err, MURR_EIO, "cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

bool mr_fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

bool mr_fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
