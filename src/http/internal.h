/*
 * internal.h: private structures shared by the HTTP server's files
 * (server.c: listening, connections, parsing, timeouts, shutdown;
 * response.c: building and writing responses).  See docs/internals/http.md.
 *
 * Ownership in one paragraph: the server owns a list of connections.  A
 * connection owns two uv handles (its TCP stream and one timer), a read
 * buffer, a per-request arena (URL, header names/values, path, query), a body
 * buffer, and the request object handed to the handler (embedded, reused
 * across keep-alive requests).  A connection is freed only when both handles
 * are closed (from their uv_close callbacks) and no request is outstanding,
 * so a handler may answer after the client went away.
 */
#ifndef NB_HTTP_INTERNAL_H
#define NB_HTTP_INTERNAL_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "http/http.h"

/* One queued write: the uv request and the bytes it sends, in one block. */
struct nb_http_wblock {
    uv_write_t w;
    struct nb_http_conn *conn;
    size_t cap; /* bytes available in data */
    size_t len; /* bytes being written */
    char data[];
};

enum nb_http_conn_state {
    NB_CONN_READING,  /* waiting for or parsing a request */
    NB_CONN_HANDLING, /* a request is with the handler (or its response is streaming) */
    NB_CONN_LINGER,   /* last response queued: shutdown, drain input, then close */
    NB_CONN_CLOSED,   /* handles closing or closed */
};

/* What the connection's single timer is currently measuring. */
enum nb_http_timer_kind {
    NB_TIMER_NONE,
    NB_TIMER_IDLE,   /* no byte of the next request yet: close silently */
    NB_TIMER_HEADER, /* headers must complete: 408 */
    NB_TIMER_BODY,   /* gap between body reads: 408 */
    NB_TIMER_KICK,   /* parse bytes buffered while the previous request ran */
    NB_TIMER_LINGER, /* draining after the last response: close */
    NB_TIMER_HOLD,   /* a refused client's next request waits (nb_http_hold) */
};

enum nb_http_last_cb { NB_CB_NONE, NB_CB_URL, NB_CB_FIELD, NB_CB_VALUE };

struct nb_http_hoff {
    size_t k, v; /* offsets of name and value in the arena */
};

struct nb_http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    struct nb_http_server *srv; /* NULL once orphaned by a forced shutdown */
    struct nb_http_conn *prev, *next;
    struct nb_http_conn *abort_next; /* server's deferred-abort list */
    http_parser parser;

    enum nb_http_conn_state state;
    enum nb_http_timer_kind timer_kind;
    enum nb_http_last_cb last_cb;
    unsigned handles_open; /* tcp + timer not yet closed */
    unsigned closing : 1;  /* uv_close called on the handles */
    unsigned reading : 1;
    unsigned in_process : 1;   /* inside parse loop: don't re-enter */
    unsigned started : 1;      /* first byte of the current request parsed */
    unsigned headers_done : 1; /* req's method/url/headers are valid */
    unsigned req_active : 1;   /* the handler owns req and has not answered */
    unsigned resp_started : 1; /* nb_http_start was called */
    unsigned chunked_out : 1;  /* streaming with chunked encoding */
    unsigned head : 1;         /* HEAD request: no body is sent */
    unsigned is_error : 1;     /* req is a server-generated error */
    unsigned peer_gone : 1;    /* client disconnected or a write failed */
    unsigned abort_pending : 1;
    unsigned msg_keep_alive : 1; /* http_should_keep_alive at message end */
    unsigned resp_keep_alive : 1;
    unsigned out_blocked : 1; /* answers pile up unread: parsing and reading wait (server.c) */
    unsigned held : 1;        /* between requests, neither reading nor parsing (nb_http_hold) */
    unsigned hold_ask : 1;    /* the handler asked for a hold after this request */

    /* Input: bytes [roff, rlen) of rbuf are received but not parsed yet. */
    char *rbuf;
    size_t rlen, roff, rcap;

    /* Per-request arena and header index, reused across requests. */
    struct nb_buf arena;
    struct nb_http_hoff *hoff;
    struct nb_kv *hkv;
    size_t nh, hcap;
    size_t url_len;
    size_t hdr_bytes;

    char *body;
    size_t body_len, body_cap;
    size_t body_max; /* this request's body limit, set when its headers are complete */

    /* A limit hit inside a parser callback, answered after execute returns. */
    int err_status;
    const char *err_code;
    char err_msg[160];

    struct nb_http_request req;
    void (*abort_cb)(struct nb_http_request *, void *);
    void *abort_arg;

    size_t pending_bytes;         /* queued by uv_write, not yet written */
    struct nb_http_wblock *spare; /* one write block kept for reuse */
    unsigned long nreqs;
    unsigned hold_ms;      /* the last hold; doubles while refusals follow each other */
    uint64_t linger_start; /* uv_now when draining began */
    char ip[64];
    int port;
};

struct nb_http_server {
    uv_loop_t *loop;
    struct nb_http_limits limits;
    nb_http_handler_fn handler;
    nb_http_error_fn on_error;
    nb_http_body_limit_fn body_limit; /* optional per-request body limit */
    void *udata;

    uv_tcp_t listener;
    uv_timer_t grace;       /* shutdown's force-close deadline */
    uv_timer_t abort_timer; /* runs abort callbacks registered after disconnect */
    struct nb_http_conn *conns;
    struct nb_http_conn *aborts;
    size_t nconns;       /* connections with open handles */
    size_t nrequests;    /* requests with the handler */
    uint64_t body_bytes; /* body buffers of all connections (limits.max_body_buffered) */
    int port;
    int listening;

    int shutting_down, grace_expired, done_called;
    int handles_open; /* listener, grace, abort_timer */
    void (*done)(void *);
    void *done_arg;

    int64_t date_sec;
    char date[96]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
};

/* server.c */
/* The response for the current request is queued: reset for the next one. */
void nb_http_conn_finish_request(struct nb_http_conn *conn);
/* Closes the connection's handles (idempotent); frees it later if possible. */
void nb_http_conn_close(struct nb_http_conn *conn);
/* Calls the abort callback once if one is set and a request is outstanding. */
void nb_http_conn_fire_abort(struct nb_http_conn *conn);
/* write_cb: output drained below the low mark: resumes a connection whose answers piled up. */
void nb_http_conn_output_drained(struct nb_http_conn *conn);
/* Answers conn's current request with a server error through the error hook. */
void nb_http_conn_error(struct nb_http_conn *conn, int status, const char *code,
                        const char *message);

/* response.c */
/*
 * Takes a write block with room for at least size bytes (the connection's
 * spare if big enough, else a new one).  Never fails.
 */
struct nb_http_wblock *nb_http_wblock_get(struct nb_http_conn *conn, size_t size);
/*
 * Queues wb (len set) on conn with one uv_write.  Takes ownership of wb.
 * Returns 0 or -EPIPE if the connection is gone or the write failed.
 */
int nb_http_conn_write(struct nb_http_conn *conn, struct nb_http_wblock *wb);
/* Frees a write block or keeps it as conn's spare. */
void nb_http_wblock_put(struct nb_http_conn *conn, struct nb_http_wblock *wb);
/* {"ErrorCode": code, "ErrorMessage": message}; caller frees, *len set. */
char *nb_http_error_json(const char *code, const char *message, size_t *len);

#endif
