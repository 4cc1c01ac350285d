/*
 * instance.c: one runtime process as the daemon sees it (see instance.h).
 *
 * OVERALL DESIGN
 * An instance owns a sandboxed process (sandbox/) and eight libuv handles:
 * the protocol pipes (ctl reads the runtime's fd 4, ctl_w writes to its
 * fd 3), the stdout and stderr pipes, a uv_poll_t on the pidfd (exit), two
 * timers (INIT and invocation deadlines; one deadline timer serves every
 * invocation in flight, armed at the earliest deadline), and a check and an
 * idle handle that send the small frames queued during a loop turn in one
 * write at its end (the cork: at 16 concurrent requests the runtime then
 * wakes once per turn, not once per request).
 *
 * Frames from the shim are decoded in place in one read buffer that grows to
 * the size of the frame being received (the header tells it), so a 10 MB
 * body costs one allocation and one copy into the invocation's result.
 *
 * Lifecycle: ALIVE -> (kill: timeout, protocol error, INIT_ERROR, explicit)
 * DYING -> the pidfd says the process is gone -> EXITED: the rest of the
 * pipes is drained (a RESULT written just before exit counts),
 * every handle is closed, the process reaped, in-flight invocations
 * completed (TIMEOUT / CRASHED / INIT_FAILED / CANCELLED), and when the last
 * close callback runs, on_exit is called and the instance freed.
 *
 * Invariant that keeps callers' memory safe: an invocation's INVOKE write
 * may still reference the caller's meta/body (corked frames are copies), so an invocation is
 * completed only after its write finished, or after ctl_w was closed (which cancels the write
 * without touching the data).  A shim answering before it could have read the request is a protocol
 * error.
 */
#include "runtime/instance.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/protocol.h"
#include "sandbox/sandbox.h"

#define MOD "runtime"
#define READ_CHUNK (64u * 1024)
#define READ_KEEP_MAX (1u << 20) /* shrink the read buffer back when idle and larger */
#define READ_MAX ((size_t)NB_FRAME_HEADER_SIZE + NB_FRAME_MAX_META + NB_FRAME_MAX_BODY + READ_CHUNK)
#define LINE_MAX_LEN (16u * 1024)   /* raw stdout/stderr lines are cut at this length */
#define DRAIN_MAX (4u << 20)        /* bytes read per pipe at exit */
#define NB_GENERIC_MEMORY_MB 256    /* a generic instance's limit until specialized */
#define EOF_GRACE_MS 1000           /* after the runtime closed its pipe, before SIGKILL */
#define CORK_FRAME_MAX (16u * 1024) /* frames up to this size wait for the loop turn's end */
#define CORK_FLUSH_AT (64u * 1024)  /* ... unless this much waits already */
#define CORK_BUF_MAX (128u * 1024)

enum inst_state { ST_ALIVE, ST_DYING, ST_EXITED };

/* An INVOKE / INIT write in progress; freed in its callback. */
struct write_req {
    uv_write_t req;
    unsigned char hdr[NB_FRAME_HEADER_SIZE];
    struct nb_instance *inst;
    struct nb_invocation *inv; /* NULL for INIT, or once detached at exit */
    char *owned;               /* freed with the request (INIT meta) */
};

/* Raw stdout/stderr of the process, split into lines. */
struct line_reader {
    uv_pipe_t pipe;
    struct nb_buf partial;
    const char *stream;
    int open;
};

struct nb_instance {
    uv_loop_t *loop;
    char *id;
    struct nb_instance_callbacks cbs;
    void *udata;
    struct nb_sandbox_proc proc;
    pid_t pid;
    enum inst_state state;
    int ready;   /* 0 pending, 1 INIT_OK, -1 failed (on_ready(0) reported) */
    int generic; /* pre-warmed, no code, no INIT yet (nb_instance_start_generic) */
    int silent;  /* start failed: no callbacks, just free */
    int proto_error;
    int ctl_eof; /* the runtime closed its pipe: it should exit; it has a grace period */
    int killed;  /* we sent SIGKILL */
    int handles_open;
    char kill_reason[256];
    char exit_reason[256];
    char init_error[512];
    struct nb_buf init_body; /* INIT_ERROR body, for invocations queued before ready */
    int init_timeout_ms;
    uint64_t start_ns;

    uv_pipe_t ctl;   /* frames from the runtime */
    uv_pipe_t ctl_w; /* frames to the runtime */
    /*
     * Small frames queued in one loop turn go out together in one write,
     * from the check phase (after the loop's I/O callbacks): with many
     * requests arriving at once the runtime wakes once for all of them.
     * The idle handle keeps the loop from blocking in poll while bytes wait
     * (frames queued from a timer, before the poll phase).
     */
    struct nb_buf cork;
    uv_check_t cork_check;
    uv_idle_t cork_idle;
    /* The cgroup's peak memory, read at most once per loop time (ms). */
    uint64_t peak, peak_at;
    struct line_reader out, err;
    uv_poll_t exit_poll;
    uv_timer_t init_timer, deadline_timer;
    uint64_t armed_deadline_ns; /* 0: deadline timer not armed */

    /* ctl read buffer: bytes [rstart, rlen) are received, not yet consumed */
    char *rbuf;
    size_t rstart, rlen, rcap, rneed;

    struct nb_invocation **infl;
    unsigned ninfl, capinfl;
    uint32_t next_id;
};

