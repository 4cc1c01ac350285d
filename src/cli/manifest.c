/*
 * manifest.c: nubis.yaml -> JSON -> validated manifest -> API bodies.
 *
 * The YAML side uses libyaml's document loader (it resolves anchors and
 * aliases) and types plain scalars after the YAML 1.2 core schema, minus
 * floats: "1.10" stays the string "1.10" so that environment values and
 * versions keep their text.  The manifest side checks every key against
 * what `nubis deploy` understands, so a typo is an error that names the key
 * path instead of a silently ignored setting.
 */
#include "cli/manifest.h"
#include "timer/cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "base/alloc.h"
#include "base/util.h"

#define MAX_DEPTH 64

/* ---- YAML -> JSON ---------------------------------------------------- */

static int is_int_text(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    if (*p == '0' && p[1] != '\0')
        return 0;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static json_t *plain_scalar(const char *s)
{
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    if (is_int_text(s) && strlen(s) <= 18)
        return json_integer(strtoll(s, NULL, 10));
    return json_string(s);
}

static json_t *convert_node(yaml_document_t *doc, yaml_node_t *node, int depth, const char *name,
                            struct nb_err *err)
{
    if (!node) {
        nb_err_set(err, -EINVAL, "%s: bad node", name);
        return NULL;
    }
    unsigned line = (unsigned)node->start_mark.line + 1,
             col = (unsigned)node->start_mark.column + 1;
    if (depth > MAX_DEPTH) {
        nb_err_set(err, -EINVAL, "%s:%u:%u: nested too deeply", name, line, col);
        return NULL;
    }
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)node->data.scalar.value;
        if (strlen(s) != node->data.scalar.length) {
            nb_err_set(err, -EINVAL, "%s:%u:%u: NUL byte in a scalar", name, line, col);
            return NULL;
        }
        if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            return plain_scalar(s);
        return json_string(s);
    }
    case YAML_SEQUENCE_NODE: {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            json_t *v = convert_node(doc, yaml_document_get_node(doc, *it), depth + 1, name, err);
            if (!v) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, v);
        }
        return arr;
    }
    case YAML_MAPPING_NODE: {
        json_t *obj = json_object();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE) {
                nb_err_set(err, -EINVAL, "%s:%u:%u: mapping keys must be scalars", name,
                           k ? (unsigned)k->start_mark.line + 1 : line,
                           k ? (unsigned)k->start_mark.column + 1 : col);
                json_decref(obj);
                return NULL;
            }
            const char *key = (const char *)k->data.scalar.value;
            if (json_object_get(obj, key)) {
                nb_err_set(err, -EINVAL, "%s:%u:%u: duplicate key '%s'", name,
                           (unsigned)k->start_mark.line + 1, (unsigned)k->start_mark.column + 1,
                           key);
                json_decref(obj);
                return NULL;
            }
            json_t *v =
                convert_node(doc, yaml_document_get_node(doc, p->value), depth + 1, name, err);
            if (!v) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, key, v);
        }
        return obj;
    }
    default:
        nb_err_set(err, -EINVAL, "%s:%u:%u: empty node", name, line, col);
        return NULL;
    }
}

json_t *nb_yaml_to_json(const char *text, size_t len, const char *name, struct nb_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;

    if (!yaml_parser_initialize(&parser)) {
        nb_err_set(err, -ENOMEM, "%s: cannot initialize the YAML parser", name);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        nb_err_set(err, -EINVAL, "%s:%zu:%zu: %s%s%s", name, parser.problem_mark.line + 1,
                   parser.problem_mark.column + 1, parser.problem ? parser.problem : "bad YAML",
                   parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        nb_err_set(err, -EINVAL, "%s: empty document", name);
    else
        out = convert_node(&doc, root, 0, name, err);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

/* ---- validation ------------------------------------------------------ */

int nb_manifest_valid_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
            return 0;
    return n <= 128;
}

#define NAME_RULE "must match [a-zA-Z_][a-zA-Z0-9_-]{0,127}"

static int bad(struct nb_err *err, const char *path, const char *what)
{
    return nb_err_set(err, -EINVAL, "%s: %s", path, what);
}

/* Rejects keys of obj not in allowed (NULL-terminated). */
static int check_keys(const json_t *obj, const char *path, const char *const *allowed,
                      struct nb_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, key);
        if (!ok) {
            char known[256] = "";
            for (const char *const *a = allowed; *a; a++) {
                if (a != allowed)
                    strncat(known, ", ", sizeof(known) - strlen(known) - 1);
                strncat(known, *a, sizeof(known) - strlen(known) - 1);
            }
            return nb_err_set(err, -EINVAL, "%s%s%s: unknown key (expected one of: %s)", path,
                              *path ? "." : "", key, known);
        }
    }
    return 0;
}

