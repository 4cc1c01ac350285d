/*
 * buf.h: a growable byte buffer with a hard cap fixed at init (curl's dynbuf).
 *
 * Limits on headers and bodies are enforced by construction: an append that
 * would pass the cap fails with -ENOBUFS and leaves the buffer unchanged.
 * The data is always NUL-terminated (the NUL is not counted in len).
 */
#ifndef NB_BASE_BUF_H
#define NB_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct nb_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap; /* allocated bytes */
    size_t max; /* hard cap on len */
};

void nb_buf_init(struct nb_buf *b, size_t max);
void nb_buf_release(struct nb_buf *b);
/* Empties the buffer and keeps its memory. */
void nb_buf_reset(struct nb_buf *b);
/* Makes room for n more bytes now (one allocation for a known size); 0 or -ENOBUFS. */
int nb_buf_reserve(struct nb_buf *b, size_t n);
/* Returns 0, or -ENOBUFS if len would pass max. */
int nb_buf_append(struct nb_buf *b, const void *data, size_t len);
int nb_buf_appendc(struct nb_buf *b, char c);
int nb_buf_appends(struct nb_buf *b, const char *s);
int nb_buf_printf(struct nb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nb_buf_vprintf(struct nb_buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes. */
void nb_buf_consume(struct nb_buf *b, size_t n);
/* Hands the data out (caller frees it) and leaves the buffer empty; never NULL. */
char *nb_buf_steal(struct nb_buf *b, size_t *len);

#endif
