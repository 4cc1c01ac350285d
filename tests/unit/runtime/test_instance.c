/*
 * test_instance.c: instances of the real Node.js runtime (node on PATH and
 * runtimes/nodejs/bootstrap.js) running the handler fixtures under
 * tests/fixtures/nodejs: HTTP and event handlers, errors, crashes,
 * timeouts, logs, initializers, reuse, big bodies and concurrency.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/util.h"
#include "runtime/instance.h"
#include "runtime/protocol.h"
#include "sandbox/sandbox.h"

#define MAX_LOGS 512

struct logline {
    struct nb_invocation *inv;
    char stream[16];
    char *msg;
};

struct harness {
    uv_loop_t loop;
    uv_timer_t wake;
    struct nb_instance *inst;
    pid_t pid;
    int ready; /* 0 pending, 1 ok, -1 failed */
    char ready_err[512];
    char *ready_body;
    int exited;
    char exit_reason[256];
    struct logline logs[MAX_LOGS];
    int nlogs;
    int done_count;
};

struct call {
    struct nb_invocation inv;
    int done;
    int memory_mb; /* nb_invocation_memory_mb, asked from done */
    char *meta;
    struct harness *h;
};

static char *source_path(const char *rel)
{
    const char *src = getenv("NB_SOURCE_DIR");
    assert_non_null(src);
    return nb_xasprintf("%s/%s", src, rel);
}

/* ------------------------------------------------------------ callbacks */

static void on_ready(struct nb_instance *inst, int ok, const char *body, size_t len,
                     const char *error, void *udata)
{
    (void)inst;
    struct harness *h = udata;
    assert_int_equal(h->ready, 0); /* exactly once */
    h->ready = ok ? 1 : -1;
    if (error)
        snprintf(h->ready_err, sizeof(h->ready_err), "%s", error);
    if (body)
        h->ready_body = nb_xstrndup(body, len);
}

static void on_log(struct nb_instance *inst, struct nb_invocation *inv, const char *stream,
                   const char *msg, size_t len, void *udata)
{
    (void)inst;
    struct harness *h = udata;
    if (h->nlogs >= MAX_LOGS)
        return;
    struct logline *l = &h->logs[h->nlogs++];
    l->inv = inv;
    snprintf(l->stream, sizeof(l->stream), "%s", stream);
    l->msg = nb_xstrndup(msg, len);
}

static void on_exit_cb(struct nb_instance *inst, const char *reason, void *udata)
{
    struct harness *h = udata;
    assert_int_equal(nb_instance_inflight(inst), 0);
    assert_int_equal(h->exited, 0);
    h->exited = 1;
    snprintf(h->exit_reason, sizeof(h->exit_reason), "%s", reason);
    h->inst = NULL;
}

static const struct nb_instance_callbacks cbs = {on_ready, on_log, on_exit_cb};

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag becomes nonzero, failing after timeout_ms. */
static void run_until(struct harness *h, const int *flag, int timeout_ms)
{
    uint64_t end = nb_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (!*flag) {
        if (nb_now_ns() > end)
            fail_msg("timed out after %d ms waiting for the instance", timeout_ms);
        uv_run(&h->loop, UV_RUN_ONCE);
    }
}

/* ------------------------------------------------------------ lifecycle */

static char *init_meta(const char *handler, const char *initializer)
{
    json_t *m = json_pack("{s:{s:s,s:s,s:i,s:i,s:i,s:s},s:{s:s,s:s,s:s},s:s,s:s,s:{s:s,s:s,s:s},"
                          "s:{s:s}}",
                          "function", "name", "fn1", "handler", handler, "initializationTimeout", 3,
                          "memorySize", 128, "timeout", 60, "runtime", "nodejs20", "service",
                          "name", "svc1", "qualifier", "LATEST", "versionId", "", "region", "local",
                          "accountId", "1234", "credentials", "accessKeyId", "AK1",
                          "accessKeySecret", "SK1", "securityToken", "", "env", "GREETING", "hi");
    assert_non_null(m);
    if (initializer)
        json_object_set_new(json_object_get(m, "function"), "initializer",
                            json_string(initializer));
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return s;
}

