/*
 * buf.c: capped growable buffers (see buf.h).
 */
#include "base/buf.h"
#include "base/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void nb_buf_init(struct nb_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void nb_buf_release(struct nb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void nb_buf_reset(struct nb_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(struct nb_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return -ENOBUFS;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = nb_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int nb_buf_reserve(struct nb_buf *b, size_t n)
{
    return grow(b, n);
}

/*
 * The appends are on the request path dozens of times per request: when the
 * room is there (len bytes and the NUL: cap - len > n, which also keeps len
 * within max, as cap <= max + 1), they skip grow.  cap - len never wraps:
 * len < cap once allocated, both 0 before.
 */
int nb_buf_append(struct nb_buf *b, const void *data, size_t len)
{
    if (b->cap - b->len <= len) {
        int r = grow(b, len);
        if (r < 0)
            return r;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int nb_buf_appendc(struct nb_buf *b, char c)
{
    if (b->cap - b->len <= 1)
        return nb_buf_append(b, &c, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}

int nb_buf_appends(struct nb_buf *b, const char *s)
{
    return nb_buf_append(b, s, strlen(s));
}

int nb_buf_vprintf(struct nb_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    int r = grow(b, (size_t)n);
    if (r < 0)
        return r;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int nb_buf_printf(struct nb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = nb_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void nb_buf_consume(struct nb_buf *b, size_t n)
{
    if (n >= b->len) {
        nb_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *nb_buf_steal(struct nb_buf *b, size_t *len)
{
    char *d = b->data ? b->data : nb_xstrdup("");
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
