/*
 * test_codestore.c: the code store against real zips, benign and hostile.
 *
 * Zips are built here with libarchive's writer (to memory) and, where the
 * writer refuses to produce a hostile entry (device files, lying sizes),
 * patched byte by byte.  After every refusal the store must hold nothing:
 * blobs/, trees/ and tmp/ stay empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/util.h"
#include "codestore/codestore.h"

/* ---- building zips ---- */

struct zip {
    struct archive *a;
    unsigned char *buf;
    size_t cap, used;
};

static void zip_begin(struct zip *z, size_t cap)
{
    z->cap = cap;
    z->buf = nb_xmalloc(cap);
    z->used = 0;
    z->a = archive_write_new();
    assert_int_equal(archive_write_set_format_zip(z->a), ARCHIVE_OK);
    archive_write_set_bytes_in_last_block(z->a, 1);
    assert_int_equal(archive_write_open_memory(z->a, z->buf, z->cap, &z->used), ARCHIVE_OK);
}

static void zip_add(struct zip *z, const char *name, mode_t type, mode_t perm, const void *data,
                    size_t len, const char *link)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (type == AE_IFREG)
        archive_entry_set_size(e, (la_int64_t)len);
    if (link)
        archive_entry_set_symlink(e, link);
    assert_int_equal(archive_write_header(z->a, e), ARCHIVE_OK);
    if (type == AE_IFREG && len > 0)
        assert_int_equal(archive_write_data(z->a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static void zip_file(struct zip *z, const char *name, const char *text)
{
    zip_add(z, name, AE_IFREG, 0644, text, strlen(text), NULL);
}

static size_t zip_end(struct zip *z)
{
    assert_int_equal(archive_write_close(z->a), ARCHIVE_OK);
    archive_write_free(z->a);
    return z->used;
}

/* Replaces every occurrence of from by to (same length) in buf; returns the count. */
static int patch(unsigned char *buf, size_t len, const char *from, const char *to)
{
    size_t n = strlen(from);
    int count = 0;
    assert_int_equal(strlen(to), n);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, from, n) == 0) {
            memcpy(buf + i, to, n);
            count++;
        }
    return count;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Visits each central directory header (PK\1\2) of a zip. */
#define FOR_EACH_CDH(buf, len, p)                                                                  \
    for (unsigned char *p = (buf); p + 46 <= (buf) + (len); p++)                                   \
        if (p[0] == 'P' && p[1] == 'K' && p[2] == 1 && p[3] == 2)

/* ---- fixture ---- */

struct fx {
    char dir[64];
    struct nb_codestore *cs;
};

static int open_store(struct fx *f, const struct nb_codestore_limits *lim)
{
    struct nb_err err = {0};
    int r = nb_codestore_open(f->dir, lim, &f->cs, &err);
    if (r < 0)
        fprintf(stderr, "open: %s\n", err.msg);
    return r;
}

static int setup_lim(void **state, const struct nb_codestore_limits *lim)
{
    struct fx *f = nb_xcalloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/nb-codestore-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(open_store(f, lim), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_lim(state, NULL);
}

static int setup_small(void **state)
{
    struct nb_codestore_limits lim = {
        .max_zip_bytes = 4 * 1024 * 1024, .max_unpacked_bytes = 1024 * 1024, .max_entries = 5};
    return setup_lim(state, &lim);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nb_codestore_close(f->cs);
    nb_rm_rf(f->dir);
    free(f);
    return 0;
}

static int count_dir(struct fx *f, const char *sub)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->dir, sub);
    DIR *d = opendir(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void assert_store_empty(struct fx *f)
{
    assert_int_equal(count_dir(f, "blobs"), 0);
    assert_int_equal(count_dir(f, "trees"), 0);
    assert_int_equal(count_dir(f, "tmp"), 0);
}

/* Puts zip, expects code, an error message containing want, and nothing left behind. */
static void expect_refused(struct fx *f, const void *zip, size_t len, int code, const char *want)
{
    char digest[65];
    struct nb_err err = {0};
    int r = nb_codestore_put(f->cs, zip, len, digest, &err);
    if (r != code || !strstr(err.msg, want))
        fprintf(stderr, "got %d '%s', want %d '%s'\n", r, err.msg, code, want);
    assert_int_equal(r, code);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, want));
    assert_store_empty(f);
}

