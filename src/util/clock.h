/*
** clock.h — the one monotonic clock of sqlassist: time since an arbitrary
** start that never jumps (CLOCK_MONOTONIC), for durations, deadlines and
** rates. Wall-clock time (log timestamps) is not here.
*/
#ifndef SA_CLOCK_H
#define SA_CLOCK_H

#include <stdint.h>

/* Seconds, with nanosecond resolution. */
double clock_now_s(void);

/* Nanoseconds, exact (for deadlines compared in integers). */
int64_t clock_now_ns(void);

#endif
