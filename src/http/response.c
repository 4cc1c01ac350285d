/*
 * response.c: writing HTTP/1.1 responses: whole (nb_http_respond) or
 * streamed with chunked encoding (nb_http_start/write/end).
 *
 * A response is one uv_write of one buffer: the head is formatted straight
 * into a write block (uv_write_t and bytes in one allocation) and the body is
 * copied after it, because the caller's memory is gone once we return.  Each
 * connection keeps one finished block for reuse, so a keep-alive connection
 * answering small responses does not allocate per request.  The server owns
 * the framing headers: Content-Length (or Transfer-Encoding), Date and
 * Connection are always its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/util.h"
#include "http/internal.h"

#define SPARE_MAX (64 * 1024) /* bigger write blocks are not kept */

static const char *const MOD = "http";

const char *nb_http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        break;
    }
    const char *s = http_status_str((enum http_status)status);
    return strcmp(s, "<unknown>") == 0 ? "Unknown" : s;
}

char *nb_http_error_json(const char *code, const char *message, size_t *len)
{
    json_t *o = json_pack("{s:s, s:s}", "ErrorCode", code ? code : "", "ErrorMessage",
                          message ? message : "");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        s = nb_xstrdup("{}");
    *len = strlen(s);
    return s;
}

/* ---- write blocks ---- */

struct nb_http_wblock *nb_http_wblock_get(struct nb_http_conn *conn, size_t size)
{
    struct nb_http_wblock *wb = conn->spare;
    if (wb && wb->cap >= size) {
        conn->spare = NULL;
    } else {
        size_t cap = size < 1024 ? 1024 : size;
        wb = nb_xmalloc(sizeof(*wb) + cap);
        wb->cap = cap;
    }
    wb->len = 0;
    wb->conn = conn;
    return wb;
}

void nb_http_wblock_put(struct nb_http_conn *conn, struct nb_http_wblock *wb)
{
    if (wb->cap <= SPARE_MAX && (!conn->spare || conn->spare->cap < wb->cap)) {
        free(conn->spare);
        conn->spare = wb;
    } else {
        free(wb);
    }
}

static void write_cb(uv_write_t *w, int status)
{
    struct nb_http_wblock *wb =
        (struct nb_http_wblock *)((char *)w - offsetof(struct nb_http_wblock, w));
    struct nb_http_conn *conn = wb->conn;
    conn->pending_bytes -= wb->len;
    nb_http_wblock_put(conn, wb);
    if (status >= 0)
        nb_http_conn_output_drained(conn);
    if (status < 0 && !conn->closing) {
        int in_flight = conn->state == NB_CONN_HANDLING && conn->req_active && !conn->is_error;
        conn->peer_gone = 1;
        nb_http_conn_close(conn);
        if (in_flight)
            nb_http_conn_fire_abort(conn);
    }
}

int nb_http_conn_write(struct nb_http_conn *conn, struct nb_http_wblock *wb)
{
    if (conn->closing || conn->peer_gone) {
        nb_http_wblock_put(conn, wb);
        return -EPIPE;
    }
    wb->conn = conn;
    uv_buf_t b = uv_buf_init(wb->data, (unsigned)wb->len);
    /*
     * Nothing queued before us: write what the socket takes now and queue
     * only the rest (no write request, no poll for writable, per answer).
     */
    if (conn->pending_bytes == 0 &&
        uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) == 0) {
        int t = uv_try_write((uv_stream_t *)&conn->tcp, &b, 1);
        if (t == (int)b.len) {
            nb_http_wblock_put(conn, wb);
            return 0;
        }
        if (t > 0) {
            b.base += t;
            b.len -= (size_t)t;
            wb->len = b.len; /* what write_cb takes off pending_bytes */
        }
    }
    conn->pending_bytes += wb->len;
    int r = uv_write(&wb->w, (uv_stream_t *)&conn->tcp, &b, 1, write_cb);
    if (r < 0) {
        conn->pending_bytes -= wb->len;
        nb_http_wblock_put(conn, wb);
        conn->peer_gone = 1;
        nb_http_conn_close(conn);
        return -EPIPE;
    }
    return 0;
}

