/*
** api.h — the routes of `sqlassist serve` (the table http.c dispatches
** on) and the JSON API under /api: ask, sql, schema, adapters; plus the
** page, /health and /metrics. The OpenAI-compatible routes are in
** openai.h. docs/server.md describes every route.
*/
#ifndef SA_SERVER_API_H
#define SA_SERVER_API_H

#include "http.h"
#include "server.h"

extern const http_route api_routes[];
extern const int api_n_routes;

/* Prepares what the routes need before the HTTP daemon starts: the
** schema body of GET /api/schema (from s->schema) and the conversation
** store. */
int api_init(server *s, sa_err *err);
void api_free(server *s);

/* Answers 503 "model is loading" (with Retry-After) and returns 0 while
** the model is not loaded yet; 1 when it is. */
int api_require_ready(server *s, http_req *r);
/* Queues j and answers from it: streamed, or plain once done; 503 with
** Retry-After when the queue is full. Consumes the caller's reference. */
void api_submit(server *s, http_req *r, job *j);

/* Looks up an adapter by name for one request. NULL name, "" and "none"
** are the base model (returns 0 with *a = NULL). Returns -1 when no such
** adapter is loaded. The reference in *a must be released (lora_release).
** key (cap bytes) receives the name to key the prefix cache with: unique to
** this loaded instance, so that a KV cache computed under an adapter that
** was unloaded is never reused for another one loaded under its name. */
int api_adapter(server *s, const char *name, const lora_adapter **a, float *scale, char *key, size_t cap);

/* Loads a --lora flag (NAME=PATH, or a bare PATH named after it) at start. */
int api_load_flag_adapter(server *s, const char *spec, sa_err *err);

#endif
