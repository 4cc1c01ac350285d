/*
 * test_sched.c: pools against real Node instances: warm reuse, scaling out
 * to max_instances and no further, the bounded queue and its timeout, idle
 * reaping (scale to zero) and min_instances, the cold flag and its init
 * duration, initialization failures, and retiring a pool while it works.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/util.h"
#include "sched/sched.h"

struct call {
    struct nb_invocation inv;
    char payload[16];
    int done;
};

static uv_loop_t loop;
static struct nb_sched *sched;
static int completed;
static int min_instances;         /* for the next make_pool */
static unsigned queue_timeout_ms; /* for the next make_pool */

static char *fixture(const char *name)
{
    const char *src = getenv("NB_SOURCE_DIR");
    return nb_xasprintf("%s/tests/fixtures/sched/%s", src ? src : ".", name);
}

static struct nb_pool *make_pool(const char *code, int max_instances, int max_queue,
                                 unsigned idle_ms)
{
    struct nb_pool_config cfg = {
        .service = nb_xstrdup("s"),
        .function = nb_xstrdup("f"),
        .runtime = nb_xstrdup("nodejs20"),
        .code_dir = fixture(code),
        .memory_mb = 128,
        .timeout_s = 10,
        .init_timeout_s = 10,
        .concurrency = 1,
        .max_instances = max_instances,
        .max_queue = max_queue,
        .idle_timeout_ms = idle_ms,
        .min_instances = min_instances,
        .queue_timeout_ms = queue_timeout_ms,
    };
    cfg.init_meta = nb_xasprintf("{\"function\":{\"name\":\"f\",\"handler\":\"index.handler\","
                                 "\"memorySize\":128,\"timeout\":10,\"initializationTimeout\":10},"
                                 "\"service\":{\"name\":\"s\",\"qualifier\":\"LATEST\"},"
                                 "\"codeDir\":\"%s\",\"env\":{}}",
                                 cfg.code_dir);
    cfg.env = nb_xcalloc(1, sizeof(char *));
    return nb_pool_new(sched, &cfg);
}

static void on_done(struct nb_invocation *inv, void *arg)
{
    struct call *c = arg;
    (void)inv;
    c->done = 1;
    completed++;
}

static struct call *submit_cold(struct nb_pool *p, int ms, int *rc, int *cold)
{
    struct call *c = nb_xcalloc(1, sizeof(*c));
    snprintf(c->payload, sizeof(c->payload), "%d", ms);
    c->inv.kind = NB_INV_EVENT;
    nb_uuid(c->inv.request_id);
    c->inv.timeout_ms = 10000;
    c->inv.meta = "{\"kind\":\"event\",\"requestId\":\"x\"}";
    c->inv.meta_len = strlen(c->inv.meta);
    c->inv.body = c->payload;
    c->inv.body_len = strlen(c->payload);
    nb_buf_init(&c->inv.result, 1 << 20);
    c->inv.done = on_done;
    c->inv.done_arg = c;
    *rc = nb_pool_submit(p, &c->inv, cold);
    return c;
}

static struct call *submit(struct nb_pool *p, int ms, int *rc)
{
    return submit_cold(p, ms, rc, NULL);
}

static void call_free(struct call *c)
{
    nb_buf_release(&c->inv.result);
    nb_buf_release(&c->inv.result_head);
    json_decref(c->inv.result_meta);
    free(c);
}

