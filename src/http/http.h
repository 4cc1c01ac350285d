/*
 * http.h: the HTTP/1.1 server on libuv + http-parser.  It knows nothing of
 * functions: it parses requests, enforces limits, and writes responses.
 *
 * OVERALL DESIGN
 * One server per listening socket, driven by the caller's uv loop (single
 * threaded).  Each connection parses with http-parser; a complete request
 * (headers and whole body, buffered up to the body limit) is handed to the
 * handler.  While a request is being handled the connection stops reading,
 * so pipelined requests wait in the input buffer and responses go out in
 * order.  The handler answers exactly once, now or later (from any loop
 * callback), with nb_http_respond() or nb_http_start()/write()/end().
 *
 * Limits (see struct nb_http_limits) are answered by the server itself
 * through the error hook: headers too large -> 431, path+query too long ->
 * 414, body too large -> 413 (also before reading it when Content-Length or
 * Expect: 100-continue announce it), malformed -> 400, the bodies of all
 * connections together past max_body_buffered -> 503.  Timeouts: a request
 * whose headers do not arrive in header_timeout_ms, or a body that stalls for
 * body_timeout_ms, gets 408 and the connection closes; an idle keep-alive
 * connection closes silently after idle_timeout_ms.
 */
#ifndef NB_HTTP_HTTP_H
#define NB_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "base/kv.h"

struct nb_http_limits {
    size_t max_header_bytes;    /* all header lines together; default 8 KiB */
    size_t max_url_bytes;       /* path + query; default 4 KiB */
    size_t max_body_bytes;      /* default 32 MiB */
    unsigned header_timeout_ms; /* default 10 s */
    unsigned body_timeout_ms;   /* max gap between body reads; default 30 s */
    unsigned idle_timeout_ms;   /* keep-alive idle; default 60 s */
    unsigned max_connections;   /* beyond this, new connections are closed; default 10000 */
    uint64_t max_body_buffered; /* request bodies of all connections in memory; default 1 GiB */
};

/* Fills limits with the defaults above. */
void nb_http_limits_default(struct nb_http_limits *l);

struct nb_http_conn; /* opaque */

/*
 * A parsed request.  Every pointer is owned by the server and valid until
 * the response is complete (after nb_http_respond or nb_http_end returns).
 */
struct nb_http_request {
    struct nb_http_conn *conn;
    const char *method;    /* "GET", ... */
    const char *url;       /* request-target as sent: "/a/b%20c?x=1" */
    const char *path;      /* url up to '?' (still percent-encoded) */
    const char *query;     /* after '?', without it; "" if none */
    struct nb_kv *headers; /* in arrival order, names as sent */
    size_t nheaders;
    const char *body; /* whole body (de-chunked), NUL-terminated; "" if none */
    size_t body_len;
    char client_ip[64]; /* textual peer address */
    int client_port;
    int http_major, http_minor;
    int keep_alive;    /* the connection may stay open after this request */
    uint64_t start_ns; /* nb_now_ns() when the first byte arrived */
    void *udata;       /* free for the handler */
};

/* Returns the first value of the named header (case-insensitive), or NULL. */
const char *nb_http_header(const struct nb_http_request *req, const char *name);

/* Called for each complete request; must eventually answer it exactly once. */
typedef void (*nb_http_handler_fn)(struct nb_http_request *req, void *udata);
/*
 * Called when the server refuses a request itself (limits, malformed input,
 * timeouts).  Must answer with nb_http_respond().  code is a short symbolic
 * name ("EntityTooLarge"), message a sentence.  If NULL, the server answers
 * {"ErrorCode": code, "ErrorMessage": message} as application/json.
 */
typedef void (*nb_http_error_fn)(struct nb_http_request *req, int status, const char *code,
                                 const char *message, void *udata);

struct nb_http_server;

/*
 * Creates a server on loop.  limits may be NULL for defaults.  The server is
 * not listening yet.  Returns 0 and sets *out; the caller frees with
 * nb_http_server_free after shutdown completes.
 */
