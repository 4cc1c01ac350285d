/*
 * config.c: the daemon's YAML configuration file (see config.h).
 *
 * The file is loaded with libyaml's document API (the manifest uses the
 * same library) and walked against a table of keys: each has a dotted path,
 * a type and bounds, and where its value goes.  Sections are mappings;
 * every key is optional; an unknown key, a wrong type or an out-of-range
 * value is an error that names the line and the key path, and the daemon
 * does not start.
 */
#include "daemon/config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/alloc.h"

void nb_daemon_config_default(struct nb_daemon_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = nb_xstrdup("127.0.0.1:9000");
    cfg->max_sync_body = 32u << 20;
    cfg->max_mgmt_body = 72u << 20;
    cfg->max_header_bytes = 8192;
    cfg->max_url_bytes = 4096;
    cfg->header_timeout_s = 10;
    cfg->body_timeout_s = 30;
    cfg->keepalive_timeout_s = 60;
    cfg->max_connections = 10000;
    cfg->max_body_buffered = 1ull << 30;
    cfg->max_instances = 100;
    cfg->idle_timeout_s = 300;
    cfg->max_queue = 1000;
    cfg->queue_timeout_s = 10;
    cfg->prewarm = 1;
    cfg->log_max_bytes = 8u << 20;
    nb_meter_config_default(&cfg->meter);
}

void nb_daemon_config_release(struct nb_daemon_config *cfg)
{
    free(cfg->listen);
    free(cfg->data_dir);
    free(cfg->runtimes_dir);
    memset(cfg, 0, sizeof(*cfg));
}

enum kind { K_STR, K_U64, K_UINT, K_INT, K_REAL, K_CURRENCY };

struct key {
    const char *path;
    enum kind kind;
    size_t offset;
    double min, max;
};

#define OFF(f) offsetof(struct nb_daemon_config, f)
static const struct key keys[] = {
    {"listen", K_STR, OFF(listen), 0, 0},
    {"dataDir", K_STR, OFF(data_dir), 0, 0},
    {"runtimesDir", K_STR, OFF(runtimes_dir), 0, 0},
    {"limits.maxSyncBodyBytes", K_U64, OFF(max_sync_body), 1024, 1u << 30},
    {"limits.maxManagementBodyBytes", K_U64, OFF(max_mgmt_body), 1024, 1u << 30},
    {"limits.maxHeaderBytes", K_U64, OFF(max_header_bytes), 1024, 1 << 20},
    {"limits.maxUrlBytes", K_U64, OFF(max_url_bytes), 256, 1 << 20},
    {"limits.headerTimeout", K_UINT, OFF(header_timeout_s), 1, 3600},
    {"limits.bodyTimeout", K_UINT, OFF(body_timeout_s), 1, 3600},
    {"limits.keepAliveTimeout", K_UINT, OFF(keepalive_timeout_s), 1, 86400},
    {"limits.maxConnections", K_UINT, OFF(max_connections), 1, 1000000},
    {"limits.maxBufferedBodyBytes", K_U64, OFF(max_body_buffered), 1 << 20, 1ull << 40},
    {"pool.maxInstances", K_INT, OFF(max_instances), 1, 10000},
    {"pool.idleTimeout", K_UINT, OFF(idle_timeout_s), 1, 86400},
    {"pool.maxQueue", K_INT, OFF(max_queue), 1, 1000000},
    {"pool.queueTimeout", K_UINT, OFF(queue_timeout_s), 1, 3600},
    {"pool.prewarm", K_INT, OFF(prewarm), 0, 16},
    {"logs.maxBytesPerFunction", K_U64, OFF(log_max_bytes), 4096, 1ull << 36},
    {"billing.currency", K_CURRENCY, OFF(meter.prices.currency), 0, 0},
    {"billing.pricePer10kInvocations", K_REAL, OFF(meter.prices.per_10k_invocations), 0, 1e9},
    {"billing.pricePerGbSecond", K_REAL, OFF(meter.prices.per_gb_s), 0, 1e9},
    {"billing.freeInvocationsPerMonth", K_U64, OFF(meter.prices.free_invocations), 0, 1e15},
    {"billing.freeGbSecondsPerMonth", K_REAL, OFF(meter.prices.free_gb_s), 0, 1e15},
    {"usage.recordRetentionDays", K_UINT, OFF(meter.record_retention_days), 1, 36500},
    {"usage.flushInterval", K_UINT, OFF(meter.flush_ms), 10, 60000},
};

