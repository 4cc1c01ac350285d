/*
 * test_store.c: the SQLite metadata store against a real database file:
 * CRUD of services, functions and triggers, put modes, constraints
 * (ENOTEMPTY, cascades, missing parents), list pagination, keys,
 * persistence across reopen, migrations and concurrent use from threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/util.h"
#include "store/store.h"

struct fixture {
    char dir[64];
    char path[128];
    struct nb_store *st;
};

static int setup(void **state)
{
    struct fixture *f = nb_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/nb-store-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/nubis.db", f->dir);
    struct nb_err err = {0};
    assert_int_equal(nb_store_open(f->path, &f->st, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nb_store_close(f->st);
    nb_rm_rf(f->dir);
    free(f);
    return 0;
}

static int put_service(struct nb_store *st, enum nb_store_mode mode, const char *name,
                       const char *config)
{
    struct nb_store_row row = {.service = nb_xstrdup(name), .config = nb_xstrdup(config)};
    struct nb_err err = {0};
    int r = nb_store_service_put(st, mode, &row, &err);
    nb_store_row_release(&row);
    return r;
}

static int put_function(struct nb_store *st, enum nb_store_mode mode, const char *service,
                        const char *name, const char *config, const char *checksum)
{
    struct nb_store_row row = {.service = nb_xstrdup(service),
                               .function = nb_xstrdup(name),
                               .config = nb_xstrdup(config),
                               .code_checksum = checksum ? nb_xstrdup(checksum) : NULL};
    struct nb_err err = {0};
    int r = nb_store_function_put(st, mode, &row, &err);
    nb_store_row_release(&row);
    return r;
}

static int put_trigger(struct nb_store *st, enum nb_store_mode mode, const char *service,
                       const char *function, const char *name, const char *config)
{
    struct nb_store_row row = {.service = nb_xstrdup(service),
                               .function = nb_xstrdup(function),
                               .trigger = nb_xstrdup(name),
                               .config = nb_xstrdup(config)};
    struct nb_err err = {0};
    int r = nb_store_trigger_put(st, mode, &row, &err);
    nb_store_row_release(&row);
    return r;
}

static void test_service_crud(void **state)
{
    struct fixture *f = *state;
    struct nb_err err = {0};
    struct nb_store_row row = {.service = nb_xstrdup("s1"),
                               .id = nb_xstrdup("id-1"),
                               .config = nb_xstrdup("{\"description\":\"a\"}")};
    assert_int_equal(nb_store_service_put(f->st, NB_STORE_CREATE, &row, &err), 0);
    assert_string_equal(row.id, "id-1");
    assert_true(row.created_ms > 0);
    assert_int_equal(row.created_ms, row.modified_ms);
    int64_t created = row.created_ms;
    nb_store_row_release(&row);

    /* create-only on an existing row */
    assert_int_equal(put_service(f->st, NB_STORE_CREATE, "s1", "{}"), -EEXIST);
    /* update-only on a missing row */
    assert_int_equal(put_service(f->st, NB_STORE_UPDATE, "nope", "{}"), -ENOENT);

    struct nb_store_row got;
    assert_int_equal(nb_store_service_get(f->st, "s1", &got, &err), 0);
    assert_string_equal(got.service, "s1");
    assert_string_equal(got.id, "id-1");
    assert_string_equal(got.config, "{\"description\":\"a\"}");
    assert_null(got.function);
    nb_store_row_release(&got);

    /* update keeps id and created, changes config and modified */
    struct nb_store_row upd = {.service = nb_xstrdup("s1"),
                               .id = nb_xstrdup("ignored"),
                               .config = nb_xstrdup("{\"description\":\"b\"}")};
    assert_int_equal(nb_store_service_put(f->st, NB_STORE_UPDATE, &upd, &err), 0);
    assert_string_equal(upd.id, "id-1");
    assert_int_equal(upd.created_ms, created);
    assert_true(upd.modified_ms >= created);
    nb_store_row_release(&upd);
    assert_int_equal(nb_store_service_get(f->st, "s1", &got, &err), 0);
    assert_string_equal(got.config, "{\"description\":\"b\"}");
    assert_string_equal(got.id, "id-1");
    nb_store_row_release(&got);

    /* upsert both ways; a missing id gets a generated uuid */
    assert_int_equal(put_service(f->st, NB_STORE_UPSERT, "s2", "{\"x\":1}"), 0);
    assert_int_equal(put_service(f->st, NB_STORE_UPSERT, "s2", "{\"x\":2}"), 0);
    assert_int_equal(nb_store_service_get(f->st, "s2", &got, &err), 0);
    assert_string_equal(got.config, "{\"x\":2}");
    assert_int_equal(strlen(got.id), 36);
    nb_store_row_release(&got);

    assert_int_equal(nb_store_service_delete(f->st, "s2", &err), 0);
    assert_int_equal(nb_store_service_get(f->st, "s2", &got, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "'s2'"));
    assert_int_equal(nb_store_service_delete(f->st, "s2", &err), -ENOENT);
}