/* Gets key from obj, treating null as absent. */
static json_t *get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int check_string(const json_t *obj, const char *path, const char *key, int required,
                        struct nb_err *err)
{
    json_t *v = get(obj, key);
    _cleanup_free_ char *p = nb_xasprintf("%s.%s", path, key);
    if (!v)
        return required ? bad(err, p, "is required") : 0;
    if (!json_is_string(v))
        return bad(err, p, "must be a string");
    return 0;
}

static int check_int(const json_t *obj, const char *path, const char *key, long long lo,
                     long long hi, long long multiple, struct nb_err *err)
{
    json_t *v = get(obj, key);
    if (!v)
        return 0;
    _cleanup_free_ char *p = nb_xasprintf("%s.%s", path, key);
    if (!json_is_integer(v))
        return bad(err, p, "must be a number");
    long long n = json_integer_value(v);
    if (n < lo || n > hi)
        return nb_err_set(err, -EINVAL, "%s: must be between %lld and %lld", p, lo, hi);
    if (multiple > 1 && n % multiple)
        return nb_err_set(err, -EINVAL, "%s: must be a multiple of %lld", p, multiple);
    return 0;
}

static int check_bool(const json_t *obj, const char *path, const char *key, struct nb_err *err)
{
    json_t *v = get(obj, key);
    if (v && !json_is_boolean(v)) {
        _cleanup_free_ char *p = nb_xasprintf("%s.%s", path, key);
        return bad(err, p, "must be true or false");
    }
    return 0;
}

static const char *const http_methods[] = {"GET",  "POST",  "PUT",     "DELETE",
                                           "HEAD", "PATCH", "OPTIONS", NULL};