static int start_ex(struct harness *h, const char *fixture, const char *handler,
                    const char *initializer, const char *runtime, int init_timeout_ms,
                    struct nb_err *err)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    uv_timer_init(&h->loop, &h->wake);
    uv_timer_start(&h->wake, on_wake, 20, 20);
    _cleanup_free_ char *rel = nb_xasprintf("tests/fixtures/nodejs/%s", fixture);
    _cleanup_free_ char *code = source_path(rel);
    _cleanup_free_ char *rtdir = source_path("runtimes");
    _cleanup_free_ char *meta = init_meta(handler, initializer);
    const char *env[] = {"FROM_SPEC=1", NULL};
    struct nb_instance_spec spec = {
        .id = "test-inst",
        .runtime = runtime,
        .runtimes_dir = rtdir,
        .code_dir = code,
        .env = env,
        .init_meta = meta,
        .memory_mb = 128,
        .init_timeout_ms = init_timeout_ms,
    };
    int r = nb_instance_start(&h->loop, &spec, &cbs, h, &h->inst, err);
    if (r == 0)
        h->pid = nb_instance_pid(h->inst);
    return r;
}

static void start(struct harness *h, const char *fixture, const char *handler,
                  const char *initializer)
{
    struct nb_err err = {0};
    int r = start_ex(h, fixture, handler, initializer, "nodejs20", 5000, &err);
    if (r < 0)
        fail_msg("start: %s", err.msg);
}

static void start_ready(struct harness *h, const char *fixture, const char *handler)
{
    start(h, fixture, handler, NULL);
    run_until(h, &h->ready, 10000);
    if (h->ready != 1)
        fail_msg("init failed: %s", h->ready_err);
}

