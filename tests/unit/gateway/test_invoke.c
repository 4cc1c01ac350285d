/*
 * test_invoke.c: the HTTP trigger's INVOKE meta written directly
 * (trigger_meta_fast, the hot path) says exactly what the jansson-built one
 * (trigger_meta_json) says: repeated headers and query keys as arrays,
 * hidden headers left out, escapes, values that are not UTF-8 replaced,
 * percent-decoding; and a path that is not UTF-8 goes to the jansson one.
 * The fields form (trigger_meta_fields, what Node.js shims get) says the
 * same again: read back here the way the shim reads it.
 * Includes invoke.c to reach them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/gateway/invoke.c"

/* The next NUL-terminated field of the fields form; fails past its end. */
static const char *next_field(const char **p, const char *end)
{
    const char *f = *p, *nul = memchr(f, '\0', (size_t)(end - f));
    if (f >= end || nul == NULL)
        fail_msg("fields meta ends early");
    *p = nul + 1;
    return f;
}

/* n pairs (n < 0: to the end) into obj, a repeated name's values in an array, as the shim does. */
static void read_pairs(const char **p, const char *end, long n, json_t *obj)
{
    for (; n != 0 && *p < end; n--) {
        const char *k = next_field(p, end), *v = next_field(p, end);
        json_t *cur = json_object_get(obj, k);
        if (cur == NULL)
            json_object_set_new(obj, k, json_string(v));
        else if (json_is_array(cur))
            json_array_append_new(cur, json_string(v));
        else
            json_object_set_new(obj, k, json_pack("[O,s]", cur, v));
    }
}

/* The fields form read back into the JSON form's shape (without the deadline, checked to be a
 * number). */
static json_t *fields_as_json(const char *m, size_t len)
{
    const char *p = m, *end = m + len;
    assert_int_equal(m[len], '\0'); /* nb_buf_steal's terminator, past the last field's */
    const char *rid = next_field(&p, end), *deadline = next_field(&p, end);
    char *stop;
    assert_true(strtoull(deadline, &stop, 10) > 0 && *stop == '\0');
    const char *method = next_field(&p, end), *path = next_field(&p, end);
    const char *url = next_field(&p, end), *ip = next_field(&p, end);
    long nq = strtol(next_field(&p, end), NULL, 10);
    json_t *q = json_object(), *h = json_object();
    read_pairs(&p, end, nq, q);
    read_pairs(&p, end, -1, h);
    assert_ptr_equal(p, end);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:o, s:o, s:s}}", "requestId", rid, "kind",
                     "http", "http", "method", method, "path", path, "url", url, "queries", q,
                     "headers", h, "clientIP", ip);
}

static void same_meta(struct nb_http_request *req, const struct nb_route *route)
{
    char *fast = trigger_meta_fast(req, route, "rid-1", 60);
    char *slow = trigger_meta_json(req, route, "rid-1", 60);
    assert_non_null(fast);
    assert_non_null(slow);
    json_error_t e;
    json_t *a = json_loads(fast, 0, &e), *b = json_loads(slow, 0, &e);
    if (a == NULL)
        fail_msg("fast meta is not JSON: %s: %s", e.text, fast);
    assert_non_null(b);
    json_object_del(a, "deadline");
    json_object_del(b, "deadline");
    if (!json_equal(a, b))
        fail_msg("metas differ:\n fast %s\n json %s", fast, slow);
    size_t len;
    char *fields = trigger_meta_fields(req, route, "rid-1", 60, &len);
    assert_non_null(fields);
    json_t *c = fields_as_json(fields, len);
    if (!json_equal(c, b)) {
        char *cs = json_dumps(c, JSON_COMPACT);
        fail_msg("metas differ:\n fields %s\n json   %s", cs, slow);
    }
    json_decref(a);
    json_decref(b);
    json_decref(c);
    free(fast);
    free(slow);
    free(fields);
}

