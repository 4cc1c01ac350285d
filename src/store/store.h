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

/*
 * Custom domains (domain.c): table custom_domains (name PK, config,
 * created, modified); config is the API's JSON document (api/domain.c).
 * put follows mode and sets created_ms/modified_ms in d; list gives a page
 * by name (page->prefix, page->start, page->limit; NULL page: all) with
 * *next the name of the first domain past it (owned, NULL if none); *out
 * is freed with nb_store_domains_free.
 */
struct nb_store_domain {
    char *name;
    char *config;
    int64_t created_ms, modified_ms;
};

void nb_store_domain_release(struct nb_store_domain *d);
void nb_store_domains_free(struct nb_store_domain *v, size_t n);
int nb_store_domain_get(struct nb_store *st, const char *name, struct nb_store_domain *out,
                        struct nb_err *err);
int nb_store_domain_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_domain *d,
                        struct nb_err *err);
int nb_store_domain_delete(struct nb_store *st, const char *name, struct nb_err *err);
int nb_store_domain_list(struct nb_store *st, const struct nb_store_page *page,
                         struct nb_store_domain **out, size_t *n, char **next, struct nb_err *err);

/*
 * Versions (version.c): an immutable snapshot of a service (FC 2.0): its
 * config and every function's config, code checksum and triggers, numbered
 * 1, 2, ... per service (ids are never reused, even after a delete).  Tables
 * versions / version_functions; both go with their service (ON DELETE
 * CASCADE).  Strings are owned (nb_store_version_release).
 */
struct nb_store_version_fn {
    char *function;
    char *config;                    /* the function's stored document at publish time */
    char *code_checksum;             /* may be NULL */
    char *triggers;                  /* JSON array text of the function's trigger documents */
    int64_t created_ms, modified_ms; /* the function's own times */
};

struct nb_store_version {
    char *service;
    int64_t id;
    char *description;
    char *service_config; /* the service's stored document at publish time */
    int64_t created_ms;
    struct nb_store_version_fn *fns; /* by function name; filled by get/publish/list(with_fns) */
    size_t nfns;
};

void nb_store_version_release(struct nb_store_version *v);
void nb_store_versions_free(struct nb_store_version *v, size_t n);
/* Snapshots the service now (one transaction) as its next version; -ENOENT without the service. */
int nb_store_version_publish(struct nb_store *st, const char *service, const char *description,
                             struct nb_store_version *out, struct nb_err *err);
int nb_store_version_get(struct nb_store *st, const char *service, int64_t id,
                         struct nb_store_version *out, struct nb_err *err);
/*
 * Versions of service, newest first, with id < before (0: from the newest),
 * at most limit (0: all); with_fns also reads their functions.  *out is
 * freed with nb_store_versions_free.
 */
int nb_store_version_list(struct nb_store *st, const char *service, int64_t before, size_t limit,
                          int with_fns, struct nb_store_version **out, size_t *n,
                          struct nb_err *err);
/* -ENOENT if missing; -EMLINK while an alias points at it (err names the alias). */
int nb_store_version_delete(struct nb_store *st, const char *service, int64_t id,
                            struct nb_err *err);

/*
 * Aliases (version.c): a name pointing at a version, optionally sending
 * `weight` (0..1) of the traffic to version2 (0: none).
 */
struct nb_store_alias {
    char *service;
    char *name;
    int64_t version;
    int64_t version2;
    double weight;
    char *description;
    int64_t created_ms, modified_ms;
};

void nb_store_alias_release(struct nb_store_alias *a);
void nb_store_aliases_free(struct nb_store_alias *a, size_t n);
int nb_store_alias_get(struct nb_store *st, const char *service, const char *name,
                       struct nb_store_alias *out, struct nb_err *err);
/*
 * Writes the alias per mode (created/modified set in a); -ENOENT if the
 * service or a version it names is missing (err says which), -EEXIST on a
 * create of an existing alias.
 */
int nb_store_alias_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_alias *a,
                       struct nb_err *err);
int nb_store_alias_delete(struct nb_store *st, const char *service, const char *name,
                          struct nb_err *err);
/* Every alias of service by name (*out freed with nb_store_aliases_free). */
int nb_store_alias_list(struct nb_store *st, const char *service, struct nb_store_alias **out,
                        size_t *n, struct nb_err *err);

/*
 * Usage (usage.c): one record per invocation (table usage_records, kept
 * for a retention period) and their sums per function per UTC hour
 * (usage_hourly), written in the same transaction so that the sums always
 * equal the records they came from.  mb_ms = memory_mb * billed_ms is an
 * integer, so GB-s (mb_ms / 1024 / 1000) sum exactly.
 */
struct nb_usage_record {
    int64_t time_ms; /* wall clock at the end of the invocation */
    char request_id[40];
    char service[129];
    char function[129];
    char version[24];     /* "LATEST" or the version id that ran */
    uint64_t duration_us; /* execution time */
    uint64_t billed_ms;   /* duration rounded up to 1 ms */
    uint32_t memory_mb;
    uint64_t mb_ms;   /* memory_mb * billed_ms */
    uint64_t init_us; /* cold start: the instance's init duration, else 0 */
    int cold;
    char status[24]; /* "success", "handled_error", "timeout", ... */
};

struct nb_usage_sum {
    char *service;
    char *function;
    uint64_t invocations, errors, cold_starts, duration_us, billed_ms, mb_ms;
};

/* Inserts n records and adds them to their hours' sums, in one transaction. */
int nb_store_usage_insert(struct nb_store *st, const struct nb_usage_record *v, size_t n,
                          struct nb_err *err);
