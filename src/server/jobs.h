/*
** jobs.h — jobs as the HTTP side sees them, in one place: a route hands
** work to the model worker here, and its answer comes from here.
**   submit     queued; 503 with Retry-After when the queue is full or the
**              server is stopping
**   plain      the connection's thread waits for the job to end (a client
**              that leaves first cancels it), then sends its body
**   streamed   the job's server-sent events go to the HTTP layer's event
**              stream as the worker emits them (a client that leaves
**              cancels the job)
**   over       a job nobody will read is cancelled; the request's log line
**              gets the job's status, timings and token counts
** Also what every agent job records (its timings and token counts, in the
** metrics and in the job's stats).
**
** Borrows the server's queue (s->wq) and metrics (s->mx). Called on the
** HTTP threads (jobs_submit) and on the worker (jobs_observe_answer). The
** HTTP layer knows nothing of jobs: this module uses its generic hooks
** (http_client_left, http_send_events, http_on_done).
*/
#ifndef SA_SERVER_JOBS_H
#define SA_SERVER_JOBS_H

#include "agent/agent.h"
#include "http.h"
#include "server.h"
#include "worker.h"

/* Queues j and answers from it: streamed (j->sse), or plain once done
** (nothing when the client left first); 503 with Retry-After when the
** queue is full or the server is stopping. Blocks the connection's thread
** for a plain answer. Consumes the caller's reference. */
void jobs_submit(server *s, http_req *r, job *j);

/* Records an agent answer's timings and token counts in the metrics and in
** j's stats (the request's log line). */
void jobs_observe_answer(server *s, job *j, const agent_answer *a);

#endif
