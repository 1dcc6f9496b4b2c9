/*
** loadtest.c — see loadtest.h.
*/
#include "loadtest.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eval/httpc.h"
#include "util/clock.h"
#include "util/progress.h"

typedef struct tp_ctx {
    int port, total, next, ok, rejected, errors;
    char **bodies;
    int n_bodies;
    pthread_mutex_t mu;
} tp_ctx;

static void *tp_worker(void *p) {
    tp_ctx *c = p;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int i = c->next < c->total ? c->next++ : -1;
        pthread_mutex_unlock(&c->mu);
        if (i < 0) return NULL;
        int st = httpc_request(c->port, "POST", "/api/ask", c->bodies[i % c->n_bodies], NULL, 600000);
        pthread_mutex_lock(&c->mu);
        if (st == 200) c->ok++;
        else if (st == 503) c->rejected++;
        else c->errors++;
        pthread_mutex_unlock(&c->mu);
    }
}

/* Successful requests per second of `total` requests sent by conc clients. */
static double run_load(int port, char **bodies, int n_bodies, int conc, int total, int *errors) {
    tp_ctx c = { .port = port, .total = total, .bodies = bodies, .n_bodies = n_bodies };
    pthread_mutex_init(&c.mu, NULL);
    pthread_t th[EV_LOAD_MAX_CONC];
    if (conc > EV_LOAD_MAX_CONC) conc = EV_LOAD_MAX_CONC;
    double t0 = clock_now_s();
    for (int i = 0; i < conc; i++) pthread_create(&th[i], NULL, tp_worker, &c);
    for (int i = 0; i < conc; i++) pthread_join(th[i], NULL);
    double dt = clock_now_s() - t0;
    pthread_mutex_destroy(&c.mu);
    *errors += c.errors + c.rejected;
    return dt > 0 ? c.ok / dt : 0;
}

static pid_t spawn(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = log ? freopen(log, "w", stderr) : NULL;
        (void)f;
        if (!freopen("/dev/null", "w", stdout)) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* A NULL-terminated argv: head[0..n_head), o->flags, then tail when not NULL. */
static char **make_argv(const ev_load_opts *o, const char *const *head, int n_head, const char *tail) {
    int nf = 0;
    while (o->flags && o->flags[nf]) nf++;
    char **av = calloc((size_t)(n_head + nf + 2), sizeof *av);
    if (!av) return NULL;
    int k = 0;
    for (int i = 0; i < n_head; i++) av[k++] = (char *)head[i];
    for (int i = 0; i < nf; i++) av[k++] = (char *)o->flags[i];
    if (tail) av[k++] = (char *)tail;
    return av;
}

/* The server's throughput on the request bodies of the tasks on dbpath. */
static void throughput(const ev_load_opts *o, const ev_tasks *ts, int n_tasks, const char *dbpath, int port, ev_load *r) {
    char **bodies = calloc((size_t)n_tasks, sizeof *bodies);
    int nb = 0;
    for (int i = 0; bodies && i < n_tasks; i++) {
        if (ts->t[i].db_id && strstr(dbpath, ts->t[i].db_id) == NULL) continue;
        json_t *b = json_object();
        json_object_set_new(b, "question", json_string(ts->t[i].question));
        if (ts->t[i].context) json_object_set_new(b, "context", json_string(ts->t[i].context));
        bodies[nb++] = json_dumps(b, JSON_COMPACT);
        json_decref(b);
    }
    if (nb) {
        progress tpp;
        progress_start(&tpp, "throughput", r->n_conc);
        for (int c = 0; c < r->n_conc; c++) {
            r->rps[c] = run_load(port, bodies, nb, r->conc[c], o->requests, &r->http_errors);
            progress_update(&tpp, c + 1);
        }
        progress_end(&tpp);
    } else r->n_conc = 0;
    for (int i = 0; i < nb; i++) free(bodies[i]);
    free(bodies);
}

void ev_load_none(ev_load *r) {
    memset(r, 0, sizeof *r);
    r->health_ms = r->first_answer_ms = -1;
}

void ev_load_run(const ev_load_opts *o, const ev_tasks *ts, int n_tasks, ev_load *r) {
    ev_load_none(r);
    int levels[4] = { 1, 2, 4, 8 };
    for (int i = 0; i < 4; i++) r->conc[r->n_conc++] = levels[i];
    if (o->concurrency != 1 && o->concurrency != 2 && o->concurrency != 4 && o->concurrency != 8) r->conc[r->n_conc++] = o->concurrency;

    /* the server needs a database: the first task's, or an empty one for context tasks */
    char dbpath[4096] = "";
    for (int i = 0; i < n_tasks && !dbpath[0]; i++)
        if (ts->t[i].db_id) ev_task_db_path(o->db_dir, ts->t[i].db_id, dbpath, sizeof dbpath);
    if (!dbpath[0]) {
        snprintf(dbpath, sizeof dbpath, "%s/empty.sqlite", o->out_dir);
        FILE *f = fopen(dbpath, "wb");
        if (f) fclose(f);
    }
    int port = httpc_free_port();
    char port_s[16], slog[4200];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(slog, sizeof slog, "%s/server.log", o->out_dir);
    const char *sh[] = { o->exe, "serve", "--model", o->model, "--db", dbpath, "--port", port_s, "--queue", "64" };
    char **sv = make_argv(o, sh, 10, NULL);
    double t0 = clock_now_s();
    pid_t srv = sv ? spawn(sv, slog) : -1;
    free(sv);
    for (int tries = 0; srv > 0 && tries < 1200; tries++) {
        char *body = NULL;
        int st = httpc_request(port, "GET", "/health", NULL, &body, 2000);
        int ready = st == 200 && body && strstr(body, "ready");
        free(body);
        if (ready) { r->health_ms = (clock_now_s() - t0) * 1000; break; }
        int status;
        if (waitpid(srv, &status, WNOHANG) == srv) { srv = -1; break; }
        usleep(50000);
    }
    if (r->health_ms >= 0) throughput(o, ts, n_tasks, dbpath, port, r);
    else {
        fprintf(stderr, "sqlassist: the server did not become ready (see %s); throughput not measured\n", slog);
        r->n_conc = 0;
    }
    if (srv > 0) { kill(srv, SIGTERM); waitpid(srv, NULL, 0); }

    /* cold start: a fresh process from exec to its printed answer */
    const ev_task *t = &ts->t[0];
    char dbp[4096];
    if (t->db_id) ev_task_db_path(o->db_dir, t->db_id, dbp, sizeof dbp);
    const char *ah[] = { o->exe, "ask", "--model", o->model, "--json", t->context ? "--context" : "--db", t->context ? t->context : dbp };
    char **av = make_argv(o, ah, 7, t->question);
    double t1 = clock_now_s();
    pid_t ap = av ? spawn(av, "/dev/null") : -1;
    free(av);
    int st;
    if (ap > 0 && waitpid(ap, &st, 0) == ap && WIFEXITED(st) && WEXITSTATUS(st) <= 1) r->first_answer_ms = (clock_now_s() - t1) * 1000;
}