int nb_http_server_new(uv_loop_t *loop, const struct nb_http_limits *limits,
                       nb_http_handler_fn handler, nb_http_error_fn on_error, void *udata,
                       struct nb_http_server **out);
/*
 * Optional: decides the body limit of each request once its headers have
 * arrived (say, 32 MiB for invocations and more for code uploads); the
 * server applies min(fn(req), limits.max_body_bytes), both to an announced
 * Content-Length (and Expect: 100-continue) and to bytes as they arrive.
 * Only the request line and headers of req are set when fn runs.
 */
typedef size_t (*nb_http_body_limit_fn)(const struct nb_http_request *req, void *udata);
void nb_http_server_set_body_limit(struct nb_http_server *srv, nb_http_body_limit_fn fn);
/* Binds and listens on host:port (port 0 picks a free one).  0 or -errno, err filled. */
int nb_http_server_listen(struct nb_http_server *srv, const char *host, int port,
                          struct nb_err *err);
/* The bound port (after listen). */
int nb_http_server_port(const struct nb_http_server *srv);
/*
 * Graceful shutdown: stops accepting, closes idle connections, lets requests
 * in flight finish (their connections close after the response), then calls
 * done(arg) on the loop.  Connections still busy after grace_ms are closed.
 */
void nb_http_server_shutdown(struct nb_http_server *srv, unsigned grace_ms, void (*done)(void *),
                             void *arg);
/* Frees the server; only after shutdown's done callback. */
void nb_http_server_free(struct nb_http_server *srv);
/* Number of open connections and of requests being handled (for metrics). */
size_t nb_http_server_connections(const struct nb_http_server *srv);
/* Number of requests given to the handler and not yet answered (added). */
size_t nb_http_server_requests(const struct nb_http_server *srv);

/*
 * Answers req with a complete response.  headers are copied; the server adds
 * Content-Length, Date and Connection (and drops any the caller passed for
 * those).  body is copied (may be NULL when len is 0).  For HEAD requests the
 * body is not sent.  After this returns req is gone.  If the client has
 * already disconnected this just frees req.
 */
void nb_http_respond(struct nb_http_request *req, int status, const struct nb_kv *headers,
                     size_t nheaders, const void *body, size_t len);
/* Streaming response: status line and headers now, body with chunked encoding. */
void nb_http_start(struct nb_http_request *req, int status, const struct nb_kv *headers,
                   size_t nheaders);
/* Queues a body chunk (copied).  Returns 0, or -EPIPE if the client went away. */
int nb_http_write(struct nb_http_request *req, const void *data, size_t len);
/* Ends a streaming response; after this returns req is gone. */
void nb_http_end(struct nb_http_request *req);
/* Bytes queued on req's connection but not yet written (for backpressure). */
size_t nb_http_pending_bytes(const struct nb_http_request *req);

/*
 * Registers cb to run (once) if req's client disconnects before the response
 * is complete.  The handler must still answer req afterwards (the answer is
 * then discarded).  Passing cb NULL removes it.
 */
void nb_http_on_abort(struct nb_http_request *req, void (*cb)(struct nb_http_request *, void *),
                      void *arg);

/*
 * Asks the server not to read or parse the connection's next request for a
 * while after req is answered: for refusals (429) to a client that keeps
 * sending on the same connection, so that a flood of refusals costs the loop
 * little and other clients stay fast.  The first pause is 1 ms and each
 * refusal in a row on the connection doubles it, up to NB_HTTP_HOLD_MAX_MS;
 * a request answered without a hold starts again from 1 ms.  Call before
 * answering; without keep-alive it has no effect.
 */
#define NB_HTTP_HOLD_MAX_MS 1000
void nb_http_hold(struct nb_http_request *req);
/* The connection's peer address (req->client_ip may have been rewritten). */
const char *nb_http_peer_ip(const struct nb_http_request *req);

/* "OK", "Not Found", ... for a status code. */
const char *nb_http_status_text(int status);

#endif
