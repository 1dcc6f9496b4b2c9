/*
** shared_pass.c — what a decode step costs when a prompt chunk runs beside
** it: R sequences each decode one token while one more sequence feeds a
** chunk of CH prompt tokens, either as two passes (model_forward_batch for
** the rows, then model_forward for the chunk: the batcher's schedule where
** the model's rows are not exact) or as one (model_forward_prompts with the
** rows as one-token chunks: the batcher's schedule where model_rows_exact).
** The two alternate, REPS times each, every sequence cut back to the same
** 100 cached tokens first; prints the median milliseconds of each and of
** the decode pass alone. Reports only.
**
**   shared_pass MODEL R CH REPS      (bench/shared_pass.sh builds and runs it)
*/
#include <stdio.h>
#include <stdlib.h>

#include "engine/model.h"
#include "util/clock.h"

enum { CACHED = 100, MAX_R = 16 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    int R = argc == 5 ? atoi(argv[2]) : 0, CH = argc == 5 ? atoi(argv[3]) : 0, reps = argc == 5 ? atoi(argv[4]) : 0;
    if (R < 1 || R > MAX_R || CH < 1 || CH > 128 || reps < 1 || reps > 100) {
        fprintf(stderr, "usage: shared_pass MODEL R(1-%d) CH(1-128) REPS(1-100)\n", MAX_R);
        return 2;
    }
    sa_err err = {{0}};
    model_opts mo = { .n_threads = 0 };
    model *m = model_load(argv[1], &mo, &err);
    if (!m) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int V = m->cfg.n_vocab;
    int32_t ids[CACHED + 128];
    for (int i = 0; i < CACHED + 128; i++) ids[i] = (int32_t)((i * 7919 + 11) % (V - 1));
    infer_state *s[MAX_R + 1];
    float *logits = malloc((size_t)(MAX_R + 1) * V * sizeof *logits);   /* [R + 1][V] */
    if (!logits) return 1;
    for (int i = 0; i <= R; i++) {
        s[i] = infer_new(m, CACHED + 256, &err);
        if (!s[i] || model_forward(m, s[i], ids, CACHED, LOGITS_NONE, logits, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    printf("%s: rows exact %d, %d decode rows beside a %d-token chunk, %d rounds\n", argv[1], model_rows_exact(m), R, CH, reps);
    if (!model_rows_exact(m)) printf("(the rows are not exact here: the batcher would keep two passes)\n");
    double *two = malloc((size_t)reps * sizeof *two), *one = malloc((size_t)reps * sizeof *one), *dec = malloc((size_t)reps * sizeof *dec);
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i <= R; i++) infer_truncate(s[i], CACHED);
        double t0 = clock_now_s();
        model_forward_batch(m, s, ids + CACHED, R, logits, &err);
        model_forward(m, s[R], ids + CACHED, CH, LOGITS_LAST, logits + (size_t)R * V, &err);
        double t1 = clock_now_s();
        for (int i = 0; i <= R; i++) infer_truncate(s[i], CACHED);
        const int32_t *toks[MAX_R + 1];
        int T[MAX_R + 1], want[MAX_R + 1];
        float *lg[MAX_R + 1];
        for (int i = 0; i <= R; i++) {
            toks[i] = ids + CACHED;
            T[i] = i < R ? 1 : CH;
            want[i] = LOGITS_LAST;
            lg[i] = logits + (size_t)i * V;
        }
        double t2 = clock_now_s();
        if (model_forward_prompts(m, s, toks, T, want, R + 1, lg, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double t3 = clock_now_s();
        for (int i = 0; i < R; i++) infer_truncate(s[i], CACHED);
        double t4 = clock_now_s();
        model_forward_batch(m, s, ids + CACHED, R, logits, &err);
        double t5 = clock_now_s();
        two[r] = (t1 - t0) * 1e3;
        one[r] = (t3 - t2) * 1e3;
        dec[r] = (t5 - t4) * 1e3;
    }
    double a = median(two, reps), b = median(one, reps);
    printf("two passes %.1f ms, one pass %.1f ms (%.2fx), the decode pass alone %.1f ms (medians)\n", a, b, a / b,
           median(dec, reps));
    for (int i = 0; i <= R; i++) infer_free(s[i]);
    free(logits); free(two); free(one); free(dec);
    model_free(m);
    return 0;
}
