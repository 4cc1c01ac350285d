/*
 * codestore.h: content-addressed code packages.
 *
 * A package is a zip.  It is stored once per sha256 digest under
 * DIR/blobs/<digest>.zip and unpacked once per digest under
 * DIR/trees/<digest>/ with libarchive's secure-extract flags.  Unpacking
 * refuses (and leaves nothing behind): entries with "..", absolute paths,
 * symlinks or hardlinks that point outside the tree, device/fifo/socket
 * entries, a zip over max_zip_bytes, and more than max_unpacked_bytes or
 * max_entries once unpacked (zip bombs, measured on the bytes actually
 * written, not on what the headers claim).
 *
 * Thread-safe: every function may run on a worker thread; two threads
 * storing the same digest at once both succeed with one copy on disk.
 */
#ifndef NB_CODESTORE_CODESTORE_H
#define NB_CODESTORE_CODESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct nb_codestore_limits {
    uint64_t max_zip_bytes;      /* default 50 MiB */
    uint64_t max_unpacked_bytes; /* default 500 MiB */
    uint64_t max_entries;        /* default 100000 */
};

struct nb_codestore;

/* Opens (creating) the store under dir.  limits may be NULL for the defaults. */
int nb_codestore_open(const char *dir, const struct nb_codestore_limits *limits,
                      struct nb_codestore **out, struct nb_err *err);
void nb_codestore_close(struct nb_codestore *cs);

/*
 * Stores a zip held in memory: verifies and unpacks it (if that digest is
 * not unpacked yet), then keeps the zip.  Sets digest (64 hex + NUL).
 * Errors: -EFBIG (too large zipped or unpacked: HTTP 413), -EINVAL (not a
 * zip, unsafe entry, corrupt: HTTP 400), others (I/O: 500); err says which
 * entry and why, e.g. "entry '../evil': path escapes the package".
 */
int nb_codestore_put(struct nb_codestore *cs, const void *zip, size_t len, char digest[65],
                     struct nb_err *err);
/* 1 if the digest is stored and unpacked, else 0. */
int nb_codestore_has(struct nb_codestore *cs, const char *digest);
/* Host path of the unpacked tree for digest (caller frees), or NULL if absent. */
char *nb_codestore_tree(struct nb_codestore *cs, const char *digest);
/* Size in bytes of the stored zip, or -ENOENT. */
int64_t nb_codestore_size(struct nb_codestore *cs, const char *digest);
/* Removes the blob and tree of digest (when no function uses it any more). */
int nb_codestore_remove(struct nb_codestore *cs, const char *digest);

#endif