static void kill_internal(struct nb_instance *inst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- helpers */

static struct nb_invocation *find_inv(struct nb_instance *inst, uint32_t id)
{
    for (unsigned i = 0; i < inst->ninfl; i++) {
        if (inst->infl[i]->id == id)
            return inst->infl[i];
    }
    return NULL;
}

static void remove_inv(struct nb_instance *inst, struct nb_invocation *inv)
{
    for (unsigned i = 0; i < inst->ninfl; i++) {
        if (inst->infl[i] == inv) {
            inst->infl[i] = inst->infl[--inst->ninfl];
            return;
        }
    }
}

/* The invocation raw output belongs to: the only one in flight, else none. */
static struct nb_invocation *single_inv(struct nb_instance *inst)
{
    return inst->ninfl == 1 ? inst->infl[0] : NULL;
}

static uint64_t inv_deadline(const struct nb_invocation *inv)
{
    return inv->timeout_ms > 0 ? inv->start_ns + (uint64_t)inv->timeout_ms * 1000000u : 0;
}

/* The instance whose invocation's done callback is running (nb_invocation_memory_mb). */
static _Thread_local struct nb_instance *completing;

int nb_invocation_memory_mb(struct nb_invocation *inv)
{
    struct nb_instance *inst = inv->priv_mem;
    if (inv->max_memory_mb >= 0 || inst == NULL || inst != completing)
        return inv->max_memory_mb < 0 ? 0 : inv->max_memory_mb;
    /* The instance's peak so far (its cgroup's), or at exit the final one. */
    uint64_t peak = inst->proc.memory_peak;
    if (inst->proc.priv) {
        uint64_t now = uv_now(inst->ctl.loop);
        if (inst->peak_at != now || inst->peak == 0) {
            inst->peak = nb_sandbox_memory_peak(&inst->proc);
            inst->peak_at = now;
        }
        peak = inst->peak;
    }
    inv->max_memory_mb = (int)((peak + (1u << 20) - 1) >> 20);
    return inv->max_memory_mb;
}

/* Removes inv from the instance and runs its done callback (which may free it). */
static void complete(struct nb_instance *inst, struct nb_invocation *inv, enum nb_inv_status st)
{
    remove_inv(inst, inv);
    inv->status = st;
    inv->end_ns = nb_now_ns();
    inv->max_memory_mb = -1; /* read when asked: after the caller's answer */
    inv->priv_mem = inst;
    inv->priv_inst = NULL;
    inv->priv_list[0] = NULL;
    struct nb_instance *outer = completing;
    completing = inst;
    inv->done(inv, inv->done_arg);
    completing = outer;
}

/* Pulls "errorMessage" (and "errorType") out of an FC error body, for one-line messages. */
static void error_summary(const char *body, size_t len, char *out, size_t outlen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *msg = j ? json_string_value(json_object_get(j, "errorMessage")) : NULL;
    const char *type = j ? json_string_value(json_object_get(j, "errorType")) : NULL;
    if (msg && type && *type)
        snprintf(out, outlen, "%s: %s", type, msg);
    else if (msg)
        snprintf(out, outlen, "%s", msg);
    else
        snprintf(out, outlen, "%.*s", (int)(len > 200 ? 200 : len), body);
    json_decref(j);
}

static void format_seconds(char *out, size_t len, int ms)
{
    snprintf(out, len, "%g", ms / 1000.0);
}

/* ------------------------------------------------------------ raw output */

static void emit_line(struct nb_instance *inst, const char *stream, const char *s, size_t n)
{
    if (inst->cbs.on_log && !inst->silent)
        inst->cbs.on_log(inst, single_inv(inst), stream, s, n, inst->udata);
}

static void lines_feed(struct nb_instance *inst, struct line_reader *lr, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (lr->partial.len + take > LINE_MAX_LEN) {
            /* Overlong line: flush what fits as a line of its own. */
            size_t room = LINE_MAX_LEN - lr->partial.len;
            nb_buf_append(&lr->partial, p, room);
            emit_line(inst, lr->stream, lr->partial.data, lr->partial.len);
            nb_buf_reset(&lr->partial);
            p += room;
            n -= room;
            continue;
        }
        if (!nl) {
            nb_buf_append(&lr->partial, p, n);
            return;
        }
        if (lr->partial.len == 0) {
            emit_line(inst, lr->stream, p, take);
        } else {
            nb_buf_append(&lr->partial, p, take);
            emit_line(inst, lr->stream, lr->partial.data, lr->partial.len);
            nb_buf_reset(&lr->partial);
        }
        p += take + 1;
        n -= take + 1;
    }
}

static void lines_flush(struct nb_instance *inst, struct line_reader *lr)
{
    if (lr->partial.len) {
        emit_line(inst, lr->stream, lr->partial.data, lr->partial.len);
        nb_buf_reset(&lr->partial);
    }
}

static void pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char scratch[READ_CHUNK]; /* the loop thread only; consumed before the next read */
    buf->base = scratch;
    buf->len = sizeof(scratch);
}

static void pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct nb_instance *inst = s->data;
    struct line_reader *lr = (uv_pipe_t *)s == &inst->out.pipe ? &inst->out : &inst->err;
    if (nread > 0) {
        lines_feed(inst, lr, buf->base, (size_t)nread);
    } else if (nread < 0) {
        uv_read_stop(s);
        lines_flush(inst, lr);
    }
}

/* Reads what is left in a pipe at exit, without blocking, up to DRAIN_MAX. */
static void pipe_drain(struct nb_instance *inst, struct line_reader *lr)
{
    uv_os_fd_t fd;
    if (!lr->open || uv_fileno((uv_handle_t *)&lr->pipe, &fd) < 0)
        return;
    char b[READ_CHUNK];
    size_t total = 0;
    while (total < DRAIN_MAX) {
        ssize_t n = read(fd, b, sizeof(b));
        if (n <= 0)
            break;
        lines_feed(inst, lr, b, (size_t)n);
        total += (size_t)n;
    }
    lines_flush(inst, lr);
}

/* ------------------------------------------------------------ ctl frames */

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct nb_instance *inst = w->inst;
    if (w->inv)
        w->inv->priv_list[0] = NULL;
    free(w->owned);
    free(w);
    if (status < 0 && status != UV_ECANCELED && inst->state == ST_ALIVE)
        kill_internal(inst, "write to the runtime failed: %s", uv_err_name(status));
}

/*
 * Writes bufs as far as the pipe takes them now (when nothing is queued
 * before them; most frames fit at once, which spares a write request and the
 * poll-for-writable dance) and queues the rest with w.  w and w->owned are
 * freed when nothing is left to write, or on error.  0 or a negative errno.
 */
static int write_or_queue(struct nb_instance *inst, struct write_req *w, uv_buf_t *bufs, unsigned n)
{
    uv_buf_t *rest = bufs;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&inst->ctl_w) == 0) {
        int t = uv_try_write((uv_stream_t *)&inst->ctl_w, bufs, n);
        size_t done = t > 0 ? (size_t)t : 0;
        while (n > 0 && done >= rest->len) {
            done -= rest->len;
            rest++;
            n--;
        }
        if (n == 0) {
            free(w->owned);
            free(w);
            return 0;
        }
        rest->base += done;
        rest->len -= done;
    }
    int r = uv_write(&w->req, (uv_stream_t *)&inst->ctl_w, rest, n, on_write);
    if (r < 0) {
        free(w->owned);
        free(w);
        return r;
    }
    if (w->inv)
        w->inv->priv_list[0] = w;
    return 0;
}

static struct write_req *write_req_new(struct nb_instance *inst, struct nb_invocation *inv,
                                       char *owned)
{
    struct write_req *w = nb_xmalloc(sizeof(*w));
    w->inst = inst;
    w->inv = inv;
    w->owned = owned;
    return w;
}

/* Writes the corked frames. */
static int cork_flush(struct nb_instance *inst)
{
    uv_check_stop(&inst->cork_check);
    uv_idle_stop(&inst->cork_idle);
    if (inst->cork.len == 0)
        return 0;
    size_t len;
    char *data = nb_buf_steal(&inst->cork, &len);
    nb_buf_init(&inst->cork, CORK_BUF_MAX);
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    return write_or_queue(inst, write_req_new(inst, NULL, data), &b, 1);
}

