/*
** report.h — the benchmark's written outputs besides results.jsonl: an SVG
** chart (latency distribution and throughput against concurrency) drawn
** by hand, no plotting library.
*/
#ifndef SA_REPORT_H
#define SA_REPORT_H

#include <stdio.h>

/* Writes an SVG with a histogram of latencies (ms) on the left and a line
** of throughput (requests/s) against concurrency on the right (n_conc may
** be 0: the right panel then says "not measured"). */
void ev_write_svg(FILE *f, const double *latency_ms, int n, const int *conc, const double *rps, int n_conc);

/* Percentile p (0..100) of v[0..n) by linear interpolation; sorts v. */
double ev_percentile(double *v, int n, double p);

#endif