/* Builds a one-entry zip plus a benign file, so that the hostile entry is not alone. */
static size_t hostile(struct zip *z, const char *name, mode_t type, const char *link)
{
    zip_begin(z, 1 << 16);
    zip_file(z, "ok.txt", "fine\n");
    if (type == AE_IFREG)
        zip_file(z, name, "payload\n");
    else
        zip_add(z, name, type, type == AE_IFDIR ? 0755 : 0777, NULL, 0, link);
    return zip_end(z);
}

/* ---- tests ---- */

static void test_valid_package(void **state)
{
    struct fx *f = *state;
    struct zip z;
    zip_begin(&z, 1 << 16);
    zip_add(&z, "src/", AE_IFDIR, 0700, NULL, 0, NULL);
    zip_file(&z, "src/lib/deep/util.js", "module.exports = 1;\n");
    zip_file(&z, "index.js", "exports.handler = () => 'hi';\n");
    zip_add(&z, "bin/run", AE_IFREG, 0700, "#!/bin/sh\necho hi\n", 18, NULL);
    zip_add(&z, "secret", AE_IFREG, 04755, "x", 1, NULL); /* setuid dropped */
    zip_add(&z, "link.js", AE_IFLNK, 0777, NULL, 0, "index.js");
    zip_add(&z, "src/lib/up.js", AE_IFLNK, 0777, NULL, 0, "../../index.js");
    zip_add(&z, "./dot/./x.txt", AE_IFREG, 0600, "dot", 3, NULL);
    size_t len = zip_end(&z);

    char digest[65], want[65];
    struct nb_err err = {0};
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, digest, &err), 0);
    nb_sha256_hex(z.buf, len, want);
    assert_string_equal(digest, want);
    assert_int_equal(nb_codestore_has(f->cs, digest), 1);
    assert_int_equal(nb_codestore_size(f->cs, digest), (int64_t)len);

    _cleanup_free_ char *tree = nb_codestore_tree(f->cs, digest);
    assert_non_null(tree);
    char p[512], *data;
    size_t n;
    struct stat st;

    snprintf(p, sizeof(p), "%s/src/lib/deep/util.js", tree);
    data = nb_read_file(p, &n);
    assert_non_null(data);
    assert_string_equal(data, "module.exports = 1;\n");
    free(data);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    snprintf(p, sizeof(p), "%s/bin/run", tree);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    snprintf(p, sizeof(p), "%s/secret", tree);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    snprintf(p, sizeof(p), "%s/dot/x.txt", tree);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* Every directory, implicit or from an entry, is 0755. */
    const char *dirs[] = {"", "/src", "/src/lib", "/src/lib/deep", "/bin", "/dot"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(dirs); i++) {
        snprintf(p, sizeof(p), "%s%s", tree, dirs[i]);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0755);
    }

    char target[256];
    snprintf(p, sizeof(p), "%s/link.js", tree);
    ssize_t tl = readlink(p, target, sizeof(target) - 1);
    assert_true(tl > 0);
    target[tl] = '\0';
    assert_string_equal(target, "index.js");
    snprintf(p, sizeof(p), "%s/src/lib/up.js", tree);
    data = nb_read_file(p, &n); /* follows the link, inside the tree */
    assert_non_null(data);
    assert_string_equal(data, "exports.handler = () => 'hi';\n");
    free(data);

    assert_int_equal(count_dir(f, "tmp"), 0);
    free(z.buf);
}

