/*
 * test_logstore.c: functions' logs on real files: append, query filters,
 * rotation caps, followers, removal, JSON escaping and thread safety.
 *
 * Includes logstore.c to check the open-fd cap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../src/obs/logstore.c"

struct fx {
    char dir[64];
    struct nb_logstore *ls;
};

static int setup_cap(void **state, uint64_t cap)
{
    struct fx *f = nb_xcalloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/nb-logstore-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct nb_err err = {0};
    assert_int_equal(nb_logstore_open(f->dir, cap, &f->ls, &err), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_cap(state, 1024 * 1024);
}

static int setup_small(void **state)
{
    return setup_cap(state, 2000);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nb_logstore_close(f->ls);
    nb_rm_rf(f->dir);
    free(f);
    return 0;
}

static void append(struct fx *f, const char *svc, const char *fn, int64_t t, const char *rid,
                   const char *msg)
{
    struct nb_log_line l = {.time_ms = t,
                            .request_id = rid,
                            .stream = "stdout",
                            .message = msg,
                            .message_len = strlen(msg)};
    nb_logstore_append(f->ls, svc, fn, &l);
}

/* Splits NDJSON into parsed objects; every line must be valid JSON ending in '\n'. */
static size_t parse_lines(const struct nb_buf *b, json_t **out, size_t max)
{
    size_t n = 0;
    const char *p = b->data, *end = b->data ? b->data + b->len : NULL;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        json_error_t e;
        json_t *o = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &e);
        if (!o)
            fprintf(stderr, "bad line: %.*s (%s)\n", (int)(nl - p), p, e.text);
        assert_non_null(o);
        assert_true(n < max);
        out[n++] = o;
        p = nl + 1;
    }
    return n;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void free_lines(json_t **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(l[i]);
}

static void test_append_query(void **state)
{
    struct fx *f = *state;
    append(f, "svc", "fn", 1000, "r1", "hello");
    append(f, "svc", "fn", 2000, "r2", "world");
    append(f, "svc", "other", 2500, "r9", "elsewhere");
    append(f, "svc", "fn", 3000, "", "instance line");

    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_logstore_query(f->ls, "svc", "fn", 0, NULL, 100, &b), 0);
    json_t *l[16];
    size_t n = parse_lines(&b, l, 16);
    assert_int_equal(n, 3);
    assert_int_equal(json_integer_value(json_object_get(l[0], "time")), 1000);
    assert_string_equal(jstr(l[0], "requestId"), "r1");
    assert_string_equal(jstr(l[0], "stream"), "stdout");
    assert_string_equal(jstr(l[0], "message"), "hello");
    assert_string_equal(jstr(l[1], "message"), "world");
    assert_string_equal(jstr(l[2], "requestId"), "");
    assert_string_equal(jstr(l[2], "message"), "instance line");
    /* Key order is the documented one. */
    assert_true(strncmp(b.data,
                        "{\"time\":1000,\"requestId\":\"r1\",\"stream\":\"stdout\","
                        "\"message\":\"hello\"}\n",
                        60) == 0);
    free_lines(l, n);

    /* The file is where the header says, one JSON object per line. */
    char p[256];
    snprintf(p, sizeof(p), "%s/svc/fn.log", f->dir);
    size_t len;
    _cleanup_free_ char *data = nb_read_file(p, &len);
    assert_non_null(data);
    assert_memory_equal(data, b.data, b.len);

    /* Unknown function: no lines, not an error. */
    nb_buf_reset(&b);
    assert_int_equal(nb_logstore_query(f->ls, "svc", "nope", 0, NULL, 100, &b), 0);
    assert_int_equal(b.len, 0);
    nb_buf_release(&b);
}

static void test_filters_and_limit(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 10; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "line %d", i);
        append(f, "s", "f", 1000 + i * 100, i % 2 ? "odd" : "even", msg);
    }
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    json_t *l[16];

    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, "odd", 100, &b), 0);
    size_t n = parse_lines(&b, l, 16);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(jstr(l[i], "requestId"), "odd");
    assert_string_equal(jstr(l[0], "message"), "line 1");
    free_lines(l, n);

    nb_buf_reset(&b);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 1500, NULL, 100, &b), 0);
    n = parse_lines(&b, l, 16);
    assert_int_equal(n, 5);
    assert_string_equal(jstr(l[0], "message"), "line 5");
    free_lines(l, n);

    /* limit keeps the newest, oldest first. */
    nb_buf_reset(&b);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 3, &b), 0);
    n = parse_lines(&b, l, 16);
    assert_int_equal(n, 3);
    assert_string_equal(jstr(l[0], "message"), "line 7");
    assert_string_equal(jstr(l[2], "message"), "line 9");
    free_lines(l, n);

    /* All filters together. */
    nb_buf_reset(&b);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 1300, "even", 2, &b), 0);
    n = parse_lines(&b, l, 16);
    assert_int_equal(n, 2);
    assert_string_equal(jstr(l[0], "message"), "line 6");
    assert_string_equal(jstr(l[1], "message"), "line 8");
    free_lines(l, n);

    /* limit 0: no limit. */
    nb_buf_reset(&b);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 0, &b), 0);
    n = parse_lines(&b, l, 16);
    assert_int_equal(n, 10);
    free_lines(l, n);
    nb_buf_release(&b);
}

