/*
 * version.c: published versions and aliases in the gateway, and qualifier
 * resolution (docs/operations.md "Versions and aliases").
 *
 * OVERALL DESIGN
 * Per service, gw->quals holds a struct quals: its versions (id -> the
 * version's functions, each a struct nb_fn parsed from the version's
 * snapshot, with its own pool, created on first use like LATEST's) and its
 * aliases.  The API sends a service's whole qualifiers doc whenever its
 * versions or aliases change; since a version never changes, the versions
 * already held are kept (warm instances stay) and only new ones are built,
 * deleted ones retired.
 *
 * A qualifier is LATEST (or none, or $LATEST), a version id (digits) or an
 * alias name.  An alias with additionalVersionWeight {v2: w} sends each
 * call to v2 with probability w: a draw u uniform in [0, 1) from a
 * xorshift128+ generator seeded from the OS goes to v2 when u < w
 * (nb_gw_alias_pick is that rule, unit-tested over 10,000 draws).
 */
#include "gateway/internal.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"

struct version {
    char *id;
    struct nb_map fns; /* function name -> struct nb_fn */
};

struct quals {
    struct nb_map versions; /* id -> struct version */
    struct nb_map aliases;  /* name -> struct nb_gw_alias */
};

static void version_free(struct version *v)
{
    if (v == NULL)
        return;
    const char *k;
    void *f;
    for (size_t i = 0; nb_map_next(&v->fns, &i, &k, &f);)
        nb_gw_fn_free(f);
    nb_map_release(&v->fns);
    free(v->id);
    free(v);
}

static void quals_free(struct quals *q)
{
    if (q == NULL)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&q->versions, &i, &k, &v);)
        version_free(v);
    nb_map_release(&q->versions);
    for (size_t i = 0; nb_map_next(&q->aliases, &i, &k, &v);)
        free(v);
    nb_map_release(&q->aliases);
    free(q);
}

static struct version *version_build(const char *service, const char *id, json_t *doc)
{
    struct version *v = nb_xcalloc(1, sizeof(*v));
    v->id = nb_xstrdup(id);
    nb_map_init(&v->fns);
    const char *name;
    json_t *snap;
    json_object_foreach(json_object_get(doc, "functions"), name, snap)
    {
        struct nb_fn *fn = nb_gw_fn_new(service, name, snap);
        fn->version = nb_xstrdup(id);
        nb_map_put(&v->fns, name, fn);
    }
    return v;
}

void nb_gw_apply_qualifiers(struct nb_gateway *gw, const char *service, json_t *doc)
{
    struct quals *old = nb_map_del(&gw->quals, service);
    json_t *versions = json_object_get(doc, "versions");
    json_t *aliases = json_object_get(doc, "aliases");
    if (json_object_size(versions) == 0 && json_object_size(aliases) == 0) {
        quals_free(old);
        return;
    }
    struct quals *q = nb_xcalloc(1, sizeof(*q));
    nb_map_init(&q->versions);
    nb_map_init(&q->aliases);
    const char *id;
    json_t *v;
    json_object_foreach(versions, id, v)
    {
        struct version *have = old ? nb_map_del(&old->versions, id) : NULL;
        nb_map_put(&q->versions, id, have ? have : version_build(service, id, v));
    }
    const char *name;
    json_object_foreach(aliases, name, v)
    {
        struct nb_gw_alias *a = nb_xcalloc(1, sizeof(*a));
        snprintf(a->version, sizeof(a->version), "%s",
                 json_string_value(json_object_get(v, "versionId")) ?: "");
        const char *v2;
        json_t *w;
        json_object_foreach(json_object_get(v, "additionalVersionWeight"), v2, w)
        {
            snprintf(a->version2, sizeof(a->version2), "%s", v2);
            a->weight = json_number_value(w);
        }
        nb_map_put(&q->aliases, name, a);
    }
    nb_map_put(&gw->quals, service, q);
    quals_free(old); /* retires the pools of deleted versions */
}