static void cork_check_cb(uv_check_t *h)
{
    struct nb_instance *inst = h->data;
    int r = cork_flush(inst);
    if (r < 0 && inst->state == ST_ALIVE)
        kill_internal(inst, "write to the runtime failed: %s", uv_err_name(r));
}

static void cork_idle_cb(uv_idle_t *h)
{
    (void)h; /* only there so that poll does not block while frames wait */
}

/*
 * Queues one frame on ctl_w.  meta/body must stay valid until the write
 * completes (owned, if non-NULL, is freed then).  0 or a negative errno;
 * on error nothing is queued and owned is freed.
 */
static int send_frame(struct nb_instance *inst, uint8_t type, uint8_t flags, uint32_t id,
                      const char *meta, size_t meta_len, const char *body, size_t body_len,
                      struct nb_invocation *inv, char *owned)
{
    if (NB_FRAME_HEADER_SIZE + meta_len + body_len <= CORK_FRAME_MAX &&
        uv_stream_get_write_queue_size((uv_stream_t *)&inst->ctl_w) == 0) {
        uint8_t hdr[NB_FRAME_HEADER_SIZE];
        nb_frame_header_encode(hdr, type, flags, id, (uint32_t)meta_len, (uint32_t)body_len);
        if (inst->cork.len == 0) {
            uv_check_start(&inst->cork_check, cork_check_cb);
            uv_idle_start(&inst->cork_idle, cork_idle_cb);
        }
        nb_buf_append(&inst->cork, hdr, sizeof(hdr));
        nb_buf_append(&inst->cork, meta, meta_len);
        nb_buf_append(&inst->cork, body, body_len);
        free(owned);
        if (inst->cork.len >= CORK_FLUSH_AT)
            return cork_flush(inst);
        return 0;
    }
    int r = cork_flush(inst); /* what waits goes first */
    if (r < 0) {
        free(owned);
        return r;
    }
    struct write_req *w = write_req_new(inst, inv, owned);
    nb_frame_header_encode(w->hdr, type, flags, id, (uint32_t)meta_len, (uint32_t)body_len);
    uv_buf_t bufs[3];
    unsigned n = 0;
    bufs[n++] = uv_buf_init((char *)w->hdr, sizeof(w->hdr));
    if (meta_len)
        bufs[n++] = uv_buf_init((char *)meta, (unsigned)meta_len);
    if (body_len)
        bufs[n++] = uv_buf_init((char *)body, (unsigned)body_len);
    return write_or_queue(inst, w, bufs, n);
}

/* Fast path for the shim's constant LOG metas; jansson for anything else. */
static const char *log_stream(const struct nb_frame *f, char *scratch, size_t len)
{
    static const char *const known[] = {"stdout", "stderr", "info", "warn", "error", "debug"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(known); i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "{\"stream\":\"%s\"}", known[i]);
        if ((size_t)n == f->meta_len && memcmp(m, f->meta, (size_t)n) == 0)
            return known[i];
    }
    const char *s = "stdout";
    json_t *j = f->meta_len ? json_loadb(f->meta, f->meta_len, 0, NULL) : NULL;
    const char *v = j ? json_string_value(json_object_get(j, "stream")) : NULL;
    if (!v && j)
        v = json_string_value(json_object_get(j, "level"));
    if (v) {
        snprintf(scratch, len, "%s", v);
        s = scratch;
    }
    json_decref(j);
    return s;
}

static void frame_init_done(struct nb_instance *inst, const struct nb_frame *f)
{
    if (inst->ready != 0)
        return;
    uv_timer_stop(&inst->init_timer);
    if (f->type == NB_FRAME_INIT_OK) {
        inst->ready = 1;
        nb_debug(MOD, "instance %s ready in %.1f ms", inst->id,
                 (double)(nb_now_ns() - inst->start_ns) / 1e6);
        if (inst->cbs.on_ready)
            inst->cbs.on_ready(inst, 1, NULL, 0, NULL, inst->udata);
        return;
    }
    inst->ready = -1;
    char summary[400];
    error_summary(f->body, f->body_len, summary, sizeof(summary));
    snprintf(inst->init_error, sizeof(inst->init_error), "initialization failed: %s", summary);
    nb_buf_reset(&inst->init_body);
    nb_buf_append(&inst->init_body, f->body, f->body_len);
    if (inst->cbs.on_ready)
        inst->cbs.on_ready(inst, 0, f->body, f->body_len, inst->init_error, inst->udata);
    kill_internal(inst, "killed after initialization error");
}

/* A HEAD meta (NB_FRAME_F_HEAD): takes the status, keeps the pairs.  0, or -1 if malformed. */
static int head_meta(struct nb_invocation *inv, const char *m, size_t len)
{
    const char *pairs;
    size_t plen;
    int status = nb_head_parse(m, len, &pairs, &plen);
    if (status < 0)
        return -1;
    inv->http_status = status;
    return nb_buf_append(&inv->result_head, pairs, plen);
}

/* A JSON meta's statusCode and [[name, value], ...] headers into inv (HTTP). */
static int json_head(struct nb_invocation *inv, json_t *m)
{
    json_t *sc = json_object_get(m, "statusCode"), *pair;
    if (json_is_integer(sc))
        inv->http_status = (int)json_integer_value(sc);
    size_t i;
    int r = 0;
    json_array_foreach(json_object_get(m, "headers"), i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        if (name && value)
            r |= nb_buf_append(&inv->result_head, name, strlen(name) + 1) |
                 nb_buf_append(&inv->result_head, value, strlen(value) + 1);
    }
    return r;
}

/* The first answer frame's meta.  Returns 0, or -EPROTO after killing the instance. */
static int frame_meta(struct nb_instance *inst, struct nb_invocation *inv, const struct nb_frame *f)
{
    inv->result_head_set = 1;
    if (f->flags & NB_FRAME_F_HEAD) {
        if (f->type == NB_FRAME_RESULT && inv->kind == NB_INV_HTTP &&
            head_meta(inv, f->meta, f->meta_len) == 0)
            return 0;
        kill_internal(inst, "protocol error: bad %s head meta", nb_frame_type_name(f->type));
        return -EPROTO;
    }
    if (f->meta_len == 0)
        return 0;
    json_t *m = json_loadb(f->meta, f->meta_len, 0, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        kill_internal(inst, "protocol error: bad %s meta", nb_frame_type_name(f->type));
        return -EPROTO;
    }
    if (f->type == NB_FRAME_ERROR) {
        inv->result_meta = m; /* "handled" */
        return 0;
    }
    int r = inv->kind == NB_INV_HTTP ? json_head(inv, m) : 0;
    json_decref(m);
    if (r < 0) {
        kill_internal(inst, "protocol error: %s headers too large", nb_frame_type_name(f->type));
        return -EPROTO;
    }
    return 0;
}