static void run_until(int want, unsigned max_ms)
{
    uint64_t end = nb_now_ns() + (uint64_t)max_ms * 1000000u;
    while (completed < want && nb_now_ns() < end)
        uv_run(&loop, UV_RUN_ONCE);
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

static void run_for(unsigned ms)
{
    uint64_t end = nb_now_ns() + (uint64_t)ms * 1000000u;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 20, 20);
    while (nb_now_ns() < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    const char *src = getenv("NB_SOURCE_DIR");
    char *rt = nb_xasprintf("%s/runtimes", src ? src : ".");
    sched = nb_sched_new(&loop, rt, NULL);
    free(rt);
    completed = 0;
    min_instances = 0;
    queue_timeout_ms = 0;
    return 0;
}

static void on_down(void *arg)
{
    *(int *)arg = 1;
}

static int teardown(void **state)
{
    (void)state;
    int down = 0;
    nb_sched_shutdown(sched, on_down, &down);
    uint64_t end = nb_now_ns() + 5000000000u;
    while (!down && nb_now_ns() < end)
        uv_run(&loop, UV_RUN_ONCE);
    assert_true(down);
    nb_sched_free(sched);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static void test_warm_reuse(void **state)
{
    (void)state;
    struct nb_pool *p = make_pool("sleepy", 10, 100, 60000);
    char first_pid[32] = "";
    for (int i = 0; i < 5; i++) {
        int rc;
        struct call *c = submit(p, 0, &rc);
        assert_int_equal(rc, 0);
        run_until(i + 1, 10000);
        assert_true(c->done);
        assert_int_equal(c->inv.status, NB_INV_OK);
        if (i == 0)
            snprintf(first_pid, sizeof(first_pid), "%s", c->inv.result.data);
        else
            assert_string_equal(c->inv.result.data, first_pid); /* same warm instance */
        call_free(c);
    }
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances_started, 1);
    assert_int_equal(st.instances, 1);
}

static void test_scale_out_bounded(void **state)
{
    (void)state;
    struct nb_pool *p = make_pool("sleepy", 2, 100, 60000);
    struct call *calls[6];
    uint64_t t0 = nb_now_ns();
    for (int i = 0; i < 6; i++) {
        int rc;
        calls[i] = submit(p, 300, &rc);
        assert_int_equal(rc, 0);
    }
    run_until(6, 20000);
    uint64_t ms = (nb_now_ns() - t0) / 1000000;
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances_started, 2); /* never more than max_instances */
    /* 6 calls of 300 ms on 2 instances take at least 3 rounds */
    assert_true(ms >= 900);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(calls[i]->inv.status, NB_INV_OK);
        call_free(calls[i]);
    }
}

static void test_queue_full(void **state)
{
    (void)state;
    struct nb_pool *p = make_pool("sleepy", 1, 2, 60000);
    int rc;
    struct call *a = submit(p, 200, &rc);
    assert_int_equal(rc, 0);
    struct call *b = submit(p, 200, &rc);
    assert_int_equal(rc, 0);
    struct call *c = submit(p, 200, &rc);
    assert_int_equal(rc, -EAGAIN); /* two already wait for the only instance */
    assert_false(c->done);
    call_free(c);
    run_until(2, 10000);
    assert_true(a->done && b->done);
    call_free(a);
    call_free(b);
}

static void test_idle_reaped(void **state)
{
    (void)state;
    struct nb_pool *p = make_pool("sleepy", 3, 10, 200);
    int rc;
    struct call *c = submit(p, 0, &rc);
    run_until(1, 10000);
    assert_int_equal(c->inv.status, NB_INV_OK);
    call_free(c);
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances, 1);
    run_for(800);
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances, 0); /* scaled to zero */
    c = submit(p, 0, &rc);             /* and the next call is a cold start again */
    run_until(2, 10000);
    assert_int_equal(c->inv.status, NB_INV_OK);
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances_started, 2);
    call_free(c);
}

static void test_init_failure(void **state)
{
    (void)state;
    struct nb_pool *p = make_pool("broken", 3, 10, 60000);
    int rc;
    struct call *c = submit(p, 0, &rc);
    run_until(1, 10000);
    assert_true(c->done);
    assert_int_equal(c->inv.status, NB_INV_INIT_FAILED);
    assert_non_null(strstr(c->inv.result.data ? c->inv.result.data : c->inv.error, "handler"));
    call_free(c);
    /* the next request tries again on a fresh instance */
    c = submit(p, 0, &rc);
    run_until(2, 10000);
    assert_int_equal(c->inv.status, NB_INV_INIT_FAILED);
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances_started, 2);
    call_free(c);
}

