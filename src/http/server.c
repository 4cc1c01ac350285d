/*
 * server.c: the HTTP/1.1 server's connections: accept, read, parse with
 * http-parser, enforce limits and timeouts, hand complete requests to the
 * handler, and graceful shutdown.  Responses are written by response.c.
 *
 * OVERALL DESIGN
 * Each connection reads into its own 64 KiB buffer and feeds http-parser.
 * Parser callbacks copy the URL and headers into a per-request arena and the
 * body into a body buffer (both reused across keep-alive requests), so the
 * read buffer can be compacted at any time.  on_message_complete pauses the
 * parser: the loop in conn_process() then hands the request to the handler
 * and stops parsing.  While the handler works the connection keeps reading
 * (to notice a disconnect and run the abort callback) but only buffers the
 * bytes, up to the read buffer's size, then stops reading.  When the answer
 * is queued, parsing resumes on the buffered bytes (pipelining), from the
 * parse loop itself or from a zero timer, never from inside the caller's
 * nb_http_respond.
 *
 * One uv timer per connection measures whichever timeout applies now (see
 * enum nb_http_timer_kind).  A connection that must close after its response
 * shuts down its write side and drains input for a moment before closing,
 * so that a client still sending (say, a body we refused with 413) reads
 * our answer instead of a reset.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"
#include "http/internal.h"

#define READ_BUF_SIZE (64 * 1024)
#define LINGER_MS 1000               /* close a draining connection after this much silence */
#define LINGER_MAX_MS 30000          /* ... or after this long in all */
#define BODY_KEEP_BYTES (256 * 1024) /* body buffers above this are freed after use */
/*
 * A client that pipelines requests but does not read the answers would make
 * us queue answers without end: past OUT_HIGH bytes queued and unwritten,
 * the connection neither parses nor reads until they drain below OUT_LOW
 * (an idle client is then dropped by the keep-alive timeout).
 */
#define OUT_HIGH (1024 * 1024)
#define OUT_LOW (256 * 1024)

static const char *const MOD = "http";

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void conn_process(struct nb_http_conn *conn);
static void server_check_done(struct nb_http_server *srv);

void nb_http_limits_default(struct nb_http_limits *l)
{
    l->max_header_bytes = 8 * 1024;
    l->max_url_bytes = 4 * 1024;
    l->max_body_bytes = 32 * 1024 * 1024;
    l->header_timeout_ms = 10 * 1000;
    l->body_timeout_ms = 30 * 1000;
    l->idle_timeout_ms = 60 * 1000;
    l->max_connections = 10000;
    l->max_body_buffered = 1ull << 30;
}

const char *nb_http_header(const struct nb_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].key, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* ---- timers ---- */

static void conn_timer_cb(uv_timer_t *t);

/* Arms the connection's timer for kind; a zero timeout (for the limits) disables it. */
static void conn_timer_arm(struct nb_http_conn *conn, enum nb_http_timer_kind kind, unsigned ms)
{
    if (conn->closing)
        return;
    conn->timer_kind = kind;
    if (ms == 0 && kind != NB_TIMER_KICK) {
        uv_timer_stop(&conn->timer);
        return;
    }
    uv_timer_start(&conn->timer, conn_timer_cb, ms, 0);
}