/* Kills what is left, runs the loop dry and checks nothing leaked. */
static void finish(struct harness *h)
{
    if (h->inst)
        nb_instance_kill(h->inst, "test over");
    run_until(h, &h->exited, 10000);
    uv_close((uv_handle_t *)&h->wake, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    /* The process is gone and reaped. */
    assert_int_equal(kill(h->pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    for (int i = 0; i < h->nlogs; i++)
        free(h->logs[i].msg);
    free(h->ready_body);
}

/* ---------------------------------------------------------- invocations */

static void on_done(struct nb_invocation *inv, void *arg)
{
    struct call *c = arg;
    assert_ptr_equal(inv, &c->inv);
    assert_int_equal(c->done, 0);
    c->done = 1;
    c->h->done_count++;
    c->memory_mb = nb_invocation_memory_mb(inv);
}

static void call_start(struct harness *h, struct call *c, enum nb_inv_kind kind,
                       const char *request_id, const char *http_json, const void *body, size_t len,
                       int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->inv.kind = kind;
    snprintf(c->inv.request_id, sizeof(c->inv.request_id), "%s", request_id);
    c->inv.timeout_ms = timeout_ms;
    if (kind == NB_INV_HTTP)
        c->meta = nb_xasprintf("{\"requestId\":\"%s\",\"kind\":\"http\",\"deadline\":%lld,"
                               "\"http\":%s}",
                               request_id, (long long)(nb_wall_ms() + timeout_ms), http_json);
    else
        c->meta = nb_xasprintf("{\"requestId\":\"%s\",\"kind\":\"event\",\"deadline\":%lld}",
                               request_id, (long long)(nb_wall_ms() + timeout_ms));
    c->inv.meta = c->meta;
    c->inv.meta_len = strlen(c->meta);
    c->inv.body = body;
    c->inv.body_len = len;
    c->inv.done = on_done;
    c->inv.done_arg = c;
    assert_int_equal(nb_instance_invoke(h->inst, &c->inv), 0);
}

static void call_release(struct call *c)
{
    nb_buf_release(&c->inv.result);
    nb_buf_release(&c->inv.result_head);
    json_decref(c->inv.result_meta);
    free(c->meta);
}

/* Invokes an event handler and waits for it. */
static void event_call(struct harness *h, struct call *c, const char *payload, int timeout_ms)
{
    call_start(h, c, NB_INV_EVENT, "req-event", NULL, payload, payload ? strlen(payload) : 0,
               timeout_ms);
    run_until(h, &c->done, timeout_ms + 5000);
}

static const char *result_str(const struct call *c)
{
    return c->inv.result.data ? c->inv.result.data : "";
}

static json_t *result_json(const struct call *c)
{
    json_error_t je;
    json_t *j = json_loadb(result_str(c), c->inv.result.len, 0, &je);
    if (!j)
        fail_msg("result is not JSON (%s): %s", je.text, result_str(c));
    return j;
}

/* Whether the HTTP answer's headers include name: value. */
static int has_header(const struct call *c, const char *name, const char *value)
{
    size_t pos = 0;
    const char *n, *v;
    while (nb_invocation_header(&c->inv, &pos, &n, &v))
        if (strcasecmp(n, name) == 0 && strcmp(v, value) == 0)
            return 1;
    return 0;
}

static const struct logline *find_log(const struct harness *h, const char *needle)
{
    for (int i = 0; i < h->nlogs; i++) {
        if (strstr(h->logs[i].msg, needle))
            return &h->logs[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------- tests */

static void test_http_handler(void **state)
{
    (void)state;
    struct harness h;
    start_ready(&h, "http", "index.handler");
    struct call c;
    const char *http = "{\"method\":\"POST\",\"path\":\"/a/b c\","
                       "\"url\":\"/2016-08-15/proxy/svc1/fn1/a/b%20c?x=1&y=2&y=3\","
                       "\"queries\":{\"x\":\"1\",\"y\":[\"2\",\"3\"]},"
                       "\"headers\":{\"content-type\":\"text/plain\",\"x-multi\":[\"a\",\"b\"]},"
                       "\"clientIP\":\"10.1.2.3\"}";
    call_start(&h, &c, NB_INV_HTTP, "req-http-1", http, "hello body", 10, 5000);
    run_until(&h, &c.done, 10000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.http_status, 201);
    assert_true(has_header(&c, "Content-Type", "application/json"));
    assert_true(has_header(&c, "Set-Cookie", "a=1"));
    assert_true(has_header(&c, "Set-Cookie", "b=2"));
    assert_false(has_header(&c, "X-Remove", "x"));
    assert_true(c.inv.end_ns >= c.inv.start_ns);
    /* the sandbox's cgroup, read from done: a Node process takes megabytes */
    assert_true(c.memory_mb >= 4);
    assert_int_equal(nb_invocation_memory_mb(&c.inv), c.memory_mb); /* kept once read */

    json_t *j = result_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/a/b c");
    assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(j, "url")),
                        "/2016-08-15/proxy/svc1/fn1/a/b%20c?x=1&y=2&y=3");
    assert_string_equal(json_string_value(json_object_get(j, "clientIP")), "10.1.2.3");
    json_t *q = json_object_get(j, "queries");
    assert_string_equal(json_string_value(json_object_get(q, "x")), "1");
    assert_int_equal(json_array_size(json_object_get(q, "y")), 2);
    json_t *hd = json_object_get(j, "headers");
    assert_string_equal(json_string_value(json_object_get(hd, "content-type")), "text/plain");
    assert_string_equal(json_string_value(json_array_get(json_object_get(hd, "x-multi"), 1)), "b");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "hello body");
    assert_true(json_is_true(json_object_get(j, "bodyMatches")));
    assert_true(json_is_true(json_object_get(j, "hasContentType")));
    assert_string_equal(json_string_value(json_object_get(j, "requestId")), "req-http-1");
    assert_string_equal(json_string_value(json_object_get(j, "fn")), "fn1");
    assert_string_equal(json_string_value(json_object_get(j, "service")), "svc1");
    assert_string_equal(json_string_value(json_object_get(j, "qualifier")), "LATEST");
    assert_string_equal(json_string_value(json_object_get(j, "accessKeyId")), "AK1");
    assert_string_equal(json_string_value(json_object_get(j, "greeting")), "hi");
    json_decref(j);
    call_release(&c);
    finish(&h);
    assert_string_equal(h.exit_reason, "test over");
}

/* Both RESULT meta forms reach the caller alike; a malformed HEAD meta kills the instance. */
static void test_http_meta_forms(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start_ready(&h, "http", "index.jsonMeta");
    call_start(&h, &c, NB_INV_HTTP, "req-json-meta", "{}", NULL, 0, 5000);
    run_until(&h, &c.done, 10000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.http_status, 202);
    assert_true(has_header(&c, "X-A", "1"));
    assert_true(has_header(&c, "X-A", "2"));
    assert_true(has_header(&c, "X-B", "\xc3\xa9"));
    assert_string_equal(result_str(&c), "raw");
    call_release(&c);
    finish(&h);

    const char *bad[] = {"index.badHead", "index.oddHead"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(bad); i++) {
        start_ready(&h, "http", bad[i]);
        call_start(&h, &c, NB_INV_HTTP, "req-bad-head", "{}", NULL, 0, 5000);
        run_until(&h, &c.done, 10000);
        assert_int_equal(c.inv.status, NB_INV_CRASHED);
        run_until(&h, &h.exited, 5000);
        assert_non_null(strstr(h.exit_reason, "protocol error: bad RESULT head meta"));
        call_release(&c);
        finish(&h);
    }
}

static void test_http_stream_and_throw(void **state)
{
    (void)state;
    struct harness h;
    start_ready(&h, "http", "index.stream");
    struct call c;
    call_start(&h, &c, NB_INV_HTTP, "req-s", "{\"method\":\"GET\",\"path\":\"/\"}", NULL, 0, 5000);
    run_until(&h, &c.done, 10000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.http_status, 200);
    assert_string_equal(result_str(&c), "abc");
    assert_true(has_header(&c, "content-type", "text/plain"));
    call_release(&c);
    finish(&h);

    start_ready(&h, "http", "index.throws");
    call_start(&h, &c, NB_INV_HTTP, "req-t", "{\"method\":\"GET\",\"path\":\"/\"}", NULL, 0, 5000);
    run_until(&h, &c.done, 10000);
    assert_int_equal(c.inv.status, NB_INV_UNHANDLED);
    json_t *j = result_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")),
                        "http handler broke");
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "RangeError");
    json_decref(j);
    call_release(&c);
    finish(&h);
}

static void test_fc_tutorial(void **state)
{
    (void)state;
    struct harness h;
    start_ready(&h, "tutorial", "index.handler");
    struct call c;
    call_start(&h, &c, NB_INV_HTTP, "req-tut",
               "{\"method\":\"GET\",\"path\":\"/\",\"url\":\"/fn/svc1/fn1/?name=nubis\","
               "\"queries\":{\"name\":\"nubis\"},\"headers\":{},\"clientIP\":\"127.0.0.1\"}",
               NULL, 0, 5000);
    run_until(&h, &c.done, 10000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.http_status, 200);
    assert_true(has_header(&c, "Content-Type", "application/json"));
    assert_string_equal(result_str(&c), "{\"message\":\"Hello, nubis!\"}");
    call_release(&c);
    finish(&h);
}

static void test_event_callback_and_async(void **state)
{
    (void)state;
    struct harness h;
    start_ready(&h, "event", "index.cb");
    struct call c;
    event_call(&h, &c, "world", 5000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.http_status, 0);
    assert_string_equal(result_str(&c), "hello world");
    call_release(&c);
    finish(&h);

    start_ready(&h, "event", "index.asyncok");
    event_call(&h, &c, "{\"k\":1}", 5000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    json_t *j = result_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "got")), "{\"k\":1}");
    assert_string_equal(json_string_value(json_object_get(j, "requestId")), "req-event");
    assert_true(json_is_true(json_object_get(j, "isBuffer")));
    json_decref(j);
    call_release(&c);
    finish(&h);

    start_ready(&h, "event", "index.nothing");
    event_call(&h, &c, "x", 5000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.result.len, 0);
    call_release(&c);
    finish(&h);

    start_ready(&h, "esm", "index.handler");
    event_call(&h, &c, "hi", 5000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_string_equal(result_str(&c), "esm says hi");
    call_release(&c);
    finish(&h);
}