static void test_out_cap(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 10; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "message number %d", i);
        append(f, "s", "f", 1000 + i, "req", msg);
    }
    struct nb_buf b;
    nb_buf_init(&b, 250); /* a line is ~80 bytes: 3 fit */
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 100, &b), 0);
    json_t *l[16];
    size_t n = parse_lines(&b, l, 16);
    assert_int_equal(n, 3);
    assert_string_equal(jstr(l[2], "message"), "message number 9");
    assert_string_equal(jstr(l[0], "message"), "message number 7");
    free_lines(l, n);
    nb_buf_release(&b);

    /* Room for nothing. */
    nb_buf_init(&b, 10);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 100, &b), 0);
    assert_int_equal(b.len, 0);
    nb_buf_release(&b);
}

static off_t file_size(struct fx *f, const char *rel)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static void test_rotation(void **state)
{
    struct fx *f = *state; /* cap 2000 bytes */
    for (int i = 0; i < 500; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "rotating line %04d padding padding", i);
        append(f, "s", "f", 1000 + i, "rid", msg);
        assert_true(file_size(f, "s/f.log") <= 2000);
        assert_true(file_size(f, "s/f.log.1") <= 2000);
    }
    assert_true(file_size(f, "s/f.log.1") > 1000); /* it did rotate */
    assert_int_equal(file_size(f, "s/f.log.2"), -1);

    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 1000, &b), 0);
    json_t *l[64];
    size_t n = parse_lines(&b, l, 64);
    assert_true(n > 20 && n < 60);
    /* Contiguous and ending with the newest line. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(json_integer_value(json_object_get(l[i], "time")),
                         1000 + 500 - (int64_t)n + (int64_t)i);
    free_lines(l, n);
    nb_buf_release(&b);

    /* A line bigger than the cap still gets written (alone). */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    append(f, "s", "f", 9999, "", big);
    assert_true(file_size(f, "s/f.log") > 2000);
    append(f, "s", "f", 10000, "", "after");
    assert_true(file_size(f, "s/f.log") < 200);
}

struct got {
    int n;
    char last[64];
    int64_t last_time;
    void *self;
    void *other;
    struct nb_logstore *ls;
};

static void on_line(const struct nb_log_line *line, void *arg)
{
    struct got *g = arg;
    g->n++;
    snprintf(g->last, sizeof(g->last), "%.*s", (int)line->message_len, line->message);
    g->last_time = line->time_ms;
}

static void on_line_unfollow_self(const struct nb_log_line *line, void *arg)
{
    struct got *g = arg;
    on_line(line, arg);
    nb_logstore_unfollow(g->ls, g->self);
}

static void on_line_unfollow_other(const struct nb_log_line *line, void *arg)
{
    struct got *g = arg;
    on_line(line, arg);
    if (g->other) {
        nb_logstore_unfollow(g->ls, g->other);
        g->other = NULL;
    }
}

