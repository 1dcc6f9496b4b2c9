/*
** report.h — watching a training run: metrics as JSON lines (one per step:
** step, lr, loss, val_loss, grad_norm, tokens, tokens_per_s, elapsed_s) and
** an SVG chart of training and validation loss, both beside the
** checkpoints.
**
** Owns: the metrics file and the loss history the chart is drawn from. A
** resumed run keeps the lines up to its checkpoint's step and drops the
** rest (they belong to a run that did not reach its next checkpoint).
*/
#ifndef SA_TRAIN_REPORT_H
#define SA_TRAIN_REPORT_H

#include <stdio.h>

#include "../util/err.h"

typedef struct treport {
    char *metrics_path, *svg_path;
    FILE *f;
    int *step;            /* training loss per step */
    double *loss;
    int n, cap;
    int *vstep;           /* validation loss where measured */
    double *vloss;
    int nv, capv;
    int total_steps;
    char title[160];
} treport;

/* Opens DIR/metrics.jsonl (DIR/loss.svg is drawn by report_svg). With
** resume_step > 0 the lines of steps <= resume_step are kept (and their
** losses reloaded for the chart); otherwise the file starts empty. */
int report_open(treport *r, const char *dir, int resume_step, int total_steps, const char *title, sa_err *err);

/* One step's line. val_loss < 0: not measured at this step (null). */
void report_step(treport *r, int step, double lr, double loss, double val_loss, double grad_norm, long tokens,
                 double tokens_per_s, double elapsed_s);

/* Writes the chart (to a temporary file, then renamed). */
int report_svg(const treport *r, sa_err *err);

void report_close(treport *r);

/* The chart of the given series as an SVG document (malloc'd); exposed so
** tests can draw one without a run. */
char *report_svg_text(const int *step, const double *loss, int n, const int *vstep, const double *vloss, int nv,
                      int total_steps, const char *title);

#endif
