/*
 * alloc.h: allocation that never fails (it aborts on out of memory, like
 * Redis's zmalloc and crun's xmalloc), and the cleanup helpers used for locals.
 *
 * Callers never check these for NULL.  `_cleanup_free_` frees a local when it
 * goes out of scope; `steal_pointer(&p)` hands ownership out and leaves NULL.
 */
#ifndef NB_BASE_ALLOC_H
#define NB_BASE_ALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

void *nb_xmalloc(size_t n);
void *nb_xcalloc(size_t count, size_t n);
void *nb_xrealloc(void *p, size_t n);
char *nb_xstrdup(const char *s);
char *nb_xstrndup(const char *s, size_t n);
/* Returns a newly allocated printf-formatted string; the caller frees it. */
char *nb_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void nb_freep(void *p)
{
    free(*(void **)p);
}

static inline void nb_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

#define _cleanup_free_ __attribute__((cleanup(nb_freep)))
#define _cleanup_close_ __attribute__((cleanup(nb_closep)))

static inline void *nb_steal_pointer(void *pp)
{
    void **p = pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))nb_steal_pointer(pp))

static inline int nb_steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

#define NB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
