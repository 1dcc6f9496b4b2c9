/*
** report.c — see report.h.
*/
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double ev_percentile(double *v, int n, double p) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    double pos = p / 100.0 * (n - 1);
    int lo = (int)floor(pos), hi = (int)ceil(pos);
    return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

void ev_write_svg(FILE *f, const double *lat, int n, const int *conc, const double *rps, int n_conc) {
    const int W = 900, H = 360, PW = 400, PH = 250, X0 = 60, Y0 = 50, X1 = 520;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    /* left: latency histogram */
    fprintf(f, "<text x=\"%d\" y=\"30\" font-size=\"14\">Latency per task (ms), %d tasks</text>\n", X0, n);
    double mx = 0;
    for (int i = 0; i < n; i++) if (lat[i] > mx) mx = lat[i];
    if (mx <= 0) mx = 1;
    enum { BINS = 20 };
    int cnt[BINS] = {0}, cmax = 1;
    for (int i = 0; i < n; i++) {
        int b = (int)(lat[i] / mx * BINS);
        if (b >= BINS) b = BINS - 1;
        if (++cnt[b] > cmax) cmax = cnt[b];
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X0, Y0 + PH, X0 + PW, Y0 + PH);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X0, Y0, X0, Y0 + PH);
    for (int b = 0; b < BINS; b++) {
        double h = (double)cnt[b] / cmax * PH, bw = (double)PW / BINS;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a7ab5\"><title>%d tasks</title></rect>\n",
                X0 + b * bw + 1, Y0 + PH - h, bw - 2, h, cnt[b]);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\">0</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f ms</text>\n", X0, Y0 + PH + 16, X0 + PW, Y0 + PH + 16, mx);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>\n", X0 - 4, Y0 + 10, cmax);
    /* right: throughput vs concurrency */
    fprintf(f, "<text x=\"%d\" y=\"30\" font-size=\"14\">Throughput (requests/s) vs concurrency</text>\n", X1);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X1, Y0 + PH, X1 + 340, Y0 + PH);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", X1, Y0, X1, Y0 + PH);
    if (n_conc == 0) {
        fprintf(f, "<text x=\"%d\" y=\"%d\">not measured</text>\n", X1 + 120, Y0 + PH / 2);
    } else {
        double rmax = 0;
        int cmaxc = 1;
        for (int i = 0; i < n_conc; i++) { if (rps[i] > rmax) rmax = rps[i]; if (conc[i] > cmaxc) cmaxc = conc[i]; }
        if (rmax <= 0) rmax = 1;
        fprintf(f, "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"");
        for (int i = 0; i < n_conc; i++)
            fprintf(f, "%.1f,%.1f ", X1 + (double)conc[i] / cmaxc * 320, Y0 + PH - rps[i] / rmax * PH);
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n_conc; i++) {
            double x = X1 + (double)conc[i] / cmaxc * 320, y = Y0 + PH - rps[i] / rmax * PH;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#c0392b\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2f</text>\n", x, y, x, y - 8, rps[i]);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, Y0 + PH + 16, conc[i]);
        }
    }
    fprintf(f, "</svg>\n");
}

/* ---- results.jsonl ------------------------------------------------------- */