static void test_function_and_triggers(void **state)
{
    struct fixture *f = *state;
    struct nb_err err = {0};

    /* function without its service */
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "s", "f", "{}", "abc"), -ENOENT);
    assert_int_equal(put_service(f->st, NB_STORE_CREATE, "s", "{}"), 0);
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "s", "f", "{\"v\":1}", "abc"), 0);
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "s", "f", "{}", "abc"), -EEXIST);
    assert_int_equal(put_function(f->st, NB_STORE_UPDATE, "s", "g", "{}", "abc"), -ENOENT);

    struct nb_store_row got;
    assert_int_equal(nb_store_function_get(f->st, "s", "f", &got, &err), 0);
    assert_string_equal(got.service, "s");
    assert_string_equal(got.function, "f");
    assert_string_equal(got.code_checksum, "abc");
    assert_string_equal(got.config, "{\"v\":1}");
    char *id = nb_xstrdup(got.id);
    nb_store_row_release(&got);
    assert_int_equal(put_function(f->st, NB_STORE_UPDATE, "s", "f", "{\"v\":2}", "def"), 0);
    assert_int_equal(nb_store_function_get(f->st, "s", "f", &got, &err), 0);
    assert_string_equal(got.code_checksum, "def");
    assert_string_equal(got.id, id);
    nb_store_row_release(&got);
    free(id);
    assert_int_equal(nb_store_code_in_use(f->st, "def", &err), 1);
    assert_int_equal(nb_store_code_in_use(f->st, "abc", &err), 0);

    /* the same function name in another service is another function */
    assert_int_equal(put_service(f->st, NB_STORE_CREATE, "t", "{}"), 0);
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "t", "f", "{}", "x"), 0);

    /* triggers need their function */
    assert_int_equal(put_trigger(f->st, NB_STORE_CREATE, "s", "nope", "h", "{}"), -ENOENT);
    assert_int_equal(put_trigger(f->st, NB_STORE_CREATE, "s", "f", "h", "{\"a\":1}"), 0);
    assert_int_equal(put_trigger(f->st, NB_STORE_CREATE, "s", "f", "timer", "{\"b\":1}"), 0);
    assert_int_equal(put_trigger(f->st, NB_STORE_CREATE, "s", "f", "h", "{}"), -EEXIST);
    assert_int_equal(put_trigger(f->st, NB_STORE_UPSERT, "s", "f", "h", "{\"a\":2}"), 0);
    assert_int_equal(nb_store_trigger_get(f->st, "s", "f", "h", &got, &err), 0);
    assert_string_equal(got.trigger, "h");
    assert_string_equal(got.config, "{\"a\":2}");
    nb_store_row_release(&got);

    struct nb_store_rows rows;
    assert_int_equal(nb_store_trigger_list(f->st, "s", "f", NULL, &rows, &err), 0);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.v[0].trigger, "h");
    assert_string_equal(rows.v[1].trigger, "timer");
    assert_null(rows.next);
    nb_store_rows_release(&rows);

    /* a service with functions is not deleted */
    assert_int_equal(nb_store_service_delete(f->st, "s", &err), -ENOTEMPTY);
    assert_int_equal(nb_store_service_get(f->st, "s", &got, &err), 0);
    nb_store_row_release(&got);

    assert_int_equal(nb_store_trigger_delete(f->st, "s", "f", "timer", &err), 0);
    assert_int_equal(nb_store_trigger_delete(f->st, "s", "f", "timer", &err), -ENOENT);

    /* deleting the function deletes its triggers (cascade), not the other service's */
    assert_int_equal(nb_store_function_delete(f->st, "s", "f", &err), 0);
    assert_int_equal(nb_store_trigger_get(f->st, "s", "f", "h", &got, &err), -ENOENT);
    assert_int_equal(nb_store_function_get(f->st, "t", "f", &got, &err), 0);
    nb_store_row_release(&got);
    /* re-creating the function does not resurrect the triggers */
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "s", "f", "{}", "x"), 0);
    assert_int_equal(nb_store_trigger_list(f->st, "s", "f", NULL, &rows, &err), 0);
    assert_int_equal(rows.n, 0);
    nb_store_rows_release(&rows);
    assert_int_equal(nb_store_function_delete(f->st, "s", "f", &err), 0);
    assert_int_equal(nb_store_service_delete(f->st, "s", &err), 0);
}

