/*
** utf8.c — see utf8.h.
*/
#include "utf8.h"

int utf8_next(const char *str, size_t n, uint32_t *cp_out) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    unsigned char b = s[0];
    if (b < 0x80) {
        if (cp_out) *cp_out = b;
        return 1;
    }
    int need;
    uint32_t cp;
    unsigned char lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
        cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        cp = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;         /* no overlongs */
        if (b == 0xED) hi = 0x9F;         /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        cp = b & 0x07;
        if (b == 0xF0) lo = 0x90;         /* no overlongs */
        if (b == 0xF4) hi = 0x8F;         /* nothing above U+10FFFF */
    } else {
        return -1;                        /* a continuation byte, 0xC0, 0xC1, 0xF5..0xFF */
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return 0;
        unsigned char c = s[i];
        if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -i;
        cp = cp << 6 | (c & 0x3F);
    }
    if (cp_out) *cp_out = cp;
    return need;
}

int utf8_decode(const char *s, size_t n, uint32_t *cp) {
    int k = utf8_next(s, n, cp);
    return k > 0 ? k : 0;
}

bool utf8_valid(const char *s, size_t len, size_t *bad_offset) {
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        int k = utf8_next(s + i, len - i, NULL);
        if (k <= 0) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += (size_t)k;
    }
    return true;
}
