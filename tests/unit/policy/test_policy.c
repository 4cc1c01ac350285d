/*
 * test_policy.c: CIDR parsing and matching (IPv4, IPv6, mapped), allow/deny
 * precedence, token-bucket arithmetic and CORS origin decisions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

static void test_cidr(void **state)
{
    (void)state;
    struct nb_cidr c;
    assert_int_equal(nb_cidr_parse("10.0.0.0/8", &c), 0);
    assert_int_equal(c.family, 4);
    assert_int_equal(c.bits, 8);
    assert_int_equal(nb_cidr_parse("2001:db8::/32", &c), 0);
    assert_int_equal(c.family, 6);
    assert_int_equal(nb_cidr_parse("::ffff:10.0.0.0/104", &c), 0);
    assert_int_equal(c.family, 4);
    assert_int_equal(c.bits, 8);
    const char *bad[] = {"10.0.0.0/33", "::1/129", "10.0.0/8", "x", "10.0.0.0/", "1.2.3.4/-1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(nb_cidr_parse(bad[i], &c), -EINVAL);
}

static void test_acl(void **state)
{
    (void)state;
    json_t *v =
        json_loads("{\"allow\": [\"10.0.0.0/8\", \"::1\"], \"deny\": [\"10.1.0.0/16\"]}", 0, NULL);
    struct nb_ipacl acl;
    struct nb_err err = {0};
    assert_int_equal(nb_ipacl_parse(v, "ipAcl", &acl, &err), 0);
    assert_true(nb_ipacl_allows(&acl, "10.2.3.4"));
    assert_true(nb_ipacl_allows(&acl, "::ffff:10.2.3.4"));
    assert_false(nb_ipacl_allows(&acl, "10.1.3.4"));
    assert_false(nb_ipacl_allows(&acl, "11.0.0.1"));
    assert_true(nb_ipacl_allows(&acl, "::1"));
    assert_false(nb_ipacl_allows(&acl, "::2"));
    assert_false(nb_ipacl_allows(&acl, "garbage"));
    nb_ipacl_release(&acl);
    json_decref(v);
    v = json_loads("{\"allow\": [\"1.2.3.4/40\"]}", 0, NULL);
    assert_int_equal(nb_ipacl_parse(v, "ipAcl", &acl, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "ipAcl.allow[0]"));
    json_decref(v);
    struct nb_ipacl empty = {0};
    assert_true(nb_ipacl_allows(&empty, "anything"));
}

static void test_bucket(void **state)
{
    (void)state;
    struct nb_rate r = {.qps = 10, .burst = 3};
    struct nb_bucket b = {0};
    uint64_t t = 1000000000ull;
    for (int i = 0; i < 3; i++)
        assert_true(nb_bucket_take(&b, &r, t) == 0);
    double wait = nb_bucket_take(&b, &r, t);
    assert_true(wait > 0.099 && wait < 0.101);
    assert_true(nb_bucket_take(&b, &r, t + 100000000ull) == 0); /* 100 ms: one token */
    assert_true(nb_bucket_take(&b, &r, t + 100000000ull) > 0);
    assert_false(nb_bucket_idle(&b, &r, t + 200000000ull));
    assert_true(nb_bucket_idle(&b, &r, t + 1000000000ull));
    /* over 10 s at most burst + qps * 10 pass */
    struct nb_bucket c = {0};
    int passed = 0;
    for (uint64_t ns = 0; ns <= 10000000000ull; ns += 1000000ull)
        passed += nb_bucket_take(&c, &r, t + ns) == 0;
    assert_true(passed >= 102 && passed <= 104);
}

static void test_cors(void **state)
{
    (void)state;
    struct nb_cors c;
    struct nb_err err = {0};
    json_t *v = json_loads("{\"allowOrigins\": [\"https://a.example\"], \"allowMethods\": [\"GET\","
                           " \"POST\"], \"maxAge\": 60}",
                           0, NULL);
    assert_int_equal(nb_cors_parse(v, "cors", &c, &err), 0);
    assert_string_equal(c.methods, "GET, POST");
    assert_int_equal(c.max_age, 60);
    assert_string_equal(nb_cors_allow_origin(&c, "https://a.example"), "https://a.example");
    assert_null(nb_cors_allow_origin(&c, "https://b.example"));
    assert_null(nb_cors_allow_origin(&c, NULL));
    nb_cors_release(&c);
    json_decref(v);
    v = json_loads("{\"allowOrigins\": [\"*\"], \"allowCredentials\": true}", 0, NULL);
    assert_int_equal(nb_cors_parse(v, "cors", &c, &err), 0);
    assert_string_equal(nb_cors_allow_origin(&c, "https://x.example"), "https://x.example");
    nb_cors_release(&c);
    json_decref(v);
    v = json_loads("{\"allowOrigins\": [\"*\"], \"bogus\": 1}", 0, NULL);
    assert_int_equal(nb_cors_parse(v, "cors", &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "bogus"));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_acl),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_cors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
