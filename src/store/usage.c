/*
 * usage.c: usage records and their hourly sums (see store.h).
 *
 * A batch of records is written in one transaction: each record is
 * inserted into usage_records, and the batch's records are summed per
 * (hour, service, function) in memory and added to those rows of
 * usage_hourly with one upsert each, so a sum can never disagree with the
 * records it was built from (both are in or neither is).  Pruning removes
 * old records only; the hourly sums are the bill's source and are kept.
 */
#include "store/internal.h"
#include "store/store.h"

#include "base/alloc.h"
#include "base/map.h"

#include <errno.h>
#include <stdio.h>
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

/* One (hour, service, function) row's share of a batch. */
struct hour_sum {
    const struct nb_usage_record *first; /* names and hour */
    int64_t hour;
    uint64_t invocations, errors, cold, duration_us, billed_ms, mb_ms;
};

static int add_sums(struct nb_store *st, sqlite3_stmt *sum, struct nb_map *groups,
                    struct nb_err *err)
{
    const char *k;
    void *val;
    for (size_t it = 0; nb_map_next(groups, &it, &k, &val);) {
        const struct hour_sum *g = val;
        sqlite3_reset(sum);
        int rc = sqlite3_bind_int64(sum, 1, g->hour);
        rc = rc ?: nb_store_bind_text(sum, 2, g->first->service);
        rc = rc ?: nb_store_bind_text(sum, 3, g->first->function);
        rc = rc ?: sqlite3_bind_int64(sum, 4, (sqlite3_int64)g->invocations);
        rc = rc ?: sqlite3_bind_int64(sum, 5, (sqlite3_int64)g->errors);
        rc = rc ?: sqlite3_bind_int64(sum, 6, (sqlite3_int64)g->cold);
        rc = rc ?: sqlite3_bind_int64(sum, 7, (sqlite3_int64)g->duration_us);
        rc = rc ?: sqlite3_bind_int64(sum, 8, (sqlite3_int64)g->billed_ms);
        rc = rc ?: sqlite3_bind_int64(sum, 9, (sqlite3_int64)g->mb_ms);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(sum);
        if (rc != SQLITE_DONE)
            return nb_store_sql_err(st, rc, err, "add usage to its hour");
    }
    return 0;
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
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                             " ON CONFLICT (hour, service, function) DO UPDATE SET"
                             " invocations = invocations + ?4, errors = errors + ?5,"
                             " cold_starts = cold_starts + ?6, duration_us = duration_us + ?7,"
                             " billed_ms = billed_ms + ?8, mb_ms = mb_ms + ?9",
                             &sum, err);
    if (r < 0)
        return r;
    struct nb_map groups;
    nb_map_init(&groups);
    struct hour_sum *last = NULL;
    for (size_t i = 0; i < n && r == 0; i++) {
        const struct nb_usage_record *u = &v[i];
        sqlite3_reset(rec);
        int rc = sqlite3_bind_int64(rec, 1, u->time_ms);
        rc = rc ?: nb_store_bind_static(rec, 2, u->request_id);
        rc = rc ?: nb_store_bind_static(rec, 3, u->service);
        rc = rc ?: nb_store_bind_static(rec, 4, u->function);
        rc = rc ?: nb_store_bind_static(rec, 5, u->version[0] ? u->version : "LATEST");
        rc = rc ?: sqlite3_bind_int64(rec, 6, (sqlite3_int64)u->duration_us);
        rc = rc ?: sqlite3_bind_int64(rec, 7, (sqlite3_int64)u->billed_ms);
        rc = rc ?: sqlite3_bind_int64(rec, 8, u->memory_mb);
        rc = rc ?: sqlite3_bind_int64(rec, 9, (sqlite3_int64)u->mb_ms);
        rc = rc ?: sqlite3_bind_int64(rec, 10, (sqlite3_int64)u->init_us);
        rc = rc ?: sqlite3_bind_int(rec, 11, u->cold ? 1 : 0);
        rc = rc ?: nb_store_bind_static(rec, 12, u->status);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(rec);
        if (rc != SQLITE_DONE) {
            r = nb_store_sql_err(st, rc, err, "insert usage record");
            break;
        }
        int64_t hour = hour_of(u->time_ms);
        struct hour_sum *g = last;
        if (!g || g->hour != hour || strcmp(g->first->service, u->service) != 0 ||
            strcmp(g->first->function, u->function) != 0) {
            char key[320];
            snprintf(key, sizeof(key), "%lld/%s/%s", (long long)hour, u->service, u->function);
            g = nb_map_get(&groups, key);
            if (!g) {
                g = nb_xcalloc(1, sizeof(*g));
                g->first = u;
                g->hour = hour;
                nb_map_put(&groups, key, g);
            }
            last = g;
        }
        g->invocations++;
        g->errors += (uint64_t)is_error(u->status);
        g->cold += u->cold ? 1 : 0;
        g->duration_us += u->duration_us;
        g->billed_ms += u->billed_ms;
        g->mb_ms += u->mb_ms;
    }
    if (r == 0)
        r = add_sums(st, sum, &groups, err);
    const char *k;
    void *val;
    for (size_t it = 0; nb_map_next(&groups, &it, &k, &val);)
        free(val);
    nb_map_release(&groups);
    return r;
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
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(st);
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
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(st);
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
    if (r < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return r;
}

int nb_store_usage_prune(struct nb_store *st, int64_t before_ms, struct nb_err *err)
{
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(st);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int r = nb_store_prepare(st, "DELETE FROM usage_records WHERE time < ?1", &stmt, err);
    if (r == 0) {
        int rc = sqlite3_bind_int64(stmt, 1, before_ms);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(st, rc, err, "prune usage records");
    }
    return r;
}
