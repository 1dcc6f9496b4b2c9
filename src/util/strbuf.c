/*
** strbuf.c — see strbuf.h.
*/
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *b) { b->p = NULL; b->len = b->cap = 0; b->oom = 0; }

void strbuf_free(strbuf *b) { free(b->p); strbuf_init(b); }

static int reserve(strbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

void strbuf_append(strbuf *b, const char *s, size_t n) {
    if (reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void strbuf_puts(strbuf *b, const char *s) { strbuf_append(b, s, strlen(s)); }

void strbuf_printf(strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf_take(strbuf *b) {
    if (b->oom) { strbuf_free(b); return NULL; }
    if (!b->p) { strbuf_append(b, "", 0); if (b->oom) return NULL; }
    char *p = b->p;
    strbuf_init(b);
    return p;
}

void strbuf_put_quoted(strbuf *b, const char *text, char q) {
    strbuf_append(b, &q, 1);
    for (const char *p = text; *p; p++) {
        if (*p == q) strbuf_append(b, &q, 1);
        strbuf_append(b, p, 1);
    }
    strbuf_append(b, &q, 1);
}
