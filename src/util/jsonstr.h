/*
** jsonstr.h — JSON strings from bytes that may not be valid UTF-8 (model
** output, database text): jansson refuses invalid UTF-8, so bad bytes are
** replaced by U+FFFD first.
*/
#ifndef SA_JSONSTR_H
#define SA_JSONSTR_H

#include <jansson.h>
#include <stddef.h>

/* A malloc'd copy of s[0..n) with every byte that does not start a valid
** UTF-8 character replaced by U+FFFD (NULL when out of memory); its length
** in *len when len is not NULL. */
char *utf8_repaired(const char *s, size_t n, size_t *len);

/* A new JSON string of s[0..n) (NULL s: JSON null); never NULL. */
json_t *json_text(const char *s, size_t n);

#endif
