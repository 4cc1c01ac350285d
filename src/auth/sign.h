/*
 * sign.h: the FC request signature (reference/compat-apis.md A.6), used by
 * the gateway to verify management requests and "function" HTTP triggers,
 * and by the CLI to sign its own requests: one implementation for both.
 *
 *   Authorization: FC <AccessKeyID>:<base64(HMAC-SHA256(secret, StringToSign))>
 *   StringToSign = METHOD "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
 *                  CanonicalizedFCHeaders CanonicalizedResource
 */
#ifndef NB_AUTH_SIGN_H
#define NB_AUTH_SIGN_H

#include <stddef.h>

#include "base/kv.h"

/*
 * Builds the string to sign (caller frees).  headers are all the request's
 * headers (only x-fc-* ones are used; names compared case-insensitively);
 * content_md5/content_type/date are the header values or NULL.  path is the
 * request path, still percent-encoded (it is decoded here); query is the raw
 * query (without '?') and is used only for FC proxy paths, i.e. when the
 * path after its first segment starts with "/proxy/" ("/2016-08-15/proxy/..."),
 * as the FC SDK does.
 * Returns NULL if the path or query cannot be decoded.
 */
char *nb_sign_string_to_sign(const char *method, const char *content_md5, const char *content_type,
                             const char *date, const struct nb_kv *headers, size_t nheaders,
                             const char *path, const char *query);
/* base64(HMAC-SHA256(secret, sts)) (caller frees). */
char *nb_sign_compute(const char *secret, const char *sts);
/*
 * Splits "FC <id>:<sig>" into id and signature (pointers into a copy the
 * caller frees through *buf).  Returns 0 or -EINVAL.
 */
int nb_sign_parse_authorization(const char *value, char **buf, const char **id, const char **sig);
/* Parses an RFC 1123 date ("Wed, 25 Nov 2026 18:00:00 GMT") to epoch seconds; -1 if invalid. */
long long nb_sign_parse_date(const char *date);
/* Formats now as RFC 1123 into out (40 bytes). */
void nb_sign_format_date(long long epoch_s, char out[40]);

#endif
