/*
** strbuf.h — a growable, always NUL-terminated byte string. Out of memory
** sets a sticky flag (oom) instead of failing each call, so builders can
** append freely and check once at the end.
*/
#ifndef SA_STRBUF_H
#define SA_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

void strbuf_init(strbuf *b);
void strbuf_free(strbuf *b);
void strbuf_append(strbuf *b, const char *s, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text between quote characters q, each q inside doubled (SQL's
** 'literal' and "identifier" quoting). */
void strbuf_put_quoted(strbuf *b, const char *text, char q);
/* Hands the string to the caller (NULL on out of memory) and resets b. */
char *strbuf_take(strbuf *b);

#endif