static void test_handled_and_unhandled_errors(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start_ready(&h, "event", "index.cberr");
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_HANDLED);
    assert_true(json_is_true(json_object_get(c.inv.result_meta, "handled")));
    json_t *j = result_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "oops");
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "Error");
    assert_true(json_array_size(json_object_get(j, "stackTrace")) > 0);
    assert_non_null(
        strstr(json_string_value(json_array_get(json_object_get(j, "stackTrace"), 0)), "index.js"));
    json_decref(j);
    call_release(&c);
    /* The instance survives a handled error. */
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_HANDLED);
    call_release(&c);
    finish(&h);

    start_ready(&h, "event", "index.throws");
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_UNHANDLED);
    assert_true(json_is_false(json_object_get(c.inv.result_meta, "handled")));
    j = result_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "bad thing");
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "TypeError");
    json_decref(j);
    assert_string_equal(c.inv.error, "TypeError: bad thing");
    call_release(&c);
    finish(&h);

    start_ready(&h, "event", "index.rejects");
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_UNHANDLED);
    j = result_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "async bad");
    json_decref(j);
    call_release(&c);
    finish(&h);
}

static void test_exit_mid_invocation(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start_ready(&h, "event", "index.exit");
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_CRASHED);
    assert_non_null(strstr(c.inv.error, "Process exited unexpectedly before completing request"));
    assert_non_null(strstr(c.inv.error, "maxMemoryUsage"));
    run_until(&h, &h.exited, 5000);
    assert_string_equal(h.exit_reason, "exited with code 1");
    /* A dead instance refuses work without calling done. */
    call_release(&c);
    finish(&h);
}

