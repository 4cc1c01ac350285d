/*
 * fuzz_router.c: nb_route_parse on arbitrary paths.  Besides memory errors
 * it checks the router's contract: a trigger route has valid, decoded names
 * without '/', a rest that starts with '/', and decoding never invents a
 * separator inside a name.
 *
 * fuzz-deps: src/gateway/router.c nb_base
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "gateway/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 128 || strchr(s, '/'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *path = nb_xstrndup((const char *)data, size); /* stops at a NUL, as the server does */
    struct nb_route r;
    nb_route_parse(path, &r);
    switch (r.kind) {
    case NB_ROUTE_TRIGGER:
        check_name(r.service);
        check_name(r.function);
        if (r.qualifier)
            check_name(r.qualifier);
        if (r.rest == NULL || r.rest[0] != '/')
            abort();
        break;
    case NB_ROUTE_INVOKE:
    case NB_ROUTE_LOGS:
        check_name(r.service);
        check_name(r.function);
        break;
    default:
        break;
    }
    if (r.kind != NB_ROUTE_BAD && r.decoded == NULL)
        abort();
    nb_route_release(&r);
    free(path);
    return 0;
}