static void test_dedupe(void **state)
{
    struct fx *f = *state;
    struct zip z;
    zip_begin(&z, 1 << 16);
    zip_file(&z, "a.txt", "same bytes\n");
    size_t len = zip_end(&z);

    char d1[65], d2[65];
    struct nb_err err = {0};
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, d1, &err), 0);
    /* A marker inside the tree shows that the second put does not unpack again. */
    _cleanup_free_ char *tree = nb_codestore_tree(f->cs, d1);
    char mark[512];
    snprintf(mark, sizeof(mark), "%s/.marker", tree);
    assert_int_equal(nb_write_file_atomic(mark, "m", 1, 0644), 0);
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, d2, &err), 0);
    assert_string_equal(d1, d2);
    assert_int_equal(access(mark, F_OK), 0);
    assert_int_equal(count_dir(f, "blobs"), 1);
    assert_int_equal(count_dir(f, "trees"), 1);
    assert_int_equal(count_dir(f, "tmp"), 0);

    /* A lost blob comes back on the next put of the same bytes. */
    char blob[512];
    snprintf(blob, sizeof(blob), "%s/blobs/%s.zip", f->dir, d1);
    assert_int_equal(unlink(blob), 0);
    assert_int_equal(nb_codestore_has(f->cs, d1), 0);
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, d2, &err), 0);
    assert_int_equal(nb_codestore_has(f->cs, d1), 1);
    free(z.buf);
}

static void test_has_tree_size_remove(void **state)
{
    struct fx *f = *state;
    const char *absent = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(nb_codestore_has(f->cs, absent), 0);
    assert_null(nb_codestore_tree(f->cs, absent));
    assert_int_equal(nb_codestore_size(f->cs, absent), -ENOENT);
    assert_int_equal(nb_codestore_remove(f->cs, absent), -ENOENT);
    /* Malformed digests never reach the file system. */
    assert_int_equal(nb_codestore_has(f->cs, "../../etc"), 0);
    assert_null(nb_codestore_tree(f->cs, "../trees"));
    assert_null(nb_codestore_tree(f->cs, "ABCDEF0000000000000000000000000000000000000000000000000"
                                         "000000000"));
    assert_int_equal(nb_codestore_size(f->cs, ""), -ENOENT);
    assert_int_equal(nb_codestore_remove(f->cs, "../blobs"), -EINVAL);
    assert_int_equal(nb_codestore_has(f->cs, NULL), 0);

    struct zip z;
    zip_begin(&z, 1 << 16);
    zip_file(&z, "dir/a.txt", "A\n");
    zip_add(&z, "dir/l", AE_IFLNK, 0777, NULL, 0, "a.txt");
    size_t len = zip_end(&z);
    char d[65];
    struct nb_err err = {0};
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, d, &err), 0);
    assert_int_equal(nb_codestore_has(f->cs, d), 1);
    assert_int_equal(nb_codestore_remove(f->cs, d), 0);
    assert_int_equal(nb_codestore_has(f->cs, d), 0);
    assert_null(nb_codestore_tree(f->cs, d));
    assert_int_equal(nb_codestore_size(f->cs, d), -ENOENT);
    assert_int_equal(nb_codestore_remove(f->cs, d), -ENOENT);
    assert_store_empty(f);
    /* And it can be stored again. */
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, d, &err), 0);
    assert_int_equal(nb_codestore_has(f->cs, d), 1);
    free(z.buf);
}

static void test_path_escapes(void **state)
{
    struct fx *f = *state;
    struct zip z;
    struct {
        const char *name, *want;
    } cases[] = {
        {"../evil", "entry '../evil': path escapes the package"},
        {"a/../../x", "entry 'a/../../x': path escapes the package"},
        {"a/../b", "entry 'a/../b': path escapes the package"},
        {"a/..", "entry 'a/..': path escapes the package"},
        {"x/y/../../../../etc/cron.d/evil", "path escapes the package"},
    };
    for (size_t i = 0; i < NB_ARRAY_SIZE(cases); i++) {
        size_t len = hostile(&z, cases[i].name, AE_IFREG, NULL);
        expect_refused(f, z.buf, len, -EINVAL, cases[i].want);
        free(z.buf);
    }

    /* Absolute names: the writer keeps them or not, so patch one in. */
    zip_begin(&z, 1 << 16);
    zip_file(&z, "ok.txt", "fine\n");
    zip_file(&z, "Xetc/passwd", "root::0:0::/:/bin/sh\n");
    size_t len = zip_end(&z);
    assert_true(patch(z.buf, len, "Xetc/passwd", "/etc/passwd") >= 2);
    expect_refused(f, z.buf, len, -EINVAL, "entry '/etc/passwd': absolute paths are not allowed");
    free(z.buf);

    /* A control character in a name. */
    zip_begin(&z, 1 << 16);
    zip_file(&z, "badXname", "x");
    len = zip_end(&z);
    assert_true(patch(z.buf, len, "badXname", "bad\nname") >= 2);
    expect_refused(f, z.buf, len, -EINVAL, "entry 'bad?name': name has control characters");
    free(z.buf);
}

