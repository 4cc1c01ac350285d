/*
 * queue.c: the async queue's records (see store.h "The async queue" and
 * docs/internals/queue.md).
 *
 * The queue has its own connection to the database file, opened with
 * synchronous=FULL: in WAL mode a COMMIT then returns only after the WAL
 * is fsync'd, which is what lets the gateway answer 202 after a batch
 * commits.  The main store's connection keeps synchronous=NORMAL for
 * metadata.  Both write through SQLite's own locking (busy_timeout).
 *
 * The statements of a batch are prepared once per connection and reused:
 * an enqueue burst is thousands of inserts a second.
 */
#include "store/internal.h"
#include "store/store.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    S_INSERT,
    S_TIMER,
    S_CLAIM,
    S_CLAIM_READ,
    S_FINISH,
    S_RETRY,
    S_COUNT,
};

static const char *const stmt_sql[S_COUNT] = {
    [S_INSERT] = "INSERT INTO invocations (id, service, function, qualifier, kind, state, "
                 "attempts, created, next_run, meta, payload) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7, ?8, ?9)",
    [S_TIMER] = "INSERT INTO timer_fires (service, function, trigger, last_fire) "
                "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (service, function, trigger) "
                "DO UPDATE SET last_fire = excluded.last_fire "
                "WHERE excluded.last_fire > timer_fires.last_fire",
    [S_CLAIM] = "UPDATE invocations SET state = 1, attempts = attempts + 1, started = ?2 "
                "WHERE seq = ?1 AND state = 0",
    [S_CLAIM_READ] = "SELECT attempts, meta, payload, id, service, function, qualifier, kind, "
                     "created FROM invocations WHERE seq = ?1",
    [S_FINISH] = "UPDATE invocations SET state = ?2, finished = ?3, result = ?4, error = ?5, "
                 "http_status = ?6 WHERE seq = ?1",
    [S_RETRY] = "UPDATE invocations SET state = 0, next_run = ?2, error = ?3, "
                "attempts = max(attempts - ?4, 0) WHERE seq = ?1",
};

struct nb_store_queue {
    struct nb_store st;
    sqlite3_stmt *stmts[S_COUNT];
};

#define ROW_COLUMNS                                                                                \
    "seq, id, service, function, qualifier, kind, state, attempts, created, started, finished, "   \
    "next_run, meta, result, error, http_status"

int nb_store_queue_open(struct nb_store *main, struct nb_store_queue **out, struct nb_err *err)
{
    struct nb_store_queue *q = nb_xcalloc(1, sizeof(*q));
    q->st.path = nb_xstrdup(main->path);
    pthread_mutex_init(&q->st.lock, NULL);
    int rc =
        sqlite3_open_v2(q->st.path, &q->st.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    int r;
    if (rc != SQLITE_OK) {
        r = q->st.db ? nb_store_sql_err(&q->st, rc, err, "open queue connection")
                     : nb_err_set(err, -ENOMEM, "store '%s': open: out of memory", q->st.path);
        goto fail;
    }
    sqlite3_extended_result_codes(q->st.db, 1);
    sqlite3_busy_timeout(q->st.db, 10000);
    /* journal_mode is a property of the file (WAL, set by nb_store_open). */
    r = nb_store_exec(&q->st, "PRAGMA synchronous = FULL;", err);
    for (int i = 0; r == 0 && i < S_COUNT; i++)
        r = nb_store_prepare(&q->st, stmt_sql[i], &q->stmts[i], err);
    if (r < 0)
        goto fail;
    *out = q;
    return 0;
fail:
    nb_store_queue_close(q);
    return r;
}

void nb_store_queue_close(struct nb_store_queue *q)
{
    if (!q)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(q->stmts[i]);
    if (q->st.db)
        sqlite3_close_v2(q->st.db);
    pthread_mutex_destroy(&q->st.lock);
    free(q->st.path);
    free(q);
}

void nb_store_qrow_release(struct nb_store_qrow *row)
{
    if (!row)
        return;
    free(row->id);
    free(row->service);
    free(row->function);
    free(row->qualifier);
    free(row->meta);
    free(row->payload);
    free(row->result);
    free(row->error);
    memset(row, 0, sizeof(*row));
}

void nb_store_qrows_free(struct nb_store_qrow *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nb_store_qrow_release(&rows[i]);
    free(rows);
}

static int bind_blob(sqlite3_stmt *s, int idx, const void *p, size_t len)
{
    if (p == NULL)
        return sqlite3_bind_null(s, idx);
    return sqlite3_bind_blob64(s, idx, p, len, SQLITE_STATIC);
}

static int bind_text(sqlite3_stmt *s, int idx, const char *t)
{
    if (t == NULL)
        return sqlite3_bind_null(s, idx);
    return sqlite3_bind_text(s, idx, t, -1, SQLITE_STATIC);
}

/* Runs a prepared write statement; leaves it reset and unbound.  Returns the SQLite code. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static void *column_blob_dup(sqlite3_stmt *s, int idx, size_t *len)
{
    const void *b = sqlite3_column_blob(s, idx);
    int n = sqlite3_column_bytes(s, idx);
    *len = 0;
    if (b == NULL && sqlite3_column_type(s, idx) == SQLITE_NULL)
        return NULL;
    char *out = nb_xmalloc((size_t)n + 1);
    if (n > 0)
        memcpy(out, b, (size_t)n);
    out[n] = '\0'; /* text-friendly */
    *len = (size_t)n;
    return out;
}

