/*
** threadpool.c — see threadpool.h. A generation counter tells sleeping
** workers that a new job was posted; a pending counter tells the caller
** when the last range is finished.
*/
#include "threadpool.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct threadpool {
    int n;                       /* total threads including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long generation;
    int pending, quit;
    /* the posted job */
    tp_fn fn;
    void *ctx;
    int n_items;
};

static void run_share(threadpool *tp, int ith) {
    int per = (tp->n_items + tp->n - 1) / tp->n;
    int b = ith * per, e = b + per;
    if (e > tp->n_items) e = tp->n_items;
    if (b < e) tp->fn(tp->ctx, b, e, ith);
}

typedef struct { threadpool *tp; int ith; } worker_arg;

static void *worker(void *p) {
    worker_arg *wa = p;
    threadpool *tp = wa->tp;
    int ith = wa->ith;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&tp->mu);
        while (!tp->quit && tp->generation == seen) pthread_cond_wait(&tp->wake, &tp->mu);
        if (tp->quit) { pthread_mutex_unlock(&tp->mu); return NULL; }
        seen = tp->generation;
        pthread_mutex_unlock(&tp->mu);
        run_share(tp, ith);
        pthread_mutex_lock(&tp->mu);
        if (--tp->pending == 0) pthread_cond_signal(&tp->done);
        pthread_mutex_unlock(&tp->mu);
    }
}

int tp_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

threadpool *tp_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n = n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    tp->threads = calloc((size_t)n_threads, sizeof *tp->threads);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        wa->tp = tp;
        wa->ith = i;
        if (pthread_create(&tp->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            tp->n = i;              /* run with what we got */
            break;
        }
    }
    return tp;
}

void tp_destroy(threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    tp->quit = 1;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n; i++) pthread_join(tp->threads[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->wake);
    pthread_cond_destroy(&tp->done);
    free(tp->threads);
    free(tp);
}

int tp_size(const threadpool *tp) { return tp->n; }

void tp_run(threadpool *tp, int n, tp_fn fn, void *ctx) {
    if (n <= 0) return;
    if (tp->n == 1 || n == 1) { fn(ctx, 0, n, 0); return; }
    pthread_mutex_lock(&tp->mu);
    assert(tp->pending == 0);
    tp->fn = fn;
    tp->ctx = ctx;
    tp->n_items = n;
    tp->pending = tp->n - 1;
    tp->generation++;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    run_share(tp, 0);
    pthread_mutex_lock(&tp->mu);
    while (tp->pending > 0) pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}
