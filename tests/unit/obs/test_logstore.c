/*
 * test_logstore.c: functions' logs on real files: append, query filters,
 * rotation caps, followers, removal, JSON escaping, buffered writes and
 * thread safety; and the direct line encoder against the jansson encoding
 * it replaced (ref_encode), byte for byte.
 *
 * Includes logstore.c to check the open-fd cap and reach the encoder.
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

/* The bytes of key ("service/function") not written yet. */
static size_t pending(struct fx *f, const char *key)
{
    struct fn_file *ff = nb_map_get(&f->ls->files, key);
    return ff ? ff->pending_len : 0;
}

static void test_rotation(void **state)
{
    struct fx *f = *state; /* cap 2000 bytes */
    for (int i = 0; i < 500; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "rotating line %04d padding padding", i);
        append(f, "s", "f", 1000 + i, "rid", msg);
        if (i % 7 == 0)
            nb_logstore_flush(f->ls); /* a loop iteration now and then */
        /* Pending bytes count in the cap. */
        assert_true(file_size(f, "s/f.log") + (off_t)pending(f, "s/f") <= 2000);
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
    nb_logstore_flush(f->ls);
    assert_true(file_size(f, "s/f.log") > 2000);
    append(f, "s", "f", 10000, "", "after");
    nb_logstore_flush(f->ls);
    assert_true(file_size(f, "s/f.log") < 200);
    assert_true(file_size(f, "s/f.log.1") > 2000);
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
    nb_logstore_flush(f->ls);
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

    /* Pending lines of a removed function are dropped, not written later. */
    append(f, "s", "f", 3, "", "three");
    assert_true(pending(f, "s/f") > 0);
    nb_logstore_remove(f->ls, "s", "f");
    assert_true(nb_list_empty(&f->ls->dirty));
    nb_logstore_flush(f->ls);
    assert_int_equal(file_size(f, "s/f.log"), -1);

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
    /* A file closed as least recently used had its lines written first. */
    assert_int_equal(file_size(f, "many/fn0.log"),
                     strlen("{\"time\":1,\"requestId\":\"\",\"stream\":\"stdout\","
                            "\"message\":\"first\"}\n"
                            "{\"time\":2,\"requestId\":\"\",\"stream\":\"stdout\","
                            "\"message\":\"second\"}\n"));
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
    int *stop;         /* atomic */
    int64_t *appended; /* atomic: the time of the last line appended (and returned) */
    int queries;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE)) {
        nb_buf_reset(&b);
        int64_t before = __atomic_load_n(r->appended, __ATOMIC_ACQUIRE);
        assert_int_equal(nb_logstore_query(r->ls, "s", "f", 0, NULL, 1000, &b), 0);
        json_t *l[256];
        size_t n = parse_lines(&b, l, 256);
        /* Whatever the rotation timing, the lines are in order... */
        for (size_t i = 1; i < n; i++)
            assert_true(json_integer_value(json_object_get(l[i], "time")) >
                        json_integer_value(json_object_get(l[i - 1], "time")));
        /* ...and every line appended before the query started is there, never flushed. */
        if (before > 0) {
            assert_true(n > 0);
            assert_true(json_integer_value(json_object_get(l[n - 1], "time")) >= before);
        }
        free_lines(l, n);
        r->queries++;
    }
    nb_buf_release(&b);
    return NULL;
}

