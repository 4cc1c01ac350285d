/*
 * keys.c: the admin access key created on first start (api.h, DESIGN.md).
 *
 * The key id looks like FC's and AWS's ("NB" + 18 upper-case
 * alphanumerics); the secret is 32 base64url characters (192 random bits).
 * The credentials file is written (atomically, mode 0600) before the key is
 * inserted, so a crash in between leaves at worst a file naming a key that
 * the next start replaces, never a key nobody can read.  If the keys exist
 * but the file is gone, it is written again from the first admin key.
 *
 * Secrets are stored encrypted under DIR/master.key (auth/keys.h) and shown
 * once, in the answer to POST /keys; GET /keys lists ids, scopes and times.
 * Key changes go back to the gateway as resp->events (api.h).
 */
#include "api/internal.h"

#include "auth/keys.h"

#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KEY_ID_CHARS 18
#define KEY_SECRET_BYTES 24

static void random_id(char out[2 + KEY_ID_CHARS + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    out[0] = 'N';
    out[1] = 'B';
    size_t n = 2;
    while (n < 2 + KEY_ID_CHARS) {
        unsigned char b[32];
        nb_random_bytes(b, sizeof(b));
        for (size_t i = 0; i < sizeof(b) && n < 2 + KEY_ID_CHARS; i++)
            if (b[i] < 252) /* 252 = 7 * 36: no modulo bias */
                out[n++] = alphabet[b[i] % 36];
    }
    out[n] = '\0';
}

static char *random_secret(void)
{
    unsigned char b[KEY_SECRET_BYTES];
    nb_random_bytes(b, sizeof(b));
    char *s = nb_base64_encode(b, sizeof(b)); /* 24 bytes: 32 chars, no padding */
    for (char *p = s; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return s;
}

static int write_credentials(const char *path, const char *id, const char *secret,
                             struct nb_err *err)
{
    _cleanup_free_ char *text =
        nb_xasprintf("NUBIS_ACCESS_KEY_ID=%s\nNUBIS_ACCESS_KEY_SECRET=%s\n", id, secret);
    int r = nb_write_file_atomic(path, text, strlen(text), 0600);
    if (r < 0)
        return nb_err_sys(err, r, "write '%s'", path);
    return 0;
}

/* Stored secrets to clear ones, in place; -EINVAL with err if one does not decrypt. */
static int open_secrets(struct nb_api *api, struct nb_store_key *keys, size_t n, struct nb_err *err)
{
    for (size_t i = 0; i < n; i++) {
        char *clear = nb_keys_open(api->master_key, keys[i].id, keys[i].secret);
        if (clear == NULL)
            return nb_err_set(err, -EINVAL,
                              "access key '%s': its secret does not decrypt with master.key "
                              "(was the file replaced?)",
                              keys[i].id);
        free(keys[i].secret);
        keys[i].secret = clear;
    }
    return 0;
}

static json_t *keys_json(struct nb_store_key *keys, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s}", "accessKeyId", keys[i].id,
                                        "accessKeySecret", keys[i].secret, "scope", keys[i].scope));
    return arr;
}

json_t *nb_api_keys_bootstrap(struct nb_api *api, const char *data_dir, struct nb_err *err)
{
    struct nb_store_key *keys;
    size_t n;
    int mr = nb_mkdir_p(data_dir, 0700);
    if (mr < 0) {
        nb_err_sys(err, mr, "mkdir '%s'", data_dir);
        return NULL;
    }
    if (nb_keys_master_load(data_dir, api->master_key, err) < 0)
        return NULL;
    api->has_master_key = 1;
    if (nb_store_key_list(api->store, &keys, &n, err) < 0)
        return NULL;
    if (open_secrets(api, keys, n, err) < 0) {
        nb_store_keys_free(keys, n);
        return NULL;
    }
    _cleanup_free_ char *path = nb_xasprintf("%s/credentials", data_dir);

    if (n == 0) {
        int r = nb_mkdir_p(data_dir, 0700);
        if (r < 0) {
            nb_err_sys(err, r, "mkdir '%s'", data_dir);
            return NULL;
        }
        char id[2 + KEY_ID_CHARS + 1];
        random_id(id);
        _cleanup_free_ char *secret = random_secret();
        if (write_credentials(path, id, secret, err) < 0)
            return NULL;
        _cleanup_free_ char *sealed = nb_keys_seal(api->master_key, id, secret);
        if (sealed == NULL) {
            nb_err_set(err, -EIO, "cannot encrypt the admin key's secret (OpenSSL AES-256-GCM)");
            return NULL;
        }
        struct nb_store_key k = {.id = id, .secret = sealed, .scope = "admin"};
        if (nb_store_key_create(api->store, &k, err) < 0)
            return NULL;
        nb_info("api", "created admin access key '%s' (credentials in '%s')", id, path);
        if (nb_store_key_list(api->store, &keys, &n, err) < 0)
            return NULL;
        if (open_secrets(api, keys, n, err) < 0) {
            nb_store_keys_free(keys, n);
            return NULL;
        }
    } else if (access(path, F_OK) < 0 && errno == ENOENT) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(keys[i].scope, "admin") != 0)
                continue;
            if (write_credentials(path, keys[i].id, keys[i].secret, err) < 0) {
                nb_store_keys_free(keys, n);
                return NULL;
            }
            nb_warn("api", "'%s' was missing: wrote admin key '%s' to it again", path, keys[i].id);
            break;
        }
    }
    json_t *out = keys_json(keys, n);
    nb_store_keys_free(keys, n);
    return out;
}

