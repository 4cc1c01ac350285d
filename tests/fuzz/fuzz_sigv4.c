/*
 * fuzz_sigv4.c: AWS Signature Version 4's parsers and canonicalization
 * (src/auth/sigv4.c): nb_sigv4_parse of a fuzzed Authorization header, and
 * for one that parses, nb_sigv4_signature over a fuzzed method, path, query
 * and headers (a signature is 64 lowercase hex digits, or NULL); and
 * nb_sigv4_parse_date.
 *
 * Input layout: fields separated by '\n': authorization, x-amz-date, method,
 * path, query, then header lines "name:value" up to the end.
 *
 * fuzz-deps: nb_auth nb_base
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv4.h"
#include "base/alloc.h"
#include "fuzz_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 5
#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *buf = nb_xstrndup((const char *)data, size);
    char *field[MAX_FIELDS];
    struct nb_kv headers[MAX_HEADERS];
    size_t nh = fuzz_fields(buf, field, MAX_FIELDS, headers, MAX_HEADERS);
    nb_sigv4_parse_date(field[1]);
    struct nb_sigv4_auth a;
    if (nb_sigv4_parse(field[0], &a) == 0) {
        if (!a.id || !a.date || !a.region || !a.service || !a.signed_headers || !a.signature)
            abort();
        if (field[2] && field[3]) {
            char *sig = nb_sigv4_signature(&a, "secret", field[1] ? field[1] : "", field[2],
                                           field[3], field[4], headers, nh, "e3b0c442");
            if (sig && (strlen(sig) != 64 || strspn(sig, "0123456789abcdef") != 64))
                abort();
            free(sig);
        }
        nb_sigv4_release(&a);
    } else if (a.buf) {
        abort();
    }
    free(buf);
    return 0;
}
