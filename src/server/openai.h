/*
** openai.h — the OpenAI-compatible routes: POST /v1/chat/completions
** (plain and streamed) and GET /v1/models, so that OpenAI client libraries
** can talk to the model (the base one or any loaded adapter, chosen by
** `model`) as a chat model.
*/
#ifndef SA_SERVER_OPENAI_H
#define SA_SERVER_OPENAI_H

#include "http.h"
#include "server.h"

void oa_chat_completions(server *s, http_req *r);
void oa_models(server *s, http_req *r);

#endif
