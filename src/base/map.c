/*
 * map.c: string-keyed open-addressing hash map (see map.h).
 */
#include "base/map.h"
#include "base/alloc.h"

#include <string.h>

static unsigned hash_bytes(const char *s, size_t n)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

void nb_map_init(struct nb_map *m)
{
    m->slots = NULL;
    m->cap = m->len = m->used = 0;
}

void nb_map_release(struct nb_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    nb_map_init(m);
}

static struct nb_map_entry *find(const struct nb_map *m, const char *key, size_t klen, unsigned h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct nb_map_entry *e = &m->slots[i];
        if (e->key == NULL && !e->tomb)
            return NULL;
        if (e->key && e->hash == h && strncmp(e->key, key, klen) == 0 && e->key[klen] == '\0')
            return e;
    }
}

void *nb_map_getn(const struct nb_map *m, const char *key, size_t klen)
{
    struct nb_map_entry *e = find(m, key, klen, hash_bytes(key, klen));
    return e ? e->value : NULL;
}

void *nb_map_get(const struct nb_map *m, const char *key)
{
    return nb_map_getn(m, key, strlen(key));
}

static void insert_slot(struct nb_map *m, char *key, unsigned h, void *value)
{
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key != NULL || m->slots[i].tomb)
        i = (i + 1) & (m->cap - 1);
    m->slots[i].key = key;
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->slots[i].tomb = 0;
}

static void rehash(struct nb_map *m, size_t cap)
{
    struct nb_map_entry *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = nb_xcalloc(cap, sizeof(*m->slots));
    m->cap = cap;
    m->used = m->len;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            insert_slot(m, old[i].key, old[i].hash, old[i].value);
    free(old);
}

void *nb_map_put(struct nb_map *m, const char *key, void *value)
{
    size_t klen = strlen(key);
    unsigned h = hash_bytes(key, klen);
    struct nb_map_entry *e = find(m, key, klen, h);
    if (e) {
        void *prev = e->value;
        e->value = value;
        return prev;
    }
    if ((m->used + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->len * 4 >= m->cap ? m->cap * 2 : m->cap) : 16);
    insert_slot(m, nb_xstrndup(key, klen), h, value);
    m->len++;
    m->used++;
    return NULL;
}

void *nb_map_del(struct nb_map *m, const char *key)
{
    size_t klen = strlen(key);
    struct nb_map_entry *e = find(m, key, klen, hash_bytes(key, klen));
    if (e == NULL)
        return NULL;
    void *v = e->value;
    free(e->key);
    e->key = NULL;
    e->value = NULL;
    e->tomb = 1;
    m->len--;
    return v;
}

int nb_map_next(const struct nb_map *m, size_t *iter, const char **key, void **value)
{
    for (; *iter < m->cap; (*iter)++) {
        struct nb_map_entry *e = &m->slots[*iter];
        if (e->key) {
            if (key)
                *key = e->key;
            if (value)
                *value = e->value;
            (*iter)++;
            return 1;
        }
    }
    return 0;
}
