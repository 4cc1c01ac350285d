/*
 * entity.c: services, functions and triggers (see store.h).
 *
 * The three kinds differ only in their table, key columns and parent, so
 * one generic implementation runs them from a descriptor.  SQL parameters
 * are numbered after the fields of struct nb_store_row so that every
 * statement binds the same way:
 *   ?1 service  ?2 function  ?3 trigger  ?4 id  ?5 config  ?6 code_checksum
 *   ?7 created  ?8 modified                       (lists: ?10 prefix,
 *                                                  ?11 start, ?12 limit)
 * and every SELECT returns the columns in that order too.
 */
#include "store/internal.h"
#include "store/store.h"

#include "base/alloc.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct kind {
    const char *noun;   /* "service", for messages */
    int nkeys;          /* 1..3 key fields (row->service, function, trigger) */
    const char *select; /* get: the row by its keys */
    const char *exists; /* id, created of the row by its keys */
    const char *parent; /* 1 row if the parent exists (?1.. the parent's keys), or NULL */
    const char *insert;
    const char *update;
    const char *delete;
    const char *list; /* by parent keys, ?10 prefix, ?11 start, ?12 limit */
};

static const struct kind services = {
    .noun = "service",
    .nkeys = 1,
    .select = "SELECT name, NULL, NULL, id, config, NULL, created, modified"
              " FROM services WHERE name = ?1",
    .exists = "SELECT id, created FROM services WHERE name = ?1",
    .parent = NULL,
    .insert = "INSERT INTO services (name, id, config, created, modified)"
              " VALUES (?1, ?4, ?5, ?7, ?8)",
    .update = "UPDATE services SET config = ?5, modified = ?8 WHERE name = ?1",
    .delete = "DELETE FROM services WHERE name = ?1",
    .list = "SELECT name, NULL, NULL, id, config, NULL, created, modified FROM services"
            " WHERE (?10 IS NULL OR substr(name, 1, length(?10)) = ?10)"
            " AND (?11 IS NULL OR name >= ?11) ORDER BY name LIMIT ?12",
};

static const struct kind functions = {
    .noun = "function",
    .nkeys = 2,
    .select = "SELECT service, name, NULL, id, config, code_checksum, created, modified"
              " FROM functions WHERE service = ?1 AND name = ?2",
    .exists = "SELECT id, created FROM functions WHERE service = ?1 AND name = ?2",
    .parent = "SELECT 1 FROM services WHERE name = ?1",
    .insert = "INSERT INTO functions (service, name, id, config, code_checksum, created, modified)"
              " VALUES (?1, ?2, ?4, ?5, ?6, ?7, ?8)",
    .update = "UPDATE functions SET config = ?5, code_checksum = ?6, modified = ?8"
              " WHERE service = ?1 AND name = ?2",
    .delete = "DELETE FROM functions WHERE service = ?1 AND name = ?2",
    .list = "SELECT service, name, NULL, id, config, code_checksum, created, modified"
            " FROM functions WHERE service = ?1"
            " AND (?10 IS NULL OR substr(name, 1, length(?10)) = ?10)"
            " AND (?11 IS NULL OR name >= ?11) ORDER BY name LIMIT ?12",
};

static const struct kind triggers = {
    .noun = "trigger",
    .nkeys = 3,
    .select = "SELECT service, function, name, NULL, config, NULL, created, modified"
              " FROM triggers WHERE service = ?1 AND function = ?2 AND name = ?3",
    .exists = "SELECT NULL, created FROM triggers"
              " WHERE service = ?1 AND function = ?2 AND name = ?3",
    .parent = "SELECT 1 FROM functions WHERE service = ?1 AND name = ?2",
    .insert = "INSERT INTO triggers (service, function, name, config, created, modified)"
              " VALUES (?1, ?2, ?3, ?5, ?7, ?8)",
    .update = "UPDATE triggers SET config = ?5, modified = ?8"
              " WHERE service = ?1 AND function = ?2 AND name = ?3",
    .delete = "DELETE FROM triggers WHERE service = ?1 AND function = ?2 AND name = ?3",
    .list = "SELECT service, function, name, NULL, config, NULL, created, modified"
            " FROM triggers WHERE service = ?1 AND function = ?2"
            " AND (?10 IS NULL OR substr(name, 1, length(?10)) = ?10)"
            " AND (?11 IS NULL OR name >= ?11) ORDER BY name LIMIT ?12",
};