void ev_write_result_line(FILE *f, const ev_task *t, const ev_outcome *o) {
    json_t *row = json_object();
    json_object_set_new(row, "line", json_integer(t->line));
    json_object_set_new(row, "question", json_string(t->question));
    if (t->db_id) json_object_set_new(row, "db_id", json_string(t->db_id));
    if (o->error) json_object_set_new(row, "error", json_string(o->error));
    if (o->answered) {
        json_object_set_new(row, "sql", json_string(o->sql ? o->sql : ""));
        json_object_set_new(row, "ran", json_boolean(o->ran));
        json_object_set_new(row, "attempts", json_integer(o->attempts));
        json_t *l = json_object();
        json_object_set_new(l, "queue", json_real(0));
        json_object_set_new(l, "prefill", json_real(o->prefill_ms));
        json_object_set_new(l, "decode", json_real(o->decode_ms));
        json_object_set_new(l, "execution", json_real(o->execute_ms));
        json_object_set_new(l, "total", json_real(o->total_ms));
        json_object_set_new(row, "latency_ms", l);
        json_object_set_new(row, "tokens_in", json_integer(o->tokens_in));
        json_object_set_new(row, "tokens_out", json_integer(o->tokens_out));
        if (o->drafted) {
            json_object_set_new(row, "drafted", json_integer(o->drafted));
            json_object_set_new(row, "accepted", json_integer(o->accepted));
        }
    }
    const ev_grade *g = &o->grade;
    if (o->answered && g->graded) {
        json_object_set_new(row, "gold", json_string(t->gold));
        json_object_set_new(row, "exact_match", json_boolean(g->exact));
        json_object_set_new(row, "metric", json_string(g->test_suite ? "test-suite" : "execution"));
        json_object_set_new(row, "execution_match", json_boolean(g->match));
        if (!g->match) json_object_set_new(row, "mismatch", json_string(g->why));
    }
    char *line = json_dumps(row, JSON_COMPACT);
    if (line) { fprintf(f, "%s\n", line); free(line); }
    json_decref(row);
}

/* ---- totals -------------------------------------------------------------- */

int ev_tally_init(ev_tally *tl, int n_tasks) {
    memset(tl, 0, sizeof *tl);
    tl->latency_ms = calloc((size_t)(n_tasks > 0 ? n_tasks : 1), sizeof *tl->latency_ms);
    tl->cap = tl->latency_ms ? n_tasks : 0;
    return tl->latency_ms ? 0 : -1;
}

void ev_tally_add(ev_tally *tl, const ev_outcome *o) {
    if (tl->tasks < tl->cap) tl->latency_ms[tl->tasks] = o->answered ? o->total_ms : 0;
    tl->tasks++;
    if (!o->answered) return;
    tl->tokens_in += o->tokens_in;
    tl->tokens_out += o->tokens_out;
    tl->drafted += o->drafted;
    tl->accepted += o->accepted;
    tl->verify_passes += o->verify_passes;
    tl->decode_ms += o->decode_ms;
    if (o->ran) tl->valid++;
    const ev_grade *g = &o->grade;
    if (!g->graded) return;
    tl->with_gold++;
    if (g->exact) tl->exact++;
    if (g->test_suite) { tl->ts_tasks++; tl->ts_match += g->match; }
    else { tl->db_tasks++; tl->db_match += g->match; }
    if (g->match) tl->exec_match++;
}

void ev_tally_free(ev_tally *tl) {
    free(tl->latency_ms);
    memset(tl, 0, sizeof *tl);
}

/* ---- summary.json and report.md ------------------------------------------ */

typedef struct lat_stats { double mean, p50, p90, p99; } lat_stats;

static lat_stats latency(const ev_tally *tl) {
    int n = tl->tasks < tl->cap ? tl->tasks : tl->cap;
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v), sum = 0;
    lat_stats r = {0};
    if (!v) return r;
    for (int i = 0; i < n; i++) v[i] = tl->latency_ms[i];
    for (int i = 0; i < n; i++) sum += v[i];
    r.mean = n ? sum / n : 0;
    r.p50 = ev_percentile(v, n, 50);
    r.p90 = ev_percentile(v, n, 90);
    r.p99 = ev_percentile(v, n, 99);
    free(v);
    return r;
}

/* Throughput at the reported concurrency level. */
static double best_rps(const ev_summary *s) {
    double best = 0;
    for (int c = 0; c < s->load->n_conc; c++)
        if (s->load->conc[c] == s->concurrency) best = s->load->rps[c];
    return best;
}

static double ratio(int a, int b) { return b ? (double)a / b : 0; }

