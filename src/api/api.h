/*
 * api.h: the management API (/api/v1/ and the FC 2016-08-15 management
 * paths) over the store and the code store.
 *
 * OVERALL DESIGN
 * The gateway authenticates a management request on the loop, then runs
 * nb_api_execute on a worker thread: it may block on SQLite and on
 * unpacking code.  It returns the HTTP answer and the list of functions
 * whose in-memory view changed, each as a full "snapshot"; the gateway
 * applies those on the loop, so the hot path never reads the store.
 *
 * Snapshot (one per function; the same shape nb_api_snapshot_all returns):
 *   {"service":  {"serviceName", "description", "internetAccess", ...},
 *    "function": {"functionName", "runtime", "handler", "initializer",
 *                 "initializationTimeout", "memorySize", "timeout",
 *                 "instanceConcurrency", "environmentVariables": {...},
 *                 "codeChecksum": "<sha256 hex>", "codeSize",
 *                 "codeDir": "<host path of the unpacked tree>",
 *                 "lastModifiedTime", ...},
 *    "triggers": [{"triggerName", "triggerType", "qualifier",
 *                  "triggerConfig": {...}}]}
 *
 * Invocations (POST .../invocations) and logs are not handled here: they
 * run on the loop in the gateway.
 */
#ifndef NB_API_API_H
#define NB_API_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/kv.h"

struct nb_store;
struct nb_codestore;

struct nb_api_request {
    const char *method;
    const char *path;  /* percent-decoded path, e.g. "/api/v1/services/s1" */
    const char *query; /* raw query, without '?' */
    const struct nb_kv *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    const char *request_id;
};

struct nb_api_change {
    char *service;
    char *function;   /* NULL: the whole service was deleted */
    json_t *snapshot; /* NULL: the function is gone */
    /*
     * Added: increases with every change this process makes (write requests
     * are serialised and snapshots read under that order).  Two worker
     * threads may hand their results back to the loop out of order: keep,
     * per function, the change with the highest revision.  Snapshots from
     * nb_api_snapshot_all are older than any revision.
     */
    uint64_t revision;
};

struct nb_api_response {
    int status;
    struct nb_kv headers[4]; /* extra headers (values owned by the response) */
    size_t nheaders;
    char *content_type; /* owned; NULL means application/json */
    struct nb_buf body;
    struct nb_api_change *changes; /* owned */
    size_t nchanges;
    /*
     * Versions and aliases (version.c, alias.c): when a request changed a
     * service's versions or aliases, {"<service>": <qualifiers doc>} (owned,
     * NULL if none), the doc being what nb_api_qualifiers_all gives per
     * service.  Applied by the gateway after the changes.
     */
    json_t *qualifiers;
    /*
     * Access keys and custom domains a request changed (keys.c, domain.c),
     * applied by the gateway on the loop (owned, NULL if none): an array of
     *   {"kind": "key", "accessKeyId", "accessKeySecret", "scope"} (created),
     *   {"kind": "key", "accessKeyId", "deleted": true},
     *   {"kind": "domain", "domainName", "domain": <doc> | null (deleted)}.
     */
    json_t *events;
};

struct nb_meter;

struct nb_api {
    struct nb_store *store;
    struct nb_codestore *code;
    struct nb_meter *meter; /* usage and billing (GET /api/v1/usage); may be NULL */
    /* Encrypts access-key secrets at rest (auth/keys.h); set by nb_api_keys_bootstrap. */
    unsigned char master_key[32];
    int has_master_key;
};

/*
 * Runs one management request (worker thread).  Always fills resp (status
 * >= 200); resp is overwritten, not released: release a previous answer
 * first.  Requests that change something run one at a time.
 */
void nb_api_execute(struct nb_api *api, const struct nb_api_request *req,
                    struct nb_api_response *resp);
void nb_api_response_release(struct nb_api_response *resp);

/* All function snapshots (start-up), as a JSON array (caller decrefs), or NULL with err. */
json_t *nb_api_snapshot_all(struct nb_api *api, struct nb_err *err);

/*
 * The versions and aliases of every service (start-up), as
 * {"<service>": {"versions": {"<id>": {"functions": {"<fn>": <snapshot>}}},
 *                "aliases": {"<name>": {"versionId", "additionalVersionWeight"}}}}
 * where each <snapshot> has the shape above plus function.versionId.
 * Services without versions are left out.  Caller decrefs; NULL with err.
 */
json_t *nb_api_qualifiers_all(struct nb_api *api, struct nb_err *err);

/*
 * Every custom domain's stored document (start-up), as a JSON array of
 * {"domainName", "protocol", "routeConfig": {"routes": [...]}} (the "domain"
 * of a domain event), or NULL with err.  Caller decrefs.
 */
json_t *nb_api_domains_all(struct nb_api *api, struct nb_err *err);

/*
 * Loads (or creates) data_dir/master.key, then ensures an admin access key
 * exists; when it creates one it writes data_dir/credentials (mode 0600,
 * env-file format, DESIGN.md).  Secrets are stored encrypted (auth/keys.h).
 * Returns all keys as [{"accessKeyId","accessKeySecret" (clear),"scope"}]
 * (caller decrefs), or NULL with err.
 */
json_t *nb_api_keys_bootstrap(struct nb_api *api, const char *data_dir, struct nb_err *err);

/*
 * Fills an FC error body {"ErrorCode","ErrorMessage","errorCode","errorMessage"} into out.
 * Shared by the gateway for its own errors.
 */
void nb_api_error_body(struct nb_buf *out, const char *code, const char *message);

#endif