/* Binds the row's fields to whichever of ?1..?8 the statement uses. */
static int bind_row(sqlite3_stmt *stmt, const struct nb_store_row *row)
{
    const char *text[6] = {row->service, row->function, row->trigger,
                           row->id,      row->config,   row->code_checksum};
    int count = sqlite3_bind_parameter_count(stmt);
    int rc = SQLITE_OK;
    for (int i = 0; i < 6 && i < count && rc == SQLITE_OK; i++)
        rc = nb_store_bind_text(stmt, i + 1, text[i]);
    if (rc == SQLITE_OK && count >= 7)
        rc = sqlite3_bind_int64(stmt, 7, row->created_ms);
    if (rc == SQLITE_OK && count >= 8)
        rc = sqlite3_bind_int64(stmt, 8, row->modified_ms);
    return rc;
}

static void read_row(sqlite3_stmt *stmt, struct nb_store_row *out)
{
    out->service = nb_store_column_dup(stmt, 0);
    out->function = nb_store_column_dup(stmt, 1);
    out->trigger = nb_store_column_dup(stmt, 2);
    out->id = nb_store_column_dup(stmt, 3);
    out->config = nb_store_column_dup(stmt, 4);
    out->code_checksum = nb_store_column_dup(stmt, 5);
    out->created_ms = sqlite3_column_int64(stmt, 6);
    out->modified_ms = sqlite3_column_int64(stmt, 7);
}

/* "'s/f/t'" style name of a row's keys, for messages (static per thread). */
static const char *key_name(const struct kind *k, const struct nb_store_row *row)
{
    static __thread char buf[400];
    if (k->nkeys == 1)
        snprintf(buf, sizeof(buf), "%s", row->service ? row->service : "");
    else if (k->nkeys == 2)
        snprintf(buf, sizeof(buf), "%s/%s", row->service ? row->service : "",
                 row->function ? row->function : "");
    else
        snprintf(buf, sizeof(buf), "%s/%s/%s", row->service ? row->service : "",
                 row->function ? row->function : "", row->trigger ? row->trigger : "");
    return buf;
}

static int check_keys(const struct kind *k, const struct nb_store_row *row, struct nb_err *err)
{
    const char *keys[3] = {row->service, row->function, row->trigger};
    for (int i = 0; i < k->nkeys; i++)
        if (!keys[i] || !keys[i][0])
            return nb_err_set(err, -EINVAL, "%s key is missing", k->noun);
    return 0;
}

/* Runs a prepared statement bound to row to completion; 0 or -errno. */
static int run_row(struct nb_store *st, const char *sql, const struct nb_store_row *row,
                   struct nb_err *err, const char *what)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, sql, &stmt, err);
    if (r < 0)
        return r;
    int rc = bind_row(stmt, row);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, what);
    return 0;
}

static int entity_get(struct nb_store *st, const struct kind *k, const struct nb_store_row *key,
                      struct nb_store_row *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    int r = check_keys(k, key, err);
    if (r < 0)
        return r;
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(st);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    r = nb_store_prepare(st, k->select, &stmt, err);
    if (r == 0) {
        int rc = bind_row(stmt, key);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW)
            read_row(stmt, out);
        else if (rc == SQLITE_DONE)
            r = nb_err_set(err, -ENOENT, "%s '%s' not found", k->noun, key_name(k, key));
        else
            r = nb_store_sql_err(st, rc, err, "get");
    }
    return r;
}

/* Looks the row up inside the open transaction: 1 found (id/created filled), 0 not, -errno. */
static int lookup(struct nb_store *st, const char *sql, const struct nb_store_row *row, char **id,
                  int64_t *created, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, sql, &stmt, err);
    if (r < 0)
        return r;
    int rc = bind_row(stmt, row);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "lookup");
    if (id)
        *id = nb_store_column_dup(stmt, 0);
    if (created)
        *created = sqlite3_column_int64(stmt, 1);
    return 1;
}