static int apply_insert(struct nb_store_queue *q, struct nb_store_qop *op, struct nb_err *err)
{
    struct nb_store_qrow *r = &op->row;
    int rc;
    op->applied = 0;
    if (op->timer_trigger) {
        sqlite3_stmt *t = q->stmts[S_TIMER];
        bind_text(t, 1, r->service);
        bind_text(t, 2, r->function);
        bind_text(t, 3, op->timer_trigger);
        sqlite3_bind_int64(t, 4, op->timer_ms);
        rc = step_done(t);
        if (rc != SQLITE_DONE)
            return nb_store_sql_err(&q->st, rc, err, "record timer fire");
        if (sqlite3_changes(q->st.db) == 0)
            return 0; /* this scheduled time was enqueued already */
    }
    sqlite3_stmt *s = q->stmts[S_INSERT];
    bind_text(s, 1, r->id);
    bind_text(s, 2, r->service);
    bind_text(s, 3, r->function);
    bind_text(s, 4, r->qualifier);
    sqlite3_bind_int(s, 5, r->kind);
    sqlite3_bind_int64(s, 6, r->created_ms);
    sqlite3_bind_int64(s, 7, r->next_ms);
    bind_text(s, 8, r->meta);
    bind_blob(s, 9, r->payload ? r->payload : "", r->payload_len);
    rc = step_done(s);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(&q->st, rc, err, "insert invocation");
    r->seq = sqlite3_last_insert_rowid(q->st.db);
    op->applied = 1;
    return 0;
}

static int apply_claim(struct nb_store_queue *q, struct nb_store_qop *op, struct nb_err *err)
{
    sqlite3_stmt *s = q->stmts[S_CLAIM];
    sqlite3_bind_int64(s, 1, op->row.seq);
    sqlite3_bind_int64(s, 2, op->row.started_ms);
    int rc = step_done(s);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(&q->st, rc, err, "claim invocation");
    op->applied = sqlite3_changes(q->st.db) > 0;
    if (!op->applied)
        return 0;
    s = q->stmts[S_CLAIM_READ];
    sqlite3_bind_int64(s, 1, op->row.seq);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        op->row.attempts = sqlite3_column_int(s, 0);
        const unsigned char *m = sqlite3_column_text(s, 1);
        op->row.meta = m ? nb_xstrdup((const char *)m) : NULL;
        op->row.payload = column_blob_dup(s, 2, &op->row.payload_len);
        op->row.id = nb_store_column_dup(s, 3);
        op->row.service = nb_store_column_dup(s, 4);
        op->row.function = nb_store_column_dup(s, 5);
        op->row.qualifier = nb_store_column_dup(s, 6);
        op->row.kind = sqlite3_column_int(s, 7);
        op->row.created_ms = sqlite3_column_int64(s, 8);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW)
        return nb_store_sql_err(&q->st, rc, err, "read claimed invocation");
    return 0;
}

