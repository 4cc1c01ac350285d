/*
 * validate.c: the fields of services, functions and triggers: their types,
 * defaults and bounds (docs/api.md).
 *
 * A stored document is built by starting from the defaults (create) or the
 * stored document (update) and applying the request body onto it field by
 * field; every field is checked as it is applied, and the first bad one
 * fails the whole request with a message naming the field and its bound.
 * Read-only fields a client echoes back (ids, times, checksums) are ignored,
 * as are fields nubis does not know, so FC SDK requests pass.
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "policy/policy.h"
#include "runtime/family.h"
#include "timer/cron.h"

#include <ctype.h>
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const http_methods[] = {"GET",  "POST",  "PUT",    "DELETE",
                                           "HEAD", "PATCH", "OPTIONS"};

bool nb_api_valid_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    size_t n = 1;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
            return false;
    return n <= NB_API_NAME_MAX;
}

static int check_name(const char *field, json_t *v, struct nb_err *err)
{
    if (!json_is_string(v))
        return nb_err_set(err, -EINVAL, "%s must be a string", field);
    if (!nb_api_valid_name(json_string_value(v)))
        return nb_err_set(err, -EINVAL,
                          "%s '%s' is invalid: it must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}", field,
                          json_string_value(v));
    return 0;
}

static int check_string(const char *field, json_t *v, size_t max, struct nb_err *err)
{
    if (!json_is_string(v))
        return nb_err_set(err, -EINVAL, "%s must be a string", field);
    if (json_string_length(v) > max)
        return nb_err_set(err, -EINVAL, "%s must be at most %zu bytes", field, max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return nb_err_set(err, -EINVAL, "%s must not contain NUL characters", field);
    return 0;
}

/* An integer in [lo, hi], a multiple of mult when mult > 1. */
static int check_int(const char *field, json_t *v, json_int_t lo, json_int_t hi, json_int_t mult,
                     struct nb_err *err)
{
    json_int_t x = json_is_integer(v) ? json_integer_value(v) : lo - 1;
    if (x < lo || x > hi || (mult > 1 && x % mult != 0)) {
        if (mult > 1)
            return nb_err_set(err, -EINVAL, "%s must be a multiple of %lld between %lld and %lld",
                              field, (long long)mult, (long long)lo, (long long)hi);
        return nb_err_set(err, -EINVAL, "%s must be an integer between %lld and %lld", field,
                          (long long)lo, (long long)hi);
    }
    return 0;
}

static int check_bool(const char *field, json_t *v, struct nb_err *err)
{
    if (!json_is_boolean(v))
        return nb_err_set(err, -EINVAL, "%s must be true or false", field);
    return 0;
}

static int check_object(const char *field, json_t *v, struct nb_err *err)
{
    if (!json_is_object(v))
        return nb_err_set(err, -EINVAL, "%s must be an object", field);
    return 0;
}

/* nodejs*, python3* (digits and dots after the prefix) or custom. */
static bool valid_runtime(const char *s)
{
    const char *rest = NULL;
    enum nb_runtime_family fam = nb_runtime_family(s, &rest);
    if (fam == NB_RT_NONE)
        return false;
    if (fam == NB_RT_CUSTOM)
        return true;
    for (; *rest; rest++)
        if (!isdigit((unsigned char)*rest) && *rest != '.')
            return false;
    return true;
}

/*
 * "file.export": the export is the part after the last dot, an identifier;
 * the file is a relative path inside the package ("src/index", "pkg.mod").
 */