static void test_concurrent_query(void **state)
{
    struct fx *f = *state; /* cap 2000: constant rotation */
    int stop = 0;
    int64_t appended = 0;
    struct reader rs[2] = {{f->ls, &stop, &appended, 0}, {f->ls, &stop, &appended, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rs[i]), 0);
    for (int i = 0; i < 5000; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "concurrent %d", i);
        append(f, "s", "f", 1 + i, "r", msg);
        __atomic_store_n(&appended, 1 + i, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(rs[0].queries > 0);
}

static void test_buffered_writes(void **state)
{
    struct fx *f = *state;
    append(f, "s", "f", 1, "r", "pending");
    /* Not in the file until a flush (the daemon's loop iteration)... */
    assert_true(file_size(f, "s/f.log") <= 0);
    assert_true(pending(f, "s/f") > 0);
    /* ...but a query sees it (it writes the function's pending bytes first). */
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_logstore_query(f->ls, "s", "f", 0, NULL, 10, &b), 0);
    json_t *l[4];
    size_t n = parse_lines(&b, l, 4);
    assert_int_equal(n, 1);
    assert_string_equal(jstr(l[0], "message"), "pending");
    free_lines(l, n);
    assert_int_equal(file_size(f, "s/f.log"), (off_t)b.len);
    assert_int_equal(pending(f, "s/f"), 0);

    /* One flush writes every file, in order. */
    append(f, "s", "f", 2, "r", "two");
    append(f, "s", "g", 2, "r", "other");
    append(f, "s", "f", 3, "r", "three");
    assert_false(nb_list_empty(&f->ls->dirty));
    nb_logstore_flush(f->ls);
    assert_true(nb_list_empty(&f->ls->dirty));
    assert_true(file_size(f, "s/g.log") > 0);
    char p[256];
    snprintf(p, sizeof(p), "%s/s/f.log", f->dir);
    size_t len;
    _cleanup_free_ char *data = nb_read_file(p, &len);
    assert_non_null(data);
    char *two = strstr(data, "\"two\""), *three = strstr(data, "\"three\"");
    assert_non_null(two);
    assert_non_null(three);
    assert_true(two < three);
    nb_logstore_flush(f->ls); /* nothing pending: a no-op */

    /* The pending bytes of a file stay under PENDING_MAX without any flush. */
    char msg[1000];
    memset(msg, 'p', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        append(f, "s", "big", 10 + i, "r", msg);
        assert_true(pending(f, "s/big") <= PENDING_MAX);
    }
    assert_true(file_size(f, "s/big.log") > PENDING_MAX);
    /* A line that alone passes PENDING_MAX is written at once, after the pending ones. */
    size_t huge_len = MAX_MESSAGE;
    char *huge = nb_xmalloc(huge_len + 1);
    memset(huge, '\x01', huge_len); /* 6 bytes each once escaped */
    huge[huge_len] = '\0';
    off_t before = file_size(f, "s/big.log") + (off_t)pending(f, "s/big");
    append(f, "s", "big", 500, "r", huge);
    assert_int_equal(pending(f, "s/big"), 0);
    assert_true(file_size(f, "s/big.log") > before + 6 * MAX_MESSAGE);
    free(huge);
    nb_buf_reset(&b);
    assert_int_equal(nb_logstore_query(f->ls, "s", "big", 0, NULL, 0, &b), 0);
    json_t *bl[256];
    n = parse_lines(&b, bl, 256);
    assert_int_equal(n, 201);
    for (size_t i = 1; i < n; i++)
        assert_true(json_integer_value(json_object_get(bl[i], "time")) >
                    json_integer_value(json_object_get(bl[i - 1], "time")));
    free_lines(bl, n);
    nb_buf_release(&b);

    /* Closing writes what is pending. */
    append(f, "s", "late", 7, "r", "at close");
    assert_true(file_size(f, "s/late.log") <= 0);
    nb_logstore_close(f->ls);
    struct nb_err err = {0};
    assert_int_equal(nb_logstore_open(f->dir, 1024 * 1024, &f->ls, &err), 0);
    assert_true(file_size(f, "s/late.log") > 0);
}

/* ---- the direct encoder against the jansson encoding it replaced ---- */

/* Today's json_str (before the direct encoder): jansson, with U+FFFD for bad bytes. */
static json_t *ref_json_str(const char *s, size_t n)
{
    json_t *j = memchr(s, 0, n) ? NULL : json_stringn(s, n);
    if (j)
        return j;
    char *clean = nb_xmalloc(n * 3 + 1);
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = u[i] ? nb_utf8_seq(u + i, n - i) : 0;
        if (l == 0) {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(clean + o, u + i, l);
            o += l;
            i += l;
        }
    }
    j = json_stringn(clean, o);
    free(clean);
    return j ? j : json_string("");
}