static int apply_finish(struct nb_store_queue *q, struct nb_store_qop *op, struct nb_err *err)
{
    struct nb_store_qrow *r = &op->row;
    sqlite3_stmt *s = q->stmts[S_FINISH];
    sqlite3_bind_int64(s, 1, r->seq);
    sqlite3_bind_int(s, 2, r->state);
    sqlite3_bind_int64(s, 3, r->finished_ms);
    bind_blob(s, 4, r->result, r->result_len);
    bind_text(s, 5, r->error);
    sqlite3_bind_int(s, 6, r->http_status);
    int rc = step_done(s);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(&q->st, rc, err, "finish invocation");
    op->applied = sqlite3_changes(q->st.db) > 0;
    return 0;
}

static int apply_retry(struct nb_store_queue *q, struct nb_store_qop *op, struct nb_err *err)
{
    struct nb_store_qrow *r = &op->row;
    sqlite3_stmt *s = q->stmts[S_RETRY];
    sqlite3_bind_int64(s, 1, r->seq);
    sqlite3_bind_int64(s, 2, r->next_ms);
    bind_text(s, 3, r->error);
    sqlite3_bind_int(s, 4, op->refund ? 1 : 0);
    int rc = step_done(s);
    if (rc != SQLITE_DONE)
        return nb_store_sql_err(&q->st, rc, err, "requeue invocation");
    op->applied = sqlite3_changes(q->st.db) > 0;
    return 0;
}

int nb_store_queue_apply(struct nb_store_queue *q, struct nb_store_qop *ops, size_t n,
                         struct nb_err *err)
{
    pthread_mutex_lock(&q->st.lock);
    int r = nb_store_begin(&q->st, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        switch (ops[i].kind) {
        case NB_QOP_INSERT:
            r = apply_insert(q, &ops[i], err);
            break;
        case NB_QOP_CLAIM:
            r = apply_claim(q, &ops[i], err);
            break;
        case NB_QOP_FINISH:
            r = apply_finish(q, &ops[i], err);
            break;
        case NB_QOP_RETRY:
            r = apply_retry(q, &ops[i], err);
            break;
        default:
            r = nb_err_set(err, -EINVAL, "queue op %d is unknown", (int)ops[i].kind);
        }
    }
    r = nb_store_end(&q->st, r, err); /* also after a failed BEGIN: nothing to roll back */
    if (r < 0) {
        /* nothing was written: outputs of the failed batch must not be used */
        for (size_t i = 0; i < n; i++) {
            ops[i].applied = 0;
            if (ops[i].kind == NB_QOP_CLAIM) {
                int64_t seq = ops[i].row.seq, started = ops[i].row.started_ms;
                nb_store_qrow_release(&ops[i].row);
                ops[i].row.seq = seq;
                ops[i].row.started_ms = started;
            }
        }
    }
    pthread_mutex_unlock(&q->st.lock);
    return r;
}

int nb_store_queue_recover(struct nb_store_queue *q, int *n, struct nb_err *err)
{
    pthread_mutex_lock(&q->st.lock);
    int r = nb_store_exec(&q->st, "UPDATE invocations SET state = 0 WHERE state = 1", err);
    *n = r == 0 ? sqlite3_changes(q->st.db) : 0;
    pthread_mutex_unlock(&q->st.lock);
    return r;
}

static void read_row(sqlite3_stmt *s, struct nb_store_qrow *r, int with_result)
{
    memset(r, 0, sizeof(*r));
    r->seq = sqlite3_column_int64(s, 0);
    r->id = nb_store_column_dup(s, 1);
    r->service = nb_store_column_dup(s, 2);
    r->function = nb_store_column_dup(s, 3);
    r->qualifier = nb_store_column_dup(s, 4);
    r->kind = sqlite3_column_int(s, 5);
    r->state = sqlite3_column_int(s, 6);
    r->attempts = sqlite3_column_int(s, 7);
    r->created_ms = sqlite3_column_int64(s, 8);
    r->started_ms = sqlite3_column_int64(s, 9);
    r->finished_ms = sqlite3_column_int64(s, 10);
    r->next_ms = sqlite3_column_int64(s, 11);
    r->meta = nb_store_column_dup(s, 12);
    if (with_result)
        r->result = column_blob_dup(s, 13, &r->result_len);
    r->error = nb_store_column_dup(s, 14);
    r->http_status = sqlite3_column_int(s, 15);
}

