/*
 * queue.h: the durable async queue on the event loop (docs/internals/queue.md).
 *
 * OVERALL DESIGN
 * SQLite (store/queue.c, synchronous=FULL) is the truth; the loop keeps a
 * light index of what is queued (sequence number, id, lane, due time; no
 * payloads) to decide what runs next.  Every write (enqueue, claim, finish,
 * retry) becomes an op in the next batch; one batch at a time commits on a
 * worker thread, and ops arriving meanwhile wait for the next one (group
 * commit: many enqueues share one fsync).  Callbacks run on the loop after
 * the batch that holds their op is durable.
 *
 * A job runs in a lane ("service/function", or "#webhook" for deliveries)
 * limited to `limit` jobs at once.  To run one, the queue claims it (state
 * running, attempts + 1, committed first, so a crash mid-run is visible as
 * an attempt), reads its payload back and hands it to the run hook; the
 * hook reports the outcome with nb_queue_done: finished (with follow-up
 * jobs inserted in the same transaction), or requeued for a later time.
 * On open, rows left running by a crash are requeued: at-least-once.
 */
#ifndef NB_QUEUE_QUEUE_H
#define NB_QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "store/store.h"

enum nb_queue_kind {
    NB_QUEUE_HTTP = 1,    /* an HTTP trigger request to replay (meta: the request) */
    NB_QUEUE_EVENT = 2,   /* an event invocation (invoke API, timers, destinations) */
    NB_QUEUE_WEBHOOK = 3, /* a POST of payload to meta.url (destinations, callbacks) */
};

#define NB_QUEUE_WEBHOOK_LANE "#webhook"
#define NB_QUEUE_DEFAULT_LIMIT 10

/* What to enqueue.  Everything is copied. */
struct nb_queue_item {
    const char *id; /* NULL: a new UUID */
    const char *service;
    const char *function;
    const char *qualifier; /* may be NULL */
    int kind;
    const char *meta; /* JSON text, may be NULL */
    const void *payload;
    size_t payload_len;
    int64_t not_before_ms; /* 0: now */
    /* Timer fires: record timer_ms as the trigger's last fire; skip if not newer. */
    const char *timer_trigger;
    int64_t timer_ms;
};

/* A claimed job, owned by the queue; the run hook must end it with nb_queue_done. */
struct nb_queue_job {
    int64_t seq;
    char id[40];
    char *service, *function, *qualifier;
    int kind;
    int attempts; /* including this run */
    int64_t created_ms;
    char *meta;
    void *payload;
    size_t payload_len;
    void *priv;
};

struct nb_queue_outcome {
    int state;           /* NB_QSTATE_SUCCEEDED / FAILED / EXPIRED, or QUEUED: run again */
    int64_t retry_at_ms; /* QUEUED: when */
    int refund;          /* QUEUED: the attempt does not count (shutdown) */
    const void *result;  /* stored as given: bound it first */
    size_t result_len;
    int http_status;
    const char *error;
    const struct nb_queue_item *followups; /* inserted in the same transaction */
    size_t nfollowups;
};

struct nb_queue_stats {
    unsigned ready;   /* due, waiting for a lane slot */
    unsigned delayed; /* waiting for their time (retries, backoff) */
    unsigned running; /* claimed and not done */
    uint64_t enqueued, commits, committed_ops;
};

struct nb_queue;

/* Runs job (on the loop); the hook ends it with nb_queue_done, now or later. */
typedef void (*nb_queue_run_fn)(struct nb_queue_job *job, void *udata);
/* status: 0 durable; -EALREADY a timer fire already recorded; else -errno. */
typedef void (*nb_queue_enqueued_fn)(int status, const char *id, void *arg);

/*
 * Opens the queue over the store's database (migrated), requeues rows a
 * crash left running and loads the index of queued rows.  Blocks on disk
 * (start-up only).  Dispatching starts with nb_queue_start.
 */
int nb_queue_open(uv_loop_t *loop, struct nb_store *store, nb_queue_run_fn run, void *udata,
                  struct nb_queue **out, struct nb_err *err);
void nb_queue_start(struct nb_queue *q);
/* Stops dispatching and closes the loop handles; commits still finish (shutdown). */
void nb_queue_stop(struct nb_queue *q);
/* After the loop has ended. */
void nb_queue_free(struct nb_queue *q);

/*
 * Enqueues it; cb (may be NULL) runs on the loop once it is durable (or
 * failed).  Never calls cb from inside this call.  The id is in *id_out
 * (at least 37 bytes) when given.
 */
void nb_queue_enqueue(struct nb_queue *q, const struct nb_queue_item *it, nb_queue_enqueued_fn cb,
                      void *arg, char *id_out);
/* Ends a job (frees it). */
void nb_queue_done(struct nb_queue *q, struct nb_queue_job *job, const struct nb_queue_outcome *o);
/* Jobs of lane at most limit at once (>= 1). */
void nb_queue_set_limit(struct nb_queue *q, const char *lane, unsigned limit);
void nb_queue_stats(const struct nb_queue *q, struct nb_queue_stats *out);
/* Batches committing or waiting to (shutdown waits for 0). */
unsigned nb_queue_busy(const struct nb_queue *q);

/*
 * Reads on a worker thread; cb runs on the loop with 0 and the row(s)
 * (borrowed for the call), or -ENOENT / -errno with err.
 */
typedef void (*nb_queue_get_fn)(int status, const struct nb_store_qrow *row,
                                const struct nb_err *err, void *arg);
void nb_queue_get(struct nb_queue *q, const char *id, nb_queue_get_fn cb, void *arg);
typedef void (*nb_queue_list_fn)(int status, const struct nb_store_qrow *rows, size_t n,
                                 const struct nb_err *err, void *arg);
void nb_queue_list(struct nb_queue *q, const char *service, const char *function, size_t limit,
                   nb_queue_list_fn cb, void *arg);

#endif