/* ---- heads ---- */

static const char *date_line(struct nb_http_server *srv)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    if ((int64_t)now != srv->date_sec || !srv->date[0]) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(srv->date, sizeof(srv->date), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        srv->date_sec = (int64_t)now;
    }
    return srv->date;
}

/* Headers the server owns, and ones that would split the response, are dropped. */
static int header_dropped(const struct nb_kv *h)
{
    if (!h->key || !h->key[0] || !h->value)
        return 1;
    if (strpbrk(h->key, "\r\n: ") || strpbrk(h->value, "\r\n"))
        return 1;
    switch (h->key[0]) {
    case 'c':
    case 'C':
        return strcasecmp(h->key, "Content-Length") == 0 || strcasecmp(h->key, "Connection") == 0;
    case 't':
    case 'T':
        return strcasecmp(h->key, "Transfer-Encoding") == 0;
    case 'd':
    case 'D':
        return strcasecmp(h->key, "Date") == 0;
    default:
        return 0;
    }
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUTS(p, lit) put(p, lit, sizeof(lit) - 1)

enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_NONE };

/*
 * Formats the status line and headers into a new write block with room for
 * body_room more bytes.  Returns the block with len = head length.
 */
static struct nb_http_wblock *build_head(struct nb_http_conn *conn, int status,
                                         const struct nb_kv *headers, size_t nheaders,
                                         enum framing framing, size_t clen, int keep_alive,
                                         size_t body_room)
{
    if (status < 100 || status > 999)
        status = 500;
    const char *text = nb_http_status_text(status);
    size_t tlen = strlen(text);
    size_t size = 200 + tlen + body_room;
    for (size_t i = 0; i < nheaders; i++)
        if (!header_dropped(&headers[i]))
            size += strlen(headers[i].key) + strlen(headers[i].value) + 4;
    struct nb_http_wblock *wb = nb_http_wblock_get(conn, size);
    char *p = wb->data;
    p = PUTS(p, "HTTP/1.1 ");
    *p++ = (char)('0' + status / 100);
    *p++ = (char)('0' + status / 10 % 10);
    *p++ = (char)('0' + status % 10);
    *p++ = ' ';
    p = put(p, text, tlen);
    p = PUTS(p, "\r\n");
    for (size_t i = 0; i < nheaders; i++) {
        const struct nb_kv *h = &headers[i];
        if (header_dropped(h))
            continue;
        p = put(p, h->key, strlen(h->key));
        p = PUTS(p, ": ");
        p = put(p, h->value, strlen(h->value));
        p = PUTS(p, "\r\n");
    }
    if (conn->srv) {
        const char *d = date_line(conn->srv);
        p = put(p, d, strlen(d));
    }
    if (framing == FRAME_LENGTH) {
        char num[24];
        size_t n = nb_fmt_u64(num, clen);
        p = PUTS(p, "Content-Length: ");
        p = put(p, num, n);
        p = PUTS(p, "\r\n");
    } else if (framing == FRAME_CHUNKED) {
        p = PUTS(p, "Transfer-Encoding: chunked\r\n");
    }
    if (keep_alive)
        p = PUTS(p, "Connection: keep-alive\r\n\r\n");
    else
        p = PUTS(p, "Connection: close\r\n\r\n");
    wb->len = (size_t)(p - wb->data);
    return wb;
}

static int response_keep_alive(const struct nb_http_conn *conn)
{
    return conn->srv && !conn->srv->shutting_down && !conn->is_error && conn->req.keep_alive;
}

static int status_has_body(int status)
{
    return !((status >= 100 && status < 200) || status == 204 || status == 304);
}

/* Checks that req may still be answered; logs misuse (a handler bug) otherwise. */
static int check_answerable(const struct nb_http_request *req, const char *what)
{
    if (!req || !req->conn || !req->conn->req_active) {
        nb_error(MOD, "%s on a request that was already answered", what);
        return 0;
    }
    return 1;
}

