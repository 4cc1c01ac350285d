/*
 * client.h: the CLI's HTTP client for the management API: finds the server
 * and its key (DESIGN.md: NUBIS_URL / NUBIS_ACCESS_KEY_ID /
 * NUBIS_ACCESS_KEY_SECRET, else the data dir's `endpoint` and `credentials`),
 * signs every request with the FC scheme (auth/sign.h) and runs it on one
 * reused libcurl easy handle (so keep-alive connections are reused).
 */
#ifndef NB_CLI_CLIENT_H
#define NB_CLI_CLIENT_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/kv.h"

#define NB_CLIENT_DEFAULT_URL "http://127.0.0.1:9000"

struct nb_client {
    CURL *curl;
    char *url; /* without a trailing '/' */
    char *key_id;
    char *secret; /* NULL: requests go unsigned (the server will say 401) */
    char *data_dir;
    char errbuf[CURL_ERROR_SIZE];
};

struct nb_response {
    long status;
    struct nb_buf body;
    char *request_id;   /* X-Fc-Request-Id */
    char *error_type;   /* X-Fc-Error-Type */
    char *log_result;   /* X-Fc-Log-Result (base64) */
    char *content_type; /* Content-Type */
};

/* Receives a streamed 2xx body; returns 0 to go on, non-zero to stop. */
typedef int (*nb_client_data_cb)(const char *data, size_t len, void *ud);

struct nb_request {
    const char *method;       /* GET, POST, PUT, DELETE */
    const char *path;         /* "/api/v1/...", segments already percent-encoded */
    const char *query;        /* encoded, without '?'; NULL or "" for none */
    const char *content_type; /* NULL: application/json */
    const void *body;
    size_t body_len;
    const struct nb_kv *headers; /* extra headers (signed if x-fc-*) */
    size_t nheaders;
    int progress;              /* show an upload progress bar (if stderr is a TTY and > 1 MB) */
    nb_client_data_cb on_data; /* NULL: the body is collected in resp->body */
    void *ud;
};

/* Resolves the server URL and key; 0, or a negative errno with err filled. */
int nb_client_init(struct nb_client *c, struct nb_err *err);
void nb_client_release(struct nb_client *c);
void nb_response_init(struct nb_response *r);
void nb_response_release(struct nb_response *r);

/*
 * Runs one signed request.  Returns 0 once the server answered (any status;
 * see resp->status), or -EIO when it could not be reached, with err saying
 * "cannot reach nubis at <url>: <why> (is `nubis serve` running?)".
 */
int nb_client_do(struct nb_client *c, const struct nb_request *req, struct nb_response *resp,
                 struct nb_err *err);

/*
 * Fills err from an error answer: "<ErrorCode>: <ErrorMessage>" from the
 * FC-style error body, else "HTTP <status>"; returns -EPROTO.
 */
int nb_client_http_error(const struct nb_client *c, const struct nb_response *resp,
                         struct nb_err *err);

/*
 * A JSON round trip: sends body (may be NULL; not consumed) to method path,
 * expects 2xx.  *out (if out is non-NULL) receives the parsed answer (a new
 * reference; NULL for an empty body).  Returns 0, -EIO (unreachable),
 * -EPROTO (an error status; err has the server's message) or -EBADMSG (the
 * answer is not JSON).
 */
int nb_client_json(struct nb_client *c, const char *method, const char *path, const char *query,
                   const json_t *body, json_t **out, struct nb_err *err);

/*
 * GETs every page of a list (path answers {"<key>": [...], "nextToken"}),
 * following nextToken; *items is a new array.  Errors as nb_client_json.
 */
int nb_client_list(struct nb_client *c, const char *path, const char *key, json_t **items,
                   struct nb_err *err);

/* Percent-encodes one path segment (caller frees). */
char *nb_client_seg(const char *s);

#endif
