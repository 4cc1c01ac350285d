/*
 * test_sigv4.c: AWS Signature Version 4 against AWS's published test-suite
 * vectors (get-vanilla, get-vanilla-query-order-key-case), the double
 * encoding of paths for services other than S3, Authorization parsing and
 * X-Amz-Date.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/sigv4.h"
#include "base/util.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define AUTH                                                                                       \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "            \
    "SignedHeaders=host;x-amz-date, Signature="
#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

static const struct nb_kv vector_headers[] = {
    {"Host", "example.amazonaws.com"},
    {"X-Amz-Date", "20150830T123600Z"},
    {"User-Agent", "not signed"},
};

static char *sign(const char *method, const char *path, const char *query, const struct nb_kv *h,
                  size_t nh, const char *body)
{
    struct nb_sigv4_auth a;
    assert_int_equal(nb_sigv4_parse(AUTH ZERO64, &a), 0);
    char hash[65];
    nb_sha256_hex(body, strlen(body), hash);
    char *sig =
        nb_sigv4_signature(&a, SECRET, "20150830T123600Z", method, path, query, h, nh, hash);
    nb_sigv4_release(&a);
    return sig;
}

static void test_aws_vectors(void **state)
{
    (void)state;
    char *s = sign("GET", "/", NULL, vector_headers, 3, "");
    assert_string_equal(s, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    free(s);
    /* get-vanilla-query-order-key-case: the query is sorted before signing. */
    s = sign("GET", "/", "Param2=value2&Param1=value1", vector_headers, 3, "");
    assert_string_equal(s, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    free(s);
    /* The same query sent in the canonical order signs the same. */
    s = sign("GET", "/", "Param1=value1&Param2=value2", vector_headers, 3, "");
    assert_string_equal(s, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    free(s);
}

static void test_what_the_signature_covers(void **state)
{
    (void)state;
    char *base = sign("POST", "/2015-03-31/functions/f/invocations", NULL, vector_headers, 3, "{}");
    assert_non_null(base);
    const char *other[][3] = {
        {"POST", "/2015-03-31/functions/g/invocations", NULL},
        {"PUT", "/2015-03-31/functions/f/invocations", NULL},
        {"POST", "/2015-03-31/functions/f/invocations", "Qualifier=1"},
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        char *s = sign(other[i][0], other[i][1], other[i][2], vector_headers, 3, "{}");
        assert_string_not_equal(s, base);
        free(s);
    }
    char *s = sign("POST", "/2015-03-31/functions/f/invocations", NULL, vector_headers, 3, "{ }");
    assert_string_not_equal(s, base);
    free(s);
    /* A header that is not signed changes nothing; a signed one does. */
    struct nb_kv h[3] = {vector_headers[0], vector_headers[1], {"User-Agent", "other"}};
    s = sign("POST", "/2015-03-31/functions/f/invocations", NULL, h, 3, "{}");
    assert_string_equal(s, base);
    free(s);
    h[0].value = "evil.example.com";
    s = sign("POST", "/2015-03-31/functions/f/invocations", NULL, h, 3, "{}");
    assert_string_not_equal(s, base);
    free(s);
    /* Values are trimmed and inner runs of spaces count as one. */
    h[0].value = "  example.amazonaws.com ";
    s = sign("POST", "/2015-03-31/functions/f/invocations", NULL, h, 3, "{}");
    assert_string_equal(s, base);
    free(s);
    /* A signed header that is missing: no signature at all. */
    assert_null(sign("POST", "/", NULL, vector_headers + 1, 2, ""));
    free(base);
}

/* Not S3: the path as sent is encoded once more, so "%2F" and "/" differ. */
static void test_path_double_encoding(void **state)
{
    (void)state;
    char *a = sign("POST", "/2015-03-31/functions/s%2Ff/invocations", NULL, vector_headers, 3, "");
    char *b = sign("POST", "/2015-03-31/functions/s/f/invocations", NULL, vector_headers, 3, "");
    char *c = sign("POST", "/2015-03-31//functions/./s%2Ff/x/../invocations", NULL, vector_headers,
                   3, "");
    assert_string_not_equal(a, b);
    assert_string_equal(a, c); /* empty and dot segments are normalized away */
    free(a);
    free(b);
    free(c);
    assert_null(sign("GET", "/", "a=%zz", vector_headers, 3, ""));
}

static void test_parse(void **state)
{
    (void)state;
    struct nb_sigv4_auth a;
    assert_int_equal(nb_sigv4_parse("AWS4-HMAC-SHA256 Credential=AK/20261126/eu-west-1/lambda/"
                                    "aws4_request,SignedHeaders=host;x-amz-date,Signature=" ZERO64,
                                    &a),
                     0);
    assert_string_equal(a.id, "AK");
    assert_string_equal(a.date, "20261126");
    assert_string_equal(a.region, "eu-west-1");
    assert_string_equal(a.service, "lambda");
    assert_string_equal(a.signed_headers, "host;x-amz-date");
    nb_sigv4_release(&a);
    const char *bad[] = {
        NULL,
        "",
        "FC id:sig",
        "AWS4-HMAC-SHA256 Credential=AK/20261126/r/lambda/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AK/20261126/r/lambda, SignedHeaders=host, Signature=" ZERO64,
        "AWS4-HMAC-SHA256 Credential=AK/2026/r/lambda/aws4_request, SignedHeaders=host, "
        "Signature=" ZERO64,
        "AWS4-HMAC-SHA256 Credential=/20261126/r/lambda/aws4_request, SignedHeaders=host, "
        "Signature=" ZERO64,
        "AWS4-HMAC-SHA256 Credential=AK/20261126/r/lambda/aws4_request, SignedHeaders=host, "
        "Signature=abc",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(nb_sigv4_parse(bad[i], &a), -EINVAL);
        assert_null(a.buf);
    }
    assert_int_equal(nb_sigv4_parse_date("20150830T123600Z"), 1440938160LL);
    assert_int_equal(nb_sigv4_parse_date("20150830T1236Z"), -1);
    assert_int_equal(nb_sigv4_parse_date("Sun, 30 Aug 2015 12:36:00 GMT"), -1);
    assert_int_equal(nb_sigv4_parse_date(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_vectors),
        cmocka_unit_test(test_what_the_signature_covers),
        cmocka_unit_test(test_path_double_encoding),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