static void test_uncaught_exception(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start_ready(&h, "event", "index.uncaught");
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_UNHANDLED);
    json_t *j = result_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "async boom");
    json_decref(j);
    call_release(&c);
    /* The runtime leaves after an uncaught exception; its state is not trusted. */
    run_until(&h, &h.exited, 5000);
    assert_string_equal(h.exit_reason, "exited with code 1");
    finish(&h);
}

static void test_timeout_kills(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start_ready(&h, "event", "index.hang");
    uint64_t t0 = nb_now_ns();
    event_call(&h, &c, "", 500);
    uint64_t ms = (nb_now_ns() - t0) / 1000000u;
    assert_int_equal(c.inv.status, NB_INV_TIMEOUT);
    assert_string_equal(c.inv.error, "Function timed out after 0.5 seconds");
    assert_true(ms >= 450 && ms < 3000);
    /* done runs once the process is gone and reaped. */
    assert_int_equal(kill(h.pid, 0), -1);
    run_until(&h, &h.exited, 5000);
    assert_string_equal(h.exit_reason, "killed at timeout (0.5 s)");
    call_release(&c);
    finish(&h);
}

static void test_logs_attributed(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start_ready(&h, "event", "index.log");
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_string_equal(result_str(&c), "logged");

    const struct logline *l = find_log(&h, "hello from req-event");
    assert_non_null(l);
    assert_ptr_equal(l->inv, &c.inv);
    assert_string_equal(l->stream, "stdout");
    l = find_log(&h, "an error line");
    assert_non_null(l);
    assert_ptr_equal(l->inv, &c.inv);
    assert_string_equal(l->stream, "error");
    l = find_log(&h, "via logger");
    assert_non_null(l);
    assert_ptr_equal(l->inv, &c.inv);
    assert_string_equal(l->stream, "info");
    assert_non_null(strstr(l->msg, " req-event [info] via logger"));
    assert_true(l->msg[4] == '-' && strchr(l->msg, 'T') && strchr(l->msg, 'Z')); /* ISO date */
    l = find_log(&h, "raw write");
    assert_non_null(l);
    assert_string_equal(l->msg, "raw write");
    assert_ptr_equal(l->inv, &c.inv);
    /* Raw fd 1 output comes through the stdout pipe, attributed to the one in flight. */
    l = find_log(&h, "native out");
    assert_non_null(l);
    assert_string_equal(l->msg, "native out");
    assert_string_equal(l->stream, "stdout");
    assert_ptr_equal(l->inv, &c.inv);
    call_release(&c);
    finish(&h);
}

