/*
 * router.c: path classification (see router.h).
 *
 * The FC proxy path is /2016-08-15/proxy/<service>[.<qualifier>]/<function>/<rest>;
 * the short form /fn/<service>/<function>/<rest> takes no qualifier.  Names
 * are decoded per segment, so "%2F" in a name cannot forge a separator
 * (Lambda's FunctionName, one segment, may carry one: "svc%2Ffn").
 */
#include "gateway/router.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/util.h"

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int valid_name(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 128)
        return 0;
    for (const char *c = s; *c; c++)
        if (*c == '/' || (unsigned char)*c < 0x20)
            return 0;
    return 1;
}

static void split_qualifier(struct nb_route *r)
{
    char *dot = r->service ? strchr(r->service, '.') : NULL;
    if (dot) {
        r->qualifier = nb_xstrdup(dot + 1);
        *dot = '\0';
    }
}

static void parse_trigger(const char *p, int with_qualifier, struct nb_route *r)
{
    const char *s_end = strchr(p, '/');
    if (s_end == NULL) {
        r->kind = NB_ROUTE_NOT_FOUND; /* no function name */
        return;
    }
    const char *f = s_end + 1;
    const char *f_end = strchr(f, '/');
    size_t flen = f_end ? (size_t)(f_end - f) : strlen(f);
    r->service = nb_url_decode(p, (size_t)(s_end - p), 0);
    r->function = nb_url_decode(f, flen, 0);
    r->rest = f_end ? nb_url_decode(f_end, strlen(f_end), 0) : nb_xstrdup("/");
    if (r->service == NULL || r->function == NULL || r->rest == NULL) {
        r->kind = NB_ROUTE_BAD;
        return;
    }
    if (with_qualifier)
        split_qualifier(r);
    if (!valid_name(r->service) || !valid_name(r->function) ||
        (r->qualifier && !valid_name(r->qualifier))) {
        r->kind = NB_ROUTE_NOT_FOUND;
        return;
    }
    r->kind = NB_ROUTE_TRIGGER;
}

/*
 * /api/v1/services/S/functions/F/(invocations|logs) and
 * /2016-08-15/services/S[.Q]/functions/F/invocations.
 */
static int parse_function_op(const char *p, struct nb_route *r, int allow_qualifier)
{
    if (!has_prefix(p, "services/"))
        return 0;
    p += strlen("services/");
    const char *slash = strchr(p, '/');
    if (slash == NULL || !has_prefix(slash, "/functions/"))
        return 0;
    const char *f = slash + strlen("/functions/");
    const char *fslash = strchr(f, '/');
    if (fslash == NULL)
        return 0;
    const char *op = fslash + 1;
    enum nb_route_kind kind;
    if (strcmp(op, "invocations") == 0)
        kind = NB_ROUTE_INVOKE;
    else if (strcmp(op, "logs") == 0 && !allow_qualifier)
        kind = NB_ROUTE_LOGS;
    else
        return 0;
    char *svc = nb_url_decode(p, (size_t)(slash - p), 0);
    char *fn = nb_url_decode(f, (size_t)(fslash - f), 0);
    r->service = svc;
    r->function = fn;
    if (allow_qualifier)
        split_qualifier(r);
    r->kind = valid_name(svc) && valid_name(fn) ? kind : NB_ROUTE_BAD;
    return 1;
}

void nb_route_parse(const char *path, struct nb_route *r)
{
    memset(r, 0, sizeof(*r));
    r->decoded = nb_url_decode(path, strlen(path), 0);
    if (r->decoded == NULL) {
        r->kind = NB_ROUTE_BAD;
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        r->kind = NB_ROUTE_HEALTH;
    } else if (strcmp(path, "/metrics") == 0) {
        r->kind = NB_ROUTE_METRICS;
    } else if (has_prefix(path, "/2016-08-15/proxy/")) {
        parse_trigger(path + strlen("/2016-08-15/proxy/"), 1, r);
    } else if (has_prefix(path, "/fn/")) {
        parse_trigger(path + strlen("/fn/"), 0, r);
    } else if (strcmp(path, "/api/v1/invocations") == 0) {
        r->kind = NB_ROUTE_INVOCATIONS;
    } else if (has_prefix(path, "/api/v1/invocations/")) {
        const char *id = path + strlen("/api/v1/invocations/");
        r->rest = nb_url_decode(id, strlen(id), 0);
        r->kind = r->rest && valid_name(r->rest) ? NB_ROUTE_INVOCATIONS : NB_ROUTE_BAD;
    } else if (has_prefix(path, "/api/v1/")) {
        if (!parse_function_op(path + strlen("/api/v1/"), r, 0))
            r->kind = NB_ROUTE_MGMT;
    } else if (has_prefix(path, "/2015-03-31/functions/")) {
        /* Lambda's FunctionName is one segment: a name, name:qualifier, an ARN, or S%2FF. */
        const char *f = path + strlen("/2015-03-31/functions/");
        const char *slash = strchr(f, '/');
        if (slash && strcmp(slash, "/invocations") == 0) {
            r->function = nb_url_decode(f, (size_t)(slash - f), 0);
            r->kind = r->function && *r->function && strlen(r->function) <= 256 ? NB_ROUTE_LAMBDA
                                                                                : NB_ROUTE_BAD;
        } else {
            r->kind = NB_ROUTE_NOT_FOUND;
        }
    } else if (has_prefix(path, "/2016-08-15/")) {
        if (!parse_function_op(path + strlen("/2016-08-15/"), r, 1))
            r->kind = NB_ROUTE_MGMT;
    } else {
        r->kind = NB_ROUTE_NOT_FOUND;
    }
}

void nb_route_release(struct nb_route *r)
{
    free(r->service);
    free(r->qualifier);
    free(r->function);
    free(r->rest);
    free(r->decoded);
    memset(r, 0, sizeof(*r));
}
