/*
** api.h — the JSON API of `sqlassist serve` under /api: ask, sql, schema,
** adapters; plus the page, /health and /metrics. The OpenAI-compatible
** routes are in openai.h; server.c serves both tables. docs/server.md
** describes every route.
*/
#ifndef SA_SERVER_API_H
#define SA_SERVER_API_H

#include "http.h"
#include "server.h"

extern const http_route api_routes[];
extern const int api_n_routes;

/* Prepares what the routes need before the HTTP daemon starts: the
** schema body of GET /api/schema (from s->schema), the conversation
** store and the adapters' table (adapters.h). */
int api_init(server *s, sa_err *err);
void api_free(server *s);

#endif