static bool valid_handler(const char *s)
{
    size_t n = strlen(s);
    const char *dot = strrchr(s, '.');
    if (n > NB_API_NAME_MAX || !dot || dot == s || s[0] == '/')
        return false;
    const char *exp = dot + 1;
    if (!(isalpha((unsigned char)exp[0]) || exp[0] == '_' || exp[0] == '$'))
        return false;
    for (const char *p = exp; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '$')
            return false;
    for (const char *p = s; p < dot; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-./", *p))
            return false;
    /* no ".." path component in the file part */
    for (const char *p = s; p < dot; p++)
        if (p[0] == '.' && p[1] == '.' && (p == s || p[-1] == '/') &&
            (p + 2 >= dot || p[2] == '/' || p[2] == '.'))
            return false;
    return true;
}

static int check_env(json_t *v, struct nb_err *err)
{
    if (!json_is_object(v))
        return nb_err_set(err, -EINVAL, "environmentVariables must be an object of string values");
    size_t total = 0;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        bool ok = isalpha((unsigned char)key[0]) || key[0] == '_';
        for (const char *p = key; ok && *p; p++)
            ok = isalnum((unsigned char)*p) || *p == '_';
        if (!ok)
            return nb_err_set(err, -EINVAL,
                              "environmentVariables key '%s' is invalid: it must match "
                              "[a-zA-Z_][a-zA-Z0-9_]*",
                              key);
        if (!json_is_string(val))
            return nb_err_set(err, -EINVAL, "environmentVariables.%s must be a string", key);
        if (strlen(json_string_value(val)) != json_string_length(val))
            return nb_err_set(err, -EINVAL,
                              "environmentVariables.%s must not contain NUL characters", key);
        total += strlen(key) + json_string_length(val);
    }
    if (total > NB_API_ENV_MAX_BYTES)
        return nb_err_set(err, -EINVAL,
                          "environmentVariables must total at most %d bytes (keys and values), "
                          "got %zu",
                          NB_API_ENV_MAX_BYTES, total);
    return 0;
}

/* The name field of a body must be the document's own (names do not change). */
static int check_same_name(json_t *doc, const char *key, json_t *v, struct nb_err *err)
{
    int r = check_name(key, v, err);
    if (r < 0)
        return r;
    const char *have = json_string_value(json_object_get(doc, key));
    if (have && strcmp(json_string_value(v), have) != 0)
        return nb_err_set(err, -EINVAL, "%s '%s' does not match the path ('%s')", key,
                          json_string_value(v), have);
    return 0;
}

json_t *nb_api_service_new(const char *name)
{
    return json_pack("{s:s, s:s, s:b}", "serviceName", name, "description", "", "internetAccess",
                     0);
}

int nb_api_service_apply(json_t *doc, json_t *body, struct nb_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int r = 0;
        if (strcmp(key, "serviceName") == 0) {
            r = check_same_name(doc, key, v, err);
            if (r < 0)
                return r;
            continue;
        } else if (strcmp(key, "description") == 0) {
            r = check_string(key, v, NB_API_DESCRIPTION_MAX, err);
        } else if (strcmp(key, "internetAccess") == 0) {
            r = check_bool(key, v, err);
        } else if (strcmp(key, "role") == 0) {
            r = check_string(key, v, 1024, err);
        } else if (strcmp(key, "logConfig") == 0 || strcmp(key, "vpcConfig") == 0 ||
                   strcmp(key, "nasConfig") == 0 || strcmp(key, "tracingConfig") == 0) {
            /* FC fields kept for the SDKs' sake; nubis does not act on them. */
            r = json_is_null(v) ? 0 : check_object(key, v, err);
        } else {
            continue; /* read-only or unknown */
        }
        if (r < 0)
            return r;
        json_object_set(doc, key, v);
    }
    return 0;
}

json_t *nb_api_function_new(const char *name)
{
    return json_pack("{s:s, s:s, s:n, s:n, s:n, s:i, s:i, s:i, s:i, s:{}}", "functionName", name,
                     "description", "", "runtime", "handler", "initializer",
                     "initializationTimeout", 3, "memorySize", 128, "timeout", 60,
                     "instanceConcurrency", 1, "environmentVariables");
}

static int check_handler(const char *field, json_t *v, struct nb_err *err)
{
    if (!json_is_string(v) || !valid_handler(json_string_value(v)))
        return nb_err_set(err, -EINVAL, "%s must look like 'file.export' (e.g. 'index.handler')",
                          field);
    return 0;
}

/*
 * The handler styles the runtime shims serve (docs/runtimes.md); "http",
 * "event" and "async" are older spellings the Node shim still understands.
 */
