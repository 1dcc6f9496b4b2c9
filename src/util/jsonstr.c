/*
** jsonstr.c — see jsonstr.h.
*/
#include "jsonstr.h"

#include "sql/sandbox.h"
#include "util/strbuf.h"

json_t *json_text(const char *s, size_t n) {
    if (!s) return json_null();
    json_t *j = NULL;
    if (sb_utf8_valid(s, n, NULL)) {
        j = json_stringn(s, n);
    } else {
        strbuf b;
        strbuf_init(&b);
        for (size_t i = 0; i < n;) {
            int k = sb_utf8_decode(s + i, n - i, NULL);
            if (k > 0) { strbuf_append(&b, s + i, (size_t)k); i += (size_t)k; }
            else { strbuf_puts(&b, "\xEF\xBF\xBD"); i++; }
        }
        if (!b.oom && b.p) j = json_stringn(b.p, b.len);
        strbuf_free(&b);
    }
    return j ? j : json_null();
}
