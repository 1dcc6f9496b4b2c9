/*
** threadpool.h — a fixed pool of worker threads for data-parallel loops.
**
** Owns: the threads. tp_run() splits [0, n) into one contiguous range per
** thread (the caller's thread takes part) and returns when all are done.
** Idle workers sleep on a condition variable: no spinning between calls.
** One tp_run at a time per pool (callers serialize; the engine does).
*/
#ifndef SA_THREADPOOL_H
#define SA_THREADPOOL_H

typedef struct threadpool threadpool;

/* fn(ctx, begin, end, thread_index) processes items [begin, end). */
typedef void (*tp_fn)(void *ctx, int begin, int end, int ith);

threadpool *tp_create(int n_threads);   /* n_threads >= 1; 1 means no workers */
void tp_destroy(threadpool *tp);
int tp_size(const threadpool *tp);
void tp_run(threadpool *tp, int n, tp_fn fn, void *ctx);
/* tp_run, or fn(ctx, 0, n, 0) on the calling thread alone when tp is NULL
** or the job's work (multiply-adds, say) is under min_work: waking an idle
** worker costs tens of microseconds, more than splitting a small job saves.
** Each caller measures its own min_work. */
void tp_run_sized(threadpool *tp, int n, tp_fn fn, void *ctx, double work, double min_work);

/* Number of online CPUs (at least 1). */
int tp_default_threads(void);

#endif
