/*
 * c1pair.c: one request at a time against several HTTP servers, taken in
 * turns, so that every server sees the same moments of this VM.
 *
 *   c1pair [-n REQUESTS] [-b BLOCK] [-w WARM] [-s STATUS] URL...
 *
 * wrk -c1 measures one server for seconds, then the next; on a guest whose
 * latency swings by 2x within a minute, the difference of two such p50s is
 * mostly the swing. Here the servers take turns in blocks of BLOCK requests
 * (the order of the servers rotates from block to block), each over its own
 * keep-alive connection, and the difference to the first URL is taken per
 * block: the result is the median over blocks of (block p50 of URL k) -
 * (block p50 of URL 1). A block, not a single request, is the unit so that
 * each server runs warm as it does under wrk.
 *
 * Output, one line per URL: "url K p50 P p90 Q p99 R added A" in µs, where
 * "added" is the paired median difference to URL 1 (0 for URL 1 itself).
 * Every response must have status STATUS (200 unless -s says otherwise, e.g.
 * 404 to time a route miss) and a body; anything else is an error.
 * Responses are read with http_parser, as the daemon reads requests.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_URLS 8

typedef struct server {
    const char *url;
    char req[512];
    size_t req_len;
    int fd;
    http_parser parser;
    int done;
    uint32_t *lat; /* ns, capped at 4.29 s */
    size_t nlat;
} server;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *url)
{
    fprintf(stderr, "c1pair: %s: %s\n", url, what);
    exit(1);
}

static int on_complete(http_parser *p)
{
    server *s = p->data;
    s->done = 1;
    return 0;
}

static const http_parser_settings settings = {.on_message_complete = on_complete};

/* Parses "http://127.0.0.1:PORT/path" and connects. */
static void open_server(server *s)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(s->url, strlen(s->url), 0, &u) != 0 ||
        !(u.field_set & (1 << UF_HOST)) || !(u.field_set & (1 << UF_PORT)))
        die("want http://HOST:PORT/path", s->url);
    char host[64];
    size_t hl = u.field_data[UF_HOST].len;
    if (hl >= sizeof(host))
        die("host too long", s->url);
    memcpy(host, s->url + u.field_data[UF_HOST].off, hl);
    host[hl] = '\0';
    const char *path = "/";
    if (u.field_set & (1 << UF_PATH))
        path = s->url + u.field_data[UF_PATH].off;
    int n = snprintf(s->req, sizeof(s->req), "GET %s HTTP/1.1\r\nHost: %s:%u\r\n\r\n", path, host,
                     u.port);
    if (n < 0 || (size_t)n >= sizeof(s->req))
        die("URL too long", s->url);
    s->req_len = (size_t)n;

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(u.port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("host must be an IPv4 address", s->url);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->fd < 0 || setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die(strerror(errno), s->url);
}

static unsigned want_status = 200;

/* One request; returns its latency in ns. */
static uint64_t request(server *s)
{
    char buf[16384];
    uint64_t t0 = now_ns();
    if (write(s->fd, s->req, s->req_len) != (ssize_t)s->req_len)
        die("write failed", s->url);
    http_parser_init(&s->parser, HTTP_RESPONSE);
    s->parser.data = s;
    s->done = 0;
    while (!s->done) {
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n <= 0)
            die(n == 0 ? "connection closed" : strerror(errno), s->url);
        size_t used = http_parser_execute(&s->parser, &settings, buf, (size_t)n);
        if (s->parser.http_errno != HPE_OK || used != (size_t)n)
            die("malformed or pipelined response", s->url);
    }
    uint64_t t = now_ns() - t0;
    if (s->parser.status_code != want_status)
        die("response has another status than expected", s->url);
    return t;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of v[0..n), sorting v. */
static double quantile(uint32_t *v, size_t n, double q)
{
    qsort(v, n, sizeof(*v), cmp_u32);
    return v[(size_t)(q * (double)(n - 1) + 0.5)] / 1000.0;
}

int main(int argc, char **argv)
{
    long nreq = 20000, block = 100, warm = 2000;
    int c;
    while ((c = getopt(argc, argv, "n:b:w:s:")) != -1) {
        if (c == 'n')
            nreq = atol(optarg);
        else if (c == 'b')
            block = atol(optarg);
        else if (c == 'w')
            warm = atol(optarg);
        else if (c == 's')
            want_status = (unsigned)atoi(optarg);
        else
            return 2;
    }
    int ns = argc - optind;
    if (ns < 1 || ns > MAX_URLS || nreq < 1 || block < 1 || warm < 0) {
        fprintf(stderr, "usage: c1pair [-n REQUESTS] [-b BLOCK] [-w WARM] [-s STATUS] URL...\n");
        return 2;
    }
    long nblocks = (nreq + block - 1) / block;
    server srv[MAX_URLS];
    uint32_t *blk = malloc(sizeof(uint32_t) * (size_t)block);
    double *diff[MAX_URLS];
    if (!blk)
        return 1;
    for (int i = 0; i < ns; i++) {
        srv[i] = (server){.url = argv[optind + i]};
        srv[i].lat = malloc(sizeof(uint32_t) * (size_t)(nblocks * block));
        diff[i] = malloc(sizeof(double) * (size_t)nblocks);
        if (!srv[i].lat || !diff[i])
            return 1;
        open_server(&srv[i]);
        for (long k = 0; k < warm; k++)
            request(&srv[i]);
    }

    double p50[MAX_URLS];
    for (long b = 0; b < nblocks; b++) {
        for (int j = 0; j < ns; j++) {
            server *s = &srv[(j + b) % ns];
            for (long k = 0; k < block; k++) {
                uint64_t t = request(s);
                s->lat[s->nlat++] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
            }
        }
        for (int i = 0; i < ns; i++) {
            memcpy(blk, srv[i].lat + srv[i].nlat - block, sizeof(uint32_t) * (size_t)block);
            p50[i] = quantile(blk, (size_t)block, 0.5);
        }
        for (int i = 0; i < ns; i++)
            diff[i][b] = p50[i] - p50[0];
    }

    for (int i = 0; i < ns; i++) {
        qsort(diff[i], (size_t)nblocks, sizeof(double), cmp_dbl);
        double added = diff[i][nblocks / 2];
        printf("url %d p50 %.1f p90 %.1f p99 %.1f added %.1f\n", i + 1,
               quantile(srv[i].lat, srv[i].nlat, 0.5), quantile(srv[i].lat, srv[i].nlat, 0.9),
               quantile(srv[i].lat, srv[i].nlat, 0.99), added);
        close(srv[i].fd);
        free(srv[i].lat);
        free(diff[i]);
    }
    free(blk);
    return 0;
}