int nb_invocation_header(const struct nb_invocation *inv, size_t *pos, const char **name,
                         const char **value)
{
    return nb_head_next(inv->result_head.data, inv->result_head.len, pos, name, value);
}

/* RESULT / ERROR for an invocation.  Returns 0 or -EPROTO. */
static int frame_answer(struct nb_instance *inst, const struct nb_frame *f)
{
    struct nb_invocation *inv = find_inv(inst, f->id);
    if (!inv || inv->status == NB_INV_TIMEOUT)
        return 0; /* late answer for an invocation already over */
    if (inv->priv_list[0]) {
        /*
         * The answer can arrive in the same loop turn as the INVOKE's write
         * completes, before libuv runs its callback.  The runtime read the
         * whole frame, so libuv no longer needs the caller's buffers: just
         * detach the pending write from the invocation.
         */
        ((struct write_req *)inv->priv_list[0])->inv = NULL;
        inv->priv_list[0] = NULL;
    }
    if (!inv->result_head_set && frame_meta(inst, inv, f) < 0)
        return -EPROTO;
    if (nb_buf_append(&inv->result, f->body, f->body_len) < 0) {
        kill_internal(inst, "protocol error: result of invocation %u larger than %u bytes", f->id,
                      NB_FRAME_MAX_BODY);
        return -EPROTO;
    }
    if (f->type == NB_FRAME_RESULT && (f->flags & NB_FRAME_F_MORE))
        return 0;
    if (f->type == NB_FRAME_RESULT) {
        if (inv->kind == NB_INV_HTTP && inv->http_status == 0)
            inv->http_status = 200;
        complete(inst, inv, NB_INV_OK);
    } else {
        int handled = json_is_true(json_object_get(inv->result_meta, "handled"));
        error_summary(inv->result.data ? inv->result.data : "", inv->result.len, inv->error,
                      sizeof(inv->error));
        complete(inst, inv, handled ? NB_INV_HANDLED : NB_INV_UNHANDLED);
    }
    return 0;
}

/* Handles one decoded frame.  Returns 0, or -EPROTO after killing the instance. */
static int handle_frame(struct nb_instance *inst, const struct nb_frame *f)
{
    switch (f->type) {
    case NB_FRAME_LOG: {
        char scratch[32];
        const char *stream = log_stream(f, scratch, sizeof(scratch));
        if (inst->cbs.on_log)
            inst->cbs.on_log(inst, f->id ? find_inv(inst, f->id) : NULL, stream, f->body,
                             f->body_len, inst->udata);
        return 0;
    }
    case NB_FRAME_RESULT:
    case NB_FRAME_ERROR:
        return frame_answer(inst, f);
    case NB_FRAME_INIT_OK:
    case NB_FRAME_INIT_ERROR:
        frame_init_done(inst, f);
        return 0;
    default:
        kill_internal(inst, "protocol error: unexpected %s frame from the runtime",
                      nb_frame_type_name(f->type));
        return -EPROTO;
    }
}

/* Frame size the bytes at hand announce (header + meta + body), or a header's. */
static size_t pending_frame_size(const struct nb_instance *inst)
{
    size_t avail = inst->rlen - inst->rstart;
    if (avail < NB_FRAME_HEADER_SIZE)
        return NB_FRAME_HEADER_SIZE;
    const unsigned char *p = (const unsigned char *)inst->rbuf + inst->rstart;
    uint32_t ml =
        (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    uint32_t bl =
        (uint32_t)p[12] | (uint32_t)p[13] << 8 | (uint32_t)p[14] << 16 | (uint32_t)p[15] << 24;
    return NB_FRAME_HEADER_SIZE + (size_t)ml + bl;
}

/* Makes room for at least want more bytes after rlen. */
static void rbuf_reserve(struct nb_instance *inst, size_t want)
{
    if (inst->rcap - inst->rlen >= want)
        return;
    if (inst->rstart > 0) {
        memmove(inst->rbuf, inst->rbuf + inst->rstart, inst->rlen - inst->rstart);
        inst->rlen -= inst->rstart;
        inst->rstart = 0;
        if (inst->rcap - inst->rlen >= want)
            return;
    }
    size_t cap = inst->rlen + want;
    if (cap < inst->rcap * 2)
        cap = inst->rcap * 2;
    if (cap > READ_MAX)
        cap = READ_MAX;
    inst->rbuf = nb_xrealloc(inst->rbuf, cap);
    inst->rcap = cap;
}

/* Decodes and handles every complete frame received so far. */
static void ctl_process(struct nb_instance *inst)
{
    while (!inst->proto_error) {
        struct nb_frame f;
        long n = nb_frame_decode(inst->rbuf + inst->rstart, inst->rlen - inst->rstart, &f);
        if (n == 0)
            break;
        if (n < 0) {
            inst->proto_error = 1;
            kill_internal(inst, "protocol error: bad frame from the runtime (%s)",
                          nb_errno_name(-(int)n));
            break;
        }
        inst->rstart += (size_t)n;
        if (handle_frame(inst, &f) < 0)
            inst->proto_error = 1;
    }
    if (inst->proto_error) {
        uv_read_stop((uv_stream_t *)&inst->ctl);
        inst->rstart = inst->rlen = 0;
    }
    if (inst->rstart == inst->rlen) {
        inst->rstart = inst->rlen = 0;
        if (inst->rcap > READ_KEEP_MAX) {
            free(inst->rbuf);
            inst->rbuf = NULL;
            inst->rcap = 0;
        }
    }
    inst->rneed = pending_frame_size(inst);
}

static void ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct nb_instance *inst = h->data;
    size_t have = inst->rlen - inst->rstart;
    size_t want = inst->rneed > have ? inst->rneed - have : 0;
    if (want < READ_CHUNK)
        want = READ_CHUNK;
    rbuf_reserve(inst, want);
    buf->base = inst->rbuf + inst->rlen;
    buf->len = inst->rcap - inst->rlen;
}

static void on_eof_grace(uv_timer_t *t)
{
    kill_internal(t->data, "the runtime closed its protocol pipe");
}

static void ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct nb_instance *inst = s->data;
    if (nread > 0) {
        inst->rlen += (size_t)nread;
        ctl_process(inst);
    } else if (nread < 0) {
        uv_read_stop(s);
        if (inst->state == ST_ALIVE && !inst->ctl_eof) {
            /*
             * A runtime closes its pipe on its way out (after an uncaught
             * exception, say): let it exit with its own status, but not
             * linger, since it can no longer answer.
             */
            inst->ctl_eof = 1;
            inst->armed_deadline_ns = 0;
            uv_timer_start(&inst->deadline_timer, on_eof_grace, EOF_GRACE_MS, 0);
        }
    }
}

