/*
** clock.h — the one monotonic clock of sqlassist: time since an arbitrary
** start that never jumps (CLOCK_MONOTONIC), for durations, deadlines and
** rates. Wall-clock time (log timestamps) is not here.
*/
#ifndef SA_CLOCK_H
#define SA_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Seconds, with nanosecond resolution. */
double clock_now_s(void);

/* Nanoseconds, exact (for deadlines compared in integers). */
int64_t clock_now_ns(void);

/* Initializes cv so that its timed waits count on this clock (immune to
** wall-clock changes); returns pthread_cond_init's result. */
int clock_cond_init(pthread_cond_t *cv);

/* The absolute time `us` microseconds from now on this clock, for
** pthread_cond_timedwait on a variable made by clock_cond_init. */
struct timespec clock_deadline_us(long us);

#endif
