/*
 * codestore.c: content-addressed code packages (see codestore.h and
 * docs/internals/codestore.md).
 *
 * OVERALL DESIGN
 *
 *   DIR/blobs/<digest>.zip   the zip as uploaded (written with tmp+fsync+rename)
 *   DIR/trees/<digest>/      its unpacked tree (files 0644/0755, dirs 0755)
 *   DIR/tmp/<random>/        unpacking in progress; emptied at open
 *
 * A put hashes the bytes, returns at once if the tree and blob exist, and
 * otherwise unpacks into a fresh DIR/tmp/<random>/, writes the blob, then
 * renames the temporary tree to trees/<digest> in one step: a tree is either
 * complete or absent.  Any failure removes the temporary tree, so a refused
 * zip leaves nothing behind.  Two puts of the same digest race only on that
 * rename: the loser sees EEXIST/ENOTEMPTY, drops its copy and succeeds.
 *
 * Each entry is checked by us before libarchive sees it (to give a clear
 * error naming the entry), and libarchive's secure-extract flags check again
 * on the way to disk.  Entry paths are handed to archive_write_disk as
 * absolute paths below the temporary tree (never via chdir, which would not
 * be thread-safe), so ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS cannot be used:
 * our own check refuses absolute entry names instead.  The store directory
 * is canonicalised with realpath() at open because SECURE_SYMLINKS refuses
 * any symlink on the way, including in the store's own path.
 */
#include "codestore/codestore.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/util.h"

#define MIB (1024ull * 1024ull)
/* Longest entry name we accept: keeps full paths well under PATH_MAX. */
#define MAX_ENTRY_NAME 1024

struct nb_codestore {
    char *dir; /* canonical, no trailing slash */
    struct nb_codestore_limits limits;
    pthread_mutex_t blob_lock; /* nb_write_file_atomic's tmp name is per process */
};

/* Formats a byte count for messages: "60 MB", "1.5 MB", "12 KB", "100 bytes". */
static void fmt_size(uint64_t n, char out[32])
{
    if (n >= MIB) {
        double v = (double)n / (double)MIB;
        if (n % MIB == 0 || v >= 10)
            snprintf(out, 32, "%.0f MB", v);
        else
            snprintf(out, 32, "%.1f MB", v);
    } else if (n >= 1024) {
        snprintf(out, 32, "%.0f KB", (double)n / 1024.0);
    } else {
        snprintf(out, 32, "%llu bytes", (unsigned long long)n);
    }
}

