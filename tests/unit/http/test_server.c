/*
 * test_server.c: the HTTP/1.1 server end to end over real loopback sockets.
 *
 * Each test starts a server on 127.0.0.1 port 0 with a uv loop running in its
 * own thread, then talks to it with plain blocking sockets (so what is
 * checked is what a client sees on the wire).  The handler picks its
 * behaviour from the path: /hello, /echo, /stream, /defer?ms=N, /hang.
 * Timeouts in the test limits are short (300 ms) to keep the suite fast.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/util.h"
#include "http/http.h"

/* ---- the server side (runs on the loop thread) ---- */

struct harness {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t async;
    struct nb_http_server *srv;
    int port;
    unsigned grace_ms;
    atomic_int want_shutdown;
    atomic_int done;     /* shutdown's done callback ran */
    atomic_int handled;  /* requests given to the handler */
    atomic_int aborts;   /* abort callbacks run */
    atomic_int answered; /* deferred answers sent */
    atomic_int errors;   /* custom error hook calls */
    atomic_int bad;      /* failed checks on the loop thread */
    int use_hook;
};

struct deferred {
    uv_timer_t timer;
    struct nb_http_request *req;
    struct harness *h;
    int late_abort; /* register the abort callback instead of answering */
};

/* cmocka's asserts must not run off the test thread: count failures instead. */
#define CHECK(h, cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            atomic_fetch_add(&(h)->bad, 1);                                                        \
        }                                                                                          \
    } while (0)

static void deferred_closed(uv_handle_t *t)
{
    free(t->data);
}

static void on_abort(struct nb_http_request *req, void *arg)
{
    struct harness *h = arg;
    atomic_fetch_add(&h->aborts, 1);
    /* The handler must still answer; the answer is discarded. */
    nb_http_respond(req, 200, NULL, 0, "late", 4);
}

static void deferred_fire(uv_timer_t *t)
{
    struct deferred *d = t->data;
    if (d->late_abort) {
        nb_http_on_abort(d->req, on_abort, d->h);
        uv_close((uv_handle_t *)t, deferred_closed);
        return;
    }
    struct nb_kv hd[] = {{"X-Deferred", "1"}};
    const char *q = d->req->query;
    char body[128];
    snprintf(body, sizeof(body), "deferred %s", q);
    nb_http_respond(d->req, 200, hd, 1, body, strlen(body));
    atomic_fetch_add(&d->h->answered, 1);
    uv_close((uv_handle_t *)t, deferred_closed);
}

static void handler(struct nb_http_request *req, void *udata)
{
    struct harness *h = udata;
    atomic_fetch_add(&h->handled, 1);
    if (strcmp(req->path, "/hello") == 0) {
        struct nb_kv hd[] = {{"Content-Type", "text/plain"},
                             {"X-Test", "yes"},
                             {"content-length", "999"},
                             {"Connection", "upgrade"},
                             {"X-Evil", "a\r\nInjected: 1"}};
        nb_http_respond(req, 200, hd, NB_ARRAY_SIZE(hd), "hello world", 11);
    } else if (strcmp(req->path, "/echo") == 0) {
        char port[16], hv[256], blen[32];
        snprintf(port, sizeof(port), "%d", req->client_port);
        const char *x = nb_http_header(req, "x-ECHO");
        snprintf(hv, sizeof(hv), "%s", x ? x : "(none)");
        snprintf(blen, sizeof(blen), "%zu", req->body_len);
        struct nb_kv hd[] = {{"X-Method", req->method},
                             {"X-Url", req->url},
                             {"X-Path", req->path},
                             {"X-Query", req->query},
                             {"X-Client-Port", port},
                             {"X-Client-Ip", req->client_ip},
                             {"X-Echo", hv},
                             {"X-Body-Len", blen}};
        CHECK(h, req->body[req->body_len] == '\0');
        CHECK(h, req->start_ns > 0 && req->start_ns <= nb_now_ns());
        CHECK(h, req->conn != NULL && req->http_major == 1 && req->http_minor <= 9);
        nb_http_respond(req, 200, hd, NB_ARRAY_SIZE(hd), req->body, req->body_len);
    } else if (strcmp(req->path, "/stream") == 0) {
        struct nb_kv hd[] = {{"Content-Type", "text/plain"}, {"Transfer-Encoding", "gzip"}};
        nb_http_start(req, 200, hd, 2);
        CHECK(h, nb_http_write(req, "abc", 3) == 0);
        CHECK(h, nb_http_write(req, "", 0) == 0); /* no premature last-chunk */
        CHECK(h, nb_http_write(req, "defg", 4) == 0);
        nb_http_end(req);
    } else if (strcmp(req->path, "/defer") == 0 || strcmp(req->path, "/late-abort") == 0) {
        int ms = 50;
        sscanf(req->query, "ms=%d", &ms);
        struct deferred *d = calloc(1, sizeof(*d));
        d->req = req;
        d->h = h;
        d->late_abort = strcmp(req->path, "/late-abort") == 0;
        uv_timer_init(&h->loop, &d->timer);
        d->timer.data = d;
        uv_timer_start(&d->timer, deferred_fire, (uint64_t)ms, 0);
    } else if (strcmp(req->path, "/hang") == 0) {
        nb_http_on_abort(req, on_abort, h);
    } else if (strcmp(req->path, "/nocontent") == 0) {
        nb_http_respond(req, 204, NULL, 0, NULL, 0);
    } else if (strcmp(req->path, "/close") == 0) {
        req->keep_alive = 0;
        nb_http_respond(req, 200, NULL, 0, "bye", 3);
    } else {
        nb_http_respond(req, 404, NULL, 0, "nope", 4);
    }
}