static void test_follow(void **state)
{
    struct fx *f = *state;
    struct got a = {0}, b = {0}, c = {0}, d = {0};
    void *ha = nb_logstore_follow(f->ls, "s", "f", on_line, &a);
    void *hb = nb_logstore_follow(f->ls, "s", "g", on_line, &b);
    assert_non_null(ha);
    assert_non_null(hb);

    append(f, "s", "f", 5, "r", "to f");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.last, "to f");
    assert_int_equal(a.last_time, 5);
    assert_int_equal(b.n, 0);
    append(f, "s", "g", 6, "r", "to g");
    assert_int_equal(b.n, 1);
    assert_int_equal(a.n, 1);

    /* A follower that unfollows itself from its callback. */
    c.ls = f->ls;
    c.self = nb_logstore_follow(f->ls, "s", "f", on_line_unfollow_self, &c);
    /* A follower that unfollows another (a) from its callback. */
    d.ls = f->ls;
    d.other = ha;
    void *hd = nb_logstore_follow(f->ls, "s", "f", on_line_unfollow_other, &d);
    append(f, "s", "f", 7, "r", "second");
    assert_int_equal(c.n, 1);
    assert_int_equal(d.n, 1);
    /* d was registered last so ran first: a was removed before its turn. */
    assert_int_equal(a.n, 1);
    append(f, "s", "f", 8, "r", "third");
    assert_int_equal(c.n, 1);
    assert_int_equal(d.n, 2);
    assert_int_equal(a.n, 1);

    /* time 0 means now. */
    append(f, "s", "f", 0, "r", "now");
    assert_true(d.last_time > 1700000000000LL);

    nb_logstore_unfollow(f->ls, hd);
    nb_logstore_unfollow(f->ls, hb);
    append(f, "s", "f", 9, "r", "nobody");
    append(f, "s", "g", 9, "r", "nobody");
    assert_int_equal(d.n, 3);
    assert_int_equal(b.n, 1);
    nb_logstore_unfollow(f->ls, NULL);

    /* Bad names are refused. */
    assert_null(nb_logstore_follow(f->ls, "..", "f", on_line, &a));
    assert_null(nb_logstore_follow(f->ls, "s", "a/b", on_line, &a));
}

static void test_remove(void **state)
{
    struct fx *f = *state;
    append(f, "s", "f", 1, "", "one");
    append(f, "s", "g", 1, "", "keep");
    assert_true(file_size(f, "s/f.log") > 0);
    nb_logstore_remove(f->ls, "s", "f");
    assert_int_equal(file_size(f, "s/f.log"), -1);
    assert_int_equal(file_size(f, "s/f.log.1"), -1);
    assert_true(file_size(f, "s/g.log") > 0);

    struct nb_buf b;
    nb_buf_init(&b, 4096);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 10, &b), 0);
    assert_int_equal(b.len, 0);

    /* A new function of the same name starts afresh. */
    append(f, "s", "f", 2, "", "two");
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 10, &b), 0);
    json_t *l[4];
    size_t n = parse_lines(&b, l, 4);
    assert_int_equal(n, 1);
    assert_string_equal(jstr(l[0], "message"), "two");
    free_lines(l, n);
    nb_buf_release(&b);

    /* Removing the last function of a service removes its directory. */
    nb_logstore_remove(f->ls, "s", "f");
    nb_logstore_remove(f->ls, "s", "g");
    assert_int_equal(file_size(f, "s"), -1);
    nb_logstore_remove(f->ls, "s", "never");
}

static void test_json_escaping(void **state)
{
    struct fx *f = *state;
    const char tricky[] = "quote \" backslash \\ newline \n tab \t ctrl \x01 nul \0 end";
    struct nb_log_line l1 = {.time_ms = 1,
                             .request_id = "id\"with\nquote",
                             .stream = "stderr",
                             .message = tricky,
                             .message_len = sizeof(tricky) - 1};
    nb_logstore_append(f->ls, "s", "f", &l1);
    const char bad[] = "bad \xff\xfe utf8 \xc3\x28 overlong \xc0\xaf ok \xc3\xa9 \xe2\x82";
    struct nb_log_line l2 = {.time_ms = 2,
                             .request_id = "r\xff",
                             .stream = "stdout",
                             .message = bad,
                             .message_len = sizeof(bad) - 1};
    nb_logstore_append(f->ls, "s", "f", &l2);
    struct nb_log_line l3 = {.time_ms = 3, .request_id = NULL, .stream = NULL, .message = NULL};
    nb_logstore_append(f->ls, "s", "f", &l3);

    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 10, &b), 0);
    /* Raw newlines only between lines. */
    size_t nls = 0;
    for (size_t i = 0; i < b.len; i++)
        nls += b.data[i] == '\n';
    assert_int_equal(nls, 3);
    json_t *l[4];
    size_t n = parse_lines(&b, l, 4);
    assert_int_equal(n, 3);
    /* The NUL became U+FFFD; the rest is kept byte for byte. */
    assert_string_equal(jstr(l[0], "message"),
                        "quote \" backslash \\ newline \n tab \t ctrl \x01 nul \xef\xbf\xbd end");
    assert_non_null(strstr(b.data, "\\u0001")); /* control characters escaped */
    assert_string_equal(jstr(l[0], "requestId"), "id\"with\nquote");
    assert_string_equal(jstr(l[0], "stream"), "stderr");
    assert_string_equal(jstr(l[1], "message"), "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd( "
                                               "overlong \xef\xbf\xbd\xef\xbf\xbd ok \xc3\xa9 "
                                               "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(jstr(l[1], "requestId"), "r\xef\xbf\xbd");
    assert_string_equal(jstr(l[2], "message"), "");
    assert_string_equal(jstr(l[2], "requestId"), "");
    free_lines(l, n);
    nb_buf_release(&b);
}

