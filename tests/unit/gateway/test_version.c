/*
 * test_version.c: the canary split of aliases (gateway/version.c): the
 * pick rule and the generator together send 10 % of 10,000 draws to the
 * second version within 3 percentage points (and 0 % / 100 % exactly at
 * the bounds).  Includes version.c to reach its generator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/gateway/version.c"

static double share_of_v2(double weight, int n)
{
    struct nb_gw_alias a = {.version = "1", .version2 = "2", .weight = weight};
    int v2 = 0;
    for (int i = 0; i < n; i++)
        v2 += strcmp(nb_gw_alias_pick(&a, draw()), "2") == 0;
    return (double)v2 / n;
}

static void test_split_90_10(void **state)
{
    (void)state;
    double s = share_of_v2(0.1, 10000);
    print_message("canary share over 10,000 draws: %.2f %% (want 10 +- 3)\n", s * 100);
    assert_true(s > 0.07 && s < 0.13);
    s = share_of_v2(0.5, 10000);
    assert_true(s > 0.47 && s < 0.53);
}

static void test_bounds(void **state)
{
    (void)state;
    assert_true(share_of_v2(0, 2000) == 0.0);
    assert_true(share_of_v2(1, 2000) == 1.0);
    struct nb_gw_alias one = {.version = "3", .weight = 0.9}; /* no second version */
    assert_string_equal(nb_gw_alias_pick(&one, 0.0), "3");
}

static void test_draw_range(void **state)
{
    (void)state;
    double lo = 1, hi = 0, sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = draw();
        assert_true(u >= 0 && u < 1);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
    }
    assert_true(lo < 0.001 && hi > 0.999);
    assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_90_10),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_draw_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
