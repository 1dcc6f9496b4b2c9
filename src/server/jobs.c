/*
** jobs.c — see jobs.h.
*/
#include "jobs.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Sends a finished plain job's status and body. */
static void send_job(server *s, http_req *r, job *j) {
    pthread_mutex_lock(&j->mu);
    assert(j->state == JOB_DONE);
    int status = j->status;
    char *body = j->body;
    j->body = NULL;
    pthread_mutex_unlock(&j->mu);
    if (status == 503) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", s->wq ? wq_retry_after(s->wq) : 1);
        http_add_header(r, "Retry-After", ra);
    }
    if (!body) { http_send_error(r, status >= 400 ? status : 500, NULL, "no answer"); return; }
    http_send(r, status, "application/json", body, strlen(body));
}

void jobs_submit(server *s, http_req *r, job *j) {
    if (j->sse == SSE_EVENTS) {
        /* first event at once: the client learns its request was taken (the
        ** headers go out with it) even while the job waits in the queue */
        char d[160];
        snprintf(d, sizeof d, "{\"id\":\"%s\",\"queue_depth\":%d}", j->id, wq_depth(s->wq));
        job_emit(j, "queued", d);
    }
    int rc = wq_submit(s->wq, j);
    if (rc) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", rc == -1 ? wq_retry_after(s->wq) : 1);
        http_add_header(r, "Retry-After", ra);
        if (rc == -1)
            http_send_error(r, 503, NULL, "the server is busy: %d requests are already waiting (--queue); retry later",
                            wq_capacity(s->wq));
        else
            http_send_error(r, 503, NULL, "the server is shutting down");
        job_release(j);
        return;
    }
    http_attach_job(r, j);
    if (j->sse != SSE_NONE) http_stream_job(r, j);
    else if (http_wait_job(r, j) == 0) send_job(s, r, j);
    job_release(j);
}

void jobs_observe_answer(server *s, job *j, const agent_answer *a) {
    for (int i = 0; i < a->n_attempts; i++) {
        const agent_attempt *t = &a->attempts[i];
        metrics_observe(s->mx, MX_PREFILL, t->prefill_ms / 1000.0);
        metrics_observe(s->mx, MX_DECODE, t->decode_ms / 1000.0);
        if (t->sql && t->sql[0]) metrics_observe(s->mx, MX_SQL_EXEC, t->execute_ms / 1000.0);
    }
    metrics_tokens(s->mx, a->prompt_tokens, a->cached_tokens, a->generated_tokens, a->decode_ms / 1000.0);
    j->st.prefill_s = a->prefill_ms / 1000.0;
    j->st.decode_s = a->decode_ms / 1000.0;
    j->st.execute_s = a->execute_ms / 1000.0;
    j->st.prompt_tokens = a->prompt_tokens;
    j->st.cached_tokens = a->cached_tokens;
    j->st.gen_tokens = a->generated_tokens;
    j->st.attempts = a->n_attempts;
    j->st.ok = a->ok;
}
