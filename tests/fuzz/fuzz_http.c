/*
 * fuzz_http.c: bytes from the network through the real HTTP server
 * (src/http/): http-parser glue, limits, pipelining, chunked bodies,
 * 100-continue, error answers, streaming and deferred responses.
 *
 * One server listens on a loopback port for the whole run, with small
 * limits so that every limit is within a fuzzer's reach.  Each input is
 * written by a client socket that then half-closes; the loop runs until
 * the server has closed the connection and answered every request.  The
 * handler picks its style from the path: "/s..." streams a chunked answer,
 * "/d..." answers on a later loop turn (after registering an abort
 * callback), anything else answers at once.  A hang is caught by
 * libFuzzer's -timeout; the loop also gives up (abort) after 5 s.
 *
 * fuzz-deps: nb_http nb_base
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "base/util.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t *loop;
static struct nb_http_server *srv;
static int port;

/* Deferred answers: requests to answer on the next loop turn. */
#define MAX_DEFERRED 256
static struct nb_http_request *deferred[MAX_DEFERRED];
static size_t ndeferred;
static uv_timer_t defer_timer;

static void answer(struct nb_http_request *req)
{
    char body[128];
    int n = snprintf(body, sizeof(body), "%s %zu %zu", req->method, req->nheaders, req->body_len);
    struct nb_kv h[] = {{"Content-Type", "text/plain"}, {"X-Path-Len", "1"}};
    nb_http_respond(req, 200, h, 2, body, (size_t)n);
}

static void on_defer(uv_timer_t *t)
{
    (void)t;
    size_t n = ndeferred;
    ndeferred = 0;
    for (size_t i = 0; i < n; i++) {
        nb_http_on_abort(deferred[i], NULL, NULL);
        answer(deferred[i]);
    }
}

static void on_abort(struct nb_http_request *req, void *arg)
{
    (void)req;
    (void)arg; /* the deferred answer still comes, as the contract requires */
}

static void handler(struct nb_http_request *req, void *udata)
{
    (void)udata;
    if (nb_http_header(req, "host") == NULL && req->path[0] == '\0')
        abort(); /* a dispatched request always has a path */
    if (req->path[0] == '/' && req->path[1] == 's') {
        struct nb_kv h[] = {{"Content-Type", "text/plain"}};
        nb_http_start(req, 200, h, 1);
        nb_http_write(req, req->body, req->body_len);
        nb_http_write(req, "end", 3);
        nb_http_end(req);
    } else if (req->path[0] == '/' && req->path[1] == 'd' && ndeferred < MAX_DEFERRED) {
        nb_http_on_abort(req, on_abort, NULL);
        deferred[ndeferred++] = req;
        uv_timer_start(&defer_timer, on_defer, 0, 0);
    } else {
        answer(req);
    }
}

static size_t body_limit(const struct nb_http_request *req, void *udata)
{
    (void)udata;
    return req->path[0] == '/' && req->path[1] == 'b' ? 16 : 4096;
}

static void setup(void)
{
    loop = uv_default_loop();
    struct nb_http_limits l = {
        .max_header_bytes = 1024,
        .max_url_bytes = 256,
        .max_body_bytes = 8192,
        .header_timeout_ms = 2000,
        .body_timeout_ms = 2000,
        .idle_timeout_ms = 2000,
        .max_connections = 64,
    };
    if (nb_http_server_new(loop, &l, handler, NULL, NULL, &srv) < 0)
        abort();
    nb_http_server_set_body_limit(srv, body_limit);
    struct nb_err err = {0};
    if (nb_http_server_listen(srv, "127.0.0.1", 0, &err) < 0) {
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        abort();
    }
    port = nb_http_server_port(srv);
    uv_timer_init(loop, &defer_timer);
}

static int client_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("fuzz_http: connect");
        abort();
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv == NULL)
        setup();
    if (size > 65536)
        return 0;
    int fd = client_connect();
    size_t off = 0;
    int eof = 0, wr_closed = 0;
    char sink[65536];
    uint64_t deadline = nb_now_ns() + 5000000000ull;
    while (!eof || nb_http_server_connections(srv) > 0 || nb_http_server_requests(srv) > 0 ||
           ndeferred > 0) {
        if (off < size) {
            ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN)
                off = size; /* the server closed on us: fine */
        }
        if (off == size && !wr_closed) {
            shutdown(fd, SHUT_WR);
            wr_closed = 1;
        }
        uv_run(loop, UV_RUN_NOWAIT);
        while (!eof) {
            ssize_t r = recv(fd, sink, sizeof(sink), 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                eof = 1;
            else if (r < 0)
                break;
        }
        if (nb_now_ns() > deadline) {
            fprintf(stderr, "fuzz_http: the server did not finish the connection in 5 s\n");
            abort();
        }
    }
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    return 0;
}
