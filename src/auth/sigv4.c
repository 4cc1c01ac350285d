/*
 * sigv4.c: AWS Signature Version 4 (see sigv4.h).
 *
 * Verification recomputes the signature from the request as received and
 * compares it (in constant time, by the caller) with the one sent; nothing
 * here knows keys or clocks beyond parsing X-Amz-Date.  Checked against
 * AWS's published test-suite vectors (tests/unit/auth/test_sigv4.c) and, end
 * to end, against the real @aws-sdk/client-lambda (tests/e2e/test_lambda.py).
 */
#include "auth/sigv4.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/util.h"

#define CANON_MAX (1u << 20)

static void trim(char **s)
{
    while (**s == ' ' || **s == '\t')
        (*s)++;
    char *e = *s + strlen(*s);
    while (e > *s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
}

int nb_sigv4_parse(const char *value, struct nb_sigv4_auth *a)
{
    memset(a, 0, sizeof(*a));
    static const char algo[] = "AWS4-HMAC-SHA256 ";
    if (!value || strncmp(value, algo, sizeof(algo) - 1) != 0)
        return -EINVAL;
    a->buf = nb_xstrdup(value + sizeof(algo) - 1);
    char *cred = NULL;
    for (char *save = NULL, *part = strtok_r(a->buf, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        trim(&part);
        if (strncmp(part, "Credential=", 11) == 0)
            cred = part + 11;
        else if (strncmp(part, "SignedHeaders=", 14) == 0)
            a->signed_headers = part + 14;
        else if (strncmp(part, "Signature=", 10) == 0)
            a->signature = part + 10;
    }
    /* Credential = id/date/region/service/aws4_request */
    const char **f[] = {&a->id, &a->date, &a->region, &a->service};
    size_t nf = 0;
    char *p = cred;
    while (p && nf < 4) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        *f[nf++] = p;
        p = slash + 1;
    }
    if (nf != 4 || !p || strcmp(p, "aws4_request") != 0 || !*a->id || strlen(a->date) != 8 ||
        !a->signed_headers || !*a->signed_headers || !a->signature || strlen(a->signature) != 64) {
        nb_sigv4_release(a);
        return -EINVAL;
    }
    return 0;
}

void nb_sigv4_release(struct nb_sigv4_auth *a)
{
    free(a->buf);
    memset(a, 0, sizeof(*a));
}

long long nb_sigv4_parse_date(const char *s)
{
    struct tm tm = {0};
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    const char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    if (!end || *end)
        return -1;
    return (long long)timegm(&tm);
}

/* The path's segments without empty ones, "." and "..", each encoded once more. */
static int canonical_uri(struct nb_buf *b, const char *path)
{
    const char *segs[256];
    size_t lens[256], n = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            /* skipped */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (n > 0)
                n--;
        } else {
            if (n == sizeof(segs) / sizeof(segs[0]))
                return -1;
            segs[n] = p;
            lens[n++] = len;
        }
        p += len;
    }
    int full = 0;
    for (size_t i = 0; i < n; i++) {
        char *e = nb_url_encode(segs[i], lens[i]);
        full |= nb_buf_appendc(b, '/') < 0 || nb_buf_appends(b, e) < 0;
        free(e);
    }
    size_t plen = strlen(path);
    if (n == 0 || (plen > 0 && path[plen - 1] == '/'))
        full |= nb_buf_appendc(b, '/') < 0;
    return full ? -1 : 0;
}

struct qpair {
    char *k, *v;
};