static void test_list_pagination(void **state)
{
    struct fixture *f = *state;
    struct nb_err err = {0};
    const char *names[] = {"b-2", "a-1", "c", "a-3", "a-2", "b-1"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(names); i++)
        assert_int_equal(put_service(f->st, NB_STORE_CREATE, names[i], "{}"), 0);

    struct nb_store_rows rows;
    assert_int_equal(nb_store_service_list(f->st, NULL, &rows, &err), 0);
    assert_int_equal(rows.n, 6);
    const char *sorted[] = {"a-1", "a-2", "a-3", "b-1", "b-2", "c"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(rows.v[i].service, sorted[i]);
    nb_store_rows_release(&rows);

    /* walk pages of 4 then 2 using next */
    struct nb_store_page page = {.limit = 4};
    assert_int_equal(nb_store_service_list(f->st, &page, &rows, &err), 0);
    assert_int_equal(rows.n, 4);
    assert_string_equal(rows.v[3].service, "b-1");
    assert_non_null(rows.next);
    assert_string_equal(rows.next, "b-2");
    char *next = nb_xstrdup(rows.next);
    nb_store_rows_release(&rows);
    page.start = next;
    assert_int_equal(nb_store_service_list(f->st, &page, &rows, &err), 0);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.v[0].service, "b-2");
    assert_string_equal(rows.v[1].service, "c");
    assert_null(rows.next);
    nb_store_rows_release(&rows);
    free(next);

    /* exactly limit rows left: no next */
    page = (struct nb_store_page){.limit = 6};
    assert_int_equal(nb_store_service_list(f->st, &page, &rows, &err), 0);
    assert_int_equal(rows.n, 6);
    assert_null(rows.next);
    nb_store_rows_release(&rows);

    /* prefix, with and without start */
    page = (struct nb_store_page){.prefix = "a-", .limit = 2};
    assert_int_equal(nb_store_service_list(f->st, &page, &rows, &err), 0);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.v[0].service, "a-1");
    assert_string_equal(rows.next, "a-3");
    nb_store_rows_release(&rows);
    page = (struct nb_store_page){.prefix = "a-", .start = "a-2"};
    assert_int_equal(nb_store_service_list(f->st, &page, &rows, &err), 0);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.v[0].service, "a-2");
    assert_string_equal(rows.v[1].service, "a-3");
    nb_store_rows_release(&rows);
    /* prefix characters are not LIKE patterns */
    page = (struct nb_store_page){.prefix = "a%"};
    assert_int_equal(nb_store_service_list(f->st, &page, &rows, &err), 0);
    assert_int_equal(rows.n, 0);
    nb_store_rows_release(&rows);

    /* functions list only their service's */
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "a-1", "f2", "{}", NULL), 0);
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "a-1", "f1", "{}", NULL), 0);
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "a-2", "f0", "{}", NULL), 0);
    assert_int_equal(nb_store_function_list(f->st, "a-1", NULL, &rows, &err), 0);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.v[0].function, "f1");
    assert_string_equal(rows.v[1].function, "f2");
    nb_store_rows_release(&rows);
    page = (struct nb_store_page){.limit = 1};
    assert_int_equal(nb_store_function_list(f->st, "a-1", &page, &rows, &err), 0);
    assert_int_equal(rows.n, 1);
    assert_string_equal(rows.next, "f2");
    nb_store_rows_release(&rows);
    assert_int_equal(nb_store_function_list(f->st, "zzz", NULL, &rows, &err), 0);
    assert_int_equal(rows.n, 0);
    nb_store_rows_release(&rows);
}

static void test_keys(void **state)
{
    struct fixture *f = *state;
    struct nb_err err = {0};
    struct nb_store_key *keys;
    size_t n;
    assert_int_equal(nb_store_key_list(f->st, &keys, &n, &err), 0);
    assert_int_equal(n, 0);
    nb_store_keys_free(keys, n);

    struct nb_store_key k = {.id = "K1", .secret = "s1", .scope = "admin"};
    assert_int_equal(nb_store_key_create(f->st, &k, &err), 0);
    assert_int_equal(nb_store_key_create(f->st, &k, &err), -EEXIST);
    struct nb_store_key k2 = {.id = "K2", .secret = "s2", .scope = "read"};
    assert_int_equal(nb_store_key_create(f->st, &k2, &err), 0);
    struct nb_store_key bad = {.id = "", .secret = "x", .scope = "admin"};
    assert_int_equal(nb_store_key_create(f->st, &bad, &err), -EINVAL);

    assert_int_equal(nb_store_key_list(f->st, &keys, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0].id, "K1");
    assert_string_equal(keys[0].secret, "s1");
    assert_string_equal(keys[0].scope, "admin");
    assert_true(keys[0].created_ms > 0);
    nb_store_keys_free(keys, n);

    struct nb_store_key got;
    assert_int_equal(nb_store_key_get(f->st, "K2", &got, &err), 0);
    assert_string_equal(got.secret, "s2");
    nb_store_key_release(&got);
    assert_int_equal(nb_store_key_delete(f->st, "K2", &err), 0);
    assert_int_equal(nb_store_key_get(f->st, "K2", &got, &err), -ENOENT);
    assert_int_equal(nb_store_key_delete(f->st, "K2", &err), -ENOENT);
}