static void error_hook(struct nb_http_request *req, int status, const char *code,
                       const char *message, void *udata)
{
    struct harness *h = udata;
    atomic_fetch_add(&h->errors, 1);
    char body[256];
    snprintf(body, sizeof(body), "custom %d %s: %s", status, code, message);
    struct nb_kv hd[] = {{"Content-Type", "text/plain"}};
    nb_http_respond(req, status, hd, 1, body, strlen(body));
}

static void shutdown_done(void *arg)
{
    struct harness *h = arg;
    atomic_store(&h->done, 1);
    uv_close((uv_handle_t *)&h->async, NULL);
}

static void async_cb(uv_async_t *a)
{
    struct harness *h = a->data;
    if (atomic_exchange(&h->want_shutdown, 0))
        nb_http_server_shutdown(h->srv, h->grace_ms, shutdown_done, h);
}

static void loop_thread(void *arg)
{
    struct harness *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
}

/* Short timeouts and a small body limit so limit tests stay fast. */
static void test_limits(struct nb_http_limits *l)
{
    nb_http_limits_default(l);
    l->max_body_bytes = 1024;
    l->header_timeout_ms = 300;
    l->body_timeout_ms = 300;
    l->idle_timeout_ms = 300;
}

/* Per-request body limit: 8 bytes under /small, else the server's limit. */
static size_t small_body_limit(const struct nb_http_request *req, void *udata)
{
    struct harness *h = udata;
    CHECK(h, req->conn != NULL && nb_http_header(req, "Host") != NULL);
    return strncmp(req->path, "/small", 6) == 0 ? 8 : SIZE_MAX;
}

static int use_small_body_limit; /* read by start_on */

static struct harness *start_on(const char *host, const struct nb_http_limits *limits, int use_hook)
{
    struct harness *h = calloc(1, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    struct nb_http_limits l;
    if (limits)
        l = *limits;
    else
        test_limits(&l);
    h->use_hook = use_hook;
    assert_int_equal(
        nb_http_server_new(&h->loop, &l, handler, use_hook ? error_hook : NULL, h, &h->srv), 0);
    if (use_small_body_limit)
        nb_http_server_set_body_limit(h->srv, small_body_limit);
    struct nb_err err = {0};
    int r = nb_http_server_listen(h->srv, host, 0, &err);
    if (r < 0) {
        /* Let the caller skip (IPv6 may be missing); clean up first. */
        nb_http_server_shutdown(h->srv, 0, NULL, NULL);
        uv_run(&h->loop, UV_RUN_DEFAULT);
        nb_http_server_free(h->srv);
        uv_loop_close(&h->loop);
        free(h);
        return NULL;
    }
    h->port = nb_http_server_port(h->srv);
    assert_true(h->port > 0);
    uv_async_init(&h->loop, &h->async, async_cb);
    h->async.data = h;
    assert_int_equal(uv_thread_create(&h->thread, loop_thread, h), 0);
    return h;
}

static struct harness *start(const struct nb_http_limits *limits)
{
    struct harness *h = start_on("127.0.0.1", limits, 0);
    assert_non_null(h);
    return h;
}

static void request_shutdown(struct harness *h, unsigned grace_ms)
{
    h->grace_ms = grace_ms;
    atomic_store(&h->want_shutdown, 1);
    uv_async_send(&h->async);
}

static void stop(struct harness *h)
{
    if (!atomic_load(&h->done))
        request_shutdown(h, 200);
    uv_thread_join(&h->thread);
    assert_int_equal(atomic_load(&h->done), 1);
    assert_int_equal(atomic_load(&h->bad), 0);
    assert_int_equal(uv_loop_close(&h->loop), 0); /* every handle was closed */
    nb_http_server_free(h->srv);
    free(h);
}

/* ---- the client side (blocking sockets) ---- */

struct client {
    int fd;
    char buf[1 << 17];
    size_t len;
};

static struct client *cli_connect_to(int family, const char *host, int port)
{
    struct client *c = calloc(1, sizeof(*c));
    c->fd = socket(family, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &a->sin6_addr);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &a->sin_addr);
        sl = sizeof(*a);
    }
    if (connect(c->fd, (struct sockaddr *)&ss, sl) < 0) {
        close(c->fd);
        free(c);
        return NULL;
    }
    return c;
}

