/*
 * sched.h: instance pools, one per function version.
 *
 * OVERALL DESIGN
 * A pool owns the instances of one function version (code + config).  An
 * invocation goes to the ready instance with the fewest invocations in
 * flight below instanceConcurrency; if there is none it waits in the pool's
 * bounded FIFO, and a new instance is started while the pool is below
 * max_instances and the instances starting cannot absorb the queue.  A
 * call that waits longer than queue_timeout_ms ends NB_INV_THROTTLED (429).
 * An instance idle for idle_timeout_ms is stopped (scale to zero), except
 * the min_instances a pool keeps started from its creation on.  A pool
 * whose function changed is retired: it takes no new work, its queued and
 * in-flight invocations finish, then its instances stop and it frees
 * itself.  Everything runs on the loop.
 */
#ifndef NB_SCHED_SCHED_H
#define NB_SCHED_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "runtime/instance.h"

struct nb_logstore;

struct nb_pool_config {
    char *service;
    char *function;
    char *runtime;
    char *code_dir;  /* host path of the unpacked code */
    char *init_meta; /* INIT meta JSON text */
    char **env;      /* "K=V", NULL-terminated */
    int memory_mb;
    int timeout_s;
    int init_timeout_s;
    int concurrency;
    int internet;
    int max_instances;         /* default 100 */
    int min_instances;         /* kept started, never reaped; default 0 (<= max_instances) */
    int max_queue;             /* pending invocations; default 1000 */
    unsigned idle_timeout_ms;  /* default 300 s */
    unsigned queue_timeout_ms; /* longest wait in the queue; default 10 s */
};

struct nb_sched_stats {
    uint64_t instances_started;
    uint64_t cold_starts;
    uint64_t throttled; /* calls refused: queue full or queue timeout */
    unsigned instances;
    unsigned pending;
    unsigned starting, busy, idle; /* instances by state (added for /metrics) */
};

/* One pool's instances by state and its queue (for /metrics and nubis top). */
struct nb_pool_stats {
    unsigned instances, starting, busy, idle, pending;
};

struct nb_sched;
struct nb_pool;

/* logs may be NULL (tests).  runtimes_dir: host path of runtimes/. */
struct nb_sched *nb_sched_new(uv_loop_t *loop, const char *runtimes_dir, struct nb_logstore *logs);
/* Stops every pool (kills instances, cancels queued work) and calls done once all are gone. */
void nb_sched_shutdown(struct nb_sched *s, void (*done)(void *), void *arg);
void nb_sched_free(struct nb_sched *s);
/*
 * Keeps per_runtime pre-warmed generic instances started for each runtime
 * family (nodejs*, python3*; 0 turns it off), refilled in the background.
 * A cold start of a function without internetAccess specializes one
 * instead of starting a fresh instance (docs/internals/sched.md).
 */
void nb_sched_set_prewarm(struct nb_sched *s, int per_runtime);
void nb_sched_stats(const struct nb_sched *s, struct nb_sched_stats *out);

/*
 * Creates a pool; cfg's contents are moved into the pool (cfg is zeroed).
 * Starts its min_instances at once.
 */
struct nb_pool *nb_pool_new(struct nb_sched *s, struct nb_pool_config *cfg);
/*
 * Runs inv on the pool.  inv->done runs exactly once, later; with status
 * NB_INV_THROTTLED if it waited queue_timeout_ms for an instance.  Returns
 * 0, or -EAGAIN when the pool's queue is full (429), -ESHUTDOWN if it is
 * retired (done not called in either case).  Sets inv->priv_sched; *cold is
 * set when the invocation waits for an instance starting for it (may be
 * NULL); such an invocation gets that instance's init duration in init_ns.
 */
int nb_pool_submit(struct nb_pool *p, struct nb_invocation *inv, int *cold);
void nb_pool_stats(const struct nb_pool *p, struct nb_pool_stats *out);
/* Retires a pool (see above); the pool frees itself when empty. */
void nb_pool_retire(struct nb_pool *p);

#endif
