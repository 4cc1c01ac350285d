/*
 * usage.c: usage records and their hourly sums (see store.h).
 *
 * A batch of records is written in one transaction: each record is
 * inserted into usage_records and added to its (hour, service, function)
 * row of usage_hourly with an upsert, so a sum can never disagree with the
 * records it was built from (both are in or neither is).  Pruning removes
 * old records only; the hourly sums are the bill's source and are kept.
 */
#include "store/internal.h"
#include "store/store.h"

#include "base/alloc.h"

#include <errno.h>
#include <string.h>

#define HOUR_MS 3600000LL

static int64_t hour_of(int64_t ms)
{
    return ms - (((ms % HOUR_MS) + HOUR_MS) % HOUR_MS);
}

static int is_error(const char *status)
{
    return strcmp(status, "success") != 0;
}

static int insert_locked(struct nb_store *st, const struct nb_usage_record *v, size_t n,
                         struct nb_err *err)
{
    _cleanup_stmt_ sqlite3_stmt *rec = NULL, *sum = NULL;
    int r = nb_store_prepare(st,
                             "INSERT INTO usage_records (time, request_id, service, function,"
                             " version, duration_us, billed_ms, memory_mb, mb_ms, init_us, cold,"
                             " status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                             &rec, err);
    if (r == 0)
        r = nb_store_prepare(st,
                             "INSERT INTO usage_hourly (hour, service, function, invocations,"
                             " errors, cold_starts, duration_us, billed_ms, mb_ms)"
                             " VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8)"
                             " ON CONFLICT (hour, service, function) DO UPDATE SET"
                             " invocations = invocations + 1, errors = errors + ?4,"
                             " cold_starts = cold_starts + ?5, duration_us = duration_us + ?6,"
                             " billed_ms = billed_ms + ?7, mb_ms = mb_ms + ?8",
                             &sum, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        const struct nb_usage_record *u = &v[i];
        sqlite3_reset(rec);
        sqlite3_reset(sum);
        int rc = sqlite3_bind_int64(rec, 1, u->time_ms);
        rc = rc ?: nb_store_bind_text(rec, 2, u->request_id);
        rc = rc ?: nb_store_bind_text(rec, 3, u->service);
        rc = rc ?: nb_store_bind_text(rec, 4, u->function);
        rc = rc ?: nb_store_bind_text(rec, 5, u->version[0] ? u->version : "LATEST");
        rc = rc ?: sqlite3_bind_int64(rec, 6, (sqlite3_int64)u->duration_us);
        rc = rc ?: sqlite3_bind_int64(rec, 7, (sqlite3_int64)u->billed_ms);
        rc = rc ?: sqlite3_bind_int64(rec, 8, u->memory_mb);
        rc = rc ?: sqlite3_bind_int64(rec, 9, (sqlite3_int64)u->mb_ms);
        rc = rc ?: sqlite3_bind_int64(rec, 10, (sqlite3_int64)u->init_us);
        rc = rc ?: sqlite3_bind_int(rec, 11, u->cold ? 1 : 0);
        rc = rc ?: nb_store_bind_text(rec, 12, u->status);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(rec);
        if (rc != SQLITE_DONE)
            return nb_store_sql_err(st, rc, err, "insert usage record");
        rc = sqlite3_bind_int64(sum, 1, hour_of(u->time_ms));
        rc = rc ?: nb_store_bind_text(sum, 2, u->service);
        rc = rc ?: nb_store_bind_text(sum, 3, u->function);
        rc = rc ?: sqlite3_bind_int(sum, 4, is_error(u->status));
        rc = rc ?: sqlite3_bind_int(sum, 5, u->cold ? 1 : 0);
        rc = rc ?: sqlite3_bind_int64(sum, 6, (sqlite3_int64)u->duration_us);
        rc = rc ?: sqlite3_bind_int64(sum, 7, (sqlite3_int64)u->billed_ms);
        rc = rc ?: sqlite3_bind_int64(sum, 8, (sqlite3_int64)u->mb_ms);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(sum);
        if (rc != SQLITE_DONE)
            return nb_store_sql_err(st, rc, err, "add usage to its hour");
    }
    return 0;
}

int nb_store_usage_insert(struct nb_store *st, const struct nb_usage_record *v, size_t n,
                          struct nb_err *err)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&st->lock);
    int r = nb_store_begin(st, err);
    if (r == 0)
        r = nb_store_end(st, insert_locked(st, v, n, err), err);
    pthread_mutex_unlock(&st->lock);
    return r;
}

void nb_store_usage_sums_free(struct nb_usage_sum *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].service);
        free(v[i].function);
    }
    free(v);
}