static void conn_timer_stop(struct nb_http_conn *conn)
{
    conn->timer_kind = NB_TIMER_NONE;
    if (!conn->closing)
        uv_timer_stop(&conn->timer);
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Starts or stops reading according to the connection's state. */
static void conn_update_reading(struct nb_http_conn *conn)
{
    if (conn->closing)
        return;
    int want = 1;
    if (conn->state == NB_CONN_HANDLING && !conn->is_error && conn->rcap &&
        conn->rlen - conn->roff >= conn->rcap)
        want = 0; /* read buffer full of pipelined bytes: backpressure */
    if (conn->held)
        want = 0; /* a refused client's next request waits (nb_http_hold) */
    else if (conn->state == NB_CONN_READING && conn->pending_bytes > OUT_HIGH) {
        want = 0; /* answers not read by the client: backpressure */
        conn->out_blocked = 1;
    }
    if (want && !conn->reading) {
        if (uv_read_start((uv_stream_t *)&conn->tcp, alloc_cb, read_cb) == 0)
            conn->reading = 1;
    } else if (!want && conn->reading) {
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = 0;
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct nb_http_conn *conn = h->data;
    if (!conn->rbuf) {
        conn->rcap = READ_BUF_SIZE;
        conn->rbuf = nb_xmalloc(conn->rcap);
    }
    if (conn->roff > 0) {
        memmove(conn->rbuf, conn->rbuf + conn->roff, conn->rlen - conn->roff);
        conn->rlen -= conn->roff;
        conn->roff = 0;
    }
    *buf = uv_buf_init(conn->rbuf + conn->rlen, (unsigned)(conn->rcap - conn->rlen));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct nb_http_conn *conn = s->data;
    if (nread == 0 || conn->closing)
        return;
    if (nread == UV_ENOBUFS) {
        uv_read_stop(s);
        conn->reading = 0;
        return;
    }
    if (nread < 0) {
        /* EOF or error.  During handling this is the client going away. */
        int in_flight = conn->state == NB_CONN_HANDLING && !conn->is_error;
        conn->peer_gone = 1;
        nb_http_conn_close(conn);
        if (in_flight)
            nb_http_conn_fire_abort(conn);
        return;
    }
    conn->rlen += (size_t)nread;
    switch (conn->state) {
    case NB_CONN_READING:
        conn_process(conn);
        if (conn->state == NB_CONN_READING && conn->timer_kind == NB_TIMER_BODY)
            conn_timer_arm(conn, NB_TIMER_BODY, conn->srv->limits.body_timeout_ms);
        break;
    case NB_CONN_HANDLING:
        if (conn->is_error)
            conn->rlen = conn->roff = 0; /* nothing more will be parsed */
        conn_update_reading(conn);
        break;
    default:
        /* Lingering: discard, and give a client still sending more time, up to a cap. */
        conn->rlen = conn->roff = 0;
        if (conn->timer_kind == NB_TIMER_LINGER &&
            uv_now(conn->srv->loop) - conn->linger_start < LINGER_MAX_MS)
            conn_timer_arm(conn, NB_TIMER_LINGER, LINGER_MS);
        break;
    }
}

/* ---- parser callbacks ---- */

/* Records a limit hit inside a parser callback; returns -1 to stop the parser. */
__attribute__((format(printf, 4, 5))) static int
conn_set_error(struct nb_http_conn *conn, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conn->err_status = status;
    conn->err_code = code;
    vsnprintf(conn->err_msg, sizeof(conn->err_msg), fmt, ap);
    va_end(ap);
    return -1;
}

static int header_limit(struct nb_http_conn *conn)
{
    return conn_set_error(conn, 431, "RequestHeaderFieldsTooLarge",
                          "request headers exceed %zu bytes", conn->srv->limits.max_header_bytes);
}

static int on_message_begin(http_parser *p)
{
    struct nb_http_conn *conn = p->data;
    conn->started = 1;
    conn->req.start_ns = nb_now_ns();
    conn_timer_arm(conn, NB_TIMER_HEADER, conn->srv->limits.header_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct nb_http_conn *conn = p->data;
    conn->url_len += len;
    if (conn->url_len > conn->srv->limits.max_url_bytes)
        return conn_set_error(conn, 414, "URITooLong", "request path and query exceed %zu bytes",
                              conn->srv->limits.max_url_bytes);
    conn->last_cb = NB_CB_URL;
    return nb_buf_append(&conn->arena, at, len) < 0 ? header_limit(conn) : 0;
}

/*
 * Trailer fields of a chunked body arrive after on_headers_complete: they
 * count against the header limit but are not kept (appending them to the
 * arena could move it under the header pointers handed out already).
 */
static int trailer_bytes(struct nb_http_conn *conn, size_t len)
{
    conn->hdr_bytes += len;
    return conn->hdr_bytes > conn->srv->limits.max_header_bytes ? header_limit(conn) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct nb_http_conn *conn = p->data;
    if (conn->headers_done)
        return trailer_bytes(conn, len);
    if (conn->last_cb != NB_CB_FIELD) {
        /* A new header: terminate the URL or the previous value. */
        if (nb_buf_appendc(&conn->arena, '\0') < 0)
            return header_limit(conn);
        if (conn->nh == conn->hcap) {
            conn->hcap = conn->hcap ? conn->hcap * 2 : 16;
            conn->hoff = nb_xrealloc(conn->hoff, conn->hcap * sizeof(*conn->hoff));
            conn->hkv = nb_xrealloc(conn->hkv, conn->hcap * sizeof(*conn->hkv));
        }
        conn->hoff[conn->nh].k = conn->arena.len;
        conn->hoff[conn->nh].v = SIZE_MAX;
        conn->nh++;
        conn->hdr_bytes += 4; /* ": " and CRLF */
        conn->last_cb = NB_CB_FIELD;
    }
    conn->hdr_bytes += len;
    if (conn->hdr_bytes > conn->srv->limits.max_header_bytes)
        return header_limit(conn);
    return nb_buf_append(&conn->arena, at, len) < 0 ? header_limit(conn) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct nb_http_conn *conn = p->data;
    if (conn->headers_done)
        return trailer_bytes(conn, len);
    if (conn->last_cb != NB_CB_VALUE) {
        if (conn->nh == 0 || nb_buf_appendc(&conn->arena, '\0') < 0)
            return header_limit(conn);
        conn->hoff[conn->nh - 1].v = conn->arena.len;
        conn->last_cb = NB_CB_VALUE;
    }
    conn->hdr_bytes += len;
    if (conn->hdr_bytes > conn->srv->limits.max_header_bytes)
        return header_limit(conn);
    return nb_buf_append(&conn->arena, at, len) < 0 ? header_limit(conn) : 0;
}

/*
 * Grows the body buffer to hold want bytes plus the NUL (want <= the body
 * limit).  Fails with 503 when the bodies of all connections would pass the
 * server's budget: each request's limit alone does not bound the sum.
 */
static int body_reserve(struct nb_http_conn *conn, size_t want)
{
    if (want + 1 <= conn->body_cap)
        return 0;
    size_t cap = conn->body_cap ? conn->body_cap : 4096;
    while (cap < want + 1)
        cap *= 2;
    size_t max = conn->body_max + 1;
    if (cap > max)
        cap = max;
    struct nb_http_server *srv = conn->srv;
    if (srv->body_bytes - conn->body_cap + cap > srv->limits.max_body_buffered)
        return conn_set_error(conn, 503, "ServiceUnavailable",
                              "the server holds too many request bodies; retry later");
    conn->body = nb_xrealloc(conn->body, cap);
    srv->body_bytes += cap - conn->body_cap;
    conn->body_cap = cap;
    return 0;
}

static void body_release(struct nb_http_conn *conn)
{
    if (conn->srv)
        conn->srv->body_bytes -= conn->body_cap;
    free(conn->body);
    conn->body = NULL;
    conn->body_cap = 0;
}

static void send_continue(struct nb_http_conn *conn)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct nb_http_wblock *wb = nb_http_wblock_get(conn, sizeof(msg) - 1);
    memcpy(wb->data, msg, sizeof(msg) - 1);
    wb->len = sizeof(msg) - 1;
    nb_http_conn_write(conn, wb);
}

/* Appends a copy of a's own bytes [off, off+n); the source moves if a grows. */
static int arena_copy_self(struct nb_buf *a, size_t off, size_t n)
{
    char tmp[512];
    while (n) {
        size_t k = n < sizeof(tmp) ? n : sizeof(tmp);
        memcpy(tmp, a->data + off, k);
        if (nb_buf_append(a, tmp, k) < 0)
            return -ENOBUFS;
        off += k;
        n -= k;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct nb_http_conn *conn = p->data;
    struct nb_http_server *srv = conn->srv;
    struct nb_buf *a = &conn->arena;

    /* Terminate the last string; a name without a value gets "". */
    if (nb_buf_appendc(a, '\0') < 0)
        return header_limit(conn);
    if (conn->last_cb == NB_CB_FIELD)
        conn->hoff[conn->nh - 1].v = a->len - 1;

    /* The query points into the URL (whose NUL ends it too); the path is the
     * URL itself when there is no query, else a copy up to the '?'. */
    const char *q = memchr(a->data, '?', conn->url_len);
    size_t path_off = 0, query_off = conn->url_len;
    if (q) {
        size_t plen = (size_t)(q - a->data);
        query_off = plen + 1;
        path_off = a->len;
        if (arena_copy_self(a, 0, plen) < 0 || nb_buf_appendc(a, '\0') < 0)
            return header_limit(conn);
    }

    struct nb_http_request *req = &conn->req;
    for (size_t i = 0; i < conn->nh; i++) {
        conn->hkv[i].key = a->data + conn->hoff[i].k;
        conn->hkv[i].value = a->data + conn->hoff[i].v;
    }
    req->method = http_method_str((enum http_method)p->method);
    req->url = a->data;
    req->path = a->data + path_off;
    req->query = a->data + query_off;
    req->headers = conn->hkv;
    req->nheaders = conn->nh;
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    conn->head = p->method == HTTP_HEAD;
    conn->headers_done = 1;

    if (p->http_major != 1)
        return conn_set_error(conn, 505, "HTTPVersionNotSupported", "only HTTP/1.x is served");
    int chunked = (p->flags & F_CHUNKED) != 0;
    int has_len = (p->flags & F_CONTENTLENGTH) != 0;
    conn->body_max = srv->limits.max_body_bytes;
    if (srv->body_limit) {
        size_t m = srv->body_limit(req, srv->udata);
        if (m < conn->body_max)
            conn->body_max = m;
    }
    if (has_len && p->content_length > conn->body_max)
        return conn_set_error(conn, 413, "EntityTooLarge", "request body exceeds %zu bytes",
                              conn->body_max);
    if (has_len && p->content_length > 0 && body_reserve(conn, (size_t)p->content_length) < 0)
        return -1;
    if (chunked || (has_len && p->content_length > 0)) {
        const char *expect = nb_http_header(req, "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_major == 1 &&
            p->http_minor >= 1)
            send_continue(conn);
        conn_timer_arm(conn, NB_TIMER_BODY, srv->limits.body_timeout_ms);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct nb_http_conn *conn = p->data;
    size_t max = conn->body_max;
    if (len > max - conn->body_len)
        return conn_set_error(conn, 413, "EntityTooLarge", "request body exceeds %zu bytes", max);
    if (body_reserve(conn, conn->body_len + len) < 0)
        return -1;
    memcpy(conn->body + conn->body_len, at, len);
    conn->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct nb_http_conn *conn = p->data;
    conn->msg_keep_alive = http_should_keep_alive(p) && !p->upgrade;
    http_parser_pause(p, 1);
    return 0;
}

/* ---- requests ---- */

static void req_fill_common(struct nb_http_conn *conn)
{
    struct nb_http_request *req = &conn->req;
    req->conn = conn;
    memcpy(req->client_ip, conn->ip, sizeof(req->client_ip));
    req->client_port = conn->port;
    req->udata = NULL;
    if (!conn->started)
        req->start_ns = nb_now_ns();
}

/* Hands the parsed request to the handler. */
static void conn_dispatch(struct nb_http_conn *conn)
{
    struct nb_http_server *srv = conn->srv;
    struct nb_http_request *req = &conn->req;
    conn_timer_stop(conn);
    conn->state = NB_CONN_HANDLING;
    conn->req_active = 1;
    conn->nreqs++;
    srv->nrequests++;
    req_fill_common(conn);
    if (conn->body_len) {
        conn->body[conn->body_len] = '\0';
        req->body = conn->body;
    } else {
        req->body = "";
    }
    req->body_len = conn->body_len;
    req->keep_alive = conn->msg_keep_alive && !srv->shutting_down;
    srv->handler(req, srv->udata);
}

static void default_error(struct nb_http_request *req, int status, const char *code,
                          const char *message);

void nb_http_conn_error(struct nb_http_conn *conn, int status, const char *code,
                        const char *message)
{
    struct nb_http_server *srv = conn->srv;
    struct nb_http_request *req = &conn->req;
    conn_timer_stop(conn);
    conn->state = NB_CONN_HANDLING;
    conn->is_error = 1;
    conn->req_active = 1;
    conn->rlen = conn->roff = 0;
    srv->nrequests++;
    req_fill_common(conn);
    if (!conn->headers_done) {
        req->method = "";
        req->url = req->path = req->query = "";
        req->headers = NULL;
        req->nheaders = 0;
        req->http_major = 1;
        req->http_minor = 1;
        conn->head = 0;
    }
    req->body = "";
    req->body_len = 0;
    req->keep_alive = 0;
    nb_debug(MOD, "%s:%d: %d %s: %s", conn->ip, conn->port, status, code, message);
    if (srv->on_error)
        srv->on_error(req, status, code, message, srv->udata);
    else
        default_error(req, status, code, message);
}

/* Fallback error body: {"ErrorCode": code, "ErrorMessage": message}. */
static void default_error(struct nb_http_request *req, int status, const char *code,
                          const char *message)
{
    size_t len;
    char *body = nb_http_error_json(code, message, &len);
    struct nb_kv h[] = {{"Content-Type", "application/json"}};
    nb_http_respond(req, status, h, 1, body, len);
    free(body);
}

/* Feeds buffered input to the parser while the connection is reading requests. */
static void conn_process(struct nb_http_conn *conn)
{
    if (conn->in_process)
        return;
    conn->in_process = 1;
    while (conn->state == NB_CONN_READING && !conn->closing && !conn->held &&
           conn->roff < conn->rlen) {
        if (conn->pending_bytes > OUT_HIGH) {
            conn->out_blocked = 1; /* resumed by nb_http_conn_output_drained */
            break;
        }
        size_t avail = conn->rlen - conn->roff;
        size_t n =
            http_parser_execute(&conn->parser, &parser_settings, conn->rbuf + conn->roff, avail);
        conn->roff += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&conn->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&conn->parser, 0);
            conn_dispatch(conn);
            continue;
        }
        if (e != HPE_OK) {
            if (conn->err_status)
                nb_http_conn_error(conn, conn->err_status, conn->err_code, conn->err_msg);
            else if (e == HPE_HEADER_OVERFLOW)
                nb_http_conn_error(conn, 431, "RequestHeaderFieldsTooLarge",
                                   "request headers too large");
            else {
                char msg[160];
                snprintf(msg, sizeof(msg), "malformed request: %s", http_errno_description(e));
                nb_http_conn_error(conn, 400, "BadRequest", msg);
            }
            break;
        }
        if (n < avail) {
            /* Only an upgrade stops the parser without an error; the request
             * itself was dispatched (paused) already, so this is a stray. */
            nb_http_conn_error(conn, 400, "BadRequest", "malformed request");
            break;
        }
    }
    if (conn->roff == conn->rlen)
        conn->roff = conn->rlen = 0;
    conn->in_process = 0;
    conn_update_reading(conn);
}

/* Resets the per-request state, keeping the memory for the next request. */
static void conn_reset_request(struct nb_http_conn *conn)
{
    nb_buf_reset(&conn->arena);
    conn->nh = 0;
    conn->url_len = 0;
    conn->hdr_bytes = 0;
    conn->last_cb = NB_CB_NONE;
    conn->started = 0;
    conn->headers_done = 0;
    conn->resp_started = 0;
    conn->chunked_out = 0;
    conn->head = 0;
    conn->is_error = 0;
    conn->err_status = 0;
    conn->body_len = 0;
    if (conn->body_cap > BODY_KEEP_BYTES ||
        (conn->srv && conn->srv->body_bytes > conn->srv->limits.max_body_buffered / 2))
        body_release(conn);
    conn->abort_cb = NULL;
    conn->abort_arg = NULL;
}

void nb_http_conn_output_drained(struct nb_http_conn *conn)
{
    if (!conn->out_blocked || conn->closing || conn->pending_bytes > OUT_LOW)
        return;
    conn->out_blocked = 0;
    if (conn->state != NB_CONN_READING || conn->held)
        return; /* the hold's timer parses what waits */
    if (conn->roff < conn->rlen && !conn->in_process)
        conn_timer_arm(conn, NB_TIMER_KICK, 0); /* parse what waits, on the next turn */
    conn_update_reading(conn);
}

static void conn_free(struct nb_http_conn *conn);

static void abort_unlink(struct nb_http_conn *conn)
{
    if (!conn->abort_pending)
        return;
    conn->abort_pending = 0;
    if (!conn->srv)
        return;
    for (struct nb_http_conn **pp = &conn->srv->aborts; *pp; pp = &(*pp)->abort_next) {
        if (*pp == conn) {
            *pp = conn->abort_next;
            break;
        }
    }
}

static void shutdown_cb(uv_shutdown_t *r, int status)
{
    struct nb_http_conn *conn = r->data;
    if (status < 0 || conn->closing) {
        nb_http_conn_close(conn);
        return;
    }
    conn_update_reading(conn);
    conn->linger_start = uv_now(conn->srv->loop);
    conn_timer_arm(conn, NB_TIMER_LINGER, LINGER_MS);
}

void nb_http_conn_finish_request(struct nb_http_conn *conn)
{
    unsigned ask = conn->hold_ask;
    conn->hold_ask = 0;
    conn->req_active = 0;
    abort_unlink(conn);
    if (conn->srv)
        conn->srv->nrequests--;
    conn_reset_request(conn);
    if (conn->closing) {
        if (conn->handles_open == 0)
            conn_free(conn);
        return;
    }
    if (!conn->resp_keep_alive) {
        conn->state = NB_CONN_LINGER;
        conn->rlen = conn->roff = 0;
        conn->shutdown_req.data = conn;
        if (uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, shutdown_cb) < 0)
            nb_http_conn_close(conn);
        return;
    }
    conn->state = NB_CONN_READING;
    if (ask) {
        unsigned ms = conn->hold_ms ? conn->hold_ms * 2 : 1;
        conn->hold_ms = ms < NB_HTTP_HOLD_MAX_MS ? ms : NB_HTTP_HOLD_MAX_MS;
        conn->held = 1;
        conn_timer_arm(conn, NB_TIMER_HOLD, conn->hold_ms);
    } else {
        conn->hold_ms = 0;
        if (conn->roff < conn->rlen && !conn->in_process)
            conn_timer_arm(conn, NB_TIMER_KICK, 0); /* pipelined bytes: parse on the next turn */
        else
            conn_timer_arm(conn, NB_TIMER_IDLE, conn->srv->limits.idle_timeout_ms);
    }
    conn_update_reading(conn);
}

void nb_http_hold(struct nb_http_request *req)
{
    req->conn->hold_ask = 1;
}

const char *nb_http_peer_ip(const struct nb_http_request *req)
{
    return req->conn->ip;
}

static void conn_timer_cb(uv_timer_t *t)
{
    struct nb_http_conn *conn = t->data;
    enum nb_http_timer_kind kind = conn->timer_kind;
    conn->timer_kind = NB_TIMER_NONE;
    switch (kind) {
    case NB_TIMER_HOLD:
        conn->held = 0;
        /* parse what arrived before the hold, then read again */
        /* fall through */
    case NB_TIMER_KICK:
        conn_timer_arm(conn, NB_TIMER_IDLE, conn->srv->limits.idle_timeout_ms);
        conn_process(conn);
        break;
    case NB_TIMER_HEADER:
        if (conn->state == NB_CONN_READING) {
            char msg[96];
            snprintf(msg, sizeof(msg), "request headers not received within %u ms",
                     conn->srv->limits.header_timeout_ms);
            nb_http_conn_error(conn, 408, "RequestTimeout", msg);
        }
        break;
    case NB_TIMER_BODY:
        if (conn->state == NB_CONN_READING)
            nb_http_conn_error(conn, 408, "RequestTimeout", "request body stalled");
        break;
    case NB_TIMER_IDLE:
    case NB_TIMER_LINGER:
        nb_http_conn_close(conn);
        break;
    case NB_TIMER_NONE:
        break;
    }
}

/* ---- connection lifecycle ---- */

static void conn_unlink(struct nb_http_conn *conn)
{
    struct nb_http_server *srv = conn->srv;
    if (!srv)
        return;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
}

static void conn_free(struct nb_http_conn *conn)
{
    abort_unlink(conn);
    conn_unlink(conn);
    free(conn->rbuf);
    nb_buf_release(&conn->arena);
    free(conn->hoff);
    free(conn->hkv);
    body_release(conn);
    free(conn->spare);
    free(conn);
}

/* Detaches a connection whose request outlives a forced shutdown. */
static void conn_orphan(struct nb_http_conn *conn)
{
    struct nb_http_server *srv = conn->srv;
    abort_unlink(conn);
    conn_unlink(conn);
    srv->nrequests--;
    srv->body_bytes -= conn->body_cap;
    conn->srv = NULL;
}

static void conn_close_cb(uv_handle_t *h)
{
    struct nb_http_conn *conn = h->data;
    if (--conn->handles_open > 0)
        return;
    struct nb_http_server *srv = conn->srv;
    srv->nconns--;
    if (!conn->req_active) {
        conn_free(conn);
        server_check_done(srv);
    } else if (srv->grace_expired) {
        /* Forced shutdown: the request outlives the server.  The abort
         * callback runs last since the handler may answer (and so free
         * conn) from inside it. */
        conn_orphan(conn);
        server_check_done(srv);
        nb_http_conn_fire_abort(conn);
    } else {
        server_check_done(srv);
    }
}

void nb_http_conn_close(struct nb_http_conn *conn)
{
    if (conn->closing)
        return;
    conn->closing = 1;
    conn->reading = 0;
    conn->state = NB_CONN_CLOSED;
    conn->timer_kind = NB_TIMER_NONE;
    uv_close((uv_handle_t *)&conn->tcp, conn_close_cb);
    uv_close((uv_handle_t *)&conn->timer, conn_close_cb);
}

void nb_http_conn_fire_abort(struct nb_http_conn *conn)
{
    void (*cb)(struct nb_http_request *, void *) = conn->abort_cb;
    if (!cb || !conn->req_active)
        return;
    conn->abort_cb = NULL;
    cb(&conn->req, conn->abort_arg);
}

static void abort_timer_cb(uv_timer_t *t)
{
    struct nb_http_server *srv = t->data;
    while (srv->aborts) {
        struct nb_http_conn *conn = srv->aborts;
        srv->aborts = conn->abort_next;
        conn->abort_pending = 0;
        nb_http_conn_fire_abort(conn);
    }
}

void nb_http_on_abort(struct nb_http_request *req, void (*cb)(struct nb_http_request *, void *),
                      void *arg)
{
    struct nb_http_conn *conn = req->conn;
    conn->abort_cb = cb;
    conn->abort_arg = arg;
    /* Already gone: run cb on the next loop turn, not from inside this call. */
    if (cb && conn->peer_gone && conn->srv && !conn->abort_pending) {
        conn->abort_pending = 1;
        conn->abort_next = conn->srv->aborts;
        conn->srv->aborts = conn;
        uv_timer_start(&conn->srv->abort_timer, abort_timer_cb, 0, 0);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct nb_http_server *srv = server->data;
    if (status < 0) {
        nb_warn(MOD, "accept: %s", uv_strerror(status));
        return;
    }
    struct nb_http_conn *conn = nb_xcalloc(1, sizeof(*conn));
    conn->srv = srv;
    conn->req.conn = conn;
    uv_tcp_init(srv->loop, &conn->tcp);
    uv_timer_init(srv->loop, &conn->timer);
    conn->tcp.data = conn->timer.data = conn;
    conn->handles_open = 2;
    conn->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = conn;
    srv->conns = conn;
    srv->nconns++;
    if (uv_accept(server, (uv_stream_t *)&conn->tcp) < 0 || srv->shutting_down ||
        srv->nconns > srv->limits.max_connections) {
        nb_http_conn_close(conn);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &sslen) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(s6, conn->ip, sizeof(conn->ip));
            conn->port = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            uv_ip4_name(s4, conn->ip, sizeof(conn->ip));
            conn->port = ntohs(s4->sin_port);
        }
    }
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
    /* Generous cap: the URL and header limits are checked as bytes arrive. */
    nb_buf_init(&conn->arena,
                2 * (srv->limits.max_url_bytes + srv->limits.max_header_bytes) + 1024);
    conn->state = NB_CONN_READING;
    conn_timer_arm(conn, NB_TIMER_IDLE, srv->limits.header_timeout_ms);
    conn_update_reading(conn);
}