static void test_long_message_cut(void **state)
{
    struct fx *f = *state;
    size_t big = 20000;
    char *msg = nb_xmalloc(big + 1);
    memset(msg, 'a', big);
    /* A 3-byte character straddling the 16 KiB boundary must not be split. */
    memcpy(msg + MAX_MESSAGE - 1, "\xe2\x82\xac", 3);
    msg[big] = '\0';
    struct got g = {0};
    void *h = nb_logstore_follow(f->ls, "s", "f", on_line, &g);
    append(f, "s", "f", 1, "", msg);
    nb_logstore_unfollow(f->ls, h);
    assert_int_equal(g.n, 1);

    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 10, &b), 0);
    json_t *l[2];
    size_t n = parse_lines(&b, l, 2);
    assert_int_equal(n, 1);
    const char *m = jstr(l[0], "message");
    assert_int_equal(strlen(m), MAX_MESSAGE - 1 + 3);
    assert_memory_equal(m + MAX_MESSAGE - 1, "...", 4);
    assert_null(strstr(m, "\xef\xbf\xbd"));
    assert_true(json_is_true(json_object_get(l[0], "truncated")));
    free_lines(l, n);
    nb_buf_release(&b);
    free(msg);
}

static void test_bad_names(void **state)
{
    struct fx *f = *state;
    const char *bad[] = {"..", "a/b", "", "x..y", ".", "a\nb"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(bad); i++) {
        append(f, bad[i], "f", 1, "", "nope");
        append(f, "s", bad[i], 1, "", "nope");
        struct nb_buf b;
        nb_buf_init(&b, 100);
        assert_int_equal(nb_logstore_query(f->ls, bad[i], "f", 0, NULL, 1, &b), -EINVAL);
        assert_int_equal(nb_logstore_query(f->ls, "s", bad[i], 0, NULL, 1, &b), -EINVAL);
        nb_buf_release(&b);
        nb_logstore_remove(f->ls, "s", bad[i]);
    }
    append(f, NULL, "f", 1, "", "nope");
    /* Nothing was created, inside or next to the store. */
    assert_int_equal(file_size(f, "s"), -1);
    assert_int_equal(f->ls->files.len, 0);
}

static void test_many_functions_fd_cap(void **state)
{
    struct fx *f = *state;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 300; i++) {
            char fn[32];
            snprintf(fn, sizeof(fn), "fn%d", i);
            append(f, "many", fn, 1 + round, "", round ? "second" : "first");
            assert_true(f->ls->nopen <= MAX_OPEN);
        }
    assert_int_equal(f->ls->nopen, MAX_OPEN);
    struct nb_buf b;
    nb_buf_init(&b, 4096);
    assert_int_equal(nb_logstore_query(f->ls, "many", "fn0", 0, NULL, 10, &b), 0);
    json_t *l[4];
    size_t n = parse_lines(&b, l, 4);
    assert_int_equal(n, 2);
    assert_string_equal(jstr(l[1], "message"), "second");
    free_lines(l, n);
    nb_buf_release(&b);
}

struct reader {
    struct nb_logstore *ls;
    volatile int *stop;
    int queries;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    while (!*r->stop) {
        nb_buf_reset(&b);
        assert_int_equal(nb_logstore_query(r->ls, "s", "f", 0, NULL, 1000, &b), 0);
        json_t *l[256];
        size_t n = parse_lines(&b, l, 256);
        /* Whatever the rotation timing, the lines are in order. */
        for (size_t i = 1; i < n; i++)
            assert_true(json_integer_value(json_object_get(l[i], "time")) >
                        json_integer_value(json_object_get(l[i - 1], "time")));
        free_lines(l, n);
        r->queries++;
    }
    nb_buf_release(&b);
    return NULL;
}

static void test_concurrent_query(void **state)
{
    struct fx *f = *state; /* cap 2000: constant rotation */
    volatile int stop = 0;
    struct reader rs[2] = {{f->ls, &stop, 0}, {f->ls, &stop, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rs[i]), 0);
    for (int i = 0; i < 5000; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "concurrent %d", i);
        append(f, "s", "f", 1 + i, "r", msg);
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(rs[0].queries > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_follow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_functions_fd_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_query, setup_small, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
