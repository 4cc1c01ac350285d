/*
 * sigv4.h: AWS Signature Version 4, as the AWS SDKs sign requests to the
 * Lambda invoke API (reference/compat-apis.md B.5).  The gateway verifies it
 * with the same access keys as the FC scheme: the SDK's accessKeyId and
 * secretAccessKey are a nubis access key's id and secret.
 *
 *   Authorization: AWS4-HMAC-SHA256 Credential=<id>/<yyyymmdd>/<region>/<service>/aws4_request,
 *                  SignedHeaders=<a;b;c>, Signature=<hex>
 *   CanonicalRequest = METHOD "\n" CanonicalURI "\n" CanonicalQuery "\n"
 *                      (name ":" value "\n" for each signed header) "\n"
 *                      SignedHeaders "\n" hex(sha256(body))
 *   StringToSign = "AWS4-HMAC-SHA256\n" X-Amz-Date "\n" <date/region/service/aws4_request> "\n"
 *                  hex(sha256(CanonicalRequest))
 *   Signature = hex(HMAC(HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 *                   "aws4_request"), StringToSign))
 *
 * CanonicalURI is the path as sent, dot segments and empty segments removed,
 * percent-encoded once more (every service but S3: "%2F" becomes "%252F");
 * CanonicalQuery the decoded pairs re-encoded (RFC 3986 unreserved kept),
 * sorted by name, then value.
 */
#ifndef NB_AUTH_SIGV4_H
#define NB_AUTH_SIGV4_H

#include <stddef.h>

#include "base/kv.h"

/* A parsed Authorization header; the strings point into buf. */
struct nb_sigv4_auth {
    char *buf;
    const char *id, *date, *region, *service; /* from Credential= */
    const char *signed_headers;               /* "host;x-amz-date", lower case, sorted */
    const char *signature;                    /* 64 hex digits */
};

/* Parses value ("AWS4-HMAC-SHA256 Credential=..."); 0, or -EINVAL (a->buf is then NULL). */
int nb_sigv4_parse(const char *value, struct nb_sigv4_auth *a);
void nb_sigv4_release(struct nb_sigv4_auth *a);

/*
 * The hex signature of a request (caller frees), or NULL if the request
 * cannot be canonicalized: a signed header missing, a bad escape in the
 * path or query.  path and query are as sent (query without '?', or NULL);
 * headers are all the request's; payload_sha256 is the body's hex sha256.
 */
char *nb_sigv4_signature(const struct nb_sigv4_auth *a, const char *secret, const char *amz_date,
                         const char *method, const char *path, const char *query,
                         const struct nb_kv *headers, size_t nheaders, const char *payload_sha256);

/* Parses an X-Amz-Date ("20261126T051000Z") to epoch seconds; -1 if invalid. */
long long nb_sigv4_parse_date(const char *amz_date);

#endif