int nb_gateway_load_qualifiers(struct nb_gateway *gw, json_t *all)
{
    const char *service;
    json_t *doc;
    json_object_foreach(all, service, doc)
    {
        nb_gw_apply_qualifiers(gw, service, doc);
    }
    return 0;
}

void nb_gw_quals_clear(struct nb_gateway *gw)
{
    const char *k;
    void *v;
    for (size_t i = 0; nb_map_next(&gw->quals, &i, &k, &v);)
        quals_free(v);
    nb_map_release(&gw->quals);
    nb_map_init(&gw->quals);
}

const char *nb_gw_alias_pick(const struct nb_gw_alias *a, double u)
{
    if (a->version2[0] && u < a->weight)
        return a->version2;
    return a->version;
}

/* xorshift128+, seeded once from the OS; u uniform in [0, 1) with 53 bits. */
static double draw(void)
{
    static uint64_t s[2];
    if (s[0] == 0 && s[1] == 0) {
        nb_random_bytes(s, sizeof(s));
        if (s[0] == 0 && s[1] == 0)
            s[0] = 0x9e3779b97f4a7c15ULL;
    }
    uint64_t x = s[0];
    const uint64_t y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return (double)((s[1] + y) >> 11) * (1.0 / 9007199254740992.0);
}

static int is_latest(const char *q)
{
    return q == NULL || *q == '\0' || strcmp(q, "LATEST") == 0 || strcmp(q, "$LATEST") == 0;
}

static int is_version_id(const char *q)
{
    return q[0] >= '1' && q[0] <= '9' && strspn(q, "0123456789") == strlen(q);
}

struct nb_fn *nb_gw_resolve(struct nb_gateway *gw, const char *service, const char *function,
                            const char *qualifier, struct nb_gw_miss *miss)
{
    miss->status = 404;
    if (is_latest(qualifier)) {
        struct nb_fn *fn = nb_gw_find(gw, service, function);
        if (fn == NULL) {
            miss->code = "FunctionNotFound";
            snprintf(miss->message, sizeof(miss->message), "function '%s/%s' does not exist",
                     service, function);
        }
        return fn;
    }
    struct quals *q = nb_map_get(&gw->quals, service);
    const char *version = qualifier;
    if (!is_version_id(qualifier)) {
        struct nb_gw_alias *a = q ? nb_map_get(&q->aliases, qualifier) : NULL;
        if (a == NULL) {
            miss->code = "AliasNotFound";
            snprintf(miss->message, sizeof(miss->message),
                     "alias '%s' of service '%s' does not exist", qualifier, service);
            return NULL;
        }
        version = nb_gw_alias_pick(a, a->version2[0] ? draw() : 1.0);
    }
    struct version *v = q ? nb_map_get(&q->versions, version) : NULL;
    if (v == NULL) {
        miss->code = "VersionNotFound";
        snprintf(miss->message, sizeof(miss->message),
                 "version '%s' of service '%s' does not exist", version, service);
        return NULL;
    }
    struct nb_fn *fn = nb_map_get(&v->fns, function);
    if (fn == NULL) {
        miss->code = "FunctionNotFound";
        snprintf(miss->message, sizeof(miss->message),
                 "function '%s' is not in version %s of service '%s'", function, version, service);
    }
    return fn;
}

void nb_gw_version_pools(struct nb_gateway *gw, void (*cb)(struct nb_fn *fn, void *arg), void *arg)
{
    const char *k, *k2, *k3;
    void *q, *v, *f;
    for (size_t i = 0; nb_map_next(&gw->quals, &i, &k, &q);)
        for (size_t j = 0; nb_map_next(&((struct quals *)q)->versions, &j, &k2, &v);)
            for (size_t l = 0; nb_map_next(&((struct version *)v)->fns, &l, &k3, &f);)
                cb(f, arg);
}
