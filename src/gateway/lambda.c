/*
 * lambda.c: AWS Lambda's invoke API (reference/compat-apis.md B.1), so that
 * the AWS SDKs' Invoke works against nubis:
 *
 *   POST /2015-03-31/functions/<FunctionName>/invocations[?Qualifier=Q]
 *   X-Amz-Invocation-Type: RequestResponse (default) | Event | DryRun
 *   X-Amz-Log-Type: None | Tail
 *
 * FunctionName is "svc/fn" (one path segment: the SDK sends "svc%2Ffn"), or
 * a bare function name when exactly one service has a function of that
 * name; either may end in ":qualifier", and may come as an ARN
 * ("arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]") or as
 * "<account>:function:<name>[:<qualifier>]".  Requests are signed with SigV4
 * (auth/sigv4.h) by a nubis access key whose scope allows invoking the
 * service.  Sync calls answer 200 with the function's result, or 200 with
 * X-Amz-Function-Error and the error as the function's runtime shaped it; Event
 * queues an async invocation (202, as FC's async invoke does); DryRun checks
 * the function and the key (204).  The platform's own errors on this path
 * (nb_gw_error: policy refusals, throttling, body limits too) carry
 * x-amzn-ErrorType and {"Type","message"}, which the SDKs read, with FC's
 * codes translated (ResourceThrottled -> TooManyRequestsException, ...).
 */
#include "gateway/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/keys.h"
#include "auth/sigv4.h"
#include "base/alloc.h"
#include "base/util.h"

/* The platform's error codes (FC's) as Lambda names them; others get "Exception" appended. */
static const char *const lambda_codes[][2] = {
    {"AccessDenied", "AccessDeniedException"},
    {"ResourceThrottled", "TooManyRequestsException"},
    {"ResourceExhausted", "TooManyRequestsException"},
    {"EntityTooLarge", "RequestTooLargeException"},
    {"InvalidArgument", "InvalidParameterValueException"},
    {"PathNotSupported", "ResourceNotFoundException"},
    {"ServiceUnavailable", "ServiceException"},
    {"InternalServerError", "ServiceException"},
};