static void test_symlinks(void **state)
{
    struct fx *f = *state;
    struct zip z;
    struct {
        const char *name, *target, *want;
    } cases[] = {
        {"link", "/etc/passwd", "entry 'link': symlink points outside the package"},
        {"link", "../../x", "entry 'link': symlink points outside the package"},
        {"link", "..", "entry 'link': symlink points outside the package"},
        {"a/b/link", "../../../x", "entry 'a/b/link': symlink points outside the package"},
        {"a/link", "b/../../..", "symlink points outside the package"},
        /* Lexically inside but would pass through another link: refused too. */
        {"a/link", "other/..", "symlink points outside the package"},
        {"link", "", "symlink has no target"},
    };
    for (size_t i = 0; i < NB_ARRAY_SIZE(cases); i++) {
        size_t len = hostile(&z, cases[i].name, AE_IFLNK, cases[i].target);
        expect_refused(f, z.buf, len, -EINVAL, cases[i].want);
        free(z.buf);
    }

    /* Two links that each look inside but chain outside: d/l -> .. (the root), e -> d/l/.. */
    zip_begin(&z, 1 << 16);
    zip_add(&z, "d/l", AE_IFLNK, 0777, NULL, 0, "..");
    zip_add(&z, "e", AE_IFLNK, 0777, NULL, 0, "d/l/..");
    size_t len = zip_end(&z);
    expect_refused(f, z.buf, len, -EINVAL, "entry 'e': symlink points outside the package");
    free(z.buf);

    /* Writing through a link (even one pointing inside) is refused by libarchive. */
    zip_begin(&z, 1 << 16);
    zip_add(&z, "real/", AE_IFDIR, 0755, NULL, 0, NULL);
    zip_add(&z, "s", AE_IFLNK, 0777, NULL, 0, "real");
    zip_file(&z, "s/f", "through the link\n");
    len = zip_end(&z);
    expect_refused(f, z.buf, len, -EINVAL, "entry 's/f'");
    free(z.buf);
}

/* The zip writer only makes files, dirs and links: retype an entry in the central directory. */
static void test_special_files(void **state)
{
    struct fx *f = *state;
    struct {
        uint32_t type;
        const char *want;
    } cases[] = {
        {0020000, "entry 'dev': device files are not allowed"},
        {0060000, "entry 'dev': device files are not allowed"},
        /* libarchive's zip reader turns a fifo into a plain file: no fifo on disk. */
        {0010000, NULL},
        {0140000, "entry 'dev': sockets are not allowed"},
    };
    for (size_t i = 0; i < NB_ARRAY_SIZE(cases); i++) {
        struct zip z;
        zip_begin(&z, 1 << 16);
        zip_file(&z, "ok.txt", "fine\n");
        zip_file(&z, "dev", "");
        size_t len = zip_end(&z);
        int patched = 0;
        FOR_EACH_CDH(z.buf, len, p)
        {
            uint16_t nlen = (uint16_t)(p[28] | p[29] << 8);
            if (nlen == 3 && memcmp(p + 46, "dev", 3) == 0) {
                uint32_t attr = rd32(p + 38);
                uint32_t mode = (attr >> 16 & 07777) | cases[i].type;
                wr32(p + 38, (attr & 0xffff) | mode << 16);
                patched++;
            }
        }
        assert_int_equal(patched, 1);
        if (cases[i].want) {
            expect_refused(f, z.buf, len, -EINVAL, cases[i].want);
        } else {
            char d[65], p[512];
            struct nb_err err = {0};
            assert_int_equal(nb_codestore_put(f->cs, z.buf, len, d, &err), 0);
            _cleanup_free_ char *tree = nb_codestore_tree(f->cs, d);
            snprintf(p, sizeof(p), "%s/dev", tree);
            struct stat st;
            assert_int_equal(lstat(p, &st), 0);
            assert_true(S_ISREG(st.st_mode));
            assert_int_equal(nb_codestore_remove(f->cs, d), 0);
        }
        free(z.buf);
    }
}

