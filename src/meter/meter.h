/*
 * meter.h: usage metering and billing (DESIGN.md "Observability and
 * metering").
 *
 * OVERALL DESIGN
 * Every finished invocation (sync from the gateway, async from the queue's
 * executor) becomes one struct nb_usage_record (store.h), handed to
 * nb_meter_record on the loop: that only appends it to an in-memory batch
 * under a mutex.  A repeating timer (flush_ms) sends a non-empty batch to a
 * worker thread, which writes it to SQLite in one transaction (records and
 * hourly sums together, see store/usage.c), so the loop never touches the
 * disk.  Readers that need every record so far (the usage API, on a worker
 * thread) call nb_meter_sync first.  The per-invocation records are pruned
 * after record_retention_days; the hourly sums are kept.
 *
 * Billing (bill.c) is pure arithmetic over a period's totals, with the
 * prices, currency and monthly free tier of struct nb_meter_prices.
 */
#ifndef NB_METER_METER_H
#define NB_METER_METER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "store/store.h"

struct nb_meter_prices {
    double per_10k_invocations; /* default 0.0133 */
    double per_gb_s;            /* default 0.00003167 */
    uint64_t free_invocations;  /* per month; default 1,000,000 */
    double free_gb_s;           /* per month; default 400,000 */
    char currency[16];          /* default "USD" */
};

struct nb_meter_config {
    struct nb_meter_prices prices;
    unsigned flush_ms;              /* batch write period; default 500 */
    unsigned record_retention_days; /* per-invocation records; default 30 */
};

/* Fills cfg with the defaults above. */
void nb_meter_config_default(struct nb_meter_config *cfg);

struct nb_meter;

/* The meter borrows store (which must outlive it).  Loop thread. */
struct nb_meter *nb_meter_new(uv_loop_t *loop, struct nb_store *store,
                              const struct nb_meter_config *cfg);
/*
 * Queues one record (copied).  Loop thread; never blocks on disk.  The
 * fields that derive from others are completed here when left 0: billed_ms
 * from duration_us (rounded up to 1 ms, at least 1), mb_ms, time_ms.
 */
void nb_meter_record(struct nb_meter *m, const struct nb_usage_record *rec);
/*
 * Writes every record queued so far (blocking: worker threads, or the
 * loop at shutdown).  0 or -errno with err.
 */
int nb_meter_sync(struct nb_meter *m, struct nb_err *err);
/* Records queued and not yet written (any thread). */
size_t nb_meter_pending(struct nb_meter *m);
const struct nb_meter_prices *nb_meter_prices(const struct nb_meter *m);
/* Stops the flush timer (closes its handle): call before the loop's last run. */
void nb_meter_stop(struct nb_meter *m);
/* Writes what is left (blocking) and frees the meter; after the loop stopped. */
void nb_meter_free(struct nb_meter *m);

/* Billed milliseconds of an execution of duration_us: rounded up to 1 ms, at least 1. */
uint64_t nb_meter_billed_ms(uint64_t duration_us);

/* A period's bill (bill.c). */
struct nb_meter_bill {
    uint64_t invocations;
    uint64_t mb_ms; /* exact; gb_s = mb_ms / 1024000 */
    double gb_s;
    uint64_t free_invocations; /* of the free tier, used */
    double free_gb_s;
    uint64_t billable_invocations;
    double billable_gb_s;
    double invocations_cost;
    double compute_cost;
    double total;
};

/*
 * Bills invocations and mb_ms against prices, with one month's free tier
 * (the caller passes one month's totals, or documents otherwise).
 */
void nb_meter_bill(const struct nb_meter_prices *prices, uint64_t invocations, uint64_t mb_ms,
                   struct nb_meter_bill *out);

#endif