static void test_reopen_persists(void **state)
{
    struct fixture *f = *state;
    struct nb_err err = {0};
    assert_int_equal(put_service(f->st, NB_STORE_CREATE, "s", "{\"k\":\"v\"}"), 0);
    assert_int_equal(put_function(f->st, NB_STORE_CREATE, "s", "f", "{}", "sum"), 0);
    assert_int_equal(put_trigger(f->st, NB_STORE_CREATE, "s", "f", "t", "{}"), 0);
    struct nb_store_key k = {.id = "K", .secret = "S", .scope = "admin"};
    assert_int_equal(nb_store_key_create(f->st, &k, &err), 0);
    nb_store_close(f->st);
    f->st = NULL;

    assert_int_equal(nb_store_open(f->path, &f->st, &err), 0);
    struct nb_store_row got;
    assert_int_equal(nb_store_service_get(f->st, "s", &got, &err), 0);
    assert_string_equal(got.config, "{\"k\":\"v\"}");
    nb_store_row_release(&got);
    assert_int_equal(nb_store_trigger_get(f->st, "s", "f", "t", &got, &err), 0);
    nb_store_row_release(&got);
    struct nb_store_key kg;
    assert_int_equal(nb_store_key_get(f->st, "K", &kg, &err), 0);
    nb_store_key_release(&kg);
    /* foreign keys are enforced on the reopened connection too */
    assert_int_equal(nb_store_service_delete(f->st, "s", &err), -ENOTEMPTY);
    assert_int_equal(nb_store_function_delete(f->st, "s", "f", &err), 0);
    assert_int_equal(nb_store_trigger_get(f->st, "s", "f", "t", &got, &err), -ENOENT);
}

static void test_pragmas_and_version(void **state)
{
    struct fixture *f = *state;
    nb_store_close(f->st);
    f->st = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), nb_store_schema_version());
    sqlite3_finalize(stmt);
    /* the keys table holds secrets: the files are private */
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    if (stat(wal, &sb) == 0)
        assert_int_equal(sb.st_mode & 0777, 0600);

    /* a database from a newer binary is refused, not clobbered */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct nb_err err = {0};
    struct nb_store *st = NULL;
    assert_int_equal(nb_store_open(f->path, &st, &err), -EPROTO);
    assert_null(st);
    assert_non_null(strstr(err.msg, "999"));

    /* an unopenable path fails with a message naming it */
    assert_true(nb_store_open("/nonexistent-dir/x.db", &st, &err) < 0);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.db"));
}

struct worker {
    struct nb_store *st;
    int index;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char svc[32];
    snprintf(svc, sizeof(svc), "svc%d", w->index);
    if (put_service(w->st, NB_STORE_CREATE, svc, "{}") != 0)
        w->failures++;
    for (int i = 0; i < 200; i++) {
        char fn[32];
        snprintf(fn, sizeof(fn), "f%03d", i);
        if (put_function(w->st, NB_STORE_CREATE, svc, fn, "{}", "c") != 0)
            w->failures++;
        if (put_function(w->st, NB_STORE_UPDATE, svc, fn, "{\"u\":1}", "d") != 0)
            w->failures++;
        /* both threads also hammer a shared row */
        if (put_service(w->st, NB_STORE_UPSERT, "shared", "{}") != 0)
            w->failures++;
        struct nb_store_row got;
        struct nb_err err = {0};
        if (nb_store_function_get(w->st, svc, fn, &got, &err) != 0 ||
            strcmp(got.config, "{\"u\":1}") != 0)
            w->failures++;
        nb_store_row_release(&got);
        if (i % 2 == 0 && nb_store_function_delete(w->st, svc, fn, &err) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_threads(void **state)
{
    struct fixture *f = *state;
    struct worker w[2] = {{f->st, 0, 0}, {f->st, 1, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w[0].failures, 0);
    assert_int_equal(w[1].failures, 0);

    struct nb_err err = {0};
    struct nb_store_rows rows;
    for (int i = 0; i < 2; i++) {
        char svc[32];
        snprintf(svc, sizeof(svc), "svc%d", i);
        assert_int_equal(nb_store_function_list(f->st, svc, NULL, &rows, &err), 0);
        assert_int_equal(rows.n, 100);
        nb_store_rows_release(&rows);
    }
    assert_int_equal(nb_store_service_list(f->st, NULL, &rows, &err), 0);
    assert_int_equal(rows.n, 3);
    nb_store_rows_release(&rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_and_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pragmas_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
