/*
** worker.c — see worker.h.
*/
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/generate.h"
#include "metrics.h"
#include "util.h"
#include "util/clock.h"

/* ---- jobs ------------------------------------------------------------------ */

job *job_new(const char *id, int sse, long timeout_ms) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&j->mu, NULL);
    j->refs = 1;
    j->sse = sse;
    snprintf(j->id, sizeof j->id, "%s", id);
    j->t_created = clock_now_s();
    j->deadline = timeout_ms > 0 ? j->t_created + (double)timeout_ms / 1000.0 : 0;
    j->st.ok = -1;
    strbuf_init(&j->ev);
    atomic_init(&j->stop, JOB_GO);
    return j;
}

void job_retain(job *j) {
    pthread_mutex_lock(&j->mu);
    assert(j->refs > 0);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void job_release(job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    assert(j->refs > 0);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    if (j->in_free) j->in_free(j->in);
    strbuf_free(&j->ev);
    free(j->body);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void job_cancel(job *j, int reason) {
    int expect = JOB_GO;
    atomic_compare_exchange_strong(&j->stop, &expect, reason);
}

int job_should_stop(job *j) {
    int r = atomic_load(&j->stop);
    if (r == JOB_GO && j->deadline > 0 && clock_now_s() > j->deadline) {
        job_cancel(j, JOB_TIMED_OUT);
        r = atomic_load(&j->stop);
    }
    return r;
}

void job_wait_locked(job *j, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    int rc = pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    assert(rc == 0 || rc == ETIMEDOUT);
    (void)rc;
}

void job_emit(job *j, const char *event, const char *data) {
    assert(j->sse != SSE_NONE);
    assert(!strchr(data, '\n'));
    pthread_mutex_lock(&j->mu);
    if (event) strbuf_printf(&j->ev, "event: %s\n", event);
    strbuf_printf(&j->ev, "data: %s\n\n", data);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void job_finish(job *j, int status, char *body) {
    pthread_mutex_lock(&j->mu);
    assert(j->state != JOB_DONE);
    j->state = JOB_DONE;
    j->status = status;
    double now = clock_now_s();
    if (j->t_started > 0) j->st.run_s = now - j->t_started;
    else j->st.queue_s = now - j->t_created;
    free(j->body);
    j->body = body;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void job_fail(job *j, int status, const char *param, const char *msg) {
    char *body = sj_error_body(status, param, NULL, msg);
    if (j->sse == SSE_NONE) { job_finish(j, status, body); return; }
    job_emit(j, j->sse == SSE_EVENTS ? "error" : NULL, body);
    if (j->sse == SSE_OPENAI) job_emit(j, NULL, "[DONE]");
    free(body);
    job_finish(j, status, NULL);
}

void job_fail_stopped(job *j, int reason) {
    switch (reason) {
    case JOB_TIMED_OUT: job_fail(j, 504, NULL, "the request timed out (--request-timeout-ms) and was cancelled"); break;
    case JOB_SHUTDOWN: job_fail(j, 503, NULL, "the server is shutting down"); break;
    default: job_fail(j, 499, NULL, "the client closed the connection"); break;
    }
}

/* ---- the queue ------------------------------------------------------------- */

struct work_queue {
    server *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* a job arrived, the running one ended, or stopping */
    job **ring;
    int cap, head, n;
    job *running;
    int stopping, started;
    double avg_run_s;           /* moving average, for Retry-After */
    pthread_t thread;
};

work_queue *wq_new(server *s, int capacity, sa_err *err) {
    assert(capacity >= 1);
    work_queue *q = calloc(1, sizeof *q);
    if (q) q->ring = calloc((size_t)capacity, sizeof *q->ring);
    if (!q || !q->ring) { free(q); sa_fail(err, "out of memory"); return NULL; }
    q->s = s;
    q->cap = capacity;
    q->avg_run_s = 1.0;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

static const char *stop_word(int reason) {
    return reason == JOB_TIMED_OUT ? "timeout" : reason == JOB_SHUTDOWN ? "shutdown" : "client_gone";
}

static void *worker_main(void *arg) {
    work_queue *q = arg;
    server *s = q->s;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->n && !q->stopping) pthread_cond_wait(&q->cv, &q->mu);
        if (!q->n) { pthread_mutex_unlock(&q->mu); break; }
        job *j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        q->running = j;
        pthread_mutex_unlock(&q->mu);

        double t0 = clock_now_s();
        pthread_mutex_lock(&j->mu);
        j->state = JOB_RUNNING;
        j->t_started = t0;
        j->st.queue_s = t0 - j->t_created;
        pthread_mutex_unlock(&j->mu);
        metrics_observe(s->mx, MX_QUEUE_WAIT, t0 - j->t_created);
        int why = job_should_stop(j);
        if (why != JOB_GO) {
            /* it timed out or its client left while it waited: skip it */
            metrics_cancelled(s->mx, stop_word(why));
            job_fail_stopped(j, why);
        } else {
            j->run(s, j);
            why = atomic_load(&j->stop);
            if (why != JOB_GO) metrics_cancelled(s->mx, stop_word(why));
        }
        double dt = clock_now_s() - t0;
        pthread_mutex_lock(&j->mu);
        assert(j->state == JOB_DONE);
        pthread_mutex_unlock(&j->mu);

        pthread_mutex_lock(&q->mu);
        q->running = NULL;
        q->avg_run_s = 0.8 * q->avg_run_s + 0.2 * dt;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        job_release(j);
    }
    return NULL;
}

int wq_start(work_queue *q, sa_err *err) {
    assert(!q->started);
    int rc = pthread_create(&q->thread, NULL, worker_main, q);
    if (rc) return sa_fail(err, "cannot start the worker thread: %s", strerror(rc));
    q->started = 1;
    return 0;
}

int wq_submit(work_queue *q, job *j) {
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    if (q->stopping || !q->started) rc = -2;
    else if (q->n == q->cap) rc = -1;
    else {
        job_retain(j);
        q->ring[(q->head + q->n) % q->cap] = j;
        q->n++;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int wq_depth(work_queue *q) {
    pthread_mutex_lock(&q->mu);
    int n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int wq_capacity(work_queue *q) { return q->cap; }

int wq_running(work_queue *q) {
    pthread_mutex_lock(&q->mu);
    int n = q->running != NULL;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int wq_retry_after(work_queue *q) {
    pthread_mutex_lock(&q->mu);
    double t = (q->n + 1) * q->avg_run_s;
    pthread_mutex_unlock(&q->mu);
    int s = (int)(t + 0.999);
    return s < 1 ? 1 : s > 120 ? 120 : s;
}

void wq_shutdown(work_queue *q, double grace_s) {
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    /* queued jobs never start: answer them now so their clients (or a
    ** proxy in front) can go elsewhere */
    while (q->n) {
        job *j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        pthread_mutex_unlock(&q->mu);
        job_cancel(j, JOB_SHUTDOWN);
        job_fail_stopped(j, JOB_SHUTDOWN);
        job_release(j);
        pthread_mutex_lock(&q->mu);
    }
    pthread_cond_broadcast(&q->cv);
    double end = clock_now_s() + grace_s;
    while (q->running && clock_now_s() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 50 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    if (q->running) job_cancel(q->running, JOB_SHUTDOWN);
    int started = q->started;
    pthread_mutex_unlock(&q->mu);
    if (started) pthread_join(q->thread, NULL);
    q->started = 0;
}

void wq_free(work_queue *q) {
    if (!q) return;
    assert(!q->started && !q->n);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->ring);
    free(q);
}
