/*
 * keys.h: access keys at rest and their scopes.
 *
 * Secrets are needed in clear to verify HMAC signatures, so they cannot be
 * hashed: they are encrypted with AES-256-GCM under a master key kept in
 * DIR/master.key (32 random bytes, mode 0600, created on first start), the
 * key id bound as additional data so a ciphertext cannot be moved to
 * another key's row.  Stored form: "v1:" base64(nonce[12] ciphertext
 * tag[16]).  A stored secret without the prefix is a legacy clear one.
 *
 * Scopes: "admin" (everything, keys included), "deploy" (services,
 * functions, triggers, code, custom domains, invoke; not keys), "invoke"
 * (the invoke API and signed HTTP triggers), "service:NAME" (deploy and
 * invoke, only for that service's resources).
 */
#ifndef NB_AUTH_KEYS_H
#define NB_AUTH_KEYS_H

#include "base/err.h"

#define NB_KEYS_MASTER_BYTES 32

/* Reads data_dir/master.key, creating it if missing.  0 or -errno with err. */
int nb_keys_master_load(const char *data_dir, unsigned char key[NB_KEYS_MASTER_BYTES],
                        struct nb_err *err);
/* Encrypts secret for key_id; the stored form (caller frees), NULL if OpenSSL fails. */
char *nb_keys_seal(const unsigned char key[NB_KEYS_MASTER_BYTES], const char *key_id,
                   const char *secret);
/* Decrypts a stored secret (caller frees); NULL if it does not authenticate. */
char *nb_keys_open(const unsigned char key[NB_KEYS_MASTER_BYTES], const char *key_id,
                   const char *stored);

enum nb_scope_action {
    NB_ACT_INVOKE, /* invoke API, signed triggers, async invocation status */
    NB_ACT_DEPLOY, /* management of services, functions, triggers, code, domains */
    NB_ACT_ADMIN,  /* access keys */
};

/* 1 if scope is one of the forms above. */
int nb_scope_valid(const char *scope);
/*
 * 1 if scope may do act on service: NULL for resources of no single service
 * (listing services, custom domains), "*" for ones any service may use (code
 * uploads).
 */
int nb_scope_allows(const char *scope, enum nb_scope_action act, const char *service);

#endif
