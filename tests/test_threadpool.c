/*
** test_threadpool.c — the thread pool (src/engine/threadpool.c): every item
** of every job runs exactly once, on the thread the split gives it, with the
** pool idle, held (tp_hold: workers spinning between jobs) and held in
** nested bursts; a held pool's workers stop spinning once the hold ends
** (the process's CPU time stays flat while it sleeps).
*/
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "engine/threadpool.h"

#define MAX_ITEMS 4096

typedef struct {
    atomic_int hits[MAX_ITEMS];
    atomic_int bad_thread;
    int n, n_threads;
} job;

static void count_items(void *ctx, int b, int e, int ith) {
    job *j = ctx;
    int per = (j->n + j->n_threads - 1) / j->n_threads;
    if (b != ith * per) atomic_fetch_add(&j->bad_thread, 1);
    for (int i = b; i < e; i++) atomic_fetch_add(&j->hits[i], 1);
}

/* Runs `rounds` jobs of 1..MAX_ITEMS items; checks each item ran once. */
static void run_jobs(threadpool *tp, int rounds, unsigned seed, const char *what) {
    static job j;
    int bad = 0;
    for (int r = 0; r < rounds; r++) {
        seed = seed * 1103515245u + 12345u;
        j.n = 1 + (int)(seed >> 8) % MAX_ITEMS;
        j.n_threads = tp_size(tp);
        for (int i = 0; i < j.n; i++) atomic_store(&j.hits[i], 0);
        atomic_store(&j.bad_thread, 0);
        tp_run(tp, j.n, count_items, &j);
        for (int i = 0; i < j.n; i++) bad += atomic_load(&j.hits[i]) != 1;
        bad += atomic_load(&j.bad_thread);
    }
    CHECK(bad == 0, "%s: %d items ran other than once or on the wrong thread", what, bad);
}

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    for (int threads = 1; threads <= 4; threads++) {
        threadpool *tp = tp_create(threads);
        CHECK(tp != NULL, "tp_create(%d)", threads);
        if (!tp) continue;
        CHECK_EQ(tp_size(tp), threads, "pool size");
        char what[64];
        snprintf(what, sizeof what, "%d threads, idle between jobs", threads);
        run_jobs(tp, 300, 1u + (unsigned)threads, what);
        tp_hold(tp, 1);
        snprintf(what, sizeof what, "%d threads, held", threads);
        run_jobs(tp, 300, 7u + (unsigned)threads, what);
        tp_hold(tp, 1);                                  /* nested */
        snprintf(what, sizeof what, "%d threads, held twice", threads);
        run_jobs(tp, 100, 11u + (unsigned)threads, what);
        tp_hold(tp, 0);
        run_jobs(tp, 100, 13u + (unsigned)threads, what);
        tp_hold(tp, 0);
        /* released: the workers sleep (a spinning worker would burn about
        ** the 200 ms of wall time below in CPU time, per worker) */
        usleep(5000);                                    /* past TP_HOLD_SPIN_NS for a worker mid-spin */
        double c0 = cpu_seconds();
        usleep(200000);
        double used = cpu_seconds() - c0;
        CHECK(used < 0.05, "%d threads: %.3f s of CPU while released and idle for 0.2 s", threads, used);
        snprintf(what, sizeof what, "%d threads, after the hold", threads);
        run_jobs(tp, 100, 17u + (unsigned)threads, what);
        tp_destroy(tp);
    }
    tp_hold(NULL, 1);   /* no-ops */
    tp_hold(NULL, 0);
    return check_done();
}
