/*
 * test_meter.c: metering and billing: billed duration rounding, the bill
 * with its free tier, and that the hourly sums written by the meter equal
 * the sum of the per-invocation records exactly (store/usage.c), also
 * across hours, after a batch, and after pruning old records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "meter/meter.h"
#include "store/store.h"

struct fixture {
    char dir[64];
    char path[128];
    struct nb_store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/nb-meter-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/nubis.db", f->dir);
    struct nb_err err = {0};
    assert_int_equal(nb_store_open(f->path, &f->st, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nb_store_close(f->st);
    nb_rm_rf(f->dir);
    free(f);
    return 0;
}

static void test_billed_ms(void **state)
{
    (void)state;
    assert_int_equal(nb_meter_billed_ms(0), 1);
    assert_int_equal(nb_meter_billed_ms(1), 1);
    assert_int_equal(nb_meter_billed_ms(1000), 1);
    assert_int_equal(nb_meter_billed_ms(1001), 2);
    assert_int_equal(nb_meter_billed_ms(1234567), 1235);
}

static void test_bill(void **state)
{
    (void)state;
    struct nb_meter_config cfg;
    nb_meter_config_default(&cfg);
    struct nb_meter_bill b;
    /* inside the free tier: nothing to pay */
    nb_meter_bill(&cfg.prices, 1000, 128ull * 1000 * 1000, &b);
    assert_int_equal(b.free_invocations, 1000);
    assert_true(b.total == 0);
    assert_true(b.gb_s == 125.0); /* 128 MB for 1000 s */
    /* 3,000,000 invocations at 512 MB x 100 ms: 150,000 GB-s */
    nb_meter_bill(&cfg.prices, 3000000, 3000000ull * 512 * 100, &b);
    assert_int_equal(b.billable_invocations, 2000000);
    assert_true(b.gb_s == 150000.0);
    assert_true(b.billable_gb_s == 0);
    assert_true(b.invocations_cost > 2.6599 && b.invocations_cost < 2.6601); /* 200 x 0.0133 */
    /* over the GB-s free tier: 1,000,000 GB-s -> 600,000 billable */
    nb_meter_bill(&cfg.prices, 10, 1024000ull * 1000000, &b);
    assert_true(b.billable_gb_s == 600000.0);
    assert_true(b.compute_cost > 19.001 && b.compute_cost < 19.003); /* x 0.00003167 */
}

static void test_sums_equal_records(void **state)
{
    struct fixture *f = *state;
    struct nb_meter *m = nb_meter_new(NULL, f->st, NULL);
    /* recent hours: the meter prunes records past their retention (30 days) */
    int64_t t0 = nb_wall_ms() / 3600000LL * 3600000LL - 4 * 3600000LL;
    uint64_t want_inv = 0, want_mb_ms = 0, want_billed = 0;
    srand(7);
    for (int i = 0; i < 5000; i++) {
        struct nb_usage_record r = {.duration_us = (uint64_t)(rand() % 250000),
                                    .memory_mb = (uint32_t)(128 << (rand() % 4)),
                                    .time_ms = t0 + (int64_t)(rand() % (3 * 3600)) * 1000,
                                    .cold = rand() % 10 == 0};
        snprintf(r.service, sizeof(r.service), "s");
        snprintf(r.function, sizeof(r.function), "f%d", i % 3);
        snprintf(r.request_id, sizeof(r.request_id), "r%d", i);
        if (i % 17 == 0)
            snprintf(r.status, sizeof(r.status), "timeout");
        nb_meter_record(m, &r);
        uint64_t billed = r.duration_us ? nb_meter_billed_ms(r.duration_us) : 0;
        want_inv++;
        want_billed += billed;
        want_mb_ms += billed * r.memory_mb;
        if (i == 2500) { /* two batches */
            struct nb_err err = {0};
            assert_int_equal(nb_meter_sync(m, &err), 0);
            assert_int_equal(nb_meter_pending(m), 0);
        }
    }
    assert_int_equal(nb_meter_pending(m), 5000 - 2501);
    nb_meter_free(m); /* writes the rest */

    struct nb_err err = {0};
    struct nb_usage_sum *sums;
    size_t n;
    assert_int_equal(nb_store_usage_sums(f->st, t0, t0 + 4 * 3600000LL, NULL, &sums, &n, &err), 0);
    assert_int_equal(n, 3);
    uint64_t inv = 0, mb_ms = 0, billed = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        inv += sums[i].invocations;
        mb_ms += sums[i].mb_ms;
        billed += sums[i].billed_ms;
        errors += sums[i].errors;
    }
    nb_store_usage_sums_free(sums, n);
    assert_int_equal(inv, want_inv);
    assert_int_equal(mb_ms, want_mb_ms);
    assert_int_equal(billed, want_billed);
    assert_int_equal(errors, (5000 + 16) / 17);

    struct nb_usage_record *recs;
    assert_int_equal(
        nb_store_usage_records(f->st, t0, t0 + 4 * 3600000LL, "s", NULL, 0, &recs, &n, &err), 0);
    assert_int_equal(n, 5000);
    uint64_t rec_mb_ms = 0;
    for (size_t i = 0; i < n; i++) {
        rec_mb_ms += recs[i].mb_ms;
        assert_int_equal(recs[i].mb_ms, recs[i].billed_ms * recs[i].memory_mb);
    }
    free(recs);
    assert_int_equal(rec_mb_ms, want_mb_ms);

    /* one hour's window: sums of that hour only */
    assert_int_equal(
        nb_store_usage_sums(f->st, t0 + 3600000LL, t0 + 2 * 3600000LL, "s", &sums, &n, &err), 0);
    inv = 0;
    for (size_t i = 0; i < n; i++)
        inv += sums[i].invocations;
    nb_store_usage_sums_free(sums, n);
    assert_true(inv > 1000 && inv < 2300);

    /* pruning drops records, never the sums */
    assert_int_equal(nb_store_usage_prune(f->st, t0 + 10 * 3600000LL, &err), 0);
    assert_int_equal(
        nb_store_usage_records(f->st, 0, t0 + 10 * 3600000LL, NULL, NULL, 0, &recs, &n, &err), 0);
    assert_int_equal(n, 0);
    free(recs);
    assert_int_equal(nb_store_usage_sums(f->st, t0, t0 + 4 * 3600000LL, NULL, &sums, &n, &err), 0);
    inv = 0;
    for (size_t i = 0; i < n; i++)
        inv += sums[i].invocations;
    nb_store_usage_sums_free(sums, n);
    assert_int_equal(inv, want_inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_billed_ms),
        cmocka_unit_test(test_bill),
        cmocka_unit_test_setup_teardown(test_sums_equal_records, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