/*
 * Sums per function over the hours starting in [since_ms, until_ms) (both
 * rounded down to the hour), optionally of one service, by service/function.
 * *out freed with nb_store_usage_sums_free.
 */
int nb_store_usage_sums(struct nb_store *st, int64_t since_ms, int64_t until_ms,
                        const char *service, struct nb_usage_sum **out, size_t *n,
                        struct nb_err *err);
void nb_store_usage_sums_free(struct nb_usage_sum *v, size_t n);
/*
 * Per-invocation records with time in [since_ms, until_ms), optionally of
 * one service (and function), oldest first, at most limit (0: all).
 * *out is freed with free().
 */
int nb_store_usage_records(struct nb_store *st, int64_t since_ms, int64_t until_ms,
                           const char *service, const char *function, size_t limit,
                           struct nb_usage_record **out, size_t *n, struct nb_err *err);
/* Deletes the per-invocation records older than before_ms (the hourly sums stay). */
int nb_store_usage_prune(struct nb_store *st, int64_t before_ms, struct nb_err *err);

/*
 * The async queue (store/queue.c; docs/internals/queue.md): invocation
 * records and the last fire time of each timer trigger, in the same
 * database file but through a connection of their own that runs with
 * synchronous=FULL, so a commit is on disk (fsync'd) when it returns.
 *   invocations (seq INTEGER PK, id UNIQUE, service, function, qualifier,
 *                kind, state, attempts, created, started, finished,
 *                next_run, meta, payload, result, error, http_status)
 *   timer_fires (service, function, trigger, last_fire, PK(all three))
 * Calls block on disk: worker threads only.  The handle is thread-safe
 * (one connection guarded by a mutex).
 */
struct nb_store_queue;

enum nb_qstate {
    NB_QSTATE_QUEUED = 0,
    NB_QSTATE_RUNNING = 1,
    NB_QSTATE_SUCCEEDED = 2,
    NB_QSTATE_FAILED = 3,
    NB_QSTATE_EXPIRED = 4,
};

/* One invocation record.  Strings and blobs are owned (nb_store_qrow_release). */
struct nb_store_qrow {
    int64_t seq; /* the row's place in the queue (FIFO order) */
    char *id;
    char *service, *function, *qualifier;
    int kind; /* the queue's job kind (queue/queue.h) */
    int state;
    int attempts;
    int64_t created_ms, started_ms, finished_ms, next_ms;
    char *meta; /* JSON text */
    void *payload;
    size_t payload_len;
    void *result;
    size_t result_len;
    char *error;
    int http_status;
};

enum nb_store_qop_kind {
    NB_QOP_INSERT, /* row: id, service, function, qualifier, kind, meta, payload, created, next */
    NB_QOP_CLAIM,  /* row.seq, row.started_ms; out: state RUNNING, attempts + 1, the row (owned) */
    NB_QOP_FINISH, /* row.seq, state, finished_ms, result, error, http_status */
    NB_QOP_RETRY,  /* row.seq, next_ms, error; refund: give the attempt back */
};

/*
 * One write of a batch.  An INSERT with timer_trigger set also records
 * timer_ms as that trigger's last fire, and is skipped (applied = 0) when a
 * fire at or after timer_ms is recorded already: a scheduled time enqueues
 * at most once.  A CLAIM / FINISH / RETRY of a row that is gone, or (CLAIM)
 * not queued, is skipped too.
 */
struct nb_store_qop {
    enum nb_store_qop_kind kind;
    struct nb_store_qrow row; /* borrowed inputs; CLAIM outputs are owned by row */
    const char *timer_trigger;
    int64_t timer_ms;
    int refund;
    int applied; /* out */
};

/* Opens the queue's connection to the database of st (already migrated). */
int nb_store_queue_open(struct nb_store *st, struct nb_store_queue **out, struct nb_err *err);
void nb_store_queue_close(struct nb_store_queue *q);
void nb_store_qrow_release(struct nb_store_qrow *row);
/* Applies ops in one transaction (all or none), fsync'd before it returns. */
int nb_store_queue_apply(struct nb_store_queue *q, struct nb_store_qop *ops, size_t n,
                         struct nb_err *err);
/* Start-up: rows left RUNNING by a crash go back to QUEUED; *n says how many. */
int nb_store_queue_recover(struct nb_store_queue *q, int *n, struct nb_err *err);
/*
 * Calls cb for every QUEUED row in queue order, without meta, payload or
 * result (they stay on disk until the row is claimed).
 */
int nb_store_queue_scan(struct nb_store_queue *q,
                        void (*cb)(const struct nb_store_qrow *row, void *arg), void *arg,
                        struct nb_err *err);
/* The row with id (without payload), or -ENOENT. */
int nb_store_queue_get(struct nb_store_queue *q, const char *id, struct nb_store_qrow *out,
                       struct nb_err *err);
/*
 * The newest rows (without payload or result) of service/function (either
 * may be NULL: any), at most limit; *out freed with nb_store_qrows_free.
 */
int nb_store_queue_list(struct nb_store_queue *q, const char *service, const char *function,
                        size_t limit, struct nb_store_qrow **out, size_t *n, struct nb_err *err);
void nb_store_qrows_free(struct nb_store_qrow *rows, size_t n);
/* Deletes finished rows (succeeded, failed, expired) that finished before before_ms. */
int nb_store_queue_prune(struct nb_store_queue *q, int64_t before_ms, int *n, struct nb_err *err);

#endif
