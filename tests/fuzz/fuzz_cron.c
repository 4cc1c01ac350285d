/*
 * fuzz_cron.c: libFuzzer target for the cronExpression parser and the
 * next-fire search (timer/cron.c).  Any input must parse or fail cleanly,
 * and a parsed schedule's next fire must be after the start (or -1) and a
 * fixed point: the fire after (next - 1 ms) is next again.
 *
 * fuzz-deps: src/timer/cron.c
 * Run: cmake -DNB_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && make fuzz-cron
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timer/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct nb_cron c;
    struct nb_err err = {0};
    if (nb_cron_parse(s, &c, &err) == 0) {
        /* a few starts: the epoch, a leap day, 2038 */
        static const int64_t starts[] = {0, 951782400000LL, 2145916799000LL};
        for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
            int64_t n = nb_cron_next(&c, starts[i]);
            if (n == -1)
                continue;
            if (n <= starts[i] || nb_cron_next(&c, n - 1) != n)
                abort();
        }
    } else if (err.msg[0] == '\0') {
        abort(); /* a failure must say why */
    }
    free(s);
    return 0;
}