int nb_store_usage_sums(struct nb_store *st, int64_t since_ms, int64_t until_ms,
                        const char *service, struct nb_usage_sum **out, size_t *n,
                        struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&st->lock);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st,
                             "SELECT service, function, sum(invocations), sum(errors),"
                             " sum(cold_starts), sum(duration_us), sum(billed_ms), sum(mb_ms)"
                             " FROM usage_hourly WHERE hour >= ?1 AND hour < ?2"
                             " AND (?3 IS NULL OR service = ?3)"
                             " GROUP BY service, function ORDER BY service, function",
                             &stmt, err);
    if (r == 0) {
        int rc = sqlite3_bind_int64(stmt, 1, hour_of(since_ms));
        rc = rc ?: sqlite3_bind_int64(stmt, 2, hour_of(until_ms - 1) + HOUR_MS);
        rc = rc ?: nb_store_bind_text(stmt, 3, service);
        size_t cap = 0;
        while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = nb_xrealloc(*out, cap * sizeof(**out));
            }
            struct nb_usage_sum *s = &(*out)[(*n)++];
            s->service = nb_store_column_dup(stmt, 0);
            s->function = nb_store_column_dup(stmt, 1);
            s->invocations = (uint64_t)sqlite3_column_int64(stmt, 2);
            s->errors = (uint64_t)sqlite3_column_int64(stmt, 3);
            s->cold_starts = (uint64_t)sqlite3_column_int64(stmt, 4);
            s->duration_us = (uint64_t)sqlite3_column_int64(stmt, 5);
            s->billed_ms = (uint64_t)sqlite3_column_int64(stmt, 6);
            s->mb_ms = (uint64_t)sqlite3_column_int64(stmt, 7);
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(st, rc, err, "usage sums");
    }
    pthread_mutex_unlock(&st->lock);
    if (r < 0) {
        nb_store_usage_sums_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return r;
}

static void copy_text(char *dst, size_t cap, sqlite3_stmt *stmt, int idx)
{
    const unsigned char *t = sqlite3_column_text(stmt, idx);
    size_t len = t ? strlen((const char *)t) : 0;
    if (len >= cap)
        len = cap - 1;
    if (len)
        memcpy(dst, t, len);
    dst[len] = '\0';
}

int nb_store_usage_records(struct nb_store *st, int64_t since_ms, int64_t until_ms,
                           const char *service, const char *function, size_t limit,
                           struct nb_usage_record **out, size_t *n, struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&st->lock);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st,
                             "SELECT time, request_id, service, function, version, duration_us,"
                             " billed_ms, memory_mb, mb_ms, init_us, cold, status"
                             " FROM usage_records WHERE time >= ?1 AND time < ?2"
                             " AND (?3 IS NULL OR service = ?3) AND (?4 IS NULL OR function = ?4)"
                             " ORDER BY seq LIMIT ?5",
                             &stmt, err);
    if (r == 0) {
        int rc = sqlite3_bind_int64(stmt, 1, since_ms);
        rc = rc ?: sqlite3_bind_int64(stmt, 2, until_ms);
        rc = rc ?: nb_store_bind_text(stmt, 3, service);
        rc = rc ?: nb_store_bind_text(stmt, 4, function);
        rc = rc ?: sqlite3_bind_int64(stmt, 5, limit ? (sqlite3_int64)limit : -1);
        size_t cap = 0;
        while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                *out = nb_xrealloc(*out, cap * sizeof(**out));
            }
            struct nb_usage_record *u = &(*out)[(*n)++];
            memset(u, 0, sizeof(*u));
            u->time_ms = sqlite3_column_int64(stmt, 0);
            copy_text(u->request_id, sizeof(u->request_id), stmt, 1);
            copy_text(u->service, sizeof(u->service), stmt, 2);
            copy_text(u->function, sizeof(u->function), stmt, 3);
            copy_text(u->version, sizeof(u->version), stmt, 4);
            u->duration_us = (uint64_t)sqlite3_column_int64(stmt, 5);
            u->billed_ms = (uint64_t)sqlite3_column_int64(stmt, 6);
            u->memory_mb = (uint32_t)sqlite3_column_int64(stmt, 7);
            u->mb_ms = (uint64_t)sqlite3_column_int64(stmt, 8);
            u->init_us = (uint64_t)sqlite3_column_int64(stmt, 9);
            u->cold = sqlite3_column_int(stmt, 10);
            copy_text(u->status, sizeof(u->status), stmt, 11);
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(st, rc, err, "usage records");
    }
    pthread_mutex_unlock(&st->lock);
    if (r < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return r;
}

int nb_store_usage_prune(struct nb_store *st, int64_t before_ms, struct nb_err *err)
{
    pthread_mutex_lock(&st->lock);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "DELETE FROM usage_records WHERE time < ?1", &stmt, err);
    if (r == 0) {
        int rc = sqlite3_bind_int64(stmt, 1, before_ms);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(st, rc, err, "prune usage records");
    }
    pthread_mutex_unlock(&st->lock);
    return r;
}
