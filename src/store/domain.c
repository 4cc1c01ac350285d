/*
 * domain.c: custom domains (FC's CustomDomain): a host name and its route
 * table, kept as the API's JSON document (see store.h).  The store only
 * knows the name (primary key) and the timestamps; the api layer
 * (api/domain.c) owns the document's fields and their validation.
 */
#include "store/internal.h"
#include "store/store.h"

#include "base/alloc.h"
#include "base/util.h"

#include <errno.h>
#include <string.h>

void nb_store_domain_release(struct nb_store_domain *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->config);
    memset(d, 0, sizeof(*d));
}

void nb_store_domains_free(struct nb_store_domain *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nb_store_domain_release(&v[i]);
    free(v);
}

static void read_domain(sqlite3_stmt *stmt, struct nb_store_domain *out)
{
    out->name = nb_store_column_dup(stmt, 0);
    out->config = nb_store_column_dup(stmt, 1);
    out->created_ms = sqlite3_column_int64(stmt, 2);
    out->modified_ms = sqlite3_column_int64(stmt, 3);
}

static int domain_get_locked(struct nb_store *st, const char *name, struct nb_store_domain *out,
                             struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(
        st, "SELECT name, config, created, modified FROM custom_domains WHERE name = ?1", &stmt,
        err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, name);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return nb_err_set(err, -ENOENT, "custom domain '%s' not found", name);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "get custom domain");
    read_domain(stmt, out);
    return 0;
}

int nb_store_domain_get(struct nb_store *st, const char *name, struct nb_store_domain *out,
                        struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->lock);
    int r = domain_get_locked(st, name, out, err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int domain_put_locked(struct nb_store *st, enum nb_store_mode mode,
                             struct nb_store_domain *d, struct nb_err *err)
{
    struct nb_store_domain old = {0};
    int r = domain_get_locked(st, d->name, &old, err);
    if (r < 0 && r != -ENOENT)
        return r;
    int exists = r == 0;
    int64_t created = exists ? old.created_ms : 0;
    nb_store_domain_release(&old);
    if (exists && mode == NB_STORE_CREATE)
        return nb_err_set(err, -EEXIST, "custom domain '%s' already exists", d->name);
    if (!exists && mode == NB_STORE_UPDATE)
        return nb_err_set(err, -ENOENT, "custom domain '%s' not found", d->name);
    int64_t now = nb_wall_ms();
    if (!exists)
        created = now;
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    r = nb_store_prepare(st,
                         "INSERT INTO custom_domains (name, config, created, modified)"
                         " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET"
                         " config = excluded.config, modified = excluded.modified",
                         &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, d->name);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 2, d->config);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, created);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "put custom domain");
    d->created_ms = created;
    d->modified_ms = now;
    return 0;
}

int nb_store_domain_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_domain *d,
                        struct nb_err *err)
{
    if (!d->name || !d->name[0] || !d->config)
        return nb_err_set(err, -EINVAL, "custom domain: name and config are required");
    pthread_mutex_lock(&st->lock);
    int r = nb_store_begin(st, err);
    if (r == 0)
        r = nb_store_end(st, domain_put_locked(st, mode, d, err), err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int domain_delete_locked(struct nb_store *st, const char *name, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "DELETE FROM custom_domains WHERE name = ?1", &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, name);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "delete custom domain");
    if (sqlite3_changes(st->db) == 0)
        return nb_err_set(err, -ENOENT, "custom domain '%s' not found", name);
    return 0;
}

int nb_store_domain_delete(struct nb_store *st, const char *name, struct nb_err *err)
{
    pthread_mutex_lock(&st->lock);
    int r = domain_delete_locked(st, name, err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int domain_list_locked(struct nb_store *st, const struct nb_store_page *page,
                              struct nb_store_domain **out, size_t *n, char **next,
                              struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st,
                             "SELECT name, config, created, modified FROM custom_domains"
                             " WHERE (?1 IS NULL OR substr(name, 1, length(?1)) = ?1)"
                             " AND (?2 IS NULL OR name >= ?2) ORDER BY name LIMIT ?3",
                             &stmt, err);
    if (r < 0)
        return r;
    size_t limit = page && page->limit ? page->limit : 0;
    int rc =
        nb_store_bind_text(stmt, 1, page && page->prefix && *page->prefix ? page->prefix : NULL);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 2, page && page->start && *page->start ? page->start : NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, limit ? (int64_t)limit + 1 : -1);
    if (rc != SQLITE_OK)
        return nb_store_sql_err(st, rc, err, "list custom domains");
    size_t cap = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (limit && *n == limit) { /* one past the page: its name is the next token */
            *next = nb_store_column_dup(stmt, 0);
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = nb_xrealloc(*out, cap * sizeof(**out));
        }
        read_domain(stmt, &(*out)[(*n)++]);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "list custom domains");
    return 0;
}

int nb_store_domain_list(struct nb_store *st, const struct nb_store_page *page,
                         struct nb_store_domain **out, size_t *n, char **next, struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    *next = NULL;
    pthread_mutex_lock(&st->lock);
    int r = domain_list_locked(st, page, out, n, next, err);
    pthread_mutex_unlock(&st->lock);
    if (r < 0) {
        nb_store_domains_free(*out, *n);
        free(*next);
        *out = NULL;
        *n = 0;
        *next = NULL;
    }
    return r;
}