static int validate_http_config(json_t *cfg, const char *path, struct nb_err *err)
{
    static const char *const keys[] = {"authType", "methods", NULL};
    int rc = check_keys(cfg, path, keys, err);
    if (rc)
        return rc;
    json_t *auth = get(cfg, "authType");
    if (auth && (!json_is_string(auth) || (strcmp(json_string_value(auth), "anonymous") &&
                                           strcmp(json_string_value(auth), "function")))) {
        _cleanup_free_ char *p = nb_xasprintf("%s.authType", path);
        return bad(err, p, "must be 'anonymous' or 'function'");
    }
    json_t *methods = get(cfg, "methods");
    if (methods) {
        _cleanup_free_ char *p = nb_xasprintf("%s.methods", path);
        if (!json_is_array(methods))
            return bad(err, p, "must be a list of HTTP methods");
        size_t i;
        json_t *m;
        json_array_foreach(methods, i, m)
        {
            int ok = 0;
            for (const char *const *a = http_methods; *a && !ok; a++)
                ok = json_is_string(m) && !strcasecmp(*a, json_string_value(m));
            if (!ok)
                return nb_err_set(err, -EINVAL,
                                  "%s[%zu]: must be one of GET, POST, PUT, DELETE, HEAD, PATCH, "
                                  "OPTIONS",
                                  p, i);
            /* Normalize case: FC expects upper-case methods. */
            _cleanup_free_ char *up = nb_xstrdup(json_string_value(m));
            for (char *c = up; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            json_array_set_new(methods, i, json_string(up));
        }
    }
    return 0;
}

static int validate_timer_config(json_t *cfg, const char *path, struct nb_err *err)
{
    static const char *const keys[] = {"cronExpression", "payload", "enable", NULL};
    int rc = check_keys(cfg, path, keys, err);
    if (!rc)
        rc = check_string(cfg, path, "cronExpression", 1, err);
    if (!rc)
        rc = check_bool(cfg, path, "enable", err);
    if (rc)
        return rc;
    /* the server's parser (timer/cron.c): a bad schedule fails before anything is sent */
    struct nb_cron cron;
    struct nb_err cerr = {0};
    if (nb_cron_parse(json_string_value(get(cfg, "cronExpression")), &cron, &cerr) < 0)
        return nb_err_set(err, -EINVAL, "%s.cronExpression: %s", path, cerr.msg);
    json_t *payload = get(cfg, "payload");
    if (payload && !json_is_string(payload)) {
        /* A structured payload is sent as its JSON text, which is what FC stores. */
        char *text = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
        json_object_set_new(cfg, "payload", json_string(text));
        free(text);
    }
    return 0;
}

static int validate_trigger(json_t *t, const char *path, struct nb_err *err)
{
    static const char *const keys[] = {"name", "type", "qualifier", "config", NULL};
    if (!json_is_object(t))
        return bad(err, path, "must be a mapping with name, type and config");
    int rc = check_keys(t, path, keys, err);
    if (!rc)
        rc = check_string(t, path, "name", 1, err);
    if (!rc)
        rc = check_string(t, path, "type", 1, err);
    if (!rc)
        rc = check_string(t, path, "qualifier", 0, err);
    if (rc)
        return rc;
    const char *name = json_string_value(get(t, "name"));
    if (!nb_manifest_valid_name(name)) {
        _cleanup_free_ char *p = nb_xasprintf("%s.name", path);
        return bad(err, p, NAME_RULE);
    }
    const char *type = json_string_value(get(t, "type"));
    json_t *cfg = get(t, "config");
    _cleanup_free_ char *cpath = nb_xasprintf("%s.config", path);
    if (cfg && !json_is_object(cfg))
        return bad(err, cpath, "must be a mapping");
    if (!cfg) {
        cfg = json_object();
        json_object_set_new(t, "config", cfg);
    }
    if (!strcmp(type, "http"))
        return validate_http_config(cfg, cpath, err);
    if (!strcmp(type, "timer"))
        return validate_timer_config(cfg, cpath, err);
    _cleanup_free_ char *p = nb_xasprintf("%s.type", path);
    return bad(err, p, "must be 'http' or 'timer'");
}

static int validate_function(const char *fname, json_t *fn, struct nb_err *err)
{
    static const char *const keys[] = {"runtime",
                                       "handler",
                                       "codeUri",
                                       "memorySize",
                                       "timeout",
                                       "initializer",
                                       "initializationTimeout",
                                       "instanceConcurrency",
                                       "environmentVariables",
                                       "handlerType",
                                       "description",
                                       "asyncConfig",
                                       "triggers",
                                       NULL};
    _cleanup_free_ char *path = nb_xasprintf("functions.%s", fname);
    int rc;

    if (!nb_manifest_valid_name(fname))
        return bad(err, path, "function name " NAME_RULE);
    if (!json_is_object(fn))
        return bad(err, path, "must be a mapping (runtime, handler, ...)");
    if ((rc = check_keys(fn, path, keys, err)))
        return rc;
    if ((rc = check_string(fn, path, "runtime", 1, err)))
        return rc;
    const char *runtime = json_string_value(get(fn, "runtime"));
    if (strncmp(runtime, "nodejs", 6) && strncmp(runtime, "python3", 7) &&
        strncmp(runtime, "custom", 6)) {
        _cleanup_free_ char *p = nb_xasprintf("%s.runtime", path);
        return nb_err_set(err, -EINVAL, "%s: '%s' is not supported (nodejs*, python3* or custom)",
                          p, runtime);
    }
    int custom = !strncmp(runtime, "custom", 6);
    if ((rc = check_string(fn, path, "handler", !custom, err)) ||
        (rc = check_string(fn, path, "codeUri", 0, err)) ||
        (rc = check_string(fn, path, "initializer", 0, err)) ||
        (rc = check_string(fn, path, "handlerType", 0, err)) ||
        (rc = check_string(fn, path, "description", 0, err)) ||
        (rc = check_int(fn, path, "memorySize", 64, 32768, 64, err)) ||
        (rc = check_int(fn, path, "timeout", 1, 86400, 1, err)) ||
        (rc = check_int(fn, path, "initializationTimeout", 1, 300, 1, err)) ||
        (rc = check_int(fn, path, "instanceConcurrency", 1, 100, 1, err)))
        return rc;
    const char *handler = json_string_value(get(fn, "handler"));
    if (handler &&
        (!strchr(handler, '.') || handler[0] == '.' || handler[strlen(handler) - 1] == '.')) {
        _cleanup_free_ char *p = nb_xasprintf("%s.handler", path);
        return bad(err, p, "must be <file>.<export>, e.g. index.handler");
    }
    if (!get(fn, "codeUri"))
        json_object_set_new(fn, "codeUri", json_string("./"));

    json_t *env = get(fn, "environmentVariables");
    if (env) {
        _cleanup_free_ char *p = nb_xasprintf("%s.environmentVariables", path);
        if (!json_is_object(env))
            return bad(err, p, "must be a mapping of names to strings");
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(env, tmp, k, v)
        {
            if (!*k || strchr(k, '=')) {
                _cleanup_free_ char *kp = nb_xasprintf("%s.%s", p, k);
                return bad(err, kp, "is not a valid variable name");
            }
            if (json_is_string(v))
                continue;
            char *text = NULL;
            if (json_is_integer(v))
                text = nb_xasprintf("%lld", (long long)json_integer_value(v));
            else if (json_is_boolean(v))
                text = nb_xstrdup(json_is_true(v) ? "true" : "false");
            else if (json_is_null(v))
                text = nb_xstrdup("");
            if (!text) {
                _cleanup_free_ char *kp = nb_xasprintf("%s.%s", p, k);
                return bad(err, kp, "must be a string");
            }
            json_object_set_new(env, k, json_string(text));
            free(text);
        }
    }

    json_t *triggers = get(fn, "triggers");
    if (triggers) {
        _cleanup_free_ char *p = nb_xasprintf("%s.triggers", path);
        if (!json_is_array(triggers))
            return bad(err, p, "must be a list");
        size_t i;
        json_t *t;
        json_array_foreach(triggers, i, t)
        {
            _cleanup_free_ char *tp = nb_xasprintf("%s[%zu]", p, i);
            if ((rc = validate_trigger(t, tp, err)))
                return rc;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(json_string_value(json_object_get(json_array_get(triggers, j), "name")),
                            json_string_value(json_object_get(t, "name")))) {
                    _cleanup_free_ char *np = nb_xasprintf("%s.name", tp);
                    return nb_err_set(err, -EINVAL, "%s: duplicate trigger name '%s'", np,
                                      json_string_value(json_object_get(t, "name")));
                }
        }
    }
    return 0;
}