static void test_retire_drains(void **state)
{
    (void)state;
    struct nb_pool *p = make_pool("sleepy", 2, 10, 60000);
    int rc;
    struct call *a = submit(p, 300, &rc);
    struct call *b = submit(p, 300, &rc);
    run_for(100);
    nb_pool_retire(p);
    struct call *c = submit(p, 0, &rc);
    assert_int_equal(rc, -ESHUTDOWN);
    call_free(c);
    run_until(2, 10000);
    assert_int_equal(a->inv.status, NB_INV_OK); /* in flight when retired: still finished */
    assert_int_equal(b->inv.status, NB_INV_OK);
    call_free(a);
    call_free(b);
    run_for(300);
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances, 0); /* and then its instances stopped */
}

static void test_queue_timeout(void **state)
{
    (void)state;
    queue_timeout_ms = 300;
    struct nb_pool *p = make_pool("sleepy", 1, 100, 60000);
    int rc;
    struct call *warm = submit(p, 0, &rc); /* start the instance first */
    run_until(1, 10000);
    assert_int_equal(warm->inv.status, NB_INV_OK);
    call_free(warm);
    uint64_t t0 = nb_now_ns();
    struct call *busy = submit(p, 1000, &rc); /* holds the only instance for 1 s */
    struct call *w1 = submit(p, 0, &rc);
    struct call *w2 = submit(p, 0, &rc);
    assert_int_equal(rc, 0);
    run_until(3, 5000); /* the two waiting ones time out, then the busy one ends */
    uint64_t first_ms = (nb_now_ns() - t0) / 1000000u;
    assert_int_equal(w1->inv.status, NB_INV_THROTTLED);
    assert_int_equal(w2->inv.status, NB_INV_THROTTLED);
    assert_false(busy->done);
    assert_true(first_ms >= 290 && first_ms < 900); /* after the timeout, well before 1 s */
    run_until(4, 5000);
    assert_int_equal(busy->inv.status, NB_INV_OK);
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.throttled, 2);
    assert_int_equal(st.instances_started, 1);
    call_free(busy);
    call_free(w1);
    call_free(w2);
}

static void test_cold_flag_and_init_duration(void **state)
{
    (void)state;
    struct nb_pool *p = make_pool("sleepy", 1, 100, 60000);
    int rc, cold = -1;
    struct call *a = submit_cold(p, 100, &rc, &cold);
    assert_int_equal(cold, 1); /* an instance starts for it */
    struct call *b = submit_cold(p, 0, &rc, &cold);
    assert_int_equal(rc, 0);
    assert_int_equal(cold, 0); /* max_instances 1: it waits behind a, it is not a cold start */
    run_until(2, 10000);
    assert_int_equal(a->inv.status, NB_INV_OK);
    assert_int_equal(b->inv.status, NB_INV_OK);
    assert_true(a->inv.init_ns > 0); /* the first call waited for the start and reports it */
    assert_int_equal(b->inv.init_ns, 0);
    call_free(a);
    call_free(b);
}

static void test_min_instances_kept(void **state)
{
    (void)state;
    min_instances = 2;
    struct nb_pool *p = make_pool("sleepy", 5, 100, 200);
    run_for(1500); /* started without any call, and kept past the idle timeout */
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances, 2);
    assert_int_equal(st.instances_started, 2);
    assert_int_equal(st.idle, 2);
    /* a burst scales out beyond them; the extra instances are reaped again */
    struct call *calls[4];
    int rc;
    for (int i = 0; i < 4; i++)
        calls[i] = submit(p, 300, &rc);
    run_until(4, 10000);
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances_started, 4);
    run_for(1000);
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances, 2);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(calls[i]->inv.status, NB_INV_OK);
        call_free(calls[i]);
    }
}

static void test_min_instances_broken_backs_off(void **state)
{
    (void)state;
    min_instances = 2;
    make_pool("broken", 5, 100, 60000);
    run_for(1500); /* both fail to initialize; no restart loop within the 5 s back-off */
    struct nb_sched_stats st;
    nb_sched_stats(sched, &st);
    assert_int_equal(st.instances_started, 2);
    assert_int_equal(st.instances, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_warm_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scale_out_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_reaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cold_flag_and_init_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_instances_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_instances_broken_backs_off, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
