/*
 * err.c: error out-parameters (see err.h).
 */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int nb_err_set(struct nb_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int nb_err_sys(struct nb_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof(err->msg))
            snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", nb_errno_name(-code));
        err->code = code;
    }
    return code;
}

void nb_err_clear(struct nb_err *err)
{
    err->code = 0;
    err->msg[0] = '\0';
}

const char *nb_errno_name(int e)
{
    static __thread char other[16];
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(other, sizeof(other), "E%d", e);
    return other;
}