static int cmp_qpair(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

/* name=value pairs decoded, re-encoded, sorted. */
static int canonical_query(struct nb_buf *b, const char *query)
{
    if (!query || !*query)
        return 0;
    size_t cap = 1;
    for (const char *c = query; *c; c++)
        cap += *c == '&';
    struct qpair *q = nb_xcalloc(cap, sizeof(*q));
    size_t n = 0, pos = 0;
    int rc;
    char *k, *v;
    while ((rc = nb_query_next(query, &pos, 0, &k, &v)) > 0) { /* cap: one per '&', plus one */
        q[n].k = nb_url_encode(k, strlen(k));
        q[n].v = nb_url_encode(v, strlen(v));
        n++;
        free(k);
        free(v);
    }
    qsort(q, n, sizeof(*q), cmp_qpair);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && nb_buf_printf(b, "%s%s=%s", i ? "&" : "", q[i].k, q[i].v) < 0)
            rc = -1;
        free(q[i].k);
        free(q[i].v);
    }
    free(q);
    return rc;
}

/* One signed header: its values (trimmed, inner runs of spaces as one) joined by ','. */
static int canonical_header(struct nb_buf *b, const char *name, size_t nlen,
                            const struct nb_kv *headers, size_t nheaders)
{
    int found = 0, full = 0;
    full |= nb_buf_printf(b, "%.*s:", (int)nlen, name) < 0;
    for (size_t i = 0; i < nheaders; i++) {
        if (strlen(headers[i].key) != nlen || strncasecmp(headers[i].key, name, nlen) != 0)
            continue;
        if (found++)
            full |= nb_buf_appendc(b, ',') < 0;
        const char *v = headers[i].value;
        while (*v == ' ' || *v == '\t')
            v++;
        int space = 0;
        for (; *v; v++) {
            if (*v == ' ' || *v == '\t') {
                space = 1;
                continue;
            }
            if (space)
                full |= nb_buf_appendc(b, ' ') < 0;
            space = 0;
            full |= nb_buf_appendc(b, *v) < 0;
        }
    }
    full |= nb_buf_appendc(b, '\n') < 0;
    return found && !full ? 0 : -1;
}

char *nb_sigv4_signature(const struct nb_sigv4_auth *a, const char *secret, const char *amz_date,
                         const char *method, const char *path, const char *query,
                         const struct nb_kv *headers, size_t nheaders, const char *payload_sha256)
{
    struct nb_buf b;
    nb_buf_init(&b, CANON_MAX);
    int bad = nb_buf_printf(&b, "%s\n", method) < 0 || canonical_uri(&b, path) < 0 ||
              nb_buf_appendc(&b, '\n') < 0 || canonical_query(&b, query) < 0 ||
              nb_buf_appendc(&b, '\n') < 0;
    for (const char *h = a->signed_headers; !bad && *h;) {
        size_t len = strcspn(h, ";");
        bad = len == 0 || canonical_header(&b, h, len, headers, nheaders) < 0;
        h += len + (h[len] == ';');
    }
    bad = bad || nb_buf_printf(&b, "\n%s\n%s", a->signed_headers, payload_sha256) < 0;
    if (bad) {
        nb_buf_release(&b);
        return NULL;
    }
    char creq[65];
    nb_sha256_hex(b.data, b.len, creq);
    nb_buf_release(&b);

    struct nb_buf sts;
    nb_buf_init(&sts, 4096);
    if (nb_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, a->date,
                      a->region, a->service, creq) < 0) {
        nb_buf_release(&sts);
        return NULL;
    }
    unsigned char k[32], m[32];
    char *k0 = nb_xasprintf("AWS4%s", secret);
    nb_hmac_sha256(k0, strlen(k0), a->date, strlen(a->date), k);
    nb_hmac_sha256(k, sizeof(k), a->region, strlen(a->region), m);
    nb_hmac_sha256(m, sizeof(m), a->service, strlen(a->service), k);
    nb_hmac_sha256(k, sizeof(k), "aws4_request", 12, m);
    nb_hmac_sha256(m, sizeof(m), sts.data, sts.len, k);
    explicit_bzero(k0, strlen(k0));
    explicit_bzero(m, sizeof(m));
    free(k0);
    nb_buf_release(&sts);
    char *out = nb_xmalloc(65);
    nb_hex(k, sizeof(k), out);
    return out;
}
