/*
 * test_sign.c: the FC signature against fc-nodejs-sdk's own test vector
 * (test/helper.test.js), the /proxy/ query rules, Authorization parsing and
 * RFC 1123 dates.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/sign.h"

/* The SDK vector's headers: x-fcdummy and test are not x-fc- headers. */
static const struct nb_kv sdk_headers[] = {
    {"content-md5", "1bca714f406993b309bb87fabeb30a6b"},
    {"content-type", "text/json"},
    {"date", "today"},
    {"x-fc-foo", "123"},
    {"x-fc-bar", "xyz"},
    {"x-fcdummy", "dummy"},
    {"test", "foo"},
};

#define SDK_PREFIX                                                                                 \
    "GET\n1bca714f406993b309bb87fabeb30a6b\ntext/json\ntoday\nx-fc-bar:xyz\nx-fc-foo:123\n"
#define SDK_QUERY_LINES                                                                            \
    "foo=bar\nkey1=abc\nkey1=xyz\nkey2=123\nkey3 with-escaped~chars_here.ext=value "               \
    "with-escaped~chars_here.ext"

/*
 * The SDK helper's exact expected string.  The helper appends query lines
 * whenever it is given queries; its client (and so this API) only does so
 * for /proxy/ paths, so the query part is checked on a proxy path below.
 */
static void test_sdk_vector_no_query(void **state)
{
    (void)state;
    char *s = nb_sign_string_to_sign("GET", "1bca714f406993b309bb87fabeb30a6b", "text/json",
                                     "today", sdk_headers, 7,
                                     "/path/action%20with-escaped~chars_here.ext", "foo=bar");
    assert_non_null(s);
    assert_string_equal(s, SDK_PREFIX "/path/action with-escaped~chars_here.ext");
    free(s);
}

static void test_sdk_vector_signature(void **state)
{
    (void)state;
    /* The full SDK string, signed with "secret" (HMAC from Node's crypto). */
    const char *sts = SDK_PREFIX "/path/action with-escaped~chars_here.ext\n" SDK_QUERY_LINES;
    char *sig = nb_sign_compute("secret", sts);
    assert_string_equal(sig, "NTyPaXYf3Ov7dlYqr1J/oZCZQgkW8MAzld+kR80NMRs=");
    free(sig);
}

static void test_sdk_vector_proxy_queries(void **state)
{
    (void)state;
    /* The SDK's queries, encoded as they go on the wire, in a scrambled order. */
    const char *query = "key3%20with-escaped~chars_here.ext=value+with-escaped~chars_here.ext"
                        "&key1=xyz&key2=123&foo=bar&key1=abc";
    char *s = nb_sign_string_to_sign("GET", "1bca714f406993b309bb87fabeb30a6b", "text/json",
                                     "today", sdk_headers, 7, "/2016-08-15/proxy/s/f/a%20b", query);
    assert_non_null(s);
    assert_string_equal(s, SDK_PREFIX "/2016-08-15/proxy/s/f/a b\n" SDK_QUERY_LINES);
    free(s);
}

static void test_proxy_repeated_and_valueless_keys(void **state)
{
    (void)state;
    /* Node's querystring.parse gives {"b":"2","a":["1","0"],"c":"","d":"x y+z"}. */
    char *s = nb_sign_string_to_sign("POST", NULL, NULL, "d", NULL, 0, "/2016-08-15/proxy/s/f/",
                                     "b=2&a=1&a=0&&c&d=x+y%2Bz");
    assert_non_null(s);
    assert_string_equal(s, "POST\n\n\nd\n/2016-08-15/proxy/s/f/\na=0\na=1\nb=2\nc=\nd=x y+z");
    free(s);
}

static void test_proxy_empty_query_trailing_newline(void **state)
{
    (void)state;
    char *s =
        nb_sign_string_to_sign("GET", NULL, NULL, "d", NULL, 0, "/2016-08-15/proxy/s/f/x", "");
    assert_string_equal(s, "GET\n\n\nd\n/2016-08-15/proxy/s/f/x\n");
    free(s);
    s = nb_sign_string_to_sign("GET", NULL, NULL, "d", NULL, 0, "/2016-08-15/proxy/s/f/x", NULL);
    assert_string_equal(s, "GET\n\n\nd\n/2016-08-15/proxy/s/f/x\n");
    free(s);
}

static void test_proxy_only_after_version(void **state)
{
    (void)state;
    /* A service named "proxy" is not the proxy route: no query lines. */
    char *s = nb_sign_string_to_sign("GET", NULL, NULL, "d", NULL, 0,
                                     "/2016-08-15/services/proxy/functions", "limit=1");
    assert_string_equal(s, "GET\n\n\nd\n/2016-08-15/services/proxy/functions");
    free(s);
    s = nb_sign_string_to_sign("GET", NULL, NULL, "d", NULL, 0, "/proxy/s/f", "a=1");
    assert_string_equal(s, "GET\n\n\nd\n/proxy/s/f");
    free(s);
}