/* Reads what is left on ctl at exit (a RESULT sent just before dying counts). */
static void ctl_drain(struct nb_instance *inst)
{
    uv_os_fd_t fd;
    if (inst->proto_error || uv_fileno((uv_handle_t *)&inst->ctl, &fd) < 0)
        return;
    for (;;) {
        size_t have = inst->rlen - inst->rstart;
        size_t want = inst->rneed > have ? inst->rneed - have : 0;
        rbuf_reserve(inst, want < READ_CHUNK ? READ_CHUNK : want);
        ssize_t n = read(fd, inst->rbuf + inst->rlen, inst->rcap - inst->rlen);
        if (n <= 0)
            break;
        inst->rlen += (size_t)n;
        ctl_process(inst);
        if (inst->proto_error)
            break;
    }
}

/* ------------------------------------------------------------- lifecycle */

static void kill_internal(struct nb_instance *inst, const char *fmt, ...)
{
    if (inst->state != ST_ALIVE)
        return;
    inst->state = ST_DYING;
    inst->killed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(inst->kill_reason, sizeof(inst->kill_reason), fmt, ap);
    va_end(ap);
    uv_timer_stop(&inst->init_timer);
    uv_timer_stop(&inst->deadline_timer);
    int r = nb_sandbox_kill(&inst->proc);
    if (r < 0)
        nb_warn(MOD, "instance %s: kill pid %d: %s", inst->id, (int)inst->pid, nb_errno_name(-r));
}

static void instance_free(struct nb_instance *inst)
{
    nb_buf_release(&inst->out.partial);
    nb_buf_release(&inst->err.partial);
    nb_buf_release(&inst->init_body);
    nb_buf_release(&inst->cork);
    free(inst->rbuf);
    free(inst->infl);
    free(inst->id);
    free(inst);
}

static void on_close(uv_handle_t *h)
{
    struct nb_instance *inst = h->data;
    if (--inst->handles_open > 0)
        return;
    if (!inst->silent && inst->cbs.on_exit)
        inst->cbs.on_exit(inst, inst->exit_reason, inst->udata);
    instance_free(inst);
}

/* A handle is ours to close once initialized (data set); each counts in handles_open. */
static void close_handle(struct nb_instance *inst, uv_handle_t *h)
{
    if (h->data == inst && !uv_is_closing(h))
        uv_close(h, on_close);
}

static void close_all_handles(struct nb_instance *inst)
{
    close_handle(inst, (uv_handle_t *)&inst->cork_check);
    close_handle(inst, (uv_handle_t *)&inst->cork_idle);
    close_handle(inst, (uv_handle_t *)&inst->exit_poll);
    close_handle(inst, (uv_handle_t *)&inst->ctl);
    close_handle(inst, (uv_handle_t *)&inst->ctl_w);
    close_handle(inst, (uv_handle_t *)&inst->out.pipe);
    close_handle(inst, (uv_handle_t *)&inst->err.pipe);
    close_handle(inst, (uv_handle_t *)&inst->init_timer);
    close_handle(inst, (uv_handle_t *)&inst->deadline_timer);
}

static void describe_status(struct nb_instance *inst, int status)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && inst->killed)
        snprintf(inst->exit_reason, sizeof(inst->exit_reason), "%s", inst->kill_reason);
    else if (inst->proc.oom_kills > 0)
        snprintf(inst->exit_reason, sizeof(inst->exit_reason), "out of memory (limit %d MB)",
                 inst->proc.memory_limit_mb);
    else if (WIFEXITED(status))
        snprintf(inst->exit_reason, sizeof(inst->exit_reason), "exited with code %d",
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(inst->exit_reason, sizeof(inst->exit_reason), "killed by signal %d (%s)",
                 WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(inst->exit_reason, sizeof(inst->exit_reason), "exited (status 0x%x)", status);
}

/*
 * The process is gone: drain, close, reap, then complete what was in flight.
 * Runs once, from the pidfd poll callback.
 */
static void on_exit_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct nb_instance *inst = h->data;
    if (inst->state == ST_EXITED)
        return;
    uv_poll_stop(h);

    ctl_drain(inst);
    pipe_drain(inst, &inst->out);
    pipe_drain(inst, &inst->err);
    inst->state = ST_EXITED;

    /* Closing ctl_w cancels pending writes without touching callers' data. */
    for (unsigned i = 0; i < inst->ninfl; i++) {
        struct write_req *w = inst->infl[i]->priv_list[0];
        if (w)
            w->inv = NULL;
        inst->infl[i]->priv_list[0] = NULL;
    }
    close_all_handles(inst);

    /* Strays the runtime left behind in its group die with it (the zombie holds the pgid). */
    nb_sandbox_kill(&inst->proc);
    int wstatus = 0;
    int r = nb_sandbox_reap(&inst->proc, &wstatus);
    if (r < 0) {
        snprintf(inst->exit_reason, sizeof(inst->exit_reason), "exited (wait: %s)",
                 nb_errno_name(-r));
    } else {
        describe_status(inst, wstatus);
    }
    nb_info(MOD, "instance %s (pid %d) %s; %u invocation(s) in flight", inst->id, (int)inst->pid,
            inst->exit_reason, inst->ninfl);

    if (inst->ready == 0) {
        inst->ready = -1;
        snprintf(inst->init_error, sizeof(inst->init_error),
                 "runtime %s before initialization completed", inst->exit_reason);
        if (inst->cbs.on_ready)
            inst->cbs.on_ready(inst, 0, NULL, 0, inst->init_error, inst->udata);
    }

    uint64_t now = nb_now_ns();
    while (inst->ninfl > 0) {
        struct nb_invocation *inv = inst->infl[inst->ninfl - 1];
        enum nb_inv_status st;
        if (inv->status == NB_INV_TIMEOUT) {
            st = NB_INV_TIMEOUT; /* error set when the deadline passed */
        } else if (inst->ready != 1) {
            if (inst->init_body.len && !inv->result.len)
                nb_buf_append(&inv->result, inst->init_body.data, inst->init_body.len);
            st = NB_INV_INIT_FAILED;
            snprintf(inv->error, sizeof(inv->error), "%s", inst->init_error);
        } else {
            st = NB_INV_CRASHED;
            unsigned long long peak_mb = (inst->proc.memory_peak + (1u << 20) - 1) >> 20;
            snprintf(inv->error, sizeof(inv->error),
                     "Process exited unexpectedly before completing request "
                     "(duration: %llums, maxMemoryUsage: %lluMB)%s%s",
                     (unsigned long long)((now - inv->start_ns) / 1000000u), peak_mb,
                     inst->proc.oom_kills > 0 ? ": " : "",
                     inst->proc.oom_kills > 0 ? inst->exit_reason : "");
            nb_info(MOD, "invocation %s on instance %s: crashed (%s)", inv->request_id, inst->id,
                    inst->exit_reason);
        }
        complete(inst, inv, st);
    }
}

