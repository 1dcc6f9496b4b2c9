/*
** threadpool.c — see threadpool.h.
**
** A job is published by bumping an atomic generation counter. Workers
** sleep on a condition variable between jobs. Optionally (environment
** variable SQLASSIST_SPIN_US, default 0) a worker that has just finished
** spins that many microseconds for the next job first: the forward pass
** posts hundreds of small jobs per token, microseconds apart, and on an
** otherwise idle machine 30 µs of spinning makes decode about 10% faster;
** on a shared machine the spinning steals the core another thread needs
** (17% slower with one competing process), so it is off by default. Either
** way an idle pool sleeps. Within a held burst (tp_hold: the engine holds
** the pool for a forward pass of a large model) workers spin between jobs,
** for at most TP_HOLD_SPIN_NS without one. The caller waits for the last
** range by spinning on an atomic count of unfinished shares, since the
** other threads are working at that moment, not waiting.
*/
#include "threadpool.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "../util/clock.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif


#define WAIT_SPIN_NS 20000LL  /* the caller's spin for the last share before sleeping */
/* The longest a held pool's threads spin with nothing to do: longer than any
** gap between two products of a forward pass, short enough that a caller
** holding the pool while it does something else wastes little. */
#define TP_HOLD_SPIN_NS 2000000LL

struct threadpool {
    int n;                       /* total threads including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_int main_waiting;     /* the caller sleeps on `done` for the last share */
    atomic_ulong generation;     /* bumped once per posted job */
    atomic_int pending;          /* worker shares of the current job not yet done */
    atomic_int sleepers;         /* workers blocked (or about to block) on `wake` */
    atomic_int quit;
    atomic_int held;             /* tp_hold nesting: workers spin between jobs while > 0 */
    long long spin_ns;           /* how long a worker spins for the next job before sleeping */
    /* the posted job: written before `generation` is bumped (release), read after it is seen (acquire) */
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

/* Waits until the generation differs from `seen` (or quit); returns it. */
static unsigned long wait_for_job(threadpool *tp, unsigned long seen) {
    long long start = 0;
    for (unsigned spins = 0; tp->spin_ns > 0 || atomic_load_explicit(&tp->held, memory_order_relaxed) > 0; spins++) {
        unsigned long g = atomic_load_explicit(&tp->generation, memory_order_acquire);
        if (g != seen || atomic_load(&tp->quit)) return g;
        if ((spins & 63) == 0) {
            long long t = clock_now_ns(), limit = atomic_load_explicit(&tp->held, memory_order_relaxed) > 0 ? TP_HOLD_SPIN_NS : tp->spin_ns;
            if (!start) start = t;
            else if (t - start > limit) break;
        }
        CPU_RELAX();
    }
    pthread_mutex_lock(&tp->mu);
    atomic_fetch_add(&tp->sleepers, 1);
    unsigned long g;
    while ((g = atomic_load(&tp->generation)) == seen && !atomic_load(&tp->quit)) pthread_cond_wait(&tp->wake, &tp->mu);
    atomic_fetch_sub(&tp->sleepers, 1);
    pthread_mutex_unlock(&tp->mu);
    return g;
}

static void *worker(void *p) {
    worker_arg *wa = p;
    threadpool *tp = wa->tp;
    int ith = wa->ith;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        unsigned long g = wait_for_job(tp, seen);
        if (atomic_load(&tp->quit)) return NULL;
        seen = g;
        run_share(tp, ith);
        if (atomic_fetch_sub(&tp->pending, 1) == 1 && atomic_load(&tp->main_waiting)) {
            pthread_mutex_lock(&tp->mu);
            pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
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
    const char *spin = getenv("SQLASSIST_SPIN_US");
    long us = spin ? strtol(spin, NULL, 10) : 0;
    tp->spin_ns = us > 0 && us < 100000 ? us * 1000LL : 0;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    atomic_init(&tp->main_waiting, 0);
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->quit, 0);
    atomic_init(&tp->held, 0);
    tp->threads = calloc((size_t)n_threads, sizeof *tp->threads);
    if (!tp->threads) { free(tp); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { tp->n = i; break; }
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
    atomic_store(&tp->quit, 1);
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

void tp_hold(threadpool *tp, int on) {
    if (!tp || tp->n == 1) return;
    int was = atomic_fetch_add(&tp->held, on ? 1 : -1);
    assert(on || was > 0);
    (void)was;
}

void tp_run_sized(threadpool *tp, int n, tp_fn fn, void *ctx, double work, double min_work) {
    if (!tp || work < min_work) {
        if (n > 0) fn(ctx, 0, n, 0);
        return;
    }
    tp_run(tp, n, fn, ctx);
}

void tp_run(threadpool *tp, int n, tp_fn fn, void *ctx) {
    if (n <= 0) return;
    if (tp->n == 1 || n == 1) { fn(ctx, 0, n, 0); return; }
    assert(atomic_load(&tp->pending) == 0);
    tp->fn = fn;
    tp->ctx = ctx;
    tp->n_items = n;
    atomic_store(&tp->pending, tp->n - 1);
    atomic_fetch_add(&tp->generation, 1);            /* seq_cst: ordered before the sleepers check */
    if (atomic_load(&tp->sleepers) > 0) {
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->wake);
        pthread_mutex_unlock(&tp->mu);
    }
    run_share(tp, 0);
    /* The other shares usually finish within microseconds of ours; if not
    ** (a worker was descheduled), stop spinning and sleep until the last
    ** one signals, so a busy machine gets the core back. */
    long long start = clock_now_ns(), limit = atomic_load_explicit(&tp->held, memory_order_relaxed) > 0 ? TP_HOLD_SPIN_NS : WAIT_SPIN_NS;
    for (unsigned spins = 1; atomic_load_explicit(&tp->pending, memory_order_acquire) > 0; spins++) {
        if ((spins & 63) == 0 && clock_now_ns() - start > limit) {
            pthread_mutex_lock(&tp->mu);
            atomic_store(&tp->main_waiting, 1);
            while (atomic_load(&tp->pending) > 0) pthread_cond_wait(&tp->done, &tp->mu);
            atomic_store(&tp->main_waiting, 0);
            pthread_mutex_unlock(&tp->mu);
            break;
        }
        CPU_RELAX();
    }
}
