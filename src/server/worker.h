/*
** worker.h — model jobs and the bounded queue that feeds them to the
** worker threads (`serve --parallel N`: N jobs run at once, each on its own
** thread, prefix-cache slot and --db connection; their forward passes are
** batched by the server's batcher, engine/batcher.h, the only thread that
** runs the model).
**
** A job is shared by the HTTP thread that made it and a worker: it is
** reference counted, and its mutex guards its state, its outgoing
** server-sent-event bytes and its result. The HTTP side waits on its
** condition variable; the worker signals it for every event and at the end.
** Cancelling (client gone, timeout, shutdown) is a flag the worker polls
** between tokens; the first reason set wins.
*/
#ifndef SA_SERVER_WORKER_H
#define SA_SERVER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>

#include "server.h"
#include "util/err.h"
#include "util/strbuf.h"

typedef struct job job;
/* Runs j on the worker thread; must end with job_finish or job_fail. */
typedef void (*job_run_fn)(server *s, job *j);

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };
enum job_stop { JOB_GO = 0, JOB_CLIENT_GONE, JOB_TIMED_OUT, JOB_SHUTDOWN };
/* How a streamed job frames its events. */
enum job_sse { SSE_NONE = 0, SSE_EVENTS, SSE_OPENAI };

/* Filled by the worker; read by the HTTP side once the job is done. */
typedef struct job_stats {
    double queue_s, run_s, prefill_s, decode_s, execute_s;
    int prompt_tokens, cached_tokens, gen_tokens, attempts;
    int ok;                             /* -1: not applicable */
} job_stats;

struct job {
    /* set by the creator before wq_submit, read-only afterwards */
    job_run_fn run;
    void *in;                           /* the kind's input, freed by in_free */
    void (*in_free)(void *in);
    int sse;                            /* enum job_sse */
    char id[72];
    double t_created, deadline;         /* clock_now_s() seconds; deadline 0: none */
    /* guarded by mu */
    double t_started;                   /* when the worker took it; 0: never */
    int worker;                         /* which worker runs it (0..n_workers-1), set before run */
    pthread_mutex_t mu;
    pthread_cond_t cv;                  /* CLOCK_MONOTONIC */
    int refs;
    int state;                          /* enum job_state */
    strbuf ev;                          /* SSE bytes not yet sent, from ev_off */
    size_t ev_off;
    int status;                         /* HTTP status, when done */
    char *body;                         /* response body (non-streamed), when done */
    job_stats st;
    /* written by any thread */
    atomic_int stop;                    /* enum job_stop */
};

/* A new job with one reference, or NULL when out of memory. timeout_ms <= 0:
** no deadline. */
job *job_new(const char *id, int sse, long timeout_ms);
void job_retain(job *j);
void job_release(job *j);

/* Asks the job to stop (no-op once a reason is set). */
void job_cancel(job *j, int reason);
/* The reason the job should stop now, or JOB_GO; sets JOB_TIMED_OUT when
** the deadline has passed. Cheap: polled between tokens. */
int job_should_stop(job *j);

/* Appends one server-sent event: "event: EVENT\ndata: DATA\n\n", or only
** the data line when event is NULL. DATA must be one line. */
void job_emit(job *j, const char *event, const char *data);
/* Ends the job with an HTTP status and (non-streamed) body, owned from
** here on; a streamed job has sent its result as events already. */
void job_finish(job *j, int status, char *body);
/* Ends the job with an error: the error body for a plain job, an error
** event for a streamed one (then "[DONE]" for the OpenAI framing). */
void job_fail(job *j, int status, const char *param, const char *msg);
/* job_fail with the status and words for a stop reason. */
void job_fail_stopped(job *j, int reason);

/* Waits up to ms milliseconds for a change (caller holds j->mu). */
void job_wait_locked(job *j, int ms);

/* ---- the queue ------------------------------------------------------------ */

typedef struct work_queue work_queue;

/* A queue of at most `capacity` waiting jobs, run by n_workers threads
** (each job on one of them, numbered 0..n_workers-1 in job.worker). */
work_queue *wq_new(server *s, int capacity, int n_workers, sa_err *err);
/* Starts the worker threads (once the model is loaded). */
int wq_start(work_queue *q, sa_err *err);
/* Queues j (taking a reference). 0; -1 when the queue is full; -2 when
** shutting down. */
int wq_submit(work_queue *q, job *j);
int wq_depth(work_queue *q);
int wq_capacity(work_queue *q);
int wq_running(work_queue *q);   /* jobs running now */
int wq_workers(work_queue *q);
/* Seconds a client should wait before retrying, from the queue length and
** recent job times (at least 1). */
int wq_retry_after(work_queue *q);
/* Stops: refuses new jobs, fails queued ones with 503, gives the running
** ones grace_s seconds to end, then cancels them, and joins the workers. */
void wq_shutdown(work_queue *q, double grace_s);
void wq_free(work_queue *q);

#endif