void nb_gw_lambda_answer_error(struct nb_http_request *req, int status, const char *rid,
                               const struct nb_kv *extra, size_t nextra, const char *code,
                               const char *msg)
{
    char named[96];
    size_t cl = strlen(code);
    if (cl < 9 || strcmp(code + cl - 9, "Exception") != 0) {
        const char *to = NULL;
        for (size_t i = 0; i < sizeof(lambda_codes) / sizeof(lambda_codes[0]) && !to; i++)
            if (strcmp(code, lambda_codes[i][0]) == 0)
                to = lambda_codes[i][1];
        if (to == NULL)
            snprintf(named, sizeof(named), "%.80sException", code);
        code = to ? to : named;
    }
    json_t *b = json_pack("{s:s,s:s}", "Type", status >= 500 ? "Service" : "User", "message", "");
    json_t *m = json_string(msg);
    json_object_set_new(b, "message", m ? m : json_string("(a message that is not UTF-8)"));
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    struct nb_kv h[8] = {{"x-amzn-ErrorType", code}, {"x-amzn-RequestId", rid}};
    size_t n = 2;
    for (size_t i = 0; i < nextra && n < sizeof(h) / sizeof(h[0]); i++)
        h[n++] = extra[i];
    nb_gw_respond(req, status, rid, h, n, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
}

/* The key that signed req with SigV4 (borrowed), or NULL after answering 403. */
static const struct nb_gw_key *authenticate(struct nb_gateway *gw, struct nb_http_request *req,
                                            const char *rid)
{
    const char *auth = nb_http_header(req, "authorization");
    if (auth == NULL) {
        nb_gw_error(req, 403, rid, "MissingAuthenticationTokenException",
                    "missing Authentication Token: sign with AWS Signature Version 4 "
                    "and a nubis access key");
        return NULL;
    }
    struct nb_sigv4_auth a;
    if (nb_sigv4_parse(auth, &a) < 0) {
        nb_gw_error(req, 403, rid, "IncompleteSignatureException",
                    "the Authorization header is not AWS Signature Version 4 "
                    "(AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...)");
        return NULL;
    }
    const struct nb_gw_key *key = NULL;
    const char *date = nb_http_header(req, "x-amz-date");
    long long t = nb_sigv4_parse_date(date);
    long long now = (long long)time(NULL);
    const struct nb_gw_key *k = nb_map_get(&gw->keys, a.id);
    if (k == NULL) {
        nb_gw_error(req, 403, rid, "UnrecognizedClientException",
                    "the security token included in the request is invalid (no access "
                    "key '%s')",
                    a.id);
    } else if (t < 0 || strncmp(date, a.date, 8) != 0) {
        nb_gw_error(req, 403, rid, "InvalidSignatureException",
                    "X-Amz-Date is missing, malformed, or not the Credential's date");
    } else if (t < now - NB_GW_MAX_CLOCK_SKEW_S || t > now + NB_GW_MAX_CLOCK_SKEW_S) {
        nb_gw_error(req, 403, rid, "InvalidSignatureException",
                    "signature expired: X-Amz-Date is more than 15 minutes away from the "
                    "server's time");
    } else {
        /* The body is hashed only for a request that got this far. */
        char body_hash[65];
        nb_sha256_hex(req->body ? req->body : "", req->body_len, body_hash);
        const char *claimed = nb_http_header(req, "x-amz-content-sha256");
        int lies = claimed && strcmp(claimed, body_hash) != 0;
        char *want = lies ? NULL
                          : nb_sigv4_signature(&a, k->secret, date, req->method, req->path,
                                               req->query, req->headers, req->nheaders, body_hash);
        if (lies)
            nb_gw_error(req, 400, rid, "InvalidSignatureException",
                        "X-Amz-Content-Sha256 is not the body's sha256");
        else if (want && nb_secure_equal(want, a.signature, 64))
            key = k;
        else
            nb_gw_error(req, 403, rid, "InvalidSignatureException",
                        "the request signature we calculated does not match the signature "
                        "you provided; check your secret access key and signing method");
        free(want);
    }
    nb_sigv4_release(&a);
    return key;
}

#define CLIENT_CONTEXT_MAX 3583 /* Lambda's limit, in base64 characters */

/*
 * X-Amz-Client-Context, decoded: compact JSON object text (caller frees),
 * NULL without the header; 0, or -1 after answering 400.
 */
static int client_context(struct nb_http_request *req, const char *rid, char **out)
{
    *out = NULL;
    const char *h = nb_http_header(req, "x-amz-client-context");
    if (h == NULL)
        return 0;
    size_t n = 0;
    unsigned char *raw =
        strlen(h) <= CLIENT_CONTEXT_MAX ? nb_base64_decode(h, strlen(h), &n) : NULL;
    json_t *j = raw ? json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(raw);
    if (!json_is_object(j)) {
        json_decref(j);
        nb_gw_error(req, 400, rid, "InvalidParameterValueException",
                    "Client context must be a valid Base64-encoded JSON object of at most "
                    "%d characters",
                    CLIENT_CONTEXT_MAX);
        return -1;
    }
    *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (*out == NULL)
        nb_gw_error(req, 500, rid, "ServiceException", "out of memory");
    return *out ? 0 : -1;
}

/* FunctionName's parts: service (or "" when not named), function, qualifier (or ""). */
struct lname {
    char service[130], function[130], qualifier[130];
};

static int copy_part(char *out, size_t len, const char *s, size_t n)
{
    if (n == 0 || n >= len)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int parse_name(const char *name, struct lname *l)
{
    memset(l, 0, sizeof(*l));
    const char *p = name;
    if (strncmp(p, "arn:", 4) == 0) {
        /* arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>] */
        const char *f = strstr(p, ":function:");
        const char *svc = strchr(p + 4, ':');
        if (!f || !svc || strncmp(svc, ":lambda:", 8) != 0)
            return -1;
        p = f + strlen(":function:");
    } else {
        const char *f = strstr(p, ":function:");
        if (f) {
            if (strspn(p, "0123456789") != (size_t)(f - p))
                return -1; /* <account>:function:<name> */
            p = f + strlen(":function:");
        }
    }
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    if (colon && (strchr(colon + 1, ':') ||
                  copy_part(l->qualifier, sizeof(l->qualifier), colon + 1, strlen(colon + 1)) < 0))
        return -1;
    const char *slash = memchr(p, '/', n);
    if (slash) {
        if (copy_part(l->service, sizeof(l->service), p, (size_t)(slash - p)) < 0)
            return -1;
        n -= (size_t)(slash - p) + 1;
        p = slash + 1;
        if (memchr(p, '/', n))
            return -1;
    }
    return copy_part(l->function, sizeof(l->function), p, n);
}

/*
 * The only service, among those scope may invoke, with a function named
 * l->function: 0, -ENOENT, or -EEXIST (several).  Services out of the key's
 * scope are not looked at, so their functions' names do not show.
 */
static int find_service(struct nb_gateway *gw, const char *scope, struct lname *l)
{
    const char *k;
    void *v;
    int found = 0;
    for (size_t i = 0; nb_map_next(&gw->fns, &i, &k, &v);) {
        const struct nb_fn *fn = v;
        if (strcmp(fn->name, l->function) != 0 ||
            !nb_scope_allows(scope, NB_ACT_INVOKE, fn->service))
            continue;
        if (found++)
            return -EEXIST;
        snprintf(l->service, sizeof(l->service), "%s", fn->service);
    }
    return found ? 0 : -ENOENT;
}

void nb_gw_lambda(struct nb_gateway *gw, struct nb_http_request *req, struct nb_route *route,
                  const char *rid)
{
    if (strcmp(req->method, "POST") != 0) {
        nb_gw_error(req, 405, rid, "MethodNotAllowedException", "use POST to invoke a function");
        return;
    }
    const struct nb_gw_key *key = authenticate(gw, req, rid);
    if (key == NULL)
        return;
    struct lname l;
    if (parse_name(route->function, &l) < 0) {
        nb_gw_error(req, 400, rid, "InvalidParameterValueException",
                    "FunctionName '%.200s' is not a name, service/name, or function ARN "
                    "(with an optional :qualifier)",
                    route->function);
        return;
    }
    char qbuf[130];
    const char *q = nb_gw_query_param(req->query, "Qualifier", qbuf, sizeof(qbuf));
    if (q && l.qualifier[0] && strcmp(q, l.qualifier) != 0) {
        nb_gw_error(req, 400, rid, "InvalidParameterValueException",
                    "the qualifier in FunctionName ('%s') and Qualifier ('%s') differ", l.qualifier,
                    q);
        return;
    }
    if (q)
        snprintf(l.qualifier, sizeof(l.qualifier), "%s", q);
    if (!l.service[0]) {
        int r = find_service(gw, key->scope, &l);
        if (r == -EEXIST) {
            nb_gw_error(req, 400, rid, "InvalidParameterValueException",
                        "several services have a function '%s': name it as "
                        "service/function",
                        l.function);
            return;
        }
        if (r < 0) {
            nb_gw_error(req, 404, rid, "ResourceNotFoundException", "Function not found: %s",
                        l.function);
            return;
        }
    }
    if (!nb_scope_allows(key->scope, NB_ACT_INVOKE, l.service)) {
        nb_gw_error(req, 403, rid, "AccessDeniedException",
                    "access key scope '%s' does not allow to invoke service '%s'", key->scope,
                    l.service);
        return;
    }
    struct nb_gw_miss miss;
    struct nb_fn *fn = nb_gw_resolve(gw, l.service, l.function, l.qualifier, &miss);
    if (fn == NULL) {
        nb_gw_error(req, 404, rid, "ResourceNotFoundException", "Function not found: %s",
                    miss.message);
        return;
    }
    const char *type = nb_http_header(req, "x-amz-invocation-type");
    if (type == NULL || strcmp(type, "RequestResponse") == 0) {
        if (nb_gw_policy_function(gw, req, fn, NULL, rid) < 0 ||
            nb_gw_policy_rate(gw, req, fn, rid) < 0)
            return;
        char *cc;
        if (client_context(req, rid, &cc) < 0)
            return;
        const char *lt = nb_http_header(req, "x-amz-log-type");
        nb_gw_invoke_event(gw, req, fn, rid, lt && strcmp(lt, "Tail") == 0, cc);
        free(cc);
    } else if (strcmp(type, "Event") == 0) {
        if (nb_gw_policy_function(gw, req, fn, NULL, rid) < 0 ||
            nb_gw_policy_rate(gw, req, fn, rid) < 0)
            return;
        nb_gw_async_enqueue(gw, req, NULL, fn, rid);
    } else if (strcmp(type, "DryRun") == 0) {
        struct nb_kv h[1] = {{"x-amzn-RequestId", rid}};
        nb_gw_respond(req, 204, rid, h, 1, NULL, "", 0);
    } else {
        nb_gw_error(req, 400, rid, "InvalidParameterValueException",
                    "X-Amz-Invocation-Type '%.100s' is not RequestResponse, Event or DryRun", type);
    }
}