int nb_store_queue_scan(struct nb_store_queue *q,
                        void (*cb)(const struct nb_store_qrow *row, void *arg), void *arg,
                        struct nb_err *err)
{
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(&q->st);
    _cleanup_stmt_ sqlite3_stmt *s = NULL;
    int r = nb_store_prepare(&q->st,
                             "SELECT seq, id, service, function, qualifier, kind, state, attempts, "
                             "created, next_run FROM invocations WHERE state = 0 ORDER BY seq",
                             &s, err);
    int rc = SQLITE_DONE;
    while (r == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct nb_store_qrow row = {
            .seq = sqlite3_column_int64(s, 0),
            .id = (char *)sqlite3_column_text(s, 1),
            .service = (char *)sqlite3_column_text(s, 2),
            .function = (char *)sqlite3_column_text(s, 3),
            .qualifier = (char *)sqlite3_column_text(s, 4),
            .kind = sqlite3_column_int(s, 5),
            .state = sqlite3_column_int(s, 6),
            .attempts = sqlite3_column_int(s, 7),
            .created_ms = sqlite3_column_int64(s, 8),
            .next_ms = sqlite3_column_int64(s, 9),
        };
        cb(&row, arg); /* borrowed strings: valid during the call only */
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = nb_store_sql_err(&q->st, rc, err, "scan queue");
    return r;
}

int nb_store_queue_get(struct nb_store_queue *q, const char *id, struct nb_store_qrow *out,
                       struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(&q->st);
    _cleanup_stmt_ sqlite3_stmt *s = NULL;
    int r =
        nb_store_prepare(&q->st, "SELECT " ROW_COLUMNS " FROM invocations WHERE id = ?1", &s, err);
    if (r == 0) {
        nb_store_bind_text(s, 1, id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            read_row(s, out, 1);
        else if (rc == SQLITE_DONE)
            r = nb_err_set(err, -ENOENT, "invocation '%s' not found", id);
        else
            r = nb_store_sql_err(&q->st, rc, err, "get invocation");
    }
    return r;
}

int nb_store_queue_list(struct nb_store_queue *q, const char *service, const char *function,
                        size_t limit, struct nb_store_qrow **out, size_t *n, struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(&q->st);
    _cleanup_stmt_ sqlite3_stmt *s = NULL;
    int r = nb_store_prepare(&q->st,
                             "SELECT " ROW_COLUMNS " FROM invocations "
                             "WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR function = ?2) "
                             "ORDER BY seq DESC LIMIT ?3",
                             &s, err);
    size_t cap = 0;
    int rc = SQLITE_DONE;
    if (r == 0) {
        nb_store_bind_text(s, 1, service);
        nb_store_bind_text(s, 2, function);
        sqlite3_bind_int64(s, 3, limit ? (sqlite3_int64)limit : -1);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = nb_xrealloc(*out, cap * sizeof(**out));
            }
            read_row(s, &(*out)[(*n)++], 0);
        }
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(&q->st, rc, err, "list invocations");
    }
    if (r < 0) {
        nb_store_qrows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return r;
}

int nb_store_queue_prune(struct nb_store_queue *q, int64_t before_ms, int *n, struct nb_err *err)
{
    _cleanup_unlock_ pthread_mutex_t *lock = nb_store_lock(&q->st);
    _cleanup_stmt_ sqlite3_stmt *s = NULL;
    int r = nb_store_prepare(&q->st, "DELETE FROM invocations WHERE state >= 2 AND finished < ?1",
                             &s, err);
    *n = 0;
    if (r == 0) {
        sqlite3_bind_int64(s, 1, before_ms);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE)
            r = nb_store_sql_err(&q->st, rc, err, "prune invocations");
        else
            *n = sqlite3_changes(q->st.db);
    }
    return r;
}
