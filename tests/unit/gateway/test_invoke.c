/*
 * test_invoke.c: the HTTP trigger's INVOKE meta written directly
 * (trigger_meta_fast, the hot path) says exactly what the jansson-built one
 * (trigger_meta_json) says: repeated headers and query keys as arrays,
 * hidden headers left out, escapes, values that are not UTF-8 replaced,
 * percent-decoding; and a path that is not UTF-8 goes to the jansson one.
 * Includes invoke.c to reach them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/gateway/invoke.c"

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
    json_decref(a);
    json_decref(b);
    free(fast);
    free(slow);
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