static void test_initializer_runs_once(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start(&h, "event", "index.count", "index.initializer");
    run_until(&h, &h.ready, 10000);
    assert_int_equal(h.ready, 1);
    const struct logline *l = find_log(&h, "init ran for fn1");
    assert_non_null(l);
    assert_null(l->inv);
    for (int i = 0; i < 3; i++) {
        event_call(&h, &c, "", 5000);
        assert_int_equal(c.inv.status, NB_INV_OK);
        assert_string_equal(result_str(&c), "{\"initCount\":1}");
        call_release(&c);
    }
    finish(&h);

    /* async initializer; the invocation is sent before INIT finished and waits for it. */
    start(&h, "event", "index.count", "index.asyncInitializer");
    call_start(&h, &c, NB_INV_EVENT, "early", NULL, NULL, 0, 5000);
    run_until(&h, &c.done, 10000);
    assert_int_equal(h.ready, 1);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_string_equal(result_str(&c), "{\"initCount\":1}");
    call_release(&c);
    finish(&h);

    /* A failing initializer fails the start. */
    start(&h, "event", "index.count", "index.badInitializer");
    run_until(&h, &h.ready, 10000);
    assert_int_equal(h.ready, -1);
    assert_non_null(strstr(h.ready_err, "init broke"));
    run_until(&h, &h.exited, 5000);
    finish(&h);
}

static void test_init_failures(void **state)
{
    (void)state;
    struct harness h;
    start(&h, "event", "index.nosuch", NULL);
    run_until(&h, &h.ready, 10000);
    assert_int_equal(h.ready, -1);
    assert_non_null(strstr(h.ready_err, "index.nosuch"));
    assert_non_null(strstr(h.ready_err, "not exported"));
    assert_non_null(h.ready_body);
    json_t *j = json_loads(h.ready_body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")),
                        "Runtime.HandlerNotFound");
    json_decref(j);
    run_until(&h, &h.exited, 5000);
    finish(&h);

    start(&h, "event", "nofile.handler", NULL);
    run_until(&h, &h.ready, 10000);
    assert_int_equal(h.ready, -1);
    assert_non_null(strstr(h.ready_err, "cannot find module 'nofile'"));
    finish(&h);

    start(&h, "event", "nodot", NULL);
    run_until(&h, &h.ready, 10000);
    assert_int_equal(h.ready, -1);
    assert_non_null(strstr(h.ready_err, "bad handler 'nodot'"));
    finish(&h);

    /* An initializer that never answers hits the init timeout. */
    struct nb_err err = {0};
    assert_int_equal(
        start_ex(&h, "event", "index.count", "index.slowInitializer", "nodejs20", 400, &err), 0);
    run_until(&h, &h.ready, 10000);
    assert_int_equal(h.ready, -1);
    assert_string_equal(h.ready_err, "Function initialization timed out after 0.4 seconds");
    run_until(&h, &h.exited, 5000);
    assert_string_equal(h.exit_reason, "killed at initialization timeout (0.4 s)");
    finish(&h);

    /* Unknown runtime: nothing starts. */
    struct harness h2;
    assert_int_equal(start_ex(&h2, "event", "index.cb", NULL, "cobol9", 1000, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "runtime 'cobol9'"));
    uv_close((uv_handle_t *)&h2.wake, NULL);
    uv_run(&h2.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&h2.loop), 0);
}