static int put_locked(struct nb_store *st, const struct kind *k, enum nb_store_mode mode,
                      struct nb_store_row *row, struct nb_err *err)
{
    _cleanup_free_ char *old_id = NULL;
    int64_t created = 0;
    int found = lookup(st, k->exists, row, &old_id, &created, err);
    if (found < 0)
        return found;
    if (found && mode == NB_STORE_CREATE)
        return nb_err_set(err, -EEXIST, "%s '%s' already exists", k->noun, key_name(k, row));
    if (!found && mode == NB_STORE_UPDATE)
        return nb_err_set(err, -ENOENT, "%s '%s' not found", k->noun, key_name(k, row));

    int64_t now = nb_wall_ms();
    if (!found) {
        if (k->parent) {
            int p = lookup(st, k->parent, row, NULL, NULL, err);
            if (p < 0)
                return p;
            if (p == 0)
                return nb_err_set(err, -ENOENT, "%s '%s' not found",
                                  k->nkeys == 2 ? "service" : "function",
                                  key_name(k->nkeys == 2 ? &services : &functions, row));
        }
        if (k->nkeys < 3 && (!row->id || !row->id[0])) {
            char uuid[37];
            nb_uuid(uuid);
            free(row->id);
            row->id = nb_xstrdup(uuid);
        }
        row->created_ms = now;
        row->modified_ms = now;
        return run_row(st, k->insert, row, err, "insert");
    }
    row->created_ms = created;
    row->modified_ms = now;
    free(row->id);
    row->id = steal_pointer(&old_id);
    return run_row(st, k->update, row, err, "update");
}

static int entity_put(struct nb_store *st, const struct kind *k, enum nb_store_mode mode,
                      struct nb_store_row *row, struct nb_err *err)
{
    int r = check_keys(k, row, err);
    if (r < 0)
        return r;
    if (!row->config)
        return nb_err_set(err, -EINVAL, "%s '%s': config is missing", k->noun, key_name(k, row));
    pthread_mutex_lock(&st->lock);
    r = nb_store_begin(st, err);
    if (r == 0)
        r = nb_store_end(st, put_locked(st, k, mode, row, err), err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int delete_locked(struct nb_store *st, const struct kind *k, const struct nb_store_row *key,
                         struct nb_err *err)
{
    if (k == &services) {
        /* A service with functions is not deleted (the FK would refuse it too). */
        struct nb_store_row probe = {.service = key->service};
        int busy = lookup(st, "SELECT 1, 0 FROM functions WHERE service = ?1 LIMIT 1", &probe, NULL,
                          NULL, err);
        if (busy < 0)
            return busy;
        if (busy)
            return nb_err_set(err, -ENOTEMPTY, "service '%s' has functions", key->service);
    }
    int r = run_row(st, k->delete, key, err, "delete");
    if (r < 0)
        return r;
    if (sqlite3_changes(st->db) == 0)
        return nb_err_set(err, -ENOENT, "%s '%s' not found", k->noun, key_name(k, key));
    return 0;
}

static int entity_delete(struct nb_store *st, const struct kind *k, const struct nb_store_row *key,
                         struct nb_err *err)
{
    int r = check_keys(k, key, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&st->lock);
    r = nb_store_begin(st, err);
    if (r == 0)
        r = nb_store_end(st, delete_locked(st, k, key, err), err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int list_locked(struct nb_store *st, const struct kind *k, const struct nb_store_row *parent,
                       const struct nb_store_page *page, struct nb_store_rows *out,
                       struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, k->list, &stmt, err);
    if (r < 0)
        return r;
    int rc = bind_row(stmt, parent);
    const char *prefix = page && page->prefix && page->prefix[0] ? page->prefix : NULL;
    const char *start = page && page->start && page->start[0] ? page->start : NULL;
    size_t limit = page ? page->limit : 0;
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 10, prefix);
    if (rc == SQLITE_OK)
        rc = nb_store_bind_text(stmt, 11, start);
    if (rc == SQLITE_OK) /* one more than asked, to know the next page's key */
        rc = sqlite3_bind_int64(stmt, 12, limit ? (sqlite3_int64)limit + 1 : -1);
    if (rc != SQLITE_OK)
        return nb_store_sql_err(st, rc, err, "list");

    size_t cap = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (limit && out->n == limit) {
            /* The first row past the page: its name is the next page's start. */
            out->next = nb_store_column_dup(stmt, k->nkeys - 1);
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->v = nb_xrealloc(out->v, cap * sizeof(*out->v));
        }
        memset(&out->v[out->n], 0, sizeof(out->v[0]));
        read_row(stmt, &out->v[out->n++]);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return nb_store_sql_err(st, rc, err, "list");
    return 0;
}

static int entity_list(struct nb_store *st, const struct kind *k, const struct nb_store_row *parent,
                       const struct nb_store_page *page, struct nb_store_rows *out,
                       struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->lock);
    int r = list_locked(st, k, parent, page, out, err);
    pthread_mutex_unlock(&st->lock);
    if (r < 0)
        nb_store_rows_release(out);
    return r;
}

int nb_store_service_get(struct nb_store *st, const char *name, struct nb_store_row *out,
                         struct nb_err *err)
{
    struct nb_store_row key = {.service = (char *)name};
    return entity_get(st, &services, &key, out, err);
}

int nb_store_service_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_row *row,
                         struct nb_err *err)
{
    return entity_put(st, &services, mode, row, err);
}