static void on_init_timeout(uv_timer_t *t)
{
    struct nb_instance *inst = t->data;
    if (inst->ready != 0 || inst->state != ST_ALIVE)
        return;
    char secs[32];
    format_seconds(secs, sizeof(secs), inst->init_timeout_ms);
    inst->ready = -1;
    snprintf(inst->init_error, sizeof(inst->init_error),
             "Function initialization timed out after %s seconds", secs);
    if (inst->cbs.on_ready)
        inst->cbs.on_ready(inst, 0, NULL, 0, inst->init_error, inst->udata);
    kill_internal(inst, "killed at initialization timeout (%s s)", secs);
}

static void on_deadline(uv_timer_t *t);

static void arm_deadline_timer(struct nb_instance *inst, uint64_t deadline)
{
    if (!deadline || inst->state != ST_ALIVE || inst->ctl_eof)
        return;
    if (inst->armed_deadline_ns && inst->armed_deadline_ns <= deadline)
        return;
    uint64_t now = nb_now_ns();
    uint64_t ms = deadline > now ? (deadline - now + 999999u) / 1000000u : 0;
    inst->armed_deadline_ns = deadline;
    uv_timer_start(&inst->deadline_timer, on_deadline, ms, 0);
}

/* The earliest deadline passed (or nearly): time those out and kill, else re-arm. */
static void on_deadline(uv_timer_t *t)
{
    struct nb_instance *inst = t->data;
    inst->armed_deadline_ns = 0;
    if (inst->state != ST_ALIVE || inst->ctl_eof)
        return;
    uint64_t now = nb_now_ns();
    uint64_t next = 0;
    int expired = 0, secs_ms = 0;
    for (unsigned i = 0; i < inst->ninfl; i++) {
        struct nb_invocation *inv = inst->infl[i];
        uint64_t d = inv_deadline(inv);
        if (!d)
            continue;
        if (d <= now + 1000000u) {
            char secs[32];
            format_seconds(secs, sizeof(secs), inv->timeout_ms);
            inv->status = NB_INV_TIMEOUT;
            snprintf(inv->error, sizeof(inv->error), "Function timed out after %s seconds", secs);
            if (!expired)
                secs_ms = inv->timeout_ms;
            expired++;
        } else if (!next || d < next) {
            next = d;
        }
    }
    if (expired) {
        char secs[32];
        format_seconds(secs, sizeof(secs), secs_ms);
        kill_internal(inst, "killed at timeout (%s s)", secs);
    } else {
        arm_deadline_timer(inst, next);
    }
}

/* ------------------------------------------------------------ argv, env */

static char node_path[PATH_MAX];
static pthread_once_t node_once = PTHREAD_ONCE_INIT;

/* Finds `node` on PATH once; falls back to /usr/bin/node. */
static void find_node(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n > 0 && path[0] == '/') {
            char cand[PATH_MAX];
            snprintf(cand, sizeof(cand), "%.*s/node", (int)n, path);
            struct stat st;
            if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
                /* Resolve symlinks so that later PATH or link changes do not matter. */
                if (!realpath(cand, node_path))
                    snprintf(node_path, sizeof(node_path), "%s", cand);
                return;
            }
        }
        path += n;
        if (*path == ':')
            path++;
    }
    snprintf(node_path, sizeof(node_path), "/usr/bin/node");
}

/*
 * Fills argv (up to 7 entries + NULL) for the runtime; strings in store
 * (caller frees each).  -EINVAL with err for an unknown runtime.
 */
static int runtime_argv(const struct nb_instance_spec *spec, const char *shim_dir,
                        const char *argv[8], char *store[4], struct nb_err *err)
{
    int n = 0, s = 0;
    const char *rt = spec->runtime ? spec->runtime : "";
    enum nb_runtime_family fam = nb_runtime_family(rt, NULL);
    if (fam == NB_RT_NODEJS) {
        pthread_once(&node_once, find_node);
        argv[n++] = node_path;
        if (spec->memory_mb > 0) {
            int heap = spec->memory_mb * 8 / 10;
            if (heap < 32)
                heap = 32;
            argv[n++] = store[s++] = nb_xasprintf("--max-old-space-size=%d", heap);
        }
        argv[n++] = store[s++] = nb_xasprintf("%s/nodejs/bootstrap.js", shim_dir);
    } else if (fam == NB_RT_PYTHON3 || fam == NB_RT_CUSTOM) {
        /* -S: no site (faster start; the shim adds dist-packages), -B: no .pyc writes */
        argv[n++] = "/usr/bin/python3";
        argv[n++] = "-S";
        argv[n++] = "-B";
        argv[n++] = store[s++] = nb_xasprintf(
            fam == NB_RT_CUSTOM ? "%s/custom/relay.py" : "%s/python/bootstrap.py", shim_dir);
    } else {
        return nb_err_set(err, -EINVAL, "runtime '%s': not supported (nodejs*, python3*, custom)",
                          rt);
    }
    argv[n] = NULL;
    store[s] = NULL;
    return 0;
}

static int env_has(const char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++) {
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return 1;
    }
    return 0;
}

/* spec->env plus defaults it does not set; the array is the caller's, strings borrowed. */
static const char **build_env(const struct nb_instance_spec *spec)
{
    static const char *const defaults[][2] = {
        {"PATH", "PATH=/usr/local/bin:/usr/bin:/bin"},
        {"HOME", "HOME=/tmp"},
        {"LANG", "LANG=C.UTF-8"},
    };
    size_t n = 0;
    for (const char *const *e = spec->env; e && *e; e++)
        n++;
    const char **env = nb_xcalloc(n + NB_ARRAY_SIZE(defaults) + 1, sizeof(*env));
    size_t k = 0;
    for (const char *const *e = spec->env; e && *e; e++)
        env[k++] = *e;
    for (size_t i = 0; i < NB_ARRAY_SIZE(defaults); i++) {
        if (!env_has(spec->env, defaults[i][0]))
            env[k++] = defaults[i][1];
    }
    env[k] = NULL;
    return env;
}

