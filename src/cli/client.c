/*
 * client.c: signed management API requests over one libcurl easy handle.
 *
 * Discovery follows DESIGN.md: the environment first, then the data dir the
 * daemon writes (`endpoint`: the URL; `credentials`: an env file).  A
 * missing endpoint falls back to the default listen address, so that a
 * stopped server is reported as such rather than as a missing file; missing
 * credentials leave requests unsigned and a 401/403 is then explained.
 *
 * The handle is reset (options only; its connection cache survives) before
 * each request, so requests on the same server reuse one keep-alive
 * connection.  The Date header and the string to sign are built here with
 * auth/sign.h, signing exactly the Content-Type and x-fc-* headers sent.
 */
#include "cli/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/sign.h"
#include "base/alloc.h"
#include "base/util.h"
#include "daemon/daemon.h"

#define BODY_MAX ((size_t)256 << 20)
#define PROGRESS_MIN (1u << 20)

static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return nb_xstrndup(s, n);
}

/* Reads KEY=VALUE lines ("export " and quotes allowed, '#' comments) for two keys. */
static void read_credentials(const char *path, char **id, char **secret)
{
    _cleanup_free_ char *text = nb_read_file(path, NULL);
    if (!text)
        return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '#')
            continue;
        if (!strncmp(line, "export ", 7))
            line += 7;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        _cleanup_free_ char *key = trimmed(line, (size_t)(eq - line));
        char *value = trimmed(eq + 1, strlen(eq + 1));
        size_t vn = strlen(value);
        if (vn >= 2 && (value[0] == '"' || value[0] == '\'') && value[vn - 1] == value[0]) {
            memmove(value, value + 1, vn - 2);
            value[vn - 2] = '\0';
        }
        char **dst = !strcmp(key, "NUBIS_ACCESS_KEY_ID")       ? id
                     : !strcmp(key, "NUBIS_ACCESS_KEY_SECRET") ? secret
                                                               : NULL;
        if (dst && !*dst)
            *dst = value;
        else
            free(value);
    }
}

int nb_client_init(struct nb_client *c, struct nb_err *err)
{
    memset(c, 0, sizeof(*c));
    c->data_dir = nb_default_data_dir();

    const char *url = getenv("NUBIS_URL");
    if (url && *url) {
        c->url = nb_xstrdup(url);
    } else {
        _cleanup_free_ char *path = nb_xasprintf("%s/endpoint", c->data_dir);
        _cleanup_free_ char *text = nb_read_file(path, NULL);
        if (text) {
            char *nl = strchr(text, '\n');
            c->url = trimmed(text, nl ? (size_t)(nl - text) : strlen(text));
        }
        if (!c->url || !*c->url) {
            free(c->url);
            c->url = nb_xstrdup(NB_CLIENT_DEFAULT_URL);
        }
    }
    if (!strstr(c->url, "://")) {
        char *u = nb_xasprintf("http://%s", c->url);
        free(c->url);
        c->url = u;
    }
    size_t n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = '\0';

    const char *id = getenv("NUBIS_ACCESS_KEY_ID"), *secret = getenv("NUBIS_ACCESS_KEY_SECRET");
    if (id && *id && secret && *secret) {
        c->key_id = nb_xstrdup(id);
        c->secret = nb_xstrdup(secret);
    } else {
        _cleanup_free_ char *path = nb_xasprintf("%s/credentials", c->data_dir);
        read_credentials(path, &c->key_id, &c->secret);
        if (!c->key_id || !c->secret) {
            free(c->key_id);
            free(c->secret);
            c->key_id = c->secret = NULL;
        }
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    c->curl = curl_easy_init();
    if (!c->curl) {
        nb_client_release(c);
        return nb_err_set(err, -ENOMEM, "cannot initialize libcurl");
    }
    return 0;
}

void nb_client_release(struct nb_client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->url);
    free(c->key_id);
    free(c->secret);
    free(c->data_dir);
    memset(c, 0, sizeof(*c));
}

void nb_response_init(struct nb_response *r)
{
    memset(r, 0, sizeof(*r));
    nb_buf_init(&r->body, BODY_MAX);
}

void nb_response_release(struct nb_response *r)
{
    nb_buf_release(&r->body);
    free(r->request_id);
    free(r->error_type);
    free(r->log_result);
    free(r->content_type);
    memset(r, 0, sizeof(*r));
}

char *nb_client_seg(const char *s)
{
    return nb_url_encode(s, strlen(s));
}

