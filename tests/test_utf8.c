/*
** test_utf8.c — util/utf8.h, the one UTF-8 decoder: lengths and code points
** of valid characters; overlongs, surrogates, code points past U+10FFFF and
** stray bytes refused; incomplete starts told apart from invalid ones; the
** maximal invalid subparts that each become one U+FFFD when decoding.
*/
#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

#include "check.h"

/* s (n bytes): utf8_next must return want_next (with code point want_cp when
** positive), utf8_decode want_next when positive, else 0. */
static void expect(const char *s, size_t n, int want_next, uint32_t want_cp) {
    uint32_t cp = 0xFFFFFFFFu, cp2 = 0xFFFFFFFFu;
    int k = utf8_next(s, n, &cp), d = utf8_decode(s, n, &cp2);
    CHECK(k == want_next, "utf8_next of %zu bytes %02X..: %d, want %d", n, n ? (unsigned char)s[0] : 0, k, want_next);
    CHECK(d == (want_next > 0 ? want_next : 0), "utf8_decode of %02X..: %d", n ? (unsigned char)s[0] : 0, d);
    if (want_next > 0) CHECK(cp == want_cp && cp2 == want_cp, "code point %X, want %X", cp, want_cp);
    else CHECK(cp == 0xFFFFFFFFu && cp2 == 0xFFFFFFFFu, "code point written for an invalid start");
}

int main(void) {
    expect("", 0, 0, 0);
    expect("A", 1, 1, 'A');
    expect("\x7F", 1, 1, 0x7F);
    expect("\xC2\x80", 2, 2, 0x80);
    expect("\xC3\xA9", 2, 2, 0xE9);
    expect("\xDF\xBF", 2, 2, 0x7FF);
    expect("\xE0\xA0\x80", 3, 3, 0x800);
    expect("\xE2\x82\xAC", 3, 3, 0x20AC);
    expect("\xED\x9F\xBF", 3, 3, 0xD7FF);
    expect("\xEE\x80\x80", 3, 3, 0xE000);
    expect("\xEF\xBF\xBF", 3, 3, 0xFFFF);
    expect("\xF0\x90\x80\x80", 4, 4, 0x10000);
    expect("\xF0\x9F\x98\x80", 4, 4, 0x1F600);
    expect("\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF);
    expect("\xC3\xA9xyz", 5, 2, 0xE9);              /* only the first character */
    /* stray and never-valid bytes */
    expect("\x80", 1, -1, 0);
    expect("\xBF", 1, -1, 0);
    expect("\xC0\x80", 2, -1, 0);                   /* overlong NUL */
    expect("\xC1\xBF", 2, -1, 0);
    expect("\xF5\x80\x80\x80", 4, -1, 0);
    expect("\xFF", 1, -1, 0);
    /* overlongs, surrogates, past U+10FFFF: the lead byte alone is the subpart */
    expect("\xE0\x9F\xBF", 3, -1, 0);
    expect("\xF0\x8F\xBF\xBF", 4, -1, 0);
    expect("\xED\xA0\x80", 3, -1, 0);               /* U+D800 */
    expect("\xED\xBF\xBF", 3, -1, 0);               /* U+DFFF */
    expect("\xF4\x90\x80\x80", 4, -1, 0);           /* U+110000 */
    /* a bad continuation later on: the valid start is the subpart */
    expect("\xC3" "A", 2, -1, 0);
    expect("\xE2\x82" "A", 3, -2, 0);
    expect("\xF0\x9F\x98" "A", 4, -3, 0);
    /* incomplete but valid so far */
    expect("\xC3", 1, 0, 0);
    expect("\xE2\x82", 2, 0, 0);
    expect("\xF0\x9F\x98", 3, 0, 0);
    expect("\xE0", 1, 0, 0);

    size_t bad = 99;
    CHECK(utf8_valid("", 0, &bad) && bad == 99, "empty text is valid");
    CHECK(utf8_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14, &bad), "valid text");
    CHECK(!utf8_valid("ab\xC3", 3, &bad) && bad == 2, "incomplete at the end: offset %zu", bad);
    CHECK(!utf8_valid("ab\xED\xA0\x80z", 6, &bad) && bad == 2, "surrogate: offset %zu", bad);
    CHECK(!utf8_valid("\xC3\xA9\x80", 3, &bad) && bad == 2, "stray continuation: offset %zu", bad);
    CHECK(!utf8_valid("a\0\xFF", 3, &bad) && bad == 2, "NUL is valid, 0xFF is not: offset %zu", bad);
    CHECK(!utf8_valid("\xC0\xAF", 2, NULL), "no offset asked for");

    return check_done();
}
