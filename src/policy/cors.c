/*
 * cors.c: CORS rules of an HTTP trigger (policy.h).  The gateway answers a
 * preflight (OPTIONS with Access-Control-Request-Method) itself and adds
 * Access-Control-Allow-Origin and friends to actual responses; this file
 * parses the rules and decides which origin is allowed.
 */
#include "policy/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/buf.h"

/* A header-safe token list: visible ASCII, no separators that break a header. */
static int safe_token(const char *s, size_t max)
{
    if (s == NULL || *s == '\0' || strlen(s) > max)
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == ',')
            return 0;
    return 1;
}

/* Joins a JSON array of tokens as "a, b"; NULL (no error) if v is missing. */
static int join_list(const json_t *v, const char *field, char **out, struct nb_err *err)
{
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > 64)
        return nb_err_set(err, -EINVAL, "%s must be an array of at most 64 names", field);
    struct nb_buf b;
    nb_buf_init(&b, 8192);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (!safe_token(s, 100)) {
            nb_buf_release(&b);
            return nb_err_set(err, -EINVAL, "%s[%zu] must be a header or method name", field, i);
        }
        nb_buf_printf(&b, "%s%s", i ? ", " : "", s);
    }
    *out = nb_buf_steal(&b, NULL);
    if (*out == NULL)
        *out = nb_xstrdup("");
    return 0;
}

int nb_cors_parse(const json_t *v, const char *field, struct nb_cors *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->max_age = -1;
    if (v == NULL || json_is_null(v))
        return 0;
    char sub[160];
    if (!json_is_object(v))
        return nb_err_set(err, -EINVAL, "%s must be an object {allowOrigins, allowMethods, ...}",
                          field);
    static const char *const known[] = {"allowOrigins",  "allowMethods",     "allowHeaders",
                                        "exposeHeaders", "allowCredentials", "maxAge"};
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            return nb_err_set(err, -EINVAL,
                              "%s: unknown key '%s' (use allowOrigins, allowMethods, allowHeaders, "
                              "exposeHeaders, allowCredentials, maxAge)",
                              field, key);
    }
    json_t *origins = json_object_get(v, "allowOrigins");
    if (!json_is_array(origins) || json_array_size(origins) == 0 || json_array_size(origins) > 256)
        return nb_err_set(err, -EINVAL,
                          "%s.allowOrigins must be a non-empty array of origins "
                          "(\"https://app.example.com\") or [\"*\"]",
                          field);
    out->origins = nb_xcalloc(json_array_size(origins), sizeof(char *));
    size_t i;
    json_t *item;
    json_array_foreach(origins, i, item)
    {
        const char *s = json_string_value(item);
        int ok = s && strlen(s) <= 512 &&
                 (strcmp(s, "*") == 0 || strncmp(s, "http://", 7) == 0 ||
                  strncmp(s, "https://", 8) == 0);
        for (const char *p = s; ok && *p; p++)
            ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != ',';
        if (!ok) {
            nb_cors_release(out);
            return nb_err_set(err, -EINVAL,
                              "%s.allowOrigins[%zu] must be \"*\" or an origin like "
                              "\"https://app.example.com\"",
                              field, i);
        }
        out->origins[out->norigins++] = nb_xstrdup(s);
    }
    snprintf(sub, sizeof(sub), "%s.allowMethods", field);
    if (join_list(json_object_get(v, "allowMethods"), sub, &out->methods, err) < 0)
        goto fail;
    snprintf(sub, sizeof(sub), "%s.allowHeaders", field);
    if (join_list(json_object_get(v, "allowHeaders"), sub, &out->headers, err) < 0)
        goto fail;
    snprintf(sub, sizeof(sub), "%s.exposeHeaders", field);
    if (join_list(json_object_get(v, "exposeHeaders"), sub, &out->expose, err) < 0)
        goto fail;
    json_t *cred = json_object_get(v, "allowCredentials");
    if (cred && !json_is_boolean(cred)) {
        nb_err_set(err, -EINVAL, "%s.allowCredentials must be true or false", field);
        goto fail;
    }
    out->credentials = json_is_true(cred);
    json_t *age = json_object_get(v, "maxAge");
    if (age) {
        if (!json_is_integer(age) || json_integer_value(age) < 0 ||
            json_integer_value(age) > 86400) {
            nb_err_set(err, -EINVAL, "%s.maxAge must be an integer between 0 and 86400", field);
            goto fail;
        }
        out->max_age = (int)json_integer_value(age);
    }
    out->enabled = 1;
    return 0;
fail:
    nb_cors_release(out);
    return -EINVAL;
}

void nb_cors_release(struct nb_cors *c)
{
    for (size_t i = 0; i < c->norigins; i++)
        free(c->origins[i]);
    free(c->origins);
    free(c->methods);
    free(c->headers);
    free(c->expose);
    memset(c, 0, sizeof(*c));
    c->max_age = -1;
}

const char *nb_cors_allow_origin(const struct nb_cors *c, const char *origin)
{
    if (!c->enabled || origin == NULL || *origin == '\0')
        return NULL;
    for (size_t i = 0; i < c->norigins; i++) {
        if (strcmp(c->origins[i], "*") == 0)
            return c->credentials ? origin : "*";
        if (strcasecmp(c->origins[i], origin) == 0)
            return origin;
    }
    return NULL;
}
