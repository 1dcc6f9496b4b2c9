/*
** jobs.h — the one place where a route hands work to the model worker and
** answers from it: submit a job (503 with Retry-After when the queue is
** full or the server is stopping), then send its answer, plain or as a
** stream of server-sent events; and what every agent job records (its
** timings and token counts in the metrics and in the request's log line).
**
** Borrows the server's queue (s->wq) and metrics (s->mx). Called on the
** HTTP threads (jobs_submit) and on the worker (jobs_observe_answer).
*/
#ifndef SA_SERVER_JOBS_H
#define SA_SERVER_JOBS_H

#include "agent/agent.h"
#include "http.h"
#include "server.h"
#include "worker.h"

/* Queues j and answers from it: streamed, or plain once done; 503 with
** Retry-After when the queue is full. Consumes the caller's reference. */
void jobs_submit(server *s, http_req *r, job *j);

/* Records an agent answer's timings and token counts in the metrics and in
** j's stats (the request's log line). */
void jobs_observe_answer(server *s, job *j, const agent_answer *a);

#endif
