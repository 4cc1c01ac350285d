/*
 * store.c: opening the SQLite database, the schema migrations and the
 * helpers the other files of store/ share (see store.h and internal.h).
 *
 * Migrations: migrations[i] takes the schema from version i to i + 1 and
 * runs in one transaction together with `PRAGMA user_version = i + 1`, so a
 * crash leaves the database at a whole version.  Append to the array; never
 * edit a migration that has shipped.
 */
#include "store/store.h"
#include "store/internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const migrations[] = {
    /* 1: services, functions, triggers, access keys */
    "CREATE TABLE services ("
    "  name TEXT PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL);"
    "CREATE TABLE functions ("
    "  service TEXT NOT NULL REFERENCES services(name),"
    "  name TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  code_checksum TEXT,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  PRIMARY KEY (service, name));"
    "CREATE INDEX functions_code ON functions(code_checksum);"
    "CREATE TABLE triggers ("
    "  service TEXT NOT NULL,"
    "  function TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  PRIMARY KEY (service, function, name),"
    "  FOREIGN KEY (service, function) REFERENCES functions(service, name)"
    "    ON DELETE CASCADE);"
    "CREATE TABLE keys ("
    "  id TEXT PRIMARY KEY,"
    "  secret TEXT NOT NULL,"
    "  scope TEXT NOT NULL,"
    "  created INTEGER NOT NULL);",
    /* 2: versions, aliases and usage (version.c, usage.c) */
    "CREATE TABLE versions ("
    "  service TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,"
    "  id INTEGER NOT NULL,"
    "  description TEXT NOT NULL,"
    "  service_config TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (service, id));"
    "CREATE TABLE version_functions ("
    "  service TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  function TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  code_checksum TEXT,"
    "  triggers TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  PRIMARY KEY (service, version, function),"
    "  FOREIGN KEY (service, version) REFERENCES versions(service, id) ON DELETE CASCADE);"
    "CREATE INDEX version_functions_code ON version_functions(code_checksum);"
    "CREATE TABLE version_counters ("
    "  service TEXT PRIMARY KEY REFERENCES services(name) ON DELETE CASCADE,"
    "  last INTEGER NOT NULL);"
    "CREATE TABLE aliases ("
    "  service TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  version2 INTEGER,"
    "  weight REAL NOT NULL,"
    "  description TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  PRIMARY KEY (service, name));"
    "CREATE TABLE usage_records ("
    "  seq INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  service TEXT NOT NULL,"
    "  function TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  duration_us INTEGER NOT NULL,"
    "  billed_ms INTEGER NOT NULL,"
    "  memory_mb INTEGER NOT NULL,"
    "  mb_ms INTEGER NOT NULL,"
    "  init_us INTEGER NOT NULL,"
    "  cold INTEGER NOT NULL,"
    "  status TEXT NOT NULL);"
    "CREATE INDEX usage_records_time ON usage_records(time);"
    "CREATE TABLE usage_hourly ("
    "  service TEXT NOT NULL,"
    "  function TEXT NOT NULL,"
    "  hour INTEGER NOT NULL,"
    "  invocations INTEGER NOT NULL,"
    "  errors INTEGER NOT NULL,"
    "  cold_starts INTEGER NOT NULL,"
    "  duration_us INTEGER NOT NULL,"
    "  billed_ms INTEGER NOT NULL,"
    "  mb_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (hour, service, function));",
    /* 3: the async queue and timer fires (store/queue.c) */
    "CREATE TABLE invocations ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  service TEXT NOT NULL,"
    "  function TEXT NOT NULL,"
    "  qualifier TEXT,"
    "  kind INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  started INTEGER,"
    "  finished INTEGER,"
    "  next_run INTEGER NOT NULL,"
    "  meta TEXT,"
    "  payload BLOB,"
    "  result BLOB,"
    "  error TEXT,"
    "  http_status INTEGER);"
    "CREATE INDEX invocations_state ON invocations(state, seq);"
    "CREATE INDEX invocations_function ON invocations(service, function, seq);"
    "CREATE TABLE timer_fires ("
    "  service TEXT NOT NULL,"
    "  function TEXT NOT NULL,"
    "  trigger TEXT NOT NULL,"
    "  last_fire INTEGER NOT NULL,"
    "  PRIMARY KEY (service, function, trigger));",
    /* 4: custom domains (store/domain.c) */
    "CREATE TABLE custom_domains ("
    "  name TEXT PRIMARY KEY,"
    "  config TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL);",
};

int nb_store_schema_version(void)
{
    return (int)NB_ARRAY_SIZE(migrations);
}

int nb_store_sql_err(struct nb_store *st, int rc, struct nb_err *err, const char *what)
{
    int code;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = -EBUSY;
        break;
    case SQLITE_FULL:
        code = -ENOSPC;
        break;
    case SQLITE_NOMEM:
        code = -ENOMEM;
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        code = -EACCES;
        break;
    case SQLITE_CONSTRAINT:
        code = -EINVAL;
        break;
    default:
        code = -EIO;
    }
    return nb_err_set(err, code, "store '%s': %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

int nb_store_prepare(struct nb_store *st, const char *sql, sqlite3_stmt **out, struct nb_err *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK)
        return nb_store_sql_err(st, rc, err, "prepare");
    return 0;
}

