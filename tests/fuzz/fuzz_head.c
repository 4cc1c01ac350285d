/*
 * fuzz_head.c: nb_head_parse on arbitrary HEAD metas, the strings a
 * function's shim sends with an HTTP answer (untrusted: the function runs
 * in the same process).  Besides memory errors it checks the contract: an
 * accepted meta has a status of 0..999, and its pairs, walked with
 * nb_head_next, stay inside the meta, come in whole pairs and end exactly
 * at its end.  The input is copied to a buffer of its exact size, so a
 * read past it is caught.
 *
 * fuzz-deps: src/runtime/protocol.c nb_base
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "runtime/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *m = nb_xmalloc(size ? size : 1);
    if (size)
        memcpy(m, data, size);
    const char *pairs;
    size_t plen;
    int status = nb_head_parse(m, size, &pairs, &plen);
    if (status >= 0) {
        if (status > 999 || pairs < m || pairs + plen != m + size)
            abort();
        size_t nul = 0, n = 0, pos = 0;
        for (size_t i = 0; i < plen; i++)
            nul += pairs[i] == '\0';
        const char *name, *value;
        while (nb_head_next(pairs, plen, &pos, &name, &value)) {
            if (name < pairs || value <= name || value + strlen(value) >= pairs + plen)
                abort();
            n++;
        }
        if (pos != plen || n * 2 != nul)
            abort();
    }
    free(m);
    return 0;
}
