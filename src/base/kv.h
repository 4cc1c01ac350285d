/*
 * kv.h: a borrowed name/value pair, used for HTTP headers and query pairs.
 * Neither string is owned by the pair.
 */
#ifndef NB_BASE_KV_H
#define NB_BASE_KV_H

struct nb_kv {
    const char *key;
    const char *value;
};

#endif