int nb_store_exec(struct nb_store *st, const char *sql, struct nb_err *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return nb_store_sql_err(st, rc, err, "exec");
    return 0;
}

int nb_store_begin(struct nb_store *st, struct nb_err *err)
{
    return nb_store_exec(st, "BEGIN IMMEDIATE", err);
}

int nb_store_commit(struct nb_store *st, struct nb_err *err)
{
    int r = nb_store_exec(st, "COMMIT", err);
    if (r < 0)
        nb_store_rollback(st);
    return r;
}

void nb_store_rollback(struct nb_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int nb_store_end(struct nb_store *st, int r, struct nb_err *err)
{
    if (r == 0)
        return nb_store_commit(st, err);
    nb_store_rollback(st);
    return r;
}

int nb_store_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
    if (!s)
        return sqlite3_bind_null(stmt, idx);
    return sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT);
}

int nb_store_bind_static(sqlite3_stmt *stmt, int idx, const char *s)
{
    return sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
}

char *nb_store_column_dup(sqlite3_stmt *stmt, int idx)
{
    const unsigned char *t = sqlite3_column_text(stmt, idx);
    return t ? nb_xstrdup((const char *)t) : NULL;
}

static int get_user_version(struct nb_store *st, int *version, struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "PRAGMA user_version", &stmt, err);
    if (r < 0)
        return r;
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "read user_version");
    *version = sqlite3_column_int(stmt, 0);
    return 0;
}

static int migrate(struct nb_store *st, struct nb_err *err)
{
    int version = 0;
    int r = get_user_version(st, &version, err);
    if (r < 0)
        return r;
    int target = nb_store_schema_version();
    if (version > target)
        return nb_err_set(err, -EPROTO,
                          "store '%s': schema version %d is newer than this binary's (%d)",
                          st->path, version, target);
    for (int v = version; v < target; v++) {
        r = nb_store_begin(st, err);
        if (r < 0)
            return r;
        r = nb_store_exec(st, migrations[v], err);
        if (r == 0) {
            char sql[64];
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
            r = nb_store_exec(st, sql, err);
        }
        if (r == 0)
            r = nb_store_commit(st, err);
        if (r < 0) {
            nb_store_rollback(st);
            return r;
        }
        nb_info("store", "migrated '%s' to schema version %d", st->path, v + 1);
    }
    return 0;
}

static int configure(struct nb_store *st, struct nb_err *err)
{
    int rc = sqlite3_busy_timeout(st->db, 5000);
    if (rc != SQLITE_OK)
        return nb_store_sql_err(st, rc, err, "busy_timeout");

    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "PRAGMA journal_mode = WAL", &stmt, err);
    if (r < 0)
        return r;
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(st, rc, err, "journal_mode");
    const char *mode = (const char *)sqlite3_column_text(stmt, 0);
    if (!mode || strcmp(mode, "wal") != 0)
        return nb_err_set(err, -EIO, "store '%s': cannot enable WAL (journal_mode is '%s')",
                          st->path, mode ? mode : "?");

    return nb_store_exec(st,
                         "PRAGMA synchronous = NORMAL;"
                         "PRAGMA foreign_keys = ON;",
                         err);
}

int nb_store_open(const char *path, struct nb_store **out, struct nb_err *err)
{
    struct nb_store *st = nb_xcalloc(1, sizeof(*st));
    st->path = nb_xstrdup(path);
    pthread_mutex_init(&st->lock, NULL);

    /*
     * The keys table holds secrets: create the file 0600 whatever the umask
     * (SQLite gives its -wal and -shm files the database file's mode).
     */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);

    int rc = sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    int r;
    if (rc != SQLITE_OK) {
        if (st->db)
            r = nb_store_sql_err(st, rc, err, "open");
        else
            r = nb_err_set(err, -ENOMEM, "store '%s': open: out of memory", path);
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    r = configure(st, err);
    if (r == 0)
        r = migrate(st, err);
    if (r < 0)
        goto fail;
    *out = st;
    return 0;

fail:
    nb_store_close(st);
    return r;
}

void nb_store_close(struct nb_store *st)
{
    if (!st)
        return;
    if (st->db)
        sqlite3_close_v2(st->db);
    pthread_mutex_destroy(&st->lock);
    free(st->path);
    free(st);
}

void nb_store_row_release(struct nb_store_row *row)
{
    if (!row)
        return;
    free(row->service);
    free(row->function);
    free(row->trigger);
    free(row->id);
    free(row->config);
    free(row->code_checksum);
    memset(row, 0, sizeof(*row));
}

void nb_store_rows_release(struct nb_store_rows *rows)
{
    if (!rows)
        return;
    for (size_t i = 0; i < rows->n; i++)
        nb_store_row_release(&rows->v[i]);
    free(rows->v);
    free(rows->next);
    memset(rows, 0, sizeof(*rows));
}

void nb_store_key_release(struct nb_store_key *key)
{
    if (!key)
        return;
    free(key->id);
    free(key->secret);
    free(key->scope);
    memset(key, 0, sizeof(*key));
}

void nb_store_keys_free(struct nb_store_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nb_store_key_release(&keys[i]);
    free(keys);
}
