/*
 * instance.h: one running runtime process (an "instance") as the daemon sees
 * it: starts it through sandbox/, initializes it (INIT), sends it
 * invocations (INVOKE) and turns its RESULT / ERROR / LOG frames, its raw
 * stdout/stderr and its exit into callbacks.  Everything runs on the uv loop.
 *
 * An instance may serve several invocations at once (instanceConcurrency);
 * the scheduler (sched/) decides which instance gets which invocation, and
 * this layer enforces each invocation's deadline: when one passes, the
 * whole instance is killed (a runtime cannot be trusted to stop a handler),
 * every invocation in flight on it completes with NB_INV_TIMEOUT or
 * NB_INV_CRASHED, and on_exit follows.
 */
#ifndef NB_RUNTIME_INSTANCE_H
#define NB_RUNTIME_INSTANCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/kv.h"
#include "runtime/family.h"

enum nb_inv_kind {
    NB_INV_HTTP = 1,  /* an HTTP trigger: meta carries the HTTP request */
    NB_INV_EVENT = 2, /* invoke API / async / timer: body is the event payload */
};

enum nb_inv_status {
    NB_INV_OK = 0,      /* the handler returned (for HTTP: a response) */
    NB_INV_HANDLED,     /* the handler reported an error (callback(err) / rejected) */
    NB_INV_UNHANDLED,   /* the handler threw / the runtime reported an unhandled error */
    NB_INV_TIMEOUT,     /* the deadline passed; the instance was killed */
    NB_INV_CRASHED,     /* the instance exited or broke the protocol mid-invocation */
    NB_INV_INIT_FAILED, /* the instance could not start or its init/initializer failed */
    NB_INV_CANCELLED,   /* never started (shutdown, function deleted) */
    NB_INV_THROTTLED,   /* never started: waited the pool's queue timeout (sched/) */
};

/* One invocation.  The caller owns it and everything it points to until done runs. */
struct nb_invocation {
    enum nb_inv_kind kind;
    char request_id[40];
    uint32_t id;      /* set by nb_instance_invoke: per-instance frame id */
    int timeout_ms;   /* from the function's timeout */
    const char *meta; /* INVOKE meta JSON text (see docs/internals/runtime-protocol.md) */
    size_t meta_len;
    uint8_t meta_flags; /* the INVOKE frame's flags: NB_FRAME_F_FIELDS if meta is the fields form */
    const char *body;   /* payload, raw */
    size_t body_len;

    /*
     * Filled before done runs.  nb_instance_invoke initializes them (even
     * when it fails), so the caller always ends with nb_buf_release(&result),
     * nb_buf_release(&result_head) and json_decref(result_meta).
     */
    enum nb_inv_status status;
    int http_status;     /* the RESULT meta's status (HTTP kind; 200 if it has none), else 0 */
    json_t *result_meta; /* ERROR meta object ("handled"; owned, freed by the caller), or NULL */
    /*
     * An HTTP answer's headers as "name\0value\0" pairs, in the order the
     * function set them, repeats kept: from a JSON meta's "headers" or a HEAD
     * meta (docs/internals/runtime-protocol.md).  Read with nb_invocation_header.
     */
    struct nb_buf result_head;
    int result_head_set;  /* the answer's first meta was taken (later frames' are ignored) */
    struct nb_buf result; /* RESULT body, or the FC error JSON body for errors */
    char error[512];      /* for TIMEOUT/CRASHED/INIT_FAILED: what happened, for the caller */
    uint64_t start_ns, end_ns;
    /*
     * The instance's peak memory use (its cgroup's): read it with
     * nb_invocation_memory_mb from done, which reads the cgroup only when
     * asked, so that a caller can answer first.  -1 until then.
     */
    int max_memory_mb;
    /*
     * Set by the scheduler when it hands the invocation to an instance:
     * dispatch_ns (nb_now_ns(); 0 if it never reached one) starts the billed
     * duration; init_ns is that instance's init duration (sandbox start to
     * INIT_OK) when the invocation waited for that instance to start (a
     * cold start), else 0.
     */
    uint64_t dispatch_ns, init_ns;

    /*
     * If non-NULL, the scheduler appends this invocation's log lines to it
     * (text, one line each, "\n"-terminated) as far as its cap allows: the
     * source of X-Fc-Log-Result.  Owned by the caller.
     */
    struct nb_buf *log_tail;

    void (*done)(struct nb_invocation *inv, void *arg);
    void *done_arg;
    /* private to the scheduler (sched/) */
    void *priv_sched[4];
    /* private to the instance */
    void *priv_inst;
    void *priv_mem; /* the instance, while done runs */
    void *priv_list[2];
};

