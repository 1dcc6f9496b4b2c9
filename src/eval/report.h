/*
** report.h — the benchmark's written outputs: results.jsonl (one line per
** task), summary.json, report.md and chart.svg (latency distribution and
** throughput against concurrency, drawn by hand, no plotting library).
** Field meanings and comparison rules: docs/bench.md.
*/
#ifndef SA_REPORT_H
#define SA_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "eval/grade.h"
#include "eval/loadtest.h"
#include "eval/tasks.h"
#include "util/err.h"

/* What one task produced. */
typedef struct ev_outcome {
    const char *error;          /* why the task was skipped or the agent failed; NULL: neither */
    bool answered;              /* the agent was asked (false: skipped, nothing below is set) */
    const char *sql;            /* the chosen SQL, "" when none */
    bool ran;                   /* it ran */
    int attempts;
    double prefill_ms, decode_ms, execute_ms, total_ms;
    long tokens_in, tokens_out;
    long drafted, accepted, verify_passes;   /* speculative decoding: tokens drafted, drafts kept, passes */
    ev_grade grade;             /* not graded when the task has no gold SQL */
} ev_outcome;

/* Writes task t's line of results.jsonl: line, question, db_id, error (each
** when set); for an answered task sql, ran, attempts, latency_ms (queue,
** prefill, decode, execution, total), tokens_in, tokens_out, drafted and
** accepted (speculative decoding; when any was drafted); for a graded
** one gold, exact_match, metric ("execution" or "test-suite"),
** execution_match and, on a miss, mismatch. */
void ev_write_result_line(FILE *f, const ev_task *t, const ev_outcome *o);

/* Totals over the tasks' outcomes, added in task order. */
typedef struct ev_tally {
    int tasks, with_gold, exec_match, exact, valid;     /* valid: answered and ran */
    int ts_tasks, ts_match, db_tasks, db_match;         /* by metric: test-suite, execution */
    long tokens_in, tokens_out;
    long drafted, accepted, verify_passes;   /* speculative decoding */
    double decode_ms;           /* summed over answered tasks */
    double *latency_ms;         /* total per task, 0 for a skipped one */
    int cap;
} ev_tally;

/* Room for n_tasks outcomes; -1 when out of memory. */
int ev_tally_init(ev_tally *tl, int n_tasks);
void ev_tally_add(ev_tally *tl, const ev_outcome *o);
void ev_tally_free(ev_tally *tl);

typedef struct ev_summary {
    const ev_tally *tally;
    int malformed_lines;
    const ev_load *load;        /* throughput and cold start (ev_load_none when not measured) */
    long concurrency;           /* the level throughput_rps reports */
    long requests;              /* per throughput level */
    double model_load_ms, peak_rss_mb;
    const char *model, *task_file;
    int draft;                  /* tokens drafted per step (0: speculative decoding off) */
} ev_summary;

/* summary.json's object. */
json_t *ev_summary_json(const ev_summary *s);

/* report.md: the metrics against the reference system. */
void ev_write_report_md(FILE *f, const ev_summary *s);

/* Writes summary.json, report.md and chart.svg into dir and summary.json's
** text to echo (when not NULL). -1 with err when summary.json cannot be
** written (the others are written all the same; they are not checked). */
int ev_write_outputs(const char *dir, const ev_summary *s, FILE *echo, sa_err *err);

/* Writes an SVG with a histogram of latencies (ms) on the left and a line
** of throughput (requests/s) against concurrency on the right (n_conc may
** be 0: the right panel then says "not measured"). */
void ev_write_svg(FILE *f, const double *latency_ms, int n, const int *conc, const double *rps, int n_conc);

/* Percentile p (0..100) of v[0..n) by linear interpolation; sorts v. */
double ev_percentile(double *v, int n, double p);

#endif