static void test_headers_case_trim_and_api_path(void **state)
{
    (void)state;
    const struct nb_kv h[] = {
        {" X-Fc-Log-Type ", "  Tail "},
        {"X-FC-Account-Id", "123"},
        {"Host", "x"},
    };
    char *s =
        nb_sign_string_to_sign("PUT", "md5", "application/json", "Wed, 25 Nov 2026 18:00:00 GMT", h,
                               3, "/api/v1/services/my%2Dsvc", "ignored=1");
    assert_string_equal(s, "PUT\nmd5\napplication/json\nWed, 25 Nov 2026 18:00:00 GMT\n"
                           "x-fc-account-id:123\nx-fc-log-type:Tail\n/api/v1/services/my-svc");
    free(s);
}

static void test_known_signature(void **state)
{
    (void)state;
    char *s =
        nb_sign_string_to_sign("POST", NULL, "application/json", "Wed, 25 Nov 2026 18:00:00 GMT",
                               NULL, 0, "/api/v1/services", NULL);
    char *sig = nb_sign_compute("s3cr3t", s);
    assert_string_equal(sig, "Fdi7uDlkgR8krEAvdybe4e8NPPGLjvbjQ+j+G98DaAQ=");
    free(sig);
    free(s);
}

static void test_bad_escapes(void **state)
{
    (void)state;
    assert_null(nb_sign_string_to_sign("GET", NULL, NULL, "d", NULL, 0, "/a%zz", NULL));
    assert_null(nb_sign_string_to_sign("GET", NULL, NULL, "d", NULL, 0, "/a%00b", NULL));
    assert_null(
        nb_sign_string_to_sign("GET", NULL, NULL, "d", NULL, 0, "/2016-08-15/proxy/a", "k=%2"));
}

static void test_parse_authorization(void **state)
{
    (void)state;
    char *buf;
    const char *id, *sig;
    assert_int_equal(nb_sign_parse_authorization("FC key1:abc+/=", &buf, &id, &sig), 0);
    assert_string_equal(id, "key1");
    assert_string_equal(sig, "abc+/=");
    free(buf);
    assert_int_equal(nb_sign_parse_authorization("FC key:sig:with:colons", &buf, &id, &sig), 0);
    assert_string_equal(id, "key");
    assert_string_equal(sig, "sig:with:colons");
    free(buf);
    assert_int_equal(nb_sign_parse_authorization("Bearer x:y", &buf, &id, &sig), -EINVAL);
    assert_null(buf);
    assert_int_equal(nb_sign_parse_authorization("FC nocolon", &buf, &id, &sig), -EINVAL);
    assert_int_equal(nb_sign_parse_authorization("FC :sig", &buf, &id, &sig), -EINVAL);
    assert_int_equal(nb_sign_parse_authorization("FC id:", &buf, &id, &sig), -EINVAL);
    assert_int_equal(nb_sign_parse_authorization(NULL, &buf, &id, &sig), -EINVAL);
}

static void test_dates(void **state)
{
    (void)state;
    /* 2026-11-25T18:00:00Z */
    assert_int_equal(nb_sign_parse_date("Wed, 25 Nov 2026 18:00:00 GMT"), 1795629600LL);
    assert_int_equal(nb_sign_parse_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_int_equal(nb_sign_parse_date("Wed, 25 Nov 2026 18:00:00 CET"), -1);
    assert_int_equal(nb_sign_parse_date("Wed, 25 Foo 2026 18:00:00 GMT"), -1);
    assert_int_equal(nb_sign_parse_date("Wed, 25 Nov 2026 25:00:00 GMT"), -1);
    assert_int_equal(nb_sign_parse_date("Wed, 25 Nov 2026 18:00:00 GMT junk"), -1);
    assert_int_equal(nb_sign_parse_date("2026-11-25T18:00:00Z"), -1);
    assert_int_equal(nb_sign_parse_date(""), -1);
    assert_int_equal(nb_sign_parse_date(NULL), -1);

    char out[40];
    nb_sign_format_date(1795629600LL, out);
    assert_string_equal(out, "Wed, 25 Nov 2026 18:00:00 GMT");
    nb_sign_format_date(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    for (long long t = 0; t < 4000000000LL; t += 86400 * 37 + 3601)
        nb_sign_format_date(t, out), assert_int_equal(nb_sign_parse_date(out), t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdk_vector_no_query),
        cmocka_unit_test(test_sdk_vector_signature),
        cmocka_unit_test(test_sdk_vector_proxy_queries),
        cmocka_unit_test(test_proxy_repeated_and_valueless_keys),
        cmocka_unit_test(test_proxy_empty_query_trailing_newline),
        cmocka_unit_test(test_proxy_only_after_version),
        cmocka_unit_test(test_headers_case_trim_and_api_path),
        cmocka_unit_test(test_known_signature),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_parse_authorization),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