/*
 * The next header of an HTTP answer: *pos starts at 0.  Returns 1 and sets
 * name and value (NUL-terminated, inside inv->result_head), or 0 at the end.
 */
int nb_invocation_header(const struct nb_invocation *inv, size_t *pos, const char **name,
                         const char **value);

/* inv's max_memory_mb (see there); call it from inv's done callback. */
int nb_invocation_memory_mb(struct nb_invocation *inv);

struct nb_instance;

struct nb_instance_callbacks {
    /*
     * INIT finished: ok = 1 (INIT_OK) or 0 (INIT_ERROR, start failure or
     * exit before INIT_OK); error_body is the FC error JSON (or NULL) and
     * error a one-line description.  After ok = 0 the instance is dying and
     * on_exit will follow.
     */
    void (*on_ready)(struct nb_instance *inst, int ok, const char *error_body, size_t len,
                     const char *error, void *udata);
    /*
     * A log line from the function: inv is the invocation it belongs to, or
     * NULL for instance-level output (stdout/stderr outside any invocation,
     * or with more than one in flight).  stream is "stdout", "stderr", or a
     * level name from the shim's logger ("info", "error", ...).
     */
    void (*on_log)(struct nb_instance *inst, struct nb_invocation *inv, const char *stream,
                   const char *msg, size_t len, void *udata);
    /*
     * The process is gone and reaped; every invocation has completed.
     * reason is a one-line cause ("exited with code 1", "killed by signal 9",
     * "killed at timeout (60 s)").  The instance is freed after this returns.
     */
    void (*on_exit)(struct nb_instance *inst, const char *reason, void *udata);
};

struct nb_instance_spec {
    const char *id;           /* unique instance id (for logs and the sandbox) */
    const char *runtime;      /* "nodejs20", ... */
    const char *runtimes_dir; /* host path of the repo's runtimes/ tree */
    const char *code_dir;     /* host path of the unpacked code */
    const char *const *env;   /* "K=V" function environment, NULL-terminated (may be NULL) */
    const char *init_meta;    /* INIT meta JSON text (docs/internals/runtime-protocol.md) */
    int memory_mb;
    int init_timeout_ms; /* for INIT (loading + initializer) */
    int internet;
};

/*
 * Starts an instance and sends INIT.  on_ready reports the outcome.  Returns
 * 0 and sets *out, or -errno with err filled (nothing started, no callbacks).
 */
int nb_instance_start(uv_loop_t *loop, const struct nb_instance_spec *spec,
                      const struct nb_instance_callbacks *cbs, void *udata,
                      struct nb_instance **out, struct nb_err *err);
/*
 * Starts a pre-warmed generic instance of runtime (nodejs* or python3*):
 * sandbox, interpreter and shim, no code, no INIT, under a uid drawn for
 * this instance (docs/security.md).  cbs/udata get on_exit (and on_log)
 * until it is specialized.  0 and *out, or -errno with err filled.
 */
int nb_instance_start_generic(uv_loop_t *loop, const char *id, const char *runtime,
                              const char *runtimes_dir, const struct nb_instance_callbacks *cbs,
                              void *udata, struct nb_instance **out, struct nb_err *err);
/*
 * Specializes a generic instance for spec's function: mounts spec->code_dir
 * at /code in it, sets its memory limit, then sends INIT (with spec->env in
 * the meta's "env") like nb_instance_start; cbs/udata replace the previous
 * ones and on_ready reports the outcome.  spec->internet must be 0.  0, or
 * -errno with err filled (the instance is untouched: kill it).
 */
int nb_instance_specialize(struct nb_instance *inst, const struct nb_instance_spec *spec,
                           const struct nb_instance_callbacks *cbs, void *udata,
                           struct nb_err *err);
/*
 * Sends inv to a ready instance.  inv->done runs exactly once, later (never
 * from inside this call).  Returns 0, or -EPIPE if the instance is dying or
 * its initialization failed, or -EMSGSIZE if meta/body pass the protocol
 * limits (then done is not called).  An instance still initializing accepts
 * invocations: the shim runs them once INIT is done (or they end with
 * NB_INV_INIT_FAILED).  inv->timeout_ms > 0 is enforced: past it the
 * instance is killed and inv ends with NB_INV_TIMEOUT.
 */
int nb_instance_invoke(struct nb_instance *inst, struct nb_invocation *inv);
/* Kills the instance; in-flight invocations end with status (CRASHED or CANCELLED). */
void nb_instance_kill(struct nb_instance *inst, const char *reason);
/* Invocations in flight. */
unsigned nb_instance_inflight(const struct nb_instance *inst);
const char *nb_instance_id(const struct nb_instance *inst);
pid_t nb_instance_pid(const struct nb_instance *inst);

#endif
