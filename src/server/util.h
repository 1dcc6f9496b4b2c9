/*
** util.h — small helpers shared by the server modules: JSON strings from
** bytes that may not be UTF-8, the one error body every route answers
** with, and the structured log (one JSON object per line on stderr).
*/
#ifndef SA_SERVER_UTIL_H
#define SA_SERVER_UTIL_H

#include <jansson.h>
#include <stddef.h>

/* A JSON string of s (n bytes); bytes that are not valid UTF-8 become
** U+FFFD, since jansson refuses them and URLs, headers and model output
** can hold anything. NULL s gives JSON null. Never returns NULL. */
json_t *sj_strn(const char *s, size_t n);
json_t *sj_str(const char *s);

/* The error body of every route (the OpenAI shape, so that OpenAI clients
** show the message):
**   {"error":{"message":MSG,"type":TYPE,"param":PARAM|null,"code":CODE|null}}
** TYPE follows from the HTTP status (invalid_request_error for 400 ...).
** param names the offending request field (NULL when none); code is an
** optional machine-readable word. Returns a malloc'd string (never NULL:
** a fixed body when out of memory). */
char *sj_error_body(int status, const char *param, const char *code, const char *msg);
const char *sj_error_type(int status);

/* Dumps o compactly (ASCII-only, so logs and SSE lines stay one line) and
** drops the reference. malloc'd; NULL when out of memory. */
char *sj_dump_take(json_t *o);

/* Writes o as one line on stderr with "ts" (UTC, ms) put first, then drops
** the reference. Lines from concurrent threads never interleave. */
void slog(json_t *o);
/* slog of {"event": EVENT, "msg": formatted text}. */
void slog_event(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