static void test_zip_bomb(void **state)
{
    struct fx *f = *state; /* limits: 1 MiB unpacked, 5 entries, 4 MiB zipped */
    size_t big = 2 * 1024 * 1024;
    char *zeros = nb_xcalloc(1, big);
    struct zip z;

    /* Honest header: refused early. */
    zip_begin(&z, 1 << 20);
    zip_add(&z, "zeros.bin", AE_IFREG, 0644, zeros, big, NULL);
    size_t len = zip_end(&z);
    assert_true(len < 64 * 1024); /* it is a bomb: tiny zipped */
    expect_refused(f, z.buf, len, -EFBIG, "package unpacks to more than 1 MB");

    /* Lying headers: claim 100 bytes everywhere sizes are recorded; only counting catches it. */
    int patched = 0;
    FOR_EACH_CDH(z.buf, len, p)
    {
        if (rd32(p + 24) == big) {
            wr32(p + 24, 100);
            patched++;
        }
    }
    for (unsigned char *p = z.buf; p + 30 <= z.buf + len; p++) {
        if (p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4 && rd32(p + 22) == big)
            wr32(p + 22, 100), patched++;
        if (p[0] == 'P' && p[1] == 'K' && p[2] == 7 && p[3] == 8 && rd32(p + 12) == big)
            wr32(p + 12, 100), patched++;
    }
    assert_true(patched >= 1);
    char digest[65];
    struct nb_err err = {0};
    int r = nb_codestore_put(f->cs, z.buf, len, digest, &err);
    assert_int_equal(r, -EFBIG); /* caught while writing, not from the headers */
    assert_non_null(strstr(err.msg, "package unpacks to more than 1 MB"));
    assert_store_empty(f);
    free(z.buf);

    /* Many files each under the limit, together over it. */
    zip_begin(&z, 1 << 20);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "part%d", i);
        zip_add(&z, name, AE_IFREG, 0644, zeros, 400 * 1024, NULL);
    }
    len = zip_end(&z);
    expect_refused(f, z.buf, len, -EFBIG, "package unpacks to more than 1 MB");
    free(z.buf);
    free(zeros);
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    struct zip z;
    zip_begin(&z, 1 << 16);
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%d", i);
        zip_file(&z, name, "x");
    }
    size_t len = zip_end(&z);
    expect_refused(f, z.buf, len, -EFBIG, "package has more than 5 entries");
    free(z.buf);

    size_t over = 4 * 1024 * 1024 + 1;
    unsigned char *junk = nb_xcalloc(1, over);
    expect_refused(f, junk, over, -EFBIG, "package is 4.0 MB zipped, the limit is 4 MB");
    free(junk);

    /* Exactly at the limits is fine. */
    zip_begin(&z, 1 << 20);
    char *mib = nb_xcalloc(1, 1024 * 1024);
    zip_add(&z, "one-mib", AE_IFREG, 0644, mib, 1024 * 1024, NULL);
    len = zip_end(&z);
    char d[65];
    struct nb_err err = {0};
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, d, &err), 0);
    free(mib);
    free(z.buf);
}

static void test_default_limit_message(void **state)
{
    struct fx *f = *state;
    size_t n = 60 * 1024 * 1024;
    unsigned char *junk = nb_xcalloc(1, n);
    expect_refused(f, junk, n, -EFBIG, "package is 60 MB zipped, the limit is 50 MB");
    free(junk);
}

