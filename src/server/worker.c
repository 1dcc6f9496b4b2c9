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
    clock_cond_init(&j->cv);
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
    struct timespec ts = clock_deadline_us((long)ms * 1000);
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
    pthread_cond_t cv;          /* a job arrived, a running one ended, or stopping */
    job **ring;
    int cap, head, n;
    int n_workers;
    job **running;              /* [n_workers]: each worker's job, or NULL */
    int n_running;
    int stopping, n_started;
    double avg_run_s;           /* moving average, for Retry-After */
    pthread_t *threads;         /* [n_workers] */
};

work_queue *wq_new(server *s, int capacity, int n_workers, sa_err *err) {
    assert(capacity >= 1 && n_workers >= 1);
    work_queue *q = calloc(1, sizeof *q);
    if (q) {
        q->ring = calloc((size_t)capacity, sizeof *q->ring);
        q->running = calloc((size_t)n_workers, sizeof *q->running);
        q->threads = calloc((size_t)n_workers, sizeof *q->threads);
    }
    if (!q || !q->ring || !q->running || !q->threads) {
        if (q) { free(q->ring); free(q->running); free(q->threads); }
        free(q);
        sa_fail(err, "out of memory");
        return NULL;
    }
    q->s = s;
    q->cap = capacity;
    q->n_workers = n_workers;
    q->avg_run_s = 1.0;
    pthread_mutex_init(&q->mu, NULL);
    clock_cond_init(&q->cv);
    return q;
}

static const char *stop_word(int reason) {
    return reason == JOB_TIMED_OUT ? "timeout" : reason == JOB_SHUTDOWN ? "shutdown" : "client_gone";
}

typedef struct worker_arg { work_queue *q; int index; } worker_arg;

static void *worker_main(void *arg) {
    work_queue *q = ((worker_arg *)arg)->q;
    int me = ((worker_arg *)arg)->index;
    free(arg);
    server *s = q->s;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->n && !q->stopping) pthread_cond_wait(&q->cv, &q->mu);
        if (!q->n) { pthread_mutex_unlock(&q->mu); break; }
        job *j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        q->running[me] = j;
        q->n_running++;
        pthread_mutex_unlock(&q->mu);

        double t0 = clock_now_s();
        pthread_mutex_lock(&j->mu);
        j->state = JOB_RUNNING;
        j->t_started = t0;
        j->st.queue_s = t0 - j->t_created;
        j->worker = me;
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
        q->running[me] = NULL;
        q->n_running--;
        q->avg_run_s = 0.8 * q->avg_run_s + 0.2 * dt;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        job_release(j);
    }
    return NULL;
}

int wq_start(work_queue *q, sa_err *err) {
    assert(!q->n_started);
    for (int i = 0; i < q->n_workers; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (a) *a = (worker_arg){ q, i };
        int rc = a ? pthread_create(&q->threads[i], NULL, worker_main, a) : ENOMEM;
        if (rc) {
            free(a);
            /* the ones started so far are stopped by wq_shutdown */
            return sa_fail(err, "cannot start worker thread %d: %s", i + 1, strerror(rc));
        }
        q->n_started++;
    }
    return 0;
}

int wq_submit(work_queue *q, job *j) {
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    if (q->stopping || !q->n_started) rc = -2;
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
    int n = q->n_running;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int wq_workers(work_queue *q) { return q->n_workers; }

int wq_retry_after(work_queue *q) {
    pthread_mutex_lock(&q->mu);
    double t = (q->n + 1) * q->avg_run_s / q->n_workers;
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
    while (q->n_running && clock_now_s() < end) {
        struct timespec ts = clock_deadline_us(50 * 1000);
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    for (int i = 0; i < q->n_workers; i++)
        if (q->running[i]) job_cancel(q->running[i], JOB_SHUTDOWN);
    int started = q->n_started;
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < started; i++) pthread_join(q->threads[i], NULL);
    q->n_started = 0;
}

void wq_free(work_queue *q) {
    if (!q) return;
    assert(!q->n_started && !q->n);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->running);
    free(q->threads);
    free(q->ring);
    free(q);
}
