/*
 * keys.c: encryption of access-key secrets at rest and scope checks
 * (keys.h), with OpenSSL's EVP AES-256-GCM.
 */
#include "auth/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/util.h"

#define NONCE 12
#define TAG 16
#define PREFIX "v1:"

int nb_keys_master_load(const char *data_dir, unsigned char key[NB_KEYS_MASTER_BYTES],
                        struct nb_err *err)
{
    _cleanup_free_ char *path = nb_xasprintf("%s/master.key", data_dir);
    size_t len = 0;
    char *data = nb_read_file(path, &len);
    if (data == NULL && errno != ENOENT)
        return nb_err_sys(err, -errno, "read '%s'", path);
    if (data == NULL) {
        nb_random_bytes(key, NB_KEYS_MASTER_BYTES);
        int r = nb_write_file_atomic(path, key, NB_KEYS_MASTER_BYTES, 0600);
        if (r < 0)
            return nb_err_sys(err, r, "write '%s'", path);
        return 0;
    }
    if (len != NB_KEYS_MASTER_BYTES) {
        free(data);
        return nb_err_set(err, -EINVAL, "'%s' must hold exactly %d bytes", path,
                          NB_KEYS_MASTER_BYTES);
    }
    memcpy(key, data, NB_KEYS_MASTER_BYTES);
    explicit_bzero(data, len);
    free(data);
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        chmod(path, 0600);
    return 0;
}

char *nb_keys_seal(const unsigned char key[NB_KEYS_MASTER_BYTES], const char *key_id,
                   const char *secret)
{
    size_t n = strlen(secret);
    unsigned char *buf = nb_xmalloc(NONCE + n + TAG);
    nb_random_bytes(buf, NONCE);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ok = ctx != NULL;
    ok = ok && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) == 1;
    ok = ok && EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)key_id,
                                 (int)strlen(key_id)) == 1;
    ok =
        ok && EVP_EncryptUpdate(ctx, buf + NONCE, &len, (const unsigned char *)secret, (int)n) == 1;
    ok = ok && EVP_EncryptFinal_ex(ctx, buf + NONCE + len, &len) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, buf + NONCE + n) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        free(buf);
        return NULL;
    }
    char *b64 = nb_base64_encode(buf, NONCE + n + TAG);
    char *out = nb_xasprintf(PREFIX "%s", b64);
    free(b64);
    free(buf);
    return out;
}

char *nb_keys_open(const unsigned char key[NB_KEYS_MASTER_BYTES], const char *key_id,
                   const char *stored)
{
    if (stored == NULL)
        return NULL;
    if (strncmp(stored, PREFIX, strlen(PREFIX)) != 0)
        return nb_xstrdup(stored); /* legacy: kept in clear */
    const char *b64 = stored + strlen(PREFIX);
    size_t len = 0;
    unsigned char *buf = nb_base64_decode(b64, strlen(b64), &len);
    if (buf == NULL || len < NONCE + TAG) {
        free(buf);
        return NULL;
    }
    size_t n = len - NONCE - TAG;
    char *out = nb_xmalloc(n + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l = 0, ok = ctx != NULL;
    ok = ok && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) == 1;
    ok = ok &&
         EVP_DecryptUpdate(ctx, NULL, &l, (const unsigned char *)key_id, (int)strlen(key_id)) == 1;
    ok = ok && EVP_DecryptUpdate(ctx, (unsigned char *)out, &l, buf + NONCE, (int)n) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, buf + NONCE + n) == 1;
    ok = ok && EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &l) == 1;
    EVP_CIPHER_CTX_free(ctx);
    free(buf);
    if (!ok || memchr(out, '\0', n)) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

static int service_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

int nb_scope_valid(const char *scope)
{
    if (scope == NULL)
        return 0;
    if (!strcmp(scope, "admin") || !strcmp(scope, "deploy") || !strcmp(scope, "invoke"))
        return 1;
    return strncmp(scope, "service:", 8) == 0 && service_name_ok(scope + 8);
}

int nb_scope_allows(const char *scope, enum nb_scope_action act, const char *service)
{
    if (scope == NULL)
        return 0;
    if (strcmp(scope, "admin") == 0)
        return 1;
    if (strcmp(scope, "deploy") == 0)
        return act != NB_ACT_ADMIN;
    if (strcmp(scope, "invoke") == 0)
        return act == NB_ACT_INVOKE;
    if (strncmp(scope, "service:", 8) == 0 && act != NB_ACT_ADMIN && service)
        return strcmp(service, "*") == 0 || strcmp(service, scope + 8) == 0;
    return 0;
}