static void test_plain_get(void **state)
{
    (void)state;
    struct nb_kv h[] = {{"Host", "127.0.0.1:9000"}, {"User-Agent", "wrk"}};
    struct nb_http_request req = {.method = "GET",
                                  .url = "/fn/s/f/?name=bench",
                                  .path = "/fn/s/f/",
                                  .query = "name=bench",
                                  .headers = h,
                                  .nheaders = 2,
                                  .client_ip = "127.0.0.1"};
    struct nb_route route = {.rest = "/"};
    same_meta(&req, &route);
}

static void test_tricky(void **state)
{
    (void)state;
    struct nb_kv h[] = {
        {"X-A", "1"},
        {"x-a", "2"},
        {"X-Fc-Secret", "hidden"},
        {"Connection", "keep-alive"},
        {"Quote", "a\"b\\c\td\x01"},
        {"Bad", "\xff\xfe"},
        {"Utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"Overlong", "\xc0\xaf"},
        {"Surrogate", "\xed\xa0\x80"},
        {"X-A", "3"},
        {"\xff-name", "v"},
    };
    struct nb_http_request req = {
        .method = "POST",
        .url =
            "/fn/s/f/"
            "a%20b?a=1&a=2&b&c=%20x+y&&d=%ZZ&%ff=1&e=%C3%A9&a=3&q=%22%5C&ctl=%08%0C%0A%0D%7F%00x",
        .path = "/fn/s/f/a%20b",
        .query = "a=1&a=2&b&c=%20x+y&&d=%ZZ&%ff=1&e=%C3%A9&a=3&q=%22%5C&ctl=%08%0C%0A%0D%7F%00x",
        .headers = h,
        .nheaders = NB_ARRAY_SIZE(h),
        .client_ip = "::1"};
    struct nb_route route = {.rest = "/a b"};
    same_meta(&req, &route);
}

/* More headers and query pairs than the fast path keeps on its stack, and a name too long for it.
 */
static void test_many(void **state)
{
    (void)state;
    struct nb_kv h[40];
    char names[40][16], values[40][16], longname[300];
    memset(longname, 'L', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "X-H%d", i % 13); /* repeats */
        snprintf(values[i], sizeof(values[i]), "v%d", i);
        h[i] = (struct nb_kv){names[i], values[i]};
    }
    h[20].key = longname;
    struct nb_buf q;
    nb_buf_init(&q, 1 << 16);
    for (int i = 0; i < 40; i++)
        assert_int_equal(nb_buf_printf(&q, "%sk%d=%d", i ? "&" : "", i % 7, i), 0);
    struct nb_http_request req = {.method = "GET",
                                  .url = "/fn/s/f/",
                                  .path = "/fn/s/f/",
                                  .query = q.data,
                                  .headers = h,
                                  .nheaders = NB_ARRAY_SIZE(h),
                                  .client_ip = "10.0.0.2"};
    struct nb_route route = {.rest = "/"};
    same_meta(&req, &route);
    char *fast = trigger_meta_fast(&req, &route, "rid-1", 60);
    assert_null(strstr(fast, "LLLL")); /* the long name is left out by both */
    assert_non_null(strstr(fast, "\"x-h0\":[\"v0\",\"v13\",\"v26\",\"v39\"]"));
    free(fast);
    nb_buf_release(&q);
}

static void test_no_query_no_headers(void **state)
{
    (void)state;
    struct nb_http_request req = {
        .method = "GET", .url = "/", .path = "/", .query = "", .client_ip = "10.0.0.1"};
    struct nb_route route = {.rest = "/"};
    same_meta(&req, &route);
}

static void test_path_not_utf8_falls_back(void **state)
{
    (void)state;
    struct nb_http_request req = {
        .method = "GET", .url = "/\xff", .path = "/\xff", .query = "", .client_ip = "10.0.0.1"};
    struct nb_route route = {.rest = "/\xff"};
    assert_null(trigger_meta_fast(&req, &route, "rid", 60));
    size_t len;
    assert_null(trigger_meta_fields(&req, &route, "rid", 60, &len));
    char *m = trigger_meta(&req, &route, "rid", 60);
    json_t *j = json_loads(m, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "http"), "path")),
                        "/");
    json_decref(j);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_get),
        cmocka_unit_test(test_tricky),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_no_query_no_headers),
        cmocka_unit_test(test_path_not_utf8_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
