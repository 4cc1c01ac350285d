/*
 * internal.h: what the gateway's files share (not for other modules).
 */
#ifndef NB_GATEWAY_INTERNAL_H
#define NB_GATEWAY_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "base/list.h"
#include "base/map.h"
#include "gateway/gateway.h"
#include "gateway/router.h"

#define NB_M_GET 0x01
#define NB_M_POST 0x02
#define NB_M_PUT 0x04
#define NB_M_DELETE 0x08
#define NB_M_HEAD 0x10
#define NB_M_PATCH 0x20
#define NB_M_OPTIONS 0x40

struct nb_http_trigger {
    char *name;
    char *qualifier;
    unsigned methods;
    int anonymous;
};

/* One function as the hot path sees it, parsed from its snapshot. */
struct nb_fn {
    char *key; /* "service/function" */
    char *service;
    char *name;
    json_t *snapshot; /* owned */
    int timeout_s;
    int memory_mb;
    struct nb_http_trigger *http;
    size_t nhttp;
    struct nb_pool *pool; /* created on first use */
};

struct nb_gateway {
    uv_loop_t *loop;
    struct nb_sched *sched;
    struct nb_logstore *logs;
    struct nb_api *api;
    struct nb_gateway_config cfg;
    struct nb_map fns;  /* "service/function" -> struct nb_fn */
    struct nb_map keys; /* access key id -> secret (char *) */
    /* management requests run one at a time, in arrival order */
    struct nb_list mgmt_queue;
    int mgmt_running;
    unsigned mgmt_count;
    /* counters for /metrics */
    uint64_t m_invocations[8]; /* by enum nb_inv_status */
    uint64_t m_throttles;
    uint64_t m_http[6]; /* by status class 1xx..5xx */
    uint64_t m_duration_ms_sum;
};

/* gateway.c */
void nb_gw_respond(struct nb_http_request *req, int status, const char *request_id,
                   const struct nb_kv *extra, size_t nextra, const char *content_type,
                   const void *body, size_t len);
void nb_gw_error(struct nb_http_request *req, int status, const char *request_id, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* 0 if req is signed by a known key; else answers the request (401/403) and returns -1. */
int nb_gw_authenticate(struct nb_gateway *gw, struct nb_http_request *req, const char *request_id);
/* NB_M_* bit of a method name, 0 if unknown. */
unsigned nb_gw_method_bit(const char *m);
struct nb_fn *nb_gw_find(struct nb_gateway *gw, const char *service, const char *function);
void nb_gw_apply(struct nb_gateway *gw, const char *service, const char *function,
                 json_t *snapshot);

/* invoke.c */
void nb_gw_trigger(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                   const char *request_id);
void nb_gw_invoke(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                  const char *request_id);

/* mgmt.c */
void nb_gw_mgmt(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                const char *request_id);
void nb_gw_logs(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                const char *request_id);
void nb_gw_metrics(struct nb_gateway *gw, struct nb_http_request *req);

#endif
