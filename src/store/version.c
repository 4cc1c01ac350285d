/*
 * version.c: service versions and aliases (see store.h).
 *
 * Publishing copies, inside one transaction, the service's document and
 * every function's document, code checksum and triggers (assembled into a
 * JSON array by SQLite's json_group_array) into version_functions, under
 * the next number of the service's counter (version_counters, so a deleted
 * version's id is never handed out again).  Versions are never updated.
 * An alias names one version and optionally a second one with a weight;
 * the foreign keys to the versions are checked here (the versions table is
 * keyed by (service, id), which an alias row cannot reference while also
 * allowing version2 to be NULL portably), inside the writing transaction.
 */
#include "store/internal.h"
#include "store/store.h"

#include "base/alloc.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void nb_store_version_release(struct nb_store_version *v)
{
    if (!v)
        return;
    free(v->service);
    free(v->description);
    free(v->service_config);
    for (size_t i = 0; i < v->nfns; i++) {
        free(v->fns[i].function);
        free(v->fns[i].config);
        free(v->fns[i].code_checksum);
        free(v->fns[i].triggers);
    }
    free(v->fns);
    memset(v, 0, sizeof(*v));
}

void nb_store_versions_free(struct nb_store_version *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nb_store_version_release(&v[i]);
    free(v);
}

void nb_store_alias_release(struct nb_store_alias *a)
{
    if (!a)
        return;
    free(a->service);
    free(a->name);
    free(a->description);
    memset(a, 0, sizeof(*a));
}

void nb_store_aliases_free(struct nb_store_alias *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nb_store_alias_release(&a[i]);
    free(a);
}

/* 1 if the query (bound to ?1 text, ?2 int) returns a row, 0 if not, -errno. */
static int exists(struct nb_store *st, const char *sql, const char *s, int64_t id,
                  struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, sql, &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, s);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(stmt) >= 2)
        rc = sqlite3_bind_int64(stmt, 2, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return nb_store_sql_err(st, rc, err, "lookup");
}

/* Reads the functions of version v (inside the lock). */
static int read_fns(struct nb_store *st, struct nb_store_version *v, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st,
                             "SELECT function, config, code_checksum, triggers, created, modified"
                             " FROM version_functions WHERE service = ?1 AND version = ?2"
                             " ORDER BY function",
                             &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, v->service);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, v->id);
    size_t cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (v->nfns == cap) {
            cap = cap ? cap * 2 : 8;
            v->fns = nb_xrealloc(v->fns, cap * sizeof(*v->fns));
        }
        struct nb_store_version_fn *f = &v->fns[v->nfns++];
        f->function = nb_store_column_dup(stmt, 0);
        f->config = nb_store_column_dup(stmt, 1);
        f->code_checksum = nb_store_column_dup(stmt, 2);
        f->triggers = nb_store_column_dup(stmt, 3);
        f->created_ms = sqlite3_column_int64(stmt, 4);
        f->modified_ms = sqlite3_column_int64(stmt, 5);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "read version functions");
    return 0;
}

static void read_version(sqlite3_stmt *stmt, struct nb_store_version *v)
{
    v->service = nb_store_column_dup(stmt, 0);
    v->id = sqlite3_column_int64(stmt, 1);
    v->description = nb_store_column_dup(stmt, 2);
    v->service_config = nb_store_column_dup(stmt, 3);
    v->created_ms = sqlite3_column_int64(stmt, 4);
}

static int get_locked(struct nb_store *st, const char *service, int64_t id,
                      struct nb_store_version *out, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st,
                             "SELECT service, id, description, service_config, created"
                             " FROM versions WHERE service = ?1 AND id = ?2",
                             &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, service);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return nb_err_set(err, -ENOENT, "version %lld of service '%s' not found", (long long)id,
                          service);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "get version");
    read_version(stmt, out);
    return read_fns(st, out, err);
}

static int bind_exec(struct nb_store *st, const char *sql, const char *s, int64_t a, int64_t b,
                     const char *t, int64_t now, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, sql, &stmt, err);
    if (r < 0)
        return r;
    int count = sqlite3_bind_parameter_count(stmt);
    int rc = nb_store_bind_text(stmt, 1, s);
    if (rc == SQLITE_OK && count >= 2)
        rc = sqlite3_bind_int64(stmt, 2, a);
    if (rc == SQLITE_OK && count >= 3)
        rc = sqlite3_bind_int64(stmt, 3, b);
    if (rc == SQLITE_OK && count >= 4)
        rc = nb_store_bind_text(stmt, 4, t);
    if (rc == SQLITE_OK && count >= 5)
        rc = sqlite3_bind_int64(stmt, 5, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "write");
    return 0;
}

