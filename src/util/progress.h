/*
** progress.h — progress of long work on stderr: a redrawn bar when stderr
** is a terminal, otherwise a plain log line every 10%.
*/
#ifndef SA_PROGRESS_H
#define SA_PROGRESS_H

typedef struct progress {
    const char *label;
    long total, done;
    int tty, last_decile;
    double t0;
} progress;

void progress_start(progress *p, const char *label, long total);
void progress_update(progress *p, long done);
void progress_end(progress *p);

#endif