/* The INIT meta with codeDir set to where the process sees the code.  Caller frees. */
static char *init_meta_for(const struct nb_instance_spec *spec, const char *code_dir,
                           struct nb_err *err)
{
    json_t *m;
    if (spec->init_meta && *spec->init_meta) {
        json_error_t je;
        m = json_loads(spec->init_meta, 0, &je);
        if (!json_is_object(m)) {
            json_decref(m);
            nb_err_set(err, -EINVAL, "init meta: not a JSON object (%s)", je.text);
            return NULL;
        }
    } else {
        m = json_object();
    }
    json_object_set_new(m, "codeDir", json_string(code_dir));
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return s;
}

/* The function's own uid in the sandbox: one per "service/function" of the INIT meta. */
static unsigned sandbox_uid(const struct nb_instance_spec *spec)
{
    json_t *m = spec->init_meta ? json_loads(spec->init_meta, 0, NULL) : NULL;
    const char *svc = json_string_value(json_object_get(json_object_get(m, "service"), "name"));
    const char *fn = json_string_value(json_object_get(json_object_get(m, "function"), "name"));
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", svc ? svc : "", fn ? fn : (spec->id ? spec->id : ""));
    json_decref(m);
    return nb_sandbox_uid_for(key);
}

/* ------------------------------------------------------------ public API */

/*
 * Spawns per ss into a fresh instance and wires its handles (not INIT).
 * On success *out is live (ST_ALIVE, no callbacks set); on failure nothing
 * is left and -errno is returned with err filled.
 */
static int launch(uv_loop_t *loop, const struct nb_sandbox_spec *ss, const char *id,
                  struct nb_instance **out, struct nb_err *err)
{
    struct nb_instance *inst = nb_xcalloc(1, sizeof(*inst));
    inst->start_ns = nb_now_ns();
    int r = nb_sandbox_spawn(ss, &inst->proc, err);
    if (r < 0) {
        free(inst);
        return r;
    }

    inst->loop = loop;
    inst->id = nb_xstrdup(id ? id : "instance");
    inst->pid = inst->proc.pid;
    inst->state = ST_ALIVE;
    inst->rneed = NB_FRAME_HEADER_SIZE;
    nb_buf_init(&inst->out.partial, LINE_MAX_LEN);
    nb_buf_init(&inst->err.partial, LINE_MAX_LEN);
    nb_buf_init(&inst->init_body, NB_FRAME_MAX_BODY);
    nb_buf_init(&inst->cork, CORK_BUF_MAX);
    inst->out.stream = "stdout";
    inst->err.stream = "stderr";

    /* Handles: each counted once initialized; uv_pipe_open takes the fd. */
    uv_timer_init(loop, &inst->init_timer);
    inst->init_timer.data = inst;
    uv_timer_init(loop, &inst->deadline_timer);
    inst->deadline_timer.data = inst;
    uv_check_init(loop, &inst->cork_check);
    inst->cork_check.data = inst;
    uv_idle_init(loop, &inst->cork_idle);
    inst->cork_idle.data = inst;
    inst->handles_open = 4;
    struct {
        uv_pipe_t *p;
        int *fd;
    } pipes[] = {
        {&inst->ctl, &inst->proc.ctl_rfd},
        {&inst->ctl_w, &inst->proc.ctl_wfd},
        {&inst->out.pipe, &inst->proc.stdout_fd},
        {&inst->err.pipe, &inst->proc.stderr_fd},
    };
    for (size_t i = 0; i < NB_ARRAY_SIZE(pipes); i++) {
        uv_pipe_init(loop, pipes[i].p, 0);
        pipes[i].p->data = inst;
        inst->handles_open++;
        r = uv_pipe_open(pipes[i].p, *pipes[i].fd);
        if (r < 0) {
            nb_err_set(err, r, "uv_pipe_open: %s", uv_err_name(r));
            goto fail;
        }
        *pipes[i].fd = -1;
    }
    r = uv_poll_init(loop, &inst->exit_poll, inst->proc.pidfd);
    if (r < 0) {
        nb_err_set(err, r, "uv_poll_init pidfd: %s", uv_err_name(r));
        goto fail;
    }
    inst->exit_poll.data = inst;
    inst->handles_open++;

    /* From here on the instance is live: failures go through the exit path. */
    inst->out.open = inst->err.open = 1;
    uv_read_start((uv_stream_t *)&inst->ctl, ctl_alloc, ctl_read);
    uv_read_start((uv_stream_t *)&inst->out.pipe, pipe_alloc, pipe_read);
    uv_read_start((uv_stream_t *)&inst->err.pipe, pipe_alloc, pipe_read);
    uv_poll_start(&inst->exit_poll, UV_READABLE, on_exit_poll);
    *out = inst;
    return 0;

fail:
    inst->silent = 1;
    inst->state = ST_EXITED;
    nb_sandbox_release(&inst->proc);
    close_all_handles(inst);
    return r;
}

/* Arms the INIT deadline and sends INIT (meta is owned and freed with the write). */
static void send_init(struct nb_instance *inst, int init_timeout_ms, char *meta)
{
    inst->init_timeout_ms = init_timeout_ms;
    if (init_timeout_ms > 0)
        uv_timer_start(&inst->init_timer, on_init_timeout, (uint64_t)init_timeout_ms, 0);
    int r = send_frame(inst, NB_FRAME_INIT, 0, 0, meta, strlen(meta), NULL, 0, NULL, meta);
    if (r < 0)
        kill_internal(inst, "sending INIT failed: %s", uv_err_name(r));
}

int nb_instance_start(uv_loop_t *loop, const struct nb_instance_spec *spec,
                      const struct nb_instance_callbacks *cbs, void *udata,
                      struct nb_instance **out, struct nb_err *err)
{
    struct nb_sandbox_spec ss = {
        .id = spec->id,
        .code_dir = spec->code_dir,
        .shim_dir = spec->runtimes_dir,
        .memory_mb = spec->memory_mb,
        .internet = spec->internet,
        .uid = sandbox_uid(spec),
    };
    char inner_code[256], inner_shim[256];
    nb_sandbox_inner_paths(&ss, inner_code, sizeof(inner_code), inner_shim, sizeof(inner_shim));

    const char *argv[8];
    char *store[4] = {NULL};
    int r = runtime_argv(spec, inner_shim, argv, store, err);
    if (r < 0)
        return r;
    char *meta = init_meta_for(spec, inner_code, err);
    if (!meta) {
        for (int i = 0; store[i]; i++)
            free(store[i]);
        return -EINVAL;
    }
    const char **envp = build_env(spec);
    ss.argv = argv;
    ss.envp = envp;

