/*
 * code.c: code packages: `POST /api/v1/code` (a raw zip) and the `code`
 * object of a function create/update ({zipFile} or {checksum}).
 *
 * Packages go to the code store, which verifies and unpacks them; the
 * function row keeps only the digest.  Deleting or updating a function does
 * not remove its old package yet (nb_store_code_in_use tells whether a
 * package is still referenced, for a later garbage collector).
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/util.h"
#include "codestore/codestore.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Stores a zip; 0 with digest/size, or -1 with the reply set (400/413/500). */
static int put_zip(struct nb_api_ctx *c, const void *zip, size_t len, char digest[65],
                   int64_t *size)
{
    struct nb_err err = {0};
    int r = nb_codestore_put(c->api->code, zip, len, digest, &err);
    if (r == -EFBIG)
        return nb_api_fail(c, 413, "EntityTooLarge", "%s", err.msg);
    if (r == -EINVAL)
        return nb_api_fail(c, 400, "InvalidArgument", "%s", err.msg);
    if (r < 0)
        return nb_api_fail(c, 500, "InternalServerError", "storing code: %s", err.msg);
    *size = (int64_t)len;
    return 0;
}

void nb_api_code_upload(struct nb_api_ctx *c)
{
    if (c->req->body_len == 0) {
        nb_api_fail(c, 400, "InvalidArgument", "request body is empty: send the zip itself");
        return;
    }
    char digest[65];
    int64_t size;
    if (put_zip(c, c->req->body, c->req->body_len, digest, &size) < 0)
        return;
    nb_api_reply(c, 200, json_pack("{s:s, s:I}", "checksum", digest, "codeSize", (json_int_t)size));
}

static bool is_sha256_hex(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isdigit((unsigned char)s[n]) && !(s[n] >= 'a' && s[n] <= 'f'))
            return false;
    return n == 64;
}

int nb_api_resolve_code(struct nb_api_ctx *c, json_t *code, char digest[65], int64_t *size)
{
    if (!json_is_object(code))
        return nb_api_fail(c, 400, "InvalidArgument",
                           "code must be an object: {\"zipFile\": \"<base64 zip>\"} or "
                           "{\"checksum\": \"<sha256 of an uploaded zip>\"}");
    json_t *zip = json_object_get(code, "zipFile");
    json_t *sum = json_object_get(code, "checksum");
    if (zip && sum)
        return nb_api_fail(c, 400, "InvalidArgument",
                           "code: give either zipFile or checksum, not both");
    if (zip) {
        if (!json_is_string(zip))
            return nb_api_fail(c, 400, "InvalidArgument", "code.zipFile must be a base64 string");
        size_t len;
        _cleanup_free_ unsigned char *bytes =
            nb_base64_decode(json_string_value(zip), json_string_length(zip), &len);
        if (!bytes)
            return nb_api_fail(c, 400, "InvalidArgument", "code.zipFile is not valid base64");
        return put_zip(c, bytes, len, digest, size);
    }
    if (sum) {
        const char *s = json_string_value(sum);
        if (!s || !is_sha256_hex(s))
            return nb_api_fail(c, 400, "InvalidArgument",
                               "code.checksum must be a sha256 digest (64 lowercase hex "
                               "characters)");
        int64_t n =
            nb_codestore_has(c->api->code, s) ? nb_codestore_size(c->api->code, s) : -ENOENT;
        if (n < 0)
            return nb_api_fail(c, 400, "InvalidArgument",
                               "code checksum '%s' was not uploaded: POST the zip to "
                               "/api/v1/code first",
                               s);
        memcpy(digest, s, 65);
        *size = n;
        return 0;
    }
    return nb_api_fail(c, 400, "InvalidArgument",
                       "code must give zipFile (base64 zip) or checksum (of a zip uploaded to "
                       "/api/v1/code); OSS locations are not supported");
}
