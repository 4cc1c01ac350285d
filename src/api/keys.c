/*
 * keys.c: the admin access key created on first start (api.h, DESIGN.md).
 *
 * The key id looks like FC's and AWS's ("NB" + 18 upper-case
 * alphanumerics); the secret is 32 base64url characters (192 random bits).
 * The credentials file is written (atomically, mode 0600) before the key is
 * inserted, so a crash in between leaves at worst a file naming a key that
 * the next start replaces, never a key nobody can read.  If the keys exist
 * but the file is gone, it is written again from the first admin key.
 */
#include "api/internal.h"

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
    if (nb_store_key_list(api->store, &keys, &n, err) < 0)
        return NULL;
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
        struct nb_store_key k = {.id = id, .secret = secret, .scope = "admin"};
        if (nb_store_key_create(api->store, &k, err) < 0)
            return NULL;
        nb_info("api", "created admin access key '%s' (credentials in '%s')", id, path);
        if (nb_store_key_list(api->store, &keys, &n, err) < 0)
            return NULL;
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
