/*
 * pack.c: .nubisignore rules and the in-memory zip of a code directory.
 *
 * The walk is depth-first in sorted name order so that the same tree gives
 * the same entry order; an ignored directory is pruned without being read.
 * The archive is written through libarchive's callback interface into a
 * capped buffer (no temporary file); block padding is turned off so the
 * bytes are exactly the zip.
 */
#include "cli/pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/util.h"

/* Well above the server's 50 MB default; the server is the judge of the real limit. */
#define PACK_MAX ((size_t)1 << 30)
#define MAX_DEPTH 128

struct rule {
    char *pattern;
    int negate;
    int dir_only;
    int anchored;
};

struct nb_ignore {
    struct rule *rules;
    size_t n;
};

struct nb_ignore *nb_ignore_parse(const char *text)
{
    struct nb_ignore *ig = nb_xcalloc(1, sizeof(*ig));
    if (!text)
        return ig;
    size_t cap = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = nb_xstrndup(p, len);
        p += len + (nl ? 1 : 0);

        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        char *s = line;
        struct rule r = {0};
        if (*s == '#' || *s == '\0') {
            free(line);
            continue;
        }
        if (*s == '!') {
            r.negate = 1;
            s++;
        } else if (*s == '\\' && (s[1] == '#' || s[1] == '!')) {
            s++;
        }
        n = strlen(s);
        if (n > 0 && s[n - 1] == '/') {
            r.dir_only = 1;
            s[--n] = '\0';
        }
        if (!strncmp(s, "**/", 3)) {
            /* A leading "**" + "/" matches in all directories: "**" + "/name" is just "name". */
            if (!strchr(s + 3, '/'))
                s += 3;
            r.anchored = strchr(s, '/') != NULL;
        } else {
            r.anchored = strchr(s, '/') != NULL;
            if (*s == '/')
                s++;
        }
        if (*s == '\0') {
            free(line);
            continue;
        }
        r.pattern = nb_xstrdup(s);
        free(line);
        if (ig->n == cap) {
            cap = cap ? cap * 2 : 8;
            ig->rules = nb_xrealloc(ig->rules, cap * sizeof(*ig->rules));
        }
        ig->rules[ig->n++] = r;
    }
    return ig;
}

struct nb_ignore *nb_ignore_load(const char *dir, struct nb_err *err)
{
    _cleanup_free_ char *path = nb_xasprintf("%s/.nubisignore", dir);
    _cleanup_free_ char *text = nb_read_file(path, NULL);
    if (!text && errno != ENOENT) {
        nb_err_sys(err, -errno, "read '%s'", path);
        return NULL;
    }
    return nb_ignore_parse(text);
}

void nb_ignore_free(struct nb_ignore *ig)
{
    if (!ig)
        return;
    for (size_t i = 0; i < ig->n; i++)
        free(ig->rules[i].pattern);
    free(ig->rules);
    free(ig);
}

static int glob_match(const char *pattern, const char *path, int pathname)
{
    if (!strstr(pattern, "**"))
        return fnmatch(pattern, path, pathname ? FNM_PATHNAME : 0) == 0;
    /* '**' crosses directories: match without FNM_PATHNAME, and let a/STARSTAR/b match a/b. */
    if (fnmatch(pattern, path, 0) == 0)
        return 1;
    if (!strncmp(pattern, "**/", 3) && glob_match(pattern + 3, path, pathname))
        return 1;
    _cleanup_free_ char *collapsed = nb_xstrdup(pattern);
    char *m;
    while ((m = strstr(collapsed, "/**/")))
        memmove(m, m + 3, strlen(m + 3) + 1);
    return fnmatch(collapsed, path, 0) == 0;
}

static int rule_matches(const struct rule *r, const char *relpath, int is_dir)
{
    if (r->dir_only && !is_dir)
        return 0;
    if (r->anchored)
        return glob_match(r->pattern, relpath, 1);
    const char *base = strrchr(relpath, '/');
    return glob_match(r->pattern, base ? base + 1 : relpath, 0);
}

/* The verdict on relpath alone (its parents not considered): last matching rule wins. */
static int ignored_here(const struct nb_ignore *ig, const char *relpath, int is_dir)
{
    int ignored = 0;
    if (!ig)
        return 0;
    for (size_t i = 0; i < ig->n; i++)
        if (rule_matches(&ig->rules[i], relpath, is_dir))
            ignored = !ig->rules[i].negate;
    return ignored;
}

int nb_ignore_match(const struct nb_ignore *ig, const char *relpath, int is_dir)
{
    _cleanup_free_ char *p = nb_xstrdup(relpath);
    for (char *slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        int hit = ignored_here(ig, p, 1);
        *slash = '/';
        if (hit)
            return 1;
    }
    return ignored_here(ig, p, is_dir);
}

/* ---- zip writing ------------------------------------------------------ */

struct packer {
    struct archive *a;
    struct nb_buf out;
    const struct nb_ignore *ig;
    const char *ig_prefix;
    size_t files;
    struct nb_err *err;
};

static la_ssize_t write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
    struct packer *pk = ud;
    if (nb_buf_append(&pk->out, buf, len) < 0) {
        archive_set_error(a, ENOBUFS, "code package over %zu MB", PACK_MAX >> 20);
        return -1;
    }
    return (la_ssize_t)len;
}

