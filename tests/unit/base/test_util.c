/*
 * test_util.c: the hot path's printf-free formatting (base/util.c):
 * nb_fmt_u64 writes what "%llu" writes, nb_copy_cut what "%s" into a
 * bounded buffer writes, nb_fn_key what "%s/%s" writes, and refuses a key
 * that does not fit instead of cutting it; nb_query_next walks a query's
 * decoded pairs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static void test_fmt_u64(void **state)
{
    (void)state;
    const uint64_t cases[] = {0,   1,     9,           10,          99,
                              100, 12345, 4294967295u, 4294967296u, 18446744073709551615u};
    char got[24], want[24];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = nb_fmt_u64(got, cases[i]);
        snprintf(want, sizeof(want), "%llu", (unsigned long long)cases[i]);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
    }
    srand(7);
    for (int i = 0; i < 10000; i++) {
        uint64_t v = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand();
        v >>= rand() % 64;
        nb_fmt_u64(got, v);
        snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
        assert_string_equal(got, want);
    }
}

static void test_copy_cut(void **state)
{
    (void)state;
    char b[6];
    assert_int_equal(nb_copy_cut(b, sizeof(b), "abc"), 3);
    assert_string_equal(b, "abc");
    assert_int_equal(nb_copy_cut(b, sizeof(b), "abcdef"), 5);
    assert_string_equal(b, "abcde");
    assert_int_equal(nb_copy_cut(b, sizeof(b), ""), 0);
    assert_string_equal(b, "");
    assert_int_equal(nb_copy_cut(b, 1, "x"), 0);
    assert_string_equal(b, "");
}

static void test_fn_key(void **state)
{
    (void)state;
    char k[8];
    assert_int_equal(nb_fn_key(k, sizeof(k), "svc", "fn"), 6);
    assert_string_equal(k, "svc/fn");
    assert_int_equal(nb_fn_key(k, sizeof(k), "svc", "fnx"), 7); /* exactly fits */
    assert_string_equal(k, "svc/fnx");
    memcpy(k, "unchang", 8);
    assert_int_equal(nb_fn_key(k, sizeof(k), "svc", "fnxy"), -1); /* refused, not cut */
    assert_string_equal(k, "unchang");
    assert_int_equal(nb_fn_key(k, sizeof(k), "", ""), 1);
    assert_string_equal(k, "/");
}

/* Pairs in order, empty segments skipped, a bare name has the value "", '+' as asked. */
static void test_query_next(void **state)
{
    (void)state;
    const char *q = "&a=1&&b=x%20y+z&c&=v&d=&";
    const char *want[][2] = {{"a", "1"}, {"b", "x y z"}, {"c", ""}, {"", "v"}, {"d", ""}};
    size_t pos = 0, n = 0;
    char *k, *v;
    int r;
    while ((r = nb_query_next(q, &pos, 1, &k, &v)) > 0) {
        assert_true(n < 5);
        assert_string_equal(k, want[n][0]);
        assert_string_equal(v, want[n][1]);
        n++;
        free(k);
        free(v);
    }
    assert_int_equal(r, 0);
    assert_int_equal(n, 5);
    assert_int_equal(nb_query_next(q, &pos, 1, &k, &v), 0); /* stays at the end */
    pos = 0;
    assert_int_equal(nb_query_next("b=x+y", &pos, 0, &k, &v), 1);
    assert_string_equal(v, "x+y");
    free(k);
    free(v);
    pos = 0;
    assert_int_equal(nb_query_next("a=%zz&b=1", &pos, 1, &k, &v), -EINVAL);
    assert_null(k);
    assert_null(v);
    assert_int_equal(nb_query_next("a=%zz&b=1", &pos, 1, &k, &v), 1); /* past the bad pair */
    assert_string_equal(k, "b");
    free(k);
    free(v);
    pos = 0;
    assert_int_equal(nb_query_next(NULL, &pos, 1, &k, &v), 0);
    assert_int_equal(nb_query_next("", &pos, 1, &k, &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_u64),
        cmocka_unit_test(test_copy_cut),
        cmocka_unit_test(test_fn_key),
        cmocka_unit_test(test_query_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
