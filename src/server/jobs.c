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

/* How often a request waiting for its job looks whether its client left. */
#define WAIT_POLL_MS 100

static int job_done(job *j) {
    pthread_mutex_lock(&j->mu);
    int done = j->state == JOB_DONE;
    pthread_mutex_unlock(&j->mu);
    return done;
}

/* Blocks until j is done: 0; or -1 when the client went away first (j has
** then been cancelled, and nothing should be sent). */
static int wait_job(http_req *r, job *j) {
    int gone = 0;
    pthread_mutex_lock(&j->mu);
    while (j->state != JOB_DONE) {
        job_wait_locked(j, WAIT_POLL_MS);
        if (j->state == JOB_DONE) break;
        pthread_mutex_unlock(&j->mu);
        gone = http_client_left(r);
        pthread_mutex_lock(&j->mu);
        if (gone) {
            job_cancel(j, JOB_CLIENT_GONE);
            break;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return gone ? -1 : 0;
}

/* ---- a streamed job: its server-sent events, as the worker emits them ---- */

static long events_pull(void *cls, char *buf, size_t max, int wait_ms) {
    job *j = cls;
    pthread_mutex_lock(&j->mu);
    for (int waited = 0;; waited = 1) {
        size_t avail = j->ev.len - j->ev_off;
        if (avail) {
            size_t n = avail < max ? avail : max;
            memcpy(buf, j->ev.p + j->ev_off, n);
            j->ev_off += n;
            if (j->ev_off == j->ev.len) {   /* all sent: reuse the buffer from its start */
                j->ev.len = 0;
                j->ev_off = 0;
                j->ev.p[0] = 0;
            }
            pthread_mutex_unlock(&j->mu);
            return (long)n;
        }
        if (j->state == JOB_DONE) {
            pthread_mutex_unlock(&j->mu);
            return HTTP_STREAM_END;
        }
        if (waited) break;
        job_wait_locked(j, wait_ms);
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

static void events_client_left(void *cls) { job_cancel(cls, JOB_CLIENT_GONE); }

static void events_close(void *cls) {
    job *j = cls;
    /* the response is gone before the job ended: nobody will read the rest */
    if (!job_done(j)) job_cancel(j, JOB_CLIENT_GONE);
    job_release(j);
}

static const http_event_source job_events = { events_pull, events_client_left, events_close };

/* ---- the request's log line --------------------------------------------- */

static void put_ms(json_t *o, const char *k, double s) { json_object_set_new(o, k, json_real((double)(long)(s * 1e5) / 100.0)); }

/* The request is over: a job it did not wait to the end of is cancelled,
** and the log line gets the job's status, timings and token counts. */
static void request_over(void *cls, int complete, json_t *o) {
    job *j = cls;
    /* the request ended before its job: nobody will read the answer */
    if (!complete && !job_done(j)) job_cancel(j, JOB_CLIENT_GONE);
    if (o) {
        pthread_mutex_lock(&j->mu);
        if (j->state == JOB_DONE) {
            job_stats st = j->st;
            json_object_set_new(o, "job_status", json_integer(j->status));
            put_ms(o, "queue_ms", st.queue_s);
            put_ms(o, "run_ms", st.run_s);
            put_ms(o, "prefill_ms", st.prefill_s);
            put_ms(o, "decode_ms", st.decode_s);
            put_ms(o, "execute_ms", st.execute_s);
            json_object_set_new(o, "prompt_tokens", json_integer(st.prompt_tokens));
            json_object_set_new(o, "cached_tokens", json_integer(st.cached_tokens));
            json_object_set_new(o, "generated_tokens", json_integer(st.gen_tokens));
            if (st.attempts) json_object_set_new(o, "attempts", json_integer(st.attempts));
            if (st.ok >= 0) json_object_set_new(o, "ok", json_boolean(st.ok));
        } else {
            json_object_set_new(o, "job_status", json_string("unfinished"));
        }
        int stop = atomic_load(&j->stop);
        if (stop != JOB_GO)
            json_object_set_new(o, "cancelled", json_string(stop == JOB_TIMED_OUT ? "timeout" : stop == JOB_SHUTDOWN ? "shutdown" : "client_gone"));
        pthread_mutex_unlock(&j->mu);
    }
    job_release(j);
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
    job_retain(j);
    http_on_done(r, request_over, j);
    if (j->sse != SSE_NONE) {
        job_retain(j);
        http_send_events(r, &job_events, j);
    } else if (wait_job(r, j) == 0) {
        send_job(s, r, j);
    }
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
