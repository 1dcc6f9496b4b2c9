/*
** threadpool.h — a fixed pool of worker threads for data-parallel loops.
**
** Owns: the threads. tp_run() splits [0, n) into one contiguous range per
** thread (the caller's thread takes part) and returns when all are done.
** Idle workers sleep on a condition variable: no spinning between calls,
** except while the caller holds the pool (tp_hold) for a burst of jobs.
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

/* tp_hold(tp, 1) before a burst of jobs that follow each other closely (a
** forward pass: hundreds of products microseconds apart), tp_hold(tp, 0)
** after it: in between, a worker that finishes a job spins for the next
** one instead of sleeping (up to TP_HOLD_SPIN_NS without a job, then it
** sleeps anyway), and the caller spins for the last share as long. Waking
** a sleeping thread costs tens of microseconds, far more on a virtual
** machine, where the idle core halts. Calls nest; NULL is a no-op. */
void tp_hold(threadpool *tp, int on);

/* Number of online CPUs (at least 1). */
int tp_default_threads(void);

#endif
