/*
 * sign.c: the FC request signature (reference/compat-apis.md A.6), computed
 * exactly as Alibaba's fc-nodejs-sdk does (lib/helper.js composeStringToSign):
 *
 *   METHOD \n Content-MD5 \n Content-Type \n Date \n
 *   <x-fc-* headers, lower-cased, sorted, "key:value\n" each>
 *   <URL-decoded path>[\n <sorted "k=v" query lines, /<version>/proxy/ paths only>]
 *
 * The SDK signs the path and query before encoding them; a server sees them
 * encoded, so both are decoded here (query with '+' as space, like Node's
 * querystring and Go's url.ParseQuery, which is what FC's SDKs sign).  A
 * query key without '=' signs as "k=" (both parsers give it an empty value);
 * empty '&&' segments are skipped, as both parsers do.  Header values are
 * trimmed of surrounding blanks (HTTP's optional whitespace is not part of
 * the value).
 */
#include "auth/sign.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/util.h"

/* A string to sign is small; cap it well above any sane request line + headers. */
#define STS_MAX (1u << 20)

struct fc_header {
    char *key;   /* lower-cased, trimmed */
    char *value; /* trimmed */
    size_t order;
};

static char *trim_dup(const char *s, int lower)
{
    if (!s)
        return nb_xstrdup("");
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    char *out = nb_xstrndup(s, n);
    if (lower)
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return out;
}

static int cmp_header(const void *a, const void *b)
{
    const struct fc_header *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Appends "\n" and the sorted "k=v" lines of the raw query to b.  Returns 0,
 * or -EINVAL if a key or value has a malformed escape.
 */
static int append_query_lines(struct nb_buf *b, const char *query)
{
    int full = 0;
    size_t cap = 8, n = 0;
    char **items = nb_xmalloc(cap * sizeof(*items));
    int rc;
    size_t pos = 0;
    char *k, *v;
    while ((rc = nb_query_next(query, &pos, 1, &k, &v)) > 0) {
        if (n == cap) {
            cap *= 2;
            items = nb_xrealloc(items, cap * sizeof(*items));
        }
        items[n++] = nb_xasprintf("%s=%s", k, v);
        free(k);
        free(v);
    }
    if (rc < 0)
        goto out;
    qsort(items, n, sizeof(*items), cmp_str);
    full |= nb_buf_appendc(b, '\n') < 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            full |= nb_buf_appendc(b, '\n') < 0;
        full |= nb_buf_appends(b, items[i]) < 0;
    }
    if (full)
        rc = -ENOBUFS;
out:
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    return rc;
}

/*
 * The SDK adds query lines when the path after the API version starts with
 * "/proxy/" ("/2016-08-15/proxy/s/f/..."); a service or function that
 * happens to be named "proxy" elsewhere in a path does not count.
 */
static int is_proxy_path(const char *p)
{
    if (*p != '/')
        return 0;
    const char *second = strchr(p + 1, '/');
    return second && !strncmp(second, "/proxy/", 7);
}

char *nb_sign_string_to_sign(const char *method, const char *content_md5, const char *content_type,
                             const char *date, const struct nb_kv *headers, size_t nheaders,
                             const char *path, const char *query)
{
    _cleanup_free_ char *dpath = nb_url_decode(path ? path : "", path ? strlen(path) : 0, 0);
    if (!dpath)
        return NULL;

    struct fc_header *fc = nb_xcalloc(nheaders ? nheaders : 1, sizeof(*fc));
    size_t nfc = 0;
    for (size_t i = 0; i < nheaders; i++) {
        if (!headers[i].key)
            continue;
        char *k = trim_dup(headers[i].key, 1);
        if (strncmp(k, "x-fc-", 5) != 0) {
            free(k);
            continue;
        }
        fc[nfc].key = k;
        fc[nfc].value = trim_dup(headers[i].value, 0);
        fc[nfc].order = i;
        nfc++;
    }
    qsort(fc, nfc, sizeof(*fc), cmp_header);

    struct nb_buf b;
    nb_buf_init(&b, STS_MAX);
    int full =
        nb_buf_printf(&b, "%s\n%s\n%s\n%s\n", method ? method : "", content_md5 ? content_md5 : "",
                      content_type ? content_type : "", date ? date : "") < 0;
    for (size_t i = 0; i < nfc; i++)
        full |= nb_buf_printf(&b, "%s:%s\n", fc[i].key, fc[i].value) < 0;
    full |= nb_buf_appends(&b, dpath) < 0;

    int rc = 0;
    if (is_proxy_path(dpath))
        rc = append_query_lines(&b, query);

    for (size_t i = 0; i < nfc; i++) {
        free(fc[i].key);
        free(fc[i].value);
    }
    free(fc);
    if (rc < 0 || full) {
        nb_buf_release(&b);
        return NULL;
    }
    return nb_buf_steal(&b, NULL);
}

char *nb_sign_compute(const char *secret, const char *sts)
{
    unsigned char mac[32];
    nb_hmac_sha256(secret, strlen(secret), sts, strlen(sts), mac);
    return nb_base64_encode(mac, sizeof(mac));
}

int nb_sign_parse_authorization(const char *value, char **buf, const char **id, const char **sig)
{
    *buf = NULL;
    *id = *sig = NULL;
    if (!value)
        return -EINVAL;
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncmp(value, "FC ", 3) != 0)
        return -EINVAL;
    value += 3;
    while (*value == ' ')
        value++;
    char *copy = trim_dup(value, 0);
    char *colon = strchr(copy, ':');
    if (!colon || colon == copy || colon[1] == '\0') {
        free(copy);
        return -EINVAL;
    }
    *colon = '\0';
    *buf = copy;
    *id = copy;
    *sig = colon + 1;
    return 0;
}

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/*
 * Parsed by hand rather than with strptime, whose %a/%b follow the process
 * locale: "Wed, 25 Nov 2026 18:00:00 GMT" (the weekday is checked for form,
 * not consistency, as HTTP servers commonly do).
 */
long long nb_sign_parse_date(const char *date)
{
    if (!date)
        return -1;
    char wday[4], mon[4], zone[4];
    int day, year, hh, mm, ss, used = 0;
    if (sscanf(date, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wday, &day, mon, &year,
               &hh, &mm, &ss, zone, &used) != 8)
        return -1;
    for (const char *p = date + used; *p; p++)
        if (!isspace((unsigned char)*p))
            return -1;
    if (strcmp(zone, "GMT") != 0 && strcmp(zone, "UTC") != 0)
        return -1;
    int wok = 0, m = -1;
    for (size_t i = 0; i < NB_ARRAY_SIZE(wdays); i++)
        wok |= strcasecmp(wday, wdays[i]) == 0;
    for (size_t i = 0; i < NB_ARRAY_SIZE(months); i++)
        if (strcasecmp(mon, months[i]) == 0)
            m = (int)i;
    if (!wok || m < 0 || day < 1 || day > 31 || year < 1970 || hh > 23 || mm > 59 || ss > 60 ||
        hh < 0 || mm < 0 || ss < 0)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = m,
                    .tm_mday = day,
                    .tm_hour = hh,
                    .tm_min = mm,
                    .tm_sec = ss};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return (long long)t;
}

void nb_sign_format_date(long long epoch_s, char out[40])
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