static void test_not_a_zip(void **state)
{
    struct fx *f = *state;
    const char *text = "this is not a zip archive, just some text\n";
    expect_refused(f, text, strlen(text), -EINVAL, "not a zip archive");
    expect_refused(f, "", 0, -EINVAL, "not a zip archive");

    /* A tar is an archive but not a zip. */
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    unsigned char tarbuf[16384];
    size_t used = 0;
    archive_write_open_memory(a, tarbuf, sizeof(tarbuf), &used);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "x");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, 1);
    archive_write_header(a, e);
    archive_write_data(a, "x", 1);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    expect_refused(f, tarbuf, used, -EINVAL, "not a zip archive");

    /* A truncated or damaged zip. */
    struct zip z;
    zip_begin(&z, 1 << 16);
    char text2[4096];
    for (size_t i = 0; i < sizeof(text2); i++)
        text2[i] = (char)('a' + (i * 7919) % 26);
    zip_add(&z, "a.txt", AE_IFREG, 0644, text2, sizeof(text2), NULL);
    zip_add(&z, "b.txt", AE_IFREG, 0644, text2, sizeof(text2), NULL);
    size_t len = zip_end(&z);
    char digest[65];
    struct nb_err err = {0};
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len / 2, digest, &err), -EINVAL);
    assert_store_empty(f);
    /* Flip bytes in the compressed data of the first entry: CRC or inflate fails. */
    for (size_t i = 60; i < 200; i++)
        z.buf[i] ^= 0x5a;
    assert_int_equal(nb_codestore_put(f->cs, z.buf, len, digest, &err), -EINVAL);
    assert_store_empty(f);
    free(z.buf);
}

struct race {
    struct nb_codestore *cs;
    const void *zip;
    size_t len;
    int r;
    char digest[65];
};

static void *race_put(void *arg)
{
    struct race *r = arg;
    struct nb_err err = {0};
    r->r = nb_codestore_put(r->cs, r->zip, r->len, r->digest, &err);
    return NULL;
}

static void test_concurrent_same_digest(void **state)
{
    struct fx *f = *state;
    struct zip z;
    zip_begin(&z, 1 << 20);
    for (int i = 0; i < 50; i++) {
        char name[32], body[64];
        snprintf(name, sizeof(name), "d%d/f%d.txt", i % 5, i);
        snprintf(body, sizeof(body), "file %d\n", i);
        zip_file(&z, name, body);
    }
    size_t len = zip_end(&z);
    struct race rs[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        rs[i] = (struct race){.cs = f->cs, .zip = z.buf, .len = len, .r = 1};
        assert_int_equal(pthread_create(&th[i], NULL, race_put, &rs[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].r, 0);
        assert_string_equal(rs[i].digest, rs[0].digest);
    }
    assert_int_equal(count_dir(f, "blobs"), 1);
    assert_int_equal(count_dir(f, "trees"), 1);
    assert_int_equal(count_dir(f, "tmp"), 0);
    _cleanup_free_ char *tree = nb_codestore_tree(f->cs, rs[0].digest);
    char p[512];
    snprintf(p, sizeof(p), "%s/d4/f49.txt", tree);
    _cleanup_free_ char *data = nb_read_file(p, NULL);
    assert_non_null(data);
    assert_string_equal(data, "file 49\n");
    free(z.buf);
}

static void test_reopen_clears_tmp(void **state)
{
    struct fx *f = *state;
    char p[256];
    snprintf(p, sizeof(p), "%s/tmp/leftover/x", f->dir);
    assert_int_equal(nb_mkdir_p(p, 0755), 0);
    nb_codestore_close(f->cs);
    assert_int_equal(open_store(f, NULL), 0);
    assert_int_equal(count_dir(f, "tmp"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_package, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedupe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_has_tree_size_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_special_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zip_bomb, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_default_limit_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_zip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_same_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_clears_tmp, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