static int check_handler_type(json_t *v, struct nb_err *err)
{
    static const char *const known[] = {"fc-http",  "fc-event", "lambda", "gcf",
                                        "openfaas", "http",     "event",  "async"};
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < NB_ARRAY_SIZE(known); i++)
        if (strcmp(s, known[i]) == 0)
            return 0;
    return nb_err_set(err, -EINVAL,
                      "handlerType '%s' is not supported: use fc-http, fc-event, lambda, gcf "
                      "or openfaas",
                      s ? s : "(not a string)");
}

/* A destination: "service/function", an FC function ARN (acs:fc:...) or an http(s) URL. */
static int check_destination(const char *field, json_t *v, struct nb_err *err)
{
    const char *s = json_string_value(v);
    bool ok = s && s[0] && strlen(s) <= 2048;
    if (ok && strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0) {
        if (strncmp(s, "acs:fc:", 7) == 0) {
            const char *f = strstr(s, "/functions/");
            ok = strstr(s, ":services/") && f && f[11] && !strchr(f + 11, '/');
        } else {
            const char *f = strchr(s, '/');
            ok = f && f != s && f[1] && !strchr(f + 1, '/');
        }
    }
    for (const char *p = s; ok && *p; p++)
        ok = (unsigned char)*p > 0x20 && *p != 0x7f;
    if (!ok)
        return nb_err_set(err, -EINVAL,
                          "%s must be 'service/function', an FC function ARN "
                          "(acs:fc:<region>:<account>:services/<s>/functions/<f>) or an "
                          "http(s):// URL",
                          field);
    return 0;
}

/*
 * asyncConfig (FC's async invoke config, docs/api.md): maxAsyncRetryAttempts
 * 0..8, maxAsyncEventAgeInSeconds 1..86400, maxAsyncConcurrency 1..1000,
 * destinationConfig {onSuccess, onFailure: {destination}}.
 */