/* Today's encode(): json_dumps(JSON_COMPACT) of the line's object plus '\n'; caller frees. */
static char *ref_encode(const struct nb_log_line *line, int64_t time_ms, size_t *len)
{
    const char *msg = line->message ? line->message : "";
    size_t n = line->message ? line->message_len : 0;
    int cut = 0;
    if (n > MAX_MESSAGE) {
        n = MAX_MESSAGE;
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80; k++)
            n--;
        cut = 1;
    }
    json_t *o = json_object();
    json_object_set_new(o, "time", json_integer(time_ms));
    const char *rid = line->request_id ? line->request_id : "";
    const char *stream = line->stream ? line->stream : "stdout";
    json_object_set_new(o, "requestId", ref_json_str(rid, strlen(rid)));
    json_object_set_new(o, "stream", ref_json_str(stream, strlen(stream)));
    if (cut) {
        char *m = nb_xmalloc(n + 4);
        memcpy(m, msg, n);
        memcpy(m + n, "...", 4);
        json_object_set_new(o, "message", ref_json_str(m, n + 3));
        json_object_set_new(o, "truncated", json_true());
        free(m);
    } else {
        json_object_set_new(o, "message", ref_json_str(msg, n));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t l = strlen(s);
    char *out = nb_xmalloc(l + 2);
    memcpy(out, s, l);
    out[l] = '\n';
    out[l + 1] = '\0';
    free(s);
    *len = l + 1;
    return out;
}

/* The direct encoding of line, as nb_logstore_append does it; caller frees. */
static char *new_encode(const struct nb_log_line *line, int64_t time_ms, size_t *len)
{
    const char *rid = line->request_id ? line->request_id : "";
    const char *stream = line->stream ? line->stream : "stdout";
    int cut = 0;
    size_t msg_len = line->message ? cut_message(line->message, line->message_len, &cut) : 0;
    size_t bound = encode_bound(strlen(rid), strlen(stream), msg_len);
    char *out = nb_xmalloc(bound);
    *len = encode(out, time_ms, rid, strlen(rid), stream, strlen(stream),
                  line->message ? line->message : "", msg_len, cut);
    assert_true(*len <= bound);
    return out;
}

static void print_bytes(const char *what, const char *s, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): ", what, n);
    for (size_t i = 0; i < n && i < 400; i++)
        fprintf(stderr, (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? "%c" : "<%02x>",
                (unsigned char)s[i]);
    fprintf(stderr, "\n");
}

static void check_line(const char *rid, const char *stream, const char *msg, size_t n, int64_t t)
{
    struct nb_log_line l = {
        .time_ms = t, .request_id = rid, .stream = stream, .message = msg, .message_len = n};
    size_t rlen, nlen;
    char *ref = ref_encode(&l, t, &rlen);
    char *got = new_encode(&l, t, &nlen);
    if (rlen != nlen || memcmp(ref, got, rlen) != 0) {
        print_bytes("input", msg ? msg : "", msg ? n : 0);
        print_bytes("jansson", ref, rlen);
        print_bytes("direct ", got, nlen);
        fail_msg("encodings differ");
    }
    free(ref);
    free(got);
}

static void check_msg(const char *msg, size_t n)
{
    check_line("req-1", "stdout", msg, n, 1700000000123LL);
}

#define CHECK_LIT(s) check_msg(s, sizeof(s) - 1)