json_t *ev_summary_json(const ev_summary *s) {
    const ev_tally *t = s->tally;
    const ev_load *ld = s->load;
    json_t *o = json_object();
    json_object_set_new(o, "tasks", json_integer(t->tasks));
    json_object_set_new(o, "tasks_with_gold", json_integer(t->with_gold));
    json_object_set_new(o, "malformed_lines", json_integer(s->malformed_lines));
    json_object_set_new(o, "execution_accuracy", json_real(ratio(t->exec_match, t->with_gold)));
    json_object_set_new(o, "exact_match", json_real(ratio(t->exact, t->with_gold)));
    json_object_set_new(o, "valid_sql_rate", json_real(ratio(t->valid, t->tasks)));
    json_object_set_new(o, "schema_only_metric", json_string("test-suite execution accuracy (Zhong, Yu and Klein, 2020): 5 random databases per task, seeded with the queries' literals"));
    json_object_set_new(o, "schema_only_tasks", json_integer(t->ts_tasks));
    json_object_set_new(o, "test_suite_accuracy", t->ts_tasks ? json_real(ratio(t->ts_match, t->ts_tasks)) : json_null());
    json_object_set_new(o, "database_tasks", json_integer(t->db_tasks));
    json_object_set_new(o, "database_execution_accuracy", t->db_tasks ? json_real(ratio(t->db_match, t->db_tasks)) : json_null());
    lat_stats ls = latency(t);
    json_t *l = json_object();
    json_object_set_new(l, "mean", json_real(ls.mean));
    json_object_set_new(l, "p50", json_real(ls.p50));
    json_object_set_new(l, "p90", json_real(ls.p90));
    json_object_set_new(l, "p99", json_real(ls.p99));
    json_object_set_new(o, "latency_ms", l);
    json_t *tpj = json_object();
    for (int c = 0; c < ld->n_conc; c++) {
        char key[16];
        snprintf(key, sizeof key, "%d", ld->conc[c]);
        json_object_set_new(tpj, key, json_real(ld->rps[c]));
    }
    json_object_set_new(o, "throughput_rps", ld->n_conc ? json_real(best_rps(s)) : json_null());
    json_object_set_new(o, "throughput_by_concurrency", tpj);
    json_object_set_new(o, "concurrency", json_integer(s->concurrency));
    json_object_set_new(o, "http_errors", json_integer(ld->http_errors));
    json_object_set_new(o, "cold_start_ms", ld->first_answer_ms >= 0 ? json_real(ld->first_answer_ms) : json_null());
    json_object_set_new(o, "cold_start_health_ready_ms", ld->health_ms >= 0 ? json_real(ld->health_ms) : json_null());
    json_object_set_new(o, "model_load_ms", json_real(s->model_load_ms));
    json_object_set_new(o, "peak_rss_mb", json_real(s->peak_rss_mb));
    json_object_set_new(o, "tokens_in", json_integer(t->tokens_in));
    json_object_set_new(o, "tokens_out", json_integer(t->tokens_out));
    json_object_set_new(o, "decode_tokens_per_s", t->decode_ms > 0 ? json_real(t->tokens_out / (t->decode_ms / 1000.0)) : json_null());
    json_t *sp = json_object();
    json_object_set_new(sp, "draft", json_integer(s->draft));
    json_object_set_new(sp, "drafted", json_integer(t->drafted));
    json_object_set_new(sp, "accepted", json_integer(t->accepted));
    json_object_set_new(sp, "verify_passes", json_integer(t->verify_passes));
    json_object_set_new(sp, "acceptance_rate", t->drafted ? json_real((double)t->accepted / (double)t->drafted) : json_null());
    json_object_set_new(o, "speculative", sp);
    json_object_set_new(o, "model", json_string(s->model));
    json_object_set_new(o, "task_file", json_string(s->task_file));
    return o;
}