int nb_manifest_validate(json_t *m, struct nb_err *err)
{
    static const char *const top_keys[] = {"service", "functions", NULL};
    static const char *const svc_keys[] = {"name", "description", "internetAccess", NULL};
    int rc;

    if (!json_is_object(m))
        return nb_err_set(err, -EINVAL,
                          "the manifest must be a mapping with service and functions");
    if ((rc = check_keys(m, "", top_keys, err)))
        return rc;
    json_t *svc = get(m, "service");
    if (!svc)
        return bad(err, "service", "is required (service: {name: ...})");
    if (!json_is_object(svc))
        return bad(err, "service", "must be a mapping (name, description, internetAccess)");
    if ((rc = check_keys(svc, "service", svc_keys, err)) ||
        (rc = check_string(svc, "service", "name", 1, err)) ||
        (rc = check_string(svc, "service", "description", 0, err)) ||
        (rc = check_bool(svc, "service", "internetAccess", err)))
        return rc;
    if (!nb_manifest_valid_name(json_string_value(get(svc, "name"))))
        return bad(err, "service.name", NAME_RULE);

    json_t *fns = get(m, "functions");
    if (!fns)
        return bad(err, "functions", "is required");
    if (!json_is_object(fns) || json_object_size(fns) == 0)
        return bad(err, "functions", "must be a mapping of function names to their configuration");
    const char *fname;
    json_t *fn;
    json_object_foreach(fns, fname, fn)
    {
        if ((rc = validate_function(fname, fn, err)))
            return rc;
    }
    return 0;
}

int nb_manifest_load(const char *dir, json_t **out, struct nb_err *err)
{
    _cleanup_free_ char *path = nb_xasprintf("%s/nubis.yaml", dir);
    size_t len;
    _cleanup_free_ char *text = nb_read_file(path, &len);
    *out = NULL;
    if (!text)
        return nb_err_sys(err, -errno, "read '%s'", path);
    json_t *m = nb_yaml_to_json(text, len, path, err);
    if (!m)
        return err ? err->code : -EINVAL;
    struct nb_err verr = {0};
    int rc = nb_manifest_validate(m, &verr);
    if (rc) {
        json_decref(m);
        return nb_err_set(err, rc, "%s: %s", path, verr.msg);
    }
    *out = m;
    return 0;
}

/* ---- API bodies ------------------------------------------------------ */

static void copy_key(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = get(src, key);
    if (v)
        json_object_set(dst, key, v);
}

json_t *nb_manifest_service_body(const json_t *m)
{
    const json_t *svc = get(m, "service");
    json_t *b = json_object();
    json_object_set(b, "serviceName", get(svc, "name"));
    copy_key(b, svc, "description");
    copy_key(b, svc, "internetAccess");
    return b;
}

json_t *nb_manifest_function_body(const char *fname, const json_t *fn, const char *checksum)
{
    static const char *const keys[] = {
        "runtime",     "handler",     "initializer",         "initializationTimeout",
        "memorySize",  "timeout",     "instanceConcurrency", "environmentVariables",
        "handlerType", "description", "asyncConfig"};
    json_t *b = json_object();
    json_object_set_new(b, "functionName", json_string(fname));
    for (size_t i = 0; i < NB_ARRAY_SIZE(keys); i++)
        copy_key(b, fn, keys[i]);
    if (checksum)
        json_object_set_new(b, "code", json_pack("{s:s}", "checksum", checksum));
    return b;
}

json_t *nb_manifest_trigger_body(const json_t *t)
{
    json_t *b = json_object();
    json_object_set(b, "triggerName", get(t, "name"));
    json_object_set(b, "triggerType", get(t, "type"));
    copy_key(b, t, "qualifier");
    json_t *cfg = get(t, "config");
    json_object_set_new(b, "triggerConfig", cfg ? json_deep_copy(cfg) : json_object());
    return b;
}
