/*
 * policy.h: the gateway's policies as data: IP allow/deny lists (CIDR, IPv4
 * and IPv6), token-bucket rate limits and CORS rules, parsed and validated
 * from their JSON form, and the pure decisions made from them (no I/O, no
 * clocks of their own: the caller passes the time).
 *
 * OVERALL DESIGN
 * The management API validates a policy when a function or trigger is
 * written (api/validate.c), so a bad one is a 400 that changes nothing; the
 * gateway parses the same JSON again into these structs when it applies a
 * snapshot, so the hot path only compares bytes and does arithmetic.  The
 * JSON shapes (docs/security-gateway.md):
 *   ipAcl:     {"allow": ["10.0.0.0/8", "::1"], "deny": ["10.1.2.3"]}
 *   rateLimit: {"qps": 100, "burst": 200}
 *   cors:      {"allowOrigins": ["https://a.example"] | ["*"],
 *               "allowMethods": ["GET"], "allowHeaders": ["X-Token"],
 *               "exposeHeaders": [], "allowCredentials": false, "maxAge": 600}
 */
#ifndef NB_POLICY_POLICY_H
#define NB_POLICY_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* ---- addresses and CIDR lists ---- */

struct nb_cidr {
    int family; /* 4 or 6 */
    uint8_t addr[16];
    int bits;
};

/*
 * Parses a textual IP ("10.1.2.3", "::1", "::ffff:10.1.2.3" is taken as its
 * IPv4 address) into family and addr.  0 or -EINVAL.
 */
int nb_ip_parse(const char *s, int *family, uint8_t addr[16]);
/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).  0 or -EINVAL. */
int nb_cidr_parse(const char *s, struct nb_cidr *out);
int nb_cidr_match(const struct nb_cidr *c, int family, const uint8_t addr[16]);

struct nb_ipacl {
    struct nb_cidr *allow; /* empty: every address is allowed unless denied */
    size_t nallow;
    struct nb_cidr *deny; /* checked first */
    size_t ndeny;
};

/*
 * Parses {"allow": [...], "deny": [...]} (either may be missing) into out
 * (release it with nb_ipacl_release).  field names the JSON key in errors.
 * v NULL gives an empty list.  0 or -EINVAL with err.
 */
int nb_ipacl_parse(const json_t *v, const char *field, struct nb_ipacl *out, struct nb_err *err);
void nb_ipacl_release(struct nb_ipacl *acl);
/* 1 if the ACL lets ip (textual) through; an unparsable ip is refused by a non-empty ACL. */
int nb_ipacl_allows(const struct nb_ipacl *acl, const char *ip);
/* 1 if the ACL has no rule at all. */
int nb_ipacl_empty(const struct nb_ipacl *acl);
/* Parses a JSON array of CIDRs (trusted proxies).  0 or -EINVAL with err. */
int nb_cidr_list_parse(const json_t *v, const char *field, struct nb_cidr **out, size_t *n,
                       struct nb_err *err);
int nb_cidr_list_match(const struct nb_cidr *list, size_t n, const char *ip);

/* ---- token buckets ---- */

struct nb_rate {
    double qps;   /* tokens per second; 0: no limit */
    double burst; /* bucket size (>= 1) */
};

/* Parses {"qps": N, "burst": M} (burst defaults to max(1, qps)).  0 or -EINVAL. */
int nb_rate_parse(const json_t *v, const char *field, struct nb_rate *out, struct nb_err *err);

struct nb_bucket {
    double tokens;
    uint64_t last_ns; /* 0: never used (full) */
};

/*
 * Takes one token at now_ns.  Returns 0 if it was there, else the seconds
 * until one will be (> 0), leaving the bucket as it was.
 */
double nb_bucket_take(struct nb_bucket *b, const struct nb_rate *r, uint64_t now_ns);
/* 1 if the bucket would be full at now_ns (so it can be forgotten). */
int nb_bucket_idle(const struct nb_bucket *b, const struct nb_rate *r, uint64_t now_ns);

/* ---- CORS ---- */

struct nb_cors {
    int enabled;
    char **origins; /* "*" allows any */
    size_t norigins;
    char *methods; /* "GET, POST" (Access-Control-Allow-Methods); NULL: the trigger's */
    char *headers; /* allowed request headers; NULL: echo the request's */
    char *expose;  /* Access-Control-Expose-Headers, NULL if none */
    int credentials;
    int max_age; /* seconds; -1: not sent */
};

/* Parses the cors object (v NULL: disabled).  0 or -EINVAL with err. */
int nb_cors_parse(const json_t *v, const char *field, struct nb_cors *out, struct nb_err *err);
void nb_cors_release(struct nb_cors *c);
/*
 * The Access-Control-Allow-Origin value for a request's Origin, or NULL if
 * that origin is not allowed.  With credentials the origin is echoed, never
 * "*" (browsers refuse "*" with credentials).
 */
const char *nb_cors_allow_origin(const struct nb_cors *c, const char *origin);

#endif