void ev_write_report_md(FILE *f, const ev_summary *s) {
    const ev_tally *t = s->tally;
    const ev_load *ld = s->load;
    lat_stats ls = latency(t);
    fprintf(f, "# sqlassist bench\n\nModel `%s`, tasks `%s` (%d tasks, %d with gold SQL, %d malformed lines skipped).\n\n",
            s->model, s->task_file, t->tasks, t->with_gold, s->malformed_lines);
    fprintf(f, "| metric | sqlassist | reference system (PyTorch fp32 + Gradio, 2 vCPU) |\n|---|---|---|\n");
    fprintf(f, "| execution accuracy | %.1f%% | not reported |\n", t->with_gold ? 100.0 * t->exec_match / t->with_gold : 0);
    if (t->ts_tasks) fprintf(f, "| — of which schema-only tasks (test-suite accuracy) | %.1f%% of %d | |\n", 100.0 * t->ts_match / t->ts_tasks, t->ts_tasks);
    if (t->db_tasks) fprintf(f, "| — of which database tasks (execution match) | %.1f%% of %d | |\n", 100.0 * t->db_match / t->db_tasks, t->db_tasks);
    fprintf(f, "| exact match (normalized) | %.1f%% | not reported |\n", t->with_gold ? 100.0 * t->exact / t->with_gold : 0);
    fprintf(f, "| valid SQL | %.1f%% | not reported |\n", t->tasks ? 100.0 * t->valid / t->tasks : 0);
    fprintf(f, "| latency mean / p50 / p90 / p99 | %.0f / %.0f / %.0f / %.0f ms | 2800–5100 ms |\n", ls.mean, ls.p50, ls.p90, ls.p99);
    if (ld->n_conc) fprintf(f, "| throughput at concurrency %ld | %.2f requests/s | ~0.5 requests/s |\n", s->concurrency, best_rps(s));
    if (ld->first_answer_ms >= 0) fprintf(f, "| cold start (process start → first answer) | %.0f ms | 45 s |\n", ld->first_answer_ms);
    if (ld->health_ms >= 0) fprintf(f, "| cold start (server start → /health ready) | %.0f ms | |\n", ld->health_ms);
    fprintf(f, "| peak resident memory | %.0f MB | |\n", s->peak_rss_mb);
    if (t->decode_ms > 0) fprintf(f, "| decode speed | %.1f tokens/s | |\n", t->tokens_out / (t->decode_ms / 1000.0));
    if (s->draft > 0)
        fprintf(f, "| speculative decoding (%d drafted per step) | %ld of %ld drafts accepted (%.1f%%) | |\n", s->draft,
                t->accepted, t->drafted, t->drafted ? 100.0 * (double)t->accepted / (double)t->drafted : 0.0);
    fprintf(f, "\n");
    if (ld->n_conc) {
        fprintf(f, "Throughput by concurrency (%ld requests each):", s->requests);
        for (int c = 0; c < ld->n_conc; c++) fprintf(f, " %d → %.2f/s;", ld->conc[c], ld->rps[c]);
        fprintf(f, "\n\n");
    }
    fprintf(f, "![latency and throughput](chart.svg)\n\nComparison rules: docs/bench.md. Per-task results: results.jsonl.\n");
}

int ev_write_outputs(const char *dir, const ev_summary *s, FILE *echo, sa_err *err) {
    int rc = 0;
    char path[4096];
    json_t *o = ev_summary_json(s);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (json_dump_file(o, path, JSON_INDENT(2)) != 0) rc = sa_fail(err, "%s: cannot write", path);
    snprintf(path, sizeof path, "%s/report.md", dir);
    FILE *f = fopen(path, "w");
    if (f) { ev_write_report_md(f, s); fclose(f); }
    snprintf(path, sizeof path, "%s/chart.svg", dir);
    f = fopen(path, "w");
    if (f) {
        ev_write_svg(f, s->tally->latency_ms, s->tally->tasks < s->tally->cap ? s->tally->tasks : s->tally->cap,
                     s->load->conc, s->load->rps, s->load->n_conc);
        fclose(f);
    }
    char *text = echo ? json_dumps(o, JSON_INDENT(2)) : NULL;
    if (text) { fputs(text, echo); fputc('\n', echo); free(text); }
    json_decref(o);
    return rc;
}
