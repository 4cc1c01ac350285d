/*
 * err.h: the error out-parameter of multi-step work (crun's libcrun_error_t).
 *
 * `code` is a negative errno (or NB_E* below for conditions errno does not
 * name); `msg` says what failed and on what, lowercase, no trailing full
 * stop, the subject quoted: "mount '/code': EPERM".  A function that fails
 * fills it and returns the same negative code.
 */
#ifndef NB_BASE_ERR_H
#define NB_BASE_ERR_H

#include <errno.h>

struct nb_err {
    int code;
    char msg[512];
};

/* Fills err (if non-NULL) and returns code (a negative errno). */
int nb_err_set(struct nb_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like nb_err_set, appending ": <strerror(-code)>". */
int nb_err_sys(struct nb_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nb_err_clear(struct nb_err *err);
/* Short symbolic name of an errno value ("EPERM"), or "E<n>". */
const char *nb_errno_name(int e);

#endif