static void test_reuse_100(void **state)
{
    (void)state;
    struct harness h;
    start_ready(&h, "event", "index.cb");
    uint64_t t0 = nb_now_ns();
    for (int i = 0; i < 100; i++) {
        char payload[32], want[40];
        snprintf(payload, sizeof(payload), "n%d", i);
        snprintf(want, sizeof(want), "hello n%d", i);
        struct call c;
        event_call(&h, &c, payload, 5000);
        assert_int_equal(c.inv.status, NB_INV_OK);
        assert_string_equal(result_str(&c), want);
        assert_int_equal(nb_instance_pid(h.inst), h.pid);
        call_release(&c);
    }
    uint64_t us = (nb_now_ns() - t0) / 1000u;
    print_message("100 warm invocations: %.1f us each\n", (double)us / 100.0);
    finish(&h);
}

static void test_big_binary_body(void **state)
{
    (void)state;
    size_t n = 10u << 20;
    unsigned char *body = nb_xmalloc(n);
    nb_random_bytes(body, n);
    struct harness h;
    struct call c;

    start_ready(&h, "event", "index.echo");
    call_start(&h, &c, NB_INV_EVENT, "big", NULL, body, n, 10000);
    run_until(&h, &c.done, 15000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.result.len, n);
    assert_memory_equal(c.inv.result.data, body, n);
    call_release(&c);
    finish(&h);

    start_ready(&h, "http", "index.echo");
    call_start(&h, &c, NB_INV_HTTP, "big-http", "{\"method\":\"POST\",\"path\":\"/\"}", body, n,
               10000);
    run_until(&h, &c.done, 15000);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.result.len, n);
    assert_memory_equal(c.inv.result.data, body, n);
    assert_true(has_header(&c, "content-type", "application/octet-stream"));
    call_release(&c);
    finish(&h);
    free(body);
}

static void test_concurrent_invocations(void **state)
{
    (void)state;
    struct harness h;
    start_ready(&h, "event", "index.concurrent");
    struct call a, b;
    const char *pa = "{\"delay\":300,\"tag\":\"A\"}";
    const char *pb = "{\"delay\":50,\"tag\":\"B\"}";
    call_start(&h, &a, NB_INV_EVENT, "req-A", NULL, pa, strlen(pa), 5000);
    call_start(&h, &b, NB_INV_EVENT, "req-B", NULL, pb, strlen(pb), 5000);
    assert_int_equal(nb_instance_inflight(h.inst), 2);
    run_until(&h, &b.done, 5000);
    assert_int_equal(a.done, 0); /* B finished first: they really overlap */
    run_until(&h, &a.done, 5000);
    assert_int_equal(a.inv.status, NB_INV_OK);
    assert_int_equal(b.inv.status, NB_INV_OK);
    assert_string_equal(result_str(&a), "A");
    assert_string_equal(result_str(&b), "B");
    assert_ptr_equal(find_log(&h, "start A")->inv, &a.inv);
    assert_ptr_equal(find_log(&h, "end A")->inv, &a.inv);
    assert_ptr_equal(find_log(&h, "start B")->inv, &b.inv);
    assert_ptr_equal(find_log(&h, "end B")->inv, &b.inv);
    assert_int_equal(nb_instance_inflight(h.inst), 0);
    call_release(&a);
    call_release(&b);
    finish(&h);
}

/*
 * The shim reads into one reused buffer: an event must survive the reads
 * after it (B comes in a later read than A; C is split over several).
 */
