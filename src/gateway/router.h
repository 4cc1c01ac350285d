/*
 * router.h: classifies a request path into a route (no I/O, no state), so
 * that routing is a pure function that unit tests and the fuzzer can drive.
 */
#ifndef NB_GATEWAY_ROUTER_H
#define NB_GATEWAY_ROUTER_H

#include <stddef.h>

enum nb_route_kind {
    NB_ROUTE_NOT_FOUND = 0,
    NB_ROUTE_HEALTH,      /* /healthz */
    NB_ROUTE_METRICS,     /* /metrics */
    NB_ROUTE_TRIGGER,     /* /2016-08-15/proxy/S[.Q]/F/rest, /fn/S/F/rest */
    NB_ROUTE_INVOKE,      /* /api/v1/services/S/functions/F/invocations, FC's too */
    NB_ROUTE_LOGS,        /* /api/v1/services/S/functions/F/logs */
    NB_ROUTE_INVOCATIONS, /* /api/v1/invocations[/ID]: async invocations (rest = ID or NULL) */
    NB_ROUTE_MGMT,        /* any other /api/v1/ or /2016-08-15/ path */
    NB_ROUTE_LAMBDA,      /* /2015-03-31/functions/FunctionName/invocations (function = the name) */
    NB_ROUTE_BAD,         /* malformed (bad escape, empty name): 400 */
};

struct nb_route {
    enum nb_route_kind kind;
    /* For TRIGGER / INVOKE / LOGS (owned by the route, decoded): */
    char *service;
    char *qualifier; /* NULL when none was given */
    char *function;
    char *rest;    /* TRIGGER: path after the function, "/" at least */
    char *decoded; /* the whole path, percent-decoded (for MGMT and signatures) */
};

/*
 * Classifies path (the raw, still percent-encoded path, without the query).
 * Always fills route; release it with nb_route_release.
 */
void nb_route_parse(const char *path, struct nb_route *route);
void nb_route_release(struct nb_route *route);

#endif