static int check_async_config(json_t *v, struct nb_err *err)
{
    if (!json_is_object(v))
        return nb_err_set(err, -EINVAL, "asyncConfig must be an object");
    const char *key;
    json_t *f;
    json_object_foreach(v, key, f)
    {
        int r = 0;
        if (strcmp(key, "maxAsyncRetryAttempts") == 0) {
            r = check_int("asyncConfig.maxAsyncRetryAttempts", f, 0, 8, 1, err);
        } else if (strcmp(key, "maxAsyncEventAgeInSeconds") == 0) {
            r = check_int("asyncConfig.maxAsyncEventAgeInSeconds", f, 1, 86400, 1, err);
        } else if (strcmp(key, "maxAsyncConcurrency") == 0) {
            r = check_int("asyncConfig.maxAsyncConcurrency", f, 1, 1000, 1, err);
        } else if (strcmp(key, "destinationConfig") == 0) {
            if (json_is_null(f))
                continue;
            if (!json_is_object(f))
                return nb_err_set(err, -EINVAL, "asyncConfig.destinationConfig must be an object");
            const char *dk;
            json_t *d;
            json_object_foreach(f, dk, d)
            {
                if (strcmp(dk, "onSuccess") != 0 && strcmp(dk, "onFailure") != 0)
                    return nb_err_set(err, -EINVAL,
                                      "asyncConfig.destinationConfig.%s is unknown: use "
                                      "onSuccess or onFailure",
                                      dk);
                if (json_is_null(d))
                    continue;
                char field[96];
                snprintf(field, sizeof(field), "asyncConfig.destinationConfig.%s.destination", dk);
                if (!json_is_object(d))
                    return nb_err_set(err, -EINVAL,
                                      "asyncConfig.destinationConfig.%s must be "
                                      "an object {\"destination\": ...}",
                                      dk);
                if ((r = check_destination(field, json_object_get(d, "destination"), err)) < 0)
                    return r;
            }
        } else if (strcmp(key, "statefulInvocation") == 0) {
            r = check_bool("asyncConfig.statefulInvocation", f, err);
        } else {
            return nb_err_set(err, -EINVAL,
                              "asyncConfig.%s is unknown: use maxAsyncRetryAttempts, "
                              "maxAsyncEventAgeInSeconds, maxAsyncConcurrency or "
                              "destinationConfig",
                              key);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* rateLimit, ipAcl (functions) and cors (HTTP triggers): null removes them. */
static int check_policy(const char *field, json_t *v, struct nb_err *err)
{
    if (json_is_null(v))
        return 0;
    if (strcmp(field, "rateLimit") == 0) {
        struct nb_rate r;
        return nb_rate_parse(v, field, &r, err);
    }
    if (strcmp(field, "ipAcl") == 0 || strcmp(field, "triggerConfig.ipAcl") == 0) {
        struct nb_ipacl acl;
        int r = nb_ipacl_parse(v, field, &acl, err);
        nb_ipacl_release(&acl);
        return r;
    }
    struct nb_cors c;
    int r = nb_cors_parse(v, field, &c, err);
    nb_cors_release(&c);
    return r;
}

int nb_api_function_apply(json_t *doc, json_t *body, struct nb_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int r = 0;
        json_t *set = v;
        if (strcmp(key, "functionName") == 0) {
            r = check_same_name(doc, key, v, err);
            if (r < 0)
                return r;
            continue;
        } else if (strcmp(key, "description") == 0) {
            r = check_string(key, v, NB_API_DESCRIPTION_MAX, err);
        } else if (strcmp(key, "runtime") == 0) {
            if (!json_is_string(v) || !valid_runtime(json_string_value(v)))
                r = nb_err_set(err, -EINVAL,
                               "runtime '%s' is not supported: use nodejs*, python3* or custom",
                               json_is_string(v) ? json_string_value(v) : "(not a string)");
        } else if (strcmp(key, "handler") == 0) {
            r = check_handler(key, v, err);
        } else if (strcmp(key, "initializer") == 0) {
            if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
                set = json_null();
            else
                r = check_handler(key, v, err);
        } else if (strcmp(key, "initializationTimeout") == 0) {
            r = check_int(key, v, 1, 300, 1, err);
        } else if (strcmp(key, "memorySize") == 0) {
            r = check_int(key, v, 64, 32768, 64, err);
        } else if (strcmp(key, "timeout") == 0) {
            r = check_int(key, v, 1, 86400, 1, err);
        } else if (strcmp(key, "instanceConcurrency") == 0) {
            r = check_int(key, v, 1, 100, 1, err);
        } else if (strcmp(key, "caPort") == 0) {
            r = check_int(key, v, 1, 65535, 1, err);
        } else if (strcmp(key, "maxInstances") == 0 || strcmp(key, "minInstances") == 0 ||
                   strcmp(key, "idleTimeout") == 0) {
            /* pool settings (sched/); null: back to the daemon's pool: defaults */
            if (json_is_null(v)) {
                json_object_del(doc, key);
                continue;
            }
            r = strcmp(key, "idleTimeout") == 0    ? check_int(key, v, 1, 86400, 1, err)
                : strcmp(key, "minInstances") == 0 ? check_int(key, v, 0, 10000, 1, err)
                                                   : check_int(key, v, 1, 10000, 1, err);
        } else if (strcmp(key, "environmentVariables") == 0) {
            if (json_is_null(v))
                set = json_object();
            else
                r = check_env(v, err);
        } else if (strcmp(key, "asyncConfig") == 0) {
            if (json_is_null(v)) {
                json_object_del(doc, key);
                continue;
            }
            r = check_async_config(v, err);
        } else if (strcmp(key, "rateLimit") == 0 || strcmp(key, "ipAcl") == 0) {
            r = check_policy(key, v, err); /* gateway policies (policy/policy.h) */
            if (r == 0 && json_is_null(v)) {
                json_object_del(doc, key);
                continue;
            }
        } else if (strcmp(key, "handlerType") == 0) {
            if (json_is_null(v)) {
                json_object_del(doc, key);
                continue;
            }
            r = check_handler_type(v, err);
        } else {
            continue; /* read-only (functionId, code*, times), "code", or unknown */
        }
        if (r < 0)
            return r;
        json_object_set_new(doc, key, set == v ? json_deep_copy(v) : set);
    }
    return 0;
}

int nb_api_function_check(json_t *doc, struct nb_err *err)
{
    json_t *min = json_object_get(doc, "minInstances"), *max = json_object_get(doc, "maxInstances");
    if (min && max && json_integer_value(min) > json_integer_value(max))
        return nb_err_set(err, -EINVAL, "minInstances (%lld) must not exceed maxInstances (%lld)",
                          (long long)json_integer_value(min), (long long)json_integer_value(max));
    const char *runtime = json_string_value(json_object_get(doc, "runtime"));
    if (!runtime)
        return nb_err_set(err, -EINVAL, "runtime is required: nodejs*, python3* or custom");
    if (!json_is_string(json_object_get(doc, "handler"))) {
        if (strcmp(runtime, "custom") != 0)
            return nb_err_set(err, -EINVAL,
                              "handler is required: it must look like 'file.export' (e.g. "
                              "'index.handler')");
        /* custom runtimes serve HTTP themselves; FC still shows a handler */
        json_object_set_new(doc, "handler", json_string("index.handler"));
    }
    return 0;
}

static int http_config(json_t *v, json_t **out, struct nb_err *err)
{
    if (v && !json_is_object(v))
        return nb_err_set(err, -EINVAL, "triggerConfig must be an object");
    json_t *auth = v ? json_object_get(v, "authType") : NULL;
    const char *at = "function";
    if (auth) {
        const char *s = json_string_value(auth);
        if (s && strcasecmp(s, "anonymous") == 0)
            at = "anonymous";
        else if (!s || strcasecmp(s, "function") != 0)
            return nb_err_set(err, -EINVAL,
                              "triggerConfig.authType must be 'anonymous' or 'function'");
    }
    json_t *methods = v ? json_object_get(v, "methods") : NULL;
    json_t *m = json_array();
    if (!methods) {
        for (size_t i = 0; i < NB_ARRAY_SIZE(http_methods); i++)
            json_array_append_new(m, json_string(http_methods[i]));
    } else {
        bool ok = json_is_array(methods) && json_array_size(methods) > 0;
        size_t i;
        json_t *item;
        json_array_foreach(methods, i, item)
        {
            const char *s = json_string_value(item);
            const char *found = NULL;
            for (size_t j = 0; s && j < NB_ARRAY_SIZE(http_methods); j++)
                if (strcasecmp(s, http_methods[j]) == 0)
                    found = http_methods[j];
            if (!found) {
                ok = false;
                break;
            }
            bool dup = false;
            size_t k;
            json_t *have;
            json_array_foreach(m, k, have) dup |= strcmp(json_string_value(have), found) == 0;
            if (!dup)
                json_array_append_new(m, json_string(found));
        }
        if (!ok) {
            json_decref(m);
            return nb_err_set(err, -EINVAL,
                              "triggerConfig.methods must be a non-empty array of GET, POST, "
                              "PUT, DELETE, HEAD, PATCH, OPTIONS");
        }
    }
    json_t *acl = v ? json_object_get(v, "ipAcl") : NULL;
    json_t *cors = v ? json_object_get(v, "cors") : NULL;
    int r = check_policy("triggerConfig.ipAcl", acl, err);
    if (r == 0)
        r = check_policy("triggerConfig.cors", cors, err);
    if (r < 0) {
        json_decref(m);
        return r;
    }
    *out = json_pack("{s:s, s:o}", "authType", at, "methods", m);
    if (acl && !json_is_null(acl))
        json_object_set_new(*out, "ipAcl", json_deep_copy(acl));
    if (cors && !json_is_null(cors))
        json_object_set_new(*out, "cors", json_deep_copy(cors));
    return 0;
}

static int timer_config(json_t *v, json_t **out, struct nb_err *err)
{
    if (!json_is_object(v))
        return nb_err_set(err, -EINVAL,
                          "triggerConfig must be an object {cronExpression, payload, enable}");
    json_t *cron = json_object_get(v, "cronExpression");
    if (!json_is_string(cron))
        return nb_err_set(err, -EINVAL,
                          "triggerConfig.cronExpression must be a string: '@every <duration>' "
                          "(e.g. '@every 5m'), '@daily', or a cron expression with 5 or 6 "
                          "fields");
    struct nb_cron parsed;
    struct nb_err cerr = {0};
    if (strlen(json_string_value(cron)) != json_string_length(cron) ||
        nb_cron_parse(json_string_value(cron), &parsed, &cerr) < 0)
        return nb_err_set(err, -EINVAL, "triggerConfig.cronExpression: %s",
                          cerr.msg[0] ? cerr.msg : "must not contain NUL characters");
    json_t *payload = json_object_get(v, "payload");
    if (payload && !json_is_null(payload)) {
        int r = check_string("triggerConfig.payload", payload, 128 * 1024, err);
        if (r < 0)
            return r;
    }
    json_t *enable = json_object_get(v, "enable");
    if (enable && !json_is_boolean(enable))
        return nb_err_set(err, -EINVAL, "triggerConfig.enable must be true or false");
    *out = json_pack("{s:O, s:s, s:b}", "cronExpression", cron, "payload",
                     json_is_string(payload) ? json_string_value(payload) : "", "enable",
                     enable ? json_is_true(enable) : 1);
    return 0;
}

static int trigger_config(const char *type, json_t *v, json_t **out, struct nb_err *err)
{
    if (strcmp(type, "http") == 0)
        return http_config(v, out, err);
    return timer_config(v, out, err);
}

static int check_qualifier(json_t *v, struct nb_err *err)
{
    const char *s = json_string_value(v);
    bool ok = s && s[0] && strlen(s) <= NB_API_NAME_MAX;
    for (const char *p = s; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '_' || *p == '-';
    if (!ok)
        return nb_err_set(err, -EINVAL,
                          "qualifier must be LATEST, a version or an alias name "
                          "([a-zA-Z0-9_-]{1,128})");
    return 0;
}

int nb_api_trigger_create(const char *name, json_t *body, json_t **out, struct nb_err *err)
{
    json_t *type = json_object_get(body, "triggerType");
    const char *t = json_string_value(type);
    if (!t || (strcmp(t, "http") != 0 && strcmp(t, "timer") != 0))
        return nb_err_set(err, -EINVAL, "triggerType must be 'http' or 'timer'");
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "triggerName", name, "triggerType", t,
                            "qualifier", "LATEST", "description", "");
    json_t *cfg = json_object_get(body, "triggerConfig");
    if (!cfg) {
        /* an http trigger may take every default; a timer needs its cron */
        json_t *none = NULL;
        json_t *c = NULL;
        int r = trigger_config(t, none, &c, err);
        if (r < 0) {
            json_decref(doc);
            return r;
        }
        json_object_set_new(doc, "triggerConfig", c);
    }
    int r = nb_api_trigger_apply(doc, body, err);
    if (r < 0) {
        json_decref(doc);
        return r;
    }
    *out = doc;
    return 0;
}

int nb_api_trigger_apply(json_t *doc, json_t *body, struct nb_err *err)
{
    const char *type = json_string_value(json_object_get(doc, "triggerType"));
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int r = 0;
        if (strcmp(key, "triggerName") == 0) {
            r = check_same_name(doc, key, v, err);
        } else if (strcmp(key, "triggerType") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), type) != 0)
                r = nb_err_set(err, -EINVAL,
                               "triggerType cannot be changed from '%s': delete the trigger and "
                               "create it again",
                               type);
        } else if (strcmp(key, "triggerConfig") == 0) {
            json_t *c = NULL;
            r = trigger_config(type, v, &c, err);
            if (r == 0)
                json_object_set_new(doc, key, c);
        } else if (strcmp(key, "qualifier") == 0) {
            r = check_qualifier(v, err);
            if (r == 0)
                json_object_set(doc, key, v);
        } else if (strcmp(key, "description") == 0) {
            r = check_string(key, v, NB_API_DESCRIPTION_MAX, err);
            if (r == 0)
                json_object_set(doc, key, v);
        }
        if (r < 0)
            return r;
    }
    return 0;
}
