/*
 * fuzz_fields.h: the input layout the signature fuzzers share: fields
 * separated by '\n' (up to nfield; missing ones NULL), then header lines
 * "name:value" up to the end (lines without ':' skipped).  Splits buf in
 * place; returns the number of headers.
 */
#ifndef NB_FUZZ_FIELDS_H
#define NB_FUZZ_FIELDS_H

#include <stddef.h>
#include <string.h>

#include "base/kv.h"

static inline size_t fuzz_fields(char *buf, char **field, size_t nfield, struct nb_kv *headers,
                                 size_t maxh)
{
    size_t nf = 0, nh = 0;
    char *p = buf;
    for (size_t i = 0; i < nfield; i++)
        field[i] = NULL;
    while (p && nf < nfield) {
        field[nf++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    while (p && nh < maxh) {
        char *line = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[nh++] = (struct nb_kv){line, colon + 1};
    }
    return nh;
}

#endif
