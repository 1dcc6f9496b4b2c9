/*
** progress.c — see progress.h.
*/
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "clock.h"

void progress_start(progress *p, const char *label, long total) {
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->done = 0;
    p->tty = isatty(2);
    p->last_decile = -1;
    p->t0 = clock_now_s();
    progress_update(p, 0);
}

void progress_update(progress *p, long done) {
    p->done = done;
    double frac = (double)done / (double)p->total;
    double el = clock_now_s() - p->t0, eta = frac > 0 ? el / frac - el : 0;
    if (p->tty) {
        int width = 30, fill = (int)(frac * width);
        fprintf(stderr, "\r%s [", p->label);
        for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
        fprintf(stderr, "] %3d%% %ld/%ld  %.0fs elapsed, ETA %.0fs ", (int)(frac * 100), done, p->total, el, eta);
        fflush(stderr);
    } else {
        int dec = (int)(frac * 10);
        if (dec != p->last_decile) {
            p->last_decile = dec;
            fprintf(stderr, "%s: %d%% (%ld/%ld), %.1fs elapsed\n", p->label, dec * 10, done, p->total, el);
        }
    }
}

void progress_end(progress *p) {
    progress_update(p, p->total);
    if (p->tty) fputc('\n', stderr);
}
