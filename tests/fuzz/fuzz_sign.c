/*
 * fuzz_sign.c: the FC signature's parsers and canonicalization
 * (src/auth/sign.c): nb_sign_string_to_sign with fuzzed method, headers,
 * path and query; nb_sign_parse_authorization; nb_sign_parse_date, whose
 * accepted dates must survive a format/parse round trip.
 *
 * Input layout: fields separated by '\n': method, content-md5,
 * content-type, date, path, query, authorization, then header lines
 * "name:value" up to the end.
 *
 * fuzz-deps: nb_auth nb_base
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sign.h"
#include "base/alloc.h"
#include "fuzz_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 7
#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *buf = nb_xstrndup((const char *)data, size);
    char *field[MAX_FIELDS];
    struct nb_kv headers[MAX_HEADERS];
    size_t nh = fuzz_fields(buf, field, MAX_FIELDS, headers, MAX_HEADERS);

    char *sts = nb_sign_string_to_sign(field[0], field[1], field[2], field[3], headers, nh,
                                       field[4], field[5]);
    if (sts) {
        char *sig = nb_sign_compute("secret", sts);
        if (sig == NULL || strlen(sig) != 44)
            abort();
        free(sig);
        free(sts);
    }

    char *abuf;
    const char *id, *sig;
    if (nb_sign_parse_authorization(field[6], &abuf, &id, &sig) == 0) {
        if (!id[0] || !sig[0] || strchr(id, ':'))
            abort();
    }
    free(abuf);

    long long t = nb_sign_parse_date(field[3]);
    if (t >= 0 && t < 253402300800LL) { /* before year 10000: formattable */
        char out[40];
        nb_sign_format_date(t, out);
        if (nb_sign_parse_date(out) != t)
            abort();
    }
    free(buf);
    return 0;
}
