/*
** openai.h — the OpenAI-compatible routes: POST /v1/chat/completions
** (plain and streamed), GET /v1/models and GET /v1/models/{id}, so that
** OpenAI client libraries can talk to
**   - the SQL agent (model OA_AGENT_MODEL): the last user message is a
**     question about --db, earlier turns are its conversation; the reply
**     holds the SQL in a ```sql block and the rows as a Markdown table;
**   - the raw model (the base one or any loaded adapter, chosen by
**     `model`) as a chat model, prompted in the server's template (the
**     model file's own format, else ChatML).
*/
#ifndef SA_SERVER_OPENAI_H
#define SA_SERVER_OPENAI_H

#include "agent/agent.h"
#include "http.h"
#include "server.h"

#define OA_AGENT_MODEL "sql-agent"

/* The routes above (server.c serves them after api.c's). */
extern const http_route oa_routes[];
extern const int oa_n_routes;

/* The agent's reply as Markdown: the SQL in a ```sql block, then the first
** 50 rows as a table (numeric columns right-aligned) and a line saying how
** many more there are; when no attempt ran, a sentence saying so, the
** last attempt's SQL and error. malloc'd; NULL when out of memory. */
char *oa_answer_markdown(const agent_answer *a);

#endif
