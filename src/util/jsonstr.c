/*
** jsonstr.c — see jsonstr.h.
*/
#include "jsonstr.h"

#include <stdlib.h>

#include "util/strbuf.h"
#include "util/utf8.h"

char *utf8_repaired(const char *s, size_t n, size_t *len) {
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < n;) {
        int k = utf8_decode(s + i, n - i, NULL);
        if (k > 0) { strbuf_append(&b, s + i, (size_t)k); i += (size_t)k; }
        else { strbuf_puts(&b, "\xEF\xBF\xBD"); i++; }
    }
    strbuf_append(&b, "", 0);
    if (len) *len = b.len;
    return strbuf_take(&b);
}

json_t *json_text(const char *s, size_t n) {
    if (!s) return json_null();
    json_t *j = NULL;
    if (utf8_valid(s, n, NULL)) {
        j = json_stringn(s, n);
    } else {
        size_t len;
        char *r = utf8_repaired(s, n, &len);
        if (r) j = json_stringn(r, len);
        free(r);
    }
    return j ? j : json_null();
}
