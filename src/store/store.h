/*
 * store.h: the metadata store (SQLite): services, functions, triggers and
 * access keys.  The only module that includes sqlite3.h (DESIGN.md).
 *
 * OVERALL DESIGN
 * Each entity is kept as its full JSON document (text column `config`) plus
 * the key columns, a stable id and timestamps; the api layer owns the field
 * semantics, the store only the keys, the relations and the timestamps:
 *   services (name PK, id, config, created, modified)
 *   functions(service, name, id, config, code_checksum, created, modified,
 *             PK(service, name), FK service)
 *   triggers (service, function, name, config, created, modified,
 *             PK(service, function, name), FK function ON DELETE CASCADE)
 *   keys     (id PK, secret, scope, created)
 * The schema is versioned with PRAGMA user_version and a migrations array in
 * store.c: later modules (async queue, usage records, versions/aliases) add
 * a migration and their own file in this folder.
 *
 * The database runs in WAL mode, synchronous=NORMAL, foreign_keys=ON,
 * busy_timeout 5000 ms.  One connection guarded by a mutex: every call is
 * serialised, so the store may be used from any number of worker threads
 * (never from the event loop: calls block on disk).
 *
 * Timestamps are wall-clock milliseconds since the epoch, set by the store:
 * `created` on insert, `modified` on every write.
 *
 * Errors: 0 or a negative errno, with err filled: -ENOENT (no such row, or
 * its parent is missing on a put), -EEXIST (create-only put of an existing
 * row, key id taken), -ENOTEMPTY (deleting a service that has functions),
 * -EIO (any other SQLite failure; err has SQLite's message).
 */
#ifndef NB_STORE_STORE_H
#define NB_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct nb_store;

/* How a put treats an existing / a missing row. */
enum nb_store_mode {
    NB_STORE_CREATE, /* insert only: -EEXIST if the row exists */
    NB_STORE_UPDATE, /* update only: -ENOENT if the row is missing */
    NB_STORE_UPSERT, /* insert or update */
};

/*
 * One service, function or trigger.  All strings are owned by the row
 * (nb_store_row_release frees them).  Unused fields are NULL.
 */
struct nb_store_row {
    char *service;       /* every kind: the service name */
    char *function;      /* functions, triggers: the function name */
    char *trigger;       /* triggers: the trigger name */
    char *id;            /* services, functions: the stable id given at creation */
    char *config;        /* the entity's JSON document (text) */
    char *code_checksum; /* functions: sha256 hex of the code package */
    int64_t created_ms;
    int64_t modified_ms;
};

/* Rows of a list call.  next: the key of the first row past the page (owned), or NULL. */
struct nb_store_rows {
    struct nb_store_row *v;
    size_t n;
    char *next;
};

/*
 * A page of a list: rows whose name starts with prefix (NULL: any) and is
 * >= start (NULL: from the first), in byte order of the name, at most limit
 * (0: all).
 */
struct nb_store_page {
    const char *prefix;
    const char *start;
    size_t limit;
};

struct nb_store_key {
    char *id;
    char *secret;
    char *scope; /* "admin", ... */
    int64_t created_ms;
};

/*
 * Opens (creating) the SQLite database at path and migrates it to the
 * current schema.  The parent directory must exist.  *out is freed with
 * nb_store_close.  Fails if the file was written by a newer schema.
 */
int nb_store_open(const char *path, struct nb_store **out, struct nb_err *err);
void nb_store_close(struct nb_store *st);
/* The schema version this binary migrates to (PRAGMA user_version). */
int nb_store_schema_version(void);

void nb_store_row_release(struct nb_store_row *row);
void nb_store_rows_release(struct nb_store_rows *rows);
void nb_store_key_release(struct nb_store_key *key);
void nb_store_keys_free(struct nb_store_key *keys, size_t n);

/*
 * Gets fill *out (which the caller releases) or return -ENOENT.
 *
 * Puts take the key fields, `id` (used only when the row is inserted),
 * `config` and (functions) `code_checksum` from row, write them in one
 * transaction, and then update row in place with what is stored: the id
 * (kept from the existing row on update), created_ms and modified_ms.
 * A function put needs its service, a trigger put its function: -ENOENT
 * otherwise.
 *
 * Lists fill *out (released with nb_store_rows_release); an unknown parent
 * gives an empty list, not an error.
 */
int nb_store_service_get(struct nb_store *st, const char *name, struct nb_store_row *out,
                         struct nb_err *err);
int nb_store_service_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_row *row,
                         struct nb_err *err);
/* -ENOTEMPTY while the service has functions (checked in the same transaction). */
int nb_store_service_delete(struct nb_store *st, const char *name, struct nb_err *err);
int nb_store_service_list(struct nb_store *st, const struct nb_store_page *page,
                          struct nb_store_rows *out, struct nb_err *err);

int nb_store_function_get(struct nb_store *st, const char *service, const char *name,
                          struct nb_store_row *out, struct nb_err *err);
int nb_store_function_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_row *row,
                          struct nb_err *err);
/* Deletes the function and (cascade) its triggers. */
int nb_store_function_delete(struct nb_store *st, const char *service, const char *name,
                             struct nb_err *err);
int nb_store_function_list(struct nb_store *st, const char *service,
                           const struct nb_store_page *page, struct nb_store_rows *out,
                           struct nb_err *err);
/* 1 if some function of any service uses code_checksum, 0 if none, or -errno. */
int nb_store_code_in_use(struct nb_store *st, const char *code_checksum, struct nb_err *err);

int nb_store_trigger_get(struct nb_store *st, const char *service, const char *function,
                         const char *name, struct nb_store_row *out, struct nb_err *err);
int nb_store_trigger_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_row *row,
                         struct nb_err *err);
int nb_store_trigger_delete(struct nb_store *st, const char *service, const char *function,
                            const char *name, struct nb_err *err);
int nb_store_trigger_list(struct nb_store *st, const char *service, const char *function,
                          const struct nb_store_page *page, struct nb_store_rows *out,
                          struct nb_err *err);

/*
 * Access keys.  create: -EEXIST if the id is taken; created_ms is set by the
 * store (the key's field is ignored).  list: every key ordered by creation,
 * *out freed with nb_store_keys_free.
 */
int nb_store_key_create(struct nb_store *st, const struct nb_store_key *key, struct nb_err *err);
int nb_store_key_get(struct nb_store *st, const char *id, struct nb_store_key *out,
                     struct nb_err *err);
int nb_store_key_delete(struct nb_store *st, const char *id, struct nb_err *err);
int nb_store_key_list(struct nb_store *st, struct nb_store_key **out, size_t *n,
                      struct nb_err *err);

#endif