/* ---- the keys API (admin scope; the gateway checks it) ---- */

static json_t *key_view(const struct nb_store_key *k)
{
    char t[32];
    nb_api_format_time(k->created_ms, t);
    return json_pack("{s:s, s:s, s:s}", "accessKeyId", k->id, "scope", k->scope, "createdTime", t);
}

static void add_event(struct nb_api_ctx *c, json_t *ev)
{
    if (c->resp->events == NULL)
        c->resp->events = json_array();
    json_array_append_new(c->resp->events, ev);
}

static void keys_create(struct nb_api_ctx *c)
{
    json_t *body = NULL;
    if (c->req->body_len == 0)
        body = json_object();
    else if (nb_api_parse_body(c, &body) < 0)
        return;
    const char *scope = json_string_value(json_object_get(body, "scope"));
    if (json_object_get(body, "scope") == NULL)
        scope = "deploy";
    if (!nb_scope_valid(scope)) {
        json_decref(body);
        nb_api_fail(c, 400, "InvalidArgument",
                    "scope must be admin, deploy, invoke or service:NAME");
        return;
    }
    if (!c->api->has_master_key) {
        json_decref(body);
        nb_api_fail(c, 500, "InternalServerError", "no master key loaded: cannot store secrets");
        return;
    }
    char id[2 + KEY_ID_CHARS + 1];
    random_id(id);
    _cleanup_free_ char *secret = random_secret();
    _cleanup_free_ char *sealed = nb_keys_seal(c->api->master_key, id, secret);
    struct nb_err err = {0};
    struct nb_store_key k = {.id = id, .secret = sealed, .scope = (char *)scope};
    int r = sealed ? nb_store_key_create(c->api->store, &k, &err)
                   : nb_err_set(&err, -EIO, "cannot encrypt the secret");
    if (r < 0) {
        json_decref(body);
        nb_api_fail_store(c, r, &err, NULL, "AccessKeyAlreadyExists");
        return;
    }
    struct nb_store_key stored;
    if (nb_store_key_get(c->api->store, id, &stored, &err) < 0) {
        json_decref(body);
        nb_api_fail_store(c, -EIO, &err, NULL, NULL);
        return;
    }
    json_t *view = key_view(&stored);
    json_object_set_new(view, "accessKeySecret", json_string(secret));
    add_event(c, json_pack("{s:s, s:s, s:s, s:s}", "kind", "key", "accessKeyId", id,
                           "accessKeySecret", secret, "scope", scope));
    nb_info("api", "created access key '%s' (scope %s)", id, scope);
    nb_store_key_release(&stored);
    json_decref(body);
    nb_api_reply(c, 201, view);
}

static void keys_delete(struct nb_api_ctx *c, const char *id)
{
    struct nb_store_key *keys;
    size_t n;
    struct nb_err err = {0};
    int r = nb_store_key_list(c->api->store, &keys, &n, &err);
    if (r < 0) {
        nb_api_fail_store(c, r, &err, NULL, NULL);
        return;
    }
    size_t admins = 0;
    int target_admin = 0, found = 0;
    for (size_t i = 0; i < n; i++) {
        admins += strcmp(keys[i].scope, "admin") == 0;
        if (strcmp(keys[i].id, id) == 0) {
            found = 1;
            target_admin = strcmp(keys[i].scope, "admin") == 0;
        }
    }
    nb_store_keys_free(keys, n);
    if (!found) {
        nb_api_fail(c, 404, "AccessKeyNotFound", "access key '%s' not found", id);
        return;
    }
    if (target_admin && admins == 1) {
        nb_api_fail(c, 409, "LastAdminKey",
                    "access key '%s' is the last admin key: create another admin key first", id);
        return;
    }
    r = nb_store_key_delete(c->api->store, id, &err);
    if (r < 0) {
        nb_api_fail_store(c, r, &err, "AccessKeyNotFound", NULL);
        return;
    }
    add_event(c, json_pack("{s:s, s:s, s:b}", "kind", "key", "accessKeyId", id, "deleted", 1));
    nb_info("api", "revoked access key '%s'", id);
    nb_api_reply_empty(c);
}

void nb_api_keys(struct nb_api_ctx *c, const char *id)
{
    const char *m = c->req->method;
    struct nb_err err = {0};
    if (id == NULL && strcmp(m, "POST") == 0) {
        keys_create(c);
    } else if (id == NULL) {
        struct nb_store_key *keys;
        size_t n;
        int r = nb_store_key_list(c->api->store, &keys, &n, &err);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, NULL, NULL);
            return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, key_view(&keys[i]));
        nb_store_keys_free(keys, n);
        nb_api_reply(c, 200, json_pack("{s:o}", "keys", arr));
    } else if (strcmp(m, "DELETE") == 0) {
        keys_delete(c, id);
    } else {
        struct nb_store_key k;
        int r = nb_store_key_get(c->api->store, id, &k, &err);
        if (r < 0) {
            nb_api_fail_store(c, r, &err, "AccessKeyNotFound", NULL);
            return;
        }
        nb_api_reply(c, 200, key_view(&k));
        nb_store_key_release(&k);
    }
}
