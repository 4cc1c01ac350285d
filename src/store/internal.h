/*
 * internal.h: what the files of store/ share: the store handle, the
 * connection lock and small SQLite helpers.  Not for other modules.
 */
#ifndef NB_STORE_INTERNAL_H
#define NB_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "base/err.h"

struct nb_store {
    sqlite3 *db;
    pthread_mutex_t lock; /* held for each public call: one connection, serialised */
    char *path;
};

/* Fills err from the connection's last error; returns the mapped -errno. */
int nb_store_sql_err(struct nb_store *st, int rc, struct nb_err *err, const char *what);
/* Prepares sql; 0 or -errno with err. */
int nb_store_prepare(struct nb_store *st, const char *sql, sqlite3_stmt **out, struct nb_err *err);
/* Runs sql that returns no rows; 0 or -errno with err. */
int nb_store_exec(struct nb_store *st, const char *sql, struct nb_err *err);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback never fails loudly). */
int nb_store_begin(struct nb_store *st, struct nb_err *err);
int nb_store_commit(struct nb_store *st, struct nb_err *err);
void nb_store_rollback(struct nb_store *st);
/*
 * Ends the transaction nb_store_begin opened: commits when r (the result of
 * the work done in it) is 0, else rolls back.  Returns r, or the commit's
 * error.
 */
int nb_store_end(struct nb_store *st, int r, struct nb_err *err);
/* Binds s (NULL binds SQL NULL) as a transient text. */
int nb_store_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
/*
 * Binds s (not NULL) without a copy: s must stay as it is until the
 * statement is stepped, reset with new bindings, or finalized.
 */
int nb_store_bind_static(sqlite3_stmt *stmt, int idx, const char *s);
/* Column idx as a new string (caller frees), NULL for SQL NULL. */
char *nb_store_column_dup(sqlite3_stmt *stmt, int idx);

static inline void nb_store_finalizep(sqlite3_stmt **stmt)
{
    sqlite3_finalize(*stmt);
}
#define _cleanup_stmt_ __attribute__((cleanup(nb_store_finalizep)))

/*
 * Takes st's lock until the end of the enclosing scope:
 *     _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(st);
 * Declared before the scope's _cleanup_stmt_ statements, it is released
 * after they are finalized (cleanups run in reverse order of declaration).
 * The connection is opened NOMUTEX, so a statement finalized after an
 * explicit unlock raced the other threads' calls on it.
 */
static inline pthread_mutex_t *nb_store_lock(struct nb_store *st)
{
    pthread_mutex_lock(&st->lock);
    return &st->lock;
}
static inline void nb_store_unlockp(pthread_mutex_t **lock)
{
    pthread_mutex_unlock(*lock);
}
#define _cleanup_unlock_ __attribute__((cleanup(nb_store_unlockp)))

#endif
