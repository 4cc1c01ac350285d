/*
 * map.h: a string-keyed hash map (open addressing, linear probing).
 *
 * Keys are copied and owned by the map; values are opaque pointers owned by
 * the caller.  Lookups are O(1) whatever the size, which keeps routing flat
 * in the number of functions.
 */
#ifndef NB_BASE_MAP_H
#define NB_BASE_MAP_H

#include <stddef.h>

struct nb_map_entry {
    char *key; /* NULL: empty slot */
    void *value;
    unsigned hash;
    int tomb;
};

struct nb_map {
    struct nb_map_entry *slots;
    size_t cap; /* power of two */
    size_t len;
    size_t used; /* len + tombstones */
};

void nb_map_init(struct nb_map *m);
/* Frees the keys and the table, not the values. */
void nb_map_release(struct nb_map *m);
void *nb_map_get(const struct nb_map *m, const char *key);
void *nb_map_getn(const struct nb_map *m, const char *key, size_t klen);
/* Sets key to value; returns the previous value or NULL. */
void *nb_map_put(struct nb_map *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *nb_map_del(struct nb_map *m, const char *key);
/*
 * Iteration: `for (size_t i = 0; nb_map_next(m, &i, &k, &v);)`; do not
 * insert while iterating (deleting the current key is fine).
 */
int nb_map_next(const struct nb_map *m, size_t *iter, const char **key, void **value);

#endif