static void test_encode_cases(void **state)
{
    (void)state;
    char all[256];
    for (int c = 0; c < 256; c++)
        all[c] = (char)c;
    check_msg(all, 256); /* NUL, every control character, 0x7f, every high byte */
    check_msg(all + 1, 127);
    for (int c = 0; c < 256; c++) {
        char one[3] = {'a', (char)c, 'b'};
        check_msg(one, 3);
        check_msg(one + 1, 1);
    }
    check_msg("", 0);
    CHECK_LIT("quote \" backslash \\ slash / solidus \\/ del \x7f");
    CHECK_LIT("\b\f\n\r\t\x0b\x1f\x1e");
    CHECK_LIT("nul \0 in the middle \0");
    CHECK_LIT("\0");
    CHECK_LIT("2-byte \xc3\xa9 3-byte \xe2\x82\xac 4-byte \xf0\x9f\x98\x80 max \xf4\x8f\xbf\xbf");
    CHECK_LIT("U+2028 \xe2\x80\xa8 U+FEFF \xef\xbb\xbf U+FFFD \xef\xbf\xbd");
    CHECK_LIT("surrogates \xed\xa0\x80 \xed\xbf\xbf \xed\xa0\xbd\xed\xb8\x80 ok \xed\x9f\xbf");
    CHECK_LIT(
        "overlong \xc0\xaf \xc1\xbf \xe0\x80\xaf \xe0\x9f\xbf \xf0\x80\x80\xaf \xf0\x8f\xbf\xbf");
    CHECK_LIT("too big \xf4\x90\x80\x80 \xf5\x80\x80\x80 \xf8\x88\x80\x80\x80 \xfc \xfe \xff");
    CHECK_LIT("lone continuation \x80 \xbf \x80\x80\x80\x80");
    CHECK_LIT("truncated \xc3 \xe2\x82 \xf0\x9f\x98 end");
    CHECK_LIT("truncated at the end \xf0\x9f\x98");
    CHECK_LIT("\xe2\x82");
    CHECK_LIT("bad \xff\xfe utf8 \xc3\x28 overlong \xc0\xaf ok \xc3\xa9 \xe2\x82");

    /* Request ids and streams go through the same escaping; NULLs take the defaults. */
    check_line("", "", "", 0, 0);
    check_line("id\"with\nquote\\and\x01\x7f", "std\terr", "m", 1, -1);
    check_line("r\xff\xc3\xa9\xed\xa0\x80", "\xf0\x9f\x98\x80", "m", 1, 42);
    check_line(NULL, NULL, NULL, 0, 5);
    check_line(NULL, NULL, "x", 1, 5);
    const int64_t times[] = {0,         1,         -1,           9, 10, 999, 1000, 1700000000000LL,
                             INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < NB_ARRAY_SIZE(times); i++)
        check_line("r", "stdout", "t", 1, times[i]);

    /* The cut at MAX_MESSAGE, with multibyte, bad and escaped bytes at every offset. */
    size_t big = MAX_MESSAGE + 16;
    char *m = nb_xmalloc(big);
    const char *seqs[] = {
        "\xc3\xa9", "\xe2\x82\xac",         "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xe2\x82", "\x80\x80\x80\x80\x80", "\n\"\\",           "\x01\x1f",     "\0\0\0"};
    for (size_t s = 0; s < NB_ARRAY_SIZE(seqs); s++) {
        size_t sl = s == NB_ARRAY_SIZE(seqs) - 1 ? 3 : strlen(seqs[s]);
        for (size_t off = 0; off < 8; off++) {
            memset(m, 'a', big);
            size_t at = MAX_MESSAGE - 5 + off;
            memcpy(m + at, seqs[s], sl);
            for (size_t len = MAX_MESSAGE - 1; len <= MAX_MESSAGE + 5; len++)
                check_msg(m, len);
        }
    }
    /* Only continuation bytes: the back-off stops after three. */
    memset(m, 0x80, big);
    check_msg(m, big);
    check_msg(m, MAX_MESSAGE);
    /* Only multibyte characters, cut in each position. */
    for (size_t shift = 0; shift < 4; shift++) {
        for (size_t i = 0; i + 4 <= big; i += 4)
            memcpy(m + i, "\xf0\x9f\x98\x80", 4);
        check_msg(m + shift, big - shift);
        for (size_t i = 0; i + 3 <= big; i += 3)
            memcpy(m + i, "\xe2\x82\xac", 3);
        check_msg(m + shift, big - shift);
    }
    /* Escapes everywhere: the longest encoding. */
    memset(m, '\x01', big);
    check_msg(m, big);
    check_msg(m, MAX_MESSAGE);
    free(m);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* n random bytes at p, biased towards what encoders get wrong. */
static void random_bytes(char *p, size_t n, int no_nul)
{
    static const char *const seqs[] = {"\xc3\xa9",     "\xe2\x82\xac",     "\xf0\x9f\x98\x80",
                                       "\xed\xa0\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
                                       "\xc0\xaf",     "\xe0\x80\xaf",     "\xef\xbf\xbf"};
    size_t i = 0;
    while (i < n) {
        uint64_t r = rng();
        unsigned kind = (unsigned)(r % 10);
        unsigned char c;
        if (kind < 3)
            c = (unsigned char)(0x20 + (r >> 8) % 0x5f);
        else if (kind < 4)
            c = (unsigned char)((r >> 8) % 0x20);
        else if (kind < 5)
            c = "\"\\/\x7f"[(r >> 8) % 4];
        else if (kind < 7)
            c = (unsigned char)(0x80 + (r >> 8) % 0x80);
        else if (kind < 9) {
            const char *s = seqs[(r >> 8) % NB_ARRAY_SIZE(seqs)];
            size_t l = strlen(s);
            if ((r >> 20) % 4 == 0) /* sometimes a truncated one */
                l = 1 + (r >> 24) % l;
            for (size_t k = 0; k < l && i < n; k++)
                p[i++] = s[k];
            continue;
        } else {
            /* an arbitrary code point, UTF-8 encoded without checks */
            uint32_t cp = (uint32_t)((r >> 8) % 0x110000);
            unsigned char e[4];
            size_t l;
            if (cp < 0x80)
                e[0] = (unsigned char)cp, l = 1;
            else if (cp < 0x800)
                e[0] = (unsigned char)(0xc0 | cp >> 6), e[1] = (unsigned char)(0x80 | (cp & 0x3f)),
                l = 2;
            else if (cp < 0x10000)
                e[0] = (unsigned char)(0xe0 | cp >> 12),
                e[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f)),
                e[2] = (unsigned char)(0x80 | (cp & 0x3f)), l = 3;
            else
                e[0] = (unsigned char)(0xf0 | cp >> 18),
                e[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f)),
                e[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f)),
                e[3] = (unsigned char)(0x80 | (cp & 0x3f)), l = 4;
            for (size_t k = 0; k < l && i < n; k++)
                p[i++] = (char)e[k];
            continue;
        }
        p[i++] = (char)c;
    }
    if (no_nul)
        for (size_t k = 0; k < n; k++)
            if (p[k] == 0)
                p[k] = 'z';
}

