/*
** loadtest.h — the benchmark's measurements through real processes: the
** HTTP server (`sqlassist serve`) is started, timed to /health ready, and
** loaded with /api/ask requests at concurrency 1, 2, 4, 8 (and the one
** asked for); then a fresh `sqlassist ask` is timed from exec to its answer
** (cold start).
*/
#ifndef SA_LOADTEST_H
#define SA_LOADTEST_H

#include "eval/tasks.h"

#define EV_LOAD_MAX_CONC 64        /* client threads at most */

typedef struct ev_load_opts {
    const char *exe;               /* the sqlassist executable */
    const char *model;             /* --model of both processes */
    const char *const *flags;      /* NULL-terminated flags both `serve` and `ask` get (limits, threads,
                                   ** adapters, prompt and decoding options) */
    const char *db_dir;            /* Spider databases, as for ev_task_db_path */
    const char *out_dir;           /* gets server.log, and empty.sqlite when no task has a database */
    int concurrency;               /* measured too when not 1, 2, 4 or 8 */
    int requests;                  /* requests per concurrency level */
} ev_load_opts;

typedef struct ev_load {
    int conc[5];                   /* concurrency levels measured, in order */
    double rps[5];                 /* successful requests per second at each */
    int n_conc;                    /* 0: throughput not measured */
    int http_errors;               /* requests answered other than 200 (503 included) or not at all */
    double health_ms;              /* server start to /health "ready"; -1: not measured */
    double first_answer_ms;        /* `ask` from exec to its exit with status 0 or 1; -1: not measured */
} ev_load;

/* Nothing measured (as with --no-server). */
void ev_load_none(ev_load *r);

/* Measures on the first n_tasks of ts. The server is given the database of
** the first task that has one (an empty database when none has), and the
** requests are the questions of the tasks on that database and of the
** context tasks, in turn; the cold start asks the first task. A server that
** does not become ready is reported on stderr and leaves throughput
** unmeasured. */
void ev_load_run(const ev_load_opts *o, const ev_tasks *ts, int n_tasks, ev_load *r);

#endif
