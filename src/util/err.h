/*
** err.h — the one error convention used across sqlassist.
**
** Every fallible function takes a `sa_err *` last and returns a status (0 on
** success, -1 on failure) or a pointer (NULL on failure). On failure the
** message names what was wrong and where (file, tensor, key, line, field),
** so callers print it as it is and exit non-zero. A NULL `sa_err *` is
** allowed and simply discards the message.
*/
#ifndef SA_ERR_H
#define SA_ERR_H

#include <stdarg.h>

typedef struct sa_err {
    char msg[1024];
} sa_err;

/* Formats the message into e (if non-NULL) and returns -1, so that
** `return sa_fail(e, "...", ...);` reads naturally. */
int sa_fail(sa_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an existing message (used to add the file name). */
void sa_err_prefix(sa_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