static int fail(struct nb_err *err, const char *file, const yaml_node_t *n, const char *path,
                const char *what)
{
    return nb_err_set(err, -EINVAL, "config '%s' line %lu: %s: %s", file,
                      n ? (unsigned long)n->start_mark.line + 1 : 0UL, path, what);
}

static int set(const struct key *k, const char *file, const yaml_node_t *n, char *cfg,
               struct nb_err *err)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail(err, file, n, k->path, "must be a single value");
    const char *v = (const char *)n->data.scalar.value;
    char *end = NULL;
    char msg[160];
    switch (k->kind) {
    case K_STR: {
        char **dst = (char **)(cfg + k->offset);
        if (!*v)
            return fail(err, file, n, k->path, "must not be empty");
        free(*dst);
        *dst = nb_xstrdup(v);
        return 0;
    }
    case K_CURRENCY: {
        size_t len = strlen(v);
        if (len == 0 || len > 15)
            return fail(err, file, n, k->path, "must be 1 to 15 characters (e.g. USD)");
        memcpy(cfg + k->offset, v, len + 1);
        return 0;
    }
    case K_REAL: {
        double d = strtod(v, &end);
        if (!*v || *end || !isfinite(d) || d < k->min || d > k->max) {
            snprintf(msg, sizeof(msg), "must be a number between %g and %g", k->min, k->max);
            return fail(err, file, n, k->path, msg);
        }
        *(double *)(cfg + k->offset) = d;
        return 0;
    }
    default: {
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (!*v || *end || *v == '-' || errno || (double)u < k->min || (double)u > k->max) {
            snprintf(msg, sizeof(msg), "must be an integer between %.0f and %.0f", k->min, k->max);
            return fail(err, file, n, k->path, msg);
        }
        if (k->kind == K_U64)
            *(uint64_t *)(cfg + k->offset) = u;
        else if (k->kind == K_UINT)
            *(unsigned *)(cfg + k->offset) = (unsigned)u;
        else
            *(int *)(cfg + k->offset) = (int)u;
        return 0;
    }
    }
}

/* Walks a mapping whose keys are under prefix ("" at the top). */
static int walk(yaml_document_t *doc, yaml_node_t *map, const char *prefix, const char *file,
                struct nb_daemon_config *cfg, struct nb_err *err)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(err, file, map, *prefix ? prefix : "(top)", "must be a mapping of keys");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
            return fail(err, file, kn, prefix, "keys must be plain names");
        char path[200];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
                 (const char *)kn->data.scalar.value);
        if (vn->type == YAML_MAPPING_NODE) {
            int r = walk(doc, vn, path, file, cfg, err);
            if (r < 0)
                return r;
            continue;
        }
        const struct key *k = NULL;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !k; i++)
            if (strcmp(keys[i].path, path) == 0)
                k = &keys[i];
        if (k == NULL) {
            size_t plen = strlen(path);
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (strncmp(keys[i].path, path, plen) == 0 && keys[i].path[plen] == '.')
                    return fail(err, file, vn, path, "must be a mapping of keys");
            return fail(err, file, kn, path, "unknown key (see docs/operations.md)");
        }
        if (vn->type == YAML_SCALAR_NODE && vn->data.scalar.length == 0 &&
            vn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            continue; /* `key:` with no value keeps the default */
        int r = set(k, file, vn, (char *)cfg, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int nb_daemon_config_load(const char *path, struct nb_daemon_config *cfg, struct nb_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nb_err_set(err, -errno, "config '%s': %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int r = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        r = nb_err_set(err, -EINVAL, "config '%s' line %lu: %s", path,
                       (unsigned long)parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "invalid YAML");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root != NULL && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
            r = walk(&doc, root, "", path, cfg, err);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    uint64_t body =
        cfg->max_mgmt_body > cfg->max_sync_body ? cfg->max_mgmt_body : cfg->max_sync_body;
    if (r == 0 && cfg->max_body_buffered <= body)
        r = nb_err_set(err, -EINVAL,
                       "config '%s': limits.maxBufferedBodyBytes (%llu) must exceed the largest "
                       "body limit (%llu)",
                       path, (unsigned long long)cfg->max_body_buffered, (unsigned long long)body);
    return r;
}