static struct client *cli_connect(struct harness *h)
{
    struct client *c = cli_connect_to(AF_INET, "127.0.0.1", h->port);
    assert_non_null(c);
    return c;
}

static void cli_close(struct client *c)
{
    close(c->fd);
    free(c);
}

static void cli_send(struct client *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void cli_sends(struct client *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

/* Reads more into the buffer; returns bytes read, 0 on EOF, -1 on error/timeout. */
static ssize_t cli_fill(struct client *c)
{
    assert_true(c->len < sizeof(c->buf));
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n < 0 ? -1 : n;
}

static void cli_consume(struct client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

struct resp {
    int status;
    char head[16384]; /* status line and headers, NUL-terminated */
    char *body;
    size_t body_len;
    int chunked;
};

/* Returns the value of header name in r (case-insensitive) or NULL; static storage. */
static const char *resp_header(const struct resp *r, const char *name)
{
    static char val[8192];
    size_t nlen = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2]) {
        p += 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static int count_header(const struct resp *r, const char *name)
{
    int n = 0;
    size_t nlen = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nlen) == 0 && p[2 + nlen] == ':')
            n++;
    return n;
}

/* Waits until the buffer holds at least n bytes. */
static void cli_need(struct client *c, size_t n)
{
    while (c->len < n)
        assert_true(cli_fill(c) > 0);
}

/* Reads one response; head_only for HEAD requests (no body follows). */
static void cli_read_resp(struct client *c, struct resp *r, int head_only)
{
    memset(r, 0, sizeof(*r));
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        assert_true(cli_fill(c) > 0);
    size_t hlen = (size_t)(end - c->buf) + 4;
    assert_true(hlen < sizeof(r->head));
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    cli_consume(c, hlen);
    assert_int_equal(strncmp(r->head, "HTTP/1.1 ", 9), 0);
    r->status = atoi(r->head + 9);
    const char *cl = resp_header(r, "Content-Length");
    const char *te = resp_header(r, "Transfer-Encoding");
    r->body = calloc(1, sizeof(c->buf) + 1);
    if (head_only || r->status == 204 || r->status == 304 || r->status / 100 == 1)
        return;
    if (te && strcasecmp(te, "chunked") == 0) {
        r->chunked = 1;
        for (;;) {
            char *eol;
            while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
                assert_true(cli_fill(c) > 0);
            size_t sz = strtoul(c->buf, NULL, 16);
            size_t lineno = (size_t)(eol - c->buf) + 2;
            cli_need(c, lineno + sz + 2);
            memcpy(r->body + r->body_len, c->buf + lineno, sz);
            r->body_len += sz;
            assert_memory_equal(c->buf + lineno + sz, "\r\n", 2);
            cli_consume(c, lineno + sz + 2);
            if (sz == 0)
                break;
        }
    } else if (cl) {
        size_t n = strtoul(cl, NULL, 10);
        cli_need(c, n);
        memcpy(r->body, c->buf, n);
        r->body_len = n;
        cli_consume(c, n);
    } else {
        while (cli_fill(c) > 0)
            ;
        memcpy(r->body, c->buf, c->len);
        r->body_len = c->len;
        c->len = 0;
    }
}

static void resp_release(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* The server closed: recv sees EOF (or a reset) with nothing more to read. */
static void assert_closed(struct client *c)
{
    assert_int_equal(c->len, 0);
    char b[256];
    ssize_t n = recv(c->fd, b, sizeof(b), 0);
    if (n > 0)
        fail_msg("unexpected %zd bytes: %.*s", n, (int)n, b);
    if (n < 0)
        assert_int_equal(errno, ECONNRESET);
}

static uint64_t ms_since(uint64_t t0)
{
    return (nb_now_ns() - t0) / 1000000;
}

static void wait_for(atomic_int *v, int want, unsigned ms)
{
    uint64_t t0 = nb_now_ns();
    while (atomic_load(v) < want && ms_since(t0) < ms)
        usleep(2000);
    assert_int_equal(atomic_load(v), want);
}

/* A JSON error response with code, then the connection closes. */
static void assert_json_error(struct client *c, int status, const char *code)
{
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, status);
    assert_string_equal(resp_header(&r, "Content-Type"), "application/json");
    assert_string_equal(resp_header(&r, "Connection"), "close");
    char want[128];
    snprintf(want, sizeof(want), "{\"ErrorCode\":\"%s\",\"ErrorMessage\":\"", code);
    assert_true(strncmp(r.body, want, strlen(want)) == 0);
    resp_release(&r);
    assert_closed(c);
}

/* ---- tests ---- */

static void test_get_simple(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_string_equal(r.body, "hello world");
    assert_string_equal(resp_header(&r, "Content-Length"), "11");
    assert_int_equal(count_header(&r, "Content-Length"), 1);
    assert_string_equal(resp_header(&r, "Content-Type"), "text/plain");
    assert_string_equal(resp_header(&r, "X-Test"), "yes");
    assert_string_equal(resp_header(&r, "Connection"), "keep-alive");
    assert_int_equal(count_header(&r, "Connection"), 1);
    assert_null(resp_header(&r, "X-Evil"));
    assert_null(resp_header(&r, "Injected"));
    const char *date = resp_header(&r, "Date");
    assert_non_null(date);
    assert_true(strlen(date) == 29 && strcmp(date + 25, " GMT") == 0);
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_request_fields(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "POST /echo?a=1&b=%20 HTTP/1.1\r\nHost: x\r\nx-echo: first\r\n"
                 "X-Echo: second\r\nContent-Length: 5\r\n\r\nhello");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(resp_header(&r, "X-Method"), "POST");
    assert_string_equal(resp_header(&r, "X-Url"), "/echo?a=1&b=%20");
    assert_string_equal(resp_header(&r, "X-Path"), "/echo");
    assert_string_equal(resp_header(&r, "X-Query"), "a=1&b=%20");
    assert_string_equal(resp_header(&r, "X-Echo"), "first"); /* first value, any case */
    assert_string_equal(resp_header(&r, "X-Client-Ip"), "127.0.0.1");
    assert_string_equal(resp_header(&r, "X-Body-Len"), "5");
    assert_string_equal(r.body, "hello");
    resp_release(&r);

    /* No query: "" and no body: "". */
    cli_sends(c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_read_resp(c, &r, 0);
    assert_string_equal(resp_header(&r, "X-Query"), "");
    assert_string_equal(resp_header(&r, "X-Echo"), "(none)");
    assert_int_equal(r.body_len, 0);
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_keep_alive(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    char port[16] = "";
    for (int i = 0; i < 5; i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET /echo?i=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        cli_sends(c, req);
        struct resp r;
        cli_read_resp(c, &r, 0);
        assert_int_equal(r.status, 200);
        char q[16];
        snprintf(q, sizeof(q), "i=%d", i);
        assert_string_equal(resp_header(&r, "X-Query"), q);
        assert_string_equal(resp_header(&r, "Connection"), "keep-alive");
        if (i == 0)
            snprintf(port, sizeof(port), "%s", resp_header(&r, "X-Client-Port"));
        else
            assert_string_equal(resp_header(&r, "X-Client-Port"), port);
        resp_release(&r);
    }
    assert_int_equal(atomic_load(&h->handled), 5);
    cli_close(c);
    stop(h);
}

static void test_pipelining(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    /* The deferred one in the middle must not let the third overtake it. */
    cli_sends(c, "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /defer?ms=60 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_string_equal(resp_header(&r, "X-Query"), "n=1");
    resp_release(&r);
    cli_read_resp(c, &r, 0);
    assert_string_equal(r.body, "deferred ms=60");
    resp_release(&r);
    cli_read_resp(c, &r, 0);
    assert_string_equal(resp_header(&r, "X-Query"), "n=3");
    assert_string_equal(r.body, "xyz");
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_chunked_request(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n");
    usleep(20000); /* the rest in a later read */
    cli_sends(c, "6;ext=1\r\n world\r\n0\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    assert_string_equal(resp_header(&r, "X-Body-Len"), "11");
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_streaming_response(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_int_equal(count_header(&r, "Transfer-Encoding"), 1);
    assert_null(resp_header(&r, "Content-Length"));
    assert_string_equal(r.body, "abcdefg");
    resp_release(&r);
    /* The connection is still usable after the last chunk. */
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_read_resp(c, &r, 0);
    assert_string_equal(r.body, "hello world");
    resp_release(&r);
    cli_close(c);

    /* HTTP/1.0 has no chunked encoding: raw body, ended by close. */
    c = cli_connect(h);
    cli_sends(c, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cli_read_resp(c, &r, 0);
    assert_false(r.chunked);
    assert_string_equal(resp_header(&r, "Connection"), "close");
    assert_string_equal(r.body, "abcdefg");
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 "Expect: 100-continue\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 100);
    assert_string_equal(r.head, "HTTP/1.1 100 Continue\r\n\r\n");
    resp_release(&r);
    cli_sends(c, "abcde");
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "abcde");
    resp_release(&r);
    cli_close(c);

    /* Announced too large: 413 at once, no 100, body never sent. */
    c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n"
                 "Expect: 100-continue\r\n\r\n");
    assert_json_error(c, 413, "EntityTooLarge");
    cli_close(c);
    assert_int_equal(atomic_load(&h->handled), 1);
    stop(h);
}

static void test_head(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(resp_header(&r, "Content-Length"), "11");
    resp_release(&r);
    assert_int_equal(c->len, 0);
    /* No body bytes leaked: the next response starts right away. */
    cli_sends(c, "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_read_resp(c, &r, 1);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    cli_read_resp(c, &r, 0);
    assert_string_equal(r.body, "hello world");
    resp_release(&r);
    /* 204 carries neither body nor Content-Length. */
    cli_sends(c, "GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 204);
    assert_null(resp_header(&r, "Content-Length"));
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_headers_too_large(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    char *big = malloc(20000);
    int n = snprintf(big, 20000, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 9000);
    memcpy(big + n + 9000, "\r\n\r\n", 5);
    cli_sends(c, big);
    assert_json_error(c, 431, "RequestHeaderFieldsTooLarge");
    cli_close(c);

    /* Many small headers add up. */
    c = cli_connect(h);
    n = snprintf(big, 20000, "GET /hello HTTP/1.1\r\n");
    for (int i = 0; i < 100; i++)
        n += snprintf(big + n, 20000 - (size_t)n, "X-H%d: %090d\r\n", i, 0);
    snprintf(big + n, 20000 - (size_t)n, "\r\n");
    cli_sends(c, big);
    assert_json_error(c, 431, "RequestHeaderFieldsTooLarge");
    cli_close(c);

    /* Just under the limit is fine. */
    c = cli_connect(h);
    n = snprintf(big, 20000, "GET /hello HTTP/1.1\r\nX-Big: ");
    memset(big + n, 'b', 7000);
    memcpy(big + n + 7000, "\r\n\r\n", 5);
    cli_sends(c, big);
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    cli_close(c);
    free(big);
    assert_int_equal(atomic_load(&h->handled), 1);
    stop(h);
}

static void test_uri_too_long(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    char *big = malloc(8000);
    struct client *c = cli_connect(h);
    int n = snprintf(big, 8000, "GET /echo?q=");
    memset(big + n, 'a', 5000);
    snprintf(big + n + 5000, 100, " HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_sends(c, big);
    assert_json_error(c, 414, "URITooLong");
    cli_close(c);

    c = cli_connect(h);
    n = snprintf(big, 8000, "GET /echo?q=");
    memset(big + n, 'a', 3000);
    snprintf(big + n + 3000, 100, " HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_sends(c, big);
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(strlen(resp_header(&r, "X-Query")), 3002);
    resp_release(&r);
    cli_close(c);
    free(big);
    stop(h);
}

static void test_body_too_large(void **state)
{
    (void)state;
    struct harness *h = start(NULL); /* body limit 1024 */
    /* Announced by Content-Length and sent anyway, far more than the socket
     * buffers hold: the client can send it all and then read the 413, because
     * the server drains input before closing instead of resetting. */
    struct client *c = cli_connect(h);
    char body[4096];
    memset(body, 'x', sizeof(body));
    size_t big = 16 << 20;
    char *huge = calloc(1, big);
    char head[128];
    snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             big);
    cli_sends(c, head);
    for (size_t off = 0; off < big;) {
        ssize_t n = send(c->fd, huge + off, big - off, MSG_NOSIGNAL);
        assert_true(n > 0); /* a reset here means the server closed too early */
        off += (size_t)n;
    }
    free(huge);
    assert_json_error(c, 413, "EntityTooLarge");
    cli_close(c);

    /* Chunked: counted as bytes arrive. */
    c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        cli_sends(c, "200\r\n");
        cli_send(c, body, 0x200);
        cli_sends(c, "\r\n");
    }
    assert_json_error(c, 413, "EntityTooLarge");
    cli_close(c);

    /* Exactly the limit is fine. */
    c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n");
    cli_send(c, body, 1024);
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 1024);
    resp_release(&r);
    cli_close(c);
    assert_int_equal(atomic_load(&h->handled), 1);
    stop(h);
}

static void test_body_limit_fn(void **state)
{
    (void)state;
    use_small_body_limit = 1;
    struct harness *h = start(NULL);
    use_small_body_limit = 0;
    struct client *c = cli_connect(h);
    cli_sends(c, "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n");
    assert_json_error(c, 413, "EntityTooLarge");
    cli_close(c);

    c = cli_connect(h);
    cli_sends(c, "POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n");
    assert_json_error(c, 413, "EntityTooLarge");
    cli_close(c);

    /* Elsewhere the server's own limit (1024 here) still applies: min of both. */
    c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "123456789");
    resp_release(&r);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n");
    assert_json_error(c, 413, "EntityTooLarge");
    cli_close(c);
    stop(h);
}

static void test_malformed(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    static const char *const bad[] = {
        "GARBAGE\x01 nonsense\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
        "POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct client *c = cli_connect(h);
        cli_sends(c, bad[i]);
        assert_json_error(c, 400, "BadRequest");
        cli_close(c);
    }
    /* HTTP/2.0 over this server: 505. */
    struct client *c2 = cli_connect(h);
    cli_sends(c2, "GET /hello HTTP/2.0\r\n\r\n");
    assert_json_error(c2, 505, "HTTPVersionNotSupported");
    cli_close(c2);
    /* A good request after a bad one on the pipeline is not served. */
    struct client *c = cli_connect(h);
    cli_sends(c,
              "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nBAD\x01\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    assert_json_error(c, 400, "BadRequest");
    cli_close(c);
    assert_int_equal(atomic_load(&h->handled), 1);
    stop(h);
}

static void test_error_hook(void **state)
{
    (void)state;
    struct nb_http_limits l;
    test_limits(&l);
    struct harness *h = start_on("127.0.0.1", &l, 1);
    assert_non_null(h);
    struct client *c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 999999\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 413);
    assert_true(strncmp(r.body, "custom 413 EntityTooLarge: ", 27) == 0);
    assert_string_equal(resp_header(&r, "Connection"), "close");
    resp_release(&r);
    assert_closed(c);
    cli_close(c);
    assert_int_equal(atomic_load(&h->errors), 1);
    stop(h);
}

static void test_header_timeout(void **state)
{
    (void)state;
    struct harness *h = start(NULL); /* 300 ms */
    struct client *c = cli_connect(h);
    uint64_t t0 = nb_now_ns();
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    usleep(150000);
    cli_sends(c, "X-Slow: 1\r\n"); /* trickling does not extend the deadline */
    assert_json_error(c, 408, "RequestTimeout");
    uint64_t ms = ms_since(t0);
    assert_true(ms >= 280 && ms < 2000);
    cli_close(c);

    /* A stalled body too. */
    c = cli_connect(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    assert_json_error(c, 408, "RequestTimeout");
    cli_close(c);

    /* A connection that never sends anything is closed silently. */
    c = cli_connect(h);
    t0 = nb_now_ns();
    assert_closed(c);
    assert_true(ms_since(t0) < 2000);
    cli_close(c);
    assert_int_equal(atomic_load(&h->handled), 0);
    stop(h);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct harness *h = start(NULL); /* 300 ms */
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    uint64_t t0 = nb_now_ns();
    assert_closed(c); /* silently: no 408 */
    uint64_t ms = ms_since(t0);
    assert_true(ms >= 250 && ms < 2000);
    cli_close(c);
    stop(h);
}

static void test_abort(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_for(&h->handled, 1, 2000);
    assert_int_equal(atomic_load(&h->aborts), 0);
    cli_close(c);
    wait_for(&h->aborts, 1, 2000);
    usleep(20000);
    assert_int_equal(atomic_load(&h->aborts), 1);
    stop(h);
}

/* Registered after the client left: still runs, once, on a later loop turn. */
static void test_abort_registered_late(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /late-abort?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_for(&h->handled, 1, 2000);
    cli_close(c);
    wait_for(&h->aborts, 1, 2000);
    usleep(20000);
    assert_int_equal(atomic_load(&h->aborts), 1);
    stop(h);
}

/* Requests trickled a byte at a time parse the same (callbacks see fragments). */
static void test_byte_by_byte(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    const char *req = "POST /echo?a=b HTTP/1.1\r\nX-Echo: hi there\r\nX-Empty:\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    for (const char *p = req; *p; p++)
        cli_send(c, p, 1);
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(resp_header(&r, "X-Echo"), "hi there");
    assert_string_equal(resp_header(&r, "X-Query"), "a=b");
    assert_string_equal(r.body, "abcde");
    resp_release(&r);
    cli_close(c);
    stop(h);
}

/* Mutated requests, then an abrupt close: the server survives and cleans up. */
static void test_garbage_smoke(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    const char *base = "POST /echo?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                       "Expect: 100-continue\r\n\r\nabcdGET /hello HTTP/1.1\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    size_t blen = strlen(base);
    char buf[512];
    unsigned seed = 12345;
    for (int i = 0; i < 300; i++) {
        memcpy(buf, base, blen);
        int nmut = 1 + (int)(rand_r(&seed) % 4);
        for (int k = 0; k < nmut; k++)
            buf[rand_r(&seed) % blen] = (char)(rand_r(&seed) % 256);
        size_t len = 1 + rand_r(&seed) % blen;
        struct client *c = cli_connect(h);
        cli_send(c, buf, len);
        if (i % 3 == 0)
            usleep(200);
        cli_close(c);
    }
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /hello HTTP/1.1\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_deferred(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /defer?ms=40 HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "deferred ms=40");
    assert_string_equal(resp_header(&r, "X-Deferred"), "1");
    resp_release(&r);
    /* A deferred answer to a client that left is just dropped. */
    cli_sends(c, "GET /defer?ms=80 HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_for(&h->handled, 2, 2000);
    cli_close(c);
    wait_for(&h->answered, 2, 2000);
    stop(h);
}

static void test_http10_and_close(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(resp_header(&r, "Connection"), "close");
    resp_release(&r);
    assert_closed(c);
    cli_close(c);

    c = cli_connect(h);
    cli_sends(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cli_read_resp(c, &r, 0);
    assert_string_equal(resp_header(&r, "Connection"), "keep-alive");
    resp_release(&r);
    cli_sends(c, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
    cli_read_resp(c, &r, 0);
    assert_string_equal(resp_header(&r, "Connection"), "close");
    resp_release(&r);
    assert_closed(c);
    cli_close(c);

    /* The handler may close by clearing keep_alive. */
    c = cli_connect(h);
    cli_sends(c, "GET /close HTTP/1.1\r\n\r\n");
    cli_read_resp(c, &r, 0);
    assert_string_equal(resp_header(&r, "Connection"), "close");
    assert_string_equal(r.body, "bye");
    resp_release(&r);
    assert_closed(c);
    cli_close(c);
    stop(h);
}

static void test_max_connections(void **state)
{
    (void)state;
    struct nb_http_limits l;
    test_limits(&l);
    l.max_connections = 2;
    struct harness *h = start(&l);
    struct client *a = cli_connect(h), *b = cli_connect(h);
    /* Make sure both are accepted before the third arrives. */
    cli_sends(a, "GET /hello HTTP/1.1\r\n\r\n");
    cli_sends(b, "GET /hello HTTP/1.1\r\n\r\n");
    struct resp r;
    cli_read_resp(a, &r, 0);
    resp_release(&r);
    cli_read_resp(b, &r, 0);
    resp_release(&r);
    struct client *c3 = cli_connect(h);
    assert_closed(c3);
    cli_close(c3);
    cli_sends(a, "GET /hello HTTP/1.1\r\n\r\n");
    cli_read_resp(a, &r, 0);
    assert_int_equal(r.status, 200);
    resp_release(&r);
    cli_close(a);
    cli_close(b);
    stop(h);
}

static void test_graceful_shutdown(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *busy = cli_connect(h);
    struct client *idle = cli_connect(h);
    cli_sends(idle, "GET /hello HTTP/1.1\r\n\r\n");
    struct resp r;
    cli_read_resp(idle, &r, 0);
    resp_release(&r);
    cli_sends(busy, "GET /defer?ms=250 HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_for(&h->handled, 2, 2000);
    uint64_t t0 = nb_now_ns();
    request_shutdown(h, 3000);
    assert_closed(idle); /* idle: closed at once */
    assert_true(ms_since(t0) < 200);
    cli_close(idle);
    /* The in-flight request finishes, with Connection: close. */
    cli_read_resp(busy, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "deferred ms=250");
    assert_string_equal(resp_header(&r, "Connection"), "close");
    resp_release(&r);
    assert_closed(busy);
    assert_int_equal(atomic_load(&h->done), 0);
    cli_close(busy);
    wait_for(&h->done, 1, 2000);
    assert_true(ms_since(t0) < 2000);
    /* The listener is gone. */
    assert_null(cli_connect_to(AF_INET, "127.0.0.1", h->port));
    stop(h);
}

static void test_shutdown_grace_expires(void **state)
{
    (void)state;
    struct harness *h = start(NULL);
    struct client *c = cli_connect(h);
    cli_sends(c, "GET /hang HTTP/1.1\r\n\r\n");
    wait_for(&h->handled, 1, 2000);
    uint64_t t0 = nb_now_ns();
    request_shutdown(h, 100);
    wait_for(&h->done, 1, 2000);
    assert_true(ms_since(t0) >= 90);
    assert_int_equal(atomic_load(&h->aborts), 1);
    assert_closed(c);
    cli_close(c);
    stop(h);
}

static void test_ipv6(void **state)
{
    (void)state;
    struct harness *h = start_on("::1", NULL, 0);
    if (!h) {
        skip();
        return;
    }
    struct client *c = cli_connect_to(AF_INET6, "::1", h->port);
    if (!c) {
        stop(h);
        skip();
        return;
    }
    cli_sends(c, "GET /echo HTTP/1.1\r\n\r\n");
    struct resp r;
    cli_read_resp(c, &r, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(resp_header(&r, "X-Client-Ip"), "::1");
    resp_release(&r);
    cli_close(c);
    stop(h);
}

static void test_listen_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct nb_http_server *srv;
    assert_int_equal(nb_http_server_new(&loop, NULL, handler, NULL, NULL, &srv), 0);
    struct nb_err err = {0};
    assert_int_equal(nb_http_server_listen(srv, "not-an-ip", 0, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not-an-ip"));
    nb_http_server_shutdown(srv, 0, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    nb_http_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_status_text_and_defaults(void **state)
{
    (void)state;
    assert_string_equal(nb_http_status_text(200), "OK");
    assert_string_equal(nb_http_status_text(404), "Not Found");
    assert_string_equal(nb_http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(nb_http_status_text(799), "Unknown");
    struct nb_http_limits l;
    nb_http_limits_default(&l);
    assert_int_equal(l.max_header_bytes, 8192);
    assert_int_equal(l.max_url_bytes, 4096);
    assert_int_equal(l.max_body_bytes, 32 << 20);
    assert_int_equal(l.max_connections, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_simple),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_chunked_request),
        cmocka_unit_test(test_streaming_response),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_headers_too_large),
        cmocka_unit_test(test_uri_too_long),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_body_limit_fn),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_error_hook),
        cmocka_unit_test(test_header_timeout),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_abort_registered_late),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_garbage_smoke),
        cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_http10_and_close),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_shutdown_grace_expires),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_status_text_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
