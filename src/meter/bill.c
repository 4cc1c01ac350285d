/*
 * bill.c: the bill of a period's totals (see meter.h).
 *
 * GB-seconds come from the exact integer mb_ms (MB x billed ms): GB-s =
 * mb_ms / 1024 / 1000.  The free tier is taken first from the invocations
 * and the GB-s, then the rest is priced: invocations per 10,000, compute
 * per GB-s.  Costs are not rounded here; the printers round for display.
 */
#include "meter/meter.h"

#include <string.h>

void nb_meter_bill(const struct nb_meter_prices *prices, uint64_t invocations, uint64_t mb_ms,
                   struct nb_meter_bill *out)
{
    memset(out, 0, sizeof(*out));
    out->invocations = invocations;
    out->mb_ms = mb_ms;
    out->gb_s = (double)mb_ms / 1024000.0;
    out->free_invocations =
        invocations < prices->free_invocations ? invocations : prices->free_invocations;
    out->free_gb_s = out->gb_s < prices->free_gb_s ? out->gb_s : prices->free_gb_s;
    out->billable_invocations = invocations - out->free_invocations;
    out->billable_gb_s = out->gb_s - out->free_gb_s;
    out->invocations_cost =
        (double)out->billable_invocations / 10000.0 * prices->per_10k_invocations;
    out->compute_cost = out->billable_gb_s * prices->per_gb_s;
    out->total = out->invocations_cost + out->compute_cost;
}