static int archive_fail(struct packer *pk, const char *what)
{
    int e = archive_errno(pk->a);
    return nb_err_set(pk->err, e > 0 ? -e : -EIO, "zip '%s': %s", what,
                      archive_error_string(pk->a) ? archive_error_string(pk->a) : "error");
}

static int add_file(struct packer *pk, const char *full, const char *rel, const struct stat *st)
{
    _cleanup_close_ int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return nb_err_sys(pk->err, -errno, "open '%s'", full);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, rel);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, st->st_mode & 07777);
    archive_entry_set_size(e, st->st_size);
    archive_entry_set_mtime(e, st->st_mtime, 0);
    int rc = 0;
    if (archive_write_header(pk->a, e) != ARCHIVE_OK) {
        rc = archive_fail(pk, rel);
        goto out;
    }
    char buf[65536];
    off_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = nb_err_sys(pk->err, -errno, "read '%s'", full);
            goto out;
        }
        if (n == 0)
            break;
        if (total + n > st->st_size) {
            rc = nb_err_set(pk->err, -EAGAIN, "'%s' changed while being zipped", full);
            goto out;
        }
        if (archive_write_data(pk->a, buf, (size_t)n) < 0) {
            rc = archive_fail(pk, rel);
            goto out;
        }
        total += n;
    }
    if (total != st->st_size) {
        rc = nb_err_set(pk->err, -EAGAIN, "'%s' changed while being zipped", full);
        goto out;
    }
    pk->files++;
out:
    archive_entry_free(e);
    return rc;
}

static int add_symlink(struct packer *pk, const char *full, const char *rel, const struct stat *st)
{
    char target[PATH_MAX];
    ssize_t n = readlink(full, target, sizeof(target) - 1);
    if (n < 0)
        return nb_err_sys(pk->err, -errno, "readlink '%s'", full);
    target[n] = '\0';
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, rel);
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_perm(e, 0777);
    archive_entry_set_symlink(e, target);
    archive_entry_set_mtime(e, st->st_mtime, 0);
    int rc = archive_write_header(pk->a, e) == ARCHIVE_OK ? 0 : archive_fail(pk, rel);
    archive_entry_free(e);
    if (!rc)
        pk->files++;
    return rc;
}

static int add_dir_entry(struct packer *pk, const char *rel, const struct stat *st)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, rel);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, st->st_mode & 07777);
    archive_entry_set_mtime(e, st->st_mtime, 0);
    int rc = archive_write_header(pk->a, e) == ARCHIVE_OK ? 0 : archive_fail(pk, rel);
    archive_entry_free(e);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks full (whose path in the zip is rel, "" for the root). */
static int walk(struct packer *pk, const char *full, const char *rel, int depth)
{
    if (depth > MAX_DEPTH)
        return nb_err_set(pk->err, -ELOOP, "'%s': directories nested too deeply", full);
    DIR *d = opendir(full);
    if (!d)
        return nb_err_sys(pk->err, -errno, "open directory '%s'", full);
    size_t n = 0, cap = 16;
    char **names = nb_xmalloc(cap * sizeof(*names));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
            continue;
        if (n == cap) {
            cap *= 2;
            names = nb_xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = nb_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);

    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        _cleanup_free_ char *child = nb_xasprintf("%s/%s", full, names[i]);
        _cleanup_free_ char *crel =
            *rel ? nb_xasprintf("%s/%s", rel, names[i]) : nb_xstrdup(names[i]);
        struct stat st;
        if (lstat(child, &st) < 0) {
            rc = nb_err_sys(pk->err, -errno, "stat '%s'", child);
            break;
        }
        int is_dir = S_ISDIR(st.st_mode);
        _cleanup_free_ char *mpath = pk->ig_prefix && *pk->ig_prefix
                                         ? nb_xasprintf("%s/%s", pk->ig_prefix, crel)
                                         : nb_xstrdup(crel);
        if (ignored_here(pk->ig, mpath, is_dir))
            continue;
        if (is_dir) {
            rc = add_dir_entry(pk, crel, &st);
            if (!rc)
                rc = walk(pk, child, crel, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_file(pk, child, crel, &st);
        } else if (S_ISLNK(st.st_mode)) {
            rc = add_symlink(pk, child, crel, &st);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int nb_pack_dir(const char *dir, const struct nb_ignore *ig, const char *ig_prefix,
                struct nb_pack_result *out, struct nb_err *err)
{
    struct packer pk = {.ig = ig, .ig_prefix = ig_prefix, .err = err};
    memset(out, 0, sizeof(*out));
    nb_buf_init(&pk.out, PACK_MAX);
    pk.a = archive_write_new();
    int rc = 0;
    if (archive_write_set_format_zip(pk.a) != ARCHIVE_OK ||
        archive_write_set_format_option(pk.a, "zip", "compression", "deflate") != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(pk.a, 0) != ARCHIVE_OK ||
        archive_write_open2(pk.a, &pk, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
        rc = archive_fail(&pk, dir);
        goto out;
    }
    rc = walk(&pk, dir, "", 0);
    if (!rc && archive_write_close(pk.a) != ARCHIVE_OK)
        rc = archive_fail(&pk, dir);
out:
    archive_write_free(pk.a);
    if (rc) {
        nb_buf_release(&pk.out);
        return rc;
    }
    out->files = pk.files;
    out->zip = nb_buf_steal(&pk.out, &out->len);
    return 0;
}