static void test_bodies_outlive_reads(void **state)
{
    (void)state;
    struct harness h;
    struct call a, b, c;
    size_t na = 3000, nc = 200000;
    char *ba = nb_xmalloc(na), *bb = nb_xmalloc(na), *bc = nb_xmalloc(nc);
    memset(ba, 'A', na);
    memset(bb, 'B', na);
    memset(bc, 'C', nc);

    start_ready(&h, "event", "index.later");
    call_start(&h, &a, NB_INV_EVENT, "req-A", NULL, ba, na, 5000);
    uint64_t end = nb_now_ns() + 5000000000u;
    while (find_log(&h, "got A") == NULL) {
        if (nb_now_ns() > end)
            fail_msg("the shim did not start A");
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    call_start(&h, &b, NB_INV_EVENT, "req-B", NULL, bb, na, 5000);
    call_start(&h, &c, NB_INV_EVENT, "req-C", NULL, bc, nc, 5000);
    run_until(&h, &a.done, 5000);
    run_until(&h, &b.done, 5000);
    run_until(&h, &c.done, 5000);
    assert_int_equal(a.inv.status, NB_INV_OK);
    assert_int_equal(b.inv.status, NB_INV_OK);
    assert_int_equal(c.inv.status, NB_INV_OK);
    assert_int_equal(a.inv.result.len, na);
    assert_memory_equal(a.inv.result.data, ba, na);
    assert_int_equal(b.inv.result.len, na);
    assert_memory_equal(b.inv.result.data, bb, na);
    assert_int_equal(c.inv.result.len, nc);
    assert_memory_equal(c.inv.result.data, bc, nc);
    call_release(&a);
    call_release(&b);
    call_release(&c);
    finish(&h);
    free(ba);
    free(bb);
    free(bc);
}

static void test_protocol_garbage_and_kill(void **state)
{
    (void)state;
    struct harness h;
    struct call c;
    start_ready(&h, "event", "index.garbage");
    event_call(&h, &c, "", 5000);
    assert_int_equal(c.inv.status, NB_INV_CRASHED);
    run_until(&h, &h.exited, 5000);
    assert_non_null(strstr(h.exit_reason, "protocol error"));
    call_release(&c);
    finish(&h);

    /* nb_instance_kill with invocations in flight: they complete, then on_exit. */
    start_ready(&h, "event", "index.hang");
    struct call c1, c2;
    call_start(&h, &c1, NB_INV_EVENT, "k1", NULL, NULL, 0, 60000);
    call_start(&h, &c2, NB_INV_EVENT, "k2", NULL, NULL, 0, 60000);
    nb_instance_kill(h.inst, "scaled down");
    assert_int_equal(c1.done, 0); /* never synchronously */
    struct call c3;
    memset(&c3, 0, sizeof(c3));
    c3.inv.done = on_done;
    c3.inv.done_arg = &c3;
    assert_int_equal(nb_instance_invoke(h.inst, &c3.inv), -EPIPE);
    run_until(&h, &h.exited, 5000);
    assert_int_equal(c1.inv.status, NB_INV_CRASHED);
    assert_int_equal(c2.inv.status, NB_INV_CRASHED);
    assert_int_equal(c3.done, 0);
    assert_string_equal(h.exit_reason, "scaled down");
    call_release(&c1);
    call_release(&c2);
    finish(&h);
}

int main(void)
{
    struct nb_err err;
    nb_sandbox_global_init(&err);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_handler),
        cmocka_unit_test(test_http_meta_forms),
        cmocka_unit_test(test_http_stream_and_throw),
        cmocka_unit_test(test_fc_tutorial),
        cmocka_unit_test(test_event_callback_and_async),
        cmocka_unit_test(test_handled_and_unhandled_errors),
        cmocka_unit_test(test_exit_mid_invocation),
        cmocka_unit_test(test_uncaught_exception),
        cmocka_unit_test(test_timeout_kills),
        cmocka_unit_test(test_logs_attributed),
        cmocka_unit_test(test_initializer_runs_once),
        cmocka_unit_test(test_init_failures),
        cmocka_unit_test(test_reuse_100),
        cmocka_unit_test(test_big_binary_body),
        cmocka_unit_test(test_concurrent_invocations),
        cmocka_unit_test(test_bodies_outlive_reads),
        cmocka_unit_test(test_protocol_garbage_and_kill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