    struct nb_instance *inst;
    r = launch(loop, &ss, spec->id, &inst, err);
    free(envp);
    if (r < 0) {
        for (int i = 0; store[i]; i++)
            free(store[i]);
        free(meta);
        return r;
    }
    if (cbs)
        inst->cbs = *cbs;
    inst->udata = udata;
    send_init(inst, spec->init_timeout_ms, meta);
    nb_debug(MOD, "instance %s started: pid %d, %s", inst->id, (int)inst->pid, argv[0]);
    for (int i = 0; store[i]; i++)
        free(store[i]);
    *out = inst;
    return 0;
}

int nb_instance_start_generic(uv_loop_t *loop, const char *id, const char *runtime,
                              const char *runtimes_dir, const struct nb_instance_callbacks *cbs,
                              void *udata, struct nb_instance **out, struct nb_err *err)
{
    /* No memory_mb: no per-function heap flag; the cgroup limit comes at specialization. */
    struct nb_instance_spec spec = {.id = id, .runtime = runtime, .runtimes_dir = runtimes_dir};
    char ukey[160];
    snprintf(ukey, sizeof(ukey), "\001generic/%s", id);
    struct nb_sandbox_spec ss = {
        .id = id,
        .shim_dir = runtimes_dir,
        .memory_mb = NB_GENERIC_MEMORY_MB,
        .uid = nb_sandbox_uid_for(ukey),
        .generic = 1,
    };
    char inner_shim[256];
    nb_sandbox_inner_paths(&ss, NULL, 0, inner_shim, sizeof(inner_shim));
    const char *argv[8];
    char *store[4] = {NULL};
    int r = runtime_argv(&spec, inner_shim, argv, store, err);
    if (r < 0)
        return r;
    const char **envp = build_env(&spec);
    ss.argv = argv;
    ss.envp = envp;
    struct nb_instance *inst;
    r = launch(loop, &ss, id, &inst, err);
    free(envp);
    for (int i = 0; store[i]; i++)
        free(store[i]);
    if (r < 0)
        return r;
    if (cbs)
        inst->cbs = *cbs;
    inst->udata = udata;
    inst->generic = 1;
    nb_debug(MOD, "generic instance %s started: pid %d", inst->id, (int)inst->pid);
    *out = inst;
    return 0;
}

/* spec->env ("K=V") as the INIT meta's "env" object, over what the meta had. */
static void meta_add_env(json_t *meta, const char *const *env)
{
    json_t *obj = json_object_get(meta, "env");
    if (!json_is_object(obj)) {
        obj = json_object();
        json_object_set_new(meta, "env", obj);
    }
    for (; env && *env; env++) {
        const char *eq = strchr(*env, '=');
        if (!eq || eq == *env)
            continue;
        char key[256];
        size_t kl = (size_t)(eq - *env);
        if (kl >= sizeof(key))
            continue;
        memcpy(key, *env, kl);
        key[kl] = '\0';
        if (!json_object_get(obj, key))
            json_object_set_new(obj, key, json_string(eq + 1));
    }
}

int nb_instance_specialize(struct nb_instance *inst, const struct nb_instance_spec *spec,
                           const struct nb_instance_callbacks *cbs, void *udata, struct nb_err *err)
{
    if (!inst->generic || inst->state != ST_ALIVE || inst->ready != 0)
        return nb_err_set(err, -EPIPE, "instance %s: not a live generic instance", inst->id);
    struct nb_sandbox_spec ss = {.code_dir = spec->code_dir, .shim_dir = spec->runtimes_dir};
    char inner_code[256];
    nb_sandbox_inner_paths(&ss, inner_code, sizeof(inner_code), NULL, 0);
    char *meta0 = init_meta_for(spec, inner_code, err);
    if (!meta0)
        return -EINVAL;
    json_t *m = json_loads(meta0, 0, NULL);
    free(meta0);
    meta_add_env(m, spec->env);
    char *meta = json_dumps(m, JSON_COMPACT);
    json_decref(m);

    uint64_t t0 = nb_now_ns();
    int r = nb_sandbox_specialize(&inst->proc, spec->code_dir, spec->memory_mb, err);
    if (r < 0) {
        free(meta);
        return r;
    }
    inst->generic = 0;
    free(inst->id);
    inst->id = nb_xstrdup(spec->id ? spec->id : "instance");
    inst->cbs = cbs ? *cbs : (struct nb_instance_callbacks){0};
    inst->udata = udata;
    inst->start_ns = t0;
    send_init(inst, spec->init_timeout_ms, meta);
    nb_debug(MOD, "instance %s: specialized pre-warmed pid %d in %.2f ms", inst->id, (int)inst->pid,
             (double)(nb_now_ns() - t0) / 1e6);
    return 0;
}

int nb_instance_invoke(struct nb_instance *inst, struct nb_invocation *inv)
{
    /* Outputs first, so that releasing them is right whatever this returns. */
    inv->status = NB_INV_OK;
    inv->http_status = 0;
    inv->result_meta = NULL;
    nb_buf_init(&inv->result, NB_FRAME_MAX_BODY);
    nb_buf_init(&inv->result_head, NB_FRAME_MAX_META);
    inv->result_head_set = 0;
    inv->error[0] = '\0';
    inv->max_memory_mb = 0;
    inv->priv_mem = NULL;
    inv->start_ns = nb_now_ns();
    inv->end_ns = 0;
    inv->priv_inst = NULL;
    inv->priv_list[0] = inv->priv_list[1] = NULL;
    if (inst->state != ST_ALIVE || inst->ready < 0)
        return -EPIPE;
    if (inv->meta_len > NB_FRAME_MAX_META || inv->body_len > NB_FRAME_MAX_BODY)
        return -EMSGSIZE;
    if (++inst->next_id == 0)
        inst->next_id = 1;
    inv->id = inst->next_id;
    inv->priv_inst = inst;

    int r = send_frame(inst, NB_FRAME_INVOKE, inv->meta_flags, inv->id, inv->meta, inv->meta_len,
                       inv->body, inv->body_len, inv, NULL);
    if (r < 0) {
        kill_internal(inst, "writing to the runtime failed: %s", uv_err_name(r));
        return -EPIPE;
    }
    if (inst->ninfl == inst->capinfl) {
        inst->capinfl = inst->capinfl ? inst->capinfl * 2 : 4;
        inst->infl = nb_xrealloc(inst->infl, inst->capinfl * sizeof(*inst->infl));
    }
    inst->infl[inst->ninfl++] = inv;
    arm_deadline_timer(inst, inv_deadline(inv));
    return 0;
}

void nb_instance_kill(struct nb_instance *inst, const char *reason)
{
    kill_internal(inst, "%s", reason && *reason ? reason : "killed");
}

unsigned nb_instance_inflight(const struct nb_instance *inst)
{
    return inst->ninfl;
}

const char *nb_instance_id(const struct nb_instance *inst)
{
    return inst->id;
}

pid_t nb_instance_pid(const struct nb_instance *inst)
{
    return inst->pid;
}