/* ---- one transfer ----------------------------------------------------- */

struct xfer {
    struct nb_client *c;
    const struct nb_request *req;
    struct nb_response *resp;
    int stopped;  /* on_data asked to stop */
    int overflow; /* the body passed BODY_MAX */
    uint64_t last_draw;
    int drawn;
};

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        /* A new response (after a 1xx): forget the previous one's headers. */
        struct nb_response *r = x->resp;
        free(r->request_id);
        free(r->error_type);
        free(r->log_result);
        free(r->content_type);
        r->request_id = r->error_type = r->log_result = r->content_type = NULL;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t klen = (size_t)(colon - data);
    char **dst = NULL;
    if (klen == 15 && !strncasecmp(data, "x-fc-request-id", klen))
        dst = &x->resp->request_id;
    else if (klen == 15 && !strncasecmp(data, "x-fc-error-type", klen))
        dst = &x->resp->error_type;
    else if (klen == 15 && !strncasecmp(data, "x-fc-log-result", klen))
        dst = &x->resp->log_result;
    else if (klen == 12 && !strncasecmp(data, "content-type", klen))
        dst = &x->resp->content_type;
    if (dst) {
        free(*dst);
        *dst = trimmed(colon + 1, len - klen - 1);
    }
    return len;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (x->req->on_data && status >= 200 && status < 300) {
        if (x->req->on_data(data, len, x->req->ud)) {
            x->stopped = 1;
            return 0;
        }
        return len;
    }
    if (nb_buf_append(&x->resp->body, data, len) < 0) {
        x->overflow = 1;
        return 0;
    }
    return len;
}

static void draw_progress(curl_off_t now, curl_off_t total)
{
    int width = 30, pct = total > 0 ? (int)(now * 100 / total) : 0;
    int fill = pct * width / 100;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[width] = '\0';
    fprintf(stderr, "\ruploading [%s] %3d%% %.1f/%.1f MB", bar, pct, (double)now / 1048576.0,
            (double)total / 1048576.0);
    fflush(stderr);
}

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    struct xfer *x = ud;
    if (ultotal <= 0 || x->drawn == 2)
        return 0;
    uint64_t now = nb_now_ns();
    if (ulnow >= ultotal) {
        draw_progress(ulnow, ultotal);
        fputc('\n', stderr);
        x->drawn = 2;
    } else if (now - x->last_draw > 100000000ull || !x->drawn) {
        draw_progress(ulnow, ultotal);
        x->last_draw = now;
        x->drawn = 1;
    }
    return 0;
}

/* The path part of the base URL ("" for "http://host:port"), for the signature. */
static const char *url_path(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    return slash ? slash : "";
}

int nb_client_do(struct nb_client *c, const struct nb_request *req, struct nb_response *resp,
                 struct nb_err *err)
{
    struct xfer x = {.c = c, .req = req, .resp = resp};
    const char *ctype = req->content_type ? req->content_type : "application/json";
    int has_query = req->query && *req->query;
    _cleanup_free_ char *url = nb_xasprintf("%s%s%s%s", c->url, req->path, has_query ? "?" : "",
                                            has_query ? req->query : "");
    _cleanup_free_ char *signed_path = nb_xasprintf("%s%s", url_path(c->url), req->path);

    char date[40];
    nb_sign_format_date((long long)time(NULL), date);