/* ---- server ---- */

int nb_http_server_new(uv_loop_t *loop, const struct nb_http_limits *limits,
                       nb_http_handler_fn handler, nb_http_error_fn on_error, void *udata,
                       struct nb_http_server **out)
{
    if (!loop || !handler || !out)
        return -EINVAL;
    struct nb_http_server *srv = nb_xcalloc(1, sizeof(*srv));
    struct nb_http_limits d;
    nb_http_limits_default(&d);
    srv->limits = d;
    if (limits) {
        /* Zero in a field means "the default". */
        srv->limits = *limits;
#define DEF(f)                                                                                     \
    if (!srv->limits.f)                                                                            \
    srv->limits.f = d.f
        DEF(max_header_bytes);
        DEF(max_url_bytes);
        DEF(max_body_bytes);
        DEF(header_timeout_ms);
        DEF(body_timeout_ms);
        DEF(idle_timeout_ms);
        DEF(max_connections);
        DEF(max_body_buffered);
#undef DEF
    }
    /* libuv writes with write(2): a client that left must be EPIPE, not a
     * SIGPIPE killing the process.  Leave an installed handler alone. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    srv->loop = loop;
    srv->handler = handler;
    srv->on_error = on_error;
    srv->udata = udata;
    uv_tcp_init(loop, &srv->listener);
    uv_timer_init(loop, &srv->grace);
    uv_timer_init(loop, &srv->abort_timer);
    srv->listener.data = srv->grace.data = srv->abort_timer.data = srv;
    srv->handles_open = 3;
    *out = srv;
    return 0;
}

void nb_http_server_set_body_limit(struct nb_http_server *srv, nb_http_body_limit_fn fn)
{
    srv->body_limit = fn;
}

int nb_http_server_listen(struct nb_http_server *srv, const char *host, int port,
                          struct nb_err *err)
{
    struct sockaddr_storage ss;
    if (srv->shutting_down || srv->listening)
        return nb_err_set(err, -EINVAL, "listen '%s:%d': server not idle", host, port);
    if (port < 0 || port > 65535)
        return nb_err_set(err, -EINVAL, "listen '%s:%d': bad port", host, port);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return nb_err_set(err, -EINVAL, "listen '%s:%d': not an IP address", host, port);
    int r = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    if (r < 0)
        return nb_err_set(err, r, "listen '%s:%d': %s", host, port, uv_strerror(r));
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen) == 0)
        srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);
    srv->listening = 1;
    return 0;
}

int nb_http_server_port(const struct nb_http_server *srv)
{
    return srv->port;
}

size_t nb_http_server_connections(const struct nb_http_server *srv)
{
    return srv->nconns;
}

size_t nb_http_server_requests(const struct nb_http_server *srv)
{
    return srv->nrequests;
}

static void server_handle_closed(uv_handle_t *h)
{
    struct nb_http_server *srv = h->data;
    srv->handles_open--;
    if (srv->handles_open == 0 && srv->done)
        srv->done(srv->done_arg);
    else if (h == (uv_handle_t *)&srv->listener)
        server_check_done(srv);
}

/* Calls done (through the last handle's close callback) once nothing is left. */
static void server_check_done(struct nb_http_server *srv)
{
    if (!srv->shutting_down || srv->done_called)
        return;
    if (srv->handles_open > 2 || srv->nconns > 0) /* listener still closing, or connections */
        return;
    if (srv->nrequests > 0 && !srv->grace_expired)
        return;
    srv->done_called = 1;
    uv_close((uv_handle_t *)&srv->grace, server_handle_closed);
    uv_close((uv_handle_t *)&srv->abort_timer, server_handle_closed);
}

static void grace_cb(uv_timer_t *t)
{
    struct nb_http_server *srv = t->data;
    srv->grace_expired = 1;
    struct nb_http_conn *next;
    for (struct nb_http_conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (!c->closing) {
            /* Abort callbacks run from the close callbacks (conn_close_cb). */
            c->peer_gone = 1;
            nb_http_conn_close(c);
        } else if (c->handles_open == 0 && c->req_active) {
            conn_orphan(c);
        }
    }
    server_check_done(srv);
}

void nb_http_server_shutdown(struct nb_http_server *srv, unsigned grace_ms, void (*done)(void *),
                             void *arg)
{
    if (srv->shutting_down)
        return;
    srv->shutting_down = 1;
    srv->done = done;
    srv->done_arg = arg;
    uv_close((uv_handle_t *)&srv->listener, server_handle_closed);
    struct nb_http_conn *next;
    for (struct nb_http_conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c->state == NB_CONN_READING && !c->started && !c->closing)
            nb_http_conn_close(c);
    }
    uv_timer_start(&srv->grace, grace_cb, grace_ms, 0);
}

void nb_http_server_free(struct nb_http_server *srv)
{
    if (!srv)
        return;
    free(srv);
}
