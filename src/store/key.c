/*
 * key.c: access keys (id, secret, scope) used to sign management requests
 * (see store.h).  The secret is kept in clear: the server needs it to
 * verify HMAC signatures, exactly like FC and AWS keep theirs.
 */
#include "store/internal.h"
#include "store/store.h"

#include "base/alloc.h"
#include "base/util.h"

#include <errno.h>
#include <string.h>

static void read_key(sqlite3_stmt *stmt, struct nb_store_key *out)
{
    out->id = nb_store_column_dup(stmt, 0);
    out->secret = nb_store_column_dup(stmt, 1);
    out->scope = nb_store_column_dup(stmt, 2);
    out->created_ms = sqlite3_column_int64(stmt, 3);
}

static int key_create_locked(struct nb_store *st, const struct nb_store_key *key,
                             struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(
        st, "INSERT INTO keys (id, secret, scope, created) VALUES (?1, ?2, ?3, ?4)", &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, key->id);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 2, key->secret);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 3, key->scope);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, nb_wall_ms());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return nb_err_set(err, -EEXIST, "access key '%s' already exists", key->id);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "insert key");
    return 0;
}

int nb_store_key_create(struct nb_store *st, const struct nb_store_key *key, struct nb_err *err)
{
    if (!key->id || !key->id[0] || !key->secret || !key->secret[0] || !key->scope)
        return nb_err_set(err, -EINVAL, "access key: id, secret and scope are required");
    pthread_mutex_lock(&st->lock);
    int r = key_create_locked(st, key, err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int key_get_locked(struct nb_store *st, const char *id, struct nb_store_key *out,
                          struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "SELECT id, secret, scope, created FROM keys WHERE id = ?1", &stmt,
                             err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return nb_err_set(err, -ENOENT, "access key '%s' not found", id);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "get key");
    read_key(stmt, out);
    return 0;
}

int nb_store_key_get(struct nb_store *st, const char *id, struct nb_store_key *out,
                     struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->lock);
    int r = key_get_locked(st, id, out, err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int key_delete_locked(struct nb_store *st, const char *id, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "DELETE FROM keys WHERE id = ?1", &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "delete key");
    if (sqlite3_changes(st->db) == 0)
        return nb_err_set(err, -ENOENT, "access key '%s' not found", id);
    return 0;
}

int nb_store_key_delete(struct nb_store *st, const char *id, struct nb_err *err)
{
    pthread_mutex_lock(&st->lock);
    int r = key_delete_locked(st, id, err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int key_list_locked(struct nb_store *st, struct nb_store_key **out, size_t *n,
                           struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "SELECT id, secret, scope, created FROM keys ORDER BY created, id",
                             &stmt, err);
    if (r < 0)
        return r;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = nb_xrealloc(*out, cap * sizeof(**out));
        }
        read_key(stmt, &(*out)[(*n)++]);
    }
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "list keys");
    return 0;
}

int nb_store_key_list(struct nb_store *st, struct nb_store_key **out, size_t *n, struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&st->lock);
    int r = key_list_locked(st, out, n, err);
    pthread_mutex_unlock(&st->lock);
    if (r < 0) {
        nb_store_keys_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return r;
}