    struct curl_slist *hl = NULL;
    _cleanup_free_ char *h_date = nb_xasprintf("Date: %s", date);
    _cleanup_free_ char *h_ctype = nb_xasprintf("Content-Type: %s", ctype);
    _cleanup_free_ char *h_auth = NULL;
    hl = curl_slist_append(hl, h_date);
    hl = curl_slist_append(hl, h_ctype);
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; i < req->nheaders; i++) {
        _cleanup_free_ char *h = nb_xasprintf("%s: %s", req->headers[i].key, req->headers[i].value);
        hl = curl_slist_append(hl, h);
    }
    if (c->secret) {
        _cleanup_free_ char *sts =
            nb_sign_string_to_sign(req->method, NULL, ctype, date, req->headers, req->nheaders,
                                   signed_path, has_query ? req->query : NULL);
        if (!sts) {
            curl_slist_free_all(hl);
            return nb_err_set(err, -EINVAL, "cannot sign a request for '%s'", req->path);
        }
        _cleanup_free_ char *sig = nb_sign_compute(c->secret, sts);
        h_auth = nb_xasprintf("Authorization: FC %s:%s", c->key_id, sig);
        hl = curl_slist_append(hl, h_auth);
    }

    CURL *h = c->curl;
    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "nubis-cli");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    if (!strcmp(req->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(req->method, "POST") || !strcmp(req->method, "PUT") || req->body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(req->method, "POST"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (req->progress && req->body_len > PROGRESS_MIN && isatty(STDERR_FILENO)) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    }

    CURLcode cc = curl_easy_perform(h);
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(hl);
    if (x.drawn == 1)
        fputc('\n', stderr);

    if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x.stopped))
        return 0;
    if (x.overflow)
        return nb_err_set(err, -EFBIG, "the answer from %s is over %zu MB", c->url, BODY_MAX >> 20);
    const char *why =
        os_errno ? strerror((int)os_errno) : (c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
        cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
        cc == CURLE_URL_MALFORMAT)
        return nb_err_set(err, -EIO, "cannot reach nubis at %s: %s (is `nubis serve` running?)",
                          c->url, why);
    return nb_err_set(err, -EIO, "request to %s failed: %s", c->url,
                      c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
}

int nb_client_http_error(const struct nb_client *c, const struct nb_response *resp,
                         struct nb_err *err)
{
    json_t *j = resp->body.len ? json_loadb(resp->body.data, resp->body.len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "ErrorCode"));
    const char *msg = json_string_value(json_object_get(j, "ErrorMessage"));
    if (!code)
        code = json_string_value(json_object_get(j, "errorCode"));
    if (!msg)
        msg = json_string_value(json_object_get(j, "errorMessage"));
    int rc;
    if ((resp->status == 401 || resp->status == 403) && !c->secret)
        rc = nb_err_set(err, -EPROTO,
                        "%s: no access key: set NUBIS_ACCESS_KEY_ID and NUBIS_ACCESS_KEY_SECRET, "
                        "or run `nubis serve` once to create %s/credentials",
                        code ? code : "Unauthorized", c->data_dir);
    else if (code || msg)
        rc = nb_err_set(err, -EPROTO, "%s: %s", code ? code : "Error", msg ? msg : "(no message)");
    else if (resp->body.len)
        rc = nb_err_set(err, -EPROTO, "HTTP %ld: %.200s", resp->status, resp->body.data);
    else
        rc = nb_err_set(err, -EPROTO, "HTTP %ld", resp->status);
    json_decref(j);
    return rc;
}

int nb_client_json(struct nb_client *c, const char *method, const char *path, const char *query,
                   const json_t *body, json_t **out, struct nb_err *err)
{
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct nb_request req = {
        .method = method,
        .path = path,
        .query = query,
        .body = text,
        .body_len = text ? strlen(text) : 0,
    };
    struct nb_response resp;
    nb_response_init(&resp);
    if (out)
        *out = NULL;
    int rc = nb_client_do(c, &req, &resp, err);
    if (rc == 0 && (resp.status < 200 || resp.status >= 300))
        rc = nb_client_http_error(c, &resp, err);
    if (rc == 0 && out && resp.body.len > 0) {
        json_error_t je;
        *out = json_loadb(resp.body.data, resp.body.len, 0, &je);
        if (!*out)
            rc = nb_err_set(err, -EBADMSG, "%s %s: the answer is not JSON: %s", method, path,
                            je.text);
    }
    nb_response_release(&resp);
    return rc;
}

int nb_client_list(struct nb_client *c, const char *path, const char *key, json_t **items,
                   struct nb_err *err)
{
    *items = json_array();
    char *token = NULL;
    int rc = 0;
    for (int page = 0; page < 10000; page++) {
        _cleanup_free_ char *enc = token ? nb_url_encode(token, strlen(token)) : NULL;
        _cleanup_free_ char *query =
            enc ? nb_xasprintf("limit=100&nextToken=%s", enc) : nb_xstrdup("limit=100");
        json_t *ans = NULL;
        rc = nb_client_json(c, "GET", path, query, NULL, &ans, err);
        if (rc)
            break;
        json_t *arr = json_object_get(ans, key);
        if (json_is_array(arr))
            json_array_extend(*items, arr);
        const char *next = json_string_value(json_object_get(ans, "nextToken"));
        int more = next && *next && (!token || strcmp(token, next));
        free(token);
        token = more ? nb_xstrdup(next) : NULL;
        json_decref(ans);
        if (!more)
            break;
    }
    free(token);
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}
