/*
 * config.h: the daemon's configuration: defaults, the YAML file of
 * `nubis serve --config FILE` (every key documented with its default in
 * docs/operations.md), and the command line on top (flags win).
 */
#ifndef NB_DAEMON_CONFIG_H
#define NB_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "meter/meter.h"

struct nb_daemon_config {
    char *listen;       /* listen: "127.0.0.1:9000" */
    char *data_dir;     /* dataDir: NULL = the default data dir */
    char *runtimes_dir; /* runtimesDir: NULL = next to the binary */
    /* limits: */
    uint64_t max_sync_body;       /* maxSyncBodyBytes: 32 MiB */
    uint64_t max_mgmt_body;       /* maxManagementBodyBytes: 72 MiB */
    uint64_t max_header_bytes;    /* maxHeaderBytes: 8 KiB */
    uint64_t max_url_bytes;       /* maxUrlBytes: 4 KiB */
    unsigned header_timeout_s;    /* headerTimeout: 10 */
    unsigned body_timeout_s;      /* bodyTimeout: 30 */
    unsigned keepalive_timeout_s; /* keepAliveTimeout: 60 */
    unsigned max_connections;     /* maxConnections: 10000 */
    uint64_t max_body_buffered;   /* maxBufferedBodyBytes: 1 GiB (all connections' bodies) */
    /* pool: */
    int max_instances;        /* maxInstances: 100 (per function version) */
    unsigned idle_timeout_s;  /* idleTimeout: 300 */
    int max_queue;            /* maxQueue: 1000 (pending invocations per pool) */
    unsigned queue_timeout_s; /* queueTimeout: 10 (longest wait in that queue, then 429) */
    int prewarm;              /* prewarm: 1 (pre-warmed generic instances per runtime; 0 off) */
    /* logs: */
    uint64_t log_max_bytes; /* maxBytesPerFunction: 8 MiB (x2 with the rotated file) */
    /* billing: and usage: */
    struct nb_meter_config meter;
};

void nb_daemon_config_default(struct nb_daemon_config *cfg);
void nb_daemon_config_release(struct nb_daemon_config *cfg);
/*
 * Reads the YAML file at path over cfg (keys it does not give keep their
 * value).  0, or -errno with err naming the file, line and key:
 * "config 'x.yaml' line 3: pool.maxInstances: must be an integer 1..10000".
 * Unknown keys are errors.
 */
int nb_daemon_config_load(const char *path, struct nb_daemon_config *cfg, struct nb_err *err);

#endif