int nb_store_service_delete(struct nb_store *st, const char *name, struct nb_err *err)
{
    struct nb_store_row key = {.service = (char *)name};
    return entity_delete(st, &services, &key, err);
}

int nb_store_service_list(struct nb_store *st, const struct nb_store_page *page,
                          struct nb_store_rows *out, struct nb_err *err)
{
    struct nb_store_row none = {0};
    return entity_list(st, &services, &none, page, out, err);
}

int nb_store_function_get(struct nb_store *st, const char *service, const char *name,
                          struct nb_store_row *out, struct nb_err *err)
{
    struct nb_store_row key = {.service = (char *)service, .function = (char *)name};
    return entity_get(st, &functions, &key, out, err);
}

int nb_store_function_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_row *row,
                          struct nb_err *err)
{
    return entity_put(st, &functions, mode, row, err);
}

int nb_store_function_delete(struct nb_store *st, const char *service, const char *name,
                             struct nb_err *err)
{
    struct nb_store_row key = {.service = (char *)service, .function = (char *)name};
    return entity_delete(st, &functions, &key, err);
}

int nb_store_function_list(struct nb_store *st, const char *service,
                           const struct nb_store_page *page, struct nb_store_rows *out,
                           struct nb_err *err)
{
    struct nb_store_row parent = {.service = (char *)service};
    return entity_list(st, &functions, &parent, page, out, err);
}

int nb_store_code_in_use(struct nb_store *st, const char *code_checksum, struct nb_err *err)
{
    struct nb_store_row probe = {.code_checksum = (char *)code_checksum};
    pthread_mutex_lock(&st->lock);
    int r = lookup(st, "SELECT 1, 0 FROM functions WHERE code_checksum = ?6 LIMIT 1", &probe, NULL,
                   NULL, err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

int nb_store_trigger_get(struct nb_store *st, const char *service, const char *function,
                         const char *name, struct nb_store_row *out, struct nb_err *err)
{
    struct nb_store_row key = {
        .service = (char *)service, .function = (char *)function, .trigger = (char *)name};
    return entity_get(st, &triggers, &key, out, err);
}

int nb_store_trigger_put(struct nb_store *st, enum nb_store_mode mode, struct nb_store_row *row,
                         struct nb_err *err)
{
    return entity_put(st, &triggers, mode, row, err);
}

int nb_store_trigger_delete(struct nb_store *st, const char *service, const char *function,
                            const char *name, struct nb_err *err)
{
    struct nb_store_row key = {
        .service = (char *)service, .function = (char *)function, .trigger = (char *)name};
    return entity_delete(st, &triggers, &key, err);
}

int nb_store_trigger_list(struct nb_store *st, const char *service, const char *function,
                          const struct nb_store_page *page, struct nb_store_rows *out,
                          struct nb_err *err)
{
    struct nb_store_row parent = {.service = (char *)service, .function = (char *)function};
    return entity_list(st, &triggers, &parent, page, out, err);
}