static int publish_locked(struct nb_store *st, const char *service, const char *description,
                          int64_t *id, struct nb_err *err)
{
    int r = exists(st, "SELECT 1 FROM services WHERE name = ?1", service, 0, err);
    if (r < 0)
        return r;
    if (r == 0)
        return nb_err_set(err, -ENOENT, "service '%s' not found", service);
    r = bind_exec(st,
                  "INSERT INTO version_counters (service, last) VALUES (?1, 1)"
                  " ON CONFLICT (service) DO UPDATE SET last = last + 1",
                  service, 0, 0, NULL, 0, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    r = nb_store_prepare(st, "SELECT last FROM version_counters WHERE service = ?1", &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, service);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "version counter");
    *id = sqlite3_column_int64(stmt, 0);
    int64_t now = nb_wall_ms();
    r = bind_exec(st,
                  "INSERT INTO versions (service, id, description, service_config, created)"
                  " SELECT name, ?2, ?4, config, ?5 FROM services WHERE name = ?1",
                  service, *id, 0, description ? description : "", now, err);
    if (r < 0)
        return r;
    return bind_exec(
        st,
        "INSERT INTO version_functions"
        " (service, version, function, config, code_checksum, triggers, created, modified)"
        " SELECT f.service, ?2, f.name, f.config, f.code_checksum,"
        "  (SELECT json_group_array(json(t.config)) FROM"
        "    (SELECT config FROM triggers WHERE service = f.service AND function = f.name"
        "     ORDER BY name) AS t),"
        "  f.created, f.modified"
        " FROM functions f WHERE f.service = ?1",
        service, *id, 0, NULL, 0, err);
}

int nb_store_version_publish(struct nb_store *st, const char *service, const char *description,
                             struct nb_store_version *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->lock);
    int64_t id = 0;
    int r = nb_store_begin(st, err);
    if (r == 0)
        r = nb_store_end(st, publish_locked(st, service, description, &id, err), err);
    if (r == 0)
        r = get_locked(st, service, id, out, err);
    pthread_mutex_unlock(&st->lock);
    if (r < 0)
        nb_store_version_release(out);
    return r;
}

int nb_store_version_get(struct nb_store *st, const char *service, int64_t id,
                         struct nb_store_version *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->lock);
    int r = get_locked(st, service, id, out, err);
    pthread_mutex_unlock(&st->lock);
    if (r < 0)
        nb_store_version_release(out);
    return r;
}

static int list_locked(struct nb_store *st, const char *service, int64_t before, size_t limit,
                       int with_fns, struct nb_store_version **out, size_t *n, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st,
                             "SELECT service, id, description, service_config, created"
                             " FROM versions WHERE service = ?1 AND (?2 = 0 OR id < ?2)"
                             " ORDER BY id DESC LIMIT ?3",
                             &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, service);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, before);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, limit ? (sqlite3_int64)limit : -1);
    size_t cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = nb_xrealloc(*out, cap * sizeof(**out));
        }
        struct nb_store_version *v = &(*out)[(*n)++];
        memset(v, 0, sizeof(*v));
        read_version(stmt, v);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "list versions");
    for (size_t i = 0; with_fns && i < *n; i++) {
        r = read_fns(st, &(*out)[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

int nb_store_version_list(struct nb_store *st, const char *service, int64_t before, size_t limit,
                          int with_fns, struct nb_store_version **out, size_t *n,
                          struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&st->lock);
    int r = list_locked(st, service, before, limit, with_fns, out, n, err);
    pthread_mutex_unlock(&st->lock);
    if (r < 0) {
        nb_store_versions_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return r;
}

static int delete_locked(struct nb_store *st, const char *service, int64_t id, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st,
                             "SELECT name FROM aliases WHERE service = ?1"
                             " AND (version = ?2 OR version2 = ?2) ORDER BY name LIMIT 1",
                             &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, service);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return nb_err_set(err, -EMLINK, "version %lld of service '%s' is used by alias '%s'",
                          (long long)id, service, (const char *)sqlite3_column_text(stmt, 0));
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "delete version");
    r = bind_exec(st, "DELETE FROM versions WHERE service = ?1 AND id = ?2", service, id, 0, NULL,
                  0, err);
    if (r < 0)
        return r;
    if (sqlite3_changes(st->db) == 0)
        return nb_err_set(err, -ENOENT, "version %lld of service '%s' not found", (long long)id,
                          service);
    return 0;
}

int nb_store_version_delete(struct nb_store *st, const char *service, int64_t id,
                            struct nb_err *err)
{
    pthread_mutex_lock(&st->lock);
    int r = nb_store_begin(st, err);
    if (r == 0)
        r = nb_store_end(st, delete_locked(st, service, id, err), err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- aliases ---- */

#define ALIAS_COLUMNS "service, name, version, version2, weight, description, created, modified"

static void read_alias(sqlite3_stmt *stmt, struct nb_store_alias *a)
{
    a->service = nb_store_column_dup(stmt, 0);
    a->name = nb_store_column_dup(stmt, 1);
    a->version = sqlite3_column_int64(stmt, 2);
    a->version2 = sqlite3_column_int64(stmt, 3); /* NULL reads as 0 */
    a->weight = sqlite3_column_double(stmt, 4);
    a->description = nb_store_column_dup(stmt, 5);
    a->created_ms = sqlite3_column_int64(stmt, 6);
    a->modified_ms = sqlite3_column_int64(stmt, 7);
}

static int alias_get_locked(struct nb_store *st, const char *service, const char *name,
                            struct nb_store_alias *out, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(
        st, "SELECT " ALIAS_COLUMNS " FROM aliases WHERE service = ?1 AND name = ?2", &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, service);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 2, name);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return nb_err_set(err, -ENOENT, "alias '%s' of service '%s' not found", name, service);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "get alias");
    read_alias(stmt, out);
    return 0;
}

int nb_store_alias_get(struct nb_store *st, const char *service, const char *name,
                       struct nb_store_alias *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->lock);
    int r = alias_get_locked(st, service, name, out, err);
    pthread_mutex_unlock(&st->lock);
    if (r < 0)
        nb_store_alias_release(out);
    return r;
}