void nb_http_respond(struct nb_http_request *req, int status, const struct nb_kv *headers,
                     size_t nheaders, const void *body, size_t len)
{
    if (!check_answerable(req, "nb_http_respond"))
        return;
    struct nb_http_conn *conn = req->conn;
    if (conn->resp_started) {
        nb_error(MOD, "nb_http_respond after nb_http_start; ending the stream");
        nb_http_end(req);
        return;
    }
    if (conn->peer_gone || conn->closing) {
        nb_http_conn_finish_request(conn);
        return;
    }
    int ka = response_keep_alive(conn);
    int has_body = status_has_body(status);
    size_t send = (has_body && !conn->head && body) ? len : 0;
    struct nb_http_wblock *wb = build_head(conn, status, headers, nheaders,
                                           has_body ? FRAME_LENGTH : FRAME_NONE, len, ka, send);
    if (send) {
        memcpy(wb->data + wb->len, body, send);
        wb->len += send;
    }
    conn->resp_keep_alive = ka;
    nb_http_conn_write(conn, wb);
    nb_http_conn_finish_request(conn);
}

void nb_http_start(struct nb_http_request *req, int status, const struct nb_kv *headers,
                   size_t nheaders)
{
    if (!check_answerable(req, "nb_http_start"))
        return;
    struct nb_http_conn *conn = req->conn;
    if (conn->resp_started) {
        nb_error(MOD, "nb_http_start called twice");
        return;
    }
    conn->resp_started = 1;
    if (conn->peer_gone || conn->closing)
        return;
    /* HTTP/1.0 has no chunked encoding: the body ends when the connection does. */
    int chunked = req->http_major > 1 || (req->http_major == 1 && req->http_minor >= 1);
    int ka = chunked && response_keep_alive(conn);
    int has_body = status_has_body(status);
    enum framing f = !has_body ? FRAME_NONE : chunked ? FRAME_CHUNKED : FRAME_NONE;
    struct nb_http_wblock *wb = build_head(conn, status, headers, nheaders, f, 0, ka, 0);
    conn->resp_keep_alive = ka;
    conn->chunked_out = chunked && has_body && !conn->head;
    if (!has_body)
        conn->head = 1; /* nothing more is sent */
    nb_http_conn_write(conn, wb);
}

int nb_http_write(struct nb_http_request *req, const void *data, size_t len)
{
    if (!check_answerable(req, "nb_http_write"))
        return -EINVAL;
    struct nb_http_conn *conn = req->conn;
    if (!conn->resp_started)
        return -EINVAL;
    if (conn->peer_gone || conn->closing)
        return -EPIPE;
    if (len == 0 || conn->head)
        return 0;
    struct nb_http_wblock *wb = nb_http_wblock_get(conn, len + 32);
    char *p = wb->data;
    if (conn->chunked_out)
        p += snprintf(p, 24, "%zx\r\n", len);
    p = put(p, data, len);
    if (conn->chunked_out)
        p = PUTS(p, "\r\n");
    wb->len = (size_t)(p - wb->data);
    return nb_http_conn_write(conn, wb);
}

void nb_http_end(struct nb_http_request *req)
{
    if (!check_answerable(req, "nb_http_end"))
        return;
    struct nb_http_conn *conn = req->conn;
    if (!conn->resp_started)
        nb_http_start(req, 200, NULL, 0);
    if (conn->chunked_out && !conn->peer_gone && !conn->closing) {
        struct nb_http_wblock *wb = nb_http_wblock_get(conn, 5);
        memcpy(wb->data, "0\r\n\r\n", 5);
        wb->len = 5;
        nb_http_conn_write(conn, wb);
    }
    nb_http_conn_finish_request(conn);
}

size_t nb_http_pending_bytes(const struct nb_http_request *req)
{
    return req->conn->pending_bytes;
}