/* Copies name into out for an error message: control bytes become '?', long names are cut. */
static void quote_name(const char *name, char out[128])
{
    size_t i = 0;
    for (; name && name[i] && i < 120; i++)
        out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
    if (name && name[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

static int valid_digest(const char *d)
{
    if (!d)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return 0;
    return d[64] == '\0';
}

static int is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int nb_codestore_open(const char *dir, const struct nb_codestore_limits *limits,
                      struct nb_codestore **out, struct nb_err *err)
{
    int r = nb_mkdir_p(dir, 0755);
    if (r < 0)
        return nb_err_sys(err, r, "create code store '%s'", dir);
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return nb_err_sys(err, -errno, "resolve code store '%s'", dir);

    const char *subs[] = {"blobs", "trees", "tmp"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(subs); i++) {
        _cleanup_free_ char *p = nb_xasprintf("%s/%s", real, subs[i]);
        if (i == 2) /* leftovers of a crash in the middle of a put */
            nb_rm_rf(p);
        r = nb_mkdir_p(p, 0755);
        if (r < 0)
            return nb_err_sys(err, r, "create '%s'", p);
    }

    struct nb_codestore *cs = nb_xcalloc(1, sizeof(*cs));
    cs->dir = nb_xstrdup(real);
    cs->limits.max_zip_bytes = 50 * MIB;
    cs->limits.max_unpacked_bytes = 500 * MIB;
    cs->limits.max_entries = 100000;
    if (limits) {
        if (limits->max_zip_bytes)
            cs->limits.max_zip_bytes = limits->max_zip_bytes;
        if (limits->max_unpacked_bytes)
            cs->limits.max_unpacked_bytes = limits->max_unpacked_bytes;
        if (limits->max_entries)
            cs->limits.max_entries = limits->max_entries;
    }
    pthread_mutex_init(&cs->blob_lock, NULL);
    *out = cs;
    return 0;
}

void nb_codestore_close(struct nb_codestore *cs)
{
    if (!cs)
        return;
    pthread_mutex_destroy(&cs->blob_lock);
    free(cs->dir);
    free(cs);
}

/*
 * Checks an entry name and writes its clean relative form ("a/b/c", no ".",
 * no empty components) into clean.  Returns 0, or -EINVAL with err naming
 * the entry.  An empty clean path (e.g. "./") is valid only for directories;
 * the caller skips those.
 */
static int check_name(const char *name, char *clean, size_t cap, struct nb_err *err)
{
    char q[128];
    quote_name(name, q);
    if (!name || !*name)
        return nb_err_set(err, -EINVAL, "entry with an empty name");
    size_t n = strlen(name);
    if (n > MAX_ENTRY_NAME || n >= cap)
        return nb_err_set(err, -EINVAL, "entry '%s': name is too long", q);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return nb_err_set(err, -EINVAL, "entry '%s': name has control characters", q);
    if (name[0] == '/')
        return nb_err_set(err, -EINVAL, "entry '%s': absolute paths are not allowed", q);

    size_t o = 0;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return nb_err_set(err, -EINVAL, "entry '%s': path escapes the package", q);
        if (len > 255)
            return nb_err_set(err, -EINVAL, "entry '%s': name is too long", q);
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (o)
                clean[o++] = '/';
            memcpy(clean + o, p, len);
            o += len;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    clean[o] = '\0';
    return 0;
}

/*
 * Checks a symlink target, given the clean path of the link.  The target
 * must be relative and, resolved from the link's directory, stay inside the
 * tree.  ".." is allowed only as leading components: after "a/", a ".."
 * would depend on what "a" is (itself perhaps a symlink), so "a/../x" is
 * refused too.  With libarchive refusing to extract through symlinks, every
 * link's directory is a real directory of the tree, so each link, and any
 * chain of them, resolves inside.
 */
static int check_symlink(const char *clean, const char *orig, const char *target,
                         struct nb_err *err)
{
    char q[128];
    quote_name(orig, q);
    if (!target || !*target)
        return nb_err_set(err, -EINVAL, "entry '%s': symlink has no target", q);
    if (strlen(target) > MAX_ENTRY_NAME)
        return nb_err_set(err, -EINVAL, "entry '%s': symlink target is too long", q);
    for (const char *c = target; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return nb_err_set(err, -EINVAL, "entry '%s': symlink target has control characters", q);
    if (target[0] == '/')
        return nb_err_set(err, -EINVAL, "entry '%s': symlink points outside the package", q);

    long depth = 0; /* components in the link's directory */
    for (const char *c = clean; *c; c++)
        if (*c == '/')
            depth++;
    int seen_normal = 0;
    const char *p = target;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (seen_normal || --depth < 0)
                return nb_err_set(err, -EINVAL, "entry '%s': symlink points outside the package",
                                  q);
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            seen_normal = 1;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return 0;
}

static int fix_mode(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DP)
        return chmod(path, 0755) < 0 ? -1 : 0;
    if (flag == FTW_F && S_ISREG(st->st_mode))
        return chmod(path, (st->st_mode & 0111) ? 0755 : 0644) < 0 ? -1 : 0;
    return 0;
}

/*
 * Unpacks zip into root (an existing empty directory).  Returns 0, -EINVAL
 * (not a zip, unsafe or corrupt entry), -EFBIG (a limit) or another -errno;
 * err says which entry and why.  On failure root holds a partial tree that
 * the caller removes.
 */
static int unpack(struct nb_codestore *cs, const void *zip, size_t len, const char *root,
                  struct nb_err *err)
{
    struct archive *ar = archive_read_new();
    struct archive *disk = archive_write_disk_new();
    struct archive_entry *entry;
    char clean[MAX_ENTRY_NAME + 1], full[PATH_MAX], q[128], lim[32];
    uint64_t written = 0, entries = 0;
    int r = 0;

    archive_read_support_format_zip(ar);
    archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                             ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                             ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME);
    if (archive_read_open_memory(ar, zip, len) != ARCHIVE_OK) {
        r = nb_err_set(err, -EINVAL, "not a zip archive");
        goto out;
    }

    for (;;) {
        int ar_r = archive_read_next_header(ar, &entry);
        if (ar_r == ARCHIVE_EOF)
            break;
        if (ar_r < ARCHIVE_WARN) {
            if (entries == 0 && archive_format(ar) == 0)
                r = nb_err_set(err, -EINVAL, "not a zip archive");
            else
                r = nb_err_set(err, -EINVAL, "corrupt zip archive: %s",
                               archive_error_string(ar) ? archive_error_string(ar) : "unknown");
            goto out;
        }
        if (++entries > cs->limits.max_entries) {
            r = nb_err_set(err, -EFBIG, "package has more than %llu entries",
                           (unsigned long long)cs->limits.max_entries);
            goto out;
        }

        const char *name = archive_entry_pathname(entry);
        quote_name(name, q);
        r = check_name(name, clean, sizeof(clean), err);
        if (r < 0)
            goto out;
        if (archive_entry_hardlink(entry)) {
            r = nb_err_set(err, -EINVAL, "entry '%s': hardlinks are not allowed", q);
            goto out;
        }
        mode_t type = archive_entry_filetype(entry);
        mode_t perm = archive_entry_perm(entry);
        switch (type) {
        case AE_IFREG:
            archive_entry_set_perm(entry, (perm & 0111) ? 0755 : 0644);
            break;
        case AE_IFDIR:
            archive_entry_set_perm(entry, 0755);
            break;
        case AE_IFLNK:
            r = check_symlink(clean, name, archive_entry_symlink(entry), err);
            if (r < 0)
                goto out;
            archive_entry_set_perm(entry, 0777);
            break;
        case AE_IFCHR:
        case AE_IFBLK:
            r = nb_err_set(err, -EINVAL, "entry '%s': device files are not allowed", q);
            goto out;
        case AE_IFIFO:
            r = nb_err_set(err, -EINVAL, "entry '%s': fifos are not allowed", q);
            goto out;
        case AE_IFSOCK:
            r = nb_err_set(err, -EINVAL, "entry '%s': sockets are not allowed", q);
            goto out;
        default:
            r = nb_err_set(err, -EINVAL, "entry '%s': unsupported entry type", q);
            goto out;
        }
        if (!clean[0]) {
            if (type == AE_IFDIR)
                continue; /* "./": the root itself */
            r = nb_err_set(err, -EINVAL, "entry '%s': not a valid file name", q);
            goto out;
        }
        /* What the header claims is a quick early refusal; the real count is below. */
        if (type == AE_IFREG && archive_entry_size_is_set(entry) &&
            (uint64_t)archive_entry_size(entry) > cs->limits.max_unpacked_bytes - written) {
            fmt_size(cs->limits.max_unpacked_bytes, lim);
            r = nb_err_set(err, -EFBIG, "package unpacks to more than %s", lim);
            goto out;
        }
        archive_entry_set_uid(entry, 0);
        archive_entry_set_gid(entry, 0);
        if (snprintf(full, sizeof(full), "%s/%s", root, clean) >= (int)sizeof(full)) {
            r = nb_err_set(err, -EINVAL, "entry '%s': name is too long", q);
            goto out;
        }
        archive_entry_copy_pathname(entry, full);

        ar_r = archive_write_header(disk, entry);
        if (ar_r < ARCHIVE_WARN) {
            r = nb_err_set(err, -EINVAL, "entry '%s': %s", q,
                           archive_error_string(disk) ? archive_error_string(disk)
                                                      : "cannot extract");
            goto out;
        }
        if (type == AE_IFREG) {
            const void *block;
            size_t size;
            la_int64_t offset;
            for (;;) {
                ar_r = archive_read_data_block(ar, &block, &size, &offset);
                if (ar_r == ARCHIVE_EOF)
                    break;
                if (ar_r < ARCHIVE_WARN) {
                    r = nb_err_set(err, -EINVAL, "entry '%s': corrupt data: %s", q,
                                   archive_error_string(ar) ? archive_error_string(ar) : "unknown");
                    goto out;
                }
                written += size;
                if (written > cs->limits.max_unpacked_bytes) {
                    fmt_size(cs->limits.max_unpacked_bytes, lim);
                    r = nb_err_set(err, -EFBIG, "package unpacks to more than %s", lim);
                    goto out;
                }
                if (archive_write_data_block(disk, block, size, offset) < ARCHIVE_WARN) {
                    int e = archive_errno(disk);
                    r = nb_err_set(err, e > 0 ? -e : -EIO, "entry '%s': write: %s", q,
                                   archive_error_string(disk) ? archive_error_string(disk)
                                                              : "unknown");
                    goto out;
                }
            }
        }
        if (archive_write_finish_entry(disk) < ARCHIVE_WARN) {
            int e = archive_errno(disk);
            r = nb_err_set(err, e > 0 ? -e : -EIO, "entry '%s': %s", q,
                           archive_error_string(disk) ? archive_error_string(disk) : "unknown");
            goto out;
        }
    }
    if (archive_write_close(disk) < ARCHIVE_WARN) {
        int e = archive_errno(disk);
        r = nb_err_set(err, e > 0 ? -e : -EIO, "finish unpacking: %s",
                       archive_error_string(disk) ? archive_error_string(disk) : "unknown");
        goto out;
    }
    /* Parents created implicitly follow the umask: make everything readable by any uid. */
    if (nftw(root, fix_mode, 16, FTW_PHYS) < 0) {
        r = nb_err_sys(err, -errno, "set modes in '%s'", root);
        goto out;
    }
out:
    archive_read_free(ar);
    archive_write_free(disk);
    return r;
}

/* Writes the blob unless present; serialised because the tmp name is per process. */
static int write_blob(struct nb_codestore *cs, const char *blob, const void *zip, size_t len)
{
    int r = 0;
    pthread_mutex_lock(&cs->blob_lock);
    struct stat st;
    if (lstat(blob, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
        r = nb_write_file_atomic(blob, zip, len, 0644);
    pthread_mutex_unlock(&cs->blob_lock);
    return r;
}

int nb_codestore_put(struct nb_codestore *cs, const void *zip, size_t len, char digest[65],
                     struct nb_err *err)
{
    if ((uint64_t)len > cs->limits.max_zip_bytes) {
        char a[32], b[32];
        fmt_size(len, a);
        fmt_size(cs->limits.max_zip_bytes, b);
        return nb_err_set(err, -EFBIG, "package is %s zipped, the limit is %s", a, b);
    }
    if (len == 0)
        return nb_err_set(err, -EINVAL, "not a zip archive");
    nb_sha256_hex(zip, len, digest);

    _cleanup_free_ char *tree = nb_xasprintf("%s/trees/%s", cs->dir, digest);
    _cleanup_free_ char *blob = nb_xasprintf("%s/blobs/%s.zip", cs->dir, digest);
    int r;
    if (is_dir(tree)) {
        /* Already unpacked (and so verified): only make sure the blob is there. */
        r = write_blob(cs, blob, zip, len);
        return r < 0 ? nb_err_sys(err, r, "write '%s'", blob) : 0;
    }

    unsigned char rnd[8];
    nb_random_bytes(rnd, sizeof(rnd));
    _cleanup_free_ char *tmp =
        nb_xasprintf("%s/tmp/%02x%02x%02x%02x%02x%02x%02x%02x", cs->dir, rnd[0], rnd[1], rnd[2],
                     rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (mkdir(tmp, 0755) < 0)
        return nb_err_sys(err, -errno, "create '%s'", tmp);

    r = unpack(cs, zip, len, tmp, err);
    if (r < 0)
        goto fail;
    r = write_blob(cs, blob, zip, len);
    if (r < 0) {
        nb_err_sys(err, r, "write '%s'", blob);
        goto fail;
    }
    if (rename(tmp, tree) < 0) {
        r = -errno;
        if (r == -EEXIST || r == -ENOTEMPTY) {
            nb_rm_rf(tmp); /* another put of the same bytes won */
            return 0;
        }
        nb_err_sys(err, r, "rename '%s' to '%s'", tmp, tree);
        goto fail;
    }
    return 0;
fail:
    nb_rm_rf(tmp);
    return r;
}

int nb_codestore_has(struct nb_codestore *cs, const char *digest)
{
    if (!valid_digest(digest))
        return 0;
    _cleanup_free_ char *tree = nb_xasprintf("%s/trees/%s", cs->dir, digest);
    _cleanup_free_ char *blob = nb_xasprintf("%s/blobs/%s.zip", cs->dir, digest);
    return is_dir(tree) && is_file(blob);
}

char *nb_codestore_tree(struct nb_codestore *cs, const char *digest)
{
    if (!valid_digest(digest))
        return NULL;
    char *tree = nb_xasprintf("%s/trees/%s", cs->dir, digest);
    if (!is_dir(tree)) {
        free(tree);
        return NULL;
    }
    return tree;
}

int64_t nb_codestore_size(struct nb_codestore *cs, const char *digest)
{
    if (!valid_digest(digest))
        return -ENOENT;
    _cleanup_free_ char *blob = nb_xasprintf("%s/blobs/%s.zip", cs->dir, digest);
    struct stat st;
    if (lstat(blob, &st) < 0 || !S_ISREG(st.st_mode))
        return -ENOENT;
    return (int64_t)st.st_size;
}

/*
 * Removes the tree (first moved into tmp/ so that it disappears in one step)
 * and the blob.  0, -ENOENT if neither existed, -EINVAL for a malformed
 * digest, or another -errno.
 */
int nb_codestore_remove(struct nb_codestore *cs, const char *digest)
{
    if (!valid_digest(digest))
        return -EINVAL;
    _cleanup_free_ char *tree = nb_xasprintf("%s/trees/%s", cs->dir, digest);
    _cleanup_free_ char *blob = nb_xasprintf("%s/blobs/%s.zip", cs->dir, digest);
    unsigned char rnd[8];
    nb_random_bytes(rnd, sizeof(rnd));
    _cleanup_free_ char *tmp =
        nb_xasprintf("%s/tmp/rm-%02x%02x%02x%02x%02x%02x%02x%02x", cs->dir, rnd[0], rnd[1], rnd[2],
                     rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    int found = 0, r = 0;
    if (rename(tree, tmp) == 0) {
        found = 1;
        r = nb_rm_rf(tmp);
    } else if (errno != ENOENT) {
        return -errno;
    }
    if (unlink(blob) == 0)
        found = 1;
    else if (errno != ENOENT && r == 0)
        r = -errno;
    if (r < 0)
        return r;
    return found ? 0 : -ENOENT;
}