static void test_encode_random(void **state)
{
    (void)state;
    size_t cap = MAX_MESSAGE + 64;
    char *m = nb_xmalloc(cap);
    char rid[48], stream[16];
    for (int iter = 0; iter < 5000; iter++) {
        size_t n = iter % 100 == 99 ? MAX_MESSAGE - 8 + rng() % 16 : rng() % 96;
        random_bytes(m, n, 0);
        size_t rn = rng() % (sizeof(rid) - 1), sn = rng() % (sizeof(stream) - 1);
        random_bytes(rid, rn, 1);
        rid[rn] = '\0';
        random_bytes(stream, sn, 1);
        stream[sn] = '\0';
        check_line(rid, stream, m, n, (int64_t)rng());
        /* Pure random bytes too. */
        for (size_t k = 0; k < n; k++)
            m[k] = (char)rng();
        check_msg(m, n);
    }
    free(m);
}

/* What nb_logstore_append writes to the file is the reference encoding. */
static void test_file_matches_reference(void **state)
{
    struct fx *f = *state;
    struct nb_buf want;
    nb_buf_init(&want, 1 << 24);
    char m[300];
    for (int i = 0; i < 500; i++) {
        size_t n = rng() % sizeof(m);
        random_bytes(m, n, 0);
        struct nb_log_line l = {.time_ms = 1 + i,
                                .request_id = i % 5 ? "rid" : NULL,
                                .stream = i % 7 ? "stderr" : NULL,
                                .message = i % 11 ? m : NULL,
                                .message_len = n};
        nb_logstore_append(f->ls, "s", "f", &l);
        size_t rlen;
        _cleanup_free_ char *r = ref_encode(&l, 1 + i, &rlen);
        assert_int_equal(nb_buf_append(&want, r, rlen), 0);
    }
    nb_logstore_flush(f->ls);
    char p[256];
    snprintf(p, sizeof(p), "%s/s/f.log", f->dir);
    size_t len;
    _cleanup_free_ char *data = nb_read_file(p, &len);
    assert_non_null(data);
    assert_int_equal(len, want.len);
    assert_memory_equal(data, want.data, len);
    nb_buf_release(&want);
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
        cmocka_unit_test_setup_teardown(test_buffered_writes, setup, teardown),
        cmocka_unit_test(test_encode_cases),
        cmocka_unit_test(test_encode_random),
        cmocka_unit_test_setup_teardown(test_file_matches_reference, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
