/*
** utf8.h — the one UTF-8 decoder of sqlassist (the sandbox, the schema
** rendering, JSON strings and the tokenizer all use it).
**
** Valid means what Unicode says, which is also what SQLite's text, jansson
** and Hugging Face's tokenizers accept: no overlong forms, no surrogates
** (U+D800..U+DFFF), nothing past U+10FFFF, no stray continuation bytes, and
** never the bytes 0xC0, 0xC1 or 0xF5..0xFF.
*/
#ifndef SA_UTF8_H
#define SA_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Looks at the character starting at s (n bytes available). Returns its
** length 1..4 when it is a valid UTF-8 character, with its code point in *cp
** (if non-NULL); 0 when n is 0 or s[0..n) is a valid but incomplete start of
** one (more bytes could complete it); -k when the first k bytes are a maximal
** invalid subpart (Unicode's "substitution of maximal subparts", which is
** what Rust's from_utf8_lossy and so Hugging Face decoding use: each such
** subpart becomes one U+FFFD). *cp is written only for a valid character. */
int utf8_next(const char *s, size_t n, uint32_t *cp);

/* As utf8_next, but 0 whenever s does not start a complete valid character
** (invalid, incomplete, or n is 0): its length 1..4 otherwise. */
int utf8_decode(const char *s, size_t n, uint32_t *cp);

/* True when len bytes at s are valid UTF-8; else false and *bad_offset (if
** non-NULL) is the offset of the first byte that does not start a valid
** character (an incomplete one at the end included). */
bool utf8_valid(const char *s, size_t len, size_t *bad_offset);

#endif