static int alias_put_locked(struct nb_store *st, enum nb_store_mode mode, struct nb_store_alias *a,
                            struct nb_err *err)
{
    int r = exists(st, "SELECT 1 FROM services WHERE name = ?1", a->service, 0, err);
    if (r < 0)
        return r;
    if (r == 0)
        return nb_err_set(err, -ENOENT, "service '%s' not found", a->service);
    int64_t vs[2] = {a->version, a->version2};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && vs[i] == 0)
            continue;
        r = exists(st, "SELECT 1 FROM versions WHERE service = ?1 AND id = ?2", a->service, vs[i],
                   err);
        if (r < 0)
            return r;
        if (r == 0)
            return nb_err_set(err, -ENOENT, "version %lld of service '%s' not found",
                              (long long)vs[i], a->service);
    }
    struct nb_store_alias old = {0};
    struct nb_err e2 = {0};
    r = alias_get_locked(st, a->service, a->name, &old, &e2);
    if (r < 0 && r != -ENOENT) {
        *err = e2;
        return r;
    }
    int found = r == 0;
    int64_t created = old.created_ms;
    nb_store_alias_release(&old);
    if (found && mode == NB_STORE_CREATE)
        return nb_err_set(err, -EEXIST, "alias '%s' of service '%s' already exists", a->name,
                          a->service);
    if (!found && mode == NB_STORE_UPDATE)
        return nb_err_set(err, -ENOENT, "alias '%s' of service '%s' not found", a->name,
                          a->service);
    int64_t now = nb_wall_ms();
    a->created_ms = found ? created : now;
    a->modified_ms = now;
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    r = nb_store_prepare(st,
                         "INSERT OR REPLACE INTO aliases (" ALIAS_COLUMNS ")"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                         &stmt, err);
    if (r < 0)
        return r;
    int rc = nb_store_bind_text(stmt, 1, a->service);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 2, a->name);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, a->version);
    if (rc == SQLITE_OK)
        rc = a->version2 ? sqlite3_bind_int64(stmt, 4, a->version2) : sqlite3_bind_null(stmt, 4);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(stmt, 5, a->version2 ? a->weight : 0);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 6, a->description ? a->description : "");
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 7, a->created_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 8, a->modified_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "put alias");
    return 0;
}

int nb_store_alias_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_alias *a,
                       struct nb_err *err)
{
    if (!a->service || !a->name || !a->name[0])
        return nb_err_set(err, -EINVAL, "alias key is missing");
    pthread_mutex_lock(&st->lock);
    int r = nb_store_begin(st, err);
    if (r == 0)
        r = nb_store_end(st, alias_put_locked(st, mode, a, err), err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int nb_store_alias_delete(struct nb_store *st, const char *service, const char *name,
                          struct nb_err *err)
{
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(st);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r =
        nb_store_prepare(st, "DELETE FROM aliases WHERE service = ?1 AND name = ?2", &stmt, err);
    if (r == 0) {
        int rc = nb_store_bind_text(stmt, 1, service);
        if (rc == SQLITE_OK)
            rc = nb_store_bind_text(stmt, 2, name);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(st, rc, err, "delete alias");
        else if (sqlite3_changes(st->db) == 0)
            r = nb_err_set(err, -ENOENT, "alias '%s' of service '%s' not found", name, service);
    }
    return r;
}

int nb_store_alias_list(struct nb_store *st, const char *service, struct nb_store_alias **out,
                        size_t *n, struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(st);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(
        st, "SELECT " ALIAS_COLUMNS " FROM aliases WHERE service = ?1 ORDER BY name", &stmt, err);
    if (r == 0) {
        int rc = nb_store_bind_text(stmt, 1, service);
        size_t cap = 0;
        while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                *out = nb_xrealloc(*out, cap * sizeof(**out));
            }
            memset(&(*out)[*n], 0, sizeof(**out));
            read_alias(stmt, &(*out)[(*n)++]);
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(st, rc, err, "list aliases");
    }
    if (r < 0) {
        nb_store_aliases_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return r;
}
